//! Pipeline stages: each one module with one job, run over the frames of a
//! burst that the flow cache could not decide.
//!
//! A stage reads the frames' contexts (parsed once, before any stage),
//! adds to their action lists, or drops them; it never writes the frames'
//! bytes (egress does, from the action list). Which stages a frame meets
//! follows from its port and bridge configuration: the datapath builds a
//! chain of stages per port ([`crate::datapath::Datapath`]), so adding a
//! stage means writing its module and naming it in the chain builder, not
//! editing other stages.

pub mod ingress;
pub mod l2;
pub mod l3;
pub mod port_security;
pub mod tunnel;
pub mod uplink;

use crate::context::PacketCtx;
use crate::datapath::Datapath;
use crate::drop::DropReason;
use crate::flow_cache::KeyFields;
use crate::trace::{trace, TraceEvent, TraceSink};

/// The frames of a burst that a stage decides.
pub struct StageBurst<'a> {
    /// Contexts of the whole burst, by frame index.
    pub ctxs: &'a mut [PacketCtx],
    /// Indices of the frames still undecided, in order.
    pub active: &'a [u8],
    /// The received bytes of the whole burst, by frame index (the current
    /// frame of a context starts at its `offset`).
    pub frames: &'a [&'a mut [u8]],
}

/// What a stage may consult.
pub struct StageEnv<'a> {
    /// The datapath the frames run through (configuration and the learned
    /// state it points to).
    pub dp: &'a Datapath,
    /// Seconds on the clock of learned state.
    pub now: u32,
    /// Where decisions of traced frames are reported.
    pub trace: &'a mut dyn TraceSink,
}

impl StageEnv<'_> {
    /// Reports `make()` for frame `i` if it is traced.
    #[inline(always)]
    pub fn note(&mut self, ctx: &PacketCtx, i: usize, make: impl FnOnce() -> TraceEvent) {
        trace(self.trace, ctx.trace, i, make);
    }

    /// Drops frame `i` for `reason`, reporting it.
    #[inline(always)]
    pub fn drop(&mut self, ctx: &mut PacketCtx, i: usize, reason: DropReason) {
        ctx.actions.set_drop(reason);
        self.note(ctx, i, || TraceEvent::Drop(reason));
    }
}

/// One stage of the pipeline.
pub trait Stage: Send + Sync {
    /// Its name, as traces show it.
    fn name(&self) -> &'static str;

    /// The flow-key fields its decisions depend on: the flow cache keys the
    /// port's frames on the union over its chain.
    fn reads(&self) -> KeyFields;

    /// False when no decision of the stage may be cached (it depends on
    /// something outside the flow key, such as a tunnel's outer headers):
    /// the frames of the chains it is in skip the flow cache.
    fn cacheable(&self) -> bool {
        true
    }

    /// Decides for every frame in `burst.active`.
    fn run(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>);
}
