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
use crate::gpu::render::{self, Background, Layer, Orbit, Renderer, View};
use anyhow::Context;
use std::sync::Arc;
use std::time::Instant;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, KeyEvent, MouseButton, MouseScrollDelta, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Window, WindowId};

mod panel;
mod trace;

use panel::*;
use trace::Tracing;

/// Settings of the window.
#[derive(Clone, Debug)]
pub struct ViewConfig {
    /// Window width, pixels.
    pub width: u32,
    /// Window height, pixels.
    pub height: u32,
    /// Treatment seconds per real second.
    pub speed: f64,
    /// The layer painted on the skin at the start.
    pub layer: Layer,
    /// Where the camera looks from at the start.
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
    /// Whether the head is drawn around built-in zones on it.
    pub head: bool,
    /// Trace mode: where the drawn trajectory is written.
    pub trace_out: Option<std::path::PathBuf>,
}

/// The window's keys and mouse actions, as shown after `needlemap view --help`.
pub const SHORTCUTS: &str = "space pause/play | -> one stamp | N next lane | P next pass | R restart | +/- speed | \
     1/2/3 front/left/right | D density | B bands | H hits | click: zone and chart point | drag orbit | right-drag pan | wheel zoom | \
     Tab panel | T draw/orbit (trace mode) | Q quit";

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
    /// Where the left button went down (a click, if it comes up near there).
    pressed_at: Option<(f64, f64)>,
    /// The last skin point clicked, as printed (shown in the panel).
    picked: Option<String>,
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
    fn start(&mut self, el: &ActiveEventLoop) -> anyhow::Result<Live> {
        let attrs = Window::default_attributes()
            .with_title(format!("needlemap: {}", self.outcome.scene.name))
            .with_inner_size(PhysicalSize::new(self.cfg.width, self.cfg.height));
        let window = Arc::new(el.create_window(attrs).map_err(|e| anyhow::anyhow!("cannot open a window: {e}"))?);
        let instance = wgpu::Instance::new(
            wgpu::InstanceDescriptor::new_with_display_handle(Box::new(el.owned_display_handle())).with_env(),
        );
        let surface =
            instance.create_surface(window.clone()).map_err(|e| anyhow::anyhow!("cannot draw into the window: {e}"))?;
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(&surface),
            ..Default::default()
        }))
        .map_err(|e| anyhow::anyhow!("{} ({e})", crate::gpu::NO_ADAPTER_HELP))?;
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
            .context("the window's surface is not supported by the adapter")?;
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
        renderer.set_context(&gpu, self.cfg.head);
        if let Some(r) = other_renderer.as_mut() {
            r.set_range(&gpu, range);
            r.set_context(&gpu, self.cfg.head);
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
    fn screenshot(&mut self, path: &std::path::Path) -> anyhow::Result<()> {
        let orbit = self.orbit;
        let live = self.live.as_mut().context("no window")?;
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
        let img = image::RgbaImage::from_raw(w, h, pixels).context("frame size")?;
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        super::output::write_atomic(path, &png)
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
                self.error = Some(format!("{e:#}"));
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
                if let Some(tr) = self.tracing.as_mut() {
                    tr.busy(); // the pointer's events wait from here until the frame is drawn
                }
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
                self.dragging = state == ElementState::Pressed;
                // A click (pressed and released within a few pixels, not an
                // orbit drag) on the skin prints the zone and chart point.
                match (state, self.cursor) {
                    (ElementState::Pressed, at) => self.pressed_at = at,
                    (ElementState::Released, Some(at)) => {
                        if let Some(p) = self.pressed_at.take()
                            && (p.0 - at.0).hypot(p.1 - at.1) <= CLICK_SLOP_PX
                        {
                            self.click(at);
                        }
                    }
                    _ => {}
                }
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
    /// Frames drawn.
    pub frames: u64,
    /// Mean frame time, ms (first frame left out).
    pub frame_ms_mean: f64,
    /// 95th-percentile frame time, ms (first frame left out).
    pub frame_ms_p95: f64,
    /// Samples of the trace drawn (trace mode).
    pub trace_samples: usize,
}

/// Opens the window and plays `outcome` until closed (or `frames` are shown).
pub fn run(outcome: Outcome, other: Option<Outcome>, cfg: ViewConfig) -> anyhow::Result<ViewReport> {
    let event_loop = EventLoop::new().map_err(|e| {
        anyhow::anyhow!("cannot open a window ({e}); on a machine without a display use `needlemap render`, or run under `xvfb-run -a`")
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
        clock: Default::default(),
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
        pressed_at: None,
        picked: None,
        times,
        turn_time_s,
        ui_due: true,
        panning: false,
        other,
        tracing,
    };
    event_loop.run_app(&mut app).map_err(|e| anyhow::anyhow!("the window's event loop failed: {e}"))?;
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
            app.error = Some(format!("{e:#}"));
        }
    }
    if let Some(e) = app.error {
        return Err(anyhow::anyhow!(e));
    }
    let mut ms: Vec<f64> = app.frame_ms.iter().skip(1).copied().collect();
    ms.sort_by(f64::total_cmp);
    let mean = if ms.is_empty() { 0.0 } else { ms.iter().sum::<f64>() / ms.len() as f64 };
    let p95 = ms.get(((ms.len() as f64) * 0.95) as usize).or(ms.last()).copied().unwrap_or(0.0);
    let trace_samples = app.tracing.as_ref().map_or(0, |t| t.rows.len());
    Ok(ViewReport { frames: app.frames, frame_ms_mean: mean, frame_ms_p95: p95, trace_samples })
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
        None => live.renderer.draw(&live.gpu, encoder, target, depth, orbit, [x, y, w, h], Background::Clear),
        Some(other) => {
            let half = w / 2;
            live.renderer.draw(&live.gpu, encoder, target, depth, orbit, [x, y, half, h], Background::Clear);
            other.draw(&live.gpu, encoder, target, depth, orbit, [x + half, y, w - half, h], Background::Keep);
        }
    }
}

/// How far the pointer may move between press and release for a click, px.
const CLICK_SLOP_PX: f64 = 4.0;

impl App {
    /// A click at `at_px`: on the skin, prints (stdout) and shows the zone
    /// and its chart point, mm, to write a `clip` or an avoid region with;
    /// off the skin, nothing.
    fn click(&mut self, at_px: (f64, f64)) {
        let Some(live) = self.live.as_ref() else { return };
        let [x, y, w, h] = scene_area(live, self.cfg.panel);
        let half = w / 2;
        let (renderer, outcome, area) = match (&live.other_renderer, &self.other) {
            (Some(other), Some(o)) if at_px.0 >= (x + half) as f64 => (other, o, [x + half, y, w - half, h]),
            (Some(_), _) => (&live.renderer, &self.outcome, [x, y, half, h]),
            _ => (&live.renderer, &self.outcome, [x, y, w, h]),
        };
        if let Some((z, p)) = renderer.pick(self.orbit, area, at_px) {
            let line = format!(
                "{}: zone `{}`, chart point [{:.1}, {:.1}] mm",
                outcome.scene.name, outcome.scene.zones[z].name, p.x, p.y
            );
            println!("{line}");
            self.picked = Some(line);
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
