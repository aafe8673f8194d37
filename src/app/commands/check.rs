//! `needlemap check`: validates a scene, a strategies file or a trainer's
//! criteria file without running it.

use crate::app::{Failure, bad_input};
use crate::app::{load_scene, study};
use crate::core::{self, RunOptions};
use std::path::PathBuf;

/// The arguments of `needlemap check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scene file, strategies file or criteria file (TOML).
    pub scene: PathBuf,
    /// Refuse scenes estimated to need more memory than this, MiB.
    #[arg(long, default_value_t = core::engine::plan::DEFAULT_MAX_MEMORY_BYTES >> 20)]
    pub max_memory_mb: u64,
}

/// Runs `needlemap check`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { scene, max_memory_mb } = args;
    let text = crate::app::input::read_text(&scene, crate::app::input::MAX_TEXT_FILE_BYTES).map_err(bad_input)?;
    if core::study::strategy::is_strategy_file(&text) {
        let loaded = study::load_strategies(std::slice::from_ref(&scene), None)?;
        let opts = RunOptions { max_memory_bytes: max_memory_mb << 20 };
        for s in &loaded.strategies {
            core::engine::plan_checked(&s.scene, &opts)
                .map_err(|e| bad_input(anyhow::anyhow!("strategy `{}`: {e}", s.name)))?;
        }
        println!(
            "{}: ok: strategies file, {} strategies on {} zone(s)",
            scene.display(),
            loaded.strategies.len(),
            loaded.strategies[0].scene.zones.len()
        );
        return Ok(());
    }
    if core::trainer::settings::is_criteria_file(&text) {
        let c =
            core::trainer::settings::Criteria::from_toml_str(&text, &scene.display().to_string()).map_err(bad_input)?;
        println!("{}: ok: criteria file, {} criteria set", scene.display(), c.set.len());
        return Ok(());
    }
    let s = load_scene(&scene)?;
    let (plan, est) =
        core::engine::plan_checked(&s, &RunOptions { max_memory_bytes: max_memory_mb << 20 }).map_err(bad_input)?;
    println!(
        "{}: ok: scene `{}`, {} zone(s), {} passes, {} strokes, about {:.0} punctures and {:.0} MiB",
        scene.display(),
        s.name,
        s.zones.len(),
        s.zones.iter().map(|z| z.passes.len()).sum::<usize>(),
        plan.strokes.len(),
        est.punctures(),
        est.memory_bytes() / (1 << 20) as f64
    );
    Ok(())
}
