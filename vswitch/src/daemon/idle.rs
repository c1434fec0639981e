//! When an adaptive worker stops busy-polling and blocks: the hysteresis,
//! as pure logic over a clock the caller passes in (so it is tested
//! without timing).
//!
//! A worker that finds work resets the governor. Each empty poll counts;
//! the clock is not read until `min_idle_iterations` empty polls came in a
//! row (so a busy worker never reads it), and the worker blocks once the
//! queues have also been quiet for the quiet time since then. A wake-up
//! resets the governor, so a woken worker busy-polls a full quiet period
//! again before it blocks: the reply to the frame that woke it (a ping's
//! echo reply a few tens of microseconds later) is caught by polling,
//! without a second wake-up.
//!
//! The quiet time adapts to what the wake-ups find. Waking takes tens of
//! microseconds on a halted vCPU and can take milliseconds when the host
//! gives the vCPU back late; frames that came meanwhile wait on the
//! receive ring, and a ring that fills drops them. So when a wake-up finds
//! a backlog of [`BACKLOG_FRAMES`] or more (traffic that paused for less
//! than a wake-up's cost, then came back in force), the quiet time doubles,
//! up to [`MAX_QUIET_NS`]: the worker rides out such pauses polling. A
//! wake-up that finds less halves it again, down to the configured time,
//! so sporadic traffic (pings) keeps the short quiet time and the idle
//! cost.

/// Frames found after a wake-up, before the first empty poll, that show
/// the worker was behind: eight receive bursts.
pub const BACKLOG_FRAMES: u64 = 256;

/// The longest quiet time the adaptation reaches: 10 ms.
pub const MAX_QUIET_NS: u64 = 10_000_000;

/// What the worker does after an empty poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Poll again.
    Poll,
    /// Arm wake-ups and block.
    Block,
}

/// The adaptive idle state of one worker.
#[derive(Debug, Clone)]
pub struct Governor {
    min_idle_iterations: u32,
    base_quiet_ns: u64,
    quiet_ns: u64,
    streak: u32,
    quiet_since: Option<u64>,
    /// Frames received since the last wake-up, until its first empty poll.
    since_wake: Option<u64>,
}

impl Governor {
    /// Blocks after `min_idle_iterations` empty polls spanning `quiet_ns`
    /// (more after wake-ups that found a backlog).
    pub fn new(min_idle_iterations: u32, quiet_ns: u64) -> Governor {
        Governor {
            min_idle_iterations: min_idle_iterations.max(1),
            base_quiet_ns: quiet_ns,
            quiet_ns,
            streak: 0,
            quiet_since: None,
            since_wake: None,
        }
    }

    /// A poll found `frames` frames.
    #[inline]
    pub fn busy(&mut self, frames: u64) {
        self.streak = 0;
        self.quiet_since = None;
        if let Some(n) = &mut self.since_wake {
            *n += frames;
        }
    }

    /// A poll found nothing; `now_ns` is read only once the streak is long
    /// enough.
    #[inline]
    pub fn idle(&mut self, now_ns: impl FnOnce() -> u64) -> Step {
        if let Some(backlog) = self.since_wake.take() {
            self.quiet_ns = if backlog >= BACKLOG_FRAMES {
                (self.quiet_ns.max(1) * 2).min(MAX_QUIET_NS.max(self.base_quiet_ns))
            } else {
                (self.quiet_ns / 2).max(self.base_quiet_ns)
            };
        }
        if self.streak < self.min_idle_iterations {
            self.streak += 1;
            if self.streak < self.min_idle_iterations {
                return Step::Poll;
            }
        }
        let now = now_ns();
        let since = *self.quiet_since.get_or_insert(now);
        if now.saturating_sub(since) >= self.quiet_ns {
            Step::Block
        } else {
            Step::Poll
        }
    }

    /// The worker woke (or found work while arming): start over, and count
    /// what it finds.
    pub fn woke(&mut self) {
        self.busy(0);
        self.since_wake = Some(0);
    }

    /// The quiet time now, in nanoseconds.
    pub fn quiet_ns(&self) -> u64 {
        self.quiet_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `polls` empty polls at clock `now`; returns the steps.
    fn idle_n(g: &mut Governor, polls: u32, now: u64) -> Vec<Step> {
        (0..polls).map(|_| g.idle(|| now)).collect()
    }

    #[test]
    fn needs_both_the_empty_polls_and_the_quiet_time() {
        let mut g = Governor::new(4, 1000);
        // Three empty polls: not enough, and the clock is not read.
        for _ in 0..3 {
            assert_eq!(g.idle(|| panic!("clock read too early")), Step::Poll);
        }
        // The fourth starts the quiet period at t = 10.
        assert_eq!(g.idle(|| 10), Step::Poll);
        assert_eq!(idle_n(&mut g, 5, 500), vec![Step::Poll; 5]);
        assert_eq!(g.idle(|| 1009), Step::Poll);
        assert_eq!(g.idle(|| 1010), Step::Block);
    }

    #[test]
    fn a_long_quiet_time_alone_does_not_block() {
        let mut g = Governor::new(4, 1000);
        // The clock jumps, but only after the streak is long enough does
        // it count: the first read starts the quiet period.
        assert_eq!(idle_n(&mut g, 3, 0), vec![Step::Poll; 3]);
        assert_eq!(g.idle(|| 1_000_000), Step::Poll);
        assert_eq!(g.idle(|| 1_001_000), Step::Block);
    }

    #[test]
    fn work_resets_the_streak_and_the_quiet_period() {
        let mut g = Governor::new(2, 100);
        assert_eq!(idle_n(&mut g, 2, 0), vec![Step::Poll; 2]);
        g.busy(1);
        // A new streak: the clock is not read on its first poll, and the
        // quiet period restarts at the second.
        assert_eq!(g.idle(|| panic!("clock read too early")), Step::Poll);
        assert_eq!(g.idle(|| 150), Step::Poll);
        assert_eq!(g.idle(|| 249), Step::Poll);
        assert_eq!(g.idle(|| 250), Step::Block);
    }

    #[test]
    fn a_wakeup_starts_over() {
        let mut g = Governor::new(2, 100);
        assert_eq!(idle_n(&mut g, 2, 0), vec![Step::Poll; 2]);
        assert_eq!(g.idle(|| 100), Step::Block);
        g.woke();
        assert_eq!(g.idle(|| panic!("clock read too early")), Step::Poll);
        assert_eq!(g.idle(|| 5000), Step::Poll, "the quiet restarts");
        assert_eq!(g.idle(|| 5100), Step::Block);
    }

    #[test]
    fn zero_quiet_blocks_at_the_end_of_the_streak() {
        let mut g = Governor::new(3, 0);
        assert_eq!(idle_n(&mut g, 2, 0), vec![Step::Poll; 2]);
        assert_eq!(g.idle(|| 7), Step::Block);
        // One iteration minimum is kept even when 0 is asked.
        let mut g = Governor::new(0, 0);
        assert_eq!(g.idle(|| 0), Step::Block);
    }

    #[test]
    fn a_wakeup_into_a_backlog_lengthens_the_quiet_and_small_ones_shorten_it() {
        let mut g = Governor::new(1, 100);
        let wake_finding = |g: &mut Governor, frames: u64| {
            g.woke();
            g.busy(frames);
            g.idle(|| 0)
        };
        // Each wake-up into a backlog doubles the quiet time.
        wake_finding(&mut g, BACKLOG_FRAMES);
        assert_eq!(g.quiet_ns(), 200);
        wake_finding(&mut g, 1000);
        assert_eq!(g.quiet_ns(), 400);
        assert_eq!(g.idle(|| 399), Step::Poll, "polls through a short pause");
        assert_eq!(g.idle(|| 400), Step::Block);
        // Never past the ceiling.
        for _ in 0..40 {
            wake_finding(&mut g, 5000);
        }
        assert_eq!(g.quiet_ns(), MAX_QUIET_NS);
        // A wake-up for a ping halves it, down to the configured time.
        wake_finding(&mut g, 1);
        assert_eq!(g.quiet_ns(), MAX_QUIET_NS / 2);
        for _ in 0..40 {
            wake_finding(&mut g, 1);
        }
        assert_eq!(g.quiet_ns(), 100);
        // Busy polls without a wake-up change nothing.
        g.busy(10_000);
        g.idle(|| 0);
        assert_eq!(g.quiet_ns(), 100);
    }
}
