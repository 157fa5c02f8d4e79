//! ELF notes (PT_NOTE): iteration, GNU build-id, GNU property notes. Invariants: a corrupt note
//! ends iteration with one `Err` (iterators are fused); padding follows the segment's p_align
//! (8 for GNU property notes, else 4), as readelf and glibc do.

use crate::consts::*;
use crate::error::{Error, Result};
use crate::file::{ProgramHeader, ProgramHeaderExt};

/// One note: owner name (without the trailing NUL), type and descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note<'a> {
    /// Owner name, e.g. `b"GNU"`.
    pub name: &'a [u8],
    /// `n_type`, e.g. [`NT_GNU_BUILD_ID`].
    pub n_type: u32,
    /// Descriptor bytes.
    pub desc: &'a [u8],
}

/// Notes packed in one segment's bytes.
#[derive(Clone, Debug)]
pub struct Notes<'a> {
    rest: &'a [u8],
    align: usize,
}

impl<'a> Notes<'a> {
    /// Notes in `bytes` with the segment's `p_align` (8 means 8-byte padding, anything else 4).
    pub fn new(bytes: &'a [u8], p_align: u64) -> Notes<'a> {
        Notes {
            rest: bytes,
            align: if p_align == 8 { 8 } else { 4 },
        }
    }

    fn parse_one(&mut self) -> Result<Note<'a>> {
        let word = |b: &[u8], at: usize| -> Result<u32> {
            b.get(at..at + 4)
                .and_then(|w| w.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or(Error::BadNote)
        };
        let namesz = word(self.rest, 0)? as usize;
        let descsz = word(self.rest, 4)? as usize;
        let n_type = word(self.rest, 8)?;
        let name_end = 12usize.checked_add(namesz).ok_or(Error::BadNote)?;
        let name = self.rest.get(12..name_end).ok_or(Error::BadNote)?;
        let desc_start = align_up(name_end, self.align).ok_or(Error::BadNote)?;
        let desc_end = desc_start.checked_add(descsz).ok_or(Error::BadNote)?;
        let desc = self.rest.get(desc_start..desc_end).ok_or(Error::BadNote)?;
        let next = align_up(desc_end, self.align).ok_or(Error::BadNote)?;
        self.rest = self.rest.get(next..).unwrap_or(&[]);
        let name = match name.split_last() {
            Some((0, head)) => head,
            _ => name,
        };
        Ok(Note { name, n_type, desc })
    }
}

impl<'a> Iterator for Notes<'a> {
    type Item = Result<Note<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

impl core::iter::FusedIterator for Notes<'_> {}

fn align_up(x: usize, a: usize) -> Option<usize> {
    Some(x.checked_add(a - 1)? & !(a - 1))
}

/// Notes of every PT_NOTE segment of a file, read from the file bytes.
#[derive(Clone, Debug)]
pub struct NoteIter<'a> {
    bytes: &'a [u8],
    phdrs: core::slice::Iter<'a, ProgramHeader>,
    current: Option<Notes<'a>>,
}

impl<'a> NoteIter<'a> {
    /// Notes of the PT_NOTE entries of `phdrs` in the file `bytes`.
    pub fn new(bytes: &'a [u8], phdrs: &'a [ProgramHeader]) -> NoteIter<'a> {
        NoteIter {
            bytes,
            phdrs: phdrs.iter(),
            current: None,
        }
    }
}

impl<'a> Iterator for NoteIter<'a> {
    type Item = Result<Note<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.current.as_mut().and_then(Iterator::next) {
                return Some(n);
            }
            let ph = self.phdrs.find(|p| p.p_type() == PT_NOTE)?;
            match ph.file_bytes(self.bytes) {
                Ok(b) => self.current = Some(Notes::new(b, ph.p_align())),
                Err(_) => {
                    self.current = None;
                    return Some(Err(Error::BadNote));
                }
            }
        }
    }
}

/// The descriptor of the first GNU NT_GNU_BUILD_ID note among `notes` (corrupt notes skipped).
pub fn build_id<'a>(notes: impl Iterator<Item = Result<Note<'a>>>) -> Option<&'a [u8]> {
    notes
        .filter_map(|n| n.ok())
        .find(|n| n.name == b"GNU" && n.n_type == NT_GNU_BUILD_ID)
        .map(|n| n.desc)
}

/// One GNU property (`pr_type`, `pr_data`) from an NT_GNU_PROPERTY_TYPE_0 descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GnuProperty<'a> {
    /// `pr_type`, e.g. [`GNU_PROPERTY_X86_FEATURE_1_AND`].
    pub pr_type: u32,
    /// `pr_data` (its length is `pr_datasz`).
    pub data: &'a [u8],
}

impl GnuProperty<'_> {
    /// `pr_data` as a little-endian u32 (the form of all x86 feature/ISA properties).
    pub fn as_u32(&self) -> Option<u32> {
        self.data.try_into().ok().map(u32::from_le_bytes)
    }
}

/// Iterates the properties of an NT_GNU_PROPERTY_TYPE_0 descriptor (8-byte aligned entries on
/// ELF64). A truncated property ends iteration with `Err`.
#[derive(Clone, Debug)]
pub struct GnuProperties<'a> {
    rest: &'a [u8],
}

impl<'a> GnuProperties<'a> {
    /// Properties in `desc`.
    pub fn new(desc: &'a [u8]) -> GnuProperties<'a> {
        GnuProperties { rest: desc }
    }
}

impl<'a> Iterator for GnuProperties<'a> {
    type Item = Result<GnuProperty<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = (|| {
            let pr_type = u32::from_le_bytes(self.rest.get(0..4)?.try_into().ok()?);
            let size = u32::from_le_bytes(self.rest.get(4..8)?.try_into().ok()?) as usize;
            let end = 8usize.checked_add(size)?;
            let data = self.rest.get(8..end)?;
            let next = align_up(end, 8)?;
            Some((GnuProperty { pr_type, data }, next))
        })();
        match r {
            Some((p, next)) => {
                self.rest = self.rest.get(next..).unwrap_or(&[]);
                Some(Ok(p))
            }
            None => {
                self.rest = &[];
                Some(Err(Error::BadNote))
            }
        }
    }
}

impl core::iter::FusedIterator for GnuProperties<'_> {}
