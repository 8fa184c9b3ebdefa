//! The gate over TLS and HTTP/2: a launched demo service reached at `https://` with the test CA
//! (`[tls] ca`), HTTP/2 by ALPN and h2c by prior knowledge, counted by the service itself; a
//! certificate the generator must refuse (wrong CA, expired, wrong name) stops the gate with
//! exit 3 and its reason before any load; `insecure = true` runs and every report says so.

use std::path::{Path, PathBuf};

use loadgate_tests::{CertPair, Sandbox, TestCerts};

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
        let spec = sandbox.spec(
            "tls",
            &format!(
                "{}\n\n[load]\nusers = 4\nthink_time = \"2ms..5ms\"\nduration = \"1500ms\"\n\
                 {load}\n\n[[request]]\nname = \"home\"\npath = \"/\"\n\n\
                 [gate]\nerror_rate = {{ max = \"0%\" }}\n",
                ca_line(&certs.ca)
            ),
        );
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

#[test]
fn a_refused_certificate_is_exit_3_with_its_reason_before_any_load() {
    let sandbox = Sandbox::new();
    let certs = TestCerts::generate(sandbox.path());
    let cases = [
        (&certs.good, ca_line(&certs.other_ca), "unknown issuer"),
        (&certs.expired, ca_line(&certs.ca), "expired"),
        (&certs.wrong_name, ca_line(&certs.ca), "wrong name"),
    ];
    for (pair, top, reason) in cases {
        let spec = tls_spec(
            &sandbox,
            &tls_args(pair),
            "https://localhost:{port}",
            &top,
            "",
        );
        let run = sandbox.run(&[spec.to_str().unwrap()]);
        run.expect_code(3);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(
            said.contains("TLS certificate of localhost:") && said.contains(reason),
            "{reason}: {said}"
        );
        // Refused at the readiness probe: the spec measured nothing, so nothing was judged.
        let spec_result = &sandbox.summary().specs[0];
        assert!(spec_result.summary.is_none(), "{reason}: {said}");
        sandbox.assert_no_leftover_processes();
    }
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
