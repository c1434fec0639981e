//! One frame through the datapath and out of its ports: the step the daemon's
//! workers and offline replay share, so a replay test exercises the code
//! that runs live.

use vswitch_pipeline::{Action, Datapath, DropReason, PortId, Stats, Verdict};
use vswitch_ports::{Port, RxBatch};

/// The ports a worker transmits on, indexed by [`PortId`], and which of them
/// have frames queued since the last [`TxPorts::flush`].
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

    /// Writes `frame` out of `out` with that port's egress edits, counting
    /// it, or counting why not.
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
        let queued = self.queue(out, timestamp_ns, stats, |slot| {
            dp.emit(out, frame, verdict, slot)
        });
        if let Some(len) = queued {
            stats.tx(out, len);
        }
    }

    /// Queues `frame`, already edited for `out` by the worker that
    /// forwarded it, without counting it again as sent.
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
    ) -> Option<usize> {
        let port = self.ports.get_mut(out as usize)?;
        let Some(slot) = port.tx_slot() else {
            stats.drop(out, DropReason::TxQueueFull);
            return None;
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
                Some(len)
            }
            Err(reason) => {
                stats.drop(out, reason);
                None
            }
        }
    }

    /// Hands queued frames to every port that has some: one kick per port
    /// per batch. A failed flush is counted as a drop on that port.
    pub fn flush(&mut self, stats: &mut Stats) {
        for out in self.pending.drain(..) {
            if let Some(flag) = self.has_pending.get_mut(out as usize) {
                *flag = false;
            }
            if let Some(port) = self.ports.get_mut(out as usize) {
                if port.tx_flush().is_err() {
                    stats.drop(out, DropReason::TxError);
                }
            }
        }
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
