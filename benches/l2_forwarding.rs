//! L2 forwarding throughput, per core, with no kernel I/O.
//!
//! A looping memory port feeds 64-byte frames, in batches of 32, through the
//! same forwarding step the daemon's workers run (parse, ingress checks,
//! learn, look up, egress edit, transmit) into a null port. Scenarios:
//!
//! - `io_baseline`: the frames are only moved from the memory port to the
//!   null port (copy into the transmit slot): the floor every other figure
//!   is compared with, measured in the same run.
//! - `l2_learned/1000` and `l2_learned/100000`: the bridge's MAC table holds
//!   1,000 or 100,000 learned MACs, half on the input port (sources) and
//!   half on the output port (destinations); the frames are N/2 interleaved
//!   flows, each to a learned destination, so every frame is a table hit.
//!
//! `stage/*` measures the stages alone: `parse_udp64` (one parse of the
//! 64-byte UDP frame) and `mac_learn_lookup/N` (the learn and the lookup a
//! frame costs, cycling over N/2 flows).
//!
//! Criterion reports time per batch and throughput in elements (frames) per
//! second: Melem/s is Mpps. A summary with ns per packet, Mpps and the ratio
//! to the baseline is printed at the end.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use vswitch::forward::{forward_burst, TxPorts};
use vswitch_pipeline::datapath::{BridgeSpec, DatapathSpec, PortSpec, VlanMode};
use vswitch_pipeline::trace::{NoTrace, TraceLog, TraceSink};
use vswitch_pipeline::{BurstRunner, Datapath, Stats};
use vswitch_ports::memory::MemoryPort;
use vswitch_ports::{Port, RxBatch};

const BATCH: usize = 32;
const IN: u16 = 0;
const OUT: u16 = 1;

fn mac(n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0x00, b[0], b[1], b[2], b[3]]
}

/// A 64-byte frame (60 bytes without FCS): Ethernet + IPv4 + UDP.
fn frame(dst: [u8; 6], src: [u8; 6], flow: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    let total_len: u16 = 46;
    let mut ip = [
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    ip[2..4].copy_from_slice(&total_len.to_be_bytes());
    f.extend_from_slice(&ip);
    let sport = (1024 + flow % 60000) as u16;
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&9u16.to_be_bytes());
    f.extend_from_slice(&26u16.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(60, 0);
    f
}

struct Setup {
    datapath: Datapath,
    rx: MemoryPort,
    tx: TxPorts,
    batch: RxBatch,
    runner: BurstRunner,
    stats: Stats,
}

/// A bridge of two ports with `macs` learned MACs and a looping input of
/// `macs / 2` flows (at least one).
fn setup(macs: u32) -> Setup {
    let spec = DatapathSpec {
        bridges: vec![BridgeSpec {
            name: "br0".into(),
            mac_aging_secs: 300,
            mac_limit: macs.max(2) + 16,
            static_macs: vec![],
        }],
        ports: ["in", "out"]
            .iter()
            .enumerate()
            .map(|(id, n)| PortSpec {
                id: id as u16,
                name: n.to_string(),
                bridge: 0,
                vlan_mode: VlanMode::default(),
                mac_limit: macs.max(2),
                tunnel: None,
                security: None,
            })
            .collect(),
        uplinks: vec![],
        networks: vec![],
        acls: vec![],
    };
    let datapath = Datapath::new(&spec, 0x9e37).unwrap();
    let table = datapath.mac_table(0).unwrap();
    let flows = (macs / 2).max(1);
    let mut rx = MemoryPort::new("in");
    for i in 0..flows {
        let (src, dst) = (mac(2 * i), mac(2 * i + 1));
        table.learn(0, &src, IN, 0);
        table.learn(0, &dst, OUT, 0);
        assert!(rx.push_rx(&frame(dst, src, i), 0));
    }
    rx.set_looping(true);
    let tx = TxPorts::new(vec![
        Some(Box::new(MemoryPort::null("in-tx"))),
        Some(Box::new(MemoryPort::null("out"))),
    ]);
    Setup {
        datapath,
        rx,
        tx,
        batch: RxBatch::new(BATCH),
        runner: BurstRunner::default(),
        stats: Stats::new(2),
    }
}

impl Setup {
    /// One worker iteration through the pipeline.
    fn l2_batch(&mut self) {
        self.l2_batch_into(&mut NoTrace);
    }

    /// [`Setup::l2_batch`] reporting to `sink` (what the daemon passes is
    /// [`NoTrace`]; replay `--trace` passes a [`TraceLog`]).
    fn l2_batch_into(&mut self, sink: &mut dyn TraceSink) {
        self.batch.clear();
        let _ = self.rx.rx_burst(&mut self.batch);
        forward_burst(
            &mut self.runner,
            &self.datapath,
            IN,
            &mut self.batch,
            0,
            &mut self.tx,
            &mut self.stats,
            sink,
        );
        self.tx.flush(&mut self.stats);
    }

    /// One iteration that only moves frames: receive, copy to the output
    /// port's slot, flush.
    fn io_batch(&mut self) {
        self.batch.clear();
        let n = self.rx.rx_burst(&mut self.batch).unwrap_or(0);
        let out = self.tx.get_mut(OUT).expect("out port");
        for i in 0..n {
            let f = self.batch.frame(i);
            if let Some(slot) = out.tx_slot() {
                slot[..f.len()].copy_from_slice(f);
                out.tx_commit(f.len(), 0);
            }
        }
        // Moving frames is what is measured here, not counting them.
        let _ = out.tx_flush();
    }
}

/// The stages alone, per frame: parsing, and a MAC learn + lookup pair.
fn stages(c: &mut Criterion) {
    let mut group = c.benchmark_group("stage");
    group.throughput(Throughput::Elements(1));
    let f = frame(mac(1), mac(2), 7);
    group.bench_function("parse_udp64", |b| {
        b.iter(|| vswitch_pipeline::parse::parse(black_box(&f)))
    });
    for macs in [1_000u32, 100_000] {
        let s = setup(macs);
        let table = s.datapath.mac_table(0).unwrap();
        let mut i = 0u32;
        let flows = macs / 2;
        group.bench_with_input(BenchmarkId::new("mac_learn_lookup", macs), &macs, |b, _| {
            b.iter(|| {
                i = (i + 1) % flows;
                table.learn(0, &mac(2 * i), IN, 0);
                black_box(table.lookup(0, &mac(2 * i + 1), 0))
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("l2");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut s = setup(1000);
    group.bench_function("io_baseline", |b| b.iter(|| black_box(&mut s).io_batch()));
    for macs in [1_000u32, 100_000] {
        let mut s = setup(macs);
        group.bench_with_input(BenchmarkId::new("l2_learned", macs), &macs, |b, _| {
            b.iter(|| black_box(&mut s).l2_batch())
        });
        // Every frame received went out of the learned port (none when a
        // name filter skipped this scenario).
        let (input, out) = (&s.stats.ports[IN as usize], &s.stats.ports[OUT as usize]);
        assert_eq!(out.tx_packets, input.rx_packets, "every frame is forwarded");
        assert_eq!(
            input.total_drops() + out.total_drops(),
            0,
            "no frame is dropped"
        );
    }
    group.finish();
}

/// Packets per second of `f` run for about `budget`.
fn rate(mut f: impl FnMut(), budget: Duration) -> f64 {
    for _ in 0..1000 {
        f();
    }
    let start = Instant::now();
    let mut batches = 0u64;
    while start.elapsed() < budget {
        for _ in 0..1000 {
            f();
        }
        batches += 1000;
    }
    (batches * BATCH as u64) as f64 / start.elapsed().as_secs_f64()
}

fn summary() {
    let budget = Duration::from_millis(1500);
    let mut base = setup(1000);
    let baseline = rate(|| base.io_batch(), budget);
    println!("\nsummary (64-byte frames, batches of {BATCH}, one core):");
    println!(
        "  {:<22} {:>8.2} ns/pkt {:>7.2} Mpps",
        "io_baseline",
        1e9 / baseline,
        baseline / 1e6
    );
    for macs in [1_000u32, 100_000] {
        let mut s = setup(macs);
        let pps = rate(|| s.l2_batch(), budget);
        println!(
            "  {:<22} {:>8.2} ns/pkt {:>7.2} Mpps  {:.2}x the baseline's time",
            format!("l2_learned/{macs}"),
            1e9 / pps,
            pps / 1e6,
            baseline / pps
        );
    }
    // Trace off costs nothing: a recording sink that no frame is traced
    // into runs the same instructions as the daemon's NoTrace. Tracing
    // every frame (replay --trace) bypasses the flow cache and records
    // each stage's decision.
    let mut log = TraceLog::default();
    for (name, trace_all) in [("l2/1000, trace off", false), ("l2/1000, trace on", true)] {
        let mut s = setup(1000);
        s.runner.trace_all = trace_all;
        let pps = rate(
            || {
                s.l2_batch_into(&mut log);
                log.events.clear();
            },
            budget,
        );
        println!(
            "  {:<22} {:>8.2} ns/pkt {:>7.2} Mpps",
            name,
            1e9 / pps,
            pps / 1e6
        );
    }
}

/// With `VSWITCH_BENCH_BATCHES=N`, runs exactly N batches of each L2
/// scenario and nothing else: a fixed amount of work to count instructions
/// and cache misses under `valgrind --tool=cachegrind`, which, unlike time
/// on a shared VM, repeats exactly.
/// `VSWITCH_BENCH_MACS=N` picks one scenario (1000 or 100000).
fn fixed_count(batches: u64) {
    let only: Option<u32> = std::env::var("VSWITCH_BENCH_MACS")
        .ok()
        .and_then(|n| n.parse().ok());
    for macs in [1_000u32, 100_000]
        .into_iter()
        .filter(|m| only.is_none_or(|o| o == *m))
    {
        let mut s = setup(macs);
        for _ in 0..batches {
            s.l2_batch();
        }
        println!(
            "l2_learned/{macs}: {batches} batches, flow cache {:?}",
            s.runner.cache.counters
        );
    }
}

fn main() {
    if let Some(batches) = std::env::var("VSWITCH_BENCH_BATCHES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        fixed_count(batches);
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    stages(&mut c);
    bench(&mut c);
    c.final_summary();
    summary();
}
