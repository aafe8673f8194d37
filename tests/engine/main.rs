//! Engine tests: the analytic laws of ../shared/DESIGN.md, pattern geometry, coverage
//! accuracy against exact areas, thread-count determinism, a golden hash, and
//! the layer rule of the core. Core only: runs with `--no-default-features`.

mod accuracy;
mod avoid;
mod determinism;
mod drag;
mod formats;
mod fuzz;
mod geometry;
mod laws;
mod patterns;

mod layering;
mod sources;
mod strategies;
mod surfaces;
mod trainer;
mod unbiased;

use needlemap::core::input::scene::Scene;
use needlemap::core::{Outcome, RunOptions, run};

/// Parses a scene or fails the test with the scene's error.
pub fn scene(text: &str) -> Scene {
    Scene::from_toml_str(text, "test.toml").unwrap_or_else(|e| panic!("test scene rejected: {e}"))
}

/// Runs a scene on the current thread pool.
pub fn simulate(text: &str) -> Outcome {
    run(&scene(text), &RunOptions::default()).unwrap_or_else(|e| panic!("test scene refused: {e}"))
}

/// Runs a scene on a pool of exactly `threads` threads.
pub fn simulate_with_threads(text: &str, threads: usize) -> Outcome {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool").install(|| simulate(text))
}

/// The repository's root folder.
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively, sorted.
pub fn rust_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Measures `run` on a flat zone of `region` with needles of `needle_diameter_mm`
/// (2 mm cells, its raster sampled from `sample_seed`): the figures of a
/// hand-built set of punctures.
pub fn measure_flat(
    region: &needlemap::core::geometry::shape::Region,
    run: &needlemap::core::engine::simulate::ZoneRun,
    needle_diameter_mm: f64,
    sample_seed: u32,
) -> needlemap::core::engine::zone::ZoneMetrics {
    use needlemap::core::engine::zone::{Detail, MeasureConfig, PassSetup, ZoneInput, ZoneSetup, measure_zone};
    let zone = ZoneInput {
        setup: ZoneSetup::flat("z", None),
        passes: vec![PassSetup { pattern: "random".into(), depth_mm: 0.5, depth_warning: None }],
        region,
        surface: None,
        unmapped_punctures: 0,
        borders: vec![],
        band_mm: 0.0,
    };
    let cfg = MeasureConfig { needle_diameter_mm, cell_mm: 2.0, detail: Detail::Full, sample_seed };
    measure_zone(&zone, run, &cfg, &mut Default::default()).0
}
