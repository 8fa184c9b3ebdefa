//! The gate over TLS and HTTP/2: a launched demo service reached at `https://` with the test CA
//! (`[tls] ca`), HTTP/2 by ALPN and h2c by prior knowledge, counted by the service itself; a
//! self-signed CA:TRUE certificate named in `[tls] ca` trusted as the server's own; a
//! certificate the generator must refuse (unknown CA, expired, wrong name, CA:TRUE unlisted)
//! stops the gate with exit 3, its reason and the fix before any load; `insecure = true` runs
//! and every report says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use loadgate_tests::{CertPair, Nginx, Sandbox, TestCerts};
use reqwest::blocking::Client;

use crate::tls_service::{protocols, start_tls, trusting};

/// A closed-model spec against the demo service started with `service_args`, reached at `url`,
/// with `extra` keys in `[load]` and `top` before it (`[tls]`).
fn tls_spec(
    sandbox: &Sandbox,
    service_args: &[&str],
    url: &str,
    top: &str,
    extra: &str,
) -> PathBuf {
    let command = sandbox.demo_command(service_args);
    sandbox.spec(
        "tls",
        &format!(
            r#"name = "tls"
{top}

[service]
command = {command}
url = "{url}"
ready = {{ http = "/health", timeout = "20s" }}

[load]
users = 4
think_time = "2ms..5ms"
duration = "1500ms"
{extra}

[[request]]
name = "home"
path = "/"

[gate]
error_rate = {{ max = "0%" }}
"#
        ),
    )
}

fn tls_args(pair: &CertPair) -> Vec<&str> {
    vec![
        "--tls-cert",
        pair.cert.to_str().unwrap(),
        "--tls-key",
        pair.key.to_str().unwrap(),
    ]
}

fn ca_line(ca: &Path) -> String {
    format!("[tls]\nca = \"{}\"", ca.display())
}

/// A client for the service's own counts that does not check its certificate: reqwest's rustls
/// refuses a CA:TRUE certificate as the server's own.
fn unchecked_client() -> Client {
    Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A spec for `--target` trusting `ca`, with `load` keys in `[load]`.
fn target_spec(sandbox: &Sandbox, ca: &Path, load: &str) -> PathBuf {
    sandbox.spec(
        "tls",
        &format!(
            "{}\n\n[load]\nusers = 4\nthink_time = \"2ms..5ms\"\nduration = \"1500ms\"\n\
             {load}\n\n[[request]]\nname = \"home\"\npath = \"/\"\n\n\
             [gate]\nerror_rate = {{ max = \"0%\" }}\n",
            ca_line(ca)
        ),
    )
}

/// `--target https://…` (and h2c over `http://`): the generator's requests arrive in the
/// protocol the spec asks for, as the service's own count shows.
#[test]
fn https_with_the_test_ca_passes_over_http1_http2_and_h2c() {
    let sandbox = Sandbox::new();
    let certs = TestCerts::generate(sandbox.path());
    let cases: [(&[&str], bool, &str); 3] = [
        (&[], true, ""),
        (
            &["--http2"],
            true,
            "http = \"2\"\nstreams_per_connection = 2",
        ),
        (&["--http2"], false, "http = \"2\""),
    ];
    for (args, https, load) in cases {
        let service = if https {
            start_tls(&sandbox, &certs.good, args)
        } else {
            sandbox.start_demo(args)
        };
        let spec = target_spec(&sandbox, &certs.ca, load);
        let run = sandbox.run(&["--target", &service.url, spec.to_str().unwrap()]);
        run.expect_code(0);
        let home = sandbox.spec_summary().requests["home"].clone();
        assert!(
            home.requests > 20 && home.failures == 0,
            "{}: {home:#?}",
            service.url
        );
        let counts = protocols(&trusting(&certs.ca).build().unwrap(), &service);
        let (spoken, other) = if load.is_empty() {
            ("http1", "http2")
        } else {
            ("http2", "http1")
        };
        // Every generator request in the spec's protocol; the readiness probe's one `GET /`
        // (reqwest, offering both) may be either.
        assert!(
            counts[spoken].as_u64().unwrap() >= home.requests,
            "{counts} {home:#?}"
        );
        assert!(
            counts[other].as_u64().unwrap() <= 1,
            "{}: {counts}",
            service.url
        );
    }
}

/// The certificate `openssl req -x509 … -addext subjectAltName=IP:127.0.0.1` makes (self-signed,
/// marked CA:TRUE), served as the service's own and named in `[tls] ca`, is trusted as curl, Go
/// and Python trust it: over HTTP/1.1 and HTTP/2, by IP (`--target`) and by DNS name (a
/// launched service at `https://localhost`).
#[test]
fn a_self_signed_ca_true_certificate_named_in_tls_ca_passes_over_http1_and_http2() {
    let sandbox = Sandbox::new();
    let certs = TestCerts::generate(sandbox.path());
    let listed = &certs.self_signed_ca;
    let cases: [(&[&str], &str, &str); 2] = [
        (&[], "", "http1"),
        (
            &["--http2"],
            "http = \"2\"\nstreams_per_connection = 2",
            "http2",
        ),
    ];
    for (args, load, spoken) in cases {
        let service = start_tls(&sandbox, listed, args);
        let spec = target_spec(&sandbox, &listed.cert, load);
        sandbox
            .run(&["--target", &service.url, spec.to_str().unwrap()])
            .expect_code(0);
        let home = sandbox.spec_summary().requests["home"].clone();
        assert!(
            home.requests > 20 && home.failures == 0,
            "{}: {home:#?}",
            service.url
        );
        let counts = protocols(&unchecked_client(), &service);
        assert!(
            counts[spoken].as_u64().unwrap() >= home.requests,
            "{counts} {home:#?}"
        );

        let mut service_args = tls_args(listed);
        service_args.extend(args);
        let launched = tls_spec(
            &sandbox,
            &service_args,
            "https://localhost:{port}",
            &ca_line(&listed.cert),
            load,
        );
        sandbox.run(&[launched.to_str().unwrap()]).expect_code(0);
        let home = sandbox.spec_summary().requests["home"].clone();
        assert!(home.requests > 20 && home.failures == 0, "{home:#?}");
    }
}

/// The issue's own case: that certificate served by nginx and named in `[tls] ca` passes over
/// HTTP/1.1 and HTTP/2; unlisted, it is refused in words before any load.
#[test]
fn nginx_serving_a_self_signed_ca_true_certificate_named_in_tls_ca_passes_over_http1_and_http2() {
    let sandbox = Sandbox::new();
    let certs = TestCerts::generate(sandbox.path());
    let listed = &certs.self_signed_ca;
    let nginx = Nginx::start_tls(sandbox.path(), listed);
    for load in ["", "http = \"2\"\nstreams_per_connection = 2"] {
        let spec = target_spec(&sandbox, &listed.cert, load);
        sandbox
            .run(&["--target", &nginx.url, spec.to_str().unwrap()])
            .expect_code(0);
        let home = sandbox.spec_summary().requests["home"].clone();
        assert!(
            home.requests > 20 && home.failures == 0,
            "{load}: {home:#?}"
        );
    }
    let spec = target_spec(&sandbox, &certs.ca, "");
    let run = sandbox.run(&["--target", &nginx.url, spec.to_str().unwrap()]);
    run.expect_code(3);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("is marked as a CA (CA:TRUE) and is used as the server's own certificate")
            && said.contains("; no load was sent"),
        "{said}"
    );
}

#[test]
fn a_refused_certificate_is_exit_3_with_its_reason_and_the_fix_before_any_load() {
    let sandbox = Sandbox::new();
    let certs = TestCerts::generate(sandbox.path());
    let ca = ca_line(&certs.ca);
    let ca_file = certs.ca.display().to_string();
    let cases: [(&CertPair, &[&str]); 4] = [
        (
            &certs.stranger,
            &[
                "unknown issuer: the certificate (subject CN=localhost) was issued by \
                 CN=loadgate other test CA, which is not a trusted CA",
                "put the certificate of CN=loadgate other test CA (or the server's certificate \
                 itself) in the file `[tls] ca` names",
                &ca_file,
            ],
        ),
        (
            &certs.expired,
            &[
                "the certificate has expired: it (subject CN=localhost) was valid from \
                 2000-01-01T00:00:00Z (notBefore) until 2000-12-31T00:00:00Z (notAfter), and \
                 it is now 20",
                "renew the service's certificate",
            ],
        ),
        (
            &certs.wrong_name,
            &[
                "wrong host name: the service was reached as `localhost`, but the certificate \
                 is for DNS:wrong.example: reach the service by one of those names",
                "serve a certificate whose subjectAltName includes `localhost` (openssl: \
                 `-addext subjectAltName=DNS:localhost`)",
            ],
        ),
        (
            &certs.self_signed_ca,
            &[
                "the certificate is marked as a CA (CA:TRUE) and is used as the server's own \
                 certificate (subject CN=127.0.0.1)",
                "add it to the file `[tls] ca` names",
                "or make the server's certificate without CA:TRUE",
            ],
        ),
    ];
    for (pair, expected) in cases {
        let spec = tls_spec(
            &sandbox,
            &tls_args(pair),
            "https://localhost:{port}",
            &ca,
            "",
        );
        let run = sandbox.run(&[spec.to_str().unwrap()]);
        run.expect_code(3);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(said.contains("the TLS certificate of localhost:"), "{said}");
        for words in expected {
            assert!(said.contains(words), "wanted: {words}\n{said}");
        }
        // Refused at the readiness probe: the spec measured nothing, so nothing was judged.
        let spec_result = &sandbox.summary().specs[0];
        assert!(spec_result.summary.is_none(), "{said}");
        sandbox.assert_no_leftover_processes();
    }
    // A running service (`--target`, as with nginx) is refused the same way.
    let service = start_tls(&sandbox, &certs.self_signed_ca, &[]);
    let spec = target_spec(&sandbox, &certs.ca, "");
    let run = sandbox.run(&["--target", &service.url, spec.to_str().unwrap()]);
    run.expect_code(3);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("the TLS certificate of 127.0.0.1:")
            && said.contains("is marked as a CA (CA:TRUE)")
            && said.contains("; no load was sent"),
        "{said}"
    );
    // Not one request reached the service: the handshake was refused before any was sent.
    let counts = protocols(&unchecked_client(), &service);
    assert_eq!(counts, serde_json::json!({ "http1": 0, "http2": 0 }));
}

#[test]
fn insecure_runs_against_an_untrusted_certificate_and_every_report_says_so() {
    let sandbox = Sandbox::new();
    let certs = TestCerts::generate(sandbox.path());
    let spec = tls_spec(
        &sandbox,
        &tls_args(&certs.good),
        "https://localhost:{port}",
        "[tls]\ninsecure = true",
        "",
    );
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(0);
    let note = "certificate was not verified";
    for (what, text) in [
        ("console", run.stdout.clone()),
        ("summary.json", sandbox.read_out("summary.json")),
        ("junit.xml", sandbox.read_out("junit.xml")),
        ("summary.md", sandbox.read_out("summary.md")),
        ("report.html", sandbox.read_out("report.html")),
    ] {
        assert!(text.contains(note), "{what} lacks the note:\n{text}");
    }
}
