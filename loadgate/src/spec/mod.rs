//! A load spec as the user wrote it (TOML), and the errors that point back into the file.
//!
//! Takes the text of a spec file; gives a [`SpecFile`] or a [`SpecError`] naming file, line,
//! column and key. Nothing here is validated beyond shape: `plan` turns a `SpecFile` into a
//! runnable `Plan`, and a `SpecFile` never travels further than that.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::support::units::{DurationRange, HumanDuration, Percent, Quantity};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// Seed of the random streams (request mix, think time, templates), so a run can be repeated.
    pub seed: Option<u64>,
    /// Run the load this many times (rounds) and judge each metric over the rounds.
    #[schemars(with = "Option<u32>")]
    pub rounds: Option<Spanned<u32>>,
    /// Let `--target` point at an address that is not loopback (someone else's server).
    pub allow_remote: Option<bool>,
    /// Let the load exceed the sane bounds (5 000 users, 50 000 requests/s, 30 minutes).
    pub allow_large_load: Option<bool>,
    pub service: Option<ServiceSpec>,
    /// How the generator and the readiness probe trust an `https://` service.
    pub tls: Option<TlsSpec>,
    #[schemars(with = "LoadSpec")]
    pub load: Spanned<LoadSpec>,
    #[serde(default)]
    pub defaults: DefaultsSpec,
    #[serde(default, rename = "request")]
    #[schemars(with = "Vec<RequestSpec>")]
    pub requests: Vec<Spanned<RequestSpec>>,
    /// Requests each user sends once, in order, before its first request of the mix (closed
    /// model): a login whose answer is captured for the requests that follow.
    #[serde(default)]
    #[schemars(with = "Vec<RequestSpec>")]
    pub on_start: Vec<Spanned<RequestSpec>>,
    /// Ordered flows (closed model): each iteration of a user picks a flow or a request by
    /// weight and sends the flow's steps in order, captures flowing from step to step.
    #[serde(default, rename = "flow")]
    #[schemars(with = "Vec<FlowSpec>")]
    pub flows: Vec<Spanned<FlowSpec>>,
    /// Rows of test data for `${row.COLUMN}`.
    #[schemars(with = "Option<DataSpec>")]
    pub data: Option<Spanned<DataSpec>>,
    // `None` when the spec has no `[gate]` table: `plan` gives it the default checks; an empty
    // `[gate]` checks nothing. (A comment, not a doc comment: it would enter the schema.)
    #[serde(default)]
    #[schemars(with = "GateSpec")]
    pub gate: Option<GateSpec>,
    #[schemars(with = "Option<SweepSpec>")]
    pub sweep: Option<Spanned<SweepSpec>>,
    /// Count each request's cost in instructions: after the load, the service is launched again
    /// under Valgrind's Callgrind and each request name is sent one at a time.
    #[schemars(with = "Option<CostSpec>")]
    pub cost: Option<Spanned<CostSpec>>,
}

/// `[cost]`: how many requests of each name are counted under Callgrind, and what is kept.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    /// Requests of each name counted, one at a time over one connection. Default 1000.
    #[schemars(with = "Option<u32>")]
    pub requests: Option<Spanned<u32>>,
    /// Requests of each name sent first and not counted (caches, lazy statics). Default 20.
    #[schemars(with = "Option<u32>")]
    pub warmup_requests: Option<Spanned<u32>>,
    /// How many functions per request name are kept, by self instructions. Default 100.
    #[schemars(with = "Option<u32>")]
    pub functions: Option<Spanned<u32>>,
    /// Request names not counted (too slow under Valgrind, say).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub exclude: Vec<Spanned<String>>,
    /// How long the service may take to become ready under Valgrind. Default 120s.
    pub ready_timeout: Option<HumanDuration>,
}

/// A capacity sweep: the load of `[load]` at each of these user counts (closed) or rates (open).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    #[schemars(with = "Option<Vec<u32>>")]
    pub users: Option<Spanned<Vec<u32>>>,
    #[schemars(with = "Option<Vec<f64>>")]
    pub rates: Option<Spanned<Vec<f64>>>,
    /// Each step's judged duration; `[load] duration` when omitted.
    pub step: Option<HumanDuration>,
    #[serde(default)]
    pub limit: SweepLimitSpec,
}

/// What a step must stay within to count towards the capacity.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepLimitSpec {
    #[schemars(with = "Option<HumanDuration>")]
    pub p50: Option<Spanned<HumanDuration>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub p90: Option<Spanned<HumanDuration>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub p99: Option<Spanned<HumanDuration>>,
    #[schemars(with = "Option<Percent>")]
    pub error_rate: Option<Spanned<Percent>>,
}

/// A data file: CSV with a header line, or JSON lines (one object per line).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Relative to the project root.
    #[schemars(with = "String")]
    pub file: Spanned<String>,
    #[serde(default)]
    pub pick: Pick,
}

/// Which row of the data file a request uses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// One row after the other, shared by all users, starting over at the end.
    #[default]
    Sequential,
    /// A row drawn from the seeded stream for every request.
    Random,
    /// User N keeps row N (wrapping around) for the whole run.
    PerUser,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    #[schemars(with = "Vec<String>")]
    pub command: Spanned<Vec<String>>,
    /// Takes `${env.NAME}` templates, so the service gets the secret the requests send.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub env: BTreeMap<String, Spanned<String>>,
    pub ready: Option<ReadySpec>,
    pub stop_grace: Option<HumanDuration>,
    /// The service's base URL, `{port}` replaced by its port: `https://localhost:{port}` for a
    /// service that serves TLS. Default `http://127.0.0.1:{port}`.
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
}

/// `[tls]`: the platform's roots are trusted unless `insecure`; `ca` adds one.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// A PEM file of certificates to trust besides the platform's, relative to the repository
    /// root: CA certificates (a dev CA), or the service's own certificate (a self-signed one,
    /// `CA:TRUE` or not), trusted as itself with its dates and names still checked.
    #[schemars(with = "Option<String>")]
    pub ca: Option<Spanned<String>>,
    /// Trust any certificate (a local self-signed one): every report says so.
    pub insecure: Option<bool>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    #[schemars(with = "Option<String>")]
    pub http: Option<Spanned<String>>,
    pub timeout: Option<HumanDuration>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    #[serde(default)]
    pub model: Model,
    /// Closed model: the number of users.
    #[schemars(with = "Option<u32>")]
    pub users: Option<Spanned<u32>>,
    #[schemars(with = "Option<HumanDuration>")]
    pub ramp_up: Option<Spanned<HumanDuration>>,
    #[schemars(with = "Option<DurationRange>")]
    pub think_time: Option<Spanned<DurationRange>>,
    /// Open model: requests per second.
    #[schemars(with = "Option<f64>")]
    pub rate: Option<Spanned<f64>>,
    /// Open model: the most requests in flight at once.
    #[schemars(with = "Option<u32>")]
    pub max_in_flight: Option<Spanned<u32>>,
    pub warmup: Option<HumanDuration>,
    /// Required unless `stages` give the run's length.
    #[schemars(with = "Option<HumanDuration>")]
    pub duration: Option<Spanned<HumanDuration>>,
    /// Levels to ramp to, one after the other, linearly: users (closed) or rates (open).
    #[schemars(with = "Option<Vec<StageSpec>>")]
    pub stages: Option<Spanned<Vec<StageSpec>>>,
    /// The HTTP version the generator speaks: "1.1" (default) or "2" (ALPN over TLS, prior
    /// knowledge (h2c) over `http://`).
    #[schemars(with = "Option<HttpVersion>")]
    pub http: Option<Spanned<HttpVersion>>,
    /// HTTP/2: concurrent requests (streams) per connection; users (closed) or requests in
    /// flight (open) share connections this many at a time. Default 1.
    #[schemars(with = "Option<u32>")]
    pub streams_per_connection: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum HttpVersion {
    #[default]
    #[serde(rename = "1.1")]
    Http1,
    #[serde(rename = "2")]
    Http2,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub duration: HumanDuration,
    pub users: Option<u32>,
    pub rate: Option<f64>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// A fixed number of users, each sending a request, waiting for the answer, then thinking.
    #[default]
    Closed,
    /// Requests arrive at a fixed rate whatever the service does; latency is measured from each
    /// request's intended send time, so a stalled service cannot hide it (coordinated omission).
    Open,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    pub timeout: Option<HumanDuration>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// A cookie jar per user (closed model), filled by `Set-Cookie` and sent as `Cookie`; on
    /// unless `false`.
    pub cookies: Option<bool>,
}

/// An ordered flow: its steps run in order in one iteration; a failed step ends the iteration.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// Names the flow; each step's statistics are named `FLOW/STEP`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Weight among the flows and `[[request]]`s of the mix.
    #[schemars(with = "Option<u32>")]
    pub weight: Option<Spanned<u32>>,
    #[serde(default, rename = "step")]
    #[schemars(with = "Vec<RequestSpec>")]
    pub steps: Vec<Spanned<RequestSpec>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    #[schemars(with = "Option<u32>")]
    pub weight: Option<Spanned<u32>>,
    #[schemars(with = "Option<String>")]
    pub method: Option<Spanned<String>>,
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    #[schemars(with = "Option<serde_json::Value>")]
    pub json: Option<Spanned<toml::Value>>,
    #[schemars(with = "Option<String>")]
    pub body: Option<Spanned<String>>,
    pub expect: Option<ExpectSpec>,
    pub timeout: Option<HumanDuration>,
    /// Values taken from the answer for `${user.NAME}`: `"json:$.path"` or `"header:Name"`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub capture: BTreeMap<String, Spanned<String>>,
    /// A `[[flow.step]]`'s pause after its answer, instead of `[load] think_time`.
    #[schemars(with = "Option<DurationRange>")]
    pub think: Option<Spanned<DurationRange>>,
    /// `"sse"`: the answer is a `text/event-stream`, read event by event, each timed
    /// (`first_message`, `message_gap`); the whole stream is the request's latency.
    #[schemars(with = "Option<String>")]
    pub stream: Option<Spanned<String>>,
    /// A stream's messages to read before it counts as answered (fewer, when the stream ends,
    /// is an error); unset: every message until the stream ends.
    #[schemars(with = "Option<u32>")]
    pub messages: Option<Spanned<u32>>,
    /// A WebSocket on the request's path (`ws://`, or `wss://` for an `https://` service):
    /// `send` once opened, then read `messages`, each timed like a stream's.
    #[schemars(with = "Option<WebSocketSpec>")]
    pub websocket: Option<Spanned<WebSocketSpec>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSpec {
    /// The message sent once the socket is open, or a list of them, sent in order (each
    /// templated like a body).
    #[schemars(with = "Option<Sends>")]
    pub send: Option<Spanned<Sends>>,
    /// Messages to read before the socket counts as answered; unset: until the service closes.
    #[schemars(with = "Option<u32>")]
    pub messages: Option<Spanned<u32>>,
    /// Send each message as a binary frame (its rendered bytes) instead of a text frame.
    #[schemars(with = "Option<bool>")]
    pub binary: Option<Spanned<bool>>,
    /// Subprotocols offered in the handshake (`Sec-WebSocket-Protocol`); the service must pick
    /// one of them.
    #[schemars(with = "Option<Vec<String>>")]
    pub protocols: Option<Spanned<Vec<String>>>,
    /// Keep the socket open across the user's iterations (closed model): the first opens it,
    /// the next ones send and read on it.
    #[schemars(with = "Option<bool>")]
    pub reuse: Option<Spanned<bool>>,
}

/// `websocket.send`: one message, or a list of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sends(pub Vec<String>);

impl schemars::JsonSchema for Sends {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Sends".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A message to send (templated), or a list of them sent in order",
            "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }],
        })
    }
}

impl<'de> Deserialize<'de> for Sends {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SendsVisitor;
        impl<'de> serde::de::Visitor<'de> for SendsVisitor {
            type Value = Sends;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a message (a string) or a list of messages")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Sends, E> {
                Ok(Sends(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Sends, A::Error> {
                let mut sends = Vec::new();
                while let Some(send) = seq.next_element::<String>()? {
                    sends.push(send);
                }
                Ok(Sends(sends))
            }
        }
        deserializer.deserialize_any(SendsVisitor)
    }
}

/// What a correct answer looks like; anything else is counted as an error.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Accepted statuses; any 2xx when omitted.
    #[schemars(with = "Option<Vec<u16>>")]
    pub status: Option<Spanned<Vec<u16>>>,
    /// Text the body must contain.
    #[schemars(with = "Option<String>")]
    pub body_contains: Option<Spanned<String>>,
    /// JSON fields that must equal these values, by path: `{ "$.status" = "ok" }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub json: BTreeMap<String, Spanned<toml::Value>>,
    /// A stream (SSE or WebSocket): at least this many messages before it ended; fewer is a
    /// `too_few_messages` error.
    #[schemars(with = "Option<u32>")]
    pub min_messages: Option<Spanned<u32>>,
    /// Server-Sent Events: the name of the last event read (`message` when it names none).
    #[schemars(with = "Option<String>")]
    pub last_event: Option<Spanned<String>>,
    /// A stream: text the last message read contains (an event's data, a WebSocket message).
    #[schemars(with = "Option<String>")]
    pub last_message_contains: Option<Spanned<String>>,
}

/// Thresholds on the aggregate, and per request name under `request.NAME` (one level only;
/// `plan` rejects a `request` table nested inside another).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    #[schemars(with = "Option<ThresholdSpec>")]
    pub p50: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub p90: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub p99: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub error_rate: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub rps: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub service_rss_peak: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub service_rss_growth: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub service_cpu_per_request: Option<Spanned<ThresholdSpec>>,
    /// Instructions per request, counted under Callgrind (needs `[cost]`).
    #[schemars(with = "Option<ThresholdSpec>")]
    pub instructions: Option<Spanned<ThresholdSpec>>,
    /// A `[sweep]`'s capacity (users or requests/second).
    #[schemars(with = "Option<ThresholdSpec>")]
    pub capacity: Option<Spanned<ThresholdSpec>>,
    /// A stream's time to its first message (`stream = "sse"` requests).
    #[schemars(with = "Option<ThresholdSpec>")]
    pub first_message_p50: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub first_message_p90: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub first_message_p99: Option<Spanned<ThresholdSpec>>,
    /// The gaps between a stream's messages.
    #[schemars(with = "Option<ThresholdSpec>")]
    pub message_gap_p50: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub message_gap_p90: Option<Spanned<ThresholdSpec>>,
    #[schemars(with = "Option<ThresholdSpec>")]
    pub message_gap_p99: Option<Spanned<ThresholdSpec>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, GateSpec>")]
    pub request: BTreeMap<String, Spanned<GateSpec>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// Worse than the baseline by more than this fraction fails.
    pub regression: Option<Percent>,
    /// An absolute ceiling (latency, error rate).
    #[schemars(with = "Option<Quantity>")]
    pub max: Option<Spanned<Quantity>>,
    /// An absolute floor (requests/second).
    #[schemars(with = "Option<Quantity>")]
    pub min: Option<Spanned<Quantity>>,
    /// Changes smaller than this absolute amount never fail the regression check.
    #[schemars(with = "Option<Quantity>")]
    pub noise_floor: Option<Spanned<Quantity>>,
}

/// A spec that cannot be used, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based; 0 when the error concerns the file as a whole.
    pub line: usize,
    pub column: usize,
    /// Dotted key path such as `load.duration`, where one could be located.
    pub key: Option<String>,
    pub message: String,
    /// The offending line of the file, quoted under the message.
    pub source_line: Option<String>,
}

impl SpecError {
    /// An error about the whole file (missing, unreadable).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> SpecError {
        SpecError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            key: None,
            message: message.into(),
            source_line: None,
        }
    }

    /// An error at a byte span of the file's text.
    pub fn at(
        file: &Path,
        text: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> SpecError {
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        SpecError {
            file: file.to_path_buf(),
            line: text[..start].matches('\n').count() + 1,
            column: text[line_start..start].chars().count() + 1,
            key: key_at(text, span),
            message: message.into(),
            source_line: Some(text[line_start..line_end].trim_end().to_owned()),
        }
    }

    fn render(&self) -> String {
        let mut out = format!("{}", self.file.display());
        if self.line > 0 {
            out += &format!(":{}:{}", self.line, self.column);
        }
        out += ": ";
        if let Some(key) = &self.key {
            out += &format!("key `{key}`: ");
        }
        out += &self.message;
        if let Some(source_line) = &self.source_line {
            out += &format!("\n{:>5} | {source_line}", self.line);
        }
        out
    }
}

/// One spec's file and text, kept so that a check of any key can fail pointing at that key:
/// `at.fail(span, "…")?` is every planning error.
#[derive(Debug, Clone, Copy)]
pub struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Locator<'a> {
        Locator { file, text }
    }

    /// The error at `span` of the text, for `map_err`.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> SpecError {
        SpecError::at(self.file, self.text, span, message)
    }

    /// Fails at `span` of the text.
    pub fn fail<T>(&self, span: Range<usize>, message: impl Into<String>) -> Result<T, SpecError> {
        Err(self.error(span, message))
    }
}

/// Parses a spec's text; `file` is only used to locate errors.
pub fn parse(file: &Path, text: &str) -> Result<SpecFile, SpecError> {
    toml::from_str(text).map_err(|err| {
        let message = err.message().trim_end().to_owned();
        match err.span() {
            Some(span) => SpecError::at(file, text, span, hint(&message)),
            None => SpecError::whole_file(file, hint(&message)),
        }
    })
}

/// Adds advice to toml's own words where a common mistake is known.
fn hint(message: &str) -> String {
    if message.starts_with("unknown field") {
        format!("{message} (see loadspec/README.md for every key)")
    } else if message.contains("missing field `load`") {
        format!("{message}: every spec needs a [load] table with `users` and `duration`")
    } else {
        message.to_owned()
    }
}

/// The dotted key an error at `span` concerns: the enclosing `[table]` header, any inline
/// tables open on the line, and the key itself (the span is the key for unknown keys, the
/// value otherwise).
fn key_at(text: &str, span: Range<usize>) -> Option<String> {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &text[line_start..start];
    let line = text[line_start..].lines().next().unwrap_or("");
    let table = text[..line_start]
        .lines()
        .chain(std::iter::once(line))
        .filter_map(|line| {
            let line = line.trim();
            line.starts_with('[').then(|| {
                line.trim_matches(|c| c == '[' || c == ']')
                    .trim()
                    .to_owned()
            })
        })
        .next_back();
    if line.trim_start().starts_with('[') {
        return table;
    }
    let mut parts: Vec<String> = table.into_iter().collect();
    // Keys of inline tables still open before the span, e.g. `ready = { timeout = "x" }`.
    let mut rest = prefix;
    while let Some(eq) = rest.find('=') {
        let key = last_key(&rest[..eq]);
        if let Some(inside) = rest[eq + 1..].trim_start().strip_prefix('{') {
            parts.extend(key);
            rest = inside;
        } else {
            rest = &rest[eq + 1..];
            if !rest.contains('=') {
                parts.extend(key);
            }
        }
    }
    let spanned = text.get(span.clone()).unwrap_or("");
    let follows_eq = text[span.end.min(text.len())..]
        .trim_start()
        .starts_with('=');
    if follows_eq && !spanned.is_empty() {
        parts.push(spanned.trim_matches('"').to_owned());
    }
    (!parts.is_empty()).then(|| parts.join("."))
}

fn last_key(before_eq: &str) -> Option<String> {
    let key: String = before_eq
        .trim_end()
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let key = key.trim_matches('"').to_owned();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "[load]\nusers = 2\nduration = \"1s\"\n\n[[request]]\nname = \"home\"\npath = \"/\"\n";

    fn error_of(text: &str) -> SpecError {
        parse(Path::new("loadspec/x.toml"), text).unwrap_err()
    }

    #[test]
    fn a_minimal_spec_parses() {
        let spec = parse(Path::new("x.toml"), MINIMAL).unwrap();
        assert_eq!(*spec.load.get_ref().users.as_ref().unwrap().get_ref(), 2);
        assert_eq!(spec.requests.len(), 1);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err = error_of(&MINIMAL.replace("users = 2", "users = 2\nthinktime = \"1s\""));
        assert_eq!((err.line, err.key.as_deref()), (3, Some("load.thinktime")));
        assert!(err.message.contains("unknown field `thinktime`"), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("loadspec/x.toml:3:1: key `load.thinktime`: unknown field"),
            "{text}"
        );
        assert!(text.contains("3 | thinktime = \"1s\""), "{text}");
    }

    #[test]
    fn a_bad_duration_is_named_with_its_line_and_key() {
        let err = error_of(&MINIMAL.replace("\"1s\"", "\"1 fortnight\""));
        assert_eq!((err.line, err.key.as_deref()), (3, Some("load.duration")));
        assert!(
            err.message.contains("invalid duration `1 fortnight`"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_value_inside_an_inline_table_names_the_full_key() {
        let text = format!(
            "[service]\ncommand = [\"x\"]\nready = {{ http = \"/health\", timeout = \"soon\" }}\n{MINIMAL}"
        );
        let err = error_of(&text);
        assert_eq!(
            (err.line, err.key.as_deref()),
            (3, Some("service.ready.timeout"))
        );
    }

    #[test]
    fn a_key_in_an_array_of_tables_is_named() {
        let err = error_of(&MINIMAL.replace("path = \"/\"", "path = \"/\"\nweight = -1"));
        assert_eq!(err.key.as_deref(), Some("request.weight"));
        assert_eq!(err.line, 8);
    }

    #[test]
    fn a_missing_load_table_gets_a_hint() {
        let err = error_of("[[request]]\nname = \"a\"\npath = \"/\"\n");
        assert!(
            err.message.contains("every spec needs a [load] table"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_model_lists_the_known_ones() {
        let err = error_of(&MINIMAL.replace("users = 2", "users = 2\nmodel = \"swarm\""));
        assert_eq!(err.key.as_deref(), Some("load.model"));
        assert!(err.message.contains("closed"), "{err}");
    }
}
