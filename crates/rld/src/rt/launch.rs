//! The launch cache in the loader: where records live, what their fingerprint covers, and
//! reading and writing them (the record format is `rld_link::launch`).
//!
//! One record per program, named by the program file's device and inode, in
//! `$RLD_LAUNCH_CACHE` (`""`, `0` or `off`: no cache), else `$XDG_CACHE_HOME/rld`, else
//! `$HOME/.cache/rld`. Start-up builds the dependency graph as always, then:
//! - a record whose fingerprint matches (same files, unchanged, in the same graph, with the
//!   same settings, for this very rld build) supplies every object's bindings, and no symbol
//!   is looked up;
//! - otherwise objects are planned as usual and the plans are written to a new record
//!   (write to a temporary file, then rename: readers see a whole record or none).
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
use rld_link::{Namespace, ObjId, ObjPlan};

use super::objects::Loaded;
use crate::cli::Config;
use crate::fs::MappedFile;
use crate::sys;
use rld_search::fs::FileStat;

/// Bump when what the fingerprint covers changes meaning.
const FINGERPRINT_VERSION: u64 = 1;
/// Records larger than this are not read (inkscape's is ~1.5 MB).
const MAX_RECORD: u64 = 256 << 20;

/// The record file of this launch: its path and, if one could be read, its bytes.
pub struct Source {
    /// `dir/name` with a NUL.
    path: Vec<u8>,
    dir_len: usize,
    file: Option<MappedFile>,
    fingerprint: Vec<u64>,
    label: Vec<u8>,
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
    /// Each object's fstat from the graph (default for objects the loader did not open).
    pub stats: &'x [FileStat],
    pub main: usize,
    pub searchlist: &'x [usize],
    pub order: &'x [usize],
    pub lazy: &'x [bool],
    pub dynamic_weak: bool,
    /// The program's name, kept in the record for people listing records.
    pub label: &'x [u8],
}

/// The record file for this launch, read if present; None when the cache is off.
pub fn open(cfg: &Config<'_>, facts: &Facts<'_>) -> Option<Source> {
    if cfg.secure
        || cfg.any_debug
        || !cfg.audit.is_empty()
        || cfg.profile.is_some()
        || cfg.mode != crate::cli::Mode::Normal
    {
        return None;
    }
    let mut path = directory(cfg)?;
    let dir_len = path.len();
    let main = main_stat(facts)?;
    let fingerprint = fingerprint(facts, &main)?;
    path.push(b'/');
    hex(&mut path, main.dev);
    path.push(b'-');
    hex(&mut path, main.ino);
    path.push(0);
    let file = core::ffi::CStr::from_bytes_with_nul(&path)
        .ok()
        .and_then(|p| crate::fs::map_file(p).ok())
        .filter(|f| {
            // Only the user's own record, which nobody else can have written.
            f.stat.uid == sys::geteuid()
                && f.stat.mode & 0o022 == 0
                && f.stat.mode & 0o170000 == 0o100000
                && f.stat.size <= MAX_RECORD
        });
    Some(Source {
        path,
        dir_len,
        file,
        fingerprint,
        label: facts.label.to_vec(),
    })
}

impl Source {
    /// Replays the record if it was made for this launch and fits `ns`; else prepares a new
    /// one. `planned`: the objects start-up relocates, with their lazy-PLT flag.
    pub fn cache(&self, ns: &mut Namespace<'_>, planned: &[(ObjId, bool)]) -> Cache<'_> {
        if let Some(r) = self
            .file
            .as_ref()
            .and_then(|f| Record::parse(&f.data))
            .filter(|r| r.matches(&self.fingerprint) && r.check(ns, planned))
        {
            r.restore_unique(ns);
            return Cache::Hit(r);
        }
        Cache::Miss {
            src: self,
            writer: Writer::new(&self.fingerprint, &self.label),
        }
    }

    /// Writes `bytes` as the new record: a temporary file in the directory (made if
    /// missing), renamed over the old record.
    fn write(&self, bytes: &[u8]) {
        let Some(name) = self.path.get(..self.path.len() - 1) else {
            return;
        };
        let mut tmp = name.to_vec();
        tmp.extend_from_slice(b".tmp.");
        hex(&mut tmp, sys::getpid() as u64);
        tmp.push(0);
        let (Ok(tmp_c), Ok(path_c)) = (
            core::ffi::CStr::from_bytes_with_nul(&tmp),
            core::ffi::CStr::from_bytes_with_nul(&self.path),
        ) else {
            return;
        };
        const FLAGS: u32 = 0o1 | 0o100 | 0o200 | 0o1000 | 0o2000000; // WRONLY|CREAT|EXCL|TRUNC|CLOEXEC
        let mut fd = sys::openat(sys::cwd(), tmp_c, FLAGS, 0o600);
        if fd.is_err() {
            self.make_directory();
            fd = sys::openat(sys::cwd(), tmp_c, FLAGS, 0o600);
        }
        let Ok(fd) = fd else { return };
        let ok = sys::write_all(sys::AsRawFd::as_raw_fd(&fd), bytes).is_ok();
        drop(fd);
        if !ok || sys::rename(tmp_c, path_c).is_err() {
            let _ = sys::unlink(tmp_c);
        }
    }

    /// mkdir of the directory and its parent (`~/.cache` may not exist yet), mode 0700.
    fn make_directory(&self) {
        let Some(dir) = self.path.get(..self.dir_len) else {
            return;
        };
        let parent = dir.iter().rposition(|&c| c == b'/').filter(|&i| i > 0);
        for end in parent.into_iter().chain([dir.len()]) {
            let mut p = dir.get(..end).unwrap_or(&[]).to_vec();
            p.push(0);
            if let Ok(c) = core::ffi::CStr::from_bytes_with_nul(&p) {
                let _ = sys::mkdir(c, 0o700);
            }
        }
    }
}

impl Cache<'_> {
    /// Fills `p` with object `id`'s recorded bindings; false when they must be planned.
    pub fn plan_into(&self, id: ObjId, p: &mut ObjPlan) -> bool {
        match self {
            Cache::Hit(r) => r.plan_into(id, p),
            _ => false,
        }
    }

    /// Notes object `id`'s freshly planned bindings for the new record.
    pub fn planned(&mut self, id: ObjId, p: &ObjPlan) {
        if let Cache::Miss { writer, .. } = self {
            writer.add_plan(id, p);
        }
    }

    /// Writes the new record if this launch made one and bound everything (`clean`).
    pub fn finish(self, ns: &Namespace<'_>, clean: bool) {
        if let Cache::Miss { src, writer } = self
            && clean
            && ns.diags.is_empty()
            && let Some(bytes) = writer.finish(ns)
        {
            src.write(&bytes);
        }
    }
}

/// The cache directory (no trailing slash), or None if there is none.
fn directory(cfg: &Config<'_>) -> Option<Vec<u8>> {
    let mut d = match cfg.launch_cache {
        Some(v) if v.is_empty() || v == b"0" || v == b"off" => return None,
        Some(v) => v.to_vec(),
        None => match (cfg.xdg_cache_home, cfg.home) {
            (Some(x), _) if x.first() == Some(&b'/') => [x, b"/rld"].concat(),
            (_, Some(h)) if h.first() == Some(&b'/') => [h, b"/.cache/rld"].concat(),
            _ => return None,
        },
    };
    while d.len() > 1 && d.last() == Some(&b'/') {
        d.pop();
    }
    (!d.contains(&0)).then_some(d)
}

/// The program file's fstat: from the graph when rld opened it, else (the kernel mapped
/// it) from /proc/self/exe.
fn main_stat(f: &Facts<'_>) -> Option<FileStat> {
    match f.stats.get(f.main) {
        Some(s) if s.ino != 0 => Some(*s),
        _ => sys::stat(c"/proc/self/exe").ok().map(|s| FileStat {
            dev: s.dev,
            ino: s.ino,
            mode: s.mode,
            size: s.size,
            uid: s.uid,
            mtime_ns: s.mtime_ns,
            ctime_ns: s.ctime_ns,
        }),
    }
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
    const PT_NOTE: u32 = 4;
    const NT_GNU_BUILD_ID: u32 = 3;
    for ph in o.phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        let notes = o.ro.bytes_at(ph.p_vaddr, ph.p_filesz).ok()?;
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

/// Everything the bindings of this launch depend on; None if something cannot be
/// identified (then there is no cache).
fn fingerprint(f: &Facts<'_>, main: &FileStat) -> Option<Vec<u64>> {
    let mut w = Vec::with_capacity(8 + f.objs.len() * 10 + f.searchlist.len() + f.order.len());
    w.push(FINGERPRINT_VERSION);
    w.push(u64::from(f.dynamic_weak));
    w.push(f.objs.len() as u64);
    for (i, o) in f.objs.iter().enumerate() {
        let lazy = f.lazy.get(i).copied().unwrap_or(false);
        w.push(o.kind as u64 | u64::from(lazy) << 8);
        match o.kind {
            Kind::Rtld | Kind::Vdso => w.extend(build_id(o)?),
            Kind::Main | Kind::Library => {
                let s = if o.kind == Kind::Main {
                    main
                } else {
                    f.stats.get(i)?
                };
                if s.ino == 0 {
                    return None;
                }
                w.extend([s.dev, s.ino, s.size, s.mtime_ns as u64, s.ctime_ns as u64]);
            }
            Kind::Missing => return None,
        }
        w.push(o.deps.len() as u64);
        w.extend(o.deps.iter().map(|&d| d as u64));
    }
    for list in [f.searchlist, f.order] {
        w.push(list.len() as u64);
        w.extend(list.iter().map(|&d| d as u64));
    }
    Some(w)
}
