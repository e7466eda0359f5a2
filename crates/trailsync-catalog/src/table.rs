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
    /// Every service with tables, for lookups by name or event source.
    pub const ALL: [Service; 4] = [Service::Ec2, Service::Iam, Service::Rds, Service::Ecs];

    pub fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Iam => "iam",
            Service::Rds => "rds",
            Service::Ecs => "ecs",
        }
    }

    /// The `eventSource` of the service's CloudTrail events: `ec2.amazonaws.com`.
    pub fn event_source(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2.amazonaws.com",
            Service::Iam => "iam.amazonaws.com",
            Service::Rds => "rds.amazonaws.com",
            Service::Ecs => "ecs.amazonaws.com",
        }
    }

    /// The service whose CloudTrail events carry this `eventSource`.
    pub fn from_event_source(source: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .find(|s| s.event_source() == source)
    }

    /// Whether the service keeps one set of resources per account (IAM) rather than per region.
    /// Its events carry the caller's region; its resources are reported in [`GLOBAL_REGION`].
    pub fn is_global(self) -> bool {
        matches!(self, Service::Iam)
    }
}

/// The region global services (IAM) are reached through and reported in, by CloudQuery's rows
/// and by trailsync's changes alike.
pub const GLOBAL_REGION: &str = "us-east-1";

/// How one resource's id is spelled, so that one resource has one id however an event names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdForm {
    /// As the event gives it.
    AsIs,
    /// RDS identifiers: case-insensitive and stored lowercase; an ARN becomes its last field.
    RdsIdentifier,
    /// ECS cluster: a cluster ARN becomes the cluster name after its last `/`.
    ArnName,
}

/// How events and fetch-by-id calls name one resource of a top-level table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceId {
    /// The column holding the id (`instance_id`, `role_name`).
    pub column: &'static str,
    pub form: IdForm,
    /// EC2's id prefix (`i-`, `sg-`): `CreateTags`/`DeleteTags` name resources of every type in
    /// one list, and this is how their ids are told apart.
    pub tag_prefix: Option<&'static str>,
}

impl ResourceId {
    /// Ids in `column`, used as events give them, not taggable through EC2's `CreateTags`.
    pub const fn new(column: &'static str) -> ResourceId {
        ResourceId {
            column,
            form: IdForm::AsIs,
            tag_prefix: None,
        }
    }

    /// Ids start with `prefix`, and EC2's `CreateTags`/`DeleteTags` refresh them.
    pub const fn tagged(self, prefix: &'static str) -> ResourceId {
        ResourceId {
            tag_prefix: Some(prefix),
            ..self
        }
    }

    pub const fn form(self, form: IdForm) -> ResourceId {
        ResourceId { form, ..self }
    }

    /// The id as this table stores it, or `None` for an empty one.
    pub fn normalise(&self, id: &str) -> Option<String> {
        let id = match self.form {
            IdForm::AsIs => id.to_owned(),
            IdForm::RdsIdentifier => id
                .strip_prefix("arn:")
                .and_then(|rest| rest.rsplit(':').next())
                .unwrap_or(id)
                .to_ascii_lowercase(),
            IdForm::ArnName => id
                .strip_prefix("arn:")
                .and_then(|rest| rest.rsplit('/').next())
                .unwrap_or(id)
                .to_owned(),
        };
        (!id.is_empty()).then_some(id)
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
    pub parent: Option<&'static Table>,
    /// Columns of the primary key, in order.
    pub primary_key: &'static [&'static str],
    /// How events and fetch-by-id calls name a resource; top-level tables that events refresh.
    pub id: Option<ResourceId>,
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

    /// The column holding the resource id (`instance_id`, `role_name`), if the table has one.
    pub fn id_column(&self) -> Option<&'static str> {
        self.id.map(|id| id.column)
    }

    /// The top-level table this one belongs to (itself, for a top-level table).
    pub fn root(&'static self) -> &'static Table {
        let mut table = self;
        while let Some(parent) = table.parent {
            table = parent;
        }
        table
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

impl PartialOrd for Table {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Tables order by name, as they compare by name.
impl Ord for Table {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name.cmp(other.name)
    }
}

impl std::hash::Hash for Table {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}
