//! rld-deps: the initial link-map list (main, ld.so, vDSO, preloads, breadth-first DT_NEEDED) in
//! glibc 2.36's order, its version check, and the `--list`/ldd report text. No printing, no std.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod elfdyn;
pub mod graph;
pub mod report;
pub mod version;

pub use graph::{
    Diag, Fatal, Kind, LoadConfig, LoadGraph, Mode, ObjId, Object, Opened, OpenedIds, Prior,
    Reason, build, open, open_in,
};
pub use report::{ListReport, list_report, write_diag, write_fatal, write_list};

#[cfg(test)]
mod tests;
