//! Routing: what one CloudTrail event means for the inventory.
//!
//! [`route`] interprets the data in [`crate::routes`]; it knows no event by name.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use trailsync_catalog::{GLOBAL_REGION, Service, Table};

use crate::event::CloudTrailEvent;
use crate::json;
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
    let mut payloads = Payloads::new(event);
    for route in routes_for_event(&event.event_source, &event.event_name) {
        for target in targets(route, &mut payloads) {
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
fn targets(route: &Route, event: &mut Payloads<'_>) -> Vec<Target> {
    let Some(resource_id) = route.table.id else {
        return Vec::new();
    };
    let ids = |found: &mut dyn Iterator<Item = &str>| -> Vec<Target> {
        let mut seen = HashSet::new();
        found
            .filter_map(|id| resource_id.normalise(id))
            .filter(|id| seen.insert(id.clone()))
            .map(Target::Id)
            .collect()
    };
    match route.ids {
        Ids::First(paths) => {
            let found = ids(&mut first_found(event, paths).iter().map(AsRef::as_ref));
            if found.is_empty() {
                vec![Target::Refresh]
            } else {
                found
            }
        }
        Ids::Optional(paths) => ids(&mut first_found(event, paths).iter().map(AsRef::as_ref)),
        Ids::Prefixed { path, prefix } => ids(&mut strings_at(event, path)
            .iter()
            .map(AsRef::as_ref)
            .filter(|id| id.starts_with(prefix))),
        Ids::Arn { path, kind } => ids(&mut strings_at(event, path)
            .iter()
            .filter_map(|arn| arn_resource(arn, kind))),
        Ids::RenamedFrom { old, new } => {
            let old_ids = ids(&mut strings_at(event, old).iter().map(AsRef::as_ref));
            let new_ids = ids(&mut strings_at(event, new).iter().map(AsRef::as_ref));
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
fn first_found<'e>(event: &mut Payloads<'e>, paths: &[&str]) -> Vec<Cow<'e, str>> {
    paths
        .iter()
        .map(|path| strings_at(event, path))
        .find(|found| !found.is_empty())
        .unwrap_or_default()
}

/// An event's payloads as routing reads them: the members of each payload are found in one pass
/// the first time a path names it, and every path after that starts from them. (Routes of one
/// event mostly look into the same payload: `RunInstances` has several, all in
/// `responseElements`, whose text can run to many kilobytes.)
pub(crate) struct Payloads<'e> {
    event: &'e CloudTrailEvent,
    read: Vec<(String, json::Members<'e>)>,
}

impl<'e> Payloads<'e> {
    pub(crate) fn new(event: &'e CloudTrailEvent) -> Payloads<'e> {
        Payloads {
            event,
            read: Vec::new(),
        }
    }

    /// Member `name` of payload `root` (the last, if it repeats).
    fn member(&mut self, root: &str, name: &str) -> Option<&'e RawValue> {
        let index = match self.read.iter().position(|(r, _)| r == root) {
            Some(index) => index,
            None => {
                let members = self
                    .event
                    .field(root)
                    .map(json::members)
                    .unwrap_or_default();
                self.read.push((root.to_owned(), members));
                self.read.len() - 1
            }
        };
        self.read[index]
            .1
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| *value)
    }
}

/// The non-empty strings at `path` (see [`Ids`] for the syntax), read from the record's text
/// without building it.
pub(crate) fn strings_at<'e>(payloads: &mut Payloads<'e>, path: &str) -> Vec<Cow<'e, str>> {
    let mut segments = path.split('.').map(segment);
    let Some((root, root_is_array)) = segments.next() else {
        return Vec::new();
    };
    let mut values: Vec<&RawValue> = Vec::new();
    match segments.next() {
        // The usual path, `payload.field...`: from the payload's members.
        Some((name, is_array)) if !root_is_array => {
            values.extend(payloads.member(root, name));
            if is_array {
                values = values.into_iter().flat_map(json::elements).collect();
            }
        }
        first => {
            values.extend(payloads.event.field(root));
            if root_is_array {
                values = values.into_iter().flat_map(json::elements).collect();
            }
            if let Some((name, is_array)) = first {
                values = step(values, name, is_array);
            }
        }
    }
    for (name, is_array) in segments {
        values = step(values, name, is_array);
    }
    values
        .into_iter()
        .filter_map(json::string)
        .map(|s| match s {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// One step of a path: member `name` of each value, then its items if the step says `[]`.
fn step<'e>(values: Vec<&'e RawValue>, name: &str, is_array: bool) -> Vec<&'e RawValue> {
    let found = values.into_iter().filter_map(|v| json::member(v, name));
    if is_array {
        found.flat_map(json::elements).collect()
    } else {
        found.collect()
    }
}

/// A path segment: its field name and whether it steps into an array (`items[]`).
fn segment(text: &str) -> (&str, bool) {
    match text.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (text, false),
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
    use serde_json::{Value, json};

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
        // Any event with a route: only those have their payloads read.
        let e = event(
            EC2,
            "CreateTags",
            json!({"requestParameters": {"a": {"items": {"id": "lone"}}, "b": [["x"], "y", 3]}}),
        );
        let mut payloads = Payloads::new(&e);
        let mut at = |path| strings_at(&mut payloads, path);
        assert_eq!(at("requestParameters.a.items[].id"), ["lone"]);
        assert_eq!(at("requestParameters.b[]"), ["y"]);
        assert!(at("requestParameters.missing[].x").is_empty());
        assert!(at("requestParameters").is_empty());
        assert!(at("nothing").is_empty());
    }
}
