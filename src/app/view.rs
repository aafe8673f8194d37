//! `needlemap view`: the live window (winit + wgpu). The treatment plays back
//! at a chosen speed; each frame the punctures made since the last one are
//! added to the skin's density on the GPU (the accumulation compute pass),
//! drawn by the same renderer as `needlemap render`.
//!
//! Keys: space pause/play, right arrow one stamp, N next lane, P next pass,
//! R restart, + / - speed x2 / /2, 1 2 3 front / left / right view,
//! D density, B target bands, Q or Esc quit; drag to orbit, wheel to zoom.

use crate::core::Outcome;
use crate::gpu::Gpu;
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
}

pub const SHORTCUTS: &str = "space pause/play | -> one stamp | N next lane | P next pass | R restart | +/- speed | \
     1/2/3 front/left/right | D density | B bands | drag orbit | wheel zoom | Q quit";

struct Live {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    gpu: Gpu,
    renderer: Renderer,
    depth: wgpu::Texture,
}

struct App<'a> {
    outcome: &'a Outcome,
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
}

impl App<'_> {
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
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("needlemap view"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| format!("the GPU adapter `{}` refused a device: {e}", info.name))?;
        let gpu = Gpu { device, queue, adapter: format!("{} ({:?})", info.name, info.backend) };
        let size = window.inner_size();
        let mut config = surface
            .get_default_config(&adapter, size.width.max(1), size.height.max(1))
            .ok_or("the window's surface is not supported by the adapter")?;
        // A plain (not sRGB) format, so colours match `render` and the PNG maps.
        let caps = surface.get_capabilities(&adapter);
        if let Some(f) = caps.formats.iter().find(|f| !f.is_srgb()) {
            config.format = *f;
        }
        config.present_mode = wgpu::PresentMode::AutoVsync;
        surface.configure(&gpu.device, &config);
        let renderer = Renderer::new(&gpu, self.outcome, config.format, self.layer);
        let depth = render::depth_texture(&gpu, config.width, config.height);
        eprintln!("needlemap view: {} on {}; keys: {SHORTCUTS}", self.outcome.scene.name, gpu.adapter);
        Ok(Live { window, surface, config, gpu, renderer, depth })
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
            Key::Character(c) => match c.as_str() {
                "q" | "Q" => el.exit(),
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
                _ => {}
            },
            _ => {}
        }
    }

    fn set_layer(&mut self, layer: Layer) {
        self.layer = layer;
        if let Some(live) = self.live.as_mut() {
            live.renderer.set_layer(&live.gpu, self.outcome, layer);
        }
    }

    fn frame(&mut self, el: &ActiveEventLoop) {
        let now = Instant::now();
        if let Some(last) = self.last_frame {
            let dt = (now - last).as_secs_f64();
            self.frame_ms.push(dt * 1e3);
            if self.playing {
                self.time_s = (self.time_s + dt * self.cfg.speed).min(self.end_s);
            }
        }
        self.last_frame = Some(now);
        let Some(live) = self.live.as_mut() else { return };
        live.renderer.set_time(&live.gpu, self.outcome, self.time_s);
        // Dots for the last quarter-second of playback (at least one stamp).
        live.renderer.set_markers(&live.gpu, self.outcome, self.time_s, (0.25 * self.cfg.speed).max(0.02));
        let frame = match live.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(f) | wgpu::CurrentSurfaceTexture::Suboptimal(f) => f,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                live.surface.configure(&live.gpu.device, &live.config);
                return;
            }
            _ => return, // timeout or occluded: try again next frame
        };
        let view = frame.texture.create_view(&Default::default());
        let depth = live.depth.create_view(&Default::default());
        let size = (live.config.width, live.config.height);
        let mut encoder =
            live.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("frame") });
        live.renderer.draw(&live.gpu, &mut encoder, &view, &depth, self.orbit, size);
        live.gpu.queue.submit([encoder.finish()]);
        live.gpu.queue.present(frame);
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
                if self.layer == Layer::Bands { "target bands" } else { "density" },
            ));
        }
        if self.cfg.frames.is_some_and(|n| self.frames >= n) {
            if let Some(path) = self.cfg.screenshot.clone()
                && let Err(e) = self.screenshot(&path)
            {
                self.error = Some(e);
            }
            el.exit();
        }
    }

    /// Draws the current frame once more offscreen, in the window's format and
    /// size, and saves it as PNG.
    fn screenshot(&self, path: &std::path::Path) -> Result<(), String> {
        let live = self.live.as_ref().ok_or("no window")?;
        let (w, h) = (live.config.width, live.config.height);
        let texture = live.gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("screenshot"),
            size: wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: live.config.format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let depth = render::depth_texture(&live.gpu, w, h);
        let mut encoder =
            live.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("screenshot") });
        live.renderer.draw(
            &live.gpu,
            &mut encoder,
            &texture.create_view(&Default::default()),
            &depth.create_view(&Default::default()),
            self.orbit,
            (w, h),
        );
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

impl ApplicationHandler for App<'_> {
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
        match event {
            WindowEvent::CloseRequested => el.exit(),
            WindowEvent::Resized(size) => self.resize(size),
            WindowEvent::RedrawRequested => self.frame(el),
            WindowEvent::KeyboardInput {
                event: KeyEvent { logical_key, state: ElementState::Pressed, .. }, ..
            } => self.key(el, &logical_key),
            WindowEvent::MouseInput { state, button: MouseButton::Left, .. } => {
                self.dragging = state == ElementState::Pressed
            }
            WindowEvent::CursorMoved { position, .. } => {
                if let (true, Some((x, y))) = (self.dragging, self.cursor) {
                    self.orbit.yaw_deg -= (position.x - x) * 0.3;
                    self.orbit.pitch_deg = (self.orbit.pitch_deg + (position.y - y) * 0.3).clamp(-85.0, 85.0);
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

    fn about_to_wait(&mut self, _el: &ActiveEventLoop) {
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
}

/// Opens the window and plays `outcome` until closed (or `frames` are shown).
pub fn run(outcome: &Outcome, cfg: ViewConfig) -> Result<ViewReport, String> {
    let event_loop = EventLoop::new().map_err(|e| {
        format!("cannot open a window ({e}); on a machine without a display use `needlemap render`, or run under `xvfb-run -a`")
    })?;
    event_loop.set_control_flow(ControlFlow::Poll);
    let mut times: Vec<f64> =
        outcome.simulation.zones.iter().flat_map(|z| z.punctures.iter().map(|p| p.t_s as f64)).collect();
    times.sort_by(f64::total_cmp);
    let end_s = times.last().copied().unwrap_or(0.0);
    let mut app = App {
        outcome,
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
        turn_time_s: outcome.scene.hand.turn_time_s,
    };
    event_loop.run_app(&mut app).map_err(|e| format!("the window's event loop failed: {e}"))?;
    if let Some(e) = app.error {
        return Err(e);
    }
    let mut ms: Vec<f64> = app.frame_ms.iter().skip(1).copied().collect();
    ms.sort_by(f64::total_cmp);
    let mean = if ms.is_empty() { 0.0 } else { ms.iter().sum::<f64>() / ms.len() as f64 };
    let p95 = ms.get(((ms.len() as f64) * 0.95) as usize).or(ms.last()).copied().unwrap_or(0.0);
    Ok(ViewReport { frames: app.frames, frame_ms_mean: mean, frame_ms_p95: p95 })
}
