//! Masquerade at the gateway: connections from a network leaving by its
//! uplink are tracked in the uplink's NAT zone ([`super::nat_zone`]) and
//! their source translated to the uplink's address; replies coming in on
//! the uplink to that address are tracked in the same zone and translated
//! back, then routed into the network (see [`crate::conntrack::nat`]).
//!
//! The ct action recirculates the frame, translated; the stages decide
//! again on `ctx.ct.state`. Both passes may be cached: the first one's
//! decision is the ct action alone (the tracker translates every frame
//! itself), the second is keyed on the ct state and the translated
//! addresses. Masquerade out of the uplink with no ACL on either port
//! takes one pass instead ([`Action::CtThrough`]): its route does not
//! depend on the translation, and nothing else reads the state but the
//! INVALID check, which the action makes itself.

use crate::action::{Action, CtNat};
use crate::context::{ct_state, PacketCtx};
use crate::drop::DropReason;
use crate::flow::IpFrag;
use crate::stage::StageEnv;
use crate::trace::TraceEvent;
use crate::wire::ethernet::ethertype::IPV4;

/// What the gateway does about NAT for a frame.
pub(crate) enum NatStep {
    /// Sent to the tracker first (a ct action pushed).
    Tracking,
    /// Dropped (INVALID).
    Dropped,
    /// Tracked (and translated when its connection is): route it on.
    Tracked,
    /// To be tracked on its way out: route it, with the ct action before
    /// the output ([`Action::CtThrough`]).
    Through(Action),
    /// Not for the tracker.
    Untracked,
}

/// The ct state bits as Open vSwitch prints them: "+trk+new".
pub fn state_text(state: u8) -> String {
    let names = [
        (ct_state::NEW, "new"),
        (ct_state::ESTABLISHED, "est"),
        (ct_state::RELATED, "rel"),
        (ct_state::REPLY, "rpl"),
        (ct_state::INVALID, "inv"),
    ];
    let mut text = String::from(if state & ct_state::TRACKED != 0 {
        "+trk"
    } else {
        "-trk"
    });
    for (bit, name) in names {
        if state & bit != 0 {
            text.push('+');
            text.push_str(name);
        }
    }
    text
}

/// Sends frame `i` through the tracker in `zone` with `nat` unless it has
/// been already; after, notes the verdict and drops INVALID frames.
pub(crate) fn track(
    ctx: &mut PacketCtx,
    i: usize,
    env: &mut StageEnv<'_>,
    zone: u16,
    commit: bool,
    nat: CtNat,
) -> NatStep {
    if ctx.ct.state == 0 {
        let action = Action::Ct { zone, commit, nat };
        env.note(ctx, i, || {
            TraceEvent::Note(format!("{action}: track first"))
        });
        note_fragment(ctx, i, env);
        ctx.actions.push(action);
        return NatStep::Tracking;
    }
    verdict(ctx, i, env)
}

/// Traces that the tracker will hold frame `i` (before it meets the
/// tracker) when it is an IPv4 fragment.
pub(crate) fn note_fragment(ctx: &PacketCtx, i: usize, env: &mut StageEnv<'_>) {
    if ctx.parsed.key.ip_frag != IpFrag::None && ctx.parsed.key.ethertype == IPV4 && !ctx.probe {
        env.note(ctx, i, || {
            TraceEvent::Note("an IPv4 fragment: held until its datagram is whole".into())
        });
    }
}

/// After the tracker: notes its verdict on frame `i`, and drops it when
/// INVALID.
pub(crate) fn verdict(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>) -> NatStep {
    note_verdict(ctx, i, env);
    if ctx.ct.state & ct_state::INVALID != 0 {
        env.drop(ctx, i, DropReason::CtInvalid);
        return NatStep::Dropped;
    }
    NatStep::Tracked
}

/// Traces what the tracker said of frame `i` (nothing before it met the
/// tracker): the state bits and the translation applied.
pub(crate) fn note_verdict(ctx: &PacketCtx, i: usize, env: &mut StageEnv<'_>) {
    if let Some(text) = verdict_text(ctx) {
        env.note(ctx, i, || TraceEvent::Note(text));
    }
}

/// What the tracker said of a frame, as trace shows it ("ct zone 32768:
/// +trk+new, nat ..."); `None` before the frame met the tracker.
pub(crate) fn verdict_text(ctx: &PacketCtx) -> Option<String> {
    let (state, translation) = (ctx.ct.state, ctx.ct.nat);
    if state == 0 {
        return None;
    }
    let nat = match translation {
        Some(t) => format!(", nat {t}"),
        None => String::new(),
    };
    Some(format!(
        "ct zone {}: {}{nat}",
        ctx.ct.zone,
        state_text(state)
    ))
}
