//! The Prometheus endpoint (`[switch] metrics`): `GET /metrics` on a
//! loopback address, answered in the text exposition format 0.0.4, on a
//! thread of its own.
//!
//! The thread never blocks on a client: sockets are nonblocking, each
//! connection gets [`CLIENT_DEADLINE`] to send its request (at most
//! [`MAX_REQUEST`] bytes) and take the answer, and at most
//! [`MAX_CLIENTS`] are served at once, so a scraper that connects and
//! sends nothing delays no other scrape, and nothing else in the daemon
//! waits for this thread. Every answer closes the connection (HTTP/1.0).

use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Shared, StartError};

/// The longest request read (a scrape's request is a few hundred bytes).
const MAX_REQUEST: usize = 8192;
/// Clients served at once; more are closed at once.
const MAX_CLIENTS: usize = 16;
/// How long a client has to send its request and read the answer.
const CLIENT_DEADLINE: Duration = Duration::from_secs(2);
/// How often the thread looks at its clients while some are open.
const CLIENT_TICK: Duration = Duration::from_millis(5);
/// How long the thread waits for a connection before it looks at the stop
/// flag (shutdown waits at most this).
const IDLE_TICK: Duration = Duration::from_millis(100);

/// Binds the endpoint's address, before anything else of the daemon
/// starts, so a taken address refuses the start.
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let listener = TcpListener::bind(addr).map_err(|e| {
        StartError(format!(
            "cannot listen on [switch] metrics = \"{addr}\": {e} (is another vswitchd or exporter using it? choose another port)"
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| StartError(format!("metrics endpoint {addr}: {e}")))?;
    Ok(listener)
}

/// The running endpoint; dropping it stops the thread.
pub(crate) struct MetricsServer {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `listener` on a new thread until dropped.
    pub(crate) fn spawn(
        listener: TcpListener,
        shared: Arc<Shared>,
    ) -> Result<MetricsServer, StartError> {
        let addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("metrics endpoint: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("vswitchd-metrics".into())
            .spawn(move || serve(listener, &shared, &flag))
            .map_err(|e| StartError(format!("cannot start the metrics thread: {e}")))?;
        log::info!("metrics endpoint on http://{addr}/metrics");
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One client connection.
struct Client {
    stream: TcpStream,
    request: Vec<u8>,
    /// The answer and how much of it is written, once the request is in.
    answer: Option<(Vec<u8>, usize)>,
    /// The answer is written: what still comes is read and dropped until
    /// the client closes, because closing with unread bytes would reset
    /// the connection and could lose the answer on the client's side.
    draining: bool,
    deadline: Instant,
}

/// What became of a client after a look at it.
enum Progress {
    Waiting,
    Done,
}

impl Client {
    /// Reads what came, answers once the request is complete, writes what
    /// the socket takes.
    fn step(&mut self, shared: &Shared) -> std::io::Result<Progress> {
        if self.draining || self.answer.is_none() {
            let mut buf = [0u8; 1024];
            loop {
                match self.stream.read(&mut buf) {
                    Ok(0) => return Ok(Progress::Done),
                    Ok(_) if self.draining => continue,
                    Ok(n) => self.request.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
                if self.request.len() > MAX_REQUEST {
                    break;
                }
            }
            if self.draining {
                return Ok(Progress::Waiting);
            }
            let complete = self.request.windows(4).any(|w| w == b"\r\n\r\n")
                || self.request.windows(2).any(|w| w == b"\n\n");
            if self.request.len() > MAX_REQUEST {
                self.answer = Some((
                    reply("431 Request Header Fields Too Large", "request too large\n"),
                    0,
                ));
            } else if complete {
                self.answer = Some((answer(&self.request, shared), 0));
            } else {
                return Ok(Progress::Waiting);
            }
        }
        let Some((bytes, written)) = &mut self.answer else {
            return Ok(Progress::Waiting);
        };
        while *written < bytes.len() {
            match self.stream.write(&bytes[*written..]) {
                Ok(0) => return Ok(Progress::Done),
                Ok(n) => *written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Progress::Waiting),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        self.draining = true;
        Ok(Progress::Waiting)
    }
}

fn serve(listener: TcpListener, shared: &Shared, stop: &AtomicBool) {
    // Wait for connections in epoll; without it, look every tick.
    let mut incoming = vswitch_ports::wait::EventSet::new()
        .ok()
        .and_then(|mut set| set.add(listener.as_raw_fd()).ok().map(|_| set));
    let mut clients: Vec<Client> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        loop {
            match listener.accept() {
                Ok((stream, _)) if clients.len() < MAX_CLIENTS => {
                    if stream.set_nonblocking(true).is_ok() {
                        clients.push(Client {
                            stream,
                            request: Vec::new(),
                            answer: None,
                            draining: false,
                            deadline: Instant::now() + CLIENT_DEADLINE,
                        });
                    }
                }
                // Too many at once: this one is closed unanswered.
                Ok(_) => log::debug!("metrics endpoint: {MAX_CLIENTS} clients open, one refused"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("metrics endpoint: accept failed: {e}");
                    break;
                }
            }
        }
        let now = Instant::now();
        clients.retain_mut(|c| match c.step(shared) {
            Ok(Progress::Waiting) => now < c.deadline,
            Ok(Progress::Done) | Err(_) => false,
        });
        let tick = if clients.is_empty() {
            IDLE_TICK
        } else {
            CLIENT_TICK
        };
        let waited = incoming
            .as_mut()
            .is_some_and(|set| set.wait(tick, |_| {}).is_ok());
        if !waited {
            std::thread::sleep(tick.min(CLIENT_TICK * 4));
        }
    }
}

fn reply(status: &str, body: &str) -> Vec<u8> {
    let kind = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    format!(
        "HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn answer(request: &[u8], shared: &Shared) -> Vec<u8> {
    let head = String::from_utf8_lossy(request);
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    match (words.next(), words.next()) {
        (Some("GET"), Some("/metrics")) => reply("200 OK", &exposition(shared)),
        (Some("GET"), Some(_)) => reply("404 Not Found", "the figures are at /metrics\n"),
        _ => reply("405 Method Not Allowed", "only GET /metrics is served\n"),
    }
}

/// The text exposition format: each family's `# HELP` and `# TYPE`, then
/// its samples.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{key}=\"{escaped}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// The connection tracker's size and counters.
fn conntrack_figures(e: &mut Exposition, shared: &Shared) {
    let (limit, c) = super::conntrack::counters(shared);
    for (name, help, value) in [
        (
            "vswitch_conntrack_entries",
            "Connections tracked now.",
            u64::from(c.entries),
        ),
        (
            "vswitch_conntrack_limit",
            "Connections the table holds at most.",
            u64::from(limit),
        ),
    ] {
        e.family(name, "gauge", help);
        e.sample(name, &[], value);
    }
    for (name, help, value) in [
        (
            "vswitch_conntrack_created_total",
            "Connections created.",
            c.created,
        ),
        (
            "vswitch_conntrack_expired_total",
            "Connections removed after their timeout.",
            c.expired,
        ),
        (
            "vswitch_conntrack_evicted_total",
            "Early connections evicted to make room.",
            c.evicted,
        ),
        (
            "vswitch_conntrack_table_full_total",
            "New connections refused by a full table.",
            c.table_full,
        ),
        (
            "vswitch_conntrack_nat_ports_exhausted_total",
            "New translated connections refused for want of a free port.",
            c.nat_ports_exhausted,
        ),
    ] {
        e.family(name, "counter", help);
        e.sample(name, &[], value);
    }
    let name = "vswitch_conntrack_invalid_total";
    e.family(
        name,
        "counter",
        "Frames the tracker found invalid, by reason.",
    );
    for reason in vswitch_pipeline::conntrack::InvalidReason::ALL {
        e.sample(name, &[("reason", reason.name())], c.invalid(*reason));
    }
}

/// Every figure of the daemon, as Prometheus reads them.
pub(crate) fn exposition(shared: &Shared) -> String {
    let mut e = Exposition { out: String::new() };
    e.family(
        "vswitch_uptime_seconds",
        "gauge",
        "Seconds since vswitchd started.",
    );
    e.sample(
        "vswitch_uptime_seconds",
        &[],
        format!("{:.3}", shared.started.elapsed().as_secs_f64()),
    );

    conntrack_figures(&mut e, shared);

    let dp = shared.datapath();
    let infos = shared.port_infos();
    let stats = shared.port_stats();
    let device = shared.device_drops();
    let ports: Vec<(String, String, usize)> = dp
        .port_ids()
        .map(|id| {
            let name = dp.port_name(id).unwrap_or("?").to_string();
            let bridge = infos
                .iter()
                .find(|i| i.name == name)
                .map_or(String::new(), |i| i.bridge.clone());
            (name, bridge, id as usize)
        })
        .collect();
    let counters = |id: usize| stats.ports.get(id).cloned().unwrap_or_default();
    type PortField = fn(&vswitch_pipeline::stats::PortCounters) -> u64;
    let port_families: [(&str, &str, PortField); 4] = [
        (
            "vswitch_port_rx_packets_total",
            "Frames received on the port.",
            |c| c.rx_packets,
        ),
        (
            "vswitch_port_rx_bytes_total",
            "Bytes received on the port.",
            |c| c.rx_bytes,
        ),
        (
            "vswitch_port_tx_packets_total",
            "Frames sent on the port.",
            |c| c.tx_packets,
        ),
        (
            "vswitch_port_tx_bytes_total",
            "Bytes sent on the port.",
            |c| c.tx_bytes,
        ),
    ];
    for (name, help, field) in port_families {
        e.family(name, "counter", help);
        for (port, bridge, id) in &ports {
            e.sample(
                name,
                &[("port", port), ("bridge", bridge)],
                field(&counters(*id)),
            );
        }
    }
    let name = "vswitch_port_drops_total";
    e.family(
        name,
        "counter",
        "Frames dropped in the pipeline that came in on, or were meant for, the port, by reason (reasons that occurred).",
    );
    for (port, bridge, id) in &ports {
        for (reason, n) in counters(*id).drop_reasons() {
            e.sample(
                name,
                &[
                    ("port", port),
                    ("bridge", bridge),
                    ("reason", reason.name()),
                ],
                n,
            );
        }
    }
    let name = "vswitch_port_device_drops_total";
    e.family(
        name,
        "counter",
        "Frames the kernel or the device lost on the port, by cause (causes that occurred).",
    );
    for (port, bridge, id) in &ports {
        for (cause, n) in device.get(*id).into_iter().flatten() {
            e.sample(
                name,
                &[("port", port), ("bridge", bridge), ("cause", cause)],
                n,
            );
        }
    }

    let workers = shared.worker_figures();
    let cores: Vec<String> = workers.iter().map(|w| w.core.to_string()).collect();
    type WorkerField = fn(&super::WorkerFigures) -> f64;
    let worker_families: [(&str, &str, &str, WorkerField); 9] = [
        (
            "vswitch_worker_packets_total",
            "counter",
            "Frames the worker received.",
            |w| w.loops.packets as f64,
        ),
        (
            "vswitch_worker_busy_cycles_total",
            "counter",
            "TSC cycles the worker spent in iterations that moved frames.",
            |w| w.loops.busy_cycles as f64,
        ),
        (
            "vswitch_worker_cycles_per_packet",
            "gauge",
            "Busy cycles per frame received, since start.",
            |w| w.cycles_per_packet(),
        ),
        (
            "vswitch_worker_poll_seconds_total",
            "counter",
            "Seconds the worker spent polling (not blocked or asleep).",
            |w| w.loops.poll_ns as f64 / 1e9,
        ),
        (
            "vswitch_worker_blocked_seconds_total",
            "counter",
            "Seconds the worker spent blocked in epoll or asleep while idle.",
            |w| w.loops.blocked_ns as f64 / 1e9,
        ),
        (
            "vswitch_worker_wakeups_total",
            "counter",
            "Times an idle worker was woken by an event.",
            |w| w.loops.wakeups as f64,
        ),
        (
            "vswitch_worker_flow_cache_hits_total",
            "counter",
            "Frames the worker's flow cache decided.",
            |w| w.cache.hits as f64,
        ),
        (
            "vswitch_worker_flow_cache_misses_total",
            "counter",
            "Frames that ran the pipeline's stages.",
            |w| w.cache.misses as f64,
        ),
        (
            "vswitch_worker_flow_cache_evictions_total",
            "counter",
            "Live flow-cache entries overwritten by another flow.",
            |w| w.cache.evictions as f64,
        ),
    ];
    for (name, kind, help, field) in worker_families {
        e.family(name, kind, help);
        for (w, core) in workers.iter().zip(&cores) {
            e.sample(name, &[("core", core)], field(w));
        }
    }
    let name = "vswitch_worker_rx_to_tx_seconds";
    e.family(
        name,
        "gauge",
        "Time frames spent in the switch, receive to transmit, sampled per loop iteration since start: upper bounds of 12.5%-wide buckets at each quantile.",
    );
    for (w, core) in workers.iter().zip(&cores) {
        let l = &w.latency;
        for (quantile, ns) in [("0.5", l.p50_ns), ("0.99", l.p99_ns), ("0.999", l.p999_ns)] {
            if let Some(ns) = ns {
                e.sample(
                    name,
                    &[("core", core), ("quantile", quantile)],
                    ns as f64 / 1e9,
                );
            }
        }
    }
    let name = "vswitch_worker_rx_to_tx_frames_total";
    e.family(
        name,
        "counter",
        "Frames counted in the rx-to-tx time quantiles.",
    );
    for (w, core) in workers.iter().zip(&cores) {
        e.sample(name, &[("core", core)], w.latency.frames);
    }
    e.out
}
