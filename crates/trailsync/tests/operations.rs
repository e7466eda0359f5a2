//! What an operator watches, against the real parts: `sync --metrics-addr` serves Prometheus
//! metrics whose counters move while events stream from moto, `/healthz`, and `/readyz`, which
//! turns 503 when the destination (a private PostgreSQL server) goes away and 200 when it is
//! back; `--log-format json` writes one JSON object per log line.

#[macro_use]
mod common;

use std::time::Duration;

use aws_sdk_ec2::Client;
use common::{Store, StreamingSource, Trailsync};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";

/// `GET path` over a fresh connection: (status, body); `None` when nothing listens.
async fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// The value of the sample `name{labels...}` whose label text contains every `part`.
fn sample(metrics: &str, name: &str, parts: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A free loopback port (released at once: a small race, fine on a test machine).
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_and_readiness_follows_the_destination() {
    let store = Store::server().await;
    let moto = Moto::start().await.expect("moto starts");
    let aws = moto.sdk_config(REGION);
    let client = Client::new(&aws);
    let instances = ec2::run_instances(&client, 3, &[]).await.expect("launch");
    let pipe = CloudTrailPipe::create(&aws, "cloudtrail", 2)
        .await
        .expect("pipe");
    let config = StreamingSource {
        name: "aws-ops",
        tables: &["aws_ec2_instances"],
        skip_tables: &[],
        region: REGION,
        endpoint: &moto.endpoint(),
        stream_arn: pipe.stream_arn(),
        stream_options: &["reconcile_interval: \"0\""],
    }
    .config(&[("inventory", &store)]);
    let addr = free_addr();
    let trailsync = Trailsync::start(
        &[
            "--log-format",
            "json",
            "sync",
            "--metrics-addr",
            &addr,
            "--ready-stall",
            "30s",
        ],
        &config,
    );

    trailsync
        .eventually("/readyz says ready after the full sync", || async {
            get(&addr, "/readyz").await.filter(|(s, _)| *s == 200)
        })
        .await;
    assert_eq!(
        get(&addr, "/healthz").await.map(|(s, _)| s),
        Some(200),
        "live"
    );

    let ids: Vec<&str> = instances.iter().map(String::as_str).collect();
    ec2::create_tags(&client, &ids, &[("stage", "metrics")])
        .await
        .expect("tag");
    pipe.send(&[
        cloudtrail::create_tags(DEFAULT_ACCOUNT, REGION, &ids, &[("stage", "metrics")]),
        cloudtrail::event(
            cloudtrail::EC2,
            "DescribeInstances",
            DEFAULT_ACCOUNT,
            REGION,
            serde_json::json!({}),
            serde_json::Value::Null,
        ),
    ])
    .await
    .expect("events delivered");
    let metrics = trailsync
        .eventually("the counters count the events", || async {
            let (_, body) = get(&addr, "/metrics").await?;
            let applied = sample(&body, "trailsync_events_applied_total", &["aws-ops"])?;
            (applied >= 1.0).then_some(body)
        })
        .await;
    assert!(
        sample(&metrics, "trailsync_events_total", &["source=\"aws-ops\""])
            .is_some_and(|n| n >= 2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "trailsync_passed_total", &["reason=\"readOnly\""]),
        Some(1.0),
        "the read-only event is passed over, by reason\n{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "trailsync_aws_calls_total",
            &["service=\"ec2\"", "operation=\"DescribeInstances\""]
        )
        .is_some_and(|n| n >= 2.0),
        "full sync and fetch\n{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "trailsync_fetches_total",
            &["table=\"aws_ec2_instances\"", "outcome=\"ok\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "trailsync_write_seconds_count", &["aws-ops"]).is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    for shard in pipe.shards().await.expect("shards") {
        let label = format!("shard=\"{}\"", shard.shard_id());
        assert!(
            sample(&metrics, "trailsync_shard_millis_behind_latest", &[&label]).is_some(),
            "{label}\n{metrics}"
        );
    }
    assert!(
        metrics.contains("trailsync_shard_checkpoint_age_seconds{"),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "trailsync_full_sync_done", &["aws-ops"]),
        Some(1.0)
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "OpenMetrics text");

    // The destination goes away: not ready, saying why; back: ready again.
    let Store::Server(server) = &store else {
        unreachable!("a private server")
    };
    server.stop().await.expect("stop the server");
    let (_, why) = trailsync
        .eventually("/readyz says not ready without the destination", || async {
            get(&addr, "/readyz").await.filter(|(s, _)| *s == 503)
        })
        .await;
    assert!(why.contains("destination"), "{why}");
    assert_eq!(
        get(&addr, "/healthz").await.map(|(s, _)| s),
        Some(200),
        "still live"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.start_again().await.expect("start the server again");
    trailsync
        .eventually("/readyz says ready with the destination back", || async {
            get(&addr, "/readyz").await.filter(|(s, _)| *s == 200)
        })
        .await;

    let log = trailsync.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            parsed["level"].is_string() && parsed["timestamp"].is_string(),
            "{line}"
        );
    }
}
