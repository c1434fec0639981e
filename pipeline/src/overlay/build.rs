//! Building a datapath's tunnels and uplinks from their specs, with the
//! learned state a configuration change carries over.

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    build_template, mac_to_word, AddrTable, Origin, Tunnel, TunnelSpec, TunnelState, Uplink,
    MAX_NEIGHBOURS,
};
use crate::datapath::{DatapathSpec, SpecError};
use crate::mac_table::PortId;

/// The overlay's learned state a rebuild keeps: tunnel state (with the
/// spec that filled it) by tunnel port name, neighbours by uplink name.
#[derive(Default)]
pub(crate) struct OverlayState {
    tunnels: HashMap<String, (Arc<TunnelState>, TunnelSpec)>,
    neighbours: HashMap<String, Arc<AddrTable>>,
}

impl OverlayState {
    /// What of `tunnels` and `uplinks` the datapath of `spec` keeps: a
    /// tunnel's state while its protocol, VNI and address family stay; an
    /// uplink's neighbours while its name does.
    pub(crate) fn keep(
        tunnels: &[Tunnel],
        uplinks: &[Uplink],
        spec: &DatapathSpec,
    ) -> OverlayState {
        let tunnels = tunnels
            .iter()
            .filter(|t| {
                spec.ports.iter().any(|p| {
                    p.name == t.name
                        && p.tunnel.as_ref().is_some_and(|n| {
                            n.kind == t.spec.kind
                                && n.vni == t.spec.vni
                                && n.local.is_ipv4() == t.spec.local.is_ipv4()
                        })
                })
            })
            .map(|t| (t.name.clone(), (Arc::clone(&t.state), t.spec.clone())))
            .collect();
        let neighbours = uplinks
            .iter()
            .map(|u| (u.spec.name.clone(), Arc::clone(&u.neighbours)))
            .collect();
        OverlayState {
            tunnels,
            neighbours,
        }
    }

    /// The tunnels and uplinks of `spec`, with the learned state kept
    /// carries over (configured remotes that left are removed from it).
    pub(crate) fn build(
        &self,
        spec: &DatapathSpec,
        seed: u64,
    ) -> Result<(Vec<Tunnel>, Vec<Uplink>), SpecError> {
        let mut tunnels = Vec::new();
        for p in &spec.ports {
            let Some(t) = &p.tunnel else { continue };
            let Some(uplink) = spec.uplinks.iter().position(|u| u.id == t.uplink) else {
                return Err(SpecError(format!("tunnel {} names no uplink", p.name)));
            };
            let bridge = &spec.bridges[p.bridge];
            let template = build_template(t, spec.uplinks[uplink].mac)
                .map_err(|e| SpecError(format!("tunnel {}: {e}", p.name)))?;
            let state = match self.tunnels.get(&p.name) {
                Some((state, old)) => {
                    for (mac, _) in &old.static_macs {
                        state.macs.remove_static(0, mac);
                    }
                    for gone in old.remotes.iter().filter(|r| !t.remotes.contains(r)) {
                        if let Some(entry) = state.vteps.find(*gone) {
                            state.vteps.remove(entry.index);
                            state.macs.flush_port(entry.index as PortId);
                        }
                    }
                    Arc::clone(state)
                }
                None => Arc::new(TunnelState::new(
                    bridge.mac_limit,
                    bridge.mac_aging_secs,
                    seed ^ u64::from(p.id).wrapping_mul(0x2545_f491_4f6c_dd1d),
                )),
            };
            state.macs.set_aging_secs(bridge.mac_aging_secs);
            for remote in &t.remotes {
                if state.vteps.upsert(*remote, 0, 0, Origin::Static).is_none() {
                    return Err(SpecError(format!(
                        "tunnel {}: no room for remote {remote}",
                        p.name
                    )));
                }
            }
            for (mac, vtep) in &t.static_macs {
                let slot = state.vteps.find(*vtep).map(|e| e.index as PortId);
                if !slot.is_some_and(|slot| state.macs.insert_static(0, mac, slot)) {
                    return Err(SpecError(format!(
                        "tunnel {}: cannot put a static MAC behind {vtep}",
                        p.name
                    )));
                }
            }
            tunnels.push(Tunnel {
                port: p.id,
                name: p.name.clone(),
                spec: t.clone(),
                uplink: uplink as u16,
                template,
                state,
            });
        }
        let mut uplinks = Vec::new();
        for (u, uplink) in spec.uplinks.iter().enumerate() {
            let neighbours = self
                .neighbours
                .get(&uplink.name)
                .cloned()
                .unwrap_or_else(|| {
                    Arc::new(AddrTable::new(MAX_NEIGHBOURS, seed ^ uplink.id as u64))
                });
            for (addr, mac) in &uplink.static_neighbours {
                if neighbours
                    .upsert(*addr, mac_to_word(mac), 0, Origin::Static)
                    .is_none()
                {
                    return Err(SpecError(format!(
                        "uplink {}: no room for neighbour {addr}",
                        uplink.name
                    )));
                }
            }
            uplinks.push(Uplink {
                spec: uplink.clone(),
                neighbours,
                tunnels: tunnels
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.uplink as usize == u)
                    .map(|(i, _)| i as u16)
                    .collect(),
            });
        }
        Ok((tunnels, uplinks))
    }
}
