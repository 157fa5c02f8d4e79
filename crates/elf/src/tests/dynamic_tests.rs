//! DynamicInfo / ElfFile / Memory against readelf on system files.
use super::util::*;
use crate::consts::*;
use crate::{DynamicInfo, ElfFile, MappedImage, Memory, ProgramHeaderExt, l_info_index};
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;

/// System ELF objects to cross-check (bounded so the test stays fast).
pub fn system_objects(limit: usize) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = [LIBC, LS, LDSO].iter().map(PathBuf::from).collect();
    for dir in ["/lib/x86_64-linux-gnu", "/usr/bin"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && !p.is_symlink()
                    && std::fs::read(p)
                        .map(|b| b.starts_with(b"\x7fELF\x02"))
                        .unwrap_or(false)
            })
            .collect();
        entries.sort();
        v.extend(entries.into_iter().take(limit));
    }
    v
}

struct ReadelfDyn {
    tag: i64,
    hex_val: Option<u64>,
    string: Option<String>,
}

fn readelf_dynamic(path: &Path) -> Vec<ReadelfDyn> {
    let out = readelf(&["-d"], path);
    let mut v = Vec::new();
    for line in out.lines() {
        let line = line.trim();
        if !line.starts_with("0x") {
            continue;
        }
        let (tag, rest) = line.split_once(' ').unwrap();
        let tag = u64::from_str_radix(&tag[2..], 16).unwrap() as i64;
        if tag == DT_NULL {
            break;
        }
        let after = rest.split_once(')').unwrap().1.trim();
        let hex_val = after
            .strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h.split_whitespace().next().unwrap(), 16).ok());
        let string = after.find('[').and_then(|i| {
            after[i + 1..]
                .rfind(']')
                .map(|j| String::from(&after[i + 1..i + 1 + j]))
        });
        v.push(ReadelfDyn {
            tag,
            hex_val,
            string,
        });
    }
    v
}

#[test]
fn dynamic_entries_match_readelf_on_system_objects() {
    let mut checked = 0;
    for path in system_objects(40) {
        let bytes = std::fs::read(&path).unwrap();
        let file = ElfFile::parse(&bytes).unwrap();
        let Some(dynamic) = file.dynamic().unwrap() else {
            continue;
        };
        let expect = readelf_dynamic(&path);
        assert_eq!(dynamic.len(), expect.len(), "{path:?}");
        let info = DynamicInfo::new(dynamic);
        let strtab = info.string_table(&file.memory()).unwrap();
        for (e, r) in dynamic.iter().zip(&expect) {
            assert_eq!(e.tag, r.tag, "{path:?}");
            if let Some(v) = r.hex_val {
                assert_eq!(e.val, v, "{path:?} tag {:#x}", e.tag);
            }
            if let Some(s) = &r.string {
                if matches!(e.tag, DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH) {
                    assert_eq!(strtab.get(e.val).unwrap(), s.as_bytes(), "{path:?}");
                }
            }
        }
        let needed: Vec<&[u8]> = info.needed(&strtab).map(|r| r.unwrap()).collect();
        let expect_needed: Vec<&[u8]> = expect
            .iter()
            .filter(|r| r.tag == DT_NEEDED)
            .map(|r| r.string.as_deref().unwrap().as_bytes())
            .collect();
        assert_eq!(needed, expect_needed, "{path:?}");
        info.check_glibc_asserts().unwrap();
        checked += 1;
    }
    assert!(checked > 20, "only {checked} objects checked");
}

#[test]
fn libc_dynamic_info() {
    let bytes = read(LIBC);
    let file = ElfFile::parse(&bytes).unwrap();
    let info = DynamicInfo::new(file.dynamic().unwrap().unwrap());
    let strtab = info.string_table(&file.memory()).unwrap();
    assert_eq!(
        DynamicInfo::string(&strtab, info.soname_offset())
            .unwrap()
            .unwrap(),
        b"libc.so.6"
    );
    let needed: Vec<_> = info.needed(&strtab).map(|n| n.unwrap()).collect();
    assert_eq!(needed, [b"ld-linux-x86-64.so.2".as_slice()]);
    assert!(info.gnu_hash().is_some() && info.versym().is_some() && info.verdef().is_some());
    assert_eq!(
        info.slot(l_info_index(DT_GNU_HASH).unwrap()),
        info.gnu_hash()
    );
    assert_eq!(info.relaent(), Some(24));
    assert_eq!(info.pltrel(), Some(DT_RELA as u64));
    assert!(info.debug_index().is_none());
}

#[test]
fn ls_file_views() {
    let bytes = read(LS);
    let file = ElfFile::parse(&bytes).unwrap();
    assert_eq!(
        file.interp().unwrap().unwrap(),
        b"/lib64/ld-linux-x86-64.so.2"
    );
    assert_eq!(file.e_type(), ET_DYN);
    let out = readelf(&["-l"], Path::new(LS));
    let loads = out
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD "))
        .count();
    assert_eq!(file.load_segments().count(), loads);
    assert!(file.gnu_stack().is_some() && file.gnu_relro().is_some());
    assert!(file.gnu_eh_frame().is_some());
    assert!(file.tls_segment().is_none());
    let info = DynamicInfo::new(file.dynamic().unwrap().unwrap());
    let idx = info.debug_index().expect("executables have DT_DEBUG");
    assert_eq!(info.dynamic().iter().nth(idx).unwrap().tag, DT_DEBUG);
    let dynseg = file.dynamic_segment().unwrap();
    assert_eq!(
        info.debug_value_vaddr(),
        Some(dynseg.p_vaddr() + 16 * idx as u64 + 8)
    );
    assert!(info.flags_1() & DF_1_PIE != 0);
    file.check_loadable(4096).unwrap();
}

#[test]
fn libc_has_tls_segment_and_ld_so_has_no_interp() {
    let libc = read(LIBC);
    assert!(ElfFile::parse(&libc).unwrap().tls_segment().is_some());
    let ld = read(LDSO);
    assert!(ElfFile::parse(&ld).unwrap().interp().is_none());
}

#[test]
fn mapped_image_gives_same_dynamic_info_as_file() {
    for p in [LIBC, LS, LDSO] {
        let bytes = read(p);
        let file = ElfFile::parse(&bytes).unwrap();
        let (image, lo) = fake_map(&bytes);
        let ph = file.dynamic_segment().unwrap();
        for restricted in [false, true] {
            let mem = if restricted {
                MappedImage::with_segments(&image, lo, file.program_headers())
            } else {
                MappedImage::new(&image, lo)
            };
            let a = DynamicInfo::from_memory(&mem, ph.p_vaddr(), ph.p_memsz()).unwrap();
            let b = DynamicInfo::from_memory(&file.memory(), ph.p_vaddr(), ph.p_filesz()).unwrap();
            for i in 0..crate::L_INFO_COUNT {
                assert_eq!(a.slot(i), b.slot(i));
            }
            let sa = a.string_table(&mem).unwrap();
            let sb = b.string_table(&file.memory()).unwrap();
            assert_eq!(sa.bytes(), sb.bytes());
            // outside the extent
            assert!(mem.bytes_from(lo.wrapping_sub(1)).is_err());
            assert!(mem.bytes_from(lo + image.len() as u64).is_err());
        }
    }
}

#[test]
fn mapped_image_with_segments_rejects_holes() {
    // A synthetic layout: two PT_LOADs with a hole between them.
    let bytes = read(LIBC);
    let file = ElfFile::parse(&bytes).unwrap();
    let (image, lo) = fake_map(&bytes);
    let mem = MappedImage::with_segments(&image, lo, file.program_headers());
    let loads: Vec<_> = file.load_segments().collect();
    for w in loads.windows(2) {
        let end = w[0].p_vaddr() + w[0].p_memsz();
        if end < w[1].p_vaddr() {
            assert!(mem.bytes_from(end).is_err());
            let run = mem.bytes_from(end - 1).unwrap();
            assert_eq!(run.len(), 1);
        }
    }
}

#[test]
fn l_info_index_matches_glibc_layout() {
    assert_eq!(l_info_index(DT_NEEDED), Some(1));
    assert_eq!(l_info_index(DT_RELRENT), Some(37));
    assert_eq!(l_info_index(DT_NUM), None);
    assert_eq!(l_info_index(DT_VERNEEDNUM), Some(38));
    assert_eq!(l_info_index(DT_VERNEED), Some(39));
    assert_eq!(l_info_index(DT_VERDEFNUM), Some(40));
    assert_eq!(l_info_index(DT_VERDEF), Some(41));
    assert_eq!(l_info_index(DT_FLAGS_1), Some(42));
    assert_eq!(l_info_index(DT_RELCOUNT), Some(43));
    assert_eq!(l_info_index(DT_RELACOUNT), Some(44));
    assert_eq!(l_info_index(DT_VERSYM), Some(53));
    assert_eq!(l_info_index(DT_FILTER), Some(54));
    assert_eq!(l_info_index(DT_USED), Some(55));
    assert_eq!(l_info_index(DT_AUXILIARY), Some(56));
    assert_eq!(l_info_index(DT_SYMINENT), Some(57));
    assert_eq!(l_info_index(DT_GNU_PRELINKED), Some(67));
    assert_eq!(l_info_index(DT_SYMINFO), Some(69));
    assert_eq!(l_info_index(DT_AUDIT), Some(72));
    assert_eq!(l_info_index(DT_DEPAUDIT), Some(73));
    assert_eq!(l_info_index(DT_TLSDESC_GOT), Some(77));
    assert_eq!(l_info_index(DT_TLSDESC_PLT), Some(78));
    assert_eq!(l_info_index(DT_GNU_HASH), Some(79));
    // glibc's DT_EXTRATAGIDX truncates to 32 bits.
    assert_eq!(l_info_index(0x1_7fff_ffff), Some(54));
    assert_eq!(l_info_index(-1), Some(54));
    assert_eq!(l_info_index(i64::MIN), None);
    assert_eq!(l_info_index(DT_LOOS), None);
    let mut seen = [false; crate::L_INFO_COUNT];
    for t in (0..DT_NUM)
        .chain(0x6fff_f000..0x7000_0000)
        .chain(0x7fff_fff0..0x8000_0000)
    {
        if let Some(i) = l_info_index(t) {
            seen[i] = true;
        }
    }
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn slots_past_65535_entries_keep_the_last_value() {
    // DT_SONAME early, then 70,000 DT_NEEDED and a DT_RPATH and DT_SONAME late: the late
    // entries sit past what a slot's 16-bit entry index holds.
    let mut v = Vec::new();
    let mut push = |t: i64, val: u64| {
        v.extend_from_slice(&t.to_le_bytes());
        v.extend_from_slice(&val.to_le_bytes());
    };
    push(DT_SONAME, 1);
    push(DT_STRTAB, 0x400);
    for i in 0..70_000 {
        push(DT_NEEDED, i);
    }
    push(DT_RPATH, 11);
    push(DT_SONAME, 22);
    push(DT_NULL, 0);
    let info = DynamicInfo::new(crate::Dynamic::from_bytes(&v, 0).unwrap());
    assert_eq!(
        info.raw_slot(DT_SONAME as usize),
        Some(22),
        "last entry wins"
    );
    assert_eq!(info.raw_slot(DT_RPATH as usize), Some(11));
    assert_eq!(info.raw_slot(DT_NEEDED as usize), Some(69_999));
    assert_eq!(info.raw_slot(DT_STRTAB as usize), Some(0x400));
    assert_eq!(info.raw_slot(DT_RUNPATH as usize), None);
}

#[test]
fn glibc_flag_aliases_and_runpath_hides_rpath() {
    use crate::raw::Dyn64;
    let mk = |entries: &[(i64, u64)]| -> Vec<u8> {
        let mut v = Vec::new();
        for &(t, val) in entries.iter().chain(&[(DT_NULL, 0)]) {
            v.extend_from_slice(&t.to_le_bytes());
            v.extend_from_slice(&val.to_le_bytes());
        }
        let _ = core::mem::size_of::<Dyn64<crate::LittleEndian>>();
        v
    };
    let b = mk(&[
        (DT_FLAGS, DF_TEXTREL | DF_SYMBOLIC),
        (DT_RPATH, 5),
        (DT_RUNPATH, 9),
    ]);
    let info = DynamicInfo::new(crate::Dynamic::from_bytes(&b, 0x1000).unwrap());
    assert!(info.textrel() && info.symbolic() && !info.bind_now());
    assert_eq!(info.rpath_offset(), None);
    assert_eq!(info.raw_rpath_offset(), Some(5));
    assert_eq!(info.runpath_offset(), Some(9));
    let b = mk(&[
        (DT_FLAGS_1, DF_1_NOW),
        (DT_NEEDED, 1),
        (DT_NEEDED, 7),
        (DT_RPATH, 3),
        (DT_RPATH, 4),
    ]);
    let info = DynamicInfo::new(crate::Dynamic::from_bytes(&b, 0).unwrap());
    assert!(info.bind_now());
    assert_eq!(info.rpath_offset(), Some(4), "last entry wins like glibc");
    assert_eq!(info.needed_offsets().collect::<Vec<_>>(), [1, 7]);
    let b = mk(&[(DT_RELA, 0x100), (DT_PLTREL, DT_RELA as u64)]);
    let info = DynamicInfo::new(crate::Dynamic::from_bytes(&b, 0).unwrap());
    assert_eq!(info.check_glibc_asserts(), Err(crate::Error::BadRelaEnt));
    let mut unterminated = mk(&[(DT_NEEDED, 1)]);
    unterminated.truncate(16);
    assert_eq!(
        crate::Dynamic::from_bytes(&unterminated, 0).unwrap_err(),
        crate::Error::DynamicNotTerminated
    );
}

#[test]
fn constants_agree_with_object() {
    use crate::raw;
    assert_eq!(PT_GNU_RELRO, raw::PT_GNU_RELRO.0);
    assert_eq!(PT_GNU_PROPERTY, raw::PT_GNU_PROPERTY.0);
    assert_eq!(DT_GNU_HASH, raw::DT_GNU_HASH.0);
    assert_eq!(DT_RELR, raw::DT_RELR.0);
    assert_eq!(DT_FLAGS_1, raw::DT_FLAGS_1.0);
    assert_eq!(DT_AUXILIARY, raw::DT_AUXILIARY.0);
    assert_eq!(R_X86_64_IRELATIVE, raw::R_X86_64_IRELATIVE.0);
    assert_eq!(R_X86_64_TLSDESC, raw::R_X86_64_TLSDESC.0);
    assert_eq!(STT_GNU_IFUNC, raw::STT_GNU_IFUNC.0);
    assert_eq!(STB_GNU_UNIQUE, raw::STB_GNU_UNIQUE.0);
    assert_eq!(DF_1_PIE, raw::DF_1_PIE.0);
}
