//! Built-in anatomy: a procedural, stylised adult head and body parts, each a
//! named zone with a mesh, a chart, avoid regions, a recommended depth range
//! and a default target band. Deterministic for a given resolution.
//!
//! The head is one smooth surface: an ellipsoid (half-width 78 mm, half-height
//! 115 mm, half-depth 95 mm) with a nose, eye sockets, cheekbones, lips and a
//! chin added along the normal and the jaw narrowed. Its zones are rectangles
//! in (azimuth theta, elevation phi), so neighbouring zones share borders.
//! Frame: x to the patient's left (the practitioner's right), y up, z out of
//! the face; theta = 0 faces the practitioner. A head zone's chart measures
//! true arc length across each row (so lanes keep their spacing over the
//! nose) and up the middle column, with u left to right as the practitioner
//! faces the patient and v up. Body parts are cylinder patches with exact
//! (isometric) charts.

use crate::core::geometry::mesh::{Mesh, Vec3};
use crate::core::geometry::shape::{Shape, Vec2};

/// Recommended needle depth of a zone, mm: thin skin and thick skin.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct DepthRange {
    /// [shallowest, deepest] for thin skin, mm.
    pub thin_mm: [f64; 2],
    /// [shallowest, deepest] for thick skin, mm.
    pub thick_mm: [f64; 2],
}

/// A built-in zone, generated.
#[derive(Clone, Debug, PartialEq)]
pub struct BuiltinZone {
    /// Zone name, as used in `mesh = "builtin:NAME"` (e.g. `forehead`).
    pub name: &'static str,
    /// The zone's mesh, with its chart (mm).
    pub mesh: Mesh,
    /// Avoid regions in the zone's chart.
    pub avoid: Vec<Shape>,
    /// Recommended needle depth for thin and thick skin.
    pub depth: DepthRange,
    /// Default target band, [low, high] punctures/cm² ([`DEFAULT_TARGET_PER_CM2`]).
    pub target_per_cm2: [f64; 2],
    /// One-line description of the area covered (e.g. "forehead, brow to hairline").
    pub description: &'static str,
}

/// Default target band of the built-in zones: the practitioners' example band
/// of the design notes (1500-3000 punctures/cm2 at 0.5 mm with a 12-pin pen).
pub const DEFAULT_TARGET_PER_CM2: [f64; 2] = [1500.0, 3000.0];

// Manufacturer depth chart (thin / thick skin, mm), ../shared/DESIGN.md.
const FOREHEAD: DepthRange = DepthRange { thin_mm: [0.25, 0.5], thick_mm: [0.5, 0.75] };
const NOSE: DepthRange = DepthRange { thin_mm: [0.25, 0.25], thick_mm: [0.5, 0.5] };
const UPPER_LIP: DepthRange = DepthRange { thin_mm: [0.25, 0.25], thick_mm: [0.25, 0.75] };
const CHEEK_CHIN: DepthRange = DepthRange { thin_mm: [0.5, 1.0], thick_mm: [1.0, 2.0] };
// Not in the chart; assumed: temples like the periorbital area (thin skin
// over bone), neck and decolletage like the forehead's thick skin, and the
// body (abdomen, thigh) at the chart's stretch-mark depth.
const TEMPLE: DepthRange = DepthRange { thin_mm: [0.25, 0.25], thick_mm: [0.25, 0.5] };
const NECK: DepthRange = DepthRange { thin_mm: [0.25, 0.5], thick_mm: [0.5, 1.0] };
const BODY: DepthRange = DepthRange { thin_mm: [1.0, 1.5], thick_mm: [1.5, 2.0] };

fn smoothstep(e0: f64, e1: f64, x: f64) -> f64 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn gauss(dx: f64, sx: f64, dy: f64, sy: f64) -> f64 {
    (-(dx / sx).powi(2) - (dy / sy).powi(2)).exp()
}

/// The head surface at azimuth `theta` and elevation `phi`, degrees.
pub fn head_mm(theta_deg: f64, phi_deg: f64) -> Vec3 {
    let (a, b, c) = (78.0, 115.0, 95.0);
    let (th, ph) = (theta_deg.to_radians(), phi_deg.to_radians());
    // Narrower jaw towards the chin.
    let jaw = 1.0 - 0.22 * smoothstep(-25.0, -62.0, phi_deg);
    let p = Vec3::new(a * jaw * ph.cos() * th.sin(), b * ph.sin(), c * ph.cos() * th.cos());
    let n = Vec3::new(p.x / (a * a), p.y / (b * b), p.z / (c * c)).normalize();
    let (t, f) = (theta_deg, phi_deg);
    // Nose: a ridge widening and rising towards its tip at phi = -14.
    let along = smoothstep(18.0, -14.0, f) * (1.0 - smoothstep(-15.0, -25.0, f));
    let nose = 21.0 * along * (-(t / (5.0 + 0.12 * (18.0 - f).max(0.0))).powi(2)).exp();
    let eyes = -7.0 * (gauss(t - 33.0, 13.0, f - 10.0, 7.0) + gauss(t + 33.0, 13.0, f - 10.0, 7.0));
    let cheekbones = 5.0 * (gauss(t.abs() - 42.0, 14.0, f + 4.0, 10.0));
    let lips = 4.0 * gauss(t, 14.0, f + 34.0, 5.0);
    let chin = 8.0 * gauss(t, 20.0, f + 56.0, 8.0);
    p + n * (nose + eyes + cheekbones + lips + chin)
}

struct HeadZone {
    name: &'static str,
    theta: [f64; 2],
    phi: [f64; 2],
    /// Avoid ellipses in (theta, phi): centre and radii, degrees.
    avoid: &'static [([f64; 2], [f64; 2])],
    depth: DepthRange,
    description: &'static str,
}

const HEAD_ZONES: &[HeadZone] = &[
    HeadZone {
        name: "forehead",
        theta: [-62.0, 62.0],
        phi: [20.0, 52.0],
        avoid: &[],
        depth: FOREHEAD,
        description: "forehead, brow to hairline",
    },
    HeadZone {
        name: "temple-right",
        theta: [-85.0, -62.0],
        phi: [-10.0, 52.0],
        avoid: &[],
        depth: TEMPLE,
        description: "patient's right temple",
    },
    HeadZone {
        name: "temple-left",
        theta: [62.0, 85.0],
        phi: [-10.0, 52.0],
        avoid: &[],
        depth: TEMPLE,
        description: "patient's left temple",
    },
    HeadZone {
        name: "nose",
        theta: [-13.0, 13.0],
        phi: [-24.0, 20.0],
        avoid: &[([-5.0, -20.0], [4.0, 2.5]), ([5.0, -20.0], [4.0, 2.5])],
        depth: NOSE,
        description: "nose; nostrils avoided",
    },
    HeadZone {
        name: "cheek-right",
        theta: [-62.0, -13.0],
        phi: [-46.0, 20.0],
        avoid: &[([-33.0, 12.0], [19.0, 10.0])],
        depth: CHEEK_CHIN,
        description: "patient's right cheek; periorbital area and eye avoided",
    },
    HeadZone {
        name: "cheek-left",
        theta: [13.0, 62.0],
        phi: [-46.0, 20.0],
        avoid: &[([33.0, 12.0], [19.0, 10.0])],
        depth: CHEEK_CHIN,
        description: "patient's left cheek; periorbital area and eye avoided",
    },
    HeadZone {
        name: "perioral",
        theta: [-13.0, 13.0],
        phi: [-46.0, -24.0],
        avoid: &[([0.0, -34.0], [11.0, 4.5])],
        depth: UPPER_LIP,
        description: "upper lip and perioral area; lips avoided",
    },
    HeadZone {
        name: "chin",
        theta: [-30.0, 30.0],
        phi: [-64.0, -46.0],
        avoid: &[],
        depth: CHEEK_CHIN,
        description: "chin",
    },
    HeadZone {
        name: "jawline-right",
        theta: [-75.0, -30.0],
        phi: [-64.0, -46.0],
        avoid: &[],
        depth: CHEEK_CHIN,
        description: "patient's right jawline",
    },
    HeadZone {
        name: "jawline-left",
        theta: [30.0, 75.0],
        phi: [-64.0, -46.0],
        avoid: &[],
        depth: CHEEK_CHIN,
        description: "patient's left jawline",
    },
];

struct BodyZone {
    name: &'static str,
    /// Cylinder about a vertical axis: radius, azimuth range (deg), height range (mm), axis centre (x, z).
    radius_mm: f64,
    theta: [f64; 2],
    y_mm: [f64; 2],
    axis_mm: [f64; 2],
    depth: DepthRange,
    description: &'static str,
}

const BODY_ZONES: &[BodyZone] = &[
    BodyZone {
        name: "neck",
        radius_mm: 58.0,
        theta: [-80.0, 80.0],
        y_mm: [-230.0, -150.0],
        axis_mm: [0.0, 0.0],
        depth: NECK,
        description: "front of the neck (a cylinder)",
    },
    BodyZone {
        name: "decolletage",
        radius_mm: 220.0,
        theta: [-28.0, 28.0],
        y_mm: [-370.0, -250.0],
        axis_mm: [0.0, -120.0],
        depth: NECK,
        description: "upper chest",
    },
    BodyZone {
        name: "abdomen",
        radius_mm: 150.0,
        theta: [-55.0, 55.0],
        y_mm: [-800.0, -580.0],
        axis_mm: [0.0, -40.0],
        depth: BODY,
        description: "abdomen",
    },
    BodyZone {
        name: "thigh",
        radius_mm: 85.0,
        theta: [-90.0, 90.0],
        y_mm: [-1350.0, -1090.0],
        axis_mm: [120.0, 0.0],
        depth: BODY,
        description: "front of the left thigh",
    },
];

/// Names of the built-in zones, head first.
pub fn names() -> Vec<&'static str> {
    HEAD_ZONES.iter().map(|z| z.name).chain(BODY_ZONES.iter().map(|z| z.name)).collect()
}

/// Coarsest and finest mesh resolutions accepted, mm between vertices.
pub const RESOLUTION_RANGE_MM: [f64; 2] = [0.5, 20.0];
/// Default mesh resolution: 2 mm between vertices, finer than the curvature
/// of any built-in feature needs.
pub const DEFAULT_RESOLUTION_MM: f64 = 2.0;

/// Generates a built-in zone with vertices about `resolution_mm` apart.
pub fn builtin(name: &str, resolution_mm: f64) -> Option<BuiltinZone> {
    if let Some(z) = HEAD_ZONES.iter().find(|z| z.name == name) {
        return Some(head_zone(z, resolution_mm));
    }
    BODY_ZONES.iter().find(|z| z.name == name).map(|z| body_zone(z, resolution_mm))
}

/// Grid steps so that edges are about `resolution_mm` long; even, so the
/// middle line of a zone is a line of vertices.
fn steps(length_mm: f64, resolution_mm: f64) -> usize {
    let n = ((length_mm / resolution_mm).ceil() as usize).max(2);
    n + n % 2
}

fn head_zone(z: &HeadZone, resolution_mm: f64) -> BuiltinZone {
    let param = |s: f64, t: f64| (z.theta[0] + s * (z.theta[1] - z.theta[0]), z.phi[0] + t * (z.phi[1] - z.phi[0]));
    let surface = |s: f64, t: f64| {
        let (th, ph) = param(s, t);
        head_mm(th, ph)
    };
    // Arc lengths along the middle lines set the grid size.
    let arc =
        |f: &dyn Fn(f64) -> Vec3| (0..64).map(|i| (f((i + 1) as f64 / 64.0) - f(i as f64 / 64.0)).norm()).sum::<f64>();
    let width = arc(&|s| surface(s, 0.5));
    let height = arc(&|t| surface(0.5, t));
    let (nu, nv) = (steps(width, resolution_mm), steps(height, resolution_mm));
    let mut mesh = Mesh::from_grid(nu, nv, surface);
    mesh.set_grid_arc_length_chart(nu, nv);
    // Avoid ellipses: trace them in (theta, phi), carry them to the chart
    // through the grid (bilinear within a quad); outside the zone, clamp.
    let to_chart = |th: f64, ph: f64| {
        let s = ((th - z.theta[0]) / (z.theta[1] - z.theta[0])).clamp(0.0, 1.0) * nu as f64;
        let t = ((ph - z.phi[0]) / (z.phi[1] - z.phi[0])).clamp(0.0, 1.0) * nv as f64;
        let (i, j) = ((s as usize).min(nu - 1), (t as usize).min(nv - 1));
        let (fs, ft) = (s - i as f64, t - j as f64);
        let c = |i: usize, j: usize| mesh.chart_mm[j * (nu + 1) + i];
        c(i, j) * (1.0 - fs) * (1.0 - ft)
            + c(i + 1, j) * fs * (1.0 - ft)
            + c(i, j + 1) * (1.0 - fs) * ft
            + c(i + 1, j + 1) * fs * ft
    };
    let avoid = z
        .avoid
        .iter()
        .map(|(c, r)| Shape::Polygon {
            vertices_mm: (0..64)
                .map(|k| {
                    let a = k as f64 / 64.0 * std::f64::consts::TAU;
                    to_chart(c[0] + r[0] * a.cos(), c[1] + r[1] * a.sin())
                })
                .collect(),
        })
        .collect();
    BuiltinZone {
        name: z.name,
        mesh,
        avoid,
        depth: z.depth,
        target_per_cm2: DEFAULT_TARGET_PER_CM2,
        description: z.description,
    }
}

fn body_zone(z: &BodyZone, resolution_mm: f64) -> BuiltinZone {
    let (t0, t1) = (z.theta[0].to_radians(), z.theta[1].to_radians());
    let width = z.radius_mm * (t1 - t0);
    let height = z.y_mm[1] - z.y_mm[0];
    let mut mesh = Mesh::from_grid(steps(width, resolution_mm), steps(height, resolution_mm), |s, t| {
        let th = t0 + s * (t1 - t0);
        Vec3::new(z.axis_mm[0] + z.radius_mm * th.sin(), z.y_mm[0] + t * height, z.axis_mm[1] + z.radius_mm * th.cos())
    });
    // The unrolled cylinder: exact arc length across, height up.
    mesh.chart_mm = mesh.chart_mm.iter().map(|st| Vec2::new(st.x * width, st.y * height)).collect();
    BuiltinZone {
        name: z.name,
        mesh,
        avoid: Vec::new(),
        depth: z.depth,
        target_per_cm2: DEFAULT_TARGET_PER_CM2,
        description: z.description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_zone_is_a_valid_patch_with_a_simple_chart_outline() {
        for name in names() {
            let z = builtin(name, 4.0).unwrap();
            assert_eq!(z.mesh.validate_3d(), Ok(()), "{name}");
            assert!(z.mesh.chart_outline().is_ok(), "{name}: {:?}", z.mesh.chart_outline().err());
            let d = z.mesh.distortion();
            assert!(d.area_stretch_max < 1.6 && d.area_stretch_min > 0.5, "{name}: {d:?}");
        }
    }

    /// The borders two head zones share, from their (theta, phi) rectangles
    /// alone: the zones' names and the border's two ends in (theta, phi), deg.
    fn shared_borders() -> Vec<(&'static str, &'static str, [f64; 2], [f64; 2])> {
        let overlap = |x: [f64; 2], y: [f64; 2]| [x[0].max(y[0]), x[1].min(y[1])];
        let mut out = Vec::new();
        for (i, a) in HEAD_ZONES.iter().enumerate() {
            for b in &HEAD_ZONES[i + 1..] {
                let (th, ph) = (overlap(a.theta, b.theta), overlap(a.phi, b.phi));
                // One above the other along a row of phi, or side by side along a column of theta.
                for phi in [a.phi[0], a.phi[1]] {
                    if th[1] > th[0] && (phi == b.phi[0] || phi == b.phi[1]) {
                        out.push((a.name, b.name, [th[0], phi], [th[1], phi]));
                    }
                }
                for theta in [a.theta[0], a.theta[1]] {
                    if ph[1] > ph[0] && (theta == b.theta[0] || theta == b.theta[1]) {
                        out.push((a.name, b.name, [theta, ph[0]], [theta, ph[1]]));
                    }
                }
            }
        }
        out
    }

    /// Distance from `p` to the segment `a`-`b`.
    fn to_segment(p: Vec3, a: Vec3, b: Vec3) -> f64 {
        let d = b - a;
        let t = ((p - a).dot(&d) / d.norm_squared()).clamp(0.0, 1.0);
        (p - (a + d * t)).norm()
    }

    #[test]
    fn head_zones_meet_along_shared_borders() {
        let borders = shared_borders();
        // The guide's full face (these ten zones) has 19 seams.
        assert_eq!(borders.len(), 19, "{borders:?}");
        for (a, b, from, to) in borders {
            // The border on the head surface, t in [0, 1] from one end to the other.
            let curve = |t: f64| head_mm(from[0] + t * (to[0] - from[0]), from[1] + t * (to[1] - from[1]));
            for name in [a, b] {
                let mesh = builtin(name, 3.0).unwrap().mesh;
                let edges: Vec<(Vec3, Vec3)> = mesh
                    .boundary_loops()
                    .iter()
                    .flat_map(|l| (0..l.len()).map(move |k| (l[k], l[(k + 1) % l.len()])))
                    .map(|(i, j)| (mesh.positions_mm[i as usize], mesh.positions_mm[j as usize]))
                    .collect();
                // The boundary's vertices lie on the curve; between them its
                // chords stray from it by at most |c''| dt^2 / 8, with dt, the
                // step in t between vertices, at most the longest boundary
                // edge over the curve's slowest speed |c'|. Derivatives by
                // central differences; a factor 2 for the estimates.
                let longest = edges.iter().map(|(p, q)| (q - p).norm()).fold(0.0, f64::max);
                let h = 1e-4;
                let (mut slowest, mut bend) = (f64::INFINITY, 0.0f64);
                for k in 0..=200 {
                    let t = (k as f64 / 200.0).clamp(h, 1.0 - h);
                    slowest = slowest.min(((curve(t + h) - curve(t - h)) / (2.0 * h)).norm());
                    bend = bend.max(((curve(t + h) - curve(t) * 2.0 + curve(t - h)) / (h * h)).norm());
                }
                let dt = longest / slowest;
                let tol = 2.0 * bend * dt * dt / 8.0 + 1e-9;
                let worst = (0..=50)
                    .map(|k| {
                        let p = curve(k as f64 / 50.0);
                        edges.iter().map(|&(q, r)| to_segment(p, q, r)).fold(f64::INFINITY, f64::min)
                    })
                    .fold(0.0, f64::max);
                assert!(
                    worst <= tol,
                    "{a} | {b}: {name}'s outline passes {worst:.4} mm from the border (tolerance {tol:.4} mm)"
                );
            }
        }
    }

    #[test]
    fn charts_keep_the_patients_left_on_the_right_and_up_up() {
        // On every triangle of every zone, the chart's +u runs towards the
        // patient's left (+x) and its +v up (+y): the columns of the map from
        // chart to surface, d(3D)/du and d(3D)/dv, have positive x and y.
        for name in names() {
            let m = builtin(name, 4.0).unwrap().mesh;
            for (t, tri) in m.triangles.iter().enumerate() {
                let [p0, p1, p2] = tri.map(|i| m.positions_mm[i as usize]);
                let [c0, c1, c2] = tri.map(|i| m.chart_mm[i as usize]);
                let (e1, e2, q1, q2) = (c1 - c0, c2 - c0, p1 - p0, p2 - p0);
                let det = e1.x * e2.y - e1.y * e2.x;
                let du = (q1 * e2.y - q2 * e1.y) / det;
                let dv = (q2 * e1.x - q1 * e2.x) / det;
                assert!(du.x > 0.0, "{name}, triangle {t}: chart u runs to {du:?} in 3D, not to the patient's left");
                assert!(dv.y > 0.0, "{name}, triangle {t}: chart v runs to {dv:?} in 3D, not up");
            }
        }
    }
}
