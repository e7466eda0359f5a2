//! Coalescing with a leading edge: a change to a resource nobody is fetching is fetched at once;
//! changes that arrive while its fetch is in flight, or within the window after the fetch
//! started, wait and share one trailing fetch. A lone change costs no waiting, and a burst on
//! one resource costs one fetch per window.
//!
//! The same bookkeeping holds work that must wait for other reasons: a fetch that failed and
//! backs off, and an id AWS did not return, asked again after a delay (eventual consistency).
//! Work is keyed by (table, location, id or whole table); the ids due at once are grouped into
//! one batched call per table and location by [`Window::take_due`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use trailsync_catalog::Table;
use trailsync_core::{EventCause, Location};

use super::ledger::Ticket;

/// What a change asks for: one resource, or every resource of a table at a location.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Want {
    Id(String),
    /// A create whose response named no id: the table is listed at that location.
    All,
}

/// One piece of work: a top-level table, where, and what.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct WorkKey {
    pub table: &'static Table,
    pub location: Location,
    pub want: Want,
}

/// A record waiting for a piece of work, and the event (if any) that asked for it.
#[derive(Clone, Debug)]
pub(crate) struct Claim {
    pub ticket: Ticket,
    pub cause: Option<Arc<EventCause>>,
}

/// Work waiting for one key.
#[derive(Debug, Default)]
struct KeyState {
    claims: Vec<Claim>,
    in_flight: bool,
    /// The key's next fetch may not start before this: it was fetched recently (the window),
    /// or it failed and backs off, or it is an id to ask again about.
    not_before: Option<Instant>,
    /// Consecutive failures, for the backoff.
    failures: u32,
    /// The next fetch asks again about an id AWS did not return: missing again means deleted.
    recheck: bool,
}

impl KeyState {
    fn is_due(&self, now: Instant) -> bool {
        !self.claims.is_empty() && !self.in_flight && self.not_before.is_none_or(|t| t <= now)
    }
}

/// Claims handed out for one key, and whether they ask again about a missing id.
#[derive(Debug, Default)]
pub(crate) struct Work {
    pub claims: Vec<Claim>,
    pub recheck: bool,
}

/// The work due for one table at one location: fetched together.
#[derive(Debug, Default)]
pub(crate) struct Group {
    /// Ids to fetch in one batched call.
    pub ids: BTreeMap<String, Work>,
    /// A listing of the whole table, if any asked for one.
    pub all: Option<Work>,
}

/// Every key with work waiting, in flight, or cooling down.
#[derive(Debug)]
pub(crate) struct Window {
    span: Duration,
    keys: HashMap<WorkKey, KeyState>,
}

impl Window {
    /// A window of `span`: after a key's fetch starts, further changes to it wait that long.
    pub(crate) fn new(span: Duration) -> Window {
        Window {
            span,
            keys: HashMap::new(),
        }
    }

    /// A record's claim on `key`: due at once, unless the key is being fetched, cooling down,
    /// or backing off.
    pub(crate) fn add(&mut self, key: WorkKey, claim: Claim) {
        self.keys.entry(key).or_default().claims.push(claim);
    }

    /// Keys with claims not yet handed out (bounded, for back-pressure).
    pub(crate) fn waiting(&self) -> usize {
        self.keys.values().filter(|s| !s.claims.is_empty()).count()
    }

    /// When the next waiting key becomes due, if one waits for a time (keys due now excluded).
    pub(crate) fn next_due(&self, now: Instant) -> Option<Instant> {
        self.keys
            .values()
            .filter(|s| !s.claims.is_empty() && !s.in_flight)
            .filter_map(|s| s.not_before)
            .filter(|t| *t > now)
            .min()
    }

    /// Hands out every key due at `now`, grouped by (table, location), and marks them in flight.
    /// Keys that are idle and whose wait is over are forgotten.
    pub(crate) fn take_due(&mut self, now: Instant) -> BTreeMap<(&'static Table, Location), Group> {
        let mut groups: BTreeMap<(&'static Table, Location), Group> = BTreeMap::new();
        self.keys.retain(|key, state| {
            if state.is_due(now) {
                state.in_flight = true;
                let work = Work {
                    claims: std::mem::take(&mut state.claims),
                    recheck: std::mem::take(&mut state.recheck),
                };
                let group = groups.entry((key.table, key.location.clone())).or_default();
                match &key.want {
                    Want::Id(id) => {
                        group.ids.insert(id.clone(), work);
                    }
                    Want::All => group.all = Some(work),
                }
            }
            // Idle keys are kept only while they cool down.
            state.in_flight || !state.claims.is_empty() || state.not_before.is_some_and(|t| t > now)
        });
        groups
    }

    /// `key` was fetched (or given up on) by a fetch that started at `started`: it cools for the
    /// window, and claims that came meanwhile wait until then.
    pub(crate) fn fetched(&mut self, key: &WorkKey, started: Instant) {
        let state = self.keys.entry(key.clone()).or_default();
        state.in_flight = false;
        state.failures = 0;
        state.not_before = Some(started + self.span);
    }

    /// `key`'s fetch failed for a reason that passes: its claims wait `backoff(failures)` and
    /// go again, with whatever joined them meanwhile. Returns the consecutive failures so far.
    pub(crate) fn failed(
        &mut self,
        key: &WorkKey,
        mut claims: Vec<Claim>,
        now: Instant,
        backoff: impl Fn(u32) -> Duration,
    ) -> u32 {
        let state = self.keys.entry(key.clone()).or_default();
        state.in_flight = false;
        state.failures += 1;
        state.not_before = Some(now + backoff(state.failures));
        claims.append(&mut state.claims);
        state.claims = claims;
        state.failures
    }

    /// `key` is an id AWS did not return: its claims ask again at `at`, and if AWS still does
    /// not return it then, it is deleted.
    pub(crate) fn recheck(&mut self, key: &WorkKey, mut claims: Vec<Claim>, at: Instant) {
        let state = self.keys.entry(key.clone()).or_default();
        state.in_flight = false;
        state.recheck = true;
        state.not_before = Some(at);
        claims.append(&mut state.claims);
        state.claims = claims;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use trailsync_catalog::tables::{ec2, iam};
    use trailsync_core::SequenceNumber;

    use super::*;
    use crate::stream::ledger::Ledger;

    const SPAN: Duration = Duration::from_secs(1);

    fn key(table: &'static Table, region: &str, want: Want) -> WorkKey {
        WorkKey {
            table,
            location: Location::new("111122223333", region),
            want,
        }
    }

    fn instance(id: &str) -> WorkKey {
        key(&ec2::INSTANCES, "us-east-1", Want::Id(id.into()))
    }

    struct Records {
        ledger: Ledger,
        shard: Arc<str>,
        next: u64,
    }

    impl Records {
        fn new() -> Records {
            Records {
                ledger: Ledger::default(),
                shard: Arc::from("shard-0"),
                next: 1,
            }
        }

        fn claim(&mut self) -> Claim {
            let seq = SequenceNumber::new(self.next.to_string()).expect("digits");
            self.next += 1;
            Claim {
                ticket: self
                    .ledger
                    .record(&self.shard, 0, seq)
                    .expect("current lease"),
                cause: None,
            }
        }
    }

    fn ids(groups: &BTreeMap<(&'static Table, Location), Group>) -> Vec<String> {
        groups
            .values()
            .flat_map(|g| g.ids.keys().cloned())
            .collect()
    }

    #[test]
    fn a_lone_change_is_fetched_without_waiting() {
        let mut records = Records::new();
        let mut window = Window::new(SPAN);
        let now = Instant::now();
        window.add(instance("i-1"), records.claim());
        let due = window.take_due(now);
        assert_eq!(ids(&due), ["i-1"], "due at once, no window to wait for");
        assert_eq!(window.next_due(now), None);
    }

    #[test]
    fn a_burst_on_one_resource_costs_at_most_two_fetches() {
        let mut records = Records::new();
        let mut window = Window::new(SPAN);
        let start = Instant::now();
        let mut fetches = 0;
        let mut claims_fetched = 0;
        // 100 events on one instance over 500 ms, one every 5 ms; each fetch takes 50 ms.
        let mut in_flight: Option<(Instant, usize)> = None;
        for n in 0..100u64 {
            let now = start + Duration::from_millis(5 * n);
            if let Some((started, claims)) = in_flight
                && now >= started + Duration::from_millis(50)
            {
                window.fetched(&instance("i-1"), started);
                claims_fetched += claims;
                in_flight = None;
            }
            window.add(instance("i-1"), records.claim());
            let due = window.take_due(now);
            if let Some(group) = due.values().next() {
                fetches += 1;
                in_flight = Some((now, group.ids["i-1"].claims.len()));
            }
        }
        if let Some((started, claims)) = in_flight.take() {
            window.fetched(&instance("i-1"), started);
            claims_fetched += claims;
        }
        // The first fetch left at once; the rest waited for the window after it started.
        let due_at = window.next_due(start).expect("a trailing fetch");
        assert_eq!(due_at, start + SPAN);
        let trailing = window.take_due(due_at);
        fetches += 1;
        claims_fetched += trailing
            .values()
            .map(|g| g.ids["i-1"].claims.len())
            .sum::<usize>();
        assert_eq!(fetches, 2, "one leading fetch, one trailing");
        assert_eq!(
            claims_fetched, 100,
            "every event's record waits on one of them"
        );
    }

    #[test]
    fn ids_due_together_are_grouped_by_table_and_location() {
        let mut records = Records::new();
        let mut window = Window::new(SPAN);
        for (table, region, want) in [
            (&ec2::INSTANCES, "us-east-1", Want::Id("i-1".into())),
            (&ec2::INSTANCES, "us-east-1", Want::Id("i-2".into())),
            (&ec2::INSTANCES, "eu-west-1", Want::Id("i-3".into())),
            (&iam::ROLES, "us-east-1", Want::Id("admin".into())),
            (&iam::ROLES, "us-east-1", Want::All),
        ] {
            window.add(key(table, region, want), records.claim());
        }
        let groups = window.take_due(Instant::now());
        assert_eq!(groups.len(), 3);
        let roles = &groups[&(
            &iam::ROLES as &Table,
            Location::new("111122223333", "us-east-1"),
        )];
        assert_eq!(roles.ids.keys().collect::<Vec<_>>(), ["admin"]);
        assert!(roles.all.is_some());
        assert_eq!(window.waiting(), 0, "handed out");
    }

    #[test]
    fn a_failed_fetch_backs_off_and_keeps_its_claims() {
        let mut records = Records::new();
        let mut window = Window::new(SPAN);
        let now = Instant::now();
        window.add(instance("i-1"), records.claim());
        let mut due = window.take_due(now);
        let work = due
            .values_mut()
            .next()
            .and_then(|g| g.ids.remove("i-1"))
            .expect("i-1 due");
        // Another change arrives while the fetch fails.
        window.add(instance("i-1"), records.claim());
        let failures = window.failed(&instance("i-1"), work.claims, now, |n| {
            Duration::from_secs(u64::from(n) * 10)
        });
        assert_eq!(failures, 1);
        assert!(window.take_due(now).is_empty(), "backing off");
        let at = window.next_due(now).expect("due again later");
        assert_eq!(at, now + Duration::from_secs(10));
        let again = window.take_due(at);
        assert_eq!(
            again.values().next().map(|g| g.ids["i-1"].claims.len()),
            Some(2)
        );
        // A second failure waits longer.
        let work = Work::default();
        assert_eq!(
            window.failed(&instance("i-1"), work.claims, at, |n| Duration::from_secs(
                u64::from(n) * 10
            )),
            2
        );
    }

    #[test]
    fn a_missing_id_is_asked_again_as_a_recheck() {
        let mut records = Records::new();
        let mut window = Window::new(SPAN);
        let now = Instant::now();
        window.add(instance("i-gone"), records.claim());
        let mut due = window.take_due(now);
        let work = due
            .values_mut()
            .next()
            .and_then(|g| g.ids.remove("i-gone"))
            .expect("due");
        assert!(!work.recheck);
        let at = now + Duration::from_secs(2);
        window.recheck(&instance("i-gone"), work.claims, at);
        assert!(window.take_due(now).is_empty());
        let again = window.take_due(at);
        let work = &again.values().next().expect("a group").ids["i-gone"];
        assert!(work.recheck);
        assert_eq!(work.claims.len(), 1);
    }
}
