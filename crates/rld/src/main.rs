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
    let env: Vec<&'static [u8]> = st.env.clone();
    let args: Vec<&'static [u8]> = st.args.clone();
    let mut cfg = Config::new(secure, explicit);

    let suid_debug = secure && fs::LoaderFs.exists(c"/etc/suid-debug");
    let mut events = Vec::new();
    let env_outcome = cli::parse_env(&mut cfg, &env, suid_debug, &mut events);
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
            // WIRE: LD_SHOW_AUXV output (glibc's _dl_show_auxv format) via st.auxv_pairs().
            EnvEvent::ShowAuxv => {}
        }
    }
    if secure {
        for name in cli::UNSECURE_ENVVARS {
            st.unsetenv(name);
        }
    }
    if env_outcome == EnvOutcome::SecureExit5 {
        return 5;
    }

    let argv0: &[u8] = args.first().copied().unwrap_or(b"rld");
    if explicit {
        match cli::parse_args(&mut cfg, &args) {
            ArgsOutcome::Program => {}
            ArgsOutcome::Version => {
                println!(
                    "rld {} (x86-64 dynamic linker, glibc 2.36 ld.so compatible)",
                    env!("CARGO_PKG_VERSION")
                );
                return 0;
            }
            ArgsOutcome::Help => return help(argv0, &cfg),
            ArgsOutcome::Usage(wrong) => {
                match wrong {
                    Some(w) => eprint!("{}: unrecognized option '{}'\n", Bytes(argv0), Bytes(w)),
                    None => eprint!("{}: missing program name\n", Bytes(argv0)),
                }
                eprint!("Try '{} --help' for more information.\n", Bytes(argv0));
                return 1;
            }
            ArgsOutcome::ListTunables => {
                // WIRE: rld-glibc tunables table (glibc prints all tunables, exits 0).
                eprint!("rld: --list-tunables not wired yet\n");
                return 1;
            }
            ArgsOutcome::ListDiagnostics => {
                // WIRE: rld-cpu/rld-glibc diagnostics dump (exits 0 in glibc).
                eprint!("rld: --list-diagnostics not wired yet\n");
                return 1;
            }
        }
    }

    match cfg.mode {
        // WIRE: --help with a program: map it (for its RPATH/RUNPATH) then print help.
        Mode::Help => help(argv0, &cfg),
        Mode::List | Mode::Trace => {
            let program: &[u8] = match cfg.program_index.and_then(|i| args.get(i)) {
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
            list::list(&cfg, st, program, mode)
        }
        Mode::Verify => match cfg.program_index.and_then(|i| args.get(i)) {
            Some(p) => list::verify(p),
            None => 1,
        },
        _ => rt::run::run(&cfg, st, explicit),
    }
}

fn help(argv0: &[u8], cfg: &Config<'_>) -> i32 {
    let mut text = Vec::new();
    cli::help_text(argv0, &mut text, LD_SO_CACHE, SELF_ID);
    out::stdout().write_bytes(&text);
    help_search_path(cfg);
    0
}

/// Hook for the rest of `--help`: "Shared library search path:", the glibc-hwcaps
/// subdirectories and the legacy HWCAP subdirectories sections.
fn help_search_path(_cfg: &Config<'_>) {
    // WIRE: rld-search (search path list, hwcaps subdirs with supported/masked/searched).
}

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
