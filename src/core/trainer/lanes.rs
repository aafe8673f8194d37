//! The hand's path as lanes: straight runs on the skin, grouped by the
//! nearest of the reference's lane directions, and the figures of the path
//! (spacings between lanes, the share of the zone each direction passed over).

use crate::core::engine::Outcome;
use crate::core::engine::plan::StrokeKind;
use crate::core::geometry::shape::{Region, Vec2};
use crate::core::input::scene::{PassKind, Zone};
use crate::core::input::trajectory::{self, TracePoint};

/// A lane bends no more than this from its run's direction, degrees.
pub const LANE_BEND_DEG: f64 = 20.0;
/// Shorter straight runs are not lanes, mm.
pub const MIN_LANE_MM: f64 = 4.0;
/// A lane belongs to the reference direction within this angle, degrees.
pub const DIRECTION_TOLERANCE_DEG: f64 = 25.0;
/// Chart step of a plan's lane traced on curved skin, mm.
const TRACE_STEP_MM: f64 = 0.5;
/// Cell side of the direction-coverage grid, mm.
pub(crate) const DIRECTION_CELL_MM: f64 = 0.5;

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
                match out.scene.zones[zone].surface.as_deref() {
                    // On curved skin the hand glides at its speed on the skin,
                    // so along the chart it goes at that speed over the
                    // chart's stretch (as the simulation steps its stamps):
                    // sampled every TRACE_STEP_MM with the time true length
                    // takes (two samples at chart speed made stamps bunch
                    // where the chart squeezes: a trace off its own plan).
                    Some(sf) if stroke.circles.is_none() => {
                        let d = end_mm - start_mm;
                        let n = (d.norm() / TRACE_STEP_MM).ceil().max(1.0) as usize;
                        let dir = d / d.norm().max(1e-12);
                        for k in 1..=n {
                            let (a, b) =
                                (start_mm + d * ((k - 1) as f64 / n as f64), start_mm + d * (k as f64 / n as f64));
                            let stretch = sf.stretch_along((a + b) / 2.0, dir).filter(|s| *s > 1e-6 && s.is_finite());
                            t += (b - a).norm() * stretch.unwrap_or(1.0) / stroke.speed_mm_s;
                            path.push(point(t, b, 1.0));
                        }
                    }
                    _ => {
                        t += stroke.length_mm() / stroke.speed_mm_s;
                        path.push(point(t, *end_mm, 1.0));
                    }
                }
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
    /// Where the run starts in the zone's chart, mm.
    pub start_mm: Vec2,
    /// Where it ends in the zone's chart, mm.
    pub end_mm: Vec2,
    /// Time from start to end, s.
    pub duration_s: f64,
}

impl Lane {
    /// Straight-line length from start to end, mm.
    pub fn length_mm(&self) -> f64 {
        (self.end_mm - self.start_mm).norm()
    }
    /// Mean speed along the lane, mm/s (0 for a lane of no duration).
    pub fn speed_mm_s(&self) -> f64 {
        if self.duration_s > 0.0 { self.length_mm() / self.duration_s } else { 0.0 }
    }
    /// Direction in degrees, 0 up to 180 (a lane and its way back agree).
    pub fn angle_deg(&self) -> f64 {
        let d = self.end_mm - self.start_mm;
        d.y.atan2(d.x).to_degrees().rem_euclid(180.0)
    }
    /// Midpoint of the lane in the chart, mm.
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
pub(crate) fn angle_gap(a: f64, b: f64) -> f64 {
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
pub(crate) fn direction_name(deg: f64) -> String {
    for (name, a) in [("horizontal", 0.0), ("vertical", 90.0), ("diagonal", 45.0), ("anti-diagonal", 135.0)] {
        if angle_gap(deg, a) < 1.0 {
            return name.to_string();
        }
    }
    format!("{deg:.0}°")
}

/// Lanes of one direction: the gaps between neighbouring lane centre lines
/// (lanes closer than a third of `nominal_mm` count as one line).
pub(crate) fn spacings(lanes: &[Lane], dir_deg: f64, nominal_mm: f64) -> Vec<(f64, f64)> {
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
pub(crate) fn direction_shares(region: &Region, lanes: &[Lane], dirs: &[f64], reach_mm: f64) -> Vec<f64> {
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
