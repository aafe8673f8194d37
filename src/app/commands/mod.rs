//! One module per command: its arguments (`Args`) and its `run`.

pub mod chart;
pub mod check;
pub mod compare;
pub mod passes;
pub mod presets;
#[cfg(feature = "gpu")]
pub mod render;
pub mod report;
pub mod score;
pub mod simulate;
pub mod trace;
pub mod tune;
#[cfg(feature = "gpu")]
pub mod view;
pub mod zones;
