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

/// Told when a loading stage that may take long (reading, checking or
/// charting a large mesh) begins (`Some(what it is doing)`) and ends
/// (`None`). The app sets one that draws a spinner on stages over a second;
/// the core alone runs without.
pub type StageHook = fn(Option<String>);

static STAGE_HOOK: std::sync::OnceLock<StageHook> = std::sync::OnceLock::new();

/// Sets the stage hook (once; later calls are ignored).
pub fn set_stage_hook(hook: StageHook) {
    let _ = STAGE_HOOK.set(hook);
}

/// Runs `f` as a stage described by `what` (asked only when a hook is set).
pub fn stage<T>(what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
    match STAGE_HOOK.get() {
        Some(hook) => {
            hook(Some(what()));
            let out = f();
            hook(None);
            out
        }
        None => f(),
    }
}
