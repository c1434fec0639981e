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

/// How many super-frames of [`SUPER_FRAME_CAPACITY`] a batch has room for
/// beyond its ordinary slots.
pub const BATCH_SUPER_FRAMES: usize = 8;

/// Where frames start in the batch's buffer: cache-line aligned.
const FRAME_ALIGN: usize = 64;

/// A set of frames in one buffer allocated once, refilled by
/// [`crate::Port::rx_burst`] on every poll. Nothing here allocates after
/// [`RxBatch::new`].
///
/// Frames are laid out one after the other, each taking its own length
/// (rounded up to a cache line), not a fixed slot: the buffer holds
/// `capacity` frames of [`FRAME_CAPACITY`] plus room for
/// [`BATCH_SUPER_FRAMES`] super-frames, so a port that may receive 64 KiB
/// frames asks for a [`RxBatch::next_super_slot`] and pays for what the
/// frame really is. AF_XDP chunks stay 4 KiB: only the worker's one batch
/// is larger.
pub struct RxBatch {
    buf: Box<[u8]>,
    /// Where frame `i` starts in `buf`.
    starts: Box<[u32]>,
    lens: Box<[u16]>,
    timestamps: Box<[u64]>,
    vnet: Box<[VnetHeader]>,
    count: usize,
    /// Where the next frame goes in `buf`.
    used: usize,
}

impl RxBatch {
    /// A batch of at most `capacity` frames.
    pub fn new(capacity: usize) -> RxBatch {
        let bytes = capacity * FRAME_CAPACITY + BATCH_SUPER_FRAMES * SUPER_FRAME_CAPACITY;
        RxBatch {
            buf: vec![0u8; bytes].into_boxed_slice(),
            starts: vec![0u32; capacity].into_boxed_slice(),
            lens: vec![0u16; capacity].into_boxed_slice(),
            timestamps: vec![0u64; capacity].into_boxed_slice(),
            vnet: vec![VnetHeader::default(); capacity].into_boxed_slice(),
            count: 0,
            used: 0,
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
        self.used = 0;
    }

    /// The buffer for the next frame ([`FRAME_CAPACITY`] bytes), or `None`
    /// when the batch is full. Fill it, then call [`RxBatch::commit`].
    pub fn next_slot(&mut self) -> Option<&mut [u8]> {
        self.slot_of(FRAME_CAPACITY)
    }

    /// The buffer for the next frame when it may be a super-frame
    /// ([`SUPER_FRAME_CAPACITY`] bytes), or `None` when the batch has no
    /// more frames or room: the port then leaves the frame for the next
    /// poll. Fill it, then call [`RxBatch::commit`] (or
    /// [`RxBatch::commit_offloaded`]).
    pub fn next_super_slot(&mut self) -> Option<&mut [u8]> {
        self.slot_of(SUPER_FRAME_CAPACITY)
    }

    fn slot_of(&mut self, size: usize) -> Option<&mut [u8]> {
        if self.count == self.capacity() {
            return None;
        }
        self.buf.get_mut(self.used..self.used + size)
    }

    /// Adds the frame written into the slot from [`RxBatch::next_slot`]:
    /// its first `len` bytes (clamped to the slot's size), received at
    /// `timestamp_ns`, with complete checksums. Does nothing when the
    /// batch is full.
    pub fn commit(&mut self, len: usize, timestamp_ns: u64) {
        self.commit_offloaded(len, timestamp_ns, VnetHeader::default());
    }

    /// [`RxBatch::commit`] for a frame with offload state `vnet` (as a
    /// TAP's virtio-net header gave it).
    pub fn commit_offloaded(&mut self, len: usize, timestamp_ns: u64, vnet: VnetHeader) {
        if self.count == self.capacity() {
            return;
        }
        let room = self.buf.len().saturating_sub(self.used);
        let len = len.min(SUPER_FRAME_CAPACITY).min(room);
        self.starts[self.count] = self.used as u32;
        self.lens[self.count] = len as u16;
        self.timestamps[self.count] = timestamp_ns;
        self.vnet[self.count] = vnet;
        self.count += 1;
        self.used += len.next_multiple_of(FRAME_ALIGN);
    }

    /// Copies `frame` into the next slot and commits it. Returns false (and
    /// adds nothing) when the batch is full or the frame is longer than
    /// [`FRAME_CAPACITY`].
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
        let start = self.starts[i] as usize;
        &self.buf[start..start + self.lens[i] as usize]
    }

    /// Every frame, writable (the pipeline edits frames in place before it
    /// runs them through again), with the receive timestamps and the
    /// frames' offload state.
    pub fn frames_mut(&mut self) -> (impl Iterator<Item = &mut [u8]>, &[u64], &[VnetHeader]) {
        let count = self.count;
        // Frames lie in increasing order: each is cut from what the
        // previous one left.
        let mut rest: &mut [u8] = &mut self.buf;
        let mut at = 0usize;
        let frames =
            self.starts
                .iter()
                .zip(self.lens.iter())
                .take(count)
                .map(move |(&start, &len)| {
                    let skip = (start as usize).saturating_sub(at);
                    let tail = std::mem::take(&mut rest);
                    let tail = tail.get_mut(skip..).unwrap_or_default();
                    let (frame, after) = tail.split_at_mut((len as usize).min(tail.len()));
                    rest = after;
                    at = start as usize + frame.len();
                    frame
                });
        (
            frames,
            self.timestamps.get(..count).unwrap_or_default(),
            self.vnet.get(..count).unwrap_or_default(),
        )
    }

    /// When frame `i` was received, in nanoseconds since the Unix epoch (0
    /// where the port does not know).
    pub fn timestamp(&self, i: usize) -> u64 {
        self.timestamps.get(i).copied().unwrap_or(0)
    }

    /// Frame `i`'s offload state (plain past the end).
    pub fn vnet(&self, i: usize) -> VnetHeader {
        if i >= self.count {
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
        assert!(vnet.iter().all(VnetHeader::is_plain));
        let frames: Vec<&mut [u8]> = frames.collect();
        assert_eq!(frames.len(), 2);
        frames.into_iter().for_each(|f| f[0] = 9);
        assert_eq!(b.frame(0), &[9, 2]);
        assert_eq!(b.frame(1), &[9]);
    }

    #[test]
    fn super_frames_take_their_length_and_sit_beside_small_ones() {
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
        b.commit_offloaded(big.len(), 1, hdr);
        assert!(b.push(&[1, 2, 3], 2));
        let slot = b.next_super_slot().unwrap();
        slot[..5].copy_from_slice(&[5; 5]);
        b.commit(5, 3);
        assert_eq!(b.frame(0), &big[..]);
        assert_eq!(b.frame(1), &[1, 2, 3]);
        assert_eq!(b.frame(2), &[5; 5]);
        assert_eq!(b.vnet(0), hdr);
        assert!(b.vnet(1).is_plain());
        let (frames, _, vnet) = b.frames_mut();
        let lens: Vec<usize> = frames.map(|f| f.len()).collect();
        assert_eq!(lens, vec![60_000, 3, 5]);
        assert_eq!(vnet[0], hdr);
    }

    #[test]
    fn a_full_batch_of_small_frames_still_has_room_for_super_frames() {
        let mut b = RxBatch::new(BATCH_SUPER_FRAMES + 2);
        for _ in 0..2 {
            let slot = b.next_slot().unwrap();
            slot.fill(1);
            b.commit(FRAME_CAPACITY, 0);
        }
        for _ in 0..BATCH_SUPER_FRAMES {
            assert!(b.next_super_slot().is_some());
            b.commit(SUPER_FRAME_CAPACITY, 0);
        }
        assert_eq!(b.free(), 0);
        assert!(b.next_super_slot().is_none());
        assert_eq!(b.frame(BATCH_SUPER_FRAMES + 1).len(), SUPER_FRAME_CAPACITY);
    }

    #[test]
    fn oversize_frame_refused() {
        let mut b = RxBatch::new(1);
        assert!(!b.push(&vec![0u8; FRAME_CAPACITY + 1], 0));
        assert!(b.is_empty());
    }
}
