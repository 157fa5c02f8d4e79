//! Dynamic relocations: RELA tables (DT_RELA, DT_JMPREL) and the packed DT_RELR format,
//! decoded lazily without allocation. Invariant: tables hold whole entries only; a RELR table
//! never starts with a bitmap (glibc would use an uninitialised base), so decoding is total.

use crate::LittleEndian;
use crate::consts::*;
use crate::dynamic::DynamicInfo;
use crate::error::{Error, Result};
use crate::memory::Memory;

const LE: LittleEndian = LittleEndian;
type U64 = object::U64<LittleEndian>;

/// An on-disk ELF64 RELA entry.
pub type Rela = crate::raw::Rela64<LittleEndian>;

/// Size of one RELA entry (DT_RELAENT).
pub const RELA_SIZE: usize = 24;

/// One relocation as native integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RelaEntry {
    /// `r_offset`: link-time address to patch.
    pub offset: u64,
    /// `ELF64_R_TYPE(r_info)` (R_X86_64_*).
    pub r_type: u32,
    /// `ELF64_R_SYM(r_info)`: dynamic symbol index (0 = none).
    pub sym: u32,
    /// `r_addend`.
    pub addend: i64,
}

impl RelaEntry {
    /// Decodes an on-disk entry.
    #[inline]
    pub fn from_raw(r: &Rela) -> RelaEntry {
        let info = r.r_info.get(LE);
        RelaEntry {
            offset: r.r_offset.get(LE),
            r_type: info as u32,
            sym: (info >> 32) as u32,
            addend: r.r_addend.get(LE),
        }
    }
}

/// A RELA table.
#[derive(Clone, Copy, Debug, Default)]
pub struct RelaTable<'a> {
    entries: &'a [Rela],
}

impl<'a> RelaTable<'a> {
    /// `size` bytes at link-time address `vaddr`; a trailing partial entry is ignored.
    pub fn from_memory<M: Memory<'a>>(mem: &M, vaddr: u64, size: u64) -> Result<RelaTable<'a>> {
        let whole = size / RELA_SIZE as u64 * RELA_SIZE as u64;
        if whole == 0 {
            return Ok(RelaTable::default());
        }
        let bytes = mem.bytes_at(vaddr, whole)?;
        let entries =
            object::pod::slice_from_all_bytes::<Rela>(bytes).map_err(|_| Error::OutOfBounds)?;
        Ok(RelaTable { entries })
    }

    /// The raw entries.
    pub fn raw(&self) -> &'a [Rela] {
        self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Option<RelaEntry> {
        self.entries.get(i).map(RelaEntry::from_raw)
    }

    /// Decoded entries in order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = RelaEntry> + ExactSizeIterator + Clone + 'a {
        self.entries.iter().map(RelaEntry::from_raw)
    }
}

/// A DT_RELR table (SHT_RELR encoding).
///
/// An even word is an address: relocate it, and the next 63 words may follow as a bitmap. An
/// odd word is a bitmap: bit `i` (1..=63) relocates `base + (i-1)·8`, then `base += 63·8`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RelrTable<'a> {
    words: &'a [U64],
}

impl<'a> RelrTable<'a> {
    /// `size` bytes at link-time address `vaddr`; must be whole 8-byte words and not start
    /// with a bitmap ([`Error::BadTable`]).
    pub fn from_memory<M: Memory<'a>>(mem: &M, vaddr: u64, size: u64) -> Result<RelrTable<'a>> {
        if !size.is_multiple_of(8) {
            return Err(Error::BadEntrySize);
        }
        if size == 0 {
            return Ok(RelrTable::default());
        }
        let bytes = mem.bytes_at(vaddr, size)?;
        let words =
            object::pod::slice_from_all_bytes::<U64>(bytes).map_err(|_| Error::OutOfBounds)?;
        if words.first().is_some_and(|w| w.get(LE) & 1 != 0) {
            return Err(Error::BadTable);
        }
        Ok(RelrTable { words })
    }

    /// Number of encoded words (not relocations).
    pub fn word_count(&self) -> usize {
        self.words.len()
    }

    /// Lazily decoded link-time addresses to relocate (each gets `+= load bias`).
    pub fn iter(&self) -> RelrIter<'a> {
        RelrIter {
            words: self.words.iter(),
            base: 0,
            bitmap: 0,
            bit_base: 0,
        }
    }
}

/// Decoder for [`RelrTable`]; yields addresses in table order.
#[derive(Clone, Debug)]
pub struct RelrIter<'a> {
    words: core::slice::Iter<'a, U64>,
    /// Address following the last address entry / bitmap block.
    base: u64,
    /// Remaining bits of the bitmap being expanded (shifted so bit 0 is the next slot).
    bitmap: u64,
    /// Address of bit 0 of `bitmap`.
    bit_base: u64,
}

impl Iterator for RelrIter<'_> {
    type Item = u64;
    #[inline]
    fn next(&mut self) -> Option<u64> {
        loop {
            if self.bitmap != 0 {
                let tz = self.bitmap.trailing_zeros();
                let addr = self.bit_base.wrapping_add(u64::from(tz) * 8);
                self.bitmap >>= tz;
                self.bitmap >>= 1;
                self.bit_base = addr.wrapping_add(8);
                return Some(addr);
            }
            let w = self.words.next()?.get(LE);
            if w & 1 == 0 {
                self.base = w.wrapping_add(8);
                return Some(w);
            }
            self.bitmap = w >> 1;
            self.bit_base = self.base;
            self.base = self.base.wrapping_add(63 * 8);
        }
    }
}

impl core::iter::FusedIterator for RelrIter<'_> {}

impl<'a> DynamicInfo<'a> {
    /// DT_RELA / DT_RELASZ (empty if absent; DT_RELAENT must be 24 if given).
    pub fn rela_table<M: Memory<'a>>(&self, mem: &M) -> Result<RelaTable<'a>> {
        if self.relaent().is_some_and(|e| e != RELA_SIZE as u64) {
            return Err(Error::BadEntrySize);
        }
        match (self.rela(), self.relasz()) {
            (Some(a), Some(s)) => RelaTable::from_memory(mem, a, s),
            _ => Ok(RelaTable::default()),
        }
    }

    /// DT_JMPREL / DT_PLTRELSZ (empty if absent; DT_PLTREL must be DT_RELA if given).
    pub fn plt_rela_table<M: Memory<'a>>(&self, mem: &M) -> Result<RelaTable<'a>> {
        if self.pltrel().is_some_and(|p| p != DT_RELA as u64) {
            return Err(Error::PltRelNotRela);
        }
        match (self.jmprel(), self.pltrelsz()) {
            (Some(a), Some(s)) => RelaTable::from_memory(mem, a, s),
            _ => Ok(RelaTable::default()),
        }
    }

    /// DT_RELR / DT_RELRSZ (empty if absent; DT_RELRENT must be 8 if given).
    pub fn relr_table<M: Memory<'a>>(&self, mem: &M) -> Result<RelrTable<'a>> {
        if self.relrent().is_some_and(|e| e != 8) {
            return Err(Error::BadEntrySize);
        }
        match (self.relr(), self.relrsz()) {
            (Some(a), Some(s)) => RelrTable::from_memory(mem, a, s),
            _ => Ok(RelrTable::default()),
        }
    }
}
