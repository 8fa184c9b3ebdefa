//! The streaming endpoints: `GET /events` answers Server-Sent Events and `GET /ws` a WebSocket,
//! each message after a delay the query sets, so a spec can gate the time to the first message
//! and the gaps between messages (`?first=50ms&gap=20ms&count=10`; defaults 0s, 10ms, 10).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, Uri};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

/// When each message is due, from the query.
#[derive(Clone, Copy)]
struct Schedule {
    first: Duration,
    gap: Duration,
    count: u32,
}

impl Schedule {
    /// From the query: `first`, `gap` (durations such as `20ms`) and `count`.
    fn of(uri: &Uri) -> Result<Schedule, String> {
        let mut schedule = Schedule {
            first: Duration::ZERO,
            gap: Duration::from_millis(10),
            count: 10,
        };
        let pairs = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty());
        for pair in pairs {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let duration = || humantime::parse_duration(value).map_err(|e| format!("{key}: {e}"));
            match key {
                "first" => schedule.first = duration()?,
                "gap" => schedule.gap = duration()?,
                "count" => schedule.count = value.parse().map_err(|e| format!("count: {e}"))?,
                _ => return Err(format!("unknown parameter {key}")),
            }
        }
        Ok(schedule)
    }

    /// The wait before message `n` (from 0).
    fn before(self, n: u32) -> Duration {
        if n == 0 { self.first } else { self.gap }
    }

    /// Message `n` after its wait, or `None` after the last.
    fn messages(self) -> impl Stream<Item = u32> {
        stream::unfold(0, move |n| async move {
            if n >= self.count {
                return None;
            }
            tokio::time::sleep(self.before(n)).await;
            Some((n, n + 1))
        })
    }
}

fn bad_query(error: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response()
}

/// `GET /events`: `count` events (`id` n, `data: message n`), then the stream ends.
pub async fn events(uri: Uri) -> Response {
    use futures_util::StreamExt as _;
    match Schedule::of(&uri) {
        Ok(schedule) => Sse::new(schedule.messages().map(|n| {
            Ok::<_, Infallible>(
                Event::default()
                    .id(n.to_string())
                    .data(format!("message {n}")),
            )
        }))
        .into_response(),
        Err(error) => bad_query(error),
    }
}

/// `GET /ws`: for each text or binary message received, `count` text messages back, paced.
pub async fn websocket(uri: Uri, upgrade: WebSocketUpgrade) -> Response {
    match Schedule::of(&uri) {
        Ok(schedule) => upgrade.on_upgrade(move |socket| answer(socket, schedule)),
        Err(error) => bad_query(error),
    }
}

async fn answer(mut socket: WebSocket, schedule: Schedule) {
    use futures_util::StreamExt as _;
    while let Some(Ok(received)) = socket.recv().await {
        match received {
            Message::Text(_) | Message::Binary(_) => {}
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => continue,
        }
        let mut messages = std::pin::pin!(schedule.messages());
        while let Some(n) = messages.next().await {
            if socket
                .send(Message::Text(format!("message {n}").into()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}
