//! loadgate: a performance gate for HTTP services.
//!
//! The data flows one way, each arrow a module with plain data in and out:
//! spec file → [`spec`] → [`plan`] → ([`service`] launch) → [`run`] → [`record`] →
//! [`summary`] → [`compare`] → [`verdict`] → [`report`], with [`baseline`] files read before the
//! run and written on request. [`gate::loadtest`] is the whole pipeline in one function.

pub mod against;
pub mod answer;
pub mod baseline;
pub mod cargo;
pub mod compare;
pub mod data;
pub mod exit;
pub mod files;
pub mod gate;
pub mod guard;
pub mod http1;
pub mod meta;
pub mod metric;
pub mod paths;
pub mod plan;
pub mod progress;
pub mod record;
pub mod report;
pub mod resources;
pub mod run;
pub mod schema;
pub mod secret;
pub mod service;
pub mod spec;
pub mod stats;
pub mod summary;
pub mod template;
pub mod units;
pub mod verdict;
