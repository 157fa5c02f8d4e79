//! Reading an object by link-time virtual address, from file bytes or from a mapped image, so
//! dynamic/symbol/version code is written once. Invariant: every returned slice lies inside the
//! borrowed bytes and inside a PT_LOAD range; no address arithmetic can wrap unnoticed.

use crate::consts::PT_LOAD;
use crate::error::{Error, Result};
use crate::file::{ProgramHeader, ProgramHeaderExt};

/// Read access to an object's contents by link-time virtual address (`p_vaddr` space, i.e. not
/// yet biased by the load address).
///
/// Implementations hand out slices borrowed for `'a`, so views built from them (string tables,
/// symbol tables, hash tables) need no further translation on hot paths.
pub trait Memory<'a> {
    /// The longest readable run of bytes starting at `vaddr` (never empty).
    fn bytes_from(&self, vaddr: u64) -> Result<&'a [u8]>;

    /// Exactly `len` bytes at `vaddr` (`len == 0` yields an empty slice only if `vaddr` is
    /// readable).
    fn bytes_at(&self, vaddr: u64, len: u64) -> Result<&'a [u8]> {
        let run = self.bytes_from(vaddr)?;
        let len = usize::try_from(len).map_err(|_| Error::OutOfBounds)?;
        run.get(..len).ok_or(Error::OutOfBounds)
    }
}

impl<'a, M: Memory<'a> + ?Sized> Memory<'a> for &M {
    fn bytes_from(&self, vaddr: u64) -> Result<&'a [u8]> {
        (**self).bytes_from(vaddr)
    }
}

/// An object's address space as its file describes it: `vaddr` ∈ `[p_vaddr, p_vaddr+p_filesz)`
/// of a PT_LOAD maps to file offset `p_offset + (vaddr - p_vaddr)`.
///
/// Bytes in `[p_filesz, p_memsz)` (.bss) are zero in memory but absent from the file; reading
/// them is an error ([`Error::AddressNotMapped`]) rather than a fabricated zero.
#[derive(Clone, Copy, Debug)]
pub struct FileMemory<'a> {
    bytes: &'a [u8],
    phdrs: &'a [ProgramHeader],
}

impl<'a> FileMemory<'a> {
    /// A view of `bytes` (the whole file) through the PT_LOAD entries of `phdrs`.
    pub fn new(bytes: &'a [u8], phdrs: &'a [ProgramHeader]) -> FileMemory<'a> {
        FileMemory { bytes, phdrs }
    }

    /// The file offset backing `vaddr`, if any.
    pub fn vaddr_to_offset(&self, vaddr: u64) -> Option<u64> {
        self.locate(vaddr).map(|(off, _)| off)
    }

    /// (file offset, bytes available in that segment's file image) for `vaddr`.
    fn locate(&self, vaddr: u64) -> Option<(u64, u64)> {
        // First match wins, as for a kernel/glibc mapping of overlapping (bogus) segments the
        // later mapping would win; either choice is safe, this one is cheaper.
        self.phdrs.iter().find_map(|ph| {
            if ph.p_type() != PT_LOAD {
                return None;
            }
            let delta = vaddr.checked_sub(ph.p_vaddr())?;
            if delta >= ph.p_filesz() {
                return None;
            }
            Some((ph.p_offset().checked_add(delta)?, ph.p_filesz() - delta))
        })
    }
}

impl<'a> Memory<'a> for FileMemory<'a> {
    fn bytes_from(&self, vaddr: u64) -> Result<&'a [u8]> {
        let (off, avail) = self.locate(vaddr).ok_or(Error::AddressNotMapped)?;
        let off = usize::try_from(off).map_err(|_| Error::AddressNotMapped)?;
        let rest = self.bytes.get(off..).ok_or(Error::AddressNotMapped)?;
        let avail = usize::try_from(avail).unwrap_or(usize::MAX);
        let run = rest.get(..avail).unwrap_or(rest);
        if run.is_empty() {
            return Err(Error::AddressNotMapped);
        }
        Ok(run)
    }
}

/// A loaded object's memory as a byte slice: `bytes[0]` is link-time address `start_vaddr`
/// (the page-aligned lowest PT_LOAD address), so `vaddr` is at `bytes[vaddr - start_vaddr]`
/// and the run-time address is `bytes.as_ptr() + (vaddr - start_vaddr)`.
///
/// The loader builds the slice unsafely from the mapping's base pointer and length; everything
/// here is safe code over it. If segments are given, reads are additionally confined to
/// `[p_vaddr, p_vaddr + p_memsz)` of PT_LOAD entries, which keeps reads out of PROT_NONE holes
/// between segments (glibc leaves those unreadable), so the loader's slice may span them.
///
/// Aliasing note for the loader: a `&[u8]` must not overlap memory written during its
/// lifetime. Either drop the views before applying relocations, or build the slice over a
/// read-only prefix of the mapping only (reads beyond the slice fail cleanly).
#[derive(Clone, Copy, Debug)]
pub struct MappedImage<'a> {
    bytes: &'a [u8],
    start_vaddr: u64,
    segments: &'a [ProgramHeader],
}

impl<'a> MappedImage<'a> {
    /// A view where `bytes[0]` holds link-time address `start_vaddr`; any address covered by
    /// `bytes` is readable.
    pub fn new(bytes: &'a [u8], start_vaddr: u64) -> MappedImage<'a> {
        MappedImage {
            bytes,
            start_vaddr,
            segments: &[],
        }
    }

    /// Like [`MappedImage::new`], but only addresses inside a PT_LOAD of `phdrs`
    /// (`[p_vaddr, p_vaddr+p_memsz)`) are readable. An empty PT_LOAD list allows nothing.
    pub fn with_segments(
        bytes: &'a [u8],
        start_vaddr: u64,
        phdrs: &'a [ProgramHeader],
    ) -> MappedImage<'a> {
        MappedImage {
            bytes,
            start_vaddr,
            segments: phdrs,
        }
    }

    /// Link-time address of `bytes[0]`.
    pub fn start_vaddr(&self) -> u64 {
        self.start_vaddr
    }

    /// The underlying slice.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Upper bound (exclusive) of readable addresses starting at `vaddr` given the segment
    /// restriction, or `None` if `vaddr` is outside every PT_LOAD.
    fn segment_limit(&self, vaddr: u64) -> Option<u64> {
        if self.segments.is_empty() {
            return Some(u64::MAX);
        }
        self.segments
            .iter()
            .filter(|ph| ph.p_type() == PT_LOAD && ph.contains_vaddr(vaddr))
            .map(|ph| ph.p_vaddr().saturating_add(ph.p_memsz()))
            .max()
    }
}

impl<'a> Memory<'a> for MappedImage<'a> {
    fn bytes_from(&self, vaddr: u64) -> Result<&'a [u8]> {
        let limit = self.segment_limit(vaddr).ok_or(Error::AddressNotMapped)?;
        let off = vaddr
            .checked_sub(self.start_vaddr)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or(Error::AddressNotMapped)?;
        let rest = self.bytes.get(off..).ok_or(Error::AddressNotMapped)?;
        let avail = usize::try_from(limit - vaddr).unwrap_or(usize::MAX);
        let run = rest.get(..avail).unwrap_or(rest);
        if run.is_empty() {
            return Err(Error::AddressNotMapped);
        }
        Ok(run)
    }
}
