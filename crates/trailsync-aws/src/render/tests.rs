use std::collections::HashMap;

use aws_sdk_ec2::types::{
    AttachmentStatus, EbsInstanceBlockDevice, Instance, InstanceBlockDeviceMapping, InstanceState,
    InstanceStateName, InstanceType, IpPermission, IpRange, LaunchPermission, Monitoring,
    MonitoringState, Placement, SecurityGroup, Subnet, SubnetState, Tag, UserIdGroupPair,
};
use aws_smithy_types::{Blob, DateTime, Document, Number};
use serde_json::{Value, json};
use trailsync_catalog::{Row, Value as Cell};

use super::{Render, RenderObject, render_object, tags_object};

/// 2026-11-24T10:00:00Z
const LAUNCH: i64 = 1_795_514_400;

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn instance() -> Instance {
    Instance::builder()
        .instance_id("i-0abc")
        .instance_type(InstanceType::T2Micro)
        .ami_launch_index(0)
        .ebs_optimized(false)
        .state(
            InstanceState::builder()
                .code(16)
                .name(InstanceStateName::Running)
                .build(),
        )
        .launch_time(DateTime::from_secs(LAUNCH))
        .tags(tag("Name", "web"))
        .tags(tag("env", "prod"))
        .block_device_mappings(
            InstanceBlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(
                    EbsInstanceBlockDevice::builder()
                        .volume_id("vol-1")
                        .status(AttachmentStatus::Attached)
                        .attach_time(DateTime::from_secs_and_nanos(LAUNCH + 2, 250_000_000))
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .monitoring(
            Monitoring::builder()
                .state(MonitoringState::Disabled)
                .build(),
        )
        .placement(
            Placement::builder()
                .availability_zone("eu-west-1a")
                .tenancy("default".into())
                .build(),
        )
        .build()
}

#[test]
fn an_instance_renders_as_cloudquery_json() {
    assert_eq!(
        instance().render(),
        json!({
            "InstanceId": "i-0abc",
            "InstanceType": "t2.micro",
            "AmiLaunchIndex": 0,
            "EbsOptimized": false,
            "State": {"Code": 16, "Name": "running"},
            "LaunchTime": "2026-11-24T10:00:00Z",
            "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "env", "Value": "prod"}],
            "BlockDeviceMappings": [{
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeId": "vol-1",
                    "Status": "attached",
                    "AttachTime": "2026-11-24T10:00:02.25Z",
                    "DeleteOnTermination": true
                }
            }],
            "Monitoring": {"State": "disabled"},
            "Placement": {"AvailabilityZone": "eu-west-1a", "Tenancy": "default"}
        })
    );
}

#[test]
fn none_fields_are_left_out_and_empty_structs_are_empty_objects() {
    assert_eq!(Instance::builder().build().render(), json!({}));
    let state = InstanceState::builder().code(80).build();
    assert_eq!(state.render(), json!({"Code": 80}));
    assert_eq!(None::<InstanceState>.render(), Value::Null);
    // An empty list is a value, not a missing one.
    let group = SecurityGroup::builder()
        .group_id("sg-1")
        .set_ip_permissions(Some(vec![]))
        .build();
    assert_eq!(
        group.render(),
        json!({"GroupId": "sg-1", "IpPermissions": []})
    );
}

#[test]
fn unknown_enum_values_render_as_sent() {
    let instance = Instance::builder()
        .instance_type(InstanceType::from("x9.future"))
        .state(
            InstanceState::builder()
                .name(InstanceStateName::from("hibernating"))
                .build(),
        )
        .build();
    assert_eq!(
        instance.render(),
        json!({"InstanceType": "x9.future", "State": {"Name": "hibernating"}})
    );
}

#[test]
fn nested_lists_of_structs_keep_pascal_case_keys() {
    let group = SecurityGroup::builder()
        .group_id("sg-1")
        .group_name("web")
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .description("https")
                        .build(),
                )
                .user_id_group_pairs(
                    UserIdGroupPair::builder()
                        .group_id("sg-2")
                        .user_id("111122223333")
                        .build(),
                )
                .build(),
        )
        .build();
    assert_eq!(
        group.render(),
        json!({
            "GroupId": "sg-1",
            "GroupName": "web",
            "IpPermissions": [{
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
                "UserIdGroupPairs": [{"GroupId": "sg-2", "UserId": "111122223333"}]
            }]
        })
    );
}

#[test]
fn keyword_fields_drop_their_escape() {
    // `Subnet::r#type` is the API's `Type`.
    let subnet = Subnet::builder()
        .subnet_id("subnet-1")
        .state(SubnetState::Available)
        .r#type("elastic-vpc")
        .enable_dns64(true)
        .ipv6_native(false)
        .build();
    assert_eq!(
        subnet.render(),
        json!({
            "SubnetId": "subnet-1",
            "State": "available",
            "Type": "elastic-vpc",
            "EnableDns64": true,
            "Ipv6Native": false
        })
    );
}

#[test]
fn render_object_is_what_row_from_json_takes() {
    let table = trailsync_catalog::table("aws_ec2_instances").expect("instances table");
    let mut object = instance().render_object();
    object.insert(
        "arn".into(),
        json!("arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"),
    );
    let tags = tags_object(object.get("Tags"));
    object.insert("tags".into(), tags);
    let row = Row::from_json(table, &object, None).expect("row");
    assert_eq!(row.get("instance_id"), Some(&Cell::Text("i-0abc".into())));
    assert_eq!(
        row.get("instance_type"),
        Some(&Cell::Text("t2.micro".into()))
    );
    assert_eq!(row.get("ami_launch_index"), Some(&Cell::BigInt(0)));
    assert_eq!(row.get("ebs_optimized"), Some(&Cell::Boolean(false)));
    assert_eq!(
        row.get("state"),
        Some(&Cell::Json(json!({"Code": 16, "Name": "running"})))
    );
    assert_eq!(
        row.get("tags"),
        Some(&Cell::Json(json!({"Name": "web", "env": "prod"})))
    );
    assert_eq!(
        row.get("launch_time"),
        Some(&Cell::Timestamp(
            chrono::DateTime::from_timestamp(LAUNCH, 0).expect("in range")
        ))
    );
    assert_eq!(row.get("vpc_id"), Some(&Cell::Null));

    assert_eq!(render_object(&instance()), instance().render_object());
    let permission = LaunchPermission::builder().user_id("111122223333").build();
    assert_eq!(
        Value::Object(render_object(&permission)),
        json!({"UserId": "111122223333"})
    );
    // Not an object: nothing to build a row from.
    assert!(render_object(&Some(7)).is_empty());
}

#[test]
fn tags_object_handles_missing_and_valueless_tags() {
    assert_eq!(tags_object(None), json!({}));
    assert_eq!(tags_object(Some(&json!([]))), json!({}));
    assert_eq!(
        tags_object(Some(&json!([{"Key": "a"}, {"Key": "b", "Value": ""}]))),
        json!({"a": "", "b": ""})
    );
}

#[test]
fn date_times_are_rfc3339_utc_with_fractions_only_when_present() {
    let at = |secs, nanos| DateTime::from_secs_and_nanos(secs, nanos).render();
    assert_eq!(at(LAUNCH, 0), json!("2026-11-24T10:00:00Z"));
    assert_eq!(at(LAUNCH, 500_000_000), json!("2026-11-24T10:00:00.5Z"));
    assert_eq!(at(LAUNCH, 123_000_000), json!("2026-11-24T10:00:00.123Z"));
    assert_eq!(at(LAUNCH, 1), json!("2026-11-24T10:00:00.000000001Z"));
    assert_eq!(at(0, 0), json!("1970-01-01T00:00:00Z"));
    assert_eq!(at(-1, 500_000_000), json!("1969-12-31T23:59:59.5Z"));
}

#[test]
fn primitives_and_containers() {
    assert_eq!("a".render(), json!("a"));
    assert_eq!(String::from("b").render(), json!("b"));
    assert_eq!(true.render(), json!(true));
    assert_eq!(7i32.render(), json!(7));
    assert_eq!((-7i64).render(), json!(-7));
    assert_eq!(0.1f32.render(), json!(0.1));
    assert_eq!(2.5f64.render(), json!(2.5));
    assert_eq!(f64::NAN.render(), Value::Null);
    assert_eq!(Some(vec![1, 2]).render(), json!([1, 2]));
    assert_eq!(Vec::<i32>::new().render(), json!([]));
    let map: HashMap<String, Vec<String>> = [
        ("b".to_owned(), vec!["x".to_owned()]),
        ("a".to_owned(), vec![]),
    ]
    .into();
    assert_eq!(map.render(), json!({"a": [], "b": ["x"]}));
    assert_eq!(Blob::new(b"hi!".to_vec()).render(), json!("aGkh"));
}

#[test]
fn documents_render_as_the_json_they_hold() {
    let document = Document::Object(
        [
            ("n".to_owned(), Document::Number(Number::PosInt(1))),
            ("m".to_owned(), Document::Number(Number::NegInt(-2))),
            ("f".to_owned(), Document::Number(Number::Float(0.5))),
            (
                "l".to_owned(),
                Document::Array(vec![
                    Document::String("s".into()),
                    Document::Bool(true),
                    Document::Null,
                ]),
            ),
        ]
        .into(),
    );
    assert_eq!(
        document.render(),
        json!({"n": 1, "m": -2, "f": 0.5, "l": ["s", true, null]})
    );
}
