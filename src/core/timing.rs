//! Wall time of a run's stages.

use std::time::Duration;

/// Wall time of each stage of a run, in the order first seen (a stage met
/// again adds to its time). Names like `measure: splat disks` are sub-stages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Each stage's name and wall time, in the order first seen.
    pub stages: Vec<(&'static str, Duration)>,
}

impl StageTimes {
    /// Adds `d` to the stage `name`, appending it when it is new.
    pub fn add(&mut self, name: &'static str, d: Duration) {
        match self.stages.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t += d,
            None => self.stages.push((name, d)),
        }
    }
    /// Total of the top-level stages (names without a colon).
    pub fn total(&self) -> Duration {
        self.stages.iter().filter(|(n, _)| !n.contains(':')).map(|(_, d)| *d).sum()
    }
}
