//! The reconciliation journal: while a table is being listed in full, the ids the stream writes
//! or deletes from a newer observation than the listing's are noted, so that the (older)
//! listing neither overwrites nor revives them when it is written. A stream write observed
//! before the listing began is not noted: the listing is the newer state and replaces it (else
//! the listing would leave it out, and the stale-row deletion would remove a live resource).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use trailsync_catalog::Table;
use trailsync_core::Location;

/// (location, id) the stream touched.
type Touched = HashSet<(Location, String)>;

#[derive(Debug, Default)]
pub(crate) struct Journal {
    /// Per table being listed: when the listing began, and what the stream touched since.
    open: HashMap<&'static str, (DateTime<Utc>, Touched)>,
}

impl Journal {
    /// A listing of `table`, observing AWS from `since`, starts.
    pub(crate) fn open(&mut self, table: &'static Table, since: DateTime<Utc>) {
        self.open.insert(table.name, (since, HashSet::new()));
    }

    /// The stream wrote or deleted `id` of `table` at `location`, as observed at `observed`
    /// (the fetch's start).
    pub(crate) fn touch(
        &mut self,
        table: &'static Table,
        location: &Location,
        id: &str,
        observed: DateTime<Utc>,
    ) {
        if let Some((since, touched)) = self.open.get_mut(table.name)
            && observed >= *since
        {
            touched.insert((location.clone(), id.to_string()));
        }
    }

    /// The listing of `table` is in: what the stream touched, newer than it, since it started.
    pub(crate) fn close(&mut self, table: &'static Table) -> Touched {
        self.open
            .remove(table.name)
            .map(|(_, touched)| touched)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailsync_catalog::tables::{ec2, iam};

    #[test]
    fn only_newer_writes_to_tables_being_listed_are_journaled() {
        let mut journal = Journal::default();
        let here = Location::new("111122223333", "us-east-1");
        let at = |s: i64| DateTime::from_timestamp(s, 0).expect("instant");
        journal.touch(&ec2::INSTANCES, &here, "i-before", at(5));
        journal.open(&ec2::INSTANCES, at(10));
        journal.touch(&ec2::INSTANCES, &here, "i-during", at(11));
        // Fetched before the listing began, written after: the listing is newer.
        journal.touch(&ec2::INSTANCES, &here, "i-older", at(9));
        journal.touch(&iam::ROLES, &here, "admin", at(11));
        let touched = journal.close(&ec2::INSTANCES);
        assert_eq!(
            touched,
            HashSet::from([(here.clone(), "i-during".to_string())])
        );
        assert!(journal.close(&iam::ROLES).is_empty());
        assert!(journal.close(&ec2::INSTANCES).is_empty(), "closed once");
    }
}
