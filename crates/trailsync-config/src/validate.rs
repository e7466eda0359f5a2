//! Walks each document's tree by hand, so that every problem is reported rather than the first,
//! then checks what spans documents (unique names, destinations that exist) and builds the typed
//! [`Config`].
//!
//! Each reader reports what it finds wrong and falls back to a default, so one bad field never
//! hides the next; [`Checker::finish`] hands out a `Config` only when nothing was reported.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use globset::Glob;
use trailsync_catalog::Table;
use trailsync_core::{DestinationKind, WriteMode};

use crate::errors::{Diagnostic, Diagnostics};
use crate::load;
use crate::model::*;
use crate::select::{Patterns, select_tables};
use crate::yaml::{Entry, Node, Value};

const DOCUMENT_FIELDS: &[&str] = &["kind", "spec"];
const SOURCE_FIELDS: &[&str] = &[
    "name",
    "path",
    "registry",
    "version",
    "tables",
    "skip_tables",
    "skip_dependent_tables",
    "destinations",
    "spec",
];
/// Fields of CloudQuery's source spec that trailsync accepts without acting on them, and why.
const SOURCE_ACCEPTED: &[(&str, &str)] = &[
    (
        "backend_options",
        "trailsync keeps its own state (checkpoints) in the destination",
    ),
    (
        "deterministic_cq_id",
        "trailsync's _cq_id is always deterministic (a UUIDv5 of the primary key)",
    ),
    (
        "otel_endpoint",
        "trailsync exports Prometheus metrics (`trailsync sync --metrics-addr`)",
    ),
    (
        "otel_endpoint_insecure",
        "trailsync exports Prometheus metrics (`trailsync sync --metrics-addr`)",
    ),
    ("docker_registry_auth_token", "trailsync runs no plugins"),
    (
        "concurrency",
        "removed from the source spec in CloudQuery CLI v5; use spec.concurrency",
    ),
    (
        "table_concurrency",
        "removed from the source spec in CloudQuery CLI v5",
    ),
    (
        "resource_concurrency",
        "removed from the source spec in CloudQuery CLI v5",
    ),
    (
        "scheduler",
        "removed from the source spec in CloudQuery CLI v5",
    ),
    (
        "backend",
        "removed from the source spec in CloudQuery CLI v5",
    ),
    (
        "backend_spec",
        "removed from the source spec in CloudQuery CLI v5",
    ),
];
const AWS_FIELDS: &[&str] = &[
    "regions",
    "accounts",
    "org",
    "endpoint_url",
    "custom_endpoint_url",
    "custom_endpoint_hostname_immutable",
    "concurrency",
    "initialization_concurrency",
    "max_retries",
    "max_backoff",
    "aws_debug",
    "event_based_sync",
    "history",
];
const HISTORY_FIELDS: &[&str] = &["enabled", "retention"];
/// Fields of CloudQuery's AWS source spec that trailsync accepts without acting on them.
const AWS_ACCEPTED: &[(&str, &str)] = &[
    ("use_paid_apis", "trailsync calls no paid API"),
    ("table_options", "trailsync's tables take no options"),
    (
        "scheduler",
        "trailsync lists tables a few (table, location) pairs at a time (spec.concurrency)",
    ),
    (
        "use_nested_table_rate_limiting",
        "trailsync paces every AWS call per account, region and service",
    ),
    (
        "enable_api_level_tracing",
        "use aws_debug to log every AWS request",
    ),
    (
        "custom_endpoint_partition_id",
        "ARNs take their partition from the region",
    ),
    (
        "custom_endpoint_signing_region",
        "requests are signed for the region they are made in",
    ),
];
const ACCOUNT_FIELDS: &[&str] = &[
    "id",
    "account_name",
    "local_profile",
    "role_arn",
    "role_session_name",
    "external_id",
    "default_region",
    "regions",
];
const ORG_FIELDS: &[&str] = &[
    "admin_account",
    "member_trusted_principal",
    "member_role_name",
    "member_role_session_name",
    "member_external_id",
    "member_regions",
    "organization_units",
    "skip_organization_units",
    "skip_member_accounts",
];
const EVENT_BASED_SYNC_FIELDS: &[&str] = &[
    "kinesis_stream_arn",
    "full_sync",
    "start_time",
    "start_position",
    "coalesce_window",
    "reconcile_interval",
    "account",
];
const DESTINATION_FIELDS: &[&str] = &[
    "name",
    "path",
    "registry",
    "version",
    "write_mode",
    "migrate_mode",
    "pk_mode",
    "spec",
];
/// Fields of CloudQuery's destination spec that trailsync accepts without acting on them.
const DESTINATION_ACCEPTED: &[(&str, &str)] = &[
    (
        "sync_group_id",
        "trailsync writes one current inventory, not one per sync group",
    ),
    (
        "send_sync_summary",
        "trailsync logs a summary line and serves metrics instead",
    ),
    ("transformers", "trailsync has no transformers"),
    ("docker_registry_auth_token", "trailsync runs no plugins"),
    (
        "batch_size",
        "removed from the destination spec in CloudQuery CLI v5; use spec.batch_size",
    ),
    (
        "batch_size_bytes",
        "removed from the destination spec in CloudQuery CLI v5",
    ),
];
const DESTINATION_SPEC_FIELDS: &[&str] = &["connection_string", "batch_size"];
/// Fields of the sqlite and postgresql plugins' own specs that trailsync accepts without acting
/// on them.
const DESTINATION_SPEC_ACCEPTED: &[(&str, &str)] = &[
    ("batch_size_bytes", "batches are bounded by batch_size rows"),
    (
        "batch_timeout",
        "trailsync commits as soon as a change is fetched",
    ),
    (
        "pgx_log_level",
        "trailsync logs through its own -v / TRAILSYNC_LOG",
    ),
    (
        "create_performance_indexes",
        "trailsync always creates the indexes its writes and deletes use",
    ),
    (
        "retry_on_deadlock",
        "trailsync always retries a batch that deadlocked",
    ),
    ("pgvector_config", "trailsync writes no embeddings"),
];

/// Looks environment variables up; injected so tests need not touch the process environment.
pub(crate) type Env<'a> = &'a EnvLookup<'a>;

/// Where `${NAME}` values come from.
pub(crate) type EnvLookup<'e> = dyn Fn(&str) -> Option<String> + 'e;

/// Collects documents, then cross-checks them.
pub(crate) struct Checker<'a> {
    env: Env<'a>,
    catalog: &'a [&'static Table],
    diagnostics: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    sources: Vec<Declared<SourceConfig>>,
    destinations: Vec<Declared<DestinationConfig>>,
    /// Every file met, in load order; the diagnostics are sorted by it.
    files: Vec<PathBuf>,
    /// What `${file:...}` references read: never quoted in a diagnostic.
    file_contents: Vec<load::FileContent>,
}

/// A source or destination with what the cross-document checks need to point at it.
struct Declared<T> {
    config: T,
    place: Place,
    label: At,
    name_line: usize,
    /// For sources: each entry of `destinations`, to check that it exists.
    references: Vec<Reference>,
}

struct Reference {
    name: String,
    line: usize,
    at: At,
}

/// A file and, when it holds several, the document within it.
#[derive(Clone)]
struct Place {
    file: PathBuf,
    document: Option<usize>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(env: Env<'a>, catalog: &'a [&'static Table]) -> Self {
        Checker {
            env,
            catalog,
            diagnostics: Vec::new(),
            warnings: Vec::new(),
            sources: Vec::new(),
            destinations: Vec::new(),
            files: Vec::new(),
            file_contents: Vec::new(),
        }
    }

    /// Records a problem found outside the documents (an unreadable file, say).
    pub(crate) fn report(&mut self, diagnostic: Diagnostic) {
        self.note_file(&diagnostic.file);
        self.diagnostics.push(diagnostic);
    }

    /// Remembers the order files were met in, which the diagnostics are sorted by.
    fn note_file(&mut self, file: &Path) {
        if !self.files.iter().any(|f| f == file) {
            self.files.push(file.to_path_buf());
        }
    }

    /// Parses and checks every document of one file.
    pub(crate) fn file(&mut self, file: &Path, text: &str) {
        self.note_file(file);
        let stream = crate::yaml::parse(text);
        for (line, message) in stream.problems {
            self.diagnostics.push(Diagnostic {
                line: Some(line),
                ..Diagnostic::new(file, "", message)
            });
        }
        let several = stream.documents.iter().flatten().count() > 1;
        let dir = file.parent().unwrap_or(Path::new(""));
        for (index, document) in stream.documents.iter().enumerate() {
            let Some(root) = document else { continue };
            let origin = Origin {
                file: file.to_path_buf(),
                document: index,
            };
            let place = Place {
                file: file.to_path_buf(),
                document: several.then_some(index),
            };
            let mut walker = Walker {
                env: self.env,
                catalog: self.catalog,
                dir,
                place: &place,
                diagnostics: &mut self.diagnostics,
                warnings: &mut self.warnings,
                file_contents: &mut self.file_contents,
            };
            walker.document(root, origin, &mut self.sources, &mut self.destinations);
        }
    }

    /// Runs the checks that span documents; the config if nothing was wrong anywhere. `given`
    /// tells whether any path was given at all.
    pub(crate) fn finish(mut self, given: bool) -> Result<Config, Diagnostics> {
        self.unique_names();
        self.destination_references();
        self.hide_file_contents();
        let mut diagnostics = std::mem::take(&mut self.diagnostics);
        let rank = |file: &Path| {
            self.files
                .iter()
                .position(|f| f == file)
                .unwrap_or(usize::MAX)
        };
        diagnostics.sort_by_key(|d| (rank(&d.file), d.line.unwrap_or(0)));
        let whole = |message: &str| Diagnostic::new("", "", message);
        if !given {
            diagnostics.push(whole(
                "no configuration given; pass config files or folders of them",
            ));
        } else {
            if self.sources.is_empty() {
                diagnostics.push(whole(
                    "no source: add a document with `kind: source` (see the example config)",
                ));
            }
            if self.destinations.is_empty() {
                diagnostics.push(whole(
                    "no destination: add a document with `kind: destination` (sqlite or postgresql)",
                ));
            }
        }
        if !diagnostics.is_empty() {
            return Err(Diagnostics(diagnostics));
        }
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.sort_by_key(|d| (rank(&d.file), d.line.unwrap_or(0)));
        Ok(Config {
            sources: self.sources.into_iter().map(|s| s.config).collect(),
            destinations: self.destinations.into_iter().map(|d| d.config).collect(),
            warnings,
        })
    }

    /// Secrets are kept in files: a diagnostic names the `${file:...}` reference rather than
    /// quoting what it read.
    fn hide_file_contents(&mut self) {
        if self.file_contents.is_empty() {
            return;
        }
        let files = &self.file_contents;
        for diagnostic in self.diagnostics.iter_mut().chain(self.warnings.iter_mut()) {
            diagnostic.message = load::hide_file_contents(&diagnostic.message, files);
            diagnostic.path = load::hide_file_contents(&diagnostic.path, files);
        }
    }

    fn unique_names(&mut self) {
        let mut problems = duplicates("source", &self.sources, |s| &s.name);
        problems.extend(duplicates("destination", &self.destinations, |d| &d.name));
        self.diagnostics.extend(problems);
    }

    fn destination_references(&mut self) {
        if self.destinations.is_empty() {
            return; // "no destination" says it all
        }
        let mut names: Vec<&str> = self
            .destinations
            .iter()
            .map(|d| d.config.name.as_str())
            .collect();
        names.retain(|n| !n.is_empty());
        names.sort_unstable();
        names.dedup();
        let mut problems = Vec::new();
        for source in &self.sources {
            for reference in &source.references {
                if names.contains(&reference.name.as_str()) {
                    continue;
                }
                let hint = match closest(&reference.name, names.iter().copied()) {
                    Some(name) => format!("did you mean {name:?}?"),
                    None => format!("declared destinations: {}", names.join(", ")),
                };
                problems.push(diagnostic(
                    &source.place,
                    &reference.at,
                    reference.line,
                    format!("no destination is named {:?}; {hint}", reference.name),
                ));
            }
        }
        self.diagnostics.extend(problems);
    }
}

/// A diagnostic for every declaration whose name an earlier one already has.
fn duplicates<T>(
    kind: &str,
    declared: &[Declared<T>],
    name: impl Fn(&T) -> &String,
) -> Vec<Diagnostic> {
    let mut first: HashMap<&str, &Declared<T>> = HashMap::new();
    let mut problems = Vec::new();
    for item in declared {
        let this = name(&item.config);
        if this.is_empty() {
            continue; // already reported as missing
        }
        match first.get(this.as_str()) {
            Some(earlier) => problems.push(diagnostic(
                &item.place,
                &item.label.field("spec").field("name"),
                item.name_line,
                format!(
                    "another {kind} is already named {this:?} ({}:{}); {kind} names must be unique, rename one",
                    earlier.place.file.display(),
                    earlier.name_line
                ),
            )),
            None => {
                first.insert(this, item);
            }
        }
    }
    problems
}

fn diagnostic(place: &Place, at: &At, line: usize, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: place.file.clone(),
        path: at.0.clone(),
        message: message.into(),
        document: place.document,
        line: Some(line),
    }
}

/// Why a table pattern matches nothing.
enum Unmatched {
    /// A typo or an invalid glob: an error.
    Mistake(String),
    /// A CloudQuery table trailsync does not sync: a warning.
    Unsupported(String),
}

/// A field path such as `sources[0] (aws).spec.tables[1]`.
#[derive(Debug, Clone, Default, PartialEq)]
struct At(String);

impl At {
    fn field(&self, name: &str) -> At {
        if self.0.is_empty() {
            At(name.to_string())
        } else {
            At(format!("{}.{name}", self.0))
        }
    }

    fn index(&self, i: usize) -> At {
        At(format!("{}[{i}]", self.0))
    }

    /// `sources[0]` becomes `sources[0] (aws)` once the name is known.
    fn named(&self, name: &str) -> At {
        if name.is_empty() {
            self.clone()
        } else {
            At(format!("{} ({name})", self.0))
        }
    }
}

/// A mapping's entries, and the line it starts on (where "missing" problems point).
#[derive(Clone, Copy)]
struct Fields<'n> {
    line: usize,
    entries: &'n [Entry],
}

impl<'n> Fields<'n> {
    /// The field's value; a null value counts as absent, as in CloudQuery.
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|e| e.key == name)
            .map(|e| &e.value)
            .filter(|v| !v.is_null())
    }
}

/// Reads one document, reporting into the shared list.
struct Walker<'w> {
    env: Env<'w>,
    catalog: &'w [&'static Table],
    /// The config file's folder, which `${file:...}` paths are relative to.
    dir: &'w Path,
    place: &'w Place,
    diagnostics: &'w mut Vec<Diagnostic>,
    warnings: &'w mut Vec<Diagnostic>,
    /// What `${file:...}` references read, for [`Checker::hide_file_contents`].
    file_contents: &'w mut Vec<load::FileContent>,
}

impl Walker<'_> {
    fn error(&mut self, at: &At, line: usize, message: impl Into<String>) {
        self.diagnostics
            .push(diagnostic(self.place, at, line, message));
    }

    /// Something that works, but not as the user may think: printed, never fatal.
    fn warn(&mut self, at: &At, line: usize, message: impl Into<String>) {
        self.warnings
            .push(diagnostic(self.place, at, line, message));
    }

    /// Reads a document and adds it to `sources` or `destinations` according to its kind.
    fn document(
        &mut self,
        root: &Node,
        origin: Origin,
        sources: &mut Vec<Declared<SourceConfig>>,
        destinations: &mut Vec<Declared<DestinationConfig>>,
    ) {
        let top = At::default();
        let Some(fields) = self.as_map(
            root,
            &top,
            "a document is a mapping with `kind:` and `spec:`",
        ) else {
            return;
        };
        let kind = match fields.get("kind") {
            Some(node) => self
                .string(node, &top.field("kind"))
                .map(|k| (k, node.line)),
            None => {
                self.error(
                    &top.field("kind"),
                    fields.line,
                    "missing; add `kind: source` or `kind: destination`",
                );
                None
            }
        };
        match kind {
            Some((kind, _)) if kind == "source" => {
                let at = At(format!("sources[{}]", sources.len()));
                sources.push(self.source(fields, at, origin));
            }
            Some((kind, _)) if kind == "destination" => {
                let at = At(format!("destinations[{}]", destinations.len()));
                destinations.push(self.destination(fields, at, origin));
            }
            other => {
                if let Some((kind, line)) = other {
                    let extra = if kind == "transformer" {
                        "; trailsync has no transformers"
                    } else {
                        ""
                    };
                    self.error(
                        &top.field("kind"),
                        line,
                        format!("unknown kind {kind:?}; expected source or destination{extra}"),
                    );
                }
                self.deny_unknown(fields, &top, DOCUMENT_FIELDS, &[]);
            }
        }
    }

    // ---- sources -------------------------------------------------------------------------------

    fn source(&mut self, document: Fields, base: At, origin: Origin) -> Declared<SourceConfig> {
        let spec = self.required_map(
            document,
            &base,
            "spec",
            "add `spec:` with name, tables and destinations",
        );
        let (name, name_line) = self.name(spec, &base, document.line);
        let label = base.named(&name);
        self.deny_unknown(document, &label, DOCUMENT_FIELDS, &[]);

        let mut source = Declared {
            config: SourceConfig {
                name,
                tables: Vec::new(),
                skip_tables: Vec::new(),
                skip_dependent_tables: false,
                destinations: Vec::new(),
                spec: AwsSpec::default(),
                origin,
            },
            place: self.place.clone(),
            label: label.clone(),
            name_line,
            references: Vec::new(),
        };
        let Some(spec) = spec else { return source };
        let at = label.field("spec");
        self.deny_unknown(spec, &at, SOURCE_FIELDS, SOURCE_ACCEPTED);
        self.compatibility_fields(spec, &at);

        let before = self.diagnostics.len();
        let tables = self.table_patterns(spec, &at, "tables");
        let skip_tables = self.table_patterns(spec, &at, "skip_tables");
        let skip_dependent_tables =
            self.optional(spec, &at, "skip_dependent_tables", Self::boolean);
        let skip_dependent_tables = skip_dependent_tables.unwrap_or(false);
        if self.diagnostics.len() == before
            && !tables.is_empty()
            && select_tables(self.catalog, &tables, &skip_tables, skip_dependent_tables).is_empty()
        {
            let nothing =
                select_tables(self.catalog, &tables, &[], skip_dependent_tables).is_empty();
            let (field, message) = if nothing {
                (
                    "tables",
                    "selects no table trailsync syncs; nothing would be synced (`trailsync tables` lists them)",
                )
            } else {
                (
                    "skip_tables",
                    "skips every table that `tables` selects; nothing would be synced",
                )
            };
            let line = spec.get(field).map_or(spec.line, |n| n.line);
            self.error(&at.field(field), line, message);
        }
        source.references = self.destination_references(spec, &at);
        source.config.tables = tables;
        source.config.skip_tables = skip_tables;
        source.config.skip_dependent_tables = skip_dependent_tables;
        source.config.destinations = source.references.iter().map(|r| r.name.clone()).collect();
        if let Some(node) = spec.get("spec") {
            source.config.spec = self.aws_spec(node, &at.field("spec"));
        }
        source
    }

    /// `path`, `registry` and `version` are accepted for CloudQuery compatibility and ignored, but
    /// still have to be text (and their `${...}` references resolvable).
    fn compatibility_fields(&mut self, spec: Fields, at: &At) {
        for field in ["path", "registry", "version"] {
            if let Some(node) = spec.get(field) {
                self.string(node, &at.field(field));
            }
        }
    }

    /// `spec.name`, reported where missing or empty; empty when unusable.
    fn name(&mut self, spec: Option<Fields>, base: &At, document_line: usize) -> (String, usize) {
        let at = base.field("spec").field("name");
        let Some(spec) = spec else {
            return (String::new(), document_line);
        };
        match spec.get("name") {
            Some(node) => (
                self.nonempty_string(node, &at).unwrap_or_default(),
                node.line,
            ),
            None => {
                self.error(
                    &at,
                    spec.line,
                    "missing; every source and destination needs a unique name",
                );
                (String::new(), spec.line)
            }
        }
    }

    /// `tables` (required, non-empty) or `skip_tables`: globs that must each match a known table.
    fn table_patterns(&mut self, spec: Fields, at: &At, field: &str) -> Vec<String> {
        let at = at.field(field);
        let patterns = match spec.get(field) {
            Some(node) => self.strings(node, &at),
            None => Vec::new(),
        };
        if field == "tables" && patterns.is_empty() {
            let line = spec.get(field).map_or(spec.line, |n| n.line);
            self.error(
                &at,
                line,
                "no table listed; list the tables to sync, e.g. `tables: [\"aws_ec2_instances\"]`, or `tables: [\"*\"]` for all",
            );
        }
        for (pattern, line, at) in &patterns {
            match self.check_pattern(pattern) {
                Ok(()) => {}
                Err(Unmatched::Mistake(problem)) => self.error(at, *line, problem),
                Err(Unmatched::Unsupported(note)) => self.warn(at, *line, note),
            }
        }
        patterns
            .into_iter()
            .map(|(pattern, _, _)| pattern)
            .collect()
    }

    /// Whether a pattern matches a table trailsync syncs. A near miss is a mistake (with a
    /// "did you mean"); another `aws_` name is one of CloudQuery's tables trailsync does not
    /// sync: passed over with a warning, so that a CloudQuery config works unchanged.
    fn check_pattern(&self, pattern: &str) -> Result<(), Unmatched> {
        if let Err(e) = Glob::new(pattern) {
            return Err(Unmatched::Mistake(format!(
                "{pattern:?} is not a valid glob ({}); use * and ? wildcards",
                e.kind()
            )));
        }
        let glob = Patterns::new(&[pattern]);
        if self.catalog.iter().any(|t| glob.matches(t.name)) {
            return Ok(());
        }
        if let Some(name) = closest(pattern, self.catalog.iter().map(|t| t.name)) {
            return Err(Unmatched::Mistake(format!(
                "{pattern:?} matches no known table; did you mean {name:?}?"
            )));
        }
        if pattern.starts_with("aws_") {
            return Err(Unmatched::Unsupported(format!(
                "{pattern:?} matches no table trailsync syncs; passed over (`trailsync tables` lists them)"
            )));
        }
        Err(Unmatched::Mistake(format!(
            "{pattern:?} matches no known table; `trailsync tables` lists them"
        )))
    }

    /// `destinations`: required, non-empty, no repeats. Existence is checked once all documents
    /// are read.
    fn destination_references(&mut self, spec: Fields, at: &At) -> Vec<Reference> {
        let at = at.field("destinations");
        let Some(node) = spec.get("destinations") else {
            self.error(
                &at,
                spec.line,
                "missing; list where to write, e.g. `destinations: [\"sqlite\"]`",
            );
            return Vec::new();
        };
        let names = self.strings(node, &at);
        if names.is_empty() {
            self.error(
                &at,
                node.line,
                "empty; list where to write, e.g. `destinations: [\"sqlite\"]`",
            );
        }
        let mut references: Vec<Reference> = Vec::new();
        for (name, line, at) in names {
            if name.is_empty() {
                self.error(&at, line, "empty; write a destination's name");
            } else if references.iter().any(|r| r.name == name) {
                self.error(&at, line, format!("{name:?} is listed twice; remove one"));
            } else {
                references.push(Reference { name, line, at });
            }
        }
        references
    }

    // ---- the AWS plugin spec -------------------------------------------------------------------

    fn aws_spec(&mut self, node: &Node, at: &At) -> AwsSpec {
        let mut spec = AwsSpec::default();
        let Some(fields) = self.mapping_accepting(node, at, AWS_FIELDS, AWS_ACCEPTED) else {
            return spec;
        };
        if let Some(node) = fields.get("regions") {
            spec.regions = self.regions(node, &at.field("regions"));
        }
        if let Some(node) = fields.get("accounts") {
            spec.accounts = self.accounts(node, &at.field("accounts"));
        }
        if let Some(node) = fields.get("org") {
            spec.org = self.org(node, &at.field("org"));
            if !spec.accounts.is_empty() {
                self.error(
                    &at.field("org"),
                    node.line,
                    "specifying accounts via both the accounts and org properties is not supported; to achieve both, use several sources",
                );
            }
        }
        spec.endpoint_url = self.endpoint(fields, at);
        spec.concurrency = self.optional(fields, at, "concurrency", Self::positive);
        spec.initialization_concurrency =
            self.optional(fields, at, "initialization_concurrency", Self::positive);
        spec.max_retries = self
            .optional(fields, at, "max_retries", Self::positive)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        spec.max_backoff = self
            .optional(fields, at, "max_backoff", Self::positive)
            .map(|seconds| Duration::from_secs(seconds as u64))
            .filter(|backoff| {
                *backoff <= MAX_BACKOFF || {
                    let line = fields.get("max_backoff").map_or(fields.line, |n| n.line);
                    self.error(
                        &at.field("max_backoff"),
                        line,
                        format!(
                            "{} seconds is longer than the {} this setting allows",
                            backoff.as_secs(),
                            humanize(MAX_BACKOFF)
                        ),
                    );
                    false
                }
            });
        spec.aws_debug = self
            .optional(fields, at, "aws_debug", Self::boolean)
            .unwrap_or(false);
        if let Some(node) = fields.get("event_based_sync") {
            spec.event_based_sync = self.event_based_sync(node, &at.field("event_based_sync"));
        }
        if let Some(node) = fields.get("history") {
            spec.history = self.history(node, &at.field("history"));
        }
        spec
    }

    /// `history: { enabled, retention }`; `retention: 0` keeps everything.
    fn history(&mut self, node: &Node, at: &At) -> History {
        let mut history = History::default();
        let Some(fields) = self.mapping(node, at, HISTORY_FIELDS) else {
            return history;
        };
        if let Some(enabled) = self.optional(fields, at, "enabled", Self::boolean) {
            history.enabled = enabled;
        }
        if let Some(retention) = self.optional(fields, at, "retention", |c, n, a| {
            c.duration_at_most(n, a, MAX_HISTORY_RETENTION)
        }) {
            history.retention = (!retention.is_zero()).then_some(retention);
        }
        history
    }

    /// The endpoint: trailsync's `endpoint_url`, or CloudQuery's `custom_endpoint_url`, which
    /// (as in CloudQuery) needs its three companions.
    fn endpoint(&mut self, fields: Fields, at: &At) -> Option<String> {
        let plain = self.optional(fields, at, "endpoint_url", Self::url);
        let custom = self.optional(fields, at, "custom_endpoint_url", Self::url);
        if let Some(node) = fields.get("custom_endpoint_hostname_immutable") {
            self.boolean(node, &at.field("custom_endpoint_hostname_immutable"));
        }
        if custom.is_some() {
            for companion in [
                "custom_endpoint_partition_id",
                "custom_endpoint_signing_region",
                "custom_endpoint_hostname_immutable",
            ] {
                if fields.get(companion).is_none() {
                    let line = fields
                        .get("custom_endpoint_url")
                        .map_or(fields.line, |n| n.line);
                    self.error(
                        &at.field(companion),
                        line,
                        "required when custom_endpoint_url is set (as in CloudQuery)",
                    );
                }
            }
            if plain.is_some() {
                let line = fields.get("endpoint_url").map_or(fields.line, |n| n.line);
                self.error(
                    &at.field("endpoint_url"),
                    line,
                    "set either endpoint_url or custom_endpoint_url, not both",
                );
            }
        }
        custom.or(plain)
    }

    fn regions(&mut self, node: &Node, at: &At) -> Regions {
        let entries = self.strings(node, at);
        if entries.iter().any(|(region, _, _)| region == "*") {
            if entries.len() > 1 {
                self.error(
                    at,
                    node.line,
                    "\"*\" already means every region; remove the other entries",
                );
            }
            return Regions::All;
        }
        let mut regions: Vec<String> = Vec::new();
        for (region, line, at) in entries {
            if !is_region(&region) {
                self.error(
                    &at,
                    line,
                    format!("{region:?} is not an AWS region name; expected e.g. \"us-east-1\", or \"*\" for all"),
                );
            } else if regions.contains(&region) {
                self.error(&at, line, format!("{region:?} is listed twice; remove one"));
            } else {
                regions.push(region);
            }
        }
        if regions.is_empty() {
            Regions::Default
        } else {
            Regions::List(regions)
        }
    }

    fn accounts(&mut self, node: &Node, at: &At) -> Vec<AccountConfig> {
        let Value::Seq(items) = &node.value else {
            self.error(
                at,
                node.line,
                format!(
                    "expected a list of accounts (`- id: prod`), found {}",
                    node.describe()
                ),
            );
            return Vec::new();
        };
        let mut accounts: Vec<AccountConfig> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = at.index(i);
            let Some(account) = self.account(item, &at, true) else {
                continue;
            };
            if account.id.is_some() && accounts.iter().any(|a| a.id == account.id) {
                self.error(
                    &at.field("id"),
                    item.line,
                    "another account has this id; ids are aliases and must be unique",
                );
            }
            accounts.push(account);
        }
        accounts
    }

    /// One set of credentials: `accounts[i]` (which needs an `id`, an alias), `org.admin_account`,
    /// `org.member_trusted_principal` or the stream's `account`.
    fn account(&mut self, node: &Node, at: &At, id_required: bool) -> Option<AccountConfig> {
        let fields = self.mapping(node, at, ACCOUNT_FIELDS)?;
        let text = |walker: &mut Self, name: &str| {
            fields.get(name).and_then(|n| {
                walker
                    .nonempty_string(n, &at.field(name))
                    .map(|s| (s, n.line))
            })
        };
        let id = text(self, "id");
        let account_name = text(self, "account_name");
        let local_profile = text(self, "local_profile");
        let role_arn = text(self, "role_arn");
        let role_session_name = text(self, "role_session_name");
        let external_id = text(self, "external_id");
        let default_region = text(self, "default_region");
        if id.is_none() && id_required && fields.get("id").is_none() {
            self.error(
                &at.field("id"),
                fields.line,
                "missing; add an id (an alias for logs, e.g. `id: prod`; the account number comes from AWS)",
            );
        }
        if let Some((region, line)) = &default_region
            && !is_region(region)
        {
            self.error(
                &at.field("default_region"),
                *line,
                format!("{region:?} is not an AWS region name; expected e.g. \"us-east-1\""),
            );
        }
        let regions = fields
            .get("regions")
            .map(|node| self.regions(node, &at.field("regions")));
        if let Some((arn, line)) = &role_arn {
            if !is_role_arn(arn) {
                self.error(
                    &at.field("role_arn"),
                    *line,
                    format!(
                        "{arn:?} is not an IAM role ARN; expected arn:aws:iam::ACCOUNT:role/NAME"
                    ),
                );
            }
        } else {
            for (field, value) in [
                ("role_session_name", &role_session_name),
                ("external_id", &external_id),
            ] {
                if let Some((_, line)) = value {
                    self.error(
                        &at.field(field),
                        *line,
                        "only used when assuming a role; add role_arn or remove this field",
                    );
                }
            }
        }
        Some(AccountConfig {
            id: id.map(|(s, _)| s),
            account_name: account_name.map(|(s, _)| s),
            local_profile: local_profile.map(|(s, _)| s),
            role_arn: role_arn.map(|(s, _)| s),
            role_session_name: role_session_name.map(|(s, _)| s),
            external_id: external_id.map(|(s, _)| s),
            default_region: default_region.map(|(s, _)| s),
            regions,
        })
    }

    /// CloudQuery's `org`: member accounts discovered through AWS Organizations.
    fn org(&mut self, node: &Node, at: &At) -> Option<OrgConfig> {
        let fields = self.mapping(node, at, ORG_FIELDS)?;
        let mut org = OrgConfig::default();
        match fields.get("member_role_name") {
            Some(node) => {
                org.member_role_name = self
                    .nonempty_string(node, &at.field("member_role_name"))
                    .unwrap_or_default();
            }
            None => self.error(
                &at.field("member_role_name"),
                fields.line,
                "missing; name the role to assume in each member account, e.g. OrganizationAccountAccessRole",
            ),
        }
        org.admin_account = fields
            .get("admin_account")
            .and_then(|n| self.account(n, &at.field("admin_account"), false));
        org.member_trusted_principal = fields
            .get("member_trusted_principal")
            .and_then(|n| self.account(n, &at.field("member_trusted_principal"), false));
        org.member_role_session_name = self.optional(
            fields,
            at,
            "member_role_session_name",
            Self::nonempty_string,
        );
        org.member_external_id =
            self.optional(fields, at, "member_external_id", Self::nonempty_string);
        org.member_regions = fields
            .get("member_regions")
            .map(|node| self.regions(node, &at.field("member_regions")));
        for (field, target) in [
            ("organization_units", &mut org.organization_units),
            ("skip_organization_units", &mut org.skip_organization_units),
        ] {
            if let Some(node) = fields.get(field) {
                for (unit, line, unit_at) in self.strings(node, &at.field(field)) {
                    if is_organization_unit(&unit) {
                        target.push(unit);
                    } else {
                        self.error(
                            &unit_at,
                            line,
                            format!("invalid OU {unit:?}; should match \"ou-*-*\" or \"r-*\" with lowercase letters or digits"),
                        );
                    }
                }
            }
        }
        if let Some(node) = fields.get("skip_member_accounts") {
            for (account, line, account_at) in self.strings(node, &at.field("skip_member_accounts"))
            {
                if is_account_id(&account) {
                    org.skip_member_accounts.push(account);
                } else {
                    self.error(
                        &account_at,
                        line,
                        format!("{account:?} is not an AWS account number; expected 12 digits"),
                    );
                }
            }
        }
        Some(org)
    }

    fn event_based_sync(&mut self, node: &Node, at: &At) -> Option<EventBasedSync> {
        let fields = self.mapping(node, at, EVENT_BASED_SYNC_FIELDS)?;
        let stream = match fields.get("kinesis_stream_arn") {
            Some(node) => self.parsed::<StreamArn>(node, &at.field("kinesis_stream_arn")),
            None => {
                self.error(
                    &at.field("kinesis_stream_arn"),
                    fields.line,
                    "missing; add the ARN of the Kinesis stream CloudTrail events arrive in",
                );
                None
            }
        };
        let full_sync = self.optional(fields, at, "full_sync", Self::boolean);
        let start_time = self.optional(fields, at, "start_time", Self::time);
        let start_position =
            self.optional(fields, at, "start_position", Self::parsed::<StartPosition>);
        if let (Some(_), Some(StartPosition::TrimHorizon | StartPosition::Latest)) =
            (start_time, start_position)
        {
            let line = fields.get("start_position").map_or(fields.line, |n| n.line);
            self.error(
                &at.field("start_position"),
                line,
                "conflicts with start_time; keep one of them",
            );
        }
        let coalesce_window = self.optional(fields, at, "coalesce_window", |c, n, a| {
            c.duration_at_most(n, a, MAX_COALESCE_WINDOW)
        });
        let reconcile_interval = self.optional(fields, at, "reconcile_interval", |c, n, a| {
            c.duration_at_most(n, a, MAX_RECONCILE_INTERVAL)
        });
        let account = match fields.get("account") {
            Some(node) => self.account(node, &at.field("account"), false),
            None => None,
        };
        Some(EventBasedSync {
            stream: stream?,
            full_sync: full_sync.unwrap_or(true),
            start_time,
            start_position: start_position.unwrap_or_default(),
            coalesce_window: coalesce_window.unwrap_or(DEFAULT_COALESCE_WINDOW),
            reconcile_interval: match reconcile_interval {
                Some(Duration::ZERO) => None,
                Some(interval) => Some(interval),
                None => Some(DEFAULT_RECONCILE_INTERVAL),
            },
            account,
        })
    }

    // ---- destinations --------------------------------------------------------------------------

    fn destination(
        &mut self,
        document: Fields,
        base: At,
        origin: Origin,
    ) -> Declared<DestinationConfig> {
        let spec = self.required_map(
            document,
            &base,
            "spec",
            "add `spec:` with name, path and spec",
        );
        let (name, name_line) = self.name(spec, &base, document.line);
        let label = base.named(&name);
        self.deny_unknown(document, &label, DOCUMENT_FIELDS, &[]);

        let mut destination = Declared {
            config: DestinationConfig {
                name,
                kind: DestinationKind::Sqlite,
                write_mode: WriteMode::default(),
                connection_string: String::new(),
                batch_size: None,
                origin,
            },
            place: self.place.clone(),
            label: label.clone(),
            name_line,
            references: Vec::new(),
        };
        let Some(spec) = spec else {
            return destination;
        };
        let at = label.field("spec");
        self.deny_unknown(spec, &at, DESTINATION_FIELDS, DESTINATION_ACCEPTED);
        for field in ["registry", "version"] {
            if let Some(node) = spec.get(field) {
                self.string(node, &at.field(field));
            }
        }
        let config = &mut destination.config;
        match spec.get("path") {
            Some(node) => {
                if let Some(kind) = self.plugin(node, &at.field("path")) {
                    config.kind = kind;
                }
            }
            None => self.error(
                &at.field("path"),
                spec.line,
                "missing; write `path: cloudquery/sqlite` or `path: cloudquery/postgresql`",
            ),
        }
        config.write_mode = self
            .optional(spec, &at, "write_mode", Self::parsed::<WriteMode>)
            .unwrap_or_default();
        for (field, values, honoured, note) in [
            (
                "migrate_mode",
                ["safe", "forced"],
                "safe",
                "trailsync's migrations only add tables and columns, never drop or rewrite them",
            ),
            (
                "pk_mode",
                ["default", "cq-id-only"],
                "default",
                "trailsync keys tables by CloudQuery's primary keys (_cq_id is unique as well)",
            ),
        ] {
            let Some(node) = spec.get(field) else {
                continue;
            };
            let field_at = at.field(field);
            let Some(value) = self.string(node, &field_at) else {
                continue;
            };
            if !values.contains(&value.as_str()) {
                self.error(
                    &field_at,
                    node.line,
                    format!("unknown value {value:?}; expected {}", values.join(" or ")),
                );
            } else if value != honoured {
                self.warn(
                    &field_at,
                    node.line,
                    format!("{value} has no effect: {note}"),
                );
            }
        }
        let Some(plugin) =
            self.required_map(spec, &at, "spec", "add `spec:` with `connection_string:`")
        else {
            return destination;
        };
        let at = at.field("spec");
        self.deny_unknown(
            plugin,
            &at,
            DESTINATION_SPEC_FIELDS,
            DESTINATION_SPEC_ACCEPTED,
        );
        match plugin.get("connection_string") {
            Some(node) => {
                let connection_at = at.field("connection_string");
                if let Some(connection) = self.nonempty_string(node, &connection_at) {
                    let looks_postgres = connection.starts_with("postgres://")
                        || connection.starts_with("postgresql://");
                    if config.kind == DestinationKind::Sqlite && looks_postgres {
                        self.error(
                            &connection_at,
                            node.line,
                            "a PostgreSQL URL for a sqlite destination; set `path: cloudquery/postgresql`",
                        );
                    }
                    config.connection_string = connection;
                }
            }
            None => self.error(
                &at.field("connection_string"),
                plugin.line,
                "missing; a SQLite file path, or postgres://user@host:5432/db",
            ),
        }
        config.batch_size = self.optional(plugin, &at, "batch_size", Self::positive);
        destination
    }

    fn plugin(&mut self, node: &Node, at: &At) -> Option<DestinationKind> {
        self.parsed::<DestinationKind>(node, at)
    }

    // ---- readers: each reports its own problems and returns None on them ------------------------

    /// The node as a mapping with only `known` fields (and no field twice).
    fn mapping<'n>(&mut self, node: &'n Node, at: &At, known: &[&str]) -> Option<Fields<'n>> {
        self.mapping_accepting(node, at, known, &[])
    }

    /// [`Walker::mapping`], also accepting (with a warning) CloudQuery's fields in `accepted`.
    fn mapping_accepting<'n>(
        &mut self,
        node: &'n Node,
        at: &At,
        known: &[&str],
        accepted: &[(&str, &str)],
    ) -> Option<Fields<'n>> {
        let fields = self.as_map(node, at, "expected a mapping of `field: value` lines")?;
        self.deny_unknown(fields, at, known, accepted);
        Some(fields)
    }

    fn as_map<'n>(&mut self, node: &'n Node, at: &At, expected: &str) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                line: node.line,
                entries,
            }),
            _ => {
                self.error(
                    at,
                    node.line,
                    format!("{expected}; found {}", node.describe()),
                );
                None
            }
        }
    }

    fn required_map<'n>(
        &mut self,
        fields: Fields<'n>,
        at: &At,
        name: &str,
        hint: &str,
    ) -> Option<Fields<'n>> {
        let at = at.field(name);
        match fields.get(name) {
            Some(node) => self.as_map(node, &at, "expected a mapping of `field: value` lines"),
            None => {
                self.error(&at, fields.line, format!("missing; {hint}"));
                None
            }
        }
    }

    /// Reports fields given twice, and fields neither in `known` nor in `accepted`; a field in
    /// `accepted` (CloudQuery's, without effect here) gets a one-line warning saying why.
    fn deny_unknown(&mut self, fields: Fields, at: &At, known: &[&str], accepted: &[(&str, &str)]) {
        for (i, entry) in fields.entries.iter().enumerate() {
            let field_at = at.field(&entry.key);
            if fields.entries[..i].iter().any(|e| e.key == entry.key) {
                self.error(&field_at, entry.key_line, "given twice; keep one");
            } else if let Some((_, why)) = accepted.iter().find(|(name, _)| *name == entry.key) {
                if !entry.value.is_null() {
                    self.warn(
                        &field_at,
                        entry.key_line,
                        format!("accepted for CloudQuery compatibility, but has no effect: {why}"),
                    );
                }
            } else if !known.contains(&entry.key.as_str()) {
                let names = known
                    .iter()
                    .copied()
                    .chain(accepted.iter().map(|(n, _)| *n));
                let hint = match closest(&entry.key, names) {
                    Some(name) => format!("did you mean {name:?}?"),
                    None => format!("expected one of: {}", known.join(", ")),
                };
                self.error(&field_at, entry.key_line, format!("unknown field; {hint}"));
            }
        }
    }

    /// Reads an optional field with `read`; `None` when absent or invalid.
    fn optional<T>(
        &mut self,
        fields: Fields,
        at: &At,
        name: &str,
        read: impl FnOnce(&mut Self, &Node, &At) -> Option<T>,
    ) -> Option<T> {
        let node = fields.get(name)?;
        read(self, node, &at.field(name))
    }

    /// A scalar as text, with `${...}` references expanded.
    fn string(&mut self, node: &Node, at: &At) -> Option<String> {
        let Value::Scalar { text, .. } = &node.value else {
            self.error(
                at,
                node.line,
                format!("expected a single value, found {}", node.describe()),
            );
            return None;
        };
        match load::expand(text, self.dir, self.env, self.file_contents) {
            Ok(text) => Some(text),
            Err(errors) => {
                for e in errors {
                    self.error(at, node.line, e.to_string());
                }
                None
            }
        }
    }

    fn nonempty_string(&mut self, node: &Node, at: &At) -> Option<String> {
        let text = self.string(node, at)?;
        if text.trim().is_empty() {
            self.error(at, node.line, "empty; give it a value or remove the field");
            return None;
        }
        Some(text)
    }

    /// A list of text values, each with its line and path. A single value is reported, with the
    /// list it should have been.
    fn strings(&mut self, node: &Node, at: &At) -> Vec<(String, usize, At)> {
        let items = match &node.value {
            Value::Seq(items) => items,
            Value::Scalar { text, .. } => {
                self.error(
                    at,
                    node.line,
                    format!("expected a list, found a single value; write [{text:?}]"),
                );
                return Vec::new();
            }
            Value::Map(_) => {
                self.error(
                    at,
                    node.line,
                    "expected a list, found a mapping; write [\"a\", \"b\"]",
                );
                return Vec::new();
            }
        };
        let mut values = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = at.index(i);
            if let Some(text) = self.string(item, &at) {
                values.push((text, item.line, at));
            }
        }
        values
    }

    fn parsed<T>(&mut self, node: &Node, at: &At) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let text = self.string(node, at)?;
        text.parse()
            .map_err(|e: T::Err| self.error(at, node.line, e.to_string()))
            .ok()
    }

    fn boolean(&mut self, node: &Node, at: &At) -> Option<bool> {
        let text = self.string(node, at)?;
        match text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => {
                self.error(
                    at,
                    node.line,
                    format!("expected true or false, found {text:?}"),
                );
                None
            }
        }
    }

    fn positive(&mut self, node: &Node, at: &At) -> Option<usize> {
        let text = self.string(node, at)?;
        match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.error(
                    at,
                    node.line,
                    format!("expected a whole number above 0, found {text:?}"),
                );
                None
            }
        }
    }

    fn time(&mut self, node: &Node, at: &At) -> Option<DateTime<Utc>> {
        let text = self.string(node, at)?;
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(time) => Some(time.with_timezone(&Utc)),
            Err(_) => {
                self.error(
                    at,
                    node.line,
                    format!("{text:?} is not an RFC 3339 time; write e.g. 2026-11-24T00:00:00Z"),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, at: &At) -> Option<Duration> {
        let text = self.string(node, at)?;
        parse_duration(&text)
            .map_err(|e| self.error(at, node.line, e.to_string()))
            .ok()
    }

    /// A duration no longer than `max`: a value far beyond any sensible one is a mistake, and
    /// would overflow the clock arithmetic it feeds.
    fn duration_at_most(&mut self, node: &Node, at: &At, max: Duration) -> Option<Duration> {
        let duration = self.duration(node, at)?;
        if duration > max {
            self.error(
                at,
                node.line,
                format!(
                    "{} is longer than the {} this setting allows",
                    humanize(duration),
                    humanize(max)
                ),
            );
            return None;
        }
        Some(duration)
    }

    fn url(&mut self, node: &Node, at: &At) -> Option<String> {
        let url = self.nonempty_string(node, at)?;
        if url.starts_with("http://") || url.starts_with("https://") {
            return Some(url);
        }
        self.error(
            at,
            node.line,
            format!("{url:?} is not an http:// or https:// URL; write e.g. http://127.0.0.1:5000"),
        );
        None
    }
}

/// The candidate closest to a misspelt `word`, if it is close enough to be what was meant.
fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= 2 && d < word.len().min(c.len()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The longest `coalesce_window`: beyond it changes would wait longer than a reconciliation.
const MAX_COALESCE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// The longest `max_backoff`: an hour between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The longest `history.retention`: ten years.
const MAX_HISTORY_RETENTION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// The longest `reconcile_interval`: thirty days.
const MAX_RECONCILE_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A duration as config files write it: `10m`, `6h`, `30d`, `1.5s`.
fn humanize(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs >= 2.0 * 86_400.0 && secs % 86_400.0 == 0.0 {
        format!("{}d", secs / 86_400.0)
    } else if secs >= 3600.0 && secs % 3600.0 == 0.0 {
        format!("{}h", secs / 3600.0)
    } else if secs >= 60.0 && secs % 60.0 == 0.0 {
        format!("{}m", secs / 60.0)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_words_only() {
        assert_eq!(
            closest("tabels", SOURCE_FIELDS.iter().copied()),
            Some("tables")
        );
        assert_eq!(
            closest("destination", SOURCE_FIELDS.iter().copied()),
            Some("destinations")
        );
        assert_eq!(closest("colour", SOURCE_FIELDS.iter().copied()), None);
        assert_eq!(closest("ab", ["cd"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    /// docs/CONFIG.md is the user's reference: every field the loader knows or accepts is in it,
    /// each accepted one with the reason the warning gives.
    #[test]
    fn every_field_is_documented_in_config_md() {
        let doc = include_str!("../../../docs/CONFIG.md");
        let known = [
            SOURCE_FIELDS,
            AWS_FIELDS,
            ACCOUNT_FIELDS,
            ORG_FIELDS,
            EVENT_BASED_SYNC_FIELDS,
            HISTORY_FIELDS,
            DESTINATION_FIELDS,
            DESTINATION_SPEC_FIELDS,
        ];
        for field in known.iter().flat_map(|fields| fields.iter()) {
            assert!(
                doc.contains(&format!("`{field}`")),
                "{field} is not in docs/CONFIG.md"
            );
        }
        let accepted = [
            SOURCE_ACCEPTED,
            AWS_ACCEPTED,
            DESTINATION_ACCEPTED,
            DESTINATION_SPEC_ACCEPTED,
        ];
        let plain = |text: &str| text.replace('`', "").to_lowercase();
        for (field, why) in accepted.iter().flat_map(|fields| fields.iter()) {
            let reason = plain(why.split(['(', ';']).next().unwrap_or(why).trim());
            assert!(
                doc.lines().any(|row| row.starts_with('|')
                    && row.contains(&format!("`{field}`"))
                    && row.contains("accepted")
                    && plain(row).contains(&reason)),
                "{field}: docs/CONFIG.md should have an `accepted` row with the reason {reason:?}"
            );
        }
    }
}
