//! aws_iam_roles: `ListRoles` for the names, then `GetRole` per role, as CloudQuery does (tags
//! and `RoleLastUsed` are only in `GetRole`'s answer), with the selected child tables.

use async_trait::async_trait;
use trailsync_catalog::tables::iam_roles::TABLE;
use trailsync_catalog::{Resource, Table};
use trailsync_engine::FetchError;

use super::iam::{EntityError, Iam, Kind, call_error, policy_document};
use super::{Context, TableReader};
use crate::errors::fetch_error;
use crate::render::render_object;

pub(super) struct IamRoles;

#[async_trait]
impl TableReader for IamRoles {
    fn table(&self) -> &'static Table {
        &TABLE
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Vec<Resource>, FetchError> {
        let iam = Iam::new(cx);
        let roles = iam
            .client
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| fetch_error("ListRoles", e))?;
        iam.each(roles, |r| role(&iam, r.role_name)).await
    }

    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Vec<Resource>, FetchError> {
        let iam = Iam::new(cx);
        iam.each(ids.iter().cloned(), |name| role(&iam, name)).await
    }
}

async fn role(iam: &Iam<'_>, name: String) -> Result<Resource, EntityError> {
    let answer = iam
        .client
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(|e| call_error("GetRole", e))?;
    let role = answer
        .role
        .ok_or_else(|| FetchError::Api("GetRole: no Role in the answer".into()))?;
    let mut object = render_object(&role);
    if let Some(document) = role.assume_role_policy_document.as_deref() {
        object.insert("AssumeRolePolicyDocument".into(), policy_document(document));
    }
    let row = iam.entity_row(&TABLE, object)?;
    iam.resource(Kind::Role, row).await
}
