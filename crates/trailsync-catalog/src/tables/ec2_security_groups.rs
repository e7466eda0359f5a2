//! CloudQuery's EC2 security groups, with their ingress and egress rules as JSON.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

pub static TABLE: Table = Table {
    name: "aws_ec2_security_groups",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: None,
    primary_key: &["arn"],
    id: Some(ResourceId::new("group_id").tagged("sg-")),
    columns: &[
        col("account_id", Text),
        col("region", Text),
        col("arn", Text),
        col("tags", Json),
        col("description", Text),
        col("group_id", Text),
        col("group_name", Text),
        col("ip_permissions", Json),
        col("ip_permissions_egress", Json),
        col("owner_id", Text),
        col("vpc_id", Text),
    ],
};
