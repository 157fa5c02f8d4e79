//! `rld --list` against glibc's `ld.so --list` on every ELF file of this machine's program and
//! library directories: identical stdout, stderr and exit status, load addresses masked.
//! Also `LD_TRACE_LOADED_OBJECTS=1` and the system's `ldd` script driven by rld.

use std::path::{Path, PathBuf};
use std::process::Command;

const LDSO: &str = "/lib64/ld-linux-x86-64.so.2";
const RLD: &str = env!("CARGO_BIN_EXE_rld");

fn mask(s: &[u8]) -> String {
    let s = String::from_utf8_lossy(s);
    let mut out = String::with_capacity(s.len());
    let mut rest = &*s;
    while let Some(i) = rest.find("(0x") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 3..];
        let end = tail
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(tail.len());
        if tail[end..].starts_with(')') {
            out.push_str("(ADDR)");
            rest = &tail[end + 1..];
        } else {
            out.push_str("(0x");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn run(cmd: &mut Command) -> (String, String, Option<i32>) {
    let o = cmd.output().expect("spawn");
    (mask(&o.stdout), mask(&o.stderr), o.status.code())
}

/// Both loaders are invoked through symlinks of the same name in sibling directories of
/// equal length, `.../g/ld.so` (glibc) and `.../r/ld.so` (rld): a loader names its own link
/// map as it was invoked (`PT_INTERP => argv[0]` in the list), so that part of the output is
/// compared too, with rld's directory mapped to glibc's.
struct Loaders {
    glibc: String,
    rld: String,
}

fn loaders() -> &'static Loaders {
    static L: std::sync::OnceLock<Loaders> = std::sync::OnceLock::new();
    L.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rld-list-oracle-{}", std::process::id()));
        let mk = |sub: &str, target: &str| {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).unwrap();
            let link = d.join("ld.so");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(target, &link).unwrap();
            link.to_string_lossy().into_owned()
        };
        Loaders {
            glibc: mk("g", LDSO),
            rld: mk("r", RLD),
        }
    })
}

/// rld's output with its invocation path replaced by glibc's.
fn as_glibc(r: (String, String, Option<i32>)) -> (String, String, Option<i32>) {
    let l = loaders();
    (
        r.0.replace(&l.rld, &l.glibc),
        r.1.replace(&l.rld, &l.glibc),
        r.2,
    )
}

fn elf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            elf_files(&p, out);
        } else if ft.is_file() {
            let mut magic = [0u8; 4];
            if let Ok(mut f) = std::fs::File::open(&p) {
                use std::io::Read;
                if f.read_exact(&mut magic).is_ok() && &magic == b"\x7fELF" {
                    out.push(p);
                }
            }
        }
    }
}

#[test]
fn list_matches_glibc_on_every_elf_file() {
    let mut files = Vec::new();
    for d in [
        "/usr/bin",
        "/usr/sbin",
        "/usr/libexec",
        "/usr/lib/x86_64-linux-gnu",
    ] {
        elf_files(Path::new(d), &mut files);
    }
    files.sort();
    let (mut same, mut static_exec, mut diffs) = (0, 0, Vec::new());
    for f in &files {
        let g = run(Command::new(&loaders().glibc).arg("--list").arg(f));
        let r = as_glibc(run(Command::new(&loaders().rld).arg("--list").arg(f)));
        if g.2.is_none() {
            // glibc's ld.so crashes on static non-PIE executables; rld answers like ldd.
            assert_eq!(r.1, "\tnot a dynamic executable\n", "{}", f.display());
            assert_eq!(r.2, Some(1), "{}", f.display());
            static_exec += 1;
        } else if g == r {
            same += 1;
        } else {
            diffs.push(format!(
                "{}:\n  glibc: {:?}\n  rld:   {:?}",
                f.display(),
                g,
                r
            ));
        }
    }
    println!(
        "{} ELF files: {} identical, {} static executables (glibc crashes, rld answers as ldd), {} different",
        files.len(),
        same,
        static_exec,
        diffs.len()
    );
    assert!(files.len() > 500, "expected a populated system");
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
}

/// `ldd -u` on every program: LD_DEBUG=unused in trace mode resolves the program's own
/// references and lists the DT_NEEDED objects nothing binds to (Debian links with
/// --as-needed, so most say nothing; the fixture tests have ones that do).
#[test]
fn unused_dependencies_match_glibc_on_every_program() {
    let mut files = Vec::new();
    elf_files(Path::new("/usr/bin"), &mut files);
    files.sort();
    let mut diffs = Vec::new();
    for f in &files {
        let mut g = Command::new(&loaders().glibc);
        let mut r = Command::new(&loaders().rld);
        for c in [&mut g, &mut r] {
            c.arg(f)
                .env("LD_TRACE_LOADED_OBJECTS", "1")
                .env("LD_DEBUG", "unused")
                .env_remove("LD_LIBRARY_PATH")
                .env_remove("LD_PRELOAD");
        }
        let (g, r) = (run(&mut g), as_glibc(run(&mut r)));
        // glibc's ld.so crashes on static non-PIE executables (see above).
        if g.2.is_some() && g != r {
            diffs.push(format!("{}:\n  glibc: {g:?}\n  rld:   {r:?}", f.display()));
        }
    }
    assert!(files.len() > 300, "expected a populated /usr/bin");
    assert!(diffs.is_empty(), "differences:\n{}", diffs.join("\n"));
}

#[test]
fn trace_env_and_options_match_glibc() {
    type Env<'a> = &'a [(&'a str, &'a str)];
    type Args<'a> = &'a [&'a str];
    let cases: &[(Env, Args)] = &[
        (&[("LD_TRACE_LOADED_OBJECTS", "1")], &["/usr/bin/ls"]),
        (&[("LD_TRACE_LOADED_OBJECTS", "2")], &["/usr/bin/true"]),
        (&[], &["--list", "--inhibit-cache", "/usr/bin/ls"]),
        (
            &[],
            &[
                "--list",
                "--library-path",
                "/nonexistent:/usr/lib",
                "/usr/bin/ls",
            ],
        ),
        (&[("LD_LIBRARY_PATH", "/tmp")], &["--list", "/usr/bin/ls"]),
        (&[], &["--list", "--preload", "libm.so.6", "/usr/bin/true"]),
        (
            &[("LD_PRELOAD", "libnope.so")],
            &["--list", "/usr/bin/true"],
        ),
        (&[], &["--list", "/nonexistent"]),
        (&[], &["--list", "/etc"]),
        (&[], &["--list", "/etc/passwd"]),
        (&[], &["--verify", "/usr/bin/ls"]),
        (&[], &["--verify", LDSO]),
        (&[], &["--verify", "/etc/passwd"]),
    ];
    for (env, args) in cases {
        let mut g = Command::new(&loaders().glibc);
        let mut r = Command::new(&loaders().rld);
        for c in [&mut g, &mut r] {
            c.args(*args)
                .env_remove("LD_LIBRARY_PATH")
                .env_remove("LD_PRELOAD");
            for (k, v) in *env {
                c.env(k, v);
            }
        }
        let (g, r) = (run(&mut g), as_glibc(run(&mut r)));
        assert_eq!(g, r, "env {env:?} args {args:?}");
    }
}

#[test]
fn system_ldd_script_works_with_rld() {
    // ldd hard-codes its loader list; a copy pointing at rld drives it exactly as glibc's.
    let dir = std::env::temp_dir().join(format!("rld-ldd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = std::fs::read_to_string("/usr/bin/ldd").unwrap();
    let with_loader = |loader: &str| -> String {
        script
            .lines()
            .map(|l| {
                if l.starts_with("RTLDLIST=") {
                    format!("RTLDLIST=\"{loader}\"")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (ldd_g, ldd_r) = (dir.join("ldd-glibc"), dir.join("ldd-rld"));
    std::fs::write(&ldd_g, with_loader(&loaders().glibc)).unwrap();
    std::fs::write(&ldd_r, with_loader(&loaders().rld)).unwrap();
    for prog in [
        "/usr/bin/ls",
        "/usr/bin/curl",
        "/etc/passwd",
        "/lib/x86_64-linux-gnu/libc.so.6",
    ] {
        let g = run(Command::new("bash").arg(&ldd_g).arg(prog));
        let r = as_glibc(run(Command::new("bash").arg(&ldd_r).arg(prog)));
        assert_eq!(g, r, "ldd {prog}");
    }
    // The system script itself (glibc's loader by its PT_INTERP path) and ours agree when
    // rld is invoked by that same name.
    let sys = run(Command::new("bash").arg("/usr/bin/ldd").arg("/usr/bin/ls"));
    assert!(
        sys.0.contains("\t/lib64/ld-linux-x86-64.so.2 (ADDR)\n"),
        "{sys:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
