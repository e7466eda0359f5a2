//! What every EC2 reader shares, so that each table says only what differs: which Describe* call,
//! which id filter, which ARN resource type.
//!
//! - list: every page of the Describe* call;
//! - fetch by id: the same call with the table's id *filter*, at most [`IDS_PER_CALL`] values per
//!   call. A filter (unlike the `*Ids` parameters) matches nothing for an unknown id instead of
//!   failing the whole call, so a deleted resource is simply absent from the answer;
//! - rows: the SDK item rendered as CloudQuery's JSON, plus `tags`, the location columns and the
//!   ARN as CloudQuery builds it (`arn:aws:ec2:us-east-1:123456789012:security-group/sg-1`).

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Filter;
use serde_json::Value as Json;
use trailsync_catalog::{Resource, Row, Table};
use trailsync_engine::{FetchError, Location};

use super::{Context, TableReader, partition, regional_row};
use crate::render::{RenderObject, render_object, tags_object};

/// EC2 caps the values of one filter at 200.
const IDS_PER_CALL: usize = 200;

/// One EC2 resource type read through its Describe* call. Every implementation is a
/// [`TableReader`].
#[async_trait]
pub(super) trait Ec2Table: Send + Sync {
    /// The SDK type of one resource.
    type Item: RenderObject + Send + Sync;

    /// The table its rows go to.
    const TABLE: &'static Table;
    /// The Describe* filter selecting resources by id (`group-id`).
    const ID_FILTER: &'static str;
    /// The ARN's resource type: `security-group` in `...:security-group/sg-1`.
    const ARN_RESOURCE: &'static str;
    /// Where the API puts the resource's tags (`TagSet` for network interfaces).
    const TAGS_FIELD: &'static str = "Tags";

    /// The resource's id, the last part of its ARN.
    fn id(item: &Self::Item) -> Option<&str>;

    /// Every page of the Describe* call, narrowed by `filters` when given.
    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<Self::Item>, FetchError>;

    /// Adds the rows of the tables in `cx.children` to freshly read resources; may drop a resource
    /// found to be gone meanwhile. Tables without children keep the default.
    async fn with_children(
        &self,
        _cx: &Context<'_>,
        _client: &Client,
        resources: Vec<Resource>,
    ) -> Result<Vec<Resource>, FetchError> {
        Ok(resources)
    }
}

#[async_trait]
impl<T: Ec2Table> TableReader for T {
    fn table(&self) -> &'static Table {
        T::TABLE
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Vec<Resource>, FetchError> {
        let client = Client::new(cx.config);
        let items = self.describe(&client, None).await?;
        resources(self, cx, &client, items).await
    }

    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Vec<Resource>, FetchError> {
        let client = Client::new(cx.config);
        let mut items = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_CALL) {
            let filter = Filter::builder()
                .name(T::ID_FILTER)
                .set_values(Some(chunk.to_vec()))
                .build();
            items.extend(self.describe(&client, Some(vec![filter])).await?);
        }
        resources(self, cx, &client, items).await
    }
}

/// Rows of freshly described items, with their children.
async fn resources<T: Ec2Table>(
    reader: &T,
    cx: &Context<'_>,
    client: &Client,
    items: Vec<T::Item>,
) -> Result<Vec<Resource>, FetchError> {
    let resources = items
        .iter()
        .map(|item| row::<T>(cx, item).map(Resource::new))
        .collect::<Result<Vec<_>, _>>()?;
    reader.with_children(cx, client, resources).await
}

/// The row of one item: its rendering plus the computed columns. Subnets name the location
/// columns `request_account_id` and `request_region`; other tables ignore those keys.
fn row<T: Ec2Table>(cx: &Context<'_>, item: &T::Item) -> Result<Row, FetchError> {
    let id = T::id(item).ok_or_else(|| {
        FetchError::Api(format!(
            "{}: AWS returned a resource without an id",
            T::TABLE.name
        ))
    })?;
    let mut object = render_object(item);
    let tags = tags_object(object.get(T::TAGS_FIELD));
    object.insert("tags".into(), tags);
    object.insert(
        "request_account_id".into(),
        Json::String(cx.location.account_id.clone()),
    );
    object.insert(
        "request_region".into(),
        Json::String(cx.location.region.clone()),
    );
    let arn = arn(cx.location, T::ARN_RESOURCE, id);
    regional_row(T::TABLE, cx, object, arn)
}

/// CloudQuery's ARN of an EC2 resource: `arn:PARTITION:ec2:REGION:ACCOUNT:RESOURCE/ID`.
fn arn(location: &Location, resource: &str, id: &str) -> String {
    format!(
        "arn:{}:ec2:{}:{}:{resource}/{id}",
        partition(&location.region),
        location.region,
        location.account_id
    )
}
