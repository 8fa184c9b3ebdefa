//! What one shard of a distributed run hands over ([`ShardFile`], `OUT/shards/shard-I-of-N.json`):
//! its recorders as plain JSON, histograms raw (HdrHistogram V2 + DEFLATE, base64) and counters,
//! never percentiles or rates, so nobody can average them; [`merge`] adds several shards'
//! recorders back into the one a single process would have recorded. Around them: which run and
//! shard the file is from ([`ShardIdentity`]), its health ([`ShardStatus`], the clock) and, per
//! spec, one [`PartFile`] per round or sweep step with its per-second series.

pub mod merge;

use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::plan::shard::ShardOf;
use crate::plan::timeline::Part;
use crate::plan::{Overrides, Plan};
use crate::run::Recording;
use crate::run::record::{
    ErrorExample, ErrorKind, FlowRecord, Interval, Recorder, RequestRecord, Schedule, StreamRecord,
};
use crate::run::resources::ResourceFigures;
use crate::support::clock::ClockStatus;
use crate::support::histogram::{EncodedHistogram, HistogramTextError};
use crate::support::meta::Host;

/// What a shard file says it is, so a summary or a baseline is never read as one.
pub const KIND: &str = "loadgate-shard";
pub const SCHEMA_VERSION: u32 = 1;

/// One shard's file: who it is, how its run went, and what it recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardFile {
    /// Always `loadgate-shard`.
    pub kind: String,
    pub schema_version: u32,
    /// Shards of one run are merged only by the same version.
    pub loadgate_version: String,
    pub run: ShardIdentity,
    /// `--shard-label`: e.g. a region, shown in the per-shard breakdown.
    #[serde(default)]
    pub label: Option<String>,
    pub host: Host,
    /// This boot of the shard's machine: shards with the same boot id read the same clock.
    #[serde(default)]
    pub boot_id: Option<String>,
    pub target: String,
    pub clock: ClockStatus,
    pub status: ShardStatus,
    /// How long after the shared start the first part began (µs); `None` when it never began.
    #[serde(default)]
    pub started_late_us: Option<u64>,
    /// Every histogram in the file is configured so.
    pub histogram: HistogramConfig,
    /// The command line's changes to every spec, which the merge plans with too.
    #[serde(default)]
    pub overrides: OverridesFile,
    pub specs: Vec<SpecParts>,
}

/// How a shard's run went; anything but `complete` makes the merged run inconclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ShardStatus {
    /// Every part ran as planned.
    Complete,
    /// Ready only after the start: it sent nothing rather than catch up in a burst.
    MissedStart,
    /// It could not keep up: more than 1 % of sends late, or the in-flight limit reached.
    Behind,
    /// SIGINT or SIGTERM stopped it; what it recorded until then is here.
    Interrupted,
}

impl ShardStatus {
    pub fn describe(self) -> &'static str {
        match self {
            ShardStatus::Complete => "complete",
            ShardStatus::MissedStart => "missed its start and sent nothing",
            ShardStatus::Behind => "fell behind its schedule",
            ShardStatus::Interrupted => "was interrupted",
        }
    }
}

/// The overrides of the command line (`--users`, `--duration`, `--warmup`, `--rounds`) a
/// shard ran with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverridesFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u32>,
    #[serde(default)]
    pub allow_large_load: bool,
}

impl OverridesFile {
    /// The command line's changes to every spec, as a shard file holds them.
    pub(crate) fn of(o: &Overrides) -> OverridesFile {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        OverridesFile {
            users: o.users,
            duration_ms: o.duration.map(ms),
            warmup_ms: o.warmup.map(ms),
            rounds: o.rounds,
            allow_large_load: o.allow_large_load,
        }
    }

    /// The command line's changes as the merge plans with them.
    pub(crate) fn overrides(&self) -> Overrides {
        let o = self;
        Overrides {
            users: o.users,
            duration: o.duration_ms.map(Duration::from_millis),
            warmup: o.warmup_ms.map(Duration::from_millis),
            allow_large_load: o.allow_large_load,
            rounds: o.rounds,
        }
    }
}

/// One spec as one shard ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecParts {
    pub name: String,
    /// Relative to the project, as the reports name it: the merge plans it again from there.
    pub file: std::path::PathBuf,
    pub spec_hash: String,
    /// Its rounds or sweep steps, in order; fewer than planned when the shard stopped early.
    pub parts: Vec<PartFile>,
}

/// Which run and which shard a file is from: what the merge checks belong together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardIdentity {
    pub run_id: String,
    /// 1-based, as `--shard I/N` writes it.
    pub index: u32,
    pub shards: u32,
    /// The instant every shard started from, RFC 3339 UTC.
    #[serde(with = "rfc3339")]
    #[schemars(with = "String")]
    pub start_at: SystemTime,
}

impl ShardIdentity {
    /// The shard the file says it is; `None` for an index no run has.
    pub fn shard(&self) -> Option<ShardOf> {
        ShardOf::new(self.index.checked_sub(1)?, self.shards)
    }
}

/// The configuration of a histogram: two histograms add bucket by bucket, exactly, only when it
/// is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistogramConfig {
    pub lowest: u64,
    pub highest: u64,
    pub significant_digits: u8,
}

impl HistogramConfig {
    pub fn of(histogram: &Histogram<u64>) -> HistogramConfig {
        HistogramConfig {
            lowest: histogram.low(),
            highest: histogram.high(),
            significant_digits: histogram.sigfig(),
        }
    }
}

impl std::fmt::Display for HistogramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let HistogramConfig {
            lowest,
            highest,
            significant_digits,
        } = self;
        write!(
            f,
            "{lowest}..={highest} µs at {significant_digits} significant digits"
        )
    }
}

/// One part of a run (a round or a sweep step) as one shard recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartFile {
    /// "round 1" or "step 40".
    #[serde(default)]
    pub label: String,
    /// When it started on the shared timeline, ms after the start.
    #[serde(default)]
    pub offset_ms: u64,
    /// The judged window it recorded (µs): the planned duration unless it was stopped.
    #[serde(default)]
    pub window_us: u64,
    pub measured: RecorderFile,
    pub warmup: RecorderFile,
    /// Open model only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleFile>,
    /// A point per second since the part's load started, each with its own histogram.
    #[serde(default)]
    pub series: Vec<SeriesFile>,
    /// This shard's generator during the judged window.
    #[serde(default)]
    pub generator: Option<ResourceFigures>,
}

/// One second of a part on one shard: counts and the answered requests' latency histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesFile {
    /// End of the second, seconds since the part's load started: tick k of every shard is
    /// the same instant on the shared timeline.
    pub t: f64,
    pub requests: u64,
    pub errors: u64,
    pub active: u32,
    pub histogram: EncodedHistogram,
    /// The streams answered in the second: their first messages' and gaps' histograms.
    /// Absent without streams, and in files written before loadgate read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message_histogram: Option<EncodedHistogram>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_gap_histogram: Option<EncodedHistogram>,
}

impl PartFile {
    /// What `recording` of `plan`'s `part` holds, as text.
    pub fn encode(
        plan: &Plan,
        part: &Part,
        recording: &Recording,
        generator: Option<ResourceFigures>,
    ) -> PartFile {
        let (requests, flows) = names(plan);
        let series = (recording.series.iter().zip(&recording.series_histograms))
            .map(|(point, encoded)| SeriesFile {
                t: point.t.0,
                requests: point.requests,
                errors: point.errors,
                active: point.active,
                histogram: encoded.latency.clone(),
                first_message_histogram: encoded.first_message.clone(),
                message_gap_histogram: encoded.message_gap.clone(),
            })
            .collect();
        PartFile {
            label: part.label(),
            offset_ms: u64::try_from(part.offset.as_millis()).unwrap_or(u64::MAX),
            window_us: u64::try_from(recording.window.as_micros()).unwrap_or(u64::MAX),
            measured: RecorderFile::encode(&recording.measured, &requests, &flows),
            warmup: RecorderFile::encode(&recording.warmup, &requests, &flows),
            schedule: recording.schedule.as_ref().map(ScheduleFile::from),
            series,
            generator,
        }
    }

    /// The recorders again, checked against `plan`'s request and flow names.
    pub fn decode_recorders(&self, plan: &Plan) -> Result<(Recorder, Recorder), ShardFileError> {
        let (requests, flows) = names(plan);
        Ok((
            self.measured.decode(&requests, &flows)?,
            self.warmup.decode(&requests, &flows)?,
        ))
    }

    /// The series' seconds as intervals, by tick.
    /// Checks every second's histogram decodes and is configured as `expected`, keeping none:
    /// a long run's series decoded at once would not fit in memory (a histogram is ~160 KB),
    /// so the merge decodes them a tick at a time ([`SeriesFile::decode`]).
    pub fn check_series(&self, expected: HistogramConfig) -> Result<(), ShardFileError> {
        for (tick, point) in self.series.iter().enumerate() {
            let (_, _, interval) = point.decode(tick)?;
            let streams = interval.stream.iter();
            let found = std::iter::once(&interval.latency_us)
                .chain(streams.flat_map(|s| [&s.first_message_us, &s.message_gap_us]))
                .map(HistogramConfig::of)
                .find(|found| *found != expected);
            if let Some(found) = found {
                return Err(ShardFileError::SeriesConfig {
                    tick,
                    expected,
                    found,
                });
            }
        }
        Ok(())
    }
}

impl SeriesFile {
    /// Second `tick` of a part: its end, the active users or requests, and its interval.
    pub fn decode(&self, tick: usize) -> Result<(f64, u32, Interval), ShardFileError> {
        let field = |key| format!("series[{tick}].{key}");
        let stream = match (&self.first_message_histogram, &self.message_gap_histogram) {
            (Some(first), Some(gap)) => Some(StreamRecord {
                first_message_us: histogram(field("first_message_histogram"), first)?,
                message_gap_us: histogram(field("message_gap_histogram"), gap)?,
                ..StreamRecord::new()
            }),
            _ => None,
        };
        let interval = Interval {
            requests: self.requests,
            errors: self.errors,
            latency_us: histogram(field("histogram"), &self.histogram)?,
            stream,
        };
        Ok((self.t, self.active, interval))
    }
}

/// The plan's request and flow names, by index: what a recorder's entries are named.
fn names(plan: &Plan) -> (Vec<&str>, Vec<&str>) {
    (
        plan.requests.iter().map(|r| r.name.as_str()).collect(),
        plan.flows.iter().map(|f| f.name.as_str()).collect(),
    )
}

/// A [`Recorder`] as text: per request and per flow, in the plan's order and named, so a file
/// read against another plan is caught.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecorderFile {
    pub requests: Vec<RequestFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowFile>,
    /// Open model: answered requests' latency from their actual send.
    pub uncorrected_histogram: EncodedHistogram,
    /// Open model: every request's send error.
    pub send_error_histogram: EncodedHistogram,
}

/// A [`RequestRecord`] as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    pub name: String,
    pub requests: u64,
    /// Failures by kind (`status`, `timeout`…); kinds without any are left out.
    #[serde(default)]
    pub errors: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    pub status_codes: std::collections::BTreeMap<u16, u64>,
    pub bytes_received: u64,
    pub clamped: u64,
    /// Answered requests' latency (the judged one).
    pub histogram: EncodedHistogram,
    pub failed_histogram: EncodedHistogram,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<ErrorExample>,
    /// A stream request's messages; absent for other requests and in files written before
    /// loadgate read streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamFile>,
}

/// A [`StreamRecord`] as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamFile {
    pub streams: u64,
    pub messages: u64,
    pub first_message_histogram: EncodedHistogram,
    pub message_gap_histogram: EncodedHistogram,
}

impl StreamFile {
    fn encode(record: &StreamRecord) -> StreamFile {
        StreamFile {
            streams: record.n_streams,
            messages: record.n_messages,
            first_message_histogram: EncodedHistogram::encode(&record.first_message_us),
            message_gap_histogram: EncodedHistogram::encode(&record.message_gap_us),
        }
    }

    fn decode(&self, request: &str) -> Result<StreamRecord, ShardFileError> {
        let field = |key| format!("requests[{request}].stream.{key}");
        Ok(StreamRecord {
            first_message_us: histogram(
                field("first_message_histogram"),
                &self.first_message_histogram,
            )?,
            message_gap_us: histogram(field("message_gap_histogram"), &self.message_gap_histogram)?,
            n_streams: self.streams,
            n_messages: self.messages,
        })
    }
}

/// How a flow's iterations ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    pub name: String,
    pub completed: u64,
    pub aborted: u64,
}

/// A [`Schedule`] as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    pub sent: u64,
    pub late: u64,
    pub max_late_us: u64,
    pub in_flight_limit_hits: u64,
}

impl From<&Schedule> for ScheduleFile {
    fn from(schedule: &Schedule) -> ScheduleFile {
        ScheduleFile {
            sent: schedule.sent,
            late: schedule.late,
            max_late_us: u64::try_from(schedule.max_late.as_micros()).unwrap_or(u64::MAX),
            in_flight_limit_hits: schedule.in_flight_limit_hits,
        }
    }
}

impl From<&ScheduleFile> for Schedule {
    fn from(file: &ScheduleFile) -> Schedule {
        Schedule {
            sent: file.sent,
            late: file.late,
            max_late: Duration::from_micros(file.max_late_us),
            in_flight_limit_hits: file.in_flight_limit_hits,
        }
    }
}

/// Why a shard file's recorder does not decode. Nothing is skipped: a file that does not
/// decode whole is not merged.
#[derive(Debug, thiserror::Error)]
pub enum ShardFileError {
    #[error("`{field}` does not decode: {source}")]
    Histogram {
        /// Where the histogram is, as `requests[home].histogram`.
        field: String,
        source: HistogramTextError,
    },
    #[error("`series[{tick}].histogram` has {found}, not {expected}")]
    SeriesConfig {
        tick: usize,
        expected: HistogramConfig,
        found: HistogramConfig,
    },
    #[error("request `{request}` counts an unknown error kind `{kind}`")]
    ErrorKind { request: String, kind: String },
    #[error("the file's {what} are {found:?}, the spec's {expected:?}")]
    Names {
        what: &'static str,
        found: Vec<String>,
        expected: Vec<String>,
    },
}

impl RecorderFile {
    /// `recorder` as text; `requests` and `flows` are the plan's names, by index.
    pub fn encode(
        recorder: &Recorder,
        requests: &[impl AsRef<str>],
        flows: &[impl AsRef<str>],
    ) -> RecorderFile {
        let flow_record = |idx| recorder.by_flow.get(idx).copied().unwrap_or_default();
        RecorderFile {
            requests: (requests.iter().zip(&recorder.by_request))
                .map(|(name, record)| RequestFile::encode(name.as_ref(), record))
                .collect(),
            flows: (flows.iter().enumerate())
                .map(|(idx, name)| {
                    let FlowRecord { completed, aborted } = flow_record(idx);
                    let name = name.as_ref().to_owned();
                    FlowFile {
                        name,
                        completed,
                        aborted,
                    }
                })
                .collect(),
            uncorrected_histogram: EncodedHistogram::encode(&recorder.uncorrected_us),
            send_error_histogram: EncodedHistogram::encode(&recorder.send_error_us),
        }
    }

    /// The recorder again, checked against the plan's names, by index.
    pub fn decode(
        &self,
        requests: &[impl AsRef<str>],
        flows: &[impl AsRef<str>],
    ) -> Result<Recorder, ShardFileError> {
        check_names("requests", self.requests.iter().map(|r| &r.name), requests)?;
        check_names("flows", self.flows.iter().map(|f| &f.name), flows)?;
        Ok(Recorder {
            by_request: (self.requests.iter())
                .map(RequestFile::decode)
                .collect::<Result<_, _>>()?,
            by_flow: (self.flows.iter())
                .map(|f| FlowRecord {
                    completed: f.completed,
                    aborted: f.aborted,
                })
                .collect(),
            uncorrected_us: histogram("uncorrected_histogram".into(), &self.uncorrected_histogram)?,
            send_error_us: histogram("send_error_histogram".into(), &self.send_error_histogram)?,
        })
    }
}

impl RequestFile {
    fn encode(name: &str, record: &RequestRecord) -> RequestFile {
        RequestFile {
            name: name.to_owned(),
            requests: record.n_requests,
            errors: (ErrorKind::ALL.into_iter())
                .map(|kind| (kind.as_str().to_owned(), record.n_errors[kind as usize]))
                .filter(|(_, count)| *count > 0)
                .collect(),
            status_codes: record.statuses.iter().copied().collect(),
            bytes_received: record.bytes_received,
            clamped: record.n_clamped,
            histogram: EncodedHistogram::encode(&record.latency_us),
            failed_histogram: EncodedHistogram::encode(&record.failed_latency_us),
            examples: record.examples.clone(),
            stream: record.stream.as_ref().map(StreamFile::encode),
        }
    }

    fn decode(&self) -> Result<RequestRecord, ShardFileError> {
        let field = |key| format!("requests[{}].{key}", self.name);
        let mut n_errors = [0; ErrorKind::ALL.len()];
        for (kind, count) in &self.errors {
            let kind = ErrorKind::named(kind).ok_or_else(|| ShardFileError::ErrorKind {
                request: self.name.clone(),
                kind: kind.clone(),
            })?;
            n_errors[kind as usize] = *count;
        }
        Ok(RequestRecord {
            latency_us: histogram(field("histogram"), &self.histogram)?,
            failed_latency_us: histogram(field("failed_histogram"), &self.failed_histogram)?,
            n_requests: self.requests,
            n_errors,
            statuses: self.status_codes.iter().map(|(&s, &n)| (s, n)).collect(),
            bytes_received: self.bytes_received,
            n_clamped: self.clamped,
            examples: self.examples.clone(),
            stream: self
                .stream
                .as_ref()
                .map(|s| s.decode(&self.name))
                .transpose()?,
        })
    }
}

fn histogram(field: String, text: &EncodedHistogram) -> Result<Histogram<u64>, ShardFileError> {
    text.decode()
        .map_err(|source| ShardFileError::Histogram { field, source })
}

/// The names a file lists must be the plan's, in order: the same spec planned the same way.
fn check_names<'a>(
    what: &'static str,
    found: impl Iterator<Item = &'a String>,
    expected: &[impl AsRef<str>],
) -> Result<(), ShardFileError> {
    let found: Vec<String> = found.cloned().collect();
    if found
        .iter()
        .map(String::as_str)
        .eq(expected.iter().map(AsRef::as_ref))
    {
        return Ok(());
    }
    let expected = expected.iter().map(|n| n.as_ref().to_owned()).collect();
    Err(ShardFileError::Names {
        what,
        found,
        expected,
    })
}

/// RFC 3339 UTC text for a `SystemTime`, as the command line and the reports write instants.
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    use super::*;
    use crate::run::outcome::{Cause, Outcome};

    const REQUESTS: [&str; 2] = ["home", "search"];
    const NO_FLOWS: [&str; 0] = [];

    fn file() -> RecorderFile {
        let mut recorder = Recorder::new(2);
        let failed = Outcome::failed(Cause::Timeout(Duration::from_secs(1)));
        recorder.record(1, Duration::from_millis(3), &failed);
        RecorderFile::encode(&recorder, &REQUESTS, &NO_FLOWS)
    }

    fn decode_error(file: &RecorderFile) -> String {
        file.decode(&REQUESTS, &NO_FLOWS).unwrap_err().to_string()
    }

    #[test]
    fn a_corrupt_histogram_is_an_error_naming_it_never_skipped() {
        let mut file = file();
        assert!(file.decode(&REQUESTS, &NO_FLOWS).is_ok());
        file.requests[1].failed_histogram = "not base64!".into();
        let err = file.decode(&REQUESTS, &NO_FLOWS).unwrap_err();
        assert!(matches!(
            &err,
            ShardFileError::Histogram { field, source: HistogramTextError::Base64(_) }
                if field == "requests[search].failed_histogram"
        ));
        // Valid base64, but cut short: the histogram itself does not decode.
        let text = serde_json::to_value(&file.requests[0].histogram).unwrap();
        let mut bytes = BASE64.decode(text.as_str().unwrap()).unwrap();
        bytes.truncate(bytes.len() / 2);
        file = self::file();
        file.uncorrected_histogram = BASE64.encode(&bytes).as_str().into();
        assert!(
            decode_error(&file)
                .starts_with("`uncorrected_histogram` does not decode: not an HdrHistogram"),
            "{}",
            decode_error(&file)
        );
    }

    #[test]
    fn a_file_of_another_plan_or_an_unknown_error_kind_is_refused() {
        let mut file = file();
        file.requests[1].errors.insert("gremlins".into(), 1);
        assert_eq!(
            decode_error(&file),
            "request `search` counts an unknown error kind `gremlins`"
        );
        let err = self::file()
            .decode(&["home", "browse"], &NO_FLOWS)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"the file's requests are ["home", "search"], the spec's ["home", "browse"]"#
        );
    }

    #[test]
    fn a_file_says_which_run_and_shard_it_is_from() {
        let text =
            r#"{"run_id":"1234567-1","index":2,"shards":4,"start_at":"2026-11-23T10:15:00Z"}"#;
        let identity: ShardIdentity = serde_json::from_str(text).unwrap();
        assert_eq!(identity.shard(), ShardOf::new(1, 4));
        assert_eq!(serde_json::to_string(&identity).unwrap(), text);
        let nowhere = ShardIdentity {
            index: 0,
            ..identity.clone()
        };
        assert_eq!(nowhere.shard(), None);
        let late = text.replace("10:15:00Z", "10:15:00.25Z");
        let late: ShardIdentity = serde_json::from_str(&late).unwrap();
        assert_eq!(
            late.start_at.duration_since(identity.start_at).unwrap(),
            Duration::from_millis(250)
        );
        assert!(serde_json::from_str::<ShardIdentity>(&text.replace("Z\"", "\"")).is_err());
    }

    #[test]
    fn a_schedule_keeps_its_microseconds_through_text() {
        let schedule = Schedule {
            sent: 9,
            late: 2,
            max_late: Duration::from_micros(14_001),
            in_flight_limit_hits: 1,
        };
        assert_eq!(Schedule::from(&ScheduleFile::from(&schedule)), schedule);
    }
}
