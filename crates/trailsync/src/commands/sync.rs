//! `trailsync sync`: builds each source ([`Source::build`]) and runs them until a signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;
use trailsync::{Source, metrics};
use trailsync_config::Config;
use trailsync_core::DestinationKind;
use trailsync_destination::sqlite::lock::{self, LockError, ProcessLock};

use crate::{EXIT_RUNTIME, EXIT_USAGE};

const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How `sync` runs, beyond the config.
#[derive(Debug)]
pub struct Options {
    /// Wait for a SQLite database another process holds.
    pub wait: bool,
    /// Serve metrics and health here.
    pub metrics_addr: Option<SocketAddr>,
    /// Readiness fails after an owned shard stalls this long.
    pub ready_stall: Duration,
}

pub fn run(paths: &[PathBuf], options: Options) -> anyhow::Result<ExitCode> {
    let wait = options.wait;
    let config = match super::load(paths) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    // Held until the process exits: one writer per SQLite database.
    let _locks = match runtime.block_on(lock_sqlite(&config, wait)) {
        Ok(locks) => locks,
        Err(LockError::InUse(in_use)) => {
            eprintln!("error: {in_use}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(error) => return Err(error.into()),
    };
    let result = runtime.block_on(sync_all(config, &options));
    // Work still running here (a write abandoned at the end of the drain budget) must not hold
    // the exit back: shutdown is bounded (SIGTERM to exit in under 10 s).
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}

/// Locks every SQLite database the config writes (waiting for its holder with `wait`).
async fn lock_sqlite(config: &Config, wait: bool) -> Result<Vec<ProcessLock>, LockError> {
    let mut locks = Vec::new();
    for destination in &config.destinations {
        if destination.kind != DestinationKind::Sqlite {
            continue;
        }
        let Some(file) = lock::database_file(&destination.connection_string) else {
            continue;
        };
        locks.push(if wait {
            lock::lock(&file).await?
        } else {
            lock::try_lock(&file)?
        });
    }
    Ok(locks)
}

async fn sync_all(config: Config, options: &Options) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    let mut built = Vec::new();
    for source in &config.sources {
        built.push(Source::build(source, &config).await?);
    }
    // Served until every source has stopped.
    let serving = CancellationToken::new();
    let _stop_serving = serving.clone().drop_guard();
    if let Some(addr) = options.metrics_addr {
        let observed = built
            .iter()
            .map(|source| metrics::Observed {
                name: source.name().to_string(),
                stats: source.stats().clone(),
                destination: source.destination().clone(),
                streaming: source.is_streaming(),
            })
            .collect();
        metrics::serve(addr, observed, options.ready_stall, serving.clone()).await?;
    }
    let mut sources = tokio::task::JoinSet::new();
    for built in built {
        let cancel = cancel.clone();
        sources.spawn(async move {
            let name = built.name().to_string();
            (name, built.run(cancel).await)
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
