//! The decoder meets arbitrary input and never panics, in every form it unwraps.

use std::io::Write;

use flate2::{Compression, write::GzEncoder};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use trailsync_events::{decode, explain, route};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("write to Vec");
    encoder.finish().expect("finish to Vec")
}

/// Keys that steer the decoder and router, mixed with noise, so arbitrary JSON reaches them.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "eventSource", "eventName", "messageType", "logEvents", "message", "Records",
            "detail-type", "detail", "requestParameters", "responseElements", "errorCode",
            "readOnly", "awsRegion", "recipientAccountId", "userIdentity", "instancesSet",
            "items", "instanceId", "resourcesSet", "resourceId", "userName", "newUserName",
        ]).prop_map(str::to_owned),
        1 => "[a-zA-Z]{0,8}",
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ec2.amazonaws.com",
            "iam.amazonaws.com",
            "rds.amazonaws.com",
            "ecs.amazonaws.com",
            "RunInstances",
            "CreateTags",
            "UpdateUser",
            "RunTask",
            "AddTagsToResource",
            "DATA_MESSAGE",
            "CONTROL_MESSAGE",
            "AWS API Call via CloudTrail",
            "i-1",
            "sg-1",
            "arn:aws:rds:r:a:db:x",
            "arn:aws:ecs:r:a:cluster/y",
            "arn:",
            "true",
            "null",
            "",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Decodes, then routes and explains whatever came out: none of it may panic.
fn exercise(bytes: &[u8]) {
    let decoded = decode(bytes);
    for event in &decoded.events {
        let _ = route(event);
    }
    let _ = explain(bytes).render(trailsync_events::Format::Text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
        exercise(&gzip(&bytes));
    }

    #[test]
    fn arbitrary_bytes_behind_gzip_magic(tail in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = vec![0x1f, 0x8b];
        bytes.extend(tail);
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_json(value in json_value()) {
        let text = value.to_string();
        exercise(text.as_bytes());
        exercise(&gzip(text.as_bytes()));
        // The same value in each wrapper the decoder opens.
        let message = json!({"messageType": "DATA_MESSAGE", "logEvents": [{"message": text}]});
        exercise(message.to_string().as_bytes());
        let records = json!({"Records": [value.clone()]});
        exercise(records.to_string().as_bytes());
        let envelope = json!({"detail-type": "AWS API Call via CloudTrail", "detail": value});
        exercise(envelope.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_records(
        source in string(), name in string(),
        request in json_value(), response in json_value(), identity in json_value(),
    ) {
        let record = json!({
            "eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
            "recipientAccountId": "1", "requestParameters": request,
            "responseElements": response, "userIdentity": identity,
        });
        exercise(record.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_json_lines(lines in prop::collection::vec(json_value(), 0..6)) {
        let text: String = lines.iter().map(|v| format!("{v}\n")).collect();
        exercise(text.as_bytes());
    }
}

#[test]
fn every_routed_event_is_routable_with_hostile_payloads() {
    // Each routed event with payloads of the wrong shape: still no panic, and never dropped
    // silently when the route must refresh instead.
    for route_row in trailsync_events::routes() {
        for payload in [json!(null), json!("x"), json!([1, 2]), json!({"items": 3})] {
            let record = json!({
                "eventSource": route_row.source, "eventName": route_row.name,
                "requestParameters": payload, "responseElements": payload,
            });
            exercise(record.to_string().as_bytes());
        }
    }
}
