//! `needlemap render`: a scene's zones rendered on the GPU into a PNG.

use crate::app::args::PictureArgs;
use crate::app::{Failure, bad_input};
use crate::app::{output, pictures};
use std::path::PathBuf;
use std::time::Instant;

/// The arguments of `needlemap render`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Show the treatment as it stood at this time, s.
    #[arg(long)]
    pub at_time: Option<f64>,
    /// The scene and how it is shown: layer, view, size, seed and colour scale.
    #[command(flatten)]
    pub picture: PictureArgs,
}

/// Runs `needlemap render`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { out, at_time, picture } = args;
    use crate::gpu::render::RenderConfig;
    if let Some(t) = at_time.filter(|t| !t.is_finite() || *t < 0.0) {
        return Err(bad_input(anyhow::anyhow!("--at-time {t}: give a time in seconds >= 0")));
    }
    let outcome = picture.run()?;
    let gpu = crate::gpu::Gpu::headless().map_err(|e| Failure { code: 1, error: e.into() })?;
    let size = picture.size;
    let cfg = RenderConfig {
        layer: picture.layer,
        view: picture.view,
        width: size.0,
        height: size.1,
        at_time_s: at_time,
        range_per_cm2: picture.range,
        context: !picture.no_head,
    };
    let t0 = Instant::now();
    let png = pictures::render_png(&gpu, &outcome, &cfg)?;
    output::write_atomic(&out, &png)?;
    println!(
        "rendered {} on {} in {:.0} ms: wrote {}",
        outcome.scene.name,
        gpu.adapter,
        t0.elapsed().as_secs_f64() * 1e3,
        out.display()
    );
    Ok(())
}
