//! The README's demo: moto, a few EC2 instances, `trailsync sync` into SQLite, then changes
//! announced by CloudTrail-shaped events through CloudWatch Logs into Kinesis, with the inventory
//! printed after each.
//!
//! Run through `scripts/demo.sh`, which builds `trailsync` and sets up moto first.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let dir = PathBuf::from(std::env::var("TRAILSYNC_DEMO_DIR").unwrap_or_else(|_| "demo".into()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("inventory.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }

    step("Starting moto and seeding three EC2 instances");
    let moto = Moto::start().await?;
    let aws = moto.sdk_config(REGION);
    let client = aws_sdk_ec2::Client::new(&aws);
    let seeded = ec2::run_instances(&client, 3, &[("team", "web")]).await?;
    let pipe = CloudTrailPipe::create(&aws, "cloudtrail", 1).await?;
    println!("moto at {}, stream {}", moto.endpoint(), pipe.stream_arn());

    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        demo_config(&moto.endpoint(), pipe.stream_arn(), &db),
    )?;
    step(&format!(
        "Running `trailsync sync {}` (log: {})",
        config.display(),
        dir.join("trailsync.log").display()
    ));
    let mut trailsync = tokio::process::Command::new(trailsync_bin()?)
        .arg("sync")
        .arg(&config)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("trailsync.log"))?)
        .kill_on_drop(true)
        .spawn()?;

    wait_for(&db, "the full sync", |rows| rows.len() == 3).await?;
    show(&db)?;

    step("Launching two instances; CloudTrail says RunInstances");
    let launched = ec2::run_instances(&client, 2, &[("team", "batch")]).await?;
    let ids: Vec<&str> = launched.iter().map(String::as_str).collect();
    pipe.send(&[cloudtrail::run_instances(DEFAULT_ACCOUNT, REGION, &ids)])
        .await?;
    wait_for(&db, "RunInstances", |rows| rows.len() == 5).await?;
    show(&db)?;

    let first = seeded[0].as_str();
    step(&format!(
        "Re-tagging {first} team=platform; CloudTrail says CreateTags"
    ));
    ec2::create_tags(&client, &[first], &[("team", "platform")]).await?;
    pipe.send(&[cloudtrail::create_tags(
        DEFAULT_ACCOUNT,
        REGION,
        &[first],
        &[("team", "platform")],
    )])
    .await?;
    wait_for(&db, "CreateTags", |rows| {
        rows.iter().any(|r| r.id == first && r.team == "platform")
    })
    .await?;
    show(&db)?;

    let second = seeded[1].as_str();
    step(&format!("Stopping {second}; CloudTrail says StopInstances"));
    ec2::stop(&client, &[second]).await?;
    pipe.send(&[cloudtrail::stop_instances(
        DEFAULT_ACCOUNT,
        REGION,
        &[second],
    )])
    .await?;
    wait_for(&db, "StopInstances", |rows| {
        rows.iter().any(|r| r.id == second && r.state == "stopped")
    })
    .await?;
    show(&db)?;

    let third = seeded[2].as_str();
    step(&format!(
        "Terminating {third}; CloudTrail says TerminateInstances"
    ));
    ec2::terminate(&client, &[third]).await?;
    pipe.send(&[cloudtrail::terminate_instances(
        DEFAULT_ACCOUNT,
        REGION,
        &[third],
    )])
    .await?;
    wait_for(&db, "TerminateInstances", |rows| {
        rows.iter()
            .any(|r| r.id == third && r.state == "terminated")
    })
    .await?;
    show(&db)?;

    step("Stopping trailsync with SIGTERM");
    if let Some(pid) = trailsync.id() {
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
    }
    let status = tokio::time::timeout(Duration::from_secs(10), trailsync.wait()).await??;
    println!("trailsync exited with {status}");
    let conn = rusqlite::Connection::open(&db)?;
    let (shard, seq): (String, String) = conn.query_row(
        "SELECT shard_id, sequence_number FROM _trailsync_checkpoints",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    println!("checkpoint committed: {shard} at sequence {seq}");

    step(&format!(
        "What changed, who did it, and how: `trailsync history {}`",
        config.display()
    ));
    let history = std::process::Command::new(trailsync_bin()?)
        .args(["history", "--since", "1h"])
        .arg(&config)
        .output()?;
    print!("{}", String::from_utf8_lossy(&history.stdout));
    if !history.status.success() {
        return Err(format!(
            "trailsync history failed: {}",
            String::from_utf8_lossy(&history.stderr)
        )
        .into());
    }
    println!(
        "\nThe inventory is in {}; the next `trailsync sync` resumes from the checkpoint.",
        db.display()
    );
    if !status.success() {
        return Err(format!("trailsync exited with {status}").into());
    }
    Ok(())
}

fn demo_config(endpoint: &str, stream_arn: &str, db: &Path) -> String {
    format!(
        r#"kind: source
spec:
  name: aws-demo
  path: cloudquery/aws
  tables: ["aws_ec2_instances"]
  destinations: ["sqlite"]
  spec:
    regions: ["{REGION}"]
    endpoint_url: {endpoint}
    event_based_sync:
      kinesis_stream_arn: {stream_arn}
---
kind: destination
spec:
  name: sqlite
  path: cloudquery/sqlite
  write_mode: overwrite-delete-stale
  spec:
    connection_string: "{db}"
"#,
        db = db.display()
    )
}

/// `trailsync` next to this program, unless TRAILSYNC_BIN says otherwise.
fn trailsync_bin() -> Result<PathBuf> {
    if let Ok(bin) = std::env::var("TRAILSYNC_BIN") {
        return Ok(bin.into());
    }
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("trailsync");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build it with `cargo build -p trailsync`",
            bin.display()
        )
        .into())
    }
}

struct Row {
    id: String,
    state: String,
    team: String,
}

fn rows(db: &Path) -> Vec<Row> {
    let query = || -> rusqlite::Result<Vec<Row>> {
        let conn = rusqlite::Connection::open(db)?;
        let mut stmt = conn.prepare(
            "SELECT instance_id, json_extract(state, '$.Name'), COALESCE(json_extract(tags, '$.team'), '') \
             FROM aws_ec2_instances ORDER BY launch_time, instance_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Row {
                id: r.get(0)?,
                state: r.get(1)?,
                team: r.get(2)?,
            })
        })?;
        rows.collect()
    };
    query().unwrap_or_default()
}

async fn wait_for(db: &Path, what: &str, done: impl Fn(&[Row]) -> bool) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if done(&rows(db)) {
            println!(
                "(applied {:.1}s after the change)",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("the inventory did not reflect {what} within 60 s; see the trailsync log").into())
}

fn show(db: &Path) -> Result<()> {
    println!("  {:<21} {:<12} team", "instance_id", "state");
    for row in rows(db) {
        println!("  {:<21} {:<12} {}", row.id, row.state, row.team);
    }
    Ok(())
}

fn step(what: &str) {
    println!("\n== {what}");
}
