//! Applies one object's relocations to its mapped image, following rld-link's plan and
//! glibc's order (RELR, RELA relative prefix, symbolic entries with IRELATIVE deferred to
//! the end of their range, JMPREL, then RELRO).
//!
//! Invariants: every write goes to `bias + r_offset` of the object being relocated, which
//! rld mapped writable (or made writable for DT_TEXTREL); the only calls into program code
//! are IFUNC resolvers, made without holding any reference into the runtime state.

use alloc::string::String;
use alloc::vec::Vec;

use rld_elf::memory::Memory;
use rld_link::object::{SHN_ABS, SHN_UNDEF, STT_GNU_IFUNC, Sym};
use rld_link::plan::VALUE_UNKNOWN;
use rld_link::reloc::{
    Action, R_X86_64_64, R_X86_64_GLOB_DAT, R_X86_64_IRELATIVE, R_X86_64_JUMP_SLOT,
    R_X86_64_RELATIVE, RelocError, RelocInput, SymFacts, TlsDescEntry, TlsFacts, Warn,
    finish_ifunc, reloc_action, type_class,
};
use rld_link::{Binding, ObjId};

use super::map::{FileBytes, Rehomed};
use super::objects::{PF_W, PF_X, PT_LOAD};
use super::state::{self, Runtime};
use crate::sys;
use rld_search::verify::Phdr;

/// A relocation failure in glibc's words: (objname, occasion, errstring).
pub struct RelocFailure {
    pub line: String,
}

fn rt() -> &'static mut Runtime {
    // SAFETY: start-up is single-threaded; callers re-fetch after calls into program code.
    match unsafe { state::get_unlocked() } {
        Some(r) => r,
        None => super::fatal(format_args!("relocation before the runtime exists")),
    }
}

fn progname(rt: &Runtime) -> String {
    String::from_utf8_lossy(rt.progname).into_owned()
}

/// Facts of binding `b` for relocation code.
pub fn facts(rt: &Runtime, b: Binding) -> Option<SymFacts> {
    let Binding::Def { obj, sym } = b else {
        return None;
    };
    let o = rt.objs.get(obj as usize)?;
    let s: Sym = rt.ns.obj(obj)?.sym(sym)?;
    Some(SymFacts {
        st_value: s.value,
        def_base: o.bias as u64,
        abs: s.shndx == SHN_ABS,
        ifunc: s.typ() == STT_GNU_IFUNC && s.shndx != SHN_UNDEF,
        size: s.size,
        tls: match &o.tls {
            Some(t) => TlsFacts {
                modid: t.modid as u64,
                // l_tls_offset 0: no static block (a dlopen'ed dynamic-TLS module).
                static_offset: (t.offset != 0).then_some(t.offset as u64),
            },
            None => TlsFacts::default(),
        },
    })
}

/// # Safety
/// `place` is inside the object being relocated and writable.
unsafe fn write64(place: u64, v: u64) {
    // SAFETY: caller contract.
    unsafe { (place as *mut u64).write_unaligned(v) }
}

fn warn_line(rt: &Runtime, id: usize, sym: u32, w: Warn) {
    let name = rt
        .ns
        .obj(id as ObjId)
        .and_then(|o| o.sym(sym).map(|s| o.sym_name(&s)))
        .unwrap_or(b"");
    let what = match w {
        Warn::Overflow32 => "causes overflow in R_X86_64_32 relocation",
        Warn::OverflowPc32 => "causes overflow in R_X86_64_PC32 relocation",
        Warn::CopySize => "has different size in shared object, consider re-linking",
    };
    eprint!(
        "{}: Symbol `{}' {}\n",
        progname(rt),
        String::from_utf8_lossy(name),
        what
    );
}

/// Applies the action for relocation `r` of object `id` at `place`.
///
/// # Safety
/// `place` is inside object `id`'s writable image.
unsafe fn apply(id: usize, place: u64, r_type: u32, sym: u32, a: Action) -> Result<(), String> {
    let _ = r_type;
    match a {
        Action::Nothing => Ok(()),
        // SAFETY: caller contract.
        Action::Write64(v) => unsafe {
            write64(place, v);
            Ok(())
        },
        Action::Write32 { value, warn } => {
            if let Some(w) = warn {
                warn_line(rt(), id, sym, w);
            }
            // SAFETY: caller contract.
            unsafe { (place as *mut u32).write_unaligned(value) };
            Ok(())
        }
        Action::Copy { src, len, warn } => {
            if let Some(w) = warn {
                warn_line(rt(), id, sym, w);
            }
            // SAFETY: src is inside the (relocated) defining object; place..place+len is the
            // executable's copy slot of at least `len` bytes (its symbol's size).
            unsafe {
                core::ptr::copy_nonoverlapping(src as *const u8, place as *mut u8, len as usize)
            };
            Ok(())
        }
        Action::Ifunc { resolver, then } => {
            // SAFETY: the defining object is relocated (it precedes us in relocation order).
            let v = unsafe { super::jump::call_ifunc(resolver as usize) } as u64;
            let next = finish_ifunc(&then, v).map_err(|e| reloc_error(id, e))?;
            // SAFETY: caller contract.
            unsafe { apply(id, place, r_type, sym, next) }
        }
        Action::Irelative { resolver } => {
            // SAFETY: the object itself is relocated up to this point (deferred IRELATIVE).
            let v = unsafe { super::jump::call_ifunc(resolver as usize) } as u64;
            // SAFETY: caller contract.
            unsafe { write64(place, v) };
            Ok(())
        }
        Action::TlsDesc { entry, arg, modid } => {
            let (f, arg) = match entry {
                TlsDescEntry::Return => (super::tls::_dl_tlsdesc_return as *const () as usize, arg),
                TlsDescEntry::UndefWeak => {
                    (super::tls::_dl_tlsdesc_undefweak as *const () as usize, arg)
                }
                TlsDescEntry::Dynamic => {
                    // The argument is a {modid, offset} record (a `tls_index`), owned by the
                    // object being relocated: it lives as long as the object's image.
                    let rec = alloc::boxed::Box::new([modid as usize, arg as usize]);
                    let addr = &*rec as *const [usize; 2] as u64;
                    if let Some(o) = rt().objs.get_mut(id) {
                        o.tlsdesc_records.push(rec);
                    }
                    (super::tls::_dl_tlsdesc_dynamic as *const () as usize, addr)
                }
            };
            // SAFETY: caller contract (a TLSDESC place is 16 bytes).
            unsafe {
                write64(place, f as u64);
                write64(place + 8, arg);
            }
            Ok(())
        }
    }
}

fn reloc_error(id: usize, e: RelocError) -> String {
    match e {
        RelocError::BadType { r_type, plt } => {
            object_error(id, &rld_link::reloc::bad_type_message(r_type, plt))
        }
        RelocError::NeedStaticTls => object_error(id, "cannot allocate memory in static TLS block"),
    }
}

/// glibc's fatal line about object `id` (`PROG: error while loading shared libraries: OBJ:
/// MSG`).
fn object_error(id: usize, msg: &str) -> String {
    let rt = rt();
    let name = rt.objs.get(id).map_or(&b""[..], |o| o.name);
    let obj = rld_link::error::dso_filename(name, &progname(rt));
    rld_link::fatal_line(&progname(rt), None, &obj, msg, None)
}

/// One relocation table entry, decoded from the mapped table.
#[derive(Clone, Copy)]
struct Entry {
    offset: u64,
    r_type: u32,
    sym: u32,
    addend: i64,
}

/// Entry `k` of a RELA table.
///
/// # Safety
/// `k < table.len() / 24`.
#[inline(always)]
unsafe fn entry(table: &[u8], k: usize) -> Entry {
    // SAFETY: caller contract: the 24 bytes at 24 * k lie inside `table`.
    unsafe {
        let e = table.as_ptr().add(24 * k);
        let info = (e.add(8) as *const u64).read_unaligned();
        Entry {
            offset: (e as *const u64).read_unaligned(),
            r_type: info as u32,
            sym: (info >> 32) as u32,
            addend: (e.add(16) as *const i64).read_unaligned(),
        }
    }
}

/// Relocates one range of RELA entries (`skip_relative` leading entries are RELATIVE by
/// DT_RELACOUNT); IRELATIVE entries run at the end of the range. JUMP_SLOTs of undefined
/// functions are left lazy when `lazy_undefined` (glibc would only fail if they are called).
///
/// This loop runs once per relocation of every object (hundreds of thousands for big C++
/// programs), so it decodes entries straight from the mapped table and keeps the common
/// cases (RELATIVE, a lazy JUMP_SLOT, a pointer to an already computed address) to a few
/// instructions each; everything else goes through rld-link's `reloc_action`.
///
/// # Safety
/// The object is mapped writable where its relocations point.
unsafe fn do_range(
    id: usize,
    tables: &[&'static [u8]],
    skip_relative: usize,
    rel: &mut Relative<'_>,
    lazy_undefined: bool,
    left_lazy: &mut bool,
) -> Result<(), String> {
    let bias = rt().objs.get(id).map_or(0, |o| o.bias) as u64;
    let (plan_lazy_plt, nbindings) = rt()
        .plan
        .objs
        .get(id)
        .map_or((false, 0), |p| (p.lazy_plt, p.bindings.len()));
    let tracing = super::debug::tracing_relocs();
    // The DT_RELACOUNT prefix: `*P = B + A`.
    let first = tables.first().copied().unwrap_or(&[]);
    let n_rel = skip_relative.min(first.len() / 24);
    // SAFETY: caller contract (the object is mapped writable where its relocations point).
    unsafe { relative_prefix(id, bias, first, n_rel, rel) };
    // IRELATIVE entries wait for the end of the range (their resolvers may read what the
    // other entries write); a second pass finds them again instead of a list (libc's ~40
    // grew a vector to 1 KB, the top of a small start-up's heap).
    let mut any_irelative = false;
    // Per-binding resolved addresses (0: not computed, or not a plain address, or 0 itself:
    // those take the slow path each time). The runtime's buffer, reused object after object;
    // put back below (on an error it is dropped: the next object starts a new one).
    let mut addr_cache: Vec<u64> = core::mem::take(&mut rt().addr_cache);
    let mut cache_ready = false;
    // The previous symbolic entry's (symbol, type) and its address: consecutive entries
    // often name the same symbol (glibc's `l_lookup_cache`).
    let mut last: Option<(u32, u32, u64)> = None;
    // Where the next new (symbol, type class) is expected in the plan: it was planned in
    // this same entry order, so a match at `next` avoids a random probe of the plan's index.
    let mut next = 0usize;
    for (t, table) in tables.iter().enumerate() {
        let from = if t == 0 { n_rel } else { 0 };
        for k in from..table.len() / 24 {
            // SAFETY: k < table.len() / 24.
            let r = unsafe { entry(table, k) };
            let place = bias.wrapping_add(r.offset);
            match r.r_type {
                R_X86_64_RELATIVE => {
                    // SAFETY: caller contract.
                    unsafe { write64(place, bias.wrapping_add(r.addend as u64)) };
                    continue;
                }
                R_X86_64_IRELATIVE => {
                    any_irelative = true;
                    continue;
                }
                _ => {}
            }
            if tracing {
                super::debug::reloc_sym(id, r.r_type, r.sym, lazy_undefined);
            }
            if r.r_type == R_X86_64_JUMP_SLOT && lazy_undefined && plan_lazy_plt {
                // Left to the PLT resolver, as glibc's lazy `elf_machine_lazy_rel`: no lookup.
                // SAFETY: caller contract.
                unsafe { add_bias(place, bias) };
                *left_lazy = true;
                continue;
            }
            // Fast path for the common data/function pointer types: each binding's address
            // is computed once per object and reused by every relocation that names it.
            if matches!(
                r.r_type,
                R_X86_64_64 | R_X86_64_GLOB_DAT | R_X86_64_JUMP_SLOT
            ) {
                let a = match last {
                    Some((s, ty, a)) if s == r.sym && ty == r.r_type => a,
                    _ => {
                        if !cache_ready {
                            // (`fill` is a memset; `resize` would store word by word.)
                            if let Some(c) = addr_cache.get_mut(..nbindings) {
                                c.fill(0);
                            } else {
                                // (The old buffer goes first: its memory may serve.)
                                drop(core::mem::take(&mut addr_cache));
                                addr_cache = alloc::vec![0; nbindings];
                            }
                            cache_ready = true;
                        }
                        let a = cached_address(id, r.sym, r.r_type, &mut addr_cache, &mut next);
                        last = Some((r.sym, r.r_type, a));
                        a
                    }
                };
                if a != u64::MAX {
                    let v = if r.r_type == R_X86_64_64 {
                        a.wrapping_add(r.addend as u64)
                    } else {
                        a
                    };
                    // SAFETY: caller contract.
                    unsafe { write64(place, v) };
                    continue;
                }
            }
            // SAFETY: caller contract.
            unsafe { general(id, bias, place, r, lazy_undefined, left_lazy)? };
        }
    }
    rt().addr_cache = addr_cache;
    if !any_irelative {
        return Ok(());
    }
    for (t, table) in tables.iter().enumerate() {
        let from = if t == 0 { n_rel } else { 0 };
        for k in from..table.len() / 24 {
            // SAFETY: k < table.len() / 24.
            let r = unsafe { entry(table, k) };
            if r.r_type != R_X86_64_IRELATIVE {
                continue;
            }
            let place = bias.wrapping_add(r.offset);
            let resolver = bias.wrapping_add(r.addend as u64);
            // SAFETY: the object is relocated except for its IRELATIVEs; caller contract.
            unsafe {
                apply(
                    id,
                    place,
                    R_X86_64_IRELATIVE,
                    0,
                    Action::Irelative { resolver },
                )?
            };
        }
    }
    Ok(())
}

/// How an object's `R_X86_64_RELATIVE` prefix (DT_RELACOUNT entries) is applied.
pub enum Relative<'r> {
    /// From its RELA entries.
    Table,
    /// From the launch cache: the RELR form of the same offsets, made by an earlier launch
    /// from this very file (`Record`). Big C++ libraries have hundreds of thousands of
    /// these entries (libLLVM 336k, 8 MB of RELA); the RELR form is ~1/60 the size, and
    /// the RELA pages are never touched.
    Replay(rld_link::launch::Relative<'r>),
    /// From its RELA entries, also encoding them for a new record, as long as each entry's
    /// addend is what the file holds at its offset (so that adding the load bias in place
    /// gives `B + A`) and offsets increase.
    Record(rld_link::relr::RelrWriter),
}

/// Applies the first `n` (RELATIVE) entries of `table` as `rel` says.
///
/// # Safety
/// The entries' places are words of the object's writable image.
unsafe fn relative_prefix(id: usize, bias: u64, table: &[u8], n: usize, rel: &mut Relative<'_>) {
    if n == 0 {
        return;
    }
    match rel {
        Relative::Replay(r) if r.entries == n && in_image(id, r.lo, r.hi) => {
            // Bytes moved to huge pages come back in steps just ahead of the relocation, so
            // that each word is still in the cache when its bias is added.
            const STEP: usize = 256 << 10;
            let mut home = prefault_dense(id, bias, r.lo, r.hi, n);
            let whole = rld_link::relr::for_each_group(r.relr, r.lo, r.hi, |at, bits| {
                let first = bias.wrapping_add(at);
                // The group's words lie in `first..first + 8 * 64`.
                if let Some(h) = home.as_mut()
                    && first as usize + 8 * 64 > h.copied_to()
                {
                    h.copy_to((first as usize + 8 * 64).next_multiple_of(STEP));
                }
                // SAFETY: the offsets are in the object's image (the group was checked
                // against lo..=hi, which are inside it) and, if moved, copied back; the
                // record was made from this file, whose words at these offsets hold
                // their addends.
                unsafe { add_bias_group(first, bits, bias) };
            });
            drop(home);
            if whole {
                return;
            }
            // A record that does not fit (it was checked, so only a forged one): the RELA
            // entries decide. Their `*P = B + A` is idempotent, so the words already
            // done are simply written again.
        }
        _ => {
            // SAFETY: 0 < n <= table.len() / 24 (caller).
            let (lo, hi) = unsafe { (entry(table, 0).offset, entry(table, n - 1).offset) };
            // (Moved bytes are all copied back at once: RELA entries need not be in order.)
            drop(prefault_dense(id, bias, lo, hi, n));
        }
    }
    if let Relative::Record(w) = rel {
        for k in 0..n {
            // SAFETY: k < n <= table.len() / 24; caller contract for the place.
            unsafe {
                let r = entry(table, k);
                let place = bias.wrapping_add(r.offset);
                if (place as *const u64).read_unaligned() == r.addend as u64 {
                    w.push(r.offset);
                } else {
                    w.spoil();
                }
                write64(place, bias.wrapping_add(r.addend as u64));
            }
        }
        return;
    }
    for k in 0..n {
        // SAFETY: k < n <= table.len() / 24; caller contract for the place.
        unsafe {
            let r = entry(table, k);
            write64(
                bias.wrapping_add(r.offset),
                bias.wrapping_add(r.addend as u64),
            );
        }
    }
}

/// Whether `lo..=hi` (+ a word) lies within object `id`'s mapped span.
fn in_image(id: usize, lo: u64, hi: u64) -> bool {
    image_words(id).is_some_and(|(first, last)| first <= lo && lo <= hi && hi <= last)
}

/// The link-time addresses of the first and the last word of object `id`'s mapped span.
fn image_words(id: usize) -> Option<(u64, u64)> {
    let o = rt().objs.get(id)?;
    let (b, start, end) = (o.bias as u64, o.map_start as u64, o.map_end as u64);
    let first = start.checked_sub(b)?;
    let last = end.checked_sub(8)?.checked_sub(b)?;
    (first <= last).then_some((first, last))
}

/// Binds object `id`'s prebound JUMP_SLOTs (`launch::Cache::prebind`): each slot gets its
/// defining object's load bias plus the recorded value, instead of waiting for the PLT
/// resolver. An entry that does not name a JUMP_SLOT of the object's DT_JMPREL inside its
/// mapped span, or names no object, is skipped: that slot stays lazy.
pub fn apply_prebound(id: usize, slots: impl IntoIterator<Item = rld_link::plan::PreboundSlot>) {
    let mut slots = slots.into_iter().peekable();
    if slots.peek().is_none() {
        return;
    }
    let rt = rt();
    let (Some(o), Some(v), Some((lo, hi))) =
        (rt.objs.get(id), rt.ns.obj(id as ObjId), image_words(id))
    else {
        return;
    };
    let bias = o.bias as u64;
    let entries = v.jmprel.len() / 24;
    for s in slots {
        let Some(def) = rt.objs.get(s.obj as usize) else {
            continue;
        };
        let k = s.index as usize;
        if k >= entries {
            continue;
        }
        // SAFETY: k < entries.
        let r = unsafe { entry(v.jmprel, k) };
        if r.r_type != R_X86_64_JUMP_SLOT || r.offset < lo || r.offset > hi {
            continue;
        }
        // SAFETY: a word of the object's mapped span that its DT_JMPREL names, in its
        // writable segment (where every JUMP_SLOT is, just written by `relocate`); RELRO
        // is not protected yet.
        unsafe {
            write64(
                bias.wrapping_add(r.offset),
                (def.bias as u64).wrapping_add(s.value),
            )
        };
    }
}

/// `*w += bias` for every word `first + 8 * i` whose bit `i` of `bits` is set (one RELR
/// group: a single address is bit 0 alone), lowest first.
///
/// # Safety
/// Every such word is in the object's writable image.
#[inline(always)]
unsafe fn add_bias_group(first: u64, mut bits: u64, bias: u64) {
    let p = first as *mut u64;
    while bits != 0 {
        let w = p.wrapping_add(bits.trailing_zeros() as usize);
        // SAFETY: caller contract.
        unsafe { w.write_unaligned(w.read_unaligned().wrapping_add(bias)) };
        bits &= bits - 1;
    }
}

/// Copy-on-write faults for the pages that relocation will write, taken in one
/// `MADV_POPULATE_WRITE` call instead of one trap per page (a fault costs ~2.5 us here,
/// populating ~1.9 us per page: libLLVM alone writes ~1,900 pages), or, for ranges holding a
/// whole 2 MiB page, avoided by moving the bytes to huge pages (then the bytes are copied
/// back as the returned `Rehomed` says, at the latest when it is dropped). Only for dense
/// ranges (linkers sort relative relocations by address, so `lo..=hi` spans the written
/// words): with at least 16 relocations per page, hardly any page of the range is left
/// unwritten, and copying an unwritten page would cost more than the trap saves.
fn prefault_dense(id: usize, bias: u64, lo: u64, hi: u64, count: usize) -> Option<Rehomed> {
    if hi < lo {
        return None;
    }
    // Rehoming maps read/write memory: only inside one PT_LOAD that is exactly that (not
    // executable, not a read-only segment made writable for DT_TEXTREL).
    let plain_data = || {
        rt().objs.get(id).and_then(|o| {
            o.phdrs
                .iter()
                .find(|p| {
                    p.p_type == PT_LOAD
                        && p.p_flags & (PF_W | PF_X) == PF_W
                        && p.p_vaddr <= lo
                        && hi + 8 <= p.p_vaddr + p.p_filesz
                })
                .copied()
        })
    };
    let start = (bias.wrapping_add(lo) & !4095) as usize;
    let end = ((bias.wrapping_add(hi) + 8 + 4095) & !4095) as usize;
    let pages = (end - start) / 4096;
    if pages >= 8 && count >= pages * 16 {
        // A range with at least one whole 2 MiB page inside goes to huge pages; otherwise (or
        // if the kernel refuses) pre-fault it. Best effort: on failure (old kernel, a range
        // crossing a gap) the writes fault as usual.
        const HUGE: usize = 2 << 20;
        let whole_huge_page = start.next_multiple_of(HUGE) + HUGE <= (end & !(HUGE - 1));
        if whole_huge_page && let Some(seg) = plain_data() {
            let file = file_bytes(id, start, &seg);
            // SAFETY: the range is this object's relocated data, not in use during
            // relocation; the caller writes it only where it was copied back. The file
            // stays open until relocation is over (`Loaded::data_file`).
            if let Some(h) = unsafe { Rehomed::begin(start, end - start, file) } {
                return Some(h);
            }
        }
        let _ = crate::sys::populate_write(start, end - start);
    }
    None
}

/// Where the bytes from `start` (a page of object `id`'s plain writable segment `seg`, which
/// holds the range being relocated) are in its file, if it is still open: as mapped, the
/// page-aligned file offset plus the distance from the segment's first page; as many bytes
/// as the segment has in the file.
fn file_bytes(id: usize, start: usize, seg: &Phdr) -> Option<FileBytes> {
    let o = rt().objs.get(id)?;
    let fd = sys::AsRawFd::as_raw_fd(&o.data_file.as_ref()?.fd());
    let at = (start as u64).wrapping_sub(o.bias as u64);
    let first = seg.p_vaddr & !4095;
    let len = (seg.p_vaddr + seg.p_filesz).checked_sub(at)?;
    (first <= at).then_some(FileBytes {
        fd,
        offset: (seg.p_offset & !4095) + (at - first),
        len: len as usize,
    })
}

/// `*place += bias`: a JUMP_SLOT left for lazy binding points at its PLT stub.
///
/// # Safety
/// `place` is a writable word of the object.
#[inline(always)]
unsafe fn add_bias(place: u64, bias: u64) {
    let p = place as *mut u64;
    // SAFETY: caller contract.
    unsafe { p.write_unaligned(p.read_unaligned().wrapping_add(bias)) };
}

/// The address a 64/GLOB_DAT/JUMP_SLOT entry naming `sym` binds to, through the object's
/// per-binding cache; u64::MAX when it is not a plain address (IFUNC, undefined, not
/// planned), which the general path handles.
#[inline]
fn cached_address(id: usize, sym: u32, r_type: u32, cache: &mut [u64], next: &mut usize) -> u64 {
    let rt = rt();
    let Some(plan) = rt.plan.objs.get(id) else {
        return u64::MAX;
    };
    let key = rld_link::plan::key(sym, type_class(r_type));
    let i = if plan.keys.get(*next) == Some(&key) {
        *next
    } else {
        // Out of the plan's order (a symbol met before): a recorded plan is scanned, and
        // indexed once that costs more (`ObjPlan::lookup_index`).
        let Some(plan) = rt.plan.objs.get_mut(id) else {
            return u64::MAX;
        };
        match plan.lookup_index(sym, type_class(r_type)) {
            Some(i) => i,
            None => return u64::MAX,
        }
    };
    *next = i + 1;
    if let Some(&a) = cache.get(i)
        && a != 0
    {
        return a;
    }
    let Some(p) = rt.plan.objs.get(id) else {
        return u64::MAX;
    };
    let Some(b) = p.bindings.get(i).copied() else {
        return u64::MAX;
    };
    // A launch record's value spares reading the defining symbol: a random access into
    // another object's symbol table, the costliest part of a replayed launch (inkscape:
    // ~2 ms of cache misses and page faults on symbol tables).
    let recorded = p.values.get(i).copied().unwrap_or(VALUE_UNKNOWN);
    let a = match b {
        Binding::Def { obj, .. } if recorded != VALUE_UNKNOWN => {
            let Some(o) = rt.objs.get(obj as usize) else {
                return u64::MAX;
            };
            (o.bias as u64).wrapping_add(recorded)
        }
        _ => match facts(rt, b) {
            Some(f) if !f.ifunc => f.address(),
            _ => return u64::MAX,
        },
    };
    if let Binding::Def { obj, .. } = b {
        super::dlopen::add_dependency(rt, id, obj as usize);
    }
    if let Some(c) = cache.get_mut(i) {
        *c = a;
    }
    a
}

/// Every other symbolic entry: the plan's binding, rld-link's `reloc_action`, `apply`.
///
/// # Safety
/// `place` is inside object `id`'s writable image.
#[inline(never)]
unsafe fn general(
    id: usize,
    bias: u64,
    place: u64,
    r: Entry,
    lazy_undefined: bool,
    left_lazy: &mut bool,
) -> Result<(), String> {
    let (sym, ref_size) = {
        let rt = rt();
        let b = rt.plan.objs.get_mut(id).and_then(|p| {
            if rld_link::reloc::is_symbolless(r.r_type) {
                None
            } else {
                p.lookup(r.sym, type_class(r.r_type))
            }
        });
        // Lazy binding: JUMP_SLOTs the plan left out (and undefined ones, which glibc
        // only reports if they are called) go through the PLT resolver.
        if r.r_type == R_X86_64_JUMP_SLOT
            && lazy_undefined
            && matches!(b, None | Some(Binding::Undefined))
        {
            // SAFETY: caller contract.
            unsafe { add_bias(place, bias) };
            *left_lazy = true;
            return Ok(());
        }
        if b == Some(Binding::Undefined) {
            let prog = progname(rt);
            return Err(
                match rld_link::plan::undefined_error(&rt.ns, &prog, id as ObjId, r.sym) {
                    Some(e) => e.fatal(&prog),
                    None => String::from("undefined symbol"),
                },
            );
        }
        // The referencing symbol's size matters only to COPY relocations.
        let ref_size = if r.r_type == rld_link::reloc::R_X86_64_COPY {
            rt.ns
                .obj(id as ObjId)
                .and_then(|o| o.sym(r.sym))
                .map_or(0, |s| s.size)
        } else {
            0
        };
        if let Some(Binding::Def { obj, .. }) = b {
            super::dlopen::add_dependency(rt, id, obj as usize);
        }
        (b.and_then(|b| facts(rt, b)), ref_size)
    };
    let input = RelocInput {
        r_type: r.r_type,
        addend: r.addend,
        base: bias,
        place,
        sym,
        ref_size,
    };
    let action = reloc_action(&input).map_err(|e| reloc_error(id, e))?;
    // SAFETY: caller contract.
    unsafe { apply(id, place, r.r_type, r.sym, action) }
}

/// DT_RELR: `*where += bias` for every encoded word (rld-link's decoder: an even entry is
/// an address, an odd one a bitmap of the 63 words after the previous entry), only the set
/// bits (libc's bitmaps are about two thirds set). This is the bulk of the relocations of
/// glibc's own libraries. False at the first entry outside object `id`'s mapped span, which
/// is left unwritten (the entries before it are applied).
///
/// # Safety
/// Object `id` is mapped and being relocated: its data segments are writable (its text too
/// under DT_TEXTREL). A well-formed table names only such words; a malformed one may name a
/// read-only word of the span, which faults as under glibc, but never memory outside it.
unsafe fn apply_relr(id: usize, table: &[u8], bias: u64) -> bool {
    let Some((lo, hi)) = image_words(id) else {
        return table.is_empty();
    };
    rld_link::relr::for_each_group(table, lo, hi, |at, bits| {
        // SAFETY: the group's words were checked to lie in lo..=hi, the object's mapped
        // span (caller contract for their being writable).
        unsafe { add_bias_group(bias.wrapping_add(at), bits, bias) }
    })
}

/// Makes the non-writable segments writable (DT_TEXTREL) or restores them.
fn textrel_protect(id: usize, writable: bool) {
    let rt = rt();
    let Some(o) = rt.objs.get(id) else { return };
    for p in o.phdrs {
        if p.p_type != PT_LOAD || p.p_flags & PF_W != 0 {
            continue;
        }
        let start = (o.bias + p.p_vaddr as usize) & !4095;
        let end = (o.bias + (p.p_vaddr + p.p_memsz) as usize + 4095) & !4095;
        let mut prot = rld_image::prot_of(p.p_flags);
        if writable {
            prot |= crate::sys::PROT_WRITE;
        }
        let _ = crate::sys::mprotect(start, end - start, prot);
    }
}

/// `_dl_relocate_object` for object `id` at start-up.
/// `now`: bind every PLT entry now (dlopen with RTLD_NOW), as LD_BIND_NOW or DF_BIND_NOW do.
/// `rel`: how its RELATIVE prefix is applied (recorded only for objects without DT_RELR,
/// whose words would no longer hold the file's values).
pub fn relocate(id: usize, now: bool, rel: &mut Relative<'_>) -> Result<(), String> {
    let (view_rela, relacount, view_jmprel, info_rela, info_jmprel, relr, textrel, bias, lazy) = {
        let rt = rt();
        let Some(o) = rt.objs.get(id) else {
            return Ok(());
        };
        let Some(v) = rt.ns.obj(id as ObjId) else {
            return Ok(());
        };
        let relr = match (o.info.relr(), o.info.relrsz()) {
            (Some(a), Some(sz)) if sz != 0 => o.ro.bytes_at(a, sz).ok(),
            _ => None,
        };
        let rela = match (o.info.rela(), o.info.relasz()) {
            (Some(a), Some(sz)) if a != 0 => Some((a, sz)),
            _ => None,
        };
        let jmprel = match (o.info.jmprel(), o.info.pltrelsz()) {
            (Some(a), Some(sz)) => Some((a, sz)),
            _ => None,
        };
        (
            v.rela,
            v.relacount,
            v.jmprel,
            rela,
            jmprel,
            relr,
            o.info.textrel(),
            o.bias,
            !(now || rt.bind_now || o.info.bind_now()),
        )
    };
    super::debug::reloc_start(id, lazy);
    if textrel {
        textrel_protect(id, true);
    }
    if let Some(t) = relr {
        // SAFETY: the object being relocated, its data segments writable (TEXTREL handled
        // just above).
        if !unsafe { apply_relr(id, t, bias as u64) } {
            return Err(object_error(id, "DT_RELR entry outside the object"));
        }
        match rel {
            Relative::Record(w) => w.spoil(),
            Relative::Replay(_) => *rel = Relative::Table,
            Relative::Table => {}
        }
    }
    // One range when JMPREL directly follows RELA (eager), else two (`_ELF_DYNAMIC_DO_RELOC`).
    let ranges = rld_link::order::ranges(info_rela, info_jmprel, lazy);
    let one_range = ranges.r1.1 == 0 && info_jmprel.is_some() && !view_jmprel.is_empty();
    let mut left_lazy = false;
    // SAFETY: the object is mapped writable where its relocations point (TEXTREL handled).
    unsafe {
        if one_range {
            do_range(
                id,
                &[view_rela, view_jmprel],
                relacount,
                rel,
                lazy,
                &mut left_lazy,
            )?;
        } else {
            do_range(id, &[view_rela], relacount, rel, lazy, &mut left_lazy)?;
            do_range(
                id,
                &[view_jmprel],
                0,
                &mut Relative::Table,
                lazy,
                &mut left_lazy,
            )?;
        }
    }
    if left_lazy {
        install_lazy_stub(id);
    }
    if textrel {
        textrel_protect(id, false);
    }
    Ok(())
}

/// GOT[1] = link map, GOT[2] = the lazy resolver, for objects with unresolved JUMP_SLOTs.
fn install_lazy_stub(id: usize) {
    let rt = rt();
    let Some(o) = rt.objs.get(id) else { return };
    let Some(got) = o.info.get(rld_elf::consts::DT_PLTGOT) else {
        return;
    };
    let got = o.bias.wrapping_add(got as usize) as *mut usize;
    // SAFETY: DT_PLTGOT points at the object's writable .got.plt (3 reserved words).
    unsafe {
        got.add(1).write(id);
        got.add(2)
            .write(super::lazy::TRAMPOLINE.load(core::sync::atomic::Ordering::Relaxed));
    }
}

/// Makes PT_GNU_RELRO read-only (`_dl_protect_relro`).
pub fn protect_relro(id: usize) {
    let rt = rt();
    if let Some((a, e)) = rt.objs.get(id).and_then(|o| o.relro())
        && e > a
        && crate::sys::mprotect(a, e - a, crate::sys::PROT_READ).is_err()
    {
        let name = rt.objs.get(id).map_or(&b""[..], |o| o.name);
        let obj = rld_link::error::dso_filename(name, &progname(rt));
        let line = rld_link::fatal_line(
            &progname(rt),
            None,
            &obj,
            "cannot apply additional memory protection after relocation",
            None,
        );
        eprint!("{}", line);
        crate::out::exit(127);
    }
}
