//! Where the generator's connections go ([`Target`]), how one is opened ([`Target::connect`])
//! and what it is ([`Stream`]): a TCP socket, or TLS over it for an `https://` target. HTTP/1.1
//! and HTTP/2 both read and write a `Stream`, so neither knows whether it is encrypted.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use url::Url;

use crate::net::tls::{self, Alpn, CertificateProblem};
use crate::plan::Transport;

/// Where requests go: the target's addresses, resolved once, its `Host` header and, for
/// `https://`, how to speak TLS with it.
#[derive(Debug, Clone)]
pub struct Target {
    pub(super) addrs: Vec<SocketAddr>,
    /// `host[:port]`, as a `Host` header (or HTTP/2's `:authority`) gives it.
    pub host: String,
    pub(super) tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

impl Target {
    pub fn resolve(url: &Url, transport: &Transport) -> anyhow::Result<Target> {
        let host = url
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("{url} has no host"))?;
        let tls = match url.scheme() {
            "http" => None,
            "https" => {
                let config = tls::client_config(&transport.tls, Alpn::Only(transport.http))
                    .map_err(anyhow::Error::msg)?;
                Some((config, tls::server_name(host).map_err(anyhow::Error::msg)?))
            }
            other => {
                anyhow::bail!("{url}: loadgate's generator speaks http and https, not {other}")
            }
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = (host.trim_start_matches('[').trim_end_matches(']'), port)
            .to_socket_addrs()
            .map_err(|err| anyhow::anyhow!("cannot resolve {host}: {err}"))?
            .collect();
        if addrs.is_empty() {
            anyhow::bail!("{host} resolves to no address");
        }
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        Ok(Target { addrs, host, tls })
    }

    /// Whether connections are encrypted (HTTP/2's `:scheme`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Opens a connection to the first address that takes it, with the TLS handshake for https.
    pub async fn connect(&self) -> Result<Stream, ConnectError> {
        let mut last = None;
        for addr in &self.addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    // Requests are written whole; waiting to coalesce them only adds latency.
                    let _ = tcp.set_nodelay(true);
                    let Some((config, name)) = &self.tls else {
                        return Ok(Stream::Plain(tcp));
                    };
                    return match tls::handshake(tcp, config, name).await {
                        Ok(tls) => Ok(Stream::Tls(Box::new(tls))),
                        Err(err) => Err(match CertificateProblem::of(&err) {
                            Some(problem) => ConnectError::Certificate(problem),
                            None => ConnectError::Handshake(IoError::from(&err)),
                        }),
                    };
                }
                Err(err) => last = Some(IoError::from(&err)),
            }
        }
        Err(ConnectError::Refused(last))
    }
}

/// Why no connection was made: small `Copy` values, as a request's failure holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// No address took the connection: the last one's error (none when there was no address).
    Refused(Option<IoError>),
    /// The service's TLS certificate was refused.
    Certificate(CertificateProblem),
    /// The TLS handshake failed otherwise.
    Handshake(IoError),
}

/// An I/O error as a `Copy` value: its kind and OS error code, which print as the
/// [`io::Error`] they came from did (an error that carried its own text prints as its kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError {
    kind: io::ErrorKind,
    os_code: Option<i32>,
}

impl From<&io::Error> for IoError {
    fn from(err: &io::Error) -> IoError {
        IoError {
            kind: err.kind(),
            os_code: err.raw_os_error(),
        }
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.os_code {
            Some(code) => io::Error::from_raw_os_error(code).fmt(f),
            None => io::Error::from(self.kind).fmt(f),
        }
    }
}

/// One connection's byte stream.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref().0,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(tcp) => tcp.is_write_vectored(),
            Stream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
