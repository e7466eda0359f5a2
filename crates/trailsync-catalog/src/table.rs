use std::fmt;

/// A column's logical type; destinations map it to their own SQL types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    Text,
    BigInt,
    Boolean,
    Double,
    /// A UTC instant (PostgreSQL `timestamptz`, SQLite RFC 3339 text).
    Timestamp,
    /// Any JSON value (PostgreSQL `jsonb`, SQLite JSON text).
    Json,
    /// A list of strings (PostgreSQL `text[]`, SQLite JSON text).
    TextArray,
    Uuid,
}

impl ColumnType {
    /// The name `trailsync tables` shows, matching PostgreSQL's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::BigInt => "bigint",
            ColumnType::Boolean => "boolean",
            ColumnType::Double => "double precision",
            ColumnType::Timestamp => "timestamptz",
            ColumnType::Json => "jsonb",
            ColumnType::TextArray => "text[]",
            ColumnType::Uuid => "uuid",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
}

/// Shorthand for declaring columns in `tables/*.rs`.
pub const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column { name, ty }
}

/// The bookkeeping columns every table starts with, in this order, before its data columns.
pub const CQ_COLUMNS: [Column; 4] = [
    col("_cq_sync_time", ColumnType::Timestamp),
    col("_cq_source_name", ColumnType::Text),
    col("_cq_id", ColumnType::Uuid),
    col("_cq_parent_id", ColumnType::Uuid),
];

/// Where a table's resources live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One set per account and region.
    Regional,
    /// One set per account (IAM); events for it carry region `us-east-1`.
    Global,
}

/// The AWS service a table is read from; rate limits and clients are per service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Ec2,
    Iam,
    Rds,
    Ecs,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Iam => "iam",
            Service::Rds => "rds",
            Service::Ecs => "ecs",
        }
    }
}

/// A table declaration. See the crate docs.
#[derive(Debug)]
pub struct Table {
    /// CloudQuery's table name.
    pub name: &'static str,
    pub service: Service,
    pub scope: Scope,
    /// The parent table, for child tables (replaced whenever the parent is written).
    pub parent: Option<&'static str>,
    /// Columns of the primary key, in order.
    pub primary_key: &'static [&'static str],
    /// The column holding the id that events and fetch-by-id calls use (`instance_id`, `role_name`).
    pub id_column: Option<&'static str>,
    /// Data columns, after the bookkeeping [`CQ_COLUMNS`].
    pub columns: &'static [Column],
}

impl Table {
    /// Every column, bookkeeping first, in the order rows and DDL use.
    pub fn all_columns(&self) -> impl Iterator<Item = &Column> + '_ {
        CQ_COLUMNS.iter().chain(self.columns.iter())
    }

    /// The index of a data column in [`Table::columns`].
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn is_top_level(&self) -> bool {
        self.parent.is_none()
    }

    /// Whether a column is part of the primary key.
    pub fn is_key(&self, column: &str) -> bool {
        self.primary_key.contains(&column)
    }
}

impl PartialEq for Table {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Table {}

impl std::hash::Hash for Table {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}
