//! Studies of many runs: statistics, the analytic laws, strategies,
//! comparisons and tuning.

pub mod compare;
pub mod laws;
pub mod metric;
pub mod stats;
pub mod strategy;
pub mod tune;
