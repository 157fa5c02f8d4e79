//! `StringTable`: DT_STRTAB bounded by DT_STRSZ. Every string returned ends before a NUL that
//! lies inside the table; offsets outside it are errors, never reads past the table.

use crate::error::{Error, Result};

/// A string table (`.dynstr`): NUL-terminated strings addressed by byte offset.
#[derive(Clone, Copy, Debug, Default)]
pub struct StringTable<'a> {
    bytes: &'a [u8],
}

impl<'a> StringTable<'a> {
    /// A table over exactly `bytes` (DT_STRSZ bytes at DT_STRTAB).
    pub const fn new(bytes: &'a [u8]) -> StringTable<'a> {
        StringTable { bytes }
    }

    /// The table's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The string at `offset`, without its NUL.
    pub fn get(&self, offset: u64) -> Result<&'a [u8]> {
        let start = usize::try_from(offset).map_err(|_| Error::OutOfBounds)?;
        let rest = self.bytes.get(start..).ok_or(Error::OutOfBounds)?;
        match rest.iter().position(|&b| b == 0) {
            Some(n) => Ok(rest.split_at(n).0),
            None => Err(Error::UnterminatedString),
        }
    }

    /// True if the string at `offset` is exactly `name` (NUL-terminated right after it).
    ///
    /// Faster than [`StringTable::get`] + compare: no NUL scan over the stored string.
    #[inline]
    pub fn eq_at(&self, offset: u32, name: &[u8]) -> bool {
        let start = offset as usize;
        match start
            .checked_add(name.len())
            .and_then(|end| self.bytes.get(start..=end))
        {
            Some(s) => s
                .split_last()
                .is_some_and(|(&nul, head)| nul == 0 && head == name),
            None => false,
        }
    }
}
