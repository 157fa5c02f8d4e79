//! Thread-local storage at run time: the main thread's static TLS block, TCB and DTV, the
//! slotinfo bookkeeping libc and libthread_db read, and `__tls_get_addr` / TLSDESC.
//!
//! Invariants: the main thread's block and DTV are allocated once and never freed (libc never
//! frees the initial DTV: it compares against `GL(dl_initial_dtv)`); the thread pointer is set
//! exactly once, before any relocation runs (IFUNC resolvers may read the stack guard); init
//! images are copied after relocation, since they may contain relocated pointers.

use alloc::alloc::Layout;
use core::arch::{asm, naked_asm};

use rld_glibc::GlibcBuild;
use rld_tls::{StaticTls, TLS_TCB_SIZE};

use super::abi::Raw;

/// DTV slots allocated beyond the highest module id (glibc's `DTV_SURPLUS`).
pub const DTV_SURPLUS: usize = 14;
/// Extra slotinfo entries in the first chunk (glibc's `TLS_SLOTINFO_SURPLUS`).
pub const SLOTINFO_SURPLUS: usize = 62;

/// One module with a PT_TLS segment, in module-id order.
#[derive(Clone, Copy, Debug)]
pub struct TlsModule {
    pub modid: usize,
    /// Address of the initialisation image (relocated) and its length (`p_filesz`).
    pub init_addr: usize,
    pub init_len: usize,
    pub blocksize: usize,
    /// `l_tls_offset`: the block lives at `tp - offset`.
    pub offset: usize,
    /// The module's glibc link_map.
    pub link_map: usize,
}

/// What `setup_main_thread` built.
pub struct MainThread {
    pub tp: usize,
    pub dtv: *mut u64,
    pub slotinfo: usize,
}

/// Zeroed memory the main thread keeps for good (its static block, initial DTV and first
/// slotinfo list are never freed: see `resize_dtv` and `_dl_deallocate_tls`), at its exact
/// size (`heap::alloc_permanent`).
fn alloc_bytes(size: usize, align: usize) -> Option<*mut u8> {
    let layout = Layout::from_size_align(size.max(1), align).ok()?;
    let p = crate::heap::alloc_permanent(layout);
    (!p.is_null()).then_some(p)
}

/// Allocates the main thread's static block + TCB + DTV and the slotinfo list, fills the
/// TCB header, publishes everything in `_rtld_global(_ro)`, and installs the thread pointer.
///
/// # Safety
/// Called once, single-threaded, before any code of the program runs; `gl` / `glro` are
/// rld's `_rtld_global` / `_rtld_global_ro`; `random` points at AT_RANDOM's 16 bytes (or 0).
pub unsafe fn setup_main_thread(
    b: &GlibcBuild,
    gl: Raw,
    glro: Raw,
    st: &StaticTls,
    modules: &[TlsModule],
    random: usize,
) -> Option<MainThread> {
    let max_modid = modules.iter().map(|m| m.modid).max().unwrap_or(0);

    // Static block: [aligned, aligned + size), TCB at its top.
    let size = st.size as usize;
    let align = st.align as usize;
    let block = alloc_bytes(size, align)?;
    let tp = block as usize + size - TLS_TCB_SIZE as usize;

    // DTV: dtv[-1].counter = length, dtv[0].counter = generation, dtv[1..] modules.
    let dtv_len = max_modid + DTV_SURPLUS;
    let dtv_elem = b.dtv_t.size;
    let dtv_alloc = alloc_bytes((dtv_len + 2) * dtv_elem, 16)? as *mut u64;
    // SAFETY: dtv_alloc has dtv_len + 2 elements of 16 bytes.
    let dtv = unsafe {
        dtv_alloc.write(dtv_len as u64);
        dtv_alloc.add(2)
    };

    // Slotinfo: first chunk has max_modid + 1 + surplus entries; entry m = {gen 1, map}.
    let nelem = max_modid + 1 + SLOTINFO_SURPLUS;
    let si_head = b.dtv_slotinfo_list.size;
    let si_elem = b.dtv_slotinfo.size;
    let slotinfo = alloc_bytes(si_head + nelem * si_elem, 16)?;
    // SAFETY: freshly allocated, sized above, never freed.
    let list = unsafe { Raw::new(slotinfo, si_head + nelem * si_elem) };
    list.put(b.dtv_slotinfo_list.len, nelem as u64);
    let generation = if modules.is_empty() { 0 } else { 1 };
    for m in modules {
        let e = Raw {
            base: slotinfo.wrapping_add(b.dtv_slotinfo_list.slotinfo.offset + m.modid * si_elem),
            size: si_elem,
        };
        if b.dtv_slotinfo_list.slotinfo.offset + (m.modid + 1) * si_elem <= list.size {
            e.put(b.dtv_slotinfo.generation, generation);
            e.put(b.dtv_slotinfo.map, m.link_map as u64);
        }
    }
    for m in modules {
        // SAFETY: modid <= max_modid < dtv_len.
        unsafe {
            dtv.add(2 * m.modid).write((tp - m.offset) as u64);
            dtv.add(2 * m.modid + 1).write(0);
        }
    }
    // SAFETY: dtv[0] exists.
    unsafe { dtv.write(generation) };

    // TCB header (the rest of struct pthread stays zero).
    // SAFETY: [tp, tp + TLS_TCB_SIZE) lies inside our block.
    let tcb = unsafe { Raw::new(tp as *mut u8, TLS_TCB_SIZE as usize) };
    let h = &b.tcbhead_t;
    tcb.put(h.tcb, tp as u64);
    tcb.put(h.dtv, dtv as u64);
    tcb.put(h.self_ptr, tp as u64);
    if random != 0 {
        // SAFETY: the kernel's AT_RANDOM points at 16 readable bytes.
        let (g, p) = unsafe {
            (
                (random as *const u64).read_unaligned(),
                (random as *const u64).add(1).read_unaligned(),
            )
        };
        tcb.put(h.stack_guard, g & !0xff);
        tcb.put(h.pointer_guard, p);
    }

    let g = &b.rtld_global;
    gl.put(g.dl_tls_max_dtv_idx, max_modid as u64);
    gl.put(g.dl_tls_dtv_slotinfo_list, slotinfo as u64);
    gl.put(g.dl_tls_static_nelem, max_modid as u64);
    gl.put(g.dl_tls_static_used, st.used);
    gl.put(g.dl_tls_static_optional, st.optional);
    gl.put(g.dl_initial_dtv, dtv as u64);
    gl.put(g.dl_tls_generation, generation);
    let r = &b.rtld_global_ro;
    glro.put(r.dl_tls_static_size, st.size);
    glro.put(r.dl_tls_static_align, st.align);
    glro.put(r.dl_tls_static_surplus, st.surplus);

    // SAFETY: tp points at a TCB whose header is filled; from here on %fs belongs to the
    // program and rld never reads it for its own purposes.
    unsafe { crate::sys::arch_prctl(crate::sys::ARCH_SET_FS, tp) }.ok()?;
    Some(MainThread {
        tp,
        dtv,
        slotinfo: slotinfo as usize,
    })
}

/// Copies each module's init image into the main thread's block and clears the rest.
///
/// # Safety
/// After relocation; `tp` is the main thread pointer from `setup_main_thread`.
pub unsafe fn init_static_blocks(tp: usize, modules: &[TlsModule]) {
    for m in modules {
        let dest = (tp - m.offset) as *mut u8;
        let n = m.init_len.min(m.blocksize);
        // SAFETY: the block [tp - offset, tp - offset + blocksize) was laid out by rld-tls
        // inside the static area; the image is in the module's mapped segments.
        unsafe {
            core::ptr::copy_nonoverlapping(m.init_addr as *const u8, dest, n);
            core::ptr::write_bytes(dest.add(n), 0, m.blocksize - n);
        }
    }
}

/// The thread pointer of the calling thread.
#[inline(always)]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reads %fs:0, the TCB self pointer, after setup_main_thread.
    unsafe { asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags)) };
    tp
}

/// `__tls_get_addr(tls_index *ti)`: address of `ti_offset` within module `ti_module`'s block.
/// Fast path in asm (callers may have a misaligned stack, as glibc tolerates); anything else
/// goes to `__tls_get_addr_slow` with the stack realigned.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __tls_get_addr() {
    naked_asm!(
        "mov rax, fs:8",                 // dtv
        "mov rdx, [rip + {generation}]",
        "cmp [rax], rdx",
        "jne 2f",
        "mov rsi, [rdi]",                // module id
        "shl rsi, 4",
        "mov rax, [rax + rsi]",          // dtv[m].val
        "cmp rax, -1",
        "je 2f",
        "add rax, [rdi + 8]",
        "ret",
        "2:",
        "push rbp",
        "mov rbp, rsp",
        "and rsp, -16",
        "call {slow}",
        "mov rsp, rbp",
        "pop rbp",
        "ret",
        generation = sym TLS_GENERATION,
        slow = sym __tls_get_addr_slow,
    )
}

/// Mirror of `GL(dl_tls_generation)` for the asm fast path (which cannot use build-specific
/// offsets); updated together with it.
#[unsafe(no_mangle)]
pub static mut TLS_GENERATION: u64 = 0;

extern "C" fn __tls_get_addr_slow(ti: *const [usize; 2]) -> usize {
    let Some(b) = super::build() else {
        crate::rt::fatal(format_args!("__tls_get_addr without a glibc build"))
    };
    // SAFETY: the caller passes a `tls_index` {module, offset}.
    let [m, off] = unsafe { ti.read() };
    let tp = thread_pointer();
    // SAFETY: the calling thread's TCB (set up by rld or libc); its DTV was allocated by
    // `setup_main_thread`, `_dl_allocate_tls` or `resize_dtv`.
    unsafe {
        let mut dtv = ((tp + b.tcbhead_t.dtv.offset) as *const *mut u64).read();
        let generation = super::exports::_rtld_global
            .raw()
            .get(b.rtld_global.dl_tls_generation);
        if dtv.read() != generation {
            dtv = update_dtv(b, tp, dtv, generation);
        }
        let len = dtv.sub(2).read() as usize;
        if m == 0 || m > len {
            crate::rt::fatal(format_args!("__tls_get_addr: bad TLS module id {}", m))
        }
        let mut v = dtv.add(2 * m).read();
        if v == u64::MAX {
            let (val, to_free) = allocate_block(tp, m);
            dtv.add(2 * m).write(val as u64);
            dtv.add(2 * m + 1).write(to_free as u64);
            v = val as u64;
        }
        (v as usize).wrapping_add(off)
    }
}

/// libc's malloc/free (looked up after start-up).
fn libc_fn(pick: impl FnOnce(&super::state::LibcFns) -> usize) -> usize {
    super::state::with(|rt| pick(&rt.libc_fns)).unwrap_or(0)
}

/// Grows the DTV of the thread whose TCB is `tcb` to at least `need` modules
/// (`_dl_resize_dtv`): a new block from libc's malloc (libc frees DTVs), the old one freed
/// unless it is the initial thread's (`GL(dl_initial_dtv)`, rld's own memory).
///
/// # Safety
/// `dtv` is the thread's current DTV (pointer to element 0) and `tcb` its TCB.
pub unsafe fn resize_dtv(b: &GlibcBuild, tcb: usize, dtv: *mut u64, need: usize) -> *mut u64 {
    // SAFETY: caller contract: dtv[-1] holds the length.
    let len = unsafe { dtv.sub(2).read() } as usize;
    if len >= need {
        return dtv;
    }
    let malloc = libc_fn(|f| f.malloc);
    let free = libc_fn(|f| f.free);
    if malloc == 0 {
        crate::rt::fatal(format_args!("cannot grow a DTV without libc's malloc"))
    }
    let newlen = need + DTV_SURPLUS;
    // SAFETY: libc's malloc.
    let f: extern "C" fn(usize) -> *mut u64 = unsafe { core::mem::transmute(malloc) };
    let a = f((newlen + 2) * 16);
    if a.is_null() {
        crate::rt::fatal(format_args!("cannot allocate a larger DTV"))
    }
    let initial = super::exports::_rtld_global
        .raw()
        .get(b.rtld_global.dl_initial_dtv) as usize;
    // SAFETY: `a` has newlen + 2 elements; the old DTV has len + 2.
    unsafe {
        core::ptr::copy_nonoverlapping(dtv.sub(2), a, 2 * (len + 2));
        core::ptr::write_bytes(a.add(2 * (len + 2)), 0, 2 * (newlen - len));
        for k in len + 1..=newlen {
            a.add(2 * (k + 1)).write(u64::MAX);
        }
        a.write(newlen as u64);
        let new = a.add(2);
        ((tcb + b.tcbhead_t.dtv.offset) as *mut *mut u64).write(new);
        if dtv as usize != initial && free != 0 {
            let fr: extern "C" fn(*mut u64) = core::mem::transmute(free);
            fr(dtv.sub(2));
        }
        new
    }
}

/// Brings the calling thread's DTV up to `generation` (`update_slotinfo`): grows it, and
/// resets the slots of modules added (or closed) since the DTV's generation.
///
/// # Safety
/// `dtv` is the thread's DTV, `tp` its thread pointer.
unsafe fn update_dtv(b: &GlibcBuild, tp: usize, dtv: *mut u64, generation: u64) -> *mut u64 {
    let max = super::state::with(|rt| rt.max_modid).unwrap_or(0);
    // SAFETY: caller contract.
    let dtv = unsafe { resize_dtv(b, tp, dtv, max) };
    // SAFETY: caller contract; dtv[0] is the generation seen.
    let seen = unsafe { dtv.read() };
    let gl = super::exports::_rtld_global.raw();
    let list = gl.get(b.rtld_global.dl_tls_dtv_slotinfo_list) as usize;
    let free = libc_fn(|f| f.free);
    if list != 0 {
        // SAFETY: the slotinfo chunk rld allocated at start-up.
        let head = unsafe { Raw::new(list as *mut u8, b.dtv_slotinfo_list.size) };
        let n = (head.get(b.dtv_slotinfo_list.len) as usize).min(max + 1);
        for m in 1..n {
            let e = Raw {
                base: (list + b.dtv_slotinfo_list.slotinfo.offset + m * b.dtv_slotinfo.size)
                    as *mut u8,
                size: b.dtv_slotinfo.size,
            };
            let g = e.get(b.dtv_slotinfo.generation);
            if g <= seen || g > generation {
                continue;
            }
            // SAFETY: m <= max <= the DTV's length.
            unsafe {
                let to_free = dtv.add(2 * m + 1).read();
                if to_free != 0 && free != 0 {
                    let fr: extern "C" fn(usize) = core::mem::transmute(free);
                    fr(to_free as usize);
                }
                dtv.add(2 * m).write(u64::MAX);
                dtv.add(2 * m + 1).write(0);
            }
        }
    }
    // Slots never used (zero: the initial DTV is zeroed, and module ids are not reused) of
    // modules the slotinfo chunk has no room for are unallocated too.
    for m in 1..=max {
        // SAFETY: m <= max <= the DTV's length.
        unsafe {
            if dtv.add(2 * m).read() == 0 {
                dtv.add(2 * m).write(u64::MAX);
            }
        }
    }
    // SAFETY: dtv[0] exists.
    unsafe { dtv.write(generation) };
    dtv
}

/// The calling thread's block of module `m` (`tls_get_addr_tail`): its static block if it has
/// one, else a new block from libc's malloc holding the init image. Returns (address, to_free).
fn allocate_block(tp: usize, m: usize) -> (usize, usize) {
    let info = super::state::with(|rt| {
        rt.objs.iter().find_map(|o| {
            let t = o.tls.as_ref()?;
            (t.modid == m).then(|| {
                (
                    t.offset,
                    o.bias.wrapping_add(t.init_vaddr as usize),
                    t.init_len as usize,
                    t.image.blocksize as usize,
                    t.image.align as usize,
                )
            })
        })
    })
    .flatten();
    let Some((offset, init, init_len, size, align)) = info else {
        crate::rt::fatal(format_args!("__tls_get_addr: no TLS module {}", m))
    };
    if offset != 0 {
        return (tp - offset, 0);
    }
    let malloc = libc_fn(|f| f.malloc);
    if malloc == 0 {
        crate::rt::fatal(format_args!(
            "cannot allocate a TLS block without libc's malloc"
        ))
    }
    let align = align.max(1);
    // SAFETY: libc's malloc.
    let f: extern "C" fn(usize) -> usize = unsafe { core::mem::transmute(malloc) };
    let raw = f(size + align);
    if raw == 0 {
        crate::rt::fatal(format_args!("cannot allocate memory for thread-local data"))
    }
    let p = (raw + align - 1) & !(align - 1);
    let n = init_len.min(size);
    // SAFETY: [p, p + size) lies inside the new block; the image is mapped.
    unsafe {
        core::ptr::copy_nonoverlapping(init as *const u8, p as *mut u8, n);
        core::ptr::write_bytes((p + n) as *mut u8, 0, size - n);
    }
    (p, raw)
}

/// TLSDESC resolver for a variable in static TLS: the descriptor's argument is already the
/// offset from the thread pointer.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _dl_tlsdesc_return() {
    naked_asm!("mov rax, [rax + 8]", "ret")
}

/// TLSDESC resolver for a module whose TLS is not in the static block: the descriptor's
/// argument points to a {modid, offset} record (a `tls_index`). Returns the variable's
/// address minus the thread pointer and, as the TLSDESC contract requires, preserves every
/// register but rax (and the flags): the fast path (current DTV generation, block allocated)
/// touches only rdx and rsi, saved on the stack; the slow path also saves the other
/// call-clobbered integer registers and the x87/SSE state (`fxsave`) around
/// `__tls_get_addr_slow`, which may call malloc.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _dl_tlsdesc_dynamic() {
    naked_asm!(
        "mov rax, [rax + 8]",            // the record
        "push rdx",
        "push rsi",
        "mov rdx, fs:8",                 // dtv
        "mov rsi, [rip + {generation}]",
        "cmp [rdx], rsi",
        "jne 2f",
        "mov rsi, [rax]",                // module id
        "shl rsi, 4",
        "mov rdx, [rdx + rsi]",          // dtv[m].val
        "cmp rdx, -1",
        "je 2f",
        "add rdx, [rax + 8]",
        "sub rdx, fs:0",
        "mov rax, rdx",
        "pop rsi",
        "pop rdx",
        "ret",
        "2:",
        "push rbp",
        "mov rbp, rsp",
        "push rcx",
        "push rdi",
        "push r8",
        "push r9",
        "push r10",
        "push r11",
        "and rsp, -64",
        "sub rsp, 512",
        "fxsave [rsp]",
        "mov rdi, rax",
        "call {slow}",
        "fxrstor [rsp]",
        "sub rax, fs:0",
        "lea rsp, [rbp - 48]",
        "pop r11",
        "pop r10",
        "pop r9",
        "pop r8",
        "pop rdi",
        "pop rcx",
        "pop rbp",
        "pop rsi",
        "pop rdx",
        "ret",
        generation = sym TLS_GENERATION,
        slow = sym __tls_get_addr_slow,
    )
}

/// TLSDESC resolver for an undefined weak TLS symbol: yields address 0 (+ addend).
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _dl_tlsdesc_undefweak() {
    naked_asm!("mov rax, [rax + 8]", "sub rax, fs:0", "ret")
}

/// What `__tls_init_tp` does for the main thread once the thread pointer is set: tid, robust
/// list, rseq registration, the thread-specific block, and the main thread's entry in
/// `GL(dl_stack_user)`. Returns true if rseq is registered.
///
/// # Safety
/// `tp` is the main thread's TCB from `setup_main_thread`; single-threaded start-up.
pub unsafe fn init_tp(b: &GlibcBuild, gl: Raw, tp: usize, stack_end: usize, rseq: bool) -> bool {
    let p = &b.pthread;
    // SAFETY: the TCB is a zeroed struct pthread rld owns.
    let pd = unsafe { Raw::new(tp as *mut u8, p.size) };
    let g = &b.rtld_global;
    super::glibc::init_list_head(b, &gl, g.dl_stack_used);
    super::glibc::init_list_head(b, &gl, g.dl_stack_user);
    super::glibc::init_list_head(b, &gl, g.dl_stack_cache);
    super::glibc::list_add(b, &gl, g.dl_stack_user, pd.addr(p.list));
    // SAFETY: pd->tid lives as long as the thread.
    let tid = unsafe { crate::sys::set_tid_address(pd.addr(p.tid) as *mut i32) };
    pd.put(p.tid, tid as u32 as u64);
    let head = pd.addr(p.robust_head);
    pd.put(p.robust_prev, head as u64);
    pd.put(p.robust_head_list, head as u64);
    pd.put(
        p.robust_head_futex_offset,
        // offsetof(pthread_mutex_t, __lock) - offsetof(pthread_mutex_t, __list.__next)
        (b.pthread_mutex_t.lock.offset as i64 - b.pthread_mutex_t.list.offset as i64) as u64,
    );
    pd.put(p.robust_head_list_op_pending, 0);
    // SAFETY: the robust list head lives in the main thread's struct pthread.
    let _ = unsafe { crate::sys::set_robust_list(head as *mut core::ffi::c_void, 24) };
    pd.put(p.specific, pd.addr(p.specific_1stblock) as u64);
    pd.put(p.user_stack, 1);
    pd.put(p.stackblock_size, stack_end as u64);
    let mut registered = false;
    if rseq {
        pd.put(
            p.rseq_area_cpu_id,
            rld_glibc::RSEQ_CPU_ID_UNINITIALIZED as u32 as u64,
        );
        // SAFETY: rseq_area is 32-byte aligned inside the 64-aligned TCB and lives forever.
        registered = unsafe {
            crate::sys::rseq(
                pd.addr(p.rseq_area) as *mut core::ffi::c_void,
                32,
                0,
                0x5305_3053,
            )
        }
        .is_ok();
    }
    if !registered {
        pd.put(
            p.rseq_area_cpu_id,
            rld_glibc::RSEQ_CPU_ID_REGISTRATION_FAILED as u32 as u64,
        );
    }
    registered
}
