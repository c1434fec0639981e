//! How an AF_XDP port is asked to open ([`AfXdpConfig`] and its modes)
//! and what it says it became ([`AfXdpMode`], [`AfXdpStats`]).

use std::fmt;
use std::io;

use super::socket::RingSizes;
use crate::PortError;

/// Where the XDP program should run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XdpMode {
    /// Native if the driver takes it, else generic.
    #[default]
    Auto,
    /// In the driver only; fail if the driver refuses.
    Native,
    /// On the generic (SKB) path, which every interface has; slower.
    Generic,
}

/// Whether the socket may share frame memory with the driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZeroCopy {
    /// Zero-copy if the driver supports it (native XDP only), else copy.
    #[default]
    Auto,
    /// Zero-copy or fail.
    On,
    /// Copy mode always.
    Off,
}

/// How to open an AF_XDP port. Ring sizes are entry counts and must be
/// powers of two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfXdpConfig {
    /// The interface, e.g. the host end of a container's veth.
    pub interface: String,
    /// The receive queue to bind ([`AfXdpPort::open`] only).
    pub queue_id: u32,
    /// Received-frame descriptors.
    pub rx_ring: u32,
    /// Descriptors of frames to send.
    pub tx_ring: u32,
    /// Chunks offered to the kernel for receiving; keep it twice `rx_ring`.
    pub fill_ring: u32,
    /// Chunks the kernel has finished sending.
    pub completion_ring: u32,
    /// UMEM chunks of 4096 bytes, shared between receive and transmit.
    pub frame_count: u32,
    /// Where the XDP program runs.
    pub mode: XdpMode,
    /// Whether to try zero-copy.
    pub zero_copy: ZeroCopy,
    /// Let the kernel say when it needs a system call to notice new
    /// entries (fewer system calls), instead of kicking every time.
    pub need_wakeup: bool,
}

impl AfXdpConfig {
    /// Defaults for `interface`, queue 0: rings of 2048 entries, a fill
    /// ring of 4096, 4096 frames (16 MiB), automatic modes, need-wakeup on.
    pub fn new(interface: impl Into<String>) -> AfXdpConfig {
        AfXdpConfig {
            interface: interface.into(),
            queue_id: 0,
            rx_ring: 2048,
            tx_ring: 2048,
            fill_ring: 4096,
            completion_ring: 2048,
            frame_count: 4096,
            mode: XdpMode::Auto,
            zero_copy: ZeroCopy::Auto,
            need_wakeup: true,
        }
    }

    /// Checks the sizes and splits the frames between receive and transmit.
    pub(super) fn frame_plan(&self) -> Result<FramePlan, PortError> {
        let invalid = |detail: String| {
            PortError::io(
                format!("bad AF_XDP configuration for {:?}", self.interface),
                io::Error::new(io::ErrorKind::InvalidInput, detail),
            )
        };
        for (name, size) in [
            ("rx_ring", self.rx_ring),
            ("tx_ring", self.tx_ring),
            ("fill_ring", self.fill_ring),
            ("completion_ring", self.completion_ring),
        ] {
            if !size.is_power_of_two() {
                return Err(invalid(format!(
                    "{name} is {size}: ring sizes must be powers of two"
                )));
            }
        }
        if self.frame_count < 2 {
            return Err(invalid(format!(
                "frame_count is {}: at least 2 frames are needed (one to receive, one to send)",
                self.frame_count
            )));
        }
        // Transmit chunks never outnumber the TX or completion ring slots,
        // and receive chunks never outnumber the fill ring slots, so pushing
        // a held chunk onto its ring always finds room.
        let tx_frames = (self.frame_count / 2)
            .min(self.tx_ring)
            .min(self.completion_ring);
        let rx_frames = (self.frame_count - tx_frames).min(self.fill_ring);
        Ok(FramePlan {
            rx_frames,
            tx_frames,
            rings: RingSizes {
                rx: self.rx_ring,
                tx: self.tx_ring,
                fill: self.fill_ring,
                completion: self.completion_ring,
            },
        })
    }
}

/// How a port's UMEM chunks are used: `0..rx_frames` receive, the next
/// `tx_frames` transmit.
#[derive(Clone, Copy, Debug)]
pub(super) struct FramePlan {
    pub(super) rx_frames: u32,
    pub(super) tx_frames: u32,
    pub(super) rings: RingSizes,
}

/// Where the attached XDP program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (XDP_FLAGS_DRV_MODE).
    Native,
    /// On the generic SKB path (XDP_FLAGS_SKB_MODE).
    Generic,
}

impl fmt::Display for AttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        })
    }
}

/// The modes a port ended up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfXdpMode {
    /// Where the XDP program runs.
    pub attach: AttachMode,
    /// True in zero-copy mode, false in copy mode.
    pub zero_copy: bool,
    /// True when frames with partial checksums go out with a TX-metadata
    /// checksum request ([`crate::TxOffloads::Checksum`]); false in zero-copy
    /// mode and on kernels without TX metadata (before 6.8), where the
    /// switch completes checksums itself.
    pub tx_checksum: bool,
}

impl fmt::Display for AfXdpMode {
    /// "native XDP, copy, TX checksum offload", "native XDP, zero-copy",
    /// "generic XDP, copy, no TX metadata (kernel before 6.8)", ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let copy = if self.zero_copy { "zero-copy" } else { "copy" };
        write!(f, "{} XDP, {copy}", self.attach)?;
        match (self.tx_checksum, self.zero_copy) {
            (true, _) => f.write_str(", TX checksum offload"),
            (false, true) => Ok(()),
            (false, false) => f.write_str(", no TX metadata (kernel before 6.8)"),
        }
    }
}

/// Counters of one port: frames moved here, and the kernel's drops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AfXdpStats {
    /// Frames received into a batch.
    pub rx_frames: u64,
    /// Frames queued for sending.
    pub tx_frames: u64,
    /// Frames the kernel took from the TX ring (their chunks completed).
    pub tx_completed: u64,
    /// Frames not queued: committed with length 0 or beyond the slot.
    pub tx_refused: u64,
    /// Frames the kernel dropped for other reasons (e.g. too big for a chunk).
    pub rx_dropped: u64,
    /// Frames the kernel dropped because the RX ring was full: the worker
    /// polls too slowly.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Bad descriptors on the RX ring (kernel count plus those seen here).
    pub rx_invalid_descs: u64,
    /// Bad descriptors the kernel found on the TX ring.
    pub tx_invalid_descs: u64,
}
