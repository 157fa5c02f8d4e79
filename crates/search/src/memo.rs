//! What `/etc/ld.so.cache` answered, remembered for the next launch of the same program.
//!
//! A cache lookup is a pure function of the cache file's bytes and a few search settings
//! (the hwcaps bits, the platform, the ISA level, the glibc-hwcaps names: `params_hash`).
//! A launch that found its libraries through the cache writes down each name it asked and
//! what the cache said, with the cache file's identity (device, inode, size, mtime, ctime)
//! and the settings' hash. The next launch stats the cache file once: if it and the settings
//! are unchanged, every remembered name is answered from the memo, and the cache is neither
//! opened, mapped nor searched (here that was ~25 us of a 0.55 ms `true`: four system calls,
//! a page fault, the lookup, and one mapping more to tear down at exit). Names the memo does
//! not hold are looked up in the real cache as before. Everything else about a search
//! (RPATH, LD_LIBRARY_PATH, RUNPATH, system directories, the files themselves) happens as
//! always: the memo stands in for the lookup, not for the search.
//!
//! Encoded (little-endian u32 words; the launch record keeps it as an opaque, checksummed
//! blob): the stamp (5 u64), the settings' hash (u64), the entry count, then per entry the
//! name (length, bytes padded to 4) and the answer (length, or `NOT_FOUND`, then bytes
//! padded to 4).

use alloc::vec::Vec;

use rld_elf::cursor::Cursor;

use crate::search::SearchConfig;

/// An answer of "not in the cache".
const NOT_FOUND: u32 = u32::MAX;

pub use crate::fs::Stamp;

/// FNV-1a over the settings a cache lookup depends on, besides the file.
pub fn params_hash(c: &SearchConfig) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        h = (h ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(&c.cache_path);
    eat(&c.cache_hwcap.to_le_bytes());
    match c.cache_platform_bit {
        Some(b) => eat(&b.to_le_bytes()),
        None => eat(b""),
    }
    eat(&c.isa_1.to_le_bytes());
    for n in &c.hwcaps_names {
        eat(n);
    }
    h
}

/// A memo read back from a record: its bytes, checked whole by `decode` and scanned by
/// `get` (a few hundred bytes per program).
#[derive(Clone, Debug)]
pub struct Memo {
    stamp: Stamp,
    params: u64,
    /// The encoded entries.
    entries: Vec<u8>,
}

/// The next string of a memo (see the module's format): `Some(None)` for a `NOT_FOUND`
/// length.
fn string<'b>(c: &mut Cursor<'b>) -> Option<Option<&'b [u8]>> {
    match c.u32()? {
        NOT_FOUND => Some(None),
        n => c.take_padded(n as usize).map(Some),
    }
}

/// The next entry: a name and its answer.
fn entry<'b>(c: &mut Cursor<'b>) -> Option<(&'b [u8], Option<&'b [u8]>)> {
    Some((string(c)??, string(c)?))
}

impl Memo {
    /// Decodes `bytes`; None unless it is exactly one well-formed memo.
    pub fn decode(bytes: &[u8]) -> Option<Memo> {
        let mut c = Cursor::new(bytes);
        let mut stamp = [0u64; 5];
        for s in &mut stamp {
            *s = c.u64()?;
        }
        let params = c.u64()?;
        let n = c.u32()?;
        let start = c.pos();
        for _ in 0..n {
            entry(&mut c)?;
        }
        (c.pos() == bytes.len()).then(|| Memo {
            stamp,
            params,
            entries: bytes[start..].to_vec(),
        })
    }

    /// Whether the memo speaks for the cache file with identity `stamp` searched with
    /// settings hashing to `params`.
    pub fn valid_for(&self, stamp: &Stamp, params: u64) -> bool {
        self.stamp == *stamp && self.params == params
    }

    /// The remembered answer for `name`: `Some(None)` if the cache did not have it, None
    /// if the memo does not know.
    pub fn get(&self, name: &[u8]) -> Option<Option<&[u8]>> {
        let mut c = Cursor::new(&self.entries);
        while let Some((n, answer)) = entry(&mut c) {
            if n == name {
                return Some(answer);
            }
        }
        None
    }
}

/// The cache lookups of one launch, for its record.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// The identity of the cache file every answer came from.
    stamp: Option<Stamp>,
    /// Answers came from two different cache files (replaced during the launch), or from
    /// none: nothing to remember.
    broken: bool,
    entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Log {
    /// The answers that follow come from the cache file with identity `s` (None: there is
    /// no readable cache file).
    pub fn source(&mut self, s: Option<Stamp>) {
        match (s, self.stamp) {
            (None, _) => self.broken = true,
            (Some(s), None) => self.stamp = Some(s),
            (Some(s), Some(t)) => self.broken |= s != t,
        }
    }

    pub fn answer(&mut self, name: &[u8], answer: Option<&[u8]>) {
        if !self.entries.iter().any(|(n, _)| n.as_slice() == name) {
            self.entries
                .push((name.to_vec(), answer.map(<[u8]>::to_vec)));
        }
    }

    /// The encoded memo, or None if there is nothing (sound) to remember.
    pub fn encode(&self, params: u64) -> Option<Vec<u8>> {
        let stamp = self
            .stamp
            .filter(|_| !self.broken && !self.entries.is_empty())?;
        let mut out = Vec::with_capacity(52 + self.entries.len() * 48);
        let put = |out: &mut Vec<u8>, w: u32| out.extend_from_slice(&w.to_le_bytes());
        for w in stamp.iter().chain([&params]) {
            out.extend_from_slice(&w.to_le_bytes());
        }
        put(&mut out, u32::try_from(self.entries.len()).ok()?);
        for (name, answer) in &self.entries {
            for s in [Some(name.as_slice()), answer.as_deref()] {
                match s {
                    Some(s) => {
                        put(
                            &mut out,
                            u32::try_from(s.len()).ok().filter(|&n| n != NOT_FOUND)?,
                        );
                        out.extend_from_slice(s);
                        out.resize(out.len().next_multiple_of(4), 0);
                    }
                    None => put(&mut out, NOT_FOUND),
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let mut log = Log::default();
        assert_eq!(log.encode(7), None, "nothing asked");
        log.source(Some([1, 2, 3, 4, 5]));
        log.answer(b"libc.so.6", Some(b"/lib/x86_64-linux-gnu/libc.so.6"));
        log.answer(b"libnothere.so.1", None);
        log.answer(b"libc.so.6", Some(b"/elsewhere/libc.so.6"));
        let bytes = log.encode(7).unwrap();
        let m = Memo::decode(&bytes).unwrap();
        assert!(m.valid_for(&[1, 2, 3, 4, 5], 7));
        assert!(!m.valid_for(&[1, 2, 3, 4, 6], 7), "another cache file");
        assert!(!m.valid_for(&[1, 2, 3, 4, 5], 8), "other settings");
        assert_eq!(
            m.get(b"libc.so.6"),
            Some(Some(&b"/lib/x86_64-linux-gnu/libc.so.6"[..])),
            "the first answer stays"
        );
        assert_eq!(m.get(b"libnothere.so.1"), Some(None));
        assert_eq!(m.get(b"libm.so.6"), None);
        for cut in 0..bytes.len() {
            assert!(Memo::decode(&bytes[..cut]).is_none(), "truncated at {cut}");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 4]);
        assert!(Memo::decode(&longer).is_none(), "trailing bytes");
        let mut huge = bytes.clone();
        huge[48..52].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Memo::decode(&huge).is_none(), "absurd count");
        let mut fewer = bytes.clone();
        fewer[48..52].copy_from_slice(&1u32.to_le_bytes());
        assert!(Memo::decode(&fewer).is_none(), "entries past the count");
    }

    #[test]
    fn answers_from_two_cache_files_are_not_remembered() {
        let mut log = Log::default();
        log.source(Some([1, 2, 3, 4, 5]));
        log.answer(b"a", None);
        log.source(Some([1, 2, 3, 4, 5]));
        assert!(log.encode(0).is_some());
        log.source(Some([1, 9, 3, 4, 5]));
        assert_eq!(log.encode(0), None);
        let mut none = Log::default();
        none.source(None);
        none.answer(b"a", None);
        assert_eq!(none.encode(0), None, "no cache file");
    }
}
