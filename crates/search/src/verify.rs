//! glibc's `open_verify`: decide from the ELF header whether a candidate file is usable, skippable
//! (other class or machine: keep searching) or a fatal error (with glibc's exact message).
//! The header rules are rld-elf's `verify_ehdr`; this module adds the reads through `FileHandle`.

use crate::fs::{Errno, FileHandle, errno, read_full};
use alloc::borrow::Cow;
use alloc::vec::Vec;

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
const FILEBUF_SIZE: usize = 832;

/// One program header: `Elf64_Phdr` field for field, so that the loader can use the
/// program headers of a mapped image where they are instead of copying them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_paddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

const _: () = assert!(core::mem::size_of::<Phdr>() == 56 && core::mem::align_of::<Phdr>() == 8);

/// The verified header facts later stages need.
#[derive(Clone, Debug, Default)]
pub struct ElfHeader {
    pub e_type: u16,
    pub e_entry: u64,
    /// File offset of the program headers (to find them in the mapped image).
    pub e_phoff: u64,
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
pub fn verify<H: FileHandle + ?Sized>(file: &H) -> Result<Verified, VerifyError> {
    // On the heap: this runs at the bottom of the loader's deepest call chain (start-up's
    // `run`, the graph, the search), where 832 more bytes of frame touched one more stack
    // page (measured with `true`).
    let mut buf = alloc::vec![0u8; FILEBUF_SIZE];
    let len = match read_full(file, 0, &mut buf) {
        Ok(n) => n,
        Err(e) if e != 0 => return fatal(e, "cannot read file data"),
        Err(_) => 0,
    };
    if len < 64 {
        return fatal(0, "file too short");
    }
    // Header checks and their messages come from rld-elf (glibc's order); we only do the I/O.
    let h = match rld_elf::verify_ehdr(buf.get(..len).unwrap_or(&[])) {
        Ok(h) => h,
        Err(rld_elf::VerifyError::Skip(rld_elf::SkipReason::OtherClass)) => {
            return Ok(Verified::OtherClass);
        }
        Err(rld_elf::VerifyError::Skip(rld_elf::SkipReason::OtherMachine)) => {
            return Ok(Verified::OtherMachine);
        }
        Err(rld_elf::VerifyError::Fatal(e)) => return fatal(0, e.message()),
    };
    let e_type = h.e_type;
    let phoff = h.e_phoff;
    let phnum = h.e_phnum as usize;
    let maplength = phnum * 56;
    // The program headers are almost always within the first read: parsed from there, else
    // read on their own.
    let in_buf = phoff
        .checked_add(maplength as u64)
        .filter(|&end| end <= len as u64)
        .and_then(|end| buf.get(phoff as usize..end as usize));
    let ph_bytes: Cow<'_, [u8]> = match in_buf {
        Some(b) => Cow::Borrowed(b),
        None => {
            let mut b = alloc::vec![0u8; maplength];
            match read_full(file, phoff, &mut b) {
                Ok(n) if n == maplength => Cow::Owned(b),
                Ok(_) => return fatal(0, "cannot read file data"),
                Err(e) => return fatal(e, "cannot read file data"),
            }
        }
    };
    let phdrs = (0..phnum)
        .map(|i| {
            let o = i * 56;
            Phdr {
                p_type: u32le(&ph_bytes, o),
                p_flags: u32le(&ph_bytes, o + 4),
                p_offset: u64le(&ph_bytes, o + 8),
                p_vaddr: u64le(&ph_bytes, o + 16),
                p_paddr: u64le(&ph_bytes, o + 24),
                p_filesz: u64le(&ph_bytes, o + 32),
                p_memsz: u64le(&ph_bytes, o + 40),
                p_align: u64le(&ph_bytes, o + 48),
            }
        })
        .collect();
    Ok(Verified::Usable(ElfHeader {
        e_type,
        e_entry: u64le(&buf, 24),
        e_phoff: phoff,
        phdrs,
    }))
}

/// errno glibc leaves behind for a skipped candidate.
pub const SKIP_ERRNO: Errno = errno::ENOENT;
