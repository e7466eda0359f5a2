use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use trailsync_engine::FetchError;

/// Error codes AWS services use for missing permissions.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthFailure",
    "UnrecognizedClientException",
];

/// One line for an SDK error: the service's code and message when it answered, else the
/// transport's story (never the raw response, which can be long).
pub(crate) fn describe<E>(error: &aws_sdk_ec2::error::SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(error).to_string(),
    }
}

/// Classifies an SDK error: permissions vs. anything else, with the service's own words.
pub(crate) fn fetch_error<E>(operation: &str, error: aws_sdk_ec2::error::SdkError<E>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = error.code().map(str::to_string);
    let message = format!("{operation}: {}", describe(&error));
    match code {
        Some(c) if ACCESS_DENIED.contains(&c.as_str()) => FetchError::AccessDenied(message),
        _ => FetchError::Api(message),
    }
}

/// Whether an optional call has nothing for this resource rather than failed: the service
/// answered with one of `codes`, or the endpoint does not implement the operation at all (moto
/// answers those with a bare HTTP 500 HTML page and no error code; AWS's own 500s carry one).
pub(crate) fn is_unsupported<E>(error: &aws_sdk_ec2::error::SdkError<E>, codes: &[&str]) -> bool
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
