//! HTTPS and HTTP/2 (`--tls-cert`/`--tls-key`, `--http2`). Plain HTTP/1.1 is not served here:
//! main.rs keeps `axum::serve` for it, untouched, because that is the path the benchmarks measure.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::serve::Listener;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long a client may take over its TLS handshake before its connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish after SIGTERM or SIGINT.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the service speaks besides plain HTTP/1.1.
pub struct Transport {
    /// `--tls-cert` and `--tls-key`, loaded.
    tls: Option<TlsAcceptor>,
    /// `--http2`: h2 by ALPN over TLS, by prior knowledge (h2c) without; HTTP/1.1 still answered.
    http2: bool,
}

impl Transport {
    /// `None` for plain HTTP/1.1 (no TLS, no `--http2`). `tls` is (certificate chain, key).
    pub fn new(tls: Option<(&Path, &Path)>, http2: bool) -> anyhow::Result<Option<Transport>> {
        if tls.is_none() && !http2 {
            return Ok(None);
        }
        let tls = tls
            .map(|(cert, key)| acceptor(cert, key, http2))
            .transpose()?;
        Ok(Some(Transport { tls, http2 }))
    }

    /// Where and what it serves, for the startup line: `https://ADDR (h2, http/1.1)`.
    pub fn describe(&self, addr: SocketAddr) -> String {
        let (scheme, h2) = match self.tls {
            Some(_) => ("https", "h2"),
            None => ("http", "h2c"),
        };
        let protocols = if self.http2 {
            format!("{h2}, http/1.1")
        } else {
            "http/1.1".to_owned()
        };
        format!("{scheme}://{addr} ({protocols})")
    }
}

/// A TLS acceptor with the PEM chain and key, offering `h2` by ALPN only with `--http2`.
fn acceptor(cert: &Path, key: &Path, http2: bool) -> anyhow::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "no certificate in {}", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    // The provider named, not the process default: ring is the only one this workspace builds
    // (deprecated in rustls 0.23.48 for lacking post-quantum key exchange, not needed here).
    #[allow(
        deprecated,
        reason = "ring without post-quantum key exchange is chosen on purpose"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` until `shutdown` resolves, then gives open connections [`DRAIN_TIMEOUT`] to
/// finish, as `axum::serve`'s graceful shutdown does for the plain path.
pub async fn serve(
    mut listener: tokio::net::TcpListener,
    app: Router,
    transport: Transport,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if !transport.http2 {
        builder = builder.http1_only();
    }
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // axum's Listener retries accept errors (EMFILE…) itself, as on the plain path.
        let (stream, _) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        // Small TLS records and h2 frames must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let (builder, app, watcher) = (builder.clone(), app.clone(), graceful.watcher());
        let tls = transport.tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, &builder, app, watcher).await,
                Some(tls) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await
                    {
                        serve_connection(stream, &builder, app, watcher).await;
                    }
                }
            }
        });
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// One connection, HTTP/1.1 or (when the builder allows it and the client opens with the h2
/// preface) HTTP/2, through the same Router as the plain path.
async fn serve_connection<I>(
    io: I,
    builder: &auto::Builder<TokioExecutor>,
    app: Router,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    // An error here is the client's doing (a reset, a bad request): nothing for the log.
    let _ = watcher.watch(connection).await;
}
