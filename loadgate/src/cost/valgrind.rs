//! Valgrind's Callgrind around a service: the command that starts the service under it, and the
//! monitor commands (through `vgdb`) that zero its counters before a batch of requests and dump
//! them after, in every process of the service's tree.

use std::path::{Path, PathBuf};

use crate::cost::callgrind::{self, Dump};

/// What a user installs to get Callgrind.
pub const INSTALL_HINT: &str = "install Valgrind (Debian/Ubuntu: `sudo apt-get install valgrind`, \
     Fedora: `sudo dnf install valgrind`), or skip the cost phase with --no-cost";

/// Whether `valgrind` and `vgdb` are on PATH; the error names what is missing and how to get it.
pub fn check_installed() -> Result<(), String> {
    for program in ["valgrind", "vgdb"] {
        if !on_path(program) {
            return Err(format!(
                "`{program}` is not on PATH, and [cost] counts instructions under Valgrind: \
                 {INSTALL_HINT}"
            ));
        }
    }
    Ok(())
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// Where one service's Callgrind files and vgdb pipes go.
#[derive(Debug, Clone)]
pub struct Callgrind {
    dir: PathBuf,
}

impl Callgrind {
    /// A fresh, empty directory for one cost run.
    pub fn in_dir(dir: &Path) -> std::io::Result<Callgrind> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(Callgrind {
            dir: dir.to_path_buf(),
        })
    }

    /// `command` started under Callgrind: forked and executed children followed, nothing
    /// simulated but instructions, and the vgdb pipes kept in this run's directory so two gates
    /// on one machine do not meet.
    pub fn wrap(&self, command: &[String]) -> Vec<String> {
        let mut wrapped: Vec<String> = [
            "valgrind",
            "--tool=callgrind",
            "--trace-children=yes",
            "--vgdb=yes",
            "--dump-instr=no",
            "--compress-pos=yes",
        ]
        .map(str::to_owned)
        .to_vec();
        wrapped.push(format!(
            "--callgrind-out-file={}",
            self.dir.join("callgrind.%p").display()
        ));
        wrapped.push(format!("--vgdb-prefix={}", self.vgdb_prefix().display()));
        wrapped.extend(command.iter().cloned());
        wrapped
    }

    fn vgdb_prefix(&self) -> PathBuf {
        self.dir.join("vgdb")
    }

    /// Sends a Callgrind monitor command (`zero`, `dump NAME`) to process `pid`.
    async fn monitor(&self, pid: i32, command: &[&str]) -> Result<(), String> {
        let output = tokio::process::Command::new("vgdb")
            .arg(format!("--vgdb-prefix={}", self.vgdb_prefix().display()))
            .arg(format!("--pid={pid}"))
            .args(command)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|err| format!("cannot run vgdb: {err}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "vgdb --pid={pid} {} failed ({}): {}",
                command.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Zeroes the counters of every process in `pids`.
    pub async fn zero(&self, pids: &[i32]) -> Result<(), String> {
        for &pid in pids {
            self.monitor(pid, &["zero"]).await?;
        }
        Ok(())
    }

    /// Dumps the counters of every process in `pids` and reads the dumps back, added up.
    pub async fn dump(&self, pids: &[i32]) -> Result<Dump, String> {
        let mut total = Dump::default();
        for &pid in pids {
            let before = self.files_of(pid);
            self.monitor(pid, &["dump"]).await?;
            let file = self
                .files_of(pid)
                .into_iter()
                .find(|file| !before.contains(file))
                .ok_or_else(|| format!("Callgrind wrote no dump for process {pid}"))?;
            let text = std::fs::read_to_string(&file)
                .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
            let dump =
                callgrind::parse(&text).map_err(|err| format!("{}: {err}", file.display()))?;
            // Read once: the directory holds one file per dump of the whole run otherwise.
            let _ = std::fs::remove_file(&file);
            total.add(dump);
        }
        Ok(total)
    }

    /// The dump files of process `pid` so far (`callgrind.PID` and `callgrind.PID.N`).
    fn files_of(&self, pid: i32) -> Vec<PathBuf> {
        let stem = format!("callgrind.{pid}");
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == stem || n.starts_with(&format!("{stem}.")))
            })
            .collect()
    }
}
