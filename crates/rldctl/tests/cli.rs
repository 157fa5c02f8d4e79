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

#[test]
fn cache_lists_and_clears_records() {
    use rld_link::launch::Writer;
    use rld_link::{Binding, Namespace, ObjPlan};
    let dir = std::env::temp_dir().join(format!("rldctl-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut plan = ObjPlan::with_capacity(2);
    plan.insert(4, Binding::Def { obj: 1, sym: 3 });
    plan.insert(8, Binding::UndefWeak);
    let mut w = Writer::new(&[1, 2, 3], b"/usr/bin/example", b"");
    let ns = Namespace::new(Vec::new(), Vec::new());
    w.add_plan(0, &plan, &ns);
    std::fs::write(dir.join("fe00-1234"), w.finish(&ns).unwrap()).unwrap();
    std::fs::write(dir.join("fe00-99"), b"not a record").unwrap();
    // A writer that is gone (pid 0xfffffff is above any pid_max) and one that is running.
    std::fs::write(dir.join("fe00-1234.tmp.fffffff"), b"half written").unwrap();
    let me = format!("fe00-1234.tmp.{:x}", std::process::id());
    std::fs::write(dir.join(&me), b"being written").unwrap();
    let run = |what: &str| {
        let o = Command::new(RLDCTL)
            .args(["cache", what])
            .env("RLD_LAUNCH_CACHE", &dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let list = run("list");
    let line = list.lines().find(|l| l.contains("fe00-1234")).unwrap_or("");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cols.get(..3),
        Some(&["/usr/bin/example", "1", "2"][..]),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("(unreadable)") && l.ends_with("fe00-99")),
        "{list}"
    );
    assert!(!list.contains(".tmp."), "{list}");
    assert!(run("clear").contains("removed 2 launch-cache records"));
    assert!(!dir.join("fe00-1234").exists() && !dir.join("fe00-99").exists());
    assert!(
        !dir.join("fe00-1234.tmp.fffffff").exists(),
        "a dead writer's file stays"
    );
    assert!(dir.join(&me).exists(), "a running writer's file is removed");
    let _ = std::fs::remove_dir_all(&dir);
}
