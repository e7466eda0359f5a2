//! The catalog: every table trailsync keeps, declared once as data.
//!
//! A [`Table`] names its columns, primary key, parent and the column that CloudTrail events identify
//! a resource by. Everything else — DDL in the destinations, `trailsync tables`, config globs, row
//! building — is derived from these declarations, so adding a table is declaring it in its
//! service's module under `tables/` and listing it in that module's `ALL`.
//!
//! Rows are built from a JSON object (the AWS API type rendered with PascalCase keys, as CloudQuery's
//! Go SDK renders it) by [`Row::from_json`]; identifiers are deterministic UUIDv5s ([`cq_id`]) so that
//! re-syncs do not churn `_cq_id` and children keep pointing at their parent.

use std::sync::LazyLock;

mod resource;
mod row;
mod table;
pub mod tables;

pub use resource::{ChildRows, Deletion, Resource};
pub use row::{Row, RowError, Value, cq_id, to_pascal_case};
pub use table::{
    CQ_COLUMNS, Column, ColumnType, GLOBAL_REGION, IdForm, ResourceId, Scope, Service, Table, col,
};

/// Every table trailsync can sync, service by service, parents before their children. A table
/// is added by declaring it in its service's module under `tables/` and listing it in that
/// module's `ALL`; a service, by adding its module and one line here.
pub static TABLES: LazyLock<Vec<&'static Table>> = LazyLock::new(|| {
    [
        tables::ec2::ALL,
        tables::iam::ALL,
        tables::rds::ALL,
        tables::ecs::ALL,
    ]
    .concat()
});

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

#[doc(hidden)]
pub mod testing {
    //! For the workspace's tests: the material beside the repository.

    use std::path::{Path, PathBuf};

    /// `../shared/RELATIVE` beside the repository: the published CloudTrail samples and
    /// CloudQuery's table reference, which a clone of the repository alone does not have.
    /// `None` when absent, after saying the test is skipped; with `CI=true` its absence fails
    /// the test loudly instead, so CI never skips silently.
    pub fn shared(relative: &str) -> Option<PathBuf> {
        // The running test's package (cargo and nextest set it), every one at `crates/<name>`;
        // the compile-time one may name another checkout that built the shared target folder.
        let package = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let path = Path::new(&package).join("../../../shared").join(relative);
        if path.exists() {
            return Some(path);
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing: CI needs ../shared beside the repository",
            path.display()
        );
        eprintln!(
            "skipped: {} is not beside this clone (set CI=true to require it)",
            path.display()
        );
        None
    }
}
