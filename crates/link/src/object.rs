//! Zero-copy views of what symbol lookup needs from one loaded object (dynsym, dynstr, hash
//! table, versym, glibc's `l_versions`). Every read is bounds-checked; bad data reads as "absent".

use alloc::vec::Vec;

pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const STB_GNU_UNIQUE: u8 = 10;

pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_COMMON: u8 = 5;
pub const STT_TLS: u8 = 6;
pub const STT_GNU_IFUNC: u8 = 10;

pub const STV_DEFAULT: u8 = 0;
pub const STV_INTERNAL: u8 = 1;
pub const STV_HIDDEN: u8 = 2;
pub const STV_PROTECTED: u8 = 3;

pub const SHN_UNDEF: u16 = 0;
pub const SHN_ABS: u16 = 0xfff1;

pub const SYM_SIZE: usize = 24;

#[inline]
pub(crate) fn rd_u16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}
#[inline]
pub(crate) fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}
#[inline]
pub(crate) fn rd_u64(b: &[u8], off: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(off..off.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(s))
}

#[inline]
fn word_at(b: &[u8], off: usize) -> u64 {
    match b.get(off..off + 8) {
        Some(s) => u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
        None => 0,
    }
}

/// Equality of two slices, eight bytes per step (symbol names are long: C++ names average
/// 60-100 bytes, and the generic comparison goes a byte at a time here). A tail shorter
/// than a word is compared as the last, overlapping, word.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut i = 0;
    while i + 8 <= n {
        if word_at(a, i) != word_at(b, i) {
            return false;
        }
        i += 8;
    }
    i == n || word_at(a, n - 8) == word_at(b, n - 8)
}

/// One Elf64_Sym, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sym {
    pub name: u32,
    pub info: u8,
    pub other: u8,
    pub shndx: u16,
    pub value: u64,
    pub size: u64,
}

impl Sym {
    #[inline]
    pub fn bind(&self) -> u8 {
        self.info >> 4
    }
    #[inline]
    pub fn typ(&self) -> u8 {
        self.info & 0xf
    }
    #[inline]
    pub fn vis(&self) -> u8 {
        self.other & 3
    }
    /// glibc's `dl_symbol_visibility_binds_local_p`.
    #[inline]
    pub fn binds_local(&self) -> bool {
        matches!(self.vis(), STV_HIDDEN | STV_INTERNAL)
    }
    #[inline]
    pub fn is_undef(&self) -> bool {
        self.shndx == SHN_UNDEF
    }
}

/// DT_GNU_HASH, as glibc's `_dl_setup_hash` sees it.
#[derive(Clone, Copy, Debug)]
pub struct GnuHash<'a> {
    pub nbuckets: u32,
    pub symoffset: u32,
    /// `bloom_size - 1`; glibc requires a power of two and masks with it.
    pub bloom_mask: u32,
    pub shift: u32,
    bloom: &'a [u8],
    buckets: &'a [u8],
    chain: &'a [u8],
}

impl<'a> GnuHash<'a> {
    /// `data` starts at the table; it may extend past its end (the chain has no explicit length).
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let nbuckets = rd_u32(data, 0)?;
        let symoffset = rd_u32(data, 4)?;
        let bloom_size = rd_u32(data, 8)?;
        let shift = rd_u32(data, 12)?;
        if bloom_size == 0 || !bloom_size.is_power_of_two() {
            return None;
        }
        let bloom_bytes = (bloom_size as usize).checked_mul(8)?;
        let bloom = data.get(16..16usize.checked_add(bloom_bytes)?)?;
        let bstart = 16 + bloom_bytes;
        let bucket_bytes = (nbuckets as usize).checked_mul(4)?;
        let buckets = data.get(bstart..bstart.checked_add(bucket_bytes)?)?;
        let chain = data.get(bstart + bucket_bytes..)?;
        Some(GnuHash {
            nbuckets,
            symoffset,
            bloom_mask: bloom_size - 1,
            shift,
            bloom,
            buckets,
            chain,
        })
    }

    /// Bloom filter test exactly as do_lookup_x: false means "certainly absent".
    #[inline]
    pub fn bloom_may_contain(&self, h: u32) -> bool {
        let word = rd_u64(self.bloom, (((h / 64) & self.bloom_mask) as usize) * 8).unwrap_or(0);
        let b1 = h & 63;
        let b2 = (h >> (self.shift & 31)) & 63;
        ((word >> b1) & (word >> b2) & 1) != 0
    }

    /// First symbol index of the chain for `h`, or None for an empty bucket.
    #[inline]
    pub fn chain_start(&self, h: u32) -> Option<u32> {
        if self.nbuckets == 0 {
            return None;
        }
        let b = rd_u32(self.buckets, ((h % self.nbuckets) as usize) * 4)?;
        if b == 0 { None } else { Some(b) }
    }

    /// Raw bucket `b` (0 = empty), None when `b` is outside the table.
    #[inline]
    pub fn bucket(&self, b: u32) -> Option<u32> {
        rd_u32(self.buckets, (b as usize).checked_mul(4)?)
    }

    /// The chain words from symbol `idx` to the end of the data (None below symoffset).
    #[inline]
    pub fn chain_from(&self, idx: u32) -> Option<&'a [u8]> {
        let rel = idx.checked_sub(self.symoffset)? as usize;
        self.chain.get(rel.checked_mul(4)?..)
    }

    /// One past the last symbol index covered by the table (its chains end there), or
    /// `symoffset` for an empty table: the highest bucket start, then along its chain to the
    /// end marker.
    pub fn symbol_end(&self) -> u32 {
        let mut max = 0u32;
        for i in 0..self.nbuckets as usize {
            max = max.max(rd_u32(self.buckets, i * 4).unwrap_or(0));
        }
        if max < self.symoffset {
            return self.symoffset;
        }
        let mut idx = max;
        while let Some(w) = self.chain_word(idx) {
            if w & 1 != 0 {
                return idx + 1;
            }
            idx += 1;
        }
        idx
    }

    /// Hash word of symbol `idx` in the chain (None when out of the table).
    #[inline]
    pub fn chain_word(&self, idx: u32) -> Option<u32> {
        let rel = idx.checked_sub(self.symoffset)?;
        rd_u32(self.chain, (rel as usize).checked_mul(4)?)
    }
}

/// DT_HASH (SysV).
#[derive(Clone, Copy, Debug)]
pub struct SysvHash<'a> {
    pub nbucket: u32,
    buckets: &'a [u8],
    chains: &'a [u8],
}

impl<'a> SysvHash<'a> {
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let nbucket = rd_u32(data, 0)?;
        let nchain = rd_u32(data, 4)?;
        let bb = (nbucket as usize).checked_mul(4)?;
        let buckets = data.get(8..8usize.checked_add(bb)?)?;
        let cb = (nchain as usize).checked_mul(4)?;
        let chains = data.get(8 + bb..(8 + bb).checked_add(cb)?)?;
        Some(SysvHash {
            nbucket,
            buckets,
            chains,
        })
    }
    #[inline]
    pub fn bucket(&self, h: u32) -> u32 {
        if self.nbucket == 0 {
            return 0;
        }
        rd_u32(self.buckets, ((h % self.nbucket) as usize) * 4).unwrap_or(0)
    }
    #[inline]
    pub fn next(&self, idx: u32) -> u32 {
        rd_u32(self.chains, (idx as usize).saturating_mul(4)).unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug)]
pub enum HashTable<'a> {
    /// No usable table: glibc's `l_nbuckets == 0`, the object is never searched.
    None,
    Gnu(GnuHash<'a>),
    Sysv(SysvHash<'a>),
}

/// One entry of glibc's `l_versions[]` (`struct r_found_version`). `name` empty = NULL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version<'a> {
    pub hash: u32,
    pub hidden: bool,
    pub name: &'a [u8],
    /// `vn_file` for needed versions, None for defined ones.
    pub filename: Option<&'a [u8]>,
}

/// NUL-terminated string at `off` in `strtab` (without the NUL); empty if out of range.
#[inline]
pub fn cstr(strtab: &[u8], off: u32) -> &[u8] {
    let tail = strtab.get(off as usize..).unwrap_or(&[]);
    let end = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
    tail.get(..end).unwrap_or(&[])
}

/// Build `l_versions` exactly as `_dl_check_map_versions`: indexed by version index, sized
/// by the highest index used in VERNEED (`vna_other`) and VERDEF (`vd_ndx`); needed versions
/// carry `hidden = vna_other & 0x8000` and their file; defined ones (except the base
/// version, which keeps hash 0 / no name) carry hash and their first verdaux name.
/// Returns an empty vector when glibc would leave `l_versyms` NULL (highest index 0).
pub fn build_versions<'a>(
    verdef: Option<&'a [u8]>,
    verneed: Option<&'a [u8]>,
    strtab: &'a [u8],
) -> Vec<Version<'a>> {
    // Walks are capped so a malformed cyclic list terminates.
    const CAP: usize = 1 << 16;
    // Indexed by version index, filled in place (indices are small and dense: a table
    // sized by the largest one seen, grown as larger ones come).
    let mut v: Vec<Version<'a>> = Vec::new();
    fn slot<'v, 'a>(v: &'v mut Vec<Version<'a>>, ndx: u16) -> &'v mut Version<'a> {
        let i = ndx as usize;
        if i >= v.len() {
            v.resize(i + 1, Version::default());
        }
        &mut v[i]
    }
    if let Some(vn) = verneed {
        let mut off = 0usize;
        for _ in 0..CAP {
            let (Some(file), Some(aux0), Some(next)) = (
                rd_u32(vn, off + 4),
                rd_u32(vn, off + 8),
                rd_u32(vn, off + 12),
            ) else {
                break;
            };
            let mut a = off + aux0 as usize;
            for _ in 0..CAP {
                let (Some(h), Some(other), Some(name), Some(anext)) = (
                    rd_u32(vn, a),
                    rd_u16(vn, a + 6),
                    rd_u32(vn, a + 8),
                    rd_u32(vn, a + 12),
                ) else {
                    break;
                };
                *slot(&mut v, other & 0x7fff) = Version {
                    hash: h,
                    hidden: other & 0x8000 != 0,
                    name: cstr(strtab, name),
                    filename: Some(cstr(strtab, file)),
                };
                if anext == 0 {
                    break;
                }
                a += anext as usize;
            }
            if next == 0 {
                break;
            }
            off += next as usize;
        }
    }
    // Definitions after requirements: an index both use (malformed) keeps the definition,
    // as before.
    if let Some(vd) = verdef {
        let mut off = 0usize;
        for _ in 0..CAP {
            let (Some(flags), Some(ndx), Some(h), Some(aux), Some(next)) = (
                rd_u16(vd, off + 2),
                rd_u16(vd, off + 4),
                rd_u32(vd, off + 8),
                rd_u32(vd, off + 12),
                rd_u32(vd, off + 16),
            ) else {
                break;
            };
            // Every index counts for the size, the base version's too.
            let entry = slot(&mut v, ndx & 0x7fff);
            if flags & 1 == 0 {
                // VER_FLG_BASE entries stay nameless so they can't satisfy a versioned ref.
                let name = rd_u32(vd, off + aux as usize)
                    .map(|n| cstr(strtab, n))
                    .unwrap_or(&[]);
                *entry = Version {
                    hash: h,
                    hidden: false,
                    name,
                    filename: None,
                };
            }
            if next == 0 {
                break;
            }
            off += next as usize;
        }
    }
    if v.len() <= 1 {
        return Vec::new();
    }
    v
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjKind {
    /// glibc `lt_executable`: the main program (skipped by COPY lookups).
    Executable,
    /// `lt_library`: loaded at startup.
    Library,
    /// `lt_loaded`: dlopen'ed.
    Loaded,
}

/// What lookup and planning need from one object. All slices point into the object's image
/// (mapped or read); nothing here depends on the load address.
#[derive(Clone, Debug)]
pub struct ObjView<'a> {
    /// `l_name` as glibc prints it ("" for the main program).
    pub name: &'a [u8],
    pub kind: ObjKind,
    pub symtab: &'a [u8],
    pub strtab: &'a [u8],
    pub hash: HashTable<'a>,
    /// DT_VERSYM; read only while `versions()` is not empty (glibc's `l_versyms == NULL`).
    pub versym: &'a [u8],
    /// DT_VERDEF and DT_VERNEED, from which `versions()` is built.
    pub verdef: Option<&'a [u8]>,
    pub verneed: Option<&'a [u8]>,
    /// `l_versions`, built on first use: most objects are never asked for a version at
    /// start-up (a replayed launch looks up a handful of symbols), and building the table
    /// for every object was ~5% of python3's start-up instructions. Every `ObjView` user
    /// holds the loader's lock or owns the view, so the cell is never raced.
    versions: core::cell::OnceCell<Vec<Version<'a>>>,
    /// DT_SYMBOLIC / DF_SYMBOLIC on a non-main object: it searches itself first.
    pub symbolic: bool,
    /// Marked for removal (dlclose in progress): never searched.
    pub removed: bool,
    /// DT_RELA table (whole), DT_RELACOUNT, DT_JMPREL table.
    pub rela: &'a [u8],
    pub relacount: usize,
    pub jmprel: &'a [u8],
}

impl<'a> ObjView<'a> {
    pub fn new(name: &'a [u8], kind: ObjKind) -> Self {
        ObjView {
            name,
            kind,
            symtab: &[],
            strtab: &[],
            hash: HashTable::None,
            versym: &[],
            verdef: None,
            verneed: None,
            versions: core::cell::OnceCell::new(),
            symbolic: false,
            removed: false,
            rela: &[],
            relacount: 0,
            jmprel: &[],
        }
    }

    #[inline]
    pub fn sym(&self, idx: u32) -> Option<Sym> {
        let o = (idx as usize).checked_mul(SYM_SIZE)?;
        let s = self.symtab.get(o..o + SYM_SIZE)?;
        Some(Sym {
            name: u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            info: s[4],
            other: s[5],
            shndx: u16::from_le_bytes([s[6], s[7]]),
            value: rd_u64(s, 8)?,
            size: rd_u64(s, 16)?,
        })
    }

    #[inline]
    pub fn sym_name(&self, sym: &Sym) -> &'a [u8] {
        cstr(self.strtab, sym.name)
    }

    /// True if the NUL-terminated string at `off` equals `name` (no scan past the name).
    #[inline]
    pub fn name_eq(&self, off: u32, name: &[u8]) -> bool {
        let o = off as usize;
        match self
            .strtab
            .get(o..o.saturating_add(name.len()).saturating_add(1))
        {
            Some(s) => {
                let (cand, nul) = s.split_at(name.len());
                nul == [0] && bytes_eq(cand, name)
            }
            None => false,
        }
    }

    /// Raw versym entry, None when the object has no version table (l_versyms NULL).
    #[inline]
    pub fn versym(&self, idx: u32) -> Option<u16> {
        if self.versym.is_empty() || self.versions().is_empty() {
            return None;
        }
        rd_u16(self.versym, (idx as usize).checked_mul(2)?)
    }

    /// `l_versions[ndx]`; an index beyond the table reads as the empty entry.
    #[inline]
    pub fn version(&self, ndx: u16) -> Version<'a> {
        self.versions()
            .get(ndx as usize)
            .copied()
            .unwrap_or_default()
    }

    /// glibc's `l_versions` (see `build_versions`), built on the first call.
    pub fn versions(&self) -> &[Version<'a>] {
        self.versions
            .get_or_init(|| build_versions(self.verdef, self.verneed, self.strtab))
    }

    /// Sets `l_versions` (test views made without version sections).
    pub fn set_versions(&mut self, v: Vec<Version<'a>>) {
        self.versions = core::cell::OnceCell::from(v);
    }
}

/// One Elf64_Rela.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rela {
    pub offset: u64,
    pub r_type: u32,
    pub sym: u32,
    pub addend: i64,
}

/// Iterate a RELA table (24-byte entries; a trailing partial entry is ignored).
pub fn relas(table: &[u8]) -> impl Iterator<Item = Rela> + '_ {
    table.chunks_exact(24).map(|c| {
        let info = rd_u64(c, 8).unwrap_or(0);
        Rela {
            offset: rd_u64(c, 0).unwrap_or(0),
            r_type: info as u32,
            sym: (info >> 32) as u32,
            addend: rd_u64(c, 16).unwrap_or(0) as i64,
        }
    })
}

/// Decode DT_RELR into the offsets (relative to the load base) of the words to which the
/// load base is added, in glibc's order.
pub fn relr_offsets(table: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut base: u64 = 0;
    table.chunks_exact(8).flat_map(move |c| {
        let e = rd_u64(c, 0).unwrap_or(0);
        let mut out: [u64; 64] = [0; 64];
        let mut n = 0usize;
        if e & 1 == 0 {
            out[0] = e;
            n = 1;
            base = e.wrapping_add(8);
        } else {
            let mut bits = e >> 1;
            let mut i = 0u64;
            while bits != 0 {
                if bits & 1 != 0 {
                    out[n] = base.wrapping_add(i * 8);
                    n += 1;
                }
                bits >>= 1;
                i += 1;
            }
            base = base.wrapping_add(63 * 8);
        }
        out.into_iter().take(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn bytes_eq_matches_slice_eq() {
        let base: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(7) | 1).collect();
        for n in 0..40 {
            let a = &base[..n];
            assert!(bytes_eq(a, a));
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 0x80;
                assert!(!bytes_eq(a, &b), "len {n} differs at {at}");
            }
            assert!(!bytes_eq(a, &base[..n + 1]));
        }
        let mut strtab = b"\0printf\0print\0".to_vec();
        let v = ObjView {
            strtab: &strtab,
            ..ObjView::new(b"", ObjKind::Library)
        };
        assert!(v.name_eq(1, b"printf"));
        assert!(!v.name_eq(1, b"print"));
        assert!(v.name_eq(8, b"print"));
        assert!(!v.name_eq(8, b"printf"));
        assert!(!v.name_eq(100, b""));
        strtab.pop();
        let v = ObjView {
            strtab: &strtab,
            ..ObjView::new(b"", ObjKind::Library)
        };
        assert!(!v.name_eq(8, b"print"), "no NUL: no match");
    }

    #[test]
    fn relr_decode() {
        // address 0x1000, then bitmap 0b101 (after the marker bit): 0x1008 and 0x1018.
        let mut t = Vec::new();
        t.extend_from_slice(&0x1000u64.to_le_bytes());
        t.extend_from_slice(&((0b101u64 << 1) | 1).to_le_bytes());
        // a second bitmap continues 63 words later: bit 0 -> 0x1008 + 63*8
        t.extend_from_slice(&((1u64 << 1) | 1).to_le_bytes());
        let v: Vec<u64> = relr_offsets(&t).collect();
        assert_eq!(v, [0x1000, 0x1008, 0x1018, 0x1008 + 63 * 8]);
    }

    #[test]
    fn versions_table_shape() {
        // Verdef: base(1), V1(2); verneed: libx.so needs X_1 as index 3 hidden.
        let strtab = b"\0lib.so\0V1\0libx.so\0X_1\0";
        let mut vd = Vec::new();
        for (flags, ndx, h, name, last) in [(1u16, 1u16, 111u32, 1u32, false), (0, 2, 222, 8, true)]
        {
            vd.extend_from_slice(&1u16.to_le_bytes());
            vd.extend_from_slice(&flags.to_le_bytes());
            vd.extend_from_slice(&ndx.to_le_bytes());
            vd.extend_from_slice(&1u16.to_le_bytes());
            vd.extend_from_slice(&h.to_le_bytes());
            vd.extend_from_slice(&20u32.to_le_bytes());
            vd.extend_from_slice(&(if last { 0u32 } else { 28 }).to_le_bytes());
            vd.extend_from_slice(&name.to_le_bytes());
            vd.extend_from_slice(&0u32.to_le_bytes());
        }
        let mut vn = Vec::new();
        vn.extend_from_slice(&1u16.to_le_bytes());
        vn.extend_from_slice(&1u16.to_le_bytes());
        vn.extend_from_slice(&11u32.to_le_bytes());
        vn.extend_from_slice(&16u32.to_le_bytes());
        vn.extend_from_slice(&0u32.to_le_bytes());
        vn.extend_from_slice(&333u32.to_le_bytes());
        vn.extend_from_slice(&0u16.to_le_bytes());
        vn.extend_from_slice(&(3u16 | 0x8000).to_le_bytes());
        vn.extend_from_slice(&19u32.to_le_bytes());
        vn.extend_from_slice(&0u32.to_le_bytes());
        let v = build_versions(Some(&vd), Some(&vn), strtab);
        assert_eq!(v.len(), 4);
        assert_eq!(v[1], Version::default(), "base version stays nameless");
        assert_eq!(v[2].name, b"V1");
        assert_eq!(v[2].hash, 222);
        assert_eq!(v[3].name, b"X_1");
        assert!(v[3].hidden);
        assert_eq!(v[3].filename, Some(&b"libx.so"[..]));
        assert!(build_versions(None, None, strtab).is_empty());
    }
}
