//! The open-files limit. A generator holding thousands of streams holds a socket for each, and
//! the service it starts one more for each: past the soft limit, which many shells set to 1 024,
//! every new connection fails (`EMFILE`). The soft limit is raised to the hard one, as Go
//! programs (k6 among them) do when they start; the services the gate starts inherit it.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises this process's soft limit on open files to its hard limit; the soft limit after
/// (`None`: unlimited).
pub fn raise() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum)
        && soft < hard
    {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        // Refused (a sandbox may forbid it): the run goes on with the limit it has.
        let _ = setrlimit(Resource::Nofile, raised);
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        assert_eq!(super::raise(), hard);
    }
}
