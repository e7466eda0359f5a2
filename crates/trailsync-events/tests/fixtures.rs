//! Every real CloudTrail record in `../shared/fixtures/cloudtrail/events/`, explained, against
//! expectations written by reading each record; then each record in every accepted form.

use std::io::Write;
use std::path::PathBuf;

use flate2::{Compression, write::GzEncoder};
use serde_json::{Value, json};
use trailsync_events::{Explanation, SkipReason, decode, explain};

const INSTANCES: &str = "aws_ec2_instances";
const SECURITY_GROUPS: &str = "aws_ec2_security_groups";
const VPCS: &str = "aws_ec2_vpcs";
const ROUTE_TABLES: &str = "aws_ec2_route_tables";
const ENIS: &str = "aws_ec2_network_interfaces";
const IMAGES: &str = "aws_ec2_images";
const ROLES: &str = "aws_iam_roles";
const USERS: &str = "aws_iam_users";
const GROUPS: &str = "aws_iam_groups";
const DB_INSTANCES: &str = "aws_rds_instances";
const DB_CLUSTERS: &str = "aws_rds_clusters";
const ECS_CLUSTERS: &str = "aws_ecs_clusters";

const U: &str = "upsert";
const D: &str = "delete";

/// What one fixture must explain to.
struct Case {
    file: &'static str,
    event_id: Option<&'static str>,
    account: &'static str,
    region: &'static str,
    want: Want,
}

enum Want {
    Ignored(&'static str),
    /// (table, id or None for the whole table, action), in order.
    Changes(&'static [(&'static str, Option<&'static str>, &'static str)]),
}

use Want::{Changes, Ignored};

const fn case(
    file: &'static str,
    event_id: Option<&'static str>,
    account: &'static str,
    region: &'static str,
    want: Want,
) -> Case {
    Case {
        file,
        event_id,
        account,
        region,
        want,
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Untracked services, and events that share a name with a tracked one in another service.
    case("cloudhsm/CreateCluster.json", Some("afeaa423-04ce-4fc5-9d12-03fb508dff1d"), "644160558196", "us-east-1", Ignored("untracked")),
    case("cloudtrail/StopLogging.json", Some("10163ed2-2253-469d-a5ee-cbc6651f8934"), "143434273843", "apiso-centralnorth-2r", Ignored("untracked")),
    case("elasticfilesystem/CreateTags.json", Some("eEXAMPLE-2d32-4619-bd00-657EXAMPLEe4"), "111122223333", "us-west-2", Ignored("untracked")),
    case("s3/PutObject.json", Some("6829a09f-4a37-4ec7-86d2-e739f77a57f3"), "000000000", "us-east-1", Ignored("untracked")),
    // No recipientAccountId: the account comes from userIdentity.
    case("signin/ConsoleLogin.json", Some("3fcfb182-98f8-4744-bd45-10aEXAMPLE"), "111122223333", "us-east-2", Ignored("untracked")),
    case("sts/AssumeRole.json", Some("1917948f-3042-46ec-98e2-62865EXAMPLE"), "111111111111", "us-east-2", Ignored("untracked")),
    case("sts/GetCallerIdentity.json", Some("b379479b-05c9-4c3c-af4b-cbd43acf29e1"), "017622104382", "us-north-2r", Ignored("readOnly")),

    // EC2
    case("ec2/AuthorizeSecurityGroupEgress-2.json", Some("1a593035-e072-49c4-8c72-4ff35e195330"), "112233445566", "us-east-1",
         Changes(&[(SECURITY_GROUPS, Some("sg-03eee825d6bb78f54"), U)])),
    case("ec2/AuthorizeSecurityGroupEgress.json", Some("72a37ea2-cbf9-47bf-9ae0-0149d8acbbbc"), "000000000", "us-east-1",
         Changes(&[(SECURITY_GROUPS, Some("sg-038ccc3a1f7b05f42"), U)])),
    case("ec2/AuthorizeSecurityGroupIngress-2.json", Some("9fd68588-ecbf-4528-a345-199fa6bb0821"), "032092706103", "us-northeast-1r",
         Changes(&[(SECURITY_GROUPS, Some("sg-003dc7f1f1c686164"), U)])),
    case("ec2/AuthorizeSecurityGroupIngress.json", Some("c409b898-91e4-44d5-a994-68741a8a0212"), "000000000", "us-east-1",
         Changes(&[(SECURITY_GROUPS, Some("sg-0f63fecfa17ef4fee"), U)])),
    case("ec2/CreateImage.json", Some("0ea3f05a-066c-43f9-8869-393ba67e7936"), "123456789101", "us-east-1",
         Changes(&[(IMAGES, Some("ami-06aaf5e4b77161786"), U)])),
    case("ec2/CreateSecurityGroup.json", Some("52601748-2659-4ed8-b5fd-c530547b07ec"), "112233445566", "us-east-1",
         Changes(&[(SECURITY_GROUPS, Some("sg-04d018d184a18f647"), U)])),
    // EventBridge envelope without recipientAccountId: the envelope's account.
    case("ec2/CreateTags-eventbridge.json", Some("bb096886-331c-4b12-9a78-73b793e1f383"), "222233334444", "eu-central-1",
         Changes(&[(SECURITY_GROUPS, Some("sg-11bbcc22"), U)])),
    case("ec2/CreateTags.json", Some("730049c3-5a59-4f45-837a-3707767e7c96"), "324320755747", "us-west-2",
         Changes(&[(INSTANCES, Some("i-0f14b755dab42a062"), U)])),
    // A new VPC brings a default security group and a main route table the event does not name.
    case("ec2/CreateVpc-eventbridge.json", Some("9be08716-256d-4286-9378-8137d661109b"), "111111111111", "us-east-1",
         Changes(&[(VPCS, Some("vpc-0a71e831cb5152c43"), U), (SECURITY_GROUPS, None, U), (ROUTE_TABLES, None, U)])),
    // errorCode wins over readOnly (written here as the string "true").
    case("ec2/DescribeInstances-2.json", Some("XXXXXXXXXXXXX"), "XXXXXXXXXXXXX", "eu-central-1",
         Ignored("errorCode Client.UnauthorizedOperation")),
    case("ec2/DescribeInstances.json", Some("759fa0d5-d7d6-4de3-97f0-c469d1a0f92c"), "309303190113", "ca-northsouth-2r", Ignored("readOnly")),
    case("ec2/ModifyInstanceAttribute.json", Some("f634894e-d625-4b7b-b1c1-50354cc1100e"), "309303190113", "ca-northsouth-2r",
         Changes(&[(INSTANCES, Some("i-DDd6c7B0e18F0E35f"), U)])),
    case("ec2/RunInstances-2.json", Some("1a4debbb-12e9-4bde-b8c7-ea29002bb2a7"), "900138736586", "ca-south-3r",
         Ignored("errorCode Client.UnauthorizedOperation")),
    // Two instances sharing one (anonymised) interface id: every instance, the interface once.
    case("ec2/RunInstances-3.json", Some("762b9172-6148-4c76-aee4-f6fc0fd140af"), "123456789012", "us-west-2",
         Changes(&[(INSTANCES, Some("i-00000000000000000"), U), (INSTANCES, Some("i-00000000000000001"), U),
                   (ENIS, Some("eni-00000000000000000"), U)])),
    case("ec2/RunInstances-4.json", Some("41fab871-150b-43ad-b42a-39fff3f2ca4e"), "111122223333", "us-west-2",
         Changes(&[(INSTANCES, Some("i-07d06021b0da55115"), U), (ENIS, Some("eni-03ac9043f76fab96c"), U)])),
    case("ec2/RunInstances-5.json", Some("6da8b953-741f-4273-be3f-289b92b4d1fc"), "619193117841", "us-west-1",
         Changes(&[(INSTANCES, Some("i-784cdacd"), U), (INSTANCES, Some("i-7b4cdace"), U),
                   (ENIS, Some("eni-6a08d837"), U), (ENIS, Some("eni-6508d838"), U)])),
    case("ec2/RunInstances.json", Some("5e1fb8e0-231d-4527-a146-d051e37d0d4f"), "1010101010101", "us-east-1",
         Changes(&[(INSTANCES, Some("i-0f2f135de18b555e3"), U), (ENIS, Some("eni-043138569d4a31e90"), U)])),
    case("ec2/StartInstances-2.json", Some("e755e09c-42f9-4c5c-9064-EXAMPLE228c7"), "123456789012", "us-east-1",
         Changes(&[(INSTANCES, Some("i-EXAMPLE56126103cb"), U), (INSTANCES, Some("i-EXAMPLEaff4840c22"), U)])),
    case("ec2/StartInstances.json", Some("55e470c0-611d-4549-ad87-a7c830a75063"), "309303190113", "ca-northsouth-2r",
         Changes(&[(INSTANCES, Some("i-DDd6c7B0e18F0E35f"), U)])),
    case("ec2/StopInstances-2.json", Some("9357a8cc-a0eb-46a1-b67e-EXAMPLE19b14"), "777788889999", "us-east-1",
         Changes(&[(INSTANCES, Some("i-EXAMPLE56126103cb"), U), (INSTANCES, Some("i-EXAMPLEaff4840c22"), U)])),
    case("ec2/StopInstances.json", Some("d373b5dd-6a82-439d-bdcf-4e6c7c7a9292"), "309303190113", "ca-northsouth-2r",
         Changes(&[(INSTANCES, Some("i-DDd6c7B0e18F0E35f"), U)])),
    case("ec2/TerminateInstances-2.json", Some("6e12345-2a4e-417c-aa78-7594fEXAMPLE"), "123456789012", "us-west-2",
         Changes(&[(INSTANCES, Some("i-1a2b3c4d"), D)])),
    case("ec2/TerminateInstances.json", Some("d07df1c3-b488-4434-a18a-e136e1b5f7f7"), "111111111111", "us-east-2",
         Changes(&[(INSTANCES, Some("i-00000000000000000"), D)])),

    // ECS: the cluster ARN in the response becomes the cluster name.
    case("ecs/CreateCluster.json", Some("e3c6f4ce-EXAMPLE"), "123456789012", "us-east-1",
         Changes(&[(ECS_CLUSTERS, Some("default"), U)])),

    // IAM: global, so us-east-1 whatever awsRegion says.
    case("iam/AddUserToGroup.json", None, "123456789012", "us-east-1",
         Changes(&[(USERS, Some("Bob"), U), (GROUPS, Some("admin"), U)])),
    case("iam/AttachGroupPolicy.json", Some("6bf9a009-b248-415d-a8a9-63b7fe5621c0"), "000000000", "us-east-1",
         Changes(&[(GROUPS, Some("TestGroupPolicy"), U)])),
    case("iam/AttachRolePolicy-2.json", Some("39480357-0a1d-4531-a3f2-71be4c041c25"), "609418236337", "us-east-1",
         Changes(&[(ROLES, Some("stratus-red-team-malicious-iam-role"), U)])),
    case("iam/AttachRolePolicy.json", Some("57ce487a-26dc-4ed7-a79a-38730c5b1d4b"), "000000000", "us-east-1",
         Changes(&[(ROLES, Some("cloudtrail-role"), U)])),
    case("iam/AttachUserPolicy-2.json", Some("235db27d-d82f-41e1-b3e2-342752eca2dc"), "00000000000", "us-east-1",
         Changes(&[(USERS, Some("test-cloudtrail"), U)])),
    case("iam/AttachUserPolicy-3.json", Some("083dc4ad-e264-46bc-a407-d0dd31b58bdc"), "229654561268", "us-east-1",
         Changes(&[(USERS, Some("malicious-iam-user"), U)])),
    case("iam/AttachUserPolicy.json", Some("48a0efc2-e7b5-48d0-a3d7-38c44cd15525"), "000000000", "us-east-1",
         Changes(&[(USERS, Some("pwncloud-backdoor-user"), U)])),
    case("iam/CreateAccessKey-2.json", Some("c64c4ded-ef03-4e5c-81eb-153b118d72f2"), "946986569305", "us-east-1",
         Changes(&[(USERS, Some("stratus-red-team-backdoor-u-user"), U)])),
    case("iam/CreateAccessKey-3.json", Some("efffffff-bbbb-4444-bbbb-ffffffffffff"), "123456789012", "us-east-1",
         Ignored("errorCode LimitExceededException")),
    case("iam/CreateAccessKey.json", Some("94faedcc-0fa4-46e6-9322-022e8e934f04"), "229654561268", "us-east-1",
         Changes(&[(USERS, Some("malicious-iam-user"), U)])),
    case("iam/CreateGroup-2.json", Some("EXAMPLE-09c6-4745-af70-EXAMPLE"), "0123456789012", "us-east-1",
         Ignored("errorCode EntityAlreadyExistsException")),
    case("iam/CreateGroup.json", Some("EXAMPLE-37ec-425a-a7ef-EXAMPLE"), "0123456789012", "us-east-1",
         Changes(&[(GROUPS, Some("TEST-GROUP"), U)])),
    case("iam/CreateRole.json", Some("d2905ac3-9898-433f-b10d-9302abe4e208"), "609418236337", "us-east-1",
         Changes(&[(ROLES, Some("stratus-red-team-malicious-iam-role"), U)])),
    case("iam/CreateUser-2.json", Some("3346344c-5a3e-429e-8405-420f98f75d6e"), "229654561268", "us-east-1",
         Changes(&[(USERS, Some("malicious-iam-user"), U)])),
    case("iam/CreateUser.json", None, "123456789012", "us-east-1",
         Changes(&[(USERS, Some("Bob"), U)])),
    case("iam/DeleteGroup-2.json", Some("EXAMPLE-5aa2-4b5f-a52a-EXAMPLE"), "0123456789012", "us-east-1",
         Ignored("errorCode DeleteConflictException")),
    case("iam/DeleteGroup.json", Some("EXAMPLE-cbc2-4cc3-8bbc-EXAMPLE"), "0123456789012", "us-east-1",
         Changes(&[(GROUPS, Some("TEST-GROUP"), D)])),
    case("iam/DeleteUser.json", Some("b89eb34b-8fcb-4cba-8439-d4EXAMPLE"), "123456789012", "us-east-1",
         Changes(&[(USERS, Some("Bob"), D)])),
    case("iam/TagRole-eventbridge.json", Some("07dcf958-5664-4de1-9ff4-99c76de89fb3"), "1234567890012", "us-east-1",
         Changes(&[(ROLES, Some("test_detect_role"), U)])),
    case("iam/UpdateGroup-2.json", Some("EXAMPLE-6a0b-475c-b5db-EXAMPLE"), "0123456789012", "us-east-1",
         Ignored("errorCode EntityAlreadyExistsException")),
    // Renames: the old name goes, the new one comes.
    case("iam/UpdateGroup.json", Some("EXAMPLE-c3aa-487b-b05e-EXAMPLE"), "0123456789012", "us-east-1",
         Changes(&[(GROUPS, Some("TEST-GROUP"), D), (GROUPS, Some("TEST-GROUP2"), U)])),
    case("iam/UpdateUser.json", Some("9150d546-3564-4262-8e62-110EXAMPLE"), "123456789012", "us-east-1",
         Changes(&[(USERS, Some("Bob"), D), (USERS, Some("Robert"), U)])),

    // RDS
    case("rds/CreateDBCluster.json", Some("7e554be7-0a00-4f8f-9e56-a2d54519fff9"), "951234567898", "us-west-1",
         Changes(&[(DB_CLUSTERS, Some("auroramysql57dbcluster02-cluster"), U)])),
    case("rds/CreateDBInstance-2.json", Some("bf3b3e3a-07f5-452a-a76d-991b839ef854"), "101010101111", "us-east-1",
         Changes(&[(DB_INSTANCES, Some("onenessdb"), U)])),
    case("rds/CreateDBInstance.json", Some("d82a0cd1-6987-459a-b7bc-557a06bf16f2"), "1010101010101", "us-east-1",
         Changes(&[(DB_INSTANCES, Some("test-cloudtrail-event-instance-14340"), U)])),
    case("rds/DeleteDBCluster.json", Some("b03bcf00-a3ce-46dc-8902-e426f2b33b69"), "000000000", "us-east-1",
         Changes(&[(DB_CLUSTERS, Some("test-cloudtrail-event-instance-31611-cluster"), D)])),
    case("rds/DeleteDBInstance.json", Some("02b373b8-8b7b-49a9-8b56-2a6364d01de5"), "000000000", "us-east-1",
         Changes(&[(DB_INSTANCES, Some("test-cloudtrail-event-instance-31611-restored"), D)])),
    case("rds/ModifyDBCluster.json", Some("f029eaf0-a7ff-41d3-86cc-d46742094e1b"), "000000000", "us-east-1",
         Changes(&[(DB_CLUSTERS, Some("test-cloudtrail-event-instance-31611-cluster"), U)])),
    case("rds/ModifyDBInstance.json", Some("47bea7f3-8517-48d3-be30-16de2421ff49"), "000000000", "us-east-1",
         Changes(&[(DB_INSTANCES, Some("test-cloudtrail-event-instance-31611"), U)])),
];

/// The published samples, or `None` (the test is skipped) in a clone without `../shared`.
fn samples() -> Option<PathBuf> {
    trailsync_catalog::testing::shared("fixtures/cloudtrail/events")
}

fn events_dir() -> PathBuf {
    samples().expect("checked by the test first")
}

fn read(file: &str) -> Vec<u8> {
    let path = events_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The fixture files, relative to the events folder, sorted.
fn fixture_files() -> Vec<String> {
    let mut files = Vec::new();
    let dirs = std::fs::read_dir(events_dir()).expect("fixtures folder (../shared) is present");
    for dir in dirs.flatten() {
        let service = dir.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(dir.path())
            .expect("service folder")
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                files.push(format!("{service}/{name}"));
            }
        }
    }
    files.sort();
    files
}

/// The explanation a case expects, built independently of the code under test.
fn expected(case: &Case) -> Explanation {
    let (service, file) = case.file.split_once('/').expect("service/file");
    let name = file
        .trim_end_matches(".json")
        .split('-')
        .next()
        .expect("name");
    let (ignored, reason, resources) = match &case.want {
        Ignored(reason) => (true, Some(reason.to_string()), json!([])),
        Changes(changes) => {
            let resources = changes
                .iter()
                .map(|(table, id, action)| json!({"table": table, "id": id, "action": action}))
                .collect();
            (false, None, Value::Array(resources))
        }
    };
    serde_json::from_value(json!({
        "event_id": case.event_id,
        "event_source": format!("{service}.amazonaws.com"),
        "event_name": name,
        "ignored": ignored,
        "reason": reason,
        "account": case.account,
        "region": case.region,
        "resources": resources,
    }))
    .expect("an Explanation")
}

fn explain_one(bytes: &[u8], what: &str) -> Explanation {
    let report = explain(bytes);
    assert!(
        report.skipped.is_empty(),
        "{what}: skipped {:?}",
        report.skipped
    );
    assert_eq!(report.explanations.len(), 1, "{what}: one event");
    report.explanations.into_iter().next().expect("one")
}

#[test]
fn every_fixture_has_an_expectation() {
    if samples().is_none() {
        return;
    }
    let mut expected: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    expected.sort_unstable();
    assert_eq!(
        fixture_files(),
        expected,
        "fixtures and CASES differ: add an expectation for each new fixture"
    );
}

#[test]
fn every_fixture_explains_as_expected() {
    if samples().is_none() {
        return;
    }
    let mut failures = Vec::new();
    for case in CASES {
        let got = explain_one(&read(case.file), case.file);
        let want = expected(case);
        if got != want {
            failures.push(format!(
                "{}:\n  got  {}\n  want {}",
                case.file,
                got.to_json(),
                want.to_json()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---- the same records in every accepted form ----

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("write to Vec");
    encoder.finish().expect("finish to Vec")
}

/// The CloudTrail record of a fixture (unwrapped if the fixture is an EventBridge envelope).
fn record(file: &str) -> Value {
    let value: Value = serde_json::from_slice(&read(file)).expect("fixture is JSON");
    match value.get("detail") {
        Some(detail) => detail.clone(),
        None => value,
    }
}

fn logs_payload(records: &[&Value]) -> Vec<u8> {
    let log_events: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"id": i.to_string(), "timestamp": 1_700_000_000_000_u64, "message": r.to_string()}))
        .collect();
    json!({
        "messageType": "DATA_MESSAGE", "owner": "111122223333",
        "logGroup": "aws-cloudtrail-logs", "logStream": "111122223333_CloudTrail_us-east-1",
        "subscriptionFilters": ["trailsync"], "logEvents": log_events,
    })
    .to_string()
    .into_bytes()
}

/// Each accepted form of one record, by name.
fn forms(record: &Value) -> Vec<(&'static str, Vec<u8>)> {
    let compact = record.to_string().into_bytes();
    let pretty = serde_json::to_vec_pretty(record).expect("serialise");
    let eventbridge = json!({
        "version": "0", "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "AWS API Call via CloudTrail", "source": "aws.any",
        "time": "2024-01-01T00:00:00Z", "resources": [], "detail": record,
    });
    let s3 = json!({"Records": [record]}).to_string().into_bytes();
    let mut lines = compact.clone();
    lines.extend_from_slice(b"\n\n");
    vec![
        ("compact record", compact.clone()),
        ("pretty record", pretty),
        ("CloudWatch Logs payload, plain", logs_payload(&[record])),
        (
            "CloudWatch Logs payload, gzip",
            gzip(&logs_payload(&[record])),
        ),
        ("EventBridge envelope", eventbridge.to_string().into_bytes()),
        ("S3 log file, plain", s3.clone()),
        ("S3 log file, gzip", gzip(&s3)),
        ("JSON lines", lines),
        ("JSON array", json!([record]).to_string().into_bytes()),
        ("gzip record", gzip(&compact)),
    ]
}

#[test]
fn every_form_gives_the_same_answer() {
    if samples().is_none() {
        return;
    }
    for case in CASES {
        let want = expected(case);
        for (form, bytes) in forms(&record(case.file)) {
            let what = format!("{} as {form}", case.file);
            assert_eq!(explain_one(&bytes, &what), want, "{what}");
        }
    }
}

#[test]
fn batches_keep_order_in_every_form() {
    if samples().is_none() {
        return;
    }
    let files = [
        "ec2/RunInstances.json",
        "iam/UpdateUser.json",
        "s3/PutObject.json",
    ];
    let records: Vec<Value> = files.iter().map(|f| record(f)).collect();
    let refs: Vec<&Value> = records.iter().collect();
    let want: Vec<Explanation> = files
        .iter()
        .map(|f| expected(CASES.iter().find(|c| c.file == *f).expect("case")))
        .collect();
    let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
    let s3 = json!({"Records": records}).to_string().into_bytes();
    let batches = [
        ("CloudWatch Logs gzip", gzip(&logs_payload(&refs))),
        ("S3 gzip", gzip(&s3)),
        ("JSON lines", lines.into_bytes()),
        ("JSON lines of payloads", {
            let mut two = logs_payload(&refs[..1]);
            two.push(b'\n');
            two.extend(logs_payload(&refs[1..]));
            two
        }),
    ];
    for (form, bytes) in batches {
        let report = explain(&bytes);
        assert!(report.skipped.is_empty(), "{form}: {:?}", report.skipped);
        assert_eq!(report.explanations, want, "{form}");
    }
}

#[test]
fn control_message_yields_nothing() {
    let control = json!({
        "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
        "logStream": "", "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1_700_000_000_000_u64,
                       "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}],
    })
    .to_string()
    .into_bytes();
    for bytes in [control.clone(), gzip(&control)] {
        let decoded = decode(&bytes);
        assert!(decoded.events.is_empty());
        assert_eq!(decoded.skipped.len(), 1);
        assert_eq!(decoded.skipped[0].reason, SkipReason::ControlMessage);
    }
}

#[test]
fn fixtures_survive_truncation() {
    if samples().is_none() {
        return;
    }
    // A record cut anywhere, plain or gzip, is skipped, never half-read.
    let bytes = read("ec2/RunInstances-3.json");
    let zipped = gzip(&bytes);
    for cut in (1..bytes.len()).step_by(97) {
        let report = explain(&bytes[..cut]);
        assert!(report.explanations.is_empty(), "plain cut at {cut}");
        assert!(!report.skipped.is_empty(), "plain cut at {cut}");
    }
    for cut in 1..zipped.len() {
        let report = explain(&zipped[..cut]);
        assert!(report.explanations.is_empty(), "gzip cut at {cut}");
        assert!(!report.skipped.is_empty(), "gzip cut at {cut}");
    }
}
