//! An index of the global scope by GNU hash: for each hash value, the scope positions of the
//! objects that define a symbol with that hash, in scope order.
//!
//! glibc's `do_lookup_x` probes every object of the scope (a bloom filter test each) until
//! one defines the name; with 100+ libraries that walk is most of start-up. With the index a
//! lookup visits only the objects whose hash tables hold the name's hash, in the same order,
//! and runs the same per-object test on each, so the result is exactly glibc's: objects
//! skipped are those whose chains could not have matched.

use alloc::vec::Vec;

use crate::ObjId;
use crate::object::{HashTable, ObjView};

/// Chained hash table in flat arrays: `heads[h & mask]` starts a list through `next`.
#[derive(Clone, Debug, Default)]
pub struct ScopeIndex {
    mask: u32,
    heads: Vec<u32>,
    /// (hash >> 1, scope position), `next` link.
    entries: Vec<(u32, u32)>,
    next: Vec<u32>,
}

const NIL: u32 = u32::MAX;

impl ScopeIndex {
    /// Builds the index of `scope`; None if some object has no GNU hash table (then the
    /// caller walks the scope as glibc does).
    pub fn build(objs: &[ObjView<'_>], scope: &[ObjId]) -> Option<ScopeIndex> {
        let mut total = 0usize;
        for &id in scope {
            match &objs.get(id as usize)?.hash {
                HashTable::Gnu(g) => total += (g.symbol_end() - g.symoffset) as usize,
                HashTable::None => {}
                HashTable::Sysv(_) => return None,
            }
        }
        // About one entry per bucket: chains stay short and the heads stay small.
        let size = total.max(16).next_power_of_two();
        let mut ix = ScopeIndex {
            mask: (size - 1) as u32,
            heads: alloc::vec![NIL; size],
            entries: Vec::with_capacity(total),
            next: Vec::with_capacity(total),
        };
        // Insert from the end of the scope so every list comes out in scope order.
        for (pos, &id) in scope.iter().enumerate().rev() {
            let Some(HashTable::Gnu(g)) = objs.get(id as usize).map(|o| &o.hash) else {
                continue;
            };
            let end = g.symbol_end();
            for idx in g.symoffset..end {
                let Some(w) = g.chain_word(idx) else { break };
                let key = w >> 1;
                let b = (key.wrapping_mul(0x9E37_79B1) & ix.mask) as usize;
                let head = ix.heads[b];
                // Same hash twice in one object: one entry is enough.
                if head != NIL && ix.entries[head as usize] == (key, pos as u32) {
                    continue;
                }
                ix.heads[b] = ix.entries.len() as u32;
                ix.entries.push((key, pos as u32));
                ix.next.push(head);
            }
        }
        Some(ix)
    }

    /// Scope positions (ascending) of the objects whose tables hold GNU hash `h`.
    #[inline]
    pub fn candidates(&self, h: u32) -> Candidates<'_> {
        let key = h >> 1;
        let b = (key.wrapping_mul(0x9E37_79B1) & self.mask) as usize;
        Candidates {
            ix: self,
            key,
            cur: self.heads.get(b).copied().unwrap_or(NIL),
        }
    }
}

pub struct Candidates<'a> {
    ix: &'a ScopeIndex,
    key: u32,
    cur: u32,
}

impl Iterator for Candidates<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.cur != NIL {
            let i = self.cur as usize;
            self.cur = self.ix.next.get(i).copied().unwrap_or(NIL);
            let (k, pos) = *self.ix.entries.get(i)?;
            if k == self.key {
                return Some(pos as usize);
            }
        }
        None
    }
}
