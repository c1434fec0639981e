//! Network namespaces and veth pairs: the container side of a port.
//!
//! [`NetNs`] and [`Veth`] own what they create and remove it when dropped,
//! also when a test fails or the demo is interrupted. [`run_in_netns`] runs
//! a closure on a thread that has entered a namespace, so a device or socket
//! can be created there (a TAP that is a container's eth0) while the rest of
//! the process stays in its own namespace.
//!
//! Namespaces are the named ones of `ip netns` (`/run/netns/<name>`);
//! links are made with the `ip` command of iproute2.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

use crate::PortError;

/// Runs `ip` with `args` and turns a failure into an error that shows the
/// command and what it printed.
pub fn ip(args: &[&str]) -> Result<String, PortError> {
    run("ip", args)
}

/// Runs `program` with `args`, returning its standard output, or an error
/// naming the command and carrying its standard error.
pub fn run(program: &str, args: &[&str]) -> Result<String, PortError> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        PortError::io(
            format!(
                "cannot run `{program}`: is it installed? (`ip` is in iproute2: apt-get install iproute2)"
            ),
            e,
        )
    })?;
    if !out.status.success() {
        return Err(PortError::io(
            format!("`{program} {}` failed", args.join(" ")),
            std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True when the process runs as root (effective uid 0): creating
/// namespaces, links and XDP programs needs it, so tests and benchmarks
/// check it to skip with a message instead of failing.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A named network namespace that this process created; deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates namespace `name` (like `ip netns add`) and brings its
    /// loopback up.
    pub fn create(name: &str) -> Result<NetNs, PortError> {
        ip(&["netns", "add", name])?;
        let ns = NetNs {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<String, PortError> {
        self.exec("ip", args)
    }

    /// Creates a veth pair from inside this namespace: `host_end` stays
    /// here, brought up, and its peer goes into `container` as
    /// `container_end` (a container's eth0 joined to a switch host).
    pub fn add_veth_into(
        &self,
        host_end: &str,
        container: &NetNs,
        container_end: &str,
    ) -> Result<(), PortError> {
        self.ip(&[
            "link",
            "add",
            host_end,
            "type",
            "veth",
            "peer",
            "name",
            container_end,
            "netns",
            container.name(),
        ])?;
        self.ip(&["link", "set", host_end, "up"]).map(|_| ())
    }

    /// Runs a program inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String, PortError> {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace also deletes the links inside it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A veth pair whose first end this process created; both ends are deleted
/// on drop (deleting one end of a pair deletes the other).
#[derive(Debug)]
pub struct Veth {
    host: String,
    peer: String,
    peer_netns: Option<String>,
}

impl Veth {
    /// Creates a veth pair: `host` stays in this namespace, `peer` is moved
    /// into `peer_netns` when given. Both ends are left down.
    pub fn create(host: &str, peer: &str, peer_netns: Option<&NetNs>) -> Result<Veth, PortError> {
        Veth::create_with_queues(host, peer, peer_netns, 1)
    }

    /// [`Veth::create`] with `queues` receive and transmit queues on each
    /// end (for multi-queue AF_XDP).
    pub fn create_with_queues(
        host: &str,
        peer: &str,
        peer_netns: Option<&NetNs>,
        queues: u32,
    ) -> Result<Veth, PortError> {
        let queues = queues.max(1).to_string();
        let q = [
            "numtxqueues",
            queues.as_str(),
            "numrxqueues",
            queues.as_str(),
        ];
        let mut args = vec!["link", "add", host];
        args.extend(q);
        args.extend(["type", "veth", "peer", "name", peer]);
        args.extend(q);
        ip(&args)?;
        let veth = Veth {
            host: host.to_string(),
            peer: peer.to_string(),
            peer_netns: peer_netns.map(|ns| ns.name().to_string()),
        };
        if let Some(ns) = peer_netns {
            ip(&["link", "set", peer, "netns", ns.name()])?;
        }
        Ok(veth)
    }

    /// The end in this namespace.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The other end.
    pub fn peer(&self) -> &str {
        &self.peer
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let deleted = Command::new("ip")
            .args(["link", "del", &self.host])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !deleted {
            // The host end may already be gone; the peer may still exist
            // where it was moved.
            let mut args = vec![];
            if let Some(ns) = &self.peer_netns {
                args.extend(["-n", ns.as_str()]);
            }
            args.extend(["link", "del", self.peer.as_str()]);
            let _ = Command::new("ip").args(&args).output();
        }
    }
}

/// A Linux bridge enslaving two host ends of veths, the peer the benches
/// measure against; deleted on drop (which releases the ends).
pub struct LinuxBridge {
    name: String,
}

impl LinuxBridge {
    /// A bridge named from `prefix` (unique to the run) over `host_a` and
    /// `host_b`, up, with both ports forwarding (waited for, at most 5 s).
    pub fn create(prefix: &str, host_a: &str, host_b: &str) -> Result<LinuxBridge, PortError> {
        let name = unique_name(prefix);
        ip(&["link", "add", &name, "type", "bridge"])?;
        let bridge = LinuxBridge { name };
        for end in [host_a, host_b] {
            ip(&["link", "set", end, "master", &bridge.name])?;
        }
        ip(&["link", "set", &bridge.name, "up"])?;
        // STP is off, so ports should forward at once; wait for it, bounded.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let forwarding = |end: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{end}/brport/state"))
                .map(|s| s.trim() == "3")
                .unwrap_or(false)
        };
        while !(forwarding(host_a) && forwarding(host_b)) {
            if std::time::Instant::now() > deadline {
                return Err(PortError::io(
                    format!("bridge {}", bridge.name),
                    std::io::Error::other("its ports never reached the forwarding state"),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(bridge)
    }
}

impl Drop for LinuxBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
    }
}

/// Runs `f` on a new thread that has entered network namespace `name`
/// (`/run/netns/<name>`), and returns its result. File descriptors opened
/// there (a TAP device, a socket) keep working from any thread afterwards.
pub fn run_in_netns<T, F>(name: &str, f: F) -> Result<T, PortError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let path = format!("/run/netns/{name}");
    let ns = File::open(&path).map_err(|e| {
        PortError::io(
            format!(
                "cannot open network namespace {name:?} ({path}); does it exist? (`ip netns list`)"
            ),
            e,
        )
    })?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // SAFETY: setns only reads the descriptor, which `ns` keeps
                // open for the call; it changes the namespace of this new
                // thread alone, which ends when the closure returns.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    let err = std::io::Error::last_os_error();
                    return Err(if err.raw_os_error() == Some(libc::EPERM) {
                        PortError::Permission {
                            what: format!("enter network namespace {name:?}"),
                            needed: "CAP_SYS_ADMIN".into(),
                        }
                    } else {
                        PortError::io(format!("cannot enter network namespace {name:?}"), err)
                    });
                }
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A name unique among this machine's processes, at most 15 bytes (the
/// kernel's interface name limit): `prefix` (up to 6 bytes) and 9 hex
/// digits, the process id (22 bits, Linux's largest) above a counter
/// (14 bits) that starts where the clock puts it, so that a process that
/// reuses an old one's id is unlikely to meet its names. Names of one
/// process differ for 16,384 calls: the counter's bits and the id's do
/// not overlap (they used to be mixed by XOR with the clock, and two
/// tests starting together could get one directory).
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static START: OnceLock<u32> = OnceLock::new();
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() >> 10)
            .unwrap_or(0)
    });
    let n = start.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed)) & 0x3fff;
    let pid = std::process::id() & 0x3f_ffff;
    let prefix: String = prefix.chars().take(6).collect();
    format!("{prefix}{:09x}", u64::from(pid) << 14 | u64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fit_interface_names() {
        let a = unique_name("vsw-test");
        let b = unique_name("vsw-test");
        assert_ne!(a, b);
        assert!(a.len() <= 15, "{a}");
        assert!(a.starts_with("vsw-te"));
    }

    #[test]
    fn names_taken_at_once_by_many_threads_all_differ() {
        let names: Vec<String> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| (0..1000).map(|_| unique_name("t")).collect::<Vec<_>>()))
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
    }
}
