//! gcc-built fixtures: RPATH/RUNPATH/SONAME/filters/audit strings, version scripts with
//! .symver, -z pack-relative-relocs, --hash-style=sysv; glibc's ld.so as oracle where it speaks.
use super::tables_tests::{check_symbols_against_readelf, load, readelf_dynsyms};
use super::util::*;
use crate::consts::*;
use crate::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::string::String;
use std::sync::OnceLock;
use std::vec::Vec;

const LIB_C: &str = r#"
int counter = 1;
static int hidden;
__thread int tls_var = 7;
int *ptrs[100] = { &hidden, &hidden, &hidden, &hidden, &hidden, &hidden, &hidden,
                   &hidden, &hidden, &hidden, 0, 0, &hidden, 0, &hidden, &counter,
                   [70] = &hidden, [71] = &hidden, [80] = &hidden, [99] = &hidden };
int foo_v1(void) { return 1; }
int foo_v2(void) { return 2; }
__asm__(".symver foo_v1, foo@VERS_1.0");
__asm__(".symver foo_v2, foo@@VERS_2.0");
int bar(void) { return counter + tls_var; }
"#;

const LIB_MAP: &str = "VERS_1.0 { global: foo; bar; counter; tls_var; ptrs; local: *; };\nVERS_2.0 { global: foo; } VERS_1.0;\n";

const EXE_C: &str = r#"
extern int foo(void);
extern int bar(void);
static int z;
int *tab[64] = { &z, &z, &z, &z, &z, &z, &z, &z, &z, &z, &z, &z, [40] = &z, [63] = &z };
int main(void) { return foo() + bar() == 2 + 1 + 7 ? 0 : 1; }
"#;

pub struct Fixtures {
    pub dir: PathBuf,
}

impl Fixtures {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn gcc(dir: &Path, args: &[&str]) {
    let out = Command::new("gcc")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the fixtures once per test process.
pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = temp_dir("fixtures");
        std::fs::write(dir.join("lib.c"), LIB_C).unwrap();
        std::fs::write(dir.join("lib.map"), LIB_MAP).unwrap();
        std::fs::write(dir.join("exe.c"), EXE_C).unwrap();
        let common = [
            "-shared",
            "-fPIC",
            "-O1",
            "lib.c",
            "-Wl,--version-script=lib.map",
        ];
        let mut a: Vec<&str> = common.to_vec();
        a.extend([
            "-o",
            "libfix.so",
            "-Wl,-soname,libfix.so.1",
            "-Wl,--disable-new-dtags",
            "-Wl,-rpath,/opt/rld-rpath:$ORIGIN/x",
            "-Wl,-z,pack-relative-relocs",
            "-Wl,--audit=libaudit.so",
            "-Wl,--depaudit=libdepaudit.so",
            "-Wl,--auxiliary=libaux.so",
            "-Wl,--filter=libfilt.so",
            "-Wl,-z,now",
        ]);
        gcc(&dir, &a);
        let mut a: Vec<&str> = common.to_vec();
        a.extend([
            "-o",
            "librun.so",
            "-Wl,-soname,librun.so",
            "-Wl,--enable-new-dtags",
            "-Wl,-rpath,/opt/rld-runpath",
            "-Wl,--hash-style=sysv",
        ]);
        gcc(&dir, &a);
        let mut a: Vec<&str> = common.to_vec();
        a.extend([
            "-o",
            "libgnu.so",
            "-Wl,--hash-style=gnu",
            "-Wl,-soname,libfix.so.1",
        ]);
        gcc(&dir, &a);
        std::fs::copy(dir.join("libgnu.so"), dir.join("libfix.so.1")).unwrap();
        gcc(
            &dir,
            &[
                "-O1",
                "exe.c",
                "-o",
                "exe",
                "-L.",
                "-l:libgnu.so",
                "-Wl,-rpath,$ORIGIN",
                "-Wl,-z,pack-relative-relocs",
                "-Wl,-z,now",
            ],
        );
        Fixtures { dir }
    })
}

fn string_of(info: &DynamicInfo<'_>, strtab: &StringTable<'_>, off: Option<u64>) -> Option<String> {
    let _ = info;
    off.map(|o| String::from_utf8(strtab.get(o).unwrap().to_vec()).unwrap())
}

#[test]
fn fixture_strings_rpath_soname_filters_audit() {
    let f = fixtures();
    let bytes = std::fs::read(f.path("libfix.so")).unwrap();
    let l = load(&bytes);
    let st = l.info.string_table(&l.file.memory()).unwrap();
    assert_eq!(
        string_of(&l.info, &st, l.info.soname_offset()).unwrap(),
        "libfix.so.1"
    );
    assert_eq!(
        string_of(&l.info, &st, l.info.rpath_offset()).unwrap(),
        "/opt/rld-rpath:$ORIGIN/x"
    );
    assert_eq!(l.info.runpath_offset(), None);
    assert_eq!(
        string_of(&l.info, &st, l.info.audit_offset()).unwrap(),
        "libaudit.so"
    );
    assert_eq!(
        string_of(&l.info, &st, l.info.depaudit_offset()).unwrap(),
        "libdepaudit.so"
    );
    let aux: Vec<_> = l
        .info
        .auxiliary_offsets()
        .map(|o| st.get(o).unwrap())
        .collect();
    let filt: Vec<_> = l
        .info
        .filter_offsets()
        .map(|o| st.get(o).unwrap())
        .collect();
    assert_eq!(aux, [b"libaux.so".as_slice()]);
    assert_eq!(filt, [b"libfilt.so".as_slice()]);
    assert!(l.info.slot(l_info_index(DT_FILTER).unwrap()).is_some());
    assert!(l.info.bind_now());
    assert!(l.info.relr().is_some());

    let bytes = std::fs::read(f.path("librun.so")).unwrap();
    let l = load(&bytes);
    let st = l.info.string_table(&l.file.memory()).unwrap();
    assert_eq!(
        string_of(&l.info, &st, l.info.runpath_offset()).unwrap(),
        "/opt/rld-runpath"
    );
    assert_eq!(l.info.raw_rpath_offset(), None);
    assert!(!l.info.bind_now());
    assert!(l.info.gnu_hash().is_none() && l.info.hash().is_some());
}

#[test]
fn fixture_symbols_match_readelf_for_gnu_sysv_and_both() {
    let f = fixtures();
    for lib in ["libfix.so", "librun.so", "libgnu.so", "exe"] {
        check_symbols_against_readelf(&f.path(lib));
    }
    let bytes = std::fs::read(f.path("librun.so")).unwrap();
    let l = load(&bytes);
    let syms = DynamicSymbols::from_dynamic(&l.info, &l.file.memory()).unwrap();
    assert!(matches!(syms.hash, HashTable::Sysv(_)));
    assert!(syms.lookup_defined(b"bar").is_some());
}

#[test]
fn fixture_versioned_lookup_like_glibc() {
    let f = fixtures();
    let path = f.path("libgnu.so");
    let bytes = std::fs::read(&path).unwrap();
    let l = load(&bytes);
    let mem = l.file.memory();
    let syms = DynamicSymbols::from_dynamic(&l.info, &mem).unwrap();
    let versions = VersionTable::build(&l.info, &mem).unwrap();
    let want = readelf_dynsyms(&path);
    let value_of = |ver: &str| {
        want.iter()
            .find(|s| {
                s.name == "foo"
                    && s.version.as_deref().map(|v| v.trim_start_matches('@')) == Some(ver)
            })
            .unwrap()
            .value
    };
    // A versioned lookup: accept only the symbol whose versym names the wanted version.
    let find = |ver: &[u8]| {
        syms.lookup(&SymbolKey::new(b"foo"), |i, _| {
            let v = syms.versym(i).unwrap();
            versions
                .get(v)
                .is_some_and(|e| e.name == ver && e.hash == sysv_hash(ver))
        })
        .map(|(i, s)| (s.st_value(), syms.versym(i).unwrap() & VERSYM_HIDDEN != 0))
    };
    assert_eq!(find(b"VERS_2.0"), Some((value_of("VERS_2.0"), false)));
    assert_eq!(find(b"VERS_1.0"), Some((value_of("VERS_1.0"), true)));
    assert_eq!(find(b"VERS_3.0"), None);
    let names: Vec<&[u8]> = versions
        .entries()
        .iter()
        .flatten()
        .filter(|e| e.filename.is_none())
        .map(|e| e.name)
        .collect();
    assert_eq!(names, [b"VERS_1.0".as_slice(), b"VERS_2.0"]);
    // TLS symbol type.
    let (_, t) = syms.lookup_defined(b"tls_var").unwrap();
    assert_eq!(t.sym_type(), STT_TLS);
}

fn readelf_relr_offsets(path: &Path) -> Vec<u64> {
    let out = readelf(&["-r"], path);
    let mut lines = out
        .lines()
        .skip_while(|l| !l.starts_with("Relocation section '.relr.dyn'"));
    lines.next();
    let count_line = lines.next().unwrap_or("");
    let n: usize = count_line
        .split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let v: Vec<u64> = lines
        .take(n)
        .map(|l| u64::from_str_radix(l.split_whitespace().next().unwrap(), 16).unwrap())
        .collect();
    assert_eq!(v.len(), n);
    v
}

#[test]
fn relr_decoding_matches_readelf() {
    let f = fixtures();
    for name in ["libfix.so", "exe"] {
        let path = f.path(name);
        let bytes = std::fs::read(&path).unwrap();
        let l = load(&bytes);
        let relr = l.info.relr_table(&l.file.memory()).unwrap();
        let ours: Vec<u64> = relr.iter().collect();
        let want = readelf_relr_offsets(&path);
        assert!(want.len() >= 10, "{name}: fixture should pack relocations");
        assert_eq!(ours, want, "{name}");
        assert!(relr.word_count() < want.len(), "{name}: a bitmap was used");
    }
}

#[test]
fn relr_decoder_edge_cases() {
    let words = |ws: &[u64]| -> Vec<u8> { ws.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let mem_of = |b: &'static [u8]| MappedImage::new(b, 0x1000);
    let b: &'static [u8] = words(&[0x2000, u64::MAX, 0x5000, 0b11]).leak();
    let t = RelrTable::from_memory(&mem_of(b), 0x1000, b.len() as u64).unwrap();
    let got: Vec<u64> = t.iter().collect();
    let mut want = std::vec![0x2000];
    want.extend((0..63).map(|i| 0x2008 + i * 8));
    want.extend([0x5000, 0x5008]);
    assert_eq!(got, want);
    let b: &'static [u8] = words(&[0b101]).leak();
    assert_eq!(
        RelrTable::from_memory(&mem_of(b), 0x1000, 8).unwrap_err(),
        Error::BadTable
    );
    assert_eq!(
        RelrTable::from_memory(&mem_of(b), 0x1000, 7).unwrap_err(),
        Error::BadEntrySize
    );
}

#[test]
fn exe_verneed_and_relr_abi_tag_with_glibc_oracle() {
    let f = fixtures();
    let path = f.path("exe");
    let status = Command::new(&path).status().unwrap();
    assert!(status.success(), "fixture exe runs under glibc");
    let bytes = std::fs::read(&path).unwrap();
    let l = load(&bytes);
    let mem = l.file.memory();
    let st = l.info.string_table(&mem).unwrap();
    let t = VersionTable::build(&l.info, &mem).unwrap();
    assert!(t.dt_relr_ref);
    t.check_relr_abi(&l.info, &st).unwrap();
    let v2 = t
        .entries()
        .iter()
        .flatten()
        .find(|e| e.name == b"VERS_2.0")
        .unwrap();
    assert_eq!(v2.filename, Some(b"libfix.so.1".as_slice()));
    // Corrupt the GLIBC_ABI_DT_RELR hash: rld and glibc must both refuse.
    let mut patched = bytes.clone();
    let mut hash_vaddr = None;
    let verneed_vaddr = l.info.verneed().unwrap();
    let data_off = mem.vaddr_to_offset(verneed_vaddr).unwrap() as usize;
    let mut pos = 0usize;
    for n in VerneedIter::from_dynamic(&l.info, &mem).unwrap() {
        let n = n.unwrap();
        let aux_start =
            pos + u32::from_le_bytes(bytes[data_off + pos + 8..][..4].try_into().unwrap()) as usize;
        let mut apos = aux_start;
        for a in n.aux() {
            let a = a.unwrap();
            if st.get(u64::from(a.name)).unwrap() == b"GLIBC_ABI_DT_RELR" {
                hash_vaddr = Some(data_off + apos);
            }
            apos +=
                u32::from_le_bytes(bytes[data_off + apos + 12..][..4].try_into().unwrap()) as usize;
        }
        pos += u32::from_le_bytes(bytes[data_off + pos + 12..][..4].try_into().unwrap()) as usize;
    }
    let at = hash_vaddr.expect("exe needs GLIBC_ABI_DT_RELR");
    patched[at] ^= 1;
    let l2 = load(&patched);
    let m2 = l2.file.memory();
    let t2 = VersionTable::build(&l2.info, &m2).unwrap();
    assert!(!t2.dt_relr_ref);
    let err = t2
        .check_relr_abi(&l2.info, &l2.info.string_table(&m2).unwrap())
        .unwrap_err();
    let ppath = f.path("exe-norelr");
    std::fs::write(&ppath, &patched).unwrap();
    let out = Command::new(LDSO).arg(&ppath).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&std::format!("{err}")),
        "glibc said: {stderr}"
    );
}
