//! One request, from the plan to an [`Outcome`]: rendered into bytes ([`build_request`]), sent
//! and its answer read within the timeout (`send`, the I/O), then judged (`classify`, pure:
//! status, `expect`, captures). A closed-model user's [`exchange`] also records it.

use std::sync::Mutex;

use reqwest::Method;
use reqwest::header::{COOKIE, HOST};
use tokio::time::Instant;
use url::{Position, Url};

use crate::net::connect::Target;
use crate::plan::RequestPlan;
use crate::plan::expect::{self, Source};
use crate::plan::template::RenderContext;
use crate::run::client::http1::Connection;
use crate::run::client::{self, Answer, BodySink};
use crate::run::cookies::Jar;
use crate::run::messages::{self, Messages, SseSink};
use crate::run::outcome::{Cause, EXAMPLE_BODY, ErrorExample, Outcome, StreamFault};
use crate::run::record::Timing;
use crate::run::shared::{Shared, Stripe};
use crate::run::sse::Malformed;
use crate::run::websocket::{self, Sockets};
use crate::spec::Pick;
use crate::support::sync::lock;

/// The most of an answer's body kept for `expect` and `capture`; the rest is drained uncounted
/// against memory. A longer JSON answer fails to parse, which is reported as such.
const MAX_KEPT_BODY: usize = 1 << 20;

/// Reused buffers of one user (or of one of the open model's senders, or its schedule thread).
#[derive(Default)]
pub struct Buffers {
    url: String,
    text: String,
    /// The request as written on the wire.
    pub request: Vec<u8>,
    /// What is kept of the answer's body (see `send`).
    pub body: Vec<u8>,
    /// A streamed answer's messages.
    pub messages: Messages,
    /// The WebSockets kept open across iterations (`websocket.reuse`, closed model).
    pub sockets: Sockets,
}

/// Who sends a request: the user's id, random stream, captured values, buffers, connection
/// and cookie jar (none in the open model, or with `cookies = false`).
pub struct User<'a> {
    pub id: u32,
    pub rng: &'a mut fastrand::Rng,
    pub vars: &'a mut [String],
    pub buffers: &'a mut Buffers,
    pub connection: &'a mut Connection,
    /// HTTP/2: the pool's connection this user shares (`None`: the least busy, open model).
    pub slot: Option<usize>,
    pub jar: Option<&'a mut Jar>,
}

/// One request of a closed-model user: rendered, sent, its answer checked (and captured), and
/// recorded. True when it succeeded.
pub async fn exchange(
    shared: &Shared,
    stripe: &Mutex<Stripe>,
    request_idx: usize,
    user: &mut User<'_>,
) -> bool {
    let built = build_request(shared, request_idx, user);
    let sent_at = Instant::now();
    let Buffers {
        request,
        body,
        messages,
        sockets,
        ..
    } = &mut *user.buffers;
    let request = built.map(|()| request.as_slice());
    let outcome = send_and_classify(
        shared,
        (user.connection, user.slot),
        request,
        request_idx,
        body,
        Answered {
            vars: user.vars,
            jar: user.jar.as_deref_mut(),
            messages,
            sockets: Some(sockets),
        },
    )
    .await;
    let plan = &shared.requests[request_idx];
    let timing = Timing {
        latency: sent_at.elapsed(),
        sending: None,
        messages: plan
            .stream
            .is_some()
            .then_some((sent_at, messages.arrivals.as_slice())),
    };
    let judged = sent_at >= shared.warmup_end();
    lock(stripe).record(judged, request_idx, timing, &outcome, |cause| {
        ErrorExample::new(cause, &outcome, plan, body, &shared.secrets)
    });
    outcome.cause.is_none()
}

/// Renders the request's templates into the bytes to send, in the user's buffer. Fails only
/// when a rendered URL or header is not valid HTTP, which is counted as an I/O error of that
/// request.
pub fn build_request(
    shared: &Shared,
    request_idx: usize,
    user: &mut User<'_>,
) -> Result<(), client::Invalid> {
    let plan = &shared.requests[request_idx];
    let row: &[String] = match &shared.data {
        Some(data) if plan.uses_row => {
            let n = data.rows.len();
            let index = match data.pick {
                Pick::Sequential => shared.counters.next_row(n),
                Pick::Random => user.rng.usize(..n),
                Pick::PerUser => (user.id as usize - 1) % n,
            };
            &data.rows[index]
        }
        _ => &[],
    };
    let mut ctx = RenderContext {
        seq: &shared.counters.seq,
        shard: shared.counters.shard,
        user_id: user.id,
        rng: user.rng,
        row,
        user_vars: user.vars,
    };
    let Buffers {
        url: url_buf,
        text: text_buf,
        request: out,
        ..
    } = &mut *user.buffers;
    let method = plan.method.as_str();
    let rendered;
    let target = match &shared.static_targets[request_idx] {
        Some(target) => target.as_str(),
        None => {
            url_buf.clear();
            url_buf.push_str(&shared.base_url);
            plan.path.render(&mut ctx, url_buf);
            rendered = Url::parse(url_buf).map_err(|_| client::Invalid)?;
            &rendered[Position::BeforePath..Position::AfterQuery]
        }
    };
    client::request_line(out, method, target);
    if !plan.headers.iter().any(|(name, _)| name == HOST) {
        client::header(out, HOST.as_str(), &shared.target.host)?;
    }
    if let Some(jar) = user.jar.as_deref_mut() {
        let own = || plan.headers.iter().any(|(name, _)| name == COOKIE);
        jar.before_request(&shared.base_url, target, own(), out)?;
    }
    for (name, value) in &plan.headers {
        text_buf.clear();
        value.render(&mut ctx, text_buf);
        client::header(out, name.as_str(), text_buf)?;
    }
    // The URL's buffer is free again.
    let body = render_body(plan, &mut ctx, text_buf, url_buf);
    client::finish(out, method, body);
    Ok(())
}

/// The request's body rendered into `text`, or a WebSocket's messages framed there (each
/// rendered into `scratch` first); `None` when it has neither.
fn render_body<'t>(
    plan: &RequestPlan,
    ctx: &mut RenderContext<'_>,
    text: &'t mut String,
    scratch: &mut String,
) -> Option<&'t [u8]> {
    text.clear();
    if let Some(body) = &plan.body {
        body.render(ctx, text);
    } else if plan.sends.is_empty() {
        return None;
    }
    for send in &plan.sends {
        scratch.clear();
        send.render(ctx, scratch);
        websocket::frame(text, scratch);
    }
    Some(text.as_bytes())
}

/// Where what an answer gives goes: captured values, cookies when the user has a jar, a
/// stream's messages, and a WebSocket kept open when the user keeps sockets.
pub struct Answered<'a> {
    pub vars: &'a mut [String],
    pub jar: Option<&'a mut Jar>,
    pub messages: &'a mut Messages,
    pub sockets: Option<&'a mut Sockets>,
}

/// Sends a built request and judges its answer; a request that could not be built (see
/// [`build_request`]) is an I/O error. `body` keeps what the checks and an error example read;
/// captured values and cookies go to `to`.
pub async fn send_and_classify(
    shared: &Shared,
    via: (&mut Connection, Option<usize>),
    request: Result<&[u8], client::Invalid>,
    request_idx: usize,
    body: &mut Vec<u8>,
    to: Answered<'_>,
) -> Outcome {
    let plan = &shared.requests[request_idx];
    let Ok(request) = request else {
        return Outcome::failed(Cause::Unsendable);
    };
    let set_cookies = to.jar.is_some();
    let kept = Kept {
        body,
        messages: to.messages,
        sockets: to.sockets,
        request_idx,
    };
    match send(shared, via, request, plan, kept, set_cookies).await {
        Ok((answer, malformed)) => {
            if let Some(jar) = to.jar {
                jar.after_answer(&shared.base_url, &answer.headers);
            }
            let mut outcome = classify(plan, &answer, body, to.vars);
            if let (None, Some(stream)) = (outcome.cause, &plan.stream) {
                outcome.cause = messages::judge(stream, &plan.expect, to.messages, malformed);
                if let Some(Cause::Expect(_)) = outcome.cause {
                    // What an example quotes of a last message `expect` refused.
                    body.clone_from(&to.messages.last.quote);
                }
            }
            outcome
        }
        Err(mut failed) => {
            // A stream that broke after an expected head broke early.
            if let (Some(Cause::Broken(broken)), Some(status), Some(_)) =
                (failed.cause, failed.status, &plan.stream)
                && plan.expect.accepts(status)
            {
                let got = u32::try_from(to.messages.arrivals.len()).unwrap_or(u32::MAX);
                failed.cause = Some(Cause::Stream(StreamFault::ClosedEarly { broken, got }));
            }
            failed
        }
    }
}

/// Sends the request and reads the answer within the request's timeout. The body is drained
/// (bytes counted, not kept) unless `expect` or `capture` reads it, or its status is unexpected
/// and an error example may quote it; what is kept goes to `body`.
async fn send(
    shared: &Shared,
    (connection, slot): (&mut Connection, Option<usize>),
    request: &[u8],
    plan: &RequestPlan,
    kept: Kept<'_>,
    set_cookies: bool,
) -> Result<(Answer, Option<Malformed>), Outcome> {
    let reads_body = plan.reads_body();
    let keep = |status| match (plan.expect.accepts(status), reads_body) {
        (false, _) => EXAMPLE_BODY,
        (true, true) => MAX_KEPT_BODY,
        (true, false) => 0,
    };
    let exchange = client::Exchange {
        request,
        head: plan.method == Method::HEAD,
        headers: captures_headers(plan),
        set_cookies,
        keep: &keep,
    };
    let Kept {
        body,
        messages,
        sockets,
        request_idx,
    } = kept;
    body.clear();
    let target = &shared.target;
    if let Some(websocket) = plan.websocket() {
        // A kept socket is taken: one whose exchange fails or times out is dropped, closed.
        let sockets = sockets.filter(|_| websocket.reuse);
        let kept = (sockets, request_idx);
        return send_websocket(target, plan, request, kept, messages).await;
    }
    let mut sink = plan.stream.as_ref().map(|_| SseSink::new(plan, messages));
    let answered = match &shared.http2 {
        // Planning keeps streams off HTTP/2.
        Some(pool) => {
            let exchanged = pool.exchange(target, slot, &exchange, body);
            tokio::time::timeout(plan.timeout, exchanged).await
        }
        None => {
            let sink = sink.as_mut().map(|s| s as &mut dyn BodySink);
            let exchanged = connection.exchange(target, &exchange, body, sink);
            tokio::time::timeout(plan.timeout, exchanged).await
        }
    };
    match answered {
        Ok(Ok(answer)) => Ok((answer, sink.and_then(|s| s.malformed))),
        Ok(Err(failure)) => Err(Outcome {
            status: failure.status,
            bytes_received: failure.bytes_received,
            cause: Some(Cause::Broken(failure.broken)),
        }),
        Err(_) => Err(Outcome::failed(Cause::Timeout(plan.timeout))),
    }
}

/// A WebSocket request within its timeout, on the user's kept socket for `request_idx` when
/// `sockets` holds one (taken: an exchange that fails or times out drops it), given back when
/// the plan reuses it.
async fn send_websocket(
    target: &Target,
    plan: &RequestPlan,
    request: &[u8],
    (mut sockets, request_idx): (Option<&mut Sockets>, usize),
    messages: &mut Messages,
) -> Result<(Answer, Option<Malformed>), Outcome> {
    let open = sockets.as_mut().and_then(|s| s.take(request_idx));
    let opened = websocket::exchange(target, plan, request, open, messages);
    match tokio::time::timeout(plan.timeout, opened).await {
        Ok(Ok((answer, kept))) => {
            if let (Some(sockets), Some(socket)) = (sockets, kept) {
                sockets.put(request_idx, socket);
            }
            Ok((answer, None))
        }
        Ok(Err(failed)) => Err(failed),
        Err(_) => Err(Outcome::failed(Cause::Timeout(plan.timeout))),
    }
}

/// Where an answer's body, a stream's messages and a kept WebSocket go.
struct Kept<'a> {
    body: &'a mut Vec<u8>,
    messages: &'a mut Messages,
    sockets: Option<&'a mut Sockets>,
    request_idx: usize,
}

/// What an answer comes to: its status accepted, then (when `expect` or `capture` reads them)
/// its body and headers checked, and captured values taken into `user_vars`.
fn classify(plan: &RequestPlan, answer: &Answer, body: &[u8], user_vars: &mut [String]) -> Outcome {
    let status = answer.status;
    let cause = if !accepts(plan, status) {
        Some(Cause::Status(status))
    } else if plan.reads_body() || captures_headers(plan) {
        expect::check(
            &plan.expect,
            &plan.captures,
            &answer.headers,
            body,
            user_vars,
        )
        .err()
        .map(Cause::Expect)
    } else {
        None
    };
    Outcome {
        status: Some(status),
        bytes_received: answer.bytes_received,
        cause,
    }
}

/// Whether `status` is what the request expects: a WebSocket's upgrade (101), else what
/// `expect.status` says.
fn accepts(plan: &RequestPlan, status: u16) -> bool {
    match plan.websocket() {
        Some(_) => status == 101,
        None => plan.expect.accepts(status),
    }
}

/// Whether a capture reads the answer's headers, which are then collected.
fn captures_headers(plan: &RequestPlan) -> bool {
    plan.captures
        .iter()
        .any(|c| matches!(c.source, Source::Header(_)))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use reqwest::header::HeaderMap;

    use super::*;
    use crate::plan::Overrides;
    use crate::plan::expect::Mismatch;

    /// The plan of one request `name = "r"`, `path = "/"`, with `more` keys; `${env.KEY}` is
    /// `s3cret`.
    pub fn request_plan(more: &str) -> RequestPlan {
        let text = format!(
            "name = \"t\"\n[load]\nusers = 1\nduration = \"1s\"\n\
             [[request]]\nname = \"r\"\npath = \"/\"\n{more}\n"
        );
        let env = |name: &str| (name == "KEY").then(|| "s3cret".to_owned());
        let plan = crate::plan::build(
            Path::new("t.toml"),
            &text,
            Path::new("."),
            &Overrides::default(),
            &env,
        );
        plan.unwrap().requests.remove(0)
    }

    fn answer(status: u16, header: Option<(&'static str, &'static str)>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some((name, value)) = header {
            headers.insert(name, value.parse().unwrap());
        }
        Answer {
            status,
            headers,
            bytes_received: 42,
        }
    }

    #[test]
    fn an_answer_is_classified_by_status_then_by_its_checks() {
        let json = r#"{"token": "t-1", "ok": true}"#;
        let header = Some(("x-session", "s1"));
        let cases: [(&str, Answer, &str, Option<Cause>, &str); 9] = [
            ("", answer(200, None), "", None, ""),
            ("", answer(204, None), "", None, ""),
            ("", answer(500, None), "oops", Some(Cause::Status(500)), ""),
            (
                "expect = { status = [201] }",
                answer(200, None),
                "",
                Some(Cause::Status(200)),
                "",
            ),
            (
                "expect = { status = [404] }",
                answer(404, None),
                "",
                None,
                "",
            ),
            (
                r#"expect = { body_contains = "fine" }"#,
                answer(200, None),
                "not good",
                Some(Cause::Expect(Mismatch::BodyLacksText)),
                "",
            ),
            (
                r#"expect = { json = { "$.ok" = false } }"#,
                answer(200, None),
                json,
                Some(Cause::Expect(Mismatch::JsonField(0))),
                "",
            ),
            (
                r#"capture = { token = "json:$.token" }"#,
                answer(200, None),
                json,
                None,
                "t-1",
            ),
            (
                r#"capture = { session = "header:X-Session" }"#,
                answer(200, header),
                "",
                None,
                "s1",
            ),
        ];
        for (more, answer, body, cause, captured) in cases {
            let plan = request_plan(more);
            let mut vars = vec![String::new(); plan.captures.len()];
            let outcome = classify(&plan, &answer, body.as_bytes(), &mut vars);
            let expected = Outcome {
                status: Some(answer.status),
                bytes_received: 42,
                cause,
            };
            assert_eq!(outcome, expected, "{more}");
            assert_eq!(vars.first().map_or("", String::as_str), captured, "{more}");
        }
        let missing = request_plan(r#"capture = { session = "header:X-Session" }"#);
        let outcome = classify(&missing, &answer(200, None), b"", &mut [String::new()]);
        assert_eq!(
            outcome.cause,
            Some(Cause::Expect(Mismatch::NothingToCapture(0)))
        );
    }
}
