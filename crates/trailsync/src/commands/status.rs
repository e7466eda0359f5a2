//! `trailsync status`: per streaming source, its shards (owner, checkpoint, lag, lease expiry),
//! its workers (what each holds) and its jobs, as the destination keeping the leases has them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;
use trailsync::{FleetStatus, fleet_status};
use trailsync_core::{FleetView, ShardLease};

use crate::cli::ExplainFormat;

pub fn run(paths: &[PathBuf], format: ExplainFormat) -> anyhow::Result<ExitCode> {
    let config = match super::load(paths) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let mut fleets = Vec::new();
    for source in &config.sources {
        match runtime.block_on(fleet_status(source, &config))? {
            Some(status) => fleets.push(status),
            None => eprintln!("source {}: no event_based_sync, no fleet", source.name),
        }
    }
    let mut out = std::io::stdout().lock();
    match format {
        ExplainFormat::Json => {
            let all: Vec<_> = fleets.iter().map(as_json).collect();
            serde_json::to_writer_pretty(&mut out, &json!({ "sources": all }))?;
            writeln!(out)?;
        }
        ExplainFormat::Text => {
            for status in &fleets {
                write_text(&mut out, status)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "expires in 8.2 s", "expired 3.0 s ago", or "released".
fn lease_state(owner: Option<&str>, expires_in_ms: i64) -> String {
    match owner {
        None => "released".into(),
        Some(_) if expires_in_ms > 0 => {
            format!("expires in {:.1} s", expires_in_ms as f64 / 1000.0)
        }
        Some(_) => format!("expired {:.1} s ago", -expires_in_ms as f64 / 1000.0),
    }
}

fn held_by<'a>(view: &'a FleetView, worker: &str) -> Vec<&'a str> {
    view.shards
        .iter()
        .filter(|s| s.owner.as_deref() == Some(worker) && !s.is_free())
        .map(|s| s.shard_id.as_str())
        .collect()
}

fn write_text(out: &mut impl Write, status: &FleetStatus) -> std::io::Result<()> {
    let view = &status.view;
    let live = view.workers.iter().filter(|w| w.is_live()).count();
    writeln!(
        out,
        "source {}  stream {}  ({live} live worker{})",
        status.scope.source_name,
        status.scope.stream_arn,
        if live == 1 { "" } else { "s" }
    )?;
    writeln!(
        out,
        "  {:<28} {:<36} {:>5}  {:<30} {:>10}  LEASE",
        "SHARD", "OWNER", "EPOCH", "CHECKPOINT", "LAG"
    )?;
    for shard in &view.shards {
        let lag = shard
            .millis_behind
            .map_or("-".to_string(), |ms| format!("{ms} ms"));
        writeln!(
            out,
            "  {:<28} {:<36} {:>5}  {:<30} {:>10}  {}",
            shard.shard_id,
            shard.owner.as_deref().unwrap_or("-"),
            shard.epoch,
            shard.position.to_string(),
            lag,
            lease_state(shard.owner.as_deref(), shard.expires_in_ms)
        )?;
    }
    writeln!(
        out,
        "  {:<36} {:<20} {:>8}  {:<25} {:<22} HOLDS",
        "WORKER", "HOST", "PID", "STARTED", "HEARTBEAT"
    )?;
    for worker in &view.workers {
        let beat = if worker.is_live() {
            "live".to_string()
        } else {
            lease_state(Some(&worker.id), worker.expires_in_ms)
        };
        writeln!(
            out,
            "  {:<36} {:<20} {:>8}  {:<25} {:<22} {}",
            worker.id,
            worker.host,
            worker.pid,
            worker
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            beat,
            held_by(view, &worker.id).join(", ")
        )?;
    }
    for job in &view.jobs {
        writeln!(
            out,
            "  job {:<10} owner {:<36} last started {}  last finished {}",
            job.job,
            job.owner
                .as_deref()
                .filter(|_| job.expires_in_ms > 0)
                .unwrap_or("-"),
            job.started_at.map_or("never".into(), |t| t
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            job.finished_at.map_or("never".into(), |t| t
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        )?;
    }
    Ok(())
}

fn shard_json(shard: &ShardLease) -> serde_json::Value {
    json!({
        "shard_id": shard.shard_id,
        "owner": shard.owner,
        "epoch": shard.epoch,
        "checkpoint": shard.position.to_string(),
        "millis_behind": shard.millis_behind,
        "lease_expires_in_ms": shard.expires_in_ms,
        "free": shard.is_free(),
        "parents": shard.parents,
        "handoff_to": shard.handoff_to,
        "updated_at": shard.updated_at,
    })
}

fn as_json(status: &FleetStatus) -> serde_json::Value {
    let view = &status.view;
    json!({
        "source": status.scope.source_name,
        "stream": status.scope.stream_arn,
        "shards": view.shards.iter().map(shard_json).collect::<Vec<_>>(),
        "workers": view.workers.iter().map(|w| json!({
            "id": w.id,
            "host": w.host,
            "pid": w.pid,
            "started_at": w.started_at,
            "live": w.is_live(),
            "heartbeat_expires_in_ms": w.expires_in_ms,
            "shards": held_by(view, &w.id),
        })).collect::<Vec<_>>(),
        "jobs": view.jobs.iter().map(|j| json!({
            "job": j.job,
            "owner": j.owner,
            "running": j.owner.is_some() && j.expires_in_ms > 0,
            "last_started": j.started_at,
            "last_finished": j.finished_at,
        })).collect::<Vec<_>>(),
    })
}
