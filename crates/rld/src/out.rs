// Buffered stdout/stderr for the loader's own messages (--list, --help, errors).
// Invariants: buffers are static (no heap needed); stdout is flushed when full and by
// `exit`; stderr is flushed at the end of every `eprint!`, so error text is never lost.

use core::fmt;

use crate::heap::SpinLock;
use crate::sys;

/// A stream's header; its 4 KiB buffer is a separate zero-initialised static (in .bss), so
/// the headers of both streams share one page of .data and the buffers' pages are touched
/// (page-faulted) only when something is printed.
pub struct Buf {
    fd: sys::RawFd,
    len: usize,
    data: *mut [u8; 4096],
}

// SAFETY: `data` points to a static buffer used only through this Buf (behind its mutex).
unsafe impl Send for Buf {}

// Placed apart from the hot statics (cold.ld): most start-ups never print, and between the
// hot statics these 8 KiB made them span one page more. File-backed zeros, not .bss (see
// cold.ld: no anonymous mapping at exec).
#[unsafe(link_section = ".data.rld_cold")]
static mut STDOUT_DATA: [u8; 4096] = [0; 4096];
#[unsafe(link_section = ".data.rld_cold")]
static mut STDERR_DATA: [u8; 4096] = [0; 4096];

impl Buf {
    const fn new(fd: sys::RawFd, data: *mut [u8; 4096]) -> Self {
        Buf { fd, len: 0, data }
    }

    fn data(&mut self) -> &mut [u8; 4096] {
        // SAFETY: `data` is this stream's own static buffer, reached only through `&mut self`.
        unsafe { &mut *self.data }
    }

    pub fn write_bytes(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            let room = self.data().len() - self.len;
            if room == 0 {
                self.flush();
                continue;
            }
            let n = room.min(s.len());
            let (head, tail) = s.split_at(n);
            let len = self.len;
            if let Some(dst) = self.data().get_mut(len..len + n) {
                dst.copy_from_slice(head);
            }
            self.len += n;
            s = tail;
        }
    }

    pub fn flush(&mut self) {
        let n = self.len;
        if n == 0 {
            // Nothing buffered: leave the page untouched (no copy-on-write fault at exit).
            return;
        }
        self.len = 0;
        let fd = self.fd;
        // Output errors (closed stdout, EPIPE) are ignored, as glibc's loader does.
        let _ = sys::write_all(fd, self.data().get(..n).unwrap_or(&[]));
    }

    /// Redirects this stream (e.g. LD_DEBUG_OUTPUT); pending bytes go to the old fd first.
    pub fn set_fd(&mut self, fd: sys::RawFd) {
        self.flush();
        self.fd = fd;
    }
}

impl fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

pub type Guard = lock_api::MutexGuard<'static, SpinLock, Buf>;

static STDOUT: lock_api::Mutex<SpinLock, Buf> =
    lock_api::Mutex::new(Buf::new(sys::STDOUT, &raw mut STDOUT_DATA));
static STDERR: lock_api::Mutex<SpinLock, Buf> =
    lock_api::Mutex::new(Buf::new(sys::STDERR, &raw mut STDERR_DATA));

pub fn stdout() -> Guard {
    STDOUT.lock()
}

pub fn stderr() -> Guard {
    STDERR.lock()
}

pub fn flush() {
    STDOUT.lock().flush();
    STDERR.lock().flush();
}

/// Flushes both streams and ends the process.
pub fn exit(code: i32) -> ! {
    flush();
    sys::exit_group(code)
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let _ = fmt::Write::write_fmt(&mut *stdout(), args);
}

#[doc(hidden)]
pub fn _eprint(args: fmt::Arguments<'_>) {
    // Keep stdout/stderr ordering as unbuffered glibc output would show it.
    STDOUT.lock().flush();
    let mut e = stderr();
    let _ = fmt::Write::write_fmt(&mut *e, args);
    e.flush();
}

#[macro_export]
macro_rules! print {
    ($($t:tt)*) => { $crate::out::_print(format_args!($($t)*)) };
}
#[macro_export]
macro_rules! println {
    () => { $crate::out::_print(format_args!("\n")) };
    ($($t:tt)*) => {{ $crate::out::_print(format_args!($($t)*)); $crate::out::_print(format_args!("\n")) }};
}
#[macro_export]
macro_rules! eprint {
    ($($t:tt)*) => { $crate::out::_eprint(format_args!($($t)*)) };
}
#[macro_export]
macro_rules! eprintln {
    ($($t:tt)*) => { $crate::out::_eprint(format_args!("{}\n", format_args!($($t)*))) };
}

/// A fixed stack buffer formatter for the panic path (must not lock or allocate).
pub struct StackBuf<const N: usize> {
    pub data: [u8; N],
    pub len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub const fn new() -> Self {
        StackBuf {
            data: [0; N],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or(&[])
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if let Some(slot) = self.data.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}
