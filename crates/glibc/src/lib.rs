//! Per-build data about glibc's private loader interface (struct layouts, tunables, detection).
//! Everything here is derived from the committed gdb/readelf dumps in `data/<build>/`; no I/O.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod detect;
pub mod ptype;
pub mod tunables;
pub mod unsecvars;

pub use detect::{BuildId, DetectError, ImageKind, detect_by_build_id, detect_libc, gnu_build_id};
pub use tunables::{SecurityLevel, TunableDesc, TunableType};

/// A plain member: byte offset from the start of its struct and its size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: usize,
    pub size: usize,
}

/// A bitfield member: the byte that holds its lowest bit, the bit number in that byte, and
/// its width. Every bitfield the loader touches fits in one byte in the builds measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitField {
    pub byte: usize,
    pub bit: u8,
    pub width: u8,
}

impl BitField {
    /// Mask of this field within its byte (for widths that stay inside the byte).
    pub const fn mask(self) -> u8 {
        (((1u16 << self.width) - 1) << self.bit) as u8
    }
}

/// Either kind of member, as listed by the generated `members()` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    Field(Field),
    Bits(BitField),
}

impl From<Field> for Member {
    fn from(f: Field) -> Self {
        Member::Field(f)
    }
}

impl From<BitField> for Member {
    fn from(b: BitField) -> Self {
        Member::Bits(b)
    }
}

include!(concat!(env!("OUT_DIR"), "/builds.rs"));

/// A string of the generated tables, as its place in their one text (`TEXT`).
///
/// The tables hold these instead of `&'static str` so that they contain no pointers: a
/// static with pointers lands in `.data.rel.ro`, which rld relocates at every start-up, one
/// copy-on-write page fault per page (the build and tunable tables spanned three pages).
/// Without pointers they stay in `.rodata`, read straight from the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text {
    off: u32,
    len: u32,
}

impl Text {
    /// The string (empty for the empty text).
    pub fn get(self) -> &'static str {
        let (off, len) = (self.off as usize, self.len as usize);
        TEXT.get(off..off + len).unwrap_or("")
    }
}

/// A byte string of the generated tables (`BYTES`), for the same reason as [`Text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes {
    off: u32,
    len: u32,
}

impl Bytes {
    pub fn get(self) -> &'static [u8] {
        let (off, len) = (self.off as usize, self.len as usize);
        BYTES.get(off..off + len).unwrap_or(&[])
    }
}

/// Everything rld needs to know about one glibc build. Instances come only from `BUILDS`,
/// which build.rs generates from `data/<package_version>/`. Strings and the tunable list are
/// reached through methods: the struct holds no pointers (see [`Text`]).
#[derive(Debug)]
pub struct GlibcBuild {
    package_version: Text,
    arch: Text,
    libc_build_id: Bytes,
    ldso_build_id: Bytes,
    libc_banner: Text,
    /// Range of `TUNABLE_LISTS` that is this build's `tunable_list[]`.
    tunables: (u16, u16),
    pub link_map: LinkMapLayout,
    pub rtld_global: RtldGlobalLayout,
    pub rtld_global_ro: RtldGlobalRoLayout,
    pub link_namespaces: LinkNamespacesLayout,
    pub r_debug: RDebugLayout,
    pub r_debug_extended: RDebugExtendedLayout,
    pub tcbhead_t: TcbheadLayout,
    pub pthread: PthreadLayout,
    pub dtv_t: DtvLayout,
    pub dtv_slotinfo_list: DtvSlotinfoListLayout,
    pub dtv_slotinfo: DtvSlotinfoLayout,
    pub r_scope_elem: RScopeElemLayout,
    pub libname_list: LibnameListLayout,
    pub r_found_version: RFoundVersionLayout,
    pub dl_exception: DlExceptionLayout,
    pub dl_find_object: DlFindObjectLayout,
    pub tls_index: TlsIndexLayout,
    pub dl_serinfo: DlSerinfoLayout,
    pub dl_serpath: DlSerpathLayout,
    pub pthread_mutex_t: PthreadMutexLayout,
    pub list_t: ListLayout,
    pub r_file_id: RFileIdLayout,
}

/// `PTHREAD_MUTEX_RECURSIVE_NP`: the `__kind` glibc gives its loader locks.
pub const PTHREAD_MUTEX_RECURSIVE_NP: i32 = 1;
/// `RSEQ_CPU_ID_REGISTRATION_FAILED`, stored in `rseq_area.cpu_id` when rseq is not registered.
pub const RSEQ_CPU_ID_REGISTRATION_FAILED: i32 = -2;
/// `RSEQ_CPU_ID_UNINITIALIZED`.
pub const RSEQ_CPU_ID_UNINITIALIZED: i32 = -1;
/// `TLS_DTV_UNALLOCATED`: value of `dtv[m].val` for a module whose block is not allocated.
pub const TLS_DTV_UNALLOCATED: usize = usize::MAX;
/// `DT_NUM + DT_THISPROCNUM + DT_VERSIONTAGNUM + DT_EXTRANUM + DT_VALNUM + DT_ADDRNUM` on x86-64.
pub const L_INFO_LEN: usize = 80;

impl GlibcBuild {
    /// Debian package version, e.g. `2.36-9+deb12u14`.
    pub fn package_version(&self) -> &'static str {
        self.package_version.get()
    }

    pub fn arch(&self) -> &'static str {
        self.arch.get()
    }

    /// NT_GNU_BUILD_ID of libc.so.6: the identity used for detection.
    pub fn libc_build_id(&self) -> &'static [u8] {
        self.libc_build_id.get()
    }

    /// NT_GNU_BUILD_ID of the distribution's ld.so, for reports only.
    pub fn ldso_build_id(&self) -> &'static [u8] {
        self.ldso_build_id.get()
    }

    /// The version banner string embedded in libc.so.6.
    pub fn libc_banner(&self) -> &'static str {
        self.libc_banner.get()
    }

    /// `tunable_list[]` in id order (the index is the `tunable_id_t` value).
    pub fn tunables(&self) -> &'static [TunableDesc] {
        let (from, to) = (self.tunables.0 as usize, self.tunables.1 as usize);
        TUNABLE_LISTS.get(from..to).unwrap_or(&[])
    }

    /// Bytes of a `pthread_mutex_t` initialised as glibc's `_RTLD_LOCK_RECURSIVE_INITIALIZER`
    /// (all zero except `__kind`).
    pub fn recursive_mutex_init(&self, out: &mut [u8]) -> Option<()> {
        let m = &self.pthread_mutex_t;
        let buf = out.get_mut(..m.size)?;
        buf.fill(0);
        let k = m.kind;
        buf.get_mut(k.offset..k.offset + 4)?
            .copy_from_slice(&PTHREAD_MUTEX_RECURSIVE_NP.to_ne_bytes());
        Some(())
    }

    /// Offset of `_rtld_global._dl_ns[ns]` (each entry is a `struct link_namespaces`).
    pub fn dl_ns_offset(&self, ns: usize) -> usize {
        self.rtld_global.dl_ns.offset + ns * self.link_namespaces.size
    }

    /// Number of `_dl_ns` entries (`DL_NNS`).
    pub fn dl_nns_max(&self) -> usize {
        self.rtld_global.dl_ns.size / self.link_namespaces.size
    }

    /// Index of a tunable by its full name (`glibc.malloc.check`).
    pub fn tunable_id(&self, name: &str) -> Option<usize> {
        self.tunables().iter().position(|t| t.name() == name)
    }

    /// The indices of several tunables, in one pass over the table.
    pub fn tunable_ids<const N: usize>(&self, names: [&str; N]) -> [Option<usize>; N] {
        let mut ids = [None; N];
        for (i, t) in self.tunables().iter().enumerate() {
            let n = t.name();
            if let Some(k) = names.iter().position(|&w| w == n)
                && let Some(slot) = ids.get_mut(k)
            {
                *slot = Some(i);
            }
        }
        ids
    }
}

/// Index into `l_info[]` for a dynamic tag, as glibc's `elf_get_dynamic_info` files it on
/// x86-64 (no processor-specific tags). `None` for tags glibc does not record.
pub const fn l_info_index(tag: u64) -> Option<usize> {
    const DT_NUM: u64 = 38;
    const VERSIONTAGNUM_BASE: u64 = DT_NUM;
    const EXTRANUM_BASE: u64 = VERSIONTAGNUM_BASE + 16;
    const VALNUM_BASE: u64 = EXTRANUM_BASE + 3;
    const ADDRNUM_BASE: u64 = VALNUM_BASE + 12;
    if tag < DT_NUM {
        Some(tag as usize)
    } else if tag <= 0x6fffffff && tag >= 0x6fffffff - 15 {
        Some((VERSIONTAGNUM_BASE + (0x6fffffff - tag)) as usize)
    } else if tag >= 0x7ffffffd && tag <= 0x7fffffff {
        // DT_AUXILIARY, 0x7ffffffe, DT_FILTER (DT_EXTRATAGIDX order).
        Some((EXTRANUM_BASE + (0x7fffffff - tag)) as usize)
    } else if tag >= 0x6ffffd00 && tag <= 0x6ffffdff {
        let i = 0x6ffffdff - tag;
        if i < 12 {
            Some((VALNUM_BASE + i) as usize)
        } else {
            None
        }
    } else if tag >= 0x6ffffe00 && tag <= 0x6ffffeff {
        let i = 0x6ffffeff - tag;
        if i < 11 {
            Some((ADDRNUM_BASE + i) as usize)
        } else {
            None
        }
    } else {
        None
    }
}
