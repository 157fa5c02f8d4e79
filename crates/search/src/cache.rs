//! `/etc/ld.so.cache` reader (`glibc-ld.so.cache1.1`, alone or behind the old `ld.so-1.7.0` table)
//! with glibc 2.36's lookup order. Every offset is bounds-checked; a malformed file reads as "no cache".

use core::cmp::Ordering;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const OLD_HEADER: usize = 16; // magic[11] + pad + nlibs
const OLD_ENTRY: usize = 12;
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const EXTENSION_MAGIC: u32 = (-358342284i32) as u32;
const EXT_TAG_GLIBC_HWCAPS: u32 = 1;
/// x86-64 `_DL_CACHE_DEFAULT_ID`: ELF, libc6, x86-64.
pub const FLAGS_X86_64_LIB64: i32 = 0x303;
const HWCAP_EXTENSION: u64 = 1 << 62;
const ISA_LEVEL_MASK: u64 = (1 << 10) - 1;
const HWCAP_TLS_MASK: u64 = 1 << 63;
/// x86 `_DL_HWCAP_PLATFORM`: four platform bits starting at bit 48.
pub const HWCAP_PLATFORM_MASK: u64 = 0xf << 48;

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let lo = u32_at(b, off)? as u64;
    let hi = u32_at(b, off.checked_add(4)?)? as u64;
    Some(lo | (hi << 32))
}

/// NUL-terminated string at `off`; `None` when the offset is outside the file or unterminated.
fn cstr_at(b: &[u8], off: usize) -> Option<&[u8]> {
    let tail = b.get(off..)?;
    let end = tail.iter().position(|&c| c == 0)?;
    tail.get(..end)
}

/// glibc's `_dl_cache_libcmp`: digit runs compare numerically, everything else bytewise
/// (as signed `char`, which is what x86-64 C does).
pub fn libcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    let at = |s: &[u8], k: usize| s.get(k).copied().unwrap_or(0);
    let isdig = |c: u8| c.is_ascii_digit();
    loop {
        let c1 = at(a, i);
        if c1 == 0 {
            break;
        }
        let c2 = at(b, j);
        if isdig(c1) {
            if !isdig(c2) {
                return Ordering::Greater;
            }
            let mut v1: i32 = 0;
            while isdig(at(a, i)) {
                v1 = v1.wrapping_mul(10).wrapping_add((at(a, i) - b'0') as i32);
                i += 1;
            }
            let mut v2: i32 = 0;
            while isdig(at(b, j)) {
                v2 = v2.wrapping_mul(10).wrapping_add((at(b, j) - b'0') as i32);
                j += 1;
            }
            if v1 != v2 {
                return v1.wrapping_sub(v2).cmp(&0);
            }
        } else if isdig(c2) {
            return Ordering::Less;
        } else if c1 != c2 {
            return (c1 as i8 as i32 - c2 as i8 as i32).cmp(&0);
        } else {
            i += 1;
            j += 1;
        }
    }
    (at(a, i) as i8 as i32 - at(b, j) as i8 as i32).cmp(&0)
}

/// What the running CPU/kernel allow, for choosing among cache entries.
#[derive(Clone, Debug)]
pub struct CacheParams<'p> {
    /// `GLRO(dl_hwcap) & hwcap_mask` (x86-64: bit 1 `x86_64`, bit 2 `avx512_1`).
    pub hwcap: u64,
    /// The platform's hwcap bit (`1 << (48 + index)` for haswell/xeon_phi), or `None` when
    /// `dl_platform` is not one of glibc's known platforms (e.g. "x86_64").
    pub platform_bit: Option<u64>,
    /// ISA levels usable (`GNU_PROPERTY_X86_ISA_1_*` bits: 1 baseline, 2 v2, 4 v3, 8 v4).
    pub isa_1: u32,
    /// glibc-hwcaps subdirectory names in priority order (best first), e.g. `["x86-64-v3", "x86-64-v2"]`.
    pub hwcaps_priority: &'p [&'p [u8]],
}

/// One entry as stored (for listing and tests).
#[derive(Clone, Copy, Debug)]
pub struct CacheEntry<'a> {
    pub flags: i32,
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub hwcap: u64,
    /// The glibc-hwcaps subdirectory name for extension entries.
    pub hwcaps_name: Option<&'a [u8]>,
}

#[derive(Clone, Copy, Debug)]
enum Table {
    New {
        base: usize,
        nlibs: usize,
    },
    Old {
        base: usize,
        nlibs: usize,
        strings: usize,
    },
}

/// A parsed view of the cache file.
#[derive(Clone, Debug)]
pub struct LdCache<'a> {
    file: &'a [u8],
    table: Table,
    /// Offset of the new-format header (string table base for new-format indices).
    new_base: usize,
    hwcaps_section: Option<(usize, usize)>,
}

impl<'a> LdCache<'a> {
    /// Parse as glibc's `_dl_load_cache_lookup` does; `None` for files it would ignore.
    pub fn parse(file: &'a [u8]) -> Option<Self> {
        if file.len() > NEW_HEADER && file.starts_with(NEW_MAGIC) {
            let nlibs = u32_at(file, 20)? as usize;
            if (file.len() - NEW_HEADER) / NEW_ENTRY < nlibs {
                return None;
            }
            if !endian_ok(file, 0) {
                return None;
            }
            let mut c = LdCache {
                file,
                table: Table::New { base: 0, nlibs },
                new_base: 0,
                hwcaps_section: None,
            };
            c.hwcaps_section = c.load_extension();
            return Some(c);
        }
        if file.len() > OLD_HEADER && file.starts_with(OLD_MAGIC) {
            let nlibs = u32_at(file, 12)? as usize;
            if (file.len() - OLD_HEADER) / OLD_ENTRY < nlibs {
                return None;
            }
            let end_old = OLD_HEADER + nlibs * OLD_ENTRY;
            let offset = (end_old + 7) & !7;
            let new_ok = file.len() >= offset + NEW_HEADER
                && file.get(offset..offset + NEW_MAGIC.len()) == Some(NEW_MAGIC);
            if new_ok {
                if !endian_ok(file, offset) {
                    return None;
                }
                let nlibs_new = u32_at(file, offset + 20)? as usize;
                let mut c = LdCache {
                    file,
                    table: Table::New {
                        base: offset,
                        nlibs: nlibs_new,
                    },
                    new_base: offset,
                    hwcaps_section: None,
                };
                c.hwcaps_section = c.load_extension();
                return Some(c);
            }
            return Some(LdCache {
                file,
                table: Table::Old {
                    base: 0,
                    nlibs,
                    strings: end_old,
                },
                new_base: 0,
                hwcaps_section: None,
            });
        }
        None
    }

    fn load_extension(&self) -> Option<(usize, usize)> {
        let ext_off = u32_at(self.file, self.new_base + 32)? as usize;
        if ext_off == 0 || !ext_off.is_multiple_of(4) {
            return None;
        }
        // glibc takes the extension offset relative to the start of the mapping.
        if u32_at(self.file, ext_off)? != EXTENSION_MAGIC {
            return None;
        }
        let count = u32_at(self.file, ext_off + 4)? as usize;
        let mut found = None;
        for i in 0..count {
            let s = ext_off.checked_add(8)?.checked_add(i.checked_mul(16)?)?;
            let tag = u32_at(self.file, s)?;
            let off = u32_at(self.file, s + 8)? as usize;
            let size = u32_at(self.file, s + 12)? as usize;
            if off.checked_add(size)? > self.file.len() {
                return None;
            }
            if tag == EXT_TAG_GLIBC_HWCAPS {
                found = Some((off, size));
            }
        }
        match found {
            Some((off, size)) if size != 0 && off % 4 == 0 && size % 4 == 0 => Some((off, size)),
            _ => None,
        }
    }

    /// Number of entries in the table used for lookups.
    pub fn len(&self) -> usize {
        match self.table {
            Table::New { nlibs, .. } | Table::Old { nlibs, .. } => nlibs,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry_size(&self) -> usize {
        match self.table {
            Table::New { .. } => NEW_ENTRY,
            Table::Old { .. } => OLD_ENTRY,
        }
    }

    fn entry_off(&self, i: usize) -> usize {
        match self.table {
            Table::New { base, .. } => base + NEW_HEADER + i * NEW_ENTRY,
            Table::Old { base, .. } => base + OLD_HEADER + i * OLD_ENTRY,
        }
    }

    /// String table base and the size glibc uses for index validation.
    fn strings(&self) -> (usize, usize) {
        match self.table {
            // New-format indices are relative to the new header, bounded by the whole mapping size.
            Table::New { base, .. } => (base, self.file.len()),
            Table::Old { strings, .. } => (strings, self.file.len() - strings),
        }
    }

    /// The string table from string `idx` on, unterminated: what [`libcmp`] needs (it stops
    /// at the NUL), without first measuring the string as [`Self::str_idx`] does. The binary
    /// search compares a dozen keys per lookup; measuring each first doubled its work.
    fn str_tail(&self, idx: u32) -> Option<&'a [u8]> {
        let (base, size) = self.strings();
        if idx as usize >= size {
            return None;
        }
        self.file.get(base.checked_add(idx as usize)?..)
    }

    /// String `idx` of the string table, up to its NUL (None if it has none).
    fn str_idx(&self, idx: u32) -> Option<&'a [u8]> {
        cstr_at(self.str_tail(idx)?, 0)
    }

    fn raw(&self, i: usize) -> Option<(i32, u32, u32, u64)> {
        let off = self.entry_off(i);
        let flags = u32_at(self.file, off)? as i32;
        let key = u32_at(self.file, off + 4)?;
        let value = u32_at(self.file, off + 8)?;
        let hwcap = if self.entry_size() == NEW_ENTRY {
            u64_at(self.file, off + 16)?
        } else {
            0
        };
        Some((flags, key, value, hwcap))
    }

    fn hwcaps_name(&self, hwcap: u64) -> Option<&'a [u8]> {
        if !is_hwcap_extension(hwcap) {
            return None;
        }
        let (off, size) = self.hwcaps_section?;
        let idx = (hwcap & 0xffff_ffff) as usize;
        if idx >= size / 4 {
            return None;
        }
        let sidx = u32_at(self.file, off + idx * 4)?;
        // These indices are relative to the start of the file in glibc (`cache + index`).
        if sidx as usize >= self.file.len() {
            return None;
        }
        cstr_at(self.file, sidx as usize)
    }

    /// Entry `i` in file order.
    pub fn entry(&self, i: usize) -> Option<CacheEntry<'a>> {
        if i >= self.len() {
            return None;
        }
        let (flags, key, value, hwcap) = self.raw(i)?;
        Some(CacheEntry {
            flags,
            key: self.str_idx(key)?,
            value: self.str_idx(value)?,
            hwcap,
            hwcaps_name: self.hwcaps_name(hwcap),
        })
    }

    /// Priority of a glibc-hwcaps extension entry: 0 = unusable, lower = better.
    fn hwcaps_priority(&self, hwcap: u64, params: &CacheParams<'_>) -> u32 {
        let Some(name) = self.hwcaps_name(hwcap) else {
            return 0;
        };
        match params.hwcaps_priority.iter().position(|p| *p == name) {
            Some(i) => i as u32 + 1,
            None => 0,
        }
    }

    /// glibc's `search_cache`: binary search on `libcmp`, then walk the run of equal keys.
    pub fn lookup(&self, name: &[u8], params: &CacheParams<'_>) -> Option<&'a [u8]> {
        let hwcap_exclude = !(params.hwcap | HWCAP_PLATFORM_MASK | HWCAP_TLS_MASK);
        let platform = params.platform_bit;
        let nlibs = self.len() as i64;
        let (mut left, mut right) = (0i64, nlibs - 1);
        let key_at = |i: i64| -> Option<&'a [u8]> { self.str_tail(self.raw(i as usize)?.1) };
        while left <= right {
            let mut middle = (left + right) / 2;
            let key = key_at(middle)?;
            let cmp = libcmp(name, key);
            if cmp == Ordering::Equal {
                left = middle;
                while middle > 0 {
                    match key_at(middle - 1) {
                        Some(k) if libcmp(name, k) == Ordering::Equal => middle -= 1,
                        _ => break,
                    }
                }
                let mut best: Option<&'a [u8]> = None;
                let mut best_priority = 0u32;
                loop {
                    let i = middle;
                    let Some((flags, key, value, hwcap)) = self.raw(i as usize) else {
                        break;
                    };
                    if i > left {
                        match self.str_tail(key) {
                            Some(k) if libcmp(name, k) == Ordering::Equal => {}
                            _ => break,
                        }
                    }
                    'entry: {
                        if flags != FLAGS_X86_64_LIB64 {
                            break 'entry;
                        }
                        let Some(path) = self.str_idx(value) else {
                            break 'entry;
                        };
                        let mut named = false;
                        if self.entry_size() == NEW_ENTRY {
                            named = is_hwcap_extension(hwcap);
                            if named {
                                let level = (hwcap >> 32) & ISA_LEVEL_MASK;
                                let bit = 1u32.checked_shl(level as u32).unwrap_or(0);
                                if bit == 0 || bit & params.isa_1 != bit {
                                    break 'entry;
                                }
                            }
                            if !named && best.is_some() {
                                return best;
                            }
                            if hwcap & hwcap_exclude != 0 && !named {
                                break 'entry;
                            }
                            let pbits = hwcap & HWCAP_PLATFORM_MASK;
                            if pbits != 0 && Some(pbits) != platform {
                                break 'entry;
                            }
                            if named {
                                let p = self.hwcaps_priority(hwcap, params);
                                if p == 0 {
                                    break 'entry;
                                } else if best.is_none() || p < best_priority {
                                    best_priority = p;
                                } else {
                                    break 'entry;
                                }
                            }
                        }
                        best = Some(path);
                        if !named {
                            // Flags always equal the default id here, so no better entry can follow.
                            return best;
                        }
                    }
                    middle += 1;
                    if middle > right {
                        break;
                    }
                }
                return best;
            }
            // The table is sorted in descending `libcmp` order.
            if cmp == Ordering::Less {
                left = middle + 1;
            } else {
                right = middle - 1;
            }
        }
        None
    }
}

fn is_hwcap_extension(hwcap: u64) -> bool {
    ((hwcap >> 32) & !ISA_LEVEL_MASK) == (HWCAP_EXTENSION >> 32)
}

fn endian_ok(file: &[u8], header: usize) -> bool {
    match file.get(header + 28) {
        Some(0) => true,
        Some(f) => f & 3 == 2,
        None => false,
    }
}
