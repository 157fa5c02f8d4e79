//! Size classes of rld's heap (the allocator itself is `heap.rs` in the binary): pure
//! arithmetic, tested on the host.
//!
//! Classes: 16, 32, 48, 64, then four per doubling (1.25, 1.5, 1.75 and 2 times a power of
//! two: 80, 96, 112, 128, 160, ...) up to [`MAX_SIZE`]. Rounding wastes at most a fifth of
//! a block, which matters here: each fresh heap page costs the start-up a zero-fill fault
//! (~2 us on this VM). A block of a class is aligned to [`class_align`]: its size's
//! power-of-two part, capped at [`MAX_ALIGN`].

/// Largest class; bigger blocks are mapped on their own.
pub const MAX_SIZE: usize = 1 << 16;
/// Largest alignment a class block guarantees.
pub const MAX_ALIGN: usize = 64;
/// Number of classes: four up to 64, then four per doubling up to MAX_SIZE.
pub const CLASSES: usize = 4 + 4 * (MAX_SIZE.trailing_zeros() as usize - 6);

/// Size of each class.
pub const SIZES: [usize; CLASSES] = {
    let mut t = [0; CLASSES];
    let mut i = 0;
    while i < CLASSES {
        t[i] = if i < 4 {
            16 * (i + 1)
        } else {
            // Quarter steps above the power of two 2^(6 + (i - 4) / 4).
            let base = 64 << ((i - 4) / 4);
            base + (base / 4) * ((i - 4) % 4 + 1)
        };
        i += 1;
    }
    t
};

/// Size of class `index` (MAX_SIZE past the end).
#[inline(always)]
pub fn class_size(index: usize) -> usize {
    SIZES.get(index).copied().unwrap_or(MAX_SIZE)
}

/// Alignment of every block of class `index`.
#[inline(always)]
pub fn class_align(index: usize) -> usize {
    let size = class_size(index);
    (size & size.wrapping_neg()).min(MAX_ALIGN)
}

/// The smallest class of at least `size` bytes whose blocks are `align`-aligned, for
/// `size <= MAX_SIZE` and `align <= MAX_ALIGN` (a power of two).
#[inline(always)]
pub fn class_index(size: usize, align: usize) -> usize {
    let mut i = if size <= 64 {
        size.max(1).div_ceil(16) - 1
    } else {
        // 2^(k-1) < size <= 2^k: quarter q (1..=4) of the step above base = 2^(k-1).
        let k = usize::BITS - (size - 1).leading_zeros();
        let base = 1usize << (k - 1);
        let q = (size - base).div_ceil(base / 4);
        4 + 4 * (k as usize - 7) + (q - 1)
    };
    // Every class is 16-aligned, which is all that nearly every request needs; above that,
    // every fourth class from 64 on is a power of two (aligned to MAX_ALIGN): a few steps.
    if align <= 16 {
        return i;
    }
    while i + 1 < CLASSES && class_align(i) < align {
        i += 1;
    }
    i
}

/// The largest class of at most `len` bytes, for `SIZES[0] <= len`: the mirror of
/// [`class_index`]'s arithmetic (larger lengths give the largest class).
#[inline(always)]
pub fn floor_class(len: usize) -> usize {
    if len >= MAX_SIZE {
        return CLASSES - 1;
    }
    if len < 64 {
        return len / 16 - 1;
    }
    // 2^k <= len < 2^(k+1), k >= 6: 2^k is class 3 + 4 (k - 6), and each quarter of 2^k
    // above it is one class more.
    let k = (usize::BITS - 1 - len.leading_zeros()) as usize;
    let quarters = (len - (1 << k)) >> (k - 2);
    3 + 4 * (k - 6) + quarters
}

/// The last class whose blocks may sit at an address aligned to only 16, and to only 32
/// bytes (112 and 224: every larger class is a multiple of 64).
const LAST_ALIGNED: [usize; 2] = [6, 10];

/// The pieces a free block of `len` bytes at `addr` is cut into, as (address, class): the
/// largest class that fits and whose alignment `addr` meets, then the same for the rest.
/// `addr` and `len` are multiples of 16, so the 16-byte class always fits the tail.
pub fn carve(mut addr: usize, mut len: usize, mut piece: impl FnMut(usize, usize)) {
    while len >= SIZES[0] {
        // Outside the precondition (an address off the 16-byte grid) nothing fits: the rest
        // is left uncut rather than filed under a class whose alignment it lacks.
        if !addr.is_multiple_of(16) {
            return;
        }
        // No class past LAST_ALIGNED[i] suits an address aligned to only 16 << i; below
        // that cap, one step down at most reaches a suitable class.
        let lowest_bit = addr & addr.wrapping_neg();
        let cap = match lowest_bit {
            16 => LAST_ALIGNED[0],
            32 => LAST_ALIGNED[1],
            _ => CLASSES - 1,
        };
        let mut c = floor_class(len).min(cap);
        while !addr.is_multiple_of(class_align(c)) {
            c -= 1;
        }
        piece(addr, c);
        addr += SIZES[c];
        len -= SIZES[c];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn classes_are_the_quarter_steps() {
        assert_eq!(
            &SIZES[..12],
            &[16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256]
        );
        assert_eq!(SIZES[CLASSES - 1], MAX_SIZE);
        assert!(SIZES.windows(2).all(|w| w[0] < w[1]));
        assert!(SIZES.iter().all(|s| s % 16 == 0));
        assert_eq!(class_align(4), 16); // 80
        assert_eq!(class_align(5), 32); // 96
        assert_eq!(class_align(7), 64); // 128
    }

    #[test]
    fn class_index_is_the_smallest_fit() {
        for align in [1, 2, 4, 8, 16, 32, 64] {
            for size in 1..=MAX_SIZE {
                let i = class_index(size, align);
                assert!(
                    SIZES[i] >= size && class_align(i) >= align,
                    "{size} {align}"
                );
                let smaller = (0..i).any(|j| SIZES[j] >= size && class_align(j) >= align);
                assert!(
                    !smaller,
                    "size {size} align {align}: class {i} is not the smallest"
                );
            }
        }
        // A link map (1136 + 16 bytes) wastes 128 bytes, not 384 as in halves.
        assert_eq!(SIZES[class_index(1152, 16)], 1280);
    }

    #[test]
    fn floor_class_is_the_largest_fit() {
        for len in (16..=MAX_SIZE + 64).step_by(16) {
            let want = (0..CLASSES).rfind(|&c| SIZES[c] <= len).unwrap();
            assert_eq!(floor_class(len), want, "len {len}");
        }
    }

    #[test]
    fn last_aligned_classes() {
        for (i, &last) in LAST_ALIGNED.iter().enumerate() {
            let align = 16 << i;
            assert_eq!(class_align(last), align);
            assert!((last + 1..CLASSES).all(|c| class_align(c) > align));
        }
    }

    #[test]
    fn carving_picks_the_largest_aligned_class() {
        for addr in (0x1000..0x1100).step_by(16) {
            for len in (16..=4096).step_by(16) {
                let mut pieces = Vec::new();
                carve(addr, len, |a, c| pieces.push((a, c)));
                let (mut at, mut left) = (addr, len);
                for &(a, c) in &pieces {
                    let want = (0..CLASSES)
                        .rfind(|&c| SIZES[c] <= left && at.is_multiple_of(class_align(c)))
                        .unwrap();
                    assert_eq!((a, c), (at, want), "addr {addr:#x} len {len}");
                    at += SIZES[c];
                    left -= SIZES[c];
                }
                assert_eq!(left, 0);
            }
        }
    }

    #[test]
    fn carving_covers_the_rest_with_aligned_pieces() {
        for (addr, len) in [
            (0x1040, 0x4f0),
            (0x1010, 0x7d0),
            (0x2000, 1280 - 64),
            (0x30, 16),
        ] {
            let mut pieces = Vec::new();
            carve(addr, len, |a, c| pieces.push((a, c)));
            let mut at = addr;
            for &(a, c) in &pieces {
                assert_eq!(a, at);
                assert!(a.is_multiple_of(class_align(c)));
                at += SIZES[c];
            }
            assert_eq!(at, addr + len);
        }
        // The largest aligned class first: a 1024-byte tail at a 64-aligned address is one piece.
        let mut pieces = Vec::new();
        carve(0x4000, 1024, |a, c| pieces.push((a, SIZES[c])));
        assert_eq!(pieces, [(0x4000, 1024)]);
        // Off the 16-byte grid nothing is cut.
        let mut pieces = Vec::new();
        carve(0x4008, 64, |a, c| pieces.push((a, c)));
        assert!(pieces.is_empty());
    }
}
