// Global allocator (module `heap`, as `alloc` is the crate name): talc over anonymous mmap regions,
// guarded by a spin lock. Invariants: self-contained (no libc, no TLS, no brk), so it stays usable
// before and after the program's libc starts; the Source never allocates through the global allocator.

use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, Ordering};

use talc::base::Talc;
use talc::base::binning::Binning;
use talc::source::Source;

/// Minimal test-and-set lock for lock_api; the loader is single-threaded today, but the
/// heap may later be reached from program threads (dlopen), so it must still be a lock.
pub struct SpinLock(AtomicBool);

// SAFETY: `lock` returns only after an Acquire swap observed `false`, so at most one holder
// exists; `unlock` releases with Release ordering.
unsafe impl lock_api::RawMutex for SpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: SpinLock = SpinLock(AtomicBool::new(false));
    type GuardMarker = lock_api::GuardSend;

    fn lock(&self) {
        while self.0.swap(true, Ordering::Acquire) {
            while self.0.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }

    fn try_lock(&self) -> bool {
        !self.0.swap(true, Ordering::Acquire)
    }

    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Hands talc fresh anonymous mappings, at least 1 MiB each (never returned to the OS).
#[derive(Debug)]
pub struct MmapSource;

const CHUNK: usize = 1 << 20;

// SAFETY: acquire only uses the `talc` it is given and raw mmap; it never allocates.
unsafe impl Source for MmapSource {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        // Room for the request, its alignment and talc's metadata/first-heap overhead.
        let want = layout
            .size()
            .checked_add(layout.align())
            .and_then(|n| n.checked_add(64 * 1024))
            .ok_or(())?;
        let len = want.max(CHUNK).checked_next_multiple_of(4096).ok_or(())?;
        // SAFETY: a fresh anonymous private mapping aliases nothing.
        let base = unsafe {
            crate::sys::mmap(
                0,
                len,
                crate::sys::PROT_READ | crate::sys::PROT_WRITE,
                crate::sys::MAP_PRIVATE | crate::sys::MAP_ANONYMOUS,
                None,
                0,
            )
        }
        .map_err(|_| ())?;
        // SAFETY: [base, base+len) is ours alone for the rest of the process.
        unsafe { talc.claim(base as *mut u8, len) }
            .map(|_| ())
            .ok_or(())
    }
}

#[global_allocator]
static HEAP: talc::TalcLock<SpinLock, MmapSource> = talc::TalcLock::new(MmapSource);
