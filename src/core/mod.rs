//! The simulation core: scene text in, figures out. No GPU, window, image or
//! file-system code lives here (checked by `tests/layering.rs` and by building
//! with `--no-default-features`).

pub mod cartridge;
pub mod geometry;
pub mod laws;
pub mod metrics;
pub mod pattern;
pub mod report;
pub mod scene;
pub mod simulate;

use metrics::{Layout, ZoneField, ZoneMetrics};
use pattern::Plan;
use scene::{Scene, SceneError};
use simulate::Simulation;
use std::time::{Duration, Instant};

/// Settings of a run that are not part of the scene.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOptions {
    /// Refuse scenes whose estimated peak memory is larger, bytes.
    pub max_memory_bytes: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { max_memory_bytes: pattern::DEFAULT_MAX_MEMORY_BYTES }
    }
}

/// Wall time of each stage of a run, in the order first seen (a stage met
/// again adds to its time). Names like `measure: splat disks` are sub-stages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimes {
    pub stages: Vec<(&'static str, Duration)>,
}

impl StageTimes {
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

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scene: Scene,
    pub plan: Plan,
    pub simulation: Simulation,
    pub zones: Vec<ZoneMetrics>,
    pub fields: Vec<ZoneField>,
    pub times: StageTimes,
}

/// Checks the cost of a scene, then plans it (without simulating).
pub fn plan_checked(scene: &Scene, opts: &RunOptions) -> Result<(Plan, pattern::Estimate), SceneError> {
    let cells = scene
        .zones
        .iter()
        .map(|z| Layout::new(&z.region, scene.analysis.cell_mm, scene.cartridge.needle_radius_mm()).field_bytes())
        .collect();
    let est = pattern::estimate(scene, cells);
    pattern::check_cost(scene, &est, opts.max_memory_bytes)?;
    Ok((pattern::plan(scene), est))
}

/// Runs a scene on the current rayon thread pool: plan, simulate, measure.
pub fn run(scene: &Scene, opts: &RunOptions) -> Result<Outcome, SceneError> {
    let mut times = StageTimes::default();
    let t0 = Instant::now();
    let (plan, _) = plan_checked(scene, opts)?;
    times.add("plan", t0.elapsed());
    let t1 = Instant::now();
    let simulation = simulate::simulate_timed(scene, &plan, &mut times);
    times.add("simulate", t1.elapsed());
    let t2 = Instant::now();
    let (zones, fields) = measure_timed(scene, &simulation, &mut times);
    times.add("measure", t2.elapsed());
    Ok(Outcome { scene: scene.clone(), plan, simulation, zones, fields, times })
}

/// Measures every zone of a simulation.
pub fn measure(scene: &Scene, sim: &Simulation) -> (Vec<ZoneMetrics>, Vec<ZoneField>) {
    measure_timed(scene, sim, &mut StageTimes::default())
}

/// `measure`, adding the time of each sub-stage to `times`.
pub fn measure_timed(scene: &Scene, sim: &Simulation, times: &mut StageTimes) -> (Vec<ZoneMetrics>, Vec<ZoneField>) {
    scene
        .zones
        .iter()
        .zip(&sim.zones)
        .map(|(zone, run)| {
            let input = metrics::ZoneInput {
                name: &zone.name,
                region: &zone.region,
                target_per_cm2: zone.target_per_cm2,
                pass_labels: zone.passes.iter().map(|p| p.label.clone()).collect(),
            };
            let cfg = metrics::MeasureConfig {
                needle_diameter_mm: scene.cartridge.needle_diameter_mm,
                cell_mm: scene.analysis.cell_mm,
            };
            metrics::measure_zone(&input, run, &cfg, times)
        })
        .unzip()
}
