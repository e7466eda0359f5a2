//! `sync --metrics-addr HOST:PORT`: Prometheus metrics, liveness and readiness over HTTP.
//!
//! - `GET /metrics`: every source's counters ([`Stats`]) in the OpenMetrics text format, read
//!   at scrape time (nothing is kept twice).
//! - `GET /healthz`: 200 while the process serves (liveness).
//! - `GET /readyz`: 200 when every source is ready, else 503 naming what is not: the full
//!   sync is not done, the destination does not answer, or a shard this worker owns has had no
//!   answer from Kinesis, or no checkpoint while behind, for longer than the stall limit.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use trailsync_core::Destination;
use trailsync_engine::Stats;

/// How long a readiness probe waits for the destination.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One source as the endpoints see it.
#[derive(Clone)]
pub struct Observed {
    pub name: String,
    pub stats: Arc<Stats>,
    pub destination: Arc<dyn Destination>,
    /// Whether it follows a stream (readiness then needs the full sync done and shards moving).
    pub streaming: bool,
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed")
            .field("name", &self.name)
            .field("streaming", &self.streaming)
            .finish_non_exhaustive()
    }
}

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {source}")]
pub struct ServeError {
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// Binds `addr`, then serves in the background until `stop`. `stall`: how long an owned shard
/// may go without progress before the worker reports not ready.
pub async fn serve(
    addr: SocketAddr,
    sources: Vec<Observed>,
    stall: Duration,
    stop: CancellationToken,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Sources(sources.clone())));
    let state = Arc::new(State {
        registry,
        sources,
        stall,
    });
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "metrics: cannot accept a connection");
                        continue;
                    }
                },
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.answer(request).await) }
                });
                if let Err(error) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%error, "metrics: connection ended");
                }
            });
        }
    });
    Ok(())
}

struct State {
    registry: Registry,
    sources: Vec<Observed>,
    stall: Duration,
}

impl State {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
        }
        match request.uri().path() {
            "/metrics" => {
                let mut body = String::new();
                match prometheus_client::encoding::text::encode(&mut body, &self.registry) {
                    Ok(()) => {
                        let mut response = Response::new(Full::new(Bytes::from(body)));
                        response.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static(
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            ),
                        );
                        response
                    }
                    Err(_) => text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "cannot encode metrics\n".into(),
                    ),
                }
            }
            "/healthz" => text(StatusCode::OK, "ok\n".into()),
            "/readyz" => {
                let problems = self.not_ready().await;
                if problems.is_empty() {
                    text(StatusCode::OK, "ready\n".into())
                } else {
                    text(StatusCode::SERVICE_UNAVAILABLE, problems.join("\n") + "\n")
                }
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
        }
    }

    /// What keeps this worker from being ready, one line per problem.
    async fn not_ready(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for source in &self.sources {
            let name = &source.name;
            if source.streaming && !source.stats.full_sync_done.load(Ordering::Relaxed) {
                problems.push(format!("source {name}: the full sync is not done"));
            }
            let probe = source.destination.checkpoints(name, "");
            match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    problems.push(format!("source {name}: destination unavailable: {error}"));
                }
                Err(_) => problems.push(format!(
                    "source {name}: destination did not answer within {PROBE_TIMEOUT:?}"
                )),
            }
            let now = Utc::now();
            let stalled = |at: Option<chrono::DateTime<Utc>>| {
                at.is_none_or(|at| (now - at).to_std().unwrap_or_default() > self.stall)
            };
            for (shard, progress) in source.stats.shards() {
                if stalled(progress.last_read) {
                    problems.push(format!(
                        "source {name}: shard {shard}: no answer from Kinesis for over {:?}",
                        self.stall
                    ));
                } else if progress.millis_behind.unwrap_or(0) > self.stall.as_millis() as i64
                    && stalled(progress.last_checkpoint)
                {
                    problems.push(format!(
                        "source {name}: shard {shard}: behind and no checkpoint for over {:?}",
                        self.stall
                    ));
                }
            }
        }
        problems
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// Every source's [`Stats`], encoded at each scrape.
#[derive(Debug)]
struct Sources(Vec<Observed>);

type Labels = Vec<(&'static str, String)>;
type Counters = Vec<(Labels, ConstCounter<u64>)>;
/// A counter read from [`Stats`]: name, help, getter.
type SimpleCounter = (&'static str, &'static str, fn(&Stats) -> u64);

/// Writes one metric family: its descriptor, then a sample per label set.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: Vec<(Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let Some(first) = samples.first() else {
        return Ok(());
    };
    let mut metric = encoder.encode_descriptor(name, help, None, first.1.metric_type())?;
    for (labels, sample) in &samples {
        sample.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter(labels: Labels, value: u64) -> (Labels, ConstCounter<u64>) {
    (labels, ConstCounter::new(value))
}

impl Collector for Sources {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let each = |f: &dyn Fn(&Observed, &Labels) -> Counters| {
            self.0
                .iter()
                .flat_map(|o| f(o, &vec![("source", o.name.clone())]))
                .collect::<Vec<_>>()
        };
        let plain = |get: fn(&Stats) -> u64| each(&|o, l| vec![counter(l.clone(), get(&o.stats))]);
        let simple: [SimpleCounter; 10] = [
            ("trailsync_records", "Kinesis records read.", |s| {
                Stats::get(&s.records)
            }),
            ("trailsync_events", "CloudTrail events decoded.", |s| {
                Stats::get(&s.events)
            }),
            (
                "trailsync_events_applied",
                "Events that asked for a resource this source tracks.",
                |s| Stats::get(&s.events_applied),
            ),
            (
                "trailsync_not_found_retries",
                "Ids asked for again after AWS did not return them.",
                |s| Stats::get(&s.not_found_retries),
            ),
            (
                "trailsync_changes_skipped",
                "Changes given up on, each a row written to trailsync_skipped.",
                |s| Stats::get(&s.changes_skipped),
            ),
            ("trailsync_rows_upserted", "Rows written.", |s| {
                Stats::get(&s.rows_upserted)
            }),
            (
                "trailsync_rows_deleted",
                "Rows deleted, stale rows included.",
                |s| Stats::get(&s.rows_deleted),
            ),
            (
                "trailsync_batches_committed",
                "Destination transactions committed.",
                |s| Stats::get(&s.batches_committed),
            ),
            (
                "trailsync_reconciliations",
                "Reconciliations of one table against a full listing.",
                |s| Stats::get(&s.reconciliations),
            ),
            (
                "trailsync_fetch_retries",
                "Fetches that failed for a reason that passes and wait to be asked again.",
                |s| Stats::get(&s.fetch_retries),
            ),
        ];
        for (name, help, get) in simple {
            family(&mut encoder, name, help, plain(get))?;
        }
        family(
            &mut encoder,
            "trailsync_passed",
            "Events and records passed over, by reason (readOnly, error AccessDenied, bad gzip...).",
            each(&|o, l| {
                o.stats
                    .skipped()
                    .into_iter()
                    .map(|(reason, n)| {
                        let mut labels = l.clone();
                        labels.push(("reason", reason));
                        counter(labels, n)
                    })
                    .collect()
            }),
        )?;
        family(
            &mut encoder,
            "trailsync_fetches",
            "Fetches by table and outcome (ok, retry, skipped).",
            each(&|o, l| {
                o.stats
                    .fetch_outcomes()
                    .into_iter()
                    .map(|((table, outcome), n)| {
                        let mut labels = l.clone();
                        labels.push(("table", table.to_string()));
                        labels.push(("outcome", outcome.to_string()));
                        counter(labels, n)
                    })
                    .collect()
            }),
        )?;
        for (name, help, calls) in [
            (
                "trailsync_aws_calls",
                "HTTP requests sent to AWS, retries included.",
                Stats::aws_calls as fn(&Stats) -> _,
            ),
            (
                "trailsync_aws_throttles",
                "AWS answers that asked to slow down (429, 503, throttling errors).",
                Stats::aws_throttles,
            ),
        ] {
            family(
                &mut encoder,
                name,
                help,
                each(&|o, l| {
                    calls(&o.stats)
                        .into_iter()
                        .map(|(key, n)| {
                            let (service, operation) = key.split_once(':').unwrap_or(("", &key));
                            let mut labels = l.clone();
                            labels.push(("service", service.to_string()));
                            labels.push(("operation", operation.to_string()));
                            counter(labels, n)
                        })
                        .collect()
                }),
            )?;
        }
        {
            let mut metric = encoder.encode_descriptor(
                "trailsync_write_seconds",
                "Time to commit a destination transaction while streaming (outages waited out included).",
                None,
                MetricType::Histogram,
            )?;
            for o in &self.0 {
                let (sum, count, buckets) = o.stats.write_latency.snapshot();
                let labels: Labels = vec![("source", o.name.clone())];
                metric
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        let now = Utc::now();
        let mut behind = Vec::new();
        let mut checkpoint_age = Vec::new();
        for o in &self.0 {
            for (shard, progress) in o.stats.shards() {
                let labels: Labels = vec![("source", o.name.clone()), ("shard", shard)];
                if let Some(ms) = progress.millis_behind {
                    behind.push((labels.clone(), ConstGauge::new(ms)));
                }
                if let Some(at) = progress.last_checkpoint {
                    let age = (now - at).num_milliseconds().max(0) as f64 / 1000.0;
                    checkpoint_age.push((labels, ConstGauge::new(age)));
                }
            }
        }
        family(
            &mut encoder,
            "trailsync_shard_millis_behind_latest",
            "MillisBehindLatest of the last GetRecords answer, per shard this worker reads.",
            behind,
        )?;
        family(
            &mut encoder,
            "trailsync_shard_checkpoint_age_seconds",
            "Seconds since the shard's checkpoint was last committed by this worker.",
            checkpoint_age,
        )?;
        family(
            &mut encoder,
            "trailsync_full_sync_done",
            "1 once the full sync is done (here or by another worker of the fleet).",
            self.0
                .iter()
                .map(|o| {
                    (
                        vec![("source", o.name.clone())],
                        ConstGauge::new(i64::from(o.stats.full_sync_done.load(Ordering::Relaxed))),
                    )
                })
                .collect(),
        )?;
        Ok(())
    }
}
