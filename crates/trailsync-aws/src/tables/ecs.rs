//! ECS clusters and their tasks.
//!
//! Clusters: `ListClusters`, then `DescribeClusters` (100 per call, with tags, settings,
//! statistics, configurations and attachments); fetch-by-id describes the names directly, and a
//! name ECS reports as a `MISSING` failure is simply absent. Deleted clusters that ECS still
//! returns (status `INACTIVE`, for a while after `DeleteCluster`) are kept, as CloudQuery keeps
//! whatever these calls return and as terminated EC2 instances are kept: the row shows what AWS
//! returns now, and goes once AWS stops returning the cluster.
//!
//! Tasks (child): `ListTasks` for desired status RUNNING and then STOPPED (AWS lists only RUNNING
//! when none is given, and keeps stopped tasks visible for a while), then `DescribeTasks` with
//! tags, 100 per call. An `INACTIVE` cluster runs no tasks, so it costs no task calls.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{Cluster, ClusterField, DesiredStatus, Task, TaskField};
use futures::{StreamExt, stream};
use serde_json::Value as Json;
use trailsync_catalog::tables::ecs;
use trailsync_catalog::{ChildRows, Resource, Row, Table};
use trailsync_core::{FetchError, Fetched};

use super::{Context, TableReader, all, child_row, regional_row};
use crate::errors::{fetch_error, invalid, is_unsupported};
use crate::render::{Render, render_object, tags_object};

/// `DescribeClusters` and `DescribeTasks` take at most 100 names or ARNs per call.
const PER_DESCRIBE: usize = 100;

/// `GetTaskProtection` takes at most 10 tasks per call.
const PER_PROTECTION_CALL: usize = 10;

/// Clusters whose tasks are read at once.
const CONCURRENCY: usize = 8;

/// The largest page `ListClusters` and `ListTasks` return.
const PAGE_SIZE: i32 = 100;

/// Every optional part of a cluster, as CloudQuery asks for them.
const CLUSTER_FIELDS: [ClusterField; 5] = [
    ClusterField::Attachments,
    ClusterField::Configurations,
    ClusterField::Settings,
    ClusterField::Statistics,
    ClusterField::Tags,
];

/// A cluster that ECS deleted but still describes.
const INACTIVE: &str = "INACTIVE";

/// Answers of `GetTaskProtection` that mean "no protection data for these tasks".
const NO_PROTECTION: &[&str] = &["InvalidParameterException", "ClusterNotFoundException"];

pub(super) struct EcsClusters;

#[async_trait]
impl TableReader for EcsClusters {
    fn table(&self) -> &'static Table {
        &ecs::CLUSTERS
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Fetched, FetchError> {
        let client = Client::new(cx.config);
        let request = client.list_clusters().max_results(PAGE_SIZE);
        let arns = all("ListClusters", request.into_paginator().items().send()).await?;
        describe_clusters(&client, cx, &arns).await
    }

    /// `ids` are cluster names (events turn cluster ARNs into names).
    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Fetched, FetchError> {
        describe_clusters(&Client::new(cx.config), cx, ids).await
    }
}

/// Describes clusters by name or ARN; those ECS does not know are absent, and one whose tasks
/// cannot be read is reported on its own.
async fn describe_clusters(
    client: &Client,
    cx: &Context<'_>,
    names: &[String],
) -> Result<Fetched, FetchError> {
    let mut clusters = Vec::with_capacity(names.len());
    for chunk in names.chunks(PER_DESCRIBE) {
        let answer = client
            .describe_clusters()
            .set_clusters(Some(chunk.to_vec()))
            .set_include(Some(CLUSTER_FIELDS.to_vec()))
            .send()
            .await
            .map_err(|e| fetch_error("DescribeClusters", e))?;
        for failure in answer.failures() {
            // MISSING is the normal answer for a deleted cluster.
            tracing::debug!(
                cluster = failure.arn().unwrap_or_default(),
                reason = failure.reason().unwrap_or_default(),
                "DescribeClusters failure"
            );
        }
        clusters.extend(answer.clusters.unwrap_or_default());
    }
    if !cx.children.contains(&&ecs::CLUSTER_TASKS) {
        return clusters
            .iter()
            .map(|cluster| cluster_row(cx, cluster).map(Resource::new))
            .collect::<Result<_, _>>()
            .map(Fetched::all);
    }
    let mut read = stream::iter(clusters)
        .map(|cluster| async move {
            let name = cluster.cluster_name().unwrap_or_default().to_string();
            (name, cluster_with_tasks(client, cx, &cluster).await)
        })
        .buffered(CONCURRENCY);
    let mut fetched = Fetched::default();
    while let Some((name, resource)) = read.next().await {
        match resource {
            Ok(resource) => fetched.resources.push(resource),
            Err(error) => fetched.failed.push((name, error)),
        }
    }
    Ok(fetched)
}

async fn cluster_with_tasks(
    client: &Client,
    cx: &Context<'_>,
    cluster: &Cluster,
) -> Result<Resource, FetchError> {
    let row = cluster_row(cx, cluster)?;
    let rows = match cluster.cluster_arn() {
        Some(arn) if cluster.status() != Some(INACTIVE) => tasks(client, cx, arn, &row).await?,
        _ => Vec::new(),
    };
    Ok(Resource {
        row,
        children: vec![ChildRows {
            table: &ecs::CLUSTER_TASKS,
            rows,
        }],
    })
}

fn cluster_row(cx: &Context<'_>, cluster: &Cluster) -> Result<Row, FetchError> {
    let arn = cluster
        .cluster_arn()
        .ok_or_else(|| invalid("DescribeClusters", "a cluster without an ARN"))?;
    let mut object = render_object(cluster);
    let tags = tags_object(object.get("Tags"));
    object.insert("tags".into(), tags);
    regional_row(&ecs::CLUSTERS, cx, object, arn.to_string())
}

/// Every running or recently stopped task of one cluster.
async fn tasks(
    client: &Client,
    cx: &Context<'_>,
    cluster_arn: &str,
    parent: &Row,
) -> Result<Vec<Row>, FetchError> {
    let mut arns = Vec::new();
    let mut seen = HashSet::new();
    for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let request = client
            .list_tasks()
            .cluster(cluster_arn)
            .desired_status(status)
            .max_results(PAGE_SIZE);
        let listed = all("ListTasks", request.into_paginator().items().send()).await?;
        // A task can change desired status between the two listings.
        arns.extend(listed.into_iter().filter(|arn| seen.insert(arn.clone())));
    }
    let mut rows = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(PER_DESCRIBE) {
        let answer = client
            .describe_tasks()
            .cluster(cluster_arn)
            .set_tasks(Some(chunk.to_vec()))
            .include(TaskField::Tags)
            .send()
            .await
            .map_err(|e| fetch_error("DescribeTasks", e))?;
        let protection = protection(client, cluster_arn, answer.tasks()).await?;
        for task in answer.tasks() {
            let Some(arn) = task.task_arn() else {
                continue;
            };
            let mut object = render_object(task);
            let tags = tags_object(object.get("Tags"));
            object.insert("tags".into(), tags);
            object.insert("arn".into(), arn.into());
            object.insert(
                "task_protection".into(),
                protection.get(arn).cloned().unwrap_or(Json::Null),
            );
            rows.push(child_row(&ecs::CLUSTER_TASKS, cx, object, parent)?);
        }
    }
    Ok(rows)
}

/// CloudQuery's `task_protection`: `GetTaskProtection`'s `protectedTasks` for the task, by task
/// ARN. Only tasks of a service can be protected, so other tasks cost no call.
async fn protection(
    client: &Client,
    cluster_arn: &str,
    tasks: &[Task],
) -> Result<HashMap<String, Json>, FetchError> {
    let in_services: Vec<String> = tasks
        .iter()
        .filter(|t| t.group().is_some_and(|g| g.starts_with("service:")))
        .filter_map(|t| t.task_arn().map(str::to_string))
        .collect();
    let mut found = HashMap::new();
    for chunk in in_services.chunks(PER_PROTECTION_CALL) {
        let answer = match client
            .get_task_protection()
            .cluster(cluster_arn)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
        {
            Ok(answer) => answer,
            Err(e) if is_unsupported(&e, NO_PROTECTION) => {
                let error = crate::errors::describe(&e);
                tracing::debug!(cluster = cluster_arn, %error, "no task protection");
                continue;
            }
            Err(e) => return Err(fetch_error("GetTaskProtection", e)),
        };
        for protected in answer.protected_tasks() {
            if let Some(arn) = protected.task_arn() {
                // A list, as CloudQuery stores the answer of a one-task call.
                found.insert(arn.to_string(), Json::Array(vec![protected.render()]));
            }
        }
    }
    Ok(found)
}
