//! Test certificates, made at test time with rcgen so that no private key is ever committed: a
//! dev CA, server certificates it signed (valid, expired, for the wrong name), an unrelated CA
//! and one it signed, and a self-signed server certificate marked CA:TRUE (what the common
//! `openssl req -x509` recipe makes), each written to a PEM file in a directory the test owns.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// A server certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files [`TestCerts::generate`] wrote.
#[derive(Debug, Clone)]
pub struct TestCerts {
    /// The dev CA's certificate: what a spec's `[tls] ca` points to.
    pub ca: PathBuf,
    /// Another CA's certificate, which signed none of the server certificates: the "wrong CA".
    pub other_ca: PathBuf,
    /// Signed by `ca` for `localhost` and `127.0.0.1` (DNS and IP names), valid now.
    pub good: CertPair,
    /// Signed by `ca` for the same names, expired: valid in the year 2000 only.
    pub expired: CertPair,
    /// Signed by `ca`, valid now, for `wrong.example` only.
    pub wrong_name: CertPair,
    /// Signed by `other_ca` for the local names, valid now: of an unknown issuer to a client
    /// trusting `ca`.
    pub stranger: CertPair,
    /// Self-signed for the local names, valid now, and marked CA:TRUE with no extendedKeyUsage,
    /// as `openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1
    /// -addext subjectAltName=IP:127.0.0.1` makes it (an ECDSA key: rcgen makes no RSA keys).
    /// Its own file is what a spec's `[tls] ca` names to trust it.
    pub self_signed_ca: CertPair,
}

/// The names a client of a local test service checks.
const LOCAL: [&str; 2] = ["localhost", "127.0.0.1"];

impl TestCerts {
    /// New keys and certificates in `dir`: `ca.pem`, `other-ca.pem`, and `NAME.pem` with
    /// `NAME.key` for `good`, `expired`, `wrong-name`, `stranger` and `self-signed-ca`. Panics
    /// when they cannot be written.
    pub fn generate(dir: &Path) -> TestCerts {
        let ca = authority("loadgate test CA");
        let other_ca = authority("loadgate other test CA");
        TestCerts {
            ca: write(dir, "ca.pem", &ca.pem()),
            other_ca: write(dir, "other-ca.pem", &other_ca.pem()),
            good: server(dir, "good", &ca, &LOCAL, false),
            expired: server(dir, "expired", &ca, &LOCAL, true),
            wrong_name: server(dir, "wrong-name", &ca, &["wrong.example"], false),
            stranger: server(dir, "stranger", &other_ca, &LOCAL, false),
            self_signed_ca: self_signed_ca(dir, "self-signed-ca", &LOCAL),
        }
    }
}

/// A self-signed certificate for `names` marked CA:TRUE, its subject the last name (the
/// recipe's `/CN=127.0.0.1`), written as `NAME.pem` and `NAME.key`.
fn self_signed_ca(dir: &Path, name: &str, names: &[&str]) -> CertPair {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("valid subject names");
    params.distinguished_name = common_name(names.last().expect("a name"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().expect("a key");
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    CertPair {
        cert: write(dir, &format!("{name}.pem"), &cert.pem()),
        key: write(dir, &format!("{name}.key"), &key.serialize_pem()),
    }
}

/// A self-signed CA that may sign server certificates.
fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("a CA key");
    CertifiedIssuer::self_signed(params, key).expect("a CA certificate")
}

/// A server certificate for `names` signed by `ca`, written as `NAME.pem` and `NAME.key`: valid
/// in the year 2000 only when `expired`, else from 1975 to 4096 (rcgen's default).
fn server(
    dir: &Path,
    name: &str,
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    expired: bool,
) -> CertPair {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("valid subject names");
    params.distinguished_name = common_name(&names[0]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2000, 12, 31);
    }
    let key = KeyPair::generate().expect("a server key");
    let cert = params.signed_by(&key, ca).expect("a signed certificate");
    CertPair {
        cert: write(dir, &format!("{name}.pem"), &cert.pem()),
        key: write(dir, &format!("{name}.key"), &key.serialize_pem()),
    }
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn write(dir: &Path, file: &str, pem: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, pem)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    path
}
