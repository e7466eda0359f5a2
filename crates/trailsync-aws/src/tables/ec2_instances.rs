//! Instances; DescribeInstances answers in reservations, which are flattened.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, Instance};
use trailsync_catalog::Table;
use trailsync_engine::FetchError;

use super::ec2::Ec2Table;
use crate::errors::fetch_error;

pub(super) struct Ec2Instances;

#[async_trait]
impl Ec2Table for Ec2Instances {
    type Item = Instance;
    const TABLE: &'static Table = &trailsync_catalog::tables::ec2_instances::TABLE;
    const ID_FILTER: &'static str = "instance-id";
    const ARN_RESOURCE: &'static str = "instance";

    fn id(item: &Instance) -> Option<&str> {
        item.instance_id()
    }

    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<Instance>, FetchError> {
        let reservations = client
            .describe_instances()
            .set_filters(filters)
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("DescribeInstances", e))?;
        Ok(reservations
            .into_iter()
            .flat_map(|r| r.instances.unwrap_or_default())
            .collect())
    }
}
