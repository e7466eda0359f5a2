//! CloudTrail events in, inventory changes out. A pure library: no AWS calls, no files, no
//! network; callers bring the bytes.
//!
//! Three steps, each usable alone:
//!
//! 1. [`decode`] turns bytes in any accepted form (a CloudWatch Logs subscription payload,
//!    gzip or plain; a CloudTrail record; an EventBridge envelope; a CloudTrail S3 log file; JSON
//!    lines or an array of these) into [`CloudTrailEvent`]s, and says why it passed over anything
//!    else ([`Skip`]). The Kinesis consumer and `trailsync explain` share it, so they accept the
//!    same input.
//! 2. [`route`] says what one event means: ignored (failed, read-only, untracked) or the
//!    [`Change`]s to make — which table, account, region, resource id (or the whole table) and
//!    whether the resource was upserted or deleted.
//! 3. [`explain()`](mod@explain) renders both for people (`--format text`) and programs
//!    (`--format json`).
//!
//! Which events change which tables is data, in [`routes::ROUTES`] (plus the tagging rows the
//! catalog's tag prefixes derive, see [`routes()`]); the docs page
//! `docs/EVENTS.md` is rendered from it by [`events_markdown`].

mod decode;
mod docs;
mod event;
pub mod explain;
mod json;
mod route;
pub mod routes;

pub use decode::{
    Decoded, MAX_DECOMPRESSED_BYTES, MAX_LISTED_SKIPS, Part, Skip, SkipReason, decode,
};
pub use docs::events_markdown;
pub use event::{CloudTrailEvent, EventError};
pub use explain::{Explanation, Format, Report, explain};
pub use route::{Action, Change, IgnoreReason, Outcome, Target, region_of, route};
pub use routes::{ROUTES, Route, routed_tables, routes, routes_for_event, routes_for_table};
