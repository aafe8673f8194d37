//! The command-line application: arguments -> validated scene -> library
//! call -> files and a summary. Thin on purpose: every figure comes from
//! `crate::core`.

pub mod charts;
pub mod compare;
pub mod output;
pub mod plot;
pub mod trainer;
#[cfg(feature = "gpu")]
pub mod view;

use crate::core::input::{cartridge, scene::Scene};
use crate::core::{self, RunOptions};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "needlemap",
    version,
    about = "Simulates microneedling treatment coverage: where every needle enters the skin, and the density, overlap and coverage that follow"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scene: print a per-zone summary and write report.json, zones.csv and PNG maps.
    Simulate {
        /// Scene file (TOML).
        scene: PathBuf,
        /// Output folder [default: out/<scene name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed for hand jitter and random stamping (overrides the scene's).
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads [default: all cores].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
        /// Print the time spent in each stage and punctures per second.
        #[arg(long)]
        stats: bool,
        /// Refuse scenes estimated to need more memory than this, MiB.
        #[arg(long, default_value_t = core::engine::plan::DEFAULT_MAX_MEMORY_BYTES >> 20)]
        max_memory_mb: u64,
        /// Also render 3D views on the GPU (render-front.png, render-left.png,
        /// render-right.png); skipped with a warning when no adapter exists.
        #[arg(long)]
        render: bool,
    },
    /// Validate a scene (or a strategies file) without running it.
    Check {
        scene: PathBuf,
        #[arg(long, default_value_t = core::engine::plan::DEFAULT_MAX_MEMORY_BYTES >> 20)]
        max_memory_mb: u64,
    },
    /// Compare strategies on the same zone(s) and seeds: every metric as a
    /// mean with a confidence interval, ranked by an objective; writes
    /// compare.md, compare.csv, compare.json, compare.png, compare-time.png.
    Compare {
        /// One strategies file (a `base` scene and [[strategy]] variations),
        /// or several scene files (one strategy each).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Monte-Carlo seeds per strategy [default: the file's, else 20].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        seeds: Option<u32>,
        /// The first seed [default: the file's, else the (base) scene's].
        #[arg(long)]
        first_seed: Option<u64>,
        /// Compare only these zones (repeat for several).
        #[arg(long)]
        zone: Vec<String>,
        /// What ranks strategies.
        #[arg(long, value_enum, default_value_t = ObjectiveArg::Time)]
        objective: ObjectiveArg,
        /// Bound on the share of area under the target band (0 to 1), met
        /// with the --confidence.
        #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
        max_under: f64,
        /// Confidence of intervals and bounds (0.5 to 0.999).
        #[arg(long, default_value_t = 0.95, value_parser = parse_confidence)]
        confidence: f64,
        /// Output folder.
        #[arg(long, default_value = "out/compare")]
        out: PathBuf,
        /// Worker threads [default: all cores].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
    },
    /// The figures after each pass of a scene's plan (coverage, density, CV,
    /// under / over), over seeds: the marginal gain of one more pass.
    Passes {
        scene: PathBuf,
        /// Monte-Carlo seeds.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        seeds: u32,
        /// The first seed [default: the scene's].
        #[arg(long)]
        first_seed: Option<u64>,
        /// Confidence of the intervals (0.5 to 0.999).
        #[arg(long, default_value_t = 0.95, value_parser = parse_confidence)]
        confidence: f64,
        /// Output folder.
        #[arg(long, default_value = "out/passes")]
        out: PathBuf,
        /// Worker threads [default: all cores].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
    },
    /// Per zone, the fewest passes (and their direction order) that reach the
    /// target band with the asked confidence; writes the plan as a new scene
    /// (tuned.toml) with an explanation (tune.md, tune.json).
    Tune {
        scene: PathBuf,
        #[command(flatten)]
        options: compare::TuneArgs,
        /// Worker threads [default: all cores].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
    },
    /// Score a treatment against a reference plan: a trajectory file (CSV:
    /// time_s, zone, u_mm, v_mm[, pressure]) on the reference's zones, or a
    /// scene. Prints each criterion as a figure and a 0-100 score against its
    /// acceptable range, and feedback; writes score.json, score.md, the maps
    /// of both, difference.png and progress.png.
    Score {
        /// The trainee's trace (.csv) or scene (.toml).
        input: PathBuf,
        /// The reference scene (its plan, zones and target bands).
        #[arg(long)]
        reference: PathBuf,
        /// Output folder [default: out/score-<trainee>].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a scene's plan as a trajectory file (the path a hand following
    /// the plan exactly takes), e.g. to replay, edit or score it.
    Trace {
        scene: PathBuf,
        /// The trajectory file to write (CSV).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write one self-contained HTML page (pictures embedded) of a run folder:
    /// the output of `score` (scores, feedback, maps, curves) or `simulate`.
    Report {
        /// The folder `score` or `simulate` wrote.
        run_dir: PathBuf,
        /// The page to write [default: RUN_DIR/report.html].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the cartridge presets.
    Presets,
    /// Render a scene's zones on the GPU (headless) into a PNG: the skin, lit,
    /// with the density, target-band or hit-count layer and its legend; with
    /// --at-time, also the pass paths and the cartridge where it then was.
    #[cfg(feature = "gpu")]
    Render {
        /// The PNG to write.
        #[arg(long)]
        out: PathBuf,
        /// Show the treatment as it stood at this time, s.
        #[arg(long)]
        at_time: Option<f64>,
        #[command(flatten)]
        picture: PictureArgs,
    },
    /// Open the live window: the treatment plays back on the skin, the
    /// heatmap growing (keys: `needlemap view --help`).
    #[cfg(feature = "gpu")]
    #[command(after_help = view::SHORTCUTS)]
    View {
        /// Treatment seconds per real second.
        #[arg(long, default_value_t = 100.0)]
        speed: f64,
        /// Close after this many frames and print the frame times.
        #[arg(long)]
        frames: Option<u64>,
        /// Save the last frame as PNG (at --frames, or when the window closes).
        #[arg(long)]
        screenshot: Option<PathBuf>,
        /// Advance the treatment by this many seconds a frame, not by the
        /// clock (reproducible playback).
        #[arg(long)]
        step_s: Option<f64>,
        /// Start with the panel hidden (Tab shows it).
        #[arg(long)]
        no_panel: bool,
        /// Play a trajectory file (CSV) on the scene's zones instead of its passes.
        #[arg(long, value_name = "TRACE.csv")]
        replay: Option<PathBuf>,
        /// Trace mode: draw passes on the skin with the mouse (or a pen or
        /// touch screen); the cartridge stamps at its rate along the pointer at
        /// its real speed. The trace is written here (CSV) after each stroke
        /// and on closing.
        #[arg(long, value_name = "TRACE.csv", conflicts_with_all = ["replay", "other"])]
        trace_out: Option<PathBuf>,
        /// Show OTHER beside SCENE in two synchronised panes, played together
        /// on one colour scale: `view --compare REFERENCE.toml TRAINEE.csv`.
        #[arg(long, requires = "other")]
        compare: bool,
        #[command(flatten)]
        picture: PictureArgs,
        /// With --compare: the second treatment, a scene or a trajectory file
        /// (CSV, on SCENE's zones).
        #[arg(requires = "compare")]
        other: Option<PathBuf>,
    },
    /// List the built-in anatomy zones with their area and depth range.
    Zones {
        /// Mesh resolution, mm between vertices.
        #[arg(long, default_value_t = core::geometry::anatomy::DEFAULT_RESOLUTION_MM)]
        resolution_mm: f64,
    },
}

/// What `render` and `view` share: the scene, its seed and how to show it.
#[cfg(feature = "gpu")]
#[derive(clap::Args, Debug)]
pub struct PictureArgs {
    /// Scene file (TOML).
    pub scene: PathBuf,
    /// The layer painted on the skin.
    #[arg(long, value_enum, default_value_t = LayerArg::Density)]
    pub layer: LayerArg,
    /// Where the camera looks from (left: the patient's left).
    #[arg(long, value_enum, default_value_t = ViewArg::Front)]
    pub view: ViewArg,
    /// Image or window size, WIDTHxHEIGHT pixels.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Seed for hand jitter and random stamping (overrides the scene's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The density colour scale, LO..HI punctures/cm2 (default: 0 to the
    /// densest cell, rounded up); values beyond it are clamped and striped.
    #[arg(long, value_parser = parse_range, value_name = "LO..HI")]
    pub range: Option<[f64; 2]>,
}

#[cfg(feature = "gpu")]
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LayerArg {
    Density,
    Bands,
    /// Needle-disk hits per point: 0 / 1 / 2 / 3+.
    Hits,
}

#[cfg(feature = "gpu")]
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ViewArg {
    Front,
    Left,
    Right,
}

#[cfg(feature = "gpu")]
impl PictureArgs {
    fn layer(&self) -> crate::gpu::render::Layer {
        match self.layer {
            LayerArg::Density => crate::gpu::render::Layer::Density,
            LayerArg::Bands => crate::gpu::render::Layer::Bands,
            LayerArg::Hits => crate::gpu::render::Layer::Hits,
        }
    }
    fn view(&self) -> crate::gpu::render::View {
        match self.view {
            ViewArg::Front => crate::gpu::render::View::Front,
            ViewArg::Left => crate::gpu::render::View::Left,
            ViewArg::Right => crate::gpu::render::View::Right,
        }
    }
    /// Loads the scene (with the seed) and runs it.
    fn run(&self) -> Result<core::engine::Outcome, Failure> {
        let mut s = load_scene(&self.scene)?;
        if let Some(seed) = self.seed {
            s = s.with_seed(seed);
        }
        core::engine::run(&s, &RunOptions::default()).map_err(bad_input)
    }
}

/// The 3D views of `simulate --render` (none, with a warning, without a GPU).
#[cfg(feature = "gpu")]
fn render_views(outcome: &core::engine::Outcome) -> Vec<(&'static str, Vec<u8>)> {
    use crate::gpu::render::{Layer, RenderConfig, View};
    let gpu = match crate::gpu::Gpu::headless() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("warning: 3D views skipped: {e}");
            return Vec::new();
        }
    };
    let mut files = Vec::new();
    for (name, view) in
        [("render-front.png", View::Front), ("render-left.png", View::Left), ("render-right.png", View::Right)]
    {
        let cfg = RenderConfig {
            layer: Layer::Density,
            view,
            width: 1280,
            height: 720,
            at_time_s: None,
            range_per_cm2: None,
        };
        match render_png(&gpu, outcome, &cfg) {
            Ok(png) => files.push((name, png)),
            Err(e) => eprintln!("warning: the {name} view could not be drawn: {e}"),
        }
    }
    files
}

/// A 3D view as PNG, with its colorbar or legend drawn in the top-right corner.
#[cfg(feature = "gpu")]
fn render_png(
    gpu: &crate::gpu::Gpu,
    outcome: &core::engine::Outcome,
    cfg: &crate::gpu::render::RenderConfig,
) -> anyhow::Result<Vec<u8>> {
    use crate::gpu::render::{self, Layer};
    let rgba = render::render(gpu, outcome, cfg).map_err(|e| anyhow::anyhow!(e))?;
    let mut rgb: Vec<u8> = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let layer = match cfg.layer {
        Layer::Density => plot::Layer::Density,
        Layer::Bands => plot::Layer::Bands,
        Layer::Hits => plot::Layer::Hits,
    };
    let range = cfg.range_per_cm2.unwrap_or_else(|| render::auto_range(outcome));
    plot::overlay_legend(&mut rgb, (cfg.width, cfg.height), layer, range, render::shared_target(outcome))?;
    let img = image::RgbImage::from_raw(cfg.width, cfg.height, rgb).context("frame size")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

#[cfg(not(feature = "gpu"))]
fn render_views(_: &core::engine::Outcome) -> Vec<(&'static str, Vec<u8>)> {
    eprintln!("warning: 3D views skipped: this build has no `gpu` feature");
    Vec::new()
}

/// `1280x720` -> (1280, 720), each side 16 to 8192 pixels.
fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("give WIDTHxHEIGHT, e.g. 1280x720")?;
    let side = |v: &str| v.trim().parse::<u32>().ok().filter(|n| (16..=8192).contains(n));
    match (side(w), side(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err("each side must be a whole number from 16 to 8192".into()),
    }
}

/// What ranks strategies in `compare`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ObjectiveArg {
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

impl ObjectiveArg {
    fn objective(self) -> core::study::compare::Objective {
        use core::study::compare::Objective;
        match self {
            ObjectiveArg::Time => Objective::Time,
            ObjectiveArg::Coverage => Objective::Coverage,
            ObjectiveArg::Uniformity => Objective::Uniformity,
            ObjectiveArg::Under => Objective::Under,
            ObjectiveArg::InBand => Objective::InBand,
        }
    }
}

/// A share from 0 to 1.
pub(crate) fn parse_fraction(s: &str) -> Result<f64, String> {
    s.parse::<f64>().ok().filter(|x| (0.0..=1.0).contains(x)).ok_or_else(|| "give a number from 0 to 1".into())
}

/// A confidence level from 0.5 to 0.999.
pub(crate) fn parse_confidence(s: &str) -> Result<f64, String> {
    s.parse::<f64>().ok().filter(|x| (0.5..=0.999).contains(x)).ok_or_else(|| "give a number from 0.5 to 0.999".into())
}

/// `1500..3000` -> [1500, 3000]: finite, 0 <= LO < HI.
pub fn parse_range(s: &str) -> Result<[f64; 2], String> {
    let (lo, hi) = s.split_once("..").ok_or("give LO..HI, e.g. 1500..3000")?;
    let num = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0);
    match (num(lo), num(hi)) {
        (Some(lo), Some(hi)) if lo < hi => Ok([lo, hi]),
        _ => Err("LO and HI must be numbers >= 0 with LO < HI, e.g. 1500..3000".into()),
    }
}

/// An error with the exit code it deserves: 2 for bad input, 1 for failures.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure { code: 1, error: e.into() }
    }
}

pub(crate) fn bad_input(e: impl Into<anyhow::Error>) -> Failure {
    Failure { code: 2, error: e.into() }
}

/// Starts the worker pool with `threads` workers (default: all cores).
pub(crate) fn set_threads(threads: Option<u16>) -> Result<(), Failure> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build_global()
            .map_err(|e| Failure { code: 1, error: anyhow::anyhow!("cannot start the worker threads: {e}") })?;
    }
    Ok(())
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`needlemap ... |
    // head`) would panic; the default action ends the program quietly, as
    // command-line tools do.
    // SAFETY: at the very start of main, before any other thread exists.
    unsafe {
        let _ = nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl);
    }
    // Mesa's Vulkan device-select layer connects to Wayland while listing
    // adapters and, without a session (XDG_RUNTIME_DIR unset: a server, CI,
    // Xvfb), prints a spurious "error:" line. wgpu picks the adapter itself.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() && std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: at the very start of main, before any other thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

/// Largest mesh file read, bytes: a 2-million-triangle OBJ is about 150 MB.
pub const MAX_MESH_FILE_BYTES: u64 = 256 << 20;

/// Reads a file named in a scene, relative to the scene's folder.
pub(crate) fn read_beside(scene: &Path, name: &str) -> Result<String, String> {
    let path = scene.parent().unwrap_or(Path::new(".")).join(name);
    let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_MESH_FILE_BYTES {
        return Err(format!(
            "{} is {:.0} MiB; mesh files over {} MiB are refused (decimate it or cut out the zone)",
            path.display(),
            meta.len() as f64 / (1 << 20) as f64,
            MAX_MESH_FILE_BYTES >> 20
        ));
    }
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Reads and validates a scene file (and the mesh files it names).
pub fn load_scene(path: &Path) -> Result<Scene, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input(anyhow::anyhow!("cannot read scene {}: {e}", path.display())))?;
    Scene::from_toml_str_with(&text, &path.display().to_string(), &|name| read_beside(path, name)).map_err(bad_input)
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Compare { files, seeds, first_seed, zone, objective, max_under, confidence, out, threads } => {
            set_threads(threads)?;
            let settings = compare::CompareSettings {
                seeds,
                first_seed,
                out,
                objective: objective.objective(),
                max_under,
                confidence,
            };
            compare::compare(&files, (!zone.is_empty()).then_some(&zone[..]), &settings)
        }
        Command::Tune { scene, options, threads } => {
            if let Some(t) = options.max_time.filter(|t| !(t.is_finite() && *t > 0.0)) {
                return Err(bad_input(anyhow::anyhow!("--max-time {t}: give a number of seconds > 0")));
            }
            set_threads(threads)?;
            compare::tune(&scene, &options)
        }
        Command::Passes { scene, seeds, first_seed, confidence, out, threads } => {
            set_threads(threads)?;
            compare::passes(&scene, seeds, first_seed, &out, confidence)
        }
        Command::Score { input, reference, out } => trainer::score_cmd(&input, &reference, out.as_deref()),
        Command::Trace { scene, out } => trainer::trace_cmd(&scene, &out),
        Command::Report { run_dir, out } => trainer::report_cmd(&run_dir, out.as_deref()),
        Command::Presets => {
            println!("{:<12} {:<90} source", "preset", "description");
            for p in cartridge::PRESETS {
                println!("{:<12} {:<90} {}", p.name, p.description, p.source);
            }
            Ok(())
        }
        #[cfg(feature = "gpu")]
        Command::Render { out, at_time, picture } => {
            use crate::gpu::render::RenderConfig;
            if let Some(t) = at_time.filter(|t| !t.is_finite() || *t < 0.0) {
                return Err(bad_input(anyhow::anyhow!("--at-time {t}: give a time in seconds >= 0")));
            }
            let outcome = picture.run()?;
            let gpu = crate::gpu::Gpu::headless().map_err(|e| Failure { code: 1, error: anyhow::anyhow!(e) })?;
            let size = picture.size;
            let cfg = RenderConfig {
                layer: picture.layer(),
                view: picture.view(),
                width: size.0,
                height: size.1,
                at_time_s: at_time,
                range_per_cm2: picture.range,
            };
            let t0 = Instant::now();
            let png = render_png(&gpu, &outcome, &cfg)?;
            output::write_atomic(&out, &png)?;
            println!(
                "rendered {} on {} in {:.0} ms: wrote {}",
                outcome.scene.name,
                gpu.adapter,
                t0.elapsed().as_secs_f64() * 1e3,
                out.display()
            );
            Ok(())
        }
        #[cfg(feature = "gpu")]
        Command::View {
            speed,
            frames,
            screenshot,
            step_s,
            no_panel,
            replay,
            trace_out,
            compare: _,
            picture,
            other,
        } => {
            if !(speed.is_finite() && speed > 0.0) {
                return Err(bad_input(anyhow::anyhow!(
                    "--speed {speed}: give a number > 0 (treatment seconds per second)"
                )));
            }
            if let Some(s) = step_s.filter(|s| !(s.is_finite() && *s >= 0.0)) {
                return Err(bad_input(anyhow::anyhow!("--step-s {s}: give a number of seconds >= 0")));
            }
            let mut outcome = picture.run()?;
            if let Some(path) = &replay {
                let trace = trainer::load_trace(path)?;
                let scene = core::trainer::trainee_scene(&outcome.scene, &trace).map_err(bad_input)?;
                outcome = core::engine::run(&scene, &RunOptions::default()).map_err(bad_input)?;
            }
            if trace_out.is_some() {
                // Trace mode starts from the scene's zones with no passes.
                let empty =
                    core::input::trajectory::Trace { file: "trace".into(), has_pressure: true, rows: Vec::new() };
                let scene = core::trainer::trainee_scene(&outcome.scene, &empty).map_err(bad_input)?;
                outcome = core::engine::run(&scene, &RunOptions::default()).map_err(bad_input)?;
            }
            let other = match &other {
                Some(p) => Some(
                    core::engine::run(&trainer::trainee(p, &outcome.scene)?, &RunOptions::default())
                        .map_err(bad_input)?,
                ),
                None => None,
            };
            let size = picture.size;
            let cfg = view::ViewConfig {
                width: size.0,
                height: size.1,
                speed,
                layer: picture.layer(),
                view: picture.view(),
                frames,
                screenshot: screenshot.clone(),
                step_s,
                range_per_cm2: picture.range,
                panel: !no_panel,
                trace_out: trace_out.clone(),
            };
            let report = view::run(outcome, other, cfg).map_err(|e| anyhow::anyhow!(e))?;
            if frames.is_some() {
                println!(
                    "{} frames at {}x{}: {:.1} ms a frame on average ({:.0} fps), 95th percentile {:.1} ms",
                    report.frames,
                    size.0,
                    size.1,
                    report.frame_ms_mean,
                    1e3 / report.frame_ms_mean.max(1e-9),
                    report.frame_ms_p95
                );
            }
            if let Some(p) = screenshot {
                println!("wrote {}", p.display());
            }
            if let (Some(p), true) = (trace_out, report.trace_samples > 0) {
                println!("wrote {} ({} samples)", p.display(), report.trace_samples);
            }
            Ok(())
        }
        Command::Zones { resolution_mm } => {
            let [lo, hi] = core::geometry::anatomy::RESOLUTION_RANGE_MM;
            if !(lo..=hi).contains(&resolution_mm) {
                return Err(bad_input(anyhow::anyhow!("--resolution-mm {resolution_mm}: give {lo} to {hi} mm")));
            }
            println!(
                "{:<14} {:>8} {:>9} {:>16} {:>16} {:>11}  description",
                "zone", "area cm²", "triangles", "depth thin mm", "depth thick mm", "max stretch"
            );
            for name in core::geometry::anatomy::names() {
                let z = core::geometry::anatomy::builtin(name, resolution_mm).expect("listed zone");
                let d = z.mesh.distortion();
                let range =
                    |r: [f64; 2]| if r[0] == r[1] { format!("{}", r[0]) } else { format!("{}–{}", r[0], r[1]) };
                println!(
                    "{:<14} {:>8.1} {:>9} {:>16} {:>16} {:>11.2}  {}",
                    format!("builtin:{name}").trim_start_matches("builtin:"),
                    z.mesh.area_3d_mm2() / 100.0,
                    z.mesh.triangles.len(),
                    range(z.depth.thin_mm),
                    range(z.depth.thick_mm),
                    d.area_stretch_max.max(1.0 / d.area_stretch_min),
                    z.description
                );
            }
            println!(
                "use in a scene as mesh = \"builtin:NAME\"; default target {:?} punctures/cm²",
                core::geometry::anatomy::DEFAULT_TARGET_PER_CM2
            );
            Ok(())
        }
        Command::Check { scene, max_memory_mb } => {
            let text = std::fs::read_to_string(&scene)
                .map_err(|e| bad_input(anyhow::anyhow!("cannot read {}: {e}", scene.display())))?;
            if core::study::strategy::is_strategy_file(&text) {
                let loaded = compare::load_strategies(std::slice::from_ref(&scene), None)?;
                let opts = RunOptions { max_memory_bytes: max_memory_mb << 20 };
                for s in &loaded.strategies {
                    core::engine::plan_checked(&s.scene, &opts)
                        .map_err(|e| bad_input(anyhow::anyhow!("strategy `{}`: {e}", s.name)))?;
                }
                println!(
                    "{}: ok: strategies file, {} strategies on {} zone(s)",
                    scene.display(),
                    loaded.strategies.len(),
                    loaded.strategies[0].scene.zones.len()
                );
                return Ok(());
            }
            let s = load_scene(&scene)?;
            let (plan, est) = core::engine::plan_checked(&s, &RunOptions { max_memory_bytes: max_memory_mb << 20 })
                .map_err(bad_input)?;
            println!(
                "{}: ok: scene `{}`, {} zone(s), {} passes, {} strokes, about {:.0} punctures and {:.0} MiB",
                scene.display(),
                s.name,
                s.zones.len(),
                s.zones.iter().map(|z| z.passes.len()).sum::<usize>(),
                plan.strokes.len(),
                est.punctures(),
                est.memory_bytes() / (1 << 20) as f64
            );
            Ok(())
        }
        Command::Simulate { scene, out, seed, threads, stats, max_memory_mb, render } => {
            set_threads(threads)?;
            let t0 = Instant::now();
            let mut s = load_scene(&scene)?;
            if let Some(seed) = seed {
                s = s.with_seed(seed);
            }
            let t_parse = t0.elapsed();
            let outcome =
                core::engine::run(&s, &RunOptions { max_memory_bytes: max_memory_mb << 20 }).map_err(bad_input)?;
            let t1 = Instant::now();
            let report = core::report::report_json(&outcome);
            let csv = core::report::zones_csv(&outcome.zones);
            let t_report = t1.elapsed();
            let t2 = Instant::now();
            let mut files: Vec<(&str, Vec<u8>)> =
                vec![("report.json", report.into_bytes()), ("zones.csv", csv.into_bytes())];
            for (name, layer) in [
                ("density.png", plot::Layer::Density),
                ("bands.png", plot::Layer::Bands),
                ("hits.png", plot::Layer::Hits),
            ] {
                if let Some(png) = plot::render_layer(&outcome, layer)? {
                    files.push((name, png));
                }
            }
            if outcome.zones.len() > 1 || outcome.scene.zones.iter().any(|z| z.surface.is_some()) {
                files.push(("atlas.png", plot::render_atlas(&outcome)?));
            }
            if render {
                files.extend(render_views(&outcome));
            }
            let t_png = t2.elapsed();
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
                rows.extend([("report text", t_report), ("pictures", t_png), ("write files", t_write)]);
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
    }
}
