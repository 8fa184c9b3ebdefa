//! Network namespaces for a test that runs processes as if on separate machines: one for a
//! service, with a bridge at [`SERVICE_IP`], and one per client, joined to the bridge by a veth
//! pair (`10.77.0.11`, `.12`, …). Loopback in one namespace is not reachable from another, so
//! the clients' traffic crosses the veth links.
//!
//! All of it lives inside one `unshare`d mount and network namespace held by a `sleep`
//! process: `ip netns add` mounts its names on a private `/run`, and the links are created with
//! `ip -n`, so nothing touches the host's interfaces, addresses or `/run/netns`. Dropping the
//! [`Network`] kills that process, which takes the namespaces and their links with it once the
//! processes started inside have ended (their own guards kill them first). Even a test killed
//! outright leaves nothing behind but the `sleep`, which ends on its own.
//!
//! Root (as in CI) creates them directly. Any other user gets them inside a user namespace of
//! its own (`unshare -U`), where it holds CAP_NET_ADMIN over them.

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};

/// The service's address on the bridge of its namespace.
pub const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

/// The held namespaces; see the module's documentation.
#[derive(Debug)]
pub struct Network {
    holder: Child,
    /// `nsenter …`: runs a program in the holder's mount and network namespaces, in this
    /// process's working directory.
    enter: Vec<String>,
    /// The service's namespace.
    pub service: String,
    /// One namespace per client, in order.
    pub clients: Vec<String>,
}

impl Network {
    /// The service's namespace and `clients` client namespaces. Panics, saying what failed,
    /// when the machine cannot make them: a test needing them must fail, not skip.
    pub fn new(clients: usize) -> Network {
        let root = is_root();
        // `--user --map-root-user` only when not root: root needs no user namespace, and some
        // hosts (Ubuntu 24.04's AppArmor) refuse unprivileged ones.
        let flags: &[&str] = if root {
            &["-n", "-m"]
        } else {
            &["-U", "-r", "-n", "-m"]
        };
        let mut holder = Command::new("unshare")
            .args(flags)
            .args(["sh", "-c"])
            .arg("mount -t tmpfs loadgate-netns /run && mkdir /run/netns && echo ready && exec sleep 900")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("network namespaces need `unshare` (util-linux): {err}"));
        let mut line = String::new();
        BufReader::new(holder.stdout.take().expect("piped"))
            .read_line(&mut line)
            .ok();
        if line.trim() != "ready" {
            let mut why = String::new();
            holder
                .stderr
                .take()
                .expect("piped")
                .read_to_string(&mut why)
                .ok();
            holder.kill().ok();
            holder.wait().ok();
            panic!(
                "cannot create network namespaces ({}): `unshare {}` failed: {}",
                if root { "as root" } else { "not root" },
                flags.join(" "),
                why.trim()
            );
        }
        let mut enter: Vec<String> = vec!["nsenter".into(), "-t".into(), holder.id().to_string()];
        if !root {
            enter.extend(["-U".into(), "--preserve-credentials".into()]);
        }
        // Entering a mount namespace moves to its root directory; come back to ours.
        let here = std::env::current_dir().expect("a working directory");
        enter.extend(["-m".into(), "-n".into(), format!("--wd={}", here.display())]);
        let network = Network {
            holder,
            enter,
            service: "lg-svc".into(),
            clients: (1..=clients).map(|k| format!("lg-shard{k}")).collect(),
        };
        network.connect();
        network
    }

    /// The bridge in the service's namespace, and each client's veth to it.
    fn connect(&self) {
        let service = self.service.as_str();
        let bridge_address = format!("{SERVICE_IP}/24");
        self.ip(&["netns", "add", service]);
        self.ip(&["-n", service, "link", "set", "lo", "up"]);
        self.ip(&["-n", service, "link", "add", "br0", "type", "bridge"]);
        self.ip(&["-n", service, "addr", "add", &bridge_address, "dev", "br0"]);
        self.ip(&["-n", service, "link", "set", "br0", "up"]);
        for (k, client) in self.clients.iter().enumerate() {
            let port = format!("veth{}", k + 1);
            let address = format!("10.77.0.{}/24", 11 + k);
            self.ip(&["netns", "add", client]);
            self.ip(&["-n", client, "link", "set", "lo", "up"]);
            self.ip(&[
                "-n", service, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", client,
            ]);
            self.ip(&["-n", service, "link", "set", &port, "master", "br0", "up"]);
            self.ip(&["-n", client, "addr", "add", &address, "dev", "eth0"]);
            self.ip(&["-n", client, "link", "set", "eth0", "up"]);
        }
    }

    /// `ip ARGS` in the held namespaces; it must succeed.
    #[track_caller]
    fn ip(&self, args: &[&str]) {
        let output = self
            .command_here("ip")
            .args(args)
            .output()
            .unwrap_or_else(|err| panic!("network namespaces need `ip` (iproute2): {err}"));
        assert!(
            output.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }

    /// `program` in the holder's namespaces, outside any of the named ones.
    fn command_here(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(&self.enter[0]);
        command.args(&self.enter[1..]).arg(program);
        command
    }

    /// A command running `program` inside `namespace` (the service's or a client's). Neither
    /// `nsenter` nor `ip netns exec` forks, so the child's pid is the program's.
    pub fn command(&self, namespace: &str, program: impl AsRef<OsStr>) -> Command {
        let mut command = self.command_here("ip");
        command.args(["netns", "exec", namespace]).arg(program);
        command
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.holder.kill().ok();
        self.holder.wait().ok();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}
