//! Pass-count tuning: per zone, the fewest passes (in a direction order) that
//! bring the zone into its target band with the asked confidence, within
//! limits on time, over-treatment and overlap; or why no plan gets there.
//!
//! For k = 1, 2, ... passes the zone runs alone on the same seeds. A plan
//! qualifies when the one-sided upper confidence bound of its mean
//! under-target share is within `max_under`, its mean over-target share
//! within `max_over`, and its mean time and overlap within their limits.
//! The search stops at the first plan that qualifies, and with a reason when
//! one pass is already too dense, a limit is passed, more passes stop
//! helping, or `max_passes` is reached.

use crate::core::error::SceneError;
use crate::core::input::scene::{PassKind, Scene};
use crate::core::study::compare::{Strategy, run_all};
use crate::core::study::metric::Metric;
use crate::core::study::stats::Estimate;
use crate::core::study::strategy::Variation;
use serde::Serialize;
use std::sync::atomic::AtomicBool;

/// The standard order of directions: each new pass crosses the ones before.
pub const DIRECTION_ORDER: [&str; 4] = ["horizontal", "vertical", "diagonal", "anti-diagonal"];

/// What `tune` aims for and within which limits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TuneSettings {
    /// The band, punctures/cm2 (None: each zone's own).
    pub target_per_cm2: Option<[f64; 2]>,
    /// Largest share of the zone under the band (bound at `confidence`).
    pub max_under: f64,
    /// Largest mean share over the band.
    pub max_over: f64,
    /// Confidence of the under-target bound (e.g. 0.95).
    pub confidence: f64,
    /// The seeds every plan runs on.
    pub seeds: Vec<u64>,
    /// Most passes tried.
    pub max_passes: u32,
    /// Largest mean treatment time of the zone, s.
    pub max_time_s: Option<f64>,
    /// Largest mean overlap fraction.
    pub max_overlap: Option<f64>,
    /// Lane spacings searched, mm (None: `SPACING_SHARES` of the scene's).
    pub lane_spacings_mm: Option<Vec<f64>>,
    /// Glide speeds searched, mm/s (None: `SPEED_SHARES` of the scene's).
    pub speeds_mm_s: Option<Vec<f64>>,
}

/// Default lane spacings searched, as shares of the scene's (4 mm: 4, 3, 2
/// and 1.5 mm): narrower lanes even the density out.
pub const SPACING_SHARES: [f64; 4] = [1.0, 0.75, 0.5, 0.375];
/// Default glide speeds searched, as shares of the scene's (40 mm/s: 30,
/// 40, 50 and 60 mm/s).
pub const SPEED_SHARES: [f64; 4] = [0.75, 1.0, 1.25, 1.5];

/// The pass-count search at one lane spacing and glide speed.
#[derive(Clone, Debug, Serialize)]
pub struct Searched {
    /// Lane spacing, mm.
    pub lane_spacing_mm: f64,
    /// Glide speed, mm/s.
    pub speed_mm_s: f64,
    /// The plans tried, 1 pass up.
    pub tried: Vec<Tried>,
    /// The index in `tried` of the first plan that qualifies.
    pub qualifies: Option<usize>,
    /// Why none qualifies.
    pub reason: Option<String>,
}

/// One plan tried: k passes and its figures over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Tried {
    /// The passes' pattern names, in order.
    pub passes: Vec<String>,
    /// Mean density of the zone, punctures/cm².
    pub density_per_cm2: Estimate,
    /// Share of the zone under the band (0..1).
    pub under: Estimate,
    /// The upper confidence bound of the mean under-target share.
    pub under_upper: f64,
    /// Share of the zone over the band (0..1).
    pub over: Estimate,
    /// Share of the zone hit by at least one needle disk (0..1).
    pub coverage: Estimate,
    /// Coefficient of variation of the cell densities.
    pub cv: Estimate,
    /// Share of punctures within a needle diameter of an earlier one (0..1).
    pub overlap: Estimate,
    /// Treatment time of the zone, s.
    pub time_s: Estimate,
}

/// The answer for one zone.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneTune {
    /// The zone's name.
    pub zone: String,
    /// The band aimed for, [low, high] punctures/cm².
    pub target_per_cm2: [f64; 2],
    /// The plans tried, 1 pass up, at the recommended spacing and speed
    /// (when none qualifies: at the scene's if it was searched, else at the
    /// first searched).
    pub tried: Vec<Tried>,
    /// The index in `tried` of the recommended plan, if one qualifies.
    pub recommended: Option<usize>,
    /// Why no plan qualifies.
    pub reason: Option<String>,
    /// Every spacing and speed searched, with its pass counts.
    pub searched: Vec<Searched>,
    /// The needle depth: the practitioner's (the scene's), never changed, mm.
    pub depth_mm: f64,
    /// Whether that depth is in the zone's range, in words.
    pub depth_note: String,
    /// A warning when it is outside the zone's range.
    pub depth_warning: Option<String>,
    /// The lane spacing the plans use, mm.
    pub lane_spacing_mm: f64,
    /// The glide speed the plans use, mm/s.
    pub speed_mm_s: f64,
}

impl ZoneTune {
    /// The recommended plan, if one qualifies.
    pub fn plan(&self) -> Option<&Tried> {
        self.recommended.map(|i| &self.tried[i])
    }

    /// The recommendation in words.
    pub fn sentence(&self, confidence: f64) -> String {
        match self.plan() {
            Some(t) => format!(
                "{}: {} pass{} ({}) at {} mm lanes, {} mm/s, {} mm deep: {:.0} /cm² mean, under the band {:.1}% \
                 ({:.0}% upper bound {:.1}%), over {:.1}%, {:.0} s",
                self.zone,
                t.passes.len(),
                if t.passes.len() == 1 { "" } else { "es" },
                t.passes.join(", "),
                self.lane_spacing_mm,
                self.speed_mm_s,
                self.depth_mm,
                t.density_per_cm2.mean,
                t.under.mean * 100.0,
                confidence * 100.0,
                t.under_upper * 100.0,
                t.over.mean * 100.0,
                t.time_s.mean
            ),
            None => format!(
                "{}: no plan reaches {:.0}-{:.0} /cm²: {}{}",
                self.zone,
                self.target_per_cm2[0],
                self.target_per_cm2[1],
                self.reason.as_deref().unwrap_or(""),
                if self.searched.len() > 1 {
                    format!(
                        " (at {} mm lanes and {} mm/s; nor at any other of the {} lane spacings and glide speeds \
                         searched: {}; see tune.md)",
                        self.lane_spacing_mm,
                        self.speed_mm_s,
                        self.searched.len(),
                        self.searched_ranges()
                    )
                } else {
                    String::new()
                }
            ),
        }
    }
}

impl ZoneTune {
    /// The spacings and speeds searched, in words.
    pub fn searched_ranges(&self) -> String {
        let list = |v: Vec<f64>| {
            let mut v = v;
            v.sort_by(f64::total_cmp);
            v.dedup();
            v.iter().map(|x| format!("{}", (x * 100.0).round() / 100.0)).collect::<Vec<_>>().join(", ")
        };
        format!(
            "lanes {} mm; {} mm/s",
            list(self.searched.iter().map(|s| s.lane_spacing_mm).collect()),
            list(self.searched.iter().map(|s| s.speed_mm_s).collect())
        )
    }
}

/// The order of the zone's passes: its own lane directions first, then the
/// rest of [`DIRECTION_ORDER`], repeated.
pub fn direction_order(scene: &Scene, zone: usize) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for p in &scene.zones[zone].passes {
        if matches!(p.kind, PassKind::Lanes { .. }) && !order.contains(&p.label) {
            order.push(p.label.clone());
        }
    }
    for d in DIRECTION_ORDER {
        if !order.iter().any(|o| o == d) {
            order.push(d.to_string());
        }
    }
    order
}

/// Tunes zone `zone` of `scene`; `done` is called after each run, and
/// `stop` ends the search early (the answer then says so).
pub fn tune_zone(
    scene: &Scene,
    zone: usize,
    cfg: &TuneSettings,
    done: &(dyn Fn() + Sync),
    stop: &AtomicBool,
) -> Result<ZoneTune, SceneError> {
    let z = &scene.zones[zone];
    let target = cfg.target_per_cm2.or(z.target_per_cm2).ok_or_else(|| SceneError {
        file: scene.file.clone(),
        at: z.at,
        key: format!("zones[{zone}].target_per_cm2"),
        message: "the zone has no target band: give one in the scene or with --target LO..HI".into(),
    })?;
    let template = z.passes.iter().find(|p| matches!(p.kind, PassKind::Lanes { .. })).ok_or_else(|| SceneError {
        file: scene.file.clone(),
        at: z.at,
        key: format!("zones[{zone}].passes"),
        message: "tune plans lane passes: give the zone at least one lane pass (its spacing and speed are used)".into(),
    })?;
    let PassKind::Lanes { lane_spacing_mm, .. } = template.kind else { unreachable!("a lane pass") };
    // The depth is the practitioner's: kept as given, with a warning when it
    // is outside the zone's range.
    let depth_mm = template.depth_mm;
    let depth_warning = z.depth_warning(template).map(|w| format!("{w}: kept as given (tune never changes the depth)"));
    let depth_note = match (z.depth_range_mm, &depth_warning) {
        (Some(_), Some(w)) => w.clone(),
        (Some([lo, hi]), None) => format!("the scene's, within the {}-skin range {lo}-{hi} mm", z.skin.name()),
        (None, _) => "the scene's (no recommended range known for this zone)".into(),
    };
    let spacings =
        cfg.lane_spacings_mm.clone().unwrap_or_else(|| SPACING_SHARES.iter().map(|f| f * lane_spacing_mm).collect());
    let speeds =
        cfg.speeds_mm_s.clone().unwrap_or_else(|| SPEED_SHARES.iter().map(|f| f * template.speed_mm_s).collect());
    let mut searched = Vec::new();
    for &spacing in &spacings {
        for &speed in &speeds {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            searched.push(search_passes(scene, zone, target, spacing, speed, depth_mm, cfg, done, stop)?);
        }
    }
    // The least time that meets the band; else the scene's own spacing and
    // speed, with why it falls short.
    let time_of = |s: &Searched| s.qualifies.map(|i| s.tried[i].time_s.mean);
    let best = (0..searched.len()).filter(|&i| time_of(&searched[i]).is_some()).min_by(|&a, &b| {
        time_of(&searched[a]).unwrap_or(f64::INFINITY).total_cmp(&time_of(&searched[b]).unwrap_or(f64::INFINITY))
    });
    let own = searched
        .iter()
        .position(|s| s.lane_spacing_mm == lane_spacing_mm && s.speed_mm_s == template.speed_mm_s)
        .unwrap_or(0);
    let shown = best.unwrap_or(own);
    let chosen = searched.get(shown).cloned();
    Ok(ZoneTune {
        zone: z.name.clone(),
        target_per_cm2: target,
        tried: chosen.as_ref().map_or(Vec::new(), |c| c.tried.clone()),
        recommended: chosen.as_ref().and_then(|c| c.qualifies),
        reason: chosen.as_ref().map_or(Some("stopped (Ctrl-C)".into()), |c| c.reason.clone()),
        depth_mm,
        depth_note,
        depth_warning,
        lane_spacing_mm: chosen.as_ref().map_or(lane_spacing_mm, |c| c.lane_spacing_mm),
        speed_mm_s: chosen.as_ref().map_or(template.speed_mm_s, |c| c.speed_mm_s),
        searched,
    })
}

/// The pass-count search of zone `zone` at one lane spacing and glide
/// speed: 1, 2, ... passes until one qualifies or why none will.
#[allow(clippy::too_many_arguments)]
fn search_passes(
    scene: &Scene,
    zone: usize,
    target: [f64; 2],
    lane_spacing_mm: f64,
    speed_mm_s: f64,
    depth_mm: f64,
    cfg: &TuneSettings,
    done: &(dyn Fn() + Sync),
    stop: &AtomicBool,
) -> Result<Searched, SceneError> {
    let z = &scene.zones[zone];
    let order = direction_order(scene, zone);
    let mut base = scene.clone();
    base.zones = vec![scene.zones[zone].clone()];
    base.zones[0].target_per_cm2 = Some(target);
    let mut tried: Vec<Tried> = Vec::new();
    let mut reason = None;
    let mut recommended = None;
    for k in 1..=cfg.max_passes as usize {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            reason = Some(format!("stopped after {} pass counts (Ctrl-C)", tried.len()));
            break;
        }
        let patterns: Vec<String> = (0..k).map(|i| order[i % order.len()].clone()).collect();
        let variation = Variation {
            patterns: Some(patterns.clone()),
            lane_spacing_mm: Some(lane_spacing_mm),
            speed_mm_s: Some(speed_mm_s),
            depth_mm: Some(depth_mm),
            ..Default::default()
        };
        let s = variation.apply(&base, None).map_err(|e| SceneError {
            file: scene.file.clone(),
            at: z.at,
            key: format!("zones[{zone}]"),
            message: e.to_string(),
        })?;
        crate::core::engine::plan_checked(&s, &Default::default())?;
        let runs = run_all(&[Strategy { name: format!("{k} passes"), scene: s }], &cfg.seeds, done, stop)?;
        let seeds = runs.common_seeds();
        if seeds.len() < 2 {
            reason = Some("stopped before enough seeds finished (Ctrl-C)".into());
            break;
        }

        let est = |m| Estimate::of(&runs.paired(0, 0, m, &seeds), cfg.confidence);
        let under = est(Metric::Under);
        let t = Tried {
            passes: patterns,
            density_per_cm2: est(Metric::DensityMean),
            under_upper: under.upper_bound(cfg.confidence),
            under,
            over: est(Metric::Over),
            coverage: est(Metric::Coverage),
            cv: est(Metric::Cv),
            overlap: est(Metric::Overlap),
            time_s: est(Metric::Time),
        };
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            // Judged on fewer seeds than asked, a plan is shown but not
            // recommended.
            tried.push(t);
            reason = Some(format!("stopped at {k} passes, on {} of {} seeds (Ctrl-C)", seeds.len(), cfg.seeds.len()));
            break;
        }
        let (under_ok, over_ok) = (t.under_upper <= cfg.max_under, t.over.mean <= cfg.max_over);
        let time_ok = cfg.max_time_s.is_none_or(|m| t.time_s.mean <= m);
        let overlap_ok = cfg.max_overlap.is_none_or(|m| t.overlap.mean <= m);
        let why = if !over_ok && k == 1 {
            Some(format!(
                "one pass already gives {:.0} /cm² and puts {:.0}% of the zone over {:.0} /cm² (limit {:.0}%): \
                 this cartridge is too dense at {} mm/s on {} mm lanes; glide faster, widen the lanes or lower the rate",
                t.density_per_cm2.mean,
                t.over.mean * 100.0,
                target[1],
                cfg.max_over * 100.0,
                speed_mm_s,
                lane_spacing_mm
            ))
        } else if !over_ok {
            Some(format!(
                "{k} passes put {:.1}% of the zone over the band (limit {:.0}%) while {:.1}% is still under it \
                 (bound {:.1}%): the density is too uneven for this band; a narrower lane spacing or a wider band would help",
                t.over.mean * 100.0,
                cfg.max_over * 100.0,
                t.under_upper * 100.0,
                cfg.max_under * 100.0
            ))
        } else if under_ok && !time_ok {
            Some(format!(
                "{k} passes reach the band but take {:.0} s (limit {:.0} s)",
                t.time_s.mean,
                cfg.max_time_s.unwrap_or(0.0)
            ))
        } else if under_ok && !overlap_ok {
            Some(format!(
                "{k} passes reach the band but overlap {:.0}% (limit {:.0}%)",
                t.overlap.mean * 100.0,
                cfg.max_overlap.unwrap_or(0.0) * 100.0
            ))
        } else if !under_ok && !time_ok {
            Some(format!(
                "{k} passes already take {:.0} s (limit {:.0} s) and leave {:.1}% under the band",
                t.time_s.mean,
                cfg.max_time_s.unwrap_or(0.0),
                t.under.mean * 100.0
            ))
        } else {
            None
        };
        // The cartridge cannot get there: at this density a pass, even the
        // most passes allowed stay under the band's bottom.
        let per_pass = t.density_per_cm2.mean / k as f64;
        let out_of_reach = !under_ok && per_pass * (cfg.max_passes as f64) < target[0];
        // More passes no longer help: the mean is in the band but the
        // under-target share fell by less than half a percentage point over
        // the last two passes.
        let stalled = !under_ok
            && t.density_per_cm2.mean >= target[0]
            && tried.len() >= 2
            && tried[tried.len() - 2].under.mean - t.under.mean < 0.005;
        tried.push(t);
        if let Some(w) = why {
            reason = Some(w);
            break;
        }
        if under_ok {
            recommended = Some(tried.len() - 1);
            break;
        }
        if out_of_reach {
            reason = Some(format!(
                "the cartridge cannot reach that density at this speed: one pass adds about {per_pass:.0} /cm² ({} mm/s on {} mm lanes), so even {} passes (--max-passes) give about {:.0} /cm², under {:.0}; slow down, narrow the lanes or use a cartridge with more needles or a higher rate",
                speed_mm_s,
                lane_spacing_mm,
                cfg.max_passes,
                per_pass * cfg.max_passes as f64,
                target[0]
            ));
            break;
        }
        if stalled {
            let last = tried.last().expect("just pushed");
            reason = Some(format!(
                "more passes stop helping: after {k} passes {:.1}% of the zone is still under {:.0} /cm² (bound {:.1}%), \
                 at {:.0} /cm² mean: the under-treated part is where lanes cannot reach (edges, around avoid regions)",
                last.under.mean * 100.0,
                target[0],
                cfg.max_under * 100.0,
                last.density_per_cm2.mean
            ));
            break;
        }
        if k == cfg.max_passes as usize {
            let last = tried.last().expect("just pushed");
            reason = Some(format!(
                "{k} passes (the most tried, --max-passes) reach {:.0} /cm² with {:.1}% under {:.0} /cm² (bound {:.1}%): \
                 the cartridge cannot reach the band at {} mm/s on {} mm lanes in {k} passes; slow down or narrow the lanes",
                last.density_per_cm2.mean,
                last.under.mean * 100.0,
                target[0],
                cfg.max_under * 100.0,
                speed_mm_s,
                lane_spacing_mm
            ));
        }
    }
    Ok(Searched { lane_spacing_mm, speed_mm_s, tried, qualifies: recommended, reason })
}

/// Why the tuned scene's text could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TunedSceneError {
    /// The scene's text no longer parses as TOML.
    #[error("the scene no longer parses: {0}")]
    Parse(toml::de::Error),
    /// The scene has no `[[zones]]` array.
    #[error("the scene has no [[zones]]")]
    NoZones,
    /// A tuned zone's index is not a zone of the text.
    #[error("the scene has no zone {0}")]
    NoZone(usize),
    /// The tuned scene could not be written as TOML.
    #[error("cannot write the tuned scene: {0}")]
    Write(toml::ser::Error),
}

/// The scene's TOML text with each tuned zone's passes replaced by its
/// recommended plan (zones without one keep theirs), and the target written
/// when it came from the command line. `mesh_path` rewrites a zone's `mesh`
/// value (so relative paths still resolve from where the file is written).
pub fn tuned_scene_text(
    text: &str,
    tunes: &[(usize, ZoneTune)],
    target_given: bool,
    mesh_path: &dyn Fn(&str) -> String,
) -> Result<String, TunedSceneError> {
    let mut doc: toml::Table = toml::from_str(text).map_err(TunedSceneError::Parse)?;
    let zones = doc.get_mut("zones").and_then(|z| z.as_array_mut()).ok_or(TunedSceneError::NoZones)?;
    for zone in zones.iter_mut() {
        if let Some(m) = zone.get_mut("mesh")
            && let Some(path) = m.as_str()
        {
            *m = toml::Value::String(mesh_path(path));
        }
    }
    for (zi, t) in tunes {
        let Some(plan) = t.plan() else { continue };
        let zone = zones.get_mut(*zi).and_then(|z| z.as_table_mut()).ok_or(TunedSceneError::NoZone(*zi))?;
        if target_given {
            zone.insert(
                "target_per_cm2".into(),
                toml::Value::Array(t.target_per_cm2.iter().map(|&v| toml::Value::Float(v)).collect()),
            );
        }
        // The zone's first lane pass's other keys (its own rate, avoid
        // handling, stagger) carry over: the search simulated them.
        let carried: toml::Table = zone
            .get("passes")
            .and_then(|p| p.as_array())
            .and_then(|ps| {
                ps.iter()
                    .filter_map(|p| p.as_table())
                    .find(|p| !p.contains_key("trajectory") && !p.contains_key("stamps"))
            })
            .map(|p| {
                p.iter()
                    .filter(|(k, _)| {
                        !["pattern", "angle_deg", "lane_spacing_mm", "speed_mm_s", "depth_mm"].contains(&k.as_str())
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let passes: Vec<toml::Value> = plan
            .passes
            .iter()
            .map(|p| {
                let mut pass = carried.clone();
                pass.insert("pattern".into(), toml::Value::String(p.clone()));
                pass.insert("lane_spacing_mm".into(), toml::Value::Float(t.lane_spacing_mm));
                pass.insert("speed_mm_s".into(), toml::Value::Float(t.speed_mm_s));
                pass.insert("depth_mm".into(), toml::Value::Float(t.depth_mm));
                toml::Value::Table(pass)
            })
            .collect();
        zone.insert("passes".into(), toml::Value::Array(passes));
    }
    toml::to_string(&doc).map_err(TunedSceneError::Write)
}
