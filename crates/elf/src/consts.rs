//! Plain-integer ELF constants used by the loader, so hot paths compare `u32`/`i64` directly.
//! Values are the ABI's (checked against `object::elf` in the tests); `object`'s newtyped
//! constants remain available through [`crate::raw`].

#![allow(missing_docs)] // the names are the ABI's; see elf(5) and the x86-64 psABI

// e_ident
pub const EI_NIDENT: usize = 16;
pub const ELFCLASS32: u8 = 1;
pub const ELFCLASS64: u8 = 2;
pub const ELFDATA2LSB: u8 = 1;
pub const EV_CURRENT: u8 = 1;
pub const ELFOSABI_SYSV: u8 = 0;
pub const ELFOSABI_GNU: u8 = 3;
/// glibc 2.36's LIBC_ABI_MAX: with ELFOSABI_GNU, EI_ABIVERSION must be below this
/// (0 default, 1 STB_GNU_UNIQUE, 2 IFUNC, 3 absolute symbols). Measured on this machine.
pub const LIBC_ABI_MAX: u8 = 4;

// e_type / e_machine
pub const ET_NONE: u16 = 0;
pub const ET_REL: u16 = 1;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const ET_CORE: u16 = 4;
pub const EM_X86_64: u16 = 62;

// p_type
pub const PT_NULL: u32 = 0;
pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
pub const PT_NOTE: u32 = 4;
pub const PT_SHLIB: u32 = 5;
pub const PT_PHDR: u32 = 6;
pub const PT_TLS: u32 = 7;
pub const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PT_GNU_RELRO: u32 = 0x6474_e552;
pub const PT_GNU_PROPERTY: u32 = 0x6474_e553;

// p_flags
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

// d_tag
pub const DT_NULL: i64 = 0;
pub const DT_NEEDED: i64 = 1;
pub const DT_PLTRELSZ: i64 = 2;
pub const DT_PLTGOT: i64 = 3;
pub const DT_HASH: i64 = 4;
pub const DT_STRTAB: i64 = 5;
pub const DT_SYMTAB: i64 = 6;
pub const DT_RELA: i64 = 7;
pub const DT_RELASZ: i64 = 8;
pub const DT_RELAENT: i64 = 9;
pub const DT_STRSZ: i64 = 10;
pub const DT_SYMENT: i64 = 11;
pub const DT_INIT: i64 = 12;
pub const DT_FINI: i64 = 13;
pub const DT_SONAME: i64 = 14;
pub const DT_RPATH: i64 = 15;
pub const DT_SYMBOLIC: i64 = 16;
pub const DT_REL: i64 = 17;
pub const DT_RELSZ: i64 = 18;
pub const DT_RELENT: i64 = 19;
pub const DT_PLTREL: i64 = 20;
pub const DT_DEBUG: i64 = 21;
pub const DT_TEXTREL: i64 = 22;
pub const DT_JMPREL: i64 = 23;
pub const DT_BIND_NOW: i64 = 24;
pub const DT_INIT_ARRAY: i64 = 25;
pub const DT_FINI_ARRAY: i64 = 26;
pub const DT_INIT_ARRAYSZ: i64 = 27;
pub const DT_FINI_ARRAYSZ: i64 = 28;
pub const DT_RUNPATH: i64 = 29;
pub const DT_FLAGS: i64 = 30;
pub const DT_ENCODING: i64 = 32;
pub const DT_PREINIT_ARRAY: i64 = 32;
pub const DT_PREINIT_ARRAYSZ: i64 = 33;
pub const DT_SYMTAB_SHNDX: i64 = 34;
pub const DT_RELRSZ: i64 = 35;
pub const DT_RELR: i64 = 36;
pub const DT_RELRENT: i64 = 37;
/// glibc's DT_NUM: tags below this index `l_info` directly.
pub const DT_NUM: i64 = 38;
pub const DT_LOOS: i64 = 0x6000_000d;
pub const DT_HIOS: i64 = 0x6fff_f000;
pub const DT_VALRNGLO: i64 = 0x6fff_fd00;
pub const DT_GNU_PRELINKED: i64 = 0x6fff_fdf5;
pub const DT_GNU_CONFLICTSZ: i64 = 0x6fff_fdf6;
pub const DT_GNU_LIBLISTSZ: i64 = 0x6fff_fdf7;
pub const DT_CHECKSUM: i64 = 0x6fff_fdf8;
pub const DT_PLTPADSZ: i64 = 0x6fff_fdf9;
pub const DT_MOVEENT: i64 = 0x6fff_fdfa;
pub const DT_MOVESZ: i64 = 0x6fff_fdfb;
pub const DT_FEATURE_1: i64 = 0x6fff_fdfc;
pub const DT_POSFLAG_1: i64 = 0x6fff_fdfd;
pub const DT_SYMINSZ: i64 = 0x6fff_fdfe;
pub const DT_SYMINENT: i64 = 0x6fff_fdff;
pub const DT_VALRNGHI: i64 = 0x6fff_fdff;
pub const DT_ADDRRNGLO: i64 = 0x6fff_fe00;
pub const DT_GNU_HASH: i64 = 0x6fff_fef5;
pub const DT_TLSDESC_PLT: i64 = 0x6fff_fef6;
pub const DT_TLSDESC_GOT: i64 = 0x6fff_fef7;
pub const DT_GNU_CONFLICT: i64 = 0x6fff_fef8;
pub const DT_GNU_LIBLIST: i64 = 0x6fff_fef9;
pub const DT_CONFIG: i64 = 0x6fff_fefa;
pub const DT_DEPAUDIT: i64 = 0x6fff_fefb;
pub const DT_AUDIT: i64 = 0x6fff_fefc;
pub const DT_PLTPAD: i64 = 0x6fff_fefd;
pub const DT_MOVETAB: i64 = 0x6fff_fefe;
pub const DT_SYMINFO: i64 = 0x6fff_feff;
pub const DT_ADDRRNGHI: i64 = 0x6fff_feff;
pub const DT_VERSYM: i64 = 0x6fff_fff0;
pub const DT_RELACOUNT: i64 = 0x6fff_fff9;
pub const DT_RELCOUNT: i64 = 0x6fff_fffa;
pub const DT_FLAGS_1: i64 = 0x6fff_fffb;
pub const DT_VERDEF: i64 = 0x6fff_fffc;
pub const DT_VERDEFNUM: i64 = 0x6fff_fffd;
pub const DT_VERNEED: i64 = 0x6fff_fffe;
pub const DT_VERNEEDNUM: i64 = 0x6fff_ffff;
pub const DT_AUXILIARY: i64 = 0x7fff_fffd;
pub const DT_USED: i64 = 0x7fff_fffe;
pub const DT_FILTER: i64 = 0x7fff_ffff;

// DT_FLAGS
pub const DF_ORIGIN: u64 = 0x1;
pub const DF_SYMBOLIC: u64 = 0x2;
pub const DF_TEXTREL: u64 = 0x4;
pub const DF_BIND_NOW: u64 = 0x8;
pub const DF_STATIC_TLS: u64 = 0x10;

// DT_FLAGS_1
pub const DF_1_NOW: u64 = 0x1;
pub const DF_1_GLOBAL: u64 = 0x2;
pub const DF_1_GROUP: u64 = 0x4;
pub const DF_1_NODELETE: u64 = 0x8;
pub const DF_1_LOADFLTR: u64 = 0x10;
pub const DF_1_INITFIRST: u64 = 0x20;
pub const DF_1_NOOPEN: u64 = 0x40;
pub const DF_1_ORIGIN: u64 = 0x80;
pub const DF_1_DIRECT: u64 = 0x100;
pub const DF_1_TRANS: u64 = 0x200;
pub const DF_1_INTERPOSE: u64 = 0x400;
pub const DF_1_NODEFLIB: u64 = 0x800;
pub const DF_1_NODUMP: u64 = 0x1000;
pub const DF_1_CONFALT: u64 = 0x2000;
pub const DF_1_ENDFILTEE: u64 = 0x4000;
pub const DF_1_DISPRELDNE: u64 = 0x8000;
pub const DF_1_DISPRELPND: u64 = 0x10000;
pub const DF_1_NODIRECT: u64 = 0x20000;
pub const DF_1_IGNMULDEF: u64 = 0x40000;
pub const DF_1_NOKSYMS: u64 = 0x80000;
pub const DF_1_NOHDR: u64 = 0x100000;
pub const DF_1_EDITED: u64 = 0x200000;
pub const DF_1_NORELOC: u64 = 0x400000;
pub const DF_1_SYMINTPOSE: u64 = 0x800000;
pub const DF_1_GLOBAUDIT: u64 = 0x1000000;
pub const DF_1_SINGLETON: u64 = 0x2000000;
pub const DF_1_STUB: u64 = 0x4000000;
pub const DF_1_PIE: u64 = 0x8000000;

// Symbols
pub const STN_UNDEF: u32 = 0;
pub const SHN_UNDEF: u16 = 0;
pub const SHN_ABS: u16 = 0xfff1;
pub const SHN_COMMON: u16 = 0xfff2;
pub const SHN_XINDEX: u16 = 0xffff;
pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const STB_GNU_UNIQUE: u8 = 10;
pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;
pub const STT_FILE: u8 = 4;
pub const STT_COMMON: u8 = 5;
pub const STT_TLS: u8 = 6;
pub const STT_GNU_IFUNC: u8 = 10;
pub const STV_DEFAULT: u8 = 0;
pub const STV_INTERNAL: u8 = 1;
pub const STV_HIDDEN: u8 = 2;
pub const STV_PROTECTED: u8 = 3;

// Versions
pub const VER_NDX_LOCAL: u16 = 0;
pub const VER_NDX_GLOBAL: u16 = 1;
pub const VERSYM_HIDDEN: u16 = 0x8000;
pub const VERSYM_VERSION: u16 = 0x7fff;
pub const VER_FLG_BASE: u16 = 0x1;
pub const VER_FLG_WEAK: u16 = 0x2;
pub const VER_DEF_CURRENT: u16 = 1;
pub const VER_NEED_CURRENT: u16 = 1;

// Notes
pub const NT_GNU_ABI_TAG: u32 = 1;
pub const NT_GNU_HWCAP: u32 = 2;
pub const NT_GNU_BUILD_ID: u32 = 3;
pub const NT_GNU_GOLD_VERSION: u32 = 4;
pub const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
pub const GNU_PROPERTY_STACK_SIZE: u32 = 1;
pub const GNU_PROPERTY_NO_COPY_ON_PROTECTED: u32 = 2;
pub const GNU_PROPERTY_X86_ISA_1_USED: u32 = 0xc000_8000;
pub const GNU_PROPERTY_X86_ISA_1_NEEDED: u32 = 0xc000_8002;
pub const GNU_PROPERTY_X86_FEATURE_1_AND: u32 = 0xc000_0002;
pub const GNU_PROPERTY_X86_FEATURE_1_IBT: u32 = 0x1;
pub const GNU_PROPERTY_X86_FEATURE_1_SHSTK: u32 = 0x2;

// x86-64 relocation types (psABI; the dynamic ones glibc's elf_machine_rela handles first)
pub const R_X86_64_NONE: u32 = 0;
pub const R_X86_64_64: u32 = 1;
pub const R_X86_64_PC32: u32 = 2;
pub const R_X86_64_GOT32: u32 = 3;
pub const R_X86_64_PLT32: u32 = 4;
pub const R_X86_64_COPY: u32 = 5;
pub const R_X86_64_GLOB_DAT: u32 = 6;
pub const R_X86_64_JUMP_SLOT: u32 = 7;
pub const R_X86_64_RELATIVE: u32 = 8;
pub const R_X86_64_GOTPCREL: u32 = 9;
pub const R_X86_64_32: u32 = 10;
pub const R_X86_64_32S: u32 = 11;
pub const R_X86_64_16: u32 = 12;
pub const R_X86_64_PC16: u32 = 13;
pub const R_X86_64_8: u32 = 14;
pub const R_X86_64_PC8: u32 = 15;
pub const R_X86_64_DTPMOD64: u32 = 16;
pub const R_X86_64_DTPOFF64: u32 = 17;
pub const R_X86_64_TPOFF64: u32 = 18;
pub const R_X86_64_TLSGD: u32 = 19;
pub const R_X86_64_TLSLD: u32 = 20;
pub const R_X86_64_DTPOFF32: u32 = 21;
pub const R_X86_64_GOTTPOFF: u32 = 22;
pub const R_X86_64_TPOFF32: u32 = 23;
pub const R_X86_64_PC64: u32 = 24;
pub const R_X86_64_GOTOFF64: u32 = 25;
pub const R_X86_64_GOTPC32: u32 = 26;
pub const R_X86_64_GOT64: u32 = 27;
pub const R_X86_64_GOTPCREL64: u32 = 28;
pub const R_X86_64_GOTPC64: u32 = 29;
pub const R_X86_64_GOTPLT64: u32 = 30;
pub const R_X86_64_PLTOFF64: u32 = 31;
pub const R_X86_64_SIZE32: u32 = 32;
pub const R_X86_64_SIZE64: u32 = 33;
pub const R_X86_64_GOTPC32_TLSDESC: u32 = 34;
pub const R_X86_64_TLSDESC_CALL: u32 = 35;
pub const R_X86_64_TLSDESC: u32 = 36;
pub const R_X86_64_IRELATIVE: u32 = 37;
pub const R_X86_64_RELATIVE64: u32 = 38;
pub const R_X86_64_GOTPCRELX: u32 = 41;
pub const R_X86_64_REX_GOTPCRELX: u32 = 42;

/// Name of an x86-64 relocation type as readelf prints it (without the `R_X86_64_` prefix).
pub const fn r_x86_64_name(r_type: u32) -> Option<&'static str> {
    Some(match r_type {
        R_X86_64_NONE => "NONE",
        R_X86_64_64 => "64",
        R_X86_64_PC32 => "PC32",
        R_X86_64_GOT32 => "GOT32",
        R_X86_64_PLT32 => "PLT32",
        R_X86_64_COPY => "COPY",
        R_X86_64_GLOB_DAT => "GLOB_DAT",
        R_X86_64_JUMP_SLOT => "JUMP_SLOT",
        R_X86_64_RELATIVE => "RELATIVE",
        R_X86_64_GOTPCREL => "GOTPCREL",
        R_X86_64_32 => "32",
        R_X86_64_32S => "32S",
        R_X86_64_16 => "16",
        R_X86_64_PC16 => "PC16",
        R_X86_64_8 => "8",
        R_X86_64_PC8 => "PC8",
        R_X86_64_DTPMOD64 => "DTPMOD64",
        R_X86_64_DTPOFF64 => "DTPOFF64",
        R_X86_64_TPOFF64 => "TPOFF64",
        R_X86_64_TLSGD => "TLSGD",
        R_X86_64_TLSLD => "TLSLD",
        R_X86_64_DTPOFF32 => "DTPOFF32",
        R_X86_64_GOTTPOFF => "GOTTPOFF",
        R_X86_64_TPOFF32 => "TPOFF32",
        R_X86_64_PC64 => "PC64",
        R_X86_64_GOTOFF64 => "GOTOFF64",
        R_X86_64_GOTPC32 => "GOTPC32",
        R_X86_64_GOT64 => "GOT64",
        R_X86_64_GOTPCREL64 => "GOTPCREL64",
        R_X86_64_GOTPC64 => "GOTPC64",
        R_X86_64_GOTPLT64 => "GOTPLT64",
        R_X86_64_PLTOFF64 => "PLTOFF64",
        R_X86_64_SIZE32 => "SIZE32",
        R_X86_64_SIZE64 => "SIZE64",
        R_X86_64_GOTPC32_TLSDESC => "GOTPC32_TLSDESC",
        R_X86_64_TLSDESC_CALL => "TLSDESC_CALL",
        R_X86_64_TLSDESC => "TLSDESC",
        R_X86_64_IRELATIVE => "IRELATIVE",
        R_X86_64_RELATIVE64 => "RELATIVE64",
        R_X86_64_GOTPCRELX => "GOTPCRELX",
        R_X86_64_REX_GOTPCRELX => "REX_GOTPCRELX",
        _ => return None,
    })
}
