//! Named CPU feature bits (leaf index, register, bit) and preferred-feature bits of glibc 2.36.
//! Invariant: positions follow sysdeps/x86/include/cpu-features.h of that release.

use crate::layout::{CpuFeatures, leaf as l, reg as r};

/// Position of one feature bit inside `CpuFeatures::features`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    pub leaf: usize,
    pub reg: usize,
    pub bit: u32,
}

const fn f(leaf: usize, reg: usize, bit: u32) -> Feature {
    Feature { leaf, reg, bit }
}

// Leaf 1 ECX.
pub const SSE3: Feature = f(l::L1, r::ECX, 0);
pub const PCLMULQDQ: Feature = f(l::L1, r::ECX, 1);
pub const SSSE3: Feature = f(l::L1, r::ECX, 9);
pub const FMA: Feature = f(l::L1, r::ECX, 12);
pub const CMPXCHG16B: Feature = f(l::L1, r::ECX, 13);
pub const SSE4_1: Feature = f(l::L1, r::ECX, 19);
pub const SSE4_2: Feature = f(l::L1, r::ECX, 20);
pub const MOVBE: Feature = f(l::L1, r::ECX, 22);
pub const POPCNT: Feature = f(l::L1, r::ECX, 23);
pub const AES: Feature = f(l::L1, r::ECX, 25);
pub const XSAVE: Feature = f(l::L1, r::ECX, 26);
pub const OSXSAVE: Feature = f(l::L1, r::ECX, 27);
pub const AVX: Feature = f(l::L1, r::ECX, 28);
pub const F16C: Feature = f(l::L1, r::ECX, 29);
pub const RDRAND: Feature = f(l::L1, r::ECX, 30);
// Leaf 1 EDX.
pub const FPU: Feature = f(l::L1, r::EDX, 0);
pub const TSC: Feature = f(l::L1, r::EDX, 4);
pub const CX8: Feature = f(l::L1, r::EDX, 8);
pub const CMOV: Feature = f(l::L1, r::EDX, 15);
pub const CLFSH: Feature = f(l::L1, r::EDX, 19);
pub const MMX: Feature = f(l::L1, r::EDX, 23);
pub const FXSR: Feature = f(l::L1, r::EDX, 24);
pub const SSE: Feature = f(l::L1, r::EDX, 25);
pub const SSE2: Feature = f(l::L1, r::EDX, 26);
pub const HTT: Feature = f(l::L1, r::EDX, 28);
// Leaf 7 EBX.
pub const BMI1: Feature = f(l::L7, r::EBX, 3);
pub const HLE: Feature = f(l::L7, r::EBX, 4);
pub const AVX2: Feature = f(l::L7, r::EBX, 5);
pub const BMI2: Feature = f(l::L7, r::EBX, 8);
pub const ERMS: Feature = f(l::L7, r::EBX, 9);
pub const RTM: Feature = f(l::L7, r::EBX, 11);
pub const AVX512F: Feature = f(l::L7, r::EBX, 16);
pub const AVX512DQ: Feature = f(l::L7, r::EBX, 17);
pub const RDSEED: Feature = f(l::L7, r::EBX, 18);
pub const ADX: Feature = f(l::L7, r::EBX, 19);
pub const AVX512_IFMA: Feature = f(l::L7, r::EBX, 21);
pub const CLFLUSHOPT: Feature = f(l::L7, r::EBX, 23);
pub const CLWB: Feature = f(l::L7, r::EBX, 24);
pub const AVX512PF: Feature = f(l::L7, r::EBX, 26);
pub const AVX512ER: Feature = f(l::L7, r::EBX, 27);
pub const AVX512CD: Feature = f(l::L7, r::EBX, 28);
pub const SHA: Feature = f(l::L7, r::EBX, 29);
pub const AVX512BW: Feature = f(l::L7, r::EBX, 30);
pub const AVX512VL: Feature = f(l::L7, r::EBX, 31);
// Leaf 7 ECX.
pub const PREFETCHWT1: Feature = f(l::L7, r::ECX, 0);
pub const AVX512_VBMI: Feature = f(l::L7, r::ECX, 1);
pub const PKU: Feature = f(l::L7, r::ECX, 3);
pub const OSPKE: Feature = f(l::L7, r::ECX, 4);
pub const WAITPKG: Feature = f(l::L7, r::ECX, 5);
pub const AVX512_VBMI2: Feature = f(l::L7, r::ECX, 6);
pub const SHSTK: Feature = f(l::L7, r::ECX, 7);
pub const GFNI: Feature = f(l::L7, r::ECX, 8);
pub const VAES: Feature = f(l::L7, r::ECX, 9);
pub const VPCLMULQDQ: Feature = f(l::L7, r::ECX, 10);
pub const AVX512_VNNI: Feature = f(l::L7, r::ECX, 11);
pub const AVX512_BITALG: Feature = f(l::L7, r::ECX, 12);
pub const AVX512_VPOPCNTDQ: Feature = f(l::L7, r::ECX, 14);
pub const RDPID: Feature = f(l::L7, r::ECX, 22);
pub const KL: Feature = f(l::L7, r::ECX, 23);
pub const CLDEMOTE: Feature = f(l::L7, r::ECX, 25);
pub const MOVDIRI: Feature = f(l::L7, r::ECX, 27);
pub const MOVDIR64B: Feature = f(l::L7, r::ECX, 28);
// Leaf 7 EDX.
pub const AVX512_4VNNIW: Feature = f(l::L7, r::EDX, 2);
pub const AVX512_4FMAPS: Feature = f(l::L7, r::EDX, 3);
pub const FSRM: Feature = f(l::L7, r::EDX, 4);
pub const AVX512_VP2INTERSECT: Feature = f(l::L7, r::EDX, 8);
pub const RTM_ALWAYS_ABORT: Feature = f(l::L7, r::EDX, 11);
pub const SERIALIZE: Feature = f(l::L7, r::EDX, 14);
pub const TSXLDTRK: Feature = f(l::L7, r::EDX, 16);
pub const IBT: Feature = f(l::L7, r::EDX, 20);
pub const AMX_BF16: Feature = f(l::L7, r::EDX, 22);
pub const AVX512_FP16: Feature = f(l::L7, r::EDX, 23);
pub const AMX_TILE: Feature = f(l::L7, r::EDX, 24);
pub const AMX_INT8: Feature = f(l::L7, r::EDX, 25);
// 0x80000001.
pub const LAHF64_SAHF64: Feature = f(l::L80000001, r::ECX, 0);
pub const LZCNT: Feature = f(l::L80000001, r::ECX, 5);
pub const SSE4A: Feature = f(l::L80000001, r::ECX, 6);
pub const PREFETCHW: Feature = f(l::L80000001, r::ECX, 8);
pub const XOP: Feature = f(l::L80000001, r::ECX, 11);
pub const FMA4: Feature = f(l::L80000001, r::ECX, 16);
pub const TBM: Feature = f(l::L80000001, r::ECX, 21);
pub const RDTSCP: Feature = f(l::L80000001, r::EDX, 27);
// 0xD.1 EAX.
pub const XSAVEOPT: Feature = f(l::LD_ECX_1, r::EAX, 0);
pub const XSAVEC: Feature = f(l::LD_ECX_1, r::EAX, 1);
pub const XGETBV_ECX_1: Feature = f(l::LD_ECX_1, r::EAX, 2);
pub const XFD: Feature = f(l::LD_ECX_1, r::EAX, 4);
// 0x80000008 EBX.
pub const WBNOINVD: Feature = f(l::L80000008, r::EBX, 9);
// 7.1 EAX.
pub const AVX_VNNI: Feature = f(l::L7_ECX_1, r::EAX, 4);
pub const AVX512_BF16: Feature = f(l::L7_ECX_1, r::EAX, 5);
pub const FZLRM: Feature = f(l::L7_ECX_1, r::EAX, 10);
pub const FSRS: Feature = f(l::L7_ECX_1, r::EAX, 11);
pub const FSRCS: Feature = f(l::L7_ECX_1, r::EAX, 12);
// 0x19 EBX.
pub const AESKLE: Feature = f(l::L19, r::EBX, 0);
pub const WIDE_KL: Feature = f(l::L19, r::EBX, 2);
// 0x14.0 EBX.
pub const PTWRITE: Feature = f(l::L14_ECX_0, r::EBX, 4);

/// Bits of `preferred[0]` (cpu-features-preferred_feature_index_1.def order).
pub mod pref {
    pub const FAST_REP_STRING: u32 = 1 << 0;
    pub const FAST_COPY_BACKWARD: u32 = 1 << 1;
    pub const SLOW_BSF: u32 = 1 << 2;
    pub const FAST_UNALIGNED_LOAD: u32 = 1 << 3;
    pub const PREFER_PMINUB_FOR_STRINGOP: u32 = 1 << 4;
    pub const FAST_UNALIGNED_COPY: u32 = 1 << 5;
    pub const I586: u32 = 1 << 6;
    pub const I686: u32 = 1 << 7;
    pub const SLOW_SSE4_2: u32 = 1 << 8;
    pub const AVX_FAST_UNALIGNED_LOAD: u32 = 1 << 9;
    pub const PREFER_NO_VZEROUPPER: u32 = 1 << 10;
    pub const PREFER_ERMS: u32 = 1 << 11;
    pub const PREFER_NO_AVX512: u32 = 1 << 12;
    pub const MATHVEC_PREFER_NO_AVX512: u32 = 1 << 13;
    pub const PREFER_FSRM: u32 = 1 << 14;
    pub const AVOID_SHORT_DISTANCE_REP_MOVSB: u32 = 1 << 15;
}

/// `isa_1` bits (GNU_PROPERTY_X86_ISA_1_*).
pub mod isa {
    pub const BASELINE: u32 = 1 << 0;
    pub const V2: u32 = 1 << 1;
    pub const V3: u32 = 1 << 2;
    pub const V4: u32 = 1 << 3;
}

impl CpuFeatures {
    fn word(&self, f: Feature, active: bool) -> u32 {
        self.features
            .get(f.leaf)
            .and_then(|lf| {
                if active {
                    lf.active.get(f.reg)
                } else {
                    lf.cpuid.get(f.reg)
                }
            })
            .copied()
            .unwrap_or(0)
    }
    /// The CPU reports the feature (raw CPUID bit; glibc `CPU_FEATURE_CPU_P`).
    pub fn cpu_has(&self, f: Feature) -> bool {
        self.word(f, false) & (1 << f.bit) != 0
    }
    /// The feature is usable (glibc `CPU_FEATURE_USABLE_P`).
    pub fn usable(&self, f: Feature) -> bool {
        self.word(f, true) & (1 << f.bit) != 0
    }
    pub fn preferred(&self, bit: u32) -> bool {
        self.preferred[0] & bit != 0
    }
    fn active_mut(&mut self, f: Feature) -> Option<&mut u32> {
        self.features
            .get_mut(f.leaf)
            .and_then(|lf| lf.active.get_mut(f.reg))
    }
    /// Mark usable unconditionally (glibc `CPU_FEATURE_SET`).
    pub(crate) fn set(&mut self, f: Feature) {
        if let Some(w) = self.active_mut(f) {
            *w |= 1 << f.bit;
        }
    }
    /// Mark unusable (glibc `CPU_FEATURE_UNSET`).
    pub(crate) fn unset(&mut self, f: Feature) {
        if let Some(w) = self.active_mut(f) {
            *w &= !(1 << f.bit);
        }
    }
    /// Usable iff the CPU reports it (glibc `CPU_FEATURE_SET_ACTIVE`).
    pub(crate) fn set_active(&mut self, f: Feature) {
        if self.cpu_has(f) {
            self.set(f);
        }
    }
}
