//! Exit codes: a documented contract that CI scripts branch on, so they never change meaning.

/// Every check passed (or had no baseline to compare with).
pub const PASSED: i32 = 0;
/// A performance check failed: the service got slower, less reliable or less productive.
pub const CHECK_FAILED: i32 = 1;
/// The spec, a baseline or the command line is wrong; nothing was judged.
pub const BAD_INPUT: i32 = 2;
/// The service failed to start, never became ready, or died during the run.
pub const SERVICE_FAILED: i32 = 3;
/// The run cannot be trusted (for example the baseline was recorded for another version of the spec).
pub const INCONCLUSIVE: i32 = 4;
/// The gate was interrupted by SIGINT or SIGTERM (128 + SIGINT, the shell convention).
pub const INTERRUPTED: i32 = 130;
