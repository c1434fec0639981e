//! Link events from the kernel: a `NETLINK_ROUTE` socket subscribed to
//! `RTMGRP_LINK`, which the kernel tells of every interface that appears,
//! changes (flags, operational state, name) or disappears in this
//! process's network namespace.
//!
//! The socket is non-blocking and its descriptor is meant for an epoll set
//! ([`LinkMonitor::raw_fd`]); [`LinkMonitor::read`] drains what waits.
//! Messages are parsed by [`parse_messages`], which checks every length
//! against the bytes received and skips what it does not understand, so no
//! input can make it panic or read out of bounds.
//!
//! Netlink is a datagram protocol without flow control: when the process
//! is slow to read, the kernel drops messages and the next receive fails
//! with `ENOBUFS`. [`LinkMonitor::read`] then reports
//! [`ReadOutcome::Missed`], and the caller re-reads the state of the
//! interfaces it follows ([`link_state`]) instead of trusting events.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `RTM_NEWLINK`: an interface appeared or changed.
const RTM_NEWLINK: u16 = 16;
/// `RTM_DELLINK`: an interface disappeared.
const RTM_DELLINK: u16 = 17;
/// `struct nlmsghdr`: len u32, type u16, flags u16, seq u32, pid u32.
const NLMSG_HEADER_LEN: usize = 16;
/// `struct ifinfomsg`: family u8, pad u8, type u16, index i32, flags u32,
/// change u32.
const IFINFO_LEN: usize = 16;
/// `struct rtattr`: len u16, type u16.
const RTATTR_HEADER_LEN: usize = 4;
/// `IFLA_IFNAME`: the interface name, NUL-terminated.
const IFLA_IFNAME: u16 = 3;
/// `IFLA_OPERSTATE`: one byte, RFC 2863 operational state.
const IFLA_OPERSTATE: u16 = 16;
/// `IF_OPER_UP`.
const OPER_UP: u8 = 6;
/// Receive buffer: the kernel sends one message per link event, well
/// under a page; several may come in one datagram.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// What the kernel says of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Its index (`ip link` shows it first).
    pub index: u32,
    /// Its name, when the message carries one (it always does from the
    /// kernel; a message without is still reported by index).
    pub name: Option<String>,
    /// Administratively up (`IFF_UP`: `ip link set NAME up`).
    pub up: bool,
    /// Running (`IFF_RUNNING`: up with carrier).
    pub running: bool,
    /// Operationally up (`IFLA_OPERSTATE` is `IF_OPER_UP`), when the
    /// message says.
    pub oper_up: Option<bool>,
}

/// A link event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// `RTM_NEWLINK`: the interface exists now, maybe newly, maybe with
    /// changed flags or name.
    New(LinkInfo),
    /// `RTM_DELLINK`: the interface is gone.
    Deleted(LinkInfo),
}

/// What one [`LinkMonitor::read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Every message that waited was read.
    Complete,
    /// The kernel dropped messages (the socket's buffer overflowed, or a
    /// datagram did not fit the receive buffer): the events are not the
    /// whole story, so re-read the state of the interfaces that matter.
    Missed,
}

/// Appends the link events in one netlink datagram `buf` to `events`.
/// Other message types are skipped; a message whose header or payload is
/// cut short ends the parse (what came before it is kept).
pub fn parse_messages(buf: &[u8], events: &mut Vec<LinkEvent>) {
    let mut rest = buf;
    while rest.len() >= NLMSG_HEADER_LEN {
        let len = read_u32(rest, 0) as usize;
        let kind = read_u16(rest, 4);
        if len < NLMSG_HEADER_LEN || len > rest.len() {
            return;
        }
        let payload = &rest[NLMSG_HEADER_LEN..len];
        match kind {
            RTM_NEWLINK => events.extend(parse_link(payload).map(LinkEvent::New)),
            RTM_DELLINK => events.extend(parse_link(payload).map(LinkEvent::Deleted)),
            _ => {}
        }
        // Messages are 4-byte aligned; the last one may end unpadded.
        let next = align4(len).min(rest.len());
        rest = &rest[next..];
    }
}

/// The `ifinfomsg` and attributes of one link message.
fn parse_link(payload: &[u8]) -> Option<LinkInfo> {
    if payload.len() < IFINFO_LEN {
        return None;
    }
    let index = read_u32(payload, 4);
    let flags = read_u32(payload, 8);
    let mut info = LinkInfo {
        index,
        name: None,
        up: flags & libc::IFF_UP as u32 != 0,
        running: flags & libc::IFF_RUNNING as u32 != 0,
        oper_up: None,
    };
    let mut attrs = &payload[IFINFO_LEN..];
    while attrs.len() >= RTATTR_HEADER_LEN {
        let len = read_u16(attrs, 0) as usize;
        let kind = read_u16(attrs, 2) & 0x3fff; // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
        if len < RTATTR_HEADER_LEN || len > attrs.len() {
            break;
        }
        let data = &attrs[RTATTR_HEADER_LEN..len];
        match kind {
            IFLA_IFNAME => {
                let name = data.split(|&b| b == 0).next().unwrap_or_default();
                info.name = std::str::from_utf8(name).ok().map(str::to_string);
            }
            IFLA_OPERSTATE => info.oper_up = data.first().map(|&s| s == OPER_UP),
            _ => {}
        }
        let next = align4(len).min(attrs.len());
        attrs = &attrs[next..];
    }
    Some(info)
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Native-endian u16 at `at`; the caller checked the length.
fn read_u16(buf: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&buf[at..at + 2]);
    u16::from_ne_bytes(b)
}

/// Native-endian u32 at `at`; the caller checked the length.
fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_ne_bytes(b)
}

/// A netlink socket that receives the link events of this process's
/// network namespace.
#[derive(Debug)]
pub struct LinkMonitor {
    fd: OwnedFd,
    buf: Box<[u8]>,
}

impl LinkMonitor {
    /// Opens the socket and subscribes it to `RTMGRP_LINK` (any user may).
    pub fn open() -> io::Result<LinkMonitor> {
        // SAFETY: socket() takes no pointers; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socket() just returned this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain integers, for which all zero bytes
        // is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = libc::RTMGRP_LINK as u32;
        // SAFETY: bind reads `size_of::<sockaddr_nl>()` bytes from `addr`,
        // alive during the call; `fd` is the socket just opened.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(LinkMonitor {
            fd,
            buf: vec![0u8; RECEIVE_BUFFER].into_boxed_slice(),
        })
    }

    /// The descriptor, readable while events wait (for an epoll set).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads every datagram waiting, appending its link events to
    /// `events`; never blocks. Datagrams that did not come from the kernel
    /// are ignored.
    pub fn read(&mut self, events: &mut Vec<LinkEvent>) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::Complete;
        loop {
            // SAFETY: sockaddr_nl is plain integers; all zero is valid.
            let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            let mut from_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: recvfrom writes at most `buf.len()` bytes into `buf`
            // and at most `from_len` bytes into `from`, both alive and not
            // otherwise borrowed during the call. MSG_TRUNC makes it
            // return the datagram's real length, which may exceed the
            // buffer; only `min(n, buf.len())` bytes are read below.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                    (&mut from as *mut libc::sockaddr_nl).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN) => return Ok(outcome),
                    Some(libc::EINTR) => continue,
                    // The kernel dropped events; the socket works on.
                    Some(libc::ENOBUFS) => {
                        outcome = ReadOutcome::Missed;
                        continue;
                    }
                    _ => return Err(err),
                }
            }
            let n = n as usize;
            if n > self.buf.len() {
                outcome = ReadOutcome::Missed;
                continue;
            }
            if from.nl_pid != 0 {
                continue;
            }
            parse_messages(&self.buf[..n], events);
        }
    }
}

/// The current index and administrative state (`IFF_UP`) of interface
/// `name` in this thread's network namespace, or `None` when there is no
/// such interface: what to trust after [`ReadOutcome::Missed`].
pub fn link_state(name: &str) -> Option<(u32, bool)> {
    let c_name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c_name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return None;
    }
    let flags = std::fs::read_to_string(format!("/sys/class/net/{name}/flags")).ok();
    let flags = flags
        .as_deref()
        .map(str::trim)
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    Some((index, flags & libc::IFF_UP as u32 != 0))
}

#[cfg(test)]
mod tests;
