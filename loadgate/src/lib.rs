//! loadgate: a performance gate for HTTP services.
//!
//! The modules are the pipeline's stages, in the order the data flows through them; each imports
//! only from the stages above it (and from [`support`]):
//! spec file → [`spec`] → [`plan`] → ([`service`] launch) → [`run`] (generator + recorder) →
//! [`summary`] → [`judge`] (checks, verdict, baselines) → [`report`]; [`pipeline`] drives them
//! for every spec. [`metric`] is the vocabulary the plan, the summary and the judge share.

// Leaves: paths, clock and host, files, exit codes, units, statistics.
pub mod support;

// What the user wrote: TOML → typed spec, with file:line:key errors.
pub mod spec;

// The names of what is measured and judged (p90, error_rate…), shared by the stages below.
pub mod metric;

// Spec → plan: validated, concrete, every default resolved.
pub mod plan;

// The service under test as a process, launched, probed and stopped.
pub mod service;

// Plan → recording: the load generator, its HTTP client and the histograms.
pub mod run;

// Recording → summary: the figures of one spec.
pub mod summary;

// Summary + baseline → checks and verdict.
pub mod judge;

// Verdict → console, junit.xml, summary.json, summary.md, report.html.
pub mod report;

// Every stage, for every spec: the gate as one function.
pub mod pipeline;
