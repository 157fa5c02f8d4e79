//! Errors of every ELF view: one small `Copy` enum, so the no_std loader can carry it without
//! allocation. Display gives glibc's exact wording wherever glibc 2.36's loader has a message.

use core::fmt;

/// Why an ELF view could not be built or an accessor could not follow an offset.
///
/// Variants in the first group correspond one-to-one to messages of glibc 2.36's `open_verify`
/// and `_dl_map_object_from_fd` (dl-load.c); their `Display` is the untranslated glibc text, so
/// the loader can print `"{name}: {err}"` and match glibc byte for byte. The remaining variants
/// describe corrupt input that glibc does not diagnose (it would crash or read garbage); their
/// messages are rld's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    // ---- glibc open_verify, in the order it checks ----
    /// Fewer bytes than an ELF header (glibc: read returned less with errno 0).
    FileTooShort,
    /// Program headers are not (entirely) inside the file (glibc: short pread).
    CannotReadFileData,
    /// The first four bytes are not `\x7fELF`.
    InvalidElfHeader,
    /// `EI_CLASS` is not ELFCLASS64. glibc (64-bit) reports any other class as ELFCLASS32.
    WrongClass,
    /// `EI_DATA` is not ELFDATA2LSB.
    NotLittleEndian,
    /// `EI_VERSION` is not EV_CURRENT.
    IdentVersionMismatch,
    /// `EI_OSABI` is neither ELFOSABI_SYSV nor ELFOSABI_GNU.
    OsAbiInvalid,
    /// `EI_ABIVERSION` is not accepted for this OS ABI.
    AbiVersionInvalid,
    /// `e_ident[EI_PAD..]` contains a nonzero byte.
    NonzeroPadding,
    /// The ident check failed for no identifiable reason (unreachable in practice, kept for parity).
    InternalError,
    /// `e_version` is not EV_CURRENT.
    VersionMismatch,
    /// `e_machine` is not EM_X86_64. glibc does not report this during a search; named directly
    /// it reports "cannot open shared object file" with errno ENOENT.
    WrongMachine,
    /// `e_type` is neither ET_DYN nor ET_EXEC.
    NotDynOrExec,
    /// `e_phentsize` is not 56.
    PhentsizeMismatch,

    // ---- glibc _dl_map_object_from_fd ----
    /// A PT_LOAD whose `p_vaddr - p_offset` is not a multiple of the page size.
    LoadNotPageAligned,
    /// No PT_LOAD segment at all.
    NoLoadSegments,
    /// ET_DYN without PT_DYNAMIC, or a PT_DYNAMIC with `p_filesz == 0` (separate debuginfo).
    NoDynamicSection,
    /// ET_EXEC where a shared object was required (dlopen).
    CannotLoadExecutable,
    /// DF_1_PIE where a shared object was required (dlopen).
    CannotLoadPie,
    /// DF_1_NOOPEN and the object is being dlopen()ed.
    CannotDlopen,

    // ---- glibc get-dynamic-info.h assertions (glibc aborts with "Inconsistency detected") ----
    /// DT_PLTREL present but not DT_RELA.
    PltRelNotRela,
    /// DT_RELA present but DT_RELAENT is missing or not 24.
    BadRelaEnt,
    /// DT_RELR present but DT_RELRENT is missing or not 8.
    BadRelrEnt,

    // ---- dl-version.c ----
    /// A Verneed record whose `vn_version` (the payload) is not 1.
    UnsupportedVerneedVersion(u16),
    /// DT_RELR used with a libc.so.* DT_NEEDED but no GLIBC_ABI_DT_RELR version reference.
    RelrWithoutAbiTag,

    // ---- structural corruption rld detects (no glibc message) ----
    /// The input is not a 64-bit little-endian ELF file at all (structural parse, not policy).
    NotElf64,
    /// Program header table does not fit in the bytes or its entry size is not 56.
    BadProgramHeaders,
    /// A virtual address is not backed by any PT_LOAD segment's file bytes / mapped extent.
    AddressNotMapped,
    /// An offset or size points outside the bytes of the table it indexes.
    OutOfBounds,
    /// An arithmetic overflow while computing an address or size from input fields.
    Overflow,
    /// PT_DYNAMIC has no DT_NULL within its size.
    DynamicNotTerminated,
    /// A string table offset has no terminating NUL inside DT_STRSZ.
    UnterminatedString,
    /// A dynamic tag that refers to the string table, but DT_STRTAB/DT_STRSZ is missing.
    MissingStringTable,
    /// A table is required (e.g. DT_SYMTAB) but its dynamic tag is absent.
    MissingTable,
    /// A table header has impossible values (e.g. GNU hash bloom size not a power of two).
    BadTable,
    /// An entry size tag (DT_SYMENT, DT_RELAENT, ...) has an unsupported value.
    BadEntrySize,
    /// A version record chain is corrupt (loops, misaligned, or points outside its table).
    BadVersionRecord,
    /// A note header does not fit in its segment.
    BadNote,
}

impl Error {
    /// glibc's message text for this error (untranslated), or rld's description if glibc has none.
    ///
    /// Assertion variants give the text after glibc's "Inconsistency detected by ld.so: " prefix.
    /// For [`Error::UnsupportedVerneedVersion`] use `Display`, which includes the number.
    pub const fn message(self) -> &'static str {
        match self {
            Error::FileTooShort => "file too short",
            Error::CannotReadFileData => "cannot read file data",
            Error::InvalidElfHeader => "invalid ELF header",
            Error::WrongClass => "wrong ELF class: ELFCLASS32",
            Error::NotLittleEndian => "ELF file data encoding not little-endian",
            Error::IdentVersionMismatch => "ELF file version ident does not match current one",
            Error::OsAbiInvalid => "ELF file OS ABI invalid",
            Error::AbiVersionInvalid => "ELF file ABI version invalid",
            Error::NonzeroPadding => "nonzero padding in e_ident",
            Error::InternalError => "internal error",
            Error::VersionMismatch => "ELF file version does not match current one",
            Error::WrongMachine => "cannot open shared object file",
            Error::NotDynOrExec => "only ET_DYN and ET_EXEC can be loaded",
            Error::PhentsizeMismatch => "ELF file's phentsize not the expected size",
            Error::LoadNotPageAligned => "ELF load command address/offset not page-aligned",
            Error::NoLoadSegments => "object file has no loadable segments",
            Error::NoDynamicSection => "object file has no dynamic section",
            Error::CannotLoadExecutable => "cannot dynamically load executable",
            Error::CannotLoadPie => "cannot dynamically load position-independent executable",
            Error::CannotDlopen => "shared object cannot be dlopen()ed",
            Error::PltRelNotRela => {
                "./get-dynamic-info.h: 115: elf_get_dynamic_info: Assertion `info[DT_PLTREL]->d_un.d_val == DT_RELA' failed!"
            }
            Error::BadRelaEnt => {
                "./get-dynamic-info.h: 123: elf_get_dynamic_info: Assertion `info[DT_RELAENT]->d_un.d_val == sizeof (ElfW(Rela))' failed!"
            }
            Error::BadRelrEnt => {
                "./get-dynamic-info.h: 130: elf_get_dynamic_info: Assertion `info[DT_RELRENT]->d_un.d_val == sizeof (ElfW(Relr))' failed!"
            }
            Error::UnsupportedVerneedVersion(_) => "unsupported version of Verneed record",
            Error::RelrWithoutAbiTag => "DT_RELR without GLIBC_ABI_DT_RELR dependency",
            Error::NotElf64 => "not a 64-bit little-endian ELF file",
            Error::BadProgramHeaders => "program header table out of bounds",
            Error::AddressNotMapped => "address not covered by a loadable segment",
            Error::OutOfBounds => "offset out of bounds",
            Error::Overflow => "address arithmetic overflow",
            Error::DynamicNotTerminated => "dynamic section not terminated by DT_NULL",
            Error::UnterminatedString => "unterminated string in string table",
            Error::MissingStringTable => "missing DT_STRTAB or DT_STRSZ",
            Error::MissingTable => "required dynamic table missing",
            Error::BadTable => "corrupt hash or symbol table header",
            Error::BadEntrySize => "unsupported table entry size",
            Error::BadVersionRecord => "corrupt symbol version record",
            Error::BadNote => "corrupt note segment",
        }
    }

    /// The errno glibc passes to `_dl_signal_error` together with this message, if nonzero.
    ///
    /// glibc prints `": " strerror(errno)` after the message when it is nonzero: the only case
    /// among these is [`Error::WrongMachine`] (ENOENT, "No such file or directory") when the
    /// file was named directly.
    pub const fn glibc_errno(self) -> Option<i32> {
        match self {
            Error::WrongMachine => Some(2),
            _ => None,
        }
    }

    /// True if glibc aborts with "Inconsistency detected by ld.so: " (an assertion) for this.
    pub const fn is_glibc_assertion(self) -> bool {
        matches!(
            self,
            Error::PltRelNotRela | Error::BadRelaEnt | Error::BadRelrEnt
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnsupportedVerneedVersion(v) => {
                write!(f, "unsupported version {v} of Verneed record")
            }
            e => f.write_str(e.message()),
        }
    }
}

impl core::error::Error for Error {}

/// Shorthand used by every view.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Outcome of [`crate::verify_header`] when the file is not usable.
///
/// glibc's `open_verify` distinguishes candidates it skips silently while walking a search path
/// (wrong class, wrong machine: `errno = ENOENT`, return -1) from hard errors that stop the
/// load at once. The search crate must keep looking after a `Skip`; after the whole search
/// fails, it reports "wrong ELF class: ELFCLASS32" if any skipped candidate was `OtherClass`,
/// else "cannot open shared object file". A hard error is reported immediately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifyError {
    /// Skip this candidate silently and continue searching.
    Skip(SkipReason),
    /// Stop: glibc signals this error for the candidate.
    Fatal(Error),
}

/// Why [`VerifyError::Skip`] was returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Valid magic but `EI_CLASS` is not ELFCLASS64 (glibc sets `found_other_class`).
    OtherClass,
    /// `e_machine` is not EM_X86_64.
    OtherMachine,
}

impl VerifyError {
    /// The error glibc reports when this file was the only candidate (named with a slash, or the
    /// search found nothing better): class → "wrong ELF class: ELFCLASS32", machine →
    /// "cannot open shared object file" (+ ENOENT).
    pub const fn error(self) -> Error {
        match self {
            VerifyError::Skip(SkipReason::OtherClass) => Error::WrongClass,
            VerifyError::Skip(SkipReason::OtherMachine) => Error::WrongMachine,
            VerifyError::Fatal(e) => e,
        }
    }

    /// True for a candidate glibc skips silently during a search.
    pub const fn is_skip(self) -> bool {
        matches!(self, VerifyError::Skip(_))
    }
}

impl From<Error> for VerifyError {
    fn from(e: Error) -> Self {
        VerifyError::Fatal(e)
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error(), f)
    }
}

impl core::error::Error for VerifyError {}
