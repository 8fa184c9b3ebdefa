//! `--profile`: the service's sampled profile beside the verdict. `perf` samples the service's
//! process tree during the judged window of each run ([`perf`]); the stacks are folded (one line
//! per distinct stack, `frame;frame;frame COUNT`, the format every flame-graph tool reads),
//! summed over rounds, compared with the other side's (the base revision with `--against`, or the
//! profile stored beside the baseline), and drawn as SVG flame graphs ([`flame`]). This module is
//! the pure part: folded stacks in and out, each function's share of the samples, and the
//! functions whose share changed most.

pub mod flame;
pub mod perf;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};

use serde::{Deserialize, Serialize};

/// Samples per second per CPU: 99, not 100, so sampling does not run in lockstep with timers
/// that fire every 10 ms. Measured on the demo service: see `scripts/profile-overhead.sh`.
pub const FREQUENCY_HZ: u32 = 99;

/// Rows of the "functions whose share changed most" table.
pub const FUNCTION_ROWS: usize = 10;

/// A profile stored beside a baseline keeps its heaviest stacks up to this many bytes of folded
/// text (before compression): the stacks cut are the rarest, and the cut is said in the file.
pub const STORED_MAX_BYTES: usize = 2 * 1024 * 1024;

/// Folded stacks: each distinct stack (root first, frames joined by `;`) and its samples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stacks(pub BTreeMap<String, u64>);

impl Stacks {
    /// Reads folded text: `stack COUNT` per line; lines that are not are skipped (a comment, or
    /// the note of a capped file).
    pub fn parse(text: &str) -> Stacks {
        let mut stacks = Stacks::default();
        for line in text.lines() {
            let Some((stack, count)) = line.trim_end().rsplit_once(' ') else {
                continue;
            };
            if let (false, Ok(count)) = (stack.is_empty(), count.parse::<u64>()) {
                *stacks.0.entry(stack.to_owned()).or_default() += count;
            }
        }
        stacks
    }

    /// The folded text, one stack per line in a stable order.
    pub fn folded(&self) -> String {
        let mut text = String::new();
        for (stack, count) in &self.0 {
            text.push_str(stack);
            text.push(' ');
            text.push_str(&count.to_string());
            text.push('\n');
        }
        text
    }

    /// Adds another run's samples (rounds of the same side).
    pub fn add(&mut self, other: Stacks) {
        for (stack, count) in other.0 {
            *self.0.entry(stack).or_default() += count;
        }
    }

    pub fn samples(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each function's self share of the samples (the frame the CPU was in when sampled), in
    /// percent. The first frame is the thread's name, not a function: a stack of only that has
    /// no function of its own.
    pub fn self_shares(&self) -> BTreeMap<String, f64> {
        let total = self.samples();
        let mut shares: BTreeMap<String, f64> = BTreeMap::new();
        if total == 0 {
            return shares;
        }
        for (stack, count) in &self.0 {
            let mut frames = stack.split(';');
            let _thread = frames.next();
            if let Some(leaf) = frames.next_back() {
                *shares.entry(leaf.to_owned()).or_default() += *count as f64;
            }
        }
        for share in shares.values_mut() {
            *share = *share * 100.0 / total as f64;
        }
        shares
    }

    /// The heaviest stacks whose folded text fits in `max_bytes`, and how many samples were cut.
    pub fn capped(&self, max_bytes: usize) -> (Stacks, u64) {
        let mut by_weight: Vec<(&String, &u64)> = self.0.iter().collect();
        by_weight.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let (mut kept, mut bytes, mut cut) = (Stacks::default(), 0, 0);
        for (stack, count) in by_weight {
            let line = stack.len() + 2 + count.to_string().len();
            if bytes + line <= max_bytes {
                bytes += line;
                kept.0.insert(stack.clone(), *count);
            } else {
                cut += count;
            }
        }
        (kept, cut)
    }

    /// The stored form beside a baseline: the capped folded text, gzip-compressed.
    pub fn compressed(&self) -> Vec<u8> {
        let (kept, cut) = self.capped(STORED_MAX_BYTES);
        let mut text = kept.folded();
        if cut > 0 {
            // Not a stack line (no count): readers skip it.
            text.push_str(&format!(
                "# {cut} samples of the rarest stacks were cut to keep this file small\n"
            ));
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder
            .write_all(text.as_bytes())
            .expect("writing to memory");
        encoder.finish().expect("writing to memory")
    }

    /// Reads the stored form.
    pub fn decompressed(bytes: &[u8]) -> std::io::Result<Stacks> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes).read_to_string(&mut text)?;
        Ok(Stacks::parse(&text))
    }
}

/// One function's self share of the samples on each side, in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareChange {
    pub function: String,
    /// Share on the comparison side (the base revision, or the baseline's profile).
    pub before: f64,
    pub now: f64,
    /// now − before, in percentage points.
    pub change: f64,
}

/// The functions whose self share changed most, largest change first (growth before shrinkage
/// at equal size), at most `rows`.
pub fn share_changes(before: &Stacks, now: &Stacks, rows: usize) -> Vec<ShareChange> {
    let (before, now) = (before.self_shares(), now.self_shares());
    let mut functions: Vec<&String> = before.keys().chain(now.keys()).collect();
    functions.sort();
    functions.dedup();
    let mut changes: Vec<ShareChange> = functions
        .into_iter()
        .map(|function| {
            let (b, n) = (
                before.get(function).copied().unwrap_or(0.0),
                now.get(function).copied().unwrap_or(0.0),
            );
            ShareChange {
                function: function.clone(),
                before: b,
                now: n,
                change: n - b,
            }
        })
        .filter(|c| c.change != 0.0)
        .collect();
    changes.sort_by(|a, b| {
        b.change
            .abs()
            .total_cmp(&a.change.abs())
            .then(b.change.total_cmp(&a.change))
            .then(a.function.cmp(&b.function))
    });
    changes.truncate(rows);
    changes
}

/// The top functions of one profile by self share, for a run with nothing to compare with.
pub fn top_functions(now: &Stacks, rows: usize) -> Vec<ShareChange> {
    let mut top: Vec<ShareChange> = now
        .self_shares()
        .into_iter()
        .map(|(function, share)| ShareChange {
            function,
            before: 0.0,
            now: share,
            change: 0.0,
        })
        .collect();
    top.sort_by(|a, b| b.now.total_cmp(&a.now).then(a.function.cmp(&b.function)));
    top.truncate(rows);
    top
}

/// What a spec's profile gave, for the reports: `summary.json` keeps the figures and the table;
/// the pictures go only into `report.html` (and beside it as files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileReport {
    /// Samples of this revision's service over the judged windows.
    pub samples: u64,
    /// The folded stacks, in the output directory.
    pub folded: String,
    /// What the comparison side is ("HEAD~1 (0123abcd4567)", "the baseline's profile"); `None`
    /// with nothing to compare with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_samples: Option<u64>,
    /// With a comparison: the functions whose self share changed most. Without: the functions
    /// with the largest self share (`before` and `change` 0).
    #[serde(default)]
    pub functions: Vec<ShareChange>,
    /// The flame graph (SVG), for report.html only.
    #[serde(skip)]
    pub flame_svg: Option<String>,
    /// The differential flame graph (SVG): this run's stacks, red where a share grew.
    #[serde(skip)]
    pub diff_svg: Option<String>,
    /// The stacks themselves, for a baseline to store.
    #[serde(skip)]
    pub stacks: Stacks,
}

/// `"12.3%"`, the way every report shows a share.
pub fn format_share(share: f64) -> String {
    format!("{share:.1}%")
}

/// `"+12.3 pp"`: a change of share, in percentage points.
pub fn format_share_change(change: f64) -> String {
    format!("{change:+.1} pp")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stacks(lines: &[(&str, u64)]) -> Stacks {
        Stacks(lines.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect())
    }

    #[test]
    fn folded_text_reads_back_and_sums_repeated_stacks() {
        let text = "w;main;work 3\nw;main;idle 1\n# a note\nw;main;work 2\nbroken\n";
        let parsed = Stacks::parse(text);
        assert_eq!(parsed, stacks(&[("w;main;idle", 1), ("w;main;work", 5)]));
        assert_eq!(Stacks::parse(&parsed.folded()), parsed);
        assert_eq!(parsed.samples(), 6);
    }

    #[test]
    fn a_share_is_the_leaf_frames_and_a_thread_alone_is_no_function() {
        let shares = stacks(&[("w;main;work", 3), ("w;main", 1), ("w", 4)]).self_shares();
        assert_eq!(shares["work"], 37.5);
        assert_eq!(shares["main"], 12.5);
        assert!(!shares.contains_key("w"));
    }

    #[test]
    fn the_function_that_grew_most_comes_first() {
        let before = stacks(&[("w;main;serve", 90), ("w;main;parse", 10)]);
        let now = stacks(&[
            ("w;main;serve", 50),
            ("w;main;parse", 10),
            ("w;main;extra_work", 40),
        ]);
        let changes = share_changes(&before, &now, 10);
        let names: Vec<&str> = changes.iter().map(|c| c.function.as_str()).collect();
        // extra_work +40 pp and serve −40 pp tie in size: growth first; parse did not move.
        assert_eq!(names, ["extra_work", "serve"]);
        assert_eq!(changes[0].before, 0.0);
        assert_eq!(changes[0].now, 40.0);
        assert_eq!(share_changes(&before, &now, 1).len(), 1);
    }

    #[test]
    fn a_capped_profile_keeps_the_heaviest_stacks_and_round_trips_compressed() {
        let profile = stacks(&[("a;b", 10), ("a;c", 1), ("a;d", 5)]);
        let (kept, cut) = profile.capped("a;b 10\na;d 5\n".len());
        assert_eq!(kept, stacks(&[("a;b", 10), ("a;d", 5)]));
        assert_eq!(cut, 1);
        assert_eq!(
            Stacks::decompressed(&profile.compressed()).unwrap(),
            profile
        );
    }
}
