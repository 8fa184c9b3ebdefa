//! Folded stacks → SVG flame graphs with inferno: one of a profile, and a differential one
//! (this run's stacks, coloured by how each frame's share moved against the comparison side:
//! red where it grew, blue where it shrank). Each SVG is whole (its own script: search and zoom,
//! function names as text), for `report.html` to embed and a browser to open alone.

use std::io::BufReader;

use inferno::flamegraph::{self, Options};

use crate::profile::Stacks;

fn options(title: String, subtitle: Option<String>) -> Options<'static> {
    let mut options = Options::default();
    options.title = title;
    options.subtitle = subtitle;
    options.count_name = "samples".to_owned();
    // The same stacks give the same picture: colours by name, not at random.
    options.hash = true;
    options.deterministic = true;
    // The width of report.html's column.
    options.image_width = Some(1060);
    options
}

/// The flame graph of `stacks`; `None` without a sample.
pub fn flame_graph(stacks: &Stacks, title: &str) -> Option<String> {
    if stacks.is_empty() {
        return None;
    }
    let folded = stacks.folded();
    let mut svg = Vec::new();
    let mut options = options(title.to_owned(), None);
    flamegraph::from_lines(&mut options, folded.lines(), &mut svg).ok()?;
    String::from_utf8(svg).ok()
}

/// The differential flame graph: `now`'s stacks, each frame red as far as its share grew since
/// `before` (scaled to the same number of samples), blue as far as it shrank.
pub fn differential(before: &Stacks, now: &Stacks, title: &str) -> Option<String> {
    if now.is_empty() || before.is_empty() {
        return None;
    }
    let (before, now) = (before.folded(), now.folded());
    let mut diff = Vec::new();
    let diff_options = inferno::differential::Options {
        normalize: true,
        ..Default::default()
    };
    inferno::differential::from_readers(
        diff_options,
        BufReader::new(before.as_bytes()),
        BufReader::new(now.as_bytes()),
        &mut diff,
    )
    .ok()?;
    let diff = String::from_utf8(diff).ok()?;
    let mut svg = Vec::new();
    let subtitle = "red: a larger share of the samples than before; blue: a smaller one".to_owned();
    let mut options = options(title.to_owned(), Some(subtitle));
    flamegraph::from_lines(&mut options, diff.lines(), &mut svg).ok()?;
    String::from_utf8(svg).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stacks(lines: &[(&str, u64)]) -> Stacks {
        Stacks(lines.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect())
    }

    #[test]
    fn a_flame_graph_names_its_functions_as_text() {
        let profile = stacks(&[
            ("w;main;demo_service::extra_work", 40),
            ("w;main;serve", 60),
        ]);
        let svg = flame_graph(&profile, "reads").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains("demo_service::extra_work"));
        assert!(flame_graph(&Stacks::default(), "none").is_none());
    }

    #[test]
    fn a_differential_flame_graph_draws_the_new_function_in_red() {
        let before = stacks(&[("w;main;serve", 100)]);
        let now = stacks(&[
            ("w;main;serve", 60),
            ("w;main;demo_service::extra_work", 40),
        ]);
        let svg = differential(&before, &now, "reads").unwrap();
        let frame = svg
            .split("<g>")
            .find(|g| g.contains("<title>demo_service::extra_work"))
            .unwrap_or_else(|| panic!("{svg}"));
        // Grown: full red (inferno writes rgb(255,…)).
        assert!(frame.contains("rgb(255,"), "{frame}");
    }
}
