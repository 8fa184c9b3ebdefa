//! The service under test as a resource: launched in its own process group with its output in a
//! log file, probed until ready, watched while the load runs, and stopped with SIGTERM → grace →
//! SIGKILL on every path — including errors, panics and an interrupted gate (via `Drop`).

pub mod against;
pub mod binary;
pub mod probe;
pub mod revision;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::plan::{ServicePlan, Transport};
use crate::service::binary::BinDir;
use crate::service::probe::{NotReady, Prober};
use crate::support::files::tail;

/// How many lines of the service's log a failure report carries.
const LOG_TAIL_LINES: usize = 30;
const READY_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Why the service could not be used, with the end of its log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceFailure {
    pub message: String,
    pub log_file: PathBuf,
    pub log_tail: String,
}

impl std::fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        // A `--target` service has no log of ours.
        if self.log_file.as_os_str().is_empty() {
            return Ok(());
        }
        write!(
            f,
            "\n--- last lines of {} ---\n{}",
            self.log_file.display(),
            self.log_tail
        )
    }
}

/// A running service. Dropping it stops the whole process group.
#[derive(Debug)]
pub struct Service {
    child: tokio::process::Child,
    /// The child's pid, which is also its process group id.
    pgid: i32,
    pub base_url: Url,
    pub log_file: PathBuf,
    stop_grace: Duration,
    stopped: bool,
}

/// Starts the service from `root` with output to `log_file`, and waits until it is ready;
/// `bins` is where `{bin:NAME}` in its command points.
pub async fn launch(
    plan: &ServicePlan,
    transport: &Transport,
    root: &Path,
    bins: &BinDir,
    log_file: &Path,
) -> Result<Service, ServiceFailure> {
    let failure = |message: String| ServiceFailure {
        message,
        log_file: log_file.to_path_buf(),
        log_tail: tail(log_file, LOG_TAIL_LINES),
    };
    let port = free_port()
        .map_err(|err| failure(format!("cannot find a free port on 127.0.0.1: {err}")))?;
    let args: Vec<String> = binary::resolve(&plan.command, bins)
        .map_err(failure)?
        .iter()
        .map(|arg| arg.replace("{port}", &port.to_string()))
        .collect();
    let log = open_log(log_file).map_err(|err| {
        failure(format!(
            "cannot create the service log {}: {err}",
            log_file.display()
        ))
    })?;
    let log_err = log
        .try_clone()
        .map_err(|err| failure(format!("cannot share the service log: {err}")))?;

    let mut command = tokio::process::Command::new(program_path(&args[0], root));
    command
        .args(&args[1..])
        .envs(
            plan.env
                .iter()
                .map(|(k, v)| (k, v.replace("{port}", &port.to_string()))),
        )
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    die_with_parent(command.as_std_mut());
    if plan.one_cpu {
        on_one_cpu(&mut command);
    }
    let child = command
        .spawn()
        .map_err(|err| failure(format!("cannot start `{}`: {err}", args.join(" "))))?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .expect("a spawned child has a pid");

    let mut service = Service {
        child,
        pgid,
        base_url: Url::parse(&plan.url.replace("{port}", &port.to_string()))
            .expect("checked while planning"),
        log_file: log_file.to_path_buf(),
        stop_grace: plan.stop_grace,
        stopped: false,
    };
    if let Err(message) = service
        .wait_ready(
            transport,
            plan.ready_path.as_deref(),
            plan.ready_timeout,
            port,
        )
        .await
    {
        service.stop().await;
        return Err(failure(message));
    }
    Ok(service)
}

/// `--target`: waits until the running service answers (its `ready.http` path with a success,
/// else `GET /` with any answer), so that no load goes to a dead address and a refused
/// connection is never timed as a fast answer.
pub async fn probe_target(
    url: &Url,
    transport: &Transport,
    ready_path: Option<&str>,
    timeout: Duration,
) -> Result<(), ServiceFailure> {
    let failure = |message: String| ServiceFailure {
        message,
        log_file: PathBuf::new(),
        log_tail: String::new(),
    };
    let started = Instant::now();
    let prober = Prober::new(url, transport).map_err(failure)?;
    loop {
        let probed = match ready_path {
            Some(path) => prober.probe(url, path, true).await,
            None => prober.probe(url, "/", false).await,
        };
        let last_problem = match probed {
            Ok(()) => return Ok(()),
            Err(NotReady::Refused(why)) => {
                return Err(failure(format!("{why}; no load was sent")));
            }
            Err(NotReady::Yet(why)) => why,
        };
        if started.elapsed() >= timeout {
            return Err(failure(format!(
                "the target {url} did not answer within {timeout:?} (last probe: {last_problem}); no load was sent"
            )));
        }
        tokio::time::sleep(READY_POLL_INTERVAL).await;
    }
}

impl Service {
    async fn wait_ready(
        &mut self,
        transport: &Transport,
        ready_path: Option<&str>,
        timeout: Duration,
        port: u16,
    ) -> Result<(), String> {
        let started = Instant::now();
        let prober = Prober::new(&self.base_url, transport)?;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the service {} before it became ready",
                    describe_exit(status)
                ));
            }
            let probe = match ready_path {
                Some(path) => prober.probe(&self.base_url, path, true).await,
                None => match TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_secs(1),
                ) {
                    Ok(_) => prober.check_tls().await,
                    Err(err) => Err(NotReady::Yet(format!(
                        "port {port} refused connections: {err}"
                    ))),
                },
            };
            let last_problem = match probe {
                Ok(()) => return Ok(()),
                Err(NotReady::Refused(why)) => return Err(why),
                Err(NotReady::Yet(why)) => why,
            };
            if started.elapsed() >= timeout {
                return Err(format!(
                    "the service was not ready after {:?} (last probe: {last_problem})",
                    timeout
                ));
            }
            tokio::time::sleep(READY_POLL_INTERVAL).await;
        }
    }

    /// The service's process id, the root of its process tree.
    pub fn pid(&self) -> i32 {
        self.pgid
    }

    /// Resolves when the service exits on its own: during a run that is a crash.
    pub async fn exited(&mut self) -> ExitStatus {
        match self.child.wait().await {
            Ok(status) => status,
            // Waiting on our own child only fails if it was already reaped; report it as gone.
            Err(_) => ExitStatus::from_raw(0),
        }
    }

    /// How the service exited, if it has (without waiting).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The service's failure report for `message`, with its log tail.
    pub fn failed(&self, message: String) -> ServiceFailure {
        ServiceFailure {
            message,
            log_file: self.log_file.clone(),
            log_tail: tail(&self.log_file, LOG_TAIL_LINES),
        }
    }

    /// The service's failure report for an exit during the run.
    pub fn died(&self, status: ExitStatus, after: Duration) -> ServiceFailure {
        self.failed(format!(
            "the service {} {:.1}s into the run",
            describe_exit(status),
            after.as_secs_f64()
        ))
    }

    /// SIGTERM to the group, up to the grace period to exit, then SIGKILL.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        signal_group(self.pgid, libc::SIGTERM);
        if tokio::time::timeout(self.stop_grace, self.child.wait())
            .await
            .is_err()
        {
            signal_group(self.pgid, libc::SIGKILL);
            let _ = self.child.wait().await;
        }
        // Workers a service forked may outlive their parent: the group goes too.
        signal_group(self.pgid, libc::SIGKILL);
        self.stopped = true;
    }
}

impl Drop for Service {
    /// The path for errors and interruptions, where nothing can be awaited: the same sequence,
    /// polling the child without blocking on it.
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        signal_group(self.pgid, libc::SIGTERM);
        let deadline = Instant::now() + self.stop_grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        signal_group(self.pgid, libc::SIGKILL);
        let _ = self.child.try_wait();
    }
}

/// "exited with status 1", "was killed by signal 9 (SIGKILL)".
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}{}", signal_name(signal)),
        (None, None) => "exited".to_owned(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGINT => " (SIGINT)",
        _ => "",
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::create(path)
}

/// A relative program path with a slash ("target/release/app") is relative to the project
/// root; a bare name ("python3") is looked up on PATH.
fn program_path(program: &str, root: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') {
        root.join(path)
    } else {
        path.to_path_buf()
    }
}

/// Sends `signal` to every process in the group; a group that is already gone is fine.
#[allow(
    unsafe_code,
    reason = "kill(2) has no safe wrapper in std; it touches no memory"
)]
fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill with a negative pid signals a process group; no memory is shared.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Asks Linux to SIGKILL the child (a service, a base revision's build) if the gate itself dies
/// without running its cleanup (SIGKILL, OOM): no child may outlive the run.
#[allow(
    unsafe_code,
    reason = "pre_exec is unsafe by signature; the closure only calls prctl(2)"
)]
pub(crate) fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: prctl is async-signal-safe and the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Restricts the service to the first CPU the gate may use (see `ServicePlan::one_cpu`).
#[allow(
    unsafe_code,
    reason = "pre_exec is unsafe by signature; the closure only calls sched_{get,set}affinity(2)"
)]
fn on_one_cpu(command: &mut tokio::process::Command) {
    // SAFETY: both calls are plain system calls on a stack value; nothing is allocated.
    unsafe {
        command.pre_exec(|| {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of::<libc::cpu_set_t>();
            if libc::sched_getaffinity(0, size, &mut set) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            let first = (0..libc::CPU_SETSIZE as usize)
                .find(|&cpu| libc::CPU_ISSET(cpu, &set))
                .unwrap_or(0);
            libc::CPU_ZERO(&mut set);
            libc::CPU_SET(first, &mut set);
            if libc::sched_setaffinity(0, size, &set) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
