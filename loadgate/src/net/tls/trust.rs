//! Whether the service's certificate is trusted, and if not, why in words. Takes the roots
//! (the platform's and `[tls] ca`'s) and gives a rustls [`ServerCertVerifier`] that trusts what
//! rustls' webpki verifier trusts, and also an end-entity certificate that is itself listed in
//! `[tls] ca`, as curl, Go and Python do: the common
//! `openssl req -x509 … -addext subjectAltName=IP:127.0.0.1` certificate is marked CA:TRUE, and
//! webpki alone refuses it as the server's own certificate. A refusal carries a [`Refusal`]:
//! the certificate itself, put into words only when a person reads it.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer as _;
use x509_parser::time::ASN1Time;

use super::problem::CertificateProblem;

/// webpki's verdict first; an end entity listed in `[tls] ca` gets a second hearing.
#[derive(Debug)]
pub(super) struct ListedOrChained {
    /// `None` when no root is known at all (no platform roots, no `[tls] ca`), which webpki
    /// refuses to be built with: every certificate then has an unknown issuer.
    webpki: Option<Arc<WebPkiServerVerifier>>,
    /// `[tls] ca`: the file, and the certificates read from it.
    ca: Option<(PathBuf, Vec<CertificateDer<'static>>)>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ListedOrChained {
    pub(super) fn new(
        roots: RootCertStore,
        ca: Option<(PathBuf, Vec<CertificateDer<'static>>)>,
        provider: Arc<CryptoProvider>,
    ) -> Result<ListedOrChained, String> {
        let algorithms = provider.signature_verification_algorithms;
        let webpki = if roots.is_empty() {
            None
        } else {
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|err| format!("cannot set up TLS certificate checks: {err}"))?;
            Some(verifier)
        };
        Ok(ListedOrChained {
            webpki,
            ca,
            algorithms,
        })
    }

    fn is_listed(&self, end_entity: &CertificateDer<'_>) -> bool {
        self.ca.as_ref().is_some_and(|(_, certs)| {
            certs
                .iter()
                .any(|cert| cert.as_ref() == end_entity.as_ref())
        })
    }
}

impl ServerCertVerifier for ListedOrChained {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chained = match &self.webpki {
            Some(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            None => Err(CertificateError::UnknownIssuer.into()),
        };
        let cause = match chained {
            Ok(verified) => return Ok(verified),
            Err(rustls::Error::InvalidCertificate(cause)) => cause,
            Err(other) => return Err(other),
        };
        let listed = self.is_listed(end_entity);
        let problem = if listed {
            // Listed, the certificate is trusted as itself: no issuer is looked for and CA:TRUE
            // does not matter, but it must still be in date, for servers and for this name.
            match check_listed(end_entity, server_name, now) {
                Ok(()) => return Ok(ServerCertVerified::assertion()),
                Err(problem) => problem,
            }
        } else {
            classify(&cause, end_entity)
        };
        // Refusals are rare (the readiness probe stops the gate at the first), so the copies
        // here cost nothing per request.
        let refusal = Refusal {
            problem,
            cause,
            chain: std::iter::once(end_entity)
                .chain(intermediates)
                .map(|cert| cert.clone().into_owned())
                .collect(),
            server_name: server_name.to_owned(),
            now,
            ca_file: self.ca.as_ref().map(|(path, _)| path.clone()),
            listed,
        };
        Err(CertificateError::Other(OtherError(Arc::new(refusal))).into())
    }

    // The handshake's own signatures are checked with the certificate's key whichever way the
    // certificate was trusted: that proves the server holds the key.
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

/// The checks a listed certificate still passes: its dates, its purpose (an extendedKeyUsage,
/// when it has one, must include serverAuth, as webpki asks of any server certificate) and the
/// server's name (webpki's own matching). KeyUsage is not read, as webpki does not read it for
/// a server's certificate either.
fn check_listed(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), CertificateProblem> {
    let Ok((_, cert)) = X509Certificate::from_der(end_entity) else {
        return Err(CertificateProblem::Other);
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(CertificateProblem::NotValidYet);
    }
    if now > validity.not_after.timestamp() {
        return Err(CertificateProblem::Expired);
    }
    match cert.extended_key_usage() {
        Ok(None) => {}
        Ok(Some(eku)) if eku.value.server_auth => {}
        Ok(Some(_)) => return Err(CertificateProblem::NotForServers),
        Err(_) => return Err(CertificateProblem::Other),
    }
    let parsed = ParsedCertificate::try_from(end_entity).map_err(|_| CertificateProblem::Other)?;
    rustls::client::verify_server_name(&parsed, server_name)
        .map_err(|_| CertificateProblem::WrongName)
}

/// The problem webpki found with a certificate that is not listed in `[tls] ca`.
fn classify(cause: &CertificateError, end_entity: &CertificateDer<'_>) -> CertificateProblem {
    match CertificateProblem::from(cause) {
        // webpki's `CaUsedAsEndEntity` reaches rustls as an opaque error; the certificate
        // itself says whether it is marked CA:TRUE.
        CertificateProblem::Other
            if matches!(cause, CertificateError::Other(_))
                && X509Certificate::from_der(end_entity).is_ok_and(|(_, cert)| cert.is_ca()) =>
        {
            CertificateProblem::CaAsServerCertificate
        }
        problem => problem,
    }
}

/// A refused certificate and what a person needs to fix it: the problem, rustls' own words,
/// the chain the server sent and the name it was checked against. Its [`fmt::Display`] names
/// the reason, the certificate's facts that show it, and what to do.
#[derive(Debug)]
pub struct Refusal {
    pub(super) problem: CertificateProblem,
    cause: CertificateError,
    /// The end entity first, then what the server sent with it.
    chain: Vec<CertificateDer<'static>>,
    server_name: ServerName<'static>,
    now: UnixTime,
    /// `[tls] ca`, when the spec names one.
    ca_file: Option<PathBuf>,
    /// The end entity is itself listed in `[tls] ca`.
    listed: bool,
}

impl Refusal {
    /// The refusal behind a failed handshake, when the certificate was refused.
    pub fn of(err: &io::Error) -> Option<&Refusal> {
        let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
        let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = tls else {
            return None;
        };
        other.0.downcast_ref::<Refusal>()
    }
}

impl std::error::Error for Refusal {}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((_, cert)) = self
            .chain
            .first()
            .and_then(|der| X509Certificate::from_der(der).ok())
        else {
            return write!(
                f,
                "the certificate cannot be read ({}): {CHECK_IT}",
                self.cause
            );
        };
        let subject = cert.subject();
        let ca_file = match &self.ca_file {
            Some(path) => format!("the file `[tls] ca` names ({})", path.display()),
            None => "a file named by `[tls] ca = \"FILE\"`".to_owned(),
        };
        let host = self.server_name.to_str();
        let validity = cert.validity();
        let dates = format!(
            "valid from {} (notBefore) until {} (notAfter), and it is now {}",
            date(validity.not_before),
            date(validity.not_after),
            date_of(self.now),
        );
        match self.problem {
            CertificateProblem::CaAsServerCertificate => write!(
                f,
                "the certificate is marked as a CA (CA:TRUE) and is used as the server's own \
                 certificate (subject {subject}), which is refused unless that very certificate \
                 is trusted: add it to {ca_file}, where it is trusted as the server's own with \
                 its dates and names still checked, or make the server's certificate without \
                 CA:TRUE (openssl: `-addext basicConstraints=critical,CA:FALSE`)"
            ),
            CertificateProblem::UnknownIssuer => {
                f.write_str(&self.unknown_issuer(&cert, &subject.to_string(), &ca_file))
            }
            CertificateProblem::Expired => write!(
                f,
                "the certificate has expired: it (subject {subject}) was {dates}: renew the \
                 service's certificate (or correct this machine's clock if it is wrong)"
            ),
            CertificateProblem::NotValidYet => write!(
                f,
                "the certificate is not valid yet: it (subject {subject}) is {dates}: correct \
                 the clock of this machine or of the one that made the certificate, or make the \
                 certificate again with a start date in the past"
            ),
            CertificateProblem::WrongName => f.write_str(&self.wrong_name(&cert, &host)),
            CertificateProblem::NotForServers => write!(
                f,
                "the certificate is not for TLS servers: its extendedKeyUsage (subject \
                 {subject}) does not include serverAuth: serve a certificate made for servers \
                 (openssl: `-addext extendedKeyUsage=serverAuth`) or one without an \
                 extendedKeyUsage"
            ),
            CertificateProblem::Other if self.listed => write!(
                f,
                "the certificate (subject {subject}) is listed in {ca_file} but cannot be \
                 checked ({}): {CHECK_IT}",
                self.cause
            ),
            CertificateProblem::Other => write!(
                f,
                "the certificate (subject {subject}) is invalid ({}): {CHECK_IT}",
                self.cause
            ),
        }
    }
}

impl Refusal {
    /// Why an unknown issuer was refused, and where its certificate would have to go.
    fn unknown_issuer(&self, cert: &X509Certificate<'_>, subject: &str, ca_file: &str) -> String {
        // The chain as sent ends at its last certificate; its issuer is the one that would have
        // to be trusted.
        let top = self
            .chain
            .last()
            .and_then(|der| X509Certificate::from_der(der).ok())
            .map(|(_, top)| top.issuer().to_string())
            .unwrap_or_else(|| cert.issuer().to_string());
        let trusted = match &self.ca_file {
            Some(path) => format!("in `[tls] ca` ({}) or", path.display()),
            None => "in `[tls] ca` (not set) or".to_owned(),
        };
        format!(
            "unknown issuer: the certificate (subject {subject}) was issued by {top}, which is not \
             a trusted CA ({trusted} among the system's roots): put the certificate of {top} (or \
             the server's certificate itself) in {ca_file}, or set `[tls] insecure = true` for a \
             local service whose certificate need not be checked"
        )
    }

    /// Why a certificate for other names was refused, and the names it is for.
    fn wrong_name(&self, cert: &X509Certificate<'_>, host: &str) -> String {
        let kind = if matches!(self.server_name, ServerName::IpAddress(_)) {
            "IP"
        } else {
            "DNS"
        };
        format!(
            "wrong host name: the service was reached as `{host}`, but the certificate is for \
             {}: reach the service by one of those names (the spec's `url` or `--target`), or \
             serve a certificate whose subjectAltName includes `{host}` (openssl: \
             `-addext subjectAltName={kind}:{host}`)",
            names(cert)
        )
    }
}

const CHECK_IT: &str = "read it with `openssl x509 -noout -text -in FILE`, or set \
                        `[tls] insecure = true` for a local service whose certificate need not \
                        be checked";

/// The names a certificate is for, as its subjectAltName lists them (`DNS:…`, `IP:…`).
fn names(cert: &X509Certificate<'_>) -> String {
    let listed: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(format!("DNS:{dns}")),
                GeneralName::IPAddress(bytes) => ip(bytes).map(|ip| format!("IP:{ip}")),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if listed.is_empty() {
        // TLS clients no longer read the subject's common name as a host name.
        format!(
            "no host name (it has no DNS or IP name in a subjectAltName; its subject {} is not \
             read as one)",
            cert.subject()
        )
    } else {
        listed.join(", ")
    }
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// A certificate's date in RFC 3339 (UTC), or as x509-parser writes it before 1970.
fn date(time: ASN1Time) -> String {
    match u64::try_from(time.timestamp()) {
        Ok(secs) => rfc3339(secs),
        Err(_) => time.to_string(),
    }
}

fn date_of(time: UnixTime) -> String {
    rfc3339(time.as_secs())
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::Duration;

    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{CertificateError, RootCertStore};

    use super::{ListedOrChained, Refusal};
    use crate::net::tls::CertificateProblem;

    /// 2026-01-01T00:00:00Z: every certificate below but the expired one is valid then.
    const NOW: u64 = 1_767_225_600;

    /// How a test certificate is made: for `names`, self-signed when `ca` is `None`.
    struct Made<'a> {
        names: &'a [&'a str],
        ca_true: bool,
        year_2000_only: bool,
        year_2100_only: bool,
        client_auth_only: bool,
        signed_by: Option<&'a CertifiedIssuer<'static, KeyPair>>,
    }

    const LOCAL: Made<'static> = Made {
        names: &["localhost", "127.0.0.1"],
        ca_true: false,
        year_2000_only: false,
        year_2100_only: false,
        client_auth_only: false,
        signed_by: None,
    };

    fn cn(name: &str) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn
    }

    fn make(how: Made<'_>) -> CertificateDer<'static> {
        let names: Vec<String> = how.names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = cn(how.names[0]);
        if how.ca_true {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if how.year_2000_only {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2000, 12, 31);
        }
        if how.year_2100_only {
            params.not_before = rcgen::date_time_ymd(2100, 1, 1);
            params.not_after = rcgen::date_time_ymd(2100, 12, 31);
        }
        if how.client_auth_only {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let key = KeyPair::generate().unwrap();
        let cert = match how.signed_by {
            Some(issuer) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        cert.der().clone()
    }

    fn authority(name: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::default();
        params.distinguished_name = cn(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    }

    /// A verifier trusting `listed` only (no platform roots, so the tests do not depend on the
    /// machine's).
    fn trusting(listed: &[&CertificateDer<'static>]) -> ListedOrChained {
        let mut roots = RootCertStore::empty();
        let listed: Vec<CertificateDer<'static>> = listed.iter().map(|c| (*c).clone()).collect();
        for cert in &listed {
            roots.add(cert.clone()).unwrap();
        }
        let ca = (!listed.is_empty()).then(|| (PathBuf::from("certs/ca.pem"), listed));
        let provider = Arc::new(crate::net::tls::ring_provider());
        ListedOrChained::new(roots, ca, provider).unwrap()
    }

    /// The verdict on `served` reached as `host`: `Ok` or the refusal.
    fn verdict(
        verifier: &ListedOrChained,
        served: &[&CertificateDer<'static>],
        host: &str,
    ) -> Result<(), Arc<dyn std::error::Error + Send + Sync>> {
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let now = UnixTime::since_unix_epoch(Duration::from_secs(NOW));
        let intermediates: Vec<CertificateDer<'static>> =
            served[1..].iter().map(|c| (*c).clone()).collect();
        match verifier.verify_server_cert(served[0], &intermediates, &name, &[], now) {
            Ok(_) => Ok(()),
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(other))) => Err(other.0),
            Err(err) => panic!("not a refusal: {err:?}"),
        }
    }

    fn problem(refused: &Arc<dyn std::error::Error + Send + Sync>) -> CertificateProblem {
        refused.downcast_ref::<Refusal>().unwrap().problem
    }

    #[test]
    fn a_listed_certificate_is_trusted_as_itself_with_its_dates_purpose_and_names_checked() {
        let ca_leaf = make(Made {
            ca_true: true,
            ..LOCAL
        });
        let plain_leaf = make(LOCAL);
        let expired = make(Made {
            ca_true: true,
            year_2000_only: true,
            ..LOCAL
        });
        let for_clients = make(Made {
            ca_true: true,
            client_auth_only: true,
            ..LOCAL
        });
        let ca = authority("test CA");
        let signed = make(Made {
            signed_by: Some(&ca),
            ..LOCAL
        });
        let cases: [(
            &str,
            &CertificateDer<'static>,
            &str,
            Option<CertificateProblem>,
        ); 8] = [
            ("CA:TRUE, by IP", &ca_leaf, "127.0.0.1", None),
            ("CA:TRUE, by DNS", &ca_leaf, "localhost", None),
            ("CA:FALSE", &plain_leaf, "127.0.0.1", None),
            // Listed, a leaf needs no issuer: its CA is not in the file.
            ("a CA's leaf", &signed, "localhost", None),
            (
                "CA:TRUE, other name",
                &ca_leaf,
                "example.com",
                Some(CertificateProblem::WrongName),
            ),
            (
                "CA:TRUE, other IP",
                &ca_leaf,
                "127.0.0.2",
                Some(CertificateProblem::WrongName),
            ),
            (
                "expired",
                &expired,
                "127.0.0.1",
                Some(CertificateProblem::Expired),
            ),
            (
                "clientAuth only",
                &for_clients,
                "127.0.0.1",
                Some(CertificateProblem::NotForServers),
            ),
        ];
        for (what, cert, host, expected) in cases {
            let verdict = verdict(&trusting(&[cert]), &[cert], host);
            assert_eq!(verdict.as_ref().err().map(problem), expected, "{what}");
        }
    }

    #[test]
    fn an_unlisted_certificate_is_refused_for_webpkis_reason() {
        let ca = authority("test CA");
        let stranger = authority("stranger CA");
        let signed = make(Made {
            signed_by: Some(&ca),
            ..LOCAL
        });
        let by_stranger = make(Made {
            signed_by: Some(&stranger),
            ..LOCAL
        });
        let ca_leaf = make(Made {
            ca_true: true,
            ..LOCAL
        });
        let expired = make(Made {
            signed_by: Some(&ca),
            year_2000_only: true,
            ..LOCAL
        });
        let trusting_ca = trusting(&[ca.der()]);
        let cases = [
            ("signed by the CA", &signed, "localhost", None),
            (
                "by a stranger",
                &by_stranger,
                "localhost",
                Some(CertificateProblem::UnknownIssuer),
            ),
            (
                "CA:TRUE, unlisted",
                &ca_leaf,
                "127.0.0.1",
                Some(CertificateProblem::CaAsServerCertificate),
            ),
            (
                "expired",
                &expired,
                "localhost",
                Some(CertificateProblem::Expired),
            ),
            (
                "other name",
                &signed,
                "example.com",
                Some(CertificateProblem::WrongName),
            ),
        ];
        for (what, cert, host, expected) in cases {
            let verdict = verdict(&trusting_ca, &[cert], host);
            assert_eq!(verdict.as_ref().err().map(problem), expected, "{what}");
        }
        // With no root at all, every certificate has an unknown issuer.
        let refused = verdict(&trusting(&[]), &[&signed], "localhost").unwrap_err();
        assert_eq!(problem(&refused), CertificateProblem::UnknownIssuer);
    }

    #[test]
    fn each_refusal_names_its_reason_the_certificates_facts_and_the_fix() {
        let ca = authority("test CA");
        let stranger = authority("stranger CA");
        let ca_leaf = make(Made {
            ca_true: true,
            ..LOCAL
        });
        let expired = make(Made {
            signed_by: Some(&ca),
            year_2000_only: true,
            ..LOCAL
        });
        let wrong_name = make(Made {
            names: &["wrong.example"],
            signed_by: Some(&ca),
            ..LOCAL
        });
        let by_stranger = make(Made {
            signed_by: Some(&stranger),
            ..LOCAL
        });
        let future = make(Made {
            ca_true: true,
            year_2100_only: true,
            ..LOCAL
        });
        let for_clients = make(Made {
            client_auth_only: true,
            signed_by: Some(&ca),
            ..LOCAL
        });
        let trusting_ca = trusting(&[ca.der()]);
        let cases: [(&CertificateDer<'static>, &str, &str); 7] = [
            (
                &future,
                "127.0.0.1",
                "the certificate is not valid yet: it (subject CN=localhost) is valid from \
                 2100-01-01T00:00:00Z (notBefore) until 2100-12-31T00:00:00Z (notAfter), and it \
                 is now 2026-01-01T00:00:00Z: correct the clock of this machine or of the one \
                 that made the certificate, or make the certificate again with a start date in \
                 the past",
            ),
            (
                &for_clients,
                "localhost",
                "the certificate is not for TLS servers: its extendedKeyUsage (subject \
                 CN=localhost) does not include serverAuth",
            ),
            (
                &ca_leaf,
                "127.0.0.1",
                "the certificate is marked as a CA (CA:TRUE) and is used as the server's own \
                 certificate (subject CN=localhost), which is refused unless that very \
                 certificate is trusted: add it to the file `[tls] ca` names (certs/ca.pem), \
                 where it is trusted as the server's own with its dates and names still \
                 checked, or make the server's certificate without CA:TRUE (openssl: \
                 `-addext basicConstraints=critical,CA:FALSE`)",
            ),
            (
                &expired,
                "localhost",
                "the certificate has expired: it (subject CN=localhost) was valid from \
                 2000-01-01T00:00:00Z (notBefore) until 2000-12-31T00:00:00Z (notAfter), and it \
                 is now 2026-01-01T00:00:00Z: renew the service's certificate (or correct this \
                 machine's clock if it is wrong)",
            ),
            (
                &wrong_name,
                "127.0.0.1",
                "wrong host name: the service was reached as `127.0.0.1`, but the certificate \
                 is for DNS:wrong.example: reach the service by one of those names (the spec's \
                 `url` or `--target`), or serve a certificate whose subjectAltName includes \
                 `127.0.0.1` (openssl: `-addext subjectAltName=IP:127.0.0.1`)",
            ),
            (
                &by_stranger,
                "localhost",
                "unknown issuer: the certificate (subject CN=localhost) was issued by \
                 CN=stranger CA, which is not a trusted CA (in `[tls] ca` (certs/ca.pem) or \
                 among the system's roots): put the certificate of CN=stranger CA (or the \
                 server's certificate itself) in the file `[tls] ca` names (certs/ca.pem), or \
                 set `[tls] insecure = true` for a local service whose certificate need not be \
                 checked",
            ),
            (&ca_leaf, "localhost", "the certificate is marked as a CA"),
        ];
        for (cert, host, expected) in cases {
            let refused = verdict(&trusting_ca, &[cert], host).unwrap_err();
            let said = refused.to_string();
            assert!(said.starts_with(expected), "{said}\nwanted: {expected}");
        }
        // Listed but reached by another name: the names it has.
        let refused = verdict(&trusting(&[&ca_leaf]), &[&ca_leaf], "example.com").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("is for DNS:localhost, IP:127.0.0.1:"),
            "{refused}"
        );
    }
}
