//! A streamed answer read message by message: [`SseSink`] takes an event stream's body as the
//! connection reads it and stamps each event with the time it was read; [`judge`] says what
//! the stream came to once it ended (or had its `messages`).

use tokio::time::Instant;

use crate::plan::{RequestPlan, StreamPlan};
use crate::run::http1::BodySink;
use crate::run::outcome::StreamFault;
use crate::run::sse::{self, Malformed};

/// Reads a `text/event-stream` body: each event's arrival goes to `arrivals` (a reused
/// buffer), until `messages` have arrived, the stream is malformed, or it ends.
pub struct SseSink<'a> {
    plan: &'a RequestPlan,
    parser: sse::Parser,
    pub arrivals: &'a mut Vec<Instant>,
    pub malformed: Option<Malformed>,
}

impl<'a> SseSink<'a> {
    pub fn new(plan: &'a RequestPlan, arrivals: &'a mut Vec<Instant>) -> SseSink<'a> {
        arrivals.clear();
        SseSink {
            plan,
            parser: sse::Parser::default(),
            arrivals,
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
        let arrivals = &mut *self.arrivals;
        let fed = self.parser.feed(piece, &mut |_| {
            arrivals.push(now);
            want.is_some_and(|want| arrivals.len() >= want as usize)
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

/// What an answered stream came to, given how many messages arrived: a fault, or `None` when
/// it is a success.
pub fn judge(stream: &StreamPlan, got: usize, malformed: Option<Malformed>) -> Option<StreamFault> {
    let got = u32::try_from(got).unwrap_or(u32::MAX);
    if let Some(malformed) = malformed {
        return Some(StreamFault::Malformed(malformed));
    }
    match stream.messages {
        Some(want) if got < want => Some(StreamFault::TooFew { got, want }),
        _ => None,
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
        let mut arrivals = Vec::new();
        let mut sink = SseSink::new(&plan, &mut arrivals);
        assert!(sink.wants(200));
        assert!(!sink.wants(500), "an error page is not read as events");
        assert!(!sink.take(b": hi\n\ndata: 1\n"));
        assert!(!sink.take(b"\n"));
        assert!(sink.take(b"data: 2\n\ndata: 3\n\n"), "two is enough");
        assert_eq!(sink.malformed, None);
        assert_eq!(arrivals.len(), 2);
        assert!(arrivals[0] <= arrivals[1]);
    }

    #[test]
    fn a_stream_is_judged_on_its_count_and_its_form() {
        let want = |messages| StreamPlan {
            protocol: StreamProtocol::Sse,
            messages,
        };
        assert_eq!(judge(&want(Some(3)), 3, None), None);
        assert_eq!(judge(&want(None), 0, None), None);
        assert_eq!(
            judge(&want(Some(3)), 1, None),
            Some(StreamFault::TooFew { got: 1, want: 3 })
        );
        assert_eq!(
            judge(&want(None), 5, Some(Malformed::UnknownField)),
            Some(StreamFault::Malformed(Malformed::UnknownField))
        );
        let plan = request_plan("stream = \"sse\"");
        let mut arrivals = Vec::new();
        let mut sink = SseSink::new(&plan, &mut arrivals);
        assert!(sink.take(b"<html>\n"), "reading stops at a malformed line");
        assert_eq!(sink.malformed, Some(Malformed::UnknownField));
    }
}
