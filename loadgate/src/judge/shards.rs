//! The rules of trust over a distributed run's shards: a missing shard, one that did not run as
//! planned, or clocks further apart than the tolerance make the merged run inconclusive, naming
//! the shard; a shard that began late, sent late or waited for a sender fell behind; and a
//! shard's own exit code, which only how its run went decides.

use std::time::Duration;

use crate::judge::distribution::{Distribution, ShardFacts};
use crate::judge::trust::MAX_LATE_FRACTION;
use crate::run::record::LATE_AFTER;
use crate::shard_file::{ScheduleFile, ShardStatus};
use crate::support::exit::Exit;

/// A shard part that began more than this after its time did not send the spec's schedule.
const STARTED_BEHIND_AFTER: Duration = Duration::from_millis(LATE_AFTER.as_millis() as u64 * 10);

/// Whether a shard fell behind in a part: it began `started_late` after its time by more than
/// [`STARTED_BEHIND_AFTER`], more of its sends were late than a single run may have (1 %), or it
/// waited for a free sender.
pub fn fell_behind(started_late: Duration, schedule: Option<&ScheduleFile>) -> bool {
    started_late > STARTED_BEHIND_AFTER
        || schedule.is_some_and(|s| {
            s.in_flight_limit_hits > 0 || s.late as f64 > MAX_LATE_FRACTION * s.sent.max(1) as f64
        })
}

/// A shard's own exit code: it judges nothing, so only how its run went decides it.
pub fn shard_exit(status: ShardStatus) -> Exit {
    match status {
        ShardStatus::Complete => Exit::Passed,
        ShardStatus::MissedStart | ShardStatus::Behind => Exit::Inconclusive,
        ShardStatus::Interrupted => Exit::Interrupted,
    }
}

/// Clocks further apart than this are worth a note, even within the tolerance.
const CLOCK_NOTE_AFTER: Duration = Duration::from_millis(100);

/// Why the merged run is not the spec's load (`None` when it is), and the notes to add.
pub fn distrust(run: &Distribution, tolerance: Duration) -> (Option<String>, Vec<String>) {
    let mut reasons = Vec::new();
    let mut notes = Vec::new();
    let present: Vec<u32> = run.shards.iter().map(|s| s.index).collect();
    let missing: Vec<String> = (1..=run.shards_planned)
        .filter(|i| !present.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        reasons.push(format!(
            "shard {} of {} is missing: the merged load is not the spec's",
            missing.join(", "),
            run.shards_planned
        ));
    }
    for shard in &run.shards {
        if shard.status != ShardStatus::Complete {
            reasons.push(format!(
                "shard {} {}",
                named(shard),
                shard.status.describe()
            ));
        }
    }
    match clock_spread(&run.shards) {
        Err(reason) => reasons.push(reason),
        Ok(Some((spread, a, b))) if spread > tolerance => reasons.push(format!(
            "the clocks of shards {a} and {b} may be {} ms apart, more than --clock-tolerance {} ms",
            spread.as_millis(),
            tolerance.as_millis()
        )),
        Ok(Some((spread, a, b))) if spread > CLOCK_NOTE_AFTER => notes.push(format!(
            "the clocks of shards {a} and {b} may be {} ms apart (within --clock-tolerance)",
            spread.as_millis()
        )),
        Ok(_) => {}
    }
    notes.push(format!(
        "merged from {} of {} shards of distributed run {}",
        run.shards.len(),
        run.shards_planned,
        run.run_id
    ));
    let reason = (!reasons.is_empty()).then(|| {
        format!(
            "{}: the merged data is reported but not judged",
            reasons.join("; ")
        )
    });
    (reason, notes)
}

/// "2" or "2 (eu-west)".
fn named(shard: &ShardFacts) -> String {
    match &shard.label {
        Some(label) => format!("{} ({label})", shard.index),
        None => shard.index.to_string(),
    }
}

/// The widest gap the shards' clocks may have, and between which shards. Shards of one boot
/// read one clock: only their simulated skews part them. Others add each clock's kernel error
/// bound; a clock the kernel does not call synchronized has none, which is a reason itself.
fn clock_spread(shards: &[ShardFacts]) -> Result<Option<(Duration, u32, u32)>, String> {
    let mut widest = None;
    for (i, a) in shards.iter().enumerate() {
        for b in &shards[i + 1..] {
            let skew = |f: &ShardFacts| f.clock.simulated_skew_ms.unwrap_or(0);
            let mut gap = Duration::from_millis(skew(a).abs_diff(skew(b)));
            let same_clock = a.boot_id.is_some() && a.boot_id == b.boot_id;
            if !same_clock {
                for (f, other) in [(a, b), (b, a)] {
                    match (f.clock.kernel_synced, f.clock.max_error_us) {
                        (Some(true), Some(error)) => gap += Duration::from_micros(error),
                        _ => {
                            return Err(format!(
                                "shard {}'s clock is not synchronized (kernel NTP state), so its start cannot be compared with shard {}'s on another machine",
                                named(f),
                                named(other)
                            ));
                        }
                    }
                }
            }
            if widest.is_none_or(|(w, _, _)| gap > w) {
                widest = Some((gap, a.index, b.index));
            }
        }
    }
    Ok(widest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::clock::ClockStatus;
    use crate::support::meta::Host;

    /// Shard `index` of a run, complete, on a synchronized clock with a 5 ms error bound.
    fn shard(index: u32) -> ShardFacts {
        ShardFacts {
            index,
            label: None,
            status: ShardStatus::Complete,
            host: Host {
                os: "linux".into(),
                arch: "x86_64".into(),
                cpus: 2,
                cpu_model: None,
                cpus_kept_awake: false,
            },
            boot_id: Some(format!("boot-{index}")),
            clock: ClockStatus {
                kernel_synced: Some(true),
                max_error_us: Some(5_000),
                est_error_us: Some(1_000),
                simulated_skew_ms: None,
            },
            started_late_us: Some(0),
        }
    }

    fn run(planned: u32, shards: Vec<ShardFacts>) -> Distribution {
        Distribution {
            run_id: "r1".into(),
            start_at: "2026-01-01T00:00:00.000Z".into(),
            shards_planned: planned,
            shards,
        }
    }

    #[test]
    fn each_rule_of_a_merged_run_makes_it_inconclusive_or_adds_a_note() {
        let same_boot = |index, skew| ShardFacts {
            boot_id: Some("one".into()),
            clock: ClockStatus {
                simulated_skew_ms: Some(skew),
                ..shard(index).clock
            },
            ..shard(index)
        };
        let unsynced = ShardFacts {
            clock: ClockStatus {
                kernel_synced: Some(false),
                ..shard(2).clock
            },
            label: Some("eu-west".into()),
            ..shard(2)
        };
        let behind = ShardFacts {
            status: ShardStatus::Behind,
            ..shard(2)
        };
        // (case, run, the reason's words or None, a note's words)
        let cases: [(&str, Distribution, Option<&str>, &str); 7] = [
            (
                "all there, clocks close",
                run(2, vec![shard(1), shard(2)]),
                None,
                "merged from 2 of 2 shards of distributed run r1",
            ),
            (
                "one missing",
                run(3, vec![shard(1), shard(3)]),
                Some("shard 2 of 3 is missing: the merged load is not the spec's"),
                "merged from 2 of 3",
            ),
            (
                "one behind",
                run(2, vec![shard(1), behind]),
                Some("shard 2 "),
                "merged from",
            ),
            (
                "a clock not synchronized, named with its label",
                run(2, vec![shard(1), unsynced]),
                Some("shard 2 (eu-west)'s clock is not synchronized"),
                "merged from",
            ),
            (
                "one boot, skewed past the tolerance",
                run(2, vec![same_boot(1, 0), same_boot(2, 600)]),
                Some(
                    "the clocks of shards 1 and 2 may be 600 ms apart, more than --clock-tolerance 500 ms",
                ),
                "merged from",
            ),
            (
                "one boot, skewed within the tolerance but worth a note",
                run(2, vec![same_boot(1, 0), same_boot(2, 300)]),
                None,
                "may be 300 ms apart (within --clock-tolerance)",
            ),
            (
                "two machines: their error bounds add",
                run(2, vec![shard(1), shard(2)]),
                None,
                "merged from",
            ),
        ];
        for (case, run, reason, note) in cases {
            let (got, notes) = distrust(&run, Duration::from_millis(500));
            match reason {
                None => assert_eq!(got, None, "{case}"),
                Some(words) => {
                    let got = got.unwrap_or_else(|| panic!("{case}: trusted"));
                    assert!(got.contains(words), "{case}: {got}");
                    assert!(
                        got.ends_with("the merged data is reported but not judged"),
                        "{case}: {got}"
                    );
                }
            }
            assert!(notes.iter().any(|n| n.contains(note)), "{case}: {notes:#?}");
        }
    }

    #[test]
    fn a_shard_fell_behind_when_it_began_late_sent_late_or_hit_its_in_flight_limit() {
        let schedule = |sent, late, hits| ScheduleFile {
            sent,
            late,
            max_late_us: 0,
            in_flight_limit_hits: hits,
        };
        let ms = Duration::from_millis;
        // (case, began late by, its schedule, behind)
        let cases = [
            ("on time, closed model", ms(0), None, false),
            (
                "on time, 1 % late",
                ms(5),
                Some(schedule(1000, 10, 0)),
                false,
            ),
            (
                "just over 1 % late",
                ms(5),
                Some(schedule(1000, 11, 0)),
                true,
            ),
            (
                "waited for a free sender once",
                ms(0),
                Some(schedule(1000, 0, 1)),
                true,
            ),
            ("began 100 ms late", ms(100), None, false),
            ("began 101 ms late", ms(101), None, true),
        ];
        for (case, began, schedule, behind) in cases {
            assert_eq!(fell_behind(began, schedule.as_ref()), behind, "{case}");
        }
        assert_eq!(shard_exit(ShardStatus::Complete), Exit::Passed);
        assert_eq!(shard_exit(ShardStatus::Behind), Exit::Inconclusive);
        assert_eq!(shard_exit(ShardStatus::MissedStart), Exit::Inconclusive);
        assert_eq!(shard_exit(ShardStatus::Interrupted), Exit::Interrupted);
    }

    #[test]
    fn the_spread_is_the_widest_pair_and_adds_both_error_bounds_across_machines() {
        assert_eq!(
            clock_spread(&[shard(1), shard(2)]),
            Ok(Some((Duration::from_millis(10), 1, 2)))
        );
        let mut far = shard(3);
        far.clock.max_error_us = Some(90_000);
        assert_eq!(
            clock_spread(&[shard(1), shard(2), far]),
            Ok(Some((Duration::from_millis(95), 1, 3)))
        );
        assert_eq!(clock_spread(&[shard(1)]), Ok(None));
    }
}
