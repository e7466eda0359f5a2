//! What an AWS error means for the engine: the [`FetchErrorKind`] that decides between waiting
//! and asking again (throttling, 5xx, timeouts, lost connections, expired credentials) and
//! recording the change as skipped (permissions, a request AWS refuses).

use aws_sdk_ec2::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use trailsync_core::{FetchError, FetchErrorKind};

/// Error codes AWS services use for missing permissions.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
];

/// Error codes of throttling, across services (the SDK's own list, and EC2's).
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "KMSThrottlingException",
];

/// Error codes of credentials that ran out (an assumed role's session, a signed request that
/// waited too long): new credentials are fetched on the next try.
const EXPIRED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];

/// One line for an SDK error: the service's code and message when it answered, else the
/// transport's story (never the raw response, which can be long).
pub(crate) fn describe<E>(error: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(error)
            .to_string()
            .replace('\n', "; "),
    }
}

/// What kind of failure an SDK error is.
pub(crate) fn kind<E>(error: &SdkError<E>) -> FetchErrorKind
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::TimeoutError(_) => FetchErrorKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => FetchErrorKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_io() => FetchErrorKind::Connection,
        // Identity resolution fails before the request is sent: an assumed role that could not
        // be refreshed (STS unreachable, throttled) shows up here.
        SdkError::DispatchFailure(_) => {
            let story = aws_smithy_types::error::display::DisplayErrorContext(error).to_string();
            if story.to_ascii_lowercase().contains("credential") {
                FetchErrorKind::Credentials
            } else {
                FetchErrorKind::Connection
            }
        }
        SdkError::ResponseError(_) => FetchErrorKind::Unavailable,
        SdkError::ConstructionFailure(_) => FetchErrorKind::Rejected,
        _ => {
            let status = error.raw_response().map(|r| r.status().as_u16());
            match error.code() {
                Some(code) if THROTTLED.contains(&code) => FetchErrorKind::Throttled,
                Some(code) if EXPIRED.contains(&code) => FetchErrorKind::Credentials,
                Some(code) if ACCESS_DENIED.contains(&code) => FetchErrorKind::AccessDenied,
                _ => match status {
                    Some(429) => FetchErrorKind::Throttled,
                    Some(s) if (400..500).contains(&s) => FetchErrorKind::Rejected,
                    _ => FetchErrorKind::Unavailable,
                },
            }
        }
    }
}

/// Classifies an SDK error of `operation`, keeping it as the source.
pub(crate) fn fetch_error<E>(
    operation: impl Into<std::borrow::Cow<'static, str>>,
    error: SdkError<E>,
) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = kind(&error);
    FetchError::new(kind, operation, describe(&error)).with_source(error)
}

/// Whether an optional call has nothing for this resource rather than failed: the service
/// answered with one of `codes`, or the endpoint does not implement the operation at all (moto
/// answers those with a bare HTTP 500 HTML page and no error code; AWS's own 500s carry one).
pub(crate) fn is_unsupported<E>(error: &SdkError<E>, codes: &[&str]) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(code) = error.code() {
        return codes.contains(&code);
    }
    error.raw_response().is_some_and(|response| {
        let html = response.body().bytes().is_some_and(|body| {
            body.get(..9)
                .is_some_and(|start| start.eq_ignore_ascii_case(b"<!doctype"))
        });
        response.status().as_u16() == 500 && html
    })
}

/// A row AWS's answer cannot make (no id, no primary key): asking again cannot help.
pub(crate) fn invalid(operation: &'static str, message: impl Into<String>) -> FetchError {
    FetchError::new(FetchErrorKind::Invalid, operation, message)
}
