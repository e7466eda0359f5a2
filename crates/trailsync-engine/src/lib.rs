//! The sync engine, independent of how AWS is reached.
//!
//! A source is described by a [`SyncPlan`] (tables, locations, destination semantics). The engine
//! runs a [`full_sync`](full_sync::full_sync) of it, then the [stream pipeline](stream): records
//! from every shard (followed through splits and merges) flow one way through bounded channels —
//! decode, route, coalesce, fetch, write — and a shard's checkpoint is committed in the same
//! destination transaction as the writes it caused, so nothing is acknowledged before it is
//! stored. [`limits`] holds the token buckets that pace AWS calls; [`Stats`] counts everything.
//!
//! The outside world is behind the ports of `trailsync-core`: [`Inventory`] (list and fetch
//! resources) and [`ShardSource`] (read a Kinesis stream), implemented by `trailsync-aws`, and
//! [`Destination`], implemented by `trailsync-destination`. The engine links neither the AWS SDK
//! nor a SQL driver.
//!
//! [`Inventory`]: trailsync_core::Inventory
//! [`ShardSource`]: trailsync_core::ShardSource
//! [`Destination`]: trailsync_core::Destination

pub mod fanout;
pub mod fleet;
pub mod full_sync;
pub mod limits;
mod plan;
mod progress;
pub mod retention;
mod stats;
pub mod stream;

pub use fanout::{Fanout, Target};
pub use fleet::Fleet;
pub use plan::{Locations, SyncPlan};
pub use stats::{LATENCY_BOUNDS, ShardProgress, Stats};
pub use stream::{DefaultStart, RetryPolicy, StreamOptions};
