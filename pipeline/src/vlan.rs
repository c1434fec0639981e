//! VLAN membership of a port: the VLAN sets and the access/trunk modes
//! that say which VLAN a received frame belongs to and how it leaves.

use crate::drop::DropReason;

/// The highest valid VLAN ID (4095 is reserved).
pub const VLAN_MAX: u16 = 4094;
/// VLAN IDs 0..=4095.
pub(crate) const VLAN_SLOTS: usize = 4096;

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
    pub fn ingress_vlan(&self, vid: u16) -> Result<u16, DropReason> {
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
    pub fn carries(&self, vlan: u16) -> bool {
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
    pub fn egress_tag(&self, vlan: u16) -> Option<u16> {
        match self {
            VlanMode::Access { .. } => None,
            VlanMode::Trunk { native, .. } if *native == Some(vlan) => None,
            VlanMode::Trunk { .. } => Some(vlan),
        }
    }
}
