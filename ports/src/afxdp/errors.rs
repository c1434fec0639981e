//! Turning failed attach and setup steps into errors a user can act on.

use std::io;

use super::socket::{SetupError, SetupStep};
use crate::PortError;

/// Turns a failed step of attaching to `interface` into the error a user
/// can act on. `what` completes "cannot ... <interface>".
pub(super) fn attach_error(interface: &str, what: &str, source: io::Error) -> PortError {
    match source.raw_os_error() {
        Some(libc::ENODEV) => PortError::NoSuchInterface {
            name: interface.to_string(),
        },
        Some(libc::EBUSY | libc::EEXIST) => PortError::InUse {
            name: interface.to_string(),
            detail: format!(
                "cannot {what} it ({source}): another XDP program is attached (`ip link show {interface}`) \
                 or another AF_XDP socket holds the queue, or a previous vswitchd is still exiting: \
                 re-binding right after a crash can give EBUSY for about a second"
            ),
        },
        Some(libc::EPERM) => PortError::Permission {
            what: format!("{what} {interface:?}"),
            needed: "CAP_NET_ADMIN, CAP_BPF, CAP_NET_RAW and CAP_IPC_LOCK".to_string(),
        },
        Some(libc::ERANGE) => PortError::io(
            format!(
                "cannot {what} {interface:?}: its MTU is too large for native XDP (veth takes up to about \
                 3.5 KB); lower the MTU or use generic mode"
            ),
            source,
        ),
        _ => PortError::io(format!("cannot {what} {interface:?}"), source),
    }
}

/// Turns a failed socket setup step into the error a user can act on.
/// `umem_bytes` and `zero_copy` describe what was asked for.
pub(super) fn setup_error(
    interface: &str,
    queue_id: u32,
    umem_bytes: usize,
    zero_copy: bool,
    error: SetupError,
) -> PortError {
    let SetupError { step, source } = error;
    let memlock = matches!(
        source.raw_os_error(),
        Some(libc::ENOBUFS | libc::ENOMEM | libc::EPERM)
    );
    if step == SetupStep::RegisterUmem && memlock {
        let mib = umem_bytes >> 20;
        return PortError::Permission {
            what: format!("lock {mib} MiB of UMEM for queue {queue_id} of {interface:?}"),
            needed: "CAP_IPC_LOCK (or an RLIMIT_MEMLOCK above the UMEM size)".to_string(),
        };
    }
    if step == SetupStep::Bind && zero_copy && source.raw_os_error() == Some(libc::EOPNOTSUPP) {
        return PortError::io(
            format!(
                "cannot bind queue {queue_id} of {interface:?} in zero-copy mode: the driver does not \
                 support it (set zero_copy to auto or off)"
            ),
            source,
        );
    }
    if step == SetupStep::Bind && source.raw_os_error() == Some(libc::EINVAL) {
        return PortError::io(
            format!(
                "cannot bind an AF_XDP socket to queue {queue_id} of {interface:?}: does the queue exist? \
                 (`ethtool -l {interface}`)"
            ),
            source,
        );
    }
    let what = match step {
        SetupStep::CreateSocket => format!("create the AF_XDP socket for queue {queue_id} of"),
        SetupStep::RegisterUmem => format!("register the UMEM of queue {queue_id} of"),
        SetupStep::ConfigureRings => {
            format!("size the AF_XDP rings (powers of two) of queue {queue_id} of")
        }
        SetupStep::MapRings => format!("map the AF_XDP rings of queue {queue_id} of"),
        SetupStep::Bind => format!("bind an AF_XDP socket to queue {queue_id} of"),
    };
    attach_error(interface, &what, source)
}
