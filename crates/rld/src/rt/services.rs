//! The functions libc calls in its loader after start-up: exported symbols (`__tunable_get_val`,
//! `_dl_exception_create`, `_dl_find_dso_for_object`, thread TLS allocation, ...) and the
//! function pointers of `_rtld_global_ro` (`dl_lookup_symbol_x`, `dl_open`, `dl_find_object`,
//! ...), plus `_dl_fini`.
//!
//! Invariants: every entry point is `extern "C"` and validates what it dereferences as far as
//! glibc does; runtime state is only touched under `state::with`; an error is raised through
//! libc's `_dl_signal_error` (which longjmps) only from a frame that owns nothing needing
//! `Drop`, after the state lock is released.

use alloc::vec::Vec;
use core::ffi::CStr;

use rld_glibc::tunables::{TunableValue, Tunables};
use rld_link::ObjId;
use rld_link::hash::NameHash;
use rld_link::lookup::Request;
use rld_link::object::{STB_WEAK, Version};

use super::abi::Raw;
use super::exports::{_rtld_global, _rtld_global_ro, Word};
use super::glibc::index_of;
use super::state::{self, Runtime};

// ---- tunables -------------------------------------------------------------------------

static TUNABLES: Word = Word(core::cell::UnsafeCell::new(0));

/// Publishes the parsed tunables (leaked; strings point into the initial environment).
pub fn set_tunables(t: &'static Tunables<'static>) {
    TUNABLES.set(t as *const Tunables<'static> as usize);
}

fn tunables() -> Option<&'static Tunables<'static>> {
    let p = TUNABLES.get();
    // SAFETY: TUNABLES is 0 or a leaked Tunables (set once at start-up).
    (p != 0).then(|| unsafe { &*(p as *const Tunables<'static>) })
}

/// `__tunable_get_val(tunable_id_t id, void *valp, tunable_callback_t cb)`.
#[unsafe(no_mangle)]
pub extern "C" fn __tunable_get_val(id: u32, valp: *mut u8, cb: usize) {
    let Some((v, set)) = tunables().and_then(|t| t.get(id as usize)) else {
        return;
    };
    // glibc's `tunable_val_t`: a union of intmax_t and const char *.
    let mut val: [u64; 1] = [0];
    // SAFETY: libc passes a pointer to a variable of the tunable's type (glibc contract).
    unsafe {
        match v {
            TunableValue::Int32(x) => {
                (valp as *mut i32).write_unaligned(x);
                val[0] = x as i64 as u64;
            }
            TunableValue::Uint64(x) => {
                (valp as *mut u64).write_unaligned(x);
                val[0] = x;
            }
            TunableValue::SizeT(x) => {
                (valp as *mut usize).write_unaligned(x);
                val[0] = x as u64;
            }
            TunableValue::Str(s) => {
                let p = s.map_or(0, |s| super::objects::leak_cstr(s).as_ptr() as usize);
                (valp as *mut usize).write_unaligned(p);
                val[0] = p as u64;
            }
        }
        if set && cb != 0 {
            let f: extern "C" fn(*mut u64) = core::mem::transmute(cb);
            f(val.as_mut_ptr());
        }
    }
}

// ---- errors ---------------------------------------------------------------------------

/// `_dl_exception_create(struct dl_exception *, const char *objname, const char *errstring)`:
/// one libc-malloc'ed buffer "errstring\0objname\0".
#[unsafe(no_mangle)]
pub extern "C" fn _dl_exception_create(exc: *mut u8, objname: *const u8, errstring: *const u8) {
    let Some(b) = super::build() else { return };
    let cs = |p: *const u8| -> &[u8] {
        if p.is_null() {
            b""
        } else {
            // SAFETY: C strings from libc.
            unsafe { CStr::from_ptr(p.cast()) }.to_bytes()
        }
    };
    let (obj, err) = (cs(objname), cs(errstring));
    // SAFETY: libc passes a writable struct dl_exception.
    let e = unsafe { Raw::new(exc, b.dl_exception.size) };
    let malloc = state::with(|rt| rt.libc_fns.malloc).unwrap_or(0);
    let buf = if malloc != 0 {
        // SAFETY: libc's malloc.
        let f: extern "C" fn(usize) -> *mut u8 = unsafe { core::mem::transmute(malloc) };
        f(obj.len() + err.len() + 2)
    } else {
        core::ptr::null_mut()
    };
    if buf.is_null() {
        e.put_ptr(b.dl_exception.objname, c"".as_ptr());
        e.put_ptr(b.dl_exception.errstring, c"out of memory".as_ptr());
        e.put(b.dl_exception.message_buffer, 0);
        return;
    }
    // SAFETY: buf has room for both strings and their NULs.
    unsafe {
        core::ptr::copy_nonoverlapping(err.as_ptr(), buf, err.len());
        buf.add(err.len()).write(0);
        let o = buf.add(err.len() + 1);
        core::ptr::copy_nonoverlapping(obj.as_ptr(), o, obj.len());
        o.add(obj.len()).write(0);
        e.put_ptr(b.dl_exception.errstring, buf);
        e.put_ptr(b.dl_exception.objname, o);
        e.put_ptr(b.dl_exception.message_buffer, buf);
    }
}

/// Raises a loader error through libc (`_dl_signal_error`); never returns. Falls back to a
/// fatal message when libc's handler is not available.
pub(super) fn signal_error(errcode: i32, objname: &[u8], errstring: &[u8]) -> ! {
    let f = state::with(|rt| rt.libc_fns.signal_error).unwrap_or(0);
    let obj = super::objects::leak_cstr(objname);
    let err = super::objects::leak_cstr(errstring);
    if f != 0 {
        // SAFETY: libc's `_dl_signal_error`, which longjmps to the innermost catch frame;
        // this frame owns nothing that needs dropping (the strings are leaked on purpose:
        // libc copies them into its exception).
        let f: extern "C" fn(i32, *const u8, *const u8, *const u8) -> ! =
            unsafe { core::mem::transmute(f) };
        f(errcode, obj.as_ptr(), core::ptr::null(), err.as_ptr())
    }
    super::fatal(format_args!(
        "{}: {}",
        core::str::from_utf8(objname).unwrap_or("?"),
        core::str::from_utf8(errstring).unwrap_or("?")
    ))
}

/// `GLRO(dl_error_free)`: frees a message buffer made by `_dl_exception_create`.
extern "C" fn dl_error_free(p: *mut u8) {
    let free = state::with(|rt| rt.libc_fns.free).unwrap_or(0);
    if free != 0 && !p.is_null() {
        // SAFETY: p came from libc's malloc (`_dl_exception_create`).
        let f: extern "C" fn(*mut u8) = unsafe { core::mem::transmute(free) };
        f(p)
    }
}

// ---- symbol lookup ----------------------------------------------------------------------

/// Reads an `r_scope_elem *scope[]` (NULL-terminated) into object-index lists.
///
/// # Safety
/// `scope` follows glibc's layout and every `r_list` entry is a link map.
unsafe fn read_scopes(b: &rld_glibc::GlibcBuild, scope: *const usize) -> Vec<Vec<ObjId>> {
    let mut out = Vec::new();
    if scope.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        // SAFETY: NULL-terminated array (caller contract).
        let elem = unsafe { scope.add(i).read() };
        if elem == 0 {
            break;
        }
        // SAFETY: an r_scope_elem.
        let r = unsafe { Raw::new(elem as *mut u8, b.r_scope_elem.size) };
        let list = r.get(b.r_scope_elem.r_list) as *const usize;
        let n = r.get(b.r_scope_elem.r_nlist) as usize;
        let mut ids = Vec::with_capacity(n);
        for k in 0..n {
            // SAFETY: r_list has r_nlist link-map pointers.
            let lm = unsafe { list.add(k).read() };
            // SAFETY: link maps from our lists.
            if let Some(id) = unsafe { index_of(b, lm) } {
                ids.push(id as ObjId);
            }
        }
        out.push(ids);
        i += 1;
    }
    out
}

/// glibc's `DL_LOOKUP_ADD_DEPENDENCY` lookup flag.
const DL_LOOKUP_ADD_DEPENDENCY: i32 = 1;

/// `_dl_lookup_symbol_x(name, undef_map, const ElfW(Sym) **ref, scope[], version, type_class,
/// flags, skip_map)`: returns the defining link map (or NULL) and sets `*ref`.
extern "C" fn dl_lookup_symbol_x(
    name: *const u8,
    undef_map: usize,
    sym_ref: *mut usize,
    scope: *const usize,
    version: *const u8,
    type_class: i32,
    flags: i32,
    skip_map: usize,
) -> usize {
    let Some(b) = super::build() else { return 0 };
    // SAFETY: libc passes a C string.
    let name = unsafe { CStr::from_ptr(name.cast()) }.to_bytes();
    // SAFETY: *ref is the referencing symbol (or NULL).
    let ref_sym = unsafe { sym_ref.read() };
    // SAFETY: an Elf64_Sym: st_info is byte 4.
    let weak = ref_sym != 0 && unsafe { ((ref_sym + 4) as *const u8).read() } >> 4 == STB_WEAK;
    let ver = if version.is_null() {
        None
    } else {
        // SAFETY: struct r_found_version.
        let v = unsafe { Raw::new(version as *mut u8, b.r_found_version.size) };
        let np = v.get(b.r_found_version.name) as *const u8;
        let fp = v.get(b.r_found_version.filename) as *const u8;
        Some(Version {
            hash: v.get(b.r_found_version.hash) as u32,
            hidden: v.get(b.r_found_version.hidden) != 0,
            name: if np.is_null() {
                b""
            } else {
                // SAFETY: a C string owned by the caller for the duration of the call.
                unsafe { CStr::from_ptr(np.cast()) }.to_bytes()
            },
            filename: (!fp.is_null()).then(|| {
                // SAFETY: as above.
                unsafe { CStr::from_ptr(fp.cast()) }.to_bytes()
            }),
        })
    };
    // SAFETY: glibc scope array of our link maps.
    let scopes = unsafe { read_scopes(b, scope) };
    // SAFETY: link maps libc passes are ones rld made (or null).
    let undef = unsafe { index_of(b, undef_map) };
    // SAFETY: as above.
    let skip = unsafe { index_of(b, skip_map) };
    let found = state::with(|rt| {
        let refs: Vec<&[ObjId]> = scopes.iter().map(|s| s.as_slice()).collect();
        let req = Request {
            name: NameHash::new(name),
            version: ver,
            class: (type_class & 3) as u8,
            ref_sym: None,
            undef: undef.map(|u| u as ObjId),
            skip: skip.map(|s| s as ObjId),
            return_newest: flags & 2 != 0,
        };
        let f = super::debug::lookup_in(rt, &req, &refs)?;
        // DL_LOOKUP_ADD_DEPENDENCY (dlsym with RTLD_DEFAULT, ...): the caller keeps the
        // definition's object loaded.
        if flags & DL_LOOKUP_ADD_DEPENDENCY != 0
            && let Some(u) = undef
        {
            super::dlopen::add_dependency(rt, u, f.obj as usize);
        }
        let o = rt.objs.get(f.obj as usize)?;
        let v = rt.ns.obj(f.obj)?;
        let sym_addr = v.symtab.as_ptr() as usize + 24 * f.sym as usize;
        Some((o.lm, sym_addr))
    })
    .flatten();
    drop(scopes);
    match found {
        Some((lm, sym)) => {
            // SAFETY: writable out-parameter.
            unsafe { sym_ref.write(sym) };
            lm
        }
        None => {
            // SAFETY: as above.
            unsafe { sym_ref.write(0) };
            if weak {
                return 0;
            }
            let (objname, msg) = undefined_message(undef, name, ver.map(|v| v.name));
            super::debug::signal_error(&objname, "symbol lookup error", &msg);
            signal_error(0, &objname, &msg)
        }
    }
}

fn undefined_message(undef: Option<usize>, name: &[u8], ver: Option<&[u8]>) -> (Vec<u8>, Vec<u8>) {
    let objname = state::with(|rt| {
        let o = undef.and_then(|u| rt.objs.get(u));
        match o {
            Some(o) if !o.name.is_empty() => o.name.to_vec(),
            _ => rt.progname.to_vec(),
        }
    })
    .unwrap_or_default();
    let mut msg = b"undefined symbol: ".to_vec();
    msg.extend_from_slice(name);
    if let Some(v) = ver {
        msg.extend_from_slice(b", version ");
        msg.extend_from_slice(v);
    }
    (objname, msg)
}

// dlopen / dlclose live in `dlopen.rs`.

extern "C" fn dl_noop() {}

// ---- address queries -------------------------------------------------------------------

/// `_dl_find_dso_for_object(ElfW(Addr))`: the link map containing the address, or NULL.
#[unsafe(no_mangle)]
pub extern "C" fn _dl_find_dso_for_object(addr: usize) -> usize {
    state::with(|rt| {
        rt.object_at(addr)
            .and_then(|i| rt.objs.get(i))
            .map(|o| o.lm)
    })
    .flatten()
    .unwrap_or(0)
}

/// `_dl_find_object(void *pc, struct dl_find_object *result)`: 0 and the object's range,
/// link map and PT_GNU_EH_FRAME, or -1.
extern "C" fn dl_find_object(pc: usize, result: *mut u8) -> i32 {
    let Some(b) = super::build() else { return -1 };
    let found = state::with(|rt| {
        let i = rt.object_at(pc)?;
        let o = rt.objs.get(i)?;
        Some((o.map_start, o.map_end, o.lm, o.eh_frame))
    })
    .flatten();
    let Some((start, end, lm, eh)) = found else {
        return -1;
    };
    let f = &b.dl_find_object;
    // SAFETY: libc's caller passes a struct dl_find_object.
    let r = unsafe { Raw::new(result, f.size) };
    r.put(f.dlfo_flags, 0);
    r.put(f.dlfo_map_start, start as u64);
    r.put(f.dlfo_map_end, end as u64);
    r.put(f.dlfo_link_map, lm as u64);
    r.put(f.dlfo_eh_frame, eh as u64);
    0
}

/// `_dl_rtld_di_serinfo`: rld reports no search directories (dlinfo RTLD_DI_SERINFO).
#[unsafe(no_mangle)]
pub extern "C" fn _dl_rtld_di_serinfo(_map: usize, si: *mut u8, counting: bool) {
    let Some(b) = super::build() else { return };
    // SAFETY: libc passes a Dl_serinfo.
    let r = unsafe { Raw::new(si, b.dl_serinfo.size) };
    if counting {
        r.put(b.dl_serinfo.dls_size, b.dl_serinfo.size as u64);
        r.put(b.dl_serinfo.dls_cnt, 0);
    }
}

// ---- TLS for threads ----------------------------------------------------------------------

/// `_dl_tls_get_addr_soft(struct link_map *)`: the calling thread's block of the module,
/// or NULL when it has none (yet).
extern "C" fn dl_tls_get_addr_soft(lm: usize) -> usize {
    let Some(b) = super::build() else { return 0 };
    let modid = super::glibc::lm_raw(b, lm).get(b.link_map.l_tls_modid) as usize;
    if lm == 0 || modid == 0 {
        return 0;
    }
    let tp = super::tls::thread_pointer();
    // SAFETY: the thread's TCB holds its DTV pointer (set up by rld or libc).
    unsafe {
        let dtv = ((tp + b.tcbhead_t.dtv.offset) as *const *const u64).read();
        let len = dtv.sub(2).read() as usize;
        if modid > len {
            return 0;
        }
        let v = dtv.add(2 * modid).read();
        if v == u64::MAX { 0 } else { v as usize }
    }
}

fn libc_alloc(f: impl FnOnce(&super::state::LibcFns) -> usize) -> usize {
    state::with(|rt| f(&rt.libc_fns)).unwrap_or(0)
}

/// Fills a thread's DTV for the static modules and copies their init images
/// (`_dl_allocate_tls_init`).
///
/// # Safety
/// `tcb` is a thread's `struct pthread` whose DTV has room for `max_modid` modules.
unsafe fn init_thread_tls(b: &rld_glibc::GlibcBuild, rt: &Runtime, tcb: usize, dtv: *mut u64) {
    for o in &rt.objs {
        let Some(t) = &o.tls else { continue };
        if t.offset == 0 {
            // Dynamic TLS (dlopen'ed module): allocated by `__tls_get_addr` on first use.
            // SAFETY: modid <= max_modid < the DTV's length.
            unsafe {
                dtv.add(2 * t.modid).write(u64::MAX);
                dtv.add(2 * t.modid + 1).write(0);
            }
            continue;
        }
        let dest = (tcb - t.offset) as *mut u8;
        let n = (t.init_len.min(t.image.blocksize)) as usize;
        // SAFETY: the static block lies inside the thread's TLS area below the TCB, which
        // libc sized with GLRO(dl_tls_static_size); the image is mapped.
        unsafe {
            dtv.add(2 * t.modid).write(dest as u64);
            dtv.add(2 * t.modid + 1).write(0);
            core::ptr::copy_nonoverlapping(
                o.bias.wrapping_add(t.init_vaddr as usize) as *const u8,
                dest,
                n,
            );
            core::ptr::write_bytes(dest.add(n), 0, t.image.blocksize as usize - n);
        }
    }
    let g = _rtld_global.raw();
    // SAFETY: dtv[0] exists.
    unsafe { dtv.write(g.get(b.rtld_global.dl_tls_generation)) };
}

/// `_dl_allocate_tls(void *mem)`: a DTV for the new thread whose TCB is `mem`.
#[unsafe(no_mangle)]
pub extern "C" fn _dl_allocate_tls(mem: usize) -> usize {
    let Some(b) = super::build() else { return 0 };
    let calloc = libc_alloc(|f| f.calloc);
    let max_modid = state::with(|rt| rt.max_modid).unwrap_or(0);
    if calloc == 0 || mem == 0 {
        return 0;
    }
    let len = max_modid + super::tls::DTV_SURPLUS;
    // SAFETY: libc's calloc.
    let f: extern "C" fn(usize, usize) -> *mut u64 = unsafe { core::mem::transmute(calloc) };
    let a = f(len + 2, 16);
    if a.is_null() {
        return 0;
    }
    // SAFETY: a has len + 2 entries; the TCB's dtv field belongs to the new thread.
    unsafe {
        a.write(len as u64);
        let dtv = a.add(2);
        ((mem + b.tcbhead_t.dtv.offset) as *mut *mut u64).write(dtv);
    }
    _dl_allocate_tls_init(mem, true)
}

/// `_dl_allocate_tls_init(void *tcb, bool init_tls)`.
#[unsafe(no_mangle)]
pub extern "C" fn _dl_allocate_tls_init(tcb: usize, _init_tls: bool) -> usize {
    let Some(b) = super::build() else { return 0 };
    if tcb == 0 {
        return 0;
    }
    let max_modid = state::with(|rt| rt.max_modid).unwrap_or(0);
    // SAFETY: libc hands us a TCB whose dtv field was set by `_dl_allocate_tls` (or is a
    // cached stack's DTV, zeroed by libc but for its length): grow it if modules were added.
    unsafe {
        let dtv = ((tcb + b.tcbhead_t.dtv.offset) as *const *mut u64).read();
        super::tls::resize_dtv(b, tcb, dtv, max_modid);
    }
    state::with(|rt| {
        // SAFETY: the DTV now has room for `max_modid` modules.
        unsafe {
            let dtv = ((tcb + b.tcbhead_t.dtv.offset) as *const *mut u64).read();
            init_thread_tls(b, rt, tcb, dtv);
        }
    });
    tcb
}

/// `_dl_deallocate_tls(void *tcb, bool dealloc_tcb)`.
#[unsafe(no_mangle)]
pub extern "C" fn _dl_deallocate_tls(tcb: usize, _dealloc_tcb: bool) {
    let Some(b) = super::build() else { return };
    let free = libc_alloc(|f| f.free);
    if free == 0 || tcb == 0 {
        return;
    }
    // SAFETY: libc's free.
    let f: extern "C" fn(*mut u8) = unsafe { core::mem::transmute(free) };
    let initial = _rtld_global.raw().get(b.rtld_global.dl_initial_dtv) as usize;
    // SAFETY: the TCB's DTV as set up by `_dl_allocate_tls`.
    unsafe {
        let dtv = ((tcb + b.tcbhead_t.dtv.offset) as *const *mut u64).read();
        if dtv.is_null() {
            return;
        }
        let len = dtv.sub(2).read() as usize;
        for m in 1..=len {
            let to_free = dtv.add(2 * m + 1).read();
            if to_free != 0 {
                f(to_free as *mut u8);
            }
        }
        if dtv as usize != initial {
            f(dtv.sub(2).cast());
        }
    }
}

// ---- fini -------------------------------------------------------------------------------

/// `_dl_fini`, passed to the program in rdx and registered by libc with atexit: runs the
/// destructors of every initialised object, users before their dependencies.
pub extern "C" fn _dl_fini() {
    let Some(list) = state::with(|rt| {
        // Namespaces other than the base one first (dlmopen), as glibc walks them downwards.
        let mut order = super::dlopen::other_namespaces_fini_order(rt);
        order.extend(fini_order(rt));
        order
            .into_iter()
            .filter_map(|i| {
                let o = rt.objs.get_mut(i)?;
                if !core::mem::take(&mut o.init_called) {
                    return None;
                }
                Some((
                    o.bias,
                    o.info.get(rld_elf::consts::DT_FINI_ARRAY),
                    o.info.get(rld_elf::consts::DT_FINI_ARRAYSZ),
                    o.info.get(rld_elf::consts::DT_FINI),
                    o.lm,
                ))
            })
            .collect::<Vec<_>>()
    }) else {
        return;
    };
    let b = super::build();
    for (bias, arr, arrsz, fini, lm) in list {
        super::debug::calling_fini(lm);
        if let Some(b) = b
            && lm != 0
        {
            super::glibc::lm_raw(b, lm).put_bits(b.link_map.l_init_called, 0);
        }
        // SAFETY: the values of a loaded, relocated object whose destructors have not run.
        unsafe { run_destructors(bias, arr, arrsz, fini) };
    }
    super::debug::fini_done();
}

/// `_dl_call_fini` for one object: DT_FINI_ARRAY from the last entry down, then DT_FINI.
///
/// # Safety
/// `bias`, `arr`/`arrsz` (DT_FINI_ARRAY/SZ) and `fini` (DT_FINI) are those of a loaded,
/// relocated object whose destructors have not run yet; no runtime state is borrowed (the
/// destructors are program code and may call back into rld).
pub unsafe fn run_destructors(
    bias: usize,
    arr: Option<u64>,
    arrsz: Option<u64>,
    fini: Option<u64>,
) {
    if let (Some(a), Some(sz)) = (arr, arrsz) {
        let base = bias.wrapping_add(a as usize) as *const usize;
        for k in (0..sz as usize / 8).rev() {
            // SAFETY: caller contract: the relocated DT_FINI_ARRAY, `sz / 8` entries.
            let f = unsafe { base.add(k).read() };
            if f != 0 && f != usize::MAX {
                // SAFETY: a destructor of that object.
                unsafe { super::jump::call_void(f) };
            }
        }
    }
    if let Some(f) = fini {
        // SAFETY: DT_FINI of that object.
        unsafe { super::jump::call_void(bias.wrapping_add(f as usize)) };
    }
}

/// glibc's `_dl_fini` order: the namespace's objects sorted with `for_fini` (run-time
/// dependencies too), main first unless those reordered it.
fn fini_order(rt: &Runtime) -> Vec<usize> {
    let maps: Vec<ObjId> = rt.chain.iter().map(|&i| i as ObjId).collect();
    let main = rt.main;
    // The main program's list is the whole init order; every other object's is itself, then
    // its DT_NEEDED objects.
    let entry = |m: ObjId, i: usize| -> Option<ObjId> {
        if m as usize == main {
            return rt.initfini.get(i).map(|&d| d as ObjId);
        }
        let o = rt.objs.get(m as usize)?;
        match i.checked_sub(1) {
            None => Some(m),
            Some(k) => o.deps.get(k).map(|&d| d as ObjId),
        }
    };
    let len = |m: ObjId| -> usize {
        if m as usize == main {
            rt.initfini.len()
        } else {
            rt.objs.get(m as usize).map_or(0, |o| o.deps.len() + 1)
        }
    };
    rld_link::order::sort_maps_for_fini_by(
        &maps,
        &entry,
        &len,
        &|m, k| super::dlopen::reldep_from_last(rt, m, k),
        true,
    )
    .into_iter()
    .map(|i| i as usize)
    .collect()
}

/// Fills the function pointers of `_rtld_global_ro`.
pub fn install_glro_functions(b: &rld_glibc::GlibcBuild, catch_error: usize) {
    let ro = _rtld_global_ro.raw();
    let r = &b.rtld_global_ro;
    ro.put(r.dl_debug_printf, super::debug::printf_entry() as u64);
    ro.put(
        r.dl_mcount,
        super::exports::_dl_mcount as *const () as usize as u64,
    );
    ro.put(
        r.dl_lookup_symbol_x,
        dl_lookup_symbol_x as *const () as usize as u64,
    );
    ro.put(
        r.dl_open,
        super::dlopen::dl_open as *const () as usize as u64,
    );
    ro.put(
        r.dl_close,
        super::dlopen::dl_close as *const () as usize as u64,
    );
    ro.put(r.dl_catch_error, catch_error as u64);
    ro.put(r.dl_error_free, dl_error_free as *const () as usize as u64);
    ro.put(
        r.dl_tls_get_addr_soft,
        dl_tls_get_addr_soft as *const () as usize as u64,
    );
    ro.put(r.dl_libc_freeres, dl_noop as *const () as usize as u64);
    ro.put(
        r.dl_find_object,
        dl_find_object as *const () as usize as u64,
    );
}
