//! The process's loaded objects as rld sees them: where each one is mapped, its program
//! headers and dynamic section, and the read-only views symbol lookup works on.
//!
//! Invariants: every `Loaded` describes memory that stays mapped for the life of the process
//! (nothing is unloaded yet), so the `'static` slices below are sound as long as nothing
//! writes through them: views only cover the read-only segments that precede an object's
//! first writable one, and the dynamic section is parsed from a private copy (glibc-style
//! in-place relocation of `.dynamic` happens later and must not be seen by the views).

use alloc::boxed::Box;
use alloc::vec::Vec;

use rld_deps::Kind;
use rld_elf::dynamic::{Dynamic, DynamicInfo};
use rld_elf::memory::MappedImage;
use rld_search::verify::Phdr;
use rld_tls::TlsImage;

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_TLS: u32 = 7;
pub const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PT_GNU_RELRO: u32 = 0x6474_e552;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;

/// TLS facts of one module (glibc's `l_tls_*`).
#[derive(Clone, Copy, Debug)]
pub struct Tls {
    pub image: TlsImage,
    /// Link-time address and size of the initialisation image (`.tdata`).
    pub init_vaddr: u64,
    pub init_len: u64,
    pub modid: usize,
    /// `l_tls_offset` (static block at TP - offset).
    pub offset: usize,
}

/// One object of the link-map list.
pub struct Loaded {
    pub kind: Kind,
    /// `l_name` without its NUL ("" for the main program); a prefix of `name_c` (one
    /// allocation, see `leak_name`).
    pub name: &'static [u8],
    /// The same, NUL-terminated, for glibc's structures.
    pub name_c: &'static [u8],
    /// Every name it is known by (`l_libname`), NUL-terminated.
    pub libnames: Vec<&'static [u8]>,
    pub bias: usize,
    pub map_start: usize,
    pub map_end: usize,
    pub text_end: usize,
    pub contiguous: bool,
    /// The program headers: the mapped image's own where possible (`image_phdrs`).
    pub phdrs: &'static [Phdr],
    /// Runtime address of the program headers (`l_phdr`).
    pub phdr_addr: usize,
    pub entry: usize,
    /// Runtime address of `.dynamic` (`l_ld`), 0 if none.
    pub dyn_addr: usize,
    pub info: DynamicInfo<'static>,
    /// `.dynamic` is not writable in place (vDSO, rld itself): glibc's `l_ld_readonly`.
    pub dyn_readonly: bool,
    pub tls: Option<Tls>,
    /// PT_GNU_RELRO's page range `[start, end)`, empty if none (`relro()`).
    pub relro: (usize, usize),
    pub eh_frame: usize,
    /// Indices (into the runtime table) of its DT_NEEDED objects, in order.
    pub deps: Vec<usize>,
    /// Run-time dependencies (glibc `l_reldeps`): dlopen'ed objects outside its dependency
    /// closure that its relocations, lazy PLT bindings or dlsym calls bound to; they stay
    /// loaded while it is.
    pub reldeps: Vec<usize>,
    /// The {modid, offset} records `_dl_tlsdesc_dynamic` descriptors of this object point
    /// to (freed with the object's table entry, after it is unmapped).
    // Boxed on purpose: TLS descriptors point at the records, which must not move when the
    // vector grows.
    #[allow(clippy::vec_box)]
    pub tlsdesc_records: Vec<alloc::boxed::Box<[usize; 2]>>,
    /// glibc `l_loader`.
    pub loader: Option<u32>,
    pub origin: Option<&'static [u8]>,
    /// Device, inode, size, mtime and ctime (ns) of the file it was mapped from (zero when
    /// the loader did not open it): the launch cache's check that it is the same file.
    pub stamp: [u64; 5],
    /// The file, kept open from mapping to relocation for an object whose writable segment
    /// is big enough for huge pages: relocation reads the bytes it moves there from the file
    /// rather than through their mapping (`map::Rehomed`). Closed after relocation. Boxed:
    /// few objects keep one, and inline it took 72 bytes of every entry.
    pub data_file: Option<Box<crate::fs::File>>,
    /// The glibc `struct link_map` (0 when no glibc build is served).
    pub lm: usize,
    /// Its constructors ran (glibc's `l_init_called`); cleared when its destructors run.
    pub init_called: bool,
    /// The read-only image the lookup views borrow.
    pub ro: MappedImage<'static>,
}

// Start-up allocates one entry per object in one block: 4 objects (`true`) fill a 2,560-byte
// heap class, where 672-byte entries took a 3,072-byte one (the heap's top page).
const _: () = assert!(core::mem::size_of::<Loaded>() <= 640);

impl Loaded {
    /// PT_GNU_RELRO's page range, if any.
    pub fn relro(&self) -> Option<(usize, usize)> {
        Some(self.relro).filter(|&(a, e)| e > a)
    }

    /// glibc's `l_file_id`: the device and inode of the file it was mapped from; (0, 0)
    /// when the loader did not open it, and for the program even when it did (`rld PROGRAM`:
    /// glibc leaves it unset "to match the kernel behavior", so a dlopen of the program's
    /// own path is refused as a PIE rather than answered with the program).
    pub fn file_id(&self) -> (u64, u64) {
        match self.kind {
            Kind::Main => (0, 0),
            _ => (self.stamp[0], self.stamp[1]),
        }
    }
}

/// Leaks `v` for the life of the process (loader state is never freed).
pub fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

/// An object's name as `(name, name with its NUL)`: one leaked allocation, the first slice
/// a prefix of the second (`Loaded::name`, `Loaded::name_c`; freed through `name_c`).
pub fn leak_name(s: &[u8]) -> (&'static [u8], &'static [u8]) {
    let c = leak_cstr(s);
    (c.get(..s.len()).unwrap_or_default(), c)
}

pub fn leak_cstr(s: &[u8]) -> &'static [u8] {
    let mut v = Vec::with_capacity(s.len() + 1);
    v.extend_from_slice(s);
    v.push(0);
    leak(v)
}

/// The program headers at `addr` (a mapped image), where they are; a copy if `addr` is not
/// aligned for them.
///
/// # Safety
/// `[addr, addr + 56 * n)` is readable memory that stays mapped and is never written.
pub unsafe fn phdrs_at(addr: usize, n: usize) -> &'static [Phdr] {
    if addr.is_multiple_of(core::mem::align_of::<Phdr>()) {
        // SAFETY: caller contract; Phdr is Elf64_Phdr (repr(C), 56 bytes, any bits valid)
        // and `addr` is aligned for it.
        return unsafe { core::slice::from_raw_parts(addr as *const Phdr, n) };
    }
    let mut v: Vec<Phdr> = Vec::with_capacity(n);
    // SAFETY: caller contract; the destination has room for `n` headers, and every bit
    // pattern is a valid Phdr.
    unsafe {
        core::ptr::copy_nonoverlapping(addr as *const u8, v.as_mut_ptr() as *mut u8, n * 56);
        v.set_len(n);
    }
    leak(v)
}

/// An object's program headers for its `Loaded` entry: those of its mapped image when they
/// lie in the read-only prefix `[ro_start, ro_end)` and are the ones it was loaded with
/// (`file`, as read from the file); else `file`, kept.
pub fn image_phdrs(
    file: Vec<Phdr>,
    addr: usize,
    ro_start: usize,
    ro_end: usize,
) -> &'static [Phdr] {
    let len = file.len() * core::mem::size_of::<Phdr>();
    if addr >= ro_start
        && addr.checked_add(len).is_some_and(|end| end <= ro_end)
        && addr.is_multiple_of(core::mem::align_of::<Phdr>())
    {
        // SAFETY: inside the read-only prefix of a mapped image, which stays mapped and is
        // never written (this module's invariant for `ro_image`); aligned; any bits valid.
        let mapped = unsafe { core::slice::from_raw_parts(addr as *const Phdr, file.len()) };
        if mapped == file.as_slice() {
            return mapped;
        }
    }
    leak(file)
}

/// Everything derived from the program headers of an object mapped at `bias`.
pub struct Layout {
    pub map_start: usize,
    pub map_end: usize,
    pub text_end: usize,
    pub contiguous: bool,
    pub dyn_vaddr: Option<(u64, u64)>,
    pub tls: Option<(TlsImage, u64, u64)>,
    pub relro: Option<(usize, usize)>,
    pub eh_frame: usize,
    /// End (runtime) of the read-only prefix of the image.
    pub ro_end: usize,
    pub min_vaddr: u64,
}

pub fn layout(phdrs: &[Phdr], bias: usize, page: usize) -> Layout {
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    let mut text_end = 0u64;
    let mut first_w = u64::MAX;
    let mut prev_end: Option<u64> = None;
    let mut contiguous = true;
    let mut l = Layout {
        map_start: 0,
        map_end: 0,
        text_end: 0,
        contiguous: true,
        dyn_vaddr: None,
        tls: None,
        relro: None,
        eh_frame: 0,
        ro_end: 0,
        min_vaddr: 0,
    };
    let pg = page as u64;
    for p in phdrs {
        match p.p_type {
            PT_LOAD if p.p_memsz != 0 => {
                let start = p.p_vaddr & !(pg - 1);
                let end = (p.p_vaddr + p.p_memsz + pg - 1) & !(pg - 1);
                if let Some(pe) = prev_end
                    && pe != start
                {
                    contiguous = false;
                }
                prev_end = Some(end);
                lo = lo.min(start);
                hi = hi.max(end);
                if p.p_flags & PF_X != 0 {
                    text_end = text_end.max(p.p_vaddr + p.p_memsz);
                }
                if p.p_flags & PF_W != 0 {
                    first_w = first_w.min(start);
                }
            }
            PT_DYNAMIC => l.dyn_vaddr = Some((p.p_vaddr, p.p_memsz)),
            PT_TLS if p.p_memsz != 0 => {
                l.tls = TlsImage::from_phdr(p.p_vaddr, p.p_memsz, p.p_align)
                    .map(|i| (i, p.p_vaddr, p.p_filesz));
            }
            PT_GNU_RELRO => {
                l.relro = rld_image::relro_range(bias as u64, p.p_vaddr, p.p_memsz, pg)
                    .map(|(a, len)| (a as usize, (a + len) as usize));
            }
            PT_GNU_EH_FRAME => l.eh_frame = bias.wrapping_add(p.p_vaddr as usize),
            _ => {}
        }
    }
    if lo == u64::MAX {
        lo = 0;
    }
    l.min_vaddr = lo;
    l.map_start = bias.wrapping_add(lo as usize);
    l.map_end = bias.wrapping_add(hi as usize);
    l.text_end = bias.wrapping_add(text_end as usize);
    l.contiguous = contiguous;
    l.ro_end = bias.wrapping_add(first_w.min(hi) as usize);
    l
}

/// Copies the dynamic section at runtime address `addr` (at most `max` bytes, up to and
/// including DT_NULL) and parses it.
///
/// # Safety
/// `[addr, addr + max)` is readable.
pub unsafe fn read_dynamic(addr: usize, max: usize, vaddr: u64) -> Option<DynamicInfo<'static>> {
    // The entries up to and including DT_NULL, counted first so that the copy is allocated
    // at its final size (linkers pad the section with DT_NULLs: a copy sized for the whole
    // section was shrunk, copied again, when leaked).
    let mut len = 0;
    while len + 16 <= max {
        // SAFETY: caller contract.
        let tag = unsafe { ((addr + len) as *const u64).read_unaligned() };
        len += 16;
        if tag == 0 {
            break;
        }
    }
    let mut bytes = Vec::with_capacity(len);
    // SAFETY: caller contract: [addr, addr + len) is readable; `bytes` has room for len.
    unsafe {
        core::ptr::copy_nonoverlapping(addr as *const u8, bytes.as_mut_ptr(), len);
        bytes.set_len(len);
    }
    let bytes: &'static [u8] = leak(bytes);
    let d = Dynamic::from_bytes(bytes, vaddr).ok()?;
    Some(DynamicInfo::new(d))
}

/// The read-only prefix `[map_start, ro_end)` as a lookup image.
///
/// # Safety
/// The range is mapped readable and never written while the process lives.
pub unsafe fn ro_image(map_start: usize, ro_end: usize, min_vaddr: u64) -> MappedImage<'static> {
    let len = ro_end.saturating_sub(map_start);
    // SAFETY: caller contract.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(map_start as *const u8, len) };
    MappedImage::new(bytes, min_vaddr)
}

/// The lookup view of a loaded object. The tables are normally in the read-only segments in
/// front of the first writable one; tools such as patchelf move `.dynstr` (and more) into a new
/// segment appended after the data, which may be writable. Then the view is rebuilt over the
/// whole image: its slices still only cover the tables, which relocation never writes.
pub fn view_of(
    o: &mut Loaded,
    kind: rld_link::ObjKind,
) -> rld_elf::error::Result<rld_link::ObjView<'static>> {
    if o.dyn_addr == 0 {
        return Ok(rld_link::ObjView::new(o.name, kind));
    }
    match rld_link::from_elf::obj_view(&o.ro, &o.info, o.name, kind) {
        Ok(v) => Ok(v),
        Err(_) => {
            let min_vaddr = o.ro.start_vaddr();
            // SAFETY: [map_start, map_end) is the object's mapping; see the function comment
            // for why no byte a view covers is written.
            o.ro = unsafe { ro_image(o.map_start, o.map_end, min_vaddr) };
            rld_link::from_elf::obj_view(&o.ro, &o.info, o.name, kind)
        }
    }
}

impl Loaded {
    /// The object's static TLS block for the TCB code (None without PT_TLS).
    pub fn tls_module(&self) -> Option<super::tls::TlsModule> {
        let t = self.tls.as_ref()?;
        Some(super::tls::TlsModule {
            modid: t.modid,
            init_addr: self.bias.wrapping_add(t.init_vaddr as usize),
            init_len: t.init_len as usize,
            blocksize: t.image.blocksize as usize,
            offset: t.offset,
            link_map: self.lm,
        })
    }
}
