//! One reader per top-level table: how to list it and how to fetch it by id.
//!
//! Columns come from the catalog and values from [`crate::render`], so a reader only makes the
//! API calls and adds the computed columns (`arn`, `tags`, `account_id`, `region`).

mod ec2;
mod ec2_images;
mod ecs;
mod iam;
mod rds;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::error::SdkError;
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{Map, Value as Json};
use trailsync_catalog::{Row, Table};
use trailsync_core::{FetchError, Fetched, Location};

use crate::errors::{fetch_error, invalid};

/// What a reader needs for one call: credentials and region, and which children to include.
pub struct Context<'a> {
    pub config: &'a SdkConfig,
    pub location: &'a Location,
    pub children: &'a [&'static Table],
}

/// Lists and fetches one top-level table.
#[async_trait]
pub trait TableReader: Send + Sync {
    fn table(&self) -> &'static Table;
    async fn list(&self, cx: &Context<'_>) -> Result<Fetched, FetchError>;
    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Fetched, FetchError>;
}

/// The readers with a shape of their own; the EC2 tables read through one Describe* call
/// register themselves in [`ec2::READERS`].
static OTHER_READERS: &[&dyn TableReader] = &[
    &ec2_images::Ec2Images,
    &iam::ROLES,
    &iam::USERS,
    &iam::GROUPS,
    &rds::RdsInstances,
    &rds::RdsClusters,
    &ecs::EcsClusters,
];

/// Every table reader of this build.
fn readers() -> impl Iterator<Item = &'static dyn TableReader> {
    ec2::READERS.iter().chain(OTHER_READERS).copied()
}

/// The reader of a top-level table, if this build has one.
pub fn reader(table: &Table) -> Option<&'static dyn TableReader> {
    readers().find(|r| r.table() == table)
}

/// Names of the tables this build can read.
pub fn supported() -> impl Iterator<Item = &'static str> {
    readers().map(|r| r.table().name)
}

/// Adds the columns every regional table computes, then builds the row.
pub(crate) fn regional_row(
    table: &'static Table,
    cx: &Context<'_>,
    mut object: Map<String, Json>,
    arn: String,
) -> Result<Row, FetchError> {
    object.insert(
        "account_id".into(),
        Json::String(cx.location.account_id.clone()),
    );
    object.insert("region".into(), Json::String(cx.location.region.clone()));
    object.insert("arn".into(), Json::String(arn));
    Row::from_json(table, &object, None).map_err(|e| invalid("row", e.to_string()))
}

/// Adds `account_id` and `region` to a child table's object and builds its row under `parent`.
pub(crate) fn child_row(
    table: &'static Table,
    cx: &Context<'_>,
    mut object: Map<String, Json>,
    parent: &Row,
) -> Result<Row, FetchError> {
    object.insert(
        "account_id".into(),
        Json::String(cx.location.account_id.clone()),
    );
    object.insert("region".into(), Json::String(cx.location.region.clone()));
    Row::from_json(table, &object, Some(parent.cq_id)).map_err(|e| invalid("row", e.to_string()))
}

/// Every item of a paginated call (`client.list_roles().into_paginator().items().send()`).
pub(crate) async fn all<T, E>(
    operation: &'static str,
    items: PaginationStream<Result<T, SdkError<E>>>,
) -> Result<Vec<T>, FetchError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    items
        .try_collect()
        .await
        .map_err(|error| fetch_error(operation, error))
}

/// The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}
