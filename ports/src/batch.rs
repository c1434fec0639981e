//! The receive batch a worker owns and lends to ports.

use std::sync::Arc;

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

/// `place` of a frame in its ordinary slot.
const ORDINARY: u16 = u16::MAX;
/// `place` of a lent frame: this plus its index in `lent`.
const LENT: u16 = 0x100;

/// Receive memory a port lends a batch its super-frames in, so that they
/// are not copied out of it: an AF_PACKET receive ring, whose slots the
/// kernel does not write while the process owns them. The batch reads and
/// edits a lent frame in place and gives its slot back when it forgets the
/// frame ([`RxBatch::clear`], or when the batch is dropped); holding an
/// `Arc` of the memory keeps it mapped until then, even past the port.
///
/// # Safety
///
/// `base()` must stay the same and the memory behind it valid while any
/// `Arc` of the value lives, and a range lent with [`RxBatch::commit_lent`]
/// must not be read or written by anyone else until its slot is given
/// back.
pub(crate) unsafe trait LendingRing: Send + Sync {
    /// The start of the memory; lent frames are at offsets from it.
    fn base(&self) -> *mut u8;
    /// Gives slot `slot` (the number passed to [`RxBatch::commit_lent`])
    /// back to its owner.
    fn give_back(&self, slot: usize);
}

/// A frame lent by a [`LendingRing`]: `len` bytes at `offset`.
struct LentFrame {
    ring: Arc<dyn LendingRing>,
    slot: usize,
    offset: usize,
}

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
/// has the 512 KiB of super slots. A port whose receive memory the kernel
/// fills in place (AF_PACKET) lends its super-frames instead
/// ([`RxBatch::commit_lent`]): they stay where the kernel put them, as
/// many as the batch has frames.
pub struct RxBatch {
    buf: Box<[u8]>,
    supers: Box<[u8]>,
    lens: Box<[u16]>,
    timestamps: Box<[u64]>,
    /// Where frame `i` is: a super slot's index, [`LENT`] plus its index
    /// in `lent`, or [`ORDINARY`]; written only once a frame was placed
    /// outside its ordinary slot (`placed()`).
    place: Box<[u16]>,
    kept_supers: usize,
    /// The lent frames, in frame order; never grows past the capacity
    /// reserved up front, so pushing allocates nothing.
    lent: Vec<LentFrame>,
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
            place: vec![ORDINARY; capacity].into_boxed_slice(),
            kept_supers: 0,
            lent: Vec::with_capacity(capacity),
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

    /// Forgets every frame; the buffers are reused and lent frames given
    /// back.
    pub fn clear(&mut self) {
        self.count = 0;
        self.kept_supers = 0;
        self.offloaded = false;
        self.give_back_lent();
    }

    fn give_back_lent(&mut self) {
        for frame in self.lent.drain(..) {
            frame.ring.give_back(frame.slot);
        }
    }

    /// True once a frame was kept outside its ordinary slot: `place` is
    /// written for every frame since.
    fn placed(&self) -> bool {
        self.kept_supers > 0 || !self.lent.is_empty()
    }

    /// Marks the frames before `i` as in their ordinary slots, when frame
    /// `i` is the first placed elsewhere.
    fn start_placing(&mut self, i: usize) {
        if !self.placed() {
            self.place[..i].fill(ORDINARY);
        }
    }

    /// Records frame `i`'s offload state.
    fn set_vnet(&mut self, i: usize, vnet: VnetHeader) {
        if !vnet.is_plain() {
            if !self.offloaded {
                self.vnet[..i].fill(VnetHeader::default());
                self.offloaded = true;
            }
            self.vnet[i] = vnet;
        }
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
        if self.placed() {
            self.place[i] = ORDINARY;
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
            self.start_placing(i);
            self.place[i] = self.kept_supers as u16;
            self.kept_supers += 1;
            self.commit_placed(i, len, timestamp_ns);
        }
        self.set_vnet(i, vnet);
    }

    /// Adds the frame written into the slot from [`RxBatch::next_slot`],
    /// as [`RxBatch::commit`] does, with offload state `vnet`.
    pub(crate) fn commit_offloaded(&mut self, len: usize, timestamp_ns: u64, vnet: VnetHeader) {
        let i = self.count;
        if i == self.capacity() {
            return;
        }
        self.commit(len, timestamp_ns);
        self.set_vnet(i, vnet);
    }

    /// Adds a frame of `len` bytes (at most [`SUPER_FRAME_CAPACITY`]) that
    /// stays where it is, at `offset` in `ring`'s memory, until the batch
    /// gives `slot` back to `ring`. When the batch is full the slot is
    /// given back at once and false returned.
    ///
    /// # Safety
    ///
    /// `offset..offset + len` of `ring`'s memory must be valid for reads
    /// and writes and, until `slot` is given back, be used by nothing but
    /// this batch.
    pub(crate) unsafe fn commit_lent(
        &mut self,
        ring: &Arc<dyn LendingRing>,
        slot: usize,
        offset: usize,
        len: usize,
        timestamp_ns: u64,
        vnet: VnetHeader,
    ) -> bool {
        let i = self.count;
        if i == self.capacity() || len > SUPER_FRAME_CAPACITY {
            ring.give_back(slot);
            return false;
        }
        self.start_placing(i);
        self.place[i] = LENT + self.lent.len() as u16;
        self.lent.push(LentFrame {
            ring: Arc::clone(ring),
            slot,
            offset,
        });
        self.commit_placed(i, len, timestamp_ns);
        self.set_vnet(i, vnet);
        true
    }

    /// Counts frame `i`, placed outside its ordinary slot, with its length
    /// and time.
    fn commit_placed(&mut self, i: usize, len: usize, timestamp_ns: u64) {
        self.lens[i] = len as u16;
        self.timestamps[i] = timestamp_ns;
        if self.offloaded {
            self.vnet[i] = VnetHeader::default();
        }
        self.count = i + 1;
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
        match self.place[i] {
            place if !self.placed() || place == ORDINARY => {
                &self.buf[i * FRAME_CAPACITY..i * FRAME_CAPACITY + len]
            }
            index if index >= LENT => {
                let lent = &self.lent[(index - LENT) as usize];
                // SAFETY: the ring lent these `len` bytes to this batch
                // alone until the slot is given back, which needs `&mut
                // self`; the `Arc` in `lent` keeps them mapped.
                unsafe { std::slice::from_raw_parts(lent.ring.base().add(lent.offset), len) }
            }
            index => {
                let start = index as usize * SUPER_FRAME_CAPACITY;
                &self.supers[start..start + len]
            }
        }
    }

    /// Every frame, writable (the pipeline edits frames in place before it
    /// runs them through again), with the receive timestamps and the
    /// frames' offload state (empty when every frame is plain).
    pub fn frames_mut(&mut self) -> (impl Iterator<Item = &mut [u8]>, &[u64], &[VnetHeader]) {
        let count = self.count;
        let placed = self.placed();
        // Kept super-frames are in slot order with the frames.
        let mut supers = self.supers.chunks_mut(SUPER_FRAME_CAPACITY);
        let lent = &self.lent;
        let frames = self
            .buf
            .chunks_mut(FRAME_CAPACITY)
            .zip(self.lens.iter().zip(self.place.iter()))
            .take(count)
            .map(move |(slot, (len, place))| {
                let len = *len as usize;
                match *place {
                    place if !placed || place == ORDINARY => {
                        slot.get_mut(..len).unwrap_or_default()
                    }
                    index if index >= LENT => {
                        let lent = &lent[(index - LENT) as usize];
                        // SAFETY: the ring lent these `len` bytes to this
                        // batch alone (so to this one borrow of it, each
                        // frame once) until the slot is given back, which
                        // needs `&mut self`; the `Arc` keeps them mapped.
                        unsafe {
                            std::slice::from_raw_parts_mut(lent.ring.base().add(lent.offset), len)
                        }
                    }
                    _ => supers
                        .next()
                        .and_then(|slot| slot.get_mut(..len))
                        .unwrap_or_default(),
                }
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

impl Drop for RxBatch {
    /// Lent frames go back to their ring, which would otherwise never see
    /// those slots again.
    fn drop(&mut self) {
        self.give_back_lent();
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

    /// Memory that lends frames and records the slots given back.
    struct FakeRing {
        memory: Box<[std::cell::UnsafeCell<u8>]>,
        given_back: std::sync::Mutex<Vec<usize>>,
    }

    // SAFETY: the tests touch a lent range only through the batch, one
    // thread at a time.
    unsafe impl Sync for FakeRing {}

    // SAFETY: `memory` is never moved or freed while the ring lives.
    unsafe impl LendingRing for FakeRing {
        fn base(&self) -> *mut u8 {
            self.memory.as_ptr().cast_mut().cast()
        }

        fn give_back(&self, slot: usize) {
            self.given_back.lock().unwrap().push(slot);
        }
    }

    fn fake_ring(len: usize) -> Arc<FakeRing> {
        Arc::new(FakeRing {
            memory: (0..len).map(|i| (i % 251) as u8).map(Into::into).collect(),
            given_back: Default::default(),
        })
    }

    fn lend(b: &mut RxBatch, ring: &Arc<FakeRing>, slot: usize, offset: usize, len: usize) -> bool {
        let lender = Arc::clone(ring) as Arc<dyn LendingRing>;
        let vnet = VnetHeader {
            gso_type: crate::vnet::VNET_GSO_TCPV4,
            gso_size: 1448,
            ..VnetHeader::default()
        };
        // SAFETY: the range lies within the fake ring, which nothing else
        // reads or writes while the batch holds it.
        unsafe { b.commit_lent(&lender, slot, offset, len, 9, vnet) }
    }

    #[test]
    fn lent_frames_are_read_and_edited_in_place_and_given_back_on_clear() {
        let ring = fake_ring(3 * SUPER_FRAME_CAPACITY);
        let expected = |offset: usize, len: usize| -> Vec<u8> {
            (offset..offset + len).map(|i| (i % 251) as u8).collect()
        };
        let mut b = RxBatch::new(4);
        assert!(b.push(&[1, 2, 3], 1));
        assert!(lend(&mut b, &ring, 7, 100, 60_000));
        assert!(b.push(&[4], 2));
        assert!(lend(&mut b, &ring, 8, SUPER_FRAME_CAPACITY + 5, 5_000));
        assert!(
            !lend(&mut b, &ring, 9, 0, 10),
            "the batch is full: not taken"
        );
        assert_eq!(*ring.given_back.lock().unwrap(), [9], "and given back");
        assert_eq!(b.frame(0), &[1, 2, 3]);
        assert_eq!(b.frame(1), &expected(100, 60_000)[..]);
        assert_eq!(b.frame(2), &[4]);
        assert_eq!(b.frame(3), &expected(SUPER_FRAME_CAPACITY + 5, 5_000)[..]);
        assert_eq!(b.vnet(1).gso_size, 1448);
        assert!(b.vnet(2).is_plain());
        assert_eq!(b.timestamp(3), 9);
        let (frames, _, vnet) = b.frames_mut();
        let lens: Vec<usize> = frames
            .map(|f| {
                f[0] = 0xee;
                f.len()
            })
            .collect();
        assert_eq!(lens, [3, 60_000, 1, 5_000]);
        assert_eq!(vnet[3].gso_size, 1448);
        assert_eq!(
            b.frame(1)[..2],
            [0xee, expected(101, 1)[0]],
            "edited in place"
        );
        // SAFETY: the byte lies within the ring's memory, alive while
        // `ring` is; no borrow of the batch's frames is held here.
        let in_ring = unsafe { *ring.base().add(SUPER_FRAME_CAPACITY + 5) };
        assert_eq!(in_ring, 0xee, "the edit is in the ring's memory");
        b.clear();
        assert_eq!(*ring.given_back.lock().unwrap(), [9, 7, 8]);
        assert!(lend(&mut b, &ring, 10, 0, 4_097));
        drop(b);
        assert_eq!(
            *ring.given_back.lock().unwrap(),
            [9, 7, 8, 10],
            "a dropped batch gives its frames back"
        );
    }

    #[test]
    fn oversize_frame_refused() {
        let mut b = RxBatch::new(1);
        assert!(!b.push(&vec![0u8; FRAME_CAPACITY + 1], 0));
        assert!(b.is_empty());
    }
}
