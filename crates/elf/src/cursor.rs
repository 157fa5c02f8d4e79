//! Little-endian words read in order from a byte slice, for rld's own formats (launch
//! records, search memos). Every read is bounds-checked: past the end it yields `None`.

/// A read position in a byte slice.
#[derive(Clone, Debug)]
pub struct Cursor<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Cursor<'b> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'b [u8]) -> Self {
        Cursor { bytes, at: 0 }
    }

    /// The offset of the next read.
    pub fn pos(&self) -> usize {
        self.at
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    /// The next little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([
            b.first().copied()?,
            *b.get(1)?,
            *b.get(2)?,
            *b.get(3)?,
        ]))
    }

    /// The next little-endian u64, written as two u32 words (low first).
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from(self.u32()?) | u64::from(self.u32()?) << 32)
    }

    /// The next `n` bytes, then the padding that rounds them up to 4.
    pub fn take_padded(&mut self, n: usize) -> Option<&'b [u8]> {
        let s = self.take(n)?;
        self.take(n.next_multiple_of(4) - n)?;
        Some(s)
    }

    /// A u32 length, then that many bytes padded to 4.
    pub fn padded(&mut self) -> Option<&'b [u8]> {
        let n = self.u32()? as usize;
        self.take_padded(n)
    }

    /// Skips to the next multiple of `align` (a power of two) from the start.
    pub fn align(&mut self, align: usize) -> Option<()> {
        self.take(self.at.next_multiple_of(align) - self.at)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn reads_in_order_and_stops_at_the_end() {
        let b = [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, b'a', b'b', b'c', 0, 9];
        let mut c = Cursor::new(&b);
        assert_eq!(c.u64(), Some(1 | 2 << 32));
        assert_eq!(c.padded(), Some(&b"abc"[..]));
        assert_eq!(c.pos(), 16);
        assert_eq!(c.u32(), None, "one byte left");
        assert_eq!(c.take(1), Some(&[9u8][..]));
        assert_eq!(c.take(1), None);
        let mut d = Cursor::new(&b);
        assert_eq!(d.take(1), Some(&[1u8][..]));
        assert_eq!(d.align(8), Some(()));
        assert_eq!(d.pos(), 8);
        assert_eq!(Cursor::new(&b[..14]).take_padded(15), None);
    }
}
