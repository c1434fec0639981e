//! Bursts of frames through the pipeline and out of their ports: the step
//! the daemon's workers and offline replay share, so a replay test
//! exercises the code that runs live.

use vswitch_pipeline::burst::{BurstRunner, MAX_BURST};
use vswitch_pipeline::trace::TraceSink;
use vswitch_pipeline::{Datapath, DropReason, PortId, Stats, TxSink};
use vswitch_ports::{Port, RxBatch, TxDone};

/// The ports a worker transmits on, indexed by [`PortId`] (`None` for ids
/// no port has), and which of them have frames queued or in flight since
/// the last [`TxPorts::flush`].
pub struct TxPorts {
    ports: Vec<Option<Box<dyn Port>>>,
    pending: Vec<PortId>,
    has_pending: Vec<bool>,
}

impl TxPorts {
    /// Wraps `ports`; index = port id.
    pub fn new(ports: Vec<Option<Box<dyn Port>>>) -> TxPorts {
        let n = ports.len();
        TxPorts {
            ports,
            pending: Vec::with_capacity(n),
            has_pending: vec![false; n],
        }
    }

    /// Port `id`.
    pub fn get_mut(&mut self, id: PortId) -> Option<&mut (dyn Port + 'static)> {
        self.ports
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .map(|p| p.as_mut())
    }

    /// Puts `port` at `id` (growing the table), returning what was there.
    pub fn insert(&mut self, id: PortId, port: Box<dyn Port>) -> Option<Box<dyn Port>> {
        let i = id as usize;
        if self.ports.len() <= i {
            self.ports.resize_with(i + 1, || None);
            self.has_pending.resize(i + 1, false);
        }
        self.ports[i].replace(port)
    }

    /// Takes the port at `id` out.
    pub fn remove(&mut self, id: PortId) -> Option<Box<dyn Port>> {
        self.ports.get_mut(id as usize).and_then(Option::take)
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
            if let Some(flag) = self.has_pending.get_mut(out as usize) {
                if !*flag {
                    *flag = true;
                    self.pending.push(out);
                }
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
                    count_tx_done(stats, out, &done);
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
    let (frames, timestamps) = batch.frames_mut();
    let mut slots: [&mut [u8]; MAX_BURST] = core::array::from_fn(|_| &mut [][..]);
    let mut n = 0;
    for (slot, frame) in slots.iter_mut().zip(frames) {
        *slot = frame;
        n += 1;
    }
    runner.process(
        dp,
        in_port,
        &mut slots[..n],
        timestamps,
        now,
        tx,
        stats,
        sink,
    );
}
