//! VPCs.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Vpc};
use trailsync_catalog::Table;
use trailsync_engine::FetchError;

use super::ec2::Ec2Table;
use crate::errors::fetch_error;

pub(super) struct Ec2Vpcs;

#[async_trait]
impl Ec2Table for Ec2Vpcs {
    type Item = Vpc;
    const TABLE: &'static Table = &trailsync_catalog::tables::ec2_vpcs::TABLE;
    const ID_FILTER: &'static str = "vpc-id";
    const ARN_RESOURCE: &'static str = "vpc";

    fn id(item: &Vpc) -> Option<&str> {
        item.vpc_id()
    }

    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<Vpc>, FetchError> {
        client
            .describe_vpcs()
            .set_filters(filters)
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("DescribeVpcs", e))
    }
}
