//! `GLRO(dl_open)` and `GLRO(dl_close)`: loading and unloading objects at run time, with glibc
//! 2.36's semantics (elf/dl-open.c, elf/dl-close.c).
//!
//! dlopen walks the same stages as start-up: rld-deps `open` (the caller's search paths,
//! already-loaded detection, breadth-first dependencies), mapping, link maps appended to the
//! namespace chain, rld-link planning with the new objects' local scope, TLS module ids (static
//! blocks from the surplus for initial-exec modules), relocation, RELRO, `_r_debug` events and
//! constructors (run with `GL(dl_load_lock)` held through libc's recursive mutex).
//!
//! Invariants: every entry point holds `GL(dl_load_lock)` (libc's `pthread_mutex_lock`, so it
//! is the lock libc's dlsym/dladdr take too) for its whole run, which serialises changes to
//! the object table; `state::with` is only held for short sections that never call program
//! code; errors are raised through libc's `_dl_signal_error` only after both locks are released
//! and from a frame that owns nothing needing `Drop`.

use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rld_deps::{Kind, LoadConfig, Mode, Prior};
use rld_link::lookup::CLASS_PLT;
use rld_link::{Binding, ObjId, ObjKind};
use rld_search::fs::FileId;
use rld_search::search::{SearchConfig, Searcher};

use super::abi::Raw;
use super::exports::{_r_debug, _rtld_global, _rtld_global_ro};
use super::glibc::{self, Lists};
use super::objects::{self, Loaded};
use super::state::{self, Runtime};
use crate::fs::LoaderFs;

pub const RTLD_LAZY: i32 = 0x1;
pub const RTLD_NOW: i32 = 0x2;
pub const RTLD_NOLOAD: i32 = 0x4;
pub const RTLD_GLOBAL: i32 = 0x100;
pub const RTLD_NODELETE: i32 = 0x1000;
pub const RTLD_DEEPBIND: i32 = 0x8;
const DF_STATIC_TLS: u64 = 0x10;
const DF_1_NODELETE: u64 = 0x8;
const R_X86_64_TPOFF64: u32 = 18;
const R_X86_64_TPOFF32: u32 = 23;
const R_X86_64_TLSDESC: u32 = 36;

/// The search settings of start-up (leaked `SearchConfig`, 0 before).
static SEARCH_CONFIG: AtomicUsize = AtomicUsize::new(0);
/// libc's `pthread_mutex_lock` / `pthread_mutex_unlock` (0 = not looked up yet / none).
static MUTEX_LOCK: AtomicUsize = AtomicUsize::new(0);
static MUTEX_UNLOCK: AtomicUsize = AtomicUsize::new(0);

/// The searcher dlopen uses (created on first use; see `open_locked`).
struct SearcherCell(core::cell::UnsafeCell<Option<Searcher<'static, LoaderFs>>>);
// SAFETY: only accessed under GL(dl_load_lock) (dlopen is serialised).
unsafe impl Sync for SearcherCell {}
static SEARCHER: SearcherCell = SearcherCell(core::cell::UnsafeCell::new(None));
static LOADER_FS: LoaderFs = LoaderFs;

/// What rld-deps' search knows of the process between dlopens: every object by id
/// (`rld_deps::open_in`'s table; see `sync_graph`) and the load settings. Rebuilding a
/// description of every loaded object on each dlopen (names, dynamic facts, version
/// definitions) and dropping it again was a quarter of a dlopen+dlclose cycle.
struct Graph {
    objects: Vec<rld_deps::Object<crate::fs::File>>,
    lc: Option<LoadConfig>,
}
struct GraphCell(core::cell::UnsafeCell<Graph>);
// SAFETY: only accessed under GL(dl_load_lock) (dlopen is serialised), like SEARCHER.
unsafe impl Sync for GraphCell {}
static GRAPH: GraphCell = GraphCell(core::cell::UnsafeCell::new(Graph {
    objects: Vec::new(),
    lc: None,
}));

/// Records the search settings start-up used, for later dlopen calls.
pub fn set_search_config(c: SearchConfig) {
    let p = alloc::boxed::Box::leak(alloc::boxed::Box::new(c));
    SEARCH_CONFIG.store(p as *mut SearchConfig as usize, Ordering::Release);
}

fn search_config() -> Option<&'static SearchConfig> {
    let p = SEARCH_CONFIG.load(Ordering::Acquire);
    // SAFETY: 0 or a leaked SearchConfig (set once at start-up).
    (p != 0).then(|| unsafe { &*(p as *const SearchConfig) })
}

/// A dlopen failure in glibc's terms: `_dl_signal_error(errno, objname, NULL, msg)`.
struct Failure {
    errno: i32,
    obj: Vec<u8>,
    msg: Vec<u8>,
}

fn fail(errno: i32, obj: &[u8], msg: &str) -> Failure {
    Failure {
        errno,
        obj: obj.to_vec(),
        msg: msg.as_bytes().to_vec(),
    }
}

/// Raises `f` through libc; never returns. Everything is leaked first so the frames the
/// longjmp skips own nothing.
fn raise(f: Failure) -> ! {
    let obj = objects::leak(f.obj);
    let msg = objects::leak(f.msg);
    super::services::signal_error(f.errno, obj, msg)
}

// ---- GL(dl_load_lock) ------------------------------------------------------------------

fn lock_addr(write_lock: bool) -> Option<usize> {
    let b = super::build()?;
    let f = if write_lock {
        b.rtld_global.dl_load_write_lock
    } else {
        b.rtld_global.dl_load_lock
    };
    Some(_rtld_global.raw().addr(f))
}

fn mutex_fns() -> (usize, usize) {
    let l = MUTEX_LOCK.load(Ordering::Acquire);
    if l != 0 {
        return (l, MUTEX_UNLOCK.load(Ordering::Acquire));
    }
    let (l, u) = state::with(|rt| match rt.libc {
        Some(c) => (
            super::run::lookup_in_object(rt, c, b"pthread_mutex_lock", Some(b"GLIBC_2.2.5")),
            super::run::lookup_in_object(rt, c, b"pthread_mutex_unlock", Some(b"GLIBC_2.2.5")),
        ),
        None => (0, 0),
    })
    .unwrap_or((0, 0));
    if l != 0 && u != 0 {
        MUTEX_UNLOCK.store(u, Ordering::Release);
        MUTEX_LOCK.store(l, Ordering::Release);
    }
    (l, u)
}

/// Takes (`lock`) or releases `GL(dl_load_lock)` (or `GL(dl_load_write_lock)`, which
/// `dl_iterate_phdr` holds while it walks the chain) with libc's recursive mutex functions.
fn mutex(write_lock: bool, lock: bool) {
    let (l, u) = mutex_fns();
    let f = if lock { l } else { u };
    let Some(m) = lock_addr(write_lock) else {
        return;
    };
    if f != 0 {
        // SAFETY: libc's pthread_mutex_lock/unlock on a recursive mutex in _rtld_global,
        // initialised at start-up.
        let f: extern "C" fn(usize) -> i32 = unsafe { core::mem::transmute(f) };
        f(m);
    }
}

fn load_lock(lock: bool) {
    mutex(false, lock)
}

// ---- describing the process for rld-deps -------------------------------------------------

fn strip_nul(s: &[u8]) -> Vec<u8> {
    s.strip_suffix(b"\0").unwrap_or(s).to_vec()
}

fn prior_of(o: &Loaded) -> Prior {
    let mut dynamic = rld_deps::elfdyn::DynInfo {
        has_dynamic: o.dyn_addr != 0,
        flags_1: o.info.flags_1(),
        ..Default::default()
    };
    if o.dyn_addr != 0
        && let Ok(st) = o.info.string_table(&o.ro)
    {
        dynamic.needed = o
            .info
            .needed(&st)
            .filter_map(|n| n.ok().map(<[u8]>::to_vec))
            .collect();
        let s = |off: Option<u64>| off.and_then(|x| st.get(x).ok()).map(<[u8]>::to_vec);
        dynamic.soname = s(o.info.soname_offset());
        dynamic.runpath = s(o.info.runpath_offset());
        dynamic.rpath = if dynamic.runpath.is_some() {
            None
        } else {
            s(o.info.rpath_offset())
        };
        // Its version definitions, for the version check of objects that need it.
        if o.info.verdef().is_some()
            && let Ok(it) = rld_elf::version::VerdefIter::from_dynamic(&o.info, &o.ro)
        {
            let defs = it
                .map_while(|d| d.ok())
                .map(|d| rld_deps::elfdyn::VersionDef {
                    version: d.version,
                    hash: d.hash,
                    name: dynamic.add_name(
                        d.name_offset()
                            .ok()
                            .and_then(|n| st.get(n as u64).ok())
                            .unwrap_or_default(),
                    ),
                })
                .collect();
            dynamic.verdef = Some(defs);
        }
    }
    Prior {
        kind: o.kind,
        names: o.libnames.iter().map(|n| strip_nul(n)).collect(),
        path: o.name.to_vec(),
        loader: o.loader.map(|x| x as usize),
        file_id: FileId {
            dev: o.file_id().0,
            ino: o.file_id().1,
        },
        dynamic,
        origin: o.origin.map(strip_nul),
        deps: o.deps.clone(),
    }
}

fn dead_prior() -> Prior {
    Prior {
        kind: Kind::Missing,
        names: Vec::new(),
        path: Vec::new(),
        loader: None,
        file_id: FileId::default(),
        dynamic: Default::default(),
        origin: None,
        deps: Vec::new(),
    }
}

/// Brings rld-deps' table up to date with the runtime before a search (inside `state::with`,
/// under `GL(dl_load_lock)`): entries past the runtime's table (objects reclaimed, or added by
/// an open that failed before entering them) go; objects no longer in any namespace's chain
/// (unloaded, or abandoned by a failed open) are described as missing, which the search never
/// matches; objects the table has not seen (start-up's, on the first dlopen) or that it
/// describes as missing or by another file are described from the runtime. Objects entered by
/// an earlier dlopen keep the entries its search made (the same facts, read from the file).
fn sync_graph(rt: &Runtime, graph: &mut Vec<rld_deps::Object<crate::fs::File>>) {
    let mut live = alloc::vec![false; rt.objs.len()];
    // SAFETY: inside `state::with` (our caller).
    let others = unsafe { namespaces() };
    for &i in rt
        .chain
        .iter()
        .chain(others.iter().flat_map(|n| n.chain.iter()))
    {
        if let Some(l) = live.get_mut(i) {
            *l = true;
        }
    }
    graph.truncate(rt.objs.len());
    for (i, (g, o)) in graph.iter_mut().zip(&rt.objs).enumerate() {
        if !live.get(i).copied().unwrap_or(false) {
            if g.kind != Kind::Missing {
                *g = dead_prior().into();
            }
            continue;
        }
        let id = FileId {
            dev: o.file_id().0,
            ino: o.file_id().1,
        };
        if g.kind == Kind::Missing || g.file_id != id {
            *g = prior_of(o).into();
        }
    }
    let known = graph.len();
    for (i, o) in rt.objs.iter().enumerate().skip(known) {
        graph.push(if live.get(i).copied().unwrap_or(false) {
            prior_of(o).into()
        } else {
            dead_prior().into()
        });
    }
}

/// Entry `i` of object `m`'s `l_initfini` as `_dl_map_object_deps` builds it for a loaded
/// object (itself, then its DT_NEEDED objects), read from the table without building lists.
fn initfini_entry(rt: &Runtime, m: ObjId, i: usize) -> Option<ObjId> {
    let o = rt.objs.get(m as usize)?;
    match i.checked_sub(1) {
        None => Some(m),
        Some(k) => o.deps.get(k).map(|&d| d as ObjId),
    }
}

fn initfini_len(rt: &Runtime, m: ObjId) -> usize {
    rt.objs.get(m as usize).map_or(0, |o| o.deps.len() + 1)
}

/// The `k`-th run-time dependency (`l_reldeps`) of object `m`, counted from the last.
pub(super) fn reldep_from_last(rt: &Runtime, m: ObjId, k: usize) -> Option<ObjId> {
    let r = &rt.objs.get(m as usize)?.reldeps;
    let j = r.len().checked_sub(k + 1)?;
    r.get(j).map(|&d| d as ObjId)
}

/// `maps` sorted by `_dl_sort_maps_dfs` over the objects' `l_initfini` lists.
fn sort_dfs(rt: &Runtime, maps: &[ObjId], force_first: bool) -> Vec<ObjId> {
    rld_link::order::sort_maps_dfs_by(maps, &|m, i| initfini_entry(rt, m, i), force_first)
}

/// `maps` sorted for destructors (`for_fini`: run-time dependencies too).
fn sort_fini(rt: &Runtime, maps: &[ObjId], force_first: bool) -> Vec<ObjId> {
    rld_link::order::sort_maps_for_fini_by(
        maps,
        &|m, i| initfini_entry(rt, m, i),
        &|m| initfini_len(rt, m),
        &|m, k| reldep_from_last(rt, m, k),
        force_first,
    )
}

// ---- dl_open ----------------------------------------------------------------------------

/// `GLRO(dl_open)(file, mode, caller_dlopen, nsid, argc, argv, env)`.
pub extern "C" fn dl_open(
    file: *const u8,
    mode: i32,
    caller: usize,
    nsid: isize,
    argc: i32,
    argv: usize,
    env: usize,
) -> usize {
    let name: Vec<u8> = if file.is_null() {
        Vec::new()
    } else {
        // SAFETY: libc passes a C string.
        unsafe { CStr::from_ptr(file.cast()) }.to_bytes().to_vec()
    };
    load_lock(true);
    let r = open_locked(name, mode, caller, nsid, argc as usize, argv, env);
    load_lock(false);
    match r {
        Ok(lm) => lm,
        Err(f) => raise(f),
    }
}

fn open_locked(
    name: Vec<u8>,
    mode: i32,
    caller: usize,
    nsid: isize,
    argc: usize,
    argv: usize,
    env: usize,
) -> Result<usize, Failure> {
    let Some(b) = super::build() else {
        return Err(fail(0, &name, "dlopen needs a known glibc build"));
    };
    let ns = choose_namespace(b, nsid, caller, &name)?;
    if name.is_empty() {
        // dlopen(NULL): the main program.
        return state::with(|rt| {
            let o = rt.objs.get(rt.main)?;
            let nodelete_before = glibc::lm_raw(b, o.lm).get(b.link_map.l_nodelete_active);
            bump_open(b, o.lm, mode);
            super::debug::open_count_event(o.lm, super::debug::OpenEvent::Opening);
            if nodelete_before == 0 {
                mark_nodelete_of_open(o.lm, mode);
            }
            Some(o.lm)
        })
        .flatten()
        .ok_or_else(|| fail(0, b"", "no main program"));
    }
    let Some(sc) = search_config() else {
        return Err(fail(0, &name, "dlopen before start-up finished"));
    };
    // SAFETY: dlopen is serialised by GL(dl_load_lock), which our caller holds; nothing else
    // touches GRAPH.
    let graph = unsafe { &mut *GRAPH.0.get() };
    // The process as the search sees it (stable: we hold dl_load_lock).
    let Some((chain, caller_id)) = state::with(|rt| {
        sync_graph(rt, &mut graph.objects);
        // The objects already-loaded detection sees: the namespace's own. Another namespace
        // also sees the main program (whose RPATH glibc searches for every namespace) and
        // ld.so (glibc's proxy map: one ld.so for all namespaces).
        let chain = if ns == 0 {
            rt.chain.clone()
        } else {
            let mut c = alloc::vec![rt.main, rt.rtld];
            // SAFETY: inside `state::with`.
            if let Some(n) = unsafe { namespaces() }.get(ns) {
                c.extend_from_slice(&n.chain);
            }
            c
        };
        (chain, rt.object_at(caller))
    }) else {
        return Err(fail(0, &name, "dlopen before start-up finished"));
    };
    let nprior = graph.objects.len();
    // One searcher for the life of the process, as glibc keeps its search-directory records:
    // a directory found missing once is not tried again by later dlopens.
    // SAFETY: dlopen is serialised by GL(dl_load_lock), which our caller holds; nothing else
    // touches SEARCHER.
    let searcher = unsafe { &mut *SEARCHER.0.get() }
        .get_or_insert_with(|| Searcher::new(&LOADER_FS, sc.clone()));
    searcher.trace = super::debug::search_trace();
    let lc = graph.lc.get_or_insert_with(|| {
        let mut lc = LoadConfig::list(b"");
        lc.mode = Mode::Normal;
        // A kernel-mapped program's origin, if a dlopen from it names $ORIGIN.
        lc.exe_origin_lazy = Some(super::run::exe_origin);
        lc
    });
    let opened = match rld_deps::open_in(searcher, lc, &mut graph.objects, chain, caller_id, &name)
    {
        Ok(o) => o,
        // glibc reports a failed search even under RTLD_NOLOAD (only a found, not yet loaded
        // file makes RTLD_NOLOAD return NULL quietly).
        Err(f) => {
            return Err(Failure {
                errno: f.errno,
                obj: f.objname,
                msg: f.msg.into_bytes(),
            });
        }
    };
    let target = opened.target;
    if opened.new.is_empty() {
        // Already loaded (with all its dependencies).
        let mode = if ns == 0 { mode } else { mode & !RTLD_GLOBAL };
        return state::with(|rt| existing(b, rt, target, &opened.searchlist, mode))
            .flatten()
            .ok_or_else(|| fail(0, &name, "internal error: lost an object"));
    }
    if mode & RTLD_NOLOAD != 0 {
        // The files found are closed; nothing of them stays in the table.
        graph.objects.truncate(nprior);
        return Ok(0);
    }
    load_new(
        b,
        &mut graph.objects,
        opened,
        nprior,
        mode,
        ns,
        argc,
        argv,
        env,
    )
}

/// RTLD_NODELETE on an already open object that was not NODELETE before this open: glibc
/// reports the mark (LD_DEBUG=files).
fn mark_nodelete_of_open(lm: usize, mode: i32) {
    if mode & RTLD_NODELETE != 0 {
        super::debug::open_count_event(lm, super::debug::OpenEvent::MarkingNodelete);
    }
}

/// `l_direct_opencount++` and the mode flags of an open of an object that exists.
fn bump_open(b: &rld_glibc::GlibcBuild, lm: usize, mode: i32) {
    let l = glibc::lm_raw(b, lm);
    let f = &b.link_map;
    l.put(f.l_direct_opencount, l.get(f.l_direct_opencount) + 1);
    if mode & RTLD_NODELETE != 0 {
        l.put(f.l_nodelete_active, 1);
    }
}

/// Fills `l_searchlist` of `id` (a NULL-terminated link-map array) when it has none.
fn set_searchlist(b: &rld_glibc::GlibcBuild, rt: &Runtime, id: usize, list: &[usize]) {
    let Some(o) = rt.objs.get(id) else { return };
    let l = glibc::lm_raw(b, o.lm);
    let f = &b.link_map;
    if l.get(f.l_searchlist_r_list) != 0 {
        return;
    }
    let arr = glibc::lm_array(&rt.objs, list, true);
    l.put(f.l_searchlist_r_list, arr as u64);
    l.put(f.l_searchlist_r_nlist, list.len() as u64);
}

// ---- object scopes after later opens and closes ---------------------------------------

/// The `l_scope` entries of link map `lm` (r_scope_elem addresses), without the NULL.
fn scope_entries(b: &rld_glibc::GlibcBuild, lm: usize) -> Vec<u64> {
    let f = &b.link_map;
    let l = glibc::lm_raw(b, lm);
    let arr = l.get(f.l_scope) as *const u64;
    let max = l.get(f.l_scope_max) as usize;
    let mut out = Vec::new();
    if arr.is_null() {
        return out;
    }
    for k in 0..max {
        // SAFETY: l_scope is an array of l_scope_max entries that rld wrote, NULL-terminated.
        let e = unsafe { arr.add(k).read() };
        if e == 0 {
            break;
        }
        out.push(e);
    }
    out
}

/// Makes `entries` (+ NULL) the `l_scope` of `lm`. A new array is complete before the
/// pointer to it is stored, so libc's `_dl_sym` (which reads `l_scope` without the load
/// lock) sees the old list or the new one. Arrays outgrown or replaced are not freed (such a
/// reader may still hold them; glibc defers the free until all threads left their lookups).
fn set_scope_entries(b: &rld_glibc::GlibcBuild, lm: usize, entries: &[u64]) {
    let f = &b.link_map;
    let l = glibc::lm_raw(b, lm);
    let inline_slots = f.l_scope_mem.size / 8;
    let mem = l.addr(f.l_scope_mem);
    let cur = l.get(f.l_scope) as usize;
    let (arr, max) = if entries.len() < inline_slots && cur != mem {
        (mem, inline_slots)
    } else {
        let max = (entries.len() + 1)
            .next_power_of_two()
            .max(inline_slots * 2);
        (glibc::alloc_forever(max * 8, 8), max)
    };
    for (k, &e) in entries.iter().chain(core::iter::once(&0)).enumerate() {
        // SAFETY: `arr` has `max` > entries.len() slots.
        unsafe { (arr as *mut u64).add(k).write(e) };
    }
    l.put(f.l_scope_max, max as u64);
    l.put(f.l_scope, arr as u64);
}

/// glibc's `update_scopes`: each object of the new search list that an earlier dlopen loaded
/// and initialised gets that search list appended to its scope (its lazy bindings and
/// `dlsym(RTLD_DEFAULT)` calls from it then see the new objects). Returns, for
/// LD_DEBUG=scopes, each object with the first scope to show (`_dl_show_scope`'s `from`);
/// objects that already had the list are left out, as glibc does.
fn update_scopes(
    b: &rld_glibc::GlibcBuild,
    rt: &mut Runtime,
    target: usize,
    searchlist: &[usize],
) -> Vec<(usize, usize)> {
    let f = &b.link_map;
    let Some(tlm) = rt.objs.get(target).map(|o| o.lm).filter(|&lm| lm != 0) else {
        return Vec::new();
    };
    let tl = glibc::lm_raw(b, tlm).addr(f.l_searchlist) as u64;
    let list: Vec<ObjId> = searchlist.iter().map(|&i| i as ObjId).collect();
    let mut show = Vec::new();
    for &i in searchlist {
        let Some(o) = rt.objs.get(i).filter(|o| o.lm != 0) else {
            continue;
        };
        let lm = o.lm;
        let loaded = glibc::lm_raw(b, lm).get_bits(f.l_type) == 2;
        if !(o.init_called && loaded) {
            show.push((i, 0));
            continue;
        }
        let mut entries = scope_entries(b, lm);
        if entries.contains(&tl) {
            continue;
        }
        let from = entries.len();
        entries.push(tl);
        set_scope_entries(b, lm, &entries);
        rt.ns
            .append_scope(i as ObjId, target as ObjId, list.clone());
        show.push((i, from));
    }
    show
}

/// dlclose's scope repair for the objects that stay (`_dl_close_worker`): scope entries
/// naming the search list of an unloaded object are dropped; the first one is replaced by
/// the object's own search list (made from its dependencies if it has none yet), so its
/// later lookups search what it still depends on, and no scope points into freed memory.
fn repair_scopes(b: &rld_glibc::GlibcBuild, rt: &mut Runtime, removed: &[usize]) {
    let f = &b.link_map;
    let gone_lists: Vec<(u64, usize)> = removed
        .iter()
        .filter_map(|&i| rt.objs.get(i).filter(|o| o.lm != 0).map(|o| (o.lm, i)))
        .map(|(lm, i)| (glibc::lm_raw(b, lm).addr(f.l_searchlist) as u64, i))
        .collect();
    if gone_lists.is_empty() {
        return;
    }
    let removed_ids = |id: ObjId| removed.contains(&(id as usize));
    rt.ns.drop_appended_scopes(&removed_ids);
    for j in 0..rt.objs.len() {
        let Some(lm) = rt.objs.get(j).map(|o| o.lm) else {
            continue;
        };
        if lm == 0 || removed.contains(&j) || glibc::lm_raw(b, lm).get_bits(f.l_type) != 2 {
            continue;
        }
        let entries = scope_entries(b, lm);
        if !entries
            .iter()
            .any(|e| gone_lists.iter().any(|(g, _)| g == e))
        {
            continue;
        }
        let own_sl = glibc::lm_raw(b, lm).addr(f.l_searchlist) as u64;
        let mut own = None;
        if glibc::lm_raw(b, lm).get(f.l_searchlist_r_list) == 0 {
            let list = own_search_list(rt, j);
            set_searchlist(b, rt, j, &list);
            own = Some(list);
        }
        let mut replaced = false;
        let mut kept = Vec::with_capacity(entries.len());
        for e in entries {
            let Some(&(_, owner)) = gone_lists.iter().find(|(g, _)| *g == e) else {
                kept.push(e);
                continue;
            };
            if !replaced && !kept.contains(&own_sl) {
                kept.push(own_sl);
                replaced = true;
                // The local scope it was given by that object's open becomes its own.
                let local_from_owner = rt.ns.local_scope(j as ObjId).contains(&(owner as ObjId));
                if local_from_owner {
                    let list = own
                        .clone()
                        .unwrap_or_else(|| own_search_list(rt, j))
                        .into_iter()
                        .map(|i| i as ObjId)
                        .collect();
                    if rt.ns.local_scope_first(j as ObjId) {
                        rt.ns.set_local_scope_first(j as ObjId, list);
                    } else {
                        rt.ns.set_local_scope(j as ObjId, list);
                    }
                }
            }
        }
        set_scope_entries(b, lm, &kept);
    }
}

/// Object `j`'s breadth-first dependency list, itself first (`_dl_map_object_deps`).
fn own_search_list(rt: &Runtime, j: usize) -> Vec<usize> {
    let mut list = alloc::vec![j];
    let mut k = 0;
    while let Some(&i) = list.get(k) {
        for &d in rt.objs.get(i).map_or(&[][..], |o| o.deps.as_slice()) {
            if !list.contains(&d) {
                list.push(d);
            }
        }
        k += 1;
    }
    list
}

/// RTLD_GLOBAL: appends the objects of `list` missing from the global scope to it (rld-link's
/// namespace and the main program's `l_searchlist`, which every `l_scope[0]` points to).
fn make_global(b: &rld_glibc::GlibcBuild, rt: &mut Runtime, list: &[usize]) {
    let add: Vec<usize> = list
        .iter()
        .copied()
        .filter(|i| !rt.searchlist.contains(i))
        .collect();
    for &i in list {
        if let Some(o) = rt.objs.get(i) {
            glibc::lm_raw(b, o.lm).put_bits(b.link_map.l_global, 1);
        }
    }
    if add.is_empty() {
        return;
    }
    rt.searchlist.extend(add);
    rt.ns
        .set_global(rt.searchlist.iter().map(|&i| i as ObjId).collect());
    let Some(main) = rt.objs.get(rt.main) else {
        return;
    };
    let l = glibc::lm_raw(b, main.lm);
    let arr = glibc::lm_array(&rt.objs, &rt.searchlist, true);
    // The new array is complete before the count grows, so a concurrent reader sees either
    // the old list or the new one.
    l.put(b.link_map.l_searchlist_r_list, arr as u64);
    l.put(b.link_map.l_searchlist_r_nlist, rt.searchlist.len() as u64);
}

fn existing(
    b: &rld_glibc::GlibcBuild,
    rt: &mut Runtime,
    id: usize,
    searchlist: &[usize],
    mode: i32,
) -> Option<usize> {
    let lm = rt.objs.get(id)?.lm;
    set_searchlist(b, rt, id, searchlist);
    let nodelete_before = glibc::lm_raw(b, lm).get(b.link_map.l_nodelete_active);
    bump_open(b, lm, mode);
    super::debug::open_count_event(lm, super::debug::OpenEvent::Opening);
    if nodelete_before == 0 {
        mark_nodelete_of_open(lm, mode);
    }
    if mode & RTLD_GLOBAL != 0 {
        make_global(b, rt, searchlist);
    }
    Some(lm)
}

/// Maps one new object and appends its record to `out`; returns the range it occupies.
fn map_new(
    o: &mut rld_deps::Object<crate::fs::File>,
    page: usize,
    out: &mut Vec<Loaded>,
) -> Result<(usize, usize), Failure> {
    let Some(file) = o.file.as_mut() else {
        return Err(fail(0, &o.path, "cannot open shared object file"));
    };
    // SAFETY: a shared object (ET_DYN: rld-deps refuses executables) goes where the kernel
    // chooses, which overlaps nothing live.
    let m = unsafe { super::map::map_file(file, &o.header, false, page) }.map_err(|e| {
        let errno = e.errno().map_or(0, |e| e.raw_os_error());
        fail(errno, &o.path, e.message())
    })?;
    let phdr_addr = super::run::phdr_address(&o.header, m.bias);
    let entry = m.bias.wrapping_add(o.header.e_entry as usize);
    let mut l = super::run::describe(
        Kind::Library,
        &o.path,
        &o.names,
        m.bias,
        // The search's table needs no program headers of a loaded object.
        alloc::borrow::Cow::Owned(core::mem::take(&mut o.header.phdrs)),
        phdr_addr,
        entry,
        page,
        false,
    );
    l.stamp = o.stat.stamp();
    l.origin = o.origin.as_deref().map(objects::leak_cstr);
    l.loader = o.loader.and_then(|x| u32::try_from(x).ok());
    l.deps = o.deps.clone();
    out.push(l);
    Ok((m.map_start, m.map_end))
}

fn unmap(ranges: &[(usize, usize)]) {
    for &(a, e) in ranges {
        if e > a {
            // SAFETY: a range this dlopen mapped and nothing references yet.
            let _ = unsafe { crate::sys::munmap(a, e - a) };
        }
    }
}

/// How an object's TLS block must be placed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StaticNeed {
    /// `__tls_get_addr` blocks allocated on first use.
    Dynamic,
    /// Initial-exec accesses (DF_STATIC_TLS, TPOFF relocations): a static block or failure.
    Required,
    /// TLS descriptors: a static block from the optional surplus when there is room (glibc
    /// 2.36's opportunistic `TRY_STATIC_TLS`), else dynamic blocks (`_dl_tlsdesc_dynamic`).
    Descriptors,
}

fn static_need(rt: &Runtime, id: usize) -> StaticNeed {
    let Some(o) = rt.objs.get(id) else {
        return StaticNeed::Dynamic;
    };
    if o.info.flags() & DF_STATIC_TLS != 0 {
        return StaticNeed::Required;
    }
    let Some(v) = rt.ns.obj(id as ObjId) else {
        return StaticNeed::Dynamic;
    };
    let mut need = StaticNeed::Dynamic;
    // The DT_RELACOUNT prefix is applied as RELATIVE whatever its types say (glibc too), so
    // only the entries after it can ask for static TLS (libjvm: 11k of 110k entries).
    let symbolic = v.rela.get(v.relacount.saturating_mul(24)..).unwrap_or(&[]);
    for r in rld_link::object::relas(symbolic).chain(rld_link::object::relas(v.jmprel)) {
        match r.r_type {
            R_X86_64_TPOFF64 | R_X86_64_TPOFF32 => return StaticNeed::Required,
            R_X86_64_TLSDESC => need = StaticNeed::Descriptors,
            _ => {}
        }
    }
    need
}

/// First reference left unresolved that glibc would report now (`now`: every one; lazy:
/// all but PLT entries), as (objname, message).
fn first_undefined(rt: &Runtime, ids: &[usize], mode_now: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let prog = String::from_utf8_lossy(rt.progname).into_owned();
    for &id in ids {
        let Some(p) = rt.plan.objs.get(id) else {
            continue;
        };
        let now = mode_now || rt.bind_now || rt.objs.get(id).is_some_and(|o| o.info.bind_now());
        for (k, b) in p.keys.iter().zip(&p.bindings) {
            if *b != Binding::Undefined {
                continue;
            }
            if (k & 3) as u8 == CLASS_PLT && !now {
                continue;
            }
            let e = rld_link::plan::undefined_error(&rt.ns, &prog, id as ObjId, k >> 2)?;
            return Some((e.objname.into_bytes(), e.errstring.into_bytes()));
        }
    }
    None
}

/// Everything from mapping to constructors for an open that loads `opened.new`.
#[allow(clippy::too_many_arguments)]
fn load_new(
    b: &'static rld_glibc::GlibcBuild,
    graph: &mut Vec<rld_deps::Object<crate::fs::File>>,
    opened: rld_deps::OpenedIds,
    nprior: usize,
    mode: i32,
    ns: usize,
    argc: usize,
    argv: usize,
    env: usize,
) -> Result<usize, Failure> {
    // RTLD_GLOBAL into another namespace (libc refuses it for LM_ID_NEWLM): local there.
    let mode = if ns == 0 { mode } else { mode & !RTLD_GLOBAL };
    let page = match _rtld_global_ro.raw().get(b.rtld_global_ro.dl_pagesize) as usize {
        0 => 4096,
        p => p,
    };
    let rld_deps::OpenedIds {
        target,
        new,
        searchlist,
    } = opened;
    // The debugger protocol: RT_ADD before the list changes.
    _r_debug.raw().put(b.r_debug.r_state, 1);
    super::exports::_dl_debug_state();

    // ---- map -------------------------------------------------------------------------
    let mut loaded: Vec<Loaded> = Vec::with_capacity(new.len());
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (k, o) in graph.iter_mut().enumerate().skip(nprior) {
        if new.get(loaded.len()) != Some(&k) {
            let e = fail(0, &o.path, "internal error: unexpected object order");
            unmap(&ranges);
            graph.truncate(nprior);
            return Err(e);
        }
        let r = map_new(o, page, &mut loaded);
        // Mapped (or failed): its file is closed now, as when the search's objects dropped.
        o.file = None;
        match r {
            Ok(r) => ranges.push(r),
            Err(e) => {
                unmap(&ranges);
                graph.truncate(nprior);
                return Err(e);
            }
        }
    }

    // ---- enter the objects into the runtime, plan their bindings ----------------------------
    let entered = state::with(|rt| -> Result<(), Failure> {
        if rt.objs.len() != nprior {
            return Err(fail(0, b"", "internal error: concurrent dlopen"));
        }
        let mut views = Vec::with_capacity(loaded.len());
        for o in &mut loaded {
            let v = objects::view_of(o, ObjKind::Library);
            match v {
                Ok(v) => views.push(v),
                Err(_) => {
                    return Err(fail(0, o.name, "cannot read its dynamic tables"));
                }
            }
        }
        for v in views {
            rt.ns.push_object(v);
        }
        rt.objs.append(&mut loaded);
        let local: Vec<ObjId> = searchlist.iter().map(|&i| i as ObjId).collect();
        // SAFETY: inside `state::with`.
        let spaces = unsafe { namespaces() };
        if let Some(n) = spaces.get_mut(ns).filter(|_| ns != 0) {
            // Another namespace: its global scope (its first object's search list) and the
            // opened object's search list, never the base namespace's global scope.
            if n.chain.is_empty() {
                n.global = searchlist.clone();
            }
            let global: Vec<ObjId> = n.global.iter().map(|&i| i as ObjId).collect();
            let scopes = if global == local {
                alloc::vec![global]
            } else if mode & RTLD_DEEPBIND != 0 {
                alloc::vec![local.clone(), global]
            } else {
                alloc::vec![global, local.clone()]
            };
            for &i in &new {
                rt.ns.set_scopes(i as ObjId, scopes.clone());
                rt.ns.set_group(i as ObjId, ns as u32);
            }
        }
        for &i in new.iter().filter(|_| ns == 0) {
            if mode & RTLD_DEEPBIND != 0 {
                rt.ns.set_local_scope_first(i as ObjId, local.clone());
            } else {
                rt.ns.set_local_scope(i as ObjId, local.clone());
            }
        }
        // Relocation order: the new objects sorted by dependency, dependencies first.
        let maps: Vec<ObjId> = new.iter().map(|&i| i as ObjId).collect();
        let mut order = sort_dfs(rt, &maps, false);
        order.reverse();
        // RTLD_LAZY: PLT entries are bound on first call, as at start-up (unless LD_BIND_NOW
        // or the object's own DF_BIND_NOW say otherwise).
        let lazy_open = mode & RTLD_NOW == 0 && !rt.bind_now;
        let objs = &rt.objs;
        let lazy =
            |id: ObjId| lazy_open && !objs.get(id as usize).is_some_and(|o| o.info.bind_now());
        // Each object is planned straight into its entry of the runtime's plan (`plan_with`
        // would size a plan for every object and its plans be copied over).
        if rt.plan.objs.len() < rt.objs.len() {
            rt.plan.objs.resize(rt.objs.len(), Default::default());
        }
        let mut planner = rld_link::Planner::default();
        // A big dlopen's bindings may come from (or go to) the launch cache.
        let planned: Vec<(ObjId, bool)> = order.iter().map(|&i| (i, lazy(i))).collect();
        let source = if ns == 0 {
            super::launch::dl_source(
                rt.launch.as_ref(),
                &rt.objs,
                &rt.ns,
                &super::launch::DlFacts {
                    main: rt.main,
                    order: &planned,
                    local: &local,
                    deep: mode & RTLD_DEEPBIND != 0,
                    dynamic_weak: rt.ns.dynamic_weak,
                },
            )
        } else {
            None
        };
        let mut cache = match &source {
            Some(src) => src.cache(&mut rt.ns, &planned),
            None => super::launch::Cache::Off,
        };
        for &(i, lazy_plt) in &planned {
            if let Some(dst) = rt.plan.objs.get_mut(i as usize)
                && !cache.plan_into(i, dst)
            {
                planner.plan_object(&mut rt.ns, i, lazy_plt, dst);
                cache.planned(i, dst, &rt.ns);
            }
        }
        cache.finish(&rt.ns, planner.first_error.is_none());
        let order_usize: Vec<usize> = order.iter().map(|&i| i as usize).collect();
        if let Some((obj, msg)) = first_undefined(rt, &order_usize, mode & RTLD_NOW != 0) {
            return Err(Failure { errno: 0, obj, msg });
        }
        Ok(())
    })
    .unwrap_or_else(|| Err(fail(0, b"", "no runtime")));
    if let Err(e) = entered {
        abandon(b, &new, &ranges);
        return Err(e);
    }

    // ---- TLS module ids and static blocks ------------------------------------------------
    let tls = state::with(|rt| assign_tls(b, rt, &new)).unwrap_or(Ok(Vec::new()));
    let statics = match tls {
        Ok(s) => s,
        Err(e) => {
            abandon(b, &new, &ranges);
            return Err(e);
        }
    };

    // ---- link maps, chain, global scope ------------------------------------------------
    let mut new_libc: Option<usize> = None;
    mutex(true, true);
    let reloc_order: Vec<usize> = state::with(|rt| {
        for &i in &new {
            let lm = link_map_for(b, i);
            if let Some(o) = rt.objs.get_mut(i) {
                o.lm = lm;
            }
        }
        // SAFETY: inside `state::with`.
        let spaces = unsafe { namespaces() };
        let chain = match spaces.get_mut(ns) {
            Some(n) if ns != 0 => &mut n.chain,
            _ => &mut rt.chain,
        };
        let old_tail = chain.last().copied();
        chain.extend(new.iter().copied());
        let chain: &[usize] = chain;
        let lists = Lists {
            chain,
            searchlist: &rt.searchlist,
            initfini: &rt.initfini,
            main: rt.main,
        };
        glibc::fill_link_maps_of(b, &rt.objs, &lists, Some(&new));
        let f = &b.link_map;
        if let (Some(t), Some(&first)) = (old_tail.and_then(|t| rt.objs.get(t)), new.first())
            && let Some(fo) = rt.objs.get(first)
        {
            glibc::lm_raw(b, t.lm).put(f.l_next, fo.lm as u64);
        }
        let first = chain.first().copied();
        let ns_first = if ns == 0 {
            rt.main
        } else {
            first.unwrap_or(target)
        };
        let main_lm = rt.objs.get(ns_first).map_or(0, |o| o.lm);
        let target_lm = rt.objs.get(target).map_or(0, |o| o.lm);
        let main_sl = glibc::lm_raw(b, main_lm).addr(f.l_searchlist) as u64;
        for &i in &new {
            let Some(o) = rt.objs.get(i) else { continue };
            let l = glibc::lm_raw(b, o.lm);
            l.put_bits(f.l_type, 2);
            ANY_LOADED.store(true, Ordering::Release);
            l.put_bits(f.l_global, 0);
            l.put(f.l_ns, ns as u64);
            if ns != 0 {
                // fill_link_maps_of gave it the base namespace's scope: its own namespace's
                // global scope replaces it (after its DT_SYMBOLIC self-scope, if any).
                let mut k = 0;
                if o.info.symbolic() && mode & RTLD_DEEPBIND == 0 {
                    l.put(
                        glibc::slot(f.l_scope_mem, 0),
                        l.addr(f.l_symbolic_searchlist) as u64,
                    );
                    k = 1;
                }
                l.put(glibc::slot(f.l_scope_mem, k), main_sl);
                l.put(glibc::slot(f.l_scope_mem, k + 1), 0);
            }
            // l_scope = [global, (own symbolic first), the dlopen'ed object's search list];
            // RTLD_DEEPBIND: [the dlopen'ed object's search list, global] (`_dl_new_object`;
            // `_dl_map_object_from_fd` adds no symbolic scope then).
            let tl = glibc::lm_raw(b, target_lm).addr(f.l_searchlist) as u64;
            if mode & RTLD_DEEPBIND != 0 && tl != main_sl {
                l.put(glibc::slot(f.l_scope_mem, 0), tl);
                l.put(glibc::slot(f.l_scope_mem, 1), main_sl);
                l.put(glibc::slot(f.l_scope_mem, 2), 0);
                if o.info.flags_1() & DF_1_NODELETE != 0 {
                    l.put(f.l_nodelete_active, 1);
                }
                continue;
            }
            let mut k = 0;
            while k < 3 && l.get(glibc::slot(f.l_scope_mem, k)) != 0 {
                k += 1;
            }
            if l.get(glibc::slot(f.l_scope_mem, k.saturating_sub(1))) == main_sl && tl != main_sl {
                l.put(glibc::slot(f.l_scope_mem, k), tl);
            }
            if o.info.flags_1() & DF_1_NODELETE != 0 {
                l.put(f.l_nodelete_active, 1);
            }
        }
        set_searchlist(b, rt, target, &searchlist);
        mark_unique_nodelete(b, rt, &new);
        if let Some(o) = rt.objs.get(target) {
            bump_open(b, o.lm, mode);
        }
        if mode & RTLD_GLOBAL != 0 {
            make_global(b, rt, &searchlist);
        }
        let n = new.len() as u64;
        let gl = _rtld_global.raw();
        let nsr = ns_raw(b, ns);
        let nl = &b.link_namespaces;
        nsr.put(nl.ns_nloaded, nsr.get(nl.ns_nloaded) + n);
        if ns != 0 {
            nsr.put(nl.ns_loaded, main_lm as u64);
            // Its own libc (glibc's `libc_map`, set when libc.so.6 is mapped there).
            if nsr.get(nl.libc_map) == 0
                && let Some(&c) = new.iter().find(|&&i| {
                    rt.objs
                        .get(i)
                        .is_some_and(|o| o.libnames.iter().any(|n| n.starts_with(b"libc.so.6\0")))
                })
            {
                nsr.put(nl.libc_map, rt.objs.get(c).map_or(0, |o| o.lm) as u64);
                new_libc = Some(c);
            }
        }
        gl.put(
            b.rtld_global.dl_load_adds,
            gl.get(b.rtld_global.dl_load_adds) + n,
        );
        rebuild_ranges_all(rt);
        let maps: Vec<ObjId> = new.iter().map(|&i| i as ObjId).collect();
        let mut order = sort_dfs(rt, &maps, false);
        order.reverse();
        order.into_iter().map(|i| i as usize).collect()
    })
    .unwrap_or_default();
    mutex(true, false);

    super::debug::show_scopes(&[target]);
    // ---- relocation ------------------------------------------------------------------------
    for &id in &reloc_order {
        if let Err(line) =
            super::reloc::relocate(id, mode & RTLD_NOW != 0, &mut super::reloc::Relative::Table)
        {
            // glibc would unload; rld keeps the mapping (it may already be referenced) and
            // reports the error line as the message.
            let obj = state::with(|rt| rt.objs.get(id).map(|o| o.name.to_vec()))
                .flatten()
                .unwrap_or_default();
            return Err(Failure {
                errno: 0,
                obj,
                msg: line.trim_end().as_bytes().to_vec(),
            });
        }
        super::reloc::protect_relro(id);
        state::with(|rt| {
            if let Some(o) = rt.objs.get(id) {
                glibc::lm_raw(b, o.lm).put_bits(b.link_map.l_relocated, 1);
            }
        });
    }
    let shown = state::with(|rt| update_scopes(b, rt, target, &searchlist)).unwrap_or_default();
    super::debug::show_scopes_from(&shown);
    // Static TLS blocks of the new initial-exec modules, in every thread (after relocation:
    // the images may hold relocated data).
    for m in &statics {
        init_static_everywhere(b, m);
    }
    publish_tls_generation(b, &new);

    _r_debug.raw().put(b.r_debug.r_state, 0);
    super::exports::_dl_debug_state();

    // A namespace's own libc is initialised before any constructor (`_dl_call_libc_early_init`
    // with initial = false: no brk heap, ...).
    if let Some(c) = new_libc {
        let f = state::with(|rt| {
            super::run::lookup_in_object(rt, c, b"__libc_early_init", Some(b"GLIBC_PRIVATE"))
        })
        .unwrap_or(0);
        if f != 0 {
            // SAFETY: `void __libc_early_init(_Bool)` of a relocated libc.
            let f: extern "C" fn(bool) = unsafe { core::mem::transmute(f) };
            f(false);
        }
    }

    // ---- constructors ----------------------------------------------------------------------
    run_constructors(b, &searchlist, argc, argv, env);
    let lm = state::with(|rt| rt.objs.get(target).map_or(0, |o| o.lm)).unwrap_or(0);
    super::debug::open_count_event(lm, super::debug::OpenEvent::Opening);
    Ok(lm)
}

/// Set once dlopen has entered an object (`lt_loaded`): before that, no definition can come
/// from an object dlclose may unload, and binding skips the run-time dependency check.
static ANY_LOADED: AtomicBool = AtomicBool::new(false);

/// glibc's `add_dependency` (elf/dl-lookup.c): a reference of object `undef` bound to a
/// definition in `def`. When `def` was dlopen'ed, can be unloaded and is outside `undef`'s
/// dependency closure, it becomes a run-time dependency of `undef` (`l_reldeps`), which keeps
/// it loaded as long as `undef` is; an object that is never unloaded (the main program, the
/// start-up libraries) makes it NODELETE instead.
///
/// Called with the runtime state exclusively held (relocation under `GL(dl_load_lock)`, the
/// lazy PLT resolver and `_dl_lookup_symbol_x` inside `state::with`).
#[inline]
pub fn add_dependency(rt: &mut Runtime, undef: usize, def: usize) {
    // Before the first dlopen nothing can be unloaded: the check stays at the call site and
    // the body in the cold code (cold.ld), which start-up then never touches.
    if undef != def && ANY_LOADED.load(Ordering::Acquire) {
        add_reldep(rt, undef, def);
    }
}

/// `add_dependency` once something was dlopen'ed.
#[inline(never)]
fn add_reldep(rt: &mut Runtime, undef: usize, def: usize) {
    let Some(b) = super::build() else { return };
    let f = &b.link_map;
    let Some(d) = rt.objs.get(def) else { return };
    if d.lm == 0 {
        return;
    }
    let dl = glibc::lm_raw(b, d.lm);
    if dl.get_bits(f.l_type) != 2 || dl.get(f.l_nodelete_active) != 0 {
        return;
    }
    let Some(u) = rt.objs.get(undef) else { return };
    if u.reldeps.contains(&def) {
        return;
    }
    // `l_initfini`: the dependency closure of `undef`.
    let mut seen = alloc::vec![false; rt.objs.len()];
    let mut work = alloc::vec![undef];
    while let Some(i) = work.pop() {
        if i == def {
            return;
        }
        for &n in rt.objs.get(i).map_or(&[][..], |o| o.deps.as_slice()) {
            if let Some(s) = seen.get_mut(n)
                && !*s
            {
                *s = true;
                work.push(n);
            }
        }
    }
    let undef_loaded = u.lm != 0 && glibc::lm_raw(b, u.lm).get_bits(f.l_type) == 2;
    if !undef_loaded {
        dl.put(f.l_nodelete_active, 1);
        return;
    }
    if let Some(u) = rt.objs.get_mut(undef) {
        u.reldeps.push(def);
    }
}

/// A dlopen'ed object whose STB_GNU_UNIQUE definition became the process-wide one while the
/// new objects were relocated can never be unloaded (glibc's `do_lookup_unique` marks it
/// NODELETE): other objects may hold its address for ever.
fn mark_unique_nodelete(b: &rld_glibc::GlibcBuild, rt: &Runtime, new: &[usize]) {
    const STB_GNU_UNIQUE: u8 = 10;
    let mut mark: Vec<usize> = Vec::new();
    for &i in new {
        let Some(p) = rt.plan.objs.get(i) else {
            continue;
        };
        for bd in &p.bindings {
            let Binding::Def { obj, sym } = *bd else {
                continue;
            };
            let target = obj as usize;
            if mark.contains(&target) {
                continue;
            }
            let Some(v) = rt.ns.obj(obj) else { continue };
            let Some(s) = v.sym(sym) else { continue };
            if s.bind() != STB_GNU_UNIQUE {
                continue;
            }
            let entered_here = rt.ns.unique_entry_of(obj, v.sym_name(&s)) == Some((obj, sym));
            let loaded = rt.objs.get(target).is_some_and(|o| {
                o.lm != 0 && glibc::lm_raw(b, o.lm).get_bits(b.link_map.l_type) == 2
            });
            if entered_here && loaded {
                mark.push(target);
            }
        }
    }
    for t in mark {
        if let Some(o) = rt.objs.get(t) {
            glibc::lm_raw(b, o.lm).put(b.link_map.l_nodelete_active, 1);
        }
    }
}

/// An object leaves the lookups: its dependency lists go, rld-link marks it removed and
/// drops its scopes and namespace group.
fn forget(rt: &mut Runtime, i: usize) {
    if let Some(o) = rt.objs.get_mut(i) {
        o.deps.clear();
        o.reldeps.clear();
    }
    if let Some(v) = rt.ns.objs.get_mut(i) {
        v.removed = true;
    }
    rt.ns.set_local_scope(i as ObjId, Vec::new());
    rt.ns.set_scopes(i as ObjId, Vec::new());
    rt.ns.set_group(i as ObjId, 0);
}

/// Undoes a failed open before its objects were linked into the chain.
fn abandon(b: &rld_glibc::GlibcBuild, new: &[usize], ranges: &[(usize, usize)]) {
    state::with(|rt| {
        for &i in new {
            if let Some(o) = rt.objs.get_mut(i) {
                o.tls = None;
            }
            forget(rt, i);
        }
        rt.ns.invalidate_memo();
        reclaim_tail(b, rt);
    });
    unmap(ranges);
}

/// Frees what a reclaimed dlopen'ed object allocated for ever: the strings `describe` and
/// `map_new` leaked, its dynamic-section copy (`objects::read_dynamic`), and the arrays and
/// name nodes its link map points to (`lm_array`, `fill_link_maps_of`). Its link map itself
/// is kept for reuse.
fn free_object_memory(b: &rld_glibc::GlibcBuild, o: &Loaded) {
    use alloc::alloc::{Layout, dealloc};
    use alloc::boxed::Box;
    let free_bytes = |s: &'static [u8]| {
        if !s.is_empty() {
            // SAFETY: `s` is a `Box<[u8]>` leaked by `objects::leak`/`leak_cstr` for this
            // object only (describe/map_new); the object is unloaded and reclaimed, so no
            // table of rld names it any more.
            drop(unsafe { Box::from_raw(s as *const [u8] as *mut [u8]) });
        }
    };
    let free_words = |p: usize, n: usize| {
        if p != 0
            && let Ok(l) = Layout::from_size_align(n.max(1) * 8, 8)
        {
            // SAFETY: an `alloc_forever(n * 8, 8)` block (`lm_array`) of this object's link map.
            unsafe { dealloc(p as *mut u8, l) };
        }
    };
    if o.lm != 0 {
        let f = &b.link_map;
        let l = glibc::lm_raw(b, o.lm);
        // l_libname nodes (`fill_link_maps_of`: `alloc_forever(size, 8)` each).
        let ln = &b.libname_list;
        let mut node = l.get(f.l_libname) as usize;
        let mut guard = 0;
        while node != 0 && guard < 64 {
            // SAFETY: a libname node rld allocated for this link map.
            let r = unsafe { Raw::new(node as *mut u8, ln.size) };
            let next = r.get(ln.next) as usize;
            if let Ok(lay) = Layout::from_size_align(ln.size, 8) {
                // SAFETY: as above; nothing else points to it.
                unsafe { dealloc(node as *mut u8, lay) };
            }
            node = next;
            guard += 1;
        }
        l.put(f.l_libname, 0);
        // l_searchlist (set_searchlist: nlist + NULL) and l_initfini ([self, deps..] + NULL).
        let sl = l.get(f.l_searchlist_r_list) as usize;
        let inside = sl >= o.lm && sl < o.lm + b.link_map.size;
        if !inside {
            free_words(sl, l.get(f.l_searchlist_r_nlist) as usize + 1);
        }
        l.put(f.l_searchlist_r_list, 0);
        let ifi = l.get(f.l_initfini) as usize;
        if ifi != 0 {
            let mut n = 0;
            // SAFETY: a NULL-terminated array from `lm_array` (bounded walk).
            while n < 1 << 16 && unsafe { (ifi as *const usize).add(n).read() } != 0 {
                n += 1;
            }
            free_words(ifi, n + 1);
        }
        l.put(f.l_initfini, 0);
    }
    if o.dyn_addr != 0 {
        // `read_dynamic` leaked exactly the entries up to and including DT_NULL.
        let e = o.info.dynamic().raw_entries();
        let n = (e.len() + 1) * 16;
        // SAFETY: that leaked `Box<[u8]>` of `n` bytes, only referenced by `o.info`, which
        // is dropped with `o` below.
        let s: &'static [u8] = unsafe { core::slice::from_raw_parts(e.as_ptr().cast(), n) };
        free_bytes(s);
    }
    // Program headers outside the image are a copy (`objects::image_phdrs`).
    let at = o.phdrs.as_ptr() as usize;
    if !o.phdrs.is_empty() && !(o.map_start..o.map_end).contains(&at) {
        // SAFETY: the `Box<[Phdr]>` `image_phdrs` leaked for this object only.
        drop(unsafe {
            Box::from_raw(
                o.phdrs as *const [rld_search::verify::Phdr] as *mut [rld_search::verify::Phdr],
            )
        });
    }
    // `name` is a prefix of `name_c`'s allocation (`objects::leak_name`).
    free_bytes(o.name_c);
    for n in &o.libnames {
        free_bytes(n);
    }
    if let Some(or) = o.origin {
        free_bytes(or);
    }
}

// ---- link-map namespaces (dlmopen) ------------------------------------------------------------

/// One namespace other than the base one: its objects in link-map order and its global scope
/// (the search list of its first object, glibc's `_ns_loaded->l_searchlist`).
#[derive(Default)]
struct NsState {
    chain: Vec<usize>,
    global: Vec<usize>,
}

/// Namespaces 1.. (index 0 is unused: the base namespace is `Runtime::chain`/`searchlist`).
/// Only touched under `state::with`.
struct Namespaces(core::cell::UnsafeCell<Vec<NsState>>);
// SAFETY: accessed only inside `state::with`, which serialises all access.
unsafe impl Sync for Namespaces {}
static NAMESPACES: Namespaces = Namespaces(core::cell::UnsafeCell::new(Vec::new()));

/// The namespaces 1.. (index 0 unused, always present).
///
/// # Safety
/// The caller holds the state lock (runs inside `state::with`) and keeps no other reference.
#[allow(clippy::mut_from_ref)]
unsafe fn namespaces() -> &'static mut Vec<NsState> {
    // SAFETY: caller contract.
    let v = unsafe { &mut *NAMESPACES.0.get() };
    if v.is_empty() {
        v.push(NsState::default());
    }
    v
}

/// True if object `i` is in the link-map list of some namespace. Inside `state::with`.
fn chained(rt: &Runtime, i: usize) -> bool {
    // SAFETY: inside `state::with` (every caller).
    rt.chain.contains(&i) || unsafe { namespaces() }.iter().any(|n| n.chain.contains(&i))
}

/// Every object of every namespace's list, base namespace first. Inside `state::with`.
fn all_chained(rt: &Runtime) -> Vec<usize> {
    let mut v = rt.chain.clone();
    // SAFETY: inside `state::with` (every caller).
    for n in unsafe { namespaces() }.iter() {
        v.extend_from_slice(&n.chain);
    }
    v
}

/// `_dl_fini`'s order for the namespaces other than the base one (run before it): the last
/// namespace first, each sorted for fini (users before their dependencies).
pub fn other_namespaces_fini_order(rt: &Runtime) -> Vec<usize> {
    // SAFETY: `_dl_fini` calls this inside `state::with`.
    let spaces = unsafe { namespaces() };
    let mut out = Vec::new();
    for n in spaces.iter().skip(1).rev() {
        let maps: Vec<ObjId> = n.chain.iter().map(|&i| i as ObjId).collect();
        let order = sort_fini(rt, &maps, true);
        out.extend(order.into_iter().map(|i| i as usize));
    }
    out
}

/// The namespace of object `i` (its link map's `l_ns`).
fn ns_of(b: &rld_glibc::GlibcBuild, rt: &Runtime, i: usize) -> usize {
    rt.objs
        .get(i)
        .filter(|o| o.lm != 0)
        .map_or(0, |o| glibc::lm_raw(b, o.lm).get(b.link_map.l_ns) as usize)
}

/// `_rtld_global._dl_ns[ns]`.
fn ns_raw(b: &rld_glibc::GlibcBuild, ns: usize) -> Raw {
    Raw {
        base: _rtld_global.raw().base.wrapping_add(b.dl_ns_offset(ns)),
        size: b.link_namespaces.size,
    }
}

/// Address ranges of every namespace's objects (`Runtime::rebuild_ranges` knows only the base
/// namespace). Inside `state::with`.
fn rebuild_ranges_all(rt: &mut Runtime) {
    rt.rebuild_ranges();
    // SAFETY: inside `state::with` (every caller).
    let extra: Vec<usize> = unsafe { namespaces() }
        .iter()
        .flat_map(|n| n.chain.iter().copied())
        .collect();
    if extra.is_empty() {
        return;
    }
    for i in extra {
        if let Some(o) = rt.objs.get(i)
            && o.map_end > o.map_start
        {
            rt.ranges.push((o.map_start, o.map_end, i));
        }
    }
    rt.ranges.sort_unstable();
}

/// glibc's namespace choice in `_dl_open`: LM_ID_NEWLM takes the first empty namespace (or a
/// new one, `GL(dl_nns)`++), __LM_ID_CALLER the caller's, others must exist and be in use.
fn choose_namespace(
    b: &rld_glibc::GlibcBuild,
    nsid: isize,
    caller: usize,
    name: &[u8],
) -> Result<usize, Failure> {
    let gl = _rtld_global.raw();
    let nns = gl.get(b.rtld_global.dl_nns) as usize;
    let r = state::with(|rt| {
        // SAFETY: inside `state::with`.
        let spaces = unsafe { namespaces() };
        match nsid {
            -1 => {
                let free = (1..nns).find(|&n| spaces.get(n).is_none_or(|s| s.chain.is_empty()));
                match free {
                    Some(n) => Ok(n),
                    None if nns < b.dl_nns_max() => {
                        // A new namespace: its unique-symbol lock like the base one's.
                        let lock = b.link_namespaces.ns_unique_sym_table_lock;
                        let mut m = [0u8; 64];
                        let n0 = ns_raw(b, 0);
                        for (k, byte) in m.iter_mut().enumerate().take(lock.size.min(64)) {
                            *byte = n0.get(rld_glibc::Field {
                                offset: lock.offset + k,
                                size: 1,
                            }) as u8;
                        }
                        ns_raw(b, nns).put_bytes(lock, m.get(..lock.size).unwrap_or(&[]));
                        gl.put(b.rtld_global.dl_nns, nns as u64 + 1);
                        Ok(nns)
                    }
                    None => Err("no more namespaces available for dlmopen()"),
                }
            }
            -2 => Ok(rt.object_at(caller).map_or(0, |c| ns_of(b, rt, c))),
            0 => Ok(0),
            n if n > 0
                && (n as usize) < nns
                && spaces.get(n as usize).is_some_and(|s| !s.chain.is_empty()) =>
            {
                Ok(n as usize)
            }
            _ => Err("invalid target namespace in dlmopen()"),
        }
    })
    .unwrap_or(Ok(0));
    let ns = r.map_err(|m| fail(22, name, m))?;
    state::with(|_| {
        // SAFETY: inside `state::with`.
        let spaces = unsafe { namespaces() };
        while spaces.len() <= ns {
            spaces.push(NsState::default());
        }
    });
    Ok(ns)
}

// ---- reusing the ids of unloaded objects ----------------------------------------------------

/// Link maps of reclaimed object ids, by id: the next object given that id reuses the memory
/// (its trailer already names the id). Only touched under `state::with`.
struct Spare(core::cell::UnsafeCell<Vec<(usize, usize)>>);
// SAFETY: accessed only inside `state::with`, which serialises all access.
unsafe impl Sync for Spare {}
static SPARE_LINK_MAPS: Spare = Spare(core::cell::UnsafeCell::new(Vec::new()));

/// Mutable access to the spare link maps.
///
/// # Safety
/// The caller holds the state lock (runs inside `state::with`) and keeps no other reference.
#[allow(clippy::mut_from_ref)]
unsafe fn spare_link_maps() -> &'static mut Vec<(usize, usize)> {
    // SAFETY: caller contract.
    unsafe { &mut *SPARE_LINK_MAPS.0.get() }
}

/// A zeroed link map for object `id`: a reclaimed one of the same id, or a new one.
/// Runs inside `state::with`.
fn link_map_for(b: &rld_glibc::GlibcBuild, id: usize) -> usize {
    // SAFETY: called inside `state::with` (load_new's link-map section).
    let spare = unsafe { spare_link_maps() };
    if let Some(k) = spare.iter().position(|&(i, _)| i == id) {
        let (_, lm) = spare.swap_remove(k);
        // SAFETY: a link map from `new_link_map` for this id whose object was unloaded and
        // reclaimed; nothing of rld references it any more (as after glibc's free). Its
        // trailer (after `size` bytes) is kept.
        unsafe { core::ptr::write_bytes(lm as *mut u8, 0, b.link_map.size) };
        return lm;
    }
    glibc::new_link_map(b, id)
}

/// Drops the unloaded objects at the end of the object table (ids no list names any more),
/// so that their ids, link maps and table entries serve the next dlopen: repeated
/// dlopen/dlclose cycles keep the table, and every per-open walk over it, the same size.
/// Objects still referenced (in the chain, or live objects' dependencies) are never at a
/// reclaimable end: only unloaded (`l_removed`) or abandoned objects are dropped.
fn reclaim_tail(b: &rld_glibc::GlibcBuild, rt: &mut Runtime) {
    let floor = [Some(rt.main), Some(rt.rtld), rt.vdso, rt.libc]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
        + 1;
    let mut len = rt.objs.len();
    while len > floor {
        let i = len - 1;
        let Some(o) = rt.objs.get(i) else { break };
        if chained(rt, i)
            || rt.searchlist.contains(&i)
            || o.tls.is_some()
            || rt
                .objs
                .iter()
                .take(i)
                .any(|p| p.deps.contains(&i) || p.reldeps.contains(&i))
        {
            break;
        }
        let dead = o.lm == 0 || glibc::lm_raw(b, o.lm).get_bits(b.link_map.l_removed) != 0;
        if !dead {
            break;
        }
        if o.lm != 0 {
            // SAFETY: inside `state::with`.
            unsafe { spare_link_maps() }.push((i, o.lm));
        }
        len = i;
    }
    if len == rt.objs.len() {
        return;
    }
    rt.ns.truncate(len);
    rt.plan.objs.truncate(len);
    // Freed where they are, then dropped in place (moving each record out was a copy of
    // about a kilobyte per object).
    for o in rt.objs.get(len..).unwrap_or(&[]) {
        free_object_memory(b, o);
    }
    rt.objs.truncate(len);
}

/// Gives the new TLS modules ids (and static blocks when they need one); returns the static
/// modules to initialise in every thread.
fn assign_tls(
    b: &rld_glibc::GlibcBuild,
    rt: &mut Runtime,
    new: &[usize],
) -> Result<Vec<super::tls::TlsModule>, Failure> {
    let mut statics = Vec::new();
    for &i in new {
        // (Only objects with a TLS segment: the relocations need not be scanned for others.)
        let Some(img) = rt.objs.get(i).and_then(|o| o.tls.map(|t| t.image)) else {
            continue;
        };
        let need = static_need(rt, i);
        let offset = if need != StaticNeed::Dynamic {
            let optional = need == StaticNeed::Descriptors;
            match rt.static_tls.try_allocate(&img, optional) {
                Some(off) => off as usize,
                // TLS descriptors without room in the surplus: `_dl_tlsdesc_dynamic`.
                None if optional => 0,
                None => {
                    let name = rt.objs.get(i).map_or(&b""[..], |o| o.name);
                    return Err(fail(0, name, "cannot allocate memory in static TLS block"));
                }
            }
        } else {
            0
        };
        let modid = next_tls_modid(rt);
        if let Some(o) = rt.objs.get_mut(i)
            && let Some(t) = o.tls.as_mut()
        {
            t.modid = modid;
            t.offset = offset;
            if offset != 0
                && let Some(m) = o.tls_module()
            {
                statics.push(super::tls::TlsModule { link_map: 0, ..m });
            }
        }
    }
    let gl = _rtld_global.raw();
    gl.put(b.rtld_global.dl_tls_static_used, rt.static_tls.used);
    gl.put(b.rtld_global.dl_tls_static_optional, rt.static_tls.optional);
    Ok(statics)
}

/// `_dl_next_tls_modid`: the lowest free id above the start-up modules when an unloaded
/// module left a gap, else one past the highest.
fn next_tls_modid(rt: &mut Runtime) -> usize {
    if rt.tls_gaps {
        let used = tls_ids_in_use(rt);
        let free =
            (rt.static_modids + 1..=rt.max_modid).find(|&m| !used.get(m).copied().unwrap_or(false));
        if let Some(m) = free {
            return m;
        }
        rt.tls_gaps = false;
    }
    rt.max_modid += 1;
    rt.max_modid
}

/// used[m]: a loaded object (or one being loaded, already given its id) has TLS module m.
fn tls_ids_in_use(rt: &Runtime) -> Vec<bool> {
    let mut used = alloc::vec![false; rt.max_modid + 1];
    for t in rt.objs.iter().filter_map(|o| o.tls.as_ref()) {
        if let Some(u) = used.get_mut(t.modid) {
            *u = true;
        }
    }
    used
}

/// `remove_slotinfo` for module `modid` of an unloaded object (its `tls` already taken):
/// the highest id in use drops to the next one still used, or a gap is noted.
fn release_tls_modid(rt: &mut Runtime, modid: usize) {
    if modid != rt.max_modid {
        rt.tls_gaps = true;
        return;
    }
    let used = tls_ids_in_use(rt);
    rt.max_modid = (rt.static_modids + 1..modid)
        .rev()
        .find(|&m| used.get(m).copied().unwrap_or(false))
        .unwrap_or(rt.static_modids);
}

/// Slotinfo entries for the new modules and the generation bump (`_dl_add_to_slotinfo`,
/// `update_tls_slotinfo`).
fn publish_tls_generation(b: &rld_glibc::GlibcBuild, new: &[usize]) {
    state::with(|rt| {
        let mods: Vec<(usize, usize)> = new
            .iter()
            .filter_map(|&i| {
                let o = rt.objs.get(i)?;
                Some((o.tls?.modid, o.lm))
            })
            .collect();
        if mods.is_empty() {
            return;
        }
        let gl = _rtld_global.raw();
        let g = &b.rtld_global;
        let generation = gl.get(g.dl_tls_generation) + 1;
        set_slotinfo(b, &mods, generation);
        gl.put(g.dl_tls_max_dtv_idx, rt.max_modid as u64);
        gl.put(g.dl_tls_generation, generation);
        // SAFETY: the fast-path mirror of GL(dl_tls_generation); written under the state
        // lock and read with plain loads by `__tls_get_addr` (a stale read takes the slow path).
        unsafe { super::tls::TLS_GENERATION = generation };
    });
}

/// Writes {generation, map} slotinfo entries (the first chunk rld allocated at start-up).
pub fn set_slotinfo(b: &rld_glibc::GlibcBuild, mods: &[(usize, usize)], generation: u64) {
    let gl = _rtld_global.raw();
    let list = gl.get(b.rtld_global.dl_tls_dtv_slotinfo_list) as usize;
    if list == 0 {
        return;
    }
    let head = b.dtv_slotinfo_list.size;
    let elem = b.dtv_slotinfo.size;
    // SAFETY: the slotinfo chunk rld allocated at start-up (never freed), `len` entries.
    let r = unsafe { Raw::new(list as *mut u8, head) };
    let len = r.get(b.dtv_slotinfo_list.len) as usize;
    for &(modid, lm) in mods {
        if modid >= len {
            continue;
        }
        let e = Raw {
            base: (list + b.dtv_slotinfo_list.slotinfo.offset + modid * elem) as *mut u8,
            size: elem,
        };
        e.put(b.dtv_slotinfo.generation, generation);
        e.put(b.dtv_slotinfo.map, lm as u64);
    }
}

/// Copies a static TLS module's image into every thread's block (`_dl_init_static_tls`):
/// the threads are the `struct pthread`s on `GL(dl_stack_used)` and `GL(dl_stack_user)`.
fn init_static_everywhere(b: &rld_glibc::GlibcBuild, m: &super::tls::TlsModule) {
    let gl = _rtld_global.raw();
    let list_off = b.pthread.list.offset;
    for head_f in [b.rtld_global.dl_stack_used, b.rtld_global.dl_stack_user] {
        let head = gl.addr(head_f);
        // SAFETY: glibc's thread lists (list_t {next, prev}) of live threads' struct pthread,
        // maintained by libc under dl_load_lock-compatible rules (threads are added/removed
        // under GL(dl_stack_cache_lock); glibc walks them the same way here).
        unsafe {
            let mut node = (head as *const usize).read();
            let mut guard = 0;
            while node != head && node != 0 && guard < 1_000_000 {
                guard += 1;
                let pd = node - list_off;
                let dest = (pd - m.offset) as *mut u8;
                let n = m.init_len.min(m.blocksize);
                core::ptr::copy_nonoverlapping(m.init_addr as *const u8, dest, n);
                core::ptr::write_bytes(dest.add(n), 0, m.blocksize - n);
                node = (node as *const usize).read();
            }
        }
    }
}

/// Runs the constructors of the objects of `searchlist` not yet initialised, dependencies
/// first (`_dl_init` over the dlopen'ed object's `l_initfini`).
fn run_constructors(
    b: &rld_glibc::GlibcBuild,
    searchlist: &[usize],
    argc: usize,
    argv: usize,
    env: usize,
) {
    type Init = (usize, Option<u64>, Option<u64>, Option<u64>, usize);
    let inits: Vec<Init> = state::with(|rt| {
        let maps: Vec<ObjId> = searchlist.iter().map(|&i| i as ObjId).collect();
        let order = sort_dfs(rt, &maps, true);
        order
            .into_iter()
            .rev()
            .filter_map(|i| {
                let o = rt.objs.get_mut(i as usize)?;
                if o.init_called || o.kind != Kind::Library {
                    return None;
                }
                o.init_called = true;
                glibc::lm_raw(b, o.lm).put_bits(b.link_map.l_init_called, 1);
                Some((
                    i as usize,
                    o.info.get(rld_elf::consts::DT_INIT),
                    o.info.get(rld_elf::consts::DT_INIT_ARRAY),
                    o.info.get(rld_elf::consts::DT_INIT_ARRAYSZ),
                    o.bias,
                ))
            })
            .collect()
    })
    .unwrap_or_default();
    for (i, init, arr, arrsz, bias) in inits {
        super::debug::calling_init(i);
        if let Some(f) = init {
            // SAFETY: DT_INIT of a relocated object.
            unsafe { super::jump::call_init(bias.wrapping_add(f as usize), argc, argv, env) };
        }
        if let (Some(a), Some(sz)) = (arr, arrsz) {
            let base = bias.wrapping_add(a as usize) as *const usize;
            for k in 0..(sz as usize / 8) {
                // SAFETY: the relocated DT_INIT_ARRAY of that object.
                let f = unsafe { base.add(k).read() };
                if f != 0 && f != usize::MAX {
                    // SAFETY: a constructor of that object.
                    unsafe { super::jump::call_init(f, argc, argv, env) };
                }
            }
        }
    }
}

// ---- dl_close ---------------------------------------------------------------------------

/// `GLRO(dl_close)(map)`: drops one reference; when the last one goes, unloads every
/// dlopen'ed object nothing uses any more (`_dl_close_worker`): destructors, `_r_debug`
/// RT_DELETE, removal from the chain, the scopes and the namespace, TLS slots, munmap.
pub extern "C" fn dl_close(map: usize) {
    let Some(b) = super::build() else { return };
    load_lock(true);
    let r = close_locked(b, map);
    load_lock(false);
    if let Err(f) = r {
        raise(f)
    }
}

fn close_locked(b: &'static rld_glibc::GlibcBuild, map: usize) -> Result<(), Failure> {
    // SAFETY: libc passes a handle dlopen returned; `index_of` recognises our link maps.
    let Some(_id) = (unsafe { glibc::index_of(b, map) }) else {
        return Err(fail(0, b"", "shared object not open"));
    };
    let f = &b.link_map;
    let l = glibc::lm_raw(b, map);
    // A NODELETE object is never closed: glibc's `_dl_close` returns before it even drops
    // the reference.
    if l.get(f.l_nodelete_active) != 0 {
        return Ok(());
    }
    let n = l.get(f.l_direct_opencount);
    if n == 0 {
        let name = state::with(|rt| {
            rt.objs
                .get(_id)
                .map(|o| o.name.to_vec())
                .unwrap_or_default()
        })
        .unwrap_or_default();
        return Err(Failure {
            errno: 0,
            obj: name,
            msg: b"shared object not open".to_vec(),
        });
    }
    l.put(f.l_direct_opencount, n - 1);
    if n > 1 || l.get_bits(f.l_type) != 2 {
        super::debug::open_count_event(map, super::debug::OpenEvent::Closing);
        return Ok(());
    }
    // Which dlopen'ed objects are still used: open, NODELETE, with pending thread_local
    // destructors, not dlopen'ed, or a dependency of a used object.
    type Fini = (usize, Option<u64>, Option<u64>, Option<u64>, usize);
    let Some((remove, finis)) = state::with(|rt| -> (Vec<usize>, Vec<Fini>) {
        let mut used = alloc::vec![false; rt.objs.len()];
        let mut work: Vec<usize> = Vec::new();
        let everything = all_chained(rt);
        for &i in &everything {
            let Some(o) = rt.objs.get(i) else { continue };
            let l = glibc::lm_raw(b, o.lm);
            let keep = l.get_bits(f.l_type) != 2
                || l.get(f.l_direct_opencount) != 0
                || l.get(f.l_nodelete_active) != 0
                || l.get(f.l_tls_dtor_count) != 0;
            if keep {
                used[i] = true;
                work.push(i);
            }
        }
        while let Some(i) = work.pop() {
            let Some(o) = rt.objs.get(i) else { continue };
            // Its DT_NEEDED objects and its run-time dependencies (`l_reldeps`).
            for &d in o.deps.iter().chain(o.reldeps.iter()) {
                if let Some(u) = used.get_mut(d)
                    && !*u
                {
                    *u = true;
                    work.push(d);
                }
            }
        }
        let remove: Vec<usize> = everything
            .iter()
            .copied()
            .filter(|&i| !used.get(i).copied().unwrap_or(true))
            .collect();
        // Destructor order: the namespace sorted for fini (users first, run-time
        // dependencies included).
        let maps: Vec<ObjId> = everything.iter().map(|&i| i as ObjId).collect();
        let order = sort_fini(rt, &maps, true);
        // Unloaded in that order too (TLS ids, LD_DEBUG's "destroying link map").
        let remove: Vec<usize> = order
            .iter()
            .map(|&i| i as usize)
            .filter(|i| remove.contains(i))
            .collect();
        let finis = remove
            .iter()
            .copied()
            .filter_map(|i| {
                let o = rt.objs.get_mut(i)?;
                if !core::mem::take(&mut o.init_called) {
                    return None;
                }
                glibc::lm_raw(b, o.lm).put_bits(f.l_init_called, 0);
                Some((
                    o.bias,
                    o.info.get(rld_elf::consts::DT_FINI_ARRAY),
                    o.info.get(rld_elf::consts::DT_FINI_ARRAYSZ),
                    o.info.get(rld_elf::consts::DT_FINI),
                    o.lm,
                ))
            })
            .collect();
        (remove, finis)
    }) else {
        return Ok(());
    };
    if remove.is_empty() {
        return Ok(());
    }
    for (bias, arr, arrsz, fini, lm) in finis {
        super::debug::calling_fini(lm);
        // SAFETY: an object being unloaded, relocated, its destructors not run yet.
        unsafe { super::services::run_destructors(bias, arr, arrsz, fini) };
    }
    _r_debug.raw().put(b.r_debug.r_state, 2);
    super::exports::_dl_debug_state();
    mutex(true, true);
    let ranges = state::with(|rt| {
        let r = unlink(b, rt, &remove);
        reclaim_tail(b, rt);
        r
    })
    .unwrap_or_default();
    mutex(true, false);
    unmap(&ranges);
    _r_debug.raw().put(b.r_debug.r_state, 0);
    super::exports::_dl_debug_state();
    Ok(())
}

/// Removes `remove` from the chain, the global scope, the namespace and the TLS slots;
/// returns the address ranges to unmap.
fn unlink(b: &rld_glibc::GlibcBuild, rt: &mut Runtime, remove: &[usize]) -> Vec<(usize, usize)> {
    let f = &b.link_map;
    let mut ranges = Vec::new();
    let mut tls_gone = Vec::new();
    let mut static_freed = rld_tls::StaticReclaim::default();
    repair_scopes(b, rt, remove);
    // SAFETY: inside `state::with` (unlink's caller).
    let spaces = unsafe { namespaces() };
    for &i in remove {
        let chain = match spaces.iter_mut().find(|n| n.chain.contains(&i)) {
            Some(n) => &mut n.chain,
            None => &mut rt.chain,
        };
        let Some(pos) = chain.iter().position(|&c| c == i) else {
            continue;
        };
        let prev = pos.checked_sub(1).and_then(|p| chain.get(p)).copied();
        let next = chain.get(pos + 1).copied();
        let lm_of = |x: Option<usize>| x.and_then(|x| rt.objs.get(x)).map_or(0, |o| o.lm);
        let (plm, nlm) = (lm_of(prev), lm_of(next));
        if plm != 0 {
            glibc::lm_raw(b, plm).put(f.l_next, nlm as u64);
        }
        if nlm != 0 {
            glibc::lm_raw(b, nlm).put(f.l_prev, plm as u64);
        }
        chain.remove(pos);
        if let Some(o) = rt.objs.get_mut(i) {
            glibc::lm_raw(b, o.lm).put_bits(f.l_removed, 1);
            ranges.push((o.map_start, o.map_end));
            if let Some(t) = o.tls.take() {
                tls_gone.push((t.modid, 0usize));
                // Offset 0: a dynamic-TLS module, nothing in the static block.
                if t.offset != 0 {
                    rt.static_tls
                        .reclaim(&mut static_freed, t.offset as u64, t.image.blocksize);
                }
            }
        }
        forget(rt, i);
        if let Some(o) = rt.objs.get(i) {
            super::debug::open_count_event(o.lm, super::debug::OpenEvent::Destroying);
        }
    }
    if rt.searchlist.iter().any(|i| remove.contains(i)) {
        rt.searchlist.retain(|i| !remove.contains(i));
        rt.ns
            .set_global(rt.searchlist.iter().map(|&i| i as ObjId).collect());
        if let Some(main) = rt.objs.get(rt.main) {
            let arr = glibc::lm_array(&rt.objs, &rt.searchlist, true);
            let l = glibc::lm_raw(b, main.lm);
            l.put(f.l_searchlist_r_nlist, rt.searchlist.len() as u64);
            l.put(f.l_searchlist_r_list, arr as u64);
        }
    }
    rt.ns.invalidate_memo();
    rt.static_tls.finish_reclaim(static_freed);
    _rtld_global
        .raw()
        .put(b.rtld_global.dl_tls_static_used, rt.static_tls.used);
    if !tls_gone.is_empty() {
        for &(modid, _) in &tls_gone {
            release_tls_modid(rt, modid);
        }
        let gl = _rtld_global.raw();
        let generation = gl.get(b.rtld_global.dl_tls_generation) + 1;
        set_slotinfo(b, &tls_gone, generation);
        gl.put(b.rtld_global.dl_tls_generation, generation);
        gl.put(b.rtld_global.dl_tls_max_dtv_idx, rt.max_modid as u64);
        // SAFETY: the fast-path mirror, updated under the state lock like at dlopen.
        unsafe { super::tls::TLS_GENERATION = generation };
    }
    let gl = _rtld_global.raw();
    let ns0 = Raw {
        base: gl.base.wrapping_add(b.dl_ns_offset(0)),
        size: b.link_namespaces.size,
    };
    ns0.put(b.link_namespaces.ns_nloaded, rt.chain.len() as u64);
    // The other namespaces: counts, first objects; an emptied one is free again (and
    // `GL(dl_nns)` shrinks past empty namespaces at the end, as `_dl_close_worker` does).
    let nl = &b.link_namespaces;
    for (n, st) in spaces.iter_mut().enumerate().skip(1) {
        let r = ns_raw(b, n);
        r.put(nl.ns_nloaded, st.chain.len() as u64);
        let first = st
            .chain
            .first()
            .and_then(|&i| rt.objs.get(i))
            .map_or(0, |o| o.lm);
        r.put(nl.ns_loaded, first as u64);
        if st.chain.is_empty() {
            st.global.clear();
            r.put(nl.libc_map, 0);
        }
    }
    let mut nns = gl.get(b.rtld_global.dl_nns) as usize;
    while nns > 1 && spaces.get(nns - 1).is_none_or(|s| s.chain.is_empty()) {
        nns -= 1;
    }
    gl.put(b.rtld_global.dl_nns, nns as u64);
    rebuild_ranges_all(rt);
    ranges
}
