//! Identifies the installed glibc build from libc.so.6's GNU build-id, and cross-checks a
//! build's layout against the `_thread_db_*` descriptors libc exports for libthread_db.

use crate::{BUILDS, GlibcBuild};
use core::fmt;

const PT_NOTE: u32 = 4;
const NT_GNU_BUILD_ID: u32 = 3;
const MAX_BUILD_ID: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BuildId {
    len: u8,
    bytes: [u8; MAX_BUILD_ID],
}

impl BuildId {
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len as usize).unwrap_or(&[])
    }
}

impl fmt::Debug for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectError {
    /// Not a little-endian ELF64 x86-64 object, or a header/phdr/note is out of bounds.
    Malformed(&'static str),
    /// No PT_NOTE carries an NT_GNU_BUILD_ID note.
    NoBuildId,
    /// A build-id was found but no `data/<build>` matches it.
    UnknownBuild(BuildId),
    /// A `_thread_db_*` symbol could not be read.
    ThreadDbMissing(&'static str),
    /// A `_thread_db_*` descriptor disagrees with the layout: `(symbol, expected, found)`,
    /// each `{bits, count, byte offset}` (for `sizeof` symbols only the first word is used).
    ThreadDbMismatch(&'static str, [u32; 3], [u32; 3]),
}

impl fmt::Display for DetectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectError::Malformed(w) => write!(f, "libc.so.6 is not a valid x86-64 ELF file: {w}"),
            DetectError::NoBuildId => write!(f, "libc.so.6 has no GNU build-id note"),
            DetectError::UnknownBuild(id) => {
                write!(
                    f,
                    "unsupported glibc build (libc.so.6 build-id {id}); supported:"
                )?;
                for b in BUILDS {
                    write!(f, " {}", b.package_version())?;
                }
                Ok(())
            }
            DetectError::ThreadDbMissing(s) => write!(f, "libc.so.6 lacks {s}"),
            DetectError::ThreadDbMismatch(s, e, g) => write!(
                f,
                "libc.so.6 {s} = {{{}, {}, {}}}, layout expects {{{}, {}, {}}}",
                g[0], g[1], g[2], e[0], e[1], e[2]
            ),
        }
    }
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// How the bytes given to `gnu_build_id` are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// The file as read from disk: notes are found at `p_offset`.
    File,
    /// The object as mapped (slice starts at the lowest mapped address): notes at `p_vaddr`.
    Mapped,
}

/// Extracts the NT_GNU_BUILD_ID descriptor from the PT_NOTE segments of an ELF64 image.
pub fn gnu_build_id(elf: &[u8], kind: ImageKind) -> Result<BuildId, DetectError> {
    let m = DetectError::Malformed;
    if elf.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(m("bad magic"));
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err(m("not ELFCLASS64 little-endian"));
    }
    if u16_at(elf, 18) != Some(62) {
        return Err(m("not EM_X86_64"));
    }
    let phoff = u64_at(elf, 32).ok_or(m("truncated header"))? as usize;
    let phentsize = u16_at(elf, 54).ok_or(m("truncated header"))? as usize;
    let phnum = u16_at(elf, 56).ok_or(m("truncated header"))? as usize;
    if phentsize < 56 {
        return Err(m("bad e_phentsize"));
    }
    for i in 0..phnum {
        let ph = i
            .checked_mul(phentsize)
            .and_then(|o| o.checked_add(phoff))
            .ok_or(m("phdr"))?;
        if u32_at(elf, ph).ok_or(m("phdr out of bounds"))? != PT_NOTE {
            continue;
        }
        let start = match kind {
            ImageKind::File => u64_at(elf, ph + 8),
            ImageKind::Mapped => u64_at(elf, ph + 16),
        }
        .ok_or(m("phdr out of bounds"))? as usize;
        let size = u64_at(elf, ph + 32).ok_or(m("phdr out of bounds"))? as usize;
        let align = match u64_at(elf, ph + 48).ok_or(m("phdr out of bounds"))? {
            8 => 8,
            _ => 4,
        };
        let notes = elf
            .get(start..start.checked_add(size).ok_or(m("note size"))?)
            .ok_or(m("PT_NOTE out of bounds"))?;
        let mut off = 0usize;
        while off + 12 <= notes.len() {
            let namesz = u32_at(notes, off).ok_or(m("note"))? as usize;
            let descsz = u32_at(notes, off + 4).ok_or(m("note"))? as usize;
            let ntype = u32_at(notes, off + 8).ok_or(m("note"))?;
            let name_off = off + 12;
            let desc_off = name_off
                .checked_add(namesz.next_multiple_of(align))
                .ok_or(m("note"))?;
            let end = desc_off
                .checked_add(descsz.next_multiple_of(align))
                .ok_or(m("note"))?;
            let name = notes
                .get(name_off..name_off + namesz)
                .ok_or(m("note name"))?;
            if ntype == NT_GNU_BUILD_ID && name == b"GNU\0" {
                let desc = notes
                    .get(desc_off..desc_off + descsz)
                    .ok_or(m("note desc"))?;
                if desc.is_empty() || desc.len() > MAX_BUILD_ID {
                    return Err(m("build-id length"));
                }
                let mut id = BuildId {
                    len: desc.len() as u8,
                    bytes: [0; MAX_BUILD_ID],
                };
                id.bytes
                    .get_mut(..desc.len())
                    .ok_or(m("build-id"))?
                    .copy_from_slice(desc);
                return Ok(id);
            }
            off = end;
        }
    }
    Err(DetectError::NoBuildId)
}

/// The supported build with this libc.so.6 build-id.
pub fn detect_by_build_id(id: &[u8]) -> Option<&'static GlibcBuild> {
    BUILDS.iter().find(|b| b.libc_build_id() == id)
}

/// Identifies the glibc build from the bytes of libc.so.6 (a file image or a mapped image).
pub fn detect_libc(elf: &[u8], kind: ImageKind) -> Result<&'static GlibcBuild, DetectError> {
    let id = gnu_build_id(elf, kind)?;
    detect_by_build_id(id.as_bytes()).ok_or(DetectError::UnknownBuild(id))
}

impl GlibcBuild {
    /// The `_thread_db_*` descriptors libc should export if it matches this layout:
    /// `(symbol, {bits, count, byte offset})`; `_thread_db_sizeof_*` carry the size in word 0.
    pub fn thread_db_expectations(&self) -> [(&'static str, [u32; 3], bool); 8] {
        let d = |f: crate::Field| [(f.size * 8) as u32, 1, f.offset as u32];
        let g = &self.rtld_global;
        [
            (
                "_thread_db_sizeof_pthread",
                [self.pthread.size as u32, 0, 0],
                true,
            ),
            ("_thread_db_pthread_tid", d(self.pthread.tid), false),
            ("_thread_db_pthread_list", d(self.pthread.list), false),
            (
                "_thread_db_rtld_global__dl_stack_user",
                d(g.dl_stack_user),
                false,
            ),
            (
                "_thread_db_rtld_global__dl_stack_used",
                d(g.dl_stack_used),
                false,
            ),
            (
                "_thread_db_rtld_global__dl_tls_dtv_slotinfo_list",
                d(g.dl_tls_dtv_slotinfo_list),
                false,
            ),
            (
                "_thread_db_link_map_l_tls_modid",
                d(self.link_map.l_tls_modid),
                false,
            ),
            (
                "_thread_db_link_map_l_tls_offset",
                d(self.link_map.l_tls_offset),
                false,
            ),
        ]
    }

    /// Second, independent check that libc matches this layout. `read(symbol, buf)` must fill
    /// `buf` (4 bytes for `sizeof` symbols, 12 for descriptors) with the symbol's contents in
    /// libc and return false if the symbol does not exist.
    pub fn check_thread_db(
        &self,
        mut read: impl FnMut(&str, &mut [u8]) -> bool,
    ) -> Result<(), DetectError> {
        for (sym, expect, is_size) in self.thread_db_expectations() {
            let mut buf = [0u8; 12];
            let want = if is_size { 4 } else { 12 };
            let dst = buf
                .get_mut(..want)
                .ok_or(DetectError::ThreadDbMissing(sym))?;
            if !read(sym, dst) {
                return Err(DetectError::ThreadDbMissing(sym));
            }
            let found = [
                u32_at(&buf, 0).unwrap_or(0),
                u32_at(&buf, 4).unwrap_or(0),
                u32_at(&buf, 8).unwrap_or(0),
            ];
            if found != expect {
                return Err(DetectError::ThreadDbMismatch(sym, expect, found));
            }
        }
        Ok(())
    }
}
