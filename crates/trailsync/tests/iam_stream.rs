//! End to end for the global IAM tables, against moto and the real destinations: a full sync of
//! roles, users and groups with their child tables, then CloudTrail-shaped IAM events delivered
//! CloudWatch Logs -> subscription filter -> Kinesis create, change, rename and delete rows.

#[macro_use]
mod common;

use std::collections::BTreeMap;

use aws_sdk_iam::Client;
use common::{Store, StreamingSource, Trailsync};
use serde_json::{Value, json};
use trailsync_testkit::{CloudTrailPipe, DEFAULT_ACCOUNT, Moto, cloudtrail};

/// IAM's events carry this region, whatever region the caller used.
const REGION: &str = "us-east-1";
const IAM: &str = "iam.amazonaws.com";

mod follows_iam_through_the_stream {
    in_both_destinations!(super::iam_through_the_stream);
}

async fn iam_through_the_stream(store: &Store) {
    let moto = Moto::start().await.expect("moto starts");
    let aws = moto.sdk_config(REGION);
    let iam = Client::new(&aws);
    let managed = seed(&iam).await;
    let pipe = CloudTrailPipe::create(&aws, "cloudtrail", 1)
        .await
        .expect("pipe");

    let config = StreamingSource {
        name: "aws-iam",
        tables: &["aws_iam_roles", "aws_iam_users", "aws_iam_groups"],
        skip_tables: &[],
        region: REGION,
        endpoint: &moto.endpoint(),
        stream_arn: pipe.stream_arn(),
        stream_options: &[],
    }
    .config(&[("inventory", store)]);
    let mut trailsync = Trailsync::sync(&config);

    // Full sync: every entity once for the account, children under their parents.
    let synced = trailsync
        .eventually(
            "full sync writes roles, users, groups and their children",
            || async {
                let state = State::read(store).await;
                let ready = state.users.len() == 2
                    && state.roles == ["app"]
                    && state.groups == ["devs"]
                    && state.role_children == 2;
                ready.then_some(state)
            },
        )
        .await;
    assert!(synced.user_attached.is_empty());
    assert!(synced.user_groups.is_empty());
    let alice_id = synced.users["alice"].clone();
    let accounts = store.texts("SELECT account_id FROM aws_iam_users").await;
    assert!(
        accounts
            .iter()
            .all(|r| r[0].as_deref() == Some(DEFAULT_ACCOUNT)),
        "{accounts:?}"
    );

    // Changes made in moto, each announced by its CloudTrail event.
    let carol = iam
        .create_user()
        .user_name("carol")
        .send()
        .await
        .expect("create user")
        .user
        .expect("user");
    iam.attach_user_policy()
        .user_name("alice")
        .policy_arn(&managed)
        .send()
        .await
        .expect("attach user policy");
    iam.add_user_to_group()
        .user_name("alice")
        .group_name("devs")
        .send()
        .await
        .expect("add user to group");
    iam.update_user()
        .user_name("bob")
        .new_user_name("robert")
        .send()
        .await
        .expect("rename user");
    delete_role(&iam, "app", &managed).await;
    pipe.send(&[
        event(
            "CreateUser",
            json!({"userName": "carol"}),
            json!({"user": {
                "createDate": "Nov 24, 2026 10:00:00 AM",
                "userName": "carol",
                "arn": carol.arn,
                "path": "/",
                "userId": carol.user_id,
            }}),
        ),
        event(
            "AttachUserPolicy",
            json!({"userName": "alice", "policyArn": managed}),
            Value::Null,
        ),
        event(
            "AddUserToGroup",
            json!({"userName": "alice", "groupName": "devs"}),
            Value::Null,
        ),
        event(
            "UpdateUser",
            json!({"userName": "bob", "newUserName": "robert"}),
            Value::Null,
        ),
        event("DeleteRole", json!({"roleName": "app"}), Value::Null),
    ])
    .await
    .expect("events delivered");

    let state = trailsync
        .eventually("events change the IAM inventory", || async {
            let state = State::read(store).await;
            let names: Vec<&str> = state.users.keys().map(String::as_str).collect();
            let ready = names == ["alice", "carol", "robert"]
                && state.roles.is_empty()
                && state.role_children == 0
                && !state.user_attached.is_empty()
                && !state.user_groups.is_empty();
            ready.then_some(state)
        })
        .await;
    assert_eq!(state.users["alice"], alice_id, "alice keeps her _cq_id");
    assert_eq!(
        state.user_attached,
        [(alice_id.clone(), managed.clone())],
        "the attached policy hangs off alice"
    );
    assert_eq!(state.user_groups, [(alice_id, "devs".to_string())]);
    assert_eq!(state.groups, ["devs"], "the group refreshed, still there");

    let status = trailsync.terminate().await;
    assert!(
        status.success(),
        "trailsync exits 0 on SIGTERM: {status}\n{}",
        trailsync.log()
    );
}

/// Role `app` with an inline and an attached policy, users `alice` and `bob`, group `devs`;
/// returns the managed policy's ARN.
async fn seed(iam: &Client) -> String {
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
    });
    iam.create_role()
        .role_name("app")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create role");
    iam.put_role_policy()
        .role_name("app")
        .policy_name("inline")
        .policy_document(policy("s3:GetObject").to_string())
        .send()
        .await
        .expect("put role policy");
    let managed = iam
        .create_policy()
        .policy_name("read-all")
        .policy_document(policy("s3:Get*").to_string())
        .send()
        .await
        .expect("create policy")
        .policy
        .and_then(|p| p.arn)
        .expect("policy ARN");
    iam.attach_role_policy()
        .role_name("app")
        .policy_arn(&managed)
        .send()
        .await
        .expect("attach role policy");
    for user in ["alice", "bob"] {
        iam.create_user()
            .user_name(user)
            .send()
            .await
            .expect("create user");
    }
    iam.create_group()
        .group_name("devs")
        .send()
        .await
        .expect("create group");
    managed
}

/// Deletes a role the way IAM demands: its policies first.
async fn delete_role(iam: &Client, role: &str, managed: &str) {
    iam.detach_role_policy()
        .role_name(role)
        .policy_arn(managed)
        .send()
        .await
        .expect("detach role policy");
    iam.delete_role_policy()
        .role_name(role)
        .policy_name("inline")
        .send()
        .await
        .expect("delete role policy");
    iam.delete_role()
        .role_name(role)
        .send()
        .await
        .expect("delete role");
}

fn policy(action: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
    })
}

/// An IAM management event of the default account, as CloudTrail logs it.
fn event(name: &str, request: Value, response: Value) -> Value {
    cloudtrail::event(IAM, name, DEFAULT_ACCOUNT, REGION, request, response)
}

/// What the destination holds of the IAM tables.
#[derive(Debug, Default)]
struct State {
    /// User name -> `_cq_id`.
    users: BTreeMap<String, String>,
    roles: Vec<String>,
    groups: Vec<String>,
    /// Rows of aws_iam_role_policies and aws_iam_role_attached_policies.
    role_children: usize,
    /// (`_cq_parent_id`, policy ARN) of aws_iam_user_attached_policies.
    user_attached: Vec<(String, String)>,
    /// (`_cq_parent_id`, group name) of aws_iam_user_groups.
    user_groups: Vec<(String, String)>,
}

impl State {
    async fn read(store: &Store) -> State {
        let pairs = |rows: Vec<Vec<Option<String>>>| -> Vec<(String, String)> {
            rows.into_iter()
                .map(|r| {
                    let mut r = r.into_iter().map(Option::unwrap_or_default);
                    (r.next().unwrap_or_default(), r.next().unwrap_or_default())
                })
                .collect()
        };
        let names = |rows: Vec<Vec<Option<String>>>| -> Vec<String> {
            rows.into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .collect()
        };
        let users = pairs(
            store
                .texts(
                    "SELECT user_name, CAST(_cq_id AS TEXT) FROM aws_iam_users ORDER BY user_name",
                )
                .await,
        );
        let role_children = store
            .texts("SELECT policy_name FROM aws_iam_role_policies")
            .await
            .len()
            + store
                .texts("SELECT policy_arn FROM aws_iam_role_attached_policies")
                .await
                .len();
        State {
            users: users.into_iter().collect(),
            roles: names(store.texts("SELECT role_name FROM aws_iam_roles ORDER BY role_name").await),
            groups: names(
                store.texts("SELECT group_name FROM aws_iam_groups ORDER BY group_name").await,
            ),
            role_children,
            user_attached: pairs(
                store.texts("SELECT CAST(_cq_parent_id AS TEXT), policy_arn FROM aws_iam_user_attached_policies ORDER BY policy_arn",
                )
                .await,
            ),
            user_groups: pairs(
                store.texts("SELECT CAST(_cq_parent_id AS TEXT), group_name FROM aws_iam_user_groups ORDER BY group_name",
                )
                .await,
            ),
        }
    }
}
