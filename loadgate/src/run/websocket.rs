//! A `websocket = { send, messages, … }` request: the request rendered like any other (its
//! head, then the messages to send, framed by [`frame`], as its body) opens a WebSocket on the
//! generator's own connection (TLS for an `https://` service, with the spec's `[tls]`), sends,
//! and reads messages, each stamped when it is read. tokio-tungstenite speaks the protocol; the
//! handshake's path and headers (`Host`, cookies, the spec's headers, `Sec-WebSocket-Protocol`
//! from `protocols`) are those rendered. With `reuse`, the socket is handed back to the user,
//! who sends on it in its next iteration instead of opening another.

use std::fmt::Write as _;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::net::connect::{Stream, Target};
use crate::plan::RequestPlan;
use crate::run::client::{self, Answer, Broken, IoError, MAX_HEADERS};
use crate::run::messages::Messages;
use crate::run::outcome::{Cause, Outcome, StreamFault};

/// An open WebSocket.
pub type Socket = WebSocketStream<Stream>;

/// The sockets a user keeps open across its iterations (`websocket.reuse`), by request.
#[derive(Default)]
pub struct Sockets(Vec<(usize, Socket)>);

impl Sockets {
    /// Request `request_idx`'s open socket, taken: an exchange that fails drops it.
    pub fn take(&mut self, request_idx: usize) -> Option<Socket> {
        let at = self.0.iter().position(|(idx, _)| *idx == request_idx)?;
        Some(self.0.swap_remove(at).1)
    }

    pub fn put(&mut self, request_idx: usize, socket: Socket) {
        self.0.push((request_idx, socket));
    }
}

/// Appends one message to send to a WebSocket request's body: its length, `:`, and itself, so
/// that several messages travel in one rendered request (whose body is never sent as such).
pub fn frame(body: &mut String, message: &str) {
    let _ = write!(body, "{}:", message.len());
    body.push_str(message);
}

/// The messages [`frame`] put in `body`.
fn unframe(mut body: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let colon = body.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&body[..colon]).ok()?.parse().ok()?;
        let message = body.get(colon + 1..colon + 1 + len)?;
        body = &body[colon + 1 + len..];
        Some(message)
    })
}

/// A socket's read buffer: tungstenite's default, 128 KiB filled with zeros before the first
/// read, would cost a generator holding thousands of sockets hundreds of MiB; it grows for a
/// larger message.
fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

/// Sends the request's messages on `open` (the user's kept socket) or on a socket it opens,
/// then reads until `messages` arrived or the service closed; `messages` gets each one's time.
/// Gives the socket back when the plan reuses it.
pub async fn exchange(
    target: &Target,
    plan: &RequestPlan,
    request: &[u8],
    open: Option<Socket>,
    messages: &mut Messages,
) -> Result<(Answer, Option<Socket>), Outcome> {
    messages.clear();
    let websocket = plan.websocket().copied().unwrap_or_default();
    let (handshake, payload) = handshake_request(target, request)?;
    let (mut socket, status) = match open {
        Some(socket) => (socket, 101),
        None => connect(target, handshake).await?,
    };
    for message in unframe(payload) {
        let message = if websocket.binary {
            Message::binary(message.to_vec())
        } else {
            Message::text(String::from_utf8_lossy(message).into_owned())
        };
        let sent = socket.feed(message).await;
        sent.map_err(|err| failed(Some(status), &err, 0))?;
    }
    socket
        .flush()
        .await
        .map_err(|err| failed(Some(status), &err, 0))?;
    let (received, open) = read(&mut socket, plan, status, messages).await?;
    if websocket.reuse && open {
        return Ok((answer(status, received), Some(socket)));
    }
    // Had what it needed: say goodbye, without waiting for the service's reply.
    let _ = socket.close(None).await;
    Ok((answer(status, received), None))
}

/// Connects and opens the socket: it and the handshake's status (101).
async fn connect(target: &Target, handshake: http::Request<()>) -> Result<(Socket, u16), Outcome> {
    let stream = client::connect(target).await.map_err(|failure| Outcome {
        status: None,
        bytes_received: 0,
        cause: Some(Cause::Broken(failure.broken)),
    })?;
    let opened = tokio_tungstenite::client_async_with_config(handshake, stream, Some(config()));
    match opened.await {
        Ok((socket, response)) => Ok((socket, response.status().as_u16())),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            Err(Outcome {
                status: Some(status),
                bytes_received: 0,
                cause: Some(Cause::Status(status)),
            })
        }
        Err(err) => Err(failed(None, &err, 0)),
    }
}

/// Reads until the plan's `messages` arrived (or the service closed): the bytes received, and
/// whether the socket is still open.
async fn read(
    socket: &mut Socket,
    plan: &RequestPlan,
    status: u16,
    messages: &mut Messages,
) -> Result<(u64, bool), Outcome> {
    let want = plan.stream.as_ref().and_then(|s| s.messages);
    let mut received = 0u64;
    let got = |messages: &Messages| u32::try_from(messages.arrivals.len()).unwrap_or(u32::MAX);
    while want.is_none_or(|want| got(messages) < want) {
        let message = match socket.next().await {
            Some(Ok(message)) => message,
            Some(Err(err)) => return Err(failed(Some(status), &err, got(messages))),
            None => return Err(closed_early(status, Broken::ClosedInBody, got(messages))),
        };
        let data = match &message {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(bytes) => bytes,
            Message::Close(frame) => {
                let closed = closed(status, frame.as_ref(), want, got(messages), received);
                return closed.map(|()| (received, false));
            }
            // Pings are answered by the library on the next read; pongs and raw frames are
            // not messages.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        messages.arrived(Instant::now(), &plan.expect, None, data);
        received += data.len() as u64;
    }
    Ok((received, true))
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
) -> Result<(), Outcome> {
    let code = frame.map_or(CloseCode::Status, |f| f.code);
    let fault = match code {
        CloseCode::Normal | CloseCode::Away | CloseCode::Status => match want {
            Some(want) if got < want => StreamFault::TooFew { got, want },
            _ => return Ok(()),
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
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Some(Broken::ClosedInBody)
        }
        _ => None,
    };
    let fault = match err {
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(_)) => {
            StreamFault::Subprotocol
        }
        _ => StreamFault::NotWebSocket,
    };
    match (status, broken) {
        (Some(status), Some(broken)) => closed_early(status, broken, got),
        (None, Some(broken)) => Outcome::failed(Cause::Broken(broken)),
        (status, None) => Outcome {
            status,
            bytes_received: 0,
            cause: Some(Cause::Stream(fault)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_travel_framed_in_the_body_whatever_they_hold() {
        let sent = ["hello", "", "a:b 12:", "ünï"];
        let mut body = String::new();
        for message in sent {
            frame(&mut body, message);
        }
        let read: Vec<&[u8]> = unframe(body.as_bytes()).collect();
        let sent: Vec<&[u8]> = sent.iter().map(|m| m.as_bytes()).collect();
        assert_eq!(read, sent);
        assert_eq!(unframe(b"").count(), 0);
        assert_eq!(unframe(b"9:short").count(), 0, "a cut frame is no message");
    }
}
