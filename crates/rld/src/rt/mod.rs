//! The runtime: everything rld does to a process after parsing its options — mapping
//! objects, building glibc's data structures, TLS, applying relocations, running
//! constructors and entering the program — plus the services libc calls back into.
//!
//! `run` is the pipeline; the other modules are its steps and the services libc calls back.

pub mod abi;
pub mod debug;
pub mod dlopen;
pub mod exports;
pub mod glibc;
pub mod jump;
pub mod launch;
pub mod lazy;
pub mod map;
pub mod objects;
pub mod reloc;
pub mod run;
pub mod services;
pub mod state;
pub mod tls;

/// Prints `rld: <message>` and exits 127, the loader's answer to anything it cannot do.
pub fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    eprint!("rld: {}\n", args);
    crate::out::exit(127)
}

/// The glibc build rld is serving, once detected (None before, or in --list mode).
pub fn build() -> Option<&'static rld_glibc::GlibcBuild> {
    let p = BUILD.get();
    // SAFETY: BUILD only ever holds null or a pointer to an entry of rld_glibc::BUILDS.
    (p != 0).then(|| unsafe { &*(p as *const rld_glibc::GlibcBuild) })
}

/// Records the glibc build being served (once, at start-up).
pub fn set_build(b: &'static rld_glibc::GlibcBuild) {
    BUILD.set(b as *const rld_glibc::GlibcBuild as usize);
}

static BUILD: exports::Word = exports::Word(core::cell::UnsafeCell::new(0));
