//! The generated layout constants must equal what the committed gdb dumps say, and the dumps
//! must equal a fresh measurement when gdb and libc6-dbg are installed.

use rld_glibc::{BUILDS, GlibcBuild, Member, ptype};
use std::path::{Path, PathBuf};
use std::process::Command;

fn data_dir(b: &GlibcBuild) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(b.package_version())
}

type Layouts = Vec<(&'static str, usize, Vec<(&'static str, Member)>)>;

fn all_layouts(b: &GlibcBuild) -> Layouts {
    macro_rules! l {
        ($($f:ident),*) => { vec![$((stringify!($f), b.$f.size, b.$f.members())),*] };
    }
    l!(
        link_map,
        rtld_global,
        rtld_global_ro,
        link_namespaces,
        r_debug,
        r_debug_extended,
        tcbhead_t,
        pthread,
        dtv_t,
        dtv_slotinfo_list,
        dtv_slotinfo,
        r_scope_elem,
        libname_list,
        r_found_version,
        dl_exception,
        dl_find_object,
        tls_index,
        dl_serinfo,
        dl_serpath,
        pthread_mutex_t,
        list_t,
        r_file_id
    )
}

fn file_for(field: &str) -> &str {
    match field {
        "dl_serinfo" => "Dl_serinfo",
        "dl_serpath" => "Dl_serpath",
        f => f,
    }
}

#[test]
fn constants_match_committed_dumps() {
    let mut checked = 0;
    for b in BUILDS {
        for (name, size, members) in all_layouts(b) {
            let path = data_dir(b).join(format!("{}.txt", file_for(name)));
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed = ptype::parse(&text).unwrap();
            assert_eq!(parsed.size, size, "{}: size", path.display());
            for (gdb_path, m) in members {
                let p = parsed
                    .get(gdb_path)
                    .unwrap_or_else(|| panic!("{name}: {gdb_path} missing"));
                match m {
                    Member::Field(f) => {
                        assert_eq!(p.bits, None, "{name}.{gdb_path}");
                        assert_eq!((f.offset, f.size), (p.offset, p.size), "{name}.{gdb_path}");
                    }
                    Member::Bits(bf) => {
                        assert_eq!(p.bits, Some((bf.bit, bf.width)), "{name}.{gdb_path}");
                        assert_eq!(bf.byte, p.offset, "{name}.{gdb_path}");
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "only {checked} members checked");
}

/// Values quoted in docs/glibc-2.36-rtld-abi.md, typed in independently of the dumps so that a
/// broken parser cannot agree with itself.
#[test]
fn spot_checks_for_deb12u14() {
    let b = BUILDS
        .iter()
        .find(|b| b.package_version() == "2.36-9+deb12u14")
        .unwrap();
    assert_eq!(b.libc_build_id()[..4], [0x93, 0xac, 0x61, 0xec]);
    assert_eq!(b.ldso_build_id()[..4], [0x7e, 0xbc, 0x65, 0xe5]);
    let lm = &b.link_map;
    assert_eq!(lm.size, 1192);
    assert_eq!((lm.l_info.offset, lm.l_info.size), (64, 640));
    assert_eq!(lm.l_phdr.offset, 704);
    assert_eq!(lm.l_phnum.offset, 720);
    assert_eq!(lm.l_searchlist.offset, 728);
    assert_eq!(lm.l_loader.offset, 760);
    assert_eq!(lm.l_nbuckets.offset, 780);
    assert_eq!(lm.l_gnu_buckets.offset, 800);
    assert_eq!(lm.l_gnu_chain_zero.offset, 808);
    assert_eq!(
        (lm.l_type.byte, lm.l_type.bit, lm.l_type.width),
        (820, 0, 2)
    );
    assert_eq!((lm.l_relocated.byte, lm.l_relocated.bit), (820, 3));
    assert_eq!((lm.l_init_called.byte, lm.l_init_called.bit), (820, 4));
    assert_eq!((lm.l_global.byte, lm.l_global.bit), (820, 5));
    assert_eq!((lm.l_main_map.byte, lm.l_main_map.bit), (821, 0));
    assert_eq!((lm.l_contiguous.byte, lm.l_contiguous.bit), (822, 3));
    assert_eq!((lm.l_ld_readonly.byte, lm.l_ld_readonly.bit), (822, 5));
    assert_eq!(lm.l_contiguous.mask(), 0x08);
    assert_eq!(lm.l_type.mask(), 0x03);
    assert_eq!(lm.l_origin.offset, 872);
    assert_eq!(lm.l_map_start.offset, 880);
    assert_eq!(lm.l_scope.offset, 944);
    assert_eq!(lm.l_local_scope.offset, 952);
    assert_eq!(lm.l_initfini.offset, 1000);
    assert_eq!(lm.l_tls_offset.offset, 1144);
    assert_eq!(lm.l_tls_modid.offset, 1152);
    assert_eq!(lm.l_tls_dtor_count.offset, 1160);
    assert_eq!(lm.l_serial.offset, 1184);
    let g = &b.rtld_global;
    assert_eq!(g.size, 4336);
    assert_eq!(b.link_namespaces.size, 160);
    assert_eq!(b.dl_nns_max(), 16);
    assert_eq!(b.dl_ns_offset(1), 160);
    assert_eq!(g.dl_nns.offset, 0xa00);
    assert_eq!(g.dl_load_lock.offset, 0xa08);
    assert_eq!(g.dl_load_write_lock.offset, 0xa30);
    assert_eq!(g.dl_load_tls_lock.offset, 0xa58);
    assert_eq!(g.dl_load_adds.offset, 0xa80);
    assert_eq!(g.dl_rtld_map.offset, 0xab0);
    assert_eq!(g.dl_stack_flags.offset, 0x1060);
    assert_eq!(g.dl_tls_dtv_slotinfo_list.offset, 0x1070);
    assert_eq!(g.dl_initial_dtv.offset, 0x1090);
    assert_eq!(g.dl_stack_used.offset, 0x10a8);
    assert_eq!(g.dl_stack_user.offset, 0x10b8);
    assert_eq!(g.dl_stack_cache_lock.offset, 0x10e8);
    let ro = &b.rtld_global_ro;
    assert_eq!(ro.size, 896);
    assert_eq!(ro.dl_pagesize.offset, 0x18);
    assert_eq!(ro.dl_fpu_control.offset, 0x58);
    assert_eq!(ro.dl_x86_cpu_features.offset, 0x70);
    assert_eq!(ro.dl_x86_cpu_features.size, 480);
    assert_eq!(ro.cpu_preferred.offset, 0x1a4);
    assert_eq!(ro.cpu_non_temporal_threshold.offset, 0x1d0);
    assert_eq!(ro.cpu_rep_stosb_threshold.offset, 0x1e8);
    assert_eq!(ro.dl_tls_static_size.offset, 0x2a0);
    assert_eq!(ro.dl_init_all_dirs.offset, 0x2c8);
    assert_eq!(ro.dl_find_object.offset, 0x360);
    assert_eq!(ro.dl_naudit.offset, 0x378);
    let t = &b.tcbhead_t;
    assert_eq!(t.size, 704);
    assert_eq!((t.stack_guard.offset, t.pointer_guard.offset), (0x28, 0x30));
    assert_eq!(t.feature_1.offset, 0x48);
    let p = &b.pthread;
    assert_eq!(p.size, 2368);
    assert_eq!(p.list.offset, 704);
    assert_eq!(p.tid.offset, 720);
    assert_eq!(p.robust_prev.offset, 728);
    assert_eq!(p.robust_head.offset, 736);
    assert_eq!(p.specific_1stblock.offset, 784);
    assert_eq!(p.specific.offset, 1296);
    assert_eq!(p.report_events.offset, 1553);
    assert_eq!(p.user_stack.offset, 1554);
    assert_eq!(p.stackblock.offset, 1680);
    assert_eq!(p.stackblock_size.offset, 1688);
    assert_eq!((p.rseq_area.offset, p.rseq_area.size), (2336, 32));
    assert_eq!(p.rseq_area_cpu_id.offset, 2340);
    assert_eq!(b.dl_find_object.size, 96);
    assert_eq!(b.r_found_version.size, 24);
    assert_eq!(b.r_debug.size, 40);
    assert_eq!(b.r_debug_extended.size, 48);
    assert_eq!(b.pthread_mutex_t.kind.offset, 16);
    let mut m = [0xffu8; 40];
    b.recursive_mutex_init(&mut m).unwrap();
    let mut want = [0u8; 40];
    want[16] = 1;
    assert_eq!(m, want);
    assert_eq!(rld_glibc::l_info_index(0x6ffffef5), Some(79)); // DT_GNU_HASH
    assert_eq!(rld_glibc::l_info_index(0x6ffffff0), Some(53)); // DT_VERSYM
    assert_eq!(rld_glibc::l_info_index(0x6ffffffb), Some(42)); // DT_FLAGS_1
    assert_eq!(rld_glibc::l_info_index(36), Some(36)); // DT_RELR
    assert_eq!(rld_glibc::l_info_index(0x7fffffff), Some(54)); // DT_FILTER
    assert_eq!(rld_glibc::l_info_index(0x6ffffdf8), Some(64)); // DT_CHECKSUM
    assert_eq!(rld_glibc::l_info_index(0x70000000), None);
}

#[test]
fn thread_db_dump_agrees_with_layout() {
    for b in BUILDS {
        let text = std::fs::read_to_string(data_dir(b).join("thread_db.txt")).unwrap();
        for (sym, expect, is_size) in b.thread_db_expectations() {
            let line = text
                .lines()
                .find(|l| l.split(' ').next() == Some(sym))
                .unwrap();
            let v: Vec<u32> = line[sym.len()..]
                .trim()
                .trim_matches(['{', '}'])
                .split(',')
                .map(|x| x.trim().parse().unwrap())
                .collect();
            if is_size {
                assert_eq!(v, [expect[0]], "{sym}");
            } else {
                assert_eq!(v, expect, "{sym}");
            }
        }
    }
}

#[test]
fn tunable_enum_order_matches_table() {
    for b in BUILDS {
        let text = std::fs::read_to_string(data_dir(b).join("tunable_enums.txt")).unwrap();
        let line = text.lines().next().unwrap();
        let body = line.split_once('{').unwrap().1.trim_end_matches('}');
        let ids: Vec<String> = body.split(',').map(|s| s.trim().to_string()).collect();
        let names: Vec<String> = b
            .tunables()
            .iter()
            .map(|t| t.name().replace('.', "_"))
            .collect();
        assert_eq!(ids, names);
    }
}

fn have_gdb_and_dbg() -> bool {
    let gdb = Command::new("gdb")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let dbg = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "libc6-dbg"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"));
    gdb && dbg
}

#[test]
fn remeasure_matches_committed() {
    if !have_gdb_and_dbg() {
        println!("NOTE: gdb or libc6-dbg not installed; skipping re-measurement");
        return;
    }
    let version = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "libc6"])
        .output()
        .unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let Some(b) = BUILDS.iter().find(|b| b.package_version() == version) else {
        println!("NOTE: installed libc6 {version} has no data directory; skipping re-measurement");
        return;
    };
    let out = std::env::temp_dir().join(format!("rld-glibc-measure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/measure.sh");
    let st = Command::new("sh")
        .arg(script)
        .env("OUT", &out)
        .status()
        .unwrap();
    assert!(st.success());
    let committed = data_dir(b);
    let mut n = 0;
    for e in std::fs::read_dir(&committed).unwrap() {
        let e = e.unwrap();
        let fresh = std::fs::read_to_string(out.join(e.file_name())).unwrap();
        let old = std::fs::read_to_string(e.path()).unwrap();
        assert_eq!(
            fresh,
            old,
            "{:?} differs from a fresh measurement",
            e.file_name()
        );
        n += 1;
    }
    let fresh_count = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(
        n, fresh_count,
        "measure.sh produced a different set of files"
    );
    std::fs::remove_dir_all(&out).unwrap();
}
