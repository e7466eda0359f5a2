//! Security groups, with their rules.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, SecurityGroup};
use trailsync_catalog::Table;
use trailsync_engine::FetchError;

use super::ec2::Ec2Table;
use crate::errors::fetch_error;

pub(super) struct Ec2SecurityGroups;

#[async_trait]
impl Ec2Table for Ec2SecurityGroups {
    type Item = SecurityGroup;
    const TABLE: &'static Table = &trailsync_catalog::tables::ec2_security_groups::TABLE;
    const ID_FILTER: &'static str = "group-id";
    const ARN_RESOURCE: &'static str = "security-group";

    fn id(item: &SecurityGroup) -> Option<&str> {
        item.group_id()
    }

    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<SecurityGroup>, FetchError> {
        client
            .describe_security_groups()
            .set_filters(filters)
            .max_results(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("DescribeSecurityGroups", e))
    }
}
