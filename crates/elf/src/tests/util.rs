//! Helpers shared by the host tests (std only).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::String;
use std::vec::Vec;

pub const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";
pub const LS: &str = "/usr/bin/ls";
pub const LDSO: &str = "/lib64/ld-linux-x86-64.so.2";

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Output of `readelf -W <args> <path>` (English locale).
pub fn readelf(args: &[&str], path: &Path) -> String {
    let out = Command::new("readelf")
        .env("LC_ALL", "C")
        .arg("-W")
        .args(args)
        .arg(path)
        .output()
        .expect("run readelf");
    assert!(out.status.success(), "readelf {args:?} {path:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh temporary directory for this test.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(std::format!(
        "rld-elf-{}-{}-{}",
        tag,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies each PT_LOAD's file bytes to its place in a zeroed buffer covering the load extent,
/// as the loader's mapping would look (holes and .bss zero).
pub fn fake_map(bytes: &[u8]) -> (Vec<u8>, u64) {
    use crate::ProgramHeaderExt;
    let f = crate::ElfFile::parse(bytes).unwrap();
    let (lo, hi) = f.load_extent(4096).unwrap();
    let mut image = std::vec![0u8; (hi - lo) as usize];
    for ph in f.load_segments() {
        let src = ph.file_bytes(bytes).unwrap();
        let at = (ph.p_vaddr() - lo) as usize;
        image[at..at + src.len()].copy_from_slice(src);
    }
    (image, lo)
}
