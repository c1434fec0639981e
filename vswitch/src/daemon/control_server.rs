//! The control socket's server: who may connect, and serving every client
//! from one event loop so that none can hold up the others, MAC aging or
//! shutdown.
//!
//! The socket is mode 0600, the daemon's user's alone, whatever the
//! umask; with `[switch] control_group` it is 0660 and group-owned by that
//! group, whose members may read but not write. Each connection's
//! credentials (SO_PEERCRED, and the peer's supplementary groups from
//! `/proc/<pid>/status`) decide its [`Access`]: root or the daemon's own
//! user read and write, a member of the control group reads, anyone else
//! gets a one-line error and is closed.
//!
//! Connections are nonblocking, each with its own buffer and a deadline
//! ([`CLIENT_DEADLINE`]) for sending its request and taking the reply; a
//! request longer than [`MAX_REQUEST`] is answered with an error and not
//! read further; past [`MAX_CLIENTS`] the oldest client is dropped.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use vswitch_ports::unix_socket::{self, PeerCredentials};
use vswitch_ports::wait::EventSet;

use super::control::{self, Access};
use super::{Shared, StartError};
use crate::config::ControlGroup;

/// The longest request accepted, newline included.
pub(crate) const MAX_REQUEST: usize = 1 << 20;
/// How long a client has to send its request and take the whole reply.
pub(crate) const CLIENT_DEADLINE: Duration = Duration::from_secs(5);
/// Clients served at once; one more drops the oldest.
pub(crate) const MAX_CLIENTS: usize = 64;
/// Bytes read from one client per wake-up, so that a fast sender does
/// not starve the others.
const READ_CHUNK: usize = 64 * 1024;

/// The listening socket and its clients.
pub(crate) struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file bound, so that only it is
    /// removed at shutdown, not whatever took its path since.
    bound: (u64, u64),
    events: EventSet,
    clients: BTreeMap<RawFd, Client>,
    accepted: u64,
    group: Option<ControlGroup>,
    own_uid: u32,
}

struct Client {
    stream: UnixStream,
    access: Access,
    /// Order of acceptance: the smallest is the oldest.
    serial: u64,
    deadline: Instant,
    state: State,
}

enum State {
    /// Receiving the request line.
    Reading(Vec<u8>),
    /// Sending the reply; `sent` bytes of it are out.
    Writing { reply: Vec<u8>, sent: usize },
}

/// What is at a path, for messages.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_file() {
        "a regular file"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device node"
    } else {
        "something that is not a socket"
    }
}

/// Makes `path` free for a new socket: nothing there, or a stale socket
/// (one that refuses connections), which is removed. Anything else is
/// left alone and refused.
fn clear_stale(path: &Path) -> Result<(), StartError> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StartError(format!(
                "cannot look at control socket path {}: {e}",
                path.display()
            )))
        }
        Ok(meta) => meta,
    };
    if !meta.file_type().is_socket() {
        return Err(StartError(format!(
            "control socket path {} holds {}, not a socket; it is left alone: remove it yourself or set [switch] control_socket to another path",
            path.display(),
            kind_of(meta.file_type())
        )));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(StartError(format!(
            "control socket {} is in use: another vswitchd is running (stop it, or set [switch] control_socket to another path)",
            path.display()
        ))),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(|e| {
                StartError(format!(
                    "cannot remove the stale control socket {}: {e}",
                    path.display()
                ))
            })
        }
        Err(e) => Err(StartError(format!(
            "control socket {} exists and cannot be checked: {e} (remove it if no vswitchd uses it)",
            path.display()
        ))),
    }
}

impl ControlServer {
    /// Listens on `path` (refusing a live daemon's socket or anything
    /// that is not a socket, replacing a stale one), mode 0600, or 0660
    /// group-owned by `group`.
    pub(crate) fn bind(path: &Path, group: Option<&ControlGroup>) -> Result<Self, StartError> {
        clear_stale(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // 0755 whatever the umask: a directory others may write to
            // would let them replace the socket.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| {
                    StartError(format!(
                        "cannot create {} for the control socket: {e}",
                        dir.display()
                    ))
                })?;
        }
        let mode = if group.is_some() { 0o660 } else { 0o600 };
        let listener =
            unix_socket::listen_restricted(path, mode, group.map(|g| g.gid)).map_err(|e| {
                StartError(format!(
                    "cannot listen on control socket {}: {e}",
                    path.display()
                ))
            })?;
        let bound = std::fs::symlink_metadata(path)
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| StartError(format!("control socket {}: {e}", path.display())))?;
        let mut server = ControlServer {
            listener,
            path: path.to_path_buf(),
            bound,
            events: EventSet::new()
                .map_err(|e| StartError(format!("cannot create the control epoll set: {e}")))?,
            clients: BTreeMap::new(),
            accepted: 0,
            group: group.cloned(),
            own_uid: unix_socket::effective_uid(),
        };
        server
            .events
            .add(server.listener.as_raw_fd())
            .map_err(|e| StartError(format!("control socket {}: {e}", path.display())))?;
        Ok(server)
    }

    /// Waits up to `timeout` (less when a client's deadline comes first)
    /// for connections and client data, serves what is ready, and drops
    /// the clients past their deadline. Never blocks on a client.
    pub(crate) fn serve(&mut self, shared: &Shared, now: u32, timeout: Duration) {
        let timeout = self
            .clients
            .values()
            .map(|c| c.deadline.saturating_duration_since(Instant::now()))
            .fold(timeout, Duration::min);
        let mut ready = Vec::new();
        if self.events.wait(timeout, |fd| ready.push(fd)).is_err() {
            // Not expected with a valid set; do not spin on it.
            std::thread::sleep(Duration::from_millis(20));
        }
        let listener = self.listener.as_raw_fd();
        for fd in ready {
            if fd == listener {
                self.accept_pending();
            } else {
                self.advance(fd, shared, now);
            }
        }
        let now = Instant::now();
        let late: Vec<RawFd> = self
            .clients
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(&fd, _)| fd)
            .collect();
        for fd in late {
            self.close(
                fd,
                &format!(
                    "no complete request within {} s: send one line, then read the reply",
                    CLIENT_DEADLINE.as_secs()
                ),
            );
        }
    }

    fn accept_pending(&mut self) {
        // At most a full table per wake-up, so that a flood of connections
        // leaves time for the clients already in.
        for _ in 0..MAX_CLIENTS {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let access = unix_socket::peer_credentials(&stream)
                .map_err(|e| format!("cannot read the credentials of this connection: {e}"))
                .and_then(|peer| {
                    access_for(
                        peer,
                        self.own_uid,
                        self.group.as_ref(),
                        supplementary_groups,
                    )
                });
            let access = match access {
                Ok(access) => access,
                Err(why) => {
                    send_error(
                        &stream,
                        &format!("{why} (control socket {})", self.path.display()),
                    );
                    continue;
                }
            };
            if self.clients.len() >= MAX_CLIENTS {
                if let Some((&oldest, _)) = self.clients.iter().min_by_key(|(_, c)| c.serial) {
                    self.close(
                        oldest,
                        &format!("dropped: more than {MAX_CLIENTS} clients at once"),
                    );
                }
            }
            let fd = stream.as_raw_fd();
            if self.events.add(fd).is_err() {
                continue;
            }
            self.accepted += 1;
            self.clients.insert(
                fd,
                Client {
                    stream,
                    access,
                    serial: self.accepted,
                    deadline: Instant::now() + CLIENT_DEADLINE,
                    state: State::Reading(Vec::new()),
                },
            );
        }
    }

    /// Reads from, or writes to, client `fd` what it can without waiting.
    fn advance(&mut self, fd: RawFd, shared: &Shared, now: u32) {
        let Some(client) = self.clients.get_mut(&fd) else {
            return;
        };
        if let State::Reading(buffer) = &mut client.state {
            match read_request(&client.stream, buffer) {
                Received::Pending => return,
                Received::Closed => return self.drop_client(fd),
                Received::Line(line) => {
                    let reply = match std::str::from_utf8(&line) {
                        Ok(text) => control::answer(text.trim(), &client.access, shared, now),
                        Err(_) => json!({"error": "the request is not UTF-8 text"}),
                    };
                    client.state = State::Writing {
                        reply: reply_bytes(&reply),
                        sent: 0,
                    };
                }
                Received::TooLong => {
                    let reply = json!({"error": format!(
                        "request longer than {MAX_REQUEST} bytes: one command per line"
                    )});
                    client.state = State::Writing {
                        reply: reply_bytes(&reply),
                        sent: 0,
                    };
                }
            }
            // Write at once; wait for room only if the socket is full.
            if self.events.watch_writable(fd, true).is_err() {
                return self.drop_client(fd);
            }
        }
        let Some(client) = self.clients.get_mut(&fd) else {
            return;
        };
        if let State::Writing { reply, sent } = &mut client.state {
            loop {
                match (&client.stream).write(&reply[*sent..]) {
                    Ok(n) if n > 0 => {
                        *sent += n;
                        if *sent == reply.len() {
                            return self.drop_client(fd);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    _ => return self.drop_client(fd),
                }
            }
        }
    }

    /// Drops client `fd`, first telling it `why` if it is still waiting
    /// to send its request.
    fn close(&mut self, fd: RawFd, why: &str) {
        if let Some(Client {
            stream,
            state: State::Reading(_),
            ..
        }) = self.clients.get(&fd)
        {
            send_error(stream, why);
        }
        self.drop_client(fd);
    }

    fn drop_client(&mut self, fd: RawFd) {
        // Out of the set before the descriptor closes: its number comes
        // back with the next connection.
        let _ = self.events.remove(fd);
        self.clients.remove(&fd);
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .map(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == self.bound)
            .unwrap_or(false);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What one read of a client's request gave.
enum Received {
    /// Nothing more yet.
    Pending,
    /// The peer is gone, or sent nothing at all before closing.
    Closed,
    /// A request (the bytes before the newline, or all of them at EOF).
    Line(Vec<u8>),
    /// More than [`MAX_REQUEST`] bytes and no newline.
    TooLong,
}

fn read_request(mut stream: &UnixStream, buffer: &mut Vec<u8>) -> Received {
    let mut chunk = vec![0u8; READ_CHUNK.min(MAX_REQUEST + 1 - buffer.len())];
    match stream.read(&mut chunk) {
        Ok(0) if buffer.is_empty() => Received::Closed,
        Ok(0) => Received::Line(std::mem::take(buffer)),
        Ok(n) => {
            let start = buffer.len();
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(at) = buffer[start..].iter().position(|&b| b == b'\n') {
                buffer.truncate(start + at);
                Received::Line(std::mem::take(buffer))
            } else if buffer.len() > MAX_REQUEST {
                Received::TooLong
            } else {
                Received::Pending
            }
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
            Received::Pending
        }
        Err(_) => Received::Closed,
    }
}

fn reply_bytes(reply: &serde_json::Value) -> Vec<u8> {
    let mut bytes = reply.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// Sends a one-line error without waiting: a fresh connection's socket
/// buffer has room for it, and a client that lets it fill loses it.
fn send_error(mut stream: &UnixStream, message: &str) {
    let _ = stream.write(&reply_bytes(&json!({ "error": message })));
}

/// The supplementary groups of process `pid`, from the `Groups:` line of
/// `/proc/<pid>/status`.
fn supplementary_groups(pid: u32) -> std::io::Result<Vec<u32>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(groups_of_status(&status))
}

fn groups_of_status(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What a peer may do: root and the daemon's own user read and write, a
/// member of `group` (primary or supplementary) reads, and anyone else is
/// refused with why and the fix.
fn access_for(
    peer: PeerCredentials,
    own_uid: u32,
    group: Option<&ControlGroup>,
    groups_of: impl FnOnce(u32) -> std::io::Result<Vec<u32>>,
) -> Result<Access, String> {
    if peer.uid == 0 || peer.uid == own_uid {
        return Ok(Access::ReadWrite);
    }
    let Some(group) = group else {
        return Err(format!(
            "permission denied: uid {} may not use the control socket: run vsctl as root, or set [switch] control_group to let a group read",
            peer.uid
        ));
    };
    let member = peer.gid == group.gid
        || groups_of(peer.pid)
            .map(|groups| groups.contains(&group.gid))
            .unwrap_or(false);
    if member {
        Ok(Access::ReadOnly {
            group: group.name.clone(),
        })
    } else {
        Err(format!(
            "permission denied: uid {} is not in group {} (gid {}), which may read the control socket: add the user to it (usermod -aG {} <user>, then log in again) or run vsctl as root",
            peer.uid, group.name, group.gid, group.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> PeerCredentials {
        PeerCredentials { pid: 7, uid, gid }
    }

    #[test]
    fn credentials_decide_access() {
        let group = ControlGroup {
            name: "vsread".into(),
            gid: 500,
        };
        let none = |_| Ok(Vec::new());
        let member = |pid| {
            assert_eq!(pid, 7);
            Ok(vec![20, 500])
        };
        let read_only = Ok(Access::ReadOnly {
            group: "vsread".into(),
        });
        assert_eq!(access_for(peer(0, 0), 0, None, none), Ok(Access::ReadWrite));
        assert_eq!(
            access_for(peer(1000, 1000), 1000, None, none),
            Ok(Access::ReadWrite)
        );
        assert_eq!(
            access_for(peer(1000, 500), 0, Some(&group), none),
            read_only
        );
        assert_eq!(
            access_for(peer(1000, 1000), 0, Some(&group), member),
            read_only
        );
        let e = access_for(peer(1000, 1000), 0, Some(&group), none).unwrap_err();
        assert!(
            e.contains("uid 1000 is not in group vsread (gid 500)") && e.contains("usermod"),
            "{e}"
        );
        // A peer whose groups cannot be read is not a member.
        let gone = |_| Err(std::io::Error::from(ErrorKind::NotFound));
        assert!(access_for(peer(1000, 1000), 0, Some(&group), gone).is_err());
        let e = access_for(peer(1000, 1000), 0, None, none).unwrap_err();
        assert!(e.contains("control_group"), "{e}");
    }

    #[test]
    fn groups_come_from_the_status_groups_line() {
        let status = "Name:\tvsctl\nGid:\t100\t100\t100\t100\nGroups:\t4 24 1001 \nNgid:\t0\n";
        assert_eq!(groups_of_status(status), vec![4, 24, 1001]);
        assert_eq!(groups_of_status("Groups:\n"), Vec::<u32>::new());
        assert_eq!(groups_of_status("Name:\tx\n"), Vec::<u32>::new());
        assert!(supplementary_groups(std::process::id()).is_ok());
        assert!(supplementary_groups(u32::MAX).is_err());
    }
}
