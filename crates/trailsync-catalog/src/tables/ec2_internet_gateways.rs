//! CloudQuery's EC2 internet gateways, with their VPC attachments as JSON.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

pub static TABLE: Table = Table {
    name: "aws_ec2_internet_gateways",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: None,
    primary_key: &["arn"],
    id: Some(ResourceId::new("internet_gateway_id").tagged("igw-")),
    columns: &[
        col("account_id", Text),
        col("region", Text),
        col("arn", Text),
        col("tags", Json),
        col("attachments", Json),
        col("internet_gateway_id", Text),
        col("owner_id", Text),
    ],
};
