//! AF_PACKET ports on their mmap rings, as root: two namespaces, each
//! behind a veth whose host end is an [`AfPacketPort`], and a forwarding
//! loop between the two ports (the switch's part, reduced to copying each
//! frame with its offload state). TCP streams cross it both ways with the
//! kernel's default offloads and are checked byte for byte: super-frames
//! and partial checksums come through the rings whole in each direction.
//! Every namespace and link is removed on drop, also on failure; every
//! loop is bounded in time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vswitch_ports::afpacket::AfPacketPort;
use vswitch_ports::netns::{ip, run_in_netns, unique_name, NetNs, Veth};
use vswitch_ports::testing::require_netns;
use vswitch_ports::vnet::VNET_F_NEEDS_CSUM;
use vswitch_ports::{Port, RxBatch, FRAME_CAPACITY};

/// 8 MiB each way: hundreds of super-frames.
const BYTES: usize = 8 << 20;

/// A namespace behind a veth, with `address` on its end.
fn container(address: &str) -> (NetNs, Veth) {
    let ns = NetNs::create(&unique_name("vsapt")).unwrap();
    let veth = Veth::create(&unique_name("vsah"), &unique_name("vsap"), Some(&ns)).unwrap();
    ns.ip(&["addr", "add", address, "dev", veth.peer()])
        .and_then(|_| ns.ip(&["link", "set", veth.peer(), "up"]))
        .and_then(|_| ns.ip(&["link", "set", "lo", "up"]))
        .and_then(|_| ip(&["link", "set", veth.host(), "up"]))
        .unwrap();
    (ns, veth)
}

/// What the forwarding loop saw in one direction.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    frames: u64,
    super_frames: u64,
    partial_checksums: u64,
    refused: u64,
    dropped: u64,
}

/// Copies every frame from each port to the other, with its offload
/// state, until `stop` is set or a minute has passed.
fn forward(mut ports: [AfPacketPort; 2], stop: Arc<AtomicBool>) -> [Seen; 2] {
    let mut seen = [Seen::default(); 2];
    let mut batch = RxBatch::new(32);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut moved = 0;
        for from in 0..2 {
            let (a, b) = ports.split_at_mut(1);
            let (rx, tx) = match from {
                0 => (&mut a[0], &mut b[0]),
                _ => (&mut b[0], &mut a[0]),
            };
            batch.clear();
            moved += rx.rx_burst(&mut batch).unwrap();
            let seen = &mut seen[from];
            for i in 0..batch.len() {
                let (frame, vnet) = (batch.frame(i), batch.vnet(i));
                seen.frames += 1;
                seen.super_frames += u64::from(frame.len() > FRAME_CAPACITY);
                seen.partial_checksums += u64::from(vnet.flags & VNET_F_NEEDS_CSUM != 0);
                match tx.tx_slot() {
                    Some(slot) => {
                        slot[..frame.len()].copy_from_slice(frame);
                        tx.tx_commit_offloaded(frame.len(), 0, vnet);
                    }
                    None => seen.dropped += 1,
                }
            }
            let done = tx.tx_flush();
            seen.refused += done.refused;
        }
        if moved == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    seen
}

/// The stream's byte at `offset`: a pattern that a shifted, repeated or
/// corrupted segment breaks.
fn pattern(offset: usize) -> u8 {
    (offset.wrapping_mul(7) ^ (offset >> 12)) as u8
}

/// Sends [`BYTES`] by TCP from namespace `from` to a listener at
/// `to_address` in namespace `to`, and checks every byte arrived.
fn transfer(from: &NetNs, to: &NetNs, to_address: &str) {
    let listener = run_in_netns(to.name(), || TcpListener::bind((to_address, 0)))
        .unwrap()
        .unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let receiver = std::thread::spawn(move || -> Result<usize, String> {
        listener.set_nonblocking(false).map_err(|e| e.to_string())?;
        let (mut stream, _) = listener.accept().map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        loop {
            let n = stream
                .read(&mut buf)
                .map_err(|e| format!("at {total}: {e}"))?;
            if n == 0 {
                return Ok(total);
            }
            if let Some(bad) = (0..n).find(|&i| buf[i] != pattern(total + i)) {
                return Err(format!("byte {} differs", total + bad));
            }
            total += n;
        }
    });
    run_in_netns(from.name(), || {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let data: Vec<u8> = (0..BYTES).map(pattern).collect();
        stream.write_all(&data).unwrap();
    })
    .unwrap();
    assert_eq!(receiver.join().unwrap(), Ok(BYTES));
}

#[test]
fn tcp_super_frames_and_partial_checksums_cross_the_rings_both_ways() {
    if !require_netns("tcp_super_frames_and_partial_checksums_cross_the_rings_both_ways") {
        return;
    }
    let (ns1, veth1) = container("10.209.0.1/24");
    let (ns2, veth2) = container("10.209.0.2/24");
    let ports = [
        AfPacketPort::open(veth1.host()).unwrap(),
        AfPacketPort::open(veth2.host()).unwrap(),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let forwarder = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || forward(ports, stop))
    };
    // Stops the loop also when a transfer panics, so the join below and
    // the links' removal still happen.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let stopper = StopOnDrop(stop);
    transfer(&ns1, &ns2, "10.209.0.2");
    transfer(&ns2, &ns1, "10.209.0.1");
    drop(stopper);
    let seen = forwarder.join().unwrap();
    for (direction, seen) in ["1 -> 2", "2 -> 1"].iter().zip(seen) {
        println!("{direction}: {seen:?}");
        assert!(
            seen.super_frames > 10 && seen.super_frames < seen.frames,
            "{direction}: {seen:?}"
        );
        assert!(seen.partial_checksums > 10, "{direction}: {seen:?}");
        assert_eq!(
            (seen.refused, seen.dropped),
            (0, 0),
            "{direction}: {seen:?}"
        );
    }
}
