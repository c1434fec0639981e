//! Memory mappings owned by a value and unmapped when it drops: the UMEM
//! area and the four rings of a socket (and the rings of an AF_PACKET
//! port).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;

/// One `mmap` region, unmapped on drop.
pub(crate) struct MmapRegion {
    start: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is plain memory owned by this value; moving the owner
// to another thread moves the only handle to it.
unsafe impl Send for MmapRegion {}

impl MmapRegion {
    /// Zeroed private memory of `len` bytes, populated up front so the
    /// data path never faults a page in.
    pub(crate) fn anonymous(len: usize) -> io::Result<MmapRegion> {
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        )
    }

    /// The ring of socket `fd` at page offset `offset` (one of the
    /// `XDP_PGOFF_*` constants; 0 for a packet socket's rings), `len`
    /// bytes long.
    pub(crate) fn socket_ring(fd: &OwnedFd, len: usize, offset: u64) -> io::Result<MmapRegion> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ring offset out of range"))?;
        Self::map(
            len,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd.as_raw_fd(),
            offset,
        )
    }

    fn map(
        len: usize,
        flags: libc::c_int,
        fd: libc::c_int,
        offset: libc::off_t,
    ) -> io::Result<MmapRegion> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty mapping"));
        }
        // SAFETY: a fresh mapping chosen by the kernel (null hint) cannot
        // alias memory Rust already uses; `fd` is open for the call.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start = NonNull::new(start.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(MmapRegion { start, len })
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.start.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: `start` and `len` describe a mapping this value created
        // and nothing borrows it any more (borrows are tied to the owner).
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), self.len);
        }
    }
}
