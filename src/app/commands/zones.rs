//! `needlemap zones`: the built-in anatomy zones with their area and depth range.

use crate::app::{Failure, bad_input};
use crate::core::{self};

/// The arguments of `needlemap zones`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Mesh resolution, mm between vertices.
    #[arg(long, default_value_t = core::geometry::anatomy::DEFAULT_RESOLUTION_MM)]
    pub resolution_mm: f64,
}

/// Runs `needlemap zones`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { resolution_mm } = args;
    let [lo, hi] = core::geometry::anatomy::RESOLUTION_RANGE_MM;
    if !(lo..=hi).contains(&resolution_mm) {
        return Err(bad_input(anyhow::anyhow!("--resolution-mm {resolution_mm}: give {lo} to {hi} mm")));
    }
    println!(
        "{:<14} {:>8} {:>9} {:>16} {:>16} {:>11}  description",
        "zone", "area cm²", "triangles", "depth thin mm", "depth thick mm", "max stretch"
    );
    for name in core::geometry::anatomy::names() {
        let z = core::geometry::anatomy::builtin(name, resolution_mm).expect("listed zone");
        let d = z.mesh.distortion();
        let range = |r: [f64; 2]| if r[0] == r[1] { format!("{}", r[0]) } else { format!("{}–{}", r[0], r[1]) };
        println!(
            "{:<14} {:>8.1} {:>9} {:>16} {:>16} {:>11.2}  {}",
            format!("builtin:{name}").trim_start_matches("builtin:"),
            z.mesh.area_3d_mm2() / 100.0,
            z.mesh.triangles.len(),
            range(z.depth.thin_mm),
            range(z.depth.thick_mm),
            d.area_stretch_max.max(1.0 / d.area_stretch_min),
            z.description
        );
    }
    println!(
        "use in a scene as mesh = \"builtin:NAME\"; default target {:?} punctures/cm²",
        core::geometry::anatomy::DEFAULT_TARGET_PER_CM2
    );
    Ok(())
}
