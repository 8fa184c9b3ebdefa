//! A `websocket = { send, messages }` request: the request rendered like any other (its head,
//! then the message to send as its body) opens a WebSocket on the generator's own connection
//! (TLS for an `https://` service, with the spec's `[tls]`), sends, and reads messages, each
//! stamped when it is read. tokio-tungstenite speaks the protocol; the handshake's path and
//! headers (`Host`, cookies, the spec's headers) are those rendered.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::run::http1::{self, Answer, Broken, IoError, MAX_HEADERS};
use crate::run::outcome::{Cause, Outcome, StreamFault};
use crate::run::stream::Target;

/// Opens the socket, sends the rendered request's body (if any) as a text message, and reads
/// until `want` messages arrived or the service closed. `arrivals` gets each message's time.
pub async fn exchange(
    target: &Target,
    request: &[u8],
    want: Option<u32>,
    arrivals: &mut Vec<Instant>,
) -> Result<Answer, Outcome> {
    arrivals.clear();
    let (handshake, payload) = handshake_request(target, request)?;
    let stream = http1::connect(target).await.map_err(|failure| Outcome {
        status: None,
        bytes_received: 0,
        cause: Some(Cause::Broken(failure.broken)),
    })?;
    let (mut socket, response) = match tokio_tungstenite::client_async(handshake, stream).await {
        Ok(opened) => opened,
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            return Err(Outcome {
                status: Some(status),
                bytes_received: 0,
                cause: Some(Cause::Status(status)),
            });
        }
        Err(err) => return Err(failed(None, &err, 0)),
    };
    let status = response.status().as_u16();
    if !payload.is_empty() {
        let text = String::from_utf8_lossy(payload).into_owned();
        socket
            .send(Message::text(text))
            .await
            .map_err(|err| failed(Some(status), &err, 0))?;
    }
    let mut received = 0u64;
    let got = |arrivals: &Vec<Instant>| u32::try_from(arrivals.len()).unwrap_or(u32::MAX);
    while want.is_none_or(|want| got(arrivals) < want) {
        let message = match socket.next().await {
            Some(Ok(message)) => message,
            Some(Err(err)) => return Err(failed(Some(status), &err, got(arrivals))),
            None => return Err(closed_early(status, Broken::ClosedInBody, got(arrivals))),
        };
        match message {
            Message::Text(_) | Message::Binary(_) => {
                arrivals.push(Instant::now());
                received += message.len() as u64;
            }
            Message::Close(frame) => {
                return closed(status, frame.as_ref(), want, got(arrivals), received);
            }
            // Pings are answered by the library on the next read; pongs and raw frames are
            // not messages.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    // Had what it needed: say goodbye, without waiting for the service's reply.
    let _ = socket.close(None).await;
    Ok(answer(status, received))
}

/// The handshake's request from the rendered one (its path and headers, WebSocket's own
/// added), and the message to send (its body).
fn handshake_request<'r>(
    target: &Target,
    request: &'r [u8],
) -> Result<(http::Request<()>, &'r [u8]), Outcome> {
    let unsendable = || Outcome::failed(Cause::Unsendable);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(request) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => return Err(unsendable()),
    };
    let scheme = if target.is_tls() { "wss" } else { "ws" };
    let path = parsed.path.ok_or_else(unsendable)?;
    let mut handshake = http::Request::get(format!("{scheme}://{}{path}", target.host))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", generate_key());
    for header in parsed.headers.iter() {
        // The body is the message to send, not part of the upgrade.
        if !header.name.eq_ignore_ascii_case("content-length") {
            handshake = handshake.header(header.name, header.value);
        }
    }
    let handshake = handshake.body(()).map_err(|_| unsendable())?;
    Ok((handshake, &request[head_len..]))
}

/// The service closed the socket: a normal close (1000, 1001) ends the stream, which falls
/// short when fewer than `want` messages came; any other code is an error of its own.
fn closed(
    status: u16,
    frame: Option<&CloseFrame>,
    want: Option<u32>,
    got: u32,
    received: u64,
) -> Result<Answer, Outcome> {
    let code = frame.map_or(CloseCode::Status, |f| f.code);
    let fault = match code {
        CloseCode::Normal | CloseCode::Away | CloseCode::Status => match want {
            Some(want) if got < want => StreamFault::TooFew { got, want },
            _ => return Ok(answer(status, received)),
        },
        code => StreamFault::CloseCode {
            code: code.into(),
            got,
        },
    };
    Err(Outcome {
        status: Some(status),
        bytes_received: received,
        cause: Some(Cause::Stream(fault)),
    })
}

fn answer(status: u16, received: u64) -> Answer {
    Answer {
        status,
        headers: http::HeaderMap::new(),
        bytes_received: received,
    }
}

/// The connection broke after the socket opened (`status`: the 101).
fn closed_early(status: u16, broken: Broken, got: u32) -> Outcome {
    Outcome {
        status: Some(status),
        bytes_received: 0,
        cause: Some(Cause::Stream(StreamFault::ClosedEarly { broken, got })),
    }
}

/// What a tungstenite error comes to: before the socket opened (`status` none) a broken
/// connection or a broken handshake; after, the stream closed early or broke the protocol.
fn failed(status: Option<u16>, err: &tungstenite::Error, got: u32) -> Outcome {
    let broken = match err {
        tungstenite::Error::Io(io) => Some(Broken::ConnectionBroke(IoError::from(io))),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Some(Broken::ClosedInBody)
        }
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => Some(Broken::ClosedInBody),
        _ => None,
    };
    match (status, broken) {
        (Some(status), Some(broken)) => closed_early(status, broken, got),
        (None, Some(broken)) => Outcome::failed(Cause::Broken(broken)),
        (status, None) => Outcome {
            status,
            bytes_received: 0,
            cause: Some(Cause::Stream(StreamFault::NotWebSocket)),
        },
    }
}
