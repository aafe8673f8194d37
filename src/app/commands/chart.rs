//! `needlemap chart`: each zone's chart with a mm grid, its outline, holes
//! and avoid regions, and the chart's area stretch as a colour, to pick
//! coordinates from (avoid regions, trajectories) on a mesh zone.

use crate::app::{Failure, load_scene, output, plot};
use std::path::PathBuf;

/// The arguments of `needlemap chart`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The scene file.
    pub scene: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `needlemap chart`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { scene, out } = args;
    let s = load_scene(&scene)?;
    let png = plot::render_charts(&s)?;
    output::write_atomic(&out, &png)?;
    println!("wrote the charts of {} zone(s) of `{}` to {}", s.zones.len(), s.name, out.display());
    Ok(())
}
