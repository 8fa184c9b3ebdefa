//! Helpers for the end-to-end tests: the workspace's real binaries (`xtask`, `demo-service`),
//! each test in a sandbox directory with its own specs, baselines and output, and a scan of
//! `/proc` for service processes a run left behind.
//!
//! Every service a sandbox spec starts carries the sandbox path on its command line (its
//! `--db` file), which is how [`Sandbox::leftover_processes`] recognises it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

/// The workspace's binaries, built once per test process (a no-op for cargo when current).
#[derive(Debug)]
pub struct Bins {
    pub xtask: PathBuf,
    pub demo_service: PathBuf,
}

pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        let status = loadgate::testing::cargo_command(&workspace_root())
            .args(["build", "--workspace", "--bins", "--quiet"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the workspace's binaries failed");
        // This test executable lives in <target>/<profile>/deps/; the binaries one level up.
        let exe = std::env::current_exe().expect("the test executable's path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("<target>/<profile>/deps/<test>");
        Bins {
            xtask: dir.join("xtask"),
            demo_service: dir.join("demo-service"),
        }
    })
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// What a finished `xtask` run left: its exit code and output.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing the whole output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A directory of its own for one test: `loadspec/`, `baselines/`, `out/`.
#[derive(Debug)]
pub struct Sandbox {
    dir: TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("loadgate-e2e-")
            .tempdir()
            .expect("a temporary directory");
        for sub in ["loadspec", "baselines", "out"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn baselines(&self) -> PathBuf {
        self.path().join("baselines")
    }

    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    /// A TOML array starting the demo service on `{port}`, with extra arguments.
    pub fn demo_command(&self, extra: &[&str]) -> String {
        let mut args = vec![
            bins().demo_service.display().to_string(),
            "--port".into(),
            "{port}".into(),
            "--db".into(),
            self.path().join("demo.sqlite").display().to_string(),
        ];
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        toml_array(&args)
    }

    /// A short closed-model spec against the demo service (started with `service_args`): GET `/`
    /// and `/status` from 4 users for 2 s after a 300 ms warmup, then `rest` (usually a `[gate]`).
    pub fn quick_spec(&self, name: &str, service_args: &[&str], rest: &str) -> PathBuf {
        self.demo_spec(
            name,
            service_args,
            "model = \"closed\"\nusers = 4\nramp_up = \"200ms\"\nthink_time = \"5ms..15ms\"\nwarmup = \"300ms\"\nduration = \"2s\"",
            rest,
        )
    }

    /// A spec against the demo service (started with `service_args`) with the keys of `[load]`,
    /// GET `/` and `/status` in a 3:1 mix, then `rest`.
    pub fn demo_spec(&self, name: &str, service_args: &[&str], load: &str, rest: &str) -> PathBuf {
        let command = self.demo_command(service_args);
        self.spec(
            name,
            &format!(
                r#"name = "{name}"

[service]
command = {command}
ready = {{ http = "/health", timeout = "20s" }}

[load]
{load}

[[request]]
name = "home"
weight = 3
path = "/"

[[request]]
name = "status"
path = "/status"

{rest}"#
            ),
        )
    }

    /// Replaces `from` with `to` in a spec file written earlier; `from` must be there.
    #[track_caller]
    pub fn edit_spec(&self, spec: &Path, from: &str, to: &str) {
        let text = std::fs::read_to_string(spec).unwrap();
        assert!(
            text.contains(from),
            "`{from}` is not in {}:\n{text}",
            spec.display()
        );
        std::fs::write(spec, text.replace(from, to)).unwrap();
    }

    /// Puts a valid baseline for spec `name` in place (the shipped `reads` figures, renamed) and
    /// returns its bytes, so a test can check that a run left it byte for byte unchanged.
    pub fn plant_baseline(&self, name: &str) -> Vec<u8> {
        let shipped =
            std::fs::read_to_string(workspace_root().join("baselines/reads.json")).unwrap();
        let text = shipped.replacen("\"spec\": \"reads\"", &format!("\"spec\": \"{name}\""), 1);
        std::fs::write(self.baseline_file(name), &text).unwrap();
        text.into_bytes()
    }

    pub fn baseline_file(&self, name: &str) -> PathBuf {
        self.baselines().join(format!("{name}.json"))
    }

    /// Asserts that the baseline directory holds exactly `name`'s file with `bytes`: nothing
    /// rewritten, nothing half-written beside it.
    #[track_caller]
    pub fn assert_baseline_untouched(&self, name: &str, bytes: &[u8]) {
        let files: Vec<String> = std::fs::read_dir(self.baselines())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            files,
            [format!("{name}.json")],
            "the baseline directory changed"
        );
        assert!(
            std::fs::read(self.baseline_file(name)).unwrap() == bytes,
            "the baseline was rewritten"
        );
    }

    /// Writes `loadspec/NAME.toml` and returns its path.
    pub fn spec(&self, name: &str, text: &str) -> PathBuf {
        let file = self.path().join("loadspec").join(format!("{name}.toml"));
        std::fs::write(&file, text).unwrap();
        file
    }

    /// The xtask command for `loadtest` with this sandbox's baselines and output.
    pub fn loadtest(&self) -> Command {
        let mut command = Command::new(&bins().xtask);
        command
            .arg("loadtest")
            .arg("--no-build")
            .arg("--baselines")
            .arg(self.baselines())
            .arg("--out")
            .arg(self.out());
        command
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("GITHUB_ACTIONS");
        command
    }

    /// Runs `loadtest` with more arguments and waits for it.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_command(self.loadtest().args(args))
    }

    pub fn run_command(&self, command: &mut Command) -> Run {
        Run::from(command.output().expect("xtask runs"))
    }

    pub fn read_out(&self, file: &str) -> String {
        let path = self.out().join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
    }

    pub fn summary(&self) -> serde_json::Value {
        serde_json::from_str(&self.read_out("summary.json")).expect("summary.json is JSON")
    }

    /// Processes whose command line mentions this sandbox: services a run failed to stop.
    pub fn leftover_processes(&self) -> Vec<String> {
        let marker = self.path().display().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .filter_map(|entry| {
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                cmdline
                    .contains(&marker)
                    .then(|| format!("pid {}: {cmdline}", entry.file_name().to_string_lossy()))
            })
            .collect()
    }

    /// The pids of the demo services running for this sandbox (not the gate, whose command
    /// line mentions the sandbox too while it runs).
    pub fn service_pids(&self) -> Vec<u32> {
        let demo = bins().demo_service.display().to_string();
        self.leftover_processes()
            .iter()
            .filter(|line| line.contains(&demo))
            .filter_map(|line| line.strip_prefix("pid ")?.split(':').next()?.parse().ok())
            .collect()
    }

    /// Starts a demo service on a free port (for `--target`), with extra arguments; it is
    /// killed when the handle is dropped.
    pub fn start_demo(&self, extra: &[&str]) -> RunningService {
        let mut child = Command::new(&bins().demo_service)
            .args(["--port", "0", "--db"])
            .arg(self.path().join("demo.sqlite"))
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the demo service starts");
        let mut first_line = String::new();
        BufReader::new(child.stdout.as_mut().expect("piped"))
            .read_line(&mut first_line)
            .expect("the demo service says where it listens");
        let url = first_line
            .trim()
            .strip_prefix("demo-service listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first_line}"))
            .to_owned();
        RunningService { child, url }
    }

    #[track_caller]
    pub fn assert_no_leftover_processes(&self) {
        let leftovers = self.leftover_processes();
        assert!(
            leftovers.is_empty(),
            "processes outlived the run:\n{}",
            leftovers.join("\n")
        );
    }
}

/// Asserts that `instance` validates against the checked-in JSON Schema at `schema_file`
/// (relative to the workspace root), listing every violation when it does not.
#[track_caller]
pub fn assert_valid(schema_file: &str, instance: &serde_json::Value) {
    let path = workspace_root().join(schema_file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{schema_file} is not a valid schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "not valid against {schema_file}:\n{}",
        errors.join("\n")
    );
}

/// `["a", "b"]` with TOML basic-string escaping.
pub fn toml_array(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| format!("\"{}\"", item.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// A demo service a test started itself, killed when dropped.
#[derive(Debug)]
pub struct RunningService {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl RunningService {
    /// The body of `GET path`, over a plain HTTP/1.0 connection.
    pub fn get(&self, path: &str) -> String {
        let address = self.url.strip_prefix("http://").expect("an http URL");
        let mut stream = std::net::TcpStream::connect(address).expect("the service accepts");
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        body.to_owned()
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
