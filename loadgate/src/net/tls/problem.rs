//! Why a certificate was refused, as a small `Copy` value: what the verifier decides and what
//! the run counts and reports.

use rustls::CertificateError;

/// Why the service's certificate was refused: a small `Copy` value, so a failed handshake
/// costs no text per request. [`Refusal`] has the words for the one a person reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    UnknownIssuer,
    Expired,
    NotValidYet,
    WrongName,
    /// Marked CA:TRUE, served as the server's own certificate and not listed in `[tls] ca`.
    CaAsServerCertificate,
    /// An extendedKeyUsage without serverAuth.
    NotForServers,
    Other,
}

impl From<&CertificateError> for CertificateProblem {
    fn from(problem: &CertificateError) -> CertificateProblem {
        match problem {
            CertificateError::UnknownIssuer => CertificateProblem::UnknownIssuer,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                CertificateProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertificateProblem::NotValidYet
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                CertificateProblem::WrongName
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                CertificateProblem::NotForServers
            }
            _ => CertificateProblem::Other,
        }
    }
}

/// The short words a report quotes beside a count of failed requests; [`Refusal`] has the long.
impl std::fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertificateProblem::UnknownIssuer => {
                "unknown issuer (not signed by a trusted CA): add the CA with `[tls] ca = \"FILE\"`, \
                 or set `[tls] insecure = true` for a local self-signed certificate"
            }
            CertificateProblem::Expired => "the certificate has expired",
            CertificateProblem::NotValidYet => "the certificate is not valid yet",
            CertificateProblem::WrongName => {
                "wrong host name: the certificate is not valid for the host name connected to"
            }
            CertificateProblem::CaAsServerCertificate => {
                "the certificate is marked as a CA (CA:TRUE) and is used as the server's own \
                 certificate: list that very certificate in `[tls] ca` to trust it"
            }
            CertificateProblem::NotForServers => {
                "the certificate is not for TLS servers (its extendedKeyUsage lacks serverAuth)"
            }
            CertificateProblem::Other => "the certificate is invalid",
        })
    }
}
