use trailsync_testkit::{DEFAULT_ACCOUNT, Moto, TestkitError, ec2};

const OTHER_ACCOUNT: &str = "111122223333";

#[tokio::test]
async fn assumed_role_account_is_a_separate_empty_world() {
    let moto = Moto::start().await.expect("moto starts");
    let first = moto.sdk_config("us-east-1");
    let first_ec2 = aws_sdk_ec2::Client::new(&first);
    let launched = ec2::run_instances(&first_ec2, 2, &[])
        .await
        .expect("instances in the first account");

    let second = moto
        .sdk_config_for_account("us-east-1", OTHER_ACCOUNT)
        .await
        .expect("AssumeRole into the second account");
    let who = aws_sdk_sts::Client::new(&second)
        .get_caller_identity()
        .send()
        .await
        .expect("caller identity");
    assert_eq!(who.account(), Some(OTHER_ACCOUNT));
    assert!(
        who.arn().is_some_and(
            |arn| arn.starts_with(&format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/"))
        ),
        "{:?}",
        who.arn()
    );

    let second_ec2 = aws_sdk_ec2::Client::new(&second);
    assert_eq!(
        instance_ids(&second_ec2).await,
        Vec::<String>::new(),
        "second account starts empty"
    );
    let mut first_ids = instance_ids(&first_ec2).await;
    first_ids.sort();
    let mut launched_sorted = launched.clone();
    launched_sorted.sort();
    assert_eq!(
        first_ids, launched_sorted,
        "first account keeps its instances"
    );

    // And the other way round: what the second account launches stays there.
    let theirs = ec2::run_instances(&second_ec2, 1, &[])
        .await
        .expect("instance in the second account");
    assert_eq!(instance_ids(&second_ec2).await, theirs);
    assert_eq!(instance_ids(&first_ec2).await.len(), 2);

    // The default account through the same helper is the default world.
    let same = moto
        .sdk_config_for_account("us-east-1", DEFAULT_ACCOUNT)
        .await
        .expect("default account");
    assert_eq!(
        instance_ids(&aws_sdk_ec2::Client::new(&same)).await.len(),
        2
    );
}

#[tokio::test]
async fn account_ids_are_validated() {
    let moto = Moto::start().await.expect("moto starts");
    for bad in ["12345", "1234567890123", "12345678901a"] {
        let err = moto
            .sdk_config_for_account("us-east-1", bad)
            .await
            .expect_err("not an account id");
        assert!(
            matches!(err, TestkitError::InvalidAccountId(ref id) if id == bad),
            "{err}"
        );
    }
}

async fn instance_ids(client: &aws_sdk_ec2::Client) -> Vec<String> {
    client
        .describe_instances()
        .send()
        .await
        .expect("describe instances")
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect()
}

/// moto quirk the helper documents: a reset forgets assumed roles, and the old keys silently fall back
/// to the default account. Tests that reset must ask for the account's config again.
#[tokio::test]
async fn reset_forgets_assumed_roles() {
    let moto = Moto::start().await.expect("moto starts");
    let stale = moto
        .sdk_config_for_account("us-east-1", OTHER_ACCOUNT)
        .await
        .expect("assumed role");
    assert_eq!(account_of(&stale).await, OTHER_ACCOUNT);

    moto.reset().await.expect("reset");
    assert_eq!(
        account_of(&stale).await,
        DEFAULT_ACCOUNT,
        "old keys now mean the default account"
    );
    let fresh = moto
        .sdk_config_for_account("us-east-1", OTHER_ACCOUNT)
        .await
        .expect("assumed again");
    assert_eq!(account_of(&fresh).await, OTHER_ACCOUNT);
}

async fn account_of(config: &aws_config::SdkConfig) -> String {
    aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .expect("caller identity")
        .account()
        .expect("account in identity")
        .to_owned()
}
