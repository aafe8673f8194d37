//! `needlemap tune`: per zone, the fewest passes that reach the target band.

use crate::app::set_threads;
use crate::app::study::{md_table, progress, stop_flag};
use crate::app::{Failure, bad_input};
use crate::app::{load_scene, output};
use crate::core::format::{fixed, percent};
use crate::core::input::scene::Scene;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// The arguments of `needlemap tune`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scene file (TOML).
    pub scene: PathBuf,
    /// What the search aims for: zones, band, limits, seeds, confidence and output folder.
    #[command(flatten)]
    pub options: TuneArgs,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
}

/// Runs `needlemap tune`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { scene, options, threads } = args;
    if let Some(t) = options.max_time.filter(|t| !(t.is_finite() && *t > 0.0)) {
        return Err(bad_input(anyhow::anyhow!("--max-time {t}: give a number of seconds > 0")));
    }
    set_threads(threads)?;
    tune(&scene, &options)
}

/// What `tune` asks for (its command-line options).
#[derive(clap::Args, Debug)]
pub struct TuneArgs {
    /// Tune only these zones (repeat for several) [default: all].
    #[arg(long = "zone", value_name = "NAME")]
    pub zones: Vec<String>,
    /// The band, LO..HI punctures/cm2 [default: each zone's target].
    #[arg(long, value_parser = crate::app::args::parse_range, value_name = "LO..HI")]
    pub target: Option<[f64; 2]>,
    /// Largest share of the zone under the band (0 to 1), met with --confidence.
    #[arg(long, default_value_t = 0.1, value_parser = crate::app::args::parse_fraction)]
    pub max_under: f64,
    /// Largest mean share of the zone over the band (0 to 1).
    #[arg(long, default_value_t = 0.25, value_parser = crate::app::args::parse_fraction)]
    pub max_over: f64,
    /// Confidence of the under-band bound (0.5 to 0.999).
    #[arg(long, default_value_t = 0.95, value_parser = crate::app::args::parse_confidence)]
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
    #[arg(long, value_parser = crate::app::args::parse_fraction)]
    pub max_overlap: Option<f64>,
    /// Output folder.
    #[arg(long, default_value = "out/tune")]
    pub out: PathBuf,
}

/// `needlemap tune`: per zone, the fewest passes that reach the band.
fn tune(scene_path: &Path, a: &TuneArgs) -> Result<(), Failure> {
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
                    percent(p.under.mean, 1),
                    percent(p.under_upper, 1),
                    percent(p.over.mean.max(0.0), 1),
                    percent(p.coverage.mean, 1),
                    fixed(p.cv.mean, 3),
                    format!("{:.1}", p.time_s.mean),
                ]
            })
            .collect();
        md += &md_table(&header, &rows);
    }
    let text = crate::app::input::read_text(scene_path, crate::app::input::MAX_TEXT_FILE_BYTES).map_err(bad_input)?;
    let scene_dir = scene_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let absolute = |p: &str| {
        if p.starts_with("builtin:") {
            return p.to_string();
        }
        let (file, group) = p.split_once('#').map_or((p, None), |(f, g)| (f, Some(g)));
        let full = std::fs::canonicalize(scene_dir.join(file)).unwrap_or_else(|_| scene_dir.join(file));
        format!("{}{}", full.display(), group.map_or(String::new(), |g| format!("#{g}")))
    };
    let body = tuned_scene_text(&text, &tunes, a.target.is_some(), &absolute)?;
    let header = format!(
        "# Written by `needlemap tune {}`: the recommended passes per zone (see tune.md).\n",
        scene_path.display()
    );
    let tuned = header + &body;
    // The written scene must load and run as any other.
    let out_scene = a.out.join("tuned.toml");
    Scene::from_toml_str_with(&tuned, &out_scene.display().to_string(), &|name| {
        crate::app::read_beside(&out_scene, name)
    })
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
