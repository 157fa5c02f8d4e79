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
    /// is scanned once instead of once for its length and once for the hash).
    #[inline]
    pub fn from_strtab(strtab: &'n [u8], off: u32) -> Self {
        let tail = strtab.get(off as usize..).unwrap_or(&[]);
        let mut h: u32 = 5381;
        let mut len = tail.len();
        for (i, &c) in tail.iter().enumerate() {
            if c == 0 {
                len = i;
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
}
