//! The mmap rings of an AF_PACKET port (`PACKET_RX_RING` and
//! `PACKET_TX_RING`, TPACKET_V2, with `PACKET_VNET_HDR`): frames move
//! through memory shared with the kernel, so receiving takes no system
//! call at all and a flush takes one `send()` for every queued frame.
//!
//! Layout (Documentation/networking/packet_mmap.rst): each ring is blocks
//! of frames ("slots" here); a slot starts with its `tpacket2_hdr`, whose
//! `tp_status` word says who owns it. Receive: the frame is at `tp_mac`,
//! its virtio-net header in the [`VNET_HDR_LEN`] bytes before it. Transmit:
//! the data starts at `TPACKET2_HDRLEN - sizeof(sockaddr_ll)`, the
//! virtio-net header first, then the frame; `tp_len` counts both.
//!
//! Sizes: a slot holds a 64 KiB super-frame, so it is 17 pages. The kernel
//! allocates each block as one power-of-two run of pages, so a block of one
//! slot would take 128 KiB (47% wasted); a 1 MiB block holds 15 slots and
//! wastes 4 KiB. 60 receive and 120 transmit slots make 12 MiB of kernel
//! memory per port, not counted against RLIMIT_MEMLOCK (so neither
//! CAP_IPC_LOCK nor CAP_SYS_RESOURCE is needed). Small frames use the same
//! slots: the ring holds fewer frames than an AF_XDP ring (2,048), which is
//! the price of taking super-frames whole.
//!
//! A received super-frame is not copied out of its slot: the slot is lent
//! to the worker's batch, which edits and forwards the frame where the
//! kernel wrote it and gives the slot back to the kernel when it is
//! cleared (the next poll). A 64 KiB copy a frame is the largest cost of
//! this port after the kernel's own two. Frames that fit an ordinary batch
//! slot are copied, so that the ring's slots go back at once.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::afxdp::mmap::MmapRegion;
use crate::batch::LendingRing;
use crate::vnet::{VnetHeader, VNET_F_NEEDS_CSUM, VNET_HDR_LEN};
use crate::{PortError, RxBatch, TxDone, FRAME_CAPACITY, SUPER_FRAME_CAPACITY};

/// Bytes of one slot: 17 pages, room for a super-frame behind the headers.
const SLOT_LEN: usize = 17 * 4096;
/// Bytes of one block of slots (see the module comment for why 1 MiB).
const BLOCK_LEN: usize = 1 << 20;
const SLOTS_PER_BLOCK: usize = BLOCK_LEN / SLOT_LEN;
/// Receive slots: four blocks.
pub const RX_RING_SLOTS: usize = 4 * SLOTS_PER_BLOCK;
/// Transmit slots: eight blocks, room for a few bursts while the kernel
/// still holds earlier frames.
pub const TX_RING_SLOTS: usize = 8 * SLOTS_PER_BLOCK;

/// Where a transmit slot's data starts (the kernel's default without
/// `PACKET_TX_HAS_OFF`).
const TX_DATA_OFFSET: usize = libc::TPACKET2_HDRLEN - std::mem::size_of::<libc::sockaddr_ll>();
/// Room for a frame in a transmit slot: a super-frame with two VLAN tags
/// pushed, as the other ports with offloads lend.
const TX_FRAME_ROOM: usize = SUPER_FRAME_CAPACITY + 8;
/// Where the kernel puts a received Ethernet frame with a virtio-net
/// header: the header, the address, 16 bytes for the MAC header aligned,
/// then the virtio-net header (`tpacket_rcv`).
const RX_MAC_OFFSET: usize =
    ((libc::TPACKET2_HDRLEN + 16).next_multiple_of(libc::TPACKET_ALIGNMENT) + VNET_HDR_LEN) - 14;
const _: () = assert!(TX_DATA_OFFSET + VNET_HDR_LEN + TX_FRAME_ROOM <= SLOT_LEN);
const _: () = assert!(RX_MAC_OFFSET + SUPER_FRAME_CAPACITY <= SLOT_LEN);
const _: () = assert!(SLOTS_PER_BLOCK == 15);

/// Offsets of `tpacket2_hdr` fields.
const TP_LEN: usize = 4;

/// The mapping of both rings, shared with the batches the receive ring
/// lends frames to (they hold it until they give the slots back, so it
/// may outlive the port: the pages stay valid while mapped, and the
/// mapping keeps the socket open until then).
struct RingMap(MmapRegion);

// SAFETY: the slots' status words are only accessed atomically; the bytes
// of a slot are accessed only by whoever its status says owns it (the
// kernel, the port, or the one batch a receive slot is lent to).
unsafe impl Sync for RingMap {}

impl RingMap {
    /// The status word of the slot at `offset`: the kernel's u32
    /// `tp_status`, first in the slot.
    fn status(&self, offset: usize) -> Option<&AtomicU32> {
        let in_block = offset % BLOCK_LEN;
        if offset >= self.0.len()
            || !in_block.is_multiple_of(SLOT_LEN)
            || in_block / SLOT_LEN >= SLOTS_PER_BLOCK
        {
            return None;
        }
        // SAFETY: every slot starts 16-byte aligned (blocks are page
        // aligned, slots a multiple of 16 bytes), within the mapping
        // (checked above); the kernel and this process both access the
        // status word atomically; the reference borrows `self`, so the
        // mapping outlives it.
        Some(unsafe { &*self.0.as_ptr().add(offset).cast::<AtomicU32>() })
    }
}

// SAFETY: the base is the mapping's, fixed while it lives (the `Arc`
// keeps it); a lent slot is, by the ring protocol, neither written by the
// kernel (its status is TP_STATUS_USER) nor looked at again by the port
// (its cursor moved past) until `give_back` hands it to the kernel.
unsafe impl LendingRing for RingMap {
    fn base(&self) -> *mut u8 {
        self.0.as_ptr()
    }

    fn give_back(&self, slot: usize) {
        if let Some(status) = self.status(slot) {
            status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
        }
    }
}

/// The two rings of one packet socket, in one mapping (receive first).
pub(crate) struct PacketRings {
    map: Arc<RingMap>,
    /// `map` again, as the batch takes it.
    lender: Arc<dyn LendingRing>,
    /// The receive slot to look at next.
    rx_next: usize,
    /// The transmit slot `tx_slot` lends next.
    tx_next: usize,
    /// The oldest transmit slot queued and not yet taken by the kernel:
    /// where the kernel's own cursor is.
    tx_head: usize,
    /// Slots from `tx_head` on that are queued (`TP_STATUS_SEND_REQUEST`).
    tx_queued: usize,
    /// Frame bytes (without the virtio-net header) of each transmit slot.
    tx_lens: Box<[u32]>,
}

impl PacketRings {
    /// Sets up both rings on `fd`, a packet socket with `PACKET_VNET_HDR`
    /// on and not bound yet, and maps them. `name` is the interface, for
    /// messages.
    pub(crate) fn new(fd: &OwnedFd, name: &str) -> Result<PacketRings, PortError> {
        let version = libc::tpacket_versions::TPACKET_V2 as libc::c_int;
        set_packet_option(fd, libc::PACKET_VERSION, &version).map_err(|e| {
            PortError::io(
                format!("cannot select TPACKET_V2 on the packet socket of {name}"),
                e,
            )
        })?;
        for (option, slots, what) in [
            (libc::PACKET_RX_RING, RX_RING_SLOTS, "receive"),
            (libc::PACKET_TX_RING, TX_RING_SLOTS, "transmit"),
        ] {
            let request = libc::tpacket_req {
                tp_block_size: BLOCK_LEN as libc::c_uint,
                tp_block_nr: (slots / SLOTS_PER_BLOCK) as libc::c_uint,
                tp_frame_size: SLOT_LEN as libc::c_uint,
                tp_frame_nr: slots as libc::c_uint,
            };
            set_packet_option(fd, option, &request).map_err(|e| {
                PortError::io(
                    format!(
                        "cannot set up the {} MiB {what} ring of the packet socket of {name} \
                         (kernel memory is short, or the kernel lacks PACKET_MMAP)",
                        slots / SLOTS_PER_BLOCK
                    ),
                    e,
                )
            })?;
        }
        let len = (RX_RING_SLOTS + TX_RING_SLOTS) / SLOTS_PER_BLOCK * BLOCK_LEN;
        let map = MmapRegion::socket_ring(fd, len, 0).map_err(|e| {
            PortError::io(
                format!("cannot map the rings of the packet socket of {name}"),
                e,
            )
        })?;
        let map = Arc::new(RingMap(map));
        Ok(PacketRings {
            lender: Arc::clone(&map) as Arc<dyn LendingRing>,
            map,
            rx_next: 0,
            tx_next: 0,
            tx_head: 0,
            tx_queued: 0,
            tx_lens: vec![0u32; TX_RING_SLOTS].into_boxed_slice(),
        })
    }

    /// Where slot `index` of the ring that starts at block `first_block`
    /// starts, from the start of the mapping.
    fn slot_offset(first_block: usize, index: usize) -> usize {
        (first_block + index / SLOTS_PER_BLOCK) * BLOCK_LEN + index % SLOTS_PER_BLOCK * SLOT_LEN
    }

    /// The start of slot `index` of the ring that starts at block
    /// `first_block`.
    fn slot(&self, first_block: usize, index: usize) -> *mut u8 {
        let offset = Self::slot_offset(first_block, index);
        debug_assert!(offset + SLOT_LEN <= self.map.0.len());
        // SAFETY: `offset + SLOT_LEN` is within the mapping for every index
        // below the ring's slot count, which every caller keeps to.
        unsafe { self.map.0.as_ptr().add(offset) }
    }

    fn rx_slot(&self, index: usize) -> *mut u8 {
        self.slot(0, index)
    }

    fn tx_slot_ptr(&self, index: usize) -> *mut u8 {
        self.slot(RX_RING_SLOTS / SLOTS_PER_BLOCK, index)
    }

    /// The status word of the slot at `slot` (from [`PacketRings::slot`]).
    fn status(&self, slot: *mut u8) -> &AtomicU32 {
        // SAFETY: every slot starts 16-byte aligned with the kernel's u32
        // `tp_status`, which the kernel and this process both access
        // atomically; the reference borrows `self`, so the mapping
        // outlives it.
        unsafe { &*slot.cast::<AtomicU32>() }
    }

    /// True when `frame` lies in the rings' memory (a lent frame).
    #[cfg(test)]
    pub(crate) fn holds(&self, frame: &[u8]) -> bool {
        let start = self.map.0.as_ptr() as usize;
        (start..start + self.map.0.len()).contains(&(frame.as_ptr() as usize))
    }

    /// True when a received frame waits in the ring.
    pub(crate) fn rx_ready(&self) -> bool {
        self.status(self.rx_slot(self.rx_next))
            .load(Ordering::Acquire)
            & libc::TP_STATUS_USER
            != 0
    }

    /// Moves received frames into `batch` until the ring is empty or the
    /// batch is full, each with its virtio-net header and the kernel's
    /// receive time: a frame that fits an ordinary batch slot is copied
    /// there and its ring slot given back, a longer one lent to the batch
    /// where it is. A VLAN tag the kernel kept apart
    /// (`TP_STATUS_VLAN_VALID`) is put back into the frame. Frames cut
    /// short by the slot or longer than [`SUPER_FRAME_CAPACITY`] are
    /// counted in `oversize` and dropped.
    pub(crate) fn receive(&mut self, batch: &mut RxBatch, oversize: &mut u64) -> usize {
        let mut received = 0;
        while batch.free() > 0 {
            let slot_offset = Self::slot_offset(0, self.rx_next);
            let slot = self.rx_slot(self.rx_next);
            let status = self.status(slot).load(Ordering::Acquire);
            if status & libc::TP_STATUS_USER == 0 {
                break;
            }
            self.rx_next = (self.rx_next + 1) % RX_RING_SLOTS;
            // SAFETY: the slot is this process's while its status says
            // TP_STATUS_USER (the Acquire load above orders the kernel's
            // writes before it); the header is 16-byte aligned plain data.
            let hdr = unsafe { slot.cast::<libc::tpacket2_hdr>().read() };
            let (len, mac) = (hdr.tp_snaplen as usize, hdr.tp_mac as usize);
            let tagged = status & libc::TP_STATUS_VLAN_VALID != 0;
            let whole = hdr.tp_len == hdr.tp_snaplen
                && mac >= VNET_HDR_LEN
                && mac + len <= SLOT_LEN
                && len >= 14
                && len + 4 * usize::from(tagged) <= SUPER_FRAME_CAPACITY;
            if !whole {
                *oversize += 1;
                self.map.give_back(slot_offset);
                continue;
            }
            // SAFETY: `mac - VNET_HDR_LEN .. mac + len` lies within the
            // slot (checked above), which the kernel does not touch while
            // the status is TP_STATUS_USER and nothing else borrows.
            let with_header = unsafe {
                std::slice::from_raw_parts_mut(slot.add(mac - VNET_HDR_LEN), VNET_HDR_LEN + len)
            };
            let mut vnet = VnetHeader::parse(&with_header[..VNET_HDR_LEN]).unwrap_or_default();
            // The frame, its tag back in place: the addresses move into
            // the virtio-net header's room (read already) to make space.
            let (start, len) = if tagged {
                let tpid = match status & libc::TP_STATUS_VLAN_TPID_VALID {
                    0 => 0x8100,
                    _ => hdr.tp_vlan_tpid,
                };
                let at = VNET_HDR_LEN - 4;
                with_header.copy_within(VNET_HDR_LEN..VNET_HDR_LEN + 12, at);
                with_header[at + 12..at + 14].copy_from_slice(&tpid.to_be_bytes());
                with_header[at + 14..at + 16].copy_from_slice(&hdr.tp_vlan_tci.to_be_bytes());
                if vnet.flags & VNET_F_NEEDS_CSUM != 0 {
                    vnet.csum_start += 4;
                }
                if vnet.hdr_len != 0 {
                    vnet.hdr_len += 4;
                }
                (mac - 4, len + 4)
            } else {
                (mac, len)
            };
            let timestamp_ns = u64::from(hdr.tp_sec) * 1_000_000_000 + u64::from(hdr.tp_nsec);
            if len <= FRAME_CAPACITY {
                let frame = &with_header[start + VNET_HDR_LEN - mac..][..len];
                if let Some(dst) = batch.next_slot() {
                    dst[..len].copy_from_slice(frame);
                    batch.commit_offloaded(len, timestamp_ns, vnet);
                }
                self.map.give_back(slot_offset);
            } else {
                // SAFETY: `start .. start + len` lies within the slot
                // (checked above, the tag's four bytes taken from the
                // virtio-net header's room), and the slot is this
                // process's until given back; the port's cursor moved
                // past it, so only the batch uses it from here.
                unsafe {
                    batch.commit_lent(
                        &self.lender,
                        slot_offset,
                        slot_offset + start,
                        len,
                        timestamp_ns,
                        vnet,
                    );
                }
            }
            received += 1;
        }
        received
    }

    /// The frame room of the next transmit slot, or `None` when every
    /// slot is queued or still held by the kernel.
    pub(crate) fn tx_slot(&mut self) -> Option<&mut [u8]> {
        let slot = self.tx_slot_ptr(self.tx_next);
        if self.tx_queued == TX_RING_SLOTS
            || self.status(slot).load(Ordering::Acquire) != libc::TP_STATUS_AVAILABLE
        {
            return None;
        }
        // SAFETY: an available slot is this process's; the frame room lies
        // within it (asserted at compile time) and past its status word;
        // the borrow of `self` keeps the mapping alive and unlent twice.
        Some(unsafe {
            std::slice::from_raw_parts_mut(slot.add(TX_DATA_OFFSET + VNET_HDR_LEN), TX_FRAME_ROOM)
        })
    }

    /// Queues the first `len` bytes of the slot last lent, behind `vnet`.
    /// Does nothing when no slot is free (no slot was lent).
    pub(crate) fn tx_commit(&mut self, len: usize, vnet: VnetHeader) {
        let index = self.tx_next;
        let slot = self.tx_slot_ptr(index);
        if self.tx_queued == TX_RING_SLOTS
            || self.status(slot).load(Ordering::Acquire) != libc::TP_STATUS_AVAILABLE
        {
            return;
        }
        let len = len.min(TX_FRAME_ROOM);
        let header = vnet.to_bytes();
        // SAFETY: the slot is available, so this process's; `tp_len` and
        // the virtio-net header lie within it, apart from the status word.
        unsafe {
            slot.add(TP_LEN)
                .cast::<u32>()
                .write((VNET_HDR_LEN + len) as u32);
            std::ptr::copy_nonoverlapping(header.as_ptr(), slot.add(TX_DATA_OFFSET), VNET_HDR_LEN);
        }
        self.tx_lens[index] = len as u32;
        self.status(slot)
            .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.tx_next = (index + 1) % TX_RING_SLOTS;
        self.tx_queued += 1;
    }

    /// Hands every queued frame to the kernel with one `send()` (more only
    /// after a refusal). A frame the kernel takes is sent. The kernel's
    /// ring cannot skip a frame it refuses (a bad header, no memory), so a
    /// refused frame is counted, `refused` naming it, and the frames
    /// behind it move up one slot and are sent again. A second refusal in
    /// a row not for a bad frame (a device that is down) refuses all that
    /// is left without copying.
    pub(crate) fn flush(&mut self, fd: &OwnedFd, refused: impl Fn() -> String) -> TxDone {
        let mut done = TxDone::default();
        let mut refused_last = false;
        while self.tx_queued > 0 {
            // SAFETY: send() with no buffer reads nothing of ours; the
            // kernel takes the frames from the mapped ring; `fd` is open.
            let rc = unsafe { libc::send(fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT) };
            let error = (rc < 0).then(io::Error::last_os_error);
            if error
                .as_ref()
                .is_some_and(|e| e.kind() == io::ErrorKind::Interrupted)
            {
                continue;
            }
            let mut taken = false;
            while self.tx_queued > 0 {
                let slot = self.tx_slot_ptr(self.tx_head);
                let status = self.status(slot).load(Ordering::Acquire);
                if status == libc::TP_STATUS_SEND_REQUEST || status == libc::TP_STATUS_WRONG_FORMAT
                {
                    break;
                }
                done.add_sent(self.tx_lens[self.tx_head] as usize);
                self.tx_head = (self.tx_head + 1) % TX_RING_SLOTS;
                self.tx_queued -= 1;
                taken = true;
            }
            if self.tx_queued == 0 {
                break;
            }
            if taken {
                // The kernel stopped for want of memory after some frames
                // (it then reports no error): try the rest once more.
                refused_last = false;
                continue;
            }
            let error =
                error.unwrap_or_else(|| io::Error::other("the kernel took no frame from the ring"));
            // A bad frame (EINVAL, EMSGSIZE) says nothing of the next one;
            // any other error twice in a row is the device's (once may be
            // an error the socket kept from an earlier event: ENETDOWN
            // after the interface went down and up again).
            let bad_frame = matches!(error.raw_os_error(), Some(libc::EINVAL | libc::EMSGSIZE));
            if refused_last && !bad_frame {
                while self.tx_queued > 0 {
                    done.add_refused(|| PortError::io(refused(), clone_error(&error)));
                    self.drop_last();
                }
                break;
            }
            done.add_refused(|| PortError::io(refused(), error));
            self.refuse_head();
            refused_last = true;
        }
        done
    }

    /// Forgets the queued frame at the head, which the kernel did not
    /// take: every later queued frame moves up one slot, the last slot is
    /// freed, and the head stays where the kernel's cursor is.
    fn refuse_head(&mut self) {
        let mut to = self.tx_head;
        for _ in 1..self.tx_queued {
            let from = (to + 1) % TX_RING_SLOTS;
            let (dst, src) = (self.tx_slot_ptr(to), self.tx_slot_ptr(from));
            let len = self.tx_lens[from] as usize;
            // SAFETY: both slots are queued and not taken by the kernel, so
            // this process's (the kernel reads them only inside send());
            // they are distinct slots of the mapping; the copy covers
            // `tp_len` and the header and frame bytes, within each slot.
            unsafe {
                std::ptr::copy_nonoverlapping(src.add(TP_LEN), dst.add(TP_LEN), 4);
                std::ptr::copy_nonoverlapping(
                    src.add(TX_DATA_OFFSET),
                    dst.add(TX_DATA_OFFSET),
                    VNET_HDR_LEN + len,
                );
            }
            self.tx_lens[to] = len as u32;
            self.status(dst)
                .store(libc::TP_STATUS_SEND_REQUEST, Ordering::Release);
            to = from;
        }
        self.status(self.tx_slot_ptr(to))
            .store(libc::TP_STATUS_AVAILABLE, Ordering::Release);
        self.tx_next = to;
        self.tx_queued -= 1;
    }

    /// Forgets the last queued frame (the ring's tail moves back); done
    /// until the queue is empty, it refuses every frame without copying.
    fn drop_last(&mut self) {
        let last = (self.tx_head + self.tx_queued - 1) % TX_RING_SLOTS;
        self.status(self.tx_slot_ptr(last))
            .store(libc::TP_STATUS_AVAILABLE, Ordering::Release);
        self.tx_next = last;
        self.tx_queued -= 1;
    }
}

/// A copy of `error` for a second report (io::Error is not Clone).
fn clone_error(error: &io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(error.kind(), error.to_string()),
    }
}

/// Sets SOL_PACKET option `option` to `value`.
pub(crate) fn set_packet_option<T>(fd: &OwnedFd, option: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: setsockopt() reads `size_of::<T>()` bytes of `value`, a
    // reference alive during the call; `fd` is an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}
