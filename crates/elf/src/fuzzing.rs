//! Drives every public view over arbitrary bytes, for the robustness tests and the cargo-fuzz
//! target. Invariant: bounded work per input (every walk is capped), never panics.

use crate::consts::*;
use crate::*;

/// Caps so a hostile input cannot make one run take long (the views themselves are total).
const MAX_ITEMS: usize = 200_000;

/// Runs all accessors on `bytes` as a file and as a mapped image; returns a checksum so the
/// work cannot be optimized away.
pub fn exercise(bytes: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut mix = |v: u64| acc = acc.rotate_left(5) ^ v;
    match verify_header(bytes) {
        Ok(h) => mix(h.e_entry ^ u64::from(h.e_phnum)),
        Err(e) => mix(e.error().message().len() as u64 + u64::from(e.is_skip())),
    }
    let _ = verify_ehdr(bytes);
    let Ok(file) = ElfFile::parse(bytes) else {
        return acc;
    };
    mix(file.entry() ^ u64::from(file.e_type()));
    for ph in file.program_headers() {
        mix(ph.p_vaddr() ^ ph.p_memsz() ^ ph.p_filesz() ^ u64::from(ph.p_type()));
        let _ = ph.file_bytes(bytes).map(|b| b.len());
    }
    mix(file.load_segments().count() as u64);
    for ph in [
        file.dynamic_segment(),
        file.tls_segment(),
        file.gnu_stack(),
        file.gnu_relro(),
        file.gnu_eh_frame(),
        file.gnu_property(),
        file.phdr_segment(),
    ]
    .into_iter()
    .flatten()
    {
        mix(ph.p_offset());
    }
    if let Some(Ok(i)) = file.interp() {
        mix(i.len() as u64);
    }
    for n in file.notes().take(MAX_ITEMS) {
        match n {
            Ok(n) => {
                mix(u64::from(n.n_type) ^ n.desc.len() as u64);
                if n.n_type == NT_GNU_PROPERTY_TYPE_0 {
                    for p in GnuProperties::new(n.desc).take(MAX_ITEMS).flatten() {
                        mix(u64::from(p.pr_type) ^ u64::from(p.as_u32().unwrap_or(0)));
                    }
                }
            }
            Err(_) => mix(1),
        }
    }
    mix(file.build_id().map_or(0, |b| b.len() as u64));
    mix(u64::from(file.check_loadable(4096).is_ok()));
    let extent = file.load_extent(4096);
    mix(extent.map_or(0, |(a, b)| a ^ b));

    // As a file.
    let mem = file.memory();
    if let Ok(Some(d)) = file.dynamic() {
        acc ^= exercise_dynamic(DynamicInfo::new(d), &mem);
    }
    // As an image: the file bytes reinterpreted as a mapping starting at the first PT_LOAD
    // (a different, equally hostile address translation).
    if let (Some((lo, _)), Some(ph)) = (extent, file.dynamic_segment()) {
        for image in [
            MappedImage::new(bytes, lo),
            MappedImage::with_segments(bytes, lo, file.program_headers()),
        ] {
            if let Ok(info) = DynamicInfo::from_memory(&image, ph.p_vaddr(), ph.p_memsz()) {
                acc ^= exercise_dynamic(info, &image);
            }
        }
    }
    acc
}

fn exercise_dynamic<'a, M: Memory<'a>>(info: DynamicInfo<'a>, mem: &M) -> u64 {
    let mut acc = 0u64;
    let mut mix = |v: u64| acc = acc.rotate_left(7) ^ v;
    for i in 0..L_INFO_COUNT {
        mix(info.slot(i).unwrap_or(1) ^ info.raw_slot(i).unwrap_or(2));
    }
    for e in info.dynamic().iter() {
        mix(l_info_index(e.tag).unwrap_or(0) as u64);
    }
    mix(info.flags() ^ info.flags_1());
    mix(u64::from(info.textrel())
        | u64::from(info.bind_now()) << 1
        | u64::from(info.symbolic()) << 2);
    mix(info.debug_value_vaddr().unwrap_or(0));
    mix(u64::from(info.check_glibc_asserts().is_ok()));
    for v in [
        info.init(),
        info.fini(),
        info.init_array(),
        info.init_arraysz(),
        info.fini_array(),
        info.fini_arraysz(),
        info.preinit_array(),
        info.preinit_arraysz(),
        info.pltgot(),
        info.tlsdesc_got(),
        info.tlsdesc_plt(),
        info.verdefnum(),
        info.verneednum(),
    ] {
        mix(v.unwrap_or(3));
    }
    if let Ok(strtab) = info.string_table(mem) {
        for n in info.needed(&strtab).take(MAX_ITEMS) {
            mix(n.map_or(5, |n| n.len() as u64));
        }
        for off in [
            info.soname_offset(),
            info.rpath_offset(),
            info.raw_rpath_offset(),
            info.runpath_offset(),
            info.audit_offset(),
            info.depaudit_offset(),
        ] {
            if let Some(Ok(s)) = DynamicInfo::string(&strtab, off) {
                mix(s.len() as u64);
            }
        }
        for off in info
            .filter_offsets()
            .chain(info.auxiliary_offsets())
            .take(MAX_ITEMS)
        {
            mix(strtab.get(off).map_or(0, |s| s.len() as u64));
        }
        if let Ok(t) = VersionTable::build(&info, mem) {
            mix(t.len() as u64);
            mix(u64::from(t.check_relr_abi(&info, &strtab).is_ok()));
            for e in t.entries().iter().flatten() {
                mix(u64::from(e.hash) ^ e.name.len() as u64);
            }
        }
    }
    if let Ok(it) = VerdefIter::from_dynamic(&info, mem) {
        for d in it.take(MAX_ITEMS) {
            let Ok(d) = d else { break };
            mix(u64::from(d.hash) ^ u64::from(d.ndx));
            let _ = d.name_offset();
            for n in d.name_offsets().take(MAX_ITEMS) {
                mix(u64::from(n.unwrap_or(0)));
            }
        }
    }
    if let Ok(it) = VerneedIter::from_dynamic(&info, mem) {
        for n in it.take(MAX_ITEMS) {
            let Ok(n) = n else { break };
            mix(u64::from(n.file));
            for a in n.aux().take(MAX_ITEMS) {
                mix(a.map_or(0, |a| u64::from(a.hash) ^ u64::from(a.index())));
            }
        }
    }
    for t in [info.rela_table(mem), info.plt_rela_table(mem)]
        .into_iter()
        .flatten()
    {
        for r in t.iter().take(MAX_ITEMS) {
            mix(r.offset ^ u64::from(r.r_type) ^ u64::from(r.sym) ^ r.addend as u64);
            mix(u64::from(r_x86_64_name(r.r_type).is_some()));
        }
    }
    if let Ok(t) = info.relr_table(mem) {
        for a in t.iter().take(MAX_ITEMS) {
            mix(a);
        }
    }
    // Hash tables individually, then the bundle.
    if let Some(a) = info.gnu_hash()
        && let Ok(g) = GnuHash::from_memory(mem, a)
    {
        mix(u64::from(g.symbol_count().unwrap_or(0)) ^ u64::from(g.bucket_count()));
        for h in [0u32, 1, 0xffff_ffff, gnu_hash(b"printf")] {
            mix(u64::from(g.bloom_may_contain(h)));
            mix(g.candidates(h).take(MAX_ITEMS).count() as u64);
        }
    }
    if let Some(a) = info.hash()
        && let Ok(s) = SysvHash::from_memory(mem, a)
    {
        mix(u64::from(s.symbol_count()));
        for h in [0u32, 1, sysv_hash(b"printf")] {
            mix(s.candidates(h).take(MAX_ITEMS).count() as u64);
        }
    }
    if let Ok(syms) = DynamicSymbols::from_dynamic(&info, mem) {
        mix(syms.symtab.len() as u64);
        let mut names = [&b""[..]; 4];
        let mut k = 0;
        for (i, s) in syms.symtab.defined().take(MAX_ITEMS) {
            mix(s.st_value() ^ u64::from(s.sym_type()) ^ u64::from(s.sym_bind()));
            mix(u64::from(s.sym_visibility()) ^ u64::from(s.st_shndx()) ^ s.st_size());
            mix(u64::from(syms.versym(i).unwrap_or(0)));
            if let Ok(n) = syms.symtab.name(s)
                && let Some(slot) = names.get_mut(k)
            {
                *slot = n;
                k += 1;
            }
        }
        for name in names
            .iter()
            .chain([&&b"printf"[..], &&b"malloc"[..], &&b"foo"[..]])
        {
            let key = SymbolKey::new(name);
            mix(syms
                .lookup(&key, |_, _| true)
                .map_or(0, |(i, _)| u64::from(i)));
            mix(syms.lookup_defined(name).map_or(0, |(i, _)| u64::from(i)));
            mix(u64::from(key.sysv()));
        }
        mix(syms
            .symtab
            .containing(0x1000)
            .map_or(0, |(i, _)| u64::from(i)));
    }
    acc
}
