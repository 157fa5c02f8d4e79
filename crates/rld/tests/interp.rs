//! rld as the PT_INTERP of a gcc-built program (PIE and non-PIE): the kernel maps both, rld
//! loads libc and runs the program.

use std::path::PathBuf;
use std::process::Command;

const RLD: &str = env!("CARGO_BIN_EXE_rld");

fn fixture(name: &str, src: &str, extra: &[&str]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rld-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    // Distinct output per profile: both debug and release test runs may share the dir.
    let exe = dir.join(format!(
        "{name}-{}",
        if cfg!(debug_assertions) { "dbg" } else { "rel" }
    ));
    let st = Command::new("gcc")
        .arg("-O2")
        .arg(&c)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-Wl,--dynamic-linker={RLD}"))
        .args(extra)
        .status()
        .expect("gcc");
    assert!(st.success());
    exe
}

const HELLO: &str = "#include <stdio.h>\nint main(void){puts(\"hello\");return 0;}\n";

#[test]
fn starts_as_pt_interp() {
    for (name, extra) in [("hello-pie", &[][..]), ("hello-nopie", &["-no-pie"][..])] {
        let exe = fixture(name, HELLO, extra);
        let o = Command::new(&exe)
            .args(["a", "b"])
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{name}: {o:?}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\n", "{name}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "", "{name}");
    }
}

#[test]
fn pt_interp_with_env_does_not_crash() {
    let exe = fixture("hello-env", HELLO, &[]);
    for (k, v) in [
        ("LD_TRACE_LOADED_OBJECTS", "1"),
        ("LD_DEBUG", "libs,bogus"),
        ("LD_LIBRARY_PATH", "/nonexistent"),
        ("LD_BIND_NOW", "1"),
        ("LD_SHOW_AUXV", "1"),
    ] {
        let o = Command::new(&exe).env(k, v).output().unwrap();
        assert!(
            o.status.code().is_some(),
            "{k}={v}: killed by signal: {o:?}"
        );
    }
    let o = Command::new(&exe).env("LD_DEBUG", "help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Valid options for the LD_DEBUG"));
}

/// A libc.so.6 whose build-id rld does not know: rld must say so and hand the program to
/// the system's loader, which runs it (here with the same code, so the output is normal).
#[test]
fn unknown_glibc_build_is_handed_to_the_system_loader() {
    let libc = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").unwrap();
    let notes = Command::new("readelf")
        .args(["-n", "/lib/x86_64-linux-gnu/libc.so.6"])
        .output()
        .unwrap();
    let notes = String::from_utf8_lossy(&notes.stdout).to_string();
    let hex = notes
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("libc has a build-id")
        .to_string();
    let id: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let at = libc
        .windows(id.len())
        .position(|w| w == id.as_slice())
        .expect("build-id bytes in the file");
    let mut patched = libc.clone();
    patched[at + id.len() - 1] ^= 0x5a;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("unknown-libc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("libc.so.6"), &patched).unwrap();

    let exe = fixture("hello-unknown", HELLO, &[]);
    let runs = [
        Command::new(RLD)
            .arg(&exe)
            .env_clear()
            .env("LD_LIBRARY_PATH", &dir)
            .output()
            .unwrap(),
        Command::new(&exe)
            .env_clear()
            .env("LD_LIBRARY_PATH", &dir)
            .output()
            .unwrap(),
    ];
    for o in runs {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\n");
        assert!(
            err.starts_with("rld: ") && err.contains("libc.so.6: unsupported glibc build"),
            "{err}"
        );
        assert!(
            err.trim_end()
                .ends_with("handing the program to /lib64/ld-linux-x86-64.so.2"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
