//! Trace mode (`view --trace-out`): the pointer's path on the skin becomes a
//! trajectory, sampled at the pointer's speed, simulated again as it grows
//! and written after every stroke.

use super::*;

/// The drawing of a trace (`--trace-out`).
pub(super) struct Tracing {
    pub(super) out: std::path::PathBuf,
    /// The scene whose zones the trace is drawn on.
    pub(super) base: crate::core::input::scene::Scene,
    pub(super) rows: Vec<(String, TracePoint)>,
    /// When the first sample was taken (sample times count from it).
    pub(super) started: Option<Instant>,
    /// The pointer is down and drawing.
    pub(super) drawing: bool,
    /// The last sample on the skin: zone and chart point.
    pub(super) last: Option<(usize, Vec2)>,
    /// Samples came since the treatment was last simulated.
    pub(super) dirty: bool,
    pub(super) last_run: Option<Instant>,
    /// Left-drag draws (true) or orbits (T switches).
    pub(super) enabled: bool,
}

impl Tracing {
    pub(super) fn push(&mut self, zone: &str, p: Vec2, t_s: f64, pressure: f64) {
        let point = TracePoint { t_s, u_mm: p.x, v_mm: p.y, pressure, line: 0 };
        self.rows.push((zone.to_string(), point));
        self.dirty = true;
    }
    pub(super) fn trace(&self) -> Trace {
        Trace { file: self.out.display().to_string(), has_pressure: true, rows: self.rows.clone() }
    }
    pub(super) fn save(&self) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        crate::app::output::write_atomic(&self.out, self.trace().to_csv().as_bytes())
    }
}

impl App {
    /// A trace sample where the pointer is (`pressure` 0 < p <= 1), or a
    /// lift where it left the skin.
    pub(super) fn trace_at(&mut self, at_px: (f64, f64), pressure: f64) {
        let (Some(tr), Some(live)) = (self.tracing.as_mut(), self.live.as_ref()) else { return };
        let now = Instant::now();
        let t = (now - *tr.started.get_or_insert(now)).as_secs_f64();
        let area = scene_area(live, self.cfg.panel);
        let hit = live.renderer.pick(self.orbit, area, at_px);
        let names: Vec<String> = tr.base.zones.iter().map(|z| z.name.clone()).collect();
        match hit {
            Some((z, p)) => {
                if let Some((lz, lp)) = tr.last
                    && lz != z
                {
                    tr.push(&names[lz], lp, t, 0.0); // left that zone: lift there
                }
                tr.push(&names[z], p, t, pressure.clamp(1e-3, 1.0));
                tr.last = Some((z, p));
            }
            None => {
                if let Some((lz, lp)) = tr.last.take() {
                    tr.push(&names[lz], lp, t, 0.0);
                }
            }
        }
    }

    /// The pointer went up: lift, write the trace, simulate it.
    pub(super) fn trace_end(&mut self) {
        let Some(tr) = self.tracing.as_mut() else { return };
        tr.drawing = false;
        if let (Some((lz, lp)), Some(start)) = (tr.last.take(), tr.started) {
            let name = tr.base.zones[lz].name.clone();
            tr.push(&name, lp, start.elapsed().as_secs_f64(), 0.0);
        }
        if let Err(e) = tr.save() {
            self.error = Some(format!("cannot write the trace: {e}"));
        }
    }

    /// Simulates the trace drawn so far (every 0.3 s while drawing, and when
    /// a stroke ends) and shows all of it.
    pub(super) fn retrace(&mut self) {
        let Some(tr) = self.tracing.as_mut() else { return };
        let due = tr.dirty && (!tr.drawing || tr.last_run.is_none_or(|t| t.elapsed().as_secs_f64() >= 0.3));
        if !due {
            return;
        }
        tr.dirty = false;
        tr.last_run = Some(Instant::now());
        let scene = match crate::core::trainer::trainee_scene(&tr.base, &tr.trace()) {
            Ok(s) => s,
            Err(e) => {
                self.controls.message = Some(format!("trace not simulated: {}", e.message));
                return;
            }
        };
        match crate::core::engine::run(&scene, &crate::core::engine::RunOptions::default()) {
            Ok(outcome) => {
                self.outcome = outcome;
                self.times = puncture_times(&self.outcome);
                self.end_s = self.times.last().copied().unwrap_or(0.0);
                self.time_s = self.end_s;
                if let Some(live) = self.live.as_mut() {
                    live.renderer = Renderer::new(&live.gpu, &self.outcome, live.config.format, self.layer);
                    live.renderer.set_range(&live.gpu, self.cfg.range_per_cm2);
                    self.controls.range_per_cm2 = live.renderer.range();
                }
            }
            Err(e) => self.controls.message = Some(format!("trace not simulated: {}", e.message)),
        }
    }
}
