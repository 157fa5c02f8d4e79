//! rld-search: where a library name leads, with glibc 2.36's exact rules (ld.so.cache, RPATH,
//! LD_LIBRARY_PATH, RUNPATH, system dirs, hwcaps subdirs, DSTs, AT_SECURE). No I/O of its own.
#![no_std]
extern crate alloc;
#[cfg(any(test, feature = "host"))]
extern crate std;

pub mod cache;
pub mod dst;
pub mod fs;
pub mod hwcaps;
pub mod memo;
pub mod search;
pub mod secure;
pub mod verify;

pub use cache::{CacheEntry, CacheParams, LdCache};
pub use dst::{DstContext, Origin};
pub use fs::{Access, Errno, FileHandle, FileId, FileStat, Fs, ImageInfo};
pub use hwcaps::{IsaLevel, Subdirs};
pub use search::{
    Found, FoundVia, LibraryPathSource, Request, Rule, SearchConfig, SearchError, SearchPath,
    Searcher, Trace, TraceEvent,
};
pub use verify::{ElfHeader, Phdr, Verified, VerifyError};

#[cfg(any(test, feature = "host"))]
pub mod hostfs;
#[cfg(test)]
mod tests;
