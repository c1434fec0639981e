//! Bursts of frames through the pipeline and out of their ports: the step
//! the daemon's workers and offline replay share, so a replay test
//! exercises the code that runs live.

use vswitch_pipeline::burst::{BurstRunner, MAX_BURST};
use vswitch_pipeline::context::{ChecksumState, GsoType, Offload};
use vswitch_pipeline::egress::TxOffload;
use vswitch_pipeline::trace::TraceSink;
use vswitch_pipeline::{Datapath, DropReason, PortId, Stats, TxSink};
use vswitch_ports::vnet::{
    VnetHeader, VNET_F_NEEDS_CSUM, VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_TCPV6,
    VNET_GSO_UDP, VNET_GSO_UDP_L4,
};
use vswitch_ports::{Port, PortError, RxBatch, TxDone, TxOffloads, FRAME_CAPACITY};

/// The ports a worker transmits on, indexed by [`PortId`] (`None` for ids
/// no port has), and which of them have frames queued or in flight since
/// the last [`TxPorts::flush`].
pub struct TxPorts {
    ports: Vec<Option<Box<dyn Port>>>,
    pending: Vec<PortId>,
    has_pending: Vec<bool>,
    /// By port id: the port is down ([`TxPorts::mark_down`]), its frames
    /// are [`DropReason::PortDown`] drops.
    down: Vec<bool>,
}

/// What stands in for a port that is down: it takes frames (so the
/// pipeline's egress path stays as it is) and refuses every one at the
/// flush, where [`TxPorts`] counts them as [`DropReason::PortDown`].
struct DownPort {
    name: String,
    scratch: Box<[u8]>,
    refused: u64,
}

impl Port for DownPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, _batch: &mut RxBatch) -> Result<usize, PortError> {
        Ok(0)
    }

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        Some(&mut self.scratch)
    }

    fn tx_commit(&mut self, _len: usize, _timestamp_ns: u64) {
        self.refused += 1;
    }

    fn tx_flush(&mut self) -> TxDone {
        TxDone {
            refused: std::mem::take(&mut self.refused),
            ..TxDone::default()
        }
    }

    fn wakeup(&self) -> vswitch_ports::Wakeup {
        vswitch_ports::Wakeup::Never
    }
}

impl TxPorts {
    /// Wraps `ports`; index = port id.
    pub fn new(ports: Vec<Option<Box<dyn Port>>>) -> TxPorts {
        let n = ports.len();
        TxPorts {
            ports,
            pending: Vec::with_capacity(n),
            has_pending: vec![false; n],
            down: vec![false; n],
        }
    }

    /// Port `id`.
    pub fn get_mut(&mut self, id: PortId) -> Option<&mut (dyn Port + 'static)> {
        self.ports
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .map(|p| p.as_mut())
    }

    /// Port `id`, to read.
    pub fn get(&self, id: PortId) -> Option<&dyn Port> {
        self.ports
            .get(id as usize)
            .and_then(Option::as_ref)
            .map(|p| p.as_ref())
    }

    /// Puts `port` at `id` (growing the table), returning what was there.
    /// The port is up.
    pub fn insert(&mut self, id: PortId, port: Box<dyn Port>) -> Option<Box<dyn Port>> {
        let i = id as usize;
        if self.ports.len() <= i {
            self.ports.resize_with(i + 1, || None);
            self.has_pending.resize(i + 1, false);
            self.down.resize(i + 1, false);
        }
        self.down[i] = false;
        self.ports[i].replace(port)
    }

    /// Takes the port at `id` out.
    pub fn remove(&mut self, id: PortId) -> Option<Box<dyn Port>> {
        if let Some(down) = self.down.get_mut(id as usize) {
            *down = false;
        }
        self.ports.get_mut(id as usize).and_then(Option::take)
    }

    /// Marks port `id` down: its handle is replaced by one that drops
    /// every frame as [`DropReason::PortDown`] (never counted as sent),
    /// and returned for closing. [`TxPorts::insert`] brings it up again.
    pub fn mark_down(&mut self, id: PortId) -> Option<Box<dyn Port>> {
        let name = self.get(id)?.name().to_string();
        let old = self.insert(
            id,
            Box::new(DownPort {
                name,
                scratch: vec![0u8; FRAME_CAPACITY].into_boxed_slice(),
                refused: 0,
            }),
        );
        self.down[id as usize] = true;
        old
    }

    /// Calls `f` with every port and its id.
    pub fn for_each(&self, mut f: impl FnMut(PortId, &dyn Port)) {
        for (id, port) in self.ports.iter().enumerate() {
            if let Some(port) = port {
                f(id as PortId, port.as_ref());
            }
        }
    }

    /// Gives the ports back, with their ids.
    pub fn into_inner(self) -> Vec<(PortId, Box<dyn Port>)> {
        self.ports
            .into_iter()
            .enumerate()
            .filter_map(|(id, p)| Some((id as PortId, p?)))
            .collect()
    }

    /// Queues `frame`, already edited for `out` by the worker that
    /// forwarded it, without counting it again as sent.
    pub fn send_prepared(&mut self, out: PortId, frame: &[u8], stats: &mut Stats) {
        let Some(slot) = TxSink::slot(self, out) else {
            stats.drop(out, DropReason::TxQueueFull);
            return;
        };
        match slot.get_mut(..frame.len()) {
            Some(dst) => {
                dst.copy_from_slice(frame);
                self.queue(out, frame.len(), 0);
            }
            None => stats.drop(out, DropReason::TxFrameTooLong),
        }
    }

    #[inline(always)]
    fn queue(&mut self, out: PortId, len: usize, timestamp_ns: u64) {
        if let Some(Some(port)) = self.ports.get_mut(out as usize) {
            port.tx_commit(len, timestamp_ns);
            self.mark_pending(out);
        }
    }

    #[inline(always)]
    fn mark_pending(&mut self, out: PortId) {
        if let Some(flag) = self.has_pending.get_mut(out as usize) {
            if !*flag {
                *flag = true;
                self.pending.push(out);
            }
        }
    }

    /// Hands queued frames to every port that has some (one kick per
    /// port per batch) and counts what each port reports: frames sent as
    /// tx, refused ones as `tx_error` drops, per frame. Ports with frames
    /// still in flight stay pending, so later flushes collect them.
    pub fn flush(&mut self, stats: &mut Stats) {
        let mut still_pending = 0;
        for i in 0..self.pending.len() {
            let out = self.pending[i];
            let in_flight = match self.ports.get_mut(out as usize) {
                Some(Some(port)) => {
                    let done = port.tx_flush();
                    if self.down.get(out as usize) == Some(&true) {
                        if let Some(counters) = stats.ports.get_mut(out as usize) {
                            counters.drops[DropReason::PortDown as usize] += done.refused;
                        }
                    } else {
                        count_tx_done(stats, out, &done);
                    }
                    done.in_flight
                }
                _ => 0,
            };
            if in_flight > 0 {
                self.pending[still_pending] = out;
                still_pending += 1;
            } else if let Some(flag) = self.has_pending.get_mut(out as usize) {
                *flag = false;
            }
        }
        self.pending.truncate(still_pending);
    }
}

impl TxPorts {
    /// True while some port has frames queued or in flight.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Counts what a flush of port `out` reported: the frames sent, and each
/// refused frame as a [`DropReason::TxError`] drop.
pub fn count_tx_done(stats: &mut Stats, out: PortId, done: &TxDone) {
    if let Some(counters) = stats.ports.get_mut(out as usize) {
        counters.tx_packets += done.sent;
        counters.tx_bytes += done.sent_bytes;
        counters.drops[DropReason::TxError as usize] += done.refused;
    }
}

impl TxSink for TxPorts {
    #[inline(always)]
    fn slot(&mut self, port: PortId) -> Option<&mut [u8]> {
        self.ports.get_mut(port as usize)?.as_mut()?.tx_slot()
    }

    #[inline(always)]
    fn commit(&mut self, port: PortId, len: usize, timestamp_ns: u64) {
        self.queue(port, len, timestamp_ns);
    }

    fn tx_offload(&self, port: PortId) -> TxOffload {
        match self.get(port).map(|p| p.tx_offloads()) {
            Some(TxOffloads::ChecksumAndGso) => TxOffload::ChecksumAndGso,
            Some(TxOffloads::Checksum) => TxOffload::Checksum,
            Some(TxOffloads::None) | None => TxOffload::None,
        }
    }

    fn commit_offload(
        &mut self,
        port: PortId,
        len: usize,
        timestamp_ns: u64,
        offload: Offload,
        header_len: u16,
    ) {
        if let Some(Some(p)) = self.ports.get_mut(port as usize) {
            p.tx_commit_offloaded(len, timestamp_ns, vnet_header(&offload, header_len));
        }
        self.mark_pending(port);
    }
}

/// The pipeline's offload state of a frame a port received with virtio-net
/// header `vnet`. A GSO type the pipeline does not know (legacy UFO) is
/// taken as none: such a frame goes out as it is, or is refused.
fn offload_of(vnet: &VnetHeader) -> Offload {
    let checksum = if vnet.flags & VNET_F_NEEDS_CSUM != 0 {
        ChecksumState::Partial {
            start: vnet.csum_start,
            offset: vnet.csum_offset,
        }
    } else {
        ChecksumState::Complete
    };
    let gso = match vnet.gso_type & !VNET_GSO_ECN {
        VNET_GSO_TCPV4 => GsoType::Tcpv4,
        VNET_GSO_TCPV6 => GsoType::Tcpv6,
        VNET_GSO_UDP_L4 | VNET_GSO_UDP => GsoType::Udp,
        _ => GsoType::None,
    };
    Offload {
        checksum,
        gso,
        gso_size: vnet.gso_size,
    }
}

/// The virtio-net header of a frame sent with `offload` state, whose
/// headers take `header_len` bytes.
fn vnet_header(offload: &Offload, header_len: u16) -> VnetHeader {
    let (flags, csum_start, csum_offset) = match offload.checksum {
        ChecksumState::Partial { start, offset } => (VNET_F_NEEDS_CSUM, start, offset),
        ChecksumState::Complete => (0, 0, 0),
    };
    let gso_type = match offload.gso {
        GsoType::None => VNET_GSO_NONE,
        GsoType::Tcpv4 => VNET_GSO_TCPV4,
        GsoType::Tcpv6 => VNET_GSO_TCPV6,
        GsoType::Udp => VNET_GSO_UDP_L4,
    };
    VnetHeader {
        flags,
        gso_type,
        hdr_len: header_len,
        gso_size: if gso_type == VNET_GSO_NONE {
            0
        } else {
            offload.gso_size
        },
        csum_start,
        csum_offset,
    }
}

/// Runs a received burst through the pipeline: `runner` holds the
/// worker's contexts and flow cache. Call [`TxPorts::flush`] afterwards.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn forward_burst(
    runner: &mut BurstRunner,
    dp: &Datapath,
    in_port: PortId,
    batch: &mut RxBatch,
    now: u32,
    tx: &mut TxPorts,
    stats: &mut Stats,
    sink: &mut dyn TraceSink,
) {
    let (frames, timestamps, vnet) = batch.frames_mut();
    let mut slots: [&mut [u8]; MAX_BURST] = core::array::from_fn(|_| &mut [][..]);
    let mut frames = frames.peekable();
    let mut first = 0;
    // A batch may be larger than the pipeline's burst: in bursts, in order.
    while frames.peek().is_some() {
        let mut n = 0;
        for (slot, frame) in slots.iter_mut().zip(frames.by_ref()) {
            *slot = frame;
            n += 1;
        }
        let times = timestamps.get(first..).unwrap_or_default();
        // Empty when the whole batch is plain (every AF_XDP burst).
        let headers = vnet.get(first..first + n).unwrap_or_default();
        if headers.is_empty() {
            runner.process(dp, in_port, &mut slots[..n], times, now, tx, stats, sink);
        } else {
            // Only here: filling the array costs every plain burst a
            // memset of it.
            let mut offloads = [Offload::default(); MAX_BURST];
            for (offload, header) in offloads.iter_mut().zip(headers) {
                *offload = offload_of(header);
            }
            let offloads = &offloads[..n];
            runner.process_offloaded(
                dp,
                in_port,
                &mut slots[..n],
                times,
                offloads,
                now,
                tx,
                stats,
                sink,
            );
        }
        first += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vswitch_pipeline::datapath::{BridgeSpec, DatapathSpec, PortSpec, VlanMode};
    use vswitch_pipeline::trace::NoTrace;
    use vswitch_ports::memory::MemoryPort;

    #[test]
    fn a_batch_larger_than_a_burst_loses_nothing() {
        let spec = DatapathSpec {
            bridges: vec![BridgeSpec {
                name: "br0".into(),
                mac_aging_secs: 300,
                mac_limit: 1000,
                static_macs: vec![],
            }],
            ports: (0..2)
                .map(|id| PortSpec {
                    id,
                    name: format!("p{id}"),
                    bridge: 0,
                    vlan_mode: VlanMode::default(),
                    mac_limit: 1000,
                    tunnel: None,
                    security: None,
                })
                .collect(),
            uplinks: vec![],
            networks: vec![],
            acls: vec![],
        };
        let dp = Datapath::new(&spec, 1).unwrap();
        let mut tx = TxPorts::new(vec![
            Some(Box::new(MemoryPort::null("p0"))),
            Some(Box::new(MemoryPort::null("p1"))),
        ]);
        let frames = 3 * MAX_BURST + 5;
        let mut batch = RxBatch::new(frames);
        for i in 0..frames {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[2, 0, 0, 0, 0, i as u8]);
            f.extend_from_slice(&[0x88, 0xb5]);
            f.resize(60, 0);
            assert!(batch.push(&f, i as u64));
        }
        let mut stats = Stats::new(2);
        let mut runner = BurstRunner::new(64);
        forward_burst(
            &mut runner,
            &dp,
            0,
            &mut batch,
            0,
            &mut tx,
            &mut stats,
            &mut NoTrace,
        );
        tx.flush(&mut stats);
        assert_eq!(stats.ports[0].rx_packets, frames as u64);
        assert_eq!(stats.ports[1].tx_packets, frames as u64);
    }

    #[test]
    fn frames_to_a_port_marked_down_are_port_down_drops_until_it_is_up_again() {
        let mut tx = TxPorts::new(vec![Some(Box::new(MemoryPort::null("p0")))]);
        let mut stats = Stats::new(1);
        let send = |tx: &mut TxPorts, stats: &mut Stats| {
            for _ in 0..3 {
                tx.send_prepared(0, &[0u8; 60], stats);
            }
            tx.flush(stats);
        };
        let old = tx.mark_down(0).expect("the port's handle comes back");
        assert_eq!(old.name(), "p0");
        send(&mut tx, &mut stats);
        assert_eq!(stats.ports[0].tx_packets, 0);
        assert_eq!(stats.ports[0].drops[DropReason::PortDown as usize], 3);
        assert_eq!(stats.ports[0].drops[DropReason::TxError as usize], 0);
        assert!(!tx.has_pending());

        assert!(tx.insert(0, Box::new(MemoryPort::null("p0"))).is_some());
        send(&mut tx, &mut stats);
        assert_eq!(stats.ports[0].tx_packets, 3);
        assert_eq!(stats.ports[0].drops[DropReason::PortDown as usize], 3);
    }
}
