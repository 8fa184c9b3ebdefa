//! One `[[request]]` or `[[on_start]]` → [`RequestPlan`]: its method, path, headers and body as
//! parsed templates, what a correct answer looks like, what it captures, and its timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use toml::Spanned;

use crate::plan::bounds::MAX_TIMEOUT;
use crate::plan::defaults;
use crate::plan::expect::{Capture, Expect, JsonPath, Source};
use crate::plan::template::{Escape, Names, Template};
use crate::spec::{ExpectSpec, Locator, RequestSpec, SpecError, WebSocketSpec};
use crate::support::units::DurationRange;

#[derive(Debug, Clone)]
pub struct RequestPlan {
    pub name: String,
    /// 0 for `[[on_start]]` requests: they are not part of the mix.
    pub weight: u32,
    pub method: Method,
    pub path: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<Template>,
    /// A WebSocket's messages to send, in order (`websocket.send`).
    pub sends: Vec<Template>,
    pub expect: Expect,
    pub captures: Vec<Capture>,
    /// Whether a template of the request names a column of the data file.
    pub uses_row: bool,
    pub timeout: Duration,
    /// A flow step's own pause after its answer; `None`: `[load] think_time`.
    pub think: Option<DurationRange>,
    /// The answer is a stream of messages, timed one by one.
    pub stream: Option<StreamPlan>,
}

/// How a request's answer streams, and how much of it to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPlan {
    pub protocol: StreamProtocol,
    /// Read until this many messages arrived; `None`: until the stream ends.
    pub messages: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamProtocol {
    /// Server-Sent Events: a `text/event-stream` body.
    Sse,
    /// A WebSocket. The messages to send are the request's `sends`.
    WebSocket(WebSocketPlan),
}

/// How a WebSocket request sends, and whether its socket outlives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebSocketPlan {
    /// Messages go as binary frames, not text.
    pub binary: bool,
    /// The socket stays open for the user's next iteration.
    pub reuse: bool,
}

/// The `Sec-WebSocket-Protocol` header that `websocket.protocols` becomes.
const SUBPROTOCOL: HeaderName = HeaderName::from_static("sec-websocket-protocol");

impl RequestPlan {
    /// Whether the answer's body is read and kept (up to a limit), not just drained.
    pub fn reads_body(&self) -> bool {
        self.expect.reads_body()
            || self
                .captures
                .iter()
                .any(|c| matches!(c.source, Source::Json(_)))
    }

    /// The path, the header values, the body and a WebSocket's messages.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        std::iter::once(&self.path)
            .chain(self.headers.iter().map(|(_, value)| value))
            .chain(&self.body)
            .chain(&self.sends)
    }

    /// The WebSocket's plan, when the request opens one.
    pub fn websocket(&self) -> Option<&WebSocketPlan> {
        match &self.stream.as_ref()?.protocol {
            StreamProtocol::WebSocket(websocket) => Some(websocket),
            StreamProtocol::Sse => None,
        }
    }
}

/// Plans one request, part by part. `names` are what
/// its templates may name; `[defaults]` gives the headers and timeout it does not set itself.
pub(super) fn plan_request(
    request: &RequestSpec,
    default_headers: &BTreeMap<String, Spanned<String>>,
    default_timeout: Duration,
    names: &Names<'_>,
    at: &Locator<'_>,
) -> Result<RequestPlan, SpecError> {
    let name = request.name.get_ref().clone();
    if name.is_empty() {
        return at.fail(request.name.span(), "a request name cannot be empty");
    }
    let weight = plan_weight(request.weight.as_ref(), at)?;
    let method = plan_method(request.method.as_ref(), at)?;
    let path = plan_path(&request.path, names, at)?;
    let mut headers = plan_headers(default_headers, &request.headers, names, at)?;
    let body = plan_body(request, &mut headers, names, at)?;
    let sends = match &request.websocket {
        Some(websocket) => plan_sends(websocket, &mut headers, names, at)?,
        None => Vec::new(),
    };
    let expect = match &request.expect {
        Some(expect) => plan_expect(expect, at)?,
        None => Expect::default(),
    };
    let captures = plan_captures(&request.capture, names.captures, at)?;
    let timeout = plan_timeout(request, default_timeout, at)?;
    let stream = plan_stream(request, &expect, at)?;
    let mut planned = RequestPlan {
        name,
        weight,
        method,
        path,
        headers,
        body,
        sends,
        expect,
        captures,
        uses_row: false,
        timeout,
        think: request.think.as_ref().map(|t| *t.get_ref()),
        stream,
    };
    if planned.stream.is_some() && planned.reads_body() {
        return at.fail(
            request.name.span(),
            "a stream's body is read event by event, not kept: capture from its headers only",
        );
    }
    let uses_row = planned.templates().any(Template::uses_row);
    planned.uses_row = uses_row;
    Ok(planned)
}

/// A template written at `value`'s place, its mistakes located there.
fn parse_template(
    value: &Spanned<String>,
    escape: Escape,
    names: &Names<'_>,
    at: &Locator<'_>,
) -> Result<Template, SpecError> {
    Template::parse(value.get_ref(), escape, names).map_err(|e| at.error(value.span(), e))
}

pub(super) fn plan_weight(
    weight: Option<&Spanned<u32>>,
    at: &Locator<'_>,
) -> Result<u32, SpecError> {
    match weight {
        Some(weight) if *weight.get_ref() == 0 => at.fail(
            weight.span(),
            "weight must be at least 1 (remove the request to stop sending it)",
        ),
        Some(weight) => Ok(*weight.get_ref()),
        None => Ok(defaults::WEIGHT),
    }
}

/// Any case is accepted: `post` is sent as `POST`.
fn plan_method(method: Option<&Spanned<String>>, at: &Locator<'_>) -> Result<Method, SpecError> {
    let Some(method) = method else {
        return Ok(
            Method::from_bytes(defaults::METHOD.as_bytes()).expect("the default method is valid")
        );
    };
    Method::from_bytes(method.get_ref().to_ascii_uppercase().as_bytes()).map_err(|_| {
        at.error(
            method.span(),
            format!("`{}` is not an HTTP method", method.get_ref()),
        )
    })
}

fn plan_path(
    path: &Spanned<String>,
    names: &Names<'_>,
    at: &Locator<'_>,
) -> Result<Template, SpecError> {
    if !path.get_ref().starts_with('/') {
        return at.fail(
            path.span(),
            format!(
                "`{}` must be a path starting with / (the host comes from the service or --target)",
                path.get_ref()
            ),
        );
    }
    parse_template(path, Escape::None, names, at)
}

/// `[defaults] headers` the request does not set itself, then the request's own. A value
/// without templates is checked now; a rendered one is the service's to judge.
fn plan_headers(
    default_headers: &BTreeMap<String, Spanned<String>>,
    own_headers: &BTreeMap<String, Spanned<String>>,
    names: &Names<'_>,
    at: &Locator<'_>,
) -> Result<Vec<(HeaderName, Template)>, SpecError> {
    let mut headers = Vec::new();
    for (key, value) in default_headers
        .iter()
        .filter(|(k, _)| !own_headers.contains_key(*k))
        .chain(own_headers)
    {
        let header = HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| at.error(value.span(), format!("`{key}` is not a header name")))?;
        let value_template = parse_template(value, Escape::None, names, at)?;
        if let Some(text) = value_template.as_static() {
            HeaderValue::from_str(text).map_err(|_| {
                at.error(
                    value.span(),
                    format!("the value of header `{key}` is not valid in HTTP"),
                )
            })?;
        }
        headers.push((header, value_template));
    }
    Ok(headers)
}

/// `json` (encoded, its strings escaped when rendered, sent as application/json unless a header
/// says otherwise) or `body` (text as written).
fn plan_body(
    request: &RequestSpec,
    headers: &mut Vec<(HeaderName, Template)>,
    names: &Names<'_>,
    at: &Locator<'_>,
) -> Result<Option<Template>, SpecError> {
    match (&request.json, &request.body) {
        (Some(_), Some(body)) => at.fail(body.span(), "give either `json` or `body`, not both"),
        (Some(json), None) => {
            let text = serde_json::to_string(json.get_ref())
                .map_err(|e| at.error(json.span(), format!("cannot encode as JSON: {e}")))?;
            if !headers.iter().any(|(name, _)| name == CONTENT_TYPE) {
                headers.push((
                    CONTENT_TYPE,
                    Template::parse("application/json", Escape::None, names).expect("static"),
                ));
            }
            let body = Template::parse(&text, Escape::JsonString, names)
                .map_err(|e| at.error(json.span(), e))?;
            Ok(Some(body))
        }
        (None, Some(body)) => Ok(Some(parse_template(body, Escape::None, names, at)?)),
        (None, None) => Ok(None),
    }
}

fn plan_expect(expect: &ExpectSpec, at: &Locator<'_>) -> Result<Expect, SpecError> {
    let status = match &expect.status {
        Some(status) => {
            let statuses = status.get_ref();
            if statuses.is_empty() || statuses.iter().any(|s| !(100..=599).contains(s)) {
                return at.fail(
                    status.span(),
                    "expect.status takes a non-empty list of HTTP status codes (100-599)",
                );
            }
            Some(statuses.clone())
        }
        None => None,
    };
    let json = expect
        .json
        .iter()
        .map(|(path, value)| {
            let path = JsonPath::parse(path).map_err(|e| at.error(value.span(), e))?;
            let value = serde_json::to_value(value.get_ref())
                .map_err(|e| at.error(value.span(), format!("cannot compare as JSON: {e}")))?;
            Ok((path, value))
        })
        .collect::<Result<_, SpecError>>()?;
    Ok(Expect {
        status,
        body_contains: expect.body_contains.as_ref().map(|b| b.get_ref().clone()),
        json,
        min_messages: plan_messages(expect.min_messages.as_ref(), at)?,
        last_event: expect.last_event.as_ref().map(|e| e.get_ref().clone()),
        last_message_contains: expect
            .last_message_contains
            .as_ref()
            .map(|c| c.get_ref().clone()),
    })
}

/// `websocket.send` (one message or several, each a template) and `websocket.protocols`, which
/// is sent as the handshake's `Sec-WebSocket-Protocol` header.
fn plan_sends(
    websocket: &Spanned<WebSocketSpec>,
    headers: &mut Vec<(HeaderName, Template)>,
    names: &Names<'_>,
    at: &Locator<'_>,
) -> Result<Vec<Template>, SpecError> {
    let written = websocket.get_ref();
    if let Some(protocols) = &written.protocols {
        let offered = protocols.get_ref();
        let token =
            |p: &String| !p.is_empty() && p.bytes().all(|b| b.is_ascii_graphic() && b != b',');
        if offered.is_empty() || !offered.iter().all(token) {
            return at.fail(
                protocols.span(),
                "websocket.protocols takes a non-empty list of subprotocol names (no spaces or commas)",
            );
        }
        if headers.iter().any(|(name, _)| *name == SUBPROTOCOL) {
            return at.fail(
                protocols.span(),
                "give either `websocket.protocols` or a `Sec-WebSocket-Protocol` header, not both",
            );
        }
        let value = Template::parse(&offered.join(", "), Escape::None, names)
            .map_err(|e| at.error(protocols.span(), e))?;
        headers.push((SUBPROTOCOL, value));
    }
    let Some(send) = &written.send else {
        return Ok(Vec::new());
    };
    if send.get_ref().0.is_empty() {
        return at.fail(
            send.span(),
            "websocket.send takes a message or a non-empty list",
        );
    }
    send.get_ref()
        .0
        .iter()
        .map(|message| {
            Template::parse(message, Escape::None, names).map_err(|e| at.error(send.span(), e))
        })
        .collect()
}

/// Each captured value goes to the slot of its name among every capture of the spec.
fn plan_captures(
    written: &BTreeMap<String, Spanned<String>>,
    slots: &[String],
    at: &Locator<'_>,
) -> Result<Vec<Capture>, SpecError> {
    written
        .iter()
        .map(|(name, source)| {
            Ok(Capture {
                name: name.clone(),
                slot: slots
                    .iter()
                    .position(|c| c == name)
                    .expect("every capture name was collected"),
                source: Source::parse(source.get_ref()).map_err(|e| at.error(source.span(), e))?,
            })
        })
        .collect()
}

/// `stream` and `messages`. A stream's body is its events, read and timed, never kept: `expect`
/// on the body does not apply to it.
fn plan_stream(
    request: &RequestSpec,
    expect: &Expect,
    at: &Locator<'_>,
) -> Result<Option<StreamPlan>, SpecError> {
    if let Some(websocket) = &request.websocket {
        return plan_websocket(request, websocket, at).map(Some);
    }
    let Some(stream) = &request.stream else {
        return match &request.messages {
            Some(messages) => at.fail(
                messages.span(),
                "`messages` counts a stream's messages: add `stream = \"sse\"` to the request",
            ),
            None => stream_expect_on_no_stream(request, at).map(|()| None),
        };
    };
    let protocol = match stream.get_ref().as_str() {
        "sse" => StreamProtocol::Sse,
        other => {
            return at.fail(
                stream.span(),
                format!("`stream = \"{other}\"` is not a stream loadgate reads: use \"sse\""),
            );
        }
    };
    if expect.body_contains.is_some() || !expect.json.is_empty() {
        return at.fail(
            request.name.span(),
            "a stream's body is read event by event, not kept: `expect.body_contains` and \
             `expect.json` do not apply (count its events with `messages`)",
        );
    }
    let messages = plan_messages(request.messages.as_ref(), at)?;
    plan_stream_expect(request, messages, &protocol, at)?;
    Ok(Some(StreamPlan { protocol, messages }))
}

/// `expect`'s stream keys: on a stream only, `min_messages` within `messages`, `last_event` on
/// Server-Sent Events only.
fn plan_stream_expect(
    request: &RequestSpec,
    messages: Option<u32>,
    protocol: &StreamProtocol,
    at: &Locator<'_>,
) -> Result<(), SpecError> {
    let Some(expect) = &request.expect else {
        return Ok(());
    };
    if let (Some(min), Some(messages)) = (&expect.min_messages, messages)
        && *min.get_ref() > messages
    {
        return at.fail(
            min.span(),
            format!(
                "expect.min_messages ({}) is more than `messages` ({messages}), where reading stops",
                min.get_ref()
            ),
        );
    }
    if let (Some(last_event), StreamProtocol::WebSocket(_)) = (&expect.last_event, protocol) {
        return at.fail(
            last_event.span(),
            "expect.last_event names a Server-Sent event; a WebSocket message has no name \
             (use expect.last_message_contains)",
        );
    }
    Ok(())
}

/// The first of `expect`'s stream keys, on a request that is no stream.
fn stream_expect_on_no_stream(request: &RequestSpec, at: &Locator<'_>) -> Result<(), SpecError> {
    let Some(expect) = &request.expect else {
        return Ok(());
    };
    let span = (expect.min_messages.as_ref().map(Spanned::span))
        .or(expect.last_event.as_ref().map(Spanned::span))
        .or(expect.last_message_contains.as_ref().map(Spanned::span));
    match span {
        Some(span) => at.fail(
            span,
            "expect.min_messages, last_event and last_message_contains judge a stream: \
             add `stream = \"sse\"` or `websocket` to the request",
        ),
        None => Ok(()),
    }
}

fn plan_messages(
    messages: Option<&Spanned<u32>>,
    at: &Locator<'_>,
) -> Result<Option<u32>, SpecError> {
    match messages {
        Some(messages) if *messages.get_ref() == 0 => {
            at.fail(messages.span(), "messages must be at least 1")
        }
        Some(messages) => Ok(Some(*messages.get_ref())),
        None => Ok(None),
    }
}

/// `websocket = { send, messages, binary, protocols, reuse }`: a GET that upgrades, with no
/// body of its own (`send` is planned as the request's `sends`).
fn plan_websocket(
    request: &RequestSpec,
    websocket: &Spanned<WebSocketSpec>,
    at: &Locator<'_>,
) -> Result<StreamPlan, SpecError> {
    let clash = if request.stream.is_some() {
        Some("`stream`")
    } else if request.body.is_some() || request.json.is_some() {
        Some("`body` or `json` (the message to send is `websocket.send`)")
    } else if request
        .method
        .as_ref()
        .is_some_and(|m| !m.get_ref().eq_ignore_ascii_case("GET"))
    {
        Some("a `method` other than GET")
    } else if request.messages.is_some() {
        Some("`messages` outside it (write `websocket = { messages = N }`)")
    } else {
        None
    };
    if let Some(clash) = clash {
        return at.fail(
            websocket.span(),
            format!("a `websocket` request cannot also have {clash}"),
        );
    }
    let written = websocket.get_ref();
    let flag = |key: &Option<Spanned<bool>>| key.as_ref().is_some_and(|k| *k.get_ref());
    let protocol = StreamProtocol::WebSocket(WebSocketPlan {
        binary: flag(&written.binary),
        reuse: flag(&written.reuse),
    });
    let messages = plan_messages(written.messages.as_ref(), at)?;
    plan_stream_expect(request, messages, &protocol, at)?;
    Ok(StreamPlan { protocol, messages })
}

fn plan_timeout(
    request: &RequestSpec,
    default_timeout: Duration,
    at: &Locator<'_>,
) -> Result<Duration, SpecError> {
    let timeout = request.timeout.map_or(default_timeout, |d| d.0);
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return at.fail(
            request.name.span(),
            format!(
                "request timeout must be between 1ms and {}s",
                MAX_TIMEOUT.as_secs()
            ),
        );
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::plan::fixtures::{SPEC, plan};
    use crate::plan::{Overrides, build};

    #[test]
    fn a_stream_is_planned_or_its_mistake_located() {
        let stream = plan(&SPEC.replace(
            "path = \"/\"",
            "path = \"/\"\nstream = \"sse\"\nmessages = 3",
        ))
        .unwrap();
        let planned = stream.requests.iter().find_map(|r| r.stream.as_ref());
        assert_eq!(
            planned,
            Some(&crate::plan::StreamPlan {
                protocol: crate::plan::StreamProtocol::Sse,
                messages: Some(3)
            })
        );
        let cases = [
            ("messages = 3", "`messages` counts a stream's messages"),
            (
                "stream = \"ws\"",
                "`stream = \"ws\"` is not a stream loadgate reads",
            ),
            (
                "stream = \"sse\"\nmessages = 0",
                "messages must be at least 1",
            ),
            (
                "stream = \"sse\"\nexpect = { body_contains = \"x\" }",
                "`expect.body_contains` and `expect.json` do not apply",
            ),
        ];
        for (keys, message) in cases {
            let text = SPEC.replace("path = \"/\"", &format!("path = \"/\"\n{keys}"));
            let err = plan(&text).unwrap_err();
            assert!(err.message.contains(message), "{keys}: {err}");
        }
        let websocket = "websocket = { send = \"hi ${seq}\", messages = 2 }";
        let planned =
            plan(&SPEC.replace("path = \"/\"", &format!("path = \"/\"\n{websocket}"))).unwrap();
        let home = planned.requests.iter().find(|r| r.name == "home").unwrap();
        assert_eq!(
            home.stream.as_ref().unwrap().protocol,
            crate::plan::StreamProtocol::WebSocket(super::WebSocketPlan::default())
        );
        assert_eq!(home.stream.as_ref().unwrap().messages, Some(2));
        assert!(
            home.body.is_none() && home.sends.len() == 1,
            "the message to send is planned as the request's sends"
        );
        for clash in [
            "method = \"post\"",
            "stream = \"sse\"",
            "body = \"x\"",
            "messages = 3",
        ] {
            let text = SPEC.replace(
                "path = \"/\"",
                &format!("path = \"/\"\n{websocket}\n{clash}"),
            );
            let err = plan(&text).unwrap_err();
            assert!(
                err.message
                    .contains("a `websocket` request cannot also have"),
                "{clash}: {err}"
            );
        }
        let http2 = SPEC
            .replace("users = 4", "users = 4\nhttp = \"2\"")
            .replace("path = \"/\"", "path = \"/\"\nstream = \"sse\"");
        let err = plan(&http2).unwrap_err();
        assert!(err.message.contains("read over HTTP/1.1"), "{err}");
        let gated = SPEC.replace("[gate]", "[gate]\nfirst_message_p50 = { max = \"1s\" }");
        let err = plan(&gated).unwrap_err();
        assert!(
            err.message
                .contains("first_message_p50 times a stream's messages, but no request"),
            "{err}"
        );
    }

    #[test]
    fn a_stream_s_expect_and_a_websocket_s_options_are_planned_or_located() {
        let with = |keys: &str| SPEC.replace("path = \"/\"", &format!("path = \"/\"\n{keys}"));
        let planned = plan(&with(
            "websocket = { send = [\"init\", \"sub ${seq}\"], binary = true, reuse = true, \
             protocols = [\"graphql-ws\", \"v2\"], messages = 3 }\n\
             expect = { min_messages = 2, last_message_contains = \"done\" }",
        ))
        .unwrap();
        let home = planned.requests.iter().find(|r| r.name == "home").unwrap();
        assert_eq!(home.sends.len(), 2);
        assert_eq!(
            home.websocket(),
            Some(&super::WebSocketPlan {
                binary: true,
                reuse: true
            })
        );
        let offered = home
            .headers
            .iter()
            .find(|(name, _)| *name == super::SUBPROTOCOL);
        assert_eq!(offered.unwrap().1.as_static(), Some("graphql-ws, v2"));
        assert_eq!(home.expect.min_messages, Some(2));
        assert_eq!(home.expect.last_message_contains.as_deref(), Some("done"));
        let planned = plan(&with(
            "stream = \"sse\"\nexpect = { last_event = \"done\", min_messages = 1 }",
        ))
        .unwrap();
        let home = planned.requests.iter().find(|r| r.name == "home").unwrap();
        assert_eq!(home.expect.last_event.as_deref(), Some("done"));

        let cases = [
            (
                "expect = { min_messages = 2 }",
                "expect.min_messages",
                "judge a stream",
            ),
            (
                "expect = { last_event = \"x\" }",
                "expect.last_event",
                "judge a stream",
            ),
            (
                "stream = \"sse\"\nmessages = 2\nexpect = { min_messages = 3 }",
                "expect.min_messages",
                "is more than `messages` (2)",
            ),
            (
                "stream = \"sse\"\nexpect = { min_messages = 0 }",
                "expect.min_messages",
                "at least 1",
            ),
            (
                "websocket = { send = \"x\" }\nexpect = { last_event = \"done\" }",
                "expect.last_event",
                "a WebSocket message has no name",
            ),
            (
                "websocket = { send = [] }",
                "websocket.send",
                "a non-empty list",
            ),
            (
                "websocket = { send = 5 }",
                "websocket.send",
                "a message (a string) or a list",
            ),
            (
                "websocket = { protocols = [\"a b\"] }",
                "websocket.protocols",
                "subprotocol names",
            ),
            (
                "websocket = { protocols = [\"v1\"] }\nheaders = { Sec-WebSocket-Protocol = \"v1\" }",
                "websocket.protocols",
                "not both",
            ),
            (
                "websocket = { binary = 1 }",
                "websocket.binary",
                "a boolean",
            ),
        ];
        for (keys, key, message) in cases {
            let err = plan(&with(keys)).unwrap_err();
            assert!(err.message.contains(message), "{keys}: {err}");
            assert!(err.line > 0, "{keys}: {err}");
            assert_eq!(err.key, Some(format!("request.{key}")), "{keys}: {err}");
        }
        let open = with("websocket = { send = \"x\", reuse = true }").replace(
            "users = 4\nthink_time = \"10ms..20ms\"",
            "model = \"open\"\nrate = 10",
        );
        let err = plan(&open).unwrap_err();
        assert!(err.message.contains("it needs the closed model"), "{err}");
        assert_eq!(err.key.as_deref(), Some("request.websocket.reuse"), "{err}");
    }

    #[test]
    fn a_missing_env_variable_fails_planning() {
        let text = SPEC.replace(
            "X-Team = \"perf\"",
            "Authorization = \"Bearer ${env.API_TOKEN}\"",
        );
        let err = plan(&text).unwrap_err();
        assert!(err.message.contains("`API_TOKEN` is not set"), "{err}");
        let env = |name: &str| (name == "API_TOKEN").then(|| "t0k".to_owned());
        let plan = build(
            Path::new("x.toml"),
            &text,
            Path::new("."),
            &Overrides::default(),
            &env,
        )
        .unwrap();
        assert_eq!(
            plan.requests[0].headers[0].1.as_static(),
            Some("Bearer t0k")
        );
    }
}
