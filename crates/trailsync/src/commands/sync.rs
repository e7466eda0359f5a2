//! `trailsync sync`: wires config, AWS, engine and destination together for each source.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;
use trailsync_aws::{Accounts, AwsInventory, CallMeter, KinesisSource};
use trailsync_config::{
    Config, DestinationConfig, DestinationKind, SourceConfig, StartPosition, WriteMode,
};
use trailsync_destination::Destination;
use trailsync_engine::stream::DefaultStart;
use trailsync_engine::{Fanout, Stats, StreamOptions, SyncPlan, Target, full_sync};

use crate::{EXIT_RUNTIME, EXIT_USAGE};

/// Resources per destination transaction during a full sync, unless the destination says.
const DEFAULT_BATCH_SIZE: usize = 500;
const DEFAULT_CONCURRENCY: usize = 8;
/// How long a re-fetch waits before asking again for a resource AWS did not return.
const NOT_FOUND_RETRY_DELAY: Duration = Duration::from_secs(2);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

pub fn run(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let config = match trailsync_config::load(paths) {
        Ok(config) => config,
        Err(diagnostics) => {
            for d in &diagnostics.0 {
                eprintln!("{d}");
            }
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(sync_all(config));
    // Work still running here (a write abandoned at the end of the drain budget) must not hold
    // the exit back: shutdown is bounded (SIGTERM to exit in under 10 s).
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}

async fn sync_all(config: Config) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    let mut sources = tokio::task::JoinSet::new();
    for source in config.sources.clone() {
        let destinations = destinations_for(&config, &source)?;
        let cancel = cancel.clone();
        sources.spawn(async move {
            let name = source.name.clone();
            (name, sync_source(source, destinations, cancel).await)
        });
    }
    let mut ok = true;
    while let Some(joined) = sources.join_next().await {
        match joined {
            Ok((_, Ok(true))) => {}
            Ok((name, Ok(false))) => {
                tracing::warn!(source = %name, "finished with errors");
                ok = false;
            }
            Ok((name, Err(e))) => {
                tracing::error!(source = %name, "{e:#}");
                ok = false;
            }
            Err(e) => bail!("a source task failed: {e}"),
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    })
}

/// The destinations `source` writes to, in the order it names them.
fn destinations_for(
    config: &Config,
    source: &SourceConfig,
) -> anyhow::Result<Vec<DestinationConfig>> {
    source
        .destinations
        .iter()
        .map(|name| {
            config
                .destinations
                .iter()
                .find(|d| &d.name == name)
                .cloned()
                .with_context(|| format!("source {}: unknown destination {name}", source.name))
        })
        .collect()
}

/// Runs one source to completion; `Ok(false)` when parts of it failed but the rest went on.
async fn sync_source(
    source: SourceConfig,
    destinations: Vec<DestinationConfig>,
    cancel: CancellationToken,
) -> anyhow::Result<bool> {
    let tables = source.selected_tables();
    let mut targets = Vec::with_capacity(destinations.len());
    for destination in &destinations {
        let mode = mode(destination.write_mode);
        let connected = trailsync_destination::connect(
            kind(destination.kind),
            &destination.connection_string,
            mode,
        )
        .await
        .with_context(|| format!("destination {}", destination.name))?;
        targets.push(Target {
            name: destination.name.clone(),
            destination: connected,
            mode,
        });
    }
    // Always a fan-out, of one destination in the common case: one way to write.
    let fanout = Fanout::new(targets);
    let delete_stale = fanout.deletes_stale();
    let store: Arc<dyn Destination> = Arc::new(fanout);
    store
        .migrate(&tables)
        .await
        .with_context(|| format!("source {}: migration", source.name))?;

    let stats = Arc::new(Stats::default());
    let accounts = Accounts::resolve(&source.spec, stats.clone())
        .await
        .with_context(|| format!("source {}", source.name))?;
    let unsupported: Vec<&str> = tables
        .iter()
        .filter(|t| t.is_top_level() && trailsync_aws::tables::reader(t).is_none())
        .map(|t| t.name)
        .collect();
    if !unsupported.is_empty() {
        tracing::warn!(tables = ?unsupported, "no reader for these tables in this build; they stay empty");
    }
    let plan = Arc::new(SyncPlan {
        source_name: source.name.clone(),
        tables,
        locations: accounts.locations(),
        delete_stale,
        concurrency: source.spec.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        // The smallest batch any destination asks for suits them all.
        batch_size: destinations
            .iter()
            .filter_map(|d| d.batch_size)
            .min()
            .unwrap_or(DEFAULT_BATCH_SIZE),
        not_found_retry_delay: NOT_FOUND_RETRY_DELAY,
    });
    let inventory = Arc::new(AwsInventory::new(accounts.clone()));
    let events = source.spec.event_based_sync.clone();
    let mut clean = true;

    let mut default_start = None;
    if events.as_ref().is_none_or(|e| e.full_sync) {
        let report = tokio::select! {
            report = full_sync::full_sync(&plan, inventory.as_ref(), store.as_ref(), &stats) => report?,
            _ = cancel.cancelled() => {
                tracing::info!(source = %source.name, "interrupted during the full sync; nothing partial was committed past the last batch");
                tracing::info!(source = %source.name, "stopped: {stats}");
                return Ok(true);
            }
        };
        tracing::info!(
            source = %source.name,
            resources = report.resources,
            stale_deleted = report.stale_deleted,
            failures = report.failures.len(),
            "full sync done"
        );
        for f in &report.failures {
            tracing::error!(table = f.table, location = %f.location, error = %f.error, "not synced");
        }
        clean = report.failures.is_empty();
        default_start = Some(report.sync_time);
    }

    if let Some(events) = events {
        let start = match events.start_position {
            StartPosition::TrimHorizon => DefaultStart::TrimHorizon,
            StartPosition::Latest => DefaultStart::Latest,
            StartPosition::Checkpoint => DefaultStart::At(
                events
                    .start_time
                    .or(default_start)
                    .unwrap_or_else(chrono::Utc::now),
            ),
        };
        let reader_config = match &events.account {
            Some(account) => {
                let meter = CallMeter::new(stats.clone());
                trailsync_aws::sdk_config(account, source.spec.endpoint_url.as_deref(), &meter)
                    .await
            }
            None => accounts
                .first()
                .context("no account to read the stream with")?
                .config
                .clone(),
        };
        let stream = Arc::new(KinesisSource::new(&reader_config, &events.stream));
        let options = StreamOptions {
            default_start: start,
            coalesce_window: events.coalesce_window,
            reconcile_interval: events.reconcile_interval,
        };
        let result = trailsync_engine::stream::run(
            plan.clone(),
            inventory,
            store,
            stream,
            options,
            stats.clone(),
            cancel.clone(),
        )
        .await;
        tracing::info!(source = %source.name, "stopped: {stats}");
        result.with_context(|| format!("source {}: stream", source.name))?;
    } else {
        tracing::info!(source = %source.name, "done: {stats}");
    }
    Ok(clean)
}

fn kind(kind: DestinationKind) -> trailsync_destination::Kind {
    match kind {
        DestinationKind::Sqlite => trailsync_destination::Kind::Sqlite,
        DestinationKind::Postgres => trailsync_destination::Kind::Postgres,
    }
}

fn mode(mode: WriteMode) -> trailsync_destination::WriteMode {
    match mode {
        WriteMode::OverwriteDeleteStale => trailsync_destination::WriteMode::OverwriteDeleteStale,
        WriteMode::Overwrite => trailsync_destination::WriteMode::Overwrite,
        WriteMode::Append => trailsync_destination::WriteMode::Append,
    }
}

/// SIGINT or SIGTERM: stop reading, let in-flight batches commit.
async fn cancel_on_signal(cancel: CancellationToken) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("signal received: finishing the batch in flight");
    cancel.cancel();
}
