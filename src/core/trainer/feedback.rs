//! Feedback in words: where in a zone the gaps and hot spots lie, and the
//! glide speed there.

use crate::core::engine::Outcome;
use crate::core::geometry::shape::{Bounds, Vec2};
use crate::core::trainer::lanes::Lane;

/// The third of a zone's chart a point lies in, in words.
pub(crate) fn place_name(b: &Bounds, p: Vec2) -> String {
    let f = (p - b.min_mm).component_div(&b.size_mm());
    let row = ["lower", "middle", "upper"][((f.y * 3.0).floor().clamp(0.0, 2.0)) as usize];
    let col = ["left", "centre", "right"][((f.x * 3.0).floor().clamp(0.0, 2.0)) as usize];
    if row == "middle" && col == "centre" { "centre".into() } else { format!("{row} {col}") }
}

/// Which side of the target band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// Below the band.
    Under,
    /// Above the band.
    Over,
}

impl Side {
    /// The side in words.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Side::Under => "under",
            Side::Over => "over",
        }
    }
}

/// Where most of the area under or over the band lies: the
/// ninth of the chart with the largest such area, its share of it, and its centre.
pub(crate) fn worst_place(out: &Outcome, z: usize, band: [f64; 2], side: Side) -> Option<(String, f64, Vec2)> {
    let f = &out.fields[z];
    let b = out.scene.zones[z].region.bounds();
    let mut area = [[0.0f64; 2]; 9]; // (off-band area, all area) per ninth
    for c in 0..f.cell_punctures.len() {
        let Some(d) = f.cell_density_per_cm2(c) else { continue };
        if !f.cell_in_spread[c] {
            continue;
        }
        let (i, j) = (c % f.layout.cells_u, c / f.layout.cells_u);
        let p = f.layout.origin_mm + Vec2::new(i as f64 + 0.5, j as f64 + 0.5) * f.layout.cell_mm;
        let q = (p - b.min_mm).component_div(&b.size_mm());
        let k = ((q.y * 3.0).floor().clamp(0.0, 2.0) * 3.0 + (q.x * 3.0).floor().clamp(0.0, 2.0)) as usize;
        let off = match side {
            Side::Under => d < band[0],
            Side::Over => d > band[1],
        };
        area[k][1] += f.cell_area_mm2[c];
        if off {
            area[k][0] += f.cell_area_mm2[c];
        }
    }
    let (k, a) = area.iter().enumerate().max_by(|x, y| x.1[0].total_cmp(&y.1[0]))?;
    if a[0] <= 0.0 {
        return None;
    }
    let centre = b.min_mm + Vec2::new((k % 3) as f64 + 0.5, (k / 3) as f64 + 0.5).component_mul(&b.size_mm()) / 3.0;
    Some((place_name(&b, centre), a[0] / a[1], centre))
}

/// Mean speed of the lanes whose middle lies in the same ninth of the chart as `at`.
pub(crate) fn speed_near(lanes: &[Lane], b: &Bounds, at: Vec2) -> Option<f64> {
    let here = place_name(b, at);
    let near: Vec<&Lane> = lanes.iter().filter(|l| place_name(b, l.mid_mm()) == here).collect();
    let time: f64 = near.iter().map(|l| l.duration_s).sum();
    (time > 0.0).then(|| near.iter().map(|l| l.length_mm()).sum::<f64>() / time)
}

pub(crate) fn pct(x: f64) -> String {
    crate::core::format::percent(x, 0)
}

/// Glide speed on the skin: mean (length over time) and the spread of lane
/// speeds (length-weighted coefficient of variation).
pub(crate) fn speed_stats(lanes: &[Lane]) -> (f64, f64) {
    let len: f64 = lanes.iter().map(|l| l.length_mm()).sum();
    let time: f64 = lanes.iter().map(|l| l.duration_s).sum();
    if time <= 0.0 || len <= 0.0 {
        return (0.0, 0.0);
    }
    let mean = len / time;
    let var = lanes.iter().map(|l| l.length_mm() * (l.speed_mm_s() - mean).powi(2)).sum::<f64>() / len;
    (mean, var.sqrt() / mean)
}
