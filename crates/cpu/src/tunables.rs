//! `glibc.cpu.hwcaps` tunable: "-NAME" clears a usable CPU bit, "[-]Pref" toggles a
//! preferred bit. Tokens are split on ',' and, like glibc 2.36, on NUL (see `apply_hwcaps`).

use crate::features::{self as ft, Feature, pref};
use crate::layout::CpuFeatures;

/// CPU features that may only be disabled, by name.
const CPU_OFF: &[(&[u8], Feature)] = &[
    (b"AVX", ft::AVX),
    (b"CX8", ft::CX8),
    (b"FMA", ft::FMA),
    (b"HTT", ft::HTT),
    (b"IBT", ft::IBT),
    (b"RTM", ft::RTM),
    (b"AVX2", ft::AVX2),
    (b"BMI1", ft::BMI1),
    (b"BMI2", ft::BMI2),
    (b"CMOV", ft::CMOV),
    (b"ERMS", ft::ERMS),
    (b"FMA4", ft::FMA4),
    (b"SSE2", ft::SSE2),
    (b"LZCNT", ft::LZCNT),
    (b"MOVBE", ft::MOVBE),
    (b"SHSTK", ft::SHSTK),
    (b"SSSE3", ft::SSSE3),
    (b"XSAVE", ft::XSAVE),
    (b"POPCNT", ft::POPCNT),
    (b"SSE4_1", ft::SSE4_1),
    (b"SSE4_2", ft::SSE4_2),
    (b"AVX512F", ft::AVX512F),
    (b"OSXSAVE", ft::OSXSAVE),
    (b"AVX512CD", ft::AVX512CD),
    (b"AVX512BW", ft::AVX512BW),
    (b"AVX512DQ", ft::AVX512DQ),
    (b"AVX512ER", ft::AVX512ER),
    (b"AVX512PF", ft::AVX512PF),
    (b"AVX512VL", ft::AVX512VL),
];

/// Preferred bits that may only be disabled.
const PREF_OFF: &[(&[u8], u32)] = &[(b"I586", pref::I586), (b"I686", pref::I686)];

/// Preferred bits that may be toggled; enabling needs the feature to be usable when given.
const PREF_BOTH: &[(&[u8], u32, Option<Feature>)] = &[
    (b"Slow_BSF", pref::SLOW_BSF, None),
    (b"Prefer_ERMS", pref::PREFER_ERMS, None),
    (b"Prefer_FSRM", pref::PREFER_FSRM, None),
    (b"Slow_SSE4_2", pref::SLOW_SSE4_2, Some(ft::SSE4_2)),
    (b"Fast_Rep_String", pref::FAST_REP_STRING, None),
    (
        b"Prefer_No_AVX512",
        pref::PREFER_NO_AVX512,
        Some(ft::AVX512F),
    ),
    (b"Fast_Copy_Backward", pref::FAST_COPY_BACKWARD, None),
    (b"Fast_Unaligned_Load", pref::FAST_UNALIGNED_LOAD, None),
    (b"Fast_Unaligned_Copy", pref::FAST_UNALIGNED_COPY, None),
    (
        b"Prefer_No_VZEROUPPER",
        pref::PREFER_NO_VZEROUPPER,
        Some(ft::AVX),
    ),
    (
        b"AVX_Fast_Unaligned_Load",
        pref::AVX_FAST_UNALIGNED_LOAD,
        Some(ft::AVX),
    ),
    (
        b"MathVec_Prefer_No_AVX512",
        pref::MATHVEC_PREFER_NO_AVX512,
        Some(ft::AVX512F),
    ),
    (
        b"Prefer_PMINUB_for_stringop",
        pref::PREFER_PMINUB_FOR_STRINGOP,
        Some(ft::SSE2),
    ),
];

fn apply_token(cf: &mut CpuFeatures, tok: &[u8]) {
    let (disable, name) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    if disable {
        if name == b"XSAVEC" {
            // Fall back to the standard-format save area size.
            cf.xsave_state_size = cf.xsave_state_full_size as u64;
            cf.unset(ft::XSAVEC);
            return;
        }
        if let Some(&(_, f)) = CPU_OFF.iter().find(|(n, _)| *n == name) {
            cf.unset(f);
            return;
        }
        if let Some(&(_, b)) = PREF_OFF.iter().find(|(n, _)| *n == name) {
            cf.preferred[0] &= !b;
            return;
        }
    }
    if let Some(&(_, b, need)) = PREF_BOTH.iter().find(|(n, _, _)| *n == name) {
        if disable {
            cf.preferred[0] &= !b;
        } else if need.is_none_or(|f| cf.usable(f)) {
            cf.preferred[0] |= b;
        }
    }
}

/// Apply a `glibc.cpu.hwcaps` value.
///
/// glibc 2.36 steps past the value's terminating NUL and keeps parsing until it
/// meets an empty string: in ld.so the value lives inside the environment block, so
/// later `GLIBC_TUNABLES` entries and following environment strings are parsed as
/// tokens too. Pass a slice that extends past the NUL to reproduce that; parsing
/// stops at a double NUL or at the slice's end.
pub fn apply_hwcaps(cf: &mut CpuFeatures, value: &[u8]) {
    let mut p = 0usize;
    loop {
        let rest = value.get(p..).unwrap_or(&[]);
        let len = rest
            .iter()
            .position(|&b| b == b',' || b == 0)
            .unwrap_or(rest.len());
        apply_token(cf, rest.get(..len).unwrap_or(&[]));
        p += len + 1;
        match value.get(p) {
            None | Some(0) => break,
            Some(_) => {}
        }
    }
}
