//! The end-to-end suite as one test binary: it links once and builds the workspace's binaries
//! once (see `loadgate_tests::bins`), where a binary per file would do both fourteen times.
//! Each module is one area of the gate, driven through the real `xtask` binary.

mod adopter;
mod adoption;
mod against;
mod bad_input;
mod bisect;
mod calibrate;
mod cost;
mod distributed;
mod failing;
mod faults;
mod gate;
mod github;
mod history;
mod manifests;
mod open_model;
mod profile;
mod progress;
mod report_html;
mod resources;
mod rounds;
mod service;
mod sessions;
mod shipped;
mod stages;
mod streams;
mod sweep;
mod tls;
mod tls_service;
mod traffic;
