//! The real CloudTrail delivery path, minus CloudTrail: CloudWatch Logs -> subscription filter -> Kinesis.
//!
//! In production CloudTrail writes each event as one log event into a log group whose subscription
//! filter forwards batches to Kinesis as gzip'd JSON "subscription payloads". moto implements the
//! second half (log group, subscription filter, delivery into Kinesis), so a test writes the
//! CloudTrail event into the log group with [`CloudTrailPipe::send`] and trailsync reads exactly the
//! bytes it would read in production. [`CloudTrailPipe::send_direct`] and [`CloudTrailPipe::put_raw`]
//! skip CloudWatch Logs for tests that need control over the record (real AWS field types, undecodable
//! data, a chosen shard).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{Shard, ShardIteratorType, StreamStatus};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use crate::error::{Result, TestkitError};

/// Name of the subscription filter the pipe creates.
pub const SUBSCRIPTION_FILTER: &str = "trailsync-kinesis";

/// How long a new stream may take to turn ACTIVE (moto: immediately; the bound is for real AWS-likes).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// PutLogEvents limits: 10,000 events and 1,048,576 bytes per call, counting 26 bytes per event.
const MAX_BATCH_EVENTS: usize = 10_000;
const MAX_BATCH_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;

/// A Kinesis stream fed by a CloudWatch Logs log group through a subscription filter.
#[derive(Debug, Clone)]
pub struct CloudTrailPipe {
    kinesis: aws_sdk_kinesis::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    stream_name: String,
    stream_arn: String,
    account_id: String,
    log_group: String,
    log_stream: String,
}

/// Where a record written with [`CloudTrailPipe::send_direct`] or [`CloudTrailPipe::put_raw`] landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub shard_id: String,
    pub sequence_number: String,
}

/// One record read back from the stream by [`CloudTrailPipe::read_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
}

impl CloudTrailPipe {
    /// Creates the stream (`shard_count` shards, waited ACTIVE), log group
    /// `aws-cloudtrail-logs-<stream_name>`, log stream `<account>_CloudTrail_<region>` (CloudTrail's
    /// own naming) and the subscription filter from the group to the stream.
    pub async fn create(config: &SdkConfig, stream_name: &str, shard_count: i32) -> Result<Self> {
        let kinesis = aws_sdk_kinesis::Client::new(config);
        let logs = aws_sdk_cloudwatchlogs::Client::new(config);

        kinesis
            .create_stream()
            .stream_name(stream_name)
            .shard_count(shard_count)
            .send()
            .await
            .map_err(TestkitError::aws("kinesis:CreateStream"))?;
        let stream_arn = wait_active(&kinesis, stream_name).await?;
        // arn:aws:kinesis:<region>:<account>:stream/<name>
        let mut arn_parts = stream_arn.split(':');
        let region = arn_parts.nth(3).unwrap_or_default().to_owned();
        let account_id = arn_parts.next().unwrap_or_default().to_owned();
        if account_id.is_empty() || region.is_empty() {
            return Err(TestkitError::Decode {
                what: "Kinesis stream ARN",
                reason: format!("no region/account in {stream_arn:?}"),
            });
        }

        let log_group = format!("aws-cloudtrail-logs-{stream_name}");
        let log_stream = format!("{account_id}_CloudTrail_{region}");
        logs.create_log_group()
            .log_group_name(&log_group)
            .send()
            .await
            .map_err(TestkitError::aws("logs:CreateLogGroup"))?;
        logs.create_log_stream()
            .log_group_name(&log_group)
            .log_stream_name(&log_stream)
            .send()
            .await
            .map_err(TestkitError::aws("logs:CreateLogStream"))?;
        // Real AWS needs a role CloudWatch Logs can assume to write to Kinesis; moto only wants a value.
        logs.put_subscription_filter()
            .log_group_name(&log_group)
            .filter_name(SUBSCRIPTION_FILTER)
            .filter_pattern("")
            .destination_arn(&stream_arn)
            .role_arn(format!("arn:aws:iam::{account_id}:role/CWLtoKinesisRole"))
            .send()
            .await
            .map_err(TestkitError::aws("logs:PutSubscriptionFilter"))?;

        Ok(CloudTrailPipe {
            kinesis,
            logs,
            stream_name: stream_name.to_owned(),
            stream_arn,
            account_id,
            log_group,
            log_stream,
        })
    }

    /// ARN of the Kinesis stream: what `event_based_sync.kinesis_stream_arn` takes.
    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// Name of the Kinesis stream.
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    /// Account owning the stream and the log group (the payloads' `owner`).
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Name of the log group CloudTrail would write to.
    pub fn log_group(&self) -> &str {
        &self.log_group
    }

    /// Name of the log stream events are written to.
    pub fn log_stream(&self) -> &str {
        &self.log_stream
    }

    /// Writes each event as one log event (JSON text, timestamp now, in order) into the log group.
    ///
    /// moto delivers synchronously: when this returns, each PutLogEvents call (one per 10,000 events or
    /// 1 MB) has become one gzip'd `DATA_MESSAGE` record in one shard of the stream.
    pub async fn send(&self, events: &[Value]) -> Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut batch: Vec<InputLogEvent> = Vec::new();
        let mut batch_bytes = 0;
        for event in events {
            let message = serde_json::to_string(event).map_err(|source| TestkitError::Json {
                action: "serialisation of a CloudTrail event",
                source,
            })?;
            let size = message.len() + EVENT_OVERHEAD;
            if !batch.is_empty()
                && (batch.len() == MAX_BATCH_EVENTS || batch_bytes + size > MAX_BATCH_BYTES)
            {
                self.put_log_events(std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch.push(
                InputLogEvent::builder()
                    .timestamp(now)
                    .message(message)
                    .build()
                    .map_err(TestkitError::aws("logs:PutLogEvents (building an event)"))?,
            );
            batch_bytes += size;
        }
        if !batch.is_empty() {
            self.put_log_events(batch).await?;
        }
        Ok(())
    }

    async fn put_log_events(&self, batch: Vec<InputLogEvent>) -> Result<()> {
        self.logs
            .put_log_events()
            .log_group_name(&self.log_group)
            .log_stream_name(&self.log_stream)
            .set_log_events(Some(batch))
            .send()
            .await
            .map_err(TestkitError::aws("logs:PutLogEvents"))?;
        Ok(())
    }

    /// Puts the events as one subscription payload straight into Kinesis, formatted as real AWS
    /// formats it (see [`encode_payload`]), under a random partition key as CloudWatch Logs does.
    pub async fn send_direct(&self, events: &[Value]) -> Result<Placement> {
        let payload = encode_payload(&self.account_id, &self.log_group, &self.log_stream, events)?;
        self.put_raw(payload, &uuid::Uuid::new_v4().to_string())
            .await
    }

    /// Puts arbitrary bytes as one record: for undecodable, truncated or foreign records, or to
    /// target a shard through the partition key.
    pub async fn put_raw(&self, data: Vec<u8>, partition_key: &str) -> Result<Placement> {
        let out = self
            .kinesis
            .put_record()
            .stream_arn(&self.stream_arn)
            .partition_key(partition_key)
            .data(Blob::new(data))
            .send()
            .await
            .map_err(TestkitError::aws("kinesis:PutRecord"))?;
        Ok(Placement {
            shard_id: out.shard_id,
            sequence_number: out.sequence_number,
        })
    }

    /// Every shard of the stream, closed ones included, as ListShards returns them.
    pub async fn shards(&self) -> Result<Vec<Shard>> {
        let mut shards = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            // ListShards takes either the stream or a continuation token, never both.
            let request = match &next_token {
                Some(token) => self.kinesis.list_shards().next_token(token),
                None => self.kinesis.list_shards().stream_arn(&self.stream_arn),
            };
            let out = request
                .send()
                .await
                .map_err(TestkitError::aws("kinesis:ListShards"))?;
            shards.extend(out.shards().iter().cloned());
            next_token = out.next_token;
            if next_token.is_none() {
                return Ok(shards);
            }
        }
    }

    /// Splits a shard in two at the middle of its hash key range (SplitShard): the shard is
    /// closed and two children take its keys.
    ///
    /// moto differs from AWS here: new records keep landing in the closed parent (its key lookup
    /// finds the parent first), and the children stay empty.
    pub async fn split_shard(&self, shard_id: &str) -> Result<()> {
        let shards = self.shards().await?;
        let shard = shards
            .iter()
            .find(|s| s.shard_id() == shard_id)
            .ok_or_else(|| TestkitError::Decode {
                what: "ListShards answer",
                reason: format!("no shard {shard_id}"),
            })?;
        let range = shard.hash_key_range();
        let bound = |key: Option<&str>| -> Result<u128> {
            key.and_then(|k| k.parse().ok())
                .ok_or_else(|| TestkitError::Decode {
                    what: "shard hash key range",
                    reason: format!("{range:?} of {shard_id}"),
                })
        };
        let (start, end) = (
            bound(range.map(|r| r.starting_hash_key()))?,
            bound(range.map(|r| r.ending_hash_key()))?,
        );
        let middle = start / 2 + end / 2;
        self.kinesis
            .split_shard()
            .stream_arn(&self.stream_arn)
            .shard_to_split(shard_id)
            .new_starting_hash_key(middle.to_string())
            .send()
            .await
            .map_err(TestkitError::aws("kinesis:SplitShard"))?;
        Ok(())
    }

    /// Merges two adjacent shards into one (MergeShards): both are closed, the child takes
    /// their keys.
    ///
    /// moto differs from AWS here: the child starts with copies of both parents' records, and
    /// new records keep landing in the closed parents.
    pub async fn merge_shards(&self, shard_id: &str, adjacent_shard_id: &str) -> Result<()> {
        self.kinesis
            .merge_shards()
            .stream_arn(&self.stream_arn)
            .shard_to_merge(shard_id)
            .adjacent_shard_to_merge(adjacent_shard_id)
            .send()
            .await
            .map_err(TestkitError::aws("kinesis:MergeShards"))?;
        Ok(())
    }

    /// Every record currently in the stream, shard by shard (ListShards order), each from
    /// TRIM_HORIZON: what a consumer starting from scratch would see.
    pub async fn read_all(&self) -> Result<Vec<StreamRecord>> {
        let shard_ids: Vec<String> = self
            .shards()
            .await?
            .iter()
            .map(|s| s.shard_id().to_owned())
            .collect();

        let mut records = Vec::new();
        for shard_id in shard_ids {
            let mut iterator = self
                .kinesis
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(TestkitError::aws("kinesis:GetShardIterator"))?
                .shard_iterator;
            // moto keeps handing out iterators even for a drained shard: stop at the first empty page.
            while let Some(current) = iterator {
                let out = self
                    .kinesis
                    .get_records()
                    .stream_arn(&self.stream_arn)
                    .shard_iterator(current)
                    .send()
                    .await
                    .map_err(TestkitError::aws("kinesis:GetRecords"))?;
                if out.records.is_empty() {
                    break;
                }
                records.extend(out.records.into_iter().map(|r| StreamRecord {
                    shard_id: shard_id.clone(),
                    sequence_number: r.sequence_number,
                    partition_key: r.partition_key.unwrap_or_default(),
                    data: r.data.into_inner(),
                }));
                iterator = out.next_shard_iterator;
            }
        }
        Ok(records)
    }

    /// The CloudTrail events carried by every record in the stream (see [`CloudTrailPipe::read_all`]),
    /// each log event's `message` parsed as JSON.
    pub async fn read_events(&self) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        for record in self.read_all().await? {
            events.extend(payload_events(&decode_payload(&record.data)?)?);
        }
        Ok(events)
    }
}

async fn wait_active(kinesis: &aws_sdk_kinesis::Client, stream_name: &str) -> Result<String> {
    let started = Instant::now();
    loop {
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(stream_name)
            .send()
            .await
            .map_err(TestkitError::aws("kinesis:DescribeStreamSummary"))?
            .stream_description_summary
            .ok_or(TestkitError::MissingField {
                operation: "kinesis:DescribeStreamSummary",
                field: "StreamDescriptionSummary",
            })?;
        if summary.stream_status == StreamStatus::Active {
            return Ok(summary.stream_arn);
        }
        if started.elapsed() >= ACTIVE_TIMEOUT {
            return Err(TestkitError::StreamNotActive {
                stream: stream_name.to_owned(),
                waited: started.elapsed(),
                status: summary.stream_status.as_str().to_owned(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A gzip'd CloudWatch Logs subscription payload carrying `events`, as real AWS writes it to Kinesis.
///
/// Differs from moto's own deliveries on purpose, in the ways real AWS does: `logEvents[].id` is a
/// 56-digit decimal *string* (moto: a small integer), and keys come in AWS's order.
pub fn encode_payload(
    owner: &str,
    log_group: &str,
    log_stream: &str,
    events: &[Value],
) -> Result<Vec<u8>> {
    let timestamp = chrono::Utc::now().timestamp_millis();
    let log_events = events
        .iter()
        .map(|event| {
            let message = serde_json::to_string(event).map_err(|source| TestkitError::Json {
                action: "serialisation of a CloudTrail event",
                source,
            })?;
            let id = format!("{:0>56}", uuid::Uuid::new_v4().as_u128());
            Ok(json!({ "id": id, "timestamp": timestamp, "message": message }))
        })
        .collect::<Result<Vec<_>>>()?;
    let payload = json!({
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": [SUBSCRIPTION_FILTER],
        "logEvents": log_events,
    });
    gzip(
        &serde_json::to_vec(&payload).map_err(|source| TestkitError::Json {
            action: "serialisation of a subscription payload",
            source,
        })?,
    )
}

/// Gzips bytes (e.g. to hand-craft a payload, or a truncated one by cutting the result).
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let fail = |e: std::io::Error| TestkitError::Decode {
        what: "gzip stream",
        reason: e.to_string(),
    };
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).map_err(fail)?;
    encoder.finish().map_err(fail)
}

/// Gunzips and parses one Kinesis record written by CloudWatch Logs (or [`encode_payload`]).
pub fn decode_payload(data: &[u8]) -> Result<Value> {
    let mut json = Vec::new();
    GzDecoder::new(data)
        .read_to_end(&mut json)
        .map_err(|e| TestkitError::Decode {
            what: "subscription payload (gzip)",
            reason: e.to_string(),
        })?;
    serde_json::from_slice(&json).map_err(|source| TestkitError::Json {
        action: "parse of a subscription payload",
        source,
    })
}

/// The `logEvents[].message` of a `DATA_MESSAGE`, each parsed as JSON; nothing for `CONTROL_MESSAGE`.
pub fn payload_events(payload: &Value) -> Result<Vec<Value>> {
    if payload["messageType"] == "CONTROL_MESSAGE" {
        return Ok(Vec::new());
    }
    let log_events = payload["logEvents"]
        .as_array()
        .ok_or_else(|| TestkitError::Decode {
            what: "subscription payload",
            reason: "no logEvents array".to_owned(),
        })?;
    log_events
        .iter()
        .map(|log_event| {
            let message = log_event["message"]
                .as_str()
                .ok_or_else(|| TestkitError::Decode {
                    what: "subscription payload",
                    reason: "a logEvents entry has no message string".to_owned(),
                })?;
            serde_json::from_str(message).map_err(|source| TestkitError::Json {
                action: "parse of a log event message",
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_looks_like_aws() {
        let events = [json!({"eventName": "A"}), json!({"eventName": "B"})];
        let data = encode_payload("111122223333", "g", "s", &events).expect("encodes");
        assert_eq!(&data[..2], &[0x1f, 0x8b], "gzip magic");
        let payload = decode_payload(&data).expect("decodes");
        assert_eq!(payload["messageType"], "DATA_MESSAGE");
        assert_eq!(payload["owner"], "111122223333");
        assert_eq!(payload["subscriptionFilters"], json!([SUBSCRIPTION_FILTER]));
        let id = payload["logEvents"][0]["id"].as_str().expect("string id");
        assert_eq!(id.len(), 56);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(payload_events(&payload).expect("events"), events);
    }

    #[test]
    fn bad_payloads_are_errors_and_control_messages_are_empty() {
        let data = encode_payload("1", "g", "s", &[json!({})]).expect("encodes");
        assert!(
            decode_payload(&data[..data.len() / 2]).is_err(),
            "truncated gzip"
        );
        assert!(decode_payload(b"{}").is_err(), "not gzip");
        let control = json!({"messageType": "CONTROL_MESSAGE", "logEvents": [{"id": "", "timestamp": 0,
            "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]});
        assert_eq!(
            payload_events(&control).expect("control"),
            Vec::<Value>::new()
        );
    }
}
