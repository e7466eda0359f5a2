//! No password or external id in what trailsync prints: the config's `Debug`, validation
//! messages, and the errors of failed connections.

use trailsync_core::WriteMode;
use trailsync_destination::PostgresDestination;

const PASSWORD: &str = "sentinel-pw-7f3a";
const EXTERNAL_ID: &str = "sentinel-ext-91c2";
const FILE_SECRET: &str = "sentinel-file-c04d";

fn assert_clean(what: &str, text: &str) {
    for secret in [PASSWORD, EXTERNAL_ID, FILE_SECRET] {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

/// Two sources (accounts with an external id; an organization with external ids) and a
/// PostgreSQL destination with a password, on a port nothing listens on.
fn config_text() -> String {
    format!(
        "kind: source
spec:
  name: accounts
  tables: ['aws_ec2_instances']
  destinations: [pg]
  spec:
    accounts:
      - id: prod
        role_arn: arn:aws:iam::111122223333:role/reader
        external_id: {EXTERNAL_ID}
---
kind: source
spec:
  name: org
  tables: ['aws_ec2_instances']
  destinations: [pg]
  spec:
    org:
      member_role_name: reader
      member_external_id: {EXTERNAL_ID}
      admin_account:
        role_arn: arn:aws:iam::111122223333:role/admin
        external_id: {EXTERNAL_ID}
---
kind: destination
spec:
  name: pg
  path: cloudquery/postgresql
  spec:
    connection_string: postgres://trailsync:{PASSWORD}@127.0.0.1:1/test?sslmode=disable
"
    )
}

#[tokio::test]
async fn secrets_stay_out_of_debug_output_validation_errors_and_connect_errors() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = dir.path().join("trailsync.yml");
    std::fs::write(&file, config_text()).expect("write config");
    let config = trailsync_config::load(&[&file]).unwrap_or_else(|d| panic!("loads: {d}"));
    assert_clean("Debug of the config", &format!("{config:?}"));
    assert_clean("Debug of the config (pretty)", &format!("{config:#?}"));

    // A broken variant: messages about the very fields that hold secrets, and a value read from
    // a file.
    std::fs::write(dir.path().join("secret.txt"), format!("{FILE_SECRET}\n")).expect("write");
    let broken = config_text()
        .replace(
            "        role_arn: arn:aws:iam::111122223333:role/reader\n",
            "        role_arn: ${file:secret.txt}\n",
        )
        .replace(
            "      member_role_name: reader\n",
            "      member_role_name: reader\n      skip_member_accounts: ['${file:secret.txt}']\n",
        )
        .replace(
            "    connection_string:",
            "    batch_size: ${file:secret.txt}\n    connection_strin:",
        )
        + "    batch_size_bytes: 1\n";
    std::fs::write(&file, &broken).expect("write broken config");
    let diagnostics = trailsync_config::load(&[&file]).expect_err("broken config");
    let messages = diagnostics.to_string();
    assert!(diagnostics.len() >= 4, "{messages}");
    assert!(messages.contains("${file:secret.txt}"), "{messages}");
    assert_clean("validation errors", &messages);
    assert_clean(
        "Debug of the validation errors",
        &format!("{diagnostics:?}"),
    );

    // Connecting fails (nothing listens on port 1): neither the error nor its Debug has the password.
    let connection_string = &config.destinations[0].connection_string;
    let error = PostgresDestination::connect(connection_string, WriteMode::OverwriteDeleteStale)
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        error
            .to_string()
            .starts_with("cannot connect to postgresql"),
        "{error}"
    );
    assert_clean("connect error", &error.to_string());
    assert_clean("Debug of the connect error", &format!("{error:?}"));

    // Nor in the other forms and failures: key=value, an invalid string, a TLS setup failure.
    for connection_string in [
        format!(
            "host=127.0.0.1 port=1 user=trailsync password={PASSWORD} dbname=test connect_timeout=5"
        ),
        format!(
            "host=127.0.0.1 port=1 password='{PASSWORD}' sslmode=verify-full sslrootcert=/nonexistent.pem"
        ),
        format!("postgres://trailsync:{PASSWORD}@127.0.0.1:notaport/test"),
        format!("postgres://trailsync:{PASSWORD}@127.0.0.1:1/test?sslmode=bogus"),
        format!("host=127.0.0.1 password={PASSWORD} sslcert=/client.pem"),
        format!("host=127.0.0.1 password='{PASSWORD}"),
    ] {
        let error =
            PostgresDestination::connect(&connection_string, WriteMode::OverwriteDeleteStale)
                .await
                .expect_err(&connection_string);
        assert_clean(
            &format!("the error for {connection_string}"),
            &error.to_string(),
        );
        assert_clean("Debug of the error", &format!("{error:?}"));
    }
}
