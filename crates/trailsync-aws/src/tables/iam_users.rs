//! aws_iam_users: `ListUsers` for the names, then `GetUser` per user, as CloudQuery does (tags
//! are only in `GetUser`'s answer), with the selected child tables.

use async_trait::async_trait;
use trailsync_catalog::tables::iam_users::TABLE;
use trailsync_catalog::{Resource, Table};
use trailsync_engine::FetchError;

use super::iam::{EntityError, Iam, Kind, call_error};
use super::{Context, TableReader};
use crate::errors::fetch_error;
use crate::render::render_object;

pub(super) struct IamUsers;

#[async_trait]
impl TableReader for IamUsers {
    fn table(&self) -> &'static Table {
        &TABLE
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Vec<Resource>, FetchError> {
        let iam = Iam::new(cx);
        let users = iam
            .client
            .list_users()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("ListUsers", e))?;
        iam.each(users, |u| user(&iam, u.user_name)).await
    }

    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Vec<Resource>, FetchError> {
        let iam = Iam::new(cx);
        iam.each(ids.iter().cloned(), |name| user(&iam, name)).await
    }
}

async fn user(iam: &Iam<'_>, name: String) -> Result<Resource, EntityError> {
    let answer = iam
        .client
        .get_user()
        .user_name(name)
        .send()
        .await
        .map_err(|e| call_error("GetUser", e))?;
    let user = answer
        .user
        .ok_or_else(|| FetchError::Api("GetUser: no User in the answer".into()))?;
    let row = iam.entity_row(&TABLE, render_object(&user))?;
    iam.resource(Kind::User, row).await
}
