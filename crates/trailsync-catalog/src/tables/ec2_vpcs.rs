//! CloudQuery's EC2 VPCs.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

pub static TABLE: Table = Table {
    name: "aws_ec2_vpcs",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: None,
    primary_key: &["arn"],
    id: Some(ResourceId::new("vpc_id").tagged("vpc-")),
    columns: &[
        col("account_id", Text),
        col("region", Text),
        col("arn", Text),
        col("tags", Json),
        col("cidr_block", Text),
        col("cidr_block_association_set", Json),
        col("dhcp_options_id", Text),
        col("instance_tenancy", Text),
        col("ipv6_cidr_block_association_set", Json),
        col("is_default", Boolean),
        col("owner_id", Text),
        col("state", Text),
        col("vpc_id", Text),
    ],
};
