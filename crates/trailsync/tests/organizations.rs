//! CloudQuery's `org`: an AWS Organization in moto with nested organizational units, synced
//! through the member role of each account. The sync covers exactly the members under
//! `organization_units`, less `skip_organization_units` and `skip_member_accounts`; rows carry each
//! member's account number; an event from a left-out account is counted, not fetched; and members
//! that join or leave are picked up at the next reconciliation.

#[macro_use]
mod common;

use std::collections::BTreeMap;

use aws_sdk_organizations::types::OrganizationFeatureSet as FeatureSet;
use common::{Store, Trailsync, summary_counter};
use trailsync_testkit::{CloudTrailPipe, Moto, cloudtrail, ec2};

const REGION: &str = "us-east-1";
const SOURCE: &str = "aws-org";

mod an_organization_syncs_exactly_its_selected_members {
    in_both_destinations!(super::an_organization_syncs_exactly_its_selected_members);
}

async fn an_organization_syncs_exactly_its_selected_members(store: &Store) {
    let moto = Moto::start().await.expect("moto starts");
    let admin = moto.sdk_config(REGION);
    let org = aws_sdk_organizations::Client::new(&admin);
    org.create_organization()
        .feature_set(FeatureSet::All)
        .send()
        .await
        .expect("create organization");
    let root = org
        .list_roots()
        .send()
        .await
        .expect("list roots")
        .roots()
        .first()
        .and_then(|r| r.id().map(str::to_string))
        .expect("a root");
    let unit = |parent: String, name: &'static str| {
        let org = org.clone();
        async move {
            org.create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .expect("create OU")
                .organizational_unit
                .and_then(|u| u.id)
                .expect("an OU id")
        }
    };
    let prod = unit(root.clone(), "prod").await;
    let prod_eu = unit(prod.clone(), "prod-eu").await;
    let quarantine = unit(prod.clone(), "quarantine").await;
    let sandbox = unit(root.clone(), "sandbox").await;

    // Accounts, each moved under its unit (one stays at the root, outside every selected OU).
    let mut accounts: BTreeMap<&str, String> = BTreeMap::new();
    for (name, parent) in [
        ("prod", Some(&prod)),
        ("prod-eu", Some(&prod_eu)),
        ("sandbox", Some(&sandbox)),
        ("quarantined", Some(&quarantine)),
        ("skipped", Some(&prod)),
        ("at-root", None),
    ] {
        let id = org
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .expect("create account")
            .create_account_status
            .and_then(|s| s.account_id)
            .expect("an account id");
        if let Some(parent) = parent {
            org.move_account()
                .account_id(&id)
                .source_parent_id(&root)
                .destination_parent_id(parent)
                .send()
                .await
                .expect("move account");
        }
        accounts.insert(name, id);
    }
    // One instance in every member account: each is a world of its own in moto.
    let mut instances: BTreeMap<String, String> = BTreeMap::new();
    for id in accounts.values() {
        let config = moto
            .sdk_config_for_account(REGION, id)
            .await
            .expect("member credentials");
        let launched = ec2::run_instances(&aws_sdk_ec2::Client::new(&config), 1, &[("v", "0")])
            .await
            .expect("launch");
        instances.insert(id.clone(), launched[0].clone());
    }
    let pipe = CloudTrailPipe::create(&admin, "cloudtrail", 1)
        .await
        .expect("pipe");

    let config = format!(
        "kind: source\nspec:\n  name: {SOURCE}\n  path: cloudquery/aws\n  tables: [\"aws_ec2_instances\"]\n  destinations: [inventory]\n  spec:\n    regions: [\"{REGION}\"]\n    endpoint_url: {endpoint}\n    initialization_concurrency: 2\n    org:\n      member_role_name: OrganizationAccountAccessRole\n      member_role_session_name: trailsync-test\n      organization_units: [\"{prod}\", \"{sandbox}\"]\n      skip_organization_units: [\"{quarantine}\"]\n      skip_member_accounts: [\"{skipped}\"]\n    event_based_sync:\n      kinesis_stream_arn: {stream}\n      reconcile_interval: 3s\n      coalesce_window: 100ms\n---\n{destination}",
        endpoint = moto.endpoint(),
        skipped = accounts["skipped"],
        stream = pipe.stream_arn(),
        destination = store.destination_yaml("inventory"),
    );
    let mut trailsync = Trailsync::sync(&config);
    let selected: BTreeMap<String, String> = ["prod", "prod-eu", "sandbox"]
        .iter()
        .map(|name| {
            let id = accounts[name].clone();
            let instance = instances[&id].clone();
            (id, instance)
        })
        .collect();
    trailsync
        .eventually("the selected members' instances", || async {
            let rows: BTreeMap<String, String> = store
                .instances()
                .await
                .into_iter()
                .map(|r| (r.account_id, r.instance_id))
                .collect();
            (rows == selected).then_some(())
        })
        .await;
    for row in store.instances().await {
        assert_eq!(
            row.arn,
            format!(
                "arn:aws:ec2:{REGION}:{}:instance/{}",
                row.account_id, row.instance_id
            ),
            "rows carry the member's account number"
        );
    }

    // Events: one from a selected member is applied; one from a skipped member is counted as
    // an unknown account and not fetched.
    for name in ["prod", "skipped"] {
        let account = &accounts[name];
        let instance = &instances[account];
        let member = moto
            .sdk_config_for_account(REGION, account)
            .await
            .expect("member credentials");
        ec2::create_tags(
            &aws_sdk_ec2::Client::new(&member),
            &[instance.as_str()],
            &[("v", "changed")],
        )
        .await
        .expect("tag in moto");
        pipe.send_direct(&[cloudtrail::create_tags(
            account,
            REGION,
            &[instance.as_str()],
            &[("v", "changed")],
        )])
        .await
        .expect("put record");
    }
    let prod_account = accounts["prod"].clone();
    trailsync
        .eventually("the selected member's change lands", || async {
            store
                .instances()
                .await
                .iter()
                .any(|r| r.account_id == prod_account && r.tags["v"] == "changed")
                .then_some(())
        })
        .await;
    trailsync
        .eventually("the skipped member's event is counted", || async {
            trailsync
                .log()
                .contains("event from an account or region this source does not sync")
                .then_some(())
        })
        .await;
    // Membership changes while streaming are picked up at the next reconciliation: one account
    // joins a selected unit, another leaves for the root.
    for (name, from, to) in [("at-root", &root, &sandbox), ("prod-eu", &prod_eu, &root)] {
        org.move_account()
            .account_id(&accounts[name])
            .source_parent_id(from)
            .destination_parent_id(to)
            .send()
            .await
            .expect("move account");
    }
    let now_selected: std::collections::BTreeSet<String> = ["prod", "sandbox", "at-root"]
        .iter()
        .map(|name| accounts[name].clone())
        .collect();
    trailsync
        .eventually(
            "the joined member synced and the departed one removed",
            || async {
                let rows: std::collections::BTreeSet<String> = store
                    .instances()
                    .await
                    .into_iter()
                    .map(|r| r.account_id)
                    .collect();
                (rows == now_selected).then_some(())
            },
        )
        .await;
    let status = trailsync.terminate().await;
    let log = trailsync.log();
    assert!(status.success(), "{log}");
    assert!(log.contains("skipped[unknown account]=1"), "{log}");
    assert_eq!(summary_counter(&log, "events_applied"), Some(1), "{log}");
    assert!(
        store
            .instances()
            .await
            .iter()
            .all(|r| r.account_id != accounts["skipped"]),
        "nothing of a skipped member is written"
    );
    assert!(log.contains("organization accounts discovered"), "{log}");
}
