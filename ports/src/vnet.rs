//! The virtio-net header (`struct virtio_net_hdr`, virtio spec 5.1.6) that
//! a TAP opened with `IFF_VNET_HDR` (and AF_PACKET with `PACKET_VNET_HDR`)
//! puts in front of every frame: whether the L4 checksum is still to be
//! completed (NEEDS_CSUM with where to sum from and where the field is) and
//! whether the frame is a GSO super-frame (type and segment size).
//!
//! The kernel writes it in the host's byte order for TAP devices that did
//! not ask for little-endian headers (TUNSETVNETLE); every Linux host this
//! switch runs on is little-endian, so the fields are read and written as
//! native-endian, as the kernel's `tun` driver does.
//!
//! Also the frame I/O both such ports share: [`read_frames`] into a batch
//! and the [`VnetTxQueue`] they write from.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{PortError, RxBatch, TxDone, FRAME_CAPACITY, SUPER_FRAME_CAPACITY};

/// Bytes of the header without `num_buffers`: what TUNSETVNETHDRSZ sets.
pub const VNET_HDR_LEN: usize = 10;

/// `flags`: the checksum from `csum_start` to the end of the frame still
/// has to be folded into the field at `csum_start + csum_offset`.
pub const VNET_F_NEEDS_CSUM: u8 = 1;
/// `flags`: the checksum was verified (receive only; informational).
pub const VNET_F_DATA_VALID: u8 = 2;

/// `gso_type`: an ordinary frame.
pub const VNET_GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4 super-frame.
pub const VNET_GSO_TCPV4: u8 = 1;
/// `gso_type`: UDP super-frame (UFO; the kernel no longer makes them).
pub const VNET_GSO_UDP: u8 = 3;
/// `gso_type`: TCP over IPv6 super-frame.
pub const VNET_GSO_TCPV6: u8 = 4;
/// `gso_type`: UDP segmentation offload (USO), IPv4 or IPv6 (Linux 6.2).
pub const VNET_GSO_UDP_L4: u8 = 5;
/// `gso_type` bit: the super-frame carries ECN's CWR in its TCP flags.
pub const VNET_GSO_ECN: u8 = 0x80;

/// One virtio-net header, its fields as plain numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHeader {
    /// `VNET_F_*` bits.
    pub flags: u8,
    /// `VNET_GSO_*` value (with [`VNET_GSO_ECN`] possibly or-ed in).
    pub gso_type: u8,
    /// Bytes of headers in front of the payload (a hint; may be 0).
    pub hdr_len: u16,
    /// Payload bytes per segment of a super-frame.
    pub gso_size: u16,
    /// Where checksumming starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHeader {
    /// The header at the start of `bytes`, or `None` when fewer than
    /// [`VNET_HDR_LEN`] bytes are given. Any 10 bytes are a header: what
    /// the values mean is checked by whoever acts on them.
    pub fn parse(bytes: &[u8]) -> Option<VnetHeader> {
        let b: &[u8; VNET_HDR_LEN] = bytes.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHeader {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// The header's [`VNET_HDR_LEN`] bytes.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    /// True for a frame that needs nothing done: complete checksums, no
    /// segmentation.
    pub fn is_plain(&self) -> bool {
        self.flags & VNET_F_NEEDS_CSUM == 0 && self.gso_type & !VNET_GSO_ECN == VNET_GSO_NONE
    }
}

/// How many frames a [`VnetTxQueue`] holds between flushes.
pub const VNET_TX_QUEUE_FRAMES: usize = 256;

/// Bytes of one transmit slot: a super-frame with two VLAN tags pushed.
const TX_SLOT_LEN: usize = SUPER_FRAME_CAPACITY + 8;

/// One frame of a [`VnetTxQueue`].
#[derive(Clone, Copy, Default)]
struct TxEntry {
    start: u32,
    len: u32,
    vnet: VnetHeader,
}

/// The transmit queue of a port that writes each frame behind its
/// virtio-net header (TAP, AF_PACKET): frames packed one after the other
/// in a buffer allocated once, with room for [`VNET_TX_QUEUE_FRAMES`]
/// frames of [`FRAME_CAPACITY`] or fewer super-frames. A flush writes
/// every frame and empties it.
pub(crate) struct VnetTxQueue {
    buf: Box<[u8]>,
    entries: Box<[TxEntry]>,
    queued: usize,
    used: usize,
}

impl VnetTxQueue {
    pub(crate) fn new() -> VnetTxQueue {
        VnetTxQueue {
            buf: vec![0u8; VNET_TX_QUEUE_FRAMES * FRAME_CAPACITY + TX_SLOT_LEN].into_boxed_slice(),
            entries: vec![TxEntry::default(); VNET_TX_QUEUE_FRAMES].into_boxed_slice(),
            queued: 0,
            used: 0,
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// A slot of a super-frame's size, or `None` when the queue is full.
    pub(crate) fn slot(&mut self) -> Option<&mut [u8]> {
        if self.queued == VNET_TX_QUEUE_FRAMES {
            return None;
        }
        self.buf.get_mut(self.used..self.used + TX_SLOT_LEN)
    }

    /// Queues the first `len` bytes of the last slot, sent behind `vnet`.
    pub(crate) fn commit(&mut self, len: usize, vnet: VnetHeader) {
        let Some(entry) = self.entries.get_mut(self.queued) else {
            return;
        };
        let len = len.min(TX_SLOT_LEN);
        *entry = TxEntry {
            start: self.used as u32,
            len: len as u32,
            vnet,
        };
        self.queued += 1;
        self.used += len.next_multiple_of(64);
    }

    /// Writes every queued frame to `fd`, one writev() each; a failed
    /// write refuses its frame (`refused` names it in the error) and the
    /// flush goes on with the next.
    pub(crate) fn flush(&mut self, fd: &OwnedFd, refused: impl Fn() -> String) -> TxDone {
        let mut done = TxDone::default();
        let mut next = 0;
        while next < self.queued {
            let entry = self.entries[next];
            let start = entry.start as usize;
            let frame = self
                .buf
                .get(start..start + entry.len as usize)
                .unwrap_or(&[]);
            let header = entry.vnet.to_bytes();
            let iov = [
                libc::iovec {
                    iov_base: header.as_ptr() as *mut libc::c_void,
                    iov_len: header.len(),
                },
                libc::iovec {
                    iov_base: frame.as_ptr() as *mut libc::c_void,
                    iov_len: frame.len(),
                },
            ];
            // SAFETY: both iovecs point to readable buffers of the stated
            // lengths (`header`, the queued frame), alive during the call;
            // writev() does not write through them; `fd` is open.
            let n = unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                done.add_refused(|| PortError::io(refused(), err));
            } else {
                done.add_sent(frame.len());
            }
            next += 1;
        }
        self.queued = 0;
        self.used = 0;
        done
    }
}

/// Reads frames from `fd`, each behind its virtio-net header, into
/// super-frame slots of `batch` until EAGAIN, a full batch or no room for
/// another super-frame; every frame of a burst gets the time of the
/// first. Frames longer than [`SUPER_FRAME_CAPACITY`] are counted in
/// `oversize` and dropped. An error after some frames were read ends the
/// burst with those frames (the next poll meets it again); before, it is
/// returned, `failed` naming it.
pub(crate) fn read_frames(
    fd: &OwnedFd,
    batch: &mut RxBatch,
    oversize: &mut u64,
    failed: impl Fn() -> String,
) -> Result<usize, PortError> {
    let mut received = 0;
    let mut timestamp_ns = None;
    let mut header = [0u8; VNET_HDR_LEN];
    // Catches the byte past SUPER_FRAME_CAPACITY: a read that fills it
    // was of a longer frame, cut short.
    let mut overflow = [0u8; 1];
    while let Some(slot) = batch.next_super_slot() {
        let iov = [
            libc::iovec {
                iov_base: header.as_mut_ptr().cast(),
                iov_len: header.len(),
            },
            libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: slot.len(),
            },
            libc::iovec {
                iov_base: overflow.as_mut_ptr().cast(),
                iov_len: overflow.len(),
            },
        ];
        // SAFETY: every iovec points to a writable buffer of the stated
        // length (`header`, the batch slot, `overflow`), alive and not
        // otherwise borrowed during the call; `fd` is open.
        let n = unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => break,
                io::ErrorKind::Interrupted => continue,
                _ if received > 0 => break,
                _ => return Err(PortError::io(failed(), err)),
            }
        }
        let Some(len) = (n as usize).checked_sub(VNET_HDR_LEN) else {
            break;
        };
        if len == 0 {
            continue;
        }
        if len > SUPER_FRAME_CAPACITY {
            *oversize += 1;
            continue;
        }
        let vnet = VnetHeader::parse(&header).unwrap_or_default();
        batch.commit_super(len, *timestamp_ns.get_or_insert_with(now_ns), vnet);
        received += 1;
    }
    Ok(received)
}

/// Now, in nanoseconds since the Unix epoch.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_tcp_super_frame_header_reads_back() {
        let hdr = VnetHeader {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: VNET_GSO_TCPV4,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let bytes = hdr.to_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1], 1);
        assert_eq!(VnetHeader::parse(&bytes), Some(hdr));
        assert!(!hdr.is_plain());
        assert!(VnetHeader::default().is_plain());
        assert!(VnetHeader {
            flags: VNET_F_DATA_VALID,
            ..VnetHeader::default()
        }
        .is_plain());
    }

    #[test]
    fn a_short_buffer_is_no_header() {
        assert_eq!(VnetHeader::parse(&[0; VNET_HDR_LEN - 1]), None);
        assert_eq!(VnetHeader::parse(&[]), None);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic_and_round_trip(
            bytes in proptest::collection::vec(any::<u8>(), 0..32)
        ) {
            match VnetHeader::parse(&bytes) {
                Some(hdr) => prop_assert_eq!(&hdr.to_bytes()[..], &bytes[..VNET_HDR_LEN]),
                None => prop_assert!(bytes.len() < VNET_HDR_LEN),
            }
        }
    }
}
