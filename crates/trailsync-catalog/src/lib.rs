//! The catalog: every table trailsync keeps, declared once as data.
//!
//! A [`Table`] names its columns, primary key, parent and the column that CloudTrail events identify
//! a resource by. Everything else — DDL in the destinations, `trailsync tables`, config globs, row
//! building — is derived from these declarations, so adding a table is adding one file under
//! `tables/` and one line in [`TABLES`].
//!
//! Rows are built from a JSON object (the AWS API type rendered with PascalCase keys, as CloudQuery's
//! Go SDK renders it) by [`Row::from_json`]; identifiers are deterministic UUIDv5s ([`cq_id`]) so that
//! re-syncs do not churn `_cq_id` and children keep pointing at their parent.

mod resource;
mod row;
mod table;
pub mod tables;

pub use resource::{ChildRows, Deletion, Resource};
pub use row::{Row, RowError, Value, cq_id, to_pascal_case};
pub use table::{
    CQ_COLUMNS, Column, ColumnType, GLOBAL_REGION, IdForm, ResourceId, Scope, Service, Table, col,
};

/// Every table trailsync can sync, parents before their children.
pub static TABLES: &[&Table] = &[
    &tables::ec2_instances::TABLE,
    &tables::ec2_security_groups::TABLE,
    &tables::ec2_subnets::TABLE,
    &tables::ec2_vpcs::TABLE,
    &tables::ec2_internet_gateways::TABLE,
    &tables::ec2_route_tables::TABLE,
    &tables::ec2_network_interfaces::TABLE,
    &tables::ec2_images::TABLE,
    &tables::ec2_images::LAUNCH_PERMISSIONS,
    &tables::ec2_images::LAST_LAUNCHED_TIMES,
    &tables::iam_roles::TABLE,
    &tables::iam_roles::POLICIES,
    &tables::iam_roles::ATTACHED_POLICIES,
    &tables::iam_roles::LAST_ACCESSED_DETAILS,
    &tables::iam_users::TABLE,
    &tables::iam_users::ACCESS_KEYS,
    &tables::iam_users::GROUPS,
    &tables::iam_users::POLICIES,
    &tables::iam_users::ATTACHED_POLICIES,
    &tables::iam_users::LAST_ACCESSED_DETAILS,
    &tables::iam_users::SIGNING_CERTIFICATES,
    &tables::iam_users::SSH_PUBLIC_KEYS,
    &tables::iam_groups::TABLE,
    &tables::iam_groups::POLICIES,
    &tables::iam_groups::ATTACHED_POLICIES,
    &tables::iam_groups::LAST_ACCESSED_DETAILS,
    &tables::rds_instances::TABLE,
    &tables::rds_clusters::TABLE,
    &tables::rds_clusters::BACKTRACKS,
    &tables::ecs_clusters::TABLE,
    &tables::ecs_clusters::TASKS,
];

/// Looks a table up by its CloudQuery name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().copied().find(|t| t.name == name)
}

/// The direct children of `parent`, in catalog order.
pub fn children(parent: &Table) -> impl Iterator<Item = &'static Table> + '_ {
    TABLES
        .iter()
        .copied()
        .filter(move |t| t.parent == Some(parent))
}

/// The top-level tables (those without a parent), in catalog order.
pub fn top_level() -> impl Iterator<Item = &'static Table> {
    TABLES.iter().copied().filter(|t| t.parent.is_none())
}

#[cfg(test)]
mod tests;
