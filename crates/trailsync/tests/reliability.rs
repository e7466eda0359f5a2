//! Never lose a change (docs/RELIABILITY.md), end to end against the real parts: moto behind a
//! fault proxy, a 4-shard Kinesis stream, SQLite and PostgreSQL (a private server where a test
//! stops it). Each test makes AWS, the stream, the database or the process fail, and checks that
//! every change still lands, the checkpoints never pass what was not applied, and a failure that
//! cannot pass ends the run with exit 1 and a clear message.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Store, StreamingSource, Trailsync, summary_counter};
use serde_json::{Value, json};
use trailsync_testkit::{
    CloudTrailPipe, DEFAULT_ACCOUNT, Fault, FaultProxy, Moto, Placement, cloudtrail, ec2, gzip,
};

const REGION: &str = "us-east-1";
const SHARDS: i32 = 4;
const SOURCE: &str = "aws-reliable";

struct World {
    moto: Moto,
    proxy: FaultProxy,
    ec2: aws_sdk_ec2::Client,
    pipe: CloudTrailPipe,
}

impl World {
    async fn new() -> World {
        let moto = Moto::start().await.expect("moto starts");
        let proxy = FaultProxy::start(&moto.endpoint())
            .await
            .expect("fault proxy starts");
        let aws = moto.sdk_config(REGION);
        let pipe = CloudTrailPipe::create(&aws, "cloudtrail", SHARDS)
            .await
            .expect("pipe");
        World {
            ec2: aws_sdk_ec2::Client::new(&aws),
            moto,
            proxy,
            pipe,
        }
    }

    /// trailsync's config: instances and security groups, through the fault proxy, with the
    /// SDK's own retries short so that the engine's patience is what the test sees.
    fn config(&self, store: &Store, stream: &[&str]) -> String {
        let config = StreamingSource {
            name: SOURCE,
            tables: &["aws_ec2_instances", "aws_ec2_security_groups"],
            skip_tables: &[],
            region: REGION,
            endpoint: &self.proxy.endpoint(),
            stream_arn: self.pipe.stream_arn(),
            stream_options: stream,
        }
        .config(&[("inventory", store)]);
        config.replacen(
            "    event_based_sync:",
            "    max_retries: 2\n    max_backoff: 4\n    event_based_sync:",
            1,
        )
    }

    async fn launch(&self, n: i32) -> Vec<String> {
        ec2::run_instances(&self.ec2, n, &[("v", "0")])
            .await
            .expect("launch instances")
    }

    /// Tags `ids` with `v` in moto, and sends the CreateTags event (one record).
    async fn retag(&self, ids: &[String], v: &str) -> Placement {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        ec2::create_tags(&self.ec2, &ids, &[("v", v)])
            .await
            .expect("tag in moto");
        self.pipe
            .send_direct(&[cloudtrail::create_tags(
                DEFAULT_ACCOUNT,
                REGION,
                &ids,
                &[("v", v)],
            )])
            .await
            .expect("put record")
    }
}

/// The committed position of each shard, as stored (`123`, `at:...`, `trim_horizon`).
async fn positions(store: &Store) -> BTreeMap<String, String> {
    store
        .checkpoints()
        .await
        .into_iter()
        .map(|(_, shard, position)| (shard, position))
        .collect()
}

fn seq(text: &str) -> Option<u128> {
    text.parse().ok()
}

/// Waits until the inventory's tags equal moto's.
async fn converge(trailsync: &Trailsync, world: &World, store: &Store, what: &str) {
    common::converge(&[trailsync], &world.ec2, store, what).await;
}

mod throttled_fetches_hold_the_checkpoint_and_land_after_the_fault {
    in_both_destinations!(super::throttled_fetches_hold_the_checkpoint_and_land_after_the_fault);
}

/// DescribeInstances and DescribeSecurityGroups throttled for 60 s: the changes made meanwhile
/// all land after the fault, no checkpoint passes the first record that waits, and a delete
/// that was pending completes.
async fn throttled_fetches_hold_the_checkpoint_and_land_after_the_fault(store: &Store) {
    const FAULT: Duration = Duration::from_secs(60);
    let world = World::new().await;
    let ids = world.launch(4).await;
    let group = world
        .ec2
        .create_security_group()
        .group_name("doomed")
        .description("deleted during the fault")
        .send()
        .await
        .expect("create group")
        .group_id
        .expect("a group id");
    let config = world.config(
        store,
        &[
            "full_sync: true",
            "reconcile_interval: \"0\"",
            "coalesce_window: 200ms",
        ],
    );
    let mut trailsync = Trailsync::sync(&config);
    converge(&trailsync, &world, store, "the full sync").await;
    let has_group = || async {
        !store
            .texts(&format!(
                "SELECT group_id FROM aws_ec2_security_groups WHERE group_id = '{group}'"
            ))
            .await
            .is_empty()
    };
    assert!(has_group().await, "the group was synced");

    for operation in ["DescribeInstances", "DescribeSecurityGroups"] {
        world.proxy.inject(operation, Fault::Throttle, 1.0);
    }
    let fault_started = Instant::now();
    // Changes during the fault: retags of every instance, and the group deleted.
    let mut first_waiting: BTreeMap<String, u128> = BTreeMap::new();
    let mut placements = Vec::new();
    for (round, id) in ids.iter().enumerate() {
        let placed = world
            .retag(std::slice::from_ref(id), &format!("fault-{round}"))
            .await;
        placements.push(placed);
    }
    world
        .ec2
        .delete_security_group()
        .group_id(&group)
        .send()
        .await
        .expect("delete group");
    placements.push(
        world
            .pipe
            .send_direct(&[cloudtrail::event(
                cloudtrail::EC2,
                "DeleteSecurityGroup",
                DEFAULT_ACCOUNT,
                REGION,
                json!({"groupId": group}),
                json!({"requestId": "r", "_return": true}),
            )])
            .await
            .expect("put record"),
    );
    for p in &placements {
        let n = seq(&p.sequence_number).expect("moto sequence numbers are integers");
        let first = first_waiting.entry(p.shard_id.clone()).or_insert(n);
        *first = (*first).min(n);
    }

    // Throughout the fault: nothing of it is applied, and no checkpoint passes a waiting record.
    let before = trailsync_testkit::ec2::tag_values(&world.ec2, "v")
        .await
        .expect("moto's tags");
    while fault_started.elapsed() < FAULT {
        for (shard, position) in positions(store).await {
            if let (Some(first), Some(committed)) = (first_waiting.get(&shard), seq(&position)) {
                assert!(
                    committed < *first,
                    "shard {shard} checkpointed at {committed}, past the waiting record {first}\n{}",
                    trailsync.log()
                );
            }
        }
        let stored = store.tag_values("v").await;
        assert!(
            stored.values().all(|v| v == "0"),
            "nothing applied during the fault: {stored:?}"
        );
        assert!(has_group().await, "the delete waits");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_ne!(
        before,
        store.tag_values("v").await,
        "moto moved on meanwhile"
    );
    assert!(world.proxy.faulted("DescribeInstances") > 0);

    world.proxy.clear();
    converge(
        &trailsync,
        &world,
        store,
        "every change made during the fault",
    )
    .await;
    trailsync
        .eventually("the pending delete completes", || async {
            (!has_group().await).then_some(())
        })
        .await;
    trailsync
        .eventually("the checkpoints pass every record", || async {
            let committed = positions(store).await;
            placements
                .iter()
                .all(|p| {
                    committed
                        .get(&p.shard_id)
                        .and_then(|c| seq(c))
                        .is_some_and(|c| Some(c) >= seq(&p.sequence_number))
                })
                .then_some(())
        })
        .await;
    let status = trailsync.terminate().await;
    let log = trailsync.log();
    assert!(status.success(), "{log}");
    assert!(
        summary_counter(&log, "fetch_retries").is_some_and(|n| n > 0),
        "{log}"
    );
    assert_eq!(summary_counter(&log, "changes_skipped"), Some(0), "{log}");
}

mod kill_9_at_random_moments_loses_nothing {
    in_both_destinations!(super::kill_9_at_random_moments_loses_nothing);
}

/// 2,000 events stream while trailsync is killed with SIGKILL at five random moments and
/// restarted each time without a full sync: only the checkpoints can bring the changes back, and
/// the final inventory equals moto's state.
async fn kill_9_at_random_moments_loses_nothing(store: &Store) {
    const INSTANCES: usize = 50;
    const ROUNDS: usize = 40;
    let world = World::new().await;
    let ids = world.launch(INSTANCES as i32).await;
    let config = world.config(
        store,
        &[
            "full_sync: false",
            "start_position: trim_horizon",
            "reconcile_interval: \"0\"",
            "coalesce_window: 100ms",
        ],
    );
    // Launch events first, so that the instances exist in the inventory at all.
    let launches: Vec<Value> = ids
        .iter()
        .map(|id| cloudtrail::run_instances(DEFAULT_ACCOUNT, REGION, &[id.as_str()]))
        .collect();
    for chunk in launches.chunks(10) {
        world.pipe.send_direct(chunk).await.expect("put record");
    }

    // The producer: every round tags every instance in moto, then sends one event per instance
    // (five records of ten events), 2,000 events in all.
    let producer = {
        let ec2 = world.ec2.clone();
        let ids = ids.clone();
        let stream = world.pipe.stream_arn().to_string();
        let kinesis = aws_sdk_kinesis::Client::new(&world.moto.sdk_config(REGION));
        let (group, log_stream) = (
            world.pipe.log_group().to_string(),
            world.pipe.log_stream().to_string(),
        );
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let v = format!("round-{round}");
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                ec2::create_tags(&ec2, &refs, &[("v", &v)])
                    .await
                    .expect("tag in moto");
                let events: Vec<Value> = refs
                    .iter()
                    .map(|id| cloudtrail::create_tags(DEFAULT_ACCOUNT, REGION, &[id], &[("v", &v)]))
                    .collect();
                for (n, chunk) in events.chunks(10).enumerate() {
                    let payload = trailsync_testkit::encode_payload(
                        DEFAULT_ACCOUNT,
                        &group,
                        &log_stream,
                        chunk,
                    )
                    .expect("payload");
                    kinesis
                        .put_record()
                        .stream_arn(&stream)
                        .partition_key(format!("round-{round}-{n}"))
                        .data(aws_sdk_kinesis::primitives::Blob::new(payload))
                        .send()
                        .await
                        .expect("put record");
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    let mut random = Lcg::seeded();
    eprintln!("kill moments seeded with {}", random.0);
    let mut trailsync = Trailsync::sync(&config);
    for kill in 0..5 {
        let wait = Duration::from_millis(500 + random.next() % 2500);
        tokio::time::sleep(wait).await;
        eprintln!("kill -9 number {} after {wait:?}", kill + 1);
        trailsync.kill().await;
        trailsync = Trailsync::sync(&config);
    }
    producer.await.expect("the producer finishes");
    converge(&trailsync, &world, store, "every change, after five kills").await;
    let stored = store.tag_values("v").await;
    assert_eq!(stored.len(), INSTANCES);
    assert!(
        stored
            .values()
            .all(|v| v == &format!("round-{}", ROUNDS - 1))
    );
    let status = trailsync.terminate().await;
    assert!(status.success(), "{}", trailsync.log());
}

mod changes_while_down_on_shards_never_read_land_after_restart {
    in_both_destinations!(super::changes_while_down_on_shards_never_read_land_after_restart);
}

/// The first run opens every shard but reads no record from any (there is none yet); killed,
/// it leaves each shard's start committed. Changes made while it is down land after a restart
/// without a full sync, on every shard.
async fn changes_while_down_on_shards_never_read_land_after_restart(store: &Store) {
    let world = World::new().await;
    let ids = world.launch(8).await;
    let config = world.config(
        store,
        &[
            "full_sync: false",
            "reconcile_interval: \"0\"",
            "coalesce_window: 100ms",
        ],
    );
    let mut trailsync = Trailsync::sync(&config);
    trailsync
        .eventually("every shard's start is committed", || async {
            (positions(store).await.len() == SHARDS as usize).then_some(())
        })
        .await;
    assert!(
        positions(store)
            .await
            .values()
            .all(|p| p.starts_with("at:")),
        "starts, not records: {:?}",
        positions(store).await
    );
    trailsync.kill().await;

    // While it is down: launches and retags, spread over the shards.
    let mut placements = Vec::new();
    for id in &ids {
        placements.push(
            world
                .pipe
                .send_direct(&[cloudtrail::run_instances(
                    DEFAULT_ACCOUNT,
                    REGION,
                    &[id.as_str()],
                )])
                .await
                .expect("put record"),
        );
        placements.push(world.retag(std::slice::from_ref(id), "while-down").await);
    }
    let shards: std::collections::BTreeSet<&str> =
        placements.iter().map(|p| p.shard_id.as_str()).collect();
    assert!(shards.len() > 1, "the changes span several shards");

    let mut trailsync = Trailsync::sync(&config);
    converge(&trailsync, &world, store, "the changes made while down").await;
    assert_eq!(store.tag_values("v").await.len(), ids.len());
    let status = trailsync.terminate().await;
    assert!(status.success(), "{}", trailsync.log());
}

mod bad_records_are_counted_and_passed {
    in_both_destinations!(super::bad_records_are_counted_and_passed);
}

/// Random bytes, truncated gzip, gzip of something else, JSON that is not CloudTrail, a 1 MB
/// record, and unicode and SQL metacharacters in every field: each is counted and passed, the
/// good events around them land, and the values reach the database intact.
async fn bad_records_are_counted_and_passed(store: &Store) {
    let world = World::new().await;
    let ids = world.launch(3).await;
    let config = world.config(
        store,
        &[
            "full_sync: false",
            "start_position: trim_horizon",
            "reconcile_interval: \"0\"",
            "coalesce_window: 100ms",
        ],
    );
    let nasty = "'; DROP TABLE aws_ec2_instances; -- \"☃ ünïcödé\\\\ 🎉 \u{0}";
    let moto_nasty = nasty.replace('\u{0}', "");
    let launch = |id: &str| cloudtrail::run_instances(DEFAULT_ACCOUNT, REGION, &[id]);
    let payload = |events: &[Value]| {
        trailsync_testkit::encode_payload(
            DEFAULT_ACCOUNT,
            world.pipe.log_group(),
            world.pipe.log_stream(),
            events,
        )
        .expect("payload")
    };

    world
        .pipe
        .send_direct(&[launch(&ids[0])])
        .await
        .expect("good");
    let mut random = Lcg::seeded();
    let noise: Vec<u8> = (0..4096).map(|_| (random.next() % 256) as u8).collect();
    world
        .pipe
        .put_raw(noise, "noise")
        .await
        .expect("random bytes");
    let whole = payload(&[launch(&ids[1])]);
    world
        .pipe
        .put_raw(whole[..whole.len() / 2].to_vec(), "cut")
        .await
        .expect("truncated gzip");
    world
        .pipe
        .put_raw(gzip(b"this is not json at all").expect("gzip"), "text")
        .await
        .expect("gzip of non-JSON");
    world
        .pipe
        .put_raw(
            br#"{"hello": "world", "records": [1, 2, 3]}"#.to_vec(),
            "json",
        )
        .await
        .expect("JSON that is not CloudTrail");
    // A record of almost 1 MB (Kinesis' limit is 1 MiB): one real event with a huge field.
    let mut big = launch(&ids[1]);
    big["requestParameters"]["padding"] = json!("x".repeat(1_000_000));
    world
        .pipe
        .put_raw(serde_json::to_vec(&big).expect("json"), "big")
        .await
        .expect("a 1 MB record");
    // Metacharacters everywhere: in moto's tag (so in the row) and in every event field.
    ec2::create_tags(&world.ec2, &[ids[2].as_str()], &[("v", &moto_nasty)])
        .await
        .expect("tag in moto");
    let mut event = launch(&ids[2]);
    for field in ["userAgent", "sourceIPAddress", "eventID", "requestID"] {
        event[field] = json!(nasty);
    }
    event["userIdentity"]["arn"] = json!(nasty);
    event["requestParameters"]["tagSpecificationSet"] =
        json!({"items": [{"key": nasty, "value": nasty}]});
    world.pipe.send_direct(&[event]).await.expect("nasty event");

    let mut trailsync = Trailsync::sync(&config);
    trailsync
        .eventually("the good events around the bad land", || async {
            let rows = store.instances().await;
            (rows.len() == ids.len()).then_some(())
        })
        .await;
    let stored = store.tag_values("v").await;
    assert_eq!(
        stored.get(&ids[2]),
        Some(&moto_nasty),
        "stored intact as a parameter"
    );
    assert_eq!(
        store.count("aws_ec2_instances").await,
        Some(3),
        "the table survived"
    );
    let status = trailsync.terminate().await;
    let log = trailsync.log();
    assert!(status.success(), "{log}");
    for reason in ["skipped[bad gzip]", "skipped[not CloudTrail]"] {
        assert!(log.contains(reason), "{reason} counted\n{log}");
    }
    assert!(
        log.contains("skipped[invalid JSON]") || log.contains("skipped[bad gzip]=2"),
        "{log}"
    );
}

mod a_batch_the_database_refuses_ends_the_run {
    in_both_destinations!(super::a_batch_the_database_refuses_ends_the_run);
}

/// A change the database will always refuse (here a constraint added behind trailsync's back)
/// ends the run with exit 1 within seconds, naming the table and the cause, and moves no
/// checkpoint past it.
async fn a_batch_the_database_refuses_ends_the_run(store: &Store) {
    let world = World::new().await;
    let ids = world.launch(1).await;
    let config = world.config(
        store,
        &[
            "full_sync: false",
            "reconcile_interval: \"0\"",
            "coalesce_window: 100ms",
        ],
    );
    let mut trailsync = Trailsync::sync(&config);
    trailsync
        .eventually("the shards are started", || async {
            (positions(store).await.len() == SHARDS as usize).then_some(())
        })
        .await;
    let started = positions(store).await;
    match store {
        Store::Sqlite { path, .. } => {
            let conn = rusqlite::Connection::open(path).expect("open sqlite");
            conn.execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON aws_ec2_instances \
                 BEGIN SELECT RAISE(ABORT, 'poison: instances are refused'); END;",
            )
            .expect("add a trigger");
        }
        _ => {
            store
                .pg()
                .await
                .expect("connect")
                .batch_execute(
                    "ALTER TABLE aws_ec2_instances ADD CONSTRAINT poison CHECK (instance_id = 'none')",
                )
                .await
                .expect("add a constraint");
        }
    }
    world
        .pipe
        .send_direct(&[cloudtrail::run_instances(
            DEFAULT_ACCOUNT,
            REGION,
            &[ids[0].as_str()],
        )])
        .await
        .expect("put record");
    let status = trailsync.exit_within(Duration::from_secs(30)).await;
    let log = trailsync.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("aws_ec2_instances") && log.contains("poison"),
        "{log}"
    );
    assert_eq!(positions(store).await, started, "no checkpoint moved");
}

/// A stream that is gone (deleted under trailsync) ends the run with exit 1 and a message that
/// names it, after a bounded time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_is_gone_ends_the_run() {
    let store = Store::sqlite();
    let world = World::new().await;
    let config = world.config(&store, &["full_sync: false", "reconcile_interval: \"0\""]);
    let mut trailsync = Trailsync::sync(&config);
    trailsync
        .eventually("the shards are started", || async {
            (positions(&store).await.len() == SHARDS as usize).then_some(())
        })
        .await;
    aws_sdk_kinesis::Client::new(&world.moto.sdk_config(REGION))
        .delete_stream()
        .stream_arn(world.pipe.stream_arn())
        .send()
        .await
        .expect("delete the stream");
    let status = trailsync.exit_within(Duration::from_secs(90)).await;
    let log = trailsync.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("ResourceNotFound"), "{log}");
    assert!(log.contains(world.pipe.stream_arn()), "{log}");
}

/// PostgreSQL's connections killed, then the server restarted, while events stream: consumption
/// pauses and resumes, and the inventory ends equal to moto's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_and_restarted_mid_stream_loses_nothing() {
    let store = Store::server().await;
    let world = World::new().await;
    let ids = world.launch(6).await;
    let config = world.config(
        &store,
        &[
            "full_sync: true",
            "reconcile_interval: \"0\"",
            "coalesce_window: 100ms",
        ],
    );
    let mut trailsync = Trailsync::sync(&config);
    converge(&trailsync, &world, &store, "the full sync").await;

    world.retag(&ids[..2], "before-kill").await;
    converge(&trailsync, &world, &store, "changes before the kill").await;
    let killed: i64 = store
        .pg()
        .await
        .expect("connect")
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'trailsync'",
            &[],
        )
        .await
        .expect("terminate")
        .get(0);
    assert!(killed >= 1, "trailsync's connection was cut");
    world.retag(&ids[2..4], "after-kill").await;
    converge(
        &trailsync,
        &world,
        &store,
        "changes after the connections were cut",
    )
    .await;

    let Store::Server(server) = &store else {
        unreachable!("a private server")
    };
    server.stop().await.expect("stop the server");
    world.retag(&ids[4..], "while-stopped").await;
    world.retag(&ids[..1], "while-stopped").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.start_again().await.expect("start the server again");
    converge(
        &trailsync,
        &world,
        &store,
        "changes made while the server was down",
    )
    .await;
    let status = trailsync.terminate().await;
    let log = trailsync.log();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("destination unavailable"),
        "the outage was noticed\n{log}"
    );
}

/// A small deterministic generator for the moments and noise above (the seed is printed).
struct Lcg(u64);

impl Lcg {
    fn seeded() -> Lcg {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.subsec_nanos() as u64);
        Lcg(nanos | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}
