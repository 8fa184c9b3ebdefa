//! `junit.xml`: a testsuite per spec, a testcase per check. A failed check is a `<failure>` whose
//! message gives metric, baseline, current, change and threshold; a broken service or an
//! untrustworthy run is an `<error>`, so CI tells "slower" from "unmeasurable".

use std::io::Write;

use junit_report::{Duration, OffsetDateTime, Report, TestCase, TestSuite};

use crate::judge::checks::{Check, CheckOutcome};
use crate::judge::verdict::{GateResult, SpecResult, Verdict};
use crate::report::rows::resource_figures;

pub fn write(out: &mut dyn Write, result: &GateResult) -> anyhow::Result<()> {
    let timestamp = timestamp(result);
    let mut report = Report::new();
    for spec in &result.specs {
        report.add_testsuite(suite(spec, timestamp));
    }
    report.write_xml(&mut *out)?;
    writeln!(out)?;
    Ok(())
}

/// When the result was recorded, as JUnit wants it; the epoch if the record cannot say.
fn timestamp(result: &GateResult) -> OffsetDateTime {
    humantime::parse_rfc3339(&result.provenance.recorded_at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| OffsetDateTime::from_unix_timestamp(i64::try_from(d.as_secs()).ok()?).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// One spec's testsuite: its testcases, and what else there is to say as the suite's output.
fn suite(spec: &SpecResult, timestamp: OffsetDateTime) -> TestSuite {
    let mut suite = TestSuite::new(&spec.name);
    suite.set_timestamp(timestamp);
    let classname = format!("loadgate.{}", spec.name);
    let mut cases = run_cases(spec);
    cases.extend(spec.checks.iter().map(check_case));
    for case in &mut cases {
        case.set_classname(&classname);
    }
    suite.add_testcases(cases);
    let system_out = system_out(spec);
    if !system_out.is_empty() {
        suite.set_system_out(&system_out.join("\n"));
    }
    suite
}

/// The errors that are about the run rather than a check: a broken service, an untrustworthy run.
fn run_cases(spec: &SpecResult) -> Vec<TestCase> {
    let mut cases = Vec::new();
    if let Some(failure) = &spec.service_failure {
        let mut case = TestCase::error(
            "service",
            Duration::ZERO,
            "service_failed",
            &failure.message,
        );
        case.set_system_err(&failure.log_tail);
        cases.push(case);
    }
    if spec.verdict == Verdict::Inconclusive
        && let Some(reason) = &spec.reason
    {
        cases.push(TestCase::error(
            "trustworthy run",
            Duration::ZERO,
            "inconclusive",
            reason,
        ));
    }
    cases
}

fn check_case(check: &Check) -> TestCase {
    match check.outcome {
        CheckOutcome::Fail => {
            TestCase::failure(&check.name(), Duration::ZERO, "regression", &check.message)
        }
        // Unmeasurable, not slower: an error, as CI tells the two apart.
        CheckOutcome::Inconclusive => TestCase::error(
            &check.name(),
            Duration::ZERO,
            "inconclusive",
            &check.message,
        ),
        CheckOutcome::Pass | CheckOutcome::NoBaseline => {
            let mut case = TestCase::success(&check.name(), Duration::ZERO);
            case.set_system_out(&check.message);
            case
        }
    }
}

/// The suite's output lines: resource figures, each flow and its steps, an example of each
/// request error, the notes.
fn system_out(spec: &SpecResult) -> Vec<String> {
    let resources = spec.summary.iter().flat_map(|summary| {
        resource_figures(summary).map(|(who, figures)| format!("{who}: {}", figures.describe()))
    });
    let examples = spec.summary.iter().flat_map(|summary| {
        summary
            .error_examples()
            .map(|(name, example)| format!("error in {name}: {}", example.describe()))
    });
    let flows = spec.summary.iter().flat_map(|summary| {
        crate::report::rows::flows(summary).flat_map(|(name, flow, steps)| {
            let steps = steps
                .into_iter()
                .map(|(step, metrics)| crate::report::rows::step_line(step, metrics));
            std::iter::once(crate::report::rows::flow_line(name, flow)).chain(steps)
        })
    });
    resources
        .chain(flows)
        .chain(examples)
        .chain(spec.notes.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fixtures, golden};

    #[test]
    fn junit_matches_its_golden_file() {
        let xml = fixtures::render(write, &fixtures::result());
        assert!(xml.contains(r#"<failure type="regression" message="p90 2.00ms -&gt; 2.40ms (+20.0%) exceeds +15%"/>"#), "{xml}");
        golden::check("junit.xml", &xml);
    }
}
