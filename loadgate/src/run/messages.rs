//! A streamed answer read message by message: [`SseSink`] takes an event stream's body as the
//! connection reads it and stamps each event with the time it was read (a WebSocket's messages
//! are stamped where they are read); [`judge`] says what the stream came to once it ended (or
//! had its `messages`).

use tokio::time::Instant;

use crate::plan::expect::{Expect, Mismatch};
use crate::plan::{RequestPlan, StreamPlan};
use crate::run::client::BodySink;
use crate::run::outcome::{Cause, EXAMPLE_BODY, StreamFault};
use crate::run::sse::{self, Malformed};

/// What one stream's messages gave, in buffers a user reuses.
#[derive(Debug, Default)]
pub struct Messages {
    /// When each message arrived.
    pub arrivals: Vec<Instant>,
    pub last: Last,
}

impl Messages {
    /// Ready for the next stream.
    pub fn clear(&mut self) {
        self.arrivals.clear();
        self.last.judged = None;
        self.last.quote.clear();
    }

    /// One message arrived at `at`: `name` is an event's (none for a WebSocket message), `data`
    /// its data.
    pub fn arrived(&mut self, at: Instant, expect: &Expect, name: Option<&str>, data: &[u8]) {
        self.arrivals.push(at);
        if expect.judges_last() {
            self.last.see(expect, name, data);
        }
    }
}

/// A stream's last message as `expect` judges it: each message is judged as it arrives, and the
/// latest judgement stands, so no message is kept; only the start of the latest, to quote.
#[derive(Debug, Default)]
pub struct Last {
    judged: Option<Result<(), Mismatch>>,
    /// The latest message's start (`event: NAME` and `data: …` for an event), at most what an
    /// error example quotes.
    pub quote: Vec<u8>,
}

impl Last {
    fn see(&mut self, expect: &Expect, name: Option<&str>, data: &[u8]) {
        self.judged = Some(expect.check_last(name, data));
        self.quote.clear();
        if let Some(name) = name {
            self.quote.extend_from_slice(b"event: ");
            self.quote.extend_from_slice(name.as_bytes());
            self.quote.extend_from_slice(b"\ndata: ");
        }
        let room = EXAMPLE_BODY.saturating_sub(self.quote.len());
        self.quote.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// What `expect` says of the last message: a stream without one fails a check of it.
    fn mismatch(&self, expect: &Expect) -> Option<Mismatch> {
        match self.judged {
            Some(judged) => judged.err(),
            None => expect.no_last(),
        }
    }
}

/// Reads a `text/event-stream` body: each event goes to `messages` (reused buffers), until
/// `messages` have arrived, the stream is malformed, or it ends.
pub struct SseSink<'a> {
    plan: &'a RequestPlan,
    parser: sse::Parser,
    pub messages: &'a mut Messages,
    pub malformed: Option<Malformed>,
}

impl<'a> SseSink<'a> {
    pub fn new(plan: &'a RequestPlan, messages: &'a mut Messages) -> SseSink<'a> {
        messages.clear();
        SseSink {
            plan,
            parser: sse::Parser::default(),
            messages,
            malformed: None,
        }
    }
}

impl BodySink for SseSink<'_> {
    /// An answer the spec does not expect is not read as events: it is quoted as usual.
    fn wants(&mut self, status: u16) -> bool {
        self.plan.expect.accepts(status)
    }

    fn take(&mut self, piece: &[u8]) -> bool {
        // One read, one time: the events in it arrived together.
        let now = Instant::now();
        let want = self.plan.stream.as_ref().and_then(|s| s.messages);
        let (messages, expect) = (&mut *self.messages, &self.plan.expect);
        let fed = self.parser.feed(piece, &mut |event| {
            messages.arrived(now, expect, Some(event.name), event.data.as_bytes());
            want.is_some_and(|want| messages.arrivals.len() >= want as usize)
        });
        match fed {
            Ok(enough) => enough,
            Err(malformed) => {
                self.malformed = Some(malformed);
                true
            }
        }
    }
}

/// What an answered stream came to, given its messages: a malformed stream, too few messages
/// (fewer than `messages`, or than `expect.min_messages`), a last message `expect` does not
/// accept, or `None` when it is a success.
pub fn judge(
    stream: &StreamPlan,
    expect: &Expect,
    messages: &Messages,
    malformed: Option<Malformed>,
) -> Option<Cause> {
    let got = u32::try_from(messages.arrivals.len()).unwrap_or(u32::MAX);
    if let Some(malformed) = malformed {
        return Some(Cause::Stream(StreamFault::Malformed(malformed)));
    }
    let want = stream.messages.into_iter().chain(expect.min_messages).max();
    match want {
        Some(want) if got < want => Some(Cause::Stream(StreamFault::TooFew { got, want })),
        _ => messages.last.mismatch(expect).map(Cause::Expect),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::StreamProtocol;
    use crate::run::exchange::tests::request_plan;

    #[test]
    fn events_are_stamped_as_read_and_reading_stops_at_the_messages_wanted() {
        let plan = request_plan("stream = \"sse\"\nmessages = 2");
        let mut messages = Messages::default();
        let mut sink = SseSink::new(&plan, &mut messages);
        assert!(sink.wants(200));
        assert!(!sink.wants(500), "an error page is not read as events");
        assert!(!sink.take(b": hi\n\ndata: 1\n"));
        assert!(!sink.take(b"\n"));
        assert!(sink.take(b"data: 2\n\ndata: 3\n\n"), "two is enough");
        assert_eq!(sink.malformed, None);
        assert_eq!(messages.arrivals.len(), 2);
        assert!(messages.arrivals[0] <= messages.arrivals[1]);
        assert!(messages.last.quote.is_empty(), "nothing kept unless judged");
    }

    /// `n` messages, the last named `last` with `data`, as an SSE sink reads them for `plan`.
    fn read(plan: &RequestPlan, n: usize, last: &str, data: &str) -> Messages {
        let mut messages = Messages::default();
        let mut sink = SseSink::new(plan, &mut messages);
        for _ in 1..n {
            sink.take(b"event: token\ndata: x\n\n");
        }
        if n > 0 {
            sink.take(format!("event: {last}\ndata: {data}\n\n").as_bytes());
        }
        messages
    }

    #[test]
    fn a_stream_is_judged_on_its_count_its_form_and_its_last_message() {
        let want = |messages| StreamPlan {
            protocol: StreamProtocol::Sse,
            messages,
        };
        let plain = Expect::default();
        let judged = |stream: &StreamPlan, n, malformed| {
            let plan = request_plan("stream = \"sse\"");
            judge(stream, &plain, &read(&plan, n, "token", "x"), malformed)
        };
        let too_few = |got, want| Some(Cause::Stream(StreamFault::TooFew { got, want }));
        assert_eq!(judged(&want(Some(3)), 3, None), None);
        assert_eq!(judged(&want(None), 0, None), None);
        assert_eq!(judged(&want(Some(3)), 1, None), too_few(1, 3));
        assert_eq!(
            judged(&want(None), 5, Some(Malformed::UnknownField)),
            Some(Cause::Stream(StreamFault::Malformed(
                Malformed::UnknownField
            )))
        );
        let plan = request_plan("stream = \"sse\"");
        let mut messages = Messages::default();
        let mut sink = SseSink::new(&plan, &mut messages);
        assert!(sink.take(b"<html>\n"), "reading stops at a malformed line");
        assert_eq!(sink.malformed, Some(Malformed::UnknownField));

        // expect.min_messages, last_event and last_message_contains.
        let plan = request_plan(
            "stream = \"sse\"\nexpect = { min_messages = 3, last_event = \"done\", \
             last_message_contains = \"[DONE]\" }",
        );
        let stream = plan.stream.as_ref().unwrap();
        let expect = &plan.expect;
        let cases = [
            (3, "done", "[DONE]", None),
            (2, "done", "[DONE]", too_few(2, 3)),
            (
                4,
                "token",
                "[DONE]",
                Some(Cause::Expect(Mismatch::LastEvent)),
            ),
            (
                4,
                "done",
                "9",
                Some(Cause::Expect(Mismatch::LastMessageLacks)),
            ),
        ];
        for (n, last, data, cause) in cases {
            let messages = read(&plan, n, last, data);
            assert_eq!(
                judge(stream, expect, &messages, None),
                cause,
                "{n} {last} {data}"
            );
        }
        let messages = read(&plan, 4, "token", "9");
        assert_eq!(messages.last.quote, b"event: token\ndata: 9");
        // A WebSocket message: no name, its data quoted up to what an example shows.
        let mut messages = Messages::default();
        let long = vec![b'a'; 500];
        messages.arrived(Instant::now(), expect, None, &long);
        assert_eq!(messages.last.quote.len(), EXAMPLE_BODY);
    }
}
