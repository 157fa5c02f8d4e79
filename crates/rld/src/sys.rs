// Raw Linux syscalls for the loader: rustix (linux_raw backend, no libc, no errno TLS) where
// it exposes the call, hand-written `syscall` asm where it does not. Invariants: nothing here
// touches %fs or TLS; pointer arguments of the unsafe wrappers must satisfy the kernel ABI.

use core::arch::asm;
use core::ffi::{CStr, c_void};

pub use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
pub use rustix::io::Errno;

pub type Result<T> = core::result::Result<T, Errno>;

pub const PROT_NONE: u32 = 0;
pub const PROT_READ: u32 = 1;
pub const PROT_WRITE: u32 = 2;
pub const PROT_EXEC: u32 = 4;
pub const MAP_SHARED: u32 = 0x01;
pub const MAP_PRIVATE: u32 = 0x02;
pub const MAP_FIXED: u32 = 0x10;
pub const MAP_ANONYMOUS: u32 = 0x20;
pub const MAP_DENYWRITE: u32 = 0x800;
pub const MAP_NORESERVE: u32 = 0x4000;
pub const MAP_FIXED_NOREPLACE: u32 = 0x10_0000;

pub const STDIN: RawFd = 0;
pub const STDOUT: RawFd = 1;
pub const STDERR: RawFd = 2;

const SYS_ARCH_PRCTL: usize = 158;
const SYS_EXIT_GROUP: usize = 231;
const SYS_SET_TID_ADDRESS: usize = 218;
const SYS_SET_ROBUST_LIST: usize = 273;
const SYS_RSEQ: usize = 334;

pub const ARCH_SET_FS: usize = 0x1002;
pub const ARCH_GET_FS: usize = 0x1003;

// ---- hand-written syscalls (rustix keeps these private or absent) ----

/// exit_group(2): ends every thread of the process. Callers wanting buffered output must
/// flush first (see `out::exit`).
pub fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group takes an int and never returns.
    unsafe {
        asm!("syscall", in("rax") SYS_EXIT_GROUP, in("rdi") code as isize as usize,
             options(noreturn, nostack));
    }
}

#[inline(always)]
unsafe fn syscall2(nr: usize, a: usize, b: usize) -> isize {
    let r: isize;
    // SAFETY: caller guarantees the arguments are valid for syscall `nr`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => r, in("rdi") a, in("rsi") b,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

#[inline(always)]
unsafe fn syscall4(nr: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let r: isize;
    // SAFETY: caller guarantees the arguments are valid for syscall `nr`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => r, in("rdi") a, in("rsi") b,
             in("rdx") c, in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

fn check(r: isize) -> Result<usize> {
    if (-4095..0).contains(&r) {
        Err(Errno::from_raw_os_error(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// arch_prctl(2). ARCH_SET_FS hands the thread pointer to the program's TLS block: only
/// the TLS setup step may call it.
///
/// # Safety
/// `addr` must be valid for `code` (a writable u64 for ARCH_GET_*).
pub unsafe fn arch_prctl(code: usize, addr: usize) -> Result<usize> {
    // SAFETY: forwarded caller contract.
    check(unsafe { syscall2(SYS_ARCH_PRCTL, code, addr) })
}

/// set_tid_address(2); returns the caller's tid.
///
/// # Safety
/// `tidptr` must stay valid for the thread's life (the kernel writes 0 to it at exit).
pub unsafe fn set_tid_address(tidptr: *mut i32) -> i32 {
    // SAFETY: forwarded caller contract; this syscall cannot fail.
    unsafe { syscall2(SYS_SET_TID_ADDRESS, tidptr as usize, 0) as i32 }
}

/// set_robust_list(2).
///
/// # Safety
/// `head` must point to a robust list head of `len` bytes that outlives the thread.
pub unsafe fn set_robust_list(head: *mut c_void, len: usize) -> Result<()> {
    // SAFETY: forwarded caller contract.
    check(unsafe { syscall2(SYS_SET_ROBUST_LIST, head as usize, len) }).map(|_| ())
}

/// rseq(2) registration (flags 0) or unregistration (flags 1).
///
/// # Safety
/// `area` must be a 32-byte aligned rseq area of `len` bytes living as long as the thread.
pub unsafe fn rseq(area: *mut c_void, len: u32, flags: i32, sig: u32) -> Result<()> {
    // SAFETY: forwarded caller contract.
    check(unsafe {
        syscall4(
            SYS_RSEQ,
            area as usize,
            len as usize,
            flags as usize,
            sig as usize,
        )
    })
    .map(|_| ())
}

// ---- rustix-backed calls ----

/// open(path, O_RDONLY|O_CLOEXEC), as glibc's loader opens objects.
pub fn open_readonly(path: &CStr) -> Result<OwnedFd> {
    use rustix::fs::{CWD, Mode, OFlags};
    rustix::fs::openat(CWD, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
}

/// openat(dirfd, path, flags, mode) with raw O_* flags.
pub fn openat(dirfd: BorrowedFd<'_>, path: &CStr, flags: u32, mode: u32) -> Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::openat(
        dirfd,
        path,
        OFlags::from_bits_retain(flags),
        Mode::from_bits_retain(mode),
    )
}

/// The current-directory pseudo fd for `openat`.
pub fn cwd() -> BorrowedFd<'static> {
    rustix::fs::CWD
}

pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    rustix::io::read(fd, buf)
}

pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize> {
    rustix::io::pread(fd, buf, offset)
}

/// write(2) to a raw fd (stdout/stderr or a debug-output file the loader owns).
pub fn write(fd: RawFd, buf: &[u8]) -> Result<usize> {
    // SAFETY: borrow_raw only wraps the number; a closed fd just yields EBADF.
    rustix::io::write(unsafe { BorrowedFd::borrow_raw(fd) }, buf)
}

/// Writes all of `buf`, retrying on short writes and EINTR.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => buf = buf.get(n..).unwrap_or(&[]),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Closes a raw fd the caller owns (OwnedFd closes itself on drop).
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns fd and does not use it afterwards.
    unsafe { rustix::io::close(fd) }
}

/// The fstat fields the loader needs: identity (dev, ino) for dedup, size, mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

fn stat_of(st: &rustix::fs::Stat) -> FileStat {
    let ns = |s: i64, n: u64| s.saturating_mul(1_000_000_000).saturating_add(n as i64);
    FileStat {
        dev: st.st_dev,
        ino: st.st_ino,
        size: st.st_size as u64,
        mode: st.st_mode,
        uid: st.st_uid,
        mtime_ns: ns(st.st_mtime, st.st_mtime_nsec),
        ctime_ns: ns(st.st_ctime, st.st_ctime_nsec),
    }
}

pub fn fstat(fd: BorrowedFd<'_>) -> Result<FileStat> {
    Ok(stat_of(&rustix::fs::fstat(fd)?))
}

/// stat(2) (follows symlinks).
pub fn stat(path: &CStr) -> Result<FileStat> {
    Ok(stat_of(&rustix::fs::stat(path)?))
}

/// getcwd(2) into `buf`: the length of the path (without its NUL), which is initialised.
pub fn getcwd(buf: &mut [core::mem::MaybeUninit<u8>]) -> Result<usize> {
    let r: isize;
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    unsafe {
        asm!("syscall", inlateout("rax") 79isize => r, in("rdi") buf.as_mut_ptr(),
             in("rsi") buf.len(), lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    let n = check(r)?;
    Ok(n.saturating_sub(1))
}

/// access(path, mode) with raw F_OK/R_OK/W_OK/X_OK bits.
pub fn access(path: &CStr, mode: u32) -> Result<()> {
    rustix::fs::access(path, rustix::fs::Access::from_bits_retain(mode))
}

/// mmap(2). Returns the mapping address.
///
/// # Safety
/// With MAP_FIXED the caller must own the replaced range; the result must not alias live
/// Rust references.
pub unsafe fn mmap(
    addr: usize,
    len: usize,
    prot: u32,
    flags: u32,
    fd: Option<BorrowedFd<'_>>,
    offset: u64,
) -> Result<usize> {
    use rustix::mm::{MapFlags, ProtFlags};
    let prot = ProtFlags::from_bits_retain(prot);
    let fl = MapFlags::from_bits_retain(flags & !MAP_ANONYMOUS);
    // SAFETY: forwarded caller contract.
    unsafe {
        match fd {
            Some(fd) => rustix::mm::mmap(addr as *mut c_void, len, prot, fl, fd, offset),
            None => rustix::mm::mmap_anonymous(addr as *mut c_void, len, prot, fl),
        }
    }
    .map(|p| p as usize)
}

/// munmap(2).
///
/// # Safety
/// No live reference may point into the range.
pub unsafe fn munmap(addr: usize, len: usize) -> Result<()> {
    // SAFETY: forwarded caller contract.
    unsafe { rustix::mm::munmap(addr as *mut c_void, len) }
}

/// mprotect(2). Safe to call on pages the caller owns; removing write access from memory
/// that Rust code later writes would fault, which is the point of RELRO.
pub fn mprotect(addr: usize, len: usize, prot: u32) -> Result<()> {
    // SAFETY: changing protections cannot create aliasing; callers pass ranges they own.
    unsafe {
        rustix::mm::mprotect(
            addr as *mut c_void,
            len,
            rustix::mm::MprotectFlags::from_bits_retain(prot),
        )
    }
}

/// `madvise(MADV_POPULATE_WRITE)`: write-fault every page of the range now, in one call
/// (Linux 5.14+; an older kernel answers EINVAL and nothing happens).
pub fn populate_write(addr: usize, len: usize) -> Result<()> {
    // SAFETY: populating pages does not change their contents or the mapping; callers pass
    // writable ranges of objects they mapped.
    unsafe {
        rustix::mm::madvise(
            addr as *mut c_void,
            len,
            rustix::mm::Advice::LinuxPopulateWrite,
        )
    }
}

/// `mremap(old, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, new)`: moves a mapping (its page
/// tables, not its bytes) to `new`, replacing whatever was mapped there.
///
/// # Safety
/// The caller owns both ranges and holds no reference into them while they move.
pub unsafe fn mremap_fixed(old: usize, len: usize, new: usize) -> Result<usize> {
    // SAFETY: forwarded caller contract.
    unsafe {
        rustix::mm::mremap_fixed(
            old as *mut c_void,
            len,
            len,
            rustix::mm::MremapFlags::MAYMOVE,
            new as *mut c_void,
        )
    }
    .map(|p| p as usize)
}

/// `madvise(MADV_HUGEPAGE)`: back the range with transparent huge pages where the system
/// allows it (`enabled=madvise`, Debian's default); a no-op otherwise.
pub fn advise_hugepage(addr: usize, len: usize) -> Result<()> {
    // SAFETY: advice changes neither contents nor mapping; callers pass their own anonymous
    // mappings.
    unsafe { rustix::mm::madvise(addr as *mut c_void, len, rustix::mm::Advice::LinuxHugepage) }
}

/// mkdir(path, mode); EEXIST is the caller's to judge.
pub fn mkdir(path: &CStr, mode: u32) -> Result<()> {
    rustix::fs::mkdirat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_bits_retain(mode),
    )
}

/// rename(from, to): atomically replaces `to`.
pub fn rename(from: &CStr, to: &CStr) -> Result<()> {
    rustix::fs::renameat(rustix::fs::CWD, from, rustix::fs::CWD, to)
}

pub fn unlink(path: &CStr) -> Result<()> {
    rustix::fs::unlinkat(rustix::fs::CWD, path, rustix::fs::AtFlags::empty())
}

/// A directory entry's facts for the launch cache's trimming (lstat, relative to `dir`):
/// its FileStat and its atime in ns.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<(FileStat, i64)> {
    let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?;
    let atime = st
        .st_atime
        .saturating_mul(1_000_000_000)
        .saturating_add(st.st_atime_nsec as i64);
    Ok((stat_of(&st), atime))
}

/// unlinkat(dir, name, 0).
pub fn unlink_at(dir: BorrowedFd<'_>, name: &CStr) -> Result<()> {
    rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty())
}

/// Calls `f` with the name of every entry of the open directory `dir` (getdents64 into a
/// stack buffer; stops at the first error).
pub fn for_each_entry(dir: BorrowedFd<'_>, mut f: impl FnMut(&CStr)) {
    let mut buf = [core::mem::MaybeUninit::<u8>::uninit(); 2048];
    let mut it = rustix::fs::RawDir::new(dir, &mut buf);
    while let Some(Ok(e)) = it.next() {
        f(e.file_name());
    }
}

pub fn geteuid() -> u32 {
    rustix::process::geteuid().as_raw()
}

pub fn getpid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

pub use rustix::process::{Resource, Rlimit};

/// getrlimit via prlimit64(0, res, NULL, &old).
pub fn getrlimit(res: Resource) -> Rlimit {
    rustix::process::getrlimit(res)
}

/// prlimit64(self, res, &new, &old): sets and returns the previous limit.
pub fn setrlimit(res: Resource, new: Rlimit) -> Result<Rlimit> {
    rustix::process::prlimit(None, res, new)
}

/// Text of an errno as glibc's strerror prints it (the subset the loader can report).
pub fn strerror(e: Errno) -> &'static str {
    match e.raw_os_error() {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        4 => "Interrupted system call",
        5 => "Input/output error",
        6 => "No such device or address",
        8 => "Exec format error",
        9 => "Bad file descriptor",
        11 => "Resource temporarily unavailable",
        12 => "Cannot allocate memory",
        13 => "Permission denied",
        14 => "Bad address",
        16 => "Device or resource busy",
        19 => "No such device",
        20 => "Not a directory",
        21 => "Is a directory",
        22 => "Invalid argument",
        23 => "Too many open files in system",
        24 => "Too many open files",
        26 => "Text file busy",
        27 => "File too large",
        36 => "File name too long",
        38 => "Function not implemented",
        40 => "Too many levels of symbolic links",
        75 => "Value too large for defined data type",
        _ => "Unknown error",
    }
}

/// readlink(path) into `buf`; returns the length (not NUL-terminated).
pub fn readlink(path: &CStr, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf; path is NUL-terminated.
    check(unsafe {
        syscall4(
            89,
            path.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
        )
    })
}

/// execve(2); returns only on failure.
///
/// # Safety
/// `argv` and `envp` are NULL-terminated arrays of NUL-terminated strings.
pub unsafe fn execve(path: &CStr, argv: *const *const u8, envp: *const *const u8) -> Errno {
    // SAFETY: forwarded caller contract.
    let r = unsafe { syscall4(59, path.as_ptr() as usize, argv as usize, envp as usize, 0) };
    Errno::from_raw_os_error(-r as i32)
}
