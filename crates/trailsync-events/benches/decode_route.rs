//! Throughput of the per-record hot path: decode a CloudWatch Logs subscription payload (gzip),
//! then route every event in it. Inputs are the real CloudTrail records under
//! `../shared/fixtures/cloudtrail/events`, packed 50 to a payload as CloudWatch Logs delivers them.
//!
//! Beside it, in the same run on the same bytes, the floor: gzip inflate plus a generic
//! `serde_json::Value` parse of the payload and of every message, which is what any consumer
//! must at least do without knowing the shape of a record. Prints its figures and the targets it
//! misses; docs/BENCHMARKS.md records them with the command that produced them.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use trailsync_events::{Outcome, decode, route};

const EVENTS_PER_PAYLOAD: usize = 50;
/// Each measurement runs whole rounds over its payloads for at least this long.
const MEASURE_FOR: Duration = Duration::from_millis(1500);
/// Measurements per figure; the median is reported.
const RUNS: usize = 5;
/// Targets from the performance issue: a multiple of the floor, and events/s on one core.
const TARGET_FLOOR_MULTIPLE: f64 = 1.5;
const TARGET_EVENTS_PER_SECOND: f64 = 150_000.0;

fn main() {
    let events = fixture_events();
    if events.is_empty() {
        // Said why by `testing::shared`: the samples are not beside this clone.
        return;
    }
    println!(
        "decode+route vs its floor, median of {RUNS} runs of >= {:.1} s each, one thread",
        MEASURE_FOR.as_secs_f64()
    );
    // The published samples as they are (almost all of them change something), then a trail as
    // one is made: four read-only calls for every one that changes something.
    let read_heavy: Vec<Value> = events
        .iter()
        .flat_map(|event| {
            let mut read = event.clone();
            if let Some(fields) = read.as_object_mut() {
                fields.insert("readOnly".into(), Value::Bool(true));
            }
            std::iter::repeat_n(read, 4).chain(std::iter::once(event.clone()))
        })
        .take(events.len())
        .collect();
    let mut missed = Vec::new();
    for (name, events) in [
        ("published samples", &events),
        ("80 % readOnly", &read_heavy),
    ] {
        missed.extend(measure(name, events));
    }
    if missed.is_empty() {
        println!("targets met");
    } else {
        println!("targets missed: {}", missed.join("; "));
    }
}

/// Measures one input: gzip inflate alone, the floor and trailsync; prints them; returns the
/// targets missed.
fn measure(name: &str, events: &[Value]) -> Vec<String> {
    let payloads: Vec<Vec<u8>> = events
        .chunks(EVENTS_PER_PAYLOAD)
        .map(gzip_payload)
        .collect();
    let compressed: usize = payloads.iter().map(Vec::len).sum();
    let per_round = events.len();
    // Every event must come out of trailsync's decoder, or it would be measuring skips.
    let decoded: usize = payloads.iter().map(|p| decode(p).events.len()).sum();
    assert_eq!(decoded, per_round, "{name}: every event decodes");

    let (mut inflate, mut floor, mut trailsync) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        inflate.push(events_per_second(&payloads, per_round, inflate_only));
        floor.push(events_per_second(&payloads, per_round, generic_parse));
        trailsync.push(events_per_second(&payloads, per_round, decode_and_route));
    }
    let (inflate, floor, trailsync) = (median(inflate), median(floor), median(trailsync));
    let multiple = trailsync / floor;
    println!(
        "{name}: {per_round} events in {} payloads ({compressed} bytes of gzip)",
        payloads.len()
    );
    println!("  gzip inflate alone        {inflate:>9.0} events/s");
    println!("  floor (inflate + Value)   {floor:>9.0} events/s");
    println!(
        "  trailsync decode+route    {trailsync:>9.0} events/s  = {multiple:.2}x the floor, {:.2} µs/event",
        1e6 / trailsync
    );
    let mut missed = Vec::new();
    if multiple < TARGET_FLOOR_MULTIPLE {
        missed.push(format!(
            "{name}: {multiple:.2}x the floor < {TARGET_FLOOR_MULTIPLE}x"
        ));
    }
    if trailsync < TARGET_EVENTS_PER_SECOND {
        missed.push(format!(
            "{name}: {trailsync:.0} events/s < {TARGET_EVENTS_PER_SECOND:.0}"
        ));
    }
    missed
}

/// Events per second of `work` over whole rounds of `payloads`, for at least [`MEASURE_FOR`].
fn events_per_second(payloads: &[Vec<u8>], per_round: usize, work: fn(&[u8]) -> u64) -> f64 {
    for p in payloads {
        std::hint::black_box(work(p));
    }
    let started = Instant::now();
    let mut rounds = 0u64;
    while started.elapsed() < MEASURE_FOR {
        for p in payloads {
            std::hint::black_box(work(p));
        }
        rounds += 1;
    }
    rounds as f64 * per_round as f64 / started.elapsed().as_secs_f64()
}

fn median(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    MultiGzDecoder::new(payload)
        .read_to_end(&mut plain)
        .expect("gzip made by this bench");
    plain
}

fn inflate_only(payload: &[u8]) -> u64 {
    inflate(payload).len() as u64
}

/// The floor: what any consumer must at least do, generically: inflate, parse the payload into
/// a `serde_json::Value`, and parse every message into one.
fn generic_parse(payload: &[u8]) -> u64 {
    let plain = inflate(payload);
    let payload: Value = serde_json::from_slice(&plain).expect("JSON made by this bench");
    let mut parsed = 0;
    for log_event in payload["logEvents"].as_array().into_iter().flatten() {
        let message = log_event["message"].as_str().unwrap_or_default();
        let record: Value = serde_json::from_str(message).expect("JSON made by this bench");
        std::hint::black_box(&record);
        parsed += 1;
    }
    parsed
}

/// trailsync: decode one record and route its events; returns how many changes came out.
fn decode_and_route(payload: &[u8]) -> u64 {
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
