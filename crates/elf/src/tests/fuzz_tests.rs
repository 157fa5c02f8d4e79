//! Robustness: thousands of mutated / truncated real ELF files through every API
//! (`fuzzing::exercise`), asserting no panic and bounded time. Deterministic (xorshift PRNG);
//! `RLD_FUZZ_ITERS` sets the number of inputs (default 40000), `RLD_FUZZ_SEED` the seed.
use super::fixture_tests::fixtures;
use super::tables_tests::load;
use super::util::*;
use crate::consts::*;
use crate::fuzzing::exercise;
use crate::*;
use std::time::Instant;
use std::vec::Vec;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// A base file and the file-offset ranges where mutations matter most.
struct Seed {
    bytes: Vec<u8>,
    hot: Vec<(usize, usize)>,
    dyn_range: Option<(usize, usize)>,
    vaddrs: Vec<u64>,
}

fn seed(bytes: Vec<u8>) -> Seed {
    let mut hot = std::vec![(0usize, 64usize)];
    let mut dyn_range = None;
    let mut vaddrs = Vec::new();
    {
        let l = load(&bytes);
        let h = l.file.header();
        hot.push((h.e_phoff as usize, h.e_phnum as usize * 56));
        let ph = l.file.dynamic_segment().unwrap();
        dyn_range = dyn_range.or(Some((ph.p_offset() as usize, ph.p_filesz() as usize)));
        hot.push((ph.p_offset() as usize, ph.p_filesz() as usize));
        let mem = l.file.memory();
        for t in [
            DT_STRTAB,
            DT_SYMTAB,
            DT_HASH,
            DT_GNU_HASH,
            DT_VERSYM,
            DT_VERDEF,
            DT_VERNEED,
            DT_RELA,
            DT_JMPREL,
            DT_RELR,
        ] {
            if let Some(v) = l.info.get(t) {
                vaddrs.push(v);
                if let Some(off) = mem.vaddr_to_offset(v) {
                    hot.push((off as usize, 512));
                }
            }
        }
        for n in l.file.notes().flatten() {
            let _ = n;
        }
    }
    Seed {
        bytes,
        hot,
        dyn_range,
        vaddrs,
    }
}

const TAGS: &[i64] = &[
    DT_NULL,
    DT_NEEDED,
    DT_PLTRELSZ,
    DT_HASH,
    DT_STRTAB,
    DT_SYMTAB,
    DT_RELA,
    DT_RELASZ,
    DT_RELAENT,
    DT_STRSZ,
    DT_SYMENT,
    DT_SONAME,
    DT_RPATH,
    DT_RUNPATH,
    DT_FLAGS,
    DT_PLTREL,
    DT_DEBUG,
    DT_JMPREL,
    DT_RELR,
    DT_RELRSZ,
    DT_RELRENT,
    DT_GNU_HASH,
    DT_VERSYM,
    DT_VERDEF,
    DT_VERDEFNUM,
    DT_VERNEED,
    DT_VERNEEDNUM,
    DT_FLAGS_1,
    DT_FILTER,
    DT_AUXILIARY,
    DT_AUDIT,
    DT_INIT_ARRAY,
    DT_INIT_ARRAYSZ,
    -1,
    i64::MIN,
    0x7fff_fffe,
];

fn interesting(rng: &mut Rng, s: &Seed) -> u64 {
    match rng.below(9) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => 0x7fff_ffff,
        4 => s.bytes.len() as u64 + rng.below(64) as u64,
        5 => rng.next() >> rng.below(64),
        6 => {
            s.vaddrs
                .get(rng.below(s.vaddrs.len()))
                .copied()
                .unwrap_or(0)
                + rng.below(32) as u64
        }
        7 => rng.below(s.bytes.len()) as u64,
        _ => 24,
    }
}

fn mutate(rng: &mut Rng, s: &Seed) -> Vec<u8> {
    let mut b = s.bytes.clone();
    let n = 1 + rng.below(8);
    for _ in 0..n {
        let len = b.len();
        if len == 0 {
            break;
        }
        match rng.below(10) {
            0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 | 2 => {
                let (start, size) = s.hot[rng.below(s.hot.len())];
                let i = start + rng.below(size.max(1));
                if i < len {
                    b[i] ^= 1 << rng.below(8);
                }
            }
            3 | 4 => {
                let (start, size) = s.hot[rng.below(s.hot.len())];
                let i = (start + rng.below(size.max(1))) & !3;
                let v = interesting(rng, s);
                let w = if rng.below(2) == 0 { 8 } else { 4 };
                if i + w <= len {
                    b[i..i + w].copy_from_slice(&v.to_le_bytes()[..w]);
                }
            }
            5 => {
                let cut = if rng.below(2) == 0 {
                    rng.below(4096.min(len))
                } else {
                    rng.below(len)
                };
                b.truncate(cut);
            }
            6 => {
                for x in b.iter_mut().take(64).skip(16) {
                    *x = rng.next() as u8;
                }
            }
            _ => {
                if let Some((start, size)) = s.dyn_range {
                    let entries = size / 16;
                    let e = start + 16 * rng.below(entries.max(1));
                    if e + 16 <= len {
                        let tag = TAGS[rng.below(TAGS.len())];
                        let val = interesting(rng, s);
                        b[e..e + 8].copy_from_slice(&tag.to_le_bytes());
                        b[e + 8..e + 16].copy_from_slice(&val.to_le_bytes());
                    }
                }
            }
        }
    }
    b
}

#[test]
fn mutated_real_files_never_panic() {
    let iters: usize = std::env::var("RLD_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000);
    let seed_val: u64 = std::env::var("RLD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_e1f5);
    let f = fixtures();
    let mut seeds: Vec<Seed> = Vec::new();
    for p in ["/usr/bin/true", LS, LDSO] {
        seeds.push(seed(read(p)));
    }
    for lib in ["libfix.so", "librun.so", "libgnu.so", "exe"] {
        seeds.push(seed(std::fs::read(f.path(lib)).unwrap()));
    }
    let libc = seed(read(LIBC));
    // Unmodified seeds first: the exerciser must accept them fully.
    for s in seeds.iter().chain([&libc]) {
        exercise(&s.bytes);
    }
    let mut rng = Rng(seed_val | 1);
    let start = Instant::now();
    let mut total = 0usize;
    let mut slowest = (0u128, 0usize);
    let mut stats = [0usize; 4];
    for i in 0..iters {
        // libc is large; mutate it 1 time in 20.
        let s = if i % 20 == 19 {
            &libc
        } else {
            &seeds[rng.below(seeds.len())]
        };
        let input = mutate(&mut rng, s);
        let t = Instant::now();
        std::hint::black_box(exercise(&input));
        if let Ok(file) = ElfFile::parse(&input) {
            stats[0] += 1;
            if let Ok(Some(d)) = file.dynamic() {
                stats[1] += 1;
                let info = DynamicInfo::new(d);
                if DynamicSymbols::from_dynamic(&info, &file.memory()).is_ok() {
                    stats[2] += 1;
                }
                if VersionTable::build(&info, &file.memory()).is_ok_and(|t| !t.is_empty()) {
                    stats[3] += 1;
                }
            }
        }
        let us = t.elapsed().as_micros();
        if us > slowest.0 {
            slowest = (us, i);
        }
        total += 1;
    }
    // Pure random and tiny inputs too.
    for len in 0..200usize {
        let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 6 {
            v[..6].copy_from_slice(b"\x7fELF\x02\x01");
        }
        exercise(&v);
        total += 1;
    }
    std::eprintln!(
        "rld-elf fuzz: {total} inputs in {:.2?} (slowest {} us at #{}), seed {seed_val:#x}; \
         parsed {} / dynamic {} / symbols {} / versions {}",
        start.elapsed(),
        slowest.0,
        slowest.1,
        stats[0],
        stats[1],
        stats[2],
        stats[3]
    );
}

#[test]
fn unaligned_copies_give_identical_results() {
    for p in [LS, LDSO] {
        let b = read(p);
        let mut shifted = std::vec![0u8; b.len() + 3];
        shifted[3..].copy_from_slice(&b);
        assert_eq!(exercise(&b), exercise(&shifted[3..]));
    }
}

/// `cargo test --release -p rld-elf lookup_speed -- --ignored --nocapture`
#[test]
#[ignore]
fn lookup_speed() {
    let bytes = read(LIBC);
    let l = load(&bytes);
    let syms = DynamicSymbols::from_dynamic(&l.info, &l.file.memory()).unwrap();
    let names: Vec<&[u8]> = syms
        .symtab
        .defined()
        .map(|(_, s)| syms.symtab.name(s).unwrap())
        .collect();
    let keys: Vec<SymbolKey<'_>> = names.iter().map(|n| SymbolKey::new(n)).collect();
    let misses: Vec<Vec<u8>> = names.iter().map(|n| [*n, b"_x"].concat()).collect();
    let miss_keys: Vec<SymbolKey<'_>> = misses.iter().map(|n| SymbolKey::new(n)).collect();
    for (label, ks) in [("hit", &keys), ("miss", &miss_keys)] {
        let t = Instant::now();
        let mut found = 0;
        for _ in 0..20 {
            for k in ks.iter() {
                found += usize::from(syms.lookup(k, |_, s| !s.is_undefined()).is_some());
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / (20 * ks.len()) as f64;
        std::eprintln!("{label}: {ns:.1} ns/lookup ({found} found)");
    }
}
