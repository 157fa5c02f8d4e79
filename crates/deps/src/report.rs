//! Text glibc prints for `--list` / `LD_TRACE_LOADED_OBJECTS` and for fatal errors, written to any
//! `core::fmt::Write`; load addresses come from the caller. No I/O here.

use crate::graph::{Diag, Fatal, Kind, LoadConfig, LoadGraph, Mode, ObjId, build, rtld_strerror};
use alloc::string::String;
use core::fmt::{self, Write};
use rld_search::fs::Fs;
use rld_search::search::Searcher;

/// Write bytes that are almost always UTF-8 (paths) without allocating.
pub fn write_bytes<W: Write + ?Sized>(w: &mut W, b: &[u8]) -> fmt::Result {
    for chunk in b.utf8_chunks() {
        w.write_str(chunk.valid())?;
        if !chunk.invalid().is_empty() {
            w.write_str("\u{FFFD}")?;
        }
    }
    Ok(())
}

fn dso<'a>(name: &'a [u8], progname: &'a [u8]) -> &'a [u8] {
    if name.is_empty() { progname } else { name }
}

/// `PROG: error while loading shared libraries: OBJ: MSG[: ERR]` + newline (exit status 127).
pub fn write_fatal<W: Write + ?Sized>(w: &mut W, progname: &[u8], f: &Fatal) -> fmt::Result {
    write_bytes(w, progname)?;
    w.write_str(": error while loading shared libraries: ")?;
    write_bytes(w, &f.objname)?;
    if !f.objname.is_empty() {
        w.write_str(": ")?;
    }
    w.write_str(&f.msg)?;
    if f.errno != 0 {
        w.write_str(": ")?;
        let mut e = String::new();
        rtld_strerror(f.errno, &mut e);
        w.write_str(&e)?;
    }
    w.write_char('\n')
}

/// One diagnostic line as glibc prints it on stderr.
pub fn write_diag<W: Write + ?Sized>(w: &mut W, progname: &[u8], d: &Diag) -> fmt::Result {
    match d {
        Diag::PreloadFailed { name, from, msg } => {
            w.write_str("ERROR: ld.so: object '")?;
            write_bytes(w, name)?;
            writeln!(w, "' from {from} cannot be preloaded ({msg}): ignored.")
        }
        Diag::Version { objname, msg } => {
            write_bytes(w, progname)?;
            w.write_str(": ")?;
            write_bytes(w, objname)?;
            writeln!(w, ": {msg}")
        }
    }
}

/// The list lines (`\tNAME => PATH (0x%016lx)` ...) for list/trace mode, in link-map order.
pub fn write_list<H, W: Write + ?Sized>(
    w: &mut W,
    g: &LoadGraph<H>,
    mode: Mode,
    progname: &[u8],
    addr: &dyn Fn(ObjId) -> u64,
) -> fmt::Result {
    let main_needs = g
        .objects
        .get(g.main)
        .is_some_and(|m| !m.dynamic.needed.is_empty());
    if !main_needs {
        return w.write_str("\tstatically linked\n");
    }
    let skip = if matches!(mode, Mode::Trace { program_too: true }) {
        0
    } else {
        1
    };
    for &id in g.chain.iter().skip(skip) {
        let Some(o) = g.objects.get(id) else { continue };
        let first = o.names.first().map(|n| n.as_slice()).unwrap_or(&[]);
        w.write_char('\t')?;
        if o.kind == Kind::Missing {
            write_bytes(w, first)?;
            w.write_str(" => not found\n")?;
        } else if first == o.path.as_slice() {
            write_bytes(w, first)?;
            writeln!(w, " (0x{:016x})", addr(id))?;
        } else {
            write_bytes(w, dso(first, progname))?;
            w.write_str(" => ")?;
            write_bytes(w, dso(&o.path, progname))?;
            writeln!(w, " (0x{:016x})", addr(id))?;
        }
    }
    Ok(())
}

/// Everything `ld.so --list PROG` (or ldd's trace run) prints and its exit status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListReport {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

/// Build the graph and render the report. A static non-PIE main program gets ldd's answer
/// ("\tnot a dynamic executable" on stderr, status 1) where glibc's ld.so would crash.
pub fn list_report<F: Fs>(
    s: &mut Searcher<'_, F>,
    cfg: &LoadConfig,
    addr: &dyn Fn(ObjId) -> u64,
) -> ListReport {
    let mut r = ListReport::default();
    match build(s, cfg) {
        Err(f) => {
            let _ = write_fatal(&mut r.stderr, &cfg.program, &f);
            r.exit_code = 127;
        }
        Ok(g) => {
            if g.main_is_static
                && g.objects
                    .get(g.main)
                    .is_some_and(|m| m.header.e_type == rld_search::verify::ET_EXEC)
            {
                r.stderr.push_str("\tnot a dynamic executable\n");
                r.exit_code = 1;
                return r;
            }
            for d in &g.diags {
                let _ = write_diag(&mut r.stderr, &cfg.program, d);
            }
            let _ = write_list(&mut r.stdout, &g, cfg.mode, &cfg.program, addr);
            r.exit_code = 0;
        }
    }
    r
}
