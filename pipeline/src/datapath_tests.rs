//! The datapath end to end: bursts through [`BurstRunner`] into a sink that
//! keeps what each port was sent.

use super::*;
use crate::action::Action;
use crate::burst::BurstRunner;
use crate::context::PacketCtx;
use crate::drop::DropReason;
use crate::egress::TxSink;
use crate::stage::{StageBurst, StageEnv};
use crate::stats::Stats;
use crate::trace::{NoTrace, TraceEvent, TraceLog};

pub(crate) const A: Mac = [0x02, 0, 0, 0, 0, 0xa];
pub(crate) const B: Mac = [0x02, 0, 0, 0, 0, 0xb];
pub(crate) const C: Mac = [0x02, 0, 0, 0, 0, 0xc];

pub(crate) fn frame(dst: Mac, src: Mac, vlan: Option<u16>) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    f.resize(f.len() + 46, 0xee);
    f
}

/// A transmit side that keeps every frame, with slots of `slot_len` bytes.
pub(crate) struct VecSink {
    slot: Vec<u8>,
    pub(crate) sent: Vec<(PortId, Vec<u8>)>,
}

impl VecSink {
    pub(crate) fn new(slot_len: usize) -> VecSink {
        VecSink {
            slot: vec![0; slot_len],
            sent: Vec::new(),
        }
    }
}

impl TxSink for VecSink {
    fn slot(&mut self, _port: PortId) -> Option<&mut [u8]> {
        Some(&mut self.slot)
    }

    fn commit(&mut self, port: PortId, len: usize, _timestamp_ns: u64) {
        self.sent.push((port, self.slot[..len].to_vec()));
    }
}

pub(crate) fn port(id: PortId, vlan_mode: VlanMode) -> PortSpec {
    PortSpec {
        id,
        name: format!("p{id}"),
        bridge: 0,
        vlan_mode,
        mac_limit: 1000,
        tunnel: None,
        security: None,
    }
}

pub(crate) fn spec(ports: Vec<PortSpec>) -> DatapathSpec {
    DatapathSpec {
        bridges: vec![BridgeSpec {
            name: "br0".into(),
            mac_aging_secs: 300,
            mac_limit: 1000,
            static_macs: vec![],
        }],
        ports,
        uplinks: vec![],
        networks: vec![],
        acls: vec![],
    }
}

fn trunk(allowed: &[u16], native: Option<u16>) -> VlanMode {
    VlanMode::Trunk {
        allowed: VlanSet::of(allowed),
        native,
    }
}

/// A datapath, a worker's runner and counters.
pub(crate) struct Harness {
    pub(crate) dp: Datapath,
    pub(crate) runner: BurstRunner,
    pub(crate) stats: Stats,
}

impl Harness {
    pub(crate) fn new(ports: Vec<PortSpec>) -> Harness {
        let dp = Datapath::new(&spec(ports), 42).unwrap();
        let stats = Stats::new(dp.port_count());
        Harness {
            dp,
            runner: BurstRunner::new(64),
            stats,
        }
    }

    /// Sends `f` in on `in_port` at `now`; returns what went out where.
    pub(crate) fn send(&mut self, in_port: PortId, f: &[u8], now: u32) -> Vec<(PortId, Vec<u8>)> {
        self.send_into(in_port, f, now, &mut VecSink::new(256))
    }

    pub(crate) fn send_into(
        &mut self,
        in_port: PortId,
        f: &[u8],
        now: u32,
        sink: &mut VecSink,
    ) -> Vec<(PortId, Vec<u8>)> {
        let mut bytes = f.to_vec();
        self.runner.process(
            &self.dp,
            in_port,
            &mut [&mut bytes[..]],
            &[0],
            now,
            sink,
            &mut self.stats,
            &mut NoTrace,
        );
        std::mem::take(&mut sink.sent)
    }

    /// The ports frame `f` from `in_port` went out of.
    pub(crate) fn outs(&mut self, in_port: PortId, f: &[u8], now: u32) -> Vec<PortId> {
        self.send(in_port, f, now)
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    /// The reason `f` from `in_port` was dropped, if it was.
    pub(crate) fn dropped(&mut self, in_port: PortId, f: &[u8]) -> Option<DropReason> {
        let before = self.stats.clone();
        let outs = self.send(in_port, f, 0);
        let reasons: Vec<DropReason> = DropReason::ALL
            .iter()
            .copied()
            .filter(|r| {
                let count = |s: &Stats| s.ports.iter().map(|p| p.drops[*r as usize]).sum::<u64>();
                count(&self.stats) > count(&before)
            })
            .collect();
        assert!(reasons.len() <= 1, "{reasons:?}");
        assert!(reasons.is_empty() || outs.is_empty(), "dropped and sent");
        reasons.first().copied()
    }
}

#[test]
fn unknown_floods_then_learned_forwards() {
    let mut h = Harness::new((0..3).map(|i| port(i, VlanMode::default())).collect());
    assert_eq!(h.outs(0, &frame(B, A, None), 0), vec![1, 2]);
    assert_eq!(h.outs(1, &frame(A, B, None), 0), vec![0]);
    assert_eq!(h.outs(2, &frame(A, B, None), 0), vec![0], "B moved to p2");
    assert_eq!(h.outs(0, &frame(B, A, None), 0), vec![2]);
    assert_eq!(h.stats.ports[0].rx_packets, 2);
}

#[test]
fn ingress_checks() {
    let mut h = Harness::new(vec![
        port(0, VlanMode::Access { vlan: 10 }),
        port(1, trunk(&[10, 20], None)),
    ]);
    assert_eq!(
        h.dropped(0, &frame(B, A, Some(10))),
        Some(DropReason::TaggedOnAccessPort)
    );
    assert_eq!(
        h.dropped(1, &frame(B, A, None)),
        Some(DropReason::UntaggedOnTrunkPort)
    );
    assert_eq!(
        h.dropped(1, &frame(B, A, Some(30))),
        Some(DropReason::VlanNotAllowed)
    );
    assert_eq!(
        h.dropped(0, &frame([0x01, 0x80, 0xc2, 0, 0, 0x0e], A, None)),
        Some(DropReason::LinkLocalControl)
    );
    assert_eq!(
        h.dropped(0, &frame(B, [0x01, 0, 0x5e, 0, 0, 1], None)),
        Some(DropReason::InvalidSourceMac)
    );
    assert_eq!(h.dropped(0, &[0; 10]), Some(DropReason::EthTruncated));
    assert_eq!(h.dropped(1, &frame(B, A, Some(10))), None);
    assert_eq!(h.stats.ports[0].total_drops(), 4);
    assert_eq!(h.stats.ports[1].total_drops(), 2);
}

#[test]
fn egress_vlan_edits() {
    let mut h = Harness::new(vec![
        port(0, VlanMode::Access { vlan: 10 }),
        port(1, trunk(&[10], None)),
    ]);
    // access -> trunk: tag pushed (flooded while B is unknown)
    let out = h.send(0, &frame(B, A, None), 0);
    assert_eq!(out, vec![(1, frame(B, A, Some(10)))]);
    // trunk -> access: tag popped (A is learned: unicast)
    let out = h.send(1, &frame(A, B, Some(10)), 0);
    assert_eq!(out, vec![(0, frame(A, B, None))]);
    // and the cached decision does the same
    let out = h.send(1, &frame(A, B, Some(10)), 0);
    assert_eq!(out, vec![(0, frame(A, B, None))]);
    // too small a slot: a counted drop on the output port
    h.send_into(0, &frame(B, A, None), 0, &mut VecSink::new(20));
    assert_eq!(
        h.stats.ports[1].drops[DropReason::TxFrameTooLong as usize],
        1
    );
}

#[test]
fn priority_tag_rewritten_to_port_vlan() {
    let mut h = Harness::new(vec![
        port(0, VlanMode::Access { vlan: 10 }),
        port(1, trunk(&[10], None)),
    ]);
    let mut prio = frame(B, A, Some(0));
    prio[14] = 0xa0; // PCP 5, VID 0
    let out = h.send(0, &prio, 0);
    assert_eq!(&out[0].1[14..16], &[0xa0, 10]);
    assert_eq!(out[0].1.len(), prio.len());
}

#[test]
fn vlans_flood_separately() {
    let mut h = Harness::new(vec![
        port(0, VlanMode::Access { vlan: 10 }),
        port(1, VlanMode::Access { vlan: 10 }),
        port(2, VlanMode::Access { vlan: 20 }),
        port(3, trunk(&[10, 20], None)),
    ]);
    assert_eq!(h.outs(0, &frame([0xff; 6], A, None), 0), vec![1, 3]);
    assert_eq!(h.outs(2, &frame([0xff; 6], B, None), 0), vec![3]);
}

#[test]
fn lone_port_flood_is_a_counted_drop() {
    let mut h = Harness::new(vec![port(0, VlanMode::default())]);
    assert_eq!(
        h.dropped(0, &frame([0xff; 6], A, None)),
        Some(DropReason::NoFloodPorts)
    );
}

#[test]
fn hairpin_is_dropped() {
    let mut h = Harness::new(vec![
        port(0, VlanMode::default()),
        port(1, VlanMode::default()),
    ]);
    h.send(0, &frame(B, A, None), 0);
    h.send(0, &frame(A, B, None), 0);
    assert_eq!(
        h.dropped(0, &frame(B, A, None)),
        Some(DropReason::DestinationIsIngressPort)
    );
    // cached, and still the same decision
    assert_eq!(
        h.dropped(0, &frame(B, A, None)),
        Some(DropReason::DestinationIsIngressPort)
    );
}

#[test]
fn unknown_in_port_is_dropped_not_panicking() {
    let mut h = Harness::new(vec![
        port(0, VlanMode::default()),
        port(1, VlanMode::default()),
    ]);
    assert!(h.outs(9, &frame([0xff; 6], A, None), 0).is_empty());
}

#[test]
fn stable_ids_may_leave_gaps() {
    let mut h = Harness::new(vec![
        port(0, VlanMode::default()),
        port(5, VlanMode::default()),
    ]);
    assert_eq!(h.dp.port_count(), 6);
    assert_eq!(h.dp.port_ids().collect::<Vec<_>>(), vec![0, 5]);
    assert_eq!(h.outs(0, &frame([0xff; 6], A, None), 0), vec![5]);
    assert!(h.outs(3, &frame([0xff; 6], B, None), 0).is_empty());
}

// ---- the flow cache ----

#[test]
fn a_known_flow_is_decided_by_the_cache() {
    let mut h = Harness::new((0..2).map(|i| port(i, VlanMode::default())).collect());
    h.send(1, &frame(A, B, None), 0); // learn B on 1
    h.send(0, &frame(B, A, None), 0); // A -> B: miss, cached
    let hits = h.runner.cache.counters.hits;
    for _ in 0..10 {
        assert_eq!(h.outs(0, &frame(B, A, None), 0), vec![1]);
    }
    assert_eq!(h.runner.cache.counters.hits, hits + 10);
}

#[test]
fn a_moved_mac_is_never_served_stale() {
    let mut h = Harness::new((0..3).map(|i| port(i, VlanMode::default())).collect());
    h.send(1, &frame(A, B, None), 0);
    for _ in 0..3 {
        assert_eq!(h.outs(0, &frame(B, A, None), 0), vec![1]);
    }
    // B moves to port 2: the next frame to B follows it.
    h.send(2, &frame(A, B, None), 0);
    assert_eq!(h.outs(0, &frame(B, A, None), 0), vec![2]);
    assert!(h.runner.cache.counters.stale >= 1);
}

#[test]
fn an_aged_destination_is_never_served_from_the_cache() {
    let mut h = Harness::new((0..3).map(|i| port(i, VlanMode::default())).collect());
    h.send(1, &frame(A, B, None), 0);
    assert_eq!(h.outs(0, &frame(B, A, None), 10), vec![1]);
    assert_eq!(h.outs(0, &frame(B, A, None), 300), vec![1]);
    // B was last seen at 0: past the aging time it is unknown again, even
    // before a sweep, and the frame floods.
    assert_eq!(h.outs(0, &frame(B, A, None), 301), vec![1, 2]);
}

#[test]
fn cache_hits_keep_the_source_learned() {
    let mut h = Harness::new((0..3).map(|i| port(i, VlanMode::default())).collect());
    h.send(1, &frame(A, B, None), 0);
    // A talks to B for longer than the aging time, all cache hits after
    // the first (B is refreshed by its own frames every 200 s).
    for now in (0..=900).step_by(50) {
        h.send(0, &frame(B, A, None), now);
        if now % 200 == 0 {
            h.send(1, &frame(A, B, None), now);
        }
        h.dp.sweep_macs(now);
    }
    assert!(h.runner.cache.counters.hits > 10);
    let table = h.dp.mac_table(0).unwrap();
    assert_eq!(
        table.lookup(0, &A, 900),
        Some(0),
        "A aged out while its flow hit the cache"
    );
}

/// The spec of three ports with `statics` as (MAC, port).
fn spec_with_statics(statics: &[(Mac, PortId)]) -> DatapathSpec {
    let mut spec = spec((0..3).map(|i| port(i, VlanMode::default())).collect());
    spec.bridges[0].static_macs = statics
        .iter()
        .map(|&(mac, port)| StaticMac { vlan: 0, mac, port })
        .collect();
    spec
}

/// A static MAC moved from one port to another by a rebuild is never
/// unknown in the shared table meanwhile (workers still forwarding with
/// the old configuration would flood its frames), and one the new
/// configuration drops is removed.
#[test]
fn a_moved_static_mac_is_never_unknown_during_a_rebuild() {
    let first = Datapath::new(&spec_with_statics(&[(A, 1), (C, 1)]), 42).unwrap();
    let table = Arc::clone(first.mac_table(0).unwrap());
    let rebuilding = std::sync::atomic::AtomicBool::new(true);
    let mut current = first;
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut unknown = 0u64;
            while rebuilding.load(std::sync::atomic::Ordering::Relaxed) {
                unknown += u64::from(table.lookup(0, &A, 0).is_none());
            }
            unknown
        });
        for round in 0..40u32 {
            let to = if round % 2 == 0 { 2 } else { 1 };
            current = current
                .rebuild(&spec_with_statics(&[(A, to), (C, 1)]), 42)
                .unwrap();
        }
        rebuilding.store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(watcher.join().unwrap(), 0, "A was unknown during a move");
    });
    assert_eq!(table.lookup(0, &A, 0), Some(1));
    let dropped = current.rebuild(&spec_with_statics(&[(A, 1)]), 42).unwrap();
    assert_eq!(dropped.mac_table(0).unwrap().lookup(0, &C, 0), None);
}

#[test]
fn rebuilt_datapath_keeps_learned_state_and_retire_flushes_gone_ports() {
    let mut h = Harness::new((0..3).map(|i| port(i, VlanMode::default())).collect());
    h.send(0, &frame(B, A, None), 0);
    h.send(2, &frame(A, C, None), 0);
    let next =
        h.dp.rebuild(
            &spec(vec![
                port(0, VlanMode::default()),
                port(1, VlanMode::default()),
            ]),
            42,
        )
        .unwrap();
    assert!(Arc::ptr_eq(
        next.mac_table(0).unwrap(),
        h.dp.mac_table(0).unwrap()
    ));
    next.retire(&h.dp);
    let table = next.mac_table(0).unwrap();
    assert_eq!(table.lookup(0, &A, 0), Some(0), "kept port keeps its MACs");
    assert_eq!(
        table.lookup(0, &C, 0),
        None,
        "the removed port's MACs are flushed"
    );
}

// ---- trace ----

#[test]
fn trace_reports_every_stage_decision() {
    let mut h = Harness::new((0..3).map(|i| port(i, VlanMode::default())).collect());
    h.runner.trace_all = true;
    let mut log = TraceLog::default();
    let mut bytes = frame(B, A, None);
    h.runner.process(
        &h.dp,
        0,
        &mut [&mut bytes[..]],
        &[0],
        0,
        &mut VecSink::new(256),
        &mut h.stats,
        &mut log,
    );
    let events: Vec<&TraceEvent> = log.events.iter().map(|(_, e)| e).collect();
    assert!(matches!(events[0], TraceEvent::Received { port: 0, .. }));
    assert!(events.contains(&&TraceEvent::Stage("ingress")));
    assert!(events.iter().any(|e| matches!(
        e,
        TraceEvent::Learn {
            outcome: crate::mac_table::LearnOutcome::Learned,
            ..
        }
    )));
    assert!(events
        .iter()
        .any(|e| matches!(e, TraceEvent::Lookup { port: None, .. })));
    assert!(events.iter().any(
        |e| matches!(e, TraceEvent::Flood { ports, .. } if ports == &vec![(1, None), (2, None)])
    ));
    assert!(matches!(events.last(), Some(TraceEvent::Final(a)) if a.len() == 1));
    assert_eq!(
        h.runner.cache.counters.inserts, 0,
        "traced decisions are not cached"
    );
}

// ---- stages plugged in: decap and recirculation ----

/// A test stage that decapsulates frames of port 0 whose first byte is
/// 0xee (a fake 14-byte outer header) as if from tunnel port 2.
#[test]
fn a_probe_learns_nothing_but_says_what_learning_would_do() {
    let mut h = Harness::new((0..3).map(|i| port(i, VlanMode::default())).collect());
    h.runner.trace_all = true;
    h.runner.probe = true;
    let probe = |h: &mut Harness, src, in_port| {
        let mut log = TraceLog::default();
        let mut bytes = frame(B, src, None);
        h.runner.process(
            &h.dp,
            in_port,
            &mut [&mut bytes[..]],
            &[0],
            0,
            &mut VecSink::new(256),
            &mut h.stats,
            &mut log,
        );
        log.events.into_iter().find_map(|(_, e)| match e {
            TraceEvent::Learn { outcome, .. } => Some(outcome),
            _ => None,
        })
    };
    use crate::mac_table::LearnOutcome;
    assert_eq!(probe(&mut h, A, 0), Some(LearnOutcome::Learned));
    let table = h.dp.mac_table(0).unwrap();
    assert_eq!(table.lookup(0, &A, 0), None, "a probe learned nothing");
    assert!(table.learn(0, &A, 0, 0) == LearnOutcome::Learned);
    assert_eq!(probe(&mut h, A, 0), Some(LearnOutcome::Known));
    assert_eq!(probe(&mut h, A, 1), Some(LearnOutcome::Moved));
    assert_eq!(
        h.dp.mac_table(0).unwrap().lookup(0, &A, 0),
        Some(0),
        "a probe from another port moved nothing"
    );
}

struct FakeTunnel;

impl Stage for FakeTunnel {
    fn name(&self) -> &'static str {
        "fake-tunnel"
    }
    fn reads(&self) -> KeyFields {
        KeyFields::L2
    }
    fn run(&self, burst: &mut StageBurst<'_>, _env: &mut StageEnv<'_>) {
        for &i in burst.active {
            let ctx: &mut PacketCtx = &mut burst.ctxs[i as usize];
            ctx.tunnel.present = true;
            ctx.tunnel.port = 2;
            ctx.tunnel.vni = 42;
            ctx.tunnel.header_len = 14;
            ctx.actions.push(Action::Decap);
        }
    }
}

#[test]
fn decap_runs_the_inner_frame_from_the_tunnel_port() {
    let mut h = Harness::new((0..3).map(|i| port(i, VlanMode::default())).collect());
    h.dp.set_chain(0, Box::new([Arc::new(FakeTunnel)]));
    let inner = frame([0xff; 6], A, None);
    let mut outer = frame(B, C, None)[..14].to_vec();
    outer.extend_from_slice(&inner);
    let out = h.send(0, &outer, 0);
    // The inner broadcast floods from port 2: to 0 and 1, never back to 2.
    assert_eq!(out, vec![(0, inner.clone()), (1, inner)]);
    let table = h.dp.mac_table(0).unwrap();
    assert_eq!(
        table.lookup(0, &A, 0),
        Some(2),
        "learned on the tunnel port"
    );
}

// ---- never panics, every frame counted ----

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Frames that mostly look like Ethernet with tags, so the VLAN and
    /// egress paths are reached, not only the early drops.
    fn framey() -> impl Strategy<Value = Vec<u8>> {
        (
            proptest::collection::vec(any::<u8>(), 0..96),
            prop_oneof![Just(None), Just(Some(0x8100u16)), Just(Some(0x88a8u16))],
            any::<u16>(),
            any::<bool>(),
        )
            .prop_map(|(mut bytes, tpid, tci, unicast_src)| {
                if let (Some(tpid), true) = (tpid, bytes.len() >= 16) {
                    bytes[12..14].copy_from_slice(&tpid.to_be_bytes());
                    bytes[14..16].copy_from_slice(&tci.to_be_bytes());
                }
                if unicast_src && bytes.len() >= 12 {
                    bytes[6] &= 0xfe;
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_frame_on_any_port(
            frames in proptest::collection::vec((framey(), 0u16..6, 0u32..1000), 1..40),
            slot_len in 0usize..128,
        ) {
            let mut h = Harness::new(vec![
                port(0, VlanMode::default()),
                port(1, VlanMode::Access { vlan: 10 }),
                port(2, trunk(&[10, 20], Some(20))),
                port(3, trunk(&[], None)),
            ]);
            for (f, in_port, now) in &frames {
                for slot in [slot_len, 256] {
                    let drops_before: u64 = h.stats.ports.iter().map(|p| p.total_drops()).sum();
                    let out = h.send_into(*in_port, f, *now, &mut VecSink::new(slot));
                    let drops_after: u64 = h.stats.ports.iter().map(|p| p.total_drops()).sum();
                    for (p, _) in &out {
                        prop_assert_ne!(*p, *in_port);
                    }
                    // Exactly one outcome: sent somewhere, or dropped (a
                    // flood may drop on some outputs and send on others).
                    prop_assert!(!out.is_empty() || drops_after > drops_before || *in_port >= 4);
                }
            }
        }
    }
}

// ---- connection tracking through the ct action ----

/// A tracker that marks every frame new and tracked.
struct MarkNew;

impl crate::egress::ConnTracker for MarkNew {
    fn track(
        &mut self,
        _frame: &mut [u8],
        ctx: &mut PacketCtx,
        zone: u16,
        _commit: bool,
        _nat: crate::conntrack::NatRequest,
        _now: u32,
    ) -> Result<crate::egress::Tracked, DropReason> {
        use crate::context::ct_state::{NEW, TRACKED};
        ctx.ct.zone = zone;
        ctx.ct.state = TRACKED | NEW;
        Ok(crate::egress::Tracked::Recirculate)
    }
}

/// A stage that sends untracked frames through ct (zone 7) and outputs
/// tracked ones to port 1.
struct CtThenOutput;

impl Stage for CtThenOutput {
    fn name(&self) -> &'static str {
        "ct-then-output"
    }
    fn reads(&self) -> KeyFields {
        KeyFields::L2.with(KeyFields::CT)
    }
    fn run(&self, burst: &mut StageBurst<'_>, _env: &mut StageEnv<'_>) {
        for &i in burst.active {
            let ctx = &mut burst.ctxs[i as usize];
            if ctx.ct.state == 0 {
                ctx.actions.push(Action::Ct {
                    zone: 7,
                    commit: true,
                    nat: crate::action::CtNat::None,
                });
            } else {
                ctx.actions.push(Action::Output(1));
            }
        }
    }
}

#[test]
fn ct_recirculates_with_the_trackers_state_and_both_passes_cache() {
    let mut h = Harness::new((0..2).map(|i| port(i, VlanMode::default())).collect());
    h.dp.set_chain(0, Box::new([Arc::new(CtThenOutput)]));
    // Without a tracker the ct action is a counted drop.
    assert_eq!(
        h.dropped(0, &frame(B, A, None)),
        Some(DropReason::NoConntrack)
    );
    h.runner = BurstRunner::new(64);
    h.runner.set_conntrack(Box::new(MarkNew));
    for round in 0..3 {
        assert_eq!(h.outs(0, &frame(B, A, None), 0), vec![1], "round {round}");
    }
    // The first pass (ct state 0) and the recirculated one (tracked, new)
    // are two entries; after the first frame both hit.
    let c = h.runner.cache.counters;
    assert_eq!((c.inserts, c.hits), (2, 4), "{c:?}");
}
