//! Differential test against glibc's own choices: run real programs under
//! `LD_DEBUG=scopes,reloc,bindings,statistics LD_BIND_NOW=1`, rebuild the same global scope from
//! the files on disk (read, not mapped), plan every symbolic relocation and require that each
//! glibc "binding file X to Y: normal symbol `N' [V]" line is reproduced, and vice versa.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Instant;

use rld_elf::dynamic::DynamicInfo;
use rld_elf::file::ElfFile;
use rld_link::from_elf::obj_view;
use rld_link::object::{ObjKind, ObjView, STB_LOCAL};
use rld_link::plan::{Binding, plan};
use rld_link::{Namespace, ObjId};

#[derive(Default, Debug)]
struct GlibcRun {
    scope: Vec<String>,
    reloc_order: Vec<String>,
    /// (from, to, name, version or "", protected)
    bindings: Vec<(String, String, String, String, bool)>,
    lookups: u64,
    cache_hits: u64,
}

fn run_glibc(argv: &[&str]) -> GlibcRun {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .env("LD_DEBUG", "scopes,reloc,bindings,statistics")
        .env("LD_BIND_NOW", "1")
        .output()
        .expect("run program");
    let err = String::from_utf8_lossy(&out.stderr);
    let mut r = GlibcRun::default();
    let mut in_main_scope = false;
    for raw in err.lines() {
        let Some((_, line)) = raw.split_once(":\t") else {
            continue;
        };
        if line.starts_with("runtime linker statistics") {
            in_main_scope = false;
        }
        if let Some(rest) = line.strip_prefix("object=") {
            in_main_scope = r.scope.is_empty() && rest.starts_with(argv[0]);
        } else if let Some(rest) = line.strip_prefix(" scope 0: ") {
            if in_main_scope && r.scope.is_empty() {
                r.scope = rest.split(' ').map(String::from).collect();
            }
        } else if let Some(rest) = line.strip_prefix("relocation processing: ") {
            r.reloc_order
                .push(rest.trim_end_matches(" (lazy)").to_string());
        } else if let Some(rest) = line.strip_prefix("binding file ") {
            // X [0] to Y [0]: normal symbol `N' [V]
            let (from, rest) = rest.split_once(" [").unwrap();
            let (_, rest) = rest.split_once("] to ").unwrap();
            let (to, rest) = rest.split_once(" [").unwrap();
            let (_, rest) = rest.split_once("]: ").unwrap();
            let protected = rest.starts_with("protected");
            let (_, rest) = rest.split_once('`').unwrap();
            let (name, rest) = rest.rsplit_once('\'').unwrap();
            let ver = rest
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            r.bindings
                .push((from.into(), to.into(), name.into(), ver, protected));
        } else if let Some(rest) = line.trim().strip_prefix("number of relocations: ") {
            r.lookups = rest.trim().parse().unwrap();
        } else if let Some(rest) = line
            .trim()
            .strip_prefix("number of relocations from cache: ")
        {
            r.cache_hits = rest.trim().parse().unwrap();
        }
        if line.starts_with("calling init") || line.starts_with("transferring control") {
            break;
        }
    }
    r
}

struct Loaded {
    bytes: Vec<Vec<u8>>,
    names: Vec<String>,
}

fn views<'a>(l: &'a Loaded, exe: &str) -> Vec<ObjView<'a>> {
    l.bytes
        .iter()
        .zip(&l.names)
        .map(|(b, n)| {
            let f = ElfFile::parse(b).expect("parse");
            let d = f.dynamic().expect("dynamic").expect("has dynamic");
            let info = DynamicInfo::new(d);
            let is_exe = n == exe;
            let kind = if is_exe {
                ObjKind::Executable
            } else {
                ObjKind::Library
            };
            let name: &'a [u8] = if is_exe { b"" } else { n.as_bytes() };
            obj_view(&f.memory(), &info, name, kind).expect("view")
        })
        .collect()
}

fn check_program(argv: &[&str], iters: u32) {
    let g = run_glibc(argv);
    assert!(!g.scope.is_empty(), "no scope parsed for {argv:?}");
    assert!(!g.bindings.is_empty());
    let exe = argv[0];
    let loaded = Loaded {
        bytes: g
            .scope
            .iter()
            .map(|p| std::fs::read(p).expect("read object"))
            .collect(),
        names: g.scope.clone(),
    };
    let idx: BTreeMap<&str, ObjId> = g
        .scope
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as ObjId))
        .collect();
    let order: Vec<ObjId> = g
        .reloc_order
        .iter()
        .filter_map(|n| idx.get(n.as_str()).copied())
        .collect();
    assert_eq!(
        order.len(),
        g.reloc_order.len(),
        "every relocated object is in the global scope"
    );

    let mut ns = Namespace::new(views(&loaded, exe), (0..g.scope.len() as ObjId).collect());
    let p = plan(&mut ns, &order);
    assert_eq!(p.first_error, None);

    // Our bindings as glibc would print them (lookups only: not local/hidden refs, not undef weak).
    let mut ours: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    let mut count = 0usize;
    for &id in &order {
        let o = &ns.objs[id as usize];
        for (k, b) in p.objs[id as usize]
            .keys
            .iter()
            .zip(&p.objs[id as usize].bindings)
        {
            let symidx = k >> 2;
            let rs = o.sym(symidx).unwrap();
            if rs.bind() == STB_LOCAL || rs.binds_local() {
                continue;
            }
            let Binding::Def { obj, .. } = *b else {
                continue;
            };
            let ver = o
                .versym(symidx)
                .map(|v| o.version(v & 0x7fff))
                .filter(|v| v.hash != 0)
                .map(|v| String::from_utf8_lossy(v.name).into_owned())
                .unwrap_or_default();
            ours.insert((
                g.scope[id as usize].clone(),
                g.scope[obj as usize].clone(),
                String::from_utf8_lossy(o.sym_name(&rs)).into_owned(),
                ver,
            ));
            count += 1;
        }
    }
    let theirs: BTreeSet<(String, String, String, String)> = g
        .bindings
        .iter()
        .filter(|b| !b.0.starts_with("linux-vdso"))
        .map(|b| (b.0.clone(), b.1.clone(), b.2.clone(), b.3.clone()))
        .collect();
    let missing: Vec<_> = theirs.difference(&ours).take(10).collect();
    let extra: Vec<_> = ours.difference(&theirs).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{argv:?}: glibc-only {missing:#?}\nours-only {extra:#?}"
    );

    // Timing of planning alone (objects already read and views built).
    let t = Instant::now();
    for _ in 0..iters {
        let mut ns = Namespace::new(views(&loaded, exe), (0..g.scope.len() as ObjId).collect());
        std::hint::black_box(plan(&mut ns, &order));
    }
    let with_views = t.elapsed() / iters;
    let vs: Vec<Vec<ObjView>> = (0..iters).map(|_| views(&loaded, exe)).collect();
    let t = Instant::now();
    for v in vs {
        let mut ns = Namespace::new(v, (0..g.scope.len() as ObjId).collect());
        std::hint::black_box(plan(&mut ns, &order));
    }
    let plan_only = t.elapsed() / iters;
    let t = Instant::now();
    for _ in 0..iters {
        std::hint::black_box(views(&loaded, exe));
    }
    std::println!("views alone: {:?}", t.elapsed() / iters);
    let mut nm = Namespace::new(views(&loaded, exe), (0..g.scope.len() as ObjId).collect());
    nm.use_memo = false;
    let t = Instant::now();
    let p2 = plan(&mut nm, &order);
    let nomemo = t.elapsed();
    assert_eq!(p2, p, "memo changes nothing");
    std::println!(
        "{argv:?}: {} objects; glibc printed {} binding lines ({} distinct), {} lookups + {} cache hits; \
         we compared {} distinct bindings, planned {} (sym,class) entries: {} lookup calls, {} scans, {} memo hits, {} dedup hits, {} objects probed (without memo: {} scans, {} probed); \
         plan {:?} (+views {:?}), no-memo plan {:?}",
        g.scope.len(),
        g.bindings.len(),
        theirs.len(),
        g.lookups,
        g.cache_hits,
        ours.len(),
        count,
        ns.stats.lookups,
        ns.stats.scans,
        ns.stats.memo_hits,
        ns.stats.dedup_hits,
        ns.stats.objects_probed,
        nm.stats.scans,
        nm.stats.objects_probed,
        plan_only,
        with_views,
        nomemo
    );
}

#[test]
fn ls_matches_glibc() {
    check_program(&["/usr/bin/ls", "--version"], 20);
}

#[test]
fn curl_matches_glibc() {
    if std::path::Path::new("/usr/bin/curl").exists() {
        check_program(&["/usr/bin/curl", "--version"], 10);
    }
}

#[test]
fn gdb_matches_glibc() {
    if std::path::Path::new("/usr/bin/gdb").exists() {
        check_program(&["/usr/bin/gdb", "--version"], 5);
    }
}
