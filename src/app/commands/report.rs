//! `needlemap report`: one self-contained HTML page of a run folder.

use crate::app::output;
use crate::app::trainer::fig;
use crate::app::{Failure, bad_input};
use crate::core::format::percent;
use base64::Engine;
use std::path::Path;
use std::path::PathBuf;

/// The arguments of `needlemap report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder `score` or `simulate` wrote.
    pub run_dir: PathBuf,
    /// The page to write [default: RUN_DIR/report.html].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `needlemap report`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { run_dir, out } = args;
    let (target, shown, bytes) = report_cmd(&run_dir, out.as_deref())?;
    println!("wrote {} ({} pictures embedded, {:.0} KiB)", target.display(), shown, bytes as f64 / 1024.0);
    Ok(())
}

/// Writes a run folder's report.html into it (a class's trainees' pages).
pub(crate) fn write_report(dir: &Path) -> Result<(), Failure> {
    report_cmd(dir, None).map(|_| ())
}

/// Text made safe for HTML (also used by tune's treatment sheet).
pub(crate) fn esc(s: &str) -> String {
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

pub(crate) const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}\
h1{margin-bottom:0}.score{font-size:3em;font-weight:bold}table{border-collapse:collapse;margin:1em 0;width:100%}\
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
.bar{display:inline-block;height:10px;background:#4a90c2;vertical-align:middle}\
.low{color:#b00}figure{margin:1.5em 0;page-break-inside:avoid}img{max-width:100%;border:1px solid #eee}\
@media print{body{margin:0;max-width:none}section{page-break-inside:avoid}}";

/// `needlemap report`: one HTML page of a run folder (score or simulate
/// output), written; where it went, the pictures embedded and its size.
fn report_cmd(dir: &Path, out: Option<&Path>) -> Result<(PathBuf, usize, usize), Failure> {
    if !dir.is_dir() {
        return Err(bad_input(anyhow::anyhow!(
            "{} is not a folder: give the output folder of `score` or `simulate`",
            dir.display()
        )));
    }
    // No run commits into the folder while its page is made. A run killed
    // while moving its files in is finished first, and only the pictures
    // the folder's last run wrote are shown (never a left-over one).
    let _held = output::hold(dir)?;
    output::settle(dir);
    let written = output::manifest(dir);
    let from_this_run = |name: &str| written.is_empty() || written.iter().any(|w| w.name == name);
    let read_json = |name: &str| -> Result<Option<serde_json::Value>, Failure> {
        let p = dir.join(name);
        if !p.exists() || !from_this_run(name) {
            return Ok(None);
        }
        let text = crate::app::input::read_text(&p, crate::app::input::MAX_TEXT_FILE_BYTES).map_err(bad_input)?;
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
            match s["trainee_name"].as_str() {
                Some(name) => format!("{name} ({})", s["trainee"].as_str().unwrap_or("?")),
                None => s["trainee"].as_str().unwrap_or("?").to_string(),
            },
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
        // Weights are shown where a criteria file moved one off 1.
        let weight = |c: &serde_json::Value| c["weight"].as_f64().unwrap_or(1.0);
        let weighted = s["zones"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|z| z["criteria"].as_array().into_iter().flatten())
            .any(|c| weight(c) != 1.0);
        for z in s["zones"].as_array().into_iter().flatten() {
            html += &format!(
                "<section><h2>{}: {:.0}/100</h2><table><tr><th>criterion</th><th>figure</th><th>reference</th><th>accepted</th><th>score</th>{}<th></th></tr>",
                esc(z["zone"].as_str().unwrap_or("?")),
                z["score"].as_f64().unwrap_or(f64::NAN),
                if weighted { "<th>weight</th>" } else { "" }
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
                    "<tr><td>{}</td><td>{}{detail}</td><td>{}</td><td>{} to {}</td><td{}>{sc:.0}</td>{}<td><span class=\"bar\" style=\"width:{:.0}px\"></span></td></tr>",
                    esc(c["label"].as_str().unwrap_or("?")),
                    f(&c["figure"]),
                    f(&c["reference"]),
                    f(&c["accepted"][0]),
                    f(&c["accepted"][1]),
                    if sc < 50.0 { " class=\"low\"" } else { "" },
                    if weighted {
                        format!("<td>{}</td>", crate::core::format::fixed(weight(c), 2))
                    } else {
                        String::new()
                    },
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
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td></tr>",
                    esc(z["zone"].as_str().unwrap_or("?")),
                    k + 1,
                    esc(p["pattern"].as_str().unwrap_or("?")),
                    percent(p["coverage_after"].as_f64().unwrap_or(f64::NAN), 1),
                    p["density_after_per_cm2"].as_f64().unwrap_or(f64::NAN)
                );
            }
        }
        html += "</table></section>";
    }
    if let Some(s) = &sim {
        html += &plan_section(s, &esc);
    }
    if let Some(s) = &sim {
        html += "<section><h2>Zones</h2><table><tr><th>zone</th><th>punctures</th><th>density /cm²</th><th>coverage</th><th>under</th><th>over</th><th>time s</th></tr>";
        for z in s["zones"].as_array().into_iter().flatten() {
            let pct = |v: &serde_json::Value| v.as_f64().map_or("–".into(), |x| percent(x, 1));
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
        if !p.exists() || !from_this_run(name) {
            continue;
        }
        let bytes = crate::app::input::read_bytes(&p, crate::app::input::MAX_TEXT_FILE_BYTES).map_err(bad_input)?;
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
    if out.is_none() {
        // The page joins the run's files, so the next run into the folder
        // removes it with the rest instead of leaving a stale lesson.
        output::write_set(dir, &[("report.html", html.as_bytes().to_vec())], output::Mode::Add)?;
    } else {
        output::write_atomic(&target, html.as_bytes())?;
    }
    Ok((target, shown, html.len()))
}

/// The plan the run followed (report.json's cartridge and plan), so the page
/// can be handed to a colleague or a patient: the cartridge, the hand, and
/// per zone its target, skin and passes.
fn plan_section(s: &serde_json::Value, esc: &dyn Fn(&str) -> String) -> String {
    let num =
        |v: &serde_json::Value| v.as_f64().map_or("–".to_string(), |x| format!("{}", (x * 1000.0).round() / 1000.0));
    let c = &s["cartridge"];
    let h = &s["plan"]["hand"];
    let mut html = format!(
        "<section><h2>The plan</h2><p>Cartridge <b>{}</b>: {} needles of {} mm, {} mm deep{}. Hand: {} mm/s ({} cm/s), \
         wobble {} mm, speed varying by {}, {} s a turn.</p>",
        esc(c["name"].as_str().unwrap_or("?")),
        c["needles"].as_u64().map_or("?".into(), |n| n.to_string()),
        num(&c["needle_diameter_mm"]),
        num(&c["depth_mm"]),
        c["rate_hz"].as_f64().map_or(String::new(), |r| format!(", {r} Hz")),
        num(&h["speed_mm_s"]),
        h["speed_mm_s"].as_f64().map_or("–".into(), |v| format!("{}", (v * 100.0).round() / 1000.0)),
        num(&h["lateral_jitter_mm"]),
        h["speed_jitter"].as_f64().map_or("–".into(), |j| format!("{:.0} %", j * 100.0)),
        num(&h["turn_time_s"]),
    );
    html += "<table><tr><th>zone</th><th>target /cm²</th><th>skin (depth range)</th><th>pass</th><th>lanes</th>\
             <th>glide mm/s</th><th>rate Hz</th><th>depth mm</th></tr>";
    for z in s["plan"]["zones"].as_array().into_iter().flatten() {
        let target = z["target_per_cm2"].as_array().map_or("–".into(), |t| format!("{}–{}", num(&t[0]), num(&t[1])));
        let range =
            z["depth_range_mm"].as_array().map_or(String::new(), |r| format!(" ({}–{} mm)", num(&r[0]), num(&r[1])));
        for (i, p) in z["passes"].as_array().into_iter().flatten().enumerate() {
            let lanes = if p["lane_spacing_mm"].is_number() {
                format!(
                    "{} mm apart at {}°{}",
                    num(&p["lane_spacing_mm"]),
                    num(&p["angle_deg"]),
                    match p["repeats"].as_u64() {
                        Some(r) if r > 1 => format!(", {r} times"),
                        _ => String::new(),
                    }
                )
            } else if p["stamps"].is_number() {
                format!("{} random stamps", p["stamps"].as_u64().unwrap_or(0))
            } else {
                format!("traced ({})", esc(p["trajectory"].as_str().unwrap_or("?")))
            };
            html += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if i == 0 { esc(z["name"].as_str().unwrap_or("?")) } else { String::new() },
                if i == 0 { target.clone() } else { String::new() },
                if i == 0 { format!("{}{range}", esc(z["skin"].as_str().unwrap_or("?"))) } else { String::new() },
                i + 1,
                esc(p["pattern"].as_str().unwrap_or("?")),
                lanes,
                num(&p["speed_mm_s"]),
                p["rate_hz"].as_f64().map_or("–".into(), |r| format!("{r}")),
                num(&p["depth_mm"]),
            );
        }
    }
    html + "</table></section>"
}
