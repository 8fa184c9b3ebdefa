//! Shards' recorders → the one recorder a single process would have filled: histograms added
//! bucket by bucket (exact only between histograms configured alike, which is checked first),
//! counters summed. Percentiles and rates are computed afterwards from the sums, never merged.

use crate::run::record::{EncodedInterval, Interval, Recorder, Schedule, SeriesPoint};
use crate::shard_file::{HistogramConfig, SeriesFile};

/// Why recorders cannot be added exactly. `part` is the recorder's position in what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error(
        "part {part} has histograms of {found}, the first part {expected}: they cannot be added exactly"
    )]
    HistogramConfig {
        part: usize,
        expected: HistogramConfig,
        found: HistogramConfig,
    },
    #[error("part {part} records {found} requests, the first part {expected}")]
    Requests {
        part: usize,
        expected: usize,
        found: usize,
    },
}

/// Adds `parts` into one recorder, in their order (which decides only which error examples
/// are kept: the first few, part by part).
pub fn merge_recorders(parts: &[Recorder]) -> Result<Recorder, MergeError> {
    let (first, rest) = parts.split_first().ok_or(MergeError::Empty)?;
    let expected = HistogramConfig::of(&first.uncorrected_us);
    for (part, recorder) in parts.iter().enumerate() {
        check_alike(part, recorder, expected, first.by_request.len())?;
    }
    let mut merged = first.clone();
    rest.iter().for_each(|recorder| merged.merge(recorder));
    Ok(merged)
}

/// The open model's schedules of the parts, added; `None` when no part has one.
pub fn merge_schedules<'a>(parts: impl IntoIterator<Item = &'a Schedule>) -> Option<Schedule> {
    parts.into_iter().fold(None, |sum, schedule| {
        let mut sum = sum.unwrap_or_default();
        sum.merge(schedule);
        Some(sum)
    })
}

/// Every histogram of `recorder` (a shard's, as read) is configured as `expected`, so adding
/// it to others is exact and cannot fail.
pub fn check_recorder(recorder: &Recorder, expected: HistogramConfig) -> Result<(), MergeError> {
    check_alike(0, recorder, expected, recorder.by_request.len())
}

/// Shards' per-second series joined by tick index (tick k is the same instant on every
/// shard's timeline): counts and actives summed, histograms added, so each second's
/// percentiles are those of all its requests. The series were checked when read.
pub fn merge_series(shards: &[&[SeriesFile]]) -> (Vec<SeriesPoint>, Vec<EncodedInterval>) {
    let ticks = shards.iter().map(|s| s.len()).max().unwrap_or(0);
    (0..ticks)
        .map(|tick| {
            let mut sum = Interval::new();
            let (mut t, mut active) = (0.0_f64, 0);
            // One shard's second decoded at a time: a whole series would not fit in memory.
            for point in shards.iter().filter_map(|s| s.get(tick)) {
                let (at, shard_active, mut interval) =
                    point.decode(tick).expect("series checked when read");
                sum.drain_from(&mut interval);
                t = t.max(at);
                active += shard_active;
            }
            (sum.point(t, active), sum.encoded())
        })
        .unzip()
}

/// Every histogram of `recorder` is configured as `expected`, and it records as many requests.
fn check_alike(
    part: usize,
    recorder: &Recorder,
    expected: HistogramConfig,
    n_requests: usize,
) -> Result<(), MergeError> {
    if recorder.by_request.len() != n_requests {
        return Err(MergeError::Requests {
            part,
            expected: n_requests,
            found: recorder.by_request.len(),
        });
    }
    let histograms = (recorder.by_request.iter())
        .flat_map(|r| {
            let streams = r.stream.iter();
            [&r.latency_us, &r.failed_latency_us]
                .into_iter()
                .chain(streams.flat_map(|s| [&s.first_message_us, &s.message_gap_us]))
        })
        .chain([&recorder.uncorrected_us, &recorder.send_error_us]);
    match histograms
        .map(HistogramConfig::of)
        .find(|found| *found != expected)
    {
        Some(found) => Err(MergeError::HistogramConfig {
            part,
            expected,
            found,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::Plan;
    use crate::run::Recording;
    use crate::run::client::Broken;
    use crate::run::outcome::{Cause, ErrorExample, Outcome};
    use crate::run::record::{Interval, Sending, Timing};
    use crate::run::shared::Stripe;
    use crate::shard_file::{PartFile, RecorderFile, ScheduleFile};
    use crate::summary::{SpecSummary, summarize};

    /// A spec whose requests are `names`, with a flow, so recorders have flows too.
    fn plan(names: &[String]) -> Plan {
        let requests: String = (names.iter())
            .map(|name| format!("[[request]]\nname = \"{name}\"\npath = \"/{name}\"\n"))
            .collect();
        let text = format!(
            "[load]\nusers = 2\nduration = \"10s\"\n{requests}\
             [[flow]]\nname = \"cart\"\n[[flow.step]]\nname = \"open\"\npath = \"/cart\"\n"
        );
        crate::plan::of_text(&text)
    }

    /// A latency from 0 µs (recorded as 1) to past the clamp, spread over decades.
    fn latency(rng: &mut fastrand::Rng) -> Duration {
        match rng.u8(..100) {
            0 => Duration::ZERO,
            1 => Duration::from_secs(rng.u64(600..4_000)),
            _ => Duration::from_micros(10f64.powf(rng.f64() * 7.0) as u64),
        }
    }

    fn outcome(rng: &mut fastrand::Rng) -> Outcome {
        let status = match rng.u8(..10) {
            0 => return Outcome::failed(Cause::Broken(Broken::CannotConnect(None))),
            1 => return Outcome::failed(Cause::Timeout(Duration::from_secs(2))),
            2 => [404, 500, 503][rng.usize(..3)],
            _ => [200, 201, 204][rng.usize(..3)],
        };
        Outcome {
            status: Some(status),
            bytes_received: rng.u64(..5_000),
            cause: (status >= 400).then_some(Cause::Status(status)),
        }
    }

    /// Records one random request, as a user does, into `stripe`.
    fn record(stripe: &mut Stripe, rng: &mut fastrand::Rng, n_requests: usize) {
        let outcome = outcome(rng);
        let sending = rng.bool().then(|| Sending {
            late: latency(rng),
            uncorrected: latency(rng),
        });
        let n = rng.u32(..);
        // Half the requests stream a few messages, some read at once (0 µs apart).
        let start = tokio::time::Instant::now();
        let mut at = start;
        let arrivals: Vec<tokio::time::Instant> = (0..rng.usize(0..12))
            .map(|_| {
                at += latency(rng) / 4;
                at
            })
            .collect();
        let streams = rng.bool();
        stripe.record(
            rng.u8(..5) > 0,
            rng.usize(..n_requests),
            Timing {
                latency: latency(rng),
                sending,
                messages: streams.then_some((start, arrivals.as_slice())),
            },
            &outcome,
            |cause| ErrorExample {
                kind: cause.kind().as_str().to_owned(),
                status: outcome.status,
                message: format!("failure {n}"),
                body: None,
            },
        );
        if rng.u8(..10) == 0 {
            stripe.record_flow(rng.bool(), 0, rng.bool());
        }
    }

    fn stripe(n_requests: usize) -> Stripe {
        Stripe {
            warmup: Recorder::new(n_requests),
            measured: Recorder::new(n_requests),
            interval: Interval::new(),
        }
    }

    /// The summary of a recording without the error examples, which are the first few in
    /// time in one process and the first few shard by shard in a merge.
    fn summary(
        plan: &Plan,
        warmup: Recorder,
        measured: Recorder,
        schedule: Schedule,
    ) -> SpecSummary {
        let recording = Recording {
            warmup,
            measured,
            window: Duration::from_secs(10),
            schedule: Some(schedule),
            series: Vec::new(),
            series_histograms: Vec::new(),
        };
        let mut summary = summarize(plan, &recording, &[]);
        summary
            .requests
            .values_mut()
            .for_each(|m| m.examples.clear());
        summary
    }

    #[test]
    fn shards_written_read_and_merged_in_any_order_are_one_recorder_fed_everything() {
        let mut rng = fastrand::Rng::with_seed(16);
        let mut seen = (0, 0, 0);
        for trial in 0..20 {
            let names: Vec<String> = (0..rng.usize(1..=4))
                .map(|k| format!("r{k}-{}", rng.alphanumeric()))
                .collect();
            let plan = plan(&names);
            let requests: Vec<&str> = plan.requests.iter().map(|r| r.name.as_str()).collect();
            let flows = ["cart"];
            let n = rng.usize(1..=6);
            let mut single = stripe(requests.len());
            let mut shards: Vec<Stripe> = (0..n).map(|_| stripe(requests.len())).collect();
            let mut schedule = Schedule::default();
            let mut files = Vec::new();
            for shard in &mut shards {
                for _ in 0..rng.usize(0..600) {
                    // The same draws feed the shard and the single recorder.
                    let mut twin = rng.clone();
                    record(shard, &mut rng, requests.len());
                    record(&mut single, &mut twin, requests.len());
                    rng = twin;
                }
                let shard_schedule = Schedule {
                    sent: rng.u64(..1_000),
                    late: rng.u64(..10),
                    max_late: Duration::from_micros(rng.u64(..50_000)),
                    in_flight_limit_hits: rng.u64(..3),
                };
                schedule.merge(&shard_schedule);
                let file = PartFile {
                    measured: RecorderFile::encode(&shard.measured, &requests, &flows),
                    warmup: RecorderFile::encode(&shard.warmup, &requests, &flows),
                    schedule: Some(ScheduleFile::from(&shard_schedule)),
                    label: "round 1".into(),
                    offset_ms: 0,
                    window_us: 10_000_000,
                    series: Vec::new(),
                    generator: None,
                };
                files.push(serde_json::to_string(&file).unwrap());
            }
            rng.shuffle(&mut files);
            let parts: Vec<PartFile> = files
                .iter()
                .map(|f| serde_json::from_str(f).unwrap())
                .collect();
            let decode = |file: &RecorderFile| file.decode(&requests, &flows).unwrap();
            let measured: Vec<Recorder> = parts.iter().map(|p| decode(&p.measured)).collect();
            let warmup: Vec<Recorder> = parts.iter().map(|p| decode(&p.warmup)).collect();
            let schedules: Vec<Schedule> = parts
                .iter()
                .map(|p| p.schedule.as_ref().unwrap().into())
                .collect();
            let merged = merge_recorders(&measured).unwrap();
            let merged_warmup = merge_recorders(&warmup).unwrap();
            let context = format!("trial {trial}, {n} shards");
            assert_same_recorder(&merged, &single.measured, &context);
            assert_same_recorder(&merged_warmup, &single.warmup, &context);
            assert_eq!(merge_schedules(&schedules), Some(schedule), "{context}");
            let total = single.measured.total();
            let gaps = total.stream.as_ref().map_or(0, |s| s.message_gap_us.len());
            seen = (
                seen.0 + total.n_clamped,
                seen.1 + total.n_failures(),
                seen.2 + gaps,
            );
            assert_eq!(
                summary(&plan, merged_warmup, merged, schedule),
                summary(&plan, single.warmup, single.measured, schedule),
                "{context}"
            );
        }
        assert!(
            seen.0 > 0 && seen.1 > 0 && seen.2 > 0,
            "clamped and failed samples, and message gaps: {seen:?}"
        );
    }

    fn assert_same_recorder(merged: &Recorder, single: &Recorder, context: &str) {
        for (m, s) in merged.by_request.iter().zip(&single.by_request) {
            let streams = |r: &crate::run::record::RequestRecord| {
                r.stream.as_ref().map(|s| {
                    (
                        s.first_message_us.clone(),
                        s.message_gap_us.clone(),
                        s.n_streams,
                        s.n_messages,
                    )
                })
            };
            assert!(streams(m) == streams(s), "{context}: streams");
            assert!(m.latency_us == s.latency_us, "{context}");
            assert!(m.failed_latency_us == s.failed_latency_us, "{context}");
            for q in [0.5, 0.9, 0.99] {
                assert_eq!(
                    m.latency_us.value_at_quantile(q),
                    s.latency_us.value_at_quantile(q)
                );
            }
            assert_eq!(m.latency_us.mean().to_bits(), s.latency_us.mean().to_bits());
            let counters = |r: &crate::run::record::RequestRecord| {
                let mut statuses = r.statuses.clone();
                statuses.sort_unstable();
                (
                    r.n_requests,
                    r.n_errors,
                    statuses,
                    r.bytes_received,
                    r.n_clamped,
                    r.examples.len(),
                )
            };
            assert_eq!(counters(m), counters(s), "{context}");
        }
        assert!(merged.uncorrected_us == single.uncorrected_us, "{context}");
        assert!(merged.send_error_us == single.send_error_us, "{context}");
        let flow = |r: &Recorder| r.by_flow.first().copied().unwrap_or_default();
        assert_eq!(flow(merged), flow(single), "{context}");
    }

    #[test]
    fn only_recorders_configured_alike_merge() {
        assert_eq!(merge_recorders(&[]).unwrap_err(), MergeError::Empty);
        let mut other = Recorder::new(2);
        other.by_request[1].failed_latency_us =
            hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        let err = merge_recorders(&[Recorder::new(2), other]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "part 1 has histograms of 1..=3600000000 µs at 2 significant digits, the first part \
             1..=600000000 µs at 3 significant digits: they cannot be added exactly"
        );
        assert_eq!(
            merge_recorders(&[Recorder::new(2), Recorder::new(3)]).unwrap_err(),
            MergeError::Requests {
                part: 1,
                expected: 2,
                found: 3
            }
        );
        assert_eq!(merge_schedules([]), None);
    }
}
