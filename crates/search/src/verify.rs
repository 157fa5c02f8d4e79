//! glibc's `open_verify`: decide from the ELF header whether a candidate file is usable, skippable
//! (other class or machine: keep searching) or a fatal error (with glibc's exact message).
//! Minimal private reader until rld-elf's header verification can be used here.

use crate::fs::{Errno, FileHandle, errno, read_full};
use alloc::vec::Vec;

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
const EM_X86_64: u16 = 62;
const ELFOSABI_GNU: u8 = 3;
/// `LIBC_ABI_MAX` for glibc 2.36 x86-64 (DEFAULT, UNIQUE, IFUNC, ABSOLUTE).
const LIBC_ABI_MAX: u8 = 4;
const FILEBUF_SIZE: usize = 832;

/// One program header (ELF64).
#[derive(Clone, Copy, Debug, Default)]
pub struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

/// The verified header facts later stages need.
#[derive(Clone, Debug, Default)]
pub struct ElfHeader {
    pub e_type: u16,
    pub e_entry: u64,
    pub phdrs: Vec<Phdr>,
}

/// A fatal verification error: glibc signals `errstring` (with `strerror(errno)` when non-zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyError {
    pub errno: Errno,
    pub msg: &'static str,
}

/// Outcome of checking one candidate file.
#[derive(Clone, Debug)]
pub enum Verified {
    Usable(ElfHeader),
    /// ELFCLASS32: glibc sets `found_other_class` and continues with errno ENOENT.
    OtherClass,
    /// Other machine: skipped silently with errno ENOENT.
    OtherMachine,
}

fn u16le(b: &[u8], o: usize) -> u16 {
    match b.get(o..o + 2) {
        Some(s) => u16::from_le_bytes([s[0], s[1]]),
        None => 0,
    }
}
fn u32le(b: &[u8], o: usize) -> u32 {
    match b.get(o..o + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}
fn u64le(b: &[u8], o: usize) -> u64 {
    u32le(b, o) as u64 | ((u32le(b, o + 4) as u64) << 32)
}

fn fatal(errno: Errno, msg: &'static str) -> Result<Verified, VerifyError> {
    Err(VerifyError { errno, msg })
}

/// Verify an opened file as glibc 2.36 does for x86-64.
pub fn verify<H: FileHandle + ?Sized>(h: &H) -> Result<Verified, VerifyError> {
    let mut buf = [0u8; FILEBUF_SIZE];
    let len = match read_full(h, 0, &mut buf) {
        Ok(n) => n,
        Err(e) if e != 0 => return fatal(e, "cannot read file data"),
        Err(_) => 0,
    };
    if len < 64 {
        return fatal(0, "file too short");
    }
    let id = &buf[..16];
    let expected_sysv = [0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    let expected_gnu = [0x7f, b'E', b'L', b'F', 2, 1, 1, ELFOSABI_GNU];
    let head_ok = id[..8] == expected_sysv || id[..8] == expected_gnu;
    let abiver_ok = id[8] == 0 || (id[7] == ELFOSABI_GNU && id[8] < LIBC_ABI_MAX);
    let pad_ok = id[9..16].iter().all(|&b| b == 0);
    if !(head_ok && abiver_ok && pad_ok) {
        if id[..4] != [0x7f, b'E', b'L', b'F'] {
            return fatal(0, "invalid ELF header");
        } else if id[4] != 2 {
            return Ok(Verified::OtherClass);
        } else if id[5] != 1 {
            return fatal(0, "ELF file data encoding not little-endian");
        } else if id[6] != 1 {
            return fatal(0, "ELF file version ident does not match current one");
        } else if !(id[7] == 0 || id[7] == ELFOSABI_GNU) {
            return fatal(0, "ELF file OS ABI invalid");
        } else if !abiver_ok {
            return fatal(0, "ELF file ABI version invalid");
        } else if !pad_ok {
            return fatal(0, "nonzero padding in e_ident");
        } else {
            return fatal(0, "internal error");
        }
    }
    if u32le(&buf, 20) != 1 {
        return fatal(0, "ELF file version does not match current one");
    }
    if u16le(&buf, 18) != EM_X86_64 {
        return Ok(Verified::OtherMachine);
    }
    let e_type = u16le(&buf, 16);
    if e_type != ET_DYN && e_type != ET_EXEC {
        return fatal(0, "only ET_DYN and ET_EXEC can be loaded");
    }
    if u16le(&buf, 54) != 56 {
        return fatal(0, "ELF file's phentsize not the expected size");
    }
    let phoff = u64le(&buf, 32);
    let phnum = u16le(&buf, 56) as usize;
    let maplength = phnum * 56;
    let mut ph_bytes = alloc::vec![0u8; maplength];
    let in_buf = phoff
        .checked_add(maplength as u64)
        .is_some_and(|end| end <= len as u64);
    if in_buf {
        let start = phoff as usize;
        if let Some(src) = buf.get(start..start + maplength) {
            ph_bytes.copy_from_slice(src);
        }
    } else {
        match read_full(h, phoff, &mut ph_bytes) {
            Ok(n) if n == maplength => {}
            Ok(_) => return fatal(0, "cannot read file data"),
            Err(e) => return fatal(e, "cannot read file data"),
        }
    }
    let phdrs = (0..phnum)
        .map(|i| {
            let o = i * 56;
            Phdr {
                p_type: u32le(&ph_bytes, o),
                p_flags: u32le(&ph_bytes, o + 4),
                p_offset: u64le(&ph_bytes, o + 8),
                p_vaddr: u64le(&ph_bytes, o + 16),
                p_filesz: u64le(&ph_bytes, o + 32),
                p_memsz: u64le(&ph_bytes, o + 40),
                p_align: u64le(&ph_bytes, o + 48),
            }
        })
        .collect();
    Ok(Verified::Usable(ElfHeader {
        e_type,
        e_entry: u64le(&buf, 24),
        phdrs,
    }))
}

/// errno glibc leaves behind for a skipped candidate.
pub const SKIP_ERRNO: Errno = errno::ENOENT;
