//! End-to-end figures of the release build against moto, each printed beside its floor or a
//! naive baseline measured in the same run (docs/BENCHMARKS.md keeps them with the command):
//!
//! - `latency`: event -> row through CloudWatch Logs -> subscription -> a 4-shard stream, at a
//!   steady 20, 50 and 200 events/s of `CreateTags` over 100 instances, into SQLite and
//!   PostgreSQL. The floor is the sum of the round trips no consumer can avoid: the put into
//!   the stream, one `GetRecords` and one `DescribeInstances`.
//! - `api-cost`: a burst of 2,000 events over 100 resources of 5 tables; AWS calls counted by a
//!   proxy in front of moto against one call per event, and the rows compared with moto's.
//! - `full-sync`: 2,000 instances, 500 security groups and 300 roles (each with an inline and an
//!   attached policy) into SQLite and PostgreSQL, against a minimal client on the same SDK that
//!   makes the same paginated calls and writes nothing (this binary, run as `floor-full-sync`).
//! - `memory`: peak RSS while streaming 50 events/s for 10 minutes (SQLite).
//! - `scale`: the full sync at its size and with 10x the instances (SQLite), or with 10x the
//!   roles (`TRAILSYNC_BENCH_SCALE=roles`; moto cannot serve 20,000 instances in time).
//!
//! - `latency-window`: the 200 events/s run again with `coalesce_window: 250ms`.
//!
//! `cargo bench --workspace --bench pipeline -- [SCENARIO...]` (all but `memory` by default).
//! Needs moto (scripts/setup-moto.sh) and PostgreSQL at 127.0.0.1:5432, as the tests do.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_kinesis::error::DisplayErrorContext;
use common::{StreamingSource, Trailsync};
use futures::StreamExt;
use serde_json::{Value, json};
use trailsync_testkit::{CloudTrailPipe, FaultProxy, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";
/// Kinesis, CloudWatch Logs and STS calls: the stream and the identity, not fetches of resources.
const NOT_FETCHES: &[&str] = &[
    "GetRecords",
    "GetShardIterator",
    "ListShards",
    "DescribeStream",
    "DescribeStreamSummary",
    "GetCallerIdentity",
];

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if args.first().map(String::as_str) == Some("floor-full-sync") {
        let endpoint = args.get(1).cloned().unwrap_or_default();
        if let Err(e) = runtime.block_on(floor_full_sync(&endpoint)) {
            eprintln!("floor-full-sync: {e}");
            std::process::exit(1);
        }
        return;
    }
    let all = [
        "latency",
        "latency-window",
        "api-cost",
        "full-sync",
        "scale",
    ];
    let scenarios: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    println!(
        "trailsync end-to-end benchmarks against moto, {}",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    for scenario in scenarios {
        let outcome = runtime.block_on(async {
            match scenario {
                "latency" => latency_all().await,
                "latency-window" => latency_window().await,
                "api-cost" => api_cost().await,
                "full-sync" => full_sync_all().await,
                "memory" => memory().await,
                "scale" => scale().await,
                other => Err(format!("unknown scenario {other}").into()),
            }
        });
        if let Err(e) = outcome {
            eprintln!("{scenario}: failed: {e}");
            std::process::exit(1);
        }
    }
}

// ----------------------------------------------------------------------------------- latency

/// One latency run's figures.
struct Latency {
    /// Milliseconds from put to row, one per event.
    millis: Vec<f64>,
    /// Events that never reached a row.
    lost: usize,
    achieved_rate: f64,
    floor_millis: f64,
    /// (seconds since streaming began, resident KiB) samples of the trailsync process.
    rss: Vec<(f64, u64)>,
    /// Resident KiB after the full sync, before the first event.
    rss_before: u64,
    /// Peak resident KiB of the process (VmHWM) at the end.
    rss_peak: u64,
    /// DescribeInstances calls trailsync made while the events streamed.
    fetches: u64,
}

async fn latency_all() -> BenchResult<()> {
    println!("\n== event -> row latency (CreateTags over 100 instances, 4 shards)");
    print_latency_header();
    for postgres in [false, true] {
        for rate in [20, 50, 200] {
            let seconds = if rate == 200 { 15 } else { 20 };
            let run = latency(postgres, rate, Duration::from_secs(seconds), None, false).await?;
            print_latency(postgres, "1s", &run);
        }
    }
    Ok(())
}

/// The busiest rate again with a shorter coalescing window: latency bought with fetches.
async fn latency_window() -> BenchResult<()> {
    println!("\n== event -> row latency at 200 events/s, coalesce_window 250ms");
    print_latency_header();
    for postgres in [false, true] {
        let seconds = Duration::from_secs(15);
        let run = latency(postgres, 200, seconds, Some("250ms"), false).await?;
        print_latency(postgres, "250ms", &run);
    }
    Ok(())
}

fn print_latency_header() {
    println!(
        "{:<11} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>8} {:>8}",
        "destination",
        "window",
        "ev/s",
        "events",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "lost",
        "fetches",
        "floor ms"
    );
}

fn print_latency(postgres: bool, window: &str, run: &Latency) {
    let mut sorted = run.millis.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{:<11} {:>6} {:>6.0} {:>7} {:>7.0} {:>7.0} {:>7.0} {:>7.0} {:>5} {:>8} {:>8.0}",
        if postgres { "PostgreSQL" } else { "SQLite" },
        window,
        run.achieved_rate,
        sorted.len(),
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.95),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or_default(),
        run.lost,
        run.fetches,
        run.floor_millis,
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Streams `rate` CreateTags events/s for `duration` and measures each from put to row.
async fn latency(
    postgres: bool,
    rate: u32,
    duration: Duration,
    coalesce_window: Option<&str>,
    sample_rss: bool,
) -> BenchResult<Latency> {
    const INSTANCES: usize = 100;
    const TICK: Duration = Duration::from_millis(100);
    let moto = Moto::start().await?;
    // Counts trailsync's calls; adds well under a millisecond to each.
    let proxy = FaultProxy::start(&moto.endpoint()).await?;
    let sdk = moto.sdk_config(REGION);
    let ec2_client = aws_sdk_ec2::Client::new(&sdk);
    let ids = ec2::run_instances(&ec2_client, INSTANCES as i32, &[]).await?;
    let pipe = CloudTrailPipe::create(&sdk, "bench-latency", 4).await?;
    let store = store(postgres).await;
    let window = coalesce_window.map(|w| format!("coalesce_window: {w}"));
    let options: Vec<&str> = window.iter().map(String::as_str).collect();
    let config = StreamingSource {
        name: "bench",
        tables: &["aws_ec2_instances"],
        skip_tables: &[],
        region: REGION,
        endpoint: &proxy.endpoint(),
        stream_arn: pipe.stream_arn(),
        stream_options: &options,
    }
    .config(&[("inventory", &store)]);
    let trailsync = Trailsync::sync(&config);
    let pid = trailsync.pid();
    let poller = Poller::connect(&store).await?;

    wait_until(Duration::from_secs(120), || {
        let store = &store;
        async move { store.count("aws_ec2_instances").await == Some(INSTANCES as i64) }
    })
    .await
    .map_err(|_| format!("the full sync did not finish:\n{}", trailsync.log()))?;
    go_live(&ec2_client, &pipe, &ids[0], || {
        let poller = &poller;
        let id = &ids[0];
        async move { poller.values().await.remove(id) }
    })
    .await
    .map_err(|e| format!("{e}:\n{}", trailsync.log()))?;
    let rss_before = rss_kib(pid, "VmRSS");
    let fetches_before = proxy.calls("DescribeInstances");

    // Observe the rows every 10 ms: the first time an instance shows tick t or later, every
    // event of it up to t has landed.
    let observed: Arc<Mutex<Vec<(String, u64, Instant)>>> = Arc::default();
    let watching = tokio::spawn({
        let observed = observed.clone();
        async move {
            let mut best: HashMap<String, u64> = HashMap::new();
            loop {
                let now = Instant::now();
                for (id, value) in poller.values().await {
                    let Ok(value) = value.parse::<u64>() else {
                        continue;
                    };
                    if best.get(&id).is_none_or(|b| value > *b) {
                        best.insert(id.clone(), value);
                        lock(&observed).push((id, value, now));
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });

    let per_tick = (rate as usize / 10).max(1);
    let ticks = (duration.as_millis() / TICK.as_millis()) as u64;
    let mut sent: Vec<(String, u64, Instant)> = Vec::new();
    let mut put_millis = Vec::new();
    let mut rss = Vec::new();
    let started = Instant::now();
    let mut interval = tokio::time::interval(TICK);
    for tick in 1..=ticks {
        interval.tick().await;
        let first = (tick as usize * per_tick) % INSTANCES;
        let chosen: Vec<String> = (0..per_tick)
            .map(|j| ids[(first + j) % INSTANCES].clone())
            .collect();
        let put_at = tag(&ec2_client, &pipe, &chosen, tick).await?;
        put_millis.push(put_at.1.as_secs_f64() * 1e3);
        sent.extend(chosen.into_iter().map(|id| (id, tick, put_at.0)));
        if sample_rss && tick % 50 == 0 {
            rss.push((started.elapsed().as_secs_f64(), rss_kib(pid, "VmRSS")));
        }
    }
    let achieved_rate = sent.len() as f64 / started.elapsed().as_secs_f64();

    // Every event lands, or is counted as lost after 30 s.
    let last = sent.len();
    let _ = wait_until(Duration::from_secs(30), || {
        let landed_now = landed(&sent, &lock(&observed)).iter().flatten().count();
        async move { landed_now == last }
    })
    .await;
    watching.abort();
    let fetches = proxy.calls("DescribeInstances") - fetches_before;
    let landed_at = landed(&sent, &lock(&observed));
    let millis: Vec<f64> = sent
        .iter()
        .zip(&landed_at)
        .filter_map(|((_, _, put), at)| Some(at.as_ref()?.duration_since(*put).as_secs_f64() * 1e3))
        .collect();
    let lost = landed_at.iter().filter(|a| a.is_none()).count();
    let rss_peak = rss_kib(pid, "VmHWM");

    // The floor: the put (moto delivers into Kinesis within it), a GetRecords and a
    // DescribeInstances, each the median of this run's samples.
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let shard = pipe
        .shards()
        .await?
        .first()
        .map(|s| s.shard_id().to_string());
    let mut get_records = Vec::new();
    let mut describe = Vec::new();
    for _ in 0..20 {
        let iterator = kinesis
            .get_shard_iterator()
            .stream_arn(pipe.stream_arn())
            .shard_id(shard.clone().unwrap_or_default())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::Latest)
            .send()
            .await
            .map_err(|e| format!("GetShardIterator: {}", DisplayErrorContext(&e)))?
            .shard_iterator
            .unwrap_or_default();
        let t = Instant::now();
        kinesis
            .get_records()
            .stream_arn(pipe.stream_arn())
            .shard_iterator(iterator)
            .send()
            .await
            .map_err(|e| format!("GetRecords: {}", DisplayErrorContext(&e)))?;
        get_records.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        ec2_client
            .describe_instances()
            .instance_ids(&ids[0])
            .send()
            .await
            .map_err(|e| format!("DescribeInstances: {}", DisplayErrorContext(&e)))?;
        describe.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let floor_millis = median(put_millis) + median(get_records) + median(describe);
    drop(trailsync);
    if let common::Store::Postgres(_) = store {
        store.cleanup().await;
    }
    Ok(Latency {
        millis,
        lost,
        achieved_rate,
        floor_millis,
        rss,
        rss_before,
        rss_peak,
        fetches,
    })
}

/// For each sent (instance, tick, put time), when its row first showed that tick or later.
fn landed(
    sent: &[(String, u64, Instant)],
    observed: &[(String, u64, Instant)],
) -> Vec<Option<Instant>> {
    let mut by_instance: HashMap<&str, Vec<(u64, Instant)>> = HashMap::new();
    for (id, value, at) in observed {
        by_instance.entry(id).or_default().push((*value, *at));
    }
    sent.iter()
        .map(|(id, tick, _)| {
            by_instance
                .get(id.as_str())?
                .iter()
                .find(|(value, _)| value >= tick)
                .map(|(_, at)| *at)
        })
        .collect()
}

/// Tags `ids` with `bench=value` in moto, then puts one CloudTrail event per instance into the
/// log group; returns when the put began and how long it took.
async fn tag(
    client: &aws_sdk_ec2::Client,
    pipe: &CloudTrailPipe,
    ids: &[String],
    value: u64,
) -> BenchResult<(Instant, Duration)> {
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let value = value.to_string();
    ec2::create_tags(client, &refs, &[("bench", &value)]).await?;
    let events: Vec<Value> = refs
        .iter()
        .map(|id| cloudtrail::create_tags(pipe.account_id(), REGION, &[id], &[("bench", &value)]))
        .collect();
    let put_at = Instant::now();
    pipe.send(&events).await?;
    Ok((put_at, put_at.elapsed()))
}

/// Waits until the stream is read: tags `id` (`live-1`, `live-2`, ...) with an event each,
/// every 3 s, until `stored` shows the latest value. Call after the full sync, so that only the
/// stream can bring the value.
async fn go_live<F, Fut>(
    client: &aws_sdk_ec2::Client,
    pipe: &CloudTrailPipe,
    id: &str,
    mut stored: F,
) -> BenchResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    for attempt in 1.. {
        let value = format!("live-{attempt}");
        ec2::create_tags(client, &[id], &[("bench", &value)]).await?;
        let event = cloudtrail::create_tags(pipe.account_id(), REGION, &[id], &[("bench", &value)]);
        pipe.send(&[event]).await?;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if stored().await.as_deref() == Some(value.as_str()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if Instant::now() > deadline {
            break;
        }
    }
    Err("the stream's events did not reach the inventory in 120 s".into())
}

/// Reads the `bench` tag of every stored instance over one connection.
enum Poller {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Postgres(tokio_postgres::Client),
}

impl Poller {
    async fn connect(store: &common::Store) -> BenchResult<Poller> {
        match store {
            common::Store::Sqlite { path, .. } => {
                // The file appears when trailsync creates it.
                wait_until(Duration::from_secs(60), || {
                    let exists = path.exists();
                    async move { exists }
                })
                .await?;
                Ok(Poller::Sqlite(Arc::new(Mutex::new(
                    rusqlite::Connection::open(path)?,
                ))))
            }
            _ => Ok(Poller::Postgres(
                store.pg().await.ok_or("connect to PostgreSQL")?,
            )),
        }
    }

    async fn values(&self) -> HashMap<String, String> {
        const SQLITE: &str =
            "SELECT instance_id, json_extract(tags, '$.bench') FROM aws_ec2_instances";
        const POSTGRES: &str = "SELECT instance_id, tags->>'bench' FROM aws_ec2_instances";
        let rows: Vec<(String, Option<String>)> = match self {
            Poller::Sqlite(conn) => {
                let conn = lock(conn);
                conn.prepare_cached(SQLITE)
                    .and_then(|mut stmt| {
                        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Poller::Postgres(client) => client
                .query(POSTGRES, &[])
                .await
                .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
                .unwrap_or_default(),
        };
        rows.into_iter()
            .filter_map(|(id, value)| Some((id, value?)))
            .collect()
    }
}

// ---------------------------------------------------------------------------------- api cost

async fn api_cost() -> BenchResult<()> {
    const PER_TABLE: usize = 20;
    const EVENTS: usize = 2_000;
    println!("\n== API cost: a burst of {EVENTS} events over 100 resources of 5 tables (SQLite)");
    let moto = Moto::start().await?;
    let proxy = FaultProxy::start(&moto.endpoint()).await?;
    let sdk = moto.sdk_config(REGION);
    let ec2_client = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let mut ec2_ids = ec2::run_instances(&ec2_client, PER_TABLE as i32, &[]).await?;
    let mut vpcs = Vec::new();
    for i in 0..PER_TABLE {
        let vpc = ec2_client
            .create_vpc()
            .cidr_block(format!("10.{}.0.0/16", i + 1))
            .send()
            .await?;
        vpcs.push(
            vpc.vpc
                .and_then(|v| v.vpc_id)
                .ok_or("CreateVpc without an id")?,
        );
    }
    for i in 0..PER_TABLE {
        let group = ec2_client
            .create_security_group()
            .group_name(format!("bench-{i}"))
            .description("bench")
            .vpc_id(&vpcs[0])
            .send()
            .await?;
        ec2_ids.push(group.group_id.ok_or("CreateSecurityGroup without an id")?);
    }
    for i in 0..PER_TABLE {
        let subnet = ec2_client
            .create_subnet()
            .vpc_id(&vpcs[1])
            .cidr_block(format!("10.2.{i}.0/24"))
            .send()
            .await?;
        ec2_ids.push(
            subnet
                .subnet
                .and_then(|s| s.subnet_id)
                .ok_or("CreateSubnet without an id")?,
        );
    }
    ec2_ids.extend(vpcs.iter().cloned());
    let roles: Vec<String> = (0..PER_TABLE).map(|i| format!("bench-role-{i}")).collect();
    for role in &roles {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(ASSUME_ROLE_POLICY)
            .send()
            .await?;
    }
    let pipe = CloudTrailPipe::create(&sdk, "bench-api-cost", 4).await?;
    let store = common::Store::sqlite();
    let tables = [
        "aws_ec2_instances",
        "aws_ec2_security_groups",
        "aws_ec2_subnets",
        "aws_ec2_vpcs",
        "aws_iam_roles",
    ];
    let config = StreamingSource {
        name: "bench",
        tables: &tables,
        skip_tables: &[],
        region: REGION,
        endpoint: &proxy.endpoint(),
        stream_arn: pipe.stream_arn(),
        stream_options: &[],
    }
    .config(&[("inventory", &store)]);
    let trailsync = Trailsync::sync(&config);
    let account = pipe.account_id().to_string();
    wait_until(Duration::from_secs(120), || {
        let store = &store;
        async move { store.count("aws_iam_roles").await == Some(PER_TABLE as i64) }
    })
    .await
    .map_err(|_| format!("the full sync did not finish:\n{}", trailsync.log()))?;
    go_live(&ec2_client, &pipe, &ec2_ids[0], || {
        let store = &store;
        let id = &ec2_ids[0];
        async move { store.tag_values("bench").await.remove(id) }
    })
    .await
    .map_err(|e| format!("{e}:\n{}", trailsync.log()))?;
    let before = proxy.all_calls();

    // The burst: 20 rounds; each changes every resource once in moto, then puts its 100 events.
    let rounds = EVENTS / (ec2_ids.len() + roles.len());
    let started = Instant::now();
    for round in 0..rounds {
        let value = round.to_string();
        let refs: Vec<&str> = ec2_ids.iter().map(String::as_str).collect();
        ec2::create_tags(&ec2_client, &refs, &[("bench", &value)]).await?;
        let mut events: Vec<Value> = refs
            .iter()
            .map(|id| cloudtrail::create_tags(&account, REGION, &[id], &[("bench", &value)]))
            .collect();
        for role in &roles {
            iam.tag_role()
                .role_name(role)
                .tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key("bench")
                        .value(&value)
                        .build()?,
                )
                .send()
                .await?;
            events.push(cloudtrail::event(
                "iam.amazonaws.com",
                "TagRole",
                &account,
                REGION,
                json!({"roleName": role, "tags": [{"key": "bench", "value": value}]}),
                Value::Null,
            ));
        }
        pipe.send(&events).await?;
    }
    let put_seconds = started.elapsed().as_secs_f64();
    let want = (rounds - 1).to_string();
    let resources = ec2_ids.len() + roles.len();
    let converged = wait_until(Duration::from_secs(120), || {
        let (store, tables, want) = (&store, &tables, &want);
        async move {
            let stored = stored_tags(store, tables).await;
            stored.len() >= resources && stored.values().all(|v| v == want)
        }
    })
    .await;
    // Late fetches still count: let the windows close before reading the proxy.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = proxy.all_calls();
    let mut by_operation: BTreeMap<String, u64> = BTreeMap::new();
    for (operation, n) in &after {
        let n = n - before.get(operation).copied().unwrap_or(0);
        if n > 0 {
            by_operation.insert(operation.clone(), n);
        }
    }
    let fetches: u64 = by_operation
        .iter()
        .filter(|(op, _)| !NOT_FETCHES.contains(&op.as_str()))
        .map(|(_, n)| n)
        .sum();
    let all: u64 = by_operation.values().sum();
    let moto_state = moto_tags(&ec2_client, &iam, &ec2_ids, &roles).await?;
    let stored = stored_tags(&store, &tables).await;
    let mismatched: Vec<&String> = moto_state
        .iter()
        .filter(|(id, value)| stored.get(*id) != Some(*value))
        .map(|(id, _)| id)
        .collect();
    println!(
        "events: {} in {put_seconds:.1} s; resources: {}",
        rounds * (ec2_ids.len() + roles.len()),
        ec2_ids.len() + roles.len()
    );
    println!("calls by operation (proxy): {by_operation:?}");
    let events = (rounds * (ec2_ids.len() + roles.len())) as f64;
    println!(
        "fetch calls: {fetches} (baseline: one per event, {events:.0}) = {:.1}x fewer; all calls incl. Kinesis: {all} = {:.1}x fewer",
        events / fetches.max(1) as f64,
        events / all.max(1) as f64
    );
    println!(
        "rows equal moto's state: {} ({} of {} resources differ){}",
        mismatched.is_empty(),
        mismatched.len(),
        moto_state.len(),
        if converged.is_ok() {
            ""
        } else {
            "; did not converge in 120 s"
        }
    );
    drop(trailsync);
    Ok(())
}

const ASSUME_ROLE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The `bench` tag of every stored resource of `tables`, by id.
async fn stored_tags(store: &common::Store, tables: &[&str]) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for table in tables {
        let id = match *table {
            "aws_ec2_instances" => "instance_id",
            "aws_ec2_security_groups" => "group_id",
            "aws_ec2_subnets" => "subnet_id",
            "aws_ec2_vpcs" => "vpc_id",
            _ => "role_name",
        };
        for row in store
            .texts(&format!("SELECT {id}, tags FROM {table}"))
            .await
        {
            let (Some(Some(id)), Some(Some(row_tags))) = (row.first(), row.get(1)) else {
                continue;
            };
            let value: Value = serde_json::from_str(row_tags).unwrap_or(Value::Null);
            if let Some(v) = value["bench"].as_str() {
                tags.insert(id.clone(), v.to_string());
            }
        }
    }
    tags
}

/// moto's `bench` tag of each resource, read back from moto.
async fn moto_tags(
    ec2_client: &aws_sdk_ec2::Client,
    iam: &aws_sdk_iam::Client,
    ec2_ids: &[String],
    roles: &[String],
) -> BenchResult<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    let answer = ec2_client
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("key")
                .values("bench")
                .build(),
        )
        .max_results(1000)
        .send()
        .await?;
    for tag in answer.tags() {
        if let (Some(id), Some(v)) = (tag.resource_id(), tag.value())
            && ec2_ids.iter().any(|i| i == id)
        {
            tags.insert(id.to_string(), v.to_string());
        }
    }
    for role in roles {
        let answer = iam.list_role_tags().role_name(role).send().await?;
        if let Some(tag) = answer.tags().iter().find(|t| t.key() == "bench") {
            tags.insert(role.clone(), tag.value().to_string());
        }
    }
    Ok(tags)
}

// --------------------------------------------------------------------------------- full sync

/// One process's cost, from GNU time.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
    calls: u64,
}

async fn full_sync_all() -> BenchResult<()> {
    println!("\n== full sync: 2,000 instances, 500 security groups, 300 roles with policies");
    print_cost_header();
    for postgres in [false, true] {
        let (trailsync, floor) = full_sync(postgres, 2_000, ROLES).await?;
        print_cost(
            if postgres { "PostgreSQL" } else { "SQLite" },
            trailsync,
            floor,
        );
    }
    Ok(())
}

/// The full sync at its size and at ten times as many of one kind of resource: instances (the
/// issue's 20,000) or, with `TRAILSYNC_BENCH_SCALE=roles`, IAM roles (3,000). moto answers a
/// `DescribeInstances` page in more than 30 s (trailsync's attempt timeout) from 8,000 instances
/// on, so on moto only the roles can be scaled.
async fn scale() -> BenchResult<()> {
    let roles = std::env::var("TRAILSYNC_BENCH_SCALE").is_ok_and(|s| s == "roles");
    let (what, large) = if roles {
        ("3,000 roles", (2_000, 3_000))
    } else {
        ("20,000 instances", (20_000, ROLES))
    };
    println!("\n== scale: the full sync, then with {what} (SQLite)");
    print_cost_header();
    let (small, small_floor) = full_sync(false, 2_000, ROLES).await?;
    print_cost("1x", small, small_floor);
    let (large, large_floor) = full_sync(false, large.0, large.1).await?;
    print_cost("10x", large, large_floor);
    println!(
        "10x: wall {:.1}x, CPU {:.1}x, peak RSS {:.1}x, calls {:.1}x (floor: wall {:.1}x, CPU {:.1}x)",
        large.wall / small.wall,
        large.cpu / small.cpu,
        large.rss_kib as f64 / small.rss_kib as f64,
        large.calls as f64 / small.calls as f64,
        large_floor.wall / small_floor.wall,
        large_floor.cpu / small_floor.cpu,
    );
    Ok(())
}

fn print_cost_header() {
    println!(
        "{:<11} {:>9} {:>9} {:>9} {:>7} | {:>9} {:>9} {:>9} {:>7} | {:>6} {:>6}",
        "",
        "wall s",
        "CPU s",
        "RSS MB",
        "calls",
        "floor s",
        "CPU s",
        "RSS MB",
        "calls",
        "wall x",
        "CPU x"
    );
}

fn print_cost(name: &str, trailsync: Cost, floor: Cost) {
    println!(
        "{:<11} {:>9.1} {:>9.2} {:>9.1} {:>7} | {:>9.1} {:>9.2} {:>9.1} {:>7} | {:>6.2} {:>6.2}",
        name,
        trailsync.wall,
        trailsync.cpu,
        trailsync.rss_kib as f64 / 1024.0,
        trailsync.calls,
        floor.wall,
        floor.cpu,
        floor.rss_kib as f64 / 1024.0,
        floor.calls,
        trailsync.wall / floor.wall,
        trailsync.cpu / floor.cpu,
    );
}

const SECURITY_GROUPS: usize = 500;
const ROLES: usize = 300;

/// Fills moto, then runs trailsync's full sync and the floor client on it, each under GNU time.
async fn full_sync(postgres: bool, instances: usize, roles: usize) -> BenchResult<(Cost, Cost)> {
    let moto = Moto::start().await?;
    let proxy = FaultProxy::start(&moto.endpoint()).await?;
    let sdk = moto.sdk_config(REGION);
    populate(&sdk, instances, roles).await?;

    let store = store(postgres).await;
    let config = format!(
        "kind: source\nspec:\n  name: bench\n  path: cloudquery/aws\n  tables: [aws_ec2_instances, aws_ec2_security_groups, aws_iam_roles]\n  skip_tables: [aws_iam_role_last_accessed_details]\n  destinations: [inventory]\n  spec:\n    regions: [{REGION}]\n    endpoint_url: {}\n---\n{}",
        proxy.endpoint(),
        store.destination_yaml("inventory"),
    );
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config)?;
    let config_arg = config_path.display().to_string();
    let calls = || proxy.all_calls().values().sum::<u64>();

    let before = calls();
    let mut trailsync = timed(
        env!("CARGO_BIN_EXE_trailsync"),
        &["sync", &config_arg],
        dir.path(),
    )
    .await?;
    trailsync.calls = calls() - before;
    let stored = store.count("aws_ec2_instances").await.unwrap_or(0) as usize;
    let stored_roles = store.count("aws_iam_roles").await.unwrap_or(0) as usize;
    if stored != instances || stored_roles != roles {
        return Err(format!("trailsync stored {stored} instances and {stored_roles} roles").into());
    }

    let before = calls();
    let exe = std::env::current_exe()?.display().to_string();
    let mut floor = timed(&exe, &["floor-full-sync", &proxy.endpoint()], dir.path()).await?;
    floor.calls = calls() - before;
    if let common::Store::Postgres(_) = store {
        store.cleanup().await;
    }
    Ok((trailsync, floor))
}

/// Runs a program to its end under GNU time (`/usr/bin/time`), for wall, CPU and peak RSS.
async fn timed(program: &str, args: &[&str], dir: &std::path::Path) -> BenchResult<Cost> {
    let out = dir.join("time.txt");
    let log = dir.join("run.log");
    let status = tokio::process::Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %U %S %M")
        .arg("-o")
        .arg(&out)
        .arg(program)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("TRAILSYNC_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .status()
        .await?;
    if !status.success() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!("{program} failed ({status}):\n{log}").into());
    }
    let text = std::fs::read_to_string(&out)?;
    let fields: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [wall, user, system, rss] = fields[..] else {
        return Err(format!("unexpected GNU time output: {text}").into());
    };
    Ok(Cost {
        wall,
        cpu: user + system,
        rss_kib: rss as u64,
        calls: 0,
    })
}

/// moto with `instances` instances, 500 security groups and `roles` roles, each role with an
/// inline policy and one attached managed policy.
async fn populate(sdk: &SdkConfig, instances: usize, roles: usize) -> BenchResult<()> {
    let ec2_client = aws_sdk_ec2::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);
    let mut left = instances;
    while left > 0 {
        let n = left.min(1_000);
        ec2::run_instances(&ec2_client, n as i32, &[("team", "bench")]).await?;
        left -= n;
    }
    let groups = futures::stream::iter(0..SECURITY_GROUPS)
        .map(|i| {
            let ec2_client = ec2_client.clone();
            async move {
                ec2_client
                    .create_security_group()
                    .group_name(format!("bench-{i}"))
                    .description("bench")
                    .send()
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    groups.into_iter().collect::<Result<Vec<()>, _>>()?;
    let policy = iam
        .create_policy()
        .policy_name("bench-read")
        .policy_document(READ_POLICY)
        .send()
        .await?
        .policy
        .and_then(|p| p.arn)
        .ok_or("CreatePolicy without an ARN")?;
    let roles = futures::stream::iter(0..roles)
        .map(|i| {
            let iam = iam.clone();
            let policy = policy.clone();
            async move {
                let name = format!("bench-role-{i}");
                iam.create_role()
                    .role_name(&name)
                    .assume_role_policy_document(ASSUME_ROLE_POLICY)
                    .send()
                    .await?;
                iam.put_role_policy()
                    .role_name(&name)
                    .policy_name("inline")
                    .policy_document(READ_POLICY)
                    .send()
                    .await?;
                iam.attach_role_policy()
                    .role_name(&name)
                    .policy_arn(policy)
                    .send()
                    .await?;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    roles.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(())
}

const READ_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}"#;

/// The floor of a full sync: the same paginated calls through the same SDK, nothing written.
/// Roles are read 8 at a time, as trailsync reads them.
async fn floor_full_sync(endpoint: &str) -> BenchResult<()> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .load()
        .await;
    let ec2_client = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let instances = ec2_client
        .describe_instances()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let groups = ec2_client
        .describe_security_groups()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let roles = iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let names: Vec<String> = roles
        .into_iter()
        .filter_map(Result::ok)
        .map(|r| r.role_name)
        .collect();
    let details = futures::stream::iter(names)
        .map(|name| {
            let iam = iam.clone();
            async move {
                let role = iam.get_role().role_name(&name).send().await?;
                let inline = iam.list_role_policies().role_name(&name).send().await?;
                let mut documents = Vec::new();
                for policy in inline.policy_names() {
                    let document = iam
                        .get_role_policy()
                        .role_name(&name)
                        .policy_name(policy)
                        .send()
                        .await?;
                    documents.push(document.policy_document);
                }
                let attached = iam
                    .list_attached_role_policies()
                    .role_name(&name)
                    .send()
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((role, documents, attached))
            }
        })
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
    let failed = instances.iter().filter(|r| r.is_err()).count()
        + groups.iter().filter(|r| r.is_err()).count()
        + details.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        return Err(format!("{failed} calls failed").into());
    }
    println!(
        "{} reservations, {} security groups, {} roles",
        instances.len(),
        groups.len(),
        details.len()
    );
    Ok(())
}

// ------------------------------------------------------------------------------------ memory

async fn memory() -> BenchResult<()> {
    println!("\n== memory while streaming: 50 events/s for 10 minutes (SQLite)");
    let run = latency(false, 50, Duration::from_secs(600), None, true).await?;
    println!(
        "RSS after the full sync (baseline): {:.1} MB; peak while streaming: {:.1} MB",
        run.rss_before as f64 / 1024.0,
        run.rss_peak as f64 / 1024.0
    );
    let samples: Vec<String> = run
        .rss
        .iter()
        .step_by(6)
        .map(|(t, kib)| format!("{t:.0}s={:.1}MB", *kib as f64 / 1024.0))
        .collect();
    println!("RSS over time: {}", samples.join(" "));
    print_latency_header();
    print_latency(false, "1s", &run);
    Ok(())
}

// ----------------------------------------------------------------------------------- helpers

async fn store(postgres: bool) -> common::Store {
    if postgres {
        common::Store::postgres().await
    } else {
        common::Store::sqlite()
    }
}

/// Polls `check` every 50 ms until it is true; an error after `patience`.
async fn wait_until<F, Fut>(patience: Duration, mut check: F) -> BenchResult<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + patience;
    while !check().await {
        if Instant::now() > deadline {
            return Err("timed out".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`); 0 if unreadable.
fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn median(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures.get(figures.len() / 2).copied().unwrap_or(f64::NAN)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
