//! Where CPUID/XGETBV answers come from: the real instruction, a recorded table, and a
//! memoizing counter. Invariant: `Memo` never forwards the same (leaf, subleaf) twice.

/// A source of CPUID and XCR0 values.
pub trait CpuidSource {
    /// `[eax, ebx, ecx, edx]` of CPUID(leaf, subleaf).
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4];
    /// XCR0. Only called after CPUID.1:ECX.OSXSAVE was seen set.
    fn xgetbv0(&mut self) -> u64;
}

/// The executing CPU.
#[derive(Debug, Default)]
pub struct NativeCpuid {
    /// CPUID instructions executed by this source.
    pub executed: u32,
    osxsave: Option<bool>,
}

impl NativeCpuid {
    pub const fn new() -> Self {
        NativeCpuid {
            executed: 0,
            osxsave: None,
        }
    }
}

impl CpuidSource for NativeCpuid {
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
        self.executed += 1;
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86-64 CPU and has no memory effects.
        let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, subleaf) };
        if leaf == 1 {
            self.osxsave = Some(r.ecx & (1 << 27) != 0);
        }
        [r.eax, r.ebx, r.ecx, r.edx]
    }

    fn xgetbv0(&mut self) -> u64 {
        let osxsave = match self.osxsave {
            Some(v) => v,
            None => self.cpuid(1, 0)[2] & (1 << 27) != 0,
        };
        if !osxsave {
            return 0;
        }
        let (lo, hi): (u32, u32);
        // SAFETY: CPUID.1:ECX.OSXSAVE=1 was observed above, so the OS enabled XGETBV and
        // XCR0 (ecx=0) is readable without #UD. No memory is touched.
        unsafe {
            core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi,
                options(nomem, nostack, preserves_flags));
        }
        ((hi as u64) << 32) | lo as u64
    }
}

/// One recorded CPUID answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub leaf: u32,
    pub subleaf: u32,
    pub regs: [u32; 4],
}

/// Replays a recorded table; unknown (leaf, subleaf) answer zeros, like an
/// out-of-range CPUID leaf on real hardware returns "nothing".
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    pub leaves: &'a [Leaf],
    pub xcr0: u64,
}

impl CpuidSource for Recorded<'_> {
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
        self.leaves
            .iter()
            .find(|l| l.leaf == leaf && l.subleaf == subleaf)
            .map(|l| l.regs)
            .unwrap_or([0; 4])
    }
    fn xgetbv0(&mut self) -> u64 {
        self.xcr0
    }
}

/// Capacity of the memo table; glibc's algorithm touches ~25 distinct leaves on
/// current CPUs. Beyond this, answers are forwarded uncached (still correct).
pub const MEMO_CAP: usize = 64;

/// Runs each distinct (leaf, subleaf) once and counts forwarded CPUIDs.
#[derive(Debug)]
pub struct Memo<S> {
    pub inner: S,
    entries: [Leaf; MEMO_CAP],
    len: usize,
    xcr0: Option<u64>,
    /// CPUIDs forwarded to `inner` (= executed, for `NativeCpuid`).
    pub forwarded: u32,
}

impl<S: CpuidSource> Memo<S> {
    pub const fn new(inner: S) -> Self {
        Memo {
            inner,
            entries: [Leaf {
                leaf: 0,
                subleaf: 0,
                regs: [0; 4],
            }; MEMO_CAP],
            len: 0,
            xcr0: None,
            forwarded: 0,
        }
    }

    /// Every answer obtained so far, in first-query order (a recording of this CPU).
    pub fn recorded(&self) -> &[Leaf] {
        self.entries.get(..self.len).unwrap_or(&[])
    }

    pub fn xcr0(&self) -> Option<u64> {
        self.xcr0
    }
}

impl<S: CpuidSource> CpuidSource for Memo<S> {
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
        if let Some(e) = self
            .recorded()
            .iter()
            .find(|e| e.leaf == leaf && e.subleaf == subleaf)
        {
            return e.regs;
        }
        self.forwarded += 1;
        let regs = self.inner.cpuid(leaf, subleaf);
        if let Some(slot) = self.entries.get_mut(self.len) {
            *slot = Leaf {
                leaf,
                subleaf,
                regs,
            };
            self.len += 1;
        }
        regs
    }

    fn xgetbv0(&mut self) -> u64 {
        match self.xcr0 {
            Some(v) => v,
            None => {
                let v = self.inner.xgetbv0();
                self.xcr0 = Some(v);
                v
            }
        }
    }
}
