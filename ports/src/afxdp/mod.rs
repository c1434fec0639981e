//! AF_XDP ports: frames of any Linux interface (a container's veth, a
//! physical NIC) straight from the driver into this process, without
//! libbpf.
//!
//! # How it works
//!
//! [`AfXdpPort::open`] loads a six-instruction XDP program that redirects
//! every frame to the AF_XDP socket registered for its receive queue in an
//! XSKMAP (`bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)`: frames
//! of a queue without a socket go on to the kernel's stack). The program is
//! loaded and attached with the bpf() system call only (BPF_MAP_CREATE,
//! BPF_PROG_LOAD, BPF_MAP_UPDATE_ELEM, BPF_LINK_CREATE). Attaching through
//! a BPF link, not netlink, means the kernel detaches the program by itself
//! when the process exits or is killed; the interface is never left captured.
//!
//! Each port is one socket on one queue, with its own UMEM of
//! [`AfXdpConfig::frame_count`] chunks of 4096 bytes ([`crate::FRAME_CAPACITY`]).
//! Half the chunks (at most the TX and completion ring sizes) serve
//! transmit; the rest (at most the fill ring size) receive.
//!
//! - `rx_burst` copies each received frame into the worker's [`RxBatch`] and
//!   gives its chunk back to the fill ring at once, so every free chunk is
//!   refilled on every call. Copying 64 to 1500 bytes is cheap next to what
//!   the kernel spends per frame on a veth. It makes a system call only when
//!   the fill ring's need-wakeup flag asks for one (zero-copy drivers).
//! - `tx_slot` lends a free chunk (after its TX metadata area, when the
//!   UMEM has one), `tx_commit` puts its descriptor on the TX ring,
//!   `tx_flush` publishes the ring and kicks the kernel with one `sendto`.
//!   In copy mode the kernel moves at most 32 frames per call, so the kick
//!   is repeated, bounded, while it makes progress. Sent chunks come back
//!   through the completion ring, reaped on flush and when no chunk is
//!   free.
//! - A frame is sent when its chunk comes back on the completion ring: the
//!   kernel took the descriptor. Completions can come after the kick that
//!   moved the frame, so a flush reports those reaped since the previous
//!   one, with their exact lengths (kept per chunk), and counts the frames
//!   still on the rings as in flight. A kick that fails leaves the frames
//!   on the TX ring for the next one: EAGAIN, EBUSY and ENOBUFS (a busy
//!   device) silently, other errors (ENETDOWN with the interface down) in
//!   the flush's error; they are sent when a later kick succeeds.
//!
//! No allocation and no system call per frame: at most one kick per burst
//! (plus the 32-frame repeats of copy mode).
//!
//! # Supported
//!
//! - Native (driver) XDP, falling back to generic (SKB) XDP when the driver
//!   refuses native mode ([`XdpMode`]). Native XDP on veth refuses MTUs above
//!   about 3.5 KB; `Auto` then uses generic mode.
//! - Zero-copy where the driver supports it, else copy mode ([`ZeroCopy`]).
//!   veth has no zero-copy: it always runs in copy mode.
//! - need-wakeup (`XDP_USE_NEED_WAKEUP`, on by default).
//! - Blocking in epoll (a worker's adaptive idle): the socket's descriptor
//!   is readable while the RX ring holds frames ([`Port::wakeup`]), and
//!   [`Port::prepare_wait`] refills the fill ring and kicks the driver when
//!   its need-wakeup flag is set, so that a zero-copy driver keeps
//!   receiving while the worker sleeps. In copy mode (veth) the kernel
//!   never sets that flag on the fill ring; frames reach the RX ring from
//!   the receive path and wake the socket's waiters.
//! - Several queues of one interface: [`AfXdpPort::open_queues`] opens one
//!   port per queue, all sharing one program and XSKMAP attachment that
//!   stays attached while any of them lives. Opening queues of the same
//!   interface with separate `open` calls fails with [`PortError::InUse`]:
//!   an interface takes one XDP program.
//! - TX checksum offload (module `txmd`): the UMEM is registered with TX
//!   metadata where the kernel takes it (6.8 and later; else without, as
//!   before, and [`AfXdpMode`] says so). In copy mode the port then takes
//!   frames with a partial checksum ([`TxOffloads::Checksum`]): each goes
//!   with `XDP_TX_METADATA` in its descriptor and a checksum request in
//!   the 24 bytes in front of it, which every TX frame leaves free (its
//!   slot is 4072 bytes). The kernel builds a `CHECKSUM_PARTIAL` skb, so
//!   the switch does not sum the payload of frames it forwards from
//!   containers that offload checksums. Zero-copy sockets do not offer
//!   it: a driver without the `tx-checksum` XSK feature ignores the
//!   request, and that feature is not queried.
//! - Ring sizes: any power of two the kernel accepts (default 2048 entries,
//!   fill ring 4096: twice the RX ring, or frames are dropped as
//!   `rx_fill_ring_empty_descs`).
//!
//! # Not supported
//!
//! - Moving a descriptor from one port's RX ring to another's TX ring
//!   without a copy (it needs one UMEM shared by the ports of a worker);
//!   every received frame is copied once into the [`RxBatch`].
//! - Multi-buffer (`XDP_USE_SG`) and jumbo frames: a frame must fit one
//!   chunk (4096 bytes less the kernel's 256-byte headroom on receive).
//! - Receive timestamps (frames carry 0), and TX metadata other than
//!   checksum offload (timestamps, launch time).
//!
//! # Rings
//!
//! The rings are written here over `libc` (module `ring`), not taken from a
//! crate: the four rings are about 200 lines with Acquire/Release atomics,
//! libc already defines every AF_XDP struct and constant, and the candidate
//! crates did not fit (`xdpilone` is EUPL-1.2 licensed and pulls in `spin`;
//! `afxdp` needs libbpf 0.3 and attaches through netlink).
//!
//! # Privileges
//!
//! Root, or CAP_NET_ADMIN, CAP_BPF, CAP_NET_RAW and CAP_IPC_LOCK. Raising
//! RLIMIT_MEMLOCK is not attempted: it needs CAP_SYS_RESOURCE, and
//! CAP_IPC_LOCK makes it unnecessary.

mod bpf;
mod config;
mod errors;
pub(crate) mod mmap;
mod ring;
mod socket;
mod txmd;
mod umem;

use std::io;
use std::sync::Arc;

use bpf::XdpAttachment;
use config::FramePlan;
pub use config::{AfXdpConfig, AfXdpMode, AfXdpStats, AttachMode, XdpMode, ZeroCopy};
use errors::setup_error;
use socket::XskSocket;
use txmd::{checksum_fits, write_checksum_request, TX_METADATA_LEN};
use umem::{FrameStack, Umem, CHUNK_SIZE};

use crate::vnet::{VNET_F_NEEDS_CSUM, VNET_GSO_NONE};
use crate::{Port, PortError, RxBatch, TxDone, TxOffloads, VnetHeader, Wakeup};

/// One queue of one interface as a [`Port`]. Its [`Port::name`] is the
/// interface's name, the same for every queue; [`AfXdpPort::queue_id`] tells
/// them apart.
///
/// Fields drop in declaration order: the socket (rings, then descriptor),
/// then the UMEM it used, then this port's share of the XDP attachment
/// (the last share detaches the link, then closes the program and map).
pub struct AfXdpPort {
    socket: XskSocket,
    umem: Umem,
    attachment: Arc<XdpAttachment>,
    interface: String,
    queue_id: u32,
    zero_copy: bool,
    need_wakeup: bool,
    /// Where a frame starts in its TX chunk: after the TX metadata area
    /// when the UMEM has one (the kernel looks for it there).
    tx_headroom: usize,
    /// Frames with partial checksums are taken ([`TxOffloads::Checksum`]).
    tx_checksum: bool,
    /// Receive chunks held here, waiting for room on the fill ring.
    rx_free: FrameStack,
    /// Transmit chunks free to lend.
    tx_free: FrameStack,
    /// The chunk lent by `tx_slot` and not yet committed.
    tx_lent: Option<u64>,
    /// The address of the first transmit chunk.
    tx_base: u64,
    /// The length of the frame last committed in each transmit chunk, by
    /// chunk index from `tx_base`: completions carry only the address.
    tx_lens: Box<[u32]>,
    /// Frames on the TX ring or in the kernel, not yet completed.
    tx_in_flight: u32,
    /// Frames the device dropped after the kernel took them (copy mode),
    /// whose completions are still to come: they count as refused.
    tx_device_dropped: u32,
    /// What became of frames since the last flush.
    tx_done: TxDone,
    rx_frames: u64,
    rx_bad_descs: u64,
    tx_frames: u64,
    tx_completed: u64,
    tx_refused: u64,
}

impl AfXdpPort {
    /// Opens queue `config.queue_id` of `config.interface`: attaches the
    /// XDP program, binds a socket and fills the fill ring. Nothing stays
    /// attached on error.
    pub fn open(config: &AfXdpConfig) -> Result<AfXdpPort, PortError> {
        let (plan, ifindex, attachment) = attach(config, config.queue_id)?;
        AfXdpPort::open_queue(config, &plan, ifindex, config.queue_id, attachment)
    }

    /// Opens one port per queue in `queue_ids` (`config.queue_id` is not
    /// used), sharing one XDP program and XSKMAP: the program stays attached
    /// while any of the ports lives. Nothing stays attached on error.
    pub fn open_queues(
        config: &AfXdpConfig,
        queue_ids: &[u32],
    ) -> Result<Vec<AfXdpPort>, PortError> {
        let Some(&highest_queue) = queue_ids.iter().max() else {
            return Err(PortError::io(
                format!("cannot open AF_XDP ports on {:?}", config.interface),
                io::Error::new(io::ErrorKind::InvalidInput, "no queue was given"),
            ));
        };
        let (plan, ifindex, attachment) = attach(config, highest_queue)?;
        queue_ids
            .iter()
            .map(|&queue_id| {
                AfXdpPort::open_queue(config, &plan, ifindex, queue_id, Arc::clone(&attachment))
            })
            .collect()
    }

    /// Binds a socket to `queue_id` and registers it with `attachment`.
    fn open_queue(
        config: &AfXdpConfig,
        plan: &FramePlan,
        ifindex: u32,
        queue_id: u32,
        attachment: Arc<XdpAttachment>,
    ) -> Result<AfXdpPort, PortError> {
        let interface = config.interface.as_str();
        let umem = Umem::new(plan.rx_frames + plan.tx_frames).map_err(|e| {
            PortError::io(
                format!(
                    "cannot allocate {} frames of UMEM for {interface:?}",
                    plan.rx_frames + plan.tx_frames
                ),
                e,
            )
        })?;
        let bind = |zero_copy: bool| {
            let mut flags = if zero_copy {
                libc::XDP_ZEROCOPY
            } else {
                libc::XDP_COPY
            };
            if config.need_wakeup {
                flags |= libc::XDP_USE_NEED_WAKEUP;
            }
            XskSocket::open(ifindex, queue_id, &umem, plan.rings, flags)
                .map_err(|e| setup_error(interface, queue_id, umem.size(), zero_copy, e))
        };
        // Zero-copy needs the driver's own XDP support, so only native
        // attachments try it.
        let socket = match (config.zero_copy, attachment.mode()) {
            (ZeroCopy::Off, _) | (ZeroCopy::Auto, AttachMode::Generic) => bind(false)?,
            (ZeroCopy::On, AttachMode::Native) => bind(true)?,
            // A refused zero-copy bind is retried in copy mode on a new
            // socket; busy and permission errors would only repeat.
            (ZeroCopy::Auto, AttachMode::Native) => match bind(true) {
                Ok(socket) => socket,
                Err(e @ (PortError::InUse { .. } | PortError::Permission { .. })) => return Err(e),
                Err(_) => bind(false)?,
            },
            (ZeroCopy::On, AttachMode::Generic) => {
                return Err(PortError::io(
                    format!("cannot use zero-copy on {interface:?}"),
                    io::Error::new(
                        io::ErrorKind::Unsupported,
                        "zero-copy needs native XDP, which the driver refused \
                         (set zero_copy to auto or off)",
                    ),
                ))
            }
        };
        let zero_copy = socket.is_zero_copy().map_err(|e| {
            PortError::io(
                format!("cannot read the AF_XDP options of queue {queue_id} of {interface:?}"),
                e,
            )
        })?;
        attachment.register_socket(queue_id, socket.raw_fd())?;
        let tx_headroom = if socket.tx_metadata {
            TX_METADATA_LEN
        } else {
            0
        };
        let tx_checksum = socket.tx_metadata && !zero_copy;
        let mut port = AfXdpPort {
            socket,
            umem,
            attachment,
            interface: interface.to_string(),
            queue_id,
            zero_copy,
            need_wakeup: config.need_wakeup,
            tx_headroom,
            tx_checksum,
            rx_free: FrameStack::with_chunks(0, plan.rx_frames),
            tx_free: FrameStack::with_chunks(plan.rx_frames, plan.tx_frames),
            tx_lent: None,
            tx_base: Umem::chunk_addr(plan.rx_frames),
            tx_lens: vec![0; plan.tx_frames as usize].into_boxed_slice(),
            tx_in_flight: 0,
            tx_device_dropped: 0,
            tx_done: TxDone::default(),
            rx_frames: 0,
            rx_bad_descs: 0,
            tx_frames: 0,
            tx_completed: 0,
            tx_refused: 0,
        };
        port.refill();
        Ok(port)
    }

    /// The interface this port is bound to.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The queue this port is bound to.
    pub fn queue_id(&self) -> u32 {
        self.queue_id
    }

    /// The modes in use; its `Display` reads e.g. "native XDP, copy".
    pub fn mode(&self) -> AfXdpMode {
        AfXdpMode {
            attach: self.attachment.mode(),
            zero_copy: self.zero_copy,
            tx_checksum: self.tx_checksum,
        }
    }

    /// This port's counters, with the kernel's drop counts (one system
    /// call).
    pub fn stats(&self) -> Result<AfXdpStats, PortError> {
        let kernel = self.socket.statistics().map_err(|e| {
            PortError::io(
                format!(
                    "cannot read AF_XDP statistics of queue {} of {:?}",
                    self.queue_id, self.interface
                ),
                e,
            )
        })?;
        Ok(AfXdpStats {
            rx_frames: self.rx_frames,
            tx_frames: self.tx_frames,
            tx_completed: self.tx_completed,
            tx_refused: self.tx_refused,
            rx_dropped: kernel.rx_dropped,
            rx_ring_full: kernel.rx_ring_full,
            rx_fill_ring_empty_descs: kernel.rx_fill_ring_empty_descs,
            rx_invalid_descs: kernel.rx_invalid_descs + self.rx_bad_descs,
            tx_invalid_descs: kernel.tx_invalid_descs,
        })
    }

    /// Offers every held receive chunk to the kernel.
    fn refill(&mut self) {
        while let Some(chunk) = self.rx_free.pop() {
            if !self.socket.fill.push(chunk) {
                self.rx_free.push(chunk);
                break;
            }
        }
        self.socket.fill.publish();
    }

    /// The slot of `chunk` in `tx_lens`, or `None` for a receive chunk.
    fn tx_index(&self, chunk: u64) -> Option<usize> {
        let offset = chunk.checked_sub(self.tx_base)?;
        Some((offset / CHUNK_SIZE as u64) as usize)
    }

    /// Takes back the chunks the kernel has finished sending, counting
    /// their frames as sent.
    fn reap_completions(&mut self) {
        let done = self.socket.completion.available(u32::MAX);
        for i in 0..done {
            let addr = self.socket.completion.get(i);
            let Some(chunk) = self.umem.chunk_of(addr) else {
                continue;
            };
            if let Some(&len) = self.tx_index(chunk).and_then(|i| self.tx_lens.get(i)) {
                if self.tx_device_dropped > 0 {
                    // Completions come in order of sending, so which frame
                    // was dropped is not known; how many is.
                    self.tx_device_dropped -= 1;
                    let (queue, interface) = (self.queue_id, &self.interface);
                    self.tx_done.add_refused(|| {
                        PortError::io(
                            format!(
                                "AF_XDP queue {queue} of {interface:?}: the device dropped a frame \
                                 (no carrier: is a veth's peer down?)"
                            ),
                            io::Error::from_raw_os_error(libc::EBUSY),
                        )
                    });
                } else {
                    self.tx_done.add_sent(len as usize);
                }
                self.tx_in_flight = self.tx_in_flight.saturating_sub(1);
                self.tx_completed += 1;
            }
            self.tx_free.push(chunk);
        }
        self.socket.completion.release(done);
    }

    /// Puts the frame of `len` bytes in TX chunk `chunk` on the TX ring
    /// with descriptor `options`, or refuses it.
    fn queue_tx(&mut self, chunk: u64, len: usize, options: u32) {
        let room = CHUNK_SIZE - self.tx_headroom;
        let desc = libc::xdp_desc {
            addr: chunk + self.tx_headroom as u64,
            len: len as u32,
            options,
        };
        let len_slot = self.tx_index(chunk).and_then(|i| self.tx_lens.get_mut(i));
        match len_slot {
            Some(len_slot) if len > 0 && len <= room && self.socket.tx.push(desc) => {
                *len_slot = len as u32;
                self.tx_in_flight += 1;
                self.tx_frames += 1;
            }
            _ => self.refuse_tx(chunk, || {
                format!("a frame of {len} bytes (1 to {room} fit a chunk), or a full TX ring")
            }),
        }
    }

    /// Takes back TX chunk `chunk` unsent and counts its frame as refused
    /// for `detail`.
    fn refuse_tx(&mut self, chunk: u64, detail: impl FnOnce() -> String) {
        self.tx_free.push(chunk);
        self.tx_refused += 1;
        let (queue_id, interface) = (self.queue_id, &self.interface);
        self.tx_done.add_refused(|| {
            PortError::io(
                format!("cannot send on AF_XDP queue {queue_id} of {interface:?}"),
                io::Error::new(io::ErrorKind::InvalidInput, detail()),
            )
        });
    }

    /// Kicks the kernel until it has taken every published TX descriptor,
    /// while each kick makes progress (copy mode moves 32 per kick).
    fn kick_tx(&mut self) -> Result<(), PortError> {
        let mut waiting = self.socket.tx.unconsumed();
        if waiting == 0 || (self.need_wakeup && !self.socket.tx.needs_wakeup()) {
            return Ok(());
        }
        let max_kicks = waiting / 32 + 2;
        for _ in 0..max_kicks {
            let kicked = self.socket.kick_tx();
            let left = self.socket.tx.unconsumed();
            if let Err(e) = kicked {
                // In copy mode EBUSY says the device dropped the frame the
                // kernel just took (NET_XMIT_DROP: no carrier, a veth
                // whose peer is down); its completion still comes.
                if !self.zero_copy && e.raw_os_error() == Some(libc::EBUSY) {
                    self.tx_device_dropped += 1;
                }
                // Full device queue, a dropped frame or memory pressure:
                // the frames stay on the ring for the next flush.
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::EINTR)
                ) {
                    return Err(PortError::io(
                        format!(
                            "cannot send on AF_XDP queue {} of {:?} ({left} frame(s) wait \
                             on the TX ring; is the interface up?)",
                            self.queue_id, self.interface
                        ),
                        e,
                    ));
                }
            }
            // Zero-copy drivers send asynchronously after one kick.
            if left == 0 || left == waiting || self.zero_copy {
                break;
            }
            waiting = left;
        }
        Ok(())
    }
}

impl Port for AfXdpPort {
    fn name(&self) -> &str {
        &self.interface
    }

    fn rx_burst(&mut self, batch: &mut RxBatch) -> Result<usize, PortError> {
        let want = u32::try_from(batch.free()).unwrap_or(u32::MAX);
        let ready = self.socket.rx.available(want);
        let mut received = 0;
        for i in 0..ready {
            let desc = self.socket.rx.get(i);
            match self.umem.frame(desc.addr, desc.len) {
                Some(frame) if batch.push(frame, 0) => received += 1,
                _ => self.rx_bad_descs += 1,
            }
            if let Some(chunk) = self.umem.chunk_of(desc.addr) {
                self.rx_free.push(chunk);
            }
        }
        self.socket.rx.release(ready);
        self.rx_frames += received as u64;
        self.refill();
        if self.need_wakeup && self.socket.fill.needs_wakeup() {
            if let Err(e) = self.socket.kick_rx() {
                if !matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::EBUSY | libc::EINTR)
                ) {
                    return Err(PortError::io(
                        format!(
                            "cannot wake AF_XDP receive on queue {} of {:?}",
                            self.queue_id, self.interface
                        ),
                        e,
                    ));
                }
            }
        }
        Ok(received)
    }

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        let chunk = match self.tx_lent {
            Some(chunk) => chunk,
            None => {
                if self.tx_free.is_empty() {
                    self.reap_completions();
                }
                let chunk = self.tx_free.pop()?;
                self.tx_lent = Some(chunk);
                chunk
            }
        };
        let headroom = self.tx_headroom;
        self.umem.chunk_mut(chunk)?.get_mut(headroom..)
    }

    fn tx_commit(&mut self, len: usize, _timestamp_ns: u64) {
        if let Some(chunk) = self.tx_lent.take() {
            self.queue_tx(chunk, len, 0);
        }
    }

    fn tx_offloads(&self) -> TxOffloads {
        if self.tx_checksum {
            TxOffloads::Checksum
        } else {
            TxOffloads::None
        }
    }

    /// A frame with a partial checksum goes with a checksum request in
    /// the metadata area in front of it. One the kernel would refuse (a
    /// checksum field outside the frame, a super-frame, no metadata) is
    /// refused here, never queued: the kernel would leave it at the head
    /// of the TX ring.
    fn tx_commit_offloaded(&mut self, len: usize, timestamp_ns: u64, vnet: VnetHeader) {
        if vnet.flags & VNET_F_NEEDS_CSUM == 0 && vnet.gso_type == VNET_GSO_NONE {
            return self.tx_commit(len, timestamp_ns);
        }
        let Some(chunk) = self.tx_lent.take() else {
            return;
        };
        let (start, offset) = (vnet.csum_start, vnet.csum_offset);
        let takes = self.tx_checksum
            && vnet.flags & VNET_F_NEEDS_CSUM != 0
            && vnet.gso_type == VNET_GSO_NONE
            && checksum_fits(len, start, offset);
        let area = self
            .umem
            .chunk_mut(chunk)
            .and_then(|chunk| chunk.first_chunk_mut::<TX_METADATA_LEN>());
        match area {
            Some(area) if takes => {
                write_checksum_request(area, start, offset);
                self.queue_tx(chunk, len, libc::XDP_TX_METADATA);
            }
            _ => self.refuse_tx(chunk, || {
                format!(
                    "a frame of {len} bytes with offload state {vnet:?} it cannot take \
                     (a partial checksum inside the frame, with TX metadata, in copy mode)"
                )
            }),
        }
    }

    fn tx_flush(&mut self) -> TxDone {
        self.socket.tx.publish();
        if let Err(e) = self.kick_tx() {
            self.tx_done.error.get_or_insert(e);
        }
        self.reap_completions();
        self.tx_done.in_flight = self.tx_in_flight;
        std::mem::take(&mut self.tx_done)
    }

    /// The socket is readable (EPOLLIN) while its RX ring holds frames:
    /// the kernel wakes its waiters when it puts frames there.
    fn wakeup(&self) -> Wakeup {
        Wakeup::Fd(self.socket.raw_fd())
    }

    /// Gives every free chunk to the fill ring, and, when the fill ring's
    /// need-wakeup flag asks for it (zero-copy drivers with
    /// `XDP_USE_NEED_WAKEUP`), kicks the driver so that it keeps
    /// receiving into them while the worker is blocked: without the kick a
    /// driver that stopped for lack of buffers would never make the socket
    /// readable. In copy mode the kernel never sets that flag and frames
    /// reach the RX ring from the veth's or the stack's receive path.
    fn prepare_wait(&mut self) -> bool {
        self.refill();
        if self.need_wakeup && self.socket.fill.needs_wakeup() {
            let _ = self.socket.kick_rx();
        }
        self.socket.rx.available(1) > 0
    }

    fn device_drops(&self, report: &mut dyn FnMut(&'static str, u64)) {
        if let Ok(s) = self.stats() {
            report("afxdp_rx_dropped", s.rx_dropped);
            report("afxdp_rx_ring_full", s.rx_ring_full);
            report("afxdp_rx_fill_ring_empty", s.rx_fill_ring_empty_descs);
            report("afxdp_rx_invalid_descs", s.rx_invalid_descs);
            report("afxdp_tx_invalid_descs", s.tx_invalid_descs);
        }
    }
}

/// Checks `config`, finds the interface and attaches the XDP program with
/// an XSKMAP for queues `0..=highest_queue`.
fn attach(
    config: &AfXdpConfig,
    highest_queue: u32,
) -> Result<(FramePlan, u32, Arc<XdpAttachment>), PortError> {
    let plan = config.frame_plan()?;
    let interface = config.interface.as_str();
    let ifindex = interface_index(interface)?;
    // The kernel's own answer to a missing queue is a bare EINVAL from
    // bind; say which queues exist instead, when sysfs shows them.
    if let Ok(count) = queue_count(interface) {
        if highest_queue >= count {
            return Err(PortError::io(
                format!("cannot open AF_XDP queue {highest_queue} of {interface:?}"),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{interface} has {count} queue(s), numbered from 0 \
                         (`ethtool -l {interface}`; `ethtool -L {interface} combined N` \
                         adds queues where the driver allows)"
                    ),
                ),
            ));
        }
    }
    let attachment = XdpAttachment::attach(
        interface,
        ifindex,
        highest_queue.saturating_add(1),
        config.mode,
    )?;
    Ok((plan, ifindex, Arc::new(attachment)))
}

/// The number of queues of `interface` that an AF_XDP socket can bind (the
/// smaller of its RX and TX queue counts), from sysfs: the count to pass to
/// [`AfXdpPort::open_queues`] to open them all.
pub fn queue_count(interface: &str) -> Result<u32, PortError> {
    let dir = format!("/sys/class/net/{interface}/queues");
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            PortError::NoSuchInterface {
                name: interface.to_string(),
            }
        } else {
            PortError::io(
                format!("cannot list the queues of {interface:?} ({dir})"),
                e,
            )
        }
    })?;
    let (mut rx, mut tx) = (0u32, 0u32);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("rx-") {
            rx += 1;
        } else if name.starts_with("tx-") {
            tx += 1;
        }
    }
    Ok(rx.min(tx))
}

fn interface_index(interface: &str) -> Result<u32, PortError> {
    let missing = || PortError::NoSuchInterface {
        name: interface.to_string(),
    };
    let name = std::ffi::CString::new(interface).map_err(|_| missing())?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(missing());
    }
    Ok(index)
}

#[cfg(test)]
mod tests;
