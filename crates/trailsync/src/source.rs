//! One configured source, wired: config -> destinations, accounts, plan, inventory, stream.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use trailsync_aws::{Accounts, AccountsError, AwsInventory, Connection, KinesisSource};
use trailsync_config::{Config, EventBasedSync, SourceConfig, StartPosition};
use trailsync_core::{Destination, DestinationError, LeaseScope, ShardSource, Worker};
use trailsync_engine::stream::{DefaultStart, RunError};
use trailsync_engine::{
    Fanout, Fleet, Locations, RetryPolicy, Stats, StreamOptions, SyncPlan, Target, full_sync,
    retention,
};

/// Resources per destination transaction during a full sync, unless the destination says.
const DEFAULT_BATCH_SIZE: usize = 500;
const DEFAULT_CONCURRENCY: usize = 8;
/// How long a re-fetch waits before asking again for a resource AWS did not return.
const NOT_FOUND_RETRY_DELAY: Duration = Duration::from_secs(2);

/// Why a source could not be built or stopped running.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {source_name}: unknown destination {destination}")]
    UnknownDestination {
        source_name: String,
        destination: String,
    },
    #[error("destination {name}: {error}")]
    Connect {
        name: String,
        #[source]
        error: DestinationError,
    },
    #[error("source {source_name}: migration: {error}")]
    Migration {
        source_name: String,
        #[source]
        error: DestinationError,
    },
    #[error("source {source_name}: {error}")]
    Accounts {
        source_name: String,
        #[source]
        error: AccountsError,
    },
    #[error("source {source_name}: full sync: {error}")]
    FullSync {
        source_name: String,
        #[source]
        error: DestinationError,
    },
    #[error("source {source_name}: fleet: {error}")]
    Fleet {
        source_name: String,
        #[source]
        error: DestinationError,
    },
    #[error("source {source_name}: stream: {error}")]
    Stream {
        source_name: String,
        #[source]
        error: RunError,
    },
}

/// A source ready to run: its destinations connected and migrated, its accounts resolved.
pub struct Source {
    name: String,
    plan: Arc<SyncPlan>,
    inventory: Arc<AwsInventory>,
    store: Arc<dyn Destination>,
    stats: Arc<Stats>,
    full_sync: bool,
    events: Option<(EventBasedSync, Arc<KinesisSource>)>,
    /// How a change that keeps failing is asked again.
    retry: RetryPolicy,
    /// The destination keeping the leases is SQLite, written by this process alone (`sync`
    /// locks it): leases left by an earlier process are free at once.
    alone: bool,
    /// How long the change history is kept, when it is kept and pruned.
    history_retention: Option<Duration>,
}

impl Source {
    /// Connects and migrates `source`'s destinations (as declared in `config`), resolves its
    /// accounts, and builds the plan the engine runs.
    pub async fn build(source: &SourceConfig, config: &Config) -> Result<Source, SourceError> {
        let name = source.name.clone();
        let tables = source.selected_tables();
        let mut targets = Vec::with_capacity(source.destinations.len());
        // Leases are kept in the first destination; SQLite there means one process.
        let alone = source
            .destinations
            .first()
            .and_then(|name| config.destination(name))
            .is_some_and(|d| d.kind == trailsync_core::DestinationKind::Sqlite);
        let mut batch_size: Option<usize> = None;
        for destination_name in &source.destinations {
            let destination = config.destination(destination_name).ok_or_else(|| {
                SourceError::UnknownDestination {
                    source_name: name.clone(),
                    destination: destination_name.clone(),
                }
            })?;
            let connected = trailsync_destination::connect(
                destination.kind,
                &destination.connection_string,
                destination.write_mode,
            )
            .await
            .map_err(|error| SourceError::Connect {
                name: destination.name.clone(),
                error,
            })?;
            targets.push(Target {
                name: destination.name.clone(),
                destination: connected,
                mode: destination.write_mode,
            });
            // The smallest batch any destination asks for suits them all.
            batch_size = match (batch_size, destination.batch_size) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // Always a fan-out, of one destination in the common case: one way to write.
        let fanout = Fanout::new(targets);
        let delete_stale = fanout.deletes_stale();
        let store: Arc<dyn Destination> = Arc::new(fanout);
        store
            .migrate(&tables)
            .await
            .map_err(|error| SourceError::Migration {
                source_name: name.clone(),
                error,
            })?;

        let stats = Arc::new(Stats::default());
        let connection = Connection::of(&source.spec, stats.clone());
        let accounts = Accounts::resolve(&source.spec, &connection)
            .await
            .map_err(|error| SourceError::Accounts {
                source_name: name.clone(),
                error,
            })?;
        let unsupported: Vec<&str> = tables
            .iter()
            .filter(|t| t.is_top_level() && trailsync_aws::tables::reader(t).is_none())
            .map(|t| t.name)
            .collect();
        if !unsupported.is_empty() {
            tracing::warn!(tables = ?unsupported, "no reader for these tables in this build; they stay empty");
        }
        let plan = Arc::new(SyncPlan {
            source_name: name.clone(),
            tables,
            locations: Locations::new(accounts.locations()),
            delete_stale,
            concurrency: source.spec.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            batch_size: batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            not_found_retry_delay: NOT_FOUND_RETRY_DELAY,
            history: source.spec.history.enabled,
        });

        let events = match &source.spec.event_based_sync {
            None => None,
            Some(events) => {
                // As in CloudQuery: the stream's own `account`, else the default credentials.
                let reader = events.account.clone().unwrap_or_default();
                let reader_config = trailsync_aws::sdk_config(&reader, &connection, None).await;
                let stream = Arc::new(KinesisSource::new(&reader_config, &events.stream));
                Some((events.clone(), stream))
            }
        };
        Ok(Source {
            name,
            plan,
            inventory: Arc::new(AwsInventory::discovered(
                accounts,
                &source.spec,
                &connection,
            )),
            store,
            stats,
            full_sync: source
                .spec
                .event_based_sync
                .as_ref()
                .is_none_or(|e| e.full_sync),
            events,
            retry: RetryPolicy {
                cap: source
                    .spec
                    .max_backoff
                    .unwrap_or(RetryPolicy::default().cap),
                ..RetryPolicy::default()
            },
            alone,
            history_retention: source
                .spec
                .history
                .retention
                .filter(|_| source.spec.history.enabled),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The counters of this source, for the summary line and metrics.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// The destination this source writes (and keeps its leases in), for readiness probes.
    pub fn destination(&self) -> &Arc<dyn Destination> {
        &self.store
    }

    /// Whether this source follows a stream (after its full sync).
    pub fn is_streaming(&self) -> bool {
        self.events.is_some()
    }

    /// Runs the full sync (unless configured off), then consumes the stream (if configured)
    /// until `cancel` fires. `Ok(false)` when parts of the full sync failed but the rest went on.
    ///
    /// With a stream, this process is one worker of the source's fleet: it shares the shards
    /// with the other workers writing to the same destination, and the full sync runs once per
    /// fleet (when the fleet starts, or when the worker running it died before finishing).
    pub async fn run(self, cancel: CancellationToken) -> Result<bool, SourceError> {
        let Some((events, stream)) = self.events.clone() else {
            let outcome = self.full_sync(&cancel).await?;
            if let Some(retention) = self.history_retention {
                // One run, one pruning: a sync run from cron keeps the history bounded too.
                if let Err(error) = retention::prune(self.store.as_ref(), retention, &cancel).await
                {
                    tracing::warn!(%error, "cannot prune the change history");
                }
            }
            tracing::info!(source = %self.name, "done: {}", self.stats);
            return Ok(outcome.is_none_or(|(clean, _)| clean));
        };
        let scope = LeaseScope {
            source_name: self.name.clone(),
            stream_arn: stream.stream_arn().to_string(),
        };
        let fleet = Fleet::join(self.store.clone(), scope, this_worker(), self.alone)
            .await
            .map_err(|error| SourceError::Fleet {
                source_name: self.name.clone(),
                error,
            })?;
        let heartbeat_stop = CancellationToken::new();
        let heartbeat = tokio::spawn(fleet.clone().run(heartbeat_stop.clone()));
        let pruning = self.history_retention.map(|retention| {
            tokio::spawn(retention::run(
                fleet.clone(),
                self.store.clone(),
                retention,
                heartbeat_stop.clone(),
            ))
        });
        let result = self.stream(&fleet, events, stream, cancel).await;
        heartbeat_stop.cancel();
        let _ = heartbeat.await;
        if let Some(pruning) = pruning {
            let _ = pruning.await;
        }
        if let Err(error) = fleet.leave().await {
            tracing::warn!(%error, "cannot release the leases; they expire on their own");
        }
        result
    }

    async fn stream(
        self,
        fleet: &Arc<Fleet>,
        events: EventBasedSync,
        stream: Arc<KinesisSource>,
        cancel: CancellationToken,
    ) -> Result<bool, SourceError> {
        let name = self.name.clone();
        let mut clean = true;
        let mut full_sync_start = None;
        if self.full_sync {
            match self.fleet_full_sync(fleet, &cancel).await? {
                FleetFullSync::Ran { clean: c, started } => {
                    clean = c;
                    full_sync_start = Some(started);
                }
                FleetFullSync::Elsewhere { started } => full_sync_start = started,
                FleetFullSync::Interrupted => {
                    tracing::info!(source = %name, "stopped: {}", self.stats);
                    return Ok(true);
                }
            }
        }
        self.stats.full_sync_done.store(true, Ordering::Relaxed);
        let default_start = match events.start_position {
            StartPosition::TrimHorizon => DefaultStart::TrimHorizon,
            StartPosition::Latest => DefaultStart::Latest,
            StartPosition::Checkpoint => DefaultStart::At(
                events
                    .start_time
                    .or(full_sync_start)
                    .unwrap_or_else(Utc::now),
            ),
        };
        let options = StreamOptions {
            default_start,
            coalesce_window: events.coalesce_window,
            reconcile_interval: events.reconcile_interval,
            retry: self.retry,
        };
        let result = trailsync_engine::stream::run(
            self.plan,
            self.inventory,
            self.store,
            stream,
            options,
            self.stats.clone(),
            fleet.clone(),
            cancel,
        )
        .await;
        tracing::info!(source = %name, "stopped: {}", self.stats);
        result.map_err(|error| SourceError::Stream {
            source_name: name,
            error,
        })?;
        Ok(clean)
    }

    /// The full sync of a streaming source, once per fleet: run here when this worker is alone
    /// (the fleet is starting) or the last run never finished (its worker died), skipped when
    /// another worker runs it now or ran it for the fleet already.
    async fn fleet_full_sync(
        &self,
        fleet: &Arc<Fleet>,
        cancel: &CancellationToken,
    ) -> Result<FleetFullSync, SourceError> {
        let job = fleet
            .job(FULL_SYNC_JOB, Duration::ZERO)
            .await
            .map_err(|error| SourceError::Fleet {
                source_name: self.name.clone(),
                error,
            })?;
        let Some(job) = job else {
            let started = fleet
                .watch()
                .borrow()
                .jobs
                .iter()
                .find(|j| j.job == FULL_SYNC_JOB)
                .and_then(|j| j.started_at);
            tracing::info!(source = %self.name, "another worker runs the full sync; streaming meanwhile");
            return Ok(FleetFullSync::Elsewhere { started });
        };
        let (last_started, last_finished) = job.last_run();
        let unfinished = last_started.is_some_and(|s| last_finished.is_none_or(|f| f < s));
        if fleet.size() > 1 && !unfinished {
            tracing::info!(source = %self.name, "joining a running fleet; its full sync is done");
            if let Err(error) = job.abandon().await {
                tracing::warn!(%error, "cannot release the full sync lease; it expires on its own");
            }
            return Ok(FleetFullSync::Elsewhere {
                started: last_started,
            });
        }
        let started = Utc::now();
        if let Err(error) = job.started(started).await {
            tracing::warn!(%error, "cannot record the full sync's start");
        }
        match self.full_sync(cancel).await? {
            None => Ok(FleetFullSync::Interrupted),
            Some((clean, sync_time)) => {
                if let Err(error) = job.finish(started).await {
                    tracing::warn!(%error, "cannot record the full sync's end");
                }
                Ok(FleetFullSync::Ran {
                    clean,
                    started: sync_time,
                })
            }
        }
    }

    /// Runs the full sync (unless configured off): `None` when interrupted, else whether every
    /// table and location succeeded, and the sync's start.
    async fn full_sync(
        &self,
        cancel: &CancellationToken,
    ) -> Result<Option<(bool, DateTime<Utc>)>, SourceError> {
        if !self.full_sync {
            return Ok(Some((true, Utc::now())));
        }
        let name = &self.name;
        let report = tokio::select! {
            report = full_sync::full_sync(&self.plan, self.inventory.as_ref(), self.store.as_ref(), &self.stats) => {
                report.map_err(|error| SourceError::FullSync { source_name: name.clone(), error })?
            }
            _ = cancel.cancelled() => {
                tracing::info!(source = %name, "interrupted during the full sync; nothing partial was committed past the last batch");
                return Ok(None);
            }
        };
        tracing::info!(
            source = %name,
            resources = report.resources,
            stale_deleted = report.stale_deleted,
            failures = report.failures.len(),
            "full sync done"
        );
        for f in &report.failures {
            tracing::error!(table = f.table, location = %f.location, error = %f.error, "not synced");
        }
        Ok(Some((report.failures.is_empty(), report.sync_time)))
    }
}

/// What became of a streaming source's full sync.
enum FleetFullSync {
    /// This worker ran it.
    Ran { clean: bool, started: DateTime<Utc> },
    /// Another worker runs or ran it (starting then, if known).
    Elsewhere { started: Option<DateTime<Utc>> },
    /// Stopped before it finished.
    Interrupted,
}

/// The job lease the full sync runs under.
const FULL_SYNC_JOB: &str = "full_sync";

/// This process, as the fleet knows it: `host:pid:random`, unique per run.
fn this_worker() -> Worker {
    let host =
        trailsync_destination::sqlite::lock::host_name().unwrap_or_else(|| "localhost".to_string());
    let pid = std::process::id();
    let id = format!(
        "{host}:{pid}:{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    Worker { id, host, pid }
}
