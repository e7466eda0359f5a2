//! The routing table (trailsync-events) and the catalog (trailsync-catalog) are declared apart,
//! so that each builds without the other; this keeps them agreeing.

use trailsync_catalog::{TABLES, table};

#[test]
fn every_routed_table_is_a_top_level_catalog_table_with_an_id_column() {
    for name in trailsync_events::TABLES {
        let t =
            table(name).unwrap_or_else(|| panic!("routes name {name}, which the catalog lacks"));
        assert!(t.is_top_level(), "{name}: events refresh top-level tables");
        assert!(
            t.id_column.is_some(),
            "{name}: routed ids need an id column"
        );
    }
    for route in trailsync_events::ROUTES {
        assert!(
            trailsync_events::TABLES.contains(&route.table),
            "{} {} routes to {}, not a listed table",
            route.source,
            route.name,
            route.table
        );
    }
}

#[test]
fn every_top_level_table_is_refreshed_by_some_event() {
    for t in TABLES.iter().filter(|t| t.is_top_level()) {
        assert!(
            trailsync_events::routes_for_table(t.name).next().is_some(),
            "{} has no event refreshing it: it would only change at reconciliation",
            t.name
        );
    }
}
