//! Host-testable logic of the rld loader shell: command-line and environment parsing.
//! Pure safe code over byte strings; the `rld` binary feeds it the initial stack's contents.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cli;
pub mod heap_classes;
