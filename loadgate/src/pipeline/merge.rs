//! `loadtest merge`: placeholder.
