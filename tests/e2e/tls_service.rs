//! The demo service over HTTPS and HTTP/2 (`--tls-cert`, `--tls-key`, `--http2`), met by a real
//! client (reqwest) rather than the gate's generator: what the generator's TLS and h2 will face.

use std::time::Duration;

use loadgate_tests::{CertPair, RunningService, Sandbox, TestCerts};
use reqwest::Version;
use reqwest::blocking::{Client, ClientBuilder};
use serde_json::json;

/// A client that trusts `ca` and no other root.
pub(crate) fn trusting(ca: &std::path::Path) -> ClientBuilder {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
}

pub(crate) fn start_tls(sandbox: &Sandbox, pair: &CertPair, extra: &[&str]) -> RunningService {
    let (cert, key) = (pair.cert.to_str().unwrap(), pair.key.to_str().unwrap());
    let mut args = vec!["--tls-cert", cert, "--tls-key", key];
    args.extend(extra);
    sandbox.start_demo(&args)
}

/// GET `/` (user traffic, so counted), asserting the status and the version spoken.
#[track_caller]
fn get_home(client: &Client, service: &RunningService, version: Version) {
    let answer = client.get(format!("{}/", service.url)).send().unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.version(), version);
}

pub(crate) fn protocols(client: &Client, service: &RunningService) -> serde_json::Value {
    let url = format!("{}/debug/protocols", service.url);
    serde_json::from_str(&client.get(url).send().unwrap().text().unwrap()).unwrap()
}

#[test]
fn https_negotiates_h2_by_alpn_and_counts_it() {
    let sandbox = Sandbox::new();
    let certs = TestCerts::generate(sandbox.path());
    let service = start_tls(&sandbox, &certs.good, &["--http2"]);
    assert!(
        service.url.starts_with("https://127.0.0.1:"),
        "{}",
        service.url
    );

    let client = trusting(&certs.ca).build().unwrap();
    get_home(&client, &service, Version::HTTP_2);
    assert_eq!(
        protocols(&client, &service),
        json!({ "http1": 0, "http2": 1 })
    );
}

#[test]
fn plain_http2_serves_h2c_by_prior_knowledge_and_http1_beside_it() {
    let sandbox = Sandbox::new();
    let service = sandbox.start_demo(&["--http2"]);
    let timeout = Duration::from_secs(10);
    let h2 = Client::builder().http2_prior_knowledge().timeout(timeout);
    let h1 = Client::builder().http1_only().timeout(timeout);

    get_home(&h2.build().unwrap(), &service, Version::HTTP_2);
    get_home(&h1.build().unwrap(), &service, Version::HTTP_11);
    let counts: serde_json::Value = serde_json::from_str(&service.get("/debug/protocols")).unwrap();
    assert_eq!(counts, json!({ "http1": 1, "http2": 1 }));
}

/// Each bad certificate fails a client for its own reason: the test certificates are what they
/// claim to be.
#[test]
fn bad_certificates_fail_the_client_for_their_reason() {
    let sandbox = Sandbox::new();
    let certs = TestCerts::generate(sandbox.path());
    for (pair, trusted, reason) in [
        (&certs.expired, &certs.ca, "Expired"),
        (&certs.wrong_name, &certs.ca, "NotValidForName"),
        (&certs.good, &certs.other_ca, "UnknownIssuer"),
        (&certs.stranger, &certs.ca, "UnknownIssuer"),
        // rustls alone refuses the CA:TRUE certificate even where it is the one trusted: what
        // the gate's own verifier accepts (tls.rs).
        (
            &certs.self_signed_ca,
            &certs.self_signed_ca.cert,
            "CaUsedAsEndEntity",
        ),
    ] {
        let service = start_tls(&sandbox, pair, &[]);
        let client = trusting(trusted).build().unwrap();
        let err = client.get(format!("{}/", service.url)).send().unwrap_err();
        assert!(format!("{err:?}").contains(reason), "{reason}: {err:?}");
    }
}
