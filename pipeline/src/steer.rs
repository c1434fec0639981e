//! Steering: which worker owns a connection's state.
//!
//! Stateful stages (connection tracking, NAT) keep one connection's state
//! in one worker, so that it needs no lock and stays in one core's cache.
//! Both directions of a connection must therefore reach the same worker,
//! whichever port and queue they arrive on: a frame is steered by a hash
//! of its addresses and ports that does not change when source and
//! destination are swapped. (NAT changes the reply's addresses; the NAT
//! stage picks translated ports whose reply hashes to the same owner.)

use crate::flow::FlowKey;

/// A hash of `key`'s IP addresses, protocol and L4 ports that is the same
/// for both directions of a connection (source and destination swapped).
/// Frames without IP hash by their MAC addresses, symmetrically too.
#[inline]
pub fn symmetric_hash(key: &FlowKey) -> u32 {
    let (a, b) = order(&key.ip_src, &key.ip_dst);
    let (p, q) = if key.l4_src <= key.l4_dst {
        (key.l4_src, key.l4_dst)
    } else {
        (key.l4_dst, key.l4_src)
    };
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut mix = |w: u64| {
        h ^= w;
        h = h.wrapping_mul(0x0000_0100_0000_01b3) ^ (h >> 29);
    };
    if key.ip_src == [0; 16] && key.ip_dst == [0; 16] {
        let (x, y) = order(&key.eth_src, &key.eth_dst);
        mix(u64::from_be_bytes(pad(x)));
        mix(u64::from_be_bytes(pad(y)));
    } else {
        for half in [&a[..8], &a[8..], &b[..8], &b[8..]] {
            mix(u64::from_be_bytes(half.try_into().unwrap_or_default()));
        }
    }
    mix((u64::from(key.ip_proto) << 32) | (u64::from(p) << 16) | u64::from(q));
    (h ^ (h >> 32)) as u32
}

/// The worker of `workers` that owns the connection `key` belongs to.
#[inline]
pub fn owner(key: &FlowKey, workers: usize) -> usize {
    // Multiply-shift maps the hash onto 0..workers without a division.
    ((u64::from(symmetric_hash(key)) * workers.max(1) as u64) >> 32) as usize
}

fn order<'a, const N: usize>(x: &'a [u8; N], y: &'a [u8; N]) -> (&'a [u8; N], &'a [u8; N]) {
    if x <= y {
        (x, y)
    } else {
        (y, x)
    }
}

fn pad(mac: &[u8; 6]) -> [u8; 8] {
    [0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reversed(k: &FlowKey) -> FlowKey {
        FlowKey {
            eth_src: k.eth_dst,
            eth_dst: k.eth_src,
            ip_src: k.ip_dst,
            ip_dst: k.ip_src,
            l4_src: k.l4_dst,
            l4_dst: k.l4_src,
            ..*k
        }
    }

    proptest! {
        #[test]
        fn both_directions_hash_alike(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(),
            sport in any::<u16>(), dport in any::<u16>(), proto in any::<u8>(),
            workers in 1usize..64,
        ) {
            let key = FlowKey { ip_src: src, ip_dst: dst, l4_src: sport, l4_dst: dport, ip_proto: proto, ..FlowKey::default() };
            prop_assert_eq!(symmetric_hash(&key), symmetric_hash(&reversed(&key)));
            let w = owner(&key, workers);
            prop_assert!(w < workers);
            prop_assert_eq!(w, owner(&reversed(&key), workers));
        }
    }

    #[test]
    fn connections_spread_over_workers() {
        let mut per_worker = [0u32; 4];
        for i in 0..4000u32 {
            let mut key = FlowKey::default();
            key.ip_src[..4].copy_from_slice(&[10, 0, (i >> 8) as u8, i as u8]);
            key.ip_dst[..4].copy_from_slice(&[10, 1, 0, 1]);
            key.l4_src = 1024 + i as u16;
            key.l4_dst = 80;
            key.ip_proto = 6;
            per_worker[owner(&key, 4)] += 1;
        }
        for n in per_worker {
            assert!((800..1200).contains(&n), "{per_worker:?}");
        }
    }

    #[test]
    fn non_ip_frames_steer_by_mac_pair() {
        let key = FlowKey {
            eth_src: [2, 0, 0, 0, 0, 1],
            eth_dst: [2, 0, 0, 0, 0, 2],
            ..FlowKey::default()
        };
        assert_eq!(symmetric_hash(&key), symmetric_hash(&reversed(&key)));
    }
}
