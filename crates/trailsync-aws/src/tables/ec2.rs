//! EC2 tables read through one Describe* call each. A table is one declaration in
//! [`ec2_tables!`] below (which call, which id filter, which ARN resource type); everything else
//! is shared:
//!
//! - list: every page of the Describe* call;
//! - fetch by id: the same call with the table's id *filter*, at most [`IDS_PER_CALL`] values per
//!   call. A filter (unlike the `*Ids` parameters) matches nothing for an unknown id instead of
//!   failing the whole call, so a deleted resource is simply absent from the answer;
//! - rows: the SDK item rendered as CloudQuery's JSON, plus `tags`, the location columns and the
//!   ARN as CloudQuery builds it (`arn:aws:ec2:us-east-1:123456789012:security-group/sg-1`).

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Filter, Instance, InternetGateway, NatGateway, NetworkInterface, RouteTable, SecurityGroup,
    Subnet, Vpc,
};
use serde_json::Value as Json;
use trailsync_catalog::tables::ec2;
use trailsync_catalog::{Resource, Row, Table};
use trailsync_core::{FetchError, Fetched, Location};

use super::{Context, TableReader, all, partition, regional_row};
use crate::errors::invalid;
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
    /// found to be gone meanwhile, or report one whose children could not be read. Tables without
    /// children keep the default.
    async fn with_children(
        &self,
        _cx: &Context<'_>,
        _client: &Client,
        resources: Vec<Resource>,
    ) -> Result<Fetched, FetchError> {
        Ok(Fetched::all(resources))
    }
}

#[async_trait]
impl<T: Ec2Table> TableReader for T {
    fn table(&self) -> &'static Table {
        T::TABLE
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Fetched, FetchError> {
        let client = Client::new(cx.config);
        let items = self.describe(&client, None).await?;
        resources(self, cx, &client, items).await
    }

    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Fetched, FetchError> {
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
) -> Result<Fetched, FetchError> {
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
        invalid(
            T::TABLE.name,
            "AWS returned a resource without an id".to_string(),
        )
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

/// Declares EC2 tables read through one paginated Describe* call: per table, the reader's name,
/// the SDK item type, the catalog table, the call (a closure from the client and the filters to
/// the request builder, and the operation's name), the id accessor and filter, and the ARN
/// resource type.
/// Optional: `tags` when the item keeps its tags under another field, `max_results` when the
/// call caps pages lower than 1000, `items` when the pages hold something that contains the
/// items (reservations of instances). Every table declared is registered in [`READERS`].
/// The value given to a macro, else the default.
macro_rules! given_or {
    ($default:expr) => {
        $default
    };
    ($default:expr, $given:expr) => {
        $given
    };
}

macro_rules! ec2_tables {
    ($(
        $(#[$doc:meta])*
        $reader:ident: $item:ty = $table:expr => {
            describe: $describe:expr, $operation:literal,
            id: $id:ident by $filter:literal,
            arn: $arn:literal,
            $(tags: $tags:literal,)?
            $(max_results: $max:literal,)?
            $(items: $items:expr,)?
        }
    )*) => {$(
        $(#[$doc])*
        pub(super) struct $reader;

        #[async_trait]
        impl Ec2Table for $reader {
            type Item = $item;
            const TABLE: &'static Table = &$table;
            const ID_FILTER: &'static str = $filter;
            const ARN_RESOURCE: &'static str = $arn;
            $(const TAGS_FIELD: &'static str = $tags;)?

            fn id(item: &$item) -> Option<&str> {
                item.$id()
            }

            async fn describe(
                &self,
                client: &Client,
                filters: Option<Vec<Filter>>,
            ) -> Result<Vec<$item>, FetchError> {
                let request = ($describe)(client, filters).max_results(given_or!(1000 $(, $max)?));
                let pages = all($operation, request.into_paginator().items().send()).await?;
                let items = given_or!(|item: $item| vec![item] $(, $items)?);
                Ok(pages.into_iter().flat_map(items).collect())
            }
        }
    )*

        /// The readers declared here, each reachable through [`super::reader`].
        pub(super) static READERS: &[&dyn TableReader] = &[$(&$reader),*];
    };
}

ec2_tables! {
    /// Instances; DescribeInstances answers in reservations, which are flattened.
    Ec2Instances: Instance = ec2::INSTANCES => {
        describe: |c: &Client, f| c.describe_instances().set_filters(f), "DescribeInstances",
        id: instance_id by "instance-id",
        arn: "instance",
        items: |reservation: aws_sdk_ec2::types::Reservation| {
            reservation.instances.unwrap_or_default()
        },
    }
    Ec2SecurityGroups: SecurityGroup = ec2::SECURITY_GROUPS => {
        describe: |c: &Client, f| c.describe_security_groups().set_filters(f), "DescribeSecurityGroups",
        id: group_id by "group-id",
        arn: "security-group",
    }
    Ec2Subnets: Subnet = ec2::SUBNETS => {
        describe: |c: &Client, f| c.describe_subnets().set_filters(f), "DescribeSubnets",
        id: subnet_id by "subnet-id",
        arn: "subnet",
    }
    Ec2Vpcs: Vpc = ec2::VPCS => {
        describe: |c: &Client, f| c.describe_vpcs().set_filters(f), "DescribeVpcs",
        id: vpc_id by "vpc-id",
        arn: "vpc",
    }
    Ec2InternetGateways: InternetGateway = ec2::INTERNET_GATEWAYS => {
        describe: |c: &Client, f| c.describe_internet_gateways().set_filters(f), "DescribeInternetGateways",
        id: internet_gateway_id by "internet-gateway-id",
        arn: "internet-gateway",
    }
    Ec2RouteTables: RouteTable = ec2::ROUTE_TABLES => {
        describe: |c: &Client, f| c.describe_route_tables().set_filters(f), "DescribeRouteTables",
        id: route_table_id by "route-table-id",
        arn: "route-table",
        max_results: 100,
    }
    Ec2NetworkInterfaces: NetworkInterface = ec2::NETWORK_INTERFACES => {
        describe: |c: &Client, f| c.describe_network_interfaces().set_filters(f), "DescribeNetworkInterfaces",
        id: network_interface_id by "network-interface-id",
        arn: "network-interface",
        tags: "TagSet",
    }
    Ec2NatGateways: NatGateway = ec2::NAT_GATEWAYS => {
        describe: |c: &Client, f| c.describe_nat_gateways().set_filter(f), "DescribeNatGateways",
        id: nat_gateway_id by "nat-gateway-id",
        arn: "natgateway",
    }
}
