//! A private moto server per test: started on a free port, killed on drop.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use base64::Engine as _;

use crate::error::{Result, TestkitError};
use crate::http;

/// Account moto serves for the static `testing` credentials (moto's own default; the harness removes
/// `MOTO_ACCOUNT_ID` from moto's environment so this always holds).
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// Static credentials moto accepts for [`DEFAULT_ACCOUNT`].
const ACCESS_KEY: &str = "testing";

/// How long moto may take to import and bind. Python start-up on a busy 2-core runner with several
/// test binaries starting their own moto takes a few seconds; 20 s is generous but still bounded.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Role assumed to reach another account; moto accepts any role name and does not need it to exist.
const ROLE_NAME: &str = "trailsync-testkit";

/// A running moto server on 127.0.0.1, owned by one test.
///
/// Each test gets its own server so tests run in parallel without seeing each other's resources.
/// The process is killed when the value is dropped (also while a test unwinds from a panic); its
/// combined stdout/stderr is in [`Moto::log_path`], which is deleted after a clean drop and kept when
/// the dropping thread panics (or `TRAILSYNC_KEEP_MOTO_LOGS` is set), so a failing test leaves the
/// server's side of the story behind.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
    log_path: PathBuf,
    recording_path: PathBuf,
    /// Keep the log after drop: set when start-up failed, since the error points at the log.
    keep_log: bool,
    /// Access key id -> account, for attributing recorded calls to accounts.
    accounts_by_key: Mutex<HashMap<String, String>>,
}

/// One AWS API request moto received while recording (see [`Moto::start_recording`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// Signing name from the SigV4 credential scope: `ec2`, `kinesis`, `logs`, `sts`, `iam`, ...
    pub service: String,
    /// Operation name: `DescribeInstances`, `GetRecords`, ...
    pub operation: String,
    /// Region from the SigV4 credential scope.
    pub region: String,
    /// Access key id the request was signed with.
    pub access_key_id: String,
    /// Account of that key, when the key came from this harness ([`Moto::sdk_config`] or
    /// [`Moto::sdk_config_for_account`]).
    pub account_id: Option<String>,
    /// SDK attempt number (`amz-sdk-request: attempt=N`), 1 for first tries; retries count separately.
    pub attempt: u32,
}

impl Moto {
    /// Starts the pinned moto server on a free 127.0.0.1 port and waits until it answers.
    ///
    /// moto_server is looked up at `$TRAILSYNC_MOTO_SERVER`, else `$TRAILSYNC_VENV/bin/moto_server`,
    /// else `<repo>/.venv/bin/moto_server` (what `scripts/setup-moto.sh` creates). A missing server is
    /// an error, never a skipped test.
    pub async fn start() -> Result<Moto> {
        Self::start_with_server(moto_server_path()).await
    }

    /// Like [`Moto::start`] with an explicit moto_server executable.
    pub async fn start_with_server(server: impl Into<PathBuf>) -> Result<Moto> {
        let server = server.into();
        if !server.is_file() {
            return Err(TestkitError::MotoNotFound { path: server });
        }
        let dir = log_dir();
        std::fs::create_dir_all(&dir).map_err(TestkitError::io("create log directory", &dir))?;
        let timeout = start_timeout();

        // The port is free when picked but can be taken before moto binds it: retry on that race only.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::spawn(&server, &dir, timeout).await {
                Err(TestkitError::MotoExited { tail, .. })
                    if attempt < 3 && tail.contains("Address already in use") => {}
                other => return other,
            }
        }
    }

    async fn spawn(server: &Path, dir: &Path, timeout: Duration) -> Result<Moto> {
        let port = free_port()?;
        let stem = format!("moto-{}-{port}", std::process::id());
        let log_path = dir.join(format!("{stem}.log"));
        let recording_path = dir.join(format!("{stem}.recording.jsonl"));
        let log =
            File::create(&log_path).map_err(TestkitError::io("create moto log", &log_path))?;
        let log_err = log
            .try_clone()
            .map_err(TestkitError::io("open moto log", &log_path))?;

        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .env("PYTHONUNBUFFERED", "1")
            .env("MOTO_RECORDER_FILEPATH", &recording_path)
            .env_remove("MOTO_ACCOUNT_ID")
            .env_remove("MOTO_ENABLE_RECORDING")
            .spawn()
            .map_err(|source| TestkitError::MotoSpawn {
                path: server.to_path_buf(),
                log: log_path.clone(),
                source,
            })?;

        // From here on `moto` owns the process: any early return kills it through Drop.
        let mut moto = Moto {
            child,
            port,
            log_path,
            recording_path,
            keep_log: false,
            accounts_by_key: Mutex::new(HashMap::from([(
                ACCESS_KEY.to_owned(),
                DEFAULT_ACCOUNT.to_owned(),
            )])),
        };
        if let Err(err) = moto.wait_ready(timeout).await {
            moto.keep_log = true;
            return Err(err);
        }
        Ok(moto)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(TestkitError::io("poll moto process", &self.log_path))?
            {
                return Err(TestkitError::MotoExited {
                    status,
                    log: self.log_path.clone(),
                    tail: log_tail(&self.log_path),
                });
            }
            // Any 2xx from a control endpoint means the WSGI app is imported and serving.
            if let Ok(resp) = http::request(self.port, "GET", "/moto-api/config", b"").await
                && (200..300).contains(&resp.status)
            {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(TestkitError::MotoNotReady {
                    endpoint: self.endpoint(),
                    waited: started.elapsed(),
                    log: self.log_path.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Base URL of the server, e.g. `http://127.0.0.1:41234`: the `endpoint_url` of every client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// File holding the server's stdout and stderr (one line per request, Python tracebacks on 500s).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// SDK configuration for [`DEFAULT_ACCOUNT`] in `region`, pointed at this server.
    ///
    /// Built from scratch rather than from `aws_config::load_defaults`, so nothing from the developer's
    /// environment (profiles, `AWS_*` variables, IMDS) leaks into a test.
    pub fn sdk_config(&self, region: &str) -> SdkConfig {
        self.config_with(
            region,
            Credentials::new(ACCESS_KEY, "testing", None, None, "trailsync-testkit"),
        )
    }

    /// SDK configuration for another account, as a tool assuming a role into it would have.
    ///
    /// moto keys its whole world by account: credentials returned by STS `AssumeRole` into
    /// `arn:aws:iam::<account_id>:role/...` are mapped to `account_id`, which starts out empty
    /// (no instances, no streams), independent of [`DEFAULT_ACCOUNT`]. For the default account this is
    /// [`Moto::sdk_config`]. Call it again after [`Moto::reset`]: a reset forgets assumed roles, and
    /// moto then silently maps the old keys to the default account.
    pub async fn sdk_config_for_account(
        &self,
        region: &str,
        account_id: &str,
    ) -> Result<SdkConfig> {
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TestkitError::InvalidAccountId(account_id.to_owned()));
        }
        if account_id == DEFAULT_ACCOUNT {
            return Ok(self.sdk_config(region));
        }
        let sts = aws_sdk_sts::Client::new(&self.sdk_config(region));
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account_id}:role/{ROLE_NAME}"))
            .role_session_name(ROLE_NAME)
            .send()
            .await
            .map_err(TestkitError::aws("sts:AssumeRole"))?;
        let creds = out.credentials.ok_or(TestkitError::MissingField {
            operation: "sts:AssumeRole",
            field: "Credentials",
        })?;
        self.accounts_by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(creds.access_key_id.clone(), account_id.to_owned());
        // No expiry: moto never expires sessions, and an expiry would make the SDK refresh a provider
        // that can only return the same keys.
        Ok(self.config_with(
            region,
            Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                Some(creds.session_token),
                None,
                "trailsync-testkit-assume-role",
            ),
        ))
    }

    fn config_with(&self, region: &str, credentials: Credentials) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(self.endpoint())
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            // A wedged moto must fail the test, not hang it.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build()
    }

    /// Forgets every resource in every account and region (`POST /moto-api/reset`).
    pub async fn reset(&self) -> Result<()> {
        self.control("POST", "/moto-api/reset").await?;
        self.accounts_by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|key, _| key == ACCESS_KEY);
        Ok(())
    }

    /// Starts moto's request recorder from an empty recording.
    ///
    /// The recorder (`/moto-api/recorder/*`) logs every request moto receives; the harness uses it to
    /// count AWS API calls ([`Moto::recorded_calls`]), e.g. to assert that re-fetches are batched.
    pub async fn start_recording(&self) -> Result<()> {
        self.control("POST", "/moto-api/recorder/reset-recording")
            .await?;
        self.control("POST", "/moto-api/recorder/start-recording")
            .await?;
        Ok(())
    }

    /// Stops recording; what was recorded stays readable.
    pub async fn stop_recording(&self) -> Result<()> {
        self.control("POST", "/moto-api/recorder/stop-recording")
            .await?;
        Ok(())
    }

    /// The AWS API calls recorded since [`Moto::start_recording`], in arrival order.
    pub async fn recorded_calls(&self) -> Result<Vec<ApiCall>> {
        let body = self
            .control("GET", "/moto-api/recorder/download-recording")
            .await?;
        let accounts = self
            .accounts_by_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut calls = Vec::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let entry: serde_json::Value =
                serde_json::from_str(line).map_err(|source| TestkitError::Json {
                    action: "parse of a moto recording line",
                    source,
                })?;
            if let Some(mut call) = parse_recorded_call(&entry)? {
                call.account_id = accounts.get(&call.access_key_id).cloned();
                calls.push(call);
            }
        }
        Ok(calls)
    }

    async fn control(&self, method: &'static str, path: &str) -> Result<String> {
        let resp = http::request(self.port, method, path, b"").await?;
        if !(200..300).contains(&resp.status) {
            return Err(TestkitError::MotoApi {
                method,
                url: format!("{}{path}", self.endpoint()),
                status: resp.status,
                body: resp.body_text(),
            });
        }
        Ok(resp.body_text())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Best effort: the process may already be gone; there is nobody to report to in a destructor.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let keep = self.keep_log
            || std::thread::panicking()
            || std::env::var_os("TRAILSYNC_KEEP_MOTO_LOGS").is_some();
        if !keep {
            let _ = std::fs::remove_file(&self.log_path);
            let _ = std::fs::remove_file(&self.recording_path);
        }
    }
}

/// Turns one recorder entry into an [`ApiCall`]; `None` for unsigned requests (moto's own API).
fn parse_recorded_call(entry: &serde_json::Value) -> Result<Option<ApiCall>> {
    let header = |name: &str| -> Option<&str> {
        entry["headers"]
            .as_object()?
            .iter()
            .find_map(|(k, v)| k.eq_ignore_ascii_case(name).then(|| v.as_str()).flatten())
    };
    // "AWS4-HMAC-SHA256 Credential=AKID/20261124/us-east-1/ec2/aws4_request, SignedHeaders=..."
    let Some(scope) = header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
    else {
        return Ok(None);
    };
    let parts: Vec<&str> = scope.split('/').collect();
    let [access_key_id, _date, region, service, ..] = parts[..] else {
        return Err(TestkitError::Decode {
            what: "SigV4 credential scope in a moto recording",
            reason: format!("unexpected scope {scope:?}"),
        });
    };

    let url = entry["url"].as_str().unwrap_or_default();
    let operation = if let Some(target) = header("x-amz-target") {
        // awsJson: "Kinesis_20131202.GetRecords"
        target.rsplit('.').next().unwrap_or(target).to_owned()
    } else if let Some((_, op)) = url.split_once("/operation/") {
        // rpcv2Cbor: "/service/<Service>/operation/<Operation>"
        op.split(['?', '/']).next().unwrap_or(op).to_owned()
    } else if let Some(action) = form_action(entry, url) {
        // awsQuery / ec2Query: "Action=DescribeInstances&Version=..."
        action
    } else {
        // REST protocols carry the operation in method + path only.
        let method = entry["method"].as_str().unwrap_or("?");
        let path = url.splitn(4, '/').nth(3).unwrap_or_default();
        format!("{method} /{path}")
    };
    let attempt = header("amz-sdk-request")
        .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("attempt=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);

    Ok(Some(ApiCall {
        service: service.to_owned(),
        operation,
        region: region.to_owned(),
        access_key_id: access_key_id.to_owned(),
        account_id: None,
        attempt,
    }))
}

/// `Action=` of a query-protocol request, from the form body or the query string.
fn form_action(entry: &serde_json::Value, url: &str) -> Option<String> {
    let body = entry["body"].as_str().unwrap_or_default();
    let body = if entry["body_encoded"].as_bool() == Some(true) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .ok()?;
        String::from_utf8(bytes).ok()?
    } else {
        body.to_owned()
    };
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    body.split('&')
        .chain(query.split('&'))
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_owned)
}

fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("TRAILSYNC_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("TRAILSYNC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    venv.join("bin").join("moto_server")
}

/// The workspace root, two levels above this crate (`crates/trailsync-testkit`).
pub(crate) fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// `<target>/trailsync-testkit`, found from the running binary (cargo marks its target directory with
/// `CACHEDIR.TAG`), else the system temp directory.
fn log_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|dir| dir.join("CACHEDIR.TAG").is_file())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(std::env::temp_dir)
        .join("trailsync-testkit")
}

fn start_timeout() -> Duration {
    std::env::var("TRAILSYNC_MOTO_START_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_START_TIMEOUT)
}

/// A port the kernel just handed out as free; released before moto binds it (see the retry in
/// [`Moto::start`]).
pub(crate) fn free_port() -> Result<u16> {
    let any = "127.0.0.1:0";
    let listener =
        std::net::TcpListener::bind(any).map_err(TestkitError::io("bind a free port at", any))?;
    let port = listener
        .local_addr()
        .map_err(TestkitError::io("read the port bound at", any))?
        .port();
    Ok(port)
}

/// Last lines of moto's log, for errors about a server that died.
fn log_tail(path: &Path) -> String {
    const MAX: usize = 4000;
    match std::fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(MAX);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("(log unreadable: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(headers: serde_json::Value, url: &str, body: &str) -> serde_json::Value {
        json!({
            "headers": headers,
            "method": "POST",
            "url": url,
            "body": base64::engine::general_purpose::STANDARD.encode(body),
            "body_encoded": true,
        })
    }

    #[test]
    fn recorded_calls_name_service_and_operation_for_each_protocol() {
        let auth = |svc: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential=ASIAX/20261124/eu-west-1/{svc}/aws4_request, SignedHeaders=host, Signature=00"
            )
        };
        let query = entry(
            json!({"Authorization": auth("ec2"), "amz-sdk-request": "attempt=2; max=3"}),
            "http://127.0.0.1:1/",
            "Action=DescribeInstances&Version=2016-11-15",
        );
        let call = parse_recorded_call(&query)
            .expect("parses")
            .expect("signed request is a call");
        assert_eq!(
            (
                call.service.as_str(),
                call.operation.as_str(),
                call.region.as_str()
            ),
            ("ec2", "DescribeInstances", "eu-west-1")
        );
        assert_eq!((call.access_key_id.as_str(), call.attempt), ("ASIAX", 2));

        let json_rpc = entry(
            json!({"authorization": auth("kinesis"), "X-Amz-Target": "Kinesis_20131202.GetRecords"}),
            "http://127.0.0.1:1/",
            "{}",
        );
        let call = parse_recorded_call(&json_rpc)
            .expect("parses")
            .expect("a call");
        assert_eq!(
            (call.service.as_str(), call.operation.as_str()),
            ("kinesis", "GetRecords")
        );

        let cbor = entry(
            json!({"Authorization": auth("monitoring")}),
            "http://127.0.0.1:1/service/GraniteServiceVersion20100801/operation/GetMetricData",
            "",
        );
        let call = parse_recorded_call(&cbor).expect("parses").expect("a call");
        assert_eq!(call.operation, "GetMetricData");

        let unsigned = entry(
            json!({"Host": "x"}),
            "http://127.0.0.1:1/moto-api/reset",
            "",
        );
        assert_eq!(parse_recorded_call(&unsigned).expect("parses"), None);
    }
}
