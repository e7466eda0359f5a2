//! CloudTrail-shaped events, as CloudTrail would log the API calls a test makes against moto.
//!
//! moto emits no CloudTrail events, so tests write them. The shapes follow real records (see
//! `../shared/fixtures/cloudtrail/events/ec2/`): EC2 lists are `{"items": [...]}` wrappers
//! (`instancesSet`, `resourcesSet`, `tagSet`), ids sit in `requestParameters` and/or
//! `responseElements` exactly where the real service puts them, and the envelope carries the fields
//! trailsync reads (`recipientAccountId`, `awsRegion`, `readOnly`, `errorCode`, `eventID`).
//!
//! Every builder returns a plain [`serde_json::Value`], so a test can bend any field afterwards
//! (`ev["responseElements"] = Value::Null`) to model the odd records real trails contain.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// The event version current CloudTrail writes.
pub const EVENT_VERSION: &str = "1.10";

/// EC2's event source.
pub const EC2: &str = "ec2.amazonaws.com";

/// A CloudTrail management event for `name` on `source`, made now by an IAM user of `account` in
/// `region`.
///
/// `readOnly` follows the operation name (`Describe*`, `Get*`, `List*` are reads), as in real trails.
/// Global services (`iam`, `sts` without region) still log `awsRegion` (IAM: `us-east-1`); pass it.
pub fn event(
    source: &str,
    name: &str,
    account: &str,
    region: &str,
    request_parameters: Value,
    response_elements: Value,
) -> Value {
    let request_id = Uuid::new_v4().to_string();
    let read_only = ["Describe", "Get", "List"]
        .iter()
        .any(|prefix| name.starts_with(prefix));
    let service = source.strip_suffix(".amazonaws.com").unwrap_or(source);
    let host = match service {
        "iam" => "iam.amazonaws.com".to_owned(),
        _ => format!("{service}.{region}.amazonaws.com"),
    };
    json!({
        "eventVersion": EVENT_VERSION,
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAQTRAILSYNCTESTKIT",
            "arn": format!("arn:aws:iam::{account}:user/trailsync-test"),
            "accountId": account,
            "accessKeyId": "AKIAQTRAILSYNCTESTKT",
            "userName": "trailsync-test",
        },
        "eventTime": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-sdk-rust/1.3 os/linux lang/rust trailsync-testkit",
        "requestParameters": request_parameters,
        "responseElements": response_elements,
        "requestID": request_id,
        "eventID": Uuid::new_v4().to_string(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": host,
        },
    })
}

/// Turns `event` into a failed call: CloudTrail logs those with `errorCode`/`errorMessage` and a null
/// `responseElements` (trailsync must ignore them).
pub fn with_error(mut event: Value, code: &str, message: &str) -> Value {
    event["errorCode"] = json!(code);
    event["errorMessage"] = json!(message);
    event["responseElements"] = Value::Null;
    event
}

/// The event as EventBridge delivers it (`detail-type: "AWS API Call via CloudTrail"`).
pub fn eventbridge(event: &Value) -> Value {
    let service = event["eventSource"]
        .as_str()
        .and_then(|s| s.strip_suffix(".amazonaws.com"))
        .unwrap_or("unknown");
    json!({
        "version": "0",
        "id": Uuid::new_v4().to_string(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{service}"),
        "account": event["recipientAccountId"],
        "time": event["eventTime"],
        "region": event["awsRegion"],
        "resources": [],
        "detail": event,
    })
}

/// The events as a CloudTrail S3 log file body (`{"Records": [...]}`).
pub fn s3_log_file(events: &[Value]) -> Value {
    json!({ "Records": events })
}

/// `{"items": [...]}`, EC2's wrapper for every list in CloudTrail.
fn items(list: impl IntoIterator<Item = Value>) -> Value {
    json!({ "items": list.into_iter().collect::<Vec<_>>() })
}

fn request_id() -> String {
    Uuid::new_v4().to_string()
}

/// 17 hex digits, the shape of current EC2 ids after the prefix.
fn hex_id(prefix: &str) -> String {
    let hex = Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &hex[..17])
}

/// `RunInstances` that launched `instance_ids` (one reservation; ids in
/// `responseElements.instancesSet.items[].instanceId`, none in the request).
pub fn run_instances(account: &str, region: &str, instance_ids: &[&str]) -> Value {
    const IMAGE: &str = "ami-1e749f67";
    const TYPE: &str = "t3.micro";
    let count = instance_ids.len();
    let launch_ms = Utc::now().timestamp_millis();
    let client_token = Uuid::new_v4().to_string();
    let (vpc, subnet, group) = (hex_id("vpc"), hex_id("subnet"), hex_id("sg"));
    let instances = instance_ids.iter().enumerate().map(|(index, id)| {
        json!({
            "instanceId": id,
            "imageId": IMAGE,
            "instanceState": { "code": 0, "name": "pending" },
            "privateDnsName": format!("ip-10-0-0-{}.ec2.internal", 10 + index),
            "amiLaunchIndex": index,
            "productCodes": {},
            "instanceType": TYPE,
            "launchTime": launch_ms,
            "placement": { "availabilityZone": format!("{region}a"), "tenancy": "default" },
            "monitoring": { "state": "disabled" },
            "subnetId": subnet,
            "vpcId": vpc,
            "privateIpAddress": format!("10.0.0.{}", 10 + index),
            "sourceDestCheck": true,
            "groupSet": items([json!({ "groupId": group, "groupName": "default" })]),
            "stateReason": { "code": "pending", "message": "pending" },
            "architecture": "x86_64",
            "rootDeviceType": "ebs",
            "rootDeviceName": "/dev/xvda",
            "blockDeviceMapping": {},
            "virtualizationType": "hvm",
            "clientToken": client_token,
            "hypervisor": "xen",
            "ebsOptimized": false,
            "enaSupport": true,
        })
    });
    event(
        EC2,
        "RunInstances",
        account,
        region,
        json!({
            "instancesSet": items([json!({ "imageId": IMAGE, "minCount": count, "maxCount": count })]),
            "instanceType": TYPE,
            "blockDeviceMapping": {},
            "monitoring": { "enabled": false },
            "disableApiTermination": false,
            "disableApiStop": false,
            "clientToken": client_token,
        }),
        json!({
            "requestId": request_id(),
            "reservationId": hex_id("r"),
            "ownerId": account,
            "groupSet": {},
            "instancesSet": items(instances),
        }),
    )
}

fn resources_set(resource_ids: &[&str]) -> Value {
    items(resource_ids.iter().map(|id| json!({ "resourceId": id })))
}

/// `CreateTags` on any EC2 resources (`requestParameters.resourcesSet.items[].resourceId`,
/// `tagSet.items[]{key,value}`); the response carries no ids.
pub fn create_tags(
    account: &str,
    region: &str,
    resource_ids: &[&str],
    tags: &[(&str, &str)],
) -> Value {
    event(
        EC2,
        "CreateTags",
        account,
        region,
        json!({
            "resourcesSet": resources_set(resource_ids),
            "tagSet": items(tags.iter().map(|(k, v)| json!({ "key": k, "value": v }))),
        }),
        json!({ "requestId": request_id(), "_return": true }),
    )
}

/// `DeleteTags` of `keys` (tag items carry only `key` when no value was given).
pub fn delete_tags(account: &str, region: &str, resource_ids: &[&str], keys: &[&str]) -> Value {
    event(
        EC2,
        "DeleteTags",
        account,
        region,
        json!({
            "resourcesSet": resources_set(resource_ids),
            "tagSet": items(keys.iter().map(|k| json!({ "key": k }))),
        }),
        json!({ "requestId": request_id(), "_return": true }),
    )
}

/// An EC2 instance state as CloudTrail logs it.
fn state(code: u8, name: &str) -> Value {
    json!({ "code": code, "name": name })
}

/// The shape shared by Start/Stop/TerminateInstances: ids in the request, and per instance the state
/// change in the response.
fn state_change(
    name: &str,
    account: &str,
    region: &str,
    instance_ids: &[&str],
    extra_request: &[(&str, Value)],
    previous: Value,
    current: Value,
) -> Value {
    let mut request = json!({
        "instancesSet": items(instance_ids.iter().map(|id| json!({ "instanceId": id }))),
    });
    for (key, value) in extra_request {
        request[*key] = value.clone();
    }
    let changes = instance_ids
        .iter()
        .map(|id| json!({ "instanceId": id, "currentState": current, "previousState": previous }));
    event(
        EC2,
        name,
        account,
        region,
        request,
        json!({ "requestId": request_id(), "instancesSet": items(changes) }),
    )
}

/// `StartInstances`: stopped (80) -> pending (0).
pub fn start_instances(account: &str, region: &str, instance_ids: &[&str]) -> Value {
    state_change(
        "StartInstances",
        account,
        region,
        instance_ids,
        &[],
        state(80, "stopped"),
        state(0, "pending"),
    )
}

/// `StopInstances`: running (16) -> stopping (64).
pub fn stop_instances(account: &str, region: &str, instance_ids: &[&str]) -> Value {
    state_change(
        "StopInstances",
        account,
        region,
        instance_ids,
        &[("force", json!(false))],
        state(16, "running"),
        state(64, "stopping"),
    )
}

/// `TerminateInstances`: running (16) -> shutting-down (32).
pub fn terminate_instances(account: &str, region: &str, instance_ids: &[&str]) -> Value {
    state_change(
        "TerminateInstances",
        account,
        region,
        instance_ids,
        &[("force", json!(false)), ("skipOsShutdown", json!(false))],
        state(16, "running"),
        state(32, "shutting-down"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "111122223333";

    fn ids_at(value: &Value, list: &str, field: &str) -> Vec<String> {
        value[list]["items"]
            .as_array()
            .expect("items array")
            .iter()
            .map(|item| item[field].as_str().expect("id string").to_owned())
            .collect()
    }

    #[test]
    fn envelope_has_the_fields_trailsync_routes_on() {
        let ev = create_tags(ACCOUNT, "eu-west-1", &["i-1"], &[("Name", "web")]);
        assert_eq!(ev["recipientAccountId"], ACCOUNT);
        assert_eq!(ev["awsRegion"], "eu-west-1");
        assert_eq!(ev["eventSource"], EC2);
        assert_eq!(ev["eventName"], "CreateTags");
        assert_eq!(ev["readOnly"], false);
        assert_eq!(ev["eventType"], "AwsApiCall");
        assert_eq!(ev["managementEvent"], true);
        assert_eq!(ev["userIdentity"]["accountId"], ACCOUNT);
        assert!(ev.get("errorCode").is_none());
        assert_ne!(
            ev["eventID"],
            create_tags(ACCOUNT, "eu-west-1", &["i-1"], &[])["eventID"]
        );
        let time = ev["eventTime"].as_str().expect("eventTime string");
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z'));
        assert_eq!(
            ev["tlsDetails"]["clientProvidedHostHeader"],
            "ec2.eu-west-1.amazonaws.com"
        );
        let describe = event(
            EC2,
            "DescribeInstances",
            ACCOUNT,
            "eu-west-1",
            json!({}),
            Value::Null,
        );
        assert_eq!(describe["readOnly"], true);
    }

    #[test]
    fn ec2_events_put_ids_where_cloudtrail_does() {
        let run = run_instances(ACCOUNT, "us-east-1", &["i-a", "i-b"]);
        assert_eq!(
            ids_at(&run["responseElements"], "instancesSet", "instanceId"),
            ["i-a", "i-b"]
        );
        assert_eq!(
            run["requestParameters"]["instancesSet"]["items"][0]["maxCount"],
            2
        );
        assert_eq!(run["responseElements"]["ownerId"], ACCOUNT);

        let tags = create_tags(ACCOUNT, "us-east-1", &["i-a", "sg-1"], &[("k", "v")]);
        assert_eq!(
            ids_at(&tags["requestParameters"], "resourcesSet", "resourceId"),
            ["i-a", "sg-1"]
        );
        assert_eq!(
            tags["requestParameters"]["tagSet"]["items"][0],
            json!({"key": "k", "value": "v"})
        );

        let untag = delete_tags(ACCOUNT, "us-east-1", &["i-a"], &["k"]);
        assert_eq!(
            untag["requestParameters"]["tagSet"]["items"][0],
            json!({"key": "k"})
        );

        for (ev, current) in [
            (start_instances(ACCOUNT, "us-east-1", &["i-a"]), "pending"),
            (stop_instances(ACCOUNT, "us-east-1", &["i-a"]), "stopping"),
            (
                terminate_instances(ACCOUNT, "us-east-1", &["i-a"]),
                "shutting-down",
            ),
        ] {
            assert_eq!(
                ids_at(&ev["requestParameters"], "instancesSet", "instanceId"),
                ["i-a"]
            );
            assert_eq!(
                ids_at(&ev["responseElements"], "instancesSet", "instanceId"),
                ["i-a"]
            );
            assert_eq!(
                ev["responseElements"]["instancesSet"]["items"][0]["currentState"]["name"],
                current
            );
        }
    }

    /// The builders must stay structurally faithful to the published records the project tests
    /// against (`../shared/fixtures`, read in place, never copied): every field a builder writes must
    /// exist in the real record, and the state-change events must have exactly the real fields.
    #[test]
    fn builders_match_the_shape_of_real_records() {
        let Some(dir) = trailsync_catalog::testing::shared("fixtures/cloudtrail/events/ec2") else {
            return;
        };
        let cases = [
            (
                "RunInstances.json",
                run_instances(ACCOUNT, "us-east-1", &["i-a"]),
                false,
            ),
            (
                "CreateTags.json",
                create_tags(ACCOUNT, "us-east-1", &["i-a"], &[("k", "v")]),
                true,
            ),
            (
                "StartInstances.json",
                start_instances(ACCOUNT, "us-east-1", &["i-a"]),
                true,
            ),
            (
                "StopInstances.json",
                stop_instances(ACCOUNT, "us-east-1", &["i-a"]),
                true,
            ),
            (
                "TerminateInstances.json",
                terminate_instances(ACCOUNT, "us-east-1", &["i-a"]),
                true,
            ),
        ];
        let keys = |v: &Value| -> Vec<String> {
            let mut k: Vec<String> = v
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            k.sort();
            k
        };
        for (file, built, exact) in cases {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()));
            let real: Value = serde_json::from_str(&text).expect("fixture is JSON");
            // The 2024 records carry every envelope field current CloudTrail writes.
            if file.starts_with("St") {
                assert_eq!(keys(&built), keys(&real), "{file} envelope fields");
            }
            let parts = [
                (
                    "requestParameters",
                    &built["requestParameters"],
                    &real["requestParameters"],
                ),
                (
                    "responseElements",
                    &built["responseElements"],
                    &real["responseElements"],
                ),
                (
                    "responseElements.instancesSet item",
                    &built["responseElements"]["instancesSet"]["items"][0],
                    &real["responseElements"]["instancesSet"]["items"][0],
                ),
            ];
            for (part, b, r) in parts {
                let (b, r) = (keys(b), keys(r));
                let invented: Vec<&String> = b.iter().filter(|k| !r.contains(k)).collect();
                assert!(
                    invented.is_empty(),
                    "{file} {part}: fields not in the real record: {invented:?}"
                );
                if exact {
                    assert_eq!(b, r, "{file} {part} fields");
                }
            }
        }
    }

    #[test]
    fn failed_calls_and_other_envelopes() {
        let failed = with_error(
            terminate_instances(ACCOUNT, "us-east-1", &["i-a"]),
            "Client.UnauthorizedOperation",
            "You are not authorized",
        );
        assert_eq!(failed["errorCode"], "Client.UnauthorizedOperation");
        assert!(failed["responseElements"].is_null());

        let ev = run_instances(ACCOUNT, "us-east-1", &["i-a"]);
        let bridged = eventbridge(&ev);
        assert_eq!(bridged["detail-type"], "AWS API Call via CloudTrail");
        assert_eq!(bridged["source"], "aws.ec2");
        assert_eq!(bridged["detail"], ev);
        assert_eq!(s3_log_file(std::slice::from_ref(&ev))["Records"][0], ev);
    }
}
