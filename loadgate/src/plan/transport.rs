//! `[load] http`, `streams_per_connection` and `[tls]` → [`Transport`]: how the generator (and
//! the readiness probe) talk to the service. The CA file is read here, so a missing or empty one
//! fails the spec before any service starts.

use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::spec::{HttpVersion, Locator, SpecError, SpecFile};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transport {
    pub http: HttpVersion,
    /// HTTP/2: requests sharing one connection at most (users in the closed model).
    pub streams_per_connection: u32,
    pub tls: TlsPlan,
}

/// How an `https://` service is trusted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsPlan {
    /// `[tls] ca`: the file, and the certificates read from it.
    pub ca: Option<(PathBuf, Vec<CertificateDer<'static>>)>,
    /// `[tls] insecure = true`: any certificate is accepted, and every report says so.
    pub insecure: bool,
}

impl Transport {
    /// The note every report carries when certificates are not checked.
    pub fn insecure_note(&self) -> Option<&'static str> {
        self.tls
            .insecure
            .then_some("[tls] insecure = true: the service's TLS certificate was not verified")
    }
}

/// Plans the transport keys; `ca` is read relative to `root`.
pub(super) fn plan_transport(
    spec: &SpecFile,
    root: &Path,
    at: &Locator<'_>,
) -> Result<Transport, SpecError> {
    let load = spec.load.get_ref();
    let http = load
        .http
        .as_ref()
        .map_or_else(HttpVersion::default, |h| *h.get_ref());
    let streams_per_connection = match &load.streams_per_connection {
        None => 1,
        Some(streams) if *streams.get_ref() == 0 => {
            return at.fail(streams.span(), "streams_per_connection must be at least 1");
        }
        Some(streams) if http != HttpVersion::Http2 && *streams.get_ref() > 1 => {
            return at.fail(
                streams.span(),
                "streams_per_connection takes effect with `http = \"2\"` only: HTTP/1.1 sends \
                 one request at a time per connection",
            );
        }
        Some(streams) => *streams.get_ref(),
    };
    let tls = spec.tls.as_ref();
    let ca = match tls.and_then(|tls| tls.ca.as_ref()) {
        None => None,
        Some(ca) => {
            let path = root.join(ca.get_ref());
            let certs = read_ca(&path).map_err(|problem| at.error(ca.span(), problem))?;
            Some((path, certs))
        }
    };
    Ok(Transport {
        http,
        streams_per_connection,
        tls: TlsPlan {
            ca,
            insecure: tls.and_then(|tls| tls.insecure).unwrap_or(false),
        },
    })
}

/// The certificates of a PEM file: at least one.
fn read_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| format!("cannot read the CA file {}: {err}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "the CA file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use crate::plan::fixtures::{SPEC, plan};
    use crate::spec::HttpVersion;

    #[test]
    fn http2_streams_and_a_missing_ca_are_planned_or_located() {
        let h2 = plan(&SPEC.replace(
            "users = 4",
            "users = 4\nhttp = \"2\"\nstreams_per_connection = 8",
        ))
        .unwrap();
        assert_eq!(h2.transport.http, HttpVersion::Http2);
        assert_eq!(h2.transport.streams_per_connection, 8);
        assert_eq!(plan(SPEC).unwrap().transport.streams_per_connection, 1);

        let streams_on_1_1 = SPEC.replace("users = 4", "users = 4\nstreams_per_connection = 8");
        let err = plan(&streams_on_1_1).unwrap_err();
        assert_eq!(
            err.key.as_deref(),
            Some("load.streams_per_connection"),
            "{err}"
        );

        let missing_ca = format!("[tls]\nca = \"no/such/ca.pem\"\n{SPEC}");
        let err = plan(&missing_ca).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("tls.ca"), "{err}");
        assert!(err.message.contains("no/such/ca.pem"), "{err}");

        let unknown = SPEC.replace("users = 4", "users = 4\nhttp = \"3\"");
        let err = plan(&unknown).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("load.http"), "{err}");
    }
}
