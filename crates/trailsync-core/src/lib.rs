//! trailsync's vocabulary: the ports between the engine and the outside world, and the types
//! that cross them. No AWS SDK, no SQL driver, no I/O: every other crate depends on this one,
//! and it depends only on the [catalog](trailsync_catalog).
//!
//! Three ports, each a trait the engine drives and another crate implements:
//!
//! - [`Inventory`] (implemented by `trailsync-aws`): list a table at a [`Location`], or fetch
//!   resources by id. Failures are [`FetchError`]s that say whether trying again can help.
//! - [`ShardSource`] / [`ShardReader`] (implemented by `trailsync-aws`): the shards of a Kinesis
//!   stream and their [`Record`]s, ordered by [`SequenceNumber`].
//! - [`Destination`] (implemented by `trailsync-destination`): a database that applies one
//!   [`WriteBatch`] per transaction, the rows together with the [`Checkpoint`]s they complete,
//!   and keeps the shard and job [`Leases`] that let several workers share a stream.
//!
//! ```text
//! ShardSource --Record--> engine --ids--> Inventory
//!                           |  <--Resource--'
//!                           '--WriteBatch (rows + checkpoints)--> Destination
//! ```

mod change;
mod destination;
mod inventory;
mod lease;
mod stream;

pub use change::{Attribution, ChangeQuery, ChangeRecord, EventCause, SkippedChange, Trigger};
pub use destination::{
    Checkpoint, Destination, DestinationError, DestinationKind, ErrorKind, UnknownDestinationKind,
    UnknownWriteMode, WriteBatch, WriteMode, WriteSummary,
};
pub use inventory::{FetchError, FetchErrorKind, Fetched, Inventory, Location};
pub use lease::{
    FleetView, Grant, Held, JobGrant, JobLease, LeaseLost, LeaseScope, Leases, ShardClaim,
    ShardLease, Worker, WorkerLease,
};
pub use stream::{
    Position, Record, SequenceNumber, ShardInfo, ShardRead, ShardReader, ShardSource, StreamError,
    UnknownPosition,
};

/// Any error, kept as the source of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
