//! A flow hash that is the same for both directions of a connection
//! (source and destination swapped): what the overlay uses for the outer
//! UDP source port (RFC 7348 section 5: a hash of the inner frame, so
//! that routers spread flows and keep each flow's frames in order).
//!
//! Connection state needs no steering: the tracker's table is shared by
//! the workers and takes no lock (`crate::conntrack`), so the two
//! directions of a connection may arrive on any worker.

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
    ) {
                let key = FlowKey { ip_src: src, ip_dst: dst, l4_src: sport, l4_dst: dport, ip_proto: proto, ..FlowKey::default() };
                prop_assert_eq!(symmetric_hash(&key), symmetric_hash(&reversed(&key)));
            }
        }

    #[test]
    fn connections_spread_over_the_hash() {
        // Four buckets by the hash's top bits, as a router spreading the
        // outer UDP source ports over four paths would.
        let mut per_bucket = [0u32; 4];
        for i in 0..4000u32 {
            let mut key = FlowKey::default();
            key.ip_src[..4].copy_from_slice(&[10, 0, (i >> 8) as u8, i as u8]);
            key.ip_dst[..4].copy_from_slice(&[10, 1, 0, 1]);
            key.l4_src = 1024 + i as u16;
            key.l4_dst = 80;
            key.ip_proto = 6;
            per_bucket[(symmetric_hash(&key) >> 30) as usize] += 1;
        }
        for n in per_bucket {
            assert!((800..1200).contains(&n), "{per_bucket:?}");
        }
    }

    #[test]
    fn non_ip_frames_hash_by_mac_pair() {
        let key = FlowKey {
            eth_src: [2, 0, 0, 0, 0, 1],
            eth_dst: [2, 0, 0, 0, 0, 2],
            ..FlowKey::default()
        };
        assert_eq!(symmetric_hash(&key), symmetric_hash(&reversed(&key)));
    }
}
