//! The loader's state after start-up: the object table, the lookup namespace and the libc
//! functions rld calls back. It is built once by `run`, then published here for the services
//! libc calls later (`dl_lookup_symbol_x`, `_dl_find_object`, thread TLS, ...).
//!
//! Invariants: `RUNTIME` is written once, before any program code runs, and points to a leaked
//! `Runtime`. Services take `LOCK` before touching it; the start-up pipeline is single-threaded
//! and never holds a reference to it across a call into program code (IFUNC resolvers and
//! constructors may call back into rld).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rld_glibc::GlibcBuild;
use rld_link::{BindingPlan, Namespace};
use rld_tls::StaticTls;

use super::objects::Loaded;

/// libc functions rld uses once libc is relocated (0 = not available).
#[derive(Clone, Copy, Debug, Default)]
pub struct LibcFns {
    pub malloc: usize,
    pub calloc: usize,
    pub realloc: usize,
    pub free: usize,
    /// `_dl_signal_error(int errcode, const char *objname, const char *occasion, const char *errstring)`.
    pub signal_error: usize,
    /// `_dl_catch_error`, published as `GLRO(dl_catch_error)`.
    pub catch_error: usize,
}

pub struct Runtime {
    pub build: Option<&'static GlibcBuild>,
    pub objs: Vec<Loaded>,
    pub ns: Namespace<'static>,
    pub plan: BindingPlan,
    /// Link-map list order.
    pub chain: Vec<usize>,
    pub searchlist: Vec<usize>,
    /// Init order, main first (`main->l_initfini`).
    pub initfini: Vec<usize>,
    pub main: usize,
    pub rtld: usize,
    pub vdso: Option<usize>,
    pub libc: Option<usize>,
    pub static_tls: StaticTls,
    /// Highest TLS module id in use (`GL(dl_tls_max_dtv_idx)`).
    pub max_modid: usize,
    /// Module ids of the start-up modules are 1..=static_modids (`GL(dl_tls_static_nelem)`).
    pub static_modids: usize,
    /// An id below `max_modid` is free again (`GL(dl_tls_dtv_gaps)`): the next one is
    /// searched for.
    pub tls_gaps: bool,
    pub libc_fns: LibcFns,
    /// The program name for messages (glibc's `_dl_argv[0]` at start-up).
    pub progname: &'static [u8],
    pub bind_now: bool,
    /// Sorted (map_start, map_end, index) for address lookups.
    pub ranges: Vec<(usize, usize, usize)>,
    /// Relocation's per-binding address cache, kept between objects so its memory is
    /// reused (taken out of the runtime while an object is relocated).
    pub addr_cache: Vec<u64>,
    /// The launch cache's settings for dlopen records (None: the cache is off).
    pub launch: Option<super::launch::Dl>,
}

static RUNTIME: AtomicUsize = AtomicUsize::new(0);
static LOCK: AtomicBool = AtomicBool::new(false);

pub fn publish(rt: &'static mut Runtime) {
    RUNTIME.store(rt as *mut Runtime as usize, Ordering::Release);
}

/// The runtime without locking: only for the single-threaded start-up pipeline, which must
/// not keep the reference across calls into program code.
///
/// # Safety
/// Single-threaded start-up; no other live reference obtained from here.
pub unsafe fn get_unlocked() -> Option<&'static mut Runtime> {
    let p = RUNTIME.load(Ordering::Acquire);
    // SAFETY: RUNTIME is 0 or a leaked Runtime (module invariant); caller contract for
    // exclusivity.
    (p != 0).then(|| unsafe { &mut *(p as *mut Runtime) })
}

/// Runs `f` with the runtime under rld's lock (None before start-up finished).
/// `f` must not call into program code.
pub fn with<R>(f: impl FnOnce(&mut Runtime) -> R) -> Option<R> {
    while LOCK.swap(true, Ordering::Acquire) {
        while LOCK.load(Ordering::Relaxed) {
            core::hint::spin_loop();
        }
    }
    let p = RUNTIME.load(Ordering::Acquire);
    let r = if p == 0 {
        None
    } else {
        // SAFETY: the lock gives exclusive access; RUNTIME points to a leaked Runtime.
        Some(f(unsafe { &mut *(p as *mut Runtime) }))
    };
    LOCK.store(false, Ordering::Release);
    r
}

impl Runtime {
    /// The object containing address `a`, if any (`_dl_find_dso_for_object` semantics:
    /// inside [map_start, map_end) and, for non-contiguous objects, inside a PT_LOAD).
    pub fn object_at(&self, a: usize) -> Option<usize> {
        let i = self.ranges.partition_point(|r| r.0 <= a);
        let &(start, end, id) = self.ranges.get(i.checked_sub(1)?)?;
        if a >= end || a < start {
            return None;
        }
        let o = self.objs.get(id)?;
        if o.contiguous {
            return Some(id);
        }
        let inside = o.phdrs.iter().any(|p| {
            p.p_type == super::objects::PT_LOAD
                && a.wrapping_sub(o.bias) >= p.p_vaddr as usize
                && a.wrapping_sub(o.bias) < (p.p_vaddr + p.p_memsz) as usize
        });
        inside.then_some(id)
    }

    pub fn rebuild_ranges(&mut self) {
        // Refilled in place: every dlopen and dlclose rebuilds it.
        self.ranges.clear();
        let objs = &self.objs;
        self.ranges.extend(
            self.chain
                .iter()
                .filter_map(|&i| objs.get(i).map(|o| (o.map_start, o.map_end, i)))
                .filter(|r| r.1 > r.0),
        );
        self.ranges.sort_unstable();
    }
}
