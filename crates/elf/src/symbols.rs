//! Dynamic symbols: `SymbolTable` (DT_SYMTAB + its string table) and `DynamicSymbols`, the
//! per-object bundle the loader keeps for lookups. Invariant: a table's length is fixed at
//! construction (from the hash table), so `get(i)` is one bounds check.

use crate::LittleEndian;
use crate::consts::*;
use crate::dynamic::DynamicInfo;
use crate::error::{Error, Result};
use crate::hash::{GnuHash, HashTable, SymbolKey, SysvHash};
use crate::memory::Memory;
use crate::strtab::StringTable;
use crate::version::VersymTable;

const LE: LittleEndian = LittleEndian;

/// An on-disk ELF64 symbol.
pub type Sym = crate::raw::Sym64<LittleEndian>;

/// Size of one symbol entry (the only DT_SYMENT accepted).
pub const SYM_SIZE: usize = 24;

/// Native-integer accessors for [`Sym`].
pub trait SymExt {
    /// `st_name`: string table offset.
    fn st_name(&self) -> u32;
    /// `st_info`.
    fn st_info(&self) -> u8;
    /// `st_other`.
    fn st_other(&self) -> u8;
    /// `st_shndx`.
    fn st_shndx(&self) -> u16;
    /// `st_value` (link-time).
    fn st_value(&self) -> u64;
    /// `st_size`.
    fn st_size(&self) -> u64;
    /// Type: low 4 bits of st_info (STT_FUNC, STT_TLS, STT_GNU_IFUNC, ...). (Named apart from
    /// `object`'s inherent `st_type`, which returns a newtype.)
    fn sym_type(&self) -> u8 {
        self.st_info() & 0xf
    }
    /// Binding: high 4 bits of st_info (STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE, ...).
    fn sym_bind(&self) -> u8 {
        self.st_info() >> 4
    }
    /// Visibility: low 2 bits of st_other (STV_*).
    fn sym_visibility(&self) -> u8 {
        self.st_other() & 0x3
    }
    /// `st_shndx == SHN_UNDEF`.
    fn is_undefined(&self) -> bool {
        self.st_shndx() == SHN_UNDEF
    }
}

impl SymExt for Sym {
    #[inline]
    fn st_name(&self) -> u32 {
        self.st_name.get(LE)
    }
    #[inline]
    fn st_info(&self) -> u8 {
        self.st_info.0
    }
    #[inline]
    fn st_other(&self) -> u8 {
        self.st_other.0
    }
    #[inline]
    fn st_shndx(&self) -> u16 {
        self.st_shndx.get(LE).0
    }
    #[inline]
    fn st_value(&self) -> u64 {
        self.st_value.get(LE)
    }
    #[inline]
    fn st_size(&self) -> u64 {
        self.st_size.get(LE)
    }
}

/// The dynamic symbol table with its string table.
#[derive(Clone, Copy, Debug, Default)]
pub struct SymbolTable<'a> {
    syms: &'a [Sym],
    strings: StringTable<'a>,
}

impl<'a> SymbolTable<'a> {
    /// A table over `syms` whose names are in `strings`.
    pub fn new(syms: &'a [Sym], strings: StringTable<'a>) -> SymbolTable<'a> {
        SymbolTable { syms, strings }
    }

    /// `count` symbols at link-time address `vaddr` read through `mem`.
    pub fn from_memory<M: Memory<'a>>(
        mem: &M,
        vaddr: u64,
        count: u32,
        strings: StringTable<'a>,
    ) -> Result<SymbolTable<'a>> {
        let len = u64::from(count) * SYM_SIZE as u64;
        let bytes = mem.bytes_at(vaddr, len)?;
        let syms =
            object::pod::slice_from_all_bytes::<Sym>(bytes).map_err(|_| Error::OutOfBounds)?;
        Ok(SymbolTable { syms, strings })
    }

    /// Number of symbols (including the null symbol 0).
    #[inline]
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// True if the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The raw symbols.
    pub fn symbols(&self) -> &'a [Sym] {
        self.syms
    }

    /// The string table names resolve through.
    #[inline]
    pub fn strings(&self) -> &StringTable<'a> {
        &self.strings
    }

    /// Symbol `index`.
    #[inline]
    pub fn get(&self, index: u32) -> Option<&'a Sym> {
        self.syms.get(index as usize)
    }

    /// The name of `sym`.
    pub fn name(&self, sym: &Sym) -> Result<&'a [u8]> {
        self.strings.get(u64::from(sym.st_name()))
    }

    /// All symbols with their indices (index 0 included).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u32, &'a Sym)> + Clone + 'a {
        self.syms.iter().enumerate().map(|(i, s)| (i as u32, s))
    }

    /// Defined symbols (`st_shndx != SHN_UNDEF`, index ≥ 1), e.g. for dladdr and rldctl.
    pub fn defined(&self) -> impl Iterator<Item = (u32, &'a Sym)> + Clone + 'a {
        self.iter().skip(1).filter(|(_, s)| !s.is_undefined())
    }

    /// The defined non-TLS symbol whose `[st_value, st_value + st_size)` contains link-time
    /// address `vaddr` (a size-0 symbol matches only its own address); among several, the one
    /// with the highest `st_value`. Linear scan, for dladdr-like tools.
    pub fn containing(&self, vaddr: u64) -> Option<(u32, &'a Sym)> {
        let mut best: Option<(u32, &'a Sym)> = None;
        for (i, s) in self.defined() {
            let v = s.st_value();
            if s.sym_type() == STT_TLS || v > vaddr {
                continue;
            }
            let inside = (s.st_size() == 0 && v == vaddr) || vaddr - v < s.st_size();
            if inside && best.is_none_or(|(_, b)| b.st_value() < v) {
                best = Some((i, s));
            }
        }
        best
    }
}

/// Everything needed to look names up in one object: symbols, hash table, versym.
///
/// Built once per object by the loader (from a mapped image) or rldctl (from a file).
#[derive(Clone, Copy, Debug)]
pub struct DynamicSymbols<'a> {
    /// The symbol table (sized from the hash table).
    pub symtab: SymbolTable<'a>,
    /// GNU hash if present, else SysV.
    pub hash: HashTable<'a>,
    /// DT_VERSYM, sized like the symbol table, if present.
    pub versym: Option<VersymTable<'a>>,
}

impl<'a> DynamicSymbols<'a> {
    /// Builds the views from an object's dynamic info. Needs DT_SYMTAB, DT_STRTAB/DT_STRSZ and
    /// DT_GNU_HASH or DT_HASH. The symbol count is DT_HASH's nchain if present (exact), else
    /// what DT_GNU_HASH implies.
    pub fn from_dynamic<M: Memory<'a>>(
        info: &DynamicInfo<'a>,
        mem: &M,
    ) -> Result<DynamicSymbols<'a>> {
        if info.syment().is_some_and(|e| e != SYM_SIZE as u64) {
            return Err(Error::BadEntrySize);
        }
        let strings = info.string_table(mem)?;
        let symtab_addr = info.symtab().ok_or(Error::MissingTable)?;
        let sysv = info
            .hash()
            .map(|h| SysvHash::from_memory(mem, h))
            .transpose()?;
        let gnu = info
            .gnu_hash()
            .map(|h| GnuHash::from_memory(mem, h))
            .transpose()?;
        let (hash, count) = match (gnu, sysv) {
            (Some(g), s) => {
                let count = match s {
                    Some(s) => s.symbol_count(),
                    None => g.symbol_count().ok_or(Error::BadTable)?,
                };
                (HashTable::Gnu(g), count)
            }
            (None, Some(s)) => (HashTable::Sysv(s), s.symbol_count()),
            (None, None) => return Err(Error::MissingTable),
        };
        let symtab = SymbolTable::from_memory(mem, symtab_addr, count, strings)?;
        let versym = match info.versym() {
            Some(v) => Some(VersymTable::from_memory(mem, v, count)?),
            None => None,
        };
        Ok(DynamicSymbols {
            symtab,
            hash,
            versym,
        })
    }

    /// Looks `key` up through the hash table; `accept(index, sym)` is the caller's filter.
    #[inline]
    pub fn lookup<F>(&self, key: &SymbolKey<'_>, accept: F) -> Option<(u32, &'a Sym)>
    where
        F: FnMut(u32, &'a Sym) -> bool,
    {
        self.hash.lookup(key, &self.symtab, accept)
    }

    /// The first *defined* symbol named `name` (any version, no other filter).
    pub fn lookup_defined(&self, name: &[u8]) -> Option<(u32, &'a Sym)> {
        self.lookup(&SymbolKey::new(name), |_, s| !s.is_undefined())
    }

    /// Raw versym of symbol `index` (with the hidden bit), if DT_VERSYM exists.
    #[inline]
    pub fn versym(&self, index: u32) -> Option<u16> {
        self.versym.as_ref().and_then(|v| v.get(index))
    }
}
