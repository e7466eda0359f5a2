//! Network interfaces; their tags are in `TagSet`.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, NetworkInterface};
use trailsync_catalog::Table;
use trailsync_engine::FetchError;

use super::ec2::Ec2Table;
use crate::errors::fetch_error;

pub(super) struct Ec2NetworkInterfaces;

#[async_trait]
impl Ec2Table for Ec2NetworkInterfaces {
    type Item = NetworkInterface;
    const TABLE: &'static Table = &trailsync_catalog::tables::ec2_network_interfaces::TABLE;
    const ID_FILTER: &'static str = "network-interface-id";
    const ARN_RESOURCE: &'static str = "network-interface";
    const TAGS_FIELD: &'static str = "TagSet";

    fn id(item: &NetworkInterface) -> Option<&str> {
        item.network_interface_id()
    }

    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<NetworkInterface>, FetchError> {
        client
            .describe_network_interfaces()
            .set_filters(filters)
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("DescribeNetworkInterfaces", e))
    }
}
