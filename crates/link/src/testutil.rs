//! Test-only builder of fake objects: real byte layouts (Elf64_Sym, DT_GNU_HASH with bloom,
//! DT_HASH, versym, RELA) so tests exercise the same code paths as real files.

use alloc::vec::Vec;

use crate::hash::{gnu_hash, sysv_hash};
use crate::object::*;

#[derive(Clone)]
struct FSym {
    name: Vec<u8>,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
    versym: u16,
}

#[allow(clippy::type_complexity)]
pub struct Fake {
    name: Vec<u8>,
    kind: ObjKind,
    syms: Vec<FSym>,
    /// (index, name, hash-or-0, hidden, file)
    vers: Vec<(u16, Vec<u8>, bool, Option<Vec<u8>>)>,
    relocs: Vec<(u32, usize, i64)>,
    sysv: bool,
    pub symbolic: bool,
}

#[allow(clippy::type_complexity)]
pub struct Built {
    name: Vec<u8>,
    kind: ObjKind,
    symtab: Vec<u8>,
    strtab: Vec<u8>,
    hash: Vec<u8>,
    sysv: bool,
    versym: Vec<u8>,
    vers: Vec<(u16, u32, u32, bool, Option<u32>)>,
    nvers: usize,
    rela: Vec<u8>,
    /// handle -> final symbol index
    pub idx: Vec<u32>,
    symbolic: bool,
}

pub const VER_GLOBAL: u16 = 1;

impl Fake {
    pub fn new(name: &str, kind: ObjKind) -> Self {
        Fake {
            name: name.as_bytes().to_vec(),
            kind,
            syms: Vec::new(),
            vers: Vec::new(),
            relocs: Vec::new(),
            sysv: false,
            symbolic: false,
        }
    }
    pub fn sysv(mut self) -> Self {
        self.sysv = true;
        self
    }
    /// Add a symbol; returns its handle.
    #[allow(clippy::too_many_arguments)]
    pub fn sym(
        &mut self,
        name: &str,
        bind: u8,
        typ: u8,
        vis: u8,
        shndx: u16,
        value: u64,
        size: u64,
        versym: u16,
    ) -> usize {
        self.syms.push(FSym {
            name: name.as_bytes().to_vec(),
            info: (bind << 4) | typ,
            other: vis,
            shndx,
            value,
            size,
            versym,
        });
        self.syms.len() - 1
    }
    /// A default-visibility defined function.
    pub fn func(&mut self, name: &str, value: u64) -> usize {
        self.sym(
            name,
            STB_GLOBAL,
            STT_FUNC,
            STV_DEFAULT,
            1,
            value,
            0,
            VER_GLOBAL,
        )
    }
    pub fn def(&mut self, name: &str, bind: u8, value: u64, versym: u16) -> usize {
        self.sym(name, bind, STT_OBJECT, STV_DEFAULT, 1, value, 8, versym)
    }
    pub fn undef(&mut self, name: &str, bind: u8, versym: u16) -> usize {
        self.sym(name, bind, STT_NOTYPE, STV_DEFAULT, SHN_UNDEF, 0, 0, versym)
    }
    /// Defined version (verdef) with index `ndx`.
    pub fn verdef(&mut self, ndx: u16, name: &str) {
        self.vers.push((ndx, name.as_bytes().to_vec(), false, None));
    }
    /// Needed version (verneed) with index `ndx`.
    pub fn verneed(&mut self, ndx: u16, name: &str, file: &str, hidden: bool) {
        self.vers.push((
            ndx,
            name.as_bytes().to_vec(),
            hidden,
            Some(file.as_bytes().to_vec()),
        ));
    }
    pub fn reloc(&mut self, r_type: u32, handle: usize) {
        self.relocs.push((r_type, handle, 0));
    }

    pub fn build(self) -> Built {
        // Order: null, unhashed undefined symbols, then the hashed ones (defined, and
        // undefined with a canonical PLT address) sorted by GNU bucket (as ld does).
        let nb: u32 = 3;
        let mut order: Vec<usize> = (0..self.syms.len()).collect();
        order.sort_by_key(|&h| {
            let s = &self.syms[h];
            if s.shndx == SHN_UNDEF && s.value == 0 && !self.sysv {
                (0, 0)
            } else {
                (1, if self.sysv { 0 } else { gnu_hash(&s.name) % nb })
            }
        });
        let mut idx = alloc::vec![0u32; self.syms.len()];
        for (pos, &h) in order.iter().enumerate() {
            idx[h] = pos as u32 + 1;
        }
        let mut strtab = alloc::vec![0u8];
        let add_str = |s: &[u8], st: &mut Vec<u8>| -> u32 {
            let o = st.len() as u32;
            st.extend_from_slice(s);
            st.push(0);
            o
        };
        let mut symtab = alloc::vec![0u8; SYM_SIZE];
        let mut versym = alloc::vec![0u8; 2];
        for &h in &order {
            let s = &self.syms[h];
            let off = add_str(&s.name, &mut strtab);
            symtab.extend_from_slice(&off.to_le_bytes());
            symtab.push(s.info);
            symtab.push(s.other);
            symtab.extend_from_slice(&s.shndx.to_le_bytes());
            symtab.extend_from_slice(&s.value.to_le_bytes());
            symtab.extend_from_slice(&s.size.to_le_bytes());
            versym.extend_from_slice(&s.versym.to_le_bytes());
        }
        let nsyms = order.len() as u32 + 1;
        let vers: Vec<(u16, u32, u32, bool, Option<u32>)> = self
            .vers
            .iter()
            .map(|(n, name, hid, file)| {
                let no = add_str(name, &mut strtab);
                let fo = file.as_ref().map(|f| add_str(f, &mut strtab));
                (*n, sysv_hash(name), no, *hid, fo)
            })
            .collect();
        let nvers = vers.iter().map(|v| v.0 as usize + 1).max().unwrap_or(0);
        let hash = if self.sysv {
            let nbucket = 2u32;
            let mut buckets = alloc::vec![0u32; nbucket as usize];
            let mut chains = alloc::vec![0u32; nsyms as usize];
            // Insert in reverse so chains list symbols in ascending index order.
            for i in (1..nsyms).rev() {
                let s = &self.syms[order[i as usize - 1]];
                let b = (sysv_hash(&s.name) % nbucket) as usize;
                chains[i as usize] = buckets[b];
                buckets[b] = i;
            }
            let mut t = Vec::new();
            for w in [nbucket, nsyms].iter().chain(&buckets).chain(&chains) {
                t.extend_from_slice(&w.to_le_bytes());
            }
            t
        } else {
            // Undefined symbols are unhashed unless they carry a canonical PLT address (as in ld).
            let symoffset = 1 + self
                .syms
                .iter()
                .filter(|s| s.shndx == SHN_UNDEF && s.value == 0)
                .count() as u32;
            let shift = 6u32;
            let mut bloom = [0u64; 2];
            let mut buckets = [0u32; 3];
            let mut chain = Vec::new();
            for i in symoffset..nsyms {
                let s = &self.syms[order[i as usize - 1]];
                let h = gnu_hash(&s.name);
                bloom[((h / 64) & 1) as usize] |=
                    (1u64 << (h % 64)) | (1u64 << ((h >> shift) % 64));
                let b = (h % nb) as usize;
                if buckets[b] == 0 {
                    buckets[b] = i;
                }
                let last = i + 1 == nsyms || {
                    let n = &self.syms[order[i as usize]];
                    gnu_hash(&n.name) % nb != h % nb
                };
                chain.push((h & !1) | last as u32);
            }
            let mut t = Vec::new();
            for w in [nb, symoffset, 2, shift] {
                t.extend_from_slice(&w.to_le_bytes());
            }
            for b in bloom {
                t.extend_from_slice(&b.to_le_bytes());
            }
            for w in buckets.iter().chain(&chain) {
                t.extend_from_slice(&w.to_le_bytes());
            }
            t
        };
        let mut rela = Vec::new();
        for (t, h, a) in &self.relocs {
            rela.extend_from_slice(&0x1000u64.to_le_bytes());
            rela.extend_from_slice(&(((idx[*h] as u64) << 32) | *t as u64).to_le_bytes());
            rela.extend_from_slice(&a.to_le_bytes());
        }
        Built {
            name: self.name,
            kind: self.kind,
            symtab,
            strtab,
            hash,
            sysv: self.sysv,
            versym,
            vers,
            nvers,
            rela,
            idx,
            symbolic: self.symbolic,
        }
    }
}

impl Built {
    pub fn view(&self) -> ObjView<'_> {
        let mut v = ObjView::new(&self.name, self.kind);
        v.symtab = &self.symtab;
        v.strtab = &self.strtab;
        v.hash = if self.sysv {
            SysvHash::parse(&self.hash)
                .map(HashTable::Sysv)
                .unwrap_or(HashTable::None)
        } else {
            GnuHash::parse(&self.hash)
                .map(HashTable::Gnu)
                .unwrap_or(HashTable::None)
        };
        if self.nvers > 0 {
            let mut vs = alloc::vec![Version::default(); self.nvers];
            for &(n, h, no, hid, fo) in &self.vers {
                vs[n as usize] = Version {
                    hash: h,
                    hidden: hid,
                    name: cstr(&self.strtab, no),
                    filename: fo.map(|f| cstr(&self.strtab, f)),
                };
            }
            v.set_versions(vs);
            v.versym = &self.versym;
        }
        v.rela = &self.rela;
        v.symbolic = self.symbolic;
        v
    }
}
