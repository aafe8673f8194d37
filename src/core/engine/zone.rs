//! A zone's figures: punctures -> fields (hit raster, analysis cells) -> the figures
//! defined in ../shared/DESIGN.md (density, coverage, hit shares, overlap, bands).
//!
//! Coverage and hit shares come from a raster of the zone's bounding box with
//! square cells of side `h <= r / 4` (r = needle radius) that divide the
//! analysis cell exactly; a raster cell counts as in the zone when its centre
//! is, and as hit by a needle disk when its centre lies within r of the
//! puncture. Each analysis cell carries the true area of its in-zone part, so
//! every share is area-weighted (ready for curved zones, where a chart cell's
//! true area differs from its chart area).
//!
//! Every parallel step either writes disjoint memory or sums integers, so the
//! figures do not depend on the number of threads.

use crate::core::engine::cells::{DensityStats, cell_counts, weighted_percentile};
use crate::core::engine::overlap::{overlap_count, overlap_count_3d};

/// The widest chart neighbourhood the overlap count searches, in chart mm per
/// true mm: a chart squeezing the skin more than this somewhere (a sliver)
/// would otherwise make the search cover the whole zone.
const MAX_CHART_PER_TRUE: f64 = 8.0;
use crate::core::engine::raster::{classify, covered_counts, inzone_counts, splat, splat_capsules, splat_classify};
use crate::core::engine::simulate::{Puncture, ZoneRun};
use crate::core::geometry::layout::{Layout, treatable_spans};
use crate::core::geometry::mesh::Surface;
use crate::core::geometry::seams::{SeamSide, chart_distance};
use crate::core::geometry::shape::{Region, Vec2};
use crate::core::timing::StageTimes;
use serde::Serialize;
use std::time::Instant;

/// A mesh zone's chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChartInfo {
    /// How the chart was made: `uv`, `lscm`, `arc-length grid`, `cylinder`.
    pub method: String,
    /// How much the chart stretches the true surface.
    pub distortion: crate::core::geometry::mesh::Distortion,
    /// Notes about how the chart was made, for the user.
    pub warnings: Vec<String>,
}

/// Cumulative figures after one pass.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PassMetrics {
    /// The pass as the scene sets it (its keys first in report.json).
    #[serde(flatten)]
    pub setup: PassSetup,
    /// Punctures this pass made.
    pub punctures: u64,
    /// Share of the zone's true area hit by at least one needle disk after this
    /// pass (0..1; NaN for all but the last pass when only final figures are measured).
    pub coverage_after: f64,
    /// Punctures of this and all earlier passes over the zone's true area, punctures/cm².
    pub density_after_per_cm2: f64,
    /// Mean length a stamp's needles dragged through the skin while the hand
    /// moved on (`cartridge.dwell_fraction` of a stamp step), mm.
    pub drag_mm: f64,
    /// Share of the pass's stamps that dragged further than a needle radius.
    pub drag_over_radius_share: f64,
}

/// What a zone's figures echo of the scene: which zone, its geometry's
/// source, its skin and depth range, its target band. Built once from the
/// scene's zone; report.json carries these keys beside the figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneSetup {
    /// The zone's name.
    pub name: String,
    /// Where the geometry came from: `flat`, `builtin:forehead`, `face.obj#cheek`.
    pub surface: String,
    /// The skin's thickness class, for zones with a recommended depth range.
    pub skin: Option<String>,
    /// The recommended needle depth for that skin, mm.
    pub depth_range_mm: Option<[f64; 2]>,
    /// Why passes are outside the depth range, if any are (each once).
    pub depth_warnings: Vec<String>,
    /// The target band, punctures/cm².
    pub target_per_cm2: Option<[f64; 2]>,
    /// The clearance the plan keeps between its footprint and the avoid
    /// regions (the smallest `avoid_margin_mm` of the passes that respect
    /// them), mm; `None` when no pass respects them.
    pub avoid_clearance_mm: Option<f64>,
}

/// Punctures in one avoid region of a zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AvoidFigures {
    /// The region's place in the zone's `avoid` list, from 1.
    pub region: usize,
    /// Punctures inside it. With every pass respecting avoid regions, the
    /// plan keeps the whole footprint `avoid_clearance_mm` away, so these
    /// come from the hand's wobble.
    pub punctures: u64,
}

impl ZoneSetup {
    /// A flat zone with this name and target, without depth range.
    pub fn flat(name: &str, target_per_cm2: Option<[f64; 2]>) -> ZoneSetup {
        ZoneSetup {
            name: name.to_string(),
            surface: "flat".into(),
            skin: None,
            depth_range_mm: None,
            depth_warnings: Vec::new(),
            target_per_cm2,
            avoid_clearance_mm: None,
        }
    }
}

/// A pass as the scene sets it, echoed in its figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PassSetup {
    /// The pass's pattern label (`horizontal`, `random`, ...).
    pub pattern: String,
    /// The needle depth, mm.
    pub depth_mm: f64,
    /// Why this depth is outside the zone's recommended range.
    pub depth_warning: Option<String>,
}

/// The figures of one zone (field names are the report.json contract): what
/// echoes the scene ([`ZoneSetup`]) and what was measured. Serialized with
/// the setup's keys among the figures, in the contract's order.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneMetrics {
    /// What these figures echo of the scene.
    pub setup: ZoneSetup,
    /// True treatable area (outline minus avoid regions) on the skin, cm2.
    pub area_cm2: f64,
    /// The same area in the chart, cm2 (equal for flat zones).
    pub chart_area_cm2: f64,
    /// How the chart was made and how much it stretches area (mesh zones).
    pub chart: Option<ChartInfo>,
    /// Punctures whose 3D point could not be found (mesh zones; 0 expected).
    pub unmapped_punctures: u64,
    /// This zone's side of each seam it shares with another zone.
    pub seam_sides: Vec<SeamSide>,
    /// Punctures in the treatable area.
    pub punctures: u64,
    /// Punctures that fell in an avoid region.
    pub avoid_violations: u64,
    /// Punctures per avoid region (every region of the zone, in order).
    pub avoid_regions: Vec<AvoidFigures>,
    /// Density spread over the analysis cells, punctures/cm².
    pub density_per_cm2: DensityStats,
    /// Share of the true area hit by at least one needle disk (0..1).
    pub coverage_fraction: f64,
    /// Share of punctures within a needle diameter of an earlier puncture (0..1).
    pub overlap_fraction: f64,
    /// Shares of area covered by exactly 0, 1, 2 and 3 or more needle disks.
    pub hit_shares: [f64; 4],
    /// Share of the spread's area (by cell) below the target band (0..1); `None` without a target.
    pub under_fraction: Option<f64>,
    /// Share of the spread's area (by cell) above the target band (0..1); `None` without a target.
    pub over_fraction: Option<f64>,
    /// Cumulative figures after each pass, in order.
    pub passes: Vec<PassMetrics>,
    /// Treatment time of the zone, lanes and turns included, s.
    pub time_s: f64,
    /// Length of the hand's path over the zone, lanes and turns included, mm.
    pub path_length_mm: f64,
    /// Stamps (pen) or drum contacts (roller) made.
    pub stamps: u64,
    /// Needles that landed outside the outline (dropped).
    pub outside_punctures: u64,
    /// Analysis cells in the spread (at least half inside the zone).
    pub cells_in_spread: u64,
    /// Side of the coverage raster cells, mm.
    pub raster_mm: f64,
}

impl Serialize for ZoneMetrics {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (z, m) = (&self.setup, self);
        let mut s = serializer.serialize_struct("ZoneMetrics", 28)?;
        s.serialize_field("name", &z.name)?;
        s.serialize_field("surface", &z.surface)?;
        s.serialize_field("area_cm2", &m.area_cm2)?;
        s.serialize_field("chart_area_cm2", &m.chart_area_cm2)?;
        s.serialize_field("chart", &m.chart)?;
        s.serialize_field("skin", &z.skin)?;
        s.serialize_field("depth_range_mm", &z.depth_range_mm)?;
        s.serialize_field("depth_warnings", &z.depth_warnings)?;
        s.serialize_field("unmapped_punctures", &m.unmapped_punctures)?;
        s.serialize_field("seam_sides", &m.seam_sides)?;
        s.serialize_field("punctures", &m.punctures)?;
        s.serialize_field("avoid_violations", &m.avoid_violations)?;
        s.serialize_field("avoid_clearance_mm", &z.avoid_clearance_mm)?;
        s.serialize_field("avoid_regions", &m.avoid_regions)?;
        s.serialize_field("density_per_cm2", &m.density_per_cm2)?;
        s.serialize_field("coverage_fraction", &m.coverage_fraction)?;
        s.serialize_field("overlap_fraction", &m.overlap_fraction)?;
        s.serialize_field("hit_shares", &m.hit_shares)?;
        s.serialize_field("under_fraction", &m.under_fraction)?;
        s.serialize_field("over_fraction", &m.over_fraction)?;
        s.serialize_field("target_per_cm2", &z.target_per_cm2)?;
        s.serialize_field("passes", &m.passes)?;
        s.serialize_field("time_s", &m.time_s)?;
        s.serialize_field("path_length_mm", &m.path_length_mm)?;
        s.serialize_field("stamps", &m.stamps)?;
        s.serialize_field("outside_punctures", &m.outside_punctures)?;
        s.serialize_field("cells_in_spread", &m.cells_in_spread)?;
        s.serialize_field("raster_mm", &m.raster_mm)?;
        s.end()
    }
}

/// Map data for pictures of one zone.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneField {
    /// The zone's analysis grid and raster.
    pub layout: Layout,
    /// Punctures per analysis cell (row by row, `layout.cells_u` across).
    pub cell_punctures: Vec<u32>,
    /// True in-zone area of each analysis cell, mm2.
    pub cell_area_mm2: Vec<f64>,
    /// Whether each cell counts in the spread (at least half inside).
    pub cell_in_spread: Vec<bool>,
    /// Hit class (0, 1, 2, 3 = 3+, 255 = outside) sampled on a preview grid.
    pub hits_preview: HitPreview,
}

/// A downsampled picture of the hit raster: one hit class per pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct HitPreview {
    /// Pixels across.
    pub width: usize,
    /// Pixels up.
    pub height: usize,
    /// Side of a pixel in the chart, mm.
    pub px_mm: f64,
    /// Hit class per pixel (0, 1, 2, 3 = 3+, 255 = outside), row by row from the lowest v, `width` across.
    pub classes: Vec<u8>,
}

impl ZoneField {
    /// Density of a cell, punctures/cm2 (None where the cell is outside).
    pub fn cell_density_per_cm2(&self, c: usize) -> Option<f64> {
        (self.cell_area_mm2[c] > 0.0).then(|| self.cell_punctures[c] as f64 / self.cell_area_mm2[c] * 100.0)
    }
}

/// Longest side of the hit preview, px.
pub const HIT_PREVIEW_MAX_PX: usize = 1200;

/// What `measure_zone` needs to know of a zone.
pub struct ZoneInput<'a> {
    /// What the figures echo of the scene (the zone's name and target among it).
    pub setup: ZoneSetup,
    /// The passes as the scene sets them, in order.
    pub passes: Vec<PassSetup>,
    /// The zone's outline and avoid regions in its chart.
    pub region: &'a Region,
    /// The curved surface under the chart (mesh zones): gives true cell areas.
    pub surface: Option<&'a Surface>,
    /// Punctures whose 3D point could not be found (counted when mapping).
    pub unmapped_punctures: u64,
    /// Borders shared with other zones: the neighbour's name and the border
    /// as segments in this zone's chart.
    pub borders: Vec<(String, Vec<[Vec2; 2]>)>,
    /// Half-width of the seam band on this zone's side, mm.
    pub band_mm: f64,
}

/// How a zone is measured.
pub struct MeasureConfig {
    /// Needle diameter, mm (the disk a puncture hits).
    pub needle_diameter_mm: f64,
    /// Side of the analysis cells of the density spread, mm.
    pub cell_mm: f64,
    /// How much is measured: everything, or only the final figures.
    pub detail: Detail,
    /// Seed of the raster's sample points (`Layout::sample_shift`): drawn
    /// from the run's seed, so the coverage and hit shares are unbiased.
    pub sample_seed: u32,
}

/// How much a measurement computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Everything: per-pass coverage and the fields for pictures.
    Full,
    /// Only the zone's final figures: no coverage after each pass (NaN but
    /// for the last) and no hit preview for pictures. Comparisons of many
    /// runs use this; the final figures are the same.
    FiguresOnly,
}

thread_local! {
    /// A hit raster kept for the thread's next zone: many runs in a row
    /// (compare, tune) would otherwise fault in megabytes of fresh pages each.
    static SPARE_RASTER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A zeroed raster of `len` bytes, reusing the thread's spare one. Taken out
/// of the slot (not borrowed), so a nested call on the same thread (rayon
/// work stealing) just allocates.
fn take_raster(len: usize) -> Vec<u8> {
    let mut r = SPARE_RASTER.with(|s| s.take());
    r.clear();
    r.resize(len, 0);
    r
}

/// Keeps `r` for the thread's next zone (the larger of it and the one kept).
fn give_back_raster(r: Vec<u8>) {
    SPARE_RASTER.with(|s| {
        let kept = s.take();
        s.set(if kept.capacity() > r.capacity() { kept } else { r });
    });
}

/// In-zone chart area of each analysis cell of `layout` (from its raster
/// cells in the zone, `inzone`), and its true area: the chart area times
/// the surface's true/chart area ratio within the cell (the chart area on
/// flat skin).
fn cell_areas_mm2(layout: &Layout, inzone: &[u32], surface: Option<&Surface>) -> (Vec<f64>, Vec<f64>) {
    let subcell_mm2 = layout.h_mm * layout.h_mm;
    let chart_area_mm2: Vec<f64> = inzone.iter().map(|&n| n as f64 * subcell_mm2).collect();
    let cell_area_mm2: Vec<f64> = match surface {
        None => chart_area_mm2.clone(),
        Some(s) => {
            let mesh_cells = crate::core::geometry::mesh::cell_areas(&s.mesh, layout);
            chart_area_mm2
                .iter()
                .zip(&mesh_cells)
                .map(|(&a, &(chart, true_area))| if chart > 0.0 { a * true_area / chart } else { a })
                .collect()
        }
    };
    (chart_area_mm2, cell_area_mm2)
}

/// A zone's treatable true area, mm², as its measurement finds it (the
/// `area_cm2` of its metrics, times 100): the true areas of its analysis
/// cells of side `cell_mm` within the outline and outside the avoid
/// regions, for needles of radius `needle_r_mm`.
pub fn treatable_area_mm2(region: &Region, surface: Option<&Surface>, cell_mm: f64, needle_r_mm: f64) -> f64 {
    let layout = Layout::new(region, cell_mm, needle_r_mm);
    let inzone = inzone_counts(&layout, &treatable_spans(region, &layout));
    cell_areas_mm2(&layout, &inzone, surface).1.iter().sum()
}

/// Measures one zone.
pub fn measure_zone(
    zone: &ZoneInput,
    run: &ZoneRun,
    cfg: &MeasureConfig,
    times: &mut StageTimes,
) -> (ZoneMetrics, ZoneField) {
    let ZoneInput { setup, region, surface, passes: pass_setups, .. } = zone;
    let (name, target_per_cm2) = (setup.name.as_str(), setup.target_per_cm2);
    let (needle_diameter_mm, cell_mm) = (cfg.needle_diameter_mm, cfg.cell_mm);
    let r = needle_diameter_mm / 2.0;
    let mut clock = Instant::now();
    let mut lap = |times: &mut StageTimes, name: &'static str| {
        let now = Instant::now();
        times.add(name, now - clock);
        clock = now;
    };
    let layout = Layout::new(region, cell_mm, r).with_sample_seed(cfg.sample_seed);
    let spans = treatable_spans(region, &layout);
    let inzone = inzone_counts(&layout, &spans);
    let (chart_area_mm2, cell_area_mm2) = cell_areas_mm2(&layout, &inzone, *surface);
    let area_mm2: f64 = cell_area_mm2.iter().sum();
    let chart_area_total_mm2: f64 = chart_area_mm2.iter().sum();
    // True/chart area ratio per cell, for the needle disks' size in the chart.
    let stretch: Option<Vec<f64>> = surface
        .map(|_| cell_area_mm2.iter().zip(&chart_area_mm2).map(|(&t, &c)| if c > 0.0 { t / c } else { 1.0 }).collect());
    // Covered share, weighting each raster cell by its true area.
    let coverage_of = |covered: &[u32]| {
        let hit: f64 = (0..covered.len())
            .filter(|&c| inzone[c] > 0)
            .map(|c| covered[c] as f64 / inzone[c] as f64 * cell_area_mm2[c])
            .sum();
        if area_mm2 > 0.0 { hit / area_mm2 } else { 0.0 }
    };
    lap(times, "measure: zone raster");

    // Final figures without seams need no whole raster: splat and classify
    // band by band in cache.
    let figures_only = cfg.detail == Detail::FiguresOnly;
    // Capsules (the channel dragged by the hand) have their own splat.
    let capsules = !run.drags.is_empty() && run.drags.len() == run.punctures.len();
    let fused = figures_only && zone.borders.is_empty() && !capsules;
    let splat = |raster: &mut [u8], range: std::ops::Range<usize>| {
        if capsules {
            splat_capsules(raster, &layout, &run.punctures[range.clone()], &run.drags[range], r, stretch.as_deref());
        } else {
            splat(raster, &layout, &run.punctures[range], r, stretch.as_deref());
        }
    };
    let mut raster = if fused { Vec::new() } else { take_raster(layout.raster_cells() as usize) };
    let mut passes = Vec::with_capacity(pass_setups.len());
    let mut cumulative = 0u64;
    if figures_only && !fused {
        splat(&mut raster, 0..run.punctures.len());
        lap(times, "measure: splat disks");
    }
    for (pi, pass) in pass_setups.iter().enumerate() {
        let range = run.pass_ranges.get(pi).cloned().unwrap_or(0..0);
        if !figures_only {
            splat(&mut raster, range.clone());
            lap(times, "measure: splat disks");
        }
        let coverage_after = if pi + 1 < pass_setups.len() && !figures_only {
            coverage_of(&covered_counts(&raster, &layout, &spans))
        } else {
            f64::NAN
        };
        lap(times, "measure: classify");
        cumulative += range.len() as u64;
        passes.push(PassMetrics {
            setup: pass.clone(),
            punctures: range.len() as u64,
            coverage_after,
            density_after_per_cm2: per_cm2(cumulative as f64, area_mm2),
            drag_mm: run.pass_drag.get(pi).map_or(0.0, |d| d.mean_mm()),
            drag_over_radius_share: run.pass_drag.get(pi).map_or(0.0, |d| d.over_radius_share()),
        });
    }
    let classes = if fused {
        let classes = splat_classify(&layout, &spans, &run.punctures, r, stretch.as_deref());
        lap(times, "measure: splat disks");
        classes
    } else {
        classify(&raster, &layout, &spans)
    };
    let mut hit_shares = [0.0; 4];
    for (c, cl) in classes.iter().enumerate() {
        if inzone[c] > 0 {
            for k in 0..4 {
                hit_shares[k] += cl[k] as f64 / inzone[c] as f64 * cell_area_mm2[c];
            }
        }
    }
    if area_mm2 > 0.0 {
        for s in &mut hit_shares {
            *s /= area_mm2;
        }
    }
    let coverage_fraction = hit_shares[1] + hit_shares[2] + hit_shares[3];
    if let Some(last) = passes.last_mut() {
        last.coverage_after = coverage_fraction;
    }
    lap(times, "measure: classify");

    let cell_punctures = cell_counts(&layout, &run.punctures);
    let full_cell = (layout.sub * layout.sub) as u32;
    // At least half of the cell (in chart area) inside the zone.
    let cell_in_spread: Vec<bool> = inzone.iter().map(|&n| 2 * n >= full_cell && n > 0).collect();
    let mut samples: Vec<(f64, f64)> = (0..layout.cells())
        .filter(|&c| cell_in_spread[c])
        .map(|c| (per_cm2(cell_punctures[c] as f64, cell_area_mm2[c]), cell_area_mm2[c]))
        .collect();
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let wsum: f64 = samples.iter().map(|s| s.1).sum();
    let wmean = if wsum > 0.0 { samples.iter().map(|(v, w)| v * w).sum::<f64>() / wsum } else { 0.0 };
    let wvar = if wsum > 0.0 { samples.iter().map(|(v, w)| w * (v - wmean).powi(2)).sum::<f64>() / wsum } else { 0.0 };
    let n = run.punctures.len() as u64;
    let density = DensityStats {
        mean: per_cm2(n as f64, area_mm2),
        p5: weighted_percentile(&samples, 0.05),
        p50: weighted_percentile(&samples, 0.50),
        p95: weighted_percentile(&samples, 0.95),
        cv: if wmean > 0.0 { wvar.sqrt() / wmean } else { 0.0 },
    };
    let (under_fraction, over_fraction) = match target_per_cm2 {
        Some([lo, hi]) if wsum > 0.0 => {
            let under: f64 = samples.iter().filter(|(v, _)| *v < lo).map(|s| s.1).sum();
            let over: f64 = samples.iter().filter(|(v, _)| *v > hi).map(|s| s.1).sum();
            (Some(under / wsum), Some(over / wsum))
        }
        _ => (None, None),
    };
    lap(times, "measure: cells and spread");
    // On curved skin by true distance between neighbours on the skin.
    // (the 3D points as mapped by the run, or mapped here when a caller
    // measured a bare simulation).
    let overlap = match surface {
        Some(sf) => {
            let mapped;
            let points = if run.positions_3d_mm.len() == run.punctures.len() {
                &run.positions_3d_mm
            } else {
                mapped = crate::core::engine::simulate::map_to_3d(sf, &run.punctures).0;
                &mapped
            };
            let reach = sf.chart_per_true_max.min(MAX_CHART_PER_TRUE);
            overlap_count_3d(&run.punctures, points, needle_diameter_mm, reach)
        }
        None => overlap_count(&run.punctures, needle_diameter_mm),
    };
    lap(times, "measure: overlap");
    let hits_preview = if figures_only {
        HitPreview { width: 0, height: 0, px_mm: 0.0, classes: Vec::new() }
    } else {
        let preview = hit_preview(&raster, &layout, &spans);
        lap(times, "measure: hit preview");
        preview
    };
    let band = BandInput {
        raster: &raster,
        layout: &layout,
        spans: &spans,
        cell_area_mm2: &cell_area_mm2,
        chart_area_mm2: &chart_area_mm2,
        run,
    };
    let seam_sides: Vec<SeamSide> = zone
        .borders
        .iter()
        .map(|(_, segs)| seam_side(name, segs, zone.band_mm, &band, n as f64 / area_mm2 * 100.0))
        .collect();
    if !zone.borders.is_empty() {
        lap(times, "measure: seams");
    }
    let metrics = ZoneMetrics {
        setup: setup.clone(),
        area_cm2: area_mm2 / 100.0,
        chart_area_cm2: chart_area_total_mm2 / 100.0,
        chart: surface.map(|s| ChartInfo {
            method: s.chart_method.clone(),
            distortion: s.distortion.clone(),
            warnings: s.warnings.clone(),
        }),
        unmapped_punctures: zone.unmapped_punctures,
        seam_sides,
        punctures: n,
        avoid_violations: run.violations.len() as u64,
        avoid_regions: (0..region.avoid.len())
            .map(|k| AvoidFigures {
                region: k + 1,
                // Each puncture counted in the first region that holds it.
                punctures: run
                    .violations
                    .iter()
                    .filter(|p| {
                        let q = p.pos_mm();
                        region.avoid.iter().position(|a| a.contains(q)) == Some(k)
                    })
                    .count() as u64,
            })
            .collect(),
        density_per_cm2: density,
        coverage_fraction,
        overlap_fraction: if n > 0 { overlap as f64 / n as f64 } else { 0.0 },
        hit_shares,
        under_fraction,
        over_fraction,
        passes,
        time_s: run.time_s,
        path_length_mm: run.path_length_mm,
        stamps: run.stamps,
        outside_punctures: run.outside.len() as u64,
        cells_in_spread: samples.len() as u64,
        raster_mm: layout.h_mm,
    };
    give_back_raster(raster);
    let field = ZoneField { layout, cell_punctures, cell_area_mm2, cell_in_spread, hits_preview };
    (metrics, field)
}

struct BandInput<'a> {
    raster: &'a [u8],
    layout: &'a Layout,
    spans: &'a [Vec<(u32, u32)>],
    cell_area_mm2: &'a [f64],
    chart_area_mm2: &'a [f64],
    run: &'a ZoneRun,
}

/// The band within `band_mm` of a border, on this zone's side: its true area,
/// the part no needle disk touched, its density, and the needles that reached
/// over the border.
fn seam_side(name: &str, segs: &[[Vec2; 2]], band_mm: f64, b: &BandInput, mean_per_cm2: f64) -> SeamSide {
    let l = b.layout;
    let (h, o, stride, sub) = (l.h_mm, l.origin_mm, l.raster_stride(), l.sub);
    let (nu, nv) = (l.raster_u() as i64, l.raster_v() as i64);
    let cell_range = |lo: f64, hi: f64, n: i64| ((lo / h).floor().max(0.0) as i64, ((hi / h).ceil() as i64).min(n));
    // Mark the raster cells within the band (a bitmap over the band's box).
    let (mut lo, mut hi) = (Vec2::repeat(f64::INFINITY), Vec2::repeat(f64::NEG_INFINITY));
    for [a, c] in segs {
        lo = lo.inf(a).inf(c);
        hi = hi.sup(a).sup(c);
    }
    let (i0, i1) = cell_range(lo.x - band_mm - o.x, hi.x + band_mm - o.x, nu);
    let (j0, j1) = cell_range(lo.y - band_mm - o.y, hi.y + band_mm - o.y, nv);
    let mut side = SeamSide { zone: name.to_string(), ..SeamSide::default() };
    if i1 <= i0 || j1 <= j0 {
        return side;
    }
    let w = (i1 - i0) as usize;
    let mut marked = vec![false; w * (j1 - j0) as usize];
    for seg in segs {
        let (a, c) = (seg[0], seg[1]);
        let (si0, si1) = cell_range(a.x.min(c.x) - band_mm - o.x, a.x.max(c.x) + band_mm - o.x, nu);
        let (sj0, sj1) = cell_range(a.y.min(c.y) - band_mm - o.y, a.y.max(c.y) + band_mm - o.y, nv);
        for j in sj0.max(j0)..sj1.min(j1) {
            for i in si0.max(i0)..si1.min(i1) {
                let p = o + Vec2::new((i as f64 + 0.5) * h, (j as f64 + 0.5) * h);
                if chart_distance(p, std::slice::from_ref(seg)) <= band_mm {
                    marked[(j - j0) as usize * w + (i - i0) as usize] = true;
                }
            }
        }
    }
    for j in j0..j1 {
        for &(a, c) in &b.spans[j as usize] {
            for i in (a as i64).max(i0)..(c as i64).min(i1) {
                if !marked[(j - j0) as usize * w + (i - i0) as usize] {
                    continue;
                }
                let cell = (j as usize / sub) * l.cells_u + i as usize / sub;
                let stretch =
                    if b.chart_area_mm2[cell] > 0.0 { b.cell_area_mm2[cell] / b.chart_area_mm2[cell] } else { 1.0 };
                side.band_mm2 += h * h * stretch;
                if b.raster[j as usize * stride + i as usize] == 0 {
                    side.missed_mm2 += h * h * stretch;
                }
            }
        }
    }
    let in_band = |p: &Puncture| {
        let q = (p.pos_mm() - o) / h;
        let (i, j) = (q.x.floor() as i64, q.y.floor() as i64);
        i >= i0 && i < i1 && j >= j0 && j < j1 && marked[(j - j0) as usize * w + (i - i0) as usize]
    };
    let count = b.run.punctures.iter().filter(|p| in_band(p)).count() as f64;
    side.missed_share = if side.band_mm2 > 0.0 { side.missed_mm2 / side.band_mm2 } else { 0.0 };
    side.band_density_per_cm2 = per_cm2(count, side.band_mm2);
    side.density_ratio = if mean_per_cm2 > 0.0 { side.band_density_per_cm2 / mean_per_cm2 } else { 0.0 };
    side.reached_over = b.run.outside.iter().filter(|p| chart_distance(p.pos_mm(), segs) <= band_mm).count() as u64;
    side
}

fn per_cm2(count: f64, area_mm2: f64) -> f64 {
    if area_mm2 > 0.0 { count / area_mm2 * 100.0 } else { 0.0 }
}

fn hit_preview(raster: &[u8], layout: &Layout, spans: &[Vec<(u32, u32)>]) -> HitPreview {
    let (nu, nv) = (layout.raster_u(), layout.raster_v());
    let step = nu.max(nv).div_ceil(HIT_PREVIEW_MAX_PX).max(1);
    let (width, height) = (nu.div_ceil(step), nv.div_ceil(step));
    let mut classes = vec![255u8; width * height];
    for y in 0..height {
        let j = (y * step + step / 2).min(nv - 1);
        for &(i0, i1) in &spans[j] {
            for x in i0 as usize / step..((i1 as usize) / step + 1).min(width) {
                let i = (x * step + step / 2).min(nu - 1);
                if i >= i0 as usize && i < i1 as usize {
                    classes[y * width + x] = raster[j * layout.raster_stride() + i].min(3);
                }
            }
        }
    }
    HitPreview { width, height, px_mm: layout.h_mm * step as f64, classes }
}
