//! Credentials and regions for each configured account.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use trailsync_config::{AccountConfig, AwsSpec, Regions};
use trailsync_core::Location;
use trailsync_engine::Stats;

use crate::CallMeter;

/// The region asked for account-level facts (identity, region list) when none is configured.
const HOME_REGION: &str = "us-east-1";

/// Attempts per AWS call, the first included, unless `max_retries` says: the SDK's standard
/// retry mode backs off exponentially with jitter on throttling, 5xx and transient errors.
/// Beyond them the engine waits and asks again for as long as it takes, holding the records'
/// checkpoints.
const MAX_ATTEMPTS: u32 = 5;
/// The SDK's own longest pause between attempts, unless `max_backoff` says.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

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

/// A connection that cannot be made in this long, or an attempt unanswered in this long, fails
/// (and is retried) rather than hanging the fetch.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("account {account}: cannot resolve identity: {message}")]
    Identity { account: String, message: String },
    #[error("account {account}: cannot list regions: {message}")]
    Regions { account: String, message: String },
    #[error(
        "account {configured} is configured, but its credentials belong to account {actual}; fix the account id or its credentials"
    )]
    Mismatch { configured: String, actual: String },
}

/// One account ready to call AWS with.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub config: SdkConfig,
    pub regions: Vec<String>,
}

/// Every account of a source, with the regions it syncs.
#[derive(Clone, Debug)]
pub struct Accounts {
    accounts: Vec<Account>,
}

impl Accounts {
    /// Resolves credentials, account ids and regions for a source spec. Each account gets its
    /// own [`CallMeter`] (rate limits are per account), counting into `stats`.
    pub async fn resolve(spec: &AwsSpec, stats: Arc<Stats>) -> Result<Accounts, AccountsError> {
        let configured = if spec.accounts.is_empty() {
            vec![AccountConfig::default()]
        } else {
            spec.accounts.clone()
        };
        let mut accounts = Vec::with_capacity(configured.len());
        for account in &configured {
            let meter = CallMeter::new(stats.clone());
            let config = sdk_config(
                account,
                spec.endpoint_url.as_deref(),
                Retries::of(spec),
                &meter,
            )
            .await;
            let id = account_id(&config, account).await?;
            let regions = regions(&config, &id, &spec.regions).await?;
            tracing::info!(account = %id, regions = regions.len(), "account ready");
            accounts.push(Account {
                id,
                config,
                regions,
            });
        }
        Ok(Accounts { accounts })
    }

    /// Accounts whose SDK configurations the caller built itself (tests against an emulator,
    /// embedders with their own credentials); a config file goes through [`Accounts::resolve`].
    pub fn new(accounts: Vec<Account>) -> Accounts {
        Accounts { accounts }
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

/// Builds the SDK configuration of one account: ambient credentials, a named profile, or a role
/// assumed through STS. `AWS_ENDPOINT_URL` is honoured by the SDK itself; `endpoint_url` wins.
/// Every request, STS's included, goes through `meter`; throttled and failed calls are retried
/// with backoff as `retries` says.
pub async fn sdk_config(
    account: &AccountConfig,
    endpoint_url: Option<&str>,
    retries: Retries,
    meter: &CallMeter,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(retries.max_attempts)
                .with_max_backoff(retries.max_backoff),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .http_client(meter.http_client(None));
    if let Some(profile) = &account.local_profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    let base = if base.region().is_none() {
        base.into_builder().region(Region::new(HOME_REGION)).build()
    } else {
        base
    };
    let Some(role_arn) = &account.role_arn else {
        return base;
    };
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
        .session_name(
            account
                .role_session_name
                .clone()
                .unwrap_or_else(|| "trailsync".to_string()),
        )
        .configure(&base);
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

async fn account_id(config: &SdkConfig, account: &AccountConfig) -> Result<String, AccountsError> {
    let label = account
        .id
        .clone()
        .unwrap_or_else(|| "(ambient)".to_string());
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| AccountsError::Identity {
            account: label.clone(),
            message: crate::errors::describe(&e),
        })?;
    let actual = identity.account().unwrap_or_default().to_string();
    match &account.id {
        Some(configured) if *configured != actual => Err(AccountsError::Mismatch {
            configured: configured.clone(),
            actual,
        }),
        _ => Ok(actual),
    }
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
                .filter_map(|r| r.region_name().map(str::to_string))
                .collect();
            names.sort();
            Ok(names)
        }
    }
}
