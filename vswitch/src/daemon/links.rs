//! Ports that come and go: a thread that follows the kernel's link events
//! ([`vswitch_ports::netlink`]) for the interfaces of device ports (afxdp,
//! and tap ports in the daemon's own namespace).
//!
//! - When a port's interface disappears (`RTM_DELLINK` for its index, or
//!   an interface of its name with another index), the port goes down: one
//!   log line, `show` says `down`, every worker replaces its handles by a
//!   stand-in that drops what is sent to it as `port_down` (never counted
//!   in `tx_packets`), the dead handles are closed and the MACs learned on
//!   the port are flushed. The rest keeps forwarding.
//! - When an interface of that name is there again and up, the port is
//!   opened again with its configuration and swapped in with the machinery
//!   of [`super::reconfigure`] (same port id, same bridge). A failure is
//!   logged and retried on the next event or after a back-off of 250 ms,
//!   doubling up to 8 s, while the interface is there.
//! - Missed events (`ENOBUFS`) are made good by reading the current state
//!   of every followed interface.
//!
//! The thread holds the configuration lock while it changes a port, so a
//! configuration change and a link change never interleave. Tap ports in
//! another namespace are not followed (their events go to that namespace).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vswitch_pipeline::PortId;
use vswitch_ports::netlink::{link_state, LinkEvent, LinkMonitor, ReadOutcome};
use vswitch_ports::wait::{Doorbell, EventSet};

use super::reconfigure::{close_retired, place, post_and_wait};
use super::worker::WorkerUpdate;
use super::{open_port, Shared};
use crate::config::{Config, PortConfig, PortKind};

/// The first wait before another attempt to re-attach a port.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest wait between attempts.
const MAX_RETRY: Duration = Duration::from_secs(8);
/// How often the thread looks at the configuration (ports added or
/// removed) when no event comes.
const TICK: Duration = Duration::from_secs(1);

/// The thread following link events; stops and joins when dropped.
pub(super) struct LinkFollower {
    stop: Arc<AtomicBool>,
    doorbell: Arc<Doorbell>,
    thread: Option<JoinHandle<()>>,
}

impl LinkFollower {
    /// Starts following the interfaces of `shared`'s ports. Without a
    /// netlink socket (or a thread) the daemon runs on, with a log line:
    /// ports then stay as they are when their interface goes.
    pub(super) fn start(shared: &Arc<Shared>) -> Option<LinkFollower> {
        let started = LinkMonitor::open().and_then(|monitor| {
            let doorbell = Arc::new(Doorbell::new()?);
            let mut events = EventSet::new()?;
            events.add(monitor.raw_fd())?;
            events.add(doorbell.raw_fd())?;
            let stop = Arc::new(AtomicBool::new(false));
            let mut follow = Follow {
                shared: Arc::clone(shared),
                monitor,
                ports: HashMap::new(),
            };
            let thread = {
                let stop = Arc::clone(&stop);
                std::thread::Builder::new()
                    .name("vswitchd-links".into())
                    .spawn(move || follow.run(&mut events, &stop))?
            };
            Ok(LinkFollower {
                stop,
                doorbell,
                thread: Some(thread),
            })
        });
        match started {
            Ok(follower) => Some(follower),
            Err(e) => {
                log::error!(
                    "cannot follow link events ({e}): a port whose interface goes away stays attached until a restart"
                );
                None
            }
        }
    }
}

impl Drop for LinkFollower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.doorbell.ring();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A followed port.
struct Followed {
    /// The configuration it was opened with (a change re-opens it through
    /// a reconfiguration, which starts following it anew).
    kind: PortKind,
    interface: String,
    /// The index of the interface it is attached to; `None` while down.
    ifindex: Option<u32>,
    /// While down: when to try again, and the wait after that.
    retry: Option<(Instant, Duration)>,
}

struct Follow {
    shared: Arc<Shared>,
    monitor: LinkMonitor,
    /// By port name.
    ports: HashMap<String, Followed>,
}

/// What to do with a port after learning the state of an interface of
/// its name.
#[derive(Debug, PartialEq, Eq)]
struct Step {
    /// Take it down, for this reason.
    down: Option<String>,
    /// Then attach it.
    attach: bool,
}

/// The step for a port on `interface`, attached to index `ifindex`
/// (`None`: down), when an interface of that name has index and `IFF_UP`
/// `now` (`None`: there is none).
fn next_step(interface: &str, ifindex: Option<u32>, now: Option<(u32, bool)>) -> Step {
    match (ifindex, now) {
        (Some(_), None) => Step {
            down: Some(format!("interface {interface} is gone")),
            attach: false,
        },
        (Some(old), Some((index, up))) if old != index => Step {
            down: Some(format!(
                "interface {interface} was replaced (ifindex {old} -> {index})"
            )),
            attach: up,
        },
        (None, Some((_, up))) => Step {
            down: None,
            attach: up,
        },
        _ => Step {
            down: None,
            attach: false,
        },
    }
}

/// The interface a port's events come for, when the daemon can see them.
fn followed_interface(kind: &PortKind) -> Option<&str> {
    match kind {
        PortKind::Tap { netns: Some(_), .. } => None,
        other => other.interface(),
    }
}

impl Follow {
    fn run(&mut self, events: &mut EventSet, stop: &AtomicBool) {
        let mut received = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            self.sync_with_config();
            self.retry_due();
            let timeout = self
                .ports
                .values()
                .filter_map(|f| {
                    f.retry
                        .map(|(at, _)| at.saturating_duration_since(Instant::now()))
                })
                .min()
                .map_or(TICK, |t| t.min(TICK));
            if events.wait(timeout, |_| {}).is_err() {
                std::thread::sleep(TICK);
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            received.clear();
            match self.monitor.read(&mut received) {
                Ok(ReadOutcome::Complete) => self.handle(&received),
                Ok(ReadOutcome::Missed) => {
                    self.handle(&received);
                    self.resync();
                }
                Err(e) => {
                    log::warn!("link events: {e}; re-reading the state of the ports' interfaces");
                    self.resync();
                    std::thread::sleep(TICK);
                }
            }
        }
    }

    /// Starts following new device ports and forgets removed ones; a new
    /// port whose interface is already gone goes down.
    fn sync_with_config(&mut self) {
        let configured: Vec<(String, PortKind, String)> = {
            let Ok(config) = self.shared.config.lock() else {
                return;
            };
            config
                .ports()
                .filter_map(|p| {
                    let interface = followed_interface(&p.kind)?.to_string();
                    Some((p.name.clone(), p.kind.clone(), interface))
                })
                .collect()
        };
        self.ports
            .retain(|name, f| configured.iter().any(|(n, k, _)| n == name && *k == f.kind));
        if let Ok(mut down) = self.shared.down_ports.lock() {
            down.retain(|name| self.ports.contains_key(name));
        }
        for (name, kind, interface) in configured {
            if self.ports.contains_key(&name) {
                continue;
            }
            let ifindex = link_state(&interface).map(|(index, _)| index);
            self.ports.insert(
                name.clone(),
                Followed {
                    kind,
                    interface: interface.clone(),
                    ifindex,
                    retry: None,
                },
            );
            if ifindex.is_none() {
                self.take_down(&name, &format!("interface {interface} is gone"));
            }
        }
    }

    fn handle(&mut self, events: &[LinkEvent]) {
        let mut attach = Vec::new();
        for event in events {
            let names: Vec<String> = self
                .ports
                .iter()
                .filter(|(_, f)| match event {
                    LinkEvent::Deleted(info) => f.ifindex == Some(info.index),
                    LinkEvent::New(info) => info.name.as_deref() == Some(f.interface.as_str()),
                })
                .map(|(name, _)| name.clone())
                .collect();
            for name in names {
                let now = match event {
                    LinkEvent::Deleted(_) => None,
                    LinkEvent::New(info) => Some((info.index, info.up)),
                };
                if self.apply(&name, now) && !attach.contains(&name) {
                    attach.push(name);
                }
            }
        }
        for name in attach {
            self.attach(&name);
        }
    }

    /// After missed events: what the kernel says now, interface by
    /// interface.
    fn resync(&mut self) {
        let names: Vec<String> = self.ports.keys().cloned().collect();
        for name in names {
            let now = self.ports.get(&name).and_then(|f| link_state(&f.interface));
            if self.apply(&name, now) {
                self.attach(&name);
            }
        }
    }

    /// Takes port `name` down if `now` (the index and `IFF_UP` of an
    /// interface of its name, or `None` for none) says its interface is
    /// gone; true when it should be attached now.
    fn apply(&mut self, name: &str, now: Option<(u32, bool)>) -> bool {
        let Some(f) = self.ports.get(name) else {
            return false;
        };
        let step = next_step(&f.interface, f.ifindex, now);
        if let Some(why) = &step.down {
            self.take_down(name, why);
        }
        step.attach
    }

    /// Tries again the ports whose back-off ran out, if their interface
    /// is there and up (else the next event for it brings them back).
    fn retry_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .ports
            .iter()
            .filter(|(_, f)| f.retry.is_some_and(|(at, _)| at <= now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            let up = self
                .ports
                .get(&name)
                .and_then(|f| link_state(&f.interface))
                .is_some_and(|(_, up)| up);
            if up {
                self.attach(&name);
            } else if let Some(f) = self.ports.get_mut(&name) {
                f.retry = None;
            }
        }
    }

    /// Port `name`'s configuration and id in the running daemon, if it is
    /// still the port followed (a reconfiguration since the last look may
    /// have re-opened it otherwise: the next look follows it anew).
    fn configured(&self, config: &Config, name: &str) -> Option<(PortConfig, PortId)> {
        let kind = &self.ports.get(name)?.kind;
        config
            .ports()
            .zip(self.shared.datapath().spec().port_ids())
            .find(|(p, _)| p.name == name && p.kind == *kind)
            .map(|(p, id)| (p.clone(), id))
    }

    /// Port `name` goes down because of `why`.
    fn take_down(&mut self, name: &str, why: &str) {
        let shared = Arc::clone(&self.shared);
        let Ok(config) = shared.config.lock() else {
            return;
        };
        let Some((_, id)) = self.configured(&config, name) else {
            return;
        };
        let datapath = shared.datapath();
        let updates = (0..shared.controls.len())
            .map(|_| WorkerUpdate {
                datapath: Arc::clone(&datapath),
                remove: Vec::new(),
                add_tx: Vec::new(),
                add_rx_primary: Vec::new(),
                add_rx_extra: Vec::new(),
                down: vec![id],
            })
            .collect();
        if let Err(e) = post_and_wait(&shared, updates) {
            log::error!("port {name}: {why}, but it could not be taken down: {e}");
            return;
        }
        close_retired(&shared);
        if let Some(table) = datapath
            .port(id)
            .and_then(|p| datapath.mac_table(p.bridge as usize))
        {
            table.flush_port(id);
        }
        if let Ok(mut down) = shared.down_ports.lock() {
            down.insert(name.to_string());
        }
        if let Some(f) = self.ports.get_mut(name) {
            f.ifindex = None;
            f.retry = None;
        }
        log::warn!(
            "port {name}: {why}; the port is down (frames to it are dropped as port_down) until the interface returns"
        );
    }

    /// Opens port `name` again and swaps it in; on failure, schedules the
    /// next attempt.
    fn attach(&mut self, name: &str) {
        let shared = Arc::clone(&self.shared);
        let Ok(config) = shared.config.lock() else {
            return;
        };
        let Some((port, id)) = self.configured(&config, name) else {
            return;
        };
        let Some(f) = self.ports.get_mut(name) else {
            return;
        };
        let opened = match open_port(id, &port) {
            Ok(opened) => opened,
            Err(e) => {
                let wait = f.retry.map_or(FIRST_RETRY, |(_, wait)| wait);
                f.retry = Some((Instant::now() + wait, (wait * 2).min(MAX_RETRY)));
                log::warn!(
                    "port {name}: cannot attach interface {} again: {e}; retrying in {} ms",
                    f.interface,
                    wait.as_millis()
                );
                return;
            }
        };
        let datapath = shared.datapath();
        let mut updates: Vec<WorkerUpdate> = (0..shared.controls.len())
            .map(|_| WorkerUpdate {
                datapath: Arc::clone(&datapath),
                // The down stand-ins go.
                remove: vec![id],
                add_tx: Vec::new(),
                add_rx_primary: Vec::new(),
                add_rx_extra: Vec::new(),
                down: Vec::new(),
            })
            .collect();
        let (detail, pollers) = {
            let Ok(mut placement) = shared.placement.lock() else {
                return;
            };
            let mut details = place(
                &shared,
                &mut placement,
                vec![opened],
                &config.switch.workers,
                &mut updates,
                &datapath,
            );
            (
                details.remove(&id).unwrap_or_default(),
                placement.pollers(id),
            )
        };
        if let Err(e) = post_and_wait(&shared, updates) {
            log::error!("port {name}: cannot attach it again: {e}");
            return;
        }
        close_retired(&shared);
        if let Ok(mut infos) = shared.ports.lock() {
            if let Some(info) = infos.iter_mut().find(|i| i.name == name) {
                info.detail = detail.clone();
                info.workers = pollers;
            }
        }
        if let Ok(mut down) = shared.down_ports.lock() {
            down.remove(name);
        }
        f.ifindex = link_state(&f.interface).map(|(index, _)| index);
        f.retry = None;
        let index = f.ifindex.map_or("?".to_string(), |i| i.to_string());
        log::info!(
            "port {name}: interface {} is back (ifindex {index}); the port is up: {detail}",
            f.interface
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(down: Option<&str>, attach: bool) -> Step {
        Step {
            down: down.map(str::to_string),
            attach,
        }
    }

    #[test]
    fn an_attached_port_goes_down_when_its_interface_is_gone_or_replaced() {
        assert_eq!(
            next_step("veth1", Some(7), None),
            step(Some("interface veth1 is gone"), false)
        );
        assert_eq!(
            next_step("veth1", Some(7), Some((9, false))),
            step(Some("interface veth1 was replaced (ifindex 7 -> 9)"), false)
        );
        assert_eq!(
            next_step("veth1", Some(7), Some((9, true))),
            step(Some("interface veth1 was replaced (ifindex 7 -> 9)"), true)
        );
    }

    #[test]
    fn a_port_stays_as_it_is_while_its_interface_does() {
        // Flags of its own interface change (it went down, an XDP program
        // was attached): still the same device, still attached.
        assert_eq!(
            next_step("veth1", Some(7), Some((7, false))),
            step(None, false)
        );
        assert_eq!(
            next_step("veth1", Some(7), Some((7, true))),
            step(None, false)
        );
        // Down, and still no interface.
        assert_eq!(next_step("veth1", None, None), step(None, false));
    }

    #[test]
    fn a_down_port_is_attached_once_an_interface_of_its_name_is_up() {
        assert_eq!(
            next_step("veth1", None, Some((12, false))),
            step(None, false)
        );
        assert_eq!(next_step("veth1", None, Some((12, true))), step(None, true));
    }

    #[test]
    fn tap_ports_in_another_namespace_are_not_followed() {
        let tap = |netns: Option<&str>| PortKind::Tap {
            interface: "tap0".into(),
            netns: netns.map(str::to_string),
        };
        assert_eq!(followed_interface(&tap(None)), Some("tap0"));
        assert_eq!(followed_interface(&tap(Some("c1"))), None);
        assert_eq!(followed_interface(&PortKind::Null), None);
    }
}
