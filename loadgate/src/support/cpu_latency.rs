//! The kernel's CPU latency limit (PM QoS): how long an idle CPU may take to wake up.
//!
//! On a virtual machine an idle CPU halts, and a timer that wakes it is late by what the host
//! takes to resume it: tens of µs at the median, up to milliseconds in the tail. That lateness
//! lands in every open-model send that a sleep times. Held at 0 µs (as cyclictest does), idle
//! CPUs poll instead of halting and wake within the host's timer delivery. The price is the
//! machine's, not this process's: idle CPUs stay busy for the host, though they give way at once
//! to any thread that can run, so the service under test loses no CPU to them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};

/// The kernel's interface: write an i32 (µs) and keep the file open to hold the request; read
/// the limit in force. Root only, as shipped.
pub const CPU_LATENCY_FILE: &str = "/dev/cpu_dma_latency";

/// Idle CPUs poll while this lives. Dropping it closes the file, which ends the request; so does
/// the process's end, however it ends.
#[derive(Debug)]
pub struct CpusAwake(#[allow(dead_code, reason = "held open, never read")] File);

impl CpusAwake {
    /// Asks for a 0 µs limit. Fails without write access to [`CPU_LATENCY_FILE`] (root, as
    /// shipped) or on a kernel without it.
    pub fn hold() -> io::Result<CpusAwake> {
        let mut file = OpenOptions::new().write(true).open(CPU_LATENCY_FILE)?;
        file.write_all(&0i32.to_ne_bytes())?;
        Ok(CpusAwake(file))
    }
}

/// True when the limit in force is 0 µs: idle CPUs poll, whoever asked for it (this run's
/// `--keep-cpus-awake`, or a tuning profile). False where the file cannot be read.
pub fn cpus_kept_awake() -> bool {
    limit_us() == Some(0)
}

fn limit_us() -> Option<i32> {
    let mut value = [0u8; 4];
    File::open(CPU_LATENCY_FILE)
        .and_then(|mut file| file.read_exact(&mut value))
        .ok()?;
    Some(i32::from_ne_bytes(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ends of the kernel's interface, where this process may use it (root); elsewhere the
    /// hold fails with the kernel's own reason and nothing is claimed.
    #[test]
    fn a_hold_keeps_cpus_awake_until_it_is_dropped() {
        match CpusAwake::hold() {
            Ok(held) => {
                assert!(cpus_kept_awake(), "the limit reads 0 µs while held");
                drop(held);
                assert_ne!(limit_us(), Some(0), "released when dropped");
            }
            Err(error) => {
                assert!(
                    matches!(
                        error.kind(),
                        io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound
                    ),
                    "{error}"
                );
                assert!(!cpus_kept_awake());
            }
        }
    }
}
