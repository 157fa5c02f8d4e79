//! `struct cpu_features` exactly as glibc 2.36 (Debian 2.36-9+deb12u14, x86-64) lays it out.
//! Invariant: size 480 and every field offset match `gdb ptype /o` (tests/data/gdb-ptype-cpu_features.txt).

use core::mem::{offset_of, size_of};

/// Index into `CpuFeatures::features` (glibc's `CPUID_INDEX_*` order).
pub mod leaf {
    pub const L1: usize = 0;
    pub const L7: usize = 1;
    pub const L80000001: usize = 2;
    pub const LD_ECX_1: usize = 3;
    pub const L80000007: usize = 4;
    pub const L80000008: usize = 5;
    pub const L7_ECX_1: usize = 6;
    pub const L19: usize = 7;
    pub const L14_ECX_0: usize = 8;
    pub const COUNT: usize = 9;
}

/// Register index inside a leaf (`cpuid_register_index_*`).
pub mod reg {
    pub const EAX: usize = 0;
    pub const EBX: usize = 1;
    pub const ECX: usize = 2;
    pub const EDX: usize = 3;
}

/// glibc's `cpu_features_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    Unknown = 0,
    Intel = 1,
    Amd = 2,
    Zhaoxin = 3,
    Other = 4,
}

/// One `cpuid_feature_internal`: raw CPUID words and the "usable" words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct FeatureLeaf {
    pub cpuid: [u32; 4],
    pub active: [u32; 4],
}

/// Byte-compatible image of glibc's `struct cpu_features` (480 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct CpuFeatures {
    pub kind: u32,
    pub max_cpuid: i32,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub features: [FeatureLeaf; leaf::COUNT],
    pub preferred: [u32; 1],
    pub isa_1: u32,
    /// Alignment hole in glibc's struct; always zero there (static storage).
    pub pad0: u32,
    pub xsave_state_size: u64,
    pub xsave_state_full_size: u32,
    /// Alignment hole; always zero.
    pub pad1: u32,
    pub data_cache_size: u64,
    pub shared_cache_size: u64,
    pub non_temporal_threshold: u64,
    pub rep_movsb_threshold: u64,
    pub rep_movsb_stop_threshold: u64,
    pub rep_stosb_threshold: u64,
    pub level1_icache_size: u64,
    pub level1_icache_linesize: u64,
    pub level1_dcache_size: u64,
    pub level1_dcache_assoc: u64,
    pub level1_dcache_linesize: u64,
    pub level2_cache_size: u64,
    pub level2_cache_assoc: u64,
    pub level2_cache_linesize: u64,
    pub level3_cache_size: u64,
    pub level3_cache_assoc: u64,
    pub level3_cache_linesize: u64,
    pub level4_cache_size: u64,
}

pub const CPU_FEATURES_SIZE: usize = 480;

/// Field offsets, as `ptype /o` prints them; checked at compile time below.
pub mod off {
    pub const KIND: usize = 0;
    pub const MAX_CPUID: usize = 4;
    pub const FAMILY: usize = 8;
    pub const MODEL: usize = 12;
    pub const STEPPING: usize = 16;
    pub const FEATURES: usize = 20;
    pub const FEATURE_STRIDE: usize = 32;
    pub const PREFERRED: usize = 308;
    pub const ISA_1: usize = 312;
    pub const XSAVE_STATE_SIZE: usize = 320;
    pub const XSAVE_STATE_FULL_SIZE: usize = 328;
    pub const DATA_CACHE_SIZE: usize = 336;
    pub const SHARED_CACHE_SIZE: usize = 344;
    pub const NON_TEMPORAL_THRESHOLD: usize = 352;
    pub const REP_MOVSB_THRESHOLD: usize = 360;
    pub const REP_MOVSB_STOP_THRESHOLD: usize = 368;
    pub const REP_STOSB_THRESHOLD: usize = 376;
    pub const LEVEL1_ICACHE_SIZE: usize = 384;
    pub const LEVEL4_CACHE_SIZE: usize = 472;
}

const _: () = {
    assert!(size_of::<CpuFeatures>() == CPU_FEATURES_SIZE);
    assert!(size_of::<FeatureLeaf>() == off::FEATURE_STRIDE);
    assert!(offset_of!(CpuFeatures, kind) == off::KIND);
    assert!(offset_of!(CpuFeatures, max_cpuid) == off::MAX_CPUID);
    assert!(offset_of!(CpuFeatures, family) == off::FAMILY);
    assert!(offset_of!(CpuFeatures, model) == off::MODEL);
    assert!(offset_of!(CpuFeatures, stepping) == off::STEPPING);
    assert!(offset_of!(CpuFeatures, features) == off::FEATURES);
    assert!(offset_of!(CpuFeatures, preferred) == off::PREFERRED);
    assert!(offset_of!(CpuFeatures, isa_1) == off::ISA_1);
    assert!(offset_of!(CpuFeatures, xsave_state_size) == off::XSAVE_STATE_SIZE);
    assert!(offset_of!(CpuFeatures, xsave_state_full_size) == off::XSAVE_STATE_FULL_SIZE);
    assert!(offset_of!(CpuFeatures, data_cache_size) == off::DATA_CACHE_SIZE);
    assert!(offset_of!(CpuFeatures, shared_cache_size) == off::SHARED_CACHE_SIZE);
    assert!(offset_of!(CpuFeatures, non_temporal_threshold) == off::NON_TEMPORAL_THRESHOLD);
    assert!(offset_of!(CpuFeatures, rep_movsb_threshold) == off::REP_MOVSB_THRESHOLD);
    assert!(offset_of!(CpuFeatures, rep_movsb_stop_threshold) == off::REP_MOVSB_STOP_THRESHOLD);
    assert!(offset_of!(CpuFeatures, rep_stosb_threshold) == off::REP_STOSB_THRESHOLD);
    assert!(offset_of!(CpuFeatures, level1_icache_size) == off::LEVEL1_ICACHE_SIZE);
    assert!(offset_of!(CpuFeatures, level4_cache_size) == off::LEVEL4_CACHE_SIZE);
};

impl CpuFeatures {
    /// All-zero image: what glibc's static storage holds before `init_cpu_features`.
    pub const ZERO: CpuFeatures = CpuFeatures {
        kind: 0,
        max_cpuid: 0,
        family: 0,
        model: 0,
        stepping: 0,
        features: [FeatureLeaf {
            cpuid: [0; 4],
            active: [0; 4],
        }; leaf::COUNT],
        preferred: [0],
        isa_1: 0,
        pad0: 0,
        xsave_state_size: 0,
        xsave_state_full_size: 0,
        pad1: 0,
        data_cache_size: 0,
        shared_cache_size: 0,
        non_temporal_threshold: 0,
        rep_movsb_threshold: 0,
        rep_movsb_stop_threshold: 0,
        rep_stosb_threshold: 0,
        level1_icache_size: 0,
        level1_icache_linesize: 0,
        level1_dcache_size: 0,
        level1_dcache_assoc: 0,
        level1_dcache_linesize: 0,
        level2_cache_size: 0,
        level2_cache_assoc: 0,
        level2_cache_linesize: 0,
        level3_cache_size: 0,
        level3_cache_assoc: 0,
        level3_cache_linesize: 0,
        level4_cache_size: 0,
    };

    /// The 12 `level*` words in `_SC_LEVEL1_ICACHE_SIZE` order minus the
    /// entries glibc does not store (icache assoc, L4 assoc/linesize).
    pub fn cache_levels(&self) -> [u64; 12] {
        [
            self.level1_icache_size,
            self.level1_icache_linesize,
            self.level1_dcache_size,
            self.level1_dcache_assoc,
            self.level1_dcache_linesize,
            self.level2_cache_size,
            self.level2_cache_assoc,
            self.level2_cache_linesize,
            self.level3_cache_size,
            self.level3_cache_assoc,
            self.level3_cache_linesize,
            self.level4_cache_size,
        ]
    }

    /// Serialize field by field (little-endian), so no unsafe transmute is needed
    /// and padding is deterministic.
    pub fn to_bytes(&self) -> [u8; CPU_FEATURES_SIZE] {
        let mut out = [0u8; CPU_FEATURES_SIZE];
        let mut w = Writer {
            buf: &mut out,
            pos: 0,
        };
        w.u32(self.kind);
        w.u32(self.max_cpuid as u32);
        w.u32(self.family);
        w.u32(self.model);
        w.u32(self.stepping);
        for f in &self.features {
            for v in f.cpuid.iter().chain(f.active.iter()) {
                w.u32(*v);
            }
        }
        w.u32(self.preferred[0]);
        w.u32(self.isa_1);
        w.u32(self.pad0);
        w.u64(self.xsave_state_size);
        w.u32(self.xsave_state_full_size);
        w.u32(self.pad1);
        for v in [
            self.data_cache_size,
            self.shared_cache_size,
            self.non_temporal_threshold,
            self.rep_movsb_threshold,
            self.rep_movsb_stop_threshold,
            self.rep_stosb_threshold,
        ] {
            w.u64(v);
        }
        for v in self.cache_levels() {
            w.u64(v);
        }
        debug_assert!(w.pos == CPU_FEATURES_SIZE);
        out
    }

    /// Inverse of [`to_bytes`](Self::to_bytes); used to compare with glibc's dump.
    pub fn from_bytes(b: &[u8; CPU_FEATURES_SIZE]) -> CpuFeatures {
        let mut r = Reader { buf: b, pos: 0 };
        let mut c = CpuFeatures::ZERO;
        c.kind = r.u32();
        c.max_cpuid = r.u32() as i32;
        c.family = r.u32();
        c.model = r.u32();
        c.stepping = r.u32();
        for f in c.features.iter_mut() {
            for v in f.cpuid.iter_mut() {
                *v = r.u32();
            }
            for v in f.active.iter_mut() {
                *v = r.u32();
            }
        }
        c.preferred[0] = r.u32();
        c.isa_1 = r.u32();
        c.pad0 = r.u32();
        c.xsave_state_size = r.u64();
        c.xsave_state_full_size = r.u32();
        c.pad1 = r.u32();
        c.data_cache_size = r.u64();
        c.shared_cache_size = r.u64();
        c.non_temporal_threshold = r.u64();
        c.rep_movsb_threshold = r.u64();
        c.rep_movsb_stop_threshold = r.u64();
        c.rep_stosb_threshold = r.u64();
        c.level1_icache_size = r.u64();
        c.level1_icache_linesize = r.u64();
        c.level1_dcache_size = r.u64();
        c.level1_dcache_assoc = r.u64();
        c.level1_dcache_linesize = r.u64();
        c.level2_cache_size = r.u64();
        c.level2_cache_assoc = r.u64();
        c.level2_cache_linesize = r.u64();
        c.level3_cache_size = r.u64();
        c.level3_cache_assoc = r.u64();
        c.level3_cache_linesize = r.u64();
        c.level4_cache_size = r.u64();
        c
    }
}

struct Writer<'a> {
    buf: &'a mut [u8; CPU_FEATURES_SIZE],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.pos += bytes.len();
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8; CPU_FEATURES_SIZE],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.buf.get(self.pos..self.pos + N) {
            out.copy_from_slice(src);
        }
        self.pos += N;
        out
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}
