//! `--profile`, after a spec's runs: the stacks kept as `OUT/NAME.profile.folded` (and the base
//! revision's as `OUT/NAME.base.profile.folded`), compared with the other side's (the base
//! revision, else the profile stored beside the baseline), drawn as flame graphs
//! (`OUT/NAME.profile.svg`, `OUT/NAME.profile.diff.svg`), and summed up for the reports; what
//! went wrong becomes a note, never a verdict.

use crate::pipeline::measure::ProfileRuns;
use crate::profile::{self, ProfileReport, Stacks, flame};
use crate::support::files::write_atomic;
use crate::support::paths::Paths;

/// The comparison side: its words and its stacks.
pub struct Comparison {
    pub what: String,
    pub stacks: Stacks,
}

/// The stacks stored beside `name`'s baseline, if any: `Err` is a note's words.
pub fn stored(paths: &Paths, name: &str) -> Result<Option<Stacks>, String> {
    let file = paths.baseline_profile_file(name);
    match std::fs::read(&file) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!(
            "cannot read {}: {err}",
            paths.shown(&file).display()
        )),
        Ok(bytes) => Stacks::decompressed(&bytes).map(Some).map_err(|err| {
            format!(
                "{} is not a gzip-compressed folded profile: {err}",
                paths.shown(&file).display()
            )
        }),
    }
}

/// The report of a spec's profile and the notes to add; `None` when nothing was sampled.
pub fn conclude(
    paths: &Paths,
    name: &str,
    runs: ProfileRuns,
    comparison: Option<Comparison>,
) -> (Option<ProfileReport>, Vec<String>) {
    let mut notes = Vec::new();
    if let Some(why) = runs.failure {
        notes.push(format!("no complete profile: {why}"));
    }
    let now = runs.candidate;
    if now.is_empty() {
        if notes.is_empty() {
            notes.push(
                "no profile: perf took no sample of the service in the judged window (a warmup \
                 as long as the run, or a service that was idle)"
                    .to_owned(),
            );
        }
        return (None, notes);
    }
    let mut keep = |stem: &str, stacks: &Stacks| {
        let file = paths.profile_folded(stem);
        if let Err(err) = write_atomic(&file, stacks.folded().as_bytes()) {
            notes.push(format!("{err:#}"));
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
                notes.push(format!("{err:#}"));
            }
        }
    }
    let report = ProfileReport {
        samples: now.samples(),
        folded,
        before_samples: comparison.as_ref().map(|c| c.stacks.samples()),
        compared_with: comparison.map(|c| c.what),
        functions,
        flame_svg,
        diff_svg,
        stacks: now,
    };
    (Some(report), notes)
}
