//! The dynamic section: `Dynamic` (entries up to DT_NULL) and `DynamicInfo` (glibc's `l_info`
//! index space + typed accessors). Values are raw link-time d_val/d_ptr, never biased by a load
//! address; parsing is infallible once the entries are bounded, so corrupt tags cannot panic.

use crate::consts::*;
use crate::error::{Error, Result};
use crate::memory::Memory;
use crate::strtab::StringTable;
use crate::{LE, raw};

/// An on-disk dynamic entry.
pub type Dyn = raw::Dyn64<crate::LittleEndian>;

/// Size of one dynamic entry.
pub const DYN_SIZE: usize = 16;

/// One dynamic entry as native integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DynEntry {
    /// `d_tag`.
    pub tag: i64,
    /// `d_val` / `d_ptr`.
    pub val: u64,
}

/// The entries of a dynamic section, up to (excluding) the first DT_NULL.
#[derive(Clone, Copy, Debug)]
pub struct Dynamic<'a> {
    entries: &'a [Dyn],
    vaddr: u64,
}

impl<'a> Dynamic<'a> {
    /// Entries from `bytes` (the section contents), located at link-time address `vaddr`.
    ///
    /// Only whole 16-byte entries count; the section must contain a DT_NULL (glibc would read
    /// past the segment otherwise) else [`Error::DynamicNotTerminated`].
    pub fn from_bytes(bytes: &'a [u8], vaddr: u64) -> Result<Dynamic<'a>> {
        let whole = bytes.len() / DYN_SIZE * DYN_SIZE;
        let all = object::pod::slice_from_all_bytes::<Dyn>(bytes.get(..whole).unwrap_or(&[]))
            .map_err(|_| Error::OutOfBounds)?;
        let n = all
            .iter()
            .position(|d| d.d_tag.get(LE).0 == DT_NULL)
            .ok_or(Error::DynamicNotTerminated)?;
        Ok(Dynamic {
            entries: all.split_at(n).0,
            vaddr,
        })
    }

    /// Entries read through `mem` at `vaddr`, at most `size` bytes (PT_DYNAMIC's `p_memsz` in
    /// an image, `p_filesz` in a file); fewer if the readable run is shorter.
    pub fn from_memory<M: Memory<'a>>(mem: &M, vaddr: u64, size: u64) -> Result<Dynamic<'a>> {
        let run = mem.bytes_from(vaddr)?;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        Dynamic::from_bytes(run.get(..size).unwrap_or(run), vaddr)
    }

    /// The raw entries (without the DT_NULL).
    pub fn raw_entries(&self) -> &'a [Dyn] {
        self.entries
    }

    /// The raw entries (without the DT_NULL) as bytes.
    pub fn entry_bytes(&self) -> &'a [u8] {
        object::pod::bytes_of_slice(self.entries)
    }

    /// Number of entries before DT_NULL.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the first entry is DT_NULL.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Link-time address of the first entry.
    pub fn vaddr(&self) -> u64 {
        self.vaddr
    }

    /// Iterates over the entries as native integers.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = DynEntry> + ExactSizeIterator + Clone + 'a {
        self.entries.iter().map(|d| DynEntry {
            tag: d.d_tag.get(LE).0,
            val: d.d_val.get(LE),
        })
    }

    /// Values of every entry with tag `tag`, in order.
    pub fn values_of(&self, tag: i64) -> impl Iterator<Item = u64> + Clone + 'a {
        self.iter().filter(move |e| e.tag == tag).map(|e| e.val)
    }
}

/// Number of slots in glibc 2.36's `l_info` on x86-64
/// (DT_NUM 38 + DT_THISPROCNUM 0 + DT_VERSIONTAGNUM 16 + DT_EXTRANUM 3 + DT_VALNUM 12 +
/// DT_ADDRNUM 11).
pub const L_INFO_COUNT: usize = 80;

/// glibc's `l_info` slot for a dynamic tag, or `None` if glibc ignores the tag.
///
/// Mirrors `elf_get_dynamic_info`'s classification, including its integer conversions:
/// `tag < 38` → tag; version tags → `38 + (0x6fffffff - tag)` (VERSYM 53, FLAGS_1 42,
/// VERDEF 41, VERNEED 39); DT_FILTER/DT_USED/DT_AUXILIARY (only the low 32 bits of the tag
/// are looked at, as glibc's DT_EXTRATAGIDX does) → 54..56; DT_VALRNG → `57 + (0x6ffffdff -
/// tag)`; DT_ADDRRNG → `69 + (0x6ffffeff - tag)` (GNU_HASH 79).
pub const fn l_info_index(tag: i64) -> Option<usize> {
    const VERSION_BASE: u64 = DT_NUM as u64;
    const EXTRA_BASE: u64 = VERSION_BASE + 16;
    const VAL_BASE: u64 = EXTRA_BASE + 3;
    const ADDR_BASE: u64 = VAL_BASE + 12;
    if (tag as u64) < DT_NUM as u64 {
        return Some(tag as usize);
    }
    let v = DT_VERNEEDNUM.wrapping_sub(tag) as u64;
    if v < 16 {
        return Some((VERSION_BASE + v) as usize);
    }
    let low = tag as i32;
    let x = ((((low << 1) >> 1).wrapping_neg()) as u32).wrapping_sub(1) as u64;
    if x < 3 {
        return Some((EXTRA_BASE + x) as usize);
    }
    let v = DT_VALRNGHI.wrapping_sub(tag) as u64;
    if v < 12 {
        return Some((VAL_BASE + v) as usize);
    }
    let a = DT_ADDRRNGHI.wrapping_sub(tag) as u64;
    if a < 11 {
        return Some((ADDR_BASE + a) as usize);
    }
    None
}

/// Summary of a dynamic section in glibc's `l_info` index space plus typed accessors.
///
/// Holds, per slot, the value of the *last* entry with that tag (glibc overwrites), and the
/// entries themselves for multi-valued tags (DT_NEEDED, DT_FILTER, DT_AUXILIARY). Accessors
/// return link-time values exactly as stored. [`DynamicInfo::slot`] applies glibc's
/// post-processing (DT_FLAGS/DT_FLAGS_1 aliases, DT_RUNPATH hiding DT_RPATH);
/// [`DynamicInfo::raw_slot`] does not.
#[derive(Clone, Debug)]
pub struct DynamicInfo<'a> {
    dynamic: Dynamic<'a>,
    /// Per slot, the index of its last entry in `dynamic` (`FAR`: at or beyond `FAR`, found
    /// again by a scan). Indices rather than values: a loader keeps one of these per object,
    /// and values would take 640 bytes instead of 160.
    slots: [u16; L_INFO_COUNT],
    present: u128,
    debug_index: Option<usize>,
}

/// `DynamicInfo::slots` entry of a slot whose last entry's index does not fit below it.
const FAR: u16 = u16::MAX;

impl<'a> DynamicInfo<'a> {
    /// Classifies every entry of `dynamic` (infallible: unknown tags are ignored as by glibc).
    pub fn new(dynamic: Dynamic<'a>) -> DynamicInfo<'a> {
        let mut info = DynamicInfo {
            dynamic,
            slots: [0; L_INFO_COUNT],
            present: 0,
            debug_index: None,
        };
        for (i, e) in dynamic.iter().enumerate() {
            if let Some(slot) = l_info_index(e.tag)
                && let Some(s) = info.slots.get_mut(slot)
            {
                *s = u16::try_from(i).unwrap_or(FAR);
                info.present |= 1u128 << slot;
            }
            if e.tag == DT_DEBUG {
                info.debug_index = Some(i);
            }
        }
        info
    }

    /// Parses the dynamic section of a file's bytes or an image through `mem`.
    pub fn from_memory<M: Memory<'a>>(mem: &M, vaddr: u64, size: u64) -> Result<DynamicInfo<'a>> {
        Dynamic::from_memory(mem, vaddr, size).map(DynamicInfo::new)
    }

    /// The underlying entries.
    pub fn dynamic(&self) -> &Dynamic<'a> {
        &self.dynamic
    }

    /// Value of raw slot `index` (last entry whose tag maps there), before glibc's fix-ups.
    // Out of line: every accessor goes through here, and inlined it grew rld by 8 KB.
    #[inline(never)]
    pub fn raw_slot(&self, index: usize) -> Option<u64> {
        if index >= L_INFO_COUNT || self.present & (1u128 << index) == 0 {
            return None;
        }
        match *self.slots.get(index)? {
            FAR => self.far_slot(index),
            at => Some(self.dynamic.raw_entries().get(at as usize)?.d_val.get(LE)),
        }
    }

    /// A slot whose last entry lies past the first 65535 (only a pathological section):
    /// found again by a scan, out of line so that the accessors stay small.
    #[cold]
    #[inline(never)]
    fn far_slot(&self, index: usize) -> Option<u64> {
        let e = self
            .dynamic
            .raw_entries()
            .iter()
            .rev()
            .find(|d| l_info_index(d.d_tag.get(LE).0) == Some(index))?;
        Some(e.d_val.get(LE))
    }

    /// Value glibc's `l_info[index]->d_un` would hold after `elf_get_dynamic_info` (non-
    /// bootstrap): DT_SYMBOLIC / DT_TEXTREL / DT_BIND_NOW also appear when implied by DT_FLAGS
    /// (value = DT_FLAGS) or, for DT_BIND_NOW, by DF_1_NOW (value = DT_FLAGS_1); DT_RPATH is
    /// absent when DT_RUNPATH is present.
    pub fn slot(&self, index: usize) -> Option<u64> {
        let flags = self.raw_slot(DT_FLAGS as usize);
        let implied = |bit: u64| flags.filter(|f| f & bit != 0);
        match index {
            i if i == DT_RPATH as usize && self.has(DT_RUNPATH) => None,
            i if i == DT_SYMBOLIC as usize => implied(DF_SYMBOLIC).or(self.raw_slot(i)),
            i if i == DT_TEXTREL as usize => implied(DF_TEXTREL).or(self.raw_slot(i)),
            i if i == DT_BIND_NOW as usize => {
                let f1 = self.raw_slot(idx(DT_FLAGS_1)).filter(|f| f & DF_1_NOW != 0);
                f1.or(implied(DF_BIND_NOW)).or(self.raw_slot(i))
            }
            i => self.raw_slot(i),
        }
    }

    /// Raw value of the last entry with `tag` if glibc indexes it, else of the last entry with
    /// that tag found by a scan.
    pub fn get(&self, tag: i64) -> Option<u64> {
        match l_info_index(tag) {
            Some(i) => self.raw_slot(i),
            None => self.dynamic.values_of(tag).last(),
        }
    }

    /// True if an entry with `tag` exists.
    pub fn has(&self, tag: i64) -> bool {
        self.get(tag).is_some()
    }

    // ---- strings ----

    /// The string table (DT_STRTAB, DT_STRSZ bytes) read through `mem`.
    pub fn string_table<M: Memory<'a>>(&self, mem: &M) -> Result<StringTable<'a>> {
        let (Some(addr), Some(size)) = (self.strtab(), self.strsz()) else {
            return Err(Error::MissingStringTable);
        };
        mem.bytes_at(addr, size).map(StringTable::new)
    }

    /// DT_NEEDED string offsets, in order.
    pub fn needed_offsets(&self) -> impl Iterator<Item = u64> + Clone + 'a {
        self.dynamic.values_of(DT_NEEDED)
    }

    /// DT_NEEDED names, in order.
    pub fn needed<'s>(
        &self,
        strtab: &'s StringTable<'a>,
    ) -> impl Iterator<Item = Result<&'a [u8]>> + 's
    where
        'a: 's,
    {
        self.needed_offsets().map(move |o| strtab.get(o))
    }

    /// DT_FILTER string offsets, in order (glibc loads every one).
    pub fn filter_offsets(&self) -> impl Iterator<Item = u64> + Clone + 'a {
        self.dynamic.values_of(DT_FILTER)
    }

    /// DT_AUXILIARY string offsets, in order.
    pub fn auxiliary_offsets(&self) -> impl Iterator<Item = u64> + Clone + 'a {
        self.dynamic.values_of(DT_AUXILIARY)
    }

    /// DT_SONAME string offset.
    pub fn soname_offset(&self) -> Option<u64> {
        self.get(DT_SONAME)
    }

    /// DT_RPATH string offset as glibc uses it: `None` when DT_RUNPATH is present.
    pub fn rpath_offset(&self) -> Option<u64> {
        self.slot(DT_RPATH as usize)
    }

    /// DT_RPATH string offset even when DT_RUNPATH hides it (for inspection tools).
    pub fn raw_rpath_offset(&self) -> Option<u64> {
        self.get(DT_RPATH)
    }

    /// DT_RUNPATH string offset.
    pub fn runpath_offset(&self) -> Option<u64> {
        self.get(DT_RUNPATH)
    }

    /// DT_AUDIT string offset.
    pub fn audit_offset(&self) -> Option<u64> {
        self.get(DT_AUDIT)
    }

    /// DT_DEPAUDIT string offset.
    pub fn depaudit_offset(&self) -> Option<u64> {
        self.get(DT_DEPAUDIT)
    }

    /// Resolves an optional string offset through `strtab`.
    pub fn string(strtab: &StringTable<'a>, offset: Option<u64>) -> Option<Result<&'a [u8]>> {
        offset.map(|o| strtab.get(o))
    }

    // ---- flags ----

    /// DT_FLAGS (0 if absent), glibc's `l_flags`.
    pub fn flags(&self) -> u64 {
        self.get(DT_FLAGS).unwrap_or(0)
    }

    /// DT_FLAGS_1 (0 if absent), glibc's `l_flags_1`.
    pub fn flags_1(&self) -> u64 {
        self.get(DT_FLAGS_1).unwrap_or(0)
    }

    /// DT_TEXTREL or DF_TEXTREL.
    pub fn textrel(&self) -> bool {
        self.slot(DT_TEXTREL as usize).is_some()
    }

    /// DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW.
    pub fn bind_now(&self) -> bool {
        self.slot(DT_BIND_NOW as usize).is_some()
    }

    /// DT_SYMBOLIC or DF_SYMBOLIC.
    pub fn symbolic(&self) -> bool {
        self.slot(DT_SYMBOLIC as usize).is_some()
    }

    // ---- tables (link-time addresses) ----

    /// DT_STRTAB.
    pub fn strtab(&self) -> Option<u64> {
        self.get(DT_STRTAB)
    }
    /// DT_STRSZ.
    pub fn strsz(&self) -> Option<u64> {
        self.get(DT_STRSZ)
    }
    /// DT_SYMTAB.
    pub fn symtab(&self) -> Option<u64> {
        self.get(DT_SYMTAB)
    }
    /// DT_SYMENT.
    pub fn syment(&self) -> Option<u64> {
        self.get(DT_SYMENT)
    }
    /// DT_HASH (SysV hash table).
    pub fn hash(&self) -> Option<u64> {
        self.get(DT_HASH)
    }
    /// DT_GNU_HASH.
    pub fn gnu_hash(&self) -> Option<u64> {
        self.get(DT_GNU_HASH)
    }
    /// DT_VERSYM.
    pub fn versym(&self) -> Option<u64> {
        self.get(DT_VERSYM)
    }
    /// DT_VERDEF.
    pub fn verdef(&self) -> Option<u64> {
        self.get(DT_VERDEF)
    }
    /// DT_VERDEFNUM.
    pub fn verdefnum(&self) -> Option<u64> {
        self.get(DT_VERDEFNUM)
    }
    /// DT_VERNEED.
    pub fn verneed(&self) -> Option<u64> {
        self.get(DT_VERNEED)
    }
    /// DT_VERNEEDNUM.
    pub fn verneednum(&self) -> Option<u64> {
        self.get(DT_VERNEEDNUM)
    }
    /// DT_RELA.
    pub fn rela(&self) -> Option<u64> {
        self.get(DT_RELA)
    }
    /// DT_RELASZ.
    pub fn relasz(&self) -> Option<u64> {
        self.get(DT_RELASZ)
    }
    /// DT_RELAENT.
    pub fn relaent(&self) -> Option<u64> {
        self.get(DT_RELAENT)
    }
    /// DT_RELACOUNT (number of leading R_X86_64_RELATIVE entries).
    pub fn relacount(&self) -> Option<u64> {
        self.get(DT_RELACOUNT)
    }
    /// DT_RELR.
    pub fn relr(&self) -> Option<u64> {
        self.get(DT_RELR)
    }
    /// DT_RELRSZ.
    pub fn relrsz(&self) -> Option<u64> {
        self.get(DT_RELRSZ)
    }
    /// DT_RELRENT.
    pub fn relrent(&self) -> Option<u64> {
        self.get(DT_RELRENT)
    }
    /// DT_JMPREL.
    pub fn jmprel(&self) -> Option<u64> {
        self.get(DT_JMPREL)
    }
    /// DT_PLTRELSZ.
    pub fn pltrelsz(&self) -> Option<u64> {
        self.get(DT_PLTRELSZ)
    }
    /// DT_PLTREL (must be DT_RELA on x86-64).
    pub fn pltrel(&self) -> Option<u64> {
        self.get(DT_PLTREL)
    }
    /// DT_PLTGOT.
    pub fn pltgot(&self) -> Option<u64> {
        self.get(DT_PLTGOT)
    }
    /// DT_INIT.
    pub fn init(&self) -> Option<u64> {
        self.get(DT_INIT)
    }
    /// DT_FINI.
    pub fn fini(&self) -> Option<u64> {
        self.get(DT_FINI)
    }
    /// DT_INIT_ARRAY.
    pub fn init_array(&self) -> Option<u64> {
        self.get(DT_INIT_ARRAY)
    }
    /// DT_INIT_ARRAYSZ (bytes).
    pub fn init_arraysz(&self) -> Option<u64> {
        self.get(DT_INIT_ARRAYSZ)
    }
    /// DT_FINI_ARRAY.
    pub fn fini_array(&self) -> Option<u64> {
        self.get(DT_FINI_ARRAY)
    }
    /// DT_FINI_ARRAYSZ (bytes).
    pub fn fini_arraysz(&self) -> Option<u64> {
        self.get(DT_FINI_ARRAYSZ)
    }
    /// DT_PREINIT_ARRAY.
    pub fn preinit_array(&self) -> Option<u64> {
        self.get(DT_PREINIT_ARRAY)
    }
    /// DT_PREINIT_ARRAYSZ (bytes).
    pub fn preinit_arraysz(&self) -> Option<u64> {
        self.get(DT_PREINIT_ARRAYSZ)
    }
    /// DT_TLSDESC_PLT.
    pub fn tlsdesc_plt(&self) -> Option<u64> {
        self.get(DT_TLSDESC_PLT)
    }
    /// DT_TLSDESC_GOT.
    pub fn tlsdesc_got(&self) -> Option<u64> {
        self.get(DT_TLSDESC_GOT)
    }

    // ---- DT_DEBUG ----

    /// Index (in entries) of the last DT_DEBUG entry, the one glibc writes `&_r_debug` into.
    pub fn debug_index(&self) -> Option<usize> {
        self.debug_index
    }

    /// Link-time address of that entry's `d_val` field (dynamic vaddr + 16·index + 8).
    pub fn debug_value_vaddr(&self) -> Option<u64> {
        let i = u64::try_from(self.debug_index?).ok()?;
        self.dynamic
            .vaddr
            .checked_add(i.checked_mul(DYN_SIZE as u64)?)?
            .checked_add(8)
    }

    // ---- glibc consistency ----

    /// glibc's assertions in `elf_get_dynamic_info` on x86-64: DT_PLTREL must be DT_RELA,
    /// DT_RELA needs DT_RELAENT == 24, DT_RELR needs DT_RELRENT == 8. (glibc dereferences a
    /// missing *ENT entry; rld reports the same assertion instead.)
    pub fn check_glibc_asserts(&self) -> Result<()> {
        if self.pltrel().is_some_and(|p| p != DT_RELA as u64) {
            return Err(Error::PltRelNotRela);
        }
        if self.rela().is_some() && self.relaent() != Some(24) {
            return Err(Error::BadRelaEnt);
        }
        if self.relr().is_some() && self.relrent() != Some(8) {
            return Err(Error::BadRelrEnt);
        }
        Ok(())
    }
}

/// `l_info` index of a tag known to be indexed (for the constants used above).
const fn idx(tag: i64) -> usize {
    match l_info_index(tag) {
        Some(i) => i,
        None => L_INFO_COUNT,
    }
}
