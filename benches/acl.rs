//! The ACL classifier's cost per packet at 10, 1,000 and 10,000 rules.
//!
//! The rule set is the per-core `acl1k-1kflow` case scaled: one `allow`
//! rule per flow (its peer address /32, TCP, destination port 80) and a
//! default deny; the packets cycle over the flows in a scrambled order,
//! every one matching its rule. `acl/decide/N` times
//! [`PortAcl::decide`], the work a frame costs the ACL stage on a flow
//! cache miss (a hit costs no classification at all). The summary prints
//! ns per decision and the 10,000/10 ratio.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use vswitch_pipeline::acl::{
    Direction, IpBlock, Peer, PortAcl, PortAclSpec, Prefix, RuleAction, RuleSpec,
};
use vswitch_pipeline::wire::ethernet::ethertype;
use vswitch_pipeline::FlowKey;

const SIZES: [u32; 3] = [10, 1_000, 10_000];
const PROBES: usize = 1024;

fn peer(n: u32) -> [u8; 4] {
    (0x0a00_0000 | n).to_be_bytes()
}

fn setup(rules: u32) -> (PortAcl, Vec<FlowKey>) {
    let spec = PortAclSpec {
        port: 0,
        rules: (0..rules)
            .map(|n| RuleSpec {
                name: format!("flow{n}"),
                direction: Direction::Ingress,
                action: RuleAction::Allow,
                peers: vec![Peer::Block(IpBlock {
                    cidr: Prefix {
                        addr: IpAddr::V4(Ipv4Addr::from(peer(n))),
                        len: 32,
                    },
                    except: vec![],
                })],
                proto: Some(6),
                ports: Some((80, 80)),
            })
            .collect(),
        default_ingress_allow: false,
        default_egress_allow: true,
    };
    let keys = (0..PROBES as u32)
        .map(|i| {
            let mut key = FlowKey {
                ethertype: ethertype::IPV4,
                ip_proto: 6,
                l4_src: 40000,
                l4_dst: 80,
                ..FlowKey::default()
            };
            // A scrambled walk over the flows.
            let n = i.wrapping_mul(2_654_435_761) % rules;
            key.ip_src[..4].copy_from_slice(&peer(n));
            key
        })
        .collect();
    (PortAcl::new(&spec), keys)
}

fn decide_all(acl: &PortAcl, keys: &[FlowKey]) -> usize {
    keys.iter()
        .filter(|k| {
            acl.decide(Direction::Ingress, black_box(k), 1, 1, false)
                .allow
        })
        .count()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("acl");
    group.throughput(Throughput::Elements(PROBES as u64));
    for rules in SIZES {
        let (acl, keys) = setup(rules);
        assert_eq!(
            decide_all(&acl, &keys),
            PROBES,
            "every probe has its allow rule"
        );
        group.bench_with_input(BenchmarkId::new("decide", rules), &rules, |b, _| {
            b.iter(|| decide_all(&acl, &keys))
        });
    }
    group.finish();
}

fn ns_per_decision(acl: &PortAcl, keys: &[FlowKey], budget: Duration) -> f64 {
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed() < budget {
        black_box(decide_all(acl, keys));
        rounds += 1;
    }
    start.elapsed().as_secs_f64() * 1e9 / (rounds * keys.len() as u64) as f64
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    bench(&mut c);
    c.final_summary();
    println!("\nsummary (one allow rule per flow, default deny, one core):");
    let mut results = Vec::new();
    for rules in SIZES {
        let (acl, keys) = setup(rules);
        let ns = ns_per_decision(&acl, &keys, Duration::from_millis(1500));
        println!("  {rules:>6} rules: {ns:>6.1} ns/decision");
        results.push(ns);
    }
    if let [small, _, large] = results[..] {
        println!("  10000/10 ratio: {:.2}", large / small);
    }
}
