//! vswitch: the configuration model, the forwarding step shared by the
//! daemon and offline replay, the replay, the daemon and the demo.

pub mod config;
pub mod daemon;
pub mod db;
pub mod demo;
pub mod flow_syntax;
pub mod forward;
pub mod lab;
pub mod logging;
pub mod replay;
pub mod report;
