//! The stream engine end to end over fakes of the three ports: a shard source holding records in
//! memory, an inventory answering from a map (or failing, or panicking, as a test scripts it),
//! and a destination keeping rows and checkpoints in memory (or refusing, or down). What cannot
//! be made to fail on demand against the real parts (a panic, a poison batch) is tested here, in
//! milliseconds; the same paths against moto and PostgreSQL are in the binary's tests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use trailsync_catalog::tables::ec2;
use trailsync_catalog::{Resource, Row, Table, Value};
use trailsync_core::{
    ChangeQuery, ChangeRecord, Checkpoint, Destination, DestinationError, ErrorKind, FetchError,
    FetchErrorKind, Fetched, FleetView, Grant, Held, Inventory, JobGrant, LeaseScope, Leases,
    Location, Position, Record, SequenceNumber, ShardClaim, ShardInfo, ShardRead, ShardReader,
    ShardSource, SkippedChange, StreamError, Worker, WriteBatch, WriteSummary,
};

use super::memory_leases::MemoryLeases;
use super::{DefaultStart, RetryPolicy, RunError, StreamOptions, run};
use crate::{Fleet, Stats, SyncPlan};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const SOURCE: &str = "test";
const STREAM: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/ct";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn seq(n: u64) -> SequenceNumber {
    SequenceNumber::new(n.to_string()).expect("digits")
}

/// A CloudTrail `CreateTags` event on one instance, as one record.
fn tag_event(n: u64, instance: &str) -> Record {
    let event = json!({
        "eventID": format!("event-{n}"), "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateTags", "awsRegion": REGION, "recipientAccountId": ACCOUNT,
        "requestParameters": {"resourcesSet": {"items": [{"resourceId": instance}]}},
    });
    Record {
        sequence_number: seq(n),
        data: event.to_string().into_bytes(),
    }
}

/// A record that is no CloudTrail at all.
fn junk(n: u64) -> Record {
    Record {
        sequence_number: seq(n),
        data: b"\x1f\x8b\x08not really gzip".to_vec(),
    }
}

fn instance(id: &str, tag: &str) -> Resource {
    let object = json!({
        "account_id": ACCOUNT, "region": REGION, "instance_id": id,
        "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{id}"),
        "tags": {"v": tag},
    });
    let row =
        Row::from_json(&ec2::INSTANCES, object.as_object().expect("object"), None).expect("row");
    Resource::new(row)
}

/// What the fake inventory does on its next fetch.
#[derive(Clone, Debug)]
enum Script {
    Fail(FetchErrorKind),
    Panic,
}

/// Instances in a map; fetches follow the script first, then answer from the map.
#[derive(Default)]
struct FakeInventory {
    instances: Mutex<BTreeMap<String, String>>,
    script: Mutex<VecDeque<Script>>,
    calls: Mutex<u32>,
}

impl FakeInventory {
    fn put(&self, id: &str, tag: &str) {
        lock(&self.instances).insert(id.into(), tag.into());
    }

    fn then(&self, step: Script) {
        lock(&self.script).push_back(step);
    }

    fn calls(&self) -> u32 {
        *lock(&self.calls)
    }

    fn answer(&self, ids: Option<&[String]>) -> Result<Fetched, FetchError> {
        *lock(&self.calls) += 1;
        match lock(&self.script).pop_front() {
            Some(Script::Fail(kind)) => {
                return Err(FetchError::new(kind, "DescribeInstances", kind.as_str()));
            }
            Some(Script::Panic) => panic!("injected panic in fetch"),
            None => {}
        }
        let instances = lock(&self.instances);
        let resources = instances
            .iter()
            .filter(|(id, _)| ids.is_none_or(|ids| ids.contains(id)))
            .map(|(id, tag)| instance(id, tag))
            .collect();
        Ok(Fetched::all(resources))
    }
}

#[async_trait]
impl Inventory for FakeInventory {
    async fn list(
        &self,
        _: &Location,
        _: &'static Table,
        _: &[&'static Table],
    ) -> Result<Fetched, FetchError> {
        self.answer(None)
    }

    async fn fetch(
        &self,
        _: &Location,
        _: &'static Table,
        _: &[&'static Table],
        ids: &[String],
    ) -> Result<Fetched, FetchError> {
        self.answer(Some(ids))
    }
}

/// One open shard whose records a test appends to.
#[derive(Default)]
struct FakeStream {
    records: Arc<Mutex<Vec<Record>>>,
    /// How many records readers have handed out.
    handed_out: Arc<Mutex<usize>>,
}

impl FakeStream {
    fn put(&self, record: Record) {
        lock(&self.records).push(record);
    }
}

#[async_trait]
impl ShardSource for FakeStream {
    fn stream_arn(&self) -> &str {
        STREAM
    }

    async fn shards(&self) -> Result<Vec<ShardInfo>, StreamError> {
        Ok(vec![ShardInfo {
            shard_id: "shard-0".into(),
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
            ending_sequence_number: None,
        }])
    }

    async fn open(
        &self,
        _shard_id: &str,
        start: Position,
    ) -> Result<Box<dyn ShardReader>, StreamError> {
        Ok(Box::new(FakeReader {
            records: self.records.clone(),
            handed_out: self.handed_out.clone(),
            after: start.sequence_number().cloned(),
        }))
    }
}

struct FakeReader {
    records: Arc<Mutex<Vec<Record>>>,
    handed_out: Arc<Mutex<usize>>,
    after: Option<SequenceNumber>,
}

#[async_trait]
impl ShardReader for FakeReader {
    async fn next_batch(&mut self) -> Result<ShardRead, StreamError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let records: Vec<Record> = lock(&self.records)
            .iter()
            .filter(|r| self.after.as_ref().is_none_or(|a| r.sequence_number > *a))
            .take(500)
            .cloned()
            .collect();
        if let Some(last) = records.last() {
            self.after = Some(last.sequence_number.clone());
        }
        *lock(&self.handed_out) += records.len();
        Ok(ShardRead {
            records,
            closed: false,
            millis_behind_latest: Some(0),
        })
    }
}

/// Instances by id with their tag, checkpoints, skipped changes; can refuse or be down.
#[derive(Default)]
struct FakeDestination {
    rows: Mutex<BTreeMap<String, String>>,
    checkpoints: Mutex<HashMap<String, Position>>,
    skipped: Mutex<Vec<SkippedChange>>,
    /// Every checkpoint write, in commit order.
    log: Mutex<Vec<(String, Position)>>,
    /// Batches with rows are refused, as a constraint the database always enforces.
    poison: Mutex<bool>,
    /// Every write fails as unavailable until then.
    down_until: Mutex<Option<Instant>>,
    leases: MemoryLeases,
    /// What caused each batch with rows: (resource id, event ids).
    causes: Mutex<Vec<(String, Vec<String>)>>,
}

impl FakeDestination {
    fn tag(&self, id: &str) -> Option<String> {
        lock(&self.rows).get(id).cloned()
    }

    /// The committed position of shard-0: its lease's.
    fn checkpoint(&self) -> Option<Position> {
        self.leases.position("shard-0")
    }
}

/// The fake keeps its leases in memory, with the real ones' rules.
#[async_trait]
impl Leases for FakeDestination {
    async fn heartbeat(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
        ttl: Duration,
    ) -> Result<FleetView, DestinationError> {
        self.leases
            .heartbeat(scope, worker, shards, jobs, ttl)
            .await
    }

    async fn acquire(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        claim: ShardClaim<'_>,
        ttl: Duration,
    ) -> Result<Option<Grant>, DestinationError> {
        self.leases.acquire(scope, worker, claim, ttl).await
    }

    async fn fence(
        &self,
        scope: &LeaseScope,
        shard_id: &str,
        epoch: u64,
        start: &Position,
    ) -> Result<Position, DestinationError> {
        self.leases.fence(scope, shard_id, epoch, start).await
    }

    async fn request_handoff(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shard_id: &str,
        epoch: u64,
    ) -> Result<(), DestinationError> {
        self.leases
            .request_handoff(scope, worker, shard_id, epoch)
            .await
    }

    async fn release(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        shards: &[Held],
        jobs: &[Held],
    ) -> Result<(), DestinationError> {
        self.leases.release(scope, worker, shards, jobs).await
    }

    async fn reclaim(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        self.leases.reclaim(scope, worker).await
    }

    async fn leave(&self, scope: &LeaseScope, worker: &Worker) -> Result<(), DestinationError> {
        self.leases.leave(scope, worker).await
    }

    async fn acquire_job(
        &self,
        scope: &LeaseScope,
        worker: &Worker,
        job: &str,
        due_after: Duration,
        ttl: Duration,
    ) -> Result<Option<JobGrant>, DestinationError> {
        self.leases
            .acquire_job(scope, worker, job, due_after, ttl)
            .await
    }

    async fn record_job(
        &self,
        scope: &LeaseScope,
        job: &str,
        epoch: u64,
        started_at: DateTime<Utc>,
        finished: bool,
    ) -> Result<(), DestinationError> {
        self.leases
            .record_job(scope, job, epoch, started_at, finished)
            .await
    }

    async fn view(&self, scope: &LeaseScope) -> Result<FleetView, DestinationError> {
        self.leases.view(scope).await
    }
}

#[async_trait]
impl Destination for FakeDestination {
    async fn migrate(&self, _: &[&'static Table]) -> Result<(), DestinationError> {
        Ok(())
    }

    async fn write(&self, batch: &WriteBatch) -> Result<WriteSummary, DestinationError> {
        if lock(&self.down_until).is_some_and(|until| Instant::now() < until) {
            return Err(DestinationError::new(
                ErrorKind::Unavailable,
                "connection refused",
            ));
        }
        if *lock(&self.poison) && !batch.upserts.is_empty() {
            return Err(DestinationError::new(
                ErrorKind::Refused,
                "upsert into aws_ec2_instances: new row violates check constraint \"poison\"",
            ));
        }
        self.leases.checkpoint(&batch.checkpoints)?;
        for ((_, id), events) in &batch.attribution.events {
            let ids = events.iter().filter_map(|e| e.event_id.clone()).collect();
            lock(&self.causes).push((id.clone(), ids));
        }
        let mut rows = lock(&self.rows);
        for resource in &batch.upserts {
            let id = text(&resource.row, "instance_id");
            let tag = resource
                .row
                .get("tags")
                .and_then(|t| match t {
                    Value::Json(j) => j["v"].as_str().map(str::to_string),
                    _ => None,
                })
                .unwrap_or_default();
            rows.insert(id, tag);
        }
        for deletion in &batch.deletes {
            for (column, value) in &deletion.filter {
                if *column == "instance_id"
                    && let Some(id) = value.as_str()
                {
                    rows.remove(id);
                }
            }
        }
        lock(&self.skipped).extend(batch.skipped.iter().cloned());
        for Checkpoint {
            shard_id, position, ..
        } in &batch.checkpoints
        {
            lock(&self.checkpoints).insert(shard_id.clone(), position.clone());
            lock(&self.log).push((shard_id.clone(), position.clone()));
        }
        Ok(WriteSummary {
            rows_upserted: batch.upserts.len() as u64,
            rows_deleted: batch.deletes.len() as u64,
        })
    }

    async fn delete_stale(
        &self,
        _: &'static Table,
        _: &str,
        _: DateTime<Utc>,
        _: &[(&'static str, Value)],
    ) -> Result<u64, DestinationError> {
        Ok(0)
    }

    async fn checkpoints(
        &self,
        _: &str,
        _: &str,
    ) -> Result<HashMap<String, Position>, DestinationError> {
        Ok(lock(&self.checkpoints).clone())
    }

    /// The fake keeps the batches' attributions instead of a history table.
    async fn changes(&self, _: &ChangeQuery) -> Result<Vec<ChangeRecord>, DestinationError> {
        Ok(Vec::new())
    }

    async fn prune_changes(&self, _: DateTime<Utc>, _: usize) -> Result<u64, DestinationError> {
        Ok(0)
    }
}

fn text(row: &Row, column: &str) -> String {
    row.get(column)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The worker the harness runs as.
fn worker() -> Worker {
    Worker {
        id: "test:1:a".into(),
        host: "test".into(),
        pid: 1,
    }
}

/// One run of the engine over the fakes, stopped by [`Harness::stop`].
struct Harness {
    inventory: Arc<FakeInventory>,
    stream: Arc<FakeStream>,
    destination: Arc<FakeDestination>,
    stats: Arc<Stats>,
    cancel: CancellationToken,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            inventory: Arc::new(FakeInventory::default()),
            stream: Arc::new(FakeStream::default()),
            destination: Arc::new(FakeDestination::default()),
            stats: Arc::new(Stats::default()),
            cancel: CancellationToken::new(),
        }
    }

    fn start(&self) -> tokio::task::JoinHandle<Result<(), RunError>> {
        let plan = Arc::new(SyncPlan {
            source_name: SOURCE.into(),
            tables: vec![&ec2::INSTANCES],
            locations: crate::Locations::new(vec![Location::new(ACCOUNT, REGION)]),
            delete_stale: true,
            concurrency: 4,
            batch_size: 100,
            not_found_retry_delay: Duration::from_millis(20),
            history: false,
        });
        let options = StreamOptions {
            default_start: DefaultStart::TrimHorizon,
            coalesce_window: Duration::from_millis(20),
            reconcile_interval: None,
            retry: RetryPolicy {
                first: Duration::from_millis(20),
                cap: Duration::from_millis(80),
            },
        };
        let (inventory, destination, stream) = (
            self.inventory.clone(),
            self.destination.clone(),
            self.stream.clone(),
        );
        let (stats, cancel) = (self.stats.clone(), self.cancel.clone());
        tokio::spawn(async move {
            let scope = LeaseScope {
                source_name: SOURCE.into(),
                stream_arn: STREAM.into(),
            };
            let fleet = Fleet::join(destination.clone(), scope, worker(), true)
                .await
                .map_err(RunError::Destination)?;
            let beating = CancellationToken::new();
            let heartbeat = tokio::spawn(fleet.clone().run(beating.clone()));
            let result = run(
                plan,
                inventory,
                destination,
                stream,
                options,
                stats,
                fleet.clone(),
                cancel,
            )
            .await;
            beating.cancel();
            let _ = heartbeat.await;
            fleet.leave().await.map_err(RunError::Destination)?;
            result
        })
    }

    /// Polls `check` (every 5 ms, for at most 5 s).
    async fn until(&self, what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test]
async fn the_start_is_committed_before_any_record_is_read() {
    let h = Harness::new();
    let running = h.start();
    h.until("a start checkpoint", || {
        h.destination.checkpoint().is_some()
    })
    .await;
    assert_eq!(h.destination.checkpoint(), Some(Position::TrimHorizon));
    assert_eq!(h.inventory.calls(), 0, "nothing read yet");
    h.inventory.put("i-1", "a");
    h.stream.put(tag_event(1, "i-1"));
    h.until("the record checkpointed", || {
        h.destination.checkpoint() == Some(Position::After(seq(1)))
    })
    .await;
    assert_eq!(h.destination.tag("i-1").as_deref(), Some("a"));
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}

#[tokio::test]
async fn a_throttled_fetch_holds_its_record_until_it_succeeds() {
    let h = Harness::new();
    h.inventory.put("i-1", "new");
    for _ in 0..3 {
        h.inventory.then(Script::Fail(FetchErrorKind::Throttled));
    }
    let running = h.start();
    h.stream.put(tag_event(1, "i-1"));
    h.stream.put(junk(2));
    h.until("three failed fetches", || h.inventory.calls() >= 3)
        .await;
    // Meanwhile the checkpoint never passed the waiting record, though later ones are done.
    assert!(
        !matches!(h.destination.checkpoint(), Some(Position::After(_))),
        "{:?}",
        h.destination.checkpoint()
    );
    h.until("the change applied", || {
        h.destination.tag("i-1").as_deref() == Some("new")
    })
    .await;
    h.until("both records checkpointed", || {
        h.destination.checkpoint() == Some(Position::After(seq(2)))
    })
    .await;
    assert!(lock(&h.destination.skipped).is_empty(), "nothing given up");
    assert!(Stats::get(&h.stats.fetch_retries) >= 3);
    // Checkpoints only ever moved forward.
    let log = lock(&h.destination.log).clone();
    assert!(log.windows(2).all(|w| w[0].1 <= w[1].1), "{log:?}");
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}

#[tokio::test]
async fn other_resources_flow_while_one_backs_off() {
    let h = Harness::new();
    h.inventory.put("i-1", "one");
    h.inventory.put("i-2", "two");
    // The first fetch (of i-1) fails for a long while; the second (of i-2) goes through.
    let running = h.start();
    for _ in 0..2 {
        h.inventory.then(Script::Fail(FetchErrorKind::Unavailable));
    }
    h.stream.put(tag_event(1, "i-1"));
    h.until("i-1 failing", || h.inventory.calls() >= 1).await;
    h.stream.put(tag_event(2, "i-2"));
    h.until("i-2 applied", || h.destination.tag("i-2").is_some())
        .await;
    h.until("i-1 applied after its pause", || {
        h.destination.tag("i-1").is_some()
    })
    .await;
    h.until("both checkpointed", || {
        h.destination.checkpoint() == Some(Position::After(seq(2)))
    })
    .await;
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}

#[tokio::test]
async fn a_permanent_failure_is_recorded_as_skipped_and_passed() {
    let h = Harness::new();
    h.inventory.put("i-1", "never");
    h.inventory.then(Script::Fail(FetchErrorKind::AccessDenied));
    let running = h.start();
    h.stream.put(tag_event(1, "i-1"));
    h.until("the record passed", || {
        h.destination.checkpoint() == Some(Position::After(seq(1)))
    })
    .await;
    let skipped = lock(&h.destination.skipped).clone();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].resource_id.as_deref(), Some("i-1"));
    assert_eq!(skipped[0].event_id.as_deref(), Some("event-1"));
    assert_eq!(skipped[0].event_name.as_deref(), Some("CreateTags"));
    assert_eq!(skipped[0].reason, "access denied");
    assert_eq!(h.destination.tag("i-1"), None, "left as it was");
    assert_eq!(Stats::get(&h.stats.changes_skipped), 1);
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}

#[tokio::test]
async fn a_poison_batch_ends_the_run_without_moving_the_checkpoint() {
    let h = Harness::new();
    h.inventory.put("i-1", "refused");
    *lock(&h.destination.poison) = true;
    let running = h.start();
    h.until("started", || h.destination.checkpoint().is_some())
        .await;
    h.stream.put(tag_event(1, "i-1"));
    let result = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("ends within seconds")
        .expect("joins");
    let error = result.expect_err("a refused batch is fatal");
    assert!(matches!(error, RunError::Destination(_)), "{error}");
    assert!(error.to_string().contains("aws_ec2_instances"), "{error}");
    assert_eq!(h.destination.checkpoint(), Some(Position::TrimHorizon));
}

#[tokio::test]
async fn a_panic_in_a_fetch_ends_the_run() {
    let h = Harness::new();
    h.inventory.then(Script::Panic);
    let running = h.start();
    h.stream.put(tag_event(1, "i-1"));
    let result = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("ends within seconds")
        .expect("joins");
    let error = result.expect_err("a panic is fatal");
    assert!(matches!(error, RunError::Panicked { .. }), "{error}");
    assert!(
        !matches!(h.destination.checkpoint(), Some(Position::After(_))),
        "nothing passed"
    );
}

#[tokio::test]
async fn a_destination_outage_pauses_consumption_and_loses_nothing() {
    let h = Harness::new();
    h.inventory.put("i-1", "one");
    let running = h.start();
    h.until("started", || h.destination.checkpoint().is_some())
        .await;
    *lock(&h.destination.down_until) = Some(Instant::now() + Duration::from_millis(700));
    h.stream.put(tag_event(1, "i-1"));
    h.until("applied once the destination is back", || {
        h.destination.checkpoint() == Some(Position::After(seq(1)))
    })
    .await;
    assert_eq!(h.destination.tag("i-1").as_deref(), Some("one"));
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}

#[tokio::test]
async fn a_deleted_resource_is_asked_again_then_removed() {
    let h = Harness::new();
    h.inventory.put("i-1", "there");
    let running = h.start();
    h.stream.put(tag_event(1, "i-1"));
    h.until("written", || h.destination.tag("i-1").is_some())
        .await;
    lock(&h.inventory.instances).remove("i-1");
    h.stream.put(tag_event(2, "i-1"));
    h.until("deleted after a second look", || {
        h.destination.tag("i-1").is_none()
    })
    .await;
    assert!(Stats::get(&h.stats.not_found_retries) >= 1);
    h.until("checkpointed", || {
        h.destination.checkpoint() == Some(Position::After(seq(2)))
    })
    .await;
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}

#[tokio::test]
async fn a_burst_on_one_resource_costs_few_fetches_and_duplicates_none() {
    let h = Harness::new();
    h.inventory.put("i-1", "burst");
    let running = h.start();
    for n in 1..=100 {
        h.stream.put(tag_event(n, "i-1"));
    }
    // The same event delivered twice (EventBridge and the CloudWatch Logs path) counts once.
    let mut again = tag_event(101, "i-1");
    again.data = tag_event(100, "i-1").data;
    h.stream.put(again);
    h.until("all checkpointed", || {
        h.destination.checkpoint() == Some(Position::After(seq(101)))
    })
    .await;
    assert!(h.inventory.calls() <= 12, "{} fetches", h.inventory.calls());
    assert_eq!(h.stats.skipped().get("duplicate event"), Some(&1));
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}

#[tokio::test]
async fn waiting_work_pauses_reading_instead_of_growing_memory() {
    let h = Harness::new();
    h.inventory.put("i-1", "late");
    for _ in 0..10_000 {
        h.inventory.then(Script::Fail(FetchErrorKind::Throttled));
    }
    let total = 30_000;
    for n in 1..=total {
        h.stream.put(tag_event(n, "i-1"));
    }
    let running = h.start();
    h.until("reading reached the limit", || {
        *lock(&h.stream.handed_out) >= 20_000
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let read = *lock(&h.stream.handed_out);
    // The processor holds at most its limit, plus a few batches queued between it and the reader.
    assert!(read < total as usize, "reading paused at {read} of {total}");
    assert_eq!(
        h.destination.tag("i-1"),
        None,
        "nothing applied while throttled"
    );
    lock(&h.inventory.script).clear();
    h.until("everything applied once AWS answers", || {
        h.destination.checkpoint() == Some(Position::After(seq(total)))
    })
    .await;
    assert_eq!(h.destination.tag("i-1").as_deref(), Some("late"));
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}

#[tokio::test]
async fn a_shard_taken_over_is_left_to_its_new_owner() {
    let h = Harness::new();
    h.inventory.put("i-1", "a");
    h.inventory.put("i-2", "b");
    h.inventory.put("i-3", "c");
    let running = h.start();
    h.stream.put(tag_event(1, "i-1"));
    h.until("the first record checkpointed", || {
        h.destination.checkpoint() == Some(Position::After(seq(1)))
    })
    .await;

    // Another worker takes the shard over (this one's lease expired while it was paused).
    h.destination.leases.steal("shard-0", "elsewhere:2:b");
    h.stream.put(tag_event(2, "i-2"));
    // The batch is written again without the lost checkpoint: rows are current state.
    h.until("the row written", || {
        h.destination.tag("i-2").as_deref() == Some("b")
    })
    .await;
    assert_eq!(
        h.destination.checkpoint(),
        Some(Position::After(seq(1))),
        "the new owner's checkpoint is not moved by the old one"
    );
    assert_eq!(
        h.destination.leases.owner("shard-0"),
        Some((Some("elsewhere:2:b".to_string()), 2))
    );
    // This worker stopped reading the shard: later records are the new owner's to apply.
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.stream.put(tag_event(3, "i-3"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.destination.tag("i-3"), None);
    h.cancel.cancel();
    running.await.expect("joins").expect("a clean stop");
}
