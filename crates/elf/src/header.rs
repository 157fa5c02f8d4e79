//! The ELF file header: glibc-exact loadability checks (`open_verify`) and a plain-value copy.
//! Only the first 64 bytes and the program header table are read; nothing here can panic.

use crate::consts::*;
use crate::error::{Error, Result, SkipReason, VerifyError};
use crate::{LE, raw};

/// Size of an ELF64 file header.
pub const EHDR_SIZE: usize = 64;
/// Size of an ELF64 program header (the only `e_phentsize` glibc accepts).
pub const PHDR_SIZE: usize = 56;

/// The fields of an ELF64 file header, copied out as native integers.
///
/// Produced by [`verify_header`] / [`verify_ehdr`] (which apply glibc's policy) or by
/// [`Header::parse`] (structure only). Owning plain values keeps it `Copy` and borrow-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// `e_ident[EI_OSABI]` (0 SYSV or 3 GNU after verification).
    pub osabi: u8,
    /// `e_ident[EI_ABIVERSION]`.
    pub abiversion: u8,
    /// `e_type` (ET_DYN or ET_EXEC after verification).
    pub e_type: u16,
    /// `e_machine` (EM_X86_64 after verification).
    pub e_machine: u16,
    /// `e_version`.
    pub e_version: u32,
    /// Entry point (link-time virtual address).
    pub e_entry: u64,
    /// File offset of the program header table.
    pub e_phoff: u64,
    /// File offset of the section header table.
    pub e_shoff: u64,
    /// Processor flags.
    pub e_flags: u32,
    /// Header size as recorded in the file.
    pub e_ehsize: u16,
    /// Program header entry size.
    pub e_phentsize: u16,
    /// Number of program headers (PN_XNUM is not expanded: glibc does not either).
    pub e_phnum: u16,
    /// Section header entry size.
    pub e_shentsize: u16,
    /// Number of section headers.
    pub e_shnum: u16,
    /// Index of the section name string table.
    pub e_shstrndx: u16,
}

impl Header {
    /// Copies the header fields out of `bytes` after checking only that it is 64-bit
    /// little-endian ELF (magic, class, data). For inspection tools; the loader uses
    /// [`verify_header`].
    pub fn parse(bytes: &[u8]) -> Result<Header> {
        let ehdr = ehdr_ref(bytes).ok_or(Error::NotElf64)?;
        let id = &ehdr.e_ident;
        if id.magic != raw::ELFMAG || id.class.0 != ELFCLASS64 || id.data.0 != ELFDATA2LSB {
            return Err(Error::NotElf64);
        }
        Ok(Header::copy_from(ehdr))
    }

    fn copy_from(h: &raw::FileHeader64<crate::LittleEndian>) -> Header {
        Header {
            osabi: h.e_ident.os_abi.0,
            abiversion: h.e_ident.abi_version,
            e_type: h.e_type.get(LE).0,
            e_machine: h.e_machine.get(LE).0,
            e_version: h.e_version.get(LE),
            e_entry: h.e_entry.get(LE),
            e_phoff: h.e_phoff.get(LE),
            e_shoff: h.e_shoff.get(LE),
            e_flags: h.e_flags.get(LE).0,
            e_ehsize: h.e_ehsize.get(LE),
            e_phentsize: h.e_phentsize.get(LE),
            e_phnum: h.e_phnum.get(LE),
            e_shentsize: h.e_shentsize.get(LE),
            e_shnum: h.e_shnum.get(LE),
            e_shstrndx: h.e_shstrndx.get(LE).0,
        }
    }

    /// End offset of the program header table in the file (`e_phoff + e_phnum * 56`), or
    /// `None` on overflow. A loader that reads a file prefix must read at least this much
    /// before calling [`verify_header`] (glibc does a second `pread` instead).
    pub fn ph_end(&self) -> Option<u64> {
        let len = u64::from(self.e_phnum).checked_mul(PHDR_SIZE as u64)?;
        self.e_phoff.checked_add(len)
    }

    /// True for ET_DYN (shared objects and PIEs).
    pub fn is_dyn(&self) -> bool {
        self.e_type == ET_DYN
    }
}

fn ehdr_ref(bytes: &[u8]) -> Option<&raw::FileHeader64<crate::LittleEndian>> {
    // FileHeader64<crate::LittleEndian> is built from byte arrays (alignment 1), so any input address works.
    object::pod::from_bytes::<raw::FileHeader64<crate::LittleEndian>>(bytes)
        .ok()
        .map(|(h, _)| h)
}

/// glibc's `open_verify` checks on the first 64 bytes, in glibc's order, stopping before the
/// program headers are read.
///
/// Order (each first failure wins): length < 64 → "file too short"; `e_ident[0..8]` must equal
/// `\x7fELF`, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, OSABI SYSV (or GNU), the ABI version must be
/// valid for the OS ABI, and bytes 9..16 must be zero — when any of these fails glibc names the
/// first offending byte: magic, class (*skip*), data, version, OS ABI, ABI version, padding;
/// then `e_version`; `e_machine` (*skip*); `e_type` ∈ {ET_DYN, ET_EXEC}; `e_phentsize` == 56.
pub fn verify_ehdr(bytes: &[u8]) -> Result<Header, VerifyError> {
    let ehdr = ehdr_ref(bytes).ok_or(VerifyError::Fatal(Error::FileTooShort))?;
    let id = &ehdr.e_ident;
    let magic_ok = id.magic == raw::ELFMAG;
    let class = id.class.0;
    let data = id.data.0;
    let version = id.version.0;
    let osabi = id.os_abi.0;
    let abiversion = id.abi_version;
    // glibc 2.36 on Linux accepts two expected idents: OSABI SYSV and OSABI GNU.
    let head_ok = magic_ok
        && class == ELFCLASS64
        && data == ELFDATA2LSB
        && version == EV_CURRENT
        && (osabi == ELFOSABI_SYSV || osabi == ELFOSABI_GNU);
    let abiversion_ok = abi_version_valid(osabi, abiversion);
    let pad_ok = id.padding == [0u8; 7];
    if !(head_ok && abiversion_ok && pad_ok) {
        let e = if !magic_ok {
            Error::InvalidElfHeader
        } else if class != ELFCLASS64 {
            return Err(VerifyError::Skip(SkipReason::OtherClass));
        } else if data != ELFDATA2LSB {
            Error::NotLittleEndian
        } else if version != EV_CURRENT {
            Error::IdentVersionMismatch
        } else if !(osabi == ELFOSABI_SYSV || osabi == ELFOSABI_GNU) {
            Error::OsAbiInvalid
        } else if !abiversion_ok {
            Error::AbiVersionInvalid
        } else if !pad_ok {
            Error::NonzeroPadding
        } else {
            Error::InternalError
        };
        return Err(VerifyError::Fatal(e));
    }
    let h = Header::copy_from(ehdr);
    if h.e_version != u32::from(EV_CURRENT) {
        return Err(VerifyError::Fatal(Error::VersionMismatch));
    }
    if h.e_machine != EM_X86_64 {
        return Err(VerifyError::Skip(SkipReason::OtherMachine));
    }
    if h.e_type != ET_DYN && h.e_type != ET_EXEC {
        return Err(VerifyError::Fatal(Error::NotDynOrExec));
    }
    if usize::from(h.e_phentsize) != PHDR_SIZE {
        return Err(VerifyError::Fatal(Error::PhentsizeMismatch));
    }
    Ok(h)
}

/// All of glibc's `open_verify` checks: [`verify_ehdr`], then the program header table must be
/// inside `bytes` (else "cannot read file data", as glibc's short `pread`).
///
/// `bytes` is the whole file, or a prefix of at least [`Header::ph_end`] bytes. On
/// x86-64 glibc's `elf_machine_reject_phdr_p` rejects nothing, so there is no further check.
pub fn verify_header(bytes: &[u8]) -> Result<Header, VerifyError> {
    let h = verify_ehdr(bytes)?;
    match h.ph_end() {
        Some(end) if end <= bytes.len() as u64 => Ok(h),
        _ => Err(VerifyError::Fatal(Error::CannotReadFileData)),
    }
}

/// glibc's VALID_ELF_ABIVERSION on Linux: 0 always, or below LIBC_ABI_MAX with OSABI GNU.
fn abi_version_valid(osabi: u8, abiversion: u8) -> bool {
    abiversion == 0 || (osabi == ELFOSABI_GNU && abiversion < LIBC_ABI_MAX)
}
