//! Images the account owns (as CloudQuery lists them: `Owners=self`), with two children read per
//! image through DescribeImageAttribute: launch permissions and the last launch time.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::SdkError;
use aws_sdk_ec2::operation::describe_image_attribute::{
    DescribeImageAttributeError, DescribeImageAttributeOutput,
};
use aws_sdk_ec2::types::{Filter, Image, ImageAttributeName};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::{StreamExt, stream};
use serde_json::{Map, Value as Json};
use trailsync_catalog::tables::ec2::{
    IMAGE_LAST_LAUNCHED_TIMES as LAST_LAUNCHED_TIMES,
    IMAGE_LAUNCH_PERMISSIONS as LAUNCH_PERMISSIONS,
};
use trailsync_catalog::{ChildRows, Resource, Row, Table};
use trailsync_core::{FetchError, Fetched};

use super::ec2::Ec2Table;
use super::{Context, all, child_row};
use crate::errors::{fetch_error, invalid, is_unsupported};
use crate::render::render_object;

/// Images whose attributes are read at once.
const CONCURRENCY: usize = 8;

/// Answers meaning the image is gone (deregistered since it was described).
const IMAGE_GONE: &[&str] = &["InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"];

pub(super) struct Ec2Images;

#[async_trait]
impl Ec2Table for Ec2Images {
    type Item = Image;
    const TABLE: &'static Table = &trailsync_catalog::tables::ec2::IMAGES;
    const ID_FILTER: &'static str = "image-id";
    const ARN_RESOURCE: &'static str = "image";

    fn id(item: &Image) -> Option<&str> {
        item.image_id()
    }

    /// Fetch by id keeps `Owners=self` too, so that it never finds what a list would not.
    async fn describe(
        &self,
        client: &Client,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<Image>, FetchError> {
        let request = client
            .describe_images()
            .owners("self")
            .set_filters(filters)
            .max_results(1000);
        all("DescribeImages", request.into_paginator().items().send()).await
    }

    async fn with_children(
        &self,
        cx: &Context<'_>,
        client: &Client,
        resources: Vec<Resource>,
    ) -> Result<Fetched, FetchError> {
        if cx.children.is_empty() {
            return Ok(Fetched::all(resources));
        }
        let attributes = Attributes {
            cx,
            client,
            no_last_launched_time: AtomicBool::new(false),
        };
        let mut read = stream::iter(resources)
            .map(|resource| async {
                let id = text(&resource.row, "image_id")
                    .unwrap_or_default()
                    .to_string();
                (id, attributes.add_children(resource).await)
            })
            .buffered(CONCURRENCY);
        let mut fetched = Fetched::default();
        while let Some((id, resource)) = read.next().await {
            match resource {
                Ok(kept) => fetched.resources.extend(kept),
                // One image whose attributes could not be read does not fail the others.
                Err(error) => fetched.failed.push((id, error)),
            }
        }
        Ok(fetched)
    }
}

/// The attribute calls of one list or fetch.
struct Attributes<'a> {
    cx: &'a Context<'a>,
    client: &'a Client,
    /// Set once the endpoint has shown it does not implement `lastLaunchedTime` (moto 5.2.5
    /// answers it with a 500): the remaining images skip the call and its retries.
    no_last_launched_time: AtomicBool,
}

impl Attributes<'_> {
    /// The image with a [`ChildRows`] for every selected child table; `None` if it is gone.
    async fn add_children(&self, mut resource: Resource) -> Result<Option<Resource>, FetchError> {
        let row = &resource.row;
        let (Some(id), Some(arn)) = (text(row, "image_id"), text(row, "arn")) else {
            return Err(invalid(row.table.name, "a row without image_id or arn"));
        };
        let image = ImageRef { id, arn, row };
        let mut children = Vec::with_capacity(self.cx.children.len());
        for &table in self.cx.children {
            let rows = if table == &LAUNCH_PERMISSIONS {
                self.launch_permissions(&image).await?
            } else if table == &LAST_LAUNCHED_TIMES {
                self.last_launched_time(&image).await?
            } else {
                return Err(FetchError::unsupported(table.name));
            };
            let Some(rows) = rows else {
                return Ok(None);
            };
            children.push(ChildRows { table, rows });
        }
        resource.children = children;
        Ok(Some(resource))
    }

    /// A row per grantee (user, group, organization or unit).
    async fn launch_permissions(
        &self,
        image: &ImageRef<'_>,
    ) -> Result<Option<Vec<Row>>, FetchError> {
        let Some(answer) = self
            .attribute(image.id, ImageAttributeName::LaunchPermission)
            .await?
        else {
            return Ok(None);
        };
        answer
            .launch_permissions()
            .iter()
            .map(|permission| self.child(&LAUNCH_PERMISSIONS, render_object(permission), image))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// One row, its time null when the image never launched an instance; no row where the
    /// endpoint does not implement the attribute.
    async fn last_launched_time(
        &self,
        image: &ImageRef<'_>,
    ) -> Result<Option<Vec<Row>>, FetchError> {
        if self.no_last_launched_time.load(Ordering::Relaxed) {
            return Ok(Some(Vec::new()));
        }
        let answer = match self
            .attribute(image.id, ImageAttributeName::LastLaunchedTime)
            .await
        {
            Ok(None) => return Ok(None),
            Ok(Some(answer)) => answer,
            Err(AttributeError::Unsupported) => {
                if !self.no_last_launched_time.swap(true, Ordering::Relaxed) {
                    tracing::debug!(
                        table = LAST_LAUNCHED_TIMES.name,
                        "the endpoint does not implement DescribeImageAttribute lastLaunchedTime; no rows"
                    );
                }
                return Ok(Some(Vec::new()));
            }
            Err(AttributeError::Failed(error)) => return Err(error),
        };
        let mut object = Map::new();
        if let Some(time) = answer.last_launched_time().and_then(|v| v.value()) {
            object.insert("last_launched_time".into(), time.into());
        }
        Ok(Some(vec![self.child(
            &LAST_LAUNCHED_TIMES,
            object,
            image,
        )?]))
    }

    /// One attribute of one image; `None` when the image is gone.
    async fn attribute(
        &self,
        image_id: &str,
        name: ImageAttributeName,
    ) -> Result<Option<DescribeImageAttributeOutput>, AttributeError> {
        match self
            .client
            .describe_image_attribute()
            .image_id(image_id)
            .attribute(name.clone())
            .send()
            .await
        {
            Ok(answer) => Ok(Some(answer)),
            Err(error) if gone(&error) => Ok(None),
            Err(error) if is_unsupported(&error, &[]) => Err(AttributeError::Unsupported),
            Err(error) => Err(AttributeError::Failed(fetch_error(
                format!("DescribeImageAttribute {}", name.as_str()),
                error,
            ))),
        }
    }

    /// A child row: the attribute's object under the parent image's ARN.
    fn child(
        &self,
        table: &'static Table,
        mut object: Map<String, Json>,
        image: &ImageRef<'_>,
    ) -> Result<Row, FetchError> {
        object.insert("image_arn".into(), Json::String(image.arn.to_string()));
        child_row(table, self.cx, object, image.row)
    }
}

/// What the children of one image need from it.
struct ImageRef<'r> {
    id: &'r str,
    arn: &'r str,
    row: &'r Row,
}

/// Why an attribute could not be read.
enum AttributeError {
    /// The endpoint does not implement it.
    Unsupported,
    Failed(FetchError),
}

impl From<AttributeError> for FetchError {
    fn from(error: AttributeError) -> Self {
        match error {
            AttributeError::Unsupported => FetchError::new(
                trailsync_core::FetchErrorKind::Unsupported,
                "DescribeImageAttribute",
                "not implemented by the endpoint",
            ),
            AttributeError::Failed(error) => error,
        }
    }
}

fn gone(error: &SdkError<DescribeImageAttributeError>) -> bool {
    error.code().is_some_and(|code| IMAGE_GONE.contains(&code))
}

fn text<'r>(row: &'r Row, column: &str) -> Option<&'r str> {
    row.get(column).and_then(|v| v.as_str())
}
