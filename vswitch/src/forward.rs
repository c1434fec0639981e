//! One frame through the datapath and out of its ports: the step the daemon's
//! workers and offline replay share, so a replay test exercises the code
//! that runs live.

use vswitch_pipeline::{Action, Datapath, DropReason, PortId, Stats, Verdict};
use vswitch_ports::{Port, RxBatch, TxDone};

/// The ports a worker transmits on, indexed by [`PortId`], and which of them
/// have frames queued or in flight since the last [`TxPorts::flush`].
pub struct TxPorts {
    ports: Vec<Box<dyn Port>>,
    pending: Vec<PortId>,
    has_pending: Vec<bool>,
}

impl TxPorts {
    /// Wraps `ports`; index = port id.
    pub fn new(ports: Vec<Box<dyn Port>>) -> TxPorts {
        let n = ports.len();
        TxPorts {
            ports,
            pending: Vec::with_capacity(n),
            has_pending: vec![false; n],
        }
    }

    /// Port `id`.
    pub fn get_mut(&mut self, id: PortId) -> Option<&mut (dyn Port + 'static)> {
        self.ports.get_mut(id as usize).map(|p| p.as_mut())
    }

    /// Calls `f` with every port and its id.
    pub fn for_each(&self, mut f: impl FnMut(PortId, &dyn Port)) {
        for (id, port) in self.ports.iter().enumerate() {
            f(id as PortId, port.as_ref());
        }
    }

    /// Gives the ports back.
    pub fn into_inner(self) -> Vec<Box<dyn Port>> {
        self.ports
    }

    /// Writes `frame` out of `out` with that port's egress edits, or counts
    /// why not; the flush that reports it sent counts it.
    #[inline]
    fn send(
        &mut self,
        dp: &Datapath,
        out: PortId,
        frame: &[u8],
        verdict: &Verdict,
        timestamp_ns: u64,
        stats: &mut Stats,
    ) {
        self.queue(out, timestamp_ns, stats, |slot| {
            dp.emit(out, frame, verdict, slot)
        });
    }

    /// Queues `frame`, already edited for `out` by the worker that
    /// forwarded it (which counted nothing as sent); the flush that reports
    /// it sent counts it here.
    pub fn send_prepared(&mut self, out: PortId, frame: &[u8], stats: &mut Stats) {
        self.queue(out, 0, stats, |slot| {
            let dst = slot
                .get_mut(..frame.len())
                .ok_or(DropReason::TxFrameTooLong)?;
            dst.copy_from_slice(frame);
            Ok(frame.len())
        });
    }

    /// Lends `write` the port's next transmit slot and queues what it
    /// wrote; counts a drop when there is no slot or `write` fails.
    #[inline(always)]
    fn queue(
        &mut self,
        out: PortId,
        timestamp_ns: u64,
        stats: &mut Stats,
        write: impl FnOnce(&mut [u8]) -> Result<usize, DropReason>,
    ) {
        let Some(port) = self.ports.get_mut(out as usize) else {
            return;
        };
        let Some(slot) = port.tx_slot() else {
            stats.drop(out, DropReason::TxQueueFull);
            return;
        };
        match write(slot) {
            Ok(len) => {
                port.tx_commit(len, timestamp_ns);
                if let Some(flag) = self.has_pending.get_mut(out as usize) {
                    if !*flag {
                        *flag = true;
                        self.pending.push(out);
                    }
                }
            }
            Err(reason) => stats.drop(out, reason),
        }
    }

    /// Hands queued frames to every port that has some (one kick per port
    /// per batch) and counts what each reports: frames sent, and frames
    /// refused as drops. A port with frames still in flight stays pending,
    /// so that a later flush counts them.
    pub fn flush(&mut self, stats: &mut Stats) {
        let mut still_pending = 0;
        for i in 0..self.pending.len() {
            let out = self.pending[i];
            let in_flight = match self.ports.get_mut(out as usize) {
                Some(port) => {
                    let done = port.tx_flush();
                    count_tx_done(stats, out, &done);
                    done.in_flight
                }
                None => 0,
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

/// Counts what a flush of port `out` reported: the frames sent, and each
/// refused frame as a [`DropReason::TxError`] drop.
pub fn count_tx_done(stats: &mut Stats, out: PortId, done: &TxDone) {
    if let Some(counters) = stats.ports.get_mut(out as usize) {
        counters.tx_packets += done.sent;
        counters.tx_bytes += done.sent_bytes;
        counters.drops[DropReason::TxError as usize] += done.refused;
    }
}

/// Runs `frame`, received on `in_port` at `timestamp_ns` (`now` in seconds
/// for MAC aging), through the datapath and queues it on its output ports.
/// Call [`TxPorts::flush`] after the batch.
#[inline]
pub fn forward_frame(
    dp: &Datapath,
    in_port: PortId,
    frame: &[u8],
    timestamp_ns: u64,
    now: u32,
    tx: &mut TxPorts,
    stats: &mut Stats,
) -> Verdict {
    let verdict = dp.process(in_port, frame, now, stats);
    match verdict.action {
        Action::Output(out) => tx.send(dp, out, frame, &verdict, timestamp_ns, stats),
        Action::Flood => {
            for out in dp.flood_ports(&verdict) {
                tx.send(dp, out, frame, &verdict, timestamp_ns, stats);
            }
        }
        Action::Drop(_) => {}
    }
    verdict
}

/// Runs a received burst through [`forward_frame`], in order. Call
/// [`TxPorts::flush`] afterwards.
#[inline]
pub fn forward_burst(
    dp: &Datapath,
    in_port: PortId,
    batch: &RxBatch,
    now: u32,
    tx: &mut TxPorts,
    stats: &mut Stats,
) {
    for i in 0..batch.len() {
        forward_frame(
            dp,
            in_port,
            batch.frame(i),
            batch.timestamp(i),
            now,
            tx,
            stats,
        );
    }
}
