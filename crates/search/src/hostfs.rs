//! std-backed `Fs` for host tests and tools (feature `host`); mirrors the syscalls the loader makes.

use crate::fs::{Access, Errno, FileHandle, FileStat, Fs};
use alloc::vec::Vec;
use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};

fn err(e: std::io::Error) -> Errno {
    e.raw_os_error().unwrap_or(crate::fs::errno::EIO)
}

fn p(path: &[u8]) -> &std::path::Path {
    std::path::Path::new(OsStr::from_bytes(path))
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

/// The host filesystem.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostFs;

/// An open host file.
#[derive(Debug)]
pub struct HostFile(File);

impl FileHandle for HostFile {
    fn stat(&self) -> Result<FileStat, Errno> {
        self.0.metadata().map(|m| stat_of(&m)).map_err(err)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.0.read_at(buf, offset).map_err(err)
    }
}

impl Fs for HostFs {
    type File = HostFile;
    type Bytes = Vec<u8>;

    fn open(&self, path: &[u8]) -> Result<HostFile, Errno> {
        if path.is_empty() {
            return Err(crate::fs::errno::ENOENT);
        }
        File::open(p(path)).map(HostFile).map_err(err)
    }
    fn stat(&self, path: &[u8]) -> Result<FileStat, Errno> {
        if path.is_empty() {
            return Err(crate::fs::errno::ENOENT);
        }
        std::fs::metadata(p(path)).map(|m| stat_of(&m)).map_err(err)
    }
    fn access(&self, path: &[u8], mode: Access) -> bool {
        match mode {
            Access::Exists => std::fs::metadata(p(path)).is_ok(),
            Access::Read => File::open(p(path)).is_ok(),
        }
    }
    fn read_whole(&self, path: &[u8]) -> Result<Vec<u8>, Errno> {
        std::fs::read(p(path)).map_err(err)
    }
    fn getcwd(&self) -> Result<Vec<u8>, Errno> {
        std::env::current_dir()
            .map(|d| d.as_os_str().as_bytes().to_vec())
            .map_err(err)
    }
}
