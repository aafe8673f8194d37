//! `needlemap compare`, `needlemap passes` and `needlemap tune`: many runs of
//! the engine with the same seeds, summarised with confidence intervals, as a
//! terminal table, Markdown, CSV, JSON and charts. Progress bars on stderr;
//! Ctrl-C stops starting new runs and writes what finished.

use super::{Failure, bad_input, charts, load_scene, output};
use crate::core::error::SceneError;
use crate::core::input::scene::Scene;
use crate::core::study::compare::{self, METRICS, Objective, Runs, Strategy};
use crate::core::study::stats::Estimate;
use crate::core::study::strategy::{StrategySet, is_strategy_file};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C: runs not yet started are skipped.
pub fn stop_flag() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    static HANDLER: OnceLock<()> = OnceLock::new();
    HANDLER.get_or_init(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                std::process::exit(130); // a second Ctrl-C: stop now
            }
            eprintln!("\nstopping: finishing the runs under way (Ctrl-C again to quit at once)");
        });
    });
    &STOP
}

/// A progress bar on stderr for `total` runs (hidden when stderr is not a terminal).
pub fn progress(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} runs, {elapsed} elapsed, {eta} left")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// The strategies of a `compare` call, with the seed count and first seed
/// their file gives, if it does.
pub struct Loaded {
    pub strategies: Vec<Strategy>,
    pub seeds: Option<u32>,
    pub first_seed: Option<u64>,
}

/// Loads one strategies file varying a base scene, or several scene files
/// (one strategy each, on the same zones).
pub fn load_strategies(files: &[PathBuf], zones: Option<&[String]>) -> Result<Loaded, Failure> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| bad_input(anyhow::anyhow!("cannot read {}: {e}", p.display())))
    };
    if let [file] = files {
        let text = read(file)?;
        if is_strategy_file(&text) {
            let sf = StrategySet::from_toml_str(&text, &file.display().to_string()).map_err(bad_input)?;
            let base_path = file.parent().unwrap_or(Path::new(".")).join(&sf.base);
            let base = load_scene(&base_path).map_err(|f| Failure {
                code: f.code,
                error: f.error.context(format!(
                    "{}:{}:{}: base: the base scene",
                    file.display(),
                    sf.base_at.line,
                    sf.base_at.column
                )),
            })?;
            let zones = zones.map(|z| z.to_vec()).or(sf.zones.clone());
            let strategies = sf
                .strategies
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let scene = s.variation.apply(&base, zones.as_deref()).map_err(|message| {
                        bad_input(SceneError {
                            file: file.display().to_string(),
                            at: s.at,
                            key: format!("strategy[{i}] ({})", s.name),
                            message,
                        })
                    })?;
                    Ok(Strategy { name: s.name.clone(), scene })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            return Ok(Loaded { strategies, seeds: sf.seeds, first_seed: sf.first_seed });
        }
    }
    let mut strategies: Vec<Strategy> = Vec::new();
    for f in files {
        let mut scene = load_scene(f)?;
        if let Some(z) = zones {
            scene = crate::core::study::strategy::Variation::default()
                .apply(&scene, Some(z))
                .map_err(|e| bad_input(anyhow::anyhow!("{}: --zone: {e}", f.display())))?;
        }
        let mut name = scene.name.clone();
        let mut k = 2;
        while strategies.iter().any(|s| s.name == name) {
            name = format!("{} #{k}", scene.name);
            k += 1;
        }
        strategies.push(Strategy { name, scene });
    }
    // The same zone(s), or the comparison means nothing.
    let zone_names = |s: &Scene| s.zones.iter().map(|z| z.name.clone()).collect::<Vec<_>>();
    if let Some(first) = strategies.first() {
        for s in &strategies[1..] {
            if zone_names(&s.scene) != zone_names(&first.scene) {
                return Err(bad_input(anyhow::anyhow!(
                    "`{}` has zones {:?} but `{}` has {:?}: compare strategies on the same zones (--zone NAME picks one)",
                    s.name,
                    zone_names(&s.scene),
                    first.name,
                    zone_names(&first.scene)
                )));
            }
        }
    }
    Ok(Loaded { strategies, seeds: None, first_seed: None })
}

/// A metric's estimate as text, in its unit: percentages for fractions.
pub fn fmt_estimate(k: usize, e: &Estimate) -> String {
    if e.mean.is_nan() {
        return "-".into();
    }
    let m = &METRICS[k];
    let (scale, digits, unit) = match m.unit {
        "fraction" => (100.0, 1, "%"),
        "/cm²" => (1.0, 0, ""),
        "s" => (1.0, 1, " s"),
        "mm" => (1.0, 0, " mm"),
        _ if m.key == "cv" => (1.0, 3, ""),
        _ => (1.0, 0, ""),
    };
    // No "-0.0": values that round to zero print as zero.
    let num = |x: f64| {
        let x = x * scale;
        if x.abs() < 0.5 * 10f64.powi(-(digits as i32)) { 0.0 } else { x }
    };
    if e.half_width.is_finite() {
        format!("{:.*} ± {:.*}{unit}", digits, num(e.mean), digits, num(e.half_width))
    } else {
        format!("{:.*}{unit}", digits, num(e.mean))
    }
}

/// Metrics shown in the terminal and Markdown tables (the CSV and JSON have all).
const TABLE_METRICS: &[&str] = &["coverage", "density_mean", "cv", "under", "over", "overlap", "time_s"];

fn table_keys() -> Vec<usize> {
    TABLE_METRICS.iter().map(|k| compare::metric(k).expect("a listed metric")).collect()
}

/// The CSV: one row per strategy, zone and metric.
pub fn runs_csv(runs: &Runs, est: &[Vec<Vec<Estimate>>]) -> String {
    let mut s = String::from("strategy,zone,metric,unit,n,mean,sd,ci_low,ci_high\n");
    for (si, name) in runs.strategies.iter().enumerate() {
        for (zi, zone) in runs.zones.iter().enumerate() {
            for (k, m) in METRICS.iter().enumerate() {
                let e = &est[si][zi][k];
                if e.n == 0 {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{},{},{}",
                    csv_field(name),
                    csv_field(zone),
                    m.key,
                    m.unit,
                    e.n,
                    e.mean,
                    e.sd,
                    e.lo(),
                    e.hi()
                );
            }
        }
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Column widths fitted to the cells; text columns (those whose cells do not
/// start with a digit) left-aligned, figures right-aligned.
pub fn text_table(header: &[String], rows: &[Vec<String>]) -> String {
    let left: Vec<bool> = (0..header.len())
        .map(|c| !rows.iter().all(|r| r[c].is_empty() || r[c].starts_with(|ch: char| ch.is_ascii_digit() || ch == '-')))
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).chain([header[c].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(c, x)| {
                let pad = widths[c] - x.chars().count();
                if left[c] { format!("{x}{}", " ".repeat(pad)) } else { format!("{}{x}", " ".repeat(pad)) }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header) + "\n";
    out += &widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>().join("  ");
    out.push('\n');
    for r in rows {
        out += &line(r);
        out.push('\n');
    }
    out
}

/// A Markdown table.
pub fn md_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s =
        format!("| {} |\n|{}|\n", header.join(" | "), header.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

/// Everything `compare` asks for.
pub struct CompareSettings {
    pub seeds: Option<u32>,
    pub first_seed: Option<u64>,
    pub out: PathBuf,
    pub objective: Objective,
    pub max_under: f64,
    pub confidence: f64,
}

/// `needlemap compare`.
pub fn compare(files: &[PathBuf], zones: Option<&[String]>, cfg: &CompareSettings) -> Result<(), Failure> {
    let Loaded { strategies, seeds: file_seeds, first_seed: file_first } = load_strategies(files, zones)?;
    let n = cfg.seeds.or(file_seeds).unwrap_or(20) as u64;
    let first = cfg.first_seed.or(file_first).unwrap_or(strategies[0].scene.seed);
    let seeds: Vec<u64> = (first..first + n).collect();
    // Check every strategy's cost before any run (a scene too big fails here).
    for s in &strategies {
        crate::core::engine::plan_checked(&s.scene, &Default::default())
            .map_err(|e| bad_input(anyhow::anyhow!("strategy `{}`: {e}", s.name)))?;
    }
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
    let keys = table_keys();
    let mut header: Vec<String> = vec!["rank".into(), "strategy".into()];
    header.extend(
        keys.iter().map(|&k| format!("{}{}", METRICS[k].label, if METRICS[k].unit == "/cm²" { " /cm²" } else { "" })),
    );
    header.push("note".into());
    let index = |name: &str| runs.strategies.iter().position(|s| s == name).expect("a ranked strategy");
    let rows: Vec<Vec<String>> = ranking
        .iter()
        .enumerate()
        .map(|(r, rk)| {
            let s = index(&rk.strategy);
            let mut row = vec![format!("{}", r + 1), rk.strategy.clone()];
            row.extend(keys.iter().map(|&k| fmt_estimate(k, &est[s][all][k])));
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
    let (objective_key, _) = cfg.objective.metric();
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
        METRICS[objective_key].label,
        cfg.max_under * 100.0
    );
    // Markdown: the ranking, then each zone's table when there are several.
    let mut md = format!("# Strategy comparison\n\n{intro}.\n\n## All zones\n\n{}", md_table(&header, &rows));
    if all > 1 {
        for (zi, zone) in runs.zones[..all].iter().enumerate() {
            let zrows: Vec<Vec<String>> = (0..runs.strategies.len())
                .map(|s| {
                    let mut row = vec![runs.strategies[s].clone()];
                    row.extend(keys.iter().map(|&k| fmt_estimate(k, &est[s][zi][k])));
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
        "metrics": METRICS.iter().map(|m| serde_json::json!({"key": m.key, "label": m.label, "unit": m.unit})).collect::<Vec<_>>(),
        "strategies": runs.strategies.iter().enumerate().map(|(s, name)| serde_json::json!({
            "name": name,
            "zones": runs.zones.iter().enumerate().map(|(z, zone)| serde_json::json!({
                "zone": zone,
                "metrics": METRICS.iter().enumerate().map(|(k, m)| (m.key.to_string(), serde_json::to_value(est[s][z][k]).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ranking": ranking,
        "runs": runs.values,
    });
    let names = &runs.strategies;
    let panel = |key: &str| {
        let k = compare::metric(key).expect("a listed metric");
        let m = &METRICS[k];
        let unit = if m.unit.is_empty() { String::new() } else { format!(" ({})", m.unit) };
        (k, format!("{}{unit}", m.label))
    };
    let values: Vec<Vec<Estimate>> =
        (0..METRICS.len()).map(|k| (0..names.len()).map(|s| est[s][all][k]).collect()).collect();
    let bar_panels: Vec<charts::Panel> =
        ["coverage", "density_mean", "cv", "under", "over", "in_band", "overlap", "time_s"]
            .iter()
            .map(|key| {
                let (k, title) = panel(key);
                charts::Panel { title, values: &values[k] }
            })
            .collect();
    let title = format!("{} strategies, {} seeds, mean and {level:.0}% interval", names.len(), common.len());
    let bars = charts::bars(&title, names, &bar_panels)?;
    let time_k = compare::metric("time_s").expect("listed");
    let scatter_panels: Vec<charts::Panel> = ["coverage", "density_mean"]
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

/// `needlemap passes`: the figures after each pass of one plan, over seeds.
pub fn passes(
    scene_path: &Path,
    seeds: u32,
    first_seed: Option<u64>,
    out: &Path,
    confidence: f64,
) -> Result<(), Failure> {
    let scene = load_scene(scene_path)?;
    crate::core::engine::plan_checked(&scene, &Default::default()).map_err(bad_input)?;
    let first = first_seed.unwrap_or(scene.seed);
    let seed_list: Vec<u64> = (first..first + seeds as u64).collect();
    let most = scene.zones.iter().map(|z| z.passes.len()).max().unwrap_or(0);
    let stop = stop_flag();
    let bar = progress((most * seed_list.len()) as u64, "passes");
    let runs = compare::pass_curves(&scene, &seed_list, &|| bar.inc(1), stop).map_err(bad_input)?;
    bar.finish_and_clear();
    let stopped = stop.load(Ordering::SeqCst);
    let common = runs.common_seeds();
    if common.is_empty() {
        return Err(Failure { code: 130, error: anyhow::anyhow!("stopped before any seed finished: nothing written") });
    }
    let est = runs.estimates(confidence);
    let all = runs.zones.len() - 1;
    let keys: Vec<usize> = ["coverage", "density_mean", "cv", "under", "over"]
        .iter()
        .map(|k| compare::metric(k).expect("listed"))
        .collect();
    let cov = compare::metric("coverage").expect("listed");
    let mut header: Vec<String> = vec!["after pass".into()];
    header.extend(keys.iter().map(|&k| METRICS[k].label.to_string()));
    header.push("coverage gained".into());
    let rows: Vec<Vec<String>> = (0..runs.strategies.len())
        .map(|p| {
            let mut row = vec![runs.strategies[p].trim_start_matches("after ").to_string()];
            row.extend(keys.iter().map(|&k| fmt_estimate(k, &est[p][all][k])));
            // The marginal gain: paired difference from the pass before.
            let gain = if p == 0 {
                est[p][all][cov]
            } else {
                crate::core::study::stats::paired_difference(
                    &runs.paired(p, all, cov, &common),
                    &runs.paired(p - 1, all, cov, &common),
                    confidence,
                )
            };
            row.push(fmt_estimate(cov, &gain));
            row
        })
        .collect();
    let intro = format!(
        "{}: the figures after each pass, over {} seeds ({}..{}); mean ± {:.0}% interval",
        scene.name,
        common.len(),
        first,
        first + seeds as u64 - 1,
        confidence * 100.0
    );
    let md = format!("# Per-pass curves\n\n{intro}.\n\n{}", md_table(&header, &rows));
    let values: Vec<Vec<Estimate>> =
        keys.iter().map(|&k| (0..runs.strategies.len()).map(|p| est[p][all][k]).collect()).collect();
    let panels: Vec<charts::Panel> = keys
        .iter()
        .zip(&values)
        .map(|(&k, v)| {
            let m = &METRICS[k];
            charts::Panel {
                title: format!(
                    "{}{}",
                    m.label,
                    if m.unit.is_empty() { String::new() } else { format!(" ({})", m.unit) }
                ),
                values: v,
            }
        })
        .collect();
    let png = charts::per_pass(&intro, &runs.strategies, &panels)?;
    let json = serde_json::json!({
        "scene": scene.name,
        "seeds": runs.seeds,
        "confidence": confidence,
        "passes": runs.strategies.iter().enumerate().map(|(p, label)| serde_json::json!({
            "after": label,
            "metrics": METRICS.iter().enumerate().map(|(k, m)| (m.key.to_string(), serde_json::to_value(est[p][all][k]).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    });
    output::write_all(
        out,
        &[
            ("passes.md", md.into_bytes()),
            ("passes.csv", runs_csv(&runs, &est).into_bytes()),
            ("passes.json", serde_json::to_string_pretty(&json).map_err(anyhow::Error::from)?.into_bytes()),
            ("passes.png", png),
        ],
    )?;
    println!("{intro}\n");
    print!("{}", text_table(&header, &rows));
    println!("\nwrote passes.md, passes.csv, passes.json, passes.png to {}", out.display());
    if stopped {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!("stopped by Ctrl-C: {} seeds finished; those are written", common.len()),
        });
    }
    Ok(())
}

/// What `tune` asks for (its command-line options).
#[derive(clap::Args, Debug)]
pub struct TuneArgs {
    /// Tune only these zones (repeat for several) [default: all].
    #[arg(long = "zone", value_name = "NAME")]
    pub zones: Vec<String>,
    /// The band, LO..HI punctures/cm2 [default: each zone's target].
    #[arg(long, value_parser = super::parse_range, value_name = "LO..HI")]
    pub target: Option<[f64; 2]>,
    /// Largest share of the zone under the band (0 to 1), met with --confidence.
    #[arg(long, default_value_t = 0.1, value_parser = super::parse_fraction)]
    pub max_under: f64,
    /// Largest mean share of the zone over the band (0 to 1).
    #[arg(long, default_value_t = 0.25, value_parser = super::parse_fraction)]
    pub max_over: f64,
    /// Confidence of the under-band bound (0.5 to 0.999).
    #[arg(long, default_value_t = 0.95, value_parser = super::parse_confidence)]
    pub confidence: f64,
    /// Monte-Carlo seeds per plan (from the scene's seed).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub seeds: u32,
    /// The most passes tried.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_passes: u32,
    /// Longest mean treatment time per zone, s.
    #[arg(long)]
    pub max_time: Option<f64>,
    /// Largest mean overlap fraction (0 to 1).
    #[arg(long, value_parser = super::parse_fraction)]
    pub max_overlap: Option<f64>,
    /// Output folder.
    #[arg(long, default_value = "out/tune")]
    pub out: PathBuf,
}

/// `needlemap tune`: per zone, the fewest passes that reach the band.
pub fn tune(scene_path: &Path, a: &TuneArgs) -> Result<(), Failure> {
    use crate::core::study::tune::{TuneSettings, tune_zone, tuned_scene_text};
    let scene = load_scene(scene_path)?;
    let zones: Vec<usize> = if a.zones.is_empty() {
        (0..scene.zones.len()).collect()
    } else {
        a.zones
            .iter()
            .map(|n| {
                scene.zones.iter().position(|z| &z.name == n).ok_or_else(|| {
                    let known: Vec<&str> = scene.zones.iter().map(|z| z.name.as_str()).collect();
                    bad_input(anyhow::anyhow!(
                        "--zone {n}: no such zone in {} (it has: {})",
                        scene_path.display(),
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let first = scene.seed;
    let cfg = TuneSettings {
        target_per_cm2: a.target,
        max_under: a.max_under,
        max_over: a.max_over,
        confidence: a.confidence,
        seeds: (first..first + a.seeds as u64).collect(),
        max_passes: a.max_passes,
        max_time_s: a.max_time,
        max_overlap: a.max_overlap,
    };
    let stop = stop_flag();
    let bar = progress(0, "tune");
    let mut tunes = Vec::new();
    for &z in &zones {
        bar.set_message(format!("tune {}", scene.zones[z].name));
        bar.inc_length(a.seeds as u64);
        let t = tune_zone(&scene, z, &cfg, &|| bar.inc(1), stop).map_err(bad_input)?;
        // The bar grows by one plan's runs each time a plan is tried.
        bar.inc_length((t.tried.len() as u64).saturating_sub(1) * a.seeds as u64);
        tunes.push((z, t));
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    bar.finish_and_clear();
    let c = a.confidence;
    // The explanation: per zone, every plan tried and why the search ended.
    let mut md = format!(
        "# Tuned passes for `{}`\n\nFor each zone, plans of 1, 2, ... passes (directions in the order shown) ran on \
         {} seeds ({}..{}). A plan qualifies when the {:.0}% upper bound of its mean share of area under the band is \
         at most {:.0}% and its mean share over the band at most {:.0}%{}{}. The first plan that qualifies is \
         recommended.\n",
        scene.name,
        a.seeds,
        first,
        first + a.seeds as u64 - 1,
        c * 100.0,
        a.max_under * 100.0,
        a.max_over * 100.0,
        a.max_time.map_or(String::new(), |t| format!(", its time at most {t} s")),
        a.max_overlap.map_or(String::new(), |o| format!(", its overlap at most {:.0}%", o * 100.0)),
    );
    for (_, t) in &tunes {
        let _ = write!(
            md,
            "\n## {}\n\n{}.\n\nTarget {:.0}-{:.0} /cm²; lanes {} mm apart at {} mm/s; depth {} mm ({}).\n\n",
            t.zone,
            t.sentence(c),
            t.target_per_cm2[0],
            t.target_per_cm2[1],
            t.lane_spacing_mm,
            t.speed_mm_s,
            t.depth_mm,
            t.depth_note
        );
        let header: Vec<String> =
            ["passes", "density /cm²", "under", "under bound", "over", "coverage", "CV", "time s"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let rows: Vec<Vec<String>> = t
            .tried
            .iter()
            .map(|p| {
                vec![
                    p.passes.join(", "),
                    format!("{:.0} ± {:.0}", p.density_per_cm2.mean, p.density_per_cm2.half_width),
                    format!("{:.1}%", p.under.mean * 100.0),
                    format!("{:.1}%", p.under_upper * 100.0),
                    format!("{:.1}%", (p.over.mean * 100.0).max(0.0)),
                    format!("{:.1}%", p.coverage.mean * 100.0),
                    format!("{:.3}", p.cv.mean),
                    format!("{:.1}", p.time_s.mean),
                ]
            })
            .collect();
        md += &md_table(&header, &rows);
    }
    let text = std::fs::read_to_string(scene_path)
        .map_err(|e| bad_input(anyhow::anyhow!("cannot read {}: {e}", scene_path.display())))?;
    let scene_dir = scene_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let absolute = |p: &str| {
        if p.starts_with("builtin:") {
            return p.to_string();
        }
        let (file, group) = p.split_once('#').map_or((p, None), |(f, g)| (f, Some(g)));
        let full = std::fs::canonicalize(scene_dir.join(file)).unwrap_or_else(|_| scene_dir.join(file));
        format!("{}{}", full.display(), group.map_or(String::new(), |g| format!("#{g}")))
    };
    let body = tuned_scene_text(&text, &tunes, a.target.is_some(), &absolute).map_err(|e| anyhow::anyhow!(e))?;
    let header = format!(
        "# Written by `needlemap tune {}`: the recommended passes per zone (see tune.md).\n",
        scene_path.display()
    );
    let tuned = header + &body;
    // The written scene must load and run as any other.
    let out_scene = a.out.join("tuned.toml");
    Scene::from_toml_str_with(&tuned, &out_scene.display().to_string(), &|name| super::read_beside(&out_scene, name))
        .map_err(|e| anyhow::anyhow!("the tuned scene does not validate (a bug): {e}"))?;
    let json = serde_json::json!({ "scene": scene.name, "settings": cfg, "zones": tunes.iter().map(|(_, t)| t).collect::<Vec<_>>() });
    output::write_all(
        &a.out,
        &[
            ("tuned.toml", tuned.into_bytes()),
            ("tune.md", md.into_bytes()),
            ("tune.json", serde_json::to_string_pretty(&json).map_err(anyhow::Error::from)?.into_bytes()),
        ],
    )?;
    for (_, t) in &tunes {
        println!("{}", t.sentence(c));
    }
    println!("wrote tuned.toml, tune.md, tune.json to {}", a.out.display());
    if stop.load(Ordering::SeqCst) {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!("stopped by Ctrl-C: the zones tuned so far are written"),
        });
    }
    Ok(())
}
