//! ELF symbol-name hashes (GNU and SysV), computed once per name and carried with the request.
//! Both functions stop at the first NUL so they accept raw string-table slices.

/// The GNU hash (`dl_new_hash`): h = h * 33 + c, seeded with 5381.
#[inline]
pub fn gnu_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    for &c in name {
        if c == 0 {
            break;
        }
        h = h.wrapping_mul(33).wrapping_add(c as u32);
    }
    h
}

/// The SysV ELF hash (`_dl_elf_hash`), used only for objects without DT_GNU_HASH.
#[inline]
pub fn sysv_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        if c == 0 {
            break;
        }
        h = (h << 4).wrapping_add(c as u32);
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// A name with its GNU hash precomputed; the SysV hash is computed lazily (rarely needed).
#[derive(Clone, Copy, Debug)]
pub struct NameHash<'n> {
    pub name: &'n [u8],
    pub gnu: u32,
}

impl<'n> NameHash<'n> {
    pub fn new(name: &'n [u8]) -> Self {
        NameHash {
            name,
            gnu: gnu_hash(name),
        }
    }

    /// The NUL-terminated name at `off` in `strtab` and its GNU hash, in one pass (the name
    /// is scanned once instead of once for its length and once for the hash), eight bytes
    /// per step (see [`gnu_hash_word`]). Only whole words inside `strtab` are read; the
    /// last few bytes of the table are finished one at a time.
    #[inline]
    pub fn from_strtab(strtab: &'n [u8], off: u32) -> Self {
        let tail = strtab.get(off as usize..).unwrap_or(&[]);
        let mut h: u32 = 5381;
        let mut pos = 0usize;
        let mut words = tail.chunks_exact(8);
        for chunk in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            let w = u64::from_le_bytes(b);
            let zero = w.wrapping_sub(LO_BYTES) & !w & HI_BYTES;
            if zero != 0 {
                // The lowest flagged byte is the first NUL (the borrow that makes false
                // positives only propagates upwards from a real zero byte).
                let k = (zero.trailing_zeros() / 8) as usize;
                if k != 0 {
                    // Valid bytes moved to the top: the zero bytes below add nothing.
                    h = h
                        .wrapping_mul(POW33[k])
                        .wrapping_add(gnu_hash_word(w << (64 - 8 * k)));
                }
                return NameHash {
                    name: tail.get(..pos + k).unwrap_or(&[]),
                    gnu: h,
                };
            }
            h = h.wrapping_mul(POW33[8]).wrapping_add(gnu_hash_word(w));
            pos += 8;
        }
        let mut len = tail.len();
        for (i, &c) in words.remainder().iter().enumerate() {
            if c == 0 {
                len = pos + i;
                break;
            }
            h = h.wrapping_mul(33).wrapping_add(c as u32);
        }
        NameHash {
            name: tail.get(..len).unwrap_or(&[]),
            gnu: h,
        }
    }
}

const LO_BYTES: u64 = 0x0101_0101_0101_0101;
const HI_BYTES: u64 = 0x8080_8080_8080_8080;

/// 33^k mod 2^32 for k = 0..=8.
const POW33: [u32; 9] = {
    let mut t = [1u32; 9];
    let mut k = 1;
    while k < 9 {
        t[k] = t[k - 1].wrapping_mul(33);
        k += 1;
    }
    t
};

/// The GNU hash contribution of eight name bytes (little-endian in `w`, first byte lowest):
/// sum of byte[i] * 33^(7-i) mod 2^32, so that h' = h * 33^8 + gnu_hash_word(w). Computed
/// lane-wise: byte pairs (b0*33 + b1, at most 8670, fits 16 bits), then 16-bit pairs
/// (x0*33^2 + x1, below 2^24, fits 32 bits), then the two 32-bit halves mod 2^32. No lane
/// overflows, so each step is exact.
#[inline]
fn gnu_hash_word(w: u64) -> u32 {
    const M8: u64 = 0x00ff_00ff_00ff_00ff;
    const M16: u64 = 0x0000_ffff_0000_ffff;
    let x = (w & M8) * 33 + ((w >> 8) & M8);
    let y = (x & M16) * (33 * 33) + ((x >> 16) & M16);
    (y as u32)
        .wrapping_mul(POW33[4])
        .wrapping_add((y >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn known_values() {
        // Values from the ELF gABI / binutils for these strings.
        assert_eq!(gnu_hash(b""), 5381);
        assert_eq!(gnu_hash(b"printf"), 0x156b2bb8);
        assert_eq!(sysv_hash(b"printf"), 0x077905a6);
        // glibc's dl-version.c relies on this value for GLIBC_ABI_DT_RELR.
        assert_eq!(sysv_hash(b"GLIBC_ABI_DT_RELR"), 0xfd0e42);
        assert_eq!(gnu_hash(b"printf\0junk"), gnu_hash(b"printf"));
    }

    /// `from_strtab` must agree with the byte loop on the hash and the name, wherever the
    /// NUL falls relative to the words and to the end of the table.
    fn check_strtab(strtab: &[u8], off: u32) {
        let n = NameHash::from_strtab(strtab, off);
        let tail = strtab.get(off as usize..).unwrap_or(&[]);
        let len = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
        assert_eq!(n.name, &tail[..len], "strtab {strtab:?} off {off}");
        assert_eq!(n.gnu, gnu_hash(tail), "strtab {strtab:?} off {off}");
    }

    #[test]
    fn word_hash_matches_byte_loop() {
        use alloc::vec::Vec;
        // All lengths 0..64, terminated or running to the end of the table, at every offset
        // within a word.
        for len in 0..64usize {
            let name: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(37) | 1).collect();
            for lead in 0..9usize {
                let mut t = alloc::vec![b'x'; lead];
                t.extend_from_slice(&name);
                check_strtab(&t, lead as u32);
                t.push(0);
                check_strtab(&t, lead as u32);
                t.extend_from_slice(b"trailing junk\0");
                check_strtab(&t, lead as u32);
            }
        }
        // Every byte value in every position of a word (0x80.. exercises the NUL test's
        // false positives above a real zero byte).
        for c in 1..=255u8 {
            for at in 0..16usize {
                let mut t = alloc::vec![b'a'; 20];
                t[at] = c;
                check_strtab(&t, 0);
                t[at + 1] = 0;
                check_strtab(&t, 0);
                t[at + 1] = 1;
                t[at + 2] = 0;
                check_strtab(&t, 0);
            }
        }
        // Pseudo-random tables, names of random lengths with high bytes and 0x01 bytes.
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..3000 {
            let mut t = Vec::new();
            for _ in 0..(x % 200) as usize {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let b = (x >> 24) as u8;
                t.push(if b.is_multiple_of(11) { 0 } else { b });
            }
            for off in 0..=t.len().min(24) {
                check_strtab(&t, off as u32);
            }
            check_strtab(&t, t.len() as u32 + 5);
        }
    }
}
