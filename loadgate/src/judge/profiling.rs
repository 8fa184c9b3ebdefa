//! `--profile`'s notes: why a spec has no profile, or only part of one, each worded once here.
//! A profile never decides a verdict: what went wrong with it is a note beside the verdict.

/// What kept a spec's profile from being whole.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileGap {
    /// `--target`: the gate launched no service, so it has no process to sample.
    NoProcess,
    /// `perf` cannot run on this machine: the profile stage's words for why.
    Unavailable(String),
    /// A run could not be profiled (perf refused, or stopped badly): why.
    Incomplete(String),
    /// perf took no sample of the service in the judged window.
    NoSamples,
    /// The profile stored beside the baseline cannot be read: why.
    NoComparison(String),
    /// A profile file could not be written: the error.
    NotWritten(String),
}

impl ProfileGap {
    fn note(&self) -> String {
        match self {
            ProfileGap::NoProcess => "no profile: --target names a service the gate did not \
                                      launch, so it has no process of the service to sample"
                .to_owned(),
            ProfileGap::Unavailable(why) | ProfileGap::NotWritten(why) => why.clone(),
            ProfileGap::Incomplete(why) => format!("no complete profile: {why}"),
            ProfileGap::NoSamples => "no profile: perf took no sample of the service in the \
                                      judged window (a warmup as long as the run, or a service \
                                      that was idle)"
                .to_owned(),
            ProfileGap::NoComparison(why) => format!("no profile to compare with: {why}"),
        }
    }
}

/// The notes `gaps` add to a spec's result, in their order. A run that could not be profiled
/// already explains a profile without samples, so that one is then not said twice.
pub fn profile_notes(gaps: &[ProfileGap]) -> Vec<String> {
    let explained = gaps
        .iter()
        .any(|gap| matches!(gap, ProfileGap::Incomplete(_)));
    gaps.iter()
        .filter(|gap| !(explained && **gap == ProfileGap::NoSamples))
        .map(ProfileGap::note)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_gap_is_one_note_and_no_samples_only_when_nothing_explains_it() {
        use ProfileGap::*;
        let why = || "perf exited with 1".to_owned();
        // (gaps, the notes' beginnings)
        let table: [(Vec<ProfileGap>, &[&str]); 7] = [
            (vec![], &[]),
            (vec![NoProcess], &["no profile: --target names a service"]),
            (
                vec![Unavailable("no profile: `perf` is not on PATH".to_owned())],
                &["no profile: `perf` is not on PATH"],
            ),
            (vec![NoSamples], &["no profile: perf took no sample"]),
            (
                vec![Incomplete(why()), NoSamples],
                &["no complete profile: perf exited with 1"],
            ),
            (
                vec![NoComparison(why()), NoSamples],
                &[
                    "no profile to compare with: perf exited with 1",
                    "no profile: perf took no sample",
                ],
            ),
            (
                vec![Incomplete(why()), NotWritten("cannot write x".to_owned())],
                &["no complete profile: perf exited with 1", "cannot write x"],
            ),
        ];
        for (gaps, expected) in table {
            let notes = profile_notes(&gaps);
            assert_eq!(notes.len(), expected.len(), "{gaps:?}: {notes:?}");
            for (note, start) in notes.iter().zip(expected) {
                assert!(note.starts_with(start), "{gaps:?}: {note}");
            }
        }
        // One line, one space between words: no continuation left its indentation in a note.
        for gap in [NoProcess, NoSamples] {
            assert!(!gap.note().contains("  "), "{}", gap.note());
        }
    }
}
