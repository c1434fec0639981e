//! The receive batch a worker owns and lends to ports.

/// The largest frame a port buffer holds, in bytes. Larger frames are
/// dropped by the port that sees them. 4 KiB covers a 1500-byte MTU plus
/// tunnel headers, and native XDP on veth refuses MTUs above about 3.5 KB
/// anyway; jumbo frames are not supported.
pub const FRAME_CAPACITY: usize = 4096;

/// A fixed set of frame buffers, allocated once, refilled by
/// [`crate::Port::rx_burst`] on every poll. Nothing here allocates after
/// [`RxBatch::new`].
pub struct RxBatch {
    buf: Box<[u8]>,
    lens: Box<[u16]>,
    timestamps: Box<[u64]>,
    count: usize,
}

impl RxBatch {
    /// A batch of `capacity` frames of [`FRAME_CAPACITY`] bytes each.
    pub fn new(capacity: usize) -> RxBatch {
        RxBatch {
            buf: vec![0u8; capacity * FRAME_CAPACITY].into_boxed_slice(),
            lens: vec![0u16; capacity].into_boxed_slice(),
            timestamps: vec![0u64; capacity].into_boxed_slice(),
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
    }

    /// The buffer for the next frame ([`FRAME_CAPACITY`] bytes), or `None`
    /// when the batch is full. Fill it, then call [`RxBatch::commit`].
    pub fn next_slot(&mut self) -> Option<&mut [u8]> {
        if self.count == self.capacity() {
            return None;
        }
        let start = self.count * FRAME_CAPACITY;
        self.buf.get_mut(start..start + FRAME_CAPACITY)
    }

    /// Adds the frame written into the slot from [`RxBatch::next_slot`]:
    /// its first `len` bytes (clamped to [`FRAME_CAPACITY`]), received at
    /// `timestamp_ns`. Does nothing when the batch is full.
    pub fn commit(&mut self, len: usize, timestamp_ns: u64) {
        if self.count == self.capacity() {
            return;
        }
        self.lens[self.count] = len.min(FRAME_CAPACITY) as u16;
        self.timestamps[self.count] = timestamp_ns;
        self.count += 1;
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
        let start = i * FRAME_CAPACITY;
        &self.buf[start..start + self.lens[i] as usize]
    }

    /// Every frame, writable (the pipeline edits frames in place before it
    /// runs them through again), with the receive timestamps.
    pub fn frames_mut(&mut self) -> (impl Iterator<Item = &mut [u8]>, &[u64]) {
        let count = self.count;
        let frames = self
            .buf
            .chunks_mut(FRAME_CAPACITY)
            .zip(self.lens.iter())
            .take(count)
            .map(|(slot, len)| slot.get_mut(..*len as usize).unwrap_or_default());
        (frames, self.timestamps.get(..count).unwrap_or_default())
    }

    /// When frame `i` was received, in nanoseconds since the Unix epoch (0
    /// where the port does not know).
    pub fn timestamp(&self, i: usize) -> u64 {
        self.timestamps.get(i).copied().unwrap_or(0)
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
        let (frames, timestamps) = b.frames_mut();
        assert_eq!(timestamps, &[5, 6]);
        let frames: Vec<&mut [u8]> = frames.collect();
        assert_eq!(frames.len(), 2);
        frames.into_iter().for_each(|f| f[0] = 9);
        assert_eq!(b.frame(0), &[9, 2]);
        assert_eq!(b.frame(1), &[9]);
    }

    #[test]
    fn oversize_frame_refused() {
        let mut b = RxBatch::new(1);
        assert!(!b.push(&vec![0u8; FRAME_CAPACITY + 1], 0));
        assert!(b.is_empty());
    }
}
