//! Host tests: the cache reader against the real /etc/ld.so.cache and ldconfig-built caches,
//! DST rules, hwcaps subdirectory order and search precedence on gcc-built fixtures.

use crate::cache::{CacheParams, LdCache, libcmp};
use crate::dst::{self, DstContext, Origin};
use crate::hostfs::HostFs;
use crate::hwcaps::{self, IsaLevel};
use crate::search::*;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::String;
use std::string::ToString;
use std::vec::Vec;
use std::{format, vec};

fn params<'p>(prio: &'p [&'p [u8]]) -> CacheParams<'p> {
    CacheParams {
        hwcap: 2,
        platform_bit: None,
        isa_1: host_level().isa_1_bits(),
        hwcaps_priority: prio,
    }
}

fn host_level() -> IsaLevel {
    hwcaps::host_isa_level()
}

fn host_names() -> Vec<Vec<u8>> {
    hwcaps::glibc_hwcaps_names(host_level(), None, None)
}

#[test]
fn real_cache_finds_every_ldconfig_entry() {
    let bytes = std::fs::read("/etc/ld.so.cache").expect("read cache");
    let cache = LdCache::parse(&bytes).expect("parse cache");
    let out = Command::new("ldconfig")
        .arg("-p")
        .output()
        .expect("ldconfig -p");
    let text = String::from_utf8_lossy(&out.stdout);
    let names = host_names();
    let prio: Vec<&[u8]> = names.iter().map(|n| n.as_slice()).collect();
    let mut checked = 0;
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines().skip(1) {
        let Some((left, path)) = line.split_once(" => ") else {
            continue;
        };
        let name = left.trim().split(' ').next().unwrap_or("");
        if !left.contains("x86-64") || left.contains("hwcap") || !seen.insert(name.to_string()) {
            continue;
        }
        let got = cache.lookup(name.as_bytes(), &params(&prio));
        assert_eq!(
            got.map(|g| String::from_utf8_lossy(g).into_owned()),
            Some(path.to_string()),
            "lookup {name}"
        );
        checked += 1;
    }
    assert!(checked > 100, "only {checked} entries checked");
    assert_eq!(cache.lookup(b"libdoesnotexist.so.7", &params(&prio)), None);
    // Every stored entry reads back and the table is sorted the way binary search expects.
    for i in 1..cache.len() {
        let (a, b) = (cache.entry(i - 1).unwrap(), cache.entry(i).unwrap());
        assert_ne!(
            libcmp(a.key, b.key),
            core::cmp::Ordering::Less,
            "order at {i}"
        );
    }
}

#[test]
fn libcmp_compares_digit_runs_numerically() {
    use core::cmp::Ordering::*;
    assert_eq!(libcmp(b"libfoo.so.10", b"libfoo.so.9"), Greater);
    assert_eq!(libcmp(b"libfoo.so.1", b"libfoo.so.1"), Equal);
    assert_eq!(libcmp(b"libfoo.so", b"libfoo.so.1"), Less);
    assert_eq!(libcmp(b"lib1", b"liba"), Greater);
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rld-search-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gcc(args: &[&str]) {
    let st = Command::new("gcc").args(args).status().expect("gcc");
    assert!(st.success(), "gcc {:?}", args);
}

fn build_lib(dir: &Path, soname: &str, src: &str) -> PathBuf {
    let c = dir.join(format!("{soname}.c"));
    std::fs::write(&c, src).unwrap();
    let out = dir.join(soname);
    gcc(&[
        "-shared",
        "-fPIC",
        "-o",
        out.to_str().unwrap(),
        c.to_str().unwrap(),
        &format!("-Wl,-soname,{soname}"),
    ]);
    out
}

#[test]
fn ldconfig_hwcaps_cache_prefers_best_supported_level() {
    let level = host_level();
    if level.0 < 2 {
        return;
    }
    let d = tmpdir("hwc");
    let lib = d.join("lib");
    std::fs::create_dir_all(lib.join("glibc-hwcaps/x86-64-v2")).unwrap();
    build_lib(&lib, "libhw.so.1", "int hw(void){return 1;}");
    build_lib(
        &lib.join("glibc-hwcaps/x86-64-v2"),
        "libhw.so.1",
        "int hw(void){return 2;}",
    );
    std::fs::write(d.join("ld.so.conf"), format!("{}\n", lib.display())).unwrap();
    let cache_path = d.join("ld.so.cache");
    let st = Command::new("ldconfig")
        .args([
            "-X",
            "-C",
            cache_path.to_str().unwrap(),
            "-f",
            d.join("ld.so.conf").to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(&cache_path).unwrap();
    let cache = LdCache::parse(&bytes).expect("parse");
    assert!((0..cache.len()).any(|i| cache.entry(i).unwrap().hwcaps_name == Some(b"x86-64-v2")));
    let names = host_names();
    let prio: Vec<&[u8]> = names.iter().map(|n| n.as_slice()).collect();
    let got = cache.lookup(b"libhw.so.1", &params(&prio)).unwrap();
    assert_eq!(
        got,
        lib.join("glibc-hwcaps/x86-64-v2/libhw.so.1")
            .as_os_str()
            .as_bytes()
    );
    // Without hwcaps support the plain entry is used.
    let none: Vec<&[u8]> = Vec::new();
    let got = cache.lookup(b"libhw.so.1", &params(&none)).unwrap();
    assert_eq!(got, lib.join("libhw.so.1").as_os_str().as_bytes());
}

fn ctx<'a>(origin: &'a [u8], secure: bool, exe: bool, trusted: &'a [&'a [u8]]) -> DstContext<'a> {
    DstContext {
        origin: Origin::Known(origin),
        platform: Some(b"x86_64"),
        lib: DEBIAN_DST_LIB,
        secure,
        is_executable: exe,
        trusted_dirs: trusted,
    }
}

#[test]
fn dst_expansion_follows_glibc() {
    let t: Vec<&[u8]> = DEBIAN_SYSTEM_DIRS.to_vec();
    let c = ctx(b"/opt/app/bin", false, true, &t);
    assert_eq!(dst::expand(b"$ORIGIN/../lib", &c), b"/opt/app/bin/../lib");
    assert_eq!(
        dst::expand(b"${ORIGIN}/x:$LIB/$PLATFORM", &c),
        b"/opt/app/bin/x:lib/x86_64-linux-gnu/x86_64"
    );
    assert_eq!(dst::expand(b"$ORIGINAL/x", &c), b"$ORIGINAL/x");
    assert_eq!(dst::expand(b"$FOO/x", &c), b"$FOO/x");
    assert_eq!(dst::dst_count(b"$ORIGIN$LIB${PLATFORM}$X"), 3);
    // Secure: $ORIGIN only as the leading element and only into trusted dirs.
    let s = ctx(b"/usr/lib/x86_64-linux-gnu", true, true, &t);
    assert_eq!(
        dst::expand(b"$ORIGIN/sub", &s),
        b"/usr/lib/x86_64-linux-gnu/sub"
    );
    assert_eq!(dst::expand(b"/x/$ORIGIN", &s), b"");
    let s2 = ctx(b"/home/u", true, true, &t);
    assert_eq!(dst::expand(b"$ORIGIN/sub", &s2), b"");
    assert_eq!(
        dst::expand(b"$ORIGIN/../../lib/../lib/x", &s),
        b"/usr/lib/x86_64-linux-gnu/../../lib/../lib/x"
    );
    let mut unknown = c;
    unknown.origin = Origin::Unknown;
    assert_eq!(dst::expand(b"$ORIGIN/x", &unknown), b"");
}

#[test]
fn legacy_subdirs_match_ld_so_debug_order() {
    let l = hwcaps::legacy_subdirs(&[b"x86_64"], Some(b"x86_64"));
    let got: Vec<&str> = l.iter().map(|s| core::str::from_utf8(s).unwrap()).collect();
    assert_eq!(
        got,
        vec![
            "tls/x86_64/x86_64/",
            "tls/x86_64/",
            "tls/x86_64/",
            "tls/",
            "x86_64/x86_64/",
            "x86_64/",
            "x86_64/",
            ""
        ]
    );
    let l = hwcaps::legacy_subdirs(&[b"x86_64", b"avx512_1"], Some(b"haswell"));
    assert_eq!(l.len(), 16);
    assert_eq!(l[0], b"tls/haswell/avx512_1/x86_64/");
}

#[test]
fn legacy_subdirs_agree_with_ld_so_libs_debug() {
    // LD_DEBUG=libs prints the expanded search path for LD_LIBRARY_PATH entries.
    let d = tmpdir("dbg");
    let out = Command::new("/lib64/ld-linux-x86-64.so.2")
        .args(["--inhibit-cache", "--list", "/bin/true"])
        .env("LD_DEBUG", "libs")
        .env("LD_LIBRARY_PATH", d.to_str().unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("(LD_LIBRARY_PATH)"))
        .expect("search path line");
    let list = line
        .split("search path=")
        .nth(1)
        .unwrap()
        .split('\t')
        .next()
        .unwrap();
    let cfg = host_config();
    let dir = format!("{}/", d.display());
    let mine: Vec<String> = cfg
        .subdirs
        .prefixes
        .iter()
        .map(|p| {
            let s = format!("{dir}{}", String::from_utf8_lossy(p));
            s.trim_end_matches('/').to_string()
        })
        .collect();
    assert_eq!(mine.join(":"), list);
}

/// The host's loader configuration, read from `ld.so --help` facts (AMD/Intel platform choice
/// is what `ld.so --help` calls AT_PLATFORM).
pub fn host_config() -> SearchConfig {
    let help = Command::new("/lib64/ld-linux-x86-64.so.2")
        .arg("--help")
        .output()
        .unwrap();
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
    let hwr: Vec<&[u8]> = hw.iter().map(|h| h.as_slice()).collect();
    SearchConfig::debian_x86_64(host_level(), platform.as_deref(), &hwr)
}

#[test]
fn search_order_rpath_libpath_runpath_cache_default() {
    let d = tmpdir("order");
    for sub in ["r", "l", "u"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        build_lib(&d.join(sub), "libord.so", "int f(void){return 0;}");
    }
    let dir = |s: &str| {
        let mut v = d.join(s).as_os_str().as_bytes().to_vec();
        v.push(b'/');
        v
    };
    let fs = HostFs;
    let mut cfg = host_config();
    cfg.library_path = Some(SearchPath {
        dirs: vec![dir("l")],
    });
    let mut s = Searcher::new(&fs, cfg);
    let rp = SearchPath {
        dirs: vec![dir("nonexistent"), dir("r")],
    };
    let run = SearchPath {
        dirs: vec![dir("u")],
    };
    let rpaths = [(7usize, &rp)];
    let mk = |rpaths: &'static [(usize, &'static SearchPath)]| rpaths;
    let _ = mk;
    let req = Request {
        name: b"libord.so",
        rpaths: &rpaths,
        runpath: Some((3, &run)),
        nodeflib: false,
        secure_open: false,
        paths_ready: true,
        dst: None,
        owner_names: &[],
    };
    let f = s.search(&req).unwrap();
    assert_eq!(f.via.rule, Rule::Rpath { owner: 7 });
    assert_eq!(f.path, [dir("r"), b"libord.so".to_vec()].concat());
    let req2 = Request { rpaths: &[], ..req };
    assert_eq!(
        s.search(&req2).unwrap().via.rule,
        Rule::LibraryPath(LibraryPathSource::Env)
    );
    s.config.library_path = None;
    assert_eq!(
        s.search(&req2).unwrap().via.rule,
        Rule::Runpath { owner: 3 }
    );
    let req3 = Request {
        name: b"libc.so.6",
        runpath: None,
        ..req2
    };
    let f = s.search(&req3).unwrap();
    assert_eq!(f.via.rule, Rule::Cache);
    assert_eq!(f.path, b"/lib/x86_64-linux-gnu/libc.so.6");
    s.config.inhibit_cache = true;
    let f = s.search(&req3).unwrap();
    assert_eq!(f.via.rule, Rule::SystemDir);
    assert_eq!(f.path, b"/lib/x86_64-linux-gnu/libc.so.6");
    let miss = Request {
        name: b"libnope.so.3",
        ..req3
    };
    assert_eq!(
        s.search(&miss).unwrap_err(),
        SearchError::NotFound {
            errno: 2,
            other_class: false
        }
    );
}

/// A memo answers cache lookups (here with an answer the cache would not give, to see that
/// it is used) only while the cache file and the settings are those it was made with; each
/// launch's lookups, answered either way, make the next memo.
#[test]
fn search_memo_stands_in_for_an_unchanged_cache() {
    use crate::memo::{self, Log, Memo};
    let d = tmpdir("memo");
    let cache = d.join("ld.so.cache");
    std::fs::copy("/etc/ld.so.cache", &cache).unwrap();
    let fs = HostFs;
    let mut cfg = host_config();
    cfg.cache_path = cache.as_os_str().as_bytes().to_vec();
    let req = Request {
        name: b"libc.so.6",
        rpaths: &[],
        runpath: None,
        nodeflib: false,
        secure_open: false,
        paths_ready: true,
        dst: None,
        owner_names: &[],
    };
    let libc = b"/lib/x86_64-linux-gnu/libc.so.6".to_vec();
    let libm = b"/lib/x86_64-linux-gnu/libm.so.6".to_vec();

    // A launch without a memo remembers what the cache said.
    let mut s = Searcher::new(&fs, cfg.clone());
    assert_eq!(s.search(&req).unwrap().path, libc);
    let first = Memo::decode(&s.take_memo().unwrap()).unwrap();
    assert_eq!(first.get(b"libc.so.6"), Some(Some(&libc[..])));
    assert_eq!(first.get(b"libm.so.6"), None);

    let stamp = crate::fs::Fs::stat(&fs, cache.as_os_str().as_bytes())
        .unwrap()
        .stamp();
    assert!(first.valid_for(&stamp, memo::params_hash(&cfg)));
    let fake = |params: u64| {
        let mut log = Log::default();
        log.source(Some(stamp));
        log.answer(b"libc.so.6", Some(&libm));
        Memo::decode(&log.encode(params).unwrap()).unwrap()
    };
    let search_with = |cfg: &SearchConfig, m: Memo| {
        let mut s = Searcher::new(&fs, cfg.clone());
        s.set_memo(m);
        let f = s.search(&req).unwrap();
        (f.path, f.via.rule, s.take_memo())
    };
    // Same cache file, same settings: the memo answers.
    let (path, rule, next) = search_with(&cfg, fake(memo::params_hash(&cfg)));
    assert_eq!((path, rule), (libm.clone(), Rule::Cache));
    let next = Memo::decode(&next.unwrap()).unwrap();
    assert_eq!(
        next.get(b"libc.so.6"),
        Some(Some(&libm[..])),
        "kept for the next launch"
    );
    // Other settings: the cache answers.
    let mut other = cfg.clone();
    other.isa_1 ^= 1;
    assert_eq!(search_with(&other, fake(memo::params_hash(&cfg))).0, libc);
    // The cache file rewritten: the cache answers, and the next memo is the cache's.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::copy("/etc/ld.so.cache", &cache).unwrap();
    let (path, _, next) = search_with(&cfg, fake(memo::params_hash(&cfg)));
    assert_eq!(path, libc);
    let next = Memo::decode(&next.unwrap()).unwrap();
    assert_eq!(next.get(b"libc.so.6"), Some(Some(&libc[..])));
    assert!(!next.valid_for(&stamp, memo::params_hash(&cfg)));
}

#[test]
fn hwcaps_subdir_and_wrong_class_and_invalid_file() {
    let d = tmpdir("hw");
    let v2 = d.join("a/glibc-hwcaps/x86-64-v2");
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::create_dir_all(d.join("b")).unwrap();
    let plain = build_lib(&d.join("a"), "libhw.so", "int f(void){return 0;}");
    build_lib(&v2, "libhw.so", "int f(void){return 1;}");
    // A 32-bit-class copy in an earlier directory is skipped.
    let mut bytes = std::fs::read(&plain).unwrap();
    bytes[4] = 1;
    std::fs::create_dir_all(d.join("c")).unwrap();
    std::fs::write(d.join("c/libhw.so"), &bytes).unwrap();
    std::fs::write(
        d.join("b/libbad.so"),
        b"not an elf file at all, longer than sixty four bytes..............",
    )
    .unwrap();
    let dir = |s: &str| {
        let mut v = d.join(s).as_os_str().as_bytes().to_vec();
        v.push(b'/');
        v
    };
    let fs = HostFs;
    let mut cfg = host_config();
    cfg.library_path = Some(SearchPath {
        dirs: vec![dir("c"), dir("b"), dir("a")],
    });
    cfg.inhibit_cache = true;
    let mut s = Searcher::new(&fs, cfg);
    let req = Request {
        name: b"libhw.so",
        rpaths: &[],
        runpath: None,
        nodeflib: false,
        secure_open: false,
        paths_ready: true,
        dst: None,
        owner_names: &[],
    };
    let f = s.search(&req).unwrap();
    if host_level().0 >= 2 {
        assert_eq!(f.via.subdir, b"glibc-hwcaps/x86-64-v2/");
        assert_eq!(
            f.path,
            [dir("a"), b"glibc-hwcaps/x86-64-v2/libhw.so".to_vec()].concat()
        );
    }
    let only32 = Request {
        name: b"libhw.so",
        ..req
    };
    s.config.library_path = Some(SearchPath {
        dirs: vec![dir("c")],
    });
    s.config.system_dirs.clear();
    assert_eq!(
        s.search(&only32).unwrap_err(),
        SearchError::NotFound {
            errno: 2,
            other_class: true
        }
    );
    s.config.library_path = Some(SearchPath {
        dirs: vec![dir("b")],
    });
    let bad = Request {
        name: b"libbad.so",
        ..req
    };
    match s.search(&bad).unwrap_err() {
        SearchError::Fatal { msg, path, .. } => {
            assert_eq!(msg, "invalid ELF header");
            assert_eq!(path, [dir("b"), b"libbad.so".to_vec()].concat());
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn decompose_normalises_and_dedups() {
    let t: Vec<&[u8]> = DEBIAN_SYSTEM_DIRS.to_vec();
    let c = ctx(b"/o", false, false, &t);
    let sp = SearchPath::decompose(b"/a//:/b:/a/::$ORIGIN/x/", b":", &c).unwrap();
    let got: Vec<&[u8]> = sp.dirs.iter().map(|d| d.as_slice()).collect();
    assert_eq!(got, vec![&b"/a/"[..], b"/b/", b"", b"/o/x/"]);
    assert!(SearchPath::decompose(b"", b":", &c).is_none());
}
