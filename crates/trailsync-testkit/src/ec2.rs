//! Seeding EC2 state in moto, so that re-fetches triggered by events find (or miss) real resources.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};

use crate::error::{Result, TestkitError};

/// An AMI moto knows in every region and account (`ubuntu-trusty-14.04-amd64-server-20170727`, from
/// its bundled default images). moto 5.2.5 accepts any `ami-*` id unless `MOTO_ENABLE_AMI_VALIDATION`
/// is set, but an id it knows keeps `DescribeImages` and the instance's platform fields consistent.
pub const DEFAULT_AMI: &str = "ami-1e749f67";

/// Launches `count` t3.micro instances tagged with `tags`; returns their ids in launch order.
pub async fn run_instances(
    client: &Client,
    count: i32,
    tags: &[(&str, &str)],
) -> Result<Vec<String>> {
    let mut request = client
        .run_instances()
        .image_id(DEFAULT_AMI)
        .instance_type(InstanceType::T3Micro)
        .min_count(count)
        .max_count(count);
    if !tags.is_empty() {
        request = request.tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(to_tags(tags)))
                .build(),
        );
    }
    let out = request
        .send()
        .await
        .map_err(TestkitError::aws("ec2:RunInstances"))?;
    out.instances()
        .iter()
        .map(|i| {
            i.instance_id()
                .map(str::to_owned)
                .ok_or(TestkitError::MissingField {
                    operation: "ec2:RunInstances",
                    field: "Instances[].InstanceId",
                })
        })
        .collect()
}

/// The value of tag `key` on every instance that has it, by instance id: moto's side of a
/// comparison with the inventory.
pub async fn tag_values(client: &Client, key: &str) -> Result<BTreeMap<String, String>> {
    let answer = client
        .describe_instances()
        .send()
        .await
        .map_err(TestkitError::aws("ec2:DescribeInstances"))?;
    Ok(answer
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            let id = i.instance_id()?.to_string();
            let value = i.tags().iter().find(|t| t.key() == Some(key))?.value()?;
            Some((id, value.to_string()))
        })
        .collect())
}

/// Adds or overwrites tags on any EC2 resources.
pub async fn create_tags(
    client: &Client,
    resource_ids: &[&str],
    tags: &[(&str, &str)],
) -> Result<()> {
    client
        .create_tags()
        .set_resources(Some(resource_ids.iter().map(|s| (*s).to_owned()).collect()))
        .set_tags(Some(to_tags(tags)))
        .send()
        .await
        .map_err(TestkitError::aws("ec2:CreateTags"))?;
    Ok(())
}

/// Removes tags by key.
pub async fn delete_tags(client: &Client, resource_ids: &[&str], keys: &[&str]) -> Result<()> {
    client
        .delete_tags()
        .set_resources(Some(resource_ids.iter().map(|s| (*s).to_owned()).collect()))
        .set_tags(Some(
            keys.iter()
                .map(|k| Tag::builder().key(*k).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(TestkitError::aws("ec2:DeleteTags"))?;
    Ok(())
}

/// Stops instances (moto: straight to `stopped`).
pub async fn stop(client: &Client, instance_ids: &[&str]) -> Result<()> {
    client
        .stop_instances()
        .set_instance_ids(Some(owned(instance_ids)))
        .send()
        .await
        .map_err(TestkitError::aws("ec2:StopInstances"))?;
    Ok(())
}

/// Starts instances (moto: straight to `running`).
pub async fn start(client: &Client, instance_ids: &[&str]) -> Result<()> {
    client
        .start_instances()
        .set_instance_ids(Some(owned(instance_ids)))
        .send()
        .await
        .map_err(TestkitError::aws("ec2:StartInstances"))?;
    Ok(())
}

/// Terminates instances. moto keeps them visible as `terminated` to DescribeInstances, as AWS does
/// for about an hour: a terminated instance is not a NotFound.
pub async fn terminate(client: &Client, instance_ids: &[&str]) -> Result<()> {
    client
        .terminate_instances()
        .set_instance_ids(Some(owned(instance_ids)))
        .send()
        .await
        .map_err(TestkitError::aws("ec2:TerminateInstances"))?;
    Ok(())
}

fn owned(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn to_tags(tags: &[(&str, &str)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}
