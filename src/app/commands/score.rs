//! `needlemap score`: a treatment scored against a reference plan.

use crate::app::Failure;
use crate::app::trainer::{fig, run_scene, trainee};
use crate::app::{charts, load_scene, output, plot};
use crate::core::Outcome;
use crate::core::trainer::{self as score, Progress, ScoreCard};
use serde::Serialize;
use std::path::Path;
use std::path::PathBuf;

/// The arguments of `needlemap score`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trainee's trace (.csv) or scene (.toml).
    pub input: PathBuf,
    /// The reference scene (its plan, zones and target bands).
    #[arg(long)]
    pub reference: PathBuf,
    /// Output folder [default: out/score-<trainee>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Punctures in avoid regions that still score 100 [default: 0, none].
    /// Judged absolutely, not against the reference.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub avoid_tolerance: u64,
}

/// Runs `needlemap score`.
pub fn run(args: Args) -> Result<(), Failure> {
    let Args { input, reference, out, avoid_tolerance } = args;
    let settings = score::ScoreSettings { avoid_tolerance: avoid_tolerance as f64 };
    score_cmd(&input, &reference, out.as_deref(), &settings)
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
fn score_cmd(
    input: &Path,
    reference: &Path,
    out: Option<&Path>,
    settings: &score::ScoreSettings,
) -> Result<(), Failure> {
    // The reference is the plan done exactly (no hand jitter): one fixed treatment.
    let ref_scene = score::exact(&load_scene(reference)?);
    let trainee_scene = trainee(input, &ref_scene)?;
    let r = run_scene(&ref_scene)?;
    let t = run_scene(&trainee_scene)?;
    let card = score::score_with(&r, &t, settings);
    let (pr, pt) = (score::progress(&r, PROGRESS_STEPS), score::progress(&t, PROGRESS_STEPS));
    let passes_reference = r.zones.iter().map(|z| ZonePasses { zone: &z.setup.name, passes: &z.passes }).collect();
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
                charts::Panel { title: format!("{}: coverage (%)", z.setup.name), values: cov },
                charts::Panel { title: format!("{}: density (/cm²)", z.setup.name), values: dens },
            ]
        })
        .collect();
    let labels: Vec<String> = (1..=most).map(|k| k.to_string()).collect();
    charts::per_pass(&format!("The reference plan ({}), pass by pass", r.scene.name), &labels, &panels).map(Some)
}
