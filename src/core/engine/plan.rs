//! Plans: a scene's passes turned into ordered strokes in each zone's chart.
//!
//! A lane pass becomes parallel lanes at the pass angle, `lane_spacing_mm`
//! apart, traversed boustrophedon (alternate lanes run the other way), each
//! clipped to the zone outline (and cut around avoid regions when the pass
//! respects them): one stroke per inside interval. A random pass becomes chunks
//! of stamps, so that big random passes still spread over threads.

use crate::core::error::SceneError;
use crate::core::geometry::shape::{Avoid, Vec2};
use crate::core::input::cartridge::Drive;
use crate::core::input::scene::{Circles, PassKind, Scene};
use crate::core::input::trajectory::{self, Segments, TracePoint};
use std::sync::Arc;

/// Random stamps per stroke: big enough to amortise the per-stroke set-up,
/// small enough to spread a large random pass over all threads.
pub const RANDOM_STAMPS_PER_STROKE: u64 = 4096;

/// What the hand does along one stroke.
#[derive(Clone, Debug, PartialEq)]
pub enum StrokeKind {
    /// Glide from `start_mm` to `end_mm` in the chart.
    Line {
        /// Where the stroke starts in the chart, mm.
        start_mm: Vec2,
        /// Where it ends in the chart, mm.
        end_mm: Vec2,
    },
    /// `stamps` stamps at uniformly random places and rotations.
    Random {
        /// Number of stamps (at most [`RANDOM_STAMPS_PER_STROKE`]).
        stamps: u64,
    },
    /// Follow recorded samples (a trajectory pass), times from its first sample.
    Trace {
        /// The zone's samples of the trajectory, in time order.
        points: Arc<Vec<TracePoint>>,
    },
}

/// One continuous piece of work of the hand.
#[derive(Clone, Debug, PartialEq)]
pub struct Stroke {
    /// Index of the stroke's zone in the scene.
    pub zone: usize,
    /// Index of the stroke's pass within its zone.
    pub pass: usize,
    /// Index of this stroke within its pass (seeds its random numbers).
    pub index_in_pass: usize,
    /// Lane index within its pass and repeat (0 for random strokes).
    pub lane: usize,
    /// Repeat of the pass this stroke belongs to (0 for random and trace strokes).
    pub repeat: u32,
    /// The path: a lane, random stamps or a recorded trace.
    pub kind: StrokeKind,
    /// Glide speed of the pass, mm/s.
    pub speed_mm_s: f64,
    /// Stamp rate of a pen, Hz; `None` for a roller.
    pub rate_hz: Option<f64>,
    /// Lift the device over avoid regions (true), or glide straight over them.
    pub respect_avoid: bool,
    /// Small circles traced along the lane (`pattern = "circles"`).
    pub circles: Option<Circles>,
    /// Stamps at each point before the hand moves on (1: none in place).
    pub stamps_per_point: u32,
    /// Travel from the end of the previous stroke of the zone, mm.
    pub gap_before_mm: f64,
    /// Whether the hand lifts and turns before this stroke (new lane or pass).
    pub turn_before: bool,
}

impl Stroke {
    /// Length of the stroke's path in the chart, mm (0 for random stamps; for a
    /// trace, every step, lifted or on the skin).
    pub fn length_mm(&self) -> f64 {
        match &self.kind {
            StrokeKind::Line { start_mm, end_mm } => {
                (end_mm - start_mm).norm() * self.circles.map_or(1.0, |c| c.path_per_lane_mm())
            }
            StrokeKind::Random { .. } => 0.0,
            StrokeKind::Trace { points } => trajectory::path_length_mm(points, Segments::All),
        }
    }
}

/// All strokes of a scene, zone by zone, pass by pass, in the order the hand
/// does them.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The strokes, in order.
    pub strokes: Vec<Stroke>,
}

/// Unit vector along the lanes of a pass at `angle_deg`.
pub fn lane_direction(angle_deg: f64) -> Vec2 {
    let a = angle_deg.to_radians();
    Vec2::new(a.cos(), a.sin())
}

/// Builds the plan of a validated scene.
pub fn plan(scene: &Scene) -> Plan {
    let mut strokes = Vec::new();
    for (zi, zone) in scene.zones.iter().enumerate() {
        let mut last_end: Option<Vec2> = None;
        for (pi, pass) in zone.passes.iter().enumerate() {
            let mut index_in_pass = 0;
            let mut push = |strokes: &mut Vec<Stroke>, lane, repeat, kind: StrokeKind, begins: Start| {
                let (start, end) = match &kind {
                    StrokeKind::Line { start_mm, end_mm } => (Some(*start_mm), Some(*end_mm)),
                    StrokeKind::Random { .. } => (None, None),
                    StrokeKind::Trace { points } => {
                        (points.first().map(|p| p.pos_mm()), points.last().map(|p| p.pos_mm()))
                    }
                };
                let gap_before_mm = match (last_end, start) {
                    // A trace's own samples hold the hand's travel.
                    (Some(a), Some(b)) if !matches!(kind, StrokeKind::Trace { .. }) => (b - a).norm(),
                    _ => 0.0,
                };
                strokes.push(Stroke {
                    zone: zi,
                    pass: pi,
                    index_in_pass,
                    lane,
                    repeat,
                    kind,
                    speed_mm_s: pass.speed_mm_s,
                    rate_hz: pass.rate_hz,
                    respect_avoid: pass.respect_avoid,
                    circles: match pass.kind {
                        PassKind::Lanes { circles, .. } => circles,
                        _ => None,
                    },
                    stamps_per_point: pass.stamps_per_point,
                    gap_before_mm,
                    turn_before: begins == Start::NewLane && last_end.is_some(),
                });
                index_in_pass += 1;
                if end.is_some() {
                    last_end = end;
                }
            };
            match &pass.kind {
                &PassKind::Lanes { angle_deg, lane_spacing_mm, repeats, stagger, .. } => {
                    let dir = lane_direction(angle_deg);
                    let normal = Vec2::new(-dir.y, dir.x);
                    let b = zone.region.bounds();
                    let corners =
                        [b.min_mm, b.max_mm, Vec2::new(b.min_mm.x, b.max_mm.y), Vec2::new(b.max_mm.x, b.min_mm.y)];
                    let lo = corners.iter().map(|c| c.dot(&normal)).fold(f64::INFINITY, f64::min);
                    let hi = corners.iter().map(|c| c.dot(&normal)).fold(f64::NEG_INFINITY, f64::max);
                    let mut lane_parity = 0usize;
                    // The footprint's reach from the hand's line: its outermost
                    // needle, circles' swing (two radii back along the lane).
                    let swing_mm = match pass.kind {
                        PassKind::Lanes { circles: Some(c), .. } => 2.0 * c.radius_mm,
                        _ => 0.0,
                    };
                    let clearance_mm = scene.cartridge.reach_mm() + swing_mm + pass.avoid_margin_mm;
                    for repeat in 0..repeats {
                        let shift = if stagger && repeat % 2 == 1 { 0.5 } else { 0.0 };
                        // Lanes half a spacing in from the extreme, so lanes
                        // tile the zone; staggered repeats sit between them.
                        let mut offsets = match zone.surface.as_deref() {
                            None => (-1..)
                                .map(|k| lo + (k as f64 + 0.5 + shift) * lane_spacing_mm)
                                .take_while(|o| *o < hi)
                                .filter(|o| *o > lo)
                                .collect(),
                            Some(surface) => {
                                true_lane_offsets(&zone.region, surface, dir, (lo, hi), lane_spacing_mm, 0.5 + shift)
                            }
                        };
                        if repeat % 2 == 1 {
                            offsets.reverse(); // come back the way the last repeat went
                        }
                        for (lane, o) in offsets.iter().enumerate() {
                            let origin = normal * *o;
                            // Respecting avoid regions, the cartridge is lifted
                            // before any needle of its footprint (plus the
                            // margin) would reach one, and put down after.
                            let mut pieces = if pass.respect_avoid {
                                zone.region.clear_intervals(origin, dir, clearance_mm)
                            } else {
                                zone.region.line_intervals(origin, dir, Avoid::Keep)
                            };
                            pieces.retain(|(t0, t1)| t1 - t0 > 1e-9);
                            if pieces.is_empty() {
                                continue;
                            }
                            let forward = lane_parity.is_multiple_of(2);
                            lane_parity += 1;
                            if !forward {
                                pieces.reverse();
                            }
                            for (k, (t0, t1)) in pieces.into_iter().enumerate() {
                                let (a, b) = if forward { (t0, t1) } else { (t1, t0) };
                                let kind = StrokeKind::Line { start_mm: origin + dir * a, end_mm: origin + dir * b };
                                push(
                                    &mut strokes,
                                    lane,
                                    repeat,
                                    kind,
                                    if k == 0 { Start::NewLane } else { Start::SameLane },
                                );
                            }
                        }
                    }
                }
                PassKind::Trajectory { points, .. } => {
                    push(&mut strokes, 0, 0, StrokeKind::Trace { points: points.clone() }, Start::SameLane);
                }
                &PassKind::Random { stamps } => {
                    let mut left = stamps;
                    while left > 0 {
                        let n = left.min(RANDOM_STAMPS_PER_STROKE);
                        push(&mut strokes, 0, 0, StrokeKind::Random { stamps: n }, Start::NewLane);
                        left -= n;
                    }
                }
            }
        }
    }
    Plan { strokes }
}

/// Lane offsets (along the lanes' normal, chart mm) on a curved zone, so
/// that neighbouring lanes lie `spacing_mm` apart on the skin: each step is
/// the spacing over the chart's mean true spacing per chart mm there (sampled
/// along the lane's stretch inside the outline, at the step's midpoint). The
/// first lane lies `first` of a step in from `lo`.
fn true_lane_offsets(
    region: &crate::core::geometry::shape::Region,
    surface: &crate::core::geometry::mesh::Surface,
    dir: Vec2,
    (lo, hi): (f64, f64),
    spacing_mm: f64,
    first: f64,
) -> Vec<f64> {
    let normal = Vec2::new(-dir.y, dir.x);
    // Mean true distance between lanes a chart mm apart, along the lane at o.
    let across = |o: f64| -> f64 {
        let origin = normal * o;
        let pieces = region.outline.line_intervals(origin, dir);
        let total: f64 = pieces.iter().map(|(a, b)| b - a).sum();
        if total <= 0.0 {
            return 1.0;
        }
        let samples = 32;
        let (mut sum, mut n) = (0.0, 0);
        for k in 0..samples {
            // Spread over the pieces by length.
            let mut at = (k as f64 + 0.5) / samples as f64 * total;
            for (a, b) in &pieces {
                if at <= b - a {
                    if let Some(s) = surface.spacing_across(origin + dir * (a + at), dir)
                        && s.is_finite()
                        && s > 1e-6
                    {
                        sum += s;
                        n += 1;
                    }
                    break;
                }
                at -= b - a;
            }
        }
        if n > 0 { sum / n as f64 } else { 1.0 }
    };
    // A chart step of `spacing_mm` true from o (its stretch at the midpoint).
    let step = |o: f64, share: f64| {
        let guess = share * spacing_mm / across(o);
        share * spacing_mm / across(o + guess / 2.0)
    };
    let mut offsets = Vec::new();
    let mut o = lo + step(lo, first);
    while o < hi && offsets.len() < 1_000_000 {
        if o > lo {
            offsets.push(o);
        }
        o += step(o, 1.0);
    }
    offsets
}

/// What a scene will cost before it runs, estimated from the scene alone
/// (no plan is built: a scene's plan can itself be too big to build).
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Expected punctures (every needle of every stamp inside), per zone.
    pub punctures_per_zone: Vec<f64>,
    /// Expected strokes (lanes and random chunks), per zone.
    pub strokes_per_zone: Vec<f64>,
    /// Bytes of the coverage raster and analysis cells, per zone.
    pub field_bytes_per_zone: Vec<u64>,
}

/// Bytes per puncture while a run holds it (in its stroke and in its zone).
pub const BYTES_PER_PUNCTURE: f64 = 2.0 * 16.0 + 12.0;
/// Bytes per stroke of a plan and its result.
pub const BYTES_PER_STROKE: f64 = 256.0;

impl Estimate {
    /// Expected punctures of the whole scene.
    pub fn punctures(&self) -> f64 {
        self.punctures_per_zone.iter().sum()
    }
    /// Bytes a zone's own data takes (its raster and its strokes).
    fn zone_bytes(&self, z: usize) -> f64 {
        self.field_bytes_per_zone[z] as f64 + self.strokes_per_zone[z] * BYTES_PER_STROKE
    }
    /// Peak memory of the run, bytes: the punctures of the whole scene, the
    /// plan, and the largest zone's raster (zones are measured one at a time).
    pub fn memory_bytes(&self) -> f64 {
        let rasters = self.field_bytes_per_zone.iter().copied().max().unwrap_or(0) as f64;
        self.punctures() * BYTES_PER_PUNCTURE + self.strokes_per_zone.iter().sum::<f64>() * BYTES_PER_STROKE + rasters
    }
}

/// Expected number of stamps of one stroke (mean speed, no jitter).
pub fn expected_stamps(stroke: &Stroke, drive: &Drive) -> f64 {
    match &stroke.kind {
        StrokeKind::Random { stamps } => (*stamps * stroke.stamps_per_point as u64) as f64,
        StrokeKind::Line { .. } => {
            stamps_along(stroke.length_mm(), stroke.speed_mm_s, stroke.rate_hz, drive) * stroke.stamps_per_point as f64
        }
        StrokeKind::Trace { points } => trace_stamps(points, stroke.rate_hz, drive),
    }
}

/// Stamps (a roller: contacts of one needle) along a trace.
fn trace_stamps(points: &[TracePoint], rate_hz: Option<f64>, drive: &Drive) -> f64 {
    match drive {
        // Stamps only while on the skin: a long lifted pause costs nothing.
        Drive::Pen { .. } => {
            let steps = points.windows(2).filter(|w| w[0].down() && w[1].down()).count();
            trajectory::down_time_s(points) * rate_hz.unwrap_or(0.0) + steps as f64 + 1.0
        }
        Drive::Roller { .. } => stamps_along(trajectory::path_length_mm(points, Segments::Down), 1.0, None, drive),
    }
}

/// Expected stamps (a roller: drum contacts of one needle) along `length_mm` of lane.
fn stamps_along(length_mm: f64, speed_mm_s: f64, rate_hz: Option<f64>, drive: &Drive) -> f64 {
    if length_mm <= 0.0 {
        return 0.0;
    }
    match drive {
        Drive::Pen { .. } => length_mm * rate_hz.unwrap_or(0.0) / speed_mm_s + 1.0,
        Drive::Roller { circumference_mm, .. } => length_mm / circumference_mm + 1.0,
    }
}

/// Estimates the cost of a scene: the total lane length of a pass is about
/// the zone's area over the lane spacing (per repeat), for any outline.
pub fn estimate(scene: &Scene, field_bytes_per_zone: Vec<u64>) -> Estimate {
    let n = scene.cartridge.needle_count() as f64;
    let mut punctures = vec![0.0; scene.zones.len()];
    let mut strokes = vec![0.0; scene.zones.len()];
    for (z, zone) in scene.zones.iter().enumerate() {
        let area = zone.region.outline.area_mm2();
        let extent = zone.region.bounds().size_mm().norm();
        for pass in &zone.passes {
            match &pass.kind {
                &PassKind::Lanes { lane_spacing_mm, repeats, .. } => {
                    let lanes = (extent / lane_spacing_mm + 2.0) * repeats as f64;
                    let length = area / lane_spacing_mm * repeats as f64;
                    strokes[z] += lanes;
                    punctures[z] +=
                        (stamps_along(length, pass.speed_mm_s, pass.rate_hz, &scene.cartridge.drive) + lanes) * n;
                }
                PassKind::Trajectory { points, .. } => {
                    strokes[z] += 1.0;
                    punctures[z] += trace_stamps(points, pass.rate_hz, &scene.cartridge.drive) * n;
                }
                &PassKind::Random { stamps } => {
                    strokes[z] += (stamps as f64 / RANDOM_STAMPS_PER_STROKE as f64).ceil();
                    punctures[z] += stamps as f64 * n;
                }
            }
        }
    }
    Estimate { punctures_per_zone: punctures, strokes_per_zone: strokes, field_bytes_per_zone }
}

/// Memory a run may take before it is refused, bytes (8 GiB: a third of a
/// 24 GiB machine, leaving room for the rest of the system).
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 8 << 30;

/// Refuses a scene whose estimate is over `max_memory_bytes`, naming the zone
/// that costs most.
pub fn check_cost(scene: &Scene, est: &Estimate, max_memory_bytes: u64) -> Result<(), SceneError> {
    let need = est.memory_bytes();
    if need <= max_memory_bytes as f64 {
        return Ok(());
    }
    let cost = |z: usize| est.punctures_per_zone[z] * BYTES_PER_PUNCTURE + est.zone_bytes(z);
    let worst = (0..scene.zones.len()).max_by(|&a, &b| cost(a).total_cmp(&cost(b))).unwrap_or(0);
    let zone = &scene.zones[worst];
    let gib = (1u64 << 30) as f64;
    Err(SceneError {
        file: scene.file.clone(),
        at: zone.at,
        key: format!("zones[{worst}]"),
        message: format!(
            "this scene would need about {:.1} GiB (zone `{}`: {:.3e} punctures, {:.3e} strokes, {:.1} GiB of coverage raster and analysis cells); \
             the limit is {:.1} GiB: use fewer stamps or passes, a smaller zone or a wider lane spacing, or raise --max-memory-mb",
            need / gib,
            zone.name,
            est.punctures_per_zone[worst],
            est.strokes_per_zone[worst],
            est.field_bytes_per_zone[worst] as f64 / gib,
            max_memory_bytes as f64 / gib
        ),
    })
}

/// Where a stroke starts: a new lane (the hand turns first), or the same lane
/// on (a piece after an avoid region).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    NewLane,
    SameLane,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(passes: &str) -> Scene {
        let text = format!(
            "[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 10\n[[zones]]\nname = \"z\"\nshape = {{ rect = {{ width_mm = 30, height_mm = 12 }} }}\n{passes}"
        );
        Scene::from_toml_str(&text, "t.toml").unwrap()
    }

    #[test]
    fn horizontal_lanes_are_spaced_clipped_and_alternate() {
        let s = scene("[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 3\n");
        let p = plan(&s);
        assert_eq!(p.strokes.len(), 4, "12 mm / 3 mm = 4 lanes");
        for (i, st) in p.strokes.iter().enumerate() {
            let StrokeKind::Line { start_mm, end_mm } = st.kind else { panic!() };
            assert!((start_mm.y - (1.5 + 3.0 * i as f64)).abs() < 1e-9, "lane {i} at v = {}", start_mm.y);
            assert!((start_mm.y - end_mm.y).abs() < 1e-12);
            let (a, b) = if i % 2 == 0 { (0.0, 30.0) } else { (30.0, 0.0) };
            assert!((start_mm.x - a).abs() < 1e-9 && (end_mm.x - b).abs() < 1e-9, "boustrophedon lane {i}");
        }
        assert!(!p.strokes[0].turn_before && p.strokes[1].turn_before);
        assert!((p.strokes[1].gap_before_mm - 3.0).abs() < 1e-9);
    }

    #[test]
    fn diagonal_lanes_run_at_45_degrees_and_are_spaced_along_the_normal() {
        let s = scene("[[zones.passes]]\npattern = \"diagonal\"\nlane_spacing_mm = 2\n");
        let p = plan(&s);
        let n = Vec2::new(-1.0, 1.0) / 2f64.sqrt();
        let mut offsets = Vec::new();
        for st in &p.strokes {
            let StrokeKind::Line { start_mm, end_mm } = st.kind else { panic!() };
            let d = (end_mm - start_mm).normalize();
            assert!((d.x.abs() - d.y.abs()).abs() < 1e-9 && d.x * d.y > 0.0, "lane along 45 deg: {d:?}");
            offsets.push(start_mm.dot(&n));
            for q in [start_mm, end_mm] {
                assert!(
                    q.x > -1e-9 && q.x < 30.0 + 1e-9 && q.y > -1e-9 && q.y < 12.0 + 1e-9,
                    "clipped to the rect: {q:?}"
                );
            }
        }
        for w in offsets.windows(2) {
            assert!((w[1] - w[0] - 2.0).abs() < 1e-9);
        }
    }

    #[test]
    fn staggered_repeats_sit_between_the_first_lanes() {
        let s = scene("[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 3\nrepeats = 2\nstagger = true\n");
        let ys: Vec<f64> = plan(&s)
            .strokes
            .iter()
            .filter(|st| st.repeat == 1)
            .map(|st| match st.kind {
                StrokeKind::Line { start_mm, .. } => start_mm.y,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(ys, vec![9.0, 6.0, 3.0], "second repeat shifted by half a spacing, run back");
    }
}
