//! Dynamic string tokens (`$ORIGIN`, `$LIB`, `$PLATFORM`, braced forms) with glibc 2.36's
//! gABI parsing and AT_SECURE rules. An empty result means "drop this path", as in glibc.

use alloc::vec::Vec;

/// The object's origin directory (`l_origin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    Known(&'a [u8]),
    /// glibc's `(char *) -1`: origin could not be determined; paths using it are dropped.
    Unknown,
}

/// Values substituted for the tokens of one object.
#[derive(Clone, Copy, Debug)]
pub struct DstContext<'a> {
    pub origin: Origin<'a>,
    /// `GLRO(dl_platform)`; `None` drops paths using `$PLATFORM`.
    pub platform: Option<&'a [u8]>,
    /// `DL_DST_LIB`; Debian x86-64: `lib/x86_64-linux-gnu`.
    pub lib: &'a [u8],
    /// `__libc_enable_secure` (AT_SECURE).
    pub secure: bool,
    /// The object is the main executable (`lt_executable`): its `$ORIGIN` results must be trusted in secure mode.
    pub is_executable: bool,
    /// Trusted directories (with trailing '/'), glibc's `system_dirs`.
    pub trusted_dirs: &'a [&'a [u8]],
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Length of token `name` at `input` (just after '$'), counting braces; 0 if not that token.
fn is_dst(input: &[u8], name: &[u8]) -> usize {
    let (curly, body) = match input.first() {
        Some(b'{') => (true, input.get(1..).unwrap_or(&[])),
        _ => (false, input),
    };
    if !body.starts_with(name) {
        return 0;
    }
    let next = body.get(name.len()).copied().unwrap_or(0);
    if (curly && next != b'}') || is_ident(next) {
        return 0;
    }
    if curly { name.len() + 2 } else { name.len() }
}

/// Number of known tokens in `s` (glibc's `_dl_dst_count`).
pub fn dst_count(s: &[u8]) -> usize {
    let mut cnt = 0;
    let mut i = 0;
    while let Some(p) = s.get(i..).and_then(|t| t.iter().position(|&c| c == b'$')) {
        let at = i + p + 1;
        let rest = s.get(at..).unwrap_or(&[]);
        let mut len = is_dst(rest, b"ORIGIN");
        if len == 0 {
            len = is_dst(rest, b"PLATFORM");
        }
        if len == 0 {
            len = is_dst(rest, b"LIB");
        }
        if len != 0 {
            cnt += 1;
        }
        i = at + len;
    }
    cnt
}

/// glibc's `_dl_dst_substitute` for one path (colons are literal here).
pub fn substitute(input: &[u8], ctx: &DstContext<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 32);
    let mut check_trusted = false;
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c != b'$' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let rest = input.get(i..).unwrap_or(&[]);
        let mut repl: Option<Option<&[u8]>> = None; // None: not a token; Some(None): token without value
        let mut len = is_dst(rest, b"ORIGIN");
        if len != 0 {
            // In secure mode $ORIGIN is only allowed as the whole first element.
            let first_and_alone = i == 1 && matches!(rest.get(len), None | Some(b'/'));
            repl = Some(if ctx.secure && !first_and_alone {
                None
            } else {
                match ctx.origin {
                    Origin::Known(o) => Some(o),
                    Origin::Unknown => None,
                }
            });
            check_trusted = ctx.secure && ctx.is_executable;
        } else {
            len = is_dst(rest, b"PLATFORM");
            if len != 0 {
                repl = Some(ctx.platform);
            } else {
                len = is_dst(rest, b"LIB");
                if len != 0 {
                    repl = Some(Some(ctx.lib));
                }
            }
        }
        match repl {
            Some(Some(r)) => {
                out.extend_from_slice(r);
                i += len;
            }
            Some(None) => return Vec::new(),
            None => out.push(b'$'),
        }
    }
    if check_trusted && !is_trusted_path_normalize(&out, ctx.trusted_dirs) {
        return Vec::new();
    }
    out
}

/// Expand tokens if there are any (glibc's `expand_dynamic_string_token`).
pub fn expand(input: &[u8], ctx: &DstContext<'_>) -> Vec<u8> {
    if dst_count(input) == 0 {
        input.to_vec()
    } else {
        substitute(input, ctx)
    }
}

/// glibc's `is_trusted_path_normalize`: resolve `.`/`..` lexically, then require a trusted prefix.
pub fn is_trusted_path_normalize(path: &[u8], trusted: &[&[u8]]) -> bool {
    if path.is_empty() {
        return false;
    }
    let mut n: Vec<u8> = Vec::with_capacity(path.len() + 2);
    let at = |k: usize| path.get(k).copied().unwrap_or(0);
    let mut i = 0;
    while i < path.len() {
        if at(i) == b'/' {
            if at(i + 1) == b'.' {
                if at(i + 2) == b'.' && (at(i + 3) == b'/' || at(i + 3) == 0) {
                    while let Some(c) = n.pop() {
                        if c == b'/' {
                            break;
                        }
                    }
                    i += 3;
                    continue;
                } else if at(i + 2) == b'/' || at(i + 2) == 0 {
                    i += 2;
                    continue;
                }
            }
            if n.last() == Some(&b'/') {
                i += 1;
                continue;
            }
        }
        n.push(at(i));
        i += 1;
    }
    if n.last() != Some(&b'/') {
        n.push(b'/');
    }
    trusted.iter().any(|t| n.starts_with(t))
}
