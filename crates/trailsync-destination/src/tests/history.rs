//! The change history: one `trailsync_changes` row per resource change a batch really makes,
//! written in the batch's transaction, with old and new values, child-table counts and the
//! events behind it; nothing for a re-fetch that finds the resource as stored; retention deletes
//! old rows and nothing newer.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use trailsync_catalog::Resource;
use trailsync_core::{ChangeQuery, ChangeRecord, EventCause, Trigger, WriteBatch};

use super::*;

/// A batch that records history, made for `trigger`.
fn recorded(at: chrono::DateTime<Utc>, upserts: Vec<Resource>, trigger: Trigger) -> WriteBatch {
    let mut batch = batch(at, upserts);
    batch.history = true;
    batch.attribution.trigger = trigger;
    batch
}

fn cause(n: u32, principal: &str) -> Arc<EventCause> {
    Arc::new(EventCause {
        event_id: Some(format!("event-{n}")),
        event_name: "TagResource".into(),
        event_time: Some(time(i64::from(n))),
        principal_arn: Some(principal.into()),
        principal_type: Some("AssumedRole".into()),
        access_key_id: Some("ASIAEXAMPLE".into()),
        session_issuer: Some("arn:aws:iam::111122223333:role/Admin".into()),
        source_ip: Some(format!("198.51.100.{n}")),
        user_agent: Some("aws-cli/2".into()),
    })
}

async fn history(db: &dyn TestDb, query: ChangeQuery) -> Vec<ChangeRecord> {
    db.dest()
        .changes(&ChangeQuery {
            limit: 100,
            ..query
        })
        .await
        .expect("history")
}

both!(each_real_change_is_recorded_once_with_its_causes);
async fn each_real_change_is_recorded_once_with_its_causes(db: &dyn TestDb) {
    migrate_all(db).await;
    let p = parent("p1", "first");
    let kid = child(&p, "a", "1");
    write(
        db,
        &recorded(
            time(0),
            vec![family(p.clone(), vec![kid], vec![])],
            Trigger::FullSync,
        ),
    )
    .await;
    let all = history(db, ChangeQuery::default()).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let created = &all[0];
    assert_eq!(
        (created.action.as_str(), created.cause.as_str()),
        ("created", "full_sync")
    );
    assert_eq!(created.resource_id.as_deref(), Some("p1"));
    assert_eq!(created.table_name, PARENTS.name);
    assert_eq!(
        created.changes["name"],
        json!({"old": null, "new": "first"})
    );
    assert_eq!(created.events, json!([]));

    // Renamed, one child changed and one added, by two coalesced events.
    let mut renamed = parent("p1", "second");
    renamed.cq_id = p.cq_id;
    let changed_kid = child(&renamed, "a", "2");
    let new_kid = child(&renamed, "b", "1");
    let mut update = recorded(
        time(5),
        vec![family(renamed.clone(), vec![changed_kid, new_kid], vec![])],
        Trigger::Event,
    );
    let alice = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
    update.attribution.events.insert(
        (PARENTS.name, "p1".into()),
        vec![
            cause(2, "arn:aws:iam::111122223333:user/bob"),
            cause(3, alice),
        ],
    );
    write(db, &update).await;
    let all = history(db, ChangeQuery::default()).await;
    assert_eq!(all.len(), 2, "{all:#?}");
    let updated = &all[0];
    assert_eq!(updated.action, "updated");
    assert_eq!(
        updated.changes,
        json!({"name": {"old": "first", "new": "second"}}),
        "only the column that changed; never _cq_sync_time"
    );
    assert_eq!(
        updated.children,
        json!({ CHILDREN.name: {"added": 1, "removed": 0, "changed": 1} })
    );
    let ids: Vec<&str> = updated
        .events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(ids, ["event-2", "event-3"]);
    assert_eq!(
        updated.events[1]["session_issuer"],
        "arn:aws:iam::111122223333:role/Admin"
    );
    assert_eq!(updated.events[1]["access_key_id"], "ASIAEXAMPLE");
    assert_eq!(
        updated.principal_arn.as_deref(),
        Some(alice),
        "the latest event's"
    );
    assert_eq!(updated.source_ip.as_deref(), Some("198.51.100.3"));

    // The same state fetched again (a later sync time): no change, no row.
    let same = family(
        renamed.clone(),
        vec![child(&renamed, "a", "2"), child(&renamed, "b", "1")],
        vec![],
    );
    write(db, &recorded(time(9), vec![same], Trigger::Reconcile)).await;
    assert_eq!(history(db, ChangeQuery::default()).await.len(), 2);

    // Without history, a change writes no row.
    let mut quiet = parent("p1", "third");
    quiet.cq_id = p.cq_id;
    let mut unrecorded = batch(time(10), vec![Resource::new(quiet)]);
    unrecorded.history = false;
    write(db, &unrecorded).await;
    assert_eq!(history(db, ChangeQuery::default()).await.len(), 2);

    // Deleted: the old values, the deleting event.
    let mut delete = recorded(time(11), vec![], Trigger::Event);
    delete.deletes.push(delete_parent("p1"));
    delete
        .attribution
        .events
        .insert((PARENTS.name, "p1".into()), vec![cause(4, alice)]);
    write(db, &delete).await;
    let all = history(db, ChangeQuery::default()).await;
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(all[0].action, "deleted");
    assert_eq!(all[0].changes["name"], json!({"old": "third", "new": null}));
    assert_eq!(all[0].events[0]["event_id"], "event-4");

    // Filters: resource, table, principal (any coalesced event's), time.
    let by_bob = history(
        db,
        ChangeQuery {
            principal: Some("arn:aws:iam::111122223333:user/bob".into()),
            ..ChangeQuery::default()
        },
    )
    .await;
    assert_eq!(by_bob.len(), 1);
    assert_eq!(by_bob[0].action, "updated");
    let by_alice = history(
        db,
        ChangeQuery {
            principal: Some(alice.into()),
            ..ChangeQuery::default()
        },
    )
    .await;
    assert_eq!(by_alice.len(), 2);
    let elsewhere = history(
        db,
        ChangeQuery {
            resource_id: Some("p2".into()),
            ..ChangeQuery::default()
        },
    )
    .await;
    assert!(elsewhere.is_empty());
    let other_table = history(
        db,
        ChangeQuery {
            table: Some(CHILDREN.name.into()),
            ..ChangeQuery::default()
        },
    )
    .await;
    assert!(
        other_table.is_empty(),
        "child changes are summarised on the parent"
    );
    let future = history(
        db,
        ChangeQuery {
            since: Some(Utc::now() + chrono::Duration::seconds(60)),
            ..ChangeQuery::default()
        },
    )
    .await;
    assert!(future.is_empty());
}

both!(retention_deletes_old_rows_and_nothing_newer);
async fn retention_deletes_old_rows_and_nothing_newer(db: &dyn TestDb) {
    migrate_all(db).await;
    let old: Vec<Resource> = (0..3)
        .map(|i| Resource::new(parent(&format!("old-{i}"), "x")))
        .collect();
    write(db, &recorded(time(0), old, Trigger::FullSync)).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let new: Vec<Resource> = (0..2)
        .map(|i| Resource::new(parent(&format!("new-{i}"), "y")))
        .collect();
    write(db, &recorded(time(1), new, Trigger::Event)).await;
    assert_eq!(history(db, ChangeQuery::default()).await.len(), 5);

    // In batches of two: 2, then 1, then nothing left before the cutoff.
    let dest = db.dest();
    assert_eq!(dest.prune_changes(cutoff, 2).await.expect("prune"), 2);
    assert_eq!(dest.prune_changes(cutoff, 2).await.expect("prune"), 1);
    assert_eq!(dest.prune_changes(cutoff, 2).await.expect("prune"), 0);
    let left: Vec<String> = history(db, ChangeQuery::default())
        .await
        .into_iter()
        .filter_map(|c| c.resource_id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|id| id.starts_with("new-")), "{left:?}");
    assert_eq!(
        db.rows(&PARENTS).await.len(),
        5,
        "the inventory itself is untouched"
    );
}
