//! Which records are fully applied, so that a shard's checkpoint never passes a record whose
//! writes are not committed — while the work records cause is coalesced across records and
//! shards and may finish out of order (a delayed NotFound retry holds back only its own shard).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use trailsync_core::SequenceNumber;

/// One record's claim on the work it caused; the record is applied when all its tickets are
/// done. Dropping one without [`Ledger::done`] holds the shard's checkpoint back forever.
#[must_use = "a ticket that is never done holds its shard's checkpoint back"]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Ticket {
    shard: Arc<str>,
    serial: u64,
}

#[derive(Debug)]
struct Entry {
    sequence_number: SequenceNumber,
    pending: u32,
}

#[derive(Debug, Default)]
struct ShardLog {
    /// The lease epoch the records were read under, written with their checkpoints.
    epoch: u64,
    /// Serial number of `entries[0]`.
    first: u64,
    entries: VecDeque<Entry>,
    /// The reader reached the end of the closed shard; the checkpoint that marks it finished.
    end: Option<Option<SequenceNumber>>,
    /// The reader stopped to hand the shard over; released once every record is applied.
    releasing: bool,
}

/// What may be committed now.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Advance {
    /// (shard, lease epoch, sequence number) checkpoints covering only applied records.
    pub checkpoints: Vec<(String, u64, SequenceNumber)>,
    /// Shards read to their end whose every record is applied: drained once this commits.
    pub drained: Vec<String>,
    /// Shards being handed over whose every record is applied: released once this commits.
    pub released: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    shards: HashMap<Arc<str>, ShardLog>,
}

impl Ledger {
    /// Registers a record read under the lease at `epoch`, in shard order; it is applied once
    /// every [`Ledger::wait`] on its ticket is matched by a [`Ledger::done`]. `None` for a
    /// record of a lease given up ([`Ledger::is_stale`]).
    pub(crate) fn record(
        &mut self,
        shard: &Arc<str>,
        epoch: u64,
        sequence_number: SequenceNumber,
    ) -> Option<Ticket> {
        if self.is_stale(shard, epoch) {
            return None;
        }
        let log = self.log(shard, epoch);
        let serial = log.first + log.entries.len() as u64;
        log.entries.push_back(Entry {
            sequence_number,
            pending: 0,
        });
        Some(Ticket {
            shard: shard.clone(),
            serial,
        })
    }

    /// Whether input read under `epoch` comes from a lease this worker no longer holds (a
    /// reader that was still finishing when its shard was forgotten or taken again): it is
    /// passed over, never mixed into the newer lease's log.
    pub(crate) fn is_stale(&self, shard: &str, epoch: u64) -> bool {
        self.shards.get(shard).is_some_and(|log| epoch < log.epoch)
    }

    /// The record waits for one more piece of work.
    pub(crate) fn wait(&mut self, ticket: &Ticket) {
        if let Some(entry) = self.entry(ticket) {
            entry.pending += 1;
        }
    }

    /// One piece of work the record waited for is committed (or given up on).
    pub(crate) fn done(&mut self, ticket: &Ticket) {
        if let Some(entry) = self.entry(ticket) {
            entry.pending = entry.pending.saturating_sub(1);
        }
    }

    /// The shard's reader reached its end; `final_sequence` is the checkpoint that says so.
    pub(crate) fn end(
        &mut self,
        shard: &Arc<str>,
        epoch: u64,
        final_sequence: Option<SequenceNumber>,
    ) {
        if !self.is_stale(shard, epoch) {
            self.log(shard, epoch).end = Some(final_sequence);
        }
    }

    /// The shard's reader stopped to hand it over: it is released once its records are applied.
    pub(crate) fn release(&mut self, shard: &Arc<str>) {
        match self.shards.get_mut(shard) {
            Some(log) => log.releasing = true,
            // Nothing read: released at the next advance.
            None => {
                self.shards.insert(
                    shard.clone(),
                    ShardLog {
                        releasing: true,
                        ..ShardLog::default()
                    },
                );
            }
        }
    }

    /// Forgets a shard whose lease was lost: its records will never be checkpointed here, and
    /// the work they wait for finishes without holding anything back.
    /// What was read under the lost epoch and arrives late is passed over from now on.
    pub(crate) fn forget(&mut self, shard: &str) {
        if let Some(log) = self.shards.get_mut(shard) {
            *log = ShardLog {
                epoch: log.epoch + 1,
                first: log.first + log.entries.len() as u64,
                ..ShardLog::default()
            };
        }
    }

    /// The log of `shard` under `epoch`; a log of an earlier epoch (a shard lost and taken
    /// again) is started afresh.
    fn log(&mut self, shard: &Arc<str>, epoch: u64) -> &mut ShardLog {
        let log = self.shards.entry(shard.clone()).or_default();
        if log.epoch < epoch {
            *log = ShardLog {
                epoch,
                first: log.first + log.entries.len() as u64,
                ..ShardLog::default()
            };
        }
        log
    }

    /// Records not applied yet, over every shard.
    pub(crate) fn outstanding(&self) -> usize {
        self.shards.values().map(|s| s.entries.len()).sum()
    }

    /// Whether [`Ledger::advance`] has anything to give: a shard whose oldest record is applied,
    /// or one read to its end with nothing left.
    pub(crate) fn ready(&self) -> bool {
        self.shards.values().any(|log| match log.entries.front() {
            Some(entry) => entry.pending == 0,
            None => log.end.is_some() || log.releasing,
        })
    }

    /// Pops every applied prefix: the checkpoints to commit with the next batch.
    pub(crate) fn advance(&mut self) -> Advance {
        let mut advance = Advance::default();
        let mut finished = Vec::new();
        for (shard, log) in &mut self.shards {
            let mut last = None;
            while log.entries.front().is_some_and(|e| e.pending == 0) {
                if let Some(entry) = log.entries.pop_front() {
                    log.first += 1;
                    last = Some(entry.sequence_number);
                }
            }
            if let (true, Some(end)) = (log.entries.is_empty(), &log.end) {
                last = SequenceNumber::later(last, end.clone());
                advance.drained.push(shard.to_string());
                finished.push(shard.clone());
            } else if log.entries.is_empty() && log.releasing {
                advance.released.push(shard.to_string());
                finished.push(shard.clone());
            }
            if let Some(last) = last {
                advance
                    .checkpoints
                    .push((shard.to_string(), log.epoch, last));
            }
        }
        for shard in finished {
            self.shards.remove(&shard);
        }
        advance.checkpoints.sort_by(|a, b| a.0.cmp(&b.0));
        advance.drained.sort();
        advance.released.sort();
        advance
    }

    fn entry(&mut self, ticket: &Ticket) -> Option<&mut Entry> {
        let log = self.shards.get_mut(&ticket.shard)?;
        let index = ticket.serial.checked_sub(log.first)?;
        log.entries.get_mut(usize::try_from(index).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoints(pairs: &[(&str, &str)]) -> Vec<(String, u64, SequenceNumber)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), 0, seq(b)))
            .collect()
    }

    fn seq(s: &str) -> SequenceNumber {
        SequenceNumber::new(s).expect("digits")
    }

    #[test]
    fn a_checkpoint_stops_before_the_first_record_still_waiting() {
        let a: Arc<str> = Arc::from("a");
        let mut ledger = Ledger::default();
        let r1 = ledger.record(&a, 0, seq("1")).expect("current lease");
        let r2 = ledger.record(&a, 0, seq("2")).expect("current lease");
        let r3 = ledger.record(&a, 0, seq("3")).expect("current lease");
        ledger.wait(&r1);
        ledger.wait(&r2);
        ledger.wait(&r2);
        // r3 caused no work; r2 waits on two fetches (say, a delayed NotFound retry).
        assert!(!ledger.ready());
        assert_eq!(ledger.advance(), Advance::default());
        ledger.done(&r1);
        ledger.done(&r2);
        assert_eq!(ledger.advance().checkpoints, checkpoints(&[("a", "1")]));
        ledger.done(&r2);
        assert!(ledger.ready());
        assert_eq!(ledger.advance().checkpoints, checkpoints(&[("a", "3")]));
        assert!(!ledger.ready());
        assert_eq!(ledger.advance(), Advance::default(), "nothing new");
        assert_eq!(ledger.outstanding(), 0);
        // A stale ticket (its record already checkpointed) is harmless.
        ledger.done(&r3);
    }

    #[test]
    fn shards_advance_independently() {
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let mut ledger = Ledger::default();
        let slow = ledger.record(&a, 0, seq("10")).expect("current lease");
        ledger.wait(&slow);
        let _ = ledger.record(&a, 0, seq("11")).expect("current lease");
        let _ = ledger.record(&b, 0, seq("5")).expect("current lease");
        assert_eq!(ledger.advance().checkpoints, checkpoints(&[("b", "5")]));
        ledger.done(&slow);
        assert_eq!(ledger.advance().checkpoints, checkpoints(&[("a", "11")]));
    }

    #[test]
    fn a_shard_is_drained_once_its_last_record_is_applied() {
        let p: Arc<str> = Arc::from("parent");
        let mut ledger = Ledger::default();
        let last = ledger.record(&p, 0, seq("8")).expect("current lease");
        ledger.wait(&last);
        ledger.end(&p, 0, Some(seq("9")));
        assert_eq!(ledger.advance(), Advance::default());
        ledger.done(&last);
        assert_eq!(
            ledger.advance(),
            Advance {
                checkpoints: checkpoints(&[("parent", "9")]),
                drained: vec!["parent".into()],
                ..Advance::default()
            }
        );
        assert_eq!(ledger.advance(), Advance::default(), "reported once");

        // Reaching the end with nothing read: drained at once, at the ending sequence number.
        let q: Arc<str> = Arc::from("q");
        ledger.end(&q, 0, Some(seq("0")));
        let advance = ledger.advance();
        assert_eq!(advance.drained, ["q"]);
        assert_eq!(advance.checkpoints, checkpoints(&[("q", "0")]));
    }

    #[test]
    fn a_shard_handed_over_is_released_once_its_records_are_applied() {
        let s: Arc<str> = Arc::from("s");
        let mut ledger = Ledger::default();
        let r1 = ledger.record(&s, 3, seq("1")).expect("current lease");
        ledger.wait(&r1);
        ledger.release(&s);
        assert_eq!(ledger.advance(), Advance::default(), "r1 still waits");
        ledger.done(&r1);
        let advance = ledger.advance();
        assert_eq!(
            advance.checkpoints,
            [("s".to_string(), 3, seq("1"))],
            "written with the lease's epoch"
        );
        assert_eq!(advance.released, ["s"]);
        assert_eq!(ledger.advance(), Advance::default(), "reported once");

        // Nothing read at all: released at once.
        ledger.release(&s);
        assert_eq!(ledger.advance().released, ["s"]);
    }

    #[test]
    fn a_forgotten_shard_holds_nothing_back_and_a_new_epoch_starts_afresh() {
        let s: Arc<str> = Arc::from("s");
        let mut ledger = Ledger::default();
        let old = ledger.record(&s, 1, seq("5")).expect("current lease");
        ledger.wait(&old);
        ledger.forget(&s);
        assert_eq!(ledger.outstanding(), 0);
        ledger.done(&old);
        let fresh = ledger.record(&s, 2, seq("7")).expect("current lease");
        ledger.done(&old);
        assert_eq!(
            ledger.advance().checkpoints,
            [("s".to_string(), 2, seq("7"))]
        );
        // A record of the older epoch arriving late (its reader was still finishing) is passed
        // over: it neither resets the current log nor makes a checkpoint of its own.
        let pending = ledger.record(&s, 2, seq("8")).expect("current lease");
        ledger.wait(&pending);
        assert!(ledger.is_stale(&s, 1));
        assert_eq!(ledger.record(&s, 1, seq("6")), None);
        ledger.end(&s, 1, Some(seq("9")));
        let later = ledger.record(&s, 2, seq("10")).expect("current lease");
        assert_eq!(ledger.advance().checkpoints, [], "8 still waits");
        ledger.done(&pending);
        assert_eq!(
            ledger.advance().checkpoints,
            [("s".to_string(), 2, seq("10"))]
        );
        let _ = (fresh, later);
    }
}
