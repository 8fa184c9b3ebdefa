//! GitHub Actions workflow commands: with `GITHUB_ACTIONS=true`, each failed check is an
//! `::error` annotation and an inconclusive run a `::warning`, attached to the spec file, so the
//! pull request shows them where the job's log would hide them.

use std::io::{self, Write};

use crate::judge::verdict::{GateResult, Verdict};

pub fn write(out: &mut dyn Write, result: &GateResult) -> io::Result<()> {
    for spec in &result.specs {
        let file = spec.file.display().to_string();
        let mut annotate = |level: &str, title: String, message: &str| {
            writeln!(
                out,
                "::{level} file={},title={}::{}",
                escape_property(&file),
                escape_property(&title),
                escape_data(message)
            )
        };
        for check in spec.failed_checks() {
            annotate(
                "error",
                format!("loadgate {}: {}", spec.name, check.name()),
                &check.message,
            )?;
        }
        if let Some(failure) = &spec.service_failure {
            annotate(
                "error",
                format!("loadgate {}: service failed", spec.name),
                &format!("{failure}"),
            )?;
        } else if spec.verdict == Verdict::Inconclusive {
            annotate(
                "warning",
                format!("loadgate {}: inconclusive", spec.name),
                spec.reason
                    .as_deref()
                    .unwrap_or("the run cannot be trusted"),
            )?;
        }
    }
    Ok(())
}

/// The message of a workflow command: `%`, CR and LF are escaped.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property of a workflow command: also `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn failed_checks_and_broken_services_are_errors() {
        let text = fixtures::render(write, &fixtures::result());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "::error file=loadspec/badges.toml,title=loadgate badges%3A total p90 regression::\
             p90 2.00ms -> 2.40ms (+20.0%25) exceeds +15%25"
        );
        assert!(
            lines[1].contains("total instructions regression::instructions 17 000 -> "),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("::error file=loadspec/reads.toml,title=loadgate reads%3A service failed::the service exited"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("%0A"), "one line: {}", lines[2]);
    }

    #[test]
    fn an_inconclusive_run_is_a_warning_and_a_pass_says_nothing() {
        let mut result = fixtures::result();
        result.specs.truncate(1);
        result.specs[0].checks.clear();
        let inconclusive = result.specs[0]
            .clone()
            .judged(Some("stale baseline".into()));
        result.specs[0] = inconclusive;
        assert_eq!(
            fixtures::render(write, &result),
            "::warning file=loadspec/badges.toml,title=loadgate badges%3A inconclusive::stale baseline\n"
        );
        result.specs[0] = result.specs[0].clone().judged(None);
        assert_eq!(fixtures::render(write, &result), "");
    }
}
