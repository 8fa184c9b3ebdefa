//! `loadgate init`: the gate scaffolded into an existing Cargo project. Takes the workspace (its
//! binaries from `cargo metadata`, their sources for how they take a port and whether they
//! answer `/health`); gives an `xtask/` that is a workspace of its own (its own Cargo.lock and
//! target directory, so the project's Cargo.toml, Cargo.lock and release profile are untouched)
//! and its `cargo xtask` alias, a first `loadspec/NAME.toml`, an empty `baselines/` and a GitHub
//! Actions workflow. It never overwrites a file: everything is checked before anything is written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::support::exit::Exit;

const XTASK_MANIFEST: &str = include_str!("init/xtask-Cargo.toml.in");
const XTASK_MAIN: &str = include_str!("init/xtask-main.rs.in");
const SPEC: &str = include_str!("init/spec.toml.in");
const WORKFLOW: &str = include_str!("init/loadtest.yml.in");
/// The xtask is its own workspace: `--manifest-path` (relative to the project's root, where
/// `cargo xtask` is run) builds it with its own lockfile and profile.
const XTASK_ALIAS: &str = "xtask = \"run --release --manifest-path xtask/Cargo.toml --\"";

/// `init`: scaffold loadgate into the Cargo workspace here.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The binary to gate, when the workspace has several.
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// Replace files that already exist (by default nothing is overwritten: exit 2).
    #[arg(long)]
    pub force: bool,
    /// The xtask's dependency on loadgate, as an inline Cargo dependency value, e.g.
    /// '{ git = "https://…", tag = "v0.1.0" }' or '{ path = "../../loadgate/loadgate" }' (a
    /// path is relative to xtask/); by default the loadgate this command was installed from
    /// (its crates.io version, git repository and revision, or source folder).
    #[arg(long, value_name = "SPEC")]
    pub loadgate_dep: Option<String>,
    /// Write the spec's `[cost]` table and `instructions` checks enabled (each request's
    /// instructions counted under Valgrind); by default they are when `valgrind` is on PATH.
    #[arg(long, conflicts_with = "no_cost")]
    pub cost: bool,
    /// Write `[cost]` and the `instructions` checks commented out (latency and CPU time only).
    #[arg(long)]
    pub no_cost: bool,
}

/// One of the workspace's binaries, and the source folder of its package.
#[derive(Debug, Clone, PartialEq)]
struct Binary {
    name: String,
    package_dir: PathBuf,
}

impl InitArgs {
    /// Scaffolds the workspace holding `dir`; an error is printed and answered with exit 2.
    pub fn run(self, dir: &Path) -> ExitCode {
        match self.init(dir) {
            Ok(()) => Exit::Passed.into(),
            Err(err) => {
                eprintln!("error: {err:#}");
                Exit::BadInput.into()
            }
        }
    }

    fn init(&self, dir: &Path) -> anyhow::Result<()> {
        let (root, binaries) = workspace(dir)?;
        let binary = pick_binary(&binaries, self.bin.as_deref())?;
        let facts = ServiceFacts::of(&source_text(&binary.package_dir));
        let dep = match &self.loadgate_dep {
            Some(dep) => dep.clone(),
            None => {
                let (dep, why) = default_dependency();
                println!("loadgate init: the xtask depends on loadgate = {dep}: {why}");
                dep
            }
        };
        let cost = self.cost_choice();
        println!("loadgate init: {}", cost.says());
        let mut files = new_files(&binary.name, &facts, cost, &dep);
        if !self.force
            && let Some((existing, _)) = files.iter().find(|(file, _)| root.join(file).exists())
        {
            bail!(
                "{} exists: loadgate init never overwrites a file (pass --force to replace it){}",
                existing.display(),
                if existing.starts_with("xtask") {
                    existing_xtask_hint(&dep)
                } else {
                    String::new()
                }
            );
        }
        files.extend(edited_files(&root));
        for (file, text) in &files {
            let path = root.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("loadgate init: wrote {}", file.display());
        }
        println!(
            "loadgate init: next, `cargo xtask loadtest --update-baselines` records baselines/{}.json \
             (commit it), and `cargo xtask loadtest` gates on it",
            binary.name
        );
        Ok(())
    }

    /// `--cost`, `--no-cost`, or whether this machine has Valgrind.
    fn cost_choice(&self) -> Cost {
        if self.cost {
            Cost::Asked
        } else if self.no_cost {
            Cost::Declined
        } else if crate::cost::valgrind::check_installed().is_ok() {
            Cost::Found
        } else {
            Cost::NotFound
        }
    }
}

/// Whether the spec counts instructions (`[cost]`), and why: the exact check is what catches a
/// few hundred microseconds more work in a fast endpoint, but it needs Valgrind, and a spec with
/// `[cost]` on a machine without it is refused (exit 2), which must not be a new user's first run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cost {
    /// `--cost`.
    Asked,
    /// `valgrind` and `vgdb` are on PATH.
    Found,
    /// `--no-cost`.
    Declined,
    NotFound,
}

impl Cost {
    fn enabled(self) -> bool {
        matches!(self, Cost::Asked | Cost::Found)
    }

    /// The line init prints about its choice.
    fn says(self) -> &'static str {
        match self {
            Cost::Found => {
                "valgrind is installed here, so the spec counts each request's instructions under \
                 Valgrind ([cost]) and fails a request that executes 5 % more; the workflow \
                 installs valgrind, and `cargo xtask loadtest --no-cost` skips the count"
            }
            Cost::Asked => {
                "the spec counts each request's instructions under Valgrind ([cost], --cost) and \
                 fails a request that executes 5 % more; a machine without valgrind refuses it \
                 (exit 2) until valgrind is installed, or runs it with --no-cost"
            }
            Cost::Declined => {
                "[cost] is written commented out (--no-cost): the gate judges latency and CPU time"
            }
            Cost::NotFound => {
                "valgrind is not installed here, so [cost] (each request's instructions: the check \
                 that catches a few hundred microseconds more work in a fast endpoint) is written \
                 commented out; install valgrind (`sudo apt-get install valgrind`), then uncomment \
                 [cost] and the `instructions` lines"
            }
        }
    }

    /// The spec's line on why `[cost]` is on or off.
    fn note(self) -> &'static str {
        match self {
            Cost::Found => "valgrind was found when `loadgate init` wrote this spec: [cost] is on.",
            Cost::Asked => "`loadgate init --cost` wrote [cost] on.",
            Cost::Declined => {
                "`loadgate init --no-cost` wrote it commented out: uncomment [cost] and the\n# \
                 `instructions` checks to count."
            }
            Cost::NotFound => {
                "valgrind was not found when `loadgate init` wrote this spec: uncomment [cost] \
                 and the\n# `instructions` checks once it is installed."
            }
        }
    }
}

/// The xtask's dependency on this very loadgate, and why: the published version when this
/// command was built from the registry's copy (`cargo install loadgate`), the repository and
/// revision when from git (`cargo install --git`), else the source folder it was built from
/// (`cargo install --path`), which only this machine has.
fn default_dependency() -> (String, String) {
    let source = env!("CARGO_MANIFEST_DIR");
    if source.contains("/registry/src/") {
        let version = env!("CARGO_PKG_VERSION");
        return (
            format!("\"{version}\""),
            "the published version this command was installed from".to_owned(),
        );
    }
    if source.contains("/git/checkouts/")
        && let Some((url, rev)) = installed_from_git()
    {
        return (
            format!("{{ git = \"{url}\", rev = \"{rev}\" }}"),
            "the repository and revision this command was installed from".to_owned(),
        );
    }
    (
        format!("{{ path = \"{source}\" }}"),
        "the source this command was built from; a path only works on this machine, so for CI \
         pass --loadgate-dep with a version or a git repository"
            .to_owned(),
    )
}

/// Where `cargo install --git` took loadgate from, as cargo recorded it in
/// `$CARGO_HOME/.crates2.json` (`git+URL?…#REV`).
fn installed_from_git() -> Option<(String, String)> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))?;
    let text = std::fs::read_to_string(home.join(".crates2.json")).ok()?;
    let installs: serde_json::Value = serde_json::from_str(&text).ok()?;
    let key = installs["installs"]
        .as_object()?
        .keys()
        .find(|key| key.starts_with("loadgate ") && key.contains("(git+"))?;
    let source = key.split("(git+").nth(1)?.trim_end_matches(')');
    let (url, rev) = source.split_once('#')?;
    let url = url.split('?').next()?;
    Some((url.to_owned(), rev.to_owned()))
}

/// The workspace root and its binaries (an existing `xtask` package's left out).
fn workspace(dir: &Path) -> anyhow::Result<(PathBuf, Vec<Binary>)> {
    let metadata = crate::support::cargo::metadata(dir)
        .with_context(|| format!("{} is not in a Cargo workspace", dir.display()))?;
    let root = PathBuf::from(metadata["workspace_root"].as_str().unwrap_or("."));
    let mut binaries = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        if package["name"] == "xtask" {
            continue;
        }
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let package_dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_bin = target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if let (true, Some(name)) = (is_bin, target["name"].as_str()) {
                binaries.push(Binary {
                    name: name.to_owned(),
                    package_dir: package_dir.clone(),
                });
            }
        }
    }
    Ok((root, binaries))
}

/// The binary to gate: the only one, or the one `--bin` names.
fn pick_binary<'a>(binaries: &'a [Binary], named: Option<&str>) -> anyhow::Result<&'a Binary> {
    let names = || {
        binaries
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (named, binaries) {
        (_, []) => bail!("the workspace has no binary to gate (cargo metadata lists none)"),
        (None, [only]) => Ok(only),
        (None, _) => bail!(
            "the workspace has several binaries: {}; pick one with --bin NAME",
            names()
        ),
        (Some(name), _) => binaries.iter().find(|b| b.name == name).with_context(|| {
            format!(
                "--bin {name}: no such binary (the workspace has: {})",
                names()
            )
        }),
    }
}

/// The Rust sources under a package's `src/`, concatenated: what [`ServiceFacts`] reads.
fn source_text(package_dir: &Path) -> String {
    fn walk(dir: &Path, out: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let mut text = String::new();
    walk(&package_dir.join("src"), &mut text);
    text
}

/// What the service's source says about how it runs, read from its text: enough for a first spec
/// that runs as written.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ServiceFacts {
    port_flag: bool,
    port_env: bool,
    /// `"/health"` (or `"/healthz"`) appears: the readiness probe's path.
    health: Option<&'static str>,
}

impl ServiceFacts {
    fn of(source: &str) -> ServiceFacts {
        // `"--port"` by hand, clap's derive (`port: u16`) or its builder (`.long("port")`).
        let port_flag = source.contains("\"--port\"")
            || source.contains(".long(\"port\")")
            || (source.contains("clap") && source.contains("port: u16"));
        let port_env = source.contains("\"PORT\"");
        let health = ["\"/health\"", "\"/healthz\""]
            .into_iter()
            .find(|quoted| source.contains(quoted))
            .map(|quoted| quoted.trim_matches('"'));
        // Neither seen: pass both, one of them will be it.
        let unknown = !port_flag && !port_env;
        ServiceFacts {
            port_flag: port_flag || unknown,
            port_env: port_env || unknown,
            health,
        }
    }
}

/// The spec, as `loadgate init` writes it for `bin`.
fn render_spec(bin: &str, facts: &ServiceFacts, cost: Cost) -> String {
    let (command, port_note) = match (facts.port_flag, facts.port_env) {
        (true, false) => (
            format!("[\"{{bin:{bin}}}\", \"--port\", \"{{port}}\"]"),
            "Its source takes a --port flag.",
        ),
        (false, true) => (
            format!("[\"{{bin:{bin}}}\"]"),
            "Its source reads the PORT environment variable.",
        ),
        _ => (
            format!("[\"{{bin:{bin}}}\", \"--port\", \"{{port}}\"]"),
            "Its source did not tell how it takes its port: both a --port flag and PORT are passed.",
        ),
    };
    let env = if facts.port_env {
        "env = { PORT = \"{port}\" }\n"
    } else {
        ""
    };
    // Without a health route, `/` may well answer 404 (an API, a front end built separately):
    // a service that accepts connections is ready.
    let ready = match facts.health {
        Some(path) => format!(
            "# Ready when this path answers 2xx. Its source mentions this path.\n\
             ready = {{ http = \"{path}\", timeout = \"60s\" }}"
        ),
        None => "# Ready once its port accepts connections: no /health route was found in its \
                 source,\n# and `/` need not answer 2xx. To wait until a route answers 2xx, add \
                 `http = \"/path\"`.\nready = { timeout = \"60s\" }"
            .to_owned(),
    };
    SPEC.replace("@COMMAND@", &command)
        .replace("@PORT_NOTE@", port_note)
        .replace("@ENV@", env)
        .replace("@READY@", &ready)
        .replace("@BIN@", bin)
        .replace("@COST_NOTE@", cost.note())
        .replace("@C@", if cost.enabled() { "" } else { "# " })
}

/// The files `init` creates, relative to the workspace root, in the order it checks them.
fn new_files(bin: &str, facts: &ServiceFacts, cost: Cost, dep: &str) -> Vec<(PathBuf, String)> {
    [
        (
            "xtask/Cargo.toml",
            XTASK_MANIFEST.replace("@LOADGATE_DEP@", dep),
        ),
        ("xtask/src/main.rs", XTASK_MAIN.to_owned()),
        // The xtask's own build, beside it: not the project's `/target` ignore's business.
        ("xtask/.gitignore", "/target/\n".to_owned()),
        (
            &format!("loadspec/{bin}.toml") as &str,
            render_spec(bin, facts, cost),
        ),
        ("baselines/.gitkeep", String::new()),
        (".github/workflows/loadtest.yml", WORKFLOW.to_owned()),
    ]
    .into_iter()
    .map(|(file, text)| (PathBuf::from(file), text))
    .collect()
}

/// The file `init` adds a line to: the `xtask` alias in `.cargo/config.toml` (none when there
/// already is one). The project's Cargo.toml is left alone: the xtask is no member of it.
fn edited_files(root: &Path) -> Vec<(PathBuf, String)> {
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).ok();
    with_xtask_alias(config.as_deref())
        .map(|text| (PathBuf::from(".cargo/config.toml"), text))
        .into_iter()
        .collect()
}

/// `.cargo/config.toml` with the `xtask` alias; `None` when it has one.
fn with_xtask_alias(config: Option<&str>) -> Option<String> {
    let config = config.unwrap_or_default();
    let table: toml::Table = toml::from_str(config).unwrap_or_default();
    if table.get("alias").and_then(|a| a.get("xtask")).is_some() {
        return None;
    }
    let comment = "# `cargo xtask …` (release mode: a debug load generator measures itself)";
    let mut lines: Vec<String> = config.lines().map(str::to_owned).collect();
    match lines.iter().position(|line| line.trim() == "[alias]") {
        Some(at) => lines
            .splice(at + 1..at + 1, [comment.to_owned(), XTASK_ALIAS.to_owned()])
            .for_each(drop),
        None => {
            if !lines.is_empty() {
                lines.push(String::new());
            }
            lines.extend([
                "[alias]".to_owned(),
                comment.to_owned(),
                XTASK_ALIAS.to_owned(),
            ]);
        }
    }
    Some(lines.join("\n") + "\n")
}

/// For a workspace with an xtask of its own: the lines that add the gate to it.
fn existing_xtask_hint(dep: &str) -> String {
    format!(
        "\nto add the gate to the existing xtask instead, put `loadgate = {dep}` under its [dependencies], \
         a subcommand `Loadtest(Box<loadgate::LoadtestArgs>)` in its clap enum, and dispatch it with \
         `Command::Loadtest(args) => args.run_in(&loadgate::RootArgs::default())`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binaries(names: &[&str]) -> Vec<Binary> {
        names
            .iter()
            .map(|name| Binary {
                name: (*name).to_owned(),
                package_dir: PathBuf::from(name),
            })
            .collect()
    }

    #[test]
    fn built_from_a_source_folder_the_xtask_depends_on_that_folder_and_says_why() {
        let (dep, why) = default_dependency();
        assert_eq!(
            dep,
            format!("{{ path = \"{}\" }}", env!("CARGO_MANIFEST_DIR"))
        );
        assert!(why.contains("only works on this machine"), "{why}");
        // The dependency value is valid TOML as a manifest holds it.
        let manifest: toml::Table = toml::from_str(&format!("loadgate = {dep}")).unwrap();
        assert!(manifest["loadgate"]["path"].is_str());
    }

    #[test]
    fn the_binary_is_the_only_one_or_the_one_named() {
        // (the workspace's binaries, --bin, the binary picked or a part of the error)
        type Case<'a> = (&'a [&'a str], Option<&'a str>, Result<&'a str, &'a str>);
        let cases: [Case; 5] = [
            (&["api"], None, Ok("api")),
            (&["api", "worker"], Some("worker"), Ok("worker")),
            (
                &["api", "worker"],
                None,
                Err("several binaries: api, worker; pick one with --bin"),
            ),
            (
                &["api"],
                Some("nope"),
                Err("--bin nope: no such binary (the workspace has: api)"),
            ),
            (&[], None, Err("no binary to gate")),
        ];
        for (names, named, expected) in cases {
            let all = binaries(names);
            match (pick_binary(&all, named), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got.name, want),
                (Err(got), Err(want)) => assert!(got.to_string().contains(want), "{got}"),
                (got, want) => panic!("{names:?} {named:?}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn the_source_tells_the_port_and_the_readiness_path() {
        let cases = [
            // (source, --port, PORT, readiness path)
            ("#[arg(long)] port: u16, // clap", true, false, None),
            (
                "std::env::var(\"PORT\") .route(\"/health\", get(ok))",
                false,
                true,
                Some("/health"),
            ),
            (
                "args.get(\"--port\") .route(\"/healthz\", h)",
                true,
                false,
                Some("/healthz"),
            ),
            (
                "Arg::new(\"port\").long(\"port\").value_parser(value_parser!(u16))",
                true,
                false,
                None,
            ),
            ("TcpListener::bind(addr)", true, true, None),
        ];
        for (source, port_flag, port_env, health) in cases {
            let expected = ServiceFacts {
                port_flag,
                port_env,
                health,
            };
            assert_eq!(ServiceFacts::of(source), expected, "{source}");
        }
    }

    #[test]
    fn every_generated_spec_plans_and_runs_as_written() {
        for (port_flag, port_env, health, cost) in [
            (true, false, Some("/health"), Cost::Found),
            (false, true, None, Cost::NotFound),
            (true, true, None, Cost::Asked),
            (true, false, None, Cost::Declined),
        ] {
            let facts = ServiceFacts {
                port_flag,
                port_env,
                health,
            };
            let text = render_spec("api", &facts, cost);
            assert!(!text.contains('@'), "a placeholder is left:\n{text}");
            let plan = crate::plan::build(
                Path::new("loadspec/api.toml"),
                &text,
                Path::new("."),
                &crate::plan::Overrides::default(),
                &|_| None,
            )
            .unwrap_or_else(|err| panic!("{err}\n{text}"));
            let service = plan.service.unwrap();
            assert_eq!(service.command[0], "{bin:api}");
            assert_eq!(service.command.contains(&"--port".to_owned()), port_flag);
            let port_from_env = service
                .env
                .iter()
                .any(|(k, v)| k == "PORT" && v == "{port}");
            assert_eq!(port_from_env, port_env);
            assert_eq!(service.ready_path.as_deref(), health);
            assert!(!plan.default_gate && !plan.thresholds.is_empty());
            // With [cost], the instructions of the mix and of `home` are judged at 5 %.
            assert_eq!(plan.cost.is_some(), cost.enabled(), "{text}");
            let instructions: Vec<_> = plan
                .thresholds
                .iter()
                .filter(|t| t.metric == crate::metric::Metric::Instructions)
                .map(|t| (t.scope.clone(), t.regression))
                .collect();
            let expected = [
                (crate::metric::Scope::Total, Some(0.05)),
                (crate::metric::Scope::Request("home".to_owned()), Some(0.05)),
            ];
            let expected: &[_] = if cost.enabled() { &expected } else { &[] };
            assert_eq!(instructions, expected, "{text}");
        }
    }

    #[test]
    fn the_xtask_alias_is_added_once() {
        let cases = [
            (None, true),
            (Some("[build]\njobs = 2\n"), true),
            (Some("[alias]\nb = \"build\"\n"), true),
            (Some("[alias]\nxtask = \"run -p xtask --\"\n"), false),
        ];
        for (config, added) in cases {
            let edited = with_xtask_alias(config);
            assert_eq!(edited.is_some(), added, "{config:?}");
            if let Some(edited) = edited {
                let table: toml::Table = toml::from_str(&edited).unwrap();
                assert!(table["alias"]["xtask"].is_str(), "{edited}");
                assert_eq!(with_xtask_alias(Some(&edited)), None, "idempotent");
            }
        }
    }

    #[test]
    fn the_xtask_depends_on_the_loadgate_it_is_given() {
        let facts = ServiceFacts::of("");
        let files = new_files("api", &facts, Cost::Found, "{ path = \"../loadgate\" }");
        let manifest: toml::Table = toml::from_str(&files[0].1).unwrap();
        assert_eq!(
            manifest["dependencies"]["loadgate"]["path"].as_str(),
            Some("../loadgate")
        );
        // A workspace of its own: the project's manifest, lockfile and profile stay its own.
        assert!(
            manifest["workspace"]
                .as_table()
                .is_some_and(|w| w.is_empty())
        );
        let names: Vec<_> = files
            .iter()
            .map(|(file, _)| file.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "xtask/Cargo.toml",
                "xtask/src/main.rs",
                "xtask/.gitignore",
                "loadspec/api.toml",
                "baselines/.gitkeep",
                ".github/workflows/loadtest.yml"
            ]
        );
    }
}
