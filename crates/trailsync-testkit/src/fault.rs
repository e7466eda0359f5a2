//! A fault proxy in front of moto: AWS that fails on demand.
//!
//! Every request is forwarded to moto unchanged, except those a [`Fault`] rule catches: per
//! operation (`DescribeInstances`, `GetRecords`), a share of calls is answered the way AWS
//! answers when it is overloaded or broken — throttled, a 500 or 503 with the protocol's own
//! error shape, a dropped connection — or delayed. Point the code under test at
//! [`FaultProxy::endpoint`] instead of moto's, and the test at moto directly for setup.
//!
//! The proxy also counts every request it sees by operation ([`FaultProxy::calls`]), which is an
//! outside view of how many AWS calls the code under test made.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{Result, TestkitError};

/// What a caught request gets instead of moto's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// AWS's throttling answer for the protocol: `RequestLimitExceeded` (EC2, HTTP 503),
    /// `Throttling` (IAM, RDS, STS: HTTP 400), `ThrottlingException` (JSON services: HTTP 400;
    /// Kinesis: `ProvisionedThroughputExceededException`).
    Throttle,
    /// An internal error with this status (500, 503), in the protocol's error shape.
    ServerError(u16),
    /// The connection closes without an answer.
    Drop,
    /// The request is forwarded after this long.
    Delay(Duration),
}

/// One rule: calls of `operation` (all operations if empty) get `fault`, a `share` of them.
#[derive(Clone, Debug)]
struct Rule {
    operation: String,
    fault: Fault,
    share: f64,
    /// Accumulates `share` per call; each whole unit is one faulted call (exact shares, no luck).
    credit: f64,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    calls: HashMap<String, u64>,
    faulted: HashMap<String, u64>,
}

/// A running fault proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port in front of `upstream` (moto's endpoint URL).
    pub async fn start(upstream: &str) -> Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(TestkitError::io("bind fault proxy", "127.0.0.1:0"))?;
        let addr = listener
            .local_addr()
            .map_err(TestkitError::io("fault proxy address", "127.0.0.1:0"))?;
        let state = Arc::new(Mutex::new(State::default()));
        let upstream: Arc<str> = Arc::from(upstream.trim_end_matches('/'));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let server = tokio::spawn({
            let state = state.clone();
            async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = state.clone();
                    let upstream = upstream.clone();
                    let client = client.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |request| {
                            handle(request, state.clone(), upstream.clone(), client.clone())
                        });
                        // A dropped connection ends here with an error: that is the point.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Ok(FaultProxy {
            addr,
            state,
            server,
        })
    }

    /// The URL to give the code under test as its AWS endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, `share` (0 to 1) of the calls of `operation` get `fault`; an empty
    /// operation matches every call. Rules are checked in the order added; the first that
    /// matches an operation decides.
    pub fn inject(&self, operation: &str, fault: Fault, share: f64) {
        lock(&self.state).rules.push(Rule {
            operation: operation.to_string(),
            fault,
            share: share.clamp(0.0, 1.0),
            credit: 0.0,
        });
    }

    /// Removes every rule: all calls reach moto again.
    pub fn clear(&self) {
        lock(&self.state).rules.clear();
    }

    /// Requests of `operation` seen so far, faulted or forwarded.
    pub fn calls(&self, operation: &str) -> u64 {
        lock(&self.state).calls.get(operation).copied().unwrap_or(0)
    }

    /// Requests of `operation` that got a fault.
    pub fn faulted(&self, operation: &str) -> u64 {
        lock(&self.state)
            .faulted
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Every request seen so far, by operation.
    pub fn all_calls(&self) -> HashMap<String, u64> {
        lock(&self.state).calls.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How an AWS protocol spells its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// EC2's query protocol: `<Response><Errors><Error>`.
    Ec2,
    /// The other query services (IAM, RDS, STS): `<ErrorResponse><Error>`.
    Query,
    /// JSON 1.x services (Kinesis, ECS, CloudWatch Logs): `__type` and `x-amzn-ErrorType`.
    Json,
}

async fn handle(
    request: Request<Incoming>,
    state: Arc<Mutex<State>>,
    upstream: Arc<str>,
    client: Client<HttpConnector, Full<Bytes>>,
) -> std::result::Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok());
    let operation = target
        .and_then(|t| t.rsplit('.').next())
        .map(str::to_string)
        .or_else(|| form_action(&body))
        .or_else(|| parts.uri.query().and_then(|q| form_action(q.as_bytes())))
        .unwrap_or_default();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    let protocol = if target.is_some() {
        Protocol::Json
    } else if authorization.contains("/ec2/aws4_request") {
        Protocol::Ec2
    } else {
        Protocol::Query
    };
    let fault = {
        let mut state = lock(&state);
        *state.calls.entry(operation.clone()).or_default() += 1;
        let fault = state
            .rules
            .iter_mut()
            .find(|r| r.operation.is_empty() || r.operation == operation)
            .and_then(|rule| {
                rule.credit += rule.share;
                (rule.credit >= 1.0).then(|| {
                    rule.credit -= 1.0;
                    rule.fault
                })
            });
        if fault.is_some() {
            *state.faulted.entry(operation.clone()).or_default() += 1;
        }
        fault
    };
    match fault {
        Some(Fault::Drop) => Err("fault proxy: connection dropped".into()),
        Some(Fault::Throttle) => Ok(error_response(protocol, &operation, None)),
        Some(Fault::ServerError(status)) => Ok(error_response(protocol, &operation, Some(status))),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            forward(parts, body, &upstream, &client).await
        }
        None => forward(parts, body, &upstream, &client).await,
    }
}

async fn forward(
    parts: hyper::http::request::Parts,
    body: Bytes,
    upstream: &str,
    client: &Client<HttpConnector, Full<Bytes>>,
) -> std::result::Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut request = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        request = request.header(name, value);
    }
    let answer = client.request(request.body(Full::new(body))?).await?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// AWS's answer to a throttled (`status` None) or failed call, in `protocol`'s shape.
fn error_response(
    protocol: Protocol,
    operation: &str,
    status: Option<u16>,
) -> Response<Full<Bytes>> {
    let (code, message, status) = match (status, protocol) {
        (Some(500), _) => (
            "InternalFailure",
            "We encountered an internal error. Please try again.",
            500,
        ),
        (Some(status), _) => (
            "ServiceUnavailable",
            "Service is unavailable. Please try again.",
            status,
        ),
        (None, Protocol::Ec2) => ("RequestLimitExceeded", "Request limit exceeded.", 503),
        (None, Protocol::Query) => ("Throttling", "Rate exceeded", 400),
        (None, Protocol::Json) if matches!(operation, "GetRecords" | "GetShardIterator") => (
            "ProvisionedThroughputExceededException",
            "Rate exceeded for shard",
            400,
        ),
        (None, Protocol::Json) => ("ThrottlingException", "Rate exceeded", 400),
    };
    let request_id = "5c3a8f6e-9a1d-4c4e-8f0b-faulty000000";
    let (content_type, body) = match protocol {
        Protocol::Ec2 => (
            "text/xml;charset=UTF-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
            ),
        ),
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                if status >= 500 { "Receiver" } else { "Sender" }
            ),
        ),
        Protocol::Json => (
            "application/x-amz-json-1.1",
            format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers_mut();
    headers.insert("content-type", content_type.parse().expect("static header"));
    headers.insert(
        "x-amzn-requestid",
        request_id.parse().expect("static header"),
    );
    if protocol == Protocol::Json {
        headers.insert("x-amzn-errortype", code.parse().expect("static header"));
    }
    response
}

/// The `Action` of a query-protocol form body or query string.
fn form_action(form: &[u8]) -> Option<String> {
    let form = std::str::from_utf8(form).ok()?;
    form.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string)
}
