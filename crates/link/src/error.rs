//! glibc 2.36's exact error texts for lookup and relocation failures. Callers supply the
//! program name (`rtld_progname`, i.e. argv[0]) used for the main program and as the prefix.

use alloc::string::String;
use alloc::vec::Vec;

/// A link-time failure in the form glibc signals it: `(objname, occasion, errstring)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkError {
    /// Object name after DSO_FILENAME (the main program's "" becomes the program name).
    pub objname: String,
    /// None prints as "error while loading shared libraries".
    pub occasion: Option<&'static str>,
    pub errstring: String,
}

impl LinkError {
    /// The line `fatal_error` writes before `_exit(127)`: "%s: %s: %s%s%s%s%s\n" with an
    /// errno text of "" (all lookup/relocation errors use errcode 0).
    pub fn fatal(&self, progname: &str) -> String {
        fatal_line(
            progname,
            self.occasion,
            &self.objname,
            &self.errstring,
            None,
        )
    }
}

/// glibc's `fatal_error` format.
pub fn fatal_line(
    progname: &str,
    occasion: Option<&str>,
    objname: &str,
    errstring: &str,
    strerror: Option<&str>,
) -> String {
    alloc::format!(
        "{}: {}: {}{}{}{}{}\n",
        progname,
        occasion.unwrap_or("error while loading shared libraries"),
        objname,
        if objname.is_empty() { "" } else { ": " },
        errstring,
        if strerror.is_some() { ": " } else { "" },
        strerror.unwrap_or("")
    )
}

/// `DSO_FILENAME`: the main program's empty `l_name` prints as the program name.
pub fn dso_filename(l_name: &[u8], progname: &str) -> String {
    if l_name.is_empty() {
        String::from(progname)
    } else {
        lossy(l_name)
    }
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `_dl_lookup_symbol_x`'s failure for a strong reference: occasion "symbol lookup error",
/// errstring "undefined symbol: NAME" or "undefined symbol: NAME, version V".
pub fn undefined_symbol(
    requester_l_name: &[u8],
    progname: &str,
    name: &[u8],
    version: Option<&[u8]>,
) -> LinkError {
    let mut e: Vec<u8> = Vec::new();
    e.extend_from_slice(b"undefined symbol: ");
    e.extend_from_slice(name);
    if let Some(v) = version {
        e.extend_from_slice(b", version ");
        e.extend_from_slice(v);
    }
    LinkError {
        objname: dso_filename(requester_l_name, progname),
        occasion: Some("symbol lookup error"),
        errstring: lossy(&e),
    }
}

/// `_dl_reloc_bad_type`: signalled with the object's `l_name` (not DSO_FILENAME) and no occasion.
pub fn bad_reloc_type(l_name: &[u8], r_type: u32, plt: bool) -> LinkError {
    LinkError {
        objname: lossy(l_name),
        occasion: None,
        errstring: crate::reloc::bad_type_message(r_type, plt),
    }
}

/// `_dl_allocate_static_tls` failure, naming the object that defines the TLS symbol.
pub fn static_tls(l_name: &[u8]) -> LinkError {
    LinkError {
        objname: lossy(l_name),
        occasion: None,
        errstring: String::from("cannot allocate memory in static TLS block"),
    }
}

/// Non-fatal `_dl_error_printf` texts: `progname: Symbol `NAME' causes overflow ...` etc.
pub fn warning_text(progname: &str, w: crate::reloc::Warn, symname: &[u8]) -> String {
    let s = lossy(symname);
    match w {
        crate::reloc::Warn::Overflow32 => {
            alloc::format!("{progname}: Symbol `{s}' causes overflow in R_X86_64_32 relocation\n")
        }
        crate::reloc::Warn::OverflowPc32 => {
            alloc::format!("{progname}: Symbol `{s}' causes overflow in R_X86_64_PC32 relocation\n")
        }
        crate::reloc::Warn::CopySize => alloc::format!(
            "{progname}: Symbol `{s}' has different size in shared object, consider re-linking\n"
        ),
    }
}

/// Lookup warnings (`_dl_check_protected_symbol`), printed without a program-name prefix.
pub fn diag_text(d: &crate::lookup::Diag, definer_l_name: &[u8]) -> String {
    match d {
        crate::lookup::Diag::CopyOfProtected { name, .. } => {
            alloc::format!(
                "warning: copy relocation against non-copyable protected symbol `{}' in `{}'\n",
                lossy(name),
                lossy(definer_l_name)
            )
        }
        crate::lookup::Diag::ProtectedPointerEquality { name, .. } => alloc::format!(
            "warning: direct reference to protected function `{}' in `{}' may break pointer equality\n",
            lossy(name),
            lossy(definer_l_name)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn texts() {
        // Measured: ./m: symbol lookup error: ./m: undefined symbol: foo
        let e = undefined_symbol(b"", "./m", b"foo", None);
        assert_eq!(
            e.fatal("./m"),
            "./m: symbol lookup error: ./m: undefined symbol: foo\n"
        );
        let e = undefined_symbol(b"/lib/libx.so", "prog", b"bar", Some(b"X_1"));
        assert_eq!(
            e.fatal("prog"),
            "prog: symbol lookup error: /lib/libx.so: undefined symbol: bar, version X_1\n"
        );
        let e = bad_reloc_type(b"/lib/liby.so", 11, false);
        assert_eq!(
            e.fatal("p"),
            "p: error while loading shared libraries: /lib/liby.so: unexpected reloc type 0x0b\n"
        );
        assert_eq!(
            fatal_line("p", None, "", "x", Some("No such file")),
            "p: error while loading shared libraries: x: No such file\n"
        );
    }
}
