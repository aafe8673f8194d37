//! Trace mode (`view --trace-out`): the pointer's path on the skin becomes a
//! trajectory, sampled at the pointer's speed, simulated again as it grows
//! and written after every stroke. Each sample is timed when its input event
//! arrived, and events that waited together while a frame was drawn are
//! spread over the time they waited ([`SampleClock`]).

use super::*;

/// A sample arriving within this of the last one's handling being done came
/// out of the queue behind it (a pointer reports every 1-8 ms; a queue
/// drains in microseconds).
pub(crate) const BURST_S: f64 = 0.000_5;
/// The most samples one burst may hold (a longer run of close arrivals is
/// timed as it came).
pub(crate) const MAX_BURST: usize = 512;

/// Times trace samples. winit gives an event no timestamp, and while the
/// loop draws a frame the pointer's events wait in the queue: a slow
/// renderer hands over 200 ms of a drag at once (10 mm in half a
/// millisecond, then a standstill), which stamped as they arrived would
/// clump the simulated punctures. So each run of samples that arrive
/// together is spread evenly over the time since the sample before it, or,
/// when the loop went busy after that, since the loop went busy: the events
/// were raised while they waited. A single sample keeps its arrival time.
#[derive(Clone, Debug, Default)]
pub(crate) struct SampleClock {
    /// When the last sample's handling was done, s.
    last_done: Option<f64>,
    /// First sample (index) of the current burst.
    from: usize,
    /// The burst's samples lie after this time.
    floor: f64,
    /// When the loop last went busy (a frame began), s.
    busy_from: f64,
}

impl SampleClock {
    /// The loop went busy at `t` (a frame began drawing): events from now
    /// on wait until it is done.
    pub(crate) fn busy(&mut self, t: f64) {
        self.busy_from = t;
    }

    /// The sample's event was handled by `t` (finding the skin under the
    /// pointer takes time; the next event waited behind it).
    pub(crate) fn handled(&mut self, t: f64) {
        self.last_done = Some(self.last_done.map_or(t, |d| d.max(t)));
    }

    /// A pointer event's handling was done at `t`; it `recorded` a sample,
    /// which the next one queued behind it joins in a burst, or none (off
    /// the skin), which ends the burst.
    pub(crate) fn event_done(&mut self, t: f64, recorded: bool) {
        if recorded {
            self.handled(t);
        } else {
            self.last_done = None;
        }
    }

    /// Sample `n - 1` arrived at `t`, the sample before it (if any) timed
    /// `before`: the first sample of its burst and the times of the burst's
    /// samples from there on.
    pub(crate) fn arrived(&mut self, t: f64, n: usize, before: Option<f64>) -> (usize, Vec<f64>) {
        if n == 0 {
            return (0, Vec::new());
        }
        let joins = self.last_done.is_some_and(|a| t - a <= BURST_S) && n - self.from < MAX_BURST;
        if !joins {
            self.from = n - 1;
            self.floor = before.unwrap_or(t).max(self.busy_from).min(t);
        }
        self.last_done = Some(t);
        let k = n - self.from;
        (self.from, (1..=k).map(|i| self.floor + (t - self.floor) * i as f64 / k as f64).collect())
    }
}

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
    /// Times the samples from their events' arrival.
    pub(super) clock: SampleClock,
}

impl Tracing {
    /// A sample whose event arrived `t_s` after the first.
    pub(super) fn push(&mut self, zone: &str, p: Vec2, t_s: f64, pressure: f64) {
        let point = TracePoint { t_s, u_mm: p.x, v_mm: p.y, pressure, line: 0 };
        let before = self.rows.last().map(|r| r.1.t_s);
        self.rows.push((zone.to_string(), point));
        let (from, times) = self.clock.arrived(t_s, self.rows.len(), before);
        for (row, t) in self.rows[from..].iter_mut().zip(times) {
            row.1.t_s = t;
        }
        self.dirty = true;
    }

    /// A frame began drawing now (events wait until it is done).
    pub(super) fn busy(&mut self) {
        if let Some(start) = self.started {
            self.clock.busy(start.elapsed().as_secs_f64());
        }
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
        let rows_before = tr.rows.len();
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
        // The next sample queued behind this one joins its burst; an event
        // that recorded nothing (off the skin) ends the burst.
        let recorded = tr.rows.len() > rows_before;
        tr.clock.event_done(tr.started.map_or(0.0, |s| s.elapsed().as_secs_f64()), recorded);
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
                    live.renderer.set_context(&live.gpu, self.cfg.head);
                    self.controls.range_per_cm2 = live.renderer.range();
                }
            }
            Err(e) => self.controls.message = Some(format!("trace not simulated: {}", e.message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady drag under a slow renderer: the pointer reports every 8 ms
    /// at 50 mm/s, and each frame takes 200 ms, during which the events wait
    /// and then arrive 20 µs apart. Timed as they arrive, the speed between
    /// samples swings from a standstill to metres a second; spread over the
    /// time they waited, it is steady.
    #[test]
    fn a_steady_drag_gives_a_steady_speed_under_a_slow_renderer() {
        let (speed, every, frame) = (50.0, 0.008, 0.2);
        let raised: Vec<f64> = (0..200).map(|k| k as f64 * every).collect();
        // Event k is handled when the frame it was raised in is done.
        let frame_end = |t: f64| ((t / frame).floor() + 1.0) * frame;
        let (mut clock, mut times, mut arrivals) = (SampleClock::default(), Vec::<f64>::new(), Vec::new());
        let mut last_end = f64::NEG_INFINITY;
        for &t in &raised {
            let end = frame_end(t);
            if end > last_end {
                // A frame began (and ran until `end`) before this event's turn.
                clock.busy(end - frame);
                last_end = end;
            }
            let queued = arrivals.iter().rev().take_while(|&&a: &&f64| a >= end).count();
            let arrival = end + queued as f64 * 2e-5;
            arrivals.push(arrival);
            let before = times.last().copied();
            times.push(arrival);
            let (from, ts) = clock.arrived(arrival, times.len(), before);
            times[from..].copy_from_slice(&ts);
            clock.handled(arrival + 1e-5);
        }
        let speeds = |ts: &[f64]| -> Vec<f64> {
            ts.windows(2).map(|w| speed * every / (w[1] - w[0]).max(1e-12)).collect::<Vec<_>>()
        };
        // Past the first frame (whose events have no earlier sample to spread from).
        let first = raised.iter().position(|&t| t >= frame).unwrap();
        let steady = speeds(&times[first..]);
        let naive = speeds(&arrivals[first..]);
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(max(&naive) > 10_000.0 && min(&naive) < 5.0, "timed at arrival the drag clumps");
        // A burst's span is known to within one report interval (the wait
        // began somewhere between two reports), so each step's speed is the
        // drag's within one report in a frame's worth (here 1/25: 4 %).
        let tolerance = every / frame * 1.01;
        assert!(
            steady.iter().all(|&v| (v - speed).abs() <= tolerance * speed),
            "spread over the wait, every step's speed is the drag's within {:.1} %: {:.2}..{:.2} mm/s",
            tolerance * 100.0,
            min(&steady),
            max(&steady)
        );
        let mean = steady.iter().sum::<f64>() / steady.len() as f64;
        assert!((mean - speed).abs() < 0.01 * speed, "mean {mean:.2} mm/s");
        // Times only grow, and each burst ends when it arrived.
        assert!(times.windows(2).all(|w| w[1] > w[0]));
        assert_eq!(times.last(), arrivals.last());
    }

    /// An event off the skin records nothing and ends the burst: the sample
    /// that re-enters 2 s later never moves the lift before it.
    #[test]
    fn an_event_that_records_nothing_ends_the_burst() {
        let mut clock = SampleClock::default();
        let mut times: Vec<f64> = Vec::new();
        let push = |clock: &mut SampleClock, times: &mut Vec<f64>, t: f64| {
            let before = times.last().copied();
            times.push(t);
            let (from, ts) = clock.arrived(t, times.len(), before);
            times[from..].copy_from_slice(&ts);
        };
        push(&mut clock, &mut times, 1.0);
        clock.event_done(1.0, true);
        push(&mut clock, &mut times, 1.04); // the lift as the pointer leaves
        clock.event_done(1.04, true);
        // Off the skin for 2 s: events every 10 ms that record nothing.
        for k in 1..=200 {
            clock.event_done(1.04 + k as f64 * 0.01, false);
        }
        // Back on the skin right after the last of them.
        push(&mut clock, &mut times, 3.0401);
        assert_eq!(times, [1.0, 1.04, 3.0401], "the lift stays where the pointer left");
    }

    /// Without a stall, samples keep their arrival times.
    #[test]
    fn samples_that_arrive_one_by_one_keep_their_times() {
        let mut clock = SampleClock::default();
        let mut times = Vec::new();
        for k in 0..50 {
            let t = 0.3 + k as f64 * 0.008;
            let before = times.last().copied();
            times.push(t);
            let (from, ts) = clock.arrived(t, times.len(), before);
            times[from..].copy_from_slice(&ts);
            clock.handled(t + 1e-4);
            assert_eq!(times[k], t);
        }
    }
}
