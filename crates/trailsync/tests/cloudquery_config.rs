//! A CloudQuery user's config runs unchanged: account ids are aliases (rows carry the number
//! STS gives), per-account regions and `default_region`, CloudQuery's retry settings, and
//! `aws_debug` logging each AWS request; fields without effect here are warned about, once each.

mod common;

use common::{Store, Trailsync};
use trailsync_testkit::{DEFAULT_ACCOUNT, Moto, ec2};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudquery_config_runs_unchanged_against_moto() {
    let moto = Moto::start().await.expect("moto starts");
    let home = aws_sdk_ec2::Client::new(&moto.sdk_config("eu-west-1"));
    let ids = ec2::run_instances(&home, 2, &[("team", "core")])
        .await
        .expect("launch");
    let store = Store::sqlite();
    let config = format!(
        r#"kind: source
spec:
  name: aws
  path: cloudquery/aws
  registry: cloudquery
  version: "v22.19.2"
  tables: ["aws_ec2_instances", "aws_s3_buckets"]
  destinations: ["sqlite"]
  spec:
    regions: ["us-east-1"]
    accounts:
      - id: "prod"
        account_name: production
        default_region: eu-west-1
        regions: ["eu-west-1"]
    custom_endpoint_url: {endpoint}
    custom_endpoint_hostname_immutable: true
    custom_endpoint_partition_id: "aws"
    custom_endpoint_signing_region: "eu-west-1"
    max_retries: 3
    max_backoff: 5
    initialization_concurrency: 2
    use_paid_apis: false
    aws_debug: true
---
{destination}"#,
        endpoint = moto.endpoint(),
        destination = store.destination_yaml("sqlite"),
    );
    let mut trailsync = Trailsync::sync(&config);
    let status = trailsync
        .exit_within(std::time::Duration::from_secs(60))
        .await;
    let log = trailsync.log();
    assert!(status.success(), "a one-shot sync exits 0\n{log}");

    let rows = store.instances().await;
    let synced: Vec<&str> = rows.iter().map(|r| r.instance_id.as_str()).collect();
    assert_eq!(synced.len(), 2, "{log}");
    for id in &ids {
        assert!(synced.contains(&id.as_str()));
    }
    for row in &rows {
        assert_eq!(
            row.account_id, DEFAULT_ACCOUNT,
            "the number STS gives, not the alias"
        );
        assert_eq!(row.region, "eu-west-1", "the account's own regions");
    }
    assert!(
        log.contains("account ready") && log.contains("alias=production"),
        "{log}"
    );
    // aws_debug: every request logged with its operation and answer, never its headers.
    assert!(
        log.lines().any(|l| l.contains("aws request")
            && l.contains("operation=\"DescribeInstances\"")
            && l.contains("status=200")),
        "{log}"
    );
    assert!(log.contains("operation=\"GetCallerIdentity\""), "{log}");
    assert!(!log.to_ascii_lowercase().contains("authorization"), "{log}");
    for warned in [
        "custom_endpoint_partition_id: accepted for CloudQuery compatibility, but has no effect",
        "use_paid_apis: accepted for CloudQuery compatibility, but has no effect",
        "\"aws_s3_buckets\" matches no table trailsync syncs; passed over",
    ] {
        assert_eq!(log.matches(warned).count(), 1, "{warned}\n{log}");
    }
}
