//! One request of the open model's schedule: when it is due, rendered from its own random stream,
//! then sent and recorded against its intended time. The senders and the schedule thread both
//! send through these.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use crate::run::client::{self, http1::Connection};
use crate::run::exchange::{Answered, Buffers, User, build_request, send_and_classify};
use crate::run::messages::Messages;
use crate::run::outcome::ErrorExample;
use crate::run::record::{Sending, Timing};
use crate::run::shared::{Picked, Shared};
use crate::support::sync::lock;

/// A request the schedule gave a send time, rendered.
pub(super) struct Due {
    /// Its place in the schedule.
    pub(super) i: u64,
    pub(super) request_idx: usize,
    pub(super) intended: Instant,
    /// Due after the warmup.
    pub(super) judged: bool,
    pub(super) request: Result<Vec<u8>, client::Invalid>,
}

/// How late every sender writes its request on purpose: zero, unless a test proving that the
/// open-model tests catch an always-late generator sets `LOADGATE_TEST_LATE_SENDS_MS`, honoured
/// only under `LOADGATE_TEST_SEAMS=1` so no production environment can delay a send by accident.
pub(super) fn planted_lateness() -> std::time::Duration {
    static LATE: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *LATE.get_or_init(|| {
        let seams = std::env::var_os("LOADGATE_TEST_SEAMS").is_some_and(|v| v == "1");
        let millis = std::env::var("LOADGATE_TEST_LATE_SENDS_MS").ok();
        let millis = millis.and_then(|ms| ms.parse().ok()).filter(|_| seams);
        std::time::Duration::from_millis(millis.unwrap_or(0))
    })
}

/// When request `i` is due; `None` when that is at or after the end.
pub(super) fn intended_of(shared: &Shared, i: u64) -> Option<Instant> {
    let intended = shared.started + shared.load.profile.time_of(i as f64)?;
    (intended < shared.end()).then_some(intended)
}

/// Renders request `i`, due at `intended`, from its own random stream. The open model has no
/// users: requests are alike, with nothing captured.
pub(super) fn render(
    shared: &Shared,
    (i, intended): (u64, Instant),
    buffers: &mut Buffers,
    connection: &mut Connection,
) -> Due {
    let mut rng = request_rng(shared.seed, i);
    let request_idx = match shared.pick(&mut rng) {
        Picked::Request(idx) => idx,
        Picked::Flow(_) => unreachable!("planning refuses flows in the open model"),
    };
    let mut user = User {
        id: 1,
        rng: &mut rng,
        vars: &mut [],
        buffers,
        connection,
        slot: None,
        jar: None,
    };
    let built = build_request(shared, request_idx, &mut user);
    Due {
        i,
        request_idx,
        intended,
        judged: intended >= shared.warmup_end(),
        request: built.map(|()| std::mem::take(&mut user.buffers.request)),
    }
}

/// Request `i`'s own random stream, from the seed and `i` alone: what it draws (its name, its
/// random values) does not depend on which thread or process renders it, nor on the requests
/// before it.
fn request_rng(seed: u64, i: u64) -> fastrand::Rng {
    // splitmix64's finalizer: neighbouring indices get unrelated seeds.
    let mut z = seed ^ i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    fastrand::Rng::with_seed(z ^ (z >> 31))
}

/// Sends one due request (the rest of it when the schedule thread wrote it at `sent_at`) and
/// records it: its latency from the intended time, its send error (`sent_at` minus intended),
/// and its latency from the actual send.
pub(super) async fn send_due(
    shared: &Shared,
    connection: &mut Connection,
    (body, messages): (&mut Vec<u8>, &mut Messages),
    due: Due,
    sent_at: Instant,
) {
    let Due {
        i,
        request_idx,
        intended,
        judged,
        request,
    } = due;
    shared.active.fetch_add(1, Ordering::Relaxed);
    let request = request.as_deref().map_err(|&invalid| invalid);
    let outcome = send_and_classify(
        shared,
        (connection, None),
        request,
        request_idx,
        body,
        Answered {
            vars: &mut [],
            jar: None,
            messages,
            sockets: None,
        },
    )
    .await;
    let answered_at = Instant::now();
    let plan = &shared.requests[request_idx];
    // The intended send time starts a stream's clock too.
    let timing = Timing {
        latency: answered_at - intended,
        sending: Some(Sending {
            late: sent_at.saturating_duration_since(intended),
            uncorrected: answered_at - sent_at,
        }),
        messages: plan
            .stream
            .is_some()
            .then_some((intended, messages.arrivals.as_slice())),
    };
    let stripe = &shared.stripes[(i % shared.stripes.len() as u64) as usize];
    lock(stripe).record(judged, request_idx, timing, &outcome, |cause| {
        ErrorExample::new(cause, &outcome, plan, body, &shared.secrets)
    });
    shared.active.fetch_sub(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_draws_the_same_whoever_renders_it_and_its_neighbours_differ() {
        let draws = |i| {
            let mut rng = request_rng(7, i);
            [rng.u64(..), rng.u64(..)]
        };
        assert_eq!(draws(41), draws(41));
        assert_ne!(draws(41), draws(42));
        assert_ne!(request_rng(7, 0).u64(..), request_rng(8, 0).u64(..));
    }
}
