//! `compare`, `passes` and `tune` from the command line: their files, their
//! tables, clear errors for bad strategies, the limits `tune` obeys, the same
//! figures on any thread count, and Ctrl-C typed on a terminal.

use crate::{Sandbox, scene_path, stderr, stdout};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// `needlemap` on a terminal of its own: the pseudo-terminal `script`
/// (util-linux) opens. There the progress bar draws as a user sees it (it is
/// hidden when stderr is not a terminal), and Ctrl-C typed there reaches the
/// command as a user's does.
struct OnTerminal {
    child: Child,
    keys: ChildStdin,
    output: Receiver<Vec<u8>>,
    shown: Vec<u8>,
}

impl OnTerminal {
    fn start(dir: &Path, args: &[&str]) -> OnTerminal {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let line: Vec<String> =
            std::iter::once(env!("CARGO_BIN_EXE_needlemap")).chain(args.iter().copied()).map(quote).collect();
        let mut child = Command::new("script")
            .args(["--quiet", "--flush", "--return", "--command", &format!("exec {}", line.join(" ")), "/dev/null"])
            .current_dir(dir)
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script (util-linux) runs");
        let keys = child.stdin.take().expect("stdin");
        let mut out = child.stdout.take().expect("stdout");
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        OnTerminal { child, keys, output, shown: Vec::new() }
    }

    /// What the terminal has shown so far.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.shown).into_owned()
    }

    /// Waits until what the terminal shows satisfies `done`, or panics after `within`.
    fn wait_for(&mut self, what: &str, within: Duration, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + within;
        while !done(&self.text()) {
            match self.output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(bytes) => self.shown.extend(bytes),
                Err(e) => {
                    let _ = self.child.kill();
                    let why = match e {
                        RecvTimeoutError::Timeout => format!("not within {within:?}"),
                        RecvTimeoutError::Disconnected => "the command ended".to_string(),
                    };
                    panic!("{what}: not shown ({why}); the terminal showed:\n{}", self.text());
                }
            }
        }
    }

    /// Types Ctrl-C.
    fn ctrl_c(&mut self) {
        self.keys.write_all(b"\x03").and_then(|_| self.keys.flush()).expect("type Ctrl-C");
    }

    /// Waits for the command to end (panics after `within`): its exit code and all it showed.
    fn finish(mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running {within:?} after Ctrl-C; the terminal showed:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Ok(bytes) = self.output.recv_timeout(Duration::from_secs(10)) {
            self.shown.extend(bytes);
        }
        (status.code(), self.text())
    }
}

/// Starts `args` on a terminal, waits until `runs` runs are done (`what`, for
/// the message), types Ctrl-C, and checks it ends with exit 130; returns
/// what it showed.
fn stopped_after(sb: &Sandbox, args: &[&str], runs: u64, what: &str) -> String {
    let mut t = OnTerminal::start(sb.dir.path(), args);
    t.wait_for(what, PATIENCE, |s| runs_done(s) >= runs);
    t.ctrl_c();
    let (code, shown) = t.finish(PATIENCE);
    assert_eq!(code, Some(130), "{shown}");
    shown
}
/// The most runs the progress bar has shown done (`... 617/25000 runs, ...`).
fn runs_done(shown: &str) -> u64 {
    let pieces: Vec<&str> = shown.split(" runs").collect();
    pieces[..pieces.len() - 1]
        .iter()
        .filter_map(|p| p.rsplit([' ', ']']).next()?.split('/').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Generous, for a loaded machine: the runs these tests wait for take well under a second each.
const PATIENCE: Duration = Duration::from_secs(180);

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn compare_writes_its_tables_and_charts_and_ranks_the_shipped_strategies() {
    let sb = Sandbox::new();
    let out = sb.path("cmp");
    let o = sb.run(&["compare", &scene_path("cheek-strategies.toml"), "--seeds", "4", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for name in ["H+V", "H+V+D", "H+V+D+AD", "random stamping", "roller x16"] {
        assert!(text.contains(name), "{name} missing from the table:\n{text}");
    }
    // The roller lays about 15 /cm2 a roll: it cannot reach the band.
    assert!(text.lines().any(|l| l.contains("roller x16") && l.contains("under-target bound missed")), "{text}");
    for f in ["compare.md", "compare.csv", "compare.json", "compare.png", "compare-time.png"] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert!(csv.starts_with("strategy,zone,metric,unit,n,mean,sd,ci_low,ci_high\n"));
    assert!(csv.lines().any(|l| l.starts_with("H+V+D,left cheek,coverage,fraction,4,")), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["ranking"].as_array().unwrap().len(), 5);
    assert_eq!(json["seeds"].as_array().unwrap().len(), 4);
    // The raw runs are labelled rows: one per strategy, seed and zone (then
    // all zones), every metric by its key; their mean is the estimate's.
    let rows = json["runs"].as_array().unwrap();
    assert_eq!(rows.len(), 5 * 4 * 2, "5 strategies x 4 seeds x (1 zone + all zones)");
    for r in rows {
        assert!(r["strategy"].is_string() && r["seed"].is_u64() && r["zone"].is_string(), "{r}");
        assert!(r["coverage"].is_f64() && r["time_s"].is_f64(), "{r}");
    }
    let coverage: Vec<f64> = rows
        .iter()
        .filter(|r| r["strategy"] == "H+V+D" && r["zone"] == "left cheek")
        .map(|r| r["coverage"].as_f64().unwrap())
        .collect();
    let s = json["strategies"].as_array().unwrap().iter().find(|s| s["name"] == "H+V+D").unwrap();
    let mean = s["zones"][0]["metrics"]["coverage"]["mean"].as_f64().unwrap();
    assert_eq!(coverage.len(), 4);
    assert!((coverage.iter().sum::<f64>() / 4.0 - mean).abs() < 1e-12, "{coverage:?} against {mean}");
}

/// A strategies file and a scene file in one compare: the file's
/// strategies (angle_deg and a random-stamping density among them) and the
/// scene as one more, on the same seeds, so the scene's figures are those it
/// has compared alone.
#[test]
fn scene_and_strategies_files_mix_in_one_compare() {
    let sb = Sandbox::new();
    let cheek = scene_path("cheek.toml");
    let file = sb.write(
        "s.toml",
        &format!(
            "base = {cheek:?}\nseeds = 2\n[[strategy]]\nname = \"H+V at 30\"\npatterns = [\"horizontal\", \"vertical\"]\nangle_deg = 30\n\
             [[strategy]]\nname = \"random 2000\"\npatterns = [\"random\"]\nrandom_density_per_cm2 = 2000\n"
        ),
    );
    let o = sb.run(&["compare", file.to_str().unwrap(), &cheek, "--out", "mixed"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = sb.run(&["compare", &cheek, "--seeds", "2", "--out", "alone"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (mixed, alone) = (json(&sb.path("mixed/compare.json")), json(&sb.path("alone/compare.json")));
    let names: Vec<&str> =
        mixed["strategies"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["H+V at 30", "random 2000", "cheek"]);
    assert_eq!(mixed["seeds"], alone["seeds"], "the strategies file's seeds, for every strategy");
    let metric =
        |j: &Value, s: usize, key: &str| j["strategies"][s]["zones"][0]["metrics"][key]["mean"].as_f64().unwrap();
    assert_eq!(metric(&mixed, 2, "coverage"), metric(&alone, 0, "coverage"));
    // The density strategy lays its density (pen-12's footprint loses a few
    // per cent off the zone's edge and its avoid region's).
    let d = metric(&mixed, 1, "density_mean");
    assert!((1800.0..2050.0).contains(&d), "{d}");
}

/// Ranked by the in-band share, the table shows that column.
#[test]
fn the_column_compare_ranks_by_is_printed() {
    let sb = Sandbox::new();
    let cheek = scene_path("cheek.toml");
    let o = sb.run(&["compare", &cheek, &cheek, "--seeds", "2", "--objective", "in-band", "--out", "cmp"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let header = text.lines().find(|l| l.contains("rank") && l.contains("strategy")).unwrap_or_default();
    assert!(header.contains("in band"), "the ranking column is shown: {text}");
    let md = std::fs::read_to_string(sb.path("cmp/compare.md")).unwrap();
    assert!(md.lines().any(|l| l.starts_with("| rank") && l.contains("in band")), "{md}");
}

#[test]
fn compare_takes_scene_files_and_a_scene_against_itself_is_indistinguishable() {
    let sb = Sandbox::new();
    let out = sb.path("cmp");
    let cheek = scene_path("cheek.toml");
    let o =
        sb.run(&["compare", &cheek, &cheek, "--seeds", "3", "--objective", "coverage", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("≈ cheek #2") && text.contains("≈ cheek"), "{text}");
    // Different zones cannot be compared.
    let o = sb.run(&["compare", &cheek, &scene_path("forehead.toml"), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("same zones"), "{}", stderr(&o));
}

#[test]
fn a_bad_strategy_names_its_line_and_key_and_writes_nothing() {
    let sb = Sandbox::new();
    let cheek = scene_path("cheek.toml");
    let out = sb.path("cmp");
    for (text, needle) in [
        (
            format!("base = {cheek:?}\n[[strategy]]\nname = \"a\"\nlane_spacing_mm = -1\n"),
            "s.toml:4:19: strategy[0].lane_spacing_mm",
        ),
        (
            format!("base = {cheek:?}\n[[strategy]]\nname = \"a\"\npatterns = [\"zigzag\"]\n"),
            "`zigzag` is not a pattern",
        ),
        (
            format!(
                "base = {cheek:?}\n[[strategy]]\nname = \"a\"\ncartridge = \"roller-192\"\npatterns = [\"random\"]\nrandom_stamps = 9\n"
            ),
            "roller cannot stamp at random",
        ),
        ("base = \"missing.toml\"\n[[strategy]]\nname = \"a\"\n".to_string(), "base: the base scene"),
        (format!("base = {cheek:?}\nzones = [\"chin\"]\n[[strategy]]\nname = \"a\"\n"), "no zone `chin`"),
    ] {
        let file = sb.write("s.toml", &text);
        let o = sb.run(&["compare", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{text}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "expected `{needle}` in: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
        assert!(!out.exists(), "nothing written on bad input");
    }
}

#[test]
fn passes_shows_the_marginal_gain_of_each_pass() {
    let sb = Sandbox::new();
    let out = sb.path("p");
    let o = sb.run(&["passes", &scene_path("cheek.toml"), "--seeds", "3", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("pass 1 (horizontal)") && text.contains("pass 3 (diagonal)"), "{text}");
    for f in ["passes.md", "passes.csv", "passes.json", "passes.png"] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
}

/// With several zones, passes reports each zone's curve too (terminal,
/// passes.md and passes.json), and each zone's figures are its own.
#[test]
fn passes_reports_per_zone() {
    let sb = Sandbox::new();
    let face = scene_path("full-face.toml");
    let o = sb.run(&["passes", &face, "--seeds", "2", "--out", "p"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (text, md) = (stdout(&o), std::fs::read_to_string(sb.path("p/passes.md")).unwrap());
    let j = json(&sb.path("p/passes.json"));
    let zones = j["passes"][0]["zones"].as_array().unwrap();
    assert!(zones.len() >= 5, "{zones:?}");
    for z in zones {
        let name = z["zone"].as_str().unwrap();
        assert!(text.contains(&format!("\n{name}:\n")) && md.contains(&format!("## {name}\n")), "{name}");
    }
    // The zones' coverages differ from one another and bracket the whole face's.
    let cov = |m: &Value| m["coverage"]["mean"].as_f64().unwrap();
    let all = cov(&j["passes"][0]["metrics"]);
    let each: Vec<f64> = zones.iter().map(|z| cov(&z["metrics"])).collect();
    let (lo, hi) = (each.iter().copied().fold(1.0, f64::min), each.iter().copied().fold(0.0, f64::max));
    assert!(lo < hi && lo <= all && all <= hi, "{each:?} around {all}");
}

#[test]
fn tune_recommends_a_plan_in_words_and_writes_a_scene_that_runs() {
    let sb = Sandbox::new();
    let out = sb.path("t");
    let o = sb.run(&[
        "tune",
        &scene_path("cheek.toml"),
        "--seeds",
        "4",
        "--spacings",
        "4",
        "--speeds",
        "40",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("left cheek: 3 passes (horizontal, vertical, diagonal)"), "{text}");
    let zone = &json(&out.join("tune.json"))["zones"][0];
    let plan = &zone["tried"][zone["recommended"].as_u64().expect("a plan recommended") as usize];
    let said = |key: &str| plan[key]["mean"].as_f64().unwrap();
    assert!(text.contains(&format!("{:.0} /cm² mean", said("density_per_cm2"))), "{text}");
    let tuned = out.join("tuned.toml");
    let o = sb.run(&["simulate", tuned.to_str().unwrap(), "--out", sb.path("sim").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "the tuned scene runs: {}", stderr(&o));
    // The tuned scene reaches what tune said: run on tune's seeds (4 from the
    // scene's seed, 7), it gives exactly the recommended plan's figures ...
    let o = sb.run(&["compare", tuned.to_str().unwrap(), "--seeds", "4", "--out", sb.path("c").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = json(&sb.path("c/compare.json"));
    assert_eq!(c["seeds"], serde_json::json!([7, 8, 9, 10]));
    let got = &c["strategies"][0]["zones"][0]["metrics"];
    for (tune_key, compare_key) in [
        ("density_per_cm2", "density_mean"),
        ("under", "under"),
        ("over", "over"),
        ("coverage", "coverage"),
        ("cv", "cv"),
        ("overlap", "overlap"),
        ("time_s", "time_s"),
    ] {
        assert_eq!(got[compare_key]["mean"].as_f64(), Some(said(tune_key)), "{tune_key}: tune said {plan}, got {got}");
    }
    // ... and those meet the band: the 95 % two-sided interval's top is above
    // the one-sided 95 % bound tune checks, so this is the stricter test.
    let (under, over) = (&got["under"], got["over"]["mean"].as_f64().unwrap());
    let under_top = under["mean"].as_f64().unwrap() + under["half_width"].as_f64().unwrap();
    assert!(under_top <= 0.10 && over <= 0.25, "under up to {under_top}, over {over}: {got}");
    let density = got["density_mean"]["mean"].as_f64().unwrap();
    assert!((1500.0..=3000.0).contains(&density), "{density} /cm²");
    assert!(std::fs::read_to_string(out.join("tune.md")).unwrap().contains("| horizontal, vertical |"));
    // A band out of reach: a reason, exit 0 (the answer is the reason).
    let o = sb.run(&[
        "tune",
        &scene_path("cheek.toml"),
        "--target",
        "20000..30000",
        "--seeds",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("cannot reach that density"), "{}", stdout(&o));
    // Bad arguments: exit 2, a clear line.
    let o = sb.run(&["tune", &scene_path("cheek.toml"), "--zone", "chin"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--zone chin: no such zone"), "{}", stderr(&o));
    let o = sb.run(&["tune", &scene_path("cheek.toml"), "--max-under", "1.5"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `tune` on the cheek (3 seeds) with extra arguments: its one line and tune.json.
fn tune_cheek(sb: &Sandbox, out: &str, extra: &[&str]) -> (String, Value) {
    let cheek = scene_path("cheek.toml");
    // At the scene's spacing and speed only: the pass-count search.
    let mut args = vec!["tune", cheek.as_str(), "--seeds", "3", "--spacings", "4", "--speeds", "40", "--out", out];
    args.extend(extra);
    let o = sb.run(&args);
    assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", stderr(&o));
    (stdout(&o).lines().next().unwrap_or("").to_string(), json(&sb.path(out).join("tune.json")))
}

#[test]
fn tune_limits_bind_with_the_reason_they_give() {
    let sb = Sandbox::new();
    // Without limits, 3 passes qualify; the plans tried are the same on the
    // same seeds whatever the limits, so each limit is set between two plans'
    // figures and must stop the search there, with its reason.
    let (line, free) = tune_cheek(&sb, "free", &[]);
    assert!(line.starts_with("left cheek: 3 passes"), "{line}");
    let tried = free["zones"][0]["tried"].as_array().unwrap().clone();
    assert_eq!(tried.len(), 3);
    let fig = |k: usize, key: &str| tried[k - 1][key]["mean"].as_f64().unwrap();
    let refused = "left cheek: no plan reaches 1500-3000 /cm²: ";
    let check = |case: &str, extra: &[&str], stops_at: usize, reason: String| {
        let (line, j) = tune_cheek(&sb, case, extra);
        let zone = &j["zones"][0];
        assert_eq!(line, format!("{refused}{reason}"), "{case}");
        assert_eq!(zone["reason"].as_str(), Some(&reason[..]), "{case}");
        assert!(zone["recommended"].is_null(), "{case}");
        assert_eq!(
            zone["tried"].as_array().unwrap().len(),
            stops_at,
            "{case}: the search stops at the plan that passes the limit"
        );
    };
    // --max-time between 2 and 3 passes' times: the third reaches the band too late.
    let (t1, t2, t3) = (fig(1, "time_s"), fig(2, "time_s"), fig(3, "time_s"));
    let limit = ((t2 + t3) / 2.0).round();
    assert!(t2 < limit && limit < t3, "{t2} {limit} {t3}");
    check(
        "time3",
        &["--max-time", &limit.to_string()],
        3,
        format!("3 passes reach the band but take {t3:.0} s (limit {limit:.0} s)"),
    );
    // --max-time between 1 and 2 passes: the second is already too long and still under the band.
    let limit = ((t1 + t2) / 2.0).round();
    assert!(t1 < limit && limit < t2, "{t1} {limit} {t2}");
    check(
        "time2",
        &["--max-time", &limit.to_string()],
        2,
        format!(
            "2 passes already take {t2:.0} s (limit {limit:.0} s) and leave {:.1}% under the band",
            fig(2, "under") * 100.0
        ),
    );
    // --max-overlap between 2 and 3 passes' overlap.
    let (o2, o3) = (fig(2, "overlap"), fig(3, "overlap"));
    let limit = ((o2 + o3) / 2.0 * 100.0).round() / 100.0;
    assert!(o2 < limit && limit < o3, "{o2} {limit} {o3}");
    check(
        "overlap",
        &["--max-overlap", &limit.to_string()],
        3,
        format!("3 passes reach the band but overlap {:.0}% (limit {:.0}%)", o3 * 100.0, limit * 100.0),
    );
    // --max-over between 2 and 3 passes' share over the band: the density is too uneven.
    let (v2, v3) = (fig(2, "over"), fig(3, "over"));
    let limit = ((v2 + v3) / 2.0 * 100.0).round() / 100.0;
    assert!(v2 < limit && limit < v3, "{v2} {limit} {v3}");
    let (line, j) = tune_cheek(&sb, "over", &["--max-over", &limit.to_string()]);
    let prefix = format!("3 passes put {:.1}% of the zone over the band (limit {:.0}%)", v3 * 100.0, limit * 100.0);
    assert!(line.starts_with(&format!("{refused}{prefix}")) && line.contains("too uneven for this band"), "{line}");
    assert!(j["zones"][0]["recommended"].is_null());
    // A band one pass already overshoots: the default --max-over (25 %) binds
    // after one pass; allowing all of the zone over the band lets it qualify.
    let (line, j) = tune_cheek(&sb, "low", &["--target", "100..300"]);
    let one = &j["zones"][0]["tried"][0];
    let reason = format!(
        "one pass already gives {:.0} /cm² and puts {:.0}% of the zone over 300 /cm² (limit 25%)",
        one["density_per_cm2"]["mean"].as_f64().unwrap(),
        one["over"]["mean"].as_f64().unwrap() * 100.0
    );
    assert!(line.starts_with(&format!("left cheek: no plan reaches 100-300 /cm²: {reason}")), "{line}");
    let (line, _) = tune_cheek(&sb, "low-any", &["--target", "100..300", "--max-over", "1"]);
    assert!(line.starts_with("left cheek: 1 pass (horizontal)"), "{line}");
}

#[test]
fn a_tuned_scene_written_elsewhere_still_finds_its_meshes() {
    // The scene and its OBJ in one folder, tuned.toml written to another and
    // run from a third: its mesh path must be absolute.
    let sb = Sandbox::new();
    for d in ["scene", "elsewhere", "cwd"] {
        std::fs::create_dir(sb.path(d)).unwrap();
    }
    let obj = sb.path("scene/patches.obj");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/patches.obj"), &obj).unwrap();
    sb.write(
        "scene/scene.toml",
        "name = \"obj\"\n[cartridge]\npreset = \"pen-12\"\ndepth_mm = 0.5\n[hand]\nspeed_mm_s = 40\n\n\
         [[zones]]\nname = \"z\"\nmesh = \"patches.obj#forehead\"\ntarget_per_cm2 = [1500, 3000]\n\n\
         [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n",
    );
    let o = sb.run(&[
        "tune",
        "scene/scene.toml",
        "--seeds",
        "2",
        "--spacings",
        "4",
        "--speeds",
        "40",
        "--out",
        "elsewhere/t",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let tuned = std::fs::read_to_string(sb.path("elsewhere/t/tuned.toml")).unwrap();
    let surface = format!("{}#forehead", std::fs::canonicalize(&obj).unwrap().display());
    assert!(surface.starts_with('/'));
    assert!(tuned.contains(&format!("mesh = \"{surface}\"")), "expected the mesh at `{surface}` in:\n{tuned}");
    let o = Command::new(env!("CARGO_BIN_EXE_needlemap"))
        .args(["simulate", sb.path("elsewhere/t/tuned.toml").to_str().unwrap(), "--out", "o"])
        .current_dir(sb.path("cwd"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&sb.path("cwd/o/report.json"));
    assert_eq!(r["zones"][0]["surface"].as_str(), Some(surface.as_str()));
    assert_eq!(r["zones"][0]["passes"].as_array().unwrap().len(), 3, "the tuned plan: {tuned}");
}

#[test]
fn compare_gives_the_same_files_on_one_and_two_threads() {
    let sb = Sandbox::new();
    let strategies = scene_path("cheek-strategies.toml");
    for (threads, out) in [("1", "one"), ("2", "two")] {
        let o = sb.run(&["compare", &strategies, "--seeds", "3", "--threads", threads, "--out", out]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    for f in ["compare.csv", "compare.json", "compare.md"] {
        let (a, b) = (std::fs::read(sb.path("one").join(f)).unwrap(), std::fs::read(sb.path("two").join(f)).unwrap());
        assert!(a == b, "{f} differs between 1 and 2 threads");
    }
}

#[test]
fn check_validates_a_strategies_file() {
    let sb = Sandbox::new();
    let o = sb.run(&["check", &scene_path("cheek-strategies.toml")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok: strategies file, 5 strategies"), "{}", stdout(&o));
}

#[test]
fn ctrl_c_stops_a_long_compare_and_writes_what_finished() {
    let sb = Sandbox::new();
    // Five strategies on 5000 seeds take minutes. On 2 threads a batch is
    // 4 seeds of every strategy (8 runs a thread, compare::run_all), and
    // batches run one after the other: once 20 runs are done, seeds 7-10
    // (the base scene's seed on) are whole.
    let file = scene_path("cheek-strategies.toml");
    let shown = stopped_after(
        &sb,
        &["compare", &file, "--seeds", "5000", "--threads", "2", "--out", "cmp"],
        20,
        "the first batch of 20 runs",
    );
    assert!(shown.contains("stopping: finishing the runs under way"), "{shown}");
    let j = json(&sb.path("cmp/compare.json"));
    assert_eq!(j["stopped"], true);
    let finished: Vec<u64> = j["seeds_finished"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    assert!(finished.len() < 5000, "{} seeds: the run was not cut short", finished.len());
    assert!(finished.starts_with(&[7, 8, 9, 10]), "the first batch is whole: {finished:?}");
    assert!(
        shown.contains(&format!("stopped by Ctrl-C: {} of 5000 seeds finished for every strategy", finished.len())),
        "{shown}"
    );
    // The seeds it names finished are exactly those every strategy finished.
    let seeds = j["seeds"].as_array().unwrap();
    let runs = j["runs"].as_array().unwrap();
    let strategies: Vec<&Value> = j["strategies"].as_array().unwrap().iter().map(|s| &s["name"]).collect();
    assert_eq!(strategies.len(), 5);
    for seed in seeds {
        let whole = strategies.iter().all(|&name| runs.iter().any(|r| &r["strategy"] == name && &r["seed"] == seed));
        assert_eq!(whole, finished.contains(&seed.as_u64().unwrap()), "seed {seed}");
    }
    for f in ["compare.md", "compare.csv", "compare.png", "compare-time.png"] {
        assert!(sb.path("cmp").join(f).is_file(), "{f} not written");
    }
}

#[test]
fn a_second_ctrl_c_quits_at_once() {
    let sb = Sandbox::new();
    // The full face, one run at a time: each run takes a while, so the
    // first Ctrl-C leaves one under way; the second must not wait for it.
    let face = scene_path("full-face.toml");
    let mut t =
        OnTerminal::start(sb.dir.path(), &["compare", &face, "--seeds", "100", "--threads", "1", "--out", "cmp"]);
    t.wait_for("the first run", PATIENCE, |s| runs_done(s) >= 1);
    let first = Instant::now();
    t.wait_for("the second run", PATIENCE, |s| runs_done(s) >= 2);
    let one_run = first.elapsed();
    t.ctrl_c();
    t.wait_for("the first Ctrl-C's message", PATIENCE, |s| s.contains("Ctrl-C again to quit at once"));
    let again = Instant::now();
    t.ctrl_c();
    let (code, shown) = t.finish(PATIENCE);
    let quit = again.elapsed();
    assert_eq!(code, Some(130), "{shown}");
    // Two runs finished, so a stop that waited for the third would write
    // them; quitting at once writes nothing, well within half a run.
    assert!(!sb.path("cmp").exists(), "files written: the run under way was waited for\n{shown}");
    assert!(quit < one_run / 2, "quit {quit:?} after the second Ctrl-C; a run takes {one_run:?}");
}

#[test]
fn ctrl_c_stops_passes_and_writes_what_finished() {
    let sb = Sandbox::new();
    // 3 per-pass plans on 2 threads: a batch is 6 seeds (18 runs).
    let cheek = scene_path("cheek.toml");
    let shown = stopped_after(
        &sb,
        &["passes", &cheek, "--seeds", "5000", "--threads", "2", "--out", "p"],
        18,
        "the first batch of 18 runs",
    );
    let said = shown.split("stopped by Ctrl-C: ").nth(1).unwrap_or_else(|| panic!("no stop message: {shown}"));
    let n: u64 = said.split(' ').next().unwrap().parse().unwrap();
    assert!(said.starts_with(&format!("{n} seeds finished; those are written")), "{said}");
    assert!((6..5000).contains(&n), "{n} seeds finished");
    let md = std::fs::read_to_string(sb.path("p/passes.md")).unwrap();
    assert!(md.contains(&format!("over {n} seeds")), "{md}");
    assert!(md.contains("of 5000 asked, stopped by Ctrl-C"), "{md}");
    // Every pass's figures count exactly the seeds every pass finished, and
    // passes.json says which those are.
    let j = json(&sb.path("p/passes.json"));
    assert_eq!(j["stopped"], true);
    assert_eq!(j["seeds_finished"].as_array().unwrap().len() as u64, n, "{}", j["seeds_finished"]);
    let passes = j["passes"].as_array().unwrap();
    assert_eq!(passes.len(), 3);
    for p in passes {
        let runs = p["metrics"]["coverage"]["n"].as_u64().unwrap();
        assert_eq!(runs, n, "{}: {runs} runs, {n} whole seeds", p["after"]);
    }
    assert!(sb.path("p/passes.png").is_file() && sb.path("p/passes.csv").is_file());
}

#[test]
fn ctrl_c_stops_tune_and_writes_what_finished() {
    let sb = Sandbox::new();
    // One plan at a time on 3000 seeds; on 2 threads its batch is 16 seeds.
    let cheek = scene_path("cheek.toml");
    let mut t = OnTerminal::start(sb.dir.path(), &["tune", &cheek, "--seeds", "3000", "--threads", "2", "--out", "t"]);
    t.wait_for("the first batch of 16 runs", PATIENCE, |s| runs_done(s) >= 16);
    t.ctrl_c();
    let (code, shown) = t.finish(PATIENCE);
    assert_eq!(code, Some(130), "{shown}");
    assert!(shown.contains("stopped by Ctrl-C: the zones tuned so far are written"), "{shown}");
    let zone = &json(&sb.path("t/tune.json"))["zones"][0];
    assert!(zone["reason"].as_str().unwrap().ends_with("(Ctrl-C)"), "{zone}");
    assert!(zone["recommended"].is_null(), "{zone}");
    assert!(
        shown.contains(&format!("left cheek: no plan reaches 1500-3000 /cm²: {}", zone["reason"].as_str().unwrap()))
    );
    // The plans tried say on how many seeds they ran: the first batch at
    // least, not all 3000.
    let tried = zone["tried"].as_array().unwrap();
    assert!(!tried.is_empty(), "{zone}");
    for p in tried {
        let n = p["density_per_cm2"]["n"].as_u64().unwrap();
        assert!((16..3000).contains(&n), "{n} seeds for {}", p["passes"]);
        for m in ["under", "over", "coverage", "cv", "overlap", "time_s"] {
            assert_eq!(p[m]["n"].as_u64(), Some(n), "{m}");
        }
    }
    // No zone's plan qualified before the stop: no tuned scene is written.
    assert!(!sb.path("t/tuned.toml").exists(), "a tuned.toml with no tuned zone");
}

#[test]
fn stopped_figures_count_the_same_seeds_for_every_strategy() {
    // strategies.md: Ctrl-C "writes what finished (whole seeds, the same for
    // every strategy)". A stop mid-batch leaves some seeds run by only some
    // strategies; those must not count.
    let sb = Sandbox::new();
    let file = scene_path("cheek-strategies.toml");
    stopped_after(
        &sb,
        &["compare", &file, "--seeds", "5000", "--threads", "2", "--out", "cmp"],
        20,
        "the first batch of 20 runs",
    );
    let j = json(&sb.path("cmp/compare.json"));
    let finished = j["seeds_finished"].as_array().unwrap().len() as u64;
    for s in j["strategies"].as_array().unwrap() {
        assert_eq!(s["zones"][0]["metrics"]["coverage"]["n"].as_u64(), Some(finished), "{}", s["name"]);
    }
    let csv = std::fs::read_to_string(sb.path("cmp/compare.csv")).unwrap();
    for row in csv.lines().skip(1) {
        assert_eq!(row.split(',').nth(4), Some(&finished.to_string()[..]), "{row}");
    }
}

#[test]
fn a_reader_closing_the_pipe_early_costs_no_files_and_no_panic() {
    // `needlemap compare ... | head -1`: stdout closed before the table is printed.
    let sb = Sandbox::new();
    let out = sb.path("cmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
        .args(["compare", &scene_path("cheek-strategies.toml"), "--seeds", "3", "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    for f in ["compare.md", "compare.csv", "compare.json", "compare.png", "compare-time.png"] {
        assert!(out.join(f).is_file(), "{f} not written");
    }
}

/// The practitioner's depth is a given: a thick-skin cheek at 0.5 mm is
/// tuned at 0.5 mm with a warning (it moved to 1.5 mm before), and the
/// tuned scene and treatment sheet keep it; a band no plan reaches writes
/// no tuned.toml and no sheet (only the explanation), and no kept pass is
/// called recommended.
#[test]
fn tune_keeps_the_depth_writes_a_sheet_and_no_tuned_scene_for_an_unreachable_band() {
    let sb = Sandbox::new();
    let scene = sb.write(
        "pen.toml",
        "name = \"pen\"\nseed = 1\n[cartridge]\npreset = \"pen-12\"\ndepth_mm = 0.5\n[hand]\nspeed_mm_s = 40\n\
         [[zones]]\nmesh = \"builtin:cheek-left\"\nskin = \"thick\"\ntarget_per_cm2 = [1400, 3000]\n\
         [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\nrate_hz = 100\n",
    );
    let scene = scene.to_str().unwrap();
    let o = sb.run(&["tune", scene, "--seeds", "3", "--spacings", "4,3", "--speeds", "40", "--out", "t"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("warning: cheek-left: 0.5 mm is below the thick-skin range 1-2 mm: kept as given"), "{text}");
    let zone = &json(&sb.path("t/tune.json"))["zones"][0];
    assert_eq!(zone["depth_mm"].as_f64(), Some(0.5), "{zone}");
    // (Three passes at 4 mm lanes: 2099 /cm2, 7.7 % under 1400 at the 95 %
    // bound, 11.5 % under 1500: the cells by the eye's avoid region.)
    assert!(zone["recommended"].is_u64(), "a plan at 4 or 3 mm lanes reaches 1400-3000: {text}");
    let tuned = std::fs::read_to_string(sb.path("t/tuned.toml")).unwrap();
    assert!(tuned.contains("depth_mm = 0.5") && !tuned.contains("depth_mm = 1.5"), "{tuned}");
    assert!(tuned.contains("# cheek-left: tuned: "), "{tuned}");
    // The pass's own rate, which the search simulated, is kept.
    assert_eq!(
        tuned.matches("rate_hz = 100").count(),
        zone["tried"][zone["recommended"].as_u64().unwrap() as usize]["passes"].as_array().unwrap().len(),
        "{tuned}"
    );
    // The sheet: one page per zone, with what the practitioner needs.
    let sheet = std::fs::read_to_string(sb.path("t/sheet.html")).unwrap();
    assert_eq!(sheet.matches("<section>").count(), 1);
    for needed in [
        "glide speed",
        "mm/s (",
        "cm/s)",
        "lane spacing",
        "needle depth",
        "0.5 mm",
        "expected density",
        "expected coverage",
        "treatment time",
        "Pass 1: horizontal",
    ] {
        assert!(sheet.contains(needed), "the sheet lacks {needed:?}");
    }
    // Out of reach: no tuned.toml, no sheet; the reason said.
    let o = sb.run(&[
        "tune",
        scene,
        "--seeds",
        "3",
        "--spacings",
        "4",
        "--speeds",
        "40",
        "--target",
        "20000..30000",
        "--out",
        "u",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("no tuned.toml or treatment sheet written"), "{}", stdout(&o));
    assert!(!sb.path("u/tuned.toml").exists() && !sb.path("u/sheet.html").exists());
    assert!(sb.path("u/tune.md").is_file() && sb.path("u/tune.json").is_file());
    let md = std::fs::read_to_string(sb.path("u/tune.md")).unwrap();
    assert!(
        md.contains("Under and over are measured per analysis cell") && md.contains("Compare plans at one cell size"),
        "{md}"
    );
}
