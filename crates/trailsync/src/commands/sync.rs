//! `trailsync sync`: builds each source ([`Source::build`]) and runs them until a signal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;
use trailsync::Source;
use trailsync_config::Config;
use trailsync_core::DestinationKind;
use trailsync_destination::sqlite::lock::{self, LockError, ProcessLock};

use crate::{EXIT_RUNTIME, EXIT_USAGE};

const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

pub fn run(paths: &[PathBuf], wait: bool) -> anyhow::Result<ExitCode> {
    let config = match trailsync_config::load(paths) {
        Ok(config) => config,
        Err(diagnostics) => {
            for d in &diagnostics.0 {
                eprintln!("{d}");
            }
            return Ok(ExitCode::from(EXIT_USAGE));
        }
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
    let result = runtime.block_on(sync_all(config));
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

async fn sync_all(config: Config) -> anyhow::Result<ExitCode> {
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    let mut sources = tokio::task::JoinSet::new();
    for source in &config.sources {
        let built = Source::build(source, &config).await?;
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
