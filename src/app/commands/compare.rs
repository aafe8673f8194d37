//! `needlemap compare`: strategies on the same zones and seeds, every metric
//! as a mean with a confidence interval, ranked by an objective.

use crate::app::args::{parse_confidence, parse_fraction};
use crate::app::input::Files;
use crate::app::set_threads;
use crate::app::study::{
    Prepared, TABLE_METRICS, fmt_estimate, md_table, prepare_compare, progress, runs_csv, stop_flag, text_table,
};
use crate::app::{Failure, bad_input};
use crate::app::{charts, output};
use crate::core::study::compare::{self, Objective};
use crate::core::study::metric::{Metric, Unit};
use crate::core::study::stats::Estimate;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// The arguments of `needlemap compare`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Strategies files (a `base` scene and [[strategy]] variations) and
    /// scene files (one strategy each), mixed freely.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Monte-Carlo seeds per strategy [default: the file's, else 20].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub seeds: Option<u32>,
    /// The first seed [default: the file's, else the (base) scene's].
    #[arg(long)]
    pub first_seed: Option<u64>,
    /// Compare only these zones (repeat for several).
    #[arg(long)]
    pub zone: Vec<String>,
    /// What ranks strategies.
    #[arg(long, value_enum, default_value_t = Objective::Time)]
    pub objective: Objective,
    /// Bound on the share of area under the target band (0 to 1), met
    /// with the --confidence.
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
    pub max_under: f64,
    /// Confidence of intervals and bounds (0.5 to 0.999).
    #[arg(long, default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Output folder.
    #[arg(long, default_value = "out/compare")]
    pub out: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

/// Runs `needlemap compare`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { files, seeds, first_seed, zone, objective, max_under, confidence, out, threads } = args;
    set_threads(threads)?;
    let settings = CompareSettings { seeds, first_seed, out, objective, max_under, confidence };
    compare(&files, (!zone.is_empty()).then_some(&zone[..]), &settings)
}

/// Everything `compare` asks for.
pub struct CompareSettings {
    /// Monte-Carlo seeds per strategy (`--seeds`; `None`: the file's, else 20).
    pub seeds: Option<u32>,
    /// The first seed (`--first-seed`; `None`: the file's, else the first scene's).
    pub first_seed: Option<u64>,
    /// Output folder.
    pub out: PathBuf,
    /// What ranks the strategies.
    pub objective: Objective,
    /// Bound on the share of area under the target band (0 to 1), met with `confidence`.
    pub max_under: f64,
    /// Confidence of intervals and bounds (0.5 to 0.999).
    pub confidence: f64,
}

/// `needlemap compare`.
fn compare(files: &[PathBuf], zones: Option<&[String]>, cfg: &CompareSettings) -> Result<(), Failure> {
    let Prepared { strategies, seeds } = prepare_compare(&Files::disk(), files, zones, cfg.seeds, cfg.first_seed)?;
    let (n, first) = (seeds.len() as u64, seeds[0]);
    let stop = stop_flag();
    let bar = progress(strategies.len() as u64 * n, "compare");
    let t0 = std::time::Instant::now();
    let runs = compare::run_all(&strategies, &seeds, &|| bar.inc(1), stop).map_err(bad_input)?;
    bar.finish_and_clear();
    let elapsed = t0.elapsed().as_secs_f64();
    let stopped = stop.load(Ordering::SeqCst);
    let common = runs.common_seeds();
    if common.is_empty() {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!("stopped before any seed finished for every strategy: nothing written"),
        });
    }
    let est = runs.estimates(cfg.confidence);
    let ranking = compare::rank(&runs, cfg.objective, Some(cfg.max_under), cfg.confidence);
    let all = runs.zones.len() - 1;
    // The table's metrics, and always the one that ranks (in-band share is
    // not among the usual columns).
    let (objective_key, _) = cfg.objective.metric();
    let mut keys = TABLE_METRICS.to_vec();
    if !keys.contains(&objective_key) {
        keys.push(objective_key);
    }
    let mut header: Vec<String> = vec!["rank".into(), "strategy".into()];
    header
        .extend(keys.iter().map(|&k| format!("{}{}", k.label(), if k.unit() == Unit::PerCm2 { " /cm²" } else { "" })));
    header.push("note".into());
    let index = |name: &str| runs.strategies.iter().position(|s| s == name).expect("a ranked strategy");
    let rows: Vec<Vec<String>> = ranking
        .iter()
        .enumerate()
        .map(|(r, rk)| {
            let s = index(&rk.strategy);
            let mut row = vec![format!("{}", r + 1), rk.strategy.clone()];
            row.extend(keys.iter().map(|&k| fmt_estimate(k, &est[s][all][k.index()])));
            let mut notes = Vec::new();
            if !rk.feasible {
                notes.push(format!(
                    "under-target bound missed ({:.1}% > {:.1}%)",
                    rk.under_upper.unwrap_or(f64::NAN) * 100.0,
                    cfg.max_under * 100.0
                ));
            }
            if !rk.indistinguishable_from.is_empty() {
                notes.push(format!("≈ {}", rk.indistinguishable_from.join(", ")));
            }
            row.push(notes.join("; "));
            row
        })
        .collect();
    let level = cfg.confidence * 100.0;
    let intro = format!(
        "{} strategies x {} seeds ({}..{}) on {}; mean ± {level:.0}% interval; ranked by {} ({}), \
         under-target share bounded by {:.0}% at {level:.0}% confidence; ≈: not distinguishable on the objective \
         at these seeds (paired {level:.0}% interval of the difference contains 0)",
        runs.strategies.len(),
        common.len(),
        first,
        first + n - 1,
        runs.zones[..all].join(", "),
        cfg.objective.describe(),
        objective_key.label(),
        cfg.max_under * 100.0
    );
    // Markdown: the ranking, then each zone's table when there are several.
    let mut md = format!("# Strategy comparison\n\n{intro}.\n\n## All zones\n\n{}", md_table(&header, &rows));
    if all > 1 {
        for (zi, zone) in runs.zones[..all].iter().enumerate() {
            let zrows: Vec<Vec<String>> = (0..runs.strategies.len())
                .map(|s| {
                    let mut row = vec![runs.strategies[s].clone()];
                    row.extend(keys.iter().map(|&k| fmt_estimate(k, &est[s][zi][k.index()])));
                    row
                })
                .collect();
            let _ = write!(md, "\n## {zone}\n\n{}", md_table(&header[1..header.len() - 1], &zrows));
        }
    }
    let json = serde_json::json!({
        "seeds": runs.seeds,
        "seeds_finished": common.iter().map(|&i| runs.seeds[i]).collect::<Vec<_>>(),
        "confidence": cfg.confidence,
        "objective": cfg.objective,
        "max_under": cfg.max_under,
        "stopped": stopped,
        "metrics": Metric::ALL.iter().map(|m| serde_json::json!({"key": m.key(), "label": m.label(), "unit": m.unit().as_str()})).collect::<Vec<_>>(),
        "strategies": runs.strategies.iter().enumerate().map(|(s, name)| serde_json::json!({
            "name": name,
            "zones": runs.zones.iter().enumerate().map(|(z, zone)| serde_json::json!({
                "zone": zone,
                "metrics": Metric::ALL.iter().map(|m| (m.key().to_string(), serde_json::to_value(est[s][z][m.index()]).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ranking": ranking,
        "runs": raw_rows(&runs),
    });
    let names = &runs.strategies;
    let panel = |m: &Metric| {
        let unit = if m.unit().as_str().is_empty() { String::new() } else { format!(" ({})", m.unit().as_str()) };
        (m.index(), format!("{}{unit}", m.label()))
    };
    let values: Vec<Vec<Estimate>> =
        (0..Metric::ALL.len()).map(|k| (0..names.len()).map(|s| est[s][all][k]).collect()).collect();
    let bar_panels: Vec<charts::Panel> = [
        Metric::Coverage,
        Metric::DensityMean,
        Metric::Cv,
        Metric::Under,
        Metric::Over,
        Metric::InBand,
        Metric::Overlap,
        Metric::Time,
    ]
    .iter()
    .map(|key| {
        let (k, title) = panel(key);
        charts::Panel { title, values: &values[k] }
    })
    .collect();
    let title = format!("{} strategies, {} seeds, mean and {level:.0}% interval", names.len(), common.len());
    let bars = charts::bars(&title, names, &bar_panels)?;
    let time_k = Metric::Time.index();
    let scatter_panels: Vec<charts::Panel> = [Metric::Coverage, Metric::DensityMean]
        .iter()
        .map(|key| {
            let (k, title) = panel(key);
            charts::Panel { title: format!("{title} vs time"), values: &values[k] }
        })
        .collect();
    let scatter = charts::against_time(&title, names, &values[time_k], &scatter_panels, "treatment time (s)")?;
    output::write_all(
        &cfg.out,
        &[
            ("compare.md", md.into_bytes()),
            ("compare.csv", runs_csv(&runs, &est).into_bytes()),
            ("compare.json", serde_json::to_string_pretty(&json).map_err(anyhow::Error::from)?.into_bytes()),
            ("compare.png", bars),
            ("compare-time.png", scatter),
        ],
    )?;
    // Printed after the files are written: a reader closing the pipe early
    // (`| head`) must not cost the files.
    println!("{intro}\n");
    print!("{}", text_table(&header, &rows));
    println!(
        "\n{} runs in {elapsed:.1} s; wrote compare.md, compare.csv, compare.json, compare.png, compare-time.png to {}",
        common.len() * names.len(),
        cfg.out.display()
    );
    if stopped {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!(
                "stopped by Ctrl-C: {} of {n} seeds finished for every strategy; those are written",
                common.len()
            ),
        });
    }
    Ok(())
}

/// compare.json's raw runs as labelled rows: one per strategy, seed and zone
/// (then "all zones") that ran, each metric by its key (`null` where a
/// metric has no figure, as under without a target band).
fn raw_rows(runs: &compare::Runs) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for (s, strategy) in runs.strategies.iter().enumerate() {
        for (i, seed) in runs.seeds.iter().enumerate() {
            let Some(zones) = &runs.values[s][i] else { continue };
            for (zone, row) in runs.zones.iter().zip(zones) {
                let mut r = serde_json::Map::new();
                r.insert("strategy".into(), strategy.clone().into());
                r.insert("seed".into(), (*seed).into());
                r.insert("zone".into(), zone.clone().into());
                for m in Metric::ALL {
                    let v = row[m];
                    // + 0.0: no "-0.0".
                    r.insert(m.key().into(), if v.is_finite() { (v + 0.0).into() } else { serde_json::Value::Null });
                }
                rows.push(serde_json::Value::Object(r));
            }
        }
    }
    rows
}
