//! IAM roles, users and groups read from moto through `AwsInventory`: a listing with every child
//! table, a change made in moto seen by fetch-by-name, unknown names simply absent.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{StatusType, Tag};
use serde_json::{Value as Json, json};
use trailsync_aws::{Account, Accounts, AwsInventory};
use trailsync_catalog::{Resource, Row, Table, Value};
use trailsync_core::{Inventory, Location};
use trailsync_testkit::{DEFAULT_ACCOUNT, Moto};

/// IAM is global: the engine lists and fetches it at this region.
const REGION: &str = "us-east-1";

/// A self-signed P-256 certificate (no key anywhere): moto parses signing certificates.
const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIBiTCCAS+gAwIBAgIUNdUgBICVqHNGEf4BdlmTRLgTIckwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOdHJhaWxzeW5jLXRlc3QwIBcNMjYxMTI0MTA0MjI5WhgPMjEy
NjEwMzExMDQyMjlaMBkxFzAVBgNVBAMMDnRyYWlsc3luYy10ZXN0MFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAENgxHaXQFcU1ESs/5MLQ+xJHIw7POuk4gk/IkVDT9
VHCrk8OqJDgjOB/N/zl1xcNbkWE/umfsALPtxDY9Kz/AYqNTMFEwHQYDVR0OBBYE
FC+AWujjeTC04kCWANH6B+5NUlaFMB8GA1UdIwQYMBaAFC+AWujjeTC04kCWANH6
B+5NUlaFMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgGO/CEPuM
eOA4UH7a/+qCUGoKistjJiSa9bhlA7Hs3j0CIQDSM3l3H403wCbcnj2Ic21bvaZO
qFIPr9aIgL/y4rVdww==
-----END CERTIFICATE-----
";

const SSH_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf/Y9zLXEUG/rDecE0ZkDWtM2LU7afdqw/pFwYLib1X trailsync-test";

/// A moto server, an IAM client on it, and the inventory under test reading the same account.
struct World {
    _moto: Moto,
    iam: Client,
    inventory: AwsInventory,
    location: Location,
}

impl World {
    async fn start() -> World {
        let moto = Moto::start().await.expect("moto starts");
        let config = moto.sdk_config(REGION);
        let accounts = Accounts::new(vec![Account {
            id: DEFAULT_ACCOUNT.to_string(),
            alias: "moto".to_string(),
            config: config.clone(),
            regions: vec![REGION.to_string()],
        }]);
        World {
            iam: Client::new(&config),
            inventory: AwsInventory::new(accounts),
            location: Location::new(DEFAULT_ACCOUNT, REGION),
            _moto: moto,
        }
    }

    /// Every resource of `table` with all its child tables.
    async fn list(&self, table: &str) -> Vec<Resource> {
        let (table, children) = with_children(table);
        self.inventory
            .list(&self.location, table, &children)
            .await
            .map(read_all)
            .expect("list")
    }

    /// The resources named `names`, with all their child tables.
    async fn fetch(&self, table: &str, names: &[&str]) -> Vec<Resource> {
        let (table, children) = with_children(table);
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        self.inventory
            .fetch(&self.location, table, &children, &names)
            .await
            .map(read_all)
            .expect("fetch")
    }

    /// A customer managed policy allowing `action` on everything; returns its ARN.
    async fn managed_policy(&self, name: &str, action: &str) -> String {
        let created = self
            .iam
            .create_policy()
            .policy_name(name)
            .policy_document(policy(action, "*").to_string())
            .send()
            .await
            .expect("create policy");
        created
            .policy
            .and_then(|p| p.arn)
            .expect("policy has an ARN")
    }
}

fn with_children(name: &str) -> (&'static Table, Vec<&'static Table>) {
    let table = trailsync_catalog::table(name).expect("table in the catalog");
    (table, trailsync_catalog::children(table).collect())
}

fn policy(action: &str, resource: &str) -> Json {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    })
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("tag has key and value")
}

fn named<'a>(resources: &'a [Resource], column: &str, name: &str) -> &'a Resource {
    resources
        .iter()
        .find(|r| r.row.get(column).and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no resource with {column} = {name}"))
}

fn text<'a>(row: &'a Row, column: &str) -> &'a str {
    row.get(column)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{}.{column} is text: {:?}", row.table.name, row.get(column)))
}

fn json_value<'a>(row: &'a Row, column: &str) -> &'a Json {
    match row.get(column) {
        Some(Value::Json(value)) => value,
        other => panic!("{}.{column} is JSON: {other:?}", row.table.name),
    }
}

/// The rows of child table `table`, which must be present (possibly empty), each pointing at the
/// parent.
fn child<'a>(resource: &'a Resource, table: &str) -> &'a [Row] {
    let rows = &resource
        .children
        .iter()
        .find(|c| c.table.name == table)
        .unwrap_or_else(|| panic!("{table} rows are part of the resource"))
        .rows;
    for row in rows {
        assert_eq!(
            row.parent_id,
            Some(resource.row.cq_id),
            "{table} row points at its parent"
        );
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_with_policies_then_a_change_fetched_by_name() {
    let world = World::start().await;
    let iam = &world.iam;
    // A `+` and a `%` in the document: both survive IAM's URL encoding and our decoding.
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringLike": {"aws:PrincipalTag/team": "a+b 100%"}},
        }],
    });
    iam.create_role()
        .role_name("app")
        .path("/svc/")
        .description("the app's role")
        .assume_role_policy_document(trust.to_string())
        .tags(tag("team", "core"))
        .send()
        .await
        .expect("create role");
    iam.create_role()
        .role_name("plain")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create role");
    let inline = policy("s3:GetObject", "arn:aws:s3:::bucket/*");
    iam.put_role_policy()
        .role_name("app")
        .policy_name("read-bucket")
        .policy_document(inline.to_string())
        .send()
        .await
        .expect("put role policy");
    let managed = world.managed_policy("ec2-read", "ec2:Describe*").await;
    iam.attach_role_policy()
        .role_name("app")
        .policy_arn(&managed)
        .send()
        .await
        .expect("attach role policy");

    let roles = world.list("aws_iam_roles").await;
    assert_eq!(roles.len(), 2, "both roles listed");
    let app = named(&roles, "role_name", "app");
    let row = &app.row;
    assert_eq!(text(row, "account_id"), DEFAULT_ACCOUNT);
    assert_eq!(
        text(row, "arn"),
        format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/svc/app")
    );
    assert_eq!(text(row, "path"), "/svc/");
    assert_eq!(text(row, "description"), "the app's role");
    assert!(text(row, "role_id").starts_with("AROA"));
    assert_eq!(row.get("max_session_duration"), Some(&Value::BigInt(3600)));
    assert!(matches!(row.get("create_date"), Some(Value::Timestamp(_))));
    assert_eq!(json_value(row, "tags"), &json!({"team": "core"}));
    assert_eq!(
        json_value(row, "assume_role_policy_document"),
        &trust,
        "decoded from IAM's URL encoding"
    );

    let policies = child(app, "aws_iam_role_policies");
    assert_eq!(policies.len(), 1);
    assert_eq!(text(&policies[0], "policy_name"), "read-bucket");
    assert_eq!(text(&policies[0], "role_name"), "app");
    assert_eq!(text(&policies[0], "role_arn"), text(row, "arn"));
    assert_eq!(text(&policies[0], "account_id"), DEFAULT_ACCOUNT);
    assert_eq!(json_value(&policies[0], "policy_document"), &inline);
    let attached = child(app, "aws_iam_role_attached_policies");
    assert_eq!(attached.len(), 1);
    assert_eq!(text(&attached[0], "policy_arn"), managed);
    assert_eq!(text(&attached[0], "policy_name"), "ec2-read");
    assert_eq!(text(&attached[0], "role_arn"), text(row, "arn"));
    // moto 5.2.5 does not implement GenerateServiceLastAccessedDetails: no rows, no failure.
    assert!(child(app, "aws_iam_role_last_accessed_details").is_empty());
    let plain = named(&roles, "role_name", "plain");
    assert_eq!(json_value(&plain.row, "tags"), &json!({}));
    assert!(child(plain, "aws_iam_role_policies").is_empty());
    assert!(child(plain, "aws_iam_role_attached_policies").is_empty());

    // Change: another tag, the managed policy detached, a second inline policy.
    iam.tag_role()
        .role_name("app")
        .tags(tag("stage", "prod"))
        .send()
        .await
        .expect("tag role");
    iam.detach_role_policy()
        .role_name("app")
        .policy_arn(&managed)
        .send()
        .await
        .expect("detach role policy");
    iam.put_role_policy()
        .role_name("app")
        .policy_name("write-bucket")
        .policy_document(policy("s3:PutObject", "arn:aws:s3:::bucket/*").to_string())
        .send()
        .await
        .expect("put role policy");

    let fetched = world.fetch("aws_iam_roles", &["app", "ghost"]).await;
    assert_eq!(fetched.len(), 1, "an unknown name is simply absent");
    let app_again = &fetched[0];
    assert_eq!(app_again.row.cq_id, app.row.cq_id, "same role, same _cq_id");
    assert_eq!(
        json_value(&app_again.row, "tags"),
        &json!({"team": "core", "stage": "prod"})
    );
    assert!(child(app_again, "aws_iam_role_attached_policies").is_empty());
    let mut names: Vec<&str> = child(app_again, "aws_iam_role_policies")
        .iter()
        .map(|r| text(r, "policy_name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["read-bucket", "write-bucket"]);

    assert!(world.fetch("aws_iam_roles", &["ghost"]).await.is_empty());
    // Only the selected children are read.
    let bare = world
        .inventory
        .fetch(
            &world.location,
            trailsync_catalog::table("aws_iam_roles").expect("roles"),
            &[],
            &["app".to_string()],
        )
        .await
        .map(read_all)
        .expect("fetch without children");
    assert_eq!(bare.len(), 1);
    assert!(bare[0].children.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_with_every_child_then_a_change_fetched_by_name() {
    let world = World::start().await;
    let iam = &world.iam;
    iam.create_user()
        .user_name("alice")
        .path("/eng/")
        .tags(tag("team", "core"))
        .send()
        .await
        .expect("create user");
    iam.create_user()
        .user_name("bob")
        .send()
        .await
        .expect("create user");
    iam.create_group()
        .group_name("devs")
        .send()
        .await
        .expect("create group");
    iam.add_user_to_group()
        .group_name("devs")
        .user_name("alice")
        .send()
        .await
        .expect("add user to group");
    let inline = policy("sqs:SendMessage", "*");
    iam.put_user_policy()
        .user_name("alice")
        .policy_name("send")
        .policy_document(inline.to_string())
        .send()
        .await
        .expect("put user policy");
    let managed = world.managed_policy("read-all", "s3:Get*").await;
    iam.attach_user_policy()
        .user_name("alice")
        .policy_arn(&managed)
        .send()
        .await
        .expect("attach user policy");
    let key = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .expect("create access key")
        .access_key
        .expect("access key")
        .access_key_id;
    let ssh = iam
        .upload_ssh_public_key()
        .user_name("alice")
        .ssh_public_key_body(SSH_KEY)
        .send()
        .await
        .expect("upload SSH key")
        .ssh_public_key
        .expect("SSH key")
        .ssh_public_key_id;
    let certificate = iam
        .upload_signing_certificate()
        .user_name("alice")
        .certificate_body(CERTIFICATE)
        .send()
        .await
        .expect("upload signing certificate")
        .certificate
        .expect("certificate")
        .certificate_id;

    let users = world.list("aws_iam_users").await;
    assert_eq!(users.len(), 2, "both users listed");
    let alice = named(&users, "user_name", "alice");
    let row = &alice.row;
    let arn = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/eng/alice");
    assert_eq!(text(row, "arn"), arn);
    assert_eq!(text(row, "account_id"), DEFAULT_ACCOUNT);
    assert_eq!(text(row, "path"), "/eng/");
    assert_eq!(json_value(row, "tags"), &json!({"team": "core"}));
    let user_id = text(row, "user_id");
    assert!(!user_id.is_empty());

    let keys = child(alice, "aws_iam_user_access_keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(text(&keys[0], "access_key_id"), key);
    assert_eq!(text(&keys[0], "status"), "Active");
    assert_eq!(text(&keys[0], "user_name"), "alice");
    assert_eq!(text(&keys[0], "user_arn"), arn);
    assert_eq!(text(&keys[0], "user_id"), user_id);
    assert_eq!(
        keys[0].get("last_rotated"),
        keys[0].get("create_date"),
        "last rotated at creation"
    );
    // GetAccessKeyLastUsed: moto answers "N/A" for a key never used.
    assert_eq!(text(&keys[0], "last_used_service_name"), "N/A");
    let groups = child(alice, "aws_iam_user_groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(text(&groups[0], "group_name"), "devs");
    assert_eq!(
        text(&groups[0], "arn"),
        format!("arn:aws:iam::{DEFAULT_ACCOUNT}:group/devs"),
        "the group's ARN"
    );
    assert_eq!(text(&groups[0], "user_arn"), arn);
    assert_eq!(text(&groups[0], "user_id"), user_id);
    let policies = child(alice, "aws_iam_user_policies");
    assert_eq!(policies.len(), 1);
    assert_eq!(text(&policies[0], "policy_name"), "send");
    assert_eq!(text(&policies[0], "user_name"), "alice");
    assert_eq!(json_value(&policies[0], "policy_document"), &inline);
    let attached = child(alice, "aws_iam_user_attached_policies");
    assert_eq!(attached.len(), 1);
    assert_eq!(text(&attached[0], "policy_arn"), managed);
    assert_eq!(text(&attached[0], "policy_name"), "read-all");
    assert_eq!(text(&attached[0], "user_id"), user_id);
    let ssh_keys = child(alice, "aws_iam_ssh_public_keys");
    assert_eq!(ssh_keys.len(), 1);
    assert_eq!(text(&ssh_keys[0], "ssh_public_key_id"), ssh);
    assert_eq!(text(&ssh_keys[0], "status"), "Active");
    assert_eq!(text(&ssh_keys[0], "user_arn"), arn);
    let certificates = child(alice, "aws_iam_signing_certificates");
    assert_eq!(certificates.len(), 1);
    assert_eq!(text(&certificates[0], "certificate_id"), certificate);
    assert_eq!(text(&certificates[0], "certificate_body"), CERTIFICATE);
    assert_eq!(text(&certificates[0], "status"), "Active");
    assert!(child(alice, "aws_iam_user_last_accessed_details").is_empty());
    let bob = named(&users, "user_name", "bob");
    for table in trailsync_catalog::children(bob.row.table) {
        assert!(
            child(bob, table.name).is_empty(),
            "bob has no {}",
            table.name
        );
    }

    // Change: out of the group, the key deactivated, another tag.
    iam.remove_user_from_group()
        .group_name("devs")
        .user_name("alice")
        .send()
        .await
        .expect("remove user from group");
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&key)
        .status(StatusType::Inactive)
        .send()
        .await
        .expect("deactivate access key");
    iam.tag_user()
        .user_name("alice")
        .tags(tag("stage", "prod"))
        .send()
        .await
        .expect("tag user");

    let fetched = world.fetch("aws_iam_users", &["alice", "ghost"]).await;
    assert_eq!(fetched.len(), 1, "an unknown name is simply absent");
    let alice_again = &fetched[0];
    assert_eq!(
        json_value(&alice_again.row, "tags"),
        &json!({"team": "core", "stage": "prod"})
    );
    assert!(child(alice_again, "aws_iam_user_groups").is_empty());
    let keys = child(alice_again, "aws_iam_user_access_keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(text(&keys[0], "status"), "Inactive");
    assert_eq!(
        keys[0].cq_id,
        child(alice, "aws_iam_user_access_keys")[0].cq_id
    );
    assert!(world.fetch("aws_iam_users", &["ghost"]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_with_policies_then_a_change_fetched_by_name() {
    let world = World::start().await;
    let iam = &world.iam;
    for name in ["devs", "ops"] {
        iam.create_group()
            .group_name(name)
            .path("/teams/")
            .send()
            .await
            .expect("create group");
    }
    let inline = policy("logs:*", "*");
    iam.put_group_policy()
        .group_name("devs")
        .policy_name("logs")
        .policy_document(inline.to_string())
        .send()
        .await
        .expect("put group policy");
    let managed = world.managed_policy("ecs-all", "ecs:*").await;
    iam.attach_group_policy()
        .group_name("devs")
        .policy_arn(&managed)
        .send()
        .await
        .expect("attach group policy");

    let groups = world.list("aws_iam_groups").await;
    assert_eq!(groups.len(), 2, "both groups listed");
    let devs = named(&groups, "group_name", "devs");
    let arn = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:group/teams/devs");
    assert_eq!(text(&devs.row, "arn"), arn);
    assert_eq!(text(&devs.row, "account_id"), DEFAULT_ACCOUNT);
    assert_eq!(text(&devs.row, "path"), "/teams/");
    assert!(!text(&devs.row, "group_id").is_empty());
    let policies = child(devs, "aws_iam_group_policies");
    assert_eq!(policies.len(), 1);
    assert_eq!(text(&policies[0], "policy_name"), "logs");
    assert_eq!(text(&policies[0], "group_name"), "devs");
    assert_eq!(text(&policies[0], "group_arn"), arn);
    assert_eq!(json_value(&policies[0], "policy_document"), &inline);
    let attached = child(devs, "aws_iam_group_attached_policies");
    assert_eq!(attached.len(), 1);
    assert_eq!(text(&attached[0], "policy_arn"), managed);
    assert_eq!(text(&attached[0], "group_arn"), arn);
    assert!(child(devs, "aws_iam_group_last_accessed_details").is_empty());

    // Change: the managed policy detached, a second inline policy.
    iam.detach_group_policy()
        .group_name("devs")
        .policy_arn(&managed)
        .send()
        .await
        .expect("detach group policy");
    iam.put_group_policy()
        .group_name("devs")
        .policy_name("metrics")
        .policy_document(policy("cloudwatch:*", "*").to_string())
        .send()
        .await
        .expect("put group policy");

    let fetched = world.fetch("aws_iam_groups", &["devs", "ghost"]).await;
    assert_eq!(fetched.len(), 1, "an unknown name is simply absent");
    assert_eq!(fetched[0].row, devs.row, "the group itself is unchanged");
    assert!(child(&fetched[0], "aws_iam_group_attached_policies").is_empty());
    let mut names: Vec<&str> = child(&fetched[0], "aws_iam_group_policies")
        .iter()
        .map(|r| text(r, "policy_name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["logs", "metrics"]);
    assert!(world.fetch("aws_iam_groups", &["ghost"]).await.is_empty());
}

/// The resources of an answer that must have read every one of them.
fn read_all(fetched: trailsync_core::Fetched) -> Vec<trailsync_catalog::Resource> {
    assert!(fetched.failed.is_empty(), "unread: {:?}", fetched.failed);
    fetched.resources
}
