//! Oracle: glibc's own ld.so on this machine computes cpu_features; we compute it from
//! the real CPUID and must match byte for byte, for several GLIBC_TUNABLES settings.

use rld_cpu::{
    Auxv, CPU_FEATURES_SIZE, CpuFeatures, Memo, NativeCpuid, Tunables, cache_sysconf, compute,
    cpuid_feature_leaf,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn dumper() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dump_cpu_features");
        let src = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/oracle/dump_cpu_features.c"
        );
        let st = Command::new("gcc")
            .args(["-O1", "-o"])
            .arg(&out)
            .arg(src)
            .arg("-ldl")
            .status()
            .expect("gcc");
        assert!(st.success(), "gcc failed");
        out
    })
}

/// Extra environment that sorts after GLIBC_TUNABLES (std passes envp sorted by key).
type Env<'a> = &'a [(&'a str, &'a str)];

fn run_glibc(tunables: Option<&str>, extra: Env) -> BTreeMap<String, String> {
    let mut cmd = Command::new(dumper());
    cmd.env_clear();
    if let Some(t) = tunables {
        cmd.env("GLIBC_TUNABLES", t);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run dumper");
    assert!(out.status.success(), "dumper failed: {:?}", out);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `ld.so --help`'s glibc-hwcaps section → bitmask over (v4, v3, v2), bit 0 = v4.
fn glibc_hwcaps_active(tunables: Option<&str>) -> u32 {
    let mut cmd = Command::new("/lib64/ld-linux-x86-64.so.2");
    cmd.arg("--help").env_clear();
    if let Some(t) = tunables {
        cmd.env("GLIBC_TUNABLES", t);
    }
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let mut mask = 0;
    for (i, name) in ["x86-64-v4", "x86-64-v3", "x86-64-v2"].iter().enumerate() {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .expect("hwcaps line");
        if line.contains("supported") {
            mask |= 1 << i;
        }
    }
    mask
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn strtoul(s: &str) -> u64 {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

const KNOWN: &[&str] = &rld_cpu::TUNABLE_NAMES;

/// Reproduce what ld.so sees: recognized values are NUL-terminated in place inside
/// the environment block, which continues with the later env strings and AT_EXECFN.
fn our_run(tun: Option<&str>, extra: Env) -> (CpuFeatures, rld_cpu::CpuInfo<'static>, u32, u32) {
    let mut t = Tunables::default();
    let mut block: Vec<u8> = Vec::new();
    let mut hwcaps_at = None;
    if let Some(s) = tun {
        let mut bytes = s.as_bytes().to_vec();
        let mut pos = 0;
        for item in s.split(':') {
            if let Some((k, v)) = item.split_once('=') {
                let vstart = pos + k.len() + 1;
                if KNOWN.contains(&k) {
                    if vstart + v.len() < bytes.len() {
                        bytes[vstart + v.len()] = 0;
                    }
                    match k {
                        "glibc.cpu.hwcaps" => hwcaps_at = Some(vstart),
                        "glibc.cpu.x86_non_temporal_threshold" => {
                            t.x86_non_temporal_threshold = Some(strtoul(v))
                        }
                        "glibc.cpu.x86_rep_movsb_threshold" => {
                            t.x86_rep_movsb_threshold = Some(strtoul(v))
                        }
                        "glibc.cpu.x86_rep_stosb_threshold" => {
                            t.x86_rep_stosb_threshold = Some(strtoul(v))
                        }
                        "glibc.cpu.x86_data_cache_size" => t.x86_data_cache_size = Some(strtoul(v)),
                        "glibc.cpu.x86_shared_cache_size" => {
                            t.x86_shared_cache_size = Some(strtoul(v))
                        }
                        _ => {}
                    }
                }
            }
            pos += item.len() + 1;
        }
        block.extend_from_slice(&bytes);
        block.push(0);
        for (k, v) in extra {
            block.extend_from_slice(format!("{k}={v}\0").as_bytes());
        }
        block.extend_from_slice(dumper().to_str().unwrap().as_bytes());
        block.extend_from_slice(&[0, 0]);
    }
    let block: &'static [u8] = Box::leak(block.into_boxed_slice());
    t.hwcaps = hwcaps_at.map(|i| &block[i..]);
    let aux = Auxv {
        platform: Some(b"x86_64"),
        hwcap2: unsafe { libc_getauxval(26) },
        minsigstksz: Some(unsafe { libc_getauxval(51) }).filter(|&v| v != 0),
    };
    let mut memo = Memo::new(NativeCpuid::new());
    let (cf, info) = compute(&mut memo, &t, &aux);
    (cf, info, memo.forwarded, memo.inner.executed)
}

unsafe extern "C" {
    #[link_name = "getauxval"]
    fn libc_getauxval(t: u64) -> u64;
    fn sched_setaffinity(pid: i32, size: usize, mask: *const u64) -> i32;
    fn sched_getcpu() -> i32;
}

/// CPUID.1:EBX[31:24] is the initial APIC ID of the CPU that executed it: run our
/// CPUIDs and glibc's child (which inherits the mask) on the same CPU.
fn pin_to_current_cpu() {
    let cpu = unsafe { sched_getcpu() }.max(0) as usize % 1024;
    let mut mask = [0u64; 16];
    mask[cpu / 64] = 1 << (cpu % 64);
    let rc = unsafe { sched_setaffinity(0, core::mem::size_of_val(&mask), mask.as_ptr()) };
    assert_eq!(rc, 0, "sched_setaffinity");
}

fn field_diff(a: &CpuFeatures, b: &CpuFeatures) -> String {
    let sa = format!("{a:#x?}");
    let sb = format!("{b:#x?}");
    sa.lines()
        .zip(sb.lines())
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("  ours {x}\n glibc {y}\n"))
        .collect()
}

fn check(tun: Option<&str>, extra: Env) {
    pin_to_current_cpu();
    let g = run_glibc(tun, extra);
    let (cf, info, forwarded, executed) = our_run(tun, extra);
    let theirs_bytes: [u8; CPU_FEATURES_SIZE] = unhex(&g["features"]).try_into().unwrap();
    let theirs = CpuFeatures::from_bytes(&theirs_bytes);
    assert_eq!(theirs.to_bytes(), theirs_bytes, "round trip");
    assert!(
        cf.to_bytes() == theirs_bytes,
        "cpu_features differ for {tun:?}:\n{}",
        field_diff(&cf, &theirs)
    );
    assert_eq!(g["cf_at_glro_0x70"], "1");
    for i in 0..10u32 {
        let l = cpuid_feature_leaf(&cf, i);
        let mut b = Vec::new();
        for w in l.cpuid.iter().chain(l.active.iter()) {
            b.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(unhex(&g[&format!("leaf{i}")]), b, "leaf {i}");
    }
    let plat = info
        .platform
        .map(|p| String::from_utf8_lossy(p).into_owned());
    assert_eq!(plat.as_deref().unwrap_or("(null)"), g["platform"]);
    assert_eq!(
        plat.as_ref().map_or(0, |p| p.len()).to_string(),
        g["platformlen"]
    );
    assert_eq!(info.hwcap.to_string(), g["glro_hwcap"]);
    assert_eq!(info.hwcap.to_string(), g["getauxval_hwcap"]);
    assert_eq!(info.hwcap2.to_string(), g["glro_hwcap2"]);
    assert_eq!(info.hwcap2.to_string(), g["getauxval_hwcap2"]);
    assert_eq!(info.minsigstacksize.to_string(), g["minsigstacksize"]);
    for (i, v) in cache_sysconf(&cf).iter().enumerate() {
        assert_eq!(v.to_string(), g[&format!("sysconf{i}")], "sysconf {i}");
    }
    if extra.is_empty() {
        assert_eq!(
            info.hwcaps_subdirs_active,
            glibc_hwcaps_active(tun),
            "hwcaps subdirs for {tun:?}"
        );
    }
    assert_eq!(forwarded, executed, "memo forwards == CPUIDs executed");
    eprintln!(
        "{tun:?}: OK; CPUIDs executed: ours {executed} (glibc 41 on the AMD test VM, 68 on the Intel one); hwcaps level v{}; platform {plat:?}",
        info.hwcaps_level
    );
}

#[test]
fn matches_glibc_default() {
    check(None, &[]);
}

#[test]
fn matches_glibc_hwcaps_and_movsb() {
    check(
        Some("glibc.cpu.hwcaps=-AVX2_Usable,-ERMS:glibc.cpu.x86_rep_movsb_threshold=4096"),
        &[],
    );
}

#[test]
fn matches_glibc_avx_off_thresholds() {
    check(
        Some(
            "glibc.cpu.hwcaps=-AVX2,-AVX512F,-XSAVEC,Prefer_No_VZEROUPPER,-Fast_Unaligned_Load,Prefer_ERMS\
             :glibc.cpu.x86_non_temporal_threshold=0x100000:glibc.cpu.x86_rep_stosb_threshold=1000",
        ),
        &[],
    );
}

#[test]
fn matches_glibc_osxsave_off_cache_sizes() {
    check(
        Some(
            "glibc.cpu.x86_data_cache_size=65536:glibc.cpu.x86_shared_cache_size=1048576\
             :glibc.cpu.x86_rep_movsb_threshold=100:glibc.cpu.hwcaps=-OSXSAVE",
        ),
        &[],
    );
}

#[test]
fn matches_glibc_misc_disables() {
    check(
        Some(
            "glibc.cpu.hwcaps=-XSAVE,-SSE4_2,Slow_SSE4_2,-LZCNT,-I686,-FMA,-BMI2,-POPCNT\
             :glibc.cpu.x86_rep_stosb_threshold=0:glibc.cpu.x86_non_temporal_threshold=16448",
        ),
        &[],
    );
}

/// glibc 2.36 keeps parsing hwcaps tokens past the value's NUL, into the next
/// environment string: "ZZZ=x,-AVX2" disables AVX2.
#[test]
fn matches_glibc_hwcaps_runs_into_next_env_string() {
    check(Some("glibc.cpu.hwcaps=-BMI1"), &[("ZZZ", "x,-AVX2")]);
}

#[test]
fn cpuid_count_and_recording() {
    let (_, _, forwarded, executed) = our_run(None, &[]);
    assert!(executed < 68, "{executed}");
    let mut memo = Memo::new(NativeCpuid::new());
    let _ = compute(&mut memo, &Tunables::default(), &Auxv::default());
    // Without AT_MINSIGSTKSZ the emulation needs 0xD.0, which update_active reads
    // anyway: no extra CPUID.
    assert_eq!(memo.forwarded, forwarded);
    let mut s = String::new();
    for l in memo.recorded() {
        s += &format!(
            "    Leaf {{ leaf: {:#x}, subleaf: {}, regs: [{:#010x}, {:#010x}, {:#010x}, {:#010x}] }},\n",
            l.leaf, l.subleaf, l.regs[0], l.regs[1], l.regs[2], l.regs[3]
        );
    }
    eprintln!(
        "CPUIDs: ours {executed} (glibc: 41 here by stepcount, 68 on Intel)\nxcr0 {:#x}\n{s}",
        memo.xcr0().unwrap_or(0)
    );
}
