//! The simulation core: scene text in, figures out. No GPU, window, image or
//! file-system code lives here (checked by `tests/layering.rs` and by building
//! with `--no-default-features`).

pub mod anatomy;
pub mod cartridge;
pub mod geometry;
pub mod laws;
pub mod mesh;
pub mod metrics;
pub mod obj;
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
    let mut simulation = simulate::simulate_timed(scene, &plan, &mut times);
    times.add("simulate", t1.elapsed());
    let t3d = Instant::now();
    let mut unmapped = vec![0u64; scene.zones.len()];
    for ((zone, run), missed) in scene.zones.iter().zip(&mut simulation.zones).zip(&mut unmapped) {
        if let Some(surface) = &zone.surface {
            let (points, m) = simulate::map_to_3d(surface, &run.punctures);
            run.positions_3d_mm = points;
            *missed = m as u64;
        }
    }
    if scene.zones.iter().any(|z| z.surface.is_some()) {
        times.add("map to 3D", t3d.elapsed());
    }
    let t2 = Instant::now();
    let (mut zones, fields) = measure_timed(scene, &simulation, &mut times);
    for (z, m) in zones.iter_mut().zip(unmapped) {
        z.unmapped_punctures = m;
    }
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
                surface: zone.surface.as_deref(),
                target_per_cm2: zone.target_per_cm2,
                pass_labels: zone.passes.iter().map(|p| p.label.clone()).collect(),
            };
            let cfg = metrics::MeasureConfig {
                needle_diameter_mm: scene.cartridge.needle_diameter_mm,
                cell_mm: scene.analysis.cell_mm,
            };
            let (mut m, field) = metrics::measure_zone(&input, run, &cfg, times);
            m.surface = zone.source.clone();
            m.skin = zone.depth_range_mm.map(|_| zone.skin.name().to_string());
            m.depth_range_mm = zone.depth_range_mm;
            for (pm, pass) in m.passes.iter_mut().zip(&zone.passes) {
                pm.depth_mm = pass.depth_mm;
                pm.depth_warning = zone.depth_warning(pass);
            }
            m.depth_warnings = m.passes.iter().filter_map(|p| p.depth_warning.clone()).collect();
            m.depth_warnings.dedup();
            (m, field)
        })
        .unzip()
}
