//! Symbols, hash tables, versions, relocations and notes against readelf on system files.
use super::dynamic_tests::system_objects;
use super::util::*;
use crate::consts::*;
use crate::*;
use std::path::Path;
use std::string::String;
use std::vec::Vec;

pub struct ReadelfSym {
    pub num: u32,
    pub value: u64,
    pub size: u64,
    pub ty: u8,
    pub bind: u8,
    pub vis: u8,
    pub shndx: u16,
    pub name: String,
    pub version: Option<String>,
}

fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

pub fn readelf_dynsyms(path: &Path) -> Vec<ReadelfSym> {
    let out = readelf(&["--dyn-syms"], path);
    let mut v = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 || !f[0].ends_with(':') || f[0] == "Num:" {
            continue;
        }
        let full = f.get(7).copied().unwrap_or("");
        let (name, version) = match full.split_once('@') {
            Some((n, v)) => (n, Some(String::from(v.trim_start_matches('@')))),
            None => (full, None),
        };
        v.push(ReadelfSym {
            num: f[0].trim_end_matches(':').parse().unwrap(),
            value: u64::from_str_radix(f[1], 16).unwrap(),
            size: num(f[2]),
            ty: match f[3] {
                "NOTYPE" => STT_NOTYPE,
                "OBJECT" => STT_OBJECT,
                "FUNC" => STT_FUNC,
                "SECTION" => STT_SECTION,
                "FILE" => STT_FILE,
                "COMMON" => STT_COMMON,
                "TLS" => STT_TLS,
                "IFUNC" => STT_GNU_IFUNC,
                t => panic!("type {t}"),
            },
            bind: match f[4] {
                "LOCAL" => STB_LOCAL,
                "GLOBAL" => STB_GLOBAL,
                "WEAK" => STB_WEAK,
                "UNIQUE" => STB_GNU_UNIQUE,
                b => panic!("bind {b}"),
            },
            vis: match f[5] {
                "DEFAULT" => STV_DEFAULT,
                "INTERNAL" => STV_INTERNAL,
                "HIDDEN" => STV_HIDDEN,
                "PROTECTED" => STV_PROTECTED,
                x => panic!("vis {x}"),
            },
            shndx: match f[6] {
                "UND" => SHN_UNDEF,
                "ABS" => SHN_ABS,
                "COM" => SHN_COMMON,
                n => n.parse().unwrap(),
            },
            name: String::from(name),
            version,
        });
    }
    v
}

pub struct Loaded<'a> {
    pub file: ElfFile<'a>,
    pub info: DynamicInfo<'a>,
}

pub fn load(bytes: &[u8]) -> Loaded<'_> {
    let file = ElfFile::parse(bytes).unwrap();
    let info = DynamicInfo::new(file.dynamic().unwrap().unwrap());
    Loaded { file, info }
}

/// Every symbol readelf lists has the same fields here, and every defined one is reachable
/// through each hash table the object has.
pub fn check_symbols_against_readelf(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let l = load(&bytes);
    let mem = l.file.memory();
    let syms = DynamicSymbols::from_dynamic(&l.info, &mem).unwrap();
    let expect = readelf_dynsyms(path);
    assert_eq!(syms.symtab.len(), expect.len(), "{path:?} symbol count");
    let gnu = l
        .info
        .gnu_hash()
        .map(|a| GnuHash::from_memory(&mem, a).unwrap());
    let sysv = l
        .info
        .hash()
        .map(|a| SysvHash::from_memory(&mem, a).unwrap());
    if let Some(g) = gnu {
        assert_eq!(
            g.symbol_count(),
            Some(expect.len() as u32),
            "{path:?} gnu count"
        );
    }
    let versions = VersionTable::build(&l.info, &mem).unwrap();
    let mut found = 0;
    for r in &expect {
        let s = syms.symtab.get(r.num).unwrap();
        assert_eq!(syms.symtab.name(s).unwrap(), r.name.as_bytes());
        assert_eq!((s.st_value(), s.st_size()), (r.value, r.size), "{}", r.name);
        assert_eq!(
            (s.sym_type(), s.sym_bind(), s.sym_visibility()),
            (r.ty, r.bind, r.vis)
        );
        assert_eq!(s.st_shndx(), r.shndx, "{}", r.name);
        if let (Some(v), Some(vs)) = (&r.version, syms.versym(r.num)) {
            let e = versions
                .get(vs)
                .unwrap_or_else(|| panic!("{} ver {vs}", r.name));
            assert_eq!(e.name, v.split_whitespace().next().unwrap().as_bytes());
        }
        if r.shndx == SHN_UNDEF || r.num == 0 {
            continue;
        }
        let key = SymbolKey::new(r.name.as_bytes());
        let want = |i: u32, _: &Sym| i == r.num;
        if let Some(g) = &gnu {
            assert_eq!(
                g.lookup(&key, &syms.symtab, want).map(|x| x.0),
                Some(r.num),
                "gnu {}",
                r.name
            );
        }
        if let Some(h) = &sysv {
            assert_eq!(
                h.lookup(&key, &syms.symtab, want).map(|x| x.0),
                Some(r.num),
                "sysv {}",
                r.name
            );
        }
        assert_eq!(syms.lookup(&key, want).map(|x| x.0), Some(r.num));
        found += 1;
    }
    assert_eq!(syms.symtab.defined().count(), found);
    found
}

#[test]
fn libc_symbols_match_readelf_and_all_are_reachable_by_both_hashes() {
    let n = check_symbols_against_readelf(Path::new(LIBC));
    assert!(n > 2500, "{n}");
}

#[test]
fn symbols_match_readelf_on_system_objects() {
    let mut total = 0;
    for p in system_objects(15) {
        let bytes = std::fs::read(&p).unwrap();
        let f = ElfFile::parse(&bytes).unwrap();
        if f.dynamic().unwrap().is_none() {
            continue;
        }
        total += check_symbols_against_readelf(&p);
    }
    assert!(total > 3000, "{total}");
}

#[test]
fn printf_in_libc() {
    let bytes = read(LIBC);
    let l = load(&bytes);
    let mem = l.file.memory();
    let syms = DynamicSymbols::from_dynamic(&l.info, &mem).unwrap();
    let r = readelf_dynsyms(Path::new(LIBC));
    let want = r
        .iter()
        .find(|s| s.name == "printf" && s.shndx != 0)
        .unwrap();
    let (i, s) = syms.lookup_defined(b"printf").unwrap();
    assert_eq!(s.st_value(), want.value);
    assert_eq!(s.sym_type(), STT_FUNC);
    let versions = VersionTable::build(&l.info, &mem).unwrap();
    let vs = syms.versym(i).unwrap();
    assert_eq!(vs & VERSYM_HIDDEN, 0, "printf@@ is the default version");
    assert_eq!(versions.get(vs).unwrap().name, b"GLIBC_2.2.5");
    assert_eq!(versions.get(vs).unwrap().filename, None);
    assert!(syms.lookup_defined(b"no_such_symbol_rld").is_none());
    // Unique and IFUNC kinds exist in libc.
    assert!(
        syms.symtab
            .defined()
            .any(|(_, s)| s.sym_type() == STT_GNU_IFUNC)
    );
    // containing(): an address inside printf maps back to it.
    let (_, c) = syms.symtab.containing(want.value + 3).unwrap();
    assert_eq!(
        c.st_value(),
        want.value,
        "printf or an alias such as _IO_printf"
    );
}

#[test]
fn hash_functions() {
    assert_eq!(sysv_hash(b"GLIBC_ABI_DT_RELR"), 0xfd0e42);
    assert_eq!(sysv_hash(b""), 0);
    assert_eq!(gnu_hash(b""), 5381);
    assert_eq!(gnu_hash(b"printf"), 0x156b2bb8);
    // High bytes are unsigned, as in glibc.
    assert_eq!(sysv_hash(&[0xff]), 0xff);
    let k = SymbolKey::new(b"GLIBC_2.2.5");
    assert_eq!(k.sysv(), sysv_hash(b"GLIBC_2.2.5"));
    assert_eq!(k.sysv(), 0x09691a75);
}

#[test]
fn version_records_match_readelf_and_hashes_are_sysv() {
    for p in [LIBC, LS, LDSO] {
        let bytes = read(p);
        let l = load(&bytes);
        let mem = l.file.memory();
        let strtab = l.info.string_table(&mem).unwrap();
        let out = readelf(&["-V"], Path::new(p));
        // Verdef: "Index: N  Cnt: C  Name: X"
        let expect_defs: Vec<(u16, String)> = out
            .lines()
            .filter(|x| x.contains("Index: ") && x.contains("Name: "))
            .map(|x| {
                let idx = x
                    .split("Index: ")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap();
                let name = x.split("Name: ").nth(1).unwrap().trim();
                (idx.parse().unwrap(), String::from(name))
            })
            .collect();
        let defs: Vec<(u16, String)> = VerdefIter::from_dynamic(&l.info, &mem)
            .unwrap()
            .map(|d| {
                let d = d.unwrap();
                let name = strtab.get(u64::from(d.name_offset().unwrap())).unwrap();
                assert_eq!(d.hash, sysv_hash(name));
                assert_eq!(d.name_offsets().count(), usize::from(d.cnt));
                (d.ndx, String::from_utf8(name.to_vec()).unwrap())
            })
            .collect();
        assert_eq!(defs, expect_defs, "{p}");
        // Verneed aux: "Name: X  Flags: F  Version: N"
        let expect_aux: Vec<(String, u16, bool)> = out
            .lines()
            .filter(|x| x.contains("Name: ") && x.contains("Version: ") && x.contains("Flags: "))
            .map(|x| {
                let name = x
                    .split("Name: ")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap();
                let flags = x
                    .split("Flags: ")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap();
                let ver = x.split("Version: ").nth(1).unwrap().trim();
                (String::from(name), ver.parse().unwrap(), flags == "WEAK")
            })
            .collect();
        let mut aux = Vec::new();
        for n in VerneedIter::from_dynamic(&l.info, &mem).unwrap() {
            let n = n.unwrap();
            assert_eq!(n.version, 1);
            assert_eq!(n.aux().count(), usize::from(n.cnt));
            for a in n.aux() {
                let a = a.unwrap();
                let name = strtab.get(u64::from(a.name)).unwrap();
                assert_eq!(a.hash, sysv_hash(name));
                aux.push((
                    String::from_utf8(name.to_vec()).unwrap(),
                    a.index(),
                    a.is_weak(),
                ));
            }
        }
        assert_eq!(aux, expect_aux, "{p}");
        let table = VersionTable::build(&l.info, &mem).unwrap();
        table.check_relr_abi(&l.info, &strtab).unwrap();
    }
}

#[test]
fn ls_version_table_is_like_l_versions() {
    let bytes = read(LS);
    let l = load(&bytes);
    let t = VersionTable::build(&l.info, &l.file.memory()).unwrap();
    let e = t
        .entries()
        .iter()
        .flatten()
        .find(|e| e.name == b"GLIBC_2.2.5")
        .unwrap();
    assert_eq!(e.filename, Some(b"libc.so.6".as_slice()));
    assert_eq!(e.hash, sysv_hash(b"GLIBC_2.2.5"));
    assert!(!e.hidden);
    assert!(t.get(0).is_none() && t.get(1).is_none());
}

fn readelf_reloc_counts(path: &Path) -> Vec<(String, usize)> {
    readelf(&["-r"], path)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Relocation section '")?;
            let (name, tail) = rest.split_once('\'')?;
            let n = tail.split("contains ").nth(1)?.split_whitespace().next()?;
            Some((String::from(name), n.parse().ok()?))
        })
        .collect()
}

#[test]
fn rela_tables_match_readelf() {
    for p in system_objects(10) {
        let bytes = std::fs::read(&p).unwrap();
        let f = ElfFile::parse(&bytes).unwrap();
        let Some(d) = f.dynamic().unwrap() else {
            continue;
        };
        let info = DynamicInfo::new(d);
        let mem = f.memory();
        let counts = readelf_reloc_counts(&p);
        let get = |n: &str| counts.iter().find(|c| c.0 == n).map_or(0, |c| c.1);
        let rela = info.rela_table(&mem).unwrap();
        let plt = info.plt_rela_table(&mem).unwrap();
        assert_eq!(rela.len(), get(".rela.dyn"), "{p:?}");
        assert_eq!(plt.len(), get(".rela.plt"), "{p:?}");
        if let Some(n) = info.relacount() {
            assert!(
                rela.iter()
                    .take(n as usize)
                    .all(|r| r.r_type == R_X86_64_RELATIVE)
            );
        }
        assert!(
            plt.iter()
                .all(|r| matches!(r.r_type, R_X86_64_JUMP_SLOT | R_X86_64_IRELATIVE))
        );
    }
}

#[test]
fn libc_relocation_fields_match_readelf() {
    let out = readelf(&["-r"], Path::new(LIBC));
    let bytes = read(LIBC);
    let l = load(&bytes);
    let mem = l.file.memory();
    let mut ours = l
        .info
        .rela_table(&mem)
        .unwrap()
        .iter()
        .chain(l.info.plt_rela_table(&mem).unwrap().iter());
    let mut n = 0;
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || !f[2].starts_with("R_X86_64_") {
            continue;
        }
        let r = ours.next().unwrap();
        assert_eq!(r.offset, u64::from_str_radix(f[0], 16).unwrap());
        let info = u64::from_str_radix(f[1], 16).unwrap();
        assert_eq!((r.sym, r.r_type), ((info >> 32) as u32, info as u32));
        assert_eq!(Some(&f[2]["R_X86_64_".len()..]), r_x86_64_name(r.r_type));
        n += 1;
    }
    assert!(ours.next().is_none());
    assert!(n > 100, "{n}");
}

#[test]
fn build_id_matches_readelf() {
    for p in [LIBC, LS, LDSO] {
        let out = readelf(&["-n"], Path::new(p));
        let want = out
            .lines()
            .find_map(|l| l.split("Build ID: ").nth(1))
            .unwrap()
            .trim();
        let bytes = read(p);
        let f = ElfFile::parse(&bytes).unwrap();
        let got: String = f
            .build_id()
            .unwrap()
            .iter()
            .map(|b| std::format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
        assert!(f.notes().all(|n| n.is_ok()));
    }
}

#[test]
fn gnu_property_note_of_libc_has_x86_isa() {
    let bytes = read(LIBC);
    let f = ElfFile::parse(&bytes).unwrap();
    let props: Vec<_> = f
        .notes()
        .filter_map(|n| n.ok())
        .filter(|n| n.name == b"GNU" && n.n_type == NT_GNU_PROPERTY_TYPE_0)
        .flat_map(|n| GnuProperties::new(n.desc))
        .map(|p| p.unwrap())
        .collect();
    assert!(
        props
            .iter()
            .any(|p| p.pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED && p.as_u32().is_some())
    );
}

#[test]
fn mapped_image_symbol_lookup_matches_file() {
    let bytes = read(LIBC);
    let l = load(&bytes);
    let (image, lo) = fake_map(&bytes);
    let img = MappedImage::with_segments(&image, lo, l.file.program_headers());
    let ph = l.file.dynamic_segment().unwrap();
    let info = DynamicInfo::from_memory(&img, ph.p_vaddr(), ph.p_memsz()).unwrap();
    let a = DynamicSymbols::from_dynamic(&info, &img).unwrap();
    let b = DynamicSymbols::from_dynamic(&l.info, &l.file.memory()).unwrap();
    for name in [
        &b"printf"[..],
        b"malloc",
        b"__libc_start_main",
        b"errno",
        b"stdout",
    ] {
        let x = a.lookup_defined(name).map(|(i, s)| (i, s.st_value()));
        let y = b.lookup_defined(name).map(|(i, s)| (i, s.st_value()));
        assert_eq!(x, y);
        assert!(x.is_some() || name == b"errno");
    }
}
