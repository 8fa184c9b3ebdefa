//! `loadtest merge FILE_OR_DIR…`: the shards' files of one distributed run → the one verdict.
//! Files that cannot belong together (another run, spec, version or histogram configuration;
//! a duplicate index; a corrupt file) are bad input (exit 2) naming the file. The rest is added
//! exactly into the `Recording` a single process would have made, part by part, and goes
//! through the normal pipeline: summarize, compare, verdict, reports, baselines. A missing
//! shard, one that did not run as planned, or clocks further apart than the tolerance make the
//! run inconclusive (exit 4) naming the shard: the merged data is reported unjudged and no
//! baseline is written.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};

use crate::judge::baseline::{self, Baseline};
use crate::judge::distribution::{Distribution, ShardFacts, ShardTotals};
use crate::judge::shards::distrust;
use crate::judge::spec::{Against, SpecFacts, judge_spec, with_baseline};
use crate::judge::verdict::{GateResult, SpecResult};
use crate::pipeline::measure::{Measured, Repeat, Side, Step};
use crate::pipeline::{GateError, GateOptions, conclude, record_baselines};
use crate::plan::secret::Secrets;
use crate::plan::timeline::{Part, timeline};
use crate::plan::{self, Plan};
use crate::report;
use crate::run::Recording;
use crate::run::record::{Recorder, Schedule};
use crate::run::resources::ResourceFigures;
use crate::shard_file::merge::{check_recorder, merge_recorders, merge_schedules, merge_series};
use crate::shard_file::{HistogramConfig, KIND, PartFile, SCHEMA_VERSION, SeriesFile, ShardFile};
use crate::summary::summarize;
use crate::support::meta::Provenance;

/// What `${env.NAME}` reads while merging: secrets shaped the requests the shards sent, not
/// the figures they recorded, and the shards redacted them.
const ENV_PLACEHOLDER: &str = "(merge)";

/// What a merge does: the gate's options (baselines, output, flags) and the files to merge.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    pub gate: GateOptions,
    /// Shard files, or directories of `shard-*.json` (or holding a `shards/` directory).
    pub inputs: Vec<PathBuf>,
    /// `--clock-tolerance`: shards' clocks further apart make the run inconclusive.
    pub clock_tolerance: Duration,
}

/// One shard's file, decoded whole.
struct Shard {
    file: ShardFile,
    /// Per spec, per part.
    parts: Vec<Vec<Decoded>>,
}

/// One part of one shard, its histograms decoded.
struct Decoded {
    measured: Recorder,
    warmup: Recorder,
    schedule: Option<Schedule>,
    series: Vec<SeriesFile>,
    window: Duration,
    generator: Option<ResourceFigures>,
}

/// Merges the shard files and judges the whole run, writing the reports a run writes.
pub fn merge(options: &MergeOptions, console: &mut dyn Write) -> Result<GateResult, GateError> {
    let bad = GateError::BadInput;
    let files = read_inputs(&options.inputs).map_err(bad)?;
    check_together(&files).map_err(bad)?;
    let first = &files[0].1;
    let mut gate = options.gate.clone();
    gate.overrides = first.overrides.overrides();
    let planned = plan_specs(&gate, first).map_err(bad)?;
    let plans: Vec<Plan> = planned.iter().map(|(plan, _)| plan.clone()).collect();
    let shards: Vec<Shard> = (files.into_iter())
        .map(|(path, file)| decode(&path, file, &plans))
        .collect::<anyhow::Result<_>>()
        .map_err(bad)?;
    let paths = &gate.paths;
    let _lock = crate::support::files::lock_dir(&paths.out_dir, || {}).map_err(bad)?;
    let distribution = distribution(&shards);
    let (distrusted, notes) = distrust(&distribution, options.clock_tolerance);
    let mut provenance = Provenance::collect(&paths.root);
    // The figures were made on the shards' host, not on the one merging them.
    provenance.host = shards[0].file.host.clone();
    let parts = timeline(&plans);
    let mut results = Vec::new();
    for (spec, (plan, baseline)) in planned.iter().enumerate() {
        let spec_parts: Vec<&Part> = parts.iter().filter(|p| p.spec == spec).collect();
        let facts = SpecFacts {
            plan,
            against: Against::Baseline(baseline.as_ref()),
            host: &provenance.host,
            build: None,
            paths,
            overrides: &gate.overrides,
            strict_host: gate.strict_host,
            interrupted: None,
            distrusted: distrusted.clone(),
        };
        let mut result = with_baseline(SpecResult::unjudged(plan, paths), baseline.as_ref());
        result.notes.extend(notes.iter().cloned());
        let measured = measured(plan, spec, &spec_parts, &shards);
        let combined = measured.combine(plan, &Repeat::of(plan, false));
        result = judge_spec(&facts, result, combined, measured.failure);
        result.by_shard = by_shard(plan, spec, &shards);
        let mut text = Vec::new();
        report::console::write_spec(&mut text, &result)
            .map_err(|err| GateError::Output(anyhow!(err)))?;
        console
            .write_all(&text)
            .map_err(|err| GateError::Output(anyhow!(err)))?;
        results.push(result);
    }
    // An inconclusive merge is not the spec's load: it is no reference for later runs.
    let record = gate.update_baselines && distrusted.is_none();
    let (written, baseline_error) = record_baselines(record, paths, &results, &provenance);
    let mut result = GateResult::new(provenance, results, written, None);
    result.distribution = Some(distribution);
    conclude(result, baseline_error, &gate, console, &Secrets::default())
}

/// Every file named, and every `shard-*.json` of every directory named (or of its `shards/`),
/// parsed; one that is not a shard file is an error naming it.
fn read_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, ShardFile)>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let nested = input.join("shards");
            let mut found = shard_files_in(input)?;
            if found.is_empty() && nested.is_dir() {
                found = shard_files_in(&nested)?;
            }
            if found.is_empty() {
                bail!("{}: no shard files (shard-*.json) in it", input.display());
            }
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    if files.is_empty() {
        bail!("nothing to merge: name shard files or directories holding them");
    }
    files
        .into_iter()
        .map(|path| {
            let file = read_shard_file(&path).with_context(|| format!("{}", path.display()))?;
            Ok((path, file))
        })
        .collect()
}

fn shard_files_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("shard-") && name.ends_with(".json")
        })
        .collect();
    found.sort();
    Ok(found)
}

fn read_shard_file(path: &Path) -> anyhow::Result<ShardFile> {
    let text = std::fs::read_to_string(path).context("cannot read it")?;
    let file: ShardFile =
        serde_json::from_str(&text).context("it is not a loadgate shard file (corrupt?)")?;
    if file.kind != KIND || file.schema_version != SCHEMA_VERSION {
        bail!(
            "it is a `{}` file of schema version {}; this loadgate merges `{KIND}` version {SCHEMA_VERSION}",
            file.kind,
            file.schema_version
        );
    }
    Ok(file)
}

/// The files are of one run: the same run id, start, number of shards, loadgate version,
/// histogram configuration and specs; and no index twice.
fn check_together(files: &[(PathBuf, ShardFile)]) -> anyhow::Result<()> {
    let (first_path, first) = &files[0];
    let specs = |f: &ShardFile| -> Vec<(String, String)> {
        (f.specs.iter())
            .map(|s| (s.name.clone(), s.spec_hash.clone()))
            .collect()
    };
    let mut seen: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (path, file) in files {
        let differs = if file.run.run_id != first.run.run_id {
            Some(format!(
                "run id `{}`, not `{}`",
                file.run.run_id, first.run.run_id
            ))
        } else if file.run.start_at != first.run.start_at || file.run.shards != first.run.shards {
            Some("another start or number of shards".to_owned())
        } else if file.loadgate_version != first.loadgate_version {
            Some(format!(
                "loadgate {}, not {}",
                file.loadgate_version, first.loadgate_version
            ))
        } else if file.histogram != first.histogram {
            Some(format!(
                "histograms of {}, not {}",
                file.histogram, first.histogram
            ))
        } else if specs(file) != specs(first) || file.overrides != first.overrides {
            Some("other specs, spec hashes or overrides".to_owned())
        } else {
            None
        };
        if let Some(differs) = differs {
            bail!(
                "{} does not belong with {}: {differs}",
                path.display(),
                first_path.display()
            );
        }
        if file.run.shard().is_none() {
            bail!(
                "{}: there is no shard {} of {}",
                path.display(),
                file.run.index,
                file.run.shards
            );
        }
        if let Some(other) = seen.insert(file.run.index, path) {
            bail!(
                "{} and {} are both shard {}: merge one file per shard",
                other.display(),
                path.display(),
                file.run.index
            );
        }
    }
    Ok(())
}

/// The shards' specs planned again from this checkout (for their `[gate]`), each required to
/// be the spec the shards ran.
fn plan_specs(
    gate: &GateOptions,
    first: &ShardFile,
) -> anyhow::Result<Vec<(Plan, Option<Baseline>)>> {
    let paths = &gate.paths;
    first
        .specs
        .iter()
        .map(|spec| {
            let file = paths.root.join(&spec.file);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read the spec {}", file.display()))?;
            let plan = plan::build(&file, &text, &paths.root, &gate.overrides, &|_| {
                Some(ENV_PLACEHOLDER.to_owned())
            })?;
            if plan.spec_hash != spec.spec_hash || plan.name != spec.name {
                bail!(
                    "{}: the spec changed since the shards ran it (hash {}, the shards' {})",
                    file.display(),
                    plan.spec_hash,
                    spec.spec_hash
                );
            }
            let baseline_file = paths.baseline_file(&plan.name);
            let baseline = baseline::read(&baseline_file)?;
            if baseline.is_none() && gate.require_baselines && !gate.update_baselines {
                bail!(
                    "no baseline for `{}` ({} is missing) and --require-baselines is set",
                    plan.name,
                    baseline_file.display()
                );
            }
            Ok((plan, baseline))
        })
        .collect()
}

/// Every histogram of the file decoded against the plans: nothing skipped.
fn decode(path: &Path, file: ShardFile, plans: &[Plan]) -> anyhow::Result<Shard> {
    let parts = (file.specs.iter().zip(plans))
        .map(|(spec, plan)| {
            (spec.parts.iter())
                .map(|part| {
                    decode_part(part, plan).with_context(|| {
                        format!("{}: spec `{}`, {}", path.display(), spec.name, part.label)
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Shard { file, parts })
}

fn decode_part(part: &PartFile, plan: &Plan) -> anyhow::Result<Decoded> {
    let (measured, warmup) = part.decode_recorders(plan)?;
    // Histograms configured otherwise than this loadgate's would not add exactly.
    let expected = HistogramConfig::of(&Recorder::new(0).uncorrected_us);
    check_recorder(&measured, expected)?;
    check_recorder(&warmup, expected)?;
    part.check_series(expected)?;
    Ok(Decoded {
        measured,
        warmup,
        schedule: part.schedule.as_ref().map(Schedule::from),
        series: part.series.clone(),
        window: Duration::from_micros(part.window_us),
        generator: part.generator.clone(),
    })
}

/// The spec's parts, each added up over the shards that ran it, summarized as a single run's
/// would be. A part no shard ran ends the measurement.
fn measured(plan: &Plan, spec: usize, parts: &[&Part], shards: &[Shard]) -> Measured {
    let mut runs = Vec::new();
    for (k, part) in parts.iter().enumerate() {
        let ran: Vec<&Decoded> = shards.iter().filter_map(|s| s.parts[spec].get(k)).collect();
        if ran.is_empty() {
            break;
        }
        let at_step = part.at.map(|at| plan.at_step(at));
        let part_plan = at_step.as_ref().unwrap_or(plan);
        let recording = merged_recording(&ran);
        let step = Step {
            side: Side::Candidate,
            at: part.at,
            number: part.number,
        };
        runs.push((step, summarize(part_plan, &recording, &[])));
    }
    Measured {
        runs,
        failure: None,
        cost: None,
        base_cost: None,
        profile: Default::default(),
    }
}

/// The shards' records of one part added exactly into one recording.
fn merged_recording(ran: &[&Decoded]) -> Recording {
    let measured: Vec<Recorder> = ran.iter().map(|d| d.measured.clone()).collect();
    let warmup: Vec<Recorder> = ran.iter().map(|d| d.warmup.clone()).collect();
    let series: Vec<&[SeriesFile]> = ran.iter().map(|d| d.series.as_slice()).collect();
    let (series, series_histograms) = merge_series(&series);
    Recording {
        // The files were checked alike, so the recorders add exactly.
        measured: merge_recorders(&measured).expect("checked histogram configuration"),
        warmup: merge_recorders(&warmup).expect("checked histogram configuration"),
        window: ran.iter().map(|d| d.window).max().unwrap_or_default(),
        schedule: merge_schedules(ran.iter().filter_map(|d| d.schedule.as_ref())),
        series,
        series_histograms,
    }
}

/// Each shard's own totals over the spec's parts.
fn by_shard(plan: &Plan, spec: usize, shards: &[Shard]) -> Vec<ShardTotals> {
    shards
        .iter()
        .filter(|shard| !shard.parts[spec].is_empty())
        .map(|shard| {
            let parts = &shard.parts[spec];
            let measured: Vec<Recorder> = parts.iter().map(|d| d.measured.clone()).collect();
            let recording = Recording {
                measured: merge_recorders(&measured).expect("checked histogram configuration"),
                warmup: Recorder::new(plan.requests.len()),
                window: parts.iter().map(|d| d.window).sum(),
                schedule: None,
                series: Vec::new(),
                series_histograms: Vec::new(),
            };
            let total = summarize(plan, &recording, &[]).total;
            ShardTotals {
                index: shard.file.run.index,
                label: shard.file.label.clone(),
                requests: total.requests,
                failures: total.failures,
                error_rate: total.error_rate,
                rps: total.rps,
                latency_us: total.latency_us,
                generator: parts.last().and_then(|d| d.generator.clone()),
            }
        })
        .collect()
}

/// What `summary.json` says of the run and its shards.
fn distribution(shards: &[Shard]) -> Distribution {
    let run = &shards[0].file.run;
    let mut facts: Vec<ShardFacts> = shards
        .iter()
        .map(|shard| {
            let file = &shard.file;
            ShardFacts {
                index: file.run.index,
                label: file.label.clone(),
                status: file.status,
                host: file.host.clone(),
                boot_id: file.boot_id.clone(),
                clock: file.clock.clone(),
                started_late_us: file.started_late_us,
            }
        })
        .collect();
    facts.sort_by_key(|f| f.index);
    Distribution {
        run_id: run.run_id.clone(),
        start_at: humantime::format_rfc3339_millis(run.start_at).to_string(),
        shards_planned: run.shards,
        shards: facts,
    }
}
