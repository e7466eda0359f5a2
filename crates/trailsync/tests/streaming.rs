//! The stream engine end to end against moto, on a 4-shard stream: every shard read, splits and
//! merges followed with parents drained before children, restarts resuming from the committed
//! checkpoints, re-fetches coalesced into batched calls, deletes, and reconciliation.
//!
//! Events are put straight into Kinesis as CloudWatch Logs subscription payloads (one record
//! each, random partition keys) so that they spread over the shards; the tests start trailsync
//! with `full_sync: false` where the rows must come from the events alone.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{EVENTS_ONLY, Store, StreamingSource, Trailsync, summary_counter};
use serde_json::{Value, json};
use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, Placement, cloudtrail, ec2};

const REGION: &str = "us-east-1";
const SHARDS: usize = 4;
const SOURCE: &str = "aws-stream";

struct World {
    moto: Moto,
    ec2: aws_sdk_ec2::Client,
    pipe: CloudTrailPipe,
}

impl World {
    async fn new() -> World {
        let moto = Moto::start().await.expect("moto starts");
        let aws = moto.sdk_config(REGION);
        let pipe = CloudTrailPipe::create(&aws, "cloudtrail", SHARDS as i32)
            .await
            .expect("pipe");
        let ec2 = aws_sdk_ec2::Client::new(&aws);
        World { moto, ec2, pipe }
    }

    /// Launches `n` instances in moto (no event is sent).
    async fn launch(&self, n: i32) -> Vec<String> {
        ec2::run_instances(&self.ec2, n, &[("team", "core")])
            .await
            .expect("launch instances")
    }

    /// trailsync's config: EC2 instances of one region, `stream` lines under `event_based_sync`.
    fn config(&self, store: &Store, stream: &[&str]) -> String {
        self.config_for(store, &["aws_ec2_instances"], stream)
    }

    /// trailsync's config for these tables.
    fn config_for(&self, store: &Store, tables: &[&str], stream: &[&str]) -> String {
        StreamingSource {
            name: SOURCE,
            tables,
            skip_tables: &[],
            region: REGION,
            endpoint: &self.moto.endpoint(),
            stream_arn: self.pipe.stream_arn(),
            stream_options: stream,
        }
        .config(&[("inventory", store)])
    }

    /// Puts each group of events as one record; then repeats groups until every shard holds
    /// one (repeats are harmless: a refresh is idempotent). Returns where each record landed.
    async fn spread(&self, groups: &[Vec<Value>]) -> Vec<Placement> {
        let mut placements = Vec::new();
        for group in groups {
            placements.push(self.pipe.send_direct(group).await.expect("put record"));
        }
        let mut again = groups.iter().cycle();
        while shards_of(&placements).len() < SHARDS {
            let group = again.next().expect("at least one group");
            placements.push(self.pipe.send_direct(group).await.expect("put record"));
        }
        placements
    }
}

/// One RunInstances event per instance, each its own record.
fn launches(ids: &[String]) -> Vec<Vec<Value>> {
    ids.iter()
        .map(|id| {
            vec![cloudtrail::run_instances(
                DEFAULT_ACCOUNT,
                REGION,
                &[id.as_str()],
            )]
        })
        .collect()
}

fn shards_of(placements: &[Placement]) -> BTreeSet<&str> {
    placements.iter().map(|p| p.shard_id.as_str()).collect()
}

/// The last sequence number placed in each shard.
fn last_placed(placements: &[Placement]) -> BTreeMap<String, u128> {
    let mut last = BTreeMap::new();
    for p in placements {
        let seq: u128 = p
            .sequence_number
            .parse()
            .expect("moto sequence numbers are integers");
        let entry = last.entry(p.shard_id.clone()).or_insert(seq);
        *entry = (*entry).max(seq);
    }
    last
}

/// Waits until the committed checkpoints cover every placed record.
async fn wait_checkpointed(trailsync: &Trailsync, store: &Store, placements: &[Placement]) {
    let wanted = last_placed(placements);
    trailsync
        .eventually("checkpoints cover every record sent", || async {
            let committed: BTreeMap<String, u128> = store
                .checkpoints()
                .await
                .into_iter()
                .filter_map(|(_, shard, seq)| Some((shard, seq.parse().ok()?)))
                .collect();
            wanted
                .iter()
                .all(|(shard, seq)| committed.get(shard).is_some_and(|c| c >= seq))
                .then_some(())
        })
        .await;
}

async fn wait_rows(trailsync: &Trailsync, store: &Store, ids: &[String], what: &str) {
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    trailsync
        .eventually(what, || async {
            let rows = store.instances().await;
            let have: BTreeSet<&str> = rows.iter().map(|r| r.instance_id.as_str()).collect();
            (have == wanted).then_some(())
        })
        .await;
}

async fn stop(trailsync: &mut Trailsync) -> String {
    let status = trailsync.terminate().await;
    let log = trailsync.log();
    assert!(
        status.success(),
        "trailsync exits 0 on SIGTERM: {status}\n{log}"
    );
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_spread_over_every_shard_all_land() {
    let world = World::new().await;
    let store = Store::sqlite();
    let ids = world.launch(10).await;
    let placements = world.spread(&launches(&ids)).await;
    assert_eq!(shards_of(&placements).len(), SHARDS);

    let config = world.config(&store, EVENTS_ONLY);
    let mut trailsync = Trailsync::sync(&config);
    wait_rows(&trailsync, &store, &ids, "every launched instance lands").await;
    wait_checkpointed(&trailsync, &store, &placements).await;
    let log = stop(&mut trailsync).await;
    assert_eq!(
        summary_counter(&log, "records"),
        Some(placements.len() as u64),
        "every record read once\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_and_merges_lose_nothing_and_parents_drain_first() {
    let world = World::new().await;
    let store = Store::sqlite();
    let shards: Vec<String> = world
        .pipe
        .shards()
        .await
        .expect("shards")
        .iter()
        .map(|s| s.shard_id().to_string())
        .collect();
    assert_eq!(shards.len(), SHARDS);

    let first = world.launch(6).await;
    let first_placements = world.spread(&launches(&first)).await;
    let config = world.config(&store, EVENTS_ONLY);
    let mut trailsync = Trailsync::sync(&config);
    wait_rows(&trailsync, &store, &first, "the first launches land").await;
    wait_checkpointed(&trailsync, &store, &first_placements).await;

    // More events, then the stream is resharded while they are being consumed.
    let second = world.launch(6).await;
    world.spread(&launches(&second)).await;
    world.pipe.split_shard(&shards[0]).await.expect("split");
    world
        .pipe
        .merge_shards(&shards[2], &shards[3])
        .await
        .expect("merge");
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    wait_rows(
        &trailsync,
        &store,
        &all,
        "nothing is lost across the split and merge",
    )
    .await;

    // Parents and children, as the stream now lists them.
    let listing = world.pipe.shards().await.expect("shards");
    let children: Vec<(String, Vec<String>)> = listing
        .iter()
        .filter_map(|s| {
            let parents: Vec<String> = [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                .into_iter()
                .flatten()
                .map(str::to_string)
                .collect();
            (!parents.is_empty()).then(|| (s.shard_id().to_string(), parents))
        })
        .collect();
    assert_eq!(children.len(), 3, "two from the split, one from the merge");
    let merged = children
        .iter()
        .find(|(_, parents)| parents.len() == 2)
        .map(|(child, _)| child.clone())
        .expect("the merge's child");

    // Every child is opened, each only after all its parents were drained (read to their
    // end and committed). moto copies the merged parents' records into the child, so reading
    // it also commits a checkpoint there.
    let log = trailsync
        .eventually("every child shard is opened", || async {
            let log = trailsync.log();
            children
                .iter()
                .all(|(child, _)| line_of(&log, "opening shard", child).is_some())
                .then_some(log)
        })
        .await;
    for (child, parents) in &children {
        let opened = line_of(&log, "opening shard", child).expect("child opened");
        for parent in parents {
            let drained = line_of(&log, "shard drained", parent)
                .unwrap_or_else(|| panic!("parent {parent} drained before {child}\n{log}"));
            assert!(
                drained < opened,
                "{parent} drained before {child} opened\n{log}"
            );
        }
    }
    trailsync
        .eventually("the merge's child is read", || async {
            store
                .checkpoints()
                .await
                .iter()
                .any(|(_, shard, _)| *shard == merged)
                .then_some(())
        })
        .await;
    stop(&mut trailsync).await;
}

/// The index of the first log line with `message` about `shard`.
fn line_of(log: &str, message: &str, shard: &str) -> Option<usize> {
    log.lines()
        .position(|l| l.contains(message) && l.contains(shard))
}

mod restart_resumes_from_checkpoints_in {
    in_both_destinations!(super::restart_resumes_from_checkpoints);
}

async fn restart_resumes_from_checkpoints(store: &Store) {
    let world = World::new().await;
    let config = world.config(store, EVENTS_ONLY);

    let before = world.launch(5).await;
    let placed_before = world.spread(&launches(&before)).await;
    let mut trailsync = Trailsync::sync(&config);
    wait_rows(
        &trailsync,
        store,
        &before,
        "the first run applies its events",
    )
    .await;
    wait_checkpointed(&trailsync, store, &placed_before).await;
    let log = stop(&mut trailsync).await;
    assert_eq!(
        summary_counter(&log, "records"),
        Some(placed_before.len() as u64)
    );

    // While trailsync is down, more happens.
    let after = world.launch(5).await;
    let placed_after = world.spread(&launches(&after)).await;
    let mut trailsync = Trailsync::sync(&config);
    let all: Vec<String> = before.iter().chain(&after).cloned().collect();
    wait_rows(
        &trailsync,
        store,
        &all,
        "the restarted run applies what came meanwhile",
    )
    .await;
    wait_checkpointed(&trailsync, store, &placed_after).await;
    let log = stop(&mut trailsync).await;
    // Everything of the first run was committed before it stopped: none of it is read again.
    assert_eq!(
        summary_counter(&log, "records"),
        Some(placed_after.len() as u64),
        "only records after the checkpoints are read\n{log}"
    );
    let rows = store.instances().await;
    assert_eq!(rows.len(), all.len(), "the inventory is moto's state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_events_for_few_instances_cost_few_calls() {
    let world = World::new().await;
    let store = Store::sqlite();
    let ids = world.launch(20).await;
    // 500 tag events over the 20 instances, 10 per record, spread over the shards.
    let groups: Vec<Vec<Value>> = (0..50)
        .map(|record| {
            (0..10)
                .map(|n| {
                    let id = ids[(record * 10 + n) % ids.len()].as_str();
                    cloudtrail::create_tags(DEFAULT_ACCOUNT, REGION, &[id], &[("seen", "yes")])
                })
                .collect()
        })
        .collect();
    let placements = world.spread(&groups).await;

    world.moto.start_recording().await.expect("recording");
    let config = world.config(&store, EVENTS_ONLY);
    let mut trailsync = Trailsync::sync(&config);
    wait_rows(&trailsync, &store, &ids, "every tagged instance is fetched").await;
    wait_checkpointed(&trailsync, &store, &placements).await;
    let log = stop(&mut trailsync).await;

    assert!(
        summary_counter(&log, "events").is_some_and(|n| n >= 500),
        "{log}"
    );
    let counted = summary_counter(&log, "aws[ec2:DescribeInstances]").expect("counted\n{log}");
    let recorded = world
        .moto
        .recorded_calls()
        .await
        .expect("recorded calls")
        .iter()
        .filter(|c| c.service == "ec2" && c.operation == "DescribeInstances")
        .count() as u64;
    assert!(
        (1..=5).contains(&counted),
        "{counted} DescribeInstances for 500 events\n{log}"
    );
    assert_eq!(counted, recorded, "trailsync's count is moto's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_events_remove_rows_and_their_children() {
    let world = World::new().await;
    let store = Store::sqlite();
    let kept = world.launch(1).await;
    let image = register_shared_image(&world.ec2, &kept[0]).await;
    let config = world.config_for(
        &store,
        &["aws_ec2_instances", "aws_ec2_images"],
        &["reconcile_interval: \"0\""],
    );
    let mut trailsync = Trailsync::sync(&config);
    trailsync
        .eventually(
            "the full sync writes the image and its launch permission",
            || async {
                let image = store.count("aws_ec2_images").await;
                let shared = store.count("aws_ec2_image_launch_permissions").await;
                (image == Some(1) && shared == Some(1)).then_some(())
            },
        )
        .await;
    wait_rows(
        &trailsync,
        &store,
        &kept,
        "the full sync writes the instance",
    )
    .await;

    // The image is deregistered, and an instance the inventory still holds is gone from AWS
    // (moto never forgets a terminated instance): each announced by its event.
    world
        .ec2
        .deregister_image()
        .image_id(&image)
        .send()
        .await
        .expect("deregister image");
    let gone = "i-0deadbeef00000001";
    store
        .insert_stale_instance(SOURCE, DEFAULT_ACCOUNT, REGION, gone)
        .await;
    world
        .pipe
        .send(&[
            cloudtrail::event(
                cloudtrail::EC2,
                "DeregisterImage",
                DEFAULT_ACCOUNT,
                REGION,
                json!({ "imageId": image }),
                json!({ "_return": true }),
            ),
            cloudtrail::terminate_instances(DEFAULT_ACCOUNT, REGION, &[gone]),
        ])
        .await
        .expect("events delivered");
    trailsync
        .eventually("the image goes with its launch permission", || async {
            let image = store.count("aws_ec2_images").await;
            let shared = store.count("aws_ec2_image_launch_permissions").await;
            (image == Some(0) && shared == Some(0)).then_some(())
        })
        .await;
    wait_rows(
        &trailsync,
        &store,
        &kept,
        "the vanished instance's row goes",
    )
    .await;

    // A launch whose response names no instance: the table is listed at that location, and
    // rows there that the listing did not see are removed.
    store
        .insert_stale_instance(SOURCE, DEFAULT_ACCOUNT, REGION, "i-0deadbeef00000003")
        .await;
    let mut launch = cloudtrail::run_instances(DEFAULT_ACCOUNT, REGION, &[]);
    launch["responseElements"] = Value::Null;
    world.pipe.send(&[launch]).await.expect("event delivered");
    wait_rows(
        &trailsync,
        &store,
        &kept,
        "the refresh removes what it did not see",
    )
    .await;

    let log = stop(&mut trailsync).await;
    assert_eq!(
        summary_counter(&log, "not_found_retries"),
        Some(2),
        "each missing resource asked again once before deleting\n{log}"
    );
}

/// Registers an image of `instance` and shares it with another account (a launch permission,
/// a child row of aws_ec2_images).
async fn register_shared_image(ec2: &aws_sdk_ec2::Client, instance: &str) -> String {
    use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications};
    let image = ec2
        .create_image()
        .instance_id(instance)
        .name("golden")
        .send()
        .await
        .expect("create image")
        .image_id
        .expect("image id");
    ec2.modify_image_attribute()
        .image_id(&image)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id("210987654321").build())
                .build(),
        )
        .send()
        .await
        .expect("share image");
    image
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_repairs_what_no_event_announced() {
    let world = World::new().await;
    let store = Store::sqlite();
    let ids = world.launch(2).await;
    let config = world.config(&store, &["reconcile_interval: 3s"]);
    let mut trailsync = Trailsync::sync(&config);
    wait_rows(
        &trailsync,
        &store,
        &ids,
        "the full sync writes the instances",
    )
    .await;

    // Changes no event announces: a row for an instance gone from AWS, a tag added in AWS.
    store
        .insert_stale_instance(SOURCE, DEFAULT_ACCOUNT, REGION, "i-0deadbeef00000002")
        .await;
    ec2::create_tags(&world.ec2, &[ids[0].as_str()], &[("owner", "ops")])
        .await
        .expect("tag");
    trailsync
        .eventually(
            "reconciliation removes the stale row and picks up the tag",
            || async {
                let rows = store.instances().await;
                let ready = rows.len() == 2
                    && rows
                        .iter()
                        .any(|r| r.instance_id == ids[0] && r.tags["owner"] == "ops");
                ready.then_some(())
            },
        )
        .await;
    let log = stop(&mut trailsync).await;
    assert!(
        summary_counter(&log, "reconciliations").is_some_and(|n| n >= 1),
        "{log}"
    );
}

/// SPEC 6: `kill -9` at any moment loses no change. The process is killed as soon as it has
/// committed something, while records are still queued; the next run resumes from the
/// checkpoints and the inventory ends equal to moto's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_change() {
    let store = Store::sqlite();
    let world = World::new().await;
    let config = world.config(
        &store,
        &[
            "full_sync: false",
            "start_position: trim_horizon",
            "reconcile_interval: \"0\"",
            "coalesce_window: 100ms",
        ],
    );
    let first = world.launch(12).await;
    let placed_first = world.spread(&launches(&first)).await;
    let mut trailsync = Trailsync::sync(&config);
    trailsync
        .eventually("something is committed", || async {
            (!store.instances().await.is_empty()).then_some(())
        })
        .await;
    trailsync.kill().await;

    let more = world.launch(4).await;
    let placed_more = world.spread(&launches(&more)).await;
    let mut trailsync = Trailsync::sync(&config);
    let all: Vec<String> = first.iter().chain(&more).cloned().collect();
    wait_rows(
        &trailsync,
        &store,
        &all,
        "the restarted run applies every change",
    )
    .await;
    let placed: Vec<Placement> = placed_first.into_iter().chain(placed_more).collect();
    wait_checkpointed(&trailsync, &store, &placed).await;
    stop(&mut trailsync).await;
    assert_eq!(
        store.instances().await.len(),
        all.len(),
        "the inventory is moto's state"
    );
}
