//! `vswitchd`: opens the configured ports, runs the poll-mode workers, and
//! serves the control socket until SIGINT or SIGTERM.
//!
//! Start-up either completes or leaves nothing behind: ports are opened in
//! configuration order and a failure drops those already open (which
//! detaches their XDP programs) before the error is returned, naming the
//! port and the fix.
//!
//! Once running, a port whose interface disappears goes down and is
//! attached again when the interface returns ([`links`]).

mod acl;
mod conntrack;
mod control;
mod control_server;
mod handoff;
mod idle;
pub mod latency;
mod links;
mod metrics;
mod networks;
mod open;
mod probe;
pub mod reconfigure;
mod render;
mod transact;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vswitch_pipeline::conntrack::{ConnTable, ConntrackConfig};
use vswitch_pipeline::{Datapath, DatapathSpec, PortId, Stats};
use vswitch_ports::{cpu, Port};

pub use control::{call, request, ControlError, Request};
use control_server::ControlServer;
use handoff::{Mailboxes, RemotePort};
use open::{open_port, OpenPort};
pub use render::render;
pub use worker::{LoopCounters, WorkerReport};
use worker::{Worker, WorkerControl};

use crate::config::Config;
use crate::db::Database;
use crate::forward::TxPorts;

/// The longest the control thread waits for clients before it looks at
/// the stop flags and the clock (MAC aging counts in seconds).
const CONTROL_TICK: Duration = Duration::from_millis(100);

/// Entries of each worker's flow cache.
pub const FLOW_CACHE_ENTRIES: usize = vswitch_pipeline::flow_cache::DEFAULT_CAPACITY;

/// The stand-in, in worker `me`, for port `id` that worker `owner` owns.
fn remote_port(
    dp: &Datapath,
    id: PortId,
    me: usize,
    owner: usize,
    mailboxes: &Arc<Mailboxes>,
) -> Box<dyn Port> {
    let name = dp.port_name(id).unwrap_or("?");
    Box::new(RemotePort::new(name, id, me, owner, Arc::clone(mailboxes)))
}

/// What `show` says of the ports of `config` (ids from `spec`).
fn port_infos(
    config: &Config,
    spec: &DatapathSpec,
    details: &[String],
    placement: &Placement,
) -> Vec<PortInfo> {
    config
        .bridges
        .iter()
        .flat_map(|b| b.ports.iter().map(move |p| (b.name.clone(), p)))
        .chain(
            config
                .uplinks
                .iter()
                .map(|u| ("(uplink)".to_string(), &u.port)),
        )
        .zip(spec.port_ids().zip(details))
        .map(|((bridge, p), (id, detail))| PortInfo {
            name: p.name.clone(),
            bridge,
            kind: p.kind.type_name().to_string(),
            detail: detail.clone(),
            workers: placement.pollers(id),
            state: PortState::Up,
        })
        .collect()
}

/// A daemon that failed to start, with what to fix.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// What `show` reports of a port.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PortInfo {
    /// Its name.
    pub name: String,
    /// Its bridge.
    pub bridge: String,
    /// Its type.
    pub kind: String,
    /// What it is attached to and how (mode, queues).
    pub detail: String,
    /// The workers that poll it.
    pub workers: Vec<usize>,
    /// Whether it forwards: down while its interface is gone.
    pub state: PortState,
}

/// Whether a port forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    /// Attached: frames to it are sent.
    Up,
    /// Its interface is gone: frames to it are dropped (`port_down`)
    /// until the interface returns and the port is attached again.
    Down,
}

/// State the control thread reads, and what a configuration change needs.
pub(crate) struct Shared {
    datapath: Mutex<Arc<Datapath>>,
    ports: Mutex<Vec<PortInfo>>,
    reports: Vec<(usize, Arc<Mutex<WorkerReport>>)>,
    controls: Vec<Arc<WorkerControl>>,
    mailboxes: Arc<Mailboxes>,
    placement: Mutex<Placement>,
    config: Mutex<Config>,
    /// The configuration database transactions change; none for a daemon
    /// started in-process from a [`Config`].
    database: Mutex<Option<Database>>,
    seed: u64,
    clock: Arc<AtomicU32>,
    started: Instant,
    /// Names of the ports that are down (see [`links`]).
    down_ports: Mutex<std::collections::BTreeSet<String>>,
    /// The connection tracker every worker shares: state apart from the
    /// configuration, so configuration swaps keep it.
    conntrack: Arc<ConnTable>,
}

impl Shared {
    /// The datapath the workers run now.
    pub(crate) fn datapath(&self) -> Arc<Datapath> {
        self.datapath
            .lock()
            .map(|d| Arc::clone(&d))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// What `show` says of the ports.
    pub(crate) fn port_infos(&self) -> Vec<PortInfo> {
        let mut infos = self.ports.lock().map(|p| p.clone()).unwrap_or_default();
        if let Ok(down) = self.down_ports.lock() {
            for info in &mut infos {
                if down.contains(&info.name) {
                    info.state = PortState::Down;
                }
            }
        }
        infos
    }

    /// Per-port counters summed over workers.
    pub(crate) fn port_stats(&self) -> Stats {
        let mut total = Stats::new(self.datapath().port_count());
        for (_, report) in &self.reports {
            if let Ok(r) = report.lock() {
                total.add(&r.stats);
            }
        }
        total
    }

    /// Frames lost in the kernel or devices, per port and cause, summed
    /// over workers (and queues).
    pub(crate) fn device_drops(&self) -> Vec<std::collections::BTreeMap<&'static str, u64>> {
        let mut total = vec![std::collections::BTreeMap::new(); self.datapath().port_count()];
        for (_, report) in &self.reports {
            if let Ok(r) = report.lock() {
                for &(port, cause, n) in &r.device_drops {
                    if let Some(causes) = total.get_mut(port as usize) {
                        *causes.entry(cause).or_insert(0) += n;
                    }
                }
            }
        }
        total
    }
}

/// What one worker has counted, read in one lock of its report.
pub(crate) struct WorkerFigures {
    /// The core it runs on.
    pub(crate) core: usize,
    /// Its loop counters.
    pub(crate) loops: LoopCounters,
    /// Its flow cache's counters.
    pub(crate) cache: vswitch_pipeline::flow_cache::CacheCounters,
    /// Its rx-to-tx time quantiles.
    pub(crate) latency: latency::LatencySummary,
}

impl WorkerFigures {
    /// Busy cycles per frame received since start (0 before any frame).
    pub(crate) fn cycles_per_packet(&self) -> f64 {
        if self.loops.packets > 0 {
            self.loops.busy_cycles as f64 / self.loops.packets as f64
        } else {
            0.0
        }
    }
}

impl Shared {
    /// Every worker's figures, in worker order.
    pub(crate) fn worker_figures(&self) -> Vec<WorkerFigures> {
        self.reports
            .iter()
            .map(|(core, report)| {
                let (loops, cache, latency) = report
                    .lock()
                    .map(|r| (r.loops, r.cache, r.latency.summary(r.tsc_hz)))
                    .unwrap_or_default();
                WorkerFigures {
                    core: *core,
                    loops,
                    cache,
                    latency,
                }
            })
            .collect()
    }
}

/// Which worker holds which handle: handle k of all ports opened goes to
/// worker k mod n, and the worker of a port's first handle owns its
/// transmit side.
pub(crate) struct Placement {
    workers: usize,
    next: usize,
    /// By port id: the worker that transmits on the port.
    tx_owner: Vec<usize>,
    /// By port id: the cores that poll it.
    pollers: Vec<Vec<usize>>,
}

/// Where the handles of one port went.
pub(crate) struct Placed {
    /// The port.
    pub(crate) id: PortId,
    /// The worker owning its transmit side.
    pub(crate) owner: usize,
    /// (worker, handle, is the primary handle).
    pub(crate) handles: Vec<(usize, Box<dyn Port>, bool)>,
}

impl Placement {
    fn new(workers: usize) -> Placement {
        Placement {
            workers: workers.max(1),
            next: 0,
            tx_owner: Vec::new(),
            pollers: Vec::new(),
        }
    }

    /// Assigns the handles of `port` to workers on `cores`.
    pub(crate) fn place(&mut self, port: OpenPort, cores: &[usize]) -> Placed {
        let id = port.id as usize;
        if self.tx_owner.len() <= id {
            self.tx_owner.resize(id + 1, 0);
            self.pollers.resize(id + 1, Vec::new());
        }
        self.pollers[id].clear();
        let mut handles = Vec::new();
        for (q, handle) in port.handles.into_iter().enumerate() {
            let w = self.next % self.workers;
            self.next += 1;
            if q == 0 {
                self.tx_owner[id] = w;
            }
            self.pollers[id].push(cores.get(w).copied().unwrap_or_default());
            handles.push((w, handle, q == 0));
        }
        Placed {
            id: port.id,
            owner: self.tx_owner[id],
            handles,
        }
    }

    /// The cores that poll port `id`.
    pub(crate) fn pollers(&self, id: PortId) -> Vec<usize> {
        self.pollers.get(id as usize).cloned().unwrap_or_default()
    }
}

/// A running daemon.
pub struct Daemon {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    socket: PathBuf,
    /// Follows the ports' interfaces; stopped before the workers.
    links: Option<links::LinkFollower>,
    metrics: Option<metrics::MetricsServer>,
    /// Dropped after the workers stop (fields drop after `drop`), which
    /// removes the socket file if it is still the one bound.
    control: ControlServer,
}

impl Daemon {
    /// Opens every port, starts the workers and binds the control socket.
    pub fn start(config: &Config) -> Result<Daemon, StartError> {
        let cores = cpu::available_cores();
        for &core in &config.switch.workers {
            if !cores.contains(&core) {
                return Err(StartError(format!(
                    "[switch] workers lists core {core}, but this process may run on cores {cores:?}"
                )));
            }
        }
        // On failure the server is dropped, which removes its socket.
        let control = ControlServer::bind(
            &config.switch.control_socket,
            config.switch.control_group.as_ref(),
        )?;
        let metrics = config.switch.metrics.map(metrics::bind).transpose()?;
        Self::start_workers(config, control, metrics)
    }

    fn start_workers(
        config: &Config,
        control: ControlServer,
        metrics: Option<std::net::TcpListener>,
    ) -> Result<Daemon, StartError> {
        let seed = std::collections::hash_map::RandomState::new();
        let seed = std::hash::BuildHasher::hash_one(&seed, 0u64);
        let spec = config.datapath_spec();
        let datapath = Arc::new(Datapath::new(&spec, seed).map_err(|e| StartError(e.to_string()))?);

        // Open every port; on failure, those already open are dropped.
        let mut opened = Vec::new();
        for (port, id) in config.ports().zip(spec.port_ids()) {
            opened.push(open_port(id, port).map_err(StartError)?);
        }

        let cores = &config.switch.workers;
        let n = cores.len();
        let mailboxes = Mailboxes::new(n)
            .map_err(|e| StartError(format!("cannot create the workers' eventfds: {e}")))?;
        let mut placement = Placement::new(n);
        let mut tx: Vec<TxPorts> = (0..n).map(|_| TxPorts::new(Vec::new())).collect();
        let mut rx_primary: Vec<Vec<PortId>> = vec![Vec::new(); n];
        let mut rx_extra: Vec<Vec<(PortId, Box<dyn Port>)>> = (0..n).map(|_| Vec::new()).collect();
        let mut details = Vec::new();
        for port in opened {
            details.push(port.detail.clone());
            let placed = placement.place(port, cores);
            for (w, handle, primary) in placed.handles {
                if primary {
                    tx[w].insert(placed.id, handle);
                    rx_primary[w].push(placed.id);
                } else {
                    rx_extra[w].push((placed.id, handle));
                }
            }
            for (w, tx) in tx.iter_mut().enumerate() {
                if w != placed.owner {
                    tx.insert(
                        placed.id,
                        remote_port(&datapath, placed.id, w, placed.owner, &mailboxes),
                    );
                }
            }
        }

        let stop = Arc::new(AtomicBool::new(false));
        let clock = Arc::new(AtomicU32::new(0));
        let conntrack = Arc::new(ConnTable::with_config(ConntrackConfig {
            limit: config.switch.conntrack_limit,
            seed,
            ..ConntrackConfig::default()
        }));
        let mut reports = Vec::new();
        let mut controls = Vec::new();
        let mut workers = Vec::new();
        let mut handles = Vec::new();
        for (w, ((tx, rx_primary), rx_extra)) in
            tx.into_iter().zip(rx_primary).zip(rx_extra).enumerate()
        {
            let report = Arc::new(Mutex::new(WorkerReport {
                stats: Stats::new(datapath.port_count()),
                ..WorkerReport::default()
            }));
            let control = Arc::new(WorkerControl::default());
            reports.push((cores[w], Arc::clone(&report)));
            controls.push(Arc::clone(&control));
            workers.push(Worker {
                index: w,
                core: cores[w],
                tx,
                rx_primary,
                rx_extra,
                datapath: Arc::clone(&datapath),
                mailboxes: Arc::clone(&mailboxes),
                batch_size: config.switch.batch_size,
                idle: config.switch.idle,
                clock: Arc::clone(&clock),
                stop: Arc::clone(&stop),
                report,
                control,
                flow_cache_entries: FLOW_CACHE_ENTRIES,
                conntrack: Arc::clone(&conntrack),
            });
        }
        // Start the threads; each pins itself and reports before polling.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for worker in workers {
            let ready = ready_tx.clone();
            let core = worker.core;
            let stop_on_fail = Arc::clone(&stop);
            let spawned = std::thread::Builder::new()
                .name(format!("pmd-core{core}"))
                .spawn(move || {
                    if let Err(e) = cpu::pin_current_thread(core) {
                        let _ = ready.send(Err(e.to_string()));
                        stop_on_fail.store(true, Ordering::Relaxed);
                        return;
                    }
                    let _ = ready.send(Ok(()));
                    worker.run();
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    (0..n).for_each(|w| mailboxes.wake(w));
                    handles
                        .into_iter()
                        .for_each(|h: JoinHandle<()>| drop(h.join()));
                    return Err(StartError(format!("cannot start a worker thread: {e}")));
                }
            }
        }
        drop(ready_tx);
        for _ in 0..handles.len() {
            if let Ok(Err(e)) = ready_rx.recv() {
                stop.store(true, Ordering::Relaxed);
                (0..n).for_each(|w| mailboxes.wake(w));
                handles.into_iter().for_each(|h| drop(h.join()));
                return Err(StartError(e));
            }
        }

        let ports = port_infos(config, &spec, &details, &placement);
        for (w, core) in cores.iter().enumerate() {
            let polled: Vec<&str> = ports
                .iter()
                .filter(|p| p.workers.contains(core))
                .map(|p| p.name.as_str())
                .collect();
            log::debug!("worker {w} on core {core} polls {polled:?}");
        }
        let shared = Arc::new(Shared {
            datapath: Mutex::new(datapath),
            ports: Mutex::new(ports),
            reports,
            controls,
            mailboxes,
            placement: Mutex::new(placement),
            config: Mutex::new(config.clone()),
            seed,
            clock,
            started: Instant::now(),
            down_ports: Mutex::default(),
            database: Mutex::new(None),
            conntrack,
        });
        let mut daemon = Daemon {
            stop,
            workers: handles,
            links: links::LinkFollower::start(&shared),
            shared,
            socket: config.switch.control_socket.clone(),
            control,
            metrics: None,
        };
        // On failure the daemon is dropped, which stops the workers.
        daemon.metrics = metrics
            .map(|m| metrics::MetricsServer::spawn(m, Arc::clone(&daemon.shared)))
            .transpose()?;
        Ok(daemon)
    }

    /// Swaps `config` into the running workers: see [`reconfigure`].
    pub fn reconfigure(&self, config: &Config) -> Result<(), StartError> {
        reconfigure::apply(&self.shared, config).inspect_err(log_refused)
    }

    /// Gives the daemon `database`, whose configuration it runs: the
    /// control socket's `transact` then changes both, and `export`
    /// prints it.
    pub fn with_database(self, database: Database) -> Daemon {
        if let Ok(mut slot) = self.shared.database.lock() {
            *slot = Some(database);
        }
        self
    }

    /// Serves the control socket and ages MACs until `shutdown` is set
    /// (by a signal handler) or a worker stops, then stops the workers
    /// and releases every port.
    pub fn run_until(mut self, shutdown: &AtomicBool) {
        let mut last_sweep = Instant::now();
        // Clients are served in epoll, never waited on: a stalled one
        // delays neither the others, the aging, nor the stop.
        while !shutdown.load(Ordering::Relaxed) && !self.stop.load(Ordering::Relaxed) {
            let now = self.shared.started.elapsed().as_secs().min(u32::MAX as u64) as u32;
            self.shared.clock.store(now, Ordering::Relaxed);
            if last_sweep.elapsed() >= Duration::from_secs(1) {
                self.shared.datapath().sweep_macs(now);
                self.shared.conntrack.sweep(now);
                last_sweep = Instant::now();
            }
            self.control.serve(&self.shared, now, CONTROL_TICK);
        }
        if self.stop.load(Ordering::Relaxed) {
            log::error!("a worker stopped: stopping vswitchd");
        } else {
            log::info!("shutdown requested: stopping vswitchd");
        }
    }

    /// The control socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Where the Prometheus endpoint listens, if on.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(|m| m.addr)
    }

    /// Runs the daemon on a thread of this process (the demo, tests,
    /// benchmarks) until the returned handle is dropped.
    pub fn spawn(self) -> Result<BackgroundDaemon, StartError> {
        let socket = self.socket.clone();
        let metrics = self.metrics_address();
        let shared = Arc::clone(&self.shared);
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&shutdown);
        let thread = std::thread::Builder::new()
            .name("vswitchd-control".into())
            .spawn(move || self.run_until(&flag))
            .map_err(|e| StartError(format!("cannot start the daemon thread: {e}")))?;
        Ok(BackgroundDaemon {
            socket,
            metrics,
            shared,
            shutdown,
            thread: Some(thread),
        })
    }
}

/// A daemon running on a thread of this process; dropping it stops the
/// workers and releases every port (detaching XDP programs).
pub struct BackgroundDaemon {
    socket: PathBuf,
    metrics: Option<std::net::SocketAddr>,
    shared: Arc<Shared>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundDaemon {
    /// The control socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Where the Prometheus endpoint listens, if on.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics
    }

    /// Swaps `config` into the running workers: see [`reconfigure`].
    pub fn reconfigure(&self, config: &Config) -> Result<(), StartError> {
        reconfigure::apply(&self.shared, config).inspect_err(log_refused)
    }
}

impl Drop for BackgroundDaemon {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Logs a configuration change that was refused (and changed nothing).
fn log_refused(e: &StartError) {
    log::error!("configuration change refused, nothing changed: {e}");
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // It posts updates to the workers: stop it first.
        drop(self.links.take());
        drop(self.metrics.take());
        self.stop.store(true, Ordering::Relaxed);
        // Blocked workers see the stop when woken.
        for w in 0..self.shared.controls.len() {
            self.shared.mailboxes.wake(w);
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        log::info!("vswitchd stopped: workers joined, ports released");
    }
}

/// The whole of `vswitchd`: restore the database at `db` (or, with
/// `config_file`, load that file into it), start, run until SIGINT/SIGTERM.
/// The file replaces the stored document only once the daemon started
/// with it. Logs at `log_level`, or else at the configuration's
/// `log_level`.
pub fn main_with_database(
    db: &Path,
    config_file: Option<&Path>,
    log_level: Option<log::LevelFilter>,
) -> Result<(), String> {
    let loaded = match config_file {
        Some(file) => Database::from_file(db, file),
        None => Database::open(db),
    };
    crate::logging::init(
        log_level
            .or(loaded.as_ref().ok().map(|(_, c)| c.switch.log_level))
            .unwrap_or(log::LevelFilter::Info),
    );
    let (database, config) = loaded?;
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    let daemon = Daemon::start(&config).map_err(|e| e.to_string())?;
    if config_file.is_some() {
        database.store().map_err(|e| {
            format!(
                "cannot store the configuration database {}: {e} (choose another file with --db)",
                db.display()
            )
        })?;
    }
    let ports: Vec<String> = daemon
        .shared
        .port_infos()
        .into_iter()
        .map(|p| p.name)
        .collect();
    log::info!(
        "vswitchd {} started: {} port(s) ({}) on {} worker(s) on cores {:?}; control socket {}; configuration database {}",
        env!("CARGO_PKG_VERSION"),
        ports.len(),
        ports.join(", "),
        config.switch.workers.len(),
        config.switch.workers,
        daemon.socket().display(),
        db.display()
    );
    let daemon = daemon.with_database(database);
    daemon.run_until(&shutdown);
    Ok(())
}
