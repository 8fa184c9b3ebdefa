//! The readiness probe: reqwest, trusting what the generator trusts (the same rustls
//! configuration) and speaking the spec's HTTP version, so a service that only serves https or
//! HTTP/2 is reached. Before an `https://` service is probed, a handshake checks its
//! certificate: a problem there ends the wait at once, in words, before any load.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use url::Url;

use crate::net::tls::{self, Alpn, CertificateProblem, Refusal};
use crate::plan::Transport;
use crate::spec::HttpVersion;

/// Why a probe did not find the service ready.
#[derive(Debug)]
pub enum NotReady {
    /// Not yet: try again.
    Yet(String),
    /// Never: the certificate or the protocol is wrong, waiting will not help.
    Refused(String),
}

/// A probe of one service.
pub struct Prober {
    client: reqwest::Client,
    tls: Option<Handshake>,
}

/// What the handshake check needs.
struct Handshake {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    /// `host:port`, as connected to.
    addr: String,
    /// The load speaks HTTP/2: the service must agree to it over ALPN.
    wants_h2: bool,
}

impl Prober {
    pub fn new(url: &Url, transport: &Transport) -> Result<Prober, String> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(1))
            .redirect(reqwest::redirect::Policy::none());
        let wants_h2 = transport.http == HttpVersion::Http2;
        let mut tls = None;
        if url.scheme() == "https" {
            let host = url.host_str().unwrap_or_default();
            let load_config = tls::client_config(&transport.tls, Alpn::Only(transport.http))?;
            let probe_config = tls::client_config(&transport.tls, Alpn::Any)?;
            builder = builder.use_preconfigured_tls((*probe_config).clone());
            tls = Some(Handshake {
                config: load_config,
                name: tls::server_name(host)?,
                addr: format!("{host}:{}", url.port_or_known_default().unwrap_or(443)),
                wants_h2,
            });
        } else if wants_h2 {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder
            .build()
            .map_err(|err| format!("cannot build the readiness client: {err}"))?;
        Ok(Prober { client, tls })
    }

    /// One `GET path` against `base`: any answer will do unless `success` is asked for.
    pub async fn probe(&self, base: &Url, path: &str, success: bool) -> Result<(), NotReady> {
        self.check_tls().await?;
        let response = self
            .client
            .get(base.join(path).expect("a path joins a base URL"))
            .send()
            .await;
        match response {
            // Redirects are not followed (a probe never leaves the address it was given); a
            // redirect is an answer, as a client following it would have got one.
            Ok(response)
                if !success
                    || response.status().is_success()
                    || response.status().is_redirection() =>
            {
                Ok(())
            }
            Ok(response) => Err(NotReady::Yet(format!(
                "GET {path} answered {}",
                response.status()
            ))),
            Err(err) => Err(NotReady::Yet(format!(
                "GET {path} failed: {}",
                root_cause(&err)
            ))),
        }
    }

    /// For an `https://` service: a handshake with the generator's own configuration. A
    /// refused connection is "not yet"; a certificate the generator would refuse is final.
    pub async fn check_tls(&self) -> Result<(), NotReady> {
        let Some(check) = &self.tls else {
            return Ok(());
        };
        let tcp = TcpStream::connect(&check.addr)
            .await
            .map_err(|err| NotReady::Yet(format!("cannot connect to {}: {err}", check.addr)))?;
        let stream = match tls::handshake(tcp, &check.config, &check.name).await {
            Ok(stream) => stream,
            Err(err) => {
                // The refusal's own words (the reason, the certificate's facts, the fix) when
                // the verifier gave them; the short reason otherwise.
                let reason = match (Refusal::of(&err), CertificateProblem::of(&err)) {
                    (Some(refusal), _) => refusal.to_string(),
                    (None, Some(problem)) => problem.to_string(),
                    (None, None) => {
                        return Err(NotReady::Yet(format!(
                            "TLS with {} failed: {err}",
                            check.addr
                        )));
                    }
                };
                return Err(NotReady::Refused(format!(
                    "the TLS certificate of {} was refused: {reason}",
                    check.addr
                )));
            }
        };
        let alpn = stream.get_ref().1.alpn_protocol();
        if check.wants_h2 && alpn != Some(b"h2".as_slice()) {
            return Err(NotReady::Refused(format!(
                "{} does not offer HTTP/2 over TLS (ALPN), which `[load] http = \"2\"` asks for",
                check.addr
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Yet(why) | NotReady::Refused(why) => f.write_str(why),
        }
    }
}

fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
