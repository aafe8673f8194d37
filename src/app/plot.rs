//! Pictures of a run: density heatmap (viridis, colorbar in punctures/cm2),
//! target-band map (under / in band / over) and hit-count map (0 / 1 / 2 / 3+),
//! one panel per zone, with mm axes, a scale bar, the outline, avoid regions
//! and avoid-region punctures drawn. Returns PNG bytes; writing is the caller's.

use crate::core::engine::Outcome;
use crate::core::engine::simulate::ZoneRun;
use crate::core::format::percent;
use crate::core::geometry::shape::{Region, Shape, Vec2};
pub use crate::core::report::Layer;
use crate::core::report::density_max;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::error::Error;
use std::sync::Once;

type DrawResult<T> = Result<T, Box<dyn Error>>;

pub(crate) const FONT: &str = "sans-serif";
/// Width of the map part of a panel, px.
const MAP_PX: f64 = 760.0;
/// Largest height of a map, px.
const MAP_MAX_H_PX: f64 = 620.0;
const LEGEND_W: u32 = 190;
const MARGIN_PX: u32 = 14;
const X_LABELS_PX: u32 = 44;
const Y_LABELS_PX: u32 = 60;
const CAPTION_PX: u32 = 40;

/// Colours of the band map (blue / pale yellow / red: distinct for the common
/// colour-vision deficiencies).
pub const UNDER: RGBColor = RGBColor(69, 117, 180);
/// Colour of cells within the target band (pale yellow).
pub const IN_BAND: RGBColor = RGBColor(254, 224, 144);
/// Colour of cells over the target band (red).
pub const OVER: RGBColor = RGBColor(215, 48, 39);
/// Hit classes 0, 1, 2, 3+ (sequential, light to dark, so gaps read as holes).
pub const HITS: [RGBColor; 4] =
    [RGBColor(240, 240, 240), RGBColor(253, 212, 158), RGBColor(252, 141, 89), RGBColor(179, 0, 0)];
const AVOID_FILL: RGBColor = RGBColor(200, 200, 210);
const AVOID_LINE: RGBColor = RGBColor(120, 0, 160);
const VIOLATION: RGBColor = RGBColor(230, 0, 126);

pub(crate) fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Ubuntu Light (in egui's default fonts) has the Latin-1 glyphs we use (², –).
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT);
    });
}

fn viridis(t: f64) -> RGBColor {
    let c = colorous::VIRIDIS.eval_continuous(t.clamp(0.0, 1.0));
    RGBColor(c.r, c.g, c.b)
}

fn axis_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 { format!("{v:.0}") } else { format!("{v}") }
}

struct PanelGeometry {
    map_w: f64,
    map_h: f64,
}

fn panel_geometry(region: &Region) -> PanelGeometry {
    let size = region.bounds().size_mm();
    let px_per_mm = (MAP_PX / size.x).min(MAP_MAX_H_PX / size.y);
    PanelGeometry { map_w: size.x * px_per_mm, map_h: size.y * px_per_mm }
}

fn panel_height(g: &PanelGeometry) -> u32 {
    g.map_h.ceil() as u32 + CAPTION_PX + X_LABELS_PX + 2 * MARGIN_PX
}

/// The zones a picture of `layer` shows: all, or for bands those with a target.
fn layer_zones(o: &Outcome, layer: Layer) -> Vec<usize> {
    (0..o.zones.len()).filter(|&z| layer != Layer::Bands || o.zones[z].setup.target_per_cm2.is_some()).collect()
}

/// Renders one layer for every zone of `o` (stacked panels) as PNG bytes, or
/// `None` when the layer has nothing to show (bands without any target).
pub fn render_layer(o: &Outcome, layer: Layer) -> anyhow::Result<Option<Vec<u8>>> {
    register_fonts();
    let zones = layer_zones(o, layer);
    if zones.is_empty() {
        return Ok(None);
    }
    let geos: Vec<PanelGeometry> = zones.iter().map(|&z| panel_geometry(&o.scene.zones[z].region)).collect();
    let what = format!("{} map", layer.title());
    stacked_png(&geos, &what, |i, panel| draw_zone(panel, o, zones[i], layer, &geos[i])).map(Some)
}

/// Zone panels stacked top to bottom, one per entry of `geos`, each drawn by
/// `draw(index, panel)`; PNG bytes.
fn stacked_png(
    geos: &[PanelGeometry],
    what: &str,
    mut draw: impl FnMut(usize, &DrawingArea<BitMapBackend, Shift>) -> DrawResult<()>,
) -> anyhow::Result<Vec<u8>> {
    let width = stacked_width();
    let height: u32 = geos.iter().map(panel_height).sum();
    let mut buf = vec![255u8; (width * height * 3) as usize];
    let drawn: DrawResult<()> = (|| {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut rest = root.clone();
        for (i, g) in geos.iter().enumerate() {
            let (panel, below) = rest.split_vertically(panel_height(g));
            rest = below;
            draw(i, &panel)?;
        }
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| anyhow::anyhow!("drawing the {what}: {e}"))?;
    let img = image::RgbImage::from_raw(width, height, buf).ok_or_else(|| anyhow::anyhow!("image buffer size"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

/// A zone's map chart (u, v in mm, over the chart box `b`) under its
/// caption, its axes not yet drawn.
fn zone_chart<'a, 'b>(
    left: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    b: &crate::core::geometry::shape::Bounds,
) -> DrawResult<Chart<'a, 'b>> {
    Ok(ChartBuilder::on(left)
        .margin(MARGIN_PX)
        .margin_top(CAPTION_PX)
        .x_label_area_size(X_LABELS_PX)
        .y_label_area_size(Y_LABELS_PX)
        .build_cartesian_2d(b.min_mm.x..b.max_mm.x, b.min_mm.y..b.max_mm.y)?)
}

/// A zone's map axes (u, v in mm, over the chart box `b`) under its caption.
fn zone_axes<'a, 'b>(
    left: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    b: &crate::core::geometry::shape::Bounds,
) -> DrawResult<Chart<'a, 'b>> {
    zone_axes_labelled(left, b, None)
}

/// As [`zone_axes`], with `labels` (across, up) tick labels when given.
fn zone_axes_labelled<'a, 'b>(
    left: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    b: &crate::core::geometry::shape::Bounds,
    labels: Option<(usize, usize)>,
) -> DrawResult<Chart<'a, 'b>> {
    let mut chart = zone_chart(left, b)?;
    let mut mesh = chart.configure_mesh();
    if let Some((across, up)) = labels {
        mesh.x_labels(across).y_labels(up);
    }
    mesh.disable_mesh()
        .x_desc("u (mm)")
        .y_desc("v (mm)")
        .x_label_formatter(&axis_label)
        .y_label_formatter(&axis_label)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;
    Ok(chart)
}

/// Where one zone's map lies in a picture from [`render_layer`]: the map's
/// bitmap fills `size_px` pixels from `origin_px` (PNG pixels, x right and y
/// down from the top-left corner) and shows the chart box from `min_mm`
/// (its bottom-left corner) to `max_mm` (top-right). Each pixel is coloured
/// by the chart point at its centre ([`MapPlacement::chart_mm`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapPlacement {
    /// The zone (an index into the outcome's zones).
    pub zone: usize,
    /// The map's top-left pixel in the PNG (x, y).
    pub origin_px: (u32, u32),
    /// The map's size, pixels (width, height).
    pub size_px: (u32, u32),
    /// The chart box's lowest u and v, mm (the map's bottom-left corner).
    pub min_mm: Vec2,
    /// The chart box's highest u and v, mm (the map's top-right corner).
    pub max_mm: Vec2,
}

impl MapPlacement {
    /// Millimetres of chart per pixel, across (u) and up (v).
    pub fn mm_per_px(&self) -> Vec2 {
        Vec2::new(
            (self.max_mm.x - self.min_mm.x) / self.size_px.0 as f64,
            (self.max_mm.y - self.min_mm.y) / self.size_px.1 as f64,
        )
    }

    /// The chart point (mm) whose layer colours PNG pixel `(x, y)`: the
    /// pixel's centre, as the map is drawn; `None` off the map.
    pub fn chart_mm(&self, (x, y): (u32, u32)) -> Option<Vec2> {
        let (dx, dy) = (x.checked_sub(self.origin_px.0)?, y.checked_sub(self.origin_px.1)?);
        if dx >= self.size_px.0 || dy >= self.size_px.1 {
            return None;
        }
        let mm = self.mm_per_px();
        Some(Vec2::new(self.min_mm.x + (dx as f64 + 0.5) * mm.x, self.max_mm.y - (dy as f64 + 0.5) * mm.y))
    }
}

/// Where each zone's map lies in the picture `render_layer(o, layer)` draws,
/// one entry per panel, top to bottom (the zones it shows). The panels are
/// laid out as for drawing, on a scratch buffer; nothing is drawn.
pub fn map_placements(o: &Outcome, layer: Layer) -> anyhow::Result<Vec<MapPlacement>> {
    let zones = layer_zones(o, layer);
    let width = stacked_width();
    let mut top = 0u32;
    let mut out = Vec::new();
    for z in zones {
        let g = panel_geometry(&o.scene.zones[z].region);
        let h = panel_height(&g);
        let b = o.scene.zones[z].region.bounds();
        let mut buf = vec![255u8; (width * h * 3) as usize];
        let placed: DrawResult<((i32, i32), (u32, u32))> = (|| {
            let panel = BitMapBackend::with_buffer(&mut buf, (width, h)).into_drawing_area();
            let (left, _) = panel.split_horizontally(map_width_px(&g));
            let chart = zone_chart(&left, &b)?;
            let area = chart.plotting_area();
            Ok((area.map_coordinate(&(b.min_mm.x, b.max_mm.y)), area.dim_in_pixel()))
        })();
        let ((x, y), size_px) = placed.map_err(|e| anyhow::anyhow!("laying out the {} map: {e}", layer.title()))?;
        out.push(MapPlacement {
            zone: z,
            origin_px: (x as u32, top + y as u32),
            size_px,
            min_mm: b.min_mm,
            max_mm: b.max_mm,
        });
        top += h;
    }
    Ok(out)
}

/// Width of a picture of stacked zone panels, px.
fn stacked_width() -> u32 {
    (MAP_PX as u32) + Y_LABELS_PX + LEGEND_W + 3 * MARGIN_PX
}

/// Width of the left part of a zone's panel (the map with its axes), px.
fn map_width_px(g: &PanelGeometry) -> u32 {
    g.map_w.round() as u32 + Y_LABELS_PX + 2 * MARGIN_PX
}

fn draw_zone(
    panel: &DrawingArea<BitMapBackend, Shift>,
    o: &Outcome,
    z: usize,
    layer: Layer,
    g: &PanelGeometry,
) -> DrawResult<()> {
    let zone = &o.scene.zones[z];
    let metrics = &o.zones[z];
    let field = &o.fields[z];
    let run = &o.simulation.zones[z];
    let b = zone.region.bounds();
    let (left, right) = panel.split_horizontally(map_width_px(g));
    let caption = match layer {
        Layer::Density => format!("{}: puncture density, mean {:.0} /cm²", zone.name, metrics.density_per_cm2.mean),
        Layer::Bands => {
            let t = zone.target_per_cm2.unwrap_or([0.0, 0.0]);
            format!(
                "{}: target {:.0}–{:.0} /cm², {} under, {} over",
                zone.name,
                t[0],
                t[1],
                percent(metrics.under_fraction.unwrap_or(0.0), 0),
                percent(metrics.over_fraction.unwrap_or(0.0), 0)
            )
        }
        Layer::Hits => format!("{}: needle-disk hits, coverage {}", zone.name, percent(metrics.coverage_fraction, 1)),
    };
    panel.draw(&Text::new(caption, (MARGIN_PX as i32, 10), (FONT, 21)))?;
    let mut chart = zone_axes(&left, &b)?;

    // The map itself, one pixel per plot pixel.
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let vmax = density_max(field, zone.target_per_cm2);
    let pixels = map_pixels(o, z, layer, (b.min_mm, b.max_mm), (pw, ph), vmax);
    chart.draw_series(std::iter::once(
        BitMapElement::with_owned_buffer((b.min_mm.x, b.max_mm.y), (pw, ph), pixels).ok_or("map buffer size")?,
    ))?;

    // Outline, avoid regions, avoid-region punctures.
    let closed = |s: &Shape| {
        let mut pts: Vec<(f64, f64)> = s.outline_mm().iter().map(|v| (v.x, v.y)).collect();
        pts.push(pts[0]);
        pts
    };
    chart.draw_series(std::iter::once(PathElement::new(closed(&zone.region.outline), BLACK.stroke_width(2))))?;
    for a in &zone.region.avoid {
        chart.draw_series(std::iter::once(PathElement::new(closed(a), AVOID_LINE.stroke_width(2))))?;
    }
    draw_violations(&mut chart, run)?;
    draw_scale_bar(&mut chart, b.min_mm, b.max_mm)?;

    match layer {
        Layer::Density => draw_colorbar(&right, vmax, zone.target_per_cm2)?,
        Layer::Bands | Layer::Hits => {
            draw_legend(&right, &legend_items(layer, zone.target_per_cm2), !run.violations.is_empty())?
        }
    }
    Ok(())
}

/// The pixels (RGB, white outside the zone) of one layer of zone `z` over the
/// chart box `(min, max)` at `(pw, ph)` pixels.
fn map_pixels(
    o: &Outcome,
    z: usize,
    layer: Layer,
    (min, max): (Vec2, Vec2),
    (pw, ph): (u32, u32),
    vmax: f64,
) -> Vec<u8> {
    let zone = &o.scene.zones[z];
    let field = &o.fields[z];
    let b = crate::core::geometry::shape::Bounds { min_mm: min, max_mm: max };
    let mm_per_px = Vec2::new((b.max_mm.x - b.min_mm.x) / pw as f64, (b.max_mm.y - b.min_mm.y) / ph as f64);
    let mut pixels = vec![255u8; (pw * ph * 3) as usize];
    let within = |iv: &[(f64, f64)], x: f64| iv.iter().any(|&(a, b)| x >= a && x <= b);
    for py in 0..ph {
        // Where this pixel row is inside the outline and the avoid regions:
        // one line intersection per row instead of a polygon test per pixel.
        let y = b.max_mm.y - (py as f64 + 0.5) * mm_per_px.y;
        let row_origin = Vec2::new(0.0, y);
        let inside = zone.region.outline.line_intervals(row_origin, Vec2::new(1.0, 0.0));
        let avoid: Vec<(f64, f64)> =
            zone.region.avoid.iter().flat_map(|a| a.line_intervals(row_origin, Vec2::new(1.0, 0.0))).collect();
        for px in 0..pw {
            let p = Vec2::new(b.min_mm.x + (px as f64 + 0.5) * mm_per_px.x, y);
            let colour = if !within(&inside, p.x) {
                continue;
            } else if within(&avoid, p.x) {
                AVOID_FILL
            } else {
                match layer {
                    Layer::Hits => {
                        let hp = &field.hits_preview;
                        let q = (p - field.layout.origin_mm) / hp.px_mm;
                        let (i, j) = ((q.x as usize).min(hp.width - 1), (q.y as usize).min(hp.height - 1));
                        match hp.classes[j * hp.width + i] {
                            k @ 0..=3 => HITS[k as usize],
                            _ => HITS[0],
                        }
                    }
                    Layer::Density | Layer::Bands => {
                        let Some(c) = field.layout.cell_of(p) else {
                            continue;
                        };
                        let d = field.cell_density_per_cm2(c).unwrap_or(0.0);
                        if layer == Layer::Density {
                            viridis(d / vmax)
                        } else {
                            let [lo, hi] = zone.target_per_cm2.unwrap_or([0.0, f64::INFINITY]);
                            if d < lo {
                                UNDER
                            } else if d > hi {
                                OVER
                            } else {
                                IN_BAND
                            }
                        }
                    }
                }
            };
            let k = ((py * pw + px) * 3) as usize;
            pixels[k..k + 3].copy_from_slice(&[colour.0, colour.1, colour.2]);
        }
    }
    pixels
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn draw_violations(chart: &mut Chart, run: &ZoneRun) -> DrawResult<()> {
    // Thousands of markers would hide the map: draw at most 5000, evenly picked.
    let step = run.violations.len().div_ceil(5000).max(1);
    chart.draw_series(
        run.violations
            .iter()
            .step_by(step)
            .map(|p| Cross::new((p.u_mm as f64, p.v_mm as f64), 3, VIOLATION.stroke_width(1))),
    )?;
    Ok(())
}

fn draw_scale_bar(chart: &mut Chart, min: Vec2, max: Vec2) -> DrawResult<()> {
    let w = max.x - min.x;
    let len = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
        .into_iter()
        .rev()
        .find(|l| *l <= w / 4.0)
        .unwrap_or(w / 4.0);
    let x0 = min.x + w * 0.04;
    let y0 = min.y + (max.y - min.y) * 0.06;
    chart.draw_series(std::iter::once(PathElement::new(vec![(x0, y0), (x0 + len, y0)], WHITE.stroke_width(8))))?;
    chart.draw_series(std::iter::once(PathElement::new(vec![(x0, y0), (x0 + len, y0)], BLACK.stroke_width(4))))?;
    let style = TextStyle::from((FONT, 16).into_font()).color(&BLACK).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Bottom,
    ));
    let label_at = (x0, y0 + (max.y - min.y) * 0.02);
    let text = format!("{len} mm");
    // A light box behind the label, so it reads on a dark map. The area's
    // own pixel frame starts at its top-left corner.
    let area = chart.plotting_area();
    let (abs, base) = (area.map_coordinate(&label_at), area.get_base_pixel());
    let at = (abs.0 - base.0, abs.1 - base.1);
    let (tw, th) = area.estimate_text_size(&text, &style)?;
    area.strip_coord_spec().draw(&Rectangle::new(
        [(at.0 - 3, at.1 - th as i32 - 2), (at.0 + tw as i32 + 3, at.1 + 1)],
        WHITE.mix(0.85).filled(),
    ))?;
    chart.draw_series(std::iter::once(Text::new(text, label_at, style)))?;
    Ok(())
}

/// A vertical colorbar from `lo` to `hi` beside a map, labelled `desc`,
/// coloured by `colour(value)`.
fn colorbar<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    (lo, hi): (f64, f64),
    desc: &str,
    colour: impl Fn(f64) -> RGBColor,
) -> DrawResult<Chart<'a, 'b>> {
    let mut bar = ChartBuilder::on(area)
        .margin_top(CAPTION_PX + MARGIN_PX)
        .margin_bottom(X_LABELS_PX + MARGIN_PX)
        .margin_left(6)
        .margin_right(12)
        .set_label_area_size(LabelAreaPosition::Right, 80)
        .build_cartesian_2d(0.0..1.0, lo..hi)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(desc)
        .y_label_formatter(&axis_label)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .y_labels(8)
        .draw()?;
    let steps = 256;
    bar.draw_series((0..steps).map(|i| {
        let (a, b) = (lo + (hi - lo) * i as f64 / steps as f64, lo + (hi - lo) * (i + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, a), (1.0, b)], colour((a + b) / 2.0).filled())
    }))?;
    Ok(bar)
}

fn draw_colorbar(area: &DrawingArea<BitMapBackend, Shift>, vmax: f64, target: Option<[f64; 2]>) -> DrawResult<()> {
    let (area, _) = area.split_horizontally(40 + 12 + 6 + 80);
    let mut bar = colorbar(&area, (0.0, vmax), "punctures/cm²", |v| viridis(v / vmax))?;
    if let Some([lo, hi]) = target {
        for v in [lo, hi] {
            bar.draw_series(std::iter::once(PathElement::new(vec![(0.0, v), (1.0, v)], WHITE.stroke_width(3))))?;
            bar.draw_series(std::iter::once(PathElement::new(vec![(0.0, v), (1.0, v)], BLACK.stroke_width(1))))?;
        }
    }
    Ok(())
}

/// The swatches of the band and hit layers (`target`: the zone's band, if one).
fn legend_items(layer: Layer, target: Option<[f64; 2]>) -> Vec<(RGBColor, String)> {
    let mut items = match (layer, target) {
        (Layer::Bands, Some(t)) => vec![
            (UNDER, format!("under {:.0} /cm²", t[0])),
            (IN_BAND, format!("in band {:.0}–{:.0}", t[0], t[1])),
            (OVER, format!("over {:.0} /cm²", t[1])),
        ],
        (Layer::Bands, None) => vec![
            (UNDER, "under the zone's target".to_string()),
            (IN_BAND, "in the target band".to_string()),
            (OVER, "over the target".to_string()),
        ],
        _ => vec![
            (HITS[0], "0 (missed)".to_string()),
            (HITS[1], "1".to_string()),
            (HITS[2], "2".to_string()),
            (HITS[3], "3 or more".to_string()),
        ],
    };
    items.push((AVOID_FILL, "avoid region".to_string()));
    items
}

/// Draws the legend of a 3D render onto its RGB pixels, in the top-right
/// corner: for density a colorbar over `range` in punctures/cm2 (with the
/// target band marked when every zone shares one, and what the stripes of
/// clamped values mean); for bands and hits the swatches.
pub fn overlay_legend(
    rgb: &mut [u8],
    size: (u32, u32),
    layer: Layer,
    range: [f64; 2],
    target: Option<[f64; 2]>,
) -> anyhow::Result<()> {
    register_fonts();
    draw_overlay(rgb, size, layer, range, target).map_err(|e| anyhow::anyhow!("drawing the legend: {e}"))
}

fn draw_overlay(
    rgb: &mut [u8],
    (w, h): (u32, u32),
    layer: Layer,
    [lo, hi]: [f64; 2],
    target: Option<[f64; 2]>,
) -> DrawResult<()> {
    let root = BitMapBackend::with_buffer(rgb, (w, h)).into_drawing_area();
    let (box_w, x0, y0) = (190i32, w as i32 - 200, 12i32);
    match layer {
        Layer::Density => {
            let bar_h = ((h as f64 * 0.55) as i32).clamp(60, 420);
            let (bx, by) = (x0 + 12, y0 + 34);
            root.draw(&Rectangle::new([(x0, y0), (x0 + box_w, by + bar_h + 56)], WHITE.mix(0.85).filled()))?;
            root.draw(&Text::new("punctures/cm²", (x0 + 10, y0 + 8), (FONT, 17)))?;
            let y_of = |v: f64| by + bar_h - ((v - lo) / (hi - lo) * bar_h as f64).round() as i32;
            for i in 0..bar_h {
                let v = lo + (hi - lo) * (bar_h - i) as f64 / bar_h as f64;
                let c = viridis((v - lo) / (hi - lo));
                root.draw(&Rectangle::new([(bx, by + i), (bx + 24, by + i + 1)], c.filled()))?;
            }
            root.draw(&Rectangle::new([(bx, by), (bx + 24, by + bar_h)], BLACK.stroke_width(1)))?;
            for k in 0..=5 {
                let v = lo + (hi - lo) * k as f64 / 5.0;
                let y = y_of(v);
                root.draw(&PathElement::new(vec![(bx + 24, y), (bx + 30, y)], BLACK.stroke_width(1)))?;
                root.draw(&Text::new(axis_label(&v.round()), (bx + 34, y - 8), (FONT, 15)))?;
            }
            if let Some([tl, th]) = target {
                for v in [tl, th].into_iter().filter(|v| (lo..=hi).contains(v)) {
                    let y = y_of(v);
                    root.draw(&Rectangle::new([(bx - 5, y - 1), (bx + 29, y + 1)], BLACK.filled()))?;
                }
            }
            let shown = target.is_some_and(|t| t.iter().any(|v| (lo..=hi).contains(v)));
            let note = if shown { "lines: target band; " } else { "" };
            root.draw(&Text::new(format!("{note}striped:"), (x0 + 10, by + bar_h + 10), (FONT, 14)))?;
            root.draw(&Text::new("beyond the scale (clamped)", (x0 + 10, by + bar_h + 28), (FONT, 14)))?;
        }
        Layer::Bands | Layer::Hits => {
            let items = legend_items(layer, target);
            let title = if layer == Layer::Bands { "target band" } else { "needle disks per point" };
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + box_w, y0 + 40 + 28 * items.len() as i32)],
                WHITE.mix(0.85).filled(),
            ))?;
            root.draw(&Text::new(title, (x0 + 10, y0 + 8), (FONT, 17)))?;
            for (i, (colour, label)) in items.iter().enumerate() {
                let y = y0 + 36 + 28 * i as i32;
                root.draw(&Rectangle::new([(x0 + 10, y), (x0 + 32, y + 18)], colour.filled()))?;
                root.draw(&Rectangle::new([(x0 + 10, y), (x0 + 32, y + 18)], BLACK.stroke_width(1)))?;
                root.draw(&Text::new(label.clone(), (x0 + 40, y + 1), (FONT, 15)))?;
            }
        }
    }
    root.present()?;
    Ok(())
}

fn draw_legend(
    area: &DrawingArea<BitMapBackend, Shift>,
    items: &[(RGBColor, String)],
    violations: bool,
) -> DrawResult<()> {
    let x = 8;
    let mut y = (CAPTION_PX + MARGIN_PX + 6) as i32;
    for (colour, label) in items {
        area.draw(&Rectangle::new([(x, y), (x + 22, y + 18)], colour.filled()))?;
        area.draw(&Rectangle::new([(x, y), (x + 22, y + 18)], BLACK.stroke_width(1)))?;
        area.draw(&Text::new(label.clone(), (x + 30, y + 1), (FONT, 15)))?;
        y += 28;
    }
    if violations {
        area.draw(&Cross::new((x + 11, y + 9), 5, VIOLATION.stroke_width(2)))?;
        area.draw(&Text::new("puncture in avoid region", (x + 30, y + 1), (FONT, 15)))?;
    }
    Ok(())
}

const ATLAS_WIDTH_PX: f64 = 2000.0;
const ATLAS_TITLE_PX: u32 = 56;
const ATLAS_LABELS_PX: (u32, u32) = (44, 34);

/// Rows of zone indices for the atlas: zones on a 3D surface are grouped by
/// the height of their centre (within 30 mm) and ordered left to right as the
/// practitioner sees the patient; flat zones go in rows of four.
fn atlas_rows(o: &Outcome) -> Vec<Vec<usize>> {
    let centre = |z: usize| {
        o.scene.zones[z].surface.as_ref().map(|s| {
            let n = s.mesh.positions_mm.len() as f64;
            s.mesh.positions_mm.iter().fold(crate::core::geometry::mesh::Vec3::zeros(), |a, p| a + p) / n
        })
    };
    let mut curved: Vec<(usize, f64, f64)> =
        (0..o.zones.len()).filter_map(|z| centre(z).map(|c| (z, c.x, c.y))).collect();
    curved.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut rows: Vec<Vec<(usize, f64, f64)>> = Vec::new();
    for c in curved {
        match rows.last_mut() {
            Some(row) if row[0].2 - c.2 < 30.0 => row.push(c),
            _ => rows.push(vec![c]),
        }
    }
    let mut out: Vec<Vec<usize>> = rows
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.1.total_cmp(&b.1));
            r.into_iter().map(|c| c.0).collect()
        })
        .collect();
    let flat: Vec<usize> = (0..o.zones.len()).filter(|&z| o.scene.zones[z].surface.is_none()).collect();
    out.extend(flat.chunks(4).map(|c| c.to_vec()));
    out
}

/// Every zone of a scene unwrapped on one page: density maps of all charts at
/// one common mm scale with one shared colorbar, so zones compare at a glance.
pub fn render_atlas(o: &Outcome) -> anyhow::Result<Vec<u8>> {
    register_fonts();
    let rows = atlas_rows(o);
    let (lx, ly) = ATLAS_LABELS_PX;
    let size = |z: usize| o.scene.zones[z].region.bounds().size_mm();
    let fixed_w = (lx + 2 * MARGIN_PX + 4) as f64;
    // The largest common scale at which the widest row fits the page.
    let px_per_mm = rows
        .iter()
        .map(|r| {
            let mm: f64 = r.iter().map(|&z| size(z).x).sum();
            (ATLAS_WIDTH_PX - LEGEND_W as f64 - fixed_w * r.len() as f64) / mm
        })
        .fold(6.0, f64::min);
    let panel = |z: usize| {
        let s = size(z);
        (
            (s.x * px_per_mm).round() as u32 + lx + 2 * MARGIN_PX + 4,
            (s.y * px_per_mm).round() as u32 + ly + CAPTION_PX + 2 * MARGIN_PX + 4,
        )
    };
    let row_h: Vec<u32> = rows.iter().map(|r| r.iter().map(|&z| panel(z).1).max().unwrap_or(0)).collect();
    let width = rows.iter().map(|r| r.iter().map(|&z| panel(z).0).sum::<u32>()).max().unwrap_or(0).max(600) + LEGEND_W;
    let height = ATLAS_TITLE_PX + row_h.iter().sum::<u32>();
    let mut places = Vec::new();
    let mut y = ATLAS_TITLE_PX;
    for (r, h) in rows.iter().zip(&row_h) {
        let row_w: u32 = r.iter().map(|&z| panel(z).0).sum();
        let mut x = (width - LEGEND_W - row_w) / 2; // centred, like a face
        for &z in r {
            places.push((z, (x, y), panel(z)));
            x += panel(z).0;
        }
        y += h;
    }
    let vmax =
        (0..o.zones.len()).map(|z| density_max(&o.fields[z], o.scene.zones[z].target_per_cm2)).fold(1.0, f64::max);
    let mut buf = vec![255u8; (width * height * 3) as usize];
    draw_atlas(&mut buf, (width, height), o, &places, px_per_mm, vmax)
        .map_err(|e| anyhow::anyhow!("drawing the atlas: {e}"))?;
    let img = image::RgbImage::from_raw(width, height, buf).ok_or_else(|| anyhow::anyhow!("image buffer size"))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

type Placement = (usize, (u32, u32), (u32, u32));

fn draw_atlas(
    buf: &mut [u8],
    size: (u32, u32),
    o: &Outcome,
    places: &[Placement],
    px_per_mm: f64,
    vmax: f64,
) -> DrawResult<()> {
    let root = BitMapBackend::with_buffer(buf, size).into_drawing_area();
    root.fill(&WHITE)?;
    let (lx, ly) = ATLAS_LABELS_PX;
    let bar_mm = [5.0, 10.0, 20.0, 50.0].into_iter().rev().find(|l| l * px_per_mm <= 160.0).unwrap_or(5.0);
    root.draw(&Text::new(
        format!("{}: puncture density of every zone, one scale (bar: {bar_mm} mm), punctures/cm²", o.scene.name),
        (MARGIN_PX as i32, 14),
        (FONT, 22),
    ))?;
    let bar_px = (bar_mm * px_per_mm).round() as i32;
    let (bx, by) = (size.0 as i32 - LEGEND_W as i32 - bar_px - 20, 44);
    root.draw(&PathElement::new(vec![(bx, by), (bx + bar_px, by)], BLACK.stroke_width(4)))?;
    for &(z, (x, y), (w, h)) in places {
        let zone = &o.scene.zones[z];
        let cell = root.clone().shrink((x, y), (w, h));
        let b = zone.region.bounds();
        let caption = format!("{}: mean {:.0} /cm²", zone.name, o.zones[z].density_per_cm2.mean);
        cell.draw(&Text::new(caption, (MARGIN_PX as i32, 6), (FONT, 17)))?;
        let area = cell.shrink((MARGIN_PX, CAPTION_PX), (w - 2 * MARGIN_PX, h - CAPTION_PX - MARGIN_PX));
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(ly)
            .y_label_area_size(lx)
            .build_cartesian_2d(b.min_mm.x..b.max_mm.x, b.min_mm.y..b.max_mm.y)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(4)
            .y_labels(4)
            .x_label_formatter(&axis_label)
            .y_label_formatter(&axis_label)
            .label_style((FONT, 12))
            .draw()?;
        let (pw, ph) = chart.plotting_area().dim_in_pixel();
        let pixels = map_pixels(o, z, Layer::Density, (b.min_mm, b.max_mm), (pw, ph), vmax);
        chart.draw_series(std::iter::once(
            BitMapElement::with_owned_buffer((b.min_mm.x, b.max_mm.y), (pw, ph), pixels).ok_or("map buffer size")?,
        ))?;
        let mut pts: Vec<(f64, f64)> = zone.region.outline.outline_mm().iter().map(|v| (v.x, v.y)).collect();
        pts.push(pts[0]);
        chart.draw_series(std::iter::once(PathElement::new(pts, BLACK.stroke_width(1))))?;
        for a in &zone.region.avoid {
            let mut pts: Vec<(f64, f64)> = a.outline_mm().iter().map(|v| (v.x, v.y)).collect();
            pts.push(pts[0]);
            chart.draw_series(std::iter::once(PathElement::new(pts, AVOID_LINE.stroke_width(1))))?;
        }
    }
    let legend =
        root.clone().shrink((size.0 - LEGEND_W, ATLAS_TITLE_PX), (LEGEND_W, (size.1 - ATLAS_TITLE_PX).min(700)));
    let target = o.scene.zones.iter().filter_map(|z| z.target_per_cm2).next();
    draw_colorbar(&legend, vmax, target)?;
    root.present()?;
    Ok(())
}

/// Where one treatment lays more or fewer punctures than another: per
/// analysis cell, `trainee − reference` density in punctures/cm² on a
/// diverging scale (blue: fewer, red: more; white: the same), one panel per
/// zone both measured on the same cells. `None` when no zone matches.
pub fn render_difference(reference: &Outcome, trainee: &Outcome) -> anyhow::Result<Option<Vec<u8>>> {
    register_fonts();
    let pairs: Vec<(usize, usize)> = reference
        .scene
        .zones
        .iter()
        .enumerate()
        .filter_map(|(r, z)| {
            let t = trainee.scene.zones.iter().position(|tz| tz.name == z.name)?;
            let (a, b) = (&reference.fields[r].layout, &trainee.fields[t].layout);
            (a.cells_u == b.cells_u && a.cells_v == b.cells_v && a.cell_mm == b.cell_mm).then_some((r, t))
        })
        .collect();
    if pairs.is_empty() {
        return Ok(None);
    }
    let geos: Vec<PanelGeometry> =
        pairs.iter().map(|&(r, _)| panel_geometry(&reference.scene.zones[r].region)).collect();
    stacked_png(&geos, "difference map", |i, panel| {
        let (r, t) = pairs[i];
        draw_difference_zone(panel, reference, r, trainee, t, &geos[i])
    })
    .map(Some)
}

/// Blue (fewer) – white – red (more) for `x` in −1..1.
fn diverging(x: f64) -> RGBColor {
    let c = colorous::RED_BLUE.eval_continuous((0.5 - 0.5 * x.clamp(-1.0, 1.0)).clamp(0.0, 1.0));
    RGBColor(c.r, c.g, c.b)
}

fn draw_difference_zone(
    panel: &DrawingArea<BitMapBackend, Shift>,
    reference: &Outcome,
    r: usize,
    trainee: &Outcome,
    t: usize,
    g: &PanelGeometry,
) -> DrawResult<()> {
    let zone = &reference.scene.zones[r];
    let (rf, tf) = (&reference.fields[r], &trainee.fields[t]);
    let b = zone.region.bounds();
    let map_w_px = g.map_w.round() as u32 + Y_LABELS_PX + 2 * MARGIN_PX;
    let (left, right) = panel.split_horizontally(map_w_px);
    let diffs: Vec<Option<f64>> =
        (0..rf.cell_punctures.len()).map(|c| Some(tf.cell_density_per_cm2(c)? - rf.cell_density_per_cm2(c)?)).collect();
    // The scale: the zone's band width if it has one, else the largest difference.
    let scale = match zone.target_per_cm2 {
        Some([lo, hi]) => hi - lo,
        None => diffs.iter().flatten().fold(1e-9f64, |m, d| m.max(d.abs())),
    };
    panel.draw(&Text::new(
        format!("{}: trainee − reference density (/cm²)", zone.name),
        (MARGIN_PX as i32, 10),
        (FONT, 21),
    ))?;
    let mut chart = zone_axes(&left, &b)?;
    let l = &rf.layout;
    chart.draw_series(diffs.iter().enumerate().filter_map(|(c, d)| {
        let d = (*d)?;
        let (i, j) = ((c % l.cells_u) as f64, (c / l.cells_u) as f64);
        let p0 = l.origin_mm + Vec2::new(i, j) * l.cell_mm;
        let p1 = p0 + Vec2::new(l.cell_mm, l.cell_mm);
        Some(Rectangle::new(
            [(p0.x, p0.y), (p1.x.min(b.max_mm.x), p1.y.min(b.max_mm.y))],
            diverging(d / scale).filled(),
        ))
    }))?;
    let mut pts: Vec<(f64, f64)> = zone.region.outline.outline_mm().iter().map(|v| (v.x, v.y)).collect();
    pts.push(pts[0]);
    chart.draw_series(std::iter::once(PathElement::new(pts, BLACK.stroke_width(2))))?;
    draw_scale_bar(&mut chart, b.min_mm, b.max_mm)?;
    // The colorbar: −scale … +scale.
    let (area, _) = right.split_horizontally(40 + 12 + 6 + 80);
    colorbar(&area, (-scale, scale), "Δ punctures/cm² (red: more)", |v| diverging(v / scale))?;
    Ok(())
}

/// Colour of a chart triangle's area stretch (true / chart area over the
/// mesh's mean): blue where the chart squeezes the skin, red where it
/// spreads it, white at 1; saturated at 2 : 1 either way.
pub fn stretch_colour(ratio: f64) -> RGBColor {
    diverging(if ratio > 0.0 && ratio.is_finite() { ratio.log2().clamp(-1.0, 1.0) } else { 0.0 })
}

/// Colour of a flat zone's chart (no stretch anywhere).
pub const FLAT_CHART: RGBColor = RGBColor(235, 235, 235);

/// Every zone's chart, to pick coordinates from (`needlemap chart`): a mm
/// grid every 10 mm (5 mm on small zones), the outline, the holes and avoid
/// regions, and on mesh zones each triangle coloured by its area stretch.
pub fn render_charts(scene: &crate::core::input::scene::Scene) -> anyhow::Result<Vec<u8>> {
    register_fonts();
    let geos: Vec<PanelGeometry> = scene.zones.iter().map(|z| panel_geometry(&z.region)).collect();
    stacked_png(&geos, "chart", |i, panel| draw_chart_zone(panel, &scene.zones[i]))
}

fn draw_chart_zone(
    panel: &DrawingArea<BitMapBackend, Shift>,
    zone: &crate::core::input::scene::Zone,
) -> DrawResult<()> {
    let b = zone.region.bounds();
    let size = b.size_mm();
    let step = if size.x.max(size.y) < 60.0 { 5.0 } else { 10.0 };
    let (left, _) = panel.split_horizontally(stacked_width() - LEGEND_W);
    let lines = |lo: f64, hi: f64| ((lo / step).ceil() as i64..=(hi / step).floor() as i64).count();
    let labels = (lines(b.min_mm.x, b.max_mm.x) + 1, lines(b.min_mm.y, b.max_mm.y) + 1);
    let mut chart = zone_axes_labelled(&left, &b, Some(labels))?;
    let pt = |p: Vec2| (p.x, p.y);
    let caption = match &zone.surface {
        Some(s) => {
            let m = &s.mesh;
            let mean = m.area_3d_mm2() / m.area_chart_mm2().max(1e-300);
            chart.draw_series((0..m.triangles.len()).map(|t| {
                let ratio = m.triangle_area_3d(t) / m.triangle_area_chart(t).abs().max(1e-300) / mean;
                let corners: Vec<(f64, f64)> = m.triangles[t].iter().map(|&v| pt(m.chart_mm[v as usize])).collect();
                Polygon::new(corners, stretch_colour(ratio).filled())
            }))?;
            let d = &s.distortion;
            format!(
                "{}: {} ({} chart), area stretch {:.2}–{:.2}; blue: the chart squeezes the skin, red: spreads it (2 : 1 full)",
                zone.name, zone.source, s.chart_method, d.area_stretch_min, d.area_stretch_max
            )
        }
        None => {
            let outline: Vec<(f64, f64)> = zone.region.outline.outline_mm().into_iter().map(pt).collect();
            chart.draw_series(std::iter::once(Polygon::new(outline, FLAT_CHART.filled())))?;
            format!("{}: flat (no stretch)", zone.name)
        }
    };
    // The mm grid over the skin, then the outline and the avoid regions.
    let grid = RGBColor(90, 90, 90).mix(0.45);
    for k in (b.min_mm.x / step).ceil() as i64..=(b.max_mm.x / step).floor() as i64 {
        let x = k as f64 * step;
        chart.draw_series(std::iter::once(PathElement::new(vec![(x, b.min_mm.y), (x, b.max_mm.y)], grid)))?;
    }
    for k in (b.min_mm.y / step).ceil() as i64..=(b.max_mm.y / step).floor() as i64 {
        let y = k as f64 * step;
        chart.draw_series(std::iter::once(PathElement::new(vec![(b.min_mm.x, y), (b.max_mm.x, y)], grid)))?;
    }
    let closed = |s: &Shape| {
        let mut p: Vec<(f64, f64)> = s.outline_mm().into_iter().map(pt).collect();
        if let Some(&first) = p.first() {
            p.push(first);
        }
        p
    };
    for a in &zone.region.avoid {
        chart.draw_series(std::iter::once(Polygon::new(closed(a), AVOID_FILL.filled())))?;
        chart.draw_series(std::iter::once(PathElement::new(closed(a), AVOID_LINE.stroke_width(2))))?;
    }
    chart.draw_series(std::iter::once(PathElement::new(closed(&zone.region.outline), BLACK.stroke_width(2))))?;
    left.draw(&Text::new(caption, (MARGIN_PX as i32, 10), (FONT, 16).into_font()))?;
    Ok(())
}
