//! Detection of the installed libc.so.6 and the `_thread_db_*` cross-check.

use object::read::elf::{ElfFile64, ProgramHeader};
use object::{LittleEndian, Object, ObjectSymbol};
use rld_glibc::{DetectError, ImageKind, detect_libc, gnu_build_id};

const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

#[test]
fn detects_installed_libc() {
    let data = std::fs::read(LIBC).unwrap();
    let b = detect_libc(&data, ImageKind::File).unwrap();
    assert_eq!(b.package_version(), "2.36-9+deb12u14");
    assert!(b.libc_banner().contains("2.36-9+deb12u14"));
    // The banner committed in identity.txt is really inside this libc.
    assert!(
        data.windows(b.libc_banner().len())
            .any(|w| w == b.libc_banner().as_bytes())
    );
}

#[test]
fn flipped_build_id_byte_is_rejected() {
    let mut data = std::fs::read(LIBC).unwrap();
    let id = gnu_build_id(&data, ImageKind::File).unwrap();
    let pos = data
        .windows(id.as_bytes().len())
        .position(|w| w == id.as_bytes())
        .unwrap();
    data[pos + 7] ^= 0x01;
    let err = detect_libc(&data, ImageKind::File).unwrap_err();
    let DetectError::UnknownBuild(got) = err else {
        panic!("unexpected {err:?}")
    };
    assert_ne!(got.as_bytes(), id.as_bytes());
    let msg = err.to_string();
    assert!(msg.contains("unsupported glibc build"), "{msg}");
    assert!(msg.contains(&got.to_string()), "{msg}");
    assert!(msg.contains("2.36-9+deb12u14"), "{msg}");
}

#[test]
fn malformed_inputs_are_errors() {
    assert!(matches!(
        detect_libc(b"", ImageKind::File),
        Err(DetectError::Malformed(_))
    ));
    assert!(matches!(
        detect_libc(b"\x7fELF", ImageKind::File),
        Err(DetectError::Malformed(_))
    ));
    let data = std::fs::read(LIBC).unwrap();
    for cut in [64, 200, 700, 900] {
        let r = detect_libc(&data[..cut], ImageKind::File);
        assert!(r.is_err(), "truncated at {cut}");
    }
    let exe = std::fs::read("/bin/true").unwrap();
    assert!(matches!(
        detect_libc(&exe, ImageKind::File),
        Err(DetectError::UnknownBuild(_))
    ));
}

/// Reads a libc data symbol from the file image via its program headers.
fn reader(data: &[u8]) -> impl FnMut(&str, &mut [u8]) -> bool + '_ {
    let elf = ElfFile64::<LittleEndian>::parse(data).unwrap();
    let syms: Vec<(String, u64)> = elf
        .dynamic_symbols()
        .map(|s| (s.name().unwrap().to_string(), s.address()))
        .collect();
    let loads: Vec<(u64, u64, u64)> = elf
        .elf_program_headers()
        .iter()
        .filter(|p| p.p_type(LittleEndian) == object::elf::PT_LOAD)
        .map(|p| {
            (
                p.p_vaddr(LittleEndian),
                p.p_filesz(LittleEndian),
                p.p_offset(LittleEndian),
            )
        })
        .collect();
    move |name, buf| {
        let Some(&(_, addr)) = syms.iter().find(|(n, _)| n == name) else {
            return false;
        };
        let Some(&(va, _, off)) = loads
            .iter()
            .find(|(va, sz, _)| addr >= *va && addr < va + sz)
        else {
            return false;
        };
        let start = (addr - va + off) as usize;
        buf.copy_from_slice(&data[start..start + buf.len()]);
        true
    }
}

#[test]
fn thread_db_descriptors_match_layout() {
    let data = std::fs::read(LIBC).unwrap();
    let b = detect_libc(&data, ImageKind::File).unwrap();
    b.check_thread_db(reader(&data)).unwrap();
}

#[test]
fn thread_db_mismatch_and_missing_are_reported() {
    let data = std::fs::read(LIBC).unwrap();
    let b = detect_libc(&data, ImageKind::File).unwrap();
    let mut inner = reader(&data);
    let err = b
        .check_thread_db(|name, buf| {
            let ok = inner(name, buf);
            if name == "_thread_db_pthread_tid" {
                buf[8] = buf[8].wrapping_add(8);
            }
            ok
        })
        .unwrap_err();
    assert_eq!(
        err,
        DetectError::ThreadDbMismatch("_thread_db_pthread_tid", [32, 1, 720], [32, 1, 728])
    );
    assert!(err.to_string().contains("{32, 1, 728}"));
    let err = b.check_thread_db(|_, _| false).unwrap_err();
    assert_eq!(
        err,
        DetectError::ThreadDbMissing("_thread_db_sizeof_pthread")
    );
}
