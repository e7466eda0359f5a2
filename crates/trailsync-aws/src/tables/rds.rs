//! RDS DB instances and DB clusters.
//!
//! Both are read the same way: a paginated `Describe*` call, narrowed for fetch-by-id by an id
//! filter (`db-instance-id`, `db-cluster-id`) rather than the single-identifier parameter, so that
//! many ids cost one call and an unknown id is simply absent instead of failing the call with
//! `DB*NotFound`. Tags come inline (`TagList`), and `arn` is the resource's own ARN field.

use std::future::Future;

use async_trait::async_trait;
use aws_sdk_rds::types::{DbCluster, DbInstance, Filter};
use serde_json::{Map, Value as Json};
use trailsync_catalog::tables::rds;
use trailsync_catalog::{ChildRows, Resource, Row, Table};
use trailsync_core::{FetchError, Fetched};

use super::{Context, TableReader, all, child_row, regional_row};
use crate::errors::{fetch_error, invalid, is_unsupported};
use crate::render::{render_object, tags_object};

/// Ids per filtered call. RDS documents no cap on filter values; 100 is its largest page
/// (`MaxRecords`), so one chunk of ids is answered in one page.
const IDS_PER_CALL: usize = 100;

/// The largest page RDS returns.
const PAGE_SIZE: i32 = 100;

/// Answers of `DescribeDBClusterBacktracks` that mean "this cluster has no backtracks": engines
/// other than Aurora MySQL reject the call, and a cluster can vanish between list and describe.
const NO_BACKTRACKS: &[&str] = &[
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "DBClusterNotFoundFault",
];

pub(super) struct RdsInstances;

pub(super) struct RdsClusters;

#[async_trait]
impl TableReader for RdsInstances {
    fn table(&self) -> &'static Table {
        &rds::INSTANCES
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Fetched, FetchError> {
        describe_instances(cx, None).await.map(Fetched::all)
    }

    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Fetched, FetchError> {
        by_id_filter("db-instance-id", ids, |f| describe_instances(cx, Some(f)))
            .await
            .map(Fetched::all)
    }
}

#[async_trait]
impl TableReader for RdsClusters {
    fn table(&self) -> &'static Table {
        &rds::CLUSTERS
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Fetched, FetchError> {
        describe_clusters(cx, None).await.map(Fetched::all)
    }

    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Fetched, FetchError> {
        by_id_filter("db-cluster-id", ids, |f| describe_clusters(cx, Some(f)))
            .await
            .map(Fetched::all)
    }
}

/// Describes the resources with these ids, [`IDS_PER_CALL`] ids per filtered call.
async fn by_id_filter<F, Fut>(
    filter_name: &str,
    ids: &[String],
    describe: F,
) -> Result<Vec<Resource>, FetchError>
where
    F: Fn(Filter) -> Fut,
    Fut: Future<Output = Result<Vec<Resource>, FetchError>>,
{
    let mut resources = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_CALL) {
        let filter = Filter::builder()
            .name(filter_name)
            .set_values(Some(chunk.to_vec()))
            .build();
        resources.extend(describe(filter).await?);
    }
    Ok(resources)
}

async fn describe_instances(
    cx: &Context<'_>,
    filter: Option<Filter>,
) -> Result<Vec<Resource>, FetchError> {
    let client = aws_sdk_rds::Client::new(cx.config);
    let request = client
        .describe_db_instances()
        .set_filters(filter.map(|f| vec![f]))
        .max_records(PAGE_SIZE);
    all(
        "DescribeDBInstances",
        request.into_paginator().items().send(),
    )
    .await?
    .iter()
    .map(|instance| instance_row(cx, instance).map(Resource::new))
    .collect()
}

fn instance_row(cx: &Context<'_>, instance: &DbInstance) -> Result<Row, FetchError> {
    let mut object = render_object(instance);
    // CloudQuery's `processor_features`: a name -> value map rather than the API's list.
    let features: Map<String, Json> = instance
        .processor_features()
        .iter()
        .filter_map(|f| Some((f.name()?.to_string(), f.value().into())))
        .collect();
    object.insert("processor_features".into(), Json::Object(features));
    rds_row(&rds::INSTANCES, cx, object, instance.db_instance_arn())
}

async fn describe_clusters(
    cx: &Context<'_>,
    filter: Option<Filter>,
) -> Result<Vec<Resource>, FetchError> {
    let client = aws_sdk_rds::Client::new(cx.config);
    let request = client
        .describe_db_clusters()
        .set_filters(filter.map(|f| vec![f]))
        .max_records(PAGE_SIZE);
    let clusters = all(
        "DescribeDBClusters",
        request.into_paginator().items().send(),
    )
    .await?;
    let with_backtracks = cx.children.contains(&&rds::CLUSTER_BACKTRACKS);
    let mut resources = Vec::with_capacity(clusters.len());
    for cluster in &clusters {
        let row = rds_row(
            &rds::CLUSTERS,
            cx,
            render_object(cluster),
            cluster.db_cluster_arn(),
        )?;
        let mut resource = Resource::new(row);
        if with_backtracks {
            let rows = backtracks(&client, cx, cluster, &resource.row).await?;
            resource.children.push(ChildRows {
                table: &rds::CLUSTER_BACKTRACKS,
                rows,
            });
        }
        resources.push(resource);
    }
    Ok(resources)
}

/// The backtracks of one cluster. Only Aurora MySQL clusters with a backtrack window have any,
/// so others cost no call (CloudQuery's rule too).
async fn backtracks(
    client: &aws_sdk_rds::Client,
    cx: &Context<'_>,
    cluster: &DbCluster,
    parent: &Row,
) -> Result<Vec<Row>, FetchError> {
    let (Some(identifier), Some(arn)) = (cluster.db_cluster_identifier(), cluster.db_cluster_arn())
    else {
        return Ok(Vec::new());
    };
    if cluster.backtrack_window().unwrap_or(0) == 0 {
        return Ok(Vec::new());
    }
    let mut pages = client
        .describe_db_cluster_backtracks()
        .db_cluster_identifier(identifier)
        .max_records(PAGE_SIZE)
        .into_paginator()
        .send();
    let mut rows = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if is_unsupported(&e, NO_BACKTRACKS) => {
                let error = crate::errors::describe(&e);
                tracing::debug!(cluster = identifier, %error, "no backtracks");
                return Ok(Vec::new());
            }
            Err(e) => return Err(fetch_error("DescribeDBClusterBacktracks", e)),
        };
        for backtrack in page.db_cluster_backtracks() {
            let mut object = render_object(backtrack);
            object.insert("db_cluster_arn".into(), arn.into());
            rows.push(child_row(&rds::CLUSTER_BACKTRACKS, cx, object, parent)?);
        }
    }
    Ok(rows)
}

/// The row of an instance or cluster: `tags` from its `TagList`, `arn` its own ARN field.
fn rds_row(
    table: &'static Table,
    cx: &Context<'_>,
    mut object: Map<String, Json>,
    arn: Option<&str>,
) -> Result<Row, FetchError> {
    let arn = arn.ok_or_else(|| invalid(table.name, "an item without an ARN"))?;
    let tags = tags_object(object.get("TagList"));
    object.insert("tags".into(), tags);
    regional_row(table, cx, object, arn.to_string())
}
