//! Errors a port reports. Each names the port or file and, where there is
//! one, the fix.

use std::fmt;
use std::io;

/// What went wrong with a port.
#[derive(Debug)]
pub enum PortError {
    /// The named network interface does not exist.
    NoSuchInterface {
        /// Interface name.
        name: String,
    },
    /// The interface is already used by another program (an XDP program is
    /// attached, or a socket is bound to the queue).
    InUse {
        /// Interface name.
        name: String,
        /// What holds it, as far as known.
        detail: String,
    },
    /// The caller lacks a capability.
    Permission {
        /// What was attempted.
        what: String,
        /// The capability or privilege needed.
        needed: String,
    },
    /// A capture file cannot be read: bad magic, unsupported link type,
    /// truncated or hostile record.
    BadCapture {
        /// The file.
        path: String,
        /// What is wrong, with a byte offset where it helps.
        detail: String,
    },
    /// Any other I/O error, with what was being done.
    Io {
        /// What was being done, naming the port or file.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl PortError {
    /// An [`PortError::Io`] with context.
    pub fn io(context: impl Into<String>, source: io::Error) -> PortError {
        PortError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortError::NoSuchInterface { name } => write!(
                f,
                "interface {name:?} does not exist: create it first or fix the name (`ip link show` lists interfaces)"
            ),
            PortError::InUse { name, detail } => write!(f, "interface {name:?} is already in use: {detail}"),
            PortError::Permission { what, needed } => {
                write!(f, "permission denied to {what}: run as root or grant {needed}")
            }
            PortError::BadCapture { path, detail } => write!(f, "cannot read capture {path}: {detail}"),
            PortError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for PortError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PortError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
