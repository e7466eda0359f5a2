use serde_json::json;

use super::*;

/// Tables declared beyond the shared reference (a fixed subset of CloudQuery's tables), with
/// where their columns come from: CloudQuery's own table docs, checked by hand.
const BEYOND_REFERENCE: &[(&str, &str)] = &[(
    "aws_ec2_nat_gateways",
    "cloudquery/cloudquery plugins/source/aws/docs/tables/aws_ec2_nat_gateways.md (plugin v22)",
)];

/// The reference lists CloudQuery's columns; our declarations must match them name for name.
#[test]
fn every_table_matches_the_cloudquery_reference() {
    let Some(path) = crate::testing::shared("reference/cloudquery-aws-tables.json") else {
        return;
    };
    let text = std::fs::read_to_string(path).expect("the shared reference is readable");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("reference is JSON");
    let reference = reference["tables"].as_array().expect("tables array");
    for table in TABLES.iter() {
        let Some(expected) = reference.iter().find(|t| t["name"] == table.name) else {
            assert!(
                BEYOND_REFERENCE.iter().any(|(name, _)| *name == table.name),
                "{} is neither in the reference nor in BEYOND_REFERENCE",
                table.name
            );
            continue;
        };
        let expected_columns: Vec<(&str, &str)> = expected["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter(|c| !c["name"].as_str().unwrap_or("").starts_with("_cq_"))
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or(""),
                    c["type"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let ours: Vec<(&str, &str)> = table
            .columns
            .iter()
            .map(|c| (c.name, arrow_type(c.ty)))
            .collect();
        assert_eq!(ours, expected_columns, "columns of {}", table.name);
        let expected_key: Vec<&str> = expected["primary_key"]
            .as_array()
            .expect("primary_key")
            .iter()
            .filter_map(|k| k.as_str())
            .collect();
        assert_eq!(
            table.primary_key,
            expected_key.as_slice(),
            "key of {}",
            table.name
        );
        assert_eq!(
            table.parent.map(|p| p.name),
            expected["parent"].as_str(),
            "parent of {}",
            table.name
        );
        if let Some(id) = table.id_column() {
            assert!(
                table.column_index(id).is_some(),
                "{}: id column {id}",
                table.name
            );
        }
    }
}

fn arrow_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "utf8",
        ColumnType::BigInt => "int64",
        ColumnType::Boolean => "bool",
        ColumnType::Double => "float64",
        ColumnType::Timestamp => "timestamp[us, tz=UTC]",
        ColumnType::Json => "json",
        ColumnType::TextArray => "list<item: utf8, nullable>",
        ColumnType::Uuid => "uuid",
    }
}

#[test]
fn cq_id_is_deterministic_and_key_sensitive() {
    let a = cq_id(
        "aws_ec2_instances",
        &["arn:aws:ec2:us-east-1:1:instance/i-1"],
    );
    assert_eq!(
        a,
        cq_id(
            "aws_ec2_instances",
            &["arn:aws:ec2:us-east-1:1:instance/i-1"]
        )
    );
    assert_ne!(
        a,
        cq_id(
            "aws_ec2_instances",
            &["arn:aws:ec2:us-east-1:1:instance/i-2"]
        )
    );
    assert_ne!(cq_id("t", &["a|1:b", "c"]), cq_id("t", &["a", "b|1:c"]));
    assert_eq!(a.get_version_num(), 5);
}

#[test]
fn pascal_case_matches_api_field_names() {
    assert_eq!(to_pascal_case("instance_id"), "InstanceId");
    assert_eq!(to_pascal_case("ipv6_address"), "Ipv6Address");
    assert_eq!(to_pascal_case("state"), "State");
}

#[test]
fn rows_take_computed_columns_then_api_fields() {
    let table = table("aws_ec2_instances").expect("instances table");
    let object = json!({
        "arn": "arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc",
        "account_id": "111122223333",
        "tags": {"Name": "web", "note": "'); DROP TABLE x; --"},
        "InstanceId": "i-0abc",
        "AmiLaunchIndex": 0,
        "EbsOptimized": false,
        "LaunchTime": "2026-11-24T10:00:00Z",
        "State": {"Code": 16, "Name": "running"},
        "Unrelated": "ignored",
        "Ipv6Address": "::1",
        "VPCId": "vpc-1"
    });
    let row = Row::from_json(table, object.as_object().expect("object"), None).expect("row");
    assert_eq!(row.get("instance_id"), Some(&Value::Text("i-0abc".into())));
    assert_eq!(row.get("ami_launch_index"), Some(&Value::BigInt(0)));
    assert_eq!(row.get("ebs_optimized"), Some(&Value::Boolean(false)));
    assert_eq!(
        row.get("state"),
        Some(&Value::Json(json!({"Code": 16, "Name": "running"})))
    );
    assert!(matches!(row.get("launch_time"), Some(Value::Timestamp(_))));
    assert_eq!(row.get("ipv6_address"), Some(&Value::Text("::1".into())));
    assert_eq!(
        row.get("vpc_id"),
        Some(&Value::Text("vpc-1".into())),
        "Go-style acronyms match"
    );
    assert_eq!(row.get("subnet_id"), Some(&Value::Null));
    assert_eq!(
        row.cq_id,
        cq_id(
            table.name,
            &["arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"]
        )
    );
}

#[test]
fn a_row_without_its_key_is_an_error() {
    let table = table("aws_ec2_instances").expect("instances table");
    let err = Row::from_json(table, &serde_json::Map::new(), None).expect_err("no arn");
    assert_eq!(
        err,
        RowError::MissingKey {
            table: "aws_ec2_instances",
            column: "arn"
        }
    );
}
