//! The filesystem seam: rld-search and rld-deps never touch files themselves; the loader supplies
//! raw-syscall implementations and tests a `std` one. Errors are plain errno values, as glibc reports them.

use alloc::vec::Vec;

/// A Linux errno value (positive).
pub type Errno = i32;

/// The errno values the search logic reasons about.
pub mod errno {
    use super::Errno;
    pub const EPERM: Errno = 1;
    pub const ENOENT: Errno = 2;
    pub const EIO: Errno = 5;
    pub const ENOMEM: Errno = 12;
    pub const EACCES: Errno = 13;
    pub const ENOTDIR: Errno = 20;
    pub const EISDIR: Errno = 21;
    pub const EINVAL: Errno = 22;
}

/// `st_mode` bits used here.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_ISUID: u32 = 0o4000;

/// The subset of `struct stat` the loader needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub size: u64,
    pub uid: u32,
    /// Last modification and last status change, in nanoseconds since the epoch: with the
    /// identity and size they tell whether a file changed since it was last seen (the launch
    /// cache's check; any write or rename-over changes ctime).
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// A file's identity and change stamps: device, inode, size, mtime, ctime. Two equal stamps
/// name the same, unchanged file (any write or rename-over changes ctime): what the launch
/// cache checks its files by, and the search memo `/etc/ld.so.cache`.
pub type Stamp = [u64; 5];

impl FileStat {
    /// This file's [`Stamp`].
    pub fn stamp(&self) -> Stamp {
        [
            self.dev,
            self.ino,
            self.size,
            self.mtime_ns as u64,
            self.ctime_ns as u64,
        ]
    }

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

/// Identity of a file for "already loaded" checks (glibc's `r_file_id`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// A mapped object's place (glibc's `l_addr`, `l_map_start`, `l_map_end`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageInfo {
    pub bias: usize,
    pub map_start: usize,
    pub map_end: usize,
}

/// `access(2)` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Exists,
    Read,
}

/// An open, read-only file (the loader: an fd opened `O_RDONLY|O_CLOEXEC`).
pub trait FileHandle {
    /// `fstat(2)`.
    fn stat(&self) -> Result<FileStat, Errno>;
    /// `pread(2)`: fills as much of `buf` as the file has from `offset`; `Ok(0)` at end of file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;
    /// Called once the file is known to be an object that will be loaded, before its dynamic
    /// section is read. A loader may map the object here (as glibc maps before parsing) and
    /// serve later `read_at` calls from memory. The default does nothing.
    fn prepare_image(&self, _hdr: &crate::verify::ElfHeader) {}
    /// Where `prepare_image` put the object, if it mapped it (for LD_DEBUG=files).
    fn image_info(&self) -> Option<ImageInfo> {
        None
    }
    /// True when `read_at` is served from memory (no system call per read), so callers need
    /// not batch or cache small reads.
    fn reads_are_cheap(&self) -> bool {
        false
    }
    /// The file's bytes from `offset` to the end of the mapped piece that holds it, when
    /// reads are served from a mapping that stays in place while the handle is borrowed.
    /// `None` tells the caller to use `read_at`. Parsers read records and the dozens of
    /// names (needed, versions) per object in place instead of copying them out piecewise.
    fn view_at(&self, _offset: u64) -> Option<&[u8]> {
        None
    }
}

/// Filesystem operations with raw-syscall semantics (paths are byte strings without NUL).
pub trait Fs {
    type File: FileHandle;
    /// Whole-file contents (the loader: a private read-only mapping).
    type Bytes: core::ops::Deref<Target = [u8]>;

    /// `open(path, O_RDONLY|O_CLOEXEC)`.
    fn open(&self, path: &[u8]) -> Result<Self::File, Errno>;
    /// `stat(2)` (follows symlinks).
    fn stat(&self, path: &[u8]) -> Result<FileStat, Errno>;
    /// `access(2)`.
    fn access(&self, path: &[u8], mode: Access) -> bool;
    /// Read a whole regular file (ld.so.cache, ld.so.preload).
    fn read_whole(&self, path: &[u8]) -> Result<Self::Bytes, Errno>;
    /// `read_whole` and the identity of what was read. This default stats the path first:
    /// should the file be replaced in between, the identity is the old file's, so whatever
    /// is remembered under it is never taken for the new file's.
    fn read_whole_stamped(&self, path: &[u8]) -> Result<(Self::Bytes, FileStat), Errno> {
        let st = self.stat(path)?;
        Ok((self.read_whole(path)?, st))
    }
    /// `getcwd(2)`, used to make `$ORIGIN` of relative names absolute.
    fn getcwd(&self) -> Result<Vec<u8>, Errno>;
}

/// Read exactly `buf.len()` bytes at `offset` or report how many were available.
pub fn read_full<H: FileHandle + ?Sized>(
    h: &H,
    offset: u64,
    buf: &mut [u8],
) -> Result<usize, Errno> {
    let mut done = 0usize;
    while done < buf.len() {
        let n = h.read_at(offset + done as u64, &mut buf[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}
