//! books: a small catalogue service over SQLite, the kind of service a team gates with loadgate.
//!
//! `GET /` answers the ten most prolific authors of the catalogue (an aggregate over every row),
//! `GET /books?author=N` an author's books, `GET /health` whether the database answers.
//! Configuration comes from the environment: `PORT` (default 3000), `BOOKS_DB` (a SQLite file;
//! an in-memory catalogue by default) and `BOOKS_SLOWDOWN`, a factor by which every database
//! query is made slower (it runs that many times), to see the gate fail.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

const BOOKS: u32 = 2_500;
const AUTHORS: u32 = 500;

#[derive(Clone)]
struct App {
    db: Arc<Mutex<Connection>>,
    slowdown: u32,
}

#[derive(Serialize)]
struct Author {
    author: u32,
    books: u32,
    pages: u64,
}

#[derive(Serialize)]
struct Book {
    id: u32,
    title: String,
    pages: u32,
}

#[derive(Deserialize)]
struct ByAuthor {
    author: u32,
}

fn main() {
    let port: u16 = env_or("PORT", 3000);
    let slowdown: u32 = env_or("BOOKS_SLOWDOWN", 1).max(1);
    let db = open(std::env::var("BOOKS_DB").ok().as_deref()).expect("the database opens");
    let app = App {
        db: Arc::new(Mutex::new(db)),
        slowdown,
    };
    let router = Router::new()
        .route("/", get(top_authors))
        .route("/books", get(books_by_author))
        .route("/health", get(health))
        .with_state(app);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the port is free");
        eprintln!("books: listening on 127.0.0.1:{port} (slowdown ×{slowdown})");
        axum::serve(listener, router).await.expect("the server runs");
    });
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The catalogue, created and filled when the database is empty.
fn open(file: Option<&str>) -> rusqlite::Result<Connection> {
    let mut db = match file {
        Some(file) => Connection::open(file)?,
        None => Connection::open_in_memory()?,
    };
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS books (id INTEGER PRIMARY KEY, author INTEGER, title TEXT, pages INTEGER)",
    )?;
    let count: u32 = db.query_row("SELECT COUNT(*) FROM books", [], |row| row.get(0))?;
    if count == 0 {
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO books (author, title, pages) VALUES (?1, ?2, ?3)")?;
            for id in 0..BOOKS {
                insert.execute((id * 7919 % AUTHORS, format!("Book {id}"), 80 + id * 31 % 900))?;
            }
        }
        tx.commit()?;
    }
    Ok(db)
}

async fn top_authors(State(app): State<App>) -> Result<Json<Vec<Author>>, StatusCode> {
    query(app, |db| {
        let mut statement = db.prepare_cached(
            "SELECT author, COUNT(*), SUM(pages) FROM books GROUP BY author ORDER BY 3 DESC LIMIT 10",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(Author {
                author: row.get(0)?,
                books: row.get(1)?,
                pages: row.get(2)?,
            })
        })?;
        rows.collect()
    })
    .await
}

async fn books_by_author(
    State(app): State<App>,
    Query(by): Query<ByAuthor>,
) -> Result<Json<Vec<Book>>, StatusCode> {
    query(app, move |db| {
        let mut statement =
            db.prepare_cached("SELECT id, title, pages FROM books WHERE author = ?1 ORDER BY id")?;
        let rows = statement.query_map([by.author], |row| {
            Ok(Book {
                id: row.get(0)?,
                title: row.get(1)?,
                pages: row.get(2)?,
            })
        })?;
        rows.collect()
    })
    .await
}

async fn health(State(app): State<App>) -> Result<&'static str, StatusCode> {
    query(app, |db| db.query_row("SELECT 1", [], |_| Ok(())))
        .await
        .map(|_| "ok")
}

/// Runs `work` on the database off the async threads, `slowdown` times (the last answer counts).
async fn query<T: Send + 'static>(
    app: App,
    work: impl Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<Json<T>, StatusCode> {
    tokio::task::spawn_blocking(move || {
        let db = app.db.lock().map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        let mut answer = None;
        for _ in 0..app.slowdown {
            answer = Some(work(&db).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?);
        }
        Ok(Json(answer.expect("at least one run")))
    })
    .await
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
}
