//! The receive batch a worker owns and lends to ports.

use crate::vnet::VnetHeader;

/// The largest ordinary frame a port buffer holds, in bytes: what every
/// slot an AF_XDP port or the memory port fills is. Larger frames are
/// dropped by the port that sees them. 4 KiB covers a 1500-byte MTU plus
/// tunnel headers, and native XDP on veth refuses MTUs above about 3.5 KB
/// anyway; jumbo frames are not supported.
pub const FRAME_CAPACITY: usize = 4096;

/// The largest frame a port with offloads (a TAP with virtio-net headers)
/// receives or sends: a GSO super-frame of up to 64 KiB, whose headers the
/// parser can still address with 16-bit offsets. Longer frames are dropped.
pub const SUPER_FRAME_CAPACITY: usize = u16::MAX as usize;

/// How many super-frames of [`SUPER_FRAME_CAPACITY`] a batch holds beside
/// its ordinary slots.
pub const BATCH_SUPER_FRAMES: usize = 8;

/// `super_index` of a frame in its ordinary slot.
const ORDINARY: u8 = u8::MAX;

/// A fixed set of frame buffers, allocated once, refilled by
/// [`crate::Port::rx_burst`] on every poll. Nothing here allocates after
/// [`RxBatch::new`].
///
/// Frame `i` lives in ordinary slot `i` of [`FRAME_CAPACITY`] bytes, as
/// AF_XDP fills them, unless it is longer: a port that may receive 64 KiB
/// frames (TAP, AF_PACKET) reads each into a [`RxBatch::next_super_slot`]
/// and commits it with [`RxBatch::commit_super`], which copies a frame
/// that fits back into its ordinary slot (so the super slot serves the next
/// read) and keeps a longer one where it is, [`BATCH_SUPER_FRAMES`] at
/// most per batch. AF_XDP chunks stay 4 KiB; only the worker's one batch
/// has the 512 KiB of super slots.
pub struct RxBatch {
    buf: Box<[u8]>,
    supers: Box<[u8]>,
    lens: Box<[u16]>,
    timestamps: Box<[u64]>,
    /// Which super slot frame `i` is in, or [`ORDINARY`]; written only
    /// once a super-frame was kept (`kept_supers > 0`).
    super_index: Box<[u8]>,
    kept_supers: usize,
    /// Frame `i`'s offload state, for `i < count` while `offloaded`.
    vnet: Box<[VnetHeader]>,
    /// True once a frame with offload state was committed: until then
    /// `vnet` is not written (every frame is plain), which keeps the
    /// AF_XDP path from paying for it.
    offloaded: bool,
    count: usize,
}

impl RxBatch {
    /// A batch of `capacity` frames.
    pub fn new(capacity: usize) -> RxBatch {
        RxBatch {
            buf: vec![0u8; capacity * FRAME_CAPACITY].into_boxed_slice(),
            supers: vec![0u8; BATCH_SUPER_FRAMES * SUPER_FRAME_CAPACITY].into_boxed_slice(),
            lens: vec![0u16; capacity].into_boxed_slice(),
            timestamps: vec![0u64; capacity].into_boxed_slice(),
            super_index: vec![ORDINARY; capacity].into_boxed_slice(),
            kept_supers: 0,
            vnet: vec![VnetHeader::default(); capacity].into_boxed_slice(),
            offloaded: false,
            count: 0,
        }
    }

    /// How many frames the batch holds at most.
    pub fn capacity(&self) -> usize {
        self.lens.len()
    }

    /// How many frames the batch holds now.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many more frames fit.
    pub fn free(&self) -> usize {
        self.capacity() - self.count
    }

    /// Forgets every frame; the buffers are reused.
    pub fn clear(&mut self) {
        self.count = 0;
        self.kept_supers = 0;
        self.offloaded = false;
    }

    /// The buffer for the next frame ([`FRAME_CAPACITY`] bytes), or `None`
    /// when the batch is full. Fill it, then call [`RxBatch::commit`].
    #[inline]
    pub fn next_slot(&mut self) -> Option<&mut [u8]> {
        if self.count == self.capacity() {
            return None;
        }
        let start = self.count * FRAME_CAPACITY;
        self.buf.get_mut(start..start + FRAME_CAPACITY)
    }

    /// The buffer for the next frame when it may be a super-frame
    /// ([`SUPER_FRAME_CAPACITY`] bytes), or `None` when the batch is full
    /// or holds [`BATCH_SUPER_FRAMES`] already: the port then leaves the
    /// frame for the next poll. Fill it, then call
    /// [`RxBatch::commit_super`].
    pub fn next_super_slot(&mut self) -> Option<&mut [u8]> {
        if self.count == self.capacity() {
            return None;
        }
        let start = self.kept_supers * SUPER_FRAME_CAPACITY;
        self.supers.get_mut(start..start + SUPER_FRAME_CAPACITY)
    }

    /// Adds the frame written into the slot from [`RxBatch::next_slot`]:
    /// its first `len` bytes (clamped to [`FRAME_CAPACITY`]), received at
    /// `timestamp_ns`, with complete checksums. Does nothing when the
    /// batch is full.
    #[inline]
    pub fn commit(&mut self, len: usize, timestamp_ns: u64) {
        let i = self.count;
        let (Some(len_slot), Some(time)) = (self.lens.get_mut(i), self.timestamps.get_mut(i))
        else {
            return;
        };
        *len_slot = len.min(FRAME_CAPACITY) as u16;
        *time = timestamp_ns;
        if self.kept_supers > 0 {
            self.super_index[i] = ORDINARY;
        }
        if self.offloaded {
            self.vnet[i] = VnetHeader::default();
        }
        self.count = i + 1;
    }

    /// Adds the frame written into the slot from
    /// [`RxBatch::next_super_slot`]: its first `len` bytes (clamped to
    /// [`SUPER_FRAME_CAPACITY`]), received at `timestamp_ns`, with offload
    /// state `vnet`. Does nothing when the batch is full.
    pub fn commit_super(&mut self, len: usize, timestamp_ns: u64, vnet: VnetHeader) {
        let i = self.count;
        if i == self.capacity() {
            return;
        }
        let len = len.min(SUPER_FRAME_CAPACITY);
        let from = self.kept_supers * SUPER_FRAME_CAPACITY;
        if len <= FRAME_CAPACITY {
            let start = i * FRAME_CAPACITY;
            self.buf[start..start + len].copy_from_slice(&self.supers[from..from + len]);
            self.commit(len, timestamp_ns);
        } else {
            if self.kept_supers == 0 {
                self.super_index[..i].fill(ORDINARY);
            }
            self.super_index[i] = self.kept_supers as u8;
            self.kept_supers += 1;
            self.lens[i] = len as u16;
            self.timestamps[i] = timestamp_ns;
            if self.offloaded {
                self.vnet[i] = VnetHeader::default();
            }
            self.count = i + 1;
        }
        if !vnet.is_plain() {
            if !self.offloaded {
                self.vnet[..i].fill(VnetHeader::default());
                self.offloaded = true;
            }
            self.vnet[i] = vnet;
        }
    }

    /// Copies `frame` into the next slot and commits it. Returns false (and
    /// adds nothing) when the batch is full or the frame is longer than
    /// [`FRAME_CAPACITY`].
    #[inline]
    pub fn push(&mut self, frame: &[u8], timestamp_ns: u64) -> bool {
        if frame.len() > FRAME_CAPACITY {
            return false;
        }
        match self.next_slot() {
            Some(slot) => {
                slot[..frame.len()].copy_from_slice(frame);
                self.commit(frame.len(), timestamp_ns);
                true
            }
            None => false,
        }
    }

    /// Frame `i`, or an empty slice past the end.
    pub fn frame(&self, i: usize) -> &[u8] {
        if i >= self.count {
            return &[];
        }
        let len = self.lens[i] as usize;
        match self.super_index[i] {
            index if self.kept_supers > 0 && index != ORDINARY => {
                let start = index as usize * SUPER_FRAME_CAPACITY;
                &self.supers[start..start + len]
            }
            _ => &self.buf[i * FRAME_CAPACITY..i * FRAME_CAPACITY + len],
        }
    }

    /// Every frame, writable (the pipeline edits frames in place before it
    /// runs them through again), with the receive timestamps and the
    /// frames' offload state (empty when every frame is plain).
    pub fn frames_mut(&mut self) -> (impl Iterator<Item = &mut [u8]>, &[u64], &[VnetHeader]) {
        let count = self.count;
        let has_supers = self.kept_supers > 0;
        // Kept super-frames are in slot order with the frames.
        let mut supers = self.supers.chunks_mut(SUPER_FRAME_CAPACITY);
        let frames = self
            .buf
            .chunks_mut(FRAME_CAPACITY)
            .zip(self.lens.iter().zip(self.super_index.iter()))
            .take(count)
            .map(move |(slot, (len, index))| {
                let slot = match has_supers && *index != ORDINARY {
                    true => supers.next().unwrap_or_default(),
                    false => slot,
                };
                slot.get_mut(..*len as usize).unwrap_or_default()
            });
        let vnet = match self.offloaded {
            true => self.vnet.get(..count).unwrap_or_default(),
            false => &[],
        };
        (
            frames,
            self.timestamps.get(..count).unwrap_or_default(),
            vnet,
        )
    }

    /// When frame `i` was received, in nanoseconds since the Unix epoch (0
    /// where the port does not know).
    pub fn timestamp(&self, i: usize) -> u64 {
        self.timestamps.get(i).copied().unwrap_or(0)
    }

    /// Frame `i`'s offload state (plain past the end).
    pub fn vnet(&self, i: usize) -> VnetHeader {
        if i >= self.count || !self.offloaded {
            return VnetHeader::default();
        }
        self.vnet[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_until_full() {
        let mut b = RxBatch::new(2);
        assert!(b.push(&[1, 2, 3], 10));
        assert!(b.push(&[4], 20));
        assert!(!b.push(&[5], 30));
        assert_eq!(b.len(), 2);
        assert_eq!(b.frame(0), &[1, 2, 3]);
        assert_eq!(b.frame(1), &[4]);
        assert_eq!(b.timestamp(1), 20);
        assert_eq!(b.frame(2), &[] as &[u8]);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.free(), 2);
    }

    #[test]
    fn frames_mut_yields_each_frame_with_its_timestamp() {
        let mut b = RxBatch::new(3);
        assert!(b.push(&[1, 2], 5));
        assert!(b.push(&[3], 6));
        let (frames, timestamps, vnet) = b.frames_mut();
        assert_eq!(timestamps, &[5, 6]);
        assert!(vnet.is_empty(), "all plain");
        let frames: Vec<&mut [u8]> = frames.collect();
        assert_eq!(frames.len(), 2);
        frames.into_iter().for_each(|f| f[0] = 9);
        assert_eq!(b.frame(0), &[9, 2]);
        assert_eq!(b.frame(1), &[9]);
    }

    #[test]
    fn super_frames_are_kept_and_small_ones_copied_to_their_slots() {
        let mut b = RxBatch::new(4);
        let big = vec![7u8; 60_000];
        let slot = b.next_super_slot().unwrap();
        assert_eq!(slot.len(), SUPER_FRAME_CAPACITY);
        slot[..big.len()].copy_from_slice(&big);
        let hdr = VnetHeader {
            flags: crate::vnet::VNET_F_NEEDS_CSUM,
            csum_start: 34,
            csum_offset: 16,
            ..VnetHeader::default()
        };
        b.commit_super(big.len(), 1, hdr);
        assert!(b.push(&[1, 2, 3], 2));
        let slot = b.next_super_slot().unwrap();
        slot[..5].copy_from_slice(&[5; 5]);
        b.commit_super(5, 3, VnetHeader::default());
        let slot = b.next_super_slot().unwrap();
        slot[..4097].fill(9);
        b.commit_super(4097, 4, VnetHeader::default());
        assert_eq!(b.frame(0), &big[..]);
        assert_eq!(b.frame(1), &[1, 2, 3]);
        assert_eq!(b.frame(2), &[5; 5]);
        assert_eq!(b.frame(3), &[9; 4097][..]);
        assert_eq!(b.vnet(0), hdr);
        assert!(b.vnet(1).is_plain());
        let (frames, times, vnet) = b.frames_mut();
        let frames: Vec<Vec<u8>> = frames.map(|f| f.to_vec()).collect();
        assert_eq!(frames[0], big);
        assert_eq!(frames[1], [1, 2, 3]);
        assert_eq!(frames[2], [5; 5]);
        assert_eq!(frames[3], [9; 4097]);
        assert_eq!(times, &[1, 2, 3, 4]);
        assert_eq!(vnet.len(), 4);
        assert_eq!(vnet[0], hdr);
        assert!(vnet[1..].iter().all(VnetHeader::is_plain));
    }

    #[test]
    fn at_most_batch_super_frames_are_kept() {
        let mut b = RxBatch::new(BATCH_SUPER_FRAMES + 2);
        for _ in 0..BATCH_SUPER_FRAMES {
            assert!(b.next_super_slot().is_some());
            b.commit_super(SUPER_FRAME_CAPACITY, 0, VnetHeader::default());
        }
        assert!(b.next_super_slot().is_none());
        assert!(b.push(&[1], 0), "ordinary slots are still free");
        assert_eq!(b.frame(BATCH_SUPER_FRAMES - 1).len(), SUPER_FRAME_CAPACITY);
        b.clear();
        assert!(b.next_super_slot().is_some());
    }

    #[test]
    fn oversize_frame_refused() {
        let mut b = RxBatch::new(1);
        assert!(!b.push(&vec![0u8; FRAME_CAPACITY + 1], 0));
        assert!(b.is_empty());
    }
}
