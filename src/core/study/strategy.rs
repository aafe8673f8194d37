//! Strategies: variations of a base scene (pattern mix, pass count, lane
//! spacing, speed, cartridge, stagger, ...), and the strategies file that
//! lists them for `needlemap compare`.
//!
//! ```toml
//! base = "cheek.toml"        # the scene every strategy varies (relative to this file)
//! seeds = 20                 # Monte-Carlo seeds, the same for every strategy
//! zones = ["left cheek"]     # optional: only these zones
//!
//! [[strategy]]
//! name = "H + V"
//! patterns = ["horizontal", "vertical"]
//! lane_spacing_mm = 4
//! angle_deg = 30            # optional: the first lane pass at 30°, the others turned with it
//!
//! [[strategy]]
//! name = "random 2000"
//! patterns = ["random"]
//! random_density_per_cm2 = 2000   # stamps follow from each zone's area
//! ```

use crate::core::error::{Location, SceneError, location};
use crate::core::input::cartridge;
use crate::core::input::scene::{Circles, PATTERNS, Pass, PassKind, Scene};
use serde::Deserialize;
use toml::Spanned;

/// What a strategy changes in its base scene; `None` keeps the scene's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Variation {
    /// A cartridge preset (its stamp rate comes with it).
    pub cartridge: Option<String>,
    /// Glide speed of the hand and of every lane pass, mm/s.
    pub speed_mm_s: Option<f64>,
    /// Distance between lane centres of every lane pass, mm.
    pub lane_spacing_mm: Option<f64>,
    /// The passes of every zone, by pattern name, in order (cycled to
    /// `passes` when that is longer).
    pub patterns: Option<Vec<String>>,
    /// How many passes: the patterns (or the zone's own passes) cycled.
    pub passes: Option<u32>,
    /// Offset lanes by half a spacing on odd repeats (lane passes).
    pub stagger: Option<bool>,
    /// Repeats of every lane pass.
    pub repeats: Option<u32>,
    /// Stamps of each `random` pass.
    pub random_stamps: Option<u64>,
    /// Punctures per cm² of each `random` pass: its stamps follow from each
    /// zone's true area and the cartridge's needles (instead of `random_stamps`).
    pub random_density_per_cm2: Option<f64>,
    /// The lane angle of the first lane pass, degrees; the zone's other lane
    /// passes keep their angles to it (the pattern turned as a whole).
    pub angle_deg: Option<f64>,
    /// Stamp rate of every pass, Hz (pens only).
    pub rate_hz: Option<f64>,
    /// Needle depth of every pass, mm.
    pub depth_mm: Option<f64>,
}

/// The lane angle of a pattern name (`None` for `random`), if it is one.
pub fn pattern_angle(name: &str) -> Option<Option<f64>> {
    PATTERNS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

fn pattern_names() -> String {
    PATTERNS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

impl Variation {
    /// The base scene with this variation applied to every zone (or only to
    /// the zones named in `zones`, dropping the others). Errors say what
    /// cannot be combined.
    pub fn apply(&self, base: &Scene, zones: Option<&[String]>) -> Result<Scene, VariationError> {
        let mut scene = base.clone();
        if let Some(names) = zones {
            for n in names {
                if !scene.zones.iter().any(|z| &z.name == n) {
                    let known = scene.zones.iter().map(|z| z.name.clone()).collect();
                    return Err(VariationError::NoZone { zone: n.clone(), known });
                }
            }
            scene.zones.retain(|z| names.contains(&z.name));
        }
        if let Some(name) = &self.cartridge {
            let mut cart = cartridge::preset(name).ok_or_else(|| VariationError::NoPreset { preset: name.clone() })?;
            cart.depth_mm = scene.cartridge.depth_mm;
            scene.cartridge = cart;
        }
        let roller = scene.cartridge.is_roller();
        if roller && self.rate_hz.is_some() {
            return Err(VariationError::RollerRate);
        }
        if let Some(v) = self.speed_mm_s {
            scene.hand.speed_mm_s = v;
        }
        let needles = scene.cartridge.needle_count().max(1) as f64;
        let (cell_mm, needle_r_mm) = (scene.analysis.cell_mm, scene.cartridge.needle_radius_mm());
        for zone in &mut scene.zones {
            // A density's stamps on this zone: its true area over the needles a stamp lays.
            let density_stamps = self
                .random_density_per_cm2
                .map(|d| ((d * zone_true_area_cm2(zone, cell_mm, needle_r_mm) / needles).round() as u64).max(1));
            let Some(template) = zone.passes.first().cloned() else { continue };
            let lane_template =
                zone.passes.iter().find(|p| matches!(p.kind, PassKind::Lanes { .. })).cloned().unwrap_or(template);
            let stamps_template = zone.passes.iter().find_map(|p| match p.kind {
                PassKind::Random { stamps } => Some(stamps),
                _ => None,
            });
            if let Some(patterns) = &self.patterns {
                let count = self.passes.map_or(patterns.len(), |n| n as usize);
                zone.passes = (0..count)
                    .map(|i| {
                        let name = &patterns[i % patterns.len()];
                        let kind = match pattern_angle(name) {
                            Some(Some(angle_deg)) => PassKind::Lanes {
                                angle_deg,
                                lane_spacing_mm: lane_spacing(&lane_template).unwrap_or(4.0),
                                repeats: 1,
                                stagger: false,
                                circles: (name == "circles").then(|| {
                                    let radius_mm = lane_spacing(&lane_template).unwrap_or(4.0) / 2.0;
                                    Circles { radius_mm, step_mm: radius_mm }
                                }),
                            },
                            Some(None) => PassKind::Random {
                                stamps: density_stamps
                                    .or(self.random_stamps)
                                    .or(stamps_template)
                                    .ok_or_else(|| VariationError::NoStamps { zone: zone.name.clone() })?,
                            },
                            None => return Err(VariationError::NoPattern { pattern: name.clone() }),
                        };
                        Ok(Pass { label: name.clone(), kind, ..lane_template.clone() })
                    })
                    .collect::<Result<_, VariationError>>()?;
            } else if let Some(n) = self.passes {
                let own = zone.passes.clone();
                zone.passes = (0..n as usize).map(|i| own[i % own.len()].clone()).collect();
            }
            for pass in &mut zone.passes {
                if let (Some(v), false) = (self.speed_mm_s, matches!(pass.kind, PassKind::Trajectory { .. })) {
                    pass.speed_mm_s = v;
                }
                if self.cartridge.is_some() || roller {
                    pass.rate_hz = scene.cartridge.rate_hz();
                }
                if let Some(r) = self.rate_hz {
                    pass.rate_hz = Some(r);
                }
                if let Some(d) = self.depth_mm {
                    pass.depth_mm = d;
                }
                match &mut pass.kind {
                    PassKind::Lanes { lane_spacing_mm, repeats, stagger, .. } => {
                        if let Some(v) = self.lane_spacing_mm {
                            *lane_spacing_mm = v;
                        }
                        if let Some(v) = self.repeats {
                            *repeats = v;
                        }
                        if let Some(v) = self.stagger {
                            *stagger = v;
                        }
                    }
                    // A recorded path keeps its own motion; rate, depth and cartridge apply.
                    PassKind::Trajectory { .. } => {}
                    PassKind::Random { stamps } => {
                        if roller {
                            return Err(VariationError::RollerRandom);
                        }
                        if let Some(v) = density_stamps.or(self.random_stamps) {
                            *stamps = v;
                        }
                    }
                }
            }
            if let Some(angle) = self.angle_deg {
                // The first lane pass at `angle`, the others turned with it.
                let first = zone.passes.iter().find_map(|p| match p.kind {
                    PassKind::Lanes { angle_deg, .. } => Some(angle_deg),
                    _ => None,
                });
                let Some(first) = first else {
                    return Err(VariationError::NoLanes { zone: zone.name.clone() });
                };
                for pass in &mut zone.passes {
                    if let PassKind::Lanes { angle_deg, .. } = &mut pass.kind {
                        *angle_deg = (*angle_deg - first + angle).rem_euclid(180.0);
                    }
                }
            }
        }
        Ok(scene)
    }
}

/// A zone's treatable true area, cm² (random stamps land only there), as
/// the run measures it: its analysis cells' true areas within the outline
/// and outside the avoid regions (`engine::zone::treatable_area_mm2`), each
/// cell's share of the chart at the surface's true/chart ratio there.
pub fn zone_true_area_cm2(zone: &crate::core::input::scene::Zone, cell_mm: f64, needle_r_mm: f64) -> f64 {
    crate::core::engine::zone::treatable_area_mm2(&zone.region, zone.surface.as_deref(), cell_mm, needle_r_mm) / 100.0
}

/// Why a variation cannot be applied to a scene.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VariationError {
    /// A zone asked for is not in the scene.
    #[error("no zone `{zone}` in the scene (it has: {})", known.join(", "))]
    NoZone {
        /// The zone asked for.
        zone: String,
        /// The scene's zones.
        known: Vec<String>,
    },
    /// Not a cartridge preset.
    #[error("`{preset}` is not a cartridge preset (one of: {})", cartridge::preset_names().join(", "))]
    NoPreset {
        /// The name given.
        preset: String,
    },
    /// An angle for a zone without lanes.
    #[error("angle_deg turns lane passes, and zone `{zone}` has none (give patterns with lanes)")]
    NoLanes {
        /// The zone.
        zone: String,
    },
    /// A roller has no stamp rate.
    #[error("a roller has no stamp rate: leave out rate_hz")]
    RollerRate,
    /// A roller cannot stamp at random.
    #[error("a roller cannot stamp at random: give lane patterns")]
    RollerRandom,
    /// A random pass with no stamp count given or to copy.
    #[error("a `random` pass needs random_stamps (zone `{zone}` has none to copy)")]
    NoStamps {
        /// The zone.
        zone: String,
    },
    /// Not a pattern name.
    #[error("`{pattern}` is not a pattern (one of: {})", pattern_names())]
    NoPattern {
        /// The name given.
        pattern: String,
    },
}

fn lane_spacing(p: &Pass) -> Option<f64> {
    match p.kind {
        PassKind::Lanes { lane_spacing_mm, .. } => Some(lane_spacing_mm),
        PassKind::Random { .. } | PassKind::Trajectory { .. } => None,
    }
}

/// One strategy of a strategies file.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedVariation {
    /// The strategy's name (`[[strategy]] name`), unique in the file.
    pub name: String,
    /// What it changes in the base scene.
    pub variation: Variation,
    /// Where its `[[strategy]]` table is in the file.
    pub at: Location,
}

/// A parsed strategies file.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategySet {
    /// The base scene's path as written (relative to the strategies file).
    pub base: String,
    /// Where `base` is written in the file.
    pub base_at: Location,
    /// Monte-Carlo seeds per strategy (`seeds`), if given.
    pub seeds: Option<u32>,
    /// The first seed (`first_seed`), if given.
    pub first_seed: Option<u64>,
    /// Only these zones of the base scene (`zones`), if given.
    pub zones: Option<Vec<String>>,
    /// The strategies, in file order.
    pub strategies: Vec<NamedVariation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    base: Spanned<String>,
    seeds: Option<Spanned<u32>>,
    first_seed: Option<u64>,
    zones: Option<Vec<String>>,
    #[serde(default)]
    strategy: Vec<Spanned<RawVariation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariation {
    name: Spanned<String>,
    cartridge: Option<Spanned<String>>,
    speed_mm_s: Option<Spanned<f64>>,
    lane_spacing_mm: Option<Spanned<f64>>,
    patterns: Option<Spanned<Vec<String>>>,
    passes: Option<Spanned<u32>>,
    stagger: Option<bool>,
    repeats: Option<Spanned<u32>>,
    random_stamps: Option<Spanned<u64>>,
    random_density_per_cm2: Option<Spanned<f64>>,
    angle_deg: Option<Spanned<f64>>,
    rate_hz: Option<Spanned<f64>>,
    depth_mm: Option<Spanned<f64>>,
}

/// Whether TOML text is a strategies file (it names a `base` scene) rather than a scene.
pub fn is_strategy_file(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("base") || t.contains_key("strategy"))
}

impl StrategySet {
    /// Parses and checks a strategies file; `file` names it in messages.
    pub fn from_toml_str(text: &str, file: &str) -> Result<StrategySet, SceneError> {
        let err = |span: std::ops::Range<usize>, key: String, message: String| SceneError {
            file: file.to_string(),
            at: location(text, span.start),
            key,
            message,
        };
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| err(e.span().unwrap_or(0..0), "strategies".into(), e.message().trim().to_string()))?;
        if let Some(s) = raw.seeds.as_ref().filter(|s| *s.get_ref() == 0) {
            return Err(err(s.span(), "seeds".into(), "0 is not accepted: give a whole number of seeds >= 1".into()));
        }
        if raw.strategy.is_empty() {
            return Err(err(0..0, "strategy".into(), "no [[strategy]] tables: give at least one".into()));
        }
        let positive = |v: &Option<Spanned<f64>>, key: String, unit: &str| -> Result<Option<f64>, SceneError> {
            match v {
                Some(s) if !(s.get_ref().is_finite() && *s.get_ref() > 0.0) => Err(err(
                    s.span(),
                    key,
                    format!("{} is not accepted: give a finite number > 0 ({unit})", s.get_ref()),
                )),
                Some(s) => Ok(Some(*s.get_ref())),
                None => Ok(None),
            }
        };
        let whole = |v: &Option<Spanned<u32>>, key: String| -> Result<Option<u32>, SceneError> {
            match v {
                Some(s) if *s.get_ref() == 0 => {
                    Err(err(s.span(), key, "0 is not accepted: give a whole number >= 1".into()))
                }
                Some(s) => Ok(Some(*s.get_ref())),
                None => Ok(None),
            }
        };
        let mut strategies: Vec<NamedVariation> = Vec::new();
        for (i, s) in raw.strategy.iter().enumerate() {
            let key = |k: &str| format!("strategy[{i}].{k}");
            let r = s.get_ref();
            let name = r.name.get_ref().trim().to_string();
            if name.is_empty() || strategies.iter().any(|o| o.name == name) {
                return Err(err(
                    r.name.span(),
                    key("name"),
                    format!("`{name}` is empty or used twice: give each strategy its own name"),
                ));
            }
            if let Some(c) = &r.cartridge
                && cartridge::preset(c.get_ref()).is_none()
            {
                return Err(err(
                    c.span(),
                    key("cartridge"),
                    format!("`{}` is not a preset (one of: {})", c.get_ref(), cartridge::preset_names().join(", ")),
                ));
            }
            if let Some(p) = &r.patterns {
                if p.get_ref().is_empty() {
                    return Err(err(p.span(), key("patterns"), "is empty: give at least one pattern".into()));
                }
                if let Some(bad) = p.get_ref().iter().find(|n| pattern_angle(n).is_none()) {
                    return Err(err(
                        p.span(),
                        key("patterns"),
                        format!("`{bad}` is not a pattern (one of: {})", pattern_names()),
                    ));
                }
            }
            if let Some(v) = r.random_stamps.as_ref().filter(|v| *v.get_ref() == 0) {
                return Err(err(v.span(), key("random_stamps"), "0 is not accepted: give a whole number >= 1".into()));
            }
            if let (Some(_), Some(d)) = (&r.random_stamps, &r.random_density_per_cm2) {
                return Err(err(
                    d.span(),
                    key("random_density_per_cm2"),
                    "and random_stamps both set the stamps of a random pass: give one".into(),
                ));
            }
            if let Some(a) = r.angle_deg.as_ref().filter(|a| !a.get_ref().is_finite()) {
                return Err(err(
                    a.span(),
                    key("angle_deg"),
                    format!("{} is not accepted: give a finite angle in degrees", a.get_ref()),
                ));
            }
            let variation = Variation {
                cartridge: r.cartridge.as_ref().map(|c| c.get_ref().clone()),
                speed_mm_s: positive(&r.speed_mm_s, key("speed_mm_s"), "mm/s")?,
                lane_spacing_mm: positive(&r.lane_spacing_mm, key("lane_spacing_mm"), "mm")?,
                patterns: r.patterns.as_ref().map(|p| p.get_ref().clone()),
                passes: whole(&r.passes, key("passes"))?,
                stagger: r.stagger,
                repeats: whole(&r.repeats, key("repeats"))?,
                random_stamps: r.random_stamps.as_ref().map(|v| *v.get_ref()),
                random_density_per_cm2: positive(
                    &r.random_density_per_cm2,
                    key("random_density_per_cm2"),
                    "punctures/cm²",
                )?,
                angle_deg: r.angle_deg.as_ref().map(|a| *a.get_ref()),
                rate_hz: positive(&r.rate_hz, key("rate_hz"), "stamps/s")?,
                depth_mm: positive(&r.depth_mm, key("depth_mm"), "mm")?,
            };
            strategies.push(NamedVariation { name, variation, at: location(text, s.span().start) });
        }
        Ok(StrategySet {
            base: raw.base.get_ref().clone(),
            base_at: location(text, raw.base.span().start),
            seeds: raw.seeds.map(|s| *s.get_ref()),
            first_seed: raw.first_seed,
            zones: raw.zones,
            strategies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forehead() -> Scene {
        Scene::from_toml_str(include_str!("../../../scenes/forehead.toml"), "forehead.toml").unwrap()
    }

    #[test]
    fn a_variation_rebuilds_the_passes_of_every_zone() {
        let v = Variation {
            cartridge: Some("pen-11".into()),
            speed_mm_s: Some(20.0),
            lane_spacing_mm: Some(3.0),
            patterns: Some(vec!["horizontal".into(), "vertical".into(), "diagonal".into()]),
            passes: Some(4),
            stagger: Some(true),
            ..Default::default()
        };
        let s = v.apply(&forehead(), None).unwrap();
        assert_eq!(s.cartridge.name, "pen-11");
        let labels: Vec<&str> = s.zones[0].passes.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["horizontal", "vertical", "diagonal", "horizontal"], "cycled to 4 passes");
        for p in &s.zones[0].passes {
            assert_eq!((p.rate_hz, p.speed_mm_s), (Some(90.0), 20.0));
            assert!(matches!(p.kind, PassKind::Lanes { lane_spacing_mm: 3.0, stagger: true, .. }));
        }
        let o = crate::core::engine::run(&s, &Default::default()).unwrap();
        // Four passes of the lattice law: 11 x 90 / (20 x 3) per mm2, x 100 per cm2.
        let law = 4.0 * 11.0 * 90.0 / (20.0 * 3.0) * 100.0;
        assert!((o.zones[0].density_per_cm2.mean / law - 1.0).abs() < 0.1);
    }

    /// A strategy's angle turns its lane passes as a whole: the first at
    /// the angle, the others keeping theirs to it.
    #[test]
    fn angle_deg_turns_the_lane_passes_as_a_whole() {
        let v = Variation {
            patterns: Some(vec!["horizontal".into(), "vertical".into(), "diagonal".into()]),
            angle_deg: Some(30.0),
            ..Default::default()
        };
        let s = v.apply(&forehead(), None).unwrap();
        let angles: Vec<f64> = s.zones[0]
            .passes
            .iter()
            .filter_map(|p| match p.kind {
                PassKind::Lanes { angle_deg, .. } => Some(angle_deg),
                _ => None,
            })
            .collect();
        assert_eq!(angles, [30.0, 120.0, 75.0]);
        let random = Variation {
            patterns: Some(vec!["random".into()]),
            random_stamps: Some(10),
            angle_deg: Some(30.0),
            ..Default::default()
        };
        assert!(random.apply(&forehead(), None).unwrap_err().to_string().contains("angle_deg turns lane passes"));
    }

    /// A random-stamping density sets each zone's stamps from its treatable
    /// true area, the one the run measures (but for the raster's sample
    /// shift, drawn from the run's seed: within 0.5 %): with one needle (no
    /// footprint falling off the edge) the simulated density is the density
    /// asked within 4 sd of the count, on flat and curved zones alike, the
    /// nose's nostrils (avoid regions where its chart is most stretched)
    /// among them.
    #[test]
    fn a_random_density_gives_that_density_on_every_zone() {
        let face = Scene::from_toml_str(include_str!("../../../scenes/full-face.toml"), "full-face.toml").unwrap();
        for base in [forehead(), face] {
            let v = Variation {
                cartridge: Some("single".into()),
                patterns: Some(vec!["random".into()]),
                random_density_per_cm2: Some(2000.0),
                ..Default::default()
            };
            let s = v.apply(&base, None).unwrap();
            let o = crate::core::engine::run(&s, &Default::default()).unwrap();
            let (cell_mm, r) = (s.analysis.cell_mm, s.cartridge.needle_radius_mm());
            for (zone, m) in s.zones.iter().zip(&o.zones) {
                let PassKind::Random { stamps } = zone.passes[0].kind else { panic!("a random pass") };
                let area = zone_true_area_cm2(zone, cell_mm, r);
                assert_eq!(stamps, (2000.0 * area).round() as u64, "{}", zone.name);
                assert!(
                    (m.area_cm2 / area - 1.0).abs() < 0.005,
                    "{}: {:.3} cm² measured, {area:.3} cm² asked",
                    zone.name,
                    m.area_cm2
                );
                let density = m.punctures as f64 / m.area_cm2;
                let sd = 2000.0 / (stamps as f64).sqrt();
                assert!(
                    (density - 2000.0).abs() < 4.0 * sd + 2000.0 * 0.005,
                    "{}: {density:.0} /cm² over {:.2} cm² (stamps from {area:.2})",
                    zone.name,
                    m.area_cm2,
                );
            }
        }
    }

    #[test]
    fn impossible_variations_say_why() {
        let f = forehead();
        let roller_random = Variation {
            cartridge: Some("roller-192".into()),
            patterns: Some(vec!["random".into()]),
            random_stamps: Some(100),
            ..Default::default()
        };
        assert!(roller_random.apply(&f, None).unwrap_err().to_string().contains("roller cannot stamp at random"));
        let random = Variation { patterns: Some(vec!["random".into()]), ..Default::default() };
        assert!(random.apply(&f, None).unwrap_err().to_string().contains("random_stamps"));
        assert!(
            Variation::default().apply(&f, Some(&["chin".into()])).unwrap_err().to_string().contains("no zone `chin`")
        );
    }

    #[test]
    fn a_strategies_file_is_checked_with_line_and_key() {
        let ok = "base = \"cheek.toml\"\nseeds = 5\n[[strategy]]\nname = \"a\"\npatterns = [\"horizontal\"]\n";
        let f = StrategySet::from_toml_str(ok, "s.toml").unwrap();
        assert_eq!((f.base.as_str(), f.seeds, f.strategies.len()), ("cheek.toml", Some(5), 1));
        assert!(is_strategy_file(ok) && !is_strategy_file(include_str!("../../../scenes/cheek.toml")));
        for (text, key, line) in [
            ("base = \"c.toml\"\n[[strategy]]\nname = \"a\"\nspeed_mm_s = -3\n", "strategy[0].speed_mm_s", 4),
            ("base = \"c.toml\"\n[[strategy]]\nname = \"a\"\npatterns = [\"zigzag\"]\n", "strategy[0].patterns", 4),
            ("base = \"c.toml\"\n[[strategy]]\nname = \"a\"\n[[strategy]]\nname = \"a\"\n", "strategy[1].name", 5),
            ("base = \"c.toml\"\n[[strategy]]\nname = \"a\"\ncolour = 3\n", "strategies", 4),
            ("base = \"c.toml\"\nseeds = 0\n[[strategy]]\nname = \"a\"\n", "seeds", 2),
        ] {
            let e = StrategySet::from_toml_str(text, "s.toml").unwrap_err();
            assert_eq!((e.key.as_str(), e.at.line), (key, line), "{e}");
        }
    }
}
