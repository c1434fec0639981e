//! Reading classic pcap and pcapng, streaming, with every length field
//! checked before it is used.

use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::{link_type_name, Frame, LINKTYPE_ETHERNET, MAX_CAPTURED_LEN};
use crate::PortError;

/// The largest pcapng block this reader parses (headers, packet data and
/// options). Blocks of kinds it skips may be larger: they are never held in
/// memory.
const MAX_PARSED_BLOCK_LEN: u32 = 1 << 20;

/// pcapng block types. The Section Header Block's reads the same in
/// either byte order.
const BLOCK_SECTION_HEADER: u32 = 0x0A0D_0D0A;
const BLOCK_INTERFACE_DESCRIPTION: u32 = 1;
const BLOCK_OBSOLETE_PACKET: u32 = 2;
const BLOCK_SIMPLE_PACKET: u32 = 3;
const BLOCK_ENHANCED_PACKET: u32 = 6;

/// pcapng Interface Description Block option codes.
const OPTION_END: u16 = 0;
const OPTION_IF_TSRESOL: u16 = 9;
const OPTION_IF_FCSLEN: u16 = 13;
const OPTION_IF_TSOFFSET: u16 = 14;

/// Classic pcap link-type field: bit 26 says bits 28..31 hold the length
/// of the FCS each frame ends with, in 16-bit words; bits 16..25 are
/// reserved (libpcap's `LT_FCS_LENGTH_PRESENT` and `LT_LINKTYPE`).
const CLASSIC_FCS_PRESENT: u32 = 0x0400_0000;
const CLASSIC_LINK_TYPE_MASK: u32 = 0x03FF_FFFF;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    /// The u16 at `at` in `bytes`, or 0 past the end (callers check
    /// lengths first; this only keeps a mistake from panicking).
    fn u16(self, bytes: &[u8], at: usize) -> u16 {
        let mut raw = [0u8; 2];
        if let Some(src) = bytes.get(at..at.saturating_add(2)) {
            raw.copy_from_slice(src);
        }
        match self {
            ByteOrder::Little => u16::from_le_bytes(raw),
            ByteOrder::Big => u16::from_be_bytes(raw),
        }
    }

    /// The u32 at `at` in `bytes`, or 0 past the end.
    fn u32(self, bytes: &[u8], at: usize) -> u32 {
        let mut raw = [0u8; 4];
        if let Some(src) = bytes.get(at..at.saturating_add(4)) {
            raw.copy_from_slice(src);
        }
        match self {
            ByteOrder::Little => u32::from_le_bytes(raw),
            ByteOrder::Big => u32::from_be_bytes(raw),
        }
    }

    /// The i64 at `at` in `bytes`, or 0 past the end.
    fn i64(self, bytes: &[u8], at: usize) -> i64 {
        let mut raw = [0u8; 8];
        if let Some(src) = bytes.get(at..at.saturating_add(8)) {
            raw.copy_from_slice(src);
        }
        match self {
            ByteOrder::Little => i64::from_le_bytes(raw),
            ByteOrder::Big => i64::from_be_bytes(raw),
        }
    }
}

/// How a pcapng interface counts time: units of 10^-exponent seconds, or
/// of 2^-exponent when `binary` (option `if_tsresol`), plus
/// `offset_s` seconds (option `if_tsoffset`).
#[derive(Clone, Copy, Debug)]
struct Clock {
    binary: bool,
    exponent: u8,
    offset_s: i64,
}

impl Clock {
    /// Microseconds, the pcapng default.
    const DEFAULT: Clock = Clock {
        binary: false,
        exponent: 6,
        offset_s: 0,
    };

    /// `units` of this clock in nanoseconds since the epoch, saturating.
    fn to_ns(self, units: u64) -> u64 {
        let units = units as u128;
        let since_offset: u128 = if self.binary {
            // exponent is at most 127, so the shift is in range.
            (units * 1_000_000_000) >> self.exponent
        } else if self.exponent <= 9 {
            units * 10u128.pow(9 - self.exponent as u32)
        } else if self.exponent <= 38 {
            units / 10u128.pow(self.exponent as u32 - 9)
        } else {
            0
        };
        let ns = since_offset as i128 + self.offset_s as i128 * 1_000_000_000;
        ns.clamp(0, u64::MAX as i128) as u64
    }
}

/// A pcapng interface, as its Interface Description Block describes it.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: u16,
    snaplen: u32,
    fcs_len: usize,
    clock: Clock,
}

enum Format {
    Classic {
        order: ByteOrder,
        nanosecond: bool,
        snaplen: u32,
        fcs_len: usize,
    },
    Ng {
        order: ByteOrder,
        interfaces: Vec<Interface>,
    },
}

/// Where the next frame is in the reader's buffer.
struct Record {
    start: usize,
    len: usize,
    timestamp_ns: u64,
}

/// Reads Ethernet frames from a classic pcap or pcapng capture.
///
/// Classic pcap: either byte order, microsecond (0xa1b2c3d4) or nanosecond
/// (0xa1b23c4d) timestamps. pcapng: any number of sections in either byte
/// order, Interface Description Blocks (with `if_tsresol`, `if_tsoffset`,
/// `if_fcslen`), Enhanced, Simple and obsolete Packet Blocks; other blocks
/// are skipped. Only Ethernet (`LINKTYPE_ETHERNET`, 1) is supported: a
/// classic file of another link type is refused by [`PcapReader::open`], a
/// pcapng packet on such an interface is an error. An FCS the capture says
/// frames end with is cut off.
///
/// The input is streamed: memory use is bounded by the largest record
/// ([`MAX_CAPTURED_LEN`] of packet data), whatever the file says. A record
/// longer than the snaplen is cut to it, as libpcap does, and counted
/// ([`PcapReader::cut_to_snaplen`]). A record that breaks the format (a
/// length past the limit or the end of the file, a pcapng block length
/// that is not a multiple of 4 or does not match its trailing copy) is a
/// [`PortError::BadCapture`] naming the file and the record's byte offset. The reader stops at the first error:
/// later calls return `Ok(None)`.
pub struct PcapReader<R: Read = BufReader<File>> {
    path: String,
    input: R,
    offset: u64,
    buf: Vec<u8>,
    format: Format,
    finished: bool,
    /// Records longer than the snaplen, cut to it.
    cut_to_snaplen: u64,
}

impl PcapReader<BufReader<File>> {
    /// Opens the capture at `path` and reads its file header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PortError> {
        let path = path.as_ref();
        let file = File::open(path)
            .map_err(|e| PortError::io(format!("cannot open capture {}", path.display()), e))?;
        PcapReader::from_reader(
            &path.display().to_string(),
            BufReader::with_capacity(1 << 16, file),
        )
    }
}

impl<R: Read> PcapReader<R> {
    /// Reads a capture from `input`, named `path` in messages, starting
    /// with its file header.
    pub fn from_reader(path: &str, input: R) -> Result<Self, PortError> {
        let mut reader = PcapReader {
            path: path.to_string(),
            input,
            offset: 0,
            buf: Vec::new(),
            format: Format::Ng {
                order: ByteOrder::Little,
                interfaces: Vec::new(),
            },
            finished: false,
            cut_to_snaplen: 0,
        };
        reader.read_file_header()?;
        Ok(reader)
    }

    /// How many records so far were longer than their file's (or
    /// interface's) snaplen, and were cut to it as libpcap does.
    pub fn cut_to_snaplen(&self) -> u64 {
        self.cut_to_snaplen
    }

    /// Of a record of `captured` bytes, how many to keep: all, or the
    /// `snaplen` (0 meaning none) when it is longer, counting the cut.
    fn keep_within_snaplen(&mut self, captured: usize, snaplen: u32) -> usize {
        if snaplen != 0 && captured > snaplen as usize {
            self.cut_to_snaplen += 1;
            snaplen as usize
        } else {
            captured
        }
    }

    /// The next frame, `Ok(None)` at the end of the capture (or after an
    /// error). The frame borrows the reader's buffer until the next call.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, PortError> {
        if self.finished {
            return Ok(None);
        }
        let record = match &self.format {
            Format::Classic { .. } => self.next_classic_record(),
            Format::Ng { .. } => self.next_ng_record(),
        };
        match record {
            Ok(Some(record)) => {
                let end = record.start.saturating_add(record.len);
                Ok(Some(Frame {
                    timestamp_ns: record.timestamp_ns,
                    data: self.buf.get(record.start..end).unwrap_or(&[]),
                }))
            }
            Ok(None) => {
                self.finished = true;
                Ok(None)
            }
            Err(e) => {
                self.finished = true;
                Err(e)
            }
        }
    }

    fn bad_capture(&self, detail: impl Display) -> PortError {
        PortError::BadCapture {
            path: self.path.clone(),
            detail: detail.to_string(),
        }
    }

    fn io_error(&self, e: io::Error) -> PortError {
        PortError::io(
            format!(
                "cannot read capture {} at byte offset {}",
                self.path, self.offset
            ),
            e,
        )
    }

    /// Fills `buf` from the input; returns how many bytes were read, less
    /// than asked only at the end of the input.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, PortError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        Ok(filled)
    }

    /// Fills `buf` completely or fails, saying that `what` (which starts at
    /// byte `start`) runs past the end of the file.
    fn fill_exact(&mut self, buf: &mut [u8], what: &str, start: u64) -> Result<(), PortError> {
        if self.fill(buf)? < buf.len() {
            return Err(self.bad_capture(format_args!(
                "{what} at byte offset {start} runs past the end of the file"
            )));
        }
        Ok(())
    }

    /// Reads `len` bytes into the start of the reusable buffer, which only
    /// grows (to at most the largest record: callers bound `len`).
    fn fill_buf(&mut self, len: usize, what: &str, start: u64) -> Result<(), PortError> {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let mut buf = std::mem::take(&mut self.buf);
        let filled = self.fill(&mut buf[..len]);
        self.buf = buf;
        if filled? < len {
            return Err(self.bad_capture(format_args!(
                "{what} at byte offset {start} runs past the end of the file"
            )));
        }
        Ok(())
    }

    fn read_file_header(&mut self) -> Result<(), PortError> {
        let mut magic = [0u8; 4];
        if self.fill(&mut magic)? < 4 {
            return Err(self.bad_capture("file is too short to be a pcap or pcapng capture"));
        }
        if u32::from_be_bytes(magic) == BLOCK_SECTION_HEADER {
            return self.read_section_header(0);
        }
        let (order, nanosecond) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (ByteOrder::Little, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (ByteOrder::Big, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (ByteOrder::Little, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (ByteOrder::Big, true),
            _ => {
                return Err(self.bad_capture(format_args!(
                    "not a pcap or pcapng file (magic number {:02x}{:02x}{:02x}{:02x})",
                    magic[0], magic[1], magic[2], magic[3]
                )))
            }
        };
        let mut header = [0u8; 20];
        self.fill_exact(&mut header, "pcap file header", 0)?;
        let (major, minor) = (order.u16(&header, 0), order.u16(&header, 2));
        if major != 2 {
            return Err(self.bad_capture(format_args!(
                "unsupported pcap version {major}.{minor} (only 2.x is read)"
            )));
        }
        let snaplen = order.u32(&header, 12);
        let link_field = order.u32(&header, 16);
        let link_type = link_field & CLASSIC_LINK_TYPE_MASK;
        if link_type != LINKTYPE_ETHERNET {
            return Err(self.bad_capture(format_args!(
                "link type {link_type} ({}) is not supported: only Ethernet captures \
                 (LINKTYPE_ETHERNET, 1) can be read; capture on an Ethernet interface, \
                 not `any`",
                link_type_name(link_type)
            )));
        }
        let fcs_len = if link_field & CLASSIC_FCS_PRESENT != 0 {
            (link_field >> 28) as usize * 2
        } else {
            0
        };
        self.format = Format::Classic {
            order,
            nanosecond,
            snaplen,
            fcs_len,
        };
        Ok(())
    }

    fn next_classic_record(&mut self) -> Result<Option<Record>, PortError> {
        let Format::Classic {
            order,
            nanosecond,
            snaplen,
            fcs_len,
        } = self.format
        else {
            return Ok(None);
        };
        let start = self.offset;
        let mut header = [0u8; 16];
        match self.fill(&mut header)? {
            0 => return Ok(None),
            16 => {}
            n => {
                return Err(self.bad_capture(format_args!(
                    "record header at byte offset {start} is cut short by the end of the \
                     file ({n} of 16 bytes)"
                )))
            }
        }
        let seconds = order.u32(&header, 0) as u64;
        let fraction = order.u32(&header, 4) as u64;
        let captured = order.u32(&header, 8);
        check_captured_len(captured).map_err(|detail| {
            self.bad_capture(format_args!("record at byte offset {start}: {detail}"))
        })?;
        let captured = captured as usize;
        self.fill_buf(captured, "record", start)?;
        let kept = self.keep_within_snaplen(captured, snaplen);
        // seconds < 2^32 and fraction < 2^32, so neither sum overflows u64.
        let timestamp_ns = if nanosecond {
            seconds * 1_000_000_000 + fraction
        } else {
            seconds * 1_000_000_000 + fraction * 1_000
        };
        Ok(Some(Record {
            start: 0,
            len: kept.saturating_sub(fcs_len),
            timestamp_ns,
        }))
    }

    /// Reads the rest of a Section Header Block whose type field (4 bytes)
    /// has been read, starting at byte `start`, and begins a new section.
    fn read_section_header(&mut self, start: u64) -> Result<(), PortError> {
        let mut head = [0u8; 8];
        self.fill_exact(&mut head, "section header block", start)?;
        let order = match head[4..8] {
            [0x1a, 0x2b, 0x3c, 0x4d] => ByteOrder::Big,
            [0x4d, 0x3c, 0x2b, 0x1a] => ByteOrder::Little,
            _ => {
                return Err(self.bad_capture(format_args!(
                    "section header block at byte offset {start} has no valid byte-order magic"
                )))
            }
        };
        let total_len = order.u32(&head, 0);
        self.check_block_len(total_len, true, start)?;
        if total_len < 28 {
            return Err(self.bad_capture(format_args!(
                "section header block at byte offset {start} is {total_len} bytes, \
                 shorter than the 28 it needs"
            )));
        }
        // The rest: version, section length, options, trailing length.
        let rest = total_len as usize - 12;
        self.fill_buf(rest, "section header block", start)?;
        self.check_trailing_len(order, rest, total_len, start)?;
        let (major, minor) = (order.u16(&self.buf, 0), order.u16(&self.buf, 2));
        if major != 1 {
            return Err(self.bad_capture(format_args!(
                "section at byte offset {start} is pcapng version {major}.{minor}; \
                 only 1.x is read"
            )));
        }
        self.format = Format::Ng {
            order,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    /// A pcapng block length must be a multiple of 4, at least 12 (type,
    /// length, trailing length) and, for a block to be `parsed` (held in
    /// memory), at most [`MAX_PARSED_BLOCK_LEN`].
    fn check_block_len(&self, total_len: u32, parsed: bool, start: u64) -> Result<(), PortError> {
        if total_len & 3 != 0 || total_len < 12 {
            return Err(self.bad_capture(format_args!(
                "block at byte offset {start} has length {total_len}, which is not a \
                 multiple of 4 of at least 12"
            )));
        }
        if parsed && total_len > MAX_PARSED_BLOCK_LEN {
            return Err(self.bad_capture(format_args!(
                "block at byte offset {start} has length {total_len}, more than the \
                 {MAX_PARSED_BLOCK_LEN} bytes this reader accepts"
            )));
        }
        Ok(())
    }

    /// Checks the trailing length, the last 4 of the `rest` bytes of a
    /// block in the buffer.
    fn check_trailing_len(
        &self,
        order: ByteOrder,
        rest: usize,
        total_len: u32,
        start: u64,
    ) -> Result<(), PortError> {
        let trailing = order.u32(&self.buf, rest.saturating_sub(4));
        if trailing != total_len {
            return Err(self.bad_capture(format_args!(
                "block at byte offset {start} has length {total_len} but trailing length {trailing}"
            )));
        }
        Ok(())
    }

    fn next_ng_record(&mut self) -> Result<Option<Record>, PortError> {
        loop {
            let Format::Ng { order, .. } = self.format else {
                return Ok(None);
            };
            let start = self.offset;
            let mut head = [0u8; 4];
            match self.fill(&mut head)? {
                0 => return Ok(None),
                4 => {}
                _ => {
                    return Err(self.bad_capture(format_args!(
                        "block at byte offset {start} is cut short by the end of the file"
                    )))
                }
            }
            if u32::from_be_bytes(head) == BLOCK_SECTION_HEADER {
                self.read_section_header(start)?;
                continue;
            }
            let block_type = order.u32(&head, 0);
            self.fill_exact(&mut head, "block", start)?;
            let total_len = order.u32(&head, 0);
            let parsed = matches!(
                block_type,
                BLOCK_INTERFACE_DESCRIPTION
                    | BLOCK_ENHANCED_PACKET
                    | BLOCK_SIMPLE_PACKET
                    | BLOCK_OBSOLETE_PACKET
            );
            self.check_block_len(total_len, parsed, start)?;
            if !parsed {
                self.skip_block(order, total_len, start)?;
                continue;
            }
            // The body and the trailing length; the buffer starts at the
            // body, byte 8 of the block.
            let rest = total_len as usize - 8;
            self.fill_buf(rest, "block", start)?;
            self.check_trailing_len(order, rest, total_len, start)?;
            let body_len = rest - 4;
            match block_type {
                BLOCK_INTERFACE_DESCRIPTION => self.read_interface(order, body_len, start)?,
                BLOCK_SIMPLE_PACKET => return self.simple_packet(order, body_len, start).map(Some),
                _ => return self.packet(order, block_type, body_len, start).map(Some),
            }
        }
    }

    /// Skips a block of a kind this reader does not parse, without holding
    /// it in memory.
    fn skip_block(
        &mut self,
        order: ByteOrder,
        total_len: u32,
        start: u64,
    ) -> Result<(), PortError> {
        let body_len = total_len as u64 - 12;
        let skipped = io::copy(&mut (&mut self.input).take(body_len), &mut io::sink())
            .map_err(|e| self.io_error(e))?;
        self.offset += skipped;
        if skipped < body_len {
            return Err(self.bad_capture(format_args!(
                "block at byte offset {start} of length {total_len} runs past the end of the file"
            )));
        }
        let mut trailing = [0u8; 4];
        self.fill_exact(&mut trailing, "block", start)?;
        let trailing = order.u32(&trailing, 0);
        if trailing != total_len {
            return Err(self.bad_capture(format_args!(
                "block at byte offset {start} has length {total_len} but trailing length {trailing}"
            )));
        }
        Ok(())
    }

    /// Adds the interface described by the Interface Description Block
    /// whose body (`body_len` bytes) is in the buffer.
    fn read_interface(
        &mut self,
        order: ByteOrder,
        body_len: usize,
        start: u64,
    ) -> Result<(), PortError> {
        if body_len < 8 {
            return Err(self.bad_capture(format_args!(
                "interface description block at byte offset {start} is too short"
            )));
        }
        let body = self.buf.get(..body_len).unwrap_or(&[]);
        let mut interface = Interface {
            link_type: order.u16(body, 0),
            snaplen: order.u32(body, 4),
            fcs_len: 0,
            clock: Clock::DEFAULT,
        };
        let mut at = 8;
        while at + 4 <= body.len() {
            let code = order.u16(body, at);
            let len = order.u16(body, at + 2) as usize;
            let Some(value) = body.get(at + 4..at + 4 + len) else {
                return Err(self.bad_capture(format_args!(
                    "interface description block at byte offset {start}: option {code} \
                     runs past the end of the block"
                )));
            };
            match (code, value) {
                (OPTION_END, _) => break,
                (OPTION_IF_TSRESOL, [resolution, ..]) => {
                    interface.clock.binary = resolution & 0x80 != 0;
                    interface.clock.exponent = resolution & 0x7f;
                }
                (OPTION_IF_TSOFFSET, _) if len >= 8 => {
                    interface.clock.offset_s = order.i64(value, 0)
                }
                (OPTION_IF_FCSLEN, [fcs_len, ..]) => interface.fcs_len = *fcs_len as usize,
                _ => {}
            }
            at += 4 + len.next_multiple_of(4);
        }
        if let Format::Ng { interfaces, .. } = &mut self.format {
            interfaces.push(interface);
        }
        Ok(())
    }

    /// The Ethernet interface `id` of the current section, or an error for
    /// a packet block at `start`.
    fn interface(&self, id: u32, start: u64) -> Result<Interface, PortError> {
        let Format::Ng { interfaces, .. } = &self.format else {
            return Err(self.bad_capture("packet block outside a pcapng section"));
        };
        let Some(interface) = interfaces.get(id as usize) else {
            return Err(self.bad_capture(format_args!(
                "packet block at byte offset {start} is on interface {id}, but the section \
                 describes {} interface(s)",
                interfaces.len()
            )));
        };
        if interface.link_type as u32 != LINKTYPE_ETHERNET {
            return Err(self.bad_capture(format_args!(
                "packet block at byte offset {start} is on interface {id} of link type {} ({}): \
                 only Ethernet (LINKTYPE_ETHERNET, 1) is supported",
                interface.link_type,
                link_type_name(interface.link_type as u32)
            )));
        }
        Ok(*interface)
    }

    /// The packet of an Enhanced (or obsolete) Packet Block whose body is
    /// in the buffer.
    fn packet(
        &mut self,
        order: ByteOrder,
        block_type: u32,
        body_len: usize,
        start: u64,
    ) -> Result<Record, PortError> {
        const DATA_AT: usize = 20;
        if body_len < DATA_AT {
            return Err(self.bad_capture(format_args!(
                "packet block at byte offset {start} is too short"
            )));
        }
        let interface_id = if block_type == BLOCK_OBSOLETE_PACKET {
            order.u16(&self.buf, 0) as u32
        } else {
            order.u32(&self.buf, 0)
        };
        let interface = self.interface(interface_id, start)?;
        let units = (order.u32(&self.buf, 4) as u64) << 32 | order.u32(&self.buf, 8) as u64;
        let captured = order.u32(&self.buf, 12);
        check_captured_len(captured).map_err(|detail| {
            self.bad_capture(format_args!(
                "packet block at byte offset {start}: {detail}"
            ))
        })?;
        if captured as usize > body_len - DATA_AT {
            return Err(self.bad_capture(format_args!(
                "packet block at byte offset {start}: captured length {captured} runs past \
                 the end of the block"
            )));
        }
        let kept = self.keep_within_snaplen(captured as usize, interface.snaplen);
        Ok(Record {
            start: DATA_AT,
            len: kept.saturating_sub(interface.fcs_len),
            timestamp_ns: interface.clock.to_ns(units),
        })
    }

    /// The packet of a Simple Packet Block whose body is in the buffer: on
    /// interface 0, with no timestamp (0).
    fn simple_packet(
        &self,
        order: ByteOrder,
        body_len: usize,
        start: u64,
    ) -> Result<Record, PortError> {
        const DATA_AT: usize = 4;
        if body_len < DATA_AT {
            return Err(self.bad_capture(format_args!(
                "simple packet block at byte offset {start} is too short"
            )));
        }
        let interface = self.interface(0, start)?;
        let original = order.u32(&self.buf, 0) as usize;
        let mut captured = original.min(body_len - DATA_AT);
        if interface.snaplen != 0 {
            captured = captured.min(interface.snaplen as usize);
        }
        if captured > MAX_CAPTURED_LEN {
            return Err(self.bad_capture(format_args!(
                "simple packet block at byte offset {start}: packet of {captured} bytes is \
                 larger than the {MAX_CAPTURED_LEN}-byte limit of this reader"
            )));
        }
        Ok(Record {
            start: DATA_AT,
            len: captured.saturating_sub(interface.fcs_len),
            timestamp_ns: 0,
        })
    }
}

/// Checks a record's captured length against the hard limit. (One longer
/// than the snaplen is not an error: it is cut to it, as libpcap does.)
fn check_captured_len(captured: u32) -> Result<(), String> {
    if captured as usize > MAX_CAPTURED_LEN {
        return Err(format!(
            "captured length {captured} is larger than the {MAX_CAPTURED_LEN}-byte limit of this reader"
        ));
    }
    Ok(())
}
