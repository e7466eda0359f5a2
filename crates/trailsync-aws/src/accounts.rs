//! Credentials and regions for each account of a source: configured `accounts` (each `id` an
//! alias, as in CloudQuery), the members of an AWS Organization (`org`), or the ambient
//! credentials' account. The account number every row carries comes from STS.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use futures::StreamExt;
use trailsync_config::{AccountConfig, AwsSpec, OrgConfig, Regions};
use trailsync_core::Location;
use trailsync_engine::Stats;

use crate::CallMeter;
use crate::org;

/// The region account-level calls (identity, region list, Organizations) go to unless an
/// account's `default_region` says; set explicitly, so the SDK never asks instance metadata.
const HOME_REGION: &str = "us-east-1";

/// Attempts per AWS call, the first included, unless `max_retries` says: the SDK's standard
/// retry mode backs off exponentially with jitter on throttling, 5xx and transient errors.
/// Beyond them the engine waits and asks again for as long as it takes, holding the records'
/// checkpoints.
const MAX_ATTEMPTS: u32 = 5;
/// The SDK's own longest pause between attempts, unless `max_backoff` says.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Accounts set up at once, unless `initialization_concurrency` says (CloudQuery's default).
const INITIALIZATION_CONCURRENCY: usize = 4;

/// A connection that cannot be made in this long, or an attempt unanswered in this long, fails
/// (and is retried) rather than hanging the fetch.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The session name of assumed roles when the config names none.
const SESSION_NAME: &str = "trailsync";

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("account {account}: cannot resolve identity: {message}")]
    Identity { account: String, message: String },
    #[error("account {account}: cannot list regions: {message}")]
    Regions { account: String, message: String },
    #[error("AWS Organizations: {message}")]
    Organization { message: String },
    #[error(
        "discovered {found} accounts in the organization, but none could be reached by assuming role {role}; check that it exists in the member accounts and trusts the admin account (or set member_trusted_principal)"
    )]
    NoMembers { found: usize, role: String },
}

/// How to call AWS from one source: endpoint, retries, request logging, and the meter every
/// request goes through (pacing and counting).
#[derive(Clone, Debug)]
pub struct Connection {
    pub endpoint_url: Option<String>,
    pub retries: Retries,
    pub meter: CallMeter,
}

impl Connection {
    /// The connection a source's spec asks for, counting into `stats`.
    pub fn of(spec: &AwsSpec, stats: Arc<Stats>) -> Connection {
        Connection {
            endpoint_url: spec.endpoint_url.clone(),
            retries: Retries::of(spec),
            meter: CallMeter::new(stats).logging(spec.aws_debug),
        }
    }
}

/// How the SDK retries one call: CloudQuery's `max_retries` and `max_backoff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retries {
    pub max_attempts: u32,
    pub max_backoff: Duration,
}

impl Retries {
    /// The retries a source's spec asks for, trailsync's defaults for what it leaves out.
    pub fn of(spec: &AwsSpec) -> Retries {
        Retries {
            max_attempts: spec.max_retries.unwrap_or(MAX_ATTEMPTS).max(1),
            max_backoff: spec.max_backoff.unwrap_or(MAX_BACKOFF),
        }
    }
}

/// One account ready to call AWS with.
#[derive(Clone, Debug)]
pub struct Account {
    /// The account number (from STS): what rows carry.
    pub id: String,
    /// What the config calls it (its `account_name` or `id`), for logs.
    pub alias: String,
    pub config: SdkConfig,
    pub regions: Vec<String>,
}

/// Every account of a source, with the regions it syncs.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    accounts: Vec<Account>,
}

impl Accounts {
    /// Resolves credentials, account numbers and regions for a source spec, a few accounts at
    /// a time (`initialization_concurrency`). Configured accounts must all work; members of an
    /// organization that cannot be reached are logged and left out, as CloudQuery does.
    pub async fn resolve(
        spec: &AwsSpec,
        connection: &Connection,
    ) -> Result<Accounts, AccountsError> {
        Accounts::default().refresh(spec, connection).await
    }

    /// Accounts whose SDK configurations the caller built itself (tests against an emulator,
    /// embedders with their own credentials); a config file goes through [`Accounts::resolve`].
    pub fn new(accounts: Vec<Account>) -> Accounts {
        Accounts { accounts }
    }

    /// The accounts as the spec has them now: for an organization, its current members, the
    /// known ones kept as they are and only the new ones set up; otherwise the configured ones.
    pub async fn refresh(
        &self,
        spec: &AwsSpec,
        connection: &Connection,
    ) -> Result<Accounts, AccountsError> {
        let concurrency = spec
            .initialization_concurrency
            .unwrap_or(INITIALIZATION_CONCURRENCY)
            .max(1);
        let Some(org) = &spec.org else {
            let configured = if spec.accounts.is_empty() {
                vec![AccountConfig::default()]
            } else {
                spec.accounts.clone()
            };
            let resolved: Vec<Result<Account, AccountsError>> = futures::stream::iter(configured)
                .map(|account| async move { setup(&account, spec, None, connection, None).await })
                .buffered(concurrency)
                .collect()
                .await;
            return Ok(Accounts {
                accounts: resolved.into_iter().collect::<Result<_, _>>()?,
            });
        };

        let admin_account = org.admin_account.clone().unwrap_or_default();
        let admin = sdk_config(&admin_account, connection, None).await;
        let members = org::members(org, &admin).await?;
        let trusted = match &org.member_trusted_principal {
            Some(principal) => sdk_config(principal, connection, None).await,
            None => admin.clone(),
        };
        let found = members.len();
        let mut kept: Vec<Account> = self
            .accounts
            .iter()
            .filter(|a| members.iter().any(|m| m.id == a.id))
            .cloned()
            .collect();
        let known: HashSet<String> = kept.iter().map(|a| a.id.clone()).collect();
        let new: Vec<AccountConfig> = members
            .into_iter()
            .filter(|m| !known.contains(&m.id))
            .map(|m| member_account(org, &m))
            .collect();
        let resolved: Vec<(AccountConfig, Result<Account, AccountsError>)> =
            futures::stream::iter(new)
                .map(|account| {
                    let trusted = &trusted;
                    async move {
                        let result =
                            setup(&account, spec, Some(trusted), connection, Some(org)).await;
                        (account, result)
                    }
                })
                .buffered(concurrency)
                .collect()
                .await;
        for (account, result) in resolved {
            match result {
                Ok(ready) => {
                    tracing::info!(account = %ready.id, alias = %ready.alias, "organization member joined");
                    kept.push(ready);
                }
                Err(error) => {
                    tracing::warn!(account = ?account.id, %error, "unable to assume the member role in this account; it is left out");
                }
            }
        }
        for gone in self
            .accounts
            .iter()
            .filter(|a| !kept.iter().any(|k| k.id == a.id))
        {
            tracing::info!(account = %gone.id, alias = %gone.alias, "no longer an active organization member; left out");
        }
        if kept.is_empty() && found > 0 {
            return Err(AccountsError::NoMembers {
                found,
                role: org.member_role_name.clone(),
            });
        }
        kept.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Accounts { accounts: kept })
    }

    /// Every (account, region) pair.
    pub fn locations(&self) -> Vec<Location> {
        self.accounts
            .iter()
            .flat_map(|a| {
                a.regions
                    .iter()
                    .map(|r| Location::new(a.id.clone(), r.clone()))
            })
            .collect()
    }

    /// The first configured account: it reads the stream unless the stream has its own.
    pub fn first(&self) -> Option<&Account> {
        self.accounts.first()
    }

    pub fn get(&self, account_id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == account_id)
    }
}

/// The account config of an organization member: the member role assumed in it.
fn member_account(org: &OrgConfig, member: &org::Member) -> AccountConfig {
    AccountConfig {
        id: Some(member.id.clone()),
        account_name: member.name.clone(),
        role_arn: Some(format!(
            "arn:{}:iam::{}:role/{}",
            member.partition, member.id, org.member_role_name
        )),
        role_session_name: org.member_role_session_name.clone(),
        external_id: org.member_external_id.clone(),
        regions: org.member_regions.clone(),
        default_region: org
            .admin_account
            .as_ref()
            .and_then(|a| a.default_region.clone()),
        local_profile: None,
    }
}

/// One account: its SDK config, its number (from STS) and its regions.
async fn setup(
    account: &AccountConfig,
    spec: &AwsSpec,
    assume_with: Option<&SdkConfig>,
    connection: &Connection,
    org: Option<&OrgConfig>,
) -> Result<Account, AccountsError> {
    let config = sdk_config(account, connection, assume_with).await;
    let alias = account.alias().to_string();
    let id = account_number(&config, &alias).await?;
    if let Some(configured) = account.id.as_deref()
        && configured.len() == 12
        && configured.bytes().all(|b| b.is_ascii_digit())
        && configured != id
        && org.is_none()
    {
        tracing::warn!(alias = %configured, account = %id, "the account id looks like an account number but the credentials belong to another account; rows carry the credentials' account");
    }
    let wanted = account
        .regions
        .as_ref()
        .or(org.and_then(|o| o.member_regions.as_ref()))
        .unwrap_or(&spec.regions);
    let regions = regions(&config, &alias, wanted).await?;
    tracing::info!(account = %id, %alias, regions = regions.len(), "account ready");
    Ok(Account {
        id,
        alias,
        config,
        regions,
    })
}

/// Builds the SDK configuration of one account: ambient credentials, a named profile, or a role
/// assumed through STS (with `assume_with`'s credentials if given, else the profile's or the
/// ambient ones). The region is set explicitly (the account's `default_region`, else
/// `us-east-1`), so no instance-metadata lookup happens for it. Every request, STS's included,
/// goes through the connection's meter; failed calls are retried as its `retries` say.
pub async fn sdk_config(
    account: &AccountConfig,
    connection: &Connection,
    assume_with: Option<&SdkConfig>,
) -> SdkConfig {
    let region = account
        .default_region
        .clone()
        .unwrap_or_else(|| HOME_REGION.to_string());
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(connection.retries.max_attempts)
                .with_max_backoff(connection.retries.max_backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .http_client(connection.meter.http_client(None));
    if let Some(profile) = &account.local_profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &connection.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    let Some(role_arn) = &account.role_arn else {
        return base;
    };
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
        .session_name(
            account
                .role_session_name
                .clone()
                .unwrap_or_else(|| SESSION_NAME.to_string()),
        )
        .configure(assume_with.unwrap_or(&base));
    if let Some(external_id) = &account.external_id {
        provider = provider.external_id(external_id.clone());
    }
    let provider = provider.build().await;
    base.into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

/// The account number of the config's credentials (STS GetCallerIdentity).
async fn account_number(config: &SdkConfig, alias: &str) -> Result<String, AccountsError> {
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AccountsError::Identity {
            account: alias.to_string(),
            message: crate::errors::describe(&e),
        })?;
    identity
        .account()
        .map(str::to_string)
        .ok_or_else(|| AccountsError::Identity {
            account: alias.to_string(),
            message: "GetCallerIdentity answered without an account".into(),
        })
}

async fn regions(
    config: &SdkConfig,
    account: &str,
    regions: &Regions,
) -> Result<Vec<String>, AccountsError> {
    match regions {
        Regions::List(list) => Ok(list.clone()),
        Regions::Default | Regions::All => {
            let answer = aws_sdk_ec2::Client::new(config)
                .describe_regions()
                .send()
                .await
                .map_err(|e| AccountsError::Regions {
                    account: account.to_string(),
                    message: crate::errors::describe(&e),
                })?;
            let mut names: Vec<String> = answer
                .regions()
                .iter()
                .filter(|r| r.opt_in_status() != Some("not-opted-in"))
                .filter_map(|r| r.region_name().map(str::to_string))
                .collect();
            names.sort();
            Ok(names)
        }
    }
}
