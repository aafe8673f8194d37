//! Simulation: strokes -> stamps -> punctures.
//!
//! Each stroke is simulated on its own, with a random-number stream seeded from
//! (scene seed, zone, pass, stroke index), in parallel; results are merged in
//! plan order and given their times by a sequential prefix sum. So the result
//! is bit-identical for any number of threads.
//!
//! The hand: along a lane, the device centre wobbles sideways and the glide
//! speed varies, both as first-order autoregressive (Ornstein-Uhlenbeck)
//! processes over the path with correlation length `wobble_length_mm` and
//! stationary standard deviations `lateral_jitter_mm` and `speed_jitter`.

use crate::core::engine::plan::{Plan, Stroke, StrokeKind, expected_stamps};
use crate::core::geometry::mesh::Surface;
use crate::core::geometry::shape::{Bounds, Region, Vec2};
use crate::core::input::cartridge::{Cartridge, Drive};
use crate::core::input::scene::{Channel, Circles, Hand, Orientation, Scene, Zone};
use crate::core::input::trajectory;
use crate::core::timing::StageTimes;
use nalgebra::Rotation2;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use std::time::Instant;

/// Where and when one needle entered the skin. 16 bytes: single precision
/// resolves 1e-5 mm at 100 mm and 0.1 ms after 30 minutes, far finer than a
/// needle or a stamp; the small size halves the memory traffic of the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Puncture {
    /// Position across in the zone chart (u), mm.
    pub u_mm: f32,
    /// Position up in the zone chart (v), mm.
    pub v_mm: f32,
    /// Time since the start of the scene's treatment, s.
    pub t_s: f32,
    /// Index of the pass (in its zone) that made it.
    pub pass: u32,
}

impl Puncture {
    /// A puncture at `pos_mm` (chart, mm) at `t_s` (s), stored in single precision.
    pub fn new(pos_mm: Vec2, t_s: f64, pass: u32) -> Puncture {
        Puncture { u_mm: pos_mm.x as f32, v_mm: pos_mm.y as f32, t_s: t_s as f32, pass }
    }
    /// Position in the zone chart, mm.
    pub fn pos_mm(&self) -> Vec2 {
        Vec2::new(self.u_mm as f64, self.v_mm as f64)
    }
}

/// The punctures of one zone and the hand's path over it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneRun {
    /// Punctures in the treatable area, in time order.
    pub punctures: Vec<Puncture>,
    /// Punctures that fell in an avoid region, in time order.
    pub violations: Vec<Puncture>,
    /// Needles that landed outside the zone outline: not punctures of this
    /// zone (kept for the seam report: beyond a shared border they reach the
    /// neighbouring zone), in time order.
    pub outside: Vec<Puncture>,
    /// Stamps (pen) or drum contacts (roller) made.
    pub stamps: u64,
    /// Random stamps for which no place inside the zone was found.
    pub unplaced_stamps: u64,
    /// Treatment time of the zone, lanes and turns included, s.
    pub time_s: f64,
    /// Length of the hand's path over the zone, lanes and turns included, mm.
    pub path_length_mm: f64,
    /// Range of `punctures` made by each pass (passes run one after another).
    pub pass_ranges: Vec<std::ops::Range<usize>>,
    /// For mesh zones: the 3D point of each puncture, mm (see [`map_to_3d`]).
    pub positions_3d_mm: Vec<[f32; 3]>,
    /// Each puncture's drag through the skin, chart mm (`analysis.channel =
    /// "capsule"` only; empty otherwise).
    pub drags: Vec<[f32; 2]>,
    /// How far each pass's stamps dragged.
    pub pass_drag: Vec<DragStats>,
}

/// Maps every puncture of a mesh zone to its 3D point through the triangle
/// it falls in (in parallel); a point the index cannot place (rounding on the
/// outline) gets NaN and is counted.
pub fn map_to_3d(surface: &Surface, punctures: &[Puncture]) -> (Vec<[f32; 3]>, usize) {
    let points: Vec<[f32; 3]> = punctures
        .par_iter()
        .with_min_len(4096)
        .map(|p| match surface.to_3d(p.pos_mm()) {
            Some(q) => [q.x as f32, q.y as f32, q.z as f32],
            None => [f32::NAN; 3],
        })
        .collect();
    let missed = points.iter().filter(|q| q[0].is_nan()).count();
    (points, missed)
}

/// The result of simulating a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// Each zone's run, in scene order.
    pub zones: Vec<ZoneRun>,
}

impl Simulation {
    /// Punctures of all zones (treatable areas only).
    pub fn punctures(&self) -> usize {
        self.zones.iter().map(|z| z.punctures.len()).sum()
    }
    /// Treatment time of all zones together, s.
    pub fn time_s(&self) -> f64 {
        self.zones.iter().map(|z| z.time_s).sum()
    }
    /// Length of the hand's path over all zones together, mm.
    pub fn path_length_mm(&self) -> f64 {
        self.zones.iter().map(|z| z.path_length_mm).sum()
    }
}

/// SplitMix64: a good 64-bit mixer, for deriving independent stream seeds.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The seed of one stroke's random stream.
pub fn stroke_seed(seed: u64, zone: usize, pass: usize, stroke: usize) -> u64 {
    mix(mix(mix(mix(seed) ^ zone as u64) ^ pass as u64) ^ stroke as u64)
}

/// Where needles of a stamp landed.
#[derive(Default)]
struct StrokeOut {
    punctures: Vec<Puncture>,
    violations: Vec<Puncture>,
    outside: Vec<Puncture>,
    stamps: u64,
    unplaced: u64,
    duration_s: f64,
    /// The hand's path on the skin between stamps of a random stroke, mm.
    path_mm: f64,
    /// Keep each puncture's drag (`drags`): coverage counts capsules.
    keep_drags: bool,
    /// Each puncture's drag through the skin (chart mm), when kept.
    drags: Vec<[f32; 2]>,
    /// The stroke's stamps and how far they dragged.
    drag: DragStats,
}

/// How far a pass's stamps dragged through the skin.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DragStats {
    /// Stamps counted.
    pub stamps: u64,
    /// Sum of their drag lengths, mm.
    pub sum_mm: f64,
    /// Stamps that dragged further than a needle radius.
    pub over_radius: u64,
}

impl DragStats {
    fn add(&mut self, length_mm: f64, radius_mm: f64) {
        self.stamps += 1;
        self.sum_mm += length_mm;
        self.over_radius += (length_mm > radius_mm) as u64;
    }
    /// Adds another's counts.
    pub fn merge(&mut self, o: &DragStats) {
        self.stamps += o.stamps;
        self.sum_mm += o.sum_mm;
        self.over_radius += o.over_radius;
    }
    /// Mean drag of a stamp, mm (0 without stamps).
    pub fn mean_mm(&self) -> f64 {
        if self.stamps > 0 { self.sum_mm / self.stamps as f64 } else { 0.0 }
    }
    /// Share of stamps dragging further than a needle radius.
    pub fn over_radius_share(&self) -> f64 {
        if self.stamps > 0 { self.over_radius as f64 / self.stamps as f64 } else { 0.0 }
    }
}

impl StrokeOut {
    fn place(&mut self, zone: &ZoneShape, p: Vec2, t_s: f64, pass: u32) {
        self.place_dragged(zone, p, t_s, pass, [0.0; 2]);
    }

    fn place_dragged(&mut self, zone: &ZoneShape, p: Vec2, t_s: f64, pass: u32, drag: [f32; 2]) {
        if !zone.inside(p) {
            self.outside.push(Puncture::new(p, t_s, pass));
        } else if zone.in_avoid(p) {
            self.violations.push(Puncture::new(p, t_s, pass));
        } else {
            self.punctures.push(Puncture::new(p, t_s, pass));
            if self.keep_drags {
                self.drags.push(drag);
            }
        }
    }
}

/// A zone's outline and avoid regions, with what makes asking about them fast.
struct ZoneShape<'a> {
    region: &'a Region,
    surface: Option<&'a Surface>,
    avoid_bounds: Vec<Bounds>,
}

impl<'a> ZoneShape<'a> {
    fn new(zone: &'a Zone) -> ZoneShape<'a> {
        ZoneShape {
            region: &zone.region,
            surface: zone.surface.as_deref(),
            avoid_bounds: zone.region.avoid.iter().map(|a| a.bounds()).collect(),
        }
    }

    /// Inside the outline: for a mesh zone, over one of its chart triangles.
    fn inside(&self, p: Vec2) -> bool {
        match self.surface {
            Some(s) => s.index.locate(&s.mesh, p).is_some(),
            None => self.region.outline.contains(p),
        }
    }

    fn in_avoid(&self, p: Vec2) -> bool {
        self.region.avoid.iter().zip(&self.avoid_bounds).any(|(a, b)| {
            p.x >= b.min_mm.x && p.x <= b.max_mm.x && p.y >= b.min_mm.y && p.y <= b.max_mm.y && a.contains(p)
        })
    }
}

/// Sideways wobble and speed variation of the hand along a path.
struct HandNoise {
    lateral_mm: f64,
    speed_rel: f64,
    sd_lateral_mm: f64,
    sd_speed: f64,
    length_mm: f64,
}

impl HandNoise {
    fn new(hand: &Hand, rng: &mut Pcg64Mcg) -> HandNoise {
        let z1: f64 = rng.sample(StandardNormal);
        let z2: f64 = rng.sample(StandardNormal);
        HandNoise {
            lateral_mm: z1 * hand.lateral_jitter_mm,
            speed_rel: z2 * hand.speed_jitter,
            sd_lateral_mm: hand.lateral_jitter_mm,
            sd_speed: hand.speed_jitter,
            length_mm: hand.wobble_length_mm,
        }
    }

    /// Advances both processes by `ds_mm` of path.
    fn advance(&mut self, ds_mm: f64, rng: &mut Pcg64Mcg) {
        if self.sd_lateral_mm == 0.0 && self.sd_speed == 0.0 {
            return;
        }
        let rho = (-ds_mm / self.length_mm).exp();
        let k = (1.0 - rho * rho).sqrt();
        let z1: f64 = rng.sample(StandardNormal);
        let z2: f64 = rng.sample(StandardNormal);
        self.lateral_mm = rho * self.lateral_mm + k * self.sd_lateral_mm * z1;
        self.speed_rel = rho * self.speed_rel + k * self.sd_speed * z2;
    }

    /// Speed factor, kept above 10 % of the nominal speed.
    fn speed_factor(&self) -> f64 {
        (1.0 + self.speed_rel).max(0.1)
    }
}

/// Sideways wobble (in standard deviations) within which a stamp may skip
/// the per-needle inside test; a wider excursion takes the careful path.
const SAFE_WOBBLE_SDS: f64 = 5.0;

/// The part `[a, b]` of the lane `start + s dir` (0 <= s <= length) where a
/// disk of radius `reach_mm` around the lane point lies inside the outline
/// and clear of every avoid region, or an empty interval when that cannot be
/// shown cheaply (a non-convex outline). For a convex outline, the rectangle
/// between the lines offset by +-reach, over the parameters where both lie
/// inside, is inside; shrinking it by `reach` at each end keeps the disks in it.
fn safe_interval(region: &Region, start: Vec2, dir: Vec2, length: f64, reach_mm: f64) -> (f64, f64) {
    const EMPTY: (f64, f64) = (f64::INFINITY, f64::NEG_INFINITY);
    if !region.outline.is_convex() {
        return EMPTY;
    }
    let normal = Vec2::new(-dir.y, dir.x);
    let r = reach_mm + 1e-9;
    let (mut a, mut b) = (0.0f64, length);
    for off in [-r, 0.0, r] {
        match region.outline.line_intervals(start + normal * off, dir).as_slice() {
            [(t0, t1)] => {
                a = a.max(*t0 + r);
                b = b.min(*t1 - r);
            }
            _ => return EMPTY,
        }
    }
    // Avoid regions: leave out the lane stretch their box (grown by reach) spans.
    let mut safe = vec![(a, b)];
    for avoid in &region.avoid {
        let bb = avoid.bounds();
        let corners = [bb.min_mm, bb.max_mm, Vec2::new(bb.min_mm.x, bb.max_mm.y), Vec2::new(bb.max_mm.x, bb.min_mm.y)];
        let along = corners.iter().map(|c| (c - start).dot(&dir));
        let across = corners.iter().map(|c| (c - start).dot(&normal));
        let (n0, n1) = across.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(x), h.max(x)));
        if n1 < -r || n0 > r {
            continue;
        }
        let (t0, t1) = along.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(x), h.max(x)));
        safe = crate::core::geometry::shape::subtract_intervals(&safe, &[(t0 - r, t1 + r)]);
    }
    // Keep the longest safe stretch (a lane usually has one).
    safe.into_iter().filter(|(a, b)| b > a).max_by(|x, y| (x.1 - x.0).total_cmp(&(y.1 - y.0))).unwrap_or(EMPTY)
}

/// Tries this many places for a random stamp before giving it up.
const MAX_PLACEMENT_TRIES: usize = 10_000;

/// Where the hand is on a lane: straight along it, or tracing small circles
/// whose centre advances along it (a trochoid). `advance` moves it `ds` mm
/// along its own path.
#[derive(Clone)]
struct HandPath {
    circles: Option<Circles>,
    /// Angle around the current circle, radians.
    phi: f64,
    /// Position of the circle's centre (or the hand) along the lane, mm.
    lane_mm: f64,
    /// The hand's position along the lane and across it, mm.
    along_mm: f64,
    across_mm: f64,
}

impl HandPath {
    /// Starts `start_mm` along the path.
    fn new(circles: Option<Circles>, start_mm: f64) -> HandPath {
        let mut p = HandPath { circles, phi: 0.0, lane_mm: 0.0, along_mm: 0.0, across_mm: 0.0 };
        p.advance(start_mm);
        p
    }

    fn advance(&mut self, ds: f64) {
        match self.circles {
            None => {
                self.lane_mm += ds;
                self.along_mm = self.lane_mm;
            }
            Some(c) => {
                // d(path)/d(phi) of x = a phi + r (cos phi - 1), y = r sin phi,
                // a = step / 2 pi; one midpoint step (ds is small against r).
                let a = c.step_mm / std::f64::consts::TAU;
                let speed =
                    |phi: f64| ((a - c.radius_mm * phi.sin()).powi(2) + (c.radius_mm * phi.cos()).powi(2)).sqrt();
                let half = ds / speed(self.phi).max(1e-9) / 2.0;
                self.phi += ds / speed(self.phi + half).max(1e-9);
                self.lane_mm = a * self.phi;
                self.along_mm = self.lane_mm + c.radius_mm * (self.phi.cos() - 1.0);
                self.across_mm = c.radius_mm * self.phi.sin();
            }
        }
    }
}

fn run_stroke(scene: &Scene, stroke: &Stroke, roller_order: &[usize]) -> StrokeOut {
    let zone = &scene.zones[stroke.zone];
    let region = &zone.region;
    let shape = ZoneShape::new(zone);
    let cart: &Cartridge = &scene.cartridge;
    let mut rng = Pcg64Mcg::seed_from_u64(stroke_seed(scene.seed, stroke.zone, stroke.pass, stroke.index_in_pass));
    let mut out = StrokeOut { keep_drags: scene.analysis.channel == Channel::Capsule, ..StrokeOut::default() };
    let (dwell, radius_mm) = (cart.dwell_fraction, cart.needle_radius_mm());
    // Expected punctures (+10 % for speed jitter): no regrowth while stamping.
    let expected = expected_stamps(stroke, &cart.drive) * cart.needle_count() as f64;
    out.punctures.reserve((expected * 1.1) as usize + 16);
    let pass = stroke.pass as u32;
    match (&stroke.kind, &cart.drive) {
        (StrokeKind::Line { start_mm, end_mm }, Drive::Pen { .. }) => {
            let rate_hz = stroke.rate_hz.expect("a pen pass has a rate (validated)");
            let length = (end_mm - start_mm).norm();
            let dir = (end_mm - start_mm) / length;
            let normal = Vec2::new(-dir.y, dir.x);
            let rot = match scene.hand.orientation {
                Orientation::Fixed => Rotation2::identity(),
                Orientation::Travel => Rotation2::new(dir.y.atan2(dir.x)),
            };
            let needles: Vec<Vec2> = cart.needles_mm.iter().map(|n| rot * n).collect();
            let mut noise = HandNoise::new(&scene.hand, &mut rng);
            // Circles swing the hand up to 2 radii back along the lane and one
            // to each side of it.
            let swing_mm = stroke.circles.map_or(0.0, |c| 2.0 * c.radius_mm);
            // Where the whole footprint is surely inside, needles need no test.
            let wobble_margin_mm = SAFE_WOBBLE_SDS * scene.hand.lateral_jitter_mm;
            let safe = safe_interval(region, *start_mm, dir, length, cart.reach_mm() + wobble_margin_mm + swing_mm);
            // The pen is already stamping when it reaches the lane: a random
            // phase (of the path: along the lane, or around the first circle).
            let mut s = rng.random::<f64>() * stroke.speed_mm_s / rate_hz;
            let mut path = HandPath::new(stroke.circles, s);
            let per_point = stroke.stamps_per_point.max(1) as u64;
            let mut i = 0u64;
            while path.along_mm <= length {
                let centre = start_mm + dir * path.along_mm + normal * (noise.lateral_mm + path.across_mm);
                let inside = s >= safe.0 && s <= safe.1 && noise.lateral_mm.abs() <= wobble_margin_mm;
                // One stamp step of true skin: on a curved zone the chart
                // step is the true one over the chart's stretch along the lane.
                let ds_true = stroke.speed_mm_s * noise.speed_factor() / rate_hz;
                let ds = match &zone.surface {
                    Some(sf) => {
                        // (At the step's middle: the stretch may change within it.)
                        let stretch = |p: Vec2| sf.stretch_along(p, dir).filter(|k| *k > 1e-6 && k.is_finite());
                        let at_start = stretch(centre);
                        let ds0 = ds_true / at_start.unwrap_or(1.0);
                        let mut ds = ds_true / stretch(centre + dir * (ds0 / 2.0)).or(at_start).unwrap_or(1.0);
                        // Then the 3D chord of the step made the true step (two corrections).
                        if let Some(a) = sf.to_3d(centre) {
                            for _ in 0..2 {
                                match sf.to_3d(centre + dir * ds).map(|b| (b - a).norm()) {
                                    Some(c) if c > 1e-9 => ds *= ds_true / c,
                                    _ => break,
                                }
                            }
                        }
                        ds
                    }
                    None => ds_true,
                };
                // The needles are in the skin for `dwell` of the cycle while
                // the hand moves on: each drags that share of the next step.
                let mut probe = path.clone();
                probe.advance(ds);
                let drag =
                    (dir * (probe.along_mm - path.along_mm) + normal * (probe.across_mm - path.across_mm)) * dwell;
                let drag_f = [drag.x as f32, drag.y as f32];
                for q in 0..per_point {
                    let t = (i + q) as f64 / rate_hz;
                    // Stamping in place, the hand moves on after the last.
                    let d = if q + 1 == per_point { drag_f } else { [0.0; 2] };
                    out.drag.add(if q + 1 == per_point { drag.norm() } else { 0.0 }, radius_mm);
                    if inside {
                        out.punctures.extend(needles.iter().map(|n| Puncture::new(centre + n, t, pass)));
                        if out.keep_drags {
                            out.drags.extend(needles.iter().map(|_| d));
                        }
                    } else {
                        for n in &needles {
                            out.place_dragged(&shape, centre + n, t, pass, d);
                        }
                    }
                }
                i += per_point;
                path.advance(ds);
                s = path.lane_mm;
                noise.advance(ds_true, &mut rng);
            }
            out.stamps = i;
            out.duration_s = i as f64 / rate_hz;
        }
        (StrokeKind::Line { start_mm, end_mm }, Drive::Roller { circumference_mm, axial_mm, contact_mm }) => {
            let length = (end_mm - start_mm).norm();
            let dir = (end_mm - start_mm) / length;
            let normal = Vec2::new(-dir.y, dir.x);
            let mut noise = HandNoise::new(&scene.hand, &mut rng);
            let phase = rng.random::<f64>() * circumference_mm;
            let (mut s_prev, mut t) = (0.0, 0.0);
            'drum: for rev in 0u64.. {
                for &k in roller_order {
                    let s = contact_mm[k] + rev as f64 * circumference_mm - phase;
                    if s < 0.0 {
                        continue;
                    }
                    if s > length {
                        break 'drum;
                    }
                    if s > s_prev {
                        t += (s - s_prev) / (stroke.speed_mm_s * noise.speed_factor());
                        noise.advance(s - s_prev, &mut rng);
                        s_prev = s;
                        out.stamps += 1;
                    }
                    let p = start_mm + dir * s + normal * (axial_mm[k] + noise.lateral_mm);
                    out.place(&shape, p, t, pass);
                }
            }
            out.duration_s = t + (length - s_prev) / stroke.speed_mm_s;
        }
        (StrokeKind::Trace { points }, Drive::Pen { .. }) => {
            let rate_hz = stroke.rate_hz.expect("a pen pass has a rate (validated)");
            let stamps = trajectory::pen_stamps(points, rate_hz);
            for (k, st) in stamps.iter().enumerate() {
                let rot = match scene.hand.orientation {
                    Orientation::Fixed => Rotation2::identity(),
                    Orientation::Travel => Rotation2::new(st.heading.y.atan2(st.heading.x)),
                };
                // The drag: `dwell` of the way to the next stamp, when the
                // pen stays on the skin until it (one cycle later).
                let drag = match stamps.get(k + 1) {
                    Some(next) if next.t_s - st.t_s <= 1.5 / rate_hz => (next.centre_mm - st.centre_mm) * dwell,
                    _ => Vec2::zeros(),
                };
                out.drag.add(drag.norm(), radius_mm);
                for n in &cart.needles_mm {
                    out.place_dragged(&shape, st.centre_mm + rot * n, st.t_s, pass, [drag.x as f32, drag.y as f32]);
                }
            }
            out.stamps = stamps.len() as u64;
            out.duration_s = trajectory::duration_s(points);
        }
        (StrokeKind::Trace { points }, Drive::Roller { circumference_mm, axial_mm, contact_mm }) => {
            let (contacts, moments) =
                trajectory::roller_contacts(points, *circumference_mm, axial_mm, contact_mm, roller_order);
            for (t, p) in contacts {
                out.place(&shape, p, t, pass);
            }
            out.stamps = moments;
            out.duration_s = trajectory::duration_s(points);
        }
        (StrokeKind::Random { stamps }, _) => {
            let rate_hz = stroke.rate_hz.unwrap_or(1.0);
            let b = region.bounds();
            let size = b.size_mm();
            // The places (and turns) first, in the order drawn.
            let mut points: Vec<(Vec2, f64)> = Vec::with_capacity(*stamps as usize);
            for _ in 0..*stamps {
                let mut centre = None;
                for _ in 0..MAX_PLACEMENT_TRIES {
                    let c = b.min_mm + Vec2::new(rng.random::<f64>() * size.x, rng.random::<f64>() * size.y);
                    let ok = shape.inside(c) && !(stroke.respect_avoid && shape.in_avoid(c));
                    if ok {
                        centre = Some(c);
                        break;
                    }
                }
                let angle = rng.random::<f64>() * std::f64::consts::TAU;
                match centre {
                    Some(c) => points.push((c, angle)),
                    None => out.unplaced += 1,
                }
            }
            // The hand visits them as a practitioner would: in strips across
            // the zone, alternate strips the other way (a serpentine tour,
            // strips sqrt(3 A / n) wide: about 0.92 sqrt(n A) long, near the
            // shortest tour's 0.71 sqrt(n A)).
            let strip = (3.0 * size.x * size.y / points.len().max(1) as f64).sqrt().max(1e-9);
            let key = |p: &Vec2| {
                let k = ((p.y - b.min_mm.y) / strip).floor() as i64;
                (k, if k % 2 == 0 { p.x } else { -p.x })
            };
            points.sort_by(|(p, _), (q, _)| {
                let (kp, kq) = (key(p), key(q));
                kp.0.cmp(&kq.0).then(kp.1.total_cmp(&kq.1))
            });
            // Stamping in place: the same point `stamps_per_point` times; the
            // hand glides to the next point and lifts and sets the pen down.
            let per_point = stroke.stamps_per_point.max(1) as u64;
            let mut t = 0.0;
            let mut last: Option<Vec2> = None;
            for &(c, angle) in &points {
                if let Some(prev) = last {
                    let d = (c - prev).norm();
                    out.path_mm += d;
                    t += d / stroke.speed_mm_s + scene.hand.lift_time_s;
                }
                last = Some(c);
                // The angle is drawn either way, so both orientations stamp
                // at the same places.
                let rot = match scene.hand.orientation {
                    Orientation::Fixed => Rotation2::identity(),
                    Orientation::Travel => Rotation2::new(angle),
                };
                for q in 0..per_point {
                    let tq = t + q as f64 / rate_hz;
                    // The hand stands still while it stamps: no drag.
                    out.drag.add(0.0, radius_mm);
                    for n in &cart.needles_mm {
                        out.place(&shape, c + rot * n, tq, pass);
                    }
                    out.stamps += 1;
                }
                t += per_point as f64 / rate_hz;
            }
            out.duration_s = t;
        }
    }
    out
}

/// Simulates `plan` on the current rayon pool.
pub fn simulate(scene: &Scene, plan: &Plan) -> Simulation {
    simulate_timed(scene, plan, &mut StageTimes::default())
}

/// Concatenates `parts`, shifting times by each part's clock offset; the
/// copying runs in parallel, straight into the new vector.
fn gather(parts: Vec<(&[Puncture], f64)>) -> Vec<Puncture> {
    let total: usize = parts.iter().map(|(p, _)| p.len()).sum();
    let mut out: Vec<Puncture> = Vec::with_capacity(total);
    let mut chunks = Vec::with_capacity(parts.len());
    let mut rest = &mut out.spare_capacity_mut()[..total];
    for (src, offset_s) in parts {
        let (head, tail) = rest.split_at_mut(src.len());
        chunks.push((head, src, offset_s));
        rest = tail;
    }
    chunks.into_par_iter().for_each(|(dst, src, offset_s)| {
        for (d, p) in dst.iter_mut().zip(src) {
            d.write(Puncture { t_s: (p.t_s as f64 + offset_s) as f32, ..*p });
        }
    });
    // SAFETY: the chunks tile the first `total` slots exactly (split_at_mut
    // by each part's length) and every slot of every chunk was written above.
    unsafe { out.set_len(total) };
    out
}

/// `simulate`, adding the time of each sub-stage to `times`.
pub fn simulate_timed(scene: &Scene, plan: &Plan, times: &mut StageTimes) -> Simulation {
    let t0 = Instant::now();
    let roller_order: Vec<usize> = match &scene.cartridge.drive {
        Drive::Roller { contact_mm, .. } => {
            let mut order: Vec<usize> = (0..contact_mm.len()).collect();
            order.sort_by(|&a, &b| contact_mm[a].total_cmp(&contact_mm[b]).then(a.cmp(&b)));
            order
        }
        Drive::Pen { .. } => Vec::new(),
    };
    let outs: Vec<StrokeOut> = plan.strokes.par_iter().map(|s| run_stroke(scene, s, &roller_order)).collect();
    times.add("simulate: strokes", t0.elapsed());

    let t1 = Instant::now();
    let mut zones: Vec<ZoneRun> = (0..scene.zones.len()).map(|_| ZoneRun::default()).collect();
    // The clock: zones are treated one after another, strokes in plan order,
    // with travel and turns between strokes; puncture times are global.
    let mut clock_s = 0.0;
    let mut offsets = Vec::with_capacity(outs.len());
    for (stroke, out) in plan.strokes.iter().zip(&outs) {
        let zr = &mut zones[stroke.zone];
        let mut travel_s = stroke.gap_before_mm / stroke.speed_mm_s;
        if stroke.turn_before {
            travel_s += scene.hand.turn_time_s;
        }
        zr.time_s += travel_s + out.duration_s;
        clock_s += travel_s;
        offsets.push(clock_s);
        clock_s += out.duration_s;
        zr.path_length_mm += stroke.gap_before_mm
            + match stroke.kind {
                StrokeKind::Line { .. } | StrokeKind::Trace { .. } => stroke.length_mm(),
                // From stamp to stamp in its serpentine order.
                StrokeKind::Random { .. } => out.path_mm,
            };
        zr.stamps += out.stamps;
        zr.unplaced_stamps += out.unplaced;
        if zr.pass_drag.len() <= stroke.pass {
            zr.pass_drag.resize(stroke.pass + 1, DragStats::default());
        }
        zr.pass_drag[stroke.pass].merge(&out.drag);
    }
    for (z, zr) in zones.iter_mut().enumerate() {
        let mine = || plan.strokes.iter().zip(&outs).zip(&offsets).filter(move |((s, _), _)| s.zone == z);
        zr.punctures = gather(mine().map(|((_, o), &t)| (o.punctures.as_slice(), t)).collect());
        zr.violations = gather(mine().map(|((_, o), &t)| (o.violations.as_slice(), t)).collect());
        zr.outside = gather(mine().map(|((_, o), &t)| (o.outside.as_slice(), t)).collect());
        zr.drags = mine().flat_map(|((_, o), _)| o.drags.iter().copied()).collect();
        // Passes run one after another, so each pass's punctures are contiguous.
        let passes = scene.zones[z].passes.len();
        let bounds: Vec<usize> =
            (0..=passes).map(|k| zr.punctures.partition_point(|p| (p.pass as usize) < k)).collect();
        zr.pass_ranges = (0..passes).map(|k| bounds[k]..bounds[k + 1]).collect();
    }
    times.add("simulate: merge", t1.elapsed());
    Simulation { zones }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::geometry::shape::Shape;
    use rand::RngExt;

    #[test]
    fn the_safe_stretch_of_a_lane_keeps_the_whole_footprint_treatable() {
        let region = Region {
            outline: Shape::Ellipse { center_mm: Vec2::new(35.0, 27.5), radius_u_mm: 35.0, radius_v_mm: 27.5 },
            avoid: vec![Shape::circle(Vec2::new(45.0, 30.0), 6.0)],
        };
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let reach = 2.5;
        let mut checked = 0;
        for lane in 0..200 {
            let angle = rng.random::<f64>() * std::f64::consts::TAU;
            let dir = Vec2::new(angle.cos(), angle.sin());
            let start = Vec2::new(35.0, 27.5) - dir * 40.0 + Vec2::new(-dir.y, dir.x) * (lane as f64 / 10.0 - 10.0);
            let (a, b) = safe_interval(&region, start, dir, 80.0, reach);
            if b < a {
                continue;
            }
            for _ in 0..200 {
                let s = a + rng.random::<f64>() * (b - a);
                let q = Vec2::new(rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5) * 2.0 * reach;
                if q.norm() <= reach {
                    assert!(region.treatable(start + dir * s + q), "lane {lane}: s = {s} in [{a}, {b}], offset {q:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked} points checked");
    }

    #[test]
    fn a_non_convex_outline_has_no_safe_stretch() {
        let u = Shape::Polygon {
            vertices_mm: [(0., 0.), (60., 0.), (60., 60.), (40., 60.), (40., 20.), (20., 20.), (20., 60.), (0., 60.)]
                .iter()
                .map(|&(x, y)| Vec2::new(x, y))
                .collect(),
        };
        let region = Region { outline: u, avoid: vec![] };
        let (a, b) = safe_interval(&region, Vec2::new(0.0, 10.0), Vec2::new(1.0, 0.0), 60.0, 2.0);
        assert!(b < a);
    }
}
