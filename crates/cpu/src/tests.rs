//! Host unit tests: replay this machine's recorded CPUID leaves (checked against glibc's
//! dump), plus synthetic Intel/AMD/Zhaoxin/other CPUs whose expected values are worked out by hand.

use crate::features::{self as ft, Feature, isa, pref};
use crate::layout::{CpuFeatures, Kind, leaf as l, off, reg as r};
use crate::source::{Leaf, Memo, Recorded};
use crate::tunables::apply_hwcaps;
use crate::{Auxv, CpuInfo, Tunables, cache_sysconf, compute};
use std::string::{String, ToString};
use std::vec::Vec;

const fn lf(leaf: u32, subleaf: u32, regs: [u32; 4]) -> Leaf {
    Leaf {
        leaf,
        subleaf,
        regs,
    }
}

/// AMD EPYC (Zen 3, family 0x19) under KVM: what `Memo::recorded` captured here.
const AMD_ZEN3: &[Leaf] = &[
    lf(0x0, 0, [0x00000010, 0x68747541, 0x444d4163, 0x69746e65]),
    lf(0x1, 0, [0x00a00f11, 0x01020800, 0xfffa3203, 0x178bfbff]),
    lf(0x7, 0, [0x00000000, 0x219c07ab, 0x0040069c, 0x88000010]),
    lf(0x7, 1, [0x00000000, 0x00000000, 0x00000000, 0x00000000]),
    lf(0xd, 1, [0x0000000f, 0x00000370, 0x00001800, 0x00000000]),
    lf(0xd, 0, [0x00000207, 0x00000988, 0x00000988, 0x00000000]),
    lf(
        0x80000000,
        0,
        [0x80000022, 0x68747541, 0x444d4163, 0x69746e65],
    ),
    lf(
        0x80000001,
        0,
        [0x00a00f11, 0x40000000, 0x004003f3, 0x2fd3fbff],
    ),
    lf(
        0x80000007,
        0,
        [0x00000000, 0x00000000, 0x00000000, 0x00000100],
    ),
    lf(
        0x80000008,
        0,
        [0x00303030, 0x130ad205, 0x00007001, 0x00000000],
    ),
    lf(0xd, 2, [0x00000100, 0x00000240, 0x00000000, 0x00000000]),
    lf(0xd, 3, [0, 0, 0, 0]),
    lf(0xd, 5, [0, 0, 0, 0]),
    lf(0xd, 6, [0, 0, 0, 0]),
    lf(0xd, 7, [0, 0, 0, 0]),
    lf(
        0x80000005,
        0,
        [0xff40ff40, 0xff40ff40, 0x20080140, 0x20080140],
    ),
    lf(
        0x80000006,
        0,
        [0x48002200, 0x68004200, 0x02006140, 0x08009140],
    ),
    lf(
        0x8000001d,
        3,
        [0x00004163, 0x03c0003f, 0x00007fff, 0x00000001],
    ),
];
const AMD_ZEN3_XCR0: u64 = 0x207;
/// glibc 2.36's bytes on that machine (tests/oracle dump, no tunables).
const AMD_ZEN3_GLIBC: &str = include_str!("../tests/data/amd-epyc-zen3.glibc-features.hex");

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn bits(leaf: usize, reg: usize, fs: &[Feature]) -> u32 {
    fs.iter()
        .filter(|f| f.leaf == leaf && f.reg == reg)
        .fold(0, |a, f| a | 1 << f.bit)
}

fn run<'a>(
    leaves: &[Leaf],
    xcr0: u64,
    tun: &Tunables<'_>,
    aux: &Auxv<'a>,
) -> (CpuFeatures, CpuInfo<'a>, u32) {
    let mut m = Memo::new(Recorded { leaves, xcr0 });
    let (cf, info) = compute(&mut m, tun, aux);
    (cf, info, m.forwarded)
}

fn aux_x86_64() -> Auxv<'static> {
    Auxv {
        platform: Some(b"x86_64"),
        hwcap2: 2,
        minsigstksz: Some(3376),
    }
}

#[test]
fn amd_zen3_replay_matches_glibc_bytes() {
    let (cf, info, n) = run(AMD_ZEN3, AMD_ZEN3_XCR0, &Tunables::default(), &aux_x86_64());
    assert_eq!(cf.to_bytes().to_vec(), unhex(AMD_ZEN3_GLIBC));
    // glibc: 41 on this CPU (stepcount); 7.1 and 0xD.3/5/6/7 are provably zero here.
    assert_eq!(n, 13);
    assert_eq!(info.kind, Kind::Amd);
    assert_eq!(info.platform, Some(&b"x86_64"[..]));
    assert!(!info.platform_overridden);
    assert_eq!(info.hwcap, 2);
    assert_eq!(info.hwcaps_level, 3);
    assert_eq!(info.hwcaps_subdirs_active, 0b110);
    assert_eq!(cf.isa_1, isa::BASELINE | isa::V2 | isa::V3);
    // AMD: REP MOVSB stops at the L2 size; L4 is never asked.
    assert_eq!(cf.rep_movsb_stop_threshold, cf.level2_cache_size);
    assert_eq!(cf.level4_cache_size, u64::MAX);
    assert_eq!(cache_sysconf(&cf)[1], -1);
}

#[test]
fn minsigstacksize_emulated_from_xsave_size() {
    let aux = Auxv {
        minsigstksz: None,
        ..aux_x86_64()
    };
    let (_, info, n) = run(AMD_ZEN3, AMD_ZEN3_XCR0, &Tunables::default(), &aux);
    // 448-byte frame + 15, to 16, + 48 padding = 512; XSAVE size 0x988; magic 4.
    assert_eq!(info.minsigstacksize, 512 + 0x988 + 4);
    assert_eq!(n, 13, "0xD.0 is shared with update_active");
    let aux0 = Auxv {
        minsigstksz: Some(0),
        ..aux_x86_64()
    };
    let (_, info0, _) = run(AMD_ZEN3, AMD_ZEN3_XCR0, &Tunables::default(), &aux0);
    assert_eq!(info0.minsigstacksize, info.minsigstacksize);
}

#[test]
fn memo_never_repeats_a_leaf() {
    let mut m = Memo::new(Recorded {
        leaves: AMD_ZEN3,
        xcr0: AMD_ZEN3_XCR0,
    });
    let _ = compute(&mut m, &Tunables::default(), &aux_x86_64());
    let rec = m.recorded();
    for (i, a) in rec.iter().enumerate() {
        assert!(
            rec.iter()
                .skip(i + 1)
                .all(|b| (a.leaf, a.subleaf) != (b.leaf, b.subleaf))
        );
    }
    assert_eq!(rec.len() as u32, m.forwarded);
}

/// An Emerald-Rapids-like Intel CPU (family 6 model 0xcf) with AVX-512 and a
/// non-inclusive L3 described by leaf 4, topology by leaf 11.
fn intel_leaves() -> Vec<Leaf> {
    let l1 = [
        ft::SSE3,
        ft::PCLMULQDQ,
        ft::SSSE3,
        ft::FMA,
        ft::CMPXCHG16B,
        ft::SSE4_1,
        ft::SSE4_2,
        ft::MOVBE,
        ft::POPCNT,
        ft::AES,
        ft::XSAVE,
        ft::OSXSAVE,
        ft::AVX,
        ft::F16C,
        ft::RDRAND,
        ft::FPU,
        ft::TSC,
        ft::CX8,
        ft::CMOV,
        ft::CLFSH,
        ft::MMX,
        ft::FXSR,
        ft::SSE,
        ft::SSE2,
        ft::HTT,
    ];
    let l7 = [
        ft::BMI1,
        ft::HLE,
        ft::AVX2,
        ft::BMI2,
        ft::ERMS,
        ft::RTM,
        ft::AVX512F,
        ft::AVX512DQ,
        ft::AVX512CD,
        ft::AVX512BW,
        ft::AVX512VL,
        ft::AVX512_VBMI,
        ft::SHSTK,
        ft::FSRM,
        ft::IBT,
        ft::AMX_TILE,
    ];
    let l7_1 = [ft::AVX_VNNI, ft::AVX512_BF16];
    let ext = [ft::LAHF64_SAHF64, ft::LZCNT, ft::PREFETCHW, ft::RDTSCP];
    let b = |leaf, reg, fs: &[Feature]| bits(leaf, reg, fs);
    // Leaf 4 entry: type, level, sharing-1; ways, line, sets.
    let c4 = |ty: u32, level: u32, share: u32, ways: u32, sets: u32, edx: u32| {
        [
            ty | level << 5 | share << 14,
            (ways - 1) << 22 | 63,
            sets - 1,
            edx,
        ]
    };
    Vec::from([
        lf(0, 0, [0x1c, 0x756e6547, 0x6c65746e, 0x49656e69]),
        lf(
            1,
            0,
            [
                0x000c06f2,
                0x00800800,
                b(l::L1, r::ECX, &l1),
                b(l::L1, r::EDX, &l1),
            ],
        ),
        lf(2, 0, [0x00feff01, 0, 0, 0]),
        lf(4, 0, c4(1, 1, 1, 12, 64, 0)),
        lf(4, 1, c4(2, 1, 1, 8, 64, 0)),
        lf(4, 2, c4(3, 2, 1, 16, 2048, 0)),
        lf(4, 3, c4(3, 3, 127, 15, 114688, 0)),
        lf(
            7,
            0,
            [
                1,
                b(l::L7, r::EBX, &l7),
                b(l::L7, r::ECX, &l7),
                b(l::L7, r::EDX, &l7),
            ],
        ),
        lf(7, 1, [b(l::L7_ECX_1, r::EAX, &l7_1), 0, 0, 0]),
        lf(0xb, 0, [1, 2, 0x100, 0]),
        lf(0xb, 1, [7, 64, 0x201, 0]),
        lf(0xd, 0, [0x2e7, 0xa80, 0xa80, 0]),
        lf(0xd, 1, [0x1f, 0, 0, 0]),
        lf(0xd, 2, [256, 576, 0, 0]),
        lf(0xd, 5, [64, 1088, 0, 0]),
        lf(0xd, 6, [512, 1152, 0, 0]),
        lf(0xd, 7, [1024, 1664, 0, 0]),
        lf(0x80000000, 0, [0x80000008, 0, 0, 0]),
        lf(
            0x80000001,
            0,
            [
                0,
                0,
                b(l::L80000001, r::ECX, &ext),
                b(l::L80000001, r::EDX, &ext),
            ],
        ),
        lf(0x80000008, 0, [0x3030, 1 << 9, 0, 0]),
    ])
}

#[test]
fn intel_emerald_rapids_like() {
    let leaves = intel_leaves();
    let (cf, info, n) = run(&leaves, 0x2e7, &Tunables::default(), &aux_x86_64());
    assert_eq!(cf.kind, Kind::Intel as u32);
    assert_eq!((cf.family, cf.model, cf.stepping), (6, 0xcf, 2));
    // Same preference word and sizes as §6 of the ABI doc (measured on such a CPU).
    assert_eq!(cf.preferred[0], 0x86f9);
    assert_eq!(cf.isa_1, 0xf);
    assert_eq!(cf.xsave_state_size, 0x9c0);
    assert_eq!(cf.xsave_state_full_size, 0xac0);
    assert!(cf.usable(ft::XSAVEC) && cf.usable(ft::AVX512VL) && cf.usable(ft::RTM));
    assert!(!cf.usable(ft::IBT) && !cf.usable(ft::SHSTK) && !cf.usable(ft::AMX_TILE));
    // Leaf 2 says "see leaf 4"; no L4 in the enumeration → -1.
    assert_eq!(cf.level1_dcache_size, 0xc000);
    assert_eq!(cf.level1_dcache_assoc, 12);
    assert_eq!(cf.level1_icache_size, 0x8000);
    assert_eq!(cf.level2_cache_size, 0x200000);
    assert_eq!(cf.level3_cache_size, 110_100_480);
    assert_eq!(cf.level3_cache_assoc, 15);
    assert_eq!(cf.level4_cache_size, u64::MAX);
    // Leaf 11: 2 threads/core share L2, 64 share L3; L3 non-inclusive adds L2.
    let shared = 110_100_480 + 0x200000;
    assert_eq!(cf.shared_cache_size, shared);
    assert_eq!(cf.data_cache_size, 0xc000);
    assert_eq!(cf.non_temporal_threshold, shared / 4);
    assert_eq!(cf.rep_movsb_stop_threshold, shared / 4);
    assert_eq!(cf.rep_movsb_threshold, 2112);
    assert_eq!(cf.rep_stosb_threshold, 2048);
    assert_eq!(info.platform, Some(&b"haswell"[..]));
    assert_eq!(info.hwcap, 6);
    assert_eq!(info.hwcaps_level, 4);
    assert_eq!(info.hwcaps_subdirs_active, 0b111);
    // 16 feature/xsave leaves (no 0xD.3: MPX absent) + leaf 2 + 4.0-4.4 + 11.0-11.1
    // (glibc: 68 on such a CPU).
    assert_eq!(n, 24);
}

#[test]
fn intel_tunables_change_platform_and_level_but_not_isa_1() {
    let leaves = intel_leaves();
    let tun = Tunables {
        hwcaps: Some(b"-AVX512BW,-Prefer_No_VZEROUPPER,Prefer_No_AVX512"),
        x86_rep_movsb_threshold: Some(300),
        x86_non_temporal_threshold: Some(0x4040),
        ..Tunables::default()
    };
    let (cf, info, _) = run(&leaves, 0x2e7, &tun, &aux_x86_64());
    assert!(!cf.usable(ft::AVX512BW));
    assert_eq!(cf.isa_1, 0xf, "isa_1 is computed before the tunables");
    assert_eq!(info.hwcaps_level, 3);
    assert_eq!(info.hwcap, 2, "AVX512_1 needs AVX512BW");
    assert_eq!(info.platform, Some(&b"haswell"[..]));
    assert!(!cf.preferred(pref::PREFER_NO_VZEROUPPER));
    assert!(cf.preferred(pref::PREFER_NO_AVX512));
    // 300 is below the AVX-512 minimum (512); 0x4040 is not above the NT minimum.
    assert_eq!(cf.rep_movsb_threshold, 2112);
    assert_ne!(cf.non_temporal_threshold, 0x4040);
    let tun = Tunables {
        hwcaps: Some(b"-AVX2"),
        x86_rep_movsb_threshold: Some(513),
        ..Tunables::default()
    };
    let (cf, info, _) = run(&leaves, 0x2e7, &tun, &aux_x86_64());
    assert_eq!(cf.rep_movsb_threshold, 513);
    assert_eq!(info.platform, Some(&b"x86_64"[..]), "haswell needs AVX2");
}

#[test]
fn intel_tsx_errata_and_xcr0_gating() {
    let mut leaves = intel_leaves();
    // Skylake client (model 0x8e, stepping 0xa): TSX disabled, RTM_ALWAYS_ABORT set.
    leaves[1].regs[0] = 0x000806ea;
    // The OS enables only x87/SSE: no AVX at all, so no platform.
    let (cf, info, _) = run(&leaves, 0x3, &Tunables::default(), &aux_x86_64());
    assert_eq!(cf.model, 0x8e);
    assert!(!cf.usable(ft::RTM) && !cf.usable(ft::HLE) && cf.usable(ft::RTM_ALWAYS_ABORT));
    assert!(!cf.usable(ft::AVX) && !cf.usable(ft::AVX2) && !cf.usable(ft::FMA));
    assert!(!cf.usable(ft::AVX512F));
    assert!(!cf.preferred(pref::AVX_FAST_UNALIGNED_LOAD));
    assert!(!cf.preferred(pref::PREFER_NO_VZEROUPPER), "RTM unusable");
    assert_eq!(info.hwcaps_level, 2);
    assert_eq!(info.platform, Some(&b"x86_64"[..]));
    assert_eq!(cf.rep_movsb_threshold, 2112);
}

#[test]
fn amd_excavator_without_l3() {
    let leaves = [
        lf(0, 0, [0xd, 0x68747541, 0x444d4163, 0x69746e65]),
        // family 0xf + 0x6 = 0x15, model 0x0 + 0x60.
        lf(
            1,
            0,
            [
                0x00660f01,
                0x00040800,
                1 << 28 | 1 << 27,
                1 << 8 | 1 << 15 | 1 << 28,
            ],
        ),
        lf(0x80000000, 0, [0x8000001e, 0, 0, 0]),
        lf(0x80000001, 0, [0, 0, 1 << 16, 0]),
        lf(0x80000005, 0, [0, 0, 0x20080140, 0x40020140]),
        // L2 1 MiB 16-way (code 8), no L3.
        lf(0x80000006, 0, [0, 0, 0x04008140, 0]),
        lf(0xd, 0, [0x7, 0x340, 0x3c0, 0]),
    ];
    let (cf, info, _) = run(&leaves, 0x7, &Tunables::default(), &Auxv::default());
    assert_eq!((cf.family, cf.model), (0x15, 0x60));
    assert!(cf.usable(ft::FMA4), "FMA4 follows usable AVX on AMD");
    assert!(cf.preferred(pref::FAST_UNALIGNED_LOAD | pref::FAST_COPY_BACKWARD));
    assert_eq!(cf.level1_dcache_size, 32 * 1024);
    assert_eq!(cf.level1_icache_size, 64 * 1024);
    assert_eq!(cf.level2_cache_size, 1 << 20);
    assert_eq!(cf.level2_cache_assoc, 16);
    assert_eq!(cf.level3_cache_size, 0);
    // No L3: shared = L2, per-thread = L2.
    assert_eq!(cf.shared_cache_size, 1 << 20);
    assert_eq!(cf.non_temporal_threshold, (1 << 20) * 3 / 4);
    assert_eq!(cf.rep_movsb_stop_threshold, 1 << 20);
    assert_eq!(
        info.platform, None,
        "no AT_PLATFORM and AMD never overrides"
    );
    assert_eq!(info.minsigstacksize, 512 + 0x340 + 4);
}

#[test]
fn zhaoxin_drops_avx_and_stepping() {
    let leaves = [
        lf(0, 0, [0xd, 0x68532020, 0x20206961, 0x68676e61]),
        // family 7, ext model 0x10 + model 0xb = 0x1b, stepping 3.
        lf(
            1,
            0,
            [0x000107b3, 0, 1 << 28 | 1 << 27 | 1 << 20, 1 << 8 | 1 << 15],
        ),
        lf(7, 0, [0, 1 << 5, 0, 0]),
        lf(0xd, 0, [0x7, 0x340, 0x340, 0]),
        lf(4, 0, [0x21 | 1 << 14, (7 << 22) | 63, 63, 0]),
        lf(4, 1, [0x43, (15 << 22) | 63, 1023, 0]),
    ];
    let (cf, _, _) = run(&leaves, 0x7, &Tunables::default(), &Auxv::default());
    assert_eq!(cf.kind, Kind::Zhaoxin as u32);
    assert_eq!((cf.family, cf.model, cf.stepping), (7, 0x1b, 0));
    assert!(!cf.usable(ft::AVX) && !cf.usable(ft::AVX2));
    assert!(cf.preferred(pref::SLOW_SSE4_2));
    assert!(!cf.preferred(pref::AVX_FAST_UNALIGNED_LOAD));
    assert_eq!(cf.level1_dcache_size, 32 * 1024);
    assert_eq!(cf.level2_cache_size, 1 << 20);
    assert_eq!(cf.level3_cache_size, 0);
    assert_eq!(cf.level4_cache_size, u64::MAX, "zhaoxin leaves L4 unset");
}

#[test]
fn other_vendor_reads_no_leaf_1() {
    let leaves = [
        lf(0, 0, [0xd, 0x20202020, 0x20202020, 0x20202020]),
        lf(1, 0, [0x00a00f11, 0, u32::MAX, u32::MAX]),
        lf(7, 0, [0, 1 << 9, 0, 0]),
        lf(0xd, 0, [0x7, 0x340, 0x340, 0]),
    ];
    let (cf, info, n) = run(&leaves, 0x7, &Tunables::default(), &Auxv::default());
    assert_eq!(cf.kind, Kind::Other as u32);
    assert_eq!(cf.features[l::L1].cpuid, [0; 4]);
    assert!(cf.usable(ft::ERMS));
    assert_eq!(cf.preferred[0], 0);
    assert_eq!(cf.isa_1, 0);
    assert_eq!(info.hwcaps_level, 1);
    assert_eq!(info.hwcaps_subdirs_active, 0);
    assert_eq!(info.minsigstacksize, 2048, "OSXSAVE unknown without leaf 1");
    assert_eq!(cf.data_cache_size, u64::MAX);
    assert_eq!(cf.non_temporal_threshold, 0x4040);
    assert_eq!(cf.rep_movsb_threshold, 2048);
    assert_eq!(n, 3, "0, 7.0, 0xD.1; 7.1 is beyond 7.0:EAX");
}

#[test]
fn hwcaps_token_parsing() {
    let base = run(AMD_ZEN3, AMD_ZEN3_XCR0, &Tunables::default(), &aux_x86_64()).0;
    let apply = |s: &[u8]| {
        let mut c = base;
        apply_hwcaps(&mut c, s);
        c
    };
    // 2.36 has no "_Usable" names: a no-op.
    assert_eq!(apply(b"-AVX2_Usable"), base);
    assert!(!apply(b"-AVX2").usable(ft::AVX2));
    // Enabling a CPU feature is not possible.
    assert_eq!(apply(b"AVX2,SSE2"), base);
    // Continues past NUL into the next string, stops at an empty string.
    assert!(!apply(b"-BMI1\0x,-AVX2\0\0-ERMS").usable(ft::AVX2));
    assert!(apply(b"-BMI1\0x,-AVX2\0\0-ERMS").usable(ft::ERMS));
    assert!(apply(b"-BMI1\0\0-AVX2").usable(ft::AVX2));
    // Empty and trailing separators are harmless.
    assert_eq!(apply(b""), base);
    assert!(!apply(b",,-ERMS,").usable(ft::ERMS));
    // Preference needing a usable feature.
    assert!(!apply(b"Prefer_No_AVX512").preferred(pref::PREFER_NO_AVX512));
    assert!(apply(b"Slow_SSE4_2").preferred(pref::SLOW_SSE4_2));
    assert!(!apply(b"-SSE4_2,Slow_SSE4_2").preferred(pref::SLOW_SSE4_2));
    let c = apply(b"-XSAVEC");
    assert_eq!(c.xsave_state_size, c.xsave_state_full_size as u64);
}

/// The Rust layout against the recorded `gdb ptype /o struct cpu_features` of this
/// glibc build; re-run gdb when it and libc6-dbg are installed.
#[test]
fn layout_matches_gdb_ptype() {
    let rec = include_str!("../tests/data/gdb-ptype-cpu_features.txt");
    let fields: Vec<(usize, String)> = rec
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("/*")?;
            let (offs, tail) = rest.split_once('|')?;
            let o: usize = offs.trim().parse().ok()?;
            let decl = tail.split_once("*/")?.1.trim().trim_end_matches(';');
            let name = decl.rsplit(' ').next()?.split('[').next()?.to_string();
            Some((o, name))
        })
        .collect();
    let want: &[(&str, usize)] = &[
        ("kind", off::KIND),
        ("max_cpuid", off::MAX_CPUID),
        ("family", off::FAMILY),
        ("model", off::MODEL),
        ("stepping", off::STEPPING),
        ("features", off::FEATURES),
        ("preferred", off::PREFERRED),
        ("isa_1", off::ISA_1),
        ("xsave_state_size", off::XSAVE_STATE_SIZE),
        ("xsave_state_full_size", off::XSAVE_STATE_FULL_SIZE),
        ("data_cache_size", off::DATA_CACHE_SIZE),
        ("shared_cache_size", off::SHARED_CACHE_SIZE),
        ("non_temporal_threshold", off::NON_TEMPORAL_THRESHOLD),
        ("rep_movsb_threshold", off::REP_MOVSB_THRESHOLD),
        ("rep_movsb_stop_threshold", off::REP_MOVSB_STOP_THRESHOLD),
        ("rep_stosb_threshold", off::REP_STOSB_THRESHOLD),
        ("level1_icache_size", off::LEVEL1_ICACHE_SIZE),
        ("level4_cache_size", off::LEVEL4_CACHE_SIZE),
    ];
    for (name, o) in want {
        assert!(
            fields.iter().any(|(fo, fname)| fname == name && fo == o),
            "{name} at {o} not in gdb output"
        );
    }
    // Every 8-byte field from 336 on is in the serialization order of to_bytes.
    let tail: Vec<usize> = fields
        .iter()
        .filter(|(o, _)| *o >= off::DATA_CACHE_SIZE)
        .map(|(o, _)| *o)
        .collect();
    assert_eq!(tail, (0..18).map(|i| 336 + 8 * i).collect::<Vec<_>>());
    assert!(rec.contains("total size (bytes):  480"));

    let live = std::process::Command::new("gdb")
        .args(["-batch", "-ex", "ptype /o struct cpu_features"])
        .arg("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        .output();
    if let Ok(out) = live {
        let s = String::from_utf8_lossy(&out.stdout);
        if s.contains("struct cpu_features") {
            assert_eq!(s.trim(), rec.trim(), "ld.so's DWARF changed");
        }
    }
}

#[test]
fn bytes_round_trip() {
    let (cf, _, _) = run(&intel_leaves(), 0x2e7, &Tunables::default(), &aux_x86_64());
    assert_eq!(CpuFeatures::from_bytes(&cf.to_bytes()), cf);
    let b = cf.to_bytes();
    assert_eq!(
        u32::from_le_bytes(b[off::PREFERRED..off::PREFERRED + 4].try_into().unwrap()),
        0x86f9
    );
    assert_eq!(b[0x134 + 4..0x134 + 8], 0xfu32.to_le_bytes());
}
