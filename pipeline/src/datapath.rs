//! The datapath: bridges, their ports, and what happens to one frame.
//!
//! [`Datapath::process`] takes a received frame and returns a [`Verdict`]:
//! output to one port, flood within the bridge and VLAN, or drop with a
//! reason. [`Datapath::emit`] then writes the frame into an output port's
//! buffer with the egress VLAN edit for that port. The daemon and offline
//! replay both drive exactly these two calls.
//!
//! Stages, in order:
//! 1. parse into a flow key ([`crate::parse::parse`]); malformed → drop
//! 2. ingress: source MAC must be unicast; IEEE link-local control frames
//!    (STP, LLDP, pause) are not forwarded; the port's VLAN mode decides the
//!    frame's VLAN or drops it
//! 3. L2 learning bridge: learn the source, look up the destination,
//!    forward, or flood broadcast / multicast / unknown unicast
//! 4. egress: VLAN tag push, pop or rewrite per output port
//!
//! A [`Datapath`] is immutable once built; configuration changes build a
//! new one. Learned state lives in the bridges' [`MacTable`]s, which are
//! shared by reference and safe to use from many workers at once.

use std::sync::Arc;

use crate::drop::DropReason;
use crate::flow::Parsed;
use crate::flow::{is_link_local_control, is_multicast, Mac};
use crate::mac_table::{MacTable, PortId};
use crate::parse::parse_into;
use crate::stats::Stats;

/// The highest valid VLAN ID (4095 is reserved).
pub const VLAN_MAX: u16 = 4094;
const VLAN_SLOTS: usize = 4096;
const TPID_8021Q: u16 = 0x8100;
const ETH_ADDRS_LEN: usize = 12;
const VLAN_TAG_LEN: usize = 4;

/// A set of VLAN IDs 0..=4095 as a bitmap (boxed: 512 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct VlanSet(Box<[u64; VLAN_SLOTS / 64]>);

impl VlanSet {
    /// No VLAN.
    pub fn empty() -> VlanSet {
        VlanSet(Box::new([0; VLAN_SLOTS / 64]))
    }

    /// Every VLAN, including 0 (untagged traffic on a port without VLAN
    /// configuration).
    pub fn all() -> VlanSet {
        VlanSet(Box::new([u64::MAX; VLAN_SLOTS / 64]))
    }

    /// The set of the given IDs (values above 4095 are ignored).
    pub fn of(vlans: &[u16]) -> VlanSet {
        let mut set = VlanSet::empty();
        for &v in vlans {
            set.insert(v);
        }
        set
    }

    /// Adds `vlan`.
    pub fn insert(&mut self, vlan: u16) {
        if let Some(word) = self.0.get_mut(vlan as usize / 64) {
            *word |= 1 << (vlan % 64);
        }
    }

    /// True if `vlan` is in the set.
    #[inline]
    pub fn contains(&self, vlan: u16) -> bool {
        self.0
            .get(vlan as usize / 64)
            .is_some_and(|w| w & (1 << (vlan % 64)) != 0)
    }
}

impl core::fmt::Debug for VlanSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set()
            .entries((0..VLAN_SLOTS as u16).filter(|v| self.contains(*v)))
            .finish()
    }
}

/// How a port treats VLAN tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VlanMode {
    /// The port carries one VLAN untagged: received frames get `vlan`,
    /// frames sent out lose their tag; tagged frames received are dropped
    /// (priority tags, VID 0, are accepted).
    Access {
        /// The VLAN, 1..=4094.
        vlan: u16,
    },
    /// The port carries tagged frames of the `allowed` VLANs, and untagged
    /// frames on `native` when set (sent out untagged too).
    Trunk {
        /// VLANs accepted and sent tagged.
        allowed: VlanSet,
        /// The VLAN of untagged frames, if any.
        native: Option<u16>,
    },
}

impl Default for VlanMode {
    /// A port without VLAN configuration: untagged frames are VLAN 0, and
    /// tagged frames keep their VLAN (as in Open vSwitch).
    fn default() -> Self {
        VlanMode::Trunk {
            allowed: VlanSet::all(),
            native: Some(0),
        }
    }
}

impl VlanMode {
    /// The VLAN of a received frame whose outer tag carries `vid` (0 when
    /// untagged or priority-tagged), or why it is dropped.
    #[inline]
    fn ingress_vlan(&self, vid: u16) -> Result<u16, DropReason> {
        match self {
            VlanMode::Access { vlan } if vid == 0 => Ok(*vlan),
            VlanMode::Access { .. } => Err(DropReason::TaggedOnAccessPort),
            VlanMode::Trunk { native, .. } if vid == 0 => {
                native.ok_or(DropReason::UntaggedOnTrunkPort)
            }
            VlanMode::Trunk { allowed, .. } if allowed.contains(vid) => Ok(vid),
            VlanMode::Trunk { .. } => Err(DropReason::VlanNotAllowed),
        }
    }

    /// True if the port carries `vlan`.
    fn carries(&self, vlan: u16) -> bool {
        match self {
            VlanMode::Access { vlan: v } => *v == vlan,
            VlanMode::Trunk { allowed, native } => {
                *native == Some(vlan) || (vlan != 0 && allowed.contains(vlan))
            }
        }
    }

    /// The tag a frame of `vlan` carries when sent out of this port: `None`
    /// for untagged.
    #[inline]
    fn egress_tag(&self, vlan: u16) -> Option<u16> {
        match self {
            VlanMode::Access { .. } => None,
            VlanMode::Trunk { native, .. } if *native == Some(vlan) => None,
            VlanMode::Trunk { .. } => Some(vlan),
        }
    }
}

/// A MAC address bound to a port for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMac {
    /// The VLAN it is bound in.
    pub vlan: u16,
    /// The address.
    pub mac: Mac,
    /// The port.
    pub port: PortId,
}

/// What a bridge is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// Its name.
    pub name: String,
    /// Seconds a learned MAC lives without traffic.
    pub mac_aging_secs: u32,
    /// Learned MACs the bridge holds at most, over all VLANs.
    pub mac_limit: u32,
    /// Static entries.
    pub static_macs: Vec<StaticMac>,
}

/// What a port is, as far as the datapath cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Its name.
    pub name: String,
    /// Index of its bridge in [`DatapathSpec::bridges`].
    pub bridge: usize,
    /// VLAN handling.
    pub vlan_mode: VlanMode,
    /// Learned MACs the port may hold at most.
    pub mac_limit: u32,
}

/// Everything needed to build a [`Datapath`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatapathSpec {
    /// The bridges.
    pub bridges: Vec<BridgeSpec>,
    /// The ports; a port's [`PortId`] is its index here.
    pub ports: Vec<PortSpec>,
}

/// What to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send it out of one port.
    Output(PortId),
    /// Send it out of every other port of its bridge and VLAN
    /// ([`Datapath::flood_ports`]).
    Flood,
    /// Drop it.
    Drop(DropReason),
}

/// The outcome of [`Datapath::process`]: the action and what egress needs
/// to know about the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// The port it came in on.
    pub in_port: PortId,
    /// Its bridge.
    pub bridge: u16,
    /// Its VLAN inside the bridge.
    pub vlan: u16,
    /// True if the received bytes carry an outer VLAN tag at offset 12.
    pub tagged: bool,
}

impl Verdict {
    fn drop(in_port: PortId, reason: DropReason) -> Verdict {
        Verdict {
            action: Action::Drop(reason),
            in_port,
            bridge: 0,
            vlan: 0,
            tagged: false,
        }
    }
}

struct Bridge {
    name: String,
    macs: Arc<MacTable>,
    /// For each VLAN, an index into `flood_lists`.
    flood_index: Box<[u16]>,
    flood_lists: Vec<Box<[PortId]>>,
}

struct Port {
    name: String,
    bridge: u16,
    vlan_mode: VlanMode,
}

/// An immutable datapath built from a [`DatapathSpec`].
pub struct Datapath {
    bridges: Box<[Bridge]>,
    ports: Box<[Port]>,
}

/// Why a [`DatapathSpec`] cannot be built. Configuration validation catches
/// these first with file and line; this is the last line of defence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl core::fmt::Display for SpecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

impl Datapath {
    /// Builds the datapath. `seed` keys the MAC tables' hashes.
    pub fn new(spec: &DatapathSpec, seed: u64) -> Result<Datapath, SpecError> {
        if spec.ports.len() > PortId::MAX as usize || spec.bridges.len() > u16::MAX as usize {
            return Err(SpecError("too many ports or bridges".into()));
        }
        for p in &spec.ports {
            if p.bridge >= spec.bridges.len() {
                return Err(SpecError(format!("port {} names no bridge", p.name)));
            }
        }
        let mut bridges = Vec::with_capacity(spec.bridges.len());
        for (b, bridge) in spec.bridges.iter().enumerate() {
            let macs = MacTable::new(
                bridge.mac_limit,
                bridge.mac_aging_secs,
                seed ^ (b as u64).wrapping_mul(0x9e37_79b9),
            );
            for (id, p) in spec.ports.iter().enumerate() {
                macs.set_port_limit(id as PortId, if p.bridge == b { p.mac_limit } else { 0 });
            }
            for s in &bridge.static_macs {
                if spec.ports.get(s.port as usize).map(|p| p.bridge) != Some(b) {
                    return Err(SpecError(format!(
                        "static MAC on bridge {} names a port outside it",
                        bridge.name
                    )));
                }
                if !macs.insert_static(s.vlan, &s.mac, s.port) {
                    return Err(SpecError(format!(
                        "too many static MACs in one hash bucket of bridge {}",
                        bridge.name
                    )));
                }
            }
            let (flood_index, flood_lists) = Self::flood_lists(spec, b);
            bridges.push(Bridge {
                name: bridge.name.clone(),
                macs: Arc::new(macs),
                flood_index,
                flood_lists,
            });
        }
        let ports = spec
            .ports
            .iter()
            .map(|p| Port {
                name: p.name.clone(),
                bridge: p.bridge as u16,
                vlan_mode: p.vlan_mode.clone(),
            })
            .collect();
        Ok(Datapath {
            bridges: bridges.into(),
            ports,
        })
    }

    /// For each VLAN, the ports of bridge `b` that carry it; VLANs with the
    /// same member set share one list.
    fn flood_lists(spec: &DatapathSpec, b: usize) -> (Box<[u16]>, Vec<Box<[PortId]>>) {
        let mut lists: Vec<Box<[PortId]>> = Vec::new();
        let mut index = vec![0u16; VLAN_SLOTS];
        for (vlan, slot) in index.iter_mut().enumerate() {
            let members: Box<[PortId]> = spec
                .ports
                .iter()
                .enumerate()
                .filter(|(_, p)| p.bridge == b && p.vlan_mode.carries(vlan as u16))
                .map(|(i, _)| i as PortId)
                .collect();
            *slot = match lists.iter().position(|l| *l == members) {
                Some(i) => i as u16,
                None => {
                    lists.push(members);
                    (lists.len() - 1) as u16
                }
            };
        }
        (index.into(), lists)
    }

    /// Decides what to do with `frame`, received on `in_port` at `now`
    /// (seconds, the clock of MAC aging). Counts the frame's reception and
    /// any drop in `stats`.
    #[inline]
    pub fn process(&self, in_port: PortId, frame: &[u8], now: u32, stats: &mut Stats) -> Verdict {
        stats.rx(in_port, frame.len());
        let verdict = self.decide(in_port, frame, now);
        if let Action::Drop(reason) = verdict.action {
            stats.drop(in_port, reason);
        }
        verdict
    }

    #[inline]
    fn decide(&self, in_port: PortId, frame: &[u8], now: u32) -> Verdict {
        let Some(port) = self.ports.get(in_port as usize) else {
            return Verdict::drop(in_port, DropReason::PortNotInBridge);
        };
        let mut parsed = Parsed::default();
        if let Err(reason) = parse_into(frame, &mut parsed) {
            return Verdict::drop(in_port, reason);
        }
        let key = &parsed.key;
        if is_multicast(&key.eth_src) || key.eth_src == [0; 6] {
            return Verdict::drop(in_port, DropReason::InvalidSourceMac);
        }
        if is_link_local_control(&key.eth_dst) {
            return Verdict::drop(in_port, DropReason::LinkLocalControl);
        }
        let vlan = match port.vlan_mode.ingress_vlan(key.vlan) {
            Ok(v) => v,
            Err(reason) => return Verdict::drop(in_port, reason),
        };
        let Some(bridge) = self.bridges.get(port.bridge as usize) else {
            return Verdict::drop(in_port, DropReason::PortNotInBridge);
        };
        bridge.macs.learn(vlan, &key.eth_src, in_port, now);
        let action = if is_multicast(&key.eth_dst) {
            Action::Flood
        } else {
            match bridge.macs.lookup(vlan, &key.eth_dst, now) {
                Some(out) if out == in_port => Action::Drop(DropReason::DestinationIsIngressPort),
                Some(out) => Action::Output(out),
                None => Action::Flood,
            }
        };
        let action = match action {
            Action::Flood if self.flood_list(port.bridge, vlan).len() < 2 => {
                Action::Drop(DropReason::NoFloodPorts)
            }
            other => other,
        };
        Verdict {
            action,
            in_port,
            bridge: port.bridge,
            vlan,
            tagged: parsed.layout.vlan_tags > 0,
        }
    }

    fn flood_list(&self, bridge: u16, vlan: u16) -> &[PortId] {
        self.bridges
            .get(bridge as usize)
            .and_then(|b| {
                let i = *b.flood_index.get(vlan as usize)?;
                b.flood_lists.get(i as usize)
            })
            .map_or(&[], |l| l)
    }

    /// The ports a flooded frame goes out of: every port of its bridge that
    /// carries its VLAN, except the one it came in on.
    #[inline]
    pub fn flood_ports(&self, verdict: &Verdict) -> impl Iterator<Item = PortId> + '_ {
        let in_port = verdict.in_port;
        self.flood_list(verdict.bridge, verdict.vlan)
            .iter()
            .copied()
            .filter(move |p| *p != in_port)
    }

    /// Writes `frame`, as it should leave `out_port`, into `dst` and returns
    /// its length: the VLAN tag is added, removed or rewritten for the
    /// port's VLAN mode. Fails if `dst` is too small.
    #[inline]
    pub fn emit(
        &self,
        out_port: PortId,
        frame: &[u8],
        verdict: &Verdict,
        dst: &mut [u8],
    ) -> Result<usize, DropReason> {
        let want_tag = self
            .ports
            .get(out_port as usize)
            .and_then(|p| p.vlan_mode.egress_tag(verdict.vlan));
        emit_vlan(frame, verdict.tagged, want_tag, dst)
    }

    /// The number of ports.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// The name of port `id`.
    pub fn port_name(&self, id: PortId) -> Option<&str> {
        self.ports.get(id as usize).map(|p| p.name.as_str())
    }

    /// The id of the port called `name`.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .map(|i| i as PortId)
    }

    /// The number of bridges.
    pub fn bridge_count(&self) -> usize {
        self.bridges.len()
    }

    /// The name of bridge `index`.
    pub fn bridge_name(&self, index: usize) -> Option<&str> {
        self.bridges.get(index).map(|b| b.name.as_str())
    }

    /// The MAC table of bridge `index`.
    pub fn mac_table(&self, index: usize) -> Option<&Arc<MacTable>> {
        self.bridges.get(index).map(|b| &b.macs)
    }

    /// Ages out expired MACs in every bridge; returns how many were removed.
    pub fn sweep_macs(&self, now: u32) -> usize {
        self.bridges.iter().map(|b| b.macs.sweep(now)).sum()
    }
}

/// Copies `frame` into `dst` changing its outer VLAN tag: `has_tag` says
/// whether `frame` carries one at offset 12, `want` is the VID it should
/// leave with (`None`: untagged). A kept tag keeps its TPID and priority; a
/// pushed tag is 802.1Q with priority 0.
#[inline]
pub fn emit_vlan(
    frame: &[u8],
    has_tag: bool,
    want: Option<u16>,
    dst: &mut [u8],
) -> Result<usize, DropReason> {
    let too_long = DropReason::TxFrameTooLong;
    match (has_tag, want) {
        (false, None) | (true, Some(_)) => {
            let out = dst.get_mut(..frame.len()).ok_or(too_long)?;
            out.copy_from_slice(frame);
            if let (Some(vid), Some(tci)) = (want, out.get_mut(14..16)) {
                let old = u16::from_be_bytes([tci[0], tci[1]]);
                tci.copy_from_slice(&((old & 0xf000) | (vid & 0x0fff)).to_be_bytes());
            }
            Ok(frame.len())
        }
        (true, None) => {
            let rest = frame
                .get(ETH_ADDRS_LEN + VLAN_TAG_LEN..)
                .ok_or(DropReason::VlanTruncated)?;
            let len = ETH_ADDRS_LEN + rest.len();
            let out = dst.get_mut(..len).ok_or(too_long)?;
            out[..ETH_ADDRS_LEN].copy_from_slice(&frame[..ETH_ADDRS_LEN]);
            out[ETH_ADDRS_LEN..].copy_from_slice(rest);
            Ok(len)
        }
        (false, Some(vid)) => {
            let (addrs, rest) = frame
                .split_at_checked(ETH_ADDRS_LEN)
                .ok_or(DropReason::EthTruncated)?;
            let len = frame.len() + VLAN_TAG_LEN;
            let out = dst.get_mut(..len).ok_or(too_long)?;
            out[..ETH_ADDRS_LEN].copy_from_slice(addrs);
            out[12..14].copy_from_slice(&TPID_8021Q.to_be_bytes());
            out[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
            out[ETH_ADDRS_LEN + VLAN_TAG_LEN..].copy_from_slice(rest);
            Ok(len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Mac = [0x02, 0, 0, 0, 0, 0xa];
    const B: Mac = [0x02, 0, 0, 0, 0, 0xb];

    fn frame(dst: Mac, src: Mac, vlan: Option<u16>) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        if let Some(v) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(&[0x88, 0xb5]); // local experimental ethertype
        f.resize(f.len() + 46, 0xee);
        f
    }

    fn port(name: &str, vlan_mode: VlanMode) -> PortSpec {
        PortSpec {
            name: name.into(),
            bridge: 0,
            vlan_mode,
            mac_limit: 1000,
        }
    }

    fn datapath(ports: Vec<PortSpec>) -> Datapath {
        let spec = DatapathSpec {
            bridges: vec![BridgeSpec {
                name: "br0".into(),
                mac_aging_secs: 300,
                mac_limit: 1000,
                static_macs: vec![],
            }],
            ports,
        };
        Datapath::new(&spec, 42).unwrap()
    }

    fn trunk(allowed: &[u16], native: Option<u16>) -> VlanMode {
        VlanMode::Trunk {
            allowed: VlanSet::of(allowed),
            native,
        }
    }

    #[test]
    fn unknown_floods_then_learned_forwards() {
        let dp = datapath(vec![
            port("p0", VlanMode::default()),
            port("p1", VlanMode::default()),
            port("p2", VlanMode::default()),
        ]);
        let mut stats = Stats::new(3);
        let v = dp.process(0, &frame(B, A, None), 0, &mut stats);
        assert_eq!(v.action, Action::Flood);
        assert_eq!(dp.flood_ports(&v).collect::<Vec<_>>(), vec![1, 2]);
        let v = dp.process(1, &frame(A, B, None), 0, &mut stats);
        assert_eq!(v.action, Action::Output(0));
        let v = dp.process(2, &frame(A, B, None), 0, &mut stats);
        assert_eq!(v.action, Action::Output(0), "B moved to p2");
        let v = dp.process(0, &frame(B, A, None), 0, &mut stats);
        assert_eq!(v.action, Action::Output(2));
        assert_eq!(stats.ports[0].rx_packets, 2);
    }

    #[test]
    fn ingress_checks() {
        let dp = datapath(vec![
            port("acc", VlanMode::Access { vlan: 10 }),
            port("trk", trunk(&[10, 20], None)),
        ]);
        let mut stats = Stats::new(2);
        let drop = |v: Verdict| match v.action {
            Action::Drop(r) => Some(r),
            _ => None,
        };
        let mut run = |p, f: Vec<u8>| drop(dp.process(p, &f, 0, &mut stats));
        assert_eq!(
            run(0, frame(B, A, Some(10))),
            Some(DropReason::TaggedOnAccessPort)
        );
        assert_eq!(
            run(1, frame(B, A, None)),
            Some(DropReason::UntaggedOnTrunkPort)
        );
        assert_eq!(
            run(1, frame(B, A, Some(30))),
            Some(DropReason::VlanNotAllowed)
        );
        assert_eq!(
            run(0, frame([0x01, 0x80, 0xc2, 0, 0, 0x0e], A, None)),
            Some(DropReason::LinkLocalControl)
        );
        assert_eq!(
            run(0, frame(B, [0x01, 0, 0x5e, 0, 0, 1], None)),
            Some(DropReason::InvalidSourceMac)
        );
        assert_eq!(run(0, vec![0; 10]), Some(DropReason::EthTruncated));
        assert_eq!(run(1, frame(B, A, Some(10))), None);
        assert_eq!(stats.ports[0].total_drops(), 4);
        assert_eq!(stats.ports[1].total_drops(), 2);
    }

    #[test]
    fn egress_vlan_edits() {
        let dp = datapath(vec![
            port("acc", VlanMode::Access { vlan: 10 }),
            port("trk", trunk(&[10], None)),
        ]);
        let mut stats = Stats::new(2);
        let mut out = [0u8; 128];
        // access -> trunk: tag pushed
        let untagged = frame(B, A, None);
        let v = dp.process(0, &untagged, 0, &mut stats);
        let n = dp.emit(1, &untagged, &v, &mut out).unwrap();
        assert_eq!(&out[..n], &frame(B, A, Some(10))[..]);
        // trunk -> access: tag popped
        let tagged = frame(A, B, Some(10));
        let v = dp.process(1, &tagged, 0, &mut stats);
        assert_eq!(v.action, Action::Output(0));
        let n = dp.emit(0, &tagged, &v, &mut out).unwrap();
        assert_eq!(&out[..n], &frame(A, B, None)[..]);
        // too small a buffer
        assert_eq!(
            dp.emit(1, &untagged, &v, &mut [0u8; 20]),
            Err(DropReason::TxFrameTooLong)
        );
    }

    #[test]
    fn priority_tag_rewritten_to_port_vlan() {
        let mut prio = frame(B, A, Some(0));
        prio[14] = 0xa0; // PCP 5, VID 0
        let mut out = [0u8; 128];
        let n = emit_vlan(&prio, true, Some(10), &mut out).unwrap();
        assert_eq!(&out[14..16], &[0xa0, 10]);
        assert_eq!(n, prio.len());
    }

    #[test]
    fn vlans_flood_separately() {
        let dp = datapath(vec![
            port("a10", VlanMode::Access { vlan: 10 }),
            port("b10", VlanMode::Access { vlan: 10 }),
            port("a20", VlanMode::Access { vlan: 20 }),
            port("trk", trunk(&[10, 20], None)),
        ]);
        let mut stats = Stats::new(4);
        let v = dp.process(0, &frame([0xff; 6], A, None), 0, &mut stats);
        assert_eq!(dp.flood_ports(&v).collect::<Vec<_>>(), vec![1, 3]);
        let v = dp.process(2, &frame([0xff; 6], B, None), 0, &mut stats);
        assert_eq!(dp.flood_ports(&v).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn lone_port_flood_is_a_counted_drop() {
        let dp = datapath(vec![port("only", VlanMode::default())]);
        let mut stats = Stats::new(1);
        let v = dp.process(0, &frame([0xff; 6], A, None), 0, &mut stats);
        assert_eq!(v.action, Action::Drop(DropReason::NoFloodPorts));
    }

    #[test]
    fn hairpin_is_dropped() {
        let dp = datapath(vec![
            port("p0", VlanMode::default()),
            port("p1", VlanMode::default()),
        ]);
        let mut stats = Stats::new(2);
        dp.process(0, &frame(B, A, None), 0, &mut stats);
        dp.process(0, &frame(A, B, None), 0, &mut stats);
        let v = dp.process(0, &frame(B, A, None), 0, &mut stats);
        assert_eq!(v.action, Action::Drop(DropReason::DestinationIsIngressPort));
    }

    #[test]
    fn unknown_in_port_is_dropped_not_panicking() {
        let dp = datapath(vec![port("p0", VlanMode::default())]);
        let mut stats = Stats::new(1);
        let v = dp.process(9, &frame(B, A, None), 0, &mut stats);
        assert_eq!(v.action, Action::Drop(DropReason::PortNotInBridge));
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;

        fn mixed_datapath() -> Datapath {
            datapath(vec![
                port("default", VlanMode::default()),
                port("access", VlanMode::Access { vlan: 10 }),
                port("trunk", trunk(&[10, 20], Some(20))),
                port("trunk-all", trunk(&[], None)),
            ])
        }

        /// Frames that mostly look like Ethernet with tags, so the VLAN and
        /// egress paths are reached, not only the early drops.
        fn framey() -> impl Strategy<Value = Vec<u8>> {
            (
                proptest::collection::vec(any::<u8>(), 0..96),
                prop_oneof![Just(None), Just(Some(0x8100u16)), Just(Some(0x88a8u16))],
                any::<u16>(),
                any::<bool>(),
            )
                .prop_map(|(mut bytes, tpid, tci, unicast_src)| {
                    if let (Some(tpid), true) = (tpid, bytes.len() >= 16) {
                        bytes[12..14].copy_from_slice(&tpid.to_be_bytes());
                        bytes[14..16].copy_from_slice(&tci.to_be_bytes());
                    }
                    if unicast_src && bytes.len() >= 12 {
                        bytes[6] &= 0xfe;
                    }
                    bytes
                })
        }

        proptest! {
            #[test]
            fn any_frame_on_any_port(
                frames in proptest::collection::vec((framey(), 0u16..6, 0u32..1000), 1..40),
                out_len in 0usize..128,
            ) {
                let dp = mixed_datapath();
                let mut stats = Stats::new(4);
                let mut small = vec![0u8; out_len];
                let mut big = [0u8; 256];
                for (frame, in_port, now) in &frames {
                    let v = dp.process(*in_port, frame, *now, &mut stats);
                    let outs: Vec<PortId> = match v.action {
                        Action::Output(p) => vec![p],
                        Action::Flood => dp.flood_ports(&v).collect(),
                        Action::Drop(_) => vec![],
                    };
                    for out in outs {
                        prop_assert_ne!(out, *in_port);
                        let _ = dp.emit(out, frame, &v, &mut small);
                        let n = dp.emit(out, frame, &v, &mut big);
                        prop_assert!(n.is_ok(), "{:?}", n);
                    }
                }
                let received: u64 = stats.ports.iter().map(|p| p.rx_packets).sum();
                let unknown_port = frames.iter().filter(|(_, p, _)| *p >= 4).count() as u64;
                prop_assert_eq!(received + unknown_port, frames.len() as u64);
            }
        }
    }
}
