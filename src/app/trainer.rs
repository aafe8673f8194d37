//! Trainer mode on the command line: `score` (a trace or a scene against a
//! reference plan), `trace` (a plan's path written as a trajectory file) and
//! `report` (one self-contained HTML page of a run folder).

use super::{Failure, bad_input, charts, load_scene, output, plot};
use crate::core::input::scene::Scene;
use crate::core::input::trajectory::Trace;
use crate::core::trainer::{self as score, Progress, ScoreCard};
use crate::core::{self, Outcome, RunOptions};
use base64::Engine;
use serde::Serialize;
use std::path::Path;

/// Time steps of the progress curves.
const PROGRESS_STEPS: usize = 12;

fn run_scene(scene: &Scene) -> Result<Outcome, Failure> {
    core::engine::run(scene, &RunOptions::default()).map_err(bad_input)
}

/// Reads a trajectory file (CSV) into a trace.
pub fn load_trace(path: &Path) -> Result<Trace, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input(anyhow::anyhow!("cannot read trajectory {}: {e}", path.display())))?;
    Trace::parse(&text, &path.display().to_string()).map_err(bad_input)
}

/// The treatment to score: a trajectory (CSV) applied to the reference's
/// zones, or a scene of its own (zones matched by name).
pub(crate) fn trainee(path: &Path, reference: &Scene) -> Result<Scene, Failure> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        let trace = load_trace(path)?;
        return score::trainee_scene(reference, &trace).map_err(bad_input);
    }
    let s = load_scene(path)?;
    if !s.zones.iter().any(|z| reference.zones.iter().any(|r| r.name == z.name)) {
        return Err(bad_input(anyhow::anyhow!(
            "{}: no zone of it is in the reference ({}): zones are matched by name",
            path.display(),
            reference.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(s)
}

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

/// A criterion's number: counts whole, the rest to three decimals; "–" when absent.
fn fig(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(v) if unit == "count" => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
        None => "–".into(),
    }
}

fn score_md(card: &ScoreCard) -> String {
    let mut s =
        format!("# Score of {} against {}: {:.0}/100\n\n## Feedback\n\n", card.trainee, card.reference, card.score);
    for f in &card.feedback {
        s += &format!("- {f}\n");
    }
    for z in &card.zones {
        s += &format!(
            "\n## {}: {:.0}/100\n\n| criterion | figure | reference | accepted | score |\n|---|---:|---:|---|---:|\n",
            z.zone, z.score
        );
        for c in &z.criteria {
            let f = |v| fig(v, c.unit);
            let detail = if c.detail.is_empty() { String::new() } else { format!(" ({})", c.detail) };
            s += &format!(
                "| {} | {}{detail} | {} | {} to {} | {:.0} |\n",
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
    for z in &card.zones {
        s += &format!("{}: {:.0}/100\n", z.zone, z.score);
        s += &format!("  {:<46} {:>10} {:>10} {:>22} {:>6}\n", "criterion", "figure", "reference", "accepted", "score");
        for c in &z.criteria {
            let f = |v| fig(v, c.unit);
            s += &format!(
                "  {:<46} {:>10} {:>10} {:>22} {:>6.0}\n",
                c.label,
                f(Some(c.figure)),
                f(c.reference),
                format!("{} to {}", f(Some(c.accepted[0])), f(Some(c.accepted[1]))),
                c.score
            );
        }
    }
    s += &format!("score: {:.0}/100 ({} against {})\nfeedback:\n", card.score, card.trainee, card.reference);
    for f in &card.feedback {
        s += &format!("  - {f}\n");
    }
    s
}

/// `needlemap score`: runs both, scores, writes score.json, score.md and pictures.
pub fn score_cmd(input: &Path, reference: &Path, out: Option<&Path>) -> Result<(), Failure> {
    // The reference is the plan done exactly (no hand jitter): one fixed treatment.
    let ref_scene = score::exact(&load_scene(reference)?);
    let trainee_scene = trainee(input, &ref_scene)?;
    let r = run_scene(&ref_scene)?;
    let t = run_scene(&trainee_scene)?;
    let card = score::score(&r, &t);
    let (pr, pt) = (score::progress(&r, PROGRESS_STEPS), score::progress(&t, PROGRESS_STEPS));
    let passes_reference = r.zones.iter().map(|z| ZonePasses { zone: &z.name, passes: &z.passes }).collect();
    let json = serde_json::to_string_pretty(&ScoreFile {
        card: &card,
        progress_reference: pr.clone(),
        progress_trainee: pt.clone(),
        passes_reference,
    })
    .map_err(|e| anyhow::anyhow!("score.json: {e}"))?;
    let mut files: Vec<(&str, Vec<u8>)> =
        vec![("score.json", json.into_bytes()), ("score.md", score_md(&card).into_bytes())];
    for (name, o, layer) in [
        ("trainee-density.png", &t, plot::Layer::Density),
        ("trainee-bands.png", &t, plot::Layer::Bands),
        ("reference-density.png", &r, plot::Layer::Density),
        ("reference-bands.png", &r, plot::Layer::Bands),
    ] {
        if let Some(png) = plot::render_layer(o, layer)? {
            files.push((name, png));
        }
    }
    if let Some(png) = plot::render_difference(&r, &t)? {
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
            &[
                series(format!("reference ({})", card.reference), &pr),
                series(format!("trainee ({})", card.trainee), &pt),
            ],
        )?,
    ));
    if let Some(png) = reference_passes_chart(&r)? {
        files.push(("passes.png", png));
    }
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| Path::new("out").join(format!("score-{}", t.scene.name)));
    output::write_all(&dir, &files)?;
    print!("{}", score_text(&card));
    let names: Vec<&str> = files.iter().map(|f| f.0).collect();
    println!("wrote {} to {}", names.join(", "), dir.display());
    Ok(())
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
                charts::Panel { title: format!("{}: coverage (%)", z.name), values: cov },
                charts::Panel { title: format!("{}: density (/cm²)", z.name), values: dens },
            ]
        })
        .collect();
    let labels: Vec<String> = (1..=most).map(|k| k.to_string()).collect();
    charts::per_pass(&format!("The reference plan ({}), pass by pass", r.scene.name), &labels, &panels).map(Some)
}

/// `needlemap trace`: the plan's path as a trajectory file.
pub fn trace_cmd(scene: &Path, out: &Path) -> Result<(), Failure> {
    let s = load_scene(scene)?;
    let o = run_scene(&score::exact(&s))?;
    let trace = score::plan_trace(&o);
    if trace.rows.is_empty() {
        return Err(bad_input(anyhow::anyhow!(
            "{}: the plan has no lane passes to trace (random stamping has no path)",
            scene.display()
        )));
    }
    output::write_atomic(out, trace.to_csv().as_bytes())?;
    println!(
        "wrote {} ({} samples, {:.1} s, zones {})",
        out.display(),
        trace.rows.len(),
        trace.rows.last().map_or(0.0, |r| r.1.t_s),
        trace.zones().join(", ")
    );
    Ok(())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Pictures a report shows, in this order, with their captions.
const PICTURES: &[(&str, &str)] = &[
    ("difference.png", "Where the trainee laid more (red) or fewer (blue) punctures than the reference"),
    ("trainee-bands.png", "Trainee: target band (under / in band / over)"),
    ("reference-bands.png", "Reference: target band"),
    ("trainee-density.png", "Trainee: puncture density"),
    ("reference-density.png", "Reference: puncture density"),
    ("progress.png", "Coverage, band share and density as the treatment went"),
    ("density.png", "Puncture density"),
    ("bands.png", "Target band (under / in band / over)"),
    ("hits.png", "Needle-disk hits (0 / 1 / 2 / 3+)"),
    ("atlas.png", "All zones"),
    ("passes.png", "Coverage and density after each pass (the reference plan)"),
    ("render-front.png", "3D view, front"),
    ("render-left.png", "3D view, left"),
    ("render-right.png", "3D view, right"),
];

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}\
h1{margin-bottom:0}.score{font-size:3em;font-weight:bold}table{border-collapse:collapse;margin:1em 0;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
.bar{display:inline-block;height:10px;background:#4a90c2;vertical-align:middle}\
.low{color:#b00}figure{margin:1.5em 0;page-break-inside:avoid}img{max-width:100%;border:1px solid #eee}\
@media print{body{margin:0;max-width:none}section{page-break-inside:avoid}}";

/// `needlemap report`: one HTML page of a run folder (score or simulate output).
pub fn report_cmd(dir: &Path, out: Option<&Path>) -> Result<(), Failure> {
    if !dir.is_dir() {
        return Err(bad_input(anyhow::anyhow!(
            "{} is not a folder: give the output folder of `score` or `simulate`",
            dir.display()
        )));
    }
    let read_json = |name: &str| -> Result<Option<serde_json::Value>, Failure> {
        let p = dir.join(name);
        if !p.exists() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&p).map_err(|e| bad_input(anyhow::anyhow!("cannot read {}: {e}", p.display())))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| bad_input(anyhow::anyhow!("{}:{}:{}: not valid JSON: {e}", p.display(), e.line(), e.column())))
    };
    let score = read_json("score.json")?;
    let sim = read_json("report.json")?;
    if score.is_none() && sim.is_none() {
        return Err(bad_input(anyhow::anyhow!(
            "{} holds neither score.json nor report.json: run `needlemap score ... --out {0}` or `needlemap simulate ... --out {0}` first",
            dir.display()
        )));
    }
    let mut html = String::from("<!doctype html><html><head><meta charset=\"utf-8\">");
    let title = match &score {
        Some(s) => format!(
            "Lesson report: {} against {}",
            s["trainee"].as_str().unwrap_or("?"),
            s["reference"].as_str().unwrap_or("?")
        ),
        None => format!("Treatment report: {}", sim.as_ref().and_then(|s| s["scene"].as_str()).unwrap_or("?")),
    };
    html += &format!("<title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1>", esc(&title), esc(&title));
    if let Some(s) = &score {
        html += &format!(
            "<p class=\"score\">{:.0}<small>/100</small></p><section><h2>Feedback</h2><ul>",
            s["score"].as_f64().unwrap_or(f64::NAN)
        );
        for f in s["feedback"].as_array().into_iter().flatten() {
            html += &format!("<li>{}</li>", esc(f.as_str().unwrap_or("")));
        }
        html += "</ul></section>";
        for z in s["zones"].as_array().into_iter().flatten() {
            html += &format!(
                "<section><h2>{}: {:.0}/100</h2><table><tr><th>criterion</th><th>figure</th><th>reference</th><th>accepted</th><th>score</th><th></th></tr>",
                esc(z["zone"].as_str().unwrap_or("?")),
                z["score"].as_f64().unwrap_or(f64::NAN)
            );
            for c in z["criteria"].as_array().into_iter().flatten() {
                let unit = c["unit"].as_str().unwrap_or("");
                let f = |v: &serde_json::Value| fig(v.as_f64(), unit);
                let sc = c["score"].as_f64().unwrap_or(0.0);
                let detail = c["detail"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                    .map_or(String::new(), |d| format!(" <small>({})</small>", esc(d)));
                html += &format!(
                    "<tr><td>{}</td><td>{}{detail}</td><td>{}</td><td>{} to {}</td><td{}>{sc:.0}</td><td><span class=\"bar\" style=\"width:{:.0}px\"></span></td></tr>",
                    esc(c["label"].as_str().unwrap_or("?")),
                    f(&c["figure"]),
                    f(&c["reference"]),
                    f(&c["accepted"][0]),
                    f(&c["accepted"][1]),
                    if sc < 50.0 { " class=\"low\"" } else { "" },
                    sc
                );
            }
            html += "</table></section>";
        }
    }
    if let Some(zones) = score.as_ref().and_then(|s| s["passes_reference"].as_array()) {
        html += "<section><h2>The reference plan, pass by pass</h2><p>What each pass adds: the figures after it.</p>\
                 <table><tr><th>zone</th><th>after pass</th><th>pattern</th><th>coverage</th><th>density /cm²</th></tr>";
        for z in zones {
            for (k, p) in z["passes"].as_array().into_iter().flatten().enumerate() {
                html += &format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.0}</td></tr>",
                    esc(z["zone"].as_str().unwrap_or("?")),
                    k + 1,
                    esc(p["pattern"].as_str().unwrap_or("?")),
                    100.0 * p["coverage_after"].as_f64().unwrap_or(f64::NAN),
                    p["density_after_per_cm2"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
        html += "</table></section>";
    }
    if let Some(s) = &sim {
        html += "<section><h2>Zones</h2><table><tr><th>zone</th><th>punctures</th><th>density /cm²</th><th>coverage</th><th>under</th><th>over</th><th>time s</th></tr>";
        for z in s["zones"].as_array().into_iter().flatten() {
            let pct = |v: &serde_json::Value| v.as_f64().map_or("–".into(), |x| format!("{:.1}%", 100.0 * x));
            html += &format!(
                "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
                esc(z["name"].as_str().unwrap_or("?")),
                z["punctures"],
                z["density_per_cm2"]["mean"].as_f64().unwrap_or(f64::NAN),
                pct(&z["coverage_fraction"]),
                pct(&z["under_fraction"]),
                pct(&z["over_fraction"]),
                z["time_s"].as_f64().unwrap_or(f64::NAN)
            );
        }
        html += "</table></section>";
    }
    let mut shown = 0;
    for (name, caption) in PICTURES {
        let p = dir.join(name);
        let Ok(bytes) = std::fs::read(&p) else { continue };
        if !bytes.starts_with(b"\x89PNG") {
            return Err(bad_input(anyhow::anyhow!("{} is not a PNG image", p.display())));
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        html += &format!(
            "<figure><img alt=\"{}\" src=\"data:image/png;base64,{b64}\"><figcaption>{}</figcaption></figure>",
            esc(name),
            esc(caption)
        );
        shown += 1;
    }
    html += "</body></html>\n";
    let target = out.map(Path::to_path_buf).unwrap_or_else(|| dir.join("report.html"));
    output::write_atomic(&target, html.as_bytes())?;
    println!("wrote {} ({} pictures embedded, {:.0} KiB)", target.display(), shown, html.len() as f64 / 1024.0);
    Ok(())
}
