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
