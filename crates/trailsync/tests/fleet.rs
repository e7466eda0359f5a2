//! Several `trailsync sync` processes as one fleet (docs/OPERATIONS.md): they share a 4-shard
//! moto stream through leases in one PostgreSQL database, take over from a worker killed with
//! SIGKILL within the lease expiry, hand over in a rolling restart without losing or regressing
//! anything, and a SQLite database refuses a second process.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::{Store, StreamingSource, Trailsync, summary_counter};
use serde_json::Value;
use trailsync_core::Position;
use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";
const SHARDS: i32 = 4;
const SOURCE: &str = "aws-fleet";
const INSTANCES: usize = 50;

struct World {
    moto: Moto,
    ec2: aws_sdk_ec2::Client,
    pipe: CloudTrailPipe,
    ids: Vec<String>,
}

impl World {
    /// Moto with 50 instances, a 4-shard stream, and the instances' launch events in it.
    async fn new() -> World {
        let moto = Moto::start().await.expect("moto starts");
        let aws = moto.sdk_config(REGION);
        let pipe = CloudTrailPipe::create(&aws, "cloudtrail", SHARDS)
            .await
            .expect("pipe");
        let ec2 = aws_sdk_ec2::Client::new(&aws);
        let ids = ec2::run_instances(&ec2, INSTANCES as i32, &[("v", "round-000")])
            .await
            .expect("launch instances");
        let launches: Vec<Value> = ids
            .iter()
            .map(|id| cloudtrail::run_instances(DEFAULT_ACCOUNT, REGION, &[id.as_str()]))
            .collect();
        for chunk in launches.chunks(10) {
            pipe.send_direct(chunk).await.expect("put record");
        }
        World {
            moto,
            ec2,
            pipe,
            ids,
        }
    }

    fn config(&self, store: &Store) -> String {
        StreamingSource {
            name: SOURCE,
            tables: &["aws_ec2_instances"],
            skip_tables: &[],
            region: REGION,
            endpoint: &self.moto.endpoint(),
            stream_arn: self.pipe.stream_arn(),
            stream_options: &[
                "full_sync: false",
                "start_position: trim_horizon",
                "reconcile_interval: \"0\"",
                "coalesce_window: 100ms",
            ],
        }
        .config(&[("inventory", store)])
    }

    /// Tags every instance `round-NNN` in moto, then sends one event per instance (records of
    /// ten events, spread over the shards): `rounds` × 50 events, every `pause`.
    fn produce(&self, rounds: usize, pause: Duration) -> tokio::task::JoinHandle<()> {
        let (ec2, ids) = (self.ec2.clone(), self.ids.clone());
        let pipe = self.pipe.clone();
        tokio::spawn(async move {
            for round in 1..=rounds {
                let v = format!("round-{round:03}");
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                ec2::create_tags(&ec2, &refs, &[("v", &v)])
                    .await
                    .expect("tag in moto");
                let events: Vec<Value> = refs
                    .iter()
                    .map(|id| cloudtrail::create_tags(DEFAULT_ACCOUNT, REGION, &[id], &[("v", &v)]))
                    .collect();
                for chunk in events.chunks(10) {
                    pipe.send_direct(chunk).await.expect("put record");
                }
                tokio::time::sleep(pause).await;
            }
        })
    }
}

/// Logs, in the test's database, every checkpoint move and every change of an instance's `v`
/// tag, so that the test can assert neither ever went backwards.
async fn record_moves(store: &Store) {
    // The tables exist once a destination opened the database and migrated it.
    let (kind, connection) = store.connection();
    let destination = trailsync_destination::connect(
        kind,
        &connection,
        trailsync_core::WriteMode::OverwriteDeleteStale,
    )
    .await
    .expect("open the destination");
    let table = trailsync_catalog::table("aws_ec2_instances").expect("catalog table");
    destination.migrate(&[table]).await.expect("migrate");
    let client = store.pg().await.expect("a PostgreSQL client");
    client
        .batch_execute(
            "CREATE TABLE checkpoint_moves (shard_id text, old_position text, new_position text, old_epoch bigint, new_epoch bigint);
             CREATE FUNCTION log_checkpoint() RETURNS trigger AS $$ BEGIN
               IF NEW.sequence_number IS DISTINCT FROM OLD.sequence_number THEN
                 INSERT INTO checkpoint_moves VALUES (NEW.shard_id, OLD.sequence_number, NEW.sequence_number, OLD.epoch, NEW.epoch);
               END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER log_checkpoint AFTER UPDATE ON _trailsync_checkpoints FOR EACH ROW EXECUTE FUNCTION log_checkpoint();
             CREATE TABLE tag_moves (instance_id text, old_v text, new_v text);
             CREATE FUNCTION log_tag() RETURNS trigger AS $$ BEGIN
               IF (NEW.tags->>'v') IS DISTINCT FROM (OLD.tags->>'v') THEN
                 INSERT INTO tag_moves VALUES (NEW.instance_id, OLD.tags->>'v', NEW.tags->>'v');
               END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER log_tag AFTER UPDATE ON aws_ec2_instances FOR EACH ROW EXECUTE FUNCTION log_tag();",
        )
        .await
        .expect("install the move loggers");
}

/// Asserts that no checkpoint and no tag ever moved backwards.
async fn assert_nothing_went_back(store: &Store) {
    let moves = store
        .texts("SELECT shard_id, old_position, new_position FROM checkpoint_moves")
        .await;
    assert!(!moves.is_empty(), "checkpoints moved");
    for row in &moves {
        let text = |i: usize| row[i].clone().unwrap_or_default();
        let (old, new) = (
            Position::from_str(&text(1)).expect("a stored position"),
            Position::from_str(&text(2)).expect("a stored position"),
        );
        assert!(
            new >= old,
            "checkpoint of {} went back: {old} -> {new}",
            text(0)
        );
    }
    let tags = store
        .texts("SELECT instance_id, old_v, new_v FROM tag_moves")
        .await;
    assert!(!tags.is_empty(), "tags moved");
    for row in &tags {
        let (old, new) = (
            row[1].clone().unwrap_or_default(),
            row[2].clone().unwrap_or_default(),
        );
        assert!(
            new >= old,
            "{:?}: tag went back from {old} to {new}",
            row[0]
        );
    }
}

/// Owner of each shard whose lease is live.
async fn owners(store: &Store) -> BTreeMap<String, String> {
    store
        .texts(
            "SELECT shard_id, owner FROM _trailsync_checkpoints \
             WHERE owner IS NOT NULL AND lease_expires_ms > (extract(epoch from clock_timestamp()) * 1000)::bigint",
        )
        .await
        .into_iter()
        .filter_map(|row| Some((row[0].clone()?, row[1].clone()?)))
        .collect()
}

/// The pid in a worker id (`host:pid:random`).
fn pid_of(worker: &str) -> Option<u32> {
    worker.split(':').nth(1)?.parse().ok()
}

/// Three workers share four shards while 2,000 events flow: each change is processed once (the
/// events the workers decoded add up to the events sent, within 10 % for records read again
/// after a handoff), no worker is idle, no checkpoint decreases. Then one is killed with
/// SIGKILL: its shards are taken over within 15 s and the inventory still converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_the_stream_and_take_over_from_a_killed_one() {
    const ROUNDS: usize = 40;
    let world = World::new().await;
    let store = Store::postgres().await;
    record_moves(&store).await;
    let config = world.config(&store);
    let mut workers: Vec<Trailsync> = (0..3).map(|_| Trailsync::sync(&config)).collect();

    // Every worker holds shards once the fleet settled: 2, 1 and 1.
    let spread = common::eventually("the shards spread over three workers", || async {
        let owners = owners(&store).await;
        let counts: BTreeMap<&String, usize> = owners.values().fold(BTreeMap::new(), |mut m, o| {
            *m.entry(o).or_default() += 1;
            m
        });
        (owners.len() == SHARDS as usize && counts.len() == 3).then_some(counts.len())
    })
    .await;
    assert_eq!(spread, 3);

    // `trailsync status` shows the same.
    let status = common::run(&["status", "--format", "json"], &config);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status: Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let fleet = &status["sources"][0];
    assert_eq!(
        fleet["shards"].as_array().map(Vec::len),
        Some(SHARDS as usize)
    );
    let live: Vec<&Value> = fleet["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter(|w| w["live"] == true)
        .collect();
    assert_eq!(live.len(), 3, "{fleet:#}");
    assert!(
        live.iter()
            .all(|w| w["shards"].as_array().is_some_and(|s| !s.is_empty())),
        "{fleet:#}"
    );

    let producer = world.produce(ROUNDS, Duration::from_millis(150));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Kill one mid-stream; the others take its shards within the lease expiry.
    let victim = workers.remove(0);
    let victim_pid = victim.pid();
    let mut victim = victim;
    victim.kill().await;
    let killed_at = Instant::now();
    common::eventually("the killed worker's shards taken over", || async {
        let owners = owners(&store).await;
        (owners.len() == SHARDS as usize && owners.values().all(|o| pid_of(o) != Some(victim_pid)))
            .then_some(())
    })
    .await;
    let takeover = killed_at.elapsed();
    assert!(takeover < Duration::from_secs(15), "took {takeover:?}");
    eprintln!("shards taken over {takeover:?} after SIGKILL");

    producer.await.expect("the producer finishes");
    let refs: Vec<&Trailsync> = workers.iter().collect();
    common::converge(
        &refs,
        &world.ec2,
        &store,
        "every change, after a worker was killed",
    )
    .await;
    assert!(
        store
            .tag_values("v")
            .await
            .values()
            .all(|v| v == &format!("round-{ROUNDS:03}"))
    );

    let mut decoded = 0;
    for worker in &mut workers {
        let exit = worker.terminate().await;
        assert!(exit.success(), "{}", worker.log());
        decoded += summary_counter(&worker.log(), "events").unwrap_or(0);
    }
    // The killed worker's count died with it; the survivors' alone cover what it left unread,
    // so their total lies between what it could not have read and the total sent, plus 10 %.
    let sent = (INSTANCES * (ROUNDS + 1)) as u64;
    assert!(
        decoded <= sent + sent / 10,
        "decoded {decoded} of {sent}: work was duplicated"
    );
    assert_nothing_went_back(&store).await;
    store.cleanup().await;
}

/// A rolling restart, three times over: start a new worker, then SIGTERM an old one. Shards
/// hand over within seconds, nothing is lost and no row ever returns to an older value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_loses_and_regresses_nothing() {
    const ROUNDS: usize = 30;
    let world = World::new().await;
    let store = Store::postgres().await;
    record_moves(&store).await;
    let config = world.config(&store);
    let mut old = vec![Trailsync::sync(&config), Trailsync::sync(&config)];
    common::eventually("two workers hold every shard", || async {
        let owners = owners(&store).await;
        let holders: BTreeSet<&String> = owners.values().collect();
        (owners.len() == SHARDS as usize && holders.len() == 2).then_some(())
    })
    .await;
    let producer = world.produce(ROUNDS, Duration::from_millis(150));
    let mut new = Vec::new();
    for _ in 0..3 {
        new.push(Trailsync::sync(&config));
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut leaving = old.remove(0);
        let pid = leaving.pid();
        let exit = leaving.terminate().await;
        assert!(exit.success(), "{}", leaving.log());
        let released = Instant::now();
        common::eventually("the leaving worker's shards taken", || async {
            let owners = owners(&store).await;
            (owners.len() == SHARDS as usize && owners.values().all(|o| pid_of(o) != Some(pid)))
                .then_some(())
        })
        .await;
        eprintln!("handed over {:?} after SIGTERM", released.elapsed());
        old.push(new.remove(0));
    }
    producer.await.expect("the producer finishes");
    let refs: Vec<&Trailsync> = old.iter().collect();
    common::converge(
        &refs,
        &world.ec2,
        &store,
        "every change, through a rolling restart",
    )
    .await;
    for worker in &mut old {
        let exit = worker.terminate().await;
        assert!(exit.success(), "{}", worker.log());
    }
    assert_nothing_went_back(&store).await;
    store.cleanup().await;
}

/// A SQLite database is written by one process: a second `trailsync sync` exits 2 naming the
/// first; with `--wait` it starts once the first is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_one_sqlite_file_is_refused_or_waits() {
    let world = World::new().await;
    let store = Store::sqlite();
    let config = world.config(&store);
    let mut first = Trailsync::sync(&config);
    first
        .eventually("the first process streaming", || async {
            first.log().contains("consuming stream").then_some(())
        })
        .await;
    let mut second = Trailsync::sync(&config);
    let exit = second.exit_within(Duration::from_secs(30)).await;
    assert_eq!(exit.code(), Some(2), "{}", second.log());
    let message = second.log();
    let expected = format!("is in use by pid {} on ", first.pid());
    assert!(message.contains(&expected), "{message}");
    assert_eq!(
        message.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{message}"
    );

    let mut waiting = Trailsync::start(&["sync", "--wait"], &config);
    waiting
        .eventually("the third process waiting", || async {
            waiting
                .log()
                .contains("waiting for the database to be free")
                .then_some(())
        })
        .await;
    assert!(!waiting.log().contains("consuming stream"));
    let exit = first.terminate().await;
    assert!(exit.success(), "{}", first.log());
    waiting
        .eventually("the waiting process streaming", || async {
            waiting.log().contains("consuming stream").then_some(())
        })
        .await;
    // It takes the shards at once: leases of a process that had the file before are free.
    common::converge(
        &[&waiting],
        &world.ec2,
        &store,
        "the launches, by the process that waited",
    )
    .await;
    let exit = waiting.terminate().await;
    assert!(exit.success(), "{}", waiting.log());
}
