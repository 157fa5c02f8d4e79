//! glibc 2.36's `_dl_map_object` search for one name: RPATH chain, LD_LIBRARY_PATH, RUNPATH,
//! ld.so.cache, system dirs, each dir with its hwcaps subdirs. Reports the rule that matched.

use crate::cache::{CacheParams, LdCache};
use crate::dst::{self, DstContext};
use crate::fs::{Errno, FileHandle, Fs, S_ISUID, errno};
use crate::hwcaps::Subdirs;
use crate::memo::{self, Memo};
use crate::verify::{ElfHeader, Verified, verify};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Debian 12 x86-64 `system_dirs` (trusted dirs), with trailing '/'.
pub const DEBIAN_SYSTEM_DIRS: [&[u8]; 4] = [
    b"/lib/x86_64-linux-gnu/",
    b"/usr/lib/x86_64-linux-gnu/",
    b"/lib/",
    b"/usr/lib/",
];
/// `$LIB` on Debian x86-64.
pub const DEBIAN_DST_LIB: &[u8] = b"lib/x86_64-linux-gnu";
pub const LD_SO_CACHE: &[u8] = b"/etc/ld.so.cache";

/// A decomposed search path (RPATH, RUNPATH, LD_LIBRARY_PATH): directories ending in '/',
/// or empty for the current directory; duplicates removed; never empty (absent instead).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchPath {
    pub dirs: Vec<Vec<u8>>,
}

impl SearchPath {
    /// glibc's `fillin_rpath`: split on any of `seps`, expand DSTs, drop empty expansions,
    /// normalise trailing slashes. `None` when no directory remains.
    pub fn decompose(raw: &[u8], seps: &[u8], ctx: &DstContext<'_>) -> Option<SearchPath> {
        if raw.is_empty() {
            return None;
        }
        let mut dirs: Vec<Vec<u8>> = Vec::new();
        for elem in raw.split(|c| seps.contains(c)) {
            let mut d = Vec::new();
            if !elem.is_empty() {
                d = dst::expand(elem, ctx);
                if d.is_empty() {
                    continue;
                }
                while d.len() > 1 && d.last() == Some(&b'/') {
                    d.pop();
                }
                if d.last() != Some(&b'/') {
                    d.push(b'/');
                }
            }
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
        if dirs.is_empty() {
            None
        } else {
            Some(SearchPath { dirs })
        }
    }
}

/// Where the `LD_LIBRARY_PATH` list came from (glibc prints it in LD_DEBUG output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibraryPathSource {
    Env,
    CommandLine,
}

/// Process-wide search settings (from environment, command line, auxv and cpu features).
#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// Decomposed LD_LIBRARY_PATH / --library-path (ignored under AT_SECURE by the caller).
    pub library_path: Option<SearchPath>,
    pub library_path_source: LibraryPathSource,
    pub inhibit_cache: bool,
    /// AT_SECURE.
    pub secure: bool,
    pub subdirs: Subdirs,
    /// Default directories, with trailing '/'.
    pub system_dirs: Vec<Vec<u8>>,
    pub platform: Option<Vec<u8>>,
    pub dst_lib: Vec<u8>,
    pub cache_path: Vec<u8>,
    /// `dl_hwcap & hwcap_mask` for cache entries.
    pub cache_hwcap: u64,
    pub cache_platform_bit: Option<u64>,
    pub isa_1: u32,
    /// glibc-hwcaps names, best first (cache priorities).
    pub hwcaps_names: Vec<Vec<u8>>,
}

impl SearchConfig {
    /// Debian 12 x86-64 defaults for a CPU at `level` with platform `platform` ("x86_64" or "haswell"...).
    pub fn debian_x86_64(
        level: crate::hwcaps::IsaLevel,
        platform: Option<&[u8]>,
        hwcap_names: &[&[u8]],
    ) -> Self {
        let names = crate::hwcaps::glibc_hwcaps_names(level, None, None);
        let legacy = crate::hwcaps::legacy_subdirs(hwcap_names, platform);
        let mut cache_hwcap = 0u64;
        for n in hwcap_names {
            match *n {
                b"x86_64" => cache_hwcap |= 1 << 1,
                b"avx512_1" => cache_hwcap |= 1 << 2,
                _ => {}
            }
        }
        let cache_platform_bit = match platform {
            Some(b"haswell") => Some(1u64 << 50),
            Some(b"xeon_phi") => Some(1u64 << 51),
            _ => None,
        };
        SearchConfig {
            library_path: None,
            library_path_source: LibraryPathSource::Env,
            inhibit_cache: false,
            secure: false,
            subdirs: Subdirs::new(&names, legacy),
            system_dirs: DEBIAN_SYSTEM_DIRS.iter().map(|d| d.to_vec()).collect(),
            platform: platform.map(|p| p.to_vec()),
            dst_lib: DEBIAN_DST_LIB.to_vec(),
            cache_path: LD_SO_CACHE.to_vec(),
            cache_hwcap,
            cache_platform_bit,
            isa_1: level.isa_1_bits(),
            hwcaps_names: names,
        }
    }

    /// Trusted directories as slices.
    pub fn trusted(&self) -> Vec<&[u8]> {
        self.system_dirs.iter().map(|d| d.as_slice()).collect()
    }
}

/// Which rule found a library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The name contained a '/': opened as given (after DST expansion).
    DirectPath,
    /// DT_RPATH of the object with this id (the requester or one of its loaders, or the main program).
    Rpath { owner: usize },
    /// LD_LIBRARY_PATH or --library-path.
    LibraryPath(LibraryPathSource),
    /// DT_RUNPATH of the requesting object.
    Runpath { owner: usize },
    /// /etc/ld.so.cache.
    Cache,
    /// One of the default system directories.
    SystemDir,
}

/// Why a library was found where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundVia {
    pub rule: Rule,
    /// Directory searched (with trailing '/'); empty for direct paths and the cache.
    pub dir: Vec<u8>,
    /// hwcaps subdirectory prefix within `dir` (e.g. `glibc-hwcaps/x86-64-v3/`), empty if none.
    pub subdir: Vec<u8>,
}

/// A successful search: the open file, its path (glibc's `realname`) and header.
#[derive(Debug)]
pub struct Found<H> {
    pub path: Vec<u8>,
    pub file: H,
    pub header: ElfHeader,
    pub via: FoundVia,
}

/// A failed search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchError {
    /// Nothing usable: glibc reports "cannot open shared object file" with `errno`, or
    /// "wrong ELF class: ELFCLASS32" when only other-class files were seen.
    NotFound { errno: Errno, other_class: bool },
    /// A candidate was broken: glibc aborts the search with `msg` about `path`.
    Fatal {
        errno: Errno,
        path: Vec<u8>,
        msg: &'static str,
    },
}

impl SearchError {
    /// glibc's (errno, message) pair for a failure to find `name`.
    pub fn message(&self) -> (Errno, &'static str) {
        match self {
            SearchError::NotFound {
                other_class: true, ..
            } => (0, "wrong ELF class: ELFCLASS32"),
            SearchError::NotFound { errno, .. } => (*errno, "cannot open shared object file"),
            SearchError::Fatal { errno, msg, .. } => (*errno, msg),
        }
    }
}

/// What the search (and rld-deps around it) is doing, for LD_DEBUG=libs/files. The loader
/// formats these like glibc's `_dl_debug_printf` calls; nothing is printed here.
#[derive(Clone, Copy, Debug)]
pub enum TraceEvent<'a> {
    /// `file=NAME [0];  needed by BY [0]` (rld-deps; `by` is the loader's `l_name`).
    Needed { name: &'a [u8], by: &'a [u8] },
    /// `file=NAME [0];  dynamically loaded by BY [0]` (the object dlopen names).
    LoadedBy { name: &'a [u8], by: &'a [u8] },
    /// `find library=NAME [0]; searching`.
    FindLibrary { name: &'a [u8] },
    /// ` search path=LIST\t\t(WHAT from file OWNER)`: `list` is already joined with ':'.
    SearchPath {
        list: &'a [u8],
        what: &'a str,
        owner: Option<&'a [u8]>,
    },
    /// ` search cache=PATH`.
    SearchCache { path: &'a [u8] },
    /// `  trying file=PATH`.
    Trying { path: &'a [u8] },
    /// The blank line ending a search for a name without '/'.
    SearchDone,
    /// `file=NAME [0];  generating link map` and the mapped image's addresses (rld-deps,
    /// after `prepare_image`).
    LinkMap {
        name: &'a [u8],
        header: &'a ElfHeader,
        image: Option<crate::fs::ImageInfo>,
    },
    /// rld-deps added the vDSO (glibc's `setup_vdso`).
    Vdso,
    /// `checking for version `VERSION' in file FILE [0] required by file BY [0]` (rld-deps'
    /// version check; `file` and `by` as glibc's `DSO_FILENAME` names them).
    VersionCheck {
        version: &'a [u8],
        file: &'a [u8],
        by: &'a [u8],
    },
}

/// A directory's first label for LD_DEBUG=libs: (dir, what, owner).
type DirLabel = (Vec<u8>, &'static str, Option<Vec<u8>>);

/// A trace sink; `None` in `Searcher::trace` costs one branch per event site.
pub type Trace = fn(&TraceEvent<'_>);

/// One lookup's inputs from the dependency graph.
#[derive(Clone, Copy, Debug)]
pub struct Request<'r> {
    pub name: &'r [u8],
    /// RPATH lists to try, in order (owner id, path); empty if the requester has a RUNPATH.
    pub rpaths: &'r [(usize, &'r SearchPath)],
    /// The requester's own RUNPATH.
    pub runpath: Option<(usize, &'r SearchPath)>,
    /// DF_1_NODEFLIB on the requester (or main program when there is none).
    pub nodeflib: bool,
    /// `__RTLD_SECURE` (preloading): under AT_SECURE only setuid files, no cache.
    pub secure_open: bool,
    /// False while loading the main program given to `ld.so` (paths not initialised yet).
    pub paths_ready: bool,
    /// DST context of the requester for names with '/'.
    pub dst: Option<DstContext<'r>>,
    /// `l_name` of the owners in `rpaths`/`runpath`, for LD_DEBUG=libs (may be empty).
    pub owner_names: &'r [(usize, &'r [u8])],
}

impl<'r> Request<'r> {
    fn owner_names_of(&self, o: usize) -> &'r [u8] {
        self.owner_names
            .iter()
            .find(|n| n.0 == o)
            .map_or(&b""[..], |n| n.1)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DirStatus {
    Existing,
    Nonexisting,
}

/// (path, file, header, dir, subdir) of a successful `open_path`.
type Hit<H> = (Vec<u8>, H, ElfHeader, Vec<u8>, Vec<u8>);

enum Probe<H> {
    Found(H, ElfHeader),
    Failed,
}

/// The search engine; keeps glibc's per-directory existence cache between lookups.
pub struct Searcher<'f, F: Fs> {
    pub fs: &'f F,
    pub config: SearchConfig,
    /// Per directory, the status of each hwcaps subdirectory (index `cnt`): keyed by the
    /// directory alone so lookups need no owned key.
    status: BTreeMap<Vec<u8>, Vec<Option<DirStatus>>>,
    cache: Option<Option<F::Bytes>>,
    /// A previous launch's cache answers (`set_memo`), and whether they hold for this
    /// launch's cache file (None: not checked yet).
    memo: Option<(Memo, Option<bool>)>,
    /// This launch's cache answers (`take_memo`).
    memo_log: memo::Log,
    /// errno as glibc would see it after the last failed operation.
    errno: Errno,
    other_class: bool,
    /// LD_DEBUG=libs/files sink.
    pub trace: Option<Trace>,
    /// First label of each directory seen by a traced search: (dir, what, owner).
    labels: Vec<DirLabel>,
}

impl<'f, F: Fs> Searcher<'f, F> {
    pub fn new(fs: &'f F, config: SearchConfig) -> Self {
        Searcher {
            fs,
            config,
            status: BTreeMap::new(),
            cache: None,
            memo: None,
            memo_log: memo::Log::default(),
            errno: 0,
            other_class: false,
            trace: None,
            labels: Vec::new(),
        }
    }

    /// open_verify on one path.
    fn try_open(&mut self, path: &[u8]) -> Result<Probe<F::File>, SearchError> {
        let h = match self.fs.open(path) {
            Ok(h) => h,
            Err(e) => {
                self.errno = e;
                return Ok(Probe::Failed);
            }
        };
        self.errno = 0;
        match verify(&h) {
            Ok(Verified::Usable(hdr)) => Ok(Probe::Found(h, hdr)),
            Ok(Verified::OtherClass) => {
                self.other_class = true;
                self.errno = errno::ENOENT;
                Ok(Probe::Failed)
            }
            Ok(Verified::OtherMachine) => {
                self.errno = errno::ENOENT;
                Ok(Probe::Failed)
            }
            Err(e) => Err(SearchError::Fatal {
                errno: e.errno,
                path: path.to_vec(),
                msg: e.msg,
            }),
        }
    }

    fn emit(&self, e: &TraceEvent<'_>) {
        if let Some(t) = self.trace {
            t(e);
        }
    }

    /// glibc keeps one `r_search_path_elem` per directory (`GL(dl_all_dirs)`), labelled by
    /// the list that first named it: the system directories, then each list at its first use.
    /// LD_DEBUG=libs prints those labels, so the first labels are remembered here.
    fn dir_label(&mut self, dir: &[u8], what: &'static str, owner: Option<&[u8]>) -> usize {
        if self.labels.is_empty() {
            for d in self.config.system_dirs.clone() {
                self.labels.push((d, "system search path", None));
            }
        }
        if let Some(i) = self.labels.iter().position(|l| l.0 == dir) {
            return i;
        }
        self.labels
            .push((dir.to_vec(), what, owner.map(<[u8]>::to_vec)));
        self.labels.len() - 1
    }

    /// glibc's `print_search_path`: from `dirs[0]` on, while the label stays the same, every
    /// directory/subdirectory not known to be missing.
    fn trace_search_path(&self, dirs: &[Vec<u8>], labels: &[usize]) {
        let Some(first) = labels.first().and_then(|&i| self.labels.get(i)) else {
            return;
        };
        let mut list = Vec::new();
        for (dir, &l) in dirs.iter().zip(labels) {
            if self.labels.get(l).map(|x| x.1) != Some(first.1) {
                break;
            }
            let relative = dir.first() != Some(&b'/');
            for (cnt, sub) in self.config.subdirs.prefixes.iter().enumerate() {
                if !relative && self.dir_status(dir, cnt) == Some(DirStatus::Nonexisting) {
                    continue;
                }
                let mut buf = dir.clone();
                buf.extend_from_slice(sub);
                if buf.len() > 1 {
                    buf.pop();
                }
                if !list.is_empty() {
                    list.push(b':');
                }
                list.extend_from_slice(&buf);
            }
        }
        self.emit(&TraceEvent::SearchPath {
            list: &list,
            what: first.1,
            owner: first.2.as_deref(),
        });
    }

    fn dir_status(&self, dir: &[u8], cnt: usize) -> Option<DirStatus> {
        self.status
            .get(dir)
            .and_then(|v| v.get(cnt).copied().flatten())
    }

    fn set_dir_status(&mut self, dir: &[u8], cnt: usize, s: DirStatus) {
        let nsub = self.config.subdirs.prefixes.len().max(cnt + 1);
        if !self.status.contains_key(dir) {
            self.status.insert(dir.to_vec(), Vec::new());
        }
        let Some(v) = self.status.get_mut(dir) else {
            return;
        };
        if v.len() <= cnt {
            v.resize(nsub, None);
        }
        if let Some(slot) = v.get_mut(cnt) {
            *slot = Some(s);
        }
    }

    /// glibc's `open_path` over one list; `Ok(None)` when nothing was found there.
    fn open_path(
        &mut self,
        name: &[u8],
        dirs: &[Vec<u8>],
        secure_open: bool,
        what: (&'static str, Option<&[u8]>),
    ) -> Result<Option<Hit<F::File>>, SearchError> {
        let nsub = self.config.subdirs.prefixes.len();
        let labels: Vec<usize> = if self.trace.is_some() {
            dirs.iter()
                .map(|d| self.dir_label(d, what.0, what.1))
                .collect()
        } else {
            Vec::new()
        };
        let mut current: Option<&'static str> = None;
        for (k, dir) in dirs.iter().enumerate() {
            if let Some(&l) = labels.get(k) {
                let w = self.labels.get(l).map(|x| x.1);
                if w != current {
                    current = w;
                    self.trace_search_path(
                        dirs.get(k..).unwrap_or(&[]),
                        labels.get(k..).unwrap_or(&[]),
                    );
                }
            }
            let mut here_any = false;
            for cnt in 0..nsub {
                let relative = dir.first() != Some(&b'/');
                let known = if relative {
                    Some(DirStatus::Existing)
                } else {
                    self.dir_status(dir, cnt)
                };
                if known == Some(DirStatus::Nonexisting) {
                    continue;
                }
                let sub = self
                    .config
                    .subdirs
                    .prefixes
                    .get(cnt)
                    .map_or(&[][..], Vec::as_slice);
                let mut path = Vec::with_capacity(dir.len() + sub.len() + name.len());
                path.extend_from_slice(dir);
                path.extend_from_slice(sub);
                path.extend_from_slice(name);
                self.emit(&TraceEvent::Trying { path: &path });
                let probe = self.try_open(&path)?;
                let mut status = known;
                if status.is_none() {
                    status = Some(match &probe {
                        Probe::Found(..) => DirStatus::Existing,
                        Probe::Failed => {
                            // glibc cuts the buffer at the '/' before the name.
                            let cut = path.len().saturating_sub(name.len() + 1);
                            let d = path.get(..cut).unwrap_or(&[]);
                            match self.fs.stat(d) {
                                Ok(st) if st.is_dir() => DirStatus::Existing,
                                Ok(_) => DirStatus::Nonexisting,
                                Err(e) => {
                                    self.errno = e;
                                    DirStatus::Nonexisting
                                }
                            }
                        }
                    });
                    if let Some(s) = status {
                        self.set_dir_status(dir, cnt, s);
                    }
                }
                here_any |= status != Some(DirStatus::Nonexisting);
                if let Probe::Found(h, hdr) = probe {
                    if secure_open && self.config.secure {
                        let suid = matches!(h.stat(), Ok(st) if st.mode & S_ISUID != 0);
                        if !suid {
                            self.errno = errno::ENOENT;
                            continue;
                        }
                    }
                    let sub = self
                        .config
                        .subdirs
                        .prefixes
                        .get(cnt)
                        .cloned()
                        .unwrap_or_default();
                    return Ok(Some((path, h, hdr, dir.clone(), sub)));
                }
            }
            if here_any && self.errno != errno::ENOENT && self.errno != errno::EACCES {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Answers `ld.so.cache` lookups from a previous launch's memo where it holds (see
    /// `memo`). Not with LD_DEBUG tracing, whose output shows the lookups.
    pub fn set_memo(&mut self, m: Memo) {
        if self.trace.is_none() {
            self.memo = Some((m, None));
        }
    }

    /// This launch's cache answers, encoded for the next launch (None if there are none, or
    /// none that can be remembered).
    pub fn take_memo(&mut self) -> Option<Vec<u8>> {
        core::mem::take(&mut self.memo_log).encode(memo::params_hash(&self.config))
    }

    /// Ends the search: the settings stay (dlopen searches with them). The cache file stays
    /// mapped if it was: an unmap costs more than the mapping's share of the exit (5-6 us
    /// against ~2 here).
    pub fn into_config(mut self) -> SearchConfig {
        if let Some(Some(m)) = self.cache.take() {
            core::mem::forget(m);
        }
        self.config
    }

    /// The memo's answer for `name`, if it has one for this launch's cache file.
    fn memo_lookup(&mut self, name: &[u8]) -> Option<Option<Vec<u8>>> {
        let (m, valid) = self.memo.as_mut()?;
        if valid.is_none() {
            let params = memo::params_hash(&self.config);
            let now = self
                .fs
                .stat(&self.config.cache_path)
                .ok()
                .map(|s| s.stamp());
            *valid = Some(now.is_some_and(|s| m.valid_for(&s, params)));
            if *valid == Some(true) {
                self.memo_log.source(now);
            }
        }
        if *valid != Some(true) {
            return None;
        }
        let answer = m.get(name)?.map(<[u8]>::to_vec);
        self.memo_log.answer(name, answer.as_deref());
        Some(answer)
    }

    fn cache_lookup(&mut self, name: &[u8]) -> Option<Vec<u8>> {
        if self.trace.is_some() {
            let path = self.config.cache_path.clone();
            self.emit(&TraceEvent::SearchCache { path: &path });
        }
        if let Some(answer) = self.memo_lookup(name) {
            return answer;
        }
        if self.cache.is_none() {
            let path = self.config.cache_path.clone();
            let read = self.fs.read_whole_stamped(&path).ok();
            self.memo_log.source(read.as_ref().map(|(_, s)| s.stamp()));
            self.cache = Some(read.map(|(b, _)| b));
        }
        let answer = self.cache_lookup_mapped(name);
        self.memo_log.answer(name, answer.as_deref());
        answer
    }

    fn cache_lookup_mapped(&self, name: &[u8]) -> Option<Vec<u8>> {
        let bytes = self.cache.as_ref()?.as_ref()?;
        let cache = LdCache::parse(bytes)?;
        let prio: Vec<&[u8]> = self
            .config
            .hwcaps_names
            .iter()
            .map(|n| n.as_slice())
            .collect();
        let params = CacheParams {
            hwcap: self.config.cache_hwcap,
            platform_bit: self.config.cache_platform_bit,
            isa_1: self.config.isa_1,
            hwcaps_priority: &prio,
        };
        cache.lookup(name, &params).map(|p| p.to_vec())
    }

    /// Find `req.name` as glibc's `_dl_map_object` does (after the already-loaded check).
    pub fn search(&mut self, req: &Request<'_>) -> Result<Found<F::File>, SearchError> {
        self.other_class = false;
        let name = req.name;
        if name.contains(&b'/') {
            return self.search_direct(req);
        }
        self.emit(&TraceEvent::FindLibrary { name });
        let r = self.search_dirs(req);
        self.emit(&TraceEvent::SearchDone);
        r
    }

    fn search_direct(&mut self, req: &Request<'_>) -> Result<Found<F::File>, SearchError> {
        let name = req.name;
        let path = match &req.dst {
            Some(ctx) => dst::expand(name, ctx),
            None => name.to_vec(),
        };
        if path.is_empty() {
            // glibc passes the empty result on to open(), which fails with ENOENT.
            self.errno = errno::ENOENT;
        } else if let Probe::Found(h, hdr) = self.try_open(&path)? {
            return Ok(Found {
                path,
                file: h,
                header: hdr,
                via: FoundVia {
                    rule: Rule::DirectPath,
                    dir: Vec::new(),
                    subdir: Vec::new(),
                },
            });
        }
        Err(SearchError::NotFound {
            errno: self.errno,
            other_class: self.other_class,
        })
    }

    fn search_dirs(&mut self, req: &Request<'_>) -> Result<Found<F::File>, SearchError> {
        let name = req.name;
        let owner = |o: usize| req.owner_names_of(o);
        if req.paths_ready {
            for (o, sp) in req.rpaths {
                let what = ("RPATH", Some(owner(*o)));
                if let Some(f) = self.open_path(name, &sp.dirs, req.secure_open, what)? {
                    let owner = *o;
                    return Ok(found(f, Rule::Rpath { owner }));
                }
            }
            let lp_what = match self.config.library_path_source {
                LibraryPathSource::Env => "LD_LIBRARY_PATH",
                LibraryPathSource::CommandLine => "--library-path",
            };
            if let Some(lp) = self.config.library_path.clone()
                && let Some(f) = self.open_path(name, &lp.dirs, req.secure_open, (lp_what, None))?
            {
                return Ok(found(f, Rule::LibraryPath(self.config.library_path_source)));
            }
            if let Some((owner, sp)) = req.runpath
                && let Some(f) = self.open_path(
                    name,
                    &sp.dirs,
                    req.secure_open,
                    ("RUNPATH", Some(req.owner_names_of(owner))),
                )?
            {
                return Ok(found(f, Rule::Runpath { owner }));
            }
        }
        if !(self.config.inhibit_cache || req.secure_open && self.config.secure)
            && let Some(cached) = self.cache_lookup(name)
        {
            self.emit(&TraceEvent::Trying { path: &cached });
            let in_system = self
                .config
                .system_dirs
                .iter()
                .any(|d| cached.starts_with(d));
            if !(req.nodeflib && in_system)
                && let Probe::Found(h, hdr) = self.try_open(&cached)?
            {
                return Ok(Found {
                    path: cached,
                    file: h,
                    header: hdr,
                    via: FoundVia {
                        rule: Rule::Cache,
                        dir: Vec::new(),
                        subdir: Vec::new(),
                    },
                });
            }
        }
        if req.paths_ready && !req.nodeflib {
            let dirs = self.config.system_dirs.clone();
            let what = ("system search path", None);
            if let Some(f) = self.open_path(name, &dirs, req.secure_open, what)? {
                return Ok(found(f, Rule::SystemDir));
            }
        }
        Err(SearchError::NotFound {
            errno: self.errno,
            other_class: self.other_class,
        })
    }
}

fn found<H>(f: Hit<H>, rule: Rule) -> Found<H> {
    let (path, file, header, dir, subdir) = f;
    Found {
        path,
        file,
        header,
        via: FoundVia { rule, dir, subdir },
    }
}
