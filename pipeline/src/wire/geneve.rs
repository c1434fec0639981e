//! Geneve headers and options (RFC 8926 section 3).
//!
//! RFC 8926 section 3.4, the base header and its options:
//!
//! ```text
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! ~                    Variable-Length Options                    ~
//! ```
//!
//! Section 3.5, each option:
//!
//! ```text
//! |          Option Class         |      Type     |R|R|R| Length  |
//! ~                  Variable-Length Option Data                  ~
//! ```
//!
//! Supported: the base header with its options' total length checked
//! ([`check_header`]); walking the options ([`options`]) and writing them
//! ([`write_option`]); emitting a header with an encoded options block.
//! Not supported: interpreting any option class or type (which options a
//! tunnel understands, and so which critical ones it must drop for, is the
//! tunnel stage's decision: [`DropReason::GeneveCriticalOption`]); checking
//! the Protocol Type (`GeneveNotEthernet` is the stage's too).

use crate::DropReason;

use super::{
    check_room, clipped, clipped_mut, read_u16, read_u32, read_u8, write_slice, write_u16,
    write_u32, write_u8, EmitError,
};

/// Byte offsets of the Geneve base header fields.
pub mod field {
    use core::ops::Range;

    /// Ver (high 2 bits) and Opt Len (low 6 bits).
    pub const VER_OPT_LEN: usize = 0;
    /// O (bit 7), C (bit 6) and 6 reserved bits.
    pub const FLAGS: usize = 1;
    /// Protocol Type, an EtherType.
    pub const PROTOCOL_TYPE: Range<usize> = 2..4;
    /// The VNI (3 bytes) and the reserved byte after it, read as one word.
    pub const VNI_RESERVED: Range<usize> = 4..8;
    /// Where the options start.
    pub const OPTIONS: usize = 8;
}

/// Byte offsets of the fields of an option (RFC 8926 section 3.5),
/// counted from the start of the option.
pub mod option_field {
    use core::ops::Range;

    /// Option Class.
    pub const CLASS: Range<usize> = 0..2;
    /// Type; its high bit is the critical bit.
    pub const TYPE: usize = 2;
    /// R (high 3 bits, reserved) and Length (low 5 bits).
    pub const LENGTH: usize = 3;
    /// Where the option data starts.
    pub const DATA: usize = 4;
}

/// Length of the base header.
pub const HEADER_LEN: usize = field::OPTIONS;

/// RFC 8926 section 3.3: "IANA has assigned port 6081 as the fixed
/// well-known destination port for Geneve."
pub const DEFAULT_PORT: u16 = 6081;

/// RFC 8926 section 3.4, Protocol Type: "This follows the EtherType
/// convention, with Ethernet itself being represented by the value
/// 0x6558."
pub const PROTOCOL_ETHERNET: u16 = 0x6558;

/// The one version there is. RFC 8926 section 3.4: "The current version
/// number is 0. Packets received by a tunnel endpoint with an unknown
/// version MUST be dropped."
pub const VERSION: u8 = 0;

/// The most option bytes a header states: Opt Len is 6 bits of 4-byte
/// words, "This results in a minimum total Geneve header size of 8 bytes
/// and a maximum of 260 bytes" (RFC 8926 section 3.4).
pub const MAX_OPTIONS_LEN: usize = 63 * 4;

/// Length of an option header: class, type and length.
pub const OPTION_HEADER_LEN: usize = option_field::DATA;

/// The most data an option holds: Length is 5 bits of 4-byte words, and
/// "The total length of each option may be between 4 and 128 bytes" (RFC
/// 8926 section 3.5).
pub const MAX_OPTION_DATA_LEN: usize = 31 * 4;

/// The O bit: RFC 8926 section 3.4, "Control packet. This packet contains
/// a control message ... Tunnel endpoints MUST NOT forward the payload".
pub const FLAG_OAM: u8 = 0x80;

/// The C bit: RFC 8926 section 3.4, "Critical options present. One or more
/// options has the critical bit set".
pub const FLAG_CRITICAL: u8 = 0x40;

/// The critical bit of an option's Type (RFC 8926 section 3.5).
pub const OPTION_TYPE_CRITICAL: u8 = 0x80;

/// The Opt Len bits of the first byte.
const OPT_LEN_MASK: u8 = 0x3f;

/// The Length bits of an option's fourth byte.
const OPTION_LENGTH_MASK: u8 = 0x1f;

/// The length rules of a Geneve header, shared by [`GenevePacket::check_len`]
/// and the fast path; on success, the full header length (8 plus the
/// options: where the payload starts).
///
/// `GeneveTruncated` if `packet` is shorter than 8 bytes, `GeneveBadVersion`
/// if Ver is not 0, then `GeneveTruncated` if it is shorter than the header
/// plus the options Opt Len states. The version comes before Opt Len
/// because only version 0 says what Opt Len means. RFC 8926 section 3.4,
/// Opt Len: "The length of the option fields, expressed in 4-byte
/// multiples, not including the 8-byte fixed tunnel header." The options
/// themselves are [`options`]' to walk.
#[inline(always)]
pub fn check_header(packet: &[u8]) -> Result<usize, DropReason> {
    let Some(&first) = packet.first().filter(|_| packet.len() >= HEADER_LEN) else {
        return Err(DropReason::GeneveTruncated);
    };
    if first >> 6 != VERSION {
        return Err(DropReason::GeneveBadVersion);
    }
    let header_len = HEADER_LEN + usize::from(first & OPT_LEN_MASK) * 4;
    if packet.len() < header_len {
        return Err(DropReason::GeneveTruncated);
    }
    Ok(header_len)
}

/// `len` as a count of 4-byte words no more than `max` bytes long:
/// `Malformed { GeneveBadOptions }` if it is not whole words (no Length or
/// Opt Len states it), `TooLong` if it is longer than `max`.
fn words(len: usize, max: usize) -> Result<u8, EmitError> {
    // Not `is_multiple_of`: it is newer than the workspace's rust-version.
    if len & 3 != 0 {
        return Err(EmitError::Malformed {
            reason: DropReason::GeneveBadOptions,
        });
    }
    if len > max {
        return Err(EmitError::TooLong { len, max });
    }
    // At most MAX_OPTIONS_LEN / 4 = 63.
    Ok((len / 4) as u8)
}

/// A view of a Geneve header and what it carries, in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenevePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GenevePacket<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        GenevePacket { buffer }
    }

    /// Wraps a buffer that holds a version 0 header and its options.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The rules of [`check_header`]: the version is part of them, since
    /// Opt Len means nothing in another version.
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_header(self.buffer.as_ref()).map(|_| ())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Ver (2 bits).
    pub fn version(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::VER_OPT_LEN) >> 6
    }

    /// Opt Len in bytes (the field times 4): 0 to [`MAX_OPTIONS_LEN`].
    pub fn options_len(&self) -> usize {
        usize::from(read_u8(self.buffer.as_ref(), field::VER_OPT_LEN) & OPT_LEN_MASK) * 4
    }

    /// The base header plus the options: where the payload starts.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    fn flags(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::FLAGS)
    }

    /// The O bit: a control message, whose payload is not to be forwarded.
    pub fn oam(&self) -> bool {
        self.flags() & FLAG_OAM != 0
    }

    /// The C bit: some option is critical.
    pub fn critical(&self) -> bool {
        self.flags() & FLAG_CRITICAL != 0
    }

    /// Protocol Type of the payload ([`PROTOCOL_ETHERNET`] for a frame).
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PROTOCOL_TYPE.start)
    }

    /// The Virtual Network Identifier (24 bits).
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VNI_RESERVED.start) >> 8
    }

    /// The options block, Opt Len bytes (walk it with [`options`]).
    pub fn options(&self) -> &[u8] {
        clipped(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// The payload: everything after the options.
    pub fn payload(&self) -> &[u8] {
        let buffer = self.buffer.as_ref();
        clipped(buffer, self.header_len(), buffer.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GenevePacket<T> {
    fn set_first(&mut self, mask: u8, bits: u8) {
        let byte = read_u8(self.buffer.as_ref(), field::VER_OPT_LEN);
        write_u8(
            self.buffer.as_mut(),
            field::VER_OPT_LEN,
            (byte & !mask) | (bits & mask),
        );
    }

    fn set_flag(&mut self, flag: u8, value: bool) {
        let flags = self.flags() & !flag;
        write_u8(
            self.buffer.as_mut(),
            field::FLAGS,
            flags | if value { flag } else { 0 },
        );
    }

    /// Sets Ver (the low 2 bits of `version`).
    pub fn set_version(&mut self, version: u8) {
        self.set_first(!OPT_LEN_MASK, version << 6);
    }

    /// Sets Opt Len from a length in bytes (a multiple of 4, at most
    /// [`MAX_OPTIONS_LEN`]; the rest is dropped).
    pub fn set_options_len(&mut self, len: usize) {
        self.set_first(OPT_LEN_MASK, ((len / 4) & 0x3f) as u8);
    }

    /// Sets or clears the O bit.
    pub fn set_oam(&mut self, value: bool) {
        self.set_flag(FLAG_OAM, value);
    }

    /// Sets or clears the C bit.
    pub fn set_critical(&mut self, value: bool) {
        self.set_flag(FLAG_CRITICAL, value);
    }

    /// Sets the Protocol Type.
    pub fn set_protocol_type(&mut self, protocol: u16) {
        write_u16(self.buffer.as_mut(), field::PROTOCOL_TYPE.start, protocol);
    }

    /// Sets the VNI (its low 24 bits), keeping the reserved byte after it.
    pub fn set_vni(&mut self, vni: u32) {
        let reserved = read_u8(self.buffer.as_ref(), field::VNI_RESERVED.end - 1);
        let word = ((vni & 0x00ff_ffff) << 8) | u32::from(reserved);
        write_u32(self.buffer.as_mut(), field::VNI_RESERVED.start, word);
    }

    /// The options block, mutably.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        clipped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let buffer = self.buffer.as_mut();
        let end = buffer.len();
        clipped_mut(buffer, start, end)
    }
}

/// One option of an options block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveOption<'a> {
    /// Option Class: "Namespace for the 'Type' field".
    pub class: u16,
    /// Type, the critical bit included.
    pub kind: u8,
    /// The option data: whole 4-byte words, at most
    /// [`MAX_OPTION_DATA_LEN`] bytes.
    pub data: &'a [u8],
}

impl GeneveOption<'_> {
    /// True if the option is critical. RFC 8926 section 3.5: "The
    /// high-order bit of the option type indicates that this is a critical
    /// option. If the receiving tunnel endpoint does not recognize this
    /// option and this bit is set, then this packet MUST be dropped."
    pub const fn is_critical(&self) -> bool {
        self.kind & OPTION_TYPE_CRITICAL != 0
    }

    /// Bytes the option takes in a block: header plus data.
    pub const fn encoded_len(&self) -> usize {
        OPTION_HEADER_LEN + self.data.len()
    }
}

/// The options of a block, in order: see [`options`].
#[derive(Debug, Clone)]
pub struct GeneveOptions<'a> {
    rest: &'a [u8],
}

/// Walks an options block ([`GenevePacket::options`]).
///
/// RFC 8926 section 3.5, Length: "Length of the option, expressed in
/// 4-byte multiples excluding the Option Header ... Packets in which the
/// total length of all options is not equal to the 'Opt Len' in the base
/// header are invalid and MUST be silently dropped." An option whose
/// header or data runs past the block yields one `Err(GeneveBadOptions)`,
/// and the walk ends there. The R bits are ignored ("MUST be ignored on
/// receipt").
pub fn options(block: &[u8]) -> GeneveOptions<'_> {
    GeneveOptions { rest: block }
}

impl<'a> Iterator for GeneveOptions<'a> {
    type Item = Result<GeneveOption<'a>, DropReason>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        let data_len = usize::from(read_u8(rest, option_field::LENGTH) & OPTION_LENGTH_MASK) * 4;
        let end = OPTION_HEADER_LEN + data_len;
        let (Some(data), Some(after)) = (rest.get(OPTION_HEADER_LEN..end), rest.get(end..)) else {
            return Some(Err(DropReason::GeneveBadOptions));
        };
        self.rest = after;
        Some(Ok(GeneveOption {
            class: read_u16(rest, option_field::CLASS.start),
            kind: read_u8(rest, option_field::TYPE),
            data,
        }))
    }
}

/// Writes `option` into the start of `out`: class, type, the R bits zero,
/// Length, then the data; on success, the bytes written
/// ([`GeneveOption::encoded_len`]).
///
/// Fails, writing nothing, with `Malformed { reason: GeneveBadOptions }`
/// if the data is not whole 4-byte words (Length cannot state it), then
/// `TooLong` if it is longer than [`MAX_OPTION_DATA_LEN`], then
/// `Truncated` if `out` is too short.
pub fn write_option(option: &GeneveOption<'_>, out: &mut [u8]) -> Result<usize, EmitError> {
    let length = words(option.data.len(), MAX_OPTION_DATA_LEN)?;
    let len = option.encoded_len();
    check_room(out, len)?;
    write_u16(out, option_field::CLASS.start, option.class);
    write_u8(out, option_field::TYPE, option.kind);
    write_u8(out, option_field::LENGTH, length);
    write_slice(out, OPTION_HEADER_LEN, option.data);
    Ok(len)
}

/// Writes a header for `vni` (its low 24 bits) and `protocol`, with the
/// encoded `options` block after it, into the start of `out`; the O bit
/// clear, C as `critical` says, every reserved bit zero. On success, the
/// bytes written: 8 plus the options.
///
/// RFC 8926 section 3.5: if the critical bit "is set in any option, then
/// the 'C' bit in the Geneve base header MUST also be set. Otherwise, the
/// 'C' bit MUST NOT be set": `critical` is the caller's to match to the
/// options. Fails, writing nothing, with `Malformed { reason:
/// GeneveBadOptions }` if the block is not whole 4-byte words, then
/// `TooLong` if it is longer than [`MAX_OPTIONS_LEN`], then `Truncated`.
pub fn emit_header(
    out: &mut [u8],
    vni: u32,
    protocol: u16,
    options: &[u8],
    critical: bool,
) -> Result<usize, EmitError> {
    let repr = GeneveRepr {
        vni,
        protocol,
        oam: false,
        critical,
        options,
    };
    repr.emit(&mut GenevePacket::new_unchecked(&mut *out))?;
    Ok(repr.header_len())
}

/// The fields of a Geneve header, its options as an encoded block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveRepr<'a> {
    /// The Virtual Network Identifier (24 bits; only the low 24 are
    /// emitted).
    pub vni: u32,
    /// Protocol Type of the payload.
    pub protocol: u16,
    /// The O bit.
    pub oam: bool,
    /// The C bit.
    pub critical: bool,
    /// The options block (walk it with [`options`]).
    pub options: &'a [u8],
}

impl<'a> GeneveRepr<'a> {
    /// Reads a header with the rules of [`check_header`], then walks its
    /// options: `GeneveBadOptions` unless their lengths add up to Opt Len.
    /// Neither the Protocol Type nor the critical options are judged here,
    /// and the C bit is taken as it is: RFC 8926 section 3.4 drops on it
    /// only where "option parsing is not supported".
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &GenevePacket<&'a T>,
    ) -> Result<GeneveRepr<'a>, DropReason> {
        let buffer: &'a T = packet.buffer;
        let bytes: &'a [u8] = buffer.as_ref();
        let header_len = check_header(bytes)?;
        let block = clipped(bytes, HEADER_LEN, header_len);
        if let Some(Err(reason)) = options(block).find(Result::is_err) {
            return Err(reason);
        }
        Ok(GeneveRepr {
            vni: packet.vni(),
            protocol: packet.protocol_type(),
            oam: packet.oam(),
            critical: packet.critical(),
            options: block,
        })
    }

    /// The base header plus the options.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// Writes the header and copies the options block after it into the
    /// start of `packet` (the reserved bits zero). Fails, writing nothing,
    /// as [`emit_header`] does.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut GenevePacket<T>,
    ) -> Result<(), EmitError> {
        let opt_len = words(self.options.len(), MAX_OPTIONS_LEN)?;
        let header_len = self.header_len();
        check_room(packet.buffer.as_ref(), header_len)?;
        let out = packet.buffer.as_mut();
        write_u8(out, field::VER_OPT_LEN, (VERSION << 6) | opt_len);
        write_u8(out, field::FLAGS, 0);
        write_u32(out, field::VNI_RESERVED.start, 0);
        packet.set_oam(self.oam);
        packet.set_critical(self.critical);
        packet.set_protocol_type(self.protocol);
        packet.set_vni(self.vni);
        write_slice(packet.buffer.as_mut(), HEADER_LEN, self.options);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
