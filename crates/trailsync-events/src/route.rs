//! Routing: what one CloudTrail event means for the inventory.
//!
//! [`route`] interprets the data in [`crate::routes`]; it knows no event by name.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use trailsync_catalog::{GLOBAL_REGION, Service, Table};

use crate::event::CloudTrailEvent;
use crate::routes::{Ids, Route, routes_for_event};

/// What an event means for the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to do; counted by reason.
    Ignored(IgnoreReason),
    /// Rows to re-fetch, in routing-table order, without duplicates.
    Changes(Vec<Change>),
}

/// Why an event changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    /// The call failed (`errorCode`).
    ErrorCode(String),
    /// The call only read (`readOnly`).
    ReadOnly,
    /// No tracked table is affected: an event without a route, or one naming only untracked
    /// resources (`CreateTags` on a snapshot).
    Untracked,
}

/// One resource (or whole table) to re-fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// The top-level table; its child tables are re-fetched with it.
    pub table: &'static Table,
    /// Empty if the event names no account.
    pub account_id: String,
    /// `us-east-1` for IAM, which is global; otherwise the event's region.
    pub region: String,
    pub target: Target,
    pub action: Action,
}

/// Which rows of a table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The resource with this id (see [`crate::routes`] for what the ids are).
    Id(String),
    /// Every row of the table in this account and region: the event does not say which.
    Refresh,
}

/// What the event did to the resource. Either way the resource is re-fetched and the row written
/// is what AWS returns now; a delete is only expected to end in NotFound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Upsert,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Upsert => "upsert",
            Action::Delete => "delete",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for IgnoreReason {
    /// The reason as `explain` prints it, named after the CloudTrail field that decided it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::ErrorCode(code) => write!(f, "errorCode {code}"),
            IgnoreReason::ReadOnly => f.write_str("readOnly"),
            IgnoreReason::Untracked => f.write_str("untracked"),
        }
    }
}

/// What `event` means for the inventory: ignored (and why), or the rows to re-fetch.
pub fn route(event: &CloudTrailEvent) -> Outcome {
    if let Some(code) = &event.error_code {
        return Outcome::Ignored(IgnoreReason::ErrorCode(code.clone()));
    }
    if event.read_only {
        return Outcome::Ignored(IgnoreReason::ReadOnly);
    }
    let region = region_of(event);
    let mut changes: Vec<Change> = Vec::new();
    let mut seen: HashSet<(&'static str, Target, Action)> = HashSet::new();
    for route in routes_for_event(&event.event_source, &event.event_name) {
        for target in targets(route, event) {
            if seen.insert((route.table.name, target.clone(), route.action)) {
                changes.push(Change {
                    table: route.table,
                    account_id: event.recipient_account_id.clone(),
                    region: region.to_owned(),
                    target,
                    action: route.action,
                });
            }
        }
    }
    if changes.is_empty() {
        Outcome::Ignored(IgnoreReason::Untracked)
    } else {
        Outcome::Changes(changes)
    }
}

/// The region an event's changes apply in: [`GLOBAL_REGION`] for global services (IAM), else
/// `awsRegion`.
pub fn region_of(event: &CloudTrailEvent) -> &str {
    match Service::from_event_source(&event.event_source) {
        Some(service) if service.is_global() => GLOBAL_REGION,
        _ => &event.aws_region,
    }
}

/// The rows of one route that `event` touches.
fn targets(route: &Route, event: &CloudTrailEvent) -> Vec<Target> {
    let Some(resource_id) = route.table.id else {
        return Vec::new();
    };
    let ids = |found: Vec<&str>| -> Vec<Target> {
        let mut seen = HashSet::new();
        found
            .into_iter()
            .filter_map(|id| resource_id.normalise(id))
            .filter(|id| seen.insert(id.clone()))
            .map(Target::Id)
            .collect()
    };
    match route.ids {
        Ids::First(paths) => {
            let found = ids(first_found(event, paths));
            if found.is_empty() {
                vec![Target::Refresh]
            } else {
                found
            }
        }
        Ids::Optional(paths) => ids(first_found(event, paths)),
        Ids::Prefixed { path, prefix } => ids(strings_at(event, path)
            .into_iter()
            .filter(|id| id.starts_with(prefix))
            .collect()),
        Ids::Arn { path, kind } => ids(strings_at(event, path)
            .into_iter()
            .filter_map(|arn| arn_resource(arn, kind))
            .collect()),
        Ids::RenamedFrom { old, new } => {
            let old_ids = ids(strings_at(event, old));
            let new_ids = ids(strings_at(event, new));
            if new_ids.is_empty() || new_ids == old_ids {
                Vec::new()
            } else {
                old_ids
            }
        }
        Ids::Table => vec![Target::Refresh],
    }
}

/// The strings at the first path that has any.
fn first_found<'e>(event: &'e CloudTrailEvent, paths: &[&str]) -> Vec<&'e str> {
    paths
        .iter()
        .map(|path| strings_at(event, path))
        .find(|found| !found.is_empty())
        .unwrap_or_default()
}

/// The non-empty strings at `path` (see [`Ids`] for the syntax).
pub(crate) fn strings_at<'e>(event: &'e CloudTrailEvent, path: &str) -> Vec<&'e str> {
    let mut segments = path.split('.').map(segment);
    let Some((root, root_is_array)) = segments.next() else {
        return Vec::new();
    };
    let mut values: Vec<&Value> = event.field(root).into_iter().collect();
    if root_is_array {
        values = values.into_iter().flat_map(elements).collect();
    }
    for (name, is_array) in segments {
        values = values.into_iter().filter_map(|v| v.get(name)).collect();
        if is_array {
            values = values.into_iter().flat_map(elements).collect();
        }
    }
    values
        .into_iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// A path segment: its field name and whether it steps into an array (`items[]`).
fn segment(text: &str) -> (&str, bool) {
    match text.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (text, false),
    }
}

/// The elements of an array; a lone value stands for a one-element array, as CloudTrail
/// sometimes writes a single item without its list.
fn elements(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// The resource id of `arn` if its resource type is `kind`: `arn:aws:rds:r:a:db:NAME` and
/// `arn:aws:ecs:r:a:cluster/NAME` give `NAME` for `db` and `cluster`.
fn arn_resource<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    let mut fields = arn.splitn(6, ':');
    if fields.next() != Some("arn") {
        return None;
    }
    let resource = fields.nth(4)?;
    let (resource_kind, id) = resource.split_once([':', '/'])?;
    (resource_kind == kind && !id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(source: &str, name: &str, extra: Value) -> CloudTrailEvent {
        let mut record = json!({
            "eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
            "recipientAccountId": "111122223333",
        });
        if let (Some(record), Value::Object(extra)) = (record.as_object_mut(), extra) {
            record.extend(extra);
        }
        CloudTrailEvent::from_value(record).expect("record")
    }

    /// (table, id or None for a refresh, action) of each change.
    fn routed(event: &CloudTrailEvent) -> Vec<(&'static str, Option<String>, Action)> {
        match route(event) {
            Outcome::Changes(changes) => changes
                .into_iter()
                .map(|c| {
                    let id = match c.target {
                        Target::Id(id) => Some(id),
                        Target::Refresh => None,
                    };
                    (c.table.name, id, c.action)
                })
                .collect(),
            Outcome::Ignored(reason) => panic!("ignored: {reason}"),
        }
    }

    fn id(table: &'static str, id: &str, action: Action) -> (&'static str, Option<String>, Action) {
        (table, Some(id.to_owned()), action)
    }

    const EC2: &str = "ec2.amazonaws.com";

    #[test]
    fn error_code_wins_over_read_only() {
        let e = event(
            EC2,
            "DescribeInstances",
            json!({"errorCode": "Client.UnauthorizedOperation", "readOnly": true}),
        );
        assert_eq!(
            route(&e),
            Outcome::Ignored(IgnoreReason::ErrorCode(
                "Client.UnauthorizedOperation".into()
            ))
        );
    }

    #[test]
    fn read_only_and_unknown_events_are_ignored() {
        let e = event(EC2, "DescribeVpcs", json!({"readOnly": true}));
        assert_eq!(route(&e), Outcome::Ignored(IgnoreReason::ReadOnly));
        let e = event(EC2, "CreateSnapshot", json!({}));
        assert_eq!(route(&e), Outcome::Ignored(IgnoreReason::Untracked));
    }

    #[test]
    fn nat_gateways_are_created_and_deleted_by_their_wrapped_ids() {
        let created = event(
            EC2,
            "CreateNatGateway",
            json!({"responseElements": {"CreateNatGatewayResponse": {
                "natGateway": {"natGatewayId": "nat-0abc", "subnetId": "subnet-1"}}}}),
        );
        assert_eq!(
            routed(&created),
            [id("aws_ec2_nat_gateways", "nat-0abc", Action::Upsert)]
        );
        let deleted = event(
            EC2,
            "DeleteNatGateway",
            json!({"requestParameters": {"DeleteNatGatewayRequest": {"NatGatewayId": "nat-0abc"}}}),
        );
        assert_eq!(
            routed(&deleted),
            [id("aws_ec2_nat_gateways", "nat-0abc", Action::Delete)]
        );
        // Tagged like any EC2 resource, by its `nat-` prefix.
        let tagged = event(
            EC2,
            "CreateTags",
            json!({"requestParameters": {"resourcesSet": {"items": [{"resourceId": "nat-0abc"}]}}}),
        );
        assert_eq!(
            routed(&tagged),
            [id("aws_ec2_nat_gateways", "nat-0abc", Action::Upsert)]
        );
    }

    #[test]
    fn create_tags_routes_each_resource_by_prefix() {
        let items: Vec<Value> = [
            "i-1", "sg-1", "subnet-1", "vpc-1", "igw-1", "rtb-1", "ami-1", "eni-1", "snap-1",
            "vpce-1", "sgr-1", "eigw-1",
        ]
        .iter()
        .map(|id| json!({"resourceId": id}))
        .collect();
        let e = event(
            EC2,
            "CreateTags",
            json!({"requestParameters": {"resourcesSet": {"items": items}}}),
        );
        let up = Action::Upsert;
        assert_eq!(
            routed(&e),
            [
                id("aws_ec2_instances", "i-1", up),
                id("aws_ec2_security_groups", "sg-1", up),
                id("aws_ec2_subnets", "subnet-1", up),
                id("aws_ec2_vpcs", "vpc-1", up),
                id("aws_ec2_internet_gateways", "igw-1", up),
                id("aws_ec2_route_tables", "rtb-1", up),
                id("aws_ec2_network_interfaces", "eni-1", up),
                id("aws_ec2_images", "ami-1", up),
            ]
        );
    }

    #[test]
    fn tags_on_untracked_resources_only_are_untracked() {
        let e = event(
            EC2,
            "DeleteTags",
            json!({"requestParameters": {"resourcesSet": {"items": [{"resourceId": "snap-1"}]}}}),
        );
        assert_eq!(route(&e), Outcome::Ignored(IgnoreReason::Untracked));
    }

    #[test]
    fn a_create_without_response_refreshes_the_table() {
        let e = event(EC2, "RunInstances", json!({"responseElements": null}));
        assert_eq!(
            routed(&e),
            [("aws_ec2_instances", None, Action::Upsert)],
            "the network interfaces row is optional and adds nothing"
        );
    }

    #[test]
    fn renames_delete_the_old_name_and_upsert_the_new() {
        let iam = "iam.amazonaws.com";
        let e = event(
            iam,
            "UpdateUser",
            json!({"requestParameters": {"userName": "Bob", "newUserName": "Robert"}}),
        );
        assert_eq!(
            routed(&e),
            [
                id("aws_iam_users", "Bob", Action::Delete),
                id("aws_iam_users", "Robert", Action::Upsert)
            ]
        );
        let e = event(
            iam,
            "UpdateUser",
            json!({"requestParameters": {"userName": "Bob", "newPath": "/x/"}}),
        );
        assert_eq!(routed(&e), [id("aws_iam_users", "Bob", Action::Upsert)]);
    }

    #[test]
    fn iam_is_global() {
        let e = event(
            "iam.amazonaws.com",
            "TagRole",
            json!({"requestParameters": {"roleName": "r"}}),
        );
        let Outcome::Changes(changes) = route(&e) else {
            panic!("not routed")
        };
        assert_eq!(changes[0].region, "us-east-1");
        assert_eq!(changes[0].account_id, "111122223333");
    }

    #[test]
    fn access_keys_without_user_name_belong_to_the_caller() {
        let e = event(
            "iam.amazonaws.com",
            "DeleteAccessKey",
            json!({"userIdentity": {"type": "IAMUser", "userName": "alice"},
                   "requestParameters": {"accessKeyId": "AKIA..."}}),
        );
        assert_eq!(routed(&e), [id("aws_iam_users", "alice", Action::Upsert)]);
    }

    #[test]
    fn rds_tags_route_by_arn_and_ids_are_lowercased() {
        let rds = "rds.amazonaws.com";
        let e = event(
            rds,
            "AddTagsToResource",
            json!({"requestParameters": {"resourceName": "arn:aws:rds:eu-west-1:1:db:MyDB"}}),
        );
        assert_eq!(
            routed(&e),
            [id("aws_rds_instances", "mydb", Action::Upsert)]
        );
        let e = event(
            rds,
            "RemoveTagsFromResource",
            json!({"requestParameters": {"resourceName": "arn:aws:rds:eu-west-1:1:cluster:c1"}}),
        );
        assert_eq!(routed(&e), [id("aws_rds_clusters", "c1", Action::Upsert)]);
        let e = event(
            rds,
            "AddTagsToResource",
            json!({"requestParameters": {"resourceName": "arn:aws:rds:eu-west-1:1:snapshot:s"}}),
        );
        assert_eq!(route(&e), Outcome::Ignored(IgnoreReason::Untracked));
    }

    #[test]
    fn rds_instance_in_a_cluster_refreshes_the_cluster() {
        let e = event(
            "rds.amazonaws.com",
            "CreateDBInstance",
            json!({"requestParameters": {"dBInstanceIdentifier": "Db-1", "dBClusterIdentifier": "c"},
                   "responseElements": {"dBInstanceIdentifier": "db-1", "dBClusterIdentifier": "c"}}),
        );
        assert_eq!(
            routed(&e),
            [
                id("aws_rds_instances", "db-1", Action::Upsert),
                id("aws_rds_clusters", "c", Action::Upsert)
            ]
        );
    }

    #[test]
    fn ecs_tasks_refresh_their_cluster_by_name() {
        let ecs = "ecs.amazonaws.com";
        let arn = "arn:aws:ecs:eu-west-1:111122223333:cluster/web";
        let e = event(
            ecs,
            "RunTask",
            json!({"requestParameters": {"cluster": "web"},
                   "responseElements": {"tasks": [{"clusterArn": arn}, {"clusterArn": arn}]}}),
        );
        assert_eq!(routed(&e), [id("aws_ecs_clusters", "web", Action::Upsert)]);
        let e = event(
            ecs,
            "StopTask",
            json!({"requestParameters": {"cluster": arn, "task": "t"}, "responseElements": null}),
        );
        assert_eq!(routed(&e), [id("aws_ecs_clusters", "web", Action::Upsert)]);
        let e = event(
            ecs,
            "TagResource",
            json!({"requestParameters": {"resourceArn": arn}}),
        );
        assert_eq!(routed(&e), [id("aws_ecs_clusters", "web", Action::Upsert)]);
    }

    #[test]
    fn many_instances_give_every_id_once() {
        let e = event(
            EC2,
            "StopInstances",
            json!({"requestParameters": {"instancesSet": {"items": [
                {"instanceId": "i-1"}, {"instanceId": "i-2"}, {"instanceId": "i-1"}]}}}),
        );
        let up = Action::Upsert;
        assert_eq!(
            routed(&e),
            [
                id("aws_ec2_instances", "i-1", up),
                id("aws_ec2_instances", "i-2", up)
            ]
        );
    }

    #[test]
    fn arns_are_parsed_strictly() {
        assert_eq!(arn_resource("arn:aws:rds:r:a:db:x", "db"), Some("x"));
        assert_eq!(
            arn_resource("arn:aws:ecs:r:a:cluster/x", "cluster"),
            Some("x")
        );
        assert_eq!(arn_resource("arn:aws:rds:r:a:db:", "db"), None);
        assert_eq!(arn_resource("arn:aws:rds:r:a", "db"), None);
        assert_eq!(arn_resource("db:x", "db"), None);
        assert_eq!(arn_resource("arn:aws:rds:r:a:cluster:x", "db"), None);
    }

    #[test]
    fn paths_step_into_arrays_and_lone_items() {
        let e = event(
            EC2,
            "X",
            json!({"requestParameters": {"a": {"items": {"id": "lone"}}, "b": [["x"], "y", 3]}}),
        );
        assert_eq!(strings_at(&e, "requestParameters.a.items[].id"), ["lone"]);
        assert_eq!(strings_at(&e, "requestParameters.b[]"), ["y"]);
        assert!(strings_at(&e, "requestParameters.missing[].x").is_empty());
        assert!(strings_at(&e, "nothing").is_empty());
    }
}
