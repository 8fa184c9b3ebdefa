//! The transport under both the service's probe and the generator: TLS (the client
//! configuration, what a refused certificate means) and connections to a target, plain or
//! encrypted.

pub mod connect;
pub mod tls;
