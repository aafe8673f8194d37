//! Seams: where two mesh zones share a border on the skin. Zone-by-zone
//! work leaves a band along each border that one zone's lanes stop short of
//! (missed skin), while the cartridge's outer needles reach over the border
//! onto the neighbour (skin treated twice when the neighbour is treated too).
//!
//! Borders are found in 3D: a boundary edge of zone A whose two ends lie
//! within `MATCH_TOLERANCE_MM` of zone B's boundary belongs to their seam.
//! The band is everything within one cartridge reach of the border.

use crate::core::geometry::mesh::{Surface, Vec3};
use crate::core::geometry::shape::{Shape, Vec2};
use serde::Serialize;

/// How close (mm) a boundary vertex must be to the other zone's boundary to
/// count as shared: well under any mesh resolution, well over rounding.
pub const MATCH_TOLERANCE_MM: f64 = 0.25;

/// Narrowest band reported, mm (a single needle's cartridge has no reach).
pub const MIN_BAND_MM: f64 = 1.0;

/// A boundary edge: its ends in 3D and in the chart.
type Edge = ([Vec3; 2], [Vec2; 2]);

/// A border between zones `a` and `b`, as segments in each zone's chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Border {
    /// Index of the first zone in the scene (the lower index).
    pub a: usize,
    /// Index of the second zone in the scene.
    pub b: usize,
    /// The border as segments in zone `a`'s chart, mm.
    pub segments_a: Vec<[Vec2; 2]>,
    /// The border as segments in zone `b`'s chart, mm.
    pub segments_b: Vec<[Vec2; 2]>,
    /// Length on the skin, mm.
    pub length_mm: f64,
}

fn point_segment_distance(p: Vec3, a: Vec3, b: Vec3) -> f64 {
    let ab = b - a;
    let t = ((p - a).dot(&ab) / ab.norm_squared().max(1e-300)).clamp(0.0, 1.0);
    (a + ab * t - p).norm()
}

/// Distance in the chart from `p` to the nearest of `segments`.
pub fn chart_distance(p: Vec2, segments: &[[Vec2; 2]]) -> f64 {
    segments
        .iter()
        .map(|[a, b]| {
            let ab = b - a;
            let t = ((p - a).dot(&ab) / ab.norm_squared().max(1e-300)).clamp(0.0, 1.0);
            (a + ab * t - p).norm()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Longest piece of a clipped outline's edge mapped to 3D, chart mm: short
/// enough that the pieces follow the curved skin.
const CLIP_PIECE_MM: f64 = 1.0;

/// Boundary edges of a zone on `surface`: (3D ends, chart ends). The mesh's
/// outer loop, or for a zone clipped in its chart (`outline` given) the
/// outline's edges, cut into pieces of `CLIP_PIECE_MM` and lifted onto the
/// surface (a piece whose end does not lie on it is left out).
fn boundary(surface: &Surface, outline: Option<&Shape>) -> Vec<Edge> {
    if let Some(outline) = outline {
        let lift = |p: Vec2| {
            [Vec2::zeros(), Vec2::new(1e-4, 0.0), Vec2::new(-1e-4, 0.0), Vec2::new(0.0, 1e-4), Vec2::new(0.0, -1e-4)]
                .iter()
                .find_map(|d| surface.to_3d(p + d))
        };
        let ring = outline.outline_mm();
        let mut chart = Vec::new();
        for i in 0..ring.len() {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            let n = ((b - a).norm() / CLIP_PIECE_MM).ceil().max(1.0) as usize;
            chart.extend((0..n).map(|k| a + (b - a) * (k as f64 / n as f64)));
        }
        let lifted: Vec<Option<Vec3>> = chart.iter().map(|&p| lift(p)).collect();
        return (0..chart.len())
            .filter_map(|i| {
                let j = (i + 1) % chart.len();
                Some(([lifted[i]?, lifted[j]?], [chart[i], chart[j]]))
            })
            .collect();
    }
    let m = &surface.mesh;
    let Some(outer) = m.boundary_loops().into_iter().next() else { return Vec::new() };
    (0..outer.len())
        .map(|i| {
            let (u, v) = (outer[i] as usize, outer[(i + 1) % outer.len()] as usize);
            ([m.positions_mm[u], m.positions_mm[v]], [m.chart_mm[u], m.chart_mm[v]])
        })
        .collect()
}

/// Edges of `mine` lying along `theirs` (both ends within tolerance).
fn shared(mine: &[Edge], theirs: &[Edge]) -> Vec<Edge> {
    let near = |p: Vec3| theirs.iter().any(|(e, _)| point_segment_distance(p, e[0], e[1]) <= MATCH_TOLERANCE_MM);
    mine.iter().filter(|(e, _)| near(e[0]) && near(e[1])).cloned().collect()
}

/// Every border shared by two mesh zones, given each zone's surface in the
/// scene's order (`None` for flat zones), with its outline when the zone is
/// clipped in its chart; a border's `a` and `b` index it.
pub fn find_borders(surfaces: &[Option<(&Surface, Option<&Shape>)>]) -> Vec<Border> {
    let edges: Vec<Option<Vec<Edge>>> = surfaces.iter().map(|s| s.map(|(s, o)| boundary(s, o))).collect();
    let bounds: Vec<Option<(Vec3, Vec3)>> = edges
        .iter()
        .map(|e| {
            e.as_ref().map(|e| {
                let mut lo = Vec3::repeat(f64::INFINITY);
                let mut hi = Vec3::repeat(f64::NEG_INFINITY);
                for (s, _) in e {
                    for p in s {
                        lo = lo.inf(p);
                        hi = hi.sup(p);
                    }
                }
                (lo, hi)
            })
        })
        .collect();
    let mut out = Vec::new();
    for a in 0..surfaces.len() {
        for b in a + 1..surfaces.len() {
            let (Some(ea), Some(eb), Some(ba), Some(bb)) = (&edges[a], &edges[b], bounds[a], bounds[b]) else {
                continue;
            };
            let t = Vec3::repeat(MATCH_TOLERANCE_MM);
            if (0..3).any(|k| ba.0[k] - t[k] > bb.1[k] || bb.0[k] - t[k] > ba.1[k]) {
                continue;
            }
            let sa = shared(ea, eb);
            let sb = shared(eb, ea);
            if sa.is_empty() || sb.is_empty() {
                continue;
            }
            let length_mm = sa.iter().map(|(e, _)| (e[1] - e[0]).norm()).sum();
            out.push(Border {
                a,
                b,
                segments_a: sa.into_iter().map(|(_, c)| c).collect(),
                segments_b: sb.into_iter().map(|(_, c)| c).collect(),
                length_mm,
            });
        }
    }
    out
}

/// One zone's side of a seam.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeamSide {
    /// Name of the zone this side belongs to.
    pub zone: String,
    /// True area of the band on this side, mm2.
    pub band_mm2: f64,
    /// Part of the band no needle disk touched, mm2.
    pub missed_mm2: f64,
    /// `missed_mm2` over `band_mm2` (0..1).
    pub missed_share: f64,
    /// Density in the band, punctures/cm2.
    pub band_density_per_cm2: f64,
    /// `band_density_per_cm2` over the zone's mean density (1 = as dense as the zone overall).
    pub density_ratio: f64,
    /// Needles of this zone's passes that landed beyond the border, on the neighbour.
    pub reached_over: u64,
}

/// A seam between two zones.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Seam {
    /// Names of the two zones, in scene order.
    pub zones: [String; 2],
    /// Length of the border on the skin, mm.
    pub border_mm: f64,
    /// Half-width of the band on each side of the border, mm.
    pub band_mm: f64,
    /// Each zone's side of the seam, in the order of `zones`.
    pub sides: [SeamSide; 2],
    /// Missed skin along the seam, both sides, mm2.
    pub missed_mm2: f64,
    /// `missed_mm2` over the area of the band on both sides (0..1).
    pub missed_share: f64,
    /// For comparison: the two zones' untouched share over their whole area.
    pub zones_missed_share: f64,
    /// Upper bound of the skin treated twice: needle disks that reached over
    /// the border (each counted whole, overlaps not removed), mm2.
    pub reached_over_mm2: f64,
}
