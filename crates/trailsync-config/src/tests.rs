use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use trailsync_catalog::{Scope, Service, Table};
use trailsync_core::{DestinationKind, WriteMode};

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn env(name: &str) -> Option<String> {
    match name {
        "EXTERNAL_ID" => Some("ext-123".into()),
        "PG_URL" => Some("postgres://trailsync@127.0.0.1:5432/test".into()),
        "BATCH" => Some("250".into()),
        _ => None,
    }
}

fn load_fixtures(paths: &[&str]) -> Result<Config, Diagnostics> {
    let paths: Vec<PathBuf> = paths.iter().map(|p| fixtures().join(p)).collect();
    Loader::with_env(env).load(&paths)
}

/// A diagnostic as (file relative to the fixtures, document, line, path, message).
type Summary = (String, Option<usize>, Option<usize>, String, String);

fn summarize(diagnostics: &Diagnostics) -> Vec<Summary> {
    diagnostics
        .iter()
        .map(|d| {
            let file = d.file.strip_prefix(fixtures()).unwrap_or(&d.file);
            (
                file.display().to_string(),
                d.document,
                d.line,
                d.path.clone(),
                d.message.clone(),
            )
        })
        .collect()
}

fn stream(arn: &str) -> StreamArn {
    arn.parse().expect("valid stream ARN")
}

fn origin(file: &str, document: usize) -> Origin {
    Origin {
        file: fixtures().join(file),
        document,
    }
}

// ---- a good configuration ----------------------------------------------------------------------

#[test]
fn a_good_config_across_files_and_a_folder_loads_with_defaults() {
    let config = load_fixtures(&["good/sources.yml", "good/destinations.yml", "good/more"])
        .unwrap_or_else(|d| panic!("should load, got:\n{d}"));

    let expected = Config {
        sources: vec![
            SourceConfig {
                name: "aws-event-based".into(),
                tables: vec!["aws_ec2_*".into()],
                skip_tables: vec![],
                skip_dependent_tables: true,
                destinations: vec!["sqlite".into(), "pg".into()],
                spec: AwsSpec {
                    regions: Regions::List(vec!["us-east-1".into(), "eu-west-1".into()]),
                    accounts: vec![
                        AccountConfig {
                            id: Some("012345678901".into()),
                            local_profile: Some("prod".into()),
                            ..AccountConfig::default()
                        },
                        AccountConfig {
                            id: Some("111122223333".into()),
                            role_arn: Some(
                                "arn:aws:iam::111122223333:role/inventory-reader".into(),
                            ),
                            role_session_name: Some("trailsync".into()),
                            external_id: Some("ext-123".into()),
                            ..AccountConfig::default()
                        },
                    ],
                    endpoint_url: Some("http://127.0.0.1:5000".into()),
                    concurrency: Some(8),
                    event_based_sync: Some(EventBasedSync {
                        stream: stream("arn:aws:kinesis:us-east-1:111122223333:stream/cloudtrail"),
                        full_sync: false,
                        start_time: Some(Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()),
                        start_position: StartPosition::Checkpoint,
                        coalesce_window: Duration::from_millis(500),
                        reconcile_interval: None,
                        account: Some(AccountConfig {
                            local_profile: Some("stream-reader".into()),
                            ..AccountConfig::default()
                        }),
                    }),
                    ..AwsSpec::default()
                },
                origin: origin("good/sources.yml", 0),
            },
            SourceConfig {
                name: "minimal".into(),
                tables: vec!["aws_ec2_instances".into()],
                skip_tables: vec![],
                skip_dependent_tables: false,
                destinations: vec!["sqlite".into()],
                spec: AwsSpec {
                    regions: Regions::All,
                    accounts: vec![],
                    endpoint_url: None,
                    concurrency: None,
                    event_based_sync: Some(EventBasedSync {
                        stream: stream("arn:aws:kinesis:eu-west-1:111122223333:stream/trail"),
                        full_sync: true,
                        start_time: None,
                        start_position: StartPosition::TrimHorizon,
                        coalesce_window: DEFAULT_COALESCE_WINDOW,
                        reconcile_interval: Some(Duration::from_secs(6 * 3600)),
                        account: None,
                    }),
                    ..AwsSpec::default()
                },
                origin: origin("good/sources.yml", 1),
            },
            SourceConfig {
                name: "no-stream".into(),
                tables: vec!["*".into()],
                skip_tables: vec![],
                skip_dependent_tables: false,
                destinations: vec!["pg".into()],
                spec: AwsSpec {
                    regions: Regions::Default,
                    accounts: vec![AccountConfig {
                        id: Some("444455556666".into()),
                        role_arn: Some("arn:aws:iam::444455556666:role/reader".into()),
                        ..AccountConfig::default()
                    }],
                    endpoint_url: None,
                    concurrency: None,
                    event_based_sync: None,
                    ..AwsSpec::default()
                },
                origin: origin("good/more/20-source.yml", 0),
            },
        ],
        destinations: vec![
            DestinationConfig {
                name: "sqlite".into(),
                kind: DestinationKind::Sqlite,
                write_mode: WriteMode::OverwriteDeleteStale,
                connection_string: "./inventory.db".into(),
                batch_size: None,
                origin: origin("good/destinations.yml", 0),
            },
            DestinationConfig {
                name: "pg".into(),
                kind: DestinationKind::Postgres,
                write_mode: WriteMode::Append,
                connection_string: "postgres://trailsync@127.0.0.1:5432/test".into(),
                batch_size: Some(500),
                origin: origin("good/more/10-postgres.yaml", 0),
            },
        ],
        warnings: Vec::new(),
    };
    assert_eq!(config, expected);
    assert_eq!(
        config.destination("pg").map(|d| d.kind),
        Some(DestinationKind::Postgres)
    );
    let names: Vec<&str> = config.sources[0]
        .selected_tables()
        .iter()
        .map(|t| t.name)
        .collect();
    // `aws_ec2_*` matches every EC2 table, children included, in catalog order.
    let ec2: Vec<&str> = trailsync_catalog::TABLES
        .iter()
        .map(|t| t.name)
        .filter(|n| n.starts_with("aws_ec2_"))
        .collect();
    assert!(ec2.contains(&"aws_ec2_instances") && ec2.len() > 1);
    assert_eq!(names, ec2);
}

#[test]
fn a_file_reached_twice_is_read_once() {
    let config = load_fixtures(&[
        "good/destinations.yml",
        "good/more",
        "good/more/20-source.yml",
        "good/../good/destinations.yml",
    ])
    .unwrap_or_else(|d| panic!("should load, got:\n{d}"));
    assert_eq!(config.sources.len(), 1);
    assert_eq!(config.destinations.len(), 2);
}

// ---- ${VAR} and ${file:PATH} ---------------------------------------------------------------------

const MINIMAL_SOURCE: &str =
    "kind: source\nspec:\n  name: s\n  tables: ['*']\n  destinations: [d]\n";

#[test]
fn variables_and_files_are_expanded_into_typed_fields() {
    let role_file = fixtures().join("good/more/role-arn.txt");
    let text = format!(
        "{MINIMAL_SOURCE}  spec:\n    accounts:\n      - id: '444455556666'\n        role_arn: ${{file:{}}}\n\
         ---\nkind: destination\nspec:\n  name: d\n  path: postgresql\n  spec:\n    connection_string: \"${{PG_URL}}?sslmode=disable\"\n    batch_size: ${{BATCH}}\n",
        role_file.display()
    );
    let config = Loader::with_env(env)
        .load_text("inline.yml", &text)
        .unwrap_or_else(|d| panic!("should load, got:\n{d}"));
    assert_eq!(
        config.sources[0].spec.accounts[0].role_arn.as_deref(),
        Some("arn:aws:iam::444455556666:role/reader"),
        "an absolute ${{file:}} path, without the trailing newline"
    );
    let destination = &config.destinations[0];
    assert_eq!(
        destination.connection_string,
        "postgres://trailsync@127.0.0.1:5432/test?sslmode=disable"
    );
    assert_eq!(
        destination.batch_size,
        Some(250),
        "a number from a variable"
    );
}

#[test]
fn an_unset_variable_is_an_error_naming_it_and_its_field() {
    let text = "kind: destination\nspec:\n  name: d\n  path: sqlite\n  spec:\n    connection_string: ${NOT_SET_ANYWHERE}\n";
    let diagnostics = Loader::with_env(env)
        .load_text("dest.yml", text)
        .expect_err("unset variable");
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        lines.contains(&"dest.yml:6: destinations[0] (d).spec.spec.connection_string: environment variable NOT_SET_ANYWHERE is not set; set it, or replace ${NOT_SET_ANYWHERE} with the value".to_string()),
        "{lines:#?}"
    );
}

#[test]
fn the_process_environment_is_the_default() {
    // PATH is set in any environment tests run in; the value itself is not asserted on.
    let text = format!(
        "{MINIMAL_SOURCE}  registry: ${{PATH}}\n  version: ${{TRAILSYNC_SURELY_UNSET_VAR}}\n"
    );
    let diagnostics = Loader::new()
        .load_text("env.yml", &text)
        .expect_err("unset");
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("TRAILSYNC_SURELY_UNSET_VAR")),
        "{messages:?}"
    );
    assert!(
        !messages.iter().any(|m| m.contains("variable PATH")),
        "{messages:?}"
    );
}

// ---- every mistake, in one run -------------------------------------------------------------------

#[test]
fn every_mistake_is_reported_with_its_file_line_and_path() {
    let diagnostics =
        load_fixtures(&["bad/aws.yml", "bad/destinations.yml"]).expect_err("invalid config");
    let got = summarize(&diagnostics);
    let aws = |document: usize, line: usize, path: &str, message: &str| {
        (
            "bad/aws.yml",
            Some(document),
            Some(line),
            path.to_string(),
            message.to_string(),
        )
    };
    let dest = |document: usize, line: usize, path: &str, message: &str| {
        (
            "bad/destinations.yml",
            Some(document),
            Some(line),
            path.to_string(),
            message.to_string(),
        )
    };
    let missing_secret = fixtures().join("bad/missing-secret.txt");
    let expected = vec![
        aws(
            0,
            5,
            "sources[0] (aws).spec.tabels",
            "unknown field; did you mean \"tables\"?",
        ),
        aws(
            0,
            6,
            "sources[0] (aws).spec.tables[1]",
            "\"gcp_compute_*\" matches no known table; `trailsync tables` lists them",
        ),
        aws(
            0,
            7,
            "sources[0] (aws).spec.destinations[1]",
            "no destination is named \"postgres\"; declared destinations: sqlite",
        ),
        aws(
            0,
            9,
            "sources[0] (aws).spec.spec.regions[1]",
            "\"mars-north\" is not an AWS region name; expected e.g. \"us-east-1\", or \"*\" for all",
        ),
        aws(
            0,
            15,
            "sources[0] (aws).spec.spec.event_based_sync.kinesis_stream_arn",
            "not a Kinesis stream ARN (\"arn:aws:s3:::bucket\": the service is \"s3\", not \"kinesis\"); expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME",
        ),
        aws(
            0,
            16,
            "sources[0] (aws).spec.spec.event_based_sync.full_sync",
            "expected true or false, found \"yes\"",
        ),
        aws(
            0,
            17,
            "sources[0] (aws).spec.spec.event_based_sync.start_time",
            "\"yesterday\" is not an RFC 3339 time; write e.g. 2026-11-24T00:00:00Z",
        ),
        aws(
            0,
            18,
            "sources[0] (aws).spec.spec.event_based_sync.coalesce_window",
            "not a duration (\"5\"); write a number and a unit, e.g. \"500ms\", \"30s\", \"5m\", \"6h\", \"90d\" or \"1h30m\"",
        ),
        aws(
            1,
            22,
            "sources[1] (aws).spec.name",
            &format!(
                "another source is already named \"aws\" ({}:3); source names must be unique, rename one",
                fixtures().join("bad/aws.yml").display()
            ),
        ),
        aws(
            1,
            23,
            "sources[1] (aws).spec.tables[0]",
            "\"aws_ec2_instance\" matches no known table; did you mean \"aws_ec2_instances\"?",
        ),
        aws(
            1,
            26,
            "sources[1] (aws).spec.spec.endpoint_url",
            "environment variable ENDPOINT is not set; set it, or replace ${ENDPOINT} with the value",
        ),
        aws(
            1,
            27,
            "sources[1] (aws).spec.spec.concurrency",
            "expected a whole number above 0, found \"0\"",
        ),
        aws(
            2,
            31,
            "sources[2].spec.name",
            "missing; every source and destination needs a unique name",
        ),
        aws(
            2,
            31,
            "sources[2].spec.tables",
            "no table listed; list the tables to sync, e.g. `tables: [\"aws_ec2_instances\"]`, or `tables: [\"*\"]` for all",
        ),
        dest(
            0,
            5,
            "destinations[0] (sqlite).spec.write_mode",
            "unknown value \"overwrite-all\"; expected overwrite-delete-stale, overwrite or append",
        ),
        dest(
            0,
            7,
            "destinations[0] (sqlite).spec.spec.connection_string",
            "a PostgreSQL URL for a sqlite destination; set `path: cloudquery/postgresql`",
        ),
        dest(
            1,
            11,
            "destinations[1] (sqlite).spec.name",
            &format!(
                "another destination is already named \"sqlite\" ({}:3); destination names must be unique, rename one",
                fixtures().join("bad/destinations.yml").display()
            ),
        ),
        dest(
            1,
            12,
            "destinations[1] (sqlite).spec.path",
            "unknown destination plugin \"cloudquery/mysql\"; expected sqlite or postgresql, optionally as cloudquery/NAME or NAME@VERSION",
        ),
        dest(
            1,
            14,
            "destinations[1] (sqlite).spec.spec.connection_string",
            &format!(
                "cannot read {} for ${{file:missing-secret.txt}}: no such file or folder; the path is relative to the config file's folder",
                missing_secret.display()
            ),
        ),
        dest(
            1,
            15,
            "destinations[1] (sqlite).spec.spec.batch_size",
            "expected a whole number above 0, found \"lots\"",
        ),
        dest(
            2,
            17,
            "kind",
            "unknown kind \"transformer\"; expected source or destination; trailsync has no transformers",
        ),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(file, document, line, path, message)| {
            (file.to_string(), document, line, path, message)
        })
        .collect();
    for (i, (got, expected)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, expected, "diagnostic {i}; all:\n{diagnostics}");
    }
    assert_eq!(got.len(), expected.len(), "all:\n{diagnostics}");
}

#[test]
fn a_diagnostic_is_one_line_with_file_line_document_and_path() {
    let diagnostics =
        load_fixtures(&["bad/aws.yml", "bad/destinations.yml"]).expect_err("invalid config");
    let file = fixtures().join("bad/aws.yml");
    let expected = format!(
        "{}:15 (document 1): sources[0] (aws).spec.spec.event_based_sync.kinesis_stream_arn: not a Kinesis stream ARN (\"arn:aws:s3:::bucket\": the service is \"s3\", not \"kinesis\"); expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME",
        file.display()
    );
    let text = diagnostics.to_string();
    assert!(text.lines().any(|line| line == expected), "{text}");
    assert_eq!(text.lines().count(), diagnostics.len());
}

#[test]
fn a_single_document_file_shows_no_document_number() {
    let text = "kind: destination\nspec:\n  name: d\n  path: sqlite\n  colour: blue\n  spec: {connection_string: x.db}\n";
    let diagnostics = Loader::with_env(env)
        .load_text("one.yml", text)
        .expect_err("bad");
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "one.yml:5: destinations[0] (d).spec.colour: unknown field; expected one of: name, path, registry, version, write_mode, migrate_mode, pk_mode, spec",
            "no source: add a document with `kind: source` (see the example config)",
        ]
    );
}

#[test]
fn wrong_shapes_and_missing_fields_are_reported() {
    let text = "\
kind: source
spec:
  name: s
  tables: aws_ec2_instances
  destinations: [d, d]
  skip_dependent_tables: [true]
  spec:
    regions: ['*', us-east-1]
    accounts:
      - local_profile: p
        external_id: x
      - id: 12
    event_based_sync:
      start_position: latest
      start_time: 2026-01-01T00:00:00Z
      reconcile_interval: soon
      account: {id: '111122223333', role_arn: 'arn:aws:iam::111122223333:user/u'}
---
kind: destination
spec:
  name: d
  path: sqlite
  spec: [connection_string]
---
kind: destination
spec:
  name: d2
  spec:
    batch_size: 10
---
spec:
  name: no-kind
";
    let diagnostics = Loader::with_env(env)
        .load_text("shapes.yml", text)
        .expect_err("bad");
    let got: Vec<(usize, &str, &str)> = diagnostics
        .iter()
        .map(|d| (d.line.unwrap_or(0), d.path.as_str(), d.message.as_str()))
        .collect();
    let expected = [
        (
            4,
            "sources[0] (s).spec.tables",
            "expected a list, found a single value; write [\"aws_ec2_instances\"]",
        ),
        (
            4,
            "sources[0] (s).spec.tables",
            "no table listed; list the tables to sync, e.g. `tables: [\"aws_ec2_instances\"]`, or `tables: [\"*\"]` for all",
        ),
        (
            5,
            "sources[0] (s).spec.destinations[1]",
            "\"d\" is listed twice; remove one",
        ),
        (
            6,
            "sources[0] (s).spec.skip_dependent_tables",
            "expected a single value, found a list",
        ),
        (
            8,
            "sources[0] (s).spec.spec.regions",
            "\"*\" already means every region; remove the other entries",
        ),
        (
            10,
            "sources[0] (s).spec.spec.accounts[0].id",
            "missing; add an id (an alias for logs, e.g. `id: prod`; the account number comes from AWS)",
        ),
        (
            11,
            "sources[0] (s).spec.spec.accounts[0].external_id",
            "only used when assuming a role; add role_arn or remove this field",
        ),
        (
            14,
            "sources[0] (s).spec.spec.event_based_sync.kinesis_stream_arn",
            "missing; add the ARN of the Kinesis stream CloudTrail events arrive in",
        ),
        (
            14,
            "sources[0] (s).spec.spec.event_based_sync.start_position",
            "conflicts with start_time; keep one of them",
        ),
        (
            16,
            "sources[0] (s).spec.spec.event_based_sync.reconcile_interval",
            "not a duration (\"soon\"); write a number and a unit, e.g. \"500ms\", \"30s\", \"5m\", \"6h\", \"90d\" or \"1h30m\"",
        ),
        (
            17,
            "sources[0] (s).spec.spec.event_based_sync.account.role_arn",
            "\"arn:aws:iam::111122223333:user/u\" is not an IAM role ARN; expected arn:aws:iam::ACCOUNT:role/NAME",
        ),
        (
            23,
            "destinations[0] (d).spec.spec",
            "expected a mapping of `field: value` lines; found a list",
        ),
        (
            27,
            "destinations[1] (d2).spec.path",
            "missing; write `path: cloudquery/sqlite` or `path: cloudquery/postgresql`",
        ),
        (
            29,
            "destinations[1] (d2).spec.spec.connection_string",
            "missing; a SQLite file path, or postgres://user@host:5432/db",
        ),
        (
            31,
            "kind",
            "missing; add `kind: source` or `kind: destination`",
        ),
    ];
    assert_eq!(got, expected, "all:\n{diagnostics}");
}

#[test]
fn missing_inputs_are_reported() {
    let none: [&str; 0] = [];
    let diagnostics = load(&none).expect_err("nothing given");
    assert_eq!(
        diagnostics.to_string(),
        "no configuration given; pass config files or folders of them"
    );

    let diagnostics =
        load_fixtures(&["does-not-exist.yml", "empty", "good/destinations.yml"]).expect_err("bad");
    let got = summarize(&diagnostics);
    let messages: Vec<(&str, &str)> = got.iter().map(|d| (d.0.as_str(), d.4.as_str())).collect();
    assert_eq!(
        messages,
        [
            (
                "does-not-exist.yml",
                "cannot read: no such file or folder; check the path"
            ),
            (
                "empty",
                "the folder holds no *.yml or *.yaml file; pass config files or a folder of them"
            ),
            (
                "",
                "no source: add a document with `kind: source` (see the example config)"
            ),
        ],
        "in the order the paths were given, whole-config problems last"
    );
}

// ---- garbage ---------------------------------------------------------------------------------------

#[test]
fn garbage_yields_clear_diagnostics_not_panics() {
    let diagnostics = load_fixtures(&["garbage"]).expect_err("garbage");
    let got = summarize(&diagnostics);
    let for_file = |name: &str| -> Vec<String> {
        got.iter()
            .filter(|d| d.0 == format!("garbage/{name}"))
            .map(|d| format!("{}: {}", d.3, d.4))
            .collect()
    };
    let binary = for_file("binary.yml");
    assert_eq!(binary, [": cannot read: not UTF-8 text"]);
    let list = for_file("list.yml");
    assert_eq!(
        list,
        [": a document is a mapping with `kind:` and `spec:`; found a list"]
    );
    let scalar = for_file("scalar.yml");
    assert_eq!(
        scalar,
        [": a document is a mapping with `kind:` and `spec:`; found a single value"]
    );
    for name in ["tabs.yml", "unclosed.yml", "self-alias.yml"] {
        let problems = for_file(name);
        assert!(!problems.is_empty(), "{name}: {diagnostics}");
        assert!(
            problems.iter().all(|p| !p.contains('\n')),
            "{name}: {problems:?}"
        );
    }
    assert!(
        for_file("tabs.yml")[0].contains("invalid YAML"),
        "{diagnostics}"
    );
    let files_of_whole_config: Vec<_> = got
        .iter()
        .filter(|d| d.0.is_empty())
        .map(|d| d.4.as_str())
        .collect();
    assert_eq!(
        files_of_whole_config.len(),
        2,
        "no source, no destination: {diagnostics}"
    );
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = Loader::with_env(env).load_text("fuzz.yml", &text);
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-z_:\\-\\[\\]{}'\" \n\t#&*!|>,?%@$0-9]{0,300}") {
        let _ = Loader::with_env(env).load_text("fuzz.yml", &text);
    }

    #[test]
    fn mutated_valid_configs_never_panic(cut in 0usize..2000, insert in "[\\[\\]{}:\\-'\"&*!\n ]{0,5}") {
        let text = std::fs::read_to_string(fixtures().join("good/sources.yml")).expect("fixture");
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mutated = format!("{}{insert}{}", &text[..cut], &text[cut..]);
        let _ = Loader::with_env(env).load_text("fuzz.yml", &mutated);
    }
}

// ---- table selection -----------------------------------------------------------------------------

const fn table(name: &'static str, parent: Option<&'static Table>) -> Table {
    Table {
        name,
        service: Service::Iam,
        scope: Scope::Global,
        parent,
        primary_key: &["arn"],
        id: None,
        columns: &[],
    }
}

static ROLES: Table = table("aws_iam_roles", None);
static ROLE_POLICIES: Table = table("aws_iam_role_policies", Some(&ROLES));
static ROLE_LAST_ACCESSED: Table = table("aws_iam_role_last_accessed_details", Some(&ROLES));
static USERS: Table = table("aws_iam_users", None);
static USER_KEYS: Table = table("aws_iam_user_access_keys", Some(&USERS));
static NODE_A: Table = table("aws_x_a", None);
static NODE_B: Table = table("aws_x_b", Some(&NODE_A));
static NODE_C: Table = table("aws_x_c", Some(&NODE_B));

static FAKE: &[&Table] = &[
    &ROLES,
    &ROLE_POLICIES,
    &ROLE_LAST_ACCESSED,
    &USERS,
    &USER_KEYS,
    &NODE_A,
    &NODE_B,
    &NODE_C,
];

fn selected(tables: &[&str], skip: &[&str], skip_dependent: bool) -> Vec<&'static str> {
    select_tables(FAKE, tables, skip, skip_dependent)
        .iter()
        .map(|t| t.name)
        .collect()
}

#[test]
fn a_selected_parent_brings_its_children_unless_skip_dependent_tables() {
    assert_eq!(
        selected(&["aws_iam_roles"], &[], false),
        [
            "aws_iam_roles",
            "aws_iam_role_policies",
            "aws_iam_role_last_accessed_details"
        ]
    );
    assert_eq!(selected(&["aws_iam_roles"], &[], true), ["aws_iam_roles"]);
    assert_eq!(
        selected(&["aws_iam_roles", "aws_iam_role_policies"], &[], true),
        ["aws_iam_roles", "aws_iam_role_policies"]
    );
    assert_eq!(
        selected(&["aws_x_a"], &[], false),
        ["aws_x_a", "aws_x_b", "aws_x_c"],
        "grandchildren too"
    );
}

#[test]
fn a_selected_child_pulls_in_its_parent_but_not_its_siblings() {
    assert_eq!(
        selected(&["aws_iam_role_policies"], &[], false),
        ["aws_iam_roles", "aws_iam_role_policies"]
    );
    assert_eq!(
        selected(&["aws_x_c"], &[], true),
        ["aws_x_a", "aws_x_b", "aws_x_c"],
        "every ancestor"
    );
}

#[test]
fn a_skipped_table_goes_with_its_subtree() {
    assert_eq!(
        selected(&["*"], &["aws_iam_role_last_accessed_details"], false),
        [
            "aws_iam_roles",
            "aws_iam_role_policies",
            "aws_iam_users",
            "aws_iam_user_access_keys",
            "aws_x_a",
            "aws_x_b",
            "aws_x_c"
        ]
    );
    assert_eq!(
        selected(&["aws_iam_*"], &["aws_iam_roles"], false),
        ["aws_iam_users", "aws_iam_user_access_keys"],
        "children matched by tables are skipped with their parent"
    );
    assert_eq!(
        selected(&["aws_iam_user_access_keys"], &["aws_iam_users"], false),
        Vec::<&str>::new()
    );
    assert_eq!(selected(&["aws_x_*"], &["aws_x_b"], false), ["aws_x_a"]);
}

#[test]
fn selection_follows_catalog_order_and_ignores_invalid_globs() {
    assert_eq!(
        selected(&["aws_x_a", "aws_iam_users"], &["["], true),
        ["aws_iam_users", "aws_x_a"]
    );
    assert_eq!(selected(&["["], &[], false), Vec::<&str>::new());
    assert_eq!(selected(&["aws_iam_?sers"], &[], true), ["aws_iam_users"]);
}

#[test]
fn skipping_everything_is_an_error() {
    let text = "kind: source\nspec:\n  name: s\n  tables: ['aws_ec2_instances']\n  skip_tables: ['aws_ec2_*']\n  destinations: [d]\n---\nkind: destination\nspec: {name: d, path: sqlite, spec: {connection_string: x.db}}\n";
    let diagnostics = Loader::with_env(env)
        .load_text("skip.yml", text)
        .expect_err("nothing selected");
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "skip.yml:5 (document 1): sources[0] (s).spec.skip_tables: skips every table that `tables` selects; nothing would be synced"
        ]
    );
}

#[test]
fn durations_beyond_their_bounds_are_refused_not_overflowed() {
    let config = |stream_options: &str| {
        format!(
            "kind: source\nspec:\n  name: aws\n  path: cloudquery/aws\n  tables: [\"aws_ec2_instances\"]\n  destinations: [\"db\"]\n  spec:\n    regions: [\"us-east-1\"]\n    event_based_sync:\n      kinesis_stream_arn: arn:aws:kinesis:us-east-1:111122223333:stream/ct\n{stream_options}---\nkind: destination\nspec:\n  name: db\n  path: cloudquery/sqlite\n  spec:\n    connection_string: ./db.sqlite\n"
        )
    };
    let errors = Loader::with_env(env)
        .load_text(
            "aws.yml",
            &config("      coalesce_window: 100000000h\n      reconcile_interval: 9999h\n"),
        )
        .expect_err("out of bounds");
    let text = errors.to_string();
    assert!(
        text.contains("coalesce_window: 100000000h is longer than the 10m this setting allows"),
        "{text}"
    );
    assert!(
        text.contains("reconcile_interval: 9999h is longer than the 30d this setting allows"),
        "{text}"
    );
    let ok = Loader::with_env(env)
        .load_text(
            "aws.yml",
            &config("      coalesce_window: 10m\n      reconcile_interval: 720h\n"),
        )
        .expect("at the bounds");
    let events = ok.sources[0]
        .spec
        .event_based_sync
        .as_ref()
        .expect("events");
    assert_eq!(events.coalesce_window, Duration::from_secs(600));
}

#[test]
fn history_is_on_for_90_days_unless_configured() {
    let config = |history: &str| {
        format!(
            "kind: source\nspec:\n  name: aws\n  path: cloudquery/aws\n  tables: [\"aws_ec2_instances\"]\n  destinations: [\"db\"]\n  spec:\n    regions: [\"us-east-1\"]\n{history}---\nkind: destination\nspec:\n  name: db\n  path: cloudquery/sqlite\n  spec:\n    connection_string: ./db.sqlite\n"
        )
    };
    let history = |text: &str| {
        Loader::with_env(env)
            .load_text("aws.yml", &config(text))
            .map(|c| c.sources[0].spec.history)
    };
    assert_eq!(
        history("").expect("loads"),
        History {
            enabled: true,
            retention: Some(Duration::from_secs(90 * 86_400))
        }
    );
    assert_eq!(
        history("    history:\n      enabled: false\n      retention: 7d\n").expect("loads"),
        History {
            enabled: false,
            retention: Some(Duration::from_secs(7 * 86_400))
        }
    );
    assert_eq!(
        history("    history:\n      retention: \"0\"\n")
            .expect("loads")
            .retention,
        None,
        "0 keeps everything"
    );
    let text = history("    history:\n      retention: 20000d\n      keep: yes\n")
        .expect_err("refused")
        .to_string();
    assert!(
        text.contains("history.retention: 20000d is longer than"),
        "{text}"
    );
    assert!(
        text.contains("history.keep: unknown field; expected one of: enabled, retention"),
        "{text}"
    );
}

/// The example configs of CloudQuery's AWS docs (in `tests/fixtures/cloudquery`, each beside
/// the same destination) load, warning about exactly what has no effect in trailsync.
#[test]
fn cloudquery_example_configs_load_with_their_warnings() {
    let warned = |example: &str| -> Vec<String> {
        let config = load_fixtures(&[
            &format!("cloudquery/{example}"),
            "cloudquery/destinations.yml",
        ])
        .unwrap_or_else(|d| panic!("{example} should load, got:\n{d}"));
        config
            .warnings
            .iter()
            .map(|w| format!("{}: {}", w.path, w.message))
            .collect()
    };
    let destination_warnings = [
        "destinations[0] (postgresql).spec.send_sync_summary: accepted for CloudQuery compatibility, but has no effect: trailsync logs a summary line and serves metrics instead",
        "destinations[0] (postgresql).spec.spec.batch_size_bytes: accepted for CloudQuery compatibility, but has no effect: batches are bounded by batch_size rows",
        "destinations[0] (postgresql).spec.spec.batch_timeout: accepted for CloudQuery compatibility, but has no effect: trailsync commits as soon as a change is fetched",
    ];
    let with = |source: &[&str]| -> Vec<String> {
        source
            .iter()
            .chain(&destination_warnings)
            .map(|s| s.to_string())
            .collect()
    };
    assert_eq!(warned("single-account.yml"), with(&[]));
    assert_eq!(
        warned("org.yml"),
        with(&[
            "sources[0] (aws).spec.tables[0]: \"aws_s3_buckets\" matches no table trailsync syncs; passed over (`trailsync tables` lists them)"
        ])
    );
    assert_eq!(
        warned("multi-account.yml"),
        with(&[
            "sources[0] (aws).spec.skip_tables[0]: \"aws_cloudtrail_events\" matches no table trailsync syncs; passed over (`trailsync tables` lists them)",
            "sources[0] (aws).spec.skip_tables[1]: \"aws_ec2_instance_types\" matches no table trailsync syncs; passed over (`trailsync tables` lists them)",
        ])
    );
    assert_eq!(
        warned("localstack.yml"),
        with(&[
            "sources[0] (aws).spec.spec.custom_endpoint_partition_id: accepted for CloudQuery compatibility, but has no effect: ARNs take their partition from the region",
            "sources[0] (aws).spec.spec.custom_endpoint_signing_region: accepted for CloudQuery compatibility, but has no effect: requests are signed for the region they are made in",
        ])
    );
    assert_eq!(
        warned("everything.yml"),
        with(&[
            "sources[0] (aws-event-based).spec.deterministic_cq_id: accepted for CloudQuery compatibility, but has no effect: trailsync's _cq_id is always deterministic (a UUIDv5 of the primary key)",
            "sources[0] (aws-event-based).spec.spec.use_paid_apis: accepted for CloudQuery compatibility, but has no effect: trailsync calls no paid API",
            "sources[0] (aws-event-based).spec.spec.scheduler: accepted for CloudQuery compatibility, but has no effect: trailsync lists tables a few (table, location) pairs at a time (spec.concurrency)",
            "sources[0] (aws-event-based).spec.spec.use_nested_table_rate_limiting: accepted for CloudQuery compatibility, but has no effect: trailsync paces every AWS call per account, region and service",
            "sources[0] (aws-event-based).spec.spec.enable_api_level_tracing: accepted for CloudQuery compatibility, but has no effect: use aws_debug to log every AWS request",
        ])
    );

    // What the examples say is what trailsync runs.
    let load = |example: &str| {
        load_fixtures(&[
            &format!("cloudquery/{example}"),
            "cloudquery/destinations.yml",
        ])
        .expect("loads")
    };
    let org = load("org.yml");
    let spec = &org.sources[0].spec;
    let org_spec = spec.org.as_ref().expect("org mode");
    assert_eq!(org_spec.member_role_name, "cloudquery-ro");
    assert_eq!(
        org_spec.organization_units,
        ["ou-abcd-12345678", "ou-abcd-87654321"]
    );
    assert_eq!(org_spec.skip_member_accounts, ["111122223333"]);
    assert_eq!(
        org_spec
            .admin_account
            .as_ref()
            .and_then(|a| a.local_profile.as_deref()),
        Some("admin")
    );
    assert_eq!(spec.regions, Regions::All);
    let multi = load("multi-account.yml");
    let prod = &multi.sources[0].spec.accounts[1];
    assert_eq!(prod.id.as_deref(), Some("prod"), "an alias, not a number");
    assert_eq!(prod.alias(), "production");
    assert_eq!(prod.default_region.as_deref(), Some("eu-west-1"));
    assert_eq!(prod.regions, Some(Regions::List(vec!["eu-west-1".into()])));
    let localstack = load("localstack.yml");
    assert_eq!(
        localstack.sources[0].spec.endpoint_url.as_deref(),
        Some("http://localhost:4566")
    );
    assert_eq!(localstack.sources[0].spec.max_retries, Some(1));
    let everything = load("everything.yml");
    assert_eq!(
        everything.sources[0].spec.initialization_concurrency,
        Some(4)
    );
    assert_eq!(
        everything.sources[0].spec.max_backoff,
        Some(Duration::from_secs(30))
    );
}

#[test]
fn cloudquery_rules_hold_for_org_and_custom_endpoints() {
    let text = "kind: source\nspec:\n  name: aws\n  path: cloudquery/aws\n  tables: [\"aws_ec2_instances\"]\n  destinations: [db]\n  spec:\n    accounts:\n      - id: prod\n    org:\n      organization_units: [\"ou-bad\", \"r-abcd\"]\n      skip_member_accounts: [\"prod\"]\n    custom_endpoint_url: http://localhost:4566\n    custom_endpoint_partition_id: aws\n    kinesis_stream_arm: x\n---\nkind: destination\nspec:\n  name: db\n  path: sqlite\n  migrate_mode: sometimes\n  spec:\n    connection_string: ./db.sqlite\n";
    let diagnostics = Loader::with_env(env)
        .load_text("cq.yml", text)
        .expect_err("invalid");
    let got: Vec<String> = diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    assert_eq!(
        got,
        [
            "sources[0] (aws).spec.spec.org.member_role_name: missing; name the role to assume in each member account, e.g. OrganizationAccountAccessRole",
            "sources[0] (aws).spec.spec.org.organization_units[0]: invalid OU \"ou-bad\"; should match \"ou-*-*\" or \"r-*\" with lowercase letters or digits",
            "sources[0] (aws).spec.spec.org: specifying accounts via both the accounts and org properties is not supported; to achieve both, use several sources",
            "sources[0] (aws).spec.spec.org.skip_member_accounts[0]: \"prod\" is not an AWS account number; expected 12 digits",
            "sources[0] (aws).spec.spec.custom_endpoint_signing_region: required when custom_endpoint_url is set (as in CloudQuery)",
            "sources[0] (aws).spec.spec.custom_endpoint_hostname_immutable: required when custom_endpoint_url is set (as in CloudQuery)",
            "sources[0] (aws).spec.spec.kinesis_stream_arm: unknown field; expected one of: regions, accounts, org, endpoint_url, custom_endpoint_url, custom_endpoint_hostname_immutable, concurrency, initialization_concurrency, max_retries, max_backoff, aws_debug, event_based_sync, history",
            "destinations[0] (db).spec.migrate_mode: unknown value \"sometimes\"; expected safe or forced",
        ]
    );
    // A near miss inside event_based_sync gets its "did you mean".
    let text = text.replace(
        "    kinesis_stream_arm: x\n",
        "    event_based_sync:\n      kinesis_stream_arm: x\n",
    );
    let diagnostics = Loader::with_env(env)
        .load_text("cq.yml", &text)
        .expect_err("invalid");
    assert!(
        diagnostics.to_string().contains(
            "event_based_sync.kinesis_stream_arm: unknown field; did you mean \"kinesis_stream_arn\"?"
        ),
        "{diagnostics}"
    );
}

// ---- secrets ----------------------------------------------------------------------------------

#[test]
fn debug_output_hides_passwords_and_external_ids() {
    let text = "kind: source\nspec:\n  name: s\n  tables: ['*']\n  destinations: [d]\n  spec:\n    org:\n      member_role_name: reader\n      member_external_id: sentinel-ext-member\n      admin_account:\n        role_arn: arn:aws:iam::111122223333:role/admin\n        external_id: sentinel-ext-admin\n\
                ---\nkind: destination\nspec:\n  name: d\n  path: postgresql\n  spec:\n    connection_string: postgres://app:sentinel-pw@db:5432/inv?sslmode=verify-full\n";
    let config = Loader::with_env(env)
        .load_text("secrets.yml", text)
        .unwrap_or_else(|d| panic!("should load, got:\n{d}"));
    let debug = format!("{config:?}");
    for secret in ["sentinel-pw", "sentinel-ext-member", "sentinel-ext-admin"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(
        debug.contains("postgres://app:REDACTED@db:5432/inv?sslmode=verify-full"),
        "{debug}"
    );
    assert!(
        debug.contains("member_external_id: Some(\"REDACTED\")"),
        "{debug}"
    );
    // The values themselves are intact.
    let org = config.sources[0].spec.org.as_ref().expect("org");
    assert_eq!(
        org.member_external_id.as_deref(),
        Some("sentinel-ext-member")
    );
}

#[test]
fn file_contents_never_appear_in_diagnostics() {
    let dir = std::env::temp_dir().join(format!("trailsync-config-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    std::fs::write(dir.join("secret.txt"), "sentinel-file-3b8d\n").expect("write");
    let text = "kind: source\nspec:\n  name: s\n  tables: ['*']\n  destinations: [d]\n  spec:\n    regions: ['${file:secret.txt}']\n    accounts:\n      - id: prod\n        role_arn: ${file:secret.txt}\n        external_id: ${file:secret.txt}\n\
                ---\nkind: destination\nspec:\n  name: d\n  path: postgresql\n  spec:\n    connection_string: ${file:secret.txt}\n    batch_size: x-${file:secret.txt}\n";
    let diagnostics = Loader::with_env(env)
        .load_text(dir.join("config.yml"), text)
        .expect_err("invalid values");
    let _ = std::fs::remove_dir_all(&dir);
    let all = diagnostics.to_string();
    assert!(!all.contains("sentinel-file"), "{all}");
    for field in ["regions[0]", "role_arn", "batch_size"] {
        assert!(
            diagnostics
                .iter()
                .any(|d| d.path.ends_with(field) && d.message.contains("${file:secret.txt}")),
            "{field} should name the reference: {all}"
        );
    }
}
