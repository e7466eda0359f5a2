//! aws_iam_groups: `ListGroups` answers everything the row needs (groups have no tags), so only
//! fetch-by-name calls `GetGroup`; the selected child tables are read per group either way.

use async_trait::async_trait;
use aws_sdk_iam::types::Group;
use trailsync_catalog::tables::iam_groups::TABLE;
use trailsync_catalog::{Resource, Table};
use trailsync_engine::FetchError;

use super::iam::{EntityError, Iam, Kind, call_error};
use super::{Context, TableReader};
use crate::errors::fetch_error;
use crate::render::render_object;

pub(super) struct IamGroups;

#[async_trait]
impl TableReader for IamGroups {
    fn table(&self) -> &'static Table {
        &TABLE
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Vec<Resource>, FetchError> {
        let iam = Iam::new(cx);
        let groups = iam
            .client
            .list_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("ListGroups", e))?;
        iam.each(groups, |g| group(&iam, g)).await
    }

    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Vec<Resource>, FetchError> {
        let iam = Iam::new(cx);
        iam.each(ids.iter().cloned(), |name| named(&iam, name))
            .await
    }
}

/// One group by name: `GetGroup`, whose answer also pages through the members (not kept here).
async fn named(iam: &Iam<'_>, name: String) -> Result<Resource, EntityError> {
    let answer = iam
        .client
        .get_group()
        .group_name(name)
        .max_items(1)
        .send()
        .await
        .map_err(|e| call_error("GetGroup", e))?;
    let found = answer
        .group
        .ok_or_else(|| FetchError::Api("GetGroup: no Group in the answer".into()))?;
    group(iam, found).await
}

async fn group(iam: &Iam<'_>, group: Group) -> Result<Resource, EntityError> {
    let row = iam.entity_row(&TABLE, render_object(&group))?;
    iam.resource(Kind::Group, row).await
}
