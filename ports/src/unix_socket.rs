//! A Unix stream socket that is never reachable with wider permissions
//! than asked for, whoever's umask, the credentials of its peers
//! (SO_PEERCRED), and group names resolved through the system's group
//! database (`getgrnam_r`, so NSS groups count as well as `/etc/group`).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Connections the kernel queues before the daemon accepts them.
const BACKLOG: libc::c_int = 128;

/// Binds and listens on `path` (which must not exist), nonblocking, with
/// the file mode `mode` and, when `group` is given, group-owned by that
/// gid. Nobody can connect before the mode and owner are final: the
/// socket's inode is narrowed to `mode & 0o600` before `bind` creates the
/// file (the kernel masks that mode with the umask, so it can only get
/// narrower), the owner and exact mode are set on the path, and only then
/// does `listen` let connections in.
pub fn listen_restricted(path: &Path, mode: u32, group: Option<u32>) -> io::Result<UnixListener> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: an all-zero sockaddr_un is a valid (unnamed) address.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a Unix socket path must be 1 to {} bytes without NUL",
                addr.sun_path.len() - 1
            ),
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    // SAFETY: socket takes no pointers; the result is checked.
    let raw = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket just returned this descriptor; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: fchmod takes no pointers; the descriptor is ours and open.
    if unsafe { libc::fchmod(fd.as_raw_fd(), (mode & 0o600) as libc::mode_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `addr` is a valid sockaddr_un alive during the call, and the
    // length passed is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let finish = || -> io::Result<()> {
        let c_path = CString::new(bytes).map_err(io::Error::other)?;
        if let Some(gid) = group {
            // SAFETY: `c_path` is a NUL-terminated string alive during the
            // call; uid -1 leaves the owner as it is.
            let rc = unsafe {
                libc::fchownat(
                    libc::AT_FDCWD,
                    c_path.as_ptr(),
                    u32::MAX,
                    gid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: as above; chmod follows no symlink here, since bind just
        // created a socket at this path.
        if unsafe { libc::chmod(c_path.as_ptr(), mode as libc::mode_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: listen takes no pointers; the descriptor is ours.
        if unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    if let Err(e) = finish() {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(UnixListener::from(fd))
}

/// Who is at the other end of a Unix socket, as the kernel recorded it
/// when the peer connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Its process.
    pub pid: u32,
    /// Its effective user.
    pub uid: u32,
    /// Its effective (primary) group.
    pub gid: u32,
}

/// The credentials of the peer of `stream` (SO_PEERCRED).
pub fn peer_credentials(stream: &UnixStream) -> io::Result<PeerCredentials> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are writable and alive during the call, and
    // `len` holds the size of `cred`, which the kernel writes at most.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCredentials {
        pid: cred.pid as u32,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// This process's effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The gid of group `name`, or `None` when there is no such group.
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    let c_name = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a group name holds no NUL"))?;
    let mut buffer = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero group is a valid value for getgrnam_r to fill.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: `c_name` is NUL-terminated; `group`, `buffer` (of the
        // length passed) and `found` are writable and alive during the
        // call. The strings `group` points to live in `buffer`, which is
        // not read through them.
        let rc = unsafe {
            libc::getgrnam_r(
                c_name.as_ptr(),
                &mut group,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some(group.gr_gid)),
            libc::ERANGE if buffer.len() < 1 << 20 => buffer.resize(buffer.len() * 4, 0),
            // Some NSS modules report "no such group" as one of these.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// The name of group `gid`, for messages, or `None` when it has none.
pub fn group_name(gid: u32) -> Option<String> {
    let mut buffer = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero group is a valid value for getgrgid_r to fill.
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: `group`, `buffer` (of the length passed) and `found` are
        // writable and alive during the call.
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                &mut group,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() || group.gr_name.is_null() => return None,
            0 => {
                // SAFETY: on success gr_name points to a NUL-terminated
                // string inside `buffer`, alive here.
                let name = unsafe { CStr::from_ptr(group.gr_name) };
                return Some(name.to_string_lossy().into_owned());
            }
            libc::ERANGE if buffer.len() < 1 << 20 => buffer.resize(buffer.len() * 4, 0),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn listens_with_exactly_the_mode_asked() {
        // (The umask is process-wide, so this test leaves it alone; the
        // daemon's tests run it under `umask 000`.)
        let dir = crate::testing::TempDir::new("usock").unwrap();
        let private = listen_restricted(&dir.join("a.sock"), 0o600, None).unwrap();
        let shared = listen_restricted(&dir.join("b.sock"), 0o660, Some(effective_gid())).unwrap();
        let mode = |name: &str| {
            std::fs::symlink_metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("a.sock"), 0o600);
        assert_eq!(mode("b.sock"), 0o660);
        let meta = std::fs::metadata(dir.join("b.sock")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (effective_uid(), effective_gid()));
        // It accepts, and the peer is this process.
        let client = UnixStream::connect(dir.join("a.sock")).unwrap();
        let cred = peer_credentials(&client).unwrap();
        assert_eq!(cred.pid, std::process::id());
        assert_eq!(cred.uid, effective_uid());
        assert!(private.accept().is_ok());
        drop(shared);
        // A path in use is an error and is left alone.
        assert!(listen_restricted(&dir.join("a.sock"), 0o600, None).is_err());
        assert!(dir.join("a.sock").exists());
        assert!(listen_restricted(Path::new(""), 0o600, None).is_err());
    }

    fn effective_gid() -> u32 {
        // SAFETY: getegid has no preconditions and cannot fail.
        unsafe { libc::getegid() }
    }

    #[test]
    fn groups_resolve_by_name_and_back() {
        let root = group_id("root").unwrap();
        assert_eq!(root, Some(0));
        assert_eq!(group_name(0).as_deref(), Some("root"));
        assert_eq!(group_id("no-such-group-vswitch").unwrap(), None);
        assert!(group_id("a\0b").is_err());
    }
}
