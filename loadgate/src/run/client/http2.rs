//! The generator's HTTP/2 client, on the `h2` crate: a pool of up to `n` connections to one
//! target, each carrying many streams. A request is rendered once, as HTTP/1.1 bytes (one
//! renderer for both protocols), and converted here into HTTP/2 headers without copying its
//! parts: one copy of the request into a [`Bytes`], of which the path, the header values and the
//! body are slices.
//!
//! A connection is opened on first use (h2c with prior knowledge over plain TCP, ALPN `h2` over
//! TLS) and opened again after it failed or the service sent GOAWAY. It is driven by its own
//! task, or, in the closed model, by the task of the users it carries ([`Http2Pool::drive`]): a
//! read of the connection then wakes no other task, and the requests its answers' users send
//! next leave in one write, as h2load's do. A lock is held only to take a connection's handle or
//! to (re)connect, never for an exchange.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;

use bytes::Bytes;
use h2::Reason;
use h2::client::SendRequest;
use http::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, Parts, PathAndQuery, Scheme};
use http::{Method, Request, Uri};

use crate::net::connect::{Stream, Target};
use crate::run::client::{Answer, Broken, Exchange, Failure, IoError, MAX_HEADERS, connect};
use crate::support::sync::lock;

/// Flow-control windows as browsers open them: large enough that the window never paces a
/// benchmark, since every byte is released as soon as it is read.
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;
/// Streams opened before the service's SETTINGS say how many it takes: the 100 RFC 9113
/// recommends a server to allow at least, so an early burst is not refused.
const INITIAL_STREAMS: usize = 100;

/// Up to `n` HTTP/2 connections to one target.
#[derive(Debug)]
pub struct Http2Pool {
    slots: Box<[Slot]>,
    streams_per_connection: usize,
    /// Open model: slots `0..opened` are in use; the next is taken when all of them are full.
    opened: AtomicUsize,
    /// The users' tasks poll the connections' drivers ([`Http2Pool::drive`]); else each driver
    /// is a task of its own.
    driven_by_users: bool,
}

/// A connection's driver: h2's connection future, which marks the connection dead when it ends.
type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One connection's place in the pool.
#[derive(Default)]
struct Slot {
    /// The connection, once opened. The async lock makes the users of a slot wait for one
    /// connect instead of each opening their own.
    connection: tokio::sync::Mutex<Option<Connection>>,
    /// Exchanges using this slot now, for the open model's choice.
    in_flight: AtomicUsize,
    /// With `driven_by_users`: the drivers of this slot's connections not ended yet (a replaced
    /// connection may still be answering its streams).
    drivers: Mutex<Vec<Driver>>,
}

/// An open connection's handle, cheap to clone.
#[derive(Debug, Clone)]
struct Connection {
    send: SendRequest<Bytes>,
    /// False once the connection is known to be unusable: its driver ended or an exchange met
    /// a connection error. Shared by every clone, so marking it never hits a newer connection.
    alive: Arc<AtomicBool>,
}

impl Http2Pool {
    /// A pool of at most `n_connections` (at least 1), each meant to carry
    /// `streams_per_connection` exchanges at once (at least 1).
    /// Each connection is driven by a task of its own.
    pub fn new(n_connections: usize, streams_per_connection: usize) -> Http2Pool {
        Http2Pool {
            slots: (0..n_connections.max(1)).map(|_| Slot::default()).collect(),
            streams_per_connection: streams_per_connection.max(1),
            opened: AtomicUsize::new(0),
            driven_by_users: false,
        }
    }

    /// A pool whose connection `k` is driven by whoever calls [`Http2Pool::drive`] for it: the
    /// closed model's task of the users on slot `k`, which must keep calling it while they run.
    pub fn driven_by_users(n_connections: usize, streams_per_connection: usize) -> Http2Pool {
        Http2Pool {
            driven_by_users: true,
            ..Http2Pool::new(n_connections, streams_per_connection)
        }
    }

    /// Polls the drivers of slot `k`'s connections with the caller's task context: what the
    /// users queued is written, what the service sent is read and wakes them. Never blocks.
    pub fn drive(&self, k: usize, cx: &mut Context<'_>) {
        let slot = &self.slots[k % self.slots.len()];
        lock(&slot.drivers).retain_mut(|driver| driver.as_mut().poll(cx).is_pending());
    }

    /// Sends the HTTP/1.1-rendered request over HTTP/2 and reads the whole answer, keeping up to
    /// `keep(status)` bytes of its body in `body`. `slot`: `Some(k)` always uses connection
    /// `k % n` (the closed model); `None` the least busy one (the open model). Cancel-safe:
    /// dropped mid-exchange, h2 resets the stream and the pool stays usable.
    pub async fn exchange(
        &self,
        target: &Target,
        slot: Option<usize>,
        exchange: &Exchange<'_>,
        body: &mut Vec<u8>,
    ) -> Result<Answer, Failure> {
        let slot = &self.slots[slot.map_or_else(|| self.least_busy(), |k| k % self.slots.len())];
        let _in_flight = InFlight::enter(&slot.in_flight);
        let drive = self.driven_by_users;
        match slot.attempt(target, exchange, body, drive).await {
            // A graceful GOAWAY refused the stream before the service saw it (RFC 9113 §6.8),
            // as a service renewing its connections does (nginx after 1000 requests): sent
            // again once, on a new connection, as browsers do. (A stream the service may have
            // processed fails otherwise: h2 reports it as an I/O error.)
            Err(failure)
                if failure.status.is_none()
                    && failure.broken == Broken::Http2GoAway(Reason::NO_ERROR) =>
            {
                slot.attempt(target, exchange, body, drive).await
            }
            result => result,
        }
    }

    /// The open model's slot: the opened one with the fewest exchanges in flight, or a new one
    /// when all are full and fewer than `n` are open. Not atomic with the caller's increment:
    /// racing exchanges may put a few more than `streams_per_connection` on a connection, which
    /// h2 still holds to the service's own limit.
    fn least_busy(&self) -> usize {
        let opened = self.opened.load(Ordering::Acquire);
        let least = (0..opened)
            .map(|k| (k, self.slots[k].in_flight.load(Ordering::Relaxed)))
            .min_by_key(|&(_, in_flight)| in_flight);
        match least {
            Some((k, in_flight))
                if in_flight < self.streams_per_connection || opened == self.slots.len() =>
            {
                k
            }
            _ => match self.opened.compare_exchange(
                opened,
                opened + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => opened,
                // Another exchange just took a new slot: share it.
                Err(now) => now - 1,
            },
        }
    }
}

impl Slot {
    /// One try of the exchange on this slot's connection, which an error other than a stream
    /// reset marks dead. `drive`: a new connection's driver is left to [`Http2Pool::drive`].
    async fn attempt(
        &self,
        target: &Target,
        exchange: &Exchange<'_>,
        body: &mut Vec<u8>,
        drive: bool,
    ) -> Result<Answer, Failure> {
        let (request, data) =
            convert(target, exchange.request).ok_or(failure(Broken::Http2BadRequest, None, 0))?;
        let connection = self.connection(target, drive).await?;
        match send(connection.send, request, data, exchange, body).await {
            Ok(answer) => Ok(answer),
            Err((err, status, received)) => {
                // A reset ends one stream; anything else may have ended the connection.
                if !err.is_reset() {
                    connection.alive.store(false, Ordering::Release);
                }
                Err(failure(broken(&err), status, received))
            }
        }
    }

    /// This slot's connection, opened now if it has none or its last one is gone.
    async fn connection(&self, target: &Target, drive: bool) -> Result<Connection, Failure> {
        let mut connection = self.connection.lock().await;
        if let Some(open) = connection.as_ref()
            && open.alive.load(Ordering::Acquire)
        {
            return Ok(open.clone());
        }
        *connection = None;
        let (open, driver) = open(target).await?;
        if drive {
            lock(&self.drivers).push(driver);
        } else {
            // The driver ends when the service or the network closes the connection, or when
            // the pool (holding the last handle) is dropped and no stream is left.
            tokio::spawn(driver);
        }
        *connection = Some(open.clone());
        Ok(open)
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("in_flight", &self.in_flight)
            .field("drivers", &lock(&self.drivers).len())
            .finish_non_exhaustive()
    }
}

/// Counts an exchange in its slot while it lasts, however it ends (a dropped future included).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> InFlight<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Opens a connection: its handle, and its driver, which marks it dead when it ends.
async fn open(target: &Target) -> Result<(Connection, Driver), Failure> {
    let stream = connect(target).await?;
    if let Stream::Tls(tls) = &stream
        && tls.get_ref().1.alpn_protocol() != Some(b"h2")
    {
        return Err(failure(Broken::Http2NotAgreed, None, 0));
    }
    let (send, driver) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_max_send_streams(INITIAL_STREAMS)
        .enable_push(false)
        .handshake::<_, Bytes>(stream)
        .await
        .map_err(|err| failure(broken(&err), None, 0))?;
    let alive = Arc::new(AtomicBool::new(true));
    let driven = alive.clone();
    let driver = Box::pin(async move {
        let _ = driver.await;
        driven.store(false, Ordering::Release);
    });
    Ok((Connection { send, alive }, driver))
}

/// The request's HTTP/2 head and body, from its HTTP/1.1 rendering. `host` becomes
/// `:authority`; the headers HTTP/2 forbids (RFC 9113 §8.2.2) are left out.
fn convert(target: &Target, rendered: &[u8]) -> Option<(Request<()>, Bytes)> {
    // One copy of the request, parsed in place: every part below is a slice of it.
    let whole = Bytes::copy_from_slice(rendered);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&whole) else {
        return None;
    };
    let mut request = Request::new(());
    *request.method_mut() =
        Method::from_bytes(parsed.method.unwrap_or_default().as_bytes()).ok()?;
    let mut authority = None;
    let mut length = 0;
    let map = request.headers_mut();
    map.reserve(parsed.headers.len());
    for header in parsed.headers.iter() {
        let value = whole.slice_ref(header.value);
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        if name == HOST {
            authority = Some(Authority::from_maybe_shared(value).ok()?);
            continue;
        }
        if forbidden(&name, header.value) {
            continue;
        }
        if name == http::header::CONTENT_LENGTH {
            length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|text| text.trim().parse::<usize>().ok())?;
        }
        map.append(name, HeaderValue::from_maybe_shared(value).ok()?);
    }
    let authority = match authority {
        Some(authority) => authority,
        None => Authority::try_from(target.host.as_str()).ok()?,
    };
    let path = whole.slice_ref(parsed.path.unwrap_or_default().as_bytes());
    let mut parts = Parts::default();
    parts.scheme = Some(if target.is_tls() {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    });
    parts.authority = Some(authority);
    parts.path_and_query = Some(PathAndQuery::from_maybe_shared(path).ok()?);
    *request.uri_mut() = Uri::from_parts(parts).ok()?;
    let end = (head_len + length).min(whole.len());
    Some((request, whole.slice(head_len..end)))
}

/// Connection-specific headers, which HTTP/2 forbids (`te` is allowed as `trailers` only).
fn forbidden(name: &HeaderName, value: &[u8]) -> bool {
    use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
    match name.as_str() {
        "keep-alive" | "proxy-connection" => true,
        _ if name == TE => !value.trim_ascii().eq_ignore_ascii_case(b"trailers"),
        _ => name == CONNECTION || name == TRANSFER_ENCODING || name == UPGRADE,
    }
}

/// What went wrong on the wire, the status if the answer's head had arrived, and the body
/// bytes received by then.
type SendError = (h2::Error, Option<u16>, u64);

/// One stream: the request sent, the answer's status and headers (if asked for) read and its
/// body counted, kept in `body` up to `keep(status)`.
async fn send(
    send: SendRequest<Bytes>,
    request: Request<()>,
    data: Bytes,
    exchange: &Exchange<'_>,
    body: &mut Vec<u8>,
) -> Result<Answer, SendError> {
    // Waits while the connection has as many streams as the service allows.
    let mut send = send.ready().await.map_err(|err| (err, None, 0))?;
    let empty = data.is_empty();
    let (answer, mut stream) = send
        .send_request(request, empty)
        .map_err(|err| (err, None, 0))?;
    if !empty {
        stream.send_data(data, true).map_err(|err| (err, None, 0))?;
    }
    let (head, mut recv) = answer.await.map_err(|err| (err, None, 0))?.into_parts();
    let status = head.status.as_u16();
    let mut received = 0;
    if !exchange.head {
        let keep = (exchange.keep)(status);
        while let Some(chunk) = recv.data().await {
            let chunk = chunk.map_err(|err| (err, Some(status), received))?;
            // Released at once, or the service stops sending once the window is used up.
            let _ = recv.flow_control().release_capacity(chunk.len());
            received += chunk.len() as u64;
            let kept = keep.saturating_sub(body.len()).min(chunk.len());
            body.extend_from_slice(&chunk[..kept]);
        }
        // Ends the stream cleanly when trailers follow (ignored); immediate otherwise.
        let _ = recv.trailers().await;
    }
    let wanted = exchange.headers || exchange.set_cookies;
    Ok(Answer {
        status,
        headers: if wanted {
            head.headers
        } else {
            HeaderMap::new()
        },
        bytes_received: received,
    })
}

/// What an h2 error says went wrong.
fn broken(err: &h2::Error) -> Broken {
    match (err.get_io(), err.reason()) {
        (Some(io), _) => Broken::ConnectionBroke(IoError::from(io)),
        (None, Some(reason)) if err.is_remote() && err.is_reset() => Broken::Http2Reset(reason),
        (None, Some(reason)) if err.is_remote() => Broken::Http2GoAway(reason),
        (None, Some(reason)) => Broken::Http2Protocol(reason),
        (None, None) => Broken::Http2BadRequest,
    }
}

fn failure(broken: Broken, status: Option<u16>, bytes_received: u64) -> Failure {
    Failure {
        broken,
        status,
        bytes_received,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use h2::RecvStream;
    use h2::server::SendResponse;
    use http::{Response, StatusCode};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::{Semaphore, mpsc};
    use tokio::task::JoinSet;
    use tokio::time::timeout;
    use url::Url;

    use super::*;
    use crate::plan::Transport;

    /// How long a test waits for something the server or pool must do: a guard against a hang.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// A real HTTP/2 server (h2c) on 127.0.0.1, answering by path: `/bytes/N` N bytes,
    /// `/missing` a 404, `/reset` a RST_STREAM, `/wait` once `gate` lets it, `/close` then a
    /// GOAWAY and the end of its connection, `/echo` what it got. Every answer names its path in
    /// `x-path` and sets a cookie.
    struct Server {
        target: Target,
        accepts: Arc<AtomicUsize>,
        /// Each request's path, as it arrives.
        arrived: mpsc::UnboundedReceiver<String>,
        gate: Arc<Semaphore>,
    }

    #[derive(Clone)]
    struct Shared {
        arrived: mpsc::UnboundedSender<String>,
        gate: Arc<Semaphore>,
    }

    async fn server() -> Server {
        server_renewing(0).await
    }

    /// The first `renewing` connections' service refuses every stream with a graceful GOAWAY
    /// (last stream 0, NO_ERROR), as one renewing its connections does, and keeps them open.
    async fn server_renewing(renewing: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let (tx, arrived) = mpsc::unbounded_channel();
        let shared = Shared {
            arrived: tx,
            gate: Arc::new(Semaphore::new(0)),
        };
        let (counted, gate) = (accepts.clone(), shared.gate.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                if counted.fetch_add(1, Ordering::SeqCst) < renewing {
                    tokio::spawn(go_away(tcp));
                } else {
                    tokio::spawn(serve(tcp, shared.clone()));
                }
            }
        });
        Server {
            target: Target::resolve(&url, &Transport::default()).unwrap(),
            accepts,
            arrived,
            gate,
        }
    }

    async fn serve(tcp: TcpStream, shared: Shared) {
        let Ok(mut connection) = h2::server::handshake(tcp).await else {
            return;
        };
        while let Some(Ok((request, respond))) = connection.accept().await {
            let path = request.uri().path().to_owned();
            let _ = shared.arrived.send(path.clone());
            if path == "/close" {
                answer(respond, StatusCode::OK, &path, Bytes::new());
                // Refuses new streams; the loop ends, and the connection with it, once the
                // client has seen the GOAWAY.
                connection.graceful_shutdown();
            } else {
                tokio::spawn(respond_to(request, respond, shared.gate.clone()));
            }
        }
    }

    /// An HTTP/2 service's SETTINGS, then a GOAWAY refusing all streams, written by hand: h2's
    /// server cannot refuse a stream it has not read. Open until the client closes.
    async fn go_away(mut tcp: TcpStream) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];
        const GO_AWAY: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let _ = tcp
            .write_all(&[SETTINGS.as_slice(), &GO_AWAY].concat())
            .await;
        let _ = tcp.read_to_end(&mut Vec::new()).await;
    }

    async fn respond_to(
        request: Request<RecvStream>,
        mut respond: SendResponse<Bytes>,
        gate: Arc<Semaphore>,
    ) {
        let (head, mut received) = request.into_parts();
        let path = head.uri.path();
        let (status, body) = match path {
            "/reset" => return respond.send_reset(Reason::INTERNAL_ERROR),
            "/missing" => (StatusCode::NOT_FOUND, Bytes::from_static(b"not here")),
            "/wait" => {
                gate.acquire().await.unwrap().forget();
                (StatusCode::OK, Bytes::from_static(b"done"))
            }
            "/echo" => {
                let header = |name: &str| head.headers.get(name).map(|v| v.to_str().unwrap());
                let mut echo = format!(
                    "{} {} {:?} {:?}\n",
                    head.method,
                    head.uri,
                    header("x-note"),
                    header("te")
                );
                while let Some(Ok(chunk)) = received.data().await {
                    let _ = received.flow_control().release_capacity(chunk.len());
                    echo.push_str(std::str::from_utf8(&chunk).unwrap());
                }
                (StatusCode::OK, Bytes::from(echo))
            }
            _ => {
                let n = path.strip_prefix("/bytes/").unwrap().parse().unwrap();
                (StatusCode::OK, Bytes::from(vec![b'x'; n]))
            }
        };
        let body = if head.method == Method::HEAD {
            Bytes::new()
        } else {
            body
        };
        answer(respond, status, path, body);
    }

    fn answer(mut respond: SendResponse<Bytes>, status: StatusCode, path: &str, body: Bytes) {
        let response = Response::builder()
            .status(status)
            .header("x-path", path)
            .header("set-cookie", "visited=1")
            .body(())
            .unwrap();
        let empty = body.is_empty();
        if let Ok(mut stream) = respond.send_response(response, empty)
            && !empty
        {
            let _ = stream.send_data(body, true);
        }
    }

    /// The request as the generator renders it for HTTP/1.1.
    fn render(
        target: &Target,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        crate::run::client::request_line(&mut out, method, path);
        crate::run::client::header(&mut out, "host", &target.host).unwrap();
        for (name, value) in headers {
            crate::run::client::header(&mut out, name, value).unwrap();
        }
        crate::run::client::finish(&mut out, method, body);
        out
    }

    /// What to ask of an answer: its headers, its cookies, and how much body to keep.
    #[derive(Clone, Copy, Default)]
    struct Ask {
        headers: bool,
        set_cookies: bool,
        keep: usize,
    }

    /// One exchange of `request`: its result and the body kept. A stall (a window never
    /// released) fails the test instead of hanging it.
    async fn exchange(
        pool: &Http2Pool,
        target: &Target,
        slot: Option<usize>,
        request: &[u8],
        ask: Ask,
    ) -> (Result<Answer, Failure>, Vec<u8>) {
        let keep = move |_| ask.keep;
        let exchange = Exchange {
            request,
            head: request.starts_with(b"HEAD "),
            headers: ask.headers,
            set_cookies: ask.set_cookies,
            keep: &keep,
        };
        let mut body = Vec::new();
        let sent = pool.exchange(target, slot, &exchange, &mut body);
        let result = timeout(PATIENCE, sent).await.expect("the exchange stalled");
        (result, body)
    }

    /// A GET of `path` on its own task, guarded against a hang.
    fn spawn_get(
        tasks: &mut JoinSet<Answer>,
        pool: &Arc<Http2Pool>,
        target: &Target,
        slot: Option<usize>,
        path: &str,
    ) {
        let (pool, target) = (pool.clone(), target.clone());
        let request = render(&target, "GET", path, &[], None);
        tasks.spawn(async move {
            let sent = exchange(&pool, &target, slot, &request, Ask::default());
            sent.await.0.unwrap()
        });
    }

    /// Waits for `n` more requests to reach the server.
    async fn arrivals(server: &mut Server, n: usize) {
        for _ in 0..n {
            timeout(PATIENCE, server.arrived.recv())
                .await
                .unwrap()
                .unwrap();
        }
    }

    fn accepts(server: &Server) -> usize {
        server.accepts.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn answers_are_counted_kept_and_their_headers_taken_only_when_asked() {
        let server = server().await;
        let (pool, target) = (Http2Pool::new(1, 8), &server.target);
        let get = |path: &str| render(target, "GET", path, &[], None);
        let ask = Ask {
            keep: 1024,
            ..Ask::default()
        };
        let (answer, body) = exchange(&pool, target, None, &get("/bytes/100"), ask).await;
        let answer = answer.unwrap();
        assert_eq!((answer.status, answer.bytes_received), (200, 100));
        assert_eq!(body, vec![b'x'; 100]);
        assert!(answer.headers.is_empty(), "not asked for");
        let headers = Ask {
            headers: true,
            ..ask
        };
        let (answer, _) = exchange(&pool, target, None, &get("/bytes/1"), headers).await;
        assert_eq!(answer.unwrap().headers["x-path"], "/bytes/1");
        let cookies = Ask {
            set_cookies: true,
            ..ask
        };
        let (answer, _) = exchange(&pool, target, None, &get("/bytes/1"), cookies).await;
        assert_eq!(answer.unwrap().headers["set-cookie"], "visited=1");

        let (answer, body) = exchange(&pool, target, None, &get("/missing"), ask).await;
        assert_eq!(answer.unwrap().status, 404);
        assert_eq!(body, b"not here");
        let head = render(target, "HEAD", "/bytes/100", &[], None);
        let (answer, _) = exchange(&pool, target, None, &head, ask).await;
        assert_eq!(answer.unwrap().bytes_received, 0);
        // 9 MB over one connection: past both flow-control windows, so only released capacity
        // lets the answers through.
        for _ in 0..3 {
            let keep_10 = Ask { keep: 10, ..ask };
            let (answer, body) =
                exchange(&pool, target, None, &get("/bytes/3000000"), keep_10).await;
            assert_eq!(answer.unwrap().bytes_received, 3_000_000);
            assert_eq!(body.len(), 10);
        }
        assert_eq!(accepts(&server), 1);
    }

    #[tokio::test]
    async fn a_request_is_converted_with_its_body_and_without_connection_headers() {
        let server = server().await;
        let (pool, target) = (Http2Pool::new(1, 8), &server.target);
        let headers = [
            ("Connection", "keep-alive"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("X-Note", "hi"),
        ];
        let post = render(target, "POST", "/echo?q=1", &headers, Some(b"{\"a\":1}"));
        let ask = Ask {
            keep: 1024,
            ..Ask::default()
        };
        let (answer, body) = exchange(&pool, target, None, &post, ask).await;
        assert_eq!(answer.unwrap().status, 200);
        let expected = format!(
            "POST http://{}/echo?q=1 Some(\"hi\") Some(\"trailers\")\n{{\"a\":1}}",
            target.host
        );
        assert_eq!(String::from_utf8(body).unwrap(), expected);
        // A `te` other than `trailers` is left out, as HTTP/2 requires.
        let gzip = render(target, "PUT", "/echo", &[("te", "gzip")], None);
        let (_, body) = exchange(&pool, target, None, &gzip, ask).await;
        let expected = format!("PUT http://{}/echo None None\n", target.host);
        assert_eq!(String::from_utf8(body).unwrap(), expected);

        let garbage = exchange(&pool, target, None, b"not a request", ask).await.0;
        assert_eq!(garbage.unwrap_err().broken, Broken::Http2BadRequest);
    }

    #[tokio::test]
    async fn streams_share_a_connection_and_the_open_model_opens_another_only_when_all_are_full() {
        let mut server = server().await;
        let (pool, target) = (Arc::new(Http2Pool::new(4, 8)), server.target.clone());
        let mut tasks = JoinSet::new();
        for _ in 0..8 {
            spawn_get(&mut tasks, &pool, &target, None, "/wait");
        }
        arrivals(&mut server, 8).await;
        assert_eq!(accepts(&server), 1, "8 streams in flight on one connection");
        spawn_get(&mut tasks, &pool, &target, None, "/wait");
        arrivals(&mut server, 1).await;
        assert_eq!(accepts(&server), 2, "the 9th opened a second connection");
        server.gate.add_permits(9);
        for answer in tasks.join_all().await {
            assert_eq!(answer.status, 200);
        }
        // Both connections idle: 16 more fit on them.
        let mut tasks = JoinSet::new();
        for _ in 0..16 {
            spawn_get(&mut tasks, &pool, &target, None, "/wait");
        }
        arrivals(&mut server, 16).await;
        assert_eq!(accepts(&server), 2);
        server.gate.add_permits(16);
        assert_eq!(tasks.join_all().await.len(), 16);
    }

    #[tokio::test]
    async fn the_closed_model_keeps_each_user_on_its_slot() {
        let mut server = server().await;
        let (pool, target) = (Arc::new(Http2Pool::new(2, 8)), server.target.clone());
        let mut tasks = JoinSet::new();
        // 16 users, 8 per connection, as the caller maps them: user / streams_per_connection.
        for user in 0..16 {
            spawn_get(&mut tasks, &pool, &target, Some(user / 8), "/wait");
        }
        arrivals(&mut server, 16).await;
        assert_eq!(accepts(&server), 2);
        assert!(
            pool.slots
                .iter()
                .all(|slot| slot.in_flight.load(Ordering::SeqCst) == 8)
        );
        server.gate.add_permits(16);
        assert_eq!(tasks.join_all().await.len(), 16);
    }

    /// Whether slot `k` holds a connection believed alive.
    fn alive(pool: &Http2Pool, k: usize) -> bool {
        let connection = pool.slots[k].connection.try_lock().unwrap();
        connection
            .as_ref()
            .is_some_and(|c| c.alive.load(Ordering::Acquire))
    }

    #[tokio::test]
    async fn a_reset_fails_its_stream_only_a_closed_connection_is_replaced_and_a_dropped_exchange_frees_its_slot()
     {
        let server = server().await;
        let (pool, target) = (Http2Pool::new(1, 8), &server.target);
        let get = |path: &str| render(target, "GET", path, &[], None);
        let reset = exchange(&pool, target, None, &get("/reset"), Ask::default())
            .await
            .0;
        let failure = reset.unwrap_err();
        assert_eq!(failure.broken, Broken::Http2Reset(Reason::INTERNAL_ERROR));
        assert_eq!(
            failure.broken.to_string(),
            "the service reset the HTTP/2 stream (INTERNAL_ERROR)"
        );
        let (answer, _) = exchange(&pool, target, None, &get("/bytes/5"), Ask::default()).await;
        assert_eq!(answer.unwrap().bytes_received, 5);
        assert_eq!(
            accepts(&server),
            1,
            "a reset stream leaves its connection open"
        );

        let (answer, _) = exchange(&pool, target, None, &get("/close"), Ask::default()).await;
        assert_eq!(answer.unwrap().status, 200);
        // The connection's driver sees the GOAWAY and the close; bounded wait for it.
        for _ in 0..500 {
            if !alive(&pool, 0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!alive(&pool, 0), "the closed connection is known dead");
        let (answer, _) = exchange(&pool, target, None, &get("/bytes/5"), Ask::default()).await;
        assert_eq!(answer.unwrap().status, 200);
        assert_eq!(accepts(&server), 2, "the next exchange reconnected");

        // A timeout drops the exchange mid-stream: its slot is free and the connection usable.
        let wait = get("/wait");
        let dropped = timeout(
            Duration::from_millis(50),
            exchange(&pool, target, None, &wait, Ask::default()),
        );
        assert!(
            dropped.await.is_err(),
            "the server holds /wait until the gate opens"
        );
        assert_eq!(pool.slots[0].in_flight.load(Ordering::SeqCst), 0);
        let (answer, _) = exchange(&pool, target, None, &get("/bytes/5"), Ask::default()).await;
        assert_eq!(answer.unwrap().status, 200);
        assert_eq!(accepts(&server), 2);
    }

    #[tokio::test]
    async fn a_stream_refused_by_a_graceful_go_away_is_sent_again_on_a_new_connection() {
        let server = server_renewing(1).await;
        let (pool, target) = (Http2Pool::new(1, 8), &server.target);
        let get = render(target, "GET", "/bytes/5", &[], None);
        let (answer, _) = exchange(&pool, target, None, &get, Ask::default()).await;
        assert_eq!(answer.unwrap().bytes_received, 5);
        assert_eq!(
            accepts(&server),
            2,
            "refused on the first, answered on the second"
        );

        // Sent again once only: refused twice, it fails.
        let server = server_renewing(2).await;
        let (pool, target) = (Http2Pool::new(1, 8), &server.target);
        let get = render(target, "GET", "/bytes/5", &[], None);
        let refused = exchange(&pool, target, None, &get, Ask::default()).await.0;
        let broken = refused.unwrap_err().broken;
        assert_eq!(broken, Broken::Http2GoAway(Reason::NO_ERROR));
        assert_eq!(accepts(&server), 2);
        let (answer, _) = exchange(&pool, target, None, &get, Ask::default()).await;
        assert_eq!(answer.unwrap().status, 200);
        assert_eq!(accepts(&server), 3);
    }

    #[tokio::test]
    async fn a_refused_connection_and_a_service_without_http2_say_why() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let target = Target::resolve(&url, &Transport::default()).unwrap();
        // An HTTP/1.1 server: it answers the h2c preface with a 400.
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let (mut tcp, _) = listener.accept().await.unwrap();
            let _ = tcp.read(&mut [0; 1024]).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
            // Open until the client closes: a close with the preface unread could reset the
            // connection before the client reads the answer.
            let _ = tcp.read_to_end(&mut Vec::new()).await;
        });
        let pool = Http2Pool::new(1, 8);
        let request = render(&target, "GET", "/", &[], None);
        let http1 = exchange(&pool, &target, None, &request, Ask::default())
            .await
            .0;
        // "HTTP/1.1 " read as a frame header: a frame far over the 16 KiB allowed.
        let broken = http1.unwrap_err().broken;
        assert_eq!(broken, Broken::Http2Protocol(Reason::FRAME_SIZE_ERROR));
        assert_eq!(
            broken.to_string(),
            "the answer is not valid HTTP/2 (FRAME_SIZE_ERROR)"
        );

        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let refused = Target::resolve(&url, &Transport::default()).unwrap();
        let failure = exchange(&pool, &refused, None, &request, Ask::default())
            .await
            .0
            .unwrap_err();
        assert!(
            matches!(failure.broken, Broken::CannotConnect(Some(_))),
            "{failure:?}"
        );
    }
}
