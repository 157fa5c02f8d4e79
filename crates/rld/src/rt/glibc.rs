//! glibc's view of the process: one `struct link_map` per object, the namespace table and
//! the rest of `_rtld_global(_ro)`, all written through rld-glibc's measured layouts.
//!
//! Invariants: link maps and the arrays they point to are allocated once, zeroed, and never
//! freed (libc keeps pointers to them for the life of the process). Each link map is followed
//! by a 16-byte trailer {magic, index} so a `struct link_map *` handed back by libc can be
//! mapped to rld's object table without a search, and a foreign pointer is recognised.

use alloc::alloc::{Layout, alloc_zeroed};
use alloc::vec::Vec;

use rld_deps::Kind;
use rld_glibc::GlibcBuild;

use super::abi::Raw;
use super::objects::Loaded;

const TRAILER_MAGIC: u64 = u64::from_le_bytes(*b"rld-lmap");

/// Zeroed memory for loader structures, in a heap size class: those of a reclaimed object
/// go back with `dealloc` and the same layout (`dlopen::free_object_memory`).
pub fn alloc_forever(size: usize, align: usize) -> usize {
    // SAFETY: `zeroed` passes a non-zero size.
    zeroed(size, align, |l| unsafe { alloc_zeroed(l) })
}

/// Zeroed memory that is never freed, cut at its exact size (`heap::alloc_permanent`).
pub fn alloc_permanent(size: usize, align: usize) -> usize {
    zeroed(size, align, crate::heap::alloc_permanent)
}

/// `size` (at least 1) bytes aligned to `align` from `alloc`; fatal if there are none.
fn zeroed(size: usize, align: usize, alloc: impl FnOnce(Layout) -> *mut u8) -> usize {
    let layout = match Layout::from_size_align(size.max(1), align) {
        Ok(l) => l,
        Err(_) => super::fatal(format_args!("bad allocation layout")),
    };
    let p = alloc(layout);
    if p.is_null() {
        super::fatal(format_args!("out of memory"));
    }
    p as usize
}

/// The `l_name` of link map `lm` (empty for the main program's, whose name is "").
pub fn lm_name(b: &GlibcBuild, lm: usize) -> &'static [u8] {
    let p = lm_raw(b, lm).get(b.link_map.l_name) as *const core::ffi::c_char;
    if p.is_null() {
        return b"";
    }
    // SAFETY: `lm` is a link map rld made; its l_name is a NUL-terminated string rld owns
    // for the map's life (freed only when a reclaimed map gets a new name).
    unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes()
}

/// A new zeroed link map for object `index`.
pub fn new_link_map(b: &GlibcBuild, index: usize) -> usize {
    let size = b.link_map.size;
    // Never freed (an unloaded object's link map waits on `spare_link_maps` for the next
    // one): cut at its exact size rather than a size class's (1,208 bytes took 1,280).
    let lm = alloc_permanent(size + 16, 16);
    // SAFETY: the trailer lies inside the allocation just made.
    unsafe {
        ((lm + size) as *mut u64).write(TRAILER_MAGIC);
        ((lm + size + 8) as *mut u64).write(index as u64);
    }
    lm
}

/// The object index of a link map rld made, or None for anything else.
///
/// # Safety
/// `lm` is null or points to a `struct link_map` (ours or, in principle, a caller's).
pub unsafe fn index_of(b: &GlibcBuild, lm: usize) -> Option<usize> {
    if lm == 0 {
        return None;
    }
    let size = b.link_map.size;
    // SAFETY: every link map libc hands us came from `new_link_map` (caller contract), so
    // the trailer is readable.
    unsafe {
        if ((lm + size) as *const u64).read() != TRAILER_MAGIC {
            return None;
        }
        Some(((lm + size + 8) as *const u64).read() as usize)
    }
}

pub fn lm_raw(b: &GlibcBuild, lm: usize) -> Raw {
    // SAFETY: link maps come from `new_link_map` and live forever.
    unsafe { Raw::new(lm as *mut u8, b.link_map.size) }
}

/// A NULL-terminated array of link-map pointers.
pub fn lm_array(objs: &[Loaded], ids: &[usize], terminate: bool) -> usize {
    let n = ids.len() + usize::from(terminate);
    let a = alloc_forever(n.max(1) * 8, 8) as *mut usize;
    for (i, &id) in ids.iter().enumerate() {
        // SAFETY: i < n.
        unsafe { a.add(i).write(objs.get(id).map_or(0, |o| o.lm)) };
    }
    a as usize
}

const DT_PLTGOT: u64 = 3;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_RELA: u64 = 7;
const DT_SYMBOLIC: usize = 16;
const DT_TEXTREL: usize = 22;
const DT_JMPREL: u64 = 23;
const DT_BIND_NOW: usize = 24;
const DT_FLAGS: i64 = 30;
const DT_RELR: u64 = 36;
const DT_VERSYM: u64 = 0x6fff_fff0;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const DT_FLAGS_1: i64 = 0x6fff_fffb;
const DF_SYMBOLIC: u64 = 2;
const DF_TEXTREL: u64 = 4;
const DF_BIND_NOW: u64 = 8;
const DF_1_NOW: u64 = 1;

/// What `fill_link_maps` needs besides the objects.
pub struct Lists<'a> {
    /// Link-map list order (indices into `objs`).
    pub chain: &'a [usize],
    /// The main program's search list.
    pub searchlist: &'a [usize],
    /// Init order (main first), glibc's `main->l_initfini`.
    pub initfini: &'a [usize],
    pub main: usize,
}

/// Fills every object's link map (already allocated) as `dl_main` leaves them before
/// relocation, and relocates `.dynamic` pointers in place like `elf_get_dynamic_info`.
pub fn fill_link_maps(b: &GlibcBuild, objs: &[Loaded], lists: &Lists<'_>) {
    fill_link_maps_of(b, objs, lists, None)
}

/// `fill_link_maps` for the objects of `only` (objects a dlopen just added at the end of the
/// chain); the others' link maps are left alone.
pub fn fill_link_maps_of(
    b: &GlibcBuild,
    objs: &[Loaded],
    lists: &Lists<'_>,
    only: Option<&[usize]>,
) {
    let f = &b.link_map;
    let searchlist_arr = if only.is_none() {
        lm_array(objs, lists.searchlist, true)
    } else {
        0
    };
    let main_lm = objs.get(lists.main).map_or(0, |o| o.lm);
    for (pos, &id) in lists.chain.iter().enumerate() {
        if only.is_some_and(|o| !o.contains(&id)) {
            continue;
        }
        let Some(o) = objs.get(id) else { continue };
        let l = lm_raw(b, o.lm);
        l.put(f.l_addr, o.bias as u64);
        l.put_ptr(f.l_name, o.name_c.as_ptr());
        l.put(f.l_ld, o.dyn_addr as u64);
        let prev = pos.checked_sub(1).and_then(|p| lists.chain.get(p));
        let next = lists.chain.get(pos + 1);
        l.put(
            f.l_prev,
            prev.and_then(|&p| objs.get(p)).map_or(0, |p| p.lm) as u64,
        );
        l.put(
            f.l_next,
            next.and_then(|&n| objs.get(n)).map_or(0, |n| n.lm) as u64,
        );
        l.put(f.l_real, o.lm as u64);
        l.put(f.l_ns, 0);
        // l_libname: one node per name, the last one first-allocated.
        let ln = &b.libname_list;
        let mut head = 0usize;
        for name in o.libnames.iter().rev() {
            let node = alloc_forever(ln.size, 8);
            // SAFETY: fresh block of the struct's size.
            let r = unsafe { Raw::new(node as *mut u8, ln.size) };
            r.put_ptr(ln.name, name.as_ptr());
            r.put(ln.next, head as u64);
            r.put(ln.dont_free, 1);
            head = node;
        }
        l.put(f.l_libname, head as u64);
        fill_info(b, o, &l);
        l.put(f.l_phdr, o.phdr_addr as u64);
        l.put(f.l_entry, o.entry as u64);
        l.put(f.l_phnum, o.phdrs.len() as u64);
        l.put(f.l_ldnum, o.info.dynamic().len() as u64 + 1);
        if id == lists.main && only.is_none() {
            l.put(f.l_searchlist_r_list, searchlist_arr as u64);
            l.put(f.l_searchlist_r_nlist, lists.searchlist.len() as u64);
        } else if o.kind == Kind::Vdso {
            l.put(f.l_searchlist_r_list, l.addr(f.l_real) as u64);
            l.put(f.l_searchlist_r_nlist, 1);
        }
        l.put(
            f.l_loader,
            o.loader
                .and_then(|x| objs.get(x as usize))
                .map_or(0, |x| x.lm) as u64,
        );
        fill_hash(b, o, &l);
        l.put_bits(f.l_type, u8::from(o.kind != Kind::Main));
        l.put_bits(f.l_global, u8::from(lists.searchlist.contains(&id)));
        l.put_bits(f.l_contiguous, u8::from(o.contiguous));
        l.put_bits(f.l_ld_readonly, u8::from(o.dyn_readonly));
        if let Some(a) = o.info.versym()
            && !o.info.dynamic().is_empty()
            && (o.info.verdef().is_some() || o.info.verneed().is_some())
        {
            l.put(f.l_versyms, o.bias.wrapping_add(a as usize) as u64);
        }
        l.put(
            f.l_origin,
            match o.origin {
                Some(s) => s.as_ptr() as u64,
                // The kernel-mapped program's origin is computed on demand (glibc's
                // `_dl_get_origin`): NULL until then, as glibc leaves it.
                None if o.kind == Kind::Main => 0,
                None => u64::MAX,
            },
        );
        l.put(f.l_map_start, o.map_start as u64);
        l.put(f.l_map_end, o.map_end as u64);
        l.put(f.l_text_end, o.text_end as u64);
        // Scopes: DT_SYMBOLIC objects search themselves first, then the global scope.
        let main_searchlist = lm_raw(b, main_lm).addr(f.l_searchlist) as u64;
        let scope_mem = l.addr(f.l_scope_mem);
        let mut k = 0;
        // As `_dl_map_object_from_fd` does; the vDSO (`setup_vdso`) and the program never get it.
        if o.info.symbolic() && !matches!(o.kind, Kind::Main | Kind::Vdso) {
            l.put(f.l_symbolic_searchlist, l.addr(f.l_real) as u64);
            let nl = rld_glibc::Field {
                offset: f.l_symbolic_searchlist.offset + b.r_scope_elem.r_nlist.offset,
                size: b.r_scope_elem.r_nlist.size,
            };
            l.put(nl, 1);
            l.put(
                slot(f.l_scope_mem, 0),
                l.addr(f.l_symbolic_searchlist) as u64,
            );
            k = 1;
        }
        l.put(slot(f.l_scope_mem, k), main_searchlist);
        if o.kind == Kind::Vdso {
            // Its own (one-object) search list follows, as `_dl_new_object` gives it.
            l.put(slot(f.l_scope_mem, k + 1), l.addr(f.l_searchlist) as u64);
        }
        // The dynamic linker's own map has no scope, as glibc's `GL(dl_rtld_map)`.
        if o.kind != Kind::Rtld {
            l.put(f.l_scope, scope_mem as u64);
        }
        l.put(f.l_scope_max, (f.l_scope_mem.size / 8) as u64);
        l.put(slot(f.l_local_scope, 0), l.addr(f.l_searchlist) as u64);
        l.put(f.l_file_id_dev, o.file_id().0);
        l.put(f.l_file_id_ino, o.file_id().1);
        let initfini = if id == lists.main {
            lm_array(objs, lists.initfini, true)
        } else if o.kind == Kind::Library {
            let mut v = alloc::vec![id];
            v.extend_from_slice(&o.deps);
            lm_array(objs, &v, true)
        } else {
            0
        };
        l.put(f.l_initfini, initfini as u64);
        l.put(f.l_flags_1, o.info.flags_1());
        l.put(f.l_flags, o.info.flags());
        if let Some(t) = &o.tls {
            l.put(
                f.l_tls_initimage,
                o.bias.wrapping_add(t.init_vaddr as usize) as u64,
            );
            l.put(f.l_tls_initimage_size, t.init_len);
            l.put(f.l_tls_blocksize, t.image.blocksize);
            l.put(f.l_tls_align, t.image.align);
            l.put(f.l_tls_firstbyte_offset, t.image.firstbyte_offset);
            l.put(f.l_tls_offset, t.offset as u64);
            l.put(f.l_tls_modid, t.modid as u64);
        }
        if let Some((a, e)) = o.relro() {
            l.put(f.l_relro_addr, a as u64);
            l.put(f.l_relro_size, (e - a) as u64);
        }
        l.put(f.l_serial, pos as u64);
        if matches!(o.kind, Kind::Main | Kind::Rtld) {
            l.put(f.l_direct_opencount, 1);
        }
    }
}

/// Element `i` of a pointer array field.
pub fn slot(f: rld_glibc::Field, i: usize) -> rld_glibc::Field {
    rld_glibc::Field {
        offset: f.offset + 8 * i,
        size: 8,
    }
}

/// `l_info[]` and the in-place relocation of `.dynamic` pointers.
fn fill_info(b: &GlibcBuild, o: &Loaded, l: &Raw) {
    if o.dyn_addr == 0 {
        return;
    }
    let info = l.words(b.link_map.l_info);
    let mut idx_of_tag = [usize::MAX; rld_glibc::L_INFO_LEN];
    for (i, e) in o.info.dynamic().iter().enumerate() {
        let p = (o.dyn_addr + 16 * i) as u64;
        if let Some(k) = rld_glibc::l_info_index(e.tag as u64)
            && k < rld_glibc::L_INFO_LEN
        {
            info.set(k, p);
            idx_of_tag[k] = i;
        }
        if e.tag == DT_FLAGS {
            if e.val & DF_SYMBOLIC != 0 {
                info.set(DT_SYMBOLIC, p);
            }
            if e.val & DF_TEXTREL != 0 {
                info.set(DT_TEXTREL, p);
            }
            if e.val & DF_BIND_NOW != 0 {
                info.set(DT_BIND_NOW, p);
            }
        }
        if e.tag == DT_FLAGS_1 && e.val & DF_1_NOW != 0 {
            info.set(DT_BIND_NOW, p);
        }
    }
    if o.dyn_readonly || o.bias == 0 {
        return;
    }
    for tag in [
        DT_HASH,
        DT_PLTGOT,
        DT_STRTAB,
        DT_SYMTAB,
        DT_RELA,
        DT_RELR,
        DT_JMPREL,
        DT_VERSYM,
        DT_GNU_HASH,
    ] {
        let Some(k) = rld_glibc::l_info_index(tag) else {
            continue;
        };
        let i = idx_of_tag[k];
        if i == usize::MAX {
            continue;
        }
        let p = (o.dyn_addr + 16 * i + 8) as *mut u64;
        // SAFETY: the entry is inside the object's writable .dynamic (dyn_readonly is false),
        // which rld mapped; rld's own views read a private copy, never this memory.
        unsafe {
            let v = p.read_unaligned();
            if tag == DT_RELA && v == 0 {
                continue;
            }
            p.write_unaligned(v.wrapping_add(o.bias as u64));
        }
    }
}

/// The hash-table fields dladdr reads (`_dl_setup_hash`).
fn fill_hash(b: &GlibcBuild, o: &Loaded, l: &Raw) {
    let f = &b.link_map;
    let rd = |a: usize| -> u32 {
        // SAFETY: hash tables live in the object's mapped read-only segment.
        unsafe { (a as *const u32).read_unaligned() }
    };
    if let Some(h) = o.info.gnu_hash() {
        let a = o.bias.wrapping_add(h as usize);
        let nbuckets = rd(a);
        let symbias = rd(a + 4);
        let nwords = rd(a + 8);
        let shift = rd(a + 12);
        let bitmask = a + 16;
        let buckets = bitmask + 8 * nwords as usize;
        let chain0 = (buckets + 4 * nbuckets as usize).wrapping_sub(4 * symbias as usize);
        l.put(f.l_nbuckets, nbuckets as u64);
        l.put(f.l_gnu_bitmask_idxbits, nwords.wrapping_sub(1) as u64);
        l.put(f.l_gnu_shift, shift as u64);
        l.put(f.l_gnu_bitmask, bitmask as u64);
        l.put(f.l_gnu_buckets, buckets as u64);
        l.put(f.l_gnu_chain_zero, chain0 as u64);
    } else if let Some(h) = o.info.hash() {
        let a = o.bias.wrapping_add(h as usize);
        let nbuckets = rd(a);
        l.put(f.l_nbuckets, nbuckets as u64);
        l.put(f.l_buckets, (a + 8) as u64);
        l.put(f.l_chain, (a + 8 + 4 * nbuckets as usize) as u64);
    }
}

/// Sets a `list_t` to empty (`INIT_LIST_HEAD`).
pub fn init_list_head(b: &GlibcBuild, r: &Raw, f: rld_glibc::Field) {
    let a = r.addr(f) as u64;
    let sub = r.sub(f);
    sub.put(b.list_t.next, a);
    sub.put(b.list_t.prev, a);
}

/// Inserts `node` (a `list_t` at absolute address) right after the head `head_field` of `r`
/// (`list_add`).
pub fn list_add(b: &GlibcBuild, r: &Raw, head_field: rld_glibc::Field, node: usize) {
    let head = r.sub(head_field);
    let head_addr = r.addr(head_field);
    let first = head.get(b.list_t.next) as usize;
    // SAFETY: node is a list_t inside memory rld owns (the main thread's struct pthread);
    // `first` is the current first element (or the head itself).
    let n = unsafe { Raw::new(node as *mut u8, b.list_t.size) };
    n.put(b.list_t.next, first as u64);
    n.put(b.list_t.prev, head_addr as u64);
    // SAFETY: `first` is a live list node of this list.
    let fr = unsafe { Raw::new(first as *mut u8, b.list_t.size) };
    fr.put(b.list_t.prev, node as u64);
    head.put(b.list_t.next, node as u64);
}

/// Build the `r_scope_elem`-style list of all link maps with `ids` (used for GLRO's
/// initial search list copy).
pub fn searchlist_of(objs: &[Loaded], ids: &[usize]) -> (usize, usize) {
    (lm_array(objs, ids, true), ids.len())
}

/// Collects the link maps of `ids`.
pub fn lms(objs: &[Loaded], ids: &[usize]) -> Vec<usize> {
    ids.iter()
        .filter_map(|&i| objs.get(i))
        .map(|o| o.lm)
        .collect()
}
