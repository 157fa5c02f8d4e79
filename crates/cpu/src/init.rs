//! glibc 2.36 `init_cpu_features` (+ `get_common_indices`, `get_extended_indices`,
//! `update_active`, vendor preferences, hwcaps tunable, platform/hwcap). Same order of effects.

use crate::cache::init_cacheinfo;
use crate::features::{self as ft, Feature, isa, pref};
use crate::layout::{CpuFeatures, Kind, leaf as l};
use crate::source::CpuidSource;
use crate::tunables::apply_hwcaps;
use crate::{Auxv, CpuInfo, Tunables};

/// Bits of XCR0 glibc tests.
mod xcr0 {
    pub const XMM: u64 = 1 << 1;
    pub const YMM: u64 = 1 << 2;
    pub const OPMASK: u64 = 1 << 5;
    pub const ZMM0_15: u64 = 1 << 6;
    pub const ZMM16_31: u64 = 1 << 7;
    pub const XTILECFG: u64 = 1 << 17;
    pub const XTILEDATA: u64 = 1 << 18;
}

/// Register save area in front of the XSAVE buffer in `_dl_runtime_resolve`.
const STATE_SAVE_OFFSET: u32 = 8 * 7 + 8;
/// XSAVE components the trampoline saves (SSE, AVX, MPX, AVX-512).
const STATE_SAVE_MASK: u32 = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 7);
/// MINSIGSTKSZ of the x86 kernel ABI, used when XSAVE cannot size the frame.
const MINSIGSTKSZ: u64 = 2048;

/// Copied to "usable" straight from CPUID: no OS support needed.
const ALWAYS_USABLE: &[Feature] = &[
    ft::SSE3,
    ft::PCLMULQDQ,
    ft::SSSE3,
    ft::CMPXCHG16B,
    ft::SSE4_1,
    ft::SSE4_2,
    ft::MOVBE,
    ft::POPCNT,
    ft::AES,
    ft::OSXSAVE,
    ft::TSC,
    ft::CX8,
    ft::CMOV,
    ft::CLFSH,
    ft::MMX,
    ft::FXSR,
    ft::SSE,
    ft::SSE2,
    ft::HTT,
    ft::BMI1,
    ft::HLE,
    ft::BMI2,
    ft::ERMS,
    ft::RDSEED,
    ft::ADX,
    ft::CLFLUSHOPT,
    ft::CLWB,
    ft::SHA,
    ft::PREFETCHWT1,
    ft::OSPKE,
    ft::WAITPKG,
    ft::GFNI,
    ft::RDPID,
    ft::RDRAND,
    ft::CLDEMOTE,
    ft::MOVDIRI,
    ft::MOVDIR64B,
    ft::FSRM,
    ft::RTM_ALWAYS_ABORT,
    ft::SERIALIZE,
    ft::TSXLDTRK,
    ft::LAHF64_SAHF64,
    ft::LZCNT,
    ft::SSE4A,
    ft::PREFETCHW,
    ft::TBM,
    ft::RDTSCP,
    ft::WBNOINVD,
    ft::FZLRM,
    ft::FSRS,
    ft::FSRCS,
    ft::PTWRITE,
];

/// Usable when AVX is (YMM state enabled).
const AVX_DEPENDENT: &[Feature] = &[
    ft::AVX_VNNI,
    ft::FMA,
    ft::VAES,
    ft::VPCLMULQDQ,
    ft::XOP,
    ft::F16C,
];

/// Usable when AVX512F is (opmask + ZMM state enabled).
const AVX512_DEPENDENT: &[Feature] = &[
    ft::AVX512CD,
    ft::AVX512ER,
    ft::AVX512PF,
    ft::AVX512VL,
    ft::AVX512DQ,
    ft::AVX512BW,
    ft::AVX512_4FMAPS,
    ft::AVX512_4VNNIW,
    ft::AVX512_BITALG,
    ft::AVX512_IFMA,
    ft::AVX512_VBMI,
    ft::AVX512_VBMI2,
    ft::AVX512_VNNI,
    ft::AVX512_VPOPCNTDQ,
    ft::AVX512_VP2INTERSECT,
    ft::AVX512_BF16,
    ft::AVX512_FP16,
];

/// Cleared when neither XSAVE nor XSAVEC is usable after the tunables ran.
const NEED_XSAVE: &[Feature] = &[
    ft::AVX,
    ft::AVX2,
    ft::AVX_VNNI,
    ft::FMA,
    ft::VAES,
    ft::VPCLMULQDQ,
    ft::XOP,
    ft::F16C,
    ft::AVX512F,
    ft::AVX512CD,
    ft::AVX512ER,
    ft::AVX512PF,
    ft::AVX512VL,
    ft::AVX512DQ,
    ft::AVX512BW,
    ft::AVX512_4FMAPS,
    ft::AVX512_4VNNIW,
    ft::AVX512_BITALG,
    ft::AVX512_IFMA,
    ft::AVX512_VBMI,
    ft::AVX512_VBMI2,
    ft::AVX512_VNNI,
    ft::AVX512_VPOPCNTDQ,
    ft::AVX512_VP2INTERSECT,
    ft::AVX512_BF16,
    ft::AVX512_FP16,
    ft::AMX_BF16,
    ft::AMX_TILE,
    ft::AMX_INT8,
    ft::FMA4,
];

const fn align_up(v: u32, a: u32) -> u32 {
    (v + a - 1) & !(a - 1)
}

const fn sig(ebx: u32, ecx: u32, edx: u32) -> [u32; 3] {
    [ebx, ecx, edx]
}
const GENUINE_INTEL: [u32; 3] = sig(0x756e6547, 0x6c65746e, 0x49656e69);
const AUTHENTIC_AMD: [u32; 3] = sig(0x68747541, 0x444d4163, 0x69746e65);
const HYGON_GENUINE: [u32; 3] = sig(0x6f677948, 0x656e6975, 0x6e65476e);
const CENTAUR_HAULS: [u32; 3] = sig(0x746e6543, 0x736c7561, 0x48727561);
const SHANGHAI: [u32; 3] = sig(0x68532020, 0x20206961, 0x68676e61);

/// Family/model/stepping as `get_common_indices` decodes them.
struct Fms {
    family: u32,
    model: u32,
    extended_model: u32,
    stepping: u32,
}

fn get_common_indices<S: CpuidSource>(
    cf: &mut CpuFeatures,
    src: &mut S,
    read_leaf1: bool,
    minsigstksz: &mut u64,
) -> Fms {
    let mut fms = Fms {
        family: 0,
        model: 0,
        extended_model: 0,
        stepping: 0,
    };
    if read_leaf1 {
        let r = src.cpuid(1, 0);
        cf.features[l::L1].cpuid = r;
        let eax = r[0];
        fms.family = (eax >> 8) & 0x0f;
        fms.model = (eax >> 4) & 0x0f;
        fms.extended_model = (eax >> 12) & 0xf0;
        fms.stepping = eax & 0x0f;
        if fms.family == 0x0f {
            fms.family += (eax >> 20) & 0xff;
            fms.model += fms.extended_model;
        }
    }
    let max = cf.max_cpuid;
    if max >= 7 {
        let l7 = src.cpuid(7, 0);
        cf.features[l::L7].cpuid = l7;
        // Sub-leaves above 7.0:EAX (max sub-leaf) are architecturally all-zero:
        // skip the trapping CPUID glibc would spend on them.
        if l7[0] >= 1 {
            cf.features[l::L7_ECX_1].cpuid = src.cpuid(7, 1);
        }
    }
    if max >= 0xd {
        cf.features[l::LD_ECX_1].cpuid = src.cpuid(0xd, 1);
    }
    if max >= 0x14 {
        cf.features[l::L14_ECX_0].cpuid = src.cpuid(0x14, 0);
    }
    if max >= 0x19 {
        cf.features[l::L19].cpuid = src.cpuid(0x19, 0);
    }
    // Emulated AT_MINSIGSTKSZ: only when the kernel gave none (or 0).
    if *minsigstksz == 0 {
        *minsigstksz = if max >= 0xd && cf.cpu_has(ft::OSXSAVE) {
            // rt_sigframe + return address, aligned to 16, padded to put the
            // XSAVE buffer on 64, then the buffer and FP_XSTATE_MAGIC2.
            let frame = align_up(440 + 8 + 15, 16) + (64 - 16);
            frame as u64 + src.cpuid(0xd, 0)[1] as u64 + 4
        } else {
            MINSIGSTKSZ
        };
    }
    fms
}

fn get_extended_indices<S: CpuidSource>(cf: &mut CpuFeatures, src: &mut S) {
    let max_ext = src.cpuid(0x8000_0000, 0)[0];
    if max_ext >= 0x8000_0001 {
        cf.features[l::L80000001].cpuid = src.cpuid(0x8000_0001, 0);
    }
    if max_ext >= 0x8000_0007 {
        cf.features[l::L80000007].cpuid = src.cpuid(0x8000_0007, 0);
    }
    if max_ext >= 0x8000_0008 {
        cf.features[l::L80000008].cpuid = src.cpuid(0x8000_0008, 0);
    }
}

fn update_active<S: CpuidSource>(cf: &mut CpuFeatures, src: &mut S) {
    for &f in ALWAYS_USABLE {
        cf.set_active(f);
    }
    if !cf.cpu_has(ft::RTM_ALWAYS_ABORT) {
        cf.set_active(ft::RTM);
    }
    // IBT/SHSTK: a CET build would mark them here and clear them again once the
    // kernel reports no CET status (always the case for glibc 2.36's interface).

    if cf.cpu_has(ft::OSXSAVE) {
        let x = src.xgetbv0();
        if x & (xcr0::YMM | xcr0::XMM) == xcr0::YMM | xcr0::XMM {
            if cf.cpu_has(ft::AVX) {
                cf.set(ft::AVX);
                if cf.cpu_has(ft::AVX2) {
                    cf.set(ft::AVX2);
                    cf.preferred[0] |= pref::AVX_FAST_UNALIGNED_LOAD;
                }
                for &f in AVX_DEPENDENT {
                    cf.set_active(f);
                }
            }
            let zmm = xcr0::OPMASK | xcr0::ZMM0_15 | xcr0::ZMM16_31;
            if x & zmm == zmm && cf.cpu_has(ft::AVX512F) {
                cf.set(ft::AVX512F);
                for &f in AVX512_DEPENDENT {
                    cf.set_active(f);
                }
            }
        }
        let tile = xcr0::XTILECFG | xcr0::XTILEDATA;
        if x & tile == tile {
            cf.set_active(ft::AMX_BF16);
            cf.set_active(ft::AMX_TILE);
            cf.set_active(ft::AMX_INT8);
        }
        cf.set(ft::XSAVE);
        cf.set_active(ft::XSAVEOPT);
        cf.set_active(ft::XSAVEC);
        cf.set_active(ft::XGETBV_ECX_1);
        cf.set_active(ft::XFD);

        if cf.max_cpuid >= 0xd {
            xsave_sizes(cf, src);
        }
    }
    if cf.cpu_has(ft::OSPKE) {
        cf.set(ft::PKU);
    }
    if cf.cpu_has(ft::AESKLE) {
        cf.set(ft::AESKLE);
        cf.set_active(ft::KL);
        cf.set_active(ft::WIDE_KL);
    }
    cf.isa_1 = isa_level(cf);
}

/// Sizes of the lazy-binding trampoline's save area (standard and compacted form).
fn xsave_sizes<S: CpuidSource>(cf: &mut CpuFeatures, src: &mut S) {
    let ebx = src.cpuid(0xd, 0)[1];
    if ebx == 0 {
        return;
    }
    let full = align_up(ebx.wrapping_add(STATE_SAVE_OFFSET), 64);
    cf.xsave_state_size = full as u64;
    cf.xsave_state_full_size = full;
    if !cf.cpu_has(ft::XSAVEC) {
        return;
    }
    // Compacted layout: x87 (160) and SSE (256) are fixed, the extended
    // components follow from offset 576, each 64-aligned if CPUID says so.
    // A 0xD sub-leaf n >= 2 is invalid, and reads as all zeros, unless 0xD.0:EAX or
    // 0xD.1:ECX has bit n set (SDM vol. 2A, CPUID leaf 0DH): no need to execute it.
    let valid = xsave_valid_subleaves(src, cf);
    let mut prev_off: u32 = 576;
    let mut prev_size: u32 = 0;
    for i in 2..32u32 {
        let (size, ecx) = if STATE_SAVE_MASK & valid & (1 << i) != 0 {
            let r = src.cpuid(0xd, i);
            (r[0], r[2])
        } else {
            (0, 0)
        };
        let off = if i > 2 {
            let o = prev_off.wrapping_add(prev_size);
            if ecx & (1 << 1) != 0 {
                align_up(o, 64)
            } else {
                o
            }
        } else {
            576
        };
        prev_off = off;
        prev_size = size;
    }
    let total = prev_off.wrapping_add(prev_size);
    if total != 0 {
        cf.xsave_state_size = align_up(total.wrapping_add(STATE_SAVE_OFFSET), 64) as u64;
        cf.set(ft::XSAVEC);
    }
}

/// XSAVE state components (bits 0-31) whose 0xD sub-leaf carries information.
fn xsave_valid_subleaves<S: CpuidSource>(src: &mut S, cf: &CpuFeatures) -> u32 {
    src.cpuid(0xd, 0)[0] | cf.features[l::LD_ECX_1].cpuid[2]
}

/// glibc's `get_isa_level`: x86-64 baseline/v2/v3/v4 from usable bits.
pub fn isa_level(cf: &CpuFeatures) -> u32 {
    let all = |fs: &[Feature]| fs.iter().all(|&f| cf.usable(f));
    let mut level = 0;
    if all(&[ft::CMOV, ft::CX8, ft::FXSR, ft::MMX, ft::SSE, ft::SSE2]) && cf.cpu_has(ft::FPU) {
        level |= isa::BASELINE;
        if all(&[
            ft::CMPXCHG16B,
            ft::LAHF64_SAHF64,
            ft::POPCNT,
            ft::SSE3,
            ft::SSSE3,
            ft::SSE4_1,
            ft::SSE4_2,
        ]) {
            level |= isa::V2;
            if all(&[
                ft::AVX,
                ft::AVX2,
                ft::BMI1,
                ft::BMI2,
                ft::F16C,
                ft::FMA,
                ft::LZCNT,
                ft::MOVBE,
            ]) {
                level |= isa::V3;
                if all(&[
                    ft::AVX512F,
                    ft::AVX512BW,
                    ft::AVX512CD,
                    ft::AVX512DQ,
                    ft::AVX512VL,
                ]) {
                    level |= isa::V4;
                }
            }
        }
    }
    level
}

fn intel_preferences(cf: &mut CpuFeatures, fms: &mut Fms) {
    if fms.family == 0x06 {
        fms.model += fms.extended_model;
        let fast_strings = pref::FAST_REP_STRING
            | pref::FAST_UNALIGNED_LOAD
            | pref::FAST_UNALIGNED_COPY
            | pref::PREFER_PMINUB_FOR_STRINGOP;
        match fms.model {
            // Atom (Bonnell): BSF is slow.
            0x1c | 0x26 => cf.preferred[0] |= pref::SLOW_BSF,
            // Silvermont, Airmont, Goldmont (Plus), Knights Landing.
            0x57 | 0x7a | 0x5c | 0x5f | 0x4c | 0x5a | 0x75 | 0x37 | 0x4a | 0x4d | 0x5d => {
                cf.preferred[0] |= pref::FAST_UNALIGNED_LOAD
                    | pref::FAST_UNALIGNED_COPY
                    | pref::PREFER_PMINUB_FOR_STRINGOP
                    | pref::SLOW_SSE4_2
            }
            // Tremont.
            0x86 | 0x96 | 0x9c => cf.preferred[0] |= fast_strings | pref::SLOW_SSE4_2,
            // Nehalem/Westmere.
            0x1a | 0x1e | 0x1f | 0x25 | 0x2c | 0x2e | 0x2f => cf.preferred[0] |= fast_strings,
            // Unknown model: treated as a Core processor when it has AVX.
            _ => {
                if cf.cpu_has(ft::AVX) {
                    cf.preferred[0] |= fast_strings
                }
            }
        }

        // TSX errata: models whose microcode may leave broken TSX enabled.
        let disable_tsx = |cf: &mut CpuFeatures| {
            cf.unset(ft::HLE);
            cf.unset(ft::RTM);
            cf.set(ft::RTM_ALWAYS_ABORT);
        };
        match fms.model {
            0x55 if fms.stepping <= 5 => disable_tsx(cf),
            0x8e | 0x9e if fms.stepping <= 0xc => disable_tsx(cf),
            0x4e | 0x5e => disable_tsx(cf),
            0x3f if fms.stepping < 4 => cf.unset(ft::RTM),
            0x3c | 0x45 | 0x46 => cf.unset(ft::RTM),
            _ => {}
        }
    }

    if cf.cpu_has(ft::AVX512ER) {
        cf.preferred[0] |= pref::PREFER_NO_VZEROUPPER;
    } else {
        if !cf.cpu_has(ft::AVX_VNNI) {
            cf.preferred[0] |= pref::PREFER_NO_AVX512;
        }
        if cf.usable(ft::RTM) {
            cf.preferred[0] |= pref::PREFER_NO_VZEROUPPER;
        }
    }
    if cf.cpu_has(ft::FSRM) {
        cf.preferred[0] |= pref::AVOID_SHORT_DISTANCE_REP_MOVSB;
    }
}

fn amd_preferences(cf: &mut CpuFeatures, fms: &Fms) {
    if cf.usable(ft::AVX) {
        cf.set_active(ft::FMA4);
    }
    // Excavator.
    if fms.family == 0x15 && (0x60..=0x7f).contains(&fms.model) {
        cf.preferred[0] |= pref::FAST_UNALIGNED_LOAD | pref::FAST_COPY_BACKWARD;
        cf.preferred[0] &= !pref::AVX_FAST_UNALIGNED_LOAD;
    }
}

fn zhaoxin_preferences(cf: &mut CpuFeatures, fms: &mut Fms) {
    fms.model += fms.extended_model;
    let no_avx = |cf: &mut CpuFeatures, slow_sse42: bool| {
        cf.unset(ft::AVX);
        cf.unset(ft::AVX2);
        if slow_sse42 {
            cf.preferred[0] |= pref::SLOW_SSE4_2;
        }
        cf.preferred[0] &= !pref::AVX_FAST_UNALIGNED_LOAD;
    };
    match (fms.family, fms.model) {
        (6, 0xf) | (6, 0x19) | (7, 0x1b) => no_avx(cf, true),
        (7, 0x3b) => no_avx(cf, false),
        _ => {}
    }
    // glibc decodes the stepping into a block-local variable here, so the
    // stored stepping stays 0 for this vendor.
    fms.stepping = 0;
}

/// HWCAP bits ld.so reports on x86-64 (dl-hwcap.h).
pub const HWCAP_X86_64: u64 = 1 << 1;
pub const HWCAP_X86_AVX512_1: u64 = 1 << 2;

pub(crate) fn init<'a, S: CpuidSource>(
    src: &mut S,
    tun: &Tunables<'_>,
    aux: &Auxv<'a>,
) -> (CpuFeatures, CpuInfo<'a>) {
    let mut cf = CpuFeatures::ZERO;
    let mut minsig = aux.minsigstksz.unwrap_or(0);

    let r0 = src.cpuid(0, 0);
    cf.max_cpuid = r0[0] as i32;
    let vendor = [r0[1], r0[2], r0[3]];

    let kind;
    let mut fms;
    if vendor == GENUINE_INTEL {
        kind = Kind::Intel;
        fms = get_common_indices(&mut cf, src, true, &mut minsig);
        get_extended_indices(&mut cf, src);
        update_active(&mut cf, src);
        intel_preferences(&mut cf, &mut fms);
    } else if vendor == AUTHENTIC_AMD || vendor == HYGON_GENUINE {
        kind = Kind::Amd;
        fms = get_common_indices(&mut cf, src, true, &mut minsig);
        get_extended_indices(&mut cf, src);
        update_active(&mut cf, src);
        amd_preferences(&mut cf, &fms);
    } else if vendor == CENTAUR_HAULS || vendor == SHANGHAI {
        kind = Kind::Zhaoxin;
        fms = get_common_indices(&mut cf, src, true, &mut minsig);
        get_extended_indices(&mut cf, src);
        update_active(&mut cf, src);
        zhaoxin_preferences(&mut cf, &mut fms);
    } else {
        kind = Kind::Other;
        fms = get_common_indices(&mut cf, src, false, &mut minsig);
        update_active(&mut cf, src);
    }

    if cf.cpu_has(ft::CX8) {
        cf.preferred[0] |= pref::I586;
    }
    if cf.cpu_has(ft::CMOV) {
        cf.preferred[0] |= pref::I686;
    }

    cf.kind = kind as u32;
    cf.family = fms.family;
    cf.model = fms.model;
    cf.stepping = fms.stepping;

    let cache_bounds = init_cacheinfo(&mut cf, src, tun);

    if let Some(h) = tun.hwcaps {
        apply_hwcaps(&mut cf, h);
    }

    let mut no_xsave = false;
    if !cf.usable(ft::OSXSAVE) {
        for f in [
            ft::XSAVE,
            ft::XSAVEOPT,
            ft::XSAVEC,
            ft::XGETBV_ECX_1,
            ft::XFD,
        ] {
            cf.unset(f);
        }
        no_xsave = true;
    }
    if no_xsave || (!cf.usable(ft::XSAVE) && !cf.usable(ft::XSAVEC)) {
        cf.xsave_state_size = 0;
        for &f in NEED_XSAVE {
            cf.unset(f);
        }
    }

    let mut hwcap = HWCAP_X86_64;
    let mut platform: Option<&'static str> = None;
    if kind == Kind::Intel {
        if cf.usable(ft::AVX512CD) {
            if cf.usable(ft::AVX512ER) {
                if cf.usable(ft::AVX512PF) {
                    platform = Some("xeon_phi");
                }
            } else if cf.usable(ft::AVX512BW) && cf.usable(ft::AVX512DQ) && cf.usable(ft::AVX512VL)
            {
                hwcap |= HWCAP_X86_AVX512_1;
            }
        }
        if platform.is_none()
            && [
                ft::AVX2,
                ft::FMA,
                ft::BMI1,
                ft::BMI2,
                ft::LZCNT,
                ft::MOVBE,
                ft::POPCNT,
            ]
            .iter()
            .all(|&f| cf.usable(f))
        {
            platform = Some("haswell");
        }
    }
    // CET status is never reported to glibc 2.36 by current kernels: IBT/SHSTK unusable.
    cf.unset(ft::IBT);
    cf.unset(ft::SHSTK);

    let final_isa = isa_level(&cf);
    let subdirs_active = [isa::V2, isa::V3, isa::V4]
        .iter()
        .take_while(|&&b| final_isa & b != 0)
        .count() as u32;
    let plat = match platform {
        Some(p) => Some(p.as_bytes()),
        None => aux.platform.filter(|p| !p.is_empty()),
    };
    let info = CpuInfo {
        kind,
        platform: plat,
        platform_overridden: platform.is_some(),
        hwcap,
        hwcap2: aux.hwcap2,
        isa_level: final_isa,
        hwcaps_subdirs_active: hwcaps_bitmask(3, subdirs_active),
        hwcaps_level: 1 + subdirs_active as u8,
        minsigstacksize: minsig,
        xsave_state_size: cf.xsave_state_size,
        cache_bounds,
    };
    (cf, info)
}

/// `_dl_hwcaps_subdirs_build_bitmask`: the last `active` of `subdirs` entries set,
/// the list being ordered most-capable first ("x86-64-v4:x86-64-v3:x86-64-v2").
fn hwcaps_bitmask(subdirs: u32, active: u32) -> u32 {
    let inactive = subdirs - active;
    let mask = (1u32 << subdirs) - 1;
    mask ^ ((1u32 << inactive) - 1)
}
