//! glibc 2.36 `_dl_lookup_symbol_x` / `do_lookup_x` / `check_match` semantics over flat object
//! tables, plus a namespace-wide memo of global-scope answers. Invariant: a memo entry is only
//! created for lookups whose answer cannot depend on the requester (no skip map, global scope).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::ObjId;
use crate::hash::{NameHash, sysv_hash};
use crate::index::ScopeIndex;
use crate::object::*;

/// Relocation type class (`elf_machine_type_class`): bit 0 = PLT (an undefined symbol, e.g.
/// the executable's canonical PLT entry, must not satisfy it), bit 1 = COPY (the executable
/// itself is not searched). glibc 2.36 has no EXTERN_PROTECTED_DATA class any more.
pub type TypeClass = u8;
pub const CLASS_NORMAL: TypeClass = 0;
pub const CLASS_PLT: TypeClass = 1;
pub const CLASS_COPY: TypeClass = 2;

/// A version requirement (`struct r_found_version`); only passed when its hash is non-zero.
pub type VersionReq<'r> = Version<'r>;

/// One symbol lookup. `ref_sym` is the referencing symbol (its index in `undef`'s symtab and
/// its decoded entry): weak refs don't fail, protected refs get glibc's special treatment.
#[derive(Clone, Copy, Debug)]
pub struct Request<'r> {
    pub name: NameHash<'r>,
    pub version: Option<VersionReq<'r>>,
    pub class: TypeClass,
    pub ref_sym: Option<(u32, Sym)>,
    pub undef: Option<ObjId>,
    pub skip: Option<ObjId>,
    /// DL_LOOKUP_RETURN_NEWEST (dlsym without version): accept versym index 2+ defaults.
    pub return_newest: bool,
}

impl<'r> Request<'r> {
    pub fn new(name: &'r [u8]) -> Self {
        Request {
            name: NameHash::new(name),
            version: None,
            class: CLASS_NORMAL,
            ref_sym: None,
            undef: None,
            skip: None,
            return_newest: false,
        }
    }
}

/// A successful lookup: the defining object and the symbol index there. `protected` mirrors
/// glibc's debug output ("protected" vs "normal" symbol): the *reference* was STV_PROTECTED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub obj: ObjId,
    pub sym: u32,
    pub protected: bool,
}

/// Warnings glibc prints (with `_dl_error_printf`) during lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Diag {
    /// "warning: copy relocation against non-copyable protected symbol `%s' in `%s'\n"
    CopyOfProtected { name: Vec<u8>, definer: ObjId },
    /// "warning: direct reference to protected function `%s' in `%s' may break pointer equality\n"
    ProtectedPointerEquality { name: Vec<u8>, definer: ObjId },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls of the lookup entry point (glibc's "number of relocations" minus relative ones).
    pub lookups: u64,
    /// Lookups answered by the namespace memo.
    pub memo_hits: u64,
    /// Lookups that walked a scope.
    pub scans: u64,
    /// Objects whose hash table was consulted during scans.
    pub objects_probed: u64,
    /// Symbol references served by per-(object, symbol) dedup in the planner.
    pub dedup_hits: u64,
}

#[derive(Clone, Copy)]
struct MemoEntry<'a> {
    gnu: u32,
    name: &'a [u8],
    ver: Option<(u32, &'a [u8], bool)>,
    class: TypeClass,
    newest: bool,
    result: Option<(ObjId, u32)>,
}

/// Open-addressing map from a lookup key to its answer; keyed by the precomputed GNU hash.
struct Memo<'a> {
    slots: Vec<u32>,
    entries: Vec<MemoEntry<'a>>,
}

impl<'a> Memo<'a> {
    /// Empty: the table is made on the first insertion (the memo is off for most
    /// namespaces, and 4 KiB of zeroed table is a page fault at every start-up).
    fn new() -> Self {
        Memo {
            slots: Vec::new(),
            entries: Vec::new(),
        }
    }
    fn key_hash(gnu: u32, ver: &Option<(u32, &[u8], bool)>, class: TypeClass) -> usize {
        let v = ver.map(|(h, _, _)| h).unwrap_or(0);
        let x = (gnu as u64) ^ ((v as u64) << 21) ^ ((class as u64) << 55);
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize
    }
    fn matches(
        e: &MemoEntry,
        gnu: u32,
        name: &[u8],
        ver: &Option<(u32, &[u8], bool)>,
        class: TypeClass,
        newest: bool,
    ) -> bool {
        e.gnu == gnu && e.class == class && e.newest == newest && e.name == name && e.ver == *ver
    }
    fn get(
        &self,
        gnu: u32,
        name: &[u8],
        ver: &Option<(u32, &[u8], bool)>,
        class: TypeClass,
        newest: bool,
    ) -> Option<Option<(ObjId, u32)>> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut i = Self::key_hash(gnu, ver, class) & mask;
        loop {
            let s = *self.slots.get(i)?;
            if s == 0 {
                return None;
            }
            let e = self.entries.get(s as usize - 1)?;
            if Self::matches(e, gnu, name, ver, class, newest) {
                return Some(e.result);
            }
            i = (i + 1) & mask;
        }
    }
    fn insert(&mut self, e: MemoEntry<'a>) {
        if (self.entries.len() + 1) * 4 > self.slots.len() * 3 {
            let n = (self.slots.len() * 2).max(1024);
            self.slots = alloc::vec![0; n];
            let mask = n - 1;
            for (k, old) in self.entries.iter().enumerate() {
                let mut i = Self::key_hash(old.gnu, &old.ver, old.class) & mask;
                while self.slots[i] != 0 {
                    i = (i + 1) & mask;
                }
                self.slots[i] = k as u32 + 1;
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = Self::key_hash(e.gnu, &e.ver, e.class) & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.entries.push(e);
        self.slots[i] = self.entries.len() as u32;
    }
    fn clear(&mut self) {
        // Every slot is already 0 when no answer was kept (the memo is off unless
        // `memo_lookups`): dlopen and dlclose clear it on every call, and zeroing the 4 KiB
        // table was a twentieth of a dlopen+dlclose cycle.
        if self.entries.is_empty() {
            return;
        }
        self.slots.iter_mut().for_each(|s| *s = 0);
        self.entries.clear();
    }
}

/// LD_DEBUG=symbols sink: (symbol name, name of the object probed).
pub type ProbeTrace = fn(&[u8], &[u8]);

/// One link-map namespace: its objects (indexed by ObjId), global scope, STB_GNU_UNIQUE table
/// and lookup memo.
pub struct Namespace<'a> {
    pub objs: Vec<ObjView<'a>>,
    /// The global scope (main program, preloads, breadth-first dependencies, RTLD_GLOBAL opens).
    global: Vec<ObjId>,
    /// LD_DYNAMIC_WEAK: a weak definition only wins if no later strong one exists.
    pub dynamic_weak: bool,
    /// Disable the memo (for measurement and differential testing).
    pub use_memo: bool,
    /// Memoize global-scope answers by (name, version, class). Off by default: measured on
    /// this machine, a plain search (or the scope index) is cheaper than keeping the memo
    /// (true, ls, bash, perl, git: 1-3% fewer instructions without it; large scopes: fewer
    /// page faults).
    pub memo_lookups: bool,
    unique: BTreeMap<Vec<u8>, (ObjId, u32)>,
    /// Per-object local scopes searched after the global scope (glibc's `l_scope[1]` of a
    /// dlopen'ed object and its new dependencies: the dlopen'ed object's search list).
    local: BTreeMap<ObjId, Vec<ObjId>>,
    /// Objects whose local scope comes *before* the global scope (RTLD_DEEPBIND: glibc's
    /// `l_scope = [loader's search list, global]`).
    deep: Vec<ObjId>,
    /// Objects whose whole scope list is given explicitly, replacing the global and local
    /// scopes (objects of another link-map namespace, `dlmopen`).
    explicit: Vec<(ObjId, Vec<Vec<ObjId>>)>,
    /// Search lists appended to an object's scope by later dlopens that loaded it again as a
    /// dependency (glibc's `update_scopes`), searched after all its other scopes; each is
    /// (the dlopen'ed object whose search list it is, that list).
    appended: BTreeMap<ObjId, Vec<(ObjId, Vec<ObjId>)>>,
    /// Link-map namespace of objects outside the base one (`l_ns`): each namespace has its own
    /// STB_GNU_UNIQUE table (glibc's `_ns_unique_sym_table`).
    groups: Vec<(ObjId, u32)>,
    /// Index of the global scope by GNU hash (built on first use for large scopes); boxed so
    /// taking it out for a lookup moves one pointer.
    index: Option<alloc::boxed::Box<ScopeIndex>>,
    index_state: IndexState,
    /// Object probes the global-scope walk may spend before the index is built (see
    /// `search_global`), and the probe count when that budget was set; None: not yet set.
    index_budget: Option<(u64, u64)>,
    /// That budget per symbol the index would hold (1; 0 builds the index at once).
    pub index_probes_per_symbol: u64,
    memo: Memo<'a>,
    pub stats: Stats,
    pub diags: Vec<Diag>,
    /// LD_DEBUG=symbols: called with (symbol name, object name) for every object a lookup probes, like
    /// glibc's `symbol=NAME;  lookup in file=...`. Probes skipped by the memo or the scope
    /// index are not reported: a tracing caller turns `use_memo` off.
    pub trace: Option<ProbeTrace>,
}

/// Scopes at least this long get a `ScopeIndex` (below, building it costs more than the
/// object walks it saves).
const INDEX_MIN_SCOPE: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IndexState {
    Unbuilt,
    Built,
    /// Some object has only a SysV hash table: walk the scope.
    Unavailable,
}

struct SearchState {
    result: Option<(ObjId, u32)>,
}

impl<'a> Namespace<'a> {
    pub fn new(objs: Vec<ObjView<'a>>, global: Vec<ObjId>) -> Self {
        Namespace {
            objs,
            global,
            dynamic_weak: false,
            use_memo: true,
            memo_lookups: false,
            unique: BTreeMap::new(),
            local: BTreeMap::new(),
            appended: BTreeMap::new(),
            deep: Vec::new(),
            explicit: Vec::new(),
            groups: Vec::new(),
            index: None,
            index_state: IndexState::Unbuilt,
            index_budget: None,
            index_probes_per_symbol: 1,
            memo: Memo::new(),
            stats: Stats::default(),
            diags: Vec::new(),
            trace: None,
        }
    }

    pub fn global(&self) -> &[ObjId] {
        &self.global
    }

    /// Replace the global scope; every memoized answer is dropped.
    pub fn set_global(&mut self, global: Vec<ObjId>) {
        self.global = global;
        self.memo.clear();
        self.index = None;
        self.index_state = IndexState::Unbuilt;
        self.index_budget = None;
    }

    /// Gives `id` a local scope, searched after the global scope by [`Namespace::lookup_for`]
    /// (an empty list removes it).
    pub fn set_local_scope(&mut self, id: ObjId, scope: Vec<ObjId>) {
        self.deep.retain(|&d| d != id);
        if scope.is_empty() {
            self.local.remove(&id);
        } else {
            self.local.insert(id, scope);
        }
    }

    /// Gives `id` a local scope searched *before* the global scope (RTLD_DEEPBIND); its own
    /// DT_SYMBOLIC precedence does not apply then, as in glibc. An empty list removes it.
    pub fn set_local_scope_first(&mut self, id: ObjId, scope: Vec<ObjId>) {
        let deep = !scope.is_empty();
        self.set_local_scope(id, scope);
        if deep {
            self.deep.push(id);
        }
    }

    /// Gives `id` its complete scope list (glibc's `l_scope` of an object in another
    /// namespace: that namespace's first object's search list, then the opener's): the global
    /// scope and any local scope are not searched for it. An empty list removes it.
    pub fn set_scopes(&mut self, id: ObjId, scopes: Vec<Vec<ObjId>>) {
        self.explicit.retain(|(i, _)| *i != id);
        if !scopes.is_empty() {
            self.explicit.push((id, scopes));
        }
    }

    /// Appends the search list `scope` of the newly dlopen'ed object `owner` to `id`'s scope
    /// (glibc's `update_scopes`); false if `id` already has it. For an object with an
    /// explicit scope list (another namespace) it becomes the last of those.
    pub fn append_scope(&mut self, id: ObjId, owner: ObjId, scope: Vec<ObjId>) -> bool {
        if let Some((_, scopes)) = self.explicit.iter_mut().find(|(i, _)| *i == id) {
            if scopes.contains(&scope) {
                return false;
            }
            scopes.push(scope);
            return true;
        }
        let list = self.appended.entry(id).or_default();
        if list.iter().any(|(o, _)| *o == owner) {
            return false;
        }
        list.push((owner, scope));
        true
    }

    /// Drops the search lists of `gone` objects from every appended scope (dlclose removes
    /// an unloaded object's search list from the scopes of the objects that remain).
    pub fn drop_appended_scopes(&mut self, gone: &dyn Fn(ObjId) -> bool) {
        self.appended.retain(|id, list| {
            list.retain(|(o, _)| !gone(*o));
            !gone(*id) && !list.is_empty()
        });
    }

    /// The search lists appended to `id`'s scope, in order.
    pub fn appended_scopes(&self, id: ObjId) -> impl Iterator<Item = &[ObjId]> {
        self.appended
            .get(&id)
            .into_iter()
            .flat_map(|l| l.iter().map(|(_, s)| s.as_slice()))
    }

    /// The explicit scope list of `id` (see [`Namespace::set_scopes`]), if it has one.
    pub fn scopes(&self, id: ObjId) -> Option<&[Vec<ObjId>]> {
        self.explicit
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| s.as_slice())
    }

    /// Puts `id` in link-map namespace `group` (0, the default, is the base namespace): its
    /// STB_GNU_UNIQUE definitions go to that namespace's table.
    pub fn set_group(&mut self, id: ObjId, group: u32) {
        self.groups.retain(|(i, _)| *i != id);
        if group != 0 {
            self.groups.push((id, group));
        }
    }

    /// The unique-table key of `name` defined in `id`: the name itself in the base namespace,
    /// else NUL, the namespace and the name (symbol names hold no NUL).
    fn unique_key(&self, id: ObjId, name: &[u8]) -> Vec<u8> {
        let g = self
            .groups
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(0, |(_, g)| *g);
        if g == 0 {
            return name.to_vec();
        }
        let mut k = alloc::vec![0u8];
        k.extend_from_slice(&g.to_le_bytes());
        k.extend_from_slice(name);
        k
    }

    /// True if `id`'s local scope is searched before the global scope.
    pub fn local_scope_first(&self, id: ObjId) -> bool {
        self.deep.contains(&id)
    }

    /// The local scope of `id` (empty if it has none).
    pub fn local_scope(&self, id: ObjId) -> &[ObjId] {
        self.local.get(&id).map_or(&[][..], |v| v.as_slice())
    }

    /// Appends an object (a dlopen'ed one); returns its id.
    pub fn push_object(&mut self, view: ObjView<'a>) -> ObjId {
        self.objs.push(view);
        (self.objs.len() - 1) as ObjId
    }

    /// Forgets the objects with ids `len..` (unloaded objects at the end of the table, whose
    /// ids will be given to new objects): their views, local scopes and STB_GNU_UNIQUE
    /// entries, and every memoized answer. The global scope must not name them.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.objs.len() {
            return;
        }
        self.objs.truncate(len);
        let gone = |id: &ObjId| *id as usize >= len;
        self.local.retain(|id, _| !gone(id));
        self.appended.retain(|id, list| {
            list.retain(|(o, _)| !gone(o));
            !gone(id) && !list.is_empty()
        });
        self.deep.retain(|id| !gone(id));
        self.explicit.retain(|(id, _)| !gone(id));
        self.unique.retain(|_, (id, _)| !gone(id));
        self.groups.retain(|(id, _)| !gone(id));
        self.memo.clear();
        // Rebuilt on next use: its symbol indices must never outlive the views they index.
        self.index = None;
        self.index_state = IndexState::Unbuilt;
        self.index_budget = None;
    }

    /// Room for about `n` more memoized lookups (reserving avoids copying the memo as it
    /// grows; untouched capacity costs nothing).
    pub fn reserve_lookups(&mut self, n: usize) {
        // Indexed scopes do not use the memo (see `global_memo`).
        if self.use_memo && self.memo_lookups && self.global.len() < INDEX_MIN_SCOPE {
            self.memo.entries.reserve(n);
        }
    }

    /// Drop memoized answers (call when an object's `removed` flag changes).
    pub fn invalidate_memo(&mut self) {
        self.memo.clear();
    }

    #[inline]
    pub fn obj(&self, id: ObjId) -> Option<&ObjView<'a>> {
        self.objs.get(id as usize)
    }

    /// Entry of the STB_GNU_UNIQUE table for `name`, if any.
    pub fn unique_entry(&self, name: &[u8]) -> Option<(ObjId, u32)> {
        self.unique.get(name).copied()
    }

    /// The STB_GNU_UNIQUE table (keys as `unique_key` makes them), for the launch cache.
    pub fn unique_entries(&self) -> impl Iterator<Item = (&[u8], (ObjId, u32))> {
        self.unique.iter().map(|(k, &e)| (k.as_slice(), e))
    }

    /// Enters a STB_GNU_UNIQUE definition found by an earlier launch (see
    /// [`crate::launch::Record::restore_unique`]); an entry already made wins.
    pub fn restore_unique(&mut self, key: &[u8], entry: (ObjId, u32)) {
        self.unique.entry(key.to_vec()).or_insert(entry);
    }

    /// Entry of the STB_GNU_UNIQUE table of `id`'s namespace for `name`, if any.
    pub fn unique_entry_of(&self, id: ObjId, name: &[u8]) -> Option<(ObjId, u32)> {
        self.unique.get(&self.unique_key(id, name)).copied()
    }

    /// glibc's `check_match`. Returns true for a match; may record the single acceptable
    /// versioned definition for an unversioned reference in (`versioned`, `nver`).
    /// Inlined: it runs once per candidate symbol of every lookup.
    #[inline(always)]
    fn check_match(
        o: &ObjView,
        req: &Request,
        class: TypeClass,
        idx: u32,
        sym: &Sym,
        versioned: &mut Option<(u32, Sym)>,
        nver: &mut u32,
    ) -> bool {
        let stt = sym.typ();
        if (sym.value == 0 && sym.shndx != SHN_ABS && stt != STT_TLS)
            || (class & CLASS_PLT != 0 && sym.shndx == SHN_UNDEF)
        {
            return false;
        }
        const ALLOWED: u32 = (1 << STT_NOTYPE)
            | (1 << STT_OBJECT)
            | (1 << STT_FUNC)
            | (1 << STT_COMMON)
            | (1 << STT_TLS)
            | (1 << STT_GNU_IFUNC);
        if (1u32 << stt) & ALLOWED == 0 {
            return false;
        }
        if !o.name_eq(sym.name, req.name.name) {
            return false;
        }
        let vs = o.versym(idx);
        match (&req.version, vs) {
            (Some(want), Some(vs)) => {
                let have = o.version(vs & 0x7fff);
                if (have.hash != want.hash || !bytes_eq(have.name, want.name))
                    && (want.hidden || have.hash != 0 || vs & 0x8000 != 0)
                {
                    return false;
                }
            }
            // A versioned reference to an object without version info is accepted.
            (Some(_), None) => {}
            (None, Some(vs)) => {
                let min = if req.return_newest { 2 } else { 3 };
                if (vs & 0x7fff) >= min {
                    if vs & 0x8000 == 0 {
                        if *nver == 0 {
                            *versioned = Some((idx, *sym));
                        }
                        *nver += 1;
                    }
                    return false;
                }
            }
            (None, None) => {}
        }
        true
    }

    /// Search one object's hash table; returns the matching symbol as check_match would.
    #[inline]
    fn find_in_object(
        o: &ObjView,
        req: &Request,
        class: TypeClass,
        sysv: &mut Option<u32>,
    ) -> Option<(u32, Sym)> {
        let mut versioned = None;
        let mut nver = 0u32;
        match &o.hash {
            HashTable::None => return None,
            HashTable::Gnu(g) => {
                let h = req.name.gnu;
                if g.bloom_may_contain(h)
                    && let Some(mut idx) = g.chain_start(h)
                {
                    while let Some(w) = g.chain_word(idx) {
                        if (w ^ h) >> 1 == 0
                            && let Some(sym) = o.sym(idx)
                            && Self::check_match(
                                o,
                                req,
                                class,
                                idx,
                                &sym,
                                &mut versioned,
                                &mut nver,
                            )
                        {
                            return Some((idx, sym));
                        }
                        if w & 1 != 0 {
                            break;
                        }
                        idx = idx.wrapping_add(1);
                    }
                }
            }
            HashTable::Sysv(t) => {
                let h = *sysv.get_or_insert_with(|| sysv_hash(req.name.name));
                let mut idx = t.bucket(h);
                // Bounded so a cyclic chain cannot hang us.
                let mut guard = 0u32;
                while idx != 0 && guard < 1 << 24 {
                    if let Some(sym) = o.sym(idx)
                        && Self::check_match(o, req, class, idx, &sym, &mut versioned, &mut nver)
                    {
                        return Some((idx, sym));
                    }
                    idx = t.next(idx);
                    guard += 1;
                }
            }
        }
        if nver == 1 { versioned } else { None }
    }

    /// glibc's `do_lookup_x` over one scope starting at `start`. Returns true when the search
    /// is finished (a global/unique definition, or a weak one without LD_DYNAMIC_WEAK).
    #[allow(clippy::too_many_arguments)]
    fn do_lookup_x(
        &mut self,
        req: &Request,
        scope: &[ObjId],
        start: usize,
        class: TypeClass,
        undef: Option<ObjId>,
        st: &mut SearchState,
        sysv: &mut Option<u32>,
    ) -> bool {
        for &id in scope.iter().skip(start) {
            if Some(id) == req.skip {
                continue;
            }
            if self.probe_object(req, id, class, undef, st, sysv) {
                return true;
            }
        }
        false
    }

    /// One object of `do_lookup_x`'s walk; true when the search is finished.
    #[inline]
    fn probe_object(
        &mut self,
        req: &Request,
        id: ObjId,
        class: TypeClass,
        undef: Option<ObjId>,
        st: &mut SearchState,
        sysv: &mut Option<u32>,
    ) -> bool {
        let Some(o) = self.objs.get(id as usize) else {
            return false;
        };
        if (class & CLASS_COPY != 0 && o.kind == ObjKind::Executable) || o.removed {
            return false;
        }
        self.stats.objects_probed += 1;
        if let Some(t) = self.trace {
            t(req.name.name, o.name);
        }
        let Some((idx, sym)) = Self::find_in_object(o, req, class, sysv) else {
            return false;
        };
        self.accept(req, id, idx, &sym, class, undef, st)
    }

    /// What `do_lookup_x` does with the symbol an object yielded; true when the search is
    /// finished. Inlined: it runs once per object yielding a symbol in every lookup.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn accept(
        &mut self,
        req: &Request,
        id: ObjId,
        idx: u32,
        sym: &Sym,
        class: TypeClass,
        undef: Option<ObjId>,
        st: &mut SearchState,
    ) -> bool {
        if sym.binds_local() {
            return false;
        }
        if sym.vis() == STV_PROTECTED {
            self.check_protected(req, undef, id, class);
        }
        match sym.bind() {
            // LD_DYNAMIC_WEAK: remember the first weak one but keep searching.
            #[allow(clippy::collapsible_match)]
            STB_WEAK if self.dynamic_weak => {
                if st.result.is_none() {
                    st.result = Some((id, idx));
                }
                false
            }
            STB_WEAK | STB_GLOBAL => {
                st.result = Some((id, idx));
                true
            }
            STB_GNU_UNIQUE => {
                st.result = Some(self.do_lookup_unique(req, id, idx, class));
                true
            }
            _ => false,
        }
    }

    /// Whether the global-scope walk has probed as many objects as the index would hold
    /// symbols, so that building it is now likely to pay (a rent-or-buy rule). Measured
    /// (callgrind, whole process) with the index always / never / by this rule: inkscape
    /// 183 / 300 / 192 M, ffmpeg 73.5 / 291 / 78.4 M, gdb 136 / 158 / 139 M, curl 26.1 /
    /// 32.0 / 27.2 M, clang 50.1 / 47.6 / 48.2 M, lupdate 8.4 / 7.1 / 7.2 M: the last two
    /// do a few thousand lookups, which do not repay indexing 30-90k symbols (lupdate's
    /// start-up: 1.31x glibc's with the index, 1.12x without).
    fn walk_budget_spent(&mut self) -> bool {
        let probed = self.stats.objects_probed;
        let per_symbol = self.index_probes_per_symbol;
        let (start, budget) = *self.index_budget.get_or_insert_with(|| {
            let symbols: u64 = self
                .global
                .iter()
                .filter_map(|&id| self.objs.get(id as usize))
                .map(|o| match &o.hash {
                    HashTable::Gnu(g) => g.symbol_end().saturating_sub(g.symoffset) as u64,
                    _ => 0,
                })
                .sum();
            (probed, per_symbol.saturating_mul(symbols))
        });
        probed.saturating_sub(start) >= budget
    }

    /// The global-scope walk of `global_memo`: through the scope index when the scope is
    /// large (same objects in the same order, minus those that cannot match), else linear.
    fn search_global(&mut self, req: &Request, class: TypeClass) -> Option<(ObjId, u32)> {
        if self.index_state == IndexState::Unbuilt
            && self.global.len() >= INDEX_MIN_SCOPE
            && self.walk_budget_spent()
        {
            self.index = ScopeIndex::build(&self.objs, &self.global).map(alloc::boxed::Box::new);
            self.index_state = if self.index.is_some() {
                IndexState::Built
            } else {
                IndexState::Unavailable
            };
        }
        let Some(ix) = self.index.take() else {
            let global = core::mem::take(&mut self.global);
            let r = self.search(req, &[&global], class, None, &mut None);
            self.global = global;
            return r;
        };
        self.stats.scans += 1;
        let mut st = SearchState { result: None };
        let mut cands = ix.candidates(req.name.gnu);
        let mut next = cands.next();
        // The candidates come grouped by object, in scope order: each group is what glibc's
        // chain walk in that object would compare.
        while let Some(first) = next {
            let pos = first.pos;
            let Some(o) = ix.scope_id(pos).and_then(|id| self.objs.get(id as usize)) else {
                next = cands.next();
                continue;
            };
            let searched =
                !((class & CLASS_COPY != 0 && o.kind == ObjKind::Executable) || o.removed);
            // do_lookup_x's bloom test comes before the chain walk (an exact filter for
            // well-formed tables, kept so a malformed one behaves as in glibc).
            let passes_bloom = match &o.hash {
                HashTable::Gnu(g) => g.bloom_may_contain(req.name.gnu),
                _ => false,
            };
            let mut versioned = None;
            let mut nver = 0u32;
            let mut found = None;
            while let Some(c) = next
                && c.pos == pos
            {
                if searched
                    && passes_bloom
                    && found.is_none()
                    && let Some(sym) = o.sym(c.sym)
                    && Self::check_match(o, req, class, c.sym, &sym, &mut versioned, &mut nver)
                {
                    found = Some((c.sym, sym));
                }
                next = cands.next();
            }
            if !searched {
                continue;
            }
            self.stats.objects_probed += 1;
            if let Some(t) = self.trace {
                t(req.name.name, o.name);
            }
            let Some((idx, sym)) = found.or(if nver == 1 { versioned } else { None }) else {
                continue;
            };
            let Some(id) = ix.scope_id(pos) else { continue };
            if self.accept(req, id, idx, &sym, class, None, &mut st) {
                break;
            }
        }
        self.index = Some(ix);
        st.result
    }

    fn check_protected(
        &mut self,
        req: &Request,
        undef: Option<ObjId>,
        definer: ObjId,
        class: TypeClass,
    ) {
        let Some(u) = undef.and_then(|u| self.objs.get(u as usize)) else {
            return;
        };
        if u.kind != ObjKind::Executable {
            return;
        }
        let name = req.name.name.to_vec();
        if class & CLASS_COPY != 0 {
            self.diags.push(Diag::CopyOfProtected { name, definer });
        } else if class & CLASS_PLT != 0
            && let Some((_, r)) = req.ref_sym
            && r.value != 0
            && r.shndx == SHN_UNDEF
        {
            self.diags
                .push(Diag::ProtectedPointerEquality { name, definer });
        }
    }

    /// STB_GNU_UNIQUE: the first definition entered for a name wins process-wide. A COPY
    /// lookup returns the definition it found (the copy source) but, if it is the first, enters
    /// the executable's copy as the canonical one.
    fn do_lookup_unique(
        &mut self,
        req: &Request,
        map: ObjId,
        idx: u32,
        class: TypeClass,
    ) -> (ObjId, u32) {
        let name = req.name.name;
        let key = self.unique_key(map, name);
        if let Some(&e) = self.unique.get(&key) {
            return if class & CLASS_COPY != 0 {
                (map, idx)
            } else {
                e
            };
        }
        // Only the executable has COPY relocs, so `req.undef` is the exe here.
        let entry = match (class & CLASS_COPY != 0, req.ref_sym, req.undef) {
            (true, Some((ri, _)), Some(u)) => (u, ri),
            _ => (map, idx),
        };
        self.unique.insert(key, entry);
        (map, idx)
    }

    /// Search `scopes` in order, as `_dl_lookup_symbol_x` (without the protected fixup).
    fn search(
        &mut self,
        req: &Request,
        scopes: &[&[ObjId]],
        class: TypeClass,
        undef: Option<ObjId>,
        sysv: &mut Option<u32>,
    ) -> Option<(ObjId, u32)> {
        self.stats.scans += 1;
        let mut st = SearchState { result: None };
        let mut start = match (req.skip, scopes.first()) {
            (Some(s), Some(first)) => first.iter().position(|&x| x == s).unwrap_or(0),
            _ => 0,
        };
        for scope in scopes {
            if self.do_lookup_x(req, scope, start, class, undef, &mut st, sysv) {
                break;
            }
            start = 0;
        }
        st.result
    }

    /// `_dl_lookup_symbol_x` over explicit scopes (no memo). Returns None when not found; the
    /// caller decides whether that is an error (see [`Namespace::is_weak_ref`]).
    pub fn lookup_in(&mut self, req: &Request, scopes: &[&[ObjId]]) -> Option<Found> {
        self.stats.lookups += 1;
        let mut sysv = None;
        let found = self.search(req, scopes, req.class, req.undef, &mut sysv)?;
        Some(self.protected_fixup(req, found, |ns| {
            ns.search(req, scopes, CLASS_PLT, None, &mut sysv)
        }))
    }

    fn protected_fixup(
        &mut self,
        req: &Request,
        found: (ObjId, u32),
        mut plt_search: impl FnMut(&mut Self) -> Option<(ObjId, u32)>,
    ) -> Found {
        let mut f = Found {
            obj: found.0,
            sym: found.1,
            protected: false,
        };
        let Some((ri, rs)) = req.ref_sym else {
            return f;
        };
        if rs.vis() != STV_PROTECTED {
            return f;
        }
        f.protected = true;
        let Some(u) = req.undef else { return f };
        let other = if req.class == CLASS_PLT {
            Some(found)
        } else {
            plt_search(self)
        };
        if let Some((m, _)) = other
            && m != u
        {
            f.obj = u;
            f.sym = ri;
        }
        f
    }

    /// Lookup for a relocation of object `requester` with its scope: itself first if it is
    /// DT_SYMBOLIC, then the global scope (memoized), then its local scope if it has one
    /// (objects loaded by dlopen: the dlopen'ed object's search list); with RTLD_DEEPBIND
    /// ([`Namespace::set_local_scope_first`]) the local scope, then the global scope; objects
    /// with explicit scopes ([`Namespace::set_scopes`]): itself if DT_SYMBOLIC, then those.
    pub fn lookup_for(&mut self, requester: ObjId, req: &Request<'a>) -> Option<Found> {
        let symbolic = self
            .obj(requester)
            .is_some_and(|o| o.symbolic && o.kind != ObjKind::Executable);
        if let Some(k) = self.explicit.iter().position(|(i, _)| *i == requester) {
            let (id, scopes) = self.explicit.swap_remove(k);
            let own = [requester];
            let mut refs: Vec<&[ObjId]> = Vec::with_capacity(scopes.len() + 1);
            if symbolic {
                refs.push(&own);
            }
            refs.extend(scopes.iter().map(|s| s.as_slice()));
            let r = self.lookup_in(req, &refs);
            self.explicit.push((id, scopes));
            return r;
        }
        // (Checked for emptiness first: at start-up no object has a local scope, and the
        // map's remove/insert would cost every lookup.)
        // The scopes are moved out of their map entries for the lookup (it needs `&mut self`)
        // and back: no map node is removed or inserted on this per-lookup path.
        if !self.local.is_empty()
            && self.use_memo
            && req.skip.is_none()
            && !self.dynamic_weak
            && !symbolic
            && !self.deep.contains(&requester)
            && self.local.contains_key(&requester)
        {
            // Scopes [global, local, appended...]: the global scope through its memo or
            // index, as start-up looks up, and only on a miss the rest with glibc's walk
            // (the same answer: without LD_DYNAMIC_WEAK the first scope holding a definition
            // decides, and a PLT-class search cannot find in the global scope what the
            // plain one did not). Before, every reference of a dlopen'ed library walked the
            // global scope object by object (java: libjvm's references).
            self.stats.lookups += 1;
            if let Some(found) = self.global_memo(req, req.class) {
                return Some(self.protected_fixup(req, found, |ns| {
                    ns.global_memo(req, CLASS_PLT)
                        .or_else(|| ns.search_rest(requester, req))
                }));
            }
            self.stats.lookups -= 1;
            return self
                .with_rest_scopes(requester, |ns, refs| ns.lookup_in(req, refs))
                .flatten();
        }
        if !self.local.is_empty() && self.local.contains_key(&requester) {
            // The general order: [local, global] with RTLD_DEEPBIND, else [itself if
            // DT_SYMBOLIC, global, local], then the appended scopes.
            let global = core::mem::take(&mut self.global);
            let deep = self.deep.contains(&requester);
            let r = self.with_rest_scopes(requester, |ns, rest| {
                // `rest` starts with the local scope (`with_rest_scopes`).
                let (local, appended) = rest.split_first()?;
                let own = [requester];
                let mut refs: Vec<&[ObjId]> = Vec::with_capacity(2 + rest.len());
                if deep {
                    refs.extend([*local, &global[..]]);
                } else if symbolic {
                    refs.extend([&own[..], &global[..], local]);
                } else {
                    refs.extend([&global[..], local]);
                }
                refs.extend_from_slice(appended);
                ns.lookup_in(req, &refs)
            });
            self.global = global;
            return r.flatten();
        }
        if !self.use_memo || req.skip.is_some() || (symbolic && self.dynamic_weak) {
            let global = core::mem::take(&mut self.global);
            let own = [requester];
            let r = if symbolic {
                self.lookup_in(req, &[&own, &global])
            } else {
                self.lookup_in(req, &[&global])
            };
            self.global = global;
            return r;
        }
        if symbolic {
            let own = [requester];
            let before = self.stats.lookups;
            if let Some(f) = self.lookup_in(req, &[&own]) {
                return Some(f);
            }
            self.stats.lookups = before;
        }
        self.stats.lookups += 1;
        let found = self.global_memo(req, req.class)?;
        // The memo skipped the per-requester warning check; redo it for the final definer
        // (it only ever warns for references of the executable: test that first).
        let exe_ref = req
            .undef
            .and_then(|u| self.objs.get(u as usize))
            .is_some_and(|u| u.kind == ObjKind::Executable);
        if exe_ref
            && let Some(o) = self.objs.get(found.0 as usize)
            && o.sym(found.1).is_some_and(|s| s.vis() == STV_PROTECTED)
        {
            self.check_protected(req, req.undef, found.0, req.class);
        }
        Some(self.protected_fixup(req, found, |ns| ns.global_memo(req, CLASS_PLT)))
    }

    /// PLT-class search of `requester`'s local and appended scopes (the protected-symbol
    /// fixup's second search when the global scope had no definition).
    fn search_rest(&mut self, requester: ObjId, req: &Request<'a>) -> Option<(ObjId, u32)> {
        self.with_rest_scopes(requester, |ns, refs| {
            ns.search(req, refs, CLASS_PLT, None, &mut None)
        })
        .flatten()
    }

    /// Runs `f` with `requester`'s local scope and appended scopes, in order (moved out of
    /// their map entries for the call, which needs `&mut self`, and put back); None if it has
    /// no local scope.
    fn with_rest_scopes<R>(
        &mut self,
        requester: ObjId,
        f: impl FnOnce(&mut Self, &[&[ObjId]]) -> R,
    ) -> Option<R> {
        let local = self.local.get_mut(&requester).map(core::mem::take)?;
        let appended = match self.appended.get_mut(&requester) {
            Some(a) => core::mem::take(a),
            None => Vec::new(),
        };
        // Nearly always the local scope alone: passed without building a vector (every
        // lookup of a dlopen'ed object comes here).
        let r = if appended.is_empty() {
            f(self, &[&local[..]])
        } else {
            let mut refs: Vec<&[ObjId]> = Vec::with_capacity(1 + appended.len());
            refs.push(&local[..]);
            refs.extend(appended.iter().map(|(_, s)| s.as_slice()));
            f(self, &refs)
        };
        if let Some(slot) = self.local.get_mut(&requester) {
            *slot = local;
        }
        if let Some(slot) = self.appended.get_mut(&requester) {
            *slot = appended;
        }
        Some(r)
    }

    #[inline]
    fn global_memo(&mut self, req: &Request<'a>, class: TypeClass) -> Option<(ObjId, u32)> {
        // With the scope index a lookup visits only the objects that hold the name's hash:
        // cheaper than keeping a memo entry per name (the memo's memory is page faults).
        if !self.memo_lookups
            || (self.global.len() >= INDEX_MIN_SCOPE && self.index_state != IndexState::Unavailable)
        {
            return self.search_global(req, class);
        }
        let ver = req.version.map(|v| (v.hash, v.name, v.hidden));
        if let Some(r) = self
            .memo
            .get(req.name.gnu, req.name.name, &ver, class, req.return_newest)
        {
            self.stats.memo_hits += 1;
            return r;
        }
        // undef=None: requester-dependent warnings are re-checked by the caller.
        let r = self.search_global(req, class);
        self.memo.insert(MemoEntry {
            gnu: req.name.gnu,
            name: req.name.name,
            ver,
            class,
            newest: req.return_newest,
            result: r,
        });
        r
    }

    /// True if a failed lookup for this reference is silently 0 (undefined weak reference).
    pub fn is_weak_ref(req: &Request) -> bool {
        req.ref_sym.is_some_and(|(_, s)| s.bind() == STB_WEAK)
    }
}
