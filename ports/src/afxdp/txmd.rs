//! AF_XDP TX metadata (kernel 6.8 and later; the kernel's
//! Documentation/networking/xsk-tx-metadata.rst), used for checksum
//! offload only.
//!
//! A UMEM registered with `tx_metadata_len` (and the
//! `XDP_UMEM_TX_METADATA_LEN` flag) has the kernel look for a `struct
//! xsk_tx_metadata` in the `tx_metadata_len` bytes just before the frame
//! of every TX descriptor whose options hold `XDP_TX_METADATA`; the area
//! must lie in the frame's chunk, so every TX frame then starts that far
//! into its chunk. With `XDP_TXMD_FLAGS_CHECKSUM`, `csum_start` and
//! `csum_offset`, copy mode builds a `CHECKSUM_PARTIAL` skb: the device,
//! or the stack when the device cannot (`skb_checksum_help`), completes
//! the checksum, and a veth's peer takes the frame as verified, as it does
//! any local traffic. The checksum field must already hold the
//! pseudo-header sum, as for any partial checksum.

use std::io;

/// Bytes kept in front of every TX frame for the metadata: the size of
/// `struct xsk_tx_metadata` since launch time (6.15): a `u64` of flags,
/// then a union of the request (`u16 csum_start`, `u16 csum_offset`,
/// `u64 launch_time`) and the completion (`u64 tx_timestamp`). The kernel
/// wants a multiple of 8 below 256. The 6.8 layout, 16 bytes, has the
/// checksum fields at the same offsets and the kernel reads only what the
/// flags ask for, so 24 serves both. At a chunk's start, the area is
/// 8-byte aligned as the struct needs.
pub(super) const TX_METADATA_LEN: usize = 24;

// xdp_umem_reg refuses a length that is not a multiple of 8 or not below
// 256; libc has the 6.8 layout of the struct, which must fit too.
const _: () = assert!(
    TX_METADATA_LEN.is_multiple_of(8)
        && TX_METADATA_LEN < 256
        && TX_METADATA_LEN >= std::mem::size_of::<libc::xsk_tx_metadata>()
);

const FLAGS_AT: usize = 0;
const CSUM_START_AT: usize = 8;
const CSUM_OFFSET_AT: usize = 10;

/// Writes into `area`, the metadata bytes in front of a frame, a request
/// that the kernel sum the frame from `csum_start` to its end and store
/// the checksum `csum_offset` bytes further (as `VNET_F_NEEDS_CSUM`
/// does). Native byte order: the kernel reads the struct as it lies in
/// memory. The rest of the area is zeroed, so no stale flag asks for more.
pub(super) fn write_checksum_request(
    area: &mut [u8; TX_METADATA_LEN],
    csum_start: u16,
    csum_offset: u16,
) {
    area.fill(0);
    let flags = u64::from(libc::XDP_TXMD_FLAGS_CHECKSUM).to_ne_bytes();
    area[FLAGS_AT..FLAGS_AT + 8].copy_from_slice(&flags);
    area[CSUM_START_AT..CSUM_START_AT + 2].copy_from_slice(&csum_start.to_ne_bytes());
    area[CSUM_OFFSET_AT..CSUM_OFFSET_AT + 2].copy_from_slice(&csum_offset.to_ne_bytes());
}

/// True when the checksum field of a request lies inside a frame of
/// `len` bytes. The kernel refuses any other request with EINVAL and
/// leaves its descriptor at the head of the TX ring, where it would stop
/// every frame behind it: such a frame must never be queued.
pub(super) fn checksum_fits(len: usize, csum_start: u16, csum_offset: u16) -> bool {
    usize::from(csum_start) + usize::from(csum_offset) + 2 <= len
}

/// Registers a UMEM through `register`, with TX metadata (`true`) if the
/// kernel takes it, else without: a kernel before 6.8 (or one that knows
/// `tx_metadata_len` but not its flag) answers EINVAL, and the port then
/// works as it did without metadata. Returns whether metadata is on. Any
/// other error, or a second refusal, is the caller's.
pub(super) fn register_umem(mut register: impl FnMut(bool) -> io::Result<()>) -> io::Result<bool> {
    match register(true) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => register(false).map(|()| false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_request_is_the_kernel_struct_with_the_checksum_flag() {
        let mut area = [0xaa; TX_METADATA_LEN];
        write_checksum_request(&mut area, 34, 16);
        let mut want = [0u8; TX_METADATA_LEN];
        want[..8].copy_from_slice(&2u64.to_ne_bytes()); // XDP_TXMD_FLAGS_CHECKSUM
        want[8..10].copy_from_slice(&34u16.to_ne_bytes());
        want[10..12].copy_from_slice(&16u16.to_ne_bytes());
        assert_eq!(area, want, "flags, csum_start, csum_offset; the rest zero");
        // The offsets are those of libc's definition of the struct.
        assert_eq!(std::mem::offset_of!(libc::xsk_tx_metadata, flags), FLAGS_AT);
        assert_eq!(
            std::mem::offset_of!(libc::xsk_tx_metadata, xsk_tx_metadata_union)
                + std::mem::offset_of!(libc::xsk_tx_metadata_request, csum_start),
            CSUM_START_AT
        );
        assert_eq!(
            std::mem::offset_of!(libc::xsk_tx_metadata, xsk_tx_metadata_union)
                + std::mem::offset_of!(libc::xsk_tx_metadata_request, csum_offset),
            CSUM_OFFSET_AT
        );
    }

    #[test]
    fn a_checksum_field_outside_the_frame_is_not_requested() {
        // TCP over IPv4: start 34, offset 16, the field at 50..52.
        assert!(checksum_fits(54, 34, 16));
        assert!(checksum_fits(52, 34, 16));
        assert!(!checksum_fits(51, 34, 16));
        assert!(!checksum_fits(0, 0, 0));
        assert!(!checksum_fits(4096, u16::MAX, u16::MAX));
    }

    #[test]
    fn a_kernel_without_tx_metadata_gets_a_umem_without_it() {
        let mut asked = Vec::new();
        let on = register_umem(|metadata| {
            asked.push(metadata);
            Ok(())
        });
        assert!(on.unwrap());
        assert_eq!(asked, [true]);

        asked.clear();
        let on = register_umem(|metadata| {
            asked.push(metadata);
            if metadata {
                Err(io::Error::from_raw_os_error(libc::EINVAL))
            } else {
                Ok(())
            }
        });
        assert!(!on.unwrap(), "older kernel: no metadata, no error");
        assert_eq!(asked, [true, false]);

        // Other refusals (locked memory) are not retried.
        let refused = register_umem(|_| Err(io::Error::from_raw_os_error(libc::ENOBUFS)));
        assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::ENOBUFS));
        // Refused both ways: the second answer is the error.
        let refused = register_umem(|metadata| {
            Err(io::Error::from_raw_os_error(if metadata {
                libc::EINVAL
            } else {
                libc::EPERM
            }))
        });
        assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::EPERM));
    }
}
