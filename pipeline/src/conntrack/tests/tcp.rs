//! The TCP state machine and window checks, frame by frame.

use super::frames::*;
use crate::conntrack::{ConnTable, ConntrackConfig, InvalidReason, TcpState};
use crate::context::ct_state::{ESTABLISHED, INVALID, NEW, REPLY, TRACKED};
use crate::parse::parse;
use crate::wire::ip_proto;
use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};

const C_ISN: u32 = 100;
const S_ISN: u32 = 5000;

fn table() -> ConnTable {
    ConnTable::with_config(ConntrackConfig {
        limit: 64,
        ..ConntrackConfig::default()
    })
}

fn state(table: &ConnTable, now: u32) -> Option<TcpState> {
    let entries: Vec<_> = table.dump(now).collect();
    assert!(entries.len() <= 1, "one connection at most: {entries:?}");
    entries.first().and_then(|e| e.tcp_state)
}

/// SYN, SYN-ACK, ACK: the client's next byte is C_ISN + 1, the server's
/// S_ISN + 1.
fn handshake(c: &Conversation<'_>) {
    assert_eq!(c.client(C_ISN, 0, SYN, 0).state, TRACKED | NEW);
    assert_eq!(state(c.table, c.now), Some(TcpState::SynSent));
    assert_eq!(
        c.server(S_ISN, C_ISN + 1, SYN | ACK, 0).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(state(c.table, c.now), Some(TcpState::SynRecv));
    assert_eq!(
        c.client(C_ISN + 1, S_ISN + 1, ACK, 0).state,
        TRACKED | ESTABLISHED
    );
    assert_eq!(state(c.table, c.now), Some(TcpState::Established));
}

#[test]
fn three_way_handshake_establishes_and_data_flows() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    handshake(&c);
    assert_eq!(
        c.client(C_ISN + 1, S_ISN + 1, ACK, 100).state,
        TRACKED | ESTABLISHED
    );
    assert_eq!(
        c.server(S_ISN + 1, C_ISN + 101, ACK, 1400).state,
        TRACKED | ESTABLISHED | REPLY
    );
    let info = t.dump(10).next().expect("tracked");
    assert_eq!(info.original.src_port, 1000);
    assert_eq!(info.reply.src_port, 80);
    assert_eq!(info.windows[0].end, C_ISN + 101);
    assert_eq!(info.windows[1].end, S_ISN + 1401);
    assert_eq!(t.counters().created, 1);
    assert_eq!(t.counters().invalid.iter().sum::<u64>(), 0);
}

#[test]
fn retransmitted_syn_never_establishes() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    for _ in 0..3 {
        assert_eq!(c.client(C_ISN, 0, SYN, 0).state, TRACKED | NEW);
        assert_eq!(state(&t, 10), Some(TcpState::SynSent));
    }
    // An ACK before any SYN-ACK is no part of a handshake.
    assert_eq!(
        c.client(C_ISN + 1, S_ISN + 1, ACK, 0).state,
        TRACKED | INVALID
    );
    assert_eq!(t.counters().invalid(InvalidReason::TcpUnexpected), 1);
    // After the SYN-ACK, the client's SYN again (the SYN-ACK was lost on
    // its way) is still NEW and leaves the state at SYN_RECV.
    c.server(S_ISN, C_ISN + 1, SYN | ACK, 0);
    assert_eq!(c.client(C_ISN, 0, SYN, 0).state, TRACKED | NEW);
    assert_eq!(state(&t, 10), Some(TcpState::SynRecv));
    // A SYN with another initial sequence number is not a retransmission.
    assert_eq!(c.client(C_ISN + 7, 0, SYN, 0).state, TRACKED | INVALID);
    assert_eq!(state(&t, 10), Some(TcpState::SynRecv));
    assert_eq!(t.counters().created, 1);
}

#[test]
fn syn_ack_must_acknowledge_the_syn() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    c.client(C_ISN, 0, SYN, 0);
    assert_eq!(
        c.server(S_ISN, C_ISN + 2, SYN | ACK, 0).state,
        TRACKED | INVALID
    );
    assert_eq!(t.counters().invalid(InvalidReason::TcpBadAck), 1);
    // A SYN-ACK from the client's side is not expected either.
    assert_eq!(c.client(C_ISN, 0, SYN | ACK, 0).state, TRACKED | INVALID);
    assert_eq!(state(&t, 10), Some(TcpState::SynSent));
}

#[test]
fn out_of_window_segments_are_invalid_and_change_nothing() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    handshake(&c);
    c.client(C_ISN + 1, S_ISN + 1, ACK, 100);
    let before = t.dump(10).next().expect("tracked");
    // Past the server's window (65535 from the SYN-ACK, unscaled).
    assert_eq!(
        c.client(C_ISN + 1 + 70_000, S_ISN + 1, ACK, 10).state,
        TRACKED | INVALID
    );
    // Older than a whole window.
    c.client(C_ISN + 101, S_ISN + 1, ACK, 60_000);
    let stale = C_ISN.wrapping_sub(100_000);
    assert_eq!(c.client(stale, S_ISN + 1, ACK, 10).state, TRACKED | INVALID);
    assert_eq!(t.counters().invalid(InvalidReason::TcpOutOfWindow), 2);
    // Acknowledging data the server never sent.
    assert_eq!(
        c.client(C_ISN + 60_101, S_ISN + 5000, ACK, 0).state,
        TRACKED | INVALID
    );
    assert_eq!(t.counters().invalid(InvalidReason::TcpBadAck), 1);
    let after = t.dump(10).next().expect("tracked");
    assert_eq!(after.tcp_state, Some(TcpState::Established));
    assert_eq!(
        after.windows[1], before.windows[1],
        "the server's side is untouched"
    );
    assert_eq!(
        after.windows[0].end,
        C_ISN + 60_101,
        "only the valid segment moved it"
    );
    // The connection goes on.
    assert_eq!(
        c.server(S_ISN + 1, C_ISN + 60_101, ACK, 0).state,
        TRACKED | ESTABLISHED | REPLY
    );
}

#[test]
fn window_scaling_is_used_only_when_both_ends_offer_it() {
    for (client_scale, server_scale, valid) in [(Some(7), Some(7), true), (Some(7), None, false)] {
        let t = table();
        let send =
            |src: [u8; 4], dst: [u8; 4], sport, dport, seq, ack, flags, window, wscale, len| {
                let f = ipv4(
                    src,
                    dst,
                    ip_proto::TCP,
                    &tcp(sport, dport, seq, ack, flags, window, wscale, len),
                );
                run(&t, &f, 0, true, 5).state
            };
        send(A, B, 1000, 80, C_ISN, 0, SYN, 65535, client_scale, 0);
        send(
            B,
            A,
            80,
            1000,
            S_ISN,
            C_ISN + 1,
            SYN | ACK,
            65535,
            server_scale,
            0,
        );
        // The server opens its window to 1000 << 7 = 128000 bytes.
        send(A, B, 1000, 80, C_ISN + 1, S_ISN + 1, ACK, 1000, None, 0);
        send(B, A, 80, 1000, S_ISN + 1, C_ISN + 1, ACK, 1000, None, 0);
        let far = send(
            A,
            B,
            1000,
            80,
            C_ISN + 100_001,
            S_ISN + 1,
            ACK,
            1000,
            None,
            10,
        );
        assert_eq!(
            far & INVALID == 0,
            valid,
            "scales {client_scale:?} {server_scale:?}"
        );
    }
}

#[test]
fn rst_is_accepted_only_in_window() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    handshake(&c);
    assert_eq!(
        c.server(S_ISN + 1_000_000, 0, RST, 0).state,
        TRACKED | INVALID
    );
    assert_eq!(t.counters().invalid(InvalidReason::TcpRstOutOfWindow), 1);
    assert_eq!(state(&t, 10), Some(TcpState::Established));
    assert_eq!(
        c.server(S_ISN + 1, C_ISN + 1, RST | ACK, 0).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(state(&t, 10), Some(TcpState::Close));
    // CLOSE lasts 10 seconds.
    assert_eq!(state(&t, 20), Some(TcpState::Close));
    assert_eq!(state(&t, 21), None);
}

#[test]
fn rst_in_syn_sent_must_acknowledge_the_syn() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    c.client(C_ISN, 0, SYN, 0);
    assert_eq!(
        c.server(0, C_ISN + 5, RST | ACK, 0).state,
        TRACKED | INVALID
    );
    assert_eq!(c.server(0, 0, RST, 0).state, TRACKED | INVALID);
    assert_eq!(state(&t, 10), Some(TcpState::SynSent));
    // A closed port's answer (RFC 9293 section 3.10.7.1).
    assert_eq!(
        c.server(0, C_ISN + 1, RST | ACK, 0).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(state(&t, 10), Some(TcpState::Close));
}

#[test]
fn fin_both_ways_then_time_wait_then_reopen() {
    let t = table();
    let mut c = Conversation { table: &t, now: 10 };
    handshake(&c);
    assert_eq!(
        c.client(C_ISN + 1, S_ISN + 1, FIN | ACK, 0).state,
        TRACKED | ESTABLISHED
    );
    assert_eq!(state(&t, 10), Some(TcpState::FinWait));
    // The server still sends data, then closes too.
    c.server(S_ISN + 1, C_ISN + 2, ACK, 10);
    assert_eq!(state(&t, 10), Some(TcpState::FinWait));
    c.server(S_ISN + 11, C_ISN + 2, FIN | ACK, 0);
    assert_eq!(state(&t, 10), Some(TcpState::LastAck));
    // An ACK short of the server's FIN does not finish it.
    c.client(C_ISN + 2, S_ISN + 11, ACK, 0);
    assert_eq!(state(&t, 10), Some(TcpState::LastAck));
    c.client(C_ISN + 2, S_ISN + 12, ACK, 0);
    assert_eq!(state(&t, 10), Some(TcpState::TimeWait));
    // Retransmitted FINs are fine in TIME_WAIT.
    assert_eq!(
        c.server(S_ISN + 11, C_ISN + 2, FIN | ACK, 0).state & INVALID,
        0
    );
    // The client reuses its port: a new connection replaces the old one.
    c.now = 20;
    assert_eq!(c.client(9000, 0, SYN, 0).state, TRACKED | NEW);
    assert_eq!(state(&t, 20), Some(TcpState::SynSent));
    assert_eq!(t.counters().created, 2);
    assert_eq!(t.len(), 1);
}

#[test]
fn time_wait_expires() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    handshake(&c);
    c.client(C_ISN + 1, S_ISN + 1, FIN | ACK, 0);
    c.server(S_ISN + 1, C_ISN + 2, FIN | ACK, 0);
    c.client(C_ISN + 2, S_ISN + 2, ACK, 0);
    assert_eq!(state(&t, 10), Some(TcpState::TimeWait));
    assert_eq!(t.sweep(130), 0);
    assert_eq!(t.sweep(131), 1);
    assert!(t.is_empty());
}

#[test]
fn simultaneous_open() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    c.client(C_ISN, 0, SYN, 0);
    assert_eq!(c.server(S_ISN, 0, SYN, 0).state, TRACKED | NEW | REPLY);
    assert_eq!(state(&t, 10), Some(TcpState::SynSent2));
    c.server(S_ISN, C_ISN + 1, SYN | ACK, 0);
    assert_eq!(state(&t, 10), Some(TcpState::SynRecv));
    c.client(C_ISN + 1, S_ISN + 1, ACK, 0);
    assert_eq!(state(&t, 10), Some(TcpState::Established));
}

#[test]
fn only_a_syn_opens_a_connection() {
    let t = table();
    let c = Conversation { table: &t, now: 10 };
    assert_eq!(c.client(C_ISN, 0, ACK, 0).state, TRACKED | INVALID);
    assert_eq!(c.client(C_ISN, 0, SYN | FIN, 0).state, TRACKED | INVALID);
    assert_eq!(c.client(C_ISN, 0, FIN, 0).state, TRACKED | INVALID);
    assert_eq!(t.counters().invalid(InvalidReason::TcpNoSyn), 1);
    assert_eq!(t.counters().invalid(InvalidReason::TcpBadFlags), 2);
    assert!(t.is_empty());
}

#[test]
fn uncommitted_and_probed_frames_change_nothing() {
    let t = table();
    let syn = ipv4(
        A,
        B,
        ip_proto::TCP,
        &tcp(1000, 80, C_ISN, 0, SYN, 65535, None, 0),
    );
    assert_eq!(run(&t, &syn, 0, false, 10).state, TRACKED | NEW);
    assert!(t.is_empty());
    let c = Conversation { table: &t, now: 10 };
    c.client(C_ISN, 0, SYN, 0);
    let synack = ipv4(
        B,
        A,
        ip_proto::TCP,
        &tcp(80, 1000, S_ISN, C_ISN + 1, SYN | ACK, 65535, None, 0),
    );
    let parsed = parse(&synack).expect("parses");
    let probed = t.track(&synack, &parsed, 0, true, 10, true);
    assert_eq!(probed.state, TRACKED | ESTABLISHED | REPLY);
    assert_eq!(
        state(&t, 10),
        Some(TcpState::SynSent),
        "a probe moves nothing"
    );
    // An uncommitted SYN-ACK does move an existing connection (commit is
    // about creating, as in Open vSwitch).
    assert_eq!(
        run(&t, &synack, 0, false, 10).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(state(&t, 10), Some(TcpState::SynRecv));
}

#[test]
fn tcp_over_ipv6() {
    let t = table();
    let send = |src, dst, sport, dport, seq, ack, flags| {
        let f = ipv6(
            src,
            dst,
            ip_proto::TCP,
            &tcp(sport, dport, seq, ack, flags, 65535, None, 0),
        );
        run(&t, &f, 0, true, 1).state
    };
    assert_eq!(send(A6, B6, 1000, 443, C_ISN, 0, SYN), TRACKED | NEW);
    assert_eq!(
        send(B6, A6, 443, 1000, S_ISN, C_ISN + 1, SYN | ACK),
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(
        send(A6, B6, 1000, 443, C_ISN + 1, S_ISN + 1, ACK),
        TRACKED | ESTABLISHED
    );
    let info = t.dump(1).next().expect("tracked");
    assert!(info.original.ipv6);
    assert_eq!(info.original.src, A6);
    assert_eq!(info.tcp_state, Some(TcpState::Established));
}
