//! The harness tested against the real parts it wraps: moto and the local PostgreSQL.
//!
//! One test binary (modules below) rather than one per file: each binary links the AWS SDK.

mod accounts;
mod fault;
mod moto;
mod pipe;
mod postgres;
