//! Behaviour tests, each written once and run against a real SQLite file and a real PostgreSQL
//! database (one fresh database per test, so they run in parallel).

mod fixtures;
mod harness;

use std::collections::HashMap;
use std::str::FromStr;

use serde_json::json;
use trailsync_catalog::{ChildRows, Deletion, Resource, Row, Table, Value};
use uuid::Uuid;

use self::fixtures::*;
use self::harness::{PostgresDb, SqliteDb, Stored, TestDb, open};
use crate::Error;
use trailsync_core::{
    Destination, DestinationError, DestinationKind as Kind, Position, WriteBatch, WriteMode,
    WriteSummary,
};

/// The destination's own error inside the port's.
fn cause(error: &DestinationError) -> &Error {
    error.downcast_ref().expect("a destination error")
}

/// Runs a test body against both destinations, as `name::sqlite` and `name::postgres`.
macro_rules! both {
    ($name:ident) => {
        both!($name, WriteMode::OverwriteDeleteStale);
    };
    ($name:ident, $mode:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let db = open(Kind::Sqlite, $mode).await;
                super::$name(db.as_ref()).await;
            }

            #[tokio::test]
            async fn postgres() {
                let db = open(Kind::Postgres, $mode).await;
                super::$name(db.as_ref()).await;
            }
        }
    };
}

mod history;
mod leases;

async fn migrate_all(db: &dyn TestDb) {
    db.dest().migrate(&ALL).await.expect("migrate");
}

async fn write(db: &dyn TestDb, batch: &WriteBatch) -> WriteSummary {
    db.dest().write(batch).await.expect("write")
}

fn names(rows: &[Stored], table: &Table, column: &str) -> Vec<String> {
    let mut names: Vec<String> = rows
        .iter()
        .map(|r| r.text(table, column).to_string())
        .collect();
    names.sort();
    names
}

fn column_names(table: &Table) -> Vec<String> {
    table.all_columns().map(|c| c.name.to_string()).collect()
}

both!(migrate_creates_tables_and_is_idempotent);
async fn migrate_creates_tables_and_is_idempotent(db: &dyn TestDb) {
    let ec2 = &trailsync_catalog::tables::ec2::INSTANCES;
    db.dest()
        .migrate(&[&GRANDCHILDREN, &CHILDREN, &PARENTS, ec2])
        .await
        .expect("migrate");
    for table in [&PARENTS, &CHILDREN, &GRANDCHILDREN, ec2] {
        assert_eq!(
            db.columns(table.name).await,
            column_names(table),
            "{}",
            table.name
        );
    }
    for own in crate::own::OWN_TABLES {
        let declared: Vec<&str> = own.columns.iter().map(|c| c.name).collect();
        assert_eq!(db.columns(own.name).await, declared, "{}", own.name);
    }
    db.dest()
        .migrate(&ALL)
        .await
        .expect("migrating again changes nothing");
    assert_eq!(db.columns(PARENTS.name).await, column_names(&PARENTS));
    assert!(
        db.dest()
            .checkpoints(SOURCE, STREAM)
            .await
            .expect("checkpoints")
            .is_empty()
    );
}

both!(migrate_adds_missing_columns_and_keeps_rows);
async fn migrate_adds_missing_columns_and_keeps_rows(db: &dyn TestDb) {
    db.dest().migrate(&[&PARENTS_V1]).await.expect("migrate v1");
    assert_eq!(db.columns(PARENTS.name).await, column_names(&PARENTS_V1));
    let old = row(
        &PARENTS_V1,
        None,
        &[
            ("account_id", text(ACCOUNT)),
            ("region", text(REGION)),
            ("id", text("p-old")),
            ("name", text("kept")),
        ],
    );
    write(db, &batch(time(0), vec![Resource::new(old)])).await;

    db.dest().migrate(&[&PARENTS]).await.expect("migrate v2");
    assert_eq!(db.columns(PARENTS.name).await, column_names(&PARENTS));
    let mut new = parent("p-new", "fresh");
    new.values[PARENTS.column_index("size").expect("size")] = Value::BigInt(7);
    write(db, &batch(time(1), vec![Resource::new(new)])).await;

    let rows = db.rows(&PARENTS).await;
    assert_eq!(rows.len(), 2);
    let old = rows
        .iter()
        .find(|r| r.text(&PARENTS, "id") == "p-old")
        .expect("old row kept");
    assert_eq!(old.text(&PARENTS, "name"), "kept");
    assert_eq!(old.get(&PARENTS, "size"), &Value::Null);
    let new = rows
        .iter()
        .find(|r| r.text(&PARENTS, "id") == "p-new")
        .expect("new row");
    assert_eq!(new.get(&PARENTS, "size"), &Value::BigInt(7));
}

both!(migrate_refuses_a_table_keyed_differently);
async fn migrate_refuses_a_table_keyed_differently(db: &dyn TestDb) {
    db.dest()
        .migrate(&[&PARENTS_OTHER_KEY])
        .await
        .expect("other key");
    let error = db
        .dest()
        .migrate(&[&PARENTS])
        .await
        .expect_err("key differs");
    assert!(
        matches!(
            cause(&error),
            Error::Migration {
                table: "ts_test_parents",
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.is_retryable());
}

both!(upsert_twice_updates_instead_of_duplicating);
async fn upsert_twice_updates_instead_of_duplicating(db: &dyn TestDb) {
    migrate_all(db).await;
    let first = write(
        db,
        &batch(time(0), vec![Resource::new(parent("p1", "before"))]),
    )
    .await;
    assert_eq!(
        first,
        WriteSummary {
            rows_upserted: 1,
            rows_deleted: 0
        }
    );
    let mut second = batch(time(60), vec![Resource::new(parent("p1", "after"))]);
    second.source_name = "other-source".into();
    assert_eq!(write(db, &second).await.rows_upserted, 1);

    let rows = db.rows(&PARENTS).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].text(&PARENTS, "name"), "after");
    assert_eq!(rows[0].sync_time, Some(time(60)));
    assert_eq!(rows[0].source.as_deref(), Some("other-source"));
    assert_eq!(rows[0].cq_id, parent("p1", "").cq_id);
    assert_eq!(rows[0].parent_id, None);
}

both!(children_are_replaced_with_their_parent);
async fn children_are_replaced_with_their_parent(db: &dyn TestDb) {
    migrate_all(db).await;
    let p1 = parent("p1", "one");
    let p2 = parent("p2", "two");
    let a = child(&p1, "a", "1");
    let x = grandchild(&a, "x");
    let c = child(&p2, "c", "3");
    let y = grandchild(&c, "y");
    let summary = write(
        db,
        &batch(
            time(0),
            vec![
                family(p1.clone(), vec![a.clone(), child(&p1, "b", "2")], vec![x]),
                family(p2.clone(), vec![c], vec![y]),
            ],
        ),
    )
    .await;
    assert_eq!(summary.rows_upserted, 7);

    // p1 again: b changed, a gone, d new; grandchildren listed empty.
    write(
        db,
        &batch(
            time(1),
            vec![family(
                p1.clone(),
                vec![child(&p1, "b", "2b"), child(&p1, "d", "4")],
                vec![],
            )],
        ),
    )
    .await;
    let children = db.rows(&CHILDREN).await;
    assert_eq!(names(&children, &CHILDREN, "name"), ["b", "c", "d"]);
    let b = children
        .iter()
        .find(|r| r.text(&CHILDREN, "name") == "b")
        .expect("b");
    assert_eq!(b.text(&CHILDREN, "value"), "2b");
    assert_eq!(b.parent_id, Some(p1.cq_id));
    assert_eq!(b.sync_time, Some(time(1)));
    assert_eq!(
        names(&db.rows(&GRANDCHILDREN).await, &GRANDCHILDREN, "name"),
        ["y"],
        "p2's kept"
    );

    // A resource that lists no child tables leaves its children alone.
    write(
        db,
        &batch(time(2), vec![Resource::new(parent("p1", "renamed"))]),
    )
    .await;
    assert_eq!(
        names(&db.rows(&CHILDREN).await, &CHILDREN, "name"),
        ["b", "c", "d"]
    );

    // Listing only the child table still replaces what hangs below the old children.
    let e = child(&p2, "e", "5");
    write(
        db,
        &batch(
            time(3),
            vec![Resource {
                row: p2.clone(),
                children: vec![ChildRows {
                    table: &CHILDREN,
                    rows: vec![e],
                }],
            }],
        ),
    )
    .await;
    assert_eq!(
        names(&db.rows(&CHILDREN).await, &CHILDREN, "name"),
        ["b", "d", "e"]
    );
    assert!(db.rows(&GRANDCHILDREN).await.is_empty());

    // An empty set removes them all.
    write(
        db,
        &batch(time(4), vec![family(p1.clone(), vec![], vec![])]),
    )
    .await;
    assert_eq!(names(&db.rows(&CHILDREN).await, &CHILDREN, "name"), ["e"]);
}

both!(the_last_write_of_a_resource_in_a_batch_wins);
async fn the_last_write_of_a_resource_in_a_batch_wins(db: &dyn TestDb) {
    migrate_all(db).await;
    let p1 = parent("p1", "first");
    let later = parent("p1", "second");
    let summary = write(
        db,
        &batch(
            time(0),
            vec![
                family(
                    p1.clone(),
                    vec![child(&p1, "a", "1"), child(&p1, "a", "1b")],
                    vec![],
                ),
                family(
                    later.clone(),
                    vec![child(&later, "b", "2"), child(&later, "b", "2b")],
                    vec![],
                ),
            ],
        ),
    )
    .await;
    assert_eq!(summary.rows_upserted, 2);
    let parents = db.rows(&PARENTS).await;
    assert_eq!(parents.len(), 1);
    assert_eq!(parents[0].text(&PARENTS, "name"), "second");
    let children = db.rows(&CHILDREN).await;
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].text(&CHILDREN, "value"), "2b");
}

both!(delete_removes_the_parent_and_everything_below);
async fn delete_removes_the_parent_and_everything_below(db: &dyn TestDb) {
    migrate_all(db).await;
    let p1 = parent("p1", "one");
    let p2 = parent("p2", "two");
    let a = child(&p1, "a", "1");
    let c = child(&p2, "c", "3");
    write(
        db,
        &batch(
            time(0),
            vec![
                family(
                    p1.clone(),
                    vec![a.clone(), child(&p1, "b", "2")],
                    vec![grandchild(&a, "x")],
                ),
                family(p2.clone(), vec![c.clone()], vec![grandchild(&c, "y")]),
            ],
        ),
    )
    .await;

    let mut deletion = WriteBatch::new(SOURCE, time(1));
    deletion.deletes = vec![delete_parent("p1"), delete_parent("never-existed")];
    let summary = write(db, &deletion).await;
    assert_eq!(
        summary,
        WriteSummary {
            rows_upserted: 0,
            rows_deleted: 4
        }
    );
    assert_eq!(names(&db.rows(&PARENTS).await, &PARENTS, "id"), ["p2"]);
    assert_eq!(names(&db.rows(&CHILDREN).await, &CHILDREN, "name"), ["c"]);
    assert_eq!(
        names(&db.rows(&GRANDCHILDREN).await, &GRANDCHILDREN, "name"),
        ["y"]
    );

    // A NULL filter value matches NULL, not nothing.
    let mut by_null = WriteBatch::new(SOURCE, time(2));
    by_null.deletes = vec![Deletion {
        table: &PARENTS,
        filter: vec![("id", text("p2")), ("size", Value::Null)],
    }];
    assert_eq!(write(db, &by_null).await.rows_deleted, 3);
    assert!(db.rows(&CHILDREN).await.is_empty());
}

both!(deletions_that_could_not_be_meant_are_refused);
async fn deletions_that_could_not_be_meant_are_refused(db: &dyn TestDb) {
    migrate_all(db).await;
    write(
        db,
        &batch(time(0), vec![Resource::new(parent("p1", "one"))]),
    )
    .await;
    let refused = [
        Deletion {
            table: &PARENTS,
            filter: vec![],
        },
        Deletion {
            table: &PARENTS,
            filter: vec![("no_such_column", text("x"))],
        },
        Deletion {
            table: &PARENTS,
            filter: vec![("size", text("not a number"))],
        },
    ];
    for deletion in refused {
        let mut b = WriteBatch::new(SOURCE, time(1));
        b.deletes = vec![deletion];
        let error = db.dest().write(&b).await.expect_err("refused");
        assert!(
            matches!(cause(&error), Error::InvalidBatch { .. }),
            "{error}"
        );
    }
    assert_eq!(db.rows(&PARENTS).await.len(), 1);
}

both!(delete_stale_removes_only_older_rows_of_that_source);
async fn delete_stale_removes_only_older_rows_of_that_source(db: &dyn TestDb) {
    migrate_all(db).await;
    let old = parent("old", "stale");
    let old_child = child(&old, "a", "1");
    let current_sync = time(60) + chrono::Duration::nanoseconds(123_456_789);
    write(
        db,
        &batch(
            time(0),
            vec![
                family(
                    old.clone(),
                    vec![old_child.clone()],
                    vec![grandchild(&old_child, "x")],
                ),
                Resource::new(parent_in("999988887777", "other-account", "stale too")),
            ],
        ),
    )
    .await;
    write(
        db,
        &batch(
            current_sync,
            vec![Resource::new(parent("fresh", "current"))],
        ),
    )
    .await;
    let mut other_source = batch(
        time(0),
        vec![Resource::new(parent("theirs", "other source"))],
    );
    other_source.source_name = "another-source".into();
    write(db, &other_source).await;

    let in_account = [("account_id", text(ACCOUNT))];
    let deleted = db
        .dest()
        .delete_stale(&PARENTS, SOURCE, current_sync, &in_account)
        .await
        .expect("delete stale");
    assert_eq!(deleted, 3, "the parent, its child and grandchild");
    assert_eq!(
        names(&db.rows(&PARENTS).await, &PARENTS, "id"),
        ["fresh", "other-account", "theirs"]
    );
    assert!(db.rows(&CHILDREN).await.is_empty());
    assert!(db.rows(&GRANDCHILDREN).await.is_empty());

    let deleted = db
        .dest()
        .delete_stale(&PARENTS, SOURCE, current_sync, &[])
        .await
        .expect("delete stale");
    assert_eq!(deleted, 1);
    // Rows of this very sync (stamped with the same, nanosecond-precise time) stay.
    assert_eq!(
        names(&db.rows(&PARENTS).await, &PARENTS, "id"),
        ["fresh", "theirs"]
    );
    let deleted = db
        .dest()
        .delete_stale(&CHILDREN, SOURCE, current_sync, &[])
        .await
        .expect("children table alone");
    assert_eq!(deleted, 0);
}

both!(checkpoints_commit_with_the_rows_or_not_at_all);
async fn checkpoints_commit_with_the_rows_or_not_at_all(db: &dyn TestDb) {
    migrate_all(db).await;
    let p1 = parent("p1", "committed");
    let mut first = batch(time(0), vec![Resource::new(p1.clone())]);
    first.checkpoints = vec![checkpoint("shard-1", "100"), checkpoint("shard-2", "5")];
    let mut elsewhere = checkpoint("shard-1", "999");
    elsewhere.stream_arn = "arn:aws:kinesis:us-east-1:111122223333:stream/other".into();
    first.checkpoints.push(elsewhere);
    write(db, &first).await;
    let expected: HashMap<String, Position> = [
        ("shard-1".to_string(), position("100")),
        ("shard-2".to_string(), position("5")),
    ]
    .into();
    assert_eq!(
        db.dest().checkpoints(SOURCE, STREAM).await.expect("read"),
        expected
    );

    // The database refuses the last statement (two child rows with one _cq_id): everything
    // before it in the transaction, rows and checkpoint alike, is rolled back.
    let p5 = parent("p5", "never");
    let a = child(&p5, "a", "1");
    let mut clash = child(&p5, "b", "2");
    clash.cq_id = a.cq_id;
    let mut failing = batch(
        time(1),
        vec![
            Resource::new(parent("p1", "overwritten")),
            family(p5, vec![a, clash], vec![]),
        ],
    );
    failing.deletes = vec![delete_parent("p1")];
    failing.checkpoints = vec![checkpoint("shard-1", "200")];
    let error = db
        .dest()
        .write(&failing)
        .await
        .expect_err("constraint violation");
    assert!(!error.is_retryable(), "{error}");
    // One line naming the operation, the table and the database's own reason.
    let message = error.to_string();
    assert!(
        message.contains("upsert into ts_test_children"),
        "{message}"
    );
    assert!(
        message.contains("_cq_id") && !message.contains('\n'),
        "{message}"
    );
    assert_eq!(
        db.dest().checkpoints(SOURCE, STREAM).await.expect("read"),
        expected
    );
    let parents = db.rows(&PARENTS).await;
    assert_eq!(parents.len(), 1);
    assert_eq!(parents[0].text(&PARENTS, "name"), "committed");
    assert!(db.rows(&CHILDREN).await.is_empty());

    // A checkpoint alone moves on; the last one of a shard in a batch wins.
    let mut only = WriteBatch::new(SOURCE, time(2));
    only.checkpoints = vec![checkpoint("shard-1", "300"), checkpoint("shard-1", "301")];
    assert_eq!(write(db, &only).await, WriteSummary::default());
    let now = db.dest().checkpoints(SOURCE, STREAM).await.expect("read");
    assert_eq!(now.get("shard-1"), Some(&position("301")));
    assert!(
        db.dest()
            .checkpoints("another-source", STREAM)
            .await
            .expect("read")
            .is_empty()
    );
}

const HOSTILE: &str = "'); DROP TABLE ts_test_parents; --";
const UNICODE: &str = "naïve 日本語 🚀";

both!(hostile_and_unicode_text_round_trips);
async fn hostile_and_unicode_text_round_trips(db: &dyn TestDb) {
    migrate_all(db).await;
    let tags = json!({ HOSTILE: UNICODE, "Name": HOSTILE, "quote\"key": "back\\slash" });
    let p = row(
        &PARENTS,
        None,
        &[
            ("account_id", text(ACCOUNT)),
            ("region", text(REGION)),
            ("id", text(HOSTILE)),
            ("name", text(UNICODE)),
            ("tags", Value::Json(tags.clone())),
            (
                "labels",
                Value::TextArray(vec![HOSTILE.into(), UNICODE.into(), String::new()]),
            ),
        ],
    );
    let c = child(&p, HOSTILE, UNICODE);
    let mut b = batch(time(0), vec![family(p.clone(), vec![c], vec![])]);
    b.source_name = format!("source {HOSTILE} \"{UNICODE}\"");
    write(db, &b).await;

    let rows = db.rows(&PARENTS).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].values, p.values);
    assert_eq!(rows[0].source.as_deref(), Some(b.source_name.as_str()));
    let children = db.rows(&CHILDREN).await;
    assert_eq!(children[0].text(&CHILDREN, "name"), HOSTILE);
    assert_eq!(children[0].text(&CHILDREN, "value"), UNICODE);

    // As a filter value too.
    let deleted = db
        .dest()
        .delete_stale(&PARENTS, &b.source_name, time(1), &[("id", text(HOSTILE))])
        .await
        .expect("delete stale");
    assert_eq!(deleted, 2);
    assert_eq!(
        db.columns(PARENTS.name).await,
        column_names(&PARENTS),
        "table still there"
    );
}

both!(every_type_round_trips);
async fn every_type_round_trips(db: &dyn TestDb) {
    migrate_all(db).await;
    let created = time(0) + chrono::Duration::microseconds(123_456);
    let tags = json!({
        "nested": {"list": [1, -2.5, true, null, "s", {"deep": []}], "empty": {}},
        "big": 9_007_199_254_740_993_i64,
        "unicode": UNICODE,
    });
    let full = row(
        &PARENTS,
        None,
        &[
            ("account_id", text(ACCOUNT)),
            ("region", text(REGION)),
            ("id", text("full")),
            ("name", text("")),
            ("tags", Value::Json(tags)),
            (
                "labels",
                Value::TextArray(vec!["a".into(), "b,c".into(), "[\"d\"]".into()]),
            ),
            ("created_at", Value::Timestamp(created)),
            ("size", Value::BigInt(i64::MIN)),
            ("ratio", Value::Double(-1.5e300)),
            ("enabled", Value::Boolean(true)),
            (
                "owner_id",
                Value::Uuid(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)),
            ),
        ],
    );
    let other = row(
        &PARENTS,
        None,
        &[
            ("account_id", text(ACCOUNT)),
            ("region", text(REGION)),
            ("id", text("other")),
            ("tags", Value::Json(json!([]))),
            ("labels", Value::TextArray(vec![])),
            ("size", Value::BigInt(i64::MAX)),
            ("ratio", Value::Double(0.1)),
            ("enabled", Value::Boolean(false)),
        ],
    );
    let sparse = parent("sparse", "only the key and a name");
    write(
        db,
        &batch(
            time(5),
            vec![full.clone(), other.clone(), sparse.clone()]
                .into_iter()
                .map(Resource::new)
                .collect(),
        ),
    )
    .await;

    let rows = db.rows(&PARENTS).await;
    for expected in [&full, &other, &sparse] {
        let stored = rows
            .iter()
            .find(|r| r.cq_id == expected.cq_id)
            .expect("row stored");
        assert_eq!(stored.values, expected.values, "{}", db.kind());
        assert_eq!(stored.sync_time, Some(time(5)));
        assert_eq!(stored.source.as_deref(), Some(SOURCE));
    }
}

both!(a_five_thousand_row_batch_is_chunked);
async fn a_five_thousand_row_batch_is_chunked(db: &dyn TestDb) {
    let ec2 = &trailsync_catalog::tables::ec2::INSTANCES;
    db.dest()
        .migrate(&[ec2, &PARENTS, &CHILDREN, &GRANDCHILDREN])
        .await
        .expect("migrate");
    let instances: Vec<Resource> = (0..5000)
        .map(|i| {
            let object = json!({
                "account_id": ACCOUNT,
                "region": REGION,
                "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-{i:08x}"),
                "InstanceId": format!("i-{i:08x}"),
                "tags": {"n": i.to_string()},
                "LaunchTime": "2026-11-24T09:00:00Z",
                "EbsOptimized": i % 2 == 0,
                "AmiLaunchIndex": i,
            });
            let object = object.as_object().expect("object");
            Resource::new(Row::from_json(ec2, object, None).expect("row"))
        })
        .collect();
    let big = parent("big", "many children");
    let children: Vec<Row> = (0..5000)
        .map(|i| child(&big, &format!("c{i}"), "v"))
        .collect();
    let mut all = instances.clone();
    all.push(family(big.clone(), children, vec![]));
    let summary = write(db, &batch(time(0), all)).await;
    assert_eq!(summary.rows_upserted, 10_001);
    assert_eq!(db.rows(ec2).await.len(), 5000);
    assert_eq!(db.rows(&CHILDREN).await.len(), 5000);

    // Again, a bit later: still 5000 rows, all updated.
    let summary = write(db, &batch(time(1), instances)).await;
    assert_eq!(summary.rows_upserted, 5000);
    let rows = db.rows(ec2).await;
    assert_eq!(rows.len(), 5000);
    assert!(rows.iter().all(|r| r.sync_time == Some(time(1))));
}

both!(append_mode_keeps_every_version, WriteMode::Append);
async fn append_mode_keeps_every_version(db: &dyn TestDb) {
    migrate_all(db).await;
    let p1 = parent("p1", "one");
    for at in [time(0), time(1)] {
        let summary = write(
            db,
            &batch(
                at,
                vec![family(p1.clone(), vec![child(&p1, "a", "1")], vec![])],
            ),
        )
        .await;
        assert_eq!(summary.rows_upserted, 2);
    }
    assert_eq!(db.rows(&PARENTS).await.len(), 2);
    assert_eq!(
        db.rows(&CHILDREN).await.len(),
        2,
        "children are not replaced"
    );

    let mut deletion = WriteBatch::new(SOURCE, time(2));
    deletion.deletes = vec![delete_parent("p1")];
    assert_eq!(write(db, &deletion).await.rows_deleted, 4);
}

both!(batches_that_contradict_the_catalog_are_refused_whole);
async fn batches_that_contradict_the_catalog_are_refused_whole(db: &dyn TestDb) {
    migrate_all(db).await;
    let p1 = parent("p1", "one");
    let mut wrong_type = parent("p2", "two");
    wrong_type.values[PARENTS.column_index("size").expect("size")] = text("seven");
    let mut short = parent("p3", "three");
    short.values.pop();
    let mut no_key = parent("p4", "four");
    no_key.values[PARENTS.column_index("id").expect("id")] = Value::Null;
    let stranger = parent("p9", "someone else");
    let adopted = child(&stranger, "a", "1");
    let misplaced = Resource {
        row: p1.clone(),
        children: vec![ChildRows {
            table: &PARENTS,
            rows: vec![],
        }],
    };
    let cases = [
        Resource::new(wrong_type),
        Resource::new(short),
        Resource::new(no_key),
        family(p1.clone(), vec![adopted], vec![]),
        misplaced,
    ];
    for bad in cases {
        let mut b = batch(time(0), vec![Resource::new(p1.clone()), bad]);
        b.checkpoints = vec![checkpoint("shard-1", "1")];
        let error = db.dest().write(&b).await.expect_err("refused");
        assert!(
            matches!(cause(&error), Error::InvalidBatch { .. }),
            "{error}"
        );
        assert!(!error.is_retryable());
    }
    assert!(db.rows(&PARENTS).await.is_empty());
    assert!(
        db.dest()
            .checkpoints(SOURCE, STREAM)
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_stores_the_documented_text_forms() {
    let db = SqliteDb::new(WriteMode::OverwriteDeleteStale).await;
    db.dest().migrate(&ALL).await.expect("migrate");
    let mut p = parent("p1", "one");
    p.values[PARENTS.column_index("created_at").expect("created_at")] =
        Value::Timestamp(time(0) + chrono::Duration::nanoseconds(1_500));
    p.values[PARENTS.column_index("labels").expect("labels")] = Value::TextArray(vec!["a".into()]);
    p.values[PARENTS.column_index("enabled").expect("enabled")] = Value::Boolean(true);
    write(&db, &batch(time(0), vec![Resource::new(p.clone())])).await;
    let (created, labels, enabled, id, synced): (String, String, i64, String, String) =
        db.with(|c| {
            c.query_row(
                "SELECT created_at, labels, enabled, _cq_id, _cq_sync_time FROM ts_test_parents",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .expect("row")
        });
    assert_eq!(created, "2026-11-24T10:00:00.000001Z");
    assert_eq!(labels, "[\"a\"]");
    assert_eq!(enabled, 1);
    assert_eq!(id, p.cq_id.hyphenated().to_string());
    assert_eq!(synced, "2026-11-24T10:00:00.000000Z");
    let mode: String = db.with(|c| {
        c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode")
    });
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_accepts_paths_uris_and_memory() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let nested = dir.path().join("a/b/inventory.db");
    let kind = Kind::from_str("cloudquery/sqlite").expect("kind");
    let mode = WriteMode::from_str("overwrite").expect("mode");
    let targets = [
        nested.to_string_lossy().into_owned(),
        format!(
            "file:{}?mode=rwc",
            dir.path().join("c/uri.db").to_string_lossy()
        ),
        ":memory:".to_string(),
    ];
    for target in targets {
        let dest = crate::connect(kind, &target, mode).await.expect(&target);
        dest.migrate(&ALL).await.expect("migrate");
        let summary = dest
            .write(&batch(time(0), vec![Resource::new(parent("p1", "one"))]))
            .await
            .expect("write");
        assert_eq!(summary.rows_upserted, 1, "{target}");
    }
    assert!(nested.is_file());
    assert!(dir.path().join("c/uri.db").is_file());
    let empty = crate::connect(Kind::Sqlite, "  ", mode)
        .await
        .map(|_| ())
        .expect_err("empty");
    assert!(matches!(
        cause(&empty),
        Error::InvalidConnectionString { .. }
    ));
}

#[tokio::test]
async fn postgres_reconnects_after_losing_its_connection() {
    let db = PostgresDb::new(WriteMode::OverwriteDeleteStale).await;
    db.dest.migrate(&ALL).await.expect("migrate");
    write(
        &db,
        &batch(time(0), vec![Resource::new(parent("p1", "one"))]),
    )
    .await;
    let killed: i64 = db
        .reader
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'trailsync'",
            &[],
        )
        .await
        .expect("terminate")
        .get(0);
    assert_eq!(killed, 1);
    let second = batch(time(1), vec![Resource::new(parent("p2", "two"))]);
    // The loss may only be noticed by the first call, which then fails as retryable.
    if let Err(error) = db.dest.write(&second).await {
        assert!(error.is_retryable(), "{error}");
        write(&db, &second).await;
    }
    assert_eq!(db.rows(&PARENTS).await.len(), 2);
    assert!(db.url.contains(&db.name));
}

#[tokio::test]
async fn postgres_unreachable_is_a_retryable_connect_error() {
    let error = crate::connect(
        Kind::Postgres,
        "postgres://postgres@127.0.0.1:1/test?connect_timeout=2",
        WriteMode::Overwrite,
    )
    .await
    .map(|_| ())
    .expect_err("nothing listens on port 1");
    assert!(matches!(cause(&error), Error::Connect { .. }), "{error}");
    assert!(error.is_retryable());
    let error = crate::connect(
        Kind::Postgres,
        "postgres://host:notaport/db",
        WriteMode::Overwrite,
    )
    .await
    .map(|_| ())
    .expect_err("bad port");
    assert!(
        matches!(cause(&error), Error::InvalidConnectionString { .. }),
        "{error}"
    );
}

/// A table as CloudQuery's own PostgreSQL destination makes it (`timestamp without time zone`,
/// `json`), missing a column: migration keeps it, adds the column, and writes still work.
#[tokio::test]
async fn postgres_writes_into_a_table_made_by_cloudquery() {
    let db = PostgresDb::new(WriteMode::OverwriteDeleteStale).await;
    db.reader
        .batch_execute(
            "CREATE TABLE ts_test_parents (_cq_sync_time timestamp, _cq_source_name text, \
             _cq_id uuid NOT NULL UNIQUE, _cq_parent_id uuid, account_id text NOT NULL, \
             region text NOT NULL, id text NOT NULL, name text, tags json, labels text[], \
             created_at timestamp, size bigint, ratio float8, enabled boolean, \
             CONSTRAINT ts_test_parents_cqpk PRIMARY KEY (account_id, region, id))",
        )
        .await
        .expect("create table as CloudQuery does");
    db.dest
        .migrate(&ALL)
        .await
        .expect("migrate keeps the table");
    assert_eq!(db.columns(PARENTS.name).await, column_names(&PARENTS));

    let created = time(0) + chrono::Duration::microseconds(42);
    let mut p = parent("p1", "one");
    p.values[PARENTS.column_index("created_at").expect("created_at")] = Value::Timestamp(created);
    p.values[PARENTS.column_index("tags").expect("tags")] = Value::Json(json!({"k": "v"}));
    write(&db, &batch(time(10), vec![Resource::new(p)])).await;
    write(
        &db,
        &batch(time(20), vec![Resource::new(parent("p2", "two"))]),
    )
    .await;

    let row = db
        .reader
        .query_one(
            "SELECT created_at, _cq_sync_time, tags::text FROM ts_test_parents WHERE id = 'p1'",
            &[],
        )
        .await
        .expect("row");
    let stored: chrono::NaiveDateTime = row.get(0);
    assert_eq!(stored, created.naive_utc());
    let synced: chrono::NaiveDateTime = row.get(1);
    assert_eq!(synced, time(10).naive_utc());
    assert_eq!(row.get::<_, String>(2), r#"{"k":"v"}"#);

    let deleted = db
        .dest
        .delete_stale(&PARENTS, SOURCE, time(20), &[])
        .await
        .expect("delete stale");
    assert_eq!(deleted, 1);
}

both!(skipped_changes_are_recorded_with_their_batch);
async fn skipped_changes_are_recorded_with_their_batch(db: &dyn TestDb) {
    migrate_all(db).await;
    let skipped = |id: Option<&str>, event: Option<&str>| trailsync_core::SkippedChange {
        table: "aws_iam_roles",
        resource_id: id.map(str::to_string),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        event_id: event.map(|e| format!("id-{e}")),
        event_name: event.map(str::to_string),
        reason: "access denied".into(),
        error: "GetRole: AccessDenied: not authorized to perform iam:GetRole; 'quotes' \"too\""
            .into(),
    };
    let mut b = batch(time(3), vec![Resource::new(parent("p1", "kept"))]);
    b.skipped = vec![
        skipped(Some("admin"), Some("PutRolePolicy")),
        skipped(None, None),
    ];
    b.checkpoints = vec![checkpoint("shard-1", "7")];
    write(db, &b).await;
    let mut rows = db
        .texts(
            "SELECT CAST(source_name AS TEXT), table_name, resource_id, event_id, event_name, reason, error \
             FROM trailsync_skipped",
        )
        .await;
    // NULLs sort first in SQLite and last in PostgreSQL: order here.
    rows.sort();
    let text = |s: &str| Some(s.to_string());
    let error =
        text("GetRole: AccessDenied: not authorized to perform iam:GetRole; 'quotes' \"too\"");
    assert_eq!(
        rows,
        [
            vec![
                text(SOURCE),
                text("aws_iam_roles"),
                None,
                None,
                None,
                text("access denied"),
                error.clone()
            ],
            vec![
                text(SOURCE),
                text("aws_iam_roles"),
                text("admin"),
                text("id-PutRolePolicy"),
                text("PutRolePolicy"),
                text("access denied"),
                error,
            ],
        ]
    );
    assert_eq!(
        db.rows(&PARENTS).await.len(),
        1,
        "written in the same transaction"
    );
}
