//! Coalescing: the work records ask for is gathered for a short window, across records and
//! shards, so that many events for one resource cost one fetch and the ids of one table and
//! location are fetched in one call.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::ledger::Ticket;
use trailsync_core::Location;

/// What a change asks for: one resource, or every resource of a table at a location.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Want {
    Id(String),
    /// A create whose response named no id: the table is listed at that location.
    All,
}

/// One piece of work: a top-level table (by name), where, and what.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct WorkKey {
    pub table: &'static str,
    pub location: Location,
    pub want: Want,
}

/// Work waiting for its window to close, and the records waiting on each piece.
#[derive(Debug, Default)]
pub(crate) struct Window {
    pending: BTreeMap<WorkKey, Vec<Ticket>>,
    closes: Option<Instant>,
}

impl Window {
    /// Adds a record's claim on `key`; opens the window if it was empty. Returns whether the
    /// key is new in this window (else the fetch is shared).
    pub(crate) fn add(
        &mut self,
        key: WorkKey,
        ticket: Ticket,
        now: Instant,
        span: Duration,
    ) -> bool {
        self.open(now, span);
        let tickets = self.pending.entry(key).or_default();
        tickets.push(ticket);
        tickets.len() == 1
    }

    /// Opens the window (if not open) without adding work: records that caused no work still
    /// need their checkpoint committed when it closes.
    pub(crate) fn open(&mut self, now: Instant, span: Duration) {
        self.closes.get_or_insert(now + span);
    }

    /// When the window closes, if it is open.
    pub(crate) fn closes(&self) -> Option<Instant> {
        self.closes
    }

    /// Closes the window, taking everything in it.
    pub(crate) fn take(&mut self) -> BTreeMap<WorkKey, Vec<Ticket>> {
        self.closes = None;
        std::mem::take(&mut self.pending)
    }
}

/// The work for one table at one location, fetched together.
#[derive(Debug, Default)]
pub(crate) struct Group {
    /// Ids to fetch in one batched call, each with the records waiting on it.
    pub ids: BTreeMap<String, Vec<Ticket>>,
    /// Records waiting on a listing of the whole table, if any asked for one.
    pub all: Option<Vec<Ticket>>,
}

/// Groups work by (table, location).
pub(crate) fn group(
    work: impl IntoIterator<Item = (WorkKey, Vec<Ticket>)>,
) -> BTreeMap<(&'static str, Location), Group> {
    let mut groups: BTreeMap<(&'static str, Location), Group> = BTreeMap::new();
    for (key, tickets) in work {
        let group = groups.entry((key.table, key.location)).or_default();
        match key.want {
            Want::Id(id) => group.ids.entry(id).or_default().extend(tickets),
            Want::All => group.all.get_or_insert_with(Vec::new).extend(tickets),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::stream::ledger::Ledger;

    fn key(table: &'static str, region: &str, want: Want) -> WorkKey {
        WorkKey {
            table,
            location: Location::new("111122223333", region),
            want,
        }
    }

    #[test]
    fn many_events_for_few_resources_become_one_batched_fetch() {
        let mut ledger = Ledger::default();
        let mut window = Window::default();
        let now = Instant::now();
        let span = Duration::from_secs(1);
        let shards: Vec<Arc<str>> = (0..4).map(|i| Arc::from(format!("shard-{i}"))).collect();
        let mut new_keys = 0;
        // 500 events over 4 shards touching 20 instances.
        for n in 0..500 {
            let ticket = ledger.record(
                &shards[n % 4],
                trailsync_core::SequenceNumber::new(n.to_string()).expect("digits"),
            );
            let want = Want::Id(format!("i-{:02}", n % 20));
            if window.add(
                key("aws_ec2_instances", "us-east-1", want),
                ticket,
                now,
                span,
            ) {
                new_keys += 1;
            }
        }
        assert_eq!(new_keys, 20);
        assert_eq!(window.closes(), Some(now + span));
        let groups = group(window.take());
        assert_eq!(groups.len(), 1, "one table and location: one call");
        let group = groups.values().next().expect("a group");
        assert_eq!(group.ids.len(), 20);
        assert_eq!(group.ids.values().map(Vec::len).sum::<usize>(), 500);
        assert!(group.all.is_none());
        assert_eq!(window.closes(), None, "taking closes the window");
    }

    #[test]
    fn tables_and_locations_are_fetched_separately() {
        let mut ledger = Ledger::default();
        let shard: Arc<str> = Arc::from("s");
        let mut window = Window::default();
        let now = Instant::now();
        let span = Duration::from_millis(10);
        for (table, region, want) in [
            ("aws_ec2_instances", "us-east-1", Want::Id("i-1".into())),
            ("aws_ec2_instances", "eu-west-1", Want::Id("i-2".into())),
            ("aws_iam_roles", "us-east-1", Want::Id("admin".into())),
            ("aws_iam_roles", "us-east-1", Want::All),
        ] {
            let ticket = ledger.record(
                &shard,
                trailsync_core::SequenceNumber::new("1").expect("digits"),
            );
            window.add(key(table, region, want), ticket, now, span);
        }
        let groups = group(window.take());
        assert_eq!(groups.len(), 3);
        let roles = &groups[&("aws_iam_roles", Location::new("111122223333", "us-east-1"))];
        assert_eq!(roles.ids.keys().collect::<Vec<_>>(), ["admin"]);
        assert_eq!(roles.all.as_ref().map(Vec::len), Some(1));
    }
}
