//! 3D views as PNG pictures: the renderer's frame with its legend drawn on.

use crate::app::plot;
use crate::core;
use anyhow::Context;

/// The 3D views of `simulate --render` (none, with a warning, without a GPU).
#[cfg(feature = "gpu")]
pub fn render_views(outcome: &core::engine::Outcome) -> Vec<(&'static str, Vec<u8>)> {
    use crate::gpu::render::{Layer, RenderConfig, View};
    let gpu = match crate::gpu::Gpu::headless() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("warning: 3D views skipped: {e}");
            return Vec::new();
        }
    };
    let mut files = Vec::new();
    for (name, view) in
        [("render-front.png", View::Front), ("render-left.png", View::Left), ("render-right.png", View::Right)]
    {
        let cfg = RenderConfig {
            layer: Layer::Density,
            view,
            width: 1280,
            height: 720,
            at_time_s: None,
            range_per_cm2: None,
            context: true,
        };
        match render_png(&gpu, outcome, &cfg) {
            Ok(png) => files.push((name, png)),
            Err(e) => eprintln!("warning: the {name} view could not be drawn: {e}"),
        }
    }
    files
}

/// A 3D view as PNG, with its colorbar or legend drawn in the top-right corner.
#[cfg(feature = "gpu")]
pub fn render_png(
    gpu: &crate::gpu::Gpu,
    outcome: &core::engine::Outcome,
    cfg: &crate::gpu::render::RenderConfig,
) -> anyhow::Result<Vec<u8>> {
    use crate::gpu::render;
    let rgba = render::render(gpu, outcome, cfg)?;
    let mut rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let range = cfg.range_per_cm2.unwrap_or_else(|| render::auto_range(outcome));
    plot::overlay_legend(&mut rgb, (cfg.width, cfg.height), cfg.layer, range, render::shared_target(outcome))?;
    let img = image::RgbImage::from_raw(cfg.width, cfg.height, rgb).context("frame size")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

#[cfg(not(feature = "gpu"))]
pub fn render_views(_: &core::engine::Outcome) -> Vec<(&'static str, Vec<u8>)> {
    eprintln!("warning: 3D views skipped: this build has no `gpu` feature");
    Vec::new()
}
