//! Packet trace: every stage says what it decided and why, in the manner of
//! Open vSwitch's ofproto/trace.
//!
//! Stages report through a [`TraceSink`], and only for frames whose
//! context has `trace` set: with tracing off, a report costs one test of
//! that flag on the flow-cache miss path and nothing on a cache hit. The
//! daemon's workers pass [`NoTrace`]; replay `--trace` passes a
//! [`TraceLog`] and marks every frame.

use crate::action::Action;
use crate::drop::DropReason;
use crate::flow::Mac;
use crate::mac_table::{LearnOutcome, PortId};

/// One decision of one stage about one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEvent {
    /// The frame entered the pipeline (again, after recirculation).
    Received {
        /// Port.
        port: PortId,
        /// Times it re-entered before.
        recirculations: u8,
    },
    /// The parser rejected it.
    Malformed(DropReason),
    /// The flow cache decided it (only for frames not traced: a traced
    /// frame always runs every stage).
    CacheHit,
    /// A stage was entered.
    Stage(&'static str),
    /// Ingress accepted the frame into a bridge VLAN.
    Ingress {
        /// Bridge index.
        bridge: u16,
        /// VLAN in the bridge.
        vlan: u16,
        /// True when the frame carried a tag.
        tagged: bool,
    },
    /// The source MAC was learned, refreshed, moved or refused.
    Learn {
        /// VLAN.
        vlan: u16,
        /// Address.
        mac: Mac,
        /// Port.
        port: PortId,
        /// What the table did.
        outcome: LearnOutcome,
    },
    /// The destination was looked up.
    Lookup {
        /// VLAN.
        vlan: u16,
        /// Address.
        mac: Mac,
        /// Where it was found, if it was.
        port: Option<PortId>,
    },
    /// The destination is a group address: flood.
    Multicast {
        /// Address.
        mac: Mac,
    },
    /// The frame is flooded to these ports.
    Flood {
        /// Flood group.
        group: u16,
        /// Members it goes to (the ingress port left out), each with the
        /// VID it leaves tagged with (`None`: untagged).
        ports: Vec<(PortId, Option<u16>)>,
    },
    /// A stage dropped the frame.
    Drop(DropReason),
    /// A stage added an action.
    Action(Action),
    /// A free-form note from a stage.
    Note(String),
    /// The final action list.
    Final(Vec<Action>),
}

/// Where stages report decisions.
pub trait TraceSink {
    /// Records `event` about frame `frame` (its index in the burst).
    fn record(&mut self, frame: usize, event: TraceEvent);
}

/// The sink of the fast path: records nothing and costs nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTrace;

impl TraceSink for NoTrace {
    #[inline(always)]
    fn record(&mut self, _frame: usize, _event: TraceEvent) {}
}

/// A sink that keeps every event, in order, with the frame it concerns.
#[derive(Debug, Default, Clone)]
pub struct TraceLog {
    /// (frame index in its burst, event).
    pub events: Vec<(usize, TraceEvent)>,
}

impl TraceSink for TraceLog {
    fn record(&mut self, frame: usize, event: TraceEvent) {
        self.events.push((frame, event));
    }
}

/// Records the event `make` builds when the frame is traced; `make` is not
/// called otherwise.
#[inline(always)]
pub fn trace(
    sink: &mut dyn TraceSink,
    traced: bool,
    frame: usize,
    make: impl FnOnce() -> TraceEvent,
) {
    if traced {
        sink.record(frame, make());
    }
}

/// A MAC as traces and tables print it.
pub fn mac_text(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

impl TraceEvent {
    /// One line for people; `port_name` turns port ids into names.
    pub fn render(&self, port_name: &dyn Fn(PortId) -> String) -> String {
        let list = |actions: &[Action]| {
            if actions.is_empty() {
                return "(none)".to_string();
            }
            actions
                .iter()
                .map(|a| match a {
                    Action::Output(p) => format!("output:{}", port_name(*p)),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            TraceEvent::Received {
                port,
                recirculations: 0,
            } => format!("in_port {}", port_name(*port)),
            TraceEvent::Received {
                port,
                recirculations,
            } => format!(
                "recirculation {recirculations}: in_port {}",
                port_name(*port)
            ),
            TraceEvent::Malformed(r) => format!("parse: malformed, drop({r})"),
            TraceEvent::CacheHit => "flow cache: hit".into(),
            TraceEvent::Stage(name) => format!("stage {name}"),
            TraceEvent::Ingress {
                bridge,
                vlan,
                tagged,
            } => format!(
                "  ingress: bridge {bridge}, vlan {vlan} ({})",
                if *tagged { "tagged" } else { "untagged" }
            ),
            TraceEvent::Learn {
                vlan,
                mac: m,
                port,
                outcome,
            } => format!(
                "  learn {} vlan {vlan} on {}: {}",
                mac_text(m),
                port_name(*port),
                match outcome {
                    LearnOutcome::Known => "known",
                    LearnOutcome::Learned => "learned",
                    LearnOutcome::Moved => "moved here",
                    LearnOutcome::Refused => "refused (limit)",
                    LearnOutcome::StaticConflict => "static entry elsewhere, not moved",
                }
            ),
            TraceEvent::Lookup {
                vlan,
                mac: m,
                port: Some(p),
            } => format!(
                "  lookup {} vlan {vlan}: hit, on {}",
                mac_text(m),
                port_name(*p)
            ),
            TraceEvent::Lookup {
                vlan,
                mac: m,
                port: None,
            } => format!("  lookup {} vlan {vlan}: miss, flood", mac_text(m)),
            TraceEvent::Multicast { mac: m } => {
                format!("  {} is a group address: flood", mac_text(m))
            }
            TraceEvent::Flood { group, ports } => format!(
                "  flood group {group} to {}",
                if ports.is_empty() {
                    "(no port)".to_string()
                } else {
                    ports
                        .iter()
                        .map(|(p, tag)| match tag {
                            Some(vid) => format!("{} (tagged {vid})", port_name(*p)),
                            None => format!("{} (untagged)", port_name(*p)),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            TraceEvent::Drop(r) => format!("  drop({r})"),
            TraceEvent::Action(a) => format!("  action {}", list(std::slice::from_ref(a))),
            TraceEvent::Note(text) => format!("  {text}"),
            TraceEvent::Final(actions) => format!("actions: {}", list(actions)),
        }
    }
}
