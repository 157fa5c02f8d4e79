//! Oracle tests: every fixture (tests/fixtures) and a table of real programs run under glibc's loader
//! and under the loader under test; stdout, stderr and exit status must match after normalisation.
//!
//! Invariants: glibc's `/lib64/ld-linux-x86-64.so.2` is always the oracle; `RLD_ORACLE_SELFTEST=1`
//! makes glibc the loader under test too, so every test must pass then (proves the tests are right).
//! Names: `m3_*` run unmodified programs; `m4_*` need threads, dlopen, C++ exceptions or lazy binding.
//!
//! Modes compared pairwise (same argv[0], same cwd, same environment on both sides):
//! - explicit: `LOADER ./prog ARGS` against `/lib64/ld-linux-x86-64.so.2 ./prog ARGS`;
//! - PT_INTERP: a copy of the program whose PT_INTERP names a symlink to the loader under test,
//!   against a copy whose PT_INTERP names a symlink to glibc's loader (same path length, patched in
//!   place: no relinking and no patchelf needed). Copies live in `pt-r/` and `pt-g/` next to the
//!   fixture libraries; executables have RUNPATH `$ORIGIN:$ORIGIN/..` so both find the same libs.
//!
//! The build directory `/tmp/rldt-<pid>` is kept after the run for debugging; stale ones of dead
//! processes are removed at the next run.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const GLIBC_LD: &str = "/lib64/ld-linux-x86-64.so.2";
const TIMEOUT: Duration = Duration::from_secs(30);

fn selftest() -> bool {
    std::env::var("RLD_ORACLE_SELFTEST").is_ok_and(|v| v == "1")
}

/// The loader under test: rld, or glibc's loader itself in self-test mode.
fn loader() -> PathBuf {
    if selftest() {
        PathBuf::from(GLIBC_LD)
    } else {
        PathBuf::from(env!("CARGO_BIN_EXE_rld"))
    }
}

fn repo_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

// ---------------------------------------------------------------------------------------------
// Build directory and fixtures
// ---------------------------------------------------------------------------------------------

struct World {
    /// `/tmp/rldt-<pid>`: short, so `<root>/g` and `<root>/r` fit in a PT_INTERP of glibc's length.
    root: PathBuf,
    /// Built fixtures (the Makefile's output).
    out: PathBuf,
    /// Symlink to glibc's loader and to the loader under test, used as PT_INTERP strings.
    interp_g: PathBuf,
    interp_r: PathBuf,
}

static WORLD: OnceLock<Result<World, String>> = OnceLock::new();

fn world() -> &'static World {
    match WORLD.get_or_init(build_world) {
        Ok(w) => w,
        Err(e) => panic!("fixture build failed (every oracle test fails with this):\n{e}"),
    }
}

fn remove_stale_roots() {
    let Ok(rd) = fs::read_dir("/tmp") else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("rldt-")
            && pid.parse::<u32>().is_ok()
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

fn build_world() -> Result<World, String> {
    remove_stale_roots();
    let root = PathBuf::from(format!("/tmp/rldt-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let out = root.join("out");
    fs::create_dir_all(&out).map_err(|e| format!("mkdir {}: {e}", out.display()))?;
    let interp_g = root.join("g");
    let interp_r = root.join("r");
    symlink(GLIBC_LD, &interp_g).map_err(|e| e.to_string())?;
    let lut = loader();
    let lut_abs = if lut.is_absolute() {
        lut
    } else {
        std::env::current_dir().unwrap_or_default().join(lut)
    };
    symlink(&lut_abs, &interp_r).map_err(|e| e.to_string())?;

    let src = repo_root().join("tests/fixtures");
    let t0 = Instant::now();
    let o = Command::new("make")
        .arg("-s")
        .arg("-j2")
        .arg("-f")
        .arg(src.join("Makefile"))
        .arg(format!("SRC={}", src.display()))
        .arg(format!("LOADER={}", lut_abs.display()))
        .current_dir(&out)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .output()
        .map_err(|e| format!("cannot run make: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "make in {} failed ({}):\n{}{}",
            out.display(),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    eprintln!(
        "oracle_run: fixtures built in {:.1}s into {}",
        t0.elapsed().as_secs_f64(),
        out.display()
    );

    let w = World {
        root,
        out,
        interp_g,
        interp_r,
    };
    for d in ["pt-g", "pt-r"] {
        fs::create_dir_all(w.out.join(d)).map_err(|e| e.to_string())?;
    }
    for e in fs::read_dir(&w.out).map_err(|e| e.to_string())?.flatten() {
        let p = e.path();
        if !p.is_file() || p.extension() == Some(OsStr::new("so")) {
            continue;
        }
        let Ok(bytes) = fs::read(&p) else { continue };
        if interp_range(&bytes).is_none() {
            continue;
        }
        let name = e.file_name();
        write_with_interp(&bytes, &w.interp_g, &w.out.join("pt-g").join(&name))?;
        write_with_interp(&bytes, &w.interp_r, &w.out.join("pt-r").join(&name))?;
    }
    Ok(w)
}

/// File range of PT_INTERP's string (p_offset, p_filesz) of a little-endian ELF64 file.
fn interp_range(b: &[u8]) -> Option<(usize, usize)> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |o: usize| -> Option<usize> {
        Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?) as usize)
    };
    let phoff = u64_at(0x20)?;
    let phentsize = u16_at(0x36);
    let phnum = u16_at(0x38);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let ty = u32::from_le_bytes(b.get(ph..ph + 4)?.try_into().ok()?);
        if ty == 3 {
            return Some((u64_at(ph + 8)?, u64_at(ph + 32)?));
        }
    }
    None
}

/// Writes a copy of the ELF image `bytes` whose PT_INTERP string is `interp` (NUL padded).
fn write_with_interp(bytes: &[u8], interp: &Path, dest: &Path) -> Result<(), String> {
    let (off, size) = interp_range(bytes).ok_or("no PT_INTERP")?;
    let s = interp.as_os_str().as_encoded_bytes();
    if s.len() + 1 > size || off + size > bytes.len() {
        return Err(format!(
            "PT_INTERP of {} too small for {}",
            dest.display(),
            interp.display()
        ));
    }
    let mut v = bytes.to_vec();
    v[off..off + size].fill(0);
    v[off..off + s.len()].copy_from_slice(s);
    fs::write(dest, &v).map_err(|e| format!("write {}: {e}", dest.display()))?;
    fs::set_permissions(dest, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

#[derive(Clone, PartialEq)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// "exit N", "signal N" or "timeout".
    status: String,
}

#[derive(Clone)]
struct Cmd {
    argv: Vec<String>,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
}

impl Cmd {
    fn shell_line(&self) -> String {
        let q = |s: &str| {
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-=+,:@".contains(c))
            {
                s.to_string()
            } else {
                format!("'{}'", s.replace('\'', "'\\''"))
            }
        };
        let mut l = format!("cd {} && env -i", q(&self.cwd.to_string_lossy()));
        for (k, v) in &self.env {
            let _ = write!(l, " {}", q(&format!("{k}={v}")));
        }
        for a in &self.argv {
            let _ = write!(l, " {}", q(a));
        }
        if !self.stdin.is_empty() {
            l.push_str(" < (stdin given by the test)");
        }
        l
    }

    fn run(&self) -> Outcome {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..]).current_dir(&self.cwd).env_clear();
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => {
                return Outcome {
                    stdout: vec![],
                    stderr: format!("spawn failed: {e}").into_bytes(),
                    status: "spawn error".into(),
                };
            }
        };
        let mut sin = child.stdin.take();
        let input = self.stdin.clone();
        let tin = std::thread::spawn(move || {
            if let Some(s) = sin.as_mut() {
                let _ = s.write_all(&input);
            }
        });
        let mut so = child.stdout.take();
        let mut se = child.stderr.take();
        let to = std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(s) = so.as_mut() {
                let _ = s.read_to_end(&mut v);
            }
            v
        });
        let te = std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(s) = se.as_mut() {
                let _ = s.read_to_end(&mut v);
            }
            v
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    break match (st.code(), st.signal()) {
                        (Some(c), _) => format!("exit {c}"),
                        (None, Some(s)) => format!("signal {s}"),
                        _ => "unknown".into(),
                    };
                }
                Ok(None) if start.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break "timeout".into();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => break format!("wait error {e}"),
            }
        };
        let _ = tin.join();
        let stdout = to.join().unwrap_or_default();
        let stderr = te.join().unwrap_or_default();
        Outcome {
            stdout,
            stderr,
            status,
        }
    }
}

/// Replaces what legitimately differs between the two sides: the loader's own paths and the
/// PT_INTERP copy directories.
fn normalize(b: &[u8], subst: &[(String, &str)]) -> String {
    let mut s = String::from_utf8_lossy(b).into_owned();
    let mut subst: Vec<&(String, &str)> = subst.iter().filter(|(k, _)| !k.is_empty()).collect();
    subst.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (k, v) in subst {
        s = s.replace(k.as_str(), v);
    }
    s
}

fn loader_names(l: &Path) -> Vec<String> {
    let mut v = vec![l.to_string_lossy().into_owned()];
    if let Ok(c) = l.canonicalize() {
        v.push(c.to_string_lossy().into_owned());
    }
    v
}

fn subst_for(side_loader: &Path, extra: &[(String, &'static str)]) -> Vec<(String, &'static str)> {
    let w = world();
    let mut v: Vec<(String, &'static str)> = extra.to_vec();
    for n in loader_names(side_loader) {
        v.push((n, "<LOADER>"));
    }
    v.push((w.interp_g.to_string_lossy().into_owned(), "<LOADER>"));
    v.push((w.interp_r.to_string_lossy().into_owned(), "<LOADER>"));
    for d in ["pt-g", "pt-r", "ld-g", "ld-r"] {
        v.push((w.out.join(d).to_string_lossy().into_owned(), "<OUT>/<PT>"));
    }
    for d in ["real-g", "real-r"] {
        v.push((w.root.join(d).to_string_lossy().into_owned(), "<REAL>/<PT>"));
    }
    v.push((w.out.to_string_lossy().into_owned(), "<OUT>"));
    v
}

// ---------------------------------------------------------------------------------------------
// Diff and report
// ---------------------------------------------------------------------------------------------

/// Unified diff (3 lines of context) of two texts, LCS based; enough for test outputs.
fn unified_diff(a: &str, b: &str, la: &str, lb: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    if a.len() * b.len() > 4_000_000 {
        return format!("(too long to diff: {} vs {} lines)\n", a.len(), b.len());
    }
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // ops: (' ', ai, bj) | ('-', ai, _) | ('+', _, bj)
    let mut ops: Vec<(char, usize, usize)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j));
            i += 1;
        } else {
            ops.push(('+', i, j));
            j += 1;
        }
    }
    let mut out = format!("--- {la}\n+++ {lb}\n");
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.0 != ' ')
        .map(|(k, _)| k)
        .collect();
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(3);
        let mut end = changed[k] + 3;
        while k + 1 < changed.len() && changed[k + 1] <= end + 3 {
            k += 1;
            end = changed[k] + 3;
        }
        let end = end.min(ops.len() - 1);
        let (a0, b0) = (ops[start].1, ops[start].2);
        let acount = ops[start..=end].iter().filter(|o| o.0 != '+').count();
        let bcount = ops[start..=end].iter().filter(|o| o.0 != '-').count();
        let _ = writeln!(out, "@@ -{},{} +{},{} @@", a0 + 1, acount, b0 + 1, bcount);
        for o in &ops[start..=end] {
            let line = if o.0 == '+' { b[o.2] } else { a[o.1] };
            let _ = writeln!(out, "{}{}", o.0, line);
        }
        k += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Modes {
    /// Explicit and PT_INTERP.
    Both,
    ExplicitOnly,
}

/// One program run to compare. `prog` is a fixture name (relative to the build dir).
#[derive(Clone)]
struct Case {
    label: String,
    prog: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Loader options placed before the program in explicit mode (e.g. `--preload X`).
    loader_opts: Vec<String>,
    modes: Modes,
}

fn case(prog: &str, args: &[&str]) -> Case {
    Case {
        label: format!("{prog} {}", args.join(" ")).trim().to_string(),
        prog: prog.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        loader_opts: vec![],
        modes: Modes::Both,
    }
}

impl Case {
    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self.label = format!("{k}={v} {}", self.label);
        self
    }
    fn explicit_only(mut self) -> Self {
        self.modes = Modes::ExplicitOnly;
        self
    }
    fn loader_opt(mut self, o: &str) -> Self {
        self.loader_opts.push(o.into());
        self.label = format!("[{o}] {}", self.label);
        self
    }
}

fn base_env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LC_ALL".into(), "C".into()),
    ]
}

/// What glibc did for one case, per mode, for further assertions by the test.
struct Oracle {
    explicit: Outcome,
    interp: Option<Outcome>,
}

impl Oracle {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.explicit.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.explicit.stderr).into_owned()
    }
}

struct Pair {
    mode: &'static str,
    oracle: Cmd,
    lut: Cmd,
    oracle_loader: PathBuf,
    lut_loader: PathBuf,
}

fn pairs_for(c: &Case) -> Vec<Pair> {
    let w = world();
    let mut env = base_env();
    env.extend(c.env.iter().cloned());
    let mk = |argv: Vec<String>, cwd: PathBuf| Cmd {
        argv,
        cwd,
        env: env.clone(),
        stdin: vec![],
    };
    let prog_rel = format!("./{}", c.prog);
    let explicit = |ld: &Path| {
        let mut v = vec![ld.to_string_lossy().into_owned()];
        v.extend(c.loader_opts.iter().cloned());
        v.push(prog_rel.clone());
        v.extend(c.args.iter().cloned());
        v
    };
    let mut p = vec![Pair {
        mode: "explicit",
        oracle: mk(explicit(Path::new(GLIBC_LD)), w.out.clone()),
        lut: mk(explicit(&loader()), w.out.clone()),
        oracle_loader: GLIBC_LD.into(),
        lut_loader: loader(),
    }];
    if c.modes == Modes::Both {
        let direct = || {
            let mut v = vec![prog_rel.clone()];
            v.extend(c.args.iter().cloned());
            v
        };
        p.push(Pair {
            mode: "PT_INTERP (copies in pt-g/ and pt-r/: PT_INTERP <root>/g -> glibc, <root>/r -> tested loader)",
            oracle: mk(direct(), w.out.join("pt-g")),
            lut: mk(direct(), w.out.join("pt-r")),
            oracle_loader: GLIBC_LD.into(),
            lut_loader: loader(),
        });
    }
    p
}

/// Runs one pair; returns glibc's outcome and a failure report if the loader under test differs.
fn compare_pair(label: &str, p: &Pair) -> (Outcome, Option<String>) {
    compare_pair_with(label, p, |s| s)
}

/// `compare_pair` with a further normalisation `post` of both sides' texts.
fn compare_pair_with(
    label: &str,
    p: &Pair,
    post: fn(String) -> String,
) -> (Outcome, Option<String>) {
    let o = p.oracle.run();
    let r = p.lut.run();
    let rep = compare_outcomes(label, p, &o, &r, post);
    (o, rep)
}

/// The report of how the tested loader's outcome `r` differs from glibc's `o`, if it does.
fn compare_outcomes(
    label: &str,
    p: &Pair,
    o: &Outcome,
    r: &Outcome,
    post: fn(String) -> String,
) -> Option<String> {
    let so = subst_for(&p.oracle_loader, &[]);
    let sr = subst_for(&p.lut_loader, &[]);
    let (oo, ro) = (
        post(normalize(&o.stdout, &so)),
        post(normalize(&r.stdout, &sr)),
    );
    let (oe, re) = (
        post(normalize(&o.stderr, &so)),
        post(normalize(&r.stderr, &sr)),
    );
    // Binary output (gzip, xz) is compared byte for byte: lossy decoding could hide differences.
    let binary =
        |a: &[u8], b: &[u8]| std::str::from_utf8(a).is_err() || std::str::from_utf8(b).is_err();
    let out_same = if binary(&o.stdout, &r.stdout) {
        o.stdout == r.stdout
    } else {
        oo == ro
    };
    let err_same = if binary(&o.stderr, &r.stderr) {
        o.stderr == r.stderr
    } else {
        oe == re
    };
    if out_same && err_same && o.status == r.status {
        return None;
    }
    let mut rep = format!(
        "=== {label} — mode {}\n  oracle: {}\n  tested: {}\n",
        p.mode,
        p.oracle.shell_line(),
        p.lut.shell_line()
    );
    if o.status != r.status {
        let _ = writeln!(rep, "  status: oracle {} / tested {}", o.status, r.status);
    }
    for (what, same, a, b, na, nb) in [
        ("stdout", out_same, &o.stdout, &r.stdout, &oo, &ro),
        ("stderr", err_same, &o.stderr, &r.stderr, &oe, &re),
    ] {
        if same {
            continue;
        }
        let _ = writeln!(rep, "  {what} differs:");
        if binary(a, b) {
            let first = a
                .iter()
                .zip(b.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            let _ = writeln!(
                rep,
                "    binary: {} vs {} bytes, first difference at offset {first}",
                a.len(),
                b.len()
            );
        } else {
            rep.push_str(&indent(&unified_diff(na, nb, "glibc", "tested")));
        }
    }
    Some(rep)
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

/// Runs every case in every mode, collects all differences, panics with the full report.
/// Returns glibc's outcomes (explicit and PT_INTERP) for assertions on what the fixture showed.
fn check(cases: &[Case]) -> Vec<Oracle> {
    check_with(cases, |s| s)
}

/// `check` with a further normalisation of both sides' stdout and stderr.
fn check_with(cases: &[Case], post: fn(String) -> String) -> Vec<Oracle> {
    let mut failures = Vec::new();
    let mut oracles = Vec::new();
    for c in cases {
        let mut explicit = None;
        let mut interp = None;
        for p in pairs_for(c) {
            let (o, f) = compare_pair_with(&c.label, &p, post);
            if let Some(f) = f {
                failures.push(f);
            }
            if p.mode == "explicit" {
                explicit = Some(o)
            } else {
                interp = Some(o)
            }
        }
        oracles.push(Oracle {
            explicit: explicit.unwrap_or_else(|| unreachable!()),
            interp,
        });
    }
    if !failures.is_empty() {
        panic!(
            "{} of the runs differ from glibc (loader under test: {}):\n{}",
            failures.len(),
            loader().display(),
            failures.join("\n")
        );
    }
    oracles
}

/// Asserts something glibc showed, so a fixture that stops exercising its feature is noticed.
#[track_caller]
fn expect_in(o: &Oracle, needle: &str) {
    let all = format!("{}{}", o.stdout(), o.stderr());
    assert!(
        all.contains(needle),
        "glibc's output lacks {needle:?}; fixture broken?\n--- output:\n{all}"
    );
    if let Some(i) = &o.interp {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&i.stdout),
            String::from_utf8_lossy(&i.stderr)
        );
        assert!(
            all.contains(needle),
            "glibc's PT_INTERP output lacks {needle:?}\n--- output:\n{all}"
        );
    }
}

#[track_caller]
fn expect_status(o: &Oracle, status: &str) {
    assert_eq!(
        o.explicit.status,
        status,
        "glibc's status; stderr: {}",
        o.stderr()
    );
}

fn tool_output(argv: &[&str]) -> String {
    let o = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(&world().out)
        .output();
    match o {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run {argv:?}: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// m3: unmodified programs
// ---------------------------------------------------------------------------------------------

#[test]
fn m3_hello() {
    let o = check(&[case("hello", &[]), case("hello", &["with", "args"])]);
    expect_in(&o[0], "hello, world\n");
    expect_status(&o[0], "exit 3");
}

#[test]
fn m3_bind_now_and_lazy() {
    let flags = tool_output(&["readelf", "-dW", "hellolib_now", "libgreetnow.so"]);
    assert!(
        flags.matches("BIND_NOW").count() + flags.matches("NOW").count() >= 2,
        "no BIND_NOW flags:\n{flags}"
    );
    let o = check(&[
        case("hellolib_now", &[]),
        case("hellolib_lazy", &["lazy"]),
        case("hellolib_lazy", &["env"]).env("LD_BIND_NOW", "1"),
        case("hellolib_now", &["env"]).env("LD_BIND_NOW", "1"),
        case("hellolib_lazy", &["empty-env"]).env("LD_BIND_NOW", ""),
    ]);
    expect_in(&o[0], "greetings, world (41)\ngreetings, again (42)\n");
    expect_in(&o[1], "greetings, lazy (41)");
}

#[test]
fn m3_malloc_interposition() {
    let o = check(&[case("interpose", &[])]);
    expect_in(&o[0], "strdup: +1 malloc, in exe arena: yes");
    expect_in(&o[0], "FILE in arena yes");
    expect_in(&o[0], "stdout buffer via exe malloc: yes");
    expect_in(&o[0], "totals positive: malloc 1 calloc 1 realloc 1 free 1");
}

#[test]
fn m3_preload() {
    let w = world();
    let pre = w.out.join("libpre.so").to_string_lossy().into_owned();
    let o = check(&[
        case("preload", &[]),
        case("preload", &["abs"]).env("LD_PRELOAD", &pre),
        // A bare name is searched like a DT_NEEDED entry (the program's RUNPATH finds it).
        case("preload", &["bare"]).env("LD_PRELOAD", "libpre.so"),
        case("preload", &["missing"]).env("LD_PRELOAD", "libnope.so"),
        case("preload", &["list"]).env("LD_PRELOAD", &format!("libnope.so {pre}:libplib.so")),
        case("preload", &["opt"])
            .loader_opt("--preload")
            .loader_opt(&pre)
            .explicit_only(),
    ]);
    expect_in(&o[0], "called puts\nplib_value=1 plib_name=plib");
    expect_in(&o[1], "[preloaded puts] called puts\nplib_value=42");
    expect_in(&o[2], "plib_value=42");
    expect_in(
        &o[3],
        "ERROR: ld.so: object 'libnope.so' from LD_PRELOAD cannot be preloaded",
    );
    expect_in(&o[5], "[preloaded puts] called puts\nplib_value=42");
}

#[test]
fn m3_versioned_symbols() {
    let syms = tool_output(&["readelf", "--dyn-syms", "-W", "libv.so"]);
    assert!(
        syms.contains("foo@VERS_1") && syms.contains("foo@@VERS_2"),
        "libv.so versions:\n{syms}"
    );
    let o = check(&[
        case("vers_old", &[]),
        case("vers_new", &[]),
        case("vers_plain", &[]),
    ]);
    expect_in(&o[0], "foo -> foo_old (foo@VERS_1)");
    expect_in(&o[1], "foo -> foo_new (foo@@VERS_2)");
    // glibc binds an unversioned reference to the first non-base version (index 2), hidden or not.
    expect_in(&o[2], "foo -> foo_old (foo@VERS_1)");
}

#[test]
fn m3_weak_symbols() {
    let o = check(&[
        case("weak_ab", &[]),
        case("weak_ba", &[]),
        case("weak_ab", &["dynweak"]).env("LD_DYNAMIC_WEAK", "1"),
    ]);
    expect_in(&o[0], "wfun -> weak definition in libweak_a\nwvar = 1");
    expect_in(&o[1], "wfun -> strong definition in libweak_b\nwvar = 2");
    for x in &o[..2] {
        expect_in(
            x,
            "optional_fn: absent\noptional_var: absent\nnever_defined_fn: absent\nnever_defined_var: absent",
        );
    }
}

#[test]
fn m3_copy_relocations() {
    let r = tool_output(&["readelf", "-rW", "copyreloc_nopie"]);
    assert!(
        r.contains("R_X86_64_COPY"),
        "no R_X86_64_COPY in copyreloc_nopie:\n{r}"
    );
    let o = check(&[case("copyreloc_nopie", &[]), case("copyreloc_pie", &[])]);
    for x in &o {
        expect_in(
            x,
            "initial: table[0]=1 table[15]=16 origin=(3,4,origin) names=alpha,beta,gamma",
        );
        expect_in(x, "lib sum after exe wrote table[0]=100: 235");
        expect_in(x, "same table object: yes, same origin object: yes");
    }
}

#[test]
fn m3_ifunc() {
    let r = tool_output(&["readelf", "--dyn-syms", "-W", "libifunc.so"]);
    assert!(r.contains("IFUNC"), "no IFUNC symbol in libifunc.so:\n{r}");
    let o = check(&[case("ifunc_pie", &[]), case("ifunc_nopie", &[])]);
    for x in &o {
        expect_in(x, "&cpu_kind equal in exe and lib: yes");
        expect_in(x, "resolver ran yes");
    }
}

/// CPU features as glibc's loader computes them (cpuid leaves, XCR0-gated "active" bits, cache
/// sizes, memcpy thresholds, AT_HWCAP/AT_PLATFORM, signal stack sizes) and the IFUNC variants libc
/// and libm pick from them, by default and under `glibc.cpu.*` tunables; in explicit, PT_INTERP
/// and linked modes. Implementation names come from libc6-dbg's symbol tables (see the fixture).
#[test]
fn m3_cpu_features() {
    let tunables: [Option<&str>; 4] = [
        None,
        // glibc 2.36 no longer knows the `*_Usable` spelling: AVX2_Usable is ignored, ERMS is not.
        Some("glibc.cpu.hwcaps=-AVX2_Usable,-ERMS"),
        Some("glibc.cpu.hwcaps=-AVX2,-ERMS,-AVX_Fast_Unaligned_Load"),
        Some("glibc.cpu.x86_non_temporal_threshold=0x10000:glibc.cpu.x86_rep_movsb_threshold=4096"),
    ];
    let cases: Vec<Case> = tunables
        .iter()
        .map(|t| match t {
            None => case("cpu_features", &[]),
            Some(t) => case("cpu_features", &[]).env("GLIBC_TUNABLES", t),
        })
        .collect();
    let o = check(&cases);
    // Linked mode: ld-g/cpu_features vs ld-r/cpu_features, same environments.
    let w = world();
    let mut failures = Vec::new();
    for t in &tunables {
        let mut env = base_env();
        env.extend(t.map(|t| ("GLIBC_TUNABLES".to_string(), t.to_string())));
        let mk = |dir: &str| Cmd {
            argv: vec!["./cpu_features".into()],
            cwd: w.out.join(dir),
            env: env.clone(),
            stdin: vec![],
        };
        let p = Pair {
            mode: "PT_INTERP (linked with -Wl,--dynamic-linker; ld-g/ vs ld-r/)",
            oracle: mk("ld-g"),
            lut: mk("ld-r"),
            oracle_loader: GLIBC_LD.into(),
            lut_loader: loader(),
        };
        failures.extend(compare_pair(&format!("cpu_features {t:?}"), &p).1);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // What glibc showed: names resolved (libc6-dbg present), a vector memcpy, a clean sweep.
    let line = |x: &Oracle, key: &str| {
        x.stdout()
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key:?} line in glibc's output:\n{}", x.stdout()))
            .to_string()
    };
    for x in &o {
        expect_status(x, "exit 0");
        expect_in(
            x,
            "leaf 9: cpuid 00000000 00000000 00000000 00000000 active 00000000",
        );
        expect_in(x, " 0 errors, checksum ");
        let m = line(x, "memcpy ");
        assert!(
            m.contains("libc.so.6: __memmove_") || m.contains("libc.so.6: __memcpy_"),
            "glibc's memcpy is not named (is libc6-dbg installed?): {m}"
        );
        assert!(
            ["avx", "sse", "evex"].iter().any(|k| m.contains(k)),
            "glibc's memcpy is not an AVX/SSE variant: {m}"
        );
        assert!(line(x, "sin ").contains("__sin_"), "libm's sin not named");
    }
    let cpu = tool_output(&["grep", "-m1", "^flags", "/proc/cpuinfo"]);
    if cpu.contains(" erms") && cpu.contains(" avx2") {
        let def = line(&o[0], "memcpy ");
        assert!(def.contains("_erms"), "default memcpy without ERMS: {def}");
        let no_erms = line(&o[1], "memcpy ");
        assert!(
            !no_erms.contains("_erms"),
            "hwcaps=-ERMS ignored: {no_erms}"
        );
        let no_avx = line(&o[2], "memcpy ");
        assert!(
            !no_avx.contains("avx"),
            "hwcaps=-AVX2,... ignored: {no_avx}"
        );
    }
    expect_in(&o[3], "__x86_shared_non_temporal_threshold = 0x10000\n");
    expect_in(&o[3], "__x86_rep_movsb_threshold = 0x1000\n");
}

#[test]
fn m3_tls() {
    let o = check(&[case("tls", &[]), case("tls_gnu2", &[])]);
    for x in &o {
        expect_in(
            x,
            "[main] gd: init=22 zero=0 al64=64 aligned=1 buf=tls buffer same-addr=111",
        );
        expect_in(
            x,
            "[main again] after bump: exe=233/14 gd=24/10 desc=24/10 ie=24/10",
        );
    }
    let r = tool_output(&[
        "readelf",
        "-rW",
        "libtls_desc.so",
        "libtls_gd.so",
        "libtls_ie.so",
    ]);
    for k in ["R_X86_64_TLSDESC", "R_X86_64_DTPMOD64", "R_X86_64_TPOFF64"] {
        assert!(r.contains(k), "no {k} in the TLS libraries:\n{r}");
    }
}

#[test]
fn m3_init_fini_order() {
    let o = check(&[case("ctors", &[]), case("ctors", &["_exit"])]);
    expect_status(&o[0], "exit 4");
    expect_in(&o[0], "exe .preinit_array (argv ok)\nchain_c DT_INIT\n");
    expect_in(
        &o[0],
        "exe main\nexe atexit 2\nexe atexit 1\nexe .fini_array\n",
    );
    expect_status(&o[1], "exit 5");
    let d = tool_output(&["readelf", "-dW", "ctors", "libchain_a.so"]);
    for k in [
        "(INIT)",
        "(FINI)",
        "(PREINIT_ARRAY)",
        "(INIT_ARRAY)",
        "(FINI_ARRAY)",
    ] {
        assert!(d.contains(k), "no {k}:\n{d}");
    }
}

#[test]
fn m3_relr() {
    for f in ["relr", "librelr.so"] {
        let d = tool_output(&["readelf", "-dW", f]);
        assert!(d.contains("(RELR)"), "no DT_RELR in {f}:\n{d}");
    }
    let o = check(&[case("relr", &[])]);
    expect_in(&o[0], "lib table address agrees: yes, fns[0] null: yes");
}

/// A DT_RELR entry pointing outside its object is refused with an error, not written: the
/// library's first entry is replaced by an address far beyond its mapping. (glibc's loader
/// writes there and crashes, so this is rld alone.) Fails if RELR words go unchecked.
#[test]
fn m3_relr_entry_outside_the_object() {
    if selftest() {
        return;
    }
    let w = world();
    let d = fresh_dir("relr-bad");
    for f in ["relr", "librelr.so"] {
        fs::copy(w.out.join(f), d.join(f)).unwrap_or_else(|e| panic!("cp {f}: {e}"));
    }
    let sections = tool_output(&["readelf", "-SW", d.join("librelr.so").to_str().unwrap()]);
    let line = sections
        .lines()
        .find(|l| l.contains(".relr.dyn"))
        .unwrap_or_else(|| panic!("no .relr.dyn:\n{sections}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    let at = f
        .iter()
        .position(|&x| x == "RELR")
        .and_then(|i| f.get(i + 2))
        .and_then(|o| usize::from_str_radix(o, 16).ok())
        .unwrap_or_else(|| panic!("no offset in {line:?}"));
    let mut lib = fs::read(d.join("librelr.so")).unwrap_or_else(|e| panic!("{e}"));
    lib[at..at + 8].copy_from_slice(&0x7fff_0000_0000u64.to_le_bytes());
    fs::write(d.join("librelr.so"), lib).unwrap_or_else(|e| panic!("{e}"));
    let o = Cmd {
        argv: vec![loader().to_string_lossy().into_owned(), "./relr".into()],
        cwd: d.clone(),
        env: base_env(),
        stdin: vec![],
    }
    .run();
    assert_eq!(
        o.status,
        "exit 127",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("librelr.so: DT_RELR entry outside the object"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn m3_error_missing_library() {
    let o = check(&[case("missing", &[])]);
    expect_status(&o[0], "exit 127");
    expect_in(
        &o[0],
        "./missing: error while loading shared libraries: libmissing.so: cannot open shared object file: No such file or directory\n",
    );
}

#[test]
fn m3_error_undefined_symbol_now() {
    let o = check(&[
        case("undef_now", &[]),
        case("undef_lazy", &["call"]).env("LD_BIND_NOW", "1"),
        case("vers_baz", &[]).env("LD_BIND_NOW", "1"),
    ]);
    for x in &o {
        expect_status(x, "exit 127");
        assert!(!x.stdout().contains("started"), "must fail before main");
    }
    expect_in(
        &o[0],
        "./undef_now: symbol lookup error: ./undef_now: undefined symbol: gone_fn\n",
    );
    expect_in(
        &o[2],
        "./vers_baz: symbol lookup error: ./vers_baz: undefined symbol: baz, version VERS_2\n",
    );
}

#[test]
fn m3_error_version_not_found() {
    let o = check(&[case("vers_v3", &[])]);
    // glibc exits 1 (not 127) for a missing version.
    expect_status(&o[0], "exit 1");
    expect_in(
        &o[0],
        "libv.so: version `VERS_3' not found (required by ./vers_v3)\n",
    );
}

#[test]
fn m3_error_not_elf_and_wrong_class() {
    let o = check(&[
        case("notelf.txt", &[]).explicit_only(),
        case("libwc.so", &[]).explicit_only(),
        case("does-not-exist", &[]).explicit_only(),
        case("wrongclass", &[]),
    ]);
    expect_in(
        &o[0],
        "./notelf.txt: error while loading shared libraries: ./notelf.txt: file too short\n",
    );
    expect_in(&o[1], "wrong ELF class: ELFCLASS32");
    expect_in(
        &o[2],
        "./does-not-exist: cannot open shared object file: No such file or directory",
    );
    expect_in(
        &o[3],
        "./wrongclass: error while loading shared libraries: libwc.so: wrong ELF class: ELFCLASS32\n",
    );
    for x in &o {
        expect_status(x, "exit 127");
    }
}

#[test]
fn m3_cxx() {
    let nm = tool_output(&["nm", "-D", "libcxx_a.so"]);
    assert!(
        nm.lines().any(|l| l.contains(" u ")),
        "no STB_GNU_UNIQUE (u) symbol in libcxx_a.so:\n{nm}"
    );
    let o = check(&[case("cxx", &[])]);
    expect_in(
        &o[0],
        "libcxx_a static object constructed\nexe static object constructed\niostream works: 42 2.5\n",
    );
    expect_in(&o[0], "shared_counter=111 same object in exe and lib: yes");
    expect_in(&o[0], "same type_info object: yes");
    expect_in(
        &o[0],
        "exe static object destroyed\nlibcxx_a static object destroyed\n",
    );
}

#[test]
fn m3_env_args() {
    let o = check(&[
        case("envargs", &[]),
        case("envargs", &["one", "two words", ""])
            .env("RLDT_A", "alpha")
            .env("RLDT_EMPTY", "")
            .env("RLDT_Z", "z=z"),
    ]);
    expect_in(
        &o[1],
        "argc=4\nargv[0]=./envargs\nargv[1]=one\nargv[2]=two words\nargv[3]=\nargv[4]=(null)\n",
    );
    expect_in(
        &o[1],
        "AT_PHDR matches main object: yes\nAT_PHNUM matches: yes\nAT_ENTRY is _start: yes\n",
    );
    // glibc rewrites AT_EXECFN to the program in explicit mode.
    expect_in(&o[1], "AT_EXECFN=./envargs\n");
    expect_status(&o[1], "exit 4");
}

#[test]
fn m3_dl_iterate_phdr() {
    let o = check(&[case("phdrs", &[])]);
    expect_in(&o[0], "#0 name=\"\"");
    expect_in(&o[0], "name=\"linux-vdso.so.1\"");
    // The loader is listed, named as invoked (run directly) or by the PT_INTERP string; the
    // comparison maps both loaders' paths to <LOADER>.
    expect_in(&o[0], "\" (the loader) tls=0");
}

/// The brief's own PT_INTERP set-up: programs linked with `-Wl,--dynamic-linker=<loader>` (ld-r/)
/// against the same programs linked with glibc's path (ld-g/).
#[test]
fn m3_linked_dynamic_linker() {
    let w = world();
    let mut failures = Vec::new();
    for (prog, args) in [("hello", vec![]), ("envargs", vec!["x", "y"])] {
        let mk = |dir: &str| Cmd {
            argv: std::iter::once(format!("./{prog}"))
                .chain(args.iter().map(|s| s.to_string()))
                .collect(),
            cwd: w.out.join(dir),
            env: base_env(),
            stdin: vec![],
        };
        let p = Pair {
            mode: "PT_INTERP (linked with -Wl,--dynamic-linker; ld-g/ vs ld-r/)",
            oracle: mk("ld-g"),
            lut: mk("ld-r"),
            oracle_loader: GLIBC_LD.into(),
            lut_loader: loader(),
        };
        let (o, f) = compare_pair(prog, &p);
        failures.extend(f);
        if prog == "hello" {
            assert_eq!(o.status, "exit 3");
        } else {
            assert!(String::from_utf8_lossy(&o.stdout).contains("AT_ENTRY is _start: yes"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn m3_vdso_time() {
    let o = check(&[case("vdsotime", &[])]);
    expect_in(
        &o[0],
        "monotonic non-decreasing: yes\nrealtime vs gettimeofday within 1s: yes\ntime() vs gettimeofday within 1s: yes\n",
    );
}

/// clock_gettime, clock_getres and getcpu go through the vDSO (the loader's GLRO(dl_vdso_*)
/// pointers): with those system calls forbidden by seccomp they still succeed. Before, rld
/// left the pointers NULL and libc made a system call each time (java -version: ~1,000).
#[test]
fn m3_vdso_without_system_calls() {
    let o = check(&[case("vdsonosys", &[])]);
    expect_in(
        &o[0],
        "raw clock_gettime system call: refused\nclock_gettime: ok\nclock_getres: ok\ngetcpu: ok\n",
    );
}

// ---------------------------------------------------------------------------------------------
// m3: real programs of this machine
// ---------------------------------------------------------------------------------------------

struct Real {
    name: &'static str,
    /// Candidate paths; the first existing dynamically linked ELF is used.
    paths: &'static [&'static str],
    args: &'static [&'static str],
    stdin: &'static [u8],
}

const REAL: &[Real] = &[
    Real {
        name: "ls",
        paths: &["/usr/bin/ls"],
        args: &["-la", "/usr/share/doc/coreutils"],
        stdin: b"",
    },
    Real {
        name: "cat",
        paths: &["/usr/bin/cat"],
        args: &["/etc/os-release"],
        stdin: b"",
    },
    Real {
        name: "sort",
        paths: &["/usr/bin/sort"],
        // One thread: threads are m4.
        args: &["--parallel=1", "input.txt"],
        stdin: b"",
    },
    Real {
        name: "sort-stdin",
        paths: &["/usr/bin/sort"],
        args: &["-n", "-r"],
        stdin: b"3\n10\n2\n",
    },
    Real {
        name: "grep",
        paths: &["/usr/bin/grep"],
        args: &["-c", "7", "input.txt"],
        stdin: b"",
    },
    Real {
        name: "sed",
        paths: &["/usr/bin/sed"],
        args: &["-e", "s/[0-4]/#/g", "-n", "-e", "1,50p", "input.txt"],
        stdin: b"",
    },
    Real {
        name: "awk",
        paths: &["/usr/bin/gawk", "/usr/bin/mawk", "/usr/bin/original-awk"],
        args: &["{s+=$2} END {print NR, s}", "input.txt"],
        stdin: b"",
    },
    Real {
        name: "tar",
        paths: &["/usr/bin/tar"],
        args: &["-tvf", "archive.tar"],
        stdin: b"",
    },
    Real {
        name: "gzip-c",
        paths: &["/usr/bin/gzip"],
        args: &["-c", "input.txt"],
        stdin: b"",
    },
    Real {
        name: "gzip-dc",
        paths: &["/usr/bin/gzip"],
        args: &["-dc", "input.txt.gz"],
        stdin: b"",
    },
    Real {
        name: "bash",
        paths: &["/usr/bin/bash", "/bin/bash"],
        args: &["-c", "echo $((6*7)); echo $BASH_VERSION >/dev/null"],
        stdin: b"",
    },
    Real {
        name: "perl",
        paths: &["/usr/bin/perl"],
        args: &["-e", "print 42, \"\\n\"; printf(\"%.3f\\n\", atan2(1,1)*4)"],
        stdin: b"",
    },
    Real {
        name: "python3",
        paths: &["/usr/bin/python3.11", "/usr/bin/python3"],
        args: &["-c", "import sys; print(1, sys.version_info[0])"],
        stdin: b"",
    },
    Real {
        name: "git-usr",
        paths: &["/usr/bin/git"],
        args: &["--version"],
        stdin: b"",
    },
    Real {
        name: "git-local",
        paths: &["/usr/local/bin/git"],
        args: &["--version"],
        stdin: b"",
    },
    Real {
        name: "find",
        paths: &["/usr/bin/find"],
        args: &["/usr/include", "-name", "stdio.h"],
        stdin: b"",
    },
    Real {
        name: "date",
        paths: &["/usr/bin/date"],
        args: &["-d", "@0", "-u"],
        stdin: b"",
    },
    Real {
        name: "sha256sum",
        paths: &["/usr/bin/sha256sum"],
        args: &["input.txt"],
        stdin: b"",
    },
    Real {
        name: "xz-c",
        paths: &["/usr/bin/xz"],
        args: &["-c", "-T1", "input.txt"],
        stdin: b"",
    },
    Real {
        name: "xz-dc",
        paths: &["/usr/bin/xz"],
        args: &["-dc", "input.txt.xz"],
        stdin: b"",
    },
    Real {
        name: "diff",
        paths: &["/usr/bin/diff"],
        args: &["-u", "input.txt", "input2.txt"],
        stdin: b"",
    },
];

fn is_dynamic_elf(p: &Path) -> bool {
    fs::read(p).is_ok_and(|b| interp_range(&b).is_some())
}

fn prepare_real_workdir(dir: &Path) {
    fs::create_dir_all(dir).expect("mkdir work");
    let mut text = String::new();
    let mut x: u64 = 12345;
    for i in 0..3000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let _ = writeln!(
            text,
            "line{:05} {} {:x}",
            (x >> 33) % 100000,
            (x >> 40) % 1000,
            i
        );
    }
    fs::write(dir.join("input.txt"), &text).expect("write input");
    let text2 = text.replacen("line", "LINE", 3);
    fs::write(dir.join("input2.txt"), text2).expect("write input2");
    let sh = |cmd: &str| {
        let st = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(dir)
            .status();
        assert!(st.is_ok_and(|s| s.success()), "setup command failed: {cmd}");
    };
    sh("gzip -c input.txt > input.txt.gz && xz -c input.txt > input.txt.xz || true");
    sh(
        "touch -d @1000000000 input.txt input2.txt && tar --owner=0 --group=0 --mtime=@1000000000 -cf archive.tar input.txt input2.txt",
    );
}

/// Real programs that dlopen (Python C extensions, Perl XS modules): m4.
/// Real programs whose DT_RUNPATH is relative to `$ORIGIN`.
const ORIGIN_RELATIVE: &[&str] = &["java", "rustc", "inkscape"];

const REAL_DLOPEN: &[Real] = &[
    Real {
        name: "python3-ssl-sqlite3-ctypes",
        paths: &["/usr/bin/python3.11", "/usr/bin/python3"],
        args: &[
            "-c",
            "import json, ssl, sqlite3, ctypes\nc = sqlite3.connect(':memory:')\nc.execute('create table t(x)')\nc.executemany('insert into t values (?)', [(i,) for i in range(100)])\nprint(c.execute('select sum(x) from t').fetchone()[0], json.dumps({'a': [1, 2]}), ssl.OPENSSL_VERSION.split()[0], ctypes.CDLL(None).strlen(b'abcd'))",
        ],
        stdin: b"",
    },
    Real {
        name: "curl-version",
        paths: &["/usr/bin/curl"],
        args: &["--version"],
        stdin: b"",
    },
    Real {
        name: "gdb-print",
        paths: &["/usr/bin/gdb"],
        args: &["-nx", "--batch", "-ex", "print 6*7"],
        stdin: b"",
    },
    Real {
        name: "node",
        paths: &["/usr/bin/node", "/usr/bin/nodejs"],
        args: &["-e", "console.log(JSON.stringify({n: 6 * 7}))"],
        stdin: b"",
    },
    Real {
        name: "java",
        paths: &["/usr/lib/jvm/java-17-openjdk-amd64/bin/java"],
        args: &["-version"],
        stdin: b"",
    },
    Real {
        name: "clang",
        paths: &["/usr/lib/llvm-14/bin/clang"],
        args: &["--version"],
        stdin: b"",
    },
    Real {
        name: "rustc",
        paths: &[
            "/root/.rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin/rustc",
            "/usr/bin/rustc",
        ],
        args: &["--version"],
        stdin: b"",
    },
    Real {
        name: "ffmpeg",
        paths: &["/usr/bin/ffmpeg"],
        args: &["-hide_banner", "-version"],
        stdin: b"",
    },
    Real {
        name: "inkscape",
        paths: &["/usr/bin/inkscape"],
        args: &["--version"],
        stdin: b"",
    },
    Real {
        name: "lupdate",
        paths: &["/usr/lib/qt5/bin/lupdate"],
        args: &["-version"],
        stdin: b"",
    },
    Real {
        name: "python3-extensions",
        paths: &["/usr/bin/python3.11", "/usr/bin/python3"],
        args: &[
            "-c",
            "import json, hashlib; print(json.dumps([1]), hashlib.sha256(b'x').hexdigest()[:8])",
        ],
        stdin: b"",
    },
    Real {
        name: "perl-posix",
        paths: &["/usr/bin/perl"],
        args: &["-MPOSIX", "-e", "print POSIX::floor(2.5), \"\\n\""],
        stdin: b"",
    },
];

#[test]
fn m3_real_programs() {
    run_real_table("m3_real_programs", REAL, 10);
}

#[test]
fn m4_real_programs_dlopen() {
    run_real_table("m4_real_programs_dlopen", REAL_DLOPEN, 8);
}

fn run_real_table(test: &str, table: &[Real], min: usize) {
    let w = world();
    let work = w.root.join("real-work").join(test);
    prepare_real_workdir(&work);
    let mut failures = Vec::new();
    let mut ran = 0;
    for (idx, r) in table.iter().enumerate() {
        let Some(path) = r.paths.iter().map(Path::new).find(|p| p.exists()) else {
            eprintln!("{test}: skip {}: none of {:?} installed", r.name, r.paths);
            continue;
        };
        let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if !is_dynamic_elf(&real) {
            eprintln!(
                "{test}: skip {}: {} is not a dynamically linked ELF",
                r.name,
                real.display()
            );
            continue;
        }
        let mut env = base_env();
        env.push(("HOME".into(), work.to_string_lossy().into_owned()));
        // rld's launch cache outside the work directory (programs may list it): each program
        // runs twice under rld, the second time replaying the first run's record.
        let cache = w.root.join("real-cache").join(test);
        env.push((
            "RLD_LAUNCH_CACHE".into(),
            cache.to_string_lossy().into_owned(),
        ));
        env.push(("RLD_LAUNCH_CACHE_MIN".into(), "0".into()));
        let mk = |argv: Vec<String>| Cmd {
            argv,
            cwd: work.clone(),
            env: env.clone(),
            stdin: r.stdin.to_vec(),
        };
        let args: Vec<String> = r.args.iter().map(|s| s.to_string()).collect();
        let p0 = path.to_string_lossy().into_owned();
        let explicit = |ld: &Path| {
            let mut v = vec![ld.to_string_lossy().into_owned(), p0.clone()];
            v.extend(args.iter().cloned());
            v
        };
        let bytes = fs::read(&real).expect("read program");
        let fname = real.file_name().expect("file name");
        let mut copies = Vec::new();
        for (side, interp) in [("real-g", &w.interp_g), ("real-r", &w.interp_r)] {
            let d = w.root.join(side).join(test).join(idx.to_string());
            fs::create_dir_all(&d).expect("mkdir");
            let dest = d.join(fname);
            write_with_interp(&bytes, interp, &dest).expect("patch PT_INTERP");
            let mut v = vec![dest.to_string_lossy().into_owned()];
            v.extend(args.iter().cloned());
            copies.push(v);
        }
        let pairs = [
            Pair {
                mode: "explicit",
                oracle: mk(explicit(Path::new(GLIBC_LD))),
                lut: mk(explicit(&loader())),
                oracle_loader: GLIBC_LD.into(),
                lut_loader: loader(),
            },
            Pair {
                mode: "PT_INTERP (copy)",
                oracle: mk(copies[0].clone()),
                lut: mk(copies[1].clone()),
                oracle_loader: GLIBC_LD.into(),
                lut_loader: loader(),
            },
        ];
        // Programs that find their libraries through $ORIGIN cannot run from a copy in
        // another directory (under either loader): explicit mode only.
        let modes = if ORIGIN_RELATIVE.contains(&r.name) {
            &pairs[..1]
        } else {
            &pairs[..]
        };
        for p in modes {
            let (o, f) = compare_pair(r.name, p);
            if let Some(f) = f {
                failures.push(f);
            }
            let prog = Path::new(&p.lut.argv[if p.mode == "explicit" { 1 } else { 0 }]);
            let rec = record_path(&cache, prog);
            let before = inode(&rec);
            let again = p.lut.run();
            failures.extend(compare_outcomes(
                &format!("{} (second run, from the launch cache)", r.name),
                p,
                &o,
                &again,
                |s| s,
            ));
            // The newest record is still the first run's (not rewritten, no new one).
            let after = inode(&record_path(&cache, prog));
            if !selftest() && (before.is_none() || after != before) {
                failures.push(format!(
                    "=== {} — mode {}: launch-cache record {} {}",
                    r.name,
                    p.mode,
                    rec.display(),
                    if before.is_none() {
                        "not written by the first run"
                    } else {
                        "rewritten by the second run (not replayed)"
                    }
                ));
            }
            if o.status != "exit 0" && r.name != "diff" {
                failures.push(format!(
                    "=== {}: glibc itself failed ({}): {}",
                    r.name,
                    o.status,
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
        }
        ran += 1;
    }
    eprintln!("{test}: {ran} programs compared");
    assert!(ran >= min, "too few real programs found ({ran})");
    assert!(
        failures.is_empty(),
        "{} real-program runs differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// m3: gdb sees libraries loaded by the loader (r_debug / _dl_debug_state protocol)
// ---------------------------------------------------------------------------------------------

#[test]
fn m4_gdb_thread_debugging() {
    // rld as the program's PT_INTERP (pt-r/) against glibc's (pt-g/), and both loaders run
    // directly (`gdb --args LOADER ./gdbthr`): gdb loads libthread_db, which must find the
    // threads through rld's _rtld_global and libc's descriptors. Run directly, a loader's
    // link map carries its own path, so gdb reads the right file for its symbols.
    let w = world();
    let cmds = [
        // Run directly, gdb sees the program as the loader's first link map entry and reads
        // no symbols for it (glibc's loader alike), so the stop is in libc: both threads
        // exist whenever either reaches the barrier.
        "set breakpoint pending on",
        "break pthread_barrier_wait",
        "run",
        "info threads",
        "delete",
        "continue",
    ];
    let mut bad = Vec::new();
    let runs = [
        ("pt-g", w.out.join("pt-g"), vec!["./gdbthr".to_string()]),
        ("pt-r", w.out.join("pt-r"), vec!["./gdbthr".to_string()]),
        (
            "explicit glibc",
            w.out.clone(),
            vec![GLIBC_LD.to_string(), "./gdbthr".to_string()],
        ),
        (
            "explicit rld",
            w.out.clone(),
            vec![
                loader().to_string_lossy().into_owned(),
                "./gdbthr".to_string(),
            ],
        ),
    ];
    for (side, cwd, args) in runs {
        let Some((line, text)) = run_gdb(cwd, &cmds, args) else {
            eprintln!("m4_gdb_thread_debugging: skip: gdb not installed");
            return;
        };
        let db = text.contains("[Thread debugging using libthread_db enabled]");
        let threads = text
            .lines()
            .filter(|l| {
                // Rows of the `info threads` table: "  1    Thread 0x... (LWP n) ..." or "* 2 ...".
                let t = l.trim_start().trim_start_matches('*').trim_start();
                t.starts_with(|c: char| c.is_ascii_digit()) && l.contains(" Thread 0x")
            })
            .count();
        let joined = text.contains("joined");
        // gdb read another file than the loader's for its link map entry.
        let wrong_file = text.contains("is not at the expected address");
        if !db || threads != 2 || !joined || wrong_file {
            bad.push(format!(
                "=== {side}: {line}\n  libthread_db: {db}, threads listed: {threads}, ran to the end: {joined}, wrong file for a link map: {wrong_file}\n{}",
                indent(&text)
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Runs gdb in batch mode with `commands` on `args` (a program and its arguments, possibly
/// behind a loader) from `cwd`; returns the shell line (for failure reports) and stdout+stderr.
/// None when gdb is not installed.
fn run_gdb(cwd: PathBuf, commands: &[&str], args: Vec<String>) -> Option<(String, String)> {
    if Command::new("gdb").arg("--version").output().is_err() {
        return None;
    }
    let w = world();
    let mut argv: Vec<String> = ["/usr/bin/env", "gdb", "-nx", "--batch"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for e in ["set debuginfod enabled off"].iter().chain(commands) {
        argv.push("-ex".into());
        argv.push(e.to_string());
    }
    argv.push("--args".into());
    argv.extend(args);
    let mut env = base_env();
    env.push(("HOME".into(), w.root.to_string_lossy().into_owned()));
    let c = Cmd {
        argv,
        cwd,
        env,
        stdin: vec![],
    };
    let o = c.run();
    Some((
        c.shell_line(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    ))
}

/// `run_gdb` on `./PROG` started explicitly by the loader under test and as its PT_INTERP
/// (pt-r/ copy); None when gdb is not installed.
fn run_gdb_both(prog: &str, commands: &[&str]) -> Option<[(String, String); 2]> {
    let w = world();
    let p = format!("./{prog}");
    let explicit = vec![loader().to_string_lossy().into_owned(), p.clone()];
    let r0 = run_gdb(w.out.clone(), commands, explicit)?;
    let r1 = run_gdb(w.out.join("pt-r"), commands, vec![p])?;
    Some([r0, r1])
}

#[test]
fn m3_gdb_breakpoint_in_library() {
    let cmds = [
        "set breakpoint pending on",
        "break puts",
        "run",
        "bt",
        "continue",
    ];
    let Some(runs) = run_gdb_both("hello", &cmds) else {
        eprintln!("m3_gdb_breakpoint_in_library: skip: gdb not installed");
        return;
    };
    let mut bad = Vec::new();
    for (line, text) in &runs {
        let stopped = text
            .lines()
            .any(|l| l.starts_with("Breakpoint 1, ") && l.contains("puts"));
        let exited = text.contains("exited with code 03");
        if !stopped || !exited {
            bad.push(format!(
                "=== {line}\n  stopped in puts: {stopped}, exited with code 03: {exited}\n{}",
                indent(text)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "gdb did not stop in puts:\n{}",
        bad.join("\n")
    );
}

/// gdb follows dlopen: `info sharedlibrary` lists the dlopen'ed library (and its dependency)
/// and a pending breakpoint in it hits, in explicit and PT_INTERP mode.
#[test]
fn m4_gdb_breakpoint_in_dlopened_library() {
    let cmds = [
        "set breakpoint pending on",
        "break dla_value",
        "run",
        "info sharedlibrary",
        "continue",
    ];
    let Some(runs) = run_gdb_both("dlbasic", &cmds) else {
        eprintln!("m4_gdb_breakpoint_in_dlopened_library: skip: gdb not installed");
        return;
    };
    let mut bad = Vec::new();
    for (line, text) in &runs {
        let stopped = text
            .lines()
            .any(|l| l.starts_with("Breakpoint 1, ") && l.contains("dla_value"));
        let listed = ["/libdl_a.so", "/libdl_b.so"].iter().all(|lib| {
            text.lines()
                .any(|l| l.starts_with("0x") && l.trim_end().ends_with(lib))
        });
        let exited = text.contains("exited normally");
        if !stopped || !listed || !exited {
            bad.push(format!(
                "=== {line}\n  stopped in dla_value: {stopped}, listed: {listed}, exited normally: {exited}\n{}",
                indent(text)
            ));
        }
    }
    assert!(bad.is_empty(), "gdb and dlopen:\n{}", bad.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// m4: threads, C++ exceptions, lazy binding specifics
// ---------------------------------------------------------------------------------------------

#[test]
fn m4_tls_threads() {
    let o = check(&[case("tls_thread", &[])]);
    expect_in(
        &o[0],
        "[thread] exe: init=33 zero=0 al64=L aligned=1 big=exe tls",
    );
    expect_in(
        &o[0],
        "[thread] desc: init=22 zero=0 al64=64 aligned=1 buf=tls buffer same-addr=111",
    );
    expect_in(
        &o[0],
        "[main after thread] after bump: exe=233/14 gd=24/10 desc=24/10 ie=24/10",
    );
}

/// glibc's `l_reldeps`: B (no DT_NEEDED on A) binds to A's symbols through the global scope,
/// so dlclose(A) leaves A mapped until B goes; a lazy PLT binding does the same at its first
/// call; dlsym(RTLD_DEFAULT) from the main program makes A NODELETE. Fails on a loader
/// without run-time dependencies (the call into B after dlclose(A) crashes).
#[test]
fn m4_dlopen_reldeps() {
    let o = check(&[case("dlreldeps", &[])]);
    expect_in(
        &o[0],
        "control, A closed: loaded: libreldep_d.so; NOLOAD A=NULL\n",
    );
    expect_in(
        &o[0],
        "rdb_call(1)=83\nB, A closed: loaded: libreldep_a.so libreldep_b.so; NOLOAD A=open\nrdb_call(2)=84\nB, B closed: loaded:; NOLOAD A=NULL\n",
    );
    expect_in(
        &o[0],
        "rdc_call(3)=88\nC, A closed: loaded: libreldep_a.so libreldep_c.so; NOLOAD A=open\nrdc_call(4)=90\nC, C closed: loaded:; NOLOAD A=NULL\n",
    );
    expect_in(
        &o[0],
        "RTLD_DEFAULT, A closed: loaded: libreldep_a.so; NOLOAD A=open\n",
    );
}

/// Destructor order follows run-time dependencies (`_dl_sort_maps` with `for_fini` walks
/// `l_reldeps`): A, bound to B only through the global scope, is destroyed before B although
/// B was loaded first. Fails on a loader that sorts by DT_NEEDED alone ("B already
/// destroyed").
#[test]
fn m4_fini_order_with_reldeps() {
    let o = check(&[case("dlfiniorder", &[]), case("dlfiniorder", &["close"])]);
    let order = "A destructor: B alive, twice(4)=8\nB destructor\n";
    expect_in(&o[0], &format!("A ready: 42\n{order}"));
    expect_in(&o[1], &format!("B handle closed; B still loaded\n{order}"));
}

/// A library with 4 MiB of densely relocated data (moved to huge pages before relocation by
/// rld, reading the bytes from the file it keeps open meanwhile): every one of its 524,288
/// pointers is right afterwards, and the program has as many files open as under glibc.
#[test]
fn m3_big_relocated_table() {
    let o = check(&[case("bigreloc", &[])]);
    expect_in(
        &o[0],
        "big table: 1310720 (expect 1310720), first a, last dddd; ",
    );
}

/// TLS module ids of closed libraries are reused (lowest gap first) and the highest id drops
/// when the last one closes; a thread created before keeps reading the right blocks. The
/// previous loader kept counting (ids 4, 5, ... 504 over the cycles). Static TLS of closed
/// initial-exec libraries is given back to the surplus.
#[test]
fn m4_tls_modid_reuse() {
    let o = check(&[case("dltlsreuse", &[])]);
    expect_in(&o[0], "a=2 b=3 bump a=101 b=101\nthread: bump=101\n");
    expect_in(&o[0], "after closing a: c=2 bump c=101\nthread: bump=101\n");
    expect_in(&o[0], "after closing b, c: a=2\nthread: bump=101\n");
    expect_in(&o[0], "500 cycles: first id 2, last id 2, sum 50500\n");
    // The previous loader failed at cycle 8: "cannot allocate memory in static TLS block".
    expect_in(&o[0], "200 initial-exec cycles: sum 20200\n");
}

/// `_dl_tlsdesc_dynamic`: a `-mtls-dialect=gnu2` library whose 64 KiB TLS block does not fit
/// the optional static surplus, dlopen'ed and used from the main thread, a thread created
/// before dlopen (stale DTV: the resolver's slow path) and one created after; the resolver
/// must change no register but rax. Fails on a loader that needs static TLS for descriptors
/// ("cannot allocate memory in static TLS block").
#[test]
fn m4_dlopen_tlsdesc_dynamic() {
    let o = check(&[case("dltlsdesc", &[])]);
    for who in ["main", "early thread", "late thread"] {
        expect_in(
            &o[0],
            &format!("[{who}] registers changed by the resolver: 0, counter=5\n"),
        );
    }
    expect_in(&o[0], "[early thread] bump=7023,9043 mix=125\n");
    expect_in(&o[0], "[late thread] bump=8033,11063 mix=195\n");
    expect_in(&o[0], "[main again] bump=12034,13044 mix=105\nclosed\n");
    let r = tool_output(&["readelf", "-rlW", "libtlsdesc_big.so"]);
    assert!(
        r.contains("R_X86_64_TLSDESC"),
        "no R_X86_64_TLSDESC in libtlsdesc_big.so:\n{r}"
    );
    assert!(
        r.lines()
            .any(|l| l.trim_start().starts_with("TLS ") && l.contains(" 0x010010 ")),
        "libtlsdesc_big.so's PT_TLS is not the 64 KiB block:\n{r}"
    );
}

/// dlopen of "$ORIGIN/..." from a program without any $ORIGIN of its own: in PT_INTERP mode
/// rld reads the program's origin only then (glibc's `_dl_get_origin`), not at start-up.
#[test]
fn m4_dlopen_origin_of_the_program() {
    let o = check(&[case("dlorigin", &[])]);
    expect_in(&o[0], "dla_value=123\n");
}

/// A dlopen of the program's own path is refused as a PIE in both modes, as glibc's
/// program link map has no file id (`rld PROGRAM` opens the file, but must not say so).
#[test]
fn m4_dlopen_of_the_program_itself() {
    let o = check(&[case("dlself", &[])]);
    expect_in(
        &o[0],
        "dlopen(self): cannot dynamically load position-independent executable\n",
    );
}

#[test]
fn m4_dlopen_basic() {
    let o = check(&[case("dlbasic", &[])]);
    expect_in(&o[0], "dla_value=123\ndlb_only via handle=7\n");
    expect_in(
        &o[0],
        "missing library: NULL, dlerror: libdl_missing.so: cannot open shared object file: No such file or directory\n",
    );
    expect_in(
        &o[0],
        "missing dependency: NULL, dlerror: libdl_gone.so: cannot open shared object file: No such file or directory\n",
    );
    expect_in(
        &o[0],
        "missing symbol: NULL, dlerror: libdl_a.so: undefined symbol: no_such_symbol\n",
    );
    expect_in(&o[0], "dladdr: libdl_a.so dla_value\n");
    expect_in(&o[0], "libv.so: version `VERS_3' not found (required by ");
    expect_in(
        &o[0],
        "RTLD_NOLOAD of a missing library: NULL, dlerror: libdl_missing.so: cannot open shared object file: No such file or directory\nRTLD_NOLOAD of an unloaded library: NULL\n",
    );
}

#[test]
fn m4_dlopen_local_global_scope() {
    let o = check(&[case("dlscope", &[])]);
    expect_in(
        &o[0],
        "user NOW without glob: failed (libdl_user.so: undefined symbol: glob_sym)\nuser LAZY without glob: ok\n",
    );
    expect_in(
        &o[0],
        "RTLD_DEFAULT glob_sym: not found\nhandle glob_sym: 42\n",
    );
    expect_in(
        &o[0],
        "userdata LAZY with local glob: failed (libdl_userdata.so: undefined symbol: glob_data)\n",
    );
    expect_in(&o[0], "user_data() = 2041\n");
    expect_in(&o[0], "user_call() = 1042\n");
}

#[test]
fn m4_dlopen_ctors_dtors() {
    let o = check(&[case("dlctors", &[])]);
    expect_in(&o[0], "dlchain_c .init_array\ndlchain_b DT_INIT\n");
    expect_in(
        &o[0],
        "main first dlclose done (still open)\ndlchain_a .fini_array\n",
    );
    expect_in(
        &o[0],
        "dlchain_c DT_FINI\nmain dlclose done\nmain unloaded\n",
    );
    expect_in(
        &o[0],
        "main dlclose of NODELETE done\ndlchain_a atexit handler\n",
    );
}

#[test]
fn m4_dlopen_tls_threads() {
    let o = check(&[case("dltls", &[])]);
    for who in ["main", "early thread", "late thread"] {
        for m in ["gd", "ie", "desc"] {
            expect_in(
                &o[0],
                &format!(
                    "[{who}] {m}: init=24 zero=10 al64=64 aligned=1 bumps=23,24 same-addr=1\n"
                ),
            );
        }
    }
    expect_in(&o[0], "[main again] gd: init=26 zero=20");
    expect_in(
        &o[0],
        "initial-exec TLS larger than the surplus: libdltls_big.so: cannot allocate memory in static TLS block\n",
    );
}

#[test]
fn m4_cxx_exception() {
    let o = check(&[case("cxx_exc", &[])]);
    expect_in(
        &o[0],
        "caught runtime_error: thrown in libcxx_a: boom\ncaught int 7 thrown in exe\n",
    );
}

/// The kernel's view of every object's mappings (protections, file offsets, PROT_NONE holes,
/// bss) is the same as under glibc's loader, for a PIE and a non-PIE program, 4 KiB- and
/// 64 KiB-aligned libraries and a dlopen'ed one: rld reuses its reservation for segments whose
/// file offsets line up with it (rld-image `LoadPlan::steps`) where glibc maps each afresh.
#[test]
fn m3_segment_mappings_match() {
    let o = check(&[case("segmaps", &[]), case("segmaps_nopie", &[])]);
    for r in &o {
        expect_in(r, "values 6 6 6\n");
        expect_in(r, "libsegs64k.so: 0x44000 bytes\n");
        expect_in(r, "libsegsdl.so: 0x8000 bytes\n");
        expect_status(r, "exit 0");
    }
}

#[test]
fn m3_relro_is_read_only() {
    let o = check(&[case("relro_write", &[]), case("relro_write", &["write"])]);
    expect_status(&o[0], "exit 0");
    expect_in(&o[1], "alpha beta\n");
    expect_status(&o[1], "signal 11");
}

#[test]
fn m4_tunables_reach_libc() {
    let o = check(&[
        case("tunables", &[]),
        case("tunables", &[]).env("GLIBC_TUNABLES", "glibc.malloc.mmap_max=0"),
        case("tunables", &[]).env("MALLOC_MMAP_MAX_", "0"),
        case("tunables", &[]).env("GLIBC_TUNABLES", "glibc.pthread.rseq=0"),
    ]);
    expect_in(&o[0], "mmapped=1\n");
    expect_in(&o[1], "mmapped=0\n");
    expect_in(&o[2], "mmapped=0\n");
    expect_in(&o[3], "rseq_size=0 ");
}

#[test]
fn m3_patchelf_moved_tables() {
    // The fixture is only meaningful if patchelf really moved the string tables out of the
    // read-only segments: both objects must have gained a PT_LOAD.
    for f in ["pe/libgreet.so", "hellolib_pe"] {
        let ph = tool_output(&["readelf", "-lW", f]);
        let loads = ph
            .lines()
            .filter(|l| l.trim_start().starts_with("LOAD"))
            .count();
        assert!(loads >= 5, "patchelf did not add a segment to {f}:\n{ph}");
    }
    let o = check(&[case("hellolib_pe", &[]), case("hellolib_pe", &["x"])]);
    expect_status(&o[0], "exit 0");
    expect_in(&o[0], "greetings, again (42)\n");
}

#[test]
fn m4_lazy_vector_arguments() {
    // The first call of each function goes through the lazy resolver; vector, varargs (%al)
    // and stack arguments must arrive intact. LD_BIND_NOW binds eagerly for comparison.
    let o = check(&[
        case("lazyvec", &[]),
        case("lazyvec", &[]).env("LD_BIND_NOW", "1"),
        case("lazyvec", &[]).env("LD_BIND_NOT", "1"),
    ]);
    for r in &o {
        expect_status(r, "exit 0");
        expect_in(r, "444.5 333.5 222.5 111.5\n12 12\n15.5\n140\n5 5\n");
    }
}

#[test]
fn m4_lazy_undefined_symbol() {
    let o = check(&[case("undef_lazy", &[]), case("undef_lazy", &["call"])]);
    expect_status(&o[0], "exit 0");
    expect_in(&o[1], "started, present=2\n");
    expect_in(
        &o[1],
        "./undef_lazy: symbol lookup error: ./undef_lazy: undefined symbol: gone_fn\n",
    );
    expect_status(&o[1], "exit 127");
}

#[test]
fn m4_lazy_undefined_versioned_symbol() {
    let o = check(&[case("vers_baz", &[]), case("vers_baz", &["call"])]);
    expect_status(&o[0], "exit 0");
    expect_in(
        &o[1],
        "./vers_baz: symbol lookup error: ./vers_baz: undefined symbol: baz, version VERS_2\n",
    );
    expect_status(&o[1], "exit 127");
}

#[test]
fn m4_rtld_next_wrappers() {
    let w = world();
    let wrap = w.out.join("libwrap.so").to_string_lossy().into_owned();
    let o = check(&[
        case("rtldnext", &[]),
        case("rtldnext", &[]).env("LD_PRELOAD", &wrap),
        case("rtldnext_linked", &[]),
    ]);
    expect_in(&o[0], "RTLD_NEXT malloc from exe: malloc in libc.so.6\n");
    for k in [1, 2] {
        expect_in(
            &o[k],
            "wrap: malloc(12345) next is malloc in libc.so.6\nwrap: fopen(/dev/null, r)\nwrap: fopen next is fopen64 in libc.so.6\n",
        );
        expect_in(&o[k], "RTLD_NEXT malloc from exe: malloc in libwrap.so\n");
        expect_in(&o[k], "RTLD_NEXT puts from exe: puts in libc.so.6\n");
    }
    expect_in(
        &o[2],
        "RTLD_NEXT missing: NULL, dlerror: ./rtldnext_linked: undefined symbol: no_such_symbol_anywhere\n",
    );
}

#[test]
fn m4_dlvsym_dladdr_dlinfo_phdr_counters() {
    let o = check(&[case("dlquery", &[])]);
    expect_in(&o[0], "dlvsym foo@VERS_1: foo_old (foo@VERS_1)\n");
    expect_in(&o[0], "dlvsym foo@VERS_2: foo_new (foo@@VERS_2)\n");
    expect_in(
        &o[0],
        "dlvsym foo@VERS_3: libv.so: undefined symbol: foo, version VERS_3\n",
    );
    expect_in(
        &o[0],
        "dladdr1 SYMENT: foo in libv.so, st_size>0=1 type=2 bind=1 offset=1\n",
    );
    expect_in(
        &o[0],
        "dladdr1 LINKMAP: foo, l_name libv.so, l_addr==dli_fbase 1\n",
    );
    expect_in(&o[0], "RTLD_DI_LINKMAP: libv.so, handle==map 1\n");
    expect_in(&o[0], "RTLD_DI_ORIGIN: 0, the directory of l_name: 1\n");
    expect_in(&o[0], "RTLD_DI_TLS_MODID of libv.so: 0 -> 0\n");
    expect_in(&o[0], "RTLD_DI_TLS_MODID of libdltls_gd.so: 0, nonzero 1\n");
    expect_in(
        &o[0],
        "RTLD_DI_TLS_DATA after use: 0, block holds the variable 1\n",
    );
    expect_in(
        &o[0],
        "after dlopen libdl_a.so (and libdl_b.so): objects=6 adds=+2 subs=+0\nafter dlclose libdl_a.so: objects=4 adds=+0 subs=+2\n",
    );
}

#[test]
fn m4_cxx_exception_dlopen() {
    let o = check(&[case("dlcxx", &[])]);
    expect_in(
        &o[0],
        "caught out_of_range: thrown in libdlcxx: 1\ncaught runtime_error: thrown in libcxx_a: boom (passed through libdlcxx)\ncaught inside libdlcxx: 1\n",
    );
    // libcxx_a defines STB_GNU_UNIQUE objects: glibc makes it NODELETE, so dlclose keeps it.
    expect_in(
        &o[0],
        "caught inside libdlcxx: 1\nafter reload caught: thrown in libdlcxx: 9\nlibcxx_a static object destroyed\n",
    );
}

#[test]
fn m4_pthread_cancel_and_exit() {
    let o = check(&[case("cancel", &[])]);
    expect_in(&o[0], "libgcc_s loaded at start: no\n");
    expect_in(
        &o[0],
        "cleanup handler: cancelled thread\ncancelled thread returned PTHREAD_CANCELED: yes\nlibgcc_s loaded after cancel: yes\n",
    );
    expect_in(
        &o[0],
        "cleanup handler: exiting thread\npthread_exit value: 42\n",
    );
    expect_in(
        &o[0],
        "cleanup handler: async thread\nasync-cancelled thread returned PTHREAD_CANCELED: yes\n",
    );
}

#[test]
fn m4_dlopen_shared_dependency_init_fini() {
    let o = check(&[case("dlinitfini", &[])]);
    expect_in(&o[0], "main dlopen libdlx_top.so\ndlx_r DT_INIT\n");
    expect_in(
        &o[0],
        "main dlclose libdlx_other.so\ndlx_other .fini_array\n",
    );
    expect_in(&o[0], "dlx_r DT_FINI\ndlx_base .fini_array\n");
    expect_in(
        &o[0],
        "main exit with libdlx_other.so open\ndlx_other atexit handler\ndlx_base atexit handler\ndlx_other .fini_array\n",
    );
}

#[test]
fn m4_dlopen_dlclose_no_leak() {
    let o = check(&[case("dlleak", &[])]);
    expect_in(
        &o[0],
        "cycles ok: 10000\nstill loaded after the last dlclose: no\nRSS growth under 1 MiB: yes\nVM growth under 1 MiB: yes\n",
    );
}

#[test]
fn m4_dlopen_deepbind() {
    let o = check(&[case("dldeep", &[])]);
    expect_in(
        &o[0],
        "plain NOW: calls exe, data 1, only in exe, RTLD_DEFAULT from the library: exe\n",
    );
    for m in ["LAZY", "NOW"] {
        expect_in(
            &o[0],
            &format!(
                "DEEPBIND {m}: calls libdeep_dep, data 2, only in exe, RTLD_DEFAULT from the library: libdeep_dep\n"
            ),
        );
    }
    expect_in(&o[0], "exe: deep_name exe, RTLD_DEFAULT exe\n");
}

#[test]
fn m4_dlmopen_namespaces() {
    let o = check(&[case("dlmopen", &[])]);
    expect_in(&o[0], "namespaces: 0 1, different handles: 1\n");
    expect_in(&o[0], "counters: base 2, new 1, same address: 0\n");
    expect_in(
        &o[0],
        "own libc copy: malloc differs 1, errno differs 1, base malloc is ours 1\n",
    );
    expect_in(&o[0], "dladdr in the new namespace: libns.so ns_bump\n");
    expect_in(
        &o[0],
        "dlmopen into the existing namespace: same handle 1\n",
    );
    expect_in(
        &o[0],
        "dlmopen(7): libns.so: invalid target namespace in dlmopen(): Invalid argument\n",
    );
    expect_in(&o[0], "third namespace: 2, counter 1\n");
    expect_in(&o[0], "dlopen from the new namespace finds its copy: 1\n");
    expect_in(
        &o[0],
        "after closing everything of namespace 1: libns.so: invalid target namespace in dlmopen(): Invalid argument\nnext new namespace: 1, counter 1\n",
    );
    // Per-namespace STB_GNU_UNIQUE tables; _dl_fini runs every namespace's destructors.
    expect_in(
        &o[0],
        "unique counter shared across namespaces: 0\nlibcxx_a static object destroyed\nlibcxx_a static object destroyed\n",
    );
}

// ---------------------------------------------------------------------------------------------
// The harness's own pieces
// ---------------------------------------------------------------------------------------------

#[test]
fn harness_diff_and_normalize() {
    let d = unified_diff("a\nb\nc\n", "a\nB\nc\n", "x", "y");
    assert!(d.contains("-b\n+B\n"), "{d}");
    let n = normalize(
        b"/x/ld.so: /x/ld.so.real",
        &[("/x/ld.so".into(), "<L>"), ("/x/ld.so.real".into(), "<R>")],
    );
    assert_eq!(n, "<L>: <R>");
}

// ---------------------------------------------------------------------------------------------
// LD_DEBUG
// ---------------------------------------------------------------------------------------------

/// What must differ between two LD_DEBUG runs: the pid tag of every line (`%10d:\t`), load
/// addresses (`0x` and 16 hex digits) and the statistics' cycle counts and percentages.
fn normalize_debug(s: String) -> String {
    // A PT_INTERP naming glibc's loader (a program's loader by name, in either mode) is
    // `<LOADER>` on both sides; each side's own invocation path already is.
    let s = s.replace(GLIBC_LD, "<LOADER>");
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        let mut l = line;
        let digits = l.trim_start_matches(' ');
        let n = digits.bytes().take_while(u8::is_ascii_digit).count();
        if n > 0 && digits[n..].starts_with(":\t") && line.len() - digits.len() + n == 10 {
            out.push_str("PID:");
            l = &digits[n + 1..];
        }
        let mut t = String::new();
        let mut rest = l;
        while let Some(i) = rest.find("0x") {
            t.push_str(&rest[..i + 2]);
            rest = &rest[i + 2..];
            let h = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
            if h == 16 {
                t.push_str("<ADDR>");
                rest = &rest[16..];
            }
        }
        t.push_str(rest);
        if t.contains(" cycles") {
            t = t
                .split(|c: char| c.is_ascii_digit() || c == '.')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("N");
        }
        out.push_str(&t);
    }
    out
}

#[test]
fn harness_normalize_debug() {
    assert_eq!(
        normalize_debug("     12345:\tfile=x [0];  generating link map\n".into()),
        "PID:\tfile=x [0];  generating link map\n"
    );
    assert_eq!(
        normalize_debug(
            "         1:\t  dynamic: 0x00007f1e1e5dae10  base: 0x0000000000001000\n".into()
        ),
        "PID:\t  dynamic: 0x<ADDR>  base: 0x<ADDR>\n"
    );
    // Anything else is left alone, so a wrong name or count still fails.
    assert_eq!(
        normalize_debug("    7:\tnumber of relocations: 83\n".into()),
        "    7:\tnumber of relocations: 83\n"
    );
    assert_ne!(
        normalize_debug("     1:\tbinding file a [0] to b [0]\n".into()),
        normalize_debug("     1:\tbinding file a [0] to c [0]\n".into())
    );
}

fn debug_case(prog: &str, args: &[&str], what: &str) -> Case {
    case(prog, args).env("LD_DEBUG", what)
}

#[test]
fn m4_ld_debug_libs() {
    let o = check_with(
        &[
            debug_case("hellolib_lazy", &["lazy"], "libs"),
            debug_case("hellolib_now", &[], "libs"),
            debug_case("hello", &[], "libs").env("LD_LIBRARY_PATH", "/nonexistent:/usr/lib"),
            debug_case("preload", &["bare"], "libs").env("LD_PRELOAD", "libpre.so"),
            debug_case("ctors", &[], "libs"),
        ],
        normalize_debug,
    );
    expect_in(&o[0], "find library=libgreet.so [0]; searching\n");
    expect_in(&o[0], "(RUNPATH from file ./hellolib_lazy)\n");
    expect_in(&o[0], "  trying file=");
    expect_in(&o[0], " search cache=/etc/ld.so.cache\n");
    expect_in(&o[0], "calling init: /lib/x86_64-linux-gnu/libc.so.6\n");
    expect_in(&o[0], "initialize program: ./hellolib_lazy\n");
    expect_in(&o[0], "transferring control: ./hellolib_lazy\n");
    expect_in(&o[0], "calling fini:  [0]\n");
    expect_in(&o[2], "\t\t(LD_LIBRARY_PATH)\n");
}

#[test]
fn m4_ld_debug_files() {
    let o = check_with(
        &[
            debug_case("hellolib_lazy", &["lazy"], "files"),
            debug_case("preload", &["bare"], "files").env("LD_PRELOAD", "libpre.so"),
            debug_case("dlcount", &[], "files"),
        ],
        normalize_debug,
    );
    expect_in(
        &o[0],
        "file=libgreet.so [0];  needed by ./hellolib_lazy [0]\n",
    );
    // Open counts (the previous loader printed none of these lines).
    expect_in(&o[2], "/libgreet.so [0]; direct_opencount=2\n");
    expect_in(&o[2], "/libgreet.so [0] as NODELETE\n");
    expect_in(&o[2], "opening file= [0]; direct_opencount=2\n");
    expect_in(&o[2], "/libtls_gd.so; direct_opencount=1\n");
    expect_in(&o[0], "file=libgreet.so [0];  generating link map\n");
    expect_in(&o[0], "  dynamic: 0x");
    expect_in(&o[0], "    entry: 0x");
}

/// LD_DEBUG=versions: every required version checked, at start-up and for dlopen'ed objects
/// (the previous loader printed nothing).
#[test]
fn m4_ld_debug_versions() {
    let o = check_with(
        &[
            debug_case("hellolib_lazy", &[], "versions"),
            debug_case("dlscopes2", &[], "versions"),
        ],
        normalize_debug,
    );
    expect_in(
        &o[0],
        "checking for version `GLIBC_2.34' in file /lib/x86_64-linux-gnu/libc.so.6 [0] required by file ./hellolib_lazy [0]\n",
    );
    expect_in(
        &o[1],
        "checking for version `GLIBC_2.2.5' in file /lib/x86_64-linux-gnu/libc.so.6 [0] required by file ",
    );
}

#[test]
fn m4_ld_debug_scopes() {
    // Each object's l_scope as glibc lays it out (the vDSO's own list second, no scope for the
    // loader itself, DT_SYMBOLIC first), at start-up and for dlopen'ed objects, including
    // the search lists later opens append to earlier dlopen'ed dependencies (`update_scopes`)
    // and dlclose's repair of them. Not covered: failed dlopens (rld finds undefined symbols
    // before relocating).
    let o = check_with(
        &[
            debug_case("hellolib_lazy", &[], "scopes"),
            debug_case("dlctors", &[], "scopes"),
            debug_case("dlscopes2", &[], "scopes"),
        ],
        normalize_debug,
    );
    expect_in(&o[0], "Initial object scopes\n");
    expect_in(&o[0], " no scope\n");
    expect_in(&o[0], " scope 1: linux-vdso.so.1\n");
    // libsu_b.so's open appends its search list to libsu_c.so's scope as scope 2; after
    // libsu_a.so (libsu_d.so's opener) was closed and opened again, libsu_d.so's scopes are
    // [global, its own list, libsu_b2.so's, libsu_a.so's].
    expect_in(&o[2], "/libsu_c.so [0]\n");
    expect_in(&o[2], " scope 2: ");
    expect_in(&o[2], " scope 3: ");
}

/// glibc's `update_scopes`: an object loaded by an earlier dlopen gets the search list of a
/// later dlopen that needs it appended to its scope, so its lazy calls and
/// `dlsym(RTLD_DEFAULT)` find the new objects (C's lazy call binds to B, which makes B its
/// run-time dependency: closing B's handle keeps it); an object whose opener was unloaded
/// gets its own search list instead of the opener's. The previous loader ended with
/// "symbol lookup error: ... undefined symbol: su_b_func".
#[test]
fn m4_dlopen_update_scopes() {
    let o = check(&[case("dlscopes2", &[])]);
    expect_in(
        &o[0],
        "from C before B: su_b_func not found\nfrom C after B: su_b_func found\nC calls B lazily: 41\nfrom C after closing B: su_b_func found\n",
    );
    expect_in(
        &o[0],
        "from D after closing A: su_a_marker not found, su_b2_marker found, printf found\nfrom D with A again: su_a_marker found\n",
    );
}

#[test]
fn m4_ld_debug_reloc() {
    let o = check_with(
        &[
            debug_case("hellolib_lazy", &["lazy"], "reloc"),
            debug_case("hellolib_now", &[], "reloc"),
            debug_case("hellolib_lazy", &["env"], "reloc").env("LD_BIND_NOW", "1"),
            debug_case("dlctors", &[], "reloc"),
            // RTLD_LAZY and RTLD_NOW opens: "(lazy)" only for the lazy one.
            debug_case("dlcount", &[], "reloc"),
        ],
        normalize_debug,
    );
    expect_in(
        &o[0],
        "relocation processing: /lib/x86_64-linux-gnu/libc.so.6 (lazy)\n",
    );
    expect_in(
        &o[2],
        "relocation processing: /lib/x86_64-linux-gnu/libc.so.6\n",
    );
}

#[test]
fn m4_ld_debug_bindings() {
    let o = check_with(
        &[
            debug_case("hellolib_lazy", &["lazy"], "bindings"),
            debug_case("hellolib_now", &[], "bindings"),
            debug_case("vers_old", &[], "bindings"),
            debug_case("copyreloc", &[], "bindings"),
            debug_case("dlctors", &[], "bindings"),
            // An RTLD_LAZY open binds its PLT entries on first call, not at dlopen.
            debug_case("dlcount", &[], "bindings"),
        ],
        normalize_debug,
    );
    expect_in(&o[0], "/libgreet.so [0]: normal symbol `greet'\n");
    expect_in(&o[0], "normal symbol `malloc' [GLIBC_2.2.5]\n");
}

#[test]
fn m4_ld_debug_symbols() {
    let o = check_with(
        &[
            debug_case("hellolib_lazy", &["lazy"], "symbols"),
            debug_case("interpose", &[], "symbols,bindings"),
        ],
        normalize_debug,
    );
    expect_in(&o[0], "symbol=greet;  lookup in file=./hellolib_lazy [0]\n");
}

#[test]
fn m4_ld_debug_statistics_and_all() {
    let o = check_with(
        &[
            debug_case("hellolib_lazy", &["lazy"], "statistics"),
            debug_case(
                "hellolib_now",
                &[],
                "libs,reloc,files,symbols,bindings,statistics",
            ),
            debug_case("hello", &[], "help"),
        ],
        normalize_debug,
    );
    expect_in(&o[0], "runtime linker statistics:\n");
    expect_in(&o[0], "final number of relocations from cache: ");
}

/// LD_DEBUG_OUTPUT=BASE writes BASE.PID (stderr stays clean); each side in its own directory.
#[test]
fn m4_ld_debug_output_file() {
    let w = world();
    let mut failures = Vec::new();
    let mut saw = String::new();
    let c = debug_case("hellolib_lazy", &["lazy"], "libs,bindings");
    for (k, p) in pairs_for(&c).into_iter().enumerate() {
        let mut texts = Vec::new();
        for (side, cmd, ld) in [
            ("g", &p.oracle, &p.oracle_loader),
            ("r", &p.lut, &p.lut_loader),
        ] {
            let dir = w.root.join(format!("dbgout-{k}-{side}"));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("mkdir");
            let mut cmd = cmd.clone();
            cmd.env.push((
                "LD_DEBUG_OUTPUT".into(),
                dir.join("dbg").to_string_lossy().into_owned(),
            ));
            let out = cmd.run();
            let files: Vec<PathBuf> = fs::read_dir(&dir)
                .expect("readdir")
                .flatten()
                .map(|e| e.path())
                .collect();
            let subst = subst_for(ld, &[]);
            let names: Vec<String> = files
                .iter()
                .map(|f| {
                    let n = f
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    n.trim_end_matches(|c: char| c.is_ascii_digit()).to_string()
                })
                .collect();
            let file = files
                .first()
                .map(|f| fs::read(f).unwrap_or_default())
                .unwrap_or_default();
            texts.push((
                names,
                normalize_debug(normalize(&file, &subst)),
                normalize(&out.stdout, &subst),
                normalize(&out.stderr, &subst),
                out.status.clone(),
            ));
        }
        if texts[0] != texts[1] {
            failures.push(format!(
                "=== mode {}: files {:?} vs {:?}\n{}stdout/stderr/status same: {}\n",
                p.mode,
                texts[0].0,
                texts[1].0,
                unified_diff(&texts[0].1, &texts[1].1, "glibc", "tested"),
                (&texts[0].2, &texts[0].3, &texts[0].4) == (&texts[1].2, &texts[1].3, &texts[1].4)
            ));
        }
        saw = texts[0].1.clone();
        assert_eq!(
            texts[0].0,
            vec!["dbg.".to_string()],
            "glibc wrote one BASE.PID file"
        );
        assert!(texts[0].3.is_empty(), "glibc's stderr: {}", texts[0].3);
    }
    assert!(
        saw.contains("libgreet.so [0]: normal symbol `greet'"),
        "{saw}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `ldd -u` (LD_TRACE_LOADED_OBJECTS with LD_DEBUG=unused): the program's own bindings are
/// resolved and the DT_NEEDED objects none of them lands in are listed, exit 1; a program
/// using all of its libraries prints nothing and exits 0. The old loader printed the plain
/// list instead.
#[test]
fn m4_ldd_unused() {
    let unused = |p: &str| {
        case(p, &[])
            .env("LD_TRACE_LOADED_OBJECTS", "1")
            .env("LD_DEBUG", "unused")
    };
    let o = check(&[unused("unused_deps"), unused("hellolib_lazy")]);
    // The plain trace too, both as `LOADER PROG` and through PT_INTERP: there the loader's
    // line is the PT_INTERP path alone and `$ORIGIN` is the program's real directory (the
    // old loader printed `PT_INTERP => ./prog` and `pt-r/./../libgreet.so`).
    // Load addresses differ; run explicitly by its own path, a loader's line reads
    // `PT_INTERP => path` (glibc's too, when not run as /lib64/ld-linux-x86-64.so.2).
    fn masked(s: String) -> String {
        let s = s.replace("/lib64/ld-linux-x86-64.so.2 => <LOADER>", "<LOADER>");
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(i) = rest.find("(0x") {
            out.push_str(&rest[..i]);
            let tail = &rest[i + 3..];
            let n = tail
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(tail.len());
            out.push_str("(ADDR");
            rest = &tail[n..];
        }
        out.push_str(rest);
        out
    }
    let t = check_with(
        &[case("hellolib_lazy", &[]).env("LD_TRACE_LOADED_OBJECTS", "1")],
        masked,
    );
    expect_in(&t[0], "libgreet.so => ");
    expect_in(&o[0], "Unused direct dependencies:\n\t");
    expect_in(&o[0], "libgreet.so\n\t");
    expect_in(&o[0], "libm.so.6\n");
    expect_status(&o[0], "exit 1");
    assert_eq!(o[1].stdout(), "", "hellolib uses libgreet and libc");
    expect_status(&o[1], "exit 0");
}

// ---------------------------------------------------------------------------------------------
// Launch cache
// ---------------------------------------------------------------------------------------------

/// The launch-cache record of program file `prog` in `dir`: the newest file named
/// `DEV-INO-HASH` for its device and inode (the hash is of the record's fingerprint), or a
/// path that does not exist if there is none.
fn record_path(dir: &Path, prog: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(prog).unwrap_or_else(|e| panic!("{}: {e}", prog.display()));
    let prefix = format!("{:x}-{:x}-", m.dev(), m.ino());
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix) && !n.contains('.'))
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map_or_else(|| dir.join(format!("{prefix}none")), |e| e.path())
}

/// Fixture `prog` of the built world run as `LOADER ./PROG` in its directory, with the base
/// environment and then `env`.
fn run_fixture(loader: &Path, prog: &str, env: &[(&str, &str)]) -> Outcome {
    let mut e = base_env();
    e.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Cmd {
        argv: vec![loader.to_string_lossy().into_owned(), format!("./{prog}")],
        cwd: world().out.clone(),
        env: e,
        stdin: vec![],
    }
    .run()
}

fn inode(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).ok().map(|m| m.ino())
}

/// A fresh directory under the test root.
fn fresh_dir(name: &str) -> PathBuf {
    let d = world().root.join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    d
}

/// Each case runs under the tested loader twice with a fresh launch cache: the first run
/// must write a record, the second must replay it (the record file is left alone: a launch
/// that did not use it rewrites it), and both must match glibc.
fn check_replay(tag: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let dir = fresh_dir(&format!("lc-{tag}-{n}"));
        // Every fixture is below the size that gets a record by default.
        let c = c
            .clone()
            .env("RLD_LAUNCH_CACHE", &dir.to_string_lossy())
            .env("RLD_LAUNCH_CACHE_MIN", "0");
        for p in pairs_for(&c) {
            let o = p.oracle.run();
            let first = p.lut.run();
            failures.extend(compare_outcomes(&c.label, &p, &o, &first, |s| s));
            let rec = record_path(&dir, &p.lut.cwd.join(&c.prog));
            let before = inode(&rec);
            if !selftest() && before.is_none() {
                failures.push(format!(
                    "=== {} — mode {}: no launch-cache record {} after the first run",
                    c.label,
                    p.mode,
                    rec.display()
                ));
                continue;
            }
            let second = p.lut.run();
            failures.extend(compare_outcomes(
                &format!("{} (second run, from the launch cache)", c.label),
                &p,
                &o,
                &second,
                |s| s,
            ));
            if inode(&record_path(&dir, &p.lut.cwd.join(&c.prog))) != before {
                failures.push(format!(
                    "=== {} — mode {}: the second run rewrote the record instead of replaying it",
                    c.label, p.mode
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} launch-cache failures (loader under test: {}):\n{}",
        failures.len(),
        loader().display(),
        failures.join("\n")
    );
}

/// Bindings replayed from the launch cache behave exactly like looked-up ones, for every
/// kind of binding the fixtures have: lazy and `-z now` PLTs, LD_BIND_NOW, interposition,
/// LD_PRELOAD, symbol versions, weak symbols, copy relocations, IFUNC, TLS (IE, GD, TLSDESC,
/// threads), RELR, constructors, C++ (exceptions, STB_GNU_UNIQUE), dlopen after start-up,
/// RTLD_NEXT, vector arguments through the lazy resolver, a big relocated table.
#[test]
fn launch_cache_replays_bindings() {
    let pre = world().out.join("libpre.so").to_string_lossy().into_owned();
    check_replay(
        "fixtures",
        &[
            case("hello", &[]),
            case("hellolib_lazy", &[]),
            case("hellolib_now", &[]),
            case("hellolib_lazy", &[]).env("LD_BIND_NOW", "1"),
            case("interpose", &[]),
            case("preload", &["abs"]).env("LD_PRELOAD", &pre),
            case("vers_new", &[]),
            case("weak_ab", &[]),
            case("copyreloc_nopie", &[]),
            case("copyreloc_pie", &[]),
            case("ifunc_pie", &[]),
            case("ifunc_nopie", &[]),
            case("tls", &[]),
            case("tls_gnu2", &[]),
            case("tls_thread", &[]),
            case("ctors", &[]),
            case("relr", &[]),
            case("cxx", &[]),
            case("cxx_exc", &[]),
            case("dlbasic", &[]),
            case("dlcxx", &[]),
            case("dltls", &[]),
            case("rtldnext", &[]),
            case("lazyvec", &[]),
            case("bigreloc", &[]),
            // Its RELATIVE targets hold 0, not their addends: no RELR form may be recorded.
            case("bigreloc_lld", &[]),
            case("lcache", &[]),
            case("prebind", &[]),
        ],
    );
}

/// One run of program `prog` in `dir` under glibc and under the tested loader, explicit
/// (`LOADER ./prog`) or through PT_INTERP (`./prog-g` / `./prog-r`, made by `copy_program`).
fn cache_pair(dir: &Path, cache: &Path, prog: &str, interp: bool) -> Pair {
    let mut env = base_env();
    env.push((
        "RLD_LAUNCH_CACHE".into(),
        cache.to_string_lossy().into_owned(),
    ));
    // The fixtures are below the size that gets a record by default.
    env.push(("RLD_LAUNCH_CACHE_MIN".into(), "0".into()));
    let mk = |argv: Vec<String>| Cmd {
        argv,
        cwd: dir.to_path_buf(),
        env: env.clone(),
        stdin: vec![],
    };
    let (oracle, lut) = if interp {
        (
            mk(vec![format!("./{prog}-g")]),
            mk(vec![format!("./{prog}-r")]),
        )
    } else {
        (
            mk(vec![GLIBC_LD.into(), format!("./{prog}")]),
            mk(vec![
                loader().to_string_lossy().into_owned(),
                format!("./{prog}"),
            ]),
        )
    };
    Pair {
        mode: if interp { "PT_INTERP" } else { "explicit" },
        oracle,
        lut,
        oracle_loader: GLIBC_LD.into(),
        lut_loader: loader(),
    }
}

/// `cp from to`, or the test fails.
fn copy_file(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap_or_else(|e| panic!("cp {} {}: {e}", from.display(), to.display()));
}

/// Fixture `prog` copied into `d`, with the PT_INTERP copies `prog-g` (glibc's loader) and
/// `prog-r` (the tested loader) beside it, as `cache_pair` runs them.
fn program_in(d: &Path, prog: &str) {
    let w = world();
    copy_file(&w.out.join(prog), &d.join(prog));
    let exe = fs::read(d.join(prog)).unwrap_or_default();
    for (interp, tag) in [(&w.interp_g, "g"), (&w.interp_r, "r")] {
        write_with_interp(&exe, interp, &d.join(format!("{prog}-{tag}")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A record is used only for the files it was made with: a library changed in place, replaced
/// by another file, or merely touched; a corrupt record; a record others could have written.
/// In each case the program must behave as under glibc (variant B moves every symbol of the
/// library, so a stale record would bind to wrong symbols) and the record is rewritten.
#[test]
fn launch_cache_notices_changes() {
    let w = world();
    let d = fresh_dir("lc-changes");
    let cache = d.join("cache");
    copy_file(&w.out.join("liblc.so"), &d.join("liblc.so"));
    program_in(&d, "lcache");
    let copy = copy_file;
    let lib = d.join("liblc.so");
    let variant_a = w.out.join("liblc.so");
    let variant_b = w.out.join("lc_b/liblc.so");

    let mut failures = Vec::new();
    // Runs both modes; returns the records' inodes after the run.
    let mut run = |step: &str, expect: &str| -> Vec<Option<u64>> {
        let mut inodes = Vec::new();
        for interp in [false, true] {
            let p = cache_pair(&d, &cache, "lcache", interp);
            let o = p.oracle.run();
            assert!(
                String::from_utf8_lossy(&o.stdout).contains(expect),
                "glibc's output lacks {expect:?} at step {step}: {:?}",
                String::from_utf8_lossy(&o.stdout)
            );
            let r = p.lut.run();
            failures.extend(compare_outcomes(step, &p, &o, &r, |s| s));
            let prog = d.join(if interp { "lcache-r" } else { "lcache" });
            inodes.push(inode(&record_path(&cache, &prog)));
        }
        inodes
    };
    let a = "variant a: value 1 data 42 tls 7\n";
    let b = "variant b: value 2 data 42 tls 7\n";
    let written = run("first run", a);
    let replayed = run("second run (replayed)", a);
    copy(&variant_b, &lib);
    let in_place = run("library rewritten in place (same inode)", b);
    let tmp = d.join("liblc.so.new");
    copy(&variant_a, &tmp);
    fs::rename(&tmp, &lib).unwrap_or_else(|e| panic!("rename: {e}"));
    let renamed = run("library replaced by another file", a);
    let replayed2 = run("replayed again", a);
    let status = Command::new("touch").arg(&lib).status();
    assert!(status.is_ok_and(|s| s.success()), "touch failed");
    let touched = run("library touched", a);
    // Corrupt both records, then make one writable by others (glibc as the tested loader,
    // in self-test mode, writes none).
    for prog in ["lcache", "lcache-r"].into_iter().filter(|_| !selftest()) {
        let rec = record_path(&cache, &d.join(prog));
        let mut bytes = fs::read(&rec).unwrap_or_default();
        let mid = bytes.len() / 2;
        if let Some(x) = bytes.get_mut(mid) {
            *x ^= 0x10;
        }
        fs::write(&rec, &bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    let corrupt_before: Vec<Option<u64>> = ["lcache", "lcache-r"]
        .iter()
        .map(|p| inode(&record_path(&cache, &d.join(p))))
        .collect();
    let after_corrupt = run("corrupt record", a);
    let rec = record_path(&cache, &d.join("lcache"));
    if !selftest() {
        fs::set_permissions(&rec, fs::Permissions::from_mode(0o666))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let shared_before = inode(&rec);
    let after_shared = run("record writable by others", a);
    if !selftest() {
        let check = |what: &str, ok: bool, failures: &mut Vec<String>| {
            if !ok {
                failures.push(format!("=== launch cache: {what}"));
            }
        };
        check(
            "first run wrote records",
            written.iter().all(|i| i.is_some()),
            &mut failures,
        );
        check(
            "second run replayed (records untouched)",
            replayed == written,
            &mut failures,
        );
        for (what, after, before) in [
            ("library rewritten in place", &in_place, &replayed),
            ("library replaced", &renamed, &in_place),
            ("library touched", &touched, &replayed2),
            ("corrupt record", &after_corrupt, &corrupt_before),
        ] {
            check(
                &format!("{what}: records rewritten"),
                after
                    .iter()
                    .zip(before.iter())
                    .all(|(a, b)| a.is_some() && a != b),
                &mut failures,
            );
        }
        check(
            "replayed after replacement",
            replayed2 == renamed,
            &mut failures,
        );
        check(
            "record writable by others was not trusted (rewritten)",
            after_shared.first().copied().flatten() != shared_before,
            &mut failures,
        );
        let mode = fs::metadata(&rec)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        check(
            &format!("records are private (mode {mode:o})"),
            mode == 0o600,
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// With the launch cache on, rld checks symbol versions after consulting it and skips the
/// check when a record vouches for the same files. A library replaced by one that lacks a
/// required version must still fail as under glibc ("version `VERS_3' not found", exit 1),
/// in both modes, and so must the same launch run again (nothing may have been recorded).
#[test]
fn launch_cache_checks_versions_of_changed_files() {
    let w = world();
    let d = fresh_dir("lc-versions");
    let cache = d.join("cache");
    let copy = copy_file;
    program_in(&d, "vers_v3");
    // The library it was linked with defines VERS_3; the one beside the fixtures does not.
    copy(&w.out.join("v3/libv.so"), &d.join("libv.so"));
    let mut failures = Vec::new();
    let mut run = |step: &str, status: &str, expect: &str| {
        for interp in [false, true] {
            let p = cache_pair(&d, &cache, "vers_v3", interp);
            let o = p.oracle.run();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                text.contains(expect) && o.status == status,
                "glibc at step {step}: {} {text:?}",
                o.status
            );
            let r = p.lut.run();
            // The PT_INTERP copies differ only in the name the messages give them.
            let same_name = |s: String| s.replace("./vers_v3-g", "./vers_v3-r");
            failures.extend(compare_outcomes(step, &p, &o, &r, same_name));
        }
    };
    let ok = "foo -> ";
    let missing = "libv.so: version `VERS_3' not found (required by ";
    run("first run (records)", "exit 0", ok);
    run("second run (replays)", "exit 0", ok);
    copy(&w.out.join("libv.so"), &d.join("libv.so"));
    run("library without VERS_3", "exit 1", missing);
    run("library without VERS_3, again", "exit 1", missing);
    copy(&w.out.join("v3/libv.so"), &d.join("libv.so"));
    run("library with VERS_3 again", "exit 0", ok);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A record's search memo answers `/etc/ld.so.cache` lookups only for the cache file it was
/// made with. `lcache` without its RUNPATH finds liblc.so through the cache alone; in a
/// mount namespace of its own, cache A (variant A's directory) or cache B (variant B's) is
/// bound over /etc/ld.so.cache. A replay with the same cache must not open the cache at all
/// (strace), and a replay after the cache changed must find what glibc finds (a memo used
/// regardless would load variant A).
#[test]
fn launch_cache_search_memo_follows_ld_so_cache() {
    if selftest() {
        return;
    }
    let w = world();
    let d = fresh_dir("lc-memo");
    let cache = d.join("records");
    let prog = d.join("lcache");
    copy_file(&w.out.join("lcache"), &prog);
    let status = |c: &mut Command, what: &str| {
        let o = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            o.status.success(),
            "{what}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    status(
        Command::new("patchelf").arg("--remove-rpath").arg(&prog),
        "patchelf --remove-rpath",
    );
    let exe = fs::read(&prog).unwrap_or_default();
    for (interp, tag) in [(&w.interp_g, "g"), (&w.interp_r, "r")] {
        write_with_interp(&exe, interp, &d.join(format!("lcache-{tag}")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for (v, lib) in [
        ("a", w.out.join("liblc.so")),
        ("b", w.out.join("lc_b/liblc.so")),
    ] {
        let dir = d.join(v);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        copy_file(&lib, &dir.join("liblc.so"));
        status(
            Command::new("ldconfig")
                .arg("-X")
                .arg("-C")
                .arg(d.join(format!("cache-{v}")))
                .arg(&dir),
            "ldconfig",
        );
    }
    // Runs `argv` with cache file `which` bound over /etc/ld.so.cache, under strace when
    // `trace` names its output file.
    let in_ns = |which: &str, trace: Option<&Path>, argv: Vec<String>| {
        let mut v: Vec<String> = [
            "/usr/bin/unshare",
            "-m",
            "/bin/sh",
            "-c",
            "/usr/bin/mount --bind \"$0\" /etc/ld.so.cache && exec \"$@\"",
        ]
        .map(String::from)
        .into();
        v.push(
            d.join(format!("cache-{which}"))
                .to_string_lossy()
                .into_owned(),
        );
        if let Some(t) = trace {
            v.extend(
                ["/usr/bin/strace", "-f", "-qq", "-e", "trace=openat", "-o"].map(String::from),
            );
            v.push(t.to_string_lossy().into_owned());
        }
        v.extend(argv);
        v
    };
    let mut failures = Vec::new();
    let mut run = |step: &str, which: &str, expect: &str, opens_cache: Option<bool>| {
        for interp in [false, true] {
            let mut p = cache_pair(&d, &cache, "lcache", interp);
            let trace = d.join("trace");
            let _ = fs::remove_file(&trace);
            p.oracle.argv = in_ns(which, None, p.oracle.argv.clone());
            p.lut.argv = in_ns(
                which,
                opens_cache.map(|_| trace.as_path()),
                p.lut.argv.clone(),
            );
            let o = p.oracle.run();
            assert!(
                String::from_utf8_lossy(&o.stdout).starts_with(expect),
                "glibc at step {step} ({}): {} {}{}",
                p.mode,
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            let r = p.lut.run();
            let same_name = |s: String| s.replace("./lcache-g", "./lcache-r");
            failures.extend(compare_outcomes(step, &p, &o, &r, same_name));
            if let Some(expected) = opens_cache {
                let t = fs::read_to_string(&trace).unwrap_or_default();
                let opened = t.lines().any(|l| l.contains("\"/etc/ld.so.cache\""));
                if opened != expected {
                    failures.push(format!(
                        "{step} ({}): /etc/ld.so.cache opened: {opened}, expected {expected}\n{t}",
                        p.mode
                    ));
                }
            }
        }
    };
    run(
        "cache A, first run (records)",
        "a",
        "variant a:",
        Some(true),
    );
    run("cache A, replay (memo)", "a", "variant a:", Some(false));
    run("cache B", "b", "variant b:", Some(true));
    run("cache B, replay", "b", "variant b:", Some(false));
    run("cache A again", "a", "variant a:", None);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Where records go by default ($XDG_CACHE_HOME/rld, else $HOME/.cache/rld, made private),
/// and when there are none: RLD_LAUNCH_CACHE=0, and LD_DEBUG (whose output comes from the
/// lookups a record would skip).
#[test]
fn launch_cache_location_and_opt_out() {
    if selftest() {
        return;
    }
    let w = world();
    let d = fresh_dir("lc-where");
    let prog = w.out.join("lcache");
    let run = |env: &[(&str, String)]| {
        let mut e = vec![("RLD_LAUNCH_CACHE_MIN", "0")];
        e.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
        let o = run_fixture(&loader(), "lcache", &e);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "variant a: value 1 data 42 tls 7\n",
            "stderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    for h in ["home", "home2", "home3"] {
        fs::create_dir_all(d.join(h)).unwrap_or_else(|e| panic!("{e}"));
    }
    run(&[("HOME", s(d.join("home")))]);
    let home_rec = record_path(&d.join("home/.cache/rld"), &prog);
    assert!(home_rec.exists(), "no record at {}", home_rec.display());
    let mode = fs::metadata(d.join("home/.cache/rld")).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o700), "cache directory mode");

    run(&[
        ("HOME", s(d.join("home2"))),
        ("XDG_CACHE_HOME", s(d.join("xdg"))),
    ]);
    assert!(
        record_path(&d.join("xdg/rld"), &prog).exists(),
        "no record under XDG_CACHE_HOME"
    );
    assert!(
        !d.join("home2/.cache").exists(),
        "HOME used although XDG_CACHE_HOME is set"
    );

    run(&[
        ("HOME", s(d.join("home3"))),
        ("RLD_LAUNCH_CACHE", "0".into()),
    ]);
    assert!(
        !d.join("home3/.cache").exists(),
        "RLD_LAUNCH_CACHE=0 still wrote a record"
    );

    run(&[
        ("RLD_LAUNCH_CACHE", s(d.join("dbg"))),
        ("LD_DEBUG", "libs".into()),
    ]);
    assert!(
        !d.join("dbg").exists(),
        "a record was written under LD_DEBUG"
    );

    // Another user's HOME (root under `sudo -E`): rld makes no directory there. Only
    // checkable as root (the directory is handed to nobody).
    let foreign = d.join("foreign");
    fs::create_dir_all(&foreign).unwrap_or_else(|e| panic!("{e}"));
    if std::os::unix::fs::chown(&foreign, Some(65534), None).is_ok() {
        run(&[("HOME", s(foreign.clone()))]);
        assert!(
            !foreign.join(".cache").exists(),
            "a cache directory made in another user's HOME"
        );
    }

    // Without RLD_LAUNCH_CACHE_MIN, a start-up of about a hundred relocations (any program
    // linked with libc plans more than libc's ~80) gets a record: planning them costs more
    // than reading one.
    let small = s(d.join("small"));
    let o = run_fixture(&loader(), "lcache", &[("RLD_LAUNCH_CACHE", &small)]);
    assert_eq!(o.status, "exit 1", "{}", String::from_utf8_lossy(&o.stderr));
    if !selftest() {
        let records = fs::read_dir(d.join("small")).map_or(0, |r| r.count());
        assert_eq!(records, 1, "no record for a libc program's start-up");
    }
}

/// Launches of one program that differ (here by LD_BIND_NOW) keep a record each: alternating
/// them replays both instead of rewriting one record at every start. Fails with records
/// named by the program alone (each launch found the other's record and replaced it).
#[test]
fn launch_cache_keeps_a_record_per_configuration() {
    if selftest() {
        return;
    }
    let w = world();
    let d = fresh_dir("lc-configs");
    let cache = d.join("cache");
    let dir = cache.to_string_lossy().into_owned();
    let run = |bind_now: bool| {
        let mut e = vec![
            ("RLD_LAUNCH_CACHE_MIN", "0"),
            ("RLD_LAUNCH_CACHE", dir.as_str()),
        ];
        if bind_now {
            e.push(("LD_BIND_NOW", "1"));
        }
        let o = run_fixture(&loader(), "lcache", &e);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status == "exit 1" && out.contains("variant a: value 1 data 42 tls 7\n"),
            "lcache: {} {out:?} {:?}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        record_path(&cache, &w.out.join("lcache"))
    };
    let lazy = run(false);
    let now = run(true);
    assert_ne!(lazy, now, "one record for both launches");
    let before = (inode(&lazy), inode(&now));
    assert!(before.0.is_some() && before.1.is_some(), "records missing");
    run(false);
    run(true);
    assert_eq!(
        (inode(&lazy), inode(&now)),
        before,
        "a launch rewrote a record instead of replaying it"
    );
}

/// With a launch record, a lazily bound program's PLT is bound at start-up (prebinding):
/// pb_func's GOT slot points into libpb before its first call, on the run that writes the
/// record and on the one that replays it. Without a cache, or under LD_BIND_NOT, it still
/// points at its PLT stub (lazy binding, as under glibc). What prebinding must not change
/// (IFUNC resolvers at the first call, weak functions defined later) is compared with glibc
/// by `launch_cache_replays_bindings`.
#[test]
fn launch_cache_prebinds_lazy_plt() {
    let d = fresh_dir("lc-prebind");
    let cache = d.join("cache").to_string_lossy().into_owned();
    let run = |loader: &Path, env: &[(&str, &str)]| -> String {
        let mut e = vec![("PB_SHOW_GOT", "1")];
        e.extend_from_slice(env);
        let o = run_fixture(loader, "prebind", &e);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status == "exit 0" && out.contains("pb_late found at its first call\n"),
            "prebind: {} {out:?} {:?}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        out.lines().next().unwrap_or_default().to_string()
    };
    let lazy = "pb_func slot before its first call: prebind";
    assert_eq!(
        run(Path::new(GLIBC_LD), &[]),
        lazy,
        "the fixture under glibc"
    );
    if selftest() {
        return;
    }
    let cached = [
        ("RLD_LAUNCH_CACHE", cache.as_str()),
        ("RLD_LAUNCH_CACHE_MIN", "0"),
    ];
    let prebound = "pb_func slot before its first call: libpb.so";
    assert_eq!(run(&loader(), &cached), prebound, "run writing the record");
    assert_eq!(run(&loader(), &cached), prebound, "run replaying it");
    assert_eq!(
        run(&loader(), &[("RLD_LAUNCH_CACHE", "0")]),
        lazy,
        "no cache"
    );
    let bind_not = [cached[0], cached[1], ("LD_BIND_NOT", "1")];
    assert_eq!(run(&loader(), &bind_not), lazy, "LD_BIND_NOT");
}

/// The launch cache directory stays within RLD_LAUNCH_CACHE_SIZE: after writing a record,
/// rld removes the least recently used ones (never the one just written). Fails if the
/// trimming is gone (the records of all programs take twice the size allowed).
#[test]
fn launch_cache_stays_within_its_size() {
    if selftest() {
        return;
    }
    let w = world();
    let d = fresh_dir("lc-size");
    let progs = [
        "hello",
        "hellolib_lazy",
        "cxx",
        "tls",
        "ctors",
        "lcache",
        "bigreloc",
        "ifunc_pie",
    ];
    let run = |prog: &str, cache: &Path, size: Option<u64>| {
        let (dir, size) = (cache.to_string_lossy(), size.map(|n| n.to_string()));
        let mut e = vec![("RLD_LAUNCH_CACHE_MIN", "0"), ("RLD_LAUNCH_CACHE", &*dir)];
        if let Some(n) = &size {
            e.push(("RLD_LAUNCH_CACHE_SIZE", n));
        }
        run_fixture(&loader(), prog, &e)
    };
    let records = |cache: &Path| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = fs::read_dir(cache)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.metadata().ok()?.len())))
            .collect();
        v.sort();
        v
    };
    // Uncapped: every program gets its record.
    let all = d.join("all");
    let mut outputs = Vec::new();
    for p in progs {
        outputs.push(run(p, &all, None));
    }
    let sizes = records(&all);
    assert_eq!(
        sizes.len(),
        progs.len(),
        "one record per program: {sizes:?}"
    );
    let total: u64 = sizes.iter().map(|r| r.1).sum();
    let cap = total / 2;
    let capped = d.join("capped");
    for (p, before) in progs.iter().zip(&outputs) {
        let o = run(p, &capped, Some(cap));
        assert_eq!(
            (&o.stdout, &o.status),
            (&before.stdout, &before.status),
            "{p}: output differs with a capped cache"
        );
        let now = records(&capped);
        let sum: u64 = now.iter().map(|r| r.1).sum();
        let mine = record_path(&capped, &w.out.join(p));
        assert!(
            mine.exists(),
            "{p}: the record just written was removed ({now:?})"
        );
        assert!(
            sum <= cap || now.len() == 1,
            "{p}: records take {sum} bytes, more than RLD_LAUNCH_CACHE_SIZE={cap}: {now:?}"
        );
    }
}

/// Copies fixture program `prog` and its library `lib` from the build directory into `d`,
/// with PT_INTERP copies `prog-g` (glibc) and `prog-r` (the tested loader).
fn copy_program(d: &Path, prog: &str, lib: &str) {
    let w = world();
    for f in [prog, lib] {
        fs::copy(w.out.join(f), d.join(f)).unwrap_or_else(|e| panic!("cp {f}: {e}"));
    }
    let exe = fs::read(d.join(prog)).unwrap_or_default();
    write_with_interp(&exe, &w.interp_g, &d.join(format!("{prog}-g")))
        .unwrap_or_else(|e| panic!("{e}"));
    write_with_interp(&exe, &w.interp_r, &d.join(format!("{prog}-r")))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The dlopen records in `cache` with their inodes.
fn dlopen_records(cache: &Path) -> Vec<(String, Option<u64>)> {
    let mut v: Vec<(String, Option<u64>)> = fs::read_dir(cache)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("dl-").then(|| (n, inode(&e.path())))
        })
        .collect();
    v.sort();
    v
}

/// A big dlopen's bindings are recorded and replayed: a C++ library with 60 PLT references
/// and a STB_GNU_UNIQUE template static that must bind to the program's copy, in both modes.
/// The second run writes no record (it replays the first's); a library changed in place
/// (variant B: every symbol index moved) is noticed, and the program still behaves as under
/// glibc.
#[test]
fn launch_cache_replays_dlopen_records() {
    let w = world();
    let d = fresh_dir("lc-dlopen");
    let cache = d.join("cache");
    copy_program(&d, "lcdl", "liblcdl.so");
    let mut failures = Vec::new();
    let mut run = |step: &str, expect: &str| {
        for interp in [false, true] {
            let p = cache_pair(&d, &cache, "lcdl", interp);
            let o = p.oracle.run();
            assert!(
                String::from_utf8_lossy(&o.stdout).contains(expect),
                "glibc's output lacks {expect:?} at step {step}: {:?}",
                String::from_utf8_lossy(&o.stdout)
            );
            let r = p.lut.run();
            failures.extend(compare_outcomes(step, &p, &o, &r, |s| s));
        }
        dlopen_records(&cache)
    };
    let a = "run: 601, counter seen by the program: 6\n";
    let first = run("first runs", a);
    let second = run("second runs (replayed)", a);
    fs::copy(w.out.join("lc_b/liblcdl.so"), d.join("liblcdl.so"))
        .unwrap_or_else(|e| panic!("cp variant b: {e}"));
    let b = "run: 602, counter seen by the program: 6\n";
    let changed = run("library changed in place", b);
    if !selftest() {
        if first.is_empty() {
            failures.push("=== no dlopen record after the first runs".into());
        }
        if second != first {
            failures.push(format!(
                "=== the second runs did not replay the dlopen records: {first:?} then {second:?}"
            ));
        }
        if changed.len() <= first.len() {
            failures.push(format!(
                "=== no new dlopen record for the changed library: {first:?} then {changed:?}"
            ));
        }
        // Without RLD_LAUNCH_CACHE_MIN this dlopen (a handful of relocations) is too small
        // for a record of its own; the start-up still gets one.
        let default = d.join("cache-default");
        let mut e = base_env();
        e.push((
            "RLD_LAUNCH_CACHE".into(),
            default.to_string_lossy().into_owned(),
        ));
        let o = Cmd {
            argv: vec![loader().to_string_lossy().into_owned(), "./lcdl".into()],
            cwd: d.clone(),
            env: e,
            stdin: vec![],
        }
        .run();
        let out = String::from_utf8_lossy(&o.stdout);
        let records = fs::read_dir(&default).map_or(0, |r| r.count());
        if !out.contains("counter seen by the program") {
            failures.push(format!(
                "=== default thresholds: the program failed: {}",
                o.status
            ));
        } else if !dlopen_records(&default).is_empty() || records != 1 {
            failures.push(format!(
                "=== default thresholds: {records} records, dlopen records {:?}",
                dlopen_records(&default)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
