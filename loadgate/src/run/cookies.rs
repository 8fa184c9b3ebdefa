//! A closed-model user's cookie jar: the `Set-Cookie` headers of its answers kept by the rules
//! of RFC 6265 (host, path, expiry, `Max-Age`, `Secure`, deletion; the `cookie_store` crate's)
//! and sent back as one `Cookie` header on the requests they match. The generator speaks plain
//! HTTP, so `Secure` cookies go only to loopback targets, which count as secure as in browsers.
//!
//! Cheap when unused: until an answer sets a cookie, a request only notes its target (a short
//! copy) and no URL is parsed; the client collects `Set-Cookie` headers by a name compare.

use cookie_store::{CookieExpiration, CookieStore, RawCookie};
use reqwest::header::{HeaderMap, SET_COOKIE};
use url::Url;

use crate::run::client::{self, Invalid};

/// One user's cookies, and the target of its request in flight (their URL's path and query).
#[derive(Debug, Default)]
pub struct Jar {
    store: CookieStore,
    /// Some answer has set a cookie: only then do requests look for cookies to send.
    filled: bool,
    target: String,
    /// Reused for the request's URL and the `Cookie` header's value.
    text: String,
    /// The `Cookie` value last worked out and the path it was for, reused for the same path
    /// while it holds: no answer set a cookie since, and every kept cookie lasts the session
    /// (none can expire in between). A logged-in user then pays no URL parse per request.
    cached: Option<Cached>,
    /// No kept cookie has an expiry date.
    session_only: bool,
}

#[derive(Debug, Default)]
struct Cached {
    path: String,
    value: String,
}

impl Jar {
    /// Notes the request's target and writes the `Cookie` header of the cookies that match it,
    /// if any (a request with its own `Cookie` header gets none from the jar).
    pub fn before_request(
        &mut self,
        base_url: &str,
        target: &str,
        own_header: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Invalid> {
        self.target.clear();
        self.target.push_str(target);
        if !self.filled || own_header {
            return Ok(());
        }
        let path = target.split('?').next().unwrap_or_default();
        if let Some(cached) = &self.cached
            && cached.path == path
        {
            return send(&cached.value, out);
        }
        let Some(url) = self.url(base_url) else {
            return Ok(());
        };
        self.text.clear();
        for (name, value) in self.store.get_request_values(&url) {
            if !self.text.is_empty() {
                self.text.push_str("; ");
            }
            self.text.push_str(name);
            self.text.push('=');
            self.text.push_str(value);
        }
        if self.session_only {
            let cached = self.cached.get_or_insert_with(Cached::default);
            cached.path.clear();
            cached.path.push_str(path);
            cached.value.clear();
            cached.value.push_str(&self.text);
        }
        send(&self.text, out)
    }

    /// Keeps the cookies an answer to the noted request sets (or deletes, or lets expire).
    pub fn after_answer(&mut self, base_url: &str, headers: &HeaderMap) {
        let mut set = headers.get_all(SET_COOKIE).iter().peekable();
        if set.peek().is_none() {
            return;
        }
        let Some(url) = self.url(base_url) else {
            return;
        };
        let cookies = set
            .filter_map(|value| value.to_str().ok())
            .filter_map(|text| RawCookie::parse(text.to_owned()).ok());
        self.store.store_response_cookies(cookies, &url);
        self.filled = true;
        self.cached = None;
        self.session_only = self
            .store
            .iter_unexpired()
            .all(|c| matches!(c.expires, CookieExpiration::SessionEnd));
    }

    /// The noted request's URL.
    fn url(&mut self, base_url: &str) -> Option<Url> {
        self.text.clear();
        self.text.push_str(base_url);
        self.text.push_str(&self.target);
        Url::parse(&self.text).ok()
    }
}

/// The `Cookie` header, when there is a cookie to send.
fn send(value: &str, out: &mut Vec<u8>) -> Result<(), Invalid> {
    if value.is_empty() {
        return Ok(());
    }
    client::header(out, "cookie", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Not loopback: the jar, like browsers, takes loopback for a secure origin.
    const BASE: &str = "http://192.0.2.1:8080";

    /// The `Cookie` header the jar sends to `target`, if any.
    fn sent(jar: &mut Jar, target: &str) -> Option<String> {
        let mut out = Vec::new();
        jar.before_request(BASE, target, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let value = text.strip_prefix("cookie: ")?.strip_suffix("\r\n")?;
        Some(value.to_owned())
    }

    /// The answer to a request for `target` sets these cookies.
    fn answer(jar: &mut Jar, target: &str, set: &[&str]) {
        let mut out = Vec::new();
        jar.before_request(BASE, target, false, &mut out).unwrap();
        let mut headers = HeaderMap::new();
        for value in set {
            headers.append(SET_COOKIE, value.parse().unwrap());
        }
        jar.after_answer(BASE, &headers);
    }

    #[test]
    fn cookies_follow_path_expiry_secure_and_deletion() {
        let mut jar = Jar::default();
        assert_eq!(sent(&mut jar, "/"), None, "an empty jar sends nothing");
        answer(
            &mut jar,
            "/login",
            &[
                "session=s1; Path=/; HttpOnly",
                "cart=c1; Path=/cart",
                "gone=x; Max-Age=0",
                "old=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "tls=x; Secure",
                "other=x; Domain=example.com",
            ],
        );
        assert_eq!(sent(&mut jar, "/me").as_deref(), Some("session=s1"));
        assert_eq!(sent(&mut jar, "/me?again").as_deref(), Some("session=s1"));
        let cart = sent(&mut jar, "/cart/add?x=1").unwrap();
        let mut names: Vec<&str> = cart.split("; ").collect();
        names.sort_unstable();
        assert_eq!(names, ["cart=c1", "session=s1"]);
        // A new value replaces the old; `Max-Age=0` deletes.
        answer(&mut jar, "/", &["session=s2; Path=/"]);
        assert_eq!(sent(&mut jar, "/me").as_deref(), Some("session=s2"));
        answer(&mut jar, "/logout", &["session=; Path=/; Max-Age=0"]);
        assert_eq!(sent(&mut jar, "/me"), None);
        // Over loopback, `Secure` cookies are sent, as browsers do.
        let mut local = Jar::default();
        let loopback = "http://127.0.0.1:8080";
        let mut out = Vec::new();
        local
            .before_request(loopback, "/", false, &mut out)
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, "tls=x; Secure".parse().unwrap());
        local.after_answer(loopback, &headers);
        local
            .before_request(loopback, "/", false, &mut out)
            .unwrap();
        assert!(out.ends_with(b"cookie: tls=x\r\n"));
    }

    #[test]
    fn a_cookie_that_expires_is_not_sent_from_a_stale_cache() {
        let mut jar = Jar::default();
        answer(&mut jar, "/", &["short=1; Max-Age=1", "long=2"]);
        let both = sent(&mut jar, "/a").unwrap();
        assert!(
            both.contains("long=2") && both.contains("short=1"),
            "{both}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(sent(&mut jar, "/a").as_deref(), Some("long=2"));
    }

    #[test]
    fn a_request_with_its_own_cookie_header_gets_none_from_the_jar() {
        let mut jar = Jar::default();
        answer(&mut jar, "/", &["a=1"]);
        let mut out = Vec::new();
        jar.before_request(BASE, "/", true, &mut out).unwrap();
        assert!(out.is_empty());
        // A value that is no cookie is ignored, not an error.
        answer(&mut jar, "/", &["; ;"]);
        assert_eq!(sent(&mut jar, "/").as_deref(), Some("a=1"));
    }
}
