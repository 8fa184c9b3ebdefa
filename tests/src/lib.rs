//! Helpers for the end-to-end tests: the workspace's real binaries (`xtask`, `demo-service`),
//! each test in a sandbox directory with its own specs, baselines and output, and a scan of
//! `/proc` for service processes a run left behind.
//!
//! Every service a sandbox spec starts carries the sandbox path on its command line (its
//! `--db` file), which is how [`Sandbox::leftover_processes`] recognises it.
//!
//! The tests of the suite run on several threads at once. A test that saturates the machine
//! (the open-model flood) takes its sandbox [`Sandbox::alone`], so no test measures beside it.
//!
//! [`TestCerts`] makes a CA and server certificates at test time, for the HTTPS tests;
//! [`Nginx`] serves one of them as users' nginx would.
//! [`Network`] puts processes in network namespaces of their own, as if on separate machines.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use loadgate::result::GateResult;
use loadgate::result::SpecSummary;
use loadgate::testing::baseline::{self, Baseline};
use tempfile::TempDir;

mod certs;
mod netns;
mod nginx;
pub use certs::{CertPair, TestCerts};
pub use netns::{Network, SERVICE_IP};
pub use nginx::Nginx;

/// Where this repository keeps the schema of `summary.json` (`cargo xtask schemas` writes it).
pub const SUMMARY_SCHEMA_FILE: &str = "docs/summary.schema.json";

/// The workspace's binaries, built once per test process in the profile of the test run, where
/// the tests look for them: `cargo test --release` runs release binaries, never stale ones.
#[derive(Debug)]
pub struct Bins {
    pub xtask: PathBuf,
    pub demo_service: PathBuf,
}

pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        // This test executable is <target>/<profile dir>/deps/<test>; the binaries go in the
        // profile dir.
        let exe = std::env::current_exe().expect("the test executable's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("<target>/<profile dir>/deps/<test>");
        let target_dir = profile_dir.parent().expect("<target>/<profile dir>");
        let status = loadgate::testing::cargo_command(&workspace_root())
            .args(["build", "--workspace", "--bins", "--quiet", "--profile"])
            .arg(profile_of(profile_dir))
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the workspace's binaries failed");
        Bins {
            xtask: profile_dir.join("xtask"),
            demo_service: profile_dir.join("demo-service"),
        }
    })
}

/// The cargo profile whose output goes to `profile_dir`: `dev` writes to `debug/`, every other
/// profile to a directory of its own name.
fn profile_of(profile_dir: &Path) -> &str {
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => panic!("no profile directory in {}", profile_dir.display()),
    }
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
    pub fn from(output: Output) -> Run {
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

/// Held shared by every sandbox and alone by one that saturates the machine, for as long as
/// the sandbox lives.
static MACHINE: RwLock<()> = RwLock::new(());

/// A sandbox's hold on [`MACHINE`], released when the sandbox is dropped.
#[derive(Debug)]
enum Turn {
    Shared {
        _guard: RwLockReadGuard<'static, ()>,
    },
    Alone {
        _guard: RwLockWriteGuard<'static, ()>,
    },
}

/// A directory of its own for one test: `loadspec/`, `baselines/`, `out/`.
#[derive(Debug)]
pub struct Sandbox {
    dir: TempDir,
    _turn: Turn,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A sandbox for a test that may run beside others (one per test: a second in the same
    /// thread could wait forever behind a test waiting to run alone).
    pub fn new() -> Sandbox {
        // A test that failed while alone leaves the lock poisoned; the others still run.
        let shared = MACHINE.read().unwrap_or_else(PoisonError::into_inner);
        Sandbox::with(Turn::Shared { _guard: shared })
    }

    /// A sandbox for a test that takes the machine's cores for itself: it waits for the tests
    /// running now to finish, and no other starts until it is dropped.
    pub fn alone() -> Sandbox {
        let alone = MACHINE.write().unwrap_or_else(PoisonError::into_inner);
        Sandbox::with(Turn::Alone { _guard: alone })
    }

    fn with(turn: Turn) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("loadgate-e2e-")
            .tempdir()
            .expect("a temporary directory");
        for sub in ["loadspec", "baselines", "out"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        Sandbox { dir, _turn: turn }
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
        let mut planted = read_baseline(&workspace_root().join("baselines/reads.json"));
        planted.spec = name.to_owned();
        let file = self.baseline_file(name);
        baseline::write(&file, &planted).unwrap();
        std::fs::read(file).unwrap()
    }

    pub fn baseline_file(&self, name: &str) -> PathBuf {
        self.baselines().join(format!("{name}.json"))
    }

    /// Spec `name`'s baseline in this sandbox, which must be there.
    pub fn baseline(&self, name: &str) -> Baseline {
        read_baseline(&self.baseline_file(name))
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

    /// Makes the sandbox a git repository holding a Cargo package with nothing to build (so a
    /// revision checks out and builds in a second, for `--against`), nothing committed yet.
    pub fn git_package(&self) {
        let dir = self.path();
        std::fs::write(
            dir.join("Cargo.toml"),
            "[package]\nname = \"ab\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        std::fs::write(dir.join(".gitignore"), "target/\nout/\n*.sqlite*\n").unwrap();
        git(dir, &["init", "-q"]);
    }

    /// Writes `serve.sh`, which starts the demo service on the port it is given, with `args`:
    /// each revision of a sandbox repository then starts its own service. Answers the spec's
    /// command for it.
    pub fn serve_script(&self, args: &str) -> String {
        std::fs::write(
            self.path().join("serve.sh"),
            format!(
                "exec {} --port \"$1\" {args}\n",
                bins().demo_service.display()
            ),
        )
        .unwrap();
        toml_array(&["sh".into(), "serve.sh".into(), "{port}".into()])
    }

    /// Commits two revisions of the sandbox package: "base", whose `serve.sh` starts the plain
    /// demo service, then "a costlier home", whose service runs `--work COSTLIER`.
    pub fn commit_base_then_costlier(&self, costlier: &str) {
        let dir = self.path();
        self.git_package();
        self.serve_script("");
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "base"]);
        self.serve_script(&format!("--work {costlier}"));
        git(dir, &["commit", "-q", "-am", "a costlier home"]);
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

    /// The last run's `summary.json`, read as the gate's own result type.
    pub fn summary(&self) -> GateResult {
        serde_json::from_str(&self.read_out("summary.json"))
            .unwrap_or_else(|err| panic!("summary.json is not a GateResult: {err}"))
    }

    /// What the last run measured for its first (usually only) spec.
    pub fn spec_summary(&self) -> SpecSummary {
        let result = self.summary();
        let spec = result
            .specs
            .into_iter()
            .next()
            .expect("a spec in summary.json");
        spec.summary
            .unwrap_or_else(|| panic!("nothing measured for `{}`", spec.name))
    }

    /// The last run's `summary.json` as plain JSON, for the schema.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.read_out("summary.json")).expect("summary.json is JSON")
    }

    /// Processes whose command line mentions this sandbox (pid, command line): services a run
    /// failed to stop.
    pub fn leftover_processes(&self) -> Vec<(u32, String)> {
        let marker = self.path().display().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let pid = entry.file_name().to_str()?.parse().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                cmdline.contains(&marker).then_some((pid, cmdline))
            })
            .collect()
    }

    /// The pids of the demo services running for this sandbox (not the gate, whose command
    /// line mentions the sandbox too while it runs).
    pub fn service_pids(&self) -> Vec<u32> {
        let demo = bins().demo_service.display().to_string();
        self.leftover_processes()
            .into_iter()
            .filter(|(_, cmdline)| cmdline.contains(&demo))
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Starts a demo service on a free port (for `--target`), with extra arguments; it is
    /// killed when the handle is dropped.
    pub fn start_demo(&self, extra: &[&str]) -> RunningService {
        self.start_demo_with(Command::new(&bins().demo_service), extra)
    }

    /// [`Sandbox::start_demo`] with the demo service's binary run by `command`, e.g. inside a
    /// network namespace ([`Network::command`]).
    pub fn start_demo_with(&self, mut command: Command, extra: &[&str]) -> RunningService {
        let mut child = command
            .args(["--port", "0", "--db"])
            .arg(self.path().join("demo.sqlite"))
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the demo service starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut first_line = String::new();
        stdout
            .read_line(&mut first_line)
            .expect("the demo service says where it listens");
        // `http://ADDR`, or `https://ADDR (h2, http/1.1)` with TLS or --http2.
        let url = first_line
            .trim()
            .strip_prefix("demo-service listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {first_line}"))
            .to_owned();
        // Drained all along, so a chatty service (`--log-bodies`) never blocks on a full pipe.
        let log = std::thread::spawn(move || {
            let mut rest = String::new();
            stdout.read_to_string(&mut rest).ok();
            rest
        });
        RunningService {
            child,
            url,
            log: Some(log),
        }
    }

    #[track_caller]
    pub fn assert_no_leftover_processes(&self) {
        let leftovers = self.leftover_processes();
        assert!(
            leftovers.is_empty(),
            "processes outlived the run:\n{leftovers:#?}"
        );
    }
}

/// The frame of a fault test: a sandbox with a valid baseline planted for spec `name` and a
/// quick spec of that name against the demo service started with `service_args`. Whatever the
/// fault, no process may outlive it and the baseline must stay byte for byte as planted.
#[derive(Debug)]
pub struct Fault {
    pub sandbox: Sandbox,
    pub spec: PathBuf,
    name: String,
    baseline: Vec<u8>,
}

impl Fault {
    /// `rest` follows the requests in the spec, as in [`Sandbox::quick_spec`].
    pub fn new(name: &str, service_args: &[&str], rest: &str) -> Fault {
        let sandbox = Sandbox::new();
        let baseline = sandbox.plant_baseline(name);
        let spec = sandbox.quick_spec(name, service_args, rest);
        Fault {
            sandbox,
            spec,
            name: name.to_owned(),
            baseline,
        }
    }

    /// Runs the gate on the spec and asserts its exit code.
    #[track_caller]
    pub fn run(&self, code: i32) -> Run {
        let run = self.sandbox.run(&[self.spec.to_str().unwrap()]);
        run.expect_code(code);
        run
    }

    /// No process outlived the fault, and the baseline is as it was planted.
    #[track_caller]
    pub fn assert_left_clean(&self) {
        self.sandbox.assert_no_leftover_processes();
        self.sandbox
            .assert_baseline_untouched(&self.name, &self.baseline);
    }
}

fn read_baseline(file: &Path) -> Baseline {
    baseline::read(file)
        .unwrap_or_else(|err| panic!("{err}"))
        .unwrap_or_else(|| panic!("no baseline {}", file.display()))
}

/// Sends SIGINT to `gate`, waits for it and requires exit 130; answers the stderr `stderr`
/// collected.
#[track_caller]
pub fn interrupt_and_wait(gate: &mut Child, stderr: JoinHandle<String>) -> String {
    let pid = gate.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = gate.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    stderr
}

/// Runs git in `dir` as a test author (no global config needed) and answers its trimmed output;
/// it must succeed.
#[track_caller]
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=e2e", "-c", "user.email=e2e@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Asserts how many of the `due` requests in an open-model run's judged window it sent, as
/// tightly as its exit code allows. Never more than due. A pass (0) means the generator kept
/// its schedule, which the gate defines as at least 98 % of the rate: a scheduler that runs a
/// few milliseconds behind at the very end drops the last request or two and still passes. An
/// inconclusive run (4) fell further behind and can have sent far fewer.
#[track_caller]
pub fn assert_sent(sent: u64, due: u64) {
    assert!(
        sent <= due && sent * 50 >= due * 49,
        "a run on schedule sent {sent} of {due}, below 98 %"
    );
}

/// Runs a test whose gate run must keep an open-model schedule, and answers the sandbox of the
/// run that kept it (exit 0). On a shared, busy machine the generator may fall behind (exit 4,
/// the gate rightly refusing to pass): the test is then run once more with the machine to
/// itself ([`Sandbox::alone`]), where it must keep its schedule. With `alone`, the first run
/// already has the machine, and a 4 fails at once. `test` sets up its spec in the sandbox it
/// is given and runs the gate.
#[track_caller]
pub fn on_schedule(alone: bool, test: impl Fn(&Sandbox) -> Run) -> (Sandbox, Run) {
    let sandbox = if alone {
        Sandbox::alone()
    } else {
        Sandbox::new()
    };
    let run = test(&sandbox);
    if run.code == Some(4) && !alone {
        eprintln!("behind its schedule on a busy machine (exit 4): once more, alone");
        // The shared hold is let go before the exclusive one is asked for.
        drop(sandbox);
        let sandbox = Sandbox::alone();
        let run = test(&sandbox);
        run.expect_code(0);
        return (sandbox, run);
    }
    run.expect_code(0);
    (sandbox, run)
}

/// The message of every `<failure>` in a junit.xml, in order (XML escapes kept, as `-&gt;`).
pub fn junit_failures(xml: &str) -> Vec<&str> {
    xml.split("<failure")
        .skip(1)
        .map(|failure| {
            failure
                .split("message=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("a <failure> without a message in:\n{xml}"))
        })
        .collect()
}

/// The name of every test case of a junit.xml that failed (a check: `items p50 regression`).
pub fn junit_failed_names(xml: &str) -> Vec<&str> {
    xml.split("<testcase")
        .filter(|case| case.contains("<failure"))
        .filter_map(|case| case.split("name=\"").nth(1)?.split('"').next())
        .collect()
}

/// Reads a running gate's stderr until a line holding `marker`, then drains the rest in a
/// thread so the gate never blocks on a full pipe; the thread returns what it read after.
pub fn wait_for_stderr(gate: &mut Child, marker: &str) -> JoinHandle<String> {
    let mut stderr = BufReader::new(gate.stderr.take().expect("stderr piped")).lines();
    let mut seen = Vec::new();
    for line in stderr.by_ref() {
        let line = line.unwrap();
        let found = line.contains(marker);
        seen.push(line);
        if found {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(marker)),
        "`{marker}` never came:\n{}",
        seen.join("\n")
    );
    std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<_>>().join("\n"))
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
    /// `http://127.0.0.1:PORT` (`https://` with `--tls-cert`)
    pub url: String,
    /// Reads the service's standard output after its first line, to the end.
    log: Option<JoinHandle<String>>,
}

impl RunningService {
    /// The body of `GET path`, over a plain HTTP/1.0 connection (so not with TLS).
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

impl RunningService {
    /// Stops the service and answers everything it printed after its first line (with
    /// `--log-bodies`, one `request METHOD PATH BODY` line per request it received).
    pub fn stop(mut self) -> String {
        self.child.kill().ok();
        self.child.wait().ok();
        let log = self.log.take().expect("read once");
        log.join().expect("the log reader ends with the service")
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_named_after_its_output_directory() {
        for (dir, profile) in [
            ("target/debug", "dev"),
            ("target/release", "release"),
            ("/tmp/t/x86_64-unknown-linux-gnu/profiling", "profiling"),
        ] {
            assert_eq!(profile_of(Path::new(dir)), profile, "{dir}");
        }
    }
}
