//! What the trainer's commands share (`score`, `trace`, `report`, and `view
//! --replay`): running a scene, reading a trace, the treatment to score.

use crate::app::{Failure, bad_input, load_scene};
use crate::core::format::fixed;
use crate::core::input::scene::Scene;
use crate::core::input::trajectory::Trace;
use crate::core::trainer as score;
use crate::core::{self, Outcome, RunOptions};
use std::path::Path;

pub(crate) fn run_scene(scene: &Scene) -> Result<Outcome, Failure> {
    core::engine::run(scene, &RunOptions::default()).map_err(bad_input)
}

/// Reads a trajectory file (CSV) into a trace.
pub fn load_trace(path: &Path) -> Result<Trace, Failure> {
    let text = crate::app::input::read_text(path, crate::app::input::MAX_MESH_FILE_BYTES).map_err(|e| match e {
        crate::app::input::ReadError::Io { error, .. } => {
            bad_input(anyhow::anyhow!("cannot read trajectory {}: {error}", path.display()))
        }
        other => bad_input(other),
    })?;
    Trace::parse(&text, &path.display().to_string()).map_err(bad_input)
}

/// The treatment to score: a trajectory (CSV) applied to the reference's
/// zones, or a scene of its own (zones matched by name).
pub(crate) fn trainee(path: &Path, reference: &Scene) -> Result<Scene, Failure> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        let trace = load_trace(path)?;
        return score::trainee_scene(reference, &trace).map_err(bad_input);
    }
    let s = load_scene(path)?;
    if !s.zones.iter().any(|z| reference.zones.iter().any(|r| r.name == z.name)) {
        return Err(bad_input(anyhow::anyhow!(
            "{}: no zone of it is in the reference ({}): zones are matched by name",
            path.display(),
            reference.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(s)
}

/// A criterion's number: counts whole, the rest to three decimals; "–" when absent.
pub(crate) fn fig(v: Option<f64>, unit: &str) -> String {
    match v {
        // A criterion that could not be measured (scored 0; its detail says why).
        Some(v) if v.is_nan() => "n/a".into(),
        Some(v) if unit == "count" => fixed(v, 0),
        Some(v) => fixed(v, 3),
        None => "–".into(),
    }
}
