//! What one request came to, the vocabulary the exchange and the recorder share: an [`Outcome`]
//! with, for a failure, its [`Cause`] as a small `Copy` value. Counting needs only the cause's
//! [`ErrorKind`]; an [`ErrorExample`] (text, the quoted body, redaction) is made only for the few
//! failures a recorder keeps, so a service that fails every request costs the generator about
//! what a healthy one does.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::RequestPlan;
use crate::plan::expect::Mismatch;
use crate::plan::secret::Secrets;
use crate::run::client::Broken;
use crate::run::sse::Malformed;

/// Why a request did not count as a success, as counted and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The connection could not be made (refused, reset during connect).
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection broke while sending or receiving.
    Io,
    /// An answer arrived with a status the spec does not expect.
    Status,
    /// An answer with an expected status failed `expect` (body text, JSON field) or lacked a
    /// value to `capture`.
    Expect,
    /// A stream broke after its head, before it ended (or had its `messages`).
    ClosedEarly,
    /// A stream that is not what its protocol says (an event stream's line names no field).
    Malformed,
    /// A stream ended with fewer messages than its `messages`.
    TooFewMessages,
    /// A WebSocket the service closed with an error code (not 1000 or 1001).
    CloseError,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Status,
        ErrorKind::Expect,
        ErrorKind::ClosedEarly,
        ErrorKind::Malformed,
        ErrorKind::TooFewMessages,
        ErrorKind::CloseError,
    ];

    /// The kind [`ErrorKind::as_str`] names, as files written by another process name it.
    pub fn named(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Status => "status",
            ErrorKind::Expect => "expect",
            ErrorKind::ClosedEarly => "closed_early",
            ErrorKind::Malformed => "malformed",
            ErrorKind::TooFewMessages => "too_few_messages",
            ErrorKind::CloseError => "close_error",
        }
    }
}

/// Why one request failed, in detail but without text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The rendered request is not valid HTTP (its URL or a header value): it was not sent.
    Unsendable,
    /// No connection, or no whole answer on it.
    Broken(Broken),
    /// No whole answer within the request's timeout.
    Timeout(Duration),
    /// An answer with this status, which the spec does not expect.
    Status(u16),
    /// An answer with an expected status that failed `expect` or lacked a value to capture.
    Expect(Mismatch),
    /// A stream answered with an expected status, then fell short.
    Stream(StreamFault),
}

/// How a stream that began well fell short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFault {
    /// It broke before it ended or had its `messages`, after `got` of them.
    ClosedEarly {
        broken: Broken,
        got: u32,
    },
    Malformed(Malformed),
    /// The WebSocket handshake or a frame broke the protocol.
    NotWebSocket,
    /// The service picked none of the subprotocols offered (`websocket.protocols`), or one not
    /// offered.
    Subprotocol,
    /// It ended after `got` messages of the `want` the spec asks for.
    TooFew {
        got: u32,
        want: u32,
    },
    /// The service closed the WebSocket with this error code after `got` messages.
    CloseCode {
        code: u16,
        got: u32,
    },
}

impl StreamFault {
    fn kind(self) -> ErrorKind {
        match self {
            StreamFault::ClosedEarly { .. } => ErrorKind::ClosedEarly,
            StreamFault::Malformed(_) | StreamFault::NotWebSocket | StreamFault::Subprotocol => {
                ErrorKind::Malformed
            }
            StreamFault::TooFew { .. } => ErrorKind::TooFewMessages,
            StreamFault::CloseCode { .. } => ErrorKind::CloseError,
        }
    }

    fn describe(self) -> String {
        match self {
            StreamFault::ClosedEarly { broken, got } => {
                format!("the stream broke after {got} messages: {broken}")
            }
            StreamFault::Malformed(malformed) => malformed.to_string(),
            StreamFault::NotWebSocket => "the service broke the WebSocket protocol".to_owned(),
            StreamFault::Subprotocol => {
                "the service did not pick one of the subprotocols offered (websocket.protocols)"
                    .to_owned()
            }
            StreamFault::CloseCode { code, got } => {
                format!("the service closed the WebSocket with code {code} after {got} messages")
            }
            StreamFault::TooFew { got, want } => {
                format!("the stream ended after {got} messages, expected {want}")
            }
        }
    }
}

impl Cause {
    pub fn kind(self) -> ErrorKind {
        match self {
            Cause::Broken(Broken::CannotConnect(_)) => ErrorKind::Connect,
            Cause::Unsendable | Cause::Broken(_) => ErrorKind::Io,
            Cause::Timeout(_) => ErrorKind::Timeout,
            Cause::Status(_) => ErrorKind::Status,
            Cause::Expect(_) => ErrorKind::Expect,
            Cause::Stream(fault) => fault.kind(),
        }
    }

    /// What went wrong, in words. `request` is the plan of the request that failed, `body` what
    /// was kept of its answer: what the status and `expect` causes are spelled from.
    pub fn describe(self, request: &RequestPlan, body: &[u8]) -> String {
        match self {
            Cause::Unsendable => {
                "the rendered request is not valid HTTP (its URL or a header value)".to_owned()
            }
            // Described without the URL: a URL may hold a secret.
            Cause::Broken(broken) => broken.to_string(),
            Cause::Timeout(timeout) => {
                format!("no answer within {}", humantime::format_duration(timeout))
            }
            Cause::Status(status) => match &request.expect.status {
                Some(statuses) => format!("got {status}, expected one of {statuses:?}"),
                None => format!("got {status}, expected a 2xx"),
            },
            Cause::Expect(mismatch) => mismatch.describe(&request.expect, &request.captures, body),
            Cause::Stream(fault) => fault.describe(),
        }
    }
}

/// The result of one request as the recorder needs it: small, `Copy`, no text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// When the answer's head arrived.
    pub status: Option<u16>,
    pub bytes_received: u64,
    /// Why it failed; `None` for a success.
    pub cause: Option<Cause>,
}

impl Outcome {
    /// A request that got no answer.
    pub fn failed(cause: Cause) -> Outcome {
        Outcome {
            status: None,
            bytes_received: 0,
            cause: Some(cause),
        }
    }

    pub fn error(&self) -> Option<ErrorKind> {
        self.cause.map(Cause::kind)
    }
}

/// One failed request, spelled out for the report: the first few of each request name are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorExample {
    /// The error kind (`status`, `expect`, `timeout`, …).
    pub kind: String,
    pub status: Option<u16>,
    pub message: String,
    /// The start of the answer's body, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// How much of an unexpected answer's body an error example quotes.
pub const EXAMPLE_BODY: usize = 200;

impl ErrorExample {
    /// The example of a request of `request` that failed with `cause`; `body` is what was kept
    /// of its answer (the status and `expect` causes quote its first [`EXAMPLE_BODY`] bytes).
    ///
    /// Secrets are redacted here, not only when the report files are written: in `summary.json`
    /// a secret holding a character that JSON escapes (`"`, `\`) appears escaped, and the
    /// output-time redaction, which looks for the secret as written, would miss it.
    pub(crate) fn new(
        cause: Cause,
        outcome: &Outcome,
        request: &RequestPlan,
        body: &[u8],
        secrets: &Secrets,
    ) -> ErrorExample {
        let message = secrets.redact(&cause.describe(request, body)).into_owned();
        let answered = matches!(cause, Cause::Status(_) | Cause::Expect(_));
        let quoted = answered.then(|| {
            let mut quoted =
                String::from_utf8_lossy(&body[..body.len().min(EXAMPLE_BODY)]).into_owned();
            if outcome.bytes_received > quoted.len() as u64 {
                quoted.push('…');
            }
            secrets.redact(&quoted).into_owned()
        });
        ErrorExample {
            kind: cause.kind().as_str().to_owned(),
            status: outcome.status.filter(|_| answered),
            message,
            body: quoted,
        }
    }

    /// One line: kind, status, what was wrong and the start of the body.
    pub fn describe(&self) -> String {
        let mut line = format!("{}: {}", self.kind, self.message);
        if let Some(status) = self.status.filter(|_| self.kind != "status") {
            line += &format!(" (status {status})");
        }
        if let Some(body) = self
            .body
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            line += &format!(" · body: {}", body.replace(['\n', '\r'], " "));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::exchange::tests::request_plan;

    #[test]
    fn a_cause_is_counted_by_kind_and_spelled_out_as_before() {
        let plan = request_plan("");
        let statuses = request_plan("expect = { status = [200, 201] }");
        let json = request_plan(r#"expect = { json = { "$.word" = "goodbye" } }"#);
        let body = br#"{"word":"hello"}"#;
        let cases: [(Cause, &RequestPlan, ErrorKind, &str); 7] = [
            (
                Cause::Unsendable,
                &plan,
                ErrorKind::Io,
                "the rendered request is not valid HTTP (its URL or a header value)",
            ),
            (
                Cause::Broken(Broken::CannotConnect(None)),
                &plan,
                ErrorKind::Connect,
                "cannot connect: no address",
            ),
            (
                Cause::Broken(Broken::ClosedInBody),
                &plan,
                ErrorKind::Io,
                "the connection broke: closed in the middle of the answer",
            ),
            (
                Cause::Timeout(Duration::from_millis(1500)),
                &plan,
                ErrorKind::Timeout,
                "no answer within 1s 500ms",
            ),
            (
                Cause::Status(500),
                &plan,
                ErrorKind::Status,
                "got 500, expected a 2xx",
            ),
            (
                Cause::Status(404),
                &statuses,
                ErrorKind::Status,
                "got 404, expected one of [200, 201]",
            ),
            (
                Cause::Expect(Mismatch::JsonField(0)),
                &json,
                ErrorKind::Expect,
                r#"$.word is "hello", expected "goodbye""#,
            ),
        ];
        for (cause, request, kind, text) in cases {
            assert_eq!(cause.kind(), kind, "{cause:?}");
            assert_eq!(cause.describe(request, body), text, "{cause:?}");
        }
        assert!(std::mem::size_of::<Outcome>() <= 64, "small enough to copy");
    }

    #[test]
    fn an_example_quotes_the_answer_and_hides_secrets() {
        let mut secrets = Secrets::default();
        secrets.extend(&["s3cret".to_owned()]);
        let plan = request_plan(r#"expect = { body_contains = "s3cret!" }"#);
        let answered = |bytes_received| Outcome {
            status: Some(200),
            bytes_received,
            cause: Some(Cause::Expect(Mismatch::BodyLacksText)),
        };
        let cause = Cause::Expect(Mismatch::BodyLacksText);
        let example = ErrorExample::new(cause, &answered(9), &plan, b"key=s3cret", &secrets);
        assert_eq!(
            example,
            ErrorExample {
                kind: "expect".into(),
                status: Some(200),
                message: "the body does not contain `***!`".into(),
                body: Some("key=***".into()),
            }
        );
        // A long body is quoted up to its first bytes, and says it goes on.
        let long = vec![b'a'; 300];
        let example = ErrorExample::new(cause, &answered(300), &plan, &long, &secrets);
        assert_eq!(example.body, Some(format!("{}…", "a".repeat(EXAMPLE_BODY))));
        // A request without a whole answer quotes no body and no status, as before.
        let broken = Outcome {
            status: Some(200),
            bytes_received: 5,
            cause: Some(Cause::Broken(Broken::ClosedInBody)),
        };
        let cause = broken.cause.unwrap();
        let example = ErrorExample::new(cause, &broken, &plan, b"par", &secrets);
        assert_eq!(
            (example.kind.as_str(), example.status, example.body),
            ("io", None, None)
        );
    }
}
