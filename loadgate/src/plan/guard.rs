//! The remote guard: load goes only to loopback addresses, unless a spec says `allow_remote =
//! true` or the command line `--allow-remote`. A hostname is resolved and every address it has
//! must be loopback. Checked while planning, before any socket to the target is opened.

use std::net::{IpAddr, ToSocketAddrs as _};

use url::{Host, Url};

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to send load to {target}: {why}. loadgate loads only loopback addresses \
     (127.0.0.0/8, ::1, localhost) unless a spec says `allow_remote = true` or you pass \
     --allow-remote: pointed at the wrong URL, a load test is a denial-of-service attack on \
     someone else's server"
)]
pub struct Refused {
    pub target: String,
    pub why: String,
}

/// Resolves a hostname and port to addresses.
pub type Resolver<'a> = &'a dyn Fn(&str, u16) -> Result<Vec<IpAddr>, String>;

/// Checks `target` with the system's resolver.
pub fn check(target: &Url) -> Result<(), Refused> {
    check_with(target, &|host, port| {
        (host, port)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .map_err(|err| err.to_string())
    })
}

/// Checks `target`, resolving hostnames with `resolve`.
pub fn check_with(target: &Url, resolve: Resolver<'_>) -> Result<(), Refused> {
    let refuse = |why: String| Refused {
        target: target.as_str().trim_end_matches('/').to_owned(),
        why,
    };
    if !matches!(target.scheme(), "http" | "https") {
        return Err(refuse(format!(
            "`{}` is not http or https",
            target.scheme()
        )));
    }
    let addresses = match target.host() {
        None => return Err(refuse("the URL has no host".into())),
        Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(Host::Domain(name)) => {
            let port = target.port_or_known_default().unwrap_or(80);
            let addresses = resolve(name, port)
                .map_err(|err| refuse(format!("`{name}` does not resolve ({err})")))?;
            if addresses.is_empty() {
                return Err(refuse(format!("`{name}` resolves to no address")));
            }
            addresses
        }
    };
    match addresses.iter().find(|ip| !is_loopback(ip)) {
        Some(remote) => Err(refuse(format!("{remote} is not a loopback address"))),
        None => Ok(()),
    }
}

/// Loopback, including an IPv4 loopback address written as IPv6 (`::ffff:127.0.0.1`).
fn is_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_dns(_: &str, _: u16) -> Result<Vec<IpAddr>, String> {
        panic!("an address needs no resolver")
    }

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn ipv4_loopback_passes_and_anything_else_is_refused() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.3.4.5/",
            "https://127.0.0.1",
        ] {
            assert_eq!(check_with(&url(ok), &no_dns), Ok(()), "{ok}");
        }
        for remote in [
            "http://10.0.0.1:8080",
            "http://0.0.0.0",
            "http://93.184.216.34/",
        ] {
            let err = check_with(&url(remote), &no_dns).unwrap_err();
            assert!(
                err.why.ends_with("is not a loopback address"),
                "{remote}: {err}"
            );
            assert!(err.to_string().contains("--allow-remote"), "{err}");
        }
    }

    #[test]
    fn ipv6_loopback_passes_and_anything_else_is_refused() {
        for ok in ["http://[::1]:8080", "http://[::ffff:127.0.0.1]/"] {
            assert_eq!(check_with(&url(ok), &no_dns), Ok(()), "{ok}");
        }
        for remote in [
            "http://[2001:db8::1]:80",
            "http://[::]/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            assert!(check_with(&url(remote), &no_dns).is_err(), "{remote}");
        }
    }

    #[test]
    fn a_hostname_passes_only_when_every_address_is_loopback() {
        let fake = |host: &str, port: u16| -> Result<Vec<IpAddr>, String> {
            assert_eq!(port, 8080);
            match host {
                "only-local.test" => Ok(vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]),
                "partly-remote.test" => Ok(vec![
                    "127.0.0.1".parse().unwrap(),
                    "203.0.113.5".parse().unwrap(),
                ]),
                "nowhere.test" => Ok(vec![]),
                _ => Err("no such host".into()),
            }
        };
        assert_eq!(
            check_with(&url("http://only-local.test:8080"), &fake),
            Ok(())
        );
        let err = check_with(&url("http://partly-remote.test:8080"), &fake).unwrap_err();
        assert_eq!(err.why, "203.0.113.5 is not a loopback address");
        let err = check_with(&url("http://nowhere.test:8080"), &fake).unwrap_err();
        assert!(err.why.contains("resolves to no address"), "{err}");
        let err = check_with(&url("http://unknown.test:8080"), &fake).unwrap_err();
        assert!(err.why.contains("does not resolve (no such host)"), "{err}");
        // The system's resolver: localhost is loopback.
        assert_eq!(check(&url("http://localhost:8080")), Ok(()));
    }

    #[test]
    fn only_http_is_loaded() {
        let err = check_with(&url("ftp://127.0.0.1/"), &no_dns).unwrap_err();
        assert!(err.why.contains("not http or https"), "{err}");
    }
}
