//! HTTP/1.1: a keep-alive connection per user, requests written as ready bytes, answers parsed
//! in place (httparse) and their bodies counted, not copied, unless a check reads them.
//!
//! Why not reqwest on the hot path: measured against nginx, reqwest spent about 3× wrk's CPU per
//! request, mostly in building requests (URL, header maps), its pool and per-request futures.
//! Every microsecond the generator spends is taken from the service it judges on a shared CI
//! runner. reqwest stays where convenience matters (the readiness probe).

use std::io;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::net::connect::{Stream, Target};
use crate::run::client::{
    Answer, BodySink, Broken, Exchange, Failure, IoError, MAX_HEAD, MAX_HEADERS, Snippet, connect,
};

const BUFFER: usize = 8 * 1024;

/// One keep-alive connection, opened on first use and again after the server closed it.
#[derive(Debug)]
pub struct Connection {
    stream: Option<Stream>,
    buffer: Vec<u8>,
    /// Bytes of the next exchange's request already written by [`Connection::write_now`].
    written: usize,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            stream: None,
            buffer: vec![0; BUFFER],
            written: 0,
        }
    }
}

impl Connection {
    /// Sends the request and reads the whole answer, keeping up to `keep(status)` bytes of its
    /// body in `body`. Cancel-safe in the way a timeout needs: dropped mid-answer, the
    /// connection is closed, never reused half-read.
    /// A streamed answer's body goes to `sink`, as it arrives, when it wants it.
    pub async fn exchange(
        &mut self,
        target: &Target,
        exchange: &Exchange<'_>,
        body: &mut Vec<u8>,
        sink: Option<&mut dyn BodySink>,
    ) -> Result<Answer, Failure> {
        let written = std::mem::take(&mut self.written);
        let mut stream = match self.stream.take() {
            // The request is on its way: its answer may be too, so no probe.
            Some(stream) if written > 0 => stream,
            Some(stream) if idle_and_open(&stream) => stream,
            _ => connect(target).await?,
        };
        let request = &exchange.request[written..];
        let mut reader = Reader {
            stream: &mut stream,
            buffer: &mut self.buffer,
            start: 0,
            end: 0,
            received: 0,
            sink,
            stopped: false,
        };
        let result = reader.exchange(request, exchange, body).await;
        let (received, leftover) = (reader.received, reader.start < reader.end);
        match result {
            Ok((status, headers, keep_alive)) => {
                // Bytes past the answer mean the two sides disagree on framing: start afresh.
                if keep_alive && !leftover {
                    self.stream = Some(stream);
                }
                Ok(Answer {
                    status,
                    headers,
                    bytes_received: received,
                })
            }
            Err((status, broken)) => Err(Failure {
                broken,
                status,
                bytes_received: received,
            }),
        }
    }

    /// Writes what the socket takes of `request` at once, without waiting, when this is a kept
    /// plain connection the server has not closed: the open model's schedule thread sends on time
    /// this way. The next [`Connection::exchange`] (of the same request)
    /// writes the rest and reads the answer. False when nothing was written (over TLS, no
    /// connection yet, a full socket): the exchange then does it all.
    pub fn write_now(&mut self, request: &[u8]) -> bool {
        let Some(stream) = self.stream.take() else {
            return false;
        };
        if !idle_and_open(&stream) {
            return false;
        }
        if let Stream::Plain(tcp) = &stream {
            self.written = tcp.try_write(request).unwrap_or(0);
        }
        self.stream = Some(stream);
        self.written > 0
    }
}

/// Whether a kept connection can take a request: the server has not closed it (nor sent
/// anything unasked). The read is free when the socket is known idle: tokio tries it only when
/// the socket was readable, and then its would-block clears the way for the answer's wait.
/// (Over TLS, anything the server sent, a `close_notify` or a session ticket, reads as not idle:
/// the connection is replaced, which is rare and safe.)
fn idle_and_open(stream: &Stream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.tcp().try_read(&mut probe), Err(err) if err.kind() == io::ErrorKind::WouldBlock)
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// An error while reading an answer: the status if its head had arrived, and what went wrong.
type ReadError = (Option<u16>, Broken);

/// Reads an answer from the stream through the connection's buffer: `start..end` holds what
/// was read and not yet consumed.
struct Reader<'a, 's> {
    stream: &'a mut Stream,
    buffer: &'a mut Vec<u8>,
    start: usize,
    end: usize,
    /// Body bytes so far.
    received: u64,
    /// Takes the body as it arrives, once the head said it wants it.
    sink: Option<&'s mut dyn BodySink>,
    /// The sink had what it needed: reading ended mid-answer.
    stopped: bool,
}

impl Reader<'_, '_> {
    /// Writes the request and reads the answer: its status, headers (if asked for) and whether
    /// the connection can be kept.
    /// `request` is what is left to write of `exchange.request`.
    async fn exchange(
        &mut self,
        request: &[u8],
        exchange: &Exchange<'_>,
        body: &mut Vec<u8>,
    ) -> Result<(u16, HeaderMap, bool), ReadError> {
        self.stream
            .write_all(request)
            .await
            .map_err(|err| (None, Broken::ConnectionBroke(IoError::from(&err))))?;
        // TLS may hold the last record back until flushed; a plain socket has nothing to flush.
        self.stream
            .flush()
            .await
            .map_err(|err| (None, Broken::ConnectionBroke(IoError::from(&err))))?;
        let head = self
            .head(exchange.headers, exchange.set_cookies)
            .await
            .map_err(|e| (None, e))?;
        let framing = match head.status {
            _ if exchange.head => Framing::Empty,
            100..200 | 204 | 304 => Framing::Empty,
            _ if head.chunked => Framing::Chunked,
            _ => head.length.map_or(Framing::UntilClose, Framing::Length),
        };
        let keep = (exchange.keep)(head.status);
        if let Some(sink) = self.sink.take()
            && sink.wants(head.status)
        {
            self.sink = Some(sink);
        }
        self.body(framing, keep, body)
            .await
            .map_err(|e| (Some(head.status), e))?;
        let keep_alive = head.keep_alive
            && framing != Framing::UntilClose
            && head.status != 101
            && !self.stopped;
        Ok((head.status, head.headers, keep_alive))
    }

    /// Reads more into the buffer, making room first; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, Broken> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buffer.len() {
            if self.start > 0 {
                self.buffer.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            } else {
                let grown = self.buffer.len() * 2;
                self.buffer.resize(grown, 0);
            }
        }
        let n = self
            .stream
            .read(&mut self.buffer[self.end..])
            .await
            .map_err(|err| Broken::ConnectionBroke(IoError::from(&err)))?;
        self.end += n;
        Ok(n > 0)
    }

    /// The status line and headers; interim (1xx) answers are skipped.
    async fn head(&mut self, want_headers: bool, want_cookies: bool) -> Result<Head, Broken> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buffer[self.start..self.end]) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = Head::read(&response, want_headers, want_cookies)?;
                    self.start += len;
                    if (100..200).contains(&head.status) && head.status != 101 {
                        continue;
                    }
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start >= MAX_HEAD {
                        return Err(Broken::HeadTooLarge);
                    }
                    if !self.fill().await? {
                        return Err(if self.start == self.end {
                            Broken::ClosedBeforeAnswer
                        } else {
                            Broken::ClosedInHead
                        });
                    }
                }
                Err(err) => return Err(Broken::NotHttp(err)),
            }
        }
    }

    async fn body(
        &mut self,
        framing: Framing,
        keep: usize,
        body: &mut Vec<u8>,
    ) -> Result<(), Broken> {
        match framing {
            Framing::Empty => Ok(()),
            Framing::Length(length) => self.drain(length, keep, body).await,
            Framing::UntilClose => {
                while !self.stopped && (self.start < self.end || self.fill().await?) {
                    self.take(self.end - self.start, keep, body);
                }
                Ok(())
            }
            Framing::Chunked => loop {
                let size = self.line(chunk_size).await??;
                if size == 0 {
                    // Trailers, if any, up to the empty line that ends the answer.
                    while !self.line(|line| line.is_empty()).await? {}
                    return Ok(());
                }
                self.drain(size, keep, body).await?;
                if self.stopped {
                    return Ok(());
                }
                if !self.line(|line| line.is_empty()).await? {
                    return Err(Broken::ChunkLongerThanSize);
                }
            },
        }
    }

    /// Consumes `length` body bytes, keeping what fits in `keep`.
    async fn drain(
        &mut self,
        mut length: u64,
        keep: usize,
        body: &mut Vec<u8>,
    ) -> Result<(), Broken> {
        while length > 0 && !self.stopped {
            if self.start == self.end && !self.fill().await? {
                return Err(Broken::ClosedInBody);
            }
            let n = length.min((self.end - self.start) as u64);
            self.take(n as usize, keep, body);
            length -= n;
        }
        Ok(())
    }

    /// Consumes `n` buffered body bytes, keeping what fits in `keep`.
    fn take(&mut self, n: usize, keep: usize, body: &mut Vec<u8>) {
        let kept = keep.saturating_sub(body.len()).min(n);
        body.extend_from_slice(&self.buffer[self.start..self.start + kept]);
        if let Some(sink) = self.sink.as_deref_mut() {
            self.stopped = sink.take(&self.buffer[self.start..self.start + n]);
        }
        self.start += n;
        self.received += n as u64;
    }

    /// Consumes one CRLF-ended line, giving what `parse` makes of it (without the CRLF).
    async fn line<T>(&mut self, parse: impl Fn(&[u8]) -> T) -> Result<T, Broken> {
        loop {
            let pending = &self.buffer[self.start..self.end];
            if let Some(at) = pending.windows(2).position(|w| w == b"\r\n") {
                let value = parse(&pending[..at]);
                self.start += at + 2;
                return Ok(value);
            }
            if pending.len() >= MAX_HEAD {
                return Err(Broken::ChunkLineTooLong);
            }
            if !self.fill().await? {
                return Err(Broken::ClosedInBody);
            }
        }
    }
}

/// A chunk-size line: hex digits, then optional `;extensions`.
fn chunk_size(line: &[u8]) -> Result<u64, Broken> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| u64::from_str_radix(text.trim(), 16).ok())
        .ok_or_else(|| Broken::BadChunkSize(Snippet::of(line)))
}

/// What the client needs of an answer's head.
struct Head {
    status: u16,
    length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
    headers: HeaderMap,
}

impl Head {
    /// `want_headers`: every header into `headers`; `want_cookies`: the `Set-Cookie` ones (a
    /// name compare per header, so a jar that never gets a cookie costs next to nothing).
    fn read(
        response: &httparse::Response<'_, '_>,
        want_headers: bool,
        want_cookies: bool,
    ) -> Result<Head, Broken> {
        let status = response.code.unwrap_or_default();
        // HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 only when told.
        let mut keep_alive = response.version == Some(1);
        let mut head = Head {
            status,
            length: None,
            chunked: false,
            keep_alive,
            headers: HeaderMap::new(),
        };
        for header in response.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("content-length") {
                let length = std::str::from_utf8(header.value)
                    .ok()
                    .and_then(|text| text.trim().parse().ok())
                    .ok_or(Broken::LengthNotNumber)?;
                if head.length.is_some_and(|known| known != length) {
                    return Err(Broken::TwoLengths);
                }
                head.length = Some(length);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                head.chunked = has_token(header.value, "chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                if has_token(header.value, "close") {
                    keep_alive = false;
                } else if has_token(header.value, "keep-alive") {
                    keep_alive = true;
                }
            }
            let wanted = want_headers || (want_cookies && name.eq_ignore_ascii_case("set-cookie"));
            if wanted
                && let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(header.value),
                )
            {
                head.headers.append(name, value);
            }
        }
        head.keep_alive = keep_alive;
        Ok(head)
    }
}

/// Whether a comma-separated header value lists `token` (in any case).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|part| part.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::thread;

    use url::Url;

    use crate::run::client::{Invalid, finish, header, request_line};

    use super::*;
    use crate::plan::Transport;

    /// What the test server does with the next request it reads.
    type Reply = (Option<&'static [u8]>, bool);
    const KEEP: bool = false;
    const CLOSE: bool = true;

    /// A loopback server that answers each request it reads (up to its blank line) with the next
    /// reply: an answer (or none), then the connection kept or closed. Answers are written in
    /// pieces of `piece` bytes, to exercise partial reads. It tells `closed` after each close
    /// and ends, giving how many connections it accepted, when the replies run out.
    fn server(
        replies: Vec<Reply>,
        piece: usize,
        closed: std::sync::mpsc::Sender<()>,
    ) -> (Target, thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let handle = thread::spawn(move || {
            let mut replies = replies.into_iter().peekable();
            let mut connections = 0;
            while replies.peek().is_some() {
                let (mut stream, _) = listener.accept().unwrap();
                connections += 1;
                for (answer, close) in replies.by_ref() {
                    let mut request = Vec::new();
                    let mut byte = [0u8];
                    while !request.ends_with(b"\r\n\r\n") {
                        assert_eq!(stream.read(&mut byte).unwrap(), 1, "a whole request");
                        request.push(byte[0]);
                    }
                    for part in answer.unwrap_or_default().chunks(piece) {
                        stream.write_all(part).unwrap();
                        thread::sleep(std::time::Duration::from_millis(1));
                    }
                    if close {
                        drop(stream);
                        let _ = closed.send(());
                        break;
                    }
                }
            }
            connections
        });
        (
            Target::resolve(&url, &Transport::default()).unwrap(),
            handle,
        )
    }

    fn get(keep: usize) -> (Vec<u8>, usize) {
        let mut request = Vec::new();
        request_line(&mut request, "GET", "/");
        header(&mut request, "host", "x").unwrap();
        finish(&mut request, "GET", None);
        (request, keep)
    }

    async fn send(
        connection: &mut Connection,
        target: &Target,
        keep: usize,
    ) -> (Result<Answer, Failure>, Vec<u8>) {
        let (request, keep) = get(keep);
        let keep = move |_| keep;
        let exchange = Exchange {
            request: &request,
            head: false,
            headers: true,
            set_cookies: false,
            keep: &keep,
        };
        let mut body = Vec::new();
        let result = connection
            .exchange(target, &exchange, &mut body, None)
            .await;
        (result, body)
    }

    #[tokio::test]
    async fn reads_each_framing_and_keeps_the_connection_when_it_may() {
        let replies: Vec<Reply> = vec![
            (Some(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Token: abc\r\n\r\nhello"), KEEP),
            (Some(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n"), KEEP),
            (Some(b"HTTP/1.1 204 No Content\r\n\r\n"), KEEP),
            (Some(b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno"), CLOSE),
            (Some(b"HTTP/1.0 200 OK\r\n\r\nuntil the end"), CLOSE),
        ];
        let (tx, _closed) = std::sync::mpsc::channel();
        let (target, server) = server(replies, 7, tx);
        let mut connection = Connection::default();

        let (answer, body) = send(&mut connection, &target, 100).await;
        let answer = answer.unwrap();
        assert_eq!((answer.status, answer.bytes_received), (200, 5));
        assert_eq!(body, b"hello");
        assert_eq!(answer.headers["x-token"], "abc");

        let (answer, body) = send(&mut connection, &target, 4).await;
        let answer = answer.unwrap();
        assert_eq!((answer.status, answer.bytes_received), (201, 13));
        assert_eq!(body, b"abc0", "only `keep` bytes are kept");

        let (answer, _) = send(&mut connection, &target, 0).await;
        assert_eq!(answer.unwrap().status, 204);

        let (answer, body) = send(&mut connection, &target, 100).await;
        assert_eq!(answer.unwrap().status, 404);
        assert_eq!(body, b"no");

        // `Connection: close` made the client open a second connection; the HTTP/1.0 answer
        // without a length ends when the server closes.
        let (answer, body) = send(&mut connection, &target, 100).await;
        assert_eq!(answer.unwrap().bytes_received, 13);
        assert_eq!(body, b"until the end");
        assert_eq!(
            server.join().unwrap(),
            2,
            "four answers on one connection, one on another"
        );
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_is_replaced_but_a_dropped_request_fails() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let replies: Vec<Reply> = vec![(Some(ok), CLOSE), (Some(ok), KEEP), (None, CLOSE)];
        let (tx, closed) = std::sync::mpsc::channel();
        let (target, server) = server(replies, 1024, tx);
        let mut connection = Connection::default();
        assert_eq!(
            send(&mut connection, &target, 0).await.0.unwrap().status,
            200
        );
        // The server closed the idle connection (a keep-alive timeout): the next request goes
        // on a new one. The pause lets the runtime see the close, as it would between requests.
        closed.recv().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert_eq!(
            send(&mut connection, &target, 0).await.0.unwrap().status,
            200
        );
        // The server read the third request, then closed without an answer: an I/O error,
        // not a silent retry that would hide a service dropping requests.
        let failure = send(&mut connection, &target, 0).await.0.unwrap_err();
        assert_eq!(failure.broken, Broken::ClosedBeforeAnswer);
        assert_eq!(
            failure.broken.to_string(),
            "the connection broke: closed without an answer"
        );
        assert_eq!(server.join().unwrap(), 2);
    }

    /// The failure of one request to `target`.
    async fn failure(target: &Target) -> Failure {
        let (result, _) = send(&mut Connection::default(), target, 0).await;
        result.unwrap_err()
    }

    #[tokio::test]
    async fn garbage_and_refused_connections_are_failures_that_say_why() {
        let replies: Vec<Reply> = vec![(Some(b"\x00\x01garbage\r\n\r\n"), CLOSE)];
        let (tx, _closed) = std::sync::mpsc::channel();
        let (target, server) = server(replies, 1024, tx);
        let garbage = failure(&target).await.broken;
        assert!(matches!(garbage, Broken::NotHttp(_)), "{garbage:?}");
        assert_eq!(
            garbage.to_string(),
            "the answer is not HTTP/1.1 (invalid HTTP version)"
        );
        server.join().unwrap();

        // A port nobody listens on any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let refused = failure(&Target::resolve(&url, &Transport::default()).unwrap())
            .await
            .broken;
        assert!(
            matches!(refused, Broken::CannotConnect(Some(_))),
            "{refused:?}"
        );
        // As the `io::Error` itself prints: the OS's text and its code.
        let expected = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(refused.to_string(), format!("cannot connect: {expected}"));
    }

    #[test]
    fn a_broken_answer_is_spelled_out_only_when_printed() {
        let reset = IoError::from(&io::Error::from_raw_os_error(libc::ECONNRESET));
        let reset_text = io::Error::from_raw_os_error(libc::ECONNRESET).to_string();
        let long_line = [b'z'; 40];
        let cases: [(Broken, String); 14] = [
            (
                Broken::CannotConnect(Some(reset)),
                format!("cannot connect: {reset_text}"),
            ),
            (
                Broken::CannotConnect(None),
                "cannot connect: no address".into(),
            ),
            (
                Broken::ConnectionBroke(reset),
                format!("the connection broke: {reset_text}"),
            ),
            (
                Broken::ConnectionBroke(IoError::from(&io::Error::from(io::ErrorKind::WriteZero))),
                "the connection broke: write zero".into(),
            ),
            (
                Broken::ClosedBeforeAnswer,
                "the connection broke: closed without an answer".into(),
            ),
            (
                Broken::ClosedInHead,
                "the connection broke: closed in the middle of the answer's head".into(),
            ),
            (
                Broken::ClosedInBody,
                "the connection broke: closed in the middle of the answer".into(),
            ),
            (
                Broken::HeadTooLarge,
                "the answer's head is over 65536 bytes".into(),
            ),
            (
                Broken::NotHttp(httparse::Error::Version),
                "the answer is not HTTP/1.1 (invalid HTTP version)".into(),
            ),
            (
                Broken::LengthNotNumber,
                "the answer's content-length is not a number".into(),
            ),
            (
                Broken::TwoLengths,
                "the answer has two different content-lengths".into(),
            ),
            (
                Broken::ChunkLongerThanSize,
                "the answer's chunk is longer than its size".into(),
            ),
            (
                Broken::ChunkLineTooLong,
                "the answer's chunked framing is broken (a line too long)".into(),
            ),
            (
                chunk_size(&long_line).unwrap_err(),
                format!(
                    "the answer's chunked framing is broken (chunk size `{}…`)",
                    "z".repeat(32)
                ),
            ),
        ];
        for (broken, text) in cases {
            assert_eq!(broken.to_string(), text, "{broken:?}");
        }
        let http2: [(Broken, &str); 5] = [
            (
                Broken::Http2NotAgreed,
                "the service did not agree to HTTP/2 over ALPN",
            ),
            (
                Broken::Http2Reset(h2::Reason::REFUSED_STREAM),
                "the service reset the HTTP/2 stream (REFUSED_STREAM)",
            ),
            (
                Broken::Http2GoAway(h2::Reason::NO_ERROR),
                "the service closed the HTTP/2 connection (GOAWAY NO_ERROR)",
            ),
            (
                Broken::Http2Protocol(h2::Reason::PROTOCOL_ERROR),
                "the answer is not valid HTTP/2 (PROTOCOL_ERROR)",
            ),
            (
                Broken::Http2BadRequest,
                "the request cannot be written as HTTP/2",
            ),
        ];
        for (broken, text) in http2 {
            assert_eq!(broken.to_string(), text, "{broken:?}");
        }
        assert_eq!(
            chunk_size(b"xyz;a=b").unwrap_err().to_string(),
            "the answer's chunked framing is broken (chunk size `xyz;a=b`)"
        );
        assert_eq!(chunk_size(b"1A;a=b"), Ok(26));
        assert!(std::mem::size_of::<Broken>() <= 40, "small enough to copy");
    }

    #[test]
    fn requests_are_written_as_http_and_header_injection_is_refused() {
        let mut out = Vec::new();
        request_line(&mut out, "POST", "/a?b=1");
        header(&mut out, "host", "127.0.0.1:8080").unwrap();
        assert_eq!(header(&mut out, "x-evil", "a\r\nInjected: 1"), Err(Invalid));
        finish(&mut out, "POST", Some(b"{}"));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-length: 2\r\n\r\n{}"
        );
        request_line(&mut out, "PUT", "/");
        finish(&mut out, "PUT", None);
        assert!(out.ends_with(b"content-length: 0\r\n\r\n"));
        let ftp = Url::parse("ftp://127.0.0.1/").unwrap();
        assert!(Target::resolve(&ftp, &Transport::default()).is_err());
    }
}
