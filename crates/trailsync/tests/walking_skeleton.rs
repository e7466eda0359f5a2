//! End to end, against moto and the real destinations: full sync of EC2 instances, then
//! CloudTrail-shaped events delivered CloudWatch Logs -> subscription filter -> Kinesis change
//! the inventory; SIGTERM stops the process cleanly with the checkpoint committed.

#[macro_use]
mod common;

use common::{Store, StreamingSource, Trailsync};
use serde_json::json;
use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";
const HOSTILE: &str = "'); DROP TABLE x; --";
const NON_ASCII: &str = "naïve 日本語 🚀";

mod follows_instances_through_the_stream {
    in_both_destinations!(super::walking_skeleton);
}

async fn walking_skeleton(store: &Store) {
    let moto = Moto::start().await.expect("moto starts");
    let aws = moto.sdk_config(REGION);
    let client = aws_sdk_ec2::Client::new(&aws);
    let seeded = ec2::run_instances(
        &client,
        3,
        &[("team", "core"), ("note", HOSTILE), ("label", NON_ASCII)],
    )
    .await
    .expect("seed instances");
    let pipe = CloudTrailPipe::create(&aws, "cloudtrail", 1)
        .await
        .expect("pipe");

    let config = StreamingSource {
        name: "aws-demo",
        tables: &["aws_ec2_instances"],
        skip_tables: &[],
        region: REGION,
        endpoint: &moto.endpoint(),
        stream_arn: pipe.stream_arn(),
        stream_options: &[],
    }
    .config(&[("inventory", store)]);
    let mut trailsync = Trailsync::sync(&config);

    // Full sync: every seeded instance, tags unchanged byte for byte.
    let rows = trailsync
        .eventually("full sync writes the seeded instances", || async {
            let rows = store.instances().await;
            (rows.len() == 3).then_some(rows)
        })
        .await;
    for row in &rows {
        assert!(seeded.contains(&row.instance_id));
        assert_eq!(row.account_id, DEFAULT_ACCOUNT);
        assert_eq!(row.region, REGION);
        assert_eq!(
            row.tags,
            json!({"team": "core", "note": HOSTILE, "label": NON_ASCII})
        );
        assert_eq!(
            row.arn,
            format!(
                "arn:aws:ec2:{REGION}:{DEFAULT_ACCOUNT}:instance/{}",
                row.instance_id
            )
        );
    }

    // Changes made in AWS, each announced by its CloudTrail event through the real delivery path.
    let launched = ec2::run_instances(&client, 2, &[("team", "new")])
        .await
        .expect("launch");
    let launched_refs: Vec<&str> = launched.iter().map(String::as_str).collect();
    let tagged = seeded[0].as_str();
    let terminated = seeded[1].as_str();
    ec2::create_tags(&client, &[tagged], &[("team", "platform")])
        .await
        .expect("tag");
    ec2::terminate(&client, &[terminated])
        .await
        .expect("terminate");
    pipe.send(&[
        cloudtrail::run_instances(DEFAULT_ACCOUNT, REGION, &launched_refs),
        cloudtrail::create_tags(DEFAULT_ACCOUNT, REGION, &[tagged], &[("team", "platform")]),
        cloudtrail::terminate_instances(DEFAULT_ACCOUNT, REGION, &[terminated]),
    ])
    .await
    .expect("events delivered");

    let rows = trailsync
        .eventually("events change the inventory", || async {
            let rows = store.instances().await;
            let by_id = |id: &str| rows.iter().find(|r| r.instance_id == id).cloned();
            let ready = rows.len() == 5
                && by_id(tagged).is_some_and(|r| r.tags["team"] == "platform")
                && by_id(terminated).is_some_and(|r| r.state["Name"] == "terminated");
            ready.then_some(rows)
        })
        .await;
    for id in &launched {
        let row = rows
            .iter()
            .find(|r| &r.instance_id == id)
            .expect("launched instance row");
        assert_eq!(row.tags, json!({"team": "new"}));
    }
    let tagged_row = rows
        .iter()
        .find(|r| r.instance_id == tagged)
        .expect("tagged row");
    assert_eq!(tagged_row.tags["note"], HOSTILE, "other tags untouched");
    assert_eq!(tagged_row.tags["label"], NON_ASCII);

    // SIGTERM: finish the batch, commit, exit 0; the checkpoint is in the destination.
    let status = trailsync.terminate().await;
    assert!(
        status.success(),
        "trailsync exits 0 on SIGTERM: {status}\n{}",
        trailsync.log()
    );
    let checkpoints = store.checkpoints().await;
    assert_eq!(
        checkpoints.len(),
        1,
        "one shard, one checkpoint: {checkpoints:?}"
    );
    assert_eq!(checkpoints[0].0, pipe.stream_arn());
}
