//! Test certificates made on the spot with rcgen: a certificate authority and the server
//! certificates it signs, for TLS tests against a private PostgreSQL server. Nothing is read
//! from the machine, so the tests do not depend on an `openssl` binary.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Result, TestkitError};

/// A certificate authority with a fresh key: two `TestCa`s never trust each other's
/// certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A certificate signed by a [`TestCa`], with its private key (both PEM).
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

fn rcgen_error(what: &'static str) -> impl FnOnce(rcgen::Error) -> TestkitError {
    move |source| TestkitError::Certificate { what, source }
}

impl TestCa {
    /// A self-signed CA certificate whose subject is `name`.
    pub fn new(name: &str) -> Result<TestCa> {
        let key = KeyPair::generate().map_err(rcgen_error("CA key"))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error("CA certificate"))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params
            .self_signed(&key)
            .map_err(rcgen_error("CA certificate"))?;
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
        })
    }

    /// Writes the CA certificate to `path`, for `sslrootcert=path`.
    pub fn write_cert(&self, path: &Path) -> Result<()> {
        std::fs::write(path, &self.cert_pem).map_err(TestkitError::io("write", path))
    }

    /// A server certificate for `names` (IP addresses or DNS names, as subject alternative
    /// names), signed by this CA.
    pub fn issue(&self, names: &[&str]) -> Result<IssuedCert> {
        let key = KeyPair::generate().map_err(rcgen_error("server key"))?;
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params =
            CertificateParams::new(names.clone()).map_err(rcgen_error("server certificate"))?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(rcgen_error("server certificate"))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl IssuedCert {
    /// Writes `server.crt` and `server.key` (the names PostgreSQL looks for by default) into a
    /// server's data folder; the key is private to its owner, as PostgreSQL demands.
    pub fn install(&self, data: &Path) -> Result<()> {
        let cert = data.join("server.crt");
        std::fs::write(&cert, &self.cert_pem).map_err(TestkitError::io("write", &cert))?;
        let key = data.join("server.key");
        std::fs::write(&key, &self.key_pem).map_err(TestkitError::io("write", &key))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .map_err(TestkitError::io("restrict", &key))?;
        }
        Ok(())
    }
}
