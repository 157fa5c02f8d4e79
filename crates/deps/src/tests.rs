//! Host tests: gcc-built fixtures and every ELF file of the system compared with the real
//! `/lib64/ld-linux-x86-64.so.2 --list` (addresses masked).

use crate::graph::{LoadConfig, Mode};
use crate::report::{ListReport, list_report};
use rld_search::dst::{DstContext, Origin};
use rld_search::hostfs::HostFs;
use rld_search::hwcaps::{self, IsaLevel};
use rld_search::search::{SearchConfig, SearchPath, Searcher};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, println, vec};

const LDSO: &str = "/lib64/ld-linux-x86-64.so.2";

fn host_config() -> SearchConfig {
    let help = Command::new(LDSO).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let legacy_start = help.find("Legacy HWCAP").unwrap();
    let mut platform = None;
    let mut hw: Vec<Vec<u8>> = Vec::new();
    for l in help[legacy_start..].lines().skip(1) {
        let l = l.trim();
        if l.is_empty() {
            break;
        }
        let name = l.split(' ').next().unwrap();
        if l.contains("AT_PLATFORM") {
            platform = Some(name.as_bytes().to_vec());
        } else if l.contains("supported") && name != "tls" {
            hw.push(name.as_bytes().to_vec());
        }
    }
    let level = hwcaps::host_isa_level();
    let hwr: Vec<&[u8]> = hw.iter().map(|h| h.as_slice()).collect();
    SearchConfig::debian_x86_64(level, platform.as_deref(), &hwr)
}

/// Options shared by both sides of a comparison.
#[derive(Clone, Default)]
struct Opts {
    env: Vec<(String, String)>,
    library_path_arg: Option<String>,
    preload_arg: Option<String>,
    inhibit_cache: bool,
    trace: Option<u32>,
}

fn mask(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(p) = rest.find("(0x") {
        out.push_str(&rest[..p]);
        let tail = &rest[p + 3..];
        let n = tail.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if tail[n..].starts_with(')') {
            out.push_str("(ADDR)");
            rest = &tail[n + 1..];
        } else {
            out.push_str("(0x");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn theirs(program: &str, o: &Opts, cwd: Option<&Path>) -> ListReport {
    let mut c = Command::new(LDSO);
    c.env_remove("LD_LIBRARY_PATH").env_remove("LD_PRELOAD");
    for (k, v) in &o.env {
        c.env(k, v);
    }
    if let Some(t) = o.trace {
        c.env("LD_TRACE_LOADED_OBJECTS", t.to_string());
    } else {
        c.arg("--list");
    }
    if o.inhibit_cache {
        c.arg("--inhibit-cache");
    }
    if let Some(lp) = &o.library_path_arg {
        c.args(["--library-path", lp]);
    }
    if let Some(p) = &o.preload_arg {
        c.args(["--preload", p]);
    }
    c.arg(program);
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let out = c.output().unwrap();
    ListReport {
        stdout: mask(&String::from_utf8_lossy(&out.stdout)),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit_code: out.status.code().unwrap_or(128 + 11),
    }
}

fn mine(program: &str, o: &Opts) -> ListReport {
    let fs = HostFs;
    let mut cfg = host_config();
    cfg.inhibit_cache = o.inhibit_cache;
    let env = |k: &str| o.env.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let lp = o
        .library_path_arg
        .clone()
        .or_else(|| env("LD_LIBRARY_PATH"));
    let mut lc = LoadConfig::list(program.as_bytes());
    lc.mode = match o.trace {
        Some(t) => Mode::Trace { program_too: t > 1 },
        None => Mode::List,
    };
    lc.preload_env = env("LD_PRELOAD").map(|s| s.into_bytes());
    lc.preload_arg = o.preload_arg.clone().map(|s| s.into_bytes());
    // LD_LIBRARY_PATH's $ORIGIN refers to the main program; decomposed once it is known.
    let mut s = Searcher::new(&fs, cfg);
    if let Some(lp) = lp {
        let origin = program_origin(program);
        let trusted: Vec<&[u8]> = rld_search::search::DEBIAN_SYSTEM_DIRS.to_vec();
        let platform = s.config.platform.clone();
        let ctx = DstContext {
            origin: match &origin {
                Some(o) => Origin::Known(o),
                None => Origin::Unknown,
            },
            platform: platform.as_deref(),
            lib: rld_search::search::DEBIAN_DST_LIB,
            secure: false,
            is_executable: true,
            trusted_dirs: &trusted,
        };
        s.config.library_path = SearchPath::decompose(lp.as_bytes(), b":;", &ctx);
        if o.library_path_arg.is_some() {
            s.config.library_path_source = rld_search::search::LibraryPathSource::CommandLine;
        }
    }
    let mut r = list_report(&mut s, &lc, &|_| 0x7f00_0000_0000);
    r.stdout = mask(&r.stdout);
    r
}

fn program_origin(program: &str) -> Option<Vec<u8>> {
    let full = if program.starts_with('/') {
        program.to_string()
    } else {
        format!("{}/{}", std::env::current_dir().ok()?.display(), program)
    };
    let i = full.rfind('/')?;
    Some(full[..if i == 0 { 1 } else { i }].as_bytes().to_vec())
}

fn assert_same(program: &str, o: &Opts) {
    let t = theirs(program, o, None);
    let m = mine(program, o);
    assert_eq!(m, t, "program {program}");
}

// ---------- fixtures ----------

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rld-deps-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gcc(args: &[&str]) {
    let st = Command::new("gcc").args(args).status().expect("gcc");
    assert!(st.success(), "gcc {:?}", args);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Build `dir/name` as a shared library with `soname`, linked against `libs` in `libdir`.
fn lib(dir: &Path, name: &str, soname: &str, body: &str, link: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, body).unwrap();
    let out = dir.join(name);
    let mut args = vec!["-shared", "-fPIC", "-o", s(&out), s(&c)];
    let so = format!("-Wl,-soname,{soname}");
    args.push(&so);
    args.extend_from_slice(link);
    gcc(&args);
    out
}

fn exe(dir: &Path, name: &str, body: &str, link: &[&str]) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, body).unwrap();
    let out = dir.join(name);
    let mut args = vec!["-o", s(&out), s(&c)];
    args.extend_from_slice(link);
    gcc(&args);
    out
}

#[test]
fn system_programs_match() {
    for p in [
        "/bin/true",
        "/usr/bin/ls",
        "/lib/x86_64-linux-gnu/libc.so.6",
        LDSO,
        "/usr/bin/python3",
    ] {
        assert_same(p, &Opts::default());
        assert_same(
            p,
            &Opts {
                trace: Some(1),
                ..Default::default()
            },
        );
    }
}

#[test]
fn error_cases_match() {
    let d = tmpdir("err");
    std::fs::write(d.join("text"), "hello, this is not an ELF file\n").unwrap();
    std::fs::write(d.join("short"), "\x7fELF").unwrap();
    for p in [
        "/nonexistent/prog",
        "/tmp",
        s(&d.join("text")),
        s(&d.join("short")),
    ] {
        assert_same(p, &Opts::default());
    }
}
