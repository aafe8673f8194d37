//! `needlemap view`: the live window (winit + wgpu). The treatment plays back
//! at a chosen speed; each frame the punctures made since the last one are
//! added to the skin's density on the GPU (the accumulation compute pass),
//! drawn by the same renderer as `needlemap render`.
//!
//! Keys: space pause/play, right arrow one stamp, N next lane, P next pass,
//! R restart, + / - speed x2 / /2, 1 2 3 front / left / right view,
//! D density, B target bands, H needle-disk hits, Tab panel, Q or Esc quit;
//! drag to orbit, right-drag (or middle-drag) to pan, wheel to zoom.
//!
//! With `--compare`, a second treatment plays in a second pane beside the
//! first, on the same camera, clock and colour scale. With `--trace-out`, the
//! left button (or a pen or finger) draws on the skin instead of orbiting (T
//! switches): the pointer's path is a trajectory, simulated again as it grows.

use crate::core::engine::Outcome;
use crate::core::geometry::shape::Vec2;
use crate::core::input::trajectory::{Trace, TracePoint};
use crate::gpu::Gpu;
use crate::gpu::cache::PaintCache;
use crate::gpu::render::{self, Layer, Orbit, Renderer, View};
use std::sync::Arc;
use std::time::Instant;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, KeyEvent, MouseButton, MouseScrollDelta, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Window, WindowId};

/// Settings of the window.
#[derive(Clone, Debug)]
pub struct ViewConfig {
    pub width: u32,
    pub height: u32,
    /// Treatment seconds per real second.
    pub speed: f64,
    pub layer: Layer,
    pub view: View,
    /// Quit after this many frames (for tests and timing).
    pub frames: Option<u64>,
    /// Save the last frame here (with `frames`).
    pub screenshot: Option<std::path::PathBuf>,
    /// Advance the treatment by this many seconds a frame instead of by the
    /// wall clock (reproducible playback for tests and recordings).
    pub step_s: Option<f64>,
    /// The density colour scale, punctures/cm2 (None: automatic).
    pub range_per_cm2: Option<[f64; 2]>,
    /// Whether the panel shows (Tab toggles it).
    pub panel: bool,
    /// Trace mode: where the drawn trajectory is written.
    pub trace_out: Option<std::path::PathBuf>,
}

pub const SHORTCUTS: &str = "space pause/play | -> one stamp | N next lane | P next pass | R restart | +/- speed | \
     1/2/3 front/left/right | D density | B bands | H hits | drag orbit | right-drag pan | wheel zoom | \
     Tab panel | T draw/orbit (trace mode) | Q quit";

/// The drawing of a trace (`--trace-out`).
struct Tracing {
    out: std::path::PathBuf,
    /// The scene whose zones the trace is drawn on.
    base: crate::core::input::scene::Scene,
    rows: Vec<(String, TracePoint)>,
    /// When the first sample was taken (sample times count from it).
    started: Option<Instant>,
    /// The pointer is down and drawing.
    drawing: bool,
    /// The last sample on the skin: zone and chart point.
    last: Option<(usize, Vec2)>,
    /// Samples came since the treatment was last simulated.
    dirty: bool,
    last_run: Option<Instant>,
    /// Left-drag draws (true) or orbits (T switches).
    enabled: bool,
}

impl Tracing {
    fn push(&mut self, zone: &str, p: Vec2, t_s: f64, pressure: f64) {
        let point = TracePoint { t_s, u_mm: p.x, v_mm: p.y, pressure, line: 0 };
        self.rows.push((zone.to_string(), point));
        self.dirty = true;
    }
    fn trace(&self) -> Trace {
        Trace { file: self.out.display().to_string(), has_pressure: true, rows: self.rows.clone() }
    }
    fn save(&self) -> Result<(), String> {
        if self.rows.is_empty() {
            return Ok(());
        }
        super::output::write_atomic(&self.out, self.trace().to_csv().as_bytes()).map_err(|e| format!("{e:#}"))
    }
}

struct Live {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    gpu: Gpu,
    renderer: Renderer,
    /// The second pane's treatment (`--compare`).
    other_renderer: Option<Renderer>,
    depth: wgpu::Texture,
    egui_ctx: egui::Context,
    egui_state: egui_winit::State,
    egui_renderer: egui_wgpu::Renderer,
    /// The panel's last paint jobs.
    egui_jobs: Vec<egui::ClippedPrimitive>,
    egui_ppp: f32,
    /// The panel as last painted (once per layout), laid over every frame.
    panel_cache: PaintCache,
    /// The panel was laid out since it was last painted.
    panel_dirty: bool,
    /// When the panel was last laid out (five times a second, and on input;
    /// the frames between paint the same layout).
    last_ui: Option<Instant>,
    /// The window's scale factor when it opened, and when the window opened.
    native_ppp: f32,
    opened: Instant,
}

/// The re-run controls of the panel.
#[derive(Clone, Debug, PartialEq)]
struct Controls {
    preset: String,
    speed_mm_s: f64,
    lane_spacing_mm: f64,
    /// Index into `PATTERN_SETS`.
    patterns: usize,
    message: Option<String>,
    /// The density colour scale as edited in the panel, punctures/cm2.
    range_per_cm2: [f64; 2],
}

/// Pass patterns the panel can apply to every zone.
const PATTERN_SETS: &[(&str, &[&str])] = &[
    ("as in the scene", &[]),
    ("H", &["horizontal"]),
    ("H + V", &["horizontal", "vertical"]),
    ("H + V + D", &["horizontal", "vertical", "diagonal"]),
    ("H + V + D + AD", &["horizontal", "vertical", "diagonal", "anti-diagonal"]),
];

struct App {
    /// The first GPU error reported (wgpu's uncaptured errors).
    gpu_error: Arc<std::sync::Mutex<Option<String>>>,
    outcome: Outcome,
    controls: Controls,
    cfg: ViewConfig,
    live: Option<Live>,
    error: Option<String>,
    time_s: f64,
    end_s: f64,
    playing: bool,
    orbit: Orbit,
    layer: Layer,
    last_frame: Option<Instant>,
    last_title: Option<Instant>,
    frames: u64,
    frame_ms: Vec<f64>,
    dragging: bool,
    cursor: Option<(f64, f64)>,
    /// All puncture times, sorted (for stepping).
    times: Vec<f64>,
    turn_time_s: f64,
    /// Input arrived since the panel was last laid out.
    ui_due: bool,
    /// Dragging with the right button pans.
    panning: bool,
    /// The second treatment (`--compare`), played beside the first.
    other: Option<Outcome>,
    tracing: Option<Tracing>,
}

impl App {
    fn start(&mut self, el: &ActiveEventLoop) -> Result<Live, String> {
        let attrs = Window::default_attributes()
            .with_title(format!("needlemap: {}", self.outcome.scene.name))
            .with_inner_size(PhysicalSize::new(self.cfg.width, self.cfg.height));
        let window = Arc::new(el.create_window(attrs).map_err(|e| format!("cannot open a window: {e}"))?);
        let instance = wgpu::Instance::new(
            wgpu::InstanceDescriptor::new_with_display_handle(Box::new(el.owned_display_handle())).with_env(),
        );
        let surface =
            instance.create_surface(window.clone()).map_err(|e| format!("cannot draw into the window: {e}"))?;
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(&surface),
            ..Default::default()
        }))
        .map_err(|e| format!("{} ({e})", crate::gpu::NO_ADAPTER_HELP))?;
        let gpu = Gpu::from_adapter(&adapter)?;
        // A GPU error (e.g. the window's surface gone) ends the window with a
        // message instead of wgpu's default panic.
        let gpu_error = self.gpu_error.clone();
        gpu.device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = gpu_error.lock().unwrap_or_else(|p| p.into_inner());
            // The error's description, in one line.
            slot.get_or_insert_with(|| match &e {
                wgpu::Error::Validation { description, .. } => {
                    description.split_whitespace().collect::<Vec<_>>().join(" ")
                }
                other => other.to_string(),
            });
        }));
        let size = window.inner_size();
        let native_ppp = window.scale_factor() as f32;
        let mut config = surface
            .get_default_config(&adapter, size.width.max(1), size.height.max(1))
            .ok_or("the window's surface is not supported by the adapter")?;
        // A plain (not sRGB) format, so colours match `render` and the PNG maps.
        let caps = surface.get_capabilities(&adapter);
        if let Some(f) = caps.formats.iter().find(|f| !f.is_srgb()) {
            config.format = *f;
        }
        config.present_mode = wgpu::PresentMode::AutoVsync;
        // The panel is copied onto each frame where the surface allows it.
        if caps.usages.contains(wgpu::TextureUsages::COPY_DST) {
            config.usage |= wgpu::TextureUsages::COPY_DST;
        }
        surface.configure(&gpu.device, &config);
        let mut renderer = Renderer::new(&gpu, &self.outcome, config.format, self.layer);
        let mut other_renderer = self.other.as_ref().map(|o| Renderer::new(&gpu, o, config.format, self.layer));
        // Both panes on one colour scale: the wider of the two automatic ones.
        let range = self.cfg.range_per_cm2.or_else(|| {
            other_renderer.as_ref().map(|r| {
                let (a, b) = (renderer.auto_range(), r.auto_range());
                [a[0].min(b[0]), a[1].max(b[1])]
            })
        });
        renderer.set_range(&gpu, range);
        if let Some(r) = other_renderer.as_mut() {
            r.set_range(&gpu, range);
        }
        self.controls.range_per_cm2 = renderer.range();
        let depth = render::depth_texture(&gpu, config.width, config.height);
        let panel_cache = PaintCache::new(&gpu, config.format, (config.width, config.height));
        let egui_ctx = egui::Context::default();
        // Light, on the white the frame is cleared to: the panel needs no
        // background fill, which on a software rasteriser costs as much as
        // the 3D view.
        egui_ctx.set_visuals(egui::Visuals::light());
        let egui_state = egui_winit::State::new(
            egui_ctx.clone(),
            egui::ViewportId::ROOT,
            &window,
            Some(window.scale_factor() as f32),
            None,
            Some(gpu.device.limits().max_texture_dimension_2d as usize),
        );
        // No dithering: the panel is flat colours on white, and the noise would
        // cost every pixel of its text.
        let options = egui_wgpu::RendererOptions { dithering: false, ..Default::default() };
        let egui_renderer = egui_wgpu::Renderer::new(&gpu.device, config.format, options);
        eprintln!("needlemap view: {} on {}; keys: {SHORTCUTS}", self.outcome.scene.name, gpu.adapter);
        Ok(Live {
            window,
            surface,
            config,
            gpu,
            renderer,
            other_renderer,
            depth,
            egui_ctx,
            egui_state,
            egui_renderer,
            egui_jobs: Vec::new(),
            egui_ppp: 1.0,
            panel_cache,
            panel_dirty: true,
            last_ui: None,
            native_ppp,
            opened: Instant::now(),
        })
    }

    fn resize(&mut self, size: PhysicalSize<u32>) {
        let Some(live) = self.live.as_mut() else { return };
        if size.width == 0 || size.height == 0 {
            return; // minimised: keep the old surface until it comes back
        }
        live.config.width = size.width;
        live.config.height = size.height;
        live.surface.configure(&live.gpu.device, &live.config);
        live.depth = render::depth_texture(&live.gpu, size.width, size.height);
        live.last_ui = None;
    }

    /// The next puncture time after `t` (one stamp on).
    fn next_stamp(&self, t: f64) -> f64 {
        let i = self.times.partition_point(|&x| x <= t);
        self.times.get(i).copied().unwrap_or(self.end_s)
    }

    /// The end of the current run of stamps (a gap of a turn ends a lane).
    fn next_lane(&self, t: f64) -> f64 {
        let mut i = self.times.partition_point(|&x| x <= t);
        while i + 1 < self.times.len() && self.times[i + 1] - self.times[i] < 0.5 * self.turn_time_s.max(0.01) {
            i += 1;
        }
        self.times.get(i).copied().unwrap_or(self.end_s)
    }

    /// The end of the pass going on at `t` (in any zone).
    fn next_pass(&self, t: f64) -> f64 {
        let mut best = self.end_s;
        for run in &self.outcome.simulation.zones {
            for r in &run.pass_ranges {
                if let Some(last) = run.punctures[r.clone()].last() {
                    let end = last.t_s as f64;
                    if end > t + 1e-9 && end < best {
                        best = end;
                    }
                }
            }
        }
        best
    }

    fn key(&mut self, el: &ActiveEventLoop, key: &Key) {
        match key {
            Key::Named(NamedKey::Space) => self.playing = !self.playing,
            Key::Named(NamedKey::ArrowRight) => {
                self.playing = false;
                self.time_s = self.next_stamp(self.time_s);
            }
            Key::Named(NamedKey::Escape) => el.exit(),
            Key::Named(NamedKey::Tab) => self.cfg.panel = !self.cfg.panel,
            Key::Character(c) => match c.as_str() {
                "q" | "Q" => el.exit(),
                "t" | "T" => {
                    if let Some(tr) = self.tracing.as_mut() {
                        tr.enabled = !tr.enabled;
                    }
                }
                "n" | "N" => {
                    self.playing = false;
                    self.time_s = self.next_lane(self.time_s);
                }
                "p" | "P" => {
                    self.playing = false;
                    self.time_s = self.next_pass(self.time_s);
                }
                "r" | "R" => self.time_s = 0.0,
                "+" | "=" => self.cfg.speed = (self.cfg.speed * 2.0).min(100_000.0),
                "-" => self.cfg.speed = (self.cfg.speed / 2.0).max(1.0),
                "1" => self.orbit = Orbit::from_view(View::Front),
                "2" => self.orbit = Orbit::from_view(View::Left),
                "3" => self.orbit = Orbit::from_view(View::Right),
                "d" | "D" => self.set_layer(Layer::Density),
                "b" | "B" => self.set_layer(Layer::Bands),
                "h" | "H" => self.set_layer(Layer::Hits),
                _ => {}
            },
            _ => {}
        }
    }

    fn set_layer(&mut self, layer: Layer) {
        self.layer = layer;
        if let Some(live) = self.live.as_mut() {
            live.renderer.set_layer(&live.gpu, &self.outcome, layer);
            if let (Some(r), Some(o)) = (live.other_renderer.as_mut(), self.other.as_ref()) {
                r.set_layer(&live.gpu, o, layer);
            }
        }
    }

    /// A trace sample where the pointer is (`pressure` 0 < p <= 1), or a
    /// lift where it left the skin.
    fn trace_at(&mut self, at_px: (f64, f64), pressure: f64) {
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
    fn trace_end(&mut self) {
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
    fn retrace(&mut self) {
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

    fn frame(&mut self, el: &ActiveEventLoop) {
        let now = Instant::now();
        if let Some(last) = self.last_frame {
            let dt = (now - last).as_secs_f64();
            self.frame_ms.push(dt * 1e3);
            if self.playing {
                let advance = self.cfg.step_s.unwrap_or(dt * self.cfg.speed);
                self.time_s = (self.time_s + advance).min(self.end_s);
            }
        }
        self.last_frame = Some(now);
        // The panel's figures (punctures shown as of the last frame).
        let panel = PanelState::of(
            self,
            self.live.as_ref().map(|l| l.renderer.shown_per_zone()).unwrap_or_default(),
            self.live.as_ref().and_then(|l| l.other_renderer.as_ref()).map(|r| r.shown_per_zone()).unwrap_or_default(),
        );
        let mut controls = self.controls.clone();
        let mut actions = Vec::new();
        let Some(live) = self.live.as_mut() else { return };
        live.renderer.set_time(&live.gpu, &self.outcome, self.time_s);
        // Dots for the last quarter-second of playback (at least one stamp).
        let recent_s = (0.25 * self.cfg.speed).max(0.02);
        live.renderer.set_markers(&live.gpu, &self.outcome, self.time_s, recent_s);
        if let (Some(r), Some(o)) = (live.other_renderer.as_mut(), self.other.as_ref()) {
            r.set_time(&live.gpu, o, self.time_s);
            r.set_markers(&live.gpu, o, self.time_s, recent_s);
        }
        let frame = match live.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(f) | wgpu::CurrentSurfaceTexture::Suboptimal(f) => f,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                // (Not the window's size here: asking a window that is gone panics in winit.)
                live.surface.configure(&live.gpu.device, &live.config);
                return;
            }
            _ => return, // timeout or occluded: try again next frame
        };
        let view = frame.texture.create_view(&Default::default());
        let depth = live.depth.create_view(&Default::default());
        let mut encoder =
            live.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        draw_panes(live, &mut encoder, &view, &depth, self.orbit, self.cfg.panel);
        // The panel: lay it out (five times a second, and on input), then draw it.
        let ui_due = (std::mem::take(&mut self.ui_due) || live.last_ui.is_none_or(|t| (now - t).as_secs_f64() >= 0.2))
            && self.cfg.panel;
        let mut textures = egui::TexturesDelta::default();
        if ui_due {
            live.last_ui = Some(now);
            let raw = panel_input(live);
            let mut output = live.egui_ctx.run_ui(raw, |ui| panel.show(ui, &mut controls, &mut actions));
            // Texture changes must be drained (applied), or epaint objects.
            textures = std::mem::take(&mut output.textures_delta);
            live.egui_state.handle_platform_output(&live.window, output.platform_output);
            live.egui_ppp = output.pixels_per_point;
            let jobs = live.egui_ctx.tessellate(output.shapes, output.pixels_per_point);
            // Painted again only when it changed (or its textures did): a
            // paused treatment's panel costs nothing more.
            if !same_paint(&jobs, &live.egui_jobs) || !textures.is_empty() {
                live.panel_dirty = true;
            }
            live.egui_jobs = jobs;
            for (id, deltas) in textures.set.drain() {
                for delta in &deltas {
                    live.egui_renderer.update_texture(&live.gpu.device, &live.gpu.queue, id, delta);
                }
            }
        }
        let extra = if self.cfg.panel { panel_over(live, &mut encoder, &view, &frame.texture) } else { Vec::new() };
        live.gpu.queue.submit(extra.into_iter().chain([encoder.finish()]));
        live.gpu.queue.present(frame);
        for id in textures.free.drain() {
            live.egui_renderer.free_texture(&id);
        }
        self.controls = controls;
        for a in actions {
            self.act(el, a);
        }
        let Some(live) = self.live.as_mut() else { return };
        self.frames += 1;
        // The title is a round trip to the window system: four times a second is plenty.
        let title_due = self.last_title.is_none_or(|t| (now - t).as_secs_f64() >= 0.25);
        if title_due {
            self.last_title = Some(now);
            live.window.set_title(&format!(
                "needlemap: {} | t = {:.1} / {:.1} s | x{} {} | {} punctures shown | {}",
                self.outcome.scene.name,
                self.time_s,
                self.end_s,
                self.cfg.speed,
                if self.playing { "playing" } else { "paused" },
                live.renderer.shown(),
                match self.layer {
                    Layer::Density => "density",
                    Layer::Bands => "target bands",
                    Layer::Hits => "needle-disk hits",
                },
            ));
        }
        if self.cfg.frames.is_some_and(|n| self.frames >= n) {
            el.exit(); // (the screenshot is taken once the window is closed)
        }
    }

    /// Draws the current frame once more offscreen, in the window's format and
    /// size, and saves it as PNG.
    fn screenshot(&mut self, path: &std::path::Path) -> Result<(), String> {
        let orbit = self.orbit;
        let live = self.live.as_mut().ok_or("no window")?;
        let (w, h) = (live.config.width, live.config.height);
        let texture = render::frame_texture(&live.gpu, w, h, live.config.format);
        let depth = render::depth_texture(&live.gpu, w, h);
        let mut encoder =
            live.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("screenshot") });
        draw_panes(
            live,
            &mut encoder,
            &texture.create_view(&Default::default()),
            &depth.create_view(&Default::default()),
            orbit,
            self.cfg.panel,
        );
        let extra = if self.cfg.panel {
            panel_over(live, &mut encoder, &texture.create_view(&Default::default()), &texture)
        } else {
            Vec::new()
        };
        live.gpu.queue.submit(extra);
        let mut pixels = render::read_texture(&live.gpu, encoder, &texture, w, h)?;
        if matches!(live.config.format, wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Bgra8UnormSrgb) {
            pixels.chunks_exact_mut(4).for_each(|p| p.swap(0, 2));
        }
        let img = image::RgbaImage::from_raw(w, h, pixels).ok_or("frame size")?;
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| e.to_string())?;
        super::output::write_atomic(path, &png).map_err(|e| format!("{e:#}"))
    }
}

impl ApplicationHandler for App {
    fn resumed(&mut self, el: &ActiveEventLoop) {
        if self.live.is_some() {
            return;
        }
        match self.start(el) {
            Ok(live) => {
                live.window.request_redraw();
                self.live = Some(live);
            }
            Err(e) => {
                self.error = Some(e);
                el.exit();
            }
        }
    }

    fn window_event(&mut self, el: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        if let Some(live) = self.live.as_mut() {
            if !matches!(event, WindowEvent::RedrawRequested) {
                self.ui_due = true;
            }
            let response = live.egui_state.on_window_event(&live.window, &event);
            if response.consumed && !matches!(event, WindowEvent::RedrawRequested | WindowEvent::Resized(_)) {
                return; // the panel took it
            }
        }
        match event {
            WindowEvent::CloseRequested | WindowEvent::Destroyed => el.exit(),
            WindowEvent::Resized(size) => self.resize(size),
            WindowEvent::RedrawRequested => {
                self.retrace();
                self.frame(el)
            }
            WindowEvent::KeyboardInput {
                event: KeyEvent { logical_key, state: ElementState::Pressed, .. }, ..
            } => self.key(el, &logical_key),
            WindowEvent::MouseInput { state, button: MouseButton::Left, .. }
                if self.tracing.as_ref().is_some_and(|t| t.enabled) =>
            {
                if state == ElementState::Pressed {
                    if let Some(tr) = self.tracing.as_mut() {
                        tr.drawing = true;
                    }
                    if let Some(at) = self.cursor {
                        self.trace_at(at, 1.0);
                    }
                } else {
                    self.trace_end();
                }
            }
            WindowEvent::Touch(touch) if self.tracing.as_ref().is_some_and(|t| t.enabled) => {
                let at = (touch.location.x, touch.location.y);
                let pressure = touch.force.map_or(1.0, |f| f.normalized());
                match touch.phase {
                    winit::event::TouchPhase::Started | winit::event::TouchPhase::Moved => {
                        if let Some(tr) = self.tracing.as_mut() {
                            tr.drawing = true;
                        }
                        self.trace_at(at, pressure);
                    }
                    winit::event::TouchPhase::Ended | winit::event::TouchPhase::Cancelled => self.trace_end(),
                }
            }
            WindowEvent::MouseInput { state, button: MouseButton::Left, .. } => {
                self.dragging = state == ElementState::Pressed
            }
            WindowEvent::MouseInput { state, button: MouseButton::Right | MouseButton::Middle, .. } => {
                self.panning = state == ElementState::Pressed
            }
            WindowEvent::CursorMoved { position, .. } if self.tracing.as_ref().is_some_and(|t| t.drawing) => {
                self.cursor = Some((position.x, position.y));
                self.trace_at((position.x, position.y), 1.0);
            }
            WindowEvent::CursorMoved { position, .. } => {
                if let Some((x, y)) = self.cursor {
                    let (dx, dy) = (position.x - x, position.y - y);
                    if self.dragging {
                        self.orbit.yaw_deg -= dx * 0.3;
                        self.orbit.pitch_deg = (self.orbit.pitch_deg + dy * 0.3).clamp(-85.0, 85.0);
                    } else if self.panning {
                        // The view's height spans about two bounding radii at zoom 1.
                        let per_px = 2.0 / (self.cfg.height.max(1) as f64 * self.orbit.zoom);
                        self.orbit.pan[0] -= dx * per_px;
                        self.orbit.pan[1] += dy * per_px;
                    }
                }
                self.cursor = Some((position.x, position.y));
            }
            WindowEvent::MouseWheel { delta, .. } => {
                let steps = match delta {
                    MouseScrollDelta::LineDelta(_, y) => y as f64,
                    MouseScrollDelta::PixelDelta(p) => p.y / 40.0,
                };
                self.orbit.zoom = (self.orbit.zoom * 1.1f64.powf(steps)).clamp(0.2, 10.0);
            }
            _ => {}
        }
    }

    fn about_to_wait(&mut self, el: &ActiveEventLoop) {
        let failed = self.gpu_error.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(e) = failed {
            self.error = Some(format!("the GPU reported an error, so the window closed: {e}"));
            el.exit();
            return;
        }
        if let Some(live) = &self.live {
            live.window.request_redraw();
        }
    }
}

/// What a finished window session reports.
pub struct ViewReport {
    pub frames: u64,
    /// Mean and 95th-percentile frame time, ms (first frame left out).
    pub frame_ms_mean: f64,
    pub frame_ms_p95: f64,
    /// Samples of the trace drawn (trace mode).
    pub trace_samples: usize,
}

/// Opens the window and plays `outcome` until closed (or `frames` are shown).
pub fn run(outcome: Outcome, other: Option<Outcome>, cfg: ViewConfig) -> Result<ViewReport, String> {
    let event_loop = EventLoop::new().map_err(|e| {
        format!("cannot open a window ({e}); on a machine without a display use `needlemap render`, or run under `xvfb-run -a`")
    })?;
    event_loop.set_control_flow(ControlFlow::Poll);
    let times = puncture_times(&outcome);
    let end_s = times
        .last()
        .copied()
        .unwrap_or(0.0)
        .max(other.as_ref().map_or(0.0, |o| puncture_times(o).last().copied().unwrap_or(0.0)));
    let tracing = cfg.trace_out.clone().map(|out| Tracing {
        out,
        base: outcome.scene.clone(),
        rows: Vec::new(),
        started: None,
        drawing: false,
        last: None,
        dirty: false,
        last_run: None,
        enabled: true,
    });
    let controls = Controls {
        preset: outcome.scene.cartridge.name.clone(),
        speed_mm_s: outcome.scene.hand.speed_mm_s,
        lane_spacing_mm: first_lane_spacing(&outcome.scene).unwrap_or(4.0),
        patterns: 0,
        message: None,
        range_per_cm2: cfg.range_per_cm2.unwrap_or([0.0, 1.0]),
    };
    let turn_time_s = outcome.scene.hand.turn_time_s;
    let mut app = App {
        gpu_error: Arc::default(),
        outcome,
        controls,
        orbit: Orbit::from_view(cfg.view),
        layer: cfg.layer,
        cfg,
        live: None,
        error: None,
        time_s: 0.0,
        end_s,
        playing: true,
        last_frame: None,
        last_title: None,
        frames: 0,
        frame_ms: Vec::new(),
        dragging: false,
        cursor: None,
        times,
        turn_time_s,
        ui_due: true,
        panning: false,
        other,
        tracing,
    };
    event_loop.run_app(&mut app).map_err(|e| format!("the window's event loop failed: {e}"))?;
    // Drawing was under way when the window closed: end the stroke.
    if app.tracing.as_ref().is_some_and(|t| t.drawing) {
        app.trace_end();
    }
    if let Some(tr) = &app.tracing
        && let Err(e) = tr.save()
    {
        app.error.get_or_insert(format!("cannot write the trace: {e}"));
    }
    if let (Some(path), None) = (app.cfg.screenshot.clone(), &app.error) {
        app.retrace();
        if let Some(live) = app.live.as_mut() {
            live.renderer.set_time(&live.gpu, &app.outcome, app.time_s);
        }
        if let Err(e) = app.screenshot(&path) {
            app.error = Some(e);
        }
    }
    if let Some(e) = app.error {
        return Err(e);
    }
    let mut ms: Vec<f64> = app.frame_ms.iter().skip(1).copied().collect();
    ms.sort_by(f64::total_cmp);
    let mean = if ms.is_empty() { 0.0 } else { ms.iter().sum::<f64>() / ms.len() as f64 };
    let p95 = ms.get(((ms.len() as f64) * 0.95) as usize).or(ms.last()).copied().unwrap_or(0.0);
    let trace_samples = app.tracing.as_ref().map_or(0, |t| t.rows.len());
    Ok(ViewReport { frames: app.frames, frame_ms_mean: mean, frame_ms_p95: p95, trace_samples })
}

/// What the panel asks for.
enum Action {
    TogglePlay,
    Restart,
    StepStamp,
    StepLane,
    StepPass,
    Layer(Layer),
    View(View),
    Rerun,
    /// A new density colour scale (None: automatic).
    Range(Option<[f64; 2]>),
}

/// One zone's row in the panel.
struct ZoneRow {
    name: String,
    shown: usize,
    now_per_cm2: f64,
    end_per_cm2: f64,
    coverage: f64,
    bands: Option<(f64, f64)>,
}

/// The figures the panel shows, copied out for one frame.
struct PanelState {
    scene: String,
    time_s: f64,
    end_s: f64,
    speed: f64,
    playing: bool,
    layer: Layer,
    zones: Vec<ZoneRow>,
    /// The target band every zone shares, if one.
    target_per_cm2: Option<[f64; 2]>,
    /// The second pane's treatment: its name and zones (`--compare`).
    other: Option<(String, Vec<ZoneRow>)>,
    /// Trace mode, in words.
    tracing: Option<String>,
}

/// The panel's zone rows of a treatment, with `shown` punctures drawn so far.
fn zone_rows(o: &Outcome, shown: Vec<usize>) -> Vec<ZoneRow> {
    o.zones
        .iter()
        .zip(shown.into_iter().chain(std::iter::repeat(0)))
        .map(|(z, n)| ZoneRow {
            name: z.name.clone(),
            shown: n,
            now_per_cm2: if z.area_cm2 > 0.0 { n as f64 / z.area_cm2 } else { 0.0 },
            end_per_cm2: z.density_per_cm2.mean,
            coverage: z.coverage_fraction,
            bands: z.under_fraction.zip(z.over_fraction),
        })
        .collect()
}

impl PanelState {
    fn of(app: &App, shown: Vec<usize>, other_shown: Vec<usize>) -> PanelState {
        let zones = zone_rows(&app.outcome, shown);
        PanelState {
            other: app.other.as_ref().map(|o| (o.scene.name.clone(), zone_rows(o, other_shown))),
            tracing: app.tracing.as_ref().map(|t| {
                format!(
                    "trace mode: {} (T switches); {} samples, written to {}",
                    if t.enabled { "left-drag draws on the skin" } else { "left-drag orbits" },
                    t.rows.len(),
                    t.out.display()
                )
            }),
            scene: app.outcome.scene.name.clone(),
            time_s: app.time_s,
            end_s: app.end_s,
            speed: app.cfg.speed,
            playing: app.playing,
            layer: app.layer,
            zones,
            target_per_cm2: render::shared_target(&app.outcome),
        }
    }

    fn show(&self, ui: &mut egui::Ui, c: &mut Controls, actions: &mut Vec<Action>) {
        let frame = egui::Frame::NONE.inner_margin(egui::Margin::same(8));
        egui::Panel::right("needlemap-panel").exact_size(PANEL_WIDTH_PX).frame(frame).show(ui, |ui| {
            match &self.other {
                Some((other, _)) => ui.heading(format!("left: {} | right: {}", self.scene, other)),
                None => ui.heading(format!("needlemap: {}", self.scene)),
            };
            if let Some(t) = &self.tracing {
                ui.label(t);
            }
            ui.label(format!("treatment time {:.1} s of {:.1} s, at x{}", self.time_s, self.end_s, self.speed));
            ui.horizontal(|ui| {
                for (label, action) in [
                    (if self.playing { "pause" } else { "play" }, Action::TogglePlay),
                    ("restart", Action::Restart),
                    ("stamp", Action::StepStamp),
                    ("lane", Action::StepLane),
                    ("pass", Action::StepPass),
                ] {
                    if ui.button(label).clicked() {
                        actions.push(action);
                    }
                }
            });
            ui.horizontal(|ui| {
                ui.label("layer");
                for (layer, name) in
                    [(Layer::Density, "density"), (Layer::Bands, "target bands"), (Layer::Hits, "hits")]
                {
                    if ui.selectable_label(self.layer == layer, name).clicked() {
                        actions.push(Action::Layer(layer));
                    }
                }
            });
            self.legend(ui, c, actions);
            ui.horizontal(|ui| {
                ui.label("view");
                for (name, v) in [("front", View::Front), ("left", View::Left), ("right", View::Right)] {
                    if ui.button(name).clicked() {
                        actions.push(Action::View(v));
                    }
                }
            });
            ui.separator();
            ui.label("zones: density so far, and at the end of the treatment");
            let mut tables = vec![(self.scene.clone(), &self.zones)];
            if let Some((name, rows)) = &self.other {
                tables.push((name.clone(), rows));
            }
            let compare = tables.len() > 1;
            for (i, (name, rows)) in tables.into_iter().enumerate() {
                if compare {
                    ui.strong(format!("{}: {name}", ["left", "right"][i]));
                }
                egui::Grid::new(("zones", i)).striped(true).show(ui, |ui| {
                    for h in ["zone", "shown", "/cm² now", "/cm² end", "cover", "under/over"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for z in rows {
                        ui.label(&z.name);
                        ui.label(format!("{}", z.shown));
                        ui.label(format!("{:.0}", z.now_per_cm2));
                        ui.label(format!("{:.0}", z.end_per_cm2));
                        ui.label(format!("{:.0}%", z.coverage * 100.0));
                        ui.label(match z.bands {
                            Some((u, o)) => format!("{:.0}% / {:.0}%", u * 100.0, o * 100.0),
                            None => "-".into(),
                        });
                        ui.end_row();
                    }
                });
            }
            ui.separator();
            ui.label("change the treatment and run it again");
            egui::ComboBox::from_label("cartridge").selected_text(c.preset.clone()).show_ui(ui, |ui| {
                for p in crate::core::input::cartridge::PRESETS {
                    ui.selectable_value(&mut c.preset, p.name.to_string(), p.name);
                }
            });
            ui.add(egui::Slider::new(&mut c.speed_mm_s, 2.0..=120.0).text("glide mm/s").logarithmic(true));
            ui.add(egui::Slider::new(&mut c.lane_spacing_mm, 0.5..=25.0).text("lane spacing mm"));
            egui::ComboBox::from_label("passes").selected_text(PATTERN_SETS[c.patterns].0).show_ui(ui, |ui| {
                for (i, (name, _)) in PATTERN_SETS.iter().enumerate() {
                    ui.selectable_value(&mut c.patterns, i, *name);
                }
            });
            if ui.button("run again").clicked() {
                actions.push(Action::Rerun);
            }
            if let Some(m) = &c.message {
                ui.label(m);
            }
            ui.separator();
            egui::CollapsingHeader::new("keys").default_open(true).show(ui, |ui| {
                for k in SHORTCUTS.split(" | ") {
                    ui.label(k);
                }
            });
        });
    }
}

impl PanelState {
    /// The layer's colorbar (density, with its range editable) or swatches.
    fn legend(&self, ui: &mut egui::Ui, c: &mut Controls, actions: &mut Vec<Action>) {
        let rgb = |c: plotters::style::RGBColor| egui::Color32::from_rgb(c.0, c.1, c.2);
        match self.layer {
            Layer::Density => {
                let [lo, hi] = c.range_per_cm2;
                ui.label("punctures/cm² (striped: beyond the scale, clamped)");
                let (rect, _) = ui.allocate_exact_size(egui::vec2(PANEL_WIDTH_PX - 40.0, 16.0), egui::Sense::hover());
                let steps = 64;
                for i in 0..steps {
                    let x0 = rect.left() + rect.width() * i as f32 / steps as f32;
                    let x1 = rect.left() + rect.width() * (i + 1) as f32 / steps as f32;
                    let v = colorous::VIRIDIS.eval_continuous((i as f64 + 0.5) / steps as f64);
                    let r = egui::Rect::from_min_max(egui::pos2(x0, rect.top()), egui::pos2(x1 + 0.5, rect.bottom()));
                    ui.painter().rect_filled(r, 0.0, egui::Color32::from_rgb(v.r, v.g, v.b));
                }
                if let Some(t) = self.target_per_cm2 {
                    for v in t.into_iter().filter(|v| *v >= lo && *v <= hi) {
                        let x = rect.left() + rect.width() * ((v - lo) / (hi - lo)) as f32;
                        let line = [egui::pos2(x, rect.top() - 2.0), egui::pos2(x, rect.bottom() + 2.0)];
                        ui.painter().line_segment(line, egui::Stroke::new(3.0, egui::Color32::WHITE));
                        ui.painter().line_segment(line, egui::Stroke::new(1.0, egui::Color32::BLACK));
                    }
                }
                let mut range = c.range_per_cm2;
                let (lo_max, hi_min) = (range[1] - 1.0, range[0] + 1.0);
                ui.horizontal(|ui| {
                    ui.add(egui::DragValue::new(&mut range[0]).range(0.0..=lo_max).speed(10.0));
                    if let Some(t) = self.target_per_cm2 {
                        ui.label(format!("lines: target {:.0}–{:.0}", t[0], t[1]));
                    }
                    ui.add(egui::DragValue::new(&mut range[1]).range(hi_min..=1e6).speed(10.0));
                    if ui.button("auto").clicked() {
                        actions.push(Action::Range(None));
                    }
                });
                if range != c.range_per_cm2 && range[0] < range[1] {
                    c.range_per_cm2 = range;
                    actions.push(Action::Range(Some(range)));
                }
            }
            Layer::Bands | Layer::Hits => {
                use crate::app::plot::{HITS, IN_BAND, OVER, UNDER};
                let items: Vec<(egui::Color32, String)> = if self.layer == Layer::Bands {
                    let t = self
                        .target_per_cm2
                        .map_or("each zone's target".to_string(), |t| format!("{:.0}–{:.0} /cm²", t[0], t[1]));
                    vec![
                        (rgb(UNDER), "under".into()),
                        (rgb(IN_BAND), format!("in band {t}")),
                        (rgb(OVER), "over".into()),
                    ]
                } else {
                    ["0", "1", "2", "3+"].iter().zip(HITS).map(|(l, c)| (rgb(c), format!("{l} disks"))).collect()
                };
                ui.horizontal_wrapped(|ui| {
                    for (colour, label) in items {
                        let (rect, _) = ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                        ui.painter().rect_filled(rect, 0.0, colour);
                        ui.label(label);
                    }
                });
            }
        }
    }
}

/// Width of the panel, points.
const PANEL_WIDTH_PX: f32 = 400.0;

/// The part of the window the 3D view fills: left of the panel (all of it
/// when the window is too narrow for both), pixels.
fn scene_area(live: &Live, panel: bool) -> [u32; 4] {
    let (w, h) = (live.config.width, live.config.height);
    let panel_px = (PANEL_WIDTH_PX * live.egui_ppp).ceil() as u32;
    if panel && w > panel_px + 200 { [0, 0, w - panel_px, h] } else { [0, 0, w, h] }
}

/// The panel's input since the last layout, with the screen size taken from
/// the surface (kept by `Resized` events): `egui_winit`'s `take_egui_input`
/// asks the window for its size, and winit panics when the window has just
/// been destroyed under the app (a race with its `Destroyed` event).
fn panel_input(live: &mut Live) -> egui::RawInput {
    let ppp = live.egui_ctx.zoom_factor() * live.native_ppp;
    let size = egui::vec2(live.config.width as f32, live.config.height as f32) / ppp;
    let input = live.egui_state.egui_input_mut();
    input.time = Some(live.opened.elapsed().as_secs_f64());
    input.screen_rect = (size.x > 0.0 && size.y > 0.0).then(|| egui::Rect::from_min_size(egui::Pos2::ZERO, size));
    input.viewport_id = egui::ViewportId::ROOT;
    input.viewports.entry(egui::ViewportId::ROOT).or_default().native_pixels_per_point = Some(live.native_ppp);
    input.take()
}

/// Draws the 3D view: one pane, or two side by side (`--compare`).
fn draw_panes(
    live: &Live,
    encoder: &mut wgpu::CommandEncoder,
    target: &wgpu::TextureView,
    depth: &wgpu::TextureView,
    orbit: Orbit,
    panel: bool,
) {
    let [x, y, w, h] = scene_area(live, panel);
    match &live.other_renderer {
        None => live.renderer.draw(&live.gpu, encoder, target, depth, orbit, [x, y, w, h], true),
        Some(other) => {
            let half = w / 2;
            live.renderer.draw(&live.gpu, encoder, target, depth, orbit, [x, y, half, h], true);
            other.draw(&live.gpu, encoder, target, depth, orbit, [x + half, y, w - half, h], false);
        }
    }
}

/// Lays the panel over `view` of `texture` (the window's size): from its
/// cache, painted again first when the panel was laid out since (or the
/// window resized). Painted on the white the frame is cleared to, and
/// copied, when it all lies beside the 3D view; else painted on transparent
/// and blended over it (a narrow window, an open drop-down list).
/// Returns the command buffers to submit before `encoder`'s.
fn panel_over(
    live: &mut Live,
    encoder: &mut wgpu::CommandEncoder,
    view: &wgpu::TextureView,
    texture: &wgpu::Texture,
) -> Vec<wgpu::CommandBuffer> {
    let size = (live.config.width, live.config.height);
    let mut extra = Vec::new();
    if live.panel_cache.fit(&live.gpu, size) || std::mem::take(&mut live.panel_dirty) {
        let rect = painted_rect(&live.egui_jobs, live.egui_ppp, size);
        let [scene_x, _, scene_w, _] = scene_area(live, true);
        let opaque = rect[0] >= scene_x + scene_w || rect[0] + rect[2] <= scene_x;
        let background = if opaque { wgpu::Color::WHITE } else { wgpu::Color::TRANSPARENT };
        let target = live.panel_cache.target().clone();
        extra = paint_panel(live, encoder, &target, wgpu::LoadOp::Clear(background));
        (live.panel_cache.rect, live.panel_cache.opaque) = (rect, opaque);
    }
    live.panel_cache.draw(encoder, view, Some(texture));
    extra
}

/// Whether two lists of paint jobs draw the same (meshes compared
/// vertex by vertex; a paint callback never counts as the same).
fn same_paint(a: &[egui::ClippedPrimitive], b: &[egui::ClippedPrimitive]) -> bool {
    use egui::epaint::Primitive;
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.clip_rect == b.clip_rect
                && match (&a.primitive, &b.primitive) {
                    (Primitive::Mesh(a), Primitive::Mesh(b)) => a == b,
                    _ => false,
                }
        })
}

/// The pixels the paint jobs touch (x, y, width, height): the union of
/// their meshes' bounds within their clip rectangles, within `size`.
fn painted_rect(jobs: &[egui::ClippedPrimitive], ppp: f32, size: (u32, u32)) -> [u32; 4] {
    let mut all = egui::Rect::NOTHING;
    for job in jobs {
        if let egui::epaint::Primitive::Mesh(mesh) = &job.primitive {
            let bounds = egui::Rect::from_points(&mesh.vertices.iter().map(|v| v.pos).collect::<Vec<_>>());
            all = all.union(bounds.intersect(job.clip_rect));
        }
    }
    if !all.is_positive() {
        return [0; 4];
    }
    let px = |v: f32, limit: u32| (v * ppp).clamp(0.0, limit as f32);
    let (x0, y0) = (px(all.min.x, size.0).floor() as u32, px(all.min.y, size.1).floor() as u32);
    let (x1, y1) = (px(all.max.x, size.0).ceil() as u32, px(all.max.y, size.1).ceil() as u32);
    [x0, y0, x1 - x0, y1 - y0]
}

/// Paints the panel's last paint jobs into `view` (`load`: what is there
/// first); returns the command buffers to submit before `encoder`'s.
fn paint_panel(
    live: &mut Live,
    encoder: &mut wgpu::CommandEncoder,
    view: &wgpu::TextureView,
    load: wgpu::LoadOp<wgpu::Color>,
) -> Vec<wgpu::CommandBuffer> {
    let screen = egui_wgpu::ScreenDescriptor {
        size_in_pixels: [live.config.width, live.config.height],
        pixels_per_point: live.egui_ppp,
    };
    let extra = live.egui_renderer.update_buffers(&live.gpu.device, &live.gpu.queue, encoder, &live.egui_jobs, &screen);
    let mut pass = encoder
        .begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("panel"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations { load, store: wgpu::StoreOp::Store },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        })
        .forget_lifetime();
    live.egui_renderer.render(&mut pass, &live.egui_jobs, &screen);
    extra
}

/// The lane spacing of the scene's first lane pass.
fn first_lane_spacing(scene: &crate::core::input::scene::Scene) -> Option<f64> {
    scene.zones.iter().flat_map(|z| &z.passes).find_map(|p| match p.kind {
        crate::core::input::scene::PassKind::Lanes { lane_spacing_mm, .. } => Some(lane_spacing_mm),
        _ => None,
    })
}

impl App {
    fn act(&mut self, el: &ActiveEventLoop, action: Action) {
        match action {
            Action::TogglePlay => self.playing = !self.playing,
            Action::Restart => self.time_s = 0.0,
            Action::StepStamp => self.key(el, &Key::Named(NamedKey::ArrowRight)),
            Action::StepLane => self.key(el, &Key::Character("n".into())),
            Action::StepPass => self.key(el, &Key::Character("p".into())),
            Action::Layer(l) => self.set_layer(l),
            Action::View(v) => self.orbit = Orbit::from_view(v),
            Action::Rerun => self.rerun(),
            Action::Range(range) => {
                if let Some(live) = self.live.as_mut() {
                    live.renderer.set_range(&live.gpu, range);
                    self.controls.range_per_cm2 = live.renderer.range();
                    if let Some(r) = live.other_renderer.as_mut() {
                        r.set_range(&live.gpu, Some(self.controls.range_per_cm2));
                    }
                }
            }
        }
    }

    /// Applies the panel's controls to the scene and runs it again.
    fn rerun(&mut self) {
        let scene = match rebuilt_scene(&self.outcome.scene, &self.controls) {
            Ok(s) => s,
            Err(e) => {
                self.controls.message = Some(format!("not run: {e}"));
                return;
            }
        };
        let t0 = Instant::now();
        match crate::core::engine::run(&scene, &crate::core::engine::RunOptions::default()) {
            Ok(outcome) => {
                self.outcome = outcome;
                let times = puncture_times(&self.outcome);
                self.end_s = times.last().copied().unwrap_or(0.0);
                self.times = times;
                self.time_s = 0.0;
                self.playing = true;
                if let Some(live) = self.live.as_mut() {
                    live.renderer = Renderer::new(&live.gpu, &self.outcome, live.config.format, self.layer);
                    live.renderer.set_range(&live.gpu, self.cfg.range_per_cm2);
                    self.controls.range_per_cm2 = live.renderer.range();
                }
                self.controls.message = Some(format!(
                    "ran again in {:.0} ms: {} punctures",
                    t0.elapsed().as_secs_f64() * 1e3,
                    self.outcome.simulation.punctures()
                ));
            }
            Err(e) => self.controls.message = Some(format!("not run: {}", e.message)),
        }
    }
}

/// Every puncture's time, sorted (for stepping and the end of playback).
fn puncture_times(outcome: &Outcome) -> Vec<f64> {
    let mut times: Vec<f64> =
        outcome.simulation.zones.iter().flat_map(|z| z.punctures.iter().map(|p| p.t_s as f64)).collect();
    times.sort_by(f64::total_cmp);
    times
}

/// The scene with the panel's controls applied: cartridge preset, glide
/// speed, lane spacing, and (unless "as in the scene") the same passes in
/// every zone.
fn rebuilt_scene(
    scene: &crate::core::input::scene::Scene,
    c: &Controls,
) -> Result<crate::core::input::scene::Scene, String> {
    let patterns = PATTERN_SETS[c.patterns].1;
    crate::core::study::strategy::Variation {
        cartridge: Some(c.preset.clone()),
        speed_mm_s: Some(c.speed_mm_s),
        lane_spacing_mm: Some(c.lane_spacing_mm),
        patterns: (!patterns.is_empty()).then(|| patterns.iter().map(|p| p.to_string()).collect()),
        ..Default::default()
    }
    .apply(scene, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::input::scene::{PassKind, Scene};

    #[test]
    fn the_panel_controls_rebuild_a_scene_that_runs() {
        let text = include_str!("../../scenes/forehead.toml");
        let scene = Scene::from_toml_str(text, "forehead.toml").unwrap();
        let c = Controls {
            preset: "pen-11".into(),
            speed_mm_s: 20.0,
            lane_spacing_mm: 3.0,
            patterns: 2,
            message: None,
            range_per_cm2: [0.0, 1.0],
        };
        let s = rebuilt_scene(&scene, &c).unwrap();
        assert_eq!(s.cartridge.name, "pen-11");
        assert_eq!(s.zones[0].passes.len(), 2, "H + V");
        for p in &s.zones[0].passes {
            assert_eq!(p.rate_hz, Some(90.0));
            assert_eq!(p.speed_mm_s, 20.0);
            assert!(matches!(p.kind, PassKind::Lanes { lane_spacing_mm: 3.0, .. }));
        }
        let o = crate::core::engine::run(&s, &Default::default()).unwrap();
        // Two passes of the lattice law: 11 x 90 / (20 x 3) per mm2, x 100 per cm2.
        let law = 2.0 * 11.0 * 90.0 / (20.0 * 3.0) * 100.0;
        assert!(
            (o.zones[0].density_per_cm2.mean / law - 1.0).abs() < 0.1,
            "{} vs {law}",
            o.zones[0].density_per_cm2.mean
        );
        let roller = Controls { preset: "roller-192".into(), ..c };
        let s = rebuilt_scene(&scene, &roller).unwrap();
        assert!(s.zones[0].passes.iter().all(|p| p.rate_hz.is_none()));
        let unknown = rebuilt_scene(&scene, &Controls { preset: "pen-99".into(), ..roller }).unwrap_err();
        assert!(unknown.contains("not a cartridge preset"), "{unknown}");
    }
}
