//! Unit tests of every check_match / scope rule against fake objects with real table layouts.

use alloc::vec;
use alloc::vec::Vec;

use crate::lookup::*;
use crate::object::*;
use crate::plan::{Binding, BindingPlan, plan, undefined_error};
use crate::reloc::*;
use crate::testutil::*;

const EXE: ObjKind = ObjKind::Executable;
const LIB: ObjKind = ObjKind::Library;

fn ns<'a>(b: &'a [Built]) -> Namespace<'a> {
    let objs: Vec<ObjView<'a>> = b.iter().map(|x| x.view()).collect();
    let g = (0..objs.len() as u32).collect();
    Namespace::new(objs, g)
}

/// Look `name` up from object `from` (its symbol `h`), as a relocation of class `class`.
fn resolve(n: &mut Namespace, b: &[Built], from: u32, h: usize, class: TypeClass) -> Binding {
    crate::plan::resolve_one(n, from, b[from as usize].idx[h], class)
}

fn def(b: &[Built], obj: u32, h: usize) -> Binding {
    Binding::Def {
        obj,
        sym: b[obj as usize].idx[h],
    }
}

#[test]
fn interposition_exe_first_then_preload_then_deps() {
    let mut exe = Fake::new("", EXE);
    let e_foo = exe.func("foo", 0x10);
    let mut pre = Fake::new("/pre.so", LIB);
    let p_foo = pre.func("foo", 0x20);
    let p_bar = pre.func("bar", 0x20);
    let mut lib = Fake::new("/lib.so", LIB);
    let l_foo = lib.func("foo", 0x30);
    let l_bar = lib.func("bar", 0x30);
    let l_ref = lib.undef("foo", STB_GLOBAL, VER_GLOBAL);
    let l_refbar = lib.undef("bar", STB_GLOBAL, VER_GLOBAL);
    let _ = (e_foo, p_foo, l_foo, l_bar);
    let b = [exe.build(), pre.build(), lib.build()];
    let mut n = ns(&b);
    // A library's own definition is interposed by the executable's.
    assert_eq!(resolve(&mut n, &b, 2, l_ref, CLASS_PLT), def(&b, 0, e_foo));
    // The preload comes before the dependency that defines it too.
    assert_eq!(
        resolve(&mut n, &b, 2, l_refbar, CLASS_PLT),
        def(&b, 1, p_bar)
    );
}

#[test]
fn weak_first_wins_unless_dynamic_weak() {
    let mut a = Fake::new("/a.so", LIB);
    let a_w = a.def("v", STB_WEAK, 0x10, VER_GLOBAL);
    let mut bb = Fake::new("/b.so", LIB);
    let b_s = bb.def("v", STB_GLOBAL, 0x10, VER_GLOBAL);
    let mut exe = Fake::new("", EXE);
    let r = exe.undef("v", STB_GLOBAL, VER_GLOBAL);
    let b = [exe.build(), a.build(), bb.build()];
    let mut n = ns(&b);
    assert_eq!(resolve(&mut n, &b, 0, r, CLASS_NORMAL), def(&b, 1, a_w));
    let mut n = ns(&b);
    n.dynamic_weak = true;
    assert_eq!(resolve(&mut n, &b, 0, r, CLASS_NORMAL), def(&b, 2, b_s));
}

#[test]
fn undefined_weak_is_zero_and_strong_is_an_error() {
    let mut exe = Fake::new("", EXE);
    let w = exe.undef("maybe", STB_WEAK, VER_GLOBAL);
    let s = exe.undef("missing", STB_GLOBAL, VER_GLOBAL);
    exe.reloc(R_X86_64_GLOB_DAT, w);
    exe.reloc(R_X86_64_JUMP_SLOT, s);
    let b = [exe.build()];
    let mut n = ns(&b);
    assert_eq!(resolve(&mut n, &b, 0, w, CLASS_NORMAL), Binding::UndefWeak);
    let mut n = ns(&b);
    let p = plan(&mut n, &[0]);
    assert_eq!(p.first_error, Some((0, b[0].idx[s])));
    let e = undefined_error(&n, "./prog", 0, b[0].idx[s]).unwrap();
    assert_eq!(
        e.fatal("./prog"),
        "./prog: symbol lookup error: ./prog: undefined symbol: missing\n"
    );
}

#[test]
fn value_zero_type_and_visibility_filters() {
    let mut a = Fake::new("/a.so", LIB);
    a.sym(
        "zero",
        STB_GLOBAL,
        STT_FUNC,
        STV_DEFAULT,
        1,
        0,
        0,
        VER_GLOBAL,
    ); // no value: skipped
    a.sym("sect", STB_GLOBAL, 3, STV_DEFAULT, 1, 0x10, 0, VER_GLOBAL); // STT_SECTION: skipped
    a.sym(
        "hid", STB_GLOBAL, STT_FUNC, STV_HIDDEN, 1, 0x10, 0, VER_GLOBAL,
    ); // hidden: skipped
    a.sym(
        "loc",
        STB_LOCAL,
        STT_FUNC,
        STV_DEFAULT,
        1,
        0x10,
        0,
        VER_GLOBAL,
    ); // local bind: skipped
    let tls0 = a.sym(
        "tls0",
        STB_GLOBAL,
        STT_TLS,
        STV_DEFAULT,
        1,
        0,
        4,
        VER_GLOBAL,
    ); // TLS at 0: ok
    let abs0 = a.sym(
        "abs0",
        STB_GLOBAL,
        STT_NOTYPE,
        STV_DEFAULT,
        SHN_ABS,
        0,
        0,
        VER_GLOBAL,
    ); // ABS 0: ok
    let ifn = a.sym(
        "ifn",
        STB_GLOBAL,
        STT_GNU_IFUNC,
        STV_DEFAULT,
        1,
        0x40,
        0,
        VER_GLOBAL,
    );
    let mut z = Fake::new("/z.so", LIB);
    let z_all: Vec<usize> = ["zero", "sect", "hid", "loc"]
        .iter()
        .map(|s| z.func(s, 0x99))
        .collect();
    let mut exe = Fake::new("", EXE);
    let refs: Vec<usize> = ["zero", "sect", "hid", "loc", "tls0", "abs0", "ifn"]
        .iter()
        .map(|s| exe.undef(s, STB_GLOBAL, VER_GLOBAL))
        .collect();
    let b = [exe.build(), a.build(), z.build()];
    let mut n = ns(&b);
    for (i, &r) in refs.iter().enumerate().take(4) {
        assert_eq!(
            resolve(&mut n, &b, 0, r, CLASS_NORMAL),
            def(&b, 2, z_all[i]),
            "rule {i}: falls through to the next object"
        );
    }
    assert_eq!(resolve(&mut n, &b, 0, refs[4], CLASS_PLT), def(&b, 1, tls0));
    assert_eq!(
        resolve(&mut n, &b, 0, refs[5], CLASS_NORMAL),
        def(&b, 1, abs0)
    );
    assert_eq!(resolve(&mut n, &b, 0, refs[6], CLASS_PLT), def(&b, 1, ifn));
}

#[test]
fn plt_class_skips_exe_canonical_plt_entry() {
    // Non-PIE exe takes the address of `f`: undefined symbol with a non-zero value.
    let mut exe = Fake::new("", EXE);
    let e_f = exe.sym(
        "f",
        STB_GLOBAL,
        STT_FUNC,
        STV_DEFAULT,
        SHN_UNDEF,
        0x401030,
        0,
        VER_GLOBAL,
    );
    let mut lib = Fake::new("/lib.so", LIB);
    let l_f = lib.func("f", 0x100);
    let l_ref = lib.undef("f", STB_GLOBAL, VER_GLOBAL);
    let b = [exe.build(), lib.build()];
    let mut n = ns(&b);
    // GLOB_DAT (pointer): the exe's PLT entry, for pointer equality.
    assert_eq!(resolve(&mut n, &b, 1, l_ref, CLASS_NORMAL), def(&b, 0, e_f));
    // JUMP_SLOT: the real function.
    assert_eq!(resolve(&mut n, &b, 1, l_ref, CLASS_PLT), def(&b, 1, l_f));
}

#[test]
fn local_and_hidden_refs_bind_to_self_without_lookup() {
    let mut lib = Fake::new("/lib.so", LIB);
    let h = lib.sym(
        "h", STB_GLOBAL, STT_OBJECT, STV_HIDDEN, 1, 0x10, 8, VER_GLOBAL,
    );
    let mut exe = Fake::new("", EXE);
    exe.def("h", STB_GLOBAL, 0x20, VER_GLOBAL);
    let b = [exe.build(), lib.build()];
    let mut n = ns(&b);
    assert_eq!(resolve(&mut n, &b, 1, h, CLASS_NORMAL), def(&b, 1, h));
    assert_eq!(n.stats.lookups, 0);
}

/// libv.so: base(1), V1(2), V2(3), V3(4).
fn versioned_lib(syms: &[(&str, u16)]) -> (Fake, Vec<usize>) {
    let mut f = Fake::new("/libv.so", LIB);
    f.verdef(2, "V1");
    f.verdef(3, "V2");
    f.verdef(4, "V3");
    let h = syms
        .iter()
        .map(|(n, v)| f.def(n, STB_GLOBAL, 0x100, *v))
        .collect();
    (f, h)
}

fn exe_refs(refs: &[(&str, Option<&str>)]) -> (Fake, Vec<usize>) {
    let mut e = Fake::new("", EXE);
    let mut hs = Vec::new();
    let mut next = 2u16;
    let mut seen: Vec<(&str, u16)> = Vec::new();
    for (name, ver) in refs {
        let vs = match ver {
            None => VER_GLOBAL,
            Some(v) => match seen.iter().find(|(s, _)| s == v) {
                Some(&(_, i)) => i,
                None => {
                    e.verneed(next, v, "/libv.so", false);
                    seen.push((v, next));
                    next += 1;
                    next - 1
                }
            },
        };
        hs.push(e.undef(name, STB_GLOBAL, vs));
    }
    (e, hs)
}

#[test]
fn versions_default_hidden_and_unversioned() {
    // foo@V1 (hidden compat, index 2), foo@@V2 (default, index 3)
    let (lib, l) = versioned_lib(&[("foo", 2 | 0x8000), ("foo", 3)]);
    let (exe, r) = exe_refs(&[
        ("foo", Some("V1")),
        ("foo", Some("V2")),
        ("foo", None),
        ("foo", Some("V3")),
    ]);
    let b = [exe.build(), lib.build()];
    let mut n = ns(&b);
    assert_eq!(
        resolve(&mut n, &b, 0, r[0], CLASS_PLT),
        def(&b, 1, l[0]),
        "foo@V1 reaches the hidden compat symbol"
    );
    assert_eq!(
        resolve(&mut n, &b, 0, r[1], CLASS_PLT),
        def(&b, 1, l[1]),
        "foo@V2 = default"
    );
    // Unversioned: versym index <= 2 is accepted outright (oldest version).
    assert_eq!(resolve(&mut n, &b, 0, r[2], CLASS_PLT), def(&b, 1, l[0]));
    assert_eq!(resolve(&mut n, &b, 0, r[3], CLASS_PLT), Binding::Undefined);
    let e = undefined_error(&n, "p", 0, b[0].idx[r[3]]).unwrap();
    assert_eq!(e.errstring, "undefined symbol: foo, version V3");
}

#[test]
fn unversioned_ref_single_default_rule() {
    // Only foo@@V2 (index 3): accepted as the single non-hidden versioned definition.
    let (lib, l) = versioned_lib(&[("foo", 3), ("bar", 3), ("bar", 4), ("baz", 4 | 0x8000)]);
    let (exe, r) = exe_refs(&[("foo", None), ("bar", None), ("baz", None)]);
    let b = [exe.build(), lib.build()];
    let mut n = ns(&b);
    assert_eq!(resolve(&mut n, &b, 0, r[0], CLASS_PLT), def(&b, 1, l[0]));
    assert_eq!(
        resolve(&mut n, &b, 0, r[1], CLASS_PLT),
        Binding::Undefined,
        "two candidates: ambiguous"
    );
    assert_eq!(
        resolve(&mut n, &b, 0, r[2], CLASS_PLT),
        Binding::Undefined,
        "only a hidden one"
    );
}

#[test]
fn return_newest_for_dlsym() {
    let (lib, l) = versioned_lib(&[("foo", 2 | 0x8000), ("foo", 3)]);
    let b = [lib.build()];
    let mut n = ns(&b);
    let mut req = Request::new(b"foo");
    req.return_newest = true;
    let f = n.lookup_in(&req, &[&[0]]).unwrap();
    assert_eq!(f.sym, b[0].idx[l[1]]);
    let req = Request::new(b"foo");
    assert_eq!(n.lookup_in(&req, &[&[0]]).unwrap().sym, b[0].idx[l[0]]);
}

#[test]
fn versioned_ref_against_unversioned_definitions() {
    // Library without any version info: a versioned ref is accepted.
    let mut plain = Fake::new("/libv.so", LIB);
    let p = plain.func("foo", 0x10);
    // Library with versions whose `gen` is global (index 1, hash 0): accepted unless the
    // requirement is hidden.
    let (vlib, l) = versioned_lib(&[("gen", VER_GLOBAL), ("old", 2)]);
    let (exe, r) = exe_refs(&[
        ("foo", Some("V1")),
        ("gen", Some("V2")),
        ("old", Some("V2")),
    ]);
    let b = [exe.build(), plain.build(), vlib.build()];
    let mut n = ns(&b);
    assert_eq!(resolve(&mut n, &b, 0, r[0], CLASS_PLT), def(&b, 1, p));
    assert_eq!(resolve(&mut n, &b, 0, r[1], CLASS_PLT), def(&b, 2, l[0]));
    assert_eq!(
        resolve(&mut n, &b, 0, r[2], CLASS_PLT),
        Binding::Undefined,
        "wrong non-base version"
    );
    // The same with a hidden requirement is rejected.
    let mut req = Request::new(b"gen");
    req.version = Some(Version {
        hash: crate::hash::sysv_hash(b"V2"),
        hidden: true,
        name: b"V2",
        filename: None,
    });
    assert!(n.lookup_in(&req, &[&[2]]).is_none());
}

#[test]
fn unique_symbols_first_definition_wins() {
    let mut a = Fake::new("/a.so", LIB);
    let a_u = a.sym(
        "u",
        STB_GNU_UNIQUE,
        STT_OBJECT,
        STV_DEFAULT,
        1,
        0x10,
        8,
        VER_GLOBAL,
    );
    let mut bb = Fake::new("/b.so", LIB);
    let _b_u = bb.sym(
        "u",
        STB_GNU_UNIQUE,
        STT_OBJECT,
        STV_DEFAULT,
        1,
        0x10,
        8,
        VER_GLOBAL,
    );
    let b = [a.build(), bb.build()];
    let mut n = ns(&b);
    let req = Request::new(b"u");
    assert_eq!(
        n.lookup_in(&req, &[&[0, 1]]).map(|f| (f.obj, f.sym)),
        Some((0, b[0].idx[a_u]))
    );
    // A later search whose scope reaches b.so first still gets a.so's definition.
    assert_eq!(
        n.lookup_in(&req, &[&[1]]).map(|f| (f.obj, f.sym)),
        Some((0, b[0].idx[a_u]))
    );
    assert_eq!(n.unique_entry(b"u"), Some((0, b[0].idx[a_u])));
}

#[test]
fn copy_reloc_skips_exe_and_others_bind_to_the_copy() {
    let mut exe = Fake::new("", EXE);
    let e_v = exe.def("environ_like", STB_GLOBAL, 0x4000, VER_GLOBAL);
    let mut lib = Fake::new("/lib.so", LIB);
    let l_v = lib.def("environ_like", STB_GLOBAL, 0x100, VER_GLOBAL);
    let l_ref = lib.undef("environ_like", STB_GLOBAL, VER_GLOBAL);
    let b = [exe.build(), lib.build()];
    let mut n = ns(&b);
    assert_eq!(
        resolve(&mut n, &b, 0, e_v, CLASS_COPY),
        def(&b, 1, l_v),
        "COPY source is the library"
    );
    assert_eq!(
        resolve(&mut n, &b, 1, l_ref, CLASS_NORMAL),
        def(&b, 0, e_v),
        "users bind to the exe's copy"
    );
}

#[test]
fn unique_copy_enters_the_exe_copy() {
    let mut exe = Fake::new("", EXE);
    let e_u = exe.sym(
        "u",
        STB_GNU_UNIQUE,
        STT_OBJECT,
        STV_DEFAULT,
        1,
        0x4000,
        8,
        VER_GLOBAL,
    );
    let mut lib = Fake::new("/lib.so", LIB);
    let l_u = lib.sym(
        "u",
        STB_GNU_UNIQUE,
        STT_OBJECT,
        STV_DEFAULT,
        1,
        0x10,
        8,
        VER_GLOBAL,
    );
    let b = [exe.build(), lib.build()];
    let mut n = ns(&b);
    assert_eq!(resolve(&mut n, &b, 0, e_u, CLASS_COPY), def(&b, 1, l_u));
    assert_eq!(n.unique_entry(b"u"), Some((0, b[0].idx[e_u])));
}

#[test]
fn protected_data_and_functions() {
    // exe has a COPY of protected data `pd`; non-PIE exe takes the address of protected `pf`.
    let mut exe = Fake::new("", EXE);
    let e_pd = exe.def("pd", STB_GLOBAL, 0x4000, VER_GLOBAL);
    let e_pf = exe.sym(
        "pf",
        STB_GLOBAL,
        STT_FUNC,
        STV_DEFAULT,
        SHN_UNDEF,
        0x401030,
        0,
        VER_GLOBAL,
    );
    let mut lib = Fake::new("/lib.so", LIB);
    let l_pd = lib.sym(
        "pd",
        STB_GLOBAL,
        STT_OBJECT,
        STV_PROTECTED,
        1,
        0x100,
        8,
        VER_GLOBAL,
    );
    let l_pf = lib.sym(
        "pf",
        STB_GLOBAL,
        STT_FUNC,
        STV_PROTECTED,
        1,
        0x200,
        0,
        VER_GLOBAL,
    );
    let b = [exe.build(), lib.build()];
    let mut n = ns(&b);
    // glibc 2.36: the library's own data refs stay local even though the exe has a copy.
    assert_eq!(resolve(&mut n, &b, 1, l_pd, CLASS_NORMAL), def(&b, 1, l_pd));
    // Function pointer (GLOB_DAT) keeps pointer equality with the exe's PLT entry...
    assert_eq!(resolve(&mut n, &b, 1, l_pf, CLASS_NORMAL), def(&b, 0, e_pf));
    // ...while calls go straight to the library.
    assert_eq!(resolve(&mut n, &b, 1, l_pf, CLASS_PLT), def(&b, 1, l_pf));
    // The exe's lookups produce glibc's warnings.
    assert!(n.diags.is_empty());
    resolve(&mut n, &b, 0, e_pd, CLASS_COPY);
    resolve(&mut n, &b, 0, e_pf, CLASS_PLT);
    assert_eq!(
        n.diags,
        vec![
            Diag::CopyOfProtected {
                name: b"pd".to_vec(),
                definer: 1
            },
            Diag::ProtectedPointerEquality {
                name: b"pf".to_vec(),
                definer: 1
            }
        ]
    );
    assert_eq!(
        crate::error::diag_text(&n.diags[0], b"/lib.so"),
        "warning: copy relocation against non-copyable protected symbol `pd' in `/lib.so'\n"
    );
}

#[test]
fn symbolic_objects_search_themselves_first() {
    let mut exe = Fake::new("", EXE);
    exe.func("s", 0x10);
    let mut lib = Fake::new("/sym.so", LIB);
    lib.symbolic = true;
    let l_s = lib.func("s", 0x20);
    let mut other = Fake::new("/other.so", LIB);
    let o_r = other.undef("s", STB_GLOBAL, VER_GLOBAL);
    let b = [exe.build(), lib.build(), other.build()];
    for memo in [true, false] {
        let mut n = ns(&b);
        n.use_memo = memo;
        assert_eq!(resolve(&mut n, &b, 1, l_s, CLASS_PLT), def(&b, 1, l_s));
        assert_eq!(
            resolve(&mut n, &b, 2, o_r, CLASS_PLT),
            Binding::Def { obj: 0, sym: 1 }
        );
    }
}

#[test]
fn skip_map_for_rtld_next() {
    let mut a = Fake::new("/a.so", LIB);
    a.func("n", 0x10);
    let mut c = Fake::new("/c.so", LIB);
    let c_n = c.func("n", 0x10);
    let b = [Fake::new("", EXE).build(), a.build(), c.build()];
    let mut n = ns(&b);
    let mut req = Request::new(b"n");
    req.skip = Some(1);
    let g: Vec<u32> = n.global().to_vec();
    assert_eq!(
        n.lookup_in(&req, &[&g]).map(|f| (f.obj, f.sym)),
        Some((2, b[2].idx[c_n]))
    );
}

#[test]
fn sysv_hash_objects() {
    let mut a = Fake::new("/a.so", LIB).sysv();
    let names = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let hs: Vec<usize> = names.iter().map(|s| a.func(s, 0x10)).collect();
    let b = [a.build()];
    let mut n = ns(&b);
    for (i, s) in names.iter().enumerate() {
        let f = n.lookup_in(&Request::new(s.as_bytes()), &[&[0]]).unwrap();
        assert_eq!(f.sym, b[0].idx[hs[i]]);
    }
    assert!(n.lookup_in(&Request::new(b"zeta"), &[&[0]]).is_none());
}

#[test]
fn gnu_hash_many_symbols_and_bloom() {
    let mut a = Fake::new("/a.so", LIB);
    let names: Vec<alloc::string::String> = (0..300).map(|i| alloc::format!("sym_{i}")).collect();
    let hs: Vec<usize> = names.iter().map(|s| a.func(s, 0x10)).collect();
    let b = [a.build()];
    let mut n = ns(&b);
    for (i, s) in names.iter().enumerate() {
        assert_eq!(
            n.lookup_in(&Request::new(s.as_bytes()), &[&[0]])
                .map(|f| f.sym),
            Some(b[0].idx[hs[i]])
        );
    }
    for i in 300..400 {
        assert!(
            n.lookup_in(&Request::new(alloc::format!("sym_{i}").as_bytes()), &[&[0]])
                .is_none()
        );
    }
}

#[test]
fn plan_dedups_memoizes_and_round_trips() {
    let mut exe = Fake::new("", EXE);
    let f = exe.undef("f", STB_GLOBAL, VER_GLOBAL);
    let w = exe.undef("w", STB_WEAK, VER_GLOBAL);
    exe.reloc(R_X86_64_JUMP_SLOT, f);
    exe.reloc(R_X86_64_GLOB_DAT, f);
    exe.reloc(R_X86_64_JUMP_SLOT, f); // same (sym, class): no second lookup
    exe.reloc(R_X86_64_64, w);
    exe.reloc(R_X86_64_RELATIVE, 0); // no lookup
    let mut a = Fake::new("/a.so", LIB);
    let a_f = a.func("f", 0x10);
    let a_r = a.undef("f", STB_GLOBAL, VER_GLOBAL);
    a.reloc(R_X86_64_JUMP_SLOT, a_r);
    let b = [exe.build(), a.build()];
    let mut n = ns(&b);
    // The memo is opt-in (off by default in the loader): this test exercises it.
    n.memo_lookups = true;
    let p = plan(&mut n, &[1, 0]);
    assert_eq!(n.stats.lookups, 4);
    assert_eq!(n.stats.dedup_hits, 1);
    assert_eq!(
        n.stats.memo_hits, 1,
        "exe's JUMP_SLOT f reuses a.so's global answer"
    );
    assert_eq!(p.objs[0].get(b[0].idx[f], CLASS_PLT), Some(def(&b, 1, a_f)));
    assert_eq!(
        p.objs[0].get(b[0].idx[f], CLASS_NORMAL),
        Some(def(&b, 1, a_f))
    );
    assert_eq!(
        p.objs[0].get(b[0].idx[w], CLASS_NORMAL),
        Some(Binding::UndefWeak)
    );
    assert_eq!(p.first_error, None);
    let bytes = p.serialize();
    assert_eq!(BindingPlan::deserialize(&bytes), Some(p.clone()));
    assert_eq!(BindingPlan::deserialize(&bytes[..bytes.len() - 4]), None);
    let mut bad = bytes.clone();
    bad[0] ^= 1;
    assert_eq!(BindingPlan::deserialize(&bad), None);
    // Same plan without the memo.
    let mut n2 = ns(&b);
    n2.use_memo = false;
    assert_eq!(plan(&mut n2, &[1, 0]), p);
    assert_eq!(n2.stats.memo_hits, 0);
}

#[test]
fn local_scope_searched_after_global() {
    // exe (global) defines foo; a dlopen'ed RTLD_LOCAL lib and its dep are outside the global
    // scope; the lib's references see the global scope first, then its own search list.
    let mut exe = Fake::new("", EXE);
    let e_foo = exe.func("foo", 0x10);
    let mut lib = Fake::new("/lib.so", LIB);
    let l_foo_ref = lib.undef("foo", STB_GLOBAL, VER_GLOBAL);
    let l_bar_ref = lib.undef("bar", STB_GLOBAL, VER_GLOBAL);
    let mut dep = Fake::new("/dep.so", LIB);
    let d_foo = dep.func("foo", 0x20);
    let d_bar = dep.func("bar", 0x30);
    let _ = d_foo;
    let b = [exe.build(), lib.build(), dep.build()];
    let objs: Vec<ObjView> = b.iter().map(|x| x.view()).collect();
    let mut n = Namespace::new(objs, vec![0]);
    // Without a local scope the dependency is invisible.
    assert_eq!(
        resolve(&mut n, &b, 1, l_bar_ref, CLASS_PLT),
        Binding::Undefined
    );
    n.set_local_scope(1, vec![1, 2]);
    assert_eq!(n.local_scope(1), &[1, 2]);
    assert_eq!(
        resolve(&mut n, &b, 1, l_foo_ref, CLASS_PLT),
        def(&b, 0, e_foo)
    );
    assert_eq!(
        resolve(&mut n, &b, 1, l_bar_ref, CLASS_PLT),
        def(&b, 2, d_bar)
    );
    // Other objects (the exe) do not see it.
    assert_eq!(n.local_scope(0), &[] as &[u32]);
    // RTLD_GLOBAL later: appending to the global scope makes dep visible to everyone.
    n.set_global(vec![0, 1, 2]);
    n.set_local_scope(1, Vec::new());
    assert_eq!(
        resolve(&mut n, &b, 1, l_bar_ref, CLASS_PLT),
        def(&b, 2, d_bar)
    );
}

#[test]
fn deepbind_local_scope_searched_first() {
    // exe (global) and a RTLD_DEEPBIND lib's dependency both define foo: the lib and its
    // dependency bind to the dependency's foo; the exe keeps its own. A DT_SYMBOLIC deep-bound
    // lib does not search itself first (glibc drops l_symbolic_searchlist under DEEPBIND).
    let mut exe = Fake::new("", EXE);
    let e_foo = exe.func("foo", 0x10);
    let e_foo_ref = exe.undef("foo", STB_GLOBAL, VER_GLOBAL);
    let _ = e_foo_ref;
    let mut lib = Fake::new("/lib.so", LIB);
    let l_foo_ref = lib.undef("foo", STB_GLOBAL, VER_GLOBAL);
    let l_only_ref = lib.undef("only_global", STB_GLOBAL, VER_GLOBAL);
    let mut dep = Fake::new("/dep.so", LIB);
    let d_foo = dep.func("foo", 0x20);
    let e_only = exe.func("only_global", 0x40);
    let b = [exe.build(), lib.build(), dep.build()];
    let objs: Vec<ObjView> = b.iter().map(|x| x.view()).collect();
    let mut n = Namespace::new(objs, vec![0]);
    n.set_local_scope(1, vec![1, 2]);
    assert!(!n.local_scope_first(1));
    assert_eq!(
        resolve(&mut n, &b, 1, l_foo_ref, CLASS_PLT),
        def(&b, 0, e_foo)
    );
    n.set_local_scope_first(1, vec![1, 2]);
    n.set_local_scope_first(2, vec![1, 2]);
    assert!(n.local_scope_first(1));
    assert_eq!(n.local_scope(1), &[1, 2]);
    assert_eq!(
        resolve(&mut n, &b, 1, l_foo_ref, CLASS_PLT),
        def(&b, 2, d_foo)
    );
    // Not in the local scope: the global scope still answers.
    assert_eq!(
        resolve(&mut n, &b, 1, l_only_ref, CLASS_PLT),
        def(&b, 0, e_only)
    );
    // The plain setter clears the flag; an empty scope removes both.
    n.set_local_scope(1, vec![1, 2]);
    assert!(!n.local_scope_first(1));
    assert_eq!(
        resolve(&mut n, &b, 1, l_foo_ref, CLASS_PLT),
        def(&b, 0, e_foo)
    );
    n.set_local_scope_first(1, Vec::new());
    assert!(!n.local_scope_first(1));
    assert_eq!(n.local_scope(1), &[] as &[u32]);
}

#[test]
fn explicit_scopes_replace_global_scope() {
    // A second link-map namespace: its lib sees only its own namespace's objects, never the
    // base namespace's global scope (the exe's foo), and fails where only the exe defines it.
    let mut exe = Fake::new("", EXE);
    let e_foo = exe.func("foo", 0x10);
    let _ = exe.func("exe_only", 0x18);
    let mut lib = Fake::new("/lib.so", LIB);
    let l_foo_ref = lib.undef("foo", STB_GLOBAL, VER_GLOBAL);
    let l_exe_only = lib.undef("exe_only", STB_GLOBAL, VER_GLOBAL);
    let mut dep = Fake::new("/dep.so", LIB);
    let d_foo = dep.func("foo", 0x20);
    let b = [exe.build(), lib.build(), dep.build()];
    let objs: Vec<ObjView> = b.iter().map(|x| x.view()).collect();
    let mut n = Namespace::new(objs, vec![0, 2]);
    assert_eq!(
        resolve(&mut n, &b, 1, l_foo_ref, CLASS_PLT),
        def(&b, 0, e_foo)
    );
    n.set_scopes(1, vec![vec![1, 2]]);
    assert_eq!(n.scopes(1), Some(&[vec![1u32, 2]][..]));
    assert_eq!(
        resolve(&mut n, &b, 1, l_foo_ref, CLASS_PLT),
        def(&b, 2, d_foo)
    );
    assert_eq!(
        resolve(&mut n, &b, 1, l_exe_only, CLASS_PLT),
        Binding::Undefined
    );
    // Forgetting the object (truncate) drops its scopes.
    n.truncate(1);
    assert_eq!(n.scopes(1), None);
}

#[test]
fn unique_symbols_per_namespace_group() {
    // The same STB_GNU_UNIQUE symbol in two namespaces: each namespace's first definition wins
    // there (glibc's per-namespace `_ns_unique_sym_table`).
    let mut a = Fake::new("/a.so", LIB);
    let a_u = a.sym(
        "u",
        STB_GNU_UNIQUE,
        STT_OBJECT,
        STV_DEFAULT,
        1,
        0x10,
        8,
        VER_GLOBAL,
    );
    let mut a2 = Fake::new("/a.so", LIB);
    let a2_u = a2.sym(
        "u",
        STB_GNU_UNIQUE,
        STT_OBJECT,
        STV_DEFAULT,
        1,
        0x10,
        8,
        VER_GLOBAL,
    );
    let b = [a.build(), a2.build()];
    let objs: Vec<ObjView> = b.iter().map(|x| x.view()).collect();
    let mut n = Namespace::new(objs, vec![0]);
    n.set_group(1, 1);
    n.set_scopes(1, vec![vec![1]]);
    let req = Request::new(b"u");
    assert_eq!(
        n.lookup_for(0, &req).map(|f| (f.obj, f.sym)),
        Some((0, b[0].idx[a_u]))
    );
    assert_eq!(
        n.lookup_for(1, &req).map(|f| (f.obj, f.sym)),
        Some((1, b[1].idx[a2_u]))
    );
    assert_eq!(n.unique_entry(b"u"), Some((0, b[0].idx[a_u])));
    assert_eq!(n.unique_entry_of(1, b"u"), Some((1, b[1].idx[a2_u])));
}

#[test]
fn push_object_extends_namespace() {
    let mut exe = Fake::new("", EXE);
    let _ = exe.func("foo", 0x10);
    let mut lib = Fake::new("/lib.so", LIB);
    let l_foo = lib.func("foo", 0x20);
    let b = [exe.build(), lib.build()];
    let mut n = Namespace::new(vec![b[0].view()], vec![0]);
    let id = n.push_object(b[1].view());
    assert_eq!(id, 1);
    let req = Request::new(b"foo");
    assert_eq!(
        n.lookup_in(&req, &[&[1]]).map(|f| (f.obj, f.sym)),
        Some((1, b[1].idx[l_foo]))
    );
}

/// A xorshift generator: `rnd(n)` is in `0..n`, the same sequence for the same seed.
fn xorshift(mut x: u64) -> impl FnMut(u64) -> u64 {
    move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

/// The scope index (scopes of 12+ objects, with the memo path on) must give exactly the
/// plan of glibc's plain scope walk (use_memo off): random libraries sharing names, with
/// every binding, visibility, version shape and value-0 definitions, referenced with every
/// class, versioned and not, with and without LD_DYNAMIC_WEAK and a removed object.
#[test]
fn scope_index_matches_plain_walk() {
    let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15);
    for round in 0..12 {
        let names: Vec<alloc::string::String> = (0..60)
            .map(|i| alloc::format!("_ZN4test{}name{i}Ev", "x".repeat(i % 17)))
            .collect();
        let vers = ["V1", "V2", "V3"];
        let mut exe = Fake::new("", EXE);
        for (i, v) in vers.iter().enumerate() {
            exe.verneed(2 + i as u16, v, "/lib1.so", false);
        }
        let classes = [
            R_X86_64_JUMP_SLOT,
            R_X86_64_GLOB_DAT,
            R_X86_64_64,
            R_X86_64_COPY,
        ];
        for (i, n) in names.iter().enumerate() {
            let vs = if i % 3 == 0 {
                VER_GLOBAL
            } else {
                2 + (i % 3) as u16
            };
            let bind = if i % 7 == 0 { STB_WEAK } else { STB_GLOBAL };
            let h = exe.undef(n, bind, vs);
            exe.reloc(classes[rnd(4) as usize], h);
            exe.reloc(classes[rnd(4) as usize], h);
        }
        let mut fakes = vec![exe];
        for l in 0..16 {
            let mut f = Fake::new(&alloc::format!("/lib{l}.so"), LIB);
            let versioned = rnd(3) != 0;
            if versioned {
                for (i, v) in vers.iter().enumerate() {
                    f.verdef(2 + i as u16, v);
                }
            }
            for n in &names {
                for _ in 0..rnd(3) {
                    let bind = [STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE, STB_LOCAL][rnd(4) as usize];
                    let vis = [STV_DEFAULT, STV_HIDDEN, STV_PROTECTED][rnd(3) as usize];
                    let typ = [STT_FUNC, STT_OBJECT, STT_TLS, 4][rnd(4) as usize];
                    let shndx = if rnd(8) == 0 { SHN_UNDEF } else { 1 };
                    let value = if rnd(8) == 0 { 0 } else { 0x100 };
                    let vs = if versioned {
                        (1 + rnd(4) as u16) | if rnd(4) == 0 { 0x8000 } else { 0 }
                    } else {
                        VER_GLOBAL
                    };
                    f.sym(n, bind, typ, vis, shndx, value, 8, vs);
                }
            }
            let r = f.undef(&names[rnd(60) as usize], STB_GLOBAL, VER_GLOBAL);
            f.reloc(R_X86_64_GLOB_DAT, r);
            fakes.push(f);
        }
        let b: Vec<Built> = fakes.into_iter().map(|f| f.build()).collect();
        let order: Vec<u32> = (0..b.len() as u32).rev().collect();
        let dynamic_weak = round % 2 == 1;
        let removed = (round % 3 == 2).then(|| 1 + rnd(16) as usize);
        let run = |use_memo: bool| {
            let mut n = ns(&b);
            n.use_memo = use_memo;
            n.index_probes_per_symbol = 0;
            n.dynamic_weak = dynamic_weak;
            if let Some(r) = removed {
                n.objs[r].removed = true;
            }
            // (Diagnostics are not compared: the global path checks protected definitions
            // only for the final definer, the plain walk for every object that yields one.)
            plan(&mut n, &order)
        };
        let n = ns(&b);
        assert!(
            crate::index::ScopeIndex::build(&n.objs, n.global()).is_some(),
            "the scope gets an index"
        );
        let indexed = run(true);
        let walked = run(false);
        assert_eq!(indexed, walked, "round {round}");
    }
}

/// Objects with a local scope (dlopen'ed with RTLD_LOCAL: scopes [global, local, appended])
/// look the global scope up through its index and walk only the rest on a miss: the plan
/// must be exactly glibc's plain walk of all scopes, for every binding and visibility
/// (protected definitions take the PLT-class search through both parts).
#[test]
fn local_scopes_after_indexed_global_match_plain_walk() {
    let mut rnd = xorshift(0x2545_f491_4f6c_dd1d);
    for round in 0..12 {
        let names: Vec<alloc::string::String> = (0..50)
            .map(|i| alloc::format!("sym{i}_{}", "y".repeat(i % 13)))
            .collect();
        let mut fakes = vec![Fake::new("", EXE)];
        for l in 0..20 {
            let mut f = Fake::new(&alloc::format!("/l{l}.so"), LIB);
            // Names 0..20 are defined anywhere, 20..35 only in the first dlopen'ed group
            // (objects 14..=17), 35..50 only in the second (18..=20): references to them
            // need the local and the appended scopes.
            let obj = l + 1;
            let defines =
                |i: usize| i < 20 || ((14..=17).contains(&obj) && i < 35) || (obj >= 18 && i >= 35);
            for (i, n) in names.iter().enumerate() {
                if !defines(i) {
                    continue;
                }
                for _ in 0..rnd(3) {
                    let bind = [STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE, STB_LOCAL][rnd(4) as usize];
                    let vis = [STV_DEFAULT, STV_HIDDEN, STV_PROTECTED][rnd(3) as usize];
                    let shndx = if rnd(8) == 0 { SHN_UNDEF } else { 1 };
                    f.sym(n, bind, STT_FUNC, vis, shndx, 0x100, 8, VER_GLOBAL);
                }
            }
            for _ in 0..6 {
                let r = f.undef(&names[rnd(50) as usize], STB_GLOBAL, VER_GLOBAL);
                f.reloc([R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT][rnd(2) as usize], r);
            }
            fakes.push(f);
        }
        let b: Vec<Built> = fakes.into_iter().map(|f| f.build()).collect();
        // Objects 0..=13 are the global scope; 14..=20 were dlopen'ed in two groups.
        let global: Vec<u32> = (0..14).collect();
        let (g1, g2): (Vec<u32>, Vec<u32>) = ((14..18).collect(), (18..21).collect());
        let run = |use_memo: bool| {
            let objs = b.iter().map(|x| x.view()).collect();
            let mut n = Namespace::new(objs, global.clone());
            n.use_memo = use_memo;
            n.index_probes_per_symbol = 0;
            for &o in &g1 {
                n.set_local_scope(o, g1.clone());
            }
            for &o in &g2 {
                n.set_local_scope(o, g2.clone());
            }
            if round % 2 == 1 {
                // A later open appended its search list to the first group's scopes.
                for &o in &g1 {
                    n.append_scope(o, g2[0], g2.clone());
                }
            }
            let order: Vec<u32> = (0..b.len() as u32).rev().collect();
            plan(&mut n, &order)
        };
        let indexed = run(true);
        let walked = run(false);
        assert_eq!(indexed, walked, "round {round}");
    }
}

#[test]
fn planner_reusing_one_scratch_plan_matches_fresh_plans() {
    // Object 1 has more distinct references than its sizing hint (the table grows), object
    // 0 fewer; planning 1 then 0 into one scratch plan reuses the larger buffers for 0.
    let mut a = Fake::new("/a.so", LIB);
    let mut defs = Vec::new();
    for i in 0..40 {
        let name = alloc::format!("d{i}");
        defs.push(a.func(&name, 0x10 + i as u64));
    }
    for i in 0..40 {
        let name = alloc::format!("d{i}");
        let r = a.undef(&name, STB_GLOBAL, VER_GLOBAL);
        a.reloc(R_X86_64_GLOB_DAT, r);
        a.reloc(R_X86_64_64, r);
    }
    let mut exe = Fake::new("", EXE);
    let f = exe.undef("d3", STB_GLOBAL, VER_GLOBAL);
    let u = exe.undef("nowhere", STB_GLOBAL, VER_GLOBAL);
    exe.reloc(R_X86_64_GLOB_DAT, f);
    exe.reloc(R_X86_64_GLOB_DAT, u);
    let b = [exe.build(), a.build()];
    let order = [1, 0];
    let fresh = plan(&mut ns(&b), &order);
    let mut n = ns(&b);
    let mut planner = crate::plan::Planner::default();
    let mut scratch = crate::plan::ObjPlan::default();
    let mut reused = BindingPlan {
        order: order.to_vec(),
        objs: vec![Default::default(); b.len()],
        first_error: None,
    };
    for &id in &order {
        planner.plan_object(&mut n, id, false, &mut scratch);
        reused.objs[id as usize] = scratch.clone();
    }
    reused.first_error = planner.first_error;
    assert_eq!(reused, fresh);
    assert_eq!(reused.objs[1].keys.len(), 40);
    assert_eq!(reused.first_error, Some((0, b[0].idx[u])));
    assert_eq!(
        reused.objs[0].get(b[0].idx[f], CLASS_NORMAL),
        Some(def(&b, 1, defs[3]))
    );
}

#[test]
fn index_hash_fragment_collision_is_rejected_by_name() {
    // GNU hashes 0x4e866bef and 0xf6e36bef: the same low 16 bits (all the index keeps) and,
    // in a 16-slot index, the same slot. The lookup of the first must not find the second.
    let (miss, hit) = ("coll_53306", "coll_a");
    assert_eq!(crate::hash::gnu_hash(miss.as_bytes()), 0x4e86_6bef);
    assert_eq!(crate::hash::gnu_hash(hit.as_bytes()), 0xf6e3_6bef);
    let mut exe = Fake::new("", EXE);
    let m = exe.undef(miss, STB_WEAK, VER_GLOBAL);
    let h = exe.undef(hit, STB_GLOBAL, VER_GLOBAL);
    exe.reloc(R_X86_64_GLOB_DAT, m);
    exe.reloc(R_X86_64_GLOB_DAT, h);
    let mut fakes = vec![exe];
    let mut def_idx = 0;
    for l in 0..12 {
        let mut f = Fake::new(&alloc::format!("/lib{l}.so"), LIB);
        if l == 5 {
            def_idx = f.func(hit, 0x10);
        } else {
            f.func(&alloc::format!("other{l}"), 0x10);
        }
        fakes.push(f);
    }
    let b: Vec<Built> = fakes.into_iter().map(|f| f.build()).collect();
    let n = ns(&b);
    let ix = crate::index::ScopeIndex::build(&n.objs, n.global()).expect("an index");
    assert!(
        ix.candidates(crate::hash::gnu_hash(miss.as_bytes()))
            .next()
            .is_some(),
        "the colliding definition is a candidate"
    );
    let order: Vec<u32> = (0..b.len() as u32).rev().collect();
    let mut n1 = ns(&b);
    n1.index_probes_per_symbol = 0;
    let indexed = plan(&mut n1, &order);
    let mut n2 = ns(&b);
    n2.use_memo = false;
    assert_eq!(indexed, plan(&mut n2, &order));
    assert_eq!(
        indexed.objs[0].get(b[0].idx[m], CLASS_NORMAL),
        Some(Binding::UndefWeak)
    );
    assert_eq!(
        indexed.objs[0].get(b[0].idx[h], CLASS_NORMAL),
        Some(def(&b, 6, def_idx))
    );
}
