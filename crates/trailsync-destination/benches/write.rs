//! Throughput of the destination write path, for SQLite (a temporary file) and PostgreSQL (a
//! fresh database on the test server, created and dropped here), with realistic
//! `aws_ec2_instances` rows: the real catalog table, built by `Row::from_json` from an instance
//! rendered as the EC2 reader renders it (60+ columns, nested JSON).
//!
//! Three workloads, in this order on one database:
//! 1. full sync: 20,000 new resources in batches of 500 (the insert path);
//! 2. stream: 1,000 batches of one resource and one checkpoint each (one commit per batch);
//! 3. re-upsert of the same 20,000 rows with a new sync time (the update path).
//!
//! Prints its figures; docs/BENCHMARKS.md records them with the command that produced them.
//! PostgreSQL is at `TRAILSYNC_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`),
//! administered through its `test` database, as in the crate's tests; when it is unreachable the
//! bench says so and measures SQLite only.

// `json!` of an instance's 60-odd fields needs more than the default 128.
#![recursion_limit = "256"]

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value as Json, json};
use trailsync_catalog::{Resource, Row, tables::ec2};
use trailsync_core::{
    Checkpoint, Destination, DestinationError, DestinationKind as Kind, Position, SequenceNumber,
    WriteBatch, WriteMode,
};
use trailsync_destination::connect;

const RESOURCES: usize = 20_000;
const BATCH: usize = 500;
const STREAM_COMMITS: usize = 1_000;
const SOURCE: &str = "aws-bench";
const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/cloudtrail";

#[tokio::main]
async fn main() {
    let resources: Vec<Resource> = (0..RESOURCES).map(instance).collect();
    let columns = ec2::INSTANCES.columns.len();
    let json_bytes: usize = resources
        .iter()
        .flat_map(|r| &r.row.values)
        .map(|v| match v {
            trailsync_catalog::Value::Json(j) => j.to_string().len(),
            _ => 0,
        })
        .sum::<usize>()
        / RESOURCES;
    println!(
        "{RESOURCES} aws_ec2_instances rows, {columns} columns, ~{json_bytes} bytes of JSON columns per row"
    );

    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("inventory.db");
    match connect(
        Kind::Sqlite,
        &path.to_string_lossy(),
        WriteMode::OverwriteDeleteStale,
    )
    .await
    {
        Ok(destination) => report(Kind::Sqlite, run(destination.as_ref(), &resources).await),
        Err(error) => println!("sqlite: cannot open {}: {error}", path.display()),
    }

    let server = std::env::var("TRAILSYNC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string());
    match ScratchDatabase::create(&server).await {
        Ok(scratch) => {
            let figures = match connect(
                Kind::Postgres,
                &scratch.url,
                WriteMode::OverwriteDeleteStale,
            )
            .await
            {
                Ok(destination) => run(destination.as_ref(), &resources).await,
                Err(error) => Err(error),
            };
            report(Kind::Postgres, figures);
            scratch.drop_database().await;
        }
        Err(error) => {
            println!("postgresql: UNREACHABLE at {server}/test ({error}); measured SQLite only")
        }
    }
}

/// What one destination achieved.
struct Figures {
    full_sync: Phase,
    stream: Phase,
    reupsert: Phase,
}

/// One workload: how many rows in how many commits, over how long, and each commit's latency.
struct Phase {
    rows: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64()
    }

    fn commits_per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`th percentile of the commit latencies, in milliseconds (nearest rank).
    fn percentile_ms(&self, p: usize) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1e3
    }
}

async fn run(
    destination: &dyn Destination,
    resources: &[Resource],
) -> Result<Figures, DestinationError> {
    destination.migrate(&[&ec2::INSTANCES]).await?;
    let first = Utc
        .with_ymd_and_hms(2026, 11, 24, 10, 0, 0)
        .single()
        .expect("a valid instant");

    let full_sync = batches(destination, resources, first).await?;

    let mut latencies = Vec::with_capacity(STREAM_COMMITS);
    let started = Instant::now();
    for (i, resource) in resources.iter().take(STREAM_COMMITS).enumerate() {
        let mut batch = WriteBatch::new(SOURCE, first + Duration::from_millis(i as u64 + 1));
        batch.upserts.push(resource.clone());
        batch.checkpoints.push(Checkpoint {
            source_name: SOURCE.to_string(),
            stream_arn: STREAM_ARN.to_string(),
            shard_id: "shardId-000000000000".to_string(),
            position: Position::After(SequenceNumber::new(format!("{:056}", i)).expect("digits")),
            // No lease: the first commit creates the checkpoint row at epoch 0.
            epoch: 0,
        });
        let commit = Instant::now();
        destination.write(&batch).await?;
        latencies.push(commit.elapsed());
    }
    let stream = Phase {
        rows: STREAM_COMMITS,
        elapsed: started.elapsed(),
        latencies,
    };

    let reupsert = batches(destination, resources, first + Duration::from_secs(3600)).await?;
    Ok(Figures {
        full_sync,
        stream,
        reupsert,
    })
}

/// Writes every resource in batches of [`BATCH`], one transaction each.
async fn batches(
    destination: &dyn Destination,
    resources: &[Resource],
    sync_time: DateTime<Utc>,
) -> Result<Phase, DestinationError> {
    let mut latencies = Vec::with_capacity(resources.len() / BATCH + 1);
    let started = Instant::now();
    for chunk in resources.chunks(BATCH) {
        let mut batch = WriteBatch::new(SOURCE, sync_time);
        batch.upserts = chunk.to_vec();
        let commit = Instant::now();
        destination.write(&batch).await?;
        latencies.push(commit.elapsed());
    }
    Ok(Phase {
        rows: resources.len(),
        elapsed: started.elapsed(),
        latencies,
    })
}

fn report(kind: Kind, figures: Result<Figures, DestinationError>) {
    let figures = match figures {
        Ok(figures) => figures,
        Err(error) => {
            println!("{kind}: failed: {error}");
            return;
        }
    };
    let kind = kind.as_str();
    let batched = |name: &str, phase: &Phase| {
        println!(
            "{kind:<10} {name}: {} rows in {} batches of {BATCH}: {:.0} rows/s, {:.2} s, batch p50 {:.1} ms, p99 {:.1} ms",
            phase.rows,
            phase.latencies.len(),
            phase.rows_per_sec(),
            phase.elapsed.as_secs_f64(),
            phase.percentile_ms(50),
            phase.percentile_ms(99),
        );
    };
    batched("full sync (insert)", &figures.full_sync);
    let stream = &figures.stream;
    println!(
        "{kind:<10} stream: {} single-resource batches with a checkpoint: {:.0} commits/s, commit p50 {:.2} ms, p99 {:.2} ms",
        stream.latencies.len(),
        stream.commits_per_sec(),
        stream.percentile_ms(50),
        stream.percentile_ms(99),
    );
    batched("re-upsert (update)", &figures.reupsert);
}

/// A database of its own on the PostgreSQL server, dropped by [`ScratchDatabase::drop_database`].
struct ScratchDatabase {
    admin: tokio_postgres::Client,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create(server: &str) -> Result<ScratchDatabase, tokio_postgres::Error> {
        let (admin, connection) =
            tokio_postgres::connect(&format!("{server}/test"), tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        // Hex digits only: safe to put in SQL text.
        let name = format!("trailsync_bench_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        let url = format!("{server}/{name}");
        Ok(ScratchDatabase { admin, name, url })
    }

    async fn drop_database(self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(error) = self.admin.batch_execute(&sql).await {
            println!("postgresql: could not drop database {}: {error}", self.name);
        }
    }
}

/// The `n`th instance, as the EC2 reader renders one (CloudQuery's JSON of `types.Instance`
/// plus the computed columns), with the ids, addresses and names that differ between instances.
fn instance(n: usize) -> Resource {
    let id = format!("i-{n:017x}");
    let ip = format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    let eni = format!("eni-{n:017x}");
    let dns = format!("ip-{}.ec2.internal", ip.replace('.', "-"));
    // The instance's primary interface.
    let network_interface = json!({
            "Association": {"CarrierIp": null, "CustomerOwnedIp": null, "IpOwnerId": "amazon", "PublicDnsName": "", "PublicIp": null},
            "Attachment": {"AttachTime": "2026-11-20T08:15:01Z", "AttachmentId": format!("eni-attach-{n:017x}"), "DeleteOnTermination": true, "DeviceIndex": 0, "EnaSrdSpecification": null, "NetworkCardIndex": 0, "Status": "attached"},
            "ConnectionTrackingConfiguration": null,
            "Description": "",
            "Groups": [{"GroupId": "sg-0a1b2c3d4e5f60718", "GroupName": "web"}, {"GroupId": "sg-0f1e2d3c4b5a69788", "GroupName": "ssh-from-bastion"}],
            "InterfaceType": "interface",
            "Ipv4Prefixes": null,
            "Ipv6Addresses": [],
            "Ipv6Prefixes": null,
            "MacAddress": "0e:4c:1a:2b:3c:4d",
            "NetworkInterfaceId": eni,
            "Operator": null,
            "OwnerId": "111122223333",
            "PrivateDnsName": dns,
            "PrivateIpAddress": ip,
            "PrivateIpAddresses": [{"Association": null, "Primary": true, "PrivateDnsName": dns, "PrivateIpAddress": ip}],
            "SourceDestCheck": true,
            "Status": "in-use",
            "SubnetId": "subnet-0123456789abcdef0",
            "VpcId": "vpc-0123456789abcdef0",
    });
    let object = json!({
        "account_id": "111122223333",
        "region": "us-east-1",
        "arn": format!("arn:aws:ec2:us-east-1:111122223333:instance/{id}"),
        "tags": {
            "Name": format!("web-{n}"),
            "team": "platform",
            "env": "production",
            "cost-center": "cc-1042",
            "aws:autoscaling:groupName": "web-asg",
        },
        "AmiLaunchIndex": 0,
        "Architecture": "x86_64",
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"AttachTime": "2026-11-20T08:15:02Z", "DeleteOnTermination": true, "Status": "attached", "VolumeId": format!("vol-{n:017x}"), "AssociatedResource": null, "VolumeOwnerId": null, "Operator": null}},
            {"DeviceName": "/dev/sdf", "Ebs": {"AttachTime": "2026-11-20T08:15:02Z", "DeleteOnTermination": false, "Status": "attached", "VolumeId": format!("vol-{:017x}", n + 1_000_000), "AssociatedResource": null, "VolumeOwnerId": null, "Operator": null}},
        ],
        "BootMode": "uefi-preferred",
        "CapacityReservationId": null,
        "CapacityReservationSpecification": {"CapacityReservationPreference": "open", "CapacityReservationTarget": null},
        "ClientToken": format!("terraform-{n:08}"),
        "CpuOptions": {"AmdSevSnp": null, "CoreCount": 1, "ThreadsPerCore": 2},
        "CurrentInstanceBootMode": "legacy-bios",
        "EbsOptimized": true,
        "ElasticGpuAssociations": null,
        "ElasticInferenceAcceleratorAssociations": null,
        "EnaSupport": true,
        "EnclaveOptions": {"Enabled": false},
        "HibernationOptions": {"Configured": false},
        "Hypervisor": "xen",
        "IamInstanceProfile": {"Arn": "arn:aws:iam::111122223333:instance-profile/web", "Id": "AIPAEXAMPLEPROFILE01"},
        "ImageId": "ami-0fc5d935ebf8bc3bc",
        "InstanceId": id,
        "InstanceLifecycle": null,
        "InstanceType": "m6i.large",
        "Ipv6Address": null,
        "KernelId": null,
        "KeyName": "ops-2026",
        "LaunchTime": "2026-11-20T08:15:01Z",
        "Licenses": null,
        "MaintenanceOptions": {"AutoRecovery": "default", "RebootMigration": "default"},
        "MetadataOptions": {"HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled", "HttpPutResponseHopLimit": 2, "HttpTokens": "required", "InstanceMetadataTags": "disabled", "State": "applied"},
        "Monitoring": {"State": "disabled"},
        "NetworkInterfaces": [network_interface],
        "OutpostArn": null,
        "Placement": {"Affinity": null, "AvailabilityZone": "us-east-1a", "GroupId": null, "GroupName": "", "HostId": null, "HostResourceGroupArn": null, "PartitionNumber": null, "SpreadDomain": null, "Tenancy": "default"},
        "Platform": null,
        "PlatformDetails": "Linux/UNIX",
        "PrivateDnsName": dns,
        "PrivateDnsNameOptions": {"EnableResourceNameDnsAAAARecord": false, "EnableResourceNameDnsARecord": false, "HostnameType": "ip-name"},
        "PrivateIpAddress": ip,
        "ProductCodes": [],
        "PublicDnsName": "",
        "PublicIpAddress": null,
        "RamdiskId": null,
        "RootDeviceName": "/dev/xvda",
        "RootDeviceType": "ebs",
        "SecurityGroups": [{"GroupId": "sg-0a1b2c3d4e5f60718", "GroupName": "web"}, {"GroupId": "sg-0f1e2d3c4b5a69788", "GroupName": "ssh-from-bastion"}],
        "SourceDestCheck": true,
        "SpotInstanceRequestId": null,
        "SriovNetSupport": "simple",
        "State": {"Code": 16, "Name": "running"},
        "StateReason": null,
        "StateTransitionReason": "",
        "SubnetId": "subnet-0123456789abcdef0",
        "TpmSupport": null,
        "UsageOperation": "RunInstances",
        "UsageOperationUpdateTime": "2026-11-20T08:15:01Z",
        "VirtualizationType": "hvm",
        "VpcId": "vpc-0123456789abcdef0",
    });
    let object: Map<String, Json> = match object {
        Json::Object(map) => map,
        _ => unreachable!("json! of an object literal"),
    };
    let row = Row::from_json(&ec2::INSTANCES, &object, None).expect("the arn is set");
    Resource::new(row)
}
