//! Maps an ELF object's PT_LOAD segments into memory, executing an `rld_image::LoadPlan`.
//! Invariants: every mapping made here is owned by the new object for the life of the
//! process (or until dlclose unmaps it); we only MAP_FIXED inside our own reservation.

use rld_image::{LoadPlan, PROT_WRITE};

use crate::sys::{self, BorrowedFd, Errno};

/// rld-image's mapping plan for the PT_LOAD segments of `hdr`.
pub fn load_plan(
    hdr: &rld_search::verify::ElfHeader,
    page: usize,
) -> Result<LoadPlan, rld_image::PlanError> {
    let loads = hdr
        .phdrs
        .iter()
        .filter(|p| p.p_type == super::objects::PT_LOAD);
    rld_image::plan(
        loads.map(|p| rld_image::Segment {
            vaddr: p.p_vaddr,
            memsz: p.p_memsz,
            filesz: p.p_filesz,
            offset: p.p_offset,
            align: p.p_align,
            flags: p.p_flags,
        }),
        page as u64,
    )
}

/// Where an object landed.
#[derive(Clone, Copy, Debug)]
pub struct Mapped {
    /// `l_addr`: runtime address minus link-time address.
    pub bias: usize,
    pub map_start: usize,
    pub map_end: usize,
}

/// Why mapping failed: glibc's texts (`_dl_map_segments` error strings) plus errno.
#[derive(Clone, Copy, Debug)]
pub enum MapError {
    MapSegment(Errno),
    Mprotect(Errno),
    ZeroFill(Errno),
}

impl MapError {
    pub fn message(&self) -> &'static str {
        match self {
            MapError::MapSegment(_) => "failed to map segment from shared object",
            MapError::Mprotect(_) => "cannot change memory protections",
            MapError::ZeroFill(_) => "cannot map zero-fill pages",
        }
    }
    pub fn errno(&self) -> Errno {
        match *self {
            MapError::MapSegment(e) | MapError::Mprotect(e) | MapError::ZeroFill(e) => e,
        }
    }
}

/// Maps `plan` from `fd`. `fixed` is true for ET_EXEC (link-time addresses are absolute).
///
/// # Safety
/// For `fixed`, the caller guarantees the link-time range is not in use by anything live
/// (the kernel placed neither us nor our heap there). The returned range is new memory.
pub unsafe fn map_object(
    plan: &LoadPlan,
    fd: BorrowedFd<'_>,
    fixed: bool,
    page: usize,
) -> Result<Mapped, MapError> {
    let first = plan.cmds[0];
    let maplength = plan.maplength as usize;
    let reserve_at = if fixed { first.mapstart as usize } else { 0 };
    let base = if fixed {
        // SAFETY: caller contract for fixed objects.
        unsafe {
            sys::mmap(
                reserve_at,
                maplength,
                first.prot,
                sys::MAP_PRIVATE | sys::MAP_FIXED,
                Some(fd),
                first.mapoff,
            )
        }
        .map_err(MapError::MapSegment)?
    } else if plan.max_align <= page as u64 {
        // SAFETY: kernel-chosen address: aliases nothing.
        unsafe {
            sys::mmap(
                0,
                maplength,
                first.prot,
                sys::MAP_PRIVATE,
                Some(fd),
                first.mapoff,
            )
        }
        .map_err(MapError::MapSegment)?
    } else {
        // Over-aligned: reserve extra, map aligned inside it, trim both ends.
        let align = plan.max_align as usize;
        let maplen = if maplength >= align {
            maplength + align
        } else {
            2 * align
        };
        // SAFETY: fresh reservation.
        let start = unsafe {
            sys::mmap(
                0,
                maplen,
                sys::PROT_NONE,
                sys::MAP_PRIVATE | sys::MAP_ANONYMOUS,
                None,
                0,
            )
        }
        .map_err(MapError::MapSegment)?;
        let aligned = (start + align - 1) & !(align - 1);
        // SAFETY: inside our reservation.
        let r = unsafe {
            sys::mmap(
                aligned,
                maplength,
                first.prot,
                sys::MAP_PRIVATE | sys::MAP_FIXED,
                Some(fd),
                first.mapoff,
            )
        };
        match r {
            Err(e) => {
                // SAFETY: our reservation, nothing references it.
                let _ = unsafe { sys::munmap(start, maplen) };
                return Err(MapError::MapSegment(e));
            }
            Ok(_) => {
                let end = (aligned + maplength + page - 1) & !(page - 1);
                // SAFETY: trimming the unused parts of our own reservation.
                unsafe {
                    if aligned > start {
                        let _ = sys::munmap(start, aligned - start);
                    }
                    if start + maplen > end {
                        let _ = sys::munmap(end, start + maplen - end);
                    }
                }
                aligned
            }
        }
    };
    let bias = base.wrapping_sub(first.mapstart as usize);
    let mapped = Mapped {
        bias,
        map_start: base,
        map_end: base + maplength,
    };
    // SAFETY: every address below lies inside [base, base+maplength), which we own.
    unsafe {
        if plan.has_holes {
            // Make the whole tail inaccessible; later segments are mapped over it.
            let hole = bias + first.mapend as usize;
            if mapped.map_end > hole {
                sys::mprotect(hole, mapped.map_end - hole, sys::PROT_NONE)
                    .map_err(MapError::Mprotect)?;
            }
        }
        for (i, c) in plan.cmds.iter().enumerate() {
            if i > 0 && c.mapend > c.mapstart {
                sys::mmap(
                    bias + c.mapstart as usize,
                    (c.mapend - c.mapstart) as usize,
                    c.prot,
                    sys::MAP_PRIVATE | sys::MAP_FIXED,
                    Some(fd),
                    c.mapoff,
                )
                .map_err(MapError::MapSegment)?;
            }
            if let Some(bss) = c.bss(page as u64) {
                let zero = bias + bss.zero as usize;
                let zeropage = bias + bss.zeropage as usize;
                if zeropage > zero {
                    let pg = zero & !(page - 1);
                    if c.prot & PROT_WRITE == 0 {
                        sys::mprotect(pg, page, c.prot | PROT_WRITE).map_err(MapError::Mprotect)?;
                    }
                    core::ptr::write_bytes(zero as *mut u8, 0, zeropage - zero);
                    if c.prot & PROT_WRITE == 0 {
                        let _ = sys::mprotect(pg, page, c.prot);
                    }
                }
                let zeroend = bias + bss.zeroend as usize;
                if zeroend > zeropage {
                    sys::mmap(
                        zeropage,
                        zeroend - zeropage,
                        c.prot,
                        sys::MAP_PRIVATE | sys::MAP_FIXED | sys::MAP_ANONYMOUS,
                        None,
                        0,
                    )
                    .map_err(MapError::ZeroFill)?;
                }
            }
        }
    }
    Ok(mapped)
}

/// 2 MiB: a transparent huge page on x86-64.
const HUGE: usize = 2 << 20;

/// Moves the bytes of `start..start + len` (page aligned, part of one private writable file
/// mapping of an object, about to be written almost entirely by relocation) into anonymous
/// memory at the same addresses whose 2 MiB-aligned interior is advised as transparent huge
/// pages. Writing a relocated page of a file mapping costs a copy-on-write fault each
/// (~1.9 us here even when pre-faulted); here the interior costs one fault per 2 MiB and the
/// bytes are copied once. Measured on libLLVM-14's 7.8 MB of relocated data: 3.7 ms as
/// pre-faulted copy-on-write pages, 2.1 ms this way. Returns false, with the mapping as it
/// was, if the kernel refuses a step (e.g. the range spans two mappings); the caller then
/// takes the ordinary path.
///
/// # Safety
/// The range belongs to one object's writable segment; nothing reads or writes it during the
/// call (references into it, such as the dynamic section, are not used meanwhile), and it
/// holds the same bytes afterwards.
pub unsafe fn rehome_to_huge_pages(start: usize, len: usize) -> bool {
    const RW: u32 = sys::PROT_READ | sys::PROT_WRITE;
    // Without huge pages the copy costs more than the copy-on-write faults it replaces.
    if !huge_pages_advisable() {
        return false;
    }
    // SAFETY: a fresh reservation aliases nothing.
    let Ok(tmp) = (unsafe {
        sys::mmap(
            0,
            len,
            sys::PROT_NONE,
            sys::MAP_PRIVATE | sys::MAP_ANONYMOUS | sys::MAP_NORESERVE,
            None,
            0,
        )
    }) else {
        return false;
    };
    // SAFETY: the caller owns `start..+len`; `tmp` is our reservation, replaced by the move.
    if unsafe { sys::mremap_fixed(start, len, tmp) }.is_err() {
        // SAFETY: our reservation, unused.
        let _ = unsafe { sys::munmap(tmp, len) };
        return false;
    }
    // SAFETY: `start..+len` is the hole the move left in the object's reservation.
    let anon = unsafe {
        sys::mmap(
            start,
            len,
            RW,
            sys::MAP_PRIVATE | sys::MAP_ANONYMOUS | sys::MAP_FIXED,
            None,
            0,
        )
    };
    if anon.is_err() {
        // Put the file mapping back where it was.
        // SAFETY: moving our own mapping back into the hole it left.
        if unsafe { sys::mremap_fixed(tmp, len, start) }.is_err() {
            crate::rt::fatal(format_args!("cannot restore a relocated segment"));
        }
        return false;
    }
    let lo = start.next_multiple_of(HUGE);
    let hi = (start + len) & !(HUGE - 1);
    if hi > lo {
        let _ = sys::advise_hugepage(lo, hi - lo);
    }
    // SAFETY: both ranges are `len` bytes we own, distinct mappings.
    unsafe { core::ptr::copy_nonoverlapping(tmp as *const u8, start as *mut u8, len) };
    // SAFETY: the moved file mapping, no longer referenced.
    let _ = unsafe { sys::munmap(tmp, len) };
    true
}

/// Whether `MADV_HUGEPAGE` gets huge pages here: transparent huge pages `enabled` is
/// `[always]` or `[madvise]` (read once; 0 = unknown, 1 = no, 2 = yes).
fn huge_pages_advisable() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering::Relaxed};
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Relaxed) {
        1 => return false,
        2 => return true,
        _ => {}
    }
    let mut buf = [0u8; 64];
    let n = crate::fs::File::open(c"/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|f| rld_search::fs::FileHandle::read_at(&f, 0, &mut buf).ok())
        .unwrap_or(0);
    let text = buf.get(..n).unwrap_or(&[]);
    let has = |w: &[u8]| text.windows(w.len()).any(|x| x == w);
    let ok = has(b"[always]") || has(b"[madvise]");
    STATE.store(if ok { 2 } else { 1 }, Relaxed);
    ok
}
