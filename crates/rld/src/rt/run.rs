//! The start-up pipeline: from the parsed command line to the program's entry point.
//!
//!  1. the main program: taken from the aux vector (rld is its PT_INTERP) or mapped (explicit);
//!  2. the load graph (rld-deps) and the mapping of every library;
//!  3. the glibc build of libc.so.6 (unknown: hand the program to the system loader);
//!  4. static TLS layout, link maps, `_rtld_global(_ro)`, the main thread's TCB;
//!  5. binding plan (rld-link) and relocation in glibc's order, RELRO;
//!  6. TLS images, `__libc_early_init`, constructors, `_r_debug`; enter with rdx = `_dl_fini`.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use rld::cli::Config;
use rld_deps::{Kind, LoadConfig, Mode};
use rld_elf::consts;
use rld_glibc::GlibcBuild;
use rld_link::{Namespace, ObjId, ObjKind};
use rld_search::fs::FileHandle;
use rld_search::search::Searcher;
use rld_search::verify::{ElfHeader, Phdr};

use super::abi::Raw;
use super::exports::{self, _r_debug, _rtld_global, _rtld_global_ro};
use super::objects::{self, Loaded, PT_GNU_STACK, PT_LOAD, PT_PHDR, Tls};
use super::state::{self, LibcFns, Runtime};
use crate::fs::LoaderFs;
use crate::startup::{self, Startup};

const SYSTEM_LOADER: &core::ffi::CStr = c"/lib64/ld-linux-x86-64.so.2";

fn die(line: &str) -> ! {
    crate::out::flush();
    eprint!("{}", line);
    crate::out::exit(127)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A main program the kernel mapped, read through its memory (offsets are link-time
/// addresses, see `mem_header`).
struct MemImage {
    bias: usize,
    segs: Vec<(u64, u64)>,
}

impl MemImage {
    /// The dynamic facts (`parts` of them) of an image mapped at `bias` with program headers
    /// `phdrs`.
    fn dyn_info(
        bias: usize,
        phdrs: &[Phdr],
        hdr: &ElfHeader,
        parts: rld_deps::elfdyn::Parts,
    ) -> rld_deps::elfdyn::DynInfo {
        rld_deps::elfdyn::read_dyn_info_parts(&MemImage::new(bias, phdrs), hdr, parts)
    }

    /// The image mapped at `bias` with program headers `phdrs`.
    fn new(bias: usize, phdrs: &[Phdr]) -> MemImage {
        MemImage {
            bias,
            segs: phdrs
                .iter()
                .filter(|p| p.p_type == PT_LOAD)
                .map(|p| (p.p_vaddr, p.p_vaddr + p.p_filesz))
                .collect(),
        }
    }
}

impl FileHandle for MemImage {
    fn reads_are_cheap(&self) -> bool {
        true
    }
    fn stat(&self) -> Result<rld_search::fs::FileStat, i32> {
        Err(rld_search::fs::errno::EINVAL)
    }
    fn view_at(&self, offset: u64) -> Option<&[u8]> {
        let &(_, hi) = self.segs.iter().find(|s| offset >= s.0 && offset < s.1)?;
        // SAFETY: [offset, hi) is the rest of a PT_LOAD's file-backed part, which the kernel
        // mapped at `bias` for the life of the process.
        Some(unsafe {
            core::slice::from_raw_parts(
                self.bias.wrapping_add(offset as usize) as *const u8,
                (hi - offset) as usize,
            )
        })
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, i32> {
        let Some(&(lo, hi)) = self.segs.iter().find(|s| offset >= s.0 && offset < s.1) else {
            return Ok(0);
        };
        let n = ((hi - offset) as usize).min(buf.len());
        let _ = lo;
        // SAFETY: [offset, offset + n) lies in [lo, hi), a PT_LOAD's file-backed part that the
        // kernel mapped at `bias`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.bias.wrapping_add(offset as usize) as *const u8,
                buf.as_mut_ptr(),
                n,
            )
        };
        Ok(n)
    }
}

/// The header of an image in memory, with file offsets replaced by link-time addresses so
/// that rld-deps can read it through `MemImage`.
fn mem_header(e_type: u16, entry: u64, phdrs: &[Phdr]) -> ElfHeader {
    ElfHeader {
        e_type,
        e_entry: entry,
        e_phoff: 0,
        phdrs: phdrs
            .iter()
            .map(|p| Phdr {
                p_offset: p.p_vaddr,
                ..*p
            })
            .collect(),
    }
}

/// Where rld itself is mapped and its program headers.
pub(crate) fn self_image() -> (usize, &'static [Phdr]) {
    let base = crate::start::self_base();
    // SAFETY: rld's own ELF header and program headers are mapped read-only for good.
    unsafe {
        let phoff = ((base + 32) as *const u64).read_unaligned() as usize;
        let phnum = ((base + 56) as *const u16).read_unaligned() as usize;
        (base, objects::phdrs_at(base + phoff, phnum))
    }
}

/// The program the kernel mapped (rld as its PT_INTERP): its bias, program headers, an ELF
/// header made from the aux vector, and its dynamic section.
pub(crate) fn kernel_program(
    st: &Startup,
    parts: rld_deps::elfdyn::Parts,
) -> (usize, &'static [Phdr], ElfHeader, rld_deps::elfdyn::DynInfo) {
    // SAFETY: AT_PHDR/AT_PHNUM describe the program the kernel mapped; nothing writes its
    // program headers.
    let phdrs = unsafe { objects::phdrs_at(st.aux.phdr, st.aux.phnum) };
    let bias = phdrs
        .iter()
        .find(|p| p.p_type == PT_PHDR)
        .map_or(0, |p| st.aux.phdr.wrapping_sub(p.p_vaddr as usize));
    let e_type = if bias == 0 { 2 } else { 3 };
    let hdr = mem_header(e_type, st.aux.entry.wrapping_sub(bias) as u64, phdrs);
    let dynamic = MemImage::dyn_info(bias, phdrs, &hdr, parts);
    (bias, phdrs, hdr, dynamic)
}

/// dirname of /proc/self/exe (the kernel-loaded program's `$ORIGIN`).
pub fn exe_origin() -> Option<Vec<u8>> {
    let mut buf = alloc::vec![0u8; 4096];
    let n = crate::sys::readlink(c"/proc/self/exe", &mut buf).ok()?;
    let path = buf.get(..n)?;
    let i = path.iter().rposition(|&c| c == b'/')?;
    // A copy of its size: the 4 KiB buffer goes back to the heap at once (kept, it was the
    // largest block of a small start-up's heap).
    Some(path.get(..i.max(1))?.to_vec())
}

/// rld's glibc-facing tunables and the CPU facts glibc's loader computes from them.
pub fn tunables_and_cpu(
    st: &Startup,
    secure: bool,
    suid_debug: bool,
) -> (
    &'static rld_glibc::tunables::Tunables<'static>,
    rld_cpu::CpuFeatures,
    rld_cpu::CpuInfo<'static>,
) {
    let build0 = rld_glibc::BUILDS.first();
    let descs = build0.map_or(&[][..], |b| b.tunables());
    let opts = rld_glibc::tunables::InitOptions { secure, suid_debug };
    let t = match rld_glibc::tunables::Tunables::init(descs, &st.env, opts) {
        Ok((t, _edits)) => t,
        Err(_) => die("rld: too many tunables in this glibc build\n"),
    };
    let t: &'static mut rld_glibc::tunables::Tunables<'static> = Box::leak(Box::new(t));
    // The CPU tunables' ids, found in one pass over the build's table.
    let [
        hwcaps,
        non_temporal,
        rep_movsb,
        rep_stosb,
        data_cache,
        shared_cache,
    ] = build0.map_or([None; 6], |b| b.tunable_ids(rld_cpu::TUNABLE_NAMES));
    let num = |id: Option<usize>| -> Option<u64> {
        let (v, set) = t.get(id?)?;
        if !set {
            return None;
        }
        Some(match v {
            rld_glibc::tunables::TunableValue::Int32(x) => x as u64,
            rld_glibc::tunables::TunableValue::Uint64(x) => x,
            rld_glibc::tunables::TunableValue::SizeT(x) => x as u64,
            rld_glibc::tunables::TunableValue::Str(_) => return None,
        })
    };
    let hwcaps_val = hwcaps
        .and_then(|i| t.state(i))
        .filter(|s| s.initialized)
        .and_then(|s| s.strval);
    let ct = rld_cpu::Tunables {
        hwcaps: hwcaps_val,
        x86_non_temporal_threshold: num(non_temporal),
        x86_rep_movsb_threshold: num(rep_movsb),
        x86_rep_stosb_threshold: num(rep_stosb),
        x86_data_cache_size: num(data_cache),
        x86_shared_cache_size: num(shared_cache),
    };
    let aux = rld_cpu::Auxv {
        platform: st.aux.platform,
        hwcap2: st.aux.hwcap2,
        minsigstksz: (st.aux.minsigstksz != 0).then_some(st.aux.minsigstksz as u64),
    };
    let mut cpuid = rld_cpu::Memo::new(rld_cpu::NativeCpuid::new());
    let (cf, info) = rld_cpu::compute(&mut cpuid, &ct, &aux);
    // glibc writes the chosen thresholds back into their tunables with the bounds of
    // `dl_init_cacheinfo` (TUNABLE_SET_WITH_BOUNDS).
    let cb = info.cache_bounds;
    let max = u64::MAX as i64;
    for (id, v, lo, hi) in [
        (data_cache, cf.data_cache_size, 0, max),
        (shared_cache, cf.shared_cache_size, 0, max),
        (
            non_temporal,
            cf.non_temporal_threshold,
            cb.non_temporal_min as i64,
            cb.non_temporal_max as i64,
        ),
        (
            rep_movsb,
            cf.rep_movsb_threshold,
            cb.rep_movsb_min as i64,
            max,
        ),
        (rep_stosb, cf.rep_stosb_threshold, 1, max),
    ] {
        if let Some(i) = id {
            t.set_with_bounds(i, v as i64, Some(lo), Some(hi));
        }
    }
    (t, cf, info)
}

/// Hands the program to the system's loader (unknown glibc build). Never returns.
fn hand_over(st: &Startup, explicit: bool, prog_idx: usize, why: &str) -> ! {
    crate::out::flush();
    eprint!(
        "rld: {}; handing the program to {}\n",
        why,
        SYSTEM_LOADER.to_str().unwrap_or("?")
    );
    let mut argv: Vec<*const u8> = Vec::new();
    argv.push(SYSTEM_LOADER.as_ptr().cast());
    let args_start = if explicit { prog_idx } else { 0 };
    // SAFETY: the initial argv array has argc valid entries.
    let argc = unsafe { *st.sp };
    if !explicit {
        argv.push(c"--argv0".as_ptr().cast());
        // SAFETY: argv[0] exists when argc > 0.
        argv.push(unsafe { *st.argv_ptr });
        argv.push(match st.aux.execfn {
            Some(_) => {
                // AT_EXECFN points at a NUL-terminated string on the stack.
                let mut p = 0usize;
                for (t, v) in st.auxv_pairs() {
                    if t == startup::AT_EXECFN {
                        p = v;
                    }
                }
                p as *const u8
            }
            // SAFETY: argv[0] exists on the initial stack (argc >= 1 for a started program).
            None => unsafe { *st.argv_ptr },
        });
        for i in 1..argc {
            // SAFETY: i < argc.
            argv.push(unsafe { *st.argv_ptr.add(i) });
        }
    } else {
        for i in args_start..argc {
            // SAFETY: i < argc.
            argv.push(unsafe { *st.argv_ptr.add(i) });
        }
    }
    argv.push(core::ptr::null());
    // SAFETY: NULL-terminated arrays of C strings from the initial stack.
    let e = unsafe { crate::sys::execve(SYSTEM_LOADER, argv.as_ptr(), st.envp_ptr.cast()) };
    eprint!(
        "rld: cannot run {}: {}\n",
        SYSTEM_LOADER.to_str().unwrap_or("?"),
        crate::sys::strerror(e)
    );
    crate::out::exit(127)
}

/// Maps a library (or the explicit main program) from its open file.
fn map_from_file(
    file: &mut crate::fs::File,
    hdr: &ElfHeader,
    name: &[u8],
    progname: &[u8],
    page: usize,
) -> (usize, usize, usize) {
    let fail = |msg: &str, errno: Option<crate::sys::Errno>| -> ! {
        let mut l = String::new();
        let _ = write!(
            l,
            "{}: error while loading shared libraries: {}: {}",
            lossy(progname),
            lossy(name),
            msg
        );
        if let Some(e) = errno {
            let _ = write!(l, ": {}", crate::sys::strerror(e));
        }
        l.push('\n');
        die(&l)
    };
    // SAFETY: ET_EXEC programs are linked away from where the kernel put rld and its heap
    // (glibc makes the same assumption); everything else goes where the kernel chooses.
    match unsafe { super::map::map_file(file, hdr, hdr.e_type == 2, page) } {
        Ok(m) => (m.bias, m.map_start, m.map_end),
        Err(e) => fail(e.message(), e.errno()),
    }
}

/// What `map_all` needs from `run` (or from `ldd -u`).
pub(crate) struct MapCtx<'a> {
    pub kernel_main: Option<(usize, &'static [Phdr])>,
    pub st: &'a Startup,
    pub program_arg: &'a [u8],
    pub progname: &'a [u8],
    pub page: usize,
    pub self_base: usize,
    pub self_phdrs: &'static [Phdr],
    /// Keep the files of objects whose relocation may move bytes to huge pages
    /// (`Loaded::data_file`).
    pub keep_data_files: bool,
}

/// Maps every object of the graph (those rld-deps did not map already) and builds its
/// `Loaded` entry; returns the runtime table and, per graph id, its index there.
///
/// A function of its own, and each entry built in place at the end of the table: `Loaded` is
/// over 1 KB, and as a match of `describe` results inside `run` its temporaries made `run`'s
/// frame 8 KB (callgrind: 22 KB of memcpy for `true`), one more fresh stack page.
#[inline(never)]
pub(crate) fn map_all(
    graph: &mut rld_deps::LoadGraph<crate::fs::File>,
    cx: &MapCtx<'_>,
) -> (Vec<Loaded>, Vec<Option<usize>>) {
    let (st, page) = (cx.st, cx.page);
    let mut objs: Vec<Loaded> = Vec::with_capacity(graph.objects.len());
    // Runtime table index = graph object id (same numbering); placeholders for skipped ids.
    let mut index_of_graph: Vec<Option<usize>> = alloc::vec![None; graph.objects.len()];
    for (gid, o) in graph.objects.iter_mut().enumerate() {
        let l: &mut Loaded = match o.kind {
            Kind::Missing => {
                o.file = None;
                continue;
            }
            Kind::Main => match cx.kernel_main {
                Some((bias, phdrs)) => push_last(
                    &mut objs,
                    describe(
                        Kind::Main,
                        b"",
                        &o.names,
                        bias,
                        Cow::Borrowed(phdrs),
                        st.aux.phdr,
                        st.aux.entry,
                        page,
                        false,
                    ),
                ),
                None => push_last(&mut objs, map_and_describe(Kind::Main, o, cx)),
            },
            Kind::Rtld => push_last(
                &mut objs,
                describe(
                    Kind::Rtld,
                    &o.path,
                    &o.names,
                    cx.self_base,
                    Cow::Borrowed(cx.self_phdrs),
                    cx.self_base + {
                        // SAFETY: rld's own ELF header.
                        unsafe { ((cx.self_base + 32) as *const u64).read_unaligned() as usize }
                    },
                    crate::start::self_entry(),
                    page,
                    true,
                ),
            ),
            Kind::Vdso => {
                let ehdr = st.aux.sysinfo_ehdr;
                // SAFETY: the kernel maps the vDSO's ELF header and program headers.
                let (phoff, phdrs) = unsafe {
                    let phoff = ((ehdr + 32) as *const u64).read_unaligned() as usize;
                    let phnum = ((ehdr + 56) as *const u16).read_unaligned() as usize;
                    (phoff, objects::phdrs_at(ehdr + phoff, phnum))
                };
                let bias = phdrs
                    .iter()
                    .find(|p| p.p_type == PT_LOAD)
                    .map_or(ehdr, |p| ehdr.wrapping_sub(p.p_vaddr as usize));
                let l = push_last(
                    &mut objs,
                    describe(
                        Kind::Vdso,
                        &o.path,
                        &o.names,
                        bias,
                        Cow::Borrowed(phdrs),
                        ehdr + phoff,
                        0,
                        page,
                        true,
                    ),
                );
                (l.name, l.name_c) =
                    objects::leak_name(o.names.first().map_or(&[][..], Vec::as_slice));
                l
            }
            Kind::Library => push_last(&mut objs, map_and_describe(Kind::Library, o, cx)),
        };
        l.stamp = o.stat.stamp();
        l.origin = o.origin.as_deref().map(objects::leak_cstr);
        // The files are no longer needed once mapped, but for relocation's huge pages.
        if cx.keep_data_files && super::map::huge_page_candidate(l.phdrs) {
            l.data_file = o.file.take().map(Box::new);
        }
        o.file = None;
        index_of_graph[gid] = Some(objs.len() - 1);
    }
    (objs, index_of_graph)
}

/// Builds the `Loaded` entry for an object already in memory.
#[allow(clippy::too_many_arguments)]
pub(super) fn describe(
    kind: Kind,
    name: &[u8],
    libnames: &[Vec<u8>],
    bias: usize,
    phdrs: Cow<'static, [Phdr]>,
    phdr_addr: usize,
    entry: usize,
    page: usize,
    dyn_readonly: bool,
) -> Loaded {
    let l = objects::layout(&phdrs, bias, page);
    let phdrs = match phdrs {
        Cow::Borrowed(p) => p,
        Cow::Owned(v) => objects::image_phdrs(v, phdr_addr, l.map_start, l.ro_end),
    };
    let (dyn_addr, info) = match l.dyn_vaddr {
        Some((v, sz)) => {
            let a = bias.wrapping_add(v as usize);
            // SAFETY: PT_DYNAMIC lies in a mapped segment of the object.
            match unsafe { objects::read_dynamic(a, sz as usize, v) } {
                Some(i) => (a, i),
                None => (0, empty_info()),
            }
        }
        None => (0, empty_info()),
    };
    // SAFETY: the read-only prefix of a mapped object; never written (module invariant).
    let ro = unsafe { objects::ro_image(l.map_start, l.ro_end, l.min_vaddr) };
    let (name, name_c) = objects::leak_name(name);
    Loaded {
        kind,
        name,
        name_c,
        libnames: libnames.iter().map(|n| objects::leak_cstr(n)).collect(),
        bias,
        map_start: l.map_start,
        map_end: l.map_end,
        text_end: l.text_end,
        contiguous: l.contiguous,
        phdrs,
        phdr_addr,
        entry,
        dyn_addr,
        info,
        dyn_readonly,
        tls: l.tls.map(|(image, init_vaddr, init_len)| Tls {
            image,
            init_vaddr,
            init_len,
            modid: 0,
            offset: 0,
        }),
        relro: l.relro.unwrap_or_default(),
        eh_frame: l.eh_frame,
        deps: Vec::new(),
        reldeps: Vec::new(),
        tlsdesc_records: Vec::new(),
        loader: None,
        origin: None,
        stamp: [0; 5],
        data_file: None,
        lm: 0,
        init_called: false,
        ro,
    }
}

/// Maps an object rld opened (a library, or the program named on the command line) and
/// builds its entry: `name` is its `l_name`, `shown` the name in mapping errors.
fn map_and_describe(
    kind: Kind,
    o: &mut rld_deps::graph::Object<crate::fs::File>,
    cx: &MapCtx<'_>,
) -> Loaded {
    let rld_deps::graph::Object {
        file,
        header,
        names,
        path,
        ..
    } = o;
    let Some(file) = file.as_mut() else {
        die("rld: an object to map is not open\n")
    };
    // The program's `l_name` is empty; mapping errors name it as given on the command line.
    let (name, shown): (&[u8], &[u8]) = match kind {
        Kind::Main => (b"", cx.program_arg),
        _ => (path, path),
    };
    let (bias, _, _) = map_from_file(file, header, shown, cx.progname, cx.page);
    let phdr_addr = phdr_address(header, bias);
    // Moved, not copied: the load graph is dropped after mapping (a copy per object was
    // ~600 bytes at the top of the start-up heap).
    describe(
        kind,
        name,
        names,
        bias,
        Cow::Owned(core::mem::take(&mut header.phdrs)),
        phdr_addr,
        bias.wrapping_add(header.e_entry as usize),
        cx.page,
        false,
    )
}

/// Pushes `l` onto `out` and returns it there (the `Loaded` is built in place, not moved
/// through `map_all`'s frame).
fn push_last(out: &mut Vec<Loaded>, l: Loaded) -> &mut Loaded {
    let i = out.len();
    out.push(l);
    &mut out[i]
}

fn empty_info() -> rld_elf::dynamic::DynamicInfo<'static> {
    static NULL_DYN: [u8; 16] = [0; 16];
    match rld_elf::dynamic::Dynamic::from_bytes(&NULL_DYN, 0) {
        Ok(d) => rld_elf::dynamic::DynamicInfo::new(d),
        Err(_) => die("rld: internal error: empty dynamic section\n"),
    }
}

/// Runtime address of an object's program headers (`l_phdr`).
pub(super) fn phdr_address(hdr: &ElfHeader, bias: usize) -> usize {
    if let Some(p) = hdr.phdrs.iter().find(|p| p.p_type == PT_PHDR) {
        return bias.wrapping_add(p.p_vaddr as usize);
    }
    hdr.phdrs
        .iter()
        .find(|p| {
            p.p_type == PT_LOAD
                && hdr.e_phoff >= p.p_offset
                && hdr.e_phoff < p.p_offset + p.p_filesz
        })
        .map_or(0, |p| {
            bias.wrapping_add((p.p_vaddr + (hdr.e_phoff - p.p_offset)) as usize)
        })
}

/// Looks a symbol up in one object by name and optional version (for libc's private
/// entry points); returns its runtime address.
pub(super) fn lookup_in_object(
    rt: &mut Runtime,
    id: usize,
    name: &[u8],
    version: Option<&[u8]>,
) -> usize {
    match find_in_object(rt, id, name, version) {
        Some((o, s)) => symbol_address(rt, o, s),
        None => 0,
    }
}

/// `lookup_in_object`'s symbol: (object, symbol index).
fn find_in_object(
    rt: &mut Runtime,
    id: usize,
    name: &[u8],
    version: Option<&[u8]>,
) -> Option<(ObjId, u32)> {
    let ver = version.map(|v| rld_link::object::Version {
        hash: rld_link::hash::sysv_hash(v),
        hidden: false,
        name: v,
        filename: None,
    });
    let req = rld_link::lookup::Request {
        name: rld_link::hash::NameHash::new(name),
        version: ver,
        class: 0,
        ref_sym: None,
        undef: None,
        skip: None,
        return_newest: false,
    };
    let ids = [id as ObjId];
    let f = rt.ns.lookup_in(&req, &[&ids])?;
    Some((f.obj, f.sym))
}

/// The definition of `name` the global scope gives an unversioned reference (newest
/// version), as glibc's loader looks up libc's allocator.
fn find_global(rt: &mut Runtime, name: &[u8]) -> Option<(ObjId, u32)> {
    let req = rld_link::lookup::Request {
        name: rld_link::hash::NameHash::new(name),
        version: None,
        class: 0,
        ref_sym: None,
        undef: None,
        skip: None,
        return_newest: true,
    };
    let g: Vec<ObjId> = rt.ns.global().to_vec();
    let f = rt.ns.lookup_in(&req, &[&g])?;
    Some((f.obj, f.sym))
}

/// The loader's own lookups at start-up, in the order `startup_symbols` returns them: libc's
/// allocator from the global scope (as glibc's loader does: an interposed malloc is the
/// loader's too), then libc's private entry points by version.
const STARTUP_SYMBOLS: [(&[u8], Option<&[u8]>); 7] = [
    (b"malloc", None),
    (b"calloc", None),
    (b"realloc", None),
    (b"free", None),
    (b"_dl_signal_error", Some(b"GLIBC_PRIVATE")),
    (b"_dl_catch_error", Some(b"GLIBC_PRIVATE")),
    (b"__libc_early_init", Some(b"GLIBC_PRIVATE")),
];

/// `STARTUP_SYMBOLS` as (object, symbol): from the launch record when it has them (the same
/// files give the same answers; the lookups would build libc's version table, and `true`
/// does nothing else with it), else looked up, and recorded when this launch writes a record.
fn startup_symbols(
    rt: &mut Runtime,
    cache: &mut super::launch::Cache<'_>,
) -> [Option<(ObjId, u32)>; STARTUP_SYMBOLS.len()] {
    if let Some(recorded) = cache.symbols() {
        return recorded;
    }
    let mut out = [None; STARTUP_SYMBOLS.len()];
    for (o, &(name, version)) in out.iter_mut().zip(&STARTUP_SYMBOLS) {
        *o = match (version, rt.libc) {
            (None, _) => find_global(rt, name),
            (Some(v), Some(l)) => find_in_object(rt, l, name, Some(v)),
            (Some(_), None) => None,
        };
    }
    cache.set_symbols(&out);
    out
}

fn symbol_address(rt: &Runtime, obj: ObjId, sym: u32) -> usize {
    let Some(s) = rt.ns.obj(obj).and_then(|v| v.sym(sym)) else {
        return 0;
    };
    let base = rt.objs.get(obj as usize).map_or(0, |o| o.bias);
    if s.shndx == rld_link::object::SHN_ABS {
        s.value as usize
    } else {
        base.wrapping_add(s.value as usize)
    }
}

/// Loads and starts the program. Never returns.
pub fn run(cfg: &Config<'_>, st: &mut Startup, explicit: bool) -> ! {
    let page = st.aux.pagesz;
    let prog_idx = if explicit {
        cfg.program_index.unwrap_or(0)
    } else {
        0
    };
    let argv0 = st.args.first().copied();
    let Some(&program_arg) = st.args.get(prog_idx) else {
        die("rld: missing program name\n")
    };
    let progname: &'static [u8] = program_arg;
    super::debug::init(cfg, progname);
    let suid_debug = cfg.secure && LoaderFs.exists(c"/etc/suid-debug");
    let (tunables, cpu_features, cpu_info) = tunables_and_cpu(st, cfg.secure, suid_debug);
    super::services::set_tunables(tunables);

    // ---- the main program and the load graph --------------------------------------------
    let fs = LoaderFs;
    let sc = crate::list::search_config_from(cfg, &cpu_info);
    let mut searcher = Searcher::new(&fs, sc);
    searcher.trace = super::debug::search_trace();
    let (self_base, self_phdrs) = self_image();
    let mut lc = LoadConfig::list(program_arg);
    lc.mode = Mode::Normal;
    lc.preload_env = cfg.preload_env.map(<[u8]>::to_vec);
    lc.preload_arg = cfg.preload_arg.map(<[u8]>::to_vec);
    lc.inhibit_rpath = cfg.inhibit_rpath.map(<[u8]>::to_vec);
    // With the launch cache on, symbol versions are checked after it is consulted, and not
    // at all when a record vouches for the same files in the same graph (`late_versions`):
    // reading the version tables and checking them was ~12% of python3's start-up
    // instructions. Without it (LD_DEBUG among others), where glibc checks them.
    let launch = super::launch::settings(cfg);
    lc.check_versions = launch.is_none();
    let parts = rld_deps::elfdyn::Parts {
        versions: lc.check_versions,
        ..rld_deps::elfdyn::Parts::ALL
    };
    if st.aux.sysinfo_ehdr == 0 {
        lc.vdso = None;
    }
    // rld's own version definitions come from its mapped image, not from its file.
    {
        let hdr = mem_header(3, 0, self_phdrs);
        let dynamic = MemImage::dyn_info(self_base, self_phdrs, &hdr, parts);
        lc.rtld_loaded = Some((hdr, dynamic));
    }
    let mut kernel_main: Option<(usize, &'static [Phdr])> = None;
    if explicit {
        crate::list::apply_library_path(&mut searcher, cfg, program_arg);
        lc.rtld_file = st.aux.execfn.map(<[u8]>::to_vec);
        // Invoked directly, glibc names its own link map as it was invoked (`rtld_progname`,
        // its argv[0]); PT_INTERP and the SONAME stay its other names. Programs see that
        // name through dl_iterate_phdr, and a debugger opens it for the loader's symbols
        // (libthread_db finds `_rtld_global` there).
        if let Some(argv0) = argv0 {
            lc.rtld_name = argv0.to_vec();
        }
    } else {
        let (bias, phdrs, hdr, dynamic) = kernel_program(st, parts);
        if let Some(interp) = &dynamic.interp {
            lc.rtld_name = interp.clone();
            lc.rtld_file = Some(interp.clone());
        }
        lc.main_loaded = Some((hdr, dynamic));
        // Read from /proc/self/exe only if a dynamic string token needs it: most programs
        // never do, and their `l_origin` stays NULL, as under glibc.
        lc.exe_origin_lazy = Some(exe_origin);
        let prog_for_origin = st.aux.execfn.unwrap_or(program_arg);
        crate::list::apply_library_path(&mut searcher, cfg, prog_for_origin);
        kernel_main = Some((bias, phdrs));
    }
    // The launch record is named by the program file and the settings, so it is read before
    // the graph is built: its search memo answers the graph's `/etc/ld.so.cache` lookups.
    let settings = launch.as_ref().map(|_| {
        let ro_end = self_phdrs
            .iter()
            .find(|p| p.p_type == PT_LOAD)
            .map_or(0, |p| (p.p_vaddr + p.p_filesz) as usize);
        // SAFETY: rld's first segment (its headers and notes) is mapped read-only for the
        // life of the process, and nothing writes it.
        let ro = unsafe { objects::ro_image(self_base, self_base + ro_end, 0) };
        super::launch::settings_hash(cfg, super::launch::build_id_of(&ro, self_phdrs))
    });
    let early = launch.as_ref().zip(settings).and_then(|(dl, settings)| {
        let program = if explicit {
            super::launch::program_stamp(program_arg)
        } else {
            super::launch::kernel_program_stamp()
        };
        Some(super::launch::find(
            dl,
            program?,
            settings,
            st.aux.euid as u32,
        ))
    });
    if let Some(memo) = early.as_ref().and_then(|s| s.search_memo()) {
        searcher.set_memo(memo);
    }
    let mut graph = match rld_deps::build(&mut searcher, &lc) {
        Ok(g) => g,
        Err(f) => {
            let mut l = String::new();
            let _ = rld_deps::write_fatal(&mut l, progname, &f);
            die(&l)
        }
    };
    // The graph has its own copies of the mapped program's and rld's headers.
    lc.main_loaded = None;
    lc.rtld_loaded = None;
    let search_memo = searcher.take_memo();
    // dlopen searches with the same settings (LD_LIBRARY_PATH, cache, hwcaps) later: the
    // start-up searcher is done, its configuration moves there (a copy was ~40 allocations).
    super::dlopen::set_search_config(searcher.into_config());
    report_diags(&graph.diags, progname);
    if graph.main_is_static && explicit {
        // Nothing to link: let the kernel run it.
        hand_over_static(st, prog_idx, program_arg);
    }

    // ---- map everything ------------------------------------------------------------------
    let chain: Vec<usize> = graph.chain.clone();
    let ctx = MapCtx {
        kernel_main,
        st,
        program_arg,
        progname,
        page,
        self_base,
        self_phdrs,
        keep_data_files: true,
    };
    let (mut objs, index_of_graph) = map_all(&mut graph, &ctx);
    let map_id = |g: usize| index_of_graph.get(g).copied().flatten();
    for (gid, o) in graph.objects.iter().enumerate() {
        let Some(i) = map_id(gid) else { continue };
        let deps: Vec<usize> = o.deps.iter().filter_map(|&d| map_id(d)).collect();
        let loader = o
            .loader
            .and_then(map_id)
            .and_then(|x| u32::try_from(x).ok());
        if let Some(l) = objs.get_mut(i) {
            l.deps = deps;
            l.loader = loader;
        }
    }
    let chain: Vec<usize> = chain.iter().filter_map(|&g| map_id(g)).collect();
    let searchlist: Vec<usize> = graph.searchlist.iter().filter_map(|&g| map_id(g)).collect();
    let Some(main) = map_id(graph.main) else {
        die("rld: no main program\n")
    };
    let rtld = map_id(graph.rtld).unwrap_or(usize::MAX);
    let vdso = graph.vdso.and_then(map_id);
    // The program's name in version diagnostics (its `l_name` is empty).
    let main_path = match (lc.check_versions, graph.objects.get_mut(graph.main)) {
        (false, Some(o)) => core::mem::take(&mut o.path),
        _ => Vec::new(),
    };
    let libc = chain.iter().copied().find(|&i| {
        objs.get(i)
            .is_some_and(|o| o.kind == Kind::Library && soname_is(o, b"libc.so.6"))
    });
    drop(graph);

    // ---- which glibc ---------------------------------------------------------------------
    let build: Option<&'static GlibcBuild> = match libc.and_then(|i| objs.get(i)) {
        None => None,
        Some(o) => {
            let bytes = o.ro.bytes();
            match rld_glibc::detect_libc(bytes, rld_glibc::ImageKind::Mapped) {
                Ok(b) => Some(b),
                Err(e) => {
                    let mut why = String::new();
                    let _ = write!(why, "{}: {}", lossy(o.name), e);
                    hand_over(st, explicit, prog_idx, &why)
                }
            }
        }
    };
    if let Some(b) = build {
        super::set_build(b);
        if b.link_map.size > 4096
            || b.rtld_global.size > exports::RTLD_GLOBAL_SIZE
            || b.rtld_global_ro.size > exports::RTLD_GLOBAL_RO_SIZE
        {
            hand_over(
                st,
                explicit,
                prog_idx,
                "this glibc build's loader structures are larger than rld's",
            )
        }
    }

    // ---- TLS layout ---------------------------------------------------------------------------
    let nns = tunable_num(tunables, build, "glibc.rtld.nns").unwrap_or(4);
    let optional = tunable_num(tunables, build, "glibc.rtld.optional_static_tls").unwrap_or(512);
    let mut modid = 0;
    let mut images = Vec::new();
    let mut tls_ids = Vec::new();
    for &i in &chain {
        if let Some(t) = objs.get_mut(i).and_then(|o| o.tls.as_mut()) {
            modid += 1;
            t.modid = modid;
            images.push(t.image);
            tls_ids.push(i);
        }
    }
    let mut offsets = alloc::vec![0u64; images.len()];
    let static_tls = match rld_tls::layout_initial(&images, &mut offsets, nns, optional) {
        Ok(s) => s,
        Err(_) => die("rld: cannot allocate TLS block\n"),
    };
    for (k, &i) in tls_ids.iter().enumerate() {
        if let Some(t) = objs.get_mut(i).and_then(|o| o.tls.as_mut()) {
            t.offset = offsets[k] as usize;
        }
    }

    // ---- init order and link maps --------------------------------------------------------
    let per_obj: Vec<Vec<ObjId>> = objs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut v = alloc::vec![i as ObjId];
            v.extend(o.deps.iter().map(|&d| d as ObjId));
            v
        })
        .collect();
    let sl32: Vec<ObjId> = searchlist.iter().map(|&i| i as ObjId).collect();
    let initfini: Vec<usize> = rld_link::order::sort_maps_dfs(
        &sl32,
        &|m| per_obj.get(m as usize).map_or(&[][..], |v| v.as_slice()),
        true,
    )
    .into_iter()
    .map(|i| i as usize)
    .collect();
    drop(per_obj);

    if let Some(b) = build {
        for (i, o) in objs.iter_mut().enumerate() {
            o.lm = super::glibc::new_link_map(b, i);
        }
        let lists = super::glibc::Lists {
            chain: &chain,
            searchlist: &searchlist,
            initfini: &initfini,
            main,
        };
        super::glibc::fill_link_maps(b, &objs, &lists);
    }

    // ---- lookup views ---------------------------------------------------------------------
    let mut views = Vec::with_capacity(objs.len());
    for o in &mut objs {
        let kind = if o.kind == Kind::Main {
            ObjKind::Executable
        } else {
            ObjKind::Library
        };
        let v = objects::view_of(o, kind);
        match v {
            Ok(v) => views.push(v),
            Err(_) => {
                let mut l = String::new();
                let _ = writeln!(
                    l,
                    "{}: error while loading shared libraries: {}: cannot read its dynamic tables",
                    lossy(progname),
                    lossy(if o.name.is_empty() { progname } else { o.name })
                );
                die(&l)
            }
        }
    }
    let mut ns = Namespace::new(views, sl32.clone());
    // The build-id identified libc's exact build: its `_thread_db_*` descriptors (what
    // libthread_db trusts) are part of that build and are checked against the build's layout
    // data by rld-glibc's tests on the installed libc. Checking them again here cost every
    // start-up ~9 us (twenty lookups and the page faults of reading libc's .rodata).
    ns.dynamic_weak = cfg.dynamic_weak;
    let order: Vec<ObjId> = rld_link::order::reloc_order(
        &initfini.iter().map(|&i| i as ObjId).collect::<Vec<_>>(),
        Some(rtld as ObjId),
    );
    // Lazy binding unless LD_BIND_NOW or the object was linked with -z now.
    let lazy_objs: Vec<bool> = objs
        .iter()
        .map(|o| !cfg.bind_now && !o.info.bind_now())
        .collect();
    // Each object is planned just before it is relocated (below), so only one object's plan
    // tables are alive at a time and their memory serves the next object: all plans at once
    // took ~2 MB of fresh heap (page faults) for inkscape. Lookups still happen in
    // relocation order, so the bindings (STB_GNU_UNIQUE included) are the same.
    let plan = rld_link::BindingPlan {
        order,
        objs: alloc::vec![rld_link::ObjPlan::default(); objs.len()],
        first_error: None,
    };
    super::lazy::select(&cpu_features);
    if cfg.bind_not {
        super::lazy::BIND_NOT.store(1, core::sync::atomic::Ordering::Relaxed);
    }

    let max_modid = modid;
    let rt: &'static mut Runtime = Box::leak(Box::new(Runtime {
        build,
        objs,
        ns,
        plan,
        chain,
        searchlist,
        initfini,
        main,
        rtld,
        vdso,
        libc,
        static_tls,
        max_modid,
        static_modids: max_modid,
        tls_gaps: false,
        libc_fns: LibcFns::default(),
        progname,
        bind_now: cfg.bind_now,
        ranges: Vec::new(),
        addr_cache: Vec::new(),
        launch: None,
    }));
    rt.rebuild_ranges();

    // ---- glibc's globals and the main thread -------------------------------------------------
    let mut tp = 0usize;
    // The start-up TLS modules, in module-id (link-map) order; used for the TCB now and for
    // copying the init images after relocation.
    let tls_modules: Vec<super::tls::TlsModule> = rt
        .chain
        .iter()
        .filter_map(|&i| rt.objs.get(i)?.tls_module())
        .collect();
    if let Some(b) = build {
        fill_globals(b, rt, st, cfg, &cpu_features, &cpu_info);
        setup_vdso_pointers(b, rt);
        let gl = _rtld_global.raw();
        let glro = _rtld_global_ro.raw();
        // SAFETY: single-threaded start-up, before any program code.
        let mt = unsafe {
            super::tls::setup_main_thread(b, gl, glro, &rt.static_tls, &tls_modules, st.aux.random)
        };
        let Some(mt) = mt else {
            die("rld: cannot set up the main thread's TLS\n")
        };
        tp = mt.tp;
        // SAFETY: the generation mirror for `__tls_get_addr`'s fast path.
        unsafe {
            super::tls::TLS_GENERATION = gl.get(b.rtld_global.dl_tls_generation);
        }
        let rseq = tunable_num(tunables, build, "glibc.pthread.rseq").unwrap_or(1) != 0;
        // SAFETY: tp is the main thread's TCB.
        let registered = unsafe { super::tls::init_tp(b, gl, tp, st.sp as usize, rseq) };
        // The offset is published whether or not rseq is registered (as glibc does).
        exports::__rseq_offset.set(b.pthread.rseq_area.offset);
        if registered {
            exports::__rseq_size.set(20);
        }
        super::services::install_glro_functions(b, 0);
    }
    // ---- debugger interface -------------------------------------------------------------
    if let Some(b) = build {
        let main_lm = rt.objs.get(rt.main).map_or(0, |o| o.lm);
        let r = _r_debug.raw();
        r.put(b.r_debug.r_version, 1);
        r.put(b.r_debug.r_map, main_lm as u64);
        r.put(
            b.r_debug.r_brk,
            exports::_dl_debug_state as *const () as usize as u64,
        );
        r.put(b.r_debug.r_ldbase, self_base as u64);
        // RT_ADD now, RT_CONSISTENT once everything is relocated: debuggers (gdb) read the
        // list at the second event, like with glibc's `dl_main`.
        r.put(b.r_debug.r_state, 1);
        if let Some(o) = rt.objs.get(rt.main)
            && o.dyn_addr != 0
        {
            for (i, e) in o.info.dynamic().iter().enumerate() {
                if e.tag == consts::DT_DEBUG {
                    let p = (o.dyn_addr + 16 * i + 8) as *mut u64;
                    // SAFETY: the main program's .dynamic is still writable (RELRO comes
                    // with relocation, below); glibc's `elf_setup_debug_entry`.
                    unsafe { p.write_unaligned(_r_debug.raw().base as u64) };
                }
            }
        }
    }
    exports::__libc_stack_end.set(st.sp as usize);
    exports::__libc_enable_secure.set(u32::from(cfg.secure));
    exports::_dl_argv.set(st.argv_ptr as usize);
    let main_lm = rt.objs.get(rt.main).map(|o| o.lm);
    state::publish(rt);
    // RT_ADD as glibc reports it before loading: only the main program is on the list yet
    // (a debugger that looks at libc now, unrelocated and before the final r_debug state,
    // fails to set up thread debugging). The whole list appears with RT_CONSISTENT below.
    if let (Some(b), Some(main_lm)) = (build, main_lm) {
        let l = super::glibc::lm_raw(b, main_lm);
        let next = l.get(b.link_map.l_next);
        l.put(b.link_map.l_next, 0);
        exports::_dl_debug_state();
        l.put(b.link_map.l_next, next);
    }

    super::debug::show_initial_scopes();

    // ---- relocation ------------------------------------------------------------------------
    let order: Vec<usize> = {
        // SAFETY: start-up; the reference is dropped before any program code runs.
        let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
        rt.plan.order.iter().map(|&i| i as usize).collect()
    };
    let mut planner = rld_link::Planner::default();
    let mut scratch = rld_link::ObjPlan::default();
    // Each object in relocation order with its lazy-PLT flag.
    let planned: Vec<(ObjId, bool)> = order
        .iter()
        .map(|&id| (id as ObjId, lazy_objs.get(id).copied().unwrap_or(false)))
        .collect();
    // The launch cache: bindings recorded by an earlier launch of the same program in the
    // same setting, or a record of this launch's for the next one.
    let source = {
        // SAFETY: start-up; the reference is dropped at the end of this block.
        let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
        rt.launch = launch;
        let facts = super::launch::Facts {
            objs: &rt.objs,
            main: rt.main,
            searchlist: &rt.searchlist,
            order: &order,
            lazy: &lazy_objs,
            dynamic_weak: cfg.dynamic_weak,
            label: if explicit {
                program_arg
            } else {
                st.aux.execfn.unwrap_or(program_arg)
            },
            refs: planned
                .iter()
                .map(|&(id, lazy)| rld_link::Planner::references(&rt.ns, id, lazy))
                .sum(),
            euid: st.aux.euid as u32,
            bind_not: cfg.bind_not,
            memo: search_memo,
        };
        match early {
            Some(src) => src.bind(&facts),
            None => rt
                .launch
                .as_ref()
                .zip(settings)
                .and_then(|(dl, settings)| super::launch::open(dl, &facts, settings)),
        }
    };
    // With a launch record, lazily bound objects are prebound (see `Cache::prebind`). Not
    // under LD_BIND_NOT (every call resolves anew) or LD_DYNAMIC_WEAK (a later strong
    // definition would win the lazy lookup). python3 -c pass (580 JUMP_SLOTs, ~100 called):
    // +27k instructions at start-up, -115k in lazy fixups (callgrind). An earlier version
    // replayed prebound slots through the plans at ~200 instructions each (+125k at
    // start-up: python3's time to its first constructor went from 0.98 to 1.03 of glibc's).
    let prebind = source.is_some() && !cfg.bind_not && !cfg.dynamic_weak;
    let mut cache = match &source {
        Some(src) => {
            // SAFETY: as above.
            let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
            src.cache(&mut rt.ns, &planned)
        }
        None => super::launch::Cache::Off,
    };
    if !lc.check_versions && !matches!(cache, super::launch::Cache::Hit(_)) {
        // SAFETY: start-up; the reference is dropped at the end of this statement.
        let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
        if !late_versions(rt, &main_path, progname) {
            // A replay skips the check: only launches it had nothing to say about are recorded.
            cache = super::launch::Cache::Off;
        }
    }
    drop(main_path);
    {
        // SAFETY: start-up; the reference is dropped at the end of this block.
        let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
        // Sized once for the largest object: no series of ever larger tables.
        let most = planned.iter().fold(0, |m, &(id, lazy)| {
            m.max(rld_link::Planner::hint(&rt.ns, id, lazy))
        });
        scratch.reset(most);
    }
    for &(oid, lazy) in &planned {
        let id = oid as usize;
        {
            // SAFETY: start-up; the reference is dropped before the relocation below.
            let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
            if !cache.plan_into(oid, &mut scratch) {
                planner.plan_object(&mut rt.ns, oid, lazy, &mut scratch);
                cache.planned(oid, &scratch, &rt.ns);
            }
            if let Some(slot) = rt.plan.objs.get_mut(id) {
                core::mem::swap(slot, &mut scratch);
            }
        }
        let mut rel = cache.relative(oid);
        if let Err(line) = super::reloc::relocate(id, false, &mut rel) {
            die(&line)
        }
        cache.relocated(oid, rel);
        if lazy && prebind {
            // SAFETY: start-up; the object is relocated (its JUMP_SLOTs lazy) and no program
            // code has run.
            let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
            super::reloc::apply_prebound(id, cache.prebind(&mut rt.ns, oid));
        }
        {
            // SAFETY: as above; relocation (and the IFUNC resolvers it ran) is over.
            let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
            if let Some(o) = rt.objs.get_mut(id) {
                o.data_file = None;
            }
            // Nothing reads a start-up object's bindings after its relocation but whether
            // its PLT was left lazy: the tables go back to the scratch plan for the next one.
            if let Some(slot) = rt.plan.objs.get_mut(id) {
                core::mem::swap(slot, &mut scratch);
                slot.lazy_plt = scratch.lazy_plt;
            }
        }
        super::reloc::protect_relro(id);
        if let Some(b) = build {
            // SAFETY: start-up, no program code runs here.
            let lm = unsafe { state::get_unlocked() }.and_then(|rt| rt.objs.get(id).map(|o| o.lm));
            if let Some(lm) = lm {
                super::glibc::lm_raw(b, lm).put_bits(b.link_map.l_relocated, 1);
            }
        }
    }
    super::debug::startup_relocated();
    let mut startup_syms = [None; STARTUP_SYMBOLS.len()];
    {
        // SAFETY: start-up; relocation is over and no program code has run.
        let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
        if build.is_some() {
            startup_syms = startup_symbols(rt, &mut cache);
        }
        cache.finish(&rt.ns, planner.first_error.is_none());
    }
    if let Some(s) = source {
        s.keep();
    }

    // SAFETY: start-up; no program code runs until the constructors below.
    let rt = unsafe { state::get_unlocked() }.unwrap_or_else(|| die("rld: no runtime\n"));
    // `STARTUP_SYMBOLS`' addresses, in its order.
    let [
        malloc,
        calloc,
        realloc,
        free,
        signal_error,
        catch_error,
        early,
    ] = startup_syms.map(|e| e.map_or(0, |(o, s)| symbol_address(rt, o, s)));
    let b = build;
    if let Some(b) = b {
        for i in [rt.rtld, rt.vdso.unwrap_or(usize::MAX)] {
            if let Some(o) = rt.objs.get(i) {
                super::glibc::lm_raw(b, o.lm).put_bits(b.link_map.l_relocated, 1);
            }
        }
        // TLS images now hold relocated data.
        // SAFETY: after relocation, tp from setup_main_thread.
        unsafe { super::tls::init_static_blocks(tp, &tls_modules) };
        // libc's allocator and error protocol (see `startup_symbols`).
        let fns = LibcFns {
            malloc,
            calloc,
            realloc,
            free,
            signal_error,
            catch_error,
        };
        rt.libc_fns = fns;
        super::services::install_glro_functions(b, fns.catch_error);
    }

    if let Some(b) = b {
        _r_debug.raw().put(b.r_debug.r_state, 0);
    }
    exports::_dl_debug_state();

    // ---- explicit invocation: the program becomes argv[0] ------------------------------
    if explicit {
        let main_o = rt.objs.get(rt.main);
        let (phdr, phnum, entry) =
            main_o.map_or((0, 0, 0), |o| (o.phdr_addr, o.phdrs.len(), o.entry));
        // SAFETY: the initial stack; rld is done reading the old argv layout.
        unsafe { st.skip_args(prog_idx) };
        // SAFETY: auxv is on the initial stack and writable.
        unsafe {
            st.set_aux(startup::AT_PHDR, phdr);
            st.set_aux(startup::AT_PHNUM, phnum);
            st.set_aux(startup::AT_ENTRY, entry);
            st.set_aux(startup::AT_EXECFN, program_arg.as_ptr() as usize);
        }
        if let Some(a0) = cfg.argv0 {
            // SAFETY: argv[0] exists; the string lives on the initial stack.
            unsafe { *st.argv_ptr = a0.as_ptr() };
        }
        exports::_dl_argv.set(st.argv_ptr as usize);
    }
    let glro = _rtld_global_ro.raw();
    if let Some(b) = b {
        glro.put(b.rtld_global_ro.dl_auxv, st.auxv_ptr as u64);
    }

    // ---- libc's early init and the constructors -------------------------------------------
    let argc = st.args.len();
    let argv = st.argv_ptr as usize;
    let envp = st.envp_ptr as usize;
    let main_entry = rt.objs.get(rt.main).map_or(0, |o| o.entry);
    // (object, DT_INIT, DT_INIT_ARRAY, DT_INIT_ARRAYSZ, load bias), dependencies first.
    type Init = (usize, Option<u64>, Option<u64>, Option<u64>, usize);
    let inits: Vec<Init> = rt
        .initfini
        .iter()
        .rev()
        .filter_map(|&i| {
            let o = rt.objs.get(i)?;
            Some((
                i,
                o.info.get(consts::DT_INIT),
                o.info.get(consts::DT_INIT_ARRAY),
                o.info.get(consts::DT_INIT_ARRAYSZ),
                o.bias,
            ))
        })
        .collect();
    let main_idx = rt.main;
    let preinit = rt.objs.get(rt.main).and_then(|o| {
        Some((
            o.bias,
            o.info.get(consts::DT_PREINIT_ARRAY)?,
            o.info.get(consts::DT_PREINIT_ARRAYSZ)?,
        ))
    });
    let lms: Vec<usize> = rt.objs.iter().map(|o| o.lm).collect();
    for o in rt.objs.iter_mut() {
        o.init_called = o.kind != Kind::Vdso;
    }
    let _ = rt;
    crate::out::flush();
    if early != 0 {
        // Program code (as every call through `jump`): the heap locks from now on.
        crate::heap::share();
        // SAFETY: libc's `__libc_early_init(_Bool initial)`, after relocation.
        let f: extern "C" fn(bool) = unsafe { core::mem::transmute(early) };
        f(true);
    }
    super::debug::startup_done();
    if let Some((bias, a, sz)) = preinit {
        super::debug::calling_preinit();
        call_array(bias, a, sz, argc, argv, envp);
    }
    for (i, init, arr, arrsz, bias) in inits {
        if let Some(b) = b
            && let Some(&lm) = lms.get(i)
        {
            super::glibc::lm_raw(b, lm).put_bits(b.link_map.l_init_called, 1);
        }
        if i == main_idx {
            // libc's __libc_start_main runs the program's own constructors.
            continue;
        }
        super::debug::calling_init(i);
        if let Some(f) = init {
            // SAFETY: DT_INIT of a relocated object.
            unsafe { super::jump::call_init(bias.wrapping_add(f as usize), argc, argv, envp) };
        }
        if let (Some(a), Some(sz)) = (arr, arrsz) {
            call_array(bias, a, sz, argc, argv, envp);
        }
    }
    crate::out::flush();
    // SAFETY: the relocated entry point and the (adjusted) initial stack.
    unsafe {
        super::jump::enter(
            main_entry,
            st.sp as usize,
            super::services::_dl_fini as *const () as usize,
        )
    }
}

/// The start-up objects as the version check sees them, with their version tables read
/// from their mapped images (see `late_versions`).
struct LateVersions<'a> {
    objs: &'a [Loaded],
    main: usize,
    main_path: &'a [u8],
    dynamic: Vec<rld_deps::elfdyn::DynInfo>,
}

impl rld_deps::version::VersionObjects for LateVersions<'_> {
    fn kind(&self, id: usize) -> Option<Kind> {
        self.objs.get(id).map(|o| o.kind)
    }
    fn path(&self, id: usize) -> &[u8] {
        if id == self.main {
            return self.main_path;
        }
        self.objs.get(id).map_or(&[], |o| o.name)
    }
    fn known_as(&self, id: usize, file: &[u8]) -> bool {
        self.path(id) == file
            || self.objs.get(id).is_some_and(|o| {
                o.libnames
                    .iter()
                    .any(|n| n.strip_suffix(&[0]).unwrap_or(n) == file)
            })
    }
    fn dynamic(&self, id: usize) -> Option<&rld_deps::elfdyn::DynInfo> {
        self.dynamic.get(id)
    }
}

/// glibc's start-up version check (`_dl_check_all_versions`), run after the load graph when
/// the launch cache had no record for this launch: every complaint is printed, and a
/// missing version ends the process with status 1 as in `version_check_doit`. The tables
/// come from the mapped images, which relocation has not touched yet. Returns whether
/// there was nothing to complain about.
#[inline(never)]
fn late_versions(rt: &Runtime, main_path: &[u8], progname: &[u8]) -> bool {
    let dynamic = rt
        .objs
        .iter()
        .map(|o| match o.kind {
            // As in the load graph, which reads nothing of the vDSO.
            Kind::Vdso | Kind::Missing => rld_deps::elfdyn::DynInfo::default(),
            // The entries as linked: `.dynamic` itself holds run-time addresses by now
            // (`glibc::fill_info`); `o.info` reads a copy made before.
            _ => {
                let img = MemImage::new(o.bias, o.phdrs);
                let hdr = mem_header(3, 0, o.phdrs);
                let entries = o.info.dynamic().entry_bytes();
                rld_deps::elfdyn::read_versions_over(&img, &hdr, entries)
            }
        })
        .collect();
    let objs = LateVersions {
        objs: &rt.objs,
        main: rt.main,
        main_path,
        dynamic,
    };
    let lists = rld_deps::version::StartLists {
        chain: &rt.chain,
        searchlist: &rt.searchlist,
        main: rt.main,
    };
    let diags = match rld_deps::version::check_start(&objs, lists, false, progname, None) {
        Ok(d) => d,
        Err(f) => {
            let mut l = String::new();
            let _ = rld_deps::write_fatal(&mut l, progname, &f);
            die(&l)
        }
    };
    report_diags(&diags, progname);
    diags.is_empty()
}

/// Prints the load graph's or the version check's diagnostics; after a version complaint
/// the process ends with status 1 (glibc's `version_check_doit`: every one is reported
/// first).
fn report_diags(diags: &[rld_deps::Diag], progname: &[u8]) {
    if diags.is_empty() {
        return;
    }
    let mut l = String::new();
    for d in diags {
        let _ = rld_deps::write_diag(&mut l, progname, d);
    }
    eprint!("{}", l);
    if diags
        .iter()
        .any(|d| matches!(d, rld_deps::Diag::Version { .. }))
    {
        crate::out::exit(1);
    }
}

fn call_array(bias: usize, a: u64, sz: u64, argc: usize, argv: usize, envp: usize) {
    let base = bias.wrapping_add(a as usize) as *const usize;
    for k in 0..(sz as usize / 8) {
        // SAFETY: a relocated init array of a loaded object.
        let f = unsafe { base.add(k).read() };
        if f != 0 && f != usize::MAX {
            // SAFETY: a constructor of that object.
            unsafe { super::jump::call_init(f, argc, argv, envp) };
        }
    }
}

fn soname_is(o: &Loaded, want: &[u8]) -> bool {
    let Some(off) = o.info.soname_offset() else {
        return false;
    };
    let Ok(st) = o.info.string_table(&o.ro) else {
        return false;
    };
    st.get(off).is_ok_and(|s| s == want)
}

fn tunable_num(
    t: &rld_glibc::tunables::Tunables<'_>,
    build: Option<&GlibcBuild>,
    name: &str,
) -> Option<u64> {
    let b = build.or(rld_glibc::BUILDS.first())?;
    let (v, _) = t.get(b.tunable_id(name)?)?;
    Some(match v {
        rld_glibc::tunables::TunableValue::Int32(x) => x as u64,
        rld_glibc::tunables::TunableValue::Uint64(x) => x,
        rld_glibc::tunables::TunableValue::SizeT(x) => x as u64,
        rld_glibc::tunables::TunableValue::Str(_) => return None,
    })
}

/// `_rtld_global` and `_rtld_global_ro` as `dl_main` leaves them before relocation.
fn fill_globals(
    b: &GlibcBuild,
    rt: &Runtime,
    st: &Startup,
    cfg: &Config<'_>,
    cf: &rld_cpu::CpuFeatures,
    info: &rld_cpu::CpuInfo<'_>,
) {
    let gl = _rtld_global.raw();
    let ro = _rtld_global_ro.raw();
    let g = &b.rtld_global;
    let r = &b.rtld_global_ro;
    let main_lm = rt.objs.get(rt.main).map_or(0, |o| o.lm);
    // Namespace 0.
    let n = &b.link_namespaces;
    let ns0 = Raw {
        base: gl.base.wrapping_add(b.dl_ns_offset(0)),
        size: n.size,
    };
    ns0.put(n.ns_loaded, main_lm as u64);
    ns0.put(n.ns_nloaded, rt.chain.len() as u64);
    ns0.put(
        n.ns_main_searchlist,
        super::glibc::lm_raw(b, main_lm).addr(b.link_map.l_searchlist) as u64,
    );
    ns0.put(
        n.libc_map,
        rt.libc.and_then(|l| rt.objs.get(l)).map_or(0, |o| o.lm) as u64,
    );
    let mut mutex = [0u8; 64];
    if b.recursive_mutex_init(&mut mutex).is_some() {
        let m = mutex.get(..b.pthread_mutex_t.size).unwrap_or(&[]);
        ns0.put_bytes(n.ns_unique_sym_table_lock, m);
        gl.put_bytes(g.dl_load_lock, m);
        gl.put_bytes(g.dl_load_write_lock, m);
        gl.put_bytes(g.dl_load_tls_lock, m);
    }
    gl.put(g.dl_nns, 1);
    gl.put(g.dl_load_adds, rt.chain.len() as u64);
    let dirs = super::glibc::alloc_forever(64, 8);
    gl.put(g.dl_all_dirs, dirs as u64);
    let stack_flags = rt
        .objs
        .get(rt.main)
        .and_then(|o| o.phdrs.iter().find(|p| p.p_type == PT_GNU_STACK))
        .map_or(7, |p| p.p_flags as u64);
    gl.put(g.dl_stack_flags, stack_flags);

    ro.put(r.dl_debug_mask, u64::from(super::debug::mask()));
    if let Some(p) = info.platform {
        let c = objects::leak_cstr(p);
        ro.put(r.dl_platform, c.as_ptr() as u64);
        ro.put(r.dl_platformlen, p.len() as u64);
    }
    ro.put(r.dl_pagesize, st.aux.pagesz as u64);
    ro.put(r.dl_minsigstacksize, info.minsigstacksize);
    ro.put(r.dl_inhibit_cache, u64::from(cfg.inhibit_cache));
    let (list, nlist) = super::glibc::searchlist_of(&rt.objs, &rt.searchlist);
    ro.put(r.dl_initial_searchlist_r_list, list as u64);
    ro.put(r.dl_initial_searchlist_r_nlist, nlist as u64);
    ro.put(r.dl_clktck, st.aux.clktck as u64);
    ro.put(r.dl_verbose, 0);
    ro.put(r.dl_debug_fd, 2);
    ro.put(r.dl_lazy, u64::from(!cfg.bind_now));
    ro.put(r.dl_dynamic_weak, u64::from(cfg.dynamic_weak));
    ro.put(r.dl_fpu_control, 0x37f);
    ro.put(r.dl_hwcap, info.hwcap);
    ro.put(r.dl_hwcap2, info.hwcap2);
    ro.put(r.dl_auxv, st.auxv_ptr as u64);
    let cfb = {
        let p = cf as *const rld_cpu::CpuFeatures as *const u8;
        // SAFETY: CpuFeatures is a repr(C) plain-data struct.
        unsafe { core::slice::from_raw_parts(p, core::mem::size_of::<rld_cpu::CpuFeatures>()) }
    };
    ro.put_bytes(r.dl_x86_cpu_features, cfb);
    ro.put_bytes(
        r.dl_x86_hwcap_flags,
        b"sse2\0\0\0\0\0x86_64\0\0\0avx512_1\0",
    );
    ro.put_bytes(
        r.dl_x86_platforms,
        b"i586\0\0\0\0\0i686\0\0\0\0\0haswell\0\0xeon_phi\0",
    );
    ro.put_ptr(r.dl_profile_output, c"/var/tmp".as_ptr());
    ro.put(r.dl_init_all_dirs, dirs as u64);
    ro.put(r.dl_sysinfo_dso, st.aux.sysinfo_ehdr as u64);
    if let Some(v) = rt.vdso.and_then(|v| rt.objs.get(v)) {
        ro.put(r.dl_sysinfo_map, v.lm as u64);
    }
    ro.put(r.dl_dso_sort_algo, 1);
    ro.put(r.dl_naudit, 0);
}

/// glibc's `setup_vdso_pointers`: libc's `clock_gettime`, `getcpu`/`sched_getcpu` and
/// `clock_getres` call the vDSO through these `GLRO` pointers, and make a system call when
/// one is NULL (java -version made ~1,000 clock_gettime system calls before). (`time` and
/// `gettimeofday` find the vDSO by themselves, through `GLRO(dl_sysinfo_map)`.) The
/// lookups are not traced: LD_DEBUG reports them where glibc does (`debug::vdso_lookups`).
fn setup_vdso_pointers(b: &GlibcBuild, rt: &mut Runtime) {
    let Some(v) = rt.vdso else { return };
    let r = &b.rtld_global_ro;
    let trace = rt.ns.trace.take();
    for (field, name) in [
        (r.dl_vdso_clock_gettime64, &b"__vdso_clock_gettime"[..]),
        (r.dl_vdso_gettimeofday, b"__vdso_gettimeofday"),
        (r.dl_vdso_time, b"__vdso_time"),
        (r.dl_vdso_getcpu, b"__vdso_getcpu"),
        (r.dl_vdso_clock_getres_time64, b"__vdso_clock_getres"),
    ] {
        let a = lookup_in_object(rt, v, name, Some(b"LINUX_2.6"));
        _rtld_global_ro.raw().put(field, a as u64);
    }
    rt.ns.trace = trace;
}

/// Explicit invocation of a static (non-PIE) program: exec it directly.
fn hand_over_static(st: &Startup, prog_idx: usize, program: &[u8]) -> ! {
    let path = objects::leak_cstr(program);
    // SAFETY: argv from prog_idx is a NULL-terminated array on the initial stack.
    let argv = unsafe { st.argv_ptr.add(prog_idx) };
    let Ok(p) = core::ffi::CStr::from_bytes_with_nul(path) else {
        die("rld: bad program name\n")
    };
    // SAFETY: as above.
    let e = unsafe { crate::sys::execve(p, argv.cast(), st.envp_ptr.cast()) };
    eprint!(
        "rld: cannot run {}: {}\n",
        lossy(program),
        crate::sys::strerror(e)
    );
    crate::out::exit(127)
}
