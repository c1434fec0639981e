//! The packet model and match-action stages of vswitch.
//!
//! Pure code: no I/O, no threads, no `unsafe`. Frames arrive in bursts of
//! byte slices; each is parsed once into a [`context::PacketCtx`], decided
//! by the worker's [`flow_cache`] or by the [`stage`]s of its port's chain
//! in the [`datapath::Datapath`] as an ordered [`action::ActionList`], and
//! written to its output ports by [`egress`] with the edits done in the
//! copy. [`burst::BurstRunner`] drives the whole.
//!
//! The per-packet path allocates nothing, takes no lock and never panics on
//! any input.

#![forbid(unsafe_code)]

pub mod acl;
pub mod action;
pub mod burst;
pub mod conntrack;
pub mod context;
pub mod datapath;
pub mod drop;
pub mod egress;
pub mod flow;
pub mod flow_cache;
pub mod l3;
pub mod mac_table;
pub mod offload;
pub mod overlay;
pub mod parse;
pub mod stage;
pub mod stats;
pub mod steer;
pub mod trace;
pub mod vlan;
pub mod wire;

pub use action::{Action, ActionList};
pub use burst::BurstRunner;
pub use context::PacketCtx;
pub use datapath::{Datapath, DatapathSpec};
pub use drop::DropReason;
pub use egress::TxSink;
pub use flow::{FlowKey, Layout, Mac, Parsed};
pub use mac_table::{MacTable, PortId};
pub use stats::Stats;
