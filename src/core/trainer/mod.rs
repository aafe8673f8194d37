//! Scoring a treatment (a trainee's trace, or any scene) against a reference
//! plan and each zone's target band.
//!
//! Every criterion is a figure with a stated acceptable range: inside it the
//! criterion scores 100; outside it the score falls linearly to 0 at a stated
//! limit. A zone's score is the mean of its criteria (weighted, where a
//! trainer's criteria file weighs them: [`settings`]); the treatment's is the
//! area-weighted mean of its zones. Criteria that compare with the reference
//! take the reference's own figure, measured the same way, as their centre.
//!
//! The motion figures (glide speed, lanes, directions) come from the hand's
//! path: a trace's samples, or a plan's lanes at their nominal speed. A lane
//! is a straight run of the path on the skin (heading within
//! [`lanes::LANE_BEND_DEG`] of the run's direction, at least
//! [`lanes::MIN_LANE_MM`] long);
//! lanes are grouped by the nearest of the reference's lane directions.

pub mod criteria;
pub mod feedback;
pub mod lanes;
pub mod settings;

use criteria::score_zone;
pub use criteria::{AVOID_ZERO_AT, Criterion, ScoreCard, ScoreSettings, ZoneScore, band_score};
pub use lanes::{Lane, lanes, motion, plan_directions};

use crate::core::engine::Outcome;
use crate::core::error::SceneError;
use crate::core::input::scene::{Pass, PassKind, Scene};
use crate::core::input::trajectory::{self, Trace, TracePoint};
use serde::Serialize;
use std::sync::Arc;

/// The reference scene with each zone's passes replaced by the trace's
/// samples for it (a trajectory pass); zones the trace never visits keep no
/// passes (untreated). Errors name the trace's line.
pub fn trainee_scene(reference: &Scene, trace: &Trace) -> Result<Scene, SceneError> {
    for name in trace.zones() {
        if !reference.zones.iter().any(|z| z.name == name) {
            let line = trace.rows.iter().find(|(z, _)| z == name).map_or(1, |(_, p)| p.line);
            return Err(SceneError {
                file: trace.file.clone(),
                at: crate::core::error::Location { line, column: 1 },
                key: "zone".into(),
                message: format!(
                    "zone `{name}` is not in the reference scene; its zones: {}",
                    reference.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let mut scene = reference.clone();
    scene.name = trace.file.rsplit(['/', '\\']).next().unwrap_or(&trace.file).to_string();
    for zone in &mut scene.zones {
        let points = trace.points_of(&zone.name);
        let template = zone.passes.first().cloned();
        zone.passes.clear();
        if points.len() < 2 {
            continue;
        }
        trajectory::check_on_zone(&points, &zone.region, &zone.name, &trace.file)?;
        let speed = trajectory::mean_speed_mm_s(&points);
        zone.passes.push(Pass {
            label: "trace".into(),
            // The depth the reference's passes use in this zone.
            depth_mm: template.as_ref().map_or(reference.cartridge.depth_mm, |p| p.depth_mm),
            kind: PassKind::Trajectory { file: trace.file.clone(), points: Arc::new(points) },
            speed_mm_s: if speed > 0.0 { speed } else { 1.0 },
            // The pen's rate as the reference's passes here set it (a pass
            // may set its own), not only the cartridge's.
            rate_hz: template.as_ref().map_or(reference.cartridge.rate_hz(), |p| p.rate_hz),
            stamps_per_point: 1,
            respect_avoid: false,
            avoid_margin_mm: 0.0,
            at: template.as_ref().map_or(zone.at, |p| p.at),
        });
    }
    Ok(scene)
}

/// Scores `trainee` against `reference`, zone by zone (matched by name),
/// with the default settings (no puncture in avoid regions tolerated).
pub fn score(reference: &Outcome, trainee: &Outcome) -> ScoreCard {
    score_with(reference, trainee, &ScoreSettings::default())
}

/// As [`score`], with the trainer's `settings`.
pub fn score_with(reference: &Outcome, trainee: &Outcome, settings: &ScoreSettings) -> ScoreCard {
    let mut zones = Vec::new();
    let mut weights = Vec::new();
    for (rz, rzone) in reference.scene.zones.iter().enumerate() {
        let Some(tz) = trainee.scene.zones.iter().position(|z| z.name == rzone.name) else { continue };
        let z = score_zone(reference, rz, trainee, tz, settings);
        // A zone whose measured criteria all weigh 0 is left out of the total.
        weights.push(if z.weighed { reference.zones[rz].area_cm2 } else { 0.0 });
        zones.push(z);
    }
    let wsum: f64 = weights.iter().sum::<f64>().max(1e-12);
    let score = zones.iter().zip(&weights).map(|(z, w)| z.score * w).sum::<f64>() / wsum;
    let mut feedback: Vec<(f64, String)> =
        zones.iter().flat_map(|z| z.feedback.iter().map(move |f| (z.score, f.clone()))).collect();
    feedback.sort_by(|a, b| a.0.total_cmp(&b.0));
    ScoreCard {
        reference: reference.scene.name.clone(),
        trainee: trainee.scene.name.clone(),
        trainee_name: None,
        score,
        zones,
        feedback: feedback.into_iter().map(|(_, f)| f).collect(),
    }
}

/// The treatment's figures part-way through (all zones, area-weighted).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Progress {
    /// Time into the treatment, s.
    pub t_s: f64,
    /// Share of area hit by at least one needle disk (0..1).
    pub coverage_fraction: f64,
    /// Share of area in the target band (zones with a band).
    pub in_band_fraction: f64,
    /// Punctures so far over the total area, punctures/cm².
    pub density_per_cm2: f64,
}

/// The figures after `steps` equal shares of the treatment's time (the
/// punctures made by then, measured as a whole treatment).
pub fn progress(out: &Outcome, steps: usize) -> Vec<Progress> {
    let total = out.simulation.time_s();
    (1..=steps.max(1))
        .map(|k| {
            let t = total * k as f64 / steps.max(1) as f64;
            // Each zone's punctures up to t (they are in time order); only
            // what measuring reads is copied (no 3D points).
            let upto = |ps: &[crate::core::engine::simulate::Puncture]| {
                ps[..ps.partition_point(|p| p.t_s as f64 <= t)].to_vec()
            };
            let zones = out
                .simulation
                .zones
                .iter()
                .map(|zr| {
                    let punctures = upto(&zr.punctures);
                    let keep = punctures.len();
                    crate::core::engine::simulate::ZoneRun {
                        pass_ranges: zr.pass_ranges.iter().map(|r| r.start.min(keep)..r.end.min(keep)).collect(),
                        violations: upto(&zr.violations),
                        outside: upto(&zr.outside),
                        drags: zr.drags[..keep.min(zr.drags.len())].to_vec(),
                        pass_drag: zr.pass_drag.clone(),
                        punctures,
                        positions_3d_mm: Vec::new(),
                        ..*zr
                    }
                })
                .collect();
            let sim = crate::core::engine::simulate::Simulation { zones };
            let m =
                crate::core::engine::measure_figures(&out.scene, &sim, &mut crate::core::timing::StageTimes::default());
            let area: f64 = m.iter().map(|z| z.area_cm2).sum::<f64>().max(1e-12);
            let banded: Vec<_> = m.iter().filter(|z| z.under_fraction.is_some()).collect();
            let band_area: f64 = banded.iter().map(|z| z.area_cm2).sum::<f64>();
            Progress {
                t_s: t,
                coverage_fraction: m.iter().map(|z| z.coverage_fraction * z.area_cm2).sum::<f64>() / area,
                in_band_fraction: if band_area > 0.0 {
                    banded
                        .iter()
                        .map(|z| (1.0 - z.under_fraction.unwrap_or(0.0) - z.over_fraction.unwrap_or(0.0)) * z.area_cm2)
                        .sum::<f64>()
                        / band_area
                } else {
                    f64::NAN
                },
                density_per_cm2: m.iter().map(|z| z.punctures as f64).sum::<f64>() / area,
            }
        })
        .collect()
}

/// The plan done exactly: the scene with its hand's jitter (wobble and
/// speed variation) off, so the reference is one fixed treatment.
pub fn exact(scene: &Scene) -> Scene {
    let mut s = scene.clone();
    s.hand.lateral_jitter_mm = 0.0;
    s.hand.speed_jitter = 0.0;
    s
}

/// The reference plan of a scene as a trace (the path of [`motion`], zone by
/// zone, one after another): what a hand following the plan exactly does.
pub fn plan_trace(out: &Outcome) -> Trace {
    let mut rows = Vec::new();
    let mut t0 = 0.0;
    for (z, zone) in out.scene.zones.iter().enumerate() {
        let path = motion(out, z);
        let end = path.last().map_or(0.0, |p| p.t_s);
        rows.extend(path.into_iter().map(|p| (zone.name.clone(), TracePoint { t_s: p.t_s + t0, ..p })));
        t0 += end;
    }
    Trace { file: format!("{}-plan.csv", out.scene.name), has_pressure: true, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::trainer::lanes::{angle_gap, spacings};

    #[test]
    fn band_scores_are_full_inside_and_fall_linearly_outside() {
        assert_eq!(band_score(1.0, [0.8, 1.25], [0.4, 2.5]), 100.0);
        assert!((band_score(0.6, [0.8, 1.25], [0.4, 2.5]) - 50.0).abs() < 1e-9);
        assert_eq!(band_score(3.0, [0.8, 1.25], [0.4, 2.5]), 0.0);
        assert_eq!(band_score(f64::NAN, [0.8, 1.25], [0.4, 2.5]), 0.0);
    }

    fn p(t: f64, u: f64, v: f64) -> TracePoint {
        TracePoint { t_s: t, u_mm: u, v_mm: v, pressure: 1.0, line: 0 }
    }

    #[test]
    fn lanes_are_straight_runs_split_at_turns_and_lifts() {
        let path = vec![p(0.0, 0.0, 0.0), p(1.0, 10.0, 0.0), p(2.0, 20.0, 0.0), p(2.5, 20.0, 3.0), p(4.5, 0.0, 3.0)];
        let l = lanes(&path);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!((l[0].length_mm() - 20.0).abs() < 1e-9 && (l[0].speed_mm_s() - 10.0).abs() < 1e-9);
        assert!(angle_gap(l[1].angle_deg(), 0.0) < 1e-9, "the way back is horizontal too");
        let gaps = spacings(&l, 0.0, 3.0);
        assert_eq!(gaps.len(), 1);
        assert!((gaps[0].0 - 3.0).abs() < 1e-9);
    }
}
