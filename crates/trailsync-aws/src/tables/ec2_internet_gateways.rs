//! Internet gateways.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, InternetGateway};
use trailsync_catalog::Table;
use trailsync_engine::FetchError;

use super::ec2::Ec2Table;
use crate::errors::fetch_error;

pub(super) struct Ec2InternetGateways;

#[async_trait]
impl Ec2Table for Ec2InternetGateways {
    type Item = InternetGateway;
    const TABLE: &'static Table = &trailsync_catalog::tables::ec2_internet_gateways::TABLE;
    const ID_FILTER: &'static str = "internet-gateway-id";
    const ARN_RESOURCE: &'static str = "internet-gateway";

    fn id(item: &InternetGateway) -> Option<&str> {
        item.internet_gateway_id()
    }

    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<InternetGateway>, FetchError> {
        client
            .describe_internet_gateways()
            .set_filters(filters)
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("DescribeInternetGateways", e))
    }
}
