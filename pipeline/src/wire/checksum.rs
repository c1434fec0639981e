//! The Internet checksum (RFC 1071), pseudo-header sums for TCP, UDP and
//! ICMPv6, and incremental updates (RFC 1624) for rewriting a field without
//! summing the whole packet again.
//!
//! RFC 1071 section 1: "Adjacent octets to be checksummed are paired to form
//! 16-bit integers, and the 1's complement sum of these 16-bit integers is
//! formed. To generate a checksum, the checksum field itself is cleared, the
//! 16-bit 1's complement sum is computed over the octets concerned, and the
//! 1's complement of this sum is placed in the checksum field."
//!
//! Sums here are *partial* one's-complement sums folded to 16 bits and not
//! yet complemented, so they can be [`combine`]d; [`internet_checksum`]
//! gives the final complemented value of one buffer.

/// Folds a wide accumulator into a 16-bit one's-complement sum by adding the
/// carries back in ("end-around carry", RFC 1071 section 2 (B)). Four
/// rounds without a branch: 64 bits to under 2^33, then 2^18, then at most
/// 0x10001, then 16 bits.
#[inline(always)]
pub(crate) fn fold(accumulator: u64) -> u16 {
    let a = (accumulator & 0xffff_ffff) + (accumulator >> 32);
    let a = (a & 0xffff) + (a >> 16);
    let a = (a & 0xffff) + (a >> 16);
    ((a & 0xffff) + (a >> 16)) as u16
}

/// The one's-complement sum of `data` taken as big-endian 16-bit words, an
/// odd last byte padded with a zero byte on the right (RFC 1071), folded to
/// 16 bits and not complemented.
pub fn data_sum(data: &[u8]) -> u16 {
    // Summing 32-bit words into a 64-bit accumulator and folding at the end
    // gives the same result as summing 16-bit words, since 2^16 = 1 modulo
    // 2^16 - 1 (RFC 1071 section 2 (B), "parallel summation").
    let mut accumulator: u64 = 0;
    let mut rest = data;
    while let Some((word, tail)) = rest.split_first_chunk::<4>() {
        accumulator += u64::from(u32::from_be_bytes(*word));
        rest = tail;
    }
    if let Some((half, tail)) = rest.split_first_chunk::<2>() {
        accumulator += u64::from(u16::from_be_bytes(*half));
        rest = tail;
    }
    if let Some(&last) = rest.first() {
        accumulator += u64::from(last) << 8;
    }
    fold(accumulator)
}

/// One's-complement addition of partial sums.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&sum| u64::from(sum)).sum())
}

/// The checksum of `data` alone: the complement of [`data_sum`]. Computed
/// over a header whose checksum field holds zero it gives the value to
/// store; over a header with its checksum in place it gives 0 when valid.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !data_sum(data)
}

/// The partial sum of the IPv4 pseudo-header used by TCP and UDP.
///
/// RFC 768 / RFC 9293 section 3.1: the pseudo header "contains the source
/// address, the destination address, the protocol, and the UDP (TCP)
/// length", the protocol preceded by a zero octet.
pub fn ipv4_pseudo_header_sum(src: &[u8; 4], dst: &[u8; 4], protocol: u8, length: u16) -> u16 {
    let accumulator = u64::from(u32::from_be_bytes(*src))
        + u64::from(u32::from_be_bytes(*dst))
        + u64::from(protocol)
        + u64::from(length);
    fold(accumulator)
}

/// The partial sum of the IPv6 pseudo-header used by TCP, UDP and ICMPv6.
///
/// RFC 8200 section 8.1: the pseudo-header holds the Source Address, the
/// Destination Address (the final one, if a Routing header is present), the
/// 32-bit Upper-Layer Packet Length, three zero octets and the Next Header
/// value of the upper-layer protocol.
pub fn ipv6_pseudo_header_sum(src: &[u8; 16], dst: &[u8; 16], next_header: u8, length: u32) -> u16 {
    let accumulator = u64::from(data_sum(src))
        + u64::from(data_sum(dst))
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
        + u64::from(next_header);
    fold(accumulator)
}

/// The addresses that go into an upper-layer pseudo-header; the protocol
/// and length come from the upper-layer packet itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PseudoHeader {
    /// Addresses of an IPv4 packet.
    Ipv4 {
        /// Source address.
        src: [u8; 4],
        /// Destination address.
        dst: [u8; 4],
    },
    /// Addresses of an IPv6 packet (`dst` is the final destination when a
    /// Routing header is present).
    Ipv6 {
        /// Source address.
        src: [u8; 16],
        /// Destination address.
        dst: [u8; 16],
    },
}

impl PseudoHeader {
    /// The partial pseudo-header sum for an upper-layer packet of
    /// `protocol` that is `length` bytes long (header and payload).
    ///
    /// For IPv4 the length field is 16 bits; a `length` above 65535 cannot
    /// occur in a valid packet and is summed as two 16-bit halves.
    pub fn sum(&self, protocol: u8, length: u32) -> u16 {
        match self {
            PseudoHeader::Ipv4 { src, dst } => {
                let halves = combine(&[(length >> 16) as u16, length as u16]);
                ipv4_pseudo_header_sum(src, dst, protocol, halves)
            }
            PseudoHeader::Ipv6 { src, dst } => ipv6_pseudo_header_sum(src, dst, protocol, length),
        }
    }

    /// The checksum of an upper-layer packet (`packet` holds its header,
    /// checksum field included, and payload): the complement of the
    /// pseudo-header sum combined with the packet's own sum.
    pub fn checksum(&self, protocol: u8, packet: &[u8]) -> u16 {
        let length = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        !combine(&[self.sum(protocol, length), data_sum(packet)])
    }
}

/// The new checksum after a 16-bit field covered by `checksum` changes from
/// `old` to `new`.
///
/// RFC 1624 section 3, equation 3: `HC' = ~(~HC + ~m + m')`, where HC is
/// the old checksum, m the old field value and m' the new one. Unlike
/// equation 2 of RFC 1141 this never yields 0xFFFF (negative zero) for a
/// header that is not all zeros, so the result equals a full recomputation.
pub fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!checksum) + u64::from(!old) + u64::from(new))
}

/// The new checksum after a 32-bit field (an IPv4 address, a TCP sequence
/// number) changes from `old` to `new`: [`update_u16`] applied to both
/// halves at once.
pub fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let [old_high, old_low] = [(old >> 16) as u16, old as u16];
    let [new_high, new_low] = [(new >> 16) as u16, new as u16];
    !fold(
        u64::from(!checksum)
            + u64::from(!old_high)
            + u64::from(!old_low)
            + u64::from(new_high)
            + u64::from(new_low),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data_sum(&data), 0xddf2);
        assert_eq!(internet_checksum(&data), 0x220d);
    }

    #[test]
    fn odd_length_pads_on_the_right() {
        assert_eq!(data_sum(&[0xab]), 0xab00);
        assert_eq!(data_sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data_sum(&[]), 0);
    }

    #[test]
    fn real_ipv4_header() {
        // 192.168.0.1 -> 192.168.0.199, UDP, TTL 64, checksum b861.
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(internet_checksum(&header), 0);
        let mut zeroed = header;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(internet_checksum(&zeroed), 0xb861);
    }

    #[test]
    fn incremental_ttl_decrement() {
        // Decrementing the TTL (high byte of the TTL/protocol word) 0x40 -> 0x3f.
        let new = update_u16(0xb861, 0x4011, 0x3f11);
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x3f, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(new, internet_checksum(&header));
        header[10..12].copy_from_slice(&new.to_be_bytes());
        assert_eq!(internet_checksum(&header), 0);
    }

    #[test]
    fn pseudo_header_ipv4_matches_manual_layout() {
        let src = [10, 0, 0, 1];
        let dst = [10, 0, 0, 2];
        let manual = [10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 12];
        assert_eq!(
            ipv4_pseudo_header_sum(&src, &dst, 17, 12),
            data_sum(&manual)
        );
        assert_eq!(
            PseudoHeader::Ipv4 { src, dst }.sum(17, 12),
            data_sum(&manual)
        );
    }

    #[test]
    fn pseudo_header_ipv6_matches_manual_layout() {
        let src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd];
        let mut manual = Vec::new();
        manual.extend_from_slice(&src);
        manual.extend_from_slice(&dst);
        manual.extend_from_slice(&0x0001_0020u32.to_be_bytes());
        manual.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(
            ipv6_pseudo_header_sum(&src, &dst, 58, 0x0001_0020),
            data_sum(&manual)
        );
    }

    /// The plain 16-bit-word algorithm of RFC 1071, as a reference.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            sum += u32::from(word);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    proptest! {
        #[test]
        fn data_sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(data_sum(&data), reference_sum(&data));
        }

        #[test]
        fn combine_of_halves_is_sum_of_whole(
            data in proptest::collection::vec(any::<u8>(), 0..200),
            split in 0usize..100,
        ) {
            // Splitting at an even offset keeps the 16-bit word alignment.
            let split = (split * 2).min(data.len() & !1);
            let (head, tail) = data.split_at(split);
            prop_assert_eq!(combine(&[data_sum(head), data_sum(tail)]), data_sum(&data));
        }

        #[test]
        fn incremental_update_matches_recomputation(
            mut data in proptest::collection::vec(any::<u8>(), 8..64),
            word_index in 0usize..32,
            new16 in any::<u16>(),
            new32 in any::<u32>(),
        ) {
            // RFC 1624 equation 3 agrees with a full recomputation whenever
            // the data is not all zeros.
            data[0] |= 1;
            let words = data.len() / 2;
            let at = 2 + 2 * (word_index % (words - 1));
            let before = internet_checksum(&data);

            let old16 = u16::from_be_bytes([data[at], data[at + 1]]);
            data[at..at + 2].copy_from_slice(&new16.to_be_bytes());
            let after16 = internet_checksum(&data);
            prop_assert_eq!(update_u16(before, old16, new16), after16);

            if at + 4 <= data.len() {
                let old32 = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
                data[at..at + 4].copy_from_slice(&new32.to_be_bytes());
                prop_assert_eq!(update_u32(after16, old32, new32), internet_checksum(&data));
            }
        }
    }
}
