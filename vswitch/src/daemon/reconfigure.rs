//! Live configuration changes: a new configuration swapped into running
//! workers at a batch boundary, keeping what was learned.
//!
//! 1. The new datapath is built from the running one
//!    ([`Datapath::rebuild`]): ports keep their ids, bridges that stay keep
//!    their MAC tables.
//! 2. Ports that are new (or whose type or options changed) are opened;
//!    a failure leaves everything as it was.
//! 3. Each worker gets its update (the datapath, handles to add, ids to
//!    drop) and takes it between two batches; the change is done when
//!    every worker acknowledged it. Ports that stay keep their handles and
//!    never stop forwarding.
//! 4. Then the MAC entries of ports that left are flushed, and the handles
//!    the workers gave back are closed.
//!
//! `[switch]` settings (workers, batch size, idle policy, control socket)
//! need a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vswitch_pipeline::{Datapath, PortId};

use super::worker::WorkerUpdate;
use super::{open_port, port_infos, remote_port, OpenPort, Placement, Shared, StartError};
use crate::config::{Config, PortConfig};

/// How long workers get to acknowledge a change.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Applies `config` to the running daemon of `shared`.
pub(crate) fn apply(shared: &Shared, config: &Config) -> Result<(), StartError> {
    let mut current = shared
        .config
        .lock()
        .map_err(|_| StartError("the daemon's configuration lock is poisoned".into()))?;
    if config.switch != current.switch {
        return Err(StartError(
            "the [switch] section (workers, batch_size, idle, control_socket, control_group, log_level, metrics) cannot change while vswitchd runs: restart it with the new configuration".into(),
        ));
    }
    let old_dp = shared.datapath();
    let spec = config.datapath_spec_after(old_dp.spec());
    let new_dp = Arc::new(
        old_dp
            .rebuild(&spec, shared.seed)
            .map_err(|e| StartError(e.to_string()))?,
    );

    let old_ports: HashMap<&str, (&PortConfig, PortId)> = current
        .ports()
        .zip(old_dp.spec().port_ids())
        .map(|(p, id)| (p.name.as_str(), (p, id)))
        .collect();
    let kept = |p: &PortConfig| {
        old_ports
            .get(p.name.as_str())
            .is_some_and(|(old, _)| old.kind == p.kind)
    };
    let removed: Vec<PortId> = old_ports
        .values()
        .filter(|(old, _)| !config.ports().any(|p| p.name == old.name && kept(p)))
        .map(|(_, id)| *id)
        .collect();

    // Open what is new before touching anything: a failure drops them.
    let mut opened = Vec::new();
    for (port, id) in config.ports().zip(spec.port_ids()) {
        if !kept(port) {
            opened.push(open_port(id, port).map_err(StartError)?);
        }
    }

    let cores = &config.switch.workers;
    let workers = shared.controls.len();
    let mut updates: Vec<WorkerUpdate> = (0..workers)
        .map(|_| WorkerUpdate {
            datapath: Arc::clone(&new_dp),
            remove: removed.clone(),
            add_tx: Vec::new(),
            add_rx_primary: Vec::new(),
            add_rx_extra: Vec::new(),
            down: Vec::new(),
        })
        .collect();
    {
        let mut placement = shared
            .placement
            .lock()
            .map_err(|_| StartError("the daemon's placement lock is poisoned".into()))?;
        let mut details = place(shared, &mut placement, opened, cores, &mut updates, &new_dp);
        let old_infos = shared.port_infos();
        let all_details: Vec<String> = spec
            .ports
            .iter()
            .map(|p| (p.id, &p.name))
            .chain(spec.uplinks.iter().map(|u| (u.id, &u.name)))
            .map(|(id, name)| {
                details.remove(&id).unwrap_or_else(|| {
                    old_infos
                        .iter()
                        .find(|i| &i.name == name)
                        .map(|i| i.detail.clone())
                        .unwrap_or_default()
                })
            })
            .collect();
        let infos = port_infos(config, &spec, &all_details, &placement);
        if let Ok(mut ports) = shared.ports.lock() {
            *ports = infos;
        }
    }

    post_and_wait(shared, updates)?;
    new_dp.retire(&old_dp);
    if let Ok(mut dp) = shared.datapath.lock() {
        *dp = new_dp;
    }
    close_retired(shared);
    let names = |c: &Config| c.ports().map(|p| p.name.clone()).collect::<Vec<_>>();
    let (before, after) = (names(&current), names(config));
    log::info!(
        "configuration applied: ports added {:?}, removed {:?}, reopened {:?}",
        after
            .iter()
            .filter(|n| !before.contains(n))
            .collect::<Vec<_>>(),
        before
            .iter()
            .filter(|n| !after.contains(n))
            .collect::<Vec<_>>(),
        config
            .ports()
            .filter(|p| old_ports.contains_key(p.name.as_str()) && !kept(p))
            .map(|p| &p.name)
            .collect::<Vec<_>>()
    );
    *current = config.clone();
    Ok(())
}

/// Hands the handles of the `opened` ports to workers (through
/// `updates`, one per worker), with stand-ins on the workers that do not
/// own a port's transmit side; returns what each port is attached to.
pub(super) fn place(
    shared: &Shared,
    placement: &mut Placement,
    opened: Vec<OpenPort>,
    cores: &[usize],
    updates: &mut [WorkerUpdate],
    datapath: &Datapath,
) -> HashMap<PortId, String> {
    let mut details = HashMap::new();
    for port in opened {
        details.insert(port.id, port.detail.clone());
        let placed = placement.place(port, cores);
        for (w, handle, primary) in placed.handles {
            let Some(update) = updates.get_mut(w) else {
                continue;
            };
            if primary {
                update.add_tx.push((placed.id, handle));
                update.add_rx_primary.push(placed.id);
            } else {
                update.add_rx_extra.push((placed.id, handle));
            }
        }
        for (w, update) in updates.iter_mut().enumerate() {
            if w != placed.owner {
                let stand_in = remote_port(datapath, placed.id, w, placed.owner, &shared.mailboxes);
                update.add_tx.push((placed.id, stand_in));
            }
        }
    }
    details
}

/// Posts one update to each worker and waits until every one took it.
pub(super) fn post_and_wait(shared: &Shared, updates: Vec<WorkerUpdate>) -> Result<(), StartError> {
    let versions: Vec<u64> = shared
        .controls
        .iter()
        .zip(updates)
        .map(|(control, update)| control.post(update))
        .collect();
    // A blocked (adaptive) worker takes the update once woken.
    for w in 0..versions.len() {
        shared.mailboxes.wake(w);
    }
    let deadline = Instant::now() + ACK_TIMEOUT;
    while !shared
        .controls
        .iter()
        .zip(&versions)
        .all(|(c, v)| c.applied(*v))
    {
        if Instant::now() > deadline {
            return Err(StartError(
                "the workers did not take the new configuration within 5 s (is one stuck?)".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Closes the handles the workers gave back (detaching XDP programs).
pub(super) fn close_retired(shared: &Shared) {
    for control in &shared.controls {
        drop(control.take_retired());
    }
}
