//! What a poll-mode worker needs to block when its ports are quiet and to
//! wake on the first frame: an [`EventSet`] (epoll) over the descriptors
//! its ports report through [`crate::Port::wakeup`], and a [`Doorbell`]
//! (an eventfd) that other threads ring to wake it for work that comes by
//! no descriptor (frames handed over by another worker, a configuration
//! update, a stop).
//!
//! A doorbell costs nothing while its worker polls: the worker *arms* it
//! just before it blocks, and [`Doorbell::ring_if_armed`] is an atomic load
//! unless the worker is asleep, so a sender rings (one `write`) only when
//! it must. The worker arms, then checks for work once more, then blocks;
//! the sender publishes its work, then checks the arm. Both sides put a
//! sequentially consistent fence between their two steps, so at least one
//! of them sees the other: either the worker sees the work and does not
//! block, or the sender sees the arm and rings.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::time::Duration;

/// An eventfd that wakes one blocked worker.
#[derive(Debug)]
pub struct Doorbell {
    fd: OwnedFd,
    armed: AtomicBool,
}

impl Doorbell {
    /// A new, unarmed doorbell (a non-blocking eventfd).
    pub fn new() -> io::Result<Doorbell> {
        // SAFETY: eventfd takes no pointers; the result is checked.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: eventfd just returned this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Doorbell {
            fd,
            armed: AtomicBool::new(false),
        })
    }

    /// The descriptor to put in the worker's [`EventSet`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// [`Doorbell::fd`], as a number (what [`EventSet::wait`] reports).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Called by the worker before its last check for work: from now on
    /// [`Doorbell::ring_if_armed`] rings.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Called by the worker once awake (or when it decided not to block).
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
    }

    /// Whether the worker is (about to be) blocked.
    pub fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    /// Called by a thread after it published work for the worker: rings
    /// if the worker is blocked or about to block, once per sleep.
    pub fn ring_if_armed(&self) {
        fence(Ordering::SeqCst);
        if self.armed.load(Ordering::Relaxed) && self.armed.swap(false, Ordering::AcqRel) {
            self.ring();
        }
    }

    /// Rings whatever the worker does (a stop, a configuration update:
    /// rare, so the system call does not matter). A worker that is not
    /// blocked finds the doorbell rung when it next blocks and goes round
    /// its loop once more.
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, alive during the call, to
        // the eventfd this doorbell owns. A full counter (EAGAIN) means it
        // is rung already.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Resets the doorbell after it woke the worker.
    pub fn clear(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads at most 8 bytes into `value`, alive and writable
        // during the call, from the eventfd this doorbell owns; EAGAIN
        // (not rung) leaves it untouched.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut value as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}

/// Most events one [`EventSet::wait`] reports.
const MAX_EVENTS: usize = 32;

/// An epoll set of descriptors to wait on, level-triggered for input.
#[derive(Debug)]
pub struct EventSet {
    epoll: OwnedFd,
    fds: Vec<RawFd>,
}

impl EventSet {
    /// An empty set.
    pub fn new() -> io::Result<EventSet> {
        // SAFETY: epoll_create1 takes no pointers; the result is checked.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: epoll_create1 just returned this descriptor to us alone.
        let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(EventSet {
            epoll,
            fds: Vec::new(),
        })
    }

    /// Adds `raw` for good: every wait ends when it is readable. Adding a
    /// descriptor twice is not an error; a closed one is (EBADF). Closing
    /// a descriptor removes it silently.
    ///
    /// A descriptor in an epoll set keeps epoll's callback on its wait
    /// queue, which then runs on every wake-up of the file, even while
    /// nobody waits: for a socket that receives a million frames a second
    /// that costs the sender. Watch such descriptors with
    /// [`EventSet::wait_with`] instead, for the waits only.
    pub fn add(&mut self, raw: RawFd) -> io::Result<()> {
        if self.fds.contains(&raw) {
            return Ok(());
        }
        self.ctl(libc::EPOLL_CTL_ADD, raw)?;
        self.fds.push(raw);
        Ok(())
    }

    /// Takes `raw` out of the set. Remove a descriptor before closing it
    /// when its number may come back (an accepted connection): the set
    /// would otherwise take the new descriptor for one it already has.
    pub fn remove(&mut self, raw: RawFd) -> io::Result<()> {
        let Some(at) = self.fds.iter().position(|&fd| fd == raw) else {
            return Ok(());
        };
        self.fds.swap_remove(at);
        self.ctl_events(libc::EPOLL_CTL_DEL, raw, 0)
    }

    /// Makes waits end when `raw`, already in the set, is writable instead
    /// of readable (`true`: a reply waits for room), or readable again
    /// (`false`). Hang-ups and errors end waits either way.
    pub fn watch_writable(&mut self, raw: RawFd, writable: bool) -> io::Result<()> {
        let events = if writable {
            libc::EPOLLOUT
        } else {
            libc::EPOLLIN
        };
        self.ctl_events(libc::EPOLL_CTL_MOD, raw, events as u32)
    }

    fn ctl(&self, op: libc::c_int, raw: RawFd) -> io::Result<()> {
        self.ctl_events(op, raw, libc::EPOLLIN as u32)
    }

    fn ctl_events(&self, op: libc::c_int, raw: RawFd, events: u32) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events,
            u64: raw as u64,
        };
        // SAFETY: `event` is a valid epoll_event alive during the call; the
        // epoll descriptor is ours. A descriptor that is not open is an
        // error (EBADF), nothing worse.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, raw, &mut event) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// [`EventSet::wait`], watching also `extra` (distinct descriptors, not
    /// in the set) for this wait only: they are added before it, each
    /// checked for readiness as it is added (level-triggered: a frame that
    /// came before is not missed), and removed after it.
    pub fn wait_with(
        &mut self,
        extra: &[RawFd],
        timeout: Duration,
        ready: impl FnMut(RawFd),
    ) -> io::Result<usize> {
        let mut added = 0;
        let mut result = Ok(0);
        for &fd in extra {
            if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, fd) {
                result = Err(e);
                break;
            }
            added += 1;
        }
        if result.is_ok() {
            result = self.wait(timeout, ready);
        }
        for &fd in &extra[..added] {
            let _ = self.ctl(libc::EPOLL_CTL_DEL, fd);
        }
        result
    }

    /// How many descriptors are in the set.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Blocks until a descriptor of the set is readable or `timeout`
    /// passes; returns the descriptors that are ready through `ready`, and
    /// how many there were (0: the timeout passed, or a signal came).
    pub fn wait(&mut self, timeout: Duration, mut ready: impl FnMut(RawFd)) -> io::Result<usize> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        let ms = timeout.as_millis().clamp(0, i32::MAX as u128) as libc::c_int;
        // SAFETY: `events` is a writable array of MAX_EVENTS epoll_events,
        // alive during the call; the kernel writes at most that many.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(err);
        }
        let n = n as usize;
        for event in events.iter().take(n) {
            let data = event.u64;
            ready(data as RawFd);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rung_doorbell_ends_a_wait_and_clears() {
        let bell = Doorbell::new().unwrap();
        let mut set = EventSet::new().unwrap();
        set.add(bell.raw_fd()).unwrap();
        set.add(bell.raw_fd()).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
        bell.ring();
        let mut seen = Vec::new();
        assert_eq!(
            set.wait(Duration::from_secs(5), |fd| seen.push(fd))
                .unwrap(),
            1
        );
        assert_eq!(seen, vec![bell.raw_fd()]);
        bell.clear();
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
    }

    #[test]
    fn descriptors_watched_for_one_wait_only() {
        let (bell, other) = (Doorbell::new().unwrap(), Doorbell::new().unwrap());
        let mut set = EventSet::new().unwrap();
        set.add(bell.raw_fd()).unwrap();
        // Rung before the wait: seen when it is added.
        other.ring();
        let mut seen = Vec::new();
        let n = set
            .wait_with(&[other.raw_fd()], Duration::from_secs(5), |fd| {
                seen.push(fd)
            })
            .unwrap();
        assert_eq!((n, seen), (1, vec![other.raw_fd()]));
        // Removed after the wait: still readable, but not watched.
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
        // And can be watched again.
        assert_eq!(
            set.wait_with(&[other.raw_fd()], Duration::ZERO, |_| {})
                .unwrap(),
            1
        );
        // A descriptor that cannot be added is an error, and the set is
        // left as it was.
        assert!(set.wait_with(&[-1], Duration::ZERO, |_| {}).is_err());
        bell.ring();
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 1);
    }

    #[test]
    fn removed_and_write_watched_descriptors() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut set = EventSet::new().unwrap();
        set.add(a.as_raw_fd()).unwrap();
        // Writable but nothing to read: a wait for input sees nothing.
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
        set.watch_writable(a.as_raw_fd(), true).unwrap();
        let mut seen = Vec::new();
        assert_eq!(set.wait(Duration::ZERO, |fd| seen.push(fd)).unwrap(), 1);
        assert_eq!(seen, vec![a.as_raw_fd()]);
        set.watch_writable(a.as_raw_fd(), false).unwrap();
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
        std::io::Write::write_all(&mut &b, b"x").unwrap();
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 1);
        set.remove(a.as_raw_fd()).unwrap();
        assert!(set.is_empty());
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
        // Removing what is not there is not an error; adding it back works.
        set.remove(a.as_raw_fd()).unwrap();
        set.add(a.as_raw_fd()).unwrap();
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 1);
    }

    #[test]
    fn ring_if_armed_rings_only_an_armed_doorbell_once() {
        let bell = Doorbell::new().unwrap();
        let mut set = EventSet::new().unwrap();
        set.add(bell.raw_fd()).unwrap();
        bell.ring_if_armed();
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0, "not armed");
        bell.arm();
        assert!(bell.is_armed());
        bell.ring_if_armed();
        assert!(!bell.is_armed(), "ringing disarms");
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 1);
        bell.clear();
        bell.ring_if_armed();
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
    }
}
