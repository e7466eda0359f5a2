//! Throughput of the per-record hot path: decode a CloudWatch Logs subscription payload (gzip),
//! then route every event in it. Inputs are the real CloudTrail records under
//! `../shared/fixtures/cloudtrail/events`, packed 50 to a payload as CloudWatch Logs delivers them.
//!
//! Prints its figures; docs/BENCHMARKS.md records them with the command that produced them.

use std::io::Write;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use trailsync_events::{Outcome, decode, route};

const EVENTS_PER_PAYLOAD: usize = 50;
const MEASURE_FOR: Duration = Duration::from_secs(3);

fn main() {
    let events = fixture_events();
    if events.is_empty() {
        // Said why by `testing::shared`: the samples are not beside this clone.
        return;
    }
    let payloads: Vec<Vec<u8>> = events
        .chunks(EVENTS_PER_PAYLOAD)
        .map(gzip_payload)
        .collect();
    let compressed: usize = payloads.iter().map(Vec::len).sum();
    let per_round: usize = events.len();

    // Warm up, then measure whole rounds over every payload for a fixed wall time.
    for p in &payloads {
        std::hint::black_box(run(p));
    }
    let started = Instant::now();
    let (mut rounds, mut changes) = (0u64, 0u64);
    while started.elapsed() < MEASURE_FOR {
        for p in &payloads {
            changes += run(p);
        }
        rounds += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let events_done = rounds as f64 * per_round as f64;
    println!(
        "fixture events per round: {per_round} in {} payloads ({compressed} bytes gzip)",
        payloads.len()
    );
    println!(
        "decode+route: {:.0} events/s, {:.1} MB/s of gzip input, {:.2} µs/event",
        events_done / secs,
        rounds as f64 * compressed as f64 / secs / 1e6,
        secs * 1e6 / events_done
    );
    println!("changes produced: {changes} over {rounds} rounds");
}

/// Decodes one record and routes its events; returns how many changes came out.
fn run(payload: &[u8]) -> u64 {
    let decoded = decode(payload);
    decoded
        .events
        .iter()
        .map(|e| match route(e) {
            Outcome::Changes(c) => c.len() as u64,
            Outcome::Ignored(_) => 0,
        })
        .sum()
}

fn fixture_events() -> Vec<Value> {
    let Some(root) = trailsync_catalog::testing::shared("fixtures/cloudtrail/events") else {
        return Vec::new();
    };
    let mut events = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(value) = serde_json::from_str::<Value>(&text)
            {
                // EventBridge envelopes carry the record under "detail".
                events.push(value.get("detail").cloned().unwrap_or(value));
            }
        }
    }
    events.sort_by_key(|e| e.to_string());
    // Repeat to a realistic volume: 1,000 events.
    events.iter().cycle().take(1000).cloned().collect()
}

fn gzip_payload(events: &[Value]) -> Vec<u8> {
    let log_events: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"id": i.to_string(), "timestamp": 1_764_000_000_000u64, "message": e.to_string()}))
        .collect();
    let payload = json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "aws-cloudtrail-logs",
        "logStream": "123456789012_CloudTrail_us-east-1",
        "subscriptionFilters": ["trailsync"],
        "logEvents": log_events,
    });
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(payload.to_string().as_bytes())
        .expect("gzip to memory");
    gz.finish().expect("gzip to memory")
}
