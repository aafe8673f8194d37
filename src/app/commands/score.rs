//! `needlemap score`: a treatment scored against a reference plan.

use crate::app::trainer::{fig, run_scene, trainee};
use crate::app::{Failure, bad_input};
use crate::app::{charts, load_scene, output, plot};
use crate::core::Outcome;
use crate::core::format::fixed;
use crate::core::report::csv_field;
use crate::core::trainer::settings::Criteria;
use crate::core::trainer::{self as score, Progress, ScoreCard};
use serde::Serialize;
use std::path::Path;
use std::path::PathBuf;

/// The arguments of `needlemap score`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trainee's trace (.csv) or scene (.toml), or a folder of them: a
    /// class, each file one trainee named by its file.
    pub input: PathBuf,
    /// The reference scene (its plan, zones and target bands).
    #[arg(long)]
    pub reference: PathBuf,
    /// Output folder [default: out/score-<trainee>, or out/class-<folder>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The trainee's name, on the score and the lesson report (for one
    /// file; a class's trainees are named by their files).
    #[arg(long, value_name = "NAME")]
    pub trainee: Option<String>,
    /// A criteria file: each criterion's weight, accepted range and zero
    /// points (docs/guide/trainer.md#criteria-files).
    #[arg(long, value_name = "FILE")]
    pub criteria: Option<PathBuf>,
    /// Punctures in avoid regions that still score 100 [default: the
    /// criteria file's avoid_tolerance, else 0]. Judged absolutely, not
    /// against the reference.
    #[arg(long, value_name = "N")]
    pub avoid_tolerance: Option<u64>,
}

/// Runs `needlemap score`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { input, reference, out, trainee, criteria, avoid_tolerance } = args;
    let criteria_path = criteria;
    let criteria = match &criteria_path {
        Some(path) => load_criteria(path)?,
        None => Criteria::default(),
    };
    if avoid_tolerance.is_some()
        && criteria.set.get("avoid").is_some_and(|a| a.accepted.is_some() || a.zero_at.is_some())
    {
        return Err(bad_input(anyhow::anyhow!(
            "--avoid-tolerance and the criteria file's [avoid] accepted / zero_at both set the avoid criterion's range: give one"
        )));
    }
    let avoid_tolerance = avoid_tolerance.map(|n| n as f64).or(criteria.avoid_tolerance).unwrap_or(0.0);
    let settings = score::ScoreSettings { avoid_tolerance, criteria };
    if std::fs::metadata(&input).is_ok_and(|m| m.is_dir()) {
        if trainee.is_some() {
            return Err(bad_input(anyhow::anyhow!(
                "--trainee names one trainee: {} is a folder (a class), whose trainees are named by their files",
                input.display()
            )));
        }
        return class_cmd(&input, &reference, criteria_path.as_deref(), out.as_deref(), &settings);
    }
    score_cmd(&input, &reference, out.as_deref(), &settings, trainee.as_deref())
}

/// Reads a criteria file (one error naming its line and field when it is wrong).
fn load_criteria(path: &Path) -> Result<Criteria, Failure> {
    let text = crate::app::input::read_text(path, crate::app::input::MAX_TEXT_FILE_BYTES).map_err(|e| match e {
        crate::app::input::ReadError::Io { error, .. } => {
            bad_input(anyhow::anyhow!("cannot read criteria file {}: {error}", path.display()))
        }
        other => bad_input(other),
    })?;
    Criteria::from_toml_str(&text, &path.display().to_string()).map_err(bad_input)
}

/// Time steps of the progress curves.
const PROGRESS_STEPS: usize = 12;

#[derive(Serialize)]
struct ScoreFile<'a> {
    #[serde(flatten)]
    card: &'a ScoreCard,
    progress_reference: Vec<Progress>,
    progress_trainee: Vec<Progress>,
    /// Per zone, the figures after each pass of the reference plan.
    passes_reference: Vec<ZonePasses<'a>>,
}

#[derive(Serialize)]
struct ZonePasses<'a> {
    zone: &'a str,
    passes: &'a [crate::core::engine::zone::PassMetrics],
}

/// The trainee as the score names them: their name and the file, or the file.
fn who(card: &ScoreCard) -> String {
    match &card.trainee_name {
        Some(n) => format!("{n} ({})", card.trainee),
        None => card.trainee.clone(),
    }
}

/// Whether a criteria file moved any weight off 1 (the tables then show weights).
fn weighted(card: &ScoreCard) -> bool {
    card.zones.iter().flat_map(|z| &z.criteria).any(|c| c.weight != 1.0)
}

fn score_md(card: &ScoreCard) -> String {
    let mut s =
        format!("# Score of {} against {}: {:.0}/100\n\n## Feedback\n\n", who(card), card.reference, card.score);
    for f in &card.feedback {
        s += &format!("- {f}\n");
    }
    for z in &card.zones {
        let (wh, wl) = if weighted(card) { (" weight |", "---:|") } else { ("", "") };
        s += &format!(
            "\n## {}: {:.0}/100\n\n| criterion | figure | reference | accepted | score |{wh}\n|---|---:|---:|---|---:|{wl}\n",
            z.zone, z.score
        );
        for c in &z.criteria {
            let f = |v| fig(v, c.unit);
            let detail = if c.detail.is_empty() { String::new() } else { format!(" ({})", c.detail) };
            let w = if wh.is_empty() { String::new() } else { format!(" {} |", fixed(c.weight, 2)) };
            s += &format!(
                "| {} | {}{detail} | {} | {} to {} | {:.0} |{w}\n",
                c.label,
                f(Some(c.figure)),
                f(c.reference),
                f(Some(c.accepted[0])),
                f(Some(c.accepted[1])),
                c.score
            );
        }
    }
    s
}

/// The terminal table of a score card.
fn score_text(card: &ScoreCard) -> String {
    let mut s = String::new();
    let weighted = weighted(card);
    for z in &card.zones {
        s += &format!("{}: {:.0}/100\n", z.zone, z.score);
        s += &format!("  {:<46} {:>10} {:>10} {:>22} {:>6}", "criterion", "figure", "reference", "accepted", "score");
        s += if weighted { " weight\n" } else { "\n" };
        for c in &z.criteria {
            let f = |v| fig(v, c.unit);
            s += &format!(
                "  {:<46} {:>10} {:>10} {:>22} {:>6.0}",
                c.label,
                f(Some(c.figure)),
                f(c.reference),
                format!("{} to {}", f(Some(c.accepted[0])), f(Some(c.accepted[1]))),
                c.score
            );
            s += &if weighted { format!(" {:>6}\n", fixed(c.weight, 2)) } else { "\n".into() };
        }
    }
    s += &format!("score: {:.0}/100 ({} against {})\nfeedback:\n", card.score, who(card), card.reference);
    for f in &card.feedback {
        s += &format!("  - {f}\n");
    }
    s
}

/// `needlemap score`: runs both, scores, writes score.json, score.md and pictures.
fn score_cmd(
    input: &Path,
    reference: &Path,
    out: Option<&Path>,
    settings: &score::ScoreSettings,
    name: Option<&str>,
) -> Result<(), Failure> {
    // The reference is the plan done exactly (no hand jitter): one fixed treatment.
    let ref_scene = score::exact(&load_scene(reference)?);
    let trainee_scene = trainee(input, &ref_scene)?;
    let r = run_scene(&ref_scene)?;
    let t = run_scene(&trainee_scene)?;
    let mut card = score::score_with(&r, &t, settings);
    card.trainee_name = name.map(str::to_string);
    let files = score_files(&r, &t, &card)?;
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| Path::new("out").join(format!("score-{}", t.scene.name)));
    output::write_all(&dir, &files)?;
    print!("{}", score_text(&card));
    let names: Vec<&str> = files.iter().map(|f| f.0).collect();
    println!("wrote {} to {}", names.join(", "), dir.display());
    Ok(())
}

/// What `score` writes of one trainee: score.json, score.md and pictures.
fn score_files(r: &Outcome, t: &Outcome, card: &ScoreCard) -> Result<Vec<(&'static str, Vec<u8>)>, Failure> {
    let (pr, pt) = (score::progress(r, PROGRESS_STEPS), score::progress(t, PROGRESS_STEPS));
    let passes_reference = r.zones.iter().map(|z| ZonePasses { zone: &z.setup.name, passes: &z.passes }).collect();
    let json = serde_json::to_string_pretty(&ScoreFile {
        card,
        progress_reference: pr.clone(),
        progress_trainee: pt.clone(),
        passes_reference,
    })
    .map_err(|e| anyhow::anyhow!("score.json: {e}"))?;
    let mut files: Vec<(&str, Vec<u8>)> =
        vec![("score.json", json.into_bytes()), ("score.md", score_md(card).into_bytes())];
    for (name, o, layer) in [
        ("trainee-density.png", t, plot::Layer::Density),
        ("trainee-bands.png", t, plot::Layer::Bands),
        ("reference-density.png", r, plot::Layer::Density),
        ("reference-bands.png", r, plot::Layer::Bands),
    ] {
        if let Some(png) = plot::render_layer(o, layer)? {
            files.push((name, png));
        }
    }
    if let Some(png) = plot::render_difference(r, t)? {
        files.push(("difference.png", png));
    }
    let series = |name: String, p: &[Progress]| {
        (
            name,
            p.iter()
                .map(|x| (x.t_s, vec![100.0 * x.coverage_fraction, 100.0 * x.in_band_fraction, x.density_per_cm2]))
                .collect(),
        )
    };
    files.push((
        "progress.png",
        charts::over_time(
            "The treatment as it went: reference and trainee",
            &["coverage (%)", "in the target band (%)", "mean density (/cm²)"],
            &[series(format!("reference ({})", card.reference), &pr), series(format!("trainee ({})", who(card)), &pt)],
        )?,
    ));
    if let Some(png) = reference_passes_chart(r)? {
        files.push(("passes.png", png));
    }
    Ok(files)
}

/// A class: every trace (.csv) or scene (.toml) directly in `folder`, in
/// name order; links, hidden files, other files, the reference, the
/// criteria file (`not`) and criteria files are passed over.
fn class_members(folder: &Path, not: &[&Path]) -> Result<Vec<PathBuf>, Failure> {
    let entries = std::fs::read_dir(folder)
        .map_err(|e| bad_input(anyhow::anyhow!("cannot read the class folder {}: {e}", folder.display())))?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let mut members = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let plain = entry.file_type().is_ok_and(|t| t.is_file());
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let kind = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if !plain || hidden || !matches!(kind.as_deref(), Some("csv" | "toml")) || not.iter().any(|n| same(n, &path)) {
            continue;
        }
        // A criteria file kept with the class is not a trainee.
        if kind.as_deref() == Some("toml")
            && crate::app::input::read_text(&path, crate::app::input::MAX_TEXT_FILE_BYTES)
                .is_ok_and(|t| crate::core::trainer::settings::is_criteria_file(&t))
        {
            continue;
        }
        members.push(path);
    }
    members.sort();
    if members.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "{}: no trace (.csv) or scene (.toml) in it: a class folder holds one file per trainee",
            folder.display()
        )));
    }
    Ok(members)
}

/// The most trainees one class folder may hold.
pub const MAX_CLASS: usize = 1000;

/// `needlemap score FOLDER`: every trainee of a class against one
/// reference. Every file is read and checked before anything is run or
/// written; each trainee's score goes in a folder of its own (with its
/// lesson report), and the class table in class.csv and class.html.
fn class_cmd(
    folder: &Path,
    reference: &Path,
    criteria: Option<&Path>,
    out: Option<&Path>,
    settings: &score::ScoreSettings,
) -> Result<(), Failure> {
    let mut not = vec![reference];
    not.extend(criteria);
    let members = class_members(folder, &not)?;
    if members.len() > MAX_CLASS {
        return Err(bad_input(anyhow::anyhow!(
            "{}: {} trainees' files; a class holds at most {MAX_CLASS}",
            folder.display(),
            members.len()
        )));
    }
    let ref_scene = score::exact(&load_scene(reference)?);
    // Every trainee's input checked first: one bad file, nothing written.
    let scenes: Vec<_> = members.iter().map(|m| trainee(m, &ref_scene)).collect::<Result<_, _>>()?;
    for (m, scene) in members.iter().zip(&scenes) {
        crate::core::engine::plan_checked(scene, &Default::default())
            .map_err(|e| bad_input(anyhow::anyhow!("{}: {e}", m.display())))?;
    }
    let class_name = folder.file_name().map_or("class".into(), |n| n.to_string_lossy().into_owned());
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| Path::new("out").join(format!("class-{class_name}")));
    let r = run_scene(&ref_scene)?;
    let mut rows: Vec<(String, PathBuf, ScoreCard)> = Vec::new();
    let mut used: Vec<String> = Vec::new();
    let progress = crate::app::study::progress(members.len() as u64, "scoring the class");
    for (path, scene) in members.iter().zip(scenes) {
        let t = run_scene(&scene)?;
        let mut card = score::score_with(&r, &t, settings);
        let stem = path.file_stem().map_or("trainee".into(), |s| s.to_string_lossy().into_owned());
        card.trainee_name = Some(stem.clone());
        // One folder per trainee, named for the file (its extension added
        // where two files share a name).
        let mut sub = folder_name(&stem);
        if taken(&used, &sub) {
            sub = folder_name(&path.file_name().map_or(stem.clone(), |n| n.to_string_lossy().into_owned()));
        }
        let base = sub.clone();
        let mut k = 2;
        while taken(&used, &sub) {
            sub = format!("{base}-{k}");
            k += 1;
        }
        used.push(sub.clone());
        let files = score_files(&r, &t, &card)?;
        let trainee_dir = dir.join(&sub);
        output::write_all(&trainee_dir, &files)?;
        crate::app::commands::report::write_report(&trainee_dir)?;
        rows.push((sub, path.clone(), card));
        progress.inc(1);
    }
    progress.finish_and_clear();
    let zones: Vec<&str> = r.scene.zones.iter().map(|z| z.name.as_str()).collect();
    let files = vec![
        ("class.csv", class_csv(&zones, &rows).into_bytes()),
        ("class.html", class_html(&class_name, &r.scene.name, settings, &zones, &rows).into_bytes()),
    ];
    output::write_all(&dir, &files)?;
    print!("{}", class_text(&zones, &rows));
    println!(
        "wrote class.csv, class.html and one folder per trainee ({}) to {}",
        rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", "),
        dir.display()
    );
    Ok(())
}

/// Whether a trainee's folder name is taken: by another trainee (letter
/// case aside, as on case-blind file systems) or by the class's own files.
fn taken(used: &[String], name: &str) -> bool {
    let lower = name.to_lowercase();
    used.iter().any(|u| u.to_lowercase() == lower) || lower == "class.csv" || lower == "class.html"
}

/// A trainee's folder name: the file's name with anything but letters,
/// digits, `-`, `_` and `.` made `_` (never a hidden or empty name).
fn folder_name(stem: &str) -> String {
    let s: String = stem.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() { "trainee".into() } else { s }
}

/// A trainee's weakest criterion: the lowest-scoring weighed one of any zone.
fn weakest(card: &ScoreCard) -> String {
    card.zones
        .iter()
        .flat_map(|z| z.criteria.iter().filter(|c| c.weight > 0.0).map(move |c| (z, c)))
        .min_by(|a, b| a.1.score.total_cmp(&b.1.score))
        .filter(|(_, c)| c.score < 100.0)
        .map_or("none".into(), |(z, c)| format!("{}: {} ({:.0})", z.zone, c.label, c.score))
}

/// A zone's score on a card, if the trainee's treatment had the zone.
fn zone_score(card: &ScoreCard, zone: &str) -> Option<f64> {
    card.zones.iter().find(|z| z.zone == zone).map(|z| z.score)
}

/// class.csv: one row per trainee (name, file, score, each zone's score,
/// weakest criterion), in file order.
fn class_csv(zones: &[&str], rows: &[(String, PathBuf, ScoreCard)]) -> String {
    let mut s = String::from("trainee,file,score");
    for z in zones {
        s += &format!(",{}", csv_field(&format!("score_{z}")));
    }
    s += ",weakest\n";
    for (_, path, card) in rows {
        s += &format!(
            "{},{},{}",
            csv_field(&inert(card.trainee_name.as_deref().unwrap_or(""))),
            csv_field(&inert(&path.file_name().unwrap_or_default().to_string_lossy())),
            fixed(card.score, 1)
        );
        for z in zones {
            s += &format!(",{}", zone_score(card, z).map_or(String::new(), |v| fixed(v, 1)));
        }
        s += &format!(",{}\n", csv_field(&weakest(card)));
    }
    s
}

/// A name a spreadsheet will not run as a formula (one starting with `=`,
/// `+`, `-` or `@` gets a leading apostrophe).
fn inert(name: &str) -> String {
    if name.starts_with(['=', '+', '-', '@']) { format!("'{name}") } else { name.to_string() }
}

/// The class table on the terminal.
fn class_text(zones: &[&str], rows: &[(String, PathBuf, ScoreCard)]) -> String {
    let mut s = format!("{:<24} {:>6}", "trainee", "score");
    for z in zones {
        s += &format!(" {:>12}", z);
    }
    s += "  weakest\n";
    for (_, _, card) in rows {
        s += &format!("{:<24} {:>6.0}", card.trainee_name.as_deref().unwrap_or(""), card.score);
        for z in zones {
            s += &format!(" {:>12}", zone_score(card, z).map_or("–".into(), |v| format!("{v:.0}")));
        }
        s += &format!("  {}\n", weakest(card));
    }
    let scores: Vec<f64> = rows.iter().map(|r| r.2.score).collect();
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    s += &format!(
        "class: {} trainees, mean {mean:.0}, lowest {:.0}, highest {:.0}\n",
        rows.len(),
        scores.iter().copied().fold(f64::INFINITY, f64::min),
        scores.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    );
    s
}

/// class.html: the class table, each trainee linked to their lesson report.
fn class_html(
    class: &str,
    reference: &str,
    settings: &score::ScoreSettings,
    zones: &[&str],
    rows: &[(String, PathBuf, ScoreCard)],
) -> String {
    use crate::app::commands::report::{STYLE, esc};
    let title = format!("Class {class}: scored against {reference}");
    let mut h = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>",
        esc(&title),
        esc(&title)
    );
    let custom = if settings.criteria.set.is_empty() { "the built-in criteria" } else { "a criteria file" };
    h += &format!(
        "<p>{} trainees; {custom}; punctures in avoid regions tolerated: {}. Each name opens that trainee's lesson report.</p>",
        rows.len(),
        settings.avoid_tolerance
    );
    h += "<table><tr><th>trainee</th><th>score</th><th></th>";
    for z in zones {
        h += &format!("<th>{}</th>", esc(z));
    }
    h += "<th>weakest criterion</th></tr>";
    for (sub, _, card) in rows {
        let low = |v: f64| if v < 50.0 { " class=\"low\"" } else { "" };
        h += &format!(
            "<tr><td><a href=\"{}/report.html\">{}</a></td><td{}>{:.0}</td><td style=\"text-align:left\"><span class=\"bar\" style=\"width:{:.0}px\"></span></td>",
            esc(sub),
            esc(card.trainee_name.as_deref().unwrap_or("")),
            low(card.score),
            card.score,
            card.score
        );
        for z in zones {
            h += &match zone_score(card, z) {
                Some(v) => format!("<td{}>{v:.0}</td>", low(v)),
                None => "<td>–</td>".into(),
            };
        }
        h += &format!("<td>{}</td></tr>", esc(&weakest(card)));
    }
    let scores: Vec<f64> = rows.iter().map(|r| r.2.score).collect();
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    h += &format!("<tr><th>class mean</th><th>{mean:.0}</th><th></th>");
    for z in zones {
        let v: Vec<f64> = rows.iter().filter_map(|r| zone_score(&r.2, z)).collect();
        h += &if v.is_empty() {
            "<th>–</th>".into()
        } else {
            format!("<th>{:.0}</th>", v.iter().sum::<f64>() / v.len() as f64)
        };
    }
    h += "<th></th></tr></table></body></html>\n";
    h
}

/// The reference plan's coverage and density after each pass, two panels per
/// zone (one run: the plan done exactly, so no intervals). `None` without passes.
fn reference_passes_chart(r: &Outcome) -> anyhow::Result<Option<Vec<u8>>> {
    let most = r.zones.iter().map(|z| z.passes.len()).max().unwrap_or(0);
    if most == 0 {
        return Ok(None);
    }
    let one = |x: f64| crate::core::study::stats::Estimate::of(&[x], 0.95);
    // Per zone: coverage (%) and density (/cm²) after each pass.
    let values: Vec<[Vec<crate::core::study::stats::Estimate>; 2]> = r
        .zones
        .iter()
        .map(|z| {
            [
                z.passes.iter().map(|p| one(100.0 * p.coverage_after)).collect(),
                z.passes.iter().map(|p| one(p.density_after_per_cm2)).collect(),
            ]
        })
        .collect();
    let panels: Vec<charts::Panel> = r
        .zones
        .iter()
        .zip(&values)
        .filter(|(z, _)| !z.passes.is_empty())
        .flat_map(|(z, [cov, dens])| {
            [
                charts::Panel { title: format!("{}: coverage (%)", z.setup.name), values: cov },
                charts::Panel { title: format!("{}: density (/cm²)", z.setup.name), values: dens },
            ]
        })
        .collect();
    let labels: Vec<String> = (1..=most).map(|k| k.to_string()).collect();
    charts::per_pass(&format!("The reference plan ({}), pass by pass", r.scene.name), &labels, &panels).map(Some)
}
