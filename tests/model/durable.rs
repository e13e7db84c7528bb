//! A naive reference model of what a durable broker keeps across a reopen (STYLE 11), written
//! from SEMANTICS S2, S3, Q2, Q9, Q10, A5 and A10, for the proptest in
//! `tests/integration/durability.rs`.
//!
//! What it models: three queue names, each absent or a queue that is durable or not; ready
//! messages in order, each persistent or transient, with its `redelivered` flag and its failed
//! and returned counts. Operations: declare (a redeclare with the other durability → 406, Q2),
//! publish to the default exchange (a missing queue drops it), get with ack or no-ack (the head
//! leaves for good), get then nack or reject with requeue (the head goes back to its place,
//! `redelivered`, returned or failed + 1), purge and delete (their counts; purge of a missing
//! queue → 404, delete is idempotent), and a reopen, clean or after a crash.
//!
//! A reopen keeps the durable queues and, in them, the persistent messages in order, flags and
//! counts as they were (S2, A10); after a crash every message is `redelivered` (S3). The runner
//! syncs everything before a crash image (a confirmed publish to another durable queue covers
//! every record before it), so nothing acked may come back and nothing enqueued may be lost.
//!
//! It models no consumers, bindings, exclusive queues, arguments or unacked deliveries held
//! across operations: every get is settled at once.

use std::collections::VecDeque;

/// The queue names the operations pick from.
pub(crate) const QUEUES: [&str; 3] = ["q0", "q1", "q2"];

/// One operation; `q` indexes [`QUEUES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Declare {
        q: usize,
        durable: bool,
    },
    Publish {
        q: usize,
        persistent: bool,
    },
    /// `basic_get`, then `basic_ack` unless `no_ack`.
    Get {
        q: usize,
        no_ack: bool,
    },
    /// `basic_get`, then `basic_nack` with requeue.
    NackRequeue {
        q: usize,
    },
    /// `basic_get`, then `basic_reject` with requeue.
    RejectRequeue {
        q: usize,
    },
    Purge {
        q: usize,
    },
    Delete {
        q: usize,
    },
    /// Close cleanly and open the directory again.
    Reopen,
    /// Sync, copy the log of the open broker and open the copy (an unclean stop).
    Crash,
}

/// A message as a queue holds it, or as it was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Msg {
    /// Unique per run; the body is its decimal text.
    pub(crate) id: u64,
    pub(crate) persistent: bool,
    pub(crate) redelivered: bool,
    pub(crate) failed: u32,
    pub(crate) returned: u32,
}

/// A queue.
#[derive(Clone, Debug, Default)]
pub(crate) struct Queue {
    pub(crate) durable: bool,
    pub(crate) ready: VecDeque<Msg>,
}

/// The model broker. See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Model {
    pub(crate) queues: [Option<Queue>; 3],
    next_id: u64,
}

/// A channel error's reply code (the channel closes, SEMANTICS F2).
pub(crate) type Code = u16;

impl Model {
    pub(crate) fn new() -> Model {
        Model::default()
    }

    /// SEMANTICS Q1, Q2: creates the queue if absent; the other durability → 406.
    pub(crate) fn declare(&mut self, q: usize, durable: bool) -> Result<(), Code> {
        match &self.queues[q] {
            Some(have) if have.durable != durable => Err(406),
            Some(_) => Ok(()),
            None => {
                self.queues[q] = Some(Queue {
                    durable,
                    ready: VecDeque::new(),
                });
                Ok(())
            }
        }
    }

    /// SEMANTICS E2, P2: publishes to the queue by name; returns the message's id and whether
    /// a queue took it.
    pub(crate) fn publish(&mut self, q: usize, persistent: bool) -> (u64, bool) {
        self.next_id += 1;
        let id = self.next_id;
        let routed = match &mut self.queues[q] {
            Some(queue) => {
                queue.ready.push_back(Msg {
                    id,
                    persistent,
                    redelivered: false,
                    failed: 0,
                    returned: 0,
                });
                true
            }
            None => false,
        };
        (id, routed)
    }

    fn queue(&mut self, q: usize) -> Result<&mut Queue, Code> {
        self.queues[q].as_mut().ok_or(404)
    }

    /// SEMANTICS D9 then A2: the head leaves for good (ack or no-ack alike).
    pub(crate) fn get(&mut self, q: usize) -> Result<Option<Msg>, Code> {
        Ok(self.queue(q)?.ready.pop_front())
    }

    /// SEMANTICS D9 then A4, A5, A10: the head as delivered; it goes back to its place,
    /// redelivered, with returned (nack) or failed (reject) + 1.
    pub(crate) fn get_requeue(&mut self, q: usize, nack: bool) -> Result<Option<Msg>, Code> {
        let Some(head) = self.queue(q)?.ready.front_mut() else {
            return Ok(None);
        };
        let delivered = *head;
        head.redelivered = true;
        if nack {
            head.returned += 1;
        } else {
            head.failed += 1;
        }
        Ok(Some(delivered))
    }

    /// SEMANTICS Q10: removes the ready messages; their number. A missing queue → 404.
    pub(crate) fn purge(&mut self, q: usize) -> Result<u32, Code> {
        let queue = self.queue(q)?;
        let n = queue.ready.len();
        queue.ready.clear();
        Ok(u32::try_from(n).unwrap())
    }

    /// SEMANTICS Q9: idempotent; the ready count.
    pub(crate) fn delete(&mut self, q: usize) -> u32 {
        self.queues[q]
            .take()
            .map_or(0, |queue| u32::try_from(queue.ready.len()).unwrap())
    }

    /// SEMANTICS S2, S3: what a reopen finds. Durable queues stay with their persistent
    /// messages, in order; after a crash every one is redelivered.
    pub(crate) fn reopen(&mut self, crash: bool) {
        for slot in &mut self.queues {
            if slot.as_ref().is_some_and(|queue| !queue.durable) {
                *slot = None;
            }
            if let Some(queue) = slot {
                queue.ready.retain(|m| m.persistent);
                if crash {
                    for m in &mut queue.ready {
                        m.redelivered = true;
                    }
                }
            }
        }
    }

    /// The ready count of queue `q`, if it exists.
    pub(crate) fn ready(&self, q: usize) -> Option<usize> {
        self.queues[q].as_ref().map(|queue| queue.ready.len())
    }
}
