//! The engine: a validated scene planned into strokes, simulated into
//! punctures and measured into each zone's figures. `run` does all three,
//! timing each stage.

pub mod cells;
pub mod overlap;
pub mod plan;
pub mod punctures;
pub mod raster;
pub mod simulate;
pub mod zone;

use crate::core::error::SceneError;
use crate::core::geometry::layout::Layout;
use crate::core::geometry::seams;
use crate::core::geometry::shape::Vec2;
use crate::core::input::scene::Scene;
use crate::core::timing::StageTimes;
use plan::Plan;
use simulate::Simulation;
use std::time::Instant;
use zone::{Detail, ZoneField, ZoneMetrics};

/// Settings of a run that are not part of the scene.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOptions {
    /// Refuse scenes whose estimated peak memory is larger, bytes.
    pub max_memory_bytes: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { max_memory_bytes: plan::DEFAULT_MAX_MEMORY_BYTES }
    }
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The scene that was run.
    pub scene: Scene,
    /// The strokes planned for every zone.
    pub plan: Plan,
    /// The punctures of every zone.
    pub simulation: Simulation,
    /// Each zone's figures, in scene order.
    pub zones: Vec<ZoneMetrics>,
    /// Each zone's per-cell fields (for pictures), in scene order.
    pub fields: Vec<ZoneField>,
    /// Borders shared by two zones, and what zone-by-zone work left along them.
    pub seams: Vec<seams::Seam>,
    /// Time taken by each stage of the run.
    pub times: StageTimes,
}

/// Checks the cost of a scene, then plans it (without simulating).
pub fn plan_checked(scene: &Scene, opts: &RunOptions) -> Result<(Plan, plan::Estimate), SceneError> {
    let cells = scene
        .zones
        .iter()
        .map(|z| Layout::new(&z.region, scene.analysis.cell_mm, scene.cartridge.needle_radius_mm()).field_bytes())
        .collect();
    let est = plan::estimate(scene, cells);
    plan::check_cost(scene, &est, opts.max_memory_bytes)?;
    Ok((plan::plan(scene), est))
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
    let tb = Instant::now();
    let borders = find_borders(scene);
    if !borders.is_empty() {
        times.add("find seams", tb.elapsed());
    }
    let t2 = Instant::now();
    let (zones, fields) = measure_with(scene, &simulation, &borders, &unmapped, &mut times, Detail::Full);
    times.add("measure", t2.elapsed());
    let seams = collect_seams(scene, &borders, &zones);
    Ok(Outcome { scene: scene.clone(), plan, simulation, zones, fields, seams, times })
}

/// Half-width of the seam band: the cartridge's reach (a needle can land that
/// far from the lane the hand follows), at least `seams::MIN_BAND_MM`.
pub fn seam_band_mm(scene: &Scene) -> f64 {
    scene.cartridge.reach_mm().max(seams::MIN_BAND_MM)
}

/// Pairs up the zones' seam sides into seams.
fn collect_seams(scene: &Scene, borders: &[seams::Border], zones: &[ZoneMetrics]) -> Vec<seams::Seam> {
    let r = scene.cartridge.needle_radius_mm();
    borders
        .iter()
        .filter_map(|b| {
            let side_of = |z: usize, other: usize| {
                // Sides are stored in the order the zone's borders were listed.
                let k = borders_of(scene, borders, z).iter().position(|(n, _)| *n == scene.zones[other].name)?;
                zones[z].seam_sides.get(k).cloned()
            };
            let (sa, sb) = (side_of(b.a, b.b)?, side_of(b.b, b.a)?);
            let band = sa.band_mm2 + sb.band_mm2;
            let missed = sa.missed_mm2 + sb.missed_mm2;
            Some(seams::Seam {
                zones: [scene.zones[b.a].name.clone(), scene.zones[b.b].name.clone()],
                border_mm: b.length_mm,
                band_mm: seam_band_mm(scene),
                missed_mm2: missed,
                missed_share: if band > 0.0 { missed / band } else { 0.0 },
                zones_missed_share: (zones[b.a].hit_shares[0] * zones[b.a].area_cm2
                    + zones[b.b].hit_shares[0] * zones[b.b].area_cm2)
                    / (zones[b.a].area_cm2 + zones[b.b].area_cm2),
                reached_over_mm2: (sa.reached_over + sb.reached_over) as f64 * std::f64::consts::PI * r * r,
                sides: [sa, sb],
            })
        })
        .collect()
}

/// A zone's borders with other zones: (neighbour's name, segments in its chart).
pub fn borders_of(scene: &Scene, borders: &[seams::Border], z: usize) -> Vec<(String, Vec<[Vec2; 2]>)> {
    borders
        .iter()
        .filter_map(|b| {
            if b.a == z {
                Some((scene.zones[b.b].name.clone(), b.segments_a.clone()))
            } else if b.b == z {
                Some((scene.zones[b.a].name.clone(), b.segments_b.clone()))
            } else {
                None
            }
        })
        .collect()
}

/// Measures every zone of a simulation.
pub fn measure(scene: &Scene, sim: &Simulation) -> (Vec<ZoneMetrics>, Vec<ZoneField>) {
    measure_timed(scene, sim, &mut StageTimes::default())
}

/// `measure`, adding the time of each sub-stage to `times`.
pub fn measure_timed(scene: &Scene, sim: &Simulation, times: &mut StageTimes) -> (Vec<ZoneMetrics>, Vec<ZoneField>) {
    measure_with(scene, sim, &find_borders(scene), &[], times, Detail::Full)
}

/// Only the final figures of every zone (see [`Detail::FiguresOnly`]).
pub fn measure_figures(scene: &Scene, sim: &Simulation, times: &mut StageTimes) -> Vec<ZoneMetrics> {
    measure_with(scene, sim, &find_borders(scene), &[], times, Detail::FiguresOnly).0
}

/// Measures every zone; `unmapped[z]` counts zone z's punctures that found
/// no 3D point (none counted where it is shorter).
fn measure_with(
    scene: &Scene,
    sim: &Simulation,
    borders: &[seams::Border],
    unmapped: &[u64],
    times: &mut StageTimes,
    detail: Detail,
) -> (Vec<ZoneMetrics>, Vec<ZoneField>) {
    scene
        .zones
        .iter()
        .zip(&sim.zones)
        .enumerate()
        .map(|(zi, (zone, run))| {
            let passes: Vec<zone::PassSetup> = zone
                .passes
                .iter()
                .map(|p| zone::PassSetup {
                    pattern: p.label.clone(),
                    depth_mm: p.depth_mm,
                    depth_warning: zone.depth_warning(p),
                })
                .collect();
            let mut depth_warnings: Vec<String> = passes.iter().filter_map(|p| p.depth_warning.clone()).collect();
            depth_warnings.dedup();
            let setup = zone::ZoneSetup {
                name: zone.name.clone(),
                surface: zone.source.clone(),
                skin: zone.depth_range_mm.map(|_| zone.skin.name().to_string()),
                depth_range_mm: zone.depth_range_mm,
                depth_warnings,
                target_per_cm2: zone.target_per_cm2,
                avoid_clearance_mm: zone
                    .passes
                    .iter()
                    .filter(|p| p.respect_avoid)
                    .map(|p| p.avoid_margin_mm)
                    .reduce(f64::min)
                    .filter(|_| !zone.region.avoid.is_empty()),
            };
            let input = zone::ZoneInput {
                setup,
                passes,
                region: &zone.region,
                surface: zone.surface.as_deref(),
                unmapped_punctures: unmapped.get(zi).copied().unwrap_or(0),
                borders: borders_of(scene, borders, zi),
                band_mm: seam_band_mm(scene),
            };
            let cfg = zone::MeasureConfig {
                needle_diameter_mm: scene.cartridge.needle_diameter_mm,
                cell_mm: scene.analysis.cell_mm,
                detail,
                sample_seed: sample_seed(scene.seed, zi),
            };
            zone::measure_zone(&input, run, &cfg, times)
        })
        .unzip()
}

/// Seed of zone `zi`'s raster sample points for a run of `seed`: the run's
/// seed and the zone mixed, so runs of different seeds sample independently.
pub fn sample_seed(seed: u64, zi: usize) -> u32 {
    use rand::{RngExt, SeedableRng};
    rand_pcg::Pcg64Mcg::seed_from_u64(seed ^ (zi as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5a17_e5ee)
        .random::<u32>()
}

/// The borders shared by the scene's mesh zones (see `seams::find_borders`).
pub fn find_borders(scene: &Scene) -> Vec<seams::Border> {
    let surfaces: Vec<_> = scene
        .zones
        .iter()
        .map(|z| z.surface.as_deref().map(|s| (s, z.clip.as_ref().map(|_| &z.region.outline))))
        .collect();
    seams::find_borders(&surfaces)
}
