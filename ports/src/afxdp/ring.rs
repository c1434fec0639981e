//! The four single-producer single-consumer rings an AF_XDP socket shares
//! with the kernel, over memory mapped from the socket.
//!
//! Each ring is a power-of-two array of entries with a producer and a
//! consumer index that only grow (wrapping at 2^32). The side that produces
//! writes entries, then publishes the producer index with a Release store;
//! the side that consumes reads the producer index with an Acquire load,
//! reads the entries, then publishes the consumer index with a Release store
//! so the producer may reuse the slots. The kernel does the same with
//! smp_load_acquire/smp_store_release (see net/xdp/xsk_queue.h). Each side
//! caches the other's index and reloads it only when the cached view runs
//! out, so a batch costs one or two atomic loads, not one per frame.

use std::io;
use std::marker::PhantomData;
use std::mem::size_of;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::mmap::MmapRegion;

/// An entry type of a ring: plain data for which every bit pattern is a
/// valid value, so reading a slot the kernel wrote can never be undefined.
pub(super) trait RingEntry: Copy {}
/// Fill and completion rings carry UMEM addresses.
impl RingEntry for u64 {}
/// RX and TX rings carry descriptors (address, length, options).
impl RingEntry for libc::xdp_desc {}

/// A mapped ring: where its indices, flags and entries are.
struct RingMap<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    mask: u32,
    /// Owns the memory the pointers above point into.
    _region: MmapRegion,
    _entries: PhantomData<T>,
}

// SAFETY: the mapping is owned by this value and used only through `&self`
// or `&mut self`; the kernel side is synchronised through the atomics.
unsafe impl<T: RingEntry> Send for RingMap<T> {}

impl<T: RingEntry> RingMap<T> {
    /// Maps the ring of `fd` at page offset `pgoff` with `size` entries
    /// (a power of two), at the offsets the kernel reported.
    fn map(
        fd: &OwnedFd,
        offsets: &libc::xdp_ring_offset,
        size: u32,
        pgoff: u64,
    ) -> io::Result<RingMap<T>> {
        let bad =
            |what: &str| io::Error::other(format!("kernel reported a bad ring layout ({what})"));
        let len = usize::try_from(offsets.desc)
            .ok()
            .and_then(|desc| desc.checked_add(size as usize * size_of::<T>()))
            .ok_or_else(|| bad("descriptor offset"))?;
        let region = MmapRegion::socket_ring(fd, len, pgoff)?;
        let index_at = |offset: u64, what: &str| -> io::Result<NonNull<AtomicU32>> {
            let offset = usize::try_from(offset).map_err(|_| bad(what))?;
            let end = offset.checked_add(size_of::<AtomicU32>());
            if end.is_none_or(|end| end > region.len()) {
                return Err(bad(what));
            }
            // SAFETY: `offset` plus the index size lies inside the mapping
            // (checked above), so the pointer stays within one allocation.
            let ptr = unsafe { region.as_ptr().add(offset) }.cast::<AtomicU32>();
            if !ptr.is_aligned() {
                return Err(bad(what));
            }
            NonNull::new(ptr).ok_or_else(|| bad(what))
        };
        let producer = index_at(offsets.producer, "producer")?;
        let consumer = index_at(offsets.consumer, "consumer")?;
        let flags = index_at(offsets.flags, "flags")?;
        // SAFETY: `len` was computed as the descriptor offset plus the entry
        // array, so the entries lie inside the mapping.
        let entries = unsafe { region.as_ptr().add(offsets.desc as usize) }.cast::<T>();
        if !entries.is_aligned() {
            return Err(bad("descriptor alignment"));
        }
        let entries = NonNull::new(entries).ok_or_else(|| bad("descriptors"))?;
        Ok(RingMap {
            producer,
            consumer,
            flags,
            entries,
            mask: size - 1,
            _region: region,
            _entries: PhantomData,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the mapping this value owns, 4-byte aligned
        // (checked in `map`); the kernel accesses it only atomically.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }
    }

    /// The slot of ring index `index`; masking keeps it inside the array.
    fn slot(&self, index: u32) -> *mut T {
        // SAFETY: `index & mask` is below the ring size the mapping was
        // made for, so the result points inside the entry array.
        unsafe { self.entries.as_ptr().add((index & self.mask) as usize) }
    }

    fn size(&self) -> u32 {
        self.mask + 1
    }

    fn needs_wakeup(&self) -> bool {
        // Relaxed: a stale answer only delays a kick to the next batch.
        self.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// A ring this process produces into: fill (addresses for the kernel to
/// receive into) and TX (frames to send).
pub(super) struct ProducerRing<T> {
    map: RingMap<T>,
    /// Next index to write; published to the kernel by [`Self::publish`].
    cached_producer: u32,
    /// The kernel's consumer index as last read.
    cached_consumer: u32,
}

impl<T: RingEntry> ProducerRing<T> {
    pub(super) fn map(
        fd: &OwnedFd,
        offsets: &libc::xdp_ring_offset,
        size: u32,
        pgoff: u64,
    ) -> io::Result<Self> {
        let map = RingMap::map(fd, offsets, size, pgoff)?;
        let cached_producer = map.producer().load(Ordering::Relaxed);
        let cached_consumer = map.consumer().load(Ordering::Acquire);
        Ok(ProducerRing {
            map,
            cached_producer,
            cached_consumer,
        })
    }

    /// Writes `entry` into the next free slot, unpublished. Returns false
    /// when the ring is full.
    pub(super) fn push(&mut self, entry: T) -> bool {
        if self.cached_producer.wrapping_sub(self.cached_consumer) >= self.map.size() {
            // Acquire: the kernel's reads of the slots it released are done
            // before we overwrite them.
            self.cached_consumer = self.map.consumer().load(Ordering::Acquire);
            if self.cached_producer.wrapping_sub(self.cached_consumer) >= self.map.size() {
                return false;
            }
        }
        // SAFETY: the slot is inside the ring (masked) and free: the kernel
        // consumed it and does not read it again before we publish.
        unsafe { self.map.slot(self.cached_producer).write(entry) };
        self.cached_producer = self.cached_producer.wrapping_add(1);
        true
    }

    /// Makes every pushed entry visible to the kernel.
    pub(super) fn publish(&mut self) {
        // Release: the entries written above are visible before the index.
        self.map
            .producer()
            .store(self.cached_producer, Ordering::Release);
    }

    /// Published or pushed entries the kernel has not taken yet.
    pub(super) fn unconsumed(&mut self) -> u32 {
        self.cached_consumer = self.map.consumer().load(Ordering::Acquire);
        self.cached_producer.wrapping_sub(self.cached_consumer)
    }

    /// True when the kernel asks for a system call to notice new entries.
    pub(super) fn needs_wakeup(&self) -> bool {
        self.map.needs_wakeup()
    }
}

/// A ring the kernel produces into: RX (received frames) and completion
/// (addresses of sent frames).
pub(super) struct ConsumerRing<T> {
    map: RingMap<T>,
    /// The kernel's producer index as last read.
    cached_producer: u32,
    /// Next index to read; published by [`Self::release`].
    cached_consumer: u32,
}

impl<T: RingEntry> ConsumerRing<T> {
    pub(super) fn map(
        fd: &OwnedFd,
        offsets: &libc::xdp_ring_offset,
        size: u32,
        pgoff: u64,
    ) -> io::Result<Self> {
        let map = RingMap::map(fd, offsets, size, pgoff)?;
        let cached_producer = map.producer().load(Ordering::Acquire);
        let cached_consumer = map.consumer().load(Ordering::Relaxed);
        Ok(ConsumerRing {
            map,
            cached_producer,
            cached_consumer,
        })
    }

    /// How many entries can be read now, at most `max`.
    pub(super) fn available(&mut self, max: u32) -> u32 {
        let mut ready = self.cached_producer.wrapping_sub(self.cached_consumer);
        if ready < max {
            // Acquire: the entries the kernel wrote are visible once the
            // index that publishes them is.
            self.cached_producer = self.map.producer().load(Ordering::Acquire);
            ready = self.cached_producer.wrapping_sub(self.cached_consumer);
        }
        ready.min(max)
    }

    /// Entry `i` after the last released one; `i` below what
    /// [`Self::available`] returned.
    pub(super) fn get(&self, i: u32) -> T {
        // SAFETY: the slot is inside the ring (masked) and `T` is valid for
        // any bits; the kernel does not rewrite it before we release it.
        unsafe { self.map.slot(self.cached_consumer.wrapping_add(i)).read() }
    }

    /// Gives `count` read entries back to the kernel.
    pub(super) fn release(&mut self, count: u32) {
        let ready = self.cached_producer.wrapping_sub(self.cached_consumer);
        self.cached_consumer = self.cached_consumer.wrapping_add(count.min(ready));
        // Release: our reads of the entries finish before the kernel may
        // overwrite them.
        self.map
            .consumer()
            .store(self.cached_consumer, Ordering::Release);
    }
}
