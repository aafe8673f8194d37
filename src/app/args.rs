//! Command-line values shared by several commands: parsers of sizes, ranges,
//! shares and confidences, and what `render` and `view` share.

#[cfg(feature = "gpu")]
use crate::app::{Failure, bad_input, load_scene};
#[cfg(feature = "gpu")]
use crate::core::{self, RunOptions};
#[cfg(feature = "gpu")]
use crate::gpu::render::{Layer, View};
#[cfg(feature = "gpu")]
use std::path::PathBuf;

/// `1280x720` -> (1280, 720), each side 16 to 8192 pixels.
#[cfg(feature = "gpu")]
fn parse_size(s: &str) -> Result<(u32, u32), &'static str> {
    let (w, h) = s.split_once('x').ok_or("give WIDTHxHEIGHT, e.g. 1280x720")?;
    let side = |v: &str| v.trim().parse::<u32>().ok().filter(|n| (16..=8192).contains(n));
    match (side(w), side(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err("each side must be a whole number from 16 to 8192"),
    }
}

/// A share from 0 to 1.
pub(crate) fn parse_fraction(s: &str) -> Result<f64, &'static str> {
    s.parse::<f64>().ok().filter(|x| (0.0..=1.0).contains(x)).ok_or("give a number from 0 to 1")
}

/// A confidence level from 0.5 to 0.999.
pub(crate) fn parse_confidence(s: &str) -> Result<f64, &'static str> {
    s.parse::<f64>().ok().filter(|x| (0.5..=0.999).contains(x)).ok_or("give a number from 0.5 to 0.999")
}

/// `1500..3000` -> [1500, 3000]: finite, 0 <= LO < HI.
pub fn parse_range(s: &str) -> Result<[f64; 2], &'static str> {
    let (lo, hi) = s.split_once("..").ok_or("give LO..HI, e.g. 1500..3000")?;
    let num = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0);
    match (num(lo), num(hi)) {
        (Some(lo), Some(hi)) if lo < hi => Ok([lo, hi]),
        _ => Err("LO and HI must be numbers >= 0 with LO < HI, e.g. 1500..3000"),
    }
}

/// What `render` and `view` share: the scene, its seed and how to show it.
#[cfg(feature = "gpu")]
#[derive(clap::Args, Debug)]
pub struct PictureArgs {
    /// Scene file (TOML).
    pub scene: PathBuf,
    /// The layer painted on the skin.
    #[arg(long, value_enum, default_value_t = Layer::Density)]
    pub layer: Layer,
    /// Where the camera looks from (left: the patient's left).
    #[arg(long, value_enum, default_value_t = View::Front)]
    pub view: View,
    /// Image or window size, WIDTHxHEIGHT pixels.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Seed for hand jitter and random stamping (overrides the scene's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The density colour scale, LO..HI punctures/cm2 (default: 0 to the
    /// densest cell, rounded up); values beyond it are clamped and striped.
    #[arg(long, value_parser = parse_range, value_name = "LO..HI")]
    pub range: Option<[f64; 2]>,
    /// Leave out the head drawn around built-in zones on it (the cranium,
    /// ears, neck and shoulders' start, and the face's eyes, lips and
    /// nostrils seen through its avoid regions).
    #[arg(long)]
    pub no_head: bool,
}

#[cfg(feature = "gpu")]
impl PictureArgs {
    /// Loads the scene (with the seed) and runs it.
    pub fn run(&self) -> Result<core::engine::Outcome, Failure> {
        self.run_as(|s| s)
    }

    /// Loads the scene (with the seed), changes it with `change` (e.g.
    /// `core::trainer::exact`, the plan done exactly) and runs it.
    pub fn run_as(
        &self,
        change: impl FnOnce(core::input::scene::Scene) -> core::input::scene::Scene,
    ) -> Result<core::engine::Outcome, Failure> {
        let mut s = load_scene(&self.scene)?;
        if let Some(seed) = self.seed {
            s = s.with_seed(seed);
        }
        core::engine::run(&change(s), &RunOptions::default()).map_err(bad_input)
    }
}
