//! The launch cache in the loader: where records live, what their fingerprint covers, and
//! reading and writing them (the record format is `rld_link::launch`).
//!
//! One record per program and launch configuration, named `DEV-INO-HASH`: the program file's
//! device and inode and a hash of the launch settings that shape the dependency graph and
//! the bindings (`settings_hash`), all in hex, in `$RLD_LAUNCH_CACHE` (`""`, `0` or `off`:
//! no cache), else `$XDG_CACHE_HOME/rld`, else `$HOME/.cache/rld`. The name is known before
//! the graph is built, so the record is read first (`find`) and the graph's library search
//! answers `/etc/ld.so.cache` lookups from the record's search memo where the cache file is
//! unchanged (`rld_search::memo`). Start-up builds the dependency graph as always, then:
//! - a record whose fingerprint matches (same files, unchanged, in the same graph, with the
//!   same settings, for this very rld build) supplies every object's bindings, and no symbol
//!   is looked up;
//! - otherwise objects are planned as usual and the plans are written to a new record
//!   (write to a temporary file, then rename: readers see a whole record or none).
//!
//! Start-ups with fewer than `MIN_START_REFS` symbolic relocations and dlopens with fewer
//! than `MIN_DL_REFS` get no record (it would cost what it saves). Big dlopens (Python
//! extension modules and their libraries, a JVM) get records too, named by a hash of their
//! fingerprint: every object of the process with its identity, the global scope, the new
//! objects' scopes, their relocation order, lazy binding and the STB_GNU_UNIQUE table as it
//! was before; the record holds the unique entries the dlopen added, which a replay enters
//! again.
//!
//! Never used when it could change what the user sees or trusts: in secure (setuid) mode,
//! with LD_DEBUG (its output comes from the lookups), LD_AUDIT or LD_PROFILE, or when the
//! launch fails to bind a symbol. A record is read only from a file owned by the user that
//! others cannot write. Every failure (no directory, read-only disk, a corrupt or foreign
//! record) just means planning as without a cache.

use alloc::vec::Vec;

use rld_deps::Kind;
use rld_elf::memory::Memory;
use rld_link::launch::{Record, Writer};
use rld_link::plan::PreboundSlot;
use rld_link::relr::RelrWriter;
use rld_link::{Namespace, ObjId, ObjPlan};

use super::objects::Loaded;
use super::reloc::Relative;
use crate::cli::Config;
use crate::sys;
use rld_search::fs::FileStat;
use rld_search::verify::Phdr;

/// Bump when what the fingerprint covers changes meaning.
const FINGERPRINT_VERSION: u64 = 3;
/// Records larger than this are not used (inkscape's is ~1.8 MB): each is checksummed whole
/// before anything in it is trusted, so its size is start-up work.
const MAX_RECORD: u64 = 64 << 20;

/// The record file of this launch: its path and, if one could be read, its bytes.
pub struct Source {
    /// `dir/name` with a NUL.
    path: Vec<u8>,
    dir_len: usize,
    /// The record's bytes, if one could be read.
    file: Option<RecordBytes>,
    fingerprint: Vec<u64>,
    label: Vec<u8>,
    /// The directory is the default one (see `make_directory`).
    default: bool,
    /// The directory's size cap.
    cap: u64,
    /// A dlopen's record: the unique table's keys and the number of diagnostics before its
    /// planning (the record holds the entries added; none is written after a diagnostic).
    dlopen: Option<(Vec<Vec<u8>>, usize)>,
    /// The program file's stamp the record is named by.
    program: [u64; 5],
    /// The fewest symbolic relocations a start-up needs for a record.
    min_refs: usize,
    /// This launch's search memo, for a new record.
    memo: Vec<u8>,
}

/// The cache's settings for this process (kept in the runtime for dlopen; None when the
/// cache is off).
#[derive(Clone, Debug)]
pub struct Dl {
    dir: Vec<u8>,
    /// RLD_LAUNCH_CACHE_MIN, if set.
    min: Option<usize>,
    /// The directory's size cap (RLD_LAUNCH_CACHE_SIZE, else `DEFAULT_CACHE_SIZE`): after
    /// writing a record, the least recently used ones go until the rest take 3/4 of it.
    cap: u64,
    /// The directory is the default one, under `$XDG_CACHE_HOME` or `$HOME` (see
    /// `make_directory`).
    default: bool,
}

/// What start-up does with the cache: replay a record, or plan and write one.
pub enum Cache<'s> {
    Off,
    Hit(Record<'s>),
    Miss { src: &'s Source, writer: Writer },
}

/// What the fingerprint is made of, gathered by `run`.
pub struct Facts<'x> {
    pub objs: &'x [Loaded],
    pub main: usize,
    pub searchlist: &'x [usize],
    pub order: &'x [usize],
    pub lazy: &'x [bool],
    pub dynamic_weak: bool,
    /// The program's name, kept in the record for people listing records.
    pub label: &'x [u8],
    /// Symbolic relocations start-up plans (`Planner::references` summed).
    pub refs: usize,
    /// The effective uid from the aux vector (AT_EUID): no program code has run yet that
    /// could have changed it, so reading the record needs no `geteuid` call.
    pub euid: u32,
    /// LD_BIND_NOT.
    pub bind_not: bool,
    /// This launch's search memo (`Searcher::take_memo`), for a new record.
    pub memo: Option<Vec<u8>>,
}

/// Start-ups planning fewer symbolic relocations than this neither read nor write a record:
/// reading one costs four system calls, about what planning fifty relocations costs. Every program linked with libc plans more (libc alone has ~80): `true` (97
/// relocations) starts ~5 us sooner with its record (699 vs 704 us, 6,000 interleaved
/// spawns, 2026-11-22), perl and `python3 -c pass` (~134) ~2% sooner, `ls` (344) ~4%.
/// RLD_LAUNCH_CACHE_MIN overrides it (and `MIN_DL_REFS`).
const MIN_START_REFS: usize = 50;

/// The same for dlopens: a dlopen's record also costs a fingerprint of every object of the
/// process, and small libraries (a plugin, an NSS module) plan a handful of relocations.
const MIN_DL_REFS: usize = 120;

/// The cache's settings; None when it is off (secure mode, LD_DEBUG, LD_AUDIT, LD_PROFILE,
/// a report mode, RLD_LAUNCH_CACHE=0, or no directory).
pub fn settings(cfg: &Config<'_>) -> Option<Dl> {
    if cfg.secure
        || cfg.any_debug
        || !cfg.audit.is_empty()
        || cfg.profile.is_some()
        || cfg.mode != crate::cli::Mode::Normal
    {
        return None;
    }
    let (dir, default) = directory(cfg)?;
    Some(Dl {
        dir,
        min: cfg.launch_cache_min,
        cap: cfg
            .launch_cache_size
            .unwrap_or(rld_link::launch::DEFAULT_CACHE_SIZE),
        default,
    })
}

/// What names the records of a program: the launch settings that change its dependency
/// graph or its bindings, and the rld build (whose own identity the fingerprint also holds).
/// Launches that differ in them keep a record each (two rld builds, LD_BIND_NOW or
/// LD_LIBRARY_PATH in one shell and not in another) instead of replacing each other's at
/// every start, which cost each start ~0.4 ms here. Launches that differ in anything else
/// (a library updated) share the name: the record is checked word for word against the
/// fingerprint, and replaced when it does not match.
#[inline(never)]
pub fn settings_hash(cfg: &Config<'_>, rld_build: Option<[u64; 3]>) -> u64 {
    let mut w: Vec<u64> = Vec::with_capacity(32);
    w.push(FINGERPRINT_VERSION);
    w.extend(rld_build.unwrap_or_default());
    let flags = [
        cfg.inhibit_cache,
        cfg.bind_now,
        cfg.bind_not,
        cfg.dynamic_weak,
        cfg.library_path_source == Some(crate::cli::LibraryPathSource::Option),
    ];
    w.push(flags.iter().fold(0, |f, &b| f << 1 | u64::from(b)));
    for v in [
        cfg.library_path,
        cfg.glibc_hwcaps_prepend,
        cfg.glibc_hwcaps_mask,
        cfg.inhibit_rpath,
        cfg.preload_env,
        cfg.preload_arg,
        cfg.tunables,
    ] {
        match v {
            // Unset and empty differ (LD_LIBRARY_PATH= is an empty list, not none).
            None => w.push(u64::MAX),
            Some(b) => {
                w.push(b.len() as u64);
                w.extend(words(b));
            }
        }
    }
    fingerprint_hash(&w)
}

/// The record file of program `program` (its stamp) launched with settings hashing to
/// `settings`, read if present: start-up reads it before the dependency graph is built.
#[inline(never)]
pub fn find(dl: &Dl, program: [u64; 5], settings: u64, euid: u32) -> Source {
    let mut path = dl.dir.clone();
    let dir_len = path.len();
    path.push(b'/');
    hex(&mut path, program[0]);
    path.push(b'-');
    hex(&mut path, program[1]);
    path.push(b'-');
    hex(&mut path, settings);
    path.push(0);
    let file = read_record(&path, Some(euid), MAP_START_RECORD_MIN);
    Source {
        path,
        dir_len,
        file,
        fingerprint: Vec::new(),
        label: Vec::new(),
        default: dl.default,
        cap: dl.cap,
        dlopen: None,
        program,
        min_refs: dl.min.unwrap_or(MIN_START_REFS),
        memo: Vec::new(),
    }
}

/// The stamp of the program file the kernel mapped (PT_INTERP): /proc/self/exe's. A program
/// rld maps itself has its stamp from the file it opened.
#[inline(never)]
pub fn kernel_program_stamp() -> Option<[u64; 5]> {
    let s: FileStat = sys::stat(c"/proc/self/exe").ok()?.into();
    Some(s.stamp())
}

/// The stamp of the program file at `path` (rld was invoked as a command), if the path
/// names it: a bare name is searched for like a library, so its file is known only after
/// the graph is built.
#[inline(never)]
pub fn program_stamp(path: &[u8]) -> Option<[u64; 5]> {
    use rld_search::fs::Fs;
    if !path.contains(&b'/') {
        return None;
    }
    crate::fs::LoaderFs.stat(path).ok().map(|s| s.stamp())
}

/// The record file for this start-up when it could not be named before the graph was
/// built (`find`): named by the program file the graph opened.
#[inline(never)]
pub fn open(dl: &Dl, facts: &Facts<'_>, settings: u64) -> Option<Source> {
    let o = facts.objs.get(facts.main).filter(|o| o.stamp[1] != 0)?;
    find(dl, o.stamp, settings, facts.euid).bind(facts)
}

impl Source {
    /// The search memo of the record read, if it has an intact one.
    #[inline(never)]
    pub fn search_memo(&self) -> Option<rld_search::memo::Memo> {
        let bytes = rld_link::launch::search_memo(self.file.as_deref()?)?;
        rld_search::memo::Memo::decode(bytes)
    }

    /// The start-up's fingerprint, once the graph is built; None for a start-up too small
    /// for a record (`MIN_START_REFS`) or one whose objects cannot all be identified.
    #[inline(never)]
    pub fn bind(mut self, facts: &Facts<'_>) -> Option<Source> {
        if facts.refs < self.min_refs {
            return None;
        }
        let main = match facts.objs.get(facts.main) {
            Some(o) if o.stamp[1] != 0 => o.stamp,
            _ => self.program,
        };
        self.fingerprint = fingerprint(facts, &main)?;
        self.label = facts.label.to_vec();
        self.memo = facts.memo.clone().unwrap_or_default();
        Some(self)
    }

    /// Done with a start-up's record: a mapped one stays (an unmap would be one more system
    /// call before the program starts; the mapping is private and read-only).
    pub fn keep(mut self) {
        if let Some(RecordBytes::Mapped(m)) = self.file.take() {
            core::mem::forget(m);
        }
    }

    /// Replays the record if it was made for this launch and fits `ns`; else prepares a new
    /// one. `planned`: the objects start-up relocates, with their lazy-PLT flag.
    pub fn cache(&self, ns: &mut Namespace<'_>, planned: &[(ObjId, bool)]) -> Cache<'_> {
        if let Some(r) = self
            .file
            .as_ref()
            .and_then(|f| Record::parse(f))
            .filter(|r| r.matches(&self.fingerprint) && r.check(ns, planned))
        {
            r.restore_unique(ns);
            return Cache::Hit(r);
        }
        Cache::Miss {
            src: self,
            writer: Writer::new(&self.fingerprint, &self.label, &self.memo),
        }
    }

    fn write(&self, bytes: &[u8]) {
        if write_record(&self.path, self.dir_len, self.default, bytes) {
            trim(&self.path, self.dir_len, self.cap);
        }
    }
}

/// Writes `bytes` as the record at `path` (NUL-terminated, its directory `path[..dir_len]`):
/// a temporary file in the directory (made if missing), renamed over the old record.
/// Whether the record is in place.
fn write_record(path: &[u8], dir_len: usize, default: bool, bytes: &[u8]) -> bool {
    let dir = path.get(..dir_len).unwrap_or(&[]);
    if !owned_dir(dir) {
        make_directory(dir, default);
        if !owned_dir(dir) {
            return false;
        }
    }
    let Some(name) = path.get(..path.len().saturating_sub(1)) else {
        return false;
    };
    let mut tmp = name.to_vec();
    tmp.extend_from_slice(b".tmp.");
    hex(&mut tmp, sys::getpid() as u64);
    tmp.push(0);
    let (Ok(tmp_c), Ok(path_c)) = (
        core::ffi::CStr::from_bytes_with_nul(&tmp),
        core::ffi::CStr::from_bytes_with_nul(path),
    ) else {
        return false;
    };
    const FLAGS: u32 = 0o1 | 0o100 | 0o200 | 0o1000 | 0o2000000; // WRONLY|CREAT|EXCL|TRUNC|CLOEXEC
    let Ok(fd) = sys::openat(sys::cwd(), tmp_c, FLAGS, 0o600) else {
        return false;
    };
    let ok = sys::write_all(sys::AsRawFd::as_raw_fd(&fd), bytes).is_ok();
    drop(fd);
    if !ok || sys::rename(tmp_c, path_c).is_err() {
        let _ = sys::unlink(tmp_c);
        return false;
    }
    true
}

/// Keeps the records of the directory of `path` (NUL-terminated, directory `path[..dir_len]`,
/// the record just written) within `cap` bytes: when they take more, the least recently used
/// (last read or written) go until the rest take 3/4 of `cap`; the one just written stays.
/// Only the user's own record files are counted or removed (temporary files are
/// `rldctl cache clear`'s). Runs after each write, which is rare: once per program and
/// setting, when its record is first made or found stale.
fn trim(path: &[u8], dir_len: usize, cap: u64) {
    use rld_link::launch::{CacheFile, is_record_name, to_evict};
    let mut dir = path.get(..dir_len).unwrap_or(&[]).to_vec();
    dir.push(0);
    let written = path
        .get(dir_len + 1..path.len().saturating_sub(1))
        .unwrap_or(&[]);
    const O_DIRECTORY: u32 = 0o200000;
    const O_CLOEXEC: u32 = 0o2000000;
    let Ok(fd) = core::ffi::CStr::from_bytes_with_nul(&dir)
        .map_err(|_| sys::Errno::INVAL)
        .and_then(|d| sys::openat(sys::cwd(), d, O_DIRECTORY | O_CLOEXEC, 0))
    else {
        return;
    };
    let fd = sys::AsFd::as_fd(&fd);
    let me = sys::geteuid();
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut files: Vec<CacheFile> = Vec::new();
    sys::for_each_entry(fd, |name| {
        if !is_record_name(name.to_bytes()) {
            return;
        }
        if let Ok((st, atime)) = sys::lstat_at(fd, name)
            && st.mode & 0o170000 == 0o100000
            && st.uid == me
        {
            names.push(name.to_bytes_with_nul().to_vec());
            files.push(CacheFile {
                size: st.size,
                used: atime.max(st.mtime_ns),
            });
        }
    });
    let keep = names
        .iter()
        .position(|n| n.get(..n.len().saturating_sub(1)) == Some(written));
    for i in to_evict(&files, keep, cap) {
        if let Some(n) = names.get(i)
            && let Ok(c) = core::ffi::CStr::from_bytes_with_nul(n)
        {
            let _ = sys::unlink_at(fd, c);
        }
    }
}

/// Whether `dir` is a directory of the user's own. Records go only there: root running
/// with another user's HOME (`sudo -E`) must not leave files that user cannot replace.
fn owned_dir(dir: &[u8]) -> bool {
    let mut p = dir.to_vec();
    p.push(0);
    core::ffi::CStr::from_bytes_with_nul(&p)
        .ok()
        .and_then(|c| sys::stat(c).ok())
        .is_some_and(|st| st.mode & 0o170000 == 0o040000 && st.uid == sys::geteuid())
}

/// mkdir of the directory and, first, its parent (`~/.cache` may not exist yet), mode 0700.
/// The default directory is made only inside directories of the user's own (root with
/// another user's HOME makes none); one named by RLD_LAUNCH_CACHE wherever it was asked.
fn make_directory(dir: &[u8], default: bool) {
    let parent = dir.iter().rposition(|&c| c == b'/').filter(|&i| i > 0);
    for end in parent.into_iter().chain([dir.len()]) {
        let d = dir.get(..end).unwrap_or(&[]);
        let up = match d.iter().rposition(|&c| c == b'/') {
            Some(0) => &b"/"[..],
            Some(i) => d.get(..i).unwrap_or(&[]),
            None => &b"."[..],
        };
        if default && !owned_dir(up) {
            continue;
        }
        let mut p = d.to_vec();
        p.push(0);
        if let Ok(c) = core::ffi::CStr::from_bytes_with_nul(&p) {
            let _ = sys::mkdir(c, 0o700);
        }
    }
}

impl<'s> Cache<'s> {
    /// The loader's own start-up lookups as a record holds them (`Writer::set_symbols`), if
    /// this launch replays one that has exactly `N`.
    pub fn symbols<const N: usize>(&self) -> Option<[Option<(ObjId, u32)>; N]> {
        let Cache::Hit(r) = self else { return None };
        let mut out = [None; N];
        let mut it = r.symbols();
        for o in &mut out {
            *o = it.next()?;
        }
        it.next().is_none().then_some(out)
    }

    /// Records the loader's own start-up lookups (when this launch writes a record).
    pub fn set_symbols(&mut self, syms: &[Option<(ObjId, u32)>]) {
        if let Cache::Miss { writer, .. } = self {
            writer.set_symbols(syms);
        }
    }

    /// Fills `p` with object `id`'s recorded bindings; false when they must be planned.
    pub fn plan_into(&self, id: ObjId, p: &mut ObjPlan) -> bool {
        match self {
            Cache::Hit(r) => r.plan_into(id, p),
            _ => false,
        }
    }

    /// How object `id`'s RELATIVE prefix is to be applied: from the record, or from its
    /// RELA entries (encoded for the new record when one is being made).
    pub fn relative(&self, id: ObjId) -> Relative<'s> {
        match self {
            Cache::Hit(r) => r.relative(id).map_or(Relative::Table, Relative::Replay),
            Cache::Miss { .. } => Relative::Record(RelrWriter::default()),
            Cache::Off => Relative::Table,
        }
    }

    /// Notes object `id`'s relative prefix for the new record, if it could be encoded.
    pub fn relocated(&mut self, id: ObjId, rel: Relative<'_>) {
        if let (Cache::Miss { writer, .. }, Relative::Record(w)) = (self, rel)
            && let Some(e) = w.finish()
        {
            writer.add_relative(id, &e);
        }
    }

    /// Prebinding: lazily bound object `id`'s JUMP_SLOTs to bind at start-up instead of at
    /// their first call through the PLT resolver, which takes an XSAVE and a lookup each
    /// (`rld_link::plan::prebind_slots`: the definitions the first calls would find; slots
    /// nothing defines yet and IFUNCs stay lazy). From the record when it is used (16 bytes
    /// and a store per slot, no lookup); looked up and noted for the new record when one is
    /// being made; none without a cache.
    ///
    /// A replay reads the slots straight from the record: collected first, python3's 494
    /// made a 7 KB vector, the start-up heap's last two fresh pages.
    pub fn prebind(
        &mut self,
        ns: &mut Namespace<'_>,
        id: ObjId,
    ) -> impl Iterator<Item = PreboundSlot> + '_ {
        match self {
            Cache::Hit(r) => Slots::Recorded(r.prebound(id)),
            Cache::Miss { writer, .. } => {
                let slots = rld_link::plan::prebind_slots(ns, id);
                writer.add_prebound(id, &slots);
                Slots::Planned(slots.into_iter())
            }
            Cache::Off => Slots::Planned(Vec::new().into_iter()),
        }
    }

    /// Notes object `id`'s freshly planned bindings for the new record.
    pub fn planned(&mut self, id: ObjId, p: &ObjPlan, ns: &Namespace<'_>) {
        if let Cache::Miss { writer, .. } = self {
            writer.add_plan(id, p, ns);
        }
    }

    /// Writes the new record if this launch made one and bound everything (`clean`).
    pub fn finish(self, ns: &Namespace<'_>, clean: bool) {
        let Cache::Miss { src, writer } = self else {
            return;
        };
        let bytes = match &src.dlopen {
            None if ns.diags.is_empty() => writer.finish(ns),
            // Only the unique entries this dlopen added (keys are sorted both times).
            Some((before, diags)) if ns.diags.len() == *diags => writer.finish_unique(
                ns.unique_entries()
                    .filter(|(k, _)| before.binary_search_by(|b| b.as_slice().cmp(k)).is_err())
                    .collect(),
            ),
            _ => None,
        };
        if clean && let Some(bytes) = bytes {
            src.write(&bytes);
        }
    }
}

/// `Cache::prebind`'s slots: a record's, or those just looked up.
enum Slots<R> {
    Recorded(R),
    Planned(alloc::vec::IntoIter<PreboundSlot>),
}

impl<R: Iterator<Item = PreboundSlot>> Iterator for Slots<R> {
    type Item = PreboundSlot;
    fn next(&mut self) -> Option<PreboundSlot> {
        match self {
            Slots::Recorded(r) => r.next(),
            Slots::Planned(p) => p.next(),
        }
    }
}

/// The cache directory (no trailing slash) and whether it is the default one (under
/// `$XDG_CACHE_HOME` or `$HOME`, rather than named by RLD_LAUNCH_CACHE), or None if there is
/// none.
fn directory(cfg: &Config<'_>) -> Option<(Vec<u8>, bool)> {
    let (mut d, default) = match cfg.launch_cache {
        Some(v) if v.is_empty() || v == b"0" || v == b"off" => return None,
        Some(v) => (v.to_vec(), false),
        None => match (cfg.xdg_cache_home, cfg.home) {
            (Some(x), _) if x.first() == Some(&b'/') => ([x, b"/rld"].concat(), true),
            (_, Some(h)) if h.first() == Some(&b'/') => ([h, b"/.cache/rld"].concat(), true),
            _ => return None,
        },
    };
    while d.len() > 1 && d.last() == Some(&b'/') {
        d.pop();
    }
    (!d.contains(&0)).then_some((d, default))
}

/// Records from this size on are mapped rather than read (the heap's largest size class:
/// a bigger buffer is a fresh mapping, zero-filled page by page, then written by the copy).
/// clang's 531 KiB record: read into a huge page 120 us, into 4 KiB pages 259 us, mapped and
/// checksummed 29 us (2026-11-22). rld never truncates a record (it writes a new file and
/// renames it over the old one; eviction unlinks), so a mapped record keeps its pages; only
/// its owner truncating it in place while a program starts would fault, as for any mapped
/// library.
const MAP_RECORD_MIN: usize = 64 << 10;

/// The same for a start-up's own record, which stays mapped for the life of the process
/// (`Source::keep`: no munmap). Read, python3's 12 KiB record took three fresh heap pages
/// (the top of its start-up heap); mapped, it is page-cache pages, which one fault maps
/// together (fault-around). Below this, a record shares heap pages with other data.
const MAP_START_RECORD_MIN: usize = 8 << 10;

/// A record file's bytes: read into the heap, or mapped (see `MAP_RECORD_MIN`).
enum RecordBytes {
    Read(Vec<u8>),
    Mapped(crate::fs::Mapping),
}

impl core::ops::Deref for RecordBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            RecordBytes::Read(v) => v,
            RecordBytes::Mapped(m) => m,
        }
    }
}

/// The record at `path` (NUL-terminated) if it is the user's own (`euid`, known at start-up;
/// asked for later: the program may have changed it), nobody else can write it, and it is
/// not absurdly large.
fn read_record(path: &[u8], euid: Option<u32>, map_min: usize) -> Option<RecordBytes> {
    let f = crate::fs::File::open(core::ffi::CStr::from_bytes_with_nul(path).ok()?).ok()?;
    let st = f.stat().ok()?;
    if st.uid != euid.unwrap_or_else(sys::geteuid)
        || st.mode & 0o022 != 0
        || st.mode & 0o170000 != 0o100000
        || st.size > MAX_RECORD
    {
        return None;
    }
    let len = st.size as usize;
    if len >= map_min {
        return f.map(len).ok().map(RecordBytes::Mapped);
    }
    let mut buf = alloc::vec![0u8; len];
    let mut at = 0;
    while at < len {
        match f.pread(buf.get_mut(at..)?, at as u64) {
            Ok(0) => return None,
            Ok(n) => at += n,
            Err(sys::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    Some(RecordBytes::Read(buf))
}

/// The program file's stamp: from its entry when rld opened it, else (the kernel mapped it)
/// from /proc/self/exe.
fn main_stamp(objs: &[Loaded], main: usize) -> Option<[u64; 5]> {
    match objs.get(main) {
        Some(o) if o.stamp[1] != 0 => Some(o.stamp),
        _ => kernel_program_stamp(),
    }
}

/// A record's name part: a hash of its settings (`settings_hash`) or, for a dlopen, of its
/// fingerprint (the record itself holds all of it and is checked word for word).
fn fingerprint_hash(fingerprint: &[u64]) -> u64 {
    fingerprint.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &w| {
        (h ^ w).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29)
    })
}

/// `bytes` packed into little-endian words for a fingerprint (the last one zero-padded).
fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    })
}

fn hex(out: &mut Vec<u8>, v: u64) {
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(b"0123456789abcdef"[((v >> (4 * i)) & 15) as usize]);
    }
}

/// The object's GNU build id as up to three words (rld itself and the vDSO are identified
/// by it: neither comes from a file the graph opened).
fn build_id(o: &Loaded) -> Option<[u64; 3]> {
    build_id_of(&o.ro, o.phdrs)
}

/// The GNU build id in the notes of an image (`ro`, with program headers `phdrs`).
#[inline(never)]
pub fn build_id_of<'a>(ro: &impl Memory<'a>, phdrs: &[Phdr]) -> Option<[u64; 3]> {
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    for ph in phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        let notes = ro.bytes_at(ph.p_vaddr, ph.p_filesz).ok()?;
        let mut at = 0usize;
        while let Some(h) = notes.get(at..at + 12) {
            let w = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            let (namesz, descsz, ty) = (w(0) as usize, w(4) as usize, w(8));
            let name_at = at + 12;
            let desc_at = name_at + namesz.next_multiple_of(4);
            let desc = notes.get(desc_at..desc_at + descsz)?;
            if ty == NT_GNU_BUILD_ID && notes.get(name_at..name_at + namesz) == Some(b"GNU\0") {
                let mut id = [0u64; 3];
                for (i, b) in desc.iter().take(24).enumerate() {
                    id[i / 8] |= u64::from(*b) << (8 * (i % 8));
                }
                return Some(id);
            }
            at = desc_at + descsz.next_multiple_of(4);
        }
    }
    None
}

/// One object's identity words: its file's stamp, or the build id of rld and the vDSO
/// (which the loader did not open); None if it has neither.
fn identity(o: &Loaded, main: &[u64; 5], w: &mut Vec<u64>) -> Option<()> {
    match o.kind {
        Kind::Rtld | Kind::Vdso => w.extend(build_id(o)?),
        Kind::Main => w.extend(main),
        Kind::Library if o.stamp[1] != 0 => w.extend(o.stamp),
        Kind::Library | Kind::Missing => return None,
    }
    Some(())
}

/// Everything the bindings of this launch depend on; None if something cannot be
/// identified (then there is no cache).
fn fingerprint(f: &Facts<'_>, main: &[u64; 5]) -> Option<Vec<u64>> {
    let mut w = Vec::with_capacity(8 + f.objs.len() * 10 + f.searchlist.len() + f.order.len());
    w.push(FINGERPRINT_VERSION);
    w.push(u64::from(f.dynamic_weak));
    // (LD_BIND_NOT decides whether lazily bound objects are prebound: see `run`.)
    w.push(u64::from(f.bind_not));
    w.push(f.objs.len() as u64);
    for (i, o) in f.objs.iter().enumerate() {
        let lazy = f.lazy.get(i).copied().unwrap_or(false);
        w.push(o.kind as u64 | u64::from(lazy) << 8);
        identity(o, main, &mut w)?;
        w.push(o.deps.len() as u64);
        w.extend(o.deps.iter().map(|&d| d as u64));
    }
    for list in [f.searchlist, f.order] {
        w.push(list.len() as u64);
        w.extend(list.iter().map(|&d| d as u64));
    }
    Some(w)
}

// ---- dlopen records ----------------------------------------------------------------------

/// The new objects of a base-namespace dlopen: relocation order with lazy flags, their local
/// search list and whether it comes first (RTLD_DEEPBIND).
pub struct DlFacts<'x> {
    pub main: usize,
    pub order: &'x [(ObjId, bool)],
    pub local: &'x [ObjId],
    pub deep: bool,
    pub dynamic_weak: bool,
}

/// The record file for this dlopen, read if present; None for small dlopens, with the cache
/// off, or when an object cannot be identified. Used like start-up's (`Source::cache`).
pub fn dl_source(
    dl: Option<&Dl>,
    objs: &[Loaded],
    ns: &Namespace<'_>,
    f: &DlFacts<'_>,
) -> Option<Source> {
    let dl = dl?;
    let refs: usize = f
        .order
        .iter()
        .map(|&(id, lazy)| rld_link::Planner::references(ns, id, lazy))
        .sum();
    if refs < dl.min.unwrap_or(MIN_DL_REFS) {
        return None;
    }
    let fingerprint = dl_fingerprint(objs, ns, f)?;
    // Named by a hash of the fingerprint; the record itself holds all of it.
    let mut path = dl.dir.clone();
    let dir_len = path.len();
    path.extend_from_slice(b"/dl-");
    hex(&mut path, fingerprint_hash(&fingerprint));
    path.push(0);
    let label = f
        .order
        .last()
        .and_then(|&(i, _)| objs.get(i as usize))
        .map_or(&b""[..], |o| o.name);
    Some(Source {
        file: read_record(&path, None, MAP_RECORD_MIN),
        path,
        dir_len,
        fingerprint,
        label: label.to_vec(),
        default: dl.default,
        cap: dl.cap,
        dlopen: Some((
            ns.unique_entries().map(|(k, _)| k.to_vec()).collect(),
            ns.diags.len(),
        )),
        program: [0; 5],
        min_refs: 0,
        memo: Vec::new(),
    })
}

/// Everything a dlopen's bindings depend on: every object of the process (removed ones as
/// such) with its identity, the global scope, and the new objects with their scopes.
fn dl_fingerprint(objs: &[Loaded], ns: &Namespace<'_>, f: &DlFacts<'_>) -> Option<Vec<u64>> {
    let main = main_stamp(objs, f.main)?;
    let mut w = Vec::with_capacity(8 + objs.len() * 7 + ns.global().len() + f.local.len());
    w.extend([
        FINGERPRINT_VERSION,
        0xd1,
        u64::from(f.dynamic_weak),
        u64::from(f.deep),
    ]);
    w.push(objs.len() as u64);
    for (i, o) in objs.iter().enumerate() {
        if ns.obj(i as ObjId).is_none_or(|v| v.removed) {
            w.push(u64::MAX);
            continue;
        }
        w.push(o.kind as u64);
        identity(o, &main, &mut w)?;
    }
    for list in [ns.global(), f.local] {
        w.push(list.len() as u64);
        w.extend(list.iter().map(|&d| u64::from(d)));
    }
    w.push(f.order.len() as u64);
    w.extend(
        f.order
            .iter()
            .map(|&(id, lazy)| u64::from(id) | u64::from(lazy) << 32),
    );
    // The STB_GNU_UNIQUE table decides what a unique definition binds to: all of it, names
    // packed into words.
    for (k, (o, s)) in ns.unique_entries() {
        w.extend([k.len() as u64, u64::from(o) | u64::from(s) << 32]);
        w.extend(words(k));
    }
    Some(w)
}
