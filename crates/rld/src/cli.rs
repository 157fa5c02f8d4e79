//! How rld was started and what it was asked to do: glibc 2.36 ld.so's option loop and
//! LD_* environment rules (incl. AT_SECURE), gathered into `Config`. Parse only, no effects.

use alloc::vec::Vec;

/// What the loader does once the program is known (glibc's rtld_mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// `--list`: print dependencies, no relocation of the program.
    List,
    /// `--verify`: exit 0 if the file is a dynamic object rld can handle.
    Verify,
    /// LD_TRACE_LOADED_OBJECTS (ldd): dependencies after loading.
    Trace,
    ListTunables,
    ListDiagnostics,
    Help,
}

/// Where `Config::library_path` came from (printed by --help / LD_DEBUG=libs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibraryPathSource {
    Env,
    Option,
}

impl LibraryPathSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LibraryPathSource::Env => "LD_LIBRARY_PATH",
            LibraryPathSource::Option => "--library-path",
        }
    }
}

pub mod debug {
    pub const LIBS: u32 = 1 << 0;
    pub const IMPCALLS: u32 = 1 << 1;
    pub const BINDINGS: u32 = 1 << 2;
    pub const SYMBOLS: u32 = 1 << 3;
    pub const VERSIONS: u32 = 1 << 4;
    pub const RELOC: u32 = 1 << 5;
    pub const FILES: u32 = 1 << 6;
    pub const STATISTICS: u32 = 1 << 7;
    pub const UNUSED: u32 = 1 << 8;
    pub const SCOPES: u32 = 1 << 9;
    pub const HELP: u32 = 1 << 10;

    /// LD_DEBUG keywords: name, help text, mask (glibc's table, in its order).
    pub const OPTIONS: &[(&str, &str, u32)] = &[
        ("libs", "display library search paths", LIBS | IMPCALLS),
        ("reloc", "display relocation processing", RELOC | IMPCALLS),
        ("files", "display progress for input file", FILES | IMPCALLS),
        (
            "symbols",
            "display symbol table processing",
            SYMBOLS | IMPCALLS,
        ),
        (
            "bindings",
            "display information about symbol binding",
            BINDINGS | IMPCALLS,
        ),
        (
            "versions",
            "display version dependencies",
            VERSIONS | IMPCALLS,
        ),
        ("scopes", "display scope information", SCOPES),
        (
            "all",
            "all previous options combined",
            LIBS | RELOC | FILES | SYMBOLS | BINDINGS | VERSIONS | IMPCALLS | SCOPES,
        ),
        ("statistics", "display relocation statistics", STATISTICS),
        ("unused", "determined unused DSOs", UNUSED),
        ("help", "display this help message and exit", HELP),
    ];
}

/// Side effects glibc performs while scanning the environment, in encounter order; the
/// caller carries them out (printing, exiting) before acting on `Config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvEvent<'a> {
    /// `warning: debug option `X' unknown; try LD_DEBUG=help` on stderr.
    UnknownDebugOption(&'a [u8]),
    /// LD_DEBUG=help: print the keyword list and exit 0 (nothing after it is scanned).
    DebugHelp,
    /// LD_SHOW_AUXV (not honoured when secure): print the aux vector now.
    ShowAuxv,
}

/// Everything rld was told by its command line and environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config<'a> {
    /// AT_SECURE: set-id or capability-raised program; disables the unsafe variables.
    pub secure: bool,
    /// rld was run as a command (`rld [OPTIONS] PROGRAM ARGS...`), not as PT_INTERP.
    pub explicit: bool,
    pub mode: Mode,
    /// LD_TRACE_LOADED_OBJECTS > 1: also list the program itself (ldd on a non-PIE).
    pub trace_program: bool,
    pub inhibit_cache: bool,
    pub library_path: Option<&'a [u8]>,
    pub library_path_source: Option<LibraryPathSource>,
    pub glibc_hwcaps_prepend: Option<&'a [u8]>,
    pub glibc_hwcaps_mask: Option<&'a [u8]>,
    pub inhibit_rpath: Option<&'a [u8]>,
    /// LD_AUDIT values, then --audit values, in order; each may hold a ':'-list.
    pub audit: Vec<&'a [u8]>,
    /// LD_PRELOAD (whitespace/colon list); used before `preload_arg`.
    pub preload_env: Option<&'a [u8]>,
    /// --preload LIST.
    pub preload_arg: Option<&'a [u8]>,
    /// --argv0 STRING.
    pub argv0: Option<&'a [u8]>,
    /// Index in argv of the program when `explicit` (set by `parse_args` on success).
    pub program_index: Option<usize>,
    /// LD_BIND_NOW non-empty (or LD_DEBUG=unused): resolve everything at startup.
    pub bind_now: bool,
    /// LD_BIND_NOT non-empty: do not update GOT/PLT after lazy resolution.
    pub bind_not: bool,
    /// OR of `debug::*` bits from LD_DEBUG (0 when secure without /etc/suid-debug).
    pub debug_mask: u32,
    pub any_debug: bool,
    /// LD_DEBUG_OUTPUT base name (file is NAME.PID); honoured only if not secure and any_debug.
    pub debug_output: Option<&'a [u8]>,
    /// LD_WARN non-empty.
    pub warn: bool,
    /// LD_VERBOSE non-empty: print version information (with --list/trace).
    pub verbose: bool,
    pub profile: Option<&'a [u8]>,
    pub profile_output: &'a [u8],
    pub origin_path: Option<&'a [u8]>,
    pub dynamic_weak: bool,
    /// GLIBC_TUNABLES raw value (per-tunable security filtering is rld-glibc's job).
    pub tunables: Option<&'a [u8]>,
    /// RLD_LAUNCH_CACHE: the launch cache's directory, or "" / "0" / "off" for none. Unset:
    /// `$XDG_CACHE_HOME/rld`, else `$HOME/.cache/rld` (see rt::launch).
    pub launch_cache: Option<&'a [u8]>,
    /// RLD_LAUNCH_CACHE_MIN: the fewest symbolic relocations a start-up or dlopen needs for a
    /// record (default: rt::launch's thresholds).
    pub launch_cache_min: Option<usize>,
    /// RLD_LAUNCH_CACHE_SIZE: the most bytes the records of the cache directory may take
    /// (a number, optionally followed by k, M or G; default: rt::launch's).
    pub launch_cache_size: Option<u64>,
    pub home: Option<&'a [u8]>,
    pub xdg_cache_home: Option<&'a [u8]>,
}

impl<'a> Config<'a> {
    pub fn new(secure: bool, explicit: bool) -> Self {
        Config {
            secure,
            explicit,
            mode: Mode::Normal,
            trace_program: false,
            inhibit_cache: false,
            library_path: None,
            library_path_source: None,
            glibc_hwcaps_prepend: None,
            glibc_hwcaps_mask: None,
            inhibit_rpath: None,
            audit: Vec::new(),
            preload_env: None,
            preload_arg: None,
            argv0: None,
            program_index: None,
            bind_now: false,
            bind_not: false,
            debug_mask: 0,
            any_debug: false,
            debug_output: None,
            warn: false,
            verbose: false,
            profile: None,
            profile_output: if secure { b"/var/profile" } else { b"/var/tmp" },
            origin_path: None,
            dynamic_weak: false,
            tunables: None,
            launch_cache: None,
            launch_cache_min: None,
            launch_cache_size: None,
            home: None,
            xdg_cache_home: None,
        }
    }
}

/// What the environment scan asks for after recording everything in `Config`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvOutcome {
    Continue,
    /// Secure program with a non-normal mode (e.g. LD_TRACE_LOADED_OBJECTS): exit(5).
    SecureExit5,
}

/// glibc's `_dl_strtoul`: optional blanks and sign, then decimal, 0x-hex or 0-octal.
pub fn strtoul(s: &[u8]) -> u64 {
    let mut i = 0;
    while matches!(s.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let mut positive = true;
    match s.get(i) {
        Some(b'-') => {
            positive = false;
            i += 1;
        }
        Some(b'+') => i += 1,
        _ => {}
    }
    if !matches!(s.get(i), Some(b'0'..=b'9')) {
        return 0;
    }
    let mut base = 10u64;
    if s.get(i) == Some(&b'0') {
        if matches!(s.get(i + 1), Some(b'x' | b'X')) {
            base = 16;
            i += 2;
        } else {
            base = 8;
        }
    }
    let mut r: u64 = 0;
    while let Some(&c) = s.get(i) {
        let d = match c {
            b'0'..=b'9' if u64::from(c - b'0') < base => u64::from(c - b'0'),
            b'a'..=b'f' if base == 16 => u64::from(c - b'a' + 10),
            b'A'..=b'F' if base == 16 => u64::from(c - b'A' + 10),
            _ => break,
        };
        if r >= (u64::MAX - d) / base {
            return u64::MAX;
        }
        r = r * base + d;
        i += 1;
    }
    if positive { r } else { r.wrapping_neg() }
}

fn parse_debug<'a>(cfg: &mut Config<'a>, mut v: &'a [u8], events: &mut Vec<EnvEvent<'a>>) -> bool {
    let sep = |c: u8| c == b' ' || c == b',' || c == b':';
    while let Some((&c, rest)) = v.split_first() {
        if sep(c) {
            v = rest;
            continue;
        }
        let len = v.iter().position(|&c| sep(c)).unwrap_or(v.len());
        let (word, rest) = v.split_at(len);
        match debug::OPTIONS.iter().find(|o| o.0.as_bytes() == word) {
            Some(o) => {
                cfg.debug_mask |= o.2;
                cfg.any_debug = true;
            }
            None => events.push(EnvEvent::UnknownDebugOption(word)),
        }
        v = rest;
    }
    if cfg.debug_mask & debug::UNUSED != 0 {
        cfg.bind_now = true;
    }
    if cfg.debug_mask & debug::HELP != 0 {
        events.push(EnvEvent::DebugHelp);
        return false;
    }
    true
}

/// Scans the environment like glibc's process_envvars. `suid_debug` says whether
/// /etc/suid-debug exists (only consulted when secure). Stops early after LD_DEBUG=help.
pub fn parse_env<'a>(
    cfg: &mut Config<'a>,
    env: &[&'a [u8]],
    suid_debug: bool,
    events: &mut Vec<EnvEvent<'a>>,
) -> EnvOutcome {
    let secure = cfg.secure;
    for &entry in env {
        if let Some(v) = entry.strip_prefix(b"GLIBC_TUNABLES=") {
            cfg.tunables = Some(v);
            continue;
        }
        let Some(e) = entry.strip_prefix(b"LD_") else {
            if let Some(v) = entry.strip_prefix(b"RLD_LAUNCH_CACHE=") {
                cfg.launch_cache = Some(v);
            } else if let Some(v) = entry.strip_prefix(b"RLD_LAUNCH_CACHE_MIN=") {
                cfg.launch_cache_min = Some(strtoul(v) as usize);
            } else if let Some(v) = entry.strip_prefix(b"RLD_LAUNCH_CACHE_SIZE=") {
                cfg.launch_cache_size = rld_link::launch::parse_size(v);
            } else if let Some(v) = entry.strip_prefix(b"HOME=") {
                cfg.home = Some(v);
            } else if let Some(v) = entry.strip_prefix(b"XDG_CACHE_HOME=") {
                cfg.xdg_cache_home = Some(v);
            }
            continue;
        };
        let Some(eq) = e.iter().position(|&c| c == b'=') else {
            continue;
        };
        let (name, val) = (e.get(..eq).unwrap_or(&[]), e.get(eq + 1..).unwrap_or(&[]));
        match name {
            b"WARN" => cfg.warn = !val.is_empty(),
            b"DEBUG" if !parse_debug(cfg, val, events) => return EnvOutcome::Continue,
            b"AUDIT" => cfg.audit.push(val),
            b"VERBOSE" => cfg.verbose = !val.is_empty(),
            b"PRELOAD" => cfg.preload_env = Some(val),
            b"PROFILE" if !val.is_empty() => cfg.profile = Some(val),
            b"BIND_NOW" => cfg.bind_now = !val.is_empty(),
            b"BIND_NOT" => cfg.bind_not = !val.is_empty(),
            b"SHOW_AUXV" if !secure => events.push(EnvEvent::ShowAuxv),
            b"ORIGIN_PATH" if !secure => cfg.origin_path = Some(val),
            b"LIBRARY_PATH" if !secure => {
                cfg.library_path = Some(val);
                cfg.library_path_source = Some(LibraryPathSource::Env);
            }
            b"DEBUG_OUTPUT" => cfg.debug_output = Some(val),
            b"DYNAMIC_WEAK" if !secure => cfg.dynamic_weak = true,
            b"PROFILE_OUTPUT" if !secure && !val.is_empty() => cfg.profile_output = val,
            b"TRACE_LOADED_OBJECTS" => {
                cfg.mode = Mode::Trace;
                cfg.trace_program = strtoul(val) > 1;
            }
            _ => {}
        }
    }
    if secure {
        if !suid_debug {
            cfg.debug_mask = 0;
        }
        cfg.debug_output = None;
        if cfg.mode != Mode::Normal {
            return EnvOutcome::SecureExit5;
        }
    } else if !cfg.any_debug {
        cfg.debug_output = None;
    }
    EnvOutcome::Continue
}

/// Result of the explicit-invocation option loop when it does not simply continue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgsOutcome<'a> {
    /// Go on with `cfg.program_index` set (mode Normal/List/Verify/Trace/Help).
    Program,
    /// `--help` and no program: print help, exit 0.
    Help,
    /// `--version` (acts immediately, later arguments are not looked at): exit 0.
    Version,
    /// `--list-tunables`: print tunables, exit 0.
    ListTunables,
    /// `--list-diagnostics`: print diagnostics, exit 0.
    ListDiagnostics,
    /// `NAME: unrecognized option 'X'` (Some) or `NAME: missing program name` (None), then
    /// `Try 'NAME --help' for more information.`, exit 1.
    Usage(Option<&'a [u8]>),
}

/// glibc 2.36's dl_main option loop over `args` (argv, args[0] is rld's own name).
/// Options taking a value are only recognised when a value follows; otherwise they fall
/// into the "unrecognized option" branch. Note `--` itself is reported as unrecognized in
/// 2.36 (its end-of-options test can never match), and so is every other `--X`.
pub fn parse_args<'a>(cfg: &mut Config<'a>, args: &[&'a [u8]]) -> ArgsOutcome<'a> {
    let mut i = 1;
    while let Some(&a) = args.get(i) {
        let val = args.get(i + 1).copied();
        let take = |slot: &mut Option<&'a [u8]>| -> bool {
            match val {
                Some(v) => {
                    *slot = Some(v);
                    true
                }
                None => false,
            }
        };
        let step = match a {
            b"--list" => {
                if cfg.mode != Mode::Help {
                    cfg.mode = Mode::List;
                }
                1
            }
            b"--verify" => {
                if cfg.mode != Mode::Help {
                    cfg.mode = Mode::Verify;
                }
                1
            }
            b"--inhibit-cache" => {
                cfg.inhibit_cache = true;
                1
            }
            b"--library-path" if take(&mut cfg.library_path) => {
                cfg.library_path_source = Some(LibraryPathSource::Option);
                2
            }
            b"--inhibit-rpath" if take(&mut cfg.inhibit_rpath) => 2,
            b"--audit" if val.is_some() => {
                cfg.audit.extend(val);
                2
            }
            b"--preload" if take(&mut cfg.preload_arg) => 2,
            b"--argv0" if take(&mut cfg.argv0) => 2,
            b"--glibc-hwcaps-prepend" if take(&mut cfg.glibc_hwcaps_prepend) => 2,
            b"--glibc-hwcaps-mask" if take(&mut cfg.glibc_hwcaps_mask) => 2,
            b"--list-tunables" => {
                cfg.mode = Mode::ListTunables;
                1
            }
            b"--list-diagnostics" => {
                cfg.mode = Mode::ListDiagnostics;
                1
            }
            b"--help" => {
                cfg.mode = Mode::Help;
                1
            }
            b"--version" => return ArgsOutcome::Version,
            _ if a.starts_with(b"--") => return ArgsOutcome::Usage(Some(a)),
            _ => break,
        };
        i += step;
    }
    match cfg.mode {
        Mode::ListTunables => return ArgsOutcome::ListTunables,
        Mode::ListDiagnostics => return ArgsOutcome::ListDiagnostics,
        _ => {}
    }
    if i >= args.len() {
        return if cfg.mode == Mode::Help {
            ArgsOutcome::Help
        } else {
            ArgsOutcome::Usage(None)
        };
    }
    cfg.program_index = Some(i);
    ArgsOutcome::Program
}

/// The `Usage:`/option part of `--help` (glibc's text with ld.so's name replaced by
/// `argv0`); the caller appends the search-path and hwcaps sections.
pub fn help_text(argv0: &[u8], out: &mut Vec<u8>, cache: &str, self_id: &str) {
    const INTRO: &[&str] = &[
        " [OPTION]... EXECUTABLE-FILE [ARGS-FOR-PROGRAM...]",
        "You have invoked 'ld.so', the program interpreter for dynamically-linked",
        "ELF programs.  Usually, the program interpreter is invoked automatically",
        "when a dynamically-linked executable is started.",
        "",
        "You may invoke the program interpreter program directly from the command",
        "line to load and run an ELF executable file; this is like executing that",
        "file itself, but always uses the program interpreter you invoked,",
        "instead of the program interpreter specified in the executable file you",
        "run.  Invoking the program interpreter directly provides access to",
        "additional diagnostics, and changing the dynamic linker behavior without",
        "setting environment variables (which would be inherited by subprocesses).",
        "",
        "  --list                list all dependencies and how they are resolved",
        "  --verify              verify that given object really is a dynamically linked",
        "                        object we can handle",
    ];
    const OPTIONS: &[&str] = &[
        "  --library-path PATH   use given PATH instead of content of the environment",
        "                        variable LD_LIBRARY_PATH",
        "  --glibc-hwcaps-prepend LIST",
        "                        search glibc-hwcaps subdirectories in LIST",
        "  --glibc-hwcaps-mask LIST",
        "                        only search built-in subdirectories if in LIST",
        "  --inhibit-rpath LIST  ignore RUNPATH and RPATH information in object names",
        "                        in LIST",
        "  --audit LIST          use objects named in LIST as auditors",
        "  --preload LIST        preload objects named in LIST",
        "  --argv0 STRING        set argv[0] to STRING before running",
        "  --list-tunables       list all tunables with minimum and maximum values",
        "  --list-diagnostics    list diagnostics information",
        "  --help                display this help and exit",
        "  --version             output version information and exit",
        "",
    ];
    out.extend_from_slice(b"Usage: ");
    out.extend_from_slice(argv0);
    for l in INTRO {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"  --inhibit-cache       Do not use ");
    out.extend_from_slice(cache.as_bytes());
    out.push(b'\n');
    for l in OPTIONS {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"This program interpreter self-identifies as: ");
    out.extend_from_slice(self_id.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn args<'a>(v: &[&'a str]) -> Vec<&'a [u8]> {
        v.iter().map(|s| s.as_bytes()).collect()
    }

    fn run<'a>(v: &[&'a str]) -> (ArgsOutcome<'a>, Config<'a>) {
        let mut c = Config::new(false, true);
        let a = args(v);
        let a: &'a [&'a [u8]] = alloc::boxed::Box::leak(a.into_boxed_slice());
        let o = parse_args(&mut c, a);
        (o, c)
    }

    #[test]
    fn usage_errors() {
        assert_eq!(run(&["rld"]).0, ArgsOutcome::Usage(None));
        assert_eq!(run(&["rld", "--list"]).0, ArgsOutcome::Usage(None));
        assert_eq!(
            run(&["rld", "--bogus"]).0,
            ArgsOutcome::Usage(Some(b"--bogus"))
        );
        assert_eq!(run(&["rld", "--"]).0, ArgsOutcome::Usage(Some(b"--")));
        assert_eq!(run(&["rld", "--", "x"]).0, ArgsOutcome::Usage(Some(b"--")));
        assert_eq!(
            run(&["rld", "--library-path"]).0,
            ArgsOutcome::Usage(Some(b"--library-path"))
        );
        assert_eq!(
            run(&["rld", "--help", "--bogus"]).0,
            ArgsOutcome::Usage(Some(b"--bogus"))
        );
        assert_eq!(
            run(&["rld", "--bogus", "--version"]).0,
            ArgsOutcome::Usage(Some(b"--bogus"))
        );
    }

    #[test]
    fn immediate_and_modes() {
        assert_eq!(
            run(&["rld", "--version", "--bogus"]).0,
            ArgsOutcome::Version
        );
        assert_eq!(run(&["rld", "--help"]).0, ArgsOutcome::Help);
        assert_eq!(
            run(&["rld", "--list-tunables", "x"]).0,
            ArgsOutcome::ListTunables
        );
        assert_eq!(
            run(&["rld", "--list-diagnostics"]).0,
            ArgsOutcome::ListDiagnostics
        );
        let (o, c) = run(&["rld", "--help", "--list", "prog"]);
        assert_eq!((o, c.mode), (ArgsOutcome::Program, Mode::Help));
    }

    #[test]
    fn program_and_values() {
        let (o, c) = run(&[
            "rld",
            "--list",
            "--library-path",
            "/a:/b",
            "--audit",
            "x.so",
            "--audit",
            "y.so",
            "--argv0",
            "zz",
            "--preload",
            "p.so",
            "--inhibit-cache",
            "-x",
            "--list",
        ]);
        assert_eq!(o, ArgsOutcome::Program);
        assert_eq!(c.mode, Mode::List);
        assert_eq!(c.program_index, Some(13));
        assert_eq!(c.library_path, Some(&b"/a:/b"[..]));
        assert_eq!(c.library_path_source, Some(LibraryPathSource::Option));
        assert_eq!(c.audit, vec![&b"x.so"[..], b"y.so"]);
        assert_eq!(c.argv0, Some(&b"zz"[..]));
        assert_eq!(c.preload_arg, Some(&b"p.so"[..]));
        assert!(c.inhibit_cache);
    }

    #[test]
    fn env_rules() {
        let env = args(&[
            "LD_LIBRARY_PATH=/x",
            "LD_DEBUG=libs,bogus files",
            "LD_BIND_NOW=",
            "LD_BIND_NOT=1",
            "LD_SHOW_AUXV=1",
            "LD_PRELOAD=a.so",
            "LD_AUDIT=au.so",
            "LD_DEBUG_OUTPUT=/tmp/dbg",
            "GLIBC_TUNABLES=glibc.malloc.check=3",
            "LD_NOEQ",
        ]);
        let mut ev = Vec::new();
        let mut c = Config::new(false, false);
        assert_eq!(
            parse_env(&mut c, &env, false, &mut ev),
            EnvOutcome::Continue
        );
        assert_eq!(c.library_path, Some(&b"/x"[..]));
        assert_eq!(c.debug_mask, debug::LIBS | debug::FILES | debug::IMPCALLS);
        assert!(!c.bind_now && c.bind_not);
        assert_eq!(
            ev,
            vec![EnvEvent::UnknownDebugOption(b"bogus"), EnvEvent::ShowAuxv]
        );
        assert_eq!(c.debug_output, Some(&b"/tmp/dbg"[..]));
        assert_eq!(c.tunables, Some(&b"glibc.malloc.check=3"[..]));

        let mut ev = Vec::new();
        let mut c = Config::new(true, false);
        assert_eq!(
            parse_env(&mut c, &env, false, &mut ev),
            EnvOutcome::Continue
        );
        assert_eq!(c.library_path, None);
        assert_eq!(c.debug_mask, 0);
        assert_eq!(c.debug_output, None);
        assert_eq!(c.preload_env, Some(&b"a.so"[..]));
        assert_eq!(ev, vec![EnvEvent::UnknownDebugOption(b"bogus")]);

        let t = args(&["LD_TRACE_LOADED_OBJECTS=2"]);
        let mut c = Config::new(true, false);
        assert_eq!(
            parse_env(&mut c, &t, false, &mut ev),
            EnvOutcome::SecureExit5
        );
        let mut c = Config::new(false, false);
        assert_eq!(parse_env(&mut c, &t, false, &mut ev), EnvOutcome::Continue);
        assert!(c.mode == Mode::Trace && c.trace_program);
    }

    #[test]
    fn debug_help_stops_scan() {
        let env = args(&["LD_DEBUG=help", "LD_LIBRARY_PATH=/x"]);
        let mut ev = Vec::new();
        let mut c = Config::new(false, false);
        parse_env(&mut c, &env, false, &mut ev);
        assert_eq!(ev, vec![EnvEvent::DebugHelp]);
        assert_eq!(c.library_path, None);
    }

    #[test]
    fn strtoul_like_glibc() {
        assert_eq!(strtoul(b"2"), 2);
        assert_eq!(strtoul(b" 0x1f"), 31);
        assert_eq!(strtoul(b"010"), 8);
        assert_eq!(strtoul(b"09"), 0);
        assert_eq!(strtoul(b"abc"), 0);
        assert_eq!(strtoul(b"-1"), u64::MAX);
    }
}
