//! `needlemap trace`: a scene's plan written as a trajectory file.

use crate::app::trainer::run_scene;
use crate::app::{Failure, bad_input};
use crate::app::{load_scene, output};
use crate::core::trainer::{self as score};
use std::path::Path;
use std::path::PathBuf;

/// The arguments of `needlemap trace`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scene file (TOML) whose plan is written.
    pub scene: PathBuf,
    /// The trajectory file to write (CSV).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `needlemap trace`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { scene, out } = args;
    trace_cmd(&scene, &out)
}

fn trace_cmd(scene: &Path, out: &Path) -> Result<(), Failure> {
    let s = load_scene(scene)?;
    let o = run_scene(&score::exact(&s))?;
    let trace = score::plan_trace(&o);
    if trace.rows.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "{}: the plan has no lane passes to trace (random stamping has no path)",
            scene.display()
        )));
    }
    output::write_atomic(out, trace.to_csv().as_bytes())?;
    println!(
        "wrote {} ({} samples, {:.1} s, zones {})",
        out.display(),
        trace.rows.len(),
        trace.rows.last().map_or(0.0, |r| r.1.t_s),
        trace.zones().join(", ")
    );
    Ok(())
}
