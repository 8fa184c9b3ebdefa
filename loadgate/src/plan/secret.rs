//! Secrets: values taken from the environment (`${env.NAME}`), which reach the service but never
//! a report. Every text the gate writes passes through [`Secrets::redact`].

use std::borrow::Cow;

/// What replaces a secret in every output.
pub const REDACTED: &str = "***";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// Adds `values`, ignoring empty ones and repeats.
    pub fn extend<'a>(&mut self, values: impl IntoIterator<Item = &'a String>) {
        for value in values {
            if !value.is_empty() && !self.0.contains(value) {
                self.0.push(value.clone());
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        self.0.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    pub fn merge(&mut self, other: &Secrets) {
        self.extend(&other.0);
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut text = Cow::Borrowed(text);
        for secret in &self.0 {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
            }
        }
        text
    }

    /// [`Secrets::redact`] for bytes that are text; other bytes pass unchanged.
    pub fn redact_bytes<'t>(&self, bytes: &'t [u8]) -> Cow<'t, [u8]> {
        match std::str::from_utf8(bytes) {
            Ok(text) => match self.redact(text) {
                Cow::Borrowed(_) => Cow::Borrowed(bytes),
                Cow::Owned(text) => Cow::Owned(text.into_bytes()),
            },
            Err(_) => Cow::Borrowed(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_replaced_longest_first() {
        let mut secrets = Secrets::default();
        secrets.extend(&["abc".to_owned(), "abcdef".to_owned(), String::new()]);
        assert_eq!(secrets.redact("x abcdef y abc"), "x *** y ***");
        assert!(matches!(secrets.redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(&*secrets.redact_bytes(b"[abc]"), b"[***]");
    }
}
