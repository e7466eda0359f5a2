use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, Instance};
use trailsync_catalog::{Resource, Table};
use trailsync_engine::FetchError;

use super::{Context, TableReader, partition, regional_row};
use crate::errors::fetch_error;
use crate::render::{render_object, tags_object};

/// EC2 caps the values of one filter at 200.
const IDS_PER_CALL: usize = 200;

pub(super) struct Ec2Instances;

#[async_trait]
impl TableReader for Ec2Instances {
    fn table(&self) -> &'static Table {
        &trailsync_catalog::tables::ec2_instances::TABLE
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Vec<Resource>, FetchError> {
        describe(cx, None).await
    }

    /// By an `instance-id` filter rather than `InstanceIds`, so that one unknown id does not fail
    /// the whole call: missing instances are simply absent from the answer.
    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Vec<Resource>, FetchError> {
        let mut resources = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_CALL) {
            let filter = Filter::builder()
                .name("instance-id")
                .set_values(Some(chunk.to_vec()))
                .build();
            resources.extend(describe(cx, Some(filter)).await?);
        }
        Ok(resources)
    }
}

async fn describe(cx: &Context<'_>, filter: Option<Filter>) -> Result<Vec<Resource>, FetchError> {
    let client = aws_sdk_ec2::Client::new(cx.config);
    let mut pages = client
        .describe_instances()
        .set_filters(filter.map(|f| vec![f]))
        .max_results(1000)
        .into_paginator()
        .send();
    let mut resources = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| fetch_error("DescribeInstances", e))?;
        for reservation in page.reservations() {
            for instance in reservation.instances() {
                resources.push(resource(cx, instance)?);
            }
        }
    }
    Ok(resources)
}

fn resource(cx: &Context<'_>, instance: &Instance) -> Result<Resource, FetchError> {
    let table = &trailsync_catalog::tables::ec2_instances::TABLE;
    let mut object = render_object(instance);
    let tags = tags_object(object.get("Tags"));
    object.insert("tags".into(), tags);
    let arn = format!(
        "arn:{}:ec2:{}:{}:instance/{}",
        partition(&cx.location.region),
        cx.location.region,
        cx.location.account_id,
        instance.instance_id().unwrap_or_default()
    );
    Ok(Resource::new(regional_row(table, cx, object, arn)?))
}
