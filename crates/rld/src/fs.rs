// File access for the loader: open read-only, identify (dev, ino), map whole files.
// Invariants: a `Mapping` owns its pages exclusively (PROT_READ, MAP_PRIVATE) and unmaps
// them on drop, so slices borrowed from it can never outlive the mapping.

use core::ffi::CStr;

use crate::sys::{self, Errno, FileStat, OwnedFd};

/// An open file (closed on drop). Once `prepare_image` mapped it as an ELF object, reads of
/// file-backed segment bytes come from that mapping (no system call, no copy into the heap),
/// and the mapping is handed to the runtime with `take_image`, or unmapped on drop.
pub struct File {
    fd: OwnedFd,
    image: core::cell::RefCell<Option<Image>>,
}

/// An object mapped by `prepare_image`, or why mapping failed.
pub struct Image {
    pub result: Result<crate::rt::map::Mapped, crate::rt::map::MapError>,
    /// (file offset, file-backed length, link-time address) of each PT_LOAD.
    segs: alloc::vec::Vec<(u64, u64, u64)>,
}

impl File {
    /// open(path, O_RDONLY|O_CLOEXEC).
    pub fn open(path: &CStr) -> Result<File, Errno> {
        Ok(File {
            fd: sys::open_readonly(path)?,
            image: core::cell::RefCell::new(None),
        })
    }

    /// The mapping made by `prepare_image` (ownership passes to the caller). Takes `&mut
    /// self`: slices from `view_at` borrow the handle, so none outlives the image here.
    pub fn take_image(
        &mut self,
    ) -> Option<Result<crate::rt::map::Mapped, crate::rt::map::MapError>> {
        self.image.get_mut().take().map(|i| i.result)
    }

    /// Maps the object as the runtime will use it (PT_LOADs at their final place).
    fn map_image(&self, hdr: &rld_search::verify::ElfHeader) -> Image {
        let segs = hdr
            .phdrs
            .iter()
            .filter(|p| p.p_type == crate::rt::objects::PT_LOAD)
            .map(|p| (p.p_offset, p.p_filesz, p.p_vaddr))
            .collect();
        let plan = crate::rt::map::load_plan(hdr, 4096);
        let result = match plan {
            // The graph reports plan errors itself when it maps the object (glibc's order).
            Err(_) => Err(crate::rt::map::MapError::MapSegment(Errno::INVAL)),
            // SAFETY: ET_EXEC objects are linked where nothing of rld's lives (glibc's
            // assumption too); everything else goes where the kernel chooses.
            Ok(plan) => unsafe {
                crate::rt::map::map_object(&plan, self.fd(), hdr.e_type == 2, 4096)
            },
        };
        Image { result, segs }
    }

    pub fn stat(&self) -> Result<FileStat, Errno> {
        sys::fstat(sys::AsFd::as_fd(&self.fd))
    }

    pub fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        sys::pread(sys::AsFd::as_fd(&self.fd), buf, offset)
    }

    pub fn fd(&self) -> sys::BorrowedFd<'_> {
        sys::AsFd::as_fd(&self.fd)
    }

    /// Maps `len` bytes from offset 0 read-only and private.
    pub fn map(&self, len: usize) -> Result<Mapping, Errno> {
        if len == 0 {
            return Ok(Mapping { addr: 0, len: 0 });
        }
        // SAFETY: a new mapping at a kernel-chosen address aliases nothing.
        let addr =
            unsafe { sys::mmap(0, len, sys::PROT_READ, sys::MAP_PRIVATE, Some(self.fd()), 0) }?;
        Ok(Mapping { addr, len })
    }
}

/// A read-only private mapping, unmapped on drop.
pub struct Mapping {
    addr: usize,
    len: usize,
}

impl Mapping {
    pub fn addr(&self) -> usize {
        self.addr
    }
}

impl core::ops::Deref for Mapping {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: [addr, addr+len) is a live PROT_READ mapping owned by self.
        unsafe { core::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: no borrow of the bytes outlives `self` (Deref ties them to &self).
            let _ = unsafe { sys::munmap(self.addr, self.len) };
        }
    }
}

/// A whole file: its identity and contents.
pub struct MappedFile {
    pub stat: FileStat,
    pub data: Mapping,
}

/// Opens `path`, fstats it and maps all of it (the fd is closed before returning).
pub fn map_file(path: &CStr) -> Result<MappedFile, Errno> {
    let f = File::open(path)?;
    let stat = f.stat()?;
    let len = usize::try_from(stat.size).map_err(|_| Errno::FBIG)?;
    let data = f.map(len)?;
    Ok(MappedFile { stat, data })
}

impl From<sys::FileStat> for rld_search::fs::FileStat {
    fn from(s: sys::FileStat) -> Self {
        rld_search::fs::FileStat {
            dev: s.dev,
            ino: s.ino,
            mode: s.mode,
            size: s.size,
            uid: s.uid,
            mtime_ns: s.mtime_ns,
            ctime_ns: s.ctime_ns,
        }
    }
}

/// The loader's filesystem (stateless; the real syscalls).
#[derive(Clone, Copy, Debug, Default)]
pub struct LoaderFs;

impl LoaderFs {
    pub fn open(&self, path: &CStr) -> Result<File, Errno> {
        File::open(path)
    }
    pub fn map_file(&self, path: &CStr) -> Result<MappedFile, Errno> {
        map_file(path)
    }
    /// access(path, F_OK) == 0, as glibc tests /etc/suid-debug and ld.so.preload.
    pub fn exists(&self, path: &CStr) -> bool {
        sys::access(path, 0).is_ok()
    }
}

/// A path as the kernel wants it: the bytes plus a NUL.
fn c_path(path: &[u8]) -> Result<alloc::vec::Vec<u8>, i32> {
    if path.contains(&0) {
        return Err(rld_search::fs::errno::EINVAL);
    }
    let mut v = alloc::vec::Vec::with_capacity(path.len() + 1);
    v.extend_from_slice(path);
    v.push(0);
    Ok(v)
}

fn cstr(v: &[u8]) -> &CStr {
    // c_path guarantees exactly one NUL, at the end.
    CStr::from_bytes_with_nul(v).unwrap_or(c"")
}

fn errno(e: Errno) -> i32 {
    e.raw_os_error()
}

impl Drop for File {
    fn drop(&mut self) {
        if let Some(Image { result: Ok(m), .. }) = self.image.get_mut().take() {
            // SAFETY: the mapping was made for this file and never handed out.
            let _ = unsafe { sys::munmap(m.map_start, m.map_end - m.map_start) };
        }
    }
}

impl rld_search::fs::FileHandle for File {
    fn prepare_image(&self, hdr: &rld_search::verify::ElfHeader) {
        let mut img = self.image.borrow_mut();
        if img.is_none() {
            *img = Some(self.map_image(hdr));
        }
    }

    fn reads_are_cheap(&self) -> bool {
        matches!(&*self.image.borrow(), Some(Image { result: Ok(_), .. }))
    }

    fn image_info(&self) -> Option<rld_search::ImageInfo> {
        match &*self.image.borrow() {
            Some(Image { result: Ok(m), .. }) => Some(rld_search::ImageInfo {
                bias: m.bias,
                map_start: m.map_start,
                map_end: m.map_end,
            }),
            _ => None,
        }
    }

    fn stat(&self) -> Result<rld_search::fs::FileStat, i32> {
        let s = File::stat(self).map_err(errno)?;
        Ok(s.into())
    }
    fn view_at(&self, offset: u64) -> Option<&[u8]> {
        let img = self.image.borrow();
        let Some(Image {
            result: Ok(m),
            segs,
        }) = &*img
        else {
            return None;
        };
        let &(off, len, vaddr) = segs.iter().find(|s| offset >= s.0 && offset < s.0 + s.1)?;
        let src = m.bias.wrapping_add((vaddr + (offset - off)) as usize);
        // SAFETY: [src, src + n) is the rest of the file-backed part of a PT_LOAD this file
        // mapped, readable. The slice borrows `self`, and the mapping stays while it does:
        // `prepare_image` never replaces an image, `take_image` needs `&mut self` and drop
        // needs ownership.
        Some(unsafe {
            core::slice::from_raw_parts(src as *const u8, (off + len - offset) as usize)
        })
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, i32> {
        if let Some(Image {
            result: Ok(m),
            segs,
        }) = &*self.image.borrow()
            && let Some(&(off, len, vaddr)) =
                segs.iter().find(|s| offset >= s.0 && offset < s.0 + s.1)
        {
            let n = ((off + len - offset) as usize).min(buf.len());
            let src = m.bias.wrapping_add((vaddr + (offset - off)) as usize);
            // SAFETY: [src, src + n) lies in the file-backed part of a PT_LOAD this file
            // mapped (readable, owned by the image until it is taken or dropped).
            unsafe { core::ptr::copy_nonoverlapping(src as *const u8, buf.as_mut_ptr(), n) };
            return Ok(n);
        }
        self.pread(buf, offset).map_err(errno)
    }
}

impl rld_search::fs::Fs for LoaderFs {
    type File = File;
    type Bytes = Mapping;

    fn open(&self, path: &[u8]) -> Result<File, i32> {
        File::open(cstr(&c_path(path)?)).map_err(errno)
    }
    fn stat(&self, path: &[u8]) -> Result<rld_search::fs::FileStat, i32> {
        let s = sys::stat(cstr(&c_path(path)?)).map_err(errno)?;
        Ok(s.into())
    }
    fn access(&self, path: &[u8], mode: rld_search::fs::Access) -> bool {
        let Ok(p) = c_path(path) else { return false };
        let m = match mode {
            rld_search::fs::Access::Exists => 0,
            rld_search::fs::Access::Read => 4,
        };
        sys::access(cstr(&p), m).is_ok()
    }
    fn read_whole(&self, path: &[u8]) -> Result<Mapping, i32> {
        Ok(map_file(cstr(&c_path(path)?)).map_err(errno)?.data)
    }
    fn getcwd(&self) -> Result<alloc::vec::Vec<u8>, i32> {
        // Not zero-filled: the kernel writes what is read back. The result is copied at its
        // exact size: it lives on as an object's `$ORIGIN`, and the 4 KiB buffer would too.
        let mut buf: alloc::vec::Vec<u8> = alloc::vec::Vec::with_capacity(4096);
        let n = sys::getcwd(buf.spare_capacity_mut()).map_err(errno)?;
        // SAFETY: the kernel wrote the first n bytes (the path, before its NUL).
        unsafe { buf.set_len(n) };
        Ok(buf.as_slice().to_vec())
    }
}
