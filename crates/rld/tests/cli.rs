//! Runs the built `rld` binary and compares exit codes and messages with glibc's loader
//! (the oracle), with rld's path in place of ld.so's.

use std::process::{Command, Output};

const RLD: &str = env!("CARGO_BIN_EXE_rld");
const GLIBC_LDSO: &str = "/lib64/ld-linux-x86-64.so.2";

fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin);
    c.args(args).env_clear();
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("spawn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Same exit code and the same stderr once each loader's own path is normalised.
fn same_as_glibc(args: &[&str], env: &[(&str, &str)]) {
    let ours = run(RLD, args, env);
    let theirs = run(GLIBC_LDSO, args, env);
    assert!(
        ours.status.code().is_some(),
        "rld killed by a signal for {args:?}"
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "exit code for {args:?}"
    );
    assert_eq!(
        text(&ours.stderr).replace(RLD, "LDSO"),
        text(&theirs.stderr).replace(GLIBC_LDSO, "LDSO"),
        "stderr for {args:?}"
    );
}

#[test]
fn option_errors_match_glibc() {
    for args in [
        &[][..],
        &["--bogus"],
        &["--bogus", "--version"],
        &["--help", "--bogus"],
        &["--"],
        &["--", "/bin/true"],
        &["--list"],
        &["--verify"],
        &["--inhibit-cache"],
        &["--list", "--inhibit-cache", "--library-path", "/x"],
        &["--library-path"],
        &["--inhibit-rpath"],
        &["--audit"],
        &["--preload"],
        &["--argv0"],
        &["--glibc-hwcaps-prepend"],
        &["--glibc-hwcaps-mask"],
        &["--list-diagnostics", "--bogus"],
    ] {
        same_as_glibc(args, &[]);
    }
}

#[test]
fn no_args_is_missing_program() {
    let o = run(RLD, &[], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        format!("{RLD}: missing program name\nTry '{RLD} --help' for more information.\n")
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn version_exits_0() {
    for args in [
        &["--version"][..],
        &["--version", "--bogus"],
        &["--list", "--version"],
    ] {
        let o = run(RLD, args, &[]);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(text(&o.stdout).starts_with("rld "), "{}", text(&o.stdout));
        assert!(o.stderr.is_empty());
    }
}

#[test]
fn help_matches_glibc() {
    // The whole text, search path and hwcaps sections included, in several configurations.
    type Args<'a> = &'a [&'a str];
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Args, Env); 4] = [
        (&["--help"], &[]),
        (
            &[
                "--glibc-hwcaps-mask",
                "x86-64-v2",
                "--glibc-hwcaps-prepend",
                "foo:bar",
                "--help",
            ],
            &[("LD_LIBRARY_PATH", "/tmp/a:/usr/lib/::")],
        ),
        (&["--library-path", "/x:/lib", "--help"], &[]),
        (&["--help"], &[("GLIBC_TUNABLES", "glibc.cpu.hwcap_mask=2")]),
    ];
    for (args, env) in cases {
        let ours = run(RLD, args, env);
        let theirs = run(GLIBC_LDSO, args, env);
        assert_eq!(ours.status.code(), Some(0));
        assert_eq!(theirs.status.code(), Some(0));
        assert!(text(&theirs.stdout).contains("Legacy HWCAP subdirectories"));
        assert_eq!(
            text(&ours.stdout).replacen(RLD, "LDSO", 1),
            text(&theirs.stdout).replacen(GLIBC_LDSO, "LDSO", 1),
            "{args:?} {env:?}"
        );
    }
}

#[test]
fn ld_debug_help_and_warnings_match_glibc() {
    let env = [("LD_DEBUG", "help")];
    let ours = run(RLD, &["--version"], &env);
    let theirs = run(GLIBC_LDSO, &["--version"], &env);
    assert_eq!(ours.status.code(), Some(0));
    assert_eq!(text(&ours.stdout), text(&theirs.stdout));

    let env = [("LD_DEBUG", "foo,libs:bar  files")];
    let ours = run(RLD, &["--version"], &env);
    let theirs = run(GLIBC_LDSO, &["--version"], &env);
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(text(&ours.stderr), text(&theirs.stderr));
}

#[test]
fn explicit_program_runs_with_its_exit_code() {
    for (prog, code) in [("/bin/true", 0), ("/bin/false", 1)] {
        let ours = run(RLD, &[prog], &[]);
        let theirs = run(GLIBC_LDSO, &[prog], &[]);
        assert_eq!(ours.status.code(), Some(code), "{prog}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{prog}");
        assert_eq!(text(&ours.stderr), text(&theirs.stderr), "{prog}");
    }
}

#[test]
fn ld_show_auxv_matches_glibc_format() {
    // Values differ per process (addresses, the loader's own PHNUM/EXECFN); the lines, their
    // order, labels and number formats must be glibc's.
    let mask = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("AT_PHNUM") && !l.starts_with("AT_EXECFN"))
            .map(|l| match l.split_once(':') {
                Some((k, v)) => {
                    let v = v.trim_start();
                    let kind = if v.starts_with("0x") {
                        "hex0x"
                    } else if v.chars().all(|c| c.is_ascii_digit()) {
                        "dec"
                    } else if v.chars().all(|c| c.is_ascii_hexdigit()) {
                        "hex"
                    } else {
                        "str"
                    };
                    format!("{k}: {kind} @{}", l.len() - v.len())
                }
                None => l.to_string(),
            })
            .collect()
    };
    let env = [("LD_SHOW_AUXV", "1")];
    let ours = run(RLD, &["/bin/true"], &env);
    let theirs = run(GLIBC_LDSO, &["/bin/true"], &env);
    assert_eq!(ours.status.code(), Some(0));
    let (o, t) = (mask(&text(&ours.stdout)), mask(&text(&theirs.stdout)));
    assert!(t.len() > 10, "glibc printed {t:?}");
    assert_eq!(o, t);
}
