//! Charts of comparisons: one panel per metric with a horizontal bar per
//! strategy (its mean) and a whisker (its confidence interval); scatter plots
//! of a metric against treatment time; curves of the figures pass by pass.

use super::plot::{FONT, register_fonts};
use crate::core::study::stats::Estimate;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::error::Error;

type DrawResult<T> = Result<T, Box<dyn Error>>;

/// An axis label: no trailing zeros ("1000", "0.25").
fn num(v: &f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Bar colours, one per strategy (Tableau 10: distinct, colour-blind aware).
fn colour(i: usize) -> RGBColor {
    let c = colorous::TABLEAU10[i % colorous::TABLEAU10.len()];
    RGBColor(c.r, c.g, c.b)
}

/// One panel: a metric's name, unit and its estimate per strategy.
pub struct Panel<'a> {
    /// The panel's title: the metric's name and unit.
    pub title: String,
    /// The metric's estimate for each strategy, in strategy order.
    pub values: &'a [Estimate],
}

/// A white chart of `size` with `title` on top: `draw` gets the area below
/// the title. Returns PNG bytes.
fn chart(
    size: (u32, u32),
    title: &str,
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> DrawResult<()>,
) -> anyhow::Result<Vec<u8>> {
    register_fonts();
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    let drawn: DrawResult<()> = (|| {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)?;
        root.draw(&Text::new(title.to_string(), (20, 16), (FONT, 24)))?;
        draw(&root.margin(60, 0, 0, 0))?;
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| anyhow::anyhow!("drawing {title}: {e}"))?;
    let img = image::RgbImage::from_raw(size.0, size.1, buf).ok_or_else(|| anyhow::anyhow!("chart buffer size"))?;
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
    Ok(out)
}

/// The lowest and highest interval ends of `es` (the mean where an interval
/// is infinite); infinite when none is finite.
fn extent(es: &[Estimate]) -> (f64, f64) {
    let end = |x: f64, mean: f64| if x.is_finite() { x } else { mean };
    let lo = es.iter().map(|e| end(e.lo(), e.mean)).filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min);
    let hi = es.iter().map(|e| end(e.hi(), e.mean)).filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// The axis range of a panel of estimates: the data's own extent (every
/// mean and interval end) with a margin, not from 0, so strategies whose
/// figures differ in the third digit show apart (a coverage of 0.87 against
/// 0.89 drawn from 0 looked the same).
pub(crate) fn axis_range(values: &[Estimate]) -> (f64, f64) {
    let (lo, hi) = extent(values);
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    let pad = if span > 1e-9 * hi.abs().max(lo.abs()).max(1e-300) {
        0.08 * span
    } else {
        // One value (or all equal): a small window around it.
        0.01 * hi.abs().max(lo.abs()).max(1e-9)
    };
    (lo - pad, hi + pad)
}

/// A grid of panels (two across) for `names`, with a title: each
/// strategy's mean as a dot with its interval, on an axis scaled to the data.
pub fn bars(title: &str, names: &[String], panels: &[Panel]) -> anyhow::Result<Vec<u8>> {
    let panel_h = 70 + 26 * names.len() as u32;
    let size = (1600u32, 60 + panels.len().div_ceil(2) as u32 * panel_h);
    chart(size, title, |body| {
        let cells = body.split_evenly((panels.len().div_ceil(2), 2));
        for (p, area) in panels.iter().zip(cells) {
            draw_bar_panel(&area.shrink((0, 0), (size.0 / 2, panel_h)), names, p)?;
        }
        Ok(())
    })
}

fn draw_bar_panel(area: &DrawingArea<BitMapBackend, Shift>, names: &[String], p: &Panel) -> DrawResult<()> {
    let (lo, hi) = axis_range(p.values);
    let n = names.len();
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, 19))
        .margin(10)
        .margin_right(30)
        .x_label_area_size(30)
        .y_label_area_size(230)
        .build_cartesian_2d(lo..hi, (0..n).into_segmented())?;
    let label = |s: &SegmentValue<usize>| match s {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i).cloned().unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&label)
        .x_labels(6)
        .x_label_formatter(&num)
        .label_style((FONT, 14))
        .draw()?;
    for (i, e) in p.values.iter().enumerate() {
        if !e.mean.is_finite() {
            continue;
        }
        // A dot, not a bar: the axis does not start at 0, so a bar's length would mislead.
        chart.draw_series(std::iter::once(Circle::new((e.mean, SegmentValue::CenterOf(i)), 7, colour(i).filled())))?;
        if e.half_width.is_finite() && e.half_width > 0.0 {
            let y = || SegmentValue::CenterOf(i);
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(e.lo(), y()), (e.hi(), y())],
                BLACK.stroke_width(2),
            )))?;
            for x in [e.lo(), e.hi()] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, SegmentValue::Exact(i)), (x, SegmentValue::Exact(i + 1))],
                    BLACK.stroke_width(2),
                )))?;
            }
        }
    }
    Ok(())
}

/// Scatter panels: each strategy at (its mean time, its mean metric) with
/// whiskers both ways, one panel per metric.
pub fn against_time(
    title: &str,
    names: &[String],
    time: &[Estimate],
    panels: &[Panel],
    time_label: &str,
) -> anyhow::Result<Vec<u8>> {
    let size = (1600u32, 700u32);
    chart(size, title, |area| draw_against_time(area, size, names, time, panels, time_label))
}

fn draw_against_time(
    area: &DrawingArea<BitMapBackend, Shift>,
    size: (u32, u32),
    names: &[String],
    time: &[Estimate],
    panels: &[Panel],
    time_label: &str,
) -> DrawResult<()> {
    let (body, legend) = area.split_horizontally(size.0 - 300);
    let range = |es: &[Estimate]| {
        let (lo, hi) = extent(es);
        let pad = ((hi - lo) * 0.08).max(hi.abs() * 1e-3).max(1e-9);
        (lo - pad)..(hi + pad)
    };
    let cells = body.split_evenly((1, panels.len().max(1)));
    for (p, area) in panels.iter().zip(cells) {
        let mut chart = ChartBuilder::on(&area)
            .caption(&p.title, (FONT, 19))
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(range(time), range(p.values))?;
        chart
            .configure_mesh()
            .x_desc(time_label)
            .x_label_formatter(&num)
            .y_label_formatter(&num)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()?;
        for (i, (t, v)) in time.iter().zip(p.values).enumerate() {
            if !(t.mean.is_finite() && v.mean.is_finite()) {
                continue;
            }
            let c = colour(i);
            for (a, b) in [((t.lo(), v.mean), (t.hi(), v.mean)), ((t.mean, v.lo()), (t.mean, v.hi()))] {
                if a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite() {
                    chart.draw_series(std::iter::once(PathElement::new(vec![a, b], c.stroke_width(2))))?;
                }
            }
            chart.draw_series(std::iter::once(Circle::new((t.mean, v.mean), 6, c.filled())))?;
        }
    }
    for (i, name) in names.iter().enumerate() {
        let y = 80 + 26 * i as i32;
        legend.draw(&Circle::new((16, y + 8), 6, colour(i).filled()))?;
        legend.draw(&Text::new(name.clone(), (30, y), (FONT, 15)))?;
    }
    Ok(())
}

/// Curves of metrics against the pass number, with interval bands.
pub fn per_pass(title: &str, labels: &[String], panels: &[Panel]) -> anyhow::Result<Vec<u8>> {
    let size = (1600u32, 480 * panels.len().div_ceil(3) as u32 + 60);
    chart(size, title, |body| draw_per_pass(body, labels, panels))
}

fn draw_per_pass(body: &DrawingArea<BitMapBackend, Shift>, labels: &[String], panels: &[Panel]) -> DrawResult<()> {
    let cells = body.split_evenly((panels.len().div_ceil(3), 3));
    let n = labels.len();
    for (p, area) in panels.iter().zip(cells) {
        let (lo, hi) = axis_range(p.values);
        let mut chart = ChartBuilder::on(&area)
            .caption(&p.title, (FONT, 19))
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5..n as f64 + 0.5, lo..hi)?;
        chart
            .configure_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let k = x.round() as usize;
                if (x - x.round()).abs() < 1e-6 && (1..=n).contains(&k) { format!("{k}") } else { String::new() }
            })
            .x_desc("after pass")
            .y_label_formatter(&num)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()?;
        let band: Vec<(f64, f64)> = p
            .values
            .iter()
            .enumerate()
            .map(|(k, e)| ((k + 1) as f64, if e.hi().is_finite() { e.hi() } else { e.mean }))
            .chain(
                p.values
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(k, e)| ((k + 1) as f64, if e.lo().is_finite() { e.lo() } else { e.mean })),
            )
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, colour(0).mix(0.25).filled())))?;
        let line: Vec<(f64, f64)> = p.values.iter().enumerate().map(|(k, e)| ((k + 1) as f64, e.mean)).collect();
        chart.draw_series(LineSeries::new(line.clone(), colour(0).stroke_width(3)))?;
        chart.draw_series(line.into_iter().map(|pt| Circle::new(pt, 5, colour(0).filled())))?;
    }
    Ok(())
}

/// One treatment's curve: its name and (time, one value per panel) points.
pub type Series = (String, Vec<(f64, Vec<f64>)>);

/// Curves against treatment time, one line per treatment (e.g. reference and
/// trainee), one panel per figure: `series[i].1[k]` is (time, one value per panel).
pub fn over_time(title: &str, panel_titles: &[&str], series: &[Series]) -> anyhow::Result<Vec<u8>> {
    let size = (1600u32, 560u32);
    chart(size, title, |area| {
        let (body, legend) = area.split_horizontally(size.0 - 260);
        let t_max = series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).fold(1e-9, f64::max);
        for (k, (p, cell)) in panel_titles.iter().zip(body.split_evenly((1, panel_titles.len().max(1)))).enumerate() {
            let hi =
                series.iter().flat_map(|s| s.1.iter().map(|x| x.1[k])).filter(|v| v.is_finite()).fold(1e-9, f64::max);
            let mut chart = ChartBuilder::on(&cell)
                .caption(*p, (FONT, 19))
                .margin(14)
                .x_label_area_size(45)
                .y_label_area_size(70)
                .build_cartesian_2d(0.0..t_max * 1.02, 0.0..hi * 1.08)?;
            chart
                .configure_mesh()
                .x_desc("treatment time (s)")
                .x_label_formatter(&num)
                .y_label_formatter(&num)
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 15))
                .draw()?;
            for (i, (_, pts)) in series.iter().enumerate() {
                let line: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
                    .chain(pts.iter().map(|(t, v)| (*t, v[k])))
                    .filter(|p| p.1.is_finite())
                    .collect();
                chart.draw_series(LineSeries::new(line.clone(), colour(i).stroke_width(3)))?;
                chart.draw_series(line.into_iter().skip(1).map(|pt| Circle::new(pt, 4, colour(i).filled())))?;
            }
        }
        for (i, (name, _)) in series.iter().enumerate() {
            let y = 80 + 26 * i as i32;
            legend.draw(&Rectangle::new([(8, y + 6), (28, y + 10)], colour(i).filled()))?;
            legend.draw(&Text::new(name.clone(), (36, y), (FONT, 15)))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Intervals are drawn on the data's own scale: the axis holds every
    /// interval, and does not reach down to 0 for figures far from it.
    #[test]
    fn interval_axes_are_scaled_to_the_data_not_from_0() {
        let e = |mean: f64, hw: f64| Estimate { mean, half_width: hw, ..Estimate::of(&[mean], 0.95) };
        let values = [e(0.87, 0.004), e(0.89, 0.003), e(0.885, 0.0)];
        let (lo, hi) = axis_range(&values);
        assert!(lo <= 0.866 && hi >= 0.893, "holds every interval: {lo}..{hi}");
        assert!(lo > 0.85 && hi < 0.91, "scaled to the data, not from 0: {lo}..{hi}");
        // One value: a small window around it; none: a unit axis.
        let (lo, hi) = axis_range(&[e(2500.0, 0.0)]);
        assert!(lo < 2500.0 && hi > 2500.0 && hi - lo < 100.0, "{lo}..{hi}");
        assert_eq!(axis_range(&[]), (0.0, 1.0));
    }
}
