//! A full sync of one source: list every selected table at every location, write, delete stale.

use std::collections::BTreeSet;

use chrono::{DateTime, SubsecRound, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use trailsync_catalog::Table;
use trailsync_core::{Destination, DestinationError, FetchError, Inventory, Location, Trigger};

use crate::progress::Progress;
use crate::{Stats, SyncPlan};

/// A (table, location) that could not be listed; the rest of the sync went on.
#[derive(Debug)]
pub struct Failure {
    pub table: &'static str,
    pub location: Location,
    pub error: FetchError,
}

/// What a full sync did.
#[derive(Debug)]
pub struct FullSyncReport {
    /// Every row written carries this `_cq_sync_time`; older rows of the source are stale.
    pub sync_time: DateTime<Utc>,
    pub resources: u64,
    pub stale_deleted: u64,
    pub failures: Vec<Failure>,
}

/// Runs a full sync. AWS errors are isolated per (table, location) and reported; a destination
/// error stops the sync, since nothing could be stored.
pub async fn full_sync(
    plan: &SyncPlan,
    inventory: &dyn Inventory,
    destination: &dyn Destination,
    stats: &Stats,
) -> Result<FullSyncReport, DestinationError> {
    let sync_time = Utc::now().trunc_subsecs(6);
    let jobs: Vec<(&'static Table, Location)> = plan
        .top_level()
        .flat_map(|t| plan.locations_for(t).into_iter().map(move |l| (t, l)))
        .collect();
    let progress = Progress::new("full sync", jobs.len() as u64);

    // Futures pushed from a loop rather than a closure over borrowed arguments: keeps the
    // whole future `Send` for any caller lifetime (a closure here trips rustc's HRTB inference).
    let mut pending = jobs.into_iter();
    let mut results = FuturesUnordered::new();
    for (table, location) in pending.by_ref().take(plan.concurrency.max(1)) {
        results.push(job(
            plan,
            inventory,
            destination,
            stats,
            table,
            location,
            sync_time,
        ));
    }

    let mut report = FullSyncReport {
        sync_time,
        resources: 0,
        stale_deleted: 0,
        failures: Vec::new(),
    };
    let mut done = 0;
    while let Some((table, location, outcome)) = results.next().await {
        if let Some((table, location)) = pending.next() {
            results.push(job(
                plan,
                inventory,
                destination,
                stats,
                table,
                location,
                sync_time,
            ));
        }
        done += 1;
        match outcome {
            Ok(Ok(n)) => {
                report.resources += n;
                progress.step(done, format!("{} {location}: {n} resources", table.name));
            }
            Ok(Err(error)) => {
                tracing::warn!(table = table.name, %location, %error, "listing failed; rows left as they were");
                progress.step(done, format!("{} {location}: failed", table.name));
                report.failures.push(Failure {
                    table: table.name,
                    location,
                    error,
                });
            }
            Err(error) => {
                progress.finish();
                return Err(error);
            }
        }
    }
    drop(results);
    progress.finish();

    if plan.delete_stale {
        let failed: BTreeSet<&str> = report.failures.iter().map(|f| f.table).collect();
        for table in plan.top_level().filter(|t| !failed.contains(t.name)) {
            for t in std::iter::once(table).chain(plan.children_of(table)) {
                let n = destination
                    .delete_stale(t, &plan.source_name, sync_time, &[])
                    .await?;
                if n > 0 {
                    tracing::info!(table = t.name, rows = n, "deleted stale rows");
                }
                report.stale_deleted += n;
            }
        }
    }
    Stats::add(&stats.rows_deleted, report.stale_deleted);
    Ok(report)
}

type JobOutcome = (
    &'static Table,
    Location,
    Result<Result<u64, FetchError>, DestinationError>,
);

fn job<'a>(
    plan: &'a SyncPlan,
    inventory: &'a dyn Inventory,
    destination: &'a dyn Destination,
    stats: &'a Stats,
    table: &'static Table,
    location: Location,
    sync_time: DateTime<Utc>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = JobOutcome> + Send + 'a>> {
    Box::pin(async move {
        let outcome = sync_one(
            plan,
            inventory,
            destination,
            stats,
            table,
            &location,
            sync_time,
        )
        .await;
        (table, location, outcome)
    })
}

/// Lists one table at one location and writes what it read in batches: how many resources,
/// and why the listing is incomplete if it is (one resource that could not be read fails the
/// listing for stale-row purposes, not the others' rows).
async fn sync_one(
    plan: &SyncPlan,
    inventory: &dyn Inventory,
    destination: &dyn Destination,
    stats: &Stats,
    table: &'static Table,
    location: &Location,
    sync_time: DateTime<Utc>,
) -> Result<Result<u64, FetchError>, DestinationError> {
    let children = plan.children_of(table);
    Stats::add(&stats.fetches, 1);
    let listed = match inventory.list(location, table, &children).await {
        Ok(listed) => listed,
        Err(e) => return Ok(Err(e)),
    };
    let count = listed.resources.len() as u64;
    let mut resources = listed.resources.into_iter().peekable();
    while resources.peek().is_some() {
        let mut batch = plan.batch(sync_time, Trigger::FullSync);
        batch.upserts = resources.by_ref().take(plan.batch_size.max(1)).collect();
        let summary = destination.write(&batch).await?;
        Stats::add(&stats.rows_upserted, summary.rows_upserted);
        Stats::add(&stats.batches_committed, 1);
    }
    let mut failed = listed.failed.into_iter();
    match failed.next() {
        None => Ok(Ok(count)),
        Some((id, error)) => {
            for (id, error) in failed {
                tracing::warn!(table = table.name, %location, %id, %error, "resource not read");
            }
            Ok(Err(FetchError::new(
                error.kind(),
                error.operation().to_string(),
                format!("{id}: {error} (and {count} resources read)"),
            )
            .with_source(error)))
        }
    }
}
