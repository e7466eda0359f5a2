//! The member accounts of an AWS Organization, found as CloudQuery finds them.
//!
//! Without `organization_units`, every account of the organization (`ListAccounts`), less those
//! under `skip_organization_units`. With them, a breadth-first walk from each unit (or root):
//! `ListAccountsForParent` for its accounts and `ListChildren` for the units nested in it, never
//! entering a unit of `skip_organization_units`. Only ACTIVE accounts are kept, each once, less
//! `skip_member_accounts`.

use std::collections::{BTreeMap, HashSet, VecDeque};

use aws_config::SdkConfig;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus, ChildType};
use trailsync_config::OrgConfig;

use crate::accounts::AccountsError;
use crate::errors::describe;

/// An active member account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    pub id: String,
    pub name: Option<String>,
    /// `aws`, `aws-us-gov`, `aws-cn`: from the account's ARN.
    pub partition: String,
}

/// The members `org` selects, by account number. `admin` has the credentials to call
/// Organizations with.
pub(crate) async fn members(
    org: &OrgConfig,
    admin: &SdkConfig,
) -> Result<Vec<Member>, AccountsError> {
    let client = Client::new(admin);
    let mut skip: HashSet<String> = org.skip_member_accounts.iter().cloned().collect();
    let accounts = if org.organization_units.is_empty() {
        for account in walk(&client, &org.skip_organization_units, &[]).await? {
            if let Some(id) = account.id {
                skip.insert(id);
            }
        }
        let pages: Vec<_> = client
            .list_accounts()
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure("ListAccounts", &describe(&e)))?;
        pages
            .into_iter()
            .flat_map(|p| p.accounts.unwrap_or_default())
            .collect()
    } else {
        walk(
            &client,
            &org.organization_units,
            &org.skip_organization_units,
        )
        .await?
    };
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    for account in accounts {
        let Some(id) = account.id.clone() else {
            continue;
        };
        if !is_active(&account) || skip.contains(&id) {
            continue;
        }
        let partition = account
            .arn()
            .and_then(|arn| arn.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
            .to_string();
        members.insert(
            id.clone(),
            Member {
                id,
                name: account.name.clone(),
                partition,
            },
        );
    }
    tracing::info!(members = members.len(), "organization accounts discovered");
    Ok(members.into_values().collect())
}

/// Every account under `units` (nested units included), not entering any of `skip`.
async fn walk(
    client: &Client,
    units: &[String],
    skip: &[String],
) -> Result<Vec<Account>, AccountsError> {
    let mut queue: VecDeque<String> = units.iter().cloned().collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut accounts = Vec::new();
    while let Some(unit) = queue.pop_front() {
        if skip.contains(&unit) || !seen.insert(unit.clone()) {
            continue;
        }
        let pages: Vec<_> = client
            .list_accounts_for_parent()
            .parent_id(&unit)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                failure(
                    "ListAccountsForParent",
                    &format!("{unit}: {}", describe(&e)),
                )
            })?;
        accounts.extend(
            pages
                .into_iter()
                .flat_map(|p| p.accounts.unwrap_or_default()),
        );
        let pages: Vec<_> = client
            .list_children()
            .parent_id(&unit)
            .child_type(ChildType::OrganizationalUnit)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| failure("ListChildren", &format!("{unit}: {}", describe(&e))))?;
        queue.extend(
            pages
                .into_iter()
                .flat_map(|p| p.children.unwrap_or_default())
                .filter_map(|c| c.id),
        );
    }
    Ok(accounts)
}

/// ACTIVE by its state (the newer field) or, where an answer has no state, by its status.
fn is_active(account: &Account) -> bool {
    match account.state() {
        Some(state) => *state == AccountState::Active,
        None => account.status() == Some(&AccountStatus::Active),
    }
}

fn failure(operation: &str, message: &str) -> AccountsError {
    AccountsError::Organization {
        message: format!("{operation}: {message}"),
    }
}
