//! Connection tracking per packet, at 1,000 and at 1,000,000 tracked
//! connections, on one core.
//!
//! The table holds N established TCP connections (each opened by a real
//! handshake through the tracker). Each batch is 32 segments of random
//! connections, half from the client and half from the server: pure ACKs
//! inside the window, the common case of a connection that is carrying
//! data. A packet's cost is writing its addresses and ports into a frame
//! buffer, parsing it, and tracking it: lookup by either direction's tuple,
//! window checks, state update. The connections are picked at random, so
//! at 1,000,000 (128 MB of entries and 32 MB of index) nearly every lookup
//! misses the caches, which is the cost the ratio is about.
//!
//! `track` runs the frames one at a time, as the ct action calls the
//! tracker today; `track_burst` runs the same 32 frames through
//! `ConnTable::track_burst`, which issues every frame's table reads before
//! it uses any of them, so their cache misses overlap.
//!
//! A summary with ns per packet and the 1M/1K ratio is printed at the end
//! (`VSWITCH_BENCH_CONNECTIONS=N` limits it to one of the two sizes, to
//! profile one).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use vswitch_pipeline::conntrack::{ConnTable, ConntrackConfig, Verdict};
use vswitch_pipeline::parse::parse_into;
use vswitch_pipeline::Parsed;

const BATCH: usize = 32;
const SERVER: [u8; 4] = [192, 168, 0, 1];
const C_ISN: u32 = 1_000;
const S_ISN: u32 = 900_000;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn client(i: u32) -> [u8; 4] {
    let b = i.to_be_bytes();
    [10, b[1], b[2], b[3]]
}

/// Ethernet + IPv4 + TCP (no options, no payload): 54 bytes, padded to 60.
fn segment(frame: &mut [u8; 60], forward: bool, i: u32, seq: u32, ack: u32, flags: u8) {
    let (src, dst, sport, dport) = if forward {
        (client(i), SERVER, 40_000u16, 80u16)
    } else {
        (SERVER, client(i), 80, 40_000)
    };
    frame[..12].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14..26].copy_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    frame[26..30].copy_from_slice(&src);
    frame[30..34].copy_from_slice(&dst);
    frame[34..36].copy_from_slice(&sport.to_be_bytes());
    frame[36..38].copy_from_slice(&dport.to_be_bytes());
    frame[38..42].copy_from_slice(&seq.to_be_bytes());
    frame[42..46].copy_from_slice(&ack.to_be_bytes());
    frame[46..48].copy_from_slice(&[0x50, flags]);
    frame[48..50].copy_from_slice(&65535u16.to_be_bytes());
}

struct Setup {
    table: ConnTable,
    /// Which connection and direction each packet is, in order.
    picks: Vec<(u32, bool)>,
    next: usize,
    frames: Vec<[u8; 60]>,
    parsed: Vec<Parsed>,
    verdicts: Vec<Verdict>,
}

fn track_one(table: &ConnTable, frame: &[u8; 60]) -> Verdict {
    let mut parsed = Parsed::default();
    parse_into(frame, &mut parsed).expect("bench frames parse");
    table.track(frame, &parsed, 0, true, 1, false)
}

fn setup(connections: u32) -> Setup {
    let table = ConnTable::with_config(ConntrackConfig {
        limit: connections.next_power_of_two(),
        ..ConntrackConfig::default()
    });
    let mut frame = [0u8; 60];
    for i in 0..connections {
        segment(&mut frame, true, i, C_ISN, 0, SYN);
        track_one(&table, &frame);
        segment(&mut frame, false, i, S_ISN, C_ISN + 1, SYN | ACK);
        track_one(&table, &frame);
        segment(&mut frame, true, i, C_ISN + 1, S_ISN + 1, ACK);
        track_one(&table, &frame);
    }
    assert_eq!(table.len(), connections);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let picks = (0..1 << 16)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x % u64::from(connections)) as u32, x >> 63 == 0)
        })
        .collect();
    Setup {
        table,
        picks,
        next: 0,
        frames: vec![[0u8; 60]; BATCH],
        parsed: vec![Parsed::default(); BATCH],
        verdicts: vec![Verdict::default(); BATCH],
    }
}

impl Setup {
    /// The next 32 packets written and parsed.
    fn fill(&mut self) {
        for ((frame, parsed), k) in self.frames.iter_mut().zip(self.parsed.iter_mut()).zip(0..) {
            let (i, forward) = self.picks[(self.next + k) & 0xffff];
            let (seq, ack) = if forward {
                (C_ISN + 1, S_ISN + 1)
            } else {
                (S_ISN + 1, C_ISN + 1)
            };
            segment(frame, forward, i, seq, ack, ACK);
            parsed.clear();
            let _ = parse_into(frame, parsed);
        }
        self.next = (self.next + BATCH) & 0xffff;
    }

    fn batch(&mut self) {
        self.fill();
        for ((frame, parsed), verdict) in self
            .frames
            .iter()
            .zip(&self.parsed)
            .zip(self.verdicts.iter_mut())
        {
            *verdict = self.table.track(frame, parsed, 0, true, 1, false);
        }
        black_box(&self.verdicts);
    }

    fn batch_burst(&mut self) {
        self.fill();
        let frames: [&[u8]; BATCH] = core::array::from_fn(|k| &self.frames[k][..]);
        self.table
            .track_burst(&frames, &self.parsed, 0, true, 1, false, &mut self.verdicts);
        black_box(&self.verdicts);
    }

    /// Every verdict of the last batch is ESTABLISHED, not INVALID.
    fn check(&self) {
        for v in &self.verdicts {
            assert_eq!(v.state & 0b10_0100, 0b100, "state {:#x}", v.state);
        }
    }
}

const SIZES: [u32; 2] = [1_000, 1_000_000];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("conntrack");
    group.throughput(Throughput::Elements(BATCH as u64));
    for n in SIZES {
        let mut s = setup(n);
        s.batch();
        s.check();
        s.batch_burst();
        s.check();
        group.bench_function(BenchmarkId::new("track", n), |b| b.iter(|| s.batch()));
        group.bench_function(BenchmarkId::new("track_burst", n), |b| {
            b.iter(|| s.batch_burst())
        });
    }
    group.finish();
}

fn ns_per_packet(mut f: impl FnMut(), budget: Duration) -> f64 {
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
    start.elapsed().as_secs_f64() * 1e9 / (batches * BATCH as u64) as f64
}

fn summary() {
    let budget = Duration::from_millis(2000);
    println!("\nsummary (64-byte TCP ACKs of random established connections, batches of {BATCH}, one core):");
    let only: Option<u32> = std::env::var("VSWITCH_BENCH_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok());
    let mut results = Vec::new();
    for n in SIZES.into_iter().filter(|n| only.is_none_or(|o| o == *n)) {
        let mut s = setup(n);
        let one = ns_per_packet(|| s.batch(), budget);
        let burst = ns_per_packet(|| s.batch_burst(), budget);
        println!("  {n:>9} connections: track {one:>7.1} ns/pkt, track_burst {burst:>7.1} ns/pkt");
        println!("            counters: {:?}", s.table.counters());
        results.push((one, burst));
    }
    if let [small, large] = results[..] {
        println!(
            "  1M/1K ratio: track {:.2}, track_burst {:.2}",
            large.0 / small.0,
            large.1 / small.1
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    bench(&mut c);
    c.final_summary();
    summary();
}
