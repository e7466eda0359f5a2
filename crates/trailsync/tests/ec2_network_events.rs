//! End to end, against moto and the real destinations, for the EC2 tables beyond instances: a full
//! sync of security groups, subnets, VPCs and images (with launch permissions), then
//! CloudTrail-shaped events through CloudWatch Logs -> Kinesis: a new ingress rule, tags on a VPC
//! and a subnet, a changed launch permission, and deletions (a security group; an image with its
//! child rows) found by the re-fetch coming back empty.

#[macro_use]
mod common;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange, LaunchPermission, LaunchPermissionModifications};
use common::{Store, StreamingSource, Trailsync};
use serde_json::{Value as Json, json};
use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";
/// Accounts the images are shared with.
const FRIEND: &str = "111122223333";
const OTHER_FRIEND: &str = "444455556666";

mod follows_ec2_network_changes {
    in_both_destinations!(super::follow_network_changes);
}

async fn follow_network_changes(store: &Store) {
    let moto = Moto::start().await.expect("moto starts");
    let aws = moto.sdk_config(REGION);
    let client = Client::new(&aws);
    let vpc = create_vpc(&client).await;
    let subnet = create_subnet(&client, &vpc).await;
    let kept = create_group(&client, &vpc, "kept").await;
    let doomed = create_group(&client, &vpc, "doomed").await;
    client
        .authorize_security_group_ingress()
        .group_id(&kept)
        .ip_permissions(tcp(22, "203.0.113.0/24"))
        .send()
        .await
        .expect("authorize 22");
    let instance = ec2::run_instances(&client, 1, &[])
        .await
        .expect("launch")
        .remove(0);
    let shared = create_image(&client, &instance, "shared").await;
    let retired = create_image(&client, &instance, "retired").await;
    for image in [&shared, &retired] {
        share_image(&client, image, &[FRIEND], &[]).await;
    }
    let groups_in_aws = client
        .describe_security_groups()
        .send()
        .await
        .expect("describe groups")
        .security_groups()
        .len();
    let subnets_in_aws = client
        .describe_subnets()
        .send()
        .await
        .expect("describe subnets")
        .subnets()
        .len();
    let vpcs_in_aws = client
        .describe_vpcs()
        .send()
        .await
        .expect("describe vpcs")
        .vpcs()
        .len();
    let pipe = CloudTrailPipe::create(&aws, "cloudtrail", 1)
        .await
        .expect("pipe");

    // moto does not implement DescribeImageAttribute lastLaunchedTime, so that child is skipped.
    let config = StreamingSource {
        name: "aws-network",
        tables: &[
            "aws_ec2_security_groups",
            "aws_ec2_subnets",
            "aws_ec2_vpcs",
            "aws_ec2_images",
        ],
        skip_tables: &["aws_ec2_image_last_launched_times"],
        region: REGION,
        endpoint: &moto.endpoint(),
        stream_arn: pipe.stream_arn(),
        stream_options: &[],
    }
    .config(&[("inventory", store)]);
    let mut trailsync = Trailsync::sync(&config);

    // Full sync: a row per resource AWS reports, images with their launch permissions.
    trailsync
        .eventually("full sync writes every table", || async {
            let ready = count(store, "aws_ec2_security_groups").await == groups_in_aws
                && count(store, "aws_ec2_subnets").await == subnets_in_aws
                && count(store, "aws_ec2_vpcs").await == vpcs_in_aws
                && count(store, "aws_ec2_images").await == 2
                && count(store, "aws_ec2_image_launch_permissions").await == 2;
            ready.then_some(())
        })
        .await;
    let group = group_row(store, &kept).await.expect("kept group row");
    assert_eq!(
        group.arn,
        format!("arn:aws:ec2:{REGION}:{DEFAULT_ACCOUNT}:security-group/{kept}")
    );
    assert_eq!(ports(&group.ip_permissions), [22]);
    let subnet_row = store.texts(
        &format!(
            "SELECT request_account_id, request_region, arn, vpc_id FROM aws_ec2_subnets WHERE subnet_id = '{subnet}'"
        ),
    )
    .await;
    assert_eq!(
        subnet_row,
        [[
            Some(DEFAULT_ACCOUNT.to_string()),
            Some(REGION.to_string()),
            Some(format!(
                "arn:aws:ec2:{REGION}:{DEFAULT_ACCOUNT}:subnet/{subnet}"
            )),
            Some(vpc.clone()),
        ]]
    );
    let retired_id = image_cq_id(store, &retired)
        .await
        .expect("retired image row");
    assert_eq!(permissions(store, &retired_id).await, [FRIEND]);
    assert_eq!(
        count(store, "aws_ec2_image_last_launched_times").await,
        0,
        "a skipped table is never written"
    );

    // Changes in AWS, each announced by its CloudTrail event.
    client
        .authorize_security_group_ingress()
        .group_id(&kept)
        .ip_permissions(tcp(443, "0.0.0.0/0"))
        .send()
        .await
        .expect("authorize 443");
    ec2::create_tags(&client, &[&vpc, &subnet], &[("stage", "prod")])
        .await
        .expect("tag");
    client
        .delete_security_group()
        .group_id(&doomed)
        .send()
        .await
        .expect("delete group");
    share_image(&client, &shared, &[OTHER_FRIEND], &[FRIEND]).await;
    client
        .deregister_image()
        .image_id(&retired)
        .send()
        .await
        .expect("deregister");
    pipe.send(&[
        authorize_ingress_event(&kept, 443, "0.0.0.0/0"),
        cloudtrail::create_tags(
            DEFAULT_ACCOUNT,
            REGION,
            &[&vpc, &subnet],
            &[("stage", "prod")],
        ),
        ec2_event(
            "DeleteSecurityGroup",
            json!({ "groupId": doomed }),
            json!({ "requestId": "5f3c6f3e-8f0d-4c55-9d1b-2a1d6c3b7e01", "_return": true }),
        ),
        ec2_event(
            "ModifyImageAttribute",
            json!({
                "imageId": shared,
                "attributeType": "launchPermission",
                "launchPermission": {
                    "add": { "items": [{ "userId": OTHER_FRIEND }] },
                    "remove": { "items": [{ "userId": FRIEND }] },
                },
            }),
            json!({ "requestId": "0d9b7f7a-3c1e-4a8e-b2a4-7f1f0c9e6d02", "_return": true }),
        ),
        ec2_event(
            "DeregisterImage",
            json!({ "imageId": retired }),
            json!({ "requestId": "7c2e9a51-6b4d-4f3a-8e1c-9d0b5a4f3e03", "_return": true }),
        ),
    ])
    .await
    .expect("events delivered");

    let shared_id = image_cq_id(store, &shared).await.expect("shared image row");
    trailsync
        .eventually("events change the inventory", || async {
            let group = group_row(store, &kept).await?;
            let ready = ports(&group.ip_permissions) == [22, 443]
                && tags(store, "aws_ec2_vpcs", "vpc_id", &vpc).await["stage"] == "prod"
                && tags(store, "aws_ec2_subnets", "subnet_id", &subnet).await["stage"] == "prod"
                && group_row(store, &doomed).await.is_none()
                && permissions(store, &shared_id).await == [OTHER_FRIEND]
                && image_cq_id(store, &retired).await.is_none();
            ready.then_some(())
        })
        .await;
    assert_eq!(
        count(store, "aws_ec2_security_groups").await,
        groups_in_aws - 1
    );
    assert!(
        permissions(store, &retired_id).await.is_empty(),
        "the deregistered image's launch permissions went with it"
    );
    assert_eq!(
        tags(store, "aws_ec2_vpcs", "vpc_id", &vpc).await,
        json!({"stage": "prod"})
    );

    let status = trailsync.terminate().await;
    assert!(
        status.success(),
        "trailsync exits 0 on SIGTERM: {status}\n{}",
        trailsync.log()
    );
}

/// An EC2 management event by the default account in [`REGION`].
fn ec2_event(name: &str, request: Json, response: Json) -> Json {
    cloudtrail::event(
        cloudtrail::EC2,
        name,
        DEFAULT_ACCOUNT,
        REGION,
        request,
        response,
    )
}

/// `AuthorizeSecurityGroupIngress` as CloudTrail logs it (see the shared fixture of that name).
fn authorize_ingress_event(group: &str, port: i32, cidr: &str) -> Json {
    ec2_event(
        "AuthorizeSecurityGroupIngress",
        json!({
            "groupId": group,
            "ipPermissions": { "items": [{
                "ipProtocol": "tcp",
                "fromPort": port,
                "toPort": port,
                "groups": {},
                "ipRanges": { "items": [{ "cidrIp": cidr }] },
                "ipv6Ranges": {},
                "prefixListIds": {},
            }] },
        }),
        json!({
            "requestId": "3b1f2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c04",
            "_return": true,
            "securityGroupRuleSet": { "items": [{
                "groupId": group,
                "groupOwnerId": DEFAULT_ACCOUNT,
                "isEgress": false,
                "ipProtocol": "tcp",
                "fromPort": port,
                "toPort": port,
                "cidrIpv4": cidr,
                "securityGroupRuleId": "sgr-0a1b2c3d4e5f60718",
            }] },
        }),
    )
}

async fn create_vpc(client: &Client) -> String {
    client
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .expect("create vpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id")
}

async fn create_subnet(client: &Client, vpc: &str) -> String {
    client
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block("10.1.1.0/24")
        .send()
        .await
        .expect("create subnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("subnet id")
}

async fn create_group(client: &Client, vpc: &str, name: &str) -> String {
    client
        .create_security_group()
        .group_name(name)
        .description(name)
        .vpc_id(vpc)
        .send()
        .await
        .expect("create group")
        .group_id
        .expect("group id")
}

async fn create_image(client: &Client, instance: &str, name: &str) -> String {
    client
        .create_image()
        .instance_id(instance)
        .name(name)
        .send()
        .await
        .expect("create image")
        .image_id
        .expect("image id")
}

async fn share_image(client: &Client, image: &str, add: &[&str], remove: &[&str]) {
    let grant = |user: &&str| LaunchPermission::builder().user_id(*user).build();
    client
        .modify_image_attribute()
        .image_id(image)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .set_add(Some(add.iter().map(grant).collect()))
                .set_remove(Some(remove.iter().map(grant).collect()))
                .build(),
        )
        .send()
        .await
        .expect("modify launch permission");
}

fn tcp(port: i32, cidr: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

async fn count(store: &Store, table: &str) -> usize {
    store
        .texts(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
        .await
        .first()
        .and_then(|row| row[0].as_deref())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

struct GroupRow {
    arn: String,
    ip_permissions: Json,
}

async fn group_row(store: &Store, group_id: &str) -> Option<GroupRow> {
    let rows = store.texts(
        &format!(
            "SELECT arn, CAST(ip_permissions AS TEXT) FROM aws_ec2_security_groups WHERE group_id = '{group_id}'"
        ),
    )
    .await;
    let row = rows.into_iter().next()?;
    Some(GroupRow {
        arn: row[0].clone().unwrap_or_default(),
        ip_permissions: parse(row[1].as_deref()),
    })
}

async fn tags(store: &Store, table: &str, id_column: &str, id: &str) -> Json {
    let rows = store
        .texts(&format!(
            "SELECT CAST(tags AS TEXT) FROM {table} WHERE {id_column} = '{id}'"
        ))
        .await;
    rows.first()
        .map_or(Json::Null, |row| parse(row[0].as_deref()))
}

async fn image_cq_id(store: &Store, image_id: &str) -> Option<String> {
    store
        .texts(&format!(
            "SELECT CAST(_cq_id AS TEXT) FROM aws_ec2_images WHERE image_id = '{image_id}'"
        ))
        .await
        .into_iter()
        .next()
        .and_then(|row| row[0].clone())
}

/// The user ids of the launch permission rows under an image's `_cq_id`.
async fn permissions(store: &Store, image_cq_id: &str) -> Vec<String> {
    store.texts(
        &format!(
            "SELECT user_id FROM aws_ec2_image_launch_permissions WHERE CAST(_cq_parent_id AS TEXT) = '{image_cq_id}' ORDER BY user_id"
        ),
    )
    .await
    .into_iter()
    .filter_map(|row| row[0].clone())
    .collect()
}

fn parse(text: Option<&str>) -> Json {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Json::Null)
}

/// The `FromPort`s of a security group's ingress rules, sorted.
fn ports(rules: &Json) -> Vec<i64> {
    let mut ports: Vec<i64> = rules
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| r["FromPort"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    ports.sort_unstable();
    ports
}
