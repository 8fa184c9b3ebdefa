//! Bytes of a `text/event-stream` body → events, as the WHATWG HTML standard's event stream
//! interpretation reads them: `data:` over several lines joined by `\n`, `event:`, `id:`,
//! `retry:`, comments (`:`), line ends CRLF, LF or CR, and chunk boundaries anywhere (a CR at the
//! end of one chunk and the LF at the start of the next are one line end). Pure: the caller
//! feeds what it read and timestamps the events.
//!
//! Stricter than a browser in one way, on purpose: a line that is neither a comment nor one of
//! the four fields, text that is not UTF-8, or an event over [`MAX_EVENT`] bytes is a
//! [`Malformed`] stream. A browser ignores them; a gate reports them, since a service that
//! answers with an HTML error page or JSON instead of events is broken, not quiet.

use std::fmt;

/// The most bytes one event (its fields and line ends) may take: a stream that never ends a
/// line or an event cannot make the generator's memory grow without bound.
pub const MAX_EVENT: usize = 1 << 20;

/// Why a stream is not an event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A line that is not UTF-8.
    NotUtf8,
    /// A line naming no field of the format (`data`, `event`, `id`, `retry`).
    UnknownField,
    /// An event (or a line) longer than [`MAX_EVENT`].
    TooLong,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::NotUtf8 => "a line of the event stream is not UTF-8",
            Malformed::UnknownField => {
                "a line of the event stream names no field (data, event, id, retry) and is no comment"
            }
            Malformed::TooLong => "an event of the stream is over 1 MiB",
        })
    }
}

/// One dispatched event, borrowed from the parser until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// `message` unless the event named another type.
    pub name: &'a str,
    /// The data lines joined by `\n`.
    pub data: &'a str,
    /// The last event id seen on the stream (ids persist across events).
    pub last_id: &'a str,
}

/// An event stream's reader state across the chunks of one body.
#[derive(Debug, Default)]
pub struct Parser {
    /// The line read so far (without its end).
    line: Vec<u8>,
    /// The previous chunk ended on a CR: an LF starting this one belongs to it.
    after_cr: bool,
    /// The first line is read: a byte order mark is only skipped before it.
    started: bool,
    name: String,
    data: String,
    /// At least one `data` field in the pending event.
    has_data: bool,
    last_id: String,
    /// Bytes of the pending event so far.
    event_bytes: usize,
    /// The last valid `retry` the service sent, in milliseconds.
    pub retry_ms: Option<u64>,
}

impl Parser {
    /// Reads `bytes`, the next piece of the body, giving each event completed in it to
    /// `on_event`; returning true from it stops reading (the caller has what it needs). Returns
    /// whether reading was stopped so. After an error the parser is not to be fed again.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Result<bool, Malformed> {
        if std::mem::take(&mut self.after_cr) && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.grow(end + 1)?;
            self.line.extend_from_slice(&bytes[..end]);
            let cr = bytes[end] == b'\r';
            bytes = &bytes[end + 1..];
            if cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            let stop = self.line_ended(&line, on_event);
            self.line = line;
            self.line.clear();
            if stop? {
                return Ok(true);
            }
        }
        self.grow(bytes.len())?;
        self.line.extend_from_slice(bytes);
        Ok(false)
    }

    /// Counts `n` more bytes of the pending event, refusing one that grows too long.
    fn grow(&mut self, n: usize) -> Result<(), Malformed> {
        self.event_bytes += n;
        if self.event_bytes > MAX_EVENT {
            return Err(Malformed::TooLong);
        }
        Ok(())
    }

    /// One whole line: a field, a comment, or the blank line that dispatches the event.
    fn line_ended(
        &mut self,
        line: &[u8],
        on_event: &mut dyn FnMut(Event<'_>) -> bool,
    ) -> Result<bool, Malformed> {
        let mut line = std::str::from_utf8(line).map_err(|_| Malformed::NotUtf8)?;
        if !std::mem::replace(&mut self.started, true) {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            return Ok(self.dispatch(on_event));
        }
        if line.starts_with(':') {
            return Ok(false);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => value.clone_into(&mut self.name),
            // An id with a NUL is ignored, as the standard says.
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_id),
            "id" => {}
            "retry" => {
                if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                    self.retry_ms = value.parse().ok();
                }
            }
            _ => return Err(Malformed::UnknownField),
        }
        Ok(false)
    }

    /// Ends the pending event: given to `on_event` when it has data (an event without data is
    /// dropped, its name with it, as the standard says).
    fn dispatch(&mut self, on_event: &mut dyn FnMut(Event<'_>) -> bool) -> bool {
        self.event_bytes = 0;
        let has_data = std::mem::take(&mut self.has_data);
        let stop = has_data && {
            let data = self.data.strip_suffix('\n').unwrap_or(&self.data);
            let name = if self.name.is_empty() {
                "message"
            } else {
                &self.name
            };
            on_event(Event {
                name,
                data,
                last_id: &self.last_id,
            })
        };
        self.data.clear();
        self.name.clear();
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event as (name, data, last id).
    type Seen = (String, String, String);

    /// Each event `text` gives, fed in pieces of `piece` bytes.
    fn events(text: &[u8], piece: usize) -> Result<Vec<Seen>, Malformed> {
        let mut parser = Parser::default();
        let mut seen = Vec::new();
        for chunk in text.chunks(piece.max(1)) {
            parser.feed(chunk, &mut |e| {
                seen.push((e.name.to_owned(), e.data.to_owned(), e.last_id.to_owned()));
                false
            })?;
        }
        Ok(seen)
    }

    fn ev(name: &str, data: &str, id: &str) -> Seen {
        (name.into(), data.into(), id.into())
    }

    #[test]
    fn every_part_of_the_format_is_read_whatever_the_chunks() {
        let cases: [(&[u8], Vec<Seen>); 9] = [
            (b"data: hello\n\n", vec![ev("message", "hello", "")]),
            // Several data lines join with \n; one space after the colon is dropped, no more.
            (
                b"data: a\ndata:  b\ndata\n\n",
                vec![ev("message", "a\n b\n", "")],
            ),
            (
                b"event: token\nid: 7\ndata: x\n\ndata: y\n\n",
                vec![ev("token", "x", "7"), ev("message", "y", "7")],
            ),
            // Comments and retry dispatch nothing; an event without data is dropped.
            (
                b": keep-alive\nretry: 3000\n\nevent: empty\n\ndata: z\n\n",
                vec![ev("message", "z", "")],
            ),
            // CRLF, CR and LF line ends, mixed.
            (
                b"data: a\r\n\r\ndata: b\r\rdata: c\n\n",
                vec![
                    ev("message", "a", ""),
                    ev("message", "b", ""),
                    ev("message", "c", ""),
                ],
            ),
            // A byte order mark before the first line only.
            (b"\xef\xbb\xbfdata: bom\n\n", vec![ev("message", "bom", "")]),
            // An unfinished event at the end of the stream is not dispatched.
            (b"data: done\n\ndata: cut", vec![ev("message", "done", "")]),
            // An id with a NUL is ignored; an empty id resets it.
            (
                b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\nid\ndata: c\n\n",
                vec![
                    ev("message", "a", "1"),
                    ev("message", "b", "1"),
                    ev("message", "c", ""),
                ],
            ),
            (b"data:\n\n", vec![ev("message", "", "")]),
        ];
        for (text, expected) in cases {
            for piece in 1..=text.len() {
                assert_eq!(
                    events(text, piece).unwrap(),
                    expected,
                    "{:?} in pieces of {piece}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn retry_keeps_the_last_number_and_ignores_the_rest() {
        let mut parser = Parser::default();
        parser
            .feed(b"retry: 1500\nretry: soon\nretry:\n\n", &mut |_| false)
            .unwrap();
        assert_eq!(parser.retry_ms, Some(1500));
    }

    #[test]
    fn what_is_not_an_event_stream_is_malformed() {
        let cases: [(&[u8], Malformed); 3] = [
            (b"<html><body>oops</body></html>\n", Malformed::UnknownField),
            (b"{\"error\": 1}\n\n", Malformed::UnknownField),
            (b"data: \xff\xfe\n\n", Malformed::NotUtf8),
        ];
        for (text, fault) in cases {
            assert_eq!(events(text, 3), Err(fault), "{text:?}");
        }
        let long = format!("data: {}\n\n", "x".repeat(MAX_EVENT));
        assert_eq!(events(long.as_bytes(), 4096), Err(Malformed::TooLong));
        let no_line_end = vec![b'x'; MAX_EVENT + 1];
        assert_eq!(events(&no_line_end, 4096), Err(Malformed::TooLong));
        // Many events that are each small never add up to too long.
        let many = "data: 0123456789\n\n".repeat(MAX_EVENT / 8);
        assert_eq!(events(many.as_bytes(), 4096).unwrap().len(), MAX_EVENT / 8);
    }

    #[test]
    fn reading_stops_where_the_caller_says_and_says_so() {
        let mut parser = Parser::default();
        let mut n = 0;
        let stopped = parser
            .feed(b"data: 1\n\ndata: 2\n\ndata: 3\n\n", &mut |_| {
                n += 1;
                n == 2
            })
            .unwrap();
        assert!(stopped);
        assert_eq!(n, 2);
    }
}
