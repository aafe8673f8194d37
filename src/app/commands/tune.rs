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
    /// Lane spacings searched, mm, comma-separated, each 0.01 to 200
    /// [default: the scene's, and 3/4, 1/2 and 3/8 of it].
    #[arg(long, value_delimiter = ',', value_name = "MM,MM,...", value_parser = parse_spacing)]
    pub spacings: Vec<f64>,
    /// Glide speeds searched, mm/s, comma-separated, each 0.1 to 1000
    /// [default: 3/4, 1, 5/4 and 3/2 of the scene's].
    #[arg(long, value_delimiter = ',', value_name = "MM_S,MM_S,...", value_parser = parse_speed)]
    pub speeds: Vec<f64>,
    /// Output folder.
    #[arg(long, default_value = "out/tune")]
    pub out: PathBuf,
}

/// A number in `lo..=hi` (the range a scene accepts, so a tuned scene
/// always validates).
fn parse_in(s: &str, lo: f64, hi: f64, unit: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (lo..=hi).contains(&x) => Ok(x),
        _ => Err(format!("`{s}` is not accepted: give numbers from {lo} to {hi} {unit}, comma-separated")),
    }
}

fn parse_spacing(s: &str) -> Result<f64, String> {
    parse_in(s, 0.01, 200.0, "mm")
}

fn parse_speed(s: &str) -> Result<f64, String> {
    parse_in(s, 0.1, 1000.0, "mm/s")
}

/// A figure for people: at most three decimals (0.75 x 3.3 mm reads 2.475,
/// not 2.4749999999999996).
fn short(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A zone name on one line (it goes into TOML comments and the sheet).
fn one_line_name(name: &str) -> String {
    name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// `needlemap tune`: per zone, the fewest passes that reach the band.
fn tune(scene_path: &Path, a: &TuneArgs) -> Result<(), Failure> {
    use crate::core::study::tune::{SPACING_SHARES, SPEED_SHARES, TuneSettings, tune_zone, tuned_scene_text};
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
        lane_spacings_mm: (!a.spacings.is_empty()).then(|| a.spacings.clone()),
        speeds_mm_s: (!a.speeds.is_empty()).then(|| a.speeds.clone()),
    };
    let stop = stop_flag();
    let bar = progress(0, "tune");
    let mut tunes = Vec::new();
    for &z in &zones {
        bar.set_message(format!("tune {}", scene.zones[z].name));
        // At least one plan per spacing and speed; the bar grows by the
        // runs of the plans tried beyond that once the zone is done.
        let combos = (if a.spacings.is_empty() { SPACING_SHARES.len() } else { a.spacings.len() })
            * (if a.speeds.is_empty() { SPEED_SHARES.len() } else { a.speeds.len() });
        bar.inc_length(combos as u64 * a.seeds as u64);
        let t = tune_zone(&scene, z, &cfg, &|| bar.inc(1), stop).map_err(bad_input)?;
        let plans: usize = t.searched.iter().map(|s| s.tried.len()).sum();
        bar.inc_length(plans.saturating_sub(combos) as u64 * a.seeds as u64);
        tunes.push((z, t));
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    bar.finish_and_clear();
    let c = a.confidence;
    // The explanation: per zone, every plan tried and why the search ended.
    let mut md = format!(
        "# Tuned passes for `{}`\n\nFor each zone, at each lane spacing and glide speed searched, plans of 1, 2, ... \
         passes (directions in the order shown) ran on {} seeds ({}..{}). A plan qualifies when the {:.0}% upper bound \
         of its mean share of area under the band is at most {:.0}% and its mean share over the band at most \
         {:.0}%{}{}. Of the plans that qualify, the one of least treatment time is recommended. The depth is the \
         scene's, never changed (a warning says when it is outside the zone's range).\n\n**Under and over are \
         measured per analysis cell.** {}\n",
        scene.name,
        a.seeds,
        first,
        first + a.seeds as u64 - 1,
        c * 100.0,
        a.max_under * 100.0,
        a.max_over * 100.0,
        a.max_time.map_or(String::new(), |t| format!(", its time at most {t} s")),
        a.max_overlap.map_or(String::new(), |o| format!(", its overlap at most {:.0}%", o * 100.0)),
        cell_note(scene.analysis.cell_mm),
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
        let header = ["passes", "density /cm²", "under", "under bound", "over", "coverage", "CV", "time s"];
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
        // Every spacing and speed searched.
        let header =
            ["lanes mm", "glide mm/s", "passes", "time s", "density /cm²", "under bound", "over", "or why not"];
        let rows: Vec<Vec<String>> = t
            .searched
            .iter()
            .map(|s| {
                let last = s.qualifies.map(|i| &s.tried[i]).or(s.tried.last());
                vec![
                    format!("{}", short(s.lane_spacing_mm)),
                    format!("{}", short(s.speed_mm_s)),
                    s.qualifies.map_or("none".into(), |i| format!("{}", i + 1)),
                    last.map_or("-".into(), |p| format!("{:.1}", p.time_s.mean)),
                    last.map_or("-".into(), |p| format!("{:.0}", p.density_per_cm2.mean)),
                    last.map_or("-".into(), |p| percent(p.under_upper, 1)),
                    last.map_or("-".into(), |p| percent(p.over.mean.max(0.0), 1)),
                    if s.qualifies.is_some() { "qualifies".into() } else { s.reason.clone().unwrap_or_default() },
                ]
            })
            .collect();
        md += "\nEvery lane spacing and glide speed searched (the figures of the plan that qualifies, else of the \
               last tried):\n\n";
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
    let json = serde_json::json!({ "scene": scene.name, "settings": cfg, "zones": tunes.iter().map(|(_, t)| t).collect::<Vec<_>>() });
    let mut files = vec![
        ("tune.md", md.into_bytes()),
        ("tune.json", serde_json::to_string_pretty(&json).map_err(anyhow::Error::from)?.into_bytes()),
    ];
    let any = tunes.iter().any(|(_, t)| t.plan().is_some());
    if any {
        let body = tuned_scene_text(&text, &tunes, a.target.is_some(), &absolute)?;
        // Say of each zone whether its passes are tuned or kept (never a
        // kept pass called recommended).
        let mut header = format!("# Written by `needlemap tune {}` (see tune.md).\n", scene_path.display());
        for (_, t) in &tunes {
            header += &match t.plan() {
                Some(p) => format!(
                    "# {}: tuned: {} pass{} at {} mm lanes, {} mm/s\n",
                    one_line_name(&t.zone),
                    p.passes.len(),
                    if p.passes.len() == 1 { "" } else { "es" },
                    short(t.lane_spacing_mm),
                    short(t.speed_mm_s)
                ),
                None => format!(
                    "# {}: its passes kept as they were: no plan searched reaches the band\n",
                    one_line_name(&t.zone)
                ),
            };
        }
        let tuned = header + &body;
        // The written scene must load and run as any other.
        let out_scene = a.out.join("tuned.toml");
        Scene::from_toml_str_with(&tuned, &out_scene.display().to_string(), &|name| {
            crate::app::read_beside(&crate::app::input::Files::disk(), &out_scene, name)
        })
        .map_err(|e| anyhow::anyhow!("the tuned scene does not validate (a bug): {e}"))?;
        files.insert(0, ("tuned.toml", tuned.into_bytes()));
        files.push(("sheet.html", treatment_sheet(&scene, &tunes, c).into_bytes()));
    }
    output::write_all(&a.out, &files)?;
    for (_, t) in &tunes {
        if let Some(w) = &t.depth_warning {
            println!("warning: {w}");
        }
        println!("{}", t.sentence(c));
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    if !any {
        println!("no zone's plan reaches its band: no tuned.toml or treatment sheet written (tune.md says why)");
    }
    println!("wrote {} to {}", names.join(", "), a.out.display());
    if stop.load(Ordering::SeqCst) {
        return Err(Failure {
            code: 130,
            error: anyhow::anyhow!("stopped by Ctrl-C: the zones tuned so far are written"),
        });
    }
    Ok(())
}

/// How the analysis cell size decides under and over, in words.
fn cell_note(cell_mm: f64) -> String {
    let step = crate::core::report::density_step_per_cm2(cell_mm);
    format!(
        "Each analysis cell ({cell_mm} mm square: the scene's `analysis.cell_mm`) has its density, its punctures over \
         its true area, and under / over is the share of the zone's area in cells below / above the band. One \
         puncture moves a cell by {step:.0} /cm², so the cell size decides how uneven the same treatment reads: \
         larger cells average more punctures and fewer fall out of the band; smaller cells read more of the zone \
         under and over. Compare plans at one cell size."
    )
}

/// The printable treatment sheet: one page per tuned zone, with its passes,
/// directions, glide speed, lane spacing, depth and the expected figures.
fn treatment_sheet(scene: &Scene, tunes: &[(usize, crate::core::study::tune::ZoneTune)], confidence: f64) -> String {
    let esc = crate::app::commands::report::esc;
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Treatment sheet: {}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         section {{ page-break-after: always; break-after: page; }}\n\
         section:last-child {{ page-break-after: auto; break-after: auto; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }}\n\
         td, th {{ border: 1px solid #999; padding: 0.35em 0.8em; text-align: left; }}\n\
         th {{ background: #eee; }}\n\
         .warn {{ color: #a00; font-weight: bold; }}\n\
         .note {{ color: #555; font-size: 0.9em; }}\n\
         </style></head><body>\n",
        esc(&scene.name)
    );
    for (zi, t) in tunes {
        let zone = &scene.zones[*zi];
        html += &format!("<section>\n<h1>{}: {}</h1>\n", esc(&scene.name), esc(&t.zone));
        let Some(plan) = t.plan() else {
            html += &format!(
                "<p class=\"warn\">No plan searched reaches {:.0}–{:.0} /cm²: keep the scene's passes and see tune.md.</p>\n<p>{}</p>\n</section>\n",
                t.target_per_cm2[0],
                t.target_per_cm2[1],
                esc(&t.sentence(confidence))
            );
            continue;
        };
        if let Some(w) = &t.depth_warning {
            html += &format!("<p class=\"warn\">{}</p>\n", esc(w));
        }
        html += "<table>\n";
        for (k, v) in [
            ("passes", format!("{} ({})", plan.passes.len(), plan.passes.join(" → "))),
            ("glide speed", format!("{} mm/s ({} cm/s)", short(t.speed_mm_s), short(t.speed_mm_s / 10.0))),
            ("lane spacing", format!("{} mm", short(t.lane_spacing_mm))),
            ("needle depth", format!("{} mm ({})", t.depth_mm, t.depth_note)),
            ("skin", zone.skin.name().to_string()),
            ("target", format!("{:.0}–{:.0} punctures/cm²", t.target_per_cm2[0], t.target_per_cm2[1])),
            (
                "expected density",
                format!(
                    "{:.0} ± {:.0} punctures/cm² (mean over seeds)",
                    plan.density_per_cm2.mean, plan.density_per_cm2.half_width
                ),
            ),
            ("expected coverage", format!("{:.1} % of the zone touched by a needle", plan.coverage.mean * 100.0)),
            (
                "under / over the band",
                format!("{:.1} % / {:.1} % of the area", plan.under.mean * 100.0, plan.over.mean.max(0.0) * 100.0),
            ),
            ("treatment time", format!("{:.0} s ({:.1} min)", plan.time_s.mean, plan.time_s.mean / 60.0)),
        ] {
            html += &format!("<tr><th>{}</th><td>{}</td></tr>\n", esc(k), esc(&v));
        }
        html += "</table>\n<ol>\n";
        for (i, p) in plan.passes.iter().enumerate() {
            html += &format!(
                "<li>Pass {}: {} lanes, {} mm apart, gliding at {} mm/s, {} mm deep</li>\n",
                i + 1,
                esc(p),
                short(t.lane_spacing_mm),
                short(t.speed_mm_s),
                t.depth_mm
            );
        }
        html += &format!(
            "</ol>\n<p class=\"note\">Expected figures: {} seeds of the simulated hand; under and over per analysis cell \
             ({} mm). Written by needlemap tune.</p>\n</section>\n",
            plan.time_s.n, scene.analysis.cell_mm
        );
    }
    html + "</body></html>\n"
}
