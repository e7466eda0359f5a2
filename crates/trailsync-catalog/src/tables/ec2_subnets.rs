//! CloudQuery's EC2 subnets. Unlike the other EC2 tables, CloudQuery names the location columns
//! `request_account_id` and `request_region` and keys rows by them with the ARN.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

pub static TABLE: Table = Table {
    name: "aws_ec2_subnets",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: None,
    primary_key: &["request_account_id", "request_region", "arn"],
    id: Some(ResourceId::new("subnet_id").tagged("subnet-")),
    columns: &[
        col("request_account_id", Text),
        col("request_region", Text),
        col("arn", Text),
        col("tags", Json),
        col("assign_ipv6_address_on_creation", Boolean),
        col("availability_zone", Text),
        col("availability_zone_id", Text),
        col("available_ip_address_count", BigInt),
        col("cidr_block", Text),
        col("customer_owned_ipv4_pool", Text),
        col("default_for_az", Boolean),
        col("enable_dns64", Boolean),
        col("enable_lni_at_device_index", BigInt),
        col("ipv6_cidr_block_association_set", Json),
        col("ipv6_native", Boolean),
        col("map_customer_owned_ip_on_launch", Boolean),
        col("map_public_ip_on_launch", Boolean),
        col("outpost_arn", Text),
        col("owner_id", Text),
        col("private_dns_name_options_on_launch", Json),
        col("state", Text),
        col("subnet_arn", Text),
        col("subnet_id", Text),
        col("vpc_id", Text),
    ],
};
