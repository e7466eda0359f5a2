//! Route tables; DescribeRouteTables pages hold at most 100.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, RouteTable};
use trailsync_catalog::Table;
use trailsync_engine::FetchError;

use super::ec2::Ec2Table;
use crate::errors::fetch_error;

pub(super) struct Ec2RouteTables;

#[async_trait]
impl Ec2Table for Ec2RouteTables {
    type Item = RouteTable;
    const TABLE: &'static Table = &trailsync_catalog::tables::ec2_route_tables::TABLE;
    const ID_FILTER: &'static str = "route-table-id";
    const ARN_RESOURCE: &'static str = "route-table";

    fn id(item: &RouteTable) -> Option<&str> {
        item.route_table_id()
    }

    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<RouteTable>, FetchError> {
        client
            .describe_route_tables()
            .set_filters(filters)
            .max_results(100)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("DescribeRouteTables", e))
    }
}
