//! Every AWS request of an account passes through one [`CallMeter`]: a wrapper around the SDK's
//! HTTP client that waits for a token of the (region, service) bucket and counts the request by
//! operation into the engine's [`Stats`]. Table readers need not know: every client built from
//! the account's `SdkConfig` goes through it, full sync, reconciliation and re-fetches alike.
//!
//! Requests are recognised from what is on the wire, after signing: region and service from the
//! SigV4 credential scope of the `Authorization` header (right with endpoint overrides, where
//! the host says nothing), the operation from `X-Amz-Target` (JSON protocols: Kinesis, ECS) or
//! `Action=` (query protocols: EC2, IAM, RDS, STS). Each attempt counts: SDK retries spend
//! tokens and show in the counts, as they do in AWS's own throttling.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
use trailsync_engine::Stats;
use trailsync_engine::limits::{BucketSize, RateLimiter};

/// A token bucket of one service, for the operations whose names start with `prefix`.
struct Limit {
    service: &'static str,
    prefix: &'static str,
    /// Names the bucket (per account and region).
    bucket: &'static str,
    size: BucketSize,
}

const fn size(burst: f64, refill_per_second: f64) -> BucketSize {
    BucketSize {
        burst,
        refill_per_second,
    }
}

/// AWS's published request quotas, per account and region; first match wins. Operations not
/// listed are counted but not limited here (Kinesis GetRecords and GetShardIterator are limited
/// per shard, 5 per second, by the shard reader).
const LIMITS: &[Limit] = &[
    // EC2 request-rate limiting, non-mutating actions: bucket 100, refill 20 per second.
    Limit {
        service: "ec2",
        prefix: "Describe",
        bucket: "ec2:read",
        size: size(100.0, 20.0),
    },
    // RDS: one budget for the whole API, 300 in a burst, 12 per second sustained.
    Limit {
        service: "rds",
        prefix: "",
        bucket: "rds",
        size: size(300.0, 12.0),
    },
    // ECS: cluster read actions (DescribeClusters, ListClusters) have the smallest read
    // bucket, 50 with a refill of 20 per second; every ECS call is kept within it.
    Limit {
        service: "ecs",
        prefix: "",
        bucket: "ecs",
        size: size(50.0, 20.0),
    },
    // IAM publishes no bucket sizes (it is global: one bucket per account, region us-east-1).
    // EC2's non-mutating shape; the SDK's retries with backoff absorb any throttling beyond it.
    Limit {
        service: "iam",
        prefix: "",
        bucket: "iam",
        size: size(100.0, 20.0),
    },
    // Kinesis ListShards: 1000 per second per stream; one bucket of a tenth of that is plenty.
    Limit {
        service: "kinesis",
        prefix: "ListShards",
        bucket: "kinesis:ListShards",
        size: size(100.0, 100.0),
    },
];

fn limit_for(service: &str, operation: &str) -> Option<&'static Limit> {
    LIMITS
        .iter()
        .find(|l| l.service == service && operation.starts_with(l.prefix))
}

/// Rate limits and counts the AWS requests of one account. Cheap to clone; clones share state.
#[derive(Clone, Debug)]
pub struct CallMeter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    limiter: RateLimiter,
    stats: Arc<Stats>,
    /// CloudQuery's `aws_debug`: log every request with its answer.
    log_requests: bool,
}

impl CallMeter {
    /// A meter with fresh buckets, counting into `stats`.
    pub fn new(stats: Arc<Stats>) -> CallMeter {
        CallMeter {
            shared: Arc::new(Shared {
                limiter: RateLimiter::default(),
                stats,
                log_requests: false,
            }),
        }
    }

    /// Logs every request (service, operation, region, attempt, status, time taken, request
    /// id) when `on`: CloudQuery's `aws_debug`. Headers and bodies are never logged (they carry
    /// credentials and data).
    pub fn logging(mut self, on: bool) -> CallMeter {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.log_requests = on;
        }
        self
    }

    /// The HTTP client every request of the account goes through: `inner` (else the SDK's
    /// default HTTPS client), behind this meter.
    pub fn http_client(&self, inner: Option<SharedHttpClient>) -> SharedHttpClient {
        let inner = inner.or_else(default_http_client);
        SharedHttpClient::new(MeteredClient {
            inner,
            meter: self.clone(),
        })
    }

    /// Paces this source's calls to its share of the budget, in a fleet of `workers`.
    pub fn share_with(&self, workers: usize) {
        self.shared.limiter.share_with(workers);
    }

    /// Adapts the call's bucket to AWS's answer and counts throttling.
    fn answered(&self, call: &Call, throttled: bool) {
        let limit = limit_for(&call.service, &call.operation);
        if throttled {
            self.shared
                .stats
                .aws_throttle(&call.service, &call.operation);
            if let Some(limit) = limit {
                self.shared.limiter.throttled(&call.region, limit.bucket);
            }
        } else if let Some(limit) = limit {
            self.shared.limiter.succeeded(&call.region, limit.bucket);
        }
    }

    async fn admit(&self, call: &Call) {
        if let Some(limit) = limit_for(&call.service, &call.operation) {
            self.shared
                .limiter
                .acquire(&call.region, limit.bucket, limit.size)
                .await;
        }
        self.shared.stats.aws_call(&call.service, &call.operation);
    }
}

/// The SDK's own default HTTPS client, which a wrapper must call explicitly.
fn default_http_client() -> Option<SharedHttpClient> {
    let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(
        BehaviorVersion::latest(),
    )?;
    plugin
        .runtime_components(&RuntimeComponentsBuilder::new("trailsync"))
        .http_client()
}

#[derive(Debug)]
struct MeteredClient {
    /// `None` only in a build without the SDK's default client: requests then fail loudly.
    inner: Option<SharedHttpClient>,
    meter: CallMeter,
}

impl HttpClient for MeteredClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(MeteredConnector {
            inner: self
                .inner
                .as_ref()
                .map(|client| client.http_connector(settings, components)),
            meter: self.meter.clone(),
        })
    }
}

#[derive(Debug)]
struct MeteredConnector {
    inner: Option<SharedHttpConnector>,
    meter: CallMeter,
}

impl HttpConnector for MeteredConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let call = Call::of(&request);
        let inner = self.inner.clone();
        let meter = self.meter.clone();
        HttpConnectorFuture::new(async move {
            let Some(inner) = inner else {
                return Err(
                    aws_smithy_runtime_api::client::result::ConnectorError::other(
                        "no HTTP client in this build".into(),
                        None,
                    ),
                );
            };
            if let Some(call) = &call {
                meter.admit(call).await;
            }
            let started = std::time::Instant::now();
            let answer = inner.call(request).await;
            if let (Some(call), Ok(response)) = (&call, &answer) {
                meter.answered(call, is_throttling(response));
            }
            if !meter.shared.log_requests {
                return answer;
            }
            let (service, operation, region) = call.as_ref().map_or(("-", "-", "-"), |c| {
                (c.service.as_str(), c.operation.as_str(), c.region.as_str())
            });
            let ms = started.elapsed().as_millis() as u64;
            match &answer {
                Ok(response) => {
                    let request_id = ["x-amzn-requestid", "x-amz-request-id"]
                        .iter()
                        .find_map(|h| response.headers().get(*h))
                        .unwrap_or("-");
                    tracing::info!(
                        service,
                        operation,
                        region,
                        status = response.status().as_u16(),
                        ms,
                        request_id,
                        "aws request"
                    );
                }
                Err(error) => {
                    tracing::info!(service, operation, region, ms, error = %error, "aws request failed");
                }
            }
            answer
        })
    }
}

/// Whether AWS answered "slow down": HTTP 429, 503 (EC2's `RequestLimitExceeded`, S3's
/// `SlowDown`), or a JSON-protocol error type naming throttling. Read from the status and
/// headers only: the body is the SDK's to read.
fn is_throttling(response: &HttpResponse) -> bool {
    let status = response.status().as_u16();
    status == 429
        || status == 503
        || response
            .headers()
            .get("x-amzn-errortype")
            .is_some_and(|kind| kind.contains("Throttl") || kind.contains("LimitExceeded"))
}

/// What a signed request is: where, to which service, which operation.
#[derive(Debug, PartialEq, Eq)]
struct Call {
    region: String,
    service: String,
    operation: String,
}

impl Call {
    /// `None` for unsigned requests (instance metadata, SSO portals...).
    fn of(request: &HttpRequest) -> Option<Call> {
        let (region, service) = credential_scope(request.headers().get("authorization")?)?;
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .map(str::to_string)
            .or_else(|| request.body().bytes().and_then(form_action))
            .or_else(|| {
                let query = request.uri().split_once('?')?.1;
                form_action(query.as_bytes())
            })
            .unwrap_or_else(|| "unknown".to_string());
        Some(Call {
            region: region.to_string(),
            service: service.to_string(),
            operation,
        })
    }
}

/// (region, service) of `Credential=KEY/DATE/REGION/SERVICE/aws4_request` in a SigV4
/// `Authorization` header.
fn credential_scope(authorization: &str) -> Option<(&str, &str)> {
    let credential = authorization.split("Credential=").nth(1)?;
    let credential = credential.split([',', ' ']).next()?;
    let mut parts = credential.split('/').skip(2);
    let region = parts.next()?;
    let service = parts.next()?;
    (!region.is_empty() && !service.is_empty()).then_some((region, service))
}

/// The `Action` of a query-protocol form body or query string.
fn form_action(form: &[u8]) -> Option<String> {
    let form = std::str::from_utf8(form).ok()?;
    form.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .filter(|action| action.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_scope_names_region_and_service() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/eu-west-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(credential_scope(header), Some(("eu-west-1", "ec2")));
        assert_eq!(credential_scope("Bearer token"), None);
        assert_eq!(
            credential_scope("AWS4-HMAC-SHA256 Credential=K/20261124//ec2/aws4_request"),
            None
        );
    }

    #[test]
    fn query_actions_are_read_from_the_form() {
        assert_eq!(
            form_action(b"Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=instance-id"),
            Some("DescribeInstances".to_string())
        );
        assert_eq!(
            form_action(b"Version=1&Action=ListRoles"),
            Some("ListRoles".into())
        );
        assert_eq!(form_action(b"{\"StreamARN\":\"x\"}"), None);
        assert_eq!(form_action(b"Action=%3Cscript%3E"), None);
    }

    #[test]
    fn buckets_follow_the_published_quotas() {
        let ec2 = limit_for("ec2", "DescribeInstances").expect("EC2 reads are limited");
        assert_eq!(ec2.size, size(100.0, 20.0));
        assert!(
            limit_for("kinesis", "GetRecords").is_none(),
            "paced per shard"
        );
        assert_eq!(
            limit_for("rds", "DescribeDBClusters").map(|l| l.bucket),
            Some("rds")
        );
        assert!(limit_for("sts", "GetCallerIdentity").is_none());
    }
}
