use std::net::Ipv4Addr;

use super::*;

fn spec(subnet: [u8; 4], len: u8) -> NetworkSpec {
    NetworkSpec {
        name: "a".into(),
        bridge: 0,
        vlan: 0,
        subnet: (Ipv4Addr::from(subnet), len),
        gateway: Ipv4Addr::new(10, 1, 0, 1),
        gateway_mac: [2, 0, 0, 0, 0, 1],
        subnet6: None,
        gateway6: None,
        routes_to: vec![],
        uplink: None,
        masquerade: false,
        nat_ports: crate::l3::DEFAULT_NAT_PORTS,
        publish: vec![],
        icc: true,
    }
}

#[test]
fn a_subnet_contains_its_hosts_and_knows_its_broadcast() {
    let net = spec([10, 1, 0, 0], 24);
    assert!(net.contains(Ipv4Addr::new(10, 1, 0, 200)));
    assert!(!net.contains(Ipv4Addr::new(10, 1, 1, 2)));
    assert_eq!(net.broadcast(), Ipv4Addr::new(10, 1, 0, 255));
    assert_eq!(
        spec([10, 0, 0, 0], 8).broadcast(),
        Ipv4Addr::new(10, 255, 255, 255)
    );
    assert!(spec([0, 0, 0, 0], 0).contains(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(prefix_mask(0), 0);
    assert_eq!(prefix_mask(32), u32::MAX);
    assert_eq!(prefix_mask(20), 0xffff_f000);
}

#[test]
fn a_rebuild_keeps_state_only_for_the_same_network() {
    let net = spec([10, 1, 0, 0], 24);
    assert!(net.keeps_state_for(&net.clone()));
    let mut renamed = net.clone();
    renamed.name = "b".into();
    assert!(!net.keeps_state_for(&renamed));
    assert!(!net.keeps_state_for(&spec([10, 1, 0, 0], 23)));
    let mut allowed = net.clone();
    allowed.routes_to = vec![1];
    assert!(net.keeps_state_for(&allowed));
}

#[test]
fn the_icmp_limit_allows_a_second_worth_then_counts_the_rest() {
    let limiter = IcmpLimiter::default();
    let allowed = (0..ICMP_ERRORS_PER_SEC + 5)
        .filter(|_| limiter.allow(10))
        .count();
    assert_eq!(allowed, ICMP_ERRORS_PER_SEC as usize);
    assert_eq!(limiter.suppressed(), 5);
    assert!(limiter.allow(11));
}

#[test]
fn workers_share_the_icmp_limit() {
    let limiter = std::sync::Arc::new(IcmpLimiter::default());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let limiter = std::sync::Arc::clone(&limiter);
            std::thread::spawn(move || (0..100).filter(|_| limiter.allow(3)).count())
        })
        .collect();
    let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(allowed, ICMP_ERRORS_PER_SEC as usize);
    assert_eq!(limiter.suppressed(), 400 - ICMP_ERRORS_PER_SEC as u64);
}
