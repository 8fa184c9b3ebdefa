//! demo-service: a real HTTP service standing in for our users' APIs.
//!
//! It listens on 127.0.0.1 unless `--address` names another local address (a test putting it in a
//! network namespace of its own does). Its knobs let tests and users inject a regression for real, so the
//! gate is exercised against a service that actually got slower (`--delay`), worse (`--fail-rate`),
//! hungrier (`--leak-per-request`) or costlier (`--cpu-per-request`). `--workers N` makes it a
//! supervisor of N worker processes sharing the port, like gunicorn with `-w N`.
//!
//! It speaks plain HTTP/1.1 unless told otherwise: `--tls-cert PATH --tls-key PATH` (PEM) serve
//! HTTPS (rustls), and `--http2` adds HTTP/2 (h2 by ALPN over TLS, h2c by prior knowledge without),
//! HTTP/1.1 still answered. `GET /debug/protocols` counts the requests served by each version.
//! `GET /events` (Server-Sent Events) and `GET /ws` (a WebSocket) stream paced messages.

mod streams;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde::Deserialize;

mod transport;

#[derive(Parser, Debug)]
#[command(about = "A demo HTTP service for loadgate")]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The local IPv4 address to listen on: loopback unless a test gives the service an address
    /// of its own (inside a network namespace that only the test's shards can reach).
    #[arg(long, default_value_t = Ipv4Addr::LOCALHOST)]
    address: Ipv4Addr,
    /// Extra latency added to every response, e.g. "20ms".
    #[arg(long, env = "DEMO_SERVICE_DELAY", value_parser = humantime::parse_duration, default_value = "0s")]
    delay: Duration,
    /// Fraction of requests (0..1) answered with 500 Internal Server Error; /health is spared.
    #[arg(long, env = "DEMO_SERVICE_FAIL_RATE", value_parser = parse_fraction, default_value_t = 0.0)]
    fail_rate: f64,
    /// Fraction of requests (0..1) whose connection is closed without an answer.
    #[arg(long, env = "DEMO_SERVICE_DROP_RATE", value_parser = parse_fraction, default_value_t = 0.0)]
    drop_rate: f64,
    /// Answer every connection with bytes that are not HTTP, then close it (a wrong port, a
    /// crashed proxy): the gate must report errors, not hang or panic.
    #[arg(long, conflicts_with_all = ["tls_cert", "http2"])]
    garbage: bool,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert; needs --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve HTTP/2 too: h2 negotiated by ALPN with TLS, h2c by prior knowledge without; HTTP/1.1
    /// clients are still answered.
    #[arg(long)]
    http2: bool,
    /// SQLite database file for /badges; in memory when omitted, so every start is fresh
    /// (and, with --workers, separate in each worker).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Memory kept forever by every request, e.g. "64KiB": a leak the gate should see.
    #[arg(long, env = "DEMO_SERVICE_LEAK_PER_REQUEST", default_value = "0")]
    leak_per_request: bytesize::ByteSize,
    /// CPU time burnt by every request (measured on the thread's own clock), e.g. "500us".
    #[arg(long, env = "DEMO_SERVICE_CPU_PER_REQUEST", value_parser = humantime::parse_duration, default_value = "0s")]
    cpu_per_request: Duration,
    /// Every this often, the service stalls (like a stop-the-world pause) for --stall-for.
    #[arg(long, env = "DEMO_SERVICE_STALL_EVERY", value_parser = humantime::parse_duration)]
    stall_every: Option<Duration>,
    /// How long each stall lasts: requests arriving during it wait until it ends.
    #[arg(long, env = "DEMO_SERVICE_STALL_FOR", value_parser = humantime::parse_duration, default_value = "0s")]
    stall_for: Duration,
    /// At most N requests are served at once; the others queue, so the service saturates at a
    /// known point (N / delay requests per second with --delay).
    #[arg(long, env = "DEMO_SERVICE_MAX_CONCURRENCY")]
    max_concurrency: Option<u32>,
    /// Serve from N worker processes sharing the port (SO_REUSEPORT); this process supervises.
    #[arg(long, default_value_t = 0)]
    workers: u32,
    /// The key /classify requires in `X-Api-Key` (besides a session from /login); none when
    /// omitted.
    #[arg(long, env = "DEMO_SERVICE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Extra latency for one path only, `PATH=DURATION` (e.g. `/cart/checkout=20ms`); repeatable
    /// (comma-separated in the environment).
    #[arg(long, env = "DEMO_SERVICE_SLOW", value_delimiter = ',', value_parser = parse_slow_path)]
    slow: Vec<(String, Duration)>,
    /// Extra CPU time burnt for one path only, `PATH=DURATION` (e.g. `/status=300us`), to the
    /// microsecond where `--slow`'s sleep has milliseconds; repeatable (comma-separated in the
    /// environment). One endpoint of a mix made slower by a known amount.
    #[arg(long, env = "DEMO_SERVICE_CPU_FOR", value_delimiter = ',', value_parser = parse_slow_path)]
    cpu_for: Vec<(String, Duration)>,
    /// Extra computation for one path only, `PATH=ROUNDS` (e.g. `/=40`: about 160 more
    /// instructions per request, 1 % of `/`), in a function of its own (`extra_work`);
    /// repeatable (comma-separated in the environment). What the cost gate must catch.
    #[arg(long, env = "DEMO_SERVICE_WORK", value_delimiter = ',', value_parser = parse_work)]
    work: Vec<(String, u32)>,
    /// Print every request's method, path and body to the log, so a test can see what was sent.
    #[arg(long, env = "DEMO_SERVICE_LOG_BODIES")]
    log_bodies: bool,
    /// Bind with SO_REUSEPORT (set by the supervisor for its workers).
    #[arg(long, hide = true)]
    reuse_port: bool,
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside 0..1"))
    }
}

fn parse_work(text: &str) -> Result<(String, u32), String> {
    let (path, rounds) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected PATH=ROUNDS, like /=40"))?;
    let rounds = rounds
        .parse()
        .map_err(|_| format!("`{text}`: {rounds} is not a number of rounds"))?;
    Ok((path.to_owned(), rounds))
}

fn parse_slow_path(text: &str) -> Result<(String, Duration), String> {
    let (path, delay) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not PATH=DURATION"))?;
    let delay = humantime::parse_duration(delay).map_err(|e| e.to_string())?;
    Ok((path.to_owned(), delay))
}

/// A session opened by /login: its token is sent back as a bearer token or as the `sid` cookie.
#[derive(Default)]
struct Session {
    /// /classify requests made with the token.
    classified: u64,
    /// Requests that came with the session's cookie.
    by_cookie: u64,
}

/// Where a cart of the /cart flow is: each step must follow the one before, once.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cart {
    Open,
    Filled,
}

struct AppState {
    delay: Duration,
    fail_rate: f64,
    drop_rate: f64,
    leak_per_request: usize,
    cpu_per_request: Duration,
    /// `--stall-every` and `--stall-for`, measured from the start.
    stall: Option<(Duration, Duration)>,
    started: std::time::Instant,
    /// `--max-concurrency`.
    slots: Option<tokio::sync::Semaphore>,
    /// What `--leak-per-request` keeps: never freed while the service runs.
    leaked: Mutex<Vec<Box<[u8]>>>,
    db: Mutex<rusqlite::Connection>,
    /// User requests (those the fault layer sees) by HTTP version; /status sums them.
    protocols: Protocols,
    api_key: Option<String>,
    /// Tokens handed out by /login, with what each one was used for.
    sessions: Mutex<HashMap<String, Session>>,
    /// Carts of the /cart flow by token, and how many checkouts completed and steps came out
    /// of order.
    carts: Mutex<Carts>,
    /// `--slow`.
    slow: Vec<(String, Duration)>,
    /// `--cpu-for`.
    cpu_for: Vec<(String, Duration)>,
    /// `--work`.
    work: Vec<(String, u32)>,
}

#[derive(Default)]
struct Protocols {
    /// HTTP/1.0 and HTTP/1.1.
    http1: AtomicU64,
    http2: AtomicU64,
}

#[derive(Default)]
struct Carts {
    open: HashMap<String, Cart>,
    checked_out: u64,
    out_of_order: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match serve(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line a log tail shows, without a backtrace.
            eprintln!("demo-service: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    if args.workers > 0 {
        return supervise(&args).await;
    }
    if args.garbage {
        return serve_garbage(args.address, args.port).await;
    }
    let app = app(&args)?;
    // Read before listening, so a bad certificate or key fails the start, not the first client.
    let tls = args.tls_cert.as_deref().zip(args.tls_key.as_deref());
    let transport = transport::Transport::new(tls, args.http2)?;
    let listener = listen(args.address, args.port, args.reuse_port)
        .with_context(|| format!("cannot listen on {}:{}", args.address, args.port))?;
    let addr = listener.local_addr()?;
    match transport {
        None => {
            println!("demo-service listening on http://{addr}");
            // Nagle's algorithm would hold a WebSocket's next small message until the last is
            // acknowledged: gaps of 40 ms where the service sent after 10.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?;
        }
        Some(transport) => {
            println!("demo-service listening on {}", transport.describe(addr));
            transport::serve(listener, app, transport, shutdown_signal()).await;
        }
    }
    println!("demo-service stopped");
    Ok(())
}

/// The service's routes over its state, as the knobs in `args` make them.
fn app(args: &Args) -> anyhow::Result<Router> {
    let db = open_db(args.db.as_deref())?;
    let state = Arc::new(AppState {
        delay: args.delay,
        fail_rate: args.fail_rate,
        drop_rate: args.drop_rate,
        leak_per_request: usize::try_from(args.leak_per_request.as_u64())
            .context("--leak-per-request is too large")?,
        cpu_per_request: args.cpu_per_request,
        stall: args
            .stall_every
            .filter(|every| !every.is_zero())
            .map(|every| (every, args.stall_for)),
        started: std::time::Instant::now(),
        slots: args
            .max_concurrency
            .map(|n| tokio::sync::Semaphore::new(n as usize)),
        leaked: Mutex::new(Vec::new()),
        db: Mutex::new(db),
        protocols: Protocols::default(),
        api_key: args.api_key.clone(),
        sessions: Mutex::new(HashMap::new()),
        carts: Mutex::new(Carts::default()),
        slow: args.slow.clone(),
        cpu_for: args.cpu_for.clone(),
        work: args.work.clone(),
    });

    let mut app = Router::new()
        .route("/", get(|| async { "loadgate demo service\n" }))
        .route("/status", get(status))
        .route("/simulate", post(simulate))
        .route("/badges", post(badges))
        .route("/login", post(login))
        .route("/classify", post(classify))
        .route("/echo", post(|body: String| async { body }))
        .route("/me", get(me))
        .route("/cart/open", post(cart_open))
        .route("/cart/add", post(cart_add))
        .route("/cart/checkout", post(cart_checkout))
        .route("/events", get(streams::events))
        .route("/ws", get(streams::websocket))
        .layer(middleware::from_fn_with_state(state.clone(), inject_faults))
        // Readiness and the debug views stay outside the fault layer: they are not user traffic.
        .route("/health", get(|| async { "ok\n" }))
        .route("/debug/sessions", get(sessions))
        .route("/debug/protocols", get(protocols))
        .with_state(state);
    if args.log_bodies {
        app = app.layer(middleware::from_fn(log_body));
    }
    Ok(app)
}

/// `--garbage`: every connection gets a line that is not HTTP, then is closed.
async fn serve_garbage(address: Ipv4Addr, port: u16) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let listener = listen(address, port, false)
        .with_context(|| format!("cannot listen on {address}:{port}"))?;
    println!(
        "demo-service listening on http://{} (answering garbage)",
        listener.local_addr()?
    );
    let accept = async {
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let _ = stream
                    .write_all(b"SSH-2.0-OpenSSH_9.2 this is not HTTP\r\n\x00\xff\r\n\r\n")
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    };
    tokio::select! {
        result = accept => result,
        () = shutdown_signal() => Ok(()),
    }
}

fn listen(
    address: Ipv4Addr,
    port: u16,
    reuse_port: bool,
) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(reuse_port)?;
    socket.bind(SocketAddr::from((address, port)))?;
    socket.listen(1024)
}

/// `--workers N`: starts N copies of this program on one port and watches them. A worker that
/// exits takes the whole service down (the gate then reports the death); SIGTERM stops them all.
async fn supervise(args: &Args) -> anyhow::Result<()> {
    let port = match args.port {
        // Workers need one port to share: take a free one now.
        0 => std::net::TcpListener::bind((args.address, 0))?
            .local_addr()?
            .port(),
        port => port,
    };
    let exe = std::env::current_exe().context("cannot find this program to start workers")?;
    let worker_args = worker_args(args, port);
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.workers {
        let mut child = tokio::process::Command::new(&exe)
            .args(&worker_args)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start a worker")?;
        let mut stopped = stop.subscribe();
        workers.spawn(async move {
            tokio::select! {
                status = child.wait() => Some(status),
                _ = stopped.changed() => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    None
                }
            }
        });
    }
    println!(
        "demo-service supervising {} workers on {}:{port}",
        args.workers, args.address
    );
    tokio::select! {
        () = shutdown_signal() => {
            let _ = stop.send(true);
            while workers.join_next().await.is_some() {}
            println!("demo-service stopped");
            Ok(())
        }
        Some(exited) = workers.join_next() => {
            let _ = stop.send(true);
            while workers.join_next().await.is_some() {}
            anyhow::bail!("a worker exited ({:?}): stopping the service", exited.ok().flatten())
        }
    }
}

/// A worker's command line: the supervisor's own behaviour flags, on the shared `port` with
/// `--reuse-port`.
fn worker_args(args: &Args, port: u16) -> Vec<String> {
    let mut worker_args: Vec<String> = vec![
        "--address".into(),
        args.address.to_string(),
        "--port".into(),
        port.to_string(),
        "--reuse-port".into(),
        "--delay".into(),
        humantime::format_duration(args.delay).to_string(),
        "--fail-rate".into(),
        args.fail_rate.to_string(),
        "--leak-per-request".into(),
        args.leak_per_request.as_u64().to_string(),
        "--cpu-per-request".into(),
        humantime::format_duration(args.cpu_per_request).to_string(),
        "--stall-for".into(),
        humantime::format_duration(args.stall_for).to_string(),
    ];
    if let Some(every) = args.stall_every {
        worker_args.extend([
            "--stall-every".into(),
            humantime::format_duration(every).to_string(),
        ]);
    }
    if let Some(n) = args.max_concurrency {
        worker_args.extend(["--max-concurrency".into(), n.to_string()]);
    }
    for (flag, paths) in [("--slow", &args.slow), ("--cpu-for", &args.cpu_for)] {
        for (path, duration) in paths {
            let duration = humantime::format_duration(*duration);
            worker_args.extend([flag.into(), format!("{path}={duration}")]);
        }
    }
    if let Some(db) = &args.db {
        worker_args.extend(["--db".into(), db.display().to_string()]);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        worker_args.extend([
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ]);
    }
    if args.http2 {
        worker_args.push("--http2".into());
    }
    worker_args
}

fn open_db(path: Option<&std::path::Path>) -> anyhow::Result<rusqlite::Connection> {
    let conn = match path {
        Some(path) => rusqlite::Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?,
        None => rusqlite::Connection::open_in_memory()?,
    };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS emissions (id TEXT PRIMARY KEY, badge TEXT, reader TEXT)",
    )?;
    Ok(conn)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Applies the knobs (`--delay`, `--fail-rate`, `--leak-per-request`, `--cpu-per-request`) to
/// every request that passes through it.
async fn inject_faults(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    // One counter per request, as before the versions were told apart: the plain path pays no more.
    let served = if request.version() == axum::http::Version::HTTP_2 {
        &state.protocols.http2
    } else {
        &state.protocols.http1
    };
    served.fetch_add(1, Ordering::Relaxed);
    if let Some((every, stall_for)) = state.stall {
        // Inside a stall window, wait for its end, like every request during a GC pause.
        let elapsed = state.started.elapsed();
        let into_period = Duration::from_nanos((elapsed.as_nanos() % every.as_nanos()) as u64);
        if into_period < stall_for {
            tokio::time::sleep(stall_for - into_period).await;
        }
    }
    // Held until the answer is ready: the delay and the work count against the limit.
    let _slot = match &state.slots {
        Some(slots) => Some(
            slots
                .acquire()
                .await
                .expect("the semaphore is never closed"),
        ),
        None => None,
    };
    if state.leak_per_request > 0 {
        // Filled, not just reserved, so the pages are resident and show in RSS.
        let leak = vec![0x5a_u8; state.leak_per_request].into_boxed_slice();
        state
            .leaked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(leak);
    }
    if !state.cpu_per_request.is_zero() {
        burn_cpu(state.cpu_per_request);
    }
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    if let Some((_, rounds)) = state.work.iter().find(|(p, _)| p == request.uri().path()) {
        std::hint::black_box(extra_work(*rounds));
    }
    if let Some((_, cpu)) = state
        .cpu_for
        .iter()
        .find(|(p, _)| p == request.uri().path())
    {
        burn_cpu(*cpu);
    }
    if let Some((_, delay)) = state.slow.iter().find(|(p, _)| p == request.uri().path()) {
        tokio::time::sleep(*delay).await;
    }
    if state.drop_rate > 0.0 && fastrand::f64() < state.drop_rate {
        // Unwinding out of the connection's task drops its socket, answer unsent; resuming
        // (not panicking) keeps the panic hook's message out of the log.
        std::panic::resume_unwind(Box::new("--drop-rate"));
    }
    if state.fail_rate > 0.0 && fastrand::f64() < state.fail_rate {
        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure\n").into_response();
    }
    next.run(request).await
}

/// `--log-bodies`: one line per request, `request POST /path <body>`.
async fn log_body(request: Request, next: Next) -> Response {
    const LIMIT: usize = 1 << 20;
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n").into_response();
    };
    println!(
        "request {} {} {}",
        parts.method,
        parts.uri,
        String::from_utf8_lossy(&bytes)
    );
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// Opens a session: the token is what /classify wants in `Authorization: Bearer …`, and the
/// `sid` cookie that /me wants, as a session-based web app (Flask, Django, Rails) sets it.
async fn login(State(state): State<Arc<AppState>>, Json(login): Json<Login>) -> Response {
    if login.user.is_empty() {
        return (StatusCode::UNPROCESSABLE_ENTITY, "no user\n").into_response();
    }
    let token = new_token();
    state
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(token.clone(), Session::default());
    let cookie = format!("sid={token}; Path=/; HttpOnly; SameSite=Lax");
    (
        [(axum::http::header::SET_COOKIE, cookie)],
        Json(serde_json::json!({ "user": login.user, "token": token })),
    )
        .into_response()
}

fn new_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// The session's own page: 401 without a valid `sid` cookie.
async fn me(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Response {
    let mut sessions = state.sessions.lock().unwrap_or_else(|p| p.into_inner());
    match cookie(&headers, "sid").and_then(|sid| sessions.get_mut(sid)) {
        Some(session) => {
            session.by_cookie += 1;
            Json(serde_json::json!({ "requests": session.by_cookie })).into_response()
        }
        None => (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": "no session cookie" })),
        )
            .into_response(),
    }
}

/// The `token` of the query string (the cart's), empty when there is none.
fn query_token(uri: &axum::http::Uri) -> &str {
    let query = uri.query().unwrap_or_default();
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_default()
}

/// The first step of the cart flow: a new cart and its token.
async fn cart_open(State(state): State<Arc<AppState>>) -> Response {
    let token = new_token();
    let mut carts = state.carts.lock().unwrap_or_else(|p| p.into_inner());
    carts.open.insert(token.clone(), Cart::Open);
    Json(serde_json::json!({ "token": token })).into_response()
}

/// The second step: only on an open, still empty cart; 409 otherwise.
async fn cart_add(State(state): State<Arc<AppState>>, uri: axum::http::Uri) -> Response {
    cart_step(&state, query_token(&uri), Cart::Open, Some(Cart::Filled))
}

/// The last step: only on a filled cart, which it closes; 409 otherwise.
async fn cart_checkout(State(state): State<Arc<AppState>>, uri: axum::http::Uri) -> Response {
    cart_step(&state, query_token(&uri), Cart::Filled, None)
}

/// Moves cart `token` from `from` to `to` (`None`: checked out), or answers 409 Conflict when
/// the step comes out of order.
fn cart_step(state: &AppState, token: &str, from: Cart, to: Option<Cart>) -> Response {
    let mut carts = state.carts.lock().unwrap_or_else(|p| p.into_inner());
    if carts.open.get(token) != Some(&from) {
        carts.out_of_order += 1;
        return (StatusCode::CONFLICT, "cart step out of order\n").into_response();
    }
    match to {
        Some(next) => {
            carts.open.insert(token.to_owned(), next);
            Json(serde_json::json!({ "token": token })).into_response()
        }
        None => {
            carts.open.remove(token);
            carts.checked_out += 1;
            Json(serde_json::json!({ "receipt": carts.checked_out })).into_response()
        }
    }
}

#[derive(Deserialize)]
struct Message {
    text: String,
}

/// A spam classifier, like the one in our users' notes: needs a session from /login and, when
/// the service has one, the API key.
async fn classify(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    Json(message): Json<Message>,
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(key) = &state.api_key
        && header("x-api-key") != Some(key.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": "bad api key" })),
        )
            .into_response();
    }
    let token = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
    let known = token.is_some_and(|token| {
        let mut sessions = state.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get_mut(token).map(|s| s.classified += 1).is_some()
    });
    if !known {
        return (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({ "error": "no session" })),
        )
            .into_response();
    }
    const SPAM_WORDS: [&str; 6] = ["free", "winner", "prize", "urgent", "click", "$$$"];
    let text = message.text.to_lowercase();
    let hits = SPAM_WORDS.iter().filter(|w| text.contains(*w)).count();
    let score = (hits as f64 / 3.0).min(1.0);
    let label = if score >= 0.5 { "spam" } else { "ham" };
    Json(serde_json::json!({ "label": label, "score": score })).into_response()
}

/// Sessions opened and used: how a test checks that each user logged in once and then used
/// its own token (`used`) or its own cookie (`cookie_sessions`); and the cart flow's counts.
async fn sessions(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let sessions = state.sessions.lock().unwrap_or_else(|p| p.into_inner());
    let carts = state.carts.lock().unwrap_or_else(|p| p.into_inner());
    Json(serde_json::json!({
        "logins": sessions.len(),
        "used": sessions.values().filter(|s| s.classified > 0).count(),
        "classified": sessions.values().map(|s| s.classified).sum::<u64>(),
        "cookie_sessions": sessions.values().filter(|s| s.by_cookie > 0).count(),
        "checked_out": carts.checked_out,
        "out_of_order": carts.out_of_order,
    }))
}

async fn status(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let protocols = &state.protocols;
    let requests =
        protocols.http1.load(Ordering::Relaxed) + protocols.http2.load(Ordering::Relaxed);
    Json(serde_json::json!({ "status": "ok", "requests": requests }))
}

/// User requests served by HTTP version, `{"http1": N, "http2": N}`: how a test checks which
/// protocol a client really spoke.
async fn protocols(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "http1": state.protocols.http1.load(Ordering::Relaxed),
        "http2": state.protocols.http2.load(Ordering::Relaxed),
    }))
}

#[derive(Deserialize)]
struct SimulateRequest {
    /// Number of households to simulate; the work grows linearly with it.
    households: u32,
}

/// CPU-bound work sized by the body, like a tax-benefit simulation: each household runs a fixed
/// number of arithmetic rounds. Bounded so a hostile body cannot pin a core for long.
async fn simulate(Json(body): Json<SimulateRequest>) -> Response {
    const MAX_HOUSEHOLDS: u32 = 100_000;
    const ROUNDS_PER_HOUSEHOLD: u64 = 20_000;
    if body.households > MAX_HOUSEHOLDS {
        return (StatusCode::UNPROCESSABLE_ENTITY, "too many households\n").into_response();
    }
    let mut total: u64 = 0;
    for household in 0..u64::from(body.households) {
        let mut income = household.wrapping_mul(2_654_435_761) | 1;
        for _ in 0..ROUNDS_PER_HOUSEHOLD {
            income = income
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            total = total.wrapping_add(income >> 48);
        }
    }
    Json(serde_json::json!({ "households": body.households, "benefits": std::hint::black_box(total) }))
        .into_response()
}

#[derive(Deserialize)]
struct Emission {
    id: String,
    badge: Option<String>,
    reader: Option<String>,
}

/// Stores a badge emission: 201 Created when the id is new, 409 Conflict when it was seen before.
async fn badges(State(state): State<Arc<AppState>>, Json(emission): Json<Emission>) -> Response {
    let db = state
        .db
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let inserted = db.execute(
        "INSERT OR IGNORE INTO emissions (id, badge, reader) VALUES (?1, ?2, ?3)",
        (&emission.id, &emission.badge, &emission.reader),
    );
    match inserted {
        Ok(1) => (StatusCode::CREATED, "created\n").into_response(),
        Ok(_) => (StatusCode::CONFLICT, "duplicate emission\n").into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("database error: {err}\n"),
        )
            .into_response(),
    }
}

/// `--work`: a fixed number of arithmetic rounds (about four instructions each), in a function
/// of its own so a profile names it.
#[inline(never)]
fn extra_work(rounds: u32) -> u64 {
    // A plain loop: an iterator's `next` would be a call of its own in a debug build, and take
    // the instructions' blame.
    let (mut x, mut round): (u64, u32) = (1, 0);
    while round < rounds {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        round += 1;
    }
    x
}

/// Busy work until this thread has used `amount` of CPU time: on its own clock, so a busy machine
/// stretches the wall time but not the CPU cost the gate measures.
fn burn_cpu(amount: Duration) {
    let started = thread_cpu_time();
    let mut x: u64 = 1;
    while thread_cpu_time().saturating_sub(started) < amount {
        for _ in 0..1_000 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
    }
}

#[allow(unsafe_code, reason = "clock_gettime has no safe wrapper in std")]
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec and the clock id is a constant the kernel knows.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(
        status, 0,
        "CLOCK_THREAD_CPUTIME_ID is always available on Linux"
    );
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("demo-service").chain(args.iter().copied()))
    }

    #[test]
    fn tls_takes_the_certificate_and_the_key_together() {
        for half in [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"]] {
            let err = parse(&half).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument, "{half:?}");
        }
        let args = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem", "--http2"]).unwrap();
        assert!(args.tls_cert.is_some() && args.tls_key.is_some() && args.http2);
    }

    #[test]
    fn garbage_is_neither_tls_nor_http2() {
        for extra in [
            &["--http2"][..],
            &["--tls-cert", "c.pem", "--tls-key", "k.pem"],
        ] {
            let args: Vec<&str> = std::iter::once("--garbage")
                .chain(extra.iter().copied())
                .collect();
            assert_eq!(
                parse(&args).unwrap_err().kind(),
                ErrorKind::ArgumentConflict
            );
        }
    }

    #[test]
    fn plain_http1_is_left_to_axum_serve_and_h2c_says_so() {
        assert!(transport::Transport::new(None, false).unwrap().is_none());
        let h2c = transport::Transport::new(None, true).unwrap().unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 8080));
        assert_eq!(h2c.describe(addr), "http://127.0.0.1:8080 (h2c, http/1.1)");
    }
}
