//! x86-64 dynamic relocation semantics of glibc 2.36 `elf_machine_rela`, as a pure function
//! from (type, resolved-symbol facts, S/A/B/P, TLS facts) to an [`Action`] the loader performs.

use crate::lookup::{CLASS_COPY, CLASS_NORMAL, CLASS_PLT, TypeClass};

// The type numbers come from rld-elf, the one table of x86-64 relocation constants.
pub use rld_elf::consts::{
    R_X86_64_8, R_X86_64_16, R_X86_64_32, R_X86_64_32S, R_X86_64_64, R_X86_64_COPY,
    R_X86_64_DTPMOD64, R_X86_64_DTPOFF32, R_X86_64_DTPOFF64, R_X86_64_GLOB_DAT, R_X86_64_GOT32,
    R_X86_64_GOTOFF64, R_X86_64_GOTPC32, R_X86_64_GOTPC32_TLSDESC, R_X86_64_GOTPCREL,
    R_X86_64_GOTTPOFF, R_X86_64_IRELATIVE, R_X86_64_JUMP_SLOT, R_X86_64_NONE, R_X86_64_PC8,
    R_X86_64_PC16, R_X86_64_PC32, R_X86_64_PC64, R_X86_64_PLT32, R_X86_64_RELATIVE,
    R_X86_64_RELATIVE64, R_X86_64_SIZE32, R_X86_64_SIZE64, R_X86_64_TLSDESC, R_X86_64_TLSDESC_CALL,
    R_X86_64_TLSGD, R_X86_64_TLSLD, R_X86_64_TPOFF32, R_X86_64_TPOFF64,
};

/// `elf_machine_type_class` for x86-64.
#[inline]
pub fn type_class(r_type: u32) -> TypeClass {
    match r_type {
        R_X86_64_JUMP_SLOT | R_X86_64_DTPMOD64 | R_X86_64_DTPOFF64 | R_X86_64_TPOFF64
        | R_X86_64_TLSDESC => CLASS_PLT,
        R_X86_64_COPY => CLASS_COPY,
        _ => CLASS_NORMAL,
    }
}

/// Types that never consult the symbol (no lookup, no binding): glibc handles them before
/// `RESOLVE_MAP` (NONE, RELATIVE, RELATIVE64) or with symbol index 0 (IRELATIVE).
#[inline]
pub fn is_symbolless(r_type: u32) -> bool {
    matches!(
        r_type,
        R_X86_64_NONE | R_X86_64_RELATIVE | R_X86_64_RELATIVE64 | R_X86_64_IRELATIVE
    )
}

/// TLS facts of the object that defines the symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TlsFacts {
    /// `l_tls_modid`.
    pub modid: u64,
    /// `l_tls_offset` when the module has static TLS (variant II: the block starts at
    /// TP - offset); None = no static offset (NO_TLS_OFFSET / FORCED_DYNAMIC).
    pub static_offset: Option<u64>,
}

/// Facts about the resolved definition; `None` in [`RelocInput::sym`] means glibc's
/// `sym == NULL` (an undefined weak reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SymFacts {
    /// `st_value` of the definition.
    pub st_value: u64,
    /// Load base of the defining object (`l_addr`).
    pub def_base: u64,
    /// SHN_ABS: the address is `st_value` without the base.
    pub abs: bool,
    /// STT_GNU_IFUNC and defined (`st_shndx != SHN_UNDEF`): the address is a resolver.
    pub ifunc: bool,
    pub size: u64,
    pub tls: TlsFacts,
}

impl SymFacts {
    /// `SYMBOL_ADDRESS(sym_map, sym, true)`.
    #[inline]
    pub fn address(&self) -> u64 {
        if self.abs {
            self.st_value
        } else {
            self.def_base.wrapping_add(self.st_value)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelocInput {
    pub r_type: u32,
    pub addend: i64,
    /// Load base of the object being relocated (B).
    pub base: u64,
    /// Address of the place (P = B + r_offset).
    pub place: u64,
    pub sym: Option<SymFacts>,
    /// `st_size` of the referencing symbol (COPY length / size check).
    pub ref_size: u64,
}

/// Which TLS descriptor trampoline to install (the trampolines live in the loader's asm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsDescEntry {
    /// `_dl_tlsdesc_return`: arg is the (negative-from-TP) offset.
    Return,
    /// `_dl_tlsdesc_undefweak`: arg is the addend.
    UndefWeak,
    /// `_dl_tlsdesc_dynamic`: arg points at a loader-allocated {modid, offset} record.
    Dynamic,
}

/// Overflow warnings glibc prints but does not treat as fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warn {
    /// "%s: Symbol `%s' causes overflow in R_X86_64_32 relocation\n"
    Overflow32,
    /// "%s: Symbol `%s' causes overflow in R_X86_64_PC32 relocation\n"
    OverflowPc32,
    /// "%s: Symbol `%s' has different size in shared object, consider re-linking\n"
    CopySize,
}

/// What the loader must do at the place. For the `Ifunc*` variants the loader calls the
/// resolver and then performs [`finish_ifunc`] on the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Nothing,
    Write64(u64),
    /// Write the low 32 bits; `warn` is set when glibc would print an overflow warning.
    Write32 {
        value: u32,
        warn: Option<Warn>,
    },
    /// memcpy(P, src, len); warn on size mismatch.
    Copy {
        src: u64,
        len: u64,
        warn: Option<Warn>,
    },
    /// Call `resolver()`, then apply `then` to its return value as the symbol address.
    Ifunc {
        resolver: u64,
        then: IfuncThen,
    },
    /// IRELATIVE: `*P = resolver()`.
    Irelative {
        resolver: u64,
    },
    /// Fill a 16-byte TLS descriptor at P: {entry, arg}.
    TlsDesc {
        entry: TlsDescEntry,
        arg: u64,
        modid: u64,
    },
}

/// The part of a symbolic relocation that remains after an IFUNC resolver has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfuncThen {
    pub r_type: u32,
    pub addend: i64,
    pub place: u64,
    pub size: u64,
    pub ref_size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocError {
    /// `_dl_reloc_bad_type`: "unexpected reloc type 0x%02x" (or "unexpected PLT reloc type" for
    /// a lazily processed DT_JMPREL entry); occasion NULL, object = the relocated object.
    BadType { r_type: u32, plt: bool },
    /// TPOFF64 against a module without a static TLS offset: the loader must try to allocate
    /// one (`_dl_allocate_static_tls`) and retry, or fail with
    /// "cannot allocate memory in static TLS block" naming the defining object.
    NeedStaticTls,
}

fn write32(value: u64, warn: Option<Warn>) -> Action {
    Action::Write32 {
        value: value as u32,
        warn,
    }
}

/// glibc's `elf_machine_rela` for one relocation, given the already-resolved symbol.
pub fn reloc_action(r: &RelocInput) -> Result<Action, RelocError> {
    let a = r.addend as u64;
    match r.r_type {
        R_X86_64_NONE => return Ok(Action::Nothing),
        R_X86_64_RELATIVE | R_X86_64_RELATIVE64 => {
            return Ok(Action::Write64(r.base.wrapping_add(a)));
        }
        R_X86_64_IRELATIVE => {
            return Ok(Action::Irelative {
                resolver: r.base.wrapping_add(a),
            });
        }
        _ => {}
    }
    if !is_known(r.r_type) {
        return Err(RelocError::BadType {
            r_type: r.r_type,
            plt: false,
        });
    }
    let value = r.sym.map(|s| s.address()).unwrap_or(0);
    if let Some(s) = r.sym
        && s.ifunc
    {
        return Ok(Action::Ifunc {
            resolver: value,
            then: IfuncThen {
                r_type: r.r_type,
                addend: r.addend,
                place: r.place,
                size: s.size,
                ref_size: r.ref_size,
            },
        });
    }
    symbolic(r.r_type, value, r.addend, r.place, r.sym, r.ref_size)
}

/// Finish a relocation whose symbol was an IFUNC, with `value` = what the resolver returned.
pub fn finish_ifunc(then: &IfuncThen, value: u64) -> Result<Action, RelocError> {
    // TLS types never reach here with an IFUNC in practice; treat the value as st_value then.
    let facts = SymFacts {
        st_value: value,
        abs: true,
        size: then.size,
        ..Default::default()
    };
    symbolic(
        then.r_type,
        value,
        then.addend,
        then.place,
        Some(facts),
        then.ref_size,
    )
}

fn is_known(t: u32) -> bool {
    matches!(
        t,
        R_X86_64_GLOB_DAT
            | R_X86_64_JUMP_SLOT
            | R_X86_64_64
            | R_X86_64_32
            | R_X86_64_PC32
            | R_X86_64_SIZE32
            | R_X86_64_SIZE64
            | R_X86_64_COPY
            | R_X86_64_DTPMOD64
            | R_X86_64_DTPOFF64
            | R_X86_64_TPOFF64
            | R_X86_64_TLSDESC
    )
}

fn symbolic(
    t: u32,
    value: u64,
    addend: i64,
    place: u64,
    sym: Option<SymFacts>,
    ref_size: u64,
) -> Result<Action, RelocError> {
    let a = addend as u64;
    Ok(match t {
        R_X86_64_GLOB_DAT | R_X86_64_JUMP_SLOT => Action::Write64(value),
        R_X86_64_64 => Action::Write64(value.wrapping_add(a)),
        // glibc dereferences the symbol; an undefined weak SIZE reloc would crash there.
        R_X86_64_SIZE64 => Action::Write64(sym.map(|s| s.size).unwrap_or(0).wrapping_add(a)),
        R_X86_64_SIZE32 | R_X86_64_32 => {
            let base = if t == R_X86_64_SIZE32 {
                sym.map(|s| s.size).unwrap_or(0)
            } else {
                value
            };
            let v = base.wrapping_add(a);
            write32(v, (v > u32::MAX as u64).then_some(Warn::Overflow32))
        }
        R_X86_64_PC32 => {
            let v = value.wrapping_add(a).wrapping_sub(place);
            write32(
                v,
                (v as i64 != (v as i32) as i64).then_some(Warn::OverflowPc32),
            )
        }
        R_X86_64_COPY => match sym {
            // Only happens in trace mode when an object is missing.
            None => Action::Nothing,
            Some(s) => Action::Copy {
                src: value,
                len: s.size.min(ref_size),
                // glibc also warns for a smaller definition, but only with dl_verbose (never
                // set in 2.36 outside of ldd -v).
                warn: (s.size > ref_size).then_some(Warn::CopySize),
            },
        },
        R_X86_64_DTPMOD64 => match sym {
            Some(s) => Action::Write64(s.tls.modid),
            None => Action::Nothing,
        },
        R_X86_64_DTPOFF64 => match sym {
            Some(s) => Action::Write64(s.st_value.wrapping_add(a)),
            None => Action::Nothing,
        },
        R_X86_64_TPOFF64 => match sym {
            Some(s) => match s.tls.static_offset {
                Some(off) => Action::Write64(s.st_value.wrapping_add(a).wrapping_sub(off)),
                None => return Err(RelocError::NeedStaticTls),
            },
            None => Action::Nothing,
        },
        R_X86_64_TLSDESC => match sym {
            None => Action::TlsDesc {
                entry: TlsDescEntry::UndefWeak,
                arg: a,
                modid: 0,
            },
            Some(s) => match s.tls.static_offset {
                Some(off) => Action::TlsDesc {
                    entry: TlsDescEntry::Return,
                    arg: s.st_value.wrapping_sub(off).wrapping_add(a),
                    modid: s.tls.modid,
                },
                // arg = the offset inside the module; the loader allocates {modid, arg}.
                None => Action::TlsDesc {
                    entry: TlsDescEntry::Dynamic,
                    arg: s.st_value.wrapping_add(a),
                    modid: s.tls.modid,
                },
            },
        },
        _ => {
            return Err(RelocError::BadType {
                r_type: t,
                plt: false,
            });
        }
    })
}

/// The text glibc's `_dl_reloc_bad_type` produces: two lower-case hex digits, or eight when
/// the type is above 0xff.
pub fn bad_type_message(r_type: u32, plt: bool) -> alloc::string::String {
    let p = if plt {
        "unexpected PLT reloc type 0x"
    } else {
        "unexpected reloc type 0x"
    };
    if r_type > 0xff {
        alloc::format!("{p}{:08x}", r_type)
    } else {
        alloc::format!("{p}{:02x}", r_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inp(t: u32, sym: Option<SymFacts>) -> RelocInput {
        RelocInput {
            r_type: t,
            addend: 0x10,
            base: 0x7000_0000_0000,
            place: 0x7000_0000_1000,
            sym,
            ref_size: 8,
        }
    }
    fn def() -> SymFacts {
        SymFacts {
            st_value: 0x2000,
            def_base: 0x7100_0000_0000,
            abs: false,
            ifunc: false,
            size: 8,
            tls: TlsFacts {
                modid: 3,
                static_offset: Some(0x100),
            },
        }
    }

    #[test]
    fn table() {
        let s = Some(def());
        let addr = 0x7100_0000_2000u64;
        assert_eq!(reloc_action(&inp(R_X86_64_NONE, s)), Ok(Action::Nothing));
        assert_eq!(
            reloc_action(&inp(R_X86_64_RELATIVE, None)),
            Ok(Action::Write64(0x7000_0000_0010))
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_RELATIVE64, None)),
            Ok(Action::Write64(0x7000_0000_0010))
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_GLOB_DAT, s)),
            Ok(Action::Write64(addr)),
            "GLOB_DAT ignores the addend"
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_JUMP_SLOT, s)),
            Ok(Action::Write64(addr))
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_64, s)),
            Ok(Action::Write64(addr + 0x10))
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_64, None)),
            Ok(Action::Write64(0x10)),
            "undef weak: S = 0"
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_GLOB_DAT, None)),
            Ok(Action::Write64(0))
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_SIZE64, s)),
            Ok(Action::Write64(0x18))
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_SIZE32, s)),
            Ok(Action::Write32 {
                value: 0x18,
                warn: None
            })
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_32, s)),
            Ok(Action::Write32 {
                value: 0x2010,
                warn: Some(Warn::Overflow32)
            })
        );
        let small = Some(SymFacts {
            def_base: 0x1000,
            ..def()
        });
        assert_eq!(
            reloc_action(&inp(R_X86_64_32, small)),
            Ok(Action::Write32 {
                value: 0x3010,
                warn: None
            })
        );
        // PC32: S + A - P
        let near = Some(SymFacts {
            def_base: 0x7000_0000_0000,
            ..def()
        });
        assert_eq!(
            reloc_action(&inp(R_X86_64_PC32, near)),
            Ok(Action::Write32 {
                value: 0x1010,
                warn: None
            })
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_PC32, s)).map(|a| matches!(
                a,
                Action::Write32 {
                    warn: Some(Warn::OverflowPc32),
                    ..
                }
            )),
            Ok(true)
        );
        // ABS symbols don't get the base.
        let abs = Some(SymFacts { abs: true, ..def() });
        assert_eq!(
            reloc_action(&inp(R_X86_64_GLOB_DAT, abs)),
            Ok(Action::Write64(0x2000))
        );
        // TLS
        assert_eq!(
            reloc_action(&inp(R_X86_64_DTPMOD64, s)),
            Ok(Action::Write64(3))
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_DTPMOD64, None)),
            Ok(Action::Nothing)
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_DTPOFF64, s)),
            Ok(Action::Write64(0x2010))
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_TPOFF64, s)),
            Ok(Action::Write64(0x2010 - 0x100))
        );
        let dyn_tls = Some(SymFacts {
            tls: TlsFacts {
                modid: 5,
                static_offset: None,
            },
            ..def()
        });
        assert_eq!(
            reloc_action(&inp(R_X86_64_TPOFF64, dyn_tls)),
            Err(RelocError::NeedStaticTls)
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_TLSDESC, s)),
            Ok(Action::TlsDesc {
                entry: TlsDescEntry::Return,
                arg: 0x1f10,
                modid: 3
            })
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_TLSDESC, dyn_tls)),
            Ok(Action::TlsDesc {
                entry: TlsDescEntry::Dynamic,
                arg: 0x2010,
                modid: 5
            })
        );
        assert_eq!(
            reloc_action(&inp(R_X86_64_TLSDESC, None)),
            Ok(Action::TlsDesc {
                entry: TlsDescEntry::UndefWeak,
                arg: 0x10,
                modid: 0
            })
        );
        // COPY
        assert_eq!(
            reloc_action(&inp(R_X86_64_COPY, s)),
            Ok(Action::Copy {
                src: addr,
                len: 8,
                warn: None
            })
        );
        let big = Some(SymFacts { size: 16, ..def() });
        assert_eq!(
            reloc_action(&inp(R_X86_64_COPY, big)),
            Ok(Action::Copy {
                src: addr,
                len: 8,
                warn: Some(Warn::CopySize)
            })
        );
        let smaller = Some(SymFacts { size: 4, ..def() });
        assert_eq!(
            reloc_action(&inp(R_X86_64_COPY, smaller)),
            Ok(Action::Copy {
                src: addr,
                len: 4,
                warn: None
            })
        );
        // IRELATIVE and IFUNC definitions
        assert_eq!(
            reloc_action(&inp(R_X86_64_IRELATIVE, None)),
            Ok(Action::Irelative {
                resolver: 0x7000_0000_0010
            })
        );
        let ifn = Some(SymFacts {
            ifunc: true,
            ..def()
        });
        let Ok(Action::Ifunc { resolver, then }) = reloc_action(&inp(R_X86_64_64, ifn)) else {
            panic!()
        };
        assert_eq!(resolver, addr);
        assert_eq!(finish_ifunc(&then, 0x5555), Ok(Action::Write64(0x5565)));
        let Ok(Action::Ifunc { then, .. }) = reloc_action(&inp(R_X86_64_JUMP_SLOT, ifn)) else {
            panic!()
        };
        assert_eq!(finish_ifunc(&then, 0x5555), Ok(Action::Write64(0x5555)));
        // Unknown types: glibc has no 32S/PC64/GOT* handling in ld.so.
        for t in [R_X86_64_32S, R_X86_64_PC64, R_X86_64_GOTPCREL, 0x1234] {
            assert_eq!(
                reloc_action(&inp(t, s)),
                Err(RelocError::BadType {
                    r_type: t,
                    plt: false
                })
            );
        }
        assert_eq!(bad_type_message(11, false), "unexpected reloc type 0x0b");
        assert_eq!(
            bad_type_message(0x1234, true),
            "unexpected PLT reloc type 0x00001234"
        );
    }

    #[test]
    fn classes() {
        assert_eq!(type_class(R_X86_64_JUMP_SLOT), CLASS_PLT);
        assert_eq!(type_class(R_X86_64_TPOFF64), CLASS_PLT);
        assert_eq!(type_class(R_X86_64_TLSDESC), CLASS_PLT);
        assert_eq!(type_class(R_X86_64_GLOB_DAT), CLASS_NORMAL);
        assert_eq!(type_class(R_X86_64_64), CLASS_NORMAL);
        assert_eq!(type_class(R_X86_64_COPY), CLASS_COPY);
    }
}
