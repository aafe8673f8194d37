//! Scene files: TOML text -> a validated [`Scene`], once, with every error
//! naming the file, the line, the key and what would be accepted.
//!
//! Parsing happens in two steps: serde reads the text into `Raw*` structs that
//! keep the byte span of every value (`toml::Spanned`) and reject unknown keys;
//! `validate` then checks ranges and combinations and builds the domain types.

use crate::core::error::{Location, ResolveError, SceneError};
use crate::core::geometry::anatomy;
use crate::core::geometry::formats;
use crate::core::geometry::mesh::Surface;
use crate::core::geometry::shape::{self, Region, Shape, Vec2};
use crate::core::input::cartridge::{self, Cartridge, Drive};
use crate::core::input::trajectory::{self, Trace, TracePoint};
use serde::Deserialize;
use std::ops::Range;
use std::sync::Arc;
use toml::Spanned;

/// The glide of the practitioner's hand.
#[derive(Clone, Debug, PartialEq)]
pub struct Hand {
    /// Mean glide speed over the skin (`hand.speed_mm_s`), mm/s.
    pub speed_mm_s: f64,
    /// Standard deviation of the sideways wobble about the lane, mm.
    pub lateral_jitter_mm: f64,
    /// Relative standard deviation of the glide speed (0.1 = 10 %).
    pub speed_jitter: f64,
    /// Time to lift, turn and set down between lanes, s.
    pub turn_time_s: f64,
    /// Distance along the path over which wobble and speed changes stay
    /// correlated (the hand drifts; it does not shake), mm.
    pub wobble_length_mm: f64,
    /// How a pen's cartridge turns about its own axis (`hand.orientation`).
    pub orientation: Orientation,
    /// Time to lift the pen and set it down at the next point of a random
    /// pass (`hand.lift_time_s`), s.
    pub lift_time_s: f64,
}

/// How a pen's cartridge is turned about its own axis as the hand moves.
/// A roller's drum always lies across its travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// Kept as the cartridge's `needles_mm` lie in the zone's chart (x along
    /// u): a hand-held pen is not spun when the hand changes direction.
    Fixed,
    /// Turned to the travel direction (x along the lane or the trace's
    /// heading); random stamps take a random rotation.
    Travel,
}

/// Default turn time between lanes: a practitioner lifts and re-places the pen
/// in about a quarter to half a second; 0.3 s is assumed.
pub const DEFAULT_TURN_TIME_S: f64 = 0.3;
/// Default time to lift the pen and set it down at the next point of a
/// random pass: a short hop, a third of a lane turn; 0.1 s is assumed.
pub const DEFAULT_LIFT_TIME_S: f64 = 0.1;
/// Default correlation length of hand wobble: about one cartridge width (a few
/// mm) to a finger movement; 5 mm is assumed.
pub const DEFAULT_WOBBLE_LENGTH_MM: f64 = 5.0;
/// Default analysis cell: 2 mm, about half a pen footprint, fine enough to see
/// lane-scale gaps and coarse enough to hold tens of punctures per cell.
pub const DEFAULT_CELL_MM: f64 = 2.0;

/// How the density spread is measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// Side of the square analysis cells (`analysis.cell_mm`, default [`DEFAULT_CELL_MM`]), mm.
    pub cell_mm: f64,
    /// The channel one needle opens, for coverage and hits (`analysis.channel`).
    pub channel: Channel,
}

/// The channel a needle opens in the skin, as coverage and hits count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// A disk of the needle's diameter at the puncture (default).
    Disk,
    /// A capsule: the disk dragged along the hand's motion while the needles
    /// are in the skin (`cartridge.dwell_fraction` of a stamp step).
    Capsule,
}

/// What a pass does.
#[derive(Clone, Debug, PartialEq)]
pub enum PassKind {
    /// Parallel lanes at `angle_deg` (0 = horizontal, 90 = vertical), laid
    /// boustrophedon `lane_spacing_mm` apart, `repeats` times.
    Lanes {
        /// Lane direction, degrees in 0..360.
        angle_deg: f64,
        /// Distance between lane centres, mm.
        lane_spacing_mm: f64,
        /// How many times the set of lanes is laid (1 or more).
        repeats: u32,
        /// Offset lanes by half a spacing on odd repeats.
        stagger: bool,
        /// Small overlapping circles along each lane (`pattern = "circles"`).
        circles: Option<Circles>,
    },
    /// `stamps` cartridge stamps placed uniformly at random in the zone, each
    /// at a random rotation (a Poisson-like process).
    Random {
        /// Number of stamps (1 or more).
        stamps: u64,
    },
    /// The cartridge follows recorded samples (`trajectory = "file.csv"`):
    /// this zone's rows of the file, in time order (see [`trajectory`]).
    Trajectory {
        /// The trajectory file as named in the scene (relative to the scene).
        file: String,
        /// This zone's samples of the file, in time order.
        points: Arc<Vec<TracePoint>>,
    },
}

/// Small overlapping circles traced along a lane (`pattern = "circles"`): the
/// hand circles at the glide speed while the circle's centre advances
/// `step_mm` along the lane each turn; the cartridge keeps its orientation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Circles {
    /// Radius of the circles, mm.
    pub radius_mm: f64,
    /// How far the circle's centre advances along the lane per turn, mm.
    pub step_mm: f64,
}

impl Circles {
    /// Length of the hand's path over one turn (a trochoid's arch), mm.
    pub fn turn_length_mm(&self) -> f64 {
        let steps = 2048;
        let (a, r) = (self.step_mm / std::f64::consts::TAU, self.radius_mm);
        (0..steps)
            .map(|k| {
                let phi = (k as f64 + 0.5) / steps as f64 * std::f64::consts::TAU;
                ((a - r * phi.sin()).powi(2) + (r * phi.cos()).powi(2)).sqrt()
            })
            .sum::<f64>()
            * std::f64::consts::TAU
            / steps as f64
    }

    /// The hand's path per mm of lane: the turn's length over the step.
    pub fn path_per_lane_mm(&self) -> f64 {
        self.turn_length_mm() / self.step_mm
    }
}

/// One pass over a zone (`[[zones.passes]]`): a pattern laid with the cartridge.
#[derive(Clone, Debug, PartialEq)]
pub struct Pass {
    /// The pattern's name as written (`horizontal`, `angle 30`, `random`, ...).
    pub label: String,
    /// Needle depth of this pass (the cartridge's unless the pass sets one), mm.
    pub depth_mm: f64,
    /// The pattern: lanes, random stamps or a recorded trajectory.
    pub kind: PassKind,
    /// Glide speed of this pass (the hand's unless the pass sets one; the mean speed for a trajectory), mm/s.
    pub speed_mm_s: f64,
    /// Stamp rate of a pen for this pass; `None` for a roller.
    pub rate_hz: Option<f64>,
    /// Stamps the pen makes at each point before the hand moves on
    /// (`stamps_per_point`, default 1: stamping in place multiplies the
    /// density and the time, not the coverage).
    pub stamps_per_point: u32,
    /// Lift the device over avoid regions (true), or glide straight over them.
    pub respect_avoid: bool,
    /// Clearance kept between the footprint's outermost needle and every
    /// avoid region when the pass respects them (`avoid_margin_mm`, default
    /// 3 sd of the hand's wobble, `3 x hand.lateral_jitter_mm`), mm.
    pub avoid_margin_mm: f64,
    /// Where the pass's table is in the scene file.
    pub at: Location,
}

/// One treated area of skin (`[[zones]]`): its outline, target and passes.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    /// Zone name, as in the scene (`[[zones]] name`, or the built-in's name); unique in the scene.
    pub name: String,
    /// The zone outline in chart mm, with the regions to avoid.
    pub region: Region,
    /// Wanted density as [low, high] punctures/cm², if given (or from the built-in zone).
    pub target_per_cm2: Option<[f64; 2]>,
    /// The passes, in the order they are made.
    pub passes: Vec<Pass>,
    /// Where the zone's table is in the scene file.
    pub at: Location,
    /// Where the zone's geometry came from: `flat`, `builtin:forehead`, `face.obj#cheek`.
    pub source: String,
    /// The curved surface under the chart, for mesh zones.
    pub surface: Option<Arc<Surface>>,
    /// The shape a mesh zone is clipped to in its chart (`clip`), if any: the
    /// zone is the part of the surface inside it (`region.outline` is the
    /// two's intersection), and it is drawn with the triangles inside it.
    pub clip: Option<Shape>,
    /// Skin type (`skin`, default thin), which picks the depth range of a built-in zone.
    pub skin: Skin,
    /// Recommended needle depth for this zone and skin, mm.
    pub depth_range_mm: Option<[f64; 2]>,
}

/// Skin type, which picks the depth range of the manufacturer chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Skin {
    /// Thin skin (the default): the shallower depth range.
    Thin,
    /// Thick skin: the deeper depth range.
    Thick,
}

impl Skin {
    /// The name as written in a scene: `thin` or `thick`.
    pub fn name(self) -> &'static str {
        match self {
            Skin::Thin => "thin",
            Skin::Thick => "thick",
        }
    }
}

impl Zone {
    /// Why the pass's depth is outside the zone's recommended range, if it is.
    pub fn depth_warning(&self, pass: &Pass) -> Option<String> {
        let [lo, hi] = self.depth_range_mm?;
        let d = pass.depth_mm;
        let range = if lo == hi { format!("{lo} mm") } else { format!("{lo}-{hi} mm") };
        let side = if d > hi + 1e-9 {
            "above"
        } else if d < lo - 1e-9 {
            "below"
        } else {
            return None;
        };
        Some(format!("{}: {d} mm is {side} the {}-skin range {range}", self.name, self.skin.name()))
    }
}

/// A validated scene: everything the engine needs, nothing left to check.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// Scene name (`name`, defaults to the file's stem).
    pub name: String,
    /// Where it came from (a path or a label), for messages.
    pub file: String,
    /// Seed of the random generator (`seed`, 0 when not given).
    pub seed: u64,
    /// The needle cartridge and how it is driven.
    pub cartridge: Cartridge,
    /// The glide of the practitioner's hand.
    pub hand: Hand,
    /// How the density spread is measured.
    pub analysis: Analysis,
    /// The zones, in scene order.
    pub zones: Vec<Zone>,
}

// ---------------------------------------------------------------- raw format

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScene {
    name: Option<Spanned<String>>,
    seed: Option<Spanned<u64>>,
    cartridge: Spanned<RawCartridge>,
    hand: Spanned<RawHand>,
    analysis: Option<Spanned<RawAnalysis>>,
    #[serde(default)]
    zones: Vec<Spanned<RawZone>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCartridge {
    preset: Option<Spanned<String>>,
    needles_mm: Option<Spanned<Vec<[f64; 2]>>>,
    needle_diameter_mm: Option<Spanned<f64>>,
    depth_mm: Option<Spanned<f64>>,
    rate_hz: Option<Spanned<f64>>,
    dwell_fraction: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHand {
    speed_mm_s: Option<Spanned<f64>>,
    lateral_jitter_mm: Option<Spanned<f64>>,
    speed_jitter: Option<Spanned<f64>>,
    turn_time_s: Option<Spanned<f64>>,
    wobble_length_mm: Option<Spanned<f64>>,
    orientation: Option<Spanned<String>>,
    lift_time_s: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnalysis {
    cell_mm: Option<Spanned<f64>>,
    channel: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: Option<Spanned<String>>,
    shape: Option<Spanned<RawShape>>,
    mesh: Option<Spanned<String>>,
    mesh_resolution_mm: Option<Spanned<f64>>,
    mesh_unit_mm: Option<Spanned<f64>>,
    clip: Option<Spanned<RawShape>>,
    skin: Option<Spanned<String>>,
    depth_range_mm: Option<Spanned<[f64; 2]>>,
    depth_mm: Option<Spanned<f64>>,
    target_per_cm2: Option<Spanned<[f64; 2]>>,
    #[serde(default)]
    avoid: Vec<Spanned<RawShape>>,
    #[serde(default)]
    passes: Vec<Spanned<RawPass>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum RawShape {
    /// `[0, width] x [0, height]`.
    Rect {
        width_mm: Spanned<f64>,
        height_mm: Spanned<f64>,
    },
    /// Inscribed in `[0, width] x [0, height]`, or centred on `center_mm`.
    Ellipse {
        width_mm: Spanned<f64>,
        height_mm: Spanned<f64>,
        center_mm: Option<Spanned<[f64; 2]>>,
    },
    Circle {
        center_mm: Spanned<[f64; 2]>,
        radius_mm: Spanned<f64>,
    },
    Polygon {
        points_mm: Spanned<Vec<Spanned<[f64; 2]>>>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPass {
    pattern: Option<Spanned<String>>,
    angle_deg: Option<Spanned<f64>>,
    lane_spacing_mm: Option<Spanned<f64>>,
    repeats: Option<Spanned<u32>>,
    stagger: Option<bool>,
    stamps: Option<Spanned<u64>>,
    speed_mm_s: Option<Spanned<f64>>,
    rate_hz: Option<Spanned<f64>>,
    respect_avoid: Option<bool>,
    avoid_margin_mm: Option<Spanned<f64>>,
    depth_mm: Option<Spanned<f64>>,
    trajectory: Option<Spanned<String>>,
    circle_radius_mm: Option<Spanned<f64>>,
    circle_step_mm: Option<Spanned<f64>>,
    stamps_per_point: Option<Spanned<u32>>,
}

/// Default clearance from avoid regions, in sd of the hand's wobble: 3 sd
/// leave about one stamp in 370 of a steady hand within reach.
pub const AVOID_MARGIN_SDS: f64 = 3.0;
/// Largest plausible `avoid_margin_mm`, mm.
pub const MAX_AVOID_MARGIN_MM: f64 = 50.0;

/// Pattern names and their lane angles.
pub const PATTERNS: &[(&str, Option<f64>)] = &[
    ("horizontal", Some(0.0)),
    ("vertical", Some(90.0)),
    ("diagonal", Some(45.0)),
    ("anti-diagonal", Some(135.0)),
    ("random", None),
    ("circles", Some(0.0)),
];

// ---------------------------------------------------------------- validation

/// Reads a file named in a scene (relative to the scene) and returns its text.
pub type Resolver<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, ResolveError>;

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    resolve: Resolver<'a>,
    /// Byte offset of each line's start (found once: every pass and zone
    /// asks for its location, and counting lines each time grew as the
    /// square of the file).
    line_starts: Vec<usize>,
    /// Mesh files already read and charted, by `mesh` and unit: zones
    /// clipped from one scan share its surface (read and charted once).
    meshes: MeshCache,
}

type MeshCache = std::cell::RefCell<std::collections::HashMap<(String, u64), (Arc<Surface>, Shape, Vec<Shape>)>>;

impl Ctx<'_> {
    fn at(&self, span: &Range<usize>) -> Location {
        let offset = span.start.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        Location { line, column: self.text.get(start..offset).map_or(0, |l| l.chars().count()) + 1 }
    }
    fn err(&self, span: &Range<usize>, key: impl Into<String>, message: impl Into<String>) -> SceneError {
        SceneError { file: self.file.to_string(), at: self.at(span), key: key.into(), message: message.into() }
    }

    /// One of the named `options` (`default` when the key is absent); any
    /// other word is refused with `refuse(word)`.
    fn choice<T: Copy>(
        &self,
        v: Option<&Spanned<String>>,
        key: &str,
        options: &[(&str, T)],
        default: T,
        refuse: impl Fn(&str) -> String,
    ) -> Result<T, SceneError> {
        let Some(v) = v else { return Ok(default) };
        let word = v.get_ref().as_str();
        options
            .iter()
            .find(|(name, _)| *name == word)
            .map(|&(_, t)| t)
            .ok_or_else(|| self.err(&v.span(), key, refuse(word)))
    }

    /// A finite number within `range` (inclusive).
    fn in_range(&self, v: &Spanned<f64>, key: &str, unit: &str, range: [f64; 2]) -> Result<f64, SceneError> {
        let x = *v.get_ref();
        if x.is_finite() && x >= range[0] && x <= range[1] {
            Ok(x)
        } else {
            Err(self.err(
                &v.span(),
                key,
                format!("{} is not accepted: give {} to {} ({unit})", shown(x), range[0], range[1]),
            ))
        }
    }

    /// A finite number > 0 within the plausible `range` (refused outside
    /// it, naming the range).
    fn plausible(&self, v: &Spanned<f64>, key: &str, unit: &str, range: [f64; 2]) -> Result<f64, SceneError> {
        let x = self.positive(v, key, unit)?;
        if x < range[0] || x > range[1] {
            return Err(self.err(
                &v.span(),
                key,
                format!("{} is not plausible: give {} to {} ({unit})", shown(x), range[0], range[1]),
            ));
        }
        Ok(x)
    }

    /// A finite number >= 0 up to `max` (refused above it, naming the range).
    fn plausible_non_negative(&self, v: &Spanned<f64>, key: &str, unit: &str, max: f64) -> Result<f64, SceneError> {
        let x = self.non_negative(v, key, unit, None)?;
        if x > max {
            return Err(self.err(&v.span(), key, format!("{} is not plausible: give 0 to {max} ({unit})", shown(x))));
        }
        Ok(x)
    }

    /// A finite number > 0.
    fn positive(&self, v: &Spanned<f64>, key: &str, unit: &str) -> Result<f64, SceneError> {
        let x = *v.get_ref();
        if x.is_finite() && x > 0.0 {
            Ok(x)
        } else {
            Err(self.err(&v.span(), key, format!("{} is not accepted: give a finite number > 0 ({unit})", shown(x))))
        }
    }

    /// A finite number >= 0 (and < `below` if given).
    fn non_negative(&self, v: &Spanned<f64>, key: &str, unit: &str, below: Option<f64>) -> Result<f64, SceneError> {
        let x = *v.get_ref();
        let ok = x.is_finite() && x >= 0.0 && below.is_none_or(|b| x < b);
        if ok {
            Ok(x)
        } else {
            let range = match below {
                Some(b) => format!("a finite number from 0 up to (not including) {b}"),
                None => "a finite number >= 0".to_string(),
            };
            Err(self.err(&v.span(), key, format!("{} is not accepted: give {range} ({unit})", shown(x))))
        }
    }
}

impl Scene {
    /// Parses and validates scene text. `file` names it in messages; the
    /// scene's name defaults to the file's stem.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Scene, SceneError> {
        Scene::from_toml_str_with(text, file, &|path| Err(ResolveError::NoFiles(path.to_string())))
    }

    /// As `from_toml_str`, reading mesh files named in the scene with `resolve`.
    pub fn from_toml_str_with(text: &str, file: &str, resolve: Resolver) -> Result<Scene, SceneError> {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let ctx = Ctx { file, text, resolve, line_starts, meshes: Default::default() };
        let raw: RawScene = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            // A missing top-level table is the document's fault, not that of
            // whatever its first line holds (often a comment).
            let whole = span.start == 0 && (span.end == 0 || span.end >= text.trim_end().len());
            if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
                return if whole {
                    ctx.err(&(0..0), field, format!("is missing: the scene needs a [{field}] table"))
                } else {
                    ctx.err(&span, format!("{}.{field}", key_at(text, &span)), "is missing: give it")
                };
            }
            let key = key_at(text, &span);
            ctx.err(&span, key, message)
        })?;
        validate(&ctx, raw)
    }

    /// Replaces the seed (the command line's `--seed`).
    pub fn with_seed(mut self, seed: u64) -> Scene {
        self.seed = seed;
        self
    }
}

/// A number as a message shows it: as written for everyday sizes, in
/// exponent form when huge or tiny (1e200, not two hundred digits).
fn shown(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-4..1e9).contains(&x.abs()) { format!("{x:e}") } else { format!("{x}") }
}

/// The key written on the line of a parse error, if any (for messages).
fn key_at(text: &str, span: &Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((k, _)) => k.trim().to_string(),
        None => line.trim().to_string(),
    }
}

/// Plausible ranges of the physical quantities a scene gives (outside them a
/// value is refused, naming the range). Wide on purpose: they catch unit
/// slips and typos (1e6 for 1e-6, mm for cm), not unusual treatments.
/// Needle diameter, mm (microneedles are 0.07-0.4 mm thick).
pub const RANGE_NEEDLE_DIAMETER_MM: [f64; 2] = [0.01, 2.0];
/// Stamp rate of a pen, Hz (pens run at 50-150).
pub const RANGE_RATE_HZ: [f64; 2] = [0.1, 1000.0];
/// Needle depth, mm (devices go to 2.5-3).
pub const RANGE_DEPTH_MM: [f64; 2] = [0.01, 5.0];
/// Glide speed, mm/s.
pub const RANGE_SPEED_MM_S: [f64; 2] = [0.1, 1000.0];
/// Correlation length of the hand's wobble, mm.
pub const RANGE_WOBBLE_LENGTH_MM: [f64; 2] = [0.1, 1000.0];
/// The hand's sideways wobble (sd), at most, mm.
pub const MAX_LATERAL_JITTER_MM: f64 = 20.0;
/// Lift and turn between lanes, at most, s.
pub const MAX_TURN_TIME_S: f64 = 60.0;
/// Analysis cell side, mm.
pub const RANGE_CELL_MM: [f64; 2] = [0.05, 100.0];
/// Lane spacing, mm.
pub const RANGE_LANE_SPACING_MM: [f64; 2] = [0.01, 200.0];
/// Millimetres per mesh unit (1 mm to 10 m units and tenths of a micron).
pub const RANGE_MESH_UNIT_MM: [f64; 2] = [1e-3, 1e4];

/// What a scene's name may be: it names the default output folder
/// (`out/NAME`), so it must be one safe folder name.
pub const NAME_RULE: &str =
    "give a folder name of at most 200 characters without / or \\, control characters, a leading dot or `..`";

/// Why `name` cannot name an output folder, if it cannot.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.chars().count() > 200 {
        Some("is longer than 200 characters")
    } else if name.contains(['/', '\\']) {
        Some("holds a path separator")
    } else if name.chars().any(char::is_control) {
        Some("holds a control character (a newline, a tab, ...)")
    } else if name.starts_with('.') {
        Some("starts with a dot")
    } else {
        None
    }
}

/// A scene file's stem made a safe folder name (the default scene name):
/// separators, control characters and a leading dot become `_`, at most 200
/// characters.
pub fn safe_name(stem: &str) -> String {
    let s: String = stem
        .chars()
        .take(200)
        .enumerate()
        .map(|(i, c)| if c == '/' || c == '\\' || c.is_control() || (i == 0 && c == '.') { '_' } else { c })
        .collect();
    if s.is_empty() { "scene".into() } else { s }
}

fn stem(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.strip_suffix(".toml").unwrap_or(base).to_string()
}

fn validate(ctx: &Ctx, raw: RawScene) -> Result<Scene, SceneError> {
    let name = match &raw.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(ctx.err(&n.span(), "name", "is empty: give a name"));
        }
        Some(n) => match name_problem(n.get_ref()) {
            Some(why) => return Err(ctx.err(&n.span(), "name", format!("{why}: {NAME_RULE}"))),
            None => n.get_ref().clone(),
        },
        None => safe_name(&stem(ctx.file)),
    };
    let seed = raw.seed.as_ref().map_or(0, |s| *s.get_ref());
    let cartridge = validate_cartridge(ctx, &raw.cartridge)?;
    let hand = validate_hand(ctx, &raw.hand)?;
    let cell_mm = match raw.analysis.as_ref().and_then(|a| a.get_ref().cell_mm.as_ref()) {
        Some(c) => ctx.plausible(c, "analysis.cell_mm", "mm", RANGE_CELL_MM)?,
        None => DEFAULT_CELL_MM,
    };
    let channel = ctx.choice(
        raw.analysis.as_ref().and_then(|a| a.get_ref().channel.as_ref()),
        "analysis.channel",
        &[("disk", Channel::Disk), ("capsule", Channel::Capsule)],
        Channel::Disk,
        |other| format!("`{other}` is not accepted: give \"disk\" (default) or \"capsule\" (the disk dragged by the hand's motion)"),
    )?;
    if raw.zones.is_empty() {
        return Err(ctx.err(
            &(ctx.text.len()..ctx.text.len()),
            "zones",
            "the scene has no zones: add at least one [[zones]] table",
        ));
    }
    let mut zones: Vec<Zone> = Vec::new();
    for (zi, z) in raw.zones.iter().enumerate() {
        let zone = validate_zone(ctx, zi, z, &cartridge, &hand)?;
        if let Some(prev) = zones.iter().find(|p| p.name == zone.name) {
            return Err(ctx.err(
                &z.span(),
                format!("zones[{zi}].name"),
                format!(
                    "zone name `{}` is used twice (first at line {}): give each zone its own name",
                    zone.name, prev.at.line
                ),
            ));
        }
        zones.push(zone);
    }
    Ok(Scene {
        name,
        file: ctx.file.to_string(),
        seed,
        cartridge,
        hand,
        analysis: Analysis { cell_mm, channel },
        zones,
    })
}

fn validate_cartridge(ctx: &Ctx, raw: &Spanned<RawCartridge>) -> Result<Cartridge, SceneError> {
    let c = raw.get_ref();
    let mut cart = match (&c.preset, &c.needles_mm) {
        (Some(_), Some(n)) => {
            return Err(ctx.err(&n.span(), "cartridge.needles_mm", "give either `preset` or `needles_mm`, not both"));
        }
        (Some(p), None) => cartridge::preset(p.get_ref()).ok_or_else(|| {
            ctx.err(
                &p.span(),
                "cartridge.preset",
                format!("unknown preset `{}`; accepted: {}", p.get_ref(), cartridge::preset_names().join(", ")),
            )
        })?,
        (None, Some(n)) => {
            if n.get_ref().is_empty() {
                return Err(ctx.err(
                    &n.span(),
                    "cartridge.needles_mm",
                    "is empty: give at least one [x, y] needle position in mm",
                ));
            }
            if n.get_ref().iter().flatten().any(|v| !v.is_finite()) {
                return Err(ctx.err(&n.span(), "cartridge.needles_mm", "holds a value that is not a finite number"));
            }
            let Some(d) = &c.needle_diameter_mm else {
                return Err(ctx.err(
                    &raw.span(),
                    "cartridge.needle_diameter_mm",
                    "is required with `needles_mm` (mm, e.g. 0.25)",
                ));
            };
            let Some(r) = &c.rate_hz else {
                return Err(ctx.err(
                    &raw.span(),
                    "cartridge.rate_hz",
                    "is required with `needles_mm` (stamps per second, e.g. 110)",
                ));
            };
            Cartridge {
                name: "custom".into(),
                needles_mm: n.get_ref().iter().map(|p| Vec2::new(p[0], p[1])).collect(),
                needle_diameter_mm: ctx.plausible(d, "cartridge.needle_diameter_mm", "mm", RANGE_NEEDLE_DIAMETER_MM)?,
                depth_mm: cartridge::DEFAULT_DEPTH_MM,
                drive: Drive::Pen { rate_hz: ctx.plausible(r, "cartridge.rate_hz", "Hz", RANGE_RATE_HZ)? },
                dwell_fraction: cartridge::DEFAULT_DWELL_FRACTION,
            }
        }
        (None, None) => {
            return Err(ctx.err(
                &raw.span(),
                "cartridge",
                format!("give `preset` (one of {}) or `needles_mm`", cartridge::preset_names().join(", ")),
            ));
        }
    };
    if let Some(d) = &c.needle_diameter_mm {
        cart.needle_diameter_mm = ctx.plausible(d, "cartridge.needle_diameter_mm", "mm", RANGE_NEEDLE_DIAMETER_MM)?;
    }
    if let Some(d) = &c.depth_mm {
        cart.depth_mm = ctx.plausible(d, "cartridge.depth_mm", "mm", RANGE_DEPTH_MM)?;
    }
    if let Some(f) = &c.dwell_fraction {
        let v = *f.get_ref();
        if !(v.is_finite() && v > 0.0 && v <= 1.0) {
            return Err(ctx.err(
                &f.span(),
                "cartridge.dwell_fraction",
                format!("{v} is not accepted: give the share of a stroke cycle in the skin, above 0 and at most 1"),
            ));
        }
        cart.dwell_fraction = v;
    }
    if let Some(r) = &c.rate_hz {
        let hz = ctx.plausible(r, "cartridge.rate_hz", "Hz", RANGE_RATE_HZ)?;
        match &mut cart.drive {
            Drive::Pen { rate_hz } => *rate_hz = hz,
            Drive::Roller { .. } => {
                return Err(ctx.err(
                    &r.span(),
                    "cartridge.rate_hz",
                    "a roller has no stamp rate (rolling distance sets contact): remove it",
                ));
            }
        }
    }
    Ok(cart)
}

fn validate_hand(ctx: &Ctx, raw: &Spanned<RawHand>) -> Result<Hand, SceneError> {
    let h = raw.get_ref();
    let Some(speed) = &h.speed_mm_s else {
        return Err(ctx.err(&raw.span(), "hand.speed_mm_s", "is required: the glide speed in mm/s (e.g. 10)"));
    };
    let opt = |v: &Option<Spanned<f64>>, key: &str, unit: &str, below: Option<f64>, default: f64| match v {
        Some(v) => ctx.non_negative(v, key, unit, below),
        None => Ok(default),
    };
    let wobble_length_mm = match &h.wobble_length_mm {
        Some(v) => ctx.plausible(v, "hand.wobble_length_mm", "mm", RANGE_WOBBLE_LENGTH_MM)?,
        None => DEFAULT_WOBBLE_LENGTH_MM,
    };
    let orientation = ctx.choice(
        h.orientation.as_ref(),
        "hand.orientation",
        &[("fixed", Orientation::Fixed), ("travel", Orientation::Travel)],
        Orientation::Fixed,
        |other| format!("`{other}` is not accepted: give \"fixed\" (the pen keeps its turn, default) or \"travel\" (turned to the travel direction)"),
    )?;
    Ok(Hand {
        orientation,
        lift_time_s: match &h.lift_time_s {
            Some(v) => ctx.plausible_non_negative(v, "hand.lift_time_s", "s", MAX_TURN_TIME_S)?,
            None => DEFAULT_LIFT_TIME_S,
        },
        speed_mm_s: ctx.plausible(speed, "hand.speed_mm_s", "mm/s", RANGE_SPEED_MM_S)?,
        lateral_jitter_mm: match &h.lateral_jitter_mm {
            Some(v) => ctx.plausible_non_negative(v, "hand.lateral_jitter_mm", "mm", MAX_LATERAL_JITTER_MM)?,
            None => 0.0,
        },
        speed_jitter: opt(&h.speed_jitter, "hand.speed_jitter", "relative sd", Some(1.0), 0.0)?,
        turn_time_s: match &h.turn_time_s {
            Some(v) => ctx.plausible_non_negative(v, "hand.turn_time_s", "s", MAX_TURN_TIME_S)?,
            None => DEFAULT_TURN_TIME_S,
        },
        wobble_length_mm,
    })
}

fn validate_shape(ctx: &Ctx, raw: &Spanned<RawShape>, key: &str) -> Result<Shape, SceneError> {
    // Each error is located at the value it is about, not at the shape's `{`.
    let pos = |x: &Spanned<f64>, what: &str| ctx.positive(x, &format!("{key}.{what}"), "mm");
    let point = |p: &Spanned<[f64; 2]>, what: &str| {
        let [u, v] = *p.get_ref();
        if u.is_finite() && v.is_finite() {
            Ok(Vec2::new(u, v))
        } else {
            Err(ctx.err(&p.span(), format!("{key}.{what}"), "holds a value that is not a finite number"))
        }
    };
    Ok(match raw.get_ref() {
        RawShape::Rect { width_mm, height_mm } => {
            Shape::rect(pos(width_mm, "rect.width_mm")?, pos(height_mm, "rect.height_mm")?)
        }
        RawShape::Ellipse { width_mm, height_mm, center_mm } => {
            let (w, h) = (pos(width_mm, "ellipse.width_mm")?, pos(height_mm, "ellipse.height_mm")?);
            let center_mm = match center_mm {
                Some(c) => point(c, "ellipse.center_mm")?,
                None => Vec2::new(w / 2.0, h / 2.0),
            };
            Shape::Ellipse { center_mm, radius_u_mm: w / 2.0, radius_v_mm: h / 2.0 }
        }
        RawShape::Circle { center_mm, radius_mm } => {
            Shape::circle(point(center_mm, "circle.center_mm")?, pos(radius_mm, "circle.radius_mm")?)
        }
        RawShape::Polygon { points_mm } => {
            let points = points_mm.get_ref();
            let vertices_mm: Vec<Vec2> = points.iter().map(|p| Vec2::new(p.get_ref()[0], p.get_ref()[1])).collect();
            shape::validate_polygon(&vertices_mm).map_err(|problem| {
                // At the vertex the problem names, else at the list.
                let vertex = match problem {
                    shape::PolygonProblem::NotFinite(i) => Some(i),
                    shape::PolygonProblem::SelfIntersecting { edge_b, .. } => Some(edge_b),
                    _ => None,
                };
                let span = vertex.and_then(|i| points.get(i)).map_or(points_mm.span(), |p| p.span());
                ctx.err(
                    &span,
                    format!("{key}.polygon.points_mm"),
                    format!("the polygon {problem}: give 3 or more [x, y] points in mm tracing a simple outline"),
                )
            })?;
            Shape::Polygon { vertices_mm }
        }
    })
}

fn validate_zone(
    ctx: &Ctx,
    zi: usize,
    raw: &Spanned<RawZone>,
    cart: &Cartridge,
    hand: &Hand,
) -> Result<Zone, SceneError> {
    let z = raw.get_ref();
    let key = format!("zones[{zi}]");
    let mut geometry = zone_geometry(ctx, &key, raw)?;
    let mut clip_shape = None;
    if let Some(clip) = &z.clip {
        if geometry.surface.is_none() {
            return Err(ctx.err(
                &clip.span(),
                format!("{key}.clip"),
                "only a `mesh` zone takes it: a flat zone's `shape` is its outline already",
            ));
        }
        let shape = validate_shape(ctx, clip, &format!("{key}.clip"))?;
        (geometry.outline, geometry.avoid) = clip_outline(&geometry.outline, geometry.avoid, &shape)
            .map_err(|m| ctx.err(&clip.span(), format!("{key}.clip"), m))?;
        clip_shape = Some(shape);
    }
    let name = match &z.name {
        Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().clone(),
        Some(n) => {
            return Err(ctx.err(&n.span(), format!("{key}.name"), "is empty: give the zone a name"));
        }
        None => match &geometry.builtin {
            Some(b) => b.name.to_string(),
            None => {
                return Err(ctx.err(
                    &raw.span(),
                    format!("{key}.name"),
                    "is required: give the zone a name (e.g. \"forehead\")",
                ));
            }
        },
    };
    let mut avoid = geometry.avoid;
    for (ai, a) in z.avoid.iter().enumerate() {
        avoid.push(validate_shape(ctx, a, &format!("{key}.avoid[{ai}]"))?);
    }
    let outline = geometry.outline;
    let skin = ctx.choice(
        z.skin.as_ref(),
        &format!("{key}.skin"),
        &[("thin", Skin::Thin), ("thick", Skin::Thick)],
        Skin::Thin,
        |other| format!("unknown skin `{other}`; accepted: thin, thick"),
    )?;
    let depth_range_mm = match &z.depth_range_mm {
        Some(r) => {
            let [lo, hi] = *r.get_ref();
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
                return Err(ctx.err(
                    &r.span(),
                    format!("{key}.depth_range_mm"),
                    format!(
                        "[{lo}, {hi}] is not accepted: give [shallowest, deepest] mm with 0 < shallowest <= deepest"
                    ),
                ));
            }
            Some([lo, hi])
        }
        None => geometry.builtin.as_ref().map(|b| match skin {
            Skin::Thin => b.depth.thin_mm,
            Skin::Thick => b.depth.thick_mm,
        }),
    };
    let target_per_cm2 = match &z.target_per_cm2 {
        Some(t) => {
            let [lo, hi] = *t.get_ref();
            if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && hi > lo) {
                return Err(ctx.err(
                    &t.span(),
                    format!("{key}.target_per_cm2"),
                    format!("[{lo}, {hi}] is not accepted: give [low, high] punctures/cm2 with 0 <= low < high"),
                ));
            }
            Some([lo, hi])
        }
        None => geometry.builtin.as_ref().map(|b| b.target_per_cm2),
    };
    if z.passes.is_empty() {
        return Err(ctx.err(
            &raw.span(),
            format!("{key}.passes"),
            format!("zone `{name}` has no passes: add at least one [[zones.passes]]"),
        ));
    }
    let zone_depth_mm = match &z.depth_mm {
        Some(d) => ctx.plausible(d, &format!("{key}.depth_mm"), "mm", RANGE_DEPTH_MM)?,
        None => cart.depth_mm,
    };
    let passes = z
        .passes
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            let pass_key = format!("{key}.passes[{pi}]");
            match &p.get_ref().trajectory {
                Some(file) => trajectory_pass(ctx, &pass_key, p, file, cart, &name, &outline, zone_depth_mm),
                None => validate_pass(ctx, &pass_key, p, cart, hand, zone_depth_mm),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Zone {
        name,
        region: Region { outline, avoid },
        target_per_cm2,
        passes,
        at: ctx.at(&raw.span()),
        source: geometry.source,
        surface: geometry.surface,
        clip: clip_shape,
        skin,
        depth_range_mm,
    })
}

/// The part of a mesh zone's chart `outline` inside `clip` (the clip itself
/// when it lies wholly inside, so an ellipse stays exact), with the avoid
/// regions that reach into it; refused when the clip misses the chart or
/// cuts it into separate pieces.
fn clip_outline(outline: &Shape, avoid: Vec<Shape>, clip: &Shape) -> Result<(Shape, Vec<Shape>), String> {
    let pieces = shape::intersection(outline, clip);
    let polygon_area = |p: &[Vec2]| shape::Shape::Polygon { vertices_mm: p.to_vec() }.area_mm2();
    let b = outline.bounds();
    let chart = format!(
        "the chart spans u {:.1} to {:.1} mm, v {:.1} to {:.1} mm (`needlemap chart SCENE --out chart.png` draws it \
         with a mm grid)",
        b.min_mm.x, b.max_mm.x, b.min_mm.y, b.max_mm.y
    );
    let piece = match pieces.as_slice() {
        [] => return Err(format!("lies outside the mesh's chart: {chart}")),
        [one] => one,
        many => {
            let mut areas: Vec<f64> = many.iter().map(|p| polygon_area(p) / 100.0).collect();
            areas.sort_by(|a, b| b.total_cmp(a));
            let listed: Vec<String> = areas.iter().map(|a| format!("{a:.2} cm2")).collect();
            return Err(format!(
                "cuts the chart into {} separate pieces ({}): give each piece a zone of its own",
                many.len(),
                listed.join(", ")
            ));
        }
    };
    let area = polygon_area(piece);
    // A clip wholly inside the outline is kept as given (an ellipse stays
    // an ellipse); its 512-gon falls 0.003 % short, polygons not at all.
    let inside = (area - clip.area_mm2()).abs() <= 1e-4 * clip.area_mm2()
        && clip.outline_mm().iter().all(|&p| outline.contains(p));
    let clipped = if inside { clip.clone() } else { Shape::Polygon { vertices_mm: piece.clone() } };
    if let Shape::Polygon { vertices_mm } = &clipped {
        shape::validate_polygon(vertices_mm).map_err(|p| format!("leaves an outline that {p}"))?;
    }
    let avoid = avoid.into_iter().filter(|a| !shape::intersection(&clipped, a).is_empty()).collect();
    Ok((clipped, avoid))
}

/// A zone's outline, its surface and what a built-in brings along.
struct ZoneGeometry {
    outline: Shape,
    avoid: Vec<Shape>,
    surface: Option<Arc<Surface>>,
    source: String,
    builtin: Option<anatomy::BuiltinZone>,
}

fn zone_geometry(ctx: &Ctx, key: &str, raw: &Spanned<RawZone>) -> Result<ZoneGeometry, SceneError> {
    let z = raw.get_ref();
    let (shape, mesh) = match (&z.shape, &z.mesh) {
        (Some(_), Some(m)) => {
            return Err(ctx.err(&m.span(), format!("{key}.mesh"), "give either `shape` or `mesh`, not both"));
        }
        (None, None) => {
            return Err(ctx.err(
                &raw.span(),
                format!("{key}.shape"),
                "is required (or `mesh`): e.g. shape = { rect = { width_mm = 60, height_mm = 40 } } (or ellipse, circle, \
                 polygon), or mesh = \"builtin:forehead\" / \"face.obj#cheek\"",
            ));
        }
        (s, m) => (s, m),
    };
    for (v, what) in [(&z.mesh_resolution_mm, "mesh_resolution_mm"), (&z.mesh_unit_mm, "mesh_unit_mm")] {
        if let (Some(v), None) = (v, mesh) {
            return Err(ctx.err(&v.span(), format!("{key}.{what}"), "only a `mesh` zone takes it"));
        }
    }
    if let Some(shape) = shape {
        let outline = validate_shape(ctx, shape, &format!("{key}.shape"))?;
        return Ok(ZoneGeometry { outline, avoid: Vec::new(), surface: None, source: "flat".into(), builtin: None });
    }
    let m = mesh.as_ref().expect("one of shape or mesh");
    let spec = m.get_ref().trim();
    let mesh_err = |msg: String| ctx.err(&m.span(), format!("{key}.mesh"), format!("`{spec}`: {msg}"));
    if let Some(name) = spec.strip_prefix("builtin:") {
        if let Some(u) = &z.mesh_unit_mm {
            return Err(ctx.err(
                &u.span(),
                format!("{key}.mesh_unit_mm"),
                "built-in zones are in mm already: remove it",
            ));
        }
        let [lo, hi] = anatomy::RESOLUTION_RANGE_MM;
        let resolution = match &z.mesh_resolution_mm {
            Some(r) if r.get_ref().is_finite() && *r.get_ref() >= lo && *r.get_ref() <= hi => *r.get_ref(),
            Some(r) => {
                return Err(ctx.err(
                    &r.span(),
                    format!("{key}.mesh_resolution_mm"),
                    format!("{} is not accepted: give {lo} to {hi} mm between vertices", r.get_ref()),
                ));
            }
            None => anatomy::DEFAULT_RESOLUTION_MM,
        };
        let b = anatomy::builtin(name, resolution)
            .ok_or_else(|| mesh_err(format!("no such built-in zone; accepted: {}", anatomy::names().join(", "))))?;
        let outline = b.mesh.chart_outline().map_err(|p| mesh_err(p.to_string()))?;
        let surface = Surface::new(b.mesh.clone(), "arc-length grid".into(), Vec::new());
        return Ok(ZoneGeometry {
            outline,
            avoid: b.avoid.clone(),
            surface: Some(Arc::new(surface)),
            source: spec.to_string(),
            builtin: Some(b),
        });
    }
    if let Some(r) = &z.mesh_resolution_mm {
        return Err(ctx.err(
            &r.span(),
            format!("{key}.mesh_resolution_mm"),
            "only built-in meshes take a resolution: remove it",
        ));
    }
    let unit_mm = match &z.mesh_unit_mm {
        Some(u) => ctx.plausible(
            u,
            &format!("{key}.mesh_unit_mm"),
            "mm per mesh unit: 1 for mm, 10 for cm, 1000 for m",
            RANGE_MESH_UNIT_MM,
        )?,
        None => 1.0,
    };
    let (path, group) = match spec.split_once('#') {
        Some((p, g)) => (p, Some(g)),
        None => (spec, None),
    };
    let Some(format) = formats::Format::of(path) else {
        return Err(mesh_err(format!(
            "give a built-in (builtin:NAME) or a mesh file ({}; face.obj#group for one group)",
            formats::ACCEPTED
        )));
    };
    let cache_key = (spec.to_string(), unit_mm.to_bits());
    if let Some((surface, outline, holes)) = ctx.meshes.borrow().get(&cache_key) {
        return Ok(ZoneGeometry {
            outline: outline.clone(),
            avoid: holes.clone(),
            surface: Some(surface.clone()),
            source: spec.to_string(),
            builtin: None,
        });
    }
    let bytes = (ctx.resolve)(path).map_err(|e| mesh_err(e.to_string()))?;
    // Files a glTF names lie beside it.
    let folder = path.rfind(['/', '\\']).map_or("", |i| &path[..=i]);
    let beside = |name: &str| (ctx.resolve)(&format!("{folder}{name}")).map_err(|e| e.to_string());
    let parsed = formats::parse_mesh(format, &bytes, group, unit_mm, &beside).map_err(|e| mesh_err(e.to_string()))?;
    let outline = parsed.mesh.chart_outline().map_err(|p| mesh_err(p.to_string()))?;
    // The mesh's holes (inner boundary loops) are no skin: kept out of the zone.
    let holes = parsed.mesh.chart_holes().map_err(|p| mesh_err(p.to_string()))?;
    let surface = Arc::new(Surface::new(parsed.mesh, parsed.chart_method.into(), parsed.warnings));
    ctx.meshes.borrow_mut().insert(cache_key, (surface.clone(), outline.clone(), holes.clone()));
    Ok(ZoneGeometry { outline, avoid: holes, surface: Some(surface), source: spec.to_string(), builtin: None })
}

/// A pass's stamp rate (a pen's own unless the pass sets one; none for a
/// roller) and needle depth (the zone's unless the pass sets one).
fn rate_and_depth(
    ctx: &Ctx,
    key: &str,
    p: &RawPass,
    cart: &Cartridge,
    zone_depth_mm: f64,
) -> Result<(Option<f64>, f64), SceneError> {
    let rate_hz = match (&p.rate_hz, &cart.drive) {
        (Some(r), Drive::Roller { .. }) => {
            return Err(ctx.err(
                &r.span(),
                format!("{key}.rate_hz"),
                "a roller has no stamp rate (rolling distance sets contact): remove it",
            ));
        }
        (Some(r), Drive::Pen { .. }) => Some(ctx.plausible(r, &format!("{key}.rate_hz"), "Hz", RANGE_RATE_HZ)?),
        (None, Drive::Pen { rate_hz }) => Some(*rate_hz),
        (None, Drive::Roller { .. }) => None,
    };
    let depth_mm = match &p.depth_mm {
        Some(d) => ctx.plausible(d, &format!("{key}.depth_mm"), "mm", RANGE_DEPTH_MM)?,
        None => zone_depth_mm,
    };
    Ok((rate_hz, depth_mm))
}

/// A pass that follows a trajectory file: this zone's samples of it.
#[allow(clippy::too_many_arguments)]
fn trajectory_pass(
    ctx: &Ctx,
    key: &str,
    raw: &Spanned<RawPass>,
    file: &Spanned<String>,
    cart: &Cartridge,
    zone: &str,
    outline: &Shape,
    zone_depth_mm: f64,
) -> Result<Pass, SceneError> {
    let p = raw.get_ref();
    let spans = [
        (p.pattern.as_ref().map(|v| v.span()), "pattern"),
        (p.angle_deg.as_ref().map(|v| v.span()), "angle_deg"),
        (p.lane_spacing_mm.as_ref().map(|v| v.span()), "lane_spacing_mm"),
        (p.repeats.as_ref().map(|v| v.span()), "repeats"),
        (p.stamps.as_ref().map(|v| v.span()), "stamps"),
        (p.speed_mm_s.as_ref().map(|v| v.span()), "speed_mm_s"),
    ];
    for (span, what) in spans {
        if let Some(span) = span {
            return Err(ctx.err(
                &span,
                format!("{key}.{what}"),
                "a trajectory pass takes its path and speed from the file: remove it",
            ));
        }
    }
    if p.stagger.is_some() || p.respect_avoid.is_some() || p.avoid_margin_mm.is_some() {
        return Err(ctx.err(
            &raw.span(),
            format!("{key}.trajectory"),
            "a trajectory pass takes its path from the file: remove `stagger`, `respect_avoid` and `avoid_margin_mm`",
        ));
    }
    let name = file.get_ref().trim();
    let file_err = |msg: String| ctx.err(&file.span(), format!("{key}.trajectory"), format!("`{name}`: {msg}"));
    if name.is_empty() {
        return Err(file_err("give a CSV file (time_s, zone, u_mm, v_mm[, pressure])".into()));
    }
    let bytes = (ctx.resolve)(name).map_err(|e| file_err(e.to_string()))?;
    let text = crate::core::format::utf8_text(&bytes).map_err(|e| file_err(e.to_string()))?;
    // Messages name the file as found beside the scene.
    let shown = match ctx.file.rfind(['/', '\\']) {
        Some(i) if !name.starts_with('/') => format!("{}/{name}", &ctx.file[..i]),
        _ => name.to_string(),
    };
    let trace = Trace::parse(text, &shown)?;
    let points = trace.points_of(zone);
    if points.len() < 2 {
        return Err(file_err(format!(
            "has {} sample(s) for zone `{zone}`; a pass needs 2 or more (the file's zones: {})",
            points.len(),
            trace.zones().join(", ")
        )));
    }
    let region = Region { outline: outline.clone(), avoid: Vec::new() };
    trajectory::check_on_zone(&points, &region, zone, &shown)?;
    let (rate_hz, depth_mm) = rate_and_depth(ctx, key, p, cart, zone_depth_mm)?;
    let speed = trajectory::mean_speed_mm_s(&points);
    Ok(Pass {
        label: format!("trajectory {name}"),
        depth_mm,
        kind: PassKind::Trajectory { file: name.to_string(), points: Arc::new(points) },
        // The mean glide speed on the skin (for reports; the samples set the motion).
        speed_mm_s: if speed > 0.0 { speed } else { 1.0 },
        rate_hz,
        stamps_per_point: 1,
        respect_avoid: false,
        avoid_margin_mm: 0.0,
        at: ctx.at(&raw.span()),
    })
}

fn validate_pass(
    ctx: &Ctx,
    key: &str,
    raw: &Spanned<RawPass>,
    cart: &Cartridge,
    hand: &Hand,
    zone_depth_mm: f64,
) -> Result<Pass, SceneError> {
    let p = raw.get_ref();
    let accepted = PATTERNS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" | ");
    let pattern = match &p.pattern {
        Some(s) => {
            let found = PATTERNS.iter().find(|(n, _)| *n == s.get_ref());
            Some(found.ok_or_else(|| {
                ctx.err(
                    &s.span(),
                    format!("{key}.pattern"),
                    format!("unknown pattern `{}`; accepted: {accepted}, or give angle_deg", s.get_ref()),
                )
            })?)
        }
        None => None,
    };
    let (label, angle) = match (pattern, &p.angle_deg) {
        (Some(_), Some(a)) => {
            return Err(ctx.err(
                &a.span(),
                format!("{key}.angle_deg"),
                "give either `pattern` or `angle_deg`, not both",
            ));
        }
        (Some((name, angle)), None) => (name.to_string(), *angle),
        (None, Some(a)) => {
            let deg = *a.get_ref();
            if !deg.is_finite() {
                return Err(ctx.err(
                    &a.span(),
                    format!("{key}.angle_deg"),
                    format!("{deg} is not accepted: give a finite angle in degrees"),
                ));
            }
            (format!("angle {deg}"), Some(deg))
        }
        (None, None) => {
            return Err(ctx.err(
                &raw.span(),
                format!("{key}.pattern"),
                format!("is required: one of {accepted}, or give angle_deg"),
            ));
        }
    };
    let kind = match angle {
        Some(angle_deg) => {
            if let Some(s) = &p.stamps {
                return Err(ctx.err(
                    &s.span(),
                    format!("{key}.stamps"),
                    "only a `random` pass takes `stamps`; lanes take lane_spacing_mm",
                ));
            }
            let Some(sp) = &p.lane_spacing_mm else {
                return Err(ctx.err(
                    &raw.span(),
                    format!("{key}.lane_spacing_mm"),
                    "is required for a lane pattern (mm between lane centres, e.g. 3)",
                ));
            };
            let repeats = match &p.repeats {
                Some(r) if *r.get_ref() == 0 => {
                    return Err(ctx.err(
                        &r.span(),
                        format!("{key}.repeats"),
                        "0 is not accepted: give a whole number >= 1",
                    ));
                }
                Some(r) => *r.get_ref(),
                None => 1,
            };
            let lane_spacing_mm = ctx.plausible(sp, &format!("{key}.lane_spacing_mm"), "mm", RANGE_LANE_SPACING_MM)?;
            let circles = if label == "circles" {
                if cart.is_roller() {
                    return Err(ctx.err(
                        &raw.span(),
                        format!("{key}.pattern"),
                        "a roller cannot trace circles: give it lanes",
                    ));
                }
                let radius_mm = match &p.circle_radius_mm {
                    Some(v) => ctx.in_range(v, &format!("{key}.circle_radius_mm"), "mm", [0.1, 50.0])?,
                    None => lane_spacing_mm / 2.0,
                };
                let step_mm = match &p.circle_step_mm {
                    Some(v) => ctx.in_range(v, &format!("{key}.circle_step_mm"), "mm", [0.05, 100.0])?,
                    None => radius_mm,
                };
                Some(Circles { radius_mm, step_mm })
            } else {
                for (v, what) in [(&p.circle_radius_mm, "circle_radius_mm"), (&p.circle_step_mm, "circle_step_mm")] {
                    if let Some(v) = v {
                        return Err(ctx.err(&v.span(), format!("{key}.{what}"), "only a `circles` pass takes circles"));
                    }
                }
                None
            };
            PassKind::Lanes {
                angle_deg: angle_deg.rem_euclid(360.0),
                lane_spacing_mm,
                repeats,
                stagger: p.stagger.unwrap_or(false),
                circles,
            }
        }
        None => {
            for (v, what) in [
                (p.lane_spacing_mm.as_ref().map(|s| s.span()), "lane_spacing_mm"),
                (p.repeats.as_ref().map(|s| s.span()), "repeats"),
            ] {
                if let Some(span) = v {
                    return Err(ctx.err(&span, format!("{key}.{what}"), "a `random` pass takes `stamps`, not lanes"));
                }
            }
            let Some(s) = &p.stamps else {
                return Err(ctx.err(
                    &raw.span(),
                    format!("{key}.stamps"),
                    "is required for a `random` pass (number of cartridge stamps, >= 1)",
                ));
            };
            if *s.get_ref() == 0 {
                return Err(ctx.err(&s.span(), format!("{key}.stamps"), "0 is not accepted: give a whole number >= 1"));
            }
            if cart.is_roller() {
                return Err(ctx.err(
                    &s.span(),
                    format!("{key}.pattern"),
                    "a roller cannot stamp at random: give it lanes (horizontal, vertical, ...)",
                ));
            }
            PassKind::Random { stamps: *s.get_ref() }
        }
    };
    let speed_mm_s = match &p.speed_mm_s {
        Some(v) => ctx.plausible(v, &format!("{key}.speed_mm_s"), "mm/s", RANGE_SPEED_MM_S)?,
        None => hand.speed_mm_s,
    };
    let (rate_hz, depth_mm) = rate_and_depth(ctx, key, p, cart, zone_depth_mm)?;
    let stamps_per_point = match &p.stamps_per_point {
        Some(k) if *k.get_ref() == 0 || *k.get_ref() > 100 => {
            return Err(ctx.err(
                &k.span(),
                format!("{key}.stamps_per_point"),
                format!("{} is not accepted: give a whole number from 1 to 100", k.get_ref()),
            ));
        }
        Some(k) if cart.is_roller() => {
            return Err(ctx.err(&k.span(), format!("{key}.stamps_per_point"), "a roller cannot stamp in place"));
        }
        Some(k) => *k.get_ref(),
        None => 1,
    };
    Ok(Pass {
        label,
        depth_mm,
        kind,
        speed_mm_s,
        rate_hz,
        stamps_per_point,
        respect_avoid: p.respect_avoid.unwrap_or(true),
        avoid_margin_mm: match &p.avoid_margin_mm {
            Some(v) => ctx.plausible_non_negative(v, &format!("{key}.avoid_margin_mm"), "mm", MAX_AVOID_MARGIN_MM)?,
            None => AVOID_MARGIN_SDS * hand.lateral_jitter_mm,
        },
        at: ctx.at(&raw.span()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The minimal scene the tests share.
    const OK: &str = include_str!("../../../tests/data/minimal.toml");

    #[test]
    fn a_minimal_scene_validates_with_defaults() {
        let s = Scene::from_toml_str(OK, "t.toml").unwrap();
        assert_eq!(s.seed, 1, "the file's seed");
        assert_eq!(s.cartridge.needle_count(), 12);
        assert_eq!(s.analysis.cell_mm, DEFAULT_CELL_MM);
        assert_eq!(s.zones[0].passes[0].rate_hz, Some(110.0));
    }

    #[test]
    fn location_counts_lines_and_columns_from_one() {
        use crate::core::error::location;
        assert_eq!(location("ab\ncd", 4), Location { line: 2, column: 2 });
        // The context's line table gives the same at every offset.
        let text = "a = 1\n\nnäme = \"ü\"\n[x]\n";
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let ctx = Ctx {
            file: "t",
            text,
            resolve: &|_| Err(ResolveError::Unreadable { path: String::new(), reason: String::new() }),
            line_starts,
            meshes: Default::default(),
        };
        for offset in (0..=text.len()).filter(|&o| text.is_char_boundary(o)) {
            assert_eq!(ctx.at(&(offset..offset)), location(text, offset), "offset {offset}");
        }
    }

    #[test]
    fn a_scene_name_is_one_safe_folder_name() {
        let named =
            |name: &str| Scene::from_toml_str(&OK.replace("name = \"t\"", &format!("name = {name:?}")), "t.toml");
        for bad in ["../../escaped", "/tmp/x", "a\\b", ".hidden", "..", "two\nlines", &"x".repeat(201)] {
            let e = named(bad).unwrap_err();
            assert_eq!(e.key, "name", "{bad:?}: {e}");
            assert!(e.message.contains(NAME_RULE), "{bad:?}: {e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
        for good in ["cheek", "left cheek 2", "face-ü", &"x".repeat(200)] {
            assert_eq!(named(good).unwrap().name, good);
        }
        // Without a name, the file's stem, made safe.
        assert_eq!(safe_name(".hid\nden"), "_hid_den");
        assert_eq!(safe_name(""), "scene");
        let unnamed = OK.replace("name = \"t\"\n", "");
        assert_eq!(Scene::from_toml_str(&unnamed, "dir/.odd.toml").unwrap().name, "_odd");
    }

    #[test]
    fn absurd_physical_values_are_refused_naming_the_plausible_range() {
        let cases = [
            ("speed_mm_s = 10", "speed_mm_s = 1e6", "hand.speed_mm_s", "0.1 to 1000"),
            ("[hand]\n", "[hand]\nturn_time_s = 1e300\n", "hand.turn_time_s", "0 to 60"),
            ("[hand]\n", "[hand]\nlateral_jitter_mm = 1e6\n", "hand.lateral_jitter_mm", "0 to 20"),
            (
                "preset = \"pen-12\"",
                "preset = \"pen-12\"\nneedle_diameter_mm = 1000",
                "cartridge.needle_diameter_mm",
                "0.01 to 2",
            ),
            ("preset = \"pen-12\"", "preset = \"pen-12\"\ndepth_mm = 50", "cartridge.depth_mm", "0.01 to 5"),
            ("lane_spacing_mm = 3", "lane_spacing_mm = 1e9", "zones[0].passes[0].lane_spacing_mm", "0.01 to 200"),
            ("[hand]\n", "[analysis]\ncell_mm = 1e6\n[hand]\n", "analysis.cell_mm", "0.05 to 100"),
        ];
        for (from, to, key, range) in cases {
            assert!(OK.contains(from), "{from}");
            let e = Scene::from_toml_str(&OK.replacen(from, to, 1), "t.toml").unwrap_err();
            assert_eq!(e.key, key, "{to}: {e}");
            assert!(e.message.contains("is not plausible") && e.message.contains(range), "{to}: {e}");
        }
        // Non-positive values keep their own message.
        let e =
            Scene::from_toml_str(&OK.replacen("lane_spacing_mm = 3", "lane_spacing_mm = -3", 1), "t.toml").unwrap_err();
        assert!(e.message.contains("give a finite number > 0"), "{e}");
    }
}
