//! Flat 2D geometry in a zone's chart (mm): outlines, avoid regions, and the
//! questions the engine asks of them (inside?, where does a line cross?, area).
//!
//! Every shape answers `line_intervals`: the parameter intervals along a line
//! that lie inside it. Lanes are clipped with it and the analysis raster is
//! filled row by row with it, so clipping and area share one mechanism.

use nalgebra::Vector2;

/// A point or a vector in a zone's chart, in mm (u across, v up).
pub type Vec2 = Vector2<f64>;

/// A closed region of the chart plane.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// A simple polygon (counter-clockwise or clockwise, not self-intersecting).
    Polygon {
        /// The corners in order, mm; the last joins the first (not repeated).
        vertices_mm: Vec<Vec2>,
    },
    /// An axis-aligned ellipse; a circle when the radii are equal.
    Ellipse {
        /// Centre, mm.
        center_mm: Vec2,
        /// Half-width along u, mm.
        radius_u_mm: f64,
        /// Half-height along v, mm.
        radius_v_mm: f64,
    },
}

/// Why a polygon is not usable as a region.
#[derive(Clone, Debug, PartialEq)]
pub enum PolygonProblem {
    /// Fewer than 3 vertices (the number given).
    TooFewVertices(usize),
    /// A vertex has a coordinate that is not a finite number (its index).
    NotFinite(usize),
    /// The vertices enclose no area (collinear or repeated).
    ZeroArea,
    /// Two edges that do not share a vertex cross.
    SelfIntersecting {
        /// Index of the first edge (from vertex `edge_a` to the next).
        edge_a: usize,
        /// Index of the second edge.
        edge_b: usize,
    },
    /// Over 20 000 vertices whose long edges defeat the near-linear check.
    TooComplex(usize),
}

impl std::fmt::Display for PolygonProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooFewVertices(n) => write!(f, "has {n} vertices; a polygon needs at least 3"),
            Self::NotFinite(i) => write!(f, "vertex {i} is not a finite number"),
            Self::ZeroArea => write!(f, "encloses no area (its vertices are collinear or repeated)"),
            Self::SelfIntersecting { edge_a, edge_b } => {
                write!(f, "intersects itself (edges {edge_a} and {edge_b} cross)")
            }
            Self::TooComplex(n) => write!(
                f,
                "has {n} vertices with edges too long to check in reasonable time (over 20 000 vertices, the edges must be short: simplify the outline)"
            ),
        }
    }
}

/// Checks that `vertices` form a simple polygon with a positive area.
pub fn validate_polygon(vertices: &[Vec2]) -> Result<(), PolygonProblem> {
    let n = vertices.len();
    if n < 3 {
        return Err(PolygonProblem::TooFewVertices(n));
    }
    if let Some(i) = vertices.iter().position(|v| !v.x.is_finite() || !v.y.is_finite()) {
        return Err(PolygonProblem::NotFinite(i));
    }
    if let Some((a, b)) = first_crossing(vertices)? {
        return Err(PolygonProblem::SelfIntersecting { edge_a: a, edge_b: b });
    }
    if polygon_signed_area(vertices).abs() < 1e-9 {
        return Err(PolygonProblem::ZeroArea);
    }
    Ok(())
}

/// The first pair of non-adjacent edges (a < b, smallest a, then b) that
/// touch or cross, if any. Small polygons test every pair; larger ones only
/// the pairs sharing a cell of a grid of about n cells over the polygon's
/// box (each edge in the cells its box covers), so a scan's outline of 10^5
/// short edges checks in near-linear time. A polygon whose long edges would
/// fill the grid is tested pair by pair up to 20 000 vertices and refused
/// beyond that as too complex to check.
fn first_crossing(v: &[Vec2]) -> Result<Option<(usize, usize)>, PolygonProblem> {
    let n = v.len();
    let edge = |a: usize| (v[a], v[(a + 1) % n]);
    let test = |a: usize, b: usize| {
        let adjacent = b == a + 1 || (a == 0 && b == n - 1);
        let ((p1, p2), (q1, q2)) = (edge(a), edge(b));
        !adjacent && segments_intersect(p1, p2, q1, q2)
    };
    let all_pairs = || (0..n).flat_map(|a| ((a + 1)..n).map(move |b| (a, b))).find(|&(a, b)| test(a, b));
    if n <= 2000 {
        return Ok(all_pairs());
    }
    let (mut lo, mut hi) = (v[0], v[0]);
    for p in v {
        lo = Vec2::new(lo.x.min(p.x), lo.y.min(p.y));
        hi = Vec2::new(hi.x.max(p.x), hi.y.max(p.y));
    }
    let g = ((n as f64).sqrt().ceil() as usize).max(1);
    let size = Vec2::new((hi.x - lo.x).max(1e-12), (hi.y - lo.y).max(1e-12));
    let cell_of = |p: Vec2| {
        let c = |x: f64, l: f64, s: f64| (((x - l) / s * g as f64) as usize).min(g - 1);
        (c(p.x, lo.x, size.x), c(p.y, lo.y, size.y))
    };
    let mut cells: Vec<Vec<u32>> = vec![Vec::new(); g * g];
    let mut inserted = 0usize;
    for a in 0..n {
        let (p, q) = edge(a);
        let (c0, c1) = (cell_of(Vec2::new(p.x.min(q.x), p.y.min(q.y))), cell_of(Vec2::new(p.x.max(q.x), p.y.max(q.y))));
        inserted += (c1.0 - c0.0 + 1) * (c1.1 - c0.1 + 1);
        if inserted > 64 * n {
            // Long edges everywhere: the grid does not help.
            return if n <= 20_000 { Ok(all_pairs()) } else { Err(PolygonProblem::TooComplex(n)) };
        }
        for cy in c0.1..=c1.1 {
            for cx in c0.0..=c1.0 {
                cells[cy * g + cx].push(a as u32);
            }
        }
    }
    let mut best: Option<(usize, usize)> = None;
    for cell in &cells {
        for (i, &a) in cell.iter().enumerate() {
            for &b in &cell[i + 1..] {
                let (a, b) = (a.min(b) as usize, a.max(b) as usize);
                if best.is_none_or(|x| (a, b) < x) && test(a, b) {
                    best = Some((a, b));
                }
            }
        }
    }
    Ok(best)
}

fn cross(a: Vec2, b: Vec2) -> f64 {
    a.x * b.y - a.y * b.x
}

fn segments_intersect(p1: Vec2, p2: Vec2, q1: Vec2, q2: Vec2) -> bool {
    let d1 = cross(q2 - q1, p1 - q1);
    let d2 = cross(q2 - q1, p2 - q1);
    let d3 = cross(p2 - p1, q1 - p1);
    let d4 = cross(p2 - p1, q2 - p1);
    if ((d1 > 0.0) != (d2 > 0.0)) && ((d3 > 0.0) != (d4 > 0.0)) && d1 != 0.0 && d2 != 0.0 {
        return true;
    }
    let on = |a: Vec2, b: Vec2, p: Vec2, d: f64| {
        d == 0.0 && p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
    };
    on(q1, q2, p1, d1) || on(q1, q2, p2, d2) || on(p1, p2, q1, d3) || on(p1, p2, q2, d4)
}

fn polygon_signed_area(v: &[Vec2]) -> f64 {
    let n = v.len();
    (0..n).map(|i| cross(v[i], v[(i + 1) % n])).sum::<f64>() / 2.0
}

/// An axis-aligned box in the chart, mm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Lower-left corner, mm.
    pub min_mm: Vec2,
    /// Upper-right corner, mm.
    pub max_mm: Vec2,
}

impl Bounds {
    /// Width and height, mm.
    pub fn size_mm(&self) -> Vec2 {
        self.max_mm - self.min_mm
    }
    /// The smallest box holding both boxes.
    pub fn union(&self, o: &Bounds) -> Bounds {
        Bounds {
            min_mm: Vec2::new(self.min_mm.x.min(o.min_mm.x), self.min_mm.y.min(o.min_mm.y)),
            max_mm: Vec2::new(self.max_mm.x.max(o.max_mm.x), self.max_mm.y.max(o.max_mm.y)),
        }
    }
}

impl Shape {
    /// A `width_mm x height_mm` rectangle with its lower-left corner at the origin.
    pub fn rect(width_mm: f64, height_mm: f64) -> Shape {
        Shape::Polygon {
            vertices_mm: vec![
                Vec2::new(0.0, 0.0),
                Vec2::new(width_mm, 0.0),
                Vec2::new(width_mm, height_mm),
                Vec2::new(0.0, height_mm),
            ],
        }
    }

    /// A circle of `radius_mm` about `center_mm`.
    pub fn circle(center_mm: Vec2, radius_mm: f64) -> Shape {
        Shape::Ellipse { center_mm, radius_u_mm: radius_mm, radius_v_mm: radius_mm }
    }

    /// Whether the shape is convex (ellipses always; polygons when every turn
    /// goes the same way).
    pub fn is_convex(&self) -> bool {
        match self {
            Shape::Ellipse { .. } => true,
            Shape::Polygon { vertices_mm: v } => {
                let n = v.len();
                let turns: Vec<f64> =
                    (0..n).map(|i| cross(v[(i + 1) % n] - v[i], v[(i + 2) % n] - v[(i + 1) % n])).collect();
                turns.iter().all(|&t| t >= 0.0) || turns.iter().all(|&t| t <= 0.0)
            }
        }
    }

    /// Exact area, mm2.
    pub fn area_mm2(&self) -> f64 {
        match self {
            Shape::Polygon { vertices_mm } => polygon_signed_area(vertices_mm).abs(),
            Shape::Ellipse { radius_u_mm, radius_v_mm, .. } => std::f64::consts::PI * radius_u_mm * radius_v_mm,
        }
    }

    /// The axis-aligned bounding box.
    pub fn bounds(&self) -> Bounds {
        match self {
            Shape::Polygon { vertices_mm } => {
                let mut b = Bounds { min_mm: vertices_mm[0], max_mm: vertices_mm[0] };
                for v in vertices_mm {
                    b = b.union(&Bounds { min_mm: *v, max_mm: *v });
                }
                b
            }
            Shape::Ellipse { center_mm, radius_u_mm, radius_v_mm } => {
                let r = Vec2::new(*radius_u_mm, *radius_v_mm);
                Bounds { min_mm: center_mm - r, max_mm: center_mm + r }
            }
        }
    }

    /// Whether `p` lies inside (even-odd rule for polygons).
    pub fn contains(&self, p: Vec2) -> bool {
        match self {
            Shape::Polygon { vertices_mm: v } => {
                let n = v.len();
                let mut inside = false;
                let mut j = n - 1;
                for i in 0..n {
                    let (a, b) = (v[i], v[j]);
                    if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
                        inside = !inside;
                    }
                    j = i;
                }
                inside
            }
            Shape::Ellipse { center_mm, radius_u_mm, radius_v_mm } => {
                let d = p - center_mm;
                (d.x / radius_u_mm).powi(2) + (d.y / radius_v_mm).powi(2) <= 1.0
            }
        }
    }

    /// The intervals `[t0, t1]` (sorted, disjoint) of the line `origin + t * dir`
    /// that lie inside the shape. `dir` need not be a unit vector.
    pub fn line_intervals(&self, origin: Vec2, dir: Vec2) -> Vec<(f64, f64)> {
        match self {
            Shape::Polygon { vertices_mm: v } => {
                // Signed distance of each vertex from the line; an edge crosses
                // where the sign changes (0 counts as positive: half-open rule,
                // so a line through a vertex counts it once).
                let side = |p: Vec2| cross(dir, p - origin);
                let dd = dir.dot(&dir);
                let mut ts: Vec<f64> = Vec::new();
                let n = v.len();
                for i in 0..n {
                    let (a, b) = (v[i], v[(i + 1) % n]);
                    let (sa, sb) = (side(a), side(b));
                    if (sa >= 0.0) != (sb >= 0.0) {
                        let f = sa / (sa - sb);
                        let x = a + (b - a) * f;
                        ts.push((x - origin).dot(&dir) / dd);
                    }
                }
                ts.sort_by(f64::total_cmp);
                ts.chunks_exact(2).filter(|c| c[1] > c[0]).map(|c| (c[0], c[1])).collect()
            }
            Shape::Ellipse { center_mm, radius_u_mm, radius_v_mm } => {
                // Scale to the unit circle and solve |o + t d|^2 = 1.
                let o = Vec2::new((origin.x - center_mm.x) / radius_u_mm, (origin.y - center_mm.y) / radius_v_mm);
                let d = Vec2::new(dir.x / radius_u_mm, dir.y / radius_v_mm);
                let a = d.dot(&d);
                let b = 2.0 * o.dot(&d);
                let c = o.dot(&o) - 1.0;
                let disc = b * b - 4.0 * a * c;
                if disc <= 0.0 || a == 0.0 {
                    return Vec::new();
                }
                let s = disc.sqrt();
                vec![((-b - s) / (2.0 * a), (-b + s) / (2.0 * a))]
            }
        }
    }

    /// Where the line `origin + t dir` (`dir` a unit vector) comes within
    /// `r` of the shape (inside it or nearer than `r` to its boundary), as
    /// intervals of t, possibly overlapping. Exact for a polygon: its inside
    /// and, per edge, the line's chord through the capsule of radius r around
    /// the edge (convex, so one interval). An ellipse is taken as a polygon
    /// of 128 sides drawn around it (containing it), so the set only grows.
    pub fn near_intervals(&self, origin: Vec2, dir: Vec2, r: f64) -> Vec<(f64, f64)> {
        let vertices = match self {
            Shape::Polygon { vertices_mm } => vertices_mm.clone(),
            Shape::Ellipse { center_mm, radius_u_mm, radius_v_mm } => {
                // Vertices at sec(pi/n) of the radius: every side lies outside.
                let n = 128;
                let k = 1.0 / (std::f64::consts::PI / n as f64).cos();
                (0..n)
                    .map(|i| {
                        let a = std::f64::consts::TAU * (i as f64 + 0.5) / n as f64;
                        *center_mm + Vec2::new(radius_u_mm * k * a.cos(), radius_v_mm * k * a.sin())
                    })
                    .collect()
            }
        };
        let mut out = Shape::Polygon { vertices_mm: vertices.clone() }.line_intervals(origin, dir);
        if r <= 0.0 {
            return out;
        }
        let normal = Vec2::new(-dir.y, dir.x);
        // t where the line is within r of point c.
        let circle = |c: Vec2| -> Option<(f64, f64)> {
            let w = c - origin;
            let (along, across) = (w.dot(&dir), w.dot(&normal));
            (across.abs() <= r).then(|| {
                let h = (r * r - across * across).sqrt();
                (along - h, along + h)
            })
        };
        for i in 0..vertices.len() {
            let (a, b) = (vertices[i], vertices[(i + 1) % vertices.len()]);
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            for piece in [circle(a), circle(b)].into_iter().flatten() {
                lo = lo.min(piece.0);
                hi = hi.max(piece.1);
            }
            // The band of points projecting onto the edge within r of it:
            // 0 <= (p - a).u <= len and |(p - a) x u| <= r, each linear in t.
            let len = (b - a).norm();
            if len > 0.0 {
                let u = (b - a) / len;
                let w = origin - a;
                let mut band = (f64::NEG_INFINITY, f64::INFINITY);
                for (value, slope, min, max) in
                    [(w.dot(&u), dir.dot(&u), 0.0, len), (cross(u, w), cross(u, dir), -r, r)]
                {
                    if slope.abs() < 1e-12 {
                        if value < min || value > max {
                            band = (1.0, 0.0);
                        }
                    } else {
                        let (t0, t1) = ((min - value) / slope, (max - value) / slope);
                        band = (band.0.max(t0.min(t1)), band.1.min(t0.max(t1)));
                    }
                }
                if band.1 >= band.0 {
                    lo = lo.min(band.0);
                    hi = hi.max(band.1);
                }
            }
            if hi >= lo {
                out.push((lo, hi));
            }
        }
        out
    }

    /// The outline as a closed polyline (first point not repeated), for drawing.
    pub fn outline_mm(&self) -> Vec<Vec2> {
        match self {
            Shape::Polygon { vertices_mm } => vertices_mm.clone(),
            Shape::Ellipse { center_mm, radius_u_mm, radius_v_mm } => (0..128)
                .map(|i| {
                    let a = i as f64 / 128.0 * std::f64::consts::TAU;
                    center_mm + Vec2::new(radius_u_mm * a.cos(), radius_v_mm * a.sin())
                })
                .collect(),
        }
    }
}

/// The pieces two shapes have in common, each a simple polygon (an ellipse
/// taken as a 512-gon, whose area is 0.003 % short of the ellipse's), by
/// `i_overlay`'s boolean intersection. Two simply connected shapes meet in
/// pieces without holes; none when they do not overlap.
pub fn intersection(a: &Shape, b: &Shape) -> Vec<Vec<Vec2>> {
    use i_overlay::core::fill_rule::FillRule;
    use i_overlay::core::overlay_rule::OverlayRule;
    use i_overlay::float::single::SingleFloatOverlay;
    let ring = |s: &Shape| -> Vec<[f64; 2]> {
        match s {
            Shape::Polygon { vertices_mm } => vertices_mm.iter().map(|p| [p.x, p.y]).collect(),
            Shape::Ellipse { center_mm, radius_u_mm, radius_v_mm } => (0..512)
                .map(|i| {
                    let t = i as f64 / 512.0 * std::f64::consts::TAU;
                    [center_mm.x + radius_u_mm * t.cos(), center_mm.y + radius_v_mm * t.sin()]
                })
                .collect(),
        }
    };
    ring(a)
        .overlay(&ring(b), OverlayRule::Intersect, FillRule::EvenOdd)
        .into_iter()
        .filter_map(|shape| shape.into_iter().next())
        .map(|outer| outer.into_iter().map(|[u, v]| Vec2::new(u, v)).collect::<Vec<_>>())
        .filter(|piece| piece.len() >= 3)
        .collect()
}

/// Removes the `holes` from sorted disjoint `intervals`.
pub fn subtract_intervals(intervals: &[(f64, f64)], holes: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = intervals.to_vec();
    for &(h0, h1) in holes {
        let mut next = Vec::with_capacity(out.len() + 1);
        for &(a, b) in &out {
            if h1 <= a || h0 >= b {
                next.push((a, b));
                continue;
            }
            if h0 > a {
                next.push((a, h0));
            }
            if h1 < b {
                next.push((h1, b));
            }
        }
        out = next;
    }
    out
}

/// A zone's treatable region: an outline minus avoid regions.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// The zone outline.
    pub outline: Shape,
    /// Regions inside the outline that are not to be treated.
    pub avoid: Vec<Shape>,
}

impl Region {
    /// Whether `p` is in the outline and in none of the avoid regions.
    pub fn treatable(&self, p: Vec2) -> bool {
        self.outline.contains(p) && !self.in_avoid(p)
    }

    /// Whether `p` is in any of the avoid regions.
    pub fn in_avoid(&self, p: Vec2) -> bool {
        self.avoid.iter().any(|a| a.contains(p))
    }

    /// Intervals of the line inside the outline, with avoid regions cut out
    /// when `avoid` is [`Avoid::Cut`].
    pub fn line_intervals(&self, origin: Vec2, dir: Vec2, avoid: Avoid) -> Vec<(f64, f64)> {
        let inside = self.outline.line_intervals(origin, dir);
        if avoid == Avoid::Keep || self.avoid.is_empty() {
            return inside;
        }
        let mut holes: Vec<(f64, f64)> = self.avoid.iter().flat_map(|a| a.line_intervals(origin, dir)).collect();
        holes.sort_by(|a, b| a.0.total_cmp(&b.0));
        subtract_intervals(&inside, &holes)
    }

    /// The line's intervals inside the outline whose points all lie farther
    /// than `clearance_mm` from every avoid region: where a footprint of
    /// that reach, centred on the line, keeps out of them.
    pub fn clear_intervals(&self, origin: Vec2, dir: Vec2, clearance_mm: f64) -> Vec<(f64, f64)> {
        let inside = self.outline.line_intervals(origin, dir);
        let holes: Vec<(f64, f64)> =
            self.avoid.iter().flat_map(|a| a.near_intervals(origin, dir, clearance_mm)).collect();
        subtract_intervals(&inside, &holes)
    }

    /// Bounding box of the outline.
    pub fn bounds(&self) -> Bounds {
        self.outline.bounds()
    }
}

/// Whether a line's intervals inside a region leave out its avoid regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Avoid {
    /// Cut the avoid regions out (where the zone may be treated).
    Cut,
    /// Keep them in (the whole outline).
    Keep,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_line_intervals_clip_to_the_edges() {
        let r = Shape::rect(10.0, 4.0);
        let iv = r.line_intervals(Vec2::new(-5.0, 2.0), Vec2::new(1.0, 0.0));
        assert_eq!(iv.len(), 1);
        assert!((iv[0].0 - 5.0).abs() < 1e-12 && (iv[0].1 - 15.0).abs() < 1e-12);
    }

    #[test]
    fn concave_polygon_gives_two_intervals() {
        // A "U" shape: a horizontal line through the arms crosses twice.
        let u = Shape::Polygon {
            vertices_mm: [(0., 0.), (6., 0.), (6., 6.), (4., 6.), (4., 2.), (2., 2.), (2., 6.), (0., 6.)]
                .iter()
                .map(|&(x, y)| Vec2::new(x, y))
                .collect(),
        };
        let iv = u.line_intervals(Vec2::new(0.0, 4.0), Vec2::new(1.0, 0.0));
        assert_eq!(iv, vec![(0.0, 2.0), (4.0, 6.0)]);
        assert!((u.area_mm2() - 28.0).abs() < 1e-12);
    }

    #[test]
    fn ellipse_chord_matches_the_closed_form() {
        let e = Shape::Ellipse { center_mm: Vec2::new(0.0, 0.0), radius_u_mm: 4.0, radius_v_mm: 2.0 };
        let iv = e.line_intervals(Vec2::new(0.0, 1.0), Vec2::new(1.0, 0.0));
        let half = 4.0 * (1.0f64 - 0.25).sqrt();
        assert!((iv[0].0 + half).abs() < 1e-12 && (iv[0].1 - half).abs() < 1e-12);
    }

    #[test]
    fn the_grid_check_finds_the_same_first_crossing_as_every_pair() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(8);
        // Star polygons of 3 000 vertices (simple), then with one vertex
        // pulled out beyond the far side (crossing it) or two swapped.
        for trial in 0..6 {
            let n = 3000;
            let mut v: Vec<Vec2> = (0..n)
                .map(|k| {
                    let a = std::f64::consts::TAU * k as f64 / n as f64;
                    let r = 10.0 + rng.random::<f64>();
                    Vec2::new(r * a.cos(), r * a.sin())
                })
                .collect();
            match trial % 3 {
                1 => v[700] = Vec2::new(-v[700].x * 2.0, -v[700].y * 2.0),
                2 => v.swap(100, 1900),
                _ => {}
            }
            let every_pair = (0..n).flat_map(|a| ((a + 1)..n).map(move |b| (a, b))).find(|&(a, b)| {
                let adjacent = b == a + 1 || (a == 0 && b == n - 1);
                !adjacent && segments_intersect(v[a], v[(a + 1) % n], v[b], v[(b + 1) % n])
            });
            assert_eq!(first_crossing(&v), Ok(every_pair), "trial {trial}");
            assert_eq!(every_pair.is_some(), trial % 3 != 0, "trial {trial}: {every_pair:?}");
        }
    }

    #[test]
    fn a_huge_polygon_of_long_edges_is_refused_not_checked_for_minutes() {
        // 30 000 vertices alternating between two far points' neighbourhoods:
        // every edge spans the box.
        let v: Vec<Vec2> =
            (0..30_000).map(|k| Vec2::new(if k % 2 == 0 { 0.0 } else { 100.0 }, k as f64 * 1e-3)).collect();
        assert_eq!(validate_polygon(&v), Err(PolygonProblem::TooComplex(30_000)));
    }

    #[test]
    fn self_intersecting_bowtie_is_rejected() {
        let v: Vec<Vec2> = [(0., 0.), (2., 2.), (2., 0.), (0., 2.)].iter().map(|&(x, y)| Vec2::new(x, y)).collect();
        assert!(matches!(validate_polygon(&v), Err(PolygonProblem::SelfIntersecting { .. })));
        let sq: Vec<Vec2> = [(0., 0.), (2., 0.), (2., 2.), (0., 2.)].iter().map(|&(x, y)| Vec2::new(x, y)).collect();
        assert_eq!(validate_polygon(&sq), Ok(()));
        let line: Vec<Vec2> = [(0., 0.), (1., 1.), (2., 2.)].iter().map(|&(x, y)| Vec2::new(x, y)).collect();
        assert_eq!(validate_polygon(&line), Err(PolygonProblem::ZeroArea));
    }

    #[test]
    fn avoid_regions_are_cut_out_of_lanes() {
        let region = Region { outline: Shape::rect(10.0, 10.0), avoid: vec![Shape::circle(Vec2::new(5.0, 5.0), 1.0)] };
        let iv = region.line_intervals(Vec2::new(0.0, 5.0), Vec2::new(1.0, 0.0), Avoid::Cut);
        assert_eq!(iv.len(), 2);
        assert!((iv[0].1 - 4.0).abs() < 1e-12 && (iv[1].0 - 6.0).abs() < 1e-12);
    }
}
