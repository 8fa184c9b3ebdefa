//! The timeline of a distributed run: every shard computes it alike from the plans alone, so
//! part k (a round of a spec, or a sweep step) starts at the same instant on every shard
//! without the shards talking to each other. A part lasts its warmup, its judged duration and
//! a drain (the longest request timeout and a grace: what a run may take past its end).

use std::time::Duration;

use crate::plan::{Plan, defaults};

/// One run of a spec's load on the shared timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The spec's position among the plans.
    pub spec: usize,
    /// The round or step, from 1.
    pub number: u32,
    /// A sweep step's users or rate; `None` for a round.
    pub at: Option<f64>,
    /// Since the shared start.
    pub offset: Duration,
    pub length: Duration,
}

impl Part {
    /// "round 2" or "step 40": what the shard file and the table call it.
    pub fn label(&self) -> String {
        match self.at {
            Some(at) => format!("step {at}"),
            None => format!("round {}", self.number),
        }
    }
}

/// What a run may take after its judged window: the longest request timeout and the grace
/// after which the generator aborts what is still in flight.
pub fn drain(plan: &Plan) -> Duration {
    let longest =
        (plan.requests.iter().map(|r| r.timeout).max()).unwrap_or(defaults::REQUEST_TIMEOUT);
    longest + defaults::DRAIN_GRACE
}

/// Every part of every plan, in order, back to back from offset zero.
pub fn timeline(plans: &[Plan]) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut offset = Duration::ZERO;
    for (spec, plan) in plans.iter().enumerate() {
        let runs: Vec<(u32, Option<f64>, Duration)> = match &plan.sweep {
            Some(sweep) => (sweep.steps.iter().zip(1..))
                .map(|(&at, number)| (number, Some(at), sweep.step_duration))
                .collect(),
            None => (1..=plan.rounds)
                .map(|number| (number, None, plan.load.duration))
                .collect(),
        };
        for (number, at, duration) in runs {
            let length = plan.load.warmup + duration + drain(plan);
            parts.push(Part {
                spec,
                number,
                at,
                offset,
                length,
            });
            offset += length;
        }
    }
    parts
}

/// The whole timeline's length: when the last part has surely ended.
pub fn total(parts: &[Part]) -> Duration {
    parts.last().map_or(Duration::ZERO, |p| p.offset + p.length)
}

#[cfg(test)]
mod tests {

    use super::*;

    fn plan(name: &str, extra: &str) -> Plan {
        let text = format!(
            "name = \"{name}\"\n{extra}\n[[request]]\nname = \"home\"\npath = \"/\"\ntimeout = \"3s\"\n"
        );
        crate::plan::of_text(&text)
    }

    #[test]
    fn parts_follow_each_other_rounds_then_steps_then_the_next_spec() {
        let rounds = plan(
            "a",
            "rounds = 2\n[load]\nusers = 2\nwarmup = \"1s\"\nduration = \"4s\"",
        );
        let sweep = plan(
            "b",
            "[load]\nusers = 2\nduration = \"9s\"\n[sweep]\nusers = [2, 4]\nstep = \"2s\"\n[gate]\ncapacity = { min = 1 }",
        );
        let parts = timeline(&[rounds, sweep]);
        let s = Duration::from_secs;
        // 1 s warmup + 4 s + (3 s timeout + 2 s grace) = 10 s a round; steps 2 s + 5 s.
        let expected = [
            (0, 1, None, s(0), s(10)),
            (0, 2, None, s(10), s(10)),
            (1, 1, Some(2.0), s(20), s(7)),
            (1, 2, Some(4.0), s(27), s(7)),
        ];
        let found: Vec<_> = parts
            .iter()
            .map(|p| (p.spec, p.number, p.at, p.offset, p.length))
            .collect();
        assert_eq!(found, expected);
        assert_eq!(total(&parts), s(34));
        assert_eq!(parts[1].label(), "round 2");
        assert_eq!(parts[3].label(), "step 4");
        assert_eq!(total(&[]), Duration::ZERO);
    }

    #[test]
    fn every_shard_computes_the_same_timeline() {
        let whole = plan("a", "[load]\nusers = 6\nduration = \"2s\"");
        let shards: Vec<Plan> = crate::plan::shard::ShardOf::all(3)
            .map(|shard| whole.sharded(shard).unwrap())
            .collect();
        for shard in &shards {
            assert_eq!(
                timeline(std::slice::from_ref(shard)),
                timeline(std::slice::from_ref(&whole))
            );
        }
    }
}
