//! The reconciliation journal: while a table is being listed in full, the ids the stream writes
//! or deletes meanwhile are noted, so that the (older) listing neither overwrites nor revives
//! them when it is written.

use std::collections::{HashMap, HashSet};

use trailsync_catalog::Table;
use trailsync_core::Location;

#[derive(Debug, Default)]
pub(crate) struct Journal {
    open: HashMap<&'static str, HashSet<(Location, String)>>,
}

impl Journal {
    /// A listing of `table` starts: note what the stream touches from now on.
    pub(crate) fn open(&mut self, table: &'static Table) {
        self.open.insert(table.name, HashSet::new());
    }

    /// The stream wrote or deleted `id` of `table` at `location`.
    pub(crate) fn touch(&mut self, table: &'static Table, location: &Location, id: &str) {
        if let Some(touched) = self.open.get_mut(table.name) {
            touched.insert((location.clone(), id.to_string()));
        }
    }

    /// The listing of `table` is in: what the stream touched since it started.
    pub(crate) fn close(&mut self, table: &'static Table) -> HashSet<(Location, String)> {
        self.open.remove(table.name).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailsync_catalog::tables::{ec2, iam};

    #[test]
    fn only_tables_being_listed_are_journaled() {
        let mut journal = Journal::default();
        let here = Location::new("111122223333", "us-east-1");
        journal.touch(&ec2::INSTANCES, &here, "i-before");
        journal.open(&ec2::INSTANCES);
        journal.touch(&ec2::INSTANCES, &here, "i-during");
        journal.touch(&iam::ROLES, &here, "admin");
        let touched = journal.close(&ec2::INSTANCES);
        assert_eq!(
            touched,
            HashSet::from([(here.clone(), "i-during".to_string())])
        );
        assert!(journal.close(&iam::ROLES).is_empty());
        assert!(journal.close(&ec2::INSTANCES).is_empty(), "closed once");
    }
}
