//! Strategy benchmarking: several strategies run on the same zone(s) with
//! the same Monte-Carlo seeds (hand jitter and random stamping vary by seed;
//! every strategy sees the same seeds, so results are paired), every metric
//! of `simulate` summarised as a mean with a confidence interval, strategies
//! ranked by a chosen objective, and pairs the seeds cannot tell apart named.
//! Also the per-pass curves of one plan: the figures after each pass.

use crate::core::engine::zone::ZoneMetrics;
use crate::core::error::SceneError;
use crate::core::input::scene::Scene;
use crate::core::study::metric::{Metric, MetricRow};
use crate::core::study::stats::{Estimate, distinguishable};
use rayon::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// The values of every metric (NaN where a zone has none, e.g. no target)
/// for each zone of one run, then for all zones together (last row).
pub fn metric_rows(zones: &[ZoneMetrics]) -> Vec<MetricRow> {
    let mut rows: Vec<MetricRow> = zones.iter().map(MetricRow::of).collect();
    let area: f64 = zones.iter().map(|z| z.area_cm2).sum();
    let all = MetricRow(Metric::ALL.map(|m| {
        if m.summed() {
            rows.iter().map(|r| r[m]).sum()
        } else if area > 0.0 {
            zones.iter().zip(&rows).map(|(z, r)| r[m] * z.area_cm2).sum::<f64>() / area
        } else {
            f64::NAN
        }
    }));
    rows.push(all);
    rows
}

/// A strategy: a name and the scene it runs.
#[derive(Clone, Debug)]
pub struct Strategy {
    /// The strategy's name, as shown in tables and charts.
    pub name: String,
    /// The scene it runs (its seed is replaced by each run's).
    pub scene: Scene,
}

/// Raw results: `values[strategy][seed]` is the run's metric rows (see
/// [`metric_rows`]), or `None` when it was not run (stopped).
#[derive(Clone, Debug, Serialize)]
pub struct Runs {
    /// Strategy names, in the order given.
    pub strategies: Vec<String>,
    /// Zone names, then "all zones".
    pub zones: Vec<String>,
    /// The seeds, in the order run.
    pub seeds: Vec<u64>,
    /// `values[strategy][seed]`: one metric row per zone, then the all-zones row (`None`: not run).
    pub values: Vec<Vec<Option<Vec<MetricRow>>>>,
}

/// One run's metric rows (the figures only; no pictures).
pub fn run_rows(scene: &Scene, seed: u64) -> Result<Vec<MetricRow>, SceneError> {
    let scene = scene.clone().with_seed(seed);
    let (plan, _) = crate::core::engine::plan_checked(&scene, &crate::core::engine::RunOptions::default())?;
    let sim = crate::core::engine::simulate::simulate(&scene, &plan);
    Ok(metric_rows(&crate::core::engine::measure_figures(
        &scene,
        &sim,
        &mut crate::core::timing::StageTimes::default(),
    )))
}

/// Runs every strategy on every seed, in parallel; `done` is called after
/// each run, and runs not yet started are skipped once `stop` is set. Seeds
/// are taken a few at a time, every strategy on each, so a stopped run leaves
/// whole seeds (comparable across strategies) behind.
pub fn run_all(
    strategies: &[Strategy],
    seeds: &[u64],
    done: &(dyn Fn() + Sync),
    stop: &AtomicBool,
) -> Result<Runs, SceneError> {
    let mut values = vec![vec![None; seeds.len()]; strategies.len()];
    // Enough runs per batch to keep every worker busy.
    let per_batch = (8 * rayon::current_num_threads()).div_ceil(strategies.len().max(1)).max(1);
    for first in (0..seeds.len()).step_by(per_batch) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let batch = first..(first + per_batch).min(seeds.len());
        let jobs: Vec<(usize, usize)> = batch.flat_map(|i| (0..strategies.len()).map(move |s| (s, i))).collect();
        let results: Vec<Option<Vec<MetricRow>>> = jobs
            .par_iter()
            .map(|&(s, i)| {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                let rows = run_rows(&strategies[s].scene, seeds[i])?;
                done();
                Ok(Some(rows))
            })
            .collect::<Result<_, SceneError>>()?;
        for (&(s, i), r) in jobs.iter().zip(results) {
            values[s][i] = r;
        }
    }
    let mut zones: Vec<String> =
        strategies.first().map_or(Vec::new(), |s| s.scene.zones.iter().map(|z| z.name.clone()).collect());
    zones.push("all zones".into());
    Ok(Runs { strategies: strategies.iter().map(|s| s.name.clone()).collect(), zones, seeds: seeds.to_vec(), values })
}

impl Runs {
    /// The values of metric `m` of zone row `zone` for strategy `s`, over the
    /// seeds that ran (NaN values dropped).
    pub fn samples(&self, s: usize, zone: usize, m: Metric) -> Vec<f64> {
        self.values[s]
            .iter()
            .flatten()
            .filter_map(|rows| rows.get(zone).map(|r| r[m]))
            .filter(|v| !v.is_nan())
            .collect()
    }

    /// The seeds every strategy finished (a stopped run compares on these).
    pub fn common_seeds(&self) -> Vec<usize> {
        (0..self.seeds.len()).filter(|&i| self.values.iter().all(|v| v[i].is_some())).collect()
    }

    /// Paired samples of metric `m` (zone row `zone`) for strategy `s`, over `seeds`.
    pub fn paired(&self, s: usize, zone: usize, m: Metric, seeds: &[usize]) -> Vec<f64> {
        seeds.iter().filter_map(|&i| self.values[s][i].as_ref().map(|r| r[zone][m])).collect()
    }

    /// Estimates of every metric, per strategy and zone row: `[s][zone][k]`.
    /// Only the seeds every strategy finished count (`common_seeds`), so a
    /// stopped comparison compares like with like; NaN values (a zone
    /// without a target band) are left out.
    pub fn estimates(&self, level: f64) -> Vec<Vec<Vec<Estimate>>> {
        let seeds = self.common_seeds();
        (0..self.strategies.len())
            .map(|s| {
                (0..self.zones.len())
                    .map(|z| {
                        Metric::ALL
                            .iter()
                            .map(|&m| {
                                let v: Vec<f64> =
                                    self.paired(s, z, m, &seeds).into_iter().filter(|v| !v.is_nan()).collect();
                                Estimate::of(&v, level)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }
}

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// More is better (coverage, in band).
    More,
    /// Less is better (time, CV, under).
    Less,
}

/// What `compare` ranks strategies by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "app", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Least treatment time with the under-target share within --max-under.
    Time,
    /// Most area covered.
    Coverage,
    /// Most uniform density (least CV).
    Uniformity,
    /// Least area under the target band.
    Under,
    /// Most area within the target band.
    InBand,
}

impl Objective {
    /// In words, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Objective::Time => "least treatment time among the strategies within the under-target bound",
            Objective::Coverage => "most area covered",
            Objective::Uniformity => "most uniform density (least CV)",
            Objective::Under => "least area under the target band",
            Objective::InBand => "most area within the target band",
        }
    }

    /// The metric it looks at and which way it is better.
    pub fn metric(self) -> (Metric, Better) {
        match self {
            Objective::Time => (Metric::Time, Better::Less),
            Objective::Coverage => (Metric::Coverage, Better::More),
            Objective::Uniformity => (Metric::Cv, Better::Less),
            Objective::Under => (Metric::Under, Better::Less),
            Objective::InBand => (Metric::InBand, Better::More),
        }
    }
}

/// One strategy's place in the ranking.
#[derive(Clone, Debug, Serialize)]
pub struct Ranked {
    /// The strategy's name.
    pub strategy: String,
    /// Estimate of the objective's metric on the all-zones row, over the seeds every strategy finished.
    pub objective: Estimate,
    /// Meets the under-target bound (upper confidence bound of the mean
    /// under-target share <= the bound); true when no bound applies.
    pub feasible: bool,
    /// Upper confidence bound of the mean under-target share (`None` when no zone has a target).
    pub under_upper: Option<f64>,
    /// Strategies the seeds cannot tell apart from this one on the objective
    /// (paired interval of the difference contains 0).
    pub indistinguishable_from: Vec<String>,
}

/// Ranks strategies on the "all zones" row: feasible ones first, best
/// objective first. `max_under` bounds the under-target share at
/// confidence `level` (zones without a target are not bound).
pub fn rank(runs: &Runs, objective: Objective, max_under: Option<f64>, level: f64) -> Vec<Ranked> {
    let all = runs.zones.len() - 1;
    let seeds = runs.common_seeds();
    let (k, better) = objective.metric();
    let under_k = Metric::Under;
    let mut ranked: Vec<(usize, Ranked)> = (0..runs.strategies.len())
        .map(|s| {
            let est = Estimate::of(&runs.paired(s, all, k, &seeds), level);
            let under = Estimate::of(&runs.paired(s, all, under_k, &seeds), level);
            let under_upper = (!under.mean.is_nan()).then(|| under.upper_bound(level));
            let feasible = match (max_under, under_upper) {
                (Some(b), Some(u)) => u <= b,
                _ => true,
            };
            (
                s,
                Ranked {
                    strategy: runs.strategies[s].clone(),
                    objective: est,
                    feasible,
                    under_upper,
                    indistinguishable_from: Vec::new(),
                },
            )
        })
        .collect();
    ranked.sort_by(|(_, a), (_, b)| {
        b.feasible.cmp(&a.feasible).then_with(|| {
            let (x, y) = (a.objective.mean, b.objective.mean);
            match better {
                Better::More => y.total_cmp(&x),
                Better::Less => x.total_cmp(&y),
            }
        })
    });
    let order: Vec<usize> = ranked.iter().map(|(s, _)| *s).collect();
    for (i, (s, r)) in ranked.iter_mut().enumerate() {
        let mine = runs.paired(*s, all, k, &seeds);
        r.indistinguishable_from = order
            .iter()
            .enumerate()
            .filter(|&(j, &o)| j != i && !distinguishable(&mine, &runs.paired(o, all, k, &seeds), level))
            .map(|(_, &o)| runs.strategies[o].clone())
            .collect();
    }
    ranked.into_iter().map(|(_, r)| r).collect()
}

/// The per-pass curves of one plan: `runs.values[k][seed]` holds the figures
/// after pass k + 1 (each zone's passes cut after its first k + 1; zones with
/// fewer passes stay whole). A run cut after k passes makes exactly the
/// punctures of the first k passes of the whole plan, so these are the
/// figures after each pass, not estimates.
pub fn pass_curves(
    scene: &Scene,
    seeds: &[u64],
    done: &(dyn Fn() + Sync),
    stop: &AtomicBool,
) -> Result<Runs, SceneError> {
    let most = scene.zones.iter().map(|z| z.passes.len()).max().unwrap_or(0);
    let prefixes: Vec<Strategy> = (1..=most)
        .map(|k| {
            let mut s = scene.clone();
            for z in &mut s.zones {
                z.passes.truncate(k);
            }
            let labels: Vec<&str> = scene.zones[0].passes.iter().take(k).map(|p| p.label.as_str()).collect();
            Strategy { name: format!("after pass {k} ({})", labels.last().copied().unwrap_or("")), scene: s }
        })
        .collect();
    run_all(&prefixes, seeds, done, stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::study::strategy::Variation;

    fn cheek() -> Scene {
        Scene::from_toml_str(include_str!("../../../scenes/cheek.toml"), "cheek.toml").unwrap()
    }

    #[test]
    fn a_strategy_compared_with_itself_is_paired_and_indistinguishable() {
        let base = cheek();
        let strategies = vec![
            Strategy { name: "a".into(), scene: base.clone() },
            Strategy { name: "a again".into(), scene: base.clone() },
            Strategy {
                name: "fewer".into(),
                scene: Variation { passes: Some(1), ..Default::default() }.apply(&base, None).unwrap(),
            },
        ];
        let stop = AtomicBool::new(false);
        let runs = run_all(&strategies, &[1, 2, 3, 4], &|| {}, &stop).unwrap();
        // Same seeds, same strategy: the same numbers, seed by seed.
        assert_eq!(runs.values[0], runs.values[1]);
        let ranked = rank(&runs, Objective::Coverage, None, 0.95);
        let a = ranked.iter().find(|r| r.strategy == "a").unwrap();
        assert!(a.indistinguishable_from.contains(&"a again".to_string()));
        assert!(!a.indistinguishable_from.contains(&"fewer".to_string()), "one pass covers less, clearly");
        assert_eq!(ranked.last().unwrap().strategy, "fewer");
        // The seeds differ from each other (jitter varies by seed).
        let cov = runs.samples(0, 0, Metric::Coverage);
        assert!(cov.iter().any(|&c| c != cov[0]));
    }

    #[test]
    fn per_pass_curves_end_at_the_whole_plan() {
        let s = cheek();
        let stop = AtomicBool::new(false);
        let curves = pass_curves(&s, &[7], &|| {}, &stop).unwrap();
        assert_eq!(curves.strategies.len(), 3);
        let cov: Vec<f64> = (0..3).map(|k| curves.values[k][0].as_ref().unwrap()[0][Metric::Coverage]).collect();
        assert!(cov[0] < cov[1] && cov[1] < cov[2], "coverage grows pass by pass: {cov:?}");
        let whole = crate::core::engine::run(&s.with_seed(7), &Default::default()).unwrap();
        assert_eq!(cov[2], whole.zones[0].coverage_fraction);
        // After pass 1: the whole run's own per-pass figure (summed in another order).
        assert!((cov[0] - whole.zones[0].passes[0].coverage_after).abs() < 1e-12);
    }
}
