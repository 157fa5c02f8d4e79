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
        if let Some(interp) = kernel_program_interp(st) {
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
/// `print_unresolved` does. None if the graph cannot be built: the ordinary report then
/// prints the error.
fn unused(
    s: &mut Searcher<'_, LoaderFs>,
    lc: &LoadConfig,
    st: &Startup,
    program: &[u8],
) -> Option<i32> {
    use rld_deps::Kind;
    use rld_link::{Binding, ObjKind, ObjPlan, Planner};
    let g = rld_deps::build(s, lc).ok()?;
    if g.main_is_static {
        return None;
    }
    // Views over each object's mapping. SAFETY of the `'static` slices: every mapping
    // outlives `ns` (the graph's files keep theirs until `g` is dropped at the end of this
    // function; rld's own image and the vDSO are never unmapped), and nothing writes to
    // them here.
    let mut views = Vec::with_capacity(g.objects.len());
    for o in &g.objects {
        let kind = if o.kind == Kind::Main {
            ObjKind::Executable
        } else {
            ObjKind::Library
        };
        let name: &'static [u8] = crate::rt::objects::leak(o.path.clone());
        let image = match o.kind {
            Kind::Main | Kind::Library => o.file.as_ref().and_then(|f| {
                let i = rld_search::fs::FileHandle::image_info(f)?;
                Some((i.map_start, i.map_end, i.bias, o.header.phdrs.clone()))
            }),
            Kind::Rtld => {
                let base = crate::start::self_base();
                // SAFETY: rld's own ELF header and program headers are mapped.
                let phdrs = unsafe {
                    let phoff = ((base + 32) as *const u64).read_unaligned() as usize;
                    let phnum = ((base + 56) as *const u16).read_unaligned() as usize;
                    crate::rt::objects::phdrs_at(base + phoff, phnum)
                };
                Some((base, base + image_end(&phdrs), base, phdrs))
            }
            Kind::Vdso if st.aux.sysinfo_ehdr != 0 => {
                let ehdr = st.aux.sysinfo_ehdr;
                // SAFETY: the kernel maps the vDSO's ELF header and program headers.
                let phdrs = unsafe {
                    let phoff = ((ehdr + 32) as *const u64).read_unaligned() as usize;
                    let phnum = ((ehdr + 56) as *const u16).read_unaligned() as usize;
                    crate::rt::objects::phdrs_at(ehdr + phoff, phnum)
                };
                let lo = phdrs
                    .iter()
                    .filter(|p| p.p_type == rld_search::verify::PT_LOAD)
                    .map(|p| p.p_vaddr as usize & !4095)
                    .min()
                    .unwrap_or(0);
                let bias = ehdr.wrapping_sub(lo);
                Some((ehdr, bias + image_end(&phdrs), bias, phdrs))
            }
            _ => None,
        };
        let view = image.and_then(|(start, end, bias, phdrs)| {
            let min_vaddr = start.wrapping_sub(bias) as u64;
            // SAFETY: see above; [start, end) is the object's whole mapping.
            let ro = unsafe { crate::rt::objects::ro_image(start, end, min_vaddr) };
            let d = phdrs
                .iter()
                .find(|p| p.p_type == rld_search::verify::PT_DYNAMIC)?;
            let info =
                rld_elf::dynamic::DynamicInfo::from_memory(&ro, d.p_vaddr, d.p_memsz).ok()?;
            let info: &'static rld_elf::dynamic::DynamicInfo<'static> =
                alloc::boxed::Box::leak(alloc::boxed::Box::new(info));
            let ro: &'static rld_elf::memory::MappedImage<'static> =
                alloc::boxed::Box::leak(alloc::boxed::Box::new(ro));
            rld_link::from_elf::obj_view(ro, info, name, kind).ok()
        });
        views.push(view.unwrap_or_else(|| rld_link::ObjView::new(name, kind)));
    }
    let main = g.main as rld_link::ObjId;
    let mut ns = rld_link::Namespace::new(
        views,
        g.searchlist.iter().map(|&i| i as rld_link::ObjId).collect(),
    );
    let mut plan = ObjPlan::default();
    let mut planner = Planner::default();
    planner.plan_object(&mut ns, main, false, &mut plan);
    let mut used = alloc::vec![false; g.objects.len()];
    let mut err = alloc::string::String::new();
    for (&k, b) in plan.keys.iter().zip(&plan.bindings) {
        match *b {
            Binding::Def { obj, .. } => {
                if let Some(u) = used.get_mut(obj as usize) {
                    *u = true;
                }
            }
            Binding::Undefined => {
                // `print_unresolved`: "ERRSTRING\t(OBJNAME)", the program named as invoked.
                let progname = lossy(program);
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
        let Some(i) = chain.next() else { break };
        if !used.get(i).copied().unwrap_or(false) {
            if out.is_empty() {
                out.push_str("Unused direct dependencies:\n");
            }
            out.push('\t');
            out.push_str(&lossy(g.objects.get(i).map_or(&[][..], |o| &o.path)));
            out.push('\n');
        }
    }
    crate::out::stdout().write_bytes(out.as_bytes());
    Some(i32::from(!out.is_empty()))
}

/// The PT_INTERP string of the program the kernel mapped (from the aux vector).
fn kernel_program_interp(st: &Startup) -> Option<Vec<u8>> {
    if st.aux.phdr == 0 {
        return None;
    }
    // SAFETY: AT_PHDR/AT_PHNUM describe the program the kernel mapped.
    let phdrs = unsafe { crate::rt::objects::phdrs_at(st.aux.phdr, st.aux.phnum) };
    let bias = phdrs
        .iter()
        .find(|p| p.p_type == crate::rt::objects::PT_PHDR)
        .map_or(0, |p| st.aux.phdr.wrapping_sub(p.p_vaddr as usize));
    let interp = phdrs
        .iter()
        .find(|p| p.p_type == rld_search::verify::PT_INTERP)?;
    let len = interp.p_filesz as usize;
    // SAFETY: the kernel loaded the program's PT_INTERP segment (it read the loader's
    // name from it); the string is within p_filesz.
    let bytes = unsafe {
        core::slice::from_raw_parts(bias.wrapping_add(interp.p_vaddr as usize) as *const u8, len)
    };
    let end = bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len());
    Some(bytes.get(..end)?.to_vec())
}

fn lossy(b: &[u8]) -> alloc::string::String {
    alloc::string::String::from_utf8_lossy(b).into_owned()
}

/// One past the highest byte of an image's PT_LOAD segments (page-rounded), relative to
/// its lowest page.
fn image_end(phdrs: &[rld_search::verify::Phdr]) -> usize {
    let loads = || {
        phdrs
            .iter()
            .filter(|p| p.p_type == rld_search::verify::PT_LOAD)
    };
    let lo = loads()
        .map(|p| p.p_vaddr as usize & !4095)
        .min()
        .unwrap_or(0);
    let hi = loads()
        .map(|p| (p.p_vaddr + p.p_memsz) as usize)
        .max()
        .unwrap_or(0);
    hi.next_multiple_of(4096).saturating_sub(lo)
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
