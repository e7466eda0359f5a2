//! One source, several destinations: the engine's `Fanout` against a real SQLite file and the
//! real PostgreSQL, then `trailsync sync` end to end writing both from one stream.

mod common;

use std::collections::HashMap;

use chrono::Utc;
use common::{Store, StreamingSource, Trailsync};
use serde_json::json;
use trailsync_catalog::{Resource, Row, Table};
use trailsync_core::{Checkpoint, Destination, Position, WriteBatch, WriteMode};
use trailsync_destination::connect;
use trailsync_engine::{Fanout, Target};
use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";
const SOURCE: &str = "aws-fanout";
const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/cloudtrail";

fn instances() -> &'static Table {
    trailsync_catalog::table("aws_ec2_instances").expect("catalog has aws_ec2_instances")
}

fn instance(id: &str) -> Resource {
    let object = json!({
        "account_id": DEFAULT_ACCOUNT,
        "region": REGION,
        "arn": format!("arn:aws:ec2:{REGION}:{DEFAULT_ACCOUNT}:instance/{id}"),
        "instance_id": id,
    });
    let object = object.as_object().expect("an object");
    Resource {
        row: Row::from_json(instances(), object, None).expect("instance row"),
        children: Vec::new(),
    }
}

fn position(sequence: &str) -> Position {
    sequence.parse().expect("a sequence number")
}

fn checkpoints(pairs: &[(&str, &str)]) -> Vec<Checkpoint> {
    pairs
        .iter()
        .map(|(shard, sequence)| Checkpoint {
            source_name: SOURCE.into(),
            stream_arn: STREAM.into(),
            shard_id: (*shard).into(),
            position: position(sequence),
            epoch: 0,
        })
        .collect()
}

/// A second, direct handle on one destination, to move it apart from the other.
async fn open(store: &Store, mode: WriteMode) -> Box<dyn Destination> {
    let (kind, connection) = store.connection();
    connect(kind, &connection, mode)
        .await
        .expect("destination opens")
}

fn ids(rows: &[common::InstanceRow]) -> Vec<&str> {
    rows.iter().map(|r| r.instance_id.as_str()).collect()
}

/// Leases live in the first destination; taking a shard fences it in every destination, so the
/// previous owner's checkpoints are refused in all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_fences_every_destination_when_a_shard_changes_hands() {
    use std::time::Duration;
    use trailsync_core::{ErrorKind, LeaseScope, Leases, ShardClaim, Worker};

    let lite = Store::sqlite();
    let pg = Store::postgres().await;
    let fanout = Fanout::new(vec![
        Target {
            name: "pg".into(),
            destination: open(&pg, WriteMode::OverwriteDeleteStale).await,
            mode: WriteMode::OverwriteDeleteStale,
        },
        Target {
            name: "lite".into(),
            destination: open(&lite, WriteMode::Overwrite).await,
            mode: WriteMode::Overwrite,
        },
    ]);
    fanout.migrate(&[instances()]).await.expect("migrate both");
    let scope = LeaseScope {
        source_name: SOURCE.into(),
        stream_arn: STREAM.into(),
    };
    let worker = |name: &str| Worker {
        id: format!("{name}:1:x"),
        host: name.into(),
        pid: 1,
    };
    let (a, b) = (worker("a"), worker("b"));
    let short = Duration::from_millis(300);
    let grant = fanout
        .acquire(
            &scope,
            &a,
            ShardClaim {
                shard_id: "shard-a",
                parents: &[],
                seen_epoch: None,
                start: &position("1"),
            },
            short,
        )
        .await
        .expect("acquire")
        .expect("granted");
    assert_eq!(grant.epoch, 1);
    let mut batch = WriteBatch::new(SOURCE, Utc::now());
    batch.checkpoints = checkpoints(&[("shard-a", "10")]);
    batch.checkpoints[0].epoch = 1;
    fanout.write(&batch).await.expect("A writes both");

    // SQLite alone moved on further (as after a write that failed half way).
    let mut ahead = WriteBatch::new(SOURCE, Utc::now());
    ahead.checkpoints = checkpoints(&[("shard-a", "12")]);
    ahead.checkpoints[0].epoch = 1;
    open(&lite, WriteMode::Overwrite)
        .await
        .write(&ahead)
        .await
        .expect("sqlite alone");

    tokio::time::sleep(short * 2).await;
    let seen = fanout.view(&scope).await.expect("view").shards;
    assert_eq!(
        seen.len(),
        1,
        "leases are kept in the first destination only"
    );
    let grant = fanout
        .acquire(
            &scope,
            &b,
            ShardClaim {
                shard_id: "shard-a",
                parents: &[],
                seen_epoch: Some(seen[0].epoch),
                start: &position("1"),
            },
            short,
        )
        .await
        .expect("acquire")
        .expect("expired: B takes it");
    assert_eq!(
        (grant.epoch, grant.position),
        (2, position("10")),
        "the earliest of both"
    );

    // A's next checkpoint is refused, in the second destination too.
    let mut late = WriteBatch::new(SOURCE, Utc::now());
    late.checkpoints = checkpoints(&[("shard-a", "15")]);
    late.checkpoints[0].epoch = 1;
    let lite_alone = open(&lite, WriteMode::Overwrite).await;
    let error = lite_alone.write(&late).await.expect_err("fenced in sqlite");
    assert_eq!(error.kind(), ErrorKind::LeaseLost, "{error}");
    let error = fanout.write(&late).await.expect_err("fenced");
    assert_eq!(error.kind(), ErrorKind::LeaseLost, "{error}");
    assert!(error.to_string().starts_with("destination pg: "), "{error}");
    drop(fanout);
    pg.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_writes_every_destination_and_resumes_from_the_furthest_behind() {
    let lite = Store::sqlite();
    let pg = Store::postgres().await;
    // SQLite keeps stale rows (overwrite), PostgreSQL deletes them (overwrite-delete-stale).
    let fanout = Fanout::new(vec![
        Target {
            name: "lite".into(),
            destination: open(&lite, WriteMode::Overwrite).await,
            mode: WriteMode::Overwrite,
        },
        Target {
            name: "pg".into(),
            destination: open(&pg, WriteMode::OverwriteDeleteStale).await,
            mode: WriteMode::OverwriteDeleteStale,
        },
    ]);
    assert!(fanout.deletes_stale());
    fanout.migrate(&[instances()]).await.expect("migrate both");

    // One batch lands in both, checkpoints with it.
    let first = Utc::now();
    let mut batch = WriteBatch::new(SOURCE, first);
    batch.upserts = vec![instance("i-1"), instance("i-2")];
    batch.checkpoints = checkpoints(&[("shard-a", "10"), ("shard-b", "5")]);
    let summary = fanout.write(&batch).await.expect("write both");
    assert_eq!(
        summary.rows_upserted, 4,
        "two rows in each of two destinations"
    );
    for store in [&lite, &pg] {
        assert_eq!(ids(&store.instances().await), ["i-1", "i-2"]);
    }
    let expected = HashMap::from([
        ("shard-a".to_string(), position("10")),
        ("shard-b".to_string(), position("5")),
    ]);
    assert_eq!(
        fanout
            .checkpoints(SOURCE, STREAM)
            .await
            .expect("checkpoints"),
        expected
    );

    // PostgreSQL falls behind on shard-a ("9" < "10" numerically, not as text); SQLite alone
    // knows shard-c, as a destination added later would lack it: shard-c is missing.
    let mut behind = WriteBatch::new(SOURCE, first);
    behind.checkpoints = checkpoints(&[("shard-a", "9")]);
    open(&pg, WriteMode::OverwriteDeleteStale)
        .await
        .write(&behind)
        .await
        .expect("direct write to postgres");
    let mut ahead = WriteBatch::new(SOURCE, first);
    ahead.checkpoints = checkpoints(&[("shard-b", "6"), ("shard-c", "7")]);
    open(&lite, WriteMode::Overwrite)
        .await
        .write(&ahead)
        .await
        .expect("direct write to sqlite");
    let expected = HashMap::from([
        ("shard-a".to_string(), position("9")),
        ("shard-b".to_string(), position("5")),
    ]);
    assert_eq!(
        fanout
            .checkpoints(SOURCE, STREAM)
            .await
            .expect("checkpoints"),
        expected
    );

    // A later full sync saw only i-1: i-2 is stale, deleted where the mode says so.
    let mut later = WriteBatch::new(SOURCE, Utc::now());
    later.upserts = vec![instance("i-1")];
    fanout.write(&later).await.expect("write both");
    let deleted = fanout
        .delete_stale(instances(), SOURCE, later.sync_time, &[])
        .await
        .expect("delete stale");
    assert_eq!(deleted, 1, "only PostgreSQL deletes stale rows");
    assert_eq!(ids(&lite.instances().await), ["i-1", "i-2"]);
    assert_eq!(ids(&pg.instances().await), ["i-1"]);

    pg.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_keeps_sqlite_and_postgres_fresh() {
    let lite = Store::sqlite();
    let pg = Store::postgres().await;
    let moto = Moto::start().await.expect("moto starts");
    let aws = moto.sdk_config(REGION);
    let client = aws_sdk_ec2::Client::new(&aws);
    let seeded = ec2::run_instances(&client, 2, &[("team", "core")])
        .await
        .expect("seed instances");
    let pipe = CloudTrailPipe::create(&aws, "cloudtrail", 1)
        .await
        .expect("pipe");

    let config = StreamingSource {
        name: SOURCE,
        tables: &["aws_ec2_instances"],
        skip_tables: &[],
        region: REGION,
        endpoint: &moto.endpoint(),
        stream_arn: pipe.stream_arn(),
        stream_options: &[],
    }
    .config(&[("lite", &lite), ("pg", &pg)]);
    let mut trailsync = Trailsync::sync(&config);

    for store in [&lite, &pg] {
        trailsync
            .eventually("full sync writes both destinations", || async {
                (store.instances().await.len() == 2).then_some(())
            })
            .await;
    }

    let tagged = seeded[0].as_str();
    ec2::create_tags(&client, &[tagged], &[("team", "platform")])
        .await
        .expect("tag");
    pipe.send(&[cloudtrail::create_tags(
        DEFAULT_ACCOUNT,
        REGION,
        &[tagged],
        &[("team", "platform")],
    )])
    .await
    .expect("event delivered");

    for store in [&lite, &pg] {
        trailsync
            .eventually("the event changes both destinations", || async {
                let rows = store.instances().await;
                rows.iter()
                    .any(|r| r.instance_id == tagged && r.tags["team"] == "platform")
                    .then_some(())
            })
            .await;
    }

    let status = trailsync.terminate().await;
    assert!(
        status.success(),
        "trailsync exits 0 on SIGTERM: {status}\n{}",
        trailsync.log()
    );
    for store in [&lite, &pg] {
        let checkpoints = store.checkpoints().await;
        assert_eq!(checkpoints.len(), 1, "each destination has its checkpoint");
        assert_eq!(checkpoints[0].0, pipe.stream_arn());
    }
    pg.cleanup().await;
}
