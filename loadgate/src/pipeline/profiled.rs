//! `--profile`, after a spec's runs: the stacks kept as `OUT/NAME.profile.folded` (and the base
//! revision's as `OUT/NAME.base.profile.folded`), compared with the other side's (the base
//! revision, else the profile stored beside the baseline), drawn as flame graphs
//! (`OUT/NAME.profile.svg`, `OUT/NAME.profile.diff.svg`), and summed up for the reports; what
//! went wrong is a gap the judge words as a note, never a verdict.

use crate::judge::profiling::ProfileGap;
use crate::pipeline::measure::ProfileRuns;
use crate::profile::{self, ProfileReport, Stacks, flame};
use crate::service::against::BaseCheckout;
use crate::support::files::write_atomic;
use crate::support::paths::Paths;

/// The comparison side: its words and its stacks.
struct Comparison {
    what: String,
    stacks: Stacks,
}

/// The report of a spec's profile, compared with the base revision's samples (`--against`) or
/// else the profile stored beside the baseline, and what kept it from being whole; `None` when
/// nothing was sampled.
pub fn conclude(
    paths: &Paths,
    name: &str,
    checkout: Option<&BaseCheckout>,
    runs: ProfileRuns,
) -> (Option<ProfileReport>, Vec<ProfileGap>) {
    let mut gaps = Vec::new();
    let comparison = match checkout {
        Some(checkout) => Some(Comparison {
            what: format!("{} ({})", checkout.rev, &checkout.commit[..12]),
            stacks: runs.base.clone(),
        }),
        None => stored(paths, name).unwrap_or_else(|why| {
            gaps.push(ProfileGap::NoComparison(why));
            None
        }),
    };
    let report = report(paths, name, runs, comparison, &mut gaps);
    (report, gaps)
}

/// The stacks stored beside `name`'s baseline, if any: `Err` is why they cannot be read.
fn stored(paths: &Paths, name: &str) -> Result<Option<Comparison>, String> {
    let file = paths.baseline_profile_file(name);
    let stacks = match std::fs::read(&file) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(format!(
                "cannot read {}: {err}",
                paths.shown(&file).display()
            ));
        }
        Ok(bytes) => Stacks::decompressed(&bytes).map_err(|err| {
            format!(
                "{} is not a gzip-compressed folded profile: {err}",
                paths.shown(&file).display()
            )
        })?,
    };
    Ok(Some(Comparison {
        what: "the baseline's profile".to_owned(),
        stacks,
    }))
}

/// The files written and the report made of the samples; `None` when there are none.
fn report(
    paths: &Paths,
    name: &str,
    runs: ProfileRuns,
    comparison: Option<Comparison>,
    gaps: &mut Vec<ProfileGap>,
) -> Option<ProfileReport> {
    if let Some(why) = runs.failure {
        gaps.push(ProfileGap::Incomplete(why));
    }
    let now = runs.candidate;
    if now.is_empty() {
        gaps.push(ProfileGap::NoSamples);
        return None;
    }
    let mut keep = |stem: &str, stacks: &Stacks| {
        let file = paths.profile_folded(stem);
        if let Err(err) = write_atomic(&file, stacks.folded().as_bytes()) {
            gaps.push(ProfileGap::NotWritten(format!("{err:#}")));
        }
        paths.shown(&file).display().to_string()
    };
    let folded = keep(name, &now);
    if !runs.base.is_empty() {
        keep(&format!("{name}.base"), &runs.base);
    }
    let comparison = comparison.filter(|c| !c.stacks.is_empty());
    let title = format!("{name}: the service's CPU samples in the judged window");
    let flame_svg = flame::flame_graph(&now, &title);
    let (functions, diff_svg) = match &comparison {
        Some(before) => (
            profile::share_changes(&before.stacks, &now, profile::FUNCTION_ROWS),
            flame::differential(
                &before.stacks,
                &now,
                &format!("{name}: this revision against {}", before.what),
            ),
        ),
        None => (profile::top_functions(&now, profile::FUNCTION_ROWS), None),
    };
    for (svg, suffix) in [(&flame_svg, "svg"), (&diff_svg, "diff.svg")] {
        if let Some(svg) = svg {
            let file = paths.out_dir.join(format!("{name}.profile.{suffix}"));
            if let Err(err) = write_atomic(&file, svg.as_bytes()) {
                gaps.push(ProfileGap::NotWritten(format!("{err:#}")));
            }
        }
    }
    Some(ProfileReport {
        samples: now.samples(),
        folded,
        before_samples: comparison.as_ref().map(|c| c.stacks.samples()),
        compared_with: comparison.map(|c| c.what),
        functions,
        flame_svg,
        diff_svg,
        stacks: now,
    })
}
