//! Every default of the spec format, in one place (loadspec/README.md repeats them): what a key
//! left out of a spec stands for.

use std::time::Duration;

pub const SEED: u64 = 1;
pub const READY_PATH: Option<&str> = None; // no `ready.http`: ready when the port accepts connections
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Where a launched service is reached unless `[service] url` says.
pub const SERVICE_URL: &str = "http://127.0.0.1:{port}";
pub const STOP_GRACE: Duration = Duration::from_secs(5);
pub const RAMP_UP: Duration = Duration::ZERO;
pub const THINK_TIME: Duration = Duration::ZERO;
pub const WARMUP: Duration = Duration::ZERO;
/// After a run's end and its longest request timeout, how long requests still in flight get
/// before they are aborted.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const WEIGHT: u32 = 1;
pub const METHOD: &str = "GET";
pub const MAX_IN_FLIGHT: u32 = 1_000;
pub const ROUNDS: u32 = 1;
/// A cookie jar per user (closed model) unless `[defaults] cookies = false`.
pub const COOKIES: bool = true;
/// `--target` with no `[service]` to read `ready` from: how long the running service may take
/// to answer its first probe before the gate gives up (exit 3) without sending load.
pub const TARGET_READY_TIMEOUT: Duration = Duration::from_secs(5);
/// A spec without `[gate]` fails when more requests than this fraction fail: a gate that passes
/// while every request fails is no gate. (An empty `[gate]` checks nothing.)
pub const GATE_ERROR_RATE_MAX: f64 = 0.01;
/// `[cost]`: requests of each name counted under Callgrind. On the demo service, 500 requests of
/// `/` repeated to within 0.25 % (1 000 to 0.13 %) once the service runs on one CPU; each
/// thousand takes about 1.3 s under Valgrind there.
pub const COST_REQUESTS: u32 = 1_000;
/// `[cost]`: requests of each name sent before counting (lazy statics, caches, connection).
pub const COST_WARMUP_REQUESTS: u32 = 20;
/// `[cost]`: functions kept per request name, by self instructions. Of the ~230 functions `/` of
/// the demo service runs, the 100th does about 40 instructions per request: a function that is
/// not kept is known to do at most the last kept one's, which bounds its change in the table.
pub const COST_FUNCTIONS: u32 = 100;
/// `[cost]`: how long a service may take to become ready under Valgrind, which runs it tens of
/// times slower.
pub const COST_READY_TIMEOUT: Duration = Duration::from_secs(120);
