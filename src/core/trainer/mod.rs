//! Scoring a treatment (a trainee's trace, or any scene) against a reference
//! plan and each zone's target band.
//!
//! Every criterion is a figure with a stated acceptable range: inside it the
//! criterion scores 100; outside it the score falls linearly to 0 at a stated
//! limit. A zone's score is the mean of its criteria; the treatment's is the
//! area-weighted mean of its zones. Criteria that compare with the reference
//! take the reference's own figure, measured the same way, as their centre.
//!
//! The motion figures (glide speed, lanes, directions) come from the hand's
//! path: a trace's samples, or a plan's lanes at their nominal speed. A lane
//! is a straight run of the path on the skin (heading within
//! [`LANE_BEND_DEG`] of the run's direction, at least [`MIN_LANE_MM`] long);
//! lanes are grouped by the nearest of the reference's lane directions.

use crate::core::engine::Outcome;
use crate::core::engine::plan::StrokeKind;
use crate::core::error::SceneError;
use crate::core::geometry::shape::{Region, Vec2};
use crate::core::input::scene::{Pass, PassKind, Scene, Zone};
use crate::core::input::trajectory::{self, Trace, TracePoint};
use serde::Serialize;
use std::sync::Arc;

/// A lane bends no more than this from its run's direction, degrees.
pub const LANE_BEND_DEG: f64 = 20.0;
/// Shorter straight runs are not lanes, mm.
pub const MIN_LANE_MM: f64 = 4.0;
/// A lane belongs to the reference direction within this angle, degrees.
pub const DIRECTION_TOLERANCE_DEG: f64 = 25.0;
/// Cell side of the direction-coverage grid, mm.
const DIRECTION_CELL_MM: f64 = 0.5;

/// One scored figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Criterion {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub figure: f64,
    /// The reference's figure, where the criterion compares with it.
    pub reference: Option<f64>,
    /// Scores 100 inside this range.
    pub accepted: [f64; 2],
    /// Scores 0 at and beyond these.
    pub zero_at: [f64; 2],
    pub score: f64,
    /// A detail in words (e.g. per-direction shares).
    pub detail: String,
}

impl Criterion {
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: &'static str,
        label: &'static str,
        unit: &'static str,
        figure: f64,
        reference: Option<f64>,
        accepted: [f64; 2],
        zero_at: [f64; 2],
        detail: String,
    ) -> Criterion {
        let figure = figure + 0.0; // no "-0.000" in tables
        let reference = reference.map(|r| r + 0.0);
        Criterion {
            key,
            label,
            unit,
            figure,
            reference,
            accepted,
            zero_at,
            score: band_score(figure, accepted, zero_at),
            detail,
        }
    }
}

/// 100 inside `accepted`, falling linearly to 0 at `zero_at`.
pub fn band_score(x: f64, accepted: [f64; 2], zero_at: [f64; 2]) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let s = if x < accepted[0] {
        (x - zero_at[0]) / (accepted[0] - zero_at[0])
    } else if x > accepted[1] {
        (zero_at[1] - x) / (zero_at[1] - accepted[1])
    } else {
        1.0
    };
    100.0 * s.clamp(0.0, 1.0)
}

/// The score of one zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneScore {
    pub zone: String,
    pub criteria: Vec<Criterion>,
    pub score: f64,
    pub feedback: Vec<String>,
}

impl ZoneScore {
    pub fn criterion(&self, key: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.key == key)
    }
}

/// The score of a treatment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoreCard {
    pub reference: String,
    pub trainee: String,
    pub score: f64,
    pub zones: Vec<ZoneScore>,
    /// Feedback of every zone, worst first.
    pub feedback: Vec<String>,
}

/// The reference scene with each zone's passes replaced by the trace's
/// samples for it (a trajectory pass); zones the trace never visits keep no
/// passes (untreated). Errors name the trace's line.
pub fn trainee_scene(reference: &Scene, trace: &Trace) -> Result<Scene, SceneError> {
    for name in trace.zones() {
        if !reference.zones.iter().any(|z| z.name == name) {
            let line = trace.rows.iter().find(|(z, _)| z == name).map_or(1, |(_, p)| p.line);
            return Err(SceneError {
                file: trace.file.clone(),
                at: crate::core::error::Location { line, column: 1 },
                key: "zone".into(),
                message: format!(
                    "zone `{name}` is not in the reference scene; its zones: {}",
                    reference.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let mut scene = reference.clone();
    scene.name = trace.file.rsplit(['/', '\\']).next().unwrap_or(&trace.file).to_string();
    for zone in &mut scene.zones {
        let points = trace.points_of(&zone.name);
        let template = zone.passes.first().cloned();
        zone.passes.clear();
        if points.len() < 2 {
            continue;
        }
        trajectory::check_on_zone(&points, &zone.region, &zone.name, &trace.file)?;
        let speed = trajectory::mean_speed_mm_s(&points);
        zone.passes.push(Pass {
            label: "trace".into(),
            // The depth the reference's passes use in this zone.
            depth_mm: template.as_ref().map_or(reference.cartridge.depth_mm, |p| p.depth_mm),
            kind: PassKind::Trajectory { file: trace.file.clone(), points: Arc::new(points) },
            speed_mm_s: if speed > 0.0 { speed } else { 1.0 },
            rate_hz: reference.cartridge.rate_hz(),
            respect_avoid: false,
            at: template.as_ref().map_or(zone.at, |p| p.at),
        });
    }
    Ok(scene)
}

/// The hand's path over one zone: a trace's samples, or a plan's lanes at
/// their speed with lifted travel and turns between them (random stamping
/// has no path and adds none).
pub fn motion(out: &Outcome, zone: usize) -> Vec<TracePoint> {
    let mut path: Vec<TracePoint> = Vec::new();
    let mut t = 0.0;
    let point = |t_s: f64, p: Vec2, pressure: f64| TracePoint { t_s, u_mm: p.x, v_mm: p.y, pressure, line: 0 };
    for stroke in out.plan.strokes.iter().filter(|s| s.zone == zone) {
        match &stroke.kind {
            StrokeKind::Line { start_mm, end_mm } => {
                if let Some(last) = path.last().copied() {
                    let mut travel = stroke.gap_before_mm / stroke.speed_mm_s;
                    if stroke.turn_before {
                        travel += out.scene.hand.turn_time_s;
                    }
                    path.push(TracePoint { pressure: 0.0, ..last });
                    t += travel;
                    path.push(point(t, *start_mm, 0.0));
                }
                path.push(point(t, *start_mm, 1.0));
                t += stroke.length_mm() / stroke.speed_mm_s;
                path.push(point(t, *end_mm, 1.0));
            }
            StrokeKind::Trace { points } => {
                let t0 = points.first().map_or(0.0, |p| p.t_s);
                if let Some(last) = path.last().copied() {
                    path.push(TracePoint { pressure: 0.0, ..last });
                }
                path.extend(points.iter().map(|p| TracePoint { t_s: p.t_s - t0 + t, ..*p }));
                t += trajectory::duration_s(points);
            }
            StrokeKind::Random { .. } => {}
        }
    }
    path
}

/// A straight run of the path on the skin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lane {
    pub start_mm: Vec2,
    pub end_mm: Vec2,
    pub duration_s: f64,
}

impl Lane {
    pub fn length_mm(&self) -> f64 {
        (self.end_mm - self.start_mm).norm()
    }
    pub fn speed_mm_s(&self) -> f64 {
        if self.duration_s > 0.0 { self.length_mm() / self.duration_s } else { 0.0 }
    }
    /// Direction in degrees, 0 up to 180 (a lane and its way back agree).
    pub fn angle_deg(&self) -> f64 {
        let d = self.end_mm - self.start_mm;
        d.y.atan2(d.x).to_degrees().rem_euclid(180.0)
    }
    pub fn mid_mm(&self) -> Vec2 {
        (self.start_mm + self.end_mm) / 2.0
    }
}

/// Splits a path into lanes: straight runs on the skin.
pub fn lanes(path: &[TracePoint]) -> Vec<Lane> {
    let mut out = Vec::new();
    let mut run: Option<(usize, usize)> = None; // first and last sample of the run
    let close = |run: Option<(usize, usize)>, out: &mut Vec<Lane>| {
        if let Some((a, b)) = run {
            let lane =
                Lane { start_mm: path[a].pos_mm(), end_mm: path[b].pos_mm(), duration_s: path[b].t_s - path[a].t_s };
            if lane.length_mm() >= MIN_LANE_MM {
                out.push(lane);
            }
        }
    };
    let cos_bend = LANE_BEND_DEG.to_radians().cos();
    for i in 0..path.len().saturating_sub(1) {
        let (p, q) = (&path[i], &path[i + 1]);
        let d = q.pos_mm() - p.pos_mm();
        if !(p.down() && q.down()) {
            close(run.take(), &mut out);
            continue;
        }
        if d.norm() < 1e-9 {
            continue; // a still sample: the run goes on
        }
        run = match run {
            None => Some((i, i + 1)),
            Some((a, _)) => {
                let so_far = path[i].pos_mm() - path[a].pos_mm();
                let straight = so_far.norm() < 1e-9 || so_far.normalize().dot(&d.normalize()) >= cos_bend;
                if straight {
                    Some((a, i + 1))
                } else {
                    close(Some((a, i)), &mut out);
                    Some((i, i + 1))
                }
            }
        };
    }
    close(run, &mut out);
    out
}

/// Smallest difference of two lane angles, degrees (0 up to 90).
fn angle_gap(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(180.0);
    d.min(180.0 - d)
}

/// Lane directions of a zone's passes (0 up to 180, each once).
pub fn plan_directions(zone: &Zone) -> Vec<f64> {
    let mut dirs: Vec<f64> = Vec::new();
    for p in &zone.passes {
        if let PassKind::Lanes { angle_deg, .. } = p.kind {
            let a = angle_deg.rem_euclid(180.0);
            if !dirs.iter().any(|d| angle_gap(*d, a) < 1.0) {
                dirs.push(a);
            }
        }
    }
    dirs
}

/// Direction name for feedback.
fn direction_name(deg: f64) -> String {
    for (name, a) in [("horizontal", 0.0), ("vertical", 90.0), ("diagonal", 45.0), ("anti-diagonal", 135.0)] {
        if angle_gap(deg, a) < 1.0 {
            return name.to_string();
        }
    }
    format!("{deg:.0}°")
}

/// Lanes of one direction: the gaps between neighbouring lane centre lines
/// (lanes closer than a third of `nominal_mm` count as one line).
fn spacings(lanes: &[Lane], dir_deg: f64, nominal_mm: f64) -> Vec<(f64, f64)> {
    let a = dir_deg.to_radians();
    let normal = Vec2::new(-a.sin(), a.cos());
    let mut offsets: Vec<f64> = lanes.iter().map(|l| l.mid_mm().dot(&normal)).collect();
    offsets.sort_by(f64::total_cmp);
    let mut lines: Vec<f64> = Vec::new();
    for o in offsets {
        match lines.last() {
            Some(l) if o - l < nominal_mm / 3.0 => {}
            _ => lines.push(o),
        }
    }
    lines.windows(2).map(|w| (w[1] - w[0], (w[0] + w[1]) / 2.0)).collect()
}

/// Share of the zone (its outline, a grid of 0.5 mm cells) that lanes of
/// each direction passed over with the cartridge's footprint.
fn direction_shares(region: &Region, lanes: &[Lane], dirs: &[f64], reach_mm: f64) -> Vec<f64> {
    let b = region.bounds();
    let nu = ((b.size_mm().x / DIRECTION_CELL_MM).ceil() as usize).max(1);
    let nv = ((b.size_mm().y / DIRECTION_CELL_MM).ceil() as usize).max(1);
    let centre = |i: usize, j: usize| b.min_mm + Vec2::new(i as f64 + 0.5, j as f64 + 0.5) * DIRECTION_CELL_MM;
    let inside: Vec<bool> = (0..nv)
        .flat_map(|j| (0..nu).map(move |i| (i, j)))
        .map(|(i, j)| region.outline.contains(centre(i, j)))
        .collect();
    let total = inside.iter().filter(|x| **x).count().max(1);
    dirs.iter()
        .map(|&d| {
            let mut seen = vec![false; nu * nv];
            for l in lanes.iter().filter(|l| angle_gap(l.angle_deg(), d) <= DIRECTION_TOLERANCE_DEG) {
                let (lo, hi) = (l.start_mm.inf(&l.end_mm), l.start_mm.sup(&l.end_mm));
                let cell = |x: f64, o: f64| ((x - o) / DIRECTION_CELL_MM).floor();
                let i0 = cell(lo.x - reach_mm, b.min_mm.x).max(0.0) as usize;
                let j0 = cell(lo.y - reach_mm, b.min_mm.y).max(0.0) as usize;
                let i1 = (cell(hi.x + reach_mm, b.min_mm.x).max(0.0) as usize).min(nu - 1);
                let j1 = (cell(hi.y + reach_mm, b.min_mm.y).max(0.0) as usize).min(nv - 1);
                let ab = l.end_mm - l.start_mm;
                let len2 = ab.norm_squared().max(1e-12);
                for j in j0..=j1 {
                    for i in i0..=i1 {
                        let c = centre(i, j);
                        let t = ((c - l.start_mm).dot(&ab) / len2).clamp(0.0, 1.0);
                        if (l.start_mm + ab * t - c).norm() <= reach_mm {
                            seen[j * nu + i] = true;
                        }
                    }
                }
            }
            seen.iter().zip(&inside).filter(|(s, i)| **s && **i).count() as f64 / total as f64
        })
        .collect()
}

/// The third of a zone's chart a point lies in, in words.
fn place_name(b: &crate::core::geometry::shape::Bounds, p: Vec2) -> String {
    let f = (p - b.min_mm).component_div(&b.size_mm());
    let row = ["lower", "middle", "upper"][((f.y * 3.0).floor().clamp(0.0, 2.0)) as usize];
    let col = ["left", "centre", "right"][((f.x * 3.0).floor().clamp(0.0, 2.0)) as usize];
    if row == "middle" && col == "centre" { "centre".into() } else { format!("{row} {col}") }
}

/// Where most of the area under (`under = true`) or over the band lies: the
/// ninth of the chart with the largest such area, its share of it, and its centre.
fn worst_place(out: &Outcome, z: usize, band: [f64; 2], under: bool) -> Option<(String, f64, Vec2)> {
    let f = &out.fields[z];
    let b = out.scene.zones[z].region.bounds();
    let mut area = [[0.0f64; 2]; 9]; // (off-band area, all area) per ninth
    for c in 0..f.cell_punctures.len() {
        let Some(d) = f.cell_density_per_cm2(c) else { continue };
        if !f.cell_in_spread[c] {
            continue;
        }
        let (i, j) = (c % f.layout.cells_u, c / f.layout.cells_u);
        let p = f.layout.origin_mm + Vec2::new(i as f64 + 0.5, j as f64 + 0.5) * f.layout.cell_mm;
        let q = (p - b.min_mm).component_div(&b.size_mm());
        let k = ((q.y * 3.0).floor().clamp(0.0, 2.0) * 3.0 + (q.x * 3.0).floor().clamp(0.0, 2.0)) as usize;
        let off = if under { d < band[0] } else { d > band[1] };
        area[k][1] += f.cell_area_mm2[c];
        if off {
            area[k][0] += f.cell_area_mm2[c];
        }
    }
    let (k, a) = area.iter().enumerate().max_by(|x, y| x.1[0].total_cmp(&y.1[0]))?;
    if a[0] <= 0.0 {
        return None;
    }
    let centre = b.min_mm + Vec2::new((k % 3) as f64 + 0.5, (k / 3) as f64 + 0.5).component_mul(&b.size_mm()) / 3.0;
    Some((place_name(&b, centre), a[0] / a[1], centre))
}

/// Mean speed of the lanes whose middle lies in the same ninth of the chart as `at`.
fn speed_near(lanes: &[Lane], b: &crate::core::geometry::shape::Bounds, at: Vec2) -> Option<f64> {
    let here = place_name(b, at);
    let near: Vec<&Lane> = lanes.iter().filter(|l| place_name(b, l.mid_mm()) == here).collect();
    let time: f64 = near.iter().map(|l| l.duration_s).sum();
    (time > 0.0).then(|| near.iter().map(|l| l.length_mm()).sum::<f64>() / time)
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// Glide speed on the skin: mean (length over time) and the spread of lane
/// speeds (length-weighted coefficient of variation).
fn speed_stats(lanes: &[Lane]) -> (f64, f64) {
    let len: f64 = lanes.iter().map(|l| l.length_mm()).sum();
    let time: f64 = lanes.iter().map(|l| l.duration_s).sum();
    if time <= 0.0 || len <= 0.0 {
        return (0.0, 0.0);
    }
    let mean = len / time;
    let var = lanes.iter().map(|l| l.length_mm() * (l.speed_mm_s() - mean).powi(2)).sum::<f64>() / len;
    (mean, var.sqrt() / mean)
}

/// Scores `trainee` against `reference`, zone by zone (matched by name).
pub fn score(reference: &Outcome, trainee: &Outcome) -> ScoreCard {
    let mut zones = Vec::new();
    let mut weights = Vec::new();
    for (rz, rzone) in reference.scene.zones.iter().enumerate() {
        let Some(tz) = trainee.scene.zones.iter().position(|z| z.name == rzone.name) else { continue };
        zones.push(score_zone(reference, rz, trainee, tz));
        weights.push(reference.zones[rz].area_cm2);
    }
    let wsum: f64 = weights.iter().sum::<f64>().max(1e-12);
    let score = zones.iter().zip(&weights).map(|(z, w)| z.score * w).sum::<f64>() / wsum;
    let mut feedback: Vec<(f64, String)> =
        zones.iter().flat_map(|z| z.feedback.iter().map(move |f| (z.score, f.clone()))).collect();
    feedback.sort_by(|a, b| a.0.total_cmp(&b.0));
    ScoreCard {
        reference: reference.scene.name.clone(),
        trainee: trainee.scene.name.clone(),
        score,
        zones,
        feedback: feedback.into_iter().map(|(_, f)| f).collect(),
    }
}

fn score_zone(reference: &Outcome, rz: usize, trainee: &Outcome, tz: usize) -> ZoneScore {
    let zone = &reference.scene.zones[rz];
    let name = zone.name.clone();
    let (rm, tm) = (&reference.zones[rz], &trainee.zones[tz]);
    let mut c = Vec::new();
    let mut feedback = Vec::new();
    let tl = lanes(&motion(trainee, tz));
    let rl = lanes(&motion(reference, rz));
    let (rs, rcv_speed) = speed_stats(&rl);

    // Coverage and bands.
    let rc = rm.coverage_fraction;
    c.push(Criterion::new(
        "coverage",
        "coverage",
        "share",
        tm.coverage_fraction,
        Some(rc),
        [rc - 0.03, 1.0],
        [rc - 0.2, 1.0],
        String::new(),
    ));
    if let (Some(band), Some(under), Some(over)) = (zone.target_per_cm2, tm.under_fraction, tm.over_fraction) {
        let (ru, ro) = (rm.under_fraction.unwrap_or(0.0), rm.over_fraction.unwrap_or(0.0));
        let ok_u = ru + 0.02;
        let ok_o = ro + 0.02;
        c.push(Criterion::new(
            "under",
            "under target",
            "share",
            under,
            Some(ru),
            [0.0, ok_u],
            [0.0, ok_u + 0.2],
            String::new(),
        ));
        c.push(Criterion::new(
            "over",
            "over target",
            "share",
            over,
            Some(ro),
            [0.0, ok_o],
            [0.0, ok_o + 0.2],
            String::new(),
        ));
        let ri = 1.0 - ru - ro;
        c.push(Criterion::new(
            "in_band",
            "in the target band",
            "share",
            1.0 - under - over,
            Some(ri),
            [ri - 0.03, 1.0],
            [ri - 0.25, 1.0],
            String::new(),
        ));
        let b = zone.region.bounds();
        // Where the area off the band lies, and the hand's speed there: fast
        // lanes leave the skin under the band, slow ones push it over.
        for (is_under, share_off, ok, side) in [(true, under, ok_u, "under"), (false, over, ok_o, "over")] {
            if share_off <= ok {
                continue;
            }
            let Some((place, share, at)) = worst_place(trainee, tz, band, is_under) else { continue };
            let mut s = format!(
                "{name}: {} of the area {side} target, most in the {place} ({} of it {side})",
                pct(share_off),
                pct(share)
            );
            if let Some(v) = speed_near(&tl, &b, at)
                && rs > 0.0
                && (if is_under { v > 1.2 * rs } else { v < 0.8 * rs })
            {
                let (how, fix) = if is_under { ("fast", "slow down") } else { ("slow", "speed up") };
                s += &format!(
                    "; the hand was {how} there ({v:.1} mm/s against the plan's {rs:.1}): {fix} in those lanes"
                );
            }
            feedback.push(s);
        }
    }
    let rcv = rm.density_per_cm2.cv;
    c.push(Criterion::new(
        "cv",
        "density CV (uniformity)",
        "",
        tm.density_per_cm2.cv,
        Some(rcv),
        [0.0, rcv * 1.25 + 0.05],
        [0.0, rcv * 2.5 + 0.3],
        String::new(),
    ));

    // Motion: speed, lanes, directions.
    let (ts, tcv) = speed_stats(&tl);
    if rs > 0.0 {
        let ratio = ts / rs;
        c.push(Criterion::new(
            "speed",
            "glide speed / plan's",
            "ratio",
            ratio,
            Some(1.0),
            [0.8, 1.25],
            [0.4, 2.5],
            format!("{ts:.1} mm/s against {rs:.1} mm/s"),
        ));
        if ts > 0.0 && ratio < 0.8 {
            feedback.push(format!(
                "{name}: glide faster: {ts:.1} mm/s on average against the plan's {rs:.1} mm/s (slow lanes over-treat)"
            ));
        } else if ratio > 1.25 {
            feedback.push(format!(
                "{name}: slow down: {ts:.1} mm/s on average against the plan's {rs:.1} mm/s (fast lanes leave gaps)"
            ));
        }
        c.push(Criterion::new(
            "speed_spread",
            "speed spread between lanes (CV)",
            "",
            tcv,
            Some(rcv_speed),
            [0.0, rcv_speed + 0.1],
            [0.0, rcv_speed + 0.5],
            String::new(),
        ));
        if tcv > rcv_speed + 0.1 {
            feedback.push(format!("{name}: keep an even pace: lane speeds vary by {} (CV)", pct(tcv)));
        }
    }
    let dirs = plan_directions(zone);
    let nominal = zone
        .passes
        .iter()
        .filter_map(|p| match p.kind {
            PassKind::Lanes { lane_spacing_mm, .. } => Some(lane_spacing_mm),
            _ => None,
        })
        .fold(f64::INFINITY, f64::min);
    if !dirs.is_empty() && nominal.is_finite() {
        let (mut ratios, mut cvs, mut worst_gap) = (Vec::new(), Vec::new(), None::<(f64, f64, f64, f64)>);
        for &d in &dirs {
            let ts = spacings(
                &tl.iter()
                    .copied()
                    .filter(|l| angle_gap(l.angle_deg(), d) <= DIRECTION_TOLERANCE_DEG)
                    .collect::<Vec<_>>(),
                d,
                nominal,
            );
            let rs = spacings(
                &rl.iter()
                    .copied()
                    .filter(|l| angle_gap(l.angle_deg(), d) <= DIRECTION_TOLERANCE_DEG)
                    .collect::<Vec<_>>(),
                d,
                nominal,
            );
            if ts.is_empty() || rs.is_empty() {
                continue;
            }
            let mean = |s: &[(f64, f64)]| s.iter().map(|x| x.0).sum::<f64>() / s.len() as f64;
            let (tm_, rm_) = (mean(&ts), mean(&rs));
            let sd = (ts.iter().map(|x| (x.0 - tm_).powi(2)).sum::<f64>() / ts.len() as f64).sqrt();
            ratios.push(tm_ / rm_);
            cvs.push(sd / tm_);
            if let Some(g) = ts.iter().max_by(|a, b| a.0.total_cmp(&b.0))
                && g.0 > 1.5 * rm_
                && worst_gap.is_none_or(|w| g.0 / rm_ > w.0 / w.1)
            {
                worst_gap = Some((g.0, rm_, d, g.1));
            }
        }
        if !ratios.is_empty() {
            // The worst direction: the mean spacing farthest from the plan's, the most irregular.
            let ratio =
                ratios.iter().copied().max_by(|a: &f64, b: &f64| a.ln().abs().total_cmp(&b.ln().abs())).unwrap_or(1.0);
            let cv = cvs.iter().copied().fold(0.0, f64::max);
            c.push(Criterion::new(
                "lane_spacing",
                "lane spacing / plan's",
                "ratio",
                ratio,
                Some(1.0),
                [0.8, 1.2],
                [0.4, 2.0],
                String::new(),
            ));
            c.push(Criterion::new(
                "lane_regularity",
                "lane spacing spread (CV)",
                "",
                cv,
                None,
                [0.0, 0.1],
                [0.0, 0.5],
                String::new(),
            ));
        }
        if let Some((gap, plan, d, offset)) = worst_gap {
            let a = d.to_radians();
            let normal = Vec2::new(-a.sin(), a.cos());
            // The point of the zone's centre line at that offset, to name the place.
            let b = zone.region.bounds();
            let mid = (b.min_mm + b.max_mm) / 2.0;
            let at = mid + normal * (offset - mid.dot(&normal));
            feedback.push(format!(
                "{name}: a gap of {gap:.1} mm between {} lanes in the {} (the plan's spacing is {plan:.1} mm): a lane was missed",
                direction_name(d),
                place_name(&b, at)
            ));
        }
        let reach = reference.scene.cartridge.reach_mm();
        let t_shares = direction_shares(&zone.region, &tl, &dirs, reach);
        let r_shares = direction_shares(&zone.region, &rl, &dirs, reach);
        let (mut worst, mut worst_ref, mut worst_dir) = (f64::INFINITY, 1.0, 0.0);
        for ((t, r), d) in t_shares.iter().zip(&r_shares).zip(&dirs) {
            if t - r < worst - worst_ref {
                (worst, worst_ref, worst_dir) = (*t, *r, *d);
            }
        }
        let detail = dirs
            .iter()
            .zip(&t_shares)
            .map(|(d, s)| format!("{} {}", direction_name(*d), pct(*s)))
            .collect::<Vec<_>>()
            .join(", ");
        c.push(Criterion::new(
            "directions",
            "direction coverage (worst direction)",
            "share",
            worst,
            Some(worst_ref),
            [worst_ref - 0.03, 1.0],
            [worst_ref - 0.3, 1.0],
            detail,
        ));
        if worst < worst_ref - 0.03 {
            feedback.push(format!(
                "{name}: the {} direction reached only {} of the zone (the plan's {})",
                direction_name(worst_dir),
                pct(worst),
                pct(worst_ref)
            ));
        }
    }

    // Avoid regions and time.
    // A plan that lifts over avoid regions still reaches into their edges
    // (the footprint is wider than a needle): the reference's count is the floor.
    let (v, rv) = (tm.avoid_violations as f64, rm.avoid_violations as f64);
    let ok_v = rv * 1.1 + 5.0;
    c.push(Criterion::new(
        "avoid",
        "punctures in avoid regions",
        "count",
        v,
        Some(rv),
        [0.0, ok_v],
        [0.0, 2.0 * ok_v + 100.0],
        String::new(),
    ));
    if v > ok_v {
        feedback.push(format!(
            "{name}: {} punctures in avoid regions (the plan's {}): lift the pen over them",
            tm.avoid_violations, rm.avoid_violations
        ));
    }
    if rm.time_s > 0.0 {
        let ratio = tm.time_s / rm.time_s;
        c.push(Criterion::new(
            "time",
            "time / plan's",
            "ratio",
            ratio,
            Some(1.0),
            [0.8, 1.3],
            [0.3, 3.0],
            format!("{:.1} s against {:.1} s", tm.time_s, rm.time_s),
        ));
    }
    let mut score = c.iter().map(|c| c.score).sum::<f64>() / c.len().max(1) as f64;
    if tm.punctures == 0 {
        // A zone the hand never touched scores 0, whatever its criteria that
        // an empty zone meets (no avoid hits, no unevenness); nothing else to say.
        score = 0.0;
        feedback = vec![format!("{name}: not treated (no punctures)")];
    } else if feedback.is_empty() {
        feedback.push(format!("{name}: on plan ({:.0}/100)", score));
    }
    ZoneScore { zone: name, criteria: c, score, feedback }
}

/// The treatment's figures part-way through (all zones, area-weighted).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Progress {
    pub t_s: f64,
    pub coverage_fraction: f64,
    /// Share of area in the target band (zones with a band).
    pub in_band_fraction: f64,
    pub density_per_cm2: f64,
}

/// The figures after `steps` equal shares of the treatment's time (the
/// punctures made by then, measured as a whole treatment).
pub fn progress(out: &Outcome, steps: usize) -> Vec<Progress> {
    let total = out.simulation.time_s();
    (1..=steps.max(1))
        .map(|k| {
            let t = total * k as f64 / steps.max(1) as f64;
            // Each zone's punctures up to t (they are in time order); only
            // what measuring reads is copied (no 3D points).
            let upto = |ps: &[crate::core::engine::simulate::Puncture]| {
                ps[..ps.partition_point(|p| p.t_s as f64 <= t)].to_vec()
            };
            let zones = out
                .simulation
                .zones
                .iter()
                .map(|zr| {
                    let punctures = upto(&zr.punctures);
                    let keep = punctures.len();
                    crate::core::engine::simulate::ZoneRun {
                        pass_ranges: zr.pass_ranges.iter().map(|r| r.start.min(keep)..r.end.min(keep)).collect(),
                        violations: upto(&zr.violations),
                        outside: upto(&zr.outside),
                        punctures,
                        positions_3d_mm: Vec::new(),
                        ..*zr
                    }
                })
                .collect();
            let sim = crate::core::engine::simulate::Simulation { zones };
            let m =
                crate::core::engine::measure_figures(&out.scene, &sim, &mut crate::core::timing::StageTimes::default());
            let area: f64 = m.iter().map(|z| z.area_cm2).sum::<f64>().max(1e-12);
            let banded: Vec<_> = m.iter().filter(|z| z.under_fraction.is_some()).collect();
            let band_area: f64 = banded.iter().map(|z| z.area_cm2).sum::<f64>();
            Progress {
                t_s: t,
                coverage_fraction: m.iter().map(|z| z.coverage_fraction * z.area_cm2).sum::<f64>() / area,
                in_band_fraction: if band_area > 0.0 {
                    banded
                        .iter()
                        .map(|z| (1.0 - z.under_fraction.unwrap_or(0.0) - z.over_fraction.unwrap_or(0.0)) * z.area_cm2)
                        .sum::<f64>()
                        / band_area
                } else {
                    f64::NAN
                },
                density_per_cm2: m.iter().map(|z| z.punctures as f64).sum::<f64>() / area,
            }
        })
        .collect()
}

/// The plan done exactly: the scene with its hand's jitter (wobble and
/// speed variation) off, so the reference is one fixed treatment.
pub fn exact(scene: &Scene) -> Scene {
    let mut s = scene.clone();
    s.hand.lateral_jitter_mm = 0.0;
    s.hand.speed_jitter = 0.0;
    s
}

/// The reference plan of a scene as a trace (the path of [`motion`], zone by
/// zone, one after another): what a hand following the plan exactly does.
pub fn plan_trace(out: &Outcome) -> Trace {
    let mut rows = Vec::new();
    let mut t0 = 0.0;
    for (z, zone) in out.scene.zones.iter().enumerate() {
        let path = motion(out, z);
        let end = path.last().map_or(0.0, |p| p.t_s);
        rows.extend(path.into_iter().map(|p| (zone.name.clone(), TracePoint { t_s: p.t_s + t0, ..p })));
        t0 += end;
    }
    Trace { file: format!("{}-plan.csv", out.scene.name), has_pressure: true, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_scores_are_full_inside_and_fall_linearly_outside() {
        assert_eq!(band_score(1.0, [0.8, 1.25], [0.4, 2.5]), 100.0);
        assert!((band_score(0.6, [0.8, 1.25], [0.4, 2.5]) - 50.0).abs() < 1e-9);
        assert_eq!(band_score(3.0, [0.8, 1.25], [0.4, 2.5]), 0.0);
        assert_eq!(band_score(f64::NAN, [0.8, 1.25], [0.4, 2.5]), 0.0);
    }

    fn p(t: f64, u: f64, v: f64) -> TracePoint {
        TracePoint { t_s: t, u_mm: u, v_mm: v, pressure: 1.0, line: 0 }
    }

    #[test]
    fn lanes_are_straight_runs_split_at_turns_and_lifts() {
        let path = vec![p(0.0, 0.0, 0.0), p(1.0, 10.0, 0.0), p(2.0, 20.0, 0.0), p(2.5, 20.0, 3.0), p(4.5, 0.0, 3.0)];
        let l = lanes(&path);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!((l[0].length_mm() - 20.0).abs() < 1e-9 && (l[0].speed_mm_s() - 10.0).abs() < 1e-9);
        assert!(angle_gap(l[1].angle_deg(), 0.0) < 1e-9, "the way back is horizontal too");
        let gaps = spacings(&l, 0.0, 3.0);
        assert_eq!(gaps.len(), 1);
        assert!((gaps[0].0 - 3.0).abs() < 1e-9);
    }
}
