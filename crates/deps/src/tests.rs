//! Host tests: gcc-built fixtures and every ELF file of the system compared with the real
//! `/lib64/ld-linux-x86-64.so.2 --list` (addresses masked).

use crate::graph::{LoadConfig, Mode};
use crate::report::{ListReport, list_report};
use rld_search::dst::{DstContext, Origin};
use rld_search::hostfs::HostFs;
use rld_search::hwcaps;
use rld_search::search::{SearchConfig, SearchPath, Searcher};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, println, vec};

const LDSO: &str = "/lib64/ld-linux-x86-64.so.2";
/// Exit status recorded when glibc's loader dies of a signal (SIGSEGV on static non-PIE programs).
const CRASHED: i32 = 128 + 11;

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
        exit_code: out.status.code().unwrap_or(CRASHED),
    }
}

/// HostFs seen from another working directory (tests must not chdir: they run in parallel).
struct CwdFs(Option<PathBuf>);

impl CwdFs {
    fn p(&self, path: &[u8]) -> Vec<u8> {
        match &self.0 {
            Some(d) if path.first() != Some(&b'/') && !path.is_empty() => {
                let mut v = d.as_os_str().as_bytes().to_vec();
                v.push(b'/');
                v.extend_from_slice(path);
                v
            }
            _ => path.to_vec(),
        }
    }
}

impl rld_search::fs::Fs for CwdFs {
    type File = rld_search::hostfs::HostFile;
    type Bytes = Vec<u8>;
    fn open(&self, path: &[u8]) -> Result<Self::File, i32> {
        HostFs.open(&self.p(path))
    }
    fn stat(&self, path: &[u8]) -> Result<rld_search::fs::FileStat, i32> {
        HostFs.stat(&self.p(path))
    }
    fn access(&self, path: &[u8], mode: rld_search::fs::Access) -> bool {
        HostFs.access(&self.p(path), mode)
    }
    fn read_whole(&self, path: &[u8]) -> Result<Vec<u8>, i32> {
        HostFs.read_whole(&self.p(path))
    }
    fn getcwd(&self) -> Result<Vec<u8>, i32> {
        match &self.0 {
            Some(d) => Ok(d.as_os_str().as_bytes().to_vec()),
            None => HostFs.getcwd(),
        }
    }
}

fn mine(program: &str, o: &Opts) -> ListReport {
    mine_in(program, o, None)
}

fn mine_in(program: &str, o: &Opts, cwd: Option<&Path>) -> ListReport {
    use rld_search::fs::Fs;
    let fs = CwdFs(cwd.map(|p| p.to_path_buf()));
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
        let origin = program_origin(program, &fs.getcwd().unwrap());
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

fn program_origin(program: &str, cwd: &[u8]) -> Option<Vec<u8>> {
    let full = if program.starts_with('/') {
        program.to_string()
    } else {
        format!("{}/{}", String::from_utf8_lossy(cwd), program)
    };
    let i = full.rfind('/')?;
    Some(full.as_bytes()[..if i == 0 { 1 } else { i }].to_vec())
}

fn assert_same(program: &str, o: &Opts) -> ListReport {
    assert_same_in(program, o, None)
}

fn assert_same_in(program: &str, o: &Opts, cwd: Option<&Path>) -> ListReport {
    let t = theirs(program, o, cwd);
    let m = mine_in(program, o, cwd);
    assert_eq!(m, t, "program {program}");
    t
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
        assert_same(p, &trace());
        let tv = Command::new(LDSO)
            .args(["--verify", p])
            .output()
            .unwrap()
            .status
            .code();
        let fs = HostFs;
        let mut srch = Searcher::new(&fs, host_config());
        assert_eq!(
            Some(crate::graph::verify_status(
                &mut srch,
                &LoadConfig::list(p.as_bytes())
            )),
            tv,
            "{p}"
        );
    }
}

// ---------- oracle over the whole system ----------

fn is_elf(p: &Path) -> bool {
    use std::io::Read;
    let mut b = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
        && b == *b"\x7fELF"
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            walk(&p, out);
        } else if md.is_file() && is_elf(&p) {
            out.push(p);
        }
    }
}

/// Compare with glibc on every ELF file under the given roots; returns (total, identical, ldd-static, diffs).
fn oracle(roots: &[&str]) -> (usize, usize, usize, Vec<String>) {
    let mut files = Vec::new();
    for r in roots {
        walk(Path::new(r), &mut files);
    }
    files.sort();
    let total = files.len();
    let nthreads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
        * 2;
    let chunks: Vec<Vec<PathBuf>> = (0..nthreads)
        .map(|i| files.iter().skip(i).step_by(nthreads).cloned().collect())
        .collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            std::thread::spawn(move || {
                let (mut same, mut stat, mut diffs) = (0usize, 0usize, Vec::new());
                for f in chunk {
                    let p = f.to_str().unwrap().to_string();
                    let o = Opts::default();
                    let t = theirs(&p, &o, None);
                    let m = mine(&p, &o);
                    // `--verify` decides whether ldd traces at all.
                    let tv = Command::new(LDSO)
                        .args(["--verify", &p])
                        .output()
                        .unwrap()
                        .status
                        .code()
                        .unwrap_or(CRASHED);
                    let mv = {
                        let fs = HostFs;
                        let mut srch = Searcher::new(&fs, host_config());
                        crate::graph::verify_status(&mut srch, &LoadConfig::list(p.as_bytes()))
                    };
                    if tv != mv {
                        diffs.push(format!("== {p} (--verify) mine {mv} glibc {tv}"));
                    }
                    // ldd's mode (LD_TRACE_LOADED_OBJECTS) must agree too, except where glibc crashes.
                    let tt = theirs(&p, &trace(), None);
                    if tt.exit_code != CRASHED {
                        let mt = mine(&p, &trace());
                        if mt != tt {
                            diffs.push(format!(
                                "== {p} (trace)\n-- mine:   {mt:?}\n-- glibc:  {tt:?}"
                            ));
                        }
                    }
                    if t.exit_code == CRASHED {
                        // glibc crashes mapping a static non-PIE program: compare with ldd's answer.
                        let ldd = Command::new("ldd").arg(&p).output().unwrap();
                        let le = String::from_utf8_lossy(&ldd.stderr).into_owned();
                        if m.stderr == "\tnot a dynamic executable\n"
                            && m.exit_code == 1
                            && le.contains("not a dynamic executable")
                            && m.stdout.is_empty()
                        {
                            stat += 1;
                        } else {
                            diffs.push(format!("== {p} (static?)\n-- mine: {m:?}\n-- ldd: {le:?}"));
                        }
                    } else if t == m {
                        same += 1;
                    } else {
                        diffs.push(format!("== {p}\n-- mine:   {m:?}\n-- glibc:  {t:?}"));
                    }
                }
                (same, stat, diffs)
            })
        })
        .collect();
    let (mut same, mut stat, mut diffs) = (0, 0, Vec::new());
    for h in handles {
        let (a, b, c) = h.join().unwrap();
        same += a;
        stat += b;
        diffs.extend(c);
    }
    (total, same, stat, diffs)
}

/// Runs in a few seconds even in debug builds, so it is not `#[ignore]`d.
#[test]
fn oracle_every_system_elf_file() {
    let roots = [
        "/usr/bin",
        "/usr/sbin",
        "/usr/libexec",
        "/usr/lib/x86_64-linux-gnu",
    ];
    let (total, same, stat, diffs) = oracle(&roots);
    let _ = std::fs::write("/tmp/rld-deps-oracle-diffs.txt", diffs.join("\n"));
    println!(
        "oracle: {total} ELF files, {same} identical to ld.so --list, {stat} static non-PIE matching ldd, {} different",
        diffs.len()
    );
    for d in diffs.iter().take(20) {
        println!("{d}");
    }
    assert!(
        diffs.is_empty(),
        "{} differences (see /tmp/rld-deps-oracle-diffs.txt)",
        diffs.len()
    );
}

// ---------- fixture scenarios ----------

const F: &str = "int f(void){return 0;}\n";
const MAIN: &str = "int main(void){return 0;}\n";

fn opts() -> Opts {
    Opts::default()
}
fn trace() -> Opts {
    Opts {
        trace: Some(1),
        ..Default::default()
    }
}

fn needs(libs: &[&Path]) -> Vec<String> {
    let mut v = vec!["-Wl,--no-as-needed".to_string()];
    for l in libs {
        v.push(format!("-L{}", l.parent().unwrap().display()));
        v.push(format!("-l:{}", l.file_name().unwrap().to_str().unwrap()));
    }
    v
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(|s| s.as_str()).collect()
}

#[test]
fn rpath_is_inherited_runpath_is_not() {
    let d = tmpdir("rpath");
    let b = lib(&d.join("B"), "libb.so", "libb.so", F, &[]);
    let mut l = needs(&[&b]);
    l.push(format!(
        "-Wl,--disable-new-dtags,-rpath,{}",
        d.join("B").display()
    ));
    let a = lib(&d.join("A"), "liba.so", "liba.so", F, &refs(&l));
    // Program with RPATH=A:B finds liba through its RPATH and libb through its own RPATH
    // (liba's RPATH would also do), while liba has RPATH only.
    let mut l = needs(&[&a]);
    l.push(format!(
        "-Wl,--disable-new-dtags,-rpath,{}:{}",
        d.join("A").display(),
        d.join("C").display()
    ));
    let p1 = exe(&d, "p_rpath", MAIN, &refs(&l));
    // libc2 in C needs libb without any path of its own: found through the program's RPATH chain? No: C
    let r = assert_same(s(&p1), &opts());
    assert!(
        r.stdout.contains("liba.so =>") && r.stdout.contains("libb.so =>"),
        "{}",
        r.stdout
    );
    assert_same(s(&p1), &trace());

    // libx (no paths) needs liby, only reachable through the program's RPATH (inherited) ...
    let y = lib(&d.join("Y"), "liby.so", "liby.so", F, &[]);
    let x = lib(&d.join("X"), "libx.so", "libx.so", F, &refs(&needs(&[&y])));
    let mut l = needs(&[&x]);
    l.push(format!(
        "-Wl,--disable-new-dtags,-rpath,{}:{}",
        d.join("X").display(),
        d.join("Y").display()
    ));
    let p2 = exe(&d, "p_rpath_chain", MAIN, &refs(&l));
    let r = assert_same(s(&p2), &opts());
    assert!(r.stdout.contains("liby.so => "), "{}", r.stdout);
    // ... but not through its RUNPATH.
    let mut l = needs(&[&x]);
    l.push(format!(
        "-Wl,--enable-new-dtags,-rpath,{}:{}",
        d.join("X").display(),
        d.join("Y").display()
    ));
    let p3 = exe(&d, "p_runpath_chain", MAIN, &refs(&l));
    let r = assert_same(s(&p3), &trace());
    assert!(r.stdout.contains("liby.so => not found"), "{}", r.stdout);
    let r = assert_same(s(&p3), &opts());
    assert_eq!(r.exit_code, 127);
    // A RUNPATH on the requester disables the RPATH chain entirely.
    let y2 = lib(&d.join("Y2"), "liby.so", "liby.so", F, &[]);
    let mut l = needs(&[&y2]);
    l.push(format!(
        "-Wl,--enable-new-dtags,-rpath,{}",
        d.join("Y2").display()
    ));
    let x2 = lib(&d.join("X2"), "libx.so", "libx.so", F, &refs(&l));
    let mut l = needs(&[&x2]);
    l.push(format!(
        "-Wl,--disable-new-dtags,-rpath,{}:{}",
        d.join("X2").display(),
        d.join("Y").display()
    ));
    let p4 = exe(&d, "p_runpath_wins", MAIN, &refs(&l));
    let r = assert_same(s(&p4), &opts());
    assert!(r.stdout.contains("/Y2/liby.so"), "{}", r.stdout);
}

#[test]
fn origin_and_relative_program_paths() {
    let d = tmpdir("origin");
    let a = lib(&d.join("lib"), "libo.so", "libo.so", F, &[]);
    let mut l = needs(&[&a]);
    l.push("-Wl,-rpath,$ORIGIN/lib".to_string());
    exe(&d, "p_origin", MAIN, &refs(&l));
    let r = assert_same(s(&d.join("p_origin")), &opts());
    assert!(r.stdout.contains("/lib/libo.so"), "{}", r.stdout);
    let r = assert_same_in("./p_origin", &opts(), Some(&d));
    assert!(r.stdout.contains("/./lib/libo.so"), "{}", r.stdout);
    assert_same_in("p_origin", &trace(), Some(&d));
    assert_same_in("../p_origin", &trace(), Some(&d.join("lib")));
}

#[test]
fn library_path_order_empty_elements_and_cache_bypass() {
    let d = tmpdir("llp");
    let one = lib(&d.join("one"), "libl.so", "libl.so", F, &[]);
    lib(&d.join("two"), "libl.so", "libl.so", F, &[]);
    let p = exe(&d, "p_llp", MAIN, &refs(&needs(&[&one])));
    for lp in [
        format!("{}:{}", d.join("two").display(), d.join("one").display()),
        format!("{};{}", d.join("one").display(), d.join("two").display()),
        format!("/nonexistent::{}/", d.join("two").display()),
        "$ORIGIN/one".to_string(),
    ] {
        let o = Opts {
            env: vec![("LD_LIBRARY_PATH".into(), lp.clone())],
            ..Default::default()
        };
        assert_same(s(&p), &o);
        let o = Opts {
            library_path_arg: Some(lp.clone()),
            env: vec![("LD_LIBRARY_PATH".into(), "/nonexistent".into())],
            ..Default::default()
        };
        assert_same(s(&p), &o);
    }
    // An empty element is the current directory.
    let o = Opts {
        env: vec![("LD_LIBRARY_PATH".into(), ":".into())],
        ..Default::default()
    };
    let r = assert_same_in(s(&p), &o, Some(&d.join("two")));
    assert!(r.stdout.contains("\tlibl.so (ADDR)"), "{}", r.stdout);
    let o = Opts {
        inhibit_cache: true,
        ..Default::default()
    };
    assert_same("/usr/bin/ls", &o);
}

#[test]
fn glibc_hwcaps_subdirectory_wins() {
    if hwcaps::host_isa_level().0 < 2 {
        return;
    }
    let d = tmpdir("hwcaps");
    let base = lib(&d.join("dir"), "libh.so", "libh.so", F, &[]);
    std::fs::create_dir_all(d.join("dir/glibc-hwcaps/x86-64-v2")).unwrap();
    std::fs::copy(&base, d.join("dir/glibc-hwcaps/x86-64-v2/libh.so")).unwrap();
    std::fs::create_dir_all(d.join("dir/tls")).unwrap();
    std::fs::copy(&base, d.join("dir/tls/libh.so")).unwrap();
    let mut l = needs(&[&base]);
    l.push(format!("-Wl,-rpath,{}", d.join("dir").display()));
    let p = exe(&d, "p_hw", MAIN, &refs(&l));
    let r = assert_same(s(&p), &opts());
    assert!(
        r.stdout.contains("glibc-hwcaps/x86-64-v2/libh.so"),
        "{}",
        r.stdout
    );
    std::fs::remove_dir_all(d.join("dir/glibc-hwcaps")).unwrap();
    let r = assert_same(s(&p), &opts());
    assert!(r.stdout.contains("/dir/tls/libh.so"), "{}", r.stdout);
}

#[test]
fn preloads_in_order_with_errors() {
    let d = tmpdir("pre");
    let p1 = lib(&d, "libp1.so", "libp1.so", F, &[]);
    let p2 = lib(&d, "libp2.so", "libp2.so", F, &[]);
    std::fs::write(d.join("libjunk.so"), vec![b'x'; 100]).unwrap();
    let list = format!(
        "{} libnonexistent.so:{} {}",
        s(&p2),
        s(&p1),
        s(&d.join("libjunk.so"))
    );
    let o = Opts {
        env: vec![("LD_PRELOAD".into(), list.clone())],
        ..Default::default()
    };
    let r = assert_same("/usr/bin/ls", &o);
    assert!(r.stderr.contains("cannot be preloaded"), "{}", r.stderr);
    let o = Opts {
        preload_arg: Some(list),
        env: vec![("LD_PRELOAD".into(), s(&p1).into())],
        ..Default::default()
    };
    assert_same("/usr/bin/ls", &o);
    let o = Opts {
        env: vec![("LD_PRELOAD".into(), "libz.so.1 libc.so.6".into())],
        ..trace()
    };
    assert_same("/usr/bin/true", &o);
    // Preloads of a program without dependencies are loaded but not listed.
    let o = Opts {
        env: vec![("LD_PRELOAD".into(), s(&p1).into())],
        ..Default::default()
    };
    assert_same(LDSO, &o);
}

#[test]
fn missing_cycles_duplicate_sonames_and_aliases() {
    let d = tmpdir("graph");
    // Cycle: libc1 <-> libc2 (link c2 first without c1, then c1 against c2, then c2 against c1).
    let c2 = lib(&d, "libcy2.so", "libcy2.so", F, &[]);
    let c1 = lib(&d, "libcy1.so", "libcy1.so", F, &refs(&needs(&[&c2])));
    lib(&d, "libcy2.so", "libcy2.so", F, &refs(&needs(&[&c1])));
    // Two files with one SONAME: DT_NEEDED "libdupb.so" leads to a file whose SONAME is
    // "libdup.so", so the later DT_NEEDED "libdup.so" is satisfied by it, not by A/libdup.so.
    let dup_a = lib(&d.join("A"), "libdup.so", "libdup.so", F, &[]);
    let dup_b = lib(&d, "libdupb.so", "libdupb.so", F, &[]);
    // Same file under two names (no SONAME, so DT_NEEDED keeps the file names).
    let al = d.join("libal.so");
    std::fs::write(d.join("al.c"), F).unwrap();
    gcc(&["-shared", "-fPIC", "-o", s(&al), s(&d.join("al.c"))]);
    std::os::unix::fs::symlink("libal.so", d.join("libal2.so")).unwrap();
    let al2 = d.join("libal2.so");
    // A library that will be missing, needed twice.
    let gone = lib(&d, "libgone.so", "libgone.so", F, &[]);
    let g2 = lib(&d, "libg2.so", "libg2.so", F, &refs(&needs(&[&gone])));
    let mut l = needs(&[&c1, &dup_b, &dup_a, &al, &al2, &gone, &g2]);
    l.push(format!(
        "-Wl,--disable-new-dtags,-rpath,{}:{}",
        d.display(),
        d.join("A").display()
    ));
    let p = exe(&d, "p_graph", MAIN, &refs(&l));
    lib(&d, "libdupb.so", "libdup.so", F, &[]);
    std::fs::remove_file(&gone).unwrap();
    let r = assert_same(s(&p), &trace());
    assert_eq!(
        r.stdout.matches("libgone.so => not found").count(),
        2,
        "{}",
        r.stdout
    );
    assert_same(
        s(&p),
        &Opts {
            trace: Some(2),
            ..Default::default()
        },
    );
    let r = assert_same(s(&p), &opts());
    assert_eq!(r.exit_code, 127);
    lib(&d, "libgone.so", "libgone.so", F, &[]);
    let r = assert_same(s(&p), &opts());
    let lines = |pat: &str| r.stdout.lines().filter(|l| l.contains(pat)).count();
    assert_eq!(lines("libal"), 1, "{}", r.stdout);
    assert_eq!(lines("libcy"), 2, "{}", r.stdout);
    assert_eq!(
        r.stdout.lines().filter(|l| l.contains("libdup")).count(),
        1,
        "{}",
        r.stdout
    );
}

#[test]
fn wrong_class_file_in_earlier_dir_is_skipped() {
    let d = tmpdir("class");
    let good = lib(&d.join("good"), "libw.so", "libw.so", F, &[]);
    std::fs::create_dir_all(d.join("bad")).unwrap();
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[4] = 1; // ELFCLASS32
    std::fs::write(d.join("bad/libw.so"), &bytes).unwrap();
    let mut other_machine = std::fs::read(&good).unwrap();
    other_machine[18] = 183; // EM_AARCH64
    std::fs::create_dir_all(d.join("arm")).unwrap();
    std::fs::write(d.join("arm/libw.so"), &other_machine).unwrap();
    let p = exe(&d, "p_class", MAIN, &refs(&needs(&[&good])));
    for lp in ["bad:arm:good", "bad", "arm", "bad:arm"] {
        let lp: Vec<String> = lp
            .split(':')
            .map(|x| d.join(x).display().to_string())
            .collect();
        let o = Opts {
            env: vec![("LD_LIBRARY_PATH".into(), lp.join(":"))],
            ..Default::default()
        };
        assert_same(s(&p), &o);
        assert_same(
            s(&p),
            &Opts {
                trace: Some(1),
                ..o
            },
        );
    }
}

#[test]
fn missing_symbol_versions_are_reported() {
    let d = tmpdir("ver");
    std::fs::write(
        d.join("v2.map"),
        "V1 { global: vf; local: *; };\nV2 { global: vg; } V1;\n",
    )
    .unwrap();
    std::fs::write(d.join("v1.map"), "V1 { global: vf; local: *; };\n").unwrap();
    let body = "int vf(void){return 1;}\nint vg(void){return 2;}\n";
    let new = lib(
        &d.join("new"),
        "libv.so",
        "libv.so",
        body,
        &[&format!(
            "-Wl,--version-script,{}",
            d.join("v2.map").display()
        )],
    );
    lib(
        &d.join("old"),
        "libv.so",
        "libv.so",
        body,
        &[&format!(
            "-Wl,--version-script,{}",
            d.join("v1.map").display()
        )],
    );
    lib(&d.join("none"), "libv.so", "libv.so", body, &[]);
    let mut l = needs(&[&new]);
    l.push(format!("-Wl,-rpath,{}", d.join("old").display()));
    let p = exe(
        &d,
        "p_ver",
        "int vg(void); int main(void){return vg();}\n",
        &refs(&l),
    );
    let r = assert_same(s(&p), &opts());
    assert!(r.stderr.contains("version `V2' not found"), "{}", r.stderr);
    assert_same(s(&p), &trace());
    let o = Opts {
        env: vec![(
            "LD_LIBRARY_PATH".into(),
            d.join("none").display().to_string(),
        )],
        ..Default::default()
    };
    let r = assert_same(s(&p), &o);
    assert!(
        r.stderr.contains("no version information available"),
        "{}",
        r.stderr
    );
}

#[test]
fn executable_kinds() {
    let d = tmpdir("kinds");
    let nopie = exe(&d, "p_nopie", MAIN, &["-no-pie"]);
    let pie = exe(&d, "p_pie", MAIN, &["-pie"]);
    let spie = exe(&d, "p_spie", MAIN, &["-static-pie"]);
    for p in [&nopie, &pie, &spie] {
        assert_same(s(p), &opts());
        assert_same(s(p), &trace());
    }
    // A PIE or an ET_EXEC found for a DT_NEEDED is a fatal error, even when tracing.
    let stub = lib(&d, "libexe.so", "libexe.so", F, &[]);
    let mut l = needs(&[&stub]);
    l.push(format!("-Wl,-rpath,{}", d.display()));
    let user = exe(&d, "p_useexe", MAIN, &refs(&l));
    for victim in [&pie, &nopie] {
        std::fs::copy(victim, &stub).unwrap();
        let r = assert_same(s(&user), &trace());
        assert_eq!(r.exit_code, 127, "{}", r.stderr);
    }
    // Static non-PIE: glibc's ld.so crashes; rld answers like ldd.
    let st = exe(&d, "p_static", MAIN, &["-static"]);
    let m = mine(s(&st), &opts());
    assert_eq!(
        (m.stdout.as_str(), m.stderr.as_str(), m.exit_code),
        ("", "\tnot a dynamic executable\n", 1)
    );
}

#[test]
fn program_named_without_slash_is_found_only_through_the_cache() {
    assert_same("libz.so.1", &opts());
    assert_same("libc.so.6", &trace());
    assert_same("ls", &opts());
    assert_same(
        "libz.so.1",
        &Opts {
            inhibit_cache: true,
            ..Default::default()
        },
    );
}

#[test]
fn needed_names_with_tokens_and_slashes() {
    let d = tmpdir("dstneed");
    // SONAMEs become DT_NEEDED strings verbatim, so they can carry DSTs and slashes.
    let o = lib(&d.join("sub"), "libdst.so", "$ORIGIN/sub/libdst.so", F, &[]);
    let l2 = lib(
        &d.join("lib/x86_64-linux-gnu"),
        "liblib.so",
        "/nonexistent/../$LIB/liblib.so",
        F,
        &[],
    );
    let rel = lib(&d.join("rel"), "librel.so", "rel/librel.so", F, &[]);
    let p = exe(&d, "p_dst", MAIN, &refs(&needs(&[&o, &l2, &rel])));
    assert_same(s(&p), &trace());
    assert_same_in("./p_dst", &trace(), Some(&d));
    assert_same_in("./p_dst", &opts(), Some(&d));
    assert_same_in(s(&p), &trace(), Some(&d.join("sub")));
}

#[test]
fn nodeflib_skips_cache_and_default_dirs() {
    let d = tmpdir("nodeflib");
    // ld honours -z nodefaultlib only for shared objects: the flag applies to that object's lookups.
    let n = lib(
        &d,
        "libnodef.so",
        "libnodef.so",
        F,
        &["-Wl,-z,nodefaultlib", "-Wl,--no-as-needed", "-lz"],
    );
    let mut l = needs(&[&n]);
    l.push(format!("-Wl,-rpath,{}", d.display()));
    let p = exe(&d, "p_nodeflib", MAIN, &refs(&l));
    let r = assert_same(s(&p), &trace());
    assert!(r.stdout.contains("libz.so.1 => not found"), "{}", r.stdout);
    let o = Opts {
        env: vec![("LD_LIBRARY_PATH".into(), "/lib/x86_64-linux-gnu".into())],
        ..Default::default()
    };
    assert_same(s(&p), &o);
}

#[test]
fn secure_mode_filters() {
    use rld_search::secure::*;
    assert_eq!(
        split_preload_list(b"a.so /x/b.so:c.so", true),
        vec![b"a.so".to_vec(), b"c.so".to_vec()]
    );
    assert_eq!(
        split_preload_list(b"a.so  /x/b.so::", false),
        vec![b"a.so".to_vec(), b"/x/b.so".to_vec()]
    );
    assert_eq!(
        parse_preload_file(b"# c\nlibx.so # y\n\tliby.so:libz.so"),
        vec![
            b"libx.so".to_vec(),
            b"liby.so".to_vec(),
            b"libz.so".to_vec()
        ]
    );
}

/// HostFs where chosen paths fail to open with EACCES (tests run as root, where glibc's
/// behaviour was recorded with `setpriv --reuid=65534`).
struct DenyFs(Vec<Vec<u8>>);

impl rld_search::fs::Fs for DenyFs {
    type File = rld_search::hostfs::HostFile;
    type Bytes = Vec<u8>;
    fn open(&self, path: &[u8]) -> Result<Self::File, i32> {
        if self.0.iter().any(|p| p == path) {
            return Err(13);
        }
        HostFs.open(path)
    }
    fn stat(&self, path: &[u8]) -> Result<rld_search::fs::FileStat, i32> {
        HostFs.stat(path)
    }
    fn access(&self, path: &[u8], mode: rld_search::fs::Access) -> bool {
        HostFs.access(path, mode)
    }
    fn read_whole(&self, path: &[u8]) -> Result<Vec<u8>, i32> {
        HostFs.read_whole(path)
    }
    fn getcwd(&self) -> Result<Vec<u8>, i32> {
        HostFs.getcwd()
    }
}

#[test]
fn unreadable_files_report_like_glibc() {
    let d = tmpdir("deny");
    let prog = d.join("prog");
    std::fs::copy("/bin/true", &prog).unwrap();
    let fs = DenyFs(vec![prog.as_os_str().as_bytes().to_vec()]);
    let mut srch = Searcher::new(&fs, host_config());
    let r = list_report(
        &mut srch,
        &LoadConfig::list(prog.as_os_str().as_bytes()),
        &|_| 0,
    );
    let p = s(&prog);
    assert_eq!(
        r.stderr,
        format!(
            "{p}: error while loading shared libraries: {p}: cannot open shared object file: Permission denied\n"
        )
    );
    assert_eq!((r.exit_code, r.stdout.as_str()), (127, ""));
    // An unreadable candidate is passed over; the final errno comes from the last directory tried.
    let a = lib(&d.join("ua"), "libua.so", "libua.so", F, &[]);
    let m = exe(&d, "m_ua", MAIN, &refs(&needs(&[&a])));
    let fs = DenyFs(vec![a.as_os_str().as_bytes().to_vec()]);
    let mut srch = Searcher::new(&fs, host_config());
    srch.config.library_path = Some(SearchPath {
        dirs: vec![format!("{}/", d.join("ua").display()).into_bytes()],
    });
    let r = list_report(
        &mut srch,
        &LoadConfig::list(m.as_os_str().as_bytes()),
        &|_| 0,
    );
    assert_eq!(
        r.stderr,
        format!(
            "{}: error while loading shared libraries: libua.so: cannot open shared object file: No such file or directory\n",
            s(&m)
        )
    );
}

#[test]
fn open_finds_library_and_its_deps_breadth_first() {
    use crate::graph::{Kind, Prior, open};
    let mut s = Searcher::new(&HostFs, host_config());
    let cfg = LoadConfig::list(b"");
    // A process with only libc loaded (plus a main program without NEEDED entries).
    let libc = "/lib/x86_64-linux-gnu/libc.so.6";
    let main = Prior {
        kind: Kind::Main,
        names: vec![Vec::new()],
        path: Vec::new(),
        loader: None,
        file_id: Default::default(),
        dynamic: Default::default(),
        origin: None,
        deps: vec![1],
    };
    let st = std::fs::metadata(libc).unwrap();
    use std::os::unix::fs::MetadataExt;
    let libc_p = Prior {
        kind: Kind::Library,
        names: vec![b"libc.so.6".to_vec()],
        path: libc.as_bytes().to_vec(),
        loader: Some(0),
        file_id: rld_search::fs::FileId {
            dev: st.dev(),
            ino: st.ino(),
        },
        dynamic: crate::elfdyn::DynInfo {
            has_dynamic: true,
            soname: Some(b"libc.so.6".to_vec()),
            ..Default::default()
        },
        origin: None,
        deps: Vec::new(),
    };
    let libc_p2 = libc_p.clone();
    let o = open(
        &mut s,
        &cfg,
        vec![main.clone(), libc_p],
        vec![0, 1],
        Some(0),
        b"libssl.so.3",
    )
    .unwrap();
    let names: Vec<String> = o
        .new
        .iter()
        .map(|&i| String::from_utf8_lossy(&o.objects[i].path).into_owned())
        .collect();
    assert!(names[0].ends_with("/libssl.so.3"), "{names:?}");
    assert!(names[1].ends_with("/libcrypto.so.3"), "{names:?}");
    assert_eq!(o.target, o.new[0]);
    assert_eq!(o.searchlist[0], o.target);
    // libc is found already loaded (by SONAME), not loaded twice.
    assert!(o.searchlist.contains(&1));
    assert!(o.objects[o.target].loader.is_none());
    // The version check: a libc that defines no GLIBC_2.x version the new objects need.
    let mut poor = libc_p2.clone();
    let name = poor.dynamic.add_name(b"libc.so.6");
    poor.dynamic.verdef = Some(vec![crate::elfdyn::VersionDef {
        version: 1,
        hash: 0,
        name,
    }]);
    let e = open(
        &mut s,
        &cfg,
        vec![main.clone(), poor],
        vec![0, 1],
        Some(0),
        b"libssl.so.3",
    )
    .unwrap_err();
    assert_eq!(e.objname, libc.as_bytes());
    assert!(e.msg.starts_with("version `GLIBC_2."), "{}", e.msg);
    assert!(e.msg.contains("not found (required by "), "{}", e.msg);
    // A missing library: glibc's error.
    let e = open(
        &mut s,
        &cfg,
        vec![main],
        vec![0],
        Some(0),
        b"libnope-rld.so",
    )
    .unwrap_err();
    assert_eq!(e.msg, "cannot open shared object file");
    assert_eq!(e.objname, b"libnope-rld.so");
    assert_eq!(e.errno, 2);
}

/// `open_in` over a table kept between opens (what dlopen does): a failed open leaves the
/// table as it was, a successful one appends its new objects, and a later open finds them.
#[test]
fn open_in_keeps_the_table_between_opens() {
    let d = tmpdir("open-in");
    lib(
        &d,
        "libdep.so",
        "libdep.so",
        "int dep(void) { return 1; }",
        &[],
    );
    let dl = format!("-L{}", s(&d));
    let rp = "-Wl,-rpath,$ORIGIN".to_string();
    lib(
        &d,
        "liba.so",
        "liba.so",
        "int dep(void); int a(void) { return dep(); }",
        &[&dl, "-ldep", &rp],
    );
    lib(
        &d,
        "libmissing.so",
        "libmissing.so",
        "int m(void) { return 2; }",
        &[],
    );
    lib(
        &d,
        "libbad.so",
        "libbad.so",
        "int m(void); int bad(void) { return m(); }",
        &[&dl, "-lmissing"],
    );
    std::fs::remove_file(d.join("libmissing.so")).unwrap();
    let prog = exe(&d, "prog", "int main(void) { return 0; }", &[]);
    let fs = HostFs;
    let mut searcher = Searcher::new(&fs, host_config());
    let mut lc = LoadConfig::list(s(&prog).as_bytes());
    let g = crate::graph::build(&mut searcher, &lc).unwrap();
    lc.mode = Mode::Normal;
    let mut objects = g.objects;
    let mut chain = g.chain;
    let n = objects.len();

    let bad = d.join("libbad.so");
    let e = crate::graph::open_in(
        &mut searcher,
        &lc,
        &mut objects,
        chain.clone(),
        Some(g.main),
        s(&bad).as_bytes(),
    )
    .unwrap_err();
    assert!(e.msg.contains("cannot open shared object file"), "{e:?}");
    assert_eq!(objects.len(), n);

    let a = d.join("liba.so");
    let r = crate::graph::open_in(
        &mut searcher,
        &lc,
        &mut objects,
        chain.clone(),
        Some(g.main),
        s(&a).as_bytes(),
    )
    .unwrap();
    assert_eq!(r.new, vec![n, n + 1]);
    assert_eq!(r.target, n);
    assert_eq!(r.searchlist, vec![n, n + 1]);
    assert_eq!(objects.len(), n + 2);
    assert_eq!(objects[n].deps, vec![n + 1]);
    assert!(objects[n + 1].path.ends_with(b"/libdep.so"));
    chain.extend_from_slice(&r.new);

    // Opened again, and its dependency by SONAME on behalf of liba: nothing new.
    let again = crate::graph::open_in(
        &mut searcher,
        &lc,
        &mut objects,
        chain.clone(),
        Some(g.main),
        s(&a).as_bytes(),
    )
    .unwrap();
    assert!(again.new.is_empty());
    assert_eq!(again.target, n);
    let dep = crate::graph::open_in(
        &mut searcher,
        &lc,
        &mut objects,
        chain.clone(),
        Some(n),
        b"libdep.so",
    )
    .unwrap();
    assert!(dep.new.is_empty());
    assert_eq!(dep.target, n + 1);
    assert_eq!(objects.len(), n + 2);
    let _ = std::fs::remove_dir_all(&d);
}

/// The kernel-mapped program's origin is computed on demand (`LoadConfig::exe_origin_lazy`):
/// once for a program whose RPATH names $ORIGIN, never for one that does not (whose origin
/// then stays unknown, as glibc leaves `l_origin` NULL).
#[test]
fn kernel_mapped_program_origin_is_computed_only_when_a_token_needs_it() {
    use crate::elfdyn::read_dyn_info;
    use rld_search::fs::Fs;
    use rld_search::verify::{Verified, verify};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DIR: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    fn origin() -> Option<Vec<u8>> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        Some(DIR.lock().unwrap().clone())
    }
    let d = tmpdir("lazy-origin");
    let a = lib(&d.join("lib"), "libo.so", "libo.so", F, &[]);
    let mut l = needs(&[&a]);
    l.push("-Wl,-rpath,$ORIGIN/lib".to_string());
    let with = exe(&d, "p_with", MAIN, &refs(&l));
    let without = exe(&d, "p_without", MAIN, &[]);
    *DIR.lock().unwrap() = d.as_os_str().as_bytes().to_vec();
    let fs = HostFs;
    for (prog, calls) in [(&without, 0), (&with, 1)] {
        let h = fs.open(prog.as_os_str().as_bytes()).unwrap();
        let Ok(Verified::Usable(hdr)) = verify(&h) else {
            panic!("{} is not usable", prog.display())
        };
        let dynamic = read_dyn_info(&h, &hdr);
        let mut lc = LoadConfig::list(b"prog");
        lc.mode = Mode::Normal;
        lc.main_loaded = Some((hdr, dynamic));
        lc.exe_origin_lazy = Some(origin);
        let before = CALLS.load(Ordering::SeqCst);
        let mut s = Searcher::new(&fs, host_config());
        let g = crate::graph::build(&mut s, &lc).unwrap();
        assert_eq!(
            CALLS.load(Ordering::SeqCst) - before,
            calls,
            "{}",
            prog.display()
        );
        let main = g.objects.get(g.main).unwrap();
        assert_eq!(main.origin.is_some(), calls == 1, "{}", prog.display());
        if calls == 1 {
            let found = g.objects.iter().any(|o| o.path.ends_with(b"/lib/libo.so"));
            assert!(found, "libo.so found through $ORIGIN/lib");
        }
    }
}
