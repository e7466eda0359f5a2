//! IAM tables, declared as data: columns and keys from CloudQuery's AWS plugin.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

/// CloudQuery's IAM roles and their policies; IAM is global, so rows have no region.
pub static ROLES: Table = Table {
    name: "aws_iam_roles",
    service: Service::Iam,
    scope: Scope::Global,
    parent: None,
    primary_key: &["account_id", "arn"],
    id: Some(ResourceId::new("role_name")),
    columns: &[
        col("account_id", Text),
        col("assume_role_policy_document", Json),
        col("tags", Json),
        col("arn", Text),
        col("create_date", Timestamp),
        col("path", Text),
        col("role_id", Text),
        col("role_name", Text),
        col("description", Text),
        col("max_session_duration", BigInt),
        col("permissions_boundary", Json),
        col("role_last_used", Json),
    ],
};

pub static ROLE_POLICIES: Table = Table {
    name: "aws_iam_role_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&ROLES),
    primary_key: &["account_id", "role_arn", "policy_name"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("role_arn", Text),
        col("policy_document", Json),
        col("policy_name", Text),
        col("role_name", Text),
    ],
};

pub static ROLE_ATTACHED_POLICIES: Table = Table {
    name: "aws_iam_role_attached_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&ROLES),
    primary_key: &["account_id", "role_arn", "policy_arn"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("role_arn", Text),
        col("policy_arn", Text),
        col("policy_name", Text),
    ],
};

pub static ROLE_LAST_ACCESSED_DETAILS: Table = Table {
    name: "aws_iam_role_last_accessed_details",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&ROLES),
    primary_key: &["account_id", "role_arn", "service_namespace"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("role_arn", Text),
        col("job_id", Text),
        col("service_name", Text),
        col("service_namespace", Text),
        col("last_authenticated", Timestamp),
        col("last_authenticated_entity", Text),
        col("last_authenticated_region", Text),
        col("total_authenticated_entities", BigInt),
        col("tracked_actions_last_accessed", Json),
    ],
};

/// CloudQuery's IAM users and what hangs off them; IAM is global, so rows have no region.
pub static USERS: Table = Table {
    name: "aws_iam_users",
    service: Service::Iam,
    scope: Scope::Global,
    parent: None,
    primary_key: &["account_id", "arn"],
    id: Some(ResourceId::new("user_name")),
    columns: &[
        col("account_id", Text),
        col("arn", Text),
        col("tags", Json),
        col("create_date", Timestamp),
        col("path", Text),
        col("user_id", Text),
        col("user_name", Text),
        col("password_last_used", Timestamp),
        col("permissions_boundary", Json),
    ],
};

pub static USER_ACCESS_KEYS: Table = Table {
    name: "aws_iam_user_access_keys",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&USERS),
    primary_key: &["account_id", "user_arn", "access_key_id"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("user_arn", Text),
        col("access_key_id", Text),
        col("user_id", Text),
        col("last_used", Timestamp),
        col("last_used_service_name", Text),
        col("create_date", Timestamp),
        col("status", Text),
        col("user_name", Text),
        col("last_rotated", Timestamp),
    ],
};

pub static USER_GROUPS: Table = Table {
    name: "aws_iam_user_groups",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&USERS),
    primary_key: &["account_id", "user_arn", "arn"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("user_arn", Text),
        col("user_id", Text),
        col("arn", Text),
        col("create_date", Timestamp),
        col("group_id", Text),
        col("group_name", Text),
        col("path", Text),
    ],
};

pub static USER_POLICIES: Table = Table {
    name: "aws_iam_user_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&USERS),
    primary_key: &["account_id", "user_arn", "policy_name"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("user_arn", Text),
        col("user_id", Text),
        col("policy_document", Json),
        col("policy_name", Text),
        col("user_name", Text),
    ],
};

pub static USER_ATTACHED_POLICIES: Table = Table {
    name: "aws_iam_user_attached_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&USERS),
    primary_key: &["account_id", "user_arn", "policy_name"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("user_arn", Text),
        col("policy_name", Text),
        col("user_id", Text),
        col("policy_arn", Text),
    ],
};

pub static USER_LAST_ACCESSED_DETAILS: Table = Table {
    name: "aws_iam_user_last_accessed_details",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&USERS),
    primary_key: &["account_id", "user_arn", "service_namespace"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("user_arn", Text),
        col("job_id", Text),
        col("service_name", Text),
        col("service_namespace", Text),
        col("last_authenticated", Timestamp),
        col("last_authenticated_entity", Text),
        col("last_authenticated_region", Text),
        col("total_authenticated_entities", BigInt),
        col("tracked_actions_last_accessed", Json),
    ],
};

pub static SIGNING_CERTIFICATES: Table = Table {
    name: "aws_iam_signing_certificates",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&USERS),
    primary_key: &["account_id", "user_arn", "certificate_id"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("user_arn", Text),
        col("user_id", Text),
        col("certificate_body", Text),
        col("certificate_id", Text),
        col("status", Text),
        col("user_name", Text),
        col("upload_date", Timestamp),
    ],
};

pub static SSH_PUBLIC_KEYS: Table = Table {
    name: "aws_iam_ssh_public_keys",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&USERS),
    primary_key: &["account_id", "user_arn", "ssh_public_key_id"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("user_arn", Text),
        col("user_id", Text),
        col("ssh_public_key_id", Text),
        col("status", Text),
        col("upload_date", Timestamp),
        col("user_name", Text),
    ],
};

/// CloudQuery's IAM groups and their policies; IAM is global, so rows have no region.
pub static GROUPS: Table = Table {
    name: "aws_iam_groups",
    service: Service::Iam,
    scope: Scope::Global,
    parent: None,
    primary_key: &["account_id", "arn"],
    id: Some(ResourceId::new("group_name")),
    columns: &[
        col("account_id", Text),
        col("arn", Text),
        col("create_date", Timestamp),
        col("group_id", Text),
        col("group_name", Text),
        col("path", Text),
    ],
};

pub static GROUP_POLICIES: Table = Table {
    name: "aws_iam_group_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&GROUPS),
    primary_key: &["account_id", "group_arn", "policy_name"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("group_arn", Text),
        col("policy_document", Json),
        col("group_name", Text),
        col("policy_name", Text),
    ],
};

pub static GROUP_ATTACHED_POLICIES: Table = Table {
    name: "aws_iam_group_attached_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&GROUPS),
    primary_key: &["account_id", "group_arn", "policy_arn"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("group_arn", Text),
        col("policy_arn", Text),
        col("policy_name", Text),
    ],
};

pub static GROUP_LAST_ACCESSED_DETAILS: Table = Table {
    name: "aws_iam_group_last_accessed_details",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&GROUPS),
    primary_key: &["account_id", "group_arn", "service_namespace"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("group_arn", Text),
        col("job_id", Text),
        col("service_name", Text),
        col("service_namespace", Text),
        col("last_authenticated", Timestamp),
        col("last_authenticated_entity", Text),
        col("last_authenticated_region", Text),
        col("total_authenticated_entities", BigInt),
        col("tracked_actions_last_accessed", Json),
    ],
};

/// Every table of the service, parents before their children.
pub static ALL: &[&Table] = &[
    &ROLES,
    &ROLE_POLICIES,
    &ROLE_ATTACHED_POLICIES,
    &ROLE_LAST_ACCESSED_DETAILS,
    &USERS,
    &USER_ACCESS_KEYS,
    &USER_GROUPS,
    &USER_POLICIES,
    &USER_ATTACHED_POLICIES,
    &USER_LAST_ACCESSED_DETAILS,
    &SIGNING_CERTIFICATES,
    &SSH_PUBLIC_KEYS,
    &GROUPS,
    &GROUP_POLICIES,
    &GROUP_ATTACHED_POLICIES,
    &GROUP_LAST_ACCESSED_DETAILS,
];
