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

/// Runs the list/trace report for `program`; returns the exit status.
pub fn list(cfg: &Config<'_>, st: &Startup, program: &[u8], mode: Mode) -> i32 {
    let fs = LoaderFs;
    let sc = search_config(cfg, st);
    let mut s = Searcher::new(&fs, sc);
    apply_library_path(&mut s, cfg, program);
    let mut lc = LoadConfig::list(program);
    lc.mode = mode;
    // The loader's own line names it as invoked, like glibc (`PT_INTERP => argv[0]` when
    // the two differ).
    if let Some(&argv0) = st.args.first() {
        lc.rtld_name = argv0.to_vec();
    }
    lc.preload_env = cfg.preload_env.map(<[u8]>::to_vec);
    lc.preload_arg = cfg.preload_arg.map(<[u8]>::to_vec);
    lc.inhibit_rpath = cfg.inhibit_rpath.map(<[u8]>::to_vec);
    if st.aux.sysinfo_ehdr == 0 {
        lc.vdso = None;
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
