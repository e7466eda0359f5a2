//! TLS for PostgreSQL connections, with rustls, following libpq's `sslmode` and `sslrootcert`.
//!
//! tokio-postgres knows `sslmode` disable, prefer and require only, and nothing of
//! certificates, so [`split`] takes libpq's TLS options out of the connection string (URL or
//! key=value) and the rest goes to tokio-postgres; [`Tls`] then connects as libpq does:
//!
//! | `sslmode`         | encrypted                                   | certificate checked       |
//! |-------------------|---------------------------------------------|---------------------------|
//! | `disable`         | never                                       | -                         |
//! | `allow`           | only if the server refuses plain            | as `require`              |
//! | `prefer` (default)| if the server accepts; else plain           | chain, if a root is known |
//! | `require`         | always                                      | chain, if a root is known |
//! | `verify-ca`       | always                                      | chain                     |
//! | `verify-full`     | always                                      | chain and host name       |
//!
//! The roots: `sslrootcert=PATH` (PEM), `sslrootcert=system` (the operating system's store,
//! which, as in libpq, demands `verify-full`), else libpq's default `~/.postgresql/root.crt`
//! when it exists. `require` with a root is `verify-ca`: libpq's rule, kept for compatibility.
//! The host name checked is the connection's `host` (not `hostaddr`), IP address or DNS name.
//! Over a Unix socket there is no TLS, whatever `sslmode` says (as in libpq).
//!
//! The provider is aws-lc-rs, as for the AWS SDK's own rustls: one TLS stack in the binary.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_postgres::{Client, Config, Connection, Socket};

use crate::errors::chain;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The TLS options of a connection string, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsOptions {
    pub(crate) sslmode: Option<SslMode>,
    pub(crate) sslrootcert: Option<String>,
    /// libpq's `sslsni`: send the host name in the handshake (default 1).
    pub(crate) sslsni: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            sslmode: None,
            sslrootcert: None,
            sslsni: true,
        }
    }
}

/// A connection string with its TLS options taken out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Split {
    /// What tokio-postgres is given.
    pub(crate) rest: String,
    pub(crate) options: TlsOptions,
}

/// Why the TLS options of a connection string are unusable. Values are never quoted but for
/// `sslmode` and `sslsni`, which hold no secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OptionsError {
    #[error(
        "unknown sslmode {0:?}; expected disable, allow, prefer, require, verify-ca or verify-full"
    )]
    UnknownMode(String),
    #[error("unknown sslsni {0:?}; expected 0 or 1")]
    UnknownSni(String),
    #[error("{0} is not supported (trailsync does not present client certificates)")]
    ClientCertificate(&'static str),
    #[error("the value of {0} is not valid percent-encoded UTF-8")]
    Encoding(&'static str),
    #[error("malformed at byte {0}: {1}")]
    Syntax(usize, &'static str),
}

/// libpq's options for client certificates, refused rather than silently ignored.
const CLIENT_CERTIFICATE_OPTIONS: [&str; 3] = ["sslcert", "sslkey", "sslpassword"];

/// Takes `sslmode`, `sslrootcert` and `sslsni` out of a URL (`postgres://...?sslmode=...`) or
/// key=value connection string; everything else is left as written, for tokio-postgres.
pub(crate) fn split(connection_string: &str) -> Result<Split, OptionsError> {
    for prefix in ["postgres://", "postgresql://"] {
        if let Some(rest) = connection_string.strip_prefix(prefix) {
            return split_url(prefix, rest);
        }
    }
    split_key_value(connection_string)
}

/// Applies one option to `options`; false when the key is not a TLS option of ours.
fn take(options: &mut TlsOptions, key: &str, value: String) -> Result<bool, OptionsError> {
    match key {
        "sslmode" => {
            options.sslmode = Some(SslMode::parse(&value).ok_or(OptionsError::UnknownMode(value))?);
        }
        "sslrootcert" => options.sslrootcert = Some(value),
        "sslsni" => {
            options.sslsni = match value.as_str() {
                "1" => true,
                "0" => false,
                _ => return Err(OptionsError::UnknownSni(value)),
            }
        }
        key => {
            if let Some(option) = CLIENT_CERTIFICATE_OPTIONS.iter().find(|o| **o == key) {
                return Err(OptionsError::ClientCertificate(option));
            }
            return Ok(false);
        }
    }
    Ok(true)
}

/// The URL form, parsed as tokio-postgres parses it: the credentials end at the first `@`, the
/// parameters start at the next `?` and are `&`-separated, percent-encoded `key=value` pairs.
fn split_url(prefix: &str, rest: &str) -> Result<Split, OptionsError> {
    let after_credentials = rest.find('@').map_or(0, |at| at + 1);
    let Some(question) = rest[after_credentials..].find('?') else {
        return Ok(Split {
            rest: format!("{prefix}{rest}"),
            options: TlsOptions::default(),
        });
    };
    let (base, query) = rest.split_at(after_credentials + question);
    let query = &query[1..];
    let mut options = TlsOptions::default();
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            kept.push(pair); // malformed: tokio-postgres says so
            continue;
        };
        let Some(key) = percent_decode(key) else {
            kept.push(pair);
            continue;
        };
        let option = match key.as_str() {
            "sslmode" => "sslmode",
            "sslrootcert" => "sslrootcert",
            "sslsni" => "sslsni",
            _ => "",
        };
        let value = if option.is_empty() {
            String::new()
        } else {
            percent_decode(value).ok_or(OptionsError::Encoding(option))?
        };
        if !take(&mut options, &key, value)? {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        format!("{prefix}{base}")
    } else {
        format!("{prefix}{base}?{}", kept.join("&"))
    };
    Ok(Split { rest, options })
}

/// `%XX` decoding (no `+` for space), as tokio-postgres decodes URL parts; `None` unless the
/// result is UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) if hex(high).is_some() && hex(low).is_some() => {
                let value = hex(high).unwrap_or(0) * 16 + hex(low).unwrap_or(0);
                out.push(value as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The key=value form, tokenized as tokio-postgres does (whitespace-separated `key = value`,
/// values optionally in single quotes, backslash escapes); the TLS pairs are cut out of the
/// text and the rest is kept byte for byte.
fn split_key_value(text: &str) -> Result<Split, OptionsError> {
    let mut options = TlsOptions::default();
    let mut rest = String::with_capacity(text.len());
    let mut kept_from = 0;
    let mut scanner = Scanner { text, at: 0 };
    loop {
        scanner.skip_whitespace();
        let start = scanner.at;
        let key = scanner.take_while(|c| !c.is_whitespace() && c != '=');
        if key.is_empty() {
            break; // the end, or something tokio-postgres stops at too
        }
        scanner.skip_whitespace();
        if !scanner.eat('=') {
            return Err(OptionsError::Syntax(scanner.at, "expected `=` after a key"));
        }
        scanner.skip_whitespace();
        let value = scanner.value()?;
        if take(&mut options, key, value)? {
            rest.push_str(&text[kept_from..start]);
            kept_from = scanner.at;
        }
    }
    rest.push_str(&text[kept_from..]);
    Ok(Split { rest, options })
}

struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.at += expected.len_utf8();
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.at;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        &self.text[start..self.at]
    }

    fn skip_whitespace(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn value(&mut self) -> Result<String, OptionsError> {
        let mut value = String::new();
        if self.eat('\'') {
            loop {
                match self.bump() {
                    None => {
                        return Err(OptionsError::Syntax(self.at, "unterminated quoted value"));
                    }
                    Some('\'') => return Ok(value),
                    Some('\\') => value.extend(self.bump()),
                    Some(c) => value.push(c),
                }
            }
        }
        while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
            self.bump();
            if c == '\\' {
                value.extend(self.bump());
            } else {
                value.push(c);
            }
        }
        if value.is_empty() {
            return Err(OptionsError::Syntax(self.at, "missing value"));
        }
        Ok(value)
    }
}

/// Where the trusted roots come from; named in messages.
#[derive(Clone, Debug)]
pub(crate) enum Trust {
    /// No root: the server's certificate is not checked.
    Nothing,
    /// `sslrootcert=PATH`.
    File(PathBuf),
    /// libpq's default root file, which exists.
    DefaultFile(PathBuf),
    /// `sslrootcert=system`.
    System,
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Nothing => f.write_str("no root certificate"),
            Trust::File(path) => write!(f, "sslrootcert {}", path.display()),
            Trust::DefaultFile(path) => {
                write!(f, "{} (libpq's default sslrootcert)", path.display())
            }
            Trust::System => f.write_str("the system's root certificates (sslrootcert=system)"),
        }
    }
}

/// Why TLS cannot be set up as the connection string asks.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("sslmode={0} may not be used with sslrootcert=system; use sslmode=verify-full")]
    WeakWithSystem(SslMode),
    #[error(
        "sslmode={mode} needs a root certificate, and {} does not exist; set sslrootcert=PATH, or sslrootcert=system for the system's roots", path.display()
    )]
    NoRootFile { mode: SslMode, path: PathBuf },
    #[error(
        "sslmode={0} needs a root certificate; set sslrootcert=PATH, or sslrootcert=system for the system's roots"
    )]
    NoRoot(SslMode),
    #[error("cannot read sslrootcert {}", path.display())]
    ReadRoot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("sslrootcert {} is not PEM certificates", path.display())]
    PemRoot {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("sslrootcert {} holds no certificate", path.display())]
    EmptyRoot { path: PathBuf },
    #[error("sslrootcert {} holds an unusable certificate", path.display())]
    BadRoot {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("no usable certificate in the system's root store (sslrootcert=system)")]
    NoSystemRoots,
    #[error("cannot set up TLS")]
    Rustls(#[from] rustls::Error),
    #[error("cannot set up certificate verification")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// How to connect: the libpq mode and the connector that does TLS when it is used.
#[derive(Clone)]
pub(crate) struct Tls {
    mode: SslMode,
    connector: MakeRustls,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("mode", &self.mode)
            .field("trust", &self.connector.trust)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the roots and sets `config`'s tokio-postgres mode for the first attempt.
    pub(crate) fn new(options: &TlsOptions, config: &mut Config) -> Result<Tls, SetupError> {
        let system = options.sslrootcert.as_deref() == Some("system");
        let mode = match options.sslmode {
            Some(mode) if system && mode != SslMode::VerifyFull => {
                return Err(SetupError::WeakWithSystem(mode));
            }
            Some(mode) => mode,
            None if system => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        // No TLS over Unix sockets (the server offers none there); libpq ignores sslmode.
        let tcp = config.get_hosts().iter().any(|h| matches!(h, Host::Tcp(_)))
            || (config.get_hosts().is_empty() && !config.get_hostaddrs().is_empty());
        let mode = if tcp { mode } else { SslMode::Disable };
        config.ssl_mode(match mode {
            SslMode::Disable | SslMode::Allow => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
        let (client, trust) = if mode == SslMode::Disable {
            (None, Trust::Nothing)
        } else {
            let (roots, trust) = roots(options, mode)?;
            (Some(client_config(mode, roots, options.sslsni)?), trust)
        };
        Ok(Tls {
            mode,
            connector: MakeRustls {
                config: client,
                trust: Arc::new(trust),
                used: Arc::default(),
            },
        })
    }

    /// Connects as libpq would: `prefer` falls back to plain when TLS fails or the server
    /// refuses the session over TLS; `allow` tries plain first and TLS if the server refuses it.
    pub(crate) async fn connect(
        &self,
        config: &Config,
    ) -> Result<(Client, Connection<Socket, RustlsStream<Socket>>), ConnectError> {
        let connector = self.connector.attempt();
        let first = config.connect(connector.clone()).await;
        let second_mode = match (&first, self.mode) {
            (Err(error), SslMode::Prefer)
                if connector.used() && (is_handshake(error) || error.as_db_error().is_some()) =>
            {
                PgSslMode::Disable
            }
            (Err(error), SslMode::Allow) if error.as_db_error().is_some() => PgSslMode::Require,
            _ => return first.map_err(ConnectError::Postgres),
        };
        let first = first.err();
        let mut again = config.clone();
        again.ssl_mode(second_mode);
        let second = again.connect(self.connector.attempt()).await;
        match (first, second) {
            (_, Ok(connected)) => Ok(connected),
            (Some(first), Err(second)) => Err(ConnectError::Both {
                first,
                second,
                first_tls: second_mode == PgSslMode::Disable,
            }),
            (None, Err(second)) => Err(ConnectError::Postgres(second)),
        }
    }
}

/// Whether a connection failed in our TLS handshake.
fn is_handshake(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|e| e.is::<HandshakeError>())
}

/// A failed connection, after one or two attempts.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error(transparent)]
    Postgres(tokio_postgres::Error),
    /// Both attempts of `prefer` or `allow` failed; each is said in full, on one line.
    #[error(
        "{}: {}; then {}: {}",
        if *first_tls { "with TLS" } else { "without TLS" },
        chain(first),
        if *first_tls { "without TLS" } else { "with TLS" },
        chain(second)
    )]
    Both {
        first: tokio_postgres::Error,
        second: tokio_postgres::Error,
        first_tls: bool,
    },
}

/// The roots `options` name, or libpq's default file; none for the modes that do not verify
/// when nothing is configured.
fn roots(
    options: &TlsOptions,
    mode: SslMode,
) -> Result<(Option<RootCertStore>, Trust), SetupError> {
    match options.sslrootcert.as_deref() {
        Some("system") => Ok((Some(system_roots()?), Trust::System)),
        Some(path) => {
            let path = PathBuf::from(path);
            Ok((Some(file_roots(&path)?), Trust::File(path)))
        }
        None => {
            let Some(path) = default_root_file() else {
                return if mode.verifies() {
                    Err(SetupError::NoRoot(mode))
                } else {
                    Ok((None, Trust::Nothing))
                };
            };
            if path.exists() {
                Ok((Some(file_roots(&path)?), Trust::DefaultFile(path)))
            } else if mode.verifies() {
                Err(SetupError::NoRootFile { mode, path })
            } else {
                Ok((None, Trust::Nothing))
            }
        }
    }
}

/// libpq's default `sslrootcert`: `~/.postgresql/root.crt`.
fn default_root_file() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(Path::new(&home).join(".postgresql").join("root.crt"))
}

fn file_roots(path: &Path) -> Result<RootCertStore, SetupError> {
    let pem = std::fs::read(path).map_err(|source| SetupError::ReadRoot {
        path: path.to_path_buf(),
        source,
    })?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| SetupError::PemRoot {
            path: path.to_path_buf(),
            source,
        })?;
    if certificates.is_empty() {
        return Err(SetupError::EmptyRoot {
            path: path.to_path_buf(),
        });
    }
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|source| SetupError::BadRoot {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, SetupError> {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::debug!(%error, "a system root certificate could not be read");
    }
    let mut roots = RootCertStore::empty();
    let (_added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "system root certificates rustls cannot use");
    }
    if roots.is_empty() {
        return Err(SetupError::NoSystemRoots);
    }
    Ok(roots)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn client_config(
    mode: SslMode,
    roots: Option<RootCertStore>,
    sni: bool,
) -> Result<Arc<ClientConfig>, SetupError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(AnyCertificate { algorithms }),
        Some(roots) if mode == SslMode::VerifyFull => {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?
        }
        Some(roots) => Arc::new(ChainOnly {
            roots: Arc::new(roots),
            algorithms,
        }),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // What libpq 17 sends; PostgreSQL 17's direct TLS (`sslnegotiation=direct`) requires it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    config.enable_sni = sni;
    Ok(Arc::new(config))
}

/// `verify-ca` (and `require` with a root): the chain must lead to a trusted root; the host
/// name is not checked.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let certificate = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &certificate,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `require` (and `prefer`, `allow`) without a root: encrypted, server not authenticated, as
/// libpq. The handshake signatures are still checked, so the server holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// tokio-postgres' TLS hook: one [`RustlsConnect`] per host tried.
#[derive(Clone)]
pub(crate) struct MakeRustls {
    /// `None` for `disable` (tokio-postgres never asks for TLS then).
    config: Option<Arc<ClientConfig>>,
    trust: Arc<Trust>,
    /// Set once a handshake starts: the server accepted TLS.
    used: Arc<AtomicBool>,
}

impl MakeRustls {
    /// The connector for one connection attempt, with its own record of TLS use.
    fn attempt(&self) -> MakeRustls {
        MakeRustls {
            used: Arc::default(),
            ..self.clone()
        }
    }

    fn used(&self) -> bool {
        self.used.load(Ordering::Relaxed)
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = HandshakeError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, HandshakeError> {
        Ok(RustlsConnect {
            config: self.config.clone(),
            trust: self.trust.clone(),
            used: self.used.clone(),
            host: host.to_string(),
        })
    }
}

/// The TLS handshake with one host.
pub(crate) struct RustlsConnect {
    config: Option<Arc<ClientConfig>>,
    trust: Arc<Trust>,
    used: Arc<AtomicBool>,
    host: String,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = HandshakeError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, HandshakeError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let RustlsConnect {
                config,
                trust,
                used,
                host,
            } = self;
            used.store(true, Ordering::Relaxed);
            let config = config.ok_or(HandshakeError::Disabled)?;
            let name = ServerName::try_from(host.clone()).map_err(|source| {
                HandshakeError::InvalidHost {
                    host: host.clone(),
                    source,
                }
            })?;
            tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map(RustlsStream)
                .map_err(|error| HandshakeError::new(host, &trust, error))
        })
    }
}

/// Why a TLS handshake failed, naming the host and, for an untrusted certificate, the roots.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("certificate of {host} is not trusted by {trust}")]
    Untrusted {
        host: String,
        trust: String,
        #[source]
        source: rustls::Error,
    },
    #[error(
        "certificate of {host} is not valid for that name (sslmode=verify-full checks the host name, verify-ca does not)"
    )]
    WrongHost {
        host: String,
        #[source]
        source: rustls::Error,
    },
    #[error("certificate of {host} is refused")]
    Refused {
        host: String,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS handshake with {host} failed")]
    Tls {
        host: String,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS handshake with {host} failed")]
    Io {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host:?} is not a host name or IP address a certificate can be checked against")]
    InvalidHost {
        host: String,
        #[source]
        source: InvalidDnsNameError,
    },
    #[error("TLS is disabled (sslmode=disable)")]
    Disabled,
}

impl HandshakeError {
    /// Sorts out the rustls error tokio-rustls wraps in an I/O error.
    fn new(host: String, trust: &Trust, error: io::Error) -> HandshakeError {
        let Some(tls) = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .cloned()
        else {
            return HandshakeError::Io {
                host,
                source: error,
            };
        };
        match &tls {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                HandshakeError::Untrusted {
                    host,
                    trust: trust.to_string(),
                    source: tls,
                }
            }
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => HandshakeError::WrongHost { host, source: tls },
            rustls::Error::InvalidCertificate(_) => HandshakeError::Refused { host, source: tls },
            _ => HandshakeError::Tls { host, source: tls },
        }
    }
}

/// A TLS connection as tokio-postgres uses it.
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    /// `tls-server-end-point` (RFC 5929), so that SCRAM authentication is bound to this TLS
    /// session (`channel_binding`): a man in the middle cannot relay it.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|certificates| certificates.first())
            .and_then(|certificate| server_end_point(certificate.as_ref()))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// The certificate's hash under its signature's hash function (SHA-256 for MD5 and SHA-1);
/// `None` for algorithms RFC 5929 leaves undefined (Ed25519, RSA-PSS), as libpq.
fn server_end_point(der: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04];
    let oid = signature_algorithm(der)?;
    let algorithm = if let Some(rest) = oid.strip_prefix(RSA) {
        match rest {
            [0x04] | [0x05] | [0x0b] => &digest::SHA256, // md5, sha1, sha256 WithRSAEncryption
            [0x0c] => &digest::SHA384,
            [0x0d] => &digest::SHA512,
            _ => return None,
        }
    } else if let Some(rest) = oid.strip_prefix(ECDSA) {
        match rest {
            [0x01] | [0x03, 0x02] => &digest::SHA256, // ecdsa-with-SHA1, -SHA256
            [0x03, 0x03] => &digest::SHA384,
            [0x03, 0x04] => &digest::SHA512,
            _ => return None,
        }
    } else {
        return None;
    };
    Some(digest::digest(algorithm, der).as_ref().to_vec())
}

/// The OID of `Certificate.signatureAlgorithm`: SEQUENCE { tbsCertificate, AlgorithmIdentifier
/// SEQUENCE { OID, ... }, signature }.
fn signature_algorithm(der: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let (SEQUENCE, certificate, _) = der_element(der)? else {
        return None;
    };
    let (SEQUENCE, _tbs, rest) = der_element(certificate)? else {
        return None;
    };
    let (SEQUENCE, algorithm, _) = der_element(rest)? else {
        return None;
    };
    let (OID, oid, _) = der_element(algorithm)? else {
        return None;
    };
    Some(oid)
}

/// One DER element: its tag, its contents and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes
            .iter()
            .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (contents, rest) = rest.split_at(length);
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(mode: Option<SslMode>, root: Option<&str>) -> TlsOptions {
        TlsOptions {
            sslmode: mode,
            sslrootcert: root.map(str::to_string),
            sslsni: true,
        }
    }

    #[test]
    fn urls_lose_their_tls_parameters_only() {
        let split = split(
            "postgres://u:p%3Fw@db.example.com:5433/inv?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("valid");
        assert_eq!(
            split.rest,
            "postgres://u:p%3Fw@db.example.com:5433/inv?application_name=x"
        );
        assert_eq!(
            split.options,
            options(Some(SslMode::VerifyFull), Some("/etc/ca.pem"))
        );

        let split = super::split("postgresql://h/db?sslmode=require").expect("valid");
        assert_eq!(split.rest, "postgresql://h/db");
        assert_eq!(split.options, options(Some(SslMode::Require), None));

        // A `?` or `@` in the password belongs to the credentials, as for tokio-postgres.
        let split = super::split("postgres://u:a?b@h/db?sslsni=0").expect("valid");
        assert_eq!(split.rest, "postgres://u:a?b@h/db");
        assert!(!split.options.sslsni);

        let split = super::split("postgres://h/db").expect("valid");
        assert_eq!(split.rest, "postgres://h/db");
        assert_eq!(split.options, TlsOptions::default());
    }

    #[test]
    fn key_value_strings_lose_their_tls_pairs_only() {
        let split = split(
            "host=h sslmode = verify-ca password='a b\\' c' sslrootcert='/my certs/ca.pem' dbname=x",
        )
        .expect("valid");
        assert_eq!(split.rest, "host=h  password='a b\\' c'  dbname=x");
        assert_eq!(
            split.options,
            options(Some(SslMode::VerifyCa), Some("/my certs/ca.pem"))
        );
        let split = super::split("sslmode=disable").expect("valid");
        assert_eq!(split.rest, "");
        assert_eq!(split.options.sslmode, Some(SslMode::Disable));
    }

    #[test]
    fn bad_tls_options_are_refused_without_echoing_other_values() {
        let error = |s: &str| split(s).expect_err(s).to_string();
        assert!(error("host=h sslmode=verify").contains("unknown sslmode \"verify\""));
        assert!(error("postgres://h/db?sslmode=strict").contains("unknown sslmode"));
        assert!(error("host=h sslcert=/c.pem").contains("sslcert is not supported"));
        assert!(error("postgres://h/db?sslkey=k").contains("sslkey is not supported"));
        let unterminated = error("host=h password='secret-value sslmode=require");
        assert!(unterminated.contains("unterminated"), "{unterminated}");
        assert!(!unterminated.contains("secret-value"), "{unterminated}");
        let no_equals = error("host=h secret-value");
        assert!(!no_equals.contains("secret-value"), "{no_equals}");
    }

    #[test]
    fn modes_follow_libpq() {
        let mut config = Config::new();
        config.host("127.0.0.1");
        let tls = |o: TlsOptions, config: &mut Config| Tls::new(&o, config);

        let weak = tls(options(Some(SslMode::Require), Some("system")), &mut config)
            .expect_err("system needs verify-full");
        assert!(weak.to_string().contains("verify-full"), "{weak}");

        let missing = tls(
            options(Some(SslMode::VerifyCa), Some("/nonexistent/ca.pem")),
            &mut config,
        )
        .expect_err("missing root");
        assert_eq!(
            chain(&missing),
            "cannot read sslrootcert /nonexistent/ca.pem: No such file or directory (os error 2)"
        );

        let plain = tls(options(Some(SslMode::Require), None), &mut config).expect("require");
        assert_eq!(plain.mode, SslMode::Require);
        assert_eq!(config.get_ssl_mode(), PgSslMode::Require);

        let default = tls(TlsOptions::default(), &mut config).expect("prefer");
        assert_eq!(default.mode, SslMode::Prefer);
        assert_eq!(config.get_ssl_mode(), PgSslMode::Prefer);

        let mut socket = Config::new();
        socket.host_path("/run/postgresql");
        let unix = tls(options(Some(SslMode::VerifyFull), None), &mut socket)
            .expect("no TLS over a Unix socket");
        assert_eq!(unix.mode, SslMode::Disable);
        assert_eq!(socket.get_ssl_mode(), PgSslMode::Disable);
    }

    #[test]
    fn not_pem_roots_are_refused() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let error = file_roots(&path).expect_err("no certificate");
        assert!(
            error.to_string().contains("holds no certificate"),
            "{error}"
        );
    }

    #[test]
    fn der_elements_and_signature_algorithms() {
        // SEQUENCE { SEQUENCE {}, SEQUENCE { OID 1.2.840.10045.4.3.2 }, BIT STRING }
        let certificate = [
            0x30, 0x11, 0x30, 0x00, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04,
            0x03, 0x02, 0x03, 0x01, 0x00,
        ];
        assert_eq!(
            signature_algorithm(&certificate),
            Some(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02][..])
        );
        assert_eq!(
            server_end_point(&certificate).map(|hash| hash.len()),
            Some(32)
        );
        assert_eq!(signature_algorithm(&certificate[..5]), None);
        assert_eq!(der_element(&[0x04, 0x82, 0x00]), None);
    }
}
