//! Leases and the never-a-step-back rules, against both databases: a checkpoint written by a
//! worker that lost its shard fails its whole batch, jobs run once per interval, and an older
//! observation never replaces or deletes a newer row.

use std::time::Duration;

use super::*;
use trailsync_core::{ErrorKind, Held, LeaseScope, Leases, ShardClaim, Worker};

fn scope() -> LeaseScope {
    LeaseScope {
        source_name: SOURCE.into(),
        stream_arn: STREAM.into(),
    }
}

fn worker(name: &str) -> Worker {
    Worker {
        id: format!("host-{name}:1:{name}"),
        host: format!("host-{name}"),
        pid: 1,
    }
}

fn fenced(shard: &str, sequence: &str, epoch: u64) -> trailsync_core::Checkpoint {
    let mut checkpoint = checkpoint(shard, sequence);
    checkpoint.epoch = epoch;
    checkpoint
}

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(300);

both!(a_checkpoint_of_a_lost_lease_fails_its_whole_batch);
async fn a_checkpoint_of_a_lost_lease_fails_its_whole_batch(db: &dyn TestDb) {
    migrate_all(db).await;
    let dest = db.dest();
    let (a, b) = (worker("a"), worker("b"));
    let start = position("10");

    // A creates the lease: the start is durable before anything is read.
    let grant = dest
        .acquire(
            &scope(),
            &a,
            ShardClaim {
                shard_id: "shard-1",
                parents: &["shard-0".into()],
                seen_epoch: None,
                start: &start,
            },
            SHORT,
        )
        .await
        .expect("acquire")
        .expect("granted");
    assert_eq!((grant.epoch, &grant.position), (1, &start));
    // B cannot create it again, nor take it while A holds it.
    let again = dest
        .acquire(
            &scope(),
            &b,
            ShardClaim {
                shard_id: "shard-1",
                parents: &[],
                seen_epoch: None,
                start: &start,
            },
            LONG,
        )
        .await;
    assert_eq!(again.expect("answer"), None);
    let taken = dest
        .acquire(
            &scope(),
            &b,
            ShardClaim {
                shard_id: "shard-1",
                parents: &[],
                seen_epoch: Some(1),
                start: &start,
            },
            LONG,
        )
        .await;
    assert_eq!(taken.expect("answer"), None);

    let mut first = batch(time(0), vec![Resource::new(parent("p1", "by a"))]);
    first.checkpoints = vec![fenced("shard-1", "20", 1)];
    write(db, &first).await;

    // A's lease expires unrenewed; B takes it at the epoch it saw, and resumes where A committed.
    tokio::time::sleep(SHORT * 2).await;
    let view = dest
        .heartbeat(&scope(), &b, &[], &[], LONG)
        .await
        .expect("view");
    let lease = view
        .shards
        .iter()
        .find(|s| s.shard_id == "shard-1")
        .expect("stored");
    assert!(lease.is_free(), "{lease:?}");
    assert_eq!(lease.parents, ["shard-0"]);
    let grant = dest
        .acquire(
            &scope(),
            &b,
            ShardClaim {
                shard_id: "shard-1",
                parents: &[],
                seen_epoch: Some(lease.epoch),
                start: &start,
            },
            LONG,
        )
        .await
        .expect("acquire")
        .expect("granted");
    assert_eq!((grant.epoch, &grant.position), (2, &position("20")));

    // A, not knowing, commits more: nothing of its batch is kept.
    let mut late = batch(time(1), vec![Resource::new(parent("p2", "by a, late"))]);
    late.checkpoints = vec![fenced("shard-1", "30", 1)];
    let error = dest.write(&late).await.expect_err("fenced");
    assert_eq!(error.kind(), ErrorKind::LeaseLost, "{error}");
    let lost = error.lost_lease().expect("which lease");
    assert_eq!((lost.shard_id.as_str(), lost.epoch), ("shard-1", 1));
    assert_eq!(names(&db.rows(&PARENTS).await, &PARENTS, "name"), ["by a"]);

    // B moves on; A's renewals change nothing, its release neither.
    let mut next = batch(time(2), vec![]);
    next.checkpoints = vec![fenced("shard-1", "40", 2)];
    write(db, &next).await;
    let held = Held {
        key: "shard-1".into(),
        epoch: 1,
        millis_behind: None,
    };
    dest.release(&scope(), &a, std::slice::from_ref(&held), &[])
        .await
        .expect("release");
    let view = dest
        .heartbeat(&scope(), &a, std::slice::from_ref(&held), &[], LONG)
        .await
        .expect("view");
    let lease = view
        .shards
        .iter()
        .find(|s| s.shard_id == "shard-1")
        .expect("stored");
    assert_eq!(lease.owner.as_deref(), Some(b.id.as_str()));
    assert_eq!((lease.epoch, &lease.position), (2, &position("40")));
    assert!(!lease.is_free());
    assert_eq!(view.live_workers(), 2);
}

both!(a_handoff_is_asked_for_and_a_release_frees_at_once);
async fn a_handoff_is_asked_for_and_a_release_frees_at_once(db: &dyn TestDb) {
    migrate_all(db).await;
    let dest = db.dest();
    let (a, b) = (worker("a"), worker("b"));
    let grant = dest
        .acquire(
            &scope(),
            &a,
            ShardClaim {
                shard_id: "shard-1",
                parents: &[],
                seen_epoch: None,
                start: &position("1"),
            },
            LONG,
        )
        .await
        .expect("acquire")
        .expect("granted");
    dest.request_handoff(&scope(), &b, "shard-1", grant.epoch)
        .await
        .expect("ask");
    let held = Held {
        key: "shard-1".into(),
        epoch: grant.epoch,
        millis_behind: Some(1500),
    };
    let view = dest
        .heartbeat(&scope(), &a, std::slice::from_ref(&held), &[], LONG)
        .await
        .expect("view");
    let lease = &view.shards[0];
    assert_eq!(lease.handoff_to.as_deref(), Some(b.id.as_str()));
    assert_eq!(lease.millis_behind, Some(1500));
    dest.release(&scope(), &a, &[held], &[])
        .await
        .expect("release");
    let grant = dest
        .acquire(
            &scope(),
            &b,
            ShardClaim {
                shard_id: "shard-1",
                parents: &[],
                seen_epoch: Some(grant.epoch),
                start: &position("1"),
            },
            LONG,
        )
        .await
        .expect("acquire")
        .expect("free at once");
    assert_eq!(grant.epoch, 2);
    let view = dest.view(&scope()).await.expect("view");
    assert_eq!(view.shards[0].handoff_to, None);
    dest.leave(&scope(), &a).await.expect("leave");
    let view = dest.view(&scope()).await.expect("view");
    assert_eq!(view.workers.len(), 0, "A left and B never beat");
}

both!(a_process_alone_with_the_database_reclaims_every_lease_at_once);
async fn a_process_alone_with_the_database_reclaims_every_lease_at_once(db: &dyn TestDb) {
    migrate_all(db).await;
    let dest = db.dest();
    let (crashed, restarted) = (worker("crashed"), worker("restarted"));
    dest.heartbeat(&scope(), &crashed, &[], &[], LONG)
        .await
        .expect("beat");
    dest.acquire(
        &scope(),
        &crashed,
        ShardClaim {
            shard_id: "shard-1",
            parents: &[],
            seen_epoch: None,
            start: &position("3"),
        },
        LONG,
    )
    .await
    .expect("acquire")
    .expect("granted");
    dest.acquire_job(&scope(), &crashed, "full_sync", Duration::ZERO, LONG)
        .await
        .expect("job")
        .expect("granted");
    dest.reclaim(&scope(), &restarted).await.expect("reclaim");
    let view = dest.view(&scope()).await.expect("view");
    assert!(view.shards[0].is_free(), "{view:?}");
    assert!(view.workers.is_empty(), "{view:?}");
    assert_eq!(view.jobs[0].owner, None);
    let grant = dest
        .acquire(
            &scope(),
            &restarted,
            ShardClaim {
                shard_id: "shard-1",
                parents: &[],
                seen_epoch: Some(1),
                start: &position("0"),
            },
            LONG,
        )
        .await
        .expect("acquire")
        .expect("free at once");
    assert_eq!((grant.epoch, grant.position), (2, position("3")));
}

both!(a_fence_outranks_the_previous_owner_on_a_second_destination);
async fn a_fence_outranks_the_previous_owner_on_a_second_destination(db: &dyn TestDb) {
    migrate_all(db).await;
    let dest = db.dest();
    // No lease rows here: the checkpoints of a destination that does not keep the leases.
    let mut old = batch(time(0), vec![]);
    old.checkpoints = vec![fenced("shard-1", "5", 3)];
    write(db, &old).await;
    let stored = dest
        .fence(&scope(), "shard-1", 4, &position("1"))
        .await
        .expect("fence");
    assert_eq!(stored, position("5"));
    let mut zombie = batch(time(1), vec![]);
    zombie.checkpoints = vec![fenced("shard-1", "9", 3)];
    let error = dest.write(&zombie).await.expect_err("fenced");
    assert_eq!(error.kind(), ErrorKind::LeaseLost);
    let fresh = dest
        .fence(&scope(), "shard-2", 1, &position("7"))
        .await
        .expect("fence");
    assert_eq!(
        fresh,
        position("7"),
        "a shard new here starts where it is told"
    );
}

both!(a_job_runs_once_per_interval_across_workers);
async fn a_job_runs_once_per_interval_across_workers(db: &dyn TestDb) {
    migrate_all(db).await;
    let dest = db.dest();
    let (a, b) = (worker("a"), worker("b"));
    let hour = Duration::from_secs(3600);
    let grant = dest
        .acquire_job(&scope(), &a, "reconcile", hour, LONG)
        .await
        .expect("acquire")
        .expect("never ran: due");
    assert_eq!((grant.last_started, grant.last_finished), (None, None));
    assert_eq!(
        dest.acquire_job(&scope(), &b, "reconcile", hour, LONG)
            .await
            .expect("answer"),
        None,
        "held by A"
    );
    dest.record_job(&scope(), "reconcile", grant.epoch, time(0), false)
        .await
        .expect("started");
    dest.record_job(&scope(), "reconcile", grant.epoch, time(0), true)
        .await
        .expect("finished");
    let held = Held {
        key: "reconcile".into(),
        epoch: grant.epoch,
        millis_behind: None,
    };
    dest.release(&scope(), &a, &[], &[held])
        .await
        .expect("release");
    assert_eq!(
        dest.acquire_job(&scope(), &b, "reconcile", hour, LONG)
            .await
            .expect("answer"),
        None,
        "finished less than an hour ago"
    );
    let grant = dest
        .acquire_job(&scope(), &b, "reconcile", Duration::ZERO, LONG)
        .await
        .expect("acquire")
        .expect("due at once");
    assert_eq!(grant.epoch, 2);
    assert_eq!(grant.last_started, Some(time(0)));
    assert!(grant.last_finished.is_some());
    let view = dest.view(&scope()).await.expect("view");
    assert_eq!(view.jobs[0].owner.as_deref(), Some(b.id.as_str()));
}

both!(an_older_observation_never_replaces_a_newer_row);
async fn an_older_observation_never_replaces_a_newer_row(db: &dyn TestDb) {
    migrate_all(db).await;
    let p = parent("p1", "newer");
    let newer = family(p.clone(), vec![child(&p, "a", "new")], vec![]);
    write(db, &batch(time(10), vec![newer])).await;

    // A slower fetch (observed at 5) commits after: neither the row nor its children move.
    let old = parent("p1", "older");
    let stale = family(old.clone(), vec![child(&old, "b", "old")], vec![]);
    let other = Resource::new(parent("p2", "fresh"));
    write(db, &batch(time(5), vec![stale, other])).await;
    assert_eq!(
        names(&db.rows(&PARENTS).await, &PARENTS, "name"),
        ["fresh", "newer"]
    );
    assert_eq!(names(&db.rows(&CHILDREN).await, &CHILDREN, "name"), ["a"]);

    // A deletion observed before the row was is not applied; one observed after is.
    let mut early = batch(time(9), vec![]);
    early.deletes = vec![delete_parent("p1")];
    assert_eq!(write(db, &early).await.rows_deleted, 0);
    let mut late = batch(time(11), vec![]);
    late.deletes = vec![delete_parent("p1")];
    assert_eq!(
        write(db, &late).await.rows_deleted,
        2,
        "the parent and its child"
    );

    // The same observation again is applied (a retried batch is idempotent).
    let same = Resource::new(parent("p2", "fresh again"));
    write(db, &batch(time(5), vec![same])).await;
    assert_eq!(
        names(&db.rows(&PARENTS).await, &PARENTS, "name"),
        ["fresh again"]
    );
}

/// A database written by an older trailsync (checkpoints without leases) gets the new columns,
/// keeps its positions, and takes fenced writes.
#[tokio::test]
async fn an_older_checkpoint_table_is_upgraded_in_place() {
    let folder = tempfile::tempdir().expect("temp dir");
    let file = folder.path().join("old.db");
    {
        let connection = rusqlite::Connection::open(&file).expect("open");
        connection
            .execute_batch(
                "CREATE TABLE \"_trailsync_checkpoints\" (\"source_name\" TEXT NOT NULL, \
                 \"stream_arn\" TEXT NOT NULL, \"shard_id\" TEXT NOT NULL, \
                 \"sequence_number\" TEXT NOT NULL, \"updated_at\" TEXT NOT NULL, \
                 PRIMARY KEY (\"source_name\", \"stream_arn\", \"shard_id\"));
                 INSERT INTO \"_trailsync_checkpoints\" VALUES \
                 ('aws-test', 'arn:aws:kinesis:us-east-1:111122223333:stream/cloudtrail', 'shard-1', '42', '2026-01-01T00:00:00.000000Z');",
            )
            .expect("old schema");
    }
    let dest = crate::SqliteDestination::open(
        file.to_str().expect("utf-8 path"),
        WriteMode::OverwriteDeleteStale,
    )
    .await
    .expect("open");
    let view = dest.view(&scope()).await.expect("view");
    assert_eq!(view.shards.len(), 1);
    assert_eq!(view.shards[0].position, position("42"));
    assert_eq!((view.shards[0].epoch, view.shards[0].is_free()), (0, true));
    let grant = dest
        .acquire(
            &scope(),
            &worker("a"),
            ShardClaim {
                shard_id: "shard-1",
                parents: &[],
                seen_epoch: Some(0),
                start: &position("1"),
            },
            LONG,
        )
        .await
        .expect("acquire")
        .expect("free");
    assert_eq!((grant.epoch, grant.position), (1, position("42")));
}
