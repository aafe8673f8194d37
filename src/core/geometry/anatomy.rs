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

/// The head's ellipsoid, mm: half-width (eurion to eurion 148), half-height
/// (vertex to the centre) and half-depth (glabella to opisthocranion 192).
const HEAD_A: f64 = 74.0;
const HEAD_B: f64 = 118.0;
const HEAD_C: f64 = 96.0;

// Facial landmarks, mm: heights (y) above the head's centre and half
// distances across (x). Rounded from the means of young adult men and
// women, North American whites, in Farkas, "Anthropometry of the Head and
// Face" (2nd ed., Raven Press, 1994), which Farkas, Katic & Forrest, J.
// Craniofac. Surg. 16:615 (2005) repeat as their reference norms: en-en 32,
// ex-ex 90, palpebral fissure height 10, n-sn 53, al-al 33, sn-prn 19,
// ch-ch 52, sn-sto 21, upper and lower vermilion 9 and 10, n-gn 117,
// zy-zy 134, go-go 94, eu-eu 148, g-op 192, ear length 61 and width 34. The
// iris (11.7 mm across) is the usual clinical figure. A stylised head, not
// a measured one: the landmarks are placed, the surface between them shaped
// by eye.
const PUPIL_Y: f64 = 14.0;
const EN_X: f64 = 16.0;
const EX_X: f64 = 45.0;
const FISSURE_MM: f64 = 10.0;
const IRIS_R_MM: f64 = 5.85;
const NASION_Y: f64 = 18.0;
const SN_Y: f64 = NASION_Y - 53.0;
const PRN_Y: f64 = SN_Y + 9.0;
const PRN_MM: f64 = 19.0;
const AL_X: f64 = 16.5;
const STO_Y: f64 = SN_Y - 21.0;
const CH_X: f64 = 26.0;
const UPPER_VERMILION_MM: f64 = 9.0;
const LOWER_VERMILION_MM: f64 = 10.0;
const GN_Y: f64 = NASION_Y - 117.0;
const EAR_LENGTH_MM: f64 = 61.0;
const EAR_WIDTH_MM: f64 = 34.0;

/// Elevation of height `y`, degrees.
fn phi_of(y: f64) -> f64 {
    (y / HEAD_B).clamp(-1.0, 1.0).asin().to_degrees()
}

/// The jaw's narrowing across (x) at elevation `phi`: to go-go 94 at the
/// gonion's height (y = -70) and narrower towards the chin.
fn jaw(phi_deg: f64) -> f64 {
    1.0 - 0.288 * smoothstep(-10.0, -50.0, phi_deg)
}

/// Azimuth of a point `x` mm across at elevation `phi` on the ellipsoid, degrees.
fn theta_of(x: f64, phi_deg: f64) -> f64 {
    (x / (HEAD_A * jaw(phi_deg) * phi_deg.to_radians().cos())).clamp(-1.0, 1.0).asin().to_degrees()
}

/// The landmarks in (theta, phi), degrees.
struct Face {
    eye: [f64; 2],
    /// The eye fissure's half-width (theta) and its half-heights above and below (phi).
    fissure: [f64; 3],
    iris: [f64; 2],
    nasion: f64,
    tip: f64,
    subnasale: f64,
    ala: [f64; 2],
    /// Stomion (phi), mouth corner (theta), upper and lower vermilion heights (phi).
    mouth: [f64; 4],
    chin: f64,
}

fn face() -> &'static Face {
    static FACE: std::sync::OnceLock<Face> = std::sync::OnceLock::new();
    FACE.get_or_init(|| {
        let eye_phi = phi_of(PUPIL_Y);
        let (en, ex) = (theta_of(EN_X, eye_phi), theta_of(EX_X, eye_phi));
        let deg_up = |mm: f64, phi: f64| (mm / (HEAD_B * phi.to_radians().cos())).to_degrees();
        let sto = phi_of(STO_Y);
        Face {
            eye: [(en + ex) / 2.0, eye_phi],
            fissure: [(ex - en) / 2.0, deg_up(0.55 * FISSURE_MM, eye_phi), deg_up(0.45 * FISSURE_MM, eye_phi)],
            iris: [(IRIS_R_MM / (HEAD_A * eye_phi.to_radians().cos())).to_degrees(), deg_up(IRIS_R_MM, eye_phi)],
            nasion: phi_of(NASION_Y),
            tip: phi_of(PRN_Y),
            subnasale: phi_of(SN_Y),
            ala: [theta_of(AL_X - 5.0, phi_of(SN_Y + 5.0)), phi_of(SN_Y + 5.0)],
            mouth: [sto, theta_of(CH_X, sto), deg_up(UPPER_VERMILION_MM, sto), deg_up(LOWER_VERMILION_MM, sto)],
            chin: phi_of(GN_Y + 11.0),
        }
    })
}

/// Where (theta, phi) lies in the eye fissure: > 0 inside (1 at its
/// middle), <= 0 outside; continuous (the lids' step follows it).
/// Almond-shaped, higher above than below.
fn in_fissure(t: f64, f: f64) -> f64 {
    let fc = face();
    let s = (t.abs() - fc.eye[0]) / fc.fissure[0];
    let dv = f - fc.eye[1];
    let half = if dv >= 0.0 { fc.fissure[1] } else { fc.fissure[2] };
    let open = if s.abs() < 1.0 { (1.0 - s * s).powf(0.7) } else { 1.0 - s.abs() };
    open - dv.abs() / half
}

/// Where (theta, phi) lies in the vermilion of the lips: the upper lip
/// (with its Cupid's bow) over the stomion, the lower under it.
fn lip_borders(t: f64) -> Option<[f64; 2]> {
    let [sto, corner, upper, lower] = face().mouth;
    let s = t / corner;
    (s.abs() < 1.0).then(|| {
        let bow = 1.0 - 0.18 * (-(s / 0.12).powi(2)).exp();
        [sto + upper * (1.0 - s * s).powf(0.6) * bow, sto - lower * (1.0 - s * s).powf(0.55)]
    })
}

/// The head surface at azimuth `theta` and elevation `phi`, degrees: the
/// ellipsoid, the jaw narrowed, and the face's features along the normal.
pub fn head_mm(theta_deg: f64, phi_deg: f64) -> Vec3 {
    let (a, b, c) = (HEAD_A, HEAD_B, HEAD_C);
    let (th, ph) = (theta_deg.to_radians(), phi_deg.to_radians());
    let p = Vec3::new(a * jaw(phi_deg) * ph.cos() * th.sin(), b * ph.sin(), c * ph.cos() * th.cos());
    let n = Vec3::new(p.x / (a * a), p.y / (b * b), p.z / (c * c)).normalize();
    p + n * relief(theta_deg, phi_deg)
}

/// The features' height over the ellipsoid at (theta, phi), mm.
fn relief(t: f64, f: f64) -> f64 {
    let fc = face();
    let at = t.abs();
    // Forehead and brow ridge, nasion.
    let brow = 3.0 * gauss(at - 22.0, 14.0, f - fc.eye[1] - 8.0, 5.0);
    let nasion = -3.0 * gauss(t, 7.0, f - fc.nasion, 4.0);
    // Nose: a ridge from the nasion rising to its tip, then turning under to
    // the subnasale; widening downwards; alae either side of its base.
    let along = smoothstep(fc.nasion, fc.tip, f) * (1.0 - smoothstep(fc.tip - 0.5, fc.subnasale, f));
    let width = 3.6 + 0.17 * (fc.nasion - f).max(0.0);
    let nose = (PRN_MM - 1.0) * along * (-(t / width).powi(2)).exp();
    let alae = 5.0 * gauss(at - fc.ala[0], 3.0, f - fc.ala[1], 2.6);
    let nostrils = -3.0 * gauss(at - 0.45 * fc.ala[0], 2.0, f - (fc.subnasale + 1.2), 1.0) * along.max(0.3);
    // Eyes: a socket, the eyeball filling it, the fissure between the lids.
    let (et, ef) = (at - fc.eye[0], f - fc.eye[1]);
    let socket = -8.5 * gauss(et, 12.0, ef, 6.5);
    // (A dome q (2 - q) meeting the socket at a finite slope: a square root's
    // wall at its rim bent the drawn head's chords 0.5 mm out of the skin.)
    let q = (1.0 - (et / 14.0).powi(2) - (ef / 7.0).powi(2)).max(0.0);
    let ball = 5.5 * q * (2.0 - q);
    let lids = -1.2 * smoothstep(0.0, 0.5, in_fissure(t, f));
    let cheekbones = 5.0 * gauss(at - 48.0, 14.0, f + 2.0, 9.0);
    // Mouth: a mound, the two lips' rolls and the line between them.
    let [sto, corner, upper, lower] = fc.mouth;
    let s = (t / corner).clamp(-1.0, 1.0);
    let span = (1.0 - s * s).sqrt();
    let mound = 3.0 * gauss(t, 26.0, f - sto, 8.0);
    let rolls = span
        * (3.2 * (-((f - sto - 0.5 * upper) / (0.6 * upper)).powi(2)).exp()
            + 3.8 * (-((f - sto + 0.5 * lower) / (0.6 * lower)).powi(2)).exp()
            - 1.6 * (-((f - sto) / 0.45).powi(2)).exp());
    let chin = 17.0 * gauss(t, 22.0, f - fc.chin, 9.0);
    brow + nasion + nose + alae + nostrils + socket + ball + lids + cheekbones + mound + rolls + chin
}

/// What colours the whole head at (theta, phi): skin, or a feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Skin.
    Skin,
    /// An eyebrow.
    Brow,
    /// The white of an eye.
    Sclera,
    /// An iris.
    Iris,
    /// A pupil.
    Pupil,
    /// The vermilion of a lip.
    Lip,
    /// A nostril.
    Nostril,
}

impl Feature {
    /// Its colour, linear-ish RGB in 0..1 (the skin a neutral light tone).
    pub fn rgb(self) -> [f64; 3] {
        match self {
            Feature::Skin => SKIN_RGB,
            Feature::Brow => [0.42, 0.31, 0.24],
            Feature::Sclera => [0.94, 0.93, 0.90],
            Feature::Iris => [0.33, 0.25, 0.18],
            Feature::Pupil => [0.06, 0.05, 0.05],
            Feature::Lip => [0.74, 0.42, 0.42],
            Feature::Nostril => [0.36, 0.20, 0.18],
        }
    }
}

/// The skin's colour on the drawn head (and on zones before punctures arrive).
pub const SKIN_RGB: [f64; 3] = [0.89, 0.72, 0.62];

/// The feature at (theta, phi) of the head, degrees.
pub fn feature(t: f64, f: f64) -> Feature {
    let fc = face();
    let at = t.abs();
    if in_fissure(t, f) > 0.0 {
        let q = ((at - fc.eye[0]) / fc.iris[0]).powi(2) + ((f - fc.eye[1]) / fc.iris[1]).powi(2);
        return match q {
            q if q < 0.16 => Feature::Pupil,
            q if q < 1.0 => Feature::Iris,
            _ => Feature::Sclera,
        };
    }
    if let Some([up, down]) = lip_borders(t)
        && f <= up
        && f >= down
    {
        return Feature::Lip;
    }
    let nostril = ((at - 0.45 * fc.ala[0]) / 2.1).powi(2) + ((f - (fc.subnasale + 1.2)) / 0.9).powi(2);
    if nostril < 1.0 {
        return Feature::Nostril;
    }
    // Brows: an arch over each eye, from over its inner corner outwards.
    let s = (at - fc.eye[0] + 1.5) / (fc.fissure[0] + 4.5);
    if s.abs() < 1.0 {
        let mid = fc.eye[1] + 7.0 + 1.6 * (1.0 - s * s) + 0.8 * s;
        if (f - mid).abs() < 1.1 * (1.0 - 0.5 * s.max(0.0)) {
            return Feature::Brow;
        }
    }
    Feature::Skin
}

/// The regions a head zone keeps out of, in (theta, phi) degrees: each eye
/// with its lids and the skin to the orbital rim, the lips with 2 mm about
/// them, each nostril. Closed polylines.
fn head_avoid() -> Vec<Vec<[f64; 2]>> {
    let fc = face();
    let ring = |c: [f64; 2], r: [f64; 2]| -> Vec<[f64; 2]> {
        (0..64)
            .map(|k| {
                let a = k as f64 / 64.0 * std::f64::consts::TAU;
                [c[0] + r[0] * a.cos(), c[1] + r[1] * a.sin()]
            })
            .collect()
    };
    let [sto, corner, upper, lower] = fc.mouth;
    let margin = (2.0 / (HEAD_B * sto.to_radians().cos())).to_degrees();
    let mut out = Vec::new();
    for side in [-1.0, 1.0] {
        out.push(ring([side * fc.eye[0], fc.eye[1]], [fc.fissure[0] + 4.5, fc.fissure[1] + 5.5]));
    }
    out.push(ring([0.0, sto + (upper - lower) / 2.0], [corner + margin, (upper + lower) / 2.0 + margin]));
    for side in [-1.0, 1.0] {
        out.push(ring([side * 0.45 * fc.ala[0], fc.subnasale + 1.2], [2.6, 1.4]));
    }
    out
}

/// `polygon` clipped to the rectangle `theta x phi` (Sutherland-Hodgman).
fn clip_to_rect(polygon: &[[f64; 2]], theta: [f64; 2], phi: [f64; 2]) -> Vec<[f64; 2]> {
    let mut poly = polygon.to_vec();
    // Each edge: axis, bound, keep the side where value >= bound (sign 1) or <= (sign -1).
    for (axis, bound, sign) in [(0, theta[0], 1.0), (0, theta[1], -1.0), (1, phi[0], 1.0), (1, phi[1], -1.0)] {
        let inside = |p: &[f64; 2]| (p[axis] - bound) * sign >= 0.0;
        let mut next = Vec::new();
        for k in 0..poly.len() {
            let (p, q) = (poly[k], poly[(k + 1) % poly.len()]);
            if inside(&p) {
                next.push(p);
            }
            if inside(&p) != inside(&q) {
                let t = (bound - p[axis]) / (q[axis] - p[axis]);
                next.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
            }
        }
        poly = next;
        if poly.is_empty() {
            break;
        }
    }
    poly
}

struct HeadZone {
    name: &'static str,
    theta: [f64; 2],
    phi: [f64; 2],
    depth: DepthRange,
    description: &'static str,
}

const HEAD_ZONES: &[HeadZone] = &[
    HeadZone {
        name: "forehead",
        theta: [-62.0, 62.0],
        phi: [20.0, 52.0],
        depth: FOREHEAD,
        description: "forehead, brow to hairline",
    },
    HeadZone {
        name: "temple-right",
        theta: [-85.0, -62.0],
        phi: [-10.0, 52.0],
        depth: TEMPLE,
        description: "patient's right temple",
    },
    HeadZone {
        name: "temple-left",
        theta: [62.0, 85.0],
        phi: [-10.0, 52.0],
        depth: TEMPLE,
        description: "patient's left temple",
    },
    HeadZone {
        name: "nose",
        theta: [-13.0, 13.0],
        phi: [-17.0, 20.0],
        depth: NOSE,
        description: "nose, to the subnasale; the nostrils and the eyes' inner corners avoided",
    },
    HeadZone {
        name: "cheek-right",
        theta: [-62.0, -13.0],
        phi: [-46.0, 20.0],
        depth: CHEEK_CHIN,
        description: "patient's right cheek; the eye, its lids and the skin to the orbital rim, and the lips' corner avoided",
    },
    HeadZone {
        name: "cheek-left",
        theta: [13.0, 62.0],
        phi: [-46.0, 20.0],
        depth: CHEEK_CHIN,
        description: "patient's left cheek; the eye, its lids and the skin to the orbital rim, and the lips' corner avoided",
    },
    HeadZone {
        name: "perioral",
        theta: [-13.0, 13.0],
        phi: [-46.0, -17.0],
        depth: UPPER_LIP,
        description: "upper lip and perioral area; the lips avoided",
    },
    HeadZone { name: "chin", theta: [-30.0, 30.0], phi: [-64.0, -46.0], depth: CHEEK_CHIN, description: "chin" },
    HeadZone {
        name: "jawline-right",
        theta: [-75.0, -30.0],
        phi: [-64.0, -46.0],
        depth: CHEEK_CHIN,
        description: "patient's right jawline",
    },
    HeadZone {
        name: "jawline-left",
        theta: [30.0, 75.0],
        phi: [-64.0, -46.0],
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
        y_mm: [-215.0, -135.0],
        axis_mm: [0.0, -20.0],
        depth: NECK,
        description: "front of the neck (a cylinder)",
    },
    BodyZone {
        name: "decolletage",
        radius_mm: 220.0,
        theta: [-28.0, 28.0],
        y_mm: [-390.0, -270.0],
        axis_mm: [0.0, -145.0],
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

/// Whether built-in zone `name` lies on the drawn head ([`context`]): the
/// head's zones, the neck and the decolletage.
pub fn on_context(name: &str) -> bool {
    HEAD_ZONES.iter().any(|z| z.name == name) || name == "neck" || name == "decolletage"
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
    // The face's avoid regions, each clipped to the zone's rectangle in
    // (theta, phi) and carried to the chart through the grid (bilinear
    // within a quad).
    let to_chart = |[th, ph]: [f64; 2]| {
        // Beyond the zone, extrapolated from its edge quads.
        let s = (th - z.theta[0]) / (z.theta[1] - z.theta[0]) * nu as f64;
        let t = (ph - z.phi[0]) / (z.phi[1] - z.phi[0]) * nv as f64;
        let (i, j) = (s.floor().clamp(0.0, nu as f64 - 1.0) as usize, t.floor().clamp(0.0, nv as f64 - 1.0) as usize);
        let (fs, ft) = (s - i as f64, t - j as f64);
        let c = |i: usize, j: usize| mesh.chart_mm[j * (nu + 1) + i];
        c(i, j) * (1.0 - fs) * (1.0 - ft)
            + c(i + 1, j) * fs * (1.0 - ft)
            + c(i, j + 1) * (1.0 - fs) * ft
            + c(i + 1, j + 1) * fs * ft
    };
    let avoid = head_avoid()
        .iter()
        // (A degree past the zone's border, so no strip along it is left
        // out of a region two zones share.)
        .map(|ring| clip_to_rect(ring, [z.theta[0] - 1.0, z.theta[1] + 1.0], [z.phi[0] - 1.0, z.phi[1] + 1.0]))
        .filter(|p| {
            // Left out when no more than a sliver (a tenth of a square degree) is in the zone.
            let area: f64 = (0..p.len())
                .map(|k| {
                    let (a, b) = (p[k], p[(k + 1) % p.len()]);
                    a[0] * b[1] - b[0] * a[1]
                })
                .sum();
            p.len() >= 3 && area.abs() / 2.0 > 0.1
        })
        .map(|p| Shape::Polygon { vertices_mm: p.into_iter().map(to_chart).collect() })
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

/// The drawn context of the built-in head: the whole head, ears, neck and
/// the start of the shoulders, never treated. `mesh.chart_mm` holds each
/// vertex's (theta, phi) in degrees on the head (where [`feature`] colours
/// it) and [`OFF_FACE`] elsewhere (skin).
pub struct Context {
    /// The surface, 0.8 mm under the zones' (so a zone drawn over it wins
    /// the depth test) but for the ears.
    pub mesh: Mesh,
}

/// The (theta, phi) given to context vertices off the head: skin.
pub const OFF_FACE: Vec2 = Vec2::new(-180.0, -90.0);

/// How far the context lies under the zones' surface, mm: more than the
/// drawn meshes' tolerance on either side and their chords' sag.
pub const CONTEXT_INSET_MM: f64 = 0.8;

/// The neck and the shoulders' start at angle `a` (degrees, 0 = front, +90
/// = the patient's left) and height `y`: the neck a circle (radius 58 mm
/// about x = 0, z = -20, the built-in neck zone's cylinder; narrower and
/// drawn back above it, inside the head) blending below
/// y = -215 into the chest, a lens whose front is the built-in decolletage's
/// cylinder (radius 220 mm about z = -145) out to the shoulders (half-width
/// 195 mm, biacromial breadth about 390 mm) from y = -270 down.
pub fn torso_mm(a_deg: f64, y: f64) -> Vec3 {
    let a = a_deg.to_radians();
    // Above the neck zone's top (y = -135) the neck narrows and draws back
    // into the head, never standing out in front of the jaw's underside.
    let up = smoothstep(-135.0, -100.0, y);
    let (rn, zn) = (58.0 - 22.0 * up, -20.0 - 14.0 * up);
    let neck = Vec3::new(rn * a.sin(), y, zn + rn * a.cos());
    let (r, zc) = (220.0, -145.0);
    let edge = (195.0f64 / r).asin();
    let side = (r * r - 195.0 * 195.0).sqrt() + zc;
    let chest = if a_deg.abs() <= 90.0 {
        let al = a_deg / 90.0 * edge;
        Vec3::new(r * al.sin(), y, zc + r * al.cos())
    } else {
        let al = (180.0 - a_deg.abs()) / 90.0 * edge * a_deg.signum();
        Vec3::new(r * al.sin(), y, 2.0 * side - (zc + r * al.cos()))
    };
    let s = smoothstep(-215.0, -270.0, y);
    neck * (1.0 - s) + chest * s
}

/// One ear (the patient's left; the right is its mirror): a shell standing
/// out behind its front edge, rim raised, concha hollowed, 61 x 34 mm.
fn ear(steps: usize) -> Mesh {
    let (l, w) = (EAR_LENGTH_MM, EAR_WIDTH_MM);
    // Its front edge on the side of the head, at the height of the eyes to the nose base.
    let centre_y = PUPIL_Y + 12.0 - l / 2.0;
    let base = head_mm(97.0, phi_of(centre_y));
    let (rings, around) = (steps, 4 * steps);
    let mut mesh = Mesh::from_grid(around, rings, |s, t| {
        let om = s * std::f64::consts::TAU;
        // The outline: an egg, broad above, narrowing to the lobe.
        let taper = 1.0 - 0.28 * (-om.sin()).max(0.0);
        let (u, v) = (w / 2.0 * (1.0 + t * om.cos() * taper), l / 2.0 * t * om.sin());
        let stand = u * 25f64.to_radians().tan() - 3.0;
        let rim = 2.5 * (-((t - 0.88) / 0.09).powi(2)).exp();
        let concha = -4.0 * gauss(u - 0.4 * w, 0.22 * w, v + 0.08 * l, 0.18 * l);
        base + Vec3::new(stand + rim + concha, v, -(u - 4.0))
    });
    mesh.chart_mm = vec![OFF_FACE; mesh.positions_mm.len()];
    mesh
}

/// Vertex normals of a grid mesh from its triangles (area-weighted), made
/// to point away from `inside`.
fn inset(mesh: &mut Mesh, inside: impl Fn(Vec3) -> Vec3, by_mm: f64) {
    let mut normals = vec![Vec3::zeros(); mesh.positions_mm.len()];
    for t in &mesh.triangles {
        let [a, b, c] = t.map(|v| mesh.positions_mm[v as usize]);
        let n = (b - a).cross(&(c - a));
        for &v in t {
            normals[v as usize] += n;
        }
    }
    for (p, n) in mesh.positions_mm.iter_mut().zip(normals) {
        if n.norm() > 0.0 {
            let n = n.normalize();
            let n = if n.dot(&(*p - inside(*p))) < 0.0 { -n } else { n };
            *p -= n * by_mm;
        }
    }
}

/// Appends `b` to `a`.
fn append(a: &mut Mesh, b: Mesh) {
    let k = a.positions_mm.len() as u32;
    a.positions_mm.extend(b.positions_mm);
    a.chart_mm.extend(b.chart_mm);
    a.triangles.extend(b.triangles.into_iter().map(|t| t.map(|v| v + k)));
}

/// Steps from `lo` to `hi` (degrees), `fine` apart within `[a, b]` and
/// `coarse` apart beyond (each an exact divisor of its span).
fn graded(lo: f64, hi: f64, [a, b]: [f64; 2], fine: f64, coarse: f64) -> Vec<f64> {
    let mut at = vec![lo];
    for (from, to, step) in [(lo, a, coarse), (a, b, fine), (b, hi, coarse)] {
        let n = ((to - from) / step).round() as usize;
        at.extend((1..=n).map(|k| from + (to - from) * k as f64 / n as f64));
    }
    at
}

/// The context's head grid, (theta, phi) degrees: half a degree a step
/// over the face (its relief, the lids above all, bends within a degree),
/// one degree elsewhere.
fn context_grid() -> (Vec<f64>, Vec<f64>) {
    (graded(-180.0, 180.0, [-80.0, 80.0], 0.5, 1.0), graded(-90.0, 90.0, [-75.0, 45.0], 0.5, 1.0))
}

/// The context drawn around the built-in zones: the whole head (finer over
/// the face: [`context_grid`]), both ears, the neck and the shoulders' start.
/// Deterministic.
pub fn context() -> Context {
    let (thetas, phis) = context_grid();
    let (nu, nv) = (thetas.len() - 1, phis.len() - 1);
    let at = |s: f64, t: f64| (thetas[(s * nu as f64).round() as usize], phis[(t * nv as f64).round() as usize]);
    let mut head = Mesh::from_grid(nu, nv, |s, t| {
        let (th, ph) = at(s, t);
        head_mm(th, ph)
    });
    head.chart_mm = head
        .chart_mm
        .iter()
        .map(|st| {
            let (th, ph) = at(st.x, st.y);
            Vec2::new(th, ph)
        })
        .collect();
    inset(&mut head, |_| Vec3::zeros(), CONTEXT_INSET_MM);
    let mut torso = Mesh::from_grid(180, 85, |s, t| torso_mm(-180.0 + 360.0 * s, -420.0 + 340.0 * t));
    torso.chart_mm = vec![OFF_FACE; torso.positions_mm.len()];
    inset(&mut torso, |p| Vec3::new(0.0, p.y, if p.y > -240.0 { -20.0 } else { -50.0 }), CONTEXT_INSET_MM);
    let mut mesh = head;
    append(&mut mesh, torso);
    let left = ear(16);
    let mut right = left.clone();
    for p in &mut right.positions_mm {
        p.x = -p.x;
    }
    append(&mut mesh, left);
    append(&mut mesh, right);
    Context { mesh }
}

/// The head's colours over (theta, phi): `width x height` texels from
/// `origin` (degrees) `step` degrees apart, RGBA8, rows from phi low to high;
/// beyond it, skin.
pub struct SkinMap {
    /// Texels across (theta) and up (phi).
    pub size: [u32; 2],
    /// (theta, phi) of the first texel's centre, degrees.
    pub origin_deg: [f64; 2],
    /// Degrees between texels.
    pub step_deg: f64,
    /// RGBA8, row by row.
    pub rgba: Vec<u8>,
}

/// The face's colours, a tenth of a degree a texel (about 0.13 mm).
pub fn skin_map() -> SkinMap {
    let (origin_deg, step_deg, size) = ([-60.0, -45.0], 0.1, [1201u32, 801u32]);
    let mut rgba = Vec::with_capacity((size[0] * size[1] * 4) as usize);
    for j in 0..size[1] {
        for i in 0..size[0] {
            let (t, f) = (origin_deg[0] + i as f64 * step_deg, origin_deg[1] + j as f64 * step_deg);
            let c = feature(t, f).rgb();
            rgba.extend(c.map(|v| (v * 255.0).round() as u8));
            rgba.push(255);
        }
    }
    SkinMap { size, origin_deg, step_deg, rgba }
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
            // The nose's grid chart squeezes its steep sides and the skin
            // under its tip to 0.38 of their true area (the engine weighs
            // each cell by its true area and lays lanes by true distances,
            // so only the chart picture shows it); every other zone stays
            // within 0.5..1.6.
            let least = if name == "nose" { 0.35 } else { 0.5 };
            assert!(d.area_stretch_max < 1.6 && d.area_stretch_min > least, "{name}: {d:?}");
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

    #[test]
    fn the_drawn_head_lies_under_the_skin_everywhere() {
        // The context is drawn behind the zones: at every grid triangle's
        // middle, its chord lies under the true surface by more than the
        // drawn meshes' tolerance (0.15 mm, crate::gpu's DRAW_TOLERANCE_MM,
        // for the zone above and the context below), so no zone cell shows
        // the head. (On a 1 degree grid, with the lids a step at the eye's corners, chords stood 0.38 mm out of the skin.)
        let c = context();
        let (thetas, phis) = context_grid();
        let nu = thetas.len() - 1;
        let mut worst = (f64::NEG_INFINITY, 0.0, 0.0);
        for j in 0..phis.len() - 1 {
            for i in 0..nu {
                let v = |i: usize, j: usize| c.mesh.positions_mm[j * (nu + 1) + i];
                for (a, b, d) in [((i, j), (i + 1, j), (i, j + 1)), ((i + 1, j + 1), (i, j + 1), (i + 1, j))] {
                    let chord = (v(a.0, a.1) + v(b.0, b.1) + v(d.0, d.1)) / 3.0;
                    let t = (thetas[a.0] + thetas[b.0] + thetas[d.0]) / 3.0;
                    let f = (phis[a.1] + phis[b.1] + phis[d.1]) / 3.0;
                    let p = head_mm(t, f);
                    let e = 1e-3;
                    let n = (head_mm(t + e, f) - head_mm(t - e, f)).cross(&(head_mm(t, f + e) - head_mm(t, f - e)));
                    if n.norm() < 1e-9 {
                        continue; // the poles
                    }
                    let n = n.normalize();
                    let n = if n.dot(&p) < 0.0 { -n } else { n };
                    let above = (chord - p).dot(&n);
                    if above > worst.0 {
                        worst = (above, t, f);
                    }
                }
            }
        }
        assert!(
            worst.0 < -0.3,
            "the context stands {:.3} mm from the skin at theta {:.2}, phi {:.2}",
            worst.0,
            worst.1,
            worst.2
        );
    }
}
