//! CloudQuery's EC2 route tables, with routes and associations as JSON.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

pub static TABLE: Table = Table {
    name: "aws_ec2_route_tables",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: None,
    primary_key: &["arn"],
    id: Some(ResourceId::new("route_table_id").tagged("rtb-")),
    columns: &[
        col("account_id", Text),
        col("region", Text),
        col("arn", Text),
        col("tags", Json),
        col("associations", Json),
        col("owner_id", Text),
        col("propagating_vgws", Json),
        col("route_table_id", Text),
        col("routes", Json),
        col("vpc_id", Text),
    ],
};
