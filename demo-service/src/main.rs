//! demo-service: a real HTTP service standing in for our users' APIs.
//!
//! It listens on 127.0.0.1 only. Its knobs (`--delay`, `--fail-rate`) let tests and users inject a
//! regression for real, so the gate is exercised against a service that actually got slower or worse.

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

#[derive(Parser, Debug)]
#[command(about = "A demo HTTP service for loadgate")]
struct Args {
    /// Port to listen on (127.0.0.1 only); 0 picks a free one.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Extra latency added to every response, e.g. "20ms".
    #[arg(long, env = "DEMO_SERVICE_DELAY", value_parser = humantime::parse_duration, default_value = "0s")]
    delay: Duration,
    /// Fraction of requests (0..1) answered with 500 Internal Server Error; /health is spared.
    #[arg(long, env = "DEMO_SERVICE_FAIL_RATE", value_parser = parse_fraction, default_value_t = 0.0)]
    fail_rate: f64,
    /// SQLite database file for /badges; in memory when omitted, so every start is fresh.
    #[arg(long)]
    db: Option<PathBuf>,
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

struct AppState {
    delay: Duration,
    fail_rate: f64,
    db: Mutex<rusqlite::Connection>,
    n_requests: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = open_db(args.db.as_deref())?;
    let state = Arc::new(AppState {
        delay: args.delay,
        fail_rate: args.fail_rate,
        db: Mutex::new(db),
        n_requests: AtomicU64::new(0),
    });

    let app = Router::new()
        .route("/", get(|| async { "loadgate demo service\n" }))
        .route("/status", get(status))
        .route("/simulate", post(simulate))
        .route("/badges", post(badges))
        .layer(middleware::from_fn_with_state(state.clone(), inject_faults))
        // Readiness stays outside the fault layer: an orchestrator's probe is not user traffic.
        .route("/health", get(|| async { "ok\n" }))
        .with_state(state);

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    println!(
        "demo-service listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    println!("demo-service stopped");
    Ok(())
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

/// Applies `--delay` and `--fail-rate` to every request that passes through it.
async fn inject_faults(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    state.n_requests.fetch_add(1, Ordering::Relaxed);
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    if state.fail_rate > 0.0 && fastrand::f64() < state.fail_rate {
        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure\n").into_response();
    }
    next.run(request).await
}

async fn status(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "requests": state.n_requests.load(Ordering::Relaxed),
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
