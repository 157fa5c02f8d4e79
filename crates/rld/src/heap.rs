// Global allocator (module `heap`, as `alloc` is the crate name): size classes (quarter steps
// between powers of two, `rld::heap_classes`) with free lists, carved from a bump region of
// anonymous mmap chunks; big blocks come straight from mmap and go back with munmap. Guarded
// by a spin lock. A request whose list is empty takes a block of the next larger non-empty
// class, if any, before the bump region: its rest is cut into smaller free blocks. Start-up
// frees whole phases' data (the load graph) before the next allocates, and every fresh heap
// page is a zero-fill fault; replaying allocation traces of true, ls, perl and bash, the
// finer classes with splitting lower the heap's high-water mark by 11-18%.
//
// Why not a proven crate (talc 5.1 was used before): callgrind of `rld /usr/bin/true` showed
// `Talc::allocate` at 78k of 545k Ir (~180 Ir per call, ~440 calls), deallocate 18k and
// realloc copies ~5k more; this allocator takes ~20-30 Ir per call, grows the newest block in
// place (most Vec growth at start-up), and leaves fresh memory untouched for `alloc_zeroed`
// (it is zero already), which also saves page faults. Memory stays flat across repeated
// dlopen/dlclose because a freed block is reused by the next request of its class (the
// oracle test `m4_dlopen_dlclose_no_leak` runs 10,000 cycles).
//
// Invariants: self-contained (no libc, no TLS, no brk), so it stays usable before and after
// the program's libc starts; never allocates through itself. A block's class is always
// `kind_of(layout)` of the layout it is currently known by (realloc moves or resizes a block
// when the class changes), so `dealloc` files it under the right list. Blocks of a class are
// aligned to `class_align`, and so are the pieces `split_larger` cuts (`carve` files each
// under the class of its exact size, at an address meeting that class's alignment).
// `State::nonempty` mirrors which free lists are non-empty (`push`/`pop` keep it).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use lock_api::RawMutex;

use rld::heap_classes::{
    CLASSES, MAX_ALIGN as MAX_SMALL_ALIGN, MAX_SIZE, carve, class_align, class_index, class_size,
};

// `State::nonempty` has a bit per class.
const _: () = assert!(CLASSES <= 64);

/// The first bump chunk: 1 MiB of ordinary pages (small programs touch a dozen of them).
const CHUNK: usize = 1 << 20;
const PAGE: usize = 4096;
/// How much of the first chunk is faulted in up front (MADV_POPULATE_WRITE): one system call
/// instead of a page-fault trap per page. Here a populated page costs about what its fault
/// would (16 pages: 31 us either way, 2026-11-22), so this is what every start-up uses at
/// least (`true` through PT_INTERP: 27.8 KiB, 2026-11-23), never more: pages populated and
/// left unused are pure cost. What it saves is a trap per page (`true`, whole process, 3,001
/// interleaved spawns: 477 us with 32 KiB populated, 484 us with none).
const PREFAULT: usize = 28 << 10;
/// A transparent huge page. Measured here (2026-11-22, THP `enabled=madvise`): writing 2 MiB
/// costs 942 us in 4 KiB page faults and 71 us as one huge page; 8 MiB 4,107 vs 277 us.
/// Heaps that outgrow the first chunk (big programs: inkscape's start-up heap is ~8 MiB)
/// continue in huge-page chunks, and big blocks of at least `BIG_HUGE_MIN` are rounded up to
/// huge pages: touching even 1/13 of one costs less than faulting those 4 KiB pages.
const HUGE: usize = 2 << 20;
const BIG_HUGE_MIN: usize = 512 << 10;

/// Minimal test-and-set lock for lock_api (also used by `out`); the loader is single-threaded
/// at start-up, but dlopen can be called from program threads, so the heap must be a lock.
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

struct State {
    /// Heads of the singly linked free lists (the next pointer lives in the free block).
    free: [*mut u8; CLASSES],
    /// Bit `i` set: `free[i]` is not empty.
    nonempty: u64,
    /// Bump region [top, end): untouched memory of the current chunk, zero-filled.
    top: usize,
    end: usize,
    /// Start of the newest bump block (can be resized in place), 0 if none.
    last: usize,
    /// Highest `top` reached in the current chunk: memory above it was never written (fresh
    /// mappings are zero-filled), so `alloc_zeroed` can skip the memset (and the page
    /// faults) there; below it, blocks given back to the bump region may be dirty.
    high: usize,
}

struct Heap {
    lock: SpinLock,
    state: UnsafeCell<State>,
}

// SAFETY: `state` is only accessed while `lock` is held (see `Heap::with`).
unsafe impl Sync for Heap {}

/// Where a layout is served from.
enum Kind {
    /// Size class index (see `class_size`).
    Small(usize),
    /// mmap'd, `len` bytes rounded to pages.
    Big(usize),
}

#[inline(always)]
fn kind_of(layout: Layout) -> Option<Kind> {
    let size = layout.size().max(layout.align());
    if layout.align() <= MAX_SMALL_ALIGN && size <= MAX_SIZE {
        Some(Kind::Small(class_index(size, layout.align())))
    } else if size >= BIG_HUGE_MIN {
        size.checked_next_multiple_of(HUGE).map(Kind::Big)
    } else {
        size.checked_next_multiple_of(PAGE).map(Kind::Big)
    }
}

/// A fresh anonymous read/write mapping of `len` bytes (page multiple).
fn map(len: usize) -> Option<usize> {
    // SAFETY: a fresh anonymous private mapping aliases nothing.
    unsafe {
        crate::sys::mmap(
            0,
            len,
            crate::sys::PROT_READ | crate::sys::PROT_WRITE,
            crate::sys::MAP_PRIVATE | crate::sys::MAP_ANONYMOUS,
            None,
            0,
        )
    }
    .ok()
}

/// A big block's mapping: `len` from `kind_of`; huge-page multiples are huge-page aligned
/// and advised as such.
fn map_big(len: usize, align: usize) -> Option<usize> {
    if len.is_multiple_of(HUGE) {
        let p = map_aligned(len, align.max(HUGE))?;
        let _ = crate::sys::advise_hugepage(p, len);
        Some(p)
    } else {
        map_aligned(len, align)
    }
}

/// A mapping of `len` bytes aligned to `align` (a power of two): over-map and trim.
fn map_aligned(len: usize, align: usize) -> Option<usize> {
    if align <= PAGE {
        return map(len);
    }
    let total = len.checked_add(align)?;
    let base = map(total)?;
    let start = base.next_multiple_of(align);
    // SAFETY: the head and tail are parts of the mapping just made, referenced by nobody.
    unsafe {
        if start > base {
            let _ = crate::sys::munmap(base, start - base);
        }
        let tail = base + total - (start + len);
        if tail > 0 {
            let _ = crate::sys::munmap(start + len, tail);
        }
    }
    Some(start)
}

impl State {
    /// A block of class `index` and whether it is still zero-filled (never written).
    #[inline(always)]
    fn alloc_small(&mut self, index: usize) -> Option<(*mut u8, bool)> {
        if let Some(head) = self.pop(index) {
            return Some((head, false));
        }
        if let Some(head) = self.split_larger(index) {
            return Some((head, false));
        }
        let size = class_size(index);
        let mut start = self.top.next_multiple_of(class_align(index));
        if start + size > self.end {
            // The first chunk in ordinary pages, later ones as huge pages (see `HUGE`).
            let (base, len) = if self.end == 0 {
                let base = map(CHUNK)?;
                // Every start-up touches the first pages of the heap: fault them in with one
                // call instead of one trap each (see `PREFAULT`).
                // SAFETY: advice on the anonymous mapping just made (its pages become present
                // and stay zero-filled); failure (kernels before 5.14) changes nothing.
                let _ = unsafe {
                    rustix::mm::madvise(
                        base as *mut core::ffi::c_void,
                        PREFAULT,
                        rustix::mm::Advice::LinuxPopulateWrite,
                    )
                };
                (base, CHUNK)
            } else {
                (map_big(HUGE, HUGE)?, HUGE)
            };
            self.top = base;
            self.end = base + len;
            self.high = self.top;
            start = self.top;
        }
        let zero = start >= self.high;
        self.top = start + size;
        self.high = self.high.max(self.top);
        self.last = start;
        Some((start as *mut u8, zero))
    }

    /// `size` bytes (a multiple of 16) aligned to `align` (at least 16) cut from the bump
    /// region of the current chunk, and whether they are still zero-filled; None if the
    /// chunk has no room. No class: the block can never be freed.
    fn alloc_exact(&mut self, size: usize, align: usize) -> Option<(*mut u8, bool)> {
        let start = self.top.checked_next_multiple_of(align)?;
        if self.end == 0 || start.checked_add(size)? > self.end {
            return None;
        }
        let zero = start >= self.high;
        self.top = start + size;
        self.high = self.high.max(self.top);
        // The block before it can no longer grow in place.
        self.last = 0;
        Some((start as *mut u8, zero))
    }

    #[inline(always)]
    fn free_small(&mut self, ptr: *mut u8, index: usize) {
        if ptr as usize == self.last && self.last + class_size(index) == self.top {
            // The newest bump block: give it back to the bump region (`high` stays above it,
            // as it may be dirty).
            self.top = self.last;
            self.last = 0;
            return;
        }
        self.push(ptr, index);
    }

    /// Files a free block of class `index`.
    #[inline(always)]
    fn push(&mut self, ptr: *mut u8, index: usize) {
        let Some(head) = self.free.get_mut(index) else {
            return;
        };
        // SAFETY: the block is ours, at least 16 bytes and 16-aligned, no longer in use.
        unsafe { *(ptr as *mut *mut u8) = *head };
        *head = ptr;
        self.nonempty |= 1 << index;
    }

    /// A free block of class `index`, if its list has one.
    #[inline(always)]
    fn pop(&mut self, index: usize) -> Option<*mut u8> {
        let head = self.free.get_mut(index)?;
        if head.is_null() {
            return None;
        }
        let block = *head;
        // SAFETY: free blocks hold the next pointer in their first word (written by `push`).
        *head = unsafe { *(block as *mut *mut u8) };
        if head.is_null() {
            self.nonempty &= !(1 << index);
        }
        Some(block)
    }

    /// A block of class `index` cut from the front of a free block of the smallest larger
    /// class that has one (its rest filed as smaller free blocks), or None.
    #[cold]
    fn split_larger(&mut self, index: usize) -> Option<*mut u8> {
        let larger = self.nonempty & !((2u64 << index) - 1);
        if larger == 0 {
            return None;
        }
        let from = larger.trailing_zeros() as usize;
        let block = self.pop(from)?;
        if !(block as usize).is_multiple_of(class_align(index)) {
            // Not aligned for this class (rare: only classes below 64 bytes differ): keep it.
            self.push(block, from);
            return None;
        }
        let used = class_size(index);
        // The rest of the block is free and ours; every piece is a class block (size and
        // alignment), so `push` may write its next pointer into it.
        carve(block as usize + used, class_size(from) - used, |a, c| {
            self.push(a as *mut u8, c)
        });
        Some(block)
    }

    /// Resizes the newest bump block in place to class `new`, if it is that block, the chunk
    /// has room and its address suits the new class's alignment. Not when class `new` has a
    /// free block: that one is reused instead (the caller moves the data), otherwise every
    /// in-place growth would turn fresh bump memory into another free block of class `new`,
    /// and a repeated pattern (dlopen/dlclose cycles) would grow the heap without bound.
    fn resize_last(&mut self, ptr: *mut u8, old: usize, new: usize) -> bool {
        let p = ptr as usize;
        if self.nonempty & (1 << new) != 0
            || p != self.last
            || p + class_size(old) != self.top
            || !p.is_multiple_of(class_align(new))
            || p + class_size(new) > self.end
        {
            return false;
        }
        self.top = p + class_size(new);
        self.high = self.high.max(self.top);
        true
    }
}

/// Zero-filled memory for the life of the process, cut at its exact size from the heap's
/// bump region rather than rounded up to a size class: the main thread's static TLS block
/// (libc's 4,224 bytes took a 5,120-byte block, the start-up heap's last page). Falls back to
/// a class block when the current chunk has no room; null if memory runs out. The block must
/// never be given to `dealloc`.
pub fn alloc_permanent(layout: Layout) -> *mut u8 {
    let size = layout.size().max(1).next_multiple_of(16);
    let align = layout.align().max(16);
    if let Some((p, zero)) = HEAP.with(|s| s.alloc_exact(size, align)) {
        if !zero {
            // SAFETY: the block is ours and `size` bytes long.
            unsafe { core::ptr::write_bytes(p, 0, size) };
        }
        return p;
    }
    // SAFETY: a non-zero size.
    unsafe { HEAP.alloc_zeroed(layout) }
}

/// Whether code other than rld's may run, and so other threads may exist: set by
/// [`share`] before the first program code (an IFUNC resolver, a constructor) is called.
/// Until then rld is the process's only thread and the heap takes no lock: each lock is an
/// atomic swap (a full barrier), and `true`'s start-up made ~450 of them (now ~40, after
/// libc's first IFUNC resolver). No change in spawn time was measurable.
static SHARED: AtomicBool = AtomicBool::new(false);

/// From now on every heap call takes the lock. Called by the only thread, outside any heap
/// call, before any code but rld's runs; threads created later see it (thread creation
/// orders memory).
pub fn share() {
    SHARED.store(true, Ordering::Relaxed);
}

impl Heap {
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let shared = SHARED.load(Ordering::Relaxed);
        if shared {
            self.lock.lock();
        }
        // SAFETY: the lock is held, or no other thread exists (see `SHARED`), so this is
        // the only reference to the state.
        let r = f(unsafe { &mut *self.state.get() });
        if shared {
            // SAFETY: locked just above, by this thread.
            unsafe { self.lock.unlock() };
        }
        r
    }
}

// SAFETY: blocks come from disjoint mappings / disjoint bump ranges, are at least as large and
// as aligned as their layout (class sizes >= size; for align > 16 a power-of-two class >=
// align, whose blocks are aligned to min(class, 64) >= align; mmap'd blocks page- or
// `align`-aligned), and a block is handed out again only after `dealloc`.
// The entry points are never inlined: with LTO they would otherwise be copied into hundreds
// of allocation sites (measured: +76 KB of .text).
unsafe impl GlobalAlloc for Heap {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match kind_of(layout) {
            Some(Kind::Small(i)) => self.with(|s| s.alloc_small(i).map_or(null_mut(), |(p, _)| p)),
            Some(Kind::Big(len)) => {
                map_big(len, layout.align()).map_or(null_mut(), |p| p as *mut u8)
            }
            None => null_mut(),
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match kind_of(layout) {
            Some(Kind::Small(i)) => {
                let (p, zero) = self.with(|s| s.alloc_small(i).unwrap_or((null_mut(), true)));
                if !zero {
                    // SAFETY: the block is valid for its layout's size.
                    unsafe { core::ptr::write_bytes(p, 0, layout.size()) };
                }
                p
            }
            // Fresh mappings are zero-filled.
            Some(Kind::Big(len)) => {
                map_big(len, layout.align()).map_or(null_mut(), |p| p as *mut u8)
            }
            None => null_mut(),
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match kind_of(layout) {
            Some(Kind::Small(i)) => self.with(|s| s.free_small(ptr, i)),
            Some(Kind::Big(len)) => {
                // SAFETY: GlobalAlloc contract: the block is no longer used; it is exactly
                // the mapping made for this layout.
                let _ = unsafe { crate::sys::munmap(ptr as usize, len) };
            }
            None => {}
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc contract: new_size rounded to align does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if let (Some(Kind::Small(old)), Some(Kind::Small(new))) =
            (kind_of(layout), kind_of(new_layout))
        {
            // Same class: the block already fits. The newest block: resize in place.
            if old == new || self.with(|s| s.resize_last(ptr, old, new)) {
                return ptr;
            }
        }
        // SAFETY: GlobalAlloc contract (valid layout); the copy covers the smaller size of
        // two distinct live blocks.
        unsafe {
            let p = self.alloc(new_layout);
            if !p.is_null() {
                core::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            p
        }
    }
}

#[global_allocator]
// In .data, not .bss (cold.ld: the writable segment must end within its file's last page).
#[unsafe(link_section = ".data.rld_hot")]
static HEAP: Heap = Heap {
    lock: SpinLock(AtomicBool::new(false)),
    state: UnsafeCell::new(State {
        free: [null_mut(); CLASSES],
        nonempty: 0,
        top: 0,
        end: 0,
        last: 0,
        high: 0,
    }),
};
