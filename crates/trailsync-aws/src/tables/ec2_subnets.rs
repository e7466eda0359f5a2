//! Subnets, including those shared with the account (hence CloudQuery's `request_*` columns).

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Subnet};
use trailsync_catalog::Table;
use trailsync_engine::FetchError;

use super::ec2::Ec2Table;
use crate::errors::fetch_error;

pub(super) struct Ec2Subnets;

#[async_trait]
impl Ec2Table for Ec2Subnets {
    type Item = Subnet;
    const TABLE: &'static Table = &trailsync_catalog::tables::ec2_subnets::TABLE;
    const ID_FILTER: &'static str = "subnet-id";
    const ARN_RESOURCE: &'static str = "subnet";

    fn id(item: &Subnet) -> Option<&str> {
        item.subnet_id()
    }

    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<Subnet>, FetchError> {
        client
            .describe_subnets()
            .set_filters(filters)
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("DescribeSubnets", e))
    }
}
