//! The change history end to end, through moto and both destinations: an ingress rule opened
//! to the world, an instance tagged, then terminated, a security group deleted — one
//! `trailsync_changes` row each, with the right action, the changed columns' old and new values
//! and the event's principal, source address and id; a re-fetch that finds nothing new adds no
//! row; a burst of 20 events on one resource, read together and coalesced into one fetch, is
//! one row listing all 20 event ids. `trailsync history` prints the timeline.

#[macro_use]
mod common;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange};
use common::{Store, StreamingSource, Trailsync};
use serde_json::{Value as Json, json};
use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";
/// The address of the test kit's events.
const SOURCE_IP: &str = "203.0.113.10";

mod records_who_changed_what {
    in_both_destinations!(super::record_history);
}

/// One `trailsync_changes` row as the test reads it.
#[derive(Debug)]
struct Change {
    action: String,
    changes: Json,
    events: Json,
    cause: String,
    principal: Option<String>,
    source_ip: Option<String>,
}

async fn changes_of(store: &Store, id: &str) -> Vec<Change> {
    store
        .texts(&format!(
            "SELECT action, CAST(changes AS TEXT), CAST(events AS TEXT), cause, principal_arn, source_ip \
             FROM trailsync_changes WHERE resource_id = '{id}' ORDER BY changed_at"
        ))
        .await
        .into_iter()
        .map(|row| {
            let json = |i: usize| {
                row[i]
                    .as_deref()
                    .map_or(Json::Null, |t| serde_json::from_str(t).expect("JSON"))
            };
            Change {
                action: row[0].clone().unwrap_or_default(),
                changes: json(1),
                events: json(2),
                cause: row[3].clone().unwrap_or_default(),
                principal: row[4].clone(),
                source_ip: row[5].clone(),
            }
        })
        .collect()
}

fn event_ids(change: &Change) -> Vec<String> {
    change
        .events
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["event_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn sync_time(rows: Vec<Vec<Option<String>>>) -> Option<String> {
    rows.into_iter().next().and_then(|r| r[0].clone())
}

async fn record_history(store: &Store) {
    // The principal of the test kit's events.
    let principal = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/trailsync-test");
    let moto = Moto::start().await.expect("moto starts");
    let aws = moto.sdk_config(REGION);
    let client = Client::new(&aws);
    let group = client
        .create_security_group()
        .group_name("web")
        .description("web servers")
        .send()
        .await
        .expect("create group")
        .group_id()
        .expect("group id")
        .to_string();
    let doomed = client
        .create_security_group()
        .group_name("doomed")
        .description("deleted later")
        .send()
        .await
        .expect("create group")
        .group_id()
        .expect("group id")
        .to_string();
    let instance = ec2::run_instances(&client, 1, &[])
        .await
        .expect("launch")
        .remove(0);
    let pipe = CloudTrailPipe::create(&aws, "cloudtrail", 1)
        .await
        .expect("pipe");
    let config = StreamingSource {
        name: "aws-history",
        tables: &["aws_ec2_security_groups", "aws_ec2_instances"],
        skip_tables: &[],
        region: REGION,
        endpoint: &moto.endpoint(),
        stream_arn: pipe.stream_arn(),
        stream_options: &["reconcile_interval: \"0\""],
    }
    .config(&[("inventory", store)]);
    let mut trailsync = Trailsync::sync(&config);
    trailsync
        .eventually("the full sync records each resource as created", || async {
            let created = changes_of(store, &instance).await;
            (created.len() == 1).then_some(created)
        })
        .await;
    let full_sync = changes_of(store, &group).await;
    assert_eq!(full_sync.len(), 1);
    assert_eq!(
        (full_sync[0].action.as_str(), full_sync[0].cause.as_str()),
        ("created", "full_sync")
    );

    // Port 22 opened to the world.
    client
        .authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("authorize 22");
    let opened = ec2_event(
        "AuthorizeSecurityGroupIngress",
        json!({
            "groupId": group,
            "ipPermissions": { "items": [{
                "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "ipRanges": { "items": [{ "cidrIp": "0.0.0.0/0" }] },
            }] },
        }),
    );
    pipe.send(std::slice::from_ref(&opened))
        .await
        .expect("event delivered");
    let changes = trailsync
        .eventually("the opened port is recorded", || async {
            let changes = changes_of(store, &group).await;
            (changes.len() == 2).then_some(changes)
        })
        .await;
    let update = &changes[1];
    assert_eq!(
        (update.action.as_str(), update.cause.as_str()),
        ("updated", "event")
    );
    let permissions = &update.changes["ip_permissions"];
    assert_eq!(permissions["old"], json!([]), "{update:#?}");
    assert_eq!(permissions["new"][0]["FromPort"], 22);
    assert_eq!(permissions["new"][0]["IpRanges"][0]["CidrIp"], "0.0.0.0/0");
    assert!(
        update.changes.get("_cq_sync_time").is_none(),
        "bookkeeping columns are never changes"
    );
    assert_eq!(update.principal.as_deref(), Some(principal.as_str()));
    assert_eq!(update.source_ip.as_deref(), Some(SOURCE_IP));
    assert_eq!(
        event_ids(update),
        [opened["eventID"].as_str().expect("event id")]
    );
    assert_eq!(
        update.events[0]["event_name"],
        "AuthorizeSecurityGroupIngress"
    );
    assert_eq!(update.events[0]["principal_type"], "IAMUser");
    assert_eq!(update.events[0]["access_key_id"], "AKIAQTRAILSYNCTESTKT");

    // The instance tagged.
    ec2::create_tags(&client, &[&instance], &[("owner", "alice")])
        .await
        .expect("tag");
    let tagged =
        cloudtrail::create_tags(DEFAULT_ACCOUNT, REGION, &[&instance], &[("owner", "alice")]);
    pipe.send(std::slice::from_ref(&tagged))
        .await
        .expect("event delivered");
    let changes = trailsync
        .eventually("the tag is recorded", || async {
            let changes = changes_of(store, &instance).await;
            (changes.len() == 2).then_some(changes)
        })
        .await;
    assert_eq!(changes[1].action, "updated");
    assert_eq!(changes[1].changes["tags"]["new"], json!({"owner": "alice"}));
    assert_eq!(
        event_ids(&changes[1]),
        [tagged["eventID"].as_str().expect("id")]
    );

    // The same tag announced again: the re-fetch finds nothing new and records nothing.
    let before = sync_time(
        store
            .texts(&format!(
                "SELECT CAST(_cq_sync_time AS TEXT) FROM aws_ec2_instances WHERE instance_id = '{instance}'"
            ))
            .await,
    );
    let again =
        cloudtrail::create_tags(DEFAULT_ACCOUNT, REGION, &[&instance], &[("owner", "alice")]);
    pipe.send(&[again]).await.expect("event delivered");
    trailsync
        .eventually("the instance is fetched again", || async {
            let now = sync_time(
                store
                    .texts(&format!(
                        "SELECT CAST(_cq_sync_time AS TEXT) FROM aws_ec2_instances WHERE instance_id = '{instance}'"
                    ))
                    .await,
            );
            (now != before).then_some(())
        })
        .await;
    assert_eq!(
        changes_of(store, &instance).await.len(),
        2,
        "a re-fetch with no change adds no row"
    );

    // Terminated (AWS keeps listing it, as terminated), and a group deleted.
    ec2::terminate(&client, &[&instance])
        .await
        .expect("terminate");
    client
        .delete_security_group()
        .group_id(&doomed)
        .send()
        .await
        .expect("delete group");
    let terminated = cloudtrail::terminate_instances(DEFAULT_ACCOUNT, REGION, &[&instance]);
    let deleted = ec2_event("DeleteSecurityGroup", json!({ "groupId": doomed }));
    pipe.send(&[terminated.clone(), deleted.clone()])
        .await
        .expect("events delivered");
    let (changes, gone) = trailsync
        .eventually("the termination and the deletion are recorded", || async {
            let changes = changes_of(store, &instance).await;
            let gone = changes_of(store, &doomed).await;
            (changes.len() == 3 && gone.len() == 2).then_some((changes, gone))
        })
        .await;
    let end = &changes[2];
    assert_eq!(end.action, "updated");
    assert_eq!(end.changes["state"]["old"]["Name"], "running");
    assert_eq!(end.changes["state"]["new"]["Name"], "terminated");
    assert_eq!(
        event_ids(end),
        [terminated["eventID"].as_str().expect("id")]
    );
    assert_eq!(gone[1].action, "deleted");
    assert_eq!(gone[1].changes["group_id"]["old"], doomed);
    assert_eq!(
        event_ids(&gone[1]),
        [deleted["eventID"].as_str().expect("id")]
    );

    // 20 tags, 20 events in one delivery: read together, fetched once, recorded once.
    let tags: Vec<(String, String)> = (0..20)
        .map(|i| (format!("k{i:02}"), format!("v{i}")))
        .collect();
    let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ec2::create_tags(&client, &[&group], &pairs)
        .await
        .expect("tag");
    let burst: Vec<Json> = pairs
        .iter()
        .map(|pair| cloudtrail::create_tags(DEFAULT_ACCOUNT, REGION, &[&group], &[*pair]))
        .collect();
    pipe.send(&burst).await.expect("events delivered");
    let changes = trailsync
        .eventually("the burst is recorded", || async {
            let changes = changes_of(store, &group).await;
            (changes.len() >= 3).then_some(changes)
        })
        .await;
    assert_eq!(changes.len(), 3, "one fetch, one change: {changes:#?}");
    let mut expected: Vec<String> = burst
        .iter()
        .map(|e| e["eventID"].as_str().expect("id").to_string())
        .collect();
    let mut recorded = event_ids(&changes[2]);
    expected.sort();
    recorded.sort();
    assert_eq!(recorded, expected);
    assert_eq!(changes[2].changes["tags"]["new"]["k19"], "v19");

    assert!(trailsync.terminate().await.success(), "{}", trailsync.log());

    // The timeline, as `trailsync history` prints it.
    let output = common::run(
        &[
            "history",
            "--table",
            "aws_ec2_security_groups",
            "--id",
            &group,
        ],
        &config,
    );
    let timeline = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(lines.len(), 3, "{timeline}");
    assert!(
        lines[0].contains("+k00=v0") && lines[0].contains("20 events"),
        "{timeline}"
    );
    assert!(
        lines[1].contains(&format!(
            "aws_ec2_security_groups {group}  updated  ip_permissions +tcp/22 0.0.0.0/0  by {principal} from {SOURCE_IP} (AuthorizeSecurityGroupIngress)"
        )),
        "{timeline}"
    );
    assert!(lines[2].ends_with("created  (full_sync)"), "{timeline}");
    let by_principal = common::run(
        &[
            "history",
            "--principal",
            &principal,
            "--since",
            "1h",
            "--format",
            "json",
        ],
        &config,
    );
    let listed: Json = serde_json::from_slice(&by_principal.stdout).expect("JSON");
    let listed = listed["changes"].as_array().expect("changes");
    assert_eq!(listed.len(), 5, "every change an event caused: {listed:#?}");
}

fn ec2_event(name: &str, request: Json) -> Json {
    cloudtrail::event(
        cloudtrail::EC2,
        name,
        DEFAULT_ACCOUNT,
        REGION,
        request,
        json!({ "requestId": "6a1f0b7e-0c9d-4d0e-9a51-4d3c2b1a0f99", "_return": true }),
    )
}
