//! What is checked in, and taken from, an answer: the expected status, body text and JSON fields
//! (`expect`), and values captured for later requests (`capture`). Planned once; checking an
//! answer walks a parsed path, it never re-parses the spec's text.

use reqwest::header::{HeaderMap, HeaderName};
use serde_json::Value;

/// A path into a JSON document: `$`, then `.key`, `["key"]` or `[index]` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    written: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let invalid = |why: &str| {
            format!("`{text}` is not a JSON path ({why}; write e.g. `$.token` or `$.items[0].id`)")
        };
        let mut rest = text
            .strip_prefix('$')
            .ok_or_else(|| invalid("it must start with `$`"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                if end == 0 {
                    return Err(invalid("a `.` must be followed by a key"));
                }
                steps.push(Step::Key(after[..end].to_owned()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after
                    .find(']')
                    .ok_or_else(|| invalid("a `[` is not closed"))?;
                let inside = after[..end].trim();
                let step = match inside.parse::<usize>() {
                    Ok(index) => Step::Index(index),
                    Err(_) => Step::Key(
                        serde_json::from_str::<String>(inside)
                            .map_err(|_| invalid("brackets hold an index or a quoted key"))?,
                    ),
                };
                steps.push(step);
                rest = &after[end + 1..];
            } else {
                return Err(invalid("expected `.` or `[` after a step"));
            }
        }
        Ok(JsonPath {
            written: text.to_owned(),
            steps,
        })
    }

    pub fn find<'v>(&self, document: &'v Value) -> Option<&'v Value> {
        self.steps
            .iter()
            .try_fold(document, |value, step| match step {
                Step::Key(key) => value.get(key),
                Step::Index(index) => value.get(index),
            })
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

/// What a correct answer looks like.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    /// Accepted statuses; any 2xx when `None`.
    pub status: Option<Vec<u16>>,
    pub body_contains: Option<String>,
    pub json: Vec<(JsonPath, Value)>,
    /// A stream's fewest messages.
    pub min_messages: Option<u32>,
    /// The name of a Server-Sent Events stream's last event.
    pub last_event: Option<String>,
    /// Text a stream's last message contains.
    pub last_message_contains: Option<String>,
}

impl Expect {
    pub fn accepts(&self, status: u16) -> bool {
        match &self.status {
            None => (200..300).contains(&status),
            Some(statuses) => statuses.contains(&status),
        }
    }

    /// Whether checking needs the body, beyond its status.
    pub fn reads_body(&self) -> bool {
        self.body_contains.is_some() || !self.json.is_empty()
    }

    /// Whether checking a stream needs its last message.
    pub fn judges_last(&self) -> bool {
        self.last_event.is_some() || self.last_message_contains.is_some()
    }

    /// A stream's last message against `last_event` and `last_message_contains`: `name` is an
    /// event's name (none for a WebSocket message), `data` its data.
    pub fn check_last(&self, name: Option<&str>, data: &[u8]) -> Result<(), Mismatch> {
        if let Some(wanted) = &self.last_event
            && name != Some(wanted.as_str())
        {
            return Err(Mismatch::LastEvent);
        }
        match &self.last_message_contains {
            Some(needle) if !contains(data, needle.as_bytes()) => Err(Mismatch::LastMessageLacks),
            _ => Ok(()),
        }
    }

    /// The mismatch of a stream that ended before any message, when its last one is judged.
    pub fn no_last(&self) -> Option<Mismatch> {
        if self.last_event.is_some() {
            Some(Mismatch::LastEvent)
        } else {
            self.last_message_contains
                .as_ref()
                .map(|_| Mismatch::LastMessageLacks)
        }
    }
}

/// A value a request takes from its answer into the user's `${user.NAME}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub name: String,
    /// Where the user keeps it: the index of `name` among the spec's captures.
    pub slot: usize,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Json(JsonPath),
    Header(HeaderName),
}

impl Source {
    /// `"json:$.path"` or `"header:Name"`.
    pub fn parse(text: &str) -> Result<Source, String> {
        if let Some(path) = text.strip_prefix("json:") {
            return JsonPath::parse(path.trim()).map(Source::Json);
        }
        if let Some(name) = text.strip_prefix("header:") {
            return HeaderName::from_bytes(name.trim().as_bytes())
                .map(Source::Header)
                .map_err(|_| format!("`{}` is not a header name", name.trim()));
        }
        Err(format!(
            "`{text}`: a capture is `json:$.path` (from a JSON body) or `header:Name`"
        ))
    }
}

/// Which check an answer with an accepted status failed: a small `Copy` value, so a service that
/// fails every check costs the generator no text per request. [`Mismatch::describe`] spells it
/// out, from the same answer, for the few failures a report quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The body lacks `expect.body_contains`.
    BodyLacksText,
    /// The body is not JSON, and `expect.json` or a capture reads it.
    NotJson,
    /// The field of `expect.json[i]` is missing or holds another value.
    JsonField(usize),
    /// `captures[i]` found no value.
    NothingToCapture(usize),
    /// A stream's last event is not named `expect.last_event`.
    LastEvent,
    /// A stream's last message lacks `expect.last_message_contains`.
    LastMessageLacks,
}

impl Mismatch {
    /// What was wrong, in words: the answer's `body` (as checked) is looked at again, since the
    /// check kept nothing of it.
    pub fn describe(self, expect: &Expect, captures: &[Capture], body: &[u8]) -> String {
        match self {
            Mismatch::BodyLacksText => {
                let needle = expect.body_contains.as_deref().unwrap_or_default();
                format!("the body does not contain `{needle}`")
            }
            Mismatch::NotJson => match serde_json::from_slice::<Value>(body) {
                Err(err) => format!("the body is not JSON ({err})"),
                Ok(_) => "the body is not JSON".to_owned(),
            },
            Mismatch::JsonField(index) => {
                let (path, wanted) = &expect.json[index];
                let document = serde_json::from_slice::<Value>(body).ok();
                let found = document.as_ref().and_then(|d| path.find(d));
                let found = found.map_or_else(|| "nothing".to_owned(), Value::to_string);
                format!("{path} is {found}, expected {wanted}")
            }
            Mismatch::NothingToCapture(index) => {
                let capture = &captures[index];
                let source = match &capture.source {
                    Source::Json(path) => format!("at {path}"),
                    Source::Header(name) => format!("in header {name}"),
                };
                format!("nothing to capture as `{}` {source}", capture.name)
            }
            // `body` is the last message's start (see run::messages::Last), empty when the
            // stream had none.
            Mismatch::LastEvent | Mismatch::LastMessageLacks if body.is_empty() => {
                "the stream ended without a message to judge as its last".to_owned()
            }
            Mismatch::LastEvent => format!(
                "the last event is not named `{}`",
                expect.last_event.as_deref().unwrap_or_default()
            ),
            Mismatch::LastMessageLacks => format!(
                "the last message does not contain `{}`",
                expect.last_message_contains.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// Checks the body of an answer against `expect`, and takes each capture's value into `values`
/// (by slot). `body` may be a prefix of a long answer.
pub fn check(
    expect: &Expect,
    captures: &[Capture],
    headers: &HeaderMap,
    body: &[u8],
    values: &mut [String],
) -> Result<(), Mismatch> {
    if let Some(needle) = &expect.body_contains
        && !contains(body, needle.as_bytes())
    {
        return Err(Mismatch::BodyLacksText);
    }
    let needs_json =
        !expect.json.is_empty() || captures.iter().any(|c| matches!(c.source, Source::Json(_)));
    let document = if needs_json {
        Some(serde_json::from_slice::<Value>(body).map_err(|_| Mismatch::NotJson)?)
    } else {
        None
    };
    for (index, (path, wanted)) in expect.json.iter().enumerate() {
        if document.as_ref().and_then(|d| path.find(d)) != Some(wanted) {
            return Err(Mismatch::JsonField(index));
        }
    }
    for (index, capture) in captures.iter().enumerate() {
        let value = match &capture.source {
            Source::Json(path) => {
                document
                    .as_ref()
                    .and_then(|d| path.find(d))
                    .map(|value| match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
            }
            Source::Header(name) => headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        values[capture.slot] = value.ok_or(Mismatch::NothingToCapture(index))?;
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_walk_keys_and_indexes() {
        let doc = serde_json::json!({"a": {"b": [10, {"c d": "x"}]}});
        let find = |p: &str| JsonPath::parse(p).unwrap().find(&doc).cloned();
        assert_eq!(find("$"), Some(doc.clone()));
        assert_eq!(find("$.a.b[0]"), Some(serde_json::json!(10)));
        assert_eq!(find("$.a.b[1][\"c d\"]"), Some(serde_json::json!("x")));
        assert_eq!(find("$.a.missing"), None);
        assert_eq!(find("$.a.b[9]"), None);
        for bad in ["a.b", "$.", "$[x]", "$[0", "$x"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    fn expect(body_contains: Option<&str>, json: &[(&str, Value)]) -> Expect {
        Expect {
            status: None,
            body_contains: body_contains.map(str::to_owned),
            json: json
                .iter()
                .map(|(p, v)| (JsonPath::parse(p).unwrap(), v.clone()))
                .collect(),
            ..Expect::default()
        }
    }

    #[test]
    fn a_body_is_checked_for_text_and_fields() {
        let body = br#"{"label": "spam", "score": 0.9}"#;
        let headers = HeaderMap::new();
        let ok = expect(Some("spam"), &[("$.label", serde_json::json!("spam"))]);
        assert_eq!(check(&ok, &[], &headers, body, &mut []), Ok(()));
        let wrong_text = expect(Some("ham"), &[]);
        let wrong_fields = expect(
            None,
            &[
                ("$.score", serde_json::json!(0.9)),
                ("$.label", serde_json::json!("ham")),
            ],
        );
        let missing_field = expect(None, &[("$.gone", serde_json::json!(1))]);
        let cases: [(&Expect, &[u8], Mismatch, &str); 4] = [
            (
                &wrong_text,
                body,
                Mismatch::BodyLacksText,
                "the body does not contain `ham`",
            ),
            (
                &wrong_fields,
                body,
                Mismatch::JsonField(1),
                r#"$.label is "spam", expected "ham""#,
            ),
            (
                &missing_field,
                body,
                Mismatch::JsonField(0),
                "$.gone is nothing, expected 1",
            ),
            (
                &wrong_fields,
                b"<html>",
                Mismatch::NotJson,
                "the body is not JSON (expected value at line 1 column 1)",
            ),
        ];
        for (expect, body, mismatch, text) in cases {
            assert_eq!(check(expect, &[], &headers, body, &mut []), Err(mismatch));
            assert_eq!(mismatch.describe(expect, &[], body), text);
        }
        assert_eq!(
            Expect::default().accepts(204),
            !Expect::default().accepts(301)
        );
    }

    #[test]
    fn a_stream_s_last_message_is_checked_for_its_name_and_text() {
        let expect = Expect {
            last_event: Some("done".into()),
            last_message_contains: Some("[DONE]".into()),
            ..Expect::default()
        };
        assert!(expect.judges_last() && !Expect::default().judges_last());
        assert_eq!(expect.check_last(Some("done"), b"data [DONE]"), Ok(()));
        assert_eq!(
            expect.check_last(Some("token"), b"[DONE]"),
            Err(Mismatch::LastEvent)
        );
        assert_eq!(
            expect.check_last(None, b"[DONE]"),
            Err(Mismatch::LastEvent),
            "a WebSocket message has no name"
        );
        assert_eq!(
            expect.check_last(Some("done"), b"nearly"),
            Err(Mismatch::LastMessageLacks)
        );
        assert_eq!(expect.no_last(), Some(Mismatch::LastEvent));
        assert_eq!(Expect::default().no_last(), None);
        let cases = [
            (
                Mismatch::LastEvent,
                &b"event: token"[..],
                "the last event is not named `done`",
            ),
            (
                Mismatch::LastMessageLacks,
                b"data: 9",
                "the last message does not contain `[DONE]`",
            ),
            (
                Mismatch::LastEvent,
                b"",
                "the stream ended without a message to judge as its last",
            ),
        ];
        for (mismatch, quote, text) in cases {
            assert_eq!(mismatch.describe(&expect, &[], quote), text);
        }
    }

    #[test]
    fn captures_take_json_fields_and_headers() {
        let captures = [
            Capture {
                name: "token".into(),
                slot: 1,
                source: Source::parse("json:$.token").unwrap(),
            },
            Capture {
                name: "session".into(),
                slot: 0,
                source: Source::parse("header:X-Session").unwrap(),
            },
        ];
        let mut headers = HeaderMap::new();
        headers.insert("x-session", "s1".parse().unwrap());
        let mut values = vec![String::new(); 2];
        let body = br#"{"token": "t-1"}"#;
        check(&Expect::default(), &captures, &headers, body, &mut values).unwrap();
        assert_eq!(values, ["s1", "t-1"]);
        let err = check(&Expect::default(), &captures, &headers, b"{}", &mut values).unwrap_err();
        assert_eq!(err, Mismatch::NothingToCapture(0));
        assert_eq!(
            err.describe(&Expect::default(), &captures, b"{}"),
            "nothing to capture as `token` at $.token"
        );
        let no_header = HeaderMap::new();
        let err = check(&Expect::default(), &captures, &no_header, body, &mut values).unwrap_err();
        assert_eq!(
            err.describe(&Expect::default(), &captures, body),
            "nothing to capture as `session` in header x-session"
        );
        assert!(Source::parse("cookie:x").is_err());
    }
}
