//! Transfers control to the program, and calls into code it loaded.
//! Invariants: `enter` never returns and leaves nothing of rld's on the stack the program
//! sees; `sp` is the kernel's initial stack pointer (argc at [sp]). Every call into program
//! code first makes rld's heap take its lock (`heap::share`): that code may start threads.

use core::arch::asm;

/// Jumps to `entry` with rsp = `sp`, rdx = `fini` (registered by libc with atexit),
/// rbp = 0 as the ABI's process entry requires.
///
/// # Safety
/// `entry` is the program's relocated entry point; `sp` its initial stack.
pub unsafe fn enter(entry: usize, sp: usize, fini: usize) -> ! {
    crate::heap::share();
    // SAFETY: caller contract; the asm never returns.
    unsafe {
        asm!(
            "mov rsp, {sp}",
            "xor ebp, ebp",
            "jmp {entry}",
            sp = in(reg) sp,
            entry = in(reg) entry,
            in("rdx") fini,
            options(noreturn)
        )
    }
}

/// Calls a constructor/destructor array entry or DT_INIT with (argc, argv, envp).
///
/// # Safety
/// `f` is a relocated function of a loaded object with the C ABI.
pub unsafe fn call_init(f: usize, argc: usize, argv: usize, envp: usize) {
    crate::heap::share();
    // SAFETY: caller contract.
    let f: extern "C" fn(usize, usize, usize) = unsafe { core::mem::transmute(f) };
    f(argc, argv, envp)
}

/// Calls a no-argument function (DT_FINI, fini array entries).
///
/// # Safety
/// As `call_init`.
pub unsafe fn call_void(f: usize) {
    crate::heap::share();
    // SAFETY: caller contract.
    let f: extern "C" fn() = unsafe { core::mem::transmute(f) };
    f()
}

/// Calls an IFUNC resolver; glibc passes nothing on x86-64 (resolvers read cpu features
/// through `_rtld_global_ro` / `__x86_get_cpu_features`).
///
/// # Safety
/// `f` is a relocated IFUNC resolver whose object has been relocated.
pub unsafe fn call_ifunc(f: usize) -> usize {
    crate::heap::share();
    // SAFETY: caller contract.
    let f: extern "C" fn() -> usize = unsafe { core::mem::transmute(f) };
    f()
}
