use super::*;
use proptest::prelude::*;

/// Taken by the tests that read live events: one floods the kernel with
/// events, which would make another's socket overflow too.
static LIVE_EVENTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A netlink message of `kind` with `payload`, padded to 4 bytes.
fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = (NLMSG_HEADER_LEN + payload.len()) as u32;
    let mut m = Vec::new();
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid
    m.extend_from_slice(payload);
    m.resize(align4(m.len()), 0);
    m
}

fn attribute(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((RTATTR_HEADER_LEN + data.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(data);
    a.resize(align4(a.len()), 0);
    a
}

/// An ifinfomsg for `index` with `flags`, then `attrs`.
fn link(index: u32, flags: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut p = vec![0u8; 4]; // family, pad, type
    p.extend_from_slice(&index.to_ne_bytes());
    p.extend_from_slice(&flags.to_ne_bytes());
    p.extend_from_slice(&0u32.to_ne_bytes()); // change
    for a in attrs {
        p.extend_from_slice(a);
    }
    p
}

const UP_RUNNING: u32 = (libc::IFF_UP | libc::IFF_RUNNING) as u32;

fn veth_up() -> Vec<u8> {
    message(
        RTM_NEWLINK,
        &link(
            7,
            UP_RUNNING,
            &[
                attribute(IFLA_IFNAME, b"veth-c1\0"),
                attribute(IFLA_OPERSTATE, &[OPER_UP]),
            ],
        ),
    )
}

fn parse(buf: &[u8]) -> Vec<LinkEvent> {
    let mut events = Vec::new();
    parse_messages(buf, &mut events);
    events
}

#[test]
fn a_new_link_gives_index_name_flags_and_operstate() {
    assert_eq!(
        parse(&veth_up()),
        vec![LinkEvent::New(LinkInfo {
            index: 7,
            name: Some("veth-c1".into()),
            up: true,
            running: true,
            oper_up: Some(true),
        })]
    );
}

#[test]
fn a_deleted_link_and_other_messages_in_one_datagram() {
    let mut buf = message(3, &0i32.to_ne_bytes()); // NLMSG_DONE
    buf.extend(message(
        RTM_DELLINK,
        &link(9, 0, &[attribute(IFLA_IFNAME, b"tap0\0")]),
    ));
    buf.extend(message(2, &[0u8; 20])); // NLMSG_ERROR
    buf.extend(veth_up());
    let events = parse(&buf);
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0],
        LinkEvent::Deleted(LinkInfo {
            index: 9,
            name: Some("tap0".into()),
            up: false,
            running: false,
            oper_up: None,
        })
    );
    assert!(matches!(&events[1], LinkEvent::New(i) if i.index == 7));
}

#[test]
fn a_link_without_attributes_is_reported_by_index() {
    let events = parse(&message(RTM_DELLINK, &link(3, 0, &[])));
    assert!(matches!(&events[..], [LinkEvent::Deleted(i)] if i.index == 3 && i.name.is_none()));
}

#[test]
fn every_truncation_parses_without_panic_and_keeps_whole_messages() {
    let mut buf = veth_up();
    let first = buf.len();
    buf.extend(message(
        RTM_DELLINK,
        &link(8, 0, &[attribute(IFLA_IFNAME, b"x\0")]),
    ));
    for cut in 0..=buf.len() {
        let events = parse(&buf[..cut]);
        // The first message is whole from `first` bytes on (and its last
        // attribute needs all its bytes before then).
        if cut >= first {
            assert!(!events.is_empty(), "cut at {cut}");
        }
        if cut < first - 3 {
            assert!(events.is_empty(), "cut at {cut}: {events:?}");
        }
    }
}

#[test]
fn lengths_that_lie_end_the_parse() {
    // A message length below the header's, and one past the buffer.
    for bad_len in [0u32, 4, 15, 1000] {
        let mut m = veth_up();
        m[..4].copy_from_slice(&bad_len.to_ne_bytes());
        assert!(parse(&m).is_empty(), "nlmsg_len {bad_len}");
    }
    // A message too short for its ifinfomsg.
    assert!(parse(&message(RTM_NEWLINK, &[0u8; 8])).is_empty());
    // An attribute of length 0 or past the message: the link is still
    // reported, without a name.
    for bad_len in [0u16, 2, 200] {
        let mut attr = attribute(IFLA_IFNAME, b"eth0\0");
        attr[..2].copy_from_slice(&bad_len.to_ne_bytes());
        let events = parse(&message(RTM_NEWLINK, &link(5, 0, &[attr])));
        assert!(
            matches!(&events[..], [LinkEvent::New(i)] if i.index == 5 && i.name.is_none()),
            "rta_len {bad_len}: {events:?}"
        );
    }
    // A name without its NUL and an empty operstate.
    let events = parse(&message(
        RTM_NEWLINK,
        &link(
            5,
            0,
            &[
                attribute(IFLA_IFNAME, b"abc"),
                attribute(IFLA_OPERSTATE, &[]),
            ],
        ),
    ));
    assert!(
        matches!(&events[..], [LinkEvent::New(i)] if i.name.as_deref() == Some("abc") && i.oper_up.is_none())
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut events = Vec::new();
        parse_messages(&bytes, &mut events);
        // Each event needs at least a header and an ifinfomsg.
        prop_assert!(events.len() <= bytes.len() / (NLMSG_HEADER_LEN + IFINFO_LEN));
    }

    #[test]
    fn a_real_message_with_arbitrary_tail_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut buf = veth_up();
        buf.extend(tail);
        let mut events = Vec::new();
        parse_messages(&buf, &mut events);
        prop_assert!(matches!(events.first(), Some(LinkEvent::New(i)) if i.index == 7));
    }
}

#[test]
fn the_kernel_reports_a_veth_that_comes_and_goes() {
    use crate::netns::{unique_name, Veth};
    use std::time::{Duration, Instant};
    if !crate::testing::require_netns("the_kernel_reports_a_veth_that_comes_and_goes") {
        return;
    }
    let _alone = LIVE_EVENTS.lock().unwrap_or_else(|p| p.into_inner());
    let mut monitor = LinkMonitor::open().unwrap();
    let host = unique_name("nl");
    let veth = Veth::create(&host, &unique_name("nl"), None).unwrap();
    let (index, up) = link_state(&host).expect("the veth exists");
    assert!(!up, "a new veth is down");
    let mut wait_for = |want: &dyn Fn(&LinkEvent) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut events = Vec::new();
        loop {
            monitor.read(&mut events).unwrap();
            if events.iter().any(want) {
                return;
            }
            assert!(Instant::now() < deadline, "no such event in {events:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(
        &|e| matches!(e, LinkEvent::New(i) if i.index == index && i.name.as_deref() == Some(host.as_str())),
    );
    crate::netns::ip(&["link", "set", &host, "up"]).unwrap();
    wait_for(&|e| matches!(e, LinkEvent::New(i) if i.index == index && i.up));
    assert_eq!(link_state(&host), Some((index, true)));
    drop(veth);
    wait_for(&|e| matches!(e, LinkEvent::Deleted(i) if i.index == index));
    assert_eq!(link_state(&host), None);
}

#[test]
fn a_reader_too_slow_learns_that_it_missed_events() {
    use crate::netns::{unique_name, Veth};
    use std::io::Write;
    use std::process::{Command, Stdio};
    if !crate::testing::require_netns("a_reader_too_slow_learns_that_it_missed_events") {
        return;
    }
    let _alone = LIVE_EVENTS.lock().unwrap_or_else(|p| p.into_inner());
    let mut monitor = LinkMonitor::open().unwrap();
    let host = unique_name("nb");
    let _veth = Veth::create(&host, &unique_name("nb"), None).unwrap();
    // Each flip is a message of about a kilobyte (a few in the buffer's
    // accounting): a thousand overflow the socket's receive buffer (a few
    // hundred kilobytes) while nobody reads. One `ip -batch` makes them
    // all quickly.
    let mut batch = String::new();
    for _ in 0..500 {
        batch += &format!("link set {host} up\nlink set {host} down\n");
    }
    let mut ip = Command::new("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    ip.stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    assert!(ip.wait().unwrap().success());
    let mut events = Vec::new();
    assert_eq!(monitor.read(&mut events).unwrap(), ReadOutcome::Missed);
    // The socket works on: the next event comes through.
    crate::netns::ip(&["link", "set", &host, "up"]).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        events.clear();
        monitor.read(&mut events).unwrap();
        if events
            .iter()
            .any(|e| matches!(e, LinkEvent::New(i) if i.up))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no event after the overrun"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
