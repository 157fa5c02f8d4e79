//! Launch cache records: a program's start-up bindings, saved after one launch and reused by
//! the next instead of looking every symbol up again (a safe prelink: bindings are (object,
//! symbol) pairs, not addresses, so every launch keeps its own address-space layout).
//!
//! A record is only as good as its **fingerprint**: the loader's description of everything the
//! bindings depend on (each object's file identity and change stamps, the dependency lists, the
//! global search list, the relocation order, lazy binding per object, the settings that change
//! lookups, the loader's own build). The loader rebuilds the dependency graph on every launch
//! (searching and opening every file as usual), computes the fingerprint, and uses the record
//! only if it matches word for word; anything else (a missing, stale, truncated or corrupt
//! record) means planning as if there were none. This module owns the byte format; what goes
//! into the fingerprint is the loader's business.
//!
//! Format, little-endian: `"RLDL"`, format, the fingerprint (length in u64 words, words), a
//! label (length, bytes padded to 4: the program's name, for people listing records), the
//! loader's search memo (length, bytes padded to 4: opaque here, see [`search_memo`]),
//! padding to 8 and a checksum of everything before it (the memo is read before the rest of
//! the record is needed), per object planned (id, lazy flag, entry count, entries of (key, object, symbol, value)
//! with objects `UNDEF_WEAK`/`UNDEFINED` for the two unbound kinds and the value as
//! [`crate::plan::recorded_value`] gives it, in two words), an `END` id, per object with
//! a recorded relative prefix (id, RELA entries it stands for, lowest and highest offset,
//! word count, RELR words; see [`Relative`]), an `END` id, per object with prebound
//! JUMP_SLOTs (id, count, entries of (DT_JMPREL index, object, value in two words); see
//! [`PreboundSlot`]), an `END` id, the STB_GNU_UNIQUE table (count; name length, name,
//! object, symbol), the loader's own symbol lookups (count; object or `NOT_FOUND`, symbol;
//! see [`Writer::set_symbols`]), and a checksum of everything before it.

use alloc::vec::Vec;

use rld_elf::cursor::Cursor;

use crate::ObjId;
use crate::lookup::Namespace;
use crate::plan::{Binding, ObjPlan, PreboundSlot, recorded_value};

const MAGIC: [u8; 4] = *b"RLDL";
const FORMAT: u32 = 6;
/// Bytes per prebound JUMP_SLOT: DT_JMPREL index, object, value (two words).
const PREBOUND: usize = 16;
/// Bytes per recorded binding: key, object, symbol, value (two words).
const ENTRY: usize = 20;
const END: u32 = u32::MAX;
const UNDEF_WEAK: u32 = u32::MAX;
const UNDEFINED: u32 = u32::MAX - 1;
/// A loader lookup that found nothing.
const NOT_FOUND: u32 = u32::MAX;

/// Whether `n` names a record: `DEV-INO-HASH` in hex for a program's start-up (`DEV-INO`
/// from rld builds before the hash was part of the name: still listed and trimmed),
/// `dl-HASH` for a dlopen (temporary files, `NAME.tmp.PID`, have a dot).
pub fn is_record_name(n: &[u8]) -> bool {
    let hex = |p: &[u8]| !p.is_empty() && p.iter().all(u8::is_ascii_hexdigit);
    if let Some(h) = n.strip_prefix(b"dl-") {
        return hex(h);
    }
    let mut parts = n.split(|&c| c == b'-');
    let (Some(dev), Some(ino)) = (parts.next(), parts.next()) else {
        return false;
    };
    let hash = parts.next();
    hex(dev) && hex(ino) && hash.is_none_or(hex) && parts.next().is_none()
}

/// The most bytes the records of a cache directory take unless RLD_LAUNCH_CACHE_SIZE says
/// otherwise. A program's record takes 2 KB (small tools) to 2 MB (inkscape).
pub const DEFAULT_CACHE_SIZE: u64 = 128 << 20;

/// An RLD_LAUNCH_CACHE_SIZE value: `N`, `Nk`, `NM` or `NG` (powers of 1024); None for
/// anything else.
pub fn parse_size(v: &[u8]) -> Option<u64> {
    let digits = v.iter().take_while(|c| c.is_ascii_digit()).count();
    let (num, suffix) = v.split_at(digits);
    if num.is_empty() || num.len() > 19 {
        return None;
    }
    let shift = match suffix {
        b"" => 0,
        b"k" | b"K" => 10,
        b"M" => 20,
        b"G" => 30,
        _ => return None,
    };
    let n = num.iter().try_fold(0u64, |n, &c| {
        n.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })?;
    n.checked_mul(1 << shift)
}

/// One record file of a cache directory, for [`to_evict`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheFile {
    pub size: u64,
    /// When it was last written or read (the later of mtime and atime), in ns.
    pub used: i64,
}

/// The records to remove so that the rest take at most `cap` bytes: the least recently used
/// first, down to three quarters of `cap` (so that the next writes do not trim again at
/// once), never `keep` (the one just written). Empty when the directory fits.
pub fn to_evict(files: &[CacheFile], keep: Option<usize>, cap: u64) -> Vec<usize> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    if total <= cap {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..files.len()).filter(|&i| Some(i) != keep).collect();
    order.sort_by_key(|&i| files.get(i).map_or(0, |f| f.used));
    let goal = cap - cap / 4;
    let mut left = total;
    let mut out = Vec::new();
    for i in order {
        if left <= goal {
            break;
        }
        left -= files.get(i).map_or(0, |f| f.size);
        out.push(i);
    }
    out
}

/// Builds a record while the loader plans object after object (each plan's tables are
/// reused for the next object, so they are written as they are made).
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
    /// The relative-prefix sections, written after the plans.
    rel: Vec<u8>,
    /// The prebound JUMP_SLOT sections, written after those.
    pre: Vec<u8>,
    /// The loader's own lookups (`set_symbols`), written last.
    syms: Vec<Option<(ObjId, u32)>>,
    /// A binding could not be recorded faithfully (an undefined strong reference: the
    /// launch fails anyway, and must fail the same way next time): write nothing.
    spoiled: bool,
}

fn put(buf: &mut Vec<u8>, w: u32) {
    buf.extend_from_slice(&w.to_le_bytes());
}

/// Word-wise sum with rotation over `bytes` (a multiple of 8 long): catches torn or
/// bit-flipped records cheaply (~1 instruction per 8 bytes; a record can be megabytes).
fn checksum(bytes: &[u8]) -> u64 {
    bytes.chunks_exact(8).fold(0x5244_4c43_u64, |acc, c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc.rotate_left(5) ^ u64::from_le_bytes(w).wrapping_add(acc)
    })
}

impl Writer {
    /// A record for a launch with this fingerprint and label, keeping `memo` (the loader's
    /// search memo, empty for none) where [`search_memo`] finds it.
    pub fn new(fingerprint: &[u64], label: &[u8], memo: &[u8]) -> Self {
        let mut buf = Vec::with_capacity(40 + fingerprint.len() * 8 + label.len() + memo.len());
        buf.extend_from_slice(&MAGIC);
        put(&mut buf, FORMAT);
        put(&mut buf, fingerprint.len() as u32);
        put(&mut buf, 0);
        for w in fingerprint {
            buf.extend_from_slice(&w.to_le_bytes());
        }
        for s in [label, memo] {
            put(&mut buf, s.len() as u32);
            buf.extend_from_slice(s);
            buf.resize(buf.len().next_multiple_of(4), 0);
        }
        buf.resize(buf.len().next_multiple_of(8), 0);
        let sum = checksum(&buf);
        buf.extend_from_slice(&sum.to_le_bytes());
        Writer {
            buf,
            rel: Vec::new(),
            pre: Vec::new(),
            syms: Vec::new(),
            spoiled: false,
        }
    }

    /// Records object `id`'s relative prefix: its first `e.count` RELA entries are
    /// `R_X86_64_RELATIVE` with the addend already in place at each offset (checked by the
    /// loader before relocating), so a replay adds the load bias at the offsets `e` holds
    /// instead of reading the RELA entries.
    pub fn add_relative(&mut self, id: ObjId, e: &crate::relr::Encoded) {
        let b = &mut self.rel;
        b.reserve(28 + e.words.len() * 8);
        put(b, id);
        put(b, e.count as u32);
        for w in [e.lo, e.hi] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        put(b, e.words.len() as u32);
        for w in &e.words {
            b.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Records object `id`'s prebound JUMP_SLOTs (call once per object at most).
    pub fn add_prebound(&mut self, id: ObjId, slots: &[PreboundSlot]) {
        let b = &mut self.pre;
        b.reserve(8 + slots.len() * PREBOUND);
        put(b, id);
        put(b, slots.len() as u32);
        for s in slots {
            put(b, s.index);
            put(b, s.obj);
            b.extend_from_slice(&s.value.to_le_bytes());
        }
    }

    /// Records object `id`'s plan (call once per object, in any order), with the values of
    /// the symbols it binds to as `ns` has them.
    pub fn add_plan(&mut self, id: ObjId, p: &ObjPlan, ns: &Namespace<'_>) {
        put(&mut self.buf, id);
        put(&mut self.buf, u32::from(p.lazy_plt));
        put(&mut self.buf, p.keys.len() as u32);
        self.buf.reserve(p.keys.len() * ENTRY);
        for (&k, &b) in p.keys.iter().zip(&p.bindings) {
            let (o, s) = match b {
                Binding::Def { obj, sym } => (obj, sym),
                Binding::UndefWeak => (UNDEF_WEAK, 0),
                Binding::Undefined => {
                    self.spoiled = true;
                    (UNDEFINED, 0)
                }
            };
            put(&mut self.buf, k);
            put(&mut self.buf, o);
            put(&mut self.buf, s);
            self.buf
                .extend_from_slice(&recorded_value(ns, b).to_le_bytes());
        }
    }

    /// Records the results of the loader's own lookups at start-up (libc's allocator, its
    /// private entry points: a fixed list the loader defines), as (object, symbol) or None,
    /// so that a replay need not repeat them (they decide whose version tables are built).
    pub fn set_symbols(&mut self, syms: &[Option<(ObjId, u32)>]) {
        self.syms = syms.to_vec();
    }

    /// The finished record with the namespace's STB_GNU_UNIQUE table, or None if the launch
    /// cannot be replayed from a record.
    pub fn finish(self, ns: &Namespace<'_>) -> Option<Vec<u8>> {
        self.finish_with(ns.unique_entries().collect())
    }

    /// The finished record with the given STB_GNU_UNIQUE entries (a dlopen's: those it
    /// added), or None if it cannot be replayed.
    pub fn finish_unique(self, unique: Vec<(&[u8], (ObjId, u32))>) -> Option<Vec<u8>> {
        self.finish_with(unique)
    }

    fn finish_with(mut self, unique: Vec<(&[u8], (ObjId, u32))>) -> Option<Vec<u8>> {
        if self.spoiled {
            return None;
        }
        put(&mut self.buf, END);
        self.buf.append(&mut self.rel);
        put(&mut self.buf, END);
        self.buf.append(&mut self.pre);
        put(&mut self.buf, END);
        put(&mut self.buf, unique.len() as u32);
        for (name, (o, s)) in unique {
            put(&mut self.buf, name.len() as u32);
            self.buf.extend_from_slice(name);
            self.buf.resize(self.buf.len().next_multiple_of(4), 0);
            put(&mut self.buf, o);
            put(&mut self.buf, s);
        }
        put(&mut self.buf, self.syms.len() as u32);
        for e in &self.syms {
            let (o, s) = e.unwrap_or((NOT_FOUND, 0));
            put(&mut self.buf, o);
            put(&mut self.buf, s);
        }
        self.buf.resize(self.buf.len().next_multiple_of(8), 0);
        let sum = checksum(&self.buf);
        self.buf.extend_from_slice(&sum.to_le_bytes());
        Some(self.buf)
    }
}

/// Where one object's entries are in a record.
#[derive(Clone, Copy, Debug)]
struct PlanAt {
    at: usize,
    n: usize,
    lazy: bool,
}

/// An object's recorded relative prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relative<'b> {
    /// The RELA entries (from the first) it stands for.
    pub entries: usize,
    /// The lowest and highest offset it holds.
    pub lo: u64,
    pub hi: u64,
    /// RELR words, little-endian (see [`crate::relr`]).
    pub relr: &'b [u8],
}

/// A parsed record (borrowing its bytes): well-formed, checksum verified. Its bindings are
/// checked against a namespace by [`Record::check`] before any is used.
#[derive(Debug)]
pub struct Record<'b> {
    bytes: &'b [u8],
    fingerprint: &'b [u8],
    /// What the writer called the program.
    pub label: &'b [u8],
    plans: Vec<Option<PlanAt>>,
    relative: Vec<Option<Relative<'b>>>,
    /// Per object, its prebound JUMP_SLOT entries (`PREBOUND` bytes each).
    prebound: Vec<Option<&'b [u8]>>,
    unique: Vec<(&'b [u8], ObjId, u32)>,
    /// The loader's lookups (see `Writer::set_symbols`), 8 bytes each.
    symbols: &'b [u8],
}

/// The search memo a record keeps (see [`Writer::new`]), checked by the checksum of the
/// record's head only: the loader reads it before the dependency graph is built, long before
/// it needs (and checks) the rest. None for anything but an intact head of this format.
pub fn search_memo(bytes: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor::new(bytes);
    if c.take(4)? != MAGIC || c.u32()? != FORMAT {
        return None;
    }
    let fp_words = c.u32()? as usize;
    c.u32()?;
    c.take(fp_words.checked_mul(8)?)?;
    c.padded()?;
    let memo = c.padded()?;
    c.align(8)?;
    let head = bytes.get(..c.pos())?;
    (c.take(8)? == checksum(head).to_le_bytes()).then_some(memo)
}

/// Puts `v` at `table[i]`, growing the table; false if `i` already had one or is absurd for
/// a record of `len` bytes (each entry costs at least 12: a corrupt id cannot force a huge
/// table).
fn place<T>(table: &mut Vec<Option<T>>, i: usize, v: T, len: usize) -> bool {
    if i > len / 12 {
        return false;
    }
    if table.len() <= i {
        table.resize_with(i + 1, || None);
    }
    table.get_mut(i).is_some_and(|s| s.replace(v).is_none())
}

fn word(b: &[u8], i: usize) -> u32 {
    b.get(i * 4..i * 4 + 4)
        .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// A prebound JUMP_SLOT from its `PREBOUND` bytes (see `Writer::add_prebound`).
fn prebound_slot(e: &[u8]) -> PreboundSlot {
    PreboundSlot {
        index: word(e, 0),
        obj: word(e, 1),
        value: u64::from(word(e, 2)) | u64::from(word(e, 3)) << 32,
    }
}

impl<'b> Record<'b> {
    /// Parses `bytes`; None if it is not a whole, intact record of this format.
    pub fn parse(bytes: &'b [u8]) -> Option<Self> {
        let body_len = bytes.len().checked_sub(8)?;
        if !body_len.is_multiple_of(8) {
            return None;
        }
        let (body, sum) = bytes.split_at(body_len);
        if checksum(body).to_le_bytes() != sum {
            return None;
        }
        let mut c = Cursor::new(body);
        if c.take(4)? != MAGIC || c.u32()? != FORMAT {
            return None;
        }
        let fp_words = c.u32()? as usize;
        c.u32()?;
        let fingerprint = c.take(fp_words.checked_mul(8)?)?;
        let label = c.padded()?;
        c.padded()?;
        // The head's own checksum (the whole record's follows).
        c.align(8)?;
        c.take(8)?;
        let mut plans: Vec<Option<PlanAt>> = Vec::new();
        loop {
            let id = c.u32()?;
            if id == END {
                break;
            }
            let lazy = match c.u32()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let n = c.u32()? as usize;
            let at = c.pos();
            c.take(n.checked_mul(ENTRY)?)?;
            if !place(&mut plans, id as usize, PlanAt { at, n, lazy }, body.len()) {
                return None;
            }
        }
        let mut relative: Vec<Option<Relative<'b>>> = Vec::new();
        loop {
            let id = c.u32()?;
            if id == END {
                break;
            }
            let entries = c.u32()? as usize;
            let (lo, hi) = (c.u64()?, c.u64()?);
            let n = c.u32()? as usize;
            let relr = c.take(n.checked_mul(8)?)?;
            let r = Relative {
                entries,
                lo,
                hi,
                relr,
            };
            if !place(&mut relative, id as usize, r, body.len()) {
                return None;
            }
        }
        let mut prebound: Vec<Option<&'b [u8]>> = Vec::new();
        loop {
            let id = c.u32()?;
            if id == END {
                break;
            }
            let n = c.u32()? as usize;
            let entries = c.take(n.checked_mul(PREBOUND)?)?;
            if !place(&mut prebound, id as usize, entries, body.len()) {
                return None;
            }
        }
        let nu = c.u32()? as usize;
        let mut unique = Vec::new();
        for _ in 0..nu {
            let len = c.u32()? as usize;
            let name = c.take_padded(len)?;
            let (o, s) = (c.u32()?, c.u32()?);
            unique.push((name, o, s));
        }
        let ns = c.u32()? as usize;
        let symbols = c.take(ns.checked_mul(8)?)?;
        Some(Record {
            bytes: body,
            fingerprint,
            label,
            plans,
            relative,
            prebound,
            unique,
            symbols,
        })
    }

    /// The loader's lookups as recorded by `Writer::set_symbols`, in its order.
    pub fn symbols(&self) -> impl Iterator<Item = Option<(ObjId, u32)>> + 'b {
        self.symbols.chunks_exact(8).map(|e| match word(e, 0) {
            NOT_FOUND => None,
            o => Some((o, word(e, 1))),
        })
    }

    /// Object `id`'s prebound JUMP_SLOTs (none if the record has none for it).
    pub fn prebound(&self, id: ObjId) -> impl Iterator<Item = PreboundSlot> + 'b {
        let entries: &'b [u8] = self
            .prebound
            .get(id as usize)
            .copied()
            .flatten()
            .unwrap_or(&[]);
        entries.chunks_exact(PREBOUND).map(prebound_slot)
    }

    /// Object `id`'s recorded relative prefix, if there is one.
    pub fn relative(&self, id: ObjId) -> Option<Relative<'b>> {
        self.relative.get(id as usize).copied().flatten()
    }

    /// How many objects have a plan, and how many bindings they hold in all.
    pub fn size(&self) -> (usize, usize) {
        self.plans
            .iter()
            .flatten()
            .fold((0, 0), |(o, b), p| (o + 1, b + p.n))
    }

    /// Whether the record was made for exactly this `fingerprint`.
    pub fn matches(&self, fingerprint: &[u64]) -> bool {
        self.fingerprint.len() == fingerprint.len() * 8
            && self
                .fingerprint
                .chunks_exact(8)
                .zip(fingerprint)
                .all(|(a, &b)| a == b.to_le_bytes())
    }

    /// Whether every binding names a symbol that exists in `ns` (object in range, symbol
    /// index within its symbol table), every key a symbol of its own object, and `planned`
    /// objects (those start-up relocates) all have a plan with the expected lazy flag. A
    /// record that passes cannot make the loader read out of bounds; the fingerprint is what
    /// makes it right.
    pub fn check(&self, ns: &Namespace<'_>, planned: &[(ObjId, bool)]) -> bool {
        // Symbol counts up front: this runs once per binding (100k for inkscape).
        let counts: Vec<u32> = (0..)
            .map_while(|i| ns.obj(i))
            .map(|v| (v.symtab.len() / crate::object::SYM_SIZE) as u32)
            .collect();
        let has = |o: ObjId, s: u32| counts.get(o as usize).is_some_and(|&n| s < n);
        for &(id, lazy) in planned {
            match self.plans.get(id as usize).copied().flatten() {
                Some(p) if p.lazy == lazy => {}
                _ => return false,
            }
        }
        for (id, p) in self.plans.iter().enumerate() {
            let Some(p) = p else { continue };
            let Some(entries) = self.bytes.get(p.at..p.at + p.n * ENTRY) else {
                return false;
            };
            for e in entries.chunks_exact(ENTRY) {
                let (k, o, s) = (word(e, 0), word(e, 1), word(e, 2));
                if !has(id as ObjId, k >> 2) {
                    return false;
                }
                match o {
                    UNDEF_WEAK => {}
                    UNDEFINED => return false,
                    _ if !has(o, s) => return false,
                    _ => {}
                }
            }
        }
        self.relative
            .iter()
            .enumerate()
            .all(|(id, r)| r.is_none() || id < counts.len())
            && self.unique.iter().all(|&(_, o, s)| has(o, s))
            && self.symbols().all(|e| e.is_none_or(|(o, s)| has(o, s)))
            && self.prebound.iter().enumerate().all(|(id, e)| {
                let e = e.unwrap_or(&[]);
                (e.is_empty() || id < counts.len())
                    && e.chunks_exact(PREBOUND)
                        .all(|p| (prebound_slot(p).obj as usize) < counts.len())
            })
    }

    /// Fills `p` (emptied first) with object `id`'s recorded plan; false if there is none.
    pub fn plan_into(&self, id: ObjId, p: &mut ObjPlan) -> bool {
        let Some(at) = self.plans.get(id as usize).copied().flatten() else {
            return false;
        };
        let Some(entries) = self.bytes.get(at.at..at.at + at.n * ENTRY) else {
            return false;
        };
        p.lazy_plt = at.lazy;
        p.values.clear();
        p.values.extend(
            entries
                .chunks_exact(ENTRY)
                .map(|e| u64::from(word(e, 3)) | u64::from(word(e, 4)) << 32),
        );
        p.extend_recorded(entries.chunks_exact(ENTRY).map(|e| {
            let (k, o, s) = (word(e, 0), word(e, 1), word(e, 2));
            let b = match o {
                UNDEF_WEAK => Binding::UndefWeak,
                UNDEFINED => Binding::Undefined,
                _ => Binding::Def { obj: o, sym: s },
            };
            (k, b)
        }));
        true
    }

    /// Puts the recorded STB_GNU_UNIQUE definitions back into `ns` (the lookups that made
    /// them are not repeated; later lookups, from lazy binding or dlopen, must find them).
    pub fn restore_unique(&self, ns: &mut Namespace<'_>) {
        for &(name, o, s) in &self.unique {
            ns.restore_unique(name, (o, s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjKind;
    use crate::object::{STB_GLOBAL, STB_WEAK};
    use crate::testutil::*;

    /// An executable with symbols 1 and 2 (undefined) and a library defining 1 and 2.
    fn two_objects() -> Vec<Built> {
        let mut exe = Fake::new("exe", ObjKind::Executable);
        exe.undef("f", STB_GLOBAL, VER_GLOBAL);
        exe.undef("g", STB_WEAK, VER_GLOBAL);
        let mut lib = Fake::new("lib", ObjKind::Library);
        lib.func("f", 0x10);
        lib.func("h", 0x20);
        alloc::vec![exe.build(), lib.build()]
    }

    fn sample_plan() -> ObjPlan {
        let mut p = ObjPlan::with_capacity(4);
        p.insert(crate::plan::key(1, 0), Binding::Def { obj: 1, sym: 1 });
        p.insert(crate::plan::key(2, 1), Binding::UndefWeak);
        p.lazy_plt = true;
        p
    }

    #[test]
    fn round_trip_and_rejections() {
        let objs = two_objects();
        let views: Vec<_> = objs.iter().map(|o| o.view()).collect();
        let mut ns = Namespace::new(views, alloc::vec![0, 1]);
        ns.restore_unique(b"uniq", (1, 1));
        let fp = [7u64, 8, 9];
        let mut w = Writer::new(&fp, b"prog", b"memo bytes");
        let p = sample_plan();
        w.add_plan(0, &p, &ns);
        let mut relr = crate::relr::RelrWriter::default();
        for o in [0x1000, 0x1008, 0x1010] {
            relr.push(o);
        }
        w.add_relative(1, &relr.finish().unwrap());
        let slot = PreboundSlot {
            index: 3,
            obj: 1,
            value: 0x1_0000_0010,
        };
        w.add_prebound(0, &[slot]);
        w.set_symbols(&[Some((1, 2)), None, Some((0, 1))]);
        let bytes = w.finish(&ns).unwrap();
        let r = Record::parse(&bytes).unwrap();
        assert!(r.matches(&fp));
        assert_eq!(
            r.symbols().collect::<Vec<_>>(),
            [Some((1, 2)), None, Some((0, 1))]
        );
        assert_eq!(r.prebound(0).collect::<Vec<_>>(), [slot]);
        assert_eq!(r.prebound(1).count(), 0);
        let rel = r.relative(1).unwrap();
        assert_eq!((rel.entries, rel.lo, rel.hi), (3, 0x1000, 0x1010));
        assert_eq!(rel.relr.len(), 16);
        assert_eq!(r.relative(0), None);
        assert_eq!(r.label, b"prog");
        assert_eq!(search_memo(&bytes), Some(&b"memo bytes"[..]));
        assert_eq!(r.size(), (1, 2));
        assert!(!r.matches(&[7, 8]));
        assert!(!r.matches(&[7, 8, 10]));
        assert!(r.check(&ns, &[(0, true)]));
        assert!(!r.check(&ns, &[(0, false)]), "lazy flag differs");
        assert!(!r.check(&ns, &[(1, false)]), "no plan for object 1");
        let mut q = ObjPlan::default();
        assert!(r.plan_into(0, &mut q));
        assert_eq!(q, p);
        // The symbol's value for the definition, none for the undefined weak reference.
        assert_eq!(q.values, [0x10, crate::plan::VALUE_UNKNOWN]);
        assert!(q.lazy_plt);
        assert!(!r.plan_into(1, &mut q));
        let mut ns2 = Namespace::new(objs.iter().map(|o| o.view()).collect(), alloc::vec![0, 1]);
        r.restore_unique(&mut ns2);
        assert_eq!(ns2.unique_entry(b"uniq"), Some((1, 1)));

        // Every truncation and every single flipped bit is refused.
        for n in 0..bytes.len() {
            assert!(Record::parse(&bytes[..n]).is_none(), "truncated at {n}");
        }
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(Record::parse(&b).is_none(), "bit {i} flipped");
        }
        // The memo is checked by the head's own checksum: a flip in the head (fingerprint,
        // label, memo or that checksum) hides it, one in the rest of the record does not.
        // Magic, format, fingerprint length and a zero; the fingerprint; the label "prog";
        // the memo (10 bytes, padded to 12); no padding to 8 needed; the checksum.
        let head = 16 + fp.len() * 8 + (4 + 4) + (4 + 12) + 8;
        assert_eq!(search_memo(&bytes[..head]), Some(&b"memo bytes"[..]));
        assert_eq!(search_memo(&bytes[..head - 1]), None);
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert_eq!(search_memo(&b).is_some(), i / 8 >= head, "bit {i} flipped");
        }
    }

    /// A recorded loader lookup naming a symbol the namespace does not have fails the check.
    #[test]
    fn recorded_lookups_out_of_range_fail_the_check() {
        let objs = two_objects();
        let ns = Namespace::new(objs.iter().map(|o| o.view()).collect(), alloc::vec![0, 1]);
        for (e, ok) in [
            (None, true),
            (Some((1, 1)), true),
            (Some((2, 1)), false),
            (Some((1, 999)), false),
        ] {
            let mut w = Writer::new(&[1], b"p", b"");
            w.add_plan(0, &sample_plan(), &ns);
            w.set_symbols(&[e]);
            let bytes = w.finish(&ns).unwrap();
            let r = Record::parse(&bytes).unwrap();
            assert_eq!(r.check(&ns, &[(0, true)]), ok, "{e:?}");
        }
    }

    /// A prebound slot naming an object the namespace does not have fails the check.
    #[test]
    fn prebound_objects_out_of_range_fail_the_check() {
        let objs = two_objects();
        let ns = Namespace::new(objs.iter().map(|o| o.view()).collect(), alloc::vec![0, 1]);
        for (obj, ok) in [(1, true), (2, false)] {
            let mut w = Writer::new(&[1], b"p", b"");
            w.add_plan(0, &sample_plan(), &ns);
            w.add_prebound(
                0,
                &[PreboundSlot {
                    index: 0,
                    obj,
                    value: 0,
                }],
            );
            let bytes = w.finish(&ns).unwrap();
            let r = Record::parse(&bytes).unwrap();
            assert_eq!(r.check(&ns, &[(0, true)]), ok, "object {obj}");
        }
    }

    #[test]
    fn bindings_out_of_range_fail_the_check() {
        let objs = two_objects();
        let ns = Namespace::new(objs.iter().map(|o| o.view()).collect(), alloc::vec![0, 1]);
        for (k, b) in [
            (crate::plan::key(1, 0), Binding::Def { obj: 9, sym: 1 }),
            (crate::plan::key(1, 0), Binding::Def { obj: 1, sym: 999 }),
            (crate::plan::key(999, 0), Binding::Def { obj: 1, sym: 1 }),
        ] {
            let mut p = ObjPlan::with_capacity(1);
            p.insert(k, b);
            let mut w = Writer::new(&[1], b"x", b"");
            w.add_plan(0, &p, &ns);
            let bytes = w.finish(&ns).unwrap();
            let r = Record::parse(&bytes).unwrap();
            assert!(!r.check(&ns, &[]), "{b:?}");
        }
    }

    #[test]
    fn cache_sizes() {
        assert_eq!(parse_size(b"4096"), Some(4096));
        assert_eq!(parse_size(b"64k"), Some(64 << 10));
        assert_eq!(parse_size(b"128M"), Some(128 << 20));
        assert_eq!(parse_size(b"2G"), Some(2 << 30));
        for bad in [
            &b""[..],
            b"M",
            b"12X",
            b"-1",
            b"1 M",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_size(bad), None, "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn record_names() {
        assert!(is_record_name(b"fe00-3c569-0a1b2c3d"));
        assert!(is_record_name(b"fe00-3c569"), "an older build's record");
        assert!(is_record_name(b"dl-9af3"));
        for n in [
            &b"fe00-3c569-0a1b2c3d.tmp.1f"[..],
            b"fe00",
            b"dl-",
            b"-1",
            b"fe00-1-",
            b"fe00-1-2-3",
            b"x-1",
        ] {
            assert!(!is_record_name(n), "{:?}", core::str::from_utf8(n));
        }
    }

    #[test]
    fn eviction_removes_the_least_recently_used_down_to_three_quarters() {
        let f = |size, used| CacheFile { size, used };
        let files = [f(40, 5), f(40, 1), f(40, 9), f(40, 3)];
        assert!(to_evict(&files, None, 160).is_empty(), "fits");
        // 160 > 100: down to 75, the oldest first (1, 3, then 5).
        assert_eq!(to_evict(&files, None, 100), [1, 3, 0]);
        // The one just written stays even if it is the oldest.
        assert_eq!(to_evict(&files, Some(1), 100), [3, 0, 2]);
        assert_eq!(to_evict(&[f(500, 1)], Some(0), 100), Vec::<usize>::new());
    }

    #[test]
    fn undefined_references_are_not_recorded() {
        let objs = two_objects();
        let ns = Namespace::new(objs.iter().map(|o| o.view()).collect(), alloc::vec![0, 1]);
        let mut p = ObjPlan::with_capacity(1);
        p.insert(crate::plan::key(1, 0), Binding::Undefined);
        let mut w = Writer::new(&[1], b"x", b"");
        w.add_plan(0, &p, &ns);
        assert!(w.finish(&ns).is_none());
    }
}
