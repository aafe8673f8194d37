//! What `compare`, `passes` and `tune` share: many runs of the engine with the same seeds, summarised with confidence intervals, as a
//! terminal table, Markdown, CSV, JSON and charts. Progress bars on stderr;
//! Ctrl-C stops starting new runs and writes what finished.

use crate::app::input::Files;
use crate::app::{Failure, bad_input, load_scene_from};
use crate::core::error::SceneError;
use crate::core::format::fixed;
use crate::core::input::scene::Scene;
use crate::core::report::csv_field;
use crate::core::study::compare::{Runs, Strategy};
use crate::core::study::metric::{Metric, Unit};
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

/// The command-line tool's stage hook (`core::timing::set_stage_hook`): a
/// spinner on stderr, with what is being done and for how long, for a
/// loading stage that runs over a second (hidden when stderr is not a
/// terminal, and for shorter stages).
pub fn stage_spinner(what: Option<String>) {
    use std::sync::Mutex;
    static CURRENT: Mutex<(u64, Option<indicatif::ProgressBar>)> = Mutex::new((0, None));
    let mut current = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(bar) = current.1.take() {
        bar.finish_and_clear();
    }
    current.0 += 1;
    let Some(what) = what else { return };
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg}, {elapsed}").expect("a valid template"));
    bar.set_message(what);
    current.1 = Some(bar);
    let generation = current.0;
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let current = CURRENT.lock().unwrap_or_else(|p| p.into_inner());
        if let (true, Some(bar)) = (current.0 == generation, &current.1) {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
        }
    });
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
    /// The strategies, each with its scene.
    pub strategies: Vec<Strategy>,
    /// Seeds per strategy, if the strategies file gives them.
    pub seeds: Option<u32>,
    /// The first seed, if the strategies file gives it.
    pub first_seed: Option<u64>,
}

/// Loads the strategies of `files`: each a strategies file varying a base
/// scene (its strategies) or a scene file (one strategy), mixed freely; all
/// must be on the same zones. Names met twice are numbered.
pub fn load_strategies(files: &[PathBuf], zones: Option<&[String]>) -> Result<Loaded, Failure> {
    load_strategies_from(&crate::app::input::Files::disk(), files, zones)
}

/// [`load_strategies`], reading from `from`.
pub fn load_strategies_from(from: &Files, files: &[PathBuf], zones: Option<&[String]>) -> Result<Loaded, Failure> {
    let read = |p: &Path| from.read_text(p, crate::app::input::MAX_TEXT_FILE_BYTES).map_err(bad_input);
    let mut strategies: Vec<Strategy> = Vec::new();
    // The seeds a strategies file gives, and which file gave them.
    let mut seeds: Option<(u32, &Path)> = None;
    let mut first_seed: Option<(u64, &Path)> = None;
    let add = |strategies: &mut Vec<Strategy>, base_name: &str, scene: Scene| {
        let mut name = base_name.to_string();
        let mut k = 2;
        while strategies.iter().any(|s| s.name == name) {
            name = format!("{base_name} #{k}");
            k += 1;
        }
        strategies.push(Strategy { name, scene });
    };
    for file in files {
        let text = read(file)?;
        if !is_strategy_file(&text) {
            let mut scene = load_scene_from(from, file)?;
            if let Some(z) = zones {
                scene = crate::core::study::strategy::Variation::default()
                    .apply(&scene, Some(z))
                    .map_err(|e| bad_input(anyhow::anyhow!("{}: --zone: {e}", file.display())))?;
            }
            let name = scene.name.clone();
            add(&mut strategies, &name, scene);
            continue;
        }
        let sf = StrategySet::from_toml_str(&text, &file.display().to_string()).map_err(bad_input)?;
        // Two strategies files asking for different seeds: which is meant is unclear.
        for (mine, theirs, what) in [
            (sf.seeds.map(u64::from), seeds.map(|(n, f)| (n as u64, f)), "seeds"),
            (sf.first_seed, first_seed, "first_seed"),
        ] {
            if let (Some(a), Some((b, other))) = (mine, theirs)
                && a != b
            {
                return Err(bad_input(anyhow::anyhow!(
                    "{} gives {what} = {a} but {} gives {b}: give --{} to choose",
                    file.display(),
                    other.display(),
                    what.replace('_', "-")
                )));
            }
        }
        if let Some(n) = sf.seeds {
            seeds.get_or_insert((n, file));
        }
        if let Some(n) = sf.first_seed {
            first_seed.get_or_insert((n, file));
        }
        let base_path = file.parent().unwrap_or(Path::new(".")).join(&sf.base);
        let base = load_scene_from(from, &base_path).map_err(|f| Failure {
            code: f.code,
            error: f.error.context(format!(
                "{}:{}:{}: base: the base scene",
                file.display(),
                sf.base_at.line,
                sf.base_at.column
            )),
        })?;
        let zones = zones.map(|z| z.to_vec()).or(sf.zones.clone());
        for (i, s) in sf.strategies.iter().enumerate() {
            let scene = s.variation.apply(&base, zones.as_deref()).map_err(|e| {
                bad_input(SceneError {
                    file: file.display().to_string(),
                    at: s.at,
                    key: format!("strategy[{i}] ({})", s.name),
                    message: e.to_string(),
                })
            })?;
            add(&mut strategies, &s.name, scene);
        }
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
    Ok(Loaded { strategies, seeds: seeds.map(|s| s.0), first_seed: first_seed.map(|s| s.0) })
}

/// A metric's estimate as text, in its unit: percentages for fractions.
pub fn fmt_estimate(m: Metric, e: &Estimate) -> String {
    if e.mean.is_nan() {
        return "-".into();
    }
    let (scale, digits, unit) = match m.unit() {
        Unit::Fraction => (100.0, 1, "%"),
        Unit::PerCm2 | Unit::Count => (1.0, 0, ""),
        Unit::Seconds => (1.0, 1, " s"),
        Unit::Mm => (1.0, 0, " mm"),
        Unit::Ratio => (1.0, 3, ""),
    };
    // No "-0.0": values that round to zero print as zero.
    let num = |x: f64| fixed(x * scale, digits);
    if e.half_width.is_finite() {
        format!("{} ± {}{unit}", num(e.mean), num(e.half_width))
    } else {
        format!("{}{unit}", num(e.mean))
    }
}

/// Metrics shown in the terminal and Markdown tables (the CSV and JSON have all).
pub(crate) const TABLE_METRICS: [Metric; 7] =
    [Metric::Coverage, Metric::DensityMean, Metric::Cv, Metric::Under, Metric::Over, Metric::Overlap, Metric::Time];

/// The CSV: one row per strategy, zone and metric.
pub fn runs_csv(runs: &Runs, est: &[Vec<Vec<Estimate>>]) -> String {
    let mut s = String::from("strategy,zone,metric,unit,n,mean,sd,ci_low,ci_high\n");
    for r in table_rows(runs, est) {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{}",
            csv_field(r.strategy),
            csv_field(r.zone),
            r.metric.key(),
            r.metric.unit().as_str(),
            r.estimate.n,
            r.estimate.mean,
            r.estimate.sd,
            r.estimate.lo(),
            r.estimate.hi()
        );
    }
    s
}

/// One row of compare.csv: a metric's estimate for one strategy and zone.
pub struct TableRow<'a> {
    /// The strategy's name.
    pub strategy: &'a str,
    /// The zone's name, or "all zones".
    pub zone: &'a str,
    /// The metric.
    pub metric: Metric,
    /// Its estimate over the seeds every strategy finished.
    pub estimate: &'a Estimate,
}

/// The rows of compare.csv, in its order: by strategy, zone, then metric;
/// metrics with no sample (no target band) left out.
pub fn table_rows<'a>(runs: &'a Runs, est: &'a [Vec<Vec<Estimate>>]) -> Vec<TableRow<'a>> {
    let mut rows = Vec::new();
    for (si, name) in runs.strategies.iter().enumerate() {
        for (zi, zone) in runs.zones.iter().enumerate() {
            for m in Metric::ALL {
                let e = &est[si][zi][m.index()];
                if e.n > 0 {
                    rows.push(TableRow { strategy: name, zone, metric: m, estimate: e });
                }
            }
        }
    }
    rows
}

/// A comparison ready to run: its strategies, each checked to be runnable,
/// and its seeds.
pub struct Prepared {
    /// The strategies, in the order given.
    pub strategies: Vec<Strategy>,
    /// The seeds every strategy runs.
    pub seeds: Vec<u64>,
}

/// What `compare` does before any run, for the command line and the Python
/// package alike: loads the strategies of `files` (from `from`), picks the
/// seeds (`seeds` of them, else the file's count, else 20, from
/// `first_seed`, else the file's, else the first scene's seed) and checks
/// every strategy's cost (a scene too big fails here, before any run).
pub fn prepare_compare(
    from: &Files,
    files: &[PathBuf],
    zones: Option<&[String]>,
    seeds: Option<u32>,
    first_seed: Option<u64>,
) -> Result<Prepared, Failure> {
    let Loaded { strategies, seeds: file_seeds, first_seed: file_first } = load_strategies_from(from, files, zones)?;
    let n = seeds.or(file_seeds).unwrap_or(20) as u64;
    let first = first_seed.or(file_first).unwrap_or(strategies[0].scene.seed);
    if n == 0 {
        return Err(bad_input(anyhow::anyhow!("seeds: 0 is not accepted: give a whole number of seeds >= 1")));
    }
    let Some(end) = first.checked_add(n) else {
        return Err(bad_input(anyhow::anyhow!(
            "first_seed: {first} + {n} seeds passes the largest seed, {}: give a smaller first seed",
            u64::MAX
        )));
    };
    for s in &strategies {
        crate::core::engine::plan_checked(&s.scene, &Default::default())
            .map_err(|e| bad_input(anyhow::anyhow!("strategy `{}`: {e}", s.name)))?;
    }
    Ok(Prepared { strategies, seeds: (first..end).collect() })
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
pub fn md_table(header: &[impl AsRef<str>], rows: &[Vec<String>]) -> String {
    let names: Vec<&str> = header.iter().map(|h| h.as_ref()).collect();
    let mut s = format!("| {} |\n|{}|\n", names.join(" | "), names.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}
