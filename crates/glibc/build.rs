//! Turns every `data/<build>/` directory of raw gdb/readelf output into a `GlibcBuild` constant.
//! The txt files are the source of truth; a field missing from a build's dump fails the build.

extern crate alloc;

#[path = "src/ptype.rs"]
#[allow(dead_code)]
mod ptype;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// (Rust type, data file, C type, members). A member is a gdb path; `rust=path` renames it.
/// Rust names default to the path without leading underscores and with `.` turned into `_`.
const STRUCTS: &[(&str, &str, &str, &str)] = &[
    (
        "LinkMapLayout",
        "link_map",
        "struct link_map",
        "
        l_addr l_name l_ld l_next l_prev l_real l_ns l_libname l_info l_phdr l_entry l_phnum l_ldnum
        l_searchlist l_searchlist.r_list l_searchlist.r_nlist l_symbolic_searchlist l_loader
        l_versions l_nversions l_nbuckets l_gnu_bitmask_idxbits l_gnu_shift l_gnu_bitmask
        l_gnu_buckets l_chain l_gnu_chain_zero l_buckets l_direct_opencount
        l_type l_dt_relr_ref l_relocated l_init_called l_global l_reserved l_main_map l_visited
        l_map_used l_map_done l_phdr_allocated l_soname_added l_faked l_need_tls_init l_auditing
        l_audit_any_plt l_removed l_contiguous l_free_initfini l_ld_readonly l_find_object_processed
        l_nodelete_active l_nodelete_pending l_property l_x86_feature_1_and l_x86_isa_1_needed
        l_1_needed l_rpath_dirs l_reloc_result l_versyms l_origin l_map_start l_map_end l_text_end
        l_scope_mem l_scope_max l_scope l_local_scope l_file_id l_file_id.dev l_file_id.ino
        l_runpath_dirs l_initfini l_init_called_next l_reldeps l_reldepsmax l_used l_feature_1
        l_flags_1 l_flags l_idx l_mach l_mach.plt l_mach.gotplt l_mach.tlsdesc_table l_lookup_cache
        l_tls_initimage l_tls_initimage_size l_tls_blocksize l_tls_align l_tls_firstbyte_offset
        l_tls_offset l_tls_modid l_tls_dtor_count l_relro_addr l_relro_size l_serial",
    ),
    (
        "RtldGlobalLayout",
        "rtld_global",
        "struct rtld_global",
        "
        _dl_ns _dl_nns _dl_load_lock _dl_load_write_lock _dl_load_tls_lock _dl_load_adds
        _dl_initfirst _dl_profile_map _dl_num_relocations _dl_num_cache_relocations _dl_all_dirs
        _dl_rtld_map _dl_rtld_auditstate _dl_x86_feature_1 _dl_x86_feature_control
        _dl_x86_feature_control.ibt _dl_x86_feature_control.shstk _dl_stack_flags
        _dl_tls_dtv_gaps _dl_tls_max_dtv_idx _dl_tls_dtv_slotinfo_list _dl_tls_static_nelem
        _dl_tls_static_used _dl_tls_static_optional _dl_initial_dtv _dl_tls_generation
        _dl_scope_free_list _dl_stack_used _dl_stack_user _dl_stack_cache _dl_stack_cache_actsize
        _dl_in_flight_stack _dl_stack_cache_lock",
    ),
    (
        "RtldGlobalRoLayout",
        "rtld_global_ro",
        "struct rtld_global_ro",
        "
        _dl_debug_mask _dl_platform _dl_platformlen _dl_pagesize _dl_minsigstacksize
        _dl_inhibit_cache _dl_initial_searchlist _dl_initial_searchlist.r_list
        _dl_initial_searchlist.r_nlist _dl_clktck _dl_verbose _dl_debug_fd _dl_lazy _dl_bind_not
        _dl_dynamic_weak _dl_fpu_control _dl_hwcap _dl_auxv _dl_x86_cpu_features
        cpu_kind=_dl_x86_cpu_features.basic.kind cpu_max_cpuid=_dl_x86_cpu_features.basic.max_cpuid
        cpu_family=_dl_x86_cpu_features.basic.family cpu_model=_dl_x86_cpu_features.basic.model
        cpu_stepping=_dl_x86_cpu_features.basic.stepping cpu_features=_dl_x86_cpu_features.features
        cpu_preferred=_dl_x86_cpu_features.preferred cpu_isa_1=_dl_x86_cpu_features.isa_1
        cpu_xsave_state_size=_dl_x86_cpu_features.xsave_state_size
        cpu_xsave_state_full_size=_dl_x86_cpu_features.xsave_state_full_size
        cpu_data_cache_size=_dl_x86_cpu_features.data_cache_size
        cpu_shared_cache_size=_dl_x86_cpu_features.shared_cache_size
        cpu_non_temporal_threshold=_dl_x86_cpu_features.non_temporal_threshold
        cpu_rep_movsb_threshold=_dl_x86_cpu_features.rep_movsb_threshold
        cpu_rep_movsb_stop_threshold=_dl_x86_cpu_features.rep_movsb_stop_threshold
        cpu_rep_stosb_threshold=_dl_x86_cpu_features.rep_stosb_threshold
        cpu_level1_icache_size=_dl_x86_cpu_features.level1_icache_size
        cpu_level1_icache_linesize=_dl_x86_cpu_features.level1_icache_linesize
        cpu_level1_dcache_size=_dl_x86_cpu_features.level1_dcache_size
        cpu_level1_dcache_assoc=_dl_x86_cpu_features.level1_dcache_assoc
        cpu_level1_dcache_linesize=_dl_x86_cpu_features.level1_dcache_linesize
        cpu_level2_cache_size=_dl_x86_cpu_features.level2_cache_size
        cpu_level2_cache_assoc=_dl_x86_cpu_features.level2_cache_assoc
        cpu_level2_cache_linesize=_dl_x86_cpu_features.level2_cache_linesize
        cpu_level3_cache_size=_dl_x86_cpu_features.level3_cache_size
        cpu_level3_cache_assoc=_dl_x86_cpu_features.level3_cache_assoc
        cpu_level3_cache_linesize=_dl_x86_cpu_features.level3_cache_linesize
        cpu_level4_cache_size=_dl_x86_cpu_features.level4_cache_size
        _dl_x86_hwcap_flags _dl_x86_platforms _dl_inhibit_rpath _dl_origin_path
        _dl_tls_static_size _dl_tls_static_align _dl_tls_static_surplus _dl_profile
        _dl_profile_output _dl_init_all_dirs _dl_sysinfo_dso _dl_sysinfo_map
        _dl_vdso_clock_gettime64 _dl_vdso_gettimeofday _dl_vdso_time _dl_vdso_getcpu
        _dl_vdso_clock_getres_time64 _dl_hwcap2 _dl_dso_sort_algo _dl_debug_printf _dl_mcount
        _dl_lookup_symbol_x _dl_open _dl_close _dl_catch_error _dl_error_free _dl_tls_get_addr_soft
        _dl_libc_freeres _dl_find_object _dl_dlfcn_hook _dl_audit _dl_naudit",
    ),
    (
        "LinkNamespacesLayout",
        "link_namespaces",
        "struct link_namespaces",
        "
        _ns_loaded _ns_nloaded _ns_main_searchlist _ns_global_scope_alloc
        _ns_global_scope_pending_adds libc_map _ns_unique_sym_table _ns_unique_sym_table.lock
        _ns_unique_sym_table.entries _ns_unique_sym_table.size _ns_unique_sym_table.n_elements
        _ns_unique_sym_table.free _ns_debug _ns_debug.r_next",
    ),
    (
        "RDebugLayout",
        "r_debug",
        "struct r_debug",
        "r_version r_map r_brk r_state r_ldbase",
    ),
    (
        "RDebugExtendedLayout",
        "r_debug_extended",
        "struct r_debug_extended",
        "base r_next",
    ),
    (
        "TcbheadLayout",
        "tcbhead_t",
        "tcbhead_t",
        "
        tcb dtv self_ptr=self multiple_threads gscope_flag sysinfo stack_guard pointer_guard
        unused_vgetcpu_cache feature_1 __private_tm __private_ss ssp_base",
    ),
    (
        "PthreadLayout",
        "pthread",
        "struct pthread",
        "
        header list tid robust_prev robust_head robust_head.list robust_head.futex_offset
        robust_head.list_op_pending cleanup cleanup_jmp_buf cancelhandling flags specific_1stblock
        specific specific_used report_events user_stack stopped_start setup_failed lock
        setxid_futex joinid result schedparam schedpolicy start_routine arg eventbuf nextevent
        stackblock stackblock_size guardsize reported_guardsize tpp res sigmask c11 exiting
        exit_lock tls_state rseq_area rseq_area.cpu_id_start rseq_area.cpu_id rseq_area.rseq_cs
        rseq_area.flags",
    ),
    (
        "DtvLayout",
        "dtv_t",
        "dtv_t",
        "counter pointer.val pointer.to_free",
    ),
    (
        "DtvSlotinfoListLayout",
        "dtv_slotinfo_list",
        "struct dtv_slotinfo_list",
        "len next slotinfo",
    ),
    (
        "DtvSlotinfoLayout",
        "dtv_slotinfo",
        "struct dtv_slotinfo",
        "generation=gen map",
    ),
    (
        "RScopeElemLayout",
        "r_scope_elem",
        "struct r_scope_elem",
        "r_list r_nlist",
    ),
    (
        "LibnameListLayout",
        "libname_list",
        "struct libname_list",
        "name next dont_free",
    ),
    (
        "RFoundVersionLayout",
        "r_found_version",
        "struct r_found_version",
        "name hash hidden filename",
    ),
    (
        "DlExceptionLayout",
        "dl_exception",
        "struct dl_exception",
        "objname errstring message_buffer",
    ),
    (
        "DlFindObjectLayout",
        "dl_find_object",
        "struct dl_find_object",
        "
        dlfo_flags dlfo_map_start dlfo_map_end dlfo_link_map dlfo_eh_frame __dflo_reserved",
    ),
    (
        "TlsIndexLayout",
        "tls_index",
        "tls_index",
        "ti_module ti_offset",
    ),
    (
        "DlSerinfoLayout",
        "Dl_serinfo",
        "Dl_serinfo",
        "dls_size dls_cnt dls_serpath",
    ),
    (
        "DlSerpathLayout",
        "Dl_serpath",
        "Dl_serpath",
        "dls_name dls_flags",
    ),
    (
        "PthreadMutexLayout",
        "pthread_mutex_t",
        "pthread_mutex_t",
        "
        lock=__data.__lock count=__data.__count owner=__data.__owner nusers=__data.__nusers
        kind=__data.__kind spins=__data.__spins elision=__data.__elision list=__data.__list",
    ),
    ("ListLayout", "list_t", "list_t", "next prev"),
    ("RFileIdLayout", "r_file_id", "struct r_file_id", "dev ino"),
];

fn rust_name(spec: &str) -> (String, &str) {
    match spec.split_once('=') {
        Some((r, p)) => (r.to_string(), p),
        None => (spec.trim_start_matches('_').replace('.', "_"), spec),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("data");
    println!("cargo:rerun-if-changed=data");
    println!("cargo:rerun-if-changed=src/ptype.rs");
    let mut dirs: Vec<_> = fs::read_dir(&data)
        .expect("data/ directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();

    let mut out = String::new();
    // Type definitions: the field kind (plain or bitfield) is taken from the first build and must
    // agree in every other build.
    let mut kinds: Vec<Vec<bool>> = Vec::new();
    for (ty, file, cty, fields) in STRUCTS {
        let first = dirs.first().expect("at least one data/<build> directory");
        let layout = load(&first.join(format!("{file}.txt")));
        writeln!(
            out,
            "/// Layout of `{cty}` (gdb `ptype /o`, file `{file}.txt`)."
        )
        .unwrap();
        writeln!(
            out,
            "#[derive(Clone, Copy, Debug, PartialEq, Eq)]\npub struct {ty} {{"
        )
        .unwrap();
        writeln!(out, "    /// `sizeof({cty})`.\n    pub size: usize,").unwrap();
        let mut k = Vec::new();
        for spec in fields.split_whitespace() {
            let (rname, path) = rust_name(spec);
            let m = layout
                .get(path)
                .unwrap_or_else(|| panic!("{file}: no member {path}"));
            let bits = m.bits.is_some();
            k.push(bits);
            let t = if bits { "BitField" } else { "Field" };
            writeln!(out, "    /// `{path}`\n    pub {rname}: {t},").unwrap();
        }
        kinds.push(k);
        writeln!(out, "}}\n").unwrap();
        writeln!(out, "impl {ty} {{").unwrap();
        writeln!(
            out,
            "    /// The data file (without `.txt`) this layout is measured in."
        )
        .unwrap();
        writeln!(out, "    pub const FILE: &'static str = \"{file}\";").unwrap();
        writeln!(
            out,
            "    /// Every member as `(gdb path, member)`, for checks against the dump."
        )
        .unwrap();
        writeln!(
            out,
            "    pub fn members(&self) -> alloc::vec::Vec<(&'static str, Member)> {{"
        )
        .unwrap();
        writeln!(out, "        alloc::vec![").unwrap();
        for spec in fields.split_whitespace() {
            let (rname, path) = rust_name(spec);
            writeln!(out, "            (\"{path}\", Member::from(self.{rname})),").unwrap();
        }
        writeln!(out, "        ]\n    }}\n}}\n").unwrap();
    }

    writeln!(
        out,
        "/// Every build with a `data/` directory, in directory-name order."
    )
    .unwrap();
    // Strings, build-ids and tunables go to tables of their own and the builds refer to them
    // by offset (see `Text` in lib.rs): the generated statics hold no pointers.
    let mut text = String::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut tunables = String::new();
    let mut ntunables = 0usize;
    let mut intern = |s: &str| -> String {
        let off = match text.find(s) {
            Some(o) if !s.is_empty() => o,
            _ => {
                text.push_str(s);
                text.len() - s.len()
            }
        };
        format!("Text {{ off: {off}, len: {} }}", s.len())
    };
    writeln!(out, "pub static BUILDS: &[GlibcBuild] = &[").unwrap();
    for dir in &dirs {
        let ident = fs::read_to_string(dir.join("identity.txt")).expect("identity.txt");
        let get = |k: &str| {
            ident
                .lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(' ')))
                .unwrap_or_else(|| panic!("{}: identity.txt lacks {k}", dir.display()))
                .trim()
                .to_string()
        };
        let mut hex = |s: String| -> String {
            assert!(
                s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()),
                "bad hex {s}"
            );
            let off = bytes.len();
            bytes.extend(
                (0..s.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()),
            );
            format!("Bytes {{ off: {off}, len: {} }}", s.len() / 2)
        };
        writeln!(out, "    GlibcBuild {{").unwrap();
        writeln!(
            out,
            "        package_version: {},",
            intern(&get("package_version"))
        )
        .unwrap();
        writeln!(out, "        arch: {},", intern(&get("arch"))).unwrap();
        writeln!(out, "        libc_build_id: {},", hex(get("libc_build_id"))).unwrap();
        writeln!(out, "        ldso_build_id: {},", hex(get("ldso_build_id"))).unwrap();
        writeln!(out, "        libc_banner: {},", intern(&get("libc_banner"))).unwrap();
        for (i, (ty, file, _, fields)) in STRUCTS.iter().enumerate() {
            let layout = load(&dir.join(format!("{file}.txt")));
            let fname = file.to_lowercase();
            writeln!(out, "        {fname}: {ty} {{ size: {},", layout.size).unwrap();
            for (j, spec) in fields.split_whitespace().enumerate() {
                let (rname, path) = rust_name(spec);
                let m = layout
                    .get(path)
                    .unwrap_or_else(|| panic!("{}/{file}: no member {path}", dir.display()));
                assert_eq!(
                    m.bits.is_some(),
                    kinds[i][j],
                    "{file}.{path}: bitfield-ness differs"
                );
                match m.bits {
                    Some((bit, width)) => writeln!(
                        out,
                        "            {rname}: BitField {{ byte: {}, bit: {bit}, width: {width} }},",
                        m.offset
                    ),
                    None => writeln!(
                        out,
                        "            {rname}: Field {{ offset: {}, size: {} }},",
                        m.offset, m.size
                    ),
                }
                .unwrap();
            }
            writeln!(out, "        }},").unwrap();
        }
        let first_tunable = ntunables;
        let tl = fs::read_to_string(dir.join("tunable_list.txt")).expect("tunable_list.txt");
        let mut count = None;
        let mut n = 0usize;
        for line in tl.lines() {
            if let Some(c) = line.strip_prefix("count ") {
                count = Some(c.trim().parse::<usize>().expect("count"));
                continue;
            }
            let Some(rest) = line.strip_prefix("tunable ") else {
                continue;
            };
            let rest = rest.strip_suffix('|').expect("tunable line ends with |");
            let f: Vec<&str> = rest.split(' ').collect();
            assert!(f.len() == 8, "bad tunable line {line}");
            assert_eq!(
                f[0].parse::<usize>().unwrap(),
                n,
                "tunable ids must be dense"
            );
            let ty = ["Int32", "Uint64", "SizeT", "String"][f[2].parse::<usize>().unwrap()];
            let sec = ["SxidErase", "SxidIgnore", "None"][f[6].parse::<usize>().unwrap()];
            let (name, alias) = (intern(f[1]), intern(f[7]));
            writeln!(
                tunables,
                "    TunableDesc {{ name: {name}, ty: TunableType::{ty}, min: {}, max: {}, default: {}, security: SecurityLevel::{sec}, env_alias: {alias} }},",
                f[3].parse::<i64>().unwrap(),
                f[4].parse::<i64>().unwrap(),
                f[5].parse::<i64>().unwrap()
            )
            .unwrap();
            n += 1;
        }
        assert_eq!(count, Some(n), "tunable count");
        ntunables += n;
        writeln!(
            out,
            "        tunables: ({first_tunable}, {ntunables}),\n    }},"
        )
        .unwrap();
    }
    writeln!(out, "];").unwrap();
    writeln!(out, "const TEXT: &str = {text:?};").unwrap();
    writeln!(out, "const BYTES: &[u8] = &{bytes:?};").unwrap();
    writeln!(
        out,
        "static TUNABLE_LISTS: [TunableDesc; {ntunables}] = [\n{tunables}];"
    )
    .unwrap();
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builds.rs");
    fs::write(dest, out).unwrap();
}

fn load(path: &Path) -> ptype::Layout {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ptype::parse(&text).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}
