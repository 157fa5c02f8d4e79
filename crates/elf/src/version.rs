//! Symbol versioning: DT_VERSYM array, DT_VERDEF / DT_VERNEED record chains, and the
//! per-object `index -> version` table glibc's `_dl_check_map_versions` builds (`l_versions`).
//! Invariant: record chains only move forward (offsets are unsigned, 0 ends), so every walk
//! terminates; a record that does not fit ends the walk with an `Err`.

use alloc::vec::Vec;

use crate::LittleEndian;
use crate::consts::*;
use crate::dynamic::DynamicInfo;
use crate::error::{Error, Result};
use crate::memory::Memory;
use crate::strtab::StringTable;

type U16 = object::U16<LittleEndian>;
const LE: LittleEndian = LittleEndian;

/// The DT_VERSYM array: one u16 per dynamic symbol (bit 15 = hidden, low 15 bits = index).
#[derive(Clone, Copy, Debug)]
pub struct VersymTable<'a> {
    entries: &'a [U16],
}

impl<'a> VersymTable<'a> {
    /// `count` entries at link-time address `vaddr`.
    pub fn from_memory<M: Memory<'a>>(mem: &M, vaddr: u64, count: u32) -> Result<VersymTable<'a>> {
        let bytes = mem.bytes_at(vaddr, u64::from(count) * 2)?;
        let entries =
            object::pod::slice_from_all_bytes::<U16>(bytes).map_err(|_| Error::OutOfBounds)?;
        Ok(VersymTable { entries })
    }

    /// Raw versym of symbol `index` (hidden bit included).
    #[inline]
    pub fn get(&self, index: u32) -> Option<u16> {
        self.entries.get(index as usize).map(|v| v.get(LE))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    at.checked_add(2)
        .and_then(|end| b.get(at..end))
        .and_then(|w| w.try_into().ok())
        .map(u16::from_le_bytes)
        .ok_or(Error::BadVersionRecord)
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    at.checked_add(4)
        .and_then(|end| b.get(at..end))
        .and_then(|w| w.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(Error::BadVersionRecord)
}

fn advance(pos: usize, delta: u32) -> Option<usize> {
    pos.checked_add(delta as usize)
}

/// One Verdef record (a version this object defines).
#[derive(Clone, Copy, Debug)]
pub struct Verdef<'a> {
    /// `vd_version` (1).
    pub version: u16,
    /// `vd_flags` (VER_FLG_BASE for the file's own name, VER_FLG_WEAK).
    pub flags: u16,
    /// `vd_ndx`: the version index symbols use in DT_VERSYM.
    pub ndx: u16,
    /// `vd_cnt`: number of Verdaux names (first = this version, rest = parents).
    pub cnt: u16,
    /// `vd_hash`: SysV hash of the name.
    pub hash: u32,
    data: &'a [u8],
    aux_pos: Option<usize>,
}

impl<'a> Verdef<'a> {
    /// String-table offsets of the names (Verdaux `vda_name`), up to `vd_cnt` of them.
    pub fn name_offsets(&self) -> VerdauxIter<'a> {
        VerdauxIter {
            data: self.data,
            pos: self.aux_pos,
            left: self.cnt,
        }
    }

    /// String-table offset of this version's name (the first Verdaux).
    pub fn name_offset(&self) -> Result<u32> {
        let pos = self.aux_pos.ok_or(Error::BadVersionRecord)?;
        u32_at(self.data, pos)
    }

    /// True if `VER_FLG_BASE` (the file's own name; never matched by versioned lookups).
    pub fn is_base(&self) -> bool {
        self.flags & VER_FLG_BASE != 0
    }
}

/// Verdaux name offsets of one [`Verdef`].
#[derive(Clone, Debug)]
pub struct VerdauxIter<'a> {
    data: &'a [u8],
    pos: Option<usize>,
    left: u16,
}

impl Iterator for VerdauxIter<'_> {
    type Item = Result<u32>;
    fn next(&mut self) -> Option<Result<u32>> {
        if self.left == 0 {
            return None;
        }
        let pos = self.pos?;
        self.left -= 1;
        let r = (|| {
            let name = u32_at(self.data, pos)?;
            let next = u32_at(self.data, pos + 4)?;
            Ok((name, next))
        })();
        match r {
            Ok((name, next)) => {
                self.pos = if next == 0 { None } else { advance(pos, next) };
                Some(Ok(name))
            }
            Err(e) => {
                self.pos = None;
                Some(Err(e))
            }
        }
    }
}

/// Iterator over the Verdef chain (follows `vd_next` until 0, like glibc).
#[derive(Clone, Debug)]
pub struct VerdefIter<'a> {
    data: &'a [u8],
    pos: Option<usize>,
}

impl<'a> VerdefIter<'a> {
    /// Records starting at the beginning of `data` (the bytes from DT_VERDEF on).
    pub fn new(data: &'a [u8]) -> VerdefIter<'a> {
        VerdefIter { data, pos: Some(0) }
    }

    /// Records at DT_VERDEF of `info` (empty iterator if absent).
    pub fn from_dynamic<M: Memory<'a>>(info: &DynamicInfo<'a>, mem: &M) -> Result<VerdefIter<'a>> {
        match info.verdef() {
            Some(v) => Ok(VerdefIter::new(mem.bytes_from(v)?)),
            None => Ok(VerdefIter {
                data: &[],
                pos: None,
            }),
        }
    }

    fn parse(&self, pos: usize) -> Result<(Verdef<'a>, u32)> {
        let d = self.data;
        let aux = u32_at(d, pos + 12)?;
        let def = Verdef {
            version: u16_at(d, pos)?,
            flags: u16_at(d, pos + 2)?,
            ndx: u16_at(d, pos + 4)?,
            cnt: u16_at(d, pos + 6)?,
            hash: u32_at(d, pos + 8)?,
            data: d,
            aux_pos: advance(pos, aux),
        };
        Ok((def, u32_at(d, pos + 16)?))
    }
}

impl<'a> Iterator for VerdefIter<'a> {
    type Item = Result<Verdef<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        let pos = self.pos?;
        match self.parse(pos) {
            Ok((def, next)) => {
                self.pos = if next == 0 { None } else { advance(pos, next) };
                Some(Ok(def))
            }
            Err(e) => {
                self.pos = None;
                Some(Err(e))
            }
        }
    }
}

/// One Vernaux record: a version required from a needed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vernaux {
    /// `vna_hash`: SysV hash of the version name.
    pub hash: u32,
    /// `vna_flags` (VER_FLG_WEAK).
    pub flags: u16,
    /// `vna_other`: the version index used in DT_VERSYM (bit 15 = hidden).
    pub other: u16,
    /// `vna_name`: string-table offset of the version name.
    pub name: u32,
}

impl Vernaux {
    /// True if `VER_FLG_WEAK`.
    pub fn is_weak(&self) -> bool {
        self.flags & VER_FLG_WEAK != 0
    }

    /// The version index (`other & 0x7fff`).
    pub fn index(&self) -> u16 {
        self.other & VERSYM_VERSION
    }
}

/// One Verneed record: a needed file and the versions required from it.
#[derive(Clone, Copy, Debug)]
pub struct Verneed<'a> {
    /// `vn_version` (glibc requires 1 on the first record).
    pub version: u16,
    /// `vn_cnt`.
    pub cnt: u16,
    /// `vn_file`: string-table offset of the needed file's name (its DT_NEEDED string).
    pub file: u32,
    data: &'a [u8],
    aux_pos: Option<usize>,
}

impl<'a> Verneed<'a> {
    /// The Vernaux records (follows `vna_next` until 0, like glibc).
    pub fn aux(&self) -> VernauxIter<'a> {
        VernauxIter {
            data: self.data,
            pos: self.aux_pos,
        }
    }
}

/// Vernaux records of one [`Verneed`].
#[derive(Clone, Debug)]
pub struct VernauxIter<'a> {
    data: &'a [u8],
    pos: Option<usize>,
}

impl Iterator for VernauxIter<'_> {
    type Item = Result<Vernaux>;
    fn next(&mut self) -> Option<Result<Vernaux>> {
        let pos = self.pos?;
        let d = self.data;
        let r = (|| {
            let aux = Vernaux {
                hash: u32_at(d, pos)?,
                flags: u16_at(d, pos + 4)?,
                other: u16_at(d, pos + 6)?,
                name: u32_at(d, pos + 8)?,
            };
            Ok((aux, u32_at(d, pos + 12)?))
        })();
        match r {
            Ok((aux, next)) => {
                self.pos = if next == 0 { None } else { advance(pos, next) };
                Some(Ok(aux))
            }
            Err(e) => {
                self.pos = None;
                Some(Err(e))
            }
        }
    }
}

/// Iterator over the Verneed chain (follows `vn_next` until 0).
#[derive(Clone, Debug)]
pub struct VerneedIter<'a> {
    data: &'a [u8],
    pos: Option<usize>,
}

impl<'a> VerneedIter<'a> {
    /// Records starting at the beginning of `data` (the bytes from DT_VERNEED on).
    pub fn new(data: &'a [u8]) -> VerneedIter<'a> {
        VerneedIter { data, pos: Some(0) }
    }

    /// Records at DT_VERNEED of `info` (empty iterator if absent).
    pub fn from_dynamic<M: Memory<'a>>(info: &DynamicInfo<'a>, mem: &M) -> Result<VerneedIter<'a>> {
        match info.verneed() {
            Some(v) => Ok(VerneedIter::new(mem.bytes_from(v)?)),
            None => Ok(VerneedIter {
                data: &[],
                pos: None,
            }),
        }
    }
}

impl<'a> Iterator for VerneedIter<'a> {
    type Item = Result<Verneed<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        let pos = self.pos?;
        let d = self.data;
        let r = (|| {
            let aux = u32_at(d, pos + 8)?;
            let need = Verneed {
                version: u16_at(d, pos)?,
                cnt: u16_at(d, pos + 2)?,
                file: u32_at(d, pos + 4)?,
                data: d,
                aux_pos: advance(pos, aux),
            };
            Ok((need, u32_at(d, pos + 12)?))
        })();
        match r {
            Ok((need, next)) => {
                self.pos = if next == 0 { None } else { advance(pos, next) };
                Some(Ok(need))
            }
            Err(e) => {
                self.pos = None;
                Some(Err(e))
            }
        }
    }
}

/// One slot of glibc's `l_versions` (`struct r_found_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionEntry<'a> {
    /// Version name, e.g. `GLIBC_2.2.5`.
    pub name: &'a [u8],
    /// SysV hash of the name, as recorded (vna_hash / vd_hash).
    pub hash: u32,
    /// From a Vernaux with bit 15 of `vna_other` (glibc's `hidden`); false for definitions.
    pub hidden: bool,
    /// The needed file this version comes from (Verneed), `None` for own definitions.
    pub filename: Option<&'a [u8]>,
}

/// glibc's `l_versions` for one object: version index → name/hash/hidden/filename.
#[derive(Clone, Debug, Default)]
pub struct VersionTable<'a> {
    entries: Vec<Option<VersionEntry<'a>>>,
    /// A Vernaux named `GLIBC_ABI_DT_RELR` (hash 0xfd0e42) was seen (glibc's `l_dt_relr_ref`).
    pub dt_relr_ref: bool,
}

/// `_dl_elf_hash("GLIBC_ABI_DT_RELR")`.
const GLIBC_ABI_DT_RELR_HASH: u32 = 0x00fd_0e42;

impl<'a> VersionTable<'a> {
    /// Builds the table as `_dl_check_map_versions` does (minus `match_symbol`, which needs
    /// the dependencies: iterate [`VerneedIter`] for that).
    ///
    /// Empty without DT_STRTAB. Size = highest index used by Vernaux `vna_other & 0x7fff` or
    /// Verdef `vd_ndx & 0x7fff`, plus one (empty if that is 0). Verneed entries fill their
    /// slots first; then non-BASE Verdef entries overwrite theirs (keeping `hidden`). The first
    /// Verneed must have `vn_version == 1`, else glibc's "unsupported version N of Verneed
    /// record".
    pub fn build<M: Memory<'a>>(info: &DynamicInfo<'a>, mem: &M) -> Result<VersionTable<'a>> {
        if info.strtab().is_none() {
            return Ok(VersionTable::default());
        }
        let strtab = info.string_table(mem)?;
        let mut ndx_high: u16 = 0;
        let mut dt_relr_ref = false;
        let mut first = true;
        for need in VerneedIter::from_dynamic(info, mem)? {
            let need = need?;
            if first && need.version != 1 {
                return Err(Error::UnsupportedVerneedVersion(need.version));
            }
            first = false;
            for aux in need.aux() {
                let aux = aux?;
                if aux.hash == GLIBC_ABI_DT_RELR_HASH
                    && strtab.get(u64::from(aux.name))? == b"GLIBC_ABI_DT_RELR"
                {
                    dt_relr_ref = true;
                }
                ndx_high = ndx_high.max(aux.index());
            }
        }
        for def in VerdefIter::from_dynamic(info, mem)? {
            ndx_high = ndx_high.max(def?.ndx & VERSYM_VERSION);
        }
        let mut table = VersionTable {
            entries: Vec::new(),
            dt_relr_ref,
        };
        if ndx_high == 0 {
            return Ok(table);
        }
        table.entries.resize(usize::from(ndx_high) + 1, None);
        for need in VerneedIter::from_dynamic(info, mem)? {
            let need = need?;
            let filename = strtab.get(u64::from(need.file))?;
            for aux in need.aux() {
                let aux = aux?;
                if let Some(slot) = table.entries.get_mut(usize::from(aux.index())) {
                    *slot = Some(VersionEntry {
                        name: strtab.get(u64::from(aux.name))?,
                        hash: aux.hash,
                        hidden: aux.other & VERSYM_HIDDEN != 0,
                        filename: Some(filename),
                    });
                }
            }
        }
        for def in VerdefIter::from_dynamic(info, mem)? {
            let def = def?;
            if def.is_base() {
                continue;
            }
            let name = strtab.get(u64::from(def.name_offset()?))?;
            if let Some(slot) = table.entries.get_mut(usize::from(def.ndx & VERSYM_VERSION)) {
                let hidden = slot.is_some_and(|e| e.hidden);
                *slot = Some(VersionEntry {
                    name,
                    hash: def.hash,
                    hidden,
                    filename: None,
                });
            }
        }
        Ok(table)
    }

    /// glibc's `l_nversions` (0 when the object has no versions).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the object uses no version indices.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for version index `ndx` (hidden bit ignored); `None` for unused slots,
    /// 0 (local) and 1 (global).
    pub fn get(&self, ndx: u16) -> Option<&VersionEntry<'a>> {
        self.entries
            .get(usize::from(ndx & VERSYM_VERSION))
            .and_then(Option::as_ref)
    }

    /// All slots, index = version index.
    pub fn entries(&self) -> &[Option<VersionEntry<'a>>] {
        &self.entries
    }

    /// glibc's check at the end of `_dl_check_map_versions`: an object with DT_VERNEED,
    /// DT_NEEDED and DT_RELR but no GLIBC_ABI_DT_RELR reference fails if it needs a
    /// `libc.so.*`: "DT_RELR without GLIBC_ABI_DT_RELR dependency".
    pub fn check_relr_abi(&self, info: &DynamicInfo<'a>, strtab: &StringTable<'a>) -> Result<()> {
        if info.verneed().is_none()
            || !info.has(DT_NEEDED)
            || info.relr().is_none()
            || self.dt_relr_ref
        {
            return Ok(());
        }
        for off in info.needed_offsets() {
            if strtab.get(off)?.starts_with(b"libc.so.") {
                return Err(Error::RelrWithoutAbiTag);
            }
        }
        Ok(())
    }
}
