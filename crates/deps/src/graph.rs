//! The initial link-map list, built the way glibc 2.36's `dl_main` + `_dl_map_object_deps` do:
//! main, ld.so, vDSO, preloads, then breadth-first DT_NEEDED; dedup by name, soname, then dev:ino.

use crate::elfdyn::{DF_1_NODEFLIB, DF_1_PIE, DynInfo, Parts, read_dyn_info_parts};
use alloc::string::String;
use alloc::vec::Vec;
use rld_search::dst::{DstContext, Origin};
use rld_search::fs::{FileHandle, FileId, FileStat, Fs};
use rld_search::search::{FoundVia, Request, SearchError, SearchPath, Searcher, TraceEvent};
use rld_search::secure;
use rld_search::verify::{ET_DYN, ET_EXEC, ElfHeader, PT_DYNAMIC, PT_LOAD, Verified, verify};

/// Index of an object in `LoadGraph::objects` (creation order).
pub type ObjId = usize;

/// How ld.so was asked to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Load and run.
    Normal,
    /// `ld.so --list`: missing libraries are fatal.
    List,
    /// `LD_TRACE_LOADED_OBJECTS` (ldd): missing libraries are listed as "not found";
    /// `program_too` (value > 1) also lists the main program.
    Trace { program_too: bool },
}

/// What kind of object a link-map entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Main,
    /// The dynamic loader itself (never loaded from disk as a library).
    Rtld,
    Vdso,
    Library,
    /// Not found in trace mode (glibc's `l_faked`).
    Missing,
}

/// Why an object is in the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The program given on the command line (or by the kernel).
    Program,
    /// Always present.
    Builtin,
    /// Preloaded; the string says from where ("LD_PRELOAD", "--preload", "/etc/ld.so.preload").
    Preload(&'static str),
    /// DT_NEEDED of `by`, found by `via` (None when missing).
    Needed { by: ObjId, via: Option<FoundVia> },
}

/// One link-map entry.
#[derive(Debug)]
pub struct Object<H> {
    pub kind: Kind,
    /// glibc `l_libname`: first the name it was requested by, then aliases (SONAME, other names).
    pub names: Vec<Vec<u8>>,
    /// glibc `l_name`: the path it was opened from ("" for the main program).
    pub path: Vec<u8>,
    pub reason: Reason,
    /// glibc `l_loader`: whose DT_NEEDED (or preload) loaded it.
    pub loader: Option<ObjId>,
    /// (0,0) for the main program, ld.so and the vDSO, as in glibc.
    pub file_id: FileId,
    /// fstat of the file it was opened from (default for objects not opened by the loader:
    /// the main program mapped by the kernel, ld.so, the vDSO): what the launch cache checks.
    pub stat: FileStat,
    pub header: ElfHeader,
    pub dynamic: DynInfo,
    /// `l_origin`.
    pub origin: Option<Vec<u8>>,
    /// Objects its DT_NEEDED entries resolved to, in order.
    pub deps: Vec<ObjId>,
    /// The open file, for the runtime to map.
    pub file: Option<H>,
    rpath: Option<SearchPath>,
    runpath: Option<SearchPath>,
    /// `rpath`/`runpath` are decomposed (done on first use for objects a dlopen finds
    /// already loaded: most are never a loader of what it opens).
    paths_done: bool,
}

impl<H> Object<H> {
    pub fn soname(&self) -> Option<&[u8]> {
        self.dynamic.soname.as_deref()
    }
    fn name_matches(&self, name: &[u8]) -> bool {
        self.path == name || self.names.iter().any(|n| n == name)
    }
}

/// A fatal loader error: glibc prints `PROG: error while loading shared libraries: OBJ: MSG[: strerror]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fatal {
    pub objname: Vec<u8>,
    pub errno: i32,
    pub msg: String,
}

/// Non-fatal messages glibc prints on stderr while building the list, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Diag {
    /// `ERROR: ld.so: object 'NAME' from WHERE cannot be preloaded (MSG): ignored.`
    PreloadFailed {
        name: Vec<u8>,
        from: &'static str,
        msg: String,
    },
    /// `PROG: OBJ: MSG` from the version check.
    Version { objname: Vec<u8>, msg: String },
}

/// Inputs besides the filesystem and search configuration.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The program as named on the command line (glibc's `rtld_progname`, also `_dl_argv[0]`).
    pub program: Vec<u8>,
    pub mode: Mode,
    /// How ld.so itself was invoked (its `l_name`), e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub rtld_name: Vec<u8>,
    /// ld.so's SONAME.
    pub rtld_soname: Vec<u8>,
    /// Where to read ld.so's own ELF data from (for version checks); usually `rtld_name`.
    pub rtld_file: Option<Vec<u8>>,
    /// vDSO SONAME if the kernel provided one.
    pub vdso: Option<Vec<u8>>,
    pub preload_env: Option<Vec<u8>>,
    pub preload_arg: Option<Vec<u8>>,
    /// Path of the system preload file (`/etc/ld.so.preload`), None to skip.
    pub preload_file: Option<Vec<u8>>,
    /// `--inhibit-rpath LIST`.
    pub inhibit_rpath: Option<Vec<u8>>,
    /// `LD_ORIGIN_PATH`-style fallback or /proc/self/exe dir for a kernel-loaded main program.
    pub exe_origin: Option<Vec<u8>>,
    /// The main program is already in memory (the kernel mapped it: rld is its PT_INTERP):
    /// its header and dynamic facts, read from the mapped image. `program` is then only its
    /// name; nothing is opened for it.
    pub main_loaded: Option<(ElfHeader, DynInfo)>,
    /// The dynamic loader's own header and dynamic facts when the caller has them in memory
    /// (then `rtld_file` is not read).
    pub rtld_loaded: Option<(ElfHeader, DynInfo)>,
    /// The main program's `$ORIGIN` when `exe_origin` is None, computed only if a dynamic
    /// string token needs it (glibc's `_dl_get_origin`, readlink of /proc/self/exe: a system
    /// call most programs never need; their `l_origin` stays NULL, as under glibc).
    pub exe_origin_lazy: Option<fn() -> Option<Vec<u8>>>,
    /// Check symbol versions when the graph is complete (glibc's `_dl_check_all_versions`).
    /// Off: the objects' version tables are not read and the caller runs
    /// `version::check_start` itself, when and if it needs to (the loader skips it when its
    /// launch cache vouches for the same files).
    pub check_versions: bool,
}

impl LoadConfig {
    /// Defaults for `ld.so --list PROGRAM` on Debian 12.
    pub fn list(program: &[u8]) -> Self {
        LoadConfig {
            program: program.to_vec(),
            mode: Mode::List,
            rtld_name: b"/lib64/ld-linux-x86-64.so.2".to_vec(),
            rtld_soname: b"ld-linux-x86-64.so.2".to_vec(),
            rtld_file: None,
            vdso: Some(b"linux-vdso.so.1".to_vec()),
            preload_env: None,
            preload_arg: None,
            preload_file: Some(b"/etc/ld.so.preload".to_vec()),
            inhibit_rpath: None,
            exe_origin: None,
            main_loaded: None,
            rtld_loaded: None,
            exe_origin_lazy: None,
            check_versions: true,
        }
    }
}

/// The result: every object in glibc's link-map order, plus the symbol search list.
#[derive(Debug)]
pub struct LoadGraph<H> {
    pub objects: Vec<Object<H>>,
    /// The link-map list (`_ns_loaded` chain) after ld.so is put at its place: what `--list` prints.
    pub chain: Vec<ObjId>,
    /// The main program's search list (BFS order, no missing objects).
    pub searchlist: Vec<ObjId>,
    pub main: ObjId,
    pub rtld: ObjId,
    pub vdso: Option<ObjId>,
    pub preloads: Vec<ObjId>,
    pub diags: Vec<Diag>,
    /// The main program has no PT_DYNAMIC (static, not PIE).
    pub main_is_static: bool,
}

/// `strerror` as glibc's rtld has it (only a few messages built in).
pub fn rtld_strerror(errno: i32, out: &mut String) {
    use core::fmt::Write;
    let s = match errno {
        12 => "Cannot allocate memory",
        22 => "Invalid argument",
        2 => "No such file or directory",
        1 => "Operation not permitted",
        5 => "Input/output error",
        13 => "Permission denied",
        _ => {
            let _ = write!(out, "Error {errno}");
            return;
        }
    };
    out.push_str(s);
}

fn origin_of(realname: &[u8], cwd: impl FnOnce() -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    if realname.is_empty() {
        return None;
    }
    let mut full = if realname.first() == Some(&b'/') {
        realname.to_vec()
    } else {
        let mut c = cwd()?;
        if c.last() != Some(&b'/') {
            c.push(b'/');
        }
        c.extend_from_slice(realname);
        c
    };
    let slash = full.iter().rposition(|&c| c == b'/')?;
    full.truncate(if slash == 0 { 1 } else { slash });
    Some(full)
}

struct Builder<'s, 'f, F: Fs> {
    s: &'s mut Searcher<'f, F>,
    cfg: &'s LoadConfig,
    objects: Vec<Object<F::File>>,
    chain: Vec<ObjId>,
    diags: Vec<Diag>,
    cwd: Option<Option<Vec<u8>>>,
    /// The object being mapped is the one dlopen names (`__RTLD_CALLMAP`).
    callmap: bool,
    /// dlopen of a path (no search, so no loader is passed): the caller, named by the
    /// `dynamically loaded by` trace line glibc prints all the same.
    trace_by: Option<ObjId>,
}

fn fatal_from(name: &[u8], e: &SearchError) -> Fatal {
    match e {
        SearchError::Fatal { errno, path, msg } => Fatal {
            objname: path.clone(),
            errno: *errno,
            msg: String::from(*msg),
        },
        _ => {
            let (errno, msg) = e.message();
            Fatal {
                objname: name.to_vec(),
                errno,
                msg: String::from(msg),
            }
        }
    }
}

impl<'s, 'f, F: Fs> Builder<'s, 'f, F> {
    fn cwd(&mut self) -> Option<Vec<u8>> {
        if self.cwd.is_none() {
            self.cwd = Some(self.s.fs.getcwd().ok());
        }
        self.cwd.clone().flatten()
    }

    fn dst_ctx<'a>(&'a self, id: ObjId, trusted: &'a [&'a [u8]]) -> DstContext<'a> {
        let o = self.objects.get(id);
        let origin = match o.and_then(|o| o.origin.as_deref()) {
            Some(p) => Origin::Known(p),
            None => Origin::Unknown,
        };
        DstContext {
            origin,
            platform: self.s.config.platform.as_deref(),
            lib: &self.s.config.dst_lib,
            secure: self.s.config.secure,
            is_executable: o.is_some_and(|o| o.kind == Kind::Main),
            trusted_dirs: trusted,
        }
    }

    /// Computes the main program's origin now if it is still unknown and may be computed
    /// on demand (`LoadConfig::exe_origin_lazy`): a dynamic string token of `id` needs it.
    fn ensure_origin(&mut self, id: ObjId) {
        let Some(f) = self.cfg.exe_origin_lazy else {
            return;
        };
        if let Some(o) = self.objects.get_mut(id)
            && o.kind == Kind::Main
            && o.origin.is_none()
        {
            o.origin = f();
        }
    }

    /// glibc's `decompose_rpath` for one object (done lazily in glibc; results are the same).
    fn decompose_paths(&mut self, id: ObjId) {
        match self.objects.get_mut(id) {
            Some(o) if !o.paths_done => o.paths_done = true,
            _ => return,
        }
        // Most objects have neither (nothing to copy the trusted directories for).
        let Some(o) = self.objects.get(id) else {
            return;
        };
        if o.dynamic.rpath.is_none() && o.dynamic.runpath.is_none() {
            return;
        }
        if [&o.dynamic.rpath, &o.dynamic.runpath].iter().any(|r| {
            r.as_deref()
                .is_some_and(|r| rld_search::dst::dst_count(r) != 0)
        }) {
            self.ensure_origin(id);
        }
        // Borrowed, not copied: every dlopen of a library with an RPATH comes here.
        let trusted: Vec<&[u8]> = self
            .s
            .config
            .system_dirs
            .iter()
            .map(|d| d.as_slice())
            .collect();
        let Some(o) = self.objects.get(id) else {
            return;
        };
        let inhibited = match &self.cfg.inhibit_rpath {
            Some(list) if !self.s.config.secure => {
                list.split(|&c| c == b':').any(|w| w == o.path.as_slice())
            }
            _ => false,
        };
        if inhibited {
            return;
        }
        let ctx = self.dst_ctx(id, &trusted);
        let decompose = |r: &Option<Vec<u8>>| {
            r.as_deref()
                .and_then(|r| SearchPath::decompose(r, b":", &ctx))
        };
        let (rp, ru) = (decompose(&o.dynamic.rpath), decompose(&o.dynamic.runpath));
        if let Some(o) = self.objects.get_mut(id) {
            o.rpath = rp;
            o.runpath = ru;
        }
    }

    fn find_loaded(&mut self, name: &[u8]) -> Option<ObjId> {
        for &id in &self.chain {
            let Some(o) = self.objects.get_mut(id) else {
                continue;
            };
            if o.kind == Kind::Missing {
                continue;
            }
            if o.name_matches(name) {
                return Some(id);
            }
            if o.soname() == Some(name) {
                // glibc records the SONAME as a new name on first match.
                let n = name.to_vec();
                if !o.names.contains(&n) {
                    o.names.push(n);
                }
                return Some(id);
            }
        }
        None
    }

    /// glibc's `_dl_map_object` + `_dl_map_object_from_fd` (without mapping).
    fn map_object(
        &mut self,
        loader: Option<ObjId>,
        name: &[u8],
        trace: bool,
        secure_open: bool,
        reason: Reason,
    ) -> Result<ObjId, Fatal> {
        if let Some(id) = self.find_loaded(name) {
            return Ok(id);
        }
        if let (Some(t), Some(l)) = (self.s.trace, loader.or(self.trace_by)) {
            let by = self.objects.get(l).map_or(&[][..], |o| o.path.as_slice());
            t(&if self.callmap {
                TraceEvent::LoadedBy { name, by }
            } else {
                TraceEvent::Needed { name, by }
            });
        }
        let main = self.chain.first().copied();
        let requester = loader.or(main);
        if let Some(l) = loader
            && rld_search::dst::dst_count(name) != 0
        {
            self.ensure_origin(l);
        }
        // RPATH chain: requester and its loaders, then the main program, unless the requester has RUNPATH.
        let mut rpaths: Vec<(usize, SearchPath)> = Vec::new();
        let mut runpath: Option<(usize, SearchPath)> = None;
        if let Some(l) = loader {
            // The loader chain (whose RPATHs count) and the main program get their search
            // paths decomposed now if they have not been yet.
            let mut cur = Some(l);
            let mut guard = 0;
            while let Some(c) = cur
                && guard <= self.objects.len()
            {
                guard += 1;
                self.decompose_paths(c);
                cur = self.objects.get(c).and_then(|o| o.loader);
            }
            if let Some(m) = main {
                self.decompose_paths(m);
            }
            let has_runpath = self
                .objects
                .get(l)
                .is_some_and(|o| o.dynamic.runpath.is_some());
            if !has_runpath {
                let mut did_main = false;
                let mut cur = Some(l);
                let mut guard = 0;
                while let Some(c) = cur {
                    guard += 1;
                    if guard > self.objects.len() + 1 {
                        break;
                    }
                    let Some(o) = self.objects.get(c) else { break };
                    if let Some(rp) = &o.rpath {
                        rpaths.push((c, rp.clone()));
                        did_main |= Some(c) == main;
                    }
                    cur = o.loader;
                }
                if !did_main
                    && let Some(m) = main
                    && let Some(rp) = self.objects.get(m).and_then(|o| o.rpath.clone())
                {
                    rpaths.push((m, rp));
                }
            }
            runpath = self
                .objects
                .get(l)
                .and_then(|o| o.runpath.clone().map(|r| (l, r)));
        }
        let nodeflib = requester
            .and_then(|r| self.objects.get(r))
            .is_some_and(|o| o.dynamic.flags_1 & DF_1_NODEFLIB != 0);
        let rp_refs: Vec<(usize, &SearchPath)> = rpaths.iter().map(|(i, p)| (*i, p)).collect();
        let owner_names: Vec<(usize, &[u8])> = if self.s.trace.is_some() {
            rpaths
                .iter()
                .map(|r| r.0)
                .chain(runpath.as_ref().map(|r| r.0))
                .filter_map(|i| Some((i, self.objects.get(i)?.path.as_slice())))
                .collect()
        } else {
            Vec::new()
        };
        // Only a name with a dynamic string token needs the substitution context (the search
        // paths were expanded when decomposed): the copies below are made for those alone.
        let has_dst = rld_search::dst::dst_count(name) != 0;
        let trusted_owned: Vec<Vec<u8>> = if has_dst {
            self.s.config.system_dirs.clone()
        } else {
            Vec::new()
        };
        let trusted: Vec<&[u8]> = trusted_owned.iter().map(|d| d.as_slice()).collect();
        let dst = loader
            .filter(|_| has_dst)
            .map(|l| self.dst_ctx(l, &trusted));
        // dst_ctx borrows self immutably; copy what we need before the mutable search.
        let dst_owned = dst.map(|d| (d.origin, d.is_executable));
        let origin_buf: Option<Vec<u8>> = match dst_owned {
            Some((Origin::Known(o), _)) => Some(o.to_vec()),
            _ => None,
        };
        let (platform, lib) = if has_dst {
            (
                self.s.config.platform.clone(),
                self.s.config.dst_lib.clone(),
            )
        } else {
            (None, Vec::new())
        };
        let secure = self.s.config.secure;
        let dst_ctx = dst_owned.map(|(_, exe)| DstContext {
            origin: match &origin_buf {
                Some(o) => Origin::Known(o),
                None => Origin::Unknown,
            },
            platform: platform.as_deref(),
            lib: &lib,
            secure,
            is_executable: exe,
            trusted_dirs: &trusted,
        });
        let req = Request {
            name,
            rpaths: &rp_refs,
            runpath: runpath.as_ref().map(|(i, p)| (*i, p)),
            nodeflib,
            secure_open,
            paths_ready: main.is_some(),
            dst: dst_ctx,
            owner_names: &owner_names,
        };
        let found = match self.s.search(&req) {
            Ok(f) => f,
            Err(e @ SearchError::NotFound { .. }) if trace => {
                let _ = e;
                let id = self.objects.len();
                self.objects.push(Object {
                    kind: Kind::Missing,
                    names: alloc::vec![name.to_vec()],
                    path: name.to_vec(),
                    reason: match reason {
                        Reason::Needed { by, .. } => Reason::Needed { by, via: None },
                        r => r,
                    },
                    loader,
                    file_id: FileId::default(),
                    stat: FileStat::default(),
                    header: ElfHeader::default(),
                    dynamic: DynInfo::default(),
                    origin: None,
                    deps: Vec::new(),
                    file: None,
                    rpath: None,
                    runpath: None,
                    paths_done: false,
                });
                self.chain.push(id);
                return Ok(id);
            }
            Err(e) => return Err(fatal_from(name, &e)),
        };
        let is_main = main.is_none();
        let (file_id, stat) = if is_main {
            // glibc does not identify the program (it is never looked up again by file);
            // the launch cache still wants to know whether it changed.
            (FileId::default(), found.file.stat().unwrap_or_default())
        } else {
            let st = found.file.stat().map_err(|e| Fatal {
                objname: name.to_vec(),
                errno: e,
                msg: String::from("cannot stat shared object"),
            })?;
            (
                FileId {
                    dev: st.dev,
                    ino: st.ino,
                },
                st,
            )
        };
        if !is_main {
            for &id in &self.chain {
                let Some(o) = self.objects.get_mut(id) else {
                    continue;
                };
                if o.file_id != FileId::default() && o.file_id == file_id {
                    let n = name.to_vec();
                    if !o.names.contains(&n) {
                        o.names.push(n);
                    }
                    return Ok(id);
                }
            }
        }
        let hdr = found.header;
        let lose = |msg: &str| {
            Err(Fatal {
                objname: name.to_vec(),
                errno: 0,
                msg: String::from(msg),
            })
        };
        let mut has_dyn = false;
        let mut empty_dyn = false;
        let mut nload = 0;
        for p in &hdr.phdrs {
            match p.p_type {
                PT_DYNAMIC => {
                    if p.p_filesz == 0 {
                        empty_dyn = true;
                    } else {
                        has_dyn = true;
                    }
                }
                PT_LOAD => {
                    if (p.p_vaddr.wrapping_sub(p.p_offset)) & 4095 != 0 {
                        return lose("ELF load command address/offset not page-aligned");
                    }
                    nload += 1;
                }
                _ => {}
            }
        }
        if nload == 0 {
            return lose("object file has no loadable segments");
        }
        if hdr.e_type != ET_DYN && !is_main {
            return lose("cannot dynamically load executable");
        }
        if (!has_dyn && hdr.e_type == ET_DYN) || empty_dyn {
            return lose("object file has no dynamic section");
        }
        found.file.prepare_image(&hdr);
        if let Some(t) = self.s.trace {
            t(&TraceEvent::LinkMap {
                name,
                header: &hdr,
                image: found.file.image_info(),
            });
        }
        // Only the program's PT_INTERP is used (it names ld.so); a library's would cost a
        // page fault in a page nothing else reads.
        let dynamic = read_dyn_info_parts(
            &found.file,
            &hdr,
            Parts {
                interp: is_main,
                graph: true,
                versions: self.cfg.check_versions,
            },
        );
        if dynamic.flags_1 & DF_1_PIE != 0 && !is_main {
            return lose("cannot dynamically load position-independent executable");
        }
        let _ = ET_EXEC;
        // The kernel-mapped program's `$ORIGIN` (from /proc/self/exe) wins over one made
        // from the path it was opened by (trace mode as PT_INTERP opens it again).
        let origin = match &self.cfg.exe_origin {
            Some(o) if is_main => Some(o.clone()),
            _ => origin_of(&found.path, || self.cwd()),
        };
        let id = self.objects.len();
        let via = found.via;
        let reason = match reason {
            Reason::Needed { by, .. } => Reason::Needed { by, via: Some(via) },
            r => r,
        };
        self.objects.push(Object {
            kind: if is_main { Kind::Main } else { Kind::Library },
            // glibc ignores the requested name of the main program (`__RTLD_OPENEXEC`).
            names: alloc::vec![if is_main { Vec::new() } else { name.to_vec() }],
            path: found.path,
            reason,
            loader,
            file_id,
            stat,
            header: hdr,
            dynamic,
            origin,
            deps: Vec::new(),
            file: Some(found.file),
            rpath: None,
            runpath: None,
            paths_done: false,
        });
        self.chain.push(id);
        self.decompose_paths(id);
        Ok(id)
    }

    /// `_dl_map_object_deps` for one object: maps each DT_NEEDED entry (after DST expansion;
    /// an entry that expands to nothing is skipped) and returns the objects in order.
    fn map_needed(&mut self, l: ObjId, trace: bool) -> Result<Vec<ObjId>, Fatal> {
        let needed = self
            .objects
            .get(l)
            .map(|o| o.dynamic.needed.clone())
            .unwrap_or_default();
        let mut deps = Vec::with_capacity(needed.len());
        for raw in needed {
            let name = if rld_search::dst::dst_count(&raw) != 0 {
                if self.s.config.secure {
                    return Err(Fatal {
                        objname: raw,
                        errno: 0,
                        msg: String::from("DST not allowed in SUID/SGID programs"),
                    });
                }
                self.ensure_origin(l);
                let trusted_owned: Vec<Vec<u8>> = self.s.config.system_dirs.clone();
                let trusted: Vec<&[u8]> = trusted_owned.iter().map(|d| d.as_slice()).collect();
                let e = rld_search::dst::substitute(&raw, &self.dst_ctx(l, &trusted));
                if e.is_empty() {
                    continue;
                }
                e
            } else {
                raw
            };
            deps.push(self.map_object(
                Some(l),
                &name,
                trace,
                false,
                Reason::Needed { by: l, via: None },
            )?);
        }
        Ok(deps)
    }

    fn builtin(
        &mut self,
        kind: Kind,
        names: Vec<Vec<u8>>,
        path: Vec<u8>,
        dynamic: DynInfo,
        header: ElfHeader,
        file: Option<F::File>,
    ) -> ObjId {
        let id = self.objects.len();
        self.objects.push(Object {
            kind,
            names,
            path,
            reason: Reason::Builtin,
            loader: None,
            file_id: FileId::default(),
            stat: FileStat::default(),
            header,
            dynamic,
            origin: None,
            deps: Vec::new(),
            file,
            rpath: None,
            runpath: None,
            paths_done: false,
        });
        id
    }

    fn preload(&mut self, main: ObjId, name: &[u8], from: &'static str) {
        let before = self.objects.len();
        match self.map_object(Some(main), name, false, true, Reason::Preload(from)) {
            Ok(_) => {
                let _ = before;
            }
            Err(f) => self.diags.push(Diag::PreloadFailed {
                name: name.to_vec(),
                from,
                msg: f.msg,
            }),
        }
    }
}

/// Build the initial link-map list for `cfg.program`.
pub fn build<F: Fs>(
    searcher: &mut Searcher<'_, F>,
    cfg: &LoadConfig,
) -> Result<LoadGraph<F::File>, Fatal> {
    let mut b = Builder {
        s: searcher,
        cfg,
        objects: Vec::new(),
        chain: Vec::new(),
        diags: Vec::new(),
        cwd: None,
        callmap: false,
        trace_by: None,
    };
    let trace = matches!(cfg.mode, Mode::Trace { .. });
    // The main program: opened before search paths exist (only a path or the cache can find it).
    let main = match &cfg.main_loaded {
        Some((header, dynamic)) => {
            let id = b.objects.len();
            b.objects.push(Object {
                kind: Kind::Main,
                names: alloc::vec![Vec::new()],
                path: cfg.program.clone(),
                reason: Reason::Program,
                loader: None,
                file_id: FileId::default(),
                stat: FileStat::default(),
                header: header.clone(),
                dynamic: dynamic.clone(),
                origin: None,
                deps: Vec::new(),
                file: None,
                rpath: None,
                runpath: None,
                paths_done: false,
            });
            b.chain.push(id);
            id
        }
        None => b.map_object(None, &cfg.program, false, false, Reason::Program)?,
    };
    let main_is_static = b.objects.get(main).is_some_and(|o| !o.dynamic.has_dynamic);
    if let Some(m) = b.objects.get_mut(main) {
        m.path = Vec::new();
    }
    // ld.so: known by the program's PT_INTERP (or how it was invoked) and its SONAME.
    let interp = b.objects.get(main).and_then(|m| m.dynamic.interp.clone());
    let mut rnames = alloc::vec![interp.unwrap_or_else(|| cfg.rtld_name.clone())];
    if rnames.first() != Some(&cfg.rtld_soname) {
        rnames.push(cfg.rtld_soname.clone());
    }
    let (rdyn, rhdr, rfile) = if let Some((h, d)) = &cfg.rtld_loaded {
        (d.clone(), h.clone(), None)
    } else {
        let p = cfg
            .rtld_file
            .clone()
            .unwrap_or_else(|| cfg.rtld_name.clone());
        match b.s.fs.open(&p) {
            Ok(h) => match verify(&h) {
                Ok(Verified::Usable(hdr)) => {
                    let parts = Parts {
                        versions: cfg.check_versions,
                        ..Parts::ALL
                    };
                    (read_dyn_info_parts(&h, &hdr, parts), hdr, Some(h))
                }
                _ => (DynInfo::default(), ElfHeader::default(), None),
            },
            Err(_) => (DynInfo::default(), ElfHeader::default(), None),
        }
    };
    let rtld = b.builtin(Kind::Rtld, rnames, cfg.rtld_name.clone(), rdyn, rhdr, rfile);
    b.chain.push(rtld);
    let vdso = cfg.vdso.clone().map(|v| {
        let id = b.builtin(
            Kind::Vdso,
            alloc::vec![v.clone()],
            v,
            DynInfo::default(),
            ElfHeader::default(),
            None,
        );
        b.chain.push(id);
        if let Some(t) = b.s.trace {
            t(&TraceEvent::Vdso);
        }
        id
    });
    if let Some(m) = b.objects.get_mut(main)
        && m.origin.is_none()
    {
        m.origin = cfg.exe_origin.clone();
    }
    b.decompose_paths(main);
    let first_preload = b.chain.len();
    let secure = b.s.config.secure;
    if let Some(list) = &cfg.preload_env {
        for n in secure::split_preload_list(list, secure) {
            b.preload(main, &n, "LD_PRELOAD");
        }
    }
    if let Some(list) = &cfg.preload_arg {
        for n in secure::split_preload_list(list, secure) {
            b.preload(main, &n, "--preload");
        }
    }
    if let Some(pf) = &cfg.preload_file
        && b.s.fs.access(pf, rld_search::fs::Access::Read)
        && let Ok(bytes) = b.s.fs.read_whole(pf)
    {
        for n in secure::parse_preload_file(&bytes) {
            b.preload(main, &n, "/etc/ld.so.preload");
        }
    }
    let preloads: Vec<ObjId> = b.chain.get(first_preload..).unwrap_or(&[]).to_vec();

    // Breadth-first DT_NEEDED (glibc's `_dl_map_object_deps`).
    let mut queue: Vec<ObjId> = alloc::vec![main];
    queue.extend(preloads.iter().copied());
    let mut reserved: Vec<bool> = Vec::new();
    let mark = |r: &mut Vec<bool>, id: ObjId| {
        if r.len() <= id {
            r.resize(id + 1, false);
        }
        if let Some(x) = r.get_mut(id) {
            *x = true;
        }
    };
    for &q in &queue {
        mark(&mut reserved, q);
    }
    let mut qi = 0;
    while let Some(&l) = queue.get(qi) {
        qi += 1;
        let deps = b.map_needed(l, trace)?;
        for &dep in &deps {
            if !reserved.get(dep).copied().unwrap_or(false) {
                queue.push(dep);
                mark(&mut reserved, dep);
            }
        }
        if let Some(o) = b.objects.get_mut(l) {
            o.deps = deps;
        }
    }
    let searchlist: Vec<ObjId> = queue
        .iter()
        .copied()
        .filter(|&id| !(trace && b.objects.get(id).is_some_and(|o| o.kind == Kind::Missing)))
        .collect();

    // Put ld.so where the search list has it (or drop it from the chain when nobody needs it).
    b.chain.retain(|&id| id != rtld);
    if let Some(i) = searchlist
        .iter()
        .skip(1)
        .position(|&id| id == rtld)
        .map(|p| p + 1)
    {
        let prev = searchlist.get(i - 1).copied();
        let prev_pos = prev.and_then(|p| b.chain.iter().position(|&c| c == p));
        let pos = match prev_pos {
            Some(pp) => {
                let mut at = pp + 1;
                // At run time glibc keeps the vDSO right after ld.so's predecessor when it sits there.
                if cfg.mode == Mode::Normal
                    && let Some(v) = vdso
                    && b.chain.get(at) == Some(&v)
                    && searchlist.get(i + 1) != Some(&v)
                {
                    at += 1;
                }
                at
            }
            None => b.chain.len(),
        };
        let pos = pos.min(b.chain.len());
        b.chain.insert(pos, rtld);
    }

    let mut g = LoadGraph {
        objects: b.objects,
        chain: b.chain,
        searchlist,
        main,
        rtld,
        vdso,
        preloads,
        diags: b.diags,
        main_is_static,
    };
    if cfg.check_versions {
        crate::version::check_all(&mut g, trace, &cfg.program, searcher.trace)?;
    }
    Ok(g)
}

/// `ld.so --verify PROGRAM` exit status (what ldd keys on): 1 when the program cannot be loaded
/// or has no PT_DYNAMIC, 0 when it names an interpreter, 2 otherwise (e.g. static PIE).
pub fn verify_status<F: Fs>(searcher: &mut Searcher<'_, F>, cfg: &LoadConfig) -> i32 {
    let mut b = Builder {
        s: searcher,
        cfg,
        objects: Vec::new(),
        chain: Vec::new(),
        diags: Vec::new(),
        cwd: None,
        callmap: false,
        trace_by: None,
    };
    let Ok(main) = b.map_object(None, &cfg.program, false, false, Reason::Program) else {
        return 1;
    };
    match b.objects.get(main) {
        Some(m) if !m.dynamic.has_dynamic => 1,
        Some(m) if m.dynamic.interp.is_some() => 0,
        Some(_) => 2,
        None => 1,
    }
}

/// An object already in the process, as `dlopen`'s search sees it (glibc's link map facts
/// `_dl_map_object` and `_dl_map_object_deps` read).
#[derive(Clone, Debug)]
pub struct Prior {
    pub kind: Kind,
    /// `l_libname` (without NULs).
    pub names: Vec<Vec<u8>>,
    /// `l_name`.
    pub path: Vec<u8>,
    pub loader: Option<ObjId>,
    pub file_id: FileId,
    pub dynamic: DynInfo,
    pub origin: Option<Vec<u8>>,
    pub deps: Vec<ObjId>,
}

impl<H> From<Prior> for Object<H> {
    /// The builder's record of an object already in the process (nothing of it is open).
    fn from(p: Prior) -> Self {
        Object {
            kind: p.kind,
            names: p.names,
            path: p.path,
            reason: Reason::Builtin,
            loader: p.loader,
            file_id: p.file_id,
            stat: FileStat::default(),
            header: ElfHeader::default(),
            dynamic: p.dynamic,
            origin: p.origin,
            deps: p.deps,
            file: None,
            rpath: None,
            runpath: None,
            paths_done: false,
        }
    }
}

/// The result of [`open`]: every object (the priors first, with their ids, then the new ones),
/// the object asked for, the new objects in link-map order and the requested object's search
/// list (itself and its dependencies, breadth first).
#[derive(Debug)]
pub struct Opened<H> {
    pub objects: Vec<Object<H>>,
    pub target: ObjId,
    pub new: Vec<ObjId>,
    pub searchlist: Vec<ObjId>,
}

/// The result of [`open_in`]: the object asked for, the new objects (appended to the
/// caller's table) in link-map order, and the requested object's search list.
#[derive(Debug)]
pub struct OpenedIds {
    pub target: ObjId,
    pub new: Vec<ObjId>,
    pub searchlist: Vec<ObjId>,
}

/// glibc's `dl_open_worker` up to mapping: `_dl_map_object` of `name` on behalf of `caller`
/// (its RPATH/RUNPATH/$ORIGIN; None for names with '/' and no DST, as glibc passes no caller
/// map then), then `_dl_map_object_deps` breadth first. Nothing is mapped; files are left open
/// in the new objects. The requested object gets no `loader` (glibc's `__RTLD_CALLMAP`).
pub fn open<F: Fs>(
    searcher: &mut Searcher<'_, F>,
    cfg: &LoadConfig,
    priors: Vec<Prior>,
    chain: Vec<ObjId>,
    caller: Option<ObjId>,
    name: &[u8],
) -> Result<Opened<F::File>, Fatal> {
    let mut objects: Vec<Object<F::File>> = priors.into_iter().map(Object::from).collect();
    let r = open_in(searcher, cfg, &mut objects, chain, caller, name)?;
    Ok(Opened {
        objects,
        target: r.target,
        new: r.new,
        searchlist: r.searchlist,
    })
}

/// [`open`] over a table the caller keeps between opens (the process's objects by id, as
/// `Object::from(Prior)` or as an earlier `open_in` left them): the new objects are appended
/// to `objects`; on error it is truncated back to its length before the call. What the search
/// learns about objects already there stays, as in glibc's link maps: a name an object was
/// found by (`add_name_to_object`) and its decomposed RPATH/RUNPATH (`l_rpath_dirs`).
/// A dlopen then costs no copy of every loaded object's description.
pub fn open_in<F: Fs>(
    searcher: &mut Searcher<'_, F>,
    cfg: &LoadConfig,
    objects: &mut Vec<Object<F::File>>,
    chain: Vec<ObjId>,
    caller: Option<ObjId>,
    name: &[u8],
) -> Result<OpenedIds, Fatal> {
    let nprior = objects.len();
    let mut b = Builder {
        s: searcher,
        cfg,
        objects: core::mem::take(objects),
        chain,
        diags: Vec::new(),
        cwd: None,
        callmap: false,
        trace_by: None,
    };
    let r = open_builder(&mut b, nprior, caller, name);
    *objects = core::mem::take(&mut b.objects);
    if r.is_err() {
        objects.truncate(nprior);
    }
    r
}

fn open_builder<F: Fs>(
    b: &mut Builder<'_, '_, F>,
    nprior: usize,
    caller: Option<ObjId>,
    name: &[u8],
) -> Result<OpenedIds, Fatal> {
    let main = b.chain.first().copied();
    let loader = if name.contains(&b'/') && !name.contains(&b'$') {
        None
    } else {
        caller.or(main)
    };
    let reason = match loader {
        Some(by) => Reason::Needed { by, via: None },
        None => Reason::Program,
    };
    b.callmap = true;
    if loader.is_none() {
        b.trace_by = caller.or(main);
    }
    let target = b.map_object(loader, name, false, false, reason);
    b.callmap = false;
    b.trace_by = None;
    let target = target?;
    if target >= nprior
        && let Some(o) = b.objects.get_mut(target)
    {
        o.loader = None;
    }
    let mut queue: Vec<ObjId> = alloc::vec![target];
    let mut qi = 0;
    while let Some(&l) = queue.get(qi) {
        qi += 1;
        let deps = b.map_needed(l, false)?;
        for &dep in &deps {
            if !queue.contains(&dep) {
                queue.push(dep);
            }
        }
        if l >= nprior
            && let Some(o) = b.objects.get_mut(l)
        {
            o.deps = deps;
        }
    }
    let new: Vec<ObjId> = b.chain.iter().copied().filter(|&i| i >= nprior).collect();
    crate::version::check_new(&b.objects, &b.chain, &new, b.s.trace)?;
    Ok(OpenedIds {
        target,
        new,
        searchlist: queue,
    })
}
