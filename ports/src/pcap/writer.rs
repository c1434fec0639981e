//! Writing classic pcap with nanosecond timestamps.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::LINKTYPE_ETHERNET;
use crate::PortError;

/// The snaplen written in the file header: longer frames are cut to it.
pub const WRITER_SNAPLEN: u32 = 65535;

/// Writes Ethernet frames as a classic pcap file: little-endian,
/// nanosecond timestamps (magic 0xa1b23c4d), `LINKTYPE_ETHERNET`, snaplen
/// [`WRITER_SNAPLEN`].
///
/// Output is buffered. Dropping the writer flushes it but cannot report a
/// failure; call [`PcapWriter::finish`] to know that the file is complete.
pub struct PcapWriter<W: Write = File> {
    path: String,
    out: BufWriter<W>,
}

impl PcapWriter<File> {
    /// Creates (or truncates) the file at `path` and writes the file
    /// header.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, PortError> {
        let path = path.as_ref();
        let file = File::create(path)
            .map_err(|e| PortError::io(format!("cannot create capture {}", path.display()), e))?;
        PcapWriter::from_writer(&path.display().to_string(), file)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes a capture to `out`, named `path` in messages, starting with
    /// the file header.
    pub fn from_writer(path: &str, out: W) -> Result<Self, PortError> {
        let mut writer = PcapWriter {
            path: path.to_string(),
            out: BufWriter::with_capacity(1 << 16, out),
        };
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // Bytes 8..16: time zone and timestamp accuracy, both 0.
        header[16..20].copy_from_slice(&WRITER_SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        writer.write_bytes(&header)?;
        Ok(writer)
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), PortError> {
        self.out
            .write_all(bytes)
            .map_err(|e| PortError::io(format!("cannot write capture {}", self.path), e))
    }

    /// True when the record of a `frame_len`-byte frame fits in the buffer
    /// beside what it holds: then [`PcapWriter::write`] only copies, and
    /// cannot fail or write out earlier records.
    pub fn fits(&self, frame_len: usize) -> bool {
        let record = 16 + frame_len.min(WRITER_SNAPLEN as usize);
        self.out.capacity() - self.out.buffer().len() >= record
    }

    /// Appends `frame`, received at `timestamp_ns` (nanoseconds since the
    /// epoch; times after 2106 are written as the last second pcap can
    /// hold). A frame longer than the snaplen is cut to it, keeping its
    /// original length in the record.
    pub fn write(&mut self, frame: &[u8], timestamp_ns: u64) -> Result<(), PortError> {
        let captured = frame.len().min(WRITER_SNAPLEN as usize);
        let seconds = u32::try_from(timestamp_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let nanoseconds = (timestamp_ns % 1_000_000_000) as u32;
        let original = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&seconds.to_le_bytes());
        header[4..8].copy_from_slice(&nanoseconds.to_le_bytes());
        header[8..12].copy_from_slice(&(captured as u32).to_le_bytes());
        header[12..16].copy_from_slice(&original.to_le_bytes());
        self.write_bytes(&header)?;
        self.write_bytes(&frame[..captured])
    }

    /// Writes out everything buffered.
    pub fn flush(&mut self) -> Result<(), PortError> {
        self.out
            .flush()
            .map_err(|e| PortError::io(format!("cannot write capture {}", self.path), e))
    }

    /// Gives up on the capture: returns the underlying writer and discards
    /// what is still buffered, so that records reported lost do not reach
    /// the file after all.
    pub fn abandon(self) -> W {
        self.out.into_parts().0
    }

    /// Writes out everything buffered and returns the underlying writer,
    /// or the error that kept the file from being complete.
    pub fn finish(self) -> Result<W, PortError> {
        let path = self.path;
        self.out
            .into_inner()
            .map_err(|e| PortError::io(format!("cannot write capture {path}"), e.into_error()))
    }
}
