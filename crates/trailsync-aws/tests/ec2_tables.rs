//! The EC2 readers other than instances against moto: every table listed (row count equal to what
//! the Describe* call reports, key columns as CloudQuery writes them), image children, fetch by id
//! after changes made in moto, unknown ids absent, id batches chunked, and two regions apart.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange, LaunchPermission, LaunchPermissionModifications};
use serde_json::{Value as Json, json};
use trailsync_aws::{Account, Accounts, AwsInventory};
use trailsync_catalog::tables::ec2 as tables;
use trailsync_catalog::{Resource, Table, Value};
use trailsync_core::{Inventory, Location};
use trailsync_testkit::{DEFAULT_ACCOUNT, Moto, ec2};

const HOME: &str = "us-east-1";
const AWAY: &str = "eu-west-1";
/// Accounts the image is shared with.
const FRIEND: &str = "111122223333";
const OTHER_FRIEND: &str = "444455556666";

/// What the test made in the home region.
struct Seeded {
    vpc: String,
    subnet: String,
    group: String,
    gateway: String,
    route_table: String,
    interface: String,
    image: String,
    nat_gateway: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_tables_list_fetch_and_follow_changes() {
    let moto = Moto::start().await.expect("moto starts");
    let home = Client::new(&moto.sdk_config(HOME));
    let away = Client::new(&moto.sdk_config(AWAY));
    let seeded = seed(&home).await;
    let away_vpc = create_vpc(&away, "10.9.0.0/16").await;
    ec2::create_tags(&away, &[&away_vpc], &[("side", "away")])
        .await
        .expect("tag away vpc");

    let inventory = AwsInventory::new(Accounts::new(vec![Account {
        id: DEFAULT_ACCOUNT.to_string(),
        alias: "moto".to_string(),
        config: moto.sdk_config(HOME),
        regions: vec![HOME.to_string(), AWAY.to_string()],
    }]));
    let here = Location::new(DEFAULT_ACCOUNT, HOME);
    let there = Location::new(DEFAULT_ACCOUNT, AWAY);
    let arn = |kind: &str, id: &str| format!("arn:aws:ec2:{HOME}:{DEFAULT_ACCOUNT}:{kind}/{id}");

    // Security groups: the seeded one with its rule, next to moto's defaults.
    let groups = list(&inventory, &here, &tables::SECURITY_GROUPS).await;
    let reported = home
        .describe_security_groups()
        .send()
        .await
        .expect("describe groups")
        .security_groups()
        .len();
    assert_eq!(groups.len(), reported, "a row per security group");
    let group = find(&groups, "group_id", &seeded.group);
    assert_location(group, HOME);
    assert_eq!(text(group, "arn"), arn("security-group", &seeded.group));
    assert_eq!(text(group, "group_name"), "app");
    assert_eq!(text(group, "vpc_id"), seeded.vpc);
    assert_eq!(
        json_of(group, "tags"),
        json!({"team": "net", "name": "app"})
    );
    assert_eq!(ports(group), [22]);

    // Subnets: CloudQuery's request_account_id / request_region instead of account_id / region.
    let subnets = list(&inventory, &here, &tables::SUBNETS).await;
    let reported = home
        .describe_subnets()
        .send()
        .await
        .expect("describe subnets")
        .subnets()
        .len();
    assert_eq!(subnets.len(), reported, "a row per subnet");
    let subnet = find(&subnets, "subnet_id", &seeded.subnet);
    assert_eq!(text(subnet, "request_account_id"), DEFAULT_ACCOUNT);
    assert_eq!(text(subnet, "request_region"), HOME);
    assert_eq!(text(subnet, "arn"), arn("subnet", &seeded.subnet));
    assert_eq!(text(subnet, "vpc_id"), seeded.vpc);
    assert_eq!(text(subnet, "cidr_block"), "10.1.1.0/24");
    assert_eq!(json_of(subnet, "tags"), json!({"team": "net"}));

    // VPCs: the seeded one and moto's default; the other region's VPC stays there.
    let vpcs = list(&inventory, &here, &tables::VPCS).await;
    let reported = home
        .describe_vpcs()
        .send()
        .await
        .expect("describe vpcs")
        .vpcs()
        .len();
    assert_eq!(vpcs.len(), reported, "a row per VPC");
    let vpc = find(&vpcs, "vpc_id", &seeded.vpc);
    assert_location(vpc, HOME);
    assert_eq!(text(vpc, "arn"), arn("vpc", &seeded.vpc));
    assert_eq!(text(vpc, "cidr_block"), "10.1.0.0/16");
    assert_eq!(vpc.row.get("is_default"), Some(&Value::Boolean(false)));
    assert_eq!(json_of(vpc, "tags"), json!({"team": "net", "name": "main"}));
    assert!(
        vpcs.iter()
            .any(|v| v.row.get("is_default") == Some(&Value::Boolean(true))),
        "moto's default VPC is listed too"
    );
    assert!(vpcs.iter().all(|v| text(v, "vpc_id") != away_vpc));

    // Internet gateways, with their attachment.
    let gateways = list(&inventory, &here, &tables::INTERNET_GATEWAYS).await;
    let reported = home
        .describe_internet_gateways()
        .send()
        .await
        .expect("describe gateways")
        .internet_gateways()
        .len();
    assert_eq!(gateways.len(), reported, "a row per internet gateway");
    let gateway = find(&gateways, "internet_gateway_id", &seeded.gateway);
    assert_location(gateway, HOME);
    assert_eq!(
        text(gateway, "arn"),
        arn("internet-gateway", &seeded.gateway)
    );
    assert_eq!(
        json_of(gateway, "attachments")[0]["VpcId"],
        json!(seeded.vpc)
    );
    assert_eq!(json_of(gateway, "tags"), json!({"team": "net"}));

    // Route tables, with the route through the gateway.
    let route_tables = list(&inventory, &here, &tables::ROUTE_TABLES).await;
    let reported = home
        .describe_route_tables()
        .send()
        .await
        .expect("describe route tables")
        .route_tables()
        .len();
    assert_eq!(route_tables.len(), reported, "a row per route table");
    let route_table = find(&route_tables, "route_table_id", &seeded.route_table);
    assert_location(route_table, HOME);
    assert_eq!(
        text(route_table, "arn"),
        arn("route-table", &seeded.route_table)
    );
    assert_eq!(text(route_table, "vpc_id"), seeded.vpc);
    let routes = json_of(route_table, "routes");
    assert!(
        routes
            .as_array()
            .is_some_and(|routes| routes.iter().any(|r| {
                r["DestinationCidrBlock"] == "0.0.0.0/0" && r["GatewayId"] == json!(seeded.gateway)
            })),
        "default route through the gateway: {routes}"
    );
    assert_eq!(json_of(route_table, "tags"), json!({"team": "net"}));

    // Network interfaces: tags come from TagSet.
    let interfaces = list(&inventory, &here, &tables::NETWORK_INTERFACES).await;
    let reported = home
        .describe_network_interfaces()
        .send()
        .await
        .expect("describe interfaces")
        .network_interfaces()
        .len();
    assert_eq!(interfaces.len(), reported, "a row per network interface");
    let interface = find(&interfaces, "network_interface_id", &seeded.interface);
    assert_location(interface, HOME);
    assert_eq!(
        text(interface, "arn"),
        arn("network-interface", &seeded.interface)
    );
    assert_eq!(text(interface, "subnet_id"), seeded.subnet);
    assert_eq!(text(interface, "description"), "sidecar");
    assert_eq!(json_of(interface, "tags"), json!({"team": "net"}));

    // NAT gateways: a table declared in one line of `ec2_tables!` (docs/CONTRIBUTING.md).
    let nat_gateways = list(&inventory, &here, &tables::NAT_GATEWAYS).await;
    let reported = home
        .describe_nat_gateways()
        .send()
        .await
        .expect("describe NAT gateways")
        .nat_gateways()
        .len();
    assert_eq!(nat_gateways.len(), reported, "a row per NAT gateway");
    let nat_gateway = find(&nat_gateways, "nat_gateway_id", &seeded.nat_gateway);
    assert_location(nat_gateway, HOME);
    assert_eq!(
        text(nat_gateway, "arn"),
        arn("natgateway", &seeded.nat_gateway)
    );
    assert_eq!(text(nat_gateway, "subnet_id"), seeded.subnet);
    assert_eq!(text(nat_gateway, "vpc_id"), seeded.vpc);
    assert_eq!(json_of(nat_gateway, "tags"), json!({"team": "net"}));
    assert!(
        json_of(nat_gateway, "nat_gateway_addresses")[0]["AllocationId"].is_string(),
        "{}",
        json_of(nat_gateway, "nat_gateway_addresses")
    );

    // Images the account owns (none of moto's public ones), with both children.
    let children = [
        &tables::IMAGE_LAUNCH_PERMISSIONS,
        &tables::IMAGE_LAST_LAUNCHED_TIMES,
    ];
    let images = inventory
        .list(&here, &tables::IMAGES, &children)
        .await
        .map(read_all)
        .expect("list images");
    assert_eq!(images.len(), 1, "only the account's own image");
    let image = find(&images, "image_id", &seeded.image);
    assert_location(image, HOME);
    assert_eq!(text(image, "arn"), arn("image", &seeded.image));
    assert_eq!(text(image, "name"), "golden");
    assert_eq!(text(image, "owner_id"), DEFAULT_ACCOUNT);
    assert_eq!(json_of(image, "tags"), json!({"team": "net"}));
    assert!(matches!(
        image.row.get("creation_date"),
        Some(Value::Timestamp(_))
    ));
    assert_eq!(launch_permissions(image), [FRIEND]);
    let permission = &image.children[0].rows[0];
    assert_eq!(permission.parent_id, Some(image.row.cq_id));
    assert_eq!(
        permission.get("image_arn"),
        Some(&Value::Text(arn("image", &seeded.image)))
    );
    assert_eq!(image.children[1].table, &tables::IMAGE_LAST_LAUNCHED_TIMES);
    assert!(
        image.children[1].rows.is_empty(),
        "moto 5.2.5 fails DescribeImageAttribute lastLaunchedTime: no rows rather than no images"
    );
    let bare = inventory
        .list(&here, &tables::IMAGES, &[])
        .await
        .map(read_all)
        .expect("list images without children");
    assert!(
        bare[0].children.is_empty(),
        "no entry for unselected children"
    );

    // Changes in moto, then fetch by id: a new rule, new tags, a new grantee.
    home.authorize_security_group_ingress()
        .group_id(&seeded.group)
        .ip_permissions(tcp_from_anywhere(443))
        .send()
        .await
        .expect("authorize 443");
    ec2::create_tags(
        &home,
        &[&seeded.subnet, &seeded.vpc, &seeded.interface],
        &[("stage", "prod")],
    )
    .await
    .expect("tag");
    home.modify_image_attribute()
        .image_id(&seeded.image)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .remove(LaunchPermission::builder().user_id(FRIEND).build())
                .add(LaunchPermission::builder().user_id(OTHER_FRIEND).build())
                .build(),
        )
        .send()
        .await
        .expect("share image elsewhere");

    let group = fetch_one(&inventory, &here, &tables::SECURITY_GROUPS, &seeded.group).await;
    assert_eq!(ports(&group), [22, 443]);
    assert_eq!(text(&group, "arn"), arn("security-group", &seeded.group));
    for (table, id) in [
        (&tables::SUBNETS, &seeded.subnet),
        (&tables::VPCS, &seeded.vpc),
        (&tables::NETWORK_INTERFACES, &seeded.interface),
    ] {
        let fetched = fetch_one(&inventory, &here, table, id).await;
        assert_eq!(
            json_of(&fetched, "tags")["stage"],
            "prod",
            "{} {id}",
            table.name
        );
    }
    for (table, id) in [
        (&tables::INTERNET_GATEWAYS, &seeded.gateway),
        (&tables::ROUTE_TABLES, &seeded.route_table),
        (&tables::NAT_GATEWAYS, &seeded.nat_gateway),
    ] {
        let fetched = fetch_one(&inventory, &here, table, id).await;
        assert_eq!(text(&fetched, table.id_column().unwrap_or("")), *id);
    }
    let image = inventory
        .fetch(
            &here,
            &tables::IMAGES,
            &[&tables::IMAGE_LAUNCH_PERMISSIONS],
            std::slice::from_ref(&seeded.image),
        )
        .await
        .map(read_all)
        .expect("fetch image");
    assert_eq!(image.len(), 1);
    assert_eq!(launch_permissions(&image[0]), [OTHER_FRIEND]);

    // Unknown ids are absent, never an error.
    for (table, unknown) in [
        (&tables::SECURITY_GROUPS, "sg-0123456789abcdef0"),
        (&tables::SUBNETS, "subnet-0123456789abcdef0"),
        (&tables::VPCS, "vpc-0123456789abcdef0"),
        (&tables::INTERNET_GATEWAYS, "igw-0123456789abcdef0"),
        (&tables::ROUTE_TABLES, "rtb-0123456789abcdef0"),
        (&tables::NAT_GATEWAYS, "nat-0123456789abcdef0"),
        (&tables::NETWORK_INTERFACES, "eni-0123456789abcdef0"),
        (&tables::IMAGES, "ami-0123456789abcdef0"),
    ] {
        let found = inventory
            .fetch(&here, table, &[], &[unknown.to_string()])
            .await
            .map(read_all)
            .unwrap_or_else(|e| panic!("fetch unknown {unknown}: {e}"));
        assert!(found.is_empty(), "{unknown} is not found");
    }

    // A batch of 250 ids costs two calls of at most 200 filter values; only real ids come back.
    let mut ids: Vec<String> = (0..249).map(|i| format!("sg-{i:017x}")).collect();
    ids.push(seeded.group.clone());
    moto.start_recording().await.expect("record");
    let found = inventory
        .fetch(&here, &tables::SECURITY_GROUPS, &[], &ids)
        .await
        .map(read_all)
        .expect("fetch many");
    moto.stop_recording().await.expect("stop recording");
    assert_eq!(found.len(), 1);
    let calls = moto.recorded_calls().await.expect("recorded calls");
    let describes = calls
        .iter()
        .filter(|c| c.operation == "DescribeSecurityGroups")
        .count();
    assert_eq!(describes, 2, "250 ids, 200 per call");

    // The other region: its own rows, and nothing of the home region's.
    let vpcs = list(&inventory, &there, &tables::VPCS).await;
    let reported = away
        .describe_vpcs()
        .send()
        .await
        .expect("describe away vpcs")
        .vpcs()
        .len();
    assert_eq!(vpcs.len(), reported);
    let vpc = find(&vpcs, "vpc_id", &away_vpc);
    assert_location(vpc, AWAY);
    assert_eq!(
        text(vpc, "arn"),
        format!("arn:aws:ec2:{AWAY}:{DEFAULT_ACCOUNT}:vpc/{away_vpc}")
    );
    assert_eq!(json_of(vpc, "tags"), json!({"side": "away"}));
    let subnets = list(&inventory, &there, &tables::SUBNETS).await;
    assert!(subnets.iter().all(|s| text(s, "request_region") == AWAY));
    let missing = inventory
        .fetch(
            &there,
            &tables::VPCS,
            &[],
            std::slice::from_ref(&seeded.vpc),
        )
        .await
        .map(read_all)
        .expect("fetch elsewhere");
    assert!(missing.is_empty(), "a VPC is found in its own region only");

    // Deleted: the next fetch finds nothing.
    home.delete_security_group()
        .group_id(&seeded.group)
        .send()
        .await
        .expect("delete group");
    let gone = inventory
        .fetch(
            &here,
            &tables::SECURITY_GROUPS,
            &[],
            std::slice::from_ref(&seeded.group),
        )
        .await
        .map(read_all)
        .expect("fetch deleted");
    assert!(gone.is_empty(), "a deleted group is not found");
}

/// One of each resource in a new VPC, an instance's image shared with [`FRIEND`].
async fn seed(client: &Client) -> Seeded {
    let vpc = create_vpc(client, "10.1.0.0/16").await;
    let subnet = client
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.1.1.0/24")
        .send()
        .await
        .expect("create subnet")
        .subnet
        .and_then(|s| s.subnet_id)
        .expect("subnet id");
    let group = client
        .create_security_group()
        .group_name("app")
        .description("the app")
        .vpc_id(&vpc)
        .send()
        .await
        .expect("create group")
        .group_id
        .expect("group id");
    client
        .authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("203.0.113.0/24").build())
                .build(),
        )
        .send()
        .await
        .expect("authorize 22");
    let gateway = client
        .create_internet_gateway()
        .send()
        .await
        .expect("create gateway")
        .internet_gateway
        .and_then(|g| g.internet_gateway_id)
        .expect("gateway id");
    client
        .attach_internet_gateway()
        .internet_gateway_id(&gateway)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("attach gateway");
    let route_table = client
        .create_route_table()
        .vpc_id(&vpc)
        .send()
        .await
        .expect("create route table")
        .route_table
        .and_then(|r| r.route_table_id)
        .expect("route table id");
    client
        .create_route()
        .route_table_id(&route_table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&gateway)
        .send()
        .await
        .expect("create route");
    let interface = client
        .create_network_interface()
        .subnet_id(&subnet)
        .description("sidecar")
        .send()
        .await
        .expect("create interface")
        .network_interface
        .and_then(|n| n.network_interface_id)
        .expect("interface id");
    let allocation = client
        .allocate_address()
        .send()
        .await
        .expect("allocate an address")
        .allocation_id
        .expect("allocation id");
    let nat_gateway = client
        .create_nat_gateway()
        .subnet_id(&subnet)
        .allocation_id(allocation)
        .send()
        .await
        .expect("create NAT gateway")
        .nat_gateway
        .and_then(|n| n.nat_gateway_id)
        .expect("NAT gateway id");
    ec2::create_tags(client, &[&nat_gateway], &[("team", "net")])
        .await
        .expect("tag NAT gateway");
    let instance = ec2::run_instances(client, 1, &[])
        .await
        .expect("launch")
        .remove(0);
    let image = client
        .create_image()
        .instance_id(instance)
        .name("golden")
        .send()
        .await
        .expect("create image")
        .image_id
        .expect("image id");
    client
        .modify_image_attribute()
        .image_id(&image)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id(FRIEND).build())
                .build(),
        )
        .send()
        .await
        .expect("share image");
    ec2::create_tags(
        client,
        &[&subnet, &gateway, &route_table, &interface, &image],
        &[("team", "net")],
    )
    .await
    .expect("tag");
    ec2::create_tags(client, &[&vpc], &[("team", "net"), ("name", "main")])
        .await
        .expect("tag vpc");
    ec2::create_tags(client, &[&group], &[("team", "net"), ("name", "app")])
        .await
        .expect("tag group");
    Seeded {
        vpc,
        subnet,
        group,
        gateway,
        route_table,
        interface,
        image,
        nat_gateway,
    }
}

async fn create_vpc(client: &Client, cidr: &str) -> String {
    client
        .create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .expect("create vpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id")
}

fn tcp_from_anywhere(port: i32) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}

async fn list(inventory: &AwsInventory, at: &Location, table: &'static Table) -> Vec<Resource> {
    inventory
        .list(at, table, &[])
        .await
        .map(read_all)
        .unwrap_or_else(|e| panic!("list {}: {e}", table.name))
}

async fn fetch_one(
    inventory: &AwsInventory,
    at: &Location,
    table: &'static Table,
    id: &str,
) -> Resource {
    let mut found = inventory
        .fetch(at, table, &[], &[id.to_string()])
        .await
        .map(read_all)
        .unwrap_or_else(|e| panic!("fetch {} {id}: {e}", table.name));
    assert_eq!(found.len(), 1, "{} {id} is found once", table.name);
    found.remove(0)
}

fn find<'r>(resources: &'r [Resource], column: &str, id: &str) -> &'r Resource {
    resources
        .iter()
        .find(|r| r.row.get(column) == Some(&Value::Text(id.to_string())))
        .unwrap_or_else(|| panic!("a row with {column} = {id}"))
}

fn text(resource: &Resource, column: &str) -> String {
    match resource.row.get(column) {
        Some(Value::Text(text)) => text.clone(),
        other => panic!("{column} is text: {other:?}"),
    }
}

fn json_of(resource: &Resource, column: &str) -> Json {
    match resource.row.get(column) {
        Some(Value::Json(json)) => json.clone(),
        other => panic!("{column} is JSON: {other:?}"),
    }
}

fn assert_location(resource: &Resource, region: &str) {
    assert_eq!(text(resource, "account_id"), DEFAULT_ACCOUNT);
    assert_eq!(text(resource, "region"), region);
}

/// The `FromPort`s of a security group's ingress rules, sorted.
fn ports(group: &Resource) -> Vec<i64> {
    let mut ports: Vec<i64> = json_of(group, "ip_permissions")
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

/// The grantees of an image's launch permission rows (its first child entry).
fn launch_permissions(image: &Resource) -> Vec<String> {
    let entry = &image.children[0];
    assert_eq!(entry.table, &tables::IMAGE_LAUNCH_PERMISSIONS);
    entry
        .rows
        .iter()
        .map(|row| match row.get("user_id") {
            Some(Value::Text(id)) => id.clone(),
            other => panic!("user_id is text: {other:?}"),
        })
        .collect()
}

/// The resources of an answer that must have read every one of them.
fn read_all(fetched: trailsync_core::Fetched) -> Vec<trailsync_catalog::Resource> {
    assert!(fetched.failed.is_empty(), "unread: {:?}", fetched.failed);
    fetched.resources
}
