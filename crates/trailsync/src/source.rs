//! One configured source, wired: config -> destinations, accounts, plan, inventory, stream.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use trailsync_aws::{Accounts, AccountsError, AwsInventory, Connection, KinesisSource};
use trailsync_config::{Config, EventBasedSync, SourceConfig, StartPosition};
use trailsync_core::{Destination, DestinationError};
use trailsync_engine::stream::{DefaultStart, RunError};
use trailsync_engine::{
    Fanout, Locations, RetryPolicy, Stats, StreamOptions, SyncPlan, Target, full_sync,
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
}

impl Source {
    /// Connects and migrates `source`'s destinations (as declared in `config`), resolves its
    /// accounts, and builds the plan the engine runs.
    pub async fn build(source: &SourceConfig, config: &Config) -> Result<Source, SourceError> {
        let name = source.name.clone();
        let tables = source.selected_tables();
        let mut targets = Vec::with_capacity(source.destinations.len());
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
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The counters of this source, for the summary line and metrics.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Runs the full sync (unless configured off), then consumes the stream (if configured)
    /// until `cancel` fires. `Ok(false)` when parts of the full sync failed but the rest went on.
    pub async fn run(self, cancel: CancellationToken) -> Result<bool, SourceError> {
        let name = self.name.clone();
        let mut clean = true;
        let mut full_sync_start = None;
        if self.full_sync {
            let report = tokio::select! {
                report = full_sync::full_sync(&self.plan, self.inventory.as_ref(), self.store.as_ref(), &self.stats) => {
                    report.map_err(|error| SourceError::FullSync { source_name: name.clone(), error })?
                }
                _ = cancel.cancelled() => {
                    tracing::info!(source = %name, "interrupted during the full sync; nothing partial was committed past the last batch");
                    tracing::info!(source = %name, "stopped: {}", self.stats);
                    return Ok(true);
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
            clean = report.failures.is_empty();
            full_sync_start = Some(report.sync_time);
        }

        let Some((events, stream)) = self.events else {
            tracing::info!(source = %name, "done: {}", self.stats);
            return Ok(clean);
        };
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
}
