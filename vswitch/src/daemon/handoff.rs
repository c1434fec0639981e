//! Frames one worker sends out of a port another worker owns.
//!
//! Each port's handles belong to one worker, which alone receives and sends
//! on them. Another worker that forwards a frame to that port writes it
//! (egress edits done) into a buffer from its own pool and pushes it into
//! the owner's inbox; the owner copies it to the port on its next loop and
//! returns the buffer to the sender's pool. Pools and inboxes are bounded
//! lock-free queues allocated at start: no lock, no allocation per frame.
//! A sender whose pool is empty counts a `tx_queue_full` drop.
//!
//! The sender does not count a handed-off frame as sent: its stand-in
//! reports it neither sent nor refused, and the owner counts it when its
//! port reports it sent (or refused). A frame the owner's inbox has no room
//! for is refused by the stand-in, so the sender counts that drop.
//!
//! Each worker has a [`Doorbell`] here too. A worker that blocks (adaptive
//! idle) arms its doorbell first; a stand-in that handed frames over rings
//! the owner's doorbell on flush, once per batch, and only makes the system
//! call when the owner is armed. The control thread rings it for
//! configuration updates and the stop.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use vswitch_pipeline::PortId;
use vswitch_ports::wait::Doorbell;
use vswitch_ports::{Port, PortError, RxBatch, TxDone, FRAME_CAPACITY};

/// Buffers each worker may have in flight to other workers.
pub const HANDOFF_BUFFERS_PER_WORKER: usize = 1024;

/// A frame in flight between workers.
pub struct Handoff {
    buf: Box<[u8]>,
    len: usize,
    port: PortId,
    from: usize,
}

/// The inboxes and buffer pools of all workers.
pub struct Mailboxes {
    inboxes: Vec<ArrayQueue<Handoff>>,
    pools: Vec<ArrayQueue<Box<[u8]>>>,
    doorbells: Vec<Doorbell>,
}

impl Mailboxes {
    /// Mailboxes for `workers` workers, with a doorbell each. Allocates
    /// every buffer now. Fails only when no eventfd can be made.
    pub fn new(workers: usize) -> std::io::Result<Arc<Mailboxes>> {
        let doorbells = (0..workers)
            .map(|_| Doorbell::new())
            .collect::<std::io::Result<Vec<_>>>()?;
        let pools = (0..workers)
            .map(|_| {
                let pool = ArrayQueue::new(HANDOFF_BUFFERS_PER_WORKER);
                for _ in 0..HANDOFF_BUFFERS_PER_WORKER {
                    let _ = pool.push(vec![0u8; FRAME_CAPACITY].into_boxed_slice());
                }
                pool
            })
            .collect();
        // An inbox can hold every buffer of every other worker, so a push
        // never fails.
        let inboxes = (0..workers)
            .map(|_| ArrayQueue::new(HANDOFF_BUFFERS_PER_WORKER * workers.max(1)))
            .collect();
        Ok(Arc::new(Mailboxes {
            inboxes,
            pools,
            doorbells,
        }))
    }

    /// The doorbell of `worker`.
    pub fn doorbell(&self, worker: usize) -> Option<&Doorbell> {
        self.doorbells.get(worker)
    }

    /// Wakes `worker` whether it is blocked or not (updates, the stop).
    pub fn wake(&self, worker: usize) {
        if let Some(bell) = self.doorbells.get(worker) {
            bell.ring();
        }
    }

    /// True when frames wait in `worker`'s inbox.
    pub fn has_mail(&self, worker: usize) -> bool {
        self.inboxes.get(worker).is_some_and(|i| !i.is_empty())
    }

    /// Takes up to `max` frames from `worker`'s inbox, calling `deliver`
    /// with each (port, bytes), and recycles their buffers. Returns how
    /// many were taken.
    pub fn drain(
        &self,
        worker: usize,
        max: usize,
        mut deliver: impl FnMut(PortId, &[u8]),
    ) -> usize {
        let Some(inbox) = self.inboxes.get(worker) else {
            return 0;
        };
        let mut taken = 0;
        while taken < max {
            let Some(h) = inbox.pop() else { break };
            deliver(h.port, h.buf.get(..h.len).unwrap_or(&[]));
            if let Some(pool) = self.pools.get(h.from) {
                let _ = pool.push(h.buf);
            }
            taken += 1;
        }
        taken
    }
}

/// The stand-in, in one worker, for a port another worker owns.
pub struct RemotePort {
    name: String,
    port: PortId,
    me: usize,
    owner: usize,
    boxes: Arc<Mailboxes>,
    current: Option<Box<[u8]>>,
    /// Frames refused since the last flush.
    tx_done: TxDone,
    /// Frames handed over since the last flush.
    handed: bool,
}

impl RemotePort {
    /// Worker `me`'s way to send out of `port` (called `name`), owned by
    /// worker `owner`.
    pub fn new(
        name: &str,
        port: PortId,
        me: usize,
        owner: usize,
        boxes: Arc<Mailboxes>,
    ) -> RemotePort {
        RemotePort {
            name: name.to_string(),
            port,
            me,
            owner,
            boxes,
            current: None,
            tx_done: TxDone::default(),
            handed: false,
        }
    }
}

impl Drop for RemotePort {
    fn drop(&mut self) {
        if let (Some(buf), Some(pool)) = (self.current.take(), self.boxes.pools.get(self.me)) {
            let _ = pool.push(buf);
        }
    }
}

impl Port for RemotePort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, _batch: &mut RxBatch) -> Result<usize, PortError> {
        Ok(0)
    }

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        if self.current.is_none() {
            self.current = self.boxes.pools.get(self.me)?.pop();
        }
        self.current.as_deref_mut()
    }

    fn tx_commit(&mut self, len: usize, _timestamp_ns: u64) {
        let Some(buf) = self.current.take() else {
            return;
        };
        let handoff = Handoff {
            len: len.min(buf.len()),
            buf,
            port: self.port,
            from: self.me,
        };
        let refused = match self.boxes.inboxes.get(self.owner) {
            Some(inbox) => inbox.push(handoff).err(),
            None => Some(handoff),
        };
        let Some(h) = refused else {
            self.handed = true;
            return;
        };
        self.current = Some(h.buf);
        self.tx_done.refused += 1;
        if self.tx_done.error.is_none() {
            self.tx_done.error = Some(PortError::io(
                format!(
                    "cannot hand a frame for port {} to worker {}",
                    self.name, self.owner
                ),
                std::io::Error::other("its inbox is full"),
            ));
        }
    }

    /// Reports only refusals: the owner reports the frames handed off.
    /// Wakes the owner if it is blocked and frames were handed over.
    fn tx_flush(&mut self) -> TxDone {
        if std::mem::take(&mut self.handed) {
            if let Some(bell) = self.boxes.doorbells.get(self.owner) {
                bell.ring_if_armed();
            }
        }
        std::mem::take(&mut self.tx_done)
    }

    /// Nothing is received on a stand-in.
    fn wakeup(&self) -> vswitch_ports::Wakeup {
        vswitch_ports::Wakeup::Never
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn frames_cross_and_buffers_come_back() {
        let boxes = Mailboxes::new(2).unwrap();
        let mut remote = RemotePort::new("p", 7, 0, 1, boxes.clone());
        for i in 0..3u8 {
            let slot = remote.tx_slot().unwrap();
            slot[..2].copy_from_slice(&[i, i]);
            remote.tx_commit(2, 0);
        }
        let mut got = Vec::new();
        assert_eq!(
            boxes.drain(1, 10, |port, f| got.push((port, f.to_vec()))),
            3
        );
        assert_eq!(got, vec![(7, vec![0, 0]), (7, vec![1, 1]), (7, vec![2, 2])]);
        assert_eq!(boxes.pools[0].len(), HANDOFF_BUFFERS_PER_WORKER);
        let done = remote.tx_flush();
        assert_eq!((done.sent, done.refused), (0, 0), "the owner counts them");
    }

    #[test]
    fn full_inbox_refuses_and_keeps_the_buffer() {
        let boxes = Mailboxes::new(2).unwrap();
        let inbox = &boxes.inboxes[1];
        while inbox
            .push(Handoff {
                buf: Box::new([]),
                len: 0,
                port: 0,
                from: 1,
            })
            .is_ok()
        {}
        let mut remote = RemotePort::new("p", 0, 0, 1, boxes.clone());
        for _ in 0..3 {
            assert!(remote.tx_slot().is_some());
            remote.tx_commit(1, 0);
        }
        let done = remote.tx_flush();
        assert_eq!((done.sent, done.refused), (0, 3));
        let text = done.error.expect("why").to_string();
        assert!(text.contains("worker 1") && text.contains("full"), "{text}");
        assert_eq!(remote.tx_flush().refused, 0, "each frame is reported once");
        drop(remote);
        assert_eq!(boxes.pools[0].len(), HANDOFF_BUFFERS_PER_WORKER);
    }

    #[test]
    fn a_flush_that_handed_frames_rings_an_armed_owner_once() {
        let boxes = Mailboxes::new(2).unwrap();
        let bell = boxes.doorbell(1).unwrap();
        let mut set = vswitch_ports::wait::EventSet::new().unwrap();
        set.add(bell.raw_fd()).unwrap();
        let mut remote = RemotePort::new("p", 0, 0, 1, boxes.clone());
        let send = |remote: &mut RemotePort| {
            assert!(remote.tx_slot().is_some());
            remote.tx_commit(1, 0);
            let _ = remote.tx_flush();
        };
        // The owner polls: no system call, nothing rung.
        send(&mut remote);
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
        assert!(boxes.has_mail(1));
        // The owner blocks: the next hand-off rings, once.
        bell.arm();
        send(&mut remote);
        assert!(!bell.is_armed());
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 1);
        bell.clear();
        // A flush with nothing handed over rings nothing.
        bell.arm();
        let _ = remote.tx_flush();
        assert!(bell.is_armed());
        assert_eq!(set.wait(Duration::ZERO, |_| {}).unwrap(), 0);
    }

    #[test]
    fn empty_pool_gives_no_slot() {
        let boxes = Mailboxes::new(2).unwrap();
        let mut remote = RemotePort::new("p", 0, 0, 1, boxes.clone());
        for _ in 0..HANDOFF_BUFFERS_PER_WORKER {
            assert!(remote.tx_slot().is_some());
            remote.tx_commit(1, 0);
        }
        assert!(remote.tx_slot().is_none());
        boxes.drain(1, usize::MAX, |_, _| {});
        assert!(remote.tx_slot().is_some());
    }
}
