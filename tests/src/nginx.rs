//! nginx serving a certificate of the test's over TLS, HTTP/2 by ALPN beside HTTP/1.1: the
//! server users put in front of their services, met by the gate as the demo service is.
//! Debian's `nginx-light` (installed by `cargo xtask test`); one process (`master_process off`),
//! its configuration, logs, pid and temporary files in a directory the test owns.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::CertPair;

/// A running nginx, killed when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    /// `https://127.0.0.1:PORT`
    pub url: String,
}

impl Nginx {
    /// nginx on a free port of 127.0.0.1 serving `pair` over TLS (`GET /` answers 200 `ok`),
    /// with its files in `dir`. Panics when it does not start.
    pub fn start_tls(dir: &Path, pair: &CertPair) -> Nginx {
        let nginx = program();
        // A port that was free a moment ago may be taken before nginx binds it: try another.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, config(dir, port, pair, http2_on(&nginx))).unwrap();
            let error_log = dir.join("nginx-error.log");
            let child = Command::new(&nginx)
                .arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(&error_log)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx starts");
            let mut nginx = Nginx {
                child,
                url: format!("https://127.0.0.1:{port}"),
            };
            if nginx.listening(port) {
                return nginx;
            }
            last_log = std::fs::read_to_string(&error_log).unwrap_or_default();
        }
        panic!("nginx did not listen:\n{last_log}");
    }

    /// Waits up to 5 s for nginx to accept on `port`; false when it exited or did not.
    fn listening(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// nginx on PATH, or where Debian puts it (`/usr/sbin`, which a user's PATH may lack).
fn program() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nginx"))
            .find(|path| path.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|path| path.is_file()))
        .expect("no nginx: `cargo xtask test` installs Debian's `nginx-light` package")
}

/// `http2 on;` came with nginx 1.25.1, which deprecated `listen … http2`.
fn http2_on(nginx: &Path) -> bool {
    let output = Command::new(nginx).arg("-v").output().expect("nginx -v");
    let said = String::from_utf8_lossy(&output.stderr);
    let version: Vec<u32> = said
        .split_once("nginx/")
        .map(|(_, rest)| rest.split_whitespace().next().unwrap_or_default())
        .unwrap_or_default()
        .split('.')
        .filter_map(|part| part.parse().ok())
        .collect();
    version >= vec![1, 25, 1]
}

fn config(dir: &Path, port: u16, pair: &CertPair, http2_on: bool) -> String {
    let dir = dir.display();
    let (listen_http2, http2) = if http2_on {
        ("", "http2 on;")
    } else {
        (" http2", "")
    };
    format!(
        r#"master_process off;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir};
    proxy_temp_path {dir};
    fastcgi_temp_path {dir};
    uwsgi_temp_path {dir};
    scgi_temp_path {dir};
    server {{
        listen 127.0.0.1:{port} ssl{listen_http2};
        {http2}
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ return 200 "ok\n"; }}
    }}
}}
"#,
        cert = pair.cert.display(),
        key = pair.key.display(),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
