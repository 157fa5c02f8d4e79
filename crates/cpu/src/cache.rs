//! glibc 2.36 `dl_init_cacheinfo`: cache geometry per vendor, per-thread share, and the
//! memcpy/memset thresholds (+ x86_* tunables). Signed/unsigned mixing mirrors glibc's C types.

use crate::Tunables;
use crate::features::{self as ft, pref};
use crate::layout::{CpuFeatures, Kind, leaf as l};
use crate::source::CpuidSource;

/// `_SC_LEVEL*` names relative to `_SC_LEVEL1_ICACHE_SIZE` (size, assoc, linesize triples).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(u32)]
pub enum Sc {
    L1iSize = 0,
    L1iAssoc = 1,
    L1iLine = 2,
    L1dSize = 3,
    L1dAssoc = 4,
    L1dLine = 5,
    L2Size = 6,
    L2Assoc = 7,
    L2Line = 8,
    L3Size = 9,
    L3Assoc = 10,
    L3Line = 11,
    L4Size = 12,
}

/// Bound on leaf 4 / leaf 11 enumeration (glibc loops until an empty entry).
const MAX_SUBLEAVES: u32 = 64;

/// Intel CPUID leaf 2 descriptor: (byte, assoc, linesize, level triple base, size).
/// Sorted by descriptor byte (binary-searched).
const INTEL_02: &[(u8, u8, u8, u32, u32)] = &[
    (0x06, 4, 32, 0, 8192),
    (0x08, 4, 32, 0, 16384),
    (0x09, 4, 32, 0, 32768),
    (0x0a, 2, 32, 3, 8192),
    (0x0c, 4, 32, 3, 16384),
    (0x0d, 4, 64, 3, 16384),
    (0x0e, 6, 64, 3, 24576),
    (0x21, 8, 64, 6, 262144),
    (0x22, 4, 64, 9, 524288),
    (0x23, 8, 64, 9, 1048576),
    (0x25, 8, 64, 9, 2097152),
    (0x29, 8, 64, 9, 4194304),
    (0x2c, 8, 64, 3, 32768),
    (0x30, 8, 64, 0, 32768),
    (0x39, 4, 64, 6, 131072),
    (0x3a, 6, 64, 6, 196608),
    (0x3b, 2, 64, 6, 131072),
    (0x3c, 4, 64, 6, 262144),
    (0x3d, 6, 64, 6, 393216),
    (0x3e, 4, 64, 6, 524288),
    (0x3f, 2, 64, 6, 262144),
    (0x41, 4, 32, 6, 131072),
    (0x42, 4, 32, 6, 262144),
    (0x43, 4, 32, 6, 524288),
    (0x44, 4, 32, 6, 1048576),
    (0x45, 4, 32, 6, 2097152),
    (0x46, 4, 64, 9, 4194304),
    (0x47, 8, 64, 9, 8388608),
    (0x48, 12, 64, 6, 3145728),
    (0x49, 16, 64, 6, 4194304),
    (0x4a, 12, 64, 9, 6291456),
    (0x4b, 16, 64, 9, 8388608),
    (0x4c, 12, 64, 9, 12582912),
    (0x4d, 16, 64, 9, 16777216),
    (0x4e, 24, 64, 6, 6291456),
    (0x60, 8, 64, 3, 16384),
    (0x66, 4, 64, 3, 8192),
    (0x67, 4, 64, 3, 16384),
    (0x68, 4, 64, 3, 32768),
    (0x78, 8, 64, 6, 1048576),
    (0x79, 8, 64, 6, 131072),
    (0x7a, 8, 64, 6, 262144),
    (0x7b, 8, 64, 6, 524288),
    (0x7c, 8, 64, 6, 1048576),
    (0x7d, 8, 64, 6, 2097152),
    (0x7f, 2, 64, 6, 524288),
    (0x80, 8, 64, 6, 524288),
    (0x82, 8, 32, 6, 262144),
    (0x83, 8, 32, 6, 524288),
    (0x84, 8, 32, 6, 1048576),
    (0x85, 8, 32, 6, 2097152),
    (0x86, 4, 64, 6, 524288),
    (0x87, 8, 64, 6, 1048576),
    (0xd0, 4, 64, 9, 524288),
    (0xd1, 4, 64, 9, 1048576),
    (0xd2, 4, 64, 9, 2097152),
    (0xd6, 8, 64, 9, 1048576),
    (0xd7, 8, 64, 9, 2097152),
    (0xd8, 8, 64, 9, 4194304),
    (0xdc, 12, 64, 9, 2097152),
    (0xdd, 12, 64, 9, 4194304),
    (0xde, 12, 64, 9, 8388608),
    (0xe2, 16, 64, 9, 2097152),
    (0xe3, 16, 64, 9, 4194304),
    (0xe4, 16, 64, 9, 8388608),
    (0xea, 24, 64, 9, 12582912),
    (0xeb, 24, 64, 9, 18874368),
    (0xec, 24, 64, 9, 25165824),
];

/// Answer `name` from deterministic cache parameters (leaf 4).
/// `None` = enumeration ended without a match.
fn leaf4_lookup<S: CpuidSource>(src: &mut S, name: u32, with_l4: bool) -> Option<i64> {
    let folded = (name / 3) * 3;
    for round in 0..MAX_SUBLEAVES {
        let [eax, ebx, ecx, _] = src.cpuid(4, round);
        let ty = eax & 0x1f;
        if ty == 0 {
            return None;
        }
        let level = (eax >> 5) & 7;
        let hit = (level == 1 && ty == 1 && folded == Sc::L1dSize as u32)
            || (level == 1 && ty == 2 && folded == Sc::L1iSize as u32)
            || (level == 2 && folded == Sc::L2Size as u32)
            || (level == 3 && folded == Sc::L3Size as u32)
            || (with_l4 && level == 4 && folded == Sc::L4Size as u32);
        if hit {
            let ways = (ebx >> 22) as i64 + 1;
            let line = (ebx & 0xfff) as i64 + 1;
            return Some(match name - folded {
                0 => ways * (((ebx >> 12) & 0x3ff) as i64 + 1) * line * (ecx as i64 + 1),
                1 => ways,
                _ => line,
            });
        }
    }
    None
}

struct IntelCtx {
    family: u32,
    model: u32,
    has_level_2: bool,
    no_level_2_or_3: bool,
}

fn intel_check_word<S: CpuidSource>(
    src: &mut S,
    mut name: u32,
    mut value: u32,
    ctx: &mut IntelCtx,
) -> i64 {
    if value & 0x8000_0000 != 0 {
        return 0;
    }
    let mut folded = (name / 3) * 3;
    while value != 0 {
        let byte = (value & 0xff) as u8;
        if byte == 0x40 {
            ctx.no_level_2_or_3 = true;
            if folded == Sc::L3Size as u32 {
                break;
            }
        } else if byte == 0xff {
            return leaf4_lookup(src, name, true).unwrap_or(-1);
        } else {
            if byte == 0x49 && folded == Sc::L3Size as u32 && ctx.family == 15 && ctx.model == 6 {
                // This model encodes its L3 with the descriptor other CPUs use for L2.
                name = Sc::L2Size as u32 + (name - Sc::L3Size as u32);
                folded = Sc::L2Size as u32;
            }
            if let Ok(i) = INTEL_02.binary_search_by_key(&byte, |e| e.0)
                && let Some(&(_, assoc, line, rel, size)) = INTEL_02.get(i)
            {
                if rel == folded {
                    return match name - folded {
                        0 => size as i64,
                        1 => assoc as i64,
                        _ => line as i64,
                    };
                }
                if rel == Sc::L2Size as u32 {
                    ctx.has_level_2 = true;
                }
            }
        }
        value >>= 8;
    }
    0
}

fn handle_intel<S: CpuidSource>(cf: &CpuFeatures, src: &mut S, name: Sc) -> i64 {
    if cf.max_cpuid < 2 {
        return -1;
    }
    let mut ctx = IntelCtx {
        family: cf.family,
        model: cf.model,
        has_level_2: false,
        no_level_2_or_3: false,
    };
    let name = name as u32;
    let r = src.cpuid(2, 0);
    if r[0] & 0xff != 1 {
        return intel_check_word(src, name, 0xff, &mut ctx);
    }
    let words = [r[0] & 0xffff_ff00, r[1], r[2], r[3]];
    for w in words {
        let res = intel_check_word(src, name, w, &mut ctx);
        if res != 0 {
            return res;
        }
    }
    if (Sc::L2Size as u32..=Sc::L3Line as u32).contains(&name) && ctx.no_level_2_or_3 {
        return -1;
    }
    0
}

fn amd_assoc(code: u32, size: u32, line: u32) -> i64 {
    match code {
        0 | 1 | 2 | 4 => code as i64,
        6 => 8,
        8 => 16,
        10 => 32,
        11 => 48,
        12 => 64,
        13 => 96,
        14 => 128,
        15 => size.checked_div(line).unwrap_or(0) as i64,
        _ => 0,
    }
}

fn handle_amd<S: CpuidSource>(src: &mut S, name: Sc) -> i64 {
    let max_ext = src.cpuid(0x8000_0000, 0)[0];
    if name > Sc::L3Line {
        return 0;
    }
    let leaf = 0x8000_0005 + (name >= Sc::L2Size) as u32;
    if max_ext < leaf {
        return 0;
    }
    let [_, _, mut ecx, edx] = src.cpuid(leaf, 0);
    let mut name = name;
    if name < Sc::L1dSize {
        // The L1 instruction cache is described in EDX with the data-cache encoding.
        name = match name {
            Sc::L1iSize => Sc::L1dSize,
            Sc::L1iAssoc => Sc::L1dAssoc,
            _ => Sc::L1dLine,
        };
        ecx = edx;
    }
    match name {
        Sc::L1dSize => ((ecx >> 14) & 0x3fc00) as i64,
        Sc::L1dAssoc => {
            let a = ecx >> 16;
            if a & 0xff == 0xff {
                ((a << 2) & 0x3fc00) as i64
            } else {
                (a & 0xff) as i64
            }
        }
        Sc::L1dLine => (ecx & 0xff) as i64,
        Sc::L2Size => {
            if ecx & 0xf000 == 0 {
                0
            } else {
                ((ecx >> 6) & 0x3fffc00) as i64
            }
        }
        Sc::L2Assoc => amd_assoc((ecx >> 12) & 0xf, (ecx >> 6) & 0x3fffc00, ecx & 0xff),
        Sc::L2Line => {
            if ecx & 0xf000 == 0 {
                0
            } else {
                (ecx & 0xff) as i64
            }
        }
        Sc::L3Size => {
            if edx & 0xf000 == 0 {
                0
            } else {
                ((edx & 0x3ffc0000) << 1) as i64
            }
        }
        Sc::L3Assoc => amd_assoc((edx >> 12) & 0xf, (edx & 0x3ffc0000) << 1, edx & 0xff),
        Sc::L3Line => {
            if edx & 0xf000 == 0 {
                0
            } else {
                (edx & 0xff) as i64
            }
        }
        _ => -1,
    }
}

fn handle_zhaoxin<S: CpuidSource>(src: &mut S, name: Sc) -> i64 {
    leaf4_lookup(src, name as u32, false).unwrap_or(0)
}

/// Index of the highest set bit (x86 BSR); 0 for 0, where glibc's operand is never 0.
fn bsr(v: i32) -> i32 {
    if v == 0 {
        0
    } else {
        31 - (v as u32).leading_zeros() as i32
    }
}

/// Threads sharing the last-level cache and the per-thread share (`get_common_cache_info`).
fn common_cache_info<S: CpuidSource>(
    cf: &CpuFeatures,
    src: &mut S,
    shared: &mut i64,
    shared_per_thread: &mut i64,
    threads: &mut u32,
    core: i64,
) {
    let max_cpuid = cf.max_cpuid;
    let family = cf.family;
    let model = cf.model;
    let intel = cf.kind == Kind::Intel as u32;
    let support_count_mask = !(cf.kind == Kind::Zhaoxin as u32 && family == 6);
    let mut inclusive_cache = true;
    let mut level = 3;
    let (mut threads_l2, mut threads_l3): (i32, i32);
    if *shared <= 0 {
        level = 2;
        *shared = core;
        *shared_per_thread = core;
        threads_l2 = 0;
        threads_l3 = -1;
    } else {
        threads_l2 = 0;
        threads_l3 = 0;
    }

    if cf.cpu_has(ft::HTT) {
        let mut no_cache_info = max_cpuid < 4;
        if !no_cache_info {
            let mut check = 1 | (((threads_l3 == 0) as u32) << 1);
            let mut i = 0;
            while check != 0 && i < MAX_SUBLEAVES {
                let [eax, _, _, edx] = src.cpuid(4, i);
                i += 1;
                if intel && eax & 0x1f == 0 {
                    no_cache_info = true;
                    break;
                }
                match (eax >> 5) & 7 {
                    2 if check & 1 != 0 => {
                        threads_l2 = ((eax >> 14) & 0x3ff) as i32;
                        check &= !1;
                    }
                    3 if check & 2 != 0 => {
                        threads_l3 = ((eax >> 14) & 0x3ff) as i32;
                        inclusive_cache = edx & 2 != 0;
                        check &= !2;
                    }
                    _ => {}
                }
            }
        }
        if !no_cache_info {
            // Leaf 4 counts addressable IDs; leaf 11 gives the real thread counts.
            if max_cpuid >= 11 && support_count_mask {
                let mut count = ((threads_l2 > 0 && level == 3) as u32)
                    | (((threads_l3 > 0 || (threads_l2 > 0 && level == 2)) as u32) << 1);
                let mut i = 0;
                while count != 0 && i < MAX_SUBLEAVES {
                    let [_, ebx, ecx, _] = src.cpuid(11, i);
                    i += 1;
                    let shipped = (ebx & 0xff) as i32;
                    let ty = ecx & 0xff00;
                    if shipped == 0 || ty == 0 {
                        break;
                    } else if ty == 0x100 {
                        if count & 1 != 0 {
                            let mask = !(-1i32).wrapping_shl(bsr(threads_l2) as u32 + 1);
                            threads_l2 = (shipped - 1) & mask;
                            count &= !1;
                        }
                    } else if ty == 0x200 && count & 2 != 0 {
                        let threads_core = if level == 2 { threads_l2 } else { threads_l3 };
                        let mask = !(-1i32).wrapping_shl(bsr(threads_core) as u32 + 1);
                        let tc = (shipped - 1) & mask;
                        if level == 2 {
                            threads_l2 = tc;
                        } else {
                            threads_l3 = tc;
                        }
                        count &= !2;
                    }
                }
            }
            if threads_l2 > 0 {
                threads_l2 += 1;
            }
            if threads_l3 > 0 {
                threads_l3 += 1;
            }
            if level == 2 {
                if threads_l2 != 0 {
                    *threads = threads_l2 as u32;
                    // Silvermont shares L2 between 2 cores.
                    if intel
                        && *threads > 2
                        && family == 6
                        && matches!(model, 0x37 | 0x4a | 0x4d | 0x5a | 0x5d)
                    {
                        *threads = 2;
                    }
                }
            } else if threads_l3 != 0 {
                *threads = threads_l3 as u32;
            }
        } else {
            // Assume all logical processors share the highest cache level.
            *threads = (cf.features[l::L1].cpuid[1] >> 16) & 0xff;
        }
        if *shared_per_thread > 0 && *threads > 0 {
            *shared_per_thread /= *threads as i64;
        }
    }

    if !inclusive_cache {
        let core_per_thread = if threads_l2 > 0 {
            core / threads_l2 as i64
        } else {
            core
        };
        *shared_per_thread += core_per_thread;
        *shared += core;
    }
}

pub(crate) fn init_cacheinfo<S: CpuidSource>(
    cf: &mut CpuFeatures,
    src: &mut S,
    tun: &Tunables<'_>,
) -> crate::CacheBounds {
    let mut data: i64 = -1;
    let mut shared: i64 = -1;
    let mut shared_per_thread: i64 = -1;
    let mut core: i64 = -1;
    let mut threads: u32 = 0;
    let mut lv: [i64; 12] = [-1; 12];
    let kind = cf.kind;

    if kind == Kind::Intel as u32 || kind == Kind::Zhaoxin as u32 {
        let intel = kind == Kind::Intel as u32;
        let h = |cf: &CpuFeatures, src: &mut S, n: Sc| {
            if intel {
                handle_intel(cf, src, n)
            } else {
                handle_zhaoxin(src, n)
            }
        };
        data = h(cf, src, Sc::L1dSize);
        core = h(cf, src, Sc::L2Size);
        shared = h(cf, src, Sc::L3Size);
        shared_per_thread = shared;
        lv[0] = h(cf, src, Sc::L1iSize);
        lv[1] = h(cf, src, Sc::L1iLine);
        lv[2] = data;
        lv[3] = h(cf, src, Sc::L1dAssoc);
        lv[4] = h(cf, src, Sc::L1dLine);
        lv[5] = core;
        lv[6] = h(cf, src, Sc::L2Assoc);
        lv[7] = h(cf, src, Sc::L2Line);
        lv[8] = shared;
        lv[9] = h(cf, src, Sc::L3Assoc);
        lv[10] = h(cf, src, Sc::L3Line);
        if intel {
            lv[11] = h(cf, src, Sc::L4Size);
        }
        common_cache_info(
            cf,
            src,
            &mut shared,
            &mut shared_per_thread,
            &mut threads,
            core,
        );
    } else if kind == Kind::Amd as u32 {
        data = handle_amd(src, Sc::L1dSize);
        core = handle_amd(src, Sc::L2Size);
        shared = handle_amd(src, Sc::L3Size);
        shared_per_thread = shared;
        lv[0] = handle_amd(src, Sc::L1iSize);
        lv[1] = handle_amd(src, Sc::L1iLine);
        lv[2] = data;
        lv[3] = handle_amd(src, Sc::L1dAssoc);
        lv[4] = handle_amd(src, Sc::L1dLine);
        lv[5] = core;
        lv[6] = handle_amd(src, Sc::L2Assoc);
        lv[7] = handle_amd(src, Sc::L2Line);
        lv[8] = shared;
        lv[9] = handle_amd(src, Sc::L3Assoc);
        lv[10] = handle_amd(src, Sc::L3Line);

        let max_ext = src.cpuid(0x8000_0000, 0)[0];
        if shared <= 0 {
            shared = core;
            shared_per_thread = core;
        } else {
            if max_ext >= 0x8000_0008 {
                // APIC ID width.
                let ecx = src.cpuid(0x8000_0008, 0)[2];
                threads = 1 << ((ecx >> 12) & 0x0f);
            }
            if threads == 0 || cf.family >= 0x17 {
                let [_, ebx, _, edx] = src.cpuid(1, 0);
                if edx & (1 << 28) != 0 {
                    threads = (ebx >> 16) & 0xff;
                }
            }
            if threads > 0 {
                shared_per_thread /= threads as i64;
            }
            if cf.family >= 0x17 {
                // Threads sharing one CCX's L3.
                let eax = src.cpuid(0x8000_001d, 3)[0];
                shared_per_thread *= (((eax >> 14) & 0xfff) + 1) as i64;
            } else {
                // Exclusive L2/L3.
                shared += core;
                shared_per_thread += core;
            }
        }
    }

    cf.level1_icache_size = lv[0] as u64;
    cf.level1_icache_linesize = lv[1] as u64;
    cf.level1_dcache_size = lv[2] as u64;
    cf.level1_dcache_assoc = lv[3] as u64;
    cf.level1_dcache_linesize = lv[4] as u64;
    cf.level2_cache_size = lv[5] as u64;
    cf.level2_cache_assoc = lv[6] as u64;
    cf.level2_cache_linesize = lv[7] as u64;
    cf.level3_cache_size = lv[8] as u64;
    cf.level3_cache_assoc = lv[9] as u64;
    cf.level3_cache_linesize = lv[10] as u64;
    cf.level4_cache_size = lv[11] as u64;

    // Non-temporal stores above a quarter of the shared cache, but never below
    // 3/4 of one thread's share (that would mean bogus cache info).
    let mut nt = (shared / 4) as u64;
    let nt_low = (shared_per_thread.wrapping_mul(3) / 4) as u64;
    if nt < nt_low {
        nt = nt_low;
    }
    if !cf.usable(ft::ERMS) {
        nt = nt_low;
    }
    let nt_max = u64::MAX >> 4;
    let nt_min = 0x4040u64;
    if nt < nt_min {
        nt = nt_min;
    } else if nt > nt_max {
        nt = nt_max;
    }

    let (mut movsb, movsb_min) = if cf.usable(ft::AVX512F) && !cf.preferred(pref::PREFER_NO_AVX512)
    {
        (4096 * (64 / 16), 64 * 8)
    } else if cf.preferred(pref::AVX_FAST_UNALIGNED_LOAD) {
        (4096 * (32 / 16), 32 * 8)
    } else {
        (2048, 16 * 8)
    };
    if cf.usable(ft::FSRM) {
        movsb = 2112;
    }

    // Tunables: 0 means "unset" for the sizes; the framework's own range checks
    // (minval 1 for the REP thresholds) are applied here too.
    if let Some(v) = tun.x86_data_cache_size.filter(|&v| v != 0) {
        data = v as i64;
    }
    if let Some(v) = tun.x86_shared_cache_size.filter(|&v| v != 0) {
        shared = v as i64;
    }
    if let Some(v) = tun.x86_non_temporal_threshold
        && v > nt_min
        && v <= nt_max
    {
        nt = v;
    }
    if let Some(v) = tun.x86_rep_movsb_threshold
        && v > movsb_min
    {
        movsb = v;
    }
    let stosb = match tun.x86_rep_stosb_threshold {
        Some(v) if v >= 1 => v,
        _ => 2048,
    };

    // AMD's REP MOVSB degrades beyond L2; elsewhere stop where NT stores start.
    let stop = if kind == Kind::Amd as u32 {
        core as u64
    } else {
        nt
    };

    cf.data_cache_size = data as u64;
    cf.shared_cache_size = shared as u64;
    cf.non_temporal_threshold = nt;
    cf.rep_movsb_threshold = movsb;
    cf.rep_stosb_threshold = stosb;
    cf.rep_movsb_stop_threshold = stop;
    crate::CacheBounds {
        rep_movsb_min: movsb_min,
        non_temporal_min: nt_min,
        non_temporal_max: nt_max,
    }
}
