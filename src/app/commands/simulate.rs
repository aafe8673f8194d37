//! `needlemap simulate`: runs a scene and writes report.json, zones.csv and
//! the PNG maps (and, with --render, 3D views).

#[cfg(feature = "gpu")]
use crate::app::pictures;
use crate::app::{Failure, bad_input};
use crate::app::{load_scene, output, plot, set_threads};
use crate::core::{self, RunOptions};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The arguments of `needlemap simulate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scene file (TOML).
    pub scene: PathBuf,
    /// Output folder [default: out/<scene name>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed for hand jitter and random stamping (overrides the scene's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Print the time spent in each stage and punctures per second.
    #[arg(long)]
    pub stats: bool,
    /// Refuse scenes estimated to need more memory than this, MiB.
    #[arg(long, default_value_t = core::engine::plan::DEFAULT_MAX_MEMORY_BYTES >> 20)]
    pub max_memory_mb: u64,
    /// Also render 3D views on the GPU (render-front.png, render-left.png,
    /// render-right.png); skipped with a warning when no adapter exists.
    #[arg(long)]
    pub render: bool,
    /// Also write every puncture (zone, pass, time_s, u_mm, v_mm, x/y/z mm
    /// on mesh zones, avoid) to this file in the output folder, as Parquet,
    /// NumPy .npz or CSV by its extension: punctures.parquet, .npz, .csv.
    #[arg(long, value_name = "FILE")]
    pub punctures: Option<String>,
}

/// The files `simulate` may write besides `--punctures`.
const OWN_FILES: &[&str] = &[
    "report.json",
    "zones.csv",
    "density.png",
    "bands.png",
    "hits.png",
    "atlas.png",
    "render-front.png",
    "render-left.png",
    "render-right.png",
];

/// Runs `needlemap simulate`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { scene, out, seed, threads, stats, max_memory_mb, render, punctures } = args;
    // A bad name is refused before anything runs.
    let punctures = match punctures {
        Some(name) => Some((crate::app::punctures::check_name(&name, OWN_FILES).map_err(bad_input)?, name)),
        None => None,
    };
    set_threads(threads)?;
    let t0 = Instant::now();
    let mut s = load_scene(&scene)?;
    if let Some(seed) = seed {
        s = s.with_seed(seed);
    }
    let t_parse = t0.elapsed();
    let outcome = core::engine::run(&s, &RunOptions { max_memory_bytes: max_memory_mb << 20 }).map_err(bad_input)?;
    let t1 = Instant::now();
    let report = core::report::report_json(&outcome);
    let csv = core::report::zones_csv(&outcome.zones);
    let t_report = t1.elapsed();
    let t2 = Instant::now();
    let mut files: Vec<(&str, Vec<u8>)> = vec![("report.json", report.into_bytes()), ("zones.csv", csv.into_bytes())];
    for (name, layer) in
        [("density.png", plot::Layer::Density), ("bands.png", plot::Layer::Bands), ("hits.png", plot::Layer::Hits)]
    {
        if let Some(png) = plot::render_layer(&outcome, layer)? {
            files.push((name, png));
        }
    }
    if outcome.zones.len() > 1 || outcome.scene.zones.iter().any(|z| z.surface.is_some()) {
        files.push(("atlas.png", plot::render_atlas(&outcome)?));
    }
    if render {
        #[cfg(feature = "gpu")]
        files.extend(pictures::render_views(&outcome));
        #[cfg(not(feature = "gpu"))]
        eprintln!("warning: --render skipped: this build has no GPU renderer (the `gpu` feature)");
    }
    let t_png = t2.elapsed();
    let t4 = Instant::now();
    if let Some((format, name)) = &punctures {
        let table = core::engine::punctures::puncture_table(&outcome);
        files.push((name.as_str(), crate::app::punctures::encode(&table, *format)?));
    }
    let t_punctures = t4.elapsed();
    let dir = out.unwrap_or_else(|| Path::new("out").join(&s.name));
    let t3 = Instant::now();
    output::write_all(&dir, &files)?;
    let t_write = t3.elapsed();
    print!("{}", core::report::summary_table(&outcome));
    print!("{}", core::report::notes(&outcome));
    let names: Vec<&str> = files.iter().map(|f| f.0).collect();
    println!("wrote {} to {}", names.join(", "), dir.display());
    if stats {
        let n = outcome.simulation.punctures() as f64;
        let engine = outcome.times.total();
        println!("stage times ({} threads):", rayon::current_num_threads());
        let mut rows: Vec<(&str, std::time::Duration)> = vec![("parse + validate", t_parse)];
        rows.extend(outcome.times.stages.iter().cloned());
        rows.extend([("report text", t_report), ("pictures", t_png)]);
        if punctures.is_some() {
            rows.push(("punctures file", t_punctures));
        }
        rows.push(("write files", t_write));
        for (name, d) in rows {
            let indent = if name.contains(':') { "    " } else { "  " };
            println!("{indent}{:<28} {:>9.1} ms", name, d.as_secs_f64() * 1e3);
        }
        println!(
            "  engine (plan + simulate + measure) {:>7.1} ms: {:.1} M punctures/s",
            engine.as_secs_f64() * 1e3,
            n / engine.as_secs_f64() / 1e6
        );
    }
    Ok(())
}
