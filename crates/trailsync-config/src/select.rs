//! Which catalog tables a source syncs, by CloudQuery's rules for `tables`, `skip_tables` and
//! `skip_dependent_tables`.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use trailsync_catalog::Table;

/// Table-name globs, compiled once.
pub(crate) struct Patterns(GlobSet);

impl Patterns {
    /// Compiles `patterns`; one that is not a valid glob matches nothing (validation reports it).
    pub(crate) fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            if let Ok(glob) = Glob::new(pattern.as_ref()) {
                builder.add(glob);
            }
        }
        Patterns(builder.build().unwrap_or_else(|_| GlobSet::empty()))
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

/// The tables of `all` that a source syncs, in the order of `all` (parents before children).
///
/// A table is selected when a `tables` glob matches it, or when its parent is selected for that
/// reason and `skip_dependent` is false. A selected child pulls its parent in (the parent is what
/// gets listed), but not its siblings. A table matched by a `skip` glob is left out with its whole
/// subtree, whatever `tables` says. Invalid globs match nothing.
pub fn select_tables<S: AsRef<str>>(
    all: &[&'static Table],
    tables: &[S],
    skip: &[S],
    skip_dependent: bool,
) -> Vec<&'static Table> {
    let include = Patterns::new(tables);
    let exclude = Patterns::new(skip);
    let lineages = Lineages::new(all);

    let mut selected = vec![false; all.len()];
    for (i, table) in all.iter().enumerate() {
        let chain = lineages.chain(i);
        if chain.iter().any(|&a| exclude.matches(all[a].name)) {
            continue;
        }
        let wanted = chain.iter().fold(false, |parent_wanted, &a| {
            include.matches(all[a].name) || (parent_wanted && !skip_dependent)
        });
        if wanted {
            debug_assert_eq!(chain.last(), Some(&i), "{} ends its own chain", table.name);
            for &a in &chain {
                selected[a] = true;
            }
        }
    }
    all.iter()
        .zip(selected)
        .filter_map(|(table, keep)| keep.then_some(*table))
        .collect()
}

/// Parent links of a table list, by index.
struct Lineages {
    parents: Vec<Option<usize>>,
}

impl Lineages {
    fn new(all: &[&'static Table]) -> Self {
        let index: HashMap<&str, usize> =
            all.iter().enumerate().map(|(i, t)| (t.name, i)).collect();
        let parents = all
            .iter()
            .map(|t| t.parent.and_then(|p| index.get(p.name).copied()))
            .collect();
        Lineages { parents }
    }

    /// The table's ancestors from the top-level one down to the table itself. A parent missing
    /// from the list ends the chain; a (malformed) cycle is cut after one lap.
    fn chain(&self, table: usize) -> Vec<usize> {
        let mut chain = vec![table];
        let mut current = table;
        while let Some(parent) = self.parents[current] {
            if chain.len() > self.parents.len() {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain.reverse();
        chain
    }
}
