//! Build an [`ObjView`] from rld-elf's `DynamicInfo` over any `Memory` (file bytes or a mapped
//! image). Only link-time addresses are used, so the same code serves planning and loading.

use rld_elf::dynamic::DynamicInfo;
use rld_elf::memory::Memory;

use crate::object::{GnuHash, HashTable, ObjKind, ObjView, SysvHash};

/// Views of the dynamic symbol table, hash table, versions and RELA/JMPREL tables.
/// Missing optional tables read as empty; a table that is present but unreadable is an error.
pub fn obj_view<'a, M: Memory<'a>>(
    mem: &M,
    info: &DynamicInfo<'a>,
    name: &'a [u8],
    kind: ObjKind,
) -> rld_elf::error::Result<ObjView<'a>> {
    let mut v = ObjView::new(name, kind);
    if let Some(a) = info.symtab() {
        v.symtab = mem.bytes_from(a)?;
    }
    if let Some(a) = info.strtab() {
        v.strtab = mem.bytes_at(a, info.strsz().unwrap_or(0))?;
    }
    // glibc prefers DT_GNU_HASH (`_dl_setup_hash`).
    v.hash = if let Some(a) = info.gnu_hash() {
        GnuHash::parse(mem.bytes_from(a)?)
            .map(HashTable::Gnu)
            .unwrap_or(HashTable::None)
    } else if let Some(a) = info.hash() {
        SysvHash::parse(mem.bytes_from(a)?)
            .map(HashTable::Sysv)
            .unwrap_or(HashTable::None)
    } else {
        HashTable::None
    };
    v.verdef = info.verdef().map(|a| mem.bytes_from(a)).transpose()?;
    v.verneed = info.verneed().map(|a| mem.bytes_from(a)).transpose()?;
    if (v.verdef.is_some() || v.verneed.is_some())
        && let Some(a) = info.versym()
    {
        v.versym = mem.bytes_from(a)?;
    }
    // The main program never gets the DT_SYMBOLIC self-scope.
    v.symbolic = info.symbolic() && kind != ObjKind::Executable;
    if let (Some(a), Some(sz)) = (info.rela(), info.relasz())
        && a != 0
    {
        v.rela = mem.bytes_at(a, sz)?;
        v.relacount = info.relacount().unwrap_or(0) as usize;
    }
    // DT_PLTREL must be DT_RELA (7) on x86-64; a JMPREL inside RELA is trimmed from RELA like glibc.
    if let (Some(a), Some(sz)) = (info.jmprel(), info.pltrelsz()) {
        v.jmprel = mem.bytes_at(a, sz)?;
        if let (Some(ra), Some(rsz)) = (info.rela(), info.relasz())
            && ra != 0
            && ra.wrapping_add(rsz) == a.wrapping_add(sz)
        {
            let keep = (rsz.saturating_sub(sz)) as usize;
            v.rela = v.rela.get(..keep).unwrap_or(&[]);
        }
    }
    Ok(v)
}
