//! verify_header against glibc's own ld.so: each mutated header is run through
//! `/lib64/ld-linux-x86-64.so.2 FILE` and its message must equal ours.
use super::util::*;
use crate::consts::*;
use crate::{Error, SkipReason, VerifyError, verify_header};
use std::process::Command;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

fn patch(base: &[u8], edits: &[(usize, &[u8])], truncate: Option<usize>) -> Vec<u8> {
    let mut b = base.to_vec();
    for (off, bytes) in edits {
        b[*off..*off + bytes.len()].copy_from_slice(bytes);
    }
    if let Some(n) = truncate {
        b.truncate(n);
    }
    b
}

/// glibc's verdict: `None` if ld.so accepted the file (ran it), else the message after the name.
fn glibc_verdict(path: &std::path::Path) -> Option<String> {
    let out = Command::new(LDSO).arg(path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let prefix = format!(
        "{}: error while loading shared libraries: {}: ",
        path.display(),
        path.display()
    );
    err.strip_prefix(&prefix).map(|m| m.trim_end().to_string())
}

fn our_verdict(bytes: &[u8]) -> Option<String> {
    match verify_header(bytes) {
        Ok(_) => None,
        Err(e) => {
            let e = e.error();
            Some(match e.glibc_errno() {
                Some(2) => format!("{e}: No such file or directory"),
                _ => e.to_string(),
            })
        }
    }
}

#[test]
fn verify_header_matches_glibc_ld_so_messages_and_order() {
    let base = read("/usr/bin/true");
    let cases: Vec<(&str, Vec<(usize, &[u8])>, Option<usize>)> = vec![
        ("accepts unmodified", vec![], None),
        ("too short", vec![], Some(40)),
        ("phdrs beyond file", vec![], Some(64)),
        ("bad magic", vec![(1, b"X")], None),
        ("class 32", vec![(4, &[1])], None),
        ("class 0", vec![(4, &[0])], None),
        ("class 32 beats data", vec![(4, &[1]), (5, &[2])], None),
        ("big endian", vec![(5, &[2])], None),
        ("data beats version", vec![(5, &[2]), (6, &[0])], None),
        ("ident version", vec![(6, &[0])], None),
        ("osabi hpux", vec![(7, &[1])], None),
        ("osabi gnu abi 3 ok", vec![(7, &[3]), (8, &[3])], None),
        ("osabi gnu abi 4", vec![(7, &[3]), (8, &[4])], None),
        ("osabi sysv abi 1", vec![(8, &[1])], None),
        ("padding", vec![(12, &[1])], None),
        ("osabi beats padding", vec![(7, &[9]), (12, &[1])], None),
        ("e_version", vec![(20, &[2])], None),
        ("machine i386", vec![(18, &[3, 0])], None),
        (
            "machine beats type",
            vec![(18, &[3, 0]), (16, &[1, 0])],
            None,
        ),
        ("type rel", vec![(16, &[1, 0])], None),
        ("type core", vec![(16, &[4, 0])], None),
        ("phentsize", vec![(54, &[32, 0])], None),
        ("phoff huge", vec![(32, &[0, 0, 0, 0, 0, 0, 0, 0x40])], None),
    ];
    let dir = temp_dir("hdr");
    for (name, edits, trunc) in cases {
        let bytes = patch(&base, &edits, trunc);
        let path = dir.join(name.replace(' ', "_"));
        std::fs::write(&path, &bytes).unwrap();
        let mut perm = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&path, perm).unwrap();
        assert_eq!(our_verdict(&bytes), glibc_verdict(&path), "case {name}");
    }
}

#[test]
fn class_and_machine_mismatch_are_search_skips() {
    let base = read(LIBC);
    let c32 = patch(&base, &[(4, &[1])], None);
    assert_eq!(
        verify_header(&c32),
        Err(VerifyError::Skip(SkipReason::OtherClass))
    );
    assert_eq!(verify_header(&c32).unwrap_err().error(), Error::WrongClass);
    let m = patch(&base, &[(18, &[0xb7, 0])], None); // aarch64
    assert_eq!(
        verify_header(&m),
        Err(VerifyError::Skip(SkipReason::OtherMachine))
    );
    assert!(verify_header(&m).unwrap_err().is_skip());
    let bad = patch(&base, &[(5, &[2])], None);
    assert_eq!(
        verify_header(&bad),
        Err(VerifyError::Fatal(Error::NotLittleEndian))
    );
}

#[test]
fn verify_header_accepts_system_objects() {
    for p in [LIBC, LS, LDSO] {
        let h = verify_header(&read(p)).unwrap();
        assert_eq!(h.e_machine, EM_X86_64);
        assert_eq!(h.e_phentsize, 56);
    }
    assert_eq!(verify_header(&read(LS)).unwrap().e_type, ET_DYN);
}

#[test]
fn header_accepts_unaligned_input() {
    let base = read(LIBC);
    let mut shifted = vec![0u8; base.len() + 1];
    shifted[1..].copy_from_slice(&base);
    let a = crate::ElfFile::parse(&base).unwrap();
    let b = crate::ElfFile::parse(&shifted[1..]).unwrap();
    assert_eq!(a.header(), b.header());
    assert_eq!(a.program_headers().len(), b.program_headers().len());
}

#[test]
fn error_display_is_glibc_text() {
    assert_eq!(Error::FileTooShort.to_string(), "file too short");
    assert_eq!(Error::WrongClass.to_string(), "wrong ELF class: ELFCLASS32");
    assert_eq!(
        Error::UnsupportedVerneedVersion(2).to_string(),
        "unsupported version 2 of Verneed record"
    );
    assert!(core::mem::size_of::<Error>() <= 4);
    assert!(core::mem::size_of::<VerifyError>() <= 4);
}
