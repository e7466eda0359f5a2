//! Issue 3's acceptance test: a one-shot `trailsync sync` of every table (`tables: ["*"]`, no
//! `event_based_sync`) from a moto seeded with at least [`MANY`] resources of each top-level table
//! in one account and region, plus a few in a second region and in a second account reached
//! through `role_arn`, exits 0; and every table's row count, in SQLite and in PostgreSQL, equals
//! what the AWS APIs report for all configured accounts and regions.
//!
//! [`SPECS`] says, per table of the catalog, how the test seeds it (top-level tables; children
//! are seeded with their parent) and how it counts it through the SDK. A table of the catalog
//! without a spec fails the test: a new table comes with its seeding and counting.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::types::{
    ImageAttributeName, LaunchPermission, LaunchPermissionModifications, Reservation,
};
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, DesiredStatus, LaunchType};
use common::Store;
use trailsync_catalog::{Scope, TABLES};
use trailsync_testkit::{DEFAULT_ACCOUNT, Moto, ec2};

/// The home region and the second one.
const HOME: &str = "us-east-1";
const AWAY: &str = "eu-west-1";
/// The second account, reached with `role_arn` (moto's STS gives any account its own world).
const OTHER: &str = "111122223333";
/// Resources per top-level table in the default account's home region...
const MANY: usize = 20;
/// ...and in the second region and the second account.
const FEW: usize = 2;

/// Where one count or seeding happens: clients for one account and region.
struct World {
    account: String,
    region: String,
    ec2: aws_sdk_ec2::Client,
    iam: aws_sdk_iam::Client,
    rds: aws_sdk_rds::Client,
    ecs: aws_sdk_ecs::Client,
    /// Without retries: for probing operations moto does not implement (a 500 each time).
    ec2_once: aws_sdk_ec2::Client,
    iam_once: aws_sdk_iam::Client,
    rds_once: aws_sdk_rds::Client,
}

impl World {
    fn new(account: &str, region: &str, config: &SdkConfig) -> World {
        let once = config
            .to_builder()
            .retry_config(RetryConfig::disabled())
            .build();
        World {
            account: account.to_string(),
            region: region.to_string(),
            ec2: aws_sdk_ec2::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            ec2_once: aws_sdk_ec2::Client::new(&once),
            iam_once: aws_sdk_iam::Client::new(&once),
            rds_once: aws_sdk_rds::Client::new(&once),
        }
    }
}

type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;
/// Creates `n` resources of a top-level table (and children under them) in one world.
type Seeder = for<'a> fn(&'a World, usize) -> Task<'a, ()>;
/// The rows a table has in one world, as the AWS APIs report them.
type Counter = for<'a> fn(&'a World) -> Task<'a, usize>;

/// How the test seeds and counts one table.
struct Spec {
    table: &'static str,
    /// Top-level tables only: children are seeded with their parent.
    seed: Option<Seeder>,
    count: Counter,
    /// False where moto does not implement the API behind the table, so it has no rows.
    moto_has_rows: bool,
}

/// A top-level table: seeded by `$seed`, counted by `$count`.
macro_rules! top {
    ($table:literal, $seed:ident, $count:ident) => {
        Spec {
            table: $table,
            seed: Some(|w, n| Box::pin($seed(w, n))),
            count: |w| Box::pin($count(w)),
            moto_has_rows: true,
        }
    };
}

/// A child table, seeded with its parent; `no_rows_in_moto` where moto lacks its API.
macro_rules! child {
    ($table:literal, $count:ident) => {
        Spec {
            table: $table,
            seed: None,
            count: |w| Box::pin($count(w)),
            moto_has_rows: true,
        }
    };
    ($table:literal, $count:ident, no_rows_in_moto) => {
        Spec {
            table: $table,
            seed: None,
            count: |w| Box::pin($count(w)),
            moto_has_rows: false,
        }
    };
}

/// Every table of the catalog: how to seed it, how to count it.
static SPECS: &[Spec] = &[
    top!("aws_ec2_instances", seed_instances, count_instances),
    top!(
        "aws_ec2_security_groups",
        seed_security_groups,
        count_security_groups
    ),
    top!("aws_ec2_subnets", seed_subnets, count_subnets),
    top!("aws_ec2_vpcs", seed_vpcs, count_vpcs),
    top!(
        "aws_ec2_internet_gateways",
        seed_internet_gateways,
        count_internet_gateways
    ),
    top!(
        "aws_ec2_route_tables",
        seed_route_tables,
        count_route_tables
    ),
    top!(
        "aws_ec2_network_interfaces",
        seed_network_interfaces,
        count_network_interfaces
    ),
    top!(
        "aws_ec2_nat_gateways",
        seed_nat_gateways,
        count_nat_gateways
    ),
    top!("aws_ec2_images", seed_images, count_images),
    child!(
        "aws_ec2_image_launch_permissions",
        count_image_launch_permissions
    ),
    child!(
        "aws_ec2_image_last_launched_times",
        count_image_last_launched_times,
        no_rows_in_moto
    ),
    top!("aws_iam_roles", seed_roles, count_roles),
    child!("aws_iam_role_policies", count_role_policies),
    child!(
        "aws_iam_role_attached_policies",
        count_role_attached_policies
    ),
    child!(
        "aws_iam_role_last_accessed_details",
        count_role_last_accessed,
        no_rows_in_moto
    ),
    top!("aws_iam_users", seed_users, count_users),
    child!("aws_iam_user_access_keys", count_user_access_keys),
    child!("aws_iam_user_groups", count_user_groups),
    child!("aws_iam_user_policies", count_user_policies),
    child!(
        "aws_iam_user_attached_policies",
        count_user_attached_policies
    ),
    child!(
        "aws_iam_user_last_accessed_details",
        count_user_last_accessed,
        no_rows_in_moto
    ),
    child!("aws_iam_signing_certificates", count_signing_certificates),
    child!("aws_iam_ssh_public_keys", count_ssh_public_keys),
    top!("aws_iam_groups", seed_groups, count_groups),
    child!("aws_iam_group_policies", count_group_policies),
    child!(
        "aws_iam_group_attached_policies",
        count_group_attached_policies
    ),
    child!(
        "aws_iam_group_last_accessed_details",
        count_group_last_accessed,
        no_rows_in_moto
    ),
    top!("aws_rds_instances", seed_db_instances, count_db_instances),
    top!("aws_rds_clusters", seed_db_clusters, count_db_clusters),
    child!(
        "aws_rds_cluster_backtracks",
        count_backtracks,
        no_rows_in_moto
    ),
    top!("aws_ecs_clusters", seed_ecs_clusters, count_ecs_clusters),
    child!("aws_ecs_cluster_tasks", count_ecs_tasks),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_sync_of_every_table_matches_aws_in_both_destinations() {
    let missing: Vec<&str> = TABLES
        .iter()
        .map(|t| t.name)
        .filter(|name| !SPECS.iter().any(|s| s.table == *name))
        .collect();
    assert!(
        missing.is_empty(),
        "tables without seeding/counting in SPECS: {missing:?}"
    );

    let moto = Moto::start().await.expect("moto starts");
    let mut worlds = Vec::new();
    for (account, region) in [
        (DEFAULT_ACCOUNT, HOME),
        (DEFAULT_ACCOUNT, AWAY),
        (OTHER, HOME),
        (OTHER, AWAY),
    ] {
        let config = moto
            .sdk_config_for_account(region, account)
            .await
            .expect("SDK config for the account");
        worlds.push(World::new(account, region, &config));
    }
    // Many in the default account's home region, a few in its second region and in the
    // second account; the second account's second region keeps only moto's defaults.
    for (world, n) in [(&worlds[0], MANY), (&worlds[1], FEW), (&worlds[2], FEW)] {
        for spec in SPECS {
            if let Some(seed) = spec.seed
                && located(spec.table, world)
            {
                seed(world, n).await;
            }
        }
    }

    let sqlite = Store::sqlite();
    let postgres = Store::postgres().await;
    let config = format!(
        "{}---\n{}---\n{}---\n{}",
        source_yaml("catalog-sqlite", "sqlite", &moto.endpoint()),
        source_yaml("catalog-postgres", "postgres", &moto.endpoint()),
        sqlite.destination_yaml("sqlite"),
        postgres.destination_yaml("postgres"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).expect("write config");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_trailsync"))
        .arg("sync")
        .arg(&config_path)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_REGION", HOME)
        .env("TRAILSYNC_LOG", "info")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(150), run)
        .await
        .expect("the one-shot sync finishes within 150 s")
        .expect("trailsync runs");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "trailsync sync exits 0, got {}\n{log}",
        output.status
    );

    let mut report = Vec::new();
    for spec in SPECS {
        let located_by = location_columns(spec.table);
        let mut aws = 0;
        for world in worlds.iter().filter(|w| located(spec.table, w)) {
            let here = (spec.count)(world).await;
            if world.account == DEFAULT_ACCOUNT && world.region == HOME && spec.seed.is_some() {
                assert!(
                    here >= MANY,
                    "{}: {here} in the home region, seeded {MANY}",
                    spec.table
                );
            }
            // Rows carry their account (and region): each location's rows match its own answer.
            if !located_by.is_empty() {
                let values = [world.account.as_str(), world.region.as_str()];
                let filter: Vec<(&str, &str)> = located_by.iter().copied().zip(values).collect();
                for (store, name) in [(&sqlite, "SQLite"), (&postgres, "PostgreSQL")] {
                    assert_eq!(
                        rows(store, spec.table, &filter).await,
                        here,
                        "{} at {filter:?} in {name}",
                        spec.table
                    );
                }
            }
            aws += here;
        }
        let in_sqlite = rows(&sqlite, spec.table, &[]).await;
        let in_postgres = rows(&postgres, spec.table, &[]).await;
        report.push(format!(
            "{}: aws {aws}, sqlite {in_sqlite}, postgres {in_postgres}",
            spec.table
        ));
        assert_eq!(
            (in_sqlite, in_postgres),
            (aws, aws),
            "{}: rows in (SQLite, PostgreSQL) vs. what AWS reports\n{log}",
            spec.table
        );
        assert_eq!(
            aws > 0,
            spec.moto_has_rows,
            "{}: whether moto gives it rows",
            spec.table
        );
    }
    eprintln!("{}", report.join("\n"));
    postgres.cleanup().await;
}

/// Whether `table` is listed in `world`: regional tables everywhere, global (IAM) ones once per
/// account, at the home region.
fn located(table: &str, world: &World) -> bool {
    let table = trailsync_catalog::table(table).expect("a catalog table");
    table.scope == Scope::Regional || world.region == HOME
}

fn source_yaml(name: &str, destination: &str, endpoint: &str) -> String {
    format!(
        r#"kind: source
spec:
  name: {name}
  path: cloudquery/aws
  tables: ["*"]
  destinations: ["{destination}"]
  spec:
    regions: ["{HOME}", "{AWAY}"]
    accounts:
      - id: "{DEFAULT_ACCOUNT}"
      - id: "{OTHER}"
        role_arn: "arn:aws:iam::{OTHER}:role/inventory-reader"
    endpoint_url: {endpoint}
"#
    )
}

/// The columns saying where a row comes from: (account, region) for regional tables, (account)
/// for global ones, none for children that carry only their parent's key.
fn location_columns(table: &str) -> Vec<&'static str> {
    let table = trailsync_catalog::table(table).expect("a catalog table");
    let first =
        |names: [&'static str; 2]| names.into_iter().find(|n| table.column_index(n).is_some());
    let account = first(["account_id", "request_account_id"]);
    let region = first(["region", "request_region"]);
    account.into_iter().chain(account.and(region)).collect()
}

/// The number of rows of `table` whose columns equal these values (names come from the catalog
/// and values are bound as parameters).
async fn rows(store: &Store, table: &str, filter: &[(&str, &str)]) -> usize {
    let placeholder = |i: usize| match store {
        Store::Sqlite { .. } => format!("?{i}"),
        Store::Postgres(_) | Store::Server(_) => format!("${i}"),
    };
    let conditions: Vec<String> = filter
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = {}", placeholder(i + 1)))
        .collect();
    let mut sql = format!("SELECT count(*) FROM {table}");
    if !conditions.is_empty() {
        sql = format!("{sql} WHERE {}", conditions.join(" AND "));
    }
    let values: Vec<&str> = filter.iter().map(|(_, v)| *v).collect();
    let count: i64 = match store {
        Store::Sqlite { path, .. } => rusqlite::Connection::open(path)
            .expect("open sqlite")
            .query_row(&sql, rusqlite::params_from_iter(&values), |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}")),
        Store::Postgres(_) | Store::Server(_) => {
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values
                .iter()
                .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            store
                .pg()
                .await
                .expect("connect to the test database")
                .query_one(&sql, &params)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get(0)
        }
    };
    usize::try_from(count).expect("a count is not negative")
}

/// Whether a probe of an optional API met moto's "not implemented" (a bare HTTP 500).
fn not_implemented<E>(error: &aws_sdk_ec2::error::SdkError<E>) -> bool {
    error
        .raw_response()
        .is_some_and(|r| r.status().as_u16() == 500)
}

fn expect<T, E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> T + '_ {
    move |e| panic!("{what}: {e:?}")
}

// ---- EC2 ----

async fn seed_instances(w: &World, n: usize) {
    ec2::run_instances(&w.ec2, count(n), &[("seed", "instances")])
        .await
        .expect("run instances");
}

async fn count_instances(w: &World) -> usize {
    let reservations: Vec<Reservation> = w
        .ec2
        .describe_instances()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe instances"));
    reservations.iter().map(|r| r.instances().len()).sum()
}

async fn seed_vpcs(w: &World, n: usize) {
    for i in 0..n {
        create_vpc(w, &format!("10.{i}.0.0/16")).await;
    }
}

async fn count_vpcs(w: &World) -> usize {
    w.ec2
        .describe_vpcs()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe vpcs"))
        .len()
}

async fn seed_subnets(w: &World, n: usize) {
    let vpc = create_vpc(w, "10.100.0.0/16").await;
    for i in 0..n {
        create_subnet(w, &vpc, &format!("10.100.{i}.0/24")).await;
    }
}

async fn count_subnets(w: &World) -> usize {
    w.ec2
        .describe_subnets()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe subnets"))
        .len()
}

async fn seed_security_groups(w: &World, n: usize) {
    let vpc = create_vpc(w, "10.101.0.0/16").await;
    for i in 0..n {
        w.ec2
            .create_security_group()
            .group_name(format!("seeded-{i}"))
            .description("seeded")
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap_or_else(expect("create security group"));
    }
}

async fn count_security_groups(w: &World) -> usize {
    w.ec2
        .describe_security_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe security groups"))
        .len()
}

async fn seed_internet_gateways(w: &World, n: usize) {
    for _ in 0..n {
        w.ec2
            .create_internet_gateway()
            .send()
            .await
            .unwrap_or_else(expect("create internet gateway"));
    }
}

async fn count_internet_gateways(w: &World) -> usize {
    w.ec2
        .describe_internet_gateways()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe internet gateways"))
        .len()
}

async fn seed_route_tables(w: &World, n: usize) {
    let vpc = create_vpc(w, "10.102.0.0/16").await;
    for _ in 0..n {
        w.ec2
            .create_route_table()
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap_or_else(expect("create route table"));
    }
}

async fn count_route_tables(w: &World) -> usize {
    w.ec2
        .describe_route_tables()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe route tables"))
        .len()
}

async fn seed_network_interfaces(w: &World, n: usize) {
    let vpc = create_vpc(w, "10.103.0.0/16").await;
    let subnet = create_subnet(w, &vpc, "10.103.0.0/24").await;
    for _ in 0..n {
        w.ec2
            .create_network_interface()
            .subnet_id(&subnet)
            .send()
            .await
            .unwrap_or_else(expect("create network interface"));
    }
}

async fn count_network_interfaces(w: &World) -> usize {
    w.ec2
        .describe_network_interfaces()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe network interfaces"))
        .len()
}

/// Images of one instance; every other one shared with the second account.
async fn seed_nat_gateways(w: &World, n: usize) {
    let vpc = create_vpc(w, "10.203.0.0/16").await;
    let subnet = create_subnet(w, &vpc, "10.203.0.0/24").await;
    for _ in 0..n {
        let allocation = w
            .ec2
            .allocate_address()
            .send()
            .await
            .unwrap_or_else(expect("allocate address"))
            .allocation_id
            .unwrap_or_else(|| panic!("no allocation id"));
        w.ec2
            .create_nat_gateway()
            .subnet_id(&subnet)
            .allocation_id(allocation)
            .send()
            .await
            .unwrap_or_else(expect("create NAT gateway"));
    }
}

async fn count_nat_gateways(w: &World) -> usize {
    w.ec2
        .describe_nat_gateways()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe NAT gateways"))
        .len()
}

async fn seed_images(w: &World, n: usize) {
    let source = ec2::run_instances(&w.ec2, 1, &[("seed", "images")])
        .await
        .expect("instance to image");
    for i in 0..n {
        let image = w
            .ec2
            .create_image()
            .instance_id(&source[0])
            .name(format!("seeded-{i}"))
            .send()
            .await
            .unwrap_or_else(expect("create image"))
            .image_id
            .expect("image id");
        if i % 2 == 0 {
            w.ec2
                .modify_image_attribute()
                .image_id(&image)
                .launch_permission(
                    LaunchPermissionModifications::builder()
                        .add(LaunchPermission::builder().user_id(OTHER).build())
                        .build(),
                )
                .send()
                .await
                .unwrap_or_else(expect("share image"));
        }
    }
}

/// The images the account owns, as the reader lists them (`Owners=self`).
async fn own_images(w: &World) -> Vec<String> {
    w.ec2
        .describe_images()
        .owners("self")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("describe images"))
        .into_iter()
        .filter_map(|i| i.image_id)
        .collect()
}

async fn count_images(w: &World) -> usize {
    own_images(w).await.len()
}

async fn count_image_launch_permissions(w: &World) -> usize {
    let mut total = 0;
    for image in own_images(w).await {
        total += w
            .ec2
            .describe_image_attribute()
            .image_id(image)
            .attribute(ImageAttributeName::LaunchPermission)
            .send()
            .await
            .unwrap_or_else(expect("describe launch permissions"))
            .launch_permissions()
            .len();
    }
    total
}

/// One row per image whose last launch time AWS answers for.
async fn count_image_last_launched_times(w: &World) -> usize {
    let mut total = 0;
    for image in own_images(w).await {
        match w
            .ec2_once
            .describe_image_attribute()
            .image_id(image)
            .attribute(ImageAttributeName::LastLaunchedTime)
            .send()
            .await
        {
            Ok(_) => total += 1,
            Err(e) if not_implemented(&e) => return 0,
            Err(e) => panic!("describe last launched time: {e:?}"),
        }
    }
    total
}

async fn create_vpc(w: &World, cidr: &str) -> String {
    w.ec2
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .unwrap_or_else(expect("create vpc"))
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id")
}

async fn create_subnet(w: &World, vpc: &str, cidr: &str) -> String {
    w.ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .send()
        .await
        .unwrap_or_else(expect("create subnet"))
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("subnet id")
}

// ---- IAM ----

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":"s3:GetObject","Resource":"*"}]}"#;

/// A self-signed P-256 certificate (no key anywhere): moto parses signing certificates.
const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUNdUgBICVqHNGEf4BdlmTRLgTIckwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOdHJhaWxzeW5jLXRlc3QwIBcNMjYxMTI0MTA0MjI5WhgPMjEy
NjEwMzExMDQyMjlaMBkxFzAVBgNVBAMMDnRyYWlsc3luYy10ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAENgxHaXQFcU1ESs/5MLQ+xJHIw7POuk4gk/IkVDT9
VHCrk8OqJDgjOB/N/zl1xcNbkWE/umfsALPtxDY9Kz/AYqNTMFEwHQYDVR0OBBYE
FC+AWujjeTC04kCWANH6B+5NUlaFMB8GA1UdIwQYMBaAFC+AWujjeTC04kCWANH6
B+5NUlaFMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgGO/CEPuM
eOA4UH7a/+qCUGoKistjJiSa9bhlA7Hs3j0CIQDSM3l3H403wCbcnj2Ic21bvaZO
qFIPr9aIgL/y4rVdww==
-----END CERTIFICATE-----
";

const SSH_KEY: &str = "ssh-ed25519 \
    AAAAC3NzaC1lZDI1NTE5AAAAIHf/Y9zLXEUG/rDecE0ZkDWtM2LU7afdqw/pFwYLib1X trailsync-test";

/// A customer managed policy to attach; returns its ARN.
async fn managed_policy(w: &World, name: &str) -> String {
    w.iam
        .create_policy()
        .policy_name(name)
        .policy_document(POLICY)
        .send()
        .await
        .unwrap_or_else(expect("create policy"))
        .policy
        .and_then(|p| p.arn)
        .expect("policy ARN")
}

async fn seed_roles(w: &World, n: usize) {
    let policy = managed_policy(w, "seeded-roles").await;
    for i in 0..n {
        let name = format!("role-{i:02}");
        w.iam
            .create_role()
            .role_name(&name)
            .assume_role_policy_document(TRUST)
            .send()
            .await
            .unwrap_or_else(expect("create role"));
        w.iam
            .put_role_policy()
            .role_name(&name)
            .policy_name("inline")
            .policy_document(POLICY)
            .send()
            .await
            .unwrap_or_else(expect("put role policy"));
        w.iam
            .attach_role_policy()
            .role_name(&name)
            .policy_arn(&policy)
            .send()
            .await
            .unwrap_or_else(expect("attach role policy"));
    }
}

async fn role_names(w: &World) -> Vec<(String, String)> {
    w.iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("list roles"))
        .into_iter()
        .map(|r| (r.role_name, r.arn))
        .collect()
}

async fn count_roles(w: &World) -> usize {
    role_names(w).await.len()
}

async fn count_role_policies(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in role_names(w).await {
        total += w
            .iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list role policies"))
            .len();
    }
    total
}

async fn count_role_attached_policies(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in role_names(w).await {
        total += w
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list attached role policies"))
            .len();
    }
    total
}

async fn count_role_last_accessed(w: &World) -> usize {
    let arns = role_names(w).await.into_iter().map(|(_, arn)| arn);
    last_accessed(w, arns.collect()).await
}

async fn seed_users(w: &World, n: usize) {
    let policy = managed_policy(w, "seeded-users").await;
    w.iam
        .create_group()
        .group_name("members")
        .send()
        .await
        .unwrap_or_else(expect("create group"));
    for i in 0..n {
        let name = format!("user-{i:02}");
        let user = w.iam.create_user().user_name(&name);
        user.send().await.unwrap_or_else(expect("create user"));
        w.iam
            .put_user_policy()
            .user_name(&name)
            .policy_name("inline")
            .policy_document(POLICY)
            .send()
            .await
            .unwrap_or_else(expect("put user policy"));
        w.iam
            .attach_user_policy()
            .user_name(&name)
            .policy_arn(&policy)
            .send()
            .await
            .unwrap_or_else(expect("attach user policy"));
        w.iam
            .create_access_key()
            .user_name(&name)
            .send()
            .await
            .unwrap_or_else(expect("create access key"));
        w.iam
            .add_user_to_group()
            .group_name("members")
            .user_name(&name)
            .send()
            .await
            .unwrap_or_else(expect("add user to group"));
        w.iam
            .upload_signing_certificate()
            .user_name(&name)
            .certificate_body(CERTIFICATE)
            .send()
            .await
            .unwrap_or_else(expect("upload signing certificate"));
        w.iam
            .upload_ssh_public_key()
            .user_name(&name)
            .ssh_public_key_body(SSH_KEY)
            .send()
            .await
            .unwrap_or_else(expect("upload SSH key"));
    }
}

async fn user_names(w: &World) -> Vec<(String, String)> {
    w.iam
        .list_users()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("list users"))
        .into_iter()
        .map(|u| (u.user_name, u.arn))
        .collect()
}

async fn count_users(w: &World) -> usize {
    user_names(w).await.len()
}

async fn count_user_access_keys(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in user_names(w).await {
        total += w
            .iam
            .list_access_keys()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list access keys"))
            .len();
    }
    total
}

async fn count_user_groups(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in user_names(w).await {
        total += w
            .iam
            .list_groups_for_user()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list groups for user"))
            .len();
    }
    total
}

async fn count_user_policies(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in user_names(w).await {
        total += w
            .iam
            .list_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list user policies"))
            .len();
    }
    total
}

async fn count_user_attached_policies(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in user_names(w).await {
        total += w
            .iam
            .list_attached_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list attached user policies"))
            .len();
    }
    total
}

async fn count_user_last_accessed(w: &World) -> usize {
    let arns = user_names(w).await.into_iter().map(|(_, arn)| arn);
    last_accessed(w, arns.collect()).await
}

async fn count_signing_certificates(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in user_names(w).await {
        total += w
            .iam
            .list_signing_certificates()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list signing certificates"))
            .len();
    }
    total
}

async fn count_ssh_public_keys(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in user_names(w).await {
        total += w
            .iam
            .list_ssh_public_keys()
            .user_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list SSH public keys"))
            .len();
    }
    total
}

async fn seed_groups(w: &World, n: usize) {
    let policy = managed_policy(w, "seeded-groups").await;
    for i in 0..n {
        let name = format!("group-{i:02}");
        w.iam
            .create_group()
            .group_name(&name)
            .send()
            .await
            .unwrap_or_else(expect("create group"));
        w.iam
            .put_group_policy()
            .group_name(&name)
            .policy_name("inline")
            .policy_document(POLICY)
            .send()
            .await
            .unwrap_or_else(expect("put group policy"));
        w.iam
            .attach_group_policy()
            .group_name(&name)
            .policy_arn(&policy)
            .send()
            .await
            .unwrap_or_else(expect("attach group policy"));
    }
}

async fn group_names(w: &World) -> Vec<(String, String)> {
    w.iam
        .list_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("list groups"))
        .into_iter()
        .map(|g| (g.group_name, g.arn))
        .collect()
}

async fn count_groups(w: &World) -> usize {
    group_names(w).await.len()
}

async fn count_group_policies(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in group_names(w).await {
        total += w
            .iam
            .list_group_policies()
            .group_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list group policies"))
            .len();
    }
    total
}

async fn count_group_attached_policies(w: &World) -> usize {
    let mut total = 0;
    for (name, _) in group_names(w).await {
        total += w
            .iam
            .list_attached_group_policies()
            .group_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(expect("list attached group policies"))
            .len();
    }
    total
}

async fn count_group_last_accessed(w: &World) -> usize {
    let arns = group_names(w).await.into_iter().map(|(_, arn)| arn);
    last_accessed(w, arns.collect()).await
}

/// Last-accessed rows of these entities. moto does not implement the job API, which the probe
/// shows; a moto that does fails here, so that the count learns to read the job.
async fn last_accessed(w: &World, arns: Vec<String>) -> usize {
    let Some(arn) = arns.first() else {
        return 0;
    };
    match w
        .iam_once
        .generate_service_last_accessed_details()
        .arn(arn)
        .send()
        .await
    {
        Err(e) if not_implemented(&e) => 0,
        other => panic!(
            "moto now answers GenerateServiceLastAccessedDetails ({other:?}): \
             count the job's services here"
        ),
    }
}

// ---- RDS ----

async fn seed_db_instances(w: &World, n: usize) {
    for i in 0..n {
        w.rds
            .create_db_instance()
            .db_instance_identifier(format!("db-{i:02}"))
            .engine("postgres")
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .master_username("admin")
            .master_user_password("password123")
            .send()
            .await
            .unwrap_or_else(expect("create DB instance"));
    }
}

async fn count_db_instances(w: &World) -> usize {
    let mut pages = w.rds.describe_db_instances().into_paginator().send();
    let mut total = 0;
    while let Some(page) = pages.next().await {
        total += page
            .unwrap_or_else(expect("describe DB instances"))
            .db_instances()
            .len();
    }
    total
}

/// Aurora PostgreSQL clusters; in the home region the first one is Aurora MySQL with backtracking
/// on, so the sync asks for its backtracks.
async fn seed_db_clusters(w: &World, n: usize) {
    for i in 0..n {
        let backtracking = i == 0 && n == MANY;
        w.rds
            .create_db_cluster()
            .db_cluster_identifier(format!("cluster-{i:02}"))
            .engine(if backtracking {
                "aurora-mysql"
            } else {
                "aurora-postgresql"
            })
            .set_backtrack_window(backtracking.then_some(3600))
            .master_username("admin")
            .master_user_password("password123")
            .send()
            .await
            .unwrap_or_else(expect("create DB cluster"));
    }
}

async fn db_clusters(w: &World) -> Vec<aws_sdk_rds::types::DbCluster> {
    let mut pages = w.rds.describe_db_clusters().into_paginator().send();
    let mut clusters = Vec::new();
    while let Some(page) = pages.next().await {
        clusters.extend(
            page.unwrap_or_else(expect("describe DB clusters"))
                .db_clusters
                .unwrap_or_default(),
        );
    }
    clusters
}

async fn count_db_clusters(w: &World) -> usize {
    db_clusters(w).await.len()
}

async fn count_backtracks(w: &World) -> usize {
    let mut total = 0;
    for cluster in db_clusters(w).await {
        if cluster.backtrack_window().unwrap_or(0) == 0 {
            continue;
        }
        match w
            .rds_once
            .describe_db_cluster_backtracks()
            .db_cluster_identifier(cluster.db_cluster_identifier().unwrap_or_default())
            .send()
            .await
        {
            Ok(answer) => total += answer.db_cluster_backtracks().len(),
            Err(e) if not_implemented(&e) => {}
            Err(e) => panic!("describe backtracks: {e:?}"),
        }
    }
    total
}

// ---- ECS ----

/// Clusters with a container instance each (on one EC2 instance) and two tasks, one of them
/// stopped in every other cluster. Names are fixed-width: moto matches a task's cluster by
/// substring of its ARN.
async fn seed_ecs_clusters(w: &World, n: usize) {
    let host = ec2::run_instances(&w.ec2, 1, &[("seed", "ecs")])
        .await
        .expect("container host");
    let identity = format!(r#"{{"instanceId":"{}","region":"{}"}}"#, host[0], w.region);
    w.ecs
        .register_task_definition()
        .family("web")
        .requires_compatibilities(Compatibility::Ec2)
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image("nginx")
                .cpu(10)
                .memory(16)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(expect("register task definition"));
    for i in 0..n {
        let name = format!("cluster-{i:02}");
        w.ecs
            .create_cluster()
            .cluster_name(&name)
            .send()
            .await
            .unwrap_or_else(expect("create cluster"));
        w.ecs
            .register_container_instance()
            .cluster(&name)
            .instance_identity_document(&identity)
            .send()
            .await
            .unwrap_or_else(expect("register container instance"));
        let tasks = w
            .ecs
            .run_task()
            .cluster(&name)
            .task_definition("web")
            .launch_type(LaunchType::Ec2)
            .count(2)
            .send()
            .await
            .unwrap_or_else(expect("run tasks"));
        if i % 2 == 0
            && let Some(arn) = tasks.tasks().first().and_then(|t| t.task_arn())
        {
            w.ecs
                .stop_task()
                .cluster(&name)
                .task(arn)
                .send()
                .await
                .unwrap_or_else(expect("stop task"));
        }
    }
}

async fn ecs_cluster_arns(w: &World) -> Vec<String> {
    w.ecs
        .list_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap_or_else(expect("list clusters"))
}

async fn count_ecs_clusters(w: &World) -> usize {
    ecs_cluster_arns(w).await.len()
}

/// Running and stopped tasks of every cluster (none is deleted here, so all are active).
async fn count_ecs_tasks(w: &World) -> usize {
    let mut tasks = std::collections::BTreeSet::new();
    for cluster in ecs_cluster_arns(w).await {
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let arns: Vec<String> = w
                .ecs
                .list_tasks()
                .cluster(&cluster)
                .desired_status(status)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .unwrap_or_else(expect("list tasks"));
            tasks.extend(arns);
        }
    }
    tasks.len()
}

fn count(n: usize) -> i32 {
    i32::try_from(n).expect("a small count")
}
