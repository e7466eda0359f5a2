//! The IAM policies under `deploy/` grant exactly the AWS calls trailsync makes: a call that is
//! not granted fails in production with AccessDenied, and a grant that no call needs is privilege
//! nobody asked for. Pure file reading: no network, no AWS.
//!
//! # How the calls are found
//!
//! The AWS SDK is used only in `crates/trailsync-aws/src`, so the calls are read from its source:
//!
//! 1. Comments and the insides of string and char literals are blanked (lines kept), so prose
//!    and messages never count as code. The literals are kept aside for step 6.
//! 2. A call is a method with no arguments whose name starts with a read verb ([`READ_VERBS`]),
//!    after a dot, line breaks allowed: `client.list_roles()`, `c.describe_instances()`,
//!    `self\n.client\n.get_records()`. SDK operations are the only such methods here; they take
//!    their parameters from the builder they return, while our own helpers named like operations
//!    take arguments (`describe_clusters(&client, cx, ids)`) and do not count. Paginators
//!    (`.into_paginator()`) call the operation they start from. Inside a macro invocation
//!    (`name!(...)`), a bare identifier with such a name counts too: a macro that builds calls from
//!    its arguments (`policy_calls!(role_name, list_role_policies, ...)` calling `client.$list()`)
//!    names the operation there.
//! 3. The service is that of the SDK client the file names (`use aws_sdk_ec2::Client;`,
//!    `aws_sdk_rds::Client::new(..)`). In a file naming clients of several services, it is the
//!    last client named since the previous statement or block ended (`;` or `}`):
//!    `aws_sdk_sts::Client::new(config).get_caller_identity()`, or the parameter
//!    `client: &aws_sdk_ec2::Client` of the function making the call; when there is none, the
//!    test fails rather than guess. The crate's name is the IAM service prefix unless
//!    [`SERVICE_PREFIXES`] says otherwise.
//! 4. The IAM action has the operation's name, which holds for every operation called here; one
//!    that does not goes in [`ACTIONS_NAMED_OTHERWISE`]. Snake case loses the capitals of acronyms
//!    (`describe_db_instances` is `DescribeDBInstances`), and IAM compares action names without
//!    regard to case, so this test does too; names are spelt as the code's string literals spell
//!    them (`"DescribeDBInstances"`, for errors and metrics) where one does.
//! 5. Calls the SDK makes on the code's behalf: a credential provider the code names makes its call
//!    ([`CREDENTIAL_PROVIDERS`]: `AssumeRoleProvider` calls `sts:AssumeRole`).
//! 6. Cross-checks, so that a new way of making calls cannot slip past the scan: every string
//!    literal starting with an operation name (`"GetShardIterator {}"`, `all("ListRoles", ..)`) must
//!    be a call found above, and every `aws-sdk-*` dependency of the crate must have calls.
//!
//! # What is checked
//!
//! - `deploy/iam/reader-policy.json` and the managed policy of `deploy/iam/reader-role.yml`: every
//!   call, and nothing else;
//! - the inline policy of `deploy/iam/member-role.yml`: every call made with a member account's
//!   credentials (all but those of [`READER_ONLY`]), nothing else, and a trust policy that demands
//!   an external id;
//! - the `StreamReaderPolicy` of the delivery templates: the Kinesis calls, nothing else.
//!
//! No wildcards (`ec2:Describe*`) and no `NotAction`: each grant names one call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Parser};
use serde_json::{Map, Value as Json};

/// Verbs of the operations trailsync calls (all reads), as SDK method prefixes. A call with
/// another verb is not seen: add its verb here along with the call.
const READ_VERBS: &[&str] = &[
    "describe",
    "list",
    "get",
    "generate",
    "batch_get",
    "lookup",
    "search",
];

/// SDK crates (`aws_sdk_<crate>`) whose IAM service prefix is not the crate's name.
const SERVICE_PREFIXES: &[(&str, &str)] = &[
    ("cloudwatchlogs", "logs"),
    ("elasticloadbalancingv2", "elasticloadbalancing"),
];

/// Operations authorised by an IAM action of another name, as `service:Operation` →
/// `service:Action`. None of trailsync's calls is one.
const ACTIONS_NAMED_OTHERWISE: &[(&str, &str)] = &[];

/// Credential providers of `aws-config` the code names, and the call each makes.
const CREDENTIAL_PROVIDERS: &[(&str, &str)] = &[("AssumeRoleProvider", "sts:AssumeRole")];

/// Calls made with the reader's own credentials only, never a member account's (as action
/// prefixes, lower case): the stream (`event_based_sync`), the organization's accounts (the admin
/// account) and the member roles themselves.
const READER_ONLY: &[&str] = &["kinesis:", "organizations:", "sts:assumerole"];

/// The templates of the delivery paths, whose `StreamReaderPolicy` grants the Kinesis calls.
const DELIVERY_TEMPLATES: &[&str] = &[
    "deploy/streaming-deployment.yml",
    "deploy/eventbridge-deployment.yml",
];

// --- The tests ---------------------------------------------------------------------------------

#[test]
fn the_reader_policy_grants_exactly_the_calls_made() {
    let (calls, mut problems) = calls();
    let path = "deploy/iam/reader-policy.json";
    let policy: Json =
        serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"));
    let grants = grants(path, &policy, &mut problems);
    compare(path, &calls, &grants, &mut problems);
    for grant in grants.values() {
        let scoped_to = if grant.action.starts_with("kinesis:") {
            ":stream/"
        } else if grant.action.eq_ignore_ascii_case("sts:AssumeRole") {
            ":role/"
        } else {
            continue;
        };
        let resources = strings(&grant.resource);
        if resources.is_empty() || resources.iter().any(|r| !r.contains(scoped_to)) {
            problems.push(format!(
                "{path}: {} (statement {}) must be scoped to ARNs containing {scoped_to:?}, not {}",
                grant.action, grant.statement, grant.resource
            ));
        }
    }
    assert_no_problems(&problems, &calls);
}

#[test]
fn the_member_role_grants_the_calls_made_with_member_credentials() {
    let (calls, mut problems) = calls();
    let member_calls: BTreeMap<String, Call> = calls
        .iter()
        .filter(|(key, _)| !READER_ONLY.iter().any(|prefix| key.starts_with(prefix)))
        .map(|(key, call)| (key.clone(), call.clone()))
        .collect();
    let path = "deploy/iam/member-role.yml";
    let template = template(path);
    let documents = permission_documents(&template);
    assert!(!documents.is_empty(), "{path}: no IAM policy found");
    let mut granted = BTreeMap::new();
    for (resource, document) in documents {
        granted.extend(grants(
            &format!("{path} {resource}"),
            document,
            &mut problems,
        ));
    }
    compare(path, &member_calls, &granted, &mut problems);

    let roles = resources_of_type(&template, "AWS::IAM::Role");
    assert!(!roles.is_empty(), "{path}: no AWS::IAM::Role");
    for (name, role) in roles {
        let trust = statements(&role["Properties"]["AssumeRolePolicyDocument"]["Statement"]);
        let demands_external_id = !trust.is_empty()
            && trust.iter().all(|statement| {
                statement["Condition"]["StringEquals"]
                    .get("sts:ExternalId")
                    .is_some()
            });
        if !demands_external_id {
            problems.push(format!(
                "{path}: the trust policy of {name} must demand an external id (Condition StringEquals sts:ExternalId) in every statement"
            ));
        }
    }
    assert_no_problems(&problems, &calls);
}

#[test]
fn the_reader_role_grants_exactly_the_calls_made() {
    let (calls, mut problems) = calls();
    let path = "deploy/iam/reader-role.yml";
    let template = template(path);
    let mut granted = BTreeMap::new();
    for (resource, document) in permission_documents(&template) {
        granted.extend(grants(
            &format!("{path} {resource}"),
            document,
            &mut problems,
        ));
    }
    compare(path, &calls, &granted, &mut problems);
    assert_no_problems(&problems, &calls);
}

#[test]
fn the_delivery_templates_grant_exactly_the_kinesis_calls() {
    let (calls, mut problems) = calls();
    let kinesis_calls: BTreeMap<String, Call> = calls
        .iter()
        .filter(|(key, _)| key.starts_with("kinesis:"))
        .map(|(key, call)| (key.clone(), call.clone()))
        .collect();
    assert!(!kinesis_calls.is_empty(), "no Kinesis call found");
    for path in DELIVERY_TEMPLATES {
        let template = template(path);
        let documents: Vec<_> = permission_documents(&template)
            .into_iter()
            .filter(|(resource, _)| resource == "StreamReaderPolicy")
            .collect();
        assert_eq!(documents.len(), 1, "{path}: one StreamReaderPolicy");
        let grants = grants(
            &format!("{path} StreamReaderPolicy"),
            documents[0].1,
            &mut problems,
        );
        compare(path, &kinesis_calls, &grants, &mut problems);
    }
    assert_no_problems(&problems, &calls);
}

/// The scan itself: every SDK crate the code depends on has calls, and the ways of calling that
/// the code uses (macro closures, macro arguments, several clients in a file, a credential
/// provider) are all seen.
#[test]
fn the_scan_finds_calls_of_every_kind() {
    let (calls, problems) = calls();
    assert_no_problems(&problems, &calls);
    for key in [
        // A closure inside ec2_tables!.
        "ec2:describeinstances",
        // A macro argument (policy_calls!), called as `client.$list()`.
        "iam:listrolepolicies",
        // An acronym: spelt from the code's literal.
        "iam:listsshpublickeys",
        // accounts.rs names the STS and EC2 clients.
        "sts:getcalleridentity",
        "ec2:describeregions",
        // Made by aws-config's AssumeRoleProvider.
        "sts:assumerole",
        // A paginator.
        "organizations:listaccountsforparent",
        "kinesis:getrecords",
    ] {
        assert!(calls.contains_key(key), "the scan missed {key}");
    }
    assert_eq!(
        calls["iam:listsshpublickeys"].action,
        "iam:ListSSHPublicKeys"
    );
    assert_eq!(
        calls["rds:describedbinstances"].action,
        "rds:DescribeDBInstances"
    );

    let manifest = read("crates/trailsync-aws/Cargo.toml");
    let sdk_crates: BTreeSet<String> = manifest
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("aws-sdk-"))
        .filter_map(|rest| rest.split(['.', ' ', '=']).next())
        .map(|name| service_prefix(&name.replace('-', "")))
        .collect();
    assert!(!sdk_crates.is_empty(), "no aws-sdk-* dependency found");
    for service in &sdk_crates {
        assert!(
            calls
                .keys()
                .any(|key| key.starts_with(&format!("{service}:"))),
            "crates/trailsync-aws depends on the SDK crate of {service}, but the scan found no call to it: \
             a call made in a way the scan does not see (see this file's doc comment), or an unused dependency"
        );
    }
}

#[test]
fn the_scan_ignores_comments_strings_and_helpers() {
    let source = scan_source(
        "x.rs",
        r##"
use aws_sdk_ec2::Client;
// client.describe_comment()
/* client.describe_block() /* nested */ client.describe_block_2() */
fn describe_helper(client: &Client) {}
async fn read(client: &Client) {
    let text = "client.describe_string()";
    let raw = r#"client.describe_raw() " "#;
    let c = '"';
    let lifetime: &'static str = "";
    describe_helper(&client);
    client
        .describe_real()
        .into_paginator();
    client.get(0);
    listing!(describe_macro_argument, "DescribeMacroArgument");
}
"##,
    );
    let mut problems = Vec::new();
    let mut found = BTreeMap::new();
    calls_of(&source, &mut found, &mut problems);
    assert_eq!(problems, Vec::<String>::new());
    let found: Vec<&str> = found.values().map(|c| c.action.as_str()).collect();
    assert_eq!(
        found,
        ["ec2:DescribeMacroArgument", "ec2:DescribeReal"],
        "only real calls count"
    );
}

#[test]
fn a_call_whose_client_is_unclear_is_reported() {
    let source = scan_source(
        "y.rs",
        "fn a() { aws_sdk_sts::Client::new(c).get_caller_identity(); }\n\
         fn b(client: &aws_sdk_ec2::Client) { client.describe_regions(); }\n\
         fn c(client: &Shared) { client.list_things(); }\n",
    );
    let mut problems = Vec::new();
    let mut found = BTreeMap::new();
    calls_of(&source, &mut found, &mut problems);
    let keys: Vec<&String> = found.keys().collect();
    assert_eq!(keys, ["ec2:describeregions", "sts:getcalleridentity"]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("y.rs:3") && problems[0].contains("list_things"));
}

// --- Finding the calls -------------------------------------------------------------------------

/// A call the code makes, by its IAM action, and where.
#[derive(Clone, Debug)]
struct Call {
    /// `service:Operation`, spelt as AWS spells it where the code shows how.
    action: String,
    /// `path:line` of every place making it.
    places: BTreeSet<String>,
}

/// One source file, comments and literal contents blanked.
struct Source {
    path: String,
    /// The code, ASCII, with comments and the contents of literals replaced by spaces.
    code: Vec<u8>,
    /// Byte offsets of line starts in `code`.
    line_starts: Vec<usize>,
    /// The string literals, with their lines.
    literals: Vec<(usize, String)>,
}

impl Source {
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    fn place(&self, offset: usize) -> String {
        format!("{}:{}", self.path, self.line(offset))
    }
}

/// Every call trailsync makes, by lower-case IAM action (IAM's comparison), and what the scan
/// could not make sense of.
fn calls() -> (BTreeMap<String, Call>, Vec<String>) {
    let mut sources = Vec::new();
    let src = repo_root().join("crates/trailsync-aws/src");
    for path in rust_files(&src) {
        let relative = path
            .strip_prefix(repo_root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"));
        sources.push(scan_source(&relative, &text));
    }
    assert!(
        sources.len() > 5,
        "found only {} source files under {}",
        sources.len(),
        src.display()
    );

    let mut calls = BTreeMap::new();
    let mut problems = Vec::new();
    for source in &sources {
        calls_of(source, &mut calls, &mut problems);
    }

    // Literals naming an operation: they spell acronyms right, and each must be a call found.
    let verbs: Vec<String> = READ_VERBS.iter().map(|v| pascal_case(v)).collect();
    let mut spelling = BTreeMap::new();
    for source in &sources {
        for (line, literal) in &source.literals {
            let word: String = literal
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            let names_operation = verbs.iter().any(|verb| {
                word.strip_prefix(verb.as_str())
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
            });
            if !names_operation {
                continue;
            }
            let operation = word.to_ascii_lowercase();
            if !calls
                .keys()
                .any(|key: &String| key.split(':').nth(1) == Some(operation.as_str()))
            {
                problems.push(format!(
                    "{}:{line}: the literal {literal:?} names the operation {word}, but the scan found no call to it: \
                     a call made in a way the scan does not see (see this file's doc comment)?",
                    source.path
                ));
            }
            spelling.insert(operation, word);
        }
    }
    for call in calls.values_mut() {
        if let Some((service, operation)) = call.action.split_once(':')
            && let Some(spelt) = spelling.get(&operation.to_ascii_lowercase())
        {
            call.action = format!("{service}:{spelt}");
        }
    }
    for (from, to) in ACTIONS_NAMED_OTHERWISE {
        if let Some(call) = calls.remove(&from.to_ascii_lowercase()) {
            calls.insert(
                to.to_ascii_lowercase(),
                Call {
                    action: to.to_string(),
                    places: call.places,
                },
            );
        }
    }
    (calls, problems)
}

/// Adds the calls of one file to `calls`; what cannot be attributed goes to `problems`.
fn calls_of(source: &Source, calls: &mut BTreeMap<String, Call>, problems: &mut Vec<String>) {
    let code = &source.code;
    let tokens = identifiers(code);
    let clients: Vec<(usize, String)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, &(start, end))| {
            let sdk_crate = std::str::from_utf8(&code[start..end])
                .ok()?
                .strip_prefix("aws_sdk_")?;
            names_client(code, &tokens[i + 1..], end).then(|| (start, sdk_crate.to_string()))
        })
        .collect();
    let services: BTreeSet<&str> = clients.iter().map(|(_, c)| c.as_str()).collect();
    let macro_bodies = macro_bodies(code);

    let mut add = |action: String, offset: usize| {
        calls
            .entry(action.to_ascii_lowercase())
            .or_insert_with(|| Call {
                action: action.clone(),
                places: BTreeSet::new(),
            })
            .places
            .insert(source.place(offset));
    };

    for (i, &(start, end)) in tokens.iter().enumerate() {
        let name = std::str::from_utf8(&code[start..end]).unwrap_or_default();
        if let Some((_, action)) = CREDENTIAL_PROVIDERS.iter().find(|(p, _)| *p == name) {
            add(action.to_string(), start);
            continue;
        }
        if !READ_VERBS
            .iter()
            .any(|verb| name.len() > verb.len() + 1 && name.starts_with(&format!("{verb}_")))
        {
            continue;
        }
        let before = previous_byte(code, start);
        let after = next_byte(code, end);
        let method_call = before.map(|(_, b)| b) == Some(b'.')
            && after.map(|(_, b)| b) == Some(b'(')
            && after
                .and_then(|(at, _)| next_byte(code, at + 1))
                .map(|(_, b)| b)
                == Some(b')');
        let previous_token = i.checked_sub(1).map(|j| &code[tokens[j].0..tokens[j].1]);
        let macro_argument = macro_bodies
            .iter()
            .any(|&(open, close)| open < start && end < close)
            && !matches!(before.map(|(_, b)| b), Some(b'.' | b':' | b'$'))
            && previous_token != Some(b"fn".as_slice())
            && matches!(after.map(|(_, b)| b), Some(b',' | b')' | b']' | b'}'));
        if !method_call && !macro_argument {
            continue;
        }
        let client = if services.len() == 1 {
            clients.first().map(|(_, c)| c.as_str())
        } else {
            // Several clients: the last one named since the previous statement or block ended.
            let statement_start = code[..start]
                .iter()
                .rposition(|b| matches!(b, b';' | b'}'))
                .unwrap_or(0);
            clients
                .iter()
                .rev()
                .find(|(at, _)| *at < start)
                .filter(|(at, _)| *at > statement_start)
                .map(|(_, c)| c.as_str())
        };
        let Some(client) = client else {
            problems.push(format!(
                "{}: `{name}` looks like an AWS call, but which SDK client makes it is unclear: the file names {}; \
                 name the client in the call's statement (`aws_sdk_<service>::Client::new(..).{name}()`)",
                source.place(start),
                if services.is_empty() {
                    "no SDK client (`aws_sdk_<service>::Client`)".to_string()
                } else {
                    format!("several ({})", services.iter().copied().collect::<Vec<_>>().join(", "))
                }
            ));
            continue;
        };
        add(
            format!("{}:{}", service_prefix(client), pascal_case(name)),
            start,
        );
    }
}

/// Whether the path after `aws_sdk_<crate>` (at `end`; `rest` the identifiers after it) is
/// `::Client` or `::{.., Client, ..}`.
fn names_client(code: &[u8], rest: &[(usize, usize)], end: usize) -> bool {
    if !code[end..].starts_with(b"::") {
        return false;
    }
    let after = end + 2;
    let Some(&(start, stop)) = rest.first() else {
        return false;
    };
    if start == after {
        return &code[start..stop] == b"Client";
    }
    if code.get(after) != Some(&b'{') {
        return false;
    }
    let close = code[after..]
        .iter()
        .position(|&b| b == b'}')
        .map_or(code.len(), |p| after + p);
    rest.iter()
        .take_while(|(s, _)| *s < close)
        .any(|&(s, e)| &code[s..e] == b"Client")
}

/// The IAM service prefix of an SDK crate (`ec2`, `cloudwatchlogs` → `logs`).
fn service_prefix(sdk_crate: &str) -> String {
    SERVICE_PREFIXES
        .iter()
        .find(|(c, _)| *c == sdk_crate)
        .map_or(sdk_crate, |(_, prefix)| prefix)
        .to_string()
}

/// `describe_db_instances` → `DescribeDbInstances` (IAM ignores case; literals restore acronyms).
fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Byte ranges of the identifiers (and keywords) of blanked code.
fn identifiers(code: &[u8]) -> Vec<(usize, usize)> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let b = code[i];
        if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < code.len() && (code[i].is_ascii_alphanumeric() || code[i] == b'_') {
                i += 1;
            }
            tokens.push((start, i));
        } else if b.is_ascii_digit() {
            // Numbers (`1_000`, `0x1f`) are not identifiers.
            while i < code.len() && (code[i].is_ascii_alphanumeric() || code[i] == b'_') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    tokens
}

/// The bracket offsets of every macro invocation's body (`name!(..)`, `name! {..}`, `name![..]`),
/// `macro_rules!` definitions aside.
fn macro_bodies(code: &[u8]) -> Vec<(usize, usize)> {
    let mut bodies = Vec::new();
    for (bang, _) in code.iter().enumerate().filter(|(_, b)| **b == b'!') {
        let follows_name =
            bang > 0 && (code[bang - 1].is_ascii_alphanumeric() || code[bang - 1] == b'_');
        if !follows_name || code[..bang].ends_with(b"macro_rules") {
            continue;
        }
        let Some((open, bracket)) = next_byte(code, bang + 1) else {
            continue;
        };
        let close_bracket = match bracket {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            _ => continue,
        };
        let mut depth = 0usize;
        for (at, &b) in code.iter().enumerate().skip(open) {
            if b == bracket {
                depth += 1;
            } else if b == close_bracket {
                depth -= 1;
                if depth == 0 {
                    bodies.push((open, at));
                    break;
                }
            }
        }
    }
    bodies
}

fn previous_byte(code: &[u8], before: usize) -> Option<(usize, u8)> {
    code[..before]
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map(|at| (at, code[at]))
}

fn next_byte(code: &[u8], from: usize) -> Option<(usize, u8)> {
    code.get(from..)?
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|p| (from + p, code[from + p]))
}

/// Blanks comments and the contents of string and char literals (keeping line breaks and the
/// quotes), and collects the string literals. Non-ASCII characters become spaces.
fn scan_source(path: &str, text: &str) -> Source {
    let chars: Vec<char> = text.chars().collect();
    let mut code = Vec::with_capacity(chars.len());
    let mut literals = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Pushes `c` blanked (a space, or the line break it is).
    let blank = |code: &mut Vec<u8>, line: &mut usize, c: char| {
        if c == '\n' {
            *line += 1;
            code.push(b'\n');
        } else {
            code.push(b' ');
        }
    };
    let is_ident = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut code, &mut line, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    code.extend(b"  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    code.extend(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut code, &mut line, chars[i]);
                    i += 1;
                }
            }
        } else if c == '"' || (c == 'r' && raw_string_hashes(&chars, i).is_some()) {
            // A string: "..." with escapes, or r#"..."# without.
            let hashes = if c == 'r' {
                raw_string_hashes(&chars, i)
            } else {
                None
            };
            let start_line = line;
            if let Some(hashes) = hashes {
                code.push(b'r');
                code.extend(std::iter::repeat_n(b'#', hashes));
                i += 1 + hashes;
            }
            code.push(b'"');
            i += 1;
            let mut literal = String::new();
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes.unwrap_or(0)))
                .collect();
            while i < chars.len() {
                if hashes.is_none() && chars[i] == '\\' {
                    literal.push(chars[i]);
                    blank(&mut code, &mut line, chars[i]);
                    i += 1;
                    if i < chars.len() {
                        literal.push(chars[i]);
                        blank(&mut code, &mut line, chars[i]);
                        i += 1;
                    }
                } else if chars[i..].starts_with(&closing) {
                    code.push(b'"');
                    code.extend(std::iter::repeat_n(b'#', closing.len() - 1));
                    i += closing.len();
                    break;
                } else {
                    literal.push(chars[i]);
                    blank(&mut code, &mut line, chars[i]);
                    i += 1;
                }
            }
            literals.push((start_line, literal));
        } else if c == '\'' && !is_ident(i.checked_sub(1).and_then(|p| chars.get(p))) {
            // A char literal ('x', '\n', '\u{1F600}'), else a lifetime or label ('a).
            let end = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    code.push(b'\'');
                    for &c in &chars[i + 1..end] {
                        blank(&mut code, &mut line, c);
                    }
                    code.push(b'\'');
                    i = end + 1;
                }
                None => {
                    code.push(b'\'');
                    i += 1;
                }
            }
        } else {
            if c == '\n' {
                line += 1;
            }
            code.push(if c.is_ascii() { c as u8 } else { b' ' });
            i += 1;
        }
    }
    let line_starts = std::iter::once(0)
        .chain(
            code.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(at, _)| at + 1),
        )
        .collect();
    Source {
        path: path.to_string(),
        code,
        line_starts,
        literals,
    }
}

/// The number of `#` of a raw string starting at `chars[at]` (`r"`, `r#"`, `br"`), if it is one.
fn raw_string_hashes(chars: &[char], at: usize) -> Option<usize> {
    let prefix_start = match at.checked_sub(1).map(|p| chars[p]) {
        Some('b' | 'c') => at - 1,
        _ => at,
    };
    let before = prefix_start.checked_sub(1).map(|p| chars[p]);
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let hashes = chars[at + 1..].iter().take_while(|&&c| c == '#').count();
    (chars.get(at + 1 + hashes) == Some(&'"')).then_some(hashes)
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

// --- Reading the policies ----------------------------------------------------------------------

/// One action a policy allows.
struct Grant {
    /// As the policy spells it.
    action: String,
    /// The statement's `Sid` (or position).
    statement: String,
    resource: Json,
}

/// The actions `document` allows, by lower-case action; wildcards, `NotAction` and malformed
/// actions go to `problems`.
fn grants(what: &str, document: &Json, problems: &mut Vec<String>) -> BTreeMap<String, Grant> {
    let mut grants = BTreeMap::new();
    let statements = statements(&document["Statement"]);
    if statements.is_empty() {
        problems.push(format!("{what}: no statements"));
    }
    for (n, statement) in statements.into_iter().enumerate() {
        let sid = statement["Sid"]
            .as_str()
            .map_or_else(|| format!("#{}", n + 1), str::to_string);
        if statement["Effect"] != "Allow" {
            continue;
        }
        if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
            problems.push(format!(
                "{what}: statement {sid} uses NotAction or NotResource, which grant all but what they name"
            ));
        }
        let actions = strings(&statement["Action"]);
        if actions.is_empty() {
            problems.push(format!("{what}: statement {sid} allows no Action"));
        }
        for action in actions {
            let well_formed = action.split_once(':').is_some_and(|(service, name)| {
                !service.is_empty()
                    && !name.is_empty()
                    && action
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-')
            });
            if !well_formed {
                problems.push(format!(
                    "{what}: statement {sid} allows {action:?}: grant each call by its exact name, no wildcards"
                ));
                continue;
            }
            let previous = grants.insert(
                action.to_ascii_lowercase(),
                Grant {
                    action: action.clone(),
                    statement: sid.clone(),
                    resource: statement["Resource"].clone(),
                },
            );
            if let Some(previous) = previous {
                problems.push(format!(
                    "{what}: {action} is granted twice (statements {} and {sid})",
                    previous.statement
                ));
            }
        }
    }
    grants
}

/// Every call granted and every grant called, or `problems` says which are not.
fn compare(
    what: &str,
    calls: &BTreeMap<String, Call>,
    grants: &BTreeMap<String, Grant>,
    problems: &mut Vec<String>,
) {
    for (key, call) in calls {
        if !grants.contains_key(key) {
            let places: Vec<&str> = call.places.iter().map(String::as_str).collect();
            problems.push(format!(
                "{what}: missing {}: trailsync calls it ({}) but the policy does not grant it",
                call.action,
                places.join(", ")
            ));
        }
    }
    for (key, grant) in grants {
        if !calls.contains_key(key) {
            problems.push(format!(
                "{what}: extra {} (statement {}): granted, but nothing in crates/trailsync-aws/src calls it",
                grant.action, grant.statement
            ));
        }
    }
}

fn assert_no_problems(problems: &[String], calls: &BTreeMap<String, Call>) {
    let called: Vec<&str> = calls.values().map(|c| c.action.as_str()).collect();
    assert!(
        problems.is_empty(),
        "the IAM policies under deploy/ must grant exactly the AWS calls of crates/trailsync-aws/src:\n  {}\n\n\
         the calls found ({}): {}",
        problems.join("\n  "),
        called.len(),
        called.join(" ")
    );
}

/// The statements of a `Statement` value: a list or a single statement, with both branches of a
/// CloudFormation `Fn::If` taken and `AWS::NoValue` dropped.
fn statements(value: &Json) -> Vec<&Json> {
    match value {
        Json::Array(items) => items.iter().flat_map(statements).collect(),
        Json::Object(map) => match map.get("Fn::If").and_then(Json::as_array) {
            Some(branches) => branches.iter().skip(1).flat_map(statements).collect(),
            None if map.get("Ref").and_then(Json::as_str) == Some("AWS::NoValue") => Vec::new(),
            None => vec![value],
        },
        _ => Vec::new(),
    }
}

/// A string or a list of strings (`Action`, `Resource`).
fn strings(value: &Json) -> Vec<String> {
    match value {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// The permission policies of a template's IAM resources, by resource name: managed policies and
/// the inline policies of roles, users and groups (not trust policies).
fn permission_documents(template: &Json) -> Vec<(String, &Json)> {
    let mut documents = Vec::new();
    let Some(resources) = template["Resources"].as_object() else {
        return documents;
    };
    for (name, resource) in resources {
        let properties = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy") => {
                documents.push((name.clone(), &properties["PolicyDocument"]));
            }
            Some("AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group") => {
                for policy in properties["Policies"].as_array().into_iter().flatten() {
                    documents.push((name.clone(), &policy["PolicyDocument"]));
                }
            }
            _ => {}
        }
    }
    documents
}

fn resources_of_type<'t>(template: &'t Json, kind: &str) -> Vec<(&'t String, &'t Json)> {
    template["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, resource)| resource["Type"] == kind)
        .collect()
}

/// A CloudFormation YAML template as its JSON form: short tags become their long form
/// (`!Ref X` → `{"Ref": "X"}`, `!If [..]` → `{"Fn::If": [..]}`); every scalar is a string.
fn template(path: &str) -> Json {
    yaml_to_json(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml_to_json(text: &str) -> Result<Json, String> {
    /// A collection being built, and the tag to wrap it in.
    enum Frame {
        Seq(Vec<Json>, Option<String>),
        Map(Map<String, Json>, Option<String>, Option<String>),
    }
    let tagged = |value: Json, tag: Option<String>| match tag {
        None => value,
        Some(tag) => {
            let key = if tag == "Ref" {
                tag
            } else {
                format!("Fn::{tag}")
            };
            Json::Object(Map::from_iter([(key, value)]))
        }
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| format!("invalid YAML: {e}"))?;
        let short_tag = |tag: Option<std::borrow::Cow<'_, saphyr_parser::Tag>>| {
            tag.filter(|t| t.handle == "!").map(|t| t.suffix.clone())
        };
        let complete = match event {
            Event::SequenceStart(_, tag) => {
                stack.push(Frame::Seq(Vec::new(), short_tag(tag)));
                None
            }
            Event::MappingStart(_, tag) => {
                stack.push(Frame::Map(Map::new(), None, short_tag(tag)));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, tag)) => Some(tagged(Json::Array(items), tag)),
                Some(Frame::Map(map, _, tag)) => Some(tagged(Json::Object(map), tag)),
                None => return Err(format!("unbalanced YAML at line {}", span.start.line())),
            },
            Event::Scalar(text, _, _, tag) => {
                Some(tagged(Json::String(text.into_owned()), short_tag(tag)))
            }
            Event::Alias(_) => {
                return Err(format!(
                    "line {}: aliases are not used in templates here",
                    span.start.line()
                ));
            }
            _ => None,
        };
        let Some(value) = complete else {
            continue;
        };
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, key, _)) => match key.take() {
                Some(key) => {
                    map.insert(key, value);
                }
                None => match value {
                    Json::String(text) => *key = Some(text),
                    _ => {
                        return Err(format!(
                            "line {}: a key that is not text",
                            span.start.line()
                        ));
                    }
                },
            },
        }
    }
    root.ok_or_else(|| "an empty document".to_string())
}

// --- Files -------------------------------------------------------------------------------------

/// The workspace root: two levels above this crate.
fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .expect("crates/trailsync-aws is two levels below the workspace root")
}

/// A file of the repository, by its path from the root.
fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}
