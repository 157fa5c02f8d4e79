//! glibc's private data structures, written by field offset from the per-build layout data in
//! rld-glibc (`GlibcBuild`). Nothing here hard-codes an offset.
//!
//! Invariants: a `Raw` covers memory that rld owns for the life of the process (a static or a
//! never-freed heap block) and is at least `size` bytes; every write is bounds-checked against
//! `size` and a layout field that would not fit is skipped (a build-data bug, caught by the
//! rld-glibc tests), so no write can leave the block.

use rld_glibc::{BitField, Field};

/// A block of glibc-layout memory.
#[derive(Clone, Copy, Debug)]
pub struct Raw {
    pub base: *mut u8,
    pub size: usize,
}

/// A run of 8-byte words inside a `Raw` (see `Raw::words`): `n` words at `base`, in bounds.
#[derive(Clone, Copy, Debug)]
pub struct Words {
    base: *mut u8,
    n: usize,
}

impl Words {
    /// Word `i` = `v` (ignored past the end).
    #[inline]
    pub fn set(&self, i: usize, v: u64) {
        if i < self.n {
            // SAFETY: `Raw::words` made `n` words at `base` lie inside the Raw's block
            // (type invariant); unaligned store.
            unsafe { (self.base.add(8 * i) as *mut u64).write_unaligned(v) };
        }
    }
}

impl Raw {
    /// # Safety
    /// `[base, base+size)` is writable memory owned by rld that outlives every use.
    pub const unsafe fn new(base: *mut u8, size: usize) -> Raw {
        Raw { base, size }
    }

    fn fits(&self, offset: usize, len: usize) -> bool {
        offset.checked_add(len).is_some_and(|e| e <= self.size)
    }

    /// Address of a field (for pointers into the struct, e.g. `&l->l_searchlist`).
    pub fn addr(&self, f: Field) -> usize {
        self.base as usize + f.offset
    }

    /// The sub-block of an embedded struct.
    pub fn sub(&self, f: Field) -> Raw {
        let size = if self.fits(f.offset, f.size) {
            f.size
        } else {
            0
        };
        Raw {
            base: self.base.wrapping_add(f.offset),
            size,
        }
    }

    /// Element `i` of an array field whose elements are `elem` bytes.
    pub fn elem(&self, f: Field, elem: usize, i: usize) -> Raw {
        let off = i.saturating_mul(elem);
        if off.saturating_add(elem) > f.size {
            return Raw {
                base: self.base,
                size: 0,
            };
        }
        self.sub(Field {
            offset: f.offset + off,
            size: elem,
        })
    }

    /// The words of a pointer-array field (`l_info[]`), for many writes with one bounds
    /// check (a link map takes ~35 `l_info` entries; `put` checks and dispatches each).
    pub fn words(&self, f: Field) -> Words {
        let n = if self.fits(f.offset, f.size) {
            f.size / 8
        } else {
            0
        };
        Words {
            base: self.base.wrapping_add(f.offset),
            n,
        }
    }

    /// Writes `v` with the field's width (1, 2, 4 or 8 bytes, little endian).
    ///
    /// `put`, `get` and `put_bits` stay out of line: filling a link map and the globals
    /// takes hundreds of them, and inlined (checks and a variable-width copy each) they made
    /// the start-up code ~20 KB larger, more pages to fault in than the calls cost.
    #[inline(never)]
    pub fn put(&self, f: Field, v: u64) {
        let n = f.size.min(8);
        if !matches!(n, 1 | 2 | 4 | 8) || !self.fits(f.offset, n) {
            return;
        }
        // One store of the field's width (a variable-length copy would be a memcpy call).
        // SAFETY: in bounds (checked) of memory rld owns (type invariant); unaligned stores.
        unsafe {
            let p = self.base.add(f.offset);
            match n {
                1 => p.write(v as u8),
                2 => (p as *mut u16).write_unaligned(v as u16),
                4 => (p as *mut u32).write_unaligned(v as u32),
                _ => (p as *mut u64).write_unaligned(v),
            }
        }
    }

    pub fn put_ptr<T>(&self, f: Field, p: *const T) {
        self.put(f, p as u64)
    }

    /// Reads the field (zero-extended).
    #[inline(never)]
    pub fn get(&self, f: Field) -> u64 {
        let n = f.size.min(8);
        if !self.fits(f.offset, n) {
            return 0;
        }
        // SAFETY: in bounds of memory rld owns; unaligned loads of the field's width.
        unsafe {
            let p = self.base.add(f.offset);
            match n {
                0 => 0,
                1 => u64::from(p.read()),
                2 => u64::from((p as *const u16).read_unaligned()),
                4 => u64::from((p as *const u32).read_unaligned()),
                8 => (p as *const u64).read_unaligned(),
                _ => {
                    let mut b = [0u8; 8];
                    core::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), n);
                    u64::from_le_bytes(b)
                }
            }
        }
    }

    /// Copies raw bytes into a field (truncated to the field's size).
    pub fn put_bytes(&self, f: Field, bytes: &[u8]) {
        let n = bytes.len().min(f.size);
        if !self.fits(f.offset, n) {
            return;
        }
        // SAFETY: in bounds of memory rld owns; `bytes` cannot overlap our private block.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(f.offset), n) }
    }

    /// Sets a bitfield. Concurrent writers of the same byte must be excluded by the caller
    /// (the loader lock).
    #[inline(never)]
    pub fn put_bits(&self, b: BitField, v: u8) {
        if !self.fits(b.byte, 1) {
            return;
        }
        // SAFETY: in bounds of memory rld owns.
        unsafe {
            let p = self.base.add(b.byte);
            let old = p.read_volatile();
            p.write_volatile((old & !b.mask()) | ((v << b.bit) & b.mask()));
        }
    }

    pub fn get_bits(&self, b: BitField) -> u8 {
        if !self.fits(b.byte, 1) {
            return 0;
        }
        // SAFETY: in bounds of memory rld owns.
        unsafe { (self.base.add(b.byte).read_volatile() & b.mask()) >> b.bit }
    }

    pub fn zero(&self) {
        // SAFETY: the whole block is ours.
        unsafe { core::ptr::write_bytes(self.base, 0, self.size) }
    }
}
