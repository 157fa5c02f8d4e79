//! The RELR encoding (the `DT_RELR` format) built from a stream of relative-relocation
//! offsets, and read back: the launch cache keeps an object's `R_X86_64_RELATIVE` prefix in
//! this form, a word per 63 relocated words instead of a 24-byte RELA entry per word.
//!
//! An even word is the offset of a relocated word; an odd word is a bitmap: bit `i + 1`
//! set means the word `i` places after the current one is relocated too (63 words per
//! bitmap, then the window moves on by 63 words).

use alloc::vec::Vec;

/// Words covered by one bitmap word.
const SPAN: u64 = 63 * 8;

/// No current window: the next offset starts a new address entry. Chosen so that
/// `off - NO_WINDOW` (wrapping) is never below `SPAN` for an offset below 2^63.
const NO_WINDOW: u64 = 1 << 63;

/// Builds RELR words from strictly increasing, 8-aligned offsets; any other offset makes
/// the whole stream unusable ([`RelrWriter::finish`] gives None).
///
/// The loader pushes every RELATIVE offset of a recording launch (clang: 552k), so `push`
/// has a fast path for an offset in the current bitmap's window: a subtraction, two
/// comparisons and an OR.
#[derive(Clone, Debug)]
pub struct RelrWriter {
    words: Vec<u64>,
    /// Where the current bitmap's window starts, or `NO_WINDOW` (also once spoiled, so
    /// that the fast path is never taken).
    window: u64,
    bitmap: u64,
    first: u64,
    last: u64,
    count: usize,
    broken: bool,
}

impl Default for RelrWriter {
    fn default() -> Self {
        RelrWriter {
            words: Vec::new(),
            window: NO_WINDOW,
            bitmap: 0,
            first: 0,
            last: 0,
            count: 0,
            broken: false,
        }
    }
}

impl RelrWriter {
    pub fn with_capacity(entries: usize) -> Self {
        RelrWriter {
            // Dense tables (C++ vtables, pointer arrays) pack ~63 relocations per word.
            words: Vec::with_capacity(entries / 32 + 4),
            ..RelrWriter::default()
        }
    }

    /// Adds the next offset.
    #[inline(always)]
    pub fn push(&mut self, off: u64) {
        // The window starts 8-aligned, so `d` is a multiple of 8 exactly when `off` is; an
        // offset at or below the last one is below the window or already set in it.
        let d = off.wrapping_sub(self.window);
        if d < SPAN && d.is_multiple_of(8) && off > self.last {
            self.bitmap |= 1 << (d / 8);
            self.last = off;
            self.count += 1;
            return;
        }
        self.push_slow(off);
    }

    #[inline(never)]
    fn push_slow(&mut self, off: u64) {
        if self.broken {
            return;
        }
        if !off.is_multiple_of(8) || (self.count > 0 && off <= self.last) || off >= NO_WINDOW {
            self.spoil();
            return;
        }
        if self.count == 0 {
            self.first = off;
        }
        self.last = off;
        self.count += 1;
        loop {
            if self.window == NO_WINDOW {
                self.words.push(off);
                self.window = off + 8;
                return;
            }
            let w = self.window;
            if off - w < SPAN {
                self.bitmap |= 1 << ((off - w) / 8);
                return;
            }
            if self.bitmap != 0 {
                self.words.push(self.bitmap << 1 | 1);
                self.bitmap = 0;
                self.window = w + SPAN;
            } else {
                self.window = NO_WINDOW;
            }
        }
    }

    /// Gives up on the stream (an entry that the encoding cannot stand for).
    pub fn spoil(&mut self) {
        self.broken = true;
        self.window = NO_WINDOW;
    }

    /// The encoded stream, or None if it was spoiled or is empty.
    pub fn finish(mut self) -> Option<Encoded> {
        if self.broken || self.count == 0 {
            return None;
        }
        if self.bitmap != 0 {
            self.words.push(self.bitmap << 1 | 1);
        }
        Some(Encoded {
            words: self.words,
            count: self.count,
            lo: self.first,
            hi: self.last,
        })
    }
}

/// A finished RELR stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub words: Vec<u64>,
    /// How many offsets it holds.
    pub count: usize,
    /// The lowest and highest of them.
    pub lo: u64,
    pub hi: u64,
}

/// Calls `f(at, bits)` for each group of offsets RELR `words` (little-endian bytes) hold, in
/// order: bit `i` of `bits` set stands for offset `at + 8 * i` (an address entry is
/// `(offset, 1)`, a bitmap word up to 63 offsets). Stops and returns false at the first group
/// reaching outside `lo..=hi`. The loader's relocation loop takes a group at a time
/// (hundreds of thousands of offsets for big C++ libraries): per-group work, such as
/// copying the words in first, is done once per 63 words.
#[inline]
pub fn for_each_group(words: &[u8], lo: u64, hi: u64, mut f: impl FnMut(u64, u64)) -> bool {
    let mut next = 0u64;
    for w in words.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let e = u64::from_le_bytes(b);
        if e & 1 == 0 {
            if e < lo || e > hi {
                return false;
            }
            f(e, 1);
            next = e.wrapping_add(8);
        } else {
            let bits = e >> 1;
            if bits != 0 {
                // The highest relocated word of the window must be in bounds; the lowest is
                // above the previous entry, hence above `lo`.
                let top = 63 - u64::from(bits.leading_zeros());
                if next < lo || next.checked_add(8 * top).is_none_or(|t| t > hi) {
                    return false;
                }
                f(next, bits);
            }
            next = next.wrapping_add(SPAN);
        }
    }
    true
}

/// Calls `f` with every offset RELR `words` hold, in order ([`for_each_group`] one offset at
/// a time); false at the first one outside `lo..=hi`.
pub fn for_each_offset(words: &[u8], lo: u64, hi: u64, mut f: impl FnMut(u64)) -> bool {
    for_each_group(words, lo, hi, |at, mut bits| {
        while bits != 0 {
            f(at + 8 * u64::from(bits.trailing_zeros()));
            bits &= bits - 1;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(words: &[u64]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn round_trip(offs: &[u64]) {
        let mut w = RelrWriter::with_capacity(offs.len());
        for &o in offs {
            w.push(o);
        }
        let Some(e) = w.finish() else {
            assert!(offs.is_empty());
            return;
        };
        assert_eq!(e.count, offs.len());
        assert_eq!((Some(&e.lo), Some(&e.hi)), (offs.first(), offs.last()));
        let words = e.words;
        let mut back = Vec::new();
        assert!(for_each_offset(&bytes(&words), e.lo, e.hi, |o| back.push(o)));
        assert_eq!(back, offs);
        // The same words read as DT_RELR by the ELF reader.
        let elf: Vec<u64> = crate::object::relr_offsets(&bytes(&words)).collect();
        assert_eq!(elf, offs);
    }

    #[test]
    fn encodes_and_decodes() {
        round_trip(&[]);
        round_trip(&[0x1000]);
        round_trip(&[0x1000, 0x1008, 0x1010]);
        // Window edges: the 63rd word after an address, and the one after it.
        round_trip(&[0x1000, 0x1000 + 63 * 8, 0x1000 + 64 * 8]);
        round_trip(&[0x1000, 0x1000 + 8 + 62 * 8, 0x1000 + 8 + 63 * 8]);
        // A gap of exactly one empty window, and far gaps.
        round_trip(&[0x1000, 0x1008, 0x1008 + 2 * 504, 0x9_0000, 0x9_0008]);
        // Pseudo-random dense and sparse runs.
        let mut x = 0x1234_5678_u64;
        let mut offs = Vec::new();
        let mut at = 0x4000u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            at += 8 * (1 + if x.is_multiple_of(5) { x % 300 } else { x % 3 });
            offs.push(at);
        }
        round_trip(&offs);
    }

    #[test]
    fn refuses_what_it_cannot_encode() {
        for offs in [&[0x1000, 0x1000][..], &[0x1008, 0x1000], &[0x1004]] {
            let mut w = RelrWriter::default();
            for &o in offs {
                w.push(o);
            }
            assert!(w.finish().is_none(), "{offs:x?}");
        }
        let mut w = RelrWriter::default();
        w.push(0x1000);
        w.spoil();
        assert!(w.finish().is_none());
    }

    #[test]
    fn decoding_stops_outside_the_bounds() {
        let mut w = RelrWriter::default();
        for o in [0x1000, 0x1008, 0x1100] {
            w.push(o);
        }
        let b = bytes(&w.finish().unwrap().words);
        let mut n = 0;
        assert!(for_each_offset(&b, 0x1000, 0x1100, |_| n += 1));
        assert_eq!(n, 3);
        assert!(!for_each_offset(&b, 0x1000, 0x10f8, |_| {}));
        assert!(!for_each_offset(&b, 0x1008, 0x1100, |_| {}));
    }
}
