//! IAM roles, users and groups: one reader, generic over the [`Entity`] kind, and the child
//! tables they share (inline and attached policies, last-accessed details), plus the user's own
//! (access keys, groups, signing certificates, SSH keys), and IAM's URL-encoded policy documents.
//!
//! IAM has no batch reads: every entity costs one `Get*` plus one call per child list, so entities
//! are read [`CONCURRENCY`] at a time. An entity that disappears between calls (`NoSuchEntity`)
//! is simply absent from the answer, as fetch-by-id requires. CloudQuery reads roles and users
//! with `Get*` per entity (tags and `RoleLastUsed` are only there); groups come whole from
//! `ListGroups`.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::types::{AccessAdvisorUsageGranularityType, AttachedPolicy, JobStatusType};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::{StreamExt, stream};
use serde_json::{Map, Value as Json, json};
use trailsync_catalog::tables::iam;
use trailsync_catalog::{ChildRows, Resource, Row, Table, Value};
use trailsync_core::{FetchError, FetchErrorKind, Fetched};

use super::{Context, TableReader, all};
use crate::errors::{fetch_error, invalid, is_unsupported};
use crate::render::{Render, render_object, tags_object};

/// IAM entities read at once within one list or fetch call.
const CONCURRENCY: usize = 8;

/// How often a last-accessed job is polled, and for how long at most.
const JOB_POLL: Duration = Duration::from_secs(1);
const JOB_PATIENCE: Duration = Duration::from_secs(120);

/// Why one entity could not be read.
pub(super) enum EntityError {
    /// It no longer exists (`NoSuchEntity` from any of its calls): absent from the answer.
    Gone,
    Failed(FetchError),
}

impl From<FetchError> for EntityError {
    fn from(error: FetchError) -> Self {
        EntityError::Failed(error)
    }
}

/// Classifies an IAM SDK error: a missing entity, or a failure with the service's own words.
fn call_error<E>(operation: &'static str, error: SdkError<E>) -> EntityError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if error.code() == Some("NoSuchEntity") {
        EntityError::Gone
    } else {
        EntityError::Failed(fetch_error(operation, error))
    }
}

/// Every item of a paginated call about one entity; `Gone` if the entity is.
async fn entity_all<T, E>(
    operation: &'static str,
    items: PaginationStream<Result<T, SdkError<E>>>,
) -> Result<Vec<T>, EntityError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    items
        .try_collect()
        .await
        .map_err(|error| call_error(operation, error))
}

/// The answer of a call on one item of a child list (a policy, an access key): `None` when that
/// item is gone (deleted since the list), which leaves the parent standing.
fn item<T, E>(
    operation: &'static str,
    answer: Result<T, SdkError<E>>,
) -> Result<Option<T>, EntityError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match answer {
        Ok(value) => Ok(Some(value)),
        Err(error) => match call_error(operation, error) {
            EntityError::Gone => Ok(None),
            failed => Err(failed),
        },
    }
}

/// An entity as a listing gives it: by the name to `Get*` it with, or whole.
pub(super) enum Listed {
    Name(String),
    Found {
        name: String,
        object: Map<String, Json>,
    },
}

impl Listed {
    fn name(&self) -> &str {
        match self {
            Listed::Name(name) | Listed::Found { name, .. } => name,
        }
    }
}

/// One kind of IAM entity: its table, the prefix its child tables repeat its columns under
/// (`role_arn`, `user_id`, `group_name`), and the calls that differ by kind. Implemented by
/// [`Role`], [`User`] and [`Group`]; everything else is written once, in [`IamReader`].
pub(super) trait Entity: Send + Sync + 'static {
    const TABLE: &'static Table;
    const PREFIX: &'static str;

    /// Every entity of the account.
    fn list(client: &Client) -> impl Future<Output = Result<Vec<Listed>, FetchError>> + Send;

    /// One entity by name, rendered.
    fn get(
        client: &Client,
        name: &str,
    ) -> impl Future<Output = Result<Map<String, Json>, EntityError>> + Send;

    /// The names of the entity's inline policies.
    fn inline_policy_names(
        client: &Client,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, EntityError>> + Send;

    /// One inline policy's (URL-encoded) document; `None` if it is gone.
    fn inline_policy(
        client: &Client,
        name: &str,
        policy: &str,
    ) -> impl Future<Output = Result<Option<String>, EntityError>> + Send;

    /// The managed policies attached to the entity.
    fn attached_policies(
        client: &Client,
        name: &str,
    ) -> impl Future<Output = Result<Vec<AttachedPolicy>, EntityError>> + Send;
}

/// The three policy calls every kind has, differing only in names: the parameter naming the
/// entity, and the `List*Policies`, `Get*Policy`, `ListAttached*Policies` operations.
macro_rules! policy_calls {
    ($entity:ident, $list:ident, $list_op:literal, $get:ident, $get_op:literal, $attached:ident, $attached_op:literal) => {
        async fn inline_policy_names(
            client: &Client,
            name: &str,
        ) -> Result<Vec<String>, EntityError> {
            let request = client.$list().$entity(name);
            entity_all($list_op, request.into_paginator().items().send()).await
        }

        async fn inline_policy(
            client: &Client,
            name: &str,
            policy: &str,
        ) -> Result<Option<String>, EntityError> {
            let answer = client.$get().$entity(name).policy_name(policy).send().await;
            Ok(item($get_op, answer)?.map(|p| p.policy_document))
        }

        async fn attached_policies(
            client: &Client,
            name: &str,
        ) -> Result<Vec<AttachedPolicy>, EntityError> {
            let request = client.$attached().$entity(name);
            entity_all($attached_op, request.into_paginator().items().send()).await
        }
    };
}

/// aws_iam_roles: `ListRoles` for the names, then `GetRole` per role.
pub(super) struct Role;

impl Entity for Role {
    const TABLE: &'static Table = &iam::ROLES;
    const PREFIX: &'static str = "role";

    async fn list(client: &Client) -> Result<Vec<Listed>, FetchError> {
        let roles = all(
            "ListRoles",
            client.list_roles().into_paginator().items().send(),
        )
        .await?;
        Ok(roles
            .into_iter()
            .map(|r| Listed::Name(r.role_name))
            .collect())
    }

    async fn get(client: &Client, name: &str) -> Result<Map<String, Json>, EntityError> {
        let answer = client.get_role().role_name(name).send().await;
        let role = answer
            .map_err(|e| call_error("GetRole", e))?
            .role
            .ok_or_else(|| invalid("GetRole", "no Role in the answer"))?;
        let mut object = render_object(&role);
        if let Some(document) = role.assume_role_policy_document.as_deref() {
            object.insert("AssumeRolePolicyDocument".into(), policy_document(document));
        }
        Ok(object)
    }

    policy_calls!(
        role_name,
        list_role_policies,
        "ListRolePolicies",
        get_role_policy,
        "GetRolePolicy",
        list_attached_role_policies,
        "ListAttachedRolePolicies"
    );
}

/// aws_iam_users: `ListUsers` for the names, then `GetUser` per user.
pub(super) struct User;

impl Entity for User {
    const TABLE: &'static Table = &iam::USERS;
    const PREFIX: &'static str = "user";

    async fn list(client: &Client) -> Result<Vec<Listed>, FetchError> {
        let users = all(
            "ListUsers",
            client.list_users().into_paginator().items().send(),
        )
        .await?;
        Ok(users
            .into_iter()
            .map(|u| Listed::Name(u.user_name))
            .collect())
    }

    async fn get(client: &Client, name: &str) -> Result<Map<String, Json>, EntityError> {
        let answer = client.get_user().user_name(name).send().await;
        let user = answer
            .map_err(|e| call_error("GetUser", e))?
            .user
            .ok_or_else(|| invalid("GetUser", "no User in the answer"))?;
        Ok(render_object(&user))
    }

    policy_calls!(
        user_name,
        list_user_policies,
        "ListUserPolicies",
        get_user_policy,
        "GetUserPolicy",
        list_attached_user_policies,
        "ListAttachedUserPolicies"
    );
}

/// aws_iam_groups: `ListGroups` answers everything the row needs (groups have no tags); only
/// fetch-by-name calls `GetGroup`.
pub(super) struct Group;

impl Entity for Group {
    const TABLE: &'static Table = &iam::GROUPS;
    const PREFIX: &'static str = "group";

    async fn list(client: &Client) -> Result<Vec<Listed>, FetchError> {
        let groups = all(
            "ListGroups",
            client.list_groups().into_paginator().items().send(),
        )
        .await?;
        Ok(groups
            .iter()
            .map(|g| Listed::Found {
                name: g.group_name.clone(),
                object: render_object(g),
            })
            .collect())
    }

    /// `GetGroup` also pages through the members, which are not kept here.
    async fn get(client: &Client, name: &str) -> Result<Map<String, Json>, EntityError> {
        let answer = client
            .get_group()
            .group_name(name)
            .max_items(1)
            .send()
            .await;
        let group = answer
            .map_err(|e| call_error("GetGroup", e))?
            .group
            .ok_or_else(|| invalid("GetGroup", "no Group in the answer"))?;
        Ok(render_object(&group))
    }

    policy_calls!(
        group_name,
        list_group_policies,
        "ListGroupPolicies",
        get_group_policy,
        "GetGroupPolicy",
        list_attached_group_policies,
        "ListAttachedGroupPolicies"
    );
}

/// The reader of one entity kind's table.
pub(super) struct IamReader<E>(PhantomData<E>);

pub(super) static ROLES: IamReader<Role> = IamReader(PhantomData);
pub(super) static USERS: IamReader<User> = IamReader(PhantomData);
pub(super) static GROUPS: IamReader<Group> = IamReader(PhantomData);

#[async_trait]
impl<E: Entity> TableReader for IamReader<E> {
    fn table(&self) -> &'static Table {
        E::TABLE
    }

    async fn list(&self, cx: &Context<'_>) -> Result<Fetched, FetchError> {
        let iam = Iam::new(cx);
        let listed = E::list(&iam.client).await?;
        Ok(iam.each::<E>(listed).await)
    }

    async fn fetch(&self, cx: &Context<'_>, ids: &[String]) -> Result<Fetched, FetchError> {
        let iam = Iam::new(cx);
        Ok(iam.each::<E>(ids.iter().cloned().map(Listed::Name)).await)
    }
}

/// The calls that list a child table's rows for one parent.
#[derive(Clone, Copy, Debug)]
enum List {
    InlinePolicies,
    AttachedPolicies,
    LastAccessed,
    AccessKeys,
    GroupsForUser,
    SigningCertificates,
    SshPublicKeys,
}

/// Every IAM child table and how its rows are listed.
static CHILD_LISTS: &[(&Table, List)] = &[
    (&iam::ROLE_POLICIES, List::InlinePolicies),
    (&iam::ROLE_ATTACHED_POLICIES, List::AttachedPolicies),
    (&iam::ROLE_LAST_ACCESSED_DETAILS, List::LastAccessed),
    (&iam::USER_ACCESS_KEYS, List::AccessKeys),
    (&iam::USER_GROUPS, List::GroupsForUser),
    (&iam::USER_POLICIES, List::InlinePolicies),
    (&iam::USER_ATTACHED_POLICIES, List::AttachedPolicies),
    (&iam::USER_LAST_ACCESSED_DETAILS, List::LastAccessed),
    (&iam::SIGNING_CERTIFICATES, List::SigningCertificates),
    (&iam::SSH_PUBLIC_KEYS, List::SshPublicKeys),
    (&iam::GROUP_POLICIES, List::InlinePolicies),
    (&iam::GROUP_ATTACHED_POLICIES, List::AttachedPolicies),
    (&iam::GROUP_LAST_ACCESSED_DETAILS, List::LastAccessed),
];

/// One list or fetch call: the IAM client and what the engine asked for.
pub(super) struct Iam<'a> {
    pub(super) client: Client,
    cx: &'a Context<'a>,
    /// Set once the endpoint has shown it does not implement last-accessed jobs (moto does
    /// not): the remaining entities of the call do not ask again.
    no_last_accessed: AtomicBool,
}

impl<'a> Iam<'a> {
    pub(super) fn new(cx: &'a Context<'a>) -> Iam<'a> {
        Iam {
            client: Client::new(cx.config),
            cx,
            no_last_accessed: AtomicBool::new(false),
        }
    }

    /// Reads each entity with its children, [`CONCURRENCY`] at a time, in the listing's order.
    /// Entities that are gone are left out; one that fails is reported on its own, by name, and
    /// does not fail the others.
    async fn each<E: Entity>(&self, listed: impl IntoIterator<Item = Listed>) -> Fetched {
        let mut results = stream::iter(listed)
            .map(|entity| async move {
                let name = entity.name().to_string();
                (name, self.entity::<E>(entity).await)
            })
            .buffered(CONCURRENCY);
        let mut fetched = Fetched::default();
        while let Some((name, result)) = results.next().await {
            match result {
                Ok(resource) => fetched.resources.push(resource),
                Err(EntityError::Gone) => {}
                Err(EntityError::Failed(error)) => fetched.failed.push((name, error)),
            }
        }
        fetched
    }

    /// One entity with its selected children, from a listing.
    async fn entity<E: Entity>(&self, listed: Listed) -> Result<Resource, EntityError> {
        let object = match listed {
            Listed::Found { object, .. } => object,
            Listed::Name(name) => E::get(&self.client, &name).await?,
        };
        let row = self.entity_row(E::TABLE, object)?;
        self.resource::<E>(row).await
    }

    /// The row of a top-level entity from its rendered API object: adds `account_id` and, for
    /// tables that have one, the `tags` object.
    fn entity_row(
        &self,
        table: &'static Table,
        mut object: Map<String, Json>,
    ) -> Result<Row, EntityError> {
        object.insert(
            "account_id".into(),
            Json::String(self.cx.location.account_id.clone()),
        );
        if table.column_index("tags").is_some() {
            let tags = tags_object(object.get("Tags"));
            object.insert("tags".into(), tags);
        }
        row(table, &object, None)
    }

    /// The entity's row with the rows of every selected child table (and only those).
    async fn resource<E: Entity>(&self, row: Row) -> Result<Resource, EntityError> {
        let parent = Parent::new(E::PREFIX, &row);
        let mut children = Vec::with_capacity(self.cx.children.len());
        for &table in self.cx.children {
            let Some(&(_, list)) = CHILD_LISTS.iter().find(|(t, _)| *t == table) else {
                return Err(FetchError::unsupported(table.name).into());
            };
            let rows = match list {
                List::InlinePolicies => self.inline_policies::<E>(&parent, table).await?,
                List::AttachedPolicies => self.attached_policies::<E>(&parent, table).await?,
                List::LastAccessed => self.last_accessed(&parent, table).await?,
                List::AccessKeys => self.access_keys(&parent, table).await?,
                List::GroupsForUser => self.groups_for_user(&parent, table).await?,
                List::SigningCertificates => self.signing_certificates(&parent, table).await?,
                List::SshPublicKeys => self.ssh_public_keys(&parent, table).await?,
            };
            children.push(ChildRows { table, rows });
        }
        Ok(Resource { row, children })
    }

    /// The entity's inline policies with their documents: `List*Policies`, then `Get*Policy` for
    /// each name.
    async fn inline_policies<E: Entity>(
        &self,
        parent: &Parent<'_>,
        table: &'static Table,
    ) -> Result<Vec<Row>, EntityError> {
        let names = E::inline_policy_names(&self.client, &parent.name).await?;
        let mut rows = Vec::with_capacity(names.len());
        for policy in names {
            let Some(document) = E::inline_policy(&self.client, &parent.name, &policy).await?
            else {
                continue;
            };
            let object = json!({
                "PolicyName": policy,
                "PolicyDocument": policy_document(&document),
            });
            rows.push(parent.child_row(table, object)?);
        }
        Ok(rows)
    }

    /// The managed policies attached to the entity (`ListAttached*Policies`).
    async fn attached_policies<E: Entity>(
        &self,
        parent: &Parent<'_>,
        table: &'static Table,
    ) -> Result<Vec<Row>, EntityError> {
        E::attached_policies(&self.client, &parent.name)
            .await?
            .iter()
            .map(|p| parent.child_row(table, p.render()))
            .collect()
    }

    /// The user's access keys, each with when and where it was last used
    /// (`GetAccessKeyLastUsed`); `last_rotated` is the creation date, as CloudQuery has it.
    async fn access_keys(
        &self,
        parent: &Parent<'_>,
        table: &'static Table,
    ) -> Result<Vec<Row>, EntityError> {
        let request = self.client.list_access_keys().user_name(&parent.name);
        let keys = entity_all("ListAccessKeys", request.into_paginator().items().send()).await?;
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            let mut object = render_object(&key);
            if let Some(created) = object.get("CreateDate").cloned() {
                object.insert("last_rotated".into(), created);
            }
            if let Some(id) = key.access_key_id() {
                let used = self
                    .client
                    .get_access_key_last_used()
                    .access_key_id(id)
                    .send()
                    .await;
                let Some(used) = item("GetAccessKeyLastUsed", used)? else {
                    continue;
                };
                if let Some(used) = used.access_key_last_used {
                    object.insert("last_used".into(), used.last_used_date.render());
                    object.insert(
                        "last_used_service_name".into(),
                        Json::String(used.service_name),
                    );
                }
            }
            rows.push(parent.child_row(table, Json::Object(object))?);
        }
        Ok(rows)
    }

    /// The groups the user is a member of (`ListGroupsForUser`).
    async fn groups_for_user(
        &self,
        parent: &Parent<'_>,
        table: &'static Table,
    ) -> Result<Vec<Row>, EntityError> {
        let request = self.client.list_groups_for_user().user_name(&parent.name);
        let groups =
            entity_all("ListGroupsForUser", request.into_paginator().items().send()).await?;
        groups
            .iter()
            .map(|g| parent.child_row(table, g.render()))
            .collect()
    }

    /// The user's X.509 signing certificates (`ListSigningCertificates`).
    async fn signing_certificates(
        &self,
        parent: &Parent<'_>,
        table: &'static Table,
    ) -> Result<Vec<Row>, EntityError> {
        let request = self
            .client
            .list_signing_certificates()
            .user_name(&parent.name);
        let certificates = entity_all(
            "ListSigningCertificates",
            request.into_paginator().items().send(),
        )
        .await?;
        certificates
            .iter()
            .map(|c| parent.child_row(table, c.render()))
            .collect()
    }

    /// The user's SSH public keys for CodeCommit (`ListSSHPublicKeys`).
    async fn ssh_public_keys(
        &self,
        parent: &Parent<'_>,
        table: &'static Table,
    ) -> Result<Vec<Row>, EntityError> {
        let request = self.client.list_ssh_public_keys().user_name(&parent.name);
        let keys = entity_all("ListSSHPublicKeys", request.into_paginator().items().send()).await?;
        keys.iter()
            .map(|k| parent.child_row(table, k.render()))
            .collect()
    }

    /// The services the entity last used, as CloudQuery reads them: an action-level
    /// `GenerateServiceLastAccessedDetails` job, polled with `GetServiceLastAccessedDetails`.
    ///
    /// An endpoint that does not implement the job (an emulator) yields no rows rather than
    /// failing the entity (moto answers an HTML 500 page).
    async fn last_accessed(
        &self,
        parent: &Parent<'_>,
        table: &'static Table,
    ) -> Result<Vec<Row>, EntityError> {
        if self.no_last_accessed.load(Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        let generate = || {
            self.client
                .generate_service_last_accessed_details()
                .arn(&parent.arn)
                .granularity(AccessAdvisorUsageGranularityType::ActionLevel)
        };
        // One attempt first: an endpoint without the operation says so at once, instead of after
        // the retries its HTTP 500 earns. Any other failure is asked again with the retries.
        let once = generate()
            .customize()
            .config_override(aws_sdk_iam::Config::builder().retry_config(RetryConfig::disabled()))
            .send()
            .await;
        let generated = match once {
            Ok(output) => output,
            Err(error) if is_unsupported(&error, &[]) => {
                if !self.no_last_accessed.swap(true, Ordering::Relaxed) {
                    tracing::debug!(
                        table = table.name,
                        error = %crate::errors::describe(&error),
                        "the endpoint does not implement GenerateServiceLastAccessedDetails; last-accessed details are left empty"
                    );
                }
                return Ok(Vec::new());
            }
            Err(_) => generate()
                .send()
                .await
                .map_err(|e| call_error("GenerateServiceLastAccessedDetails", e))?,
        };
        let job = generated.job_id.ok_or_else(|| {
            invalid(
                "GenerateServiceLastAccessedDetails",
                "no JobId in the answer",
            )
        })?;
        let deadline = Instant::now() + JOB_PATIENCE;
        let mut marker = None;
        let mut rows = Vec::new();
        loop {
            let page = self
                .client
                .get_service_last_accessed_details()
                .job_id(&job)
                .max_items(1000)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| call_error("GetServiceLastAccessedDetails", e))?;
            match page.job_status {
                JobStatusType::InProgress => {
                    if Instant::now() >= deadline {
                        // A job that runs long passes with time: asked again later.
                        return Err(FetchError::new(
                            FetchErrorKind::Timeout,
                            "GetServiceLastAccessedDetails",
                            format!(
                                "job {job} for {} still in progress after {} s",
                                parent.arn,
                                JOB_PATIENCE.as_secs()
                            ),
                        )
                        .into());
                    }
                    tokio::time::sleep(JOB_POLL).await;
                    continue;
                }
                JobStatusType::Completed => {}
                other => {
                    let reason = page.error.map_or_else(
                        || format!("status {}", other.as_str()),
                        |e| format!("{}: {}", e.code, e.message),
                    );
                    return Err(FetchError::new(
                        FetchErrorKind::Unavailable,
                        "GetServiceLastAccessedDetails",
                        format!("job {job} for {} failed: {reason}", parent.arn),
                    )
                    .into());
                }
            }
            for service in &page.services_last_accessed {
                let mut object = render_object(service);
                object.insert("job_id".into(), Json::String(job.clone()));
                rows.push(parent.child_row(table, Json::Object(object))?);
            }
            match page.marker {
                Some(next) if page.is_truncated => marker = Some(next),
                _ => return Ok(rows),
            }
        }
    }
}

/// A parent entity as its child rows see it: the columns they repeat and the `_cq_id` they point
/// at.
struct Parent<'r> {
    /// The entity's name, which the child-list calls take.
    name: String,
    arn: String,
    row: &'r Row,
    /// `account_id` and the parent's arn, name and id under the kind's prefix (`role_arn`,
    /// `user_id`, ...); each child table keeps those it has.
    columns: Map<String, Json>,
}

impl<'r> Parent<'r> {
    fn new(prefix: &'static str, row: &'r Row) -> Parent<'r> {
        let text = |column: &str| {
            row.get(column)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let name = text(&format!("{prefix}_name"));
        let arn = text("arn");
        let mut columns = Map::new();
        columns.insert("account_id".into(), Json::String(text("account_id")));
        columns.insert(format!("{prefix}_arn"), Json::String(arn.clone()));
        columns.insert(format!("{prefix}_name"), Json::String(name.clone()));
        columns.insert(
            format!("{prefix}_id"),
            Json::String(text(&format!("{prefix}_id"))),
        );
        Parent {
            name,
            arn,
            row,
            columns,
        }
    }

    /// A child row from a rendered API object (or one built here), with the parent's columns.
    fn child_row(&self, table: &'static Table, object: Json) -> Result<Row, EntityError> {
        let mut object = match object {
            Json::Object(map) => map,
            _ => Map::new(),
        };
        for (column, value) in &self.columns {
            object.insert(column.clone(), value.clone());
        }
        row(table, &object, Some(self.row))
    }
}

fn row(
    table: &'static Table,
    object: &Map<String, Json>,
    parent: Option<&Row>,
) -> Result<Row, EntityError> {
    Row::from_json(table, object, parent.map(|p| p.cq_id))
        .map_err(|e| EntityError::Failed(invalid("row", e.to_string())))
}

/// An IAM policy document as CloudQuery stores it: JSON, decoded from the URL encoding
/// (RFC 3986) IAM returns it in, with Go's `url.QueryUnescape` rules (`+` is a space).
///
/// A document that already is JSON is taken as it is (moto leaves `ListRoles` documents unencoded);
/// one that is neither stays a JSON string rather than failing the row.
fn policy_document(raw: &str) -> Json {
    if let Ok(document) = serde_json::from_str(raw) {
        return document;
    }
    match query_unescape(raw) {
        Some(decoded) => serde_json::from_str(&decoded).unwrap_or(Json::String(decoded)),
        None => Json::String(raw.to_string()),
    }
}

/// `%XX` -> byte and `+` -> space; `None` for a malformed escape or bytes that are not UTF-8.
fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let high = hex_value(*bytes.get(i + 1)?)?;
                let low = hex_value(*bytes.get(i + 2)?)?;
                out.push(high << 4 | low);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::policy_document;

    #[test]
    fn policy_documents_are_decoded_to_json() {
        // What IAM answers for {"Version": "2012-10-17", "Statement": [...]} (spaces as %20).
        let encoded = "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22s3%3AGet%2A%22%2C%20%22Resource%22%3A%20%22arn%3Aaws%3As3%3A%3A%3Aa%2Bb%25%22%7D%5D%7D";
        let expected = json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::a+b%"}],
        });
        assert_eq!(policy_document(encoded), expected);
        assert_eq!(
            policy_document(&expected.to_string()),
            expected,
            "already JSON"
        );
        // Go's url.QueryUnescape: `+` is a space; non-ASCII arrives percent-encoded as UTF-8.
        assert_eq!(
            policy_document("%7B%22Sid%22%3A%22a+b%20%C3%A9%22%7D"),
            json!({"Sid": "a b é"})
        );
    }

    #[test]
    fn undecodable_documents_stay_text() {
        assert_eq!(policy_document("%7B%2"), json!("%7B%2"), "truncated escape");
        assert_eq!(policy_document("%zz"), json!("%zz"), "not hex");
        assert_eq!(policy_document("%FF"), json!("%FF"), "not UTF-8");
        assert_eq!(policy_document("not%20json"), json!("not json"));
    }
}
