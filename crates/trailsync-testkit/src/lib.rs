//! The shared harness of trailsync's integration tests and of the demo.
//!
//! Tests run against real parts, never mocks of our own making (SPEC.md section 8):
//!
//! - [`Moto`]: a private moto server (the pinned `moto[server]` installed by `scripts/setup-moto.sh`)
//!   per test, on a free port, killed on drop. [`Moto::sdk_config`] gives SDK clients for the default
//!   account [`DEFAULT_ACCOUNT`]; [`Moto::sdk_config_for_account`] assumes a role into any other
//!   account, which moto keeps as a separate, initially empty world. [`Moto::start_recording`] and
//!   [`Moto::recorded_calls`] count the AWS calls the code under test makes.
//! - [`TestDatabase`]: a uniquely named database on the local PostgreSQL, dropped afterwards.
//! - [`PostgresServer`]: a private PostgreSQL server a test may stop, restart or give TLS
//!   ([`PostgresServer::start_tls`], with certificates from a [`TestCa`]).
//! - [`CloudTrailPipe`]: Kinesis stream + CloudWatch Logs log group + subscription filter, the path
//!   CloudTrail events take in production; [`CloudTrailPipe::send`] writes events into the log group
//!   and moto delivers the gzip'd subscription payloads into the stream.
//! - [`cloudtrail`]: builders for CloudTrail-shaped events (moto emits none), modelled on real records.
//! - [`ec2`]: seeding EC2 resources in moto.
//! - [`FaultProxy`]: moto behind a proxy that throttles, fails, drops or delays the calls a test
//!   chooses, and counts every call by operation.
//!
//! Everything fails loudly: a missing moto or an unreachable PostgreSQL is an error naming what to do,
//! never a silently skipped test.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trailsync_testkit::TestkitError> {
//! use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail, ec2};
//!
//! let moto = Moto::start().await?;
//! let config = moto.sdk_config("us-east-1");
//! let ids = ec2::run_instances(&aws_sdk_ec2::Client::new(&config), 1, &[("Name", "web")]).await?;
//! let pipe = CloudTrailPipe::create(&config, "cloudtrail", 2).await?;
//! let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
//! pipe.send(&[cloudtrail::run_instances(DEFAULT_ACCOUNT, "us-east-1", &ids)]).await?;
//! // ... run trailsync against moto.endpoint() and pipe.stream_arn() ...
//! # Ok(()) }
//! ```

pub mod cloudtrail;
pub mod ec2;
mod error;
mod fault;
mod http;
mod moto;
mod pg_server;
mod pipe;
mod postgres;
mod tls;

pub use error::{BoxError, Result, TestkitError};
pub use fault::{Fault, FaultProxy};
pub use moto::{ApiCall, DEFAULT_ACCOUNT, Moto};
pub use pg_server::PostgresServer;
pub use pipe::{
    CloudTrailPipe, Placement, SUBSCRIPTION_FILTER, StreamRecord, decode_payload, encode_payload,
    gzip, payload_events,
};
pub use postgres::{DEFAULT_ADMIN_URL, TestDatabase};
pub use tls::{IssuedCert, TestCa};
