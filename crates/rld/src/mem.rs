// The C memory primitives LLVM emits calls to (memcpy & co.), which no libc provides here,
// plus unwind stubs the prebuilt core/alloc reference. Invariants: callers pass valid
// ranges (C contract); the bodies use `rep movsb/stosb` or plain loops that LLVM cannot
// turn back into calls to themselves.

use core::arch::asm;

/// Copies up to this many bytes with 8-byte moves; longer copies use `rep movsb`, which is fast
/// for long runs but has a start-up cost of tens of cycles that dominates the loader's typical
/// copies (tens to a few hundred bytes: struct moves, short reads, names).
const SHORT: usize = 256;

/// One unaligned 8-byte move, in asm so that LLVM cannot turn the loops below into calls to
/// `memcpy`/`memset` themselves.
///
/// # Safety
/// `src` readable and `dst` writable for 8 bytes.
#[inline(always)]
unsafe fn mov8(dst: *mut u8, src: *const u8) {
    // SAFETY: caller contract.
    unsafe {
        asm!("mov {t}, qword ptr [{s}]", "mov qword ptr [{d}], {t}",
             s = in(reg) src, d = in(reg) dst, t = out(reg) _,
             options(nostack, preserves_flags));
    }
}

/// One 8-byte store of `v`.
///
/// # Safety
/// `dst` writable for 8 bytes.
#[inline(always)]
unsafe fn store8(dst: *mut u8, v: u64) {
    // SAFETY: caller contract.
    unsafe {
        asm!("mov qword ptr [{d}], {v}", d = in(reg) dst, v = in(reg) v,
             options(nostack, preserves_flags));
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (8..=SHORT).contains(&n) {
        // 8-byte moves; the last one overlaps the previous instead of a byte tail.
        let mut i = 0;
        while i + 8 < n {
            // SAFETY: C contract: i + 8 < n, both ranges valid for n bytes.
            unsafe { mov8(dst.add(i), src.add(i)) };
            i += 8;
        }
        // SAFETY: n >= 8: the last 8 bytes of both ranges.
        unsafe { mov8(dst.add(n - 8), src.add(n - 8)) };
        return dst;
    }
    // SAFETY: C contract: non-overlapping valid ranges of n bytes; DF=0 per the ABI.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
             options(nostack, preserves_flags));
    }
    dst
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // Forward copy is safe: dst is below src or beyond its end.
        // SAFETY: C contract, valid ranges.
        unsafe {
            asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
                 options(nostack, preserves_flags));
        }
    } else {
        // Overlap with dst above src: copy backwards with DF set, then restore DF=0.
        // SAFETY: C contract; n > 0 here since the subtraction was < n.
        unsafe {
            asm!("std", "rep movsb", "cld",
                 inout("rcx") n => _,
                 inout("rdi") dst.add(n - 1) => _,
                 inout("rsi") src.add(n - 1) => _,
                 options(nostack));
        }
    }
    dst
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    if (8..=SHORT).contains(&n) {
        let v = u64::from(c as u8) * 0x0101_0101_0101_0101;
        let mut i = 0;
        while i + 8 < n {
            // SAFETY: C contract: i + 8 < n, dst valid for n bytes.
            unsafe { store8(dst.add(i), v) };
            i += 8;
        }
        // SAFETY: n >= 8: the last 8 bytes.
        unsafe { store8(dst.add(n - 8), v) };
        return dst;
    }
    // SAFETY: C contract: dst valid for n bytes.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dst
}

/// Eight bytes at a time: symbol lookup compares every candidate name with `bcmp`, and C++
/// names are long. (Word loads cannot be turned back into a `memcmp` call by LLVM.)
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: C contract: both valid for n bytes; i + 8 <= n.
        let (x, y) = unsafe {
            (
                (a.add(i) as *const u64).read_unaligned(),
                (b.add(i) as *const u64).read_unaligned(),
            )
        };
        if x != y {
            // The first differing byte decides: compare as big-endian numbers.
            return if x.swap_bytes() < y.swap_bytes() {
                -1
            } else {
                1
            };
        }
        i += 8;
    }
    while i < n {
        // SAFETY: C contract: both valid for n bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: C contract: both valid for n bytes; i + 8 <= n.
        let differ = unsafe {
            (a.add(i) as *const u64).read_unaligned() != (b.add(i) as *const u64).read_unaligned()
        };
        if differ {
            return 1;
        }
        i += 8;
    }
    while i < n {
        // SAFETY: C contract: both valid for n bytes.
        if unsafe { *a.add(i) != *b.add(i) } {
            return 1;
        }
        i += 1;
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: C contract: s is NUL-terminated.
    while unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}

/// Referenced by the prebuilt (panic=unwind) core/alloc in non-LTO builds; never called
/// because every panic aborts.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    crate::sys::exit_group(127)
}
