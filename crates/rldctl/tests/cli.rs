//! rldctl shows the same objects, in the same places, as glibc's ld.so --list.
use std::process::Command;

const RLDCTL: &str = env!("CARGO_BIN_EXE_rldctl");

#[test]
fn tree_names_every_object_glibc_lists_at_the_same_path() {
    let prog = "/usr/bin/curl";
    let glibc = Command::new("/lib64/ld-linux-x86-64.so.2")
        .args(["--list", prog])
        .output()
        .unwrap();
    let tree = Command::new(RLDCTL)
        .args(["tree", prog, "--json"])
        .output()
        .unwrap();
    assert!(tree.status.success());
    let json = String::from_utf8(tree.stdout).unwrap();
    for line in String::from_utf8(glibc.stdout).unwrap().lines() {
        if let Some((_, rest)) = line.split_once(" => ") {
            let path = rest.split(" (").next().unwrap();
            assert!(
                json.contains(&format!("\"path\":\"{path}\"")),
                "{path} missing from {json}"
            );
        }
    }
}

#[test]
fn why_gives_the_chain_from_the_program() {
    let out = Command::new(RLDCTL)
        .args(["why", "libpcre2-8.so.0", "/usr/bin/ls"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "/usr/bin/ls");
    assert!(lines[1].contains("libselinux.so.1 => /lib/x86_64-linux-gnu/libselinux.so.1"));
    assert!(lines[2].contains("libpcre2-8.so.0") && lines[2].contains("[/etc/ld.so.cache]"));
    let none = Command::new(RLDCTL)
        .args(["why", "libnope.so", "/usr/bin/ls"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
}
