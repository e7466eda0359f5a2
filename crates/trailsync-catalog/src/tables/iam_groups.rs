//! CloudQuery's IAM groups and their policies; IAM is global, so rows have no region.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

pub static TABLE: Table = Table {
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

pub static POLICIES: Table = Table {
    name: "aws_iam_group_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&TABLE),
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

pub static ATTACHED_POLICIES: Table = Table {
    name: "aws_iam_group_attached_policies",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&TABLE),
    primary_key: &["account_id", "group_arn", "policy_arn"],
    id: None,
    columns: &[
        col("account_id", Text),
        col("group_arn", Text),
        col("policy_arn", Text),
        col("policy_name", Text),
    ],
};

pub static LAST_ACCESSED_DETAILS: Table = Table {
    name: "aws_iam_group_last_accessed_details",
    service: Service::Iam,
    scope: Scope::Global,
    parent: Some(&TABLE),
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
