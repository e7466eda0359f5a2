//! CloudQuery's EC2 images (the AMIs the account owns) and two per-image attributes as children.

use crate::ColumnType::*;
use crate::{ResourceId, Scope, Service, Table, col};

pub static TABLE: Table = Table {
    name: "aws_ec2_images",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: None,
    primary_key: &["account_id", "region", "arn"],
    id: Some(ResourceId::new("image_id").tagged("ami-")),
    columns: &[
        col("account_id", Text),
        col("region", Text),
        col("arn", Text),
        col("tags", Json),
        col("architecture", Text),
        col("block_device_mappings", Json),
        col("boot_mode", Text),
        col("creation_date", Timestamp),
        col("deprecation_time", Timestamp),
        col("description", Text),
        col("ena_support", Boolean),
        col("hypervisor", Text),
        col("image_id", Text),
        col("image_location", Text),
        col("image_owner_alias", Text),
        col("image_type", Text),
        col("imds_support", Text),
        col("kernel_id", Text),
        col("name", Text),
        col("owner_id", Text),
        col("platform", Text),
        col("platform_details", Text),
        col("product_codes", Json),
        col("public", Boolean),
        col("ramdisk_id", Text),
        col("root_device_name", Text),
        col("root_device_type", Text),
        col("source_instance_id", Text),
        col("sriov_net_support", Text),
        col("state", Text),
        col("state_reason", Json),
        col("tpm_support", Text),
        col("usage_operation", Text),
        col("virtualization_type", Text),
    ],
};

/// Who may launch the image (DescribeImageAttribute `launchPermission`). CloudQuery keys it by
/// `image_arn` alone, so with the keyed write modes an image keeps one permission row, as there.
pub static LAUNCH_PERMISSIONS: Table = Table {
    name: "aws_ec2_image_launch_permissions",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: Some(&TABLE),
    primary_key: &["image_arn"],
    id: None,
    columns: &[
        col("image_arn", Text),
        col("group", Text),
        col("organization_arn", Text),
        col("organizational_unit_arn", Text),
        col("user_id", Text),
    ],
};

/// When the image last launched an instance (DescribeImageAttribute `lastLaunchedTime`): one row
/// per image, the time null when it never did.
pub static LAST_LAUNCHED_TIMES: Table = Table {
    name: "aws_ec2_image_last_launched_times",
    service: Service::Ec2,
    scope: Scope::Regional,
    parent: Some(&TABLE),
    primary_key: &["image_arn"],
    id: None,
    columns: &[col("image_arn", Text), col("last_launched_time", Timestamp)],
};
