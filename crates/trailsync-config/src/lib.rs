//! trailsync's configuration: CloudQuery-compatible YAML, loaded, checked and typed.
//!
//! [`load`] takes files and folders (a folder contributes its `*.yml` and `*.yaml` files, sorted by
//! name), reads every `---`-separated document, and returns either a [`Config`] in which every
//! value is valid and every default applied, or [`Diagnostics`]: *every* problem found, one line
//! each, naming the file, line, document and field path, what is wrong and what to do:
//!
//! ```text
//! configs/aws.yml:12: sources[0] (aws).spec.spec.event_based_sync.kinesis_stream_arn: not a Kinesis stream ARN ("arn:aws:s3:::bucket": the service is "s3", not "kinesis"); expected arn:aws:kinesis:REGION:ACCOUNT:stream/NAME
//! ```
//!
//! This is what `trailsync validate` prints, and what `trailsync sync` refuses to start without.
//!
//! Rules worth knowing:
//!
//! - Unknown fields are errors (with a "did you mean" when one is close); `path`, `registry` and
//!   `version` are accepted for compatibility and otherwise ignored.
//! - `${NAME}` in a value is replaced by environment variable `NAME` (unset is an error naming it);
//!   `${file:PATH}` by the content of PATH, relative to the config file's folder, without its
//!   trailing line breaks. Expansion happens inside values, after parsing, so a secret containing
//!   `:` or `#` cannot break the YAML, and the result is not expanded again.
//! - Scalars are read by the field that receives them: `batch_size: "1000"` and
//!   `full_sync: ${FULL_SYNC}` work, and `id: 012345678901` keeps its leading zero.
//! - `null` (or an empty value) means the field is absent, as in CloudQuery.
//! - Table globs must each match a known table of [`trailsync_catalog::TABLES`];
//!   [`SourceConfig::selected_tables`] applies CloudQuery's selection rules ([`select_tables`]).
//!
//! The crate does no I/O beyond reading the config files and `${file:...}` references: no AWS,
//! no database.

mod errors;
mod load;
mod model;
mod redact;
mod select;
mod validate;
mod yaml;

use std::path::{Path, PathBuf};

pub use errors::{Diagnostic, Diagnostics};
pub use model::{
    AccountConfig, AwsSpec, Config, DEFAULT_COALESCE_WINDOW, DEFAULT_HISTORY_RETENTION,
    DEFAULT_RECONCILE_INTERVAL, DestinationConfig, DurationError, EventBasedSync, History,
    OrgConfig, Origin, Regions, SourceConfig, StartPosition, StreamArn, StreamArnError,
    UnknownValue, parse_duration,
};
pub use redact::redact_connection_string;
pub use select::select_tables;

/// Loads, expands and validates the configuration in `paths` (files or folders), reading
/// environment variables from the process environment.
pub fn load(paths: &[impl AsRef<Path>]) -> Result<Config, Diagnostics> {
    Loader::new().load(paths)
}

/// [`load`] with its inputs made explicit: where `${NAME}` values come from.
pub struct Loader<'e> {
    env: Box<validate::EnvLookup<'e>>,
}

impl Default for Loader<'_> {
    fn default() -> Self {
        Loader::new()
    }
}

impl<'e> Loader<'e> {
    /// A loader reading the process environment.
    pub fn new() -> Self {
        Loader {
            env: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// Takes `${NAME}` values from `env` instead of the process environment.
    pub fn with_env(env: impl Fn(&str) -> Option<String> + 'e) -> Self {
        Loader { env: Box::new(env) }
    }

    /// Loads files and folders; see the crate docs.
    pub fn load(&self, paths: &[impl AsRef<Path>]) -> Result<Config, Diagnostics> {
        let inputs: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let mut checker = self.checker();
        let mut finder = load::FileFinder::default();
        for input in &inputs {
            let files = match finder.find(input) {
                Ok(files) => files,
                Err(message) => {
                    checker.report(Diagnostic::new(input, "", message));
                    continue;
                }
            };
            for file in files {
                match load::read(&file) {
                    Ok(text) => checker.file(&file, &text),
                    Err(message) => checker.report(Diagnostic::new(&file, "", message)),
                }
            }
        }
        checker.finish(!inputs.is_empty())
    }

    /// Loads configuration text as if read from `file` (which need not exist; `${file:...}` paths
    /// are relative to its folder). For standard input and tests.
    pub fn load_text(&self, file: impl AsRef<Path>, text: &str) -> Result<Config, Diagnostics> {
        let file = file.as_ref();
        let mut checker = self.checker();
        checker.file(file, text);
        checker.finish(true)
    }

    fn checker(&self) -> validate::Checker<'_> {
        validate::Checker::new(&*self.env, &trailsync_catalog::TABLES)
    }
}

#[cfg(test)]
mod tests;
