//! The specs and baselines shipped in the repository fit together: every spec plans, and its
//! committed baseline was recorded for that exact workload. Changing a spec's load without
//! recording a new baseline (`cargo xtask loadtest --update-baselines`) fails here, in the
//! tests, rather than as an inconclusive gate later.

use loadgate::Overrides;
use loadgate::Paths;
use loadgate::schema;
use loadgate::testing::baseline;
use loadgate::testing::plan;
use loadgate_tests::{assert_valid, workspace_root};

#[test]
fn every_shipped_spec_plans_and_has_a_baseline_for_its_workload() {
    let paths = Paths::under(&workspace_root());
    let files = paths.spec_files(&[]).unwrap();
    assert!(
        files.len() >= 2,
        "the read mix and the badge workload are shipped: {files:?}"
    );
    let mut names = Vec::new();
    for file in files {
        let plan = plan::load(&file, &paths.root, &Overrides::default())
            .unwrap_or_else(|err| panic!("{err}"));
        let baseline_file = paths.baseline_file(&plan.name);
        let baseline = baseline::read(&baseline_file)
            .unwrap_or_else(|err| panic!("{err}"))
            .unwrap_or_else(|| {
                panic!(
                    "{} has no committed baseline {}",
                    file.display(),
                    baseline_file.display()
                )
            });
        assert_eq!(baseline.spec, plan.name);
        assert_eq!(
            baseline.spec_hash,
            plan.spec_hash,
            "{} was recorded for another version of {}: run `cargo xtask loadtest --update-baselines`",
            baseline_file.display(),
            file.display()
        );
        let requests: Vec<&String> = baseline.summary.requests.keys().collect();
        let mut planned: Vec<&String> = plan.requests.iter().map(|r| &r.name).collect();
        planned.sort();
        assert_eq!(
            requests,
            planned,
            "{}: a baseline row per request name",
            baseline_file.display()
        );
        if let Some(cost) = &plan.cost {
            // A `[cost]` spec's baseline counted each of its names, else its checks say
            // "no baseline" for ever.
            let counted = baseline.summary.cost.as_ref().unwrap_or_else(|| {
                panic!(
                    "{} has [cost] but {} has no instructions: run `cargo xtask loadtest --update-baselines`",
                    file.display(),
                    baseline_file.display()
                )
            });
            for &idx in &cost.counted {
                let name = &plan.requests[idx].name;
                assert!(
                    counted.by_request.contains_key(name),
                    "{}: no instructions for `{name}`",
                    baseline_file.display()
                );
            }
        }
        names.push(plan.name);
    }
    for entry in std::fs::read_dir(&paths.baselines_dir).unwrap() {
        let file = entry.unwrap().path();
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            names.contains(&stem),
            "{} belongs to no spec in loadspec/",
            file.display()
        );
    }
}

#[test]
fn every_shipped_spec_validates_against_the_spec_schema_and_names_it() {
    let paths = Paths::under(&workspace_root());
    for file in paths.spec_files(&[]).unwrap() {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("#:schema ./spec.schema.json\n"),
            "{}: editors find the schema through its first line",
            file.display()
        );
        let value: toml::Value = toml::from_str(&text).unwrap();
        assert_valid(
            "loadspec/spec.schema.json",
            &serde_json::to_value(value).unwrap(),
        );
    }
    // The schema rejects what the parser rejects: an unknown key.
    let typo: toml::Value = toml::from_str("[load]\nusers = 2\nthinktime = \"1s\"\n").unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema::spec()).unwrap();
    assert!(!jsonschema::is_valid(
        &schema,
        &serde_json::to_value(typo).unwrap()
    ));
}

#[test]
fn the_readme_names_every_shipped_spec_and_counts_them() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let files = Paths::under(&root).spec_files(&[]).unwrap();
    let start = readme
        .find(" ship with the repository")
        .expect("the README lists the specs");
    let count = readme[..start].rsplit(['\n', ' ']).next().unwrap();
    let words = [
        "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten",
    ];
    assert_eq!(
        words.iter().position(|w| *w == count).map(|n| n + 1),
        Some(files.len()),
        "README.md says `{count}` specs ship; loadspec/ has {}",
        files.len()
    );
    let list = &readme[start..start + readme[start..].find("```").unwrap()];
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            list.contains(&format!("- `{name}`:")),
            "README.md's list of shipped specs misses {name}"
        );
    }
}
