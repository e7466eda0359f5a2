//! `docs/EVENTS.md`, rendered from the routing table so the docs cannot drift from the code.

use std::fmt::Write;

use trailsync_catalog::IdForm;

use crate::routes::{Ids, routed_tables, routes, routes_for_table};

/// The events page: every supported event, per table, with its action and where its ids are.
pub fn events_markdown() -> String {
    let mut md = String::new();
    md.push_str(HEADER);
    let _ = writeln!(
        md,
        "{} events on {} tables.\n",
        event_count(),
        routed_tables().count()
    );
    for table in routed_tables() {
        let _ = writeln!(md, "## `{}`\n", table.name);
        if let Some(note) = table.id.and_then(|id| id_note(id.form)) {
            let _ = writeln!(md, "{note}\n");
        }
        md.push_str("| Source | Event | Action | Resource ids |\n|---|---|---|---|\n");
        for route in routes_for_table(table) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                route.source,
                route.name,
                route.action,
                describe(&route.ids)
            );
        }
        md.push('\n');
    }
    md.truncate(md.trim_end().len());
    md.push('\n');
    md
}

const HEADER: &str = "\
<!-- Generated from crates/trailsync-events/src/routes.rs by events_markdown(); do not edit.
     Regenerate: UPDATE_DOCS=1 cargo test -p trailsync-events --test docs -->

# CloudTrail events trailsync acts on

For each CloudTrail management event below, sync re-fetches the named resource (with its child
tables) and writes what AWS returns now; `delete` means the resource is expected to be gone, and
its row is deleted once AWS answers NotFound. `trailsync explain FILE` shows what any event would
cause.

- An event with `errorCode`, or `readOnly: true`, is ignored, as is any event not listed here.
- Account is `recipientAccountId`; region is `awsRegion`, except for IAM, which is global and
  applies in `us-east-1`.
- Ids are what the describe/get APIs take: resource ids for EC2 (`i-`, `sg-`, `subnet-`, `vpc-`,
  `igw-`, `rtb-`, `eni-`, `ami-`), names for IAM, identifiers for RDS, cluster names for ECS.
- *Whole table*: the event does not name the resource (a create whose `responseElements` is
  missing, or an event that only gives an association id), so every row of that table in the
  account and region is refreshed rather than the event dropped.
- `CreateTags`/`DeleteTags` route each id in `resourcesSet` to its table by prefix; ids of other
  kinds are ignored.
- Paths are into the CloudTrail record; `[]` means every element of a list.

";

fn event_count() -> usize {
    let mut events: Vec<(&str, &str)> = routes().iter().map(|r| (r.source, r.name)).collect();
    events.sort_unstable();
    events.dedup();
    events.len()
}

fn id_note(form: IdForm) -> Option<&'static str> {
    match form {
        IdForm::AsIs => None,
        IdForm::RdsIdentifier => {
            Some("Identifiers are lowercased, as RDS stores them; an ARN becomes its identifier.")
        }
        IdForm::ArnName => Some("A cluster ARN becomes the cluster name."),
    }
}

fn describe(ids: &Ids) -> String {
    match ids {
        Ids::First(paths) => format!("{}; else whole table", alternatives(paths)),
        Ids::Optional(paths) => format!("{}, if present", alternatives(paths)),
        Ids::Prefixed { path, prefix } => format!("`{path}` starting `{prefix}`"),
        Ids::Arn { path, kind } => format!("`{path}`, ARNs of a `{kind}`"),
        Ids::RenamedFrom { old, new } => format!("`{old}`, when renamed to `{new}`"),
        Ids::Table => "whole table (not named by the event)".to_owned(),
    }
}

fn alternatives(paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", else ")
}
