//! One burst of received frames through the datapath: the step the
//! daemon's workers and offline replay share.
//!
//! For a burst from one port, in vectors as VPP's graph nodes work:
//! 1. parse every frame into its context (malformed: dropped with the
//!    parser's reason);
//! 2. key and look every frame up in the worker's flow cache, all lookups
//!    before any result is used (so their cache misses overlap), then
//!    execute each hit straight from its entry (replaying the source-MAC
//!    learning it implies);
//! 3. run the misses through the stages of their port's chain, each stage
//!    over all of them before the next;
//! 4. cache the decisions that may be cached;
//! 5. execute every frame's action list in order (egress), and run the
//!    frames that recirculate (decapsulated, conntracked) through steps 1
//!    to 5 again, at most [`MAX_RECIRCULATIONS`] times.
//!
//! Nothing here allocates, locks or makes a system call; counters go to
//! the worker's [`Stats`].

use std::sync::Arc;

use crate::action::Action;
use crate::context::{Offload, PacketCtx};
use crate::datapath::{Datapath, PortRole};
use crate::drop::DropReason;
use crate::egress::{execute, output_only, ConnTracker, Executed, TxSink};
use crate::flow_cache::{CacheKey, FlowCache, DEFAULT_CAPACITY};
use crate::l3::nat::verdict_text;
use crate::mac_table::PortId;
use crate::overlay::decap::{decap_text, decapsulate, Decap};
use crate::parse::parse_into;
use crate::stage::tunnel::TunnelIn;
use crate::stage::{Stage, StageBurst, StageEnv};
use crate::stats::Stats;
use crate::trace::{trace, TraceEvent, TraceSink};

/// The most frames of one burst.
pub const MAX_BURST: usize = 32;

/// How often a frame may re-enter the pipeline.
pub const MAX_RECIRCULATIONS: u8 = 4;

/// A worker's pipeline state: contexts for a burst, the flow cache, the
/// connection tracker. Allocated once.
pub struct BurstRunner {
    ctxs: Box<[PacketCtx]>,
    keys: Box<[CacheKey]>,
    hashes: Box<[u64]>,
    /// The worker's flow cache.
    pub cache: FlowCache,
    conntrack: Option<Box<dyn ConnTracker>>,
    /// When set, every frame is traced (replay `--trace`); the flow cache
    /// is then bypassed, so every stage reports.
    pub trace_all: bool,
    /// Runs every frame as a probe ([`PacketCtx::probe`]): `vsctl trace`.
    pub probe: bool,
}

impl Default for BurstRunner {
    fn default() -> Self {
        BurstRunner::new(DEFAULT_CAPACITY)
    }
}

/// Index lists of at most [`MAX_BURST`] frames, on the stack.
struct IndexList {
    items: [u8; MAX_BURST],
    len: usize,
}

impl IndexList {
    fn new() -> IndexList {
        IndexList {
            items: [0; MAX_BURST],
            len: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, i: usize) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = i as u8;
            self.len += 1;
        }
    }

    #[inline(always)]
    fn as_slice(&self) -> &[u8] {
        &self.items[..self.len]
    }
}

impl BurstRunner {
    /// A runner whose flow cache holds `cache_capacity` entries.
    pub fn new(cache_capacity: usize) -> BurstRunner {
        BurstRunner {
            ctxs: vec![PacketCtx::default(); MAX_BURST].into_boxed_slice(),
            keys: vec![CacheKey::default(); MAX_BURST].into_boxed_slice(),
            hashes: vec![0; MAX_BURST].into_boxed_slice(),
            cache: FlowCache::new(cache_capacity),
            conntrack: None,
            trace_all: false,
            probe: false,
        }
    }

    /// Gives the `ct` action a tracker.
    pub fn set_conntrack(&mut self, tracker: Box<dyn ConnTracker>) {
        self.conntrack = Some(tracker);
    }

    /// Runs `frames` (received on `in_port`, at `timestamps`) through `dp`
    /// at `now` (seconds, the clock of learned state): counts their
    /// reception, decides, and writes them into `tx`. Any number of frames:
    /// they are taken [`MAX_BURST`] at a time.
    #[allow(clippy::too_many_arguments)]
    pub fn process<T: TxSink>(
        &mut self,
        dp: &Datapath,
        in_port: PortId,
        frames: &mut [&mut [u8]],
        timestamps: &[u64],
        now: u32,
        tx: &mut T,
        stats: &mut Stats,
        sink: &mut dyn TraceSink,
    ) {
        self.process_offloaded(dp, in_port, frames, timestamps, &[], now, tx, stats, sink);
    }

    /// [`BurstRunner::process`] for frames that came with offload state
    /// (`offloads[i]` for frame `i`; frames past its end are plain): a
    /// port with virtio-net headers.
    #[allow(clippy::too_many_arguments)]
    pub fn process_offloaded<T: TxSink>(
        &mut self,
        dp: &Datapath,
        in_port: PortId,
        frames: &mut [&mut [u8]],
        timestamps: &[u64],
        offloads: &[Offload],
        now: u32,
        tx: &mut T,
        stats: &mut Stats,
        sink: &mut dyn TraceSink,
    ) {
        for (k, chunk) in frames.chunks_mut(MAX_BURST).enumerate() {
            let times = timestamps.get(k * MAX_BURST..).unwrap_or_default();
            let offloads = offloads.get(k * MAX_BURST..).unwrap_or_default();
            self.process_burst(dp, in_port, chunk, times, offloads, now, tx, stats, sink);
        }
    }

    /// [`BurstRunner::process`] for at most [`MAX_BURST`] frames.
    #[allow(clippy::too_many_arguments)]
    fn process_burst<T: TxSink>(
        &mut self,
        dp: &Datapath,
        in_port: PortId,
        frames: &mut [&mut [u8]],
        timestamps: &[u64],
        offloads: &[Offload],
        now: u32,
        tx: &mut T,
        stats: &mut Stats,
        sink: &mut dyn TraceSink,
    ) {
        let n = frames.len().min(MAX_BURST);
        let frames = &mut frames[..n];
        let mut bytes = 0;
        for (i, (ctx, frame)) in self.ctxs.iter_mut().zip(frames.iter()).enumerate() {
            bytes += frame.len() as u64;
            let ts = timestamps.get(i).copied().unwrap_or(0);
            ctx.reset(in_port, ts, self.trace_all);
            ctx.probe = self.probe;
        }
        for (ctx, offload) in self.ctxs.iter_mut().zip(offloads) {
            ctx.offload = *offload;
        }
        stats.rx_many(in_port, n as u64, bytes);
        let generation = dp.state_generation();
        self.run_passes(dp, frames, now, generation, tx, stats, sink);
        self.send_reassembled(dp, now, generation, tx, stats, sink);
    }

    /// Runs `frames` (their contexts set) until none recirculates, or
    /// drops those past the recirculation limit.
    #[allow(clippy::too_many_arguments)]
    fn run_passes<T: TxSink>(
        &mut self,
        dp: &Datapath,
        frames: &mut [&mut [u8]],
        now: u32,
        generation: u64,
        tx: &mut T,
        stats: &mut Stats,
        sink: &mut dyn TraceSink,
    ) {
        let n = frames.len().min(MAX_BURST);
        let mut pass: u64 = if n == 64 { u64::MAX } else { (1 << n) - 1 };
        let mut round = 0;
        while pass != 0 {
            pass = self.run_pass(dp, pass, frames, now, generation, tx, stats, sink);
            round += 1;
            if round > MAX_RECIRCULATIONS as usize && pass != 0 {
                for (i, ctx) in self.ctxs.iter().enumerate() {
                    if pass & (1 << i) != 0 {
                        stats.drop(ctx.in_port, DropReason::RecirculationLimit);
                    }
                }
                break;
            }
        }
    }

    /// Sends on the datagrams whose fragments the tracker held and made
    /// whole: each fragment runs through the stages again as the frame
    /// that completed the datagram would after its ct action, with the
    /// datagram's ct state and translation. The fragments of a datagram
    /// given up are counted as dropped. Bounded: each datagram is handed
    /// back once, and none is held meanwhile (the tracker is out of the
    /// runner, and tracked frames meet no ct action again).
    #[allow(clippy::too_many_arguments)]
    fn send_reassembled<T: TxSink>(
        &mut self,
        dp: &Datapath,
        now: u32,
        generation: u64,
        tx: &mut T,
        stats: &mut Stats,
        sink: &mut dyn TraceSink,
    ) {
        if !self.conntrack.as_ref().is_some_and(|t| t.has_reassembled()) {
            return;
        }
        let Some(mut tracker) = self.conntrack.take() else {
            return;
        };
        while let Some(mut datagram) = tracker.reassembled() {
            let verdict = datagram.verdict;
            let frames = &mut datagram.frames[..datagram.count];
            trace(sink, self.trace_all, 0, || {
                TraceEvent::Note(match verdict.dropped {
                    Some(reason) => format!(
                        "{} held fragments of the datagram dropped: {}",
                        frames.len(),
                        reason.name()
                    ),
                    None => format!(
                        "datagram whole: its {} fragments go on, as received, tracked as one",
                        frames.len()
                    ),
                })
            });
            if let Some(reason) = verdict.dropped {
                for _ in 0..frames.len() {
                    stats.drop(verdict.in_port, reason);
                }
                continue;
            }
            for chunk in frames.chunks_mut(MAX_BURST) {
                for ctx in self.ctxs.iter_mut().take(chunk.len()) {
                    ctx.reset(verdict.in_port, verdict.timestamp_ns, self.trace_all);
                    ctx.probe = self.probe;
                    ctx.ct = verdict.ct;
                    ctx.recirculations = 1;
                }
                self.run_passes(dp, chunk, now, generation, tx, stats, sink);
            }
        }
        self.conntrack = Some(tracker);
    }

    /// Steps 1 to 5 for the frames whose bit is set in `pass`; returns the
    /// set of those to run again.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn run_pass<T: TxSink>(
        &mut self,
        dp: &Datapath,
        pass: u64,
        frames: &mut [&mut [u8]],
        now: u32,
        generation: u64,
        tx: &mut T,
        stats: &mut Stats,
        sink: &mut dyn TraceSink,
    ) -> u64 {
        let mut misses = IndexList::new();
        let mut again = 0u64;
        // 1. Parse, and key the frames the cache may decide.
        let bypass = self.cache.bypassing();
        let mut to_look_up = 0u64;
        let entries = self
            .ctxs
            .iter_mut()
            .zip(frames.iter())
            .zip(self.keys.iter_mut().zip(self.hashes.iter_mut()));
        'frames: for (i, ((ctx, frame), (key_slot, hash_slot))) in entries.enumerate() {
            if pass & (1 << i) == 0 {
                continue;
            }
            trace(sink, ctx.trace, i, || TraceEvent::Received {
                port: ctx.in_port,
                recirculations: ctx.recirculations,
            });
            // Parse the current frame. Tunnel traffic on an uplink is
            // decapsulated here and its inner frame parsed in turn, as from
            // the tunnel port, which is no uplink: twice at most.
            let (current, port) = loop {
                let current = frame.get(ctx.offset as usize..).unwrap_or_default();
                if let Err(reason) = parse_into(current, &mut ctx.parsed) {
                    trace(sink, ctx.trace, i, || TraceEvent::Malformed(reason));
                    stats.drop(ctx.in_port, reason);
                    continue 'frames;
                }
                let Some(port) = dp.port(ctx.in_port) else {
                    stats.drop(ctx.in_port, DropReason::PortNotInBridge);
                    continue 'frames;
                };
                let uplink = match port.role {
                    PortRole::Uplink(u) => dp.uplink(u),
                    _ => None,
                };
                let decapsulated = match uplink {
                    Some(uplink) => decapsulate(dp, uplink, ctx, current),
                    None => Decap::NotTunnel,
                };
                match decapsulated {
                    Decap::NotTunnel => break (current, port),
                    Decap::Dropped(reason) => {
                        trace(sink, ctx.trace, i, || TraceEvent::Drop(reason));
                        stats.drop(ctx.in_port, reason);
                        continue 'frames;
                    }
                    Decap::Done => {
                        trace(sink, ctx.trace, i, || {
                            TraceEvent::Note(decap_text(&ctx.tunnel, dp))
                        });
                        // The tunnel port counts what comes out of the
                        // tunnel (the uplink counted it encapsulated).
                        stats.rx(ctx.in_port, frame.len().saturating_sub(ctx.offset as usize));
                        ctx.recirculations = ctx.recirculations.saturating_add(1);
                    }
                }
            };
            if ctx.trace || bypass || !port.cached {
                ctx.start_decision();
                ctx.cacheable &= port.cached;
                misses.push(i);
                continue;
            }
            *hash_slot = key_slot.set(ctx, current, &port.key_mask);
            to_look_up |= 1 << i;
        }
        // 2. Look them all up before using any result.
        let mut found = [0u16; MAX_BURST];
        let mut hits = 0u64;
        for (i, ((key, hash), slot)) in self
            .keys
            .iter()
            .zip(self.hashes.iter())
            .zip(found.iter_mut())
            .enumerate()
        {
            if to_look_up & (1 << i) == 0 {
                continue;
            }
            match self.cache.find_valid(key, *hash, generation, now) {
                Some(entry) => {
                    *slot = entry as u16;
                    hits |= 1 << i;
                }
                None => {
                    self.ctxs[i].start_decision();
                    misses.push(i);
                }
            }
        }
        // 3. Execute the hits, straight from their cache entries, after
        // reading ahead what their tracking reads when the connection
        // table outgrows the caches.
        if hits != 0 && self.conntrack_warms() {
            let zones = core::array::from_fn(|i| {
                if hits & (1 << i) == 0 {
                    return None;
                }
                let entry = *found.get(i)? as usize;
                self.cache.actions(entry).iter().find_map(Action::ct_zone)
            });
            self.warm_conntrack(frames, &zones);
        }
        let mut conntrack = self.conntrack.as_deref_mut();
        for (i, ((ctx, frame), entry)) in self
            .ctxs
            .iter_mut()
            .zip(frames.iter_mut())
            .zip(found.iter())
            .enumerate()
        {
            if hits & (1 << i) == 0 {
                continue;
            }
            let hit = self.cache.hit(*entry as usize, now);
            if let Some(learn) = hit.refresh {
                if let Some(bridge) = dp.bridge(learn.bridge) {
                    bridge.macs.learn(learn.vlan, &learn.mac, learn.port, now);
                }
            }
            if ctx.tunnel.present {
                if let Err(reason) = TunnelIn::learn(dp, ctx, now) {
                    stats.drop(ctx.in_port, reason);
                    continue;
                }
            }
            if !output_only(dp, ctx, hit.actions, frame, tx, stats)
                && execute(
                    dp,
                    ctx,
                    hit.actions,
                    frame,
                    now,
                    tx,
                    conntrack.as_deref_mut(),
                    stats,
                ) == Executed::Recirculate
            {
                again |= 1 << i;
            }
        }

        if misses.len > 0 {
            self.run_stages(dp, misses.as_slice(), frames, now, sink);
            if self.conntrack_warms() {
                let mut zones = [None; MAX_BURST];
                for &i in misses.as_slice() {
                    if let (Some(zone), Some(ctx)) =
                        (zones.get_mut(i as usize), self.ctxs.get(i as usize))
                    {
                        *zone = ctx.actions.as_slice().iter().find_map(Action::ct_zone);
                    }
                }
                self.warm_conntrack(frames, &zones);
            }
            let mut conntrack = self.conntrack.as_deref_mut();
            for &i in misses.as_slice() {
                let i = i as usize;
                let (Some(ctx), Some(frame)) = (self.ctxs.get_mut(i), frames.get_mut(i)) else {
                    continue;
                };
                trace(sink, ctx.trace, i, || {
                    TraceEvent::Final(ctx.actions.as_slice().to_vec())
                });
                if ctx.cacheable && !ctx.trace && !bypass {
                    self.cache
                        .insert(&self.keys[i], self.hashes[i], generation, now, ctx);
                }
                if output_only(dp, ctx, ctx.actions.as_slice(), frame, tx, stats) {
                    continue;
                }
                let actions = ctx.actions;
                if execute(
                    dp,
                    ctx,
                    actions.as_slice(),
                    frame,
                    now,
                    tx,
                    conntrack.as_deref_mut(),
                    stats,
                ) == Executed::Recirculate
                {
                    again |= 1 << i;
                }
                // The tracker's say on a frame it saw on the way out.
                if ctx.trace && actions.as_slice().iter().any(Action::tracks_through) {
                    if let Some(text) = verdict_text(ctx) {
                        trace(sink, true, i, || TraceEvent::Note(text));
                    }
                }
            }
        }

        // Frames that run again start their next pass with a new parse
        // (which overwrites the last) and a new decision; their tunnel and
        // ct state stay.
        for (i, ctx) in self.ctxs.iter_mut().enumerate() {
            if again & (1 << i) != 0 {
                ctx.recirculations = ctx.recirculations.saturating_add(1);
            }
        }
        again
    }

    /// True when the tracker's table outgrows the caches: the frames of a
    /// burst that meet it are then warmed first ([`ConnTracker::warm`]).
    fn conntrack_warms(&self) -> bool {
        self.conntrack.as_ref().is_some_and(|t| t.warms())
    }

    /// Has the tracker read ahead what tracking `frames[k]` in `zones[k]`
    /// will read, for every `k` with a zone.
    fn warm_conntrack(&self, frames: &[&mut [u8]], zones: &[Option<u16>; MAX_BURST]) {
        if let Some(tracker) = self.conntrack.as_deref() {
            tracker.warm(frames, &self.ctxs, zones);
        }
    }

    /// Runs the frames in `misses` through their ports' chains. Frames of a
    /// burst share a port except after recirculation, so they are taken
    /// port by port, in order of first appearance.
    fn run_stages(
        &mut self,
        dp: &Datapath,
        misses: &[u8],
        frames: &[&mut [u8]],
        now: u32,
        sink: &mut dyn TraceSink,
    ) {
        // Frames of a burst share their port except after recirculation.
        let first_port = misses.first().map(|&i| self.ctxs[i as usize].in_port);
        if misses
            .iter()
            .all(|&i| Some(self.ctxs[i as usize].in_port) == first_port)
        {
            if let Some(port) = first_port.and_then(|p| dp.port(p)) {
                self.run_chain(dp, &port.chain, misses, frames, now, sink);
            }
            return;
        }
        let mut done = 0u64;
        for (k, &first) in misses.iter().enumerate() {
            if done & (1 << k) != 0 {
                continue;
            }
            let port_id = self.ctxs[first as usize].in_port;
            let mut group = IndexList::new();
            for (j, &i) in misses.iter().enumerate().skip(k) {
                if self.ctxs[i as usize].in_port == port_id {
                    group.push(i as usize);
                    done |= 1 << j;
                }
            }
            let Some(port) = dp.port(port_id) else {
                continue;
            };
            self.run_chain(dp, &port.chain, group.as_slice(), frames, now, sink);
        }
    }

    /// Runs the frames in `active` through `chain`, stage by stage.
    fn run_chain(
        &mut self,
        dp: &Datapath,
        chain: &[Arc<dyn Stage>],
        active: &[u8],
        frames: &[&mut [u8]],
        now: u32,
        sink: &mut dyn TraceSink,
    ) {
        let mut env = StageEnv {
            dp,
            now,
            trace: sink,
        };
        let mut current = IndexList::new();
        for &i in active {
            current.push(i as usize);
        }
        for stage in chain {
            let mut burst = StageBurst {
                ctxs: &mut self.ctxs,
                active: current.as_slice(),
                frames,
            };
            stage.run(&mut burst, &mut env);
            // Frames a stage dropped meet no further stage.
            let mut still = IndexList::new();
            for &i in current.as_slice() {
                if !self.ctxs[i as usize].is_dropped() {
                    still.push(i as usize);
                }
            }
            current = still;
            if current.len == 0 {
                break;
            }
        }
    }
}
