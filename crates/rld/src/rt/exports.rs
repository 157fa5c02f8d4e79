//! The data and functions libc.so.6 imports from its dynamic linker (see exports.map and
//! ../shared/docs/glibc-2.36-rtld-abi.md §1). Their *names and versions* are ABI; the layouts
//! inside `_rtld_global(_ro)` come from rld-glibc's per-build data.
//!
//! Invariants: the statics are written only by the loader before the program runs, or later
//! under `GL(dl_load_lock)`; libc writes only the fields glibc's libc writes (locks, stack
//! lists). `_rtld_global_ro` is never written after start-up.

use core::arch::naked_asm;
use core::cell::UnsafeCell;

/// Storage with the alignment glibc gives its loader globals. Large enough for every
/// supported build (checked at start-up against the build's struct sizes).
#[repr(C, align(64))]
pub struct GlobalBlock<const N: usize>(pub UnsafeCell<[u8; N]>);

// SAFETY: access discipline is the module invariant above (single-threaded start-up, then
// glibc's own locking protocol).
unsafe impl<const N: usize> Sync for GlobalBlock<N> {}

impl<const N: usize> GlobalBlock<N> {
    pub const fn new() -> Self {
        GlobalBlock(UnsafeCell::new([0; N]))
    }
    pub fn raw(&self) -> super::abi::Raw {
        // SAFETY: the block is a static owned by rld for the life of the process.
        unsafe { super::abi::Raw::new(self.0.get().cast(), N) }
    }
}

/// Like `GlobalBlock`, with pointer alignment only (so the symbol size stays exactly `N`).
#[repr(C, align(8))]
pub struct SmallBlock<const N: usize>(pub UnsafeCell<[u8; N]>);

// SAFETY: as GlobalBlock.
unsafe impl<const N: usize> Sync for SmallBlock<N> {}

impl<const N: usize> SmallBlock<N> {
    pub const fn new() -> Self {
        SmallBlock(UnsafeCell::new([0; N]))
    }
    pub fn raw(&self) -> super::abi::Raw {
        // SAFETY: the block is a static owned by rld for the life of the process.
        unsafe { super::abi::Raw::new(self.0.get().cast(), N) }
    }
}

/// A word-sized exported variable (pointer or integer).
#[repr(transparent)]
pub struct Word(pub UnsafeCell<usize>);
// SAFETY: as GlobalBlock.
unsafe impl Sync for Word {}
impl Word {
    pub fn set(&self, v: usize) {
        // SAFETY: module invariant: written only during single-threaded start-up.
        unsafe { self.0.get().write_volatile(v) }
    }
    pub fn get(&self) -> usize {
        // SAFETY: plain load of our own static.
        unsafe { self.0.get().read_volatile() }
    }
}

/// A 4-byte exported variable (`int` / `unsigned int` in glibc; the size is ABI: programs
/// may COPY-relocate these, and a size mismatch is a visible warning).
#[repr(transparent)]
pub struct Word32(pub UnsafeCell<u32>);
// SAFETY: as GlobalBlock.
unsafe impl Sync for Word32 {}
impl Word32 {
    pub fn set(&self, v: u32) {
        // SAFETY: module invariant: written only during single-threaded start-up.
        unsafe { self.0.get().write_volatile(v) }
    }
    pub fn get(&self) -> u32 {
        // SAFETY: plain load of our own static.
        unsafe { self.0.get().read_volatile() }
    }
}

/// A one-byte exported variable (`bool`).
#[repr(transparent)]
pub struct Byte(pub UnsafeCell<u8>);
// SAFETY: as GlobalBlock.
unsafe impl Sync for Byte {}

pub const RTLD_GLOBAL_SIZE: usize = 4352;
pub const RTLD_GLOBAL_RO_SIZE: usize = 896;

// In .data, not .bss (cold.ld: the writable segment must end within its file's last page).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".data.rld_hot")]
pub static _rtld_global: GlobalBlock<RTLD_GLOBAL_SIZE> = GlobalBlock::new();
#[unsafe(no_mangle)]
#[unsafe(link_section = ".data.rld_hot")]
pub static _rtld_global_ro: GlobalBlock<RTLD_GLOBAL_RO_SIZE> = GlobalBlock::new();
/// Address of argc on the initial stack.
#[unsafe(no_mangle)]
pub static __libc_stack_end: Word = Word(UnsafeCell::new(0));
/// argv after rld's own options are removed.
#[unsafe(no_mangle)]
pub static _dl_argv: Word = Word(UnsafeCell::new(0));
/// AT_SECURE, as an int.
#[unsafe(no_mangle)]
pub static __libc_enable_secure: Word32 = Word32(UnsafeCell::new(0));
/// 20 when the main thread registered rseq, else 0 (an unsigned int).
#[unsafe(no_mangle)]
pub static __rseq_size: Word32 = Word32(UnsafeCell::new(0));
/// Offset of `rseq_area` from the thread pointer (a ptrdiff_t).
#[unsafe(no_mangle)]
pub static __rseq_offset: Word = Word(UnsafeCell::new(0));
#[unsafe(no_mangle)]
pub static __rseq_flags: Word32 = Word32(UnsafeCell::new(0));
/// libthread_db reads it (a bool); rld never asks for thread events.
#[unsafe(no_mangle)]
pub static __nptl_initial_report_events: Byte = Byte(UnsafeCell::new(0));
/// The debugger interface (`struct r_debug`, 40 bytes, as glibc exports it).
#[unsafe(no_mangle)]
pub static _r_debug: SmallBlock<40> = SmallBlock::new();
/// Exists only so the GLIBC_2.34 version node exists, as in glibc's ld.so.
#[unsafe(no_mangle)]
pub static __rtld_version_placeholder: Word = Word(UnsafeCell::new(0));

/// gdb puts a breakpoint here; rld calls it around every change of the object list.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn _dl_debug_state() {
    // Keep a real, unique instruction sequence so the breakpoint address is distinct.
    core::hint::black_box(());
}

/// `LD_AUDIT` is not supported: `dl_naudit` stays 0, so these are never asked to do work.
#[unsafe(no_mangle)]
pub extern "C" fn _dl_audit_preinit(_map: usize) {}
#[unsafe(no_mangle)]
pub extern "C" fn _dl_audit_symbind_alt(_map: usize, _sym: usize, _value: usize, _result: usize) {}

/// Profiling hook (`_dl_mcount_wrapper`); profiling is not supported, so it does nothing.
#[unsafe(no_mangle)]
pub extern "C" fn _dl_mcount(_from: usize, _to: usize) {}

/// `_dl_get_tls_static_info(size_t *size, size_t *align)`, used by sanitizers.
#[unsafe(no_mangle)]
pub extern "C" fn _dl_get_tls_static_info(size: *mut usize, align: *mut usize) {
    let Some(b) = super::build() else { return };
    let ro = _rtld_global_ro.raw();
    // SAFETY: the caller passes two writable size_t pointers (glibc's contract).
    unsafe {
        if !size.is_null() {
            size.write(ro.get(b.rtld_global_ro.dl_tls_static_size) as usize);
        }
        if !align.is_null() {
            align.write(ro.get(b.rtld_global_ro.dl_tls_static_align) as usize);
        }
    }
}

/// `_dl_x86_get_cpu_features()`: the cpu_features block inside `_rtld_global_ro`.
#[unsafe(no_mangle)]
pub extern "C" fn _dl_x86_get_cpu_features() -> usize {
    match super::build() {
        Some(b) => _rtld_global_ro
            .raw()
            .addr(b.rtld_global_ro.dl_x86_cpu_features),
        None => 0,
    }
}

/// `__nptl_change_stack_perm(struct pthread *pd)`: makes a new thread's stack executable
/// when `GL(dl_stack_flags)` asks for PF_X. Returns 0 or an errno value.
#[unsafe(no_mangle)]
pub extern "C" fn __nptl_change_stack_perm(pd: usize) -> i32 {
    let Some(b) = super::build() else { return 38 };
    // SAFETY: libc passes a live struct pthread; we read two fields of it.
    let pdr = unsafe { super::abi::Raw::new(pd as *mut u8, b.pthread.size) };
    let block = pdr.get(b.pthread.stackblock) as usize;
    let size = pdr.get(b.pthread.stackblock_size) as usize;
    let guard = pdr.get(b.pthread.guardsize) as usize;
    let prot = crate::sys::PROT_READ | crate::sys::PROT_WRITE | crate::sys::PROT_EXEC;
    match crate::sys::mprotect(block + guard, size.saturating_sub(guard), prot) {
        Ok(()) => 0,
        Err(e) => e.raw_os_error(),
    }
}

/// `_dl_fatal_printf(const char *fmt, ...)`: a variadic C function. The trampoline spills
/// the register arguments next to a pointer to the stack arguments and calls the formatter.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _dl_fatal_printf() {
    naked_asm!(
        "sub rsp, 56",            // rsp was 8 mod 16; now 0 mod 16
        "mov [rsp], rsi",
        "mov [rsp + 8], rdx",
        "mov [rsp + 16], rcx",
        "mov [rsp + 24], r8",
        "mov [rsp + 32], r9",
        "mov rsi, rsp",           // register args
        "lea rdx, [rsp + 64]",    // first stack arg (above our frame and the return address)
        "call {f}",
        "ud2",
        f = sym fatal_printf_impl,
    )
}

/// A C vararg list read from the spilled registers, then the caller's stack.
struct VaList {
    regs: *const usize,
    stack: *const usize,
    next: usize,
}

impl VaList {
    fn arg(&mut self) -> usize {
        let i = self.next;
        self.next += 1;
        // SAFETY: the caller passed as many arguments as its format consumes (C contract).
        unsafe {
            if i < 5 {
                self.regs.add(i).read()
            } else {
                self.stack.add(i - 5).read()
            }
        }
    }
}

/// Formats glibc's `_dl_debug_vdprintf` subset (%s %d %u %x %lu %lx %zu %zx %p %%, with
/// optional `*` width) into `out`.
fn vformat(fmt: *const u8, va: &mut VaList, out: &mut dyn FnMut(&[u8])) {
    // SAFETY: fmt is a NUL-terminated C string (C contract).
    let f = unsafe { core::ffi::CStr::from_ptr(fmt.cast()) }.to_bytes();
    let mut i = 0;
    while i < f.len() {
        let start = i;
        while i < f.len() && f[i] != b'%' {
            i += 1;
        }
        out(&f[start..i]);
        if i >= f.len() {
            break;
        }
        i += 1;
        let mut width: Option<usize> = None;
        if f.get(i) == Some(&b'*') {
            width = Some(va.arg());
            i += 1;
        }
        while matches!(f.get(i), Some(b'l' | b'z' | b'Z' | b'h')) {
            i += 1;
        }
        let mut buf = [0u8; 24];
        let text: &[u8] = match f.get(i) {
            Some(b's') => {
                let p = va.arg() as *const u8;
                if p.is_null() {
                    b"(null)"
                } else {
                    // SAFETY: C contract: %s takes a NUL-terminated string.
                    unsafe { core::ffi::CStr::from_ptr(p.cast()) }.to_bytes()
                }
            }
            Some(b'd') => itoa(va.arg() as i32 as i64 as u64, 10, true, &mut buf),
            Some(b'u') => itoa(va.arg() as u64, 10, false, &mut buf),
            Some(b'x') => itoa(va.arg() as u64, 16, false, &mut buf),
            Some(b'p') => {
                out(b"0x");
                itoa(va.arg() as u64, 16, false, &mut buf)
            }
            Some(b'%') => b"%",
            _ => b"",
        };
        if let Some(w) = width {
            for _ in text.len()..w {
                out(b"0");
            }
        }
        out(text);
        i += 1;
    }
}

fn itoa(mut v: u64, base: u64, signed: bool, buf: &mut [u8; 24]) -> &[u8] {
    let neg = signed && (v as i64) < 0;
    if neg {
        v = (v as i64).unsigned_abs();
    }
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(v % base) as usize];
        v /= base;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

extern "C" fn fatal_printf_impl(fmt: *const u8, regs: *const usize, stack: *const usize) -> ! {
    let mut va = VaList {
        regs,
        stack,
        next: 0,
    };
    crate::out::flush();
    let mut err = crate::out::stderr();
    vformat(fmt, &mut va, &mut |b| err.write_bytes(b));
    drop(err);
    crate::out::exit(127)
}
