//! `ElfFile`: a zero-copy view of an ELF64 file's bytes (header + program headers + segments).
//! Invariant: the header and the whole program header table are inside the bytes (checked once).

use crate::consts::*;
use crate::dynamic::Dynamic;
use crate::error::{Error, Result};
use crate::header::{Header, PHDR_SIZE};
use crate::memory::FileMemory;
use crate::note::NoteIter;
use crate::{LE, raw};

/// An ELF64 program header as stored on disk (`object`'s layout, alignment 1).
pub type ProgramHeader = raw::ProgramHeader64<crate::LittleEndian>;

/// Native-integer accessors for [`ProgramHeader`] (saves threading an endian argument).
pub trait ProgramHeaderExt {
    /// `p_type` (PT_*).
    fn p_type(&self) -> u32;
    /// `p_flags` (PF_R | PF_W | PF_X).
    fn p_flags(&self) -> u32;
    /// `p_offset`: file offset of the segment.
    fn p_offset(&self) -> u64;
    /// `p_vaddr`: link-time virtual address.
    fn p_vaddr(&self) -> u64;
    /// `p_paddr`.
    fn p_paddr(&self) -> u64;
    /// `p_filesz`: bytes present in the file.
    fn p_filesz(&self) -> u64;
    /// `p_memsz`: bytes occupied in memory (>= filesz for sane files; not guaranteed).
    fn p_memsz(&self) -> u64;
    /// `p_align`.
    fn p_align(&self) -> u64;
    /// The segment's file bytes, `[p_offset, p_offset + p_filesz)`, if inside `file`.
    fn file_bytes<'a>(&self, file: &'a [u8]) -> Result<&'a [u8]>;
    /// True if `vaddr` lies in `[p_vaddr, p_vaddr + p_memsz)`.
    fn contains_vaddr(&self, vaddr: u64) -> bool;
}

impl ProgramHeaderExt for ProgramHeader {
    #[inline]
    fn p_type(&self) -> u32 {
        self.p_type.get(LE).0
    }
    #[inline]
    fn p_flags(&self) -> u32 {
        self.p_flags.get(LE).0
    }
    #[inline]
    fn p_offset(&self) -> u64 {
        self.p_offset.get(LE)
    }
    #[inline]
    fn p_vaddr(&self) -> u64 {
        self.p_vaddr.get(LE)
    }
    #[inline]
    fn p_paddr(&self) -> u64 {
        self.p_paddr.get(LE)
    }
    #[inline]
    fn p_filesz(&self) -> u64 {
        self.p_filesz.get(LE)
    }
    #[inline]
    fn p_memsz(&self) -> u64 {
        self.p_memsz.get(LE)
    }
    #[inline]
    fn p_align(&self) -> u64 {
        self.p_align.get(LE)
    }
    fn file_bytes<'a>(&self, file: &'a [u8]) -> Result<&'a [u8]> {
        slice_at(
            file,
            ProgramHeaderExt::p_offset(self),
            ProgramHeaderExt::p_filesz(self),
        )
    }
    #[inline]
    fn contains_vaddr(&self, vaddr: u64) -> bool {
        let start = ProgramHeaderExt::p_vaddr(self);
        vaddr >= start && vaddr - start < ProgramHeaderExt::p_memsz(self)
    }
}

/// `bytes[off..off+len]` with overflow and bounds checks.
pub(crate) fn slice_at(bytes: &[u8], off: u64, len: u64) -> Result<&[u8]> {
    let end = off.checked_add(len).ok_or(Error::Overflow)?;
    let (off, end) = (
        usize::try_from(off).map_err(|_| Error::OutOfBounds)?,
        usize::try_from(end).map_err(|_| Error::OutOfBounds)?,
    );
    bytes.get(off..end).ok_or(Error::OutOfBounds)
}

/// Casts the program header table out of `bytes` (no alignment requirement: alignment 1).
pub(crate) fn phdrs_from(bytes: &[u8], phoff: u64, phnum: u16) -> Result<&[ProgramHeader]> {
    let size = u64::from(phnum) * PHDR_SIZE as u64;
    let table = slice_at(bytes, phoff, size).map_err(|_| Error::BadProgramHeaders)?;
    object::pod::slice_from_all_bytes::<ProgramHeader>(table).map_err(|_| Error::BadProgramHeaders)
}

/// A parsed ELF64 little-endian file held as borrowed bytes.
///
/// Any alignment of the input is accepted: `object`'s on-disk structs are byte arrays, and
/// x86-64 loads are unaligned-safe, so no copying is ever needed. Construction checks only
/// structure (magic/class/data, the program header table's bounds and entry size); glibc's
/// loadability policy lives in [`crate::verify_header`], which a loader calls first.
#[derive(Clone, Copy, Debug)]
pub struct ElfFile<'a> {
    bytes: &'a [u8],
    header: Header,
    phdrs: &'a [ProgramHeader],
}

impl<'a> ElfFile<'a> {
    /// Parses the header and program header table of `bytes` (the whole file).
    pub fn parse(bytes: &'a [u8]) -> Result<ElfFile<'a>> {
        let header = Header::parse(bytes)?;
        if header.e_phnum != 0 && usize::from(header.e_phentsize) != PHDR_SIZE {
            return Err(Error::BadProgramHeaders);
        }
        let phdrs = phdrs_from(bytes, header.e_phoff, header.e_phnum)?;
        Ok(ElfFile {
            bytes,
            header,
            phdrs,
        })
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The file header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `e_type` (ET_DYN, ET_EXEC, ...).
    pub fn e_type(&self) -> u16 {
        self.header.e_type
    }

    /// `e_entry` (link-time address).
    pub fn entry(&self) -> u64 {
        self.header.e_entry
    }

    /// All program headers.
    pub fn program_headers(&self) -> &'a [ProgramHeader] {
        self.phdrs
    }

    /// Program headers of type `p_type`, in table order.
    pub fn segments_of_type(
        &self,
        p_type: u32,
    ) -> impl Iterator<Item = &'a ProgramHeader> + Clone + 'a {
        self.phdrs.iter().filter(move |p| p.p_type() == p_type)
    }

    /// The first program header of type `p_type`.
    pub fn segment_of_type(&self, p_type: u32) -> Option<&'a ProgramHeader> {
        self.phdrs.iter().find(|p| p.p_type() == p_type)
    }

    /// PT_LOAD segments, in table order (ascending p_vaddr in well-formed files).
    pub fn load_segments(&self) -> impl Iterator<Item = &'a ProgramHeader> + Clone + 'a {
        self.segments_of_type(PT_LOAD)
    }

    /// The PT_DYNAMIC program header. glibc uses the *last* one (it overwrites `l_ld` in its
    /// scan); so does this.
    pub fn dynamic_segment(&self) -> Option<&'a ProgramHeader> {
        self.segments_of_type(PT_DYNAMIC).last()
    }

    /// PT_TLS (glibc: last wins; an empty one means "no TLS" to glibc, not filtered here).
    pub fn tls_segment(&self) -> Option<&'a ProgramHeader> {
        self.segments_of_type(PT_TLS).last()
    }

    /// PT_GNU_STACK (glibc: last wins). Absent means executable stack on x86-64.
    pub fn gnu_stack(&self) -> Option<&'a ProgramHeader> {
        self.segments_of_type(PT_GNU_STACK).last()
    }

    /// PT_GNU_RELRO (glibc: last wins).
    pub fn gnu_relro(&self) -> Option<&'a ProgramHeader> {
        self.segments_of_type(PT_GNU_RELRO).last()
    }

    /// PT_GNU_EH_FRAME.
    pub fn gnu_eh_frame(&self) -> Option<&'a ProgramHeader> {
        self.segment_of_type(PT_GNU_EH_FRAME)
    }

    /// PT_GNU_PROPERTY.
    pub fn gnu_property(&self) -> Option<&'a ProgramHeader> {
        self.segment_of_type(PT_GNU_PROPERTY)
    }

    /// PT_PHDR.
    pub fn phdr_segment(&self) -> Option<&'a ProgramHeader> {
        self.segment_of_type(PT_PHDR)
    }

    /// The PT_INTERP path without its trailing NUL (up to the first NUL, as the kernel and
    /// glibc treat it). `None` without PT_INTERP; `Some(Err)` if the segment is out of bounds.
    pub fn interp(&self) -> Option<Result<&'a [u8]>> {
        let ph = self.segment_of_type(PT_INTERP)?;
        Some(
            ph.file_bytes(self.bytes)
                .map(|b| match b.iter().position(|&c| c == 0) {
                    Some(n) => b.split_at(n).0,
                    None => b,
                }),
        )
    }

    /// The file's address space: link-time virtual addresses translated to file bytes through
    /// PT_LOAD (`p_vaddr..p_vaddr+p_filesz` ↔ `p_offset..`).
    pub fn memory(&self) -> FileMemory<'a> {
        FileMemory::new(self.bytes, self.phdrs)
    }

    /// The dynamic entries from PT_DYNAMIC's file bytes, cut at DT_NULL.
    ///
    /// `Ok(None)` when there is no PT_DYNAMIC or it is empty (`p_filesz == 0`, separate
    /// debuginfo: glibc then says "object file has no dynamic section" for ET_DYN).
    pub fn dynamic(&self) -> Result<Option<Dynamic<'a>>> {
        match self.dynamic_segment() {
            Some(ph) if ph.p_filesz() != 0 => {
                Dynamic::from_bytes(ph.file_bytes(self.bytes)?, ph.p_vaddr()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Notes of every PT_NOTE segment, in order (read from file bytes).
    pub fn notes(&self) -> NoteIter<'a> {
        NoteIter::new(self.bytes, self.phdrs)
    }

    /// The GNU build-id descriptor bytes (NT_GNU_BUILD_ID in a PT_NOTE segment).
    pub fn build_id(&self) -> Option<&'a [u8]> {
        crate::note::build_id(self.notes())
    }

    /// glibc's `_dl_map_object_from_fd` segment checks (the parts that depend only on the
    /// file): every PT_LOAD has `(p_vaddr - p_offset) % page_size == 0`, there is at least one
    /// PT_LOAD, and an ET_DYN has a non-empty PT_DYNAMIC. Errors are glibc's, in its order.
    pub fn check_loadable(&self, page_size: u64) -> Result<()> {
        let mask = page_size.wrapping_sub(1);
        let mut nload = 0usize;
        let mut have_dynamic = false;
        let mut empty_dynamic = false;
        for ph in self.phdrs {
            match ph.p_type() {
                PT_DYNAMIC => {
                    if ph.p_filesz() == 0 {
                        empty_dynamic = true;
                    } else {
                        have_dynamic = true;
                    }
                }
                PT_LOAD => {
                    if ph.p_vaddr().wrapping_sub(ph.p_offset()) & mask != 0 {
                        return Err(Error::LoadNotPageAligned);
                    }
                    nload += 1;
                }
                _ => {}
            }
        }
        if nload == 0 {
            return Err(Error::NoLoadSegments);
        }
        if (!have_dynamic && self.header.e_type == ET_DYN) || empty_dynamic {
            return Err(Error::NoDynamicSection);
        }
        Ok(())
    }

    /// `[lowest page-aligned PT_LOAD vaddr, highest p_vaddr + p_memsz)`: the extent a loader
    /// reserves. `None` without PT_LOAD or on overflow.
    pub fn load_extent(&self, page_size: u64) -> Option<(u64, u64)> {
        load_extent(self.phdrs, page_size)
    }
}

/// `[min page-aligned p_vaddr, max p_vaddr+p_memsz)` over PT_LOAD headers (glibc maps from the
/// first load command's page to the last one's end; for sorted headers this is the same).
pub fn load_extent(phdrs: &[ProgramHeader], page_size: u64) -> Option<(u64, u64)> {
    let mask = !page_size.wrapping_sub(1);
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    let mut any = false;
    for ph in phdrs.iter().filter(|p| p.p_type() == PT_LOAD) {
        any = true;
        lo = lo.min(ph.p_vaddr() & mask);
        hi = hi.max(ph.p_vaddr().checked_add(ph.p_memsz())?);
    }
    any.then_some((lo, hi))
}
