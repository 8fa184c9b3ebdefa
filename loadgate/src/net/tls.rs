//! TLS for an `https://` service: one rustls configuration per trust setting and protocol,
//! shared by the readiness probe and the generator (so the load resumes the sessions the probe
//! began), and certificate problems put in words before any load is sent. Which certificates
//! are trusted, and the words for those that are not, are [`trust`]'s.

mod problem;
mod trust;

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub use problem::CertificateProblem;
pub use trust::Refusal;

use crate::plan::TlsPlan;
use crate::spec::HttpVersion;

/// What ALPN offers: the generator's protocol, or both for the probe (reqwest speaks either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    Only(HttpVersion),
    Any,
}

/// The client configuration for `tls` offering `alpn`; built once per process and setting, so
/// every connection shares its session cache.
pub fn client_config(tls: &TlsPlan, alpn: Alpn) -> Result<Arc<ClientConfig>, String> {
    type Cache = Mutex<Vec<(TlsPlan, Alpn, Arc<ClientConfig>)>>;
    static CONFIGS: OnceLock<Cache> = OnceLock::new();
    let mut configs = CONFIGS
        .get_or_init(Cache::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((.., config)) = configs.iter().find(|(t, a, _)| t == tls && *a == alpn) {
        return Ok(config.clone());
    }
    // Configurations of one trust setting share a session store, whatever their ALPN.
    let sibling = configs
        .iter()
        .find(|(t, ..)| t == tls)
        .map(|(.., c)| c.clone());
    let mut config = match sibling {
        Some(sibling) => (*sibling).clone(),
        None => new_config(tls)?,
    };
    config.alpn_protocols = match alpn {
        Alpn::Only(HttpVersion::Http1) => vec![b"http/1.1".to_vec()],
        Alpn::Only(HttpVersion::Http2) => vec![b"h2".to_vec()],
        Alpn::Any => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    let config = Arc::new(config);
    configs.push((tls.clone(), alpn, config.clone()));
    Ok(config)
}

/// rustls' ring provider, named rather than the process default: ring is the only one loadgate
/// builds (no aws-lc-rs toolchain needed). rustls 0.23.48 deprecates it for lacking
/// post-quantum key exchange, which a load generator on a test network does not need; a
/// `cargo install` (which resolves the newest rustls) would otherwise print that warning.
#[allow(
    deprecated,
    reason = "ring without post-quantum key exchange is chosen on purpose"
)]
pub(crate) fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn new_config(tls: &TlsPlan) -> Result<ClientConfig, String> {
    let provider = Arc::new(ring_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("cannot set up TLS: {err}"))?;
    if tls.insecure {
        let verifier = AnyCertificate(provider.signature_verification_algorithms);
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    // The platform's roots; one it cannot parse is skipped, as browsers do.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some((path, certs)) = &tls.ca {
        for cert in certs {
            roots.add(cert.clone()).map_err(|err| {
                format!(
                    "the CA file {} holds a certificate rustls refuses: {err}",
                    path.display()
                )
            })?;
        }
    }
    let verifier = trust::ListedOrChained::new(roots, tls.ca.clone(), provider)?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The TLS handshake over `tcp` with `host`, ALPN as `config` offers.
pub async fn handshake(
    tcp: TcpStream,
    config: &Arc<ClientConfig>,
    host: &ServerName<'static>,
) -> io::Result<TlsStream<TcpStream>> {
    TlsConnector::from(config.clone())
        .connect(host.clone(), tcp)
        .await
}

/// The server name a certificate must carry: the URL's host (an IP address for `127.0.0.1`).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned())
        .map_err(|err| format!("`{host}` is not a TLS server name: {err}"))
}

impl CertificateProblem {
    /// The certificate problem of a failed handshake; `None` when the failure was not the
    /// certificate's (a refused connection, a reset).
    pub fn of(err: &io::Error) -> Option<CertificateProblem> {
        if let Some(refusal) = Refusal::of(err) {
            return Some(refusal.problem);
        }
        match err.get_ref()?.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(problem) => Some(CertificateProblem::from(problem)),
            _ => None,
        }
    }
}

/// `[tls] insecure = true`: every certificate is accepted; signatures are still checked, so
/// the handshake itself is real.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
