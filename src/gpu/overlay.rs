//! The cartridge and its paths over the skin (`shaders/overlay.wgsl`): the
//! path of every pass, reconstructed from the punctures (their centroid in
//! short time bins, broken at turns and jumps), and the cartridge body at its
//! pose at the playback time: a pen cartridge as its tip and body along the skin's
//! normal, a roller as its drum lying across the lane.

use super::Gpu;
use super::pipeline::{PipelineSpec, build_pipeline};
use crate::core::engine::Outcome;
use crate::core::geometry::mesh::Vec3;
use crate::core::geometry::shape::Vec2;
use crate::core::input::cartridge::{Cartridge, Drive};
use wgpu::util::DeviceExt;

/// Punctures within this much time form one point of a path, s.
const BIN_S: f64 = 0.03;
/// A path breaks where consecutive points are further apart in time (a
/// turn), s, or in space (random stamping, a jump), mm.
const BREAK_S: f64 = 0.2;
const BREAK_MM: f64 = 6.0;
/// Paths float this far above the skin, so the depth test keeps them visible, mm.
const LIFT_MM: f64 = 0.4;

/// One point of a pass's path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathPoint {
    /// Point on the skin (the centroid of the bin's punctures), mm.
    pub pos: Vec3,
    /// The skin's outward normal there.
    pub normal: Vec3,
    /// Time of the point (the middle of its bin), s.
    pub t_s: f64,
}

/// The path one pass of one zone took.
#[derive(Clone, Debug, PartialEq)]
pub struct PassPath {
    /// Index of the zone in the scene.
    pub zone: usize,
    /// Index of the pass within its zone.
    pub pass: usize,
    /// Time of the pass's first puncture, s.
    pub start_s: f64,
    /// Time of the pass's last puncture, s.
    pub end_s: f64,
    /// Unbroken runs of points (lanes).
    pub runs: Vec<Vec<PathPoint>>,
}

/// The skin's point and outward normal under chart point `p` of zone `z`
/// (outward: away from `centre`, the middle of all zones; +z for flat zones).
fn on_skin(o: &Outcome, z: usize, p: Vec2, centre: Vec3) -> Option<(Vec3, Vec3)> {
    let Some(s) = o.scene.zones[z].surface.as_deref() else {
        return Some((Vec3::new(p.x, p.y, 0.0), Vec3::z()));
    };
    let (t, w) = s.index.locate(&s.mesh, p)?;
    let [a, b, c] = s.mesh.triangles[t].map(|v| s.mesh.positions_mm[v as usize]);
    let pos = a * w[0] + b * w[1] + c * w[2];
    let n = (b - a).cross(&(c - a));
    if n.norm() == 0.0 {
        return None;
    }
    let n = n.normalize();
    Some((pos, if n.dot(&(pos - centre)) < 0.0 { -n } else { n }))
}

/// Every pass's path, in time order within each zone. A pen's stamps put
/// every needle down at once, so short bins find its centre; a roller's
/// needles touch one by one, spread across the drum, so its bins span 3 mm
/// of travel and the path is smoothed over three bins either side.
pub fn pass_paths(o: &Outcome, centre: Vec3) -> Vec<PassPath> {
    let roller = o.scene.cartridge.is_roller();
    let bin_s = if roller { 3.0 / o.scene.hand.speed_mm_s.max(1e-3) } else { BIN_S };
    let break_s = BREAK_S.max(2.5 * bin_s);
    let mut paths = Vec::new();
    for (z, run) in o.simulation.zones.iter().enumerate() {
        for (pass, range) in run.pass_ranges.iter().enumerate() {
            let punctures = &run.punctures[range.clone()];
            let (Some(first), Some(last)) = (punctures.first(), punctures.last()) else { continue };
            let mut runs: Vec<Vec<PathPoint>> = Vec::new();
            let mut i = 0;
            while i < punctures.len() {
                let t0 = punctures[i].t_s as f64;
                let mut j = i;
                let mut sum = Vec2::zeros();
                while j < punctures.len() && (punctures[j].t_s as f64) - t0 < bin_s {
                    sum += punctures[j].pos_mm();
                    j += 1;
                }
                let t = (t0 + punctures[j - 1].t_s as f64) / 2.0;
                if let Some((pos, normal)) = on_skin(o, z, sum / (j - i) as f64, centre) {
                    let point = PathPoint { pos, normal, t_s: t };
                    let joins = runs
                        .last()
                        .and_then(|r| r.last())
                        .is_some_and(|prev: &PathPoint| t - prev.t_s <= break_s && (pos - prev.pos).norm() <= BREAK_MM);
                    match runs.last_mut() {
                        Some(r) if joins => r.push(point),
                        _ => runs.push(vec![point]),
                    }
                }
                i = j;
            }
            runs.retain(|r| r.len() >= 2);
            if roller {
                runs = runs.into_iter().map(|r| smoothed(&r, 3)).collect();
            }
            paths.push(PassPath { zone: z, pass, start_s: first.t_s as f64, end_s: last.t_s as f64, runs });
        }
    }
    paths
}

/// The run with each point's position and normal averaged over up to `k`
/// points either side (fewer near the ends, so the ends stay where they are).
fn smoothed(run: &[PathPoint], k: usize) -> Vec<PathPoint> {
    (0..run.len())
        .map(|i| {
            let k = k.min(i).min(run.len() - 1 - i);
            let window = &run[i - k..=i + k];
            let n = window.len() as f64;
            let pos = window.iter().map(|q| q.pos).sum::<Vec3>() / n;
            let normal = window.iter().map(|q| q.normal).sum::<Vec3>();
            let normal = if normal.norm() > 0.0 { normal.normalize() } else { run[i].normal };
            PathPoint { pos, normal, t_s: run[i].t_s }
        })
        .collect()
}

/// Where the cartridge is: on the skin, its normal, and its heading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// Point on the skin under the cartridge centre, mm.
    pub pos: Vec3,
    /// The skin's outward unit normal there.
    pub normal: Vec3,
    /// Unit direction of travel, in the skin's tangent plane.
    pub heading: Vec3,
}

/// The cartridge's pose at `t_s`: at the last path point reached in the pass
/// going on (or the last one done), heading along its lane. None before the
/// first stamp and after the last.
pub fn pose_at(paths: &[PassPath], t_s: f64) -> Option<Pose> {
    let path = paths
        .iter()
        .filter(|p| p.start_s <= t_s && t_s <= p.end_s + BREAK_S)
        .max_by(|a, b| a.start_s.total_cmp(&b.start_s))?;
    let (run, k) = path.runs.iter().rev().find_map(|r| {
        let k = r.partition_point(|q| q.t_s <= t_s);
        (k > 0).then(|| (r, k - 1))
    })?;
    let here = run[k];
    let (a, b) = if k + 1 < run.len() { (run[k].pos, run[k + 1].pos) } else { (run[k - 1].pos, run[k].pos) };
    let along = b - a;
    let tangent = along - here.normal * along.dot(&here.normal);
    let heading = if tangent.norm() > 1e-9 { tangent.normalize() } else { any_perpendicular(here.normal) };
    Some(Pose { pos: here.pos, normal: here.normal, heading })
}

fn any_perpendicular(n: Vec3) -> Vec3 {
    let a = if n.x.abs() < 0.9 { Vec3::x() } else { Vec3::y() };
    n.cross(&a).normalize()
}

/// A vertex of the overlay (paths and cartridge body), as `shaders/overlay.wgsl` reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct OverlayVertex {
    position_mm: [f32; 3],
    normal: [f32; 3],
    colour: [f32; 4],
    /// (this vertex, its pass's start, its pass's end), s.
    times_s: [f32; 3],
}

const ALWAYS: [f32; 3] = [-1.0, -1.0, 1e30];

fn vertex(p: Vec3, n: Vec3, colour: [f32; 4], times_s: [f32; 3]) -> OverlayVertex {
    OverlayVertex {
        position_mm: [p.x as f32, p.y as f32, p.z as f32],
        normal: [n.x as f32, n.y as f32, n.z as f32],
        colour,
        times_s,
    }
}

/// A closed cylinder as a triangle list: base centre, unit axis, length, radius.
fn cylinder(out: &mut Vec<OverlayVertex>, base: Vec3, axis: Vec3, len: f64, radius: f64, colour: [f32; 4]) {
    const SEGMENTS: usize = 24;
    let u = any_perpendicular(axis);
    let v = axis.cross(&u);
    let rim = |k: usize| {
        let a = std::f64::consts::TAU * k as f64 / SEGMENTS as f64;
        u * a.cos() + v * a.sin()
    };
    let top = base + axis * len;
    for k in 0..SEGMENTS {
        let (r0, r1) = (rim(k), rim(k + 1));
        let (b0, b1, t0, t1) = (base + r0 * radius, base + r1 * radius, top + r0 * radius, top + r1 * radius);
        for (p, n) in [(b0, r0), (b1, r1), (t1, r1), (b0, r0), (t1, r1), (t0, r0)] {
            out.push(vertex(p, n, colour, ALWAYS));
        }
        for (c, e0, e1, n) in [(base, b1, b0, -axis), (top, t0, t1, axis)] {
            for p in [c, e0, e1] {
                out.push(vertex(p, n, colour, ALWAYS));
            }
        }
    }
}

/// The cartridge's body at `pose`, as translucent triangles: a pen
/// cartridge's tip (as wide as its needle footprint) and body along the
/// normal, with the footprint marked red at the skin; a roller's drum across
/// the lane, with its handle.
pub fn cartridge_body(cart: &Cartridge, pose: &Pose) -> Vec<OverlayVertex> {
    let mut out = Vec::new();
    let (n, h) = (pose.normal, pose.heading);
    match &cart.drive {
        Drive::Pen { .. } => {
            let tip_r = cart.reach_mm() + 1.5;
            cylinder(&mut out, pose.pos + n * 0.6, n, 0.4, cart.reach_mm() + 0.3, [0.85, 0.05, 0.2, 0.55]);
            cylinder(&mut out, pose.pos + n * 1.0, n, 8.0, tip_r, [0.55, 0.65, 0.8, 0.35]);
            cylinder(&mut out, pose.pos + n * 9.0, n, 14.0, tip_r + 1.5, [0.3, 0.35, 0.45, 0.3]);
        }
        Drive::Roller { circumference_mm, axial_mm, .. } => {
            let radius = circumference_mm / std::f64::consts::TAU;
            let (lo, hi) = axial_mm.iter().fold((0.0f64, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
            let across = n.cross(&h).normalize();
            let centre = pose.pos + n * (radius + 0.3);
            cylinder(&mut out, centre + across * (lo - 1.0), across, hi - lo + 2.0, radius, [0.55, 0.65, 0.8, 0.45]);
            // The handle: up and back from the drum.
            let handle = (n - h * 1.5).normalize();
            cylinder(&mut out, centre, handle, 60.0, 2.5, [0.3, 0.35, 0.45, 0.4]);
        }
    }
    out
}

/// How far a drawn path may stray from the reconstructed one along the
/// skin, mm: the current pass's (about a pixel where a head fills a
/// 720-pixel view), and the faint passes done (they grow to tens of
/// thousands of segments by the end of a whole face). Off the skin a path
/// strays at most half its lift, so it never dips under it.
const PATH_TOLERANCE_MM: f64 = 0.5;
const DONE_PATH_TOLERANCE_MM: f64 = 1.5;

/// The points of a run needed to draw it within `tol_mm`
/// (Ramer-Douglas-Peucker in 3D): a point is dropped when the segment
/// between the points kept either side passes within `tol_mm` of it along
/// the skin and within half of `LIFT_MM` along its normal, and the time
/// interpolated along that segment (which splits a pass's path into behind
/// and ahead of the cartridge) puts it within `tol_mm` too. A lane's path is
/// nearly straight, and a rasteriser's time goes with segments.
fn simplified(run: &[PathPoint], tol_mm: f64) -> Vec<PathPoint> {
    if run.len() <= 2 {
        return run.to_vec();
    }
    let mut keep = vec![false; run.len()];
    let (first, last) = (0, run.len() - 1);
    (keep[first], keep[last]) = (true, true);
    let mut spans = vec![(first, last)];
    while let Some((a, b)) = spans.pop() {
        let (pa, pb) = (run[a], run[b]);
        let ab = pb.pos - pa.pos;
        let (len2, dt) = (ab.norm_squared(), pb.t_s - pa.t_s);
        let mut worst = (0.0, a);
        for (i, q) in run.iter().enumerate().take(b).skip(a + 1) {
            let ap = q.pos - pa.pos;
            let f = if len2 > 0.0 { (ap.dot(&ab) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let off = ap - ab * f;
            let off_normal = off.dot(&q.normal).abs();
            let off_along = (off - q.normal * off.dot(&q.normal)).norm();
            // Where the interpolated time says the point is, against where it is.
            let g = if dt > 0.0 { ((q.t_s - pa.t_s) / dt).clamp(0.0, 1.0) } else { f };
            let off_time = (f - g).abs() * len2.sqrt();
            // In units of what is allowed.
            let d = (off_along.max(off_time) / tol_mm).max(off_normal / (LIFT_MM / 2.0));
            if d > worst.0 {
                worst = (d, i);
            }
        }
        if worst.0 > 1.0 {
            keep[worst.1] = true;
            spans.push((a, worst.1));
            spans.push((worst.1, b));
        }
    }
    run.iter().zip(&keep).filter(|(_, k)| **k).map(|(p, _)| *p).collect()
}

/// One pass's path in the line list: its start time and its vertices, drawn
/// as a pass done and as the current pass.
#[derive(Clone, Debug)]
struct PathRange {
    start_s: f64,
    done: std::ops::Range<u32>,
    current: std::ops::Range<u32>,
}

/// The paths as a line list, lifted off the skin, in a colour per pass: every
/// pass within `DONE_PATH_TOLERANCE_MM` in the order the passes start, then
/// every pass again within `PATH_TOLERANCE_MM`; and each pass's ranges.
fn path_lines(paths: &[PassPath]) -> (Vec<OverlayVertex>, Vec<PathRange>) {
    const COLOURS: [[f32; 4]; 4] =
        [[0.0, 0.25, 0.9, 0.9], [0.9, 0.35, 0.0, 0.9], [0.0, 0.6, 0.3, 0.9], [0.6, 0.0, 0.7, 0.9]];
    let mut order: Vec<&PassPath> = paths.iter().collect();
    order.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    let mut out = Vec::new();
    let mut lines = |p: &PassPath, tol_mm: f64| {
        let start = out.len() as u32;
        let colour = COLOURS[p.pass % COLOURS.len()];
        for run in &p.runs {
            for w in simplified(run, tol_mm).windows(2) {
                for q in w {
                    let times = [q.t_s as f32, p.start_s as f32, p.end_s as f32];
                    out.push(vertex(q.pos + q.normal * LIFT_MM, Vec3::zeros(), colour, times));
                }
            }
        }
        start..out.len() as u32
    };
    let done: Vec<_> = order.iter().map(|p| lines(p, DONE_PATH_TOLERANCE_MM)).collect();
    let current: Vec<_> = order.iter().map(|p| lines(p, PATH_TOLERANCE_MM)).collect();
    let ranges = order
        .iter()
        .zip(done.into_iter().zip(current))
        .map(|(p, (done, current))| PathRange { start_s: p.start_s, done, current })
        .collect();
    (out, ranges)
}

/// Room for the cartridge body's vertices.
const BODY_CAPACITY: usize = 2048;

/// The overlay's pipelines and buffers.
pub struct Overlay {
    triangles: wgpu::RenderPipeline,
    lines: wgpu::RenderPipeline,
    playback: wgpu::Buffer,
    bind: wgpu::BindGroup,
    paths: Vec<PassPath>,
    path_vertices: Option<wgpu::Buffer>,
    /// Per pass in start order: where its path is in the line list.
    path_ranges: Vec<PathRange>,
    /// The path vertices drawn at the playback time: the passes begun before
    /// the last one begun (done), and that one (current, or just done).
    path_shown: [std::ops::Range<u32>; 2],
    body: wgpu::Buffer,
    body_count: u32,
    cartridge: Cartridge,
}

impl Overlay {
    /// Builds the overlay's pipelines for a `format` target (with the camera's
    /// bind group layout), the paths of `o`'s passes (normals pointing away from
    /// `centre`) and the cartridge body's buffer.
    pub fn new(
        gpu: &Gpu,
        o: &Outcome,
        camera_layout: &wgpu::BindGroupLayout,
        format: wgpu::TextureFormat,
        centre: Vec3,
    ) -> Overlay {
        let d = &gpu.device;
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("overlay.wgsl"),
            source: wgpu::ShaderSource::Wgsl(super::shader("overlay.wgsl").into()),
        });
        let playback_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("playback"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }],
        });
        let layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("overlay"),
            bind_group_layouts: &[Some(camera_layout), Some(&playback_layout)],
            immediate_size: 0,
        });
        const ATTRIBUTES: [wgpu::VertexAttribute; 4] =
            wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x4, 3 => Float32x3];
        let spec = |label, topology| PipelineSpec {
            label,
            layout: &layout,
            module: &module,
            entry_points: ("vs_overlay", "fs_overlay"),
            buffer: wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<OverlayVertex>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &ATTRIBUTES,
            },
            depth_compare: wgpu::CompareFunction::LessEqual,
            format,
            topology,
            blend: true,
        };
        let triangles = build_pipeline(gpu, spec("cartridge", wgpu::PrimitiveTopology::TriangleList));
        let lines = build_pipeline(gpu, spec("paths", wgpu::PrimitiveTopology::LineList));
        let playback = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("playback"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("playback"),
            layout: &playback_layout,
            entries: &[wgpu::BindGroupEntry { binding: 0, resource: playback.as_entire_binding() }],
        });
        let paths = pass_paths(o, centre);
        let (lines_data, path_ranges) = path_lines(&paths);
        let path_vertices = (!lines_data.is_empty()).then(|| {
            d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("paths"),
                contents: bytemuck::cast_slice(&lines_data),
                usage: wgpu::BufferUsages::VERTEX,
            })
        });
        let body = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("cartridge"),
            size: (BODY_CAPACITY * std::mem::size_of::<OverlayVertex>()) as u64,
            usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Overlay {
            triangles,
            lines,
            playback,
            bind,
            paths,
            path_vertices,
            path_ranges,
            path_shown: [0..0, 0..0],
            body,
            body_count: 0,
            cartridge: o.scene.cartridge.clone(),
        }
    }

    /// Moves the playback to `t_s`: which paths show, and where the cartridge is.
    pub fn set_time(&mut self, gpu: &Gpu, t_s: f64) {
        gpu.queue.write_buffer(&self.playback, 0, bytemuck::cast_slice(&[t_s as f32, 0.0, 0.0, 0.0]));
        let begun = self.path_ranges.iter().take_while(|r| r.start_s <= t_s).count();
        self.path_shown = match begun {
            0 => [0..0, 0..0],
            n => {
                let done = self.path_ranges.first().map_or(0, |r| r.done.start)..self.path_ranges[n - 1].done.start;
                [done, self.path_ranges[n - 1].current.clone()]
            }
        };
        let body = pose_at(&self.paths, t_s).map(|pose| cartridge_body(&self.cartridge, &pose)).unwrap_or_default();
        let body = &body[..body.len().min(BODY_CAPACITY)];
        if !body.is_empty() {
            gpu.queue.write_buffer(&self.body, 0, bytemuck::cast_slice(body));
        }
        self.body_count = body.len() as u32;
    }

    /// The pose at `t_s`, if the cartridge is on the skin then.
    pub fn pose(&self, t_s: f64) -> Option<Pose> {
        pose_at(&self.paths, t_s)
    }

    /// Draws the paths, then the cartridge (camera bound at group 0).
    pub fn draw(&self, pass: &mut wgpu::RenderPass, camera: &wgpu::BindGroup) {
        pass.set_bind_group(0, camera, &[]);
        pass.set_bind_group(1, &self.bind, &[]);
        if let Some(buffer) = &self.path_vertices {
            pass.set_pipeline(&self.lines);
            pass.set_vertex_buffer(0, buffer.slice(..));
            for range in self.path_shown.iter().filter(|r| !r.is_empty()) {
                pass.draw(range.clone(), 0..1);
            }
        }
        if self.body_count > 0 {
            pass.set_pipeline(&self.triangles);
            pass.set_vertex_buffer(0, self.body.slice(..));
            pass.draw(0..self.body_count, 0..1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::input::scene::Scene;

    fn outcome(file: &str) -> Outcome {
        let path = format!("{}/scenes/{file}", env!("CARGO_MANIFEST_DIR"));
        let scene = Scene::from_toml_str(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
        crate::core::engine::run(&scene, &Default::default()).unwrap()
    }

    #[test]
    fn a_simplified_path_keeps_its_ends_and_stays_within_the_tolerance() {
        // A lane at 40 mm/s with a 0.3 mm wobble and a turn, sampled every 1.2 mm.
        let point = |i: usize| {
            let t = i as f64 * 0.03;
            let x = if i < 100 { t * 40.0 } else { 120.0 };
            let y = if i < 100 { 0.3 * (i as f64 * 0.7).sin() } else { (i - 100) as f64 * 1.2 };
            PathPoint { pos: Vec3::new(x, y, 0.0), normal: Vec3::z(), t_s: t }
        };
        let run: Vec<PathPoint> = (0..150).map(point).collect();
        for tol in [0.15, 0.5, 1.0] {
            let kept = simplified(&run, tol);
            assert_eq!((kept[0], *kept.last().unwrap()), (run[0], run[149]));
            assert!(kept.len() < run.len() && kept.len() >= 3, "{tol}: {} points", kept.len());
            assert!(kept.windows(2).all(|w| w[0].t_s < w[1].t_s));
            // Every dropped point lies within `tol` of the segment drawn over its time.
            for q in &run {
                let k = kept.partition_point(|p| p.t_s <= q.t_s).clamp(1, kept.len() - 1);
                let (a, b) = (kept[k - 1], kept[k]);
                let ab = b.pos - a.pos;
                let f = ((q.pos - a.pos).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
                assert!((a.pos + ab * f - q.pos).norm() <= tol + 1e-9, "{tol}: {q:?}");
            }
        }
        // A wobble under the tolerance is drawn as the straight lane.
        let straight = simplified(&run[..100], 0.5);
        assert_eq!(straight.len(), 2);
        // Round a curved zone (60 mm radius), chords never dip more than half
        // the lift under the skin, however loose the tolerance along it.
        let arc: Vec<PathPoint> = (0..150)
            .map(|i| {
                let a = i as f64 / 150.0 * std::f64::consts::FRAC_PI_2;
                let normal = Vec3::new(a.sin(), 0.0, a.cos());
                PathPoint { pos: normal * 60.0, normal, t_s: i as f64 * 0.03 }
            })
            .collect();
        let kept = simplified(&arc, DONE_PATH_TOLERANCE_MM);
        assert!(kept.len() < 50, "{} points", kept.len());
        for q in &arc {
            let k = kept.partition_point(|p| p.t_s <= q.t_s).clamp(1, kept.len() - 1);
            let (a, b) = (kept[k - 1], kept[k]);
            let ab = b.pos - a.pos;
            let f = ((q.pos - a.pos).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
            let under = (q.pos - (a.pos + ab * f)).dot(&q.normal);
            assert!(under <= LIFT_MM / 2.0 + 1e-9, "dips {under} mm under the skin");
        }
    }

    /// Lanes of (zone, pass) in the plan.
    fn lanes(o: &Outcome, zone: usize, pass: usize) -> usize {
        o.plan.strokes.iter().filter(|s| s.zone == zone && s.pass == pass).count()
    }

    /// The path's length against the planned lanes' length.
    fn length_ratio(o: &Outcome, p: &PassPath) -> f64 {
        let planned: f64 =
            o.plan.strokes.iter().filter(|s| s.zone == p.zone && s.pass == p.pass).map(|s| s.length_mm()).sum();
        let drawn: f64 = p.runs.iter().flat_map(|r| r.windows(2)).map(|w| (w[1].pos - w[0].pos).norm()).sum();
        drawn / planned
    }

    #[test]
    fn pen_paths_follow_the_lanes_and_the_pose_heads_along_them() {
        let o = outcome("bench-100mm.toml");
        let paths = pass_paths(&o, Vec3::zeros());
        assert_eq!(paths.len(), 4);
        for (p, angle) in paths.iter().zip([0.0f64, 90.0, 45.0, 135.0]) {
            let dir = Vec3::new(angle.to_radians().cos(), angle.to_radians().sin(), 0.0);
            let n = lanes(&o, 0, p.pass);
            // One run per lane (a lane clipped to a sliver may leave fewer than two points).
            assert!(p.runs.len() <= n && p.runs.len() + 2 >= n, "pass {}: {} runs, {n} lanes", p.pass, p.runs.len());
            let ratio = length_ratio(&o, p);
            assert!((0.9..1.1).contains(&ratio), "pass {}: drawn / planned length {ratio:.3}", p.pass);
            for run in p.runs.iter().filter(|r| r.len() > 20) {
                let chord = run[run.len() - 1].pos - run[0].pos;
                assert!(chord.normalize().dot(&dir).abs() > 0.99, "pass {}: a run is not along its lane", p.pass);
            }
            // Mid-pass, the cartridge sits where that moment's needles went in, heading along the lane.
            let t = (p.start_s + p.end_s) / 2.0;
            let pose = pose_at(&paths, t).unwrap();
            assert!(pose.heading.dot(&dir).abs() > 0.95, "pass {}: heading {:?}", p.pass, pose.heading);
            assert_eq!(pose.normal, Vec3::z());
            let run = &o.simulation.zones[0].punctures;
            let near: Vec<Vec2> =
                run.iter().filter(|q| ((q.t_s as f64) - t).abs() < BIN_S).map(|q| q.pos_mm()).collect();
            let centre = near.iter().sum::<Vec2>() / near.len() as f64;
            let d = (Vec2::new(pose.pos.x, pose.pos.y) - centre).norm();
            assert!(d < 1.5, "pass {}: cartridge {d:.2} mm from the needles", p.pass);
        }
        assert!(pose_at(&paths, -1.0).is_none(), "no cartridge before the first stamp");
    }

    #[test]
    fn roller_paths_are_smooth_lanes_and_the_drum_lies_across_them() {
        let o = outcome("roller.toml");
        let paths = pass_paths(&o, Vec3::zeros());
        for p in &paths {
            // Runs may join where a repeat turns back on its own lane; the
            // length shows every lane is drawn.
            assert!(p.runs.len() <= lanes(&o, p.zone, p.pass));
            let ratio = length_ratio(&o, p);
            assert!((0.85..1.1).contains(&ratio), "pass {}: drawn / planned length {ratio:.3}", p.pass);
            for run in &p.runs {
                // Smooth: no step between neighbours much longer than the bins' travel.
                for w in run.windows(2) {
                    assert!((w[1].pos - w[0].pos).norm() < 3.0 * 3.0, "a jump in a roller path");
                }
            }
        }
        let p = &paths[0];
        let pose = pose_at(&paths, (p.start_s + p.end_s) / 2.0).unwrap();
        let body = cartridge_body(&o.scene.cartridge, &pose);
        assert!(!body.is_empty() && body.len() <= BODY_CAPACITY);
        // The drum touches the skin: its lowest point is within a millimetre of it.
        let lowest = body.iter().map(|v| v.position_mm[2]).fold(f32::INFINITY, f32::min);
        assert!(lowest.abs() < 1.0, "drum bottom at z = {lowest}");
    }

    #[test]
    fn on_a_curved_zone_the_pen_stands_on_the_skin_along_its_outward_normal() {
        let o = outcome("full-face.toml");
        let (mut lo, mut hi) = (Vec3::repeat(f64::INFINITY), Vec3::repeat(f64::NEG_INFINITY));
        for z in o.scene.zones.iter().filter_map(|z| z.surface.as_deref()) {
            for p in &z.mesh.positions_mm {
                lo = lo.inf(p);
                hi = hi.sup(p);
            }
        }
        let centre = (lo + hi) / 2.0;
        let paths = pass_paths(&o, centre);
        let forehead = paths.iter().find(|p| p.zone == 0).unwrap();
        let pose = pose_at(&paths, (forehead.start_s + forehead.end_s) / 2.0).unwrap();
        // The forehead faces forward (+z) and up; the heading lies in the skin's tangent plane.
        assert!(pose.normal.z > 0.5, "{:?}", pose.normal);
        assert!(pose.heading.dot(&pose.normal).abs() < 1e-9);
        assert!((pose.pos - centre).dot(&pose.normal) > 0.0);
    }
}
