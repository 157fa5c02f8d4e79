//! An index of the global scope's symbols by GNU hash: for each hash, the (scope position,
//! symbol index) pairs of the symbols the objects' own hash chains would compare against
//! it, in scope order and, within one object, in chain order.
//!
//! glibc's `do_lookup_x` probes every object of the scope (bloom filter, bucket, chain walk)
//! until one defines the name; with 100+ libraries that walk is most of start-up. With the
//! index a lookup goes straight to the candidate symbols and runs glibc's per-object logic on
//! them (first match in chain order, else the single versioned definition), object by object
//! in scope order, so the result is exactly glibc's: objects and symbols skipped are those
//! that could not have matched.
//!
//! Exactness rests on each object's table being regular (as every linker writes them): the
//! chains of non-empty buckets are disjoint and every chain word's hash (up to bit 0, the
//! end-of-chain flag) belongs to its bucket. Then a symbol is compared against hash `h` by
//! glibc iff its word equals `h` up to bit 0 and `h` falls in its bucket. A scope with an
//! irregular table gets no index (the caller walks the scope as glibc does).
//!
//! Layout (memory is page faults; inkscape's scope holds ~134k symbols): `heads` has about
//! one slot per two symbols and gives each slot's range of entries; an entry is 6 bytes:
//! 16 bits of the chain word (see `ScopeIndex::frags`) and the scope position and symbol
//! index packed in one u32.

use alloc::vec::Vec;

use crate::ObjId;
use crate::object::{GnuHash, HashTable, ObjView};

#[derive(Clone, Debug, Default)]
pub struct ScopeIndex {
    mask: u32,
    /// Entries of slot `s` are at `heads[s]..heads[s + 1]` of `frags` and `packed`.
    heads: Vec<u32>,
    /// Per entry: the low 16 bits of its hash as glibc's chain walk sees it (the chain word
    /// with bit 0 such that the hash falls in the symbol's bucket). Only a filter: two
    /// names whose hashes differ in the upper bits only are told apart by the name
    /// comparison that follows, which is where glibc's walk would reject the second name
    /// anyway (before any other effect), and one such pair in 65,536 candidates costs
    /// less than 2 more bytes per symbol (memory is page faults).
    frags: Vec<u16>,
    /// Per entry: scope position << sym_bits | symbol index.
    packed: Vec<u32>,
    /// Bits of `packed` holding the symbol index (the scope position is above them).
    sym_bits: u32,
    sym_mask: u32,
    /// The scope indexed (ObjId at each position).
    scope: Vec<ObjId>,
    /// `nbuckets` of each scope position's table (0 for objects without one); only a
    /// single-bucket table needs it (see `Candidates::next`).
    nbuckets: Vec<u32>,
}

/// One indexed symbol of the scope: where it is and its index in that object's symtab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub pos: usize,
    pub sym: u32,
}

#[inline]
fn slot_of(word: u32, mask: u32) -> usize {
    ((word >> 1).wrapping_mul(0x9E37_79B1) >> 8 & mask) as usize
}

/// Bits needed to represent every value below `n`.
fn bits_for(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

/// Calls `f(symbol index, hash)` for every symbol reachable from `g`'s buckets, in chain
/// order, where `hash` is the chain word with bit 0 such that the hash falls in the
/// symbol's bucket; false if the table is irregular (see the module comment) or truncated.
fn walk_chains(g: &GnuHash<'_>, mut f: impl FnMut(u32, u32)) -> bool {
    let nb = g.nbuckets;
    let mut next_free = g.symoffset;
    for b in 0..nb {
        let Some(start) = g.bucket(b) else {
            return false;
        };
        if start == 0 {
            continue;
        }
        if start < next_free {
            return false;
        }
        let Some(words) = g.chain_from(start) else {
            return false;
        };
        let mut idx = start;
        let mut ended = false;
        for c in words.chunks_exact(4) {
            let Ok(bytes) = <[u8; 4]>::try_from(c) else {
                return false;
            };
            let w = u32::from_le_bytes(bytes);
            // Bit 0 of the word is the end-of-chain flag, not the hash's: the hash glibc
            // would compare here is whichever of the pair falls in bucket b (the even one
            // is below u32::MAX, so the odd one's bucket is the next).
            let even = w & !1;
            let r = even % nb;
            let h = if r == b {
                even
            } else if (r + 1) % nb == b {
                even | 1
            } else {
                return false;
            };
            f(idx, h);
            idx += 1;
            if w & 1 != 0 {
                ended = true;
                break;
            }
        }
        if !ended {
            return false;
        }
        next_free = idx;
    }
    true
}

impl ScopeIndex {
    /// Builds the index of `scope`; None if some object has only a SysV table or an
    /// irregular GNU one, or the positions and symbol indices do not fit 32 bits.
    /// (Runs once per scope: kept out of line so the lookup path stays small, and so
    /// profiles show its cost apart.)
    #[inline(never)]
    pub fn build(objs: &[ObjView<'_>], scope: &[ObjId]) -> Option<ScopeIndex> {
        let mut total = 0usize;
        let mut max_sym = 0usize;
        let mut nbuckets = Vec::with_capacity(scope.len());
        let mut tables = Vec::with_capacity(scope.len());
        for &id in scope {
            match &objs.get(id as usize)?.hash {
                HashTable::Gnu(g) => {
                    // The symbols a regular table's chains reach (walk_chains checks).
                    let end = g.symbol_end();
                    total += (end - g.symoffset) as usize;
                    max_sym = max_sym.max(end as usize);
                    nbuckets.push(g.nbuckets);
                    tables.push(Some((g, end)));
                }
                HashTable::None => {
                    nbuckets.push(0);
                    tables.push(None);
                }
                HashTable::Sysv(_) => return None,
            }
        }
        let sym_bits = bits_for(max_sym + 1);
        if sym_bits >= 32 || sym_bits + bits_for(scope.len()) > 32 || total >= u32::MAX as usize {
            return None;
        }
        // A stable counting sort by slot, straight into the final array (the index is the
        // bulk of start-up's fresh memory, and fresh memory is page faults; a staging copy
        // of the entries doubled it). Counting needs no chain walk: a slot depends on the
        // chain word without bit 0, and a regular table's chains cover its symbols from
        // `symoffset` to `symbol_end`, so the words are read in a row (into heads[s + 2]);
        // the walk (below) then checks regularity and places each entry, using heads[s + 1]
        // as the cursor; afterwards heads[s]..heads[s + 1] is slot s. About two entries per
        // slot, so a lookup reads one or two cache lines.
        let size = (total / 2).max(16).next_power_of_two();
        let mask = (size - 1) as u32;
        let mut heads = alloc::vec![0u32; size + 2];
        for (g, end) in tables.iter().flatten() {
            let n = (end - g.symoffset) as usize;
            for c in g.chain_from(g.symoffset)?.chunks_exact(4).take(n) {
                let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                if let Some(h) = heads.get_mut(slot_of(w, mask) + 2) {
                    *h += 1;
                }
            }
        }
        for s in 2..heads.len() {
            heads[s] += heads[s - 1];
        }
        let counted = heads.last().copied().unwrap_or(0) as usize;
        let mut frags = alloc::vec![0u16; counted];
        let mut packed = alloc::vec![0u32; counted];
        let mut placed = 0usize;
        for (pos, t) in tables.iter().enumerate() {
            let Some((g, _)) = t else { continue };
            let shifted = (pos as u32).checked_shl(sym_bits).unwrap_or(0);
            let regular = walk_chains(g, |idx, hash| {
                // The walk stays within symoffset..symbol_end (chains ascend, the last one
                // ends there), so no slot receives more entries than were counted for it.
                if let Some(cursor) = heads.get_mut(slot_of(hash, mask) + 1) {
                    let at = *cursor as usize;
                    if let (Some(f), Some(p)) = (frags.get_mut(at), packed.get_mut(at)) {
                        *f = hash as u16;
                        *p = shifted | idx;
                        placed += 1;
                    }
                    *cursor += 1;
                }
            });
            if !regular {
                return None;
            }
        }
        // A symbol of the range on no chain (no linker leaves such gaps) would leave its
        // slot short: no index then (the caller walks the scope as glibc does).
        if placed != counted {
            return None;
        }
        Some(ScopeIndex {
            mask,
            heads,
            frags,
            packed,
            sym_bits,
            sym_mask: ((1u64 << sym_bits) - 1) as u32,
            scope: scope.to_vec(),
            nbuckets,
        })
    }

    /// The object at scope position `pos`.
    #[inline]
    pub fn scope_id(&self, pos: usize) -> Option<ObjId> {
        self.scope.get(pos).copied()
    }

    /// The symbols compared against GNU hash `h` by the scope's objects (and, rarely, some
    /// whose hash differs from `h` in the upper 16 bits: see `frags`), ordered by scope
    /// position, then chain order.
    #[inline]
    pub fn candidates(&self, h: u32) -> Candidates<'_> {
        let s = slot_of(h, self.mask);
        let (lo, hi) = match self.heads.get(s..s + 2) {
            Some(&[lo, hi]) => (lo as usize, hi as usize),
            _ => (0, 0),
        };
        let frags = self.frags.get(lo..hi).unwrap_or(&[]);
        let packed = self.packed.get(lo..hi).unwrap_or(&[]);
        Candidates {
            ix: self,
            h: h as u16,
            entries: frags.iter().zip(packed.iter()),
        }
    }
}

pub struct Candidates<'a> {
    ix: &'a ScopeIndex,
    /// The low 16 bits of the hash looked up.
    h: u16,
    entries: core::iter::Zip<core::slice::Iter<'a, u16>, core::slice::Iter<'a, u32>>,
}

impl Iterator for Candidates<'_> {
    type Item = Candidate;
    #[inline]
    fn next(&mut self) -> Option<Candidate> {
        for (&f, &packed) in &mut self.entries {
            let d = f ^ self.h;
            if d > 1 {
                continue;
            }
            // (sym_bits < 32, see `build`.)
            let pos = (packed >> (self.ix.sym_bits & 31)) as usize;
            // The entry holds the one hash of the pair (h, h ^ 1) that falls in the
            // symbol's bucket; glibc compares the other one too only when both share the
            // bucket (a single-bucket table). Such a hash is not the symbol name's, so it
            // cannot match; kept for exactness.
            if d != 0 && self.ix.nbuckets.get(pos).copied() != Some(1) {
                continue;
            }
            let sym = packed & self.ix.sym_mask;
            return Some(Candidate { pos, sym });
        }
        None
    }
}
