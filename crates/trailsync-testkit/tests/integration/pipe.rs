use aws_sdk_kinesis::types::ShardIteratorType;
use flate2::read::GzDecoder;
use serde_json::Value;
use std::io::Read;
use trailsync_testkit::{
    CloudTrailPipe, DEFAULT_ACCOUNT, Moto, SUBSCRIPTION_FILTER, cloudtrail, decode_payload, gzip,
    payload_events,
};

const REGION: &str = "us-east-1";

/// The whole path, read back with the raw Kinesis API exactly as a consumer would: moto turns every
/// PutLogEvents call into one gzip'd DATA_MESSAGE record carrying the events in order.
#[tokio::test]
async fn events_written_to_the_log_group_arrive_in_kinesis() {
    let moto = Moto::start().await.expect("moto starts");
    let config = moto.sdk_config(REGION);
    let pipe = CloudTrailPipe::create(&config, "cloudtrail", 1)
        .await
        .expect("pipe created");
    assert_eq!(
        pipe.stream_arn(),
        format!("arn:aws:kinesis:{REGION}:{DEFAULT_ACCOUNT}:stream/cloudtrail")
    );
    assert_eq!(pipe.account_id(), DEFAULT_ACCOUNT);

    let first = vec![
        cloudtrail::run_instances(
            DEFAULT_ACCOUNT,
            REGION,
            &["i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2"],
        ),
        cloudtrail::create_tags(
            DEFAULT_ACCOUNT,
            REGION,
            &["i-0aaaaaaaaaaaaaaa1"],
            &[("Name", "web")],
        ),
        cloudtrail::stop_instances(DEFAULT_ACCOUNT, REGION, &["i-0aaaaaaaaaaaaaaa2"]),
    ];
    let second = vec![cloudtrail::terminate_instances(
        DEFAULT_ACCOUNT,
        REGION,
        &["i-0aaaaaaaaaaaaaaa2"],
    )];
    pipe.send(&first).await.expect("first batch sent");
    pipe.send(&second).await.expect("second batch sent");
    pipe.send(&[]).await.expect("an empty batch is a no-op");

    // Raw read: ListShards, GetShardIterator(TRIM_HORIZON), GetRecords.
    let kinesis = aws_sdk_kinesis::Client::new(&config);
    let shards = kinesis
        .list_shards()
        .stream_arn(pipe.stream_arn())
        .send()
        .await
        .expect("list shards");
    let shard_id = shards.shards()[0].shard_id().to_owned();
    let iterator = kinesis
        .get_shard_iterator()
        .stream_arn(pipe.stream_arn())
        .shard_id(&shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("iterator")
        .shard_iterator
        .expect("TRIM_HORIZON iterator");
    let out = kinesis
        .get_records()
        .stream_arn(pipe.stream_arn())
        .shard_iterator(iterator)
        .send()
        .await
        .expect("records");
    assert_eq!(out.records().len(), 2, "one record per PutLogEvents call");
    assert!(out.next_shard_iterator().is_some());

    let mut sequence_numbers = Vec::new();
    for (record, sent) in out.records().iter().zip([&first, &second]) {
        sequence_numbers.push(record.sequence_number().to_owned());
        let data = record.data().as_ref();
        assert_eq!(&data[..2], &[0x1f, 0x8b], "gzip magic");
        let mut text = String::new();
        GzDecoder::new(data)
            .read_to_string(&mut text)
            .expect("gunzips");
        let payload: Value = serde_json::from_str(&text).expect("payload is JSON");

        assert_eq!(payload["messageType"], "DATA_MESSAGE");
        assert_eq!(payload["owner"], DEFAULT_ACCOUNT);
        assert_eq!(payload["logGroup"], pipe.log_group());
        assert_eq!(payload["logStream"], pipe.log_stream());
        assert_eq!(
            payload["subscriptionFilters"],
            serde_json::json!([SUBSCRIPTION_FILTER])
        );
        let log_events = payload["logEvents"].as_array().expect("logEvents");
        let messages: Vec<Value> = log_events
            .iter()
            .map(|e| {
                serde_json::from_str(e["message"].as_str().expect("message string"))
                    .expect("message is JSON")
            })
            .collect();
        assert_eq!(&messages, sent, "messages are the events, in order");
        for event in log_events {
            assert!(event["timestamp"].is_i64(), "timestamp in ms: {event}");
            // moto quirk: ids are small integers, where AWS writes 56-digit strings.
            assert!(event["id"].is_u64(), "moto writes numeric ids: {event}");
        }
    }
    // moto quirk: sequence numbers are small decimal integers, increasing per shard.
    let numeric: Vec<u64> = sequence_numbers
        .iter()
        .map(|s| s.parse().expect("sequence number is a small integer"))
        .collect();
    assert!(numeric.windows(2).all(|w| w[0] < w[1]), "{numeric:?}");

    // The convenience reader agrees with the raw read.
    let mut all = first.clone();
    all.extend(second);
    assert_eq!(pipe.read_events().await.expect("read back"), all);
}

/// With several shards each record lands in one of them (moto uses a random partition key); nothing is
/// lost or duplicated.
#[tokio::test]
async fn every_record_arrives_once_across_shards() {
    let moto = Moto::start().await.expect("moto starts");
    let pipe = CloudTrailPipe::create(&moto.sdk_config(REGION), "multi", 4)
        .await
        .expect("pipe");
    let batches: Vec<Vec<Value>> = (0..12)
        .map(|n| {
            vec![cloudtrail::start_instances(
                DEFAULT_ACCOUNT,
                REGION,
                &[&format!("i-{n:017x}")],
            )]
        })
        .collect();
    for batch in &batches {
        pipe.send(batch).await.expect("sent");
    }
    let records = pipe.read_all().await.expect("read");
    assert_eq!(records.len(), batches.len());
    let mut got: Vec<Value> = records
        .iter()
        .flat_map(|r| payload_events(&decode_payload(&r.data).expect("decodes")).expect("events"))
        .collect();
    let mut want: Vec<Value> = batches.into_iter().flatten().collect();
    let by_id = |v: &Value| v["eventID"].as_str().map(str::to_owned);
    got.sort_by_key(by_id);
    want.sort_by_key(by_id);
    assert_eq!(got, want);
    let mut shards: Vec<&str> = records.iter().map(|r| r.shard_id.as_str()).collect();
    shards.dedup();
    assert!(
        shards.iter().all(|s| s.starts_with("shardId-")),
        "{shards:?}"
    );
}

/// Records put without CloudWatch Logs: AWS-shaped payloads and arbitrary bytes, for decoder tests.
#[tokio::test]
async fn direct_and_raw_records_are_readable() {
    let moto = Moto::start().await.expect("moto starts");
    let pipe = CloudTrailPipe::create(&moto.sdk_config(REGION), "direct", 1)
        .await
        .expect("pipe");
    let events = vec![cloudtrail::delete_tags(
        DEFAULT_ACCOUNT,
        REGION,
        &["sg-0123456789abcdef0"],
        &["team"],
    )];
    let direct = pipe.send_direct(&events).await.expect("direct put");
    let broken = gzip(b"{\"messageType\":\"DATA_MESSAGE\"").expect("gzip");
    let raw = pipe
        .put_raw(broken[..broken.len() - 4].to_vec(), "any")
        .await
        .expect("raw put");
    assert_eq!(direct.shard_id, raw.shard_id);

    let records = pipe.read_all().await.expect("read");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].sequence_number, direct.sequence_number);
    let payload = decode_payload(&records[0].data).expect("direct payload decodes");
    assert!(
        payload["logEvents"][0]["id"].is_string(),
        "AWS-style string id"
    );
    assert_eq!(payload_events(&payload).expect("events"), events);
    assert_eq!(records[1].partition_key, "any");
    assert!(
        decode_payload(&records[1].data).is_err(),
        "truncated gzip stays undecodable"
    );
}

/// A stream in another account: the payload owner is that account, as with a cross-account trail.
#[tokio::test]
async fn pipe_in_a_second_account() {
    let moto = Moto::start().await.expect("moto starts");
    let other = "444455556666";
    let config = moto
        .sdk_config_for_account(REGION, other)
        .await
        .expect("assumed role");
    let pipe = CloudTrailPipe::create(&config, "cloudtrail", 1)
        .await
        .expect("pipe");
    assert_eq!(
        pipe.stream_arn(),
        format!("arn:aws:kinesis:{REGION}:{other}:stream/cloudtrail")
    );
    assert_eq!(pipe.log_stream(), format!("{other}_CloudTrail_{REGION}"));
    let events = vec![cloudtrail::terminate_instances(
        other,
        REGION,
        &["i-0bbbbbbbbbbbbbbb1"],
    )];
    pipe.send(&events).await.expect("sent");
    let records = pipe.read_all().await.expect("read");
    let payload = decode_payload(&records[0].data).expect("decodes");
    assert_eq!(payload["owner"], other);
    assert_eq!(payload_events(&payload).expect("events"), events);

    // The default account has no such stream: same name, separate world.
    let default_pipe = CloudTrailPipe::create(&moto.sdk_config(REGION), "cloudtrail", 1).await;
    assert!(
        default_pipe.is_ok(),
        "same stream name is free in the default account"
    );
}
