//! LD_DEBUG and LD_DEBUG_OUTPUT, in glibc 2.36's words (`_dl_debug_printf`: every line starts
//! with the pid right-aligned in 10 columns, a colon and a tab).
//!
//! Output goes to stderr (glibc's `GLRO(dl_debug_fd)` default), or to `LD_DEBUG_OUTPUT.PID`
//! opened `O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW` 0666 (stdout if that fails, like glibc). The
//! hooks elsewhere are one-line calls; each starts with a test of `MASK`, so an unset LD_DEBUG
//! costs one well-predicted branch per hook.
//!
//! Categories: libs (search trace from rld-search, init/fini calls), files (needed-by and link
//! map lines), reloc, bindings and symbols (glibc's per-relocation lookups with its one-entry
//! `l_lookup_cache`, re-run with a trace while relocating: rld's binding plan is computed
//! before), statistics (lookup counts). `initialize program` and `transferring control` are
//! printed by libc itself through `GLRO(dl_debug_printf)`, which points at `printf_entry`.
//!
//! Invariants: the statics are written during single-threaded start-up (`init`) and by the
//! relocation hooks, which run under the start-up pipeline or rld's state lock; counters are
//! atomics so lazy binding in threads may update them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use rld::cli::{Config, debug as bits};
use rld_link::hash::NameHash;
use rld_link::lookup::{Found, Request, TypeClass};
use rld_link::object::STB_LOCAL;
use rld_link::{Binding, Namespace, ObjId};
use rld_search::search::TraceEvent;

use super::state::{self, Runtime};

static MASK: AtomicU32 = AtomicU32::new(0);
static FD: AtomicI32 = AtomicI32::new(2);
/// glibc's `GL(dl_num_relocations)` (lookups) and `GL(dl_num_cache_relocations)`.
static NUM_LOOKUPS: AtomicU64 = AtomicU64::new(0);
static NUM_CACHED: AtomicU64 = AtomicU64::new(0);
/// The relocating object's `l_lookup_cache`: (object + 1, symbol index, type class).
static CACHE_OBJ: AtomicUsize = AtomicUsize::new(0);
static CACHE_KEY: AtomicU64 = AtomicU64::new(u64::MAX);
/// Time stamps for the statistics (TSC): start, first relocation, end of relocation.
static T_START: AtomicU64 = AtomicU64::new(0);
static T_RELOC: AtomicU64 = AtomicU64::new(0);
static T_RELOC_END: AtomicU64 = AtomicU64::new(0);

/// The LD_DEBUG mask (glibc's `GLRO(dl_debug_mask)`).
#[inline(always)]
pub fn mask() -> u32 {
    MASK.load(Relaxed)
}

#[inline(always)]
fn on(b: u32) -> bool {
    mask() & b != 0
}

fn tsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86-64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Takes LD_DEBUG/LD_DEBUG_OUTPUT from the parsed configuration (`cli::parse_env` already
/// cleared them in secure mode) and opens the output file.
pub fn init(cfg: &Config<'_>, progname: &'static [u8]) {
    set_progname(progname);
    let m = cfg.debug_mask & !bits::HELP;
    MASK.store(m, Relaxed);
    if m == 0 {
        return;
    }
    T_START.store(tsc(), Relaxed);
    if let Some(base) = cfg.debug_output.filter(|_| !cfg.secure && cfg.any_debug) {
        let mut name = base.to_vec();
        let _ = write!(Bytes(&mut name), ".{}", crate::sys::getpid());
        name.push(0);
        let fd = match core::ffi::CStr::from_bytes_with_nul(&name) {
            Ok(path) => {
                const O_WRONLY: u32 = 0o1;
                const O_CREAT: u32 = 0o100;
                const O_APPEND: u32 = 0o2000;
                const O_NOFOLLOW: u32 = 0o400000;
                match crate::sys::openat(
                    crate::sys::cwd(),
                    path,
                    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW,
                    0o666,
                ) {
                    Ok(fd) => rustix::fd::IntoRawFd::into_raw_fd(fd),
                    Err(_) => 1,
                }
            }
            Err(_) => 1,
        };
        FD.store(fd, Relaxed);
    }
}

struct Bytes<'a>(&'a mut Vec<u8>);

impl core::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Writes `text` with glibc's tags: one at the start (if `tag`) and one after each newline
/// that is followed by more text.
fn emit(text: &[u8], tag: bool) {
    let mut pid = [b' '; 12];
    let mut p = crate::sys::getpid().unsigned_abs();
    let mut i = 10;
    loop {
        i -= 1;
        pid[i] = b'0' + (p % 10) as u8;
        p /= 10;
        if p == 0 || i == 0 {
            break;
        }
    }
    pid[10] = b':';
    pid[11] = b'\t';
    let mut out = Vec::with_capacity(text.len() + 24);
    if tag {
        out.extend_from_slice(&pid);
    }
    for (k, &c) in text.iter().enumerate() {
        out.push(c);
        if c == b'\n' && k + 1 < text.len() {
            out.extend_from_slice(&pid);
        }
    }
    crate::out::flush();
    let _ = crate::sys::write_all(FD.load(Relaxed), &out);
}

/// `_dl_debug_printf`.
fn printf(args: core::fmt::Arguments<'_>) {
    let mut v = Vec::new();
    let _ = Bytes(&mut v).write_fmt(args);
    emit(&v, true);
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `DSO_FILENAME`: the name, or the program name for the main program's empty name.
fn dso_filename(rt: &Runtime, name: &[u8]) -> String {
    lossy(if name.is_empty() { rt.progname } else { name })
}

// ---- libs / files: the search trace ----------------------------------------------------

/// The trace for rld-search/rld-deps (None unless libs or files is on).
pub fn search_trace() -> Option<rld_search::search::Trace> {
    (on(bits::LIBS
        | bits::FILES
        | bits::SYMBOLS
        | bits::BINDINGS
        | bits::STATISTICS
        | bits::VERSIONS))
    .then_some(search_event)
}

static PROGNAME: AtomicUsize = AtomicUsize::new(0);
static PROGNAME_LEN: AtomicUsize = AtomicUsize::new(0);

/// Records the program name for messages before the runtime exists.
pub fn set_progname(p: &'static [u8]) {
    PROGNAME.store(p.as_ptr() as usize, Relaxed);
    PROGNAME_LEN.store(p.len(), Relaxed);
}

fn progname() -> &'static [u8] {
    let p = PROGNAME.load(Relaxed);
    if p == 0 {
        return b"";
    }
    // SAFETY: set_progname stored a 'static slice.
    unsafe { core::slice::from_raw_parts(p as *const u8, PROGNAME_LEN.load(Relaxed)) }
}

fn name_or_prog(n: &[u8]) -> String {
    lossy(if n.is_empty() { progname() } else { n })
}

fn search_event(e: &TraceEvent<'_>) {
    let libs = on(bits::LIBS);
    let files = on(bits::FILES);
    match *e {
        TraceEvent::Needed { name, by } if files => printf(format_args!(
            "\nfile={} [0];  needed by {} [0]\n",
            lossy(name),
            name_or_prog(by)
        )),
        TraceEvent::LoadedBy { name, by } if files => printf(format_args!(
            "\nfile={} [0];  dynamically loaded by {} [0]\n",
            lossy(name),
            name_or_prog(by)
        )),
        TraceEvent::VersionCheck { version, file, by } if on(bits::VERSIONS) => {
            printf(format_args!(
                "checking for version `{}' in file {} [0] required by file {} [0]\n",
                lossy(version),
                lossy(file),
                lossy(by)
            ))
        }
        TraceEvent::FindLibrary { name } if libs => printf(format_args!(
            "find library={} [0]; searching\n",
            lossy(name)
        )),
        TraceEvent::SearchPath { list, what, owner } if libs => {
            let mut v = Vec::new();
            let _ = write!(Bytes(&mut v), " search path={}", lossy(list));
            match owner {
                Some(o) => {
                    let _ = writeln!(
                        Bytes(&mut v),
                        "\t\t({} from file {})",
                        what,
                        name_or_prog(o)
                    );
                }
                None => {
                    let _ = writeln!(Bytes(&mut v), "\t\t({})", what);
                }
            }
            emit(&v, true);
        }
        TraceEvent::SearchCache { path } if libs => {
            printf(format_args!(" search cache={}\n", lossy(path)))
        }
        TraceEvent::Trying { path } if libs => {
            printf(format_args!("  trying file={}\n", lossy(path)))
        }
        TraceEvent::SearchDone if libs => printf(format_args!("\n")),
        TraceEvent::LinkMap {
            name,
            header,
            image,
        } if files => {
            printf(format_args!(
                "file={} [0];  generating link map\n",
                lossy(name)
            ));
            let img = image.unwrap_or_default();
            let bias = img.bias;
            let dynamic = header
                .phdrs
                .iter()
                .find(|p| p.p_type == 2)
                .map_or(0, |p| bias.wrapping_add(p.p_vaddr as usize));
            let phdr = super::run::phdr_address(header, bias);
            // glibc's `l_map_end`: the last segment's end, not rounded to pages.
            let loads = || header.phdrs.iter().filter(|p| p.p_type == 1);
            let size = match (loads().next(), loads().next_back()) {
                (Some(f), Some(l)) => (l.p_vaddr + l.p_memsz).wrapping_sub(f.p_vaddr & !4095),
                _ => img.map_end.wrapping_sub(img.map_start) as u64,
            };
            printf(format_args!(
                "  dynamic: 0x{:016x}  base: 0x{:016x}   size: 0x{:016x}\n    entry: 0x{:016x}  phdr: 0x{:016x}  phnum:   {:16}\n\n",
                dynamic,
                bias,
                size,
                bias.wrapping_add(header.e_entry as usize),
                phdr,
                header.phdrs.len()
            ));
        }
        TraceEvent::Vdso => vdso_lookups(),
        _ => {}
    }
}

/// glibc's `setup_vdso_pointers`: `dl_vdso_vsym` looks up five symbols (version LINUX_2.6)
/// in the vDSO's local scope. rld makes those lookups untraced (`run::setup_vdso_pointers`,
/// later in start-up); they are reported here, where glibc reports them, for the kernel's
/// vDSO (which defines all five on x86-64).
fn vdso_lookups() {
    if !on(bits::SYMBOLS | bits::BINDINGS | bits::STATISTICS) {
        return;
    }
    for n in [
        "__vdso_clock_gettime",
        "__vdso_gettimeofday",
        "__vdso_time",
        "__vdso_getcpu",
        "__vdso_clock_getres",
    ] {
        NUM_LOOKUPS.fetch_add(1, Relaxed);
        if on(bits::SYMBOLS) {
            printf(format_args!(
                "symbol={};  lookup in file=linux-vdso.so.1 [0]\n",
                n
            ));
        }
        if on(bits::BINDINGS) {
            printf(format_args!(
                "binding file linux-vdso.so.1 [0] to linux-vdso.so.1 [0]: normal symbol `{}' [LINUX_2.6]\n",
                n
            ));
        }
    }
}

// ---- reloc / bindings / symbols -----------------------------------------------------------

fn trace_probe(name: &[u8], obj: &[u8]) {
    printf(format_args!(
        "symbol={};  lookup in file={} [0]\n",
        lossy(name),
        name_or_prog(obj)
    ));
}

/// A lookup with the symbols trace on and the bindings line printed (`_dl_lookup_symbol_x`).
fn traced_lookup<'r>(
    rt: &mut Runtime,
    undef: usize,
    req: &Request<'r>,
    run: impl FnOnce(&mut Namespace<'static>, &Request<'r>) -> Option<Found>,
) -> Option<Found> {
    NUM_LOOKUPS.fetch_add(1, Relaxed);
    let (trace, memo) = (rt.ns.trace, rt.ns.use_memo);
    if on(bits::SYMBOLS) {
        rt.ns.trace = Some(trace_probe);
        rt.ns.use_memo = false;
    }
    let f = run(&mut rt.ns, req);
    rt.ns.trace = trace;
    rt.ns.use_memo = memo;
    if on(bits::BINDINGS)
        && let Some(f) = f
    {
        let from = rt.objs.get(undef).map_or(&b""[..], |o| o.name);
        let to = rt.objs.get(f.obj as usize).map_or(&b""[..], |o| o.name);
        let mut v = Vec::new();
        let _ = write!(
            Bytes(&mut v),
            "binding file {} [0] to {} [0]: {} symbol `{}'",
            dso_filename(rt, from),
            dso_filename(rt, to),
            if f.protected { "protected" } else { "normal" },
            lossy(req.name.name)
        );
        match req.version {
            Some(ver) => {
                let _ = writeln!(Bytes(&mut v), " [{}]", lossy(ver.name));
            }
            None => v.push(b'\n'),
        }
        emit(&v, true);
    }
    f
}

/// `RESOLVE_MAP` for relocation `sym` of object `id` with class `class`: no lookup for local
/// symbols, the one-entry cache, else a lookup in the object's scope.
fn resolve(rt: &mut Runtime, id: usize, symidx: u32, class: TypeClass, cache: bool) -> Binding {
    let Some(o) = rt.ns.obj(id as ObjId) else {
        return Binding::Undefined;
    };
    let Some(rs) = o.sym(symidx) else {
        return Binding::Undefined;
    };
    if rs.bind() == STB_LOCAL || rs.binds_local() {
        return Binding::Def {
            obj: id as ObjId,
            sym: symidx,
        };
    }
    if cache {
        let key = (u64::from(symidx) << 8) | u64::from(class);
        if CACHE_OBJ.load(Relaxed) == id + 1 && CACHE_KEY.load(Relaxed) == key {
            NUM_CACHED.fetch_add(1, Relaxed);
            return Binding::Undefined;
        }
        CACHE_OBJ.store(id + 1, Relaxed);
        CACHE_KEY.store(key, Relaxed);
    }
    let version = o
        .versym(symidx)
        .map(|v| o.version(v & 0x7fff))
        .filter(|v| v.hash != 0);
    let name = o.sym_name(&rs);
    let req = Request {
        name: NameHash::new(name),
        version,
        class,
        ref_sym: Some((symidx, rs)),
        undef: Some(id as ObjId),
        skip: None,
        return_newest: false,
    };
    match traced_lookup(rt, id, &req, |ns, r| ns.lookup_for(id as ObjId, r)) {
        Some(f) => Binding::Def {
            obj: f.obj,
            sym: f.sym,
        },
        None if Namespace::is_weak_ref(&req) => Binding::UndefWeak,
        None => Binding::Undefined,
    }
}

/// Whether the plan binds object `id`'s JUMP_SLOTs now (dlopen with RTLD_NOW relocates an
/// object eagerly although its own flags would allow lazy binding).
fn eager_plan(rt: &Runtime, id: usize) -> bool {
    let Some(v) = rt.ns.obj(id as ObjId) else {
        return false;
    };
    let Some(r) =
        rld_link::object::relas(v.jmprel).find(|r| r.r_type == rld_link::reloc::R_X86_64_JUMP_SLOT)
    else {
        return false;
    };
    rt.plan
        .objs
        .get(id)
        .and_then(|p| p.get(r.sym, rld_link::lookup::CLASS_PLT))
        .is_some()
}

/// `%s: error: %s: %s (fatal)` (`_dl_signal_cerror` with LD_DEBUG on, no receiver).
pub fn signal_error(objname: &[u8], occasion: &str, msg: &[u8]) {
    if mask() & !bits::STATISTICS == 0 {
        return;
    }
    printf(format_args!(
        "{}: error: {}: {} (fatal)\n",
        lossy(objname),
        occasion,
        lossy(msg)
    ));
}

/// `relocation processing: NAME[ (lazy)]` at the start of `_dl_relocate_object`.
pub fn reloc_start(id: usize, lazy: bool) {
    if mask() == 0 {
        return;
    }
    if T_RELOC.load(Relaxed) == 0 {
        T_RELOC.store(tsc(), Relaxed);
    }
    CACHE_OBJ.store(0, Relaxed);
    if on(bits::RELOC) {
        // SAFETY: start-up pipeline (or dlopen under rld's lock), no other reference held.
        let Some(rt) = (unsafe { state::get_unlocked() }) else {
            return;
        };
        let name = rt.objs.get(id).map_or(&b""[..], |o| o.name);
        let lazy = lazy && !eager_plan(rt, id);
        printf(format_args!(
            "\nrelocation processing: {}{}\n",
            dso_filename(rt, name),
            if lazy { " (lazy)" } else { "" }
        ));
    }
}

/// True when symbolic relocations must be reported through [`reloc_sym`] (checked once per
/// relocation range, not per entry).
#[inline(always)]
pub fn tracing_relocs() -> bool {
    mask() & (bits::BINDINGS | bits::SYMBOLS | bits::STATISTICS) != 0
}

/// One symbolic relocation of object `id` being applied (not RELATIVE/IRELATIVE): glibc's
/// lookup for it, for the bindings/symbols/statistics output.
#[inline(always)]
pub fn reloc_sym(id: usize, r_type: u32, sym: u32, lazy: bool) {
    if mask() & (bits::BINDINGS | bits::SYMBOLS | bits::STATISTICS) != 0 {
        reloc_sym_slow(id, r_type, sym, lazy);
    }
}

#[inline(never)]
fn reloc_sym_slow(id: usize, r_type: u32, sym: u32, lazy: bool) {
    // R_X86_64_NONE: nothing.
    if r_type == 0 {
        return;
    }
    // SAFETY: start-up pipeline (or dlopen under rld's lock), no other reference held.
    let Some(rt) = (unsafe { state::get_unlocked() }) else {
        return;
    };
    // Lazy JUMP_SLOTs are bound on the first call.
    if r_type == rld_link::reloc::R_X86_64_JUMP_SLOT && lazy && !eager_plan(rt, id) {
        return;
    }
    let _ = resolve(rt, id, sym, rld_link::reloc::type_class(r_type), true);
}

/// The lazy PLT fixup's lookup (`_dl_fixup`), reported when LD_DEBUG asks for it.
pub fn resolve_lazy(rt: &mut Runtime, id: usize, sym: u32, class: TypeClass) -> Binding {
    if mask() & (bits::BINDINGS | bits::SYMBOLS | bits::STATISTICS) == 0 {
        return rld_link::plan::resolve_one(&mut rt.ns, id as ObjId, sym, class);
    }
    resolve(rt, id, sym, class, false)
}

/// `dl_lookup_symbol_x` for libc (dlsym, `_dl_sym`): the lookup with its debug output.
pub fn lookup_in(rt: &mut Runtime, req: &Request<'_>, scopes: &[&[ObjId]]) -> Option<Found> {
    if mask() == 0 {
        return rt.ns.lookup_in(req, scopes);
    }
    let undef = req.undef.map_or(rt.main, |u| u as usize);
    traced_lookup(rt, undef, req, |ns, r| ns.lookup_in(r, scopes))
}

fn lookup_global_from(rt: &mut Runtime, from: usize, name: &[u8], ver: &'static [u8]) {
    let req = Request {
        name: NameHash::new(name),
        version: Some(rld_link::object::Version {
            hash: rld_link::hash::sysv_hash(ver),
            hidden: false,
            name: ver,
            filename: None,
        }),
        class: 0,
        ref_sym: None,
        undef: Some(from as ObjId),
        skip: None,
        return_newest: false,
    };
    let g: Vec<ObjId> = rt.ns.global().to_vec();
    let _ = traced_lookup(rt, from, &req, |ns, r| ns.lookup_in(r, &[&g]));
}

/// After the objects are relocated, glibc's loader looks up libc's malloc family from the
/// main program (`__rtld_malloc_init_real`) and relocates itself against the global scope
/// (its own symbolic relocations: libc's `_dl_catch_exception` & co.). rld does neither in
/// that form; their lookups are reported as glibc's.
pub fn startup_relocated() {
    if mask() == 0 {
        return;
    }
    // SAFETY: start-up pipeline, no other reference held.
    let Some(rt) = (unsafe { state::get_unlocked() }) else {
        return;
    };
    if rt.libc.is_none() {
        return;
    }
    if on(bits::BINDINGS | bits::SYMBOLS | bits::STATISTICS) {
        for n in ["calloc", "free", "malloc", "realloc"] {
            lookup_global_from(rt, rt.main, n.as_bytes(), b"GLIBC_2.2.5");
        }
    }
    if on(bits::RELOC) {
        let name = rt.objs.get(rt.rtld).map_or(&b""[..], |o| o.name);
        printf(format_args!(
            "\nrelocation processing: {}\n",
            dso_filename(rt, name)
        ));
    }
    if on(bits::BINDINGS | bits::SYMBOLS | bits::STATISTICS) {
        for n in [
            "_dl_catch_exception",
            "_dl_signal_exception",
            "_dl_signal_error",
            "_dl_catch_error",
        ] {
            lookup_global_from(rt, rt.rtld, n.as_bytes(), b"GLIBC_PRIVATE");
        }
    }
    T_RELOC_END.store(tsc(), Relaxed);
}

// ---- init / fini / statistics ----------------------------------------------------------------

/// Start-up is done (after `__libc_early_init`): glibc's `print_statistics`.
pub fn startup_done() {
    if !on(bits::STATISTICS) {
        return;
    }
    let now = tsc();
    let start = T_START.load(Relaxed);
    let total = now.wrapping_sub(start).max(1);
    let reloc0 = T_RELOC.load(Relaxed);
    let reloc1 = T_RELOC_END.load(Relaxed).max(reloc0);
    let reloc = reloc1.wrapping_sub(reloc0);
    let load = reloc0.wrapping_sub(start);
    let pct = |t: u64| {
        let r = 1000u128 * u128::from(t) / u128::from(total);
        alloc::format!("{}.{}", r / 10, r % 10)
    };
    // SAFETY: start-up pipeline, no other reference held.
    let relative: u64 = unsafe { state::get_unlocked() }.map_or(0, |rt| {
        rt.searchlist
            .iter()
            .filter_map(|&i| rt.objs.get(i))
            .filter(|o| o.bias != 0)
            .filter_map(|o| o.info.get(rld_elf::consts::DT_RELACOUNT))
            .sum()
    });
    printf(format_args!(
        "\nruntime linker statistics:\n  total startup time in dynamic loader: {} cycles\n",
        total
    ));
    printf(format_args!(
        "            time needed for relocation: {} cycles ({}%)\n",
        reloc,
        pct(reloc)
    ));
    printf(format_args!(
        "                 number of relocations: {}\n      number of relocations from cache: {}\n        number of relative relocations: {}\n",
        NUM_LOOKUPS.load(Relaxed),
        NUM_CACHED.load(Relaxed),
        relative
    ));
    printf(format_args!(
        "           time needed to load objects: {} cycles ({}%)\n",
        load,
        pct(load)
    ));
}

/// `calling init: NAME` (`call_init`, for every object but the main program).
pub fn calling_init(id: usize) {
    if !on(bits::IMPCALLS) {
        return;
    }
    let line = state::with(|rt| {
        let o = rt.objs.get(id)?;
        if id == rt.main {
            return None;
        }
        Some(dso_filename(rt, o.name))
    })
    .flatten();
    if let Some(n) = line {
        printf(format_args!("\ncalling init: {}\n\n", n));
    }
}

/// `calling preinit: NAME`.
pub fn calling_preinit() {
    if !on(bits::IMPCALLS) {
        return;
    }
    if let Some(n) = state::with(|rt| dso_filename(rt, b"")) {
        printf(format_args!("\ncalling preinit: {}\n\n", n));
    }
}

/// `calling fini: L_NAME [0]` (`_dl_call_fini` prints the raw `l_name`).
pub fn calling_fini(lm: usize) {
    if !on(bits::IMPCALLS) {
        return;
    }
    let name =
        state::with(|rt| rt.objs.iter().find(|o| o.lm == lm).map(|o| lossy(o.name))).flatten();
    if let Some(n) = name {
        printf(format_args!("\ncalling fini: {} [0]\n\n", n));
    }
}

/// `LD_DEBUG=files` lines about a dlopen'ed or dlclose'd object (`opening file=`, `closing
/// file=`, NODELETE marks): `what` is formatted with the object's `l_name`, its namespace and
/// its `l_direct_opencount`, all read from its link map (callers may hold the state lock).
pub fn open_count_event(lm: usize, what: OpenEvent) {
    if !on(bits::FILES) || lm == 0 {
        return;
    }
    let Some(b) = super::build() else { return };
    let f = &b.link_map;
    let l = super::glibc::lm_raw(b, lm);
    let count = l.get(f.l_direct_opencount) as u32;
    let ns = l.get(f.l_ns);
    let name = lossy(super::glibc::lm_name(b, lm));
    match what {
        OpenEvent::Opening => printf(format_args!(
            "opening file={name} [{ns}]; direct_opencount={count}\n\n"
        )),
        OpenEvent::Closing => printf(format_args!(
            "\nclosing file={name}; direct_opencount={count}\n"
        )),
        OpenEvent::MarkingNodelete => printf(format_args!("marking {name} [{ns}] as NODELETE\n")),
        OpenEvent::Destroying => {
            printf(format_args!("\nfile={name} [{ns}];  destroying link map\n"))
        }
    }
}

/// What [`open_count_event`] reports.
pub enum OpenEvent {
    /// dlopen returns the object (new or already open).
    Opening,
    /// dlclose of an object that stays (still open, or not dlopen'ed).
    Closing,
    /// RTLD_NODELETE on an already open object that was not NODELETE yet.
    MarkingNodelete,
    /// dlclose unloads the object.
    Destroying,
}

/// End of `_dl_fini`: the final statistics.
pub fn fini_done() {
    if !on(bits::STATISTICS) {
        return;
    }
    printf(format_args!(
        "\nruntime linker statistics:\n           final number of relocations: {}\nfinal number of relocations from cache: {}\n",
        NUM_LOOKUPS.load(Relaxed),
        NUM_CACHED.load(Relaxed)
    ));
}

// ---- GLRO(dl_debug_printf) for libc ---------------------------------------------------------

/// The address libc calls as `GLRO(dl_debug_printf)`.
pub fn printf_entry() -> usize {
    dl_debug_printf as *const () as usize
}

/// `void _dl_debug_printf (const char *fmt, ...)`: spills the register arguments next to the
/// stack ones and formats in Rust. Only integer and string conversions exist in glibc's
/// format language, so no vector registers are read.
#[unsafe(naked)]
extern "C" fn dl_debug_printf() {
    core::arch::naked_asm!(
        "push rbp",
        "mov rbp, rsp",
        "sub rsp, 48",
        "mov [rsp], rsi",
        "mov [rsp + 8], rdx",
        "mov [rsp + 16], rcx",
        "mov [rsp + 24], r8",
        "mov [rsp + 32], r9",
        "mov rsi, rsp",
        "lea rdx, [rbp + 16]",
        "call {f}",
        "leave",
        "ret",
        f = sym vprintf,
    )
}

/// glibc's `_dl_debug_vdprintf` format language: `%[0][*][.*][l|Z](d|u|x|s|%)`.
extern "C" fn vprintf(fmt: *const u8, regs: *const u64, stack: *const u64) {
    if fmt.is_null() {
        return;
    }
    let mut k = 0usize;
    let mut next = || {
        // SAFETY: the caller passed at least as many arguments as its format uses; the first
        // five are in the spilled register block, the rest on the caller's stack.
        let v = unsafe {
            if k < 5 {
                regs.add(k).read()
            } else {
                stack.add(k - 5).read()
            }
        };
        k += 1;
        v
    };
    // SAFETY: a NUL-terminated format string from libc.
    let f = unsafe { core::ffi::CStr::from_ptr(fmt.cast()) }.to_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while let Some(&c) = f.get(i) {
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        let mut fill = b' ';
        if f.get(i) == Some(&b'0') {
            fill = b'0';
            i += 1;
        }
        let mut width: i64 = -1;
        if f.get(i) == Some(&b'*') {
            width = i64::from(next() as i32);
            i += 1;
        }
        let mut prec: i64 = -1;
        if f.get(i) == Some(&b'.') && f.get(i + 1) == Some(&b'*') {
            prec = i64::from(next() as i32);
            i += 2;
        }
        let mut long = false;
        if matches!(f.get(i), Some(b'l' | b'Z')) {
            long = true;
            i += 1;
        }
        let Some(&conv) = f.get(i) else { break };
        i += 1;
        let mut s: Vec<u8> = Vec::new();
        match conv {
            b'd' | b'u' | b'x' => {
                let raw = next();
                let (neg, n) = match (conv, long) {
                    (b'd', true) if (raw as i64) < 0 => (true, (raw as i64).unsigned_abs()),
                    (b'd', false) if (raw as i32) < 0 => {
                        (true, u64::from((raw as i32).unsigned_abs()))
                    }
                    (_, true) => (false, raw),
                    (_, false) => (false, u64::from(raw as u32)),
                };
                let digits = if conv == b'x' {
                    alloc::format!("{:x}", n)
                } else {
                    alloc::format!("{}", n)
                };
                if neg {
                    s.push(b'-');
                }
                let pad = (width.max(0) as usize).saturating_sub(digits.len() + usize::from(neg));
                s.extend(core::iter::repeat_n(fill, pad));
                s.extend_from_slice(digits.as_bytes());
            }
            b's' => {
                let p = next() as *const u8;
                if !p.is_null() {
                    // SAFETY: a C string argument.
                    let b = unsafe { core::ffi::CStr::from_ptr(p.cast()) }.to_bytes();
                    let n = if prec >= 0 {
                        b.len().min(prec as usize)
                    } else {
                        b.len()
                    };
                    s.extend_from_slice(b.get(..n).unwrap_or(b));
                }
            }
            b'%' => s.push(b'%'),
            _ => {}
        }
        out.extend_from_slice(&s);
    }
    emit(&out, true);
}

// ---- scopes ---------------------------------------------------------------------------------

/// `LD_DEBUG=scopes` at start-up (`dl_main`'s "Initial object scopes"): each object of the
/// link-map list with the scopes its `l_scope` holds, read back from the glibc link maps.
pub fn show_initial_scopes() {
    if !on(bits::SCOPES) {
        return;
    }
    // SAFETY: start-up pipeline, no other reference held.
    let Some(rt) = (unsafe { state::get_unlocked() }) else {
        return;
    };
    printf(format_args!("\nInitial object scopes\n"));
    let chain = rt.chain.clone();
    show_scopes(&chain);
}

/// `_dl_show_scope` for each object of `ids` (dlopen: the new object before relocation).
pub fn show_scopes(ids: &[usize]) {
    if !on(bits::SCOPES) {
        return;
    }
    let all: Vec<(usize, usize)> = ids.iter().map(|&i| (i, 0)).collect();
    show_scopes_from(&all);
}

/// `_dl_show_scope(map, from)` for each (object, from): its scopes from index `from` on
/// (dlopen after `update_scopes`: only the appended scope of objects loaded earlier).
pub fn show_scopes_from(ids: &[(usize, usize)]) {
    if !on(bits::SCOPES) {
        return;
    }
    let Some(b) = super::build() else { return };
    // SAFETY: start-up pipeline or dlopen under the load lock; no other reference held.
    let Some(rt) = (unsafe { state::get_unlocked() }) else {
        return;
    };
    let f = &b.link_map;
    let name_of = |lm: usize| -> String { dso_filename(rt, super::glibc::lm_name(b, lm)) };
    for &(i, from) in ids {
        let Some(o) = rt.objs.get(i) else { continue };
        let l = super::glibc::lm_raw(b, o.lm);
        printf(format_args!("object={} [0]\n", name_of(o.lm)));
        let scopes = l.get(f.l_scope) as *const usize;
        if scopes.is_null() {
            printf(format_args!(" no scope\n"));
        } else {
            let mut k = from;
            loop {
                // SAFETY: l_scope is a NULL-terminated array of r_scope_elem pointers that
                // rld built (glibc::fill_link_maps); each lists `r_nlist` link maps.
                let elem = unsafe { scopes.add(k).read() };
                if elem == 0 {
                    break;
                }
                // SAFETY: as above.
                let r = unsafe { super::abi::Raw::new(elem as *mut u8, b.r_scope_elem.size) };
                let list = r.get(b.r_scope_elem.r_list) as *const usize;
                let n = r.get(b.r_scope_elem.r_nlist) as usize;
                let mut line = alloc::format!(" scope {k}:");
                for j in 0..n {
                    // SAFETY: r_list has r_nlist entries.
                    let lm = unsafe { list.add(j).read() };
                    line.push(' ');
                    line.push_str(&name_of(lm));
                }
                line.push('\n');
                emit(line.as_bytes(), true);
                k += 1;
            }
        }
        printf(format_args!("\n"));
    }
}
