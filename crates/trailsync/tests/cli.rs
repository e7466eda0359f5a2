//! The command-line contract of SPEC section 2: exit codes, output formats, generated docs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trailsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailsync"))
        .args(args)
        .output()
        .expect("trailsync runs")
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// `../shared/PATH`, or `None` (the test is skipped) in a clone without it.
fn shared(path: &str) -> Option<PathBuf> {
    trailsync_catalog::testing::shared(path)
}

#[test]
fn validate_reports_every_mistake_with_file_and_field_and_exits_2() {
    let dir = fixture("invalid");
    let out = trailsync(&["validate", dir.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = [
        ("sources.yml", "tables[1]", "aws_ec2_instanses"),
        ("sources.yml", "destinations[1]", "warehouse"),
        (
            "sources.yml",
            "kinesis_stream_arn",
            "not a Kinesis stream ARN",
        ),
        ("sources.yml", "name", "aws"),
        ("sources.yml", "regoins", "unknown field"),
    ];
    for (file, field, words) in expected {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(file) && l.contains(field) && l.contains(words)),
            "no line names {file}, {field} and {words:?}:\n{stderr}"
        );
    }
    assert!(stderr.contains("5 problem(s) found"), "{stderr}");
}

#[test]
fn validate_accepts_a_good_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("ok.yml");
    std::fs::write(
        &config,
        "kind: source\nspec:\n  name: aws\n  path: cloudquery/aws\n  tables: [\"aws_ec2_*\"]\n  destinations: [\"sqlite\"]\n---\nkind: destination\nspec:\n  name: sqlite\n  path: cloudquery/sqlite\n  spec:\n    connection_string: ./x.db\n",
    )
    .expect("write config");
    let out = trailsync(&["validate", config.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(trailsync(&["sync"]).status.code(), Some(2));
    assert_eq!(trailsync(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn tables_lists_the_catalog_in_every_format() {
    let text = String::from_utf8(trailsync(&["tables"]).stdout).expect("utf-8");
    assert!(
        text.contains("aws_ec2_instances\n  primary key: arn"),
        "{text}"
    );
    assert!(
        text.contains("ec2.amazonaws.com RunInstances (upsert)"),
        "{text}"
    );

    let json: serde_json::Value =
        serde_json::from_slice(&trailsync(&["tables", "--format", "json"]).stdout).expect("json");
    let instances = json
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "aws_ec2_instances"))
        .expect("instances table");
    assert_eq!(instances["primary_key"], serde_json::json!(["arn"]));
    let columns = instances["columns"].as_array().expect("columns");
    assert_eq!(columns[0]["name"], "_cq_sync_time");
    assert!(
        columns
            .iter()
            .any(|c| c["name"] == "tags" && c["type"] == "jsonb")
    );
    assert!(
        instances["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["name"] == "TerminateInstances" && e["action"] == "delete")
    );
}

/// docs/TABLES.md is `trailsync tables --format markdown`; regenerate it when this fails:
/// `cargo run -p trailsync -- tables --format markdown > docs/TABLES.md`.
#[test]
fn tables_doc_is_current() {
    let generated =
        String::from_utf8(trailsync(&["tables", "--format", "markdown"]).stdout).expect("utf-8");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/TABLES.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/TABLES.md is stale: run `cargo run -p trailsync -- tables --format markdown > docs/TABLES.md`"
    );
}

#[test]
fn explain_reads_a_real_cloudtrail_event() {
    let Some(event) = shared("fixtures/cloudtrail/events/ec2/TerminateInstances.json") else {
        return;
    };
    let out = trailsync(&[
        "explain",
        event.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(line["event_name"], "TerminateInstances");
    assert_eq!(line["ignored"], false);
    let resources = line["resources"].as_array().expect("resources");
    assert!(!resources.is_empty());
    assert!(
        resources
            .iter()
            .all(|r| r["table"] == "aws_ec2_instances" && r["action"] == "delete")
    );
}

/// The binary's own output, at debug level, for a config whose PostgreSQL password, external ids
/// and `${file:}` contents are sentinels: `validate` (with a mistake beside them) and a `sync`
/// that fails to connect print none of them.
#[test]
fn secrets_never_reach_stderr() {
    const PASSWORD: &str = "sentinel-pw-55e1";
    const EXTERNAL_ID: &str = "sentinel-ext-0b7d";
    const FILE_SECRET: &str = "sentinel-file-9a2c";
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("id.txt"), FILE_SECRET).expect("secret file");
    let config = |extra: &str| {
        format!(
            "kind: source\nspec:\n  name: aws\n  path: cloudquery/aws\n  tables: ['aws_ec2_instances']\n  destinations: [pg]\n  spec:\n    regions: [us-east-1]\n{extra}    accounts:\n      - id: prod\n        role_arn: arn:aws:iam::111122223333:role/reader\n        external_id: {EXTERNAL_ID}\n      - id: other\n        role_arn: arn:aws:iam::444455556666:role/reader\n        external_id: ${{file:id.txt}}\n---\nkind: destination\nspec:\n  name: pg\n  path: cloudquery/postgresql\n  spec:\n    connection_string: postgres://trailsync:{PASSWORD}@127.0.0.1:1/test?sslmode=disable\n"
        )
    };
    let clean = |what: &str, out: &std::process::Output| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in [PASSWORD, EXTERNAL_ID, FILE_SECRET] {
            assert!(!text.contains(secret), "{what} printed {secret}:\n{text}");
        }
        text
    };
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, config("    regoins: [eu-west-1]\n")).expect("config");
    let out = trailsync(&["-vv", "validate", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let text = clean("validate", &out);
    assert!(text.contains("regoins"), "{text}");

    let good = dir.path().join("good.yml");
    std::fs::write(&good, config("")).expect("config");
    let out = trailsync(&["-vv", "sync", good.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = clean("sync", &out);
    assert!(
        text.contains("destination pg: cannot connect to postgresql"),
        "the failure is said: {text}"
    );
}
