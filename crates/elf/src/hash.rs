//! Symbol hash tables: GNU (bloom filter + buckets + chains) and SysV (DT_HASH), and the two
//! hash functions. Built for the loader's hot path: the caller hashes a name once
//! ([`SymbolKey`]) and probes hundreds of objects; every table access is bounds-checked and
//! every chain walk terminates (GNU chains only move forward; SysV walks are capped at nchain).

use core::cell::Cell;

use crate::LittleEndian;
use crate::error::{Error, Result};
use crate::memory::Memory;
use crate::symbols::{Sym, SymExt, SymbolTable};

type U32 = object::U32<LittleEndian>;
type U64 = object::U64<LittleEndian>;
const LE: LittleEndian = LittleEndian;

/// The GNU hash function (DJB: `h = h * 33 + c`, from 5381), as in DT_GNU_HASH tables.
#[inline]
pub fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |h, &c| {
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

/// The SysV ELF hash, identical to glibc's `_dl_elf_hash` (bytes are unsigned; result < 2^28).
#[inline]
pub fn sysv_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 4).wrapping_add(u32::from(c));
        let hi = h & 0xf000_0000;
        h ^= hi >> 24;
        h &= !hi;
    }
    h
}

/// A symbol name with its hashes, computed once per lookup and reused across objects.
///
/// The GNU hash is computed eagerly (nearly every object has DT_GNU_HASH); the SysV hash is
/// computed on first use and cached (`u32::MAX` marks "not yet": SysV hashes are < 2^28).
#[derive(Clone, Debug)]
pub struct SymbolKey<'n> {
    name: &'n [u8],
    gnu: u32,
    sysv: Cell<u32>,
}

impl<'n> SymbolKey<'n> {
    /// Hashes `name` (without NUL).
    #[inline]
    pub fn new(name: &'n [u8]) -> SymbolKey<'n> {
        SymbolKey {
            name,
            gnu: gnu_hash(name),
            sysv: Cell::new(u32::MAX),
        }
    }

    /// With both hashes already known (e.g. from a launch cache).
    pub fn with_hashes(name: &'n [u8], gnu: u32, sysv: u32) -> SymbolKey<'n> {
        SymbolKey {
            name,
            gnu,
            sysv: Cell::new(sysv),
        }
    }

    /// The name.
    #[inline]
    pub fn name(&self) -> &'n [u8] {
        self.name
    }

    /// GNU hash of the name.
    #[inline]
    pub fn gnu(&self) -> u32 {
        self.gnu
    }

    /// SysV hash of the name (computed on first call).
    #[inline]
    pub fn sysv(&self) -> u32 {
        let h = self.sysv.get();
        if h != u32::MAX {
            return h;
        }
        let h = sysv_hash(self.name);
        self.sysv.set(h);
        h
    }
}

/// A DT_GNU_HASH table.
///
/// Layout: `nbuckets, symoffset, bloom_size, bloom_shift`, `bloom[bloom_size]` (u64),
/// `buckets[nbuckets]` (u32), `chains[]` (u32, for symbol indices ≥ symoffset; bit 0 ends a
/// chain). glibc masks the bloom index with `bloom_size - 1`; so does this view (a
/// non-power-of-two size is accepted and read the same way, always in bounds).
#[derive(Clone, Copy, Debug)]
pub struct GnuHash<'a> {
    symoffset: u32,
    bloom_shift: u32,
    bloom: &'a [U64],
    buckets: &'a [U32],
    chains: &'a [U32],
}

impl<'a> GnuHash<'a> {
    /// Reads the table at link-time address `vaddr`. The chain array extends to the end of the
    /// readable run (its true length is only implied by the symbol count).
    pub fn from_memory<M: Memory<'a>>(mem: &M, vaddr: u64) -> Result<GnuHash<'a>> {
        let run = mem.bytes_from(vaddr)?;
        let word = |i: usize| -> Result<u32> {
            run.get(i * 4..i * 4 + 4)
                .and_then(|w| w.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or(Error::OutOfBounds)
        };
        let (nbuckets, symoffset, bloom_size, bloom_shift) =
            (word(0)?, word(1)?, word(2)?, word(3)?);
        if nbuckets == 0 || bloom_size == 0 {
            return Err(Error::BadTable);
        }
        let rest = run.get(16..).ok_or(Error::OutOfBounds)?;
        let (bloom, rest) = object::pod::slice_from_bytes::<U64>(rest, bloom_size as usize)
            .map_err(|_| Error::OutOfBounds)?;
        let (buckets, rest) = object::pod::slice_from_bytes::<U32>(rest, nbuckets as usize)
            .map_err(|_| Error::OutOfBounds)?;
        let whole = rest.len() / 4 * 4;
        let chains = object::pod::slice_from_all_bytes::<U32>(rest.get(..whole).unwrap_or(&[]))
            .map_err(|_| Error::OutOfBounds)?;
        Ok(GnuHash {
            symoffset,
            bloom_shift,
            bloom,
            buckets,
            chains,
        })
    }

    /// Number of buckets.
    pub fn bucket_count(&self) -> u32 {
        self.buckets.len() as u32
    }

    /// Index of the first hashed symbol.
    pub fn symoffset(&self) -> u32 {
        self.symoffset
    }

    /// Bloom filter test: `false` means the name is certainly not defined here.
    #[inline]
    pub fn bloom_may_contain(&self, hash: u32) -> bool {
        let n = self.bloom.len();
        // glibc: word index (hash / 64) & (bloom_size - 1); keep it in bounds for any size.
        let idx = ((hash / 64) as usize) & (n.wrapping_sub(1));
        let Some(word) = self.bloom.get(idx % n.max(1)) else {
            return false;
        };
        let word = word.get(LE);
        let mask = (1u64 << (hash % 64)) | (1u64 << ((hash >> (self.bloom_shift & 31)) % 64));
        word & mask == mask
    }

    /// Symbol indices whose stored hash equals `hash` (bloom-checked first), in chain order.
    #[inline]
    pub fn candidates(&self, hash: u32) -> GnuCandidates<'a> {
        let mut it = GnuCandidates {
            chains: self.chains,
            symoffset: self.symoffset,
            hash,
            index: 0,
            done: true,
        };
        if !self.bloom_may_contain(hash) {
            return it;
        }
        let n = self.buckets.len();
        if let Some(b) = self.buckets.get((hash as usize) % n.max(1)) {
            let start = b.get(LE);
            if start != 0 && start >= self.symoffset {
                it.index = start;
                it.done = false;
            }
        }
        it
    }

    /// Finds `key` in this table: the first candidate whose name matches and for which
    /// `accept(index, sym)` returns true (the caller's version / type filter, glibc's
    /// `check_match`, which may keep state across calls).
    #[inline]
    pub fn lookup<F>(
        &self,
        key: &SymbolKey<'_>,
        symtab: &SymbolTable<'a>,
        mut accept: F,
    ) -> Option<(u32, &'a Sym)>
    where
        F: FnMut(u32, &'a Sym) -> bool,
    {
        for i in self.candidates(key.gnu()) {
            let Some(sym) = symtab.get(i) else { break };
            if symtab.strings().eq_at(sym.st_name(), key.name()) && accept(i, sym) {
                return Some((i, sym));
            }
        }
        None
    }

    /// Number of symbols implied by the table: one past the last chain entry of the highest
    /// bucket (or `symoffset` if every bucket is empty). `None` if a chain runs off the table.
    pub fn symbol_count(&self) -> Option<u32> {
        let max = self.buckets.iter().map(|b| b.get(LE)).max().unwrap_or(0);
        if max < self.symoffset {
            return Some(self.symoffset);
        }
        let mut i = max;
        loop {
            let c = self.chains.get((i - self.symoffset) as usize)?.get(LE);
            if c & 1 != 0 {
                return i.checked_add(1);
            }
            i = i.checked_add(1)?;
        }
    }
}

/// Iterator over a GNU hash chain's symbol indices with a matching hash (see
/// [`GnuHash::candidates`]).
#[derive(Clone, Debug)]
pub struct GnuCandidates<'a> {
    chains: &'a [U32],
    symoffset: u32,
    hash: u32,
    index: u32,
    done: bool,
}

impl Iterator for GnuCandidates<'_> {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        while !self.done {
            let i = self.index;
            let Some(c) = self.chains.get((i - self.symoffset) as usize) else {
                self.done = true;
                return None;
            };
            let c = c.get(LE);
            match i.checked_add(1) {
                Some(n) if c & 1 == 0 => self.index = n,
                _ => self.done = true,
            }
            if (c ^ self.hash) >> 1 == 0 {
                return Some(i);
            }
        }
        None
    }
}

/// A DT_HASH (SysV) table: `nbucket, nchain, buckets[nbucket], chains[nchain]`.
#[derive(Clone, Copy, Debug)]
pub struct SysvHash<'a> {
    buckets: &'a [U32],
    chains: &'a [U32],
}

impl<'a> SysvHash<'a> {
    /// Reads the table at link-time address `vaddr`.
    pub fn from_memory<M: Memory<'a>>(mem: &M, vaddr: u64) -> Result<SysvHash<'a>> {
        let run = mem.bytes_from(vaddr)?;
        let (head, rest) =
            object::pod::slice_from_bytes::<U32>(run, 2).map_err(|_| Error::OutOfBounds)?;
        let (nbucket, nchain) = match head {
            [a, b] => (a.get(LE), b.get(LE)),
            _ => return Err(Error::OutOfBounds),
        };
        if nbucket == 0 {
            return Err(Error::BadTable);
        }
        let (buckets, rest) = object::pod::slice_from_bytes::<U32>(rest, nbucket as usize)
            .map_err(|_| Error::OutOfBounds)?;
        let (chains, _) = object::pod::slice_from_bytes::<U32>(rest, nchain as usize)
            .map_err(|_| Error::OutOfBounds)?;
        Ok(SysvHash { buckets, chains })
    }

    /// `nchain`: the number of symbols in the dynamic symbol table.
    pub fn symbol_count(&self) -> u32 {
        self.chains.len() as u32
    }

    /// Symbol indices in the bucket of `hash`, in chain order (at most nchain of them, so a
    /// corrupt cyclic chain still terminates).
    #[inline]
    pub fn candidates(&self, hash: u32) -> SysvCandidates<'a> {
        let n = self.buckets.len();
        let start = self
            .buckets
            .get((hash as usize) % n.max(1))
            .map_or(0, |b| b.get(LE));
        SysvCandidates {
            chains: self.chains,
            index: start,
            budget: self.chains.len(),
        }
    }

    /// Finds `key` (by SysV hash and name) accepted by `accept`; see [`GnuHash::lookup`].
    #[inline]
    pub fn lookup<F>(
        &self,
        key: &SymbolKey<'_>,
        symtab: &SymbolTable<'a>,
        mut accept: F,
    ) -> Option<(u32, &'a Sym)>
    where
        F: FnMut(u32, &'a Sym) -> bool,
    {
        for i in self.candidates(key.sysv()) {
            let Some(sym) = symtab.get(i) else { continue };
            if symtab.strings().eq_at(sym.st_name(), key.name()) && accept(i, sym) {
                return Some((i, sym));
            }
        }
        None
    }
}

/// Iterator over a SysV hash bucket's chain (see [`SysvHash::candidates`]).
#[derive(Clone, Debug)]
pub struct SysvCandidates<'a> {
    chains: &'a [U32],
    index: u32,
    budget: usize,
}

impl Iterator for SysvCandidates<'_> {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.index == 0 || self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        let i = self.index;
        self.index = self.chains.get(i as usize).map_or(0, |c| c.get(LE));
        Some(i)
    }
}

/// Whichever hash table an object has; GNU is preferred when both exist, as in glibc.
#[derive(Clone, Copy, Debug)]
pub enum HashTable<'a> {
    /// DT_GNU_HASH.
    Gnu(GnuHash<'a>),
    /// DT_HASH.
    Sysv(SysvHash<'a>),
}

impl<'a> HashTable<'a> {
    /// Finds `key` accepted by `accept`; see [`GnuHash::lookup`].
    #[inline]
    pub fn lookup<F>(
        &self,
        key: &SymbolKey<'_>,
        symtab: &SymbolTable<'a>,
        accept: F,
    ) -> Option<(u32, &'a Sym)>
    where
        F: FnMut(u32, &'a Sym) -> bool,
    {
        match self {
            HashTable::Gnu(g) => g.lookup(key, symtab, accept),
            HashTable::Sysv(s) => s.lookup(key, symtab, accept),
        }
    }

    /// Number of dynamic symbols implied by the table.
    pub fn symbol_count(&self) -> Option<u32> {
        match self {
            HashTable::Gnu(g) => g.symbol_count(),
            HashTable::Sysv(s) => Some(s.symbol_count()),
        }
    }
}
