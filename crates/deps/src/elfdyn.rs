//! Private reader for the dynamic-section facts the graph needs (NEEDED, SONAME, RPATH/RUNPATH,
//! FLAGS_1, version needs/defs), read through `FileHandle::read_at`; stands in until rld-elf has them.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use rld_search::fs::{FileHandle, read_full};
use rld_search::verify::{ElfHeader, PT_DYNAMIC, PT_INTERP, PT_LOAD};

pub const DT_NULL: u64 = 0;
pub const DT_NEEDED: u64 = 1;
pub const DT_STRTAB: u64 = 5;
pub const DT_STRSZ: u64 = 10;
pub const DT_SONAME: u64 = 14;
pub const DT_RPATH: u64 = 15;
pub const DT_RUNPATH: u64 = 29;
pub const DT_FLAGS_1: u64 = 0x6fff_fffb;
pub const DT_VERDEF: u64 = 0x6fff_fffc;
pub const DT_VERDEFNUM: u64 = 0x6fff_fffd;
pub const DT_VERNEED: u64 = 0x6fff_fffe;
pub const DT_AUXILIARY: u64 = 0x7fff_fffd;
pub const DT_FILTER: u64 = 0x7fff_ffff;
pub const DF_1_NODEFLIB: u64 = 0x800;
pub const DF_1_PIE: u64 = 0x0800_0000;
pub const VER_FLG_BASE: u16 = 1;
pub const VER_FLG_WEAK: u16 = 2;

/// A version or file name of [`DynInfo::version_names`]: version tables name dozens of
/// versions per object (libc defines ~40), and one string buffer per object instead of one
/// allocation per name keeps reading them cheap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameRef {
    off: u32,
    len: u32,
}

/// One required version (`Vernaux`) of one needed file (`Verneed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionNeed {
    pub file: NameRef,
    pub name: NameRef,
    pub hash: u32,
    pub weak: bool,
}

/// A defined version (`Verdef`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionDef {
    pub version: u16,
    pub hash: u32,
    pub name: NameRef,
}

/// The dynamic facts of one object (glibc's `l_info` subset), strings resolved.
#[derive(Clone, Debug, Default)]
pub struct DynInfo {
    pub has_dynamic: bool,
    pub needed: Vec<Vec<u8>>,
    pub soname: Option<Vec<u8>>,
    /// Already dropped when a RUNPATH exists, as glibc does.
    pub rpath: Option<Vec<u8>>,
    pub runpath: Option<Vec<u8>>,
    pub flags_1: u64,
    pub has_filter: bool,
    pub verneed: Option<Vec<VersionNeed>>,
    /// `None`: no DT_VERDEF.
    pub verdef: Option<Vec<VersionDef>>,
    /// Verneed records with an unsupported `vn_version` (glibc: fatal).
    pub bad_verneed_version: Option<u16>,
    pub interp: Option<Vec<u8>>,
    /// The names of `verneed` and `verdef`, back to back (see [`NameRef`]): written by
    /// [`DynInfo::add_name`], read by [`DynInfo::name`].
    pub version_names: Vec<u8>,
}

impl DynInfo {
    /// The bytes of a name of `verneed` or `verdef`.
    pub fn name(&self, r: NameRef) -> &[u8] {
        let (off, len) = (r.off as usize, r.len as usize);
        self.version_names.get(off..off + len).unwrap_or(&[])
    }

    /// Stores a name for `verneed` or `verdef` (names past 4 GiB of them are stored empty).
    pub fn add_name(&mut self, name: &[u8]) -> NameRef {
        let (Ok(off), Ok(len)) = (
            u32::try_from(self.version_names.len()),
            u32::try_from(name.len()),
        ) else {
            return NameRef::default();
        };
        self.version_names.extend_from_slice(name);
        NameRef { off, len }
    }
}

/// Reads through 16 KiB blocks kept for the duration of one `read_dyn_info`: the dynamic
/// section, string table and version tables sit in a few adjacent pages, and reading them
/// string by string would cost one system call each (hundreds for libc's version names).
struct BlockCache<'h, H: FileHandle + ?Sized> {
    h: &'h H,
    blocks: core::cell::RefCell<Vec<(u64, Vec<u8>)>>,
}

const BLOCK: u64 = 16 * 1024;

impl<H: FileHandle + ?Sized> FileHandle for BlockCache<'_, H> {
    fn stat(&self) -> Result<rld_search::fs::FileStat, rld_search::fs::Errno> {
        self.h.stat()
    }
    fn view_at(&self, offset: u64) -> Option<&[u8]> {
        self.h.view_at(offset)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, rld_search::fs::Errno> {
        let start = offset & !(BLOCK - 1);
        if self.h.reads_are_cheap() {
            return self.h.read_at(offset, buf);
        }
        let mut blocks = self.blocks.borrow_mut();
        let i = match blocks.iter().position(|b| b.0 == start) {
            Some(i) => i,
            None => {
                let mut b = alloc::vec![0u8; BLOCK as usize];
                let n = read_full(self.h, start, &mut b)?;
                b.truncate(n);
                blocks.push((start, b));
                blocks.len() - 1
            }
        };
        let data = blocks.get(i).map_or(&[][..], |b| b.1.as_slice());
        let from = (offset - start) as usize;
        let avail = data.get(from..).unwrap_or(&[]);
        if avail.is_empty() {
            // A short block (end of file, or a gap in a memory image): read directly.
            drop(blocks);
            return self.h.read_at(offset, buf);
        }
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        Ok(n)
    }
}

struct Reader<'h, H: FileHandle + ?Sized> {
    h: &'h H,
    hdr: &'h ElfHeader,
    /// The last view `h` lent, with the file offset it starts at: a view runs to the end of
    /// its mapped piece, and the dynamic section, string table and version tables usually
    /// share one, so most records and names are found here without asking `h` (libc's ~130
    /// version records and names each cost a segment search before).
    last: core::cell::Cell<Option<(u64, &'h [u8])>>,
}

impl<'h, H: FileHandle + ?Sized> Reader<'h, H> {
    /// `h.view_at(off)`, served from the last view when it covers `off`.
    fn view(&self, off: u64) -> Option<&'h [u8]> {
        if let Some((start, v)) = self.last.get()
            && let Some(rest) = off
                .checked_sub(start)
                .and_then(|d| usize::try_from(d).ok())
                .and_then(|d| v.get(d..))
            && !rest.is_empty()
        {
            return Some(rest);
        }
        let v = self.h.view_at(off)?;
        self.last.set(Some((off, v)));
        Some(v)
    }

    fn vaddr_to_off(&self, v: u64) -> Option<u64> {
        self.hdr
            .phdrs
            .iter()
            .find(|p| p.p_type == PT_LOAD && v >= p.p_vaddr && v - p.p_vaddr < p.p_filesz)
            .map(|p| v - p.p_vaddr + p.p_offset)
    }

    /// `len` bytes at `off`: lent from the mapping when the handle has one, else read.
    fn bytes(&self, off: u64, len: usize) -> Option<Cow<'_, [u8]>> {
        if let Some(b) = self.view(off).and_then(|v| v.get(..len)) {
            return Some(Cow::Borrowed(b));
        }
        let mut b = alloc::vec![0u8; len];
        match read_full(self.h, off, &mut b) {
            Ok(n) if n == len => Some(Cow::Owned(b)),
            _ => None,
        }
    }

    /// A small fixed-size record (version entries) without a heap allocation.
    fn rec<const N: usize>(&self, off: u64) -> Option<[u8; N]> {
        if let Some(v) = self.view(off) {
            return v.first_chunk::<N>().copied();
        }
        let mut b = [0u8; N];
        match read_full(self.h, off, &mut b) {
            Ok(n) if n == N => Some(b),
            _ => None,
        }
    }

    /// The string at `off` appended to `info`'s version names.
    fn name_into(&self, off: u64, info: &mut DynInfo) -> NameRef {
        match self.view(off).and_then(in_place) {
            Some(name) => info.add_name(name),
            None => info.add_name(&self.cstr_read(off)),
        }
    }

    fn cstr(&self, off: u64) -> Vec<u8> {
        match self.view(off).and_then(in_place) {
            Some(name) => name.to_vec(),
            None => self.cstr_read(off),
        }
    }

    /// The string at `off` through `read_at`, in chunks (a handle without a view, or a name
    /// that runs past its mapped piece).
    fn cstr_read(&self, off: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pos = off;
        // Names are mostly short: a small first read, larger ones after.
        let mut chunk = [0u8; 48];
        loop {
            let n = match self.h.read_at(pos, &mut chunk) {
                Ok(n) if n > 0 => n,
                _ => return out,
            };
            let got = chunk.get(..n).unwrap_or(&[]);
            if let Some(z) = got.iter().position(|&c| c == 0) {
                out.extend_from_slice(got.get(..z).unwrap_or(&[]));
                return out;
            }
            out.extend_from_slice(got);
            pos += n as u64;
            if out.len() > 1 << 16 {
                return out;
            }
        }
    }
}

/// The NUL-terminated string at the start of `v` (capped at 64 KiB like the chunked
/// reads). A plain loop: names are ~12 bytes, too short for core's word-wise memchr to
/// pay for its set-up (measured: 10% more instructions).
fn in_place(v: &[u8]) -> Option<&[u8]> {
    let v = v.get(..1 << 16).unwrap_or(v);
    v.get(..v.iter().position(|&c| c == 0)?)
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    b.get(o..o + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u32_at(b, o) as u64 | ((u32_at(b, o + 4) as u64) << 32)
}

/// Which parts of an object's dynamic facts to read (see [`read_dyn_info_parts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    /// PT_INTERP into `interp`.
    pub interp: bool,
    /// What the load graph needs: DT_NEEDED, DT_SONAME, DT_RPATH/DT_RUNPATH, DT_FLAGS_1,
    /// filters.
    pub graph: bool,
    /// The version tables (`verneed`, `verdef`, `bad_verneed_version`): only the version
    /// check reads them, and it is most of the work here (libc defines ~40 versions).
    pub versions: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        interp: true,
        graph: true,
        versions: true,
    };
}

/// Read the dynamic facts of an object from its file.
pub fn read_dyn_info<H: FileHandle>(h: &H, hdr: &ElfHeader) -> DynInfo {
    read_dyn_info_parts(h, hdr, Parts::ALL)
}

/// The `parts` of an object's dynamic facts; the others are left at their defaults
/// (`has_dynamic` is always set).
pub fn read_dyn_info_parts<H: FileHandle>(h: &H, hdr: &ElfHeader, parts: Parts) -> DynInfo {
    read_dyn_info_over(h, hdr, parts, None)
}

/// The version tables of an object whose dynamic section entries (with their link-time
/// values) are `dynamic`, not those in `h`: a loader that has adjusted the entries in
/// place, as glibc's `l_info` users expect, reads its private copy.
pub fn read_versions_over<H: FileHandle>(h: &H, hdr: &ElfHeader, dynamic: &[u8]) -> DynInfo {
    let parts = Parts {
        interp: false,
        graph: false,
        versions: true,
    };
    read_dyn_info_over(h, hdr, parts, Some(dynamic))
}

/// One copy for every kind of handle (`dyn`): the loader reads files and images in memory,
/// and a copy per kind was 4.5 KB of its code.
fn read_dyn_info_over(
    h: &dyn FileHandle,
    hdr: &ElfHeader,
    parts: Parts,
    dynamic: Option<&[u8]>,
) -> DynInfo {
    let cache = BlockCache {
        h,
        blocks: core::cell::RefCell::new(Vec::new()),
    };
    let r = Reader {
        h: &cache,
        hdr,
        last: core::cell::Cell::new(None),
    };
    let mut info = DynInfo::default();
    if parts.interp
        && let Some(p) = hdr.phdrs.iter().find(|p| p.p_type == PT_INTERP)
        && let Some(s) = r.bytes(p.p_offset, p.p_filesz.min(4096) as usize)
    {
        let z = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        info.interp = s.get(..z).map(<[u8]>::to_vec);
    }
    // glibc uses the first PT_DYNAMIC with a non-zero size.
    let Some(dynp) = hdr.phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) else {
        return info;
    };
    if dynp.p_filesz == 0 {
        return info;
    }
    info.has_dynamic = true;
    let dynb = match dynamic {
        Some(d) => Cow::Borrowed(d),
        None => match r.bytes(dynp.p_offset, dynp.p_filesz.min(1 << 20) as usize) {
            Some(d) => d,
            None => return info,
        },
    };
    // The entries up to DT_NULL; of a tag that repeats, the last counts (as glibc's
    // `l_info`). One pass collects the single-valued tags, a second the DT_NEEDED names (in
    // order, once the string table is known).
    let words = dynb
        .chunks_exact(16)
        .map(|e| (u64_at(e, 0), u64_at(e, 8)))
        .take_while(|&(tag, _)| tag != DT_NULL);
    let entries = || words.clone();
    // Where each single-valued tag's last value goes (a match rather than a search of a tag
    // list per entry: libc has ~35 entries).
    let slot = |tag: u64| match tag {
        DT_STRTAB => Some(0),
        DT_SONAME => Some(1),
        DT_RPATH => Some(2),
        DT_RUNPATH => Some(3),
        DT_FLAGS_1 => Some(4),
        DT_VERNEED => Some(5),
        DT_VERDEF => Some(6),
        DT_VERDEFNUM => Some(7),
        _ => None,
    };
    let mut vals = [None; 8];
    for (tag, val) in entries() {
        if let Some(v) = slot(tag).and_then(|k: usize| vals.get_mut(k)) {
            *v = Some(val);
        }
    }
    let last = |t: u64| slot(t).and_then(|k| vals.get(k).copied().flatten());
    let strtab = last(DT_STRTAB).and_then(|v| r.vaddr_to_off(v));
    let s = |off: u64| -> Vec<u8> {
        match strtab {
            Some(base) => r.cstr(base + off),
            None => Vec::new(),
        }
    };
    // Version names land in one buffer; libc's ~40 definitions take ~500 bytes.
    let name = |off: u64, info: &mut DynInfo| match strtab {
        Some(base) => r.name_into(base + off, info),
        None => NameRef::default(),
    };
    if parts.graph {
        for (tag, val) in entries() {
            match tag {
                DT_NEEDED => info.needed.push(s(val)),
                DT_FILTER | DT_AUXILIARY => info.has_filter = true,
                _ => {}
            }
        }
        info.soname = last(DT_SONAME).map(s);
        info.runpath = last(DT_RUNPATH).map(s);
        info.rpath = if info.runpath.is_some() {
            None
        } else {
            last(DT_RPATH).map(s)
        };
        info.flags_1 = last(DT_FLAGS_1).unwrap_or(0);
    }
    if !parts.versions {
        return info;
    }
    let versions = last(DT_VERDEFNUM).unwrap_or(0).min(1024) as usize;
    info.version_names.reserve(16 * (versions + 4));
    if let Some(off) = last(DT_VERNEED).and_then(|v| r.vaddr_to_off(v)) {
        let mut needs = Vec::new();
        let mut ent = off;
        for _ in 0..4096 {
            let Some(vn) = r.rec::<16>(ent) else { break };
            let vn_version = u16_at(&vn, 0);
            if vn_version != 1 {
                info.bad_verneed_version = Some(vn_version);
                break;
            }
            let cnt = u16_at(&vn, 2);
            let file = name(u32_at(&vn, 4) as u64, &mut info);
            let mut aux = ent + u32_at(&vn, 8) as u64;
            for _ in 0..cnt.max(1) {
                let Some(a) = r.rec::<16>(aux) else { break };
                let hash = u32_at(&a, 0);
                let flags = u16_at(&a, 4);
                let name = name(u32_at(&a, 8) as u64, &mut info);
                needs.push(VersionNeed {
                    file,
                    name,
                    hash,
                    weak: flags & VER_FLG_WEAK != 0,
                });
                let next = u32_at(&a, 12);
                if next == 0 {
                    break;
                }
                aux += next as u64;
            }
            let next = u32_at(&vn, 12);
            if next == 0 {
                break;
            }
            ent += next as u64;
        }
        info.verneed = Some(needs);
    }
    if let Some(off) = last(DT_VERDEF).and_then(|v| r.vaddr_to_off(v)) {
        // Sized by DT_VERDEFNUM (libc has ~40 definitions); only a hint, the walk decides.
        let hint = last(DT_VERDEFNUM).unwrap_or(0).min(1024) as usize;
        let mut defs = Vec::with_capacity(hint);
        let mut ent = off;
        for _ in 0..65536 {
            let Some(vd) = r.rec::<20>(ent) else { break };
            let version = u16_at(&vd, 0);
            let hash = u32_at(&vd, 8);
            let aux = u32_at(&vd, 12) as u64;
            let name = r
                .rec::<8>(ent + aux)
                .map(|a| name(u32_at(&a, 0) as u64, &mut info))
                .unwrap_or_default();
            defs.push(VersionDef {
                version,
                hash,
                name,
            });
            if version != 1 {
                break;
            }
            let next = u32_at(&vd, 16);
            if next == 0 {
                break;
            }
            ent += next as u64;
        }
        info.verdef = Some(defs);
    }
    info
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    /// A handle with readable bytes only in [0, 100) and [5000, 5100) (like a mapped image
    /// read by link-time address), counting reads.
    struct Gappy(core::cell::Cell<u32>);
    impl FileHandle for Gappy {
        fn stat(&self) -> Result<rld_search::fs::FileStat, rld_search::fs::Errno> {
            Err(22)
        }
        fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, rld_search::fs::Errno> {
            self.0.set(self.0.get() + 1);
            let (lo, hi) = match off {
                0..100 => (0, 100),
                5000..5100 => (5000, 5100),
                _ => return Ok(0),
            };
            let n = ((hi - off) as usize).min(buf.len());
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = ((off - lo) as usize + i) as u8 ^ (lo as u8);
            }
            Ok(n)
        }
    }

    #[test]
    fn block_cache_reads_across_gaps_and_caches() {
        let g = Gappy(core::cell::Cell::new(0));
        let c = BlockCache {
            h: &g,
            blocks: core::cell::RefCell::new(Vec::new()),
        };
        let mut b = [0u8; 4];
        assert_eq!(read_full(&c, 5010, &mut b), Ok(4));
        assert_eq!(b, [10 ^ 136, 11 ^ 136, 12 ^ 136, 13 ^ 136]);
        let before = g.0.get();
        assert_eq!(read_full(&c, 2, &mut b), Ok(4));
        assert_eq!(b, [2, 3, 4, 5]);
        assert_eq!(
            g.0.get(),
            before,
            "second read of block 0 comes from the cache"
        );
    }
}
