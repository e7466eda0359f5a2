//! The routing table: which CloudTrail events change which tables, and where their ids are.
//!
//! This file is data. [`ROUTES`] has one row per (event, table, action); [`crate::route`]
//! interprets it, `trailsync tables` and `docs/EVENTS.md` list it. Supporting a new event is
//! adding a row here.
//!
//! Ids are the natural ids the describe/get APIs take: instance, group (`sg-`), subnet, VPC,
//! internet gateway, route table, network interface and image ids; IAM role, user and group
//! names; RDS DB instance and cluster identifiers (lowercased, as RDS stores them); ECS cluster
//! names (an ARN `arn:aws:ecs:…:cluster/NAME` becomes `NAME`, so one cluster has one id whether
//! the event named it or gave its ARN): each table's [`ResourceId`] says how its ids are spelled.
//!
//! `CreateTags`/`DeleteTags` rows are not written here: they are derived from the catalog, one per
//! table whose [`ResourceId`] has a tag prefix, so a new EC2 table is taggable by declaration.

use std::collections::HashMap;
use std::sync::LazyLock;

use trailsync_catalog::tables::{ec2, ecs, iam, rds};
use trailsync_catalog::{ResourceId, TABLES, Table};

use crate::route::Action;

/// One row: `name` from `source` changes rows of `table`, identified by `ids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `eventSource`, e.g. `ec2.amazonaws.com`.
    pub source: &'static str,
    /// `eventName`, e.g. `RunInstances`.
    pub name: &'static str,
    /// The top-level table whose rows (and children) are re-fetched.
    pub table: &'static Table,
    /// Where the ids of `table` are in the event.
    pub ids: Ids,
    pub action: Action,
}

/// Where a row's ids are, as paths into the record.
///
/// A path is dot-separated field names from the record's top level
/// (`requestParameters.groupId`); a segment ending in `[]` steps into each element of an array
/// (`responseElements.instancesSet.items[].instanceId`). Only non-empty strings are ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Ids at the first path that has any. None at all (a create whose `responseElements` is
    /// null or truncated): refresh the whole table in that account and region, never drop it.
    First(&'static [&'static str]),
    /// Ids at the first path that has any; none means this event does not touch the table
    /// (an RDS instance outside any cluster).
    Optional(&'static [&'static str]),
    /// Ids at `path` starting with `prefix`; the rest belong to other tables (`CreateTags`).
    Prefixed {
        path: &'static str,
        prefix: &'static str,
    },
    /// ARNs at `path` whose resource type is `kind` (`db` in `arn:aws:rds:…:db:NAME`), as the
    /// resource id after it; other ARNs belong to other tables (`AddTagsToResource`).
    Arn {
        path: &'static str,
        kind: &'static str,
    },
    /// The id at `old` when the event renames it to a different id at `new`; nothing otherwise.
    RenamedFrom {
        old: &'static str,
        new: &'static str,
    },
    /// The event never names the id (`DisassociateRouteTable` has only an association id):
    /// refresh the whole table.
    Table,
}

/// Every route: the rows of [`ROUTES`], then the `CreateTags`/`DeleteTags` rows derived from
/// the catalog's tag prefixes.
pub fn routes() -> &'static [Route] {
    static ALL: LazyLock<Vec<Route>> = LazyLock::new(|| {
        let mut all = ROUTES.to_vec();
        for name in TAG_EVENTS {
            for table in TABLES.iter().copied() {
                if let Some(prefix) = table.id.and_then(|id: ResourceId| id.tag_prefix) {
                    all.push(upsert(
                        EC2,
                        name,
                        table,
                        Ids::Prefixed {
                            path: "requestParameters.resourcesSet.items[].resourceId",
                            prefix,
                        },
                    ));
                }
            }
        }
        all
    });
    &ALL
}

/// EC2's tagging events: each id in `resourcesSet` refreshes the table its prefix names.
const TAG_EVENTS: [&str; 2] = ["CreateTags", "DeleteTags"];

/// Every row for `table`, in routing order (used by `trailsync tables` and the docs).
pub fn routes_for_table(table: &Table) -> impl Iterator<Item = &'static Route> + '_ {
    routes().iter().filter(move |r| r.table == table)
}

/// Every row for one event, in table order. Looked up by event name: every record passes here,
/// most of them to find nothing.
pub fn routes_for_event<'a>(
    source: &'a str,
    name: &'a str,
) -> impl Iterator<Item = &'static Route> + 'a {
    static BY_NAME: LazyLock<HashMap<&'static str, Vec<&'static Route>>> = LazyLock::new(|| {
        let mut by_name: HashMap<&'static str, Vec<&'static Route>> = HashMap::new();
        for route in routes() {
            by_name.entry(route.name).or_default().push(route);
        }
        by_name
    });
    BY_NAME
        .get(name)
        .into_iter()
        .flatten()
        .copied()
        .filter(move |r| r.source == source)
}

/// The tables events route to, in catalog order.
pub fn routed_tables() -> impl Iterator<Item = &'static Table> {
    TABLES
        .iter()
        .copied()
        .filter(|t| routes().iter().any(|r| r.table == *t))
}

const EC2: &str = "ec2.amazonaws.com";
const IAM: &str = "iam.amazonaws.com";
const RDS: &str = "rds.amazonaws.com";
const ECS: &str = "ecs.amazonaws.com";

const INSTANCES: &Table = &ec2::INSTANCES;
const SECURITY_GROUPS: &Table = &ec2::SECURITY_GROUPS;
const SUBNETS: &Table = &ec2::SUBNETS;
const VPCS: &Table = &ec2::VPCS;
const INTERNET_GATEWAYS: &Table = &ec2::INTERNET_GATEWAYS;
const ROUTE_TABLES: &Table = &ec2::ROUTE_TABLES;
const NETWORK_INTERFACES: &Table = &ec2::NETWORK_INTERFACES;
const IMAGES: &Table = &ec2::IMAGES;
const NAT_GATEWAYS: &Table = &ec2::NAT_GATEWAYS;
const IAM_ROLES: &Table = &iam::ROLES;
const IAM_USERS: &Table = &iam::USERS;
const IAM_GROUPS: &Table = &iam::GROUPS;
const RDS_INSTANCES: &Table = &rds::INSTANCES;
const RDS_CLUSTERS: &Table = &rds::CLUSTERS;
const ECS_CLUSTERS: &Table = &ecs::CLUSTERS;

const fn upsert(
    source: &'static str,
    name: &'static str,
    table: &'static Table,
    ids: Ids,
) -> Route {
    Route {
        source,
        name,
        table,
        ids,
        action: Action::Upsert,
    }
}

const fn delete(
    source: &'static str,
    name: &'static str,
    table: &'static Table,
    ids: Ids,
) -> Route {
    Route {
        source,
        name,
        table,
        ids,
        action: Action::Delete,
    }
}

// Paths used by many rows.
const INSTANCE_SET: Ids = Ids::First(&[
    "requestParameters.instancesSet.items[].instanceId",
    "responseElements.instancesSet.items[].instanceId",
]);
const INSTANCE_ID: Ids = Ids::First(&["requestParameters.instanceId"]);
const GROUP_ID: Ids = Ids::First(&[
    "requestParameters.groupId",
    "responseElements.securityGroupRuleSet.items[].groupId",
]);
const SUBNET_ID: Ids = Ids::First(&["requestParameters.subnetId"]);
const VPC_ID: Ids = Ids::First(&["requestParameters.vpcId"]);
const IGW_ID: Ids = Ids::First(&["requestParameters.internetGatewayId"]);
const RTB_ID: Ids = Ids::First(&["requestParameters.routeTableId"]);
const ENI_ID: Ids = Ids::First(&["requestParameters.networkInterfaceId"]);
const IMAGE_ID: Ids = Ids::First(&["requestParameters.imageId"]);
const CREATED_IMAGE: Ids = Ids::First(&["responseElements.imageId"]);
const ROLE: Ids = Ids::First(&["requestParameters.roleName"]);
const USER: Ids = Ids::First(&["requestParameters.userName"]);
/// Access keys and signing certificates: without `userName` the call acts on the caller.
const USER_OR_CALLER: Ids = Ids::First(&["requestParameters.userName", "userIdentity.userName"]);
const GROUP: Ids = Ids::First(&["requestParameters.groupName"]);
const DB_INSTANCE: Ids = Ids::First(&["requestParameters.dBInstanceIdentifier"]);
const CREATED_DB_INSTANCE: Ids = Ids::First(&[
    "responseElements.dBInstanceIdentifier",
    "requestParameters.dBInstanceIdentifier",
]);
const DB_CLUSTER: Ids = Ids::First(&["requestParameters.dBClusterIdentifier"]);
const CREATED_DB_CLUSTER: Ids = Ids::First(&[
    "responseElements.dBClusterIdentifier",
    "requestParameters.dBClusterIdentifier",
]);
/// The cluster an RDS instance belongs to, if any: its membership list changes with it.
const INSTANCE_CLUSTER: Ids = Ids::Optional(&[
    "responseElements.dBClusterIdentifier",
    "requestParameters.dBClusterIdentifier",
]);
const ECS_CLUSTER: Ids = Ids::First(&[
    "requestParameters.cluster",
    "responseElements.cluster.clusterArn",
]);

/// Every event trailsync acts on, grouped by the table an event is chiefly about; rows for its
/// other tables follow its first row. A rename is a delete of the old id, then an upsert of the
/// new one.
pub static ROUTES: &[Route] = &[
    // aws_ec2_instances
    upsert(
        EC2,
        "RunInstances",
        INSTANCES,
        Ids::First(&["responseElements.instancesSet.items[].instanceId"]),
    ),
    // Instances are launched with their primary interfaces.
    upsert(
        EC2,
        "RunInstances",
        NETWORK_INTERFACES,
        Ids::Optional(&[
            "responseElements.instancesSet.items[].networkInterfaceSet.items[].networkInterfaceId",
        ]),
    ),
    upsert(EC2, "StartInstances", INSTANCES, INSTANCE_SET),
    upsert(EC2, "StopInstances", INSTANCES, INSTANCE_SET),
    upsert(EC2, "RebootInstances", INSTANCES, INSTANCE_SET),
    upsert(EC2, "MonitorInstances", INSTANCES, INSTANCE_SET),
    upsert(EC2, "UnmonitorInstances", INSTANCES, INSTANCE_SET),
    delete(EC2, "TerminateInstances", INSTANCES, INSTANCE_SET),
    upsert(EC2, "ModifyInstanceAttribute", INSTANCES, INSTANCE_ID),
    upsert(EC2, "ResetInstanceAttribute", INSTANCES, INSTANCE_ID),
    upsert(EC2, "ModifyInstancePlacement", INSTANCES, INSTANCE_ID),
    upsert(
        EC2,
        "ModifyInstanceMetadataOptions",
        INSTANCES,
        Ids::First(&[
            "requestParameters.ModifyInstanceMetadataOptionsRequest.InstanceId",
            "requestParameters.instanceId",
        ]),
    ),
    upsert(
        EC2,
        "AssociateIamInstanceProfile",
        INSTANCES,
        Ids::First(&[
            "requestParameters.AssociateIamInstanceProfileRequest.InstanceId",
            "requestParameters.instanceId",
        ]),
    ),
    upsert(
        EC2,
        "AttachVolume",
        INSTANCES,
        Ids::First(&[
            "requestParameters.instanceId",
            "responseElements.instanceId",
        ]),
    ),
    upsert(
        EC2,
        "DetachVolume",
        INSTANCES,
        Ids::First(&[
            "responseElements.instanceId",
            "requestParameters.instanceId",
        ]),
    ),
    // aws_ec2_security_groups
    upsert(
        EC2,
        "CreateSecurityGroup",
        SECURITY_GROUPS,
        Ids::First(&["responseElements.groupId"]),
    ),
    delete(
        EC2,
        "DeleteSecurityGroup",
        SECURITY_GROUPS,
        Ids::First(&["requestParameters.groupId", "responseElements.groupId"]),
    ),
    upsert(
        EC2,
        "AuthorizeSecurityGroupIngress",
        SECURITY_GROUPS,
        GROUP_ID,
    ),
    upsert(
        EC2,
        "AuthorizeSecurityGroupEgress",
        SECURITY_GROUPS,
        GROUP_ID,
    ),
    upsert(EC2, "RevokeSecurityGroupIngress", SECURITY_GROUPS, GROUP_ID),
    upsert(EC2, "RevokeSecurityGroupEgress", SECURITY_GROUPS, GROUP_ID),
    upsert(
        EC2,
        "UpdateSecurityGroupRuleDescriptionsIngress",
        SECURITY_GROUPS,
        GROUP_ID,
    ),
    upsert(
        EC2,
        "UpdateSecurityGroupRuleDescriptionsEgress",
        SECURITY_GROUPS,
        GROUP_ID,
    ),
    upsert(
        EC2,
        "ModifySecurityGroupRules",
        SECURITY_GROUPS,
        Ids::First(&["requestParameters.ModifySecurityGroupRulesRequest.GroupId"]),
    ),
    // aws_ec2_subnets
    upsert(
        EC2,
        "CreateSubnet",
        SUBNETS,
        Ids::First(&["responseElements.subnet.subnetId"]),
    ),
    upsert(
        EC2,
        "CreateDefaultSubnet",
        SUBNETS,
        Ids::First(&["responseElements.subnet.subnetId"]),
    ),
    delete(EC2, "DeleteSubnet", SUBNETS, SUBNET_ID),
    upsert(EC2, "ModifySubnetAttribute", SUBNETS, SUBNET_ID),
    upsert(
        EC2,
        "AssociateSubnetCidrBlock",
        SUBNETS,
        Ids::First(&["requestParameters.subnetId", "responseElements.subnetId"]),
    ),
    upsert(
        EC2,
        "DisassociateSubnetCidrBlock",
        SUBNETS,
        Ids::First(&["responseElements.subnetId"]),
    ),
    // aws_ec2_vpcs
    upsert(
        EC2,
        "CreateVpc",
        VPCS,
        Ids::First(&["responseElements.vpc.vpcId"]),
    ),
    upsert(
        EC2,
        "CreateDefaultVpc",
        VPCS,
        Ids::First(&["responseElements.vpc.vpcId"]),
    ),
    delete(EC2, "DeleteVpc", VPCS, VPC_ID),
    // A VPC comes and goes with its default security group and main route table, whose ids
    // the event does not give.
    upsert(EC2, "CreateVpc", SECURITY_GROUPS, Ids::Table),
    upsert(EC2, "CreateVpc", ROUTE_TABLES, Ids::Table),
    upsert(EC2, "CreateDefaultVpc", SECURITY_GROUPS, Ids::Table),
    upsert(EC2, "CreateDefaultVpc", ROUTE_TABLES, Ids::Table),
    upsert(EC2, "DeleteVpc", SECURITY_GROUPS, Ids::Table),
    upsert(EC2, "DeleteVpc", ROUTE_TABLES, Ids::Table),
    upsert(EC2, "ModifyVpcAttribute", VPCS, VPC_ID),
    upsert(
        EC2,
        "AssociateVpcCidrBlock",
        VPCS,
        Ids::First(&["requestParameters.vpcId", "responseElements.vpcId"]),
    ),
    upsert(
        EC2,
        "DisassociateVpcCidrBlock",
        VPCS,
        Ids::First(&["responseElements.vpcId"]),
    ),
    // aws_ec2_internet_gateways
    upsert(
        EC2,
        "CreateInternetGateway",
        INTERNET_GATEWAYS,
        Ids::First(&["responseElements.internetGateway.internetGatewayId"]),
    ),
    delete(EC2, "DeleteInternetGateway", INTERNET_GATEWAYS, IGW_ID),
    upsert(EC2, "AttachInternetGateway", INTERNET_GATEWAYS, IGW_ID),
    upsert(EC2, "DetachInternetGateway", INTERNET_GATEWAYS, IGW_ID),
    // aws_ec2_route_tables
    upsert(
        EC2,
        "CreateRouteTable",
        ROUTE_TABLES,
        Ids::First(&["responseElements.routeTable.routeTableId"]),
    ),
    delete(EC2, "DeleteRouteTable", ROUTE_TABLES, RTB_ID),
    upsert(EC2, "CreateRoute", ROUTE_TABLES, RTB_ID),
    upsert(EC2, "ReplaceRoute", ROUTE_TABLES, RTB_ID),
    upsert(EC2, "DeleteRoute", ROUTE_TABLES, RTB_ID),
    upsert(EC2, "AssociateRouteTable", ROUTE_TABLES, RTB_ID),
    // Only an association id (rtbassoc-) is given; the table it leaves is not named.
    upsert(EC2, "DisassociateRouteTable", ROUTE_TABLES, Ids::Table),
    upsert(
        EC2,
        "ReplaceRouteTableAssociation",
        ROUTE_TABLES,
        Ids::Table,
    ),
    upsert(EC2, "EnableVgwRoutePropagation", ROUTE_TABLES, RTB_ID),
    upsert(EC2, "DisableVgwRoutePropagation", ROUTE_TABLES, RTB_ID),
    // aws_ec2_network_interfaces
    upsert(
        EC2,
        "CreateNetworkInterface",
        NETWORK_INTERFACES,
        Ids::First(&["responseElements.networkInterface.networkInterfaceId"]),
    ),
    delete(EC2, "DeleteNetworkInterface", NETWORK_INTERFACES, ENI_ID),
    upsert(
        EC2,
        "ModifyNetworkInterfaceAttribute",
        NETWORK_INTERFACES,
        ENI_ID,
    ),
    upsert(EC2, "AttachNetworkInterface", NETWORK_INTERFACES, ENI_ID),
    upsert(EC2, "AttachNetworkInterface", INSTANCES, INSTANCE_ID),
    // Only an attachment id (eni-attach-) is given.
    upsert(
        EC2,
        "DetachNetworkInterface",
        NETWORK_INTERFACES,
        Ids::Table,
    ),
    upsert(EC2, "AssignPrivateIpAddresses", NETWORK_INTERFACES, ENI_ID),
    upsert(
        EC2,
        "UnassignPrivateIpAddresses",
        NETWORK_INTERFACES,
        ENI_ID,
    ),
    upsert(EC2, "AssignIpv6Addresses", NETWORK_INTERFACES, ENI_ID),
    upsert(EC2, "UnassignIpv6Addresses", NETWORK_INTERFACES, ENI_ID),
    // aws_ec2_images (children: launch permissions, last launched time)
    upsert(EC2, "CreateImage", IMAGES, CREATED_IMAGE),
    upsert(EC2, "RegisterImage", IMAGES, CREATED_IMAGE),
    upsert(EC2, "CopyImage", IMAGES, CREATED_IMAGE),
    delete(EC2, "DeregisterImage", IMAGES, IMAGE_ID),
    upsert(EC2, "ModifyImageAttribute", IMAGES, IMAGE_ID),
    upsert(EC2, "ResetImageAttribute", IMAGES, IMAGE_ID),
    // aws_ec2_nat_gateways (CloudTrail wraps these newer calls' parameters in *Request and
    // *Response objects).
    upsert(
        EC2,
        "CreateNatGateway",
        NAT_GATEWAYS,
        Ids::First(&[
            "responseElements.CreateNatGatewayResponse.natGateway.natGatewayId",
            "responseElements.natGateway.natGatewayId",
        ]),
    ),
    delete(
        EC2,
        "DeleteNatGateway",
        NAT_GATEWAYS,
        Ids::First(&[
            "requestParameters.DeleteNatGatewayRequest.NatGatewayId",
            "responseElements.DeleteNatGatewayResponse.natGatewayId",
            "requestParameters.natGatewayId",
        ]),
    ),
    // aws_iam_roles (children: policies, attached policies, last accessed details)
    upsert(
        IAM,
        "CreateRole",
        IAM_ROLES,
        Ids::First(&[
            "responseElements.role.roleName",
            "requestParameters.roleName",
        ]),
    ),
    upsert(
        IAM,
        "CreateServiceLinkedRole",
        IAM_ROLES,
        Ids::First(&["responseElements.role.roleName"]),
    ),
    delete(IAM, "DeleteRole", IAM_ROLES, ROLE),
    delete(IAM, "DeleteServiceLinkedRole", IAM_ROLES, ROLE),
    upsert(IAM, "UpdateRole", IAM_ROLES, ROLE),
    upsert(IAM, "UpdateRoleDescription", IAM_ROLES, ROLE),
    upsert(IAM, "UpdateAssumeRolePolicy", IAM_ROLES, ROLE),
    upsert(IAM, "TagRole", IAM_ROLES, ROLE),
    upsert(IAM, "UntagRole", IAM_ROLES, ROLE),
    upsert(IAM, "PutRolePermissionsBoundary", IAM_ROLES, ROLE),
    upsert(IAM, "DeleteRolePermissionsBoundary", IAM_ROLES, ROLE),
    upsert(IAM, "PutRolePolicy", IAM_ROLES, ROLE),
    upsert(IAM, "DeleteRolePolicy", IAM_ROLES, ROLE),
    upsert(IAM, "AttachRolePolicy", IAM_ROLES, ROLE),
    upsert(IAM, "DetachRolePolicy", IAM_ROLES, ROLE),
    // aws_iam_users (children: access keys, groups, policies, attached policies, last accessed
    // details, signing certificates, SSH public keys)
    upsert(
        IAM,
        "CreateUser",
        IAM_USERS,
        Ids::First(&[
            "responseElements.user.userName",
            "requestParameters.userName",
        ]),
    ),
    delete(IAM, "DeleteUser", IAM_USERS, USER),
    delete(
        IAM,
        "UpdateUser",
        IAM_USERS,
        Ids::RenamedFrom {
            old: "requestParameters.userName",
            new: "requestParameters.newUserName",
        },
    ),
    upsert(
        IAM,
        "UpdateUser",
        IAM_USERS,
        Ids::First(&[
            "requestParameters.newUserName",
            "requestParameters.userName",
        ]),
    ),
    upsert(IAM, "TagUser", IAM_USERS, USER),
    upsert(IAM, "UntagUser", IAM_USERS, USER),
    upsert(IAM, "PutUserPermissionsBoundary", IAM_USERS, USER),
    upsert(IAM, "DeleteUserPermissionsBoundary", IAM_USERS, USER),
    upsert(IAM, "PutUserPolicy", IAM_USERS, USER),
    upsert(IAM, "DeleteUserPolicy", IAM_USERS, USER),
    upsert(IAM, "AttachUserPolicy", IAM_USERS, USER),
    upsert(IAM, "DetachUserPolicy", IAM_USERS, USER),
    upsert(
        IAM,
        "CreateAccessKey",
        IAM_USERS,
        Ids::First(&[
            "responseElements.accessKey.userName",
            "requestParameters.userName",
            "userIdentity.userName",
        ]),
    ),
    upsert(IAM, "UpdateAccessKey", IAM_USERS, USER_OR_CALLER),
    upsert(IAM, "DeleteAccessKey", IAM_USERS, USER_OR_CALLER),
    // Membership is a child of the user; the group is refreshed too.
    upsert(IAM, "AddUserToGroup", IAM_USERS, USER),
    upsert(IAM, "AddUserToGroup", IAM_GROUPS, GROUP),
    upsert(IAM, "RemoveUserFromGroup", IAM_USERS, USER),
    upsert(IAM, "RemoveUserFromGroup", IAM_GROUPS, GROUP),
    upsert(
        IAM,
        "UploadSigningCertificate",
        IAM_USERS,
        Ids::First(&[
            "responseElements.certificate.userName",
            "requestParameters.userName",
            "userIdentity.userName",
        ]),
    ),
    upsert(IAM, "UpdateSigningCertificate", IAM_USERS, USER_OR_CALLER),
    upsert(IAM, "DeleteSigningCertificate", IAM_USERS, USER_OR_CALLER),
    upsert(IAM, "UploadSSHPublicKey", IAM_USERS, USER),
    upsert(IAM, "UpdateSSHPublicKey", IAM_USERS, USER),
    upsert(IAM, "DeleteSSHPublicKey", IAM_USERS, USER),
    // aws_iam_groups (children: policies, attached policies, last accessed details)
    upsert(
        IAM,
        "CreateGroup",
        IAM_GROUPS,
        Ids::First(&[
            "responseElements.group.groupName",
            "requestParameters.groupName",
        ]),
    ),
    delete(IAM, "DeleteGroup", IAM_GROUPS, GROUP),
    delete(
        IAM,
        "UpdateGroup",
        IAM_GROUPS,
        Ids::RenamedFrom {
            old: "requestParameters.groupName",
            new: "requestParameters.newGroupName",
        },
    ),
    upsert(
        IAM,
        "UpdateGroup",
        IAM_GROUPS,
        Ids::First(&[
            "requestParameters.newGroupName",
            "requestParameters.groupName",
        ]),
    ),
    upsert(IAM, "PutGroupPolicy", IAM_GROUPS, GROUP),
    upsert(IAM, "DeleteGroupPolicy", IAM_GROUPS, GROUP),
    upsert(IAM, "AttachGroupPolicy", IAM_GROUPS, GROUP),
    upsert(IAM, "DetachGroupPolicy", IAM_GROUPS, GROUP),
    // aws_rds_instances
    upsert(RDS, "CreateDBInstance", RDS_INSTANCES, CREATED_DB_INSTANCE),
    // A cluster's member list changes with its instances.
    upsert(RDS, "CreateDBInstance", RDS_CLUSTERS, INSTANCE_CLUSTER),
    upsert(
        RDS,
        "CreateDBInstanceReadReplica",
        RDS_INSTANCES,
        CREATED_DB_INSTANCE,
    ),
    upsert(
        RDS,
        "RestoreDBInstanceFromDBSnapshot",
        RDS_INSTANCES,
        CREATED_DB_INSTANCE,
    ),
    upsert(
        RDS,
        "RestoreDBInstanceFromS3",
        RDS_INSTANCES,
        CREATED_DB_INSTANCE,
    ),
    upsert(
        RDS,
        "RestoreDBInstanceToPointInTime",
        RDS_INSTANCES,
        Ids::First(&[
            "responseElements.dBInstanceIdentifier",
            "requestParameters.targetDBInstanceIdentifier",
        ]),
    ),
    delete(
        RDS,
        "DeleteDBInstance",
        RDS_INSTANCES,
        Ids::First(&[
            "requestParameters.dBInstanceIdentifier",
            "responseElements.dBInstanceIdentifier",
        ]),
    ),
    upsert(RDS, "DeleteDBInstance", RDS_CLUSTERS, INSTANCE_CLUSTER),
    delete(
        RDS,
        "ModifyDBInstance",
        RDS_INSTANCES,
        Ids::RenamedFrom {
            old: "requestParameters.dBInstanceIdentifier",
            new: "requestParameters.newDBInstanceIdentifier",
        },
    ),
    upsert(
        RDS,
        "ModifyDBInstance",
        RDS_INSTANCES,
        Ids::First(&[
            "requestParameters.newDBInstanceIdentifier",
            "requestParameters.dBInstanceIdentifier",
        ]),
    ),
    upsert(RDS, "RebootDBInstance", RDS_INSTANCES, DB_INSTANCE),
    upsert(RDS, "StartDBInstance", RDS_INSTANCES, DB_INSTANCE),
    upsert(RDS, "StopDBInstance", RDS_INSTANCES, DB_INSTANCE),
    upsert(RDS, "PromoteReadReplica", RDS_INSTANCES, DB_INSTANCE),
    upsert(RDS, "AddRoleToDBInstance", RDS_INSTANCES, DB_INSTANCE),
    upsert(RDS, "RemoveRoleFromDBInstance", RDS_INSTANCES, DB_INSTANCE),
    upsert(
        RDS,
        "AddTagsToResource",
        RDS_INSTANCES,
        Ids::Arn {
            path: "requestParameters.resourceName",
            kind: "db",
        },
    ),
    upsert(
        RDS,
        "RemoveTagsFromResource",
        RDS_INSTANCES,
        Ids::Arn {
            path: "requestParameters.resourceName",
            kind: "db",
        },
    ),
    // aws_rds_clusters (child: backtracks)
    upsert(RDS, "CreateDBCluster", RDS_CLUSTERS, CREATED_DB_CLUSTER),
    upsert(
        RDS,
        "RestoreDBClusterFromSnapshot",
        RDS_CLUSTERS,
        CREATED_DB_CLUSTER,
    ),
    upsert(
        RDS,
        "RestoreDBClusterToPointInTime",
        RDS_CLUSTERS,
        CREATED_DB_CLUSTER,
    ),
    upsert(
        RDS,
        "RestoreDBClusterFromS3",
        RDS_CLUSTERS,
        CREATED_DB_CLUSTER,
    ),
    delete(
        RDS,
        "DeleteDBCluster",
        RDS_CLUSTERS,
        Ids::First(&[
            "requestParameters.dBClusterIdentifier",
            "responseElements.dBClusterIdentifier",
        ]),
    ),
    delete(
        RDS,
        "ModifyDBCluster",
        RDS_CLUSTERS,
        Ids::RenamedFrom {
            old: "requestParameters.dBClusterIdentifier",
            new: "requestParameters.newDBClusterIdentifier",
        },
    ),
    upsert(
        RDS,
        "ModifyDBCluster",
        RDS_CLUSTERS,
        Ids::First(&[
            "requestParameters.newDBClusterIdentifier",
            "requestParameters.dBClusterIdentifier",
        ]),
    ),
    upsert(RDS, "StartDBCluster", RDS_CLUSTERS, DB_CLUSTER),
    upsert(RDS, "StopDBCluster", RDS_CLUSTERS, DB_CLUSTER),
    upsert(RDS, "RebootDBCluster", RDS_CLUSTERS, DB_CLUSTER),
    upsert(RDS, "FailoverDBCluster", RDS_CLUSTERS, DB_CLUSTER),
    upsert(RDS, "PromoteReadReplicaDBCluster", RDS_CLUSTERS, DB_CLUSTER),
    upsert(RDS, "BacktrackDBCluster", RDS_CLUSTERS, DB_CLUSTER),
    upsert(RDS, "AddRoleToDBCluster", RDS_CLUSTERS, DB_CLUSTER),
    upsert(RDS, "RemoveRoleFromDBCluster", RDS_CLUSTERS, DB_CLUSTER),
    upsert(
        RDS,
        "AddTagsToResource",
        RDS_CLUSTERS,
        Ids::Arn {
            path: "requestParameters.resourceName",
            kind: "cluster",
        },
    ),
    upsert(
        RDS,
        "RemoveTagsFromResource",
        RDS_CLUSTERS,
        Ids::Arn {
            path: "requestParameters.resourceName",
            kind: "cluster",
        },
    ),
    // aws_ecs_clusters (child: tasks)
    upsert(
        ECS,
        "CreateCluster",
        ECS_CLUSTERS,
        Ids::First(&[
            "responseElements.cluster.clusterArn",
            "requestParameters.clusterName",
        ]),
    ),
    delete(ECS, "DeleteCluster", ECS_CLUSTERS, ECS_CLUSTER),
    upsert(ECS, "UpdateCluster", ECS_CLUSTERS, ECS_CLUSTER),
    upsert(ECS, "UpdateClusterSettings", ECS_CLUSTERS, ECS_CLUSTER),
    upsert(
        ECS,
        "PutClusterCapacityProviders",
        ECS_CLUSTERS,
        ECS_CLUSTER,
    ),
    // Tasks are the cluster's child table: a task change refreshes its cluster.
    upsert(
        ECS,
        "RunTask",
        ECS_CLUSTERS,
        Ids::First(&[
            "responseElements.tasks[].clusterArn",
            "requestParameters.cluster",
        ]),
    ),
    upsert(
        ECS,
        "StartTask",
        ECS_CLUSTERS,
        Ids::First(&[
            "responseElements.tasks[].clusterArn",
            "requestParameters.cluster",
        ]),
    ),
    upsert(
        ECS,
        "StopTask",
        ECS_CLUSTERS,
        Ids::First(&[
            "responseElements.task.clusterArn",
            "requestParameters.cluster",
        ]),
    ),
    upsert(
        ECS,
        "TagResource",
        ECS_CLUSTERS,
        Ids::Arn {
            path: "requestParameters.resourceArn",
            kind: "cluster",
        },
    ),
    upsert(
        ECS,
        "UntagResource",
        ECS_CLUSTERS,
        Ids::Arn {
            path: "requestParameters.resourceArn",
            kind: "cluster",
        },
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A path as [`Ids`] documents it: non-empty segments, `[]` only as a suffix, rooted at a
    /// field CloudTrail records have.
    fn assert_well_formed(path: &str) {
        const ROOTS: &[&str] = &["requestParameters", "responseElements", "userIdentity"];
        let mut segments = path.split('.');
        let root = segments.next().unwrap_or_default();
        assert!(ROOTS.contains(&root), "{path}: unknown root {root}");
        for segment in path.split('.') {
            let name = segment.strip_suffix("[]").unwrap_or(segment);
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{path}: bad segment {segment:?}"
            );
        }
    }

    fn paths(ids: &Ids) -> Vec<&'static str> {
        match *ids {
            Ids::First(paths) | Ids::Optional(paths) => paths.to_vec(),
            Ids::Prefixed { path, .. } | Ids::Arn { path, .. } => vec![path],
            Ids::RenamedFrom { old, new } => vec![old, new],
            Ids::Table => Vec::new(),
        }
    }

    #[test]
    fn every_path_is_well_formed() {
        for route in routes() {
            for path in paths(&route.ids) {
                assert_well_formed(path);
            }
        }
    }

    #[test]
    fn routes_name_top_level_tables_with_ids_of_their_own_service() {
        for route in routes() {
            let table = route.table;
            assert!(table.is_top_level(), "{} is a child table", table.name);
            assert!(table.id.is_some(), "{} has no resource id", table.name);
            assert_eq!(
                route.source,
                table.service.event_source(),
                "{} {} routes to {}",
                route.source,
                route.name,
                table.name
            );
        }
        for table in routed_tables() {
            assert!(routes_for_table(table).next().is_some());
        }
    }

    #[test]
    fn every_top_level_table_is_refreshed_by_some_event() {
        for t in TABLES.iter().filter(|t| t.is_top_level()) {
            assert!(
                routes_for_table(t).next().is_some(),
                "{} has no event refreshing it: it would only change at reconciliation",
                t.name
            );
        }
    }

    #[test]
    fn tag_events_reach_every_table_with_a_tag_prefix() {
        for table in TABLES
            .iter()
            .filter(|t| t.id.and_then(|id| id.tag_prefix).is_some())
        {
            for name in TAG_EVENTS {
                assert!(
                    routes_for_event(EC2, name).any(|r| r.table == *table),
                    "{name} does not reach {}",
                    table.name
                );
            }
        }
    }

    #[test]
    fn no_row_is_repeated() {
        let all = routes();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                let same =
                    (a.source, a.name, a.table, a.action) == (b.source, b.name, b.table, b.action);
                assert!(!same, "{} {} {} twice", a.source, a.name, a.table.name);
            }
        }
    }

    #[test]
    fn the_seed_table_is_covered() {
        // CloudQuery's event-based sync list, which trailsync must keep supporting.
        const SEED: &[(&str, &str, &Table)] = &[
            (EC2, "AssociateRouteTable", ROUTE_TABLES),
            (EC2, "AttachInternetGateway", INTERNET_GATEWAYS),
            (EC2, "AuthorizeSecurityGroupEgress", SECURITY_GROUPS),
            (EC2, "AuthorizeSecurityGroupIngress", SECURITY_GROUPS),
            (EC2, "CreateImage", IMAGES),
            (EC2, "CreateInternetGateway", INTERNET_GATEWAYS),
            (EC2, "CreateNetworkInterface", NETWORK_INTERFACES),
            (EC2, "CreateSecurityGroup", SECURITY_GROUPS),
            (EC2, "CreateSubnet", SUBNETS),
            (EC2, "CreateTags", INSTANCES),
            (EC2, "CreateVpc", VPCS),
            (EC2, "DeleteTags", INSTANCES),
            (EC2, "DetachInternetGateway", INTERNET_GATEWAYS),
            (EC2, "ModifySubnetAttribute", SUBNETS),
            (EC2, "RevokeSecurityGroupEgress", SECURITY_GROUPS),
            (EC2, "RevokeSecurityGroupIngress", SECURITY_GROUPS),
            (EC2, "RunInstances", INSTANCES),
            (IAM, "CreateGroup", IAM_GROUPS),
            (IAM, "DeleteGroup", IAM_GROUPS),
            (IAM, "UpdateGroup", IAM_GROUPS),
            (IAM, "CreateRole", IAM_ROLES),
            (IAM, "DeleteRole", IAM_ROLES),
            (IAM, "TagRole", IAM_ROLES),
            (IAM, "UntagRole", IAM_ROLES),
            (IAM, "UpdateRole", IAM_ROLES),
            (IAM, "UpdateRoleDescription", IAM_ROLES),
            (IAM, "CreateUser", IAM_USERS),
            (IAM, "DeleteUser", IAM_USERS),
            (IAM, "TagUser", IAM_USERS),
            (IAM, "UntagUser", IAM_USERS),
            (IAM, "UpdateUser", IAM_USERS),
            (RDS, "CreateDBCluster", RDS_CLUSTERS),
            (RDS, "CreateDBInstance", RDS_INSTANCES),
            (RDS, "ModifyDBCluster", RDS_CLUSTERS),
            (RDS, "ModifyDBInstance", RDS_INSTANCES),
        ];
        // The lifecycle events SPEC section 5 adds.
        const SPEC: &[(&str, &str, &Table)] = &[
            (EC2, "TerminateInstances", INSTANCES),
            (EC2, "StopInstances", INSTANCES),
            (EC2, "StartInstances", INSTANCES),
            (EC2, "ModifyInstanceAttribute", INSTANCES),
            (EC2, "DeleteSecurityGroup", SECURITY_GROUPS),
            (EC2, "DeleteVpc", VPCS),
            (EC2, "DeleteSubnet", SUBNETS),
            (EC2, "DeleteInternetGateway", INTERNET_GATEWAYS),
            (EC2, "CreateRouteTable", ROUTE_TABLES),
            (EC2, "CreateRoute", ROUTE_TABLES),
            (EC2, "ReplaceRoute", ROUTE_TABLES),
            (EC2, "DeleteRoute", ROUTE_TABLES),
            (EC2, "DisassociateRouteTable", ROUTE_TABLES),
            (EC2, "DeleteRouteTable", ROUTE_TABLES),
            (EC2, "DeregisterImage", IMAGES),
            (EC2, "DeleteNetworkInterface", NETWORK_INTERFACES),
            (EC2, "ModifyImageAttribute", IMAGES),
            (EC2, "CreateTags", SECURITY_GROUPS),
            (EC2, "CreateTags", SUBNETS),
            (EC2, "CreateTags", VPCS),
            (EC2, "CreateTags", INTERNET_GATEWAYS),
            (EC2, "CreateTags", ROUTE_TABLES),
            (EC2, "CreateTags", IMAGES),
            (EC2, "CreateTags", NETWORK_INTERFACES),
            (RDS, "DeleteDBInstance", RDS_INSTANCES),
            (RDS, "DeleteDBCluster", RDS_CLUSTERS),
            (IAM, "PutRolePolicy", IAM_ROLES),
            (IAM, "DeleteRolePolicy", IAM_ROLES),
            (IAM, "AttachRolePolicy", IAM_ROLES),
            (IAM, "DetachRolePolicy", IAM_ROLES),
            (IAM, "PutUserPolicy", IAM_USERS),
            (IAM, "DeleteUserPolicy", IAM_USERS),
            (IAM, "AttachUserPolicy", IAM_USERS),
            (IAM, "DetachUserPolicy", IAM_USERS),
            (IAM, "CreateAccessKey", IAM_USERS),
            (IAM, "UpdateAccessKey", IAM_USERS),
            (IAM, "DeleteAccessKey", IAM_USERS),
            (IAM, "AddUserToGroup", IAM_USERS),
            (IAM, "AddUserToGroup", IAM_GROUPS),
            (IAM, "RemoveUserFromGroup", IAM_USERS),
            (IAM, "RemoveUserFromGroup", IAM_GROUPS),
            (IAM, "UploadSSHPublicKey", IAM_USERS),
            (IAM, "DeleteSSHPublicKey", IAM_USERS),
            (IAM, "UploadSigningCertificate", IAM_USERS),
            (IAM, "DeleteSigningCertificate", IAM_USERS),
            (IAM, "PutGroupPolicy", IAM_GROUPS),
            (IAM, "DeleteGroupPolicy", IAM_GROUPS),
            (IAM, "AttachGroupPolicy", IAM_GROUPS),
            (IAM, "DetachGroupPolicy", IAM_GROUPS),
            (ECS, "RunTask", ECS_CLUSTERS),
            (ECS, "StopTask", ECS_CLUSTERS),
            (ECS, "CreateCluster", ECS_CLUSTERS),
            (ECS, "DeleteCluster", ECS_CLUSTERS),
        ];
        for (source, name, table) in SEED.iter().chain(SPEC) {
            assert!(
                routes_for_event(source, name).any(|r| r.table == *table),
                "{source} {name} does not route to {}",
                table.name
            );
        }
    }

    #[test]
    fn deletes_are_deletes() {
        for route in routes() {
            let delete = route.name.starts_with("Delete")
                || route.name.starts_with("Deregister")
                || route.name == "TerminateInstances";
            let child = route.name.ends_with("Policy")
                || route.name.ends_with("Tags")
                || route.name.ends_with("Route")
                || route.name.ends_with("Key")
                || route.name.ends_with("Certificate")
                || route.name.ends_with("Boundary")
                || route.name == "DeleteVpc" && route.table != VPCS
                || route.name == "DeleteDBInstance" && route.table == RDS_CLUSTERS;
            if delete && !child {
                assert_eq!(
                    route.action,
                    Action::Delete,
                    "{} {}",
                    route.name,
                    route.table.name
                );
            }
        }
    }
}
