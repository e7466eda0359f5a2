//! One module per top-level table family; each declares its tables as statics.

pub mod ec2_images;
pub mod ec2_instances;
pub mod ec2_internet_gateways;
pub mod ec2_network_interfaces;
pub mod ec2_route_tables;
pub mod ec2_security_groups;
pub mod ec2_subnets;
pub mod ec2_vpcs;
pub mod ecs_clusters;
pub mod iam_groups;
pub mod iam_roles;
pub mod iam_users;
pub mod rds_clusters;
pub mod rds_instances;
