//! rldctl: inspect what rld would do with a program, without running it.
//!
//!   rldctl tree PROGRAM [--json]      the dependency tree: who needs whom, where each object
//!                                     was found and by which search rule
//!   rldctl why LIB PROGRAM [--json]   why LIB is loaded: the chain of DT_NEEDED from the program
//!   rldctl cache list|clear           rld's launch-cache records: which programs and dlopens
//!                                     have one and how big; remove them all
//!
//! It uses the loader's own crates (rld-search, rld-deps) with a std filesystem, so what it
//! shows is what rld --list computes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::process::ExitCode;

use rld_deps::{Kind, LoadConfig, LoadGraph, Mode, ObjId, Reason};
use rld_search::fs::{Access, Errno, FileHandle, FileStat, Fs};
use rld_search::search::{Rule, SearchConfig, Searcher};

/// std filesystem for the search seam (rld-search's own `host` helper is kept out of the
/// workspace's normal dependency graph: enabling it would pull std into the no_std loader).
struct StdFs;
struct StdFile(std::fs::File);

fn err(e: std::io::Error) -> Errno {
    e.raw_os_error().unwrap_or(5)
}
fn path(p: &[u8]) -> &std::path::Path {
    std::path::Path::new(OsStr::from_bytes(p))
}
fn stat_of(m: &std::fs::Metadata) -> FileStat {
    FileStat {
        dev: m.dev(),
        ino: m.ino(),
        mode: m.mode(),
        size: m.size(),
        uid: m.uid(),
        mtime_ns: m
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(m.mtime_nsec()),
        ctime_ns: m
            .ctime()
            .saturating_mul(1_000_000_000)
            .saturating_add(m.ctime_nsec()),
    }
}

impl FileHandle for StdFile {
    fn stat(&self) -> Result<FileStat, Errno> {
        self.0.metadata().map(|m| stat_of(&m)).map_err(err)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.0.read_at(buf, offset).map_err(err)
    }
}

impl Fs for StdFs {
    type File = StdFile;
    type Bytes = Vec<u8>;
    fn open(&self, p: &[u8]) -> Result<StdFile, Errno> {
        if p.is_empty() {
            return Err(2);
        }
        std::fs::File::open(path(p)).map(StdFile).map_err(err)
    }
    fn stat(&self, p: &[u8]) -> Result<FileStat, Errno> {
        if p.is_empty() {
            return Err(2);
        }
        std::fs::metadata(path(p)).map(|m| stat_of(&m)).map_err(err)
    }
    fn access(&self, p: &[u8], _mode: Access) -> bool {
        !p.is_empty() && path(p).exists()
    }
    fn read_whole(&self, p: &[u8]) -> Result<Vec<u8>, Errno> {
        std::fs::read(path(p)).map_err(err)
    }
    fn getcwd(&self) -> Result<Vec<u8>, Errno> {
        std::env::current_dir()
            .map(|d| d.as_os_str().as_bytes().to_vec())
            .map_err(err)
    }
}

fn search_config() -> SearchConfig {
    let mut cpuid = rld_cpu::Memo::new(rld_cpu::NativeCpuid::new());
    let (_, info) = rld_cpu::compute(
        &mut cpuid,
        &rld_cpu::Tunables::default(),
        &rld_cpu::Auxv::default(),
    );
    let mut hw: Vec<&[u8]> = Vec::new();
    if info.hwcap & rld_cpu::HWCAP_X86_64 != 0 {
        hw.push(b"x86_64");
    }
    if info.hwcap & rld_cpu::HWCAP_X86_AVX512_1 != 0 {
        hw.push(b"avx512_1");
    }
    // The kernel's AT_PLATFORM on x86-64 is "x86_64" unless cpu features override it.
    let platform: &[u8] = info.platform.unwrap_or(b"x86_64");
    SearchConfig::debian_x86_64(
        rld_search::hwcaps::IsaLevel(info.hwcaps_level),
        Some(platform),
        &hw,
    )
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn rule_text(g: &LoadGraph<StdFile>, r: &Reason) -> String {
    match r {
        Reason::Program => "program".into(),
        Reason::Builtin => "built in".into(),
        Reason::Preload(from) => format!("preloaded ({from})"),
        Reason::Needed { via: None, .. } => "not found".into(),
        Reason::Needed { via: Some(v), .. } => {
            let owner = |o: &usize| {
                g.objects
                    .get(*o)
                    .map(|x| name_of(g, *o, x.names.first()))
                    .unwrap_or_default()
            };
            let base = match &v.rule {
                Rule::DirectPath => "name with a slash".to_string(),
                Rule::Rpath { owner: o } => format!("DT_RPATH of {}", owner(o)),
                Rule::LibraryPath(src) => format!("{src:?}")
                    .replace("Env", "LD_LIBRARY_PATH")
                    .replace("CommandLine", "--library-path"),
                Rule::Runpath { owner: o } => format!("DT_RUNPATH of {}", owner(o)),
                Rule::Cache => "/etc/ld.so.cache".into(),
                Rule::SystemDir => "default directory".into(),
            };
            if v.subdir.is_empty() {
                base
            } else {
                format!("{base}, {}", s(&v.subdir))
            }
        }
    }
}

fn name_of(g: &LoadGraph<StdFile>, id: ObjId, first: Option<&Vec<u8>>) -> String {
    match g.objects.get(id) {
        Some(o) if o.kind == Kind::Main => PROGRAM.get().cloned().unwrap_or_default(),
        _ => first.map(|n| s(n)).unwrap_or_default(),
    }
}

fn json_str(x: &str) -> String {
    let mut o = String::from("\"");
    for c in x.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn load(program: &str) -> Result<LoadGraph<StdFile>, String> {
    let _ = PROGRAM.set(program.to_string());
    let fs = StdFs;
    let mut searcher = Searcher::new(&fs, search_config());
    let mut lc = LoadConfig::list(program.as_bytes());
    lc.mode = Mode::Trace { program_too: false };
    lc.preload_env = std::env::var_os("LD_PRELOAD").map(|v| v.as_bytes().to_vec());
    rld_deps::build(&mut searcher, &lc).map_err(|f| {
        let mut e = String::new();
        let _ = rld_deps::write_fatal(&mut e, program.as_bytes(), &f);
        e
    })
}

fn tree(g: &LoadGraph<StdFile>, json: bool) {
    if json {
        let items: Vec<String> = g
            .chain
            .iter()
            .filter_map(|&id| g.objects.get(id).map(|o| (id, o)))
            .map(|(id, o)| {
                format!(
                    "{{\"id\":{id},\"name\":{},\"path\":{},\"kind\":{},\"found_by\":{},\"needed_by\":{},\"needs\":[{}]}}",
                    json_str(&name_of(g, id, o.names.first())),
                    json_str(&s(&o.path)),
                    json_str(&format!("{:?}", o.kind)),
                    json_str(&rule_text(g, &o.reason)),
                    o.loader.map(|l| l.to_string()).unwrap_or("null".into()),
                    o.deps.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        println!("[{}]", items.join(",\n "));
        return;
    }
    let mut seen = vec![false; g.objects.len()];
    fn walk(g: &LoadGraph<StdFile>, id: ObjId, depth: usize, seen: &mut Vec<bool>) {
        let Some(o) = g.objects.get(id) else { return };
        let first = seen.get(id).is_some_and(|v| !v);
        let label = name_of(g, id, o.names.first());
        let where_ = if o.path.is_empty() || o.kind == Kind::Main {
            String::new()
        } else {
            format!(" => {}", s(&o.path))
        };
        let how = if depth == 0 {
            String::new()
        } else {
            format!("  [{}]", rule_text(g, &o.reason))
        };
        println!(
            "{}{}{}{}{}",
            "  ".repeat(depth),
            label,
            where_,
            how,
            if first { "" } else { " (see above)" }
        );
        if !first {
            return;
        }
        if let Some(v) = seen.get_mut(id) {
            *v = true;
        }
        for &d in &o.deps {
            walk(g, d, depth + 1, seen);
        }
    }
    walk(g, g.main, 0, &mut seen);
    for &p in &g.preloads {
        walk(g, p, 1, &mut seen);
    }
}

fn why(g: &LoadGraph<StdFile>, lib: &str, json: bool) -> bool {
    let target = g.objects.iter().position(|o| {
        o.names.iter().any(|n| s(n) == lib)
            || s(&o.path) == lib
            || s(&o.path).ends_with(&format!("/{lib}"))
    });
    let Some(t) = target else {
        eprintln!("rldctl: {lib} is not loaded by this program");
        return false;
    };
    let mut chain = vec![t];
    let mut cur = t;
    while let Some(l) = g.objects.get(cur).and_then(|o| o.loader) {
        if chain.contains(&l) {
            break;
        }
        chain.push(l);
        cur = l;
    }
    chain.reverse();
    if json {
        let items: Vec<String> = chain
            .iter()
            .filter_map(|&id| g.objects.get(id).map(|o| (id, o)))
            .map(|(id, o)| {
                format!(
                    "{{\"name\":{},\"path\":{},\"found_by\":{}}}",
                    json_str(&name_of(g, id, o.names.first())),
                    json_str(&s(&o.path)),
                    json_str(&rule_text(g, &o.reason))
                )
            })
            .collect();
        println!("[{}]", items.join(","));
    } else {
        for (depth, &id) in chain.iter().enumerate() {
            let Some(o) = g.objects.get(id) else { continue };
            let how = if depth == 0 {
                String::new()
            } else {
                format!("  [{}]", rule_text(g, &o.reason))
            };
            let path = if o.kind == Kind::Main {
                String::new()
            } else {
                format!(" => {}", s(&o.path))
            };
            println!(
                "{}{}{}{}",
                "  ".repeat(depth),
                name_of(g, id, o.names.first()),
                path,
                how
            );
        }
    }
    true
}

mod cache;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let pos: Vec<&str> = args
        .iter()
        .filter(|a| *a != "--json")
        .map(String::as_str)
        .collect();
    let usage = || {
        eprintln!(
            "usage: rldctl tree PROGRAM [--json]\n       rldctl why LIB PROGRAM [--json]\n       rldctl cache list|clear"
        );
        ExitCode::from(2)
    };
    match pos.as_slice() {
        ["tree", prog] => match load(prog) {
            Ok(g) => {
                tree(&g, json);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{e}");
                ExitCode::from(127)
            }
        },
        ["why", lib, prog] => match load(prog) {
            Ok(g) => {
                if why(&g, lib, json) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprint!("{e}");
                ExitCode::from(127)
            }
        },
        ["cache", what @ ("list" | "clear")] => {
            let Some(dir) = cache::directory() else {
                eprintln!("rldctl: the launch cache is off (RLD_LAUNCH_CACHE, or no HOME)");
                return ExitCode::from(1);
            };
            let ok = if *what == "list" {
                cache::list(&dir)
            } else {
                cache::clear(&dir)
            };
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        _ => usage(),
    }
}
