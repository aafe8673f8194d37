//! Reports as text: report.json (the contract other tools read), zones.csv,
//! and the summary table printed after `simulate`. Pure functions: writing
//! them to disk is the application's job.

use crate::core::engine::Outcome;
use crate::core::engine::zone::{ZoneField, ZoneMetrics};
use crate::core::format::percent;
use serde::Serialize;

#[derive(Serialize)]
struct CartridgeInfo<'a> {
    name: &'a str,
    needles: usize,
    needle_diameter_mm: f64,
    depth_mm: f64,
    rate_hz: Option<f64>,
}

/// The plan as the scene gives it, so a report can be handed on: the hand,
/// and per zone its target, skin, depth range and passes.
#[derive(Serialize)]
struct PlanInfo<'a> {
    hand: HandInfo,
    zones: Vec<ZonePlan<'a>>,
}

#[derive(Serialize)]
struct HandInfo {
    speed_mm_s: f64,
    lateral_jitter_mm: f64,
    speed_jitter: f64,
    turn_time_s: f64,
    lift_time_s: f64,
}

#[derive(Serialize)]
struct ZonePlan<'a> {
    name: &'a str,
    source: &'a str,
    target_per_cm2: Option<[f64; 2]>,
    skin: crate::core::input::scene::Skin,
    depth_range_mm: Option<[f64; 2]>,
    passes: Vec<PassPlan<'a>>,
}

#[derive(Serialize)]
struct PassPlan<'a> {
    pattern: &'a str,
    angle_deg: Option<f64>,
    lane_spacing_mm: Option<f64>,
    repeats: Option<u32>,
    stamps: Option<u64>,
    trajectory: Option<&'a str>,
    speed_mm_s: f64,
    rate_hz: Option<f64>,
    depth_mm: f64,
    respect_avoid: bool,
}

fn plan_info(scene: &crate::core::input::scene::Scene) -> PlanInfo<'_> {
    use crate::core::input::scene::PassKind;
    let h = &scene.hand;
    PlanInfo {
        hand: HandInfo {
            speed_mm_s: h.speed_mm_s,
            lateral_jitter_mm: h.lateral_jitter_mm,
            speed_jitter: h.speed_jitter,
            turn_time_s: h.turn_time_s,
            lift_time_s: h.lift_time_s,
        },
        zones: scene
            .zones
            .iter()
            .map(|z| ZonePlan {
                name: &z.name,
                source: &z.source,
                target_per_cm2: z.target_per_cm2,
                skin: z.skin,
                depth_range_mm: z.depth_range_mm,
                passes: z
                    .passes
                    .iter()
                    .map(|p| {
                        let (angle, spacing, repeats, stamps, trajectory) = match &p.kind {
                            PassKind::Lanes { angle_deg, lane_spacing_mm, repeats, .. } => {
                                (Some(*angle_deg), Some(*lane_spacing_mm), Some(*repeats), None, None)
                            }
                            PassKind::Random { stamps } => (None, None, None, Some(*stamps), None),
                            PassKind::Trajectory { file, .. } => (None, None, None, None, Some(file.as_str())),
                        };
                        PassPlan {
                            pattern: &p.label,
                            angle_deg: angle,
                            lane_spacing_mm: spacing,
                            repeats,
                            stamps,
                            trajectory,
                            speed_mm_s: p.speed_mm_s,
                            rate_hz: p.rate_hz,
                            depth_mm: p.depth_mm,
                            respect_avoid: p.respect_avoid,
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct Report<'a> {
    scene: &'a str,
    seed: u64,
    punctures: u64,
    time_s: f64,
    path_length_mm: f64,
    avoid_violations: u64,
    cell_mm: f64,
    cartridge: CartridgeInfo<'a>,
    plan: PlanInfo<'a>,
    zones: &'a [ZoneMetrics],
    seams: &'a [crate::core::geometry::seams::Seam],
}

/// report.json: `{"scene", "seed", "punctures", "time_s", "path_length_mm", "zones": [...]}`
/// plus the cartridge, the plan (hand, and per zone target, skin, depth
/// range and passes) and analysis settings.
pub fn report_json(o: &Outcome) -> String {
    let c = &o.scene.cartridge;
    let r = Report {
        scene: &o.scene.name,
        seed: o.scene.seed,
        punctures: o.zones.iter().map(|z| z.punctures).sum(),
        time_s: o.zones.iter().map(|z| z.time_s).sum(),
        path_length_mm: o.zones.iter().map(|z| z.path_length_mm).sum(),
        avoid_violations: o.zones.iter().map(|z| z.avoid_violations).sum(),
        cell_mm: o.scene.analysis.cell_mm,
        cartridge: CartridgeInfo {
            name: &c.name,
            needles: c.needle_count(),
            needle_diameter_mm: c.needle_diameter_mm,
            depth_mm: c.depth_mm,
            rate_hz: c.rate_hz(),
        },
        plan: plan_info(&o.scene),
        zones: &o.zones,
        seams: &o.seams,
    };
    let mut s = serde_json::to_string_pretty(&r).expect("report types serialise");
    s.push('\n');
    s
}

/// One CSV field, quoted when it holds a separator, a quote or a line break.
/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x}"))
}

/// Header row of [`zones_csv`]: its column names, in order (no line break).
pub const CSV_HEADER: &str = "zone,area_cm2,punctures,avoid_violations,density_mean_per_cm2,density_p5_per_cm2,density_p50_per_cm2,\
density_p95_per_cm2,density_cv,coverage_fraction,overlap_fraction,hits0_share,hits1_share,hits2_share,hits3plus_share,\
under_fraction,over_fraction,target_low_per_cm2,target_high_per_cm2,time_s,path_length_mm,passes";

/// zones.csv: one row per zone, the figures of report.json flattened.
pub fn zones_csv(zones: &[ZoneMetrics]) -> String {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for z in zones {
        let d = &z.density_per_cm2;
        let row = [
            csv_field(&z.setup.name),
            format!("{}", z.area_cm2),
            format!("{}", z.punctures),
            format!("{}", z.avoid_violations),
            format!("{}", d.mean),
            format!("{}", d.p5),
            format!("{}", d.p50),
            format!("{}", d.p95),
            format!("{}", d.cv),
            format!("{}", z.coverage_fraction),
            format!("{}", z.overlap_fraction),
            format!("{}", z.hit_shares[0]),
            format!("{}", z.hit_shares[1]),
            format!("{}", z.hit_shares[2]),
            format!("{}", z.hit_shares[3]),
            opt(z.under_fraction),
            opt(z.over_fraction),
            opt(z.setup.target_per_cm2.map(|t| t[0])),
            opt(z.setup.target_per_cm2.map(|t| t[1])),
            format!("{}", z.time_s),
            format!("{}", z.path_length_mm),
            format!("{}", z.passes.len()),
        ];
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

fn pct(x: f64) -> String {
    percent(x, 1)
}

/// A chart's mean area stretch past which the summary warns.
pub const LARGE_STRETCH: f64 = 0.10;
/// A chart's largest shape stretch (ratio of principal stretches) past which
/// the summary warns.
pub const LARGE_SHAPE_STRETCH: f64 = 3.0;

/// Warnings and chart notes printed under the summary (empty when none).
pub fn notes(o: &Outcome) -> String {
    let mut s = scale_notes(o);
    for z in &o.zones {
        for w in &z.setup.depth_warnings {
            s.push_str(&format!("depth warning: {w}\n"));
        }
        if let Some(c) = &z.chart {
            let d = &c.distortion;
            s.push_str(&format!(
                "{}: {} ({} chart): true area {:.1} cm², chart {:.1} cm², area stretch {:.2}–{:.2} (mean deviation {:.1}%)\n",
                z.setup.name,
                z.setup.surface,
                c.method,
                z.area_cm2,
                z.chart_area_cm2,
                d.area_stretch_min,
                d.area_stretch_max,
                d.area_stretch_mean_deviation * 100.0
            ));
            for w in &c.warnings {
                s.push_str(&format!("{}: note: {w}\n", z.setup.name));
            }
            if d.area_stretch_mean_deviation > LARGE_STRETCH || d.shape_stretch_max > LARGE_SHAPE_STRETCH {
                s.push_str(&format!(
                    "{}: warning: the chart stretches the skin much (area by {:.0} % on average, shapes up to {:.1} : 1): density, area and overlap are true to the skin, but coverage and hit shares take each needle disk as round in the chart, so they are approximate here\n",
                    z.setup.name,
                    d.area_stretch_mean_deviation * 100.0,
                    d.shape_stretch_max
                ));
            }
        }
        if z.unmapped_punctures > 0 {
            s.push_str(&format!(
                "{}: {} punctures could not be placed on the mesh\n",
                z.setup.name, z.unmapped_punctures
            ));
        }
    }
    for seam in &o.seams {
        s.push_str(&format!(
            "seam {} | {}: {:.0} mm, band ±{:.1} mm: {:.0} mm² missed ({:.1}%, zones {:.1}%), up to {:.0} mm² treated twice ({} needles reached over)\n",
            seam.zones[0],
            seam.zones[1],
            seam.border_mm,
            seam.band_mm,
            seam.missed_mm2,
            seam.missed_share * 100.0,
            seam.zones_missed_share * 100.0,
            seam.reached_over_mm2,
            seam.sides[0].reached_over + seam.sides[1].reached_over
        ));
    }
    s
}

/// The per-zone summary printed after `simulate`, with units.
pub fn summary_table(o: &Outcome) -> String {
    let head = [
        "zone",
        "area cm²",
        "punctures",
        "density /cm² mean",
        "p5–p95 /cm²",
        "CV",
        "coverage",
        "overlap",
        "hits 0/1/2/3+ %",
        "under/over",
        "avoid hits",
        "time s",
    ];
    let mut rows: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    for z in &o.zones {
        let d = &z.density_per_cm2;
        let h = z.hit_shares;
        let band = match (z.under_fraction, z.over_fraction) {
            (Some(u), Some(v)) => format!("{} / {}", pct(u), pct(v)),
            _ => "no target".into(),
        };
        rows.push(vec![
            z.setup.name.clone(),
            format!("{:.2}", z.area_cm2),
            format!("{}", z.punctures),
            format!("{:.0}", d.mean),
            format!("{:.0}–{:.0}", d.p5, d.p95),
            format!("{:.2}", d.cv),
            pct(z.coverage_fraction),
            pct(z.overlap_fraction),
            format!("{:.0}/{:.0}/{:.0}/{:.0}", h[0] * 100.0, h[1] * 100.0, h[2] * 100.0, h[3] * 100.0),
            band,
            format!("{}", z.avoid_violations),
            format!("{:.1}", z.time_s),
        ]);
    }
    let widths: Vec<usize> =
        (0..head.len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut s = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let pad = widths[c] - v.chars().count();
                if c == 0 { format!("{v}{}", " ".repeat(pad)) } else { format!("{}{v}", " ".repeat(pad)) }
            })
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
        if i == 0 {
            s.push_str(&widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>().join("  "));
            s.push('\n');
        }
    }
    let n: u64 = o.zones.iter().map(|z| z.punctures).sum();
    let t: f64 = o.zones.iter().map(|z| z.time_s).sum();
    let path: f64 = o.zones.iter().map(|z| z.path_length_mm).sum();
    s.push_str(&format!(
        "scene `{}`, seed {}: {} punctures with {} ({} needles of {} mm), treatment time {:.1} s, hand path {:.0} mm\n",
        o.scene.name,
        o.scene.seed,
        n,
        o.scene.cartridge.name,
        o.scene.cartridge.needle_count(),
        o.scene.cartridge.needle_diameter_mm,
        t,
        path
    ));
    s
}

/// Density range of a zone's colorbar: 0 to the largest cell density (and at
/// least the top of the target band), punctures/cm2.
pub fn density_max(field: &ZoneField, target: Option<[f64; 2]>) -> f64 {
    let top = (0..field.cell_punctures.len())
        .filter(|&c| field.cell_in_spread[c])
        .filter_map(|c| field.cell_density_per_cm2(c))
        .fold(0.0, f64::max);
    nice_ceiling(top.max(target.map_or(0.0, |t| t[1] * 1.1)).max(1.0))
}

/// The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k) at or above `x`.
pub fn nice_ceiling(x: f64) -> f64 {
    let e = 10f64.powf(x.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * e)
        .find(|v| *v >= x * (1.0 - 1e-12))
        .unwrap_or(10.0 * e)
}

/// Which layer a picture shows (the maps, the 3D views and the window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "app", derive(clap::ValueEnum))]
pub enum Layer {
    /// Punctures per cm² of each analysis cell.
    Density,
    /// Under, within or over the target band.
    Bands,
    /// Needle-disk hits per point: 0 / 1 / 2 / 3+.
    Hits,
}

impl Layer {
    /// The picture's title.
    pub fn title(self) -> &'static str {
        match self {
            Layer::Density => "puncture density",
            Layer::Bands => "target band",
            Layer::Hits => "needle-disk hits",
        }
    }
}

/// The analysis scale the spread figures were measured at, and warnings
/// where it makes them coarse or meaningless: under, over, p5–p95 and CV are
/// per analysis cell, so they depend strongly on `cell_mm` (one puncture more
/// moves a cell's density by 1 / cell area).
pub fn scale_notes(o: &Outcome) -> String {
    let cell = o.scene.analysis.cell_mm;
    let step = density_step_per_cm2(cell);
    let mut s = format!(
        "under, over, p5–p95 and CV are measured on analysis cells of {} mm ({} mm²; one puncture moves a cell's density by {} /cm²): larger cells read more uniform, smaller ones less (set analysis.cell_mm)\n",
        crate::core::format::fixed(cell, 2).trim_end_matches('0').trim_end_matches('.'),
        crate::core::format::fixed(cell * cell, 2).trim_end_matches('0').trim_end_matches('.'),
        crate::core::format::fixed(step, 0)
    );
    for z in &o.zones {
        for w in scale_warnings(cell, z.area_cm2, z.setup.target_per_cm2) {
            s.push_str(&format!("warning: {}: {w}\n", z.setup.name));
        }
        if let Some(note) = avoid_note(z) {
            s.push_str(&format!("{}: {note}\n", z.setup.name));
        }
        for w in drag_warnings(z, o.scene.cartridge.needle_diameter_mm) {
            s.push_str(&format!("warning: {}: {w}\n", z.setup.name));
        }
    }
    s
}

/// Passes whose needles drag further than the limit through the skin while
/// the hand moves on: a needle's diameter (an assumption: trainers teach
/// that a pen glided too fast for its rate tears channels rather than
/// puncturing them; no published threshold was found).
pub fn drag_warnings(z: &crate::core::engine::zone::ZoneMetrics, needle_diameter_mm: f64) -> Vec<String> {
    z.passes
        .iter()
        .enumerate()
        .filter(|(_, p)| p.drag_mm > needle_diameter_mm)
        .map(|(k, p)| {
            format!(
                "pass {} ({}): the needles drag {} mm a stamp through the skin, more than a needle's diameter ({} mm): a tearing risk; glide slower or raise the rate",
                k + 1,
                p.setup.pattern,
                crate::core::format::fixed(p.drag_mm, 2),
                crate::core::format::fixed(needle_diameter_mm, 2)
            )
        })
        .collect()
}

/// Where a zone's needles in avoid regions came from: with every pass
/// respecting them, the plan keeps the footprint clear, so they are the
/// hand's wobble.
pub fn avoid_note(z: &crate::core::engine::zone::ZoneMetrics) -> Option<String> {
    if z.avoid_violations == 0 {
        return None;
    }
    let per_region: Vec<String> = z
        .avoid_regions
        .iter()
        .filter(|r| r.punctures > 0)
        .map(|r| format!("region {}: {}", r.region, r.punctures))
        .collect();
    let cause = match z.setup.avoid_clearance_mm {
        Some(c) => format!(
            "the plan keeps every needle {} mm clear of them, so these come from the hand's wobble (set the pass's avoid_margin_mm for more clearance)",
            crate::core::format::fixed(c, 2)
        ),
        None => "no pass respects avoid regions (respect_avoid = false)".to_string(),
    };
    Some(format!("{} needles in avoid regions ({}): {cause}", z.avoid_violations, per_region.join(", ")))
}

/// Punctures/cm² a single puncture adds to a cell of side `cell_mm`.
pub fn density_step_per_cm2(cell_mm: f64) -> f64 {
    100.0 / (cell_mm * cell_mm)
}

/// Why a zone's spread figures are coarse at this cell size: the density
/// step coarser than a tenth of the band's width, or a cell larger than a
/// quarter of the zone.
pub fn scale_warnings(cell_mm: f64, area_cm2: f64, target_per_cm2: Option<[f64; 2]>) -> Vec<String> {
    let mut out = Vec::new();
    let step = density_step_per_cm2(cell_mm);
    if let Some([lo, hi]) = target_per_cm2
        && step > (hi - lo) / 10.0
    {
        out.push(format!(
            "a cell's density moves in steps of {step:.0} /cm², coarser than a tenth of the band's width ({:.0} /cm²): under and over are coarse; use a larger analysis.cell_mm",
            (hi - lo) / 10.0
        ));
    }
    let cell_cm2 = cell_mm * cell_mm / 100.0;
    if cell_cm2 > area_cm2 / 4.0 {
        out.push(format!(
            "analysis cells of {cell_mm} mm ({cell_cm2:.2} cm²) are larger than a quarter of the zone ({area_cm2:.2} cm²): the spread figures mean little; use a smaller analysis.cell_mm"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_cells_are_warned_about_by_step_and_by_size() {
        // 2 mm cells: 25 /cm² a puncture; a 1500-3000 band's tenth is 150.
        assert_eq!(density_step_per_cm2(2.0), 25.0);
        assert!(scale_warnings(2.0, 29.0, Some([1500.0, 3000.0])).is_empty());
        // 0.5 mm cells: 400 /cm² a puncture, coarser than 150.
        let w = scale_warnings(0.5, 29.0, Some([1500.0, 3000.0]));
        assert!(w.len() == 1 && w[0].contains("steps of 400 /cm²"), "{w:?}");
        // A narrow band warns sooner: 2 mm cells against a 100 /cm² wide band.
        assert_eq!(scale_warnings(2.0, 29.0, Some([250.0, 350.0])).len(), 1);
        // 40 mm cells on a 29 cm² zone: 16 cm² a cell, over a quarter.
        let w = scale_warnings(40.0, 29.0, None);
        assert!(w.len() == 1 && w[0].contains("larger than a quarter"), "{w:?}");
        assert!(scale_warnings(2.0, 29.0, None).is_empty());
    }
}
