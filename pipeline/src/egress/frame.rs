//! Writing one frame into a transmit slot with its VLAN and field edits:
//! tags pushed, popped or rewritten in the copy, fields patched in the copy
//! with incremental checksum updates (RFC 1624).

use super::*;

/// A VLAN change relative to the received frame's outer tag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VlanEdit {
    /// The tags as received.
    #[default]
    Keep,
    /// The outer tag removed.
    Pop,
    /// A new outer 802.1Q tag with this TCI in front of the received tags.
    Push(u16),
    /// The outer tag's VID rewritten (TPID and priority kept).
    SetVid(u16),
    /// The outer tag replaced by an 802.1Q tag with this TCI.
    Replace(u16),
}

impl VlanEdit {
    /// The edit that makes a frame (with an outer tag when `tagged`) leave
    /// with outer VID `want`, or untagged for `None`: what a port's VLAN
    /// mode asks for.
    #[inline(always)]
    pub fn for_egress(tagged: bool, current_vid: u16, want: Option<u16>) -> VlanEdit {
        match (tagged, want) {
            (false, None) => VlanEdit::Keep,
            (true, None) => VlanEdit::Pop,
            (false, Some(vid)) => VlanEdit::Push(vid & VID_MASK),
            (true, Some(vid)) if vid == current_vid => VlanEdit::Keep,
            (true, Some(vid)) => VlanEdit::SetVid(vid),
        }
    }

    /// The actions that make this edit (at most two: a replace is a pop
    /// and a push), for a stage to put in a list.
    pub fn actions(self) -> impl Iterator<Item = Action> {
        let (first, second) = match self {
            VlanEdit::Keep => (None, None),
            VlanEdit::Pop => (Some(Action::PopVlan), None),
            VlanEdit::Push(tci) => (Some(Action::PushVlan(tci)), None),
            VlanEdit::SetVid(vid) => (Some(Action::SetVlanVid(vid)), None),
            VlanEdit::Replace(tci) => (Some(Action::PopVlan), Some(Action::PushVlan(tci))),
        };
        first.into_iter().chain(second)
    }

    /// This edit followed by a pop (`None`) or a push / VID rewrite.
    pub(super) fn then(self, next: Action) -> Result<VlanEdit, DropReason> {
        use VlanEdit::*;
        let unsupported = Err(DropReason::UnsupportedVlanEdit);
        match (self, next) {
            (Keep, Action::PopVlan)
            | (SetVid(_), Action::PopVlan)
            | (Replace(_), Action::PopVlan) => Ok(Pop),
            (Push(_), Action::PopVlan) => Ok(Keep),
            (Keep, Action::PushVlan(tci)) => Ok(Push(tci)),
            (Pop, Action::PushVlan(tci)) => Ok(Replace(tci)),
            (Keep, Action::SetVlanVid(v)) | (SetVid(_), Action::SetVlanVid(v)) => Ok(SetVid(v)),
            (Push(tci), Action::SetVlanVid(v)) => Ok(Push(with_vid(tci, v))),
            (Replace(tci), Action::SetVlanVid(v)) => Ok(Replace(with_vid(tci, v))),
            _ => unsupported,
        }
    }

    /// Whether the frame carries an outer tag after the edit.
    pub(super) fn tagged_after(self, tagged: bool) -> bool {
        match self {
            VlanEdit::Keep | VlanEdit::SetVid(_) => tagged,
            VlanEdit::Pop => false,
            VlanEdit::Push(_) | VlanEdit::Replace(_) => true,
        }
    }

    /// How many bytes the edit adds (negative: removes).
    pub(crate) fn growth(self) -> isize {
        match self {
            VlanEdit::Push(_) => VLAN_TAG_LEN as isize,
            VlanEdit::Pop => -(VLAN_TAG_LEN as isize),
            _ => 0,
        }
    }
}

pub(super) fn with_vid(tci: u16, vid: u16) -> u16 {
    (tci & !VID_MASK) | (vid & VID_MASK)
}

/// Field rewrites that outputs apply, with their checksum updates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldEdits {
    /// True when any field below is set (tested per output).
    pub(super) any: bool,
    pub(super) eth_src: Option<Mac>,
    pub(super) eth_dst: Option<Mac>,
    ipv4_src: Option<[u8; 4]>,
    ipv4_dst: Option<[u8; 4]>,
    l4_src: Option<u16>,
    l4_dst: Option<u16>,
    pub(super) dec_ttl: bool,
}

/// No field rewritten: a constant, so that passing it by reference costs
/// no stack copy per frame.
pub(super) const NO_FIELD_EDITS: FieldEdits = FieldEdits {
    any: false,
    eth_src: None,
    eth_dst: None,
    ipv4_src: None,
    ipv4_dst: None,
    l4_src: None,
    l4_dst: None,
    dec_ttl: false,
};

/// The edits accumulated so far while executing a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edits {
    /// The VLAN change.
    pub vlan: VlanEdit,
    /// Field rewrites.
    pub fields: FieldEdits,
    /// The tunnel and remote VTEP slot outputs encapsulate the frame
    /// towards.
    pub encap: Option<(u16, u16)>,
}

impl FieldEdits {
    /// True when some field is rewritten.
    #[inline(always)]
    pub(crate) fn any(&self) -> bool {
        self.any
    }

    /// True when no rewrite touches what the L4 checksum covers (none at
    /// all, or MACs and TTL only): a partial checksum stays right, a
    /// super-frame whole.
    pub(crate) fn spares_l4_checksum(&self) -> bool {
        self.ipv4_src.is_none()
            && self.ipv4_dst.is_none()
            && self.l4_src.is_none()
            && self.l4_dst.is_none()
    }
}

impl Edits {
    /// True before any edit was folded in.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.vlan == VlanEdit::Keep && !self.fields.any && self.encap.is_none()
    }

    /// Folds one edit action in; other actions are not edits. Inlined
    /// into egress's loop: a routed frame folds three (a call each cost
    /// it 20 instructions).
    #[inline(always)]
    pub fn add(&mut self, action: Action) -> Result<(), DropReason> {
        let f = &mut self.fields;
        match action {
            Action::PushVlan(_) | Action::PopVlan | Action::SetVlanVid(_) => {
                self.vlan = self.vlan.then(action)?
            }
            Action::SetEthSrc(m) => f.eth_src = Some(m),
            Action::SetEthDst(m) => f.eth_dst = Some(m),
            Action::SetIpv4Src(a) => f.ipv4_src = Some(a),
            Action::SetIpv4Dst(a) => f.ipv4_dst = Some(a),
            Action::SetL4Src(p) => f.l4_src = Some(p),
            Action::SetL4Dst(p) => f.l4_dst = Some(p),
            Action::DecTtl => f.dec_ttl = true,
            _ => return Ok(()),
        }
        if !matches!(
            action,
            Action::PushVlan(_) | Action::PopVlan | Action::SetVlanVid(_)
        ) {
            f.any = true;
        }
        Ok(())
    }
}

/// Copies `frame` (its context `ctx`) into `dst` with `vlan` and `fields`
/// applied, and returns the length written.
#[inline(always)]
pub fn write_frame(
    frame: &[u8],
    ctx: &PacketCtx,
    vlan: VlanEdit,
    fields: &FieldEdits,
    dst: &mut [u8],
) -> Result<usize, DropReason> {
    let len = write_vlan(frame, ctx.parsed.layout.vlan_tags > 0, vlan, dst)?;
    if fields.any {
        let out = dst.get_mut(..len).ok_or(DropReason::TxFrameTooLong)?;
        patch_fields(out, ctx, vlan.growth(), fields)?;
    }
    Ok(len)
}

/// Copies `frame` into `dst` with the VLAN edit done in the copy.
#[inline(always)]
pub fn write_vlan(
    frame: &[u8],
    tagged: bool,
    edit: VlanEdit,
    dst: &mut [u8],
) -> Result<usize, DropReason> {
    let too_long = DropReason::TxFrameTooLong;
    let needs_tag = matches!(
        edit,
        VlanEdit::Pop | VlanEdit::SetVid(_) | VlanEdit::Replace(_)
    );
    if needs_tag && !tagged {
        return Err(DropReason::UnsupportedVlanEdit);
    }
    match edit {
        VlanEdit::Keep | VlanEdit::SetVid(_) | VlanEdit::Replace(_) => {
            let out = dst.get_mut(..frame.len()).ok_or(too_long)?;
            out.copy_from_slice(frame);
            match edit {
                VlanEdit::SetVid(vid) => {
                    let tci = read_u16(out, ETH_ADDRS_LEN + 2);
                    write_u16(out, ETH_ADDRS_LEN + 2, with_vid(tci, vid));
                }
                VlanEdit::Replace(tci) => {
                    write_u16(out, ETH_ADDRS_LEN, TPID_8021Q);
                    write_u16(out, ETH_ADDRS_LEN + 2, tci);
                }
                _ => {}
            }
            Ok(frame.len())
        }
        VlanEdit::Pop => {
            let rest = frame
                .get(ETH_ADDRS_LEN + VLAN_TAG_LEN..)
                .ok_or(DropReason::VlanTruncated)?;
            let len = ETH_ADDRS_LEN + rest.len();
            let out = dst.get_mut(..len).ok_or(too_long)?;
            out[..ETH_ADDRS_LEN].copy_from_slice(&frame[..ETH_ADDRS_LEN]);
            out[ETH_ADDRS_LEN..].copy_from_slice(rest);
            Ok(len)
        }
        VlanEdit::Push(tci) => {
            let (addrs, rest) = frame
                .split_at_checked(ETH_ADDRS_LEN)
                .ok_or(DropReason::EthTruncated)?;
            let len = frame.len() + VLAN_TAG_LEN;
            let out = dst.get_mut(..len).ok_or(too_long)?;
            out[..ETH_ADDRS_LEN].copy_from_slice(addrs);
            write_u16(out, ETH_ADDRS_LEN, TPID_8021Q);
            write_u16(out, ETH_ADDRS_LEN + 2, tci);
            out[ETH_ADDRS_LEN + VLAN_TAG_LEN..].copy_from_slice(rest);
            Ok(len)
        }
    }
}

/// Patches `fields` into `out` (a frame written from one with context
/// `ctx`, whose headers moved by `shift` bytes), updating checksums.
pub(crate) fn patch_fields(
    out: &mut [u8],
    ctx: &PacketCtx,
    shift: isize,
    fields: &FieldEdits,
) -> Result<(), DropReason> {
    let prerequisite = DropReason::SetFieldPrerequisite;
    if let Some(m) = fields.eth_dst {
        out[ethernet::field::DESTINATION].copy_from_slice(&m);
    }
    if let Some(m) = fields.eth_src {
        out[ethernet::field::SOURCE].copy_from_slice(&m);
    }
    let layout = &ctx.parsed.layout;
    let key = &ctx.parsed.key;
    let at = |offset: u16| (offset as isize + shift) as usize;
    let ipv4 = key.ethertype == ethernet::ethertype::IPV4 && layout.l3 != 0;
    let ipv6 = key.ethertype == ethernet::ethertype::IPV6 && layout.l3 != 0;
    let l3 = at(layout.l3);
    // Routed frames rewrite MACs and TTL only: no L4 checksum to find.
    if !fields.spares_l4_checksum() {
        patch_addresses_and_ports(out, ctx, shift, fields, ipv4, ipv6)?;
    }
    if fields.dec_ttl {
        if ipv4 {
            // TTL shares a checksummed 16-bit word with Protocol.
            let word_at = l3 + ipv4::field::TTL;
            let old = read_u16(out, word_at);
            let ttl = (old >> 8) as u8;
            if ttl <= 1 {
                return Err(DropReason::TtlExpired);
            }
            let new = old - 0x100;
            write_u16(out, word_at, new);
            let sum_at = l3 + ipv4::field::CHECKSUM.start;
            write_u16(out, sum_at, update_u16(read_u16(out, sum_at), old, new));
        } else if ipv6 {
            let hop_at = l3 + ipv6::field::HOP_LIMIT;
            match out.get_mut(hop_at) {
                Some(hop) if *hop > 1 => *hop -= 1,
                _ => return Err(DropReason::TtlExpired),
            }
        } else {
            return Err(prerequisite);
        }
    }
    Ok(())
}

/// The address and port edits of [`patch_fields`], with the IPv4 header
/// and L4 checksums they change.
fn patch_addresses_and_ports(
    out: &mut [u8],
    ctx: &PacketCtx,
    shift: isize,
    fields: &FieldEdits,
    ipv4: bool,
    ipv6: bool,
) -> Result<(), DropReason> {
    let prerequisite = DropReason::SetFieldPrerequisite;
    let layout = &ctx.parsed.layout;
    let key = &ctx.parsed.key;
    let at = |offset: u16| (offset as isize + shift) as usize;
    let l3 = at(layout.l3);
    let l4_checksum_at = match key.ip_proto {
        _ if layout.l4 == 0 => None,
        ip_proto::TCP => Some(at(layout.l4) + tcp::field::CHECKSUM.start),
        ip_proto::UDP if read_u16(out, at(layout.l4) + udp::field::CHECKSUM.start) != 0 || ipv6 => {
            Some(at(layout.l4) + udp::field::CHECKSUM.start)
        }
        _ => None,
    };
    let l4_ports = layout.l4 != 0 && matches!(key.ip_proto, ip_proto::TCP | ip_proto::UDP);

    for (new, field) in [
        (fields.ipv4_src, ipv4::field::SRC_ADDR.start),
        (fields.ipv4_dst, ipv4::field::DST_ADDR.start),
    ] {
        let Some(new) = new else { continue };
        if !ipv4 {
            return Err(prerequisite);
        }
        let old = u32::from_be_bytes(crate::wire::read_array(out, l3 + field));
        let new_word = u32::from_be_bytes(new);
        crate::wire::write_array(out, l3 + field, new);
        let sum_at = l3 + ipv4::field::CHECKSUM.start;
        write_u16(
            out,
            sum_at,
            update_u32(read_u16(out, sum_at), old, new_word),
        );
        if let Some(c) = l4_checksum_at {
            write_u16(out, c, update_u32(read_u16(out, c), old, new_word));
        }
    }
    for (new, field) in [
        (fields.l4_src, tcp::field::SRC_PORT.start),
        (fields.l4_dst, tcp::field::DST_PORT.start),
    ] {
        let Some(new) = new else { continue };
        if !l4_ports {
            return Err(prerequisite);
        }
        // TCP and UDP keep their ports at the same offsets.
        let port_at = at(layout.l4) + field;
        let old = read_u16(out, port_at);
        write_u16(out, port_at, new);
        if let Some(c) = l4_checksum_at {
            write_u16(out, c, update_u16(read_u16(out, c), old, new));
        }
    }
    Ok(())
}
