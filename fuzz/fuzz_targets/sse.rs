//! Any bytes as an event stream, cut into pieces anywhere: the parser gives events or a
//! malformed stream, never a panic, and where the pieces fall never changes what it gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgate::testing::sse::{MAX_EVENT, Malformed, Parser};

/// The events (name, data, last id) of `pieces` fed in turn, or the stream's fault.
fn events<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Result<Vec<[String; 3]>, Malformed> {
    let mut parser = Parser::default();
    let mut seen = Vec::new();
    for piece in pieces {
        parser.feed(piece, &mut |event| {
            assert!(event.data.len() <= MAX_EVENT);
            seen.push([event.name, event.data, event.last_id].map(str::to_owned));
            false
        })?;
    }
    Ok(seen)
}

fuzz_target!(|data: &[u8]| {
    // The first byte says where to cut the rest.
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let whole = events(std::iter::once(stream));
    let cut = usize::from(cut).max(1);
    let pieces = events(stream.chunks(cut));
    assert_eq!(whole, pieces, "pieces of {cut} bytes");
});
