//! The order in which glibc 2.36 relocates objects and processes each object's tables,
//! as data the loader follows (src: elf/rtld.c, elf/dynamic-link.h, elf/do-rel.h).

use alloc::vec::Vec;

use crate::ObjId;

/// Startup relocation order: `main->l_initfini` walked in reverse (dependencies before their
/// users, so libc before the executable), skipping the dynamic linker itself, which glibc
/// relocates last against the global scope once libc's malloc is usable (`rtld_multiple_ref`).
/// `initfini` is the init order list with the main program first.
pub fn reloc_order(initfini: &[ObjId], rtld: Option<ObjId>) -> Vec<ObjId> {
    initfini
        .iter()
        .rev()
        .copied()
        .filter(|&o| Some(o) != rtld)
        .collect()
}

/// glibc 2.36's `_dl_sort_maps_dfs` (the default `glibc.rtld.dynamic_sort=2`): a reverse
/// post-order of a depth-first walk over each map's `l_initfini` list, starting the walks
/// from the end of `maps`. `initfini(m)` is that list (for a freshly loaded object: itself,
/// then its DT_NEEDED objects in order; for the main program after start-up: the whole init
/// order). With `force_first`, `maps[0]` stays first (the main program at start-up and in
/// `_dl_fini` of the base namespace). Objects not in `maps` are not visited.
/// For init order pass the search list; the result is `l_initfini`, run from the end.
pub fn sort_maps_dfs<'d>(
    maps: &[ObjId],
    initfini: &dyn Fn(ObjId) -> &'d [ObjId],
    force_first: bool,
) -> Vec<ObjId> {
    sort_maps_dfs_by(maps, &|m, i| initfini(m).get(i).copied(), force_first)
}

/// [`sort_maps_dfs`] with each `l_initfini` list read entry by entry: `initfini(m, i)` is the
/// i-th entry of m's list, None past its end. dlopen and dlclose sort a few objects of a
/// table they would otherwise copy into lists first (every object's `[self, deps..]`: a
/// tenth of a dlopen+dlclose cycle of a two-object library).
pub fn sort_maps_dfs_by(
    maps: &[ObjId],
    initfini: &dyn Fn(ObjId, usize) -> Option<ObjId>,
    force_first: bool,
) -> Vec<ObjId> {
    let mut state = visit_state(maps);
    let mut rpo = rpo_walk(maps.iter().rev().copied(), maps.len(), &mut state, initfini);
    if force_first {
        keep_first(maps, &mut rpo);
    }
    rpo
}

/// `_dl_sort_maps_dfs` with `for_fini` (destructor order, `_dl_fini` and `dlclose`): the walk
/// also follows each map's run-time dependencies `reldeps(m)` (glibc's `l_reldeps`, taken
/// from the last), so an object bound to a dlopen'ed one is destroyed before it. If any
/// object has such dependencies, the result is sorted once more over `l_initfini` alone,
/// walking from the end of the first result: static dependencies win over run-time ones in
/// a cycle. `force_first` applies only when no object had run-time dependencies, as in glibc.
pub fn sort_maps_for_fini<'d>(
    maps: &[ObjId],
    initfini: &dyn Fn(ObjId) -> &'d [ObjId],
    reldeps: &dyn Fn(ObjId) -> &'d [ObjId],
    force_first: bool,
) -> Vec<ObjId> {
    sort_maps_for_fini_by(
        maps,
        &|m, i| initfini(m).get(i).copied(),
        &|m| initfini(m).len(),
        &|m, k| {
            let r = reldeps(m);
            (k < r.len()).then(|| r[r.len() - 1 - k])
        },
        force_first,
    )
}

/// [`sort_maps_for_fini`] with the lists read entry by entry (see [`sort_maps_dfs_by`]):
/// `initfini(m, i)` and its length `initfini_len(m)`, and `reldeps_from_last(m, k)`, the
/// k-th run-time dependency of m counted from the last one (None past the first).
pub fn sort_maps_for_fini_by(
    maps: &[ObjId],
    initfini: &dyn Fn(ObjId, usize) -> Option<ObjId>,
    initfini_len: &dyn Fn(ObjId) -> usize,
    reldeps_from_last: &dyn Fn(ObjId, usize) -> Option<ObjId>,
    force_first: bool,
) -> Vec<ObjId> {
    let mut state = visit_state(maps);
    let mut saw_reldeps = false;
    let rpo = rpo_walk(
        maps.iter().rev().copied(),
        maps.len(),
        &mut state,
        &|m, i| match initfini(m, i) {
            Some(d) => Some(d),
            None => reldeps_from_last(m, i.checked_sub(initfini_len(m))?),
        },
    );
    for &m in &rpo {
        saw_reldeps |= reldeps_from_last(m, 0).is_some();
    }
    if saw_reldeps {
        let mut state = visit_state(maps);
        return rpo_walk(rpo.iter().rev().copied(), maps.len(), &mut state, initfini);
    }
    let mut rpo = rpo;
    if force_first {
        keep_first(maps, &mut rpo);
    }
    rpo
}

/// visited[o]: 0 = not in `maps`, 1 = to visit, 2 = visited.
fn visit_state(maps: &[ObjId]) -> Vec<u8> {
    let max = maps.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut state = alloc::vec![0u8; max];
    for &m in maps {
        state[m as usize] = 1;
    }
    state
}

/// Depth-first walks from each of `roots` (in the order given) over `dep(m, i)` (the i-th
/// dependency of m, None past the last), filling a reverse post-order of `n` slots from the
/// end; stops when all are placed. Iterative: dependency chains can be deep.
fn rpo_walk(
    roots: impl Iterator<Item = ObjId>,
    n: usize,
    state: &mut [u8],
    dep: &dyn Fn(ObjId, usize) -> Option<ObjId>,
) -> Vec<ObjId> {
    let mut rpo: Vec<ObjId> = alloc::vec![0; n];
    let mut head = n;
    // Each frame is (object, next dependency index); an object is pushed at most once.
    let mut stack: Vec<(ObjId, usize)> = Vec::with_capacity(n);
    for root in roots {
        if state.get(root as usize) != Some(&1) {
            continue;
        }
        state[root as usize] = 2;
        stack.push((root, 0));
        while let Some(top) = stack.last_mut() {
            let (m, i) = *top;
            if let Some(d) = dep(m, i) {
                top.1 += 1;
                if state.get(d as usize) == Some(&1) {
                    state[d as usize] = 2;
                    stack.push((d, 0));
                }
            } else {
                stack.pop();
                head -= 1;
                rpo[head] = m;
            }
        }
        if head == 0 {
            break;
        }
    }
    rpo
}

/// Moves `maps[0]` back to the front of `rpo` (a cycle can have sorted it later).
fn keep_first(maps: &[ObjId], rpo: &mut [ObjId]) {
    if let Some(&first) = maps.first()
        && let Some(pos) = rpo.iter().position(|&m| m == first)
        && pos != 0
    {
        rpo.copy_within(0..pos, 1);
        rpo[0] = first;
    }
}

/// The phases of `_dl_relocate_object` for one object, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `elf_machine_runtime_setup`: for lazy binding, GOT[1] = link map, GOT[2] = trampoline.
    RuntimeSetup,
    /// DT_RELR: `*where += l_addr` for every encoded word (an in-place add, unlike RELATIVE).
    Relr,
    /// The first DT_RELACOUNT entries of DT_RELA, applied blindly as RELATIVE (`l_addr + addend`).
    RelaRelativePrefix,
    /// The remaining DT_RELA entries in table order; IRELATIVE entries are skipped and
    /// remembered (first..last index).
    RelaSymbolic,
    /// DT_JMPREL: eager (BIND_NOW): processed like RelaSymbolic. Lazy: JUMP_SLOT gets
    /// `*P += l_addr`, TLSDESC is resolved fully, IRELATIVE deferred; other types are fatal
    /// ("unexpected PLT reloc type").
    Jmprel,
    /// Deferred IRELATIVE entries, in table order (their resolvers run after every other
    /// relocation of the same range so they can use the object's relocated data).
    DeferredIrelative,
    /// PT_GNU_RELRO made read-only (`_dl_protect_relro`).
    ProtectRelro,
}

/// How glibc groups DT_RELA and DT_JMPREL. When binding eagerly and DT_JMPREL immediately
/// follows DT_RELA (`rela_start + rela_size == jmprel_start`), both are ONE range: then every
/// IRELATIVE of both tables is deferred to after all JUMP_SLOTs. Otherwise there are two
/// ranges and each defers its own IRELATIVEs to its end. Also, if DT_RELA ends exactly where
/// DT_JMPREL ends (JMPREL inside RELA), the RELA size is reduced by the JMPREL size first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranges {
    /// (start, size) of range 0, range 1 (size 0 = absent). Addresses are link-time vaddrs.
    pub r0: (u64, u64),
    pub r1: (u64, u64),
    /// Range 1 is processed lazily.
    pub r1_lazy: bool,
}

/// `_ELF_DYNAMIC_DO_RELOC` for x86-64 (RELA only). `rela`/`jmprel` are (vaddr, size),
/// None when the tag is absent or its address is 0.
pub fn ranges(rela: Option<(u64, u64)>, jmprel: Option<(u64, u64)>, lazy: bool) -> Ranges {
    let mut r0 = rela.unwrap_or((0, 0));
    let mut r1 = (0, 0);
    let mut r1_lazy = false;
    if let Some((start, size)) = jmprel {
        if r0.0 == 0 {
            r0.0 = start;
        }
        if r0.0.wrapping_add(r0.1) == start.wrapping_add(size) {
            r0.1 = r0.1.wrapping_sub(size);
        }
        if !lazy && r0.0.wrapping_add(r0.1) == start {
            r0.1 = r0.1.wrapping_add(size);
        } else {
            r1 = (start, size);
            r1_lazy = lazy;
        }
    }
    Ranges { r0, r1, r1_lazy }
}

/// The phase sequence for one object.
pub const PHASES: [Phase; 7] = [
    Phase::RuntimeSetup,
    Phase::Relr,
    Phase::RelaRelativePrefix,
    Phase::RelaSymbolic,
    Phase::Jmprel,
    Phase::DeferredIrelative,
    Phase::ProtectRelro,
];

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn dfs_sort() {
        // exe(0) needs a(1), b(2); a needs c(3); b needs a; c needs nothing.
        let deps: [&[ObjId]; 4] = [&[0, 1, 2], &[1, 3], &[2, 1], &[3]];
        let f = |m: ObjId| deps[m as usize];
        let init = sort_maps_dfs(&[0, 1, 2, 3], &f, true);
        // Walk from c (nothing), then b -> a -> c visited; rpo: exe, b, a, c.
        assert_eq!(init, [0, 2, 1, 3]);
        // A cycle a <-> b is tolerated.
        let deps: [&[ObjId]; 3] = [&[0, 1], &[1, 2], &[2, 1]];
        let f = |m: ObjId| deps[m as usize];
        assert_eq!(sort_maps_dfs(&[0, 1, 2], &f, true), [0, 2, 1]);
    }

    #[test]
    fn fini_sort_follows_run_time_dependencies() {
        // main(0) needs libc(1); B(2) was dlopen'ed before A(3); both need libc; A is bound
        // to a symbol of B (A's l_reldeps = [B]).
        let deps: [&[ObjId]; 4] = [&[0, 1], &[1], &[2, 1], &[3, 1]];
        let rel: [&[ObjId]; 4] = [&[], &[], &[], &[2]];
        let f = |m: ObjId| deps[m as usize];
        let r = |m: ObjId| rel[m as usize];
        // Static dependencies alone: B's destructor would run before A's.
        assert_eq!(sort_maps_dfs(&[0, 1, 2, 3], &f, true), [0, 2, 3, 1]);
        assert_eq!(
            sort_maps_for_fini(&[0, 1, 2, 3], &f, &r, true),
            [0, 3, 2, 1]
        );
        // Without run-time dependencies it is the plain sort.
        let none = |_: ObjId| -> &[ObjId] { &[] };
        assert_eq!(
            sort_maps_for_fini(&[0, 1, 2, 3], &f, &none, true),
            [0, 2, 3, 1]
        );
        // A cycle through a run-time dependency (libc "bound to" A): the second pass over
        // static dependencies alone decides, and libc still goes last.
        let rel: [&[ObjId]; 4] = [&[], &[3], &[], &[2]];
        let r = |m: ObjId| rel[m as usize];
        assert_eq!(
            sort_maps_for_fini(&[0, 1, 2, 3], &f, &r, true),
            [0, 3, 2, 1]
        );
    }

    #[test]
    fn order_and_ranges() {
        // initfini: exe(0), libselinux(1), libpcre(3), libc(2), ld.so(4) -> libc-first order.
        assert_eq!(reloc_order(&[0, 1, 3, 2, 4], Some(4)), [2, 3, 1, 0]);
        // adjacent tables, eager: one range
        let r = ranges(Some((0x1000, 0x30)), Some((0x1030, 0x18)), false);
        assert_eq!(
            r,
            Ranges {
                r0: (0x1000, 0x48),
                r1: (0, 0),
                r1_lazy: false
            }
        );
        // lazy: two ranges
        let r = ranges(Some((0x1000, 0x30)), Some((0x1030, 0x18)), true);
        assert_eq!(
            r,
            Ranges {
                r0: (0x1000, 0x30),
                r1: (0x1030, 0x18),
                r1_lazy: true
            }
        );
        // gap: two ranges even when eager
        let r = ranges(Some((0x1000, 0x30)), Some((0x2000, 0x18)), false);
        assert_eq!(r.r1, (0x2000, 0x18));
        // JMPREL only
        let r = ranges(None, Some((0x2000, 0x18)), false);
        assert_eq!(r.r0, (0x2000, 0x18));
    }
}
