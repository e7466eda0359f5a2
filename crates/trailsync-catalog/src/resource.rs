use crate::{Row, Table, Value};

/// A top-level row with the rows of its child tables, written as one unit: the children listed
/// here replace whatever the destination held for this parent in those child tables.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub row: Row,
    pub children: Vec<ChildRows>,
}

/// The complete set of one child table's rows for one parent (possibly empty).
#[derive(Clone, Debug, PartialEq)]
pub struct ChildRows {
    pub table: &'static Table,
    pub rows: Vec<Row>,
}

impl Resource {
    pub fn new(row: Row) -> Resource {
        Resource {
            row,
            children: Vec::new(),
        }
    }
}

/// Rows of `table` matching every `(column, value)` pair are deleted, with their children.
///
/// Deletes are expressed by the identifying columns an event gives (`account_id`, `region`,
/// `instance_id`) rather than by primary key, which an event does not always carry.
#[derive(Clone, Debug, PartialEq)]
pub struct Deletion {
    pub table: &'static Table,
    pub filter: Vec<(&'static str, Value)>,
}
