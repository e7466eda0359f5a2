use aws_config::retry::RetryConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use trailsync_testkit::{Fault, FaultProxy, Moto};

const REGION: &str = "us-east-1";

/// Clients through the proxy, without the SDK's retries (each call is one request).
fn through(moto: &Moto, proxy: &FaultProxy) -> aws_config::SdkConfig {
    moto.sdk_config(REGION)
        .into_builder()
        .endpoint_url(proxy.endpoint())
        .retry_config(RetryConfig::disabled())
        .build()
}

#[tokio::test]
async fn faults_are_answered_as_aws_answers_them_and_the_rest_reaches_moto() {
    let moto = Moto::start().await.expect("moto starts");
    let proxy = FaultProxy::start(&moto.endpoint())
        .await
        .expect("proxy starts");
    let config = through(&moto, &proxy);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let kinesis = aws_sdk_kinesis::Client::new(&config);

    ec2.describe_vpcs().send().await.expect("forwarded to moto");

    // EC2's throttling: RequestLimitExceeded (query protocol, HTTP 503).
    proxy.inject("DescribeInstances", Fault::Throttle, 1.0);
    let error = ec2
        .describe_instances()
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(error.code(), Some("RequestLimitExceeded"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(503));
    ec2.describe_vpcs()
        .send()
        .await
        .expect("other operations pass");

    // IAM's (query protocol): Throttling; a 500 is InternalFailure.
    proxy.inject("ListRoles", Fault::Throttle, 1.0);
    proxy.inject("ListUsers", Fault::ServerError(500), 1.0);
    let error = iam.list_roles().send().await.expect_err("throttled");
    assert_eq!(error.code(), Some("Throttling"));
    let error = iam.list_users().send().await.expect_err("failed");
    assert_eq!(error.code(), Some("InternalFailure"));
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(500));

    // Kinesis (JSON protocol): a dropped connection is a dispatch failure, not an answer.
    proxy.inject("ListStreams", Fault::Drop, 1.0);
    let error = kinesis.list_streams().send().await.expect_err("dropped");
    assert!(
        matches!(
            error,
            aws_sdk_kinesis::error::SdkError::DispatchFailure(_)
                | aws_sdk_kinesis::error::SdkError::ResponseError(_)
        ),
        "{error:?}"
    );

    // Half of the calls: exactly every second one.
    proxy.clear();
    proxy.inject("DescribeSubnets", Fault::ServerError(503), 0.5);
    let mut failed = 0;
    for _ in 0..10 {
        if ec2.describe_subnets().send().await.is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 5);
    assert_eq!(proxy.calls("DescribeSubnets"), 10);
    assert_eq!(proxy.faulted("DescribeSubnets"), 5);

    // A delay holds the answer back, then delivers moto's.
    proxy.clear();
    proxy.inject(
        "DescribeVpcs",
        Fault::Delay(std::time::Duration::from_millis(300)),
        1.0,
    );
    let started = std::time::Instant::now();
    ec2.describe_vpcs()
        .send()
        .await
        .expect("delayed, not failed");
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(proxy.calls("DescribeInstances"), 1);
    assert_eq!(proxy.calls("DescribeVpcs"), 3);
}
