//! Subdirectories probed under every search directory: `glibc-hwcaps/<name>/` first (priority
//! order), then glibc 2.36's legacy power set of hwcap names, platform and `tls`, ending with "".

use alloc::vec::Vec;

/// Built-in x86-64 glibc-hwcaps names, best first.
pub const X86_64_HWCAPS: [&str; 3] = ["x86-64-v4", "x86-64-v3", "x86-64-v2"];

/// The usable x86-64 micro-architecture level (1 = baseline .. 4 = v4), computed by the caller
/// from cpu features the way glibc's `get_isa_level` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsaLevel(pub u8);

impl IsaLevel {
    /// `GNU_PROPERTY_X86_ISA_1_*` bitmask of supported levels.
    pub fn isa_1_bits(self) -> u32 {
        match self.0 {
            0 => 0,
            n if n >= 4 => 0xf,
            n => (1u32 << n) - 1,
        }
    }
}

fn split_list(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&c| c == b':').filter(|s| !s.is_empty())
}

/// glibc-hwcaps subdirectory names in priority order: `--glibc-hwcaps-prepend` entries, then the
/// built-in names the CPU supports, restricted by `--glibc-hwcaps-mask` when given.
pub fn glibc_hwcaps_names(
    level: IsaLevel,
    prepend: Option<&[u8]>,
    mask: Option<&[u8]>,
) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(X86_64_HWCAPS.len());
    if let Some(p) = prepend {
        out.extend(split_list(p).map(|s| s.to_vec()));
    }
    for (i, name) in X86_64_HWCAPS.iter().enumerate() {
        let needed = 4 - i as u8; // v4, v3, v2
        if level.0 < needed {
            continue;
        }
        if let Some(m) = mask
            && !split_list(m).any(|s| s == name.as_bytes())
        {
            continue;
        }
        out.push(name.as_bytes().to_vec());
    }
    out
}

/// glibc's legacy hwcap power set. `hwcap_names` are the names of the set bits of
/// `dl_hwcap & hwcap_mask` in bit order (x86-64: "x86_64", then "avx512_1"); `platform` is
/// `dl_platform`. Each element ends with '/', the last is "".
pub fn legacy_subdirs(hwcap_names: &[&[u8]], platform: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut comps: Vec<&[u8]> = Vec::with_capacity(hwcap_names.len() + 2);
    comps.extend_from_slice(hwcap_names);
    if let Some(p) = platform {
        comps.push(p);
    }
    comps.push(b"tls");
    let cnt = comps.len();
    let total = 1usize << cnt;
    let mut out = Vec::with_capacity(total);
    for k in 0..total {
        let m = total - 1 - k;
        // Sized first: one allocation per prefix (start-up builds these for every launch).
        let len = (0..cnt)
            .filter(|&idx| m & (1 << idx) != 0)
            .map(|idx| comps[idx].len() + 1)
            .sum();
        let mut s = Vec::with_capacity(len);
        for idx in (0..cnt).rev() {
            if m & (1 << idx) != 0 {
                s.extend_from_slice(comps[idx]);
                s.push(b'/');
            }
        }
        out.push(s);
    }
    out
}

/// What is probed under each directory, in order (glibc's `capstr`).
#[derive(Clone, Debug, Default)]
pub struct Subdirs {
    /// Full relative prefixes, e.g. `glibc-hwcaps/x86-64-v3/`, `tls/x86_64/`, ``.
    pub prefixes: Vec<Vec<u8>>,
    /// How many leading prefixes are glibc-hwcaps ones.
    pub n_glibc_hwcaps: usize,
}

impl Subdirs {
    pub fn new(glibc_hwcaps: &[Vec<u8>], legacy: Vec<Vec<u8>>) -> Self {
        const DIR: &[u8] = b"glibc-hwcaps/";
        let mut prefixes: Vec<Vec<u8>> = Vec::with_capacity(glibc_hwcaps.len() + legacy.len());
        prefixes.extend(glibc_hwcaps.iter().map(|n| {
            let mut p = Vec::with_capacity(DIR.len() + n.len() + 1);
            p.extend_from_slice(DIR);
            p.extend_from_slice(n);
            p.push(b'/');
            p
        }));
        let n_glibc_hwcaps = prefixes.len();
        prefixes.extend(legacy);
        Subdirs {
            prefixes,
            n_glibc_hwcaps,
        }
    }
}

/// Host-side helper for tests and tools: the ISA level of this CPU, via std's feature detection.
#[cfg(any(test, feature = "host"))]
pub fn host_isa_level() -> IsaLevel {
    use std::arch::is_x86_feature_detected as f;
    let v2 = f!("sse3")
        && f!("ssse3")
        && f!("sse4.1")
        && f!("sse4.2")
        && f!("popcnt")
        && f!("cmpxchg16b");
    let v3 = v2
        && f!("avx")
        && f!("avx2")
        && f!("bmi1")
        && f!("bmi2")
        && f!("f16c")
        && f!("fma")
        && f!("lzcnt")
        && f!("movbe")
        && f!("xsave");
    let v4 =
        v3 && f!("avx512f") && f!("avx512bw") && f!("avx512cd") && f!("avx512dq") && f!("avx512vl");
    IsaLevel(if v4 {
        4
    } else if v3 {
        3
    } else if v2 {
        2
    } else {
        1
    })
}
