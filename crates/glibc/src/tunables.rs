//! glibc 2.36 tunables: the per-build table, `__tunables_init` parsing of GLIBC_TUNABLES and
//! the env aliases (including AT_SECURE filtering), `__tunable_get_val`, and `--list-tunables`.

use alloc::vec::Vec;
use core::fmt;

/// `tunable_type_code_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunableType {
    Int32,
    Uint64,
    SizeT,
    String,
}

impl TunableType {
    fn unsigned(self) -> bool {
        matches!(self, TunableType::Uint64 | TunableType::SizeT)
    }
}

/// `tunable_seclevel_t`: what happens to the tunable in AT_SECURE processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityLevel {
    /// Ignored, dropped from GLIBC_TUNABLES and its env alias erased.
    SxidErase,
    /// Ignored but left in the environment for child processes.
    SxidIgnore,
    /// Honoured.
    None,
}

/// One entry of the static `tunable_list[]` (index = tunable id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunableDesc {
    pub(crate) name: crate::Text,
    pub ty: TunableType,
    pub min: i64,
    pub max: i64,
    /// Initial `val.numval` (0 for strings, meaning NULL).
    pub default: i64,
    pub security: SecurityLevel,
    /// Empty when the tunable has no environment alias.
    pub(crate) env_alias: crate::Text,
}

impl TunableDesc {
    /// Full name, e.g. `glibc.malloc.check`.
    pub fn name(&self) -> &'static str {
        self.name.get()
    }

    /// The environment variable that also sets it (`MALLOC_CHECK_`), if any.
    pub fn env_alias(&self) -> Option<&'static str> {
        Some(self.env_alias.get()).filter(|a| !a.is_empty())
    }
}

/// Capacity of `Tunables`; larger than any glibc 2.36 build's table.
pub const MAX_TUNABLES: usize = 64;

/// Current state of one tunable, as glibc keeps it in `tunable_list[i]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunableState<'a> {
    pub numval: i64,
    /// For string tunables: the value (borrowed from the environment), `None` = NULL.
    pub strval: Option<&'a [u8]>,
    pub min: i64,
    pub max: i64,
    pub initialized: bool,
    pub security: SecurityLevel,
}

/// What `__tunable_get_val` stores, with the width libc expects for the tunable's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunableValue<'a> {
    Int32(i32),
    Uint64(u64),
    SizeT(usize),
    /// A string tunable; the loader must hand libc a NUL-terminated copy (`None` = NULL).
    Str(Option<&'a [u8]>),
}

/// Changes `__tunables_init` makes to the environment array (indices into the input slice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvEdit {
    /// The entry is erased (secure mode, SXID_ERASE alias).
    Remove(usize),
    /// The entry is replaced by this full `GLIBC_TUNABLES=...` line (secure mode rewrite).
    Replace(usize, Vec<u8>),
}

/// Inputs to `__tunables_init` that come from the process rather than the environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InitOptions {
    /// `__libc_enable_secure` (AT_SECURE).
    pub secure: bool,
    /// `/etc/suid-debug` exists (only consulted when `secure`).
    pub suid_debug: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyTunables;

/// The tunables of one build with their current values.
#[derive(Clone, Debug)]
pub struct Tunables<'a> {
    descs: &'static [TunableDesc],
    /// The tunables whose state is not the table's initial one, by id (a launch changes a
    /// few: the CPU's cache sizes). A full table was 1.8 KB of every start-up's heap.
    changed: Vec<(usize, TunableState<'a>)>,
}

/// glibc's `_dl_strtoul`: optional blanks and sign, `0x` hex / `0` octal / decimal, stops at
/// the first invalid digit, saturates to `u64::MAX` (sign ignored) on overflow, no errors.
pub fn dl_strtoul(s: &[u8]) -> u64 {
    let mut i = 0;
    while matches!(s.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let mut positive = true;
    match s.get(i) {
        Some(b'-') => {
            positive = false;
            i += 1;
        }
        Some(b'+') => i += 1,
        _ => {}
    }
    if !matches!(s.get(i), Some(b'0'..=b'9')) {
        return 0;
    }
    let (base, max_digit): (u64, u8) = if s.get(i) == Some(&b'0') {
        if matches!(s.get(i + 1), Some(b'x' | b'X')) {
            i += 2;
            (16, b'9')
        } else {
            (8, b'7')
        }
    } else {
        (10, b'9')
    };
    let mut result: u64 = 0;
    while let Some(&c) = s.get(i) {
        let dig = if c >= b'0' && c <= max_digit {
            (c - b'0') as u64
        } else if base == 16 && c.is_ascii_hexdigit() {
            (c.to_ascii_lowercase() - b'a' + 10) as u64
        } else {
            break;
        };
        if result >= (u64::MAX - dig) / base {
            return u64::MAX;
        }
        result = result * base + dig;
        i += 1;
    }
    if positive {
        result
    } else {
        result.wrapping_neg()
    }
}

/// glibc's `tunable_is_name`: `line` starts with `name` immediately followed by `=`.
fn is_name(name: &[u8], line: &[u8]) -> bool {
    line.len() > name.len() && line.starts_with(name) && line.get(name.len()) == Some(&b'=')
}

fn lt(a: i64, b: i64, unsigned: bool) -> bool {
    if unsigned {
        (a as u64) < (b as u64)
    } else {
        a < b
    }
}

const GLIBC_TUNABLES: &[u8] = b"GLIBC_TUNABLES";

impl<'a> Tunables<'a> {
    /// The static table's initial state (before `__tunables_init`).
    pub fn new(descs: &'static [TunableDesc]) -> Result<Self, TooManyTunables> {
        if descs.len() > MAX_TUNABLES {
            return Err(TooManyTunables);
        }
        Ok(Tunables {
            descs,
            changed: Vec::new(),
        })
    }

    pub fn descs(&self) -> &'static [TunableDesc] {
        self.descs
    }

    /// Tunable `id`'s current state.
    pub fn state(&self, id: usize) -> Option<TunableState<'a>> {
        let d = self.descs.get(id)?;
        Some(match self.changed.iter().find(|(i, _)| *i == id) {
            Some((_, s)) => *s,
            None => TunableState {
                numval: d.default,
                strval: None,
                min: d.min,
                max: d.max,
                initialized: false,
                security: d.security,
            },
        })
    }

    /// Records `s` as tunable `id`'s state.
    fn put(&mut self, id: usize, s: TunableState<'a>) {
        match self.changed.iter_mut().find(|(i, _)| *i == id) {
            Some((_, cur)) => *cur = s,
            None => self.changed.push((id, s)),
        }
    }

    /// `__tunable_get_val`: the value with its type's width, and whether the user set it
    /// (the loader calls libc's callback only when this is true and the callback is non-NULL).
    pub fn get(&self, id: usize) -> Option<(TunableValue<'a>, bool)> {
        let d = self.descs.get(id)?;
        let s = self.state(id)?;
        let v = match d.ty {
            TunableType::Int32 => TunableValue::Int32(s.numval as i32),
            TunableType::Uint64 => TunableValue::Uint64(s.numval as u64),
            TunableType::SizeT => TunableValue::SizeT(s.numval as u64 as usize),
            TunableType::String => TunableValue::Str(s.strval),
        };
        Some((v, s.initialized))
    }

    /// `__tunable_set_val` / `TUNABLE_SET_WITH_BOUNDS`: bounds may only narrow, inconsistent
    /// bounds are dropped, an out-of-range value leaves the tunable unchanged.
    pub fn set_with_bounds(&mut self, id: usize, val: i64, min: Option<i64>, max: Option<i64>) {
        let Some(d) = self.descs.get(id) else { return };
        let Some(mut cur) = self.state(id) else {
            return;
        };
        if d.ty == TunableType::String {
            return;
        }
        let u = d.ty.unsigned();
        let mut lo = min.unwrap_or(cur.min);
        let mut hi = max.unwrap_or(cur.max);
        if lt(lo, cur.min, u) {
            lo = cur.min;
        }
        if lt(cur.max, hi, u) {
            hi = cur.max;
        }
        if lt(hi, lo, u) {
            lo = cur.min;
            hi = cur.max;
        }
        if lt(val, lo, u) || lt(hi, val, u) {
            return;
        }
        cur.numval = val;
        cur.min = lo;
        cur.max = hi;
        cur.initialized = true;
        self.put(id, cur);
    }

    /// Sets a string tunable (what `tunable_initialize` does for TUNABLE_TYPE_STRING).
    pub fn set_str(&mut self, id: usize, val: &'a [u8]) {
        if self.descs.get(id).map(|d| d.ty) != Some(TunableType::String) {
            return;
        }
        if let Some(mut cur) = self.state(id) {
            cur.strval = Some(val);
            cur.initialized = true;
            self.put(id, cur);
        }
    }

    fn initialize(&mut self, id: usize, value: &'a [u8]) {
        match self.descs.get(id).map(|d| d.ty) {
            Some(TunableType::String) => self.set_str(id, value),
            Some(_) => self.set_with_bounds(id, dl_strtoul(value) as i64, None, None),
            None => {}
        }
    }

    /// `__tunables_init(envp)`. `env` holds the environment entries without their NUL.
    /// Returns the resulting state and the edits glibc would make to the environment array.
    pub fn init(
        descs: &'static [TunableDesc],
        env: &[&'a [u8]],
        opts: InitOptions,
    ) -> Result<(Self, Vec<EnvEdit>), TooManyTunables> {
        let mut t = Tunables::new(descs)?;
        let mut edits = Vec::new();
        if opts.secure
            && opts.suid_debug
            && let Some(id) = descs.iter().position(|d| d.name() == "glibc.malloc.check")
            && let Some(mut s) = t.state(id)
        {
            s.security = SecurityLevel::None;
            t.put(id, s);
        }
        // The few tunables with an environment alias, in id order: every environment entry is
        // matched against these, so skipping the alias-less majority up front matters.
        let aliased: Vec<(usize, &[u8])> = descs
            .iter()
            .enumerate()
            .filter_map(|(id, d)| d.env_alias().map(|a| (id, a.as_bytes())))
            .collect();
        // The aliases' first bytes: an entry starting otherwise (most of a typical
        // environment) is no alias, and skips the comparisons with each of them.
        let mut first = [false; 256];
        for &(_, a) in &aliased {
            if let Some(&c) = a.first() {
                first[c as usize] = true;
            }
        }
        // Indices of the entries still present: secure-mode erasure shifts the array.
        let mut live: Vec<usize> = (0..env.len()).collect();
        let mut pos = 0;
        while let Some(&idx) = live.get(pos) {
            pos += 1;
            let Some(&line) = env.get(idx) else { break };
            // Only GLIBC_TUNABLES and the aliases matter: an entry is matched by its first
            // byte before anything scans it (entries without '=' match no name).
            let Some(&c0) = line.first() else { continue };
            if c0 == GLIBC_TUNABLES[0] && is_name(GLIBC_TUNABLES, line) {
                let val = line.get(GLIBC_TUNABLES.len() + 1..).unwrap_or(&[]);
                let rewritten = t.parse_tunables(val, opts.secure);
                if opts.secure {
                    let mut l = Vec::with_capacity(GLIBC_TUNABLES.len() + 1 + rewritten.len());
                    l.extend_from_slice(GLIBC_TUNABLES);
                    l.push(b'=');
                    l.extend_from_slice(&rewritten);
                    edits.push(EnvEdit::Replace(idx, l));
                }
                continue;
            }
            if !first[c0 as usize] {
                continue;
            }
            for &(id, alias) in &aliased {
                let Some(s) = t.state(id) else {
                    break;
                };
                if s.initialized || !is_name(alias, line) {
                    continue;
                }
                if opts.secure {
                    if s.security == SecurityLevel::SxidErase {
                        let mut j = pos - 1;
                        while let Some(&k) = live.get(j) {
                            if env.get(k).is_some_and(|e| is_name(alias, e)) {
                                edits.push(EnvEdit::Remove(k));
                                live.remove(j);
                            } else {
                                j += 1;
                            }
                        }
                        pos -= 1;
                    }
                    if s.security != SecurityLevel::None {
                        continue;
                    }
                }
                t.initialize(id, line.get(alias.len() + 1..).unwrap_or(&[]));
                break;
            }
        }
        Ok((t, edits))
    }

    /// `parse_tunables`: applies `name=value:...`; in secure mode returns the rewritten value
    /// (only tunables that are not SXID_ERASE survive, unknown and malformed items are dropped).
    fn parse_tunables(&mut self, s: &'a [u8], secure: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut p = 0usize;
        while p < s.len() {
            let rest = s.get(p..).unwrap_or(&[]);
            let Some(len) = rest.iter().position(|&c| c == b'=' || c == b':') else {
                break;
            };
            if rest.get(len) == Some(&b':') {
                p += len + 1;
                continue;
            }
            let name = rest.get(..len).unwrap_or(&[]);
            let vstart = p + len + 1;
            let vrest = s.get(vstart..).unwrap_or(&[]);
            let vlen = vrest.iter().position(|&c| c == b':').unwrap_or(vrest.len());
            let value = vrest.get(..vlen).unwrap_or(&[]);
            if let Some(id) = self.descs.iter().position(|d| d.name().as_bytes() == name) {
                let level = self
                    .state(id)
                    .map_or(SecurityLevel::SxidErase, |st| st.security);
                let mut apply = true;
                if secure {
                    if level != SecurityLevel::SxidErase {
                        if !out.is_empty() {
                            out.push(b':');
                        }
                        out.extend_from_slice(name);
                        out.push(b'=');
                        out.extend_from_slice(value);
                    }
                    apply = level == SecurityLevel::None;
                }
                if apply {
                    self.initialize(id, value);
                }
            }
            if vstart + vlen >= s.len() {
                break;
            }
            p = vstart + vlen + 1;
        }
        out
    }

    /// `__tunables_print`: the output of `ld.so --list-tunables`.
    pub fn list(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        for (id, d) in self.descs.iter().enumerate() {
            let Some(s) = self.state(id) else { continue };
            match d.ty {
                TunableType::String => match s.strval {
                    None => writeln!(w, "{}:", d.name())?,
                    Some(v) => {
                        write!(w, "{}: ", d.name())?;
                        for chunk in v.utf8_chunks() {
                            w.write_str(chunk.valid())?;
                            if !chunk.invalid().is_empty() {
                                w.write_char(char::REPLACEMENT_CHARACTER)?;
                            }
                        }
                        w.write_char('\n')?;
                    }
                },
                TunableType::Int32 => writeln!(
                    w,
                    "{}: {} (min: {}, max: {})",
                    d.name(),
                    s.numval as i32,
                    s.min as i32,
                    s.max as i32
                )?,
                TunableType::Uint64 | TunableType::SizeT => writeln!(
                    w,
                    "{}: 0x{:x} (min: 0x{:x}, max: 0x{:x})",
                    d.name(),
                    s.numval as u64,
                    s.min as u64,
                    s.max as u64
                )?,
            }
        }
        Ok(())
    }
}
