//! Tunables parsing: table-driven cases plus an oracle comparison with glibc's own
//! `ld.so --list-tunables` under the same environment.

use rld_glibc::tunables::{EnvEdit, InitOptions, TunableValue, Tunables, dl_strtoul};
use rld_glibc::{BUILDS, GlibcBuild};
use std::process::Command;

const LDSO: &str = "/lib64/ld-linux-x86-64.so.2";

fn build() -> &'static GlibcBuild {
    BUILDS
        .iter()
        .find(|b| b.package_version() == "2.36-9+deb12u14")
        .unwrap()
}

fn init<'a>(env: &[&'a str], secure: bool) -> (Tunables<'a>, Vec<EnvEdit>) {
    let env: Vec<&[u8]> = env.iter().map(|s| s.as_bytes()).collect();
    Tunables::init(
        build().tunables(),
        &env,
        InitOptions {
            secure,
            suid_debug: false,
        },
    )
    .unwrap()
}

fn val(t: &Tunables, name: &str) -> (i64, bool) {
    let s = t.state(build().tunable_id(name).unwrap()).unwrap();
    (s.numval, s.initialized)
}

#[test]
fn strtoul_matches_glibc_rules() {
    let cases: &[(&str, u64)] = &[
        ("0", 0),
        ("10", 10),
        ("0x1F", 31),
        ("0X1f", 31),
        ("010", 8),
        ("08", 0),
        ("09", 0),
        ("0x", 0),
        ("  \t42", 42),
        ("+7", 7),
        ("-1", u64::MAX),
        ("-0x10", 0u64.wrapping_sub(16)),
        ("12abc", 12),
        ("abc", 0),
        ("", 0),
        ("\n5", 0),
        ("18446744073709551615", u64::MAX),
        ("99999999999999999999999", u64::MAX),
        ("-99999999999999999999999", u64::MAX),
        ("1844674407370955161", 1844674407370955161),
    ];
    for (s, want) in cases {
        assert_eq!(dl_strtoul(s.as_bytes()), *want, "{s:?}");
    }
}

#[test]
fn table_driven_parsing() {
    struct Case {
        env: &'static [&'static str],
        name: &'static str,
        want: (i64, bool),
    }
    let cases = [
        Case {
            env: &[],
            name: "glibc.malloc.check",
            want: (0, false),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.check=2"],
            name: "glibc.malloc.check",
            want: (2, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.check=9"],
            name: "glibc.malloc.check",
            want: (0, false),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.check=1=2"],
            name: "glibc.malloc.check",
            want: (1, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.check="],
            name: "glibc.malloc.check",
            want: (0, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.check"],
            name: "glibc.malloc.check",
            want: (0, false),
        },
        Case {
            env: &["GLIBC_TUNABLES=x:glibc.malloc.check=3"],
            name: "glibc.malloc.check",
            want: (3, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.check=1:glibc.malloc.check=2"],
            name: "glibc.malloc.check",
            want: (2, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.check=1:glibc.malloc.check=7"],
            name: "glibc.malloc.check",
            want: (1, true),
        },
        Case {
            env: &["MALLOC_CHECK_=3"],
            name: "glibc.malloc.check",
            want: (3, true),
        },
        Case {
            env: &["MALLOC_CHECK_=3", "GLIBC_TUNABLES=glibc.malloc.check=1"],
            name: "glibc.malloc.check",
            want: (1, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.check=1", "MALLOC_CHECK_=3"],
            name: "glibc.malloc.check",
            want: (1, true),
        },
        Case {
            env: &["MALLOC_CHECK_=5", "MALLOC_CHECK_=2"],
            name: "glibc.malloc.check",
            want: (2, true),
        },
        Case {
            env: &["MALLOC_CHECK_"],
            name: "glibc.malloc.check",
            want: (0, false),
        },
        Case {
            env: &["MALLOC_CHECK_X=1"],
            name: "glibc.malloc.check",
            want: (0, false),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.perturb=-1"],
            name: "glibc.malloc.perturb",
            want: (0, false),
        },
        Case {
            env: &["MALLOC_PERTURB_=0x7f"],
            name: "glibc.malloc.perturb",
            want: (127, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.mxfast=-1"],
            name: "glibc.malloc.mxfast",
            want: (-1, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.malloc.arena_max=0"],
            name: "glibc.malloc.arena_max",
            want: (0, false),
        },
        Case {
            env: &["MALLOC_ARENA_MAX=2"],
            name: "glibc.malloc.arena_max",
            want: (2, true),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.pthread.mutex_spin_count=4294967297"],
            name: "glibc.pthread.mutex_spin_count",
            want: (100, false),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.elision.tries=-5"],
            name: "glibc.elision.tries",
            want: (3, false),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.rtld.nns=021"],
            name: "glibc.rtld.nns",
            want: (4, false),
        },
        Case {
            env: &["GLIBC_TUNABLES=glibc.rtld.nns=016"],
            name: "glibc.rtld.nns",
            want: (14, true),
        },
        Case {
            env: &["LD_HWCAP_MASK=0xff"],
            name: "glibc.cpu.hwcap_mask",
            want: (255, true),
        },
        Case {
            env: &[
                "GLIBC_TUNABLES=a=b",
                "GLIBC_TUNABLES=glibc.malloc.top_pad=4096",
            ],
            name: "glibc.malloc.top_pad",
            want: (4096, true),
        },
    ];
    for c in &cases {
        let (t, edits) = init(c.env, false);
        assert_eq!(val(&t, c.name), c.want, "{:?}", c.env);
        assert!(edits.is_empty());
    }
}

#[test]
fn get_val_has_type_width() {
    let (t, _) = init(
        &[
            "GLIBC_TUNABLES=glibc.malloc.perturb=5:glibc.malloc.top_pad=0x10:glibc.cpu.hwcaps=-AVX",
            "LD_HWCAP_MASK=3",
        ],
        false,
    );
    let b = build();
    assert_eq!(
        t.get(b.tunable_id("glibc.malloc.perturb").unwrap()),
        Some((TunableValue::Int32(5), true))
    );
    assert_eq!(
        t.get(b.tunable_id("glibc.malloc.top_pad").unwrap()),
        Some((TunableValue::SizeT(16), true))
    );
    assert_eq!(
        t.get(b.tunable_id("glibc.cpu.hwcap_mask").unwrap()),
        Some((TunableValue::Uint64(3), true))
    );
    assert_eq!(
        t.get(b.tunable_id("glibc.cpu.hwcaps").unwrap()),
        Some((TunableValue::Str(Some(b"-AVX".as_slice())), true))
    );
    assert_eq!(
        t.get(b.tunable_id("glibc.cpu.x86_ibt").unwrap()),
        Some((TunableValue::Str(None), false))
    );
    assert_eq!(
        t.get(b.tunable_id("glibc.pthread.mutex_spin_count").unwrap()),
        Some((TunableValue::Int32(100), false))
    );
    assert_eq!(t.get(b.tunables().len()), None);
    // The ids libc passes (doc section 7) have the documented widths.
    for id in [3, 7, 8, 13, 21, 22, 26, 32] {
        assert!(
            matches!(t.get(id), Some((TunableValue::Int32(_), _))),
            "{id}"
        );
    }
    for id in [14, 28, 2, 27, 31, 35, 30, 23, 11, 9, 18] {
        assert!(
            matches!(t.get(id), Some((TunableValue::SizeT(_), _))),
            "{id}"
        );
    }
}

#[test]
fn secure_mode_filters_and_rewrites() {
    let env = [
        "A=1",
        "MALLOC_CHECK_=3",
        "GLIBC_TUNABLES=glibc.malloc.check=2:glibc.malloc.mxfast=64:junk:glibc.rtld.nns=2:nosuch=1:glibc.malloc.perturb=9",
        "MALLOC_TOP_PAD_=4096",
        "LD_HWCAP_MASK=1",
        "MALLOC_CHECK_=1",
        "B=2",
    ];
    let (t, edits) = init(&env, true);
    // SXID_ERASE: dropped; SXID_IGNORE: kept in the string but not applied.
    assert_eq!(val(&t, "glibc.malloc.check"), (0, false));
    assert_eq!(val(&t, "glibc.malloc.mxfast"), (0, false));
    assert_eq!(val(&t, "glibc.rtld.nns"), (4, false));
    assert_eq!(val(&t, "glibc.malloc.top_pad"), (0, false));
    assert_eq!(val(&t, "glibc.cpu.hwcap_mask"), (6, false));
    assert_eq!(
        edits,
        vec![
            EnvEdit::Remove(1),
            EnvEdit::Remove(5),
            EnvEdit::Replace(
                2,
                b"GLIBC_TUNABLES=glibc.malloc.mxfast=64:glibc.malloc.perturb=9".to_vec()
            ),
            EnvEdit::Remove(4),
        ]
    );
    // With /etc/suid-debug, malloc.check becomes NONE: honoured and not erased.
    let envb: Vec<&[u8]> = env.iter().map(|s| s.as_bytes()).collect();
    let (t, edits) = Tunables::init(
        build().tunables(),
        &envb,
        InitOptions {
            secure: true,
            suid_debug: true,
        },
    )
    .unwrap();
    assert_eq!(val(&t, "glibc.malloc.check"), (2, true));
    assert_eq!(
        edits,
        vec![
            EnvEdit::Replace(
                2,
                b"GLIBC_TUNABLES=glibc.malloc.check=2:glibc.malloc.mxfast=64:glibc.malloc.perturb=9".to_vec()
            ),
            EnvEdit::Remove(4),
        ]
    );
}

fn oracle(env: &[&str]) -> Option<String> {
    let mut c = Command::new(LDSO);
    c.env_clear().arg("--list-tunables");
    for e in env {
        let (k, v) = e.split_once('=').unwrap();
        c.env(k, v);
    }
    let out = c.output().ok()?;
    assert!(out.status.success());
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Ids whose values ld.so itself rewrites from cpu_features (TUNABLE_SET_WITH_BOUNDS).
const CPU_SET: &[&str] = &[
    "glibc.cpu.x86_shared_cache_size",
    "glibc.cpu.x86_rep_movsb_threshold",
    "glibc.cpu.x86_rep_stosb_threshold",
    "glibc.cpu.x86_non_temporal_threshold",
    "glibc.cpu.x86_data_cache_size",
];

/// `(value, min, max)` of a numeric line of `--list-tunables`.
fn parse_line(out: &str, name: &str) -> (i64, i64, i64) {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{name}: ")))
        .unwrap();
    let nums: Vec<i64> = line[name.len() + 2..]
        .replace(['(', ')', ','], " ")
        .split_whitespace()
        .filter(|w| !w.ends_with(':'))
        .map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap() as i64)
        .collect();
    (nums[0], nums[1], nums[2])
}

#[test]
fn list_tunables_matches_glibc() {
    let Some(baseline) = oracle(&[]) else {
        println!("NOTE: {LDSO} cannot be run; skipping oracle test");
        return;
    };
    let cases: &[&[&str]] = &[
        &[],
        &["GLIBC_TUNABLES=glibc.malloc.check=2:glibc.malloc.tcache_count=0x10"],
        &["GLIBC_TUNABLES=glibc.malloc.mmap_threshold=0777:glibc.malloc.top_pad=08"],
        &[
            "GLIBC_TUNABLES=glibc.malloc.check=9:glibc.malloc.perturb=-1:glibc.rtld.nns=17:glibc.malloc.arena_max=0",
        ],
        &[
            "MALLOC_CHECK_=3",
            "MALLOC_TOP_PAD_=4096",
            "MALLOC_PERTURB_=0x7f",
            "MALLOC_MMAP_THRESHOLD_=131072",
            "MALLOC_TRIM_THRESHOLD_=1",
            "MALLOC_MMAP_MAX_=5",
            "MALLOC_ARENA_MAX=2",
            "MALLOC_ARENA_TEST=3",
            "LD_HWCAP_MASK=0xff",
        ],
        &["MALLOC_CHECK_=2", "GLIBC_TUNABLES=glibc.malloc.check=1"],
        &["GLIBC_TUNABLES=glibc.malloc.check=1", "MALLOC_CHECK_=2"],
        &["GLIBC_TUNABLES=glibc.cpu.x86_ibt=permissive:glibc.cpu.hwcaps=:glibc.cpu.x86_shstk=on"],
        &[
            "GLIBC_TUNABLES=glibc.malloc.check:::foo=bar:glibc.malloc.check=1=2:glibc.malloc.mxfast=0x",
        ],
        &["GLIBC_TUNABLES= 3:glibc.malloc.perturb= +2:glibc.malloc.tcache_max=-1"],
        &[
            "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=99999999999999999999999:glibc.pthread.mutex_spin_count=4294967297",
        ],
        &[
            "GLIBC_TUNABLES=glibc.elision.tries=-5:glibc.gmon.minarcs=49:glibc.gmon.maxarcs=2147483647:glibc.pthread.rseq=0",
        ],
        &[
            "GLIBC_TUNABLES=glibc.rtld.nns=016:glibc.rtld.optional_static_tls=0x1000:glibc.rtld.dynamic_sort=1",
        ],
        &["GLIBC_TUNABLES=glibc.malloc.hugetlb=1:glibc.malloc.check=3"],
        &[
            "MALLOC_ARENA_TEST=0",
            "MALLOC_MMAP_MAX_=-1",
            "MALLOC_PERTURB_=256",
        ],
    ];
    let b = build();
    for env in cases {
        let want = oracle(env).unwrap();
        let (mut t, _) = init(env, false);
        for name in CPU_SET {
            let (v, lo, hi) = parse_line(&baseline, name);
            t.set_with_bounds(b.tunable_id(name).unwrap(), v, Some(lo), Some(hi));
        }
        let mut got = String::new();
        t.list(&mut got).unwrap();
        assert_eq!(got, want, "env {env:?}");
    }
}
