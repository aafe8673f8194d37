//! Every needle that entered the skin, as columns: what `simulate
//! --punctures` writes and the Python package hands out.

use crate::core::engine::Outcome;
use crate::core::engine::simulate::{Puncture, map_to_3d};

/// Every puncture of a run, zone by zone in scene order, each zone's in
/// time order: first its treatable punctures (as counted by the report's
/// `punctures`), then those that fell in an avoid region (its
/// `avoid_violations`). Needles that landed beyond a zone's outline (its
/// `outside_punctures`) are not punctures of that zone and are left out.
/// All columns have one entry per puncture.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PunctureTable {
    /// The zones' names, in scene order: `zone` indexes this.
    pub zone_names: Vec<String>,
    /// Index of the puncture's zone in `zone_names`.
    pub zone: Vec<u32>,
    /// Index of the pass (in its zone) that made it.
    pub pass: Vec<u32>,
    /// Time since the start of the treatment, s.
    pub time_s: Vec<f32>,
    /// Position across in the zone's chart, mm.
    pub u_mm: Vec<f32>,
    /// Position up in the zone's chart, mm.
    pub v_mm: Vec<f32>,
    /// The 3D point on the skin, mm: `None` on flat zones; NaN where a
    /// point of a mesh zone could not be placed (for treatable punctures,
    /// counted in the report's `unmapped_punctures`).
    pub xyz_mm: Vec<Option<[f32; 3]>>,
    /// Whether the puncture fell in an avoid region.
    pub avoid: Vec<bool>,
}

impl PunctureTable {
    /// Punctures in the table.
    pub fn len(&self) -> usize {
        self.zone.len()
    }

    /// Whether the table holds no puncture.
    pub fn is_empty(&self) -> bool {
        self.zone.is_empty()
    }

    /// One coordinate (0: x, 1: y, 2: z) of every puncture's 3D point, NaN
    /// where it has none (flat zones): the .npz's and Python's column.
    pub fn axis_or_nan(&self, axis: usize) -> Vec<f32> {
        self.xyz_mm.iter().map(|q| q.map_or(f32::NAN, |q| q[axis])).collect()
    }

    /// Whether any puncture has a 3D point (the run has a mesh zone with punctures).
    pub fn has_3d(&self) -> bool {
        self.xyz_mm.iter().any(Option::is_some)
    }
}

/// The punctures of a run as columns.
pub fn puncture_table(outcome: &Outcome) -> PunctureTable {
    let mut t = PunctureTable {
        zone_names: outcome.scene.zones.iter().map(|z| z.name.clone()).collect(),
        ..Default::default()
    };
    let n: usize = outcome.simulation.zones.iter().map(|r| r.punctures.len() + r.violations.len()).sum();
    t.zone.reserve(n);
    t.pass.reserve(n);
    t.time_s.reserve(n);
    t.u_mm.reserve(n);
    t.v_mm.reserve(n);
    t.xyz_mm.reserve(n);
    t.avoid.reserve(n);
    for (k, (zone, run)) in outcome.scene.zones.iter().zip(&outcome.simulation.zones).enumerate() {
        let violations_3d = zone.surface.as_ref().map(|s| map_to_3d(s, &run.violations).0);
        // `engine::run` maps every treatable puncture of a mesh zone.
        let treated_3d = zone.surface.as_ref().map(|s| {
            if run.positions_3d_mm.len() == run.punctures.len() {
                std::borrow::Cow::Borrowed(&run.positions_3d_mm)
            } else {
                std::borrow::Cow::Owned(map_to_3d(s, &run.punctures).0)
            }
        });
        let mut push = |p: &Puncture, xyz: Option<[f32; 3]>, avoid: bool| {
            t.zone.push(k as u32);
            t.pass.push(p.pass);
            t.time_s.push(p.t_s);
            t.u_mm.push(p.u_mm);
            t.v_mm.push(p.v_mm);
            t.xyz_mm.push(xyz);
            t.avoid.push(avoid);
        };
        for (i, p) in run.punctures.iter().enumerate() {
            push(p, treated_3d.as_ref().map(|q| q[i]), false);
        }
        for (i, p) in run.violations.iter().enumerate() {
            push(p, violations_3d.as_ref().map(|q| q[i]), true);
        }
    }
    t
}
