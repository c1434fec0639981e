//! The per-packet context: everything the stages know about one frame,
//! carried through the pipeline beside the frame's bytes.
//!
//! A frame is parsed once into [`PacketCtx::parsed`]; stages read the
//! context, not the bytes, and add to its [`ActionList`]. The slots for
//! tunnels, connection tracking and offloads are filled by the stages that
//! own them (decapsulation fills [`TunnelMeta`], the ct action fills
//! [`CtMeta`], ports that receive partial checksums or GSO super-frames fill
//! [`Offload`]); every other stage treats them as read-only facts.

use crate::action::ActionList;
use crate::flow::Parsed;
use crate::mac_table::PortId;

/// The most bytes of Geneve options (RFC 8926 section 3.5) a context
/// carries; longer option blocks are dropped by the tunnel stage.
pub const TUNNEL_OPTIONS_MAX: usize = 64;

/// What a tunnel decapsulation learned about a frame's outer headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelMeta {
    /// True when the frame came out of a tunnel; the other fields are
    /// meaningful only then.
    pub present: bool,
    /// The tunnel port the inner frame enters the pipeline from.
    pub port: PortId,
    /// Bytes of outer headers in front of the inner frame, which
    /// [`crate::action::Action::Decap`] strips.
    pub header_len: u16,
    /// VXLAN VNI or Geneve VNI (24 bits).
    pub vni: u32,
    /// Outer source address (IPv4 in the first 4 bytes).
    pub src: [u8; 16],
    /// Outer destination address (IPv4 in the first 4 bytes).
    pub dst: [u8; 16],
    /// True when the outer header is IPv6.
    pub ipv6: bool,
    /// Outer TOS / traffic class.
    pub tos: u8,
    /// Outer TTL / hop limit.
    pub ttl: u8,
    /// Outer UDP source port.
    pub udp_src: u16,
    /// Outer UDP destination port.
    pub udp_dst: u16,
    /// Geneve options as received (type-length-value, RFC 8926 section 3.5).
    pub options: [u8; TUNNEL_OPTIONS_MAX],
    /// How many bytes of `options` are used.
    pub options_len: u8,
}

impl Default for TunnelMeta {
    fn default() -> Self {
        TunnelMeta {
            present: false,
            port: 0,
            header_len: 0,
            vni: 0,
            src: [0; 16],
            dst: [0; 16],
            ipv6: false,
            tos: 0,
            ttl: 0,
            udp_src: 0,
            udp_dst: 0,
            options: [0; TUNNEL_OPTIONS_MAX],
            options_len: 0,
        }
    }
}

impl TunnelMeta {
    /// The data of the first Geneve option of `class` and `kind` (its type,
    /// critical bit included) the frame carried: what a rule matches on.
    pub fn option(&self, class: u16, kind: u8) -> Option<&[u8]> {
        let block = self.options.get(..self.options_len as usize)?;
        crate::wire::geneve::options(block)
            .map_while(Result::ok)
            .find(|o| o.class == class && o.kind == kind)
            .map(|o| o.data)
    }
}

/// Connection-tracking state bits, as Open vSwitch names them.
pub mod ct_state {
    /// The packet went through the connection tracker.
    pub const TRACKED: u8 = 1 << 0;
    /// It starts a new connection.
    pub const NEW: u8 = 1 << 1;
    /// It belongs to an established connection.
    pub const ESTABLISHED: u8 = 1 << 2;
    /// It is related to a connection (an ICMP error about it).
    pub const RELATED: u8 = 1 << 3;
    /// It goes in the reply direction.
    pub const REPLY: u8 = 1 << 4;
    /// The tracker found it invalid.
    pub const INVALID: u8 = 1 << 5;
}

/// What connection tracking said about a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CtMeta {
    /// Zone the connection was looked up in.
    pub zone: u16,
    /// [`ct_state`] bits; 0 before the frame met the tracker.
    pub state: u8,
    /// The connection's mark.
    pub mark: u32,
    /// The translation NAT applied to this frame, if any.
    pub nat: Option<crate::conntrack::Translation>,
}

/// The checksum state of a frame, as a port with offloads delivers it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ChecksumState {
    /// Every checksum in the frame is complete (or was never offloaded).
    #[default]
    Complete,
    /// The L4 checksum is partial: the sum from `start` to the end still
    /// has to be folded into the field at `start + offset` (virtio-net's
    /// NEEDS_CSUM with csum_start and csum_offset).
    Partial {
        /// Where summing starts, from the start of the frame.
        start: u16,
        /// Where the checksum field is, from `start`.
        offset: u16,
    },
}

/// The segmentation a super-frame still needs (virtio-net GSO types).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GsoType {
    /// An ordinary frame.
    #[default]
    None,
    /// TCP over IPv4, cut into `gso_size` payload segments.
    Tcpv4,
    /// TCP over IPv6.
    Tcpv6,
    /// UDP (USO), cut into datagrams of `gso_size` payload bytes.
    Udp,
}

/// Offload state that travels with a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offload {
    /// Checksum state.
    pub checksum: ChecksumState,
    /// Segmentation still to do.
    pub gso: GsoType,
    /// Payload bytes per segment when `gso` is not `None`.
    pub gso_size: u16,
}

/// One frame's context.
#[derive(Debug, Clone, Default)]
pub struct PacketCtx {
    /// The port it came in on (a tunnel port after decapsulation).
    pub in_port: PortId,
    /// Where the current frame starts in the received buffer (moved on by
    /// decapsulation, so an inner frame is never copied).
    pub offset: u16,
    /// When it was received, in nanoseconds since the Unix epoch (0 when
    /// the port does not know).
    pub timestamp_ns: u64,
    /// Headers parsed from the current frame.
    pub parsed: Parsed,
    /// Index of its bridge, set by ingress.
    pub bridge: u16,
    /// Its VLAN inside the bridge, set by ingress.
    pub vlan: u16,
    /// Tunnel metadata.
    pub tunnel: TunnelMeta,
    /// Connection-tracking state.
    pub ct: CtMeta,
    /// Checksum and segmentation offload state.
    pub offload: Offload,
    /// True when every stage should report its decision to the tracer.
    pub trace: bool,
    /// True for a probe (`vsctl trace`): stages decide as for a received
    /// frame but learn nothing, so asking where a packet would go does not
    /// change where the next real one goes.
    pub probe: bool,
    /// How many times the frame re-entered the pipeline.
    pub recirculations: u8,
    /// What to do with the frame: filled by the stages or a flow-cache hit,
    /// executed by egress.
    pub actions: ActionList,
    /// False when a stage's decision must not be cached (it depends on
    /// something no generation number covers, such as an unknown
    /// destination that may be learned at any moment).
    pub cacheable: bool,
    /// The last second at which the decision is still right without a new
    /// lookup (the earliest expiry of the learned state it used).
    pub valid_until: u32,
    /// The source MAC learning the decision implies, replayed on flow-cache
    /// hits so that hosts do not age out while their flows hit the cache.
    pub learned: Option<crate::flow_cache::MacRefresh>,
}

impl PacketCtx {
    /// Resets the context for a new frame received on `in_port`: what the
    /// parse and the flow-cache key need. The decision's own fields are
    /// reset by [`PacketCtx::start_decision`] when the frame goes to the
    /// stages, which a cache hit never does.
    #[inline(always)]
    pub fn reset(&mut self, in_port: PortId, timestamp_ns: u64, trace: bool) {
        self.in_port = in_port;
        self.offset = 0;
        self.timestamp_ns = timestamp_ns;
        self.tunnel.present = false;
        self.ct = CtMeta::default();
        self.offload = Offload::default();
        self.trace = trace;
        self.recirculations = 0;
    }

    /// Clears what the stages decide, before they run (again).
    #[inline(always)]
    pub fn start_decision(&mut self) {
        self.bridge = 0;
        self.vlan = 0;
        self.actions.clear();
        self.cacheable = true;
        self.valid_until = u32::MAX;
        self.learned = None;
    }

    /// True once a stage has decided the frame is dropped.
    #[inline(always)]
    pub fn is_dropped(&self) -> bool {
        self.actions.drop_reason().is_some()
    }
}
