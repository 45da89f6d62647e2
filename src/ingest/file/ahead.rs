//! Decoding records ahead on a small pool of threads while the reader reads the next ones:
//! a file's records (protobuf messages, JSON lines) are independent, so both cores can decode
//! while the store applies. Results come back in input order; at most `IN_FLIGHT` records are
//! out at once, so memory stays bounded whatever the file's size.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Decoder threads: the machines this runs on have few cores, and the store and the analysis
/// need theirs too.
const DECODERS: usize = 2;

/// Records handed out and not yet taken back, over all decoders.
pub(super) const IN_FLIGHT: usize = 2 * DECODERS;

/// A decoder thread ended without answering (a panic in a decoder): its record is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lost;

pub(super) struct Ahead<I, O> {
    workers: Vec<(SyncSender<I>, Receiver<O>)>,
    handles: Vec<JoinHandle<()>>,
    sent: usize,
    taken: usize,
}

impl<I: Send + 'static, O: Send + 'static> Ahead<I, O> {
    pub(super) fn new(decode: fn(I) -> O) -> Self {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(DECODERS));
        let mut workers = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            // Round robin: one decoder never holds more than IN_FLIGHT, so sends never block.
            let (in_tx, in_rx) = sync_channel::<I>(IN_FLIGHT);
            let (out_tx, out_rx) = sync_channel::<O>(IN_FLIGHT);
            let spawned = std::thread::Builder::new()
                .name("spantop-decode".to_owned())
                .spawn(move || {
                    for item in in_rx {
                        if out_tx.send(decode(item)).is_err() {
                            return;
                        }
                    }
                });
            // Without threads (a process limit), the caller's thread decodes (`push`).
            if let Ok(h) = spawned {
                workers.push((in_tx, out_rx));
                handles.push(h);
            }
        }
        Ahead {
            workers,
            handles,
            sent: 0,
            taken: 0,
        }
    }

    /// Hands `item` to the next decoder; once `IN_FLIGHT` are out, first takes back the oldest
    /// result, which the caller handles before reading on.
    pub(super) fn push(&mut self, item: I, decode: fn(I) -> O) -> Option<Result<O, Lost>> {
        if self.workers.is_empty() {
            return Some(Ok(decode(item)));
        }
        let oldest = (self.sent - self.taken >= IN_FLIGHT)
            .then(|| self.pop())
            .flatten();
        let (tx, _) = &self.workers[self.sent % self.workers.len()];
        // A send fails only if that decoder is gone; `pop` then reports the record lost.
        let _ = tx.send(item);
        self.sent += 1;
        oldest
    }

    /// The oldest result not yet taken, or `None` when all are taken.
    pub(super) fn pop(&mut self) -> Option<Result<O, Lost>> {
        if self.taken == self.sent {
            return None;
        }
        let (_, rx) = &self.workers[self.taken % self.workers.len()];
        self.taken += 1;
        Some(rx.recv().map_err(|_| Lost))
    }
}

impl<I, O> Drop for Ahead<I, O> {
    fn drop(&mut self) {
        // Closing the inputs ends the threads once they have answered what they hold.
        self.workers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow_square(x: u64) -> u64 {
        // Later items finish first on the other decoder: order must come from the pool.
        std::thread::sleep(std::time::Duration::from_micros(200 * (x % 3)));
        x * x
    }

    #[test]
    fn results_come_back_in_input_order_with_a_bounded_number_out() {
        let mut ahead = Ahead::new(slow_square);
        let mut got = Vec::new();
        for x in 0..50u64 {
            if let Some(r) = ahead.push(x, slow_square) {
                got.push(r.expect("decoded"));
            }
            assert!(ahead.sent - ahead.taken <= IN_FLIGHT);
        }
        while let Some(r) = ahead.pop() {
            got.push(r.expect("decoded"));
        }
        assert_eq!(got, (0..50u64).map(|x| x * x).collect::<Vec<_>>());
    }

    fn panics_on_three(x: u64) -> u64 {
        assert_ne!(x, 3, "bad record");
        x
    }

    #[test]
    fn a_decoder_that_dies_loses_its_records_not_the_others_order() {
        let mut ahead = Ahead::new(panics_on_three);
        let mut got = Vec::new();
        for x in 0..8u64 {
            got.extend(ahead.push(x, panics_on_three));
        }
        while let Some(r) = ahead.pop() {
            got.push(r);
        }
        assert_eq!(got.len(), 8);
        assert_eq!(got[..3], [Ok(0), Ok(1), Ok(2)]);
        assert_eq!(got[3], Err(Lost));
        if ahead.workers.len() == 2 {
            // Records 5 and 7 went to the dead decoder too; the others decoded in order.
            assert_eq!(got[4], Ok(4));
            assert_eq!(got[6], Ok(6));
            assert_eq!(got[5], Err(Lost));
        }
    }
}
