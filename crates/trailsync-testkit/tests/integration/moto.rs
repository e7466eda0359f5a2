use std::net::{TcpListener, TcpStream};

use trailsync_testkit::{DEFAULT_ACCOUNT, Moto, TestkitError, ec2};

#[tokio::test]
async fn moto_starts_answers_and_frees_its_port_on_drop() {
    let moto = Moto::start().await.expect("moto starts");
    let port = moto.port();
    assert_eq!(moto.endpoint(), format!("http://127.0.0.1:{port}"));
    let log = moto.log_path().to_path_buf();
    assert!(log.is_file(), "moto log at {}", log.display());

    let sts = aws_sdk_sts::Client::new(&moto.sdk_config("us-east-1"));
    let me = sts
        .get_caller_identity()
        .send()
        .await
        .expect("moto answers STS");
    assert_eq!(me.account(), Some(DEFAULT_ACCOUNT));

    drop(moto);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port} after drop"
    );
    TcpListener::bind(("127.0.0.1", port)).expect("the port can be bound again after drop");
    assert!(
        !log.exists(),
        "the log of a cleanly dropped moto is removed"
    );
}

#[tokio::test]
async fn missing_or_broken_moto_server_is_a_loud_error() {
    let err = Moto::start_with_server("/nonexistent/moto_server")
        .await
        .expect_err("no such server");
    assert!(matches!(err, TestkitError::MotoNotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/moto_server") && text.contains("scripts/setup-moto.sh"),
        "{text}"
    );

    // A server that dies at start-up is reported with its exit status and log, not a timeout.
    let err = Moto::start_with_server("/bin/false")
        .await
        .expect_err("exits at once");
    match err {
        TestkitError::MotoExited { status, log, .. } => {
            assert!(!status.success());
            assert!(log.is_file(), "log kept at {}", log.display());
            let _ = std::fs::remove_file(log);
        }
        other => panic!("expected MotoExited, got {other}"),
    }
}

#[tokio::test]
async fn reset_forgets_resources() {
    let moto = Moto::start().await.expect("moto starts");
    let client = aws_sdk_ec2::Client::new(&moto.sdk_config("us-east-1"));
    ec2::run_instances(&client, 2, &[])
        .await
        .expect("instances launched");
    assert_eq!(count_instances(&client).await, 2);

    moto.reset().await.expect("reset");
    assert_eq!(count_instances(&client).await, 0);
}

#[tokio::test]
async fn seeding_helpers_drive_instance_state() {
    let moto = Moto::start().await.expect("moto starts");
    let client = aws_sdk_ec2::Client::new(&moto.sdk_config("eu-west-1"));
    let ids = ec2::run_instances(&client, 2, &[("Name", "web"), ("team", "core")])
        .await
        .expect("instances launched");
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| id.starts_with("i-")), "{ids:?}");
    let (a, b) = (ids[0].as_str(), ids[1].as_str());

    ec2::create_tags(&client, &[a], &[("env", "prod")])
        .await
        .expect("tagged");
    ec2::delete_tags(&client, &[a], &["team"])
        .await
        .expect("untagged");
    ec2::stop(&client, &[a]).await.expect("stopped");
    ec2::terminate(&client, &[b]).await.expect("terminated");

    let out = client
        .describe_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .expect("describe");
    let instances: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    let find = |id: &str| {
        instances
            .iter()
            .find(|i| i.instance_id() == Some(id))
            .unwrap_or_else(|| panic!("{id} described"))
    };
    let state = |id: &str| {
        find(id)
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_owned())
    };
    let mut tags: Vec<(String, String)> = find(a)
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [("Name".into(), "web".into()), ("env".into(), "prod".into())]
    );
    // moto skips the transitional states, and a terminated instance is still described (no NotFound).
    assert_eq!(state(a).as_deref(), Some("stopped"));
    assert_eq!(state(b).as_deref(), Some("terminated"));
}

#[tokio::test]
async fn recorder_counts_api_calls_per_account() {
    let moto = Moto::start().await.expect("moto starts");
    let other = "210987654321";
    let default_ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config("us-east-1"));
    let other_ec2 = aws_sdk_ec2::Client::new(
        &moto
            .sdk_config_for_account("us-east-1", other)
            .await
            .expect("assumed role"),
    );

    moto.start_recording().await.expect("recording");
    default_ec2
        .describe_instances()
        .send()
        .await
        .expect("describe");
    other_ec2
        .describe_vpcs()
        .send()
        .await
        .expect("describe vpcs");
    moto.stop_recording().await.expect("stopped recording");
    default_ec2
        .describe_instances()
        .send()
        .await
        .expect("unrecorded");

    let calls = moto.recorded_calls().await.expect("recording readable");
    let seen: Vec<_> = calls
        .iter()
        .map(|c| {
            (
                c.service.as_str(),
                c.operation.as_str(),
                c.account_id.as_deref(),
                c.attempt,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("ec2", "DescribeInstances", Some(DEFAULT_ACCOUNT), 1),
            ("ec2", "DescribeVpcs", Some(other), 1),
        ]
    );
    assert!(calls.iter().all(|c| c.region == "us-east-1"));

    moto.start_recording()
        .await
        .expect("recording restarts empty");
    assert_eq!(moto.recorded_calls().await.expect("readable"), []);
}

async fn count_instances(client: &aws_sdk_ec2::Client) -> usize {
    client
        .describe_instances()
        .send()
        .await
        .expect("describe")
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum()
}
