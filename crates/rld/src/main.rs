// rld, the loader binary: a no_std static-pie started by the kernel either as a program's
// PT_INTERP or as a command. This file only wires the modules together; all unsafe code
// lives in start/mem/sys/alloc/out/startup/fs, each stating its invariants.
#![no_std]
#![no_main]
// fs/sys/startup expose the API the next issues (mapping, jumping) use.
#![allow(dead_code)]

extern crate alloc;

mod fs;
mod heap;
mod list;
mod mem;
#[macro_use]
mod out;
mod rt;
mod start;
mod startup;
mod sys;

use ::alloc::vec::Vec;
use core::fmt::Write as _;

use rld::cli::{self, ArgsOutcome, Config, EnvEvent, EnvOutcome, Mode};

/// What glibc's loader compiles in as its own name (RTLD) and cache path.
const SELF_ID: &str = "/lib64/ld-linux-x86-64.so.2";
const LD_SO_CACHE: &str = "/etc/ld.so.cache";

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // No locks, no heap: the panic may come from inside the allocator or an output lock.
    let mut b = out::StackBuf::<512>::new();
    let _ = writeln!(b, "rld: internal error: {}", info.message());
    let _ = sys::write_all(sys::STDERR, b.as_bytes());
    sys::exit_group(127)
}

/// Called by `_start` once rld is relocated; `sp` is the kernel's initial stack pointer.
extern "C" fn entry(sp: *mut usize) -> ! {
    // x86-64 pages are always 4 KiB; RELRO goes read-only before anything else runs.
    start::set_own_dt_debug(rt::exports::_r_debug.raw().base as usize);
    start::protect_relro(4096);
    // SAFETY: `_start` passes the untouched initial stack pointer.
    let mut st = unsafe { startup::Startup::from_sp(sp) };
    let code = main(&mut st);
    out::exit(code)
}

fn main(st: &mut startup::Startup) -> i32 {
    let explicit = st.aux.entry == start::self_entry();
    let secure = st.aux.secure;
    let mut cfg = Config::new(secure, explicit);

    let suid_debug = secure && fs::LoaderFs.exists(c"/etc/suid-debug");
    let mut events = Vec::new();
    let env_outcome = cli::parse_env(&mut cfg, &st.env, suid_debug, &mut events);
    for ev in &events {
        match ev {
            EnvEvent::UnknownDebugOption(w) => {
                eprint!(
                    "warning: debug option `{}' unknown; try LD_DEBUG=help\n",
                    Bytes(w)
                )
            }
            EnvEvent::DebugHelp => {
                print_debug_help();
                return 0;
            }
            EnvEvent::ShowAuxv => show_auxv(st),
        }
    }
    if secure {
        for name in rld_glibc::unsecvars::UNSECURE_ENVVARS {
            st.unsetenv(name.as_bytes());
        }
    }
    if env_outcome == EnvOutcome::SecureExit5 {
        return 5;
    }

    // Copies of the strings' references, never of the vectors: `run` does not return, so
    // whatever this frame allocates stays allocated for the process's life.
    let argv0: &'static [u8] = st.args.first().copied().unwrap_or(b"rld");
    if explicit {
        match cli::parse_args(&mut cfg, &st.args) {
            ArgsOutcome::Program => {}
            ArgsOutcome::Version => {
                println!(
                    "rld {} (x86-64 dynamic linker, glibc 2.36 ld.so compatible)",
                    env!("CARGO_PKG_VERSION")
                );
                return 0;
            }
            ArgsOutcome::Help => return help(argv0, &cfg, st),
            ArgsOutcome::Usage(wrong) => {
                match wrong {
                    Some(w) => eprint!("{}: unrecognized option '{}'\n", Bytes(argv0), Bytes(w)),
                    None => eprint!("{}: missing program name\n", Bytes(argv0)),
                }
                eprint!("Try '{} --help' for more information.\n", Bytes(argv0));
                return 1;
            }
            ArgsOutcome::ListTunables => return list_tunables(st, &cfg, suid_debug),
            ArgsOutcome::ListDiagnostics => {
                // WIRE: rld-cpu/rld-glibc diagnostics dump (exits 0 in glibc).
                eprint!("rld: --list-diagnostics not wired yet\n");
                return 1;
            }
        }
    }

    match cfg.mode {
        // WIRE: --help with a program: map it (for its RPATH/RUNPATH) then print help.
        Mode::Help => help(argv0, &cfg, st),
        Mode::List | Mode::Trace => {
            let program: &[u8] = match cfg.program_index.and_then(|i| st.args.get(i).copied()) {
                Some(p) => p,
                // As PT_INTERP with LD_TRACE_LOADED_OBJECTS: the kernel's program.
                None => st.aux.execfn.unwrap_or(argv0),
            };
            let mode = if cfg.mode == Mode::List {
                rld_deps::Mode::List
            } else {
                rld_deps::Mode::Trace {
                    program_too: cfg.trace_program,
                }
            };
            cold_list(&cfg, st, program, mode)
        }
        Mode::Verify => match cfg.program_index.and_then(|i| st.args.get(i).copied()) {
            Some(p) => cold_verify(p),
            None => 1,
        },
        _ => rt::run::run(&cfg, st, explicit),
    }
}

/// `--list` and LD_TRACE_LOADED_OBJECTS, out of `main`'s frame (see `help`).
#[inline(never)]
#[cold]
fn cold_list(cfg: &Config<'_>, st: &startup::Startup, program: &[u8], mode: rld_deps::Mode) -> i32 {
    list::list(cfg, st, program, mode)
}

/// `--verify`, out of `main`'s frame (see `help`).
#[inline(never)]
#[cold]
fn cold_verify(program: &[u8]) -> i32 {
    list::verify(program)
}

/// `--list-tunables`: after the CPU set-up, like glibc (the x86 cache tunables show the
/// values and bounds the CPU code chose).
#[inline(never)]
#[cold]
fn list_tunables(st: &startup::Startup, cfg: &Config<'_>, suid_debug: bool) -> i32 {
    let (t, _, _) = rt::run::tunables_and_cpu(st, cfg.secure, suid_debug);
    let mut text = alloc::string::String::new();
    let _ = t.list(&mut text);
    out::stdout().write_bytes(text.as_bytes());
    0
}

// Out of line and cold: inlined into `main`, the locals of these paths made its stack frame
// 2,840 bytes (now under 700), and `main`'s frame lies under every stack page the start-up
// path touches.
#[inline(never)]
#[cold]
fn help(argv0: &[u8], cfg: &Config<'_>, st: &startup::Startup) -> i32 {
    let mut text = Vec::new();
    cli::help_text(argv0, &mut text, LD_SO_CACHE, SELF_ID);
    out::stdout().write_bytes(&text);
    help_search_path(cfg, st);
    0
}

/// The rest of `--help` (glibc's `dl-usage.c`): the library search path, the glibc-hwcaps
/// subdirectories and the legacy HWCAP subdirectories, with their status on this CPU.
fn help_search_path(cfg: &Config<'_>, st: &startup::Startup) {
    let suid_debug = false;
    let (tunables, _, info) = rt::run::tunables_and_cpu(st, cfg.secure, suid_debug);
    println!("\nShared library search path:");
    if let Some(lp) = cfg.library_path {
        let what = if cfg.library_path_source == Some(cli::LibraryPathSource::Option) {
            "--library-path"
        } else {
            "LD_LIBRARY_PATH"
        };
        let mut s =
            rld_search::search::Searcher::new(&fs::LoaderFs, list::search_config_from(cfg, &info));
        list::apply_library_path(&mut s, cfg, b"");
        let _ = lp;
        if let Some(p) = &s.config.library_path {
            for d in &p.dirs {
                // glibc shares one record per directory: a system directory keeps its label.
                let what = if rld_search::search::DEBIAN_SYSTEM_DIRS.contains(&d.as_slice()) {
                    "system search path"
                } else {
                    what
                };
                let d: &[u8] = if d.is_empty() {
                    b"."
                } else if d.len() > 1 {
                    d.strip_suffix(b"/").unwrap_or(d)
                } else {
                    d
                };
                println!("  {} ({what})", Bytes(d));
            }
        }
    }
    println!("  (libraries located via {LD_SO_CACHE})");
    for d in rld_search::search::DEBIAN_SYSTEM_DIRS {
        println!(
            "  {} (system search path)",
            Bytes(d.strip_suffix(b"/").unwrap_or(d))
        );
    }

    let mut printed = false;
    let header = |printed: &mut bool| {
        if !*printed {
            println!("\nSubdirectories of glibc-hwcaps directories, in priority order:");
            *printed = true;
        }
    };
    if let Some(pre) = cfg.glibc_hwcaps_prepend {
        for name in pre.split(|&c| c == b':').filter(|n| !n.is_empty()) {
            header(&mut printed);
            println!("  {} (searched)", Bytes(name));
        }
    }
    let listed = |name: &[u8]| match cfg.glibc_hwcaps_mask {
        None => true,
        Some(m) => m.split(|&c| c == b':').any(|n| n == name),
    };
    let mut mask = info.hwcaps_subdirs_active;
    for name in [&b"x86-64-v4"[..], b"x86-64-v3", b"x86-64-v2"] {
        header(&mut printed);
        let l = listed(name);
        let flags = [
            (mask & 1 != 0, "supported"),
            (!l, "masked"),
            (mask & 1 != 0 && l, "searched"),
        ];
        println!("  {}{}", Bytes(name), status(&flags));
        mask >>= 1;
    }
    if !printed {
        println!("\nNo subdirectories of glibc-hwcaps directories are searched.");
    }

    println!("\nLegacy HWCAP subdirectories under library search path directories:");
    if let Some(p) = info.platform {
        println!("  {} (AT_PLATFORM; supported, searched)", Bytes(p));
    }
    println!("  tls (supported, searched)");
    let hwcap_mask = rld_glibc::BUILDS
        .first()
        .and_then(|b| b.tunable_id("glibc.cpu.hwcap_mask"))
        .and_then(|i| tunables.get(i))
        .map_or(6, |(v, _)| match v {
            rld_glibc::tunables::TunableValue::Uint64(x) => x,
            rld_glibc::tunables::TunableValue::SizeT(x) => x as u64,
            rld_glibc::tunables::TunableValue::Int32(x) => x as u64,
            rld_glibc::tunables::TunableValue::Str(_) => 6,
        });
    // HWCAP_IMPORTANT on x86-64: HWCAP_X86_64 (bit 1) and HWCAP_X86_AVX512_1 (bit 2), from the
    // highest bit down; names from `_dl_x86_hwcap_flags`.
    for (bit, name) in [(2u32, "avx512_1"), (1, "x86_64")] {
        let b = 1u64 << bit;
        let flags = [
            (info.hwcap & b != 0, "supported"),
            (hwcap_mask & b == 0, "masked"),
            (info.hwcap & hwcap_mask & b != 0, "searched"),
        ];
        println!("  {name}{}", status(&flags));
    }
}

/// " (a, b)" for the set flags, "" when none is set (glibc's `print_hwcap_1`).
fn status(flags: &[(bool, &str)]) -> alloc::string::String {
    let set: Vec<&str> = flags.iter().filter(|f| f.0).map(|f| f.1).collect();
    if set.is_empty() {
        alloc::string::String::new()
    } else {
        alloc::format!(" ({})", set.join(", "))
    }
}

/// `LD_SHOW_AUXV`: glibc's `_dl_show_auxv` (labels padded to one column; decimal, hex
/// without or with `0x`, or strings; unknown types as `AT_??? (0xTYPE): 0xVALUE`).
// Cold, out of `main`'s frame (see `help`).
#[inline(never)]
#[cold]
fn show_auxv(st: &startup::Startup) {
    #[derive(Clone, Copy, PartialEq)]
    enum Form {
        Dec,
        Hex,
        Str,
        Ignore,
    }
    use Form::*;
    let label = |t: usize| -> Option<(&'static str, Form)> {
        Some(match t {
            2 => ("EXECFD:            ", Dec),
            3 => ("PHDR:              0x", Hex),
            4 => ("PHENT:             ", Dec),
            5 => ("PHNUM:             ", Dec),
            6 => ("PAGESZ:            ", Dec),
            7 => ("BASE:              0x", Hex),
            8 => ("FLAGS:             0x", Hex),
            9 => ("ENTRY:             0x", Hex),
            10 => ("NOTELF:            ", Hex),
            11 => ("UID:               ", Dec),
            12 => ("EUID:              ", Dec),
            13 => ("GID:               ", Dec),
            14 => ("EGID:              ", Dec),
            15 => ("PLATFORM:          ", Str),
            16 => ("HWCAP:             ", Hex),
            17 => ("CLKTCK:            ", Dec),
            18 => ("FPUCW:             ", Hex),
            19 => ("DCACHEBSIZE:       0x", Hex),
            20 => ("ICACHEBSIZE:       0x", Hex),
            21 => ("UCACHEBSIZE:       0x", Hex),
            22 => ("IGNOREPPC", Ignore),
            23 => ("SECURE:            ", Dec),
            24 => ("BASE_PLATFORM:     ", Str),
            31 => ("EXECFN:            ", Str),
            32 => ("SYSINFO:           0x", Hex),
            33 => ("SYSINFO_EHDR:      0x", Hex),
            25 => ("RANDOM:            0x", Hex),
            26 => ("HWCAP2:            0x", Hex),
            51 => ("MINSIGSTKSZ:       ", Dec),
            40 => ("L1I_CACHESIZE:     ", Dec),
            41 => ("L1I_CACHEGEOMETRY: 0x", Hex),
            42 => ("L1D_CACHESIZE:     ", Dec),
            43 => ("L1D_CACHEGEOMETRY: 0x", Hex),
            44 => ("L2_CACHESIZE:      ", Dec),
            45 => ("L2_CACHEGEOMETRY:  0x", Hex),
            46 => ("L3_CACHESIZE:      ", Dec),
            47 => ("L3_CACHEGEOMETRY:  0x", Hex),
            _ => return None,
        })
    };
    for (t, v) in st.auxv_pairs() {
        if t < 2 {
            continue;
        }
        match label(t) {
            Some((_, Ignore)) => {}
            Some((l, Dec)) => println!("AT_{l}{v}"),
            Some((l, Hex)) => println!("AT_{l}{v:x}"),
            Some((l, Str)) => {
                // SAFETY: string-valued aux entries point at NUL-terminated strings the kernel
                // placed on the initial stack.
                let s = unsafe { core::ffi::CStr::from_ptr(v as *const core::ffi::c_char) };
                println!("AT_{l}{}", Bytes(s.to_bytes()));
            }
            None => println!("AT_??? (0x{t:x}): 0x{v:x}"),
        }
    }
}

// Cold, out of `main`'s frame (see `help`).
#[inline(never)]
#[cold]
fn print_debug_help() {
    println!("Valid options for the LD_DEBUG environment variable are:\n");
    for (name, text, _) in cli::debug::OPTIONS {
        println!("  {name:<12}{text}");
    }
    println!(
        "\nTo direct the debugging output into a file instead of standard output\n\
         a filename can be specified using the LD_DEBUG_OUTPUT environment variable."
    );
}

/// Displays raw bytes (paths, argv) without UTF-8 validation.
struct Bytes<'a>(&'a [u8]);

impl core::fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for &b in chunk.invalid() {
                f.write_char(b as char)?;
            }
        }
        Ok(())
    }
}
