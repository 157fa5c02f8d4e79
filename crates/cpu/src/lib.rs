//! glibc 2.36 (x86-64) `struct cpu_features` and what ld.so derives from it, computed from
//! any [`CpuidSource`]. Invariant: output is byte-identical to glibc's for the same inputs.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cache;
pub mod features;
mod init;
pub mod layout;
pub mod source;
pub mod tunables;

pub use init::{HWCAP_X86_64, HWCAP_X86_AVX512_1, isa_level};
pub use layout::{CPU_FEATURES_SIZE, CpuFeatures, FeatureLeaf, Kind};
pub use source::{CpuidSource, Leaf, Memo, NativeCpuid, Recorded};

/// The glibc tunables behind [`Tunables`], in its field order.
pub const TUNABLE_NAMES: [&str; 6] = [
    "glibc.cpu.hwcaps",
    "glibc.cpu.x86_non_temporal_threshold",
    "glibc.cpu.x86_rep_movsb_threshold",
    "glibc.cpu.x86_rep_stosb_threshold",
    "glibc.cpu.x86_data_cache_size",
    "glibc.cpu.x86_shared_cache_size",
];

/// `glibc.cpu.*` tunables as the tunables framework parsed them (`None` = not set).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tunables<'a> {
    /// `glibc.cpu.hwcaps` value; see [`tunables::apply_hwcaps`] for how far it is read.
    pub hwcaps: Option<&'a [u8]>,
    pub x86_non_temporal_threshold: Option<u64>,
    pub x86_rep_movsb_threshold: Option<u64>,
    pub x86_rep_stosb_threshold: Option<u64>,
    pub x86_data_cache_size: Option<u64>,
    pub x86_shared_cache_size: Option<u64>,
}

/// The auxv entries that matter here. AT_HWCAP is not needed: x86-64 ld.so replaces it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Auxv<'a> {
    /// AT_PLATFORM string without its NUL.
    pub platform: Option<&'a [u8]>,
    pub hwcap2: u64,
    /// AT_MINSIGSTKSZ; absent or 0 makes glibc size the signal frame from XSAVE.
    pub minsigstksz: Option<u64>,
}

/// What ld.so derives besides the struct itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuInfo<'a> {
    pub kind: Kind,
    /// `GLRO(dl_platform)`: "haswell"/"xeon_phi" on Intel, else AT_PLATFORM (empty → None).
    pub platform: Option<&'a [u8]>,
    pub platform_overridden: bool,
    /// `GLRO(dl_hwcap)` (what `getauxval(AT_HWCAP)` returns under glibc).
    pub hwcap: u64,
    /// `GLRO(dl_hwcap2)` = AT_HWCAP2.
    pub hwcap2: u64,
    /// ISA level bits at hwcaps time (after tunables; `isa_1` in the struct is from before).
    pub isa_level: u32,
    /// `_dl_hwcaps_subdirs_active()` over "x86-64-v4:x86-64-v3:x86-64-v2" (bit 0 = v4).
    pub hwcaps_subdirs_active: u32,
    /// Highest supported x86-64 level: 1 (baseline/none), 2, 3 or 4.
    pub hwcaps_level: u8,
    /// `GLRO(dl_minsigstacksize)`.
    pub minsigstacksize: u64,
    /// Save-area size for the lazy-binding trampoline (same as in the struct).
    pub xsave_state_size: u64,
    /// The bounds `dl_init_cacheinfo` gives the x86 threshold tunables (decided before
    /// `glibc.cpu.hwcaps` masking, as in glibc).
    pub cache_bounds: CacheBounds,
}

/// Bounds of the cache tunables as glibc's `TUNABLE_SET_WITH_BOUNDS` calls set them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheBounds {
    pub rep_movsb_min: u64,
    pub non_temporal_min: u64,
    pub non_temporal_max: u64,
}

/// Run glibc's `init_cpu_features` against `src`.
pub fn compute<'a, S: CpuidSource>(
    src: &mut S,
    tunables: &Tunables<'_>,
    auxv: &Auxv<'a>,
) -> (CpuFeatures, CpuInfo<'a>) {
    init::init(src, tunables, auxv)
}

/// glibc's `__x86_get_cpuid_feature_leaf`: the leaf, or zeros past the end.
pub fn cpuid_feature_leaf(cf: &CpuFeatures, index: u32) -> FeatureLeaf {
    cf.features.get(index as usize).copied().unwrap_or_default()
}

/// `sysconf(_SC_LEVEL1_ICACHE_SIZE + i)` for i in 0..15 as glibc's `__cache_sysconf`
/// answers it (-1 for the entries it does not store).
pub fn cache_sysconf(cf: &CpuFeatures) -> [i64; 15] {
    let l = cf.cache_levels().map(|v| v as i64);
    [
        l[0], -1, l[1], l[2], l[3], l[4], l[5], l[6], l[7], l[8], l[9], l[10], l[11], -1, -1,
    ]
}

#[cfg(test)]
mod tests;
