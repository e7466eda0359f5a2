//! `docs/EVENTS.md` is rendered from the routing table; this fails when it is stale.

use std::path::PathBuf;

use trailsync_catalog::tables::ec2;
use trailsync_events::{events_markdown, routes, routes_for_table};

fn events_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/EVENTS.md")
}

#[test]
fn events_md_is_current() {
    let rendered = events_markdown();
    let path = events_md();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create docs/");
        }
        std::fs::write(&path, &rendered).expect("write docs/EVENTS.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == rendered,
        "docs/EVENTS.md is out of date with the routing table; regenerate it with\n\
         \n    UPDATE_DOCS=1 cargo test -p trailsync-events --test docs\n"
    );
}

#[test]
fn every_route_is_documented() {
    let rendered = events_markdown();
    for route in routes() {
        let row = format!("| {} | {} | {} |", route.source, route.name, route.action);
        assert!(rendered.contains(&row), "missing {row}");
        assert!(rendered.contains(&format!("## `{}`", route.table.name)));
    }
    assert!(routes_for_table(&ec2::INSTANCES).any(|r| r.name == "RunInstances"));
}
