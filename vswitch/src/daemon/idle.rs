//! When an adaptive worker stops busy-polling and blocks: the hysteresis,
//! as pure logic over a clock the caller passes in (so it is tested
//! without timing).
//!
//! A worker that finds work resets the governor. Each empty poll counts;
//! the clock is not read until `min_idle_iterations` empty polls came in a
//! row (so a busy worker never reads it), and the worker blocks once the
//! queues have also been quiet for `quiet_ns` since then. A wake-up resets
//! the governor, so a woken worker busy-polls a full quiet period again
//! before it blocks: the reply to the frame that woke it (a ping's echo
//! reply a few tens of microseconds later) is caught by polling, without a
//! second wake-up.

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
    quiet_ns: u64,
    streak: u32,
    quiet_since: Option<u64>,
}

impl Governor {
    /// Blocks after `min_idle_iterations` empty polls spanning `quiet_ns`.
    pub fn new(min_idle_iterations: u32, quiet_ns: u64) -> Governor {
        Governor {
            min_idle_iterations: min_idle_iterations.max(1),
            quiet_ns,
            streak: 0,
            quiet_since: None,
        }
    }

    /// A poll found work.
    #[inline]
    pub fn busy(&mut self) {
        self.streak = 0;
        self.quiet_since = None;
    }

    /// A poll found nothing; `now_ns` is read only once the streak is long
    /// enough.
    #[inline]
    pub fn idle(&mut self, now_ns: impl FnOnce() -> u64) -> Step {
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

    /// The worker woke (or found work while arming): start over.
    pub fn woke(&mut self) {
        self.busy();
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
        g.busy();
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
}
