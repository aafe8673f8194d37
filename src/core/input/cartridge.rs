//! Cartridges: where the needles sit relative to the device, and what sets
//! when they touch the skin (a pen's stamp rate, or a roller's rolling distance).
//!
//! Needle footprints of commercial cartridges are not published: the layouts
//! below are stated assumptions (plausible, round numbers). Scenes can give
//! explicit needle positions with `needles_mm`.

use crate::core::geometry::shape::Vec2;
use std::f64::consts::TAU;

/// How contact with the skin is timed.
#[derive(Clone, Debug, PartialEq)]
pub enum Drive {
    /// A pen: every needle enters the skin on every stamp, `rate_hz` stamps a second.
    Pen {
        /// Stamps per second, Hz.
        rate_hz: f64,
    },
    /// A roller drum rolled along the lane with its axis across it. Contact is
    /// set by rolling distance: needle k touches the skin whenever the drum has
    /// rolled `contact_mm[k] + j * circumference_mm` (j = 0, 1, ...).
    Roller {
        /// Drum circumference: the rolling distance of one turn, mm.
        circumference_mm: f64,
        /// Position of each needle along the drum axis (across the lane), mm.
        axial_mm: Vec<f64>,
        /// Rolling distance at which each needle first touches, mm, in [0, circumference).
        contact_mm: Vec<f64>,
    },
}

/// A needle cartridge (or roller drum) with its settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Cartridge {
    /// Preset name, or "custom".
    pub name: String,
    /// Needle tips in the cartridge frame (x along the direction of travel, y to
    /// its left), mm. For a roller: (0, axial position) of every needle.
    pub needles_mm: Vec<Vec2>,
    /// Needle diameter, mm (the disk one puncture hits).
    pub needle_diameter_mm: f64,
    /// Needle depth unless a zone or pass sets one (`cartridge.depth_mm`, default [`DEFAULT_DEPTH_MM`]), mm.
    pub depth_mm: f64,
    /// What times contact with the skin: a pen's stamp rate or a roller's drum.
    pub drive: Drive,
    /// Share of a pen's stroke cycle its needles spend in the skin
    /// (`cartridge.dwell_fraction`, default [`DEFAULT_DWELL_FRACTION`]): the
    /// hand keeps moving meanwhile, so each needle drags that share of one
    /// stamp step through the skin. A roller's needles roll in and out: no drag.
    pub dwell_fraction: f64,
}

/// Default dwell: half of each stroke cycle in the skin. An assumption: no
/// published measurement of a pen's in-skin share of its cycle was found; a
/// needle driven sinusoidally past the skin to a depth near its stroke's
/// amplitude is below the surface for about half the cycle.
pub const DEFAULT_DWELL_FRACTION: f64 = 0.5;

impl Cartridge {
    /// Number of needles.
    pub fn needle_count(&self) -> usize {
        self.needles_mm.len()
    }

    /// Needle radius, mm.
    pub fn needle_radius_mm(&self) -> f64 {
        self.needle_diameter_mm / 2.0
    }

    /// The pen's stamp rate, if it is a pen.
    pub fn rate_hz(&self) -> Option<f64> {
        match self.drive {
            Drive::Pen { rate_hz } => Some(rate_hz),
            Drive::Roller { .. } => None,
        }
    }

    /// Largest distance of a needle from the cartridge centre, mm.
    pub fn reach_mm(&self) -> f64 {
        self.needles_mm.iter().map(|n| n.norm()).fold(0.0, f64::max)
    }

    /// Whether the cartridge is a roller drum (not a pen).
    pub fn is_roller(&self) -> bool {
        matches!(self.drive, Drive::Roller { .. })
    }
}

/// A named preset, its source and its stated assumptions.
pub struct Preset {
    /// Name as used in a scene (`cartridge.preset`), e.g. `pen-12`.
    pub name: &'static str,
    /// One line: needle count, rate and layout, with what is assumed.
    pub description: &'static str,
    /// Where the published figures come from (`none published; assumed` when nowhere).
    pub source: &'static str,
    /// Builds the cartridge.
    pub build: fn() -> Cartridge,
}

fn ring(n: usize, radius_mm: f64, phase: f64) -> impl Iterator<Item = Vec2> {
    (0..n).map(move |i| {
        let a = phase + TAU * i as f64 / n as f64;
        Vec2::new(radius_mm * a.cos(), radius_mm * a.sin())
    })
}

fn grid(cols: usize, rows: usize, pitch_mm: f64) -> Vec<Vec2> {
    let (cx, cy) = ((cols - 1) as f64 / 2.0, (rows - 1) as f64 / 2.0);
    (0..rows)
        .flat_map(|r| (0..cols).map(move |c| Vec2::new((c as f64 - cx) * pitch_mm, (r as f64 - cy) * pitch_mm)))
        .collect()
}

/// Needle diameter assumed for pens: PRIME (Oct 2015) gives 0.2-0.4 mm thick needles.
pub const PEN_NEEDLE_DIAMETER_MM: f64 = 0.25;
/// Depth used when a scene sets none: the thin-skin cheek depth of the manufacturer chart.
pub const DEFAULT_DEPTH_MM: f64 = 0.5;

fn pen(name: &str, needles_mm: Vec<Vec2>, rate_hz: f64) -> Cartridge {
    Cartridge {
        name: name.to_string(),
        needles_mm,
        needle_diameter_mm: PEN_NEEDLE_DIAMETER_MM,
        depth_mm: DEFAULT_DEPTH_MM,
        drive: Drive::Pen { rate_hz },
        dwell_fraction: DEFAULT_DWELL_FRACTION,
    }
}

/// Dermapen (2012): 11 needles, up to 90 Hz (about 990 punctures/s), depth
/// 0.25-2.5 mm (Aesthetic Guide, Nov/Dec 2012). Assumed layout: one centre
/// needle and 10 on a circle of 1.75 mm radius.
pub fn pen_11() -> Cartridge {
    let mut n = vec![Vec2::zeros()];
    n.extend(ring(10, 1.75, 0.0));
    pen("pen-11", n, 90.0)
}

/// Dermapen (later models): 12 needles at about 110 Hz (manufacturer-reseller
/// page). Assumed layout: 12 needles on a circle of 4 mm diameter.
pub fn pen_12() -> Cartridge {
    pen("pen-12", ring(12, 2.0, 0.0).collect(), 110.0)
}

/// SkinPen Precision: 14 needles (12 in some sources), 7000 RPM = 116.7 Hz,
/// depth 0-2.5 mm in 0.25 mm steps (FDA De Novo DEN160029). Assumed layout:
/// 4 needles on a 0.8 mm circle inside 10 on a 2.0 mm circle.
pub fn pen_14() -> Cartridge {
    let mut n: Vec<Vec2> = ring(4, 0.8, TAU / 8.0).collect();
    n.extend(ring(10, 2.0, 0.0));
    pen("pen-14", n, 7000.0 / 60.0)
}

/// A 16-needle pen cartridge. No published source for its rate: assumed 110 Hz
/// like the 12-needle Dermapen; assumed layout a 4 x 4 grid at 1.0 mm pitch.
pub fn pen_16() -> Cartridge {
    pen("pen-16", grid(4, 4, 1.0), 110.0)
}

/// Exceed: 6 needles, 100-150 Hz, depth 0-1.5 mm (FDA 510(k) K180778); the
/// preset runs at the top rate. Assumed layout: 6 needles on a 1.0 mm circle.
pub fn exceed_6() -> Cartridge {
    pen("exceed-6", ring(6, 1.0, 0.0).collect(), 150.0)
}

/// One needle of 0.25 mm at 100 Hz: for validation against the analytic laws.
pub fn single() -> Cartridge {
    pen("single", vec![Vec2::zeros()], 100.0)
}

/// Dermaroller: 192 needles = 24 disks x 8 needles, drum 2 cm long and 2 cm in
/// diameter, needles 0.5-3 mm long and 0.07-0.25 mm thick (Singh & Yadav,
/// Indian Dermatol Online J 2016;7:244); one pass gives 192 / (pi * 20 mm *
/// 20 mm) = 15.3 punctures/cm2. Assumed: disks evenly spaced over the 20 mm
/// (pitch 20/24 mm), needle diameter 0.25 mm, and each disk turned by 3/8 of
/// the needle pitch from its neighbour (a helical stagger), so contacts along
/// the lane are spread rather than in rows of 24.
pub fn roller_192() -> Cartridge {
    let (disks, per_disk, length_mm, diameter_mm) = (24usize, 8usize, 20.0, 20.0);
    let circumference_mm = std::f64::consts::PI * diameter_mm;
    let pitch_mm = length_mm / disks as f64;
    let mut axial_mm = Vec::new();
    let mut contact_mm = Vec::new();
    for d in 0..disks {
        let axial = (d as f64 + 0.5) * pitch_mm - length_mm / 2.0;
        let stagger = ((d * 3) % per_disk) as f64 / per_disk as f64;
        for k in 0..per_disk {
            axial_mm.push(axial);
            contact_mm.push((k as f64 + stagger) * circumference_mm / per_disk as f64);
        }
    }
    Cartridge {
        name: "roller-192".into(),
        needles_mm: axial_mm.iter().map(|&a| Vec2::new(0.0, a)).collect(),
        needle_diameter_mm: 0.25,
        depth_mm: DEFAULT_DEPTH_MM,
        drive: Drive::Roller { circumference_mm, axial_mm, contact_mm },
        dwell_fraction: DEFAULT_DWELL_FRACTION,
    }
}

/// Every preset, in the order they are listed.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "pen-11",
        description: "11 needles, 90 Hz (990 punctures/s); centre + ring of 10 at r = 1.75 mm (assumed)",
        source: "Dermapen 2012, Aesthetic Guide Nov/Dec 2012",
        build: pen_11,
    },
    Preset {
        name: "pen-12",
        description: "12 needles, 110 Hz; ring of 12 on a 4 mm circle (assumed)",
        source: "Dermapen, manufacturer-reseller page",
        build: pen_12,
    },
    Preset {
        name: "pen-14",
        description: "14 needles, 116.7 Hz (7000 RPM); rings of 4 (r 0.8 mm) and 10 (r 2 mm) (assumed)",
        source: "SkinPen Precision, FDA De Novo DEN160029",
        build: pen_14,
    },
    Preset {
        name: "pen-16",
        description: "16 needles, 110 Hz (assumed); 4 x 4 grid at 1 mm pitch (assumed)",
        source: "none published; assumed",
        build: pen_16,
    },
    Preset {
        name: "exceed-6",
        description: "6 needles, 150 Hz (top of 100-150 Hz); ring of 6 at r = 1 mm (assumed)",
        source: "Exceed, FDA 510(k) K180778",
        build: exceed_6,
    },
    Preset {
        name: "single",
        description: "1 needle, 100 Hz: for validation against the analytic laws",
        source: "-",
        build: single,
    },
    Preset {
        name: "roller-192",
        description: "24 disks x 8 needles, drum 20 mm long, 20 mm diameter; 15.3 punctures/cm2 a pass",
        source: "Dermaroller, Singh & Yadav, Indian Dermatol Online J 2016;7:244",
        build: roller_192,
    },
];

/// Looks a preset up by name.
pub fn preset(name: &str) -> Option<Cartridge> {
    PRESETS.iter().find(|p| p.name == name).map(|p| (p.build)())
}

/// The presets' names, in the order of [`PRESETS`].
pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_needle_counts_and_rates() {
        assert_eq!(pen_11().needle_count(), 11);
        assert_eq!(pen_11().rate_hz(), Some(90.0));
        assert_eq!(pen_12().needle_count(), 12);
        assert_eq!(pen_14().needle_count(), 14);
        assert!((pen_14().rate_hz().unwrap() - 116.666).abs() < 0.01);
        assert_eq!(exceed_6().needle_count(), 6);
        assert_eq!(roller_192().needle_count(), 192);
    }

    #[test]
    fn roller_drum_gives_15_3_punctures_per_cm2_per_pass() {
        // Count the drum's contacts over a long roll, from its own needle
        // data (not the formula of the doc comment): needle k touches at
        // rolling distance contact_mm[k] + j * circumference_mm.
        let r = roller_192();
        let Drive::Roller { circumference_mm, axial_mm, contact_mm } = &r.drive else {
            panic!("roller-192 is a roller")
        };
        assert!(contact_mm.iter().all(|&c| (0.0..*circumference_mm).contains(&c)), "{contact_mm:?}");
        // The lane a roll treats: the disks' span plus one disk pitch (each
        // disk stands for the pitch around it), 20 mm for 24 disks 20/24 mm apart.
        let mut disks: Vec<f64> = axial_mm.clone();
        disks.sort_by(f64::total_cmp);
        disks.dedup();
        assert_eq!(disks.len(), 24, "24 disks");
        let pitch = (disks[23] - disks[0]) / 23.0;
        assert!(disks.windows(2).all(|w| (w[1] - w[0] - pitch).abs() < 1e-12), "evenly spaced: {disks:?}");
        let width_mm = disks[23] - disks[0] + pitch;
        let roll_mm = 100_000.0;
        let contacts: f64 = contact_mm.iter().map(|&c| ((roll_mm - c) / circumference_mm).floor() + 1.0).sum();
        let per_cm2 = contacts / (roll_mm * width_mm) * 100.0;
        // The published figure is 15.3 (one decimal: +-0.05); the roll's
        // ends add at most 192 contacts, 192 / (100 m x 20 mm) = 0.01 /cm2.
        assert!((per_cm2 - 15.3).abs() < 0.05 + 0.01, "{per_cm2} /cm2 a pass");
        let described = PRESETS.iter().find(|p| p.name == "roller-192").unwrap().description;
        assert!(described.contains(&format!("{per_cm2:.1} punctures/cm2 a pass")), "{described}");
        // The helical stagger spreads the contacts: 8 phases over 24 disks,
        // so at most 3 needles touch at once, not a row of 24.
        let mut at_once = std::collections::HashMap::new();
        for c in contact_mm {
            *at_once.entry(c.to_bits()).or_insert(0) += 1;
        }
        assert_eq!(at_once.values().max(), Some(&3), "needles touching together");
    }
}
