//! UDP, ICMP echo, related ICMP errors, zones, what is not tracked.

use super::frames::*;
use crate::conntrack::{ConnTable, ConntrackConfig, InvalidReason};
use crate::context::ct_state::{ESTABLISHED, INVALID, NEW, RELATED, REPLY, TRACKED};
use crate::wire::ip_proto;
use crate::wire::tcp::flags::SYN;

fn table() -> ConnTable {
    ConnTable::with_config(ConntrackConfig {
        limit: 64,
        ..ConntrackConfig::default()
    })
}

#[test]
fn udp_is_new_until_a_reply_then_established() {
    let t = table();
    let out = ipv4(A, B, ip_proto::UDP, &udp(5000, 53));
    let back = ipv4(B, A, ip_proto::UDP, &udp(53, 5000));
    assert_eq!(run(&t, &out, 0, true, 1).state, TRACKED | NEW);
    assert_eq!(run(&t, &out, 0, true, 1).state, TRACKED | NEW);
    assert_eq!(
        run(&t, &back, 0, true, 2).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(run(&t, &out, 0, true, 3).state, TRACKED | ESTABLISHED);
    assert_eq!(t.counters().created, 1);
    let info = t.dump(3).next().expect("tracked");
    assert!(info.reply_seen);
    assert_eq!(info.tcp_state, None);
    assert_eq!(info.expires_in, 120, "replied UDP lives 120 s");
}

#[test]
fn udp_over_ipv6() {
    let t = table();
    let out = ipv6(A6, B6, ip_proto::UDP, &udp(5000, 53));
    let back = ipv6(B6, A6, ip_proto::UDP, &udp(53, 5000));
    assert_eq!(run(&t, &out, 0, true, 1).state, TRACKED | NEW);
    assert_eq!(
        run(&t, &back, 0, true, 1).state,
        TRACKED | ESTABLISHED | REPLY
    );
}

#[test]
fn icmp_echo_by_identifier() {
    let t = table();
    let request = |ident| ipv4(A, B, ip_proto::ICMP, &echo(8, ident, 1));
    let reply = |ident| ipv4(B, A, ip_proto::ICMP, &echo(0, ident, 1));
    assert_eq!(
        run(&t, &reply(7), 0, true, 1).state,
        TRACKED | INVALID,
        "a reply to nothing"
    );
    assert_eq!(run(&t, &request(7), 0, true, 1).state, TRACKED | NEW);
    assert_eq!(
        run(&t, &reply(7), 0, true, 1).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(
        run(&t, &request(7), 0, true, 2).state,
        TRACKED | ESTABLISHED
    );
    // Another identifier is another conversation.
    assert_eq!(run(&t, &reply(8), 0, true, 2).state, TRACKED | INVALID);
    // A request sent back along the reply direction does not fit.
    let wrong_way = ipv4(B, A, ip_proto::ICMP, &echo(8, 7, 2));
    assert_eq!(run(&t, &wrong_way, 0, true, 2).state, TRACKED | INVALID);
    assert_eq!(t.counters().invalid(InvalidReason::IcmpUnexpected), 3);
    assert_eq!(t.len(), 1);
    // Timestamps and the like are not tracked.
    let timestamp = ipv4(A, B, ip_proto::ICMP, &echo(13, 7, 2));
    assert_eq!(run(&t, &timestamp, 0, true, 2).state, TRACKED | INVALID);
    assert_eq!(t.counters().invalid(InvalidReason::IcmpUntracked), 1);
}

#[test]
fn icmpv6_echo() {
    let t = table();
    let request = ipv6(A6, B6, ip_proto::ICMPV6, &echo(128, 9, 1));
    let reply = ipv6(B6, A6, ip_proto::ICMPV6, &echo(129, 9, 1));
    assert_eq!(run(&t, &request, 0, true, 1).state, TRACKED | NEW);
    assert_eq!(
        run(&t, &reply, 0, true, 1).state,
        TRACKED | ESTABLISHED | REPLY
    );
    // Neighbour discovery is no connection.
    let solicitation = ipv6(A6, B6, ip_proto::ICMPV6, &echo(135, 0, 0));
    assert_eq!(run(&t, &solicitation, 0, true, 1).state, TRACKED | INVALID);
    assert_eq!(t.counters().invalid(InvalidReason::IcmpUntracked), 1);
}

#[test]
fn icmp_errors_are_related_to_the_connection_they_quote() {
    let t = table();
    let datagram = ipv4_packet(A, B, ip_proto::UDP, &udp(5000, 53));
    run(&t, &ipv4(A, B, ip_proto::UDP, &udp(5000, 53)), 0, true, 1);
    // A router on the way says B is unreachable, to A: against the
    // original direction.
    let router = [192, 0, 2, 1];
    let unreachable = ipv4(router, A, ip_proto::ICMP, &icmp_error(3, 1, &datagram));
    assert_eq!(
        run(&t, &unreachable, 0, true, 1).state,
        TRACKED | RELATED | REPLY
    );
    // Time exceeded for a TCP SYN, quoting only the first 8 bytes of TCP.
    let syn = ipv4_packet(
        A,
        B,
        ip_proto::TCP,
        &tcp(1000, 80, 1, 0, SYN, 65535, None, 0),
    );
    run(
        &t,
        &ipv4(
            A,
            B,
            ip_proto::TCP,
            &tcp(1000, 80, 1, 0, SYN, 65535, None, 0),
        ),
        0,
        true,
        1,
    );
    let exceeded = ipv4(router, A, ip_proto::ICMP, &icmp_error(11, 0, &syn[..28]));
    assert_eq!(
        run(&t, &exceeded, 0, true, 1).state,
        TRACKED | RELATED | REPLY
    );
    // An error about a reply-direction packet travels the original way.
    let reply = ipv4_packet(B, A, ip_proto::UDP, &udp(53, 5000));
    let to_b = ipv4(router, B, ip_proto::ICMP, &icmp_error(3, 3, &reply));
    assert_eq!(run(&t, &to_b, 0, true, 1).state, TRACKED | RELATED);
    // Errors change nothing and create nothing.
    assert_eq!(t.len(), 2);
    assert!(!t.dump(1).any(|c| c.reply_seen));
    // An error about nothing tracked, and one cut short.
    let other = ipv4_packet(A, B, ip_proto::UDP, &udp(5001, 53));
    let unrelated = ipv4(router, A, ip_proto::ICMP, &icmp_error(3, 1, &other));
    assert_eq!(run(&t, &unrelated, 0, true, 1).state, TRACKED | INVALID);
    let short = ipv4(
        router,
        A,
        ip_proto::ICMP,
        &icmp_error(3, 1, &datagram[..24]),
    );
    assert_eq!(run(&t, &short, 0, true, 1).state, TRACKED | INVALID);
    assert_eq!(t.counters().invalid(InvalidReason::IcmpUnrelated), 1);
    assert_eq!(t.counters().invalid(InvalidReason::IcmpBadQuote), 1);
}

#[test]
fn icmpv6_errors_are_related() {
    let t = table();
    let datagram = ipv6_packet(A6, B6, ip_proto::UDP, &udp(5000, 53));
    run(&t, &ipv6(A6, B6, ip_proto::UDP, &udp(5000, 53)), 0, true, 1);
    let router = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe];
    for message_type in [1, 2, 3] {
        let error = ipv6(
            router,
            A6,
            ip_proto::ICMPV6,
            &icmp_error(message_type, 0, &datagram),
        );
        assert_eq!(run(&t, &error, 0, true, 1).state, TRACKED | RELATED | REPLY);
    }
}

#[test]
fn zones_separate_connections() {
    let t = table();
    let out = ipv4(A, B, ip_proto::UDP, &udp(5000, 53));
    let back = ipv4(B, A, ip_proto::UDP, &udp(53, 5000));
    run(&t, &out, 1, true, 1);
    assert_eq!(
        run(&t, &back, 1, true, 1).state,
        TRACKED | ESTABLISHED | REPLY
    );
    // The same packets are a connection of their own in zone 2, where the
    // reply comes first.
    assert_eq!(run(&t, &back, 2, true, 1).state, TRACKED | NEW);
    assert_eq!(
        run(&t, &out, 2, true, 1).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(t.len(), 2);
    assert_eq!(t.flush(Some(2)), 1);
    assert_eq!(t.dump(1).map(|c| c.original.zone).collect::<Vec<_>>(), [1]);
    assert_eq!(run(&t, &out, 1, true, 1).state, TRACKED | ESTABLISHED);
    assert_eq!(t.flush(None), 1);
    assert!(t.is_empty());
}

#[test]
fn what_is_not_tracked_is_invalid() {
    let t = table();
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[
        0x02, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
    ]);
    assert_eq!(run(&t, &arp, 0, true, 1).state, TRACKED | INVALID);
    let gre = ipv4(A, B, 47, &[0; 8]);
    assert_eq!(run(&t, &gre, 0, true, 1).state, TRACKED | INVALID);
    let mut fragment = ipv4(A, B, ip_proto::UDP, &udp(5000, 53));
    fragment[20] = 0x20; // more fragments, offset 0: a first fragment
    assert_eq!(run(&t, &fragment, 0, true, 1).state, TRACKED | INVALID);
    let c = t.counters();
    assert_eq!(c.invalid(InvalidReason::NotIp), 1);
    assert_eq!(c.invalid(InvalidReason::UnsupportedProtocol), 1);
    assert_eq!(c.invalid(InvalidReason::Fragment), 1);
    assert!(t.is_empty());
}
