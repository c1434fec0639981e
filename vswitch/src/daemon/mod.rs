//! `vswitchd`: opens the configured ports, runs the poll-mode workers, and
//! serves the control socket until SIGINT or SIGTERM.
//!
//! Start-up either completes or leaves nothing behind: ports are opened in
//! configuration order and a failure drops those already open (which
//! detaches their XDP programs) before the error is returned, naming the
//! port and the fix.

mod control;
mod handoff;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vswitch_pipeline::{Datapath, PortId, Stats};
use vswitch_ports::afxdp::{AfXdpConfig, AfXdpPort, XdpMode, ZeroCopy};
use vswitch_ports::memory::MemoryPort;
use vswitch_ports::pcap::{PcapPort, PcapReader, PcapWriter};
use vswitch_ports::tap::TapPort;
use vswitch_ports::{cpu, Port};

pub use control::{render, request, ControlError};
use handoff::{Mailboxes, RemotePort};
use worker::Worker;
pub use worker::{LoopCounters, WorkerReport};

use crate::config::{Config, PortConfig, PortKind, XdpAttachMode, ZeroCopyMode};
use crate::forward::TxPorts;

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
}

/// State the control thread reads.
pub(crate) struct Shared {
    datapath: Arc<Datapath>,
    ports: Vec<PortInfo>,
    reports: Vec<(usize, Arc<Mutex<WorkerReport>>)>,
    clock: Arc<AtomicU32>,
    started: Instant,
}

impl Shared {
    /// Per-port counters summed over workers.
    pub(crate) fn port_stats(&self) -> Stats {
        let mut total = Stats::new(self.datapath.port_count());
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
        let mut total = vec![std::collections::BTreeMap::new(); self.datapath.port_count()];
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

/// A running daemon.
pub struct Daemon {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    socket: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

/// Handles of one configured port.
struct OpenPort {
    id: PortId,
    handles: Vec<Box<dyn Port>>,
    detail: String,
}

fn open_port(id: PortId, port: &PortConfig) -> Result<OpenPort, String> {
    let what = format!("port {:?} ({})", port.name, port.kind.type_name());
    let (handles, detail): (Vec<Box<dyn Port>>, String) = match &port.kind {
        PortKind::AfXdp {
            interface,
            queues,
            mode,
            zero_copy,
            ring_size,
        } => {
            let mut cfg = AfXdpConfig::new(interface.clone());
            cfg.rx_ring = *ring_size;
            cfg.tx_ring = *ring_size;
            cfg.completion_ring = *ring_size;
            // The fill ring at twice the RX ring (DESIGN.md), with a frame
            // for every fill slot and every TX slot.
            cfg.fill_ring = ring_size * 2;
            cfg.frame_count = ring_size * 4;
            cfg.mode = match mode {
                XdpAttachMode::Auto => XdpMode::Auto,
                XdpAttachMode::Native => XdpMode::Native,
                XdpAttachMode::Generic => XdpMode::Generic,
            };
            cfg.zero_copy = match zero_copy {
                ZeroCopyMode::Auto => ZeroCopy::Auto,
                ZeroCopyMode::On => ZeroCopy::On,
                ZeroCopyMode::Off => ZeroCopy::Off,
            };
            let queue_ids: Vec<u32> = (0..*queues).collect();
            let opened =
                AfXdpPort::open_queues(&cfg, &queue_ids).map_err(|e| format!("{what}: {e}"))?;
            let detail = match opened.first() {
                Some(p) => format!("{interface}, {} queue(s), {}", opened.len(), p.mode()),
                None => interface.clone(),
            };
            (
                opened
                    .into_iter()
                    .map(|p| Box::new(p) as Box<dyn Port>)
                    .collect(),
                detail,
            )
        }
        PortKind::Tap { interface, netns } => {
            let tap =
                TapPort::open(interface, netns.as_deref()).map_err(|e| format!("{what}: {e}"))?;
            let detail = match netns {
                Some(ns) => format!("{} in namespace {ns}", tap.name()),
                None => tap.name().to_string(),
            };
            (vec![Box::new(tap)], detail)
        }
        PortKind::Pcap {
            input,
            looping: true,
            ..
        } => {
            let input = input
                .as_ref()
                .ok_or_else(|| format!("{what}: loop needs an input"))?;
            let mut reader = PcapReader::open(input).map_err(|e| format!("{what}: {e}"))?;
            let mut mem = MemoryPort::new(&port.name);
            mem.push_rx_pcap(&mut reader)
                .map_err(|e| format!("{what}: {e}"))?;
            mem.set_looping(true);
            mem.set_discard_tx(true);
            let detail = format!(
                "{} frames of {} looping from memory",
                mem.rx_len(),
                input.display()
            );
            (vec![Box::new(mem)], detail)
        }
        PortKind::Pcap { input, output, .. } => {
            let reader = input
                .as_ref()
                .map(PcapReader::open)
                .transpose()
                .map_err(|e| format!("{what}: {e}"))?;
            let writer = output
                .as_ref()
                .map(PcapWriter::create)
                .transpose()
                .map_err(|e| format!("{what}: {e}"))?;
            let detail = format!(
                "in {}, out {}",
                input
                    .as_ref()
                    .map_or("-".into(), |p| p.display().to_string()),
                output
                    .as_ref()
                    .map_or("-".into(), |p| p.display().to_string())
            );
            (
                vec![Box::new(PcapPort::new(&port.name, reader, writer))],
                detail,
            )
        }
        PortKind::Null => (
            vec![Box::new(MemoryPort::null(&port.name))],
            "drops what it is sent".into(),
        ),
    };
    Ok(OpenPort {
        id,
        handles,
        detail,
    })
}

/// Refuses to start over a live daemon; removes a stale socket file.
fn bind_control_socket(path: &Path) -> Result<std::os::unix::net::UnixListener, StartError> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(StartError(format!(
            "control socket {} is in use: another vswitchd is running (stop it, or set [switch] control_socket to another path)",
            path.display()
        )));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            StartError(format!(
                "cannot create {} for the control socket: {e}",
                dir.display()
            ))
        })?;
    }
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(|e| {
        StartError(format!(
            "cannot listen on control socket {}: {e}",
            path.display()
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| StartError(format!("control socket {}: {e}", path.display())))?;
    Ok(listener)
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
        let listener = bind_control_socket(&config.switch.control_socket)?;
        let result = Self::start_workers(config, listener);
        if result.is_err() {
            let _ = std::fs::remove_file(&config.switch.control_socket);
        }
        result
    }

    fn start_workers(
        config: &Config,
        listener: std::os::unix::net::UnixListener,
    ) -> Result<Daemon, StartError> {
        let seed = std::collections::hash_map::RandomState::new();
        let seed = std::hash::BuildHasher::hash_one(&seed, 0u64);
        let datapath = Arc::new(
            Datapath::new(&config.datapath_spec(), seed).map_err(|e| StartError(e.to_string()))?,
        );

        // Open every port; on failure, those already open are dropped.
        let mut opened = Vec::new();
        for (id, port) in config.ports().enumerate() {
            opened.push(open_port(id as PortId, port).map_err(StartError)?);
        }

        let n = config.switch.workers.len();
        let mailboxes = Mailboxes::new(n);
        // Handle k of all ports goes to worker k mod n; a port's first
        // handle's worker owns its transmit side.
        let mut owned: Vec<Vec<(PortId, Box<dyn Port>)>> = (0..n).map(|_| Vec::new()).collect();
        let mut tx_owner = vec![0usize; datapath.port_count()];
        let mut pollers: Vec<Vec<usize>> = vec![Vec::new(); datapath.port_count()];
        let mut k = 0;
        let mut details = Vec::new();
        for port in opened {
            details.push(port.detail);
            for (q, handle) in port.handles.into_iter().enumerate() {
                let w = k % n;
                if q == 0 {
                    tx_owner[port.id as usize] = w;
                }
                pollers[port.id as usize].push(config.switch.workers[w]);
                owned[w].push((port.id, handle));
                k += 1;
            }
        }

        let stop = Arc::new(AtomicBool::new(false));
        let clock = Arc::new(AtomicU32::new(0));
        let mut reports = Vec::new();
        let mut workers = Vec::new();
        let mut handles = Vec::new();
        for (w, handles_of_w) in owned.into_iter().enumerate() {
            let mut tx: Vec<Option<Box<dyn Port>>> =
                (0..datapath.port_count()).map(|_| None).collect();
            let mut rx_primary = Vec::new();
            let mut rx_extra = Vec::new();
            for (id, handle) in handles_of_w {
                if tx[id as usize].is_none() && tx_owner[id as usize] == w {
                    tx[id as usize] = Some(handle);
                    rx_primary.push(id);
                } else {
                    rx_extra.push((id, handle));
                }
            }
            let tx: Vec<Box<dyn Port>> = tx
                .into_iter()
                .enumerate()
                .map(|(id, port)| match port {
                    Some(p) => p,
                    None => {
                        let name = datapath.port_name(id as PortId).unwrap_or("?");
                        Box::new(RemotePort::new(
                            name,
                            id as PortId,
                            w,
                            tx_owner[id],
                            Arc::clone(&mailboxes),
                        )) as Box<dyn Port>
                    }
                })
                .collect();
            let report = Arc::new(Mutex::new(WorkerReport {
                stats: Stats::new(datapath.port_count()),
                ..WorkerReport::default()
            }));
            reports.push((config.switch.workers[w], Arc::clone(&report)));
            workers.push(Worker {
                index: w,
                core: config.switch.workers[w],
                tx: TxPorts::new(tx),
                rx_primary,
                rx_extra,
                datapath: Arc::clone(&datapath),
                mailboxes: Arc::clone(&mailboxes),
                batch_size: config.switch.batch_size,
                idle: config.switch.idle,
                clock: Arc::clone(&clock),
                stop: Arc::clone(&stop),
                report,
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
                handles.into_iter().for_each(|h| drop(h.join()));
                return Err(StartError(e));
            }
        }

        let ports = config
            .bridges
            .iter()
            .flat_map(|b| b.ports.iter().map(move |p| (b.name.clone(), p)))
            .zip(details)
            .enumerate()
            .map(|(id, ((bridge, p), detail))| PortInfo {
                name: p.name.clone(),
                bridge,
                kind: p.kind.type_name().to_string(),
                detail,
                workers: pollers[id].clone(),
            })
            .collect();
        Ok(Daemon {
            stop,
            workers: handles,
            shared: Arc::new(Shared {
                datapath,
                ports,
                reports,
                clock,
                started: Instant::now(),
            }),
            socket: config.switch.control_socket.clone(),
            listener,
        })
    }

    /// Serves the control socket and ages MACs until `shutdown` is set
    /// (by a signal handler) or a worker stops, then stops the workers
    /// and releases every port.
    pub fn run_until(self, shutdown: &AtomicBool) {
        let mut last_sweep = Instant::now();
        while !shutdown.load(Ordering::Relaxed) && !self.stop.load(Ordering::Relaxed) {
            let now = self.shared.started.elapsed().as_secs().min(u32::MAX as u64) as u32;
            self.shared.clock.store(now, Ordering::Relaxed);
            if last_sweep.elapsed() >= Duration::from_secs(1) {
                self.shared.datapath.sweep_macs(now);
                last_sweep = Instant::now();
            }
            control::serve_pending(&self.listener, &self.shared, now);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The control socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Runs the daemon on a thread of this process (the demo, tests,
    /// benchmarks) until the returned handle is dropped.
    pub fn spawn(self) -> Result<BackgroundDaemon, StartError> {
        let socket = self.socket.clone();
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&shutdown);
        let thread = std::thread::Builder::new()
            .name("vswitchd-control".into())
            .spawn(move || self.run_until(&flag))
            .map_err(|e| StartError(format!("cannot start the daemon thread: {e}")))?;
        Ok(BackgroundDaemon {
            socket,
            shutdown,
            thread: Some(thread),
        })
    }
}

/// A daemon running on a thread of this process; dropping it stops the
/// workers and releases every port (detaching XDP programs).
pub struct BackgroundDaemon {
    socket: PathBuf,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundDaemon {
    /// The control socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
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

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The whole of `vswitchd`: load, start, run until SIGINT/SIGTERM.
pub fn main_with_config(path: &Path) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    let daemon = Daemon::start(&config).map_err(|e| e.to_string())?;
    eprintln!(
        "vswitchd: {} port(s) on {} worker(s); control socket {}",
        daemon.shared.ports.len(),
        config.switch.workers.len(),
        daemon.socket().display()
    );
    daemon.run_until(&shutdown);
    eprintln!("vswitchd: stopping");
    Ok(())
}
