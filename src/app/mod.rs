//! The command-line application: arguments -> validated scene -> library
//! call -> files and a summary. Thin on purpose: every figure comes from
//! `crate::core`.

pub mod args;
pub mod charts;
pub mod commands;
pub mod input;
pub mod output;
#[cfg(feature = "gpu")]
pub mod pictures;
pub mod plot;
pub mod punctures;
pub mod study;
pub mod trainer;
#[cfg(feature = "gpu")]
pub mod window;

use crate::core::error::ResolveError;
use crate::core::input::scene::Scene;
use clap::{Parser, Subcommand};
use std::path::Path;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "needlemap",
    version,
    about = "Simulates microneedling treatment coverage: where every needle enters the skin, and the density, overlap and coverage that follow"
)]
/// The command line: `needlemap COMMAND [ARGS]`.
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `needlemap`, each with its arguments.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scene: print a per-zone summary and write report.json, zones.csv and PNG maps.
    Simulate(commands::simulate::Args),
    /// Validate a scene (or a strategies file) without running it.
    Check(commands::check::Args),
    /// Compare strategies on the same zone(s) and seeds: every metric as a
    /// mean with a confidence interval, ranked by an objective; writes
    /// compare.md, compare.csv, compare.json, compare.png, compare-time.png.
    Compare(commands::compare::Args),
    /// The figures after each pass of a scene's plan (coverage, density, CV,
    /// under / over), over seeds: the marginal gain of one more pass.
    Passes(commands::passes::Args),
    /// Per zone, the fewest passes (and their direction order) that reach the
    /// target band with the asked confidence; writes the plan as a new scene
    /// (tuned.toml) with an explanation (tune.md, tune.json).
    Tune(commands::tune::Args),
    /// Score a treatment against a reference plan: a trajectory file (CSV:
    /// time_s, zone, u_mm, v_mm[, pressure]) on the reference's zones, or a
    /// scene. Prints each criterion as a figure and a 0-100 score against its
    /// acceptable range, and feedback; writes score.json, score.md, the maps
    /// of both, difference.png and progress.png.
    Score(commands::score::Args),
    /// Write a scene's plan as a trajectory file (the path a hand following
    /// the plan exactly takes), e.g. to replay, edit or score it.
    Trace(commands::trace::Args),
    /// Write one self-contained HTML page (pictures embedded) of a run folder:
    /// the output of `score` (scores, feedback, maps, curves) or `simulate`.
    Report(commands::report::Args),
    /// List the cartridge presets.
    Presets,
    /// Render a scene's zones on the GPU (headless) into a PNG: the skin, lit,
    /// with the density, target-band or hit-count layer and its legend; with
    /// --at-time, also the pass paths and the cartridge where it then was.
    #[cfg(feature = "gpu")]
    Render(commands::render::Args),
    /// Open the live window: the treatment plays back on the skin, the
    /// heatmap growing (keys: `needlemap view --help`).
    #[cfg(feature = "gpu")]
    #[command(after_help = window::SHORTCUTS)]
    View(commands::view::Args),
    /// List the built-in anatomy zones with their area and depth range.
    Zones(commands::zones::Args),
    /// Draw each zone's chart (mm grid, outline, holes, avoid regions, and
    /// on mesh zones the chart's area stretch) into a PNG, to pick
    /// coordinates from.
    Chart(commands::chart::Args),
}

/// An error with the exit code it deserves: 2 for bad input, 1 for failures.
pub struct Failure {
    /// Exit code: 2 for bad input, 1 for other failures (130 when stopped before anything was written).
    pub code: u8,
    /// What went wrong, printed as `error: ...`.
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    /// Exit 1, or 2 where an output would replace one of the inputs (a usage error).
    fn from(e: E) -> Self {
        let error = e.into();
        let code = if error.downcast_ref::<output::OverwritesInput>().is_some() { 2 } else { 1 };
        Failure { code, error }
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
    crate::core::timing::set_stage_hook(study::stage_spinner);
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

pub use input::MAX_MESH_FILE_BYTES;

/// Reads a file named in a scene, relative to the scene's folder.
pub(crate) fn read_beside(files: &input::Files, scene: &Path, name: &str) -> Result<Vec<u8>, ResolveError> {
    let path = scene.parent().unwrap_or(Path::new(".")).join(name);
    let shown = path.display().to_string();
    // A regular file's size says early what reading would find.
    if files.reads_disk()
        && let Ok(meta) = std::fs::metadata(&path)
        && meta.is_file()
        && meta.len() > MAX_MESH_FILE_BYTES
    {
        return Err(ResolveError::TooLarge {
            path: shown,
            mib: meta.len() as f64 / (1 << 20) as f64,
            limit_mib: MAX_MESH_FILE_BYTES >> 20,
        });
    }
    files.read_bytes(&path, MAX_MESH_FILE_BYTES).map_err(|e| match e {
        input::ReadError::Io { error, .. } => ResolveError::Unreadable { path: shown, reason: error.to_string() },
        other => ResolveError::Unreadable { path: shown, reason: other.to_string() },
    })
}

/// Reads and validates a scene file (and the mesh files it names).
pub fn load_scene(path: &Path) -> Result<Scene, Failure> {
    load_scene_from(&input::Files::disk(), path)
}

/// Reads and validates a scene file (and the mesh files it names) from `files`.
pub fn load_scene_from(files: &input::Files, path: &Path) -> Result<Scene, Failure> {
    let text = files.read_text(path, input::MAX_TEXT_FILE_BYTES).map_err(|e| match e {
        input::ReadError::Io { error, .. } => {
            bad_input(anyhow::anyhow!("cannot read scene {}: {error}", path.display()))
        }
        other => bad_input(other),
    })?;
    Scene::from_toml_str_with(&text, &path.display().to_string(), &|name| read_beside(files, path, name))
        .map_err(bad_input)
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Simulate(a) => commands::simulate::run(a),
        Command::Check(a) => commands::check::run(a),
        Command::Compare(a) => commands::compare::run(a),
        Command::Passes(a) => commands::passes::run(a),
        Command::Tune(a) => commands::tune::run(a),
        Command::Score(a) => commands::score::run(a),
        Command::Trace(a) => commands::trace::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::Presets => commands::presets::run(),
        #[cfg(feature = "gpu")]
        Command::Render(a) => commands::render::run(a),
        #[cfg(feature = "gpu")]
        Command::View(a) => commands::view::run(a),
        Command::Zones(a) => commands::zones::run(a),
        Command::Chart(a) => commands::chart::run(a),
    }
}
