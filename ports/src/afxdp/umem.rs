//! The UMEM: the frame memory a socket shares with the kernel, cut into
//! chunks of [`CHUNK_SIZE`] bytes, and the stacks of chunks this process
//! holds between uses.

use std::io;

use super::mmap::MmapRegion;
use super::txmd::TX_METADATA_LEN;
use crate::FRAME_CAPACITY;

/// Bytes per UMEM chunk. A whole chunk is lent by `tx_slot`, so it is
/// [`FRAME_CAPACITY`]; 4096 is also the largest chunk the kernel accepts
/// in aligned mode (one page).
pub(super) const CHUNK_SIZE: usize = FRAME_CAPACITY;

/// The mapped frame area, `chunk_count` chunks long.
pub(super) struct Umem {
    area: MmapRegion,
}

impl Umem {
    pub(super) fn new(chunk_count: u32) -> io::Result<Umem> {
        let len = (chunk_count as usize)
            .checked_mul(CHUNK_SIZE)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "UMEM size overflows"))?;
        Ok(Umem {
            area: MmapRegion::anonymous(len)?,
        })
    }

    /// Bytes of frame memory.
    pub(super) fn size(&self) -> usize {
        self.area.len()
    }

    /// The XDP_UMEM_REG argument describing this area, with room for TX
    /// metadata in front of every TX frame when `tx_metadata`.
    pub(super) fn registration(&self, tx_metadata: bool) -> libc::xdp_umem_reg {
        let (flags, tx_metadata_len) = if tx_metadata {
            (libc::XDP_UMEM_TX_METADATA_LEN, TX_METADATA_LEN as u32)
        } else {
            (0, 0)
        };
        libc::xdp_umem_reg {
            addr: self.area.as_ptr() as u64,
            len: self.area.len() as u64,
            chunk_size: CHUNK_SIZE as u32,
            headroom: 0,
            flags,
            tx_metadata_len,
        }
    }

    /// The address of chunk `index`, as rings carry it.
    pub(super) fn chunk_addr(index: u32) -> u64 {
        u64::from(index) * CHUNK_SIZE as u64
    }

    /// The start of the chunk holding `addr`, or `None` outside the area.
    pub(super) fn chunk_of(&self, addr: u64) -> Option<u64> {
        (addr < self.area.len() as u64).then_some(addr & !(CHUNK_SIZE as u64 - 1))
    }

    /// The `len` bytes at `addr` (a received frame), or `None` when they are
    /// not inside the area.
    pub(super) fn frame(&self, addr: u64, len: u32) -> Option<&[u8]> {
        let start = usize::try_from(addr).ok()?;
        let end = start.checked_add(len as usize)?;
        if end > self.area.len() {
            return None;
        }
        // SAFETY: `start..end` lies inside the mapping, which lives as long
        // as `self`. The chunk was handed to us by the RX ring and goes back
        // to the kernel only after this borrow ends.
        Some(unsafe { std::slice::from_raw_parts(self.area.as_ptr().add(start), len as usize) })
    }

    /// The whole chunk starting at `chunk` (a free TX chunk) for writing,
    /// or `None` when it is not a chunk of the area.
    pub(super) fn chunk_mut(&mut self, chunk: u64) -> Option<&mut [u8]> {
        let start = usize::try_from(chunk).ok()?;
        if start % CHUNK_SIZE != 0 || start.checked_add(CHUNK_SIZE)? > self.area.len() {
            return None;
        }
        // SAFETY: the chunk lies inside the mapping, which lives as long as
        // `self`; it is on no ring (we hold it), so the kernel does not
        // touch it, and `&mut self` makes this the only borrow.
        Some(unsafe { std::slice::from_raw_parts_mut(self.area.as_ptr().add(start), CHUNK_SIZE) })
    }
}

/// Chunk addresses this process holds, allocated once at full capacity.
pub(super) struct FrameStack {
    addrs: Box<[u64]>,
    len: usize,
}

impl FrameStack {
    /// A stack holding chunks `first..first + count`.
    pub(super) fn with_chunks(first: u32, count: u32) -> FrameStack {
        let addrs: Box<[u64]> = (first..first + count).map(Umem::chunk_addr).collect();
        let len = addrs.len();
        FrameStack { addrs, len }
    }

    pub(super) fn pop(&mut self) -> Option<u64> {
        self.len = self.len.checked_sub(1)?;
        self.addrs.get(self.len).copied()
    }

    /// Holds `addr` again. The capacity is the number of chunks this stack
    /// was made for and every chunk is held once, so it never overflows.
    pub(super) fn push(&mut self, addr: u64) {
        if let Some(slot) = self.addrs.get_mut(self.len) {
            *slot = addr;
            self.len += 1;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_stack_pops_what_it_holds() {
        let mut stack = FrameStack::with_chunks(2, 2);
        assert_eq!(stack.pop(), Some(3 * CHUNK_SIZE as u64));
        assert_eq!(stack.pop(), Some(2 * CHUNK_SIZE as u64));
        assert_eq!(stack.pop(), None);
        assert!(stack.is_empty());
        stack.push(7);
        stack.push(8);
        stack.push(9); // beyond capacity: ignored
        assert_eq!(stack.pop(), Some(8));
        assert_eq!(stack.pop(), Some(7));
        assert_eq!(stack.pop(), None);
    }

    #[test]
    fn umem_bounds_are_checked() {
        let mut umem = Umem::new(2).expect("mmap 8 KiB");
        assert_eq!(umem.frame(4096 + 256, 100).map(<[u8]>::len), Some(100));
        assert!(umem.frame(8000, 200).is_none());
        assert!(umem.frame(u64::MAX, 1).is_none());
        assert_eq!(umem.chunk_of(4096 + 256), Some(4096));
        assert_eq!(umem.chunk_of(8192), None);
        assert_eq!(umem.chunk_mut(4096).map(|c| c.len()), Some(CHUNK_SIZE));
        assert!(umem.chunk_mut(100).is_none());
        assert!(umem.chunk_mut(8192).is_none());
    }
}
