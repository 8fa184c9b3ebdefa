//! Exit codes: a documented contract that CI scripts branch on, so they never change meaning.
//! Every outcome of a gate maps to exactly one; README.md's table lists them.

use std::process::ExitCode;

/// How a gate ended, as the process reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Exit {
    /// Every check passed (or had no baseline to compare with).
    Passed,
    /// A performance check failed: the service got slower, less reliable or less productive.
    CheckFailed,
    /// The spec, a baseline or the command line is wrong; nothing was run.
    BadInput,
    /// The service failed to start, never became ready, or died during the run.
    ServiceFailed,
    /// The run cannot be trusted (for example the baseline was recorded for another version of
    /// the spec).
    Inconclusive,
    /// The load ran, but a report or a baseline could not be written (a full disk, a
    /// read-only directory): the verdict reached the console only.
    OutputFailed,
    /// The gate was interrupted by SIGINT or SIGTERM (128 + SIGINT, the shell convention).
    Interrupted,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::Passed => 0,
            Exit::CheckFailed => 1,
            Exit::BadInput => 2,
            Exit::ServiceFailed => 3,
            Exit::Inconclusive => 4,
            Exit::OutputFailed => 5,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}
