#![warn(missing_docs)]
//! needlemap: simulates microneedling treatment coverage.
//!
//! `core` turns a scene (TOML text) into punctures and figures; `app` (the
//! `app` feature) is the command-line tool that reads files and writes
//! reports and pictures.

pub mod core;

#[cfg(feature = "app")]
pub mod app;

#[cfg(feature = "gpu")]
pub mod gpu;

pub use crate::core::{Outcome, RunOptions, run};
