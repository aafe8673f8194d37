//! The criteria a treatment is scored by: each a figure with a stated
//! accepted range, scoring 100 inside it and falling linearly to 0 at a
//! stated limit; a zone's score is the mean of its criteria.

use crate::core::engine::Outcome;
use crate::core::geometry::shape::Vec2;
use crate::core::input::scene::PassKind;
use crate::core::trainer::feedback::*;
use crate::core::trainer::lanes::*;
use crate::core::trainer::settings::{Bound, Criteria, CriterionSetting};
use serde::Serialize;

/// One scored figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Criterion {
    /// Short key, as in score.json (e.g. `coverage`, `speed`).
    pub key: &'static str,
    /// What it measures in words, for tables.
    pub label: &'static str,
    /// Unit of the figure: `share`, `ratio`, `count`, or empty.
    pub unit: &'static str,
    /// The trainee's figure.
    pub figure: f64,
    /// The reference's figure, where the criterion compares with it.
    pub reference: Option<f64>,
    /// Scores 100 inside this range.
    pub accepted: [f64; 2],
    /// Scores 0 at and beyond these.
    pub zero_at: [f64; 2],
    /// The criterion's score, 0 to 100.
    pub score: f64,
    /// A detail in words (e.g. per-direction shares).
    pub detail: String,
    /// Its weight in the zone's score (1 unless a criteria file says).
    pub weight: f64,
}

impl Criterion {
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: &'static str,
        label: &'static str,
        unit: &'static str,
        figure: f64,
        reference: Option<f64>,
        accepted: [f64; 2],
        zero_at: [f64; 2],
        detail: String,
    ) -> Criterion {
        let figure = figure + 0.0; // no "-0.000" in tables
        let reference = reference.map(|r| r + 0.0);
        let mut c =
            Criterion { key, label, unit, figure, reference, accepted, zero_at, score: 0.0, detail, weight: 1.0 };
        c.rescore(accepted, zero_at);
        c
    }

    /// Scores the figure against `accepted` and `zero_at`. A share lies in
    /// 0..1: its accepted range and zero points too (a zero point at
    /// "reference - 0.2" was negative for a reference under 0.2, one at
    /// "reference + 0.22" past 1), so every zero point is a figure the
    /// trainee can reach; a zero point never lies inside the accepted range.
    fn rescore(&mut self, accepted: [f64; 2], zero_at: [f64; 2]) {
        let (accepted, zero_at) = if self.unit == "share" {
            let clamp = |[a, b]: [f64; 2]| [a.clamp(0.0, 1.0), b.clamp(0.0, 1.0)];
            (clamp(accepted), clamp(zero_at))
        } else {
            (accepted, zero_at)
        };
        let zero_at = [zero_at[0].min(accepted[0]), zero_at[1].max(accepted[1])];
        self.accepted = accepted;
        self.zero_at = zero_at;
        self.score = band_score(self.figure, accepted, zero_at);
    }

    /// Applies a criteria file's setting: its weight, and its accepted range
    /// and zero points where it gives them (bounds that follow the reference
    /// resolve against this zone's reference figure; without one, the
    /// built-in range stays).
    pub fn apply(&mut self, setting: &CriterionSetting) {
        self.weight = setting.weight;
        let resolve = |b: Option<[Bound; 2]>, built_in: [f64; 2]| match b {
            Some([lo, hi]) => {
                [lo.resolve(self.reference).unwrap_or(built_in[0]), hi.resolve(self.reference).unwrap_or(built_in[1])]
            }
            None => built_in,
        };
        let (accepted, zero_at) = (resolve(setting.accepted, self.accepted), resolve(setting.zero_at, self.zero_at));
        // Bounds that follow the reference can come out empty or endless for
        // this zone's reference: the built-in range stays, and says so.
        if accepted.iter().chain(&zero_at).all(|v| v.is_finite()) && accepted[0] <= accepted[1] {
            self.rescore(accepted, zero_at);
        } else if setting.accepted.is_some() || setting.zero_at.is_some() {
            if !self.detail.is_empty() {
                self.detail += "; ";
            }
            self.detail += "the criteria file's range came out empty here (low above high): the built-in range kept";
        }
    }
}

/// 100 inside `accepted`, falling linearly to 0 at `zero_at`.
pub fn band_score(x: f64, accepted: [f64; 2], zero_at: [f64; 2]) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let s = if x < accepted[0] {
        (x - zero_at[0]) / (accepted[0] - zero_at[0])
    } else if x > accepted[1] {
        (zero_at[1] - x) / (zero_at[1] - accepted[1])
    } else {
        1.0
    };
    100.0 * s.clamp(0.0, 1.0)
}

/// The score of one zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneScore {
    /// The zone's name.
    pub zone: String,
    /// Every criterion scored in this zone.
    pub criteria: Vec<Criterion>,
    /// Mean of the criteria's scores, 0 to 100 (0 for a zone with no punctures).
    pub score: f64,
    /// Advice in words, one sentence each.
    pub feedback: Vec<String>,
    /// Whether the zone counts in the treatment's score (not when every
    /// criterion measured in it weighs 0 in the criteria file).
    pub weighed: bool,
}

impl ZoneScore {
    /// The criterion with this key, if the zone was scored on it.
    pub fn criterion(&self, key: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.key == key)
    }
}

/// The score of a treatment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoreCard {
    /// Name of the reference scene.
    pub reference: String,
    /// Name of the trainee's scene (the trace's file name).
    pub trainee: String,
    /// The trainee's own name, where the trainer gives it (`score --trainee`,
    /// or each file's name in a class).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trainee_name: Option<String>,
    /// Mean of the zone scores weighted by the reference zones' areas, 0 to 100.
    pub score: f64,
    /// Each zone's score (the reference's zones that the trainee's scene has).
    pub zones: Vec<ZoneScore>,
    /// Feedback of every zone, worst first.
    pub feedback: Vec<String>,
}

/// How a treatment is judged where a plan does not say: what the trainer
/// tolerates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoreSettings {
    /// Punctures in avoid regions that still score 100 (0: none).
    pub avoid_tolerance: f64,
    /// The trainer's weights and ranges (a criteria file), where given.
    pub criteria: Criteria,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        ScoreSettings { avoid_tolerance: 0.0, criteria: Criteria::default() }
    }
}

/// Punctures in avoid regions past the tolerance at which that criterion
/// scores 0.
pub const AVOID_ZERO_AT: f64 = 50.0;

pub(crate) fn score_zone(
    reference: &Outcome,
    rz: usize,
    trainee: &Outcome,
    tz: usize,
    settings: &ScoreSettings,
) -> ZoneScore {
    let zone = &reference.scene.zones[rz];
    let name = zone.name.clone();
    let (rm, tm) = (&reference.zones[rz], &trainee.zones[tz]);
    let mut c = Vec::new();
    let mut feedback = Vec::new();
    let tl = lanes(&motion(trainee, tz));
    let rl = lanes(&motion(reference, rz));
    let (rs, rcv_speed) = speed_stats(&rl);

    // Coverage and bands.
    let rc = rm.coverage_fraction;
    c.push(Criterion::new(
        "coverage",
        "coverage",
        "share",
        tm.coverage_fraction,
        Some(rc),
        [rc - 0.03, 1.0],
        [rc - 0.2, 1.0],
        String::new(),
    ));
    if let (Some(band), Some(under), Some(over)) = (zone.target_per_cm2, tm.under_fraction, tm.over_fraction) {
        let (ru, ro) = (rm.under_fraction.unwrap_or(0.0), rm.over_fraction.unwrap_or(0.0));
        let ok_u = ru + 0.02;
        let ok_o = ro + 0.02;
        c.push(Criterion::new(
            "under",
            "under target",
            "share",
            under,
            Some(ru),
            [0.0, ok_u],
            [0.0, ok_u + 0.2],
            String::new(),
        ));
        c.push(Criterion::new(
            "over",
            "over target",
            "share",
            over,
            Some(ro),
            [0.0, ok_o],
            [0.0, ok_o + 0.2],
            String::new(),
        ));
        let ri = 1.0 - ru - ro;
        c.push(Criterion::new(
            "in_band",
            "in the target band",
            "share",
            1.0 - under - over,
            Some(ri),
            [ri - 0.03, 1.0],
            [ri - 0.25, 1.0],
            String::new(),
        ));
        let b = zone.region.bounds();
        // Where the area off the band lies, and the hand's speed there: fast
        // lanes leave the skin under the band, slow ones push it over.
        for (which, share_off, ok) in [(Side::Under, under, ok_u), (Side::Over, over, ok_o)] {
            let side = which.word();
            if share_off <= ok {
                continue;
            }
            let Some((place, share, at)) = worst_place(trainee, tz, band, which) else { continue };
            let mut s = format!(
                "{name}: {} of the area {side} target, most in the {place} ({} of it {side})",
                pct(share_off),
                pct(share)
            );
            if let Some(v) = speed_near(&tl, &b, at)
                && rs > 0.0
                && (match which {
                    Side::Under => v > 1.2 * rs,
                    Side::Over => v < 0.8 * rs,
                })
            {
                let (how, fix) = match which {
                    Side::Under => ("fast", "slow down"),
                    Side::Over => ("slow", "speed up"),
                };
                s += &format!(
                    "; the hand was {how} there ({v:.1} mm/s against the plan's {rs:.1}): {fix} in those lanes"
                );
            }
            feedback.push((if matches!(which, Side::Under) { "under" } else { "over" }, s));
        }
    }
    let rcv = rm.density_per_cm2.cv;
    c.push(Criterion::new(
        "cv",
        "density CV (uniformity)",
        "",
        tm.density_per_cm2.cv,
        Some(rcv),
        [0.0, rcv * 1.25 + 0.05],
        [0.0, rcv * 2.5 + 0.3],
        String::new(),
    ));

    // Motion: speed, lanes, directions.
    let (ts, tcv) = speed_stats(&tl);
    if rs > 0.0 {
        // No lane in the trace: the speed cannot be measured (scored 0, said).
        let (ratio, detail) = if tl.is_empty() {
            (f64::NAN, "not measurable: the trace has no lane (a straight run of 4 mm or more)".to_string())
        } else {
            (ts / rs, format!("{ts:.1} mm/s against {rs:.1} mm/s"))
        };
        c.push(Criterion::new(
            "speed",
            "glide speed / plan's",
            "ratio",
            ratio,
            Some(1.0),
            [0.8, 1.25],
            [0.4, 2.5],
            detail,
        ));
        if ts > 0.0 && ratio < 0.8 {
            feedback.push(("speed", format!(
                "{name}: glide faster: {ts:.1} mm/s on average against the plan's {rs:.1} mm/s (slow lanes over-treat)"
            )));
        } else if ratio > 1.25 {
            feedback.push((
                "speed",
                format!(
                    "{name}: slow down: {ts:.1} mm/s on average against the plan's {rs:.1} mm/s (fast lanes leave gaps)"
                ),
            ));
        }
        c.push(Criterion::new(
            "speed_spread",
            "speed spread between lanes (CV)",
            "",
            if tl.is_empty() { f64::NAN } else { tcv },
            Some(rcv_speed),
            [0.0, rcv_speed + 0.1],
            [0.0, rcv_speed + 0.5],
            if tl.is_empty() { "not measurable: the trace has no lane".into() } else { String::new() },
        ));
        if tcv > rcv_speed + 0.1 {
            feedback
                .push(("speed_spread", format!("{name}: keep an even pace: lane speeds vary by {} (CV)", pct(tcv))));
        }
    }
    let dirs = plan_directions(zone);
    let nominal = zone
        .passes
        .iter()
        .filter_map(|p| match p.kind {
            PassKind::Lanes { lane_spacing_mm, .. } => Some(lane_spacing_mm),
            _ => None,
        })
        .fold(f64::INFINITY, f64::min);
    if !dirs.is_empty() && nominal.is_finite() {
        let (mut ratios, mut cvs, mut worst_gap) = (Vec::new(), Vec::new(), None::<(f64, f64, f64, f64)>);
        let mut measured_in_plan = false;
        for &d in &dirs {
            let ts = spacings(
                &tl.iter()
                    .copied()
                    .filter(|l| angle_gap(l.angle_deg(), d) <= DIRECTION_TOLERANCE_DEG)
                    .collect::<Vec<_>>(),
                d,
                nominal,
            );
            let rs = spacings(
                &rl.iter()
                    .copied()
                    .filter(|l| angle_gap(l.angle_deg(), d) <= DIRECTION_TOLERANCE_DEG)
                    .collect::<Vec<_>>(),
                d,
                nominal,
            );
            measured_in_plan |= !rs.is_empty();
            if ts.is_empty() || rs.is_empty() {
                continue;
            }
            let mean = |s: &[(f64, f64)]| s.iter().map(|x| x.0).sum::<f64>() / s.len() as f64;
            let (tm_, rm_) = (mean(&ts), mean(&rs));
            let cv = |s: &[(f64, f64)], m: f64| {
                (s.iter().map(|x| (x.0 - m).powi(2)).sum::<f64>() / s.len() as f64).sqrt() / m
            };
            ratios.push(tm_ / rm_);
            // The plan's own spacings vary too (lanes spaced by true distance
            // on curved skin, split by avoid regions): the trainee's spread
            // is judged against the plan's in the same direction.
            cvs.push((cv(&ts, tm_), cv(&rs, rm_)));
            // A gap is a spacing half again as wide as the plan's at the same
            // place (the plan's own spacings vary on curved skin).
            let plan_at = |offset: f64| rs.iter().find(|r| (offset - r.1).abs() <= r.0 / 2.0).map_or(rm_, |r| r.0);
            if let Some((g, plan)) = ts
                .iter()
                .map(|g| (g, plan_at(g.1)))
                .filter(|(g, plan)| g.0 > 1.5 * plan)
                .max_by(|a, b| (a.0.0 / a.1).total_cmp(&(b.0.0 / b.1)))
                && worst_gap.is_none_or(|w| g.0 / plan > w.0 / w.1)
            {
                worst_gap = Some((g.0, plan, d, g.1));
            }
        }
        if ratios.is_empty() && measured_in_plan {
            // The plan has lanes to space, the trace not two in any of its
            // directions: not measurable, so scored 0 and said why (dropped,
            // the rest's mean scored one stroke 46/100).
            let why = "not measurable: the trace has fewer than two lanes in every one of the plan's directions";
            for (key, label, accepted, zero_at) in [
                ("lane_spacing", "lane spacing / plan's", [0.8, 1.2], [0.4, 2.0]),
                ("lane_regularity", "lane spacing spread (CV)", [0.0, 0.1], [0.0, 0.5]),
            ] {
                let unit = if key == "lane_spacing" { "ratio" } else { "" };
                c.push(Criterion::new(key, label, unit, f64::NAN, None, accepted, zero_at, why.into()));
            }
            feedback.push(("lane_spacing", format!("{name}: lay lanes as the plan does: {why}")));
        }
        if !ratios.is_empty() {
            // The worst direction: the mean spacing farthest from the plan's, the most irregular.
            let ratio =
                ratios.iter().copied().max_by(|a: &f64, b: &f64| a.ln().abs().total_cmp(&b.ln().abs())).unwrap_or(1.0);
            // The direction whose spread exceeds the plan's the most.
            let (cv, rcv) =
                cvs.iter().copied().max_by(|a, b| (a.0 - a.1).total_cmp(&(b.0 - b.1))).unwrap_or((0.0, 0.0));
            c.push(Criterion::new(
                "lane_spacing",
                "lane spacing / plan's",
                "ratio",
                ratio,
                Some(1.0),
                [0.8, 1.2],
                [0.4, 2.0],
                String::new(),
            ));
            c.push(Criterion::new(
                "lane_regularity",
                "lane spacing spread (CV)",
                "",
                cv,
                Some(rcv),
                [0.0, rcv + 0.1],
                [0.0, rcv + 0.5],
                String::new(),
            ));
        }
        if let Some((gap, plan, d, offset)) = worst_gap {
            let a = d.to_radians();
            let normal = Vec2::new(-a.sin(), a.cos());
            // The point of the zone's centre line at that offset, to name the place.
            let b = zone.region.bounds();
            let mid = (b.min_mm + b.max_mm) / 2.0;
            let at = mid + normal * (offset - mid.dot(&normal));
            // On curved skin, in true mm across the lanes there.
            let across =
                zone.surface.as_ref().and_then(|s| s.spacing_across(at, Vec2::new(a.cos(), a.sin()))).unwrap_or(1.0);
            let (gap, plan) = (gap * across, plan * across);
            feedback.push(("lane_spacing", format!(
                "{name}: a gap of {gap:.1} mm between {} lanes in the {} (the plan's spacing there is {plan:.1} mm): a lane was missed",
                direction_name(d),
                place_name(&b, at)
            )));
        }
        let reach = reference.scene.cartridge.reach_mm();
        let t_shares = direction_shares(&zone.region, &tl, &dirs, reach);
        let r_shares = direction_shares(&zone.region, &rl, &dirs, reach);
        let (mut worst, mut worst_ref, mut worst_dir) = (f64::INFINITY, 1.0, 0.0);
        for ((t, r), d) in t_shares.iter().zip(&r_shares).zip(&dirs) {
            if t - r < worst - worst_ref {
                (worst, worst_ref, worst_dir) = (*t, *r, *d);
            }
        }
        let detail = dirs
            .iter()
            .zip(&t_shares)
            .map(|(d, s)| format!("{} {}", direction_name(*d), pct(*s)))
            .collect::<Vec<_>>()
            .join(", ");
        c.push(Criterion::new(
            "directions",
            "direction coverage (worst direction)",
            "share",
            worst,
            Some(worst_ref),
            [worst_ref - 0.03, 1.0],
            [worst_ref - 0.3, 1.0],
            detail,
        ));
        if worst < worst_ref - 0.03 {
            feedback.push((
                "directions",
                format!(
                    "{name}: the {} direction reached only {} of the zone (the plan's {})",
                    direction_name(worst_dir),
                    pct(worst),
                    pct(worst_ref)
                ),
            ));
        }
    }

    // Avoid regions and time. Judged absolutely, not against the reference
    // (a reference that itself stamps into the eyes excuses nothing): up to
    // `avoid_tolerance` punctures (0 by default) score 100, falling to 0 at
    // AVOID_ZERO_AT more.
    let (v, rv) = (tm.avoid_violations as f64, rm.avoid_violations as f64);
    let ok_v = settings.avoid_tolerance;
    c.push(Criterion::new(
        "avoid",
        "punctures in avoid regions",
        "count",
        v,
        Some(rv),
        [0.0, ok_v],
        [0.0, ok_v + AVOID_ZERO_AT],
        String::new(),
    ));
    if v > ok_v {
        feedback.push((
            "avoid",
            format!(
                "{name}: {} punctures in avoid regions (the plan's {}): lift the pen over them",
                tm.avoid_violations, rm.avoid_violations
            ),
        ));
    }
    if rm.time_s > 0.0 {
        let ratio = tm.time_s / rm.time_s;
        c.push(Criterion::new(
            "time",
            "time / plan's",
            "ratio",
            ratio,
            Some(1.0),
            [0.8, 1.3],
            [0.3, 3.0],
            format!("{:.1} s against {:.1} s", tm.time_s, rm.time_s),
        ));
    }
    for crit in c.iter_mut() {
        crit.apply(&settings.criteria.get(crit.key));
    }
    // Advice follows the trainer's file where it sets a criterion: none for
    // one weighing 0, none for one its range scores 100 (the built-in
    // thresholds above gave it).
    let mut feedback: Vec<String> = feedback
        .into_iter()
        .filter(|(key, _)| {
            !settings.criteria.set.contains_key(*key)
                || c.iter().find(|x| x.key == *key).is_some_and(|x| x.weight > 0.0 && x.score < 100.0)
        })
        .map(|(_, f)| f)
        .collect();
    // The weighted mean (every weight 1 unless a criteria file says).
    let weights: f64 = c.iter().map(|c| c.weight).sum();
    let mut score = if weights > 0.0 { c.iter().map(|c| c.score * c.weight).sum::<f64>() / weights } else { 0.0 };
    if weights <= 0.0 && !c.is_empty() {
        feedback.push(format!("{name}: not scored: every criterion measured here weighs 0 in the criteria file"));
    }
    if tm.punctures == 0 {
        // A zone the hand never touched scores 0, whatever its criteria that
        // an empty zone meets (no avoid hits, no unevenness); nothing else to say.
        score = 0.0;
        feedback = vec![format!("{name}: not treated (no punctures)")];
    } else if feedback.is_empty() {
        feedback.push(format!("{name}: on plan ({:.0}/100)", score));
    }
    ZoneScore { zone: name, criteria: c, score, feedback, weighed: weights > 0.0 || tm.punctures == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every share criterion's accepted range and zero points lie in 0..1,
    /// so a trainee can reach its zero (coverage's "reference - 0.2" was
    /// negative for a reference under 20 %, under's "reference + 0.22" past
    /// 1), and the score falls to 0 at the range's end.
    #[test]
    fn share_criteria_have_their_zero_points_inside_0_to_1() {
        let low =
            Criterion::new("coverage", "coverage", "share", 0.0, Some(0.1), [0.07, 1.0], [-0.1, 1.0], String::new());
        assert_eq!(low.zero_at, [0.0, 1.0]);
        assert_eq!(low.score, 0.0, "no coverage at all scores 0");
        let high =
            Criterion::new("under", "under target", "share", 1.0, Some(0.9), [0.0, 0.92], [0.0, 1.12], String::new());
        assert_eq!(high.zero_at, [0.0, 1.0]);
        assert_eq!(high.score, 0.0, "all of the zone under the band scores 0");
        for c in [&low, &high] {
            assert!(c.zero_at.iter().chain(&c.accepted).all(|x| (0.0..=1.0).contains(x)), "{c:?}");
        }
        // Counts and ratios are not shares: left as given.
        let ratio =
            Criterion::new("speed", "glide speed", "ratio", 1.0, Some(1.0), [0.8, 1.25], [0.4, 2.5], String::new());
        assert_eq!(ratio.zero_at, [0.4, 2.5]);
    }
}
