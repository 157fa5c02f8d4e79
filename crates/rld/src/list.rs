//! `rld --list PROGRAM`, `LD_TRACE_LOADED_OBJECTS=1` (ldd) and `rld --verify PROGRAM`: the
//! loader's report modes, built from rld-deps' load graph without running anything.

use alloc::vec::Vec;

use rld::cli::Config;
use rld_deps::{LoadConfig, Mode};
use rld_search::dst::{DstContext, Origin};
use rld_search::fs::Fs;
use rld_search::search::{
    DEBIAN_DST_LIB, DEBIAN_SYSTEM_DIRS, LibraryPathSource, SearchConfig, SearchPath, Searcher,
};

use crate::fs::LoaderFs;
use crate::startup::Startup;

/// Search settings for this CPU and environment, as glibc's `_dl_init_paths` computes them.
fn search_config(cfg: &Config<'_>, st: &Startup) -> SearchConfig {
    let mut cpuid = rld_cpu::Memo::new(rld_cpu::NativeCpuid::new());
    let aux = rld_cpu::Auxv {
        platform: st.aux.platform,
        hwcap2: st.aux.hwcap2,
        minsigstksz: (st.aux.minsigstksz != 0).then_some(st.aux.minsigstksz as u64),
    };
    let (_, info) = rld_cpu::compute(&mut cpuid, &rld_cpu::Tunables::default(), &aux);
    search_config_from(cfg, &info)
}

/// Search settings from already computed CPU facts.
pub fn search_config_from(cfg: &Config<'_>, info: &rld_cpu::CpuInfo<'_>) -> SearchConfig {
    let mut hwcap_names: Vec<&[u8]> = Vec::new();
    if info.hwcap & rld_cpu::HWCAP_X86_64 != 0 {
        hwcap_names.push(b"x86_64");
    }
    if info.hwcap & rld_cpu::HWCAP_X86_AVX512_1 != 0 {
        hwcap_names.push(b"avx512_1");
    }
    let level = rld_search::hwcaps::IsaLevel(info.hwcaps_level);
    let mut sc = SearchConfig::debian_x86_64(level, info.platform, &hwcap_names);
    sc.inhibit_cache = cfg.inhibit_cache;
    sc.secure = cfg.secure;
    sc
}

/// The directory of `program` made absolute: `$ORIGIN` of the main program.
pub fn program_origin(program: &[u8], cwd: &[u8]) -> Option<Vec<u8>> {
    let mut full = Vec::new();
    if !program.starts_with(b"/") {
        full.extend_from_slice(cwd);
        full.push(b'/');
    }
    full.extend_from_slice(program);
    let i = full.iter().rposition(|&c| c == b'/')?;
    full.truncate(i.max(1));
    Some(full)
}

/// Runs the list/trace report for `program`; returns the exit status. Never inlined: its
/// own section is what `cold.ld` moves out of the start-up code.
#[inline(never)]
pub fn list(cfg: &Config<'_>, st: &Startup, program: &[u8], mode: Mode) -> i32 {
    let fs = LoaderFs;
    let sc = search_config(cfg, st);
    let mut s = Searcher::new(&fs, sc);
    apply_library_path(&mut s, cfg, program);
    let lc = list_config(cfg, st, program, mode);
    if matches!(mode, Mode::Trace { .. })
        && cfg.debug_mask & rld::cli::debug::UNUSED != 0
        && let Some(code) = unused(&mut s, &lc, st, program)
    {
        return code;
    }
    // Load addresses: the vDSO's is real; the others are placeholders until the report is
    // produced from a real mapping (the runtime's job). They only need glibc's format.
    let vdso = st.aux.sysinfo_ehdr as u64;
    let addr = |id: rld_deps::ObjId| -> u64 {
        let _ = vdso;
        0x7f00_0000_0000u64 + (id as u64) * 0x20_0000
    };
    let r = rld_deps::list_report(&mut s, &lc, &addr);
    crate::out::stdout().write_bytes(r.stdout.as_bytes());
    if !r.stderr.is_empty() {
        crate::out::flush();
        crate::out::stderr().write_bytes(r.stderr.as_bytes());
    }
    r.exit_code
}

fn list_config(cfg: &Config<'_>, st: &Startup, program: &[u8], mode: Mode) -> LoadConfig {
    let mut lc = LoadConfig::list(program);
    lc.mode = mode;
    if cfg.explicit {
        // The loader's own line names it as invoked, like glibc (`PT_INTERP => argv[0]`
        // when the two differ).
        if let Some(&argv0) = st.args.first() {
            lc.rtld_name = argv0.to_vec();
        }
    } else {
        // As the program's PT_INTERP (LD_TRACE_LOADED_OBJECTS): the loader is known by that
        // name, and the program's `$ORIGIN` is where /proc/self/exe is (glibc's
        // `_dl_get_origin` for the kernel-mapped program), not the path it was run by.
        if let (
            _,
            _,
            _,
            rld_deps::elfdyn::DynInfo {
                interp: Some(interp),
                ..
            },
        ) = crate::rt::run::kernel_program(st, rld_deps::elfdyn::Parts::ALL)
        {
            lc.rtld_name = interp;
        }
        lc.exe_origin = crate::rt::run::exe_origin();
    }
    lc.preload_env = cfg.preload_env.map(<[u8]>::to_vec);
    lc.preload_arg = cfg.preload_arg.map(<[u8]>::to_vec);
    lc.inhibit_rpath = cfg.inhibit_rpath.map(<[u8]>::to_vec);
    if st.aux.sysinfo_ehdr == 0 {
        lc.vdso = None;
    }
    lc
}

/// `ldd -u` (trace mode with LD_DEBUG=unused), as glibc's `dl_main`: relocate only the main
/// program, eagerly and without IFUNC calls (here: plan its bindings, nothing is written),
/// then print the DT_NEEDED objects no binding landed in ("Unused direct dependencies:")
/// and exit 1 if there is one, else 0. Undefined symbols are printed on the way, as
/// `print_unresolved` does. The objects are mapped and viewed as by a start-up
/// (`rt::run::map_all`, `objects::view_of`). None if the graph cannot be built: the
/// ordinary report then prints the error.
fn unused(
    s: &mut Searcher<'_, LoaderFs>,
    lc: &LoadConfig,
    st: &Startup,
    program: &[u8],
) -> Option<i32> {
    use rld_deps::Kind;
    use rld_link::{Binding, ObjKind, ObjPlan, Planner};
    let mut g = rld_deps::build(s, lc).ok()?;
    if g.main_is_static {
        return None;
    }
    let (self_base, self_phdrs) = crate::rt::run::self_image();
    let (mut objs, index_of_graph) = crate::rt::run::map_all(
        &mut g,
        &crate::rt::run::MapCtx {
            kernel_main: None,
            st,
            program_arg: program,
            progname: program,
            page: st.aux.pagesz,
            self_base,
            self_phdrs,
            keep_data_files: false,
        },
    );
    let at = |gid: usize| index_of_graph.get(gid).copied().flatten();
    let views = objs
        .iter_mut()
        .map(|o| {
            let kind = if o.kind == Kind::Main {
                ObjKind::Executable
            } else {
                ObjKind::Library
            };
            crate::rt::objects::view_of(o, kind)
                .unwrap_or_else(|_| rld_link::ObjView::new(o.name, kind))
        })
        .collect();
    let searchlist = g
        .searchlist
        .iter()
        .filter_map(|&i| at(i))
        .map(|i| i as rld_link::ObjId);
    let mut ns = rld_link::Namespace::new(views, searchlist.collect());
    let main = at(g.main)? as rld_link::ObjId;
    let mut plan = ObjPlan::default();
    Planner::default().plan_object(&mut ns, main, false, &mut plan);
    let mut used = alloc::vec![false; objs.len()];
    let mut err = alloc::string::String::new();
    // `print_unresolved`: "ERRSTRING\t(OBJNAME)", the program named as invoked.
    let progname = lossy(program);
    for (&k, b) in plan.keys.iter().zip(&plan.bindings) {
        match *b {
            Binding::Def { obj, .. } => {
                if let Some(u) = used.get_mut(obj as usize) {
                    *u = true;
                }
            }
            Binding::Undefined => {
                if let Some(e) = rld_link::plan::undefined_error(&ns, &progname, main, k >> 2) {
                    err.push_str(&e.errstring);
                    err.push_str("\t(");
                    err.push_str(&e.objname);
                    err.push_str(")\n");
                }
            }
            Binding::UndefWeak => {}
        }
    }
    if !err.is_empty() {
        crate::out::stderr().write_bytes(err.as_bytes());
        crate::out::flush();
    }
    // One chain position after the program per DT_NEEDED entry (the vDSO skipped), as
    // glibc walks `l_next`.
    let needed = g.objects.get(g.main).map_or(0, |m| m.dynamic.needed.len());
    let mut chain = g
        .chain
        .iter()
        .copied()
        .filter(|&i| Some(i) != g.vdso)
        .skip(1);
    let mut out = alloc::string::String::new();
    for _ in 0..needed {
        let Some(gid) = chain.next() else { break };
        if !at(gid).and_then(|i| used.get(i).copied()).unwrap_or(false) {
            if out.is_empty() {
                out.push_str("Unused direct dependencies:\n");
            }
            out.push('\t');
            out.push_str(&lossy(g.objects.get(gid).map_or(&[][..], |o| &o.path)));
            out.push('\n');
        }
    }
    crate::out::stdout().write_bytes(out.as_bytes());
    Some(i32::from(!out.is_empty()))
}

fn lossy(b: &[u8]) -> alloc::string::String {
    alloc::string::String::from_utf8_lossy(b).into_owned()
}

/// `LD_LIBRARY_PATH` / `--library-path`, with `$ORIGIN` of the program.
pub fn apply_library_path(s: &mut Searcher<'_, LoaderFs>, cfg: &Config<'_>, program: &[u8]) {
    let fs = LoaderFs;
    let platform = s.config.platform.clone();
    if let Some(lp) = cfg.library_path {
        let cwd = fs.getcwd().unwrap_or_default();
        let origin = program_origin(program, &cwd);
        let trusted: Vec<&[u8]> = DEBIAN_SYSTEM_DIRS.to_vec();
        let ctx = DstContext {
            origin: match &origin {
                Some(o) => Origin::Known(o),
                None => Origin::Unknown,
            },
            platform: platform.as_deref(),
            lib: DEBIAN_DST_LIB,
            secure: cfg.secure,
            is_executable: true,
            trusted_dirs: &trusted,
        };
        s.config.library_path = SearchPath::decompose(lp, b":;", &ctx);
        if cfg.library_path_source == Some(rld::cli::LibraryPathSource::Option) {
            s.config.library_path_source = LibraryPathSource::CommandLine;
        }
    }
}

/// `--verify`: 0 for a dynamically linked object with an interpreter, 2 for one without
/// (a shared library such as the loader itself), 1 if it cannot be loaded or is static.
pub fn verify(program: &[u8]) -> i32 {
    let fs = LoaderFs;
    let Ok(file) = Fs::open(&fs, program) else {
        return 1;
    };
    match rld_search::verify::verify(&file) {
        Ok(rld_search::verify::Verified::Usable(h)) => {
            let has = |t: u32| h.phdrs.iter().any(|p| p.p_type == t);
            if !has(rld_search::verify::PT_DYNAMIC) {
                1
            } else if has(rld_search::verify::PT_INTERP) {
                0
            } else {
                2
            }
        }
        _ => {
            let _ = file.stat();
            1
        }
    }
}
