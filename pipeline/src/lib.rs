//! The packet model and match-action stages of vswitch.
//!
//! Pure code: no I/O, no threads, no `unsafe`. Frames arrive as byte
//! slices, are parsed once into a [`flow::FlowKey`], run through the stages
//! of the [`datapath::Datapath`], and leave as a [`datapath::Verdict`] plus
//! egress edits that the caller applies while copying the frame to its
//! output port.
//!
//! The per-packet path allocates nothing, takes no lock and never panics on
//! any input.

#![forbid(unsafe_code)]

pub mod datapath;
pub mod drop;
pub mod flow;
pub mod mac_table;
pub mod parse;
pub mod stats;
pub mod wire;

pub use datapath::{Action, Datapath, DatapathSpec, Verdict};
pub use drop::DropReason;
pub use flow::{FlowKey, Layout, Mac, Parsed};
pub use mac_table::{MacTable, PortId};
pub use stats::Stats;
