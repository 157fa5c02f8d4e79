//! rld-elf: zero-copy, bounds-checked views of ELF64 little-endian x86-64 objects for rld.
//! Invariant: no function panics on any input; every offset followed yields `Result`/`Option`.
//!
//! The crate reads the same structures in two settings:
//! - a file's bytes ([`ElfFile`], with [`FileMemory`] translating link-time addresses through
//!   PT_LOAD), used by `rldctl` and by the loader before mapping;
//! - a mapped image ([`MappedImage`], a `&[u8]` over the mapping that the loader builds from a
//!   base pointer), used after `mmap`.
//!
//! Both implement [`Memory`], so [`DynamicInfo`], string tables, symbol tables, hash tables and
//! version tables are built once from either. Views borrow; nothing allocates to read.
//!
//! On-disk layouts come from `object::elf` (re-exported as [`raw`]); its structs are byte
//! arrays of alignment 1, so input of **any alignment** is accepted without copying (x86-64
//! loads are unaligned-safe).
//!
//! glibc parity: [`verify_header`] follows glibc 2.36's `open_verify` check order and messages;
//! [`l_info_index`] and [`DynamicInfo`] follow `elf_get_dynamic_info`.
#![no_std]
#![warn(missing_docs)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod consts;
pub mod cursor;
pub mod dynamic;
pub mod error;
pub mod file;
pub mod fuzzing;
pub mod hash;
pub mod header;
pub mod memory;
pub mod note;
pub mod reloc;
pub mod strtab;
pub mod symbols;
pub mod version;

/// The only byte order this crate reads.
pub use object::LittleEndian;
/// `object`'s raw ELF definitions (on-disk structs and newtyped constants).
pub use object::elf as raw;

/// Shorthand for the endianness value passed to `object`'s field getters.
pub(crate) const LE: LittleEndian = LittleEndian;

pub use dynamic::{DynEntry, Dynamic, DynamicInfo, L_INFO_COUNT, l_info_index};
pub use error::{Error, Result, SkipReason, VerifyError};
pub use file::{ElfFile, ProgramHeader, ProgramHeaderExt, load_extent};
pub use hash::{GnuHash, HashTable, SymbolKey, SysvHash, gnu_hash, sysv_hash};
pub use header::{Header, verify_ehdr, verify_header};
pub use memory::{FileMemory, MappedImage, Memory};
pub use note::{GnuProperties, GnuProperty, Note, NoteIter, Notes};
pub use reloc::{Rela, RelaEntry, RelaTable, RelrIter, RelrTable};
pub use strtab::StringTable;
pub use symbols::{DynamicSymbols, Sym, SymExt, SymbolTable};
pub use version::{
    Verdef, VerdefIter, Vernaux, Verneed, VerneedIter, VersionEntry, VersionTable, VersymTable,
};

#[cfg(test)]
mod tests;
