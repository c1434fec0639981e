//! A poll-mode worker: pinned to a core, it polls its receive handles in
//! batches, runs each burst through the pipeline, delivers frames other
//! workers handed it, and flushes transmit queues once per batch. Between
//! batches it takes configuration updates (a new datapath, ports added or
//! removed) and acknowledges them.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use vswitch_pipeline::conntrack::{ConnTable, Conntrack};
use vswitch_pipeline::flow_cache::CacheCounters;
use vswitch_pipeline::overlay::egress::resolve_neighbours;
use vswitch_pipeline::trace::NoTrace;
use vswitch_pipeline::{BurstRunner, Datapath, PortId, Stats};
use vswitch_ports::cpu::cycles;
use vswitch_ports::{Port, RxBatch};

use vswitch_ports::wait::EventSet;
use vswitch_ports::Wakeup;

use super::handoff::Mailboxes;
use super::idle::{Governor, Step};
use super::latency::Histogram;
use crate::config::{IdlePolicy, ADAPTIVE_IDLE_ITERATIONS, DEFAULT_IDLE_SLEEP_US};
use crate::forward::{forward_burst, TxPorts};

/// Loop counters of one worker.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct LoopCounters {
    /// Loop iterations that found work.
    pub busy_iterations: u64,
    /// Loop iterations that found none.
    pub idle_iterations: u64,
    /// Non-empty receive bursts.
    pub batches: u64,
    /// Frames received.
    pub packets: u64,
    /// Frames delivered for other workers.
    pub handoffs: u64,
    /// TSC cycles spent in busy iterations.
    pub busy_cycles: u64,
    /// Receive calls that failed.
    pub rx_errors: u64,
    /// Configuration updates taken.
    pub reconfigurations: u64,
    /// Nanoseconds spent polling (the thread's time not blocked or
    /// asleep), since the worker started.
    pub poll_ns: u64,
    /// Nanoseconds spent blocked in epoll (adaptive) or asleep (sleep).
    pub blocked_ns: u64,
    /// Times the worker blocked or slept.
    pub sleeps: u64,
    /// Times an adaptive worker was woken by an event (a frame, a
    /// hand-off, an update) rather than by its safety timeout.
    pub wakeups: u64,
    /// An adaptive worker's quiet time before it blocks, in microseconds,
    /// as wake-ups into backlogs have set it (0 for other policies).
    pub quiet_us: u64,
}

/// What a worker publishes for the control thread.
#[derive(Debug, Clone, Default)]
pub struct WorkerReport {
    /// Per-port counters, as this worker saw them.
    pub stats: Stats,
    /// Loop counters.
    pub loops: LoopCounters,
    /// Flow-cache counters.
    pub cache: CacheCounters,
    /// Frames lost in the kernel or device of the port handles this worker
    /// owns: (port, cause, total).
    pub device_drops: Vec<(PortId, &'static str, u64)>,
    /// Rx-to-tx time inside the switch per frame, in TSC cycles (see
    /// [`super::latency`]).
    pub latency: Histogram,
    /// TSC cycles per second, measured over the worker's run.
    pub tsc_hz: f64,
}

/// A configuration change for one worker, applied between two batches.
pub struct WorkerUpdate {
    /// The datapath to run from now on.
    pub datapath: Arc<Datapath>,
    /// Ports whose handles (transmit side and polling) leave this worker.
    pub remove: Vec<PortId>,
    /// New transmit-side handles (its own or stand-ins for another
    /// worker's port), by port id.
    pub add_tx: Vec<(PortId, Box<dyn Port>)>,
    /// Of those, the ids whose handle it also polls.
    pub add_rx_primary: Vec<PortId>,
    /// New further receive handles it polls.
    pub add_rx_extra: Vec<(PortId, Box<dyn Port>)>,
    /// Ports whose interface is gone: their handles leave (polling too),
    /// and frames to them are dropped as `port_down` until an update adds
    /// handles for them again.
    pub down: Vec<PortId>,
}

/// How the control thread reaches a running worker.
#[derive(Default)]
pub struct WorkerControl {
    /// Bumped by the control thread when `update` holds a new update.
    version: AtomicU64,
    /// The version the worker applied last.
    acked: AtomicU64,
    update: Mutex<Option<WorkerUpdate>>,
    /// Handles the worker took out, for the control thread to close.
    retired: Mutex<Vec<Box<dyn Port>>>,
}

impl WorkerControl {
    /// Hands `update` to the worker; returns the version to wait for.
    pub fn post(&self, update: WorkerUpdate) -> u64 {
        if let Ok(mut slot) = self.update.lock() {
            *slot = Some(update);
        }
        self.version.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// True once the worker applied `version`.
    pub fn applied(&self, version: u64) -> bool {
        self.acked.load(Ordering::Acquire) >= version
    }

    /// Takes the handles the worker gave back.
    pub fn take_retired(&self) -> Vec<Box<dyn Port>> {
        self.retired
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

/// Everything a worker thread owns.
pub struct Worker {
    /// Index among workers.
    pub index: usize,
    /// Core it is pinned to.
    pub core: usize,
    /// Ports it transmits on, by port id: its own handles and stand-ins
    /// for ports of other workers.
    pub tx: TxPorts,
    /// Port ids whose primary handle (in `tx`) it polls.
    pub rx_primary: Vec<PortId>,
    /// Further receive handles it owns (more queues of a port).
    pub rx_extra: Vec<(PortId, Box<dyn Port>)>,
    /// The datapath.
    pub datapath: Arc<Datapath>,
    /// Frames handed over between workers.
    pub mailboxes: Arc<Mailboxes>,
    /// Receive burst size.
    pub batch_size: usize,
    /// What to do when idle.
    pub idle: IdlePolicy,
    /// Seconds since start, kept by the control thread: the MAC-aging clock.
    pub clock: Arc<AtomicU32>,
    /// Set to stop.
    pub stop: Arc<AtomicBool>,
    /// Where it publishes its counters.
    pub report: Arc<Mutex<WorkerReport>>,
    /// Where configuration updates arrive.
    pub control: Arc<WorkerControl>,
    /// Entries of its flow cache.
    pub flow_cache_entries: usize,
    /// The connection table all workers share.
    pub conntrack: Arc<ConnTable>,
}

/// How often a worker publishes its counters.
const PUBLISH_EVERY: Duration = Duration::from_millis(50);
/// Idle iterations before an idle worker starts to sleep.
const SPIN_BEFORE_SLEEP: u32 = 64;
/// The longest an adaptive worker blocks when every port can wake it: a
/// safety net only (frames, hand-offs, updates and the stop wake it).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest it blocks while a port must be polled (frames in memory).
const BLOCK_TIMEOUT_POLLED: Duration = Duration::from_millis(1);

/// When the worker started, by the clock and by the TSC.
struct RunClock {
    started: Instant,
    cycles: u64,
}

/// What an adaptive worker blocks on: its ports' descriptors and its
/// doorbell, rebuilt whenever its ports change.
struct Blocker {
    /// Holds the doorbell for good; the ports' descriptors are watched
    /// during waits only (see [`EventSet::wait_with`]).
    events: EventSet,
    doorbell_fd: std::os::fd::RawFd,
    port_fds: Vec<std::os::fd::RawFd>,
}

impl Worker {
    /// The poll loop; returns when `stop` is set. Pinning happened before.
    pub fn run(mut self) {
        let mut batch = RxBatch::new(self.batch_size);
        let mut runner = BurstRunner::new(self.flow_cache_entries);
        runner.set_conntrack(Box::new(Conntrack::new(Arc::clone(&self.conntrack))));
        let mut stats = Stats::new(self.datapath.port_count());
        let mut loops = LoopCounters::default();
        let mut idle_streak = 0u32;
        let mut sleep_us = 1u32;
        let mut last_publish = Instant::now();
        let mut resolved_at = u32::MAX;
        let mut seen_version = 0u64;
        let started = Instant::now();
        let clock = RunClock {
            started,
            cycles: cycles(),
        };
        let mut latency = Histogram::new();
        let mut governor = match self.idle {
            IdlePolicy::Adaptive { quiet_us } => Some(Governor::new(
                ADAPTIVE_IDLE_ITERATIONS,
                quiet_us as u64 * 1000,
            )),
            _ => None,
        };
        let mut blocker = match governor {
            Some(_) => self.blocker(),
            None => None,
        };
        if let Some(g) = &governor {
            loops.quiet_us = g.quiet_ns() / 1000;
        }
        while !self.stop.load(Ordering::Relaxed) {
            let version = self.control.version.load(Ordering::Acquire);
            if version != seen_version {
                self.apply_update(&mut runner, &mut stats);
                seen_version = version;
                loops.reconfigurations += 1;
                self.control.acked.store(version, Ordering::Release);
                if governor.is_some() {
                    blocker = self.blocker();
                }
            }
            let start = cycles();
            let now = self.clock.load(Ordering::Relaxed);
            let dp = Arc::clone(&self.datapath);
            let mut work = 0usize;
            for i in 0..self.rx_primary.len() {
                let id = self.rx_primary[i];
                batch.clear();
                let received = match self.tx.get_mut(id) {
                    Some(port) => port.rx_burst(&mut batch),
                    None => Ok(0),
                };
                work += self.forward_batch(
                    &mut runner,
                    &dp,
                    id,
                    received,
                    &mut batch,
                    now,
                    &mut stats,
                    &mut loops,
                );
            }
            for i in 0..self.rx_extra.len() {
                batch.clear();
                let (id, port) = &mut self.rx_extra[i];
                let id = *id;
                let received = port.rx_burst(&mut batch);
                work += self.forward_batch(
                    &mut runner,
                    &dp,
                    id,
                    received,
                    &mut batch,
                    now,
                    &mut stats,
                    &mut loops,
                );
            }
            let tx = &mut self.tx;
            let handed = self
                .mailboxes
                .drain(self.index, self.batch_size * 4, |port, frame| {
                    tx.send_prepared(port, frame, &mut stats);
                });
            loops.handoffs += handed as u64;
            work += handed;
            // One kick per port that queued frames in this loop. Extra
            // receive handles never transmit: sends to their port go
            // through its primary handle, in `tx`.
            self.tx.flush(&mut stats);

            if work > 0 {
                loops.busy_iterations += 1;
                let spent = cycles().wrapping_sub(start);
                loops.busy_cycles += spent;
                latency.record(spent, work as u64);
                idle_streak = 0;
                sleep_us = 1;
                if let Some(g) = &mut governor {
                    g.busy(work as u64);
                }
            } else {
                loops.idle_iterations += 1;
                idle_streak = idle_streak.saturating_add(1);
                let nap_max_us = match (self.idle, &blocker) {
                    (IdlePolicy::Sleep { max_us }, _) => Some(max_us),
                    // Adaptive without epoll (it could not be set up):
                    // back off as the sleep policy does.
                    (IdlePolicy::Adaptive { .. }, None) => Some(DEFAULT_IDLE_SLEEP_US),
                    _ => None,
                };
                if let Some(max_us) = nap_max_us {
                    if idle_streak > SPIN_BEFORE_SLEEP {
                        let t0 = Instant::now();
                        std::thread::sleep(Duration::from_micros(sleep_us as u64));
                        loops.blocked_ns += t0.elapsed().as_nanos() as u64;
                        loops.sleeps += 1;
                        sleep_us = (sleep_us * 2).min(max_us);
                    }
                } else if let (Some(g), Some(b)) = (&mut governor, &mut blocker) {
                    if g.idle(|| started.elapsed().as_nanos() as u64) == Step::Block {
                        loops.poll_ns = started
                            .elapsed()
                            .as_nanos()
                            .saturating_sub(loops.blocked_ns as u128)
                            as u64;
                        // Publish first: what the last frames did is
                        // readable while the worker sleeps.
                        self.publish(&stats, &loops, &runner, &latency, &clock, true);
                        last_publish = Instant::now();
                        self.block(b, seen_version, &mut loops);
                        g.woke();
                        loops.quiet_us = g.quiet_ns() / 1000;
                    }
                }
            }
            if last_publish.elapsed() >= PUBLISH_EVERY {
                // Once a second: resolve the tunnels' next hops ahead of
                // traffic (every worker asks; one request a second per
                // neighbour goes out).
                let now = self.clock.load(Ordering::Relaxed);
                if now != resolved_at {
                    resolved_at = now;
                    resolve_neighbours(&self.datapath, now, &mut self.tx, &mut stats);
                    self.tx.flush(&mut stats);
                }
                loops.poll_ns = started
                    .elapsed()
                    .as_nanos()
                    .saturating_sub(loops.blocked_ns as u128)
                    as u64;
                self.publish(&stats, &loops, &runner, &latency, &clock, false);
                last_publish = Instant::now();
            }
        }
        // Count the frames still on transmit rings before the final
        // report, for a bounded time (a port that went down keeps its).
        let deadline = Instant::now() + Duration::from_millis(100);
        while self.tx.has_pending() && Instant::now() < deadline {
            self.tx.flush(&mut stats);
            std::thread::sleep(Duration::from_micros(200));
        }
        self.publish(&stats, &loops, &runner, &latency, &clock, false);
    }

    /// The epoll set over this worker's receive descriptors and its
    /// doorbell; `None` (the worker then naps instead) when epoll or the
    /// doorbell is not available.
    fn blocker(&self) -> Option<Blocker> {
        let doorbell = self.mailboxes.doorbell(self.index)?;
        let mut events = EventSet::new().ok()?;
        let doorbell_fd = doorbell.raw_fd();
        events.add(doorbell_fd).ok()?;
        let mut fds = Vec::new();
        for &id in &self.rx_primary {
            if let Some(port) = self.tx.get(id) {
                fds.push(port.wakeup());
            }
        }
        fds.extend(self.rx_extra.iter().map(|(_, p)| p.wakeup()));
        let mut port_fds = Vec::new();
        for wakeup in fds {
            if let Wakeup::Fd(fd) = wakeup {
                if !port_fds.contains(&fd) {
                    port_fds.push(fd);
                }
            }
        }
        Some(Blocker {
            events,
            doorbell_fd,
            port_fds,
        })
    }

    /// Arms every wake-up and blocks until a frame, a hand-off, an update
    /// or the stop comes, unless one is already there. Never on the busy
    /// path: only after the governor saw the queues quiet.
    fn block(&mut self, blocker: &mut Blocker, seen_version: u64, loops: &mut LoopCounters) {
        // Frames still on a transmit ring (a kick the kernel refused, a
        // port that went down) are retried by the loop's flush: block for
        // short times only, so that they are neither held up long nor
        // retried in a busy loop.
        let tx_pending = self.tx.has_pending();
        let Some(doorbell) = self.mailboxes.doorbell(self.index) else {
            return;
        };
        let mut ready = false;
        let mut polled = tx_pending;
        for i in 0..self.rx_primary.len() {
            if let Some(port) = self.tx.get_mut(self.rx_primary[i]) {
                ready |= port.prepare_wait();
                polled |= port.wakeup() == Wakeup::Poll;
            }
        }
        for (_, port) in &mut self.rx_extra {
            ready |= port.prepare_wait();
            polled |= port.wakeup() == Wakeup::Poll;
        }
        // Arm, then look once more at what comes without a descriptor:
        // a sender that published before the arm is seen here, one that
        // publishes after it rings.
        doorbell.arm();
        if ready
            || self.mailboxes.has_mail(self.index)
            || self.control.version.load(Ordering::Acquire) != seen_version
            || self.stop.load(Ordering::Relaxed)
        {
            doorbell.disarm();
            return;
        }
        let timeout = if polled {
            BLOCK_TIMEOUT_POLLED
        } else {
            BLOCK_TIMEOUT
        };
        let t0 = Instant::now();
        let mut rung = false;
        let doorbell_fd = blocker.doorbell_fd;
        let woken = match blocker
            .events
            .wait_with(&blocker.port_fds, timeout, |fd| rung |= fd == doorbell_fd)
        {
            Ok(n) => n,
            // A descriptor epoll refused: poll instead of blocking.
            Err(_) => {
                doorbell.disarm();
                return;
            }
        };
        doorbell.disarm();
        if rung {
            doorbell.clear();
        }
        loops.blocked_ns += t0.elapsed().as_nanos() as u64;
        loops.sleeps += 1;
        if woken > 0 {
            loops.wakeups += 1;
        }
    }

    /// Takes the pending update: the new datapath (the flow cache starts
    /// over, since its decisions came from the old one), handles added and
    /// removed.
    fn apply_update(&mut self, runner: &mut BurstRunner, stats: &mut Stats) {
        let Some(update) = self.control.update.lock().ok().and_then(|mut u| u.take()) else {
            return;
        };
        // Frames queued for ports that leave go out first.
        self.tx.flush(stats);
        let mut retired = Vec::new();
        for id in &update.remove {
            retired.extend(self.tx.remove(*id));
            self.stop_polling(*id, &mut retired);
        }
        for (id, handle) in update.add_tx {
            retired.extend(self.tx.insert(id, handle));
        }
        self.rx_primary.extend(update.add_rx_primary);
        self.rx_extra.extend(update.add_rx_extra);
        for id in &update.down {
            retired.extend(self.tx.mark_down(*id));
            self.stop_polling(*id, &mut retired);
        }
        self.datapath = update.datapath;
        if stats.ports.len() < self.datapath.port_count() {
            stats
                .ports
                .resize(self.datapath.port_count(), Default::default());
        }
        runner.cache.clear();
        if let Ok(mut r) = self.control.retired.lock() {
            r.extend(retired);
        }
    }

    /// Stops polling port `id`; its further receive handles go to
    /// `retired`.
    fn stop_polling(&mut self, id: PortId, retired: &mut Vec<Box<dyn Port>>) {
        self.rx_primary.retain(|p| *p != id);
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rx_extra)
            .into_iter()
            .partition(|(p, _)| *p == id);
        self.rx_extra = kept;
        retired.extend(gone.into_iter().map(|(_, h)| h));
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn forward_batch(
        &mut self,
        runner: &mut BurstRunner,
        dp: &Datapath,
        id: PortId,
        received: Result<usize, vswitch_ports::PortError>,
        batch: &mut RxBatch,
        now: u32,
        stats: &mut Stats,
        loops: &mut LoopCounters,
    ) -> usize {
        let n = match received {
            Ok(n) => n,
            Err(_) => {
                loops.rx_errors += 1;
                return 0;
            }
        };
        if n == 0 {
            return 0;
        }
        loops.batches += 1;
        loops.packets += n as u64;
        forward_burst(
            runner,
            dp,
            id,
            batch,
            now,
            &mut self.tx,
            stats,
            &mut NoTrace,
        );
        n
    }

    /// Copies the counters out unless the control thread is reading them
    /// right now (then the next publish carries them); with `wait` (before
    /// the worker blocks, when there may be no next publish for a while),
    /// waits for the control thread to finish reading.
    fn publish(
        &self,
        stats: &Stats,
        loops: &LoopCounters,
        runner: &BurstRunner,
        latency: &Histogram,
        clock: &RunClock,
        wait: bool,
    ) {
        let mut device_drops = Vec::new();
        let mut collect = |id: PortId, port: &dyn Port| {
            port.device_drops(&mut |cause, n| {
                if n > 0 {
                    device_drops.push((id, cause, n));
                }
            })
        };
        self.tx.for_each(&mut collect);
        for (id, port) in &self.rx_extra {
            collect(*id, port.as_ref());
        }
        let report = if wait {
            self.report.lock().ok()
        } else {
            self.report.try_lock().ok()
        };
        if let Some(mut report) = report {
            report.stats.clone_from(stats);
            report.loops = *loops;
            report.cache = runner.cache.counters;
            report.device_drops = device_drops;
            report.latency.copy_from(latency);
            let secs = clock.started.elapsed().as_secs_f64();
            if secs > 0.0 {
                report.tsc_hz = cycles().wrapping_sub(clock.cycles) as f64 / secs;
            }
        }
    }
}
