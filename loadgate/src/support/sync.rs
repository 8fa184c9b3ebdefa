//! Locking shared by the generator's threads and tasks.

use std::sync::{Mutex, MutexGuard};

/// Locks, ignoring poisoning: every holder here takes one small step (a push, a pop, a histogram
/// increment) that a panic cannot leave half-done.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
