//! rld-link: glibc 2.36-compatible symbol resolution and relocation planning for x86-64.
//! Pure (no I/O, no unsafe, no absolute addresses in plans); the loader applies the results.
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod error;
pub mod from_elf;
pub mod hash;
pub mod index;
pub mod launch;
pub mod lookup;
#[cfg(test)]
mod lookup_tests;
pub mod object;
pub mod order;
pub mod plan;
pub mod reloc;
pub mod relr;
#[cfg(test)]
mod testutil;

/// Index of an object in a [`lookup::Namespace`]; stable for the life of the namespace and
/// independent of where the object is mapped.
pub type ObjId = u32;

pub use error::{LinkError, fatal_line};
pub use hash::{NameHash, gnu_hash, sysv_hash};
pub use lookup::{Found, Namespace, Request, Stats, TypeClass, VersionReq};
pub use object::{GnuHash, HashTable, ObjKind, ObjView, Sym, SysvHash, Version, build_versions};
pub use plan::{Binding, BindingPlan, ObjPlan, Planner, plan, plan_with};
pub use reloc::{Action, RelocInput, SymFacts, TlsFacts, reloc_action};
