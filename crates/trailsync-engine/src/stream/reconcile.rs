//! Reconciliation while streaming: every interval, each table is listed in full and handed to
//! the processor, which writes it and removes this source's rows the listing did not see. It
//! repairs what events cannot: events CloudTrail dropped (over 256 KB on the CloudWatch Logs
//! path), changes not made through the API, anything missed while trailsync was down.
//!
//! In a fleet one worker reconciles per interval: the `reconcile` job lease goes to whichever
//! worker asks first once the last run finished an interval ago (half an interval, to absorb
//! the workers' ticks drifting apart). Every worker refreshes its own view of the source's
//! accounts on each tick, as events from a new account may reach any of them.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use trailsync_catalog::Table;

use super::messages::Reconcile;
use trailsync_core::{FetchError, Fetched, Inventory, Location};

use crate::{Fleet, Stats, SyncPlan};

/// The job lease reconciliation runs under.
const JOB: &str = "reconcile";

/// Reconciles every `interval` (the first one interval after the start) until stopped, when
/// this worker gets the fleet's job lease.
pub(super) async fn every(
    interval: Duration,
    plan: Arc<SyncPlan>,
    inventory: Arc<dyn Inventory>,
    stats: Arc<Stats>,
    fleet: Arc<Fleet>,
    tx: mpsc::Sender<Reconcile>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Some(locations) = inventory.refresh_locations().await
            && plan.locations.set(locations)
        {
            tracing::info!(
                locations = plan.locations.get().len(),
                "the source's accounts changed; reconciling with the new ones"
            );
        }
        let job = match fleet.job(JOB, interval / 2).await {
            Ok(Some(job)) => job,
            Ok(None) => {
                tracing::debug!("another worker reconciles this interval");
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot take the reconciliation lease; trying next interval");
                continue;
            }
        };
        let started = chrono::Utc::now();
        tracing::info!("reconciling every table against a full listing");
        for table in plan.top_level() {
            let (ack, answer) = oneshot::channel();
            if tx.send(Reconcile::Start { table, ack }).await.is_err() {
                return;
            }
            let Ok(sync_time) = answer.await else {
                return;
            };
            let listings = tokio::select! {
                _ = stop.cancelled() => return,
                listings = list_everywhere(&plan, inventory.as_ref(), &stats, table) => listings,
            };
            let done = Reconcile::Done {
                table,
                sync_time,
                listings,
            };
            if tx.send(done).await.is_err() {
                return;
            }
        }
        // The listings are handed over; the processor writes them in order with the stream.
        if let Err(error) = job.finish(started).await {
            tracing::warn!(%error, "cannot record the reconciliation; another worker may repeat it");
        }
    }
}

/// Lists `table` at each of its locations, a few at a time.
async fn list_everywhere(
    plan: &SyncPlan,
    inventory: &dyn Inventory,
    stats: &Stats,
    table: &'static Table,
) -> Vec<(Location, Result<Fetched, FetchError>)> {
    let children = plan.children_of(table);
    let children = children.as_slice();
    futures::stream::iter(plan.locations_for(table))
        .map(|location| async move {
            Stats::add(&stats.fetches, 1);
            let listing = inventory.list(&location, table, children).await;
            (location, listing)
        })
        .buffer_unordered(plan.concurrency.max(1))
        .collect()
        .await
}
