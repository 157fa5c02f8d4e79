// Reads the kernel's initial stack (argc, argv, envp, auxv) into `Startup`. Invariants:
// `sp` is the exact value the kernel left in rsp; the strings and vectors it points to
// live for the whole process, so handing them out as `&'static` is sound as long as
// nobody writes to them (in-place edits go through `unsetenv`, which only moves pointers).

use alloc::vec::Vec;
use core::ffi::CStr;

pub const AT_NULL: usize = 0;
pub const AT_PHDR: usize = 3;
pub const AT_PHENT: usize = 4;
pub const AT_PHNUM: usize = 5;
pub const AT_PAGESZ: usize = 6;
pub const AT_BASE: usize = 7;
pub const AT_FLAGS: usize = 8;
pub const AT_ENTRY: usize = 9;
pub const AT_UID: usize = 11;
pub const AT_EUID: usize = 12;
pub const AT_GID: usize = 13;
pub const AT_EGID: usize = 14;
pub const AT_PLATFORM: usize = 15;
pub const AT_HWCAP: usize = 16;
pub const AT_CLKTCK: usize = 17;
pub const AT_SECURE: usize = 23;
pub const AT_RANDOM: usize = 25;
pub const AT_HWCAP2: usize = 26;
pub const AT_EXECFN: usize = 31;
pub const AT_SYSINFO_EHDR: usize = 33;
pub const AT_MINSIGSTKSZ: usize = 51;

/// The aux vector values the loader uses (0 / None when the kernel did not pass them).
#[derive(Clone, Copy, Debug, Default)]
pub struct Auxv {
    pub secure: bool,
    pub base: usize,
    pub entry: usize,
    pub phdr: usize,
    pub phent: usize,
    pub phnum: usize,
    pub pagesz: usize,
    pub flags: usize,
    pub random: usize,
    pub sysinfo_ehdr: usize,
    pub execfn: Option<&'static [u8]>,
    pub platform: Option<&'static [u8]>,
    pub hwcap: u64,
    pub hwcap2: u64,
    pub minsigstksz: usize,
    pub clktck: usize,
    pub uid: usize,
    pub euid: usize,
    pub gid: usize,
    pub egid: usize,
}

/// The initial process stack, parsed.
pub struct Startup {
    /// Kernel's initial rsp (points at argc); the program is entered with it (possibly
    /// adjusted for explicit invocation).
    pub sp: *mut usize,
    pub argv_ptr: *mut *const u8,
    pub envp_ptr: *mut *const u8,
    /// Start of the (type, value) pairs, ending with AT_NULL.
    pub auxv_ptr: *mut [usize; 2],
    pub args: Vec<&'static [u8]>,
    pub env: Vec<&'static [u8]>,
    pub aux: Auxv,
}

/// SAFETY contract for callers: `p` is a NUL-terminated string from the initial stack.
unsafe fn cstr(p: *const u8) -> &'static [u8] {
    // SAFETY: see function contract.
    unsafe { CStr::from_ptr(p.cast()).to_bytes() }
}

impl Startup {
    /// # Safety
    /// `sp` must be the initial stack pointer the kernel passed to `_start`.
    pub unsafe fn from_sp(sp: *mut usize) -> Startup {
        // SAFETY: the System V x86-64 initial stack layout: argc, argv[argc], NULL,
        // envp..., NULL, auxv pairs..., AT_NULL.
        unsafe {
            let argc = *sp;
            let argv_ptr = sp.add(1) as *mut *const u8;
            let mut args = Vec::with_capacity(argc);
            for i in 0..argc {
                args.push(cstr(*argv_ptr.add(i)));
            }
            let envp_ptr = argv_ptr.add(argc + 1);
            // Counted first: grown by doubling, the vector left its smaller copies behind
            // as free blocks of the start-up heap.
            let mut n = 0;
            while !(*envp_ptr.add(n)).is_null() {
                n += 1;
            }
            let mut env = Vec::with_capacity(n);
            for i in 0..n {
                env.push(cstr(*envp_ptr.add(i)));
            }
            let e = envp_ptr.add(n);
            let auxv_ptr = e.add(1) as *mut [usize; 2];
            let mut aux = Auxv::default();
            let mut have_secure = false;
            let mut a = auxv_ptr;
            loop {
                let [t, v] = *a;
                match t {
                    AT_NULL => break,
                    AT_PHDR => aux.phdr = v,
                    AT_PHENT => aux.phent = v,
                    AT_PHNUM => aux.phnum = v,
                    AT_PAGESZ => aux.pagesz = v,
                    AT_BASE => aux.base = v,
                    AT_FLAGS => aux.flags = v,
                    AT_ENTRY => aux.entry = v,
                    AT_UID => aux.uid = v,
                    AT_EUID => aux.euid = v,
                    AT_GID => aux.gid = v,
                    AT_EGID => aux.egid = v,
                    AT_PLATFORM if v != 0 => aux.platform = Some(cstr(v as *const u8)),
                    AT_HWCAP => aux.hwcap = v as u64,
                    AT_HWCAP2 => aux.hwcap2 = v as u64,
                    AT_CLKTCK => aux.clktck = v,
                    AT_SECURE => {
                        aux.secure = v != 0;
                        have_secure = true;
                    }
                    AT_RANDOM => aux.random = v,
                    AT_EXECFN if v != 0 => aux.execfn = Some(cstr(v as *const u8)),
                    AT_SYSINFO_EHDR => aux.sysinfo_ehdr = v,
                    AT_MINSIGSTKSZ => aux.minsigstksz = v,
                    _ => {}
                }
                a = a.add(1);
            }
            if !have_secure {
                // Same fallback as glibc when the kernel omits AT_SECURE.
                aux.secure = aux.uid != aux.euid || aux.gid != aux.egid;
            }
            if aux.pagesz == 0 {
                aux.pagesz = 4096;
            }
            Startup {
                sp,
                argv_ptr,
                envp_ptr,
                auxv_ptr,
                args,
                env,
                aux,
            }
        }
    }

    /// All (type, value) pairs of the aux vector, AT_NULL excluded (for LD_SHOW_AUXV).
    pub fn auxv_pairs(&self) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        let mut a = self.auxv_ptr;
        // SAFETY: the vector is terminated by AT_NULL, as checked in `from_sp`.
        unsafe {
            while (*a)[0] != AT_NULL {
                v.push(((*a)[0], (*a)[1]));
                a = a.add(1);
            }
        }
        v
    }

    /// Removes every `NAME=...` entry from the process environment in place (glibc's
    /// unsetenv on the initial stack, for AT_SECURE programs). Removed slots become
    /// trailing NULLs before auxv, so the vector layout stays valid.
    pub fn unsetenv(&mut self, name: &[u8]) {
        let matches = |e: &[u8]| {
            e.len() > name.len() && e.starts_with(name) && e.get(name.len()) == Some(&b'=')
        };
        let n = self.env.len();
        let mut w = 0;
        for r in 0..n {
            let keep = self.env.get(r).is_some_and(|e| !matches(e));
            if keep {
                // SAFETY: r, w < n: inside the envp array; only pointers are moved.
                unsafe { *self.envp_ptr.add(w) = *self.envp_ptr.add(r) };
                self.env.swap(w, r);
                w += 1;
            }
        }
        for k in w..n {
            // SAFETY: inside the envp array.
            unsafe { *self.envp_ptr.add(k) = core::ptr::null() };
        }
        self.env.truncate(w);
    }

    /// glibc's `_dl_start_args_adjust`: drops the first `n` arguments (rld and its options)
    /// by moving argv's tail, envp and auxv down by `n` words; argc shrinks by `n`.
    ///
    /// # Safety
    /// The initial stack is intact (only `unsetenv` edits before this); nobody holds
    /// pointers into the moved vectors.
    pub unsafe fn skip_args(&mut self, n: usize) {
        if n == 0 || n > self.args.len() {
            return;
        }
        // SAFETY: the System V initial stack: argc, argv[], NULL, envp[], NULL, auxv pairs
        // ending with AT_NULL; everything moved stays inside it.
        unsafe {
            let mut end = self.auxv_ptr;
            while (*end)[0] != AT_NULL {
                end = end.add(1);
            }
            let end = end.add(1) as *mut usize;
            let first = self.sp.add(1);
            let count = end.offset_from(first.add(n)) as usize;
            core::ptr::copy(first.add(n), first, count);
            *self.sp -= n;
            self.envp_ptr = self.envp_ptr.sub(n);
            self.auxv_ptr = (self.auxv_ptr as *mut usize).sub(n) as *mut [usize; 2];
        }
        self.args.drain(..n);
    }

    /// Sets the value of aux vector entry `ty` (if present).
    ///
    /// # Safety
    /// The aux vector is on the initial stack and writable.
    pub unsafe fn set_aux(&mut self, ty: usize, v: usize) {
        let mut a = self.auxv_ptr;
        // SAFETY: terminated by AT_NULL.
        unsafe {
            while (*a)[0] != AT_NULL {
                if (*a)[0] == ty {
                    (*a)[1] = v;
                }
                a = a.add(1);
            }
        }
    }
}
