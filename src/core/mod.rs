//! The simulation core: scene text in, figures out. No GPU, window, image or
//! file-system code lives here (checked by `tests/engine/layering.rs` and by
//! building with `--no-default-features`).
//!
//! Its parts are layered, each importing only from those above it here:
//! - [`error`], [`format`], [`timing`]: the input layer's error type,
//!   numbers as text, stage times;
//! - [`geometry`]: chart-plane shapes, the analysis grid, meshes and their
//!   charts, the built-in anatomy, mesh files, seams between zones;
//! - [`input`]: the input model (scene, cartridge, trajectory);
//! - [`engine`]: plan, simulate, measure;
//! - [`study`]: statistics, laws, strategies, comparisons, tuning;
//! - [`trainer`]: scoring a treatment against a reference;
//! - [`report`]: the figures as text (report.json, zones.csv, summary).

pub mod engine;
pub mod error;
pub mod format;
pub mod geometry;
pub mod input;
pub mod report;
pub mod study;
pub mod timing;
pub mod trainer;

pub use engine::{Outcome, RunOptions, run};
