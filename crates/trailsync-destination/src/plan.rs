//! A batch turned into the statements that apply it, the same for both dialects.
//!
//! Everything that decides *what* to run lives here — validation against the catalog,
//! de-duplication, child replacement across any depth, chunking under the parameter limit, the
//! order of steps — so the SQLite and PostgreSQL modules only execute [`Step`]s inside one
//! transaction and bind [`Param`]s.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use trailsync_catalog::{ColumnType, Deletion, Resource, Row, Table, Value};
use uuid::Uuid;

use crate::errors::{Context, Error, Operation};
use crate::history::{self, Stored, StoredRow};
use crate::lease::Statements;
use crate::own::{CHANGES, CHECKPOINTS, SKIPPED};
use crate::sql::{self, Dialect, Scope};
use trailsync_core::{Position, WriteBatch, WriteMode};

/// Child tables deeper than this are a cycle in the declarations, not a real hierarchy.
const MAX_DEPTH: usize = 16;

/// One value to bind. Borrowed from the batch where it can be, so planning copies no data.
#[derive(Clone, Debug)]
pub(crate) enum Param<'a> {
    Value(&'a Value),
    /// A value the plan made (a history row).
    Owned(Value),
    Text(&'a str),
    /// A shard position, bound as its stored text.
    Position(&'a Position),
    Uuid(Uuid),
    Timestamp(DateTime<Utc>),
    BigInt(i64),
    Null,
}

/// What a step's affected-row count adds to, or must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect<'a> {
    Upserted,
    Deleted,
    /// Replaced child rows and skipped changes: bookkeeping, not changes to report.
    Uncounted,
    /// A checkpoint: one row, or none when the writer's lease was lost (the batch then fails).
    Checkpoint {
        shard_id: &'a str,
        epoch: u64,
    },
}

/// One statement with its parameters.
#[derive(Debug)]
pub(crate) struct Step<'a> {
    pub sql: String,
    pub params: Vec<Param<'a>>,
    pub context: Context,
    pub effect: Effect<'a>,
}

/// The tables migrated through this destination: deletes reach their children through it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registry(Arc<RwLock<HashMap<&'static str, &'static Table>>>);

impl Registry {
    pub(crate) fn add(&self, tables: &[&'static Table]) {
        // A panic elsewhere while holding the lock leaves the map itself intact.
        let mut known = self.0.write().unwrap_or_else(PoisonError::into_inner);
        known.extend(tables.iter().map(|t| (t.name, *t)));
    }

    pub(crate) fn snapshot(&self) -> Known {
        Known(
            self.0
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The tables a plan may name, by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Known(HashMap<&'static str, &'static Table>);

impl Known {
    /// Every path from a child of `root` down to a migrated descendant, deepest first, so that
    /// deleting in this order never loses the rows a deeper statement selects through.
    fn descendant_chains(&self, root: &Table) -> Vec<Vec<&'static Table>> {
        let mut chains = Vec::new();
        self.collect_chains(root.name, &mut Vec::new(), &mut chains);
        chains.sort_by_key(|chain| std::cmp::Reverse(chain.len()));
        chains
    }

    fn collect_chains(
        &self,
        parent: &str,
        prefix: &mut Vec<&'static Table>,
        out: &mut Vec<Vec<&'static Table>>,
    ) {
        if prefix.len() >= MAX_DEPTH {
            return;
        }
        let mut children: Vec<&'static Table> = self
            .0
            .values()
            .copied()
            .filter(|t| t.parent.is_some_and(|p| p.name == parent))
            .collect();
        children.sort_by_key(|t| t.name);
        for child in children {
            prefix.push(child);
            out.push(prefix.clone());
            self.collect_chains(child.name, prefix, out);
            prefix.pop();
        }
    }

    /// The path from a child of `root` down to `target`, each table the parent of the next.
    fn path(&self, root: &Table, target: &'static Table) -> Result<Vec<&'static Table>, String> {
        let mut path = vec![target];
        let mut current = target;
        loop {
            match current.parent {
                Some(parent) if parent == root => break,
                Some(parent) if path.len() < MAX_DEPTH => {
                    current = self.0.get(parent.name).copied().ok_or_else(|| {
                        format!("its parent table {} was not migrated", parent.name)
                    })?;
                    path.push(current);
                }
                _ => return Err(format!("it is not a child table of {}", root.name)),
            }
        }
        path.reverse();
        Ok(path)
    }
}

/// What a read is for, so that its rows land in the right part of [`Stored`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The stored parents a batch upserts (locked on PostgreSQL until the commit).
    Parents,
    /// Their child rows, for the history.
    Children,
    /// The rows a deletion removes, for the history.
    Deleted,
}

/// A read a batch makes first, inside its transaction: every column of `table`'s rows.
#[derive(Debug)]
pub(crate) struct Read<'a> {
    pub step: Step<'a>,
    pub table: &'static Table,
    pub purpose: Purpose,
}

impl Stored {
    /// Files the rows one read returned.
    pub(crate) fn add(&mut self, read: &Read<'_>, rows: Vec<StoredRow>) {
        match read.purpose {
            Purpose::Parents => {
                self.parents.extend(rows.into_iter().map(|r| (r.cq_id, r)));
            }
            Purpose::Children => {
                for row in rows {
                    if let Some(parent) = row.parent_id {
                        self.children
                            .entry((read.table.name, parent))
                            .or_default()
                            .push(row);
                    }
                }
            }
            Purpose::Deleted => self
                .deleted
                .extend(rows.into_iter().map(|r| (read.table, r))),
        }
    }
}

/// The reads a keyed batch makes first: the stored parents it upserts (their sync times decide
/// whether the batch is newer; on PostgreSQL they stay locked until the commit, so that two
/// writers of one resource take turns), and, when it records history, their child rows and
/// the rows its deletions remove.
pub(crate) fn reads<'a>(dialect: Dialect, mode: WriteMode, batch: &'a WriteBatch) -> Vec<Read<'a>> {
    if !mode.is_keyed() {
        return Vec::new();
    }
    let mut parents: BTreeMap<&'static str, (&'static Table, Vec<Uuid>)> = BTreeMap::new();
    let mut children: BTreeMap<&'static str, (&'static Table, Vec<Uuid>)> = BTreeMap::new();
    for resource in &batch.upserts {
        let row = &resource.row;
        parents
            .entry(row.table.name)
            .or_insert((row.table, Vec::new()))
            .1
            .push(row.cq_id);
        if batch.history {
            for child in &resource.children {
                children
                    .entry(child.table.name)
                    .or_insert((child.table, Vec::new()))
                    .1
                    .push(row.cq_id);
            }
        }
    }
    let mut reads = Vec::new();
    for (purpose, column, groups) in [
        (Purpose::Parents, "_cq_id", parents),
        (Purpose::Children, "_cq_parent_id", children),
    ] {
        for (_, (table, mut ids)) in groups {
            // One order for every writer, so that row locks are taken without deadlocking.
            ids.sort_unstable();
            ids.dedup();
            for chunk in sql::chunks(dialect, &ids, 1) {
                let lock = purpose == Purpose::Parents;
                reads.push(Read {
                    step: Step {
                        sql: sql::select_rows_in(dialect, table, column, chunk.len(), lock),
                        params: chunk.iter().map(|id| Param::Uuid(*id)).collect(),
                        context: Context::new(Operation::ReadStored, table.name),
                        effect: Effect::Uncounted,
                    },
                    table,
                    purpose,
                });
            }
        }
    }
    if batch.history {
        for deletion in &batch.deletes {
            let Ok(filter) = checked_filter(deletion.table, &deletion.filter) else {
                // The write itself reports it.
                continue;
            };
            let mut condition = String::new();
            let next = sql::equal_all(
                dialect,
                filter.iter().map(|(c, v)| (*c, is_null(v))),
                1,
                &mut condition,
            );
            sql::not_after(dialect, next, &mut condition);
            let mut params: Vec<Param<'a>> = deletion
                .filter
                .iter()
                .filter(|(_, v)| !is_null(v))
                .map(|(_, v)| Param::Value(v))
                .collect();
            params.push(Param::Timestamp(batch.sync_time));
            reads.push(Read {
                step: Step {
                    sql: sql::select_rows(deletion.table, &condition),
                    params,
                    context: Context::new(Operation::ReadStored, deletion.table.name),
                    effect: Effect::Uncounted,
                },
                table: deletion.table,
                purpose: Purpose::Deleted,
            });
        }
    }
    reads
}

/// The statements applying `batch`: child replacement, upserts, deletes, then checkpoints.
///
/// Upserts come before deletes, so a batch that both writes and deletes a resource ends without
/// it; callers coalesce per resource and should not send both. A resource whose stored row is
/// newer than the batch (see [`Stored`]) is left alone, children included, and a deletion only
/// removes rows observed no later than the batch.
pub(crate) fn write<'a>(
    dialect: Dialect,
    mode: WriteMode,
    known: &Known,
    batch: &'a WriteBatch,
    stored: &Stored,
    statements: &Statements,
) -> Result<Vec<Step<'a>>, Error> {
    let keyed = mode.is_keyed();
    let mut known = known.clone();
    for resource in &batch.upserts {
        for child in &resource.children {
            known.0.entry(child.table.name).or_insert(child.table);
        }
    }
    let mut steps = Vec::new();

    let resources: Vec<&Resource> = if keyed {
        last_per_key(batch.upserts.iter(), |r| &r.row)
            .into_iter()
            .filter(|r| !stored.is_newer(&r.row.cq_id, batch.sync_time))
            .collect()
    } else {
        batch.upserts.iter().collect()
    };
    let history = if keyed {
        history::changes(batch, &resources, stored)
    } else {
        Vec::new()
    };
    let mut parents = Grouped::default();
    let mut children = Grouped::default();
    let mut replaced = Replacements::default();
    for resource in resources {
        let parent = &resource.row;
        check_row(parent, keyed)?;
        parents.push(parent, parent.parent_id);
        for child_rows in &resource.children {
            let table = child_rows.table;
            let path = known.path(parent.table, table).map_err(|reason| {
                invalid(
                    table,
                    format!("cannot write it under {}: {reason}", parent.table.name),
                )
            })?;
            for row in &child_rows.rows {
                if row.table != table {
                    return Err(invalid(
                        table,
                        format!("a row of {} is listed among its rows", row.table.name),
                    ));
                }
                check_row(row, keyed)?;
                // A direct child's parent is known: fill it in, and refuse a contradiction.
                let parent_id = match (path.len(), row.parent_id) {
                    (1, Some(id)) if id != parent.cq_id => {
                        return Err(invalid(
                            table,
                            format!("row {} names parent {id}, not {}", row.cq_id, parent.cq_id),
                        ));
                    }
                    (1, _) => Some(parent.cq_id),
                    (_, id) => id,
                };
                children.push(row, parent_id);
            }
            if keyed {
                // The listed table and everything below it, so no row is left orphaned.
                for tail in known.descendant_chains(table) {
                    let mut chain = path.clone();
                    chain.extend(tail);
                    replaced.add(chain, parent.cq_id);
                }
                replaced.add(path, parent.cq_id);
            }
        }
    }

    replaced.steps(dialect, &mut steps);
    let operation = if keyed {
        Operation::Upsert
    } else {
        Operation::Insert
    };
    parents.insert_steps(dialect, batch, keyed, operation, &mut steps);
    if keyed {
        children.dedupe();
    }
    children.sort_by_depth();
    children.insert_steps(dialect, batch, keyed, operation, &mut steps);

    for deletion in &batch.deletes {
        let observed = keyed.then_some(&batch.sync_time);
        delete_steps(dialect, &known, deletion, observed, &mut steps)?;
    }
    skipped_steps(dialect, batch, &mut steps);
    history_steps(dialect, history, &mut steps);
    checkpoint_steps(statements, batch, &mut steps);
    Ok(steps)
}

/// Rows of `trailsync_changes`.
fn history_steps(dialect: Dialect, rows: Vec<history::ChangeRow>, steps: &mut Vec<Step<'_>>) {
    let width = CHANGES.columns.len();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let size = sql::chunk_sizes(dialect, rows.len(), width)
            .first()
            .copied()
            .unwrap_or(1);
        let chunk: Vec<_> = rows.by_ref().take(size.max(1)).collect();
        steps.push(Step {
            sql: sql::insert_own(dialect, &CHANGES, chunk.len()),
            params: chunk.into_iter().flatten().map(Param::Owned).collect(),
            context: Context::new(Operation::Insert, CHANGES.name),
            effect: Effect::Uncounted,
        });
    }
}

/// Rows of `trailsync_skipped`, stamped with the batch's time and source.
fn skipped_steps<'a>(dialect: Dialect, batch: &'a WriteBatch, steps: &mut Vec<Step<'a>>) {
    for chunk in sql::chunks(dialect, &batch.skipped, SKIPPED.columns.len()) {
        let text = |value: &'a Option<String>| value.as_deref().map_or(Param::Null, Param::Text);
        let params = chunk
            .iter()
            .flat_map(|s| {
                [
                    Param::Timestamp(batch.sync_time),
                    Param::Text(&batch.source_name),
                    Param::Text(s.table),
                    text(&s.resource_id),
                    Param::Text(&s.account_id),
                    Param::Text(&s.region),
                    text(&s.event_id),
                    text(&s.event_name),
                    Param::Text(&s.reason),
                    Param::Text(&s.error),
                ]
            })
            .collect();
        steps.push(Step {
            sql: sql::insert_own(dialect, &SKIPPED, chunk.len()),
            params,
            context: Context::new(Operation::Insert, SKIPPED.name),
            effect: Effect::Uncounted,
        });
    }
}

/// Statements deleting `deletion`'s rows and, first, every row below them; with `observed`,
/// only rows whose `_cq_sync_time` is not later (a newer observation stays).
fn delete_steps<'a>(
    dialect: Dialect,
    known: &Known,
    deletion: &'a Deletion,
    observed: Option<&'a DateTime<Utc>>,
    steps: &mut Vec<Step<'a>>,
) -> Result<(), Error> {
    let table = deletion.table;
    if deletion.filter.is_empty() {
        return Err(invalid(
            table,
            "a deletion without a filter would empty the table".into(),
        ));
    }
    let filter = checked_filter(table, &deletion.filter)?;
    let mut condition = String::new();
    let next = sql::equal_all(
        dialect,
        filter.iter().map(|(c, v)| (*c, is_null(v))),
        1,
        &mut condition,
    );
    let mut params: Vec<Param<'a>> = deletion
        .filter
        .iter()
        .filter(|(_, v)| !is_null(v))
        .map(|(_, v)| Param::Value(v))
        .collect();
    if let Some(observed) = observed {
        sql::not_after(dialect, next, &mut condition);
        params.push(Param::Timestamp(*observed));
    }
    cascade(
        dialect,
        known,
        table,
        &condition,
        &params,
        Operation::Delete,
        steps,
    );
    Ok(())
}

/// The statements of [`Destination::delete_stale`](crate::Destination::delete_stale).
pub(crate) fn delete_stale<'a>(
    dialect: Dialect,
    known: &Known,
    table: &'static Table,
    source: &'a str,
    before: DateTime<Utc>,
    filter: &'a [(&'static str, Value)],
) -> Result<Vec<Step<'a>>, Error> {
    let checked = checked_filter(table, filter)?;
    let condition = sql::stale_condition(dialect, checked.iter().map(|(c, v)| (*c, is_null(v))));
    let mut params = vec![Param::Text(source), Param::Timestamp(before)];
    params.extend(
        filter
            .iter()
            .filter(|(_, v)| !is_null(v))
            .map(|(_, v)| Param::Value(v)),
    );
    let mut steps = Vec::new();
    cascade(
        dialect,
        known,
        table,
        &condition,
        &params,
        Operation::DeleteStale,
        &mut steps,
    );
    Ok(steps)
}

/// Deletes the rows of `table` matching `condition`, after the rows descending from them.
fn cascade<'a>(
    dialect: Dialect,
    known: &Known,
    table: &'static Table,
    condition: &str,
    params: &[Param<'a>],
    operation: Operation,
    steps: &mut Vec<Step<'a>>,
) {
    let scope = Scope::Rows { table, condition };
    for chain in known.descendant_chains(table) {
        let Some(target) = chain.last() else { continue };
        steps.push(Step {
            sql: sql::delete(target.name, &sql::descendants(dialect, &scope, &chain)),
            params: params.to_vec(),
            context: Context::new(operation, target.name),
            effect: Effect::Deleted,
        });
    }
    steps.push(Step {
        sql: sql::delete(table.name, condition),
        params: params.to_vec(),
        context: Context::new(operation, table.name),
        effect: Effect::Deleted,
    });
}

/// One statement per shard (its last checkpoint in the batch), each fenced by the lease epoch.
fn checkpoint_steps<'a>(statements: &Statements, batch: &'a WriteBatch, steps: &mut Vec<Step<'a>>) {
    let mut seen = HashSet::new();
    let mut checkpoints: Vec<_> = batch
        .checkpoints
        .iter()
        .rev()
        .filter(|c| seen.insert((&c.source_name, &c.stream_arn, &c.shard_id)))
        .collect();
    checkpoints.reverse();
    let now = Utc::now();
    for checkpoint in checkpoints {
        steps.push(Step {
            sql: statements.checkpoint.clone(),
            params: vec![
                Param::Text(&checkpoint.source_name),
                Param::Text(&checkpoint.stream_arn),
                Param::Text(&checkpoint.shard_id),
                Param::Position(&checkpoint.position),
                Param::Timestamp(now),
                Param::BigInt(crate::lease::stored_epoch(checkpoint.epoch)),
            ],
            context: Context::new(Operation::WriteCheckpoint, CHECKPOINTS.name),
            effect: Effect::Checkpoint {
                shard_id: &checkpoint.shard_id,
                epoch: checkpoint.epoch,
            },
        });
    }
}

/// A row to insert and the `_cq_parent_id` to stamp on it.
type Placed<'a> = (&'a Row, Option<Uuid>);

/// The rows to delete before a batch's child rows are inserted: for each path below a parent
/// table, the ids of the parents written whose rows along that path are replaced.
#[derive(Default)]
struct Replacements {
    chains: Vec<(Vec<&'static Table>, Vec<Uuid>)>,
    index: HashMap<Vec<&'static str>, usize>,
}

impl Replacements {
    fn add(&mut self, chain: Vec<&'static Table>, parent: Uuid) {
        let names: Vec<&'static str> = chain.iter().map(|t| t.name).collect();
        let slot = *self.index.entry(names).or_insert_with(|| {
            self.chains.push((chain, Vec::new()));
            self.chains.len() - 1
        });
        self.chains[slot].1.push(parent);
    }

    fn steps(mut self, dialect: Dialect, steps: &mut Vec<Step<'_>>) {
        // Deepest first: a deeper statement selects through the rows of the levels above it.
        self.chains
            .sort_by_key(|(chain, _)| std::cmp::Reverse(chain.len()));
        for (chain, mut ids) in self.chains {
            let Some(target) = chain.last() else { continue };
            ids.sort_unstable();
            ids.dedup();
            for chunk in sql::chunks(dialect, &ids, 1) {
                steps.push(Step {
                    sql: sql::delete(
                        target.name,
                        &sql::descendants(dialect, &Scope::Ids(chunk.len()), &chain),
                    ),
                    params: chunk.iter().map(|id| Param::Uuid(*id)).collect(),
                    context: Context::new(Operation::ReplaceChildren, target.name),
                    effect: Effect::Uncounted,
                });
            }
        }
    }
}

/// Rows of several tables to insert, grouped per table in first-seen order.
#[derive(Default)]
struct Grouped<'a> {
    tables: Vec<(&'static Table, Vec<Placed<'a>>)>,
    index: HashMap<&'static str, usize>,
}

impl<'a> Grouped<'a> {
    fn push(&mut self, row: &'a Row, parent_id: Option<Uuid>) {
        let slot = *self.index.entry(row.table.name).or_insert_with(|| {
            self.tables.push((row.table, Vec::new()));
            self.tables.len() - 1
        });
        self.tables[slot].1.push((row, parent_id));
    }

    /// Keeps the last row per key in each table: one statement cannot upsert a row twice.
    fn dedupe(&mut self) {
        for (_, rows) in &mut self.tables {
            *rows = last_per_key(rows.iter().copied(), |(row, _)| *row);
        }
    }

    fn sort_by_depth(&mut self) {
        let depth = |t: &Table| {
            let mut depth = 0;
            let mut parent = t.parent;
            while let Some(table) = parent {
                depth += 1;
                parent = table.parent.filter(|_| depth < MAX_DEPTH);
            }
            depth
        };
        self.tables.sort_by_key(|(t, _)| depth(t));
    }

    fn insert_steps(
        &self,
        dialect: Dialect,
        batch: &'a WriteBatch,
        upsert: bool,
        operation: Operation,
        steps: &mut Vec<Step<'a>>,
    ) {
        for (table, rows) in &self.tables {
            let width = table.all_columns().count();
            for chunk in sql::chunks(dialect, rows, width) {
                let mut params = Vec::with_capacity(chunk.len() * width);
                for (row, parent_id) in chunk {
                    params.push(Param::Timestamp(batch.sync_time));
                    params.push(Param::Text(&batch.source_name));
                    params.push(Param::Uuid(row.cq_id));
                    params.push(parent_id.map_or(Param::Null, Param::Uuid));
                    params.extend(row.values.iter().map(Param::Value));
                }
                steps.push(Step {
                    sql: sql::insert(dialect, table, chunk.len(), upsert),
                    params,
                    context: Context::new(operation, table.name),
                    effect: Effect::Upserted,
                });
            }
        }
    }
}

/// Keeps the last occurrence per (table, key), in the order of those occurrences: later writes
/// of a row win, as they would if applied one at a time.
fn last_per_key<'a, T: Copy>(
    items: impl DoubleEndedIterator<Item = T>,
    row: impl Fn(&T) -> &'a Row,
) -> Vec<T> {
    let mut seen = HashSet::new();
    let mut kept: Vec<T> = items
        .rev()
        .filter(|item| {
            let row = row(item);
            seen.insert((row.table.name, key_text(row)))
        })
        .collect();
    kept.reverse();
    kept
}

/// A row's key as comparable text (values of one column share a type, so Debug is faithful).
fn key_text(row: &Row) -> String {
    let mut text = String::new();
    for column in sql::key_columns(row.table) {
        let part = match *column {
            "_cq_id" => format!("{:?}", row.cq_id),
            "_cq_parent_id" => format!("{:?}", row.parent_id),
            name => format!("{:?}", row.get(name)),
        };
        text.push_str(&part);
        text.push('\u{1f}');
    }
    text
}

/// Refuses a row that does not fit its table: a wrong arity or value type would otherwise land
/// in SQLite unnoticed, and fail in PostgreSQL with less context.
fn check_row(row: &Row, keyed: bool) -> Result<(), Error> {
    let table = row.table;
    if row.values.len() != table.columns.len() {
        return Err(invalid(
            table,
            format!(
                "row {} has {} values for {} columns",
                row.cq_id,
                row.values.len(),
                table.columns.len()
            ),
        ));
    }
    for (column, value) in table.columns.iter().zip(&row.values) {
        if !fits(value, column.ty) {
            return Err(invalid(
                table,
                format!(
                    "row {}: column {} ({}) cannot hold {}",
                    row.cq_id,
                    column.name,
                    column.ty,
                    kind(value)
                ),
            ));
        }
        if keyed && is_null(value) && table.is_key(column.name) {
            return Err(invalid(
                table,
                format!(
                    "row {}: primary key column {} is NULL",
                    row.cq_id, column.name
                ),
            ));
        }
    }
    Ok(())
}

/// The filter with each column checked against the table, named by the catalog's own string.
fn checked_filter<'f>(
    table: &'static Table,
    filter: &'f [(&'static str, Value)],
) -> Result<Vec<(&'static str, &'f Value)>, Error> {
    filter
        .iter()
        .map(|(name, value)| {
            let column = table
                .all_columns()
                .find(|c| c.name == *name)
                .ok_or_else(|| invalid(table, format!("filter column {name} does not exist")))?;
            if !fits(value, column.ty) {
                return Err(invalid(
                    table,
                    format!(
                        "filter column {name} ({}) cannot match {}",
                        column.ty,
                        kind(value)
                    ),
                ));
            }
            Ok((column.name, value))
        })
        .collect()
}

fn fits(value: &Value, ty: ColumnType) -> bool {
    matches!(
        (value, ty),
        (Value::Null, _)
            | (Value::Text(_), ColumnType::Text)
            | (Value::BigInt(_), ColumnType::BigInt)
            | (Value::Boolean(_), ColumnType::Boolean)
            | (Value::Double(_), ColumnType::Double)
            | (Value::Timestamp(_), ColumnType::Timestamp)
            | (Value::Json(_), ColumnType::Json)
            | (Value::TextArray(_), ColumnType::TextArray)
            | (Value::Uuid(_), ColumnType::Uuid)
    )
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Text(_) => "text",
        Value::BigInt(_) => "a bigint",
        Value::Boolean(_) => "a boolean",
        Value::Double(_) => "a double",
        Value::Timestamp(_) => "a timestamp",
        Value::Json(_) => "JSON",
        Value::TextArray(_) => "a text list",
        Value::Uuid(_) => "a uuid",
    }
}

/// Refuses to upsert into a table keyed differently from the catalog: every write would fail.
pub(crate) fn check_key(table: &'static Table, existing: &[&str]) -> Result<(), Error> {
    let mut expected: Vec<&str> = sql::key_columns(table).to_vec();
    let mut found: Vec<&str> = existing.to_vec();
    expected.sort_unstable();
    found.sort_unstable();
    if expected == found {
        return Ok(());
    }
    Err(Error::Migration {
        table: table.name,
        reason: format!(
            "its primary key is ({}) but the catalog's is ({}); upserts need the catalog's key \
             (rename or drop the table so it is created anew, or use write_mode append)",
            existing.join(", "),
            sql::key_columns(table).join(", ")
        ),
    })
}

fn invalid(table: &'static Table, reason: String) -> Error {
    Error::InvalidBatch {
        table: table.name,
        reason,
    }
}

fn is_null(value: &Value) -> bool {
    matches!(value, Value::Null)
}
