//! The panel beside the 3D view (egui): live figures, playback and layer
//! controls, and the controls that rebuild the scene and run it again. It is
//! laid out five times a second (and on input) and painted then into a
//! `PaintCache`, which every frame copies or blends over the 3D view.

use super::*;
use crate::core::format::percent;

/// What the panel asks for.
pub(super) enum Action {
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
pub(super) struct ZoneRow {
    pub(super) name: String,
    pub(super) shown: usize,
    now_per_cm2: f64,
    end_per_cm2: f64,
    pub(super) coverage: f64,
    pub(super) bands: Option<(f64, f64)>,
}

/// The figures the panel shows, copied out for one frame.
pub(super) struct PanelState {
    pub(super) scene: String,
    pub(super) time_s: f64,
    pub(super) end_s: f64,
    pub(super) speed: f64,
    pub(super) playing: bool,
    pub(super) layer: Layer,
    pub(super) zones: Vec<ZoneRow>,
    /// The target band every zone shares, if one.
    target_per_cm2: Option<[f64; 2]>,
    /// The second pane's treatment: its name and zones (`--compare`).
    pub(super) other: Option<(String, Vec<ZoneRow>)>,
    /// Trace mode, in words.
    pub(super) tracing: Option<String>,
    /// The last skin point clicked (zone and chart point).
    pub(super) picked: Option<String>,
}

/// The panel's zone rows of a treatment, with `shown` punctures drawn so far.
pub(super) fn zone_rows(o: &Outcome, shown: Vec<usize>) -> Vec<ZoneRow> {
    o.zones
        .iter()
        .zip(shown.into_iter().chain(std::iter::repeat(0)))
        .map(|(z, n)| ZoneRow {
            name: z.setup.name.clone(),
            shown: n,
            now_per_cm2: if z.area_cm2 > 0.0 { n as f64 / z.area_cm2 } else { 0.0 },
            end_per_cm2: z.density_per_cm2.mean,
            coverage: z.coverage_fraction,
            bands: z.under_fraction.zip(z.over_fraction),
        })
        .collect()
}

impl PanelState {
    pub(super) fn of(app: &App, shown: Vec<usize>, other_shown: Vec<usize>) -> PanelState {
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
            picked: app.picked.clone(),
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

    pub(super) fn show(&self, ui: &mut egui::Ui, c: &mut Controls, actions: &mut Vec<Action>) {
        let frame = egui::Frame::NONE.inner_margin(egui::Margin::same(8));
        egui::Panel::right("needlemap-panel").exact_size(PANEL_WIDTH_PX).frame(frame).show(ui, |ui| {
            match &self.other {
                Some((other, _)) => ui.heading(format!("left: {} | right: {}", self.scene, other)),
                None => ui.heading(format!("needlemap: {}", self.scene)),
            };
            if let Some(t) = &self.tracing {
                ui.label(t);
            }
            ui.label(match &self.picked {
                Some(p) => format!("clicked: {p}"),
                None => "click the skin for its zone and chart point (mm)".into(),
            });
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
                        ui.label(percent(z.coverage, 0));
                        ui.label(match z.bands {
                            Some((u, o)) => format!("{} / {}", percent(u, 0), percent(o, 0)),
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
    pub(super) fn legend(&self, ui: &mut egui::Ui, c: &mut Controls, actions: &mut Vec<Action>) {
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
pub(super) const PANEL_WIDTH_PX: f32 = 400.0;

/// The part of the window the 3D view fills: left of the panel when it is
/// shown (all of the window when it is hidden), pixels.
pub(super) fn scene_area(live: &Live, panel: bool) -> [u32; 4] {
    if panel { area_beside_panel(live) } else { [0, 0, live.config.width, live.config.height] }
}

/// The part of the window left of the panel (all of it when the window is
/// too narrow for both), pixels.
pub(super) fn area_beside_panel(live: &Live) -> [u32; 4] {
    let (w, h) = (live.config.width, live.config.height);
    let panel_px = (PANEL_WIDTH_PX * live.egui_ppp).ceil() as u32;
    if w > panel_px + 200 { [0, 0, w - panel_px, h] } else { [0, 0, w, h] }
}

/// The panel's input since the last layout, with the screen size taken from
/// the surface (kept by `Resized` events): `egui_winit`'s `take_egui_input`
/// asks the window for its size, and winit panics when the window has just
/// been destroyed under the app (a race with its `Destroyed` event).
pub(super) fn panel_input(live: &mut Live) -> egui::RawInput {
    let ppp = live.egui_ctx.zoom_factor() * live.native_ppp;
    let size = egui::vec2(live.config.width as f32, live.config.height as f32) / ppp;
    let input = live.egui_state.egui_input_mut();
    input.time = Some(live.opened.elapsed().as_secs_f64());
    input.screen_rect = (size.x > 0.0 && size.y > 0.0).then(|| egui::Rect::from_min_size(egui::Pos2::ZERO, size));
    input.viewport_id = egui::ViewportId::ROOT;
    input.viewports.entry(egui::ViewportId::ROOT).or_default().native_pixels_per_point = Some(live.native_ppp);
    input.take()
}

/// Lays the panel over `view` of `texture` (the window's size): from its
/// cache, painted again first when the panel was laid out since (or the
/// window resized). Painted on the white the frame is cleared to, and
/// copied, when it all lies beside the 3D view; else painted on transparent
/// and blended over it (a narrow window, an open drop-down list).
/// Returns the command buffers to submit before `encoder`'s.
pub(super) fn panel_over(
    live: &mut Live,
    encoder: &mut wgpu::CommandEncoder,
    view: &wgpu::TextureView,
    texture: &wgpu::Texture,
) -> Vec<wgpu::CommandBuffer> {
    let size = (live.config.width, live.config.height);
    let mut extra = Vec::new();
    if live.panel_cache.fit(&live.gpu, size) || std::mem::take(&mut live.panel_dirty) {
        let rect = painted_rect(&live.egui_jobs, live.egui_ppp, size);
        let [scene_x, _, scene_w, _] = area_beside_panel(live);
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
pub(super) fn same_paint(a: &[egui::ClippedPrimitive], b: &[egui::ClippedPrimitive]) -> bool {
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
pub(super) fn painted_rect(jobs: &[egui::ClippedPrimitive], ppp: f32, size: (u32, u32)) -> [u32; 4] {
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
pub(super) fn paint_panel(
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
pub(super) fn first_lane_spacing(scene: &crate::core::input::scene::Scene) -> Option<f64> {
    scene.zones.iter().flat_map(|z| &z.passes).find_map(|p| match p.kind {
        crate::core::input::scene::PassKind::Lanes { lane_spacing_mm, .. } => Some(lane_spacing_mm),
        _ => None,
    })
}

impl App {
    pub(super) fn act(&mut self, el: &ActiveEventLoop, action: Action) {
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
    pub(super) fn rerun(&mut self) {
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
                    live.renderer.set_context(&live.gpu, self.cfg.head);
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

/// The scene with the panel's controls applied: cartridge preset, glide
/// speed, lane spacing, and (unless "as in the scene") the same passes in
/// every zone.
pub(super) fn rebuilt_scene(
    scene: &crate::core::input::scene::Scene,
    c: &Controls,
) -> Result<crate::core::input::scene::Scene, crate::core::study::strategy::VariationError> {
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
        let text = include_str!("../../../scenes/forehead.toml");
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
        assert!(unknown.to_string().contains("not a cartridge preset"), "{unknown}");
    }
}
