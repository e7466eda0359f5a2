//! CloudQuery's IAM roles and their policies; IAM is global, so rows have no region.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

pub static TABLE: Table = Table {
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

pub static POLICIES: Table = Table {
    name: "aws_iam_role_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&TABLE),
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

pub static ATTACHED_POLICIES: Table = Table {
    name: "aws_iam_role_attached_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&TABLE),
    primary_key: &["account_id", "role_arn", "policy_arn"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("role_arn", Text),
        col("policy_arn", Text),
        col("policy_name", Text),
    ],
};

pub static LAST_ACCESSED_DETAILS: Table = Table {
    name: "aws_iam_role_last_accessed_details",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&TABLE),
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
