//! Static TLS layout for x86-64 (TLS variant II: blocks live below the thread pointer),
//! computed exactly as glibc 2.36 does so that code compiled against glibc's layout rules
//! (local-exec offsets in the executable, initial-exec offsets in libc) finds its data.
//!
//! Pure arithmetic: the loader feeds the PT_TLS facts of the initial modules in module-id
//! order and gets back each module's `l_tls_offset` (the block sits at `tp - offset`) and the
//! sizes glibc publishes in `_rtld_global_ro`. Later, dlopen carves initial-exec blocks out of
//! the surplus with [`StaticTls::try_allocate`].
#![no_std]

/// `sizeof(struct pthread)` in glibc 2.36 x86-64: the TCB sits at the thread pointer.
pub const TLS_TCB_SIZE: u64 = 2368;
/// glibc's `TCB_ALIGNMENT`: the static block is at least this aligned.
pub const TCB_ALIGNMENT: u64 = 64;
/// Room reserved per namespace for libc's own initial-exec TLS (`LIBC_IE_TLS`).
const LIBC_IE_TLS: u64 = 144;
/// Room reserved per namespace for other initial-exec TLS (`OTHER_IE_TLS`).
const OTHER_IE_TLS: u64 = 144;
/// Default of tunable `glibc.rtld.nns`.
pub const DEFAULT_NNS: u64 = 4;
/// Default of tunable `glibc.rtld.optional_static_tls`.
pub const DEFAULT_OPTIONAL_TLS: u64 = 512;
/// glibc's historic surplus with default tunables; the remainder is "legacy" slack.
const HISTORIC_SURPLUS: u64 = 1664;
/// Upper bound of namespaces (`DL_NNS`).
const DL_NNS: u64 = 16;

/// The PT_TLS facts of one module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsImage {
    /// `p_memsz`: the whole block (initialised image plus zeroed tail).
    pub blocksize: u64,
    /// `p_align`, at least 1.
    pub align: u64,
    /// `p_vaddr mod p_align`: where in an aligned unit the block must start.
    pub firstbyte_offset: u64,
}

impl TlsImage {
    /// Builds the facts from a PT_TLS header; `None` for an alignment that is not a power of two.
    pub fn from_phdr(p_vaddr: u64, p_memsz: u64, p_align: u64) -> Option<TlsImage> {
        let align = p_align.max(1);
        if !align.is_power_of_two() {
            return None;
        }
        Some(TlsImage {
            blocksize: p_memsz,
            align,
            firstbyte_offset: p_vaddr & (align - 1),
        })
    }
}

fn roundup(x: u64, align: u64) -> Option<u64> {
    // align is a power of two (checked when the image was built)
    Some(x.checked_add(align - 1)? & !(align - 1))
}

/// `tls_static_surplus` + legacy slack, as `_dl_tls_static_surplus_init` (no audit modules).
pub fn static_surplus(nns: u64, optional_tls: u64) -> u64 {
    let nns = nns.clamp(1, DL_NNS);
    let legacy = HISTORIC_SURPLUS
        - ((DEFAULT_NNS - 1) * LIBC_IE_TLS + DEFAULT_NNS * OTHER_IE_TLS + DEFAULT_OPTIONAL_TLS);
    (nns - 1) * LIBC_IE_TLS + nns * OTHER_IE_TLS + optional_tls + legacy
}

/// The process's static TLS area: what glibc keeps in `dl_tls_static_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticTls {
    /// `GL(dl_tls_static_used)`: bytes below the TCB handed out so far.
    pub used: u64,
    /// `GLRO(dl_tls_static_size)`: static blocks + surplus + TCB, what every thread gets.
    pub size: u64,
    /// `GLRO(dl_tls_static_align)`.
    pub align: u64,
    /// `GLRO(dl_tls_static_surplus)`.
    pub surplus: u64,
    /// `GL(dl_tls_static_optional)`: surplus still available for optional (TLSDESC) use.
    pub optional: u64,
}

/// Error: arithmetic overflow from absurd PT_TLS sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsOverflow;

/// Assigns static offsets to the initial modules, in module-id order (the executable first),
/// like `_dl_determine_tlsoffset` including its reuse of alignment gaps. Returns each module's
/// `l_tls_offset` in `offsets` (same order as `images`).
pub fn layout_initial(
    images: &[TlsImage],
    offsets: &mut [u64],
    nns: u64,
    optional_tls: u64,
) -> Result<StaticTls, TlsOverflow> {
    let mut max_align = TCB_ALIGNMENT;
    let (mut freetop, mut freebottom, mut offset) = (0u64, 0u64, 0u64);
    for (img, slot) in images.iter().zip(offsets.iter_mut()) {
        let firstbyte = img.firstbyte_offset.wrapping_neg() & (img.align - 1);
        max_align = max_align.max(img.align);
        if freebottom - freetop >= img.blocksize {
            let off = roundup(freetop + img.blocksize - firstbyte, img.align).ok_or(TlsOverflow)?
                + firstbyte;
            if off <= freebottom {
                freetop = off;
                *slot = off;
                continue;
            }
        }
        let end = offset.checked_add(img.blocksize).ok_or(TlsOverflow)?;
        let off = roundup(end - firstbyte.min(end), img.align).ok_or(TlsOverflow)? + firstbyte;
        if off > end + (freebottom - freetop) {
            freetop = offset;
            freebottom = off - img.blocksize;
        }
        offset = off;
        *slot = off;
    }
    let surplus = static_surplus(nns, optional_tls);
    let size = roundup(offset.checked_add(surplus).ok_or(TlsOverflow)?, max_align)
        .ok_or(TlsOverflow)?
        + TLS_TCB_SIZE;
    Ok(StaticTls {
        used: offset,
        size,
        align: max_align,
        surplus,
        optional: optional_tls,
    })
}

impl StaticTls {
    /// Carves a block for a module loaded later (dlopen of initial-exec TLS) out of the
    /// surplus, like `_dl_try_allocate_static_tls`. `optional` is true for TLSDESC's
    /// opportunistic use, which may only consume `self.optional`. Returns the offset.
    pub fn try_allocate(&mut self, img: &TlsImage, optional: bool) -> Option<u64> {
        if img.align > self.align {
            return None;
        }
        let freebytes = self
            .size
            .checked_sub(self.used)?
            .checked_sub(TLS_TCB_SIZE)?;
        let blsize = img.blocksize.checked_add(img.firstbyte_offset)?;
        let n = freebytes.checked_sub(blsize)? / img.align;
        let use_ = freebytes - n * img.align - img.firstbyte_offset;
        if optional {
            if use_ > self.optional {
                return None;
            }
            self.optional -= use_;
        }
        self.used += use_;
        Some(self.used)
    }
}

/// The static TLS blocks of the modules one dlclose unloads, gathered into one contiguous
/// chunk as glibc's `_dl_close_worker` does (variant II: a module at `offset` occupies
/// `offset - blocksize .. offset` below the thread pointer). When the chunk ends at the top of
/// the used area it is given back ([`StaticTls::finish_reclaim`]); a block that cannot join
/// the chunk is given back at once if it is the topmost one, else it stays used (as in
/// glibc, which leaks it too). Without this, dlopen/dlclose cycles of an initial-exec TLS
/// library exhaust the surplus after a few rounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StaticReclaim {
    /// (start, end) of the chunk in offset space, None while empty.
    chunk: Option<(u64, u64)>,
}

impl StaticTls {
    /// Adds the static block of an unloaded module (`offset` as allocated, `blocksize` of its
    /// image) to `r`.
    pub fn reclaim(&mut self, r: &mut StaticReclaim, offset: u64, blocksize: u64) {
        let below = offset.saturating_sub(blocksize);
        r.chunk = Some(match r.chunk {
            None => (below, offset),
            Some((start, end)) if offset == start => (below, end),
            Some((start, end)) if below == end => (start, offset),
            Some((start, end)) => {
                if end == self.used {
                    self.used = start;
                    (below, offset)
                } else {
                    if offset == self.used {
                        self.used = below;
                    }
                    if end < offset {
                        (below, offset)
                    } else {
                        (start, end)
                    }
                }
            }
        });
    }

    /// Gives the gathered chunk back if it ends at the top of the used area.
    pub fn finish_reclaim(&mut self, r: StaticReclaim) {
        if let Some((start, end)) = r.chunk
            && end == self.used
        {
            self.used = start;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unloaded_blocks_at_the_top_are_given_back() {
        let imgs = [TlsImage::from_phdr(0, 0x74, 16).unwrap()];
        let mut offs = [0; 1];
        let mut st = layout_initial(&imgs, &mut offs, DEFAULT_NNS, DEFAULT_OPTIONAL_TLS).unwrap();
        let used0 = st.used;
        let a = TlsImage::from_phdr(0, 200, 8).unwrap();
        let b = TlsImage::from_phdr(0, 64, 8).unwrap();
        // Cycles of one module: the surplus never runs out.
        for _ in 0..100 {
            let off = st.try_allocate(&a, false).unwrap();
            let mut r = StaticReclaim::default();
            st.reclaim(&mut r, off, a.blocksize);
            st.finish_reclaim(r);
            assert_eq!(st.used, used0);
        }
        // Two modules unloaded together (in either order) give back both.
        let oa = st.try_allocate(&a, false).unwrap();
        let ob = st.try_allocate(&b, false).unwrap();
        let mut r = StaticReclaim::default();
        st.reclaim(&mut r, ob, b.blocksize);
        st.reclaim(&mut r, oa, a.blocksize);
        st.finish_reclaim(r);
        assert_eq!(st.used, used0);
        // Only the lower one unloaded: nothing to give back yet (a hole, as in glibc).
        let oa = st.try_allocate(&a, false).unwrap();
        let ob = st.try_allocate(&b, false).unwrap();
        let mut r = StaticReclaim::default();
        st.reclaim(&mut r, oa, a.blocksize);
        st.finish_reclaim(r);
        assert_eq!(st.used, ob);
        // Alignment padding between two blocks is not part of either: the upper one is
        // given back, the padding and the lower one stay (glibc's arithmetic alike).
        let mut st2 = st;
        let mut r = StaticReclaim::default();
        st2.reclaim(&mut r, ob, b.blocksize);
        st2.finish_reclaim(r);
        assert_eq!(st2.used, ob - b.blocksize);
    }

    #[test]
    fn default_surplus_is_glibcs_historic_value() {
        assert_eq!(static_surplus(DEFAULT_NNS, DEFAULT_OPTIONAL_TLS), 1664);
        assert_eq!(static_surplus(1, 0), 144 + 144);
    }

    #[test]
    fn matches_glibc_for_exe_plus_libc() {
        // Measured with gdb on this machine: exe memsz 0x74 align 16 -> 128,
        // libc memsz 0x90 align 8 -> 272, static size 4352, align 64.
        let imgs = [
            TlsImage::from_phdr(0x3db0, 0x74, 16).unwrap(),
            TlsImage::from_phdr(0x1d1000, 0x90, 8).unwrap(),
        ];
        let mut offs = [0; 2];
        let st = layout_initial(&imgs, &mut offs, DEFAULT_NNS, DEFAULT_OPTIONAL_TLS).unwrap();
        assert_eq!(offs, [128, 272]);
        assert_eq!(st.used, 272);
        assert_eq!(st.size, 4352);
        assert_eq!(st.align, 64);
    }

    #[test]
    fn firstbyte_offset_is_honoured() {
        // A block whose p_vaddr is 8 mod 16 must end up at an offset that is 8 mod 16
        // after subtracting from an aligned thread pointer.
        let imgs = [TlsImage::from_phdr(0x1008, 0x20, 16).unwrap()];
        let mut offs = [0; 1];
        layout_initial(&imgs, &mut offs, 4, 512).unwrap();
        assert_eq!((offs[0] as i64).wrapping_neg() as u64 & 15, 8);
        assert!(offs[0] >= 0x20);
    }

    #[test]
    fn dlopen_allocation_uses_surplus_and_respects_optional_budget() {
        let imgs = [TlsImage::from_phdr(0, 0x100, 64).unwrap()];
        let mut offs = [0; 1];
        let mut st = layout_initial(&imgs, &mut offs, 4, 512).unwrap();
        let ie = TlsImage::from_phdr(0, 136, 8).unwrap();
        let before = st.used;
        let off = st.try_allocate(&ie, false).unwrap();
        assert!(off >= before + 136);
        // Optional use may not exceed the optional budget.
        let big = TlsImage::from_phdr(0, 600, 8).unwrap();
        assert_eq!(st.try_allocate(&big, true), None);
        // Exhausting the surplus fails cleanly.
        let huge = TlsImage::from_phdr(0, 1 << 20, 8).unwrap();
        assert_eq!(st.try_allocate(&huge, false), None);
    }

    #[test]
    fn absurd_sizes_do_not_panic() {
        let imgs = [TlsImage {
            blocksize: u64::MAX - 3,
            align: 16,
            firstbyte_offset: 0,
        }];
        let mut offs = [0; 1];
        assert_eq!(layout_initial(&imgs, &mut offs, 4, 512), Err(TlsOverflow));
    }
}
