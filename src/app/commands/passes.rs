//! `needlemap passes`: the figures after each pass of a plan, over seeds.

use crate::app::args::parse_confidence;
use crate::app::set_threads;
use crate::app::study::{fmt_estimate, md_table, progress, runs_csv, stop_flag, text_table};
use crate::app::{Failure, bad_input};
use crate::app::{charts, load_scene, output};
use crate::core::study::compare;
use crate::core::study::metric::Metric;
use crate::core::study::stats::Estimate;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// The arguments of `needlemap passes`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scene file (TOML).
    pub scene: PathBuf,
    /// Monte-Carlo seeds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub seeds: u32,
    /// The first seed [default: the scene's].
    #[arg(long)]
    pub first_seed: Option<u64>,
    /// Confidence of the intervals (0.5 to 0.999).
    #[arg(long, default_value_t = 0.95, value_parser = parse_confidence)]
    pub confidence: f64,
    /// Output folder.
    #[arg(long, default_value = "out/passes")]
    pub out: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

/// Runs `needlemap passes`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { scene, seeds, first_seed, confidence, out, threads } = args;
    set_threads(threads)?;
    passes(&scene, seeds, first_seed, &out, confidence)
}

/// `needlemap passes`: the figures after each pass of one plan, over seeds.
fn passes(scene_path: &Path, seeds: u32, first_seed: Option<u64>, out: &Path, confidence: f64) -> Result<(), Failure> {
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
    let keys = [Metric::Coverage, Metric::DensityMean, Metric::Cv, Metric::Under, Metric::Over];
    let cov = Metric::Coverage;
    let mut header: Vec<String> = vec!["after pass".into()];
    header.extend(keys.iter().map(|&k| k.label().to_string()));
    header.push("coverage gained".into());
    // The rows of zone `z` (`all`: every zone together).
    let rows_of = |z: usize| -> Vec<Vec<String>> {
        (0..runs.strategies.len())
            .map(|p| {
                let mut row = vec![runs.strategies[p].trim_start_matches("after ").to_string()];
                row.extend(keys.iter().map(|&k| fmt_estimate(k, &est[p][z][k.index()])));
                // The marginal gain: paired difference from the pass before.
                let gain = if p == 0 {
                    est[p][z][cov.index()]
                } else {
                    crate::core::study::stats::paired_difference(
                        &runs.paired(p, z, cov, &common),
                        &runs.paired(p - 1, z, cov, &common),
                        confidence,
                    )
                };
                row.push(fmt_estimate(cov, &gain));
                row
            })
            .collect()
    };
    let rows = rows_of(all);
    // Each zone on its own where there are several (a zone's passes can
    // gain what another's do not).
    let zone_tables: Vec<(&str, Vec<Vec<String>>)> =
        if all > 1 { (0..all).map(|z| (runs.zones[z].as_str(), rows_of(z))).collect() } else { Vec::new() };
    let finished: Vec<u64> = common.iter().map(|&i| runs.seeds[i]).collect();
    let intro = format!(
        "{}: the figures after each pass, over {} seeds ({}..{}{}); mean ± {:.0}% interval",
        scene.name,
        common.len(),
        finished.first().copied().unwrap_or(first),
        finished.last().copied().unwrap_or(first),
        if stopped { format!(" of {} asked, stopped by Ctrl-C", seeds) } else { String::new() },
        confidence * 100.0
    );
    let mut md = format!("# Per-pass curves\n\n{intro}.\n\n## All zones\n\n{}", md_table(&header, &rows));
    for (zone, zrows) in &zone_tables {
        md += &format!("\n## {zone}\n\n{}", md_table(&header, zrows));
    }
    let values: Vec<Vec<Estimate>> =
        keys.iter().map(|&k| (0..runs.strategies.len()).map(|p| est[p][all][k.index()]).collect()).collect();
    let panels: Vec<charts::Panel> = keys
        .iter()
        .zip(&values)
        .map(|(&k, v)| charts::Panel {
            title: format!(
                "{}{}",
                k.label(),
                if k.unit().as_str().is_empty() { String::new() } else { format!(" ({})", k.unit().as_str()) }
            ),
            values: v,
        })
        .collect();
    let png = charts::per_pass(&intro, &runs.strategies, &panels)?;
    let json = serde_json::json!({
        "scene": scene.name,
        "seeds": runs.seeds,
        "seeds_finished": common.iter().map(|&i| runs.seeds[i]).collect::<Vec<_>>(),
        "stopped": stopped,
        "confidence": confidence,
        "passes": runs.strategies.iter().enumerate().map(|(p, label)| serde_json::json!({
            "after": label,
            "metrics": Metric::ALL.iter().map(|m| (m.key().to_string(), serde_json::to_value(est[p][all][m.index()]).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            "zones": runs.zones[..all].iter().enumerate().map(|(z, zone)| serde_json::json!({
                "zone": zone,
                "metrics": Metric::ALL.iter().map(|m| (m.key().to_string(), serde_json::to_value(est[p][z][m.index()]).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
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
    for (zone, zrows) in &zone_tables {
        println!("\n{zone}:");
        print!("{}", text_table(&header, zrows));
    }
    println!("\nwrote passes.md, passes.csv, passes.json, passes.png to {}", out.display());
    if stopped {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!("stopped by Ctrl-C: {} seeds finished; those are written", common.len()),
        });
    }
    Ok(())
}
