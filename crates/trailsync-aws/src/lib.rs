//! Everything that talks to AWS, behind the engine's traits.
//!
//! This is the only crate that depends on the AWS SDK, so the rest of the workspace builds and
//! tests in seconds. It provides:
//! - [`Accounts`]: credentials, account numbers and regions per configured account (ambient,
//!   profile, or an assumed role) or per member of an AWS Organization, over one [`Connection`]
//!   (endpoint, retries, request logging);
//! - [`AwsInventory`]: the engine's `Inventory`, dispatching each table to its reader in
//!   [`tables`], where a table's list and fetch-by-id calls live;
//! - [`KinesisSource`]: the engine's `ShardSource`;
//! - [`CallMeter`]: every request of an account rate limited per (region, service) with AWS's
//!   token-bucket sizes, and counted by operation into the engine's `Stats`;
//! - [`render`]: SDK types rendered as JSON, so rows are built from data, not per-column code.

mod accounts;
mod calls;
mod errors;
mod inventory;
mod kinesis;
mod org;
pub mod render;
pub mod tables;

pub use accounts::{Account, Accounts, AccountsError, Connection, Retries, sdk_config};
pub use calls::CallMeter;
pub use inventory::AwsInventory;
pub use kinesis::KinesisSource;
