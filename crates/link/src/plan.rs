//! Relocation planning: resolve every symbolic relocation's (symbol index, type class) once per
//! object, in glibc's lookup order, into a load-address-independent, serializable plan.

use alloc::vec::Vec;

use crate::ObjId;
use crate::hash::NameHash;
use crate::lookup::{Namespace, Request, TypeClass};
use crate::object::{STB_LOCAL, SYM_SIZE};
use crate::reloc::{R_X86_64_JUMP_SLOT, is_symbolless, type_class};

/// The result for one (object, symbol index, type class).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Defined by symbol `sym` of object `obj` (for local/hidden refs: the object itself).
    Def { obj: ObjId, sym: u32 },
    /// Undefined weak reference: glibc's `sym == NULL`, value 0.
    UndefWeak,
    /// Undefined strong reference: an error ("undefined symbol: ...").
    Undefined,
}

/// Bindings of one object: `keys[i]` (= `sym << 2 | class`) binds to `bindings[i]`, in the
/// order the references were first met; `index` is an open-addressing hash table over `keys`
/// so that `get` is O(1) without sorting (sorting cost more than the lookups it served).
#[derive(Clone, Debug, Default)]
pub struct ObjPlan {
    pub keys: Vec<u32>,
    pub bindings: Vec<Binding>,
    /// Power-of-two table of positions in `keys` plus one (0 = empty, so a fresh table is
    /// zeroed memory: no fill pass, and pages of it never written are never touched).
    index: Vec<u32>,
    /// The table is `index[..slots]` (a power of two, or 0 for none): a reused plan keeps
    /// its longer buffer.
    slots: usize,
    /// The object's JUMP_SLOTs were left out (lazy binding): none of them has a binding.
    pub lazy_plt: bool,
    /// The table is not built (a recorded plan: the loader consults it in its own order
    /// nearly always, see `ensure_index`); lookups scan `keys` until it is.
    unindexed: bool,
    /// Keys scanned by `lookup` while unindexed (its rent-or-buy budget).
    scanned: usize,
    /// Per binding, when the plan came from a launch record: the defining symbol's
    /// `st_value` for a plain definition (the loader adds the object's base without reading
    /// the symbol), or [`VALUE_UNKNOWN`]. Empty for a plan made by looking symbols up.
    pub values: Vec<u64>,
}

/// A recorded value the loader must not use (IFUNC, ABS, TLS or undefined: it reads the
/// symbol instead).
pub const VALUE_UNKNOWN: u64 = u64::MAX;

/// What a launch record keeps of binding `b`'s symbol (see [`ObjPlan::values`]).
pub fn recorded_value(ns: &crate::Namespace<'_>, b: Binding) -> u64 {
    use crate::object::{SHN_ABS, SHN_UNDEF, STT_GNU_IFUNC, STT_TLS};
    let Binding::Def { obj, sym } = b else {
        return VALUE_UNKNOWN;
    };
    match ns.obj(obj).and_then(|o| o.sym(sym)) {
        Some(s)
            if s.shndx != SHN_ABS
                && s.shndx != SHN_UNDEF
                && s.typ() != STT_GNU_IFUNC
                && s.typ() != STT_TLS =>
        {
            s.value
        }
        _ => VALUE_UNKNOWN,
    }
}

impl PartialEq for ObjPlan {
    fn eq(&self, other: &Self) -> bool {
        // Same key -> binding relation, whatever the insertion order.
        self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .zip(&self.bindings)
                .all(|(k, b)| other.get_key(*k) == Some(*b))
    }
}
impl Eq for ObjPlan {}

#[inline]
pub fn key(sym: u32, class: TypeClass) -> u32 {
    (sym << 2) | class as u32
}

#[inline]
fn hash_slot(key: u32, mask: usize) -> usize {
    (key.wrapping_mul(0x9E37_79B1) >> 7) as usize & mask
}

impl ObjPlan {
    /// An empty plan with room for `n` distinct references.
    pub fn with_capacity(n: usize) -> Self {
        let mut p = ObjPlan::default();
        p.reset(n);
        p
    }

    /// Empties the plan, keeping its buffers, with room for `n` distinct references (so one
    /// plan's memory serves object after object instead of each taking fresh pages).
    pub fn reset(&mut self, n: usize) {
        self.keys.clear();
        self.bindings.clear();
        self.values.clear();
        // Fresh buffers rather than `reserve`, which would copy the old (stale) contents.
        if self.keys.capacity() < n {
            self.keys = Vec::new();
            self.keys = Vec::with_capacity(n);
        }
        if self.bindings.capacity() < n {
            self.bindings = Vec::new();
            self.bindings = Vec::with_capacity(n);
        }
        // At most three quarters full with `n` keys.
        self.clear_table((n + n / 3 + 1).next_power_of_two());
        self.lazy_plt = false;
        self.unindexed = false;
    }

    /// Builds the table of a plan filled by `extend_recorded`, if it has none yet.
    pub fn ensure_index(&mut self) {
        if self.unindexed {
            self.unindexed = false;
            self.grow_to(self.keys.len());
        }
    }

    /// Makes `index[..size]` an empty table, reusing the buffer when it is long enough.
    fn clear_table(&mut self, size: usize) {
        if let Some(t) = self.index.get_mut(..size) {
            t.fill(0);
        } else {
            // A fresh zeroed table rather than growing this one (which would copy it).
            self.index = Vec::new();
            self.index = alloc::vec![0; size];
        }
        self.slots = size;
    }

    /// Position of `key` in the table: Ok(position in keys) or Err(empty slot).
    #[inline]
    fn probe(&self, key: u32) -> Result<usize, usize> {
        if self.unindexed {
            return self.keys.iter().position(|&k| k == key).ok_or(usize::MAX);
        }
        let Some(table) = self.index.get(..self.slots).filter(|t| !t.is_empty()) else {
            return Err(usize::MAX);
        };
        let mask = table.len() - 1;
        let mut i = hash_slot(key, mask);
        loop {
            let e = table[i];
            if e == 0 {
                return Err(i);
            }
            let pos = e as usize - 1;
            if self.keys.get(pos) == Some(&key) {
                return Ok(pos);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    fn get_key(&self, key: u32) -> Option<Binding> {
        let i = self.probe(key).ok()?;
        self.bindings.get(i).copied()
    }

    #[inline]
    pub fn get(&self, sym: u32, class: TypeClass) -> Option<Binding> {
        self.get_key(key(sym, class))
    }

    /// The binding of (`sym`, `class`) for lookups out of the plan's order: a recorded plan
    /// is scanned until the scans have cost about one pass over its keys plus a couple of
    /// thousand steps, and only then indexed (rent-or-buy: a table costs a pass, its inserts
    /// and its memory). libc's 17 TLS relocations and few out-of-order references scan its
    /// ~130 keys; the table they used to build took a fresh kilobyte at the top of `true`'s
    /// start-up heap, its ninth page.
    pub fn lookup(&mut self, sym: u32, class: TypeClass) -> Option<Binding> {
        let i = self.lookup_index(sym, class)?;
        self.bindings.get(i).copied()
    }

    /// `lookup`, as a position in `bindings` (see `get_index`).
    pub fn lookup_index(&mut self, sym: u32, class: TypeClass) -> Option<usize> {
        let key = key(sym, class);
        if self.unindexed && self.scanned <= self.keys.len() + 2048 {
            let pos = self.keys.iter().position(|&k| k == key);
            self.scanned += pos.map_or(self.keys.len(), |p| p + 1);
            return pos;
        }
        self.ensure_index();
        self.probe(key).ok()
    }

    /// Position of the binding of (`sym`, `class`) in `bindings` (stable for the plan's life,
    /// so callers can cache per-binding results by it).
    #[inline]
    pub fn get_index(&self, sym: u32, class: TypeClass) -> Option<usize> {
        self.probe(key(sym, class)).ok()
    }

    /// Adds a binding for a key not yet present (grows the table when half full).
    pub fn insert(&mut self, key: u32, b: Binding) {
        self.ensure_index();
        self.reserve_one();
        if let Err(slot) = self.probe(key) {
            self.insert_at(slot, key, b);
        }
    }

    /// Empties the plan and fills it with the distinct keys of a recorded plan, in their
    /// order, without building the table: the loader consults a recorded plan in the order
    /// it was made (97-98% of its lookups for clang and inkscape match the next entry), and
    /// builds the table (`ensure_index`) only when a lookup is out of order. Until then
    /// lookups scan the keys. A repeated key would be unreachable, not wrong.
    pub fn extend_recorded(&mut self, entries: impl ExactSizeIterator<Item = (u32, Binding)>) {
        self.keys.clear();
        self.bindings.clear();
        self.keys.reserve(entries.len());
        self.bindings.reserve(entries.len());
        for (k, b) in entries {
            self.keys.push(k);
            self.bindings.push(b);
        }
        self.slots = 0;
        self.unindexed = true;
        self.scanned = 0;
    }

    /// Grows the table if one more key would make it more than three quarters full (a
    /// smaller table is fewer pages to touch; probes are few: most references are settled
    /// before it is consulted); afterwards the empty slot `probe` returns stays valid for
    /// one `insert_at`.
    #[inline]
    fn reserve_one(&mut self) {
        if (self.keys.len() + 1) * 4 > self.slots * 3 {
            self.grow();
        }
    }

    #[cold]
    fn grow(&mut self) {
        self.grow_to(self.keys.len() + 1);
    }

    /// Rebuilds the table for `n` keys at most half full.
    fn grow_to(&mut self, n: usize) {
        let size = (n * 2).next_power_of_two();
        self.clear_table(size);
        let mask = size - 1;
        for (pos, &k) in self.keys.iter().enumerate() {
            let mut i = hash_slot(k, mask);
            while self.index[i] != 0 {
                i = (i + 1) & mask;
            }
            self.index[i] = pos as u32 + 1;
        }
    }

    /// Fills the empty `slot` (from `probe`, after `reserve_one`) with `key`.
    #[inline]
    fn insert_at(&mut self, slot: usize, key: u32, b: Binding) {
        if let Some(e) = self.index.get_mut(slot) {
            *e = self.keys.len() as u32 + 1;
            self.keys.push(key);
            self.bindings.push(b);
        }
    }

    /// True if `key` already has a binding.
    #[inline]
    pub fn contains(&self, key: u32) -> bool {
        self.probe(key).is_ok()
    }

    /// (key, binding) pairs sorted by key (for serialization and reports).
    pub fn sorted(&self) -> Vec<(u32, Binding)> {
        let mut v: Vec<(u32, Binding)> = self
            .keys
            .iter()
            .copied()
            .zip(self.bindings.iter().copied())
            .collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }
}

/// Bindings for a set of objects, indexed by ObjId; `order` is the relocation order used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindingPlan {
    pub order: Vec<ObjId>,
    pub objs: Vec<ObjPlan>,
    /// The first undefined strong reference in glibc's processing order (the one glibc would
    /// report before exiting): (object, symbol index).
    pub first_error: Option<(ObjId, u32)>,
}

/// Resolve all symbolic relocations of `order`'s objects (eager binding, as LD_BIND_NOW).
/// Lookups happen in glibc's order: objects in `order`, each object's DT_RELA entries after
/// the RELACOUNT prefix, then DT_JMPREL; the first reference to a (symbol, class) performs
/// the lookup, later ones reuse it. The order matters only for STB_GNU_UNIQUE.
pub fn plan(ns: &mut Namespace<'_>, order: &[ObjId]) -> BindingPlan {
    plan_with(ns, order, &|_| false)
}

/// Like [`plan`], but for objects where `lazy(obj)` is true the JUMP_SLOT entries of
/// DT_JMPREL are left out: they are bound on first call (lazy binding), so start-up does not
/// pay for functions the program never calls.
pub fn plan_with(
    ns: &mut Namespace<'_>,
    order: &[ObjId],
    lazy: &dyn Fn(ObjId) -> bool,
) -> BindingPlan {
    let mut out = BindingPlan {
        order: order.to_vec(),
        objs: alloc::vec![ObjPlan::default(); ns.objs.len()],
        first_error: None,
    };
    let mut planner = Planner::default();
    for &id in order {
        let mut p = ObjPlan::default();
        planner.plan_object(ns, id, lazy(id), &mut p);
        if let Some(slot) = out.objs.get_mut(id as usize) {
            *slot = p;
        }
    }
    out.first_error = planner.first_error;
    out
}

/// Plans objects one at a time, in relocation order, reusing its buffers: what
/// [`plan_with`] does for a whole order, for callers that apply each object's plan before
/// planning the next (so only one plan's tables are alive at a time).
#[derive(Debug, Default)]
pub struct Planner {
    /// Per symbol index of the object being planned: bit `class` set once (sym, class) has
    /// its binding. Most references repeat an earlier one (three in four for inkscape), and
    /// this test is cheaper than probing the plan's hash table. All zero between objects.
    seen: Vec<u8>,
    /// The first undefined strong reference in planning order (see
    /// [`BindingPlan::first_error`]).
    pub first_error: Option<(ObjId, u32)>,
}

impl Planner {
    /// The number of distinct references `plan_object` expects for object `id` (what it
    /// sizes the plan for). Distinct (symbol, class) pairs: most JUMP_SLOTs name a symbol of
    /// their own, other references repeat one more often than not (one in nine distinct
    /// for inkscape's largest library). The table grows when needed, and an oversized one
    /// costs page faults to fill.
    pub fn hint(ns: &Namespace<'_>, id: ObjId, lazy_plt: bool) -> usize {
        let (rela, plt) = Self::tables(ns, id, lazy_plt);
        Self::hint_for(rela, plt)
    }

    /// `hint` from the entry counts of [`Planner::tables`].
    fn hint_for(rela: usize, plt: usize) -> usize {
        // A small table is sized for all of its references: growing it step by step (a
        // dlopen'ed plugin's few GLOB_DATs) cost more than the few slots it may leave unused.
        let rela = if rela <= SMALL_RELA { rela } else { rela / 8 };
        (rela + plt).min(1 << 18)
    }

    /// The symbolic relocations object `id` plans (an upper bound of its distinct references):
    /// DT_RELA after the RELACOUNT prefix, plus DT_JMPREL unless left lazy.
    pub fn references(ns: &Namespace<'_>, id: ObjId, lazy_plt: bool) -> usize {
        let (rela, plt) = Self::tables(ns, id, lazy_plt);
        rela + plt
    }

    /// Entries of object `id`'s DT_RELA after the RELACOUNT prefix, and of its DT_JMPREL
    /// (0 when left lazy).
    fn tables(ns: &Namespace<'_>, id: ObjId, lazy_plt: bool) -> (usize, usize) {
        let Some(o) = ns.obj(id) else { return (0, 0) };
        let skip = o.relacount.saturating_mul(24).min(o.rela.len());
        let plt = if lazy_plt { 0 } else { o.jmprel.len() / 24 };
        ((o.rela.len() - skip) / 24, plt)
    }

    /// Plans object `id` into `p` (emptied first, its buffers reused): lookups in glibc's
    /// order, see [`plan_with`]; JUMP_SLOTs left out when `lazy_plt`.
    pub fn plan_object(
        &mut self,
        ns: &mut Namespace<'_>,
        id: ObjId,
        lazy_plt: bool,
        p: &mut ObjPlan,
    ) {
        let Some(o) = ns.obj(id) else {
            p.reset(0);
            return;
        };
        let (rela, relacount, jmprel) = (o.rela, o.relacount, o.jmprel);
        let (rela_n, plt_n) = Self::tables(ns, id, lazy_plt);
        let refs = rela_n + plt_n;
        // A few hundred references dedup well enough in the plan's own table; the byte per
        // symbol (libc: 3 KiB, zeroed) pays off only for larger tables.
        let seen_limit = if refs < SEEN_MIN_REFS {
            0
        } else {
            o.symtab.len() / SYM_SIZE
        };
        let skip = relacount.saturating_mul(24).min(rela.len());
        let rela = rela.get(skip..).unwrap_or(&[]);
        p.reset(Self::hint_for(rela_n, plt_n));
        ns.reserve_lookups(refs / 4);
        p.lazy_plt = lazy_plt;
        let mut cx = TableCx {
            id,
            seen_limit,
            first_error: &mut self.first_error,
            seen: &mut self.seen,
        };
        plan_table(ns, &mut cx, rela, false, p);
        plan_table(ns, &mut cx, jmprel, lazy_plt, p);
        // The buffer is reused by the next object: clear exactly what this one set.
        for &k in &p.keys {
            if let Some(b) = self.seen.get_mut((k >> 2) as usize) {
                *b = 0;
            }
        }
    }
}

/// Up to this many symbolic DT_RELA entries, `hint_for` counts each as a distinct reference.
const SMALL_RELA: usize = 64;

/// Objects with fewer symbolic references than this plan without the `seen` bytes.
const SEEN_MIN_REFS: usize = 256;

/// What `plan_table` needs besides the plan: the object, its "already planned" bytes (see
/// `plan_with`) for symbol indices below `seen_limit` (the symtab's size: the buffer never
/// grows past it, whatever the relocations say), and the first undefined strong reference.
struct TableCx<'c> {
    id: ObjId,
    seen_limit: usize,
    seen: &'c mut Vec<u8>,
    first_error: &'c mut Option<(ObjId, u32)>,
}

/// An Elf64_Rela entry's relocation type and symbol index (`r_info`: the type in the low
/// half, the symbol in the high half).
fn rela_info(entry: &[u8]) -> Option<(u32, u32)> {
    let info = u64::from_le_bytes(entry.get(8..16)?.try_into().ok()?);
    Some((info as u32, (info >> 32) as u32))
}

/// Plans one relocation table of object `cx.id` into `p`, in table order (JUMP_SLOTs left
/// out when `lazy_plt`); records the first undefined strong reference in `cx.first_error`.
fn plan_table(
    ns: &mut Namespace<'_>,
    cx: &mut TableCx<'_>,
    table: &[u8],
    lazy_plt: bool,
    p: &mut ObjPlan,
) {
    for entry in table.chunks_exact(24) {
        let Some((r_type, sym)) = rela_info(entry) else {
            continue;
        };
        if is_symbolless(r_type) || (lazy_plt && r_type == R_X86_64_JUMP_SLOT) {
            continue;
        }
        let class = type_class(r_type);
        let bit = 1u8 << (class & 7);
        let s = sym as usize;
        if s < cx.seen_limit {
            if cx.seen.get(s).is_some_and(|&b| b & bit != 0) {
                ns.stats.dedup_hits += 1;
                continue;
            }
            if s >= cx.seen.len() {
                // Once per object at most, to the symbol table's size (growing step by step
                // left a trail of freed buffers behind).
                cx.seen.resize(cx.seen_limit, 0);
            }
            if let Some(b) = cx.seen.get_mut(s) {
                *b |= bit;
            }
        }
        let k = key(sym, class);
        p.reserve_one();
        match p.probe(k) {
            Ok(_) => ns.stats.dedup_hits += 1,
            Err(slot) => {
                let b = resolve_one(ns, cx.id, sym, class);
                if b == Binding::Undefined && cx.first_error.is_none() {
                    *cx.first_error = Some((cx.id, sym));
                }
                p.insert_at(slot, k, b);
            }
        }
    }
}

/// `resolve_map` for one reference: local and hidden symbols bind to the object itself
/// without a lookup; otherwise look up with the reference's version (if its hash is non-zero).
pub fn resolve_one(ns: &mut Namespace<'_>, id: ObjId, symidx: u32, class: TypeClass) -> Binding {
    let Some(o) = ns.obj(id) else {
        return Binding::Undefined;
    };
    let Some(rs) = o.sym(symidx) else {
        return Binding::Undefined;
    };
    if rs.bind() == STB_LOCAL || rs.binds_local() {
        return Binding::Def {
            obj: id,
            sym: symidx,
        };
    }
    let version = o
        .versym(symidx)
        .map(|v| o.version(v & 0x7fff))
        .filter(|v| v.hash != 0);
    let req = Request {
        name: NameHash::from_strtab(o.strtab, rs.name),
        version,
        class,
        ref_sym: Some((symidx, rs)),
        undef: Some(id),
        skip: None,
        return_newest: false,
    };
    match ns.lookup_for(id, &req) {
        Some(f) => Binding::Def {
            obj: f.obj,
            sym: f.sym,
        },
        None if Namespace::is_weak_ref(&req) => Binding::UndefWeak,
        None => Binding::Undefined,
    }
}

/// A lazily bound JUMP_SLOT bound at start-up from a launch record ("prebinding"): entry
/// `index` of the object's DT_JMPREL, bound to object `obj`, whose symbol has value `value`
/// (the slot gets `obj`'s load bias plus it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreboundSlot {
    pub index: u32,
    pub obj: ObjId,
    pub value: u64,
}

/// The JUMP_SLOTs of lazily bound object `id` that can be bound at start-up instead of at
/// their first call: those whose lookup finds a plain definition now. That is what the first
/// call would find: objects loaded later only join the end of the scope. Left out, so lazy:
/// references nothing defines yet (undefined or weak: a later RTLD_GLOBAL dlopen may define
/// them before the first call) and IFUNCs (glibc runs the resolver at the first call), as
/// well as anything `recorded_value` cannot give a value for.
pub fn prebind_slots(ns: &mut Namespace<'_>, id: ObjId) -> Vec<PreboundSlot> {
    let Some(jmprel) = ns.obj(id).map(|o| o.jmprel) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(jmprel.len() / 24);
    for (index, entry) in jmprel.chunks_exact(24).enumerate() {
        let Some((r_type, sym)) = rela_info(entry) else {
            continue;
        };
        if r_type != R_X86_64_JUMP_SLOT {
            continue;
        }
        let b = resolve_one(ns, id, sym, type_class(r_type));
        let value = recorded_value(ns, b);
        if let (Binding::Def { obj, .. }, true) = (b, value != VALUE_UNKNOWN) {
            out.push(PreboundSlot {
                index: index as u32,
                obj,
                value,
            });
        }
    }
    out
}

/// The glibc error for an undefined reference recorded in a plan.
pub fn undefined_error(
    ns: &Namespace<'_>,
    progname: &str,
    id: ObjId,
    symidx: u32,
) -> Option<crate::error::LinkError> {
    let o = ns.obj(id)?;
    let rs = o.sym(symidx)?;
    let ver = o
        .versym(symidx)
        .map(|v| o.version(v & 0x7fff))
        .filter(|v| v.hash != 0);
    Some(crate::error::undefined_symbol(
        o.name,
        progname,
        o.sym_name(&rs),
        ver.map(|v| v.name),
    ))
}

const MAGIC: u32 = u32::from_le_bytes(*b"RLDP");
const FORMAT: u32 = 1;

impl BindingPlan {
    /// Little-endian u32 words: magic, format, #objs, #order, order[], error flag, error obj,
    /// error sym, then per object: #entries, entries as (key, tag, obj, sym).
    pub fn serialize(&self) -> Vec<u8> {
        let mut w: Vec<u32> = alloc::vec![
            MAGIC,
            FORMAT,
            self.objs.len() as u32,
            self.order.len() as u32
        ];
        w.extend_from_slice(&self.order);
        match self.first_error {
            Some((o, s)) => w.extend_from_slice(&[1, o, s]),
            None => w.extend_from_slice(&[0, 0, 0]),
        }
        for p in &self.objs {
            w.push(p.keys.len() as u32);
            for (k, b) in p.sorted() {
                let (t, o, s) = match b {
                    Binding::Def { obj, sym } => (0, obj, sym),
                    Binding::UndefWeak => (1, 0, 0),
                    Binding::Undefined => (2, 0, 0),
                };
                w.extend_from_slice(&[k, t, o, s]);
            }
        }
        w.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Inverse of [`BindingPlan::serialize`]; None on any malformation.
    pub fn deserialize(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(4) {
            return None;
        }
        let mut it = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut next = || it.next();
        if next()? != MAGIC || next()? != FORMAT {
            return None;
        }
        let nobjs = next()? as usize;
        let norder = next()? as usize;
        // Sizes are bounded by the input so a corrupt header cannot force a huge allocation.
        if nobjs > bytes.len() || norder > bytes.len() {
            return None;
        }
        let mut order = Vec::with_capacity(norder);
        for _ in 0..norder {
            order.push(next()?);
        }
        let (f, eo, es) = (next()?, next()?, next()?);
        let first_error = match f {
            0 => None,
            1 => Some((eo, es)),
            _ => return None,
        };
        let mut objs = Vec::with_capacity(nobjs);
        for _ in 0..nobjs {
            let n = next()? as usize;
            if n > bytes.len() {
                return None;
            }
            let mut p = ObjPlan::with_capacity(n);
            for _ in 0..n {
                let (k, t, o, s) = (next()?, next()?, next()?, next()?);
                let b = match t {
                    0 => Binding::Def { obj: o, sym: s },
                    1 => Binding::UndefWeak,
                    2 => Binding::Undefined,
                    _ => return None,
                };
                if p.contains(k) {
                    return None;
                }
                p.insert(k, b);
            }
            objs.push(p);
        }
        if next().is_some() {
            return None;
        }
        Some(BindingPlan {
            order,
            objs,
            first_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{STB_GLOBAL, STB_WEAK};
    use crate::testutil::*;
    use crate::{Namespace, ObjKind};

    /// Only JUMP_SLOTs bound to a plain definition now are prebound: references nothing
    /// defines (strong or weak) stay lazy, and so does anything that is not a JUMP_SLOT.
    #[test]
    fn prebinding_takes_only_plain_definitions() {
        let mut exe = Fake::new("exe", ObjKind::Executable);
        let gone = exe.undef("gone", STB_GLOBAL, VER_GLOBAL);
        let weak = exe.undef("weak", STB_WEAK, VER_GLOBAL);
        let f = exe.undef("f", STB_GLOBAL, VER_GLOBAL);
        exe.reloc(R_X86_64_JUMP_SLOT, gone);
        exe.reloc(R_X86_64_JUMP_SLOT, weak);
        exe.reloc(6, f); // GLOB_DAT
        exe.reloc(R_X86_64_JUMP_SLOT, f);
        let mut lib = Fake::new("lib", ObjKind::Library);
        lib.func("f", 0x10);
        let built = [exe.build(), lib.build()];
        // Their relocations as DT_JMPREL, not DT_RELA.
        let views: Vec<_> = built
            .iter()
            .map(|b| {
                let mut v = b.view();
                (v.jmprel, v.rela) = (v.rela, &[]);
                v
            })
            .collect();
        let mut ns = Namespace::new(views, alloc::vec![0, 1]);
        assert_eq!(
            prebind_slots(&mut ns, 0),
            [PreboundSlot {
                index: 3,
                obj: 1,
                value: 0x10
            }]
        );
        assert!(prebind_slots(&mut ns, 1).is_empty(), "no JUMP_SLOTs");
    }

    /// A recorded plan answers every lookup the same before and after its index is built,
    /// and a planner-style insert afterwards still works.
    #[test]
    fn recorded_plans_index_on_demand() {
        let entries: Vec<(u32, Binding)> = (0..200u32)
            .map(|i| (key(i * 3 + 1, 0), Binding::Def { obj: i % 7, sym: i }))
            .collect();
        let mut p = ObjPlan::with_capacity(4);
        p.insert(key(9999, 0), Binding::UndefWeak);
        p.extend_recorded(entries.iter().copied());
        assert_eq!(p.get(9999, 0), None, "the old contents are gone");
        let before: Vec<_> = (0..700u32)
            .map(|s| (p.get(s, 0), p.get_index(s, 0)))
            .collect();
        // `lookup` scans within its budget (one pass over the 200 keys and 2048), then indexes:
        // the same answers either way.
        let scanned: Vec<_> = (0..700u32).map(|s| p.lookup(s, 0)).collect();
        assert_eq!(scanned, before.iter().map(|b| b.0).collect::<Vec<_>>());
        assert!(
            !p.unindexed,
            "indexed once the scans cost more than the table"
        );
        let after: Vec<_> = (0..700u32)
            .map(|s| (p.get(s, 0), p.get_index(s, 0)))
            .collect();
        assert_eq!(before, after);
        let mut few = ObjPlan::default();
        few.extend_recorded(entries.iter().copied());
        assert_eq!(few.lookup(4, 0), Some(Binding::Def { obj: 1, sym: 1 }));
        assert_eq!(few.lookup(5, 0), None);
        assert!(few.unindexed, "a few lookups build no table");
        assert_eq!(p.get(4, 0), Some(Binding::Def { obj: 1, sym: 1 }));
        assert_eq!(p.get_index(4, 0), Some(1));
        p.insert(key(5000, 0), Binding::UndefWeak);
        assert_eq!(p.get(5000, 0), Some(Binding::UndefWeak));
        assert_eq!(p.get(4, 0), Some(Binding::Def { obj: 1, sym: 1 }));
        // Inserting into a plan still unindexed builds its index first.
        let mut q = ObjPlan::default();
        q.extend_recorded(entries.iter().copied());
        q.insert(key(5000, 0), Binding::UndefWeak);
        assert_eq!(q.get(5000, 0), Some(Binding::UndefWeak));
        assert_eq!(
            q.get(598, 0),
            Some(Binding::Def {
                obj: 199 % 7,
                sym: 199
            })
        );
    }
}
