//! Ingress: what a port accepts into its bridge.
//!
//! - the source MAC must be unicast and not all zeros;
//! - IEEE 802.1D link-local control frames (STP, pause, LACP, LLDP) are not
//!   forwarded;
//! - the port's VLAN mode gives the frame its VLAN in the bridge, or drops
//!   it (a tagged frame on an access port, an untagged one on a trunk
//!   without native VLAN, a VLAN the trunk does not carry).

use super::{Stage, StageBurst, StageEnv};
use crate::drop::DropReason;
use crate::flow::{is_link_local_control, is_multicast};
use crate::flow_cache::KeyFields;
use crate::trace::TraceEvent;

/// The ingress stage.
#[derive(Debug, Default)]
pub struct Ingress;

impl Stage for Ingress {
    fn name(&self) -> &'static str {
        "ingress"
    }

    fn reads(&self) -> KeyFields {
        KeyFields::L2
    }

    fn run(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>) {
        for &i in burst.active {
            let i = i as usize;
            let Some(ctx) = burst.ctxs.get_mut(i) else {
                continue;
            };
            env.note(ctx, i, || TraceEvent::Stage("ingress"));
            let Some(port) = env.dp.port(ctx.in_port) else {
                env.drop(ctx, i, DropReason::PortNotInBridge);
                continue;
            };
            let key = &ctx.parsed.key;
            if is_multicast(&key.eth_src) || key.eth_src == [0; 6] {
                env.drop(ctx, i, DropReason::InvalidSourceMac);
                continue;
            }
            if is_link_local_control(&key.eth_dst) {
                env.drop(ctx, i, DropReason::LinkLocalControl);
                continue;
            }
            match port.vlan_mode.ingress_vlan(key.vlan) {
                Ok(vlan) => {
                    ctx.vlan = vlan;
                    ctx.bridge = port.bridge;
                    let (bridge, tagged) = (port.bridge, ctx.parsed.layout.vlan_tags > 0);
                    env.note(ctx, i, || TraceEvent::Ingress {
                        bridge,
                        vlan,
                        tagged,
                    });
                }
                Err(reason) => env.drop(ctx, i, reason),
            }
        }
    }
}
