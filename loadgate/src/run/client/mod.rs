//! The generator's HTTP client: what HTTP/1.1 and HTTP/2 share (a request as ready bytes, an
//! answer, why a request got none, what to keep of it), with each protocol's connection beside
//! it. Connecting (TCP, then TLS for https) is the transport's ([`crate::net`]).

pub mod http1;
pub mod http2;

use std::fmt;
use std::io::Write as _;

use reqwest::header::HeaderMap;

pub use crate::net::connect::IoError;
use crate::net::connect::{ConnectError, Stream, Target};
use crate::net::tls::CertificateProblem;

/// A rendered request head or body that HTTP cannot carry (a control character in a header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// Writes the request line (`target` is a path and query, already URL-encoded).
pub fn request_line(out: &mut Vec<u8>, method: &str, target: &str) {
    out.clear();
    for part in [method, " ", target, " HTTP/1.1\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
}

/// Writes one header line; a value with a line break or another control character is refused.
pub fn header(out: &mut Vec<u8>, name: &str, value: &str) -> Result<(), Invalid> {
    if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(Invalid);
    }
    for part in [name, ": ", value, "\r\n"] {
        out.extend_from_slice(part.as_bytes());
    }
    Ok(())
}

/// Ends the head, with the body's length, and appends the body. A method that carries a body
/// (POST, PUT, PATCH) says `content-length: 0` when it has none, as servers expect.
pub fn finish(out: &mut Vec<u8>, method: &str, body: Option<&[u8]>) {
    let length = match body {
        Some(body) => Some(body.len()),
        None if matches!(method, "POST" | "PUT" | "PATCH") => Some(0),
        None => None,
    };
    if let Some(length) = length {
        // Written straight into the request: no text is built per request.
        let _ = write!(out, "content-length: {length}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.unwrap_or_default());
}

/// An answer's head and what its body came to.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Only when asked for: see [`Exchange::headers`].
    pub headers: HeaderMap,
    /// The body's length, without chunk framing.
    pub bytes_received: u64,
}

/// A request that got no whole answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub broken: Broken,
    /// When the answer's head had arrived.
    pub status: Option<u16>,
    pub bytes_received: u64,
}

/// What went wrong with a request that got no whole answer: a small `Copy` value, so a service
/// that fails every request costs the generator no text per request. [`fmt::Display`] spells it
/// out for the few failures a report quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// No connection could be made: the last address's error (none when there was no address).
    CannotConnect(Option<IoError>),
    /// The service's TLS certificate was refused.
    Certificate(CertificateProblem),
    /// The TLS handshake failed otherwise.
    TlsHandshake(IoError),
    /// Writing the request or reading the answer failed.
    ConnectionBroke(IoError),
    ClosedBeforeAnswer,
    ClosedInHead,
    ClosedInBody,
    HeadTooLarge,
    NotHttp(httparse::Error),
    LengthNotNumber,
    TwoLengths,
    ChunkLongerThanSize,
    ChunkLineTooLong,
    BadChunkSize(Snippet),
    /// HTTP/2 over TLS: ALPN did not settle on `h2`.
    Http2NotAgreed,
    /// HTTP/2: the service reset the request's stream (RST_STREAM).
    Http2Reset(h2::Reason),
    /// HTTP/2: the service closed the connection (GOAWAY) before the answer was whole.
    Http2GoAway(h2::Reason),
    /// HTTP/2: the service broke the protocol, so the client reset the stream or closed the
    /// connection.
    Http2Protocol(h2::Reason),
    /// HTTP/2: the request cannot be written as HTTP/2.
    Http2BadRequest,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::CannotConnect(Some(err)) => write!(f, "cannot connect: {err}"),
            Broken::CannotConnect(None) => f.write_str("cannot connect: no address"),
            Broken::Certificate(problem) => write!(f, "TLS certificate refused: {problem}"),
            Broken::TlsHandshake(err) => write!(f, "the TLS handshake failed: {err}"),
            Broken::ConnectionBroke(err) => write!(f, "the connection broke: {err}"),
            Broken::ClosedBeforeAnswer => {
                f.write_str("the connection broke: closed without an answer")
            }
            Broken::ClosedInHead => {
                f.write_str("the connection broke: closed in the middle of the answer's head")
            }
            Broken::ClosedInBody => {
                f.write_str("the connection broke: closed in the middle of the answer")
            }
            Broken::HeadTooLarge => write!(f, "the answer's head is over {MAX_HEAD} bytes"),
            Broken::NotHttp(err) => write!(f, "the answer is not HTTP/1.1 ({err})"),
            Broken::LengthNotNumber => f.write_str("the answer's content-length is not a number"),
            Broken::TwoLengths => f.write_str("the answer has two different content-lengths"),
            Broken::ChunkLongerThanSize => {
                f.write_str("the answer's chunk is longer than its size")
            }
            Broken::ChunkLineTooLong => {
                f.write_str("the answer's chunked framing is broken (a line too long)")
            }
            Broken::BadChunkSize(line) => {
                write!(
                    f,
                    "the answer's chunked framing is broken (chunk size `{line}`)"
                )
            }
            Broken::Http2NotAgreed => f.write_str("the service did not agree to HTTP/2 over ALPN"),
            Broken::Http2Reset(reason) => {
                write!(f, "the service reset the HTTP/2 stream ({reason:?})")
            }
            Broken::Http2GoAway(reason) => {
                write!(
                    f,
                    "the service closed the HTTP/2 connection (GOAWAY {reason:?})"
                )
            }
            Broken::Http2Protocol(reason) => {
                write!(f, "the answer is not valid HTTP/2 ({reason:?})")
            }
            Broken::Http2BadRequest => f.write_str("the request cannot be written as HTTP/2"),
        }
    }
}

/// The start of a line from the answer, kept by value for a message: at most
/// `Snippet::MAX` (32) bytes, then `…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snippet {
    bytes: [u8; Snippet::MAX],
    len: u8,
    cut: bool,
}

impl Snippet {
    const MAX: usize = 32;

    pub(crate) fn of(line: &[u8]) -> Snippet {
        let len = line.len().min(Snippet::MAX);
        let mut bytes = [0; Snippet::MAX];
        bytes[..len].copy_from_slice(&line[..len]);
        Snippet {
            bytes,
            len: len as u8,
            cut: line.len() > len,
        }
    }
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(
            &self.bytes[..usize::from(self.len)],
        ))?;
        if self.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// One request to send, and what to keep of its answer.
pub struct Exchange<'a> {
    pub request: &'a [u8],
    /// A HEAD request: the answer has no body, whatever its length says.
    pub head: bool,
    /// Collect the answer's headers into [`Answer::headers`].
    pub headers: bool,
    /// Collect (at least) its `Set-Cookie` headers into [`Answer::headers`]: a user's jar is on.
    pub set_cookies: bool,
    /// How much of the body to keep, given the status; the rest is only counted.
    pub keep: &'a (dyn Fn(u16) -> usize + Sync),
}

/// Where a streamed answer's body goes as it arrives (an event stream's reader), piece by piece
/// as the socket gives it, so each message is timed when it is read.
pub trait BodySink: Send {
    /// Whether the body of an answer with this status is for the sink (else it is read as usual).
    fn wants(&mut self, status: u16) -> bool;
    /// Takes the next piece of the body; true stops reading: the caller has what it needs, and
    /// the connection, left mid-answer, is closed.
    fn take(&mut self, piece: &[u8]) -> bool;
}

/// The most a head (status line and headers) or a chunk-size line may take.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// The most headers an answer (or, for HTTP/2, a rendered request) may have.
pub(crate) const MAX_HEADERS: usize = 100;

/// Opens a connection to the first address that takes it, with the TLS handshake for https; a
/// failure is the request's.
pub async fn connect(target: &Target) -> Result<Stream, Failure> {
    target.connect().await.map_err(|err| Failure {
        broken: match err {
            ConnectError::Refused(last) => Broken::CannotConnect(last),
            ConnectError::Certificate(problem) => Broken::Certificate(problem),
            ConnectError::Handshake(err) => Broken::TlsHandshake(err),
        },
        status: None,
        bytes_received: 0,
    })
}
