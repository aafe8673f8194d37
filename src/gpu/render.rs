//! Offscreen rendering of a run's zones (`shaders/mesh.wgsl`): each zone's
//! mesh (mesh zones simplified for drawing within a tolerance; flat zones in
//! their plane, as a triangle fan when convex, else a triangulated sheet,
//! simplified the same way), lit, with the density or band
//! layer computed on the GPU from the counts the accumulation pass wrote.
//! Read back as RGBA pixels.

use super::Gpu;
use super::accumulate::Accumulator;
use super::hits::{GpuHits, HitGrid, Splatter};
use super::overlay::Overlay;
use super::pipeline::{DEPTH_FORMAT, PipelineSpec, build_pipeline};
use crate::core::engine::Outcome;
use crate::core::geometry::mesh::{Mesh, Vec3};
use crate::core::geometry::shape::{Shape, Vec2};
use nalgebra::{Matrix4, Perspective3, Point3};
use wgpu::util::DeviceExt;

pub use crate::core::report::Layer;

/// What a draw does first with the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// Whiten the whole target first.
    Clear,
    /// Draw over what is there (a second pane beside the first).
    Keep,
}

/// Where the camera looks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "app", derive(clap::ValueEnum))]
pub enum View {
    /// From the front.
    Front,
    /// From the patient's left.
    Left,
    /// From the patient's right.
    Right,
    /// From between the front and the patient's left (45 degrees).
    ThreeQuarter,
}

/// What to render.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderConfig {
    /// The layer painted on the skin.
    pub layer: Layer,
    /// Where the camera looks from.
    pub view: View,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// Show the treatment as it stood at this time, s (None: all of it).
    pub at_time_s: Option<f64>,
    /// The density colour scale, punctures/cm2 (None: 0 to the densest cell, rounded up).
    pub range_per_cm2: Option<[f64; 2]>,
    /// Draw the whole head around built-in zones on it.
    pub context: bool,
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Vertex {
    position_mm: [f32; 3],
    normal: [f32; 3],
    chart_mm: [f32; 2],
}

impl Vertex {
    /// Its layout in a vertex buffer (the zones' and the head's pipelines).
    const LAYOUT: wgpu::VertexBufferLayout<'static> = wgpu::VertexBufferLayout {
        array_stride: std::mem::size_of::<Vertex>() as u64,
        step_mode: wgpu::VertexStepMode::Vertex,
        attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x2],
    };
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CameraUniform {
    view_proj: [[f32; 4]; 4],
    eye: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LayerUniform {
    origin_mm: [f32; 2],
    inv_cell_mm: f32,
    cells_u: u32,
    cells_v: u32,
    /// 0: density (viridis); 1: target band (under / in / over); 2: hits.
    mode: u32,
    range_per_cm2: [f32; 2],
    target_per_cm2: [f32; 2],
    inv_h_mm: f32,
    raster_u: u32,
    raster_v: u32,
    /// The avoid mask: cells across, cells up, cells per mm.
    avoid_u: u32,
    avoid_v: u32,
    avoid_inv_mm: f32,
    /// 1 where the whole head is drawn under the zones.
    context: u32,
    _pad: [u32; 3],
    /// The skin's colour (RGB, 1): cells no puncture has reached yet.
    skin: [f32; 4],
}

/// A flat zone as a sheet of triangles in the z = 0 plane (chart = position),
/// keeping the grid triangles whose centre is inside the outline.
fn flat_sheet(o: &Outcome, z: usize) -> Mesh {
    let region = &o.scene.zones[z].region;
    // A convex outline is one fan of triangles from its centre: the layer is
    // coloured per fragment from the chart position, so a flat zone needs no
    // inner vertices, and a rasteriser's cost goes with the triangles.
    if region.outline.is_convex() {
        let ring = region.outline.outline_mm();
        let n = ring.len();
        let centre = ring.iter().sum::<Vec2>() / n as f64;
        let chart_mm: Vec<Vec2> = std::iter::once(centre).chain(ring).collect();
        let positions_mm = chart_mm.iter().map(|c| Vec3::new(c.x, c.y, 0.0)).collect();
        let triangles = (0..n as u32).map(|i| [0, i + 1, (i + 1) % n as u32 + 1]).collect();
        return Mesh { positions_mm, chart_mm, triangles };
    }
    let b = region.bounds();
    let size = b.size_mm();
    let n = 200usize;
    let step = size.x.max(size.y) / n as f64;
    let (nu, nv) = (((size.x / step).ceil() as usize).max(1), ((size.y / step).ceil() as usize).max(1));
    let mut mesh = Mesh::from_grid(nu, nv, |s, t| Vec3::new(b.min_mm.x + s * size.x, b.min_mm.y + t * size.y, 0.0));
    mesh.chart_mm = mesh.positions_mm.iter().map(|p| Vec2::new(p.x, p.y)).collect();
    mesh.triangles.retain(|t| {
        let c = t.iter().map(|&v| mesh.chart_mm[v as usize]).sum::<Vec2>() / 3.0;
        region.outline.contains(c)
    });
    mesh
}

/// A mesh zone's triangles to draw: those whose chart centre lies inside
/// its clip (zones clipped from one scan share its mesh and so tile it
/// without drawing over each other), or all when it has none.
fn clipped(mesh: &Mesh, clip: Option<&Shape>) -> Mesh {
    let mut mesh = mesh.clone();
    if let Some(clip) = clip {
        let chart = &mesh.chart_mm;
        mesh.triangles.retain(|t| clip.contains(t.iter().map(|&v| chart[v as usize]).sum::<Vec2>() / 3.0));
    }
    mesh
}

/// How far a drawn surface may stray from the simulated one, mm, in 3D and
/// in the chart that colours it: under half a pixel where a head fills a
/// 720-pixel view (about 0.36 mm a pixel).
pub const DRAW_TOLERANCE_MM: f32 = 0.15;

/// The vertices and triangle indices a zone is drawn with: its mesh
/// simplified (meshoptimizer) as far as it goes without the surface or its
/// chart moving more than `DRAW_TOLERANCE_MM`, the outline kept in place.
/// Kept vertices are the mesh's own, with the fine mesh's normals, so the
/// colouring is unchanged at every vertex. A software rasteriser pays for
/// every triangle (set up on one thread), and the simulation's 2 mm meshes
/// are drawn as triangles only a few pixels across.
fn drawn(mesh: &Mesh) -> (Vec<Vertex>, Vec<u32>) {
    let all = vertices(mesh);
    let indices: Vec<u32> = mesh.triangles.iter().flatten().copied().collect();
    let positions: Vec<[f32; 3]> = all.iter().map(|v| v.position_mm).collect();
    let charts: Vec<f32> = all.iter().flat_map(|v| v.chart_mm).collect();
    let chart = |t: &[u32]| {
        [t[0], t[1], t[2]].map(|i| Vec2::new(charts[2 * i as usize] as f64, charts[2 * i as usize + 1] as f64))
    };
    let orientation = indices.chunks_exact(3).map(|t| chart_fold(chart(t), 1.0).0).sum::<f64>().signum();
    // The simplifier weighs the chart's error, but it may still leave a
    // triangle folded over in the chart: if one is wider than the tolerance,
    // it runs again at half the tolerance, and after three tries the mesh is
    // drawn as it is.
    let mut tolerance = DRAW_TOLERANCE_MM;
    for _ in 0..3 {
        if indices.is_empty() {
            break;
        }
        let simplified = meshopt::simplify_with_attributes_and_locks_decoder(
            &indices,
            &positions,
            &charts,
            &[1.0, 1.0],
            std::mem::size_of::<[f32; 2]>(),
            &vec![false; positions.len()],
            0,
            tolerance,
            meshopt::SimplifyOptions::LockBorder | meshopt::SimplifyOptions::ErrorAbsolute,
            None,
        );
        if simplified.chunks_exact(3).all(|t| chart_fold(chart(t), orientation).1 <= tolerance as f64) {
            let mut indices = meshopt::optimize_vertex_cache(&simplified, all.len());
            let kept = meshopt::optimize_vertex_fetch(&mut indices, &all);
            return (kept, indices);
        }
        tolerance /= 2.0;
    }
    (all, indices)
}

/// A chart triangle's signed doubled area (positive: the way `orientation`
/// turns), and how wide it is where it folds over, mm: its height over its
/// longest side when it turns the other way (a sliver folded within that
/// width colours the skin as its neighbours would), else 0.
fn chart_fold([a, b, c]: [Vec2; 3], orientation: f64) -> (f64, f64) {
    let area = (b - a).perp(&(c - a)) * orientation;
    let longest = (b - a).norm().max((c - b).norm()).max((a - c).norm());
    (area, if area < 0.0 { -area / longest.max(1e-12) } else { 0.0 })
}

fn vertices(mesh: &Mesh) -> Vec<Vertex> {
    let mut normals = vec![Vec3::zeros(); mesh.positions_mm.len()];
    for t in &mesh.triangles {
        let [a, b, c] = t.map(|v| mesh.positions_mm[v as usize]);
        let n = (b - a).cross(&(c - a)); // area-weighted
        for &v in t {
            normals[v as usize] += n;
        }
    }
    mesh.positions_mm
        .iter()
        .zip(&normals)
        .zip(&mesh.chart_mm)
        .map(|((p, n), c)| {
            let n = if n.norm() > 0.0 { n.normalize() } else { Vec3::z() };
            Vertex {
                position_mm: [p.x as f32, p.y as f32, p.z as f32],
                normal: [n.x as f32, n.y as f32, n.z as f32],
                chart_mm: [c.x as f32, c.y as f32],
            }
        })
        .collect()
}

/// wgpu's clip space has z in [0, 1]; nalgebra's projection gives [-1, 1].
#[rustfmt::skip]
const OPENGL_TO_WGPU: Matrix4<f64> = Matrix4::new(
    1.0, 0.0, 0.0, 0.0,
    0.0, 1.0, 0.0, 0.0,
    0.0, 0.0, 0.5, 0.5,
    0.0, 0.0, 0.0, 1.0,
);

/// An orbit camera around the zones: yaw about the vertical (0 = from the
/// front, +90 deg = from the patient's left), pitch, and a zoom factor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Orbit {
    /// Turn about the vertical, degrees (0 = from the front, +90 = from the patient's left).
    pub yaw_deg: f64,
    /// Tilt, degrees (positive: from above; held within ±85).
    pub pitch_deg: f64,
    /// Zoom factor (1 = the zones fill the view; larger is closer; held within 0.1 to 20).
    pub zoom: f64,
    /// Where the camera looks, moved from the zones' centre across the view
    /// (right, up), in units of the zones' bounding radius.
    pub pan: [f64; 2],
}

impl Orbit {
    /// The camera of a standard view: level, unzoomed, not panned.
    pub fn from_view(view: View) -> Orbit {
        let yaw_deg = match view {
            View::Front => 0.0,
            View::Left => 90.0,
            View::Right => -90.0,
            View::ThreeQuarter => 45.0,
        };
        Orbit { yaw_deg, pitch_deg: 0.0, zoom: 1.0, pan: [0.0, 0.0] }
    }
}

fn camera(bounds: (Vec3, Vec3), reach_mm: f64, orbit: Orbit, aspect: f64) -> CameraUniform {
    let (m, eye) = clip_from_world(bounds, reach_mm, orbit, aspect);
    let mut view_proj = [[0f32; 4]; 4];
    for (c, col) in view_proj.iter_mut().enumerate() {
        for (r, v) in col.iter_mut().enumerate() {
            *v = m[(r, c)] as f32; // column-major, as WGSL reads it
        }
    }
    CameraUniform { view_proj, eye: [eye.x as f32, eye.y as f32, eye.z as f32, 1.0] }
}

/// The camera's matrix (world mm to wgpu clip space) and the eye point,
/// framing `bounds`; what is drawn lies within `reach_mm` of their centre
/// (the depth range: twice their radius, or more for the drawn head).
fn clip_from_world(bounds: (Vec3, Vec3), reach_mm: f64, orbit: Orbit, aspect: f64) -> (Matrix4<f64>, Vec3) {
    let (lo, hi) = bounds;
    let centre = (lo + hi) / 2.0;
    let radius = ((hi - lo).norm() / 2.0).max(1.0);
    let fov_y = 30f64.to_radians();
    let fit = (fov_y / 2.0).sin() * aspect.min(1.0);
    let distance = radius / fit * 1.05 / orbit.zoom.clamp(0.1, 20.0);
    let (yaw, pitch) = (orbit.yaw_deg.to_radians(), orbit.pitch_deg.clamp(-85.0, 85.0).to_radians());
    let dir = Vec3::new(yaw.sin() * pitch.cos(), pitch.sin(), yaw.cos() * pitch.cos());
    let right = Vec3::y().cross(&dir).normalize();
    let up = dir.cross(&right);
    let centre = centre + (right * orbit.pan[0] + up * orbit.pan[1]) * radius;
    let eye = centre + dir * distance;
    let look = Matrix4::look_at_rh(&Point3::from(eye), &Point3::from(centre), &Vec3::y());
    let reach = (2.0 * radius).max(reach_mm) + orbit.pan[0].hypot(orbit.pan[1]) * radius;
    let proj = Perspective3::new(aspect, fov_y, (distance - reach).max(1.0), distance + reach).to_homogeneous();
    (OPENGL_TO_WGPU * proj * look, eye)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Marker {
    position_mm: [f32; 3],
    colour_radius: [f32; 4],
    /// This corner of the dot's triangle, in units of its radius.
    corner: [f32; 2],
}

/// The corners of a triangle around the unit circle (its inscribed circle).
const DOT_CORNERS: [[f32; 2]; 3] = [[0.0, 2.0], [-1.732_050_8, -1.0], [1.732_050_8, -1.0]];

/// At most this many recent punctures are drawn as dots (the newest).
pub const MAX_RECENT_MARKERS: usize = 2500;

struct ZoneGpu {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
    counts: wgpu::Buffer,
    areas: wgpu::Buffer,
    /// One bit per avoid-mask cell: inside an avoid region.
    avoid: wgpu::Buffer,
    /// The hit raster, made the first time the hit layer is shown.
    hits: Option<GpuHits>,
    layer_buffer: wgpu::Buffer,
    uniform: LayerUniform,
    bind: wgpu::BindGroup,
    /// Punctures already counted (they are in time order).
    counted: usize,
}

/// The drawn head around built-in zones (`context.wgsl`).
struct ContextGpu {
    pipeline: wgpu::RenderPipeline,
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
    bind: wgpu::BindGroup,
}

/// The skin's colour of the drawn head, and of zone cells no puncture has reached.
const SKIN: [f64; 3] = crate::core::geometry::anatomy::SKIN_RGB;

/// Whether run `o` has a built-in zone on the head, the neck or the
/// decolletage: then the whole head is drawn around its zones.
pub fn has_context(o: &Outcome) -> bool {
    use crate::core::geometry::anatomy;
    o.scene.zones.iter().any(|z| z.source.strip_prefix("builtin:").is_some_and(anatomy::on_context))
}

impl ContextGpu {
    /// The head, ears, neck and shoulders' start on the GPU, and how far
    /// they reach from `centre`, mm.
    fn new(
        gpu: &Gpu,
        camera_layout: &wgpu::BindGroupLayout,
        format: wgpu::TextureFormat,
        centre: Vec3,
    ) -> (ContextGpu, f64) {
        let d = &gpu.device;
        let head = DrawnHead::get();
        let (verts, idx, map) = (&head.vertices, &head.indices, &head.map);
        let reach = head.positions_mm.iter().map(|p| (p - centre).norm()).fold(0.0, f64::max);
        let texture = d.create_texture_with_data(
            &gpu.queue,
            &wgpu::TextureDescriptor {
                label: Some("skin map"),
                size: wgpu::Extent3d { width: map.size[0], height: map.size[1], depth_or_array_layers: 1 },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            &map.rgba,
        );
        let map_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("skin map"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            }],
        });
        let view = texture.create_view(&Default::default());
        let bind = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("skin map"),
            layout: &map_layout,
            entries: &[wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(&view) }],
        });
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("context.wgsl"),
            source: wgpu::ShaderSource::Wgsl(super::shader("context.wgsl").into()),
        });
        let layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("context"),
            bind_group_layouts: &[Some(camera_layout), Some(&map_layout)],
            immediate_size: 0,
        });
        let pipeline = build_pipeline(
            gpu,
            PipelineSpec {
                label: "context",
                layout: &layout,
                module: &module,
                entry_points: ("vs_context", "fs_context"),
                buffer: Vertex::LAYOUT,
                depth_compare: wgpu::CompareFunction::Less,
                format,
                topology: wgpu::PrimitiveTopology::TriangleList,
                blend: false,
            },
        );
        let vertices = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("context vertices"),
            contents: bytemuck::cast_slice(verts),
            usage: wgpu::BufferUsages::VERTEX,
        });
        let indices = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("context indices"),
            contents: bytemuck::cast_slice(idx),
            usage: wgpu::BufferUsages::INDEX,
        });
        (ContextGpu { pipeline, vertices, indices, index_count: idx.len() as u32, bind }, reach)
    }
}

/// The drawn head on the CPU, built once a process (it is the same for
/// every run: a render's three views, a window's reloads): its full mesh's
/// positions (how far it reaches), the simplified triangles drawn (each
/// vertex's chart its texel in the colour map), the map, and a grid of the
/// drawn triangles for picks.
struct DrawnHead {
    positions_mm: Vec<Vec3>,
    vertices: Vec<Vertex>,
    indices: Vec<u32>,
    map: crate::core::geometry::anatomy::SkinMap,
    grid: super::raycast::RayGrid,
}

impl DrawnHead {
    fn get() -> &'static DrawnHead {
        static HEAD: std::sync::OnceLock<DrawnHead> = std::sync::OnceLock::new();
        HEAD.get_or_init(|| {
            use crate::core::geometry::anatomy;
            let context = anatomy::context();
            let map = anatomy::skin_map();
            let (mut vertices, indices) = drawn(&context.mesh);
            let corner =
                |v: &Vertex| Vec3::new(v.position_mm[0] as f64, v.position_mm[1] as f64, v.position_mm[2] as f64);
            let grid = super::raycast::RayGrid::new(
                indices.chunks_exact(3).map(|t| [0, 1, 2].map(|k| corner(&vertices[t[k] as usize]))).collect(),
            );
            for v in &mut vertices {
                v.chart_mm = [0, 1].map(|k| ((v.chart_mm[k] as f64 - map.origin_deg[k]) / map.step_deg) as f32);
            }
            DrawnHead { positions_mm: context.mesh.positions_mm, vertices, indices, map, grid }
        })
    }
}

/// The zones of a run on the GPU, ready to draw at any moment of the treatment.
pub struct Renderer {
    pipeline: wgpu::RenderPipeline,
    marker_pipeline: wgpu::RenderPipeline,
    viewport_buffer: wgpu::Buffer,
    viewport_bind: wgpu::BindGroup,
    /// The dots' triangles (room for `MAX_RECENT_MARKERS`), and how many
    /// of their vertices are drawn.
    markers: wgpu::Buffer,
    marker_vertices: u32,
    camera_buffer: wgpu::Buffer,
    camera_bind: wgpu::BindGroup,
    accumulator: Accumulator,
    splatter: Splatter,
    layer_layout: wgpu::BindGroupLayout,
    zones: Vec<ZoneGpu>,
    overlay: Overlay,
    /// Whether the paths and the cartridge are drawn.
    show_overlay: bool,
    bounds: (Vec3, Vec3),
    time_s: f64,
    layer: Layer,
    auto_range_per_cm2: [f64; 2],
    range_per_cm2: [f64; 2],
    /// The zones' full meshes' triangles (for picking points on the skin;
    /// `drawn` simplifies what is drawn), and each one's zone and chart corners.
    pick_grid: super::raycast::RayGrid,
    pick_charts: Vec<(usize, [Vec2; 3])>,
    /// The whole head drawn around built-in zones on it, if any.
    context: Option<ContextGpu>,
    /// Whether it is drawn.
    show_context: bool,
    /// How far what is drawn reaches from the zones' centre, mm (the depth range).
    reach_mm: f64,
}

impl Renderer {
    /// Uploads the zones of `o`, for drawing into targets of `format`.
    pub fn new(gpu: &Gpu, o: &Outcome, format: wgpu::TextureFormat, layer: Layer) -> Renderer {
        let d = &gpu.device;
        let meshes: Vec<Mesh> = (0..o.zones.len())
            .map(|z| match &o.scene.zones[z].surface {
                Some(s) => clipped(&s.mesh, o.scene.zones[z].clip.as_ref()),
                None => flat_sheet(o, z),
            })
            .collect();
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("mesh.wgsl"),
            source: wgpu::ShaderSource::Wgsl(super::shader("mesh.wgsl").into()),
        });
        let uniform_entry = |binding, visibility| wgpu::BindGroupLayoutEntry {
            binding,
            visibility,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let storage_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: true },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let camera_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("camera"),
            entries: &[uniform_entry(0, wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT)],
        });
        let layer_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("layer"),
            entries: &[
                uniform_entry(0, wgpu::ShaderStages::FRAGMENT),
                storage_entry(1),
                storage_entry(2),
                storage_entry(3),
                storage_entry(4),
            ],
        });
        let pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("mesh"),
            bind_group_layouts: &[Some(&camera_layout), Some(&layer_layout)],
            immediate_size: 0,
        });
        let pipeline = build_pipeline(
            gpu,
            PipelineSpec {
                label: "mesh",
                layout: &pipeline_layout,
                module: &module,
                entry_points: ("vs_main", "fs_main"),
                buffer: Vertex::LAYOUT,
                depth_compare: wgpu::CompareFunction::Less,
                format,
                topology: wgpu::PrimitiveTopology::TriangleList,
                blend: false,
            },
        );
        let marker_module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("markers.wgsl"),
            source: wgpu::ShaderSource::Wgsl(super::shader("markers.wgsl").into()),
        });
        let viewport_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("viewport"),
            entries: &[uniform_entry(0, wgpu::ShaderStages::VERTEX)],
        });
        let marker_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("markers"),
            bind_group_layouts: &[Some(&camera_layout), Some(&viewport_layout)],
            immediate_size: 0,
        });
        // Dots on the skin pass the depth test where they touch it.
        let marker_pipeline = build_pipeline(
            gpu,
            PipelineSpec {
                label: "markers",
                layout: &marker_layout,
                module: &marker_module,
                entry_points: ("vs_marker", "fs_marker"),
                buffer: wgpu::VertexBufferLayout {
                    array_stride: std::mem::size_of::<Marker>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x4, 2 => Float32x2],
                },
                depth_compare: wgpu::CompareFunction::LessEqual,
                format,
                topology: wgpu::PrimitiveTopology::TriangleList,
                blend: false,
            },
        );
        let viewport_buffer = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("viewport"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let viewport_bind = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("viewport"),
            layout: &viewport_layout,
            entries: &[wgpu::BindGroupEntry { binding: 0, resource: viewport_buffer.as_entire_binding() }],
        });
        let camera_buffer = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("camera"),
            size: std::mem::size_of::<CameraUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let camera_bind = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("camera"),
            layout: &camera_layout,
            entries: &[wgpu::BindGroupEntry { binding: 0, resource: camera_buffer.as_entire_binding() }],
        });
        let max_per_cm2 = auto_range(o)[1];
        let no_hits = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("no hit raster"),
            size: 4,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let mut zones = Vec::new();
        let (mut lo, mut hi) = (Vec3::repeat(f64::INFINITY), Vec3::repeat(f64::NEG_INFINITY));
        for (z, mesh) in meshes.iter().enumerate() {
            for p in &mesh.positions_mm {
                lo = lo.inf(p);
                hi = hi.sup(p);
            }
            let layout = &o.fields[z].layout;
            let counts = Accumulator::counts_buffer(gpu, layout);
            let areas: Vec<f32> = o.fields[z].cell_area_mm2.iter().map(|&a| a as f32).collect();
            let avoid = avoid_mask(o, z);
            let avoid_buffer = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("avoid mask"),
                contents: bytemuck::cast_slice(&avoid.2),
                usage: wgpu::BufferUsages::STORAGE,
            });
            let area_buffer = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("cell areas"),
                contents: bytemuck::cast_slice(&areas),
                usage: wgpu::BufferUsages::STORAGE,
            });
            let target = o.scene.zones[z].target_per_cm2;
            let uniform = LayerUniform {
                origin_mm: [layout.origin_mm.x as f32, layout.origin_mm.y as f32],
                inv_cell_mm: (1.0 / layout.cell_mm) as f32,
                cells_u: layout.cells_u as u32,
                cells_v: layout.cells_v as u32,
                mode: 0,
                range_per_cm2: [0.0, max_per_cm2 as f32],
                target_per_cm2: target.map_or([0.0, f32::MAX], |t| [t[0] as f32, t[1] as f32]),
                inv_h_mm: 1.0,
                raster_u: 1,
                raster_v: 1,
                avoid_u: avoid.0,
                avoid_v: avoid.1,
                avoid_inv_mm: (1.0 / AVOID_MASK_MM) as f32,
                context: 0,
                _pad: [0; 3],
                skin: [SKIN[0] as f32, SKIN[1] as f32, SKIN[2] as f32, 1.0],
            };
            let layer_buffer = d.create_buffer(&wgpu::BufferDescriptor {
                label: Some("layer"),
                size: std::mem::size_of::<LayerUniform>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let bind = layer_bind(gpu, &layer_layout, [&layer_buffer, &counts, &area_buffer, &no_hits, &avoid_buffer]);
            let (verts, idx) = drawn(mesh);
            zones.push(ZoneGpu {
                vertices: d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("vertices"),
                    contents: bytemuck::cast_slice(if verts.is_empty() {
                        &[0u8; 32][..]
                    } else {
                        bytemuck::cast_slice(&verts)
                    }),
                    usage: wgpu::BufferUsages::VERTEX,
                }),
                indices: d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("indices"),
                    contents: bytemuck::cast_slice(if idx.is_empty() { &[0u32; 3][..] } else { &idx[..] }),
                    usage: wgpu::BufferUsages::INDEX,
                }),
                index_count: idx.len() as u32,
                counts,
                areas: area_buffer,
                avoid: avoid_buffer,
                hits: None,
                layer_buffer,
                uniform,
                bind,
                counted: 0,
            });
        }
        let (context, reach_mm) = match has_context(o) {
            true => {
                let (c, reach) = ContextGpu::new(gpu, &camera_layout, format, (lo + hi) / 2.0);
                (Some(c), reach)
            }
            false => (None, 0.0),
        };
        let mut r = Renderer {
            pipeline,
            marker_pipeline,
            viewport_buffer,
            viewport_bind,
            markers: d.create_buffer(&wgpu::BufferDescriptor {
                label: Some("markers"),
                size: (MAX_RECENT_MARKERS * DOT_CORNERS.len() * std::mem::size_of::<Marker>()) as u64,
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            marker_vertices: 0,
            camera_buffer,
            camera_bind,
            accumulator: Accumulator::new(gpu),
            splatter: Splatter::new(gpu),
            layer_layout,
            zones,
            overlay: Overlay::new(gpu, o, &camera_layout, format, (lo + hi) / 2.0),
            show_overlay: true,
            bounds: (lo, hi),
            time_s: 0.0,
            layer,
            auto_range_per_cm2: [0.0, max_per_cm2],
            range_per_cm2: [0.0, max_per_cm2],
            pick_grid: super::raycast::RayGrid::new(
                meshes.iter().flat_map(|m| m.triangles.iter().map(|t| t.map(|i| m.positions_mm[i as usize]))).collect(),
            ),
            pick_charts: meshes
                .iter()
                .enumerate()
                .flat_map(|(z, m)| m.triangles.iter().map(move |t| (z, t.map(|i| m.chart_mm[i as usize]))))
                .collect(),
            context,
            show_context: false,
            reach_mm,
        };
        r.set_context(gpu, true);
        r.set_layer(gpu, o, layer);
        r
    }

    /// Paints `layer` (bands fall back to density for zones without a
    /// target). The first time hits are shown, each zone's hit raster is made
    /// and filled with the punctures shown so far.
    pub fn set_layer(&mut self, gpu: &Gpu, o: &Outcome, layer: Layer) {
        self.layer = layer;
        for (z, zone) in self.zones.iter_mut().enumerate() {
            if layer == Layer::Hits && zone.hits.is_none() {
                let zone_scene = &o.scene.zones[z];
                let grid = HitGrid::new(
                    &o.fields[z].layout,
                    o.scene.cartridge.needle_radius_mm(),
                    zone_scene.surface.as_deref(),
                );
                let hits = Splatter::raster(gpu, grid);
                self.splatter.add(gpu, &hits, &o.simulation.zones[z].punctures[..zone.counted]);
                zone.uniform.inv_h_mm = (1.0 / hits.grid.h_mm) as f32;
                zone.uniform.raster_u = hits.grid.raster_u as u32;
                zone.uniform.raster_v = hits.grid.raster_v as u32;
                zone.bind = layer_bind(
                    gpu,
                    &self.layer_layout,
                    [&zone.layer_buffer, &zone.counts, &zone.areas, &hits.hits, &zone.avoid],
                );
                zone.hits = Some(hits);
            }
            zone.uniform.mode = match layer {
                Layer::Bands if o.scene.zones[z].target_per_cm2.is_some() => 1,
                Layer::Hits => 2,
                _ => 0,
            };
            gpu.queue.write_buffer(&zone.layer_buffer, 0, bytemuck::bytes_of(&zone.uniform));
        }
    }

    /// The layer shown.
    pub fn layer(&self) -> Layer {
        self.layer
    }

    /// Draws the whole head around built-in zones on it (when the run has
    /// any) or not; over it, avoid regions show the head through thin stripes.
    pub fn set_context(&mut self, gpu: &Gpu, show: bool) {
        self.show_context = show && self.context.is_some();
        for zone in &mut self.zones {
            zone.uniform.context = self.show_context as u32;
            gpu.queue.write_buffer(&zone.layer_buffer, 0, bytemuck::bytes_of(&zone.uniform));
        }
    }

    /// Whether the whole head is drawn around the zones.
    pub fn context_shown(&self) -> bool {
        self.show_context
    }

    /// Sets the density colour scale, punctures/cm2 (None: back to 0 to the
    /// densest cell, rounded up). Values beyond it are clamped and striped.
    pub fn set_range(&mut self, gpu: &Gpu, range_per_cm2: Option<[f64; 2]>) {
        self.range_per_cm2 = range_per_cm2.unwrap_or(self.auto_range_per_cm2);
        for zone in &mut self.zones {
            zone.uniform.range_per_cm2 = [self.range_per_cm2[0] as f32, self.range_per_cm2[1] as f32];
            gpu.queue.write_buffer(&zone.layer_buffer, 0, bytemuck::bytes_of(&zone.uniform));
        }
    }

    /// The density colour scale in use, punctures/cm2.
    pub fn range(&self) -> [f64; 2] {
        self.range_per_cm2
    }

    /// The automatic density colour scale: 0 to the densest cell of the
    /// whole treatment, rounded up (one scale for every zone).
    pub fn auto_range(&self) -> [f64; 2] {
        self.auto_range_per_cm2
    }

    /// Shows the treatment as it stood at `t_s`: the punctures made since the
    /// last call are added on the GPU (all again when time goes back).
    pub fn set_time(&mut self, gpu: &Gpu, o: &Outcome, t_s: f64) {
        let rewind = t_s < self.time_s;
        // Every zone's work in one submission.
        let mut e = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("playback") });
        for (z, zone) in self.zones.iter_mut().enumerate() {
            let punctures = &o.simulation.zones[z].punctures;
            if rewind {
                e.clear_buffer(&zone.counts, 0, None);
                if let Some(h) = &zone.hits {
                    e.clear_buffer(&h.hits, 0, None);
                }
                zone.counted = 0;
            }
            let upto = punctures.partition_point(|p| (p.t_s as f64) <= t_s);
            if upto > zone.counted {
                let new = &punctures[zone.counted..upto];
                self.accumulator.encode(gpu, &mut e, &o.fields[z].layout, new, &zone.counts);
                if let Some(h) = &zone.hits {
                    self.splatter.encode(gpu, &mut e, h, new);
                }
                zone.counted = upto;
            }
        }
        gpu.queue.submit([e.finish()]);
        self.overlay.set_time(gpu, t_s);
        self.time_s = t_s;
    }

    /// Whether the pass paths and the cartridge body are drawn (they are by default).
    pub fn set_overlay(&mut self, show: bool) {
        self.show_overlay = show;
    }

    /// Where the cartridge is at the playback time (None when off the skin).
    pub fn cartridge_pose(&self) -> Option<super::overlay::Pose> {
        self.overlay.pose(self.time_s)
    }

    /// Dots for the punctures of the last `recent_s` before `t_s` (the newest
    /// `MAX_RECENT_MARKERS`, small and orange) and for the newest stamp's
    /// needles (large and red: where the cartridge is).
    pub fn set_markers(&mut self, gpu: &Gpu, o: &Outcome, t_s: f64, recent_s: f64) {
        let mut recent: Vec<(f32, [f32; 3])> = Vec::new();
        for (z, run) in o.simulation.zones.iter().enumerate() {
            let hi = run.punctures.partition_point(|p| (p.t_s as f64) <= t_s);
            let lo = run
                .punctures
                .partition_point(|p| (p.t_s as f64) <= t_s - recent_s)
                .max(hi.saturating_sub(MAX_RECENT_MARKERS));
            for i in lo..hi {
                let p = &run.punctures[i];
                let pos = match o.scene.zones[z].surface {
                    Some(_) => run.positions_3d_mm.get(i).copied().unwrap_or([f32::NAN; 3]),
                    None => [p.u_mm, p.v_mm, 0.0],
                };
                if !pos[0].is_nan() {
                    recent.push((p.t_s, pos));
                }
            }
        }
        recent.sort_by(|a, b| a.0.total_cmp(&b.0));
        let start = recent.len().saturating_sub(MAX_RECENT_MARKERS);
        let newest = recent.last().map(|r| r.0);
        let markers: Vec<Marker> = recent[start..]
            .iter()
            .flat_map(|&(t, pos)| {
                let colour_radius = if Some(t) == newest { [0.85, 0.05, 0.2, 5.0] } else { [1.0, 0.55, 0.1, 1.8] };
                DOT_CORNERS.map(|corner| Marker { position_mm: pos, colour_radius, corner })
            })
            .collect();
        if !markers.is_empty() {
            gpu.queue.write_buffer(&self.markers, 0, bytemuck::cast_slice(&markers));
        }
        self.marker_vertices = markers.len() as u32;
    }

    /// Punctures shown so far.
    pub fn shown(&self) -> usize {
        self.zones.iter().map(|z| z.counted).sum()
    }

    /// Punctures shown so far, per zone.
    pub fn shown_per_zone(&self) -> Vec<usize> {
        self.zones.iter().map(|z| z.counted).collect()
    }

    /// The skin point under pixel `at_px` of a view drawn into `area_px`
    /// with `orbit`: the zone and its chart position (mm), if the pixel
    /// shows a zone (not where the drawn head stands in front of it).
    pub fn pick(&self, orbit: Orbit, area_px: [u32; 4], at_px: (f64, f64)) -> Option<(usize, Vec2)> {
        let [x, y, w, h] = area_px.map(|v| v as f64);
        if w < 1.0 || h < 1.0 {
            return None;
        }
        let (m, _) = clip_from_world(self.bounds, self.reach_mm, orbit, w / h);
        let inv = m.try_inverse()?;
        let ndc = ((at_px.0 - x) / w * 2.0 - 1.0, 1.0 - (at_px.1 - y) / h * 2.0);
        let unproject = |z: f64| {
            let p = inv * nalgebra::Vector4::new(ndc.0, ndc.1, z, 1.0);
            Vec3::new(p.x, p.y, p.z) / p.w
        };
        let (near, far) = (unproject(0.0), unproject(1.0));
        let dir = (far - near).normalize();
        let best = self.pick_grid.first_hit(near, dir).map(|(n, d, u, v)| {
            let (z, c) = self.pick_charts[n];
            (d, z, c[0] * (1.0 - u - v) + c[1] * u + c[2] * v)
        });
        // The head drawn in front of the skin hides it (it lies under the
        // zones, so behind the point picked on one).
        if let Some((d, ..)) = best
            && self.show_context
            && DrawnHead::get().grid.first_hit(near, dir).is_some_and(|h| h.1 < d)
        {
            return None;
        }
        best.map(|(_, z, p)| (z, p))
    }

    /// Draws the zones into `target` (with a depth buffer of `DEPTH_FORMAT`);
    /// the 3D view fills `area_px` (x, y, width, height; e.g. the part of a
    /// window beside its panel); `background` says whether the whole target is
    /// whitened first or the view drawn over what is there (a second pane).
    #[allow(clippy::too_many_arguments)]
    pub fn draw(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        depth: &wgpu::TextureView,
        orbit: Orbit,
        area_px: [u32; 4],
        background: Background,
    ) {
        let size_px = (area_px[2].max(1), area_px[3].max(1));
        let aspect = size_px.0 as f64 / size_px.1 as f64;
        gpu.queue.write_buffer(
            &self.camera_buffer,
            0,
            bytemuck::bytes_of(&camera(self.bounds, self.reach_mm, orbit, aspect)),
        );
        gpu.queue.write_buffer(
            &self.viewport_buffer,
            0,
            bytemuck::cast_slice(&[size_px.0 as f32, size_px.1 as f32, 0.0, 0.0]),
        );
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("zones"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: match background {
                        Background::Clear => wgpu::LoadOp::Clear(wgpu::Color::WHITE),
                        Background::Keep => wgpu::LoadOp::Load,
                    },
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: depth,
                depth_ops: Some(wgpu::Operations { load: wgpu::LoadOp::Clear(1.0), store: wgpu::StoreOp::Store }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        let [x, y, w, h] = area_px.map(|v| v as f32);
        pass.set_viewport(x, y, w.max(1.0), h.max(1.0), 0.0, 1.0);
        if let Some(c) = self.context.as_ref().filter(|_| self.show_context) {
            pass.set_pipeline(&c.pipeline);
            pass.set_bind_group(0, &self.camera_bind, &[]);
            pass.set_bind_group(1, &c.bind, &[]);
            pass.set_vertex_buffer(0, c.vertices.slice(..));
            pass.set_index_buffer(c.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..c.index_count, 0, 0..1);
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.camera_bind, &[]);
        for zone in self.zones.iter().filter(|z| z.index_count > 0) {
            pass.set_bind_group(1, &zone.bind, &[]);
            pass.set_vertex_buffer(0, zone.vertices.slice(..));
            pass.set_index_buffer(zone.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..zone.index_count, 0, 0..1);
        }
        if self.marker_vertices > 0 {
            pass.set_pipeline(&self.marker_pipeline);
            pass.set_bind_group(0, &self.camera_bind, &[]);
            pass.set_bind_group(1, &self.viewport_bind, &[]);
            pass.set_vertex_buffer(0, self.markers.slice(..));
            pass.draw(0..self.marker_vertices, 0..1);
        }
        if self.show_overlay {
            self.overlay.draw(&mut pass, &self.camera_bind);
        }
    }
}

/// The automatic density colour scale: 0 to the densest cell of the whole
/// treatment, rounded up; one scale for every zone, as in the atlas.
pub fn auto_range(o: &Outcome) -> [f64; 2] {
    let max = (0..o.zones.len())
        .map(|z| crate::core::report::density_max(&o.fields[z], o.scene.zones[z].target_per_cm2))
        .fold(1.0, f64::max);
    [0.0, max]
}

/// The target band every zone shares, if they all have the same one.
pub fn shared_target(o: &Outcome) -> Option<[f64; 2]> {
    let first = o.scene.zones.first()?.target_per_cm2?;
    o.scene.zones.iter().all(|z| z.target_per_cm2 == Some(first)).then_some(first)
}

/// The layer bind group: uniform, counts, cell areas, hit raster, avoid mask.
fn layer_bind(gpu: &Gpu, layout: &wgpu::BindGroupLayout, buffers: [&wgpu::Buffer; 5]) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
        .collect();
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some("layer"), layout, entries: &entries })
}

/// Side of the avoid mask's cells, mm: fine enough that an avoid region's
/// outline reads round on the skin.
const AVOID_MASK_MM: f64 = 0.2;

/// Zone `z`'s avoid mask over its analysis grid: (cells across, cells up,
/// bits), a bit set where the cell's centre is inside the outline and an
/// avoid region. Found a row at a time from the shapes' line intersections.
fn avoid_mask(o: &Outcome, z: usize) -> (u32, u32, Vec<u32>) {
    let (l, region) = (&o.fields[z].layout, &o.scene.zones[z].region);
    if region.avoid.is_empty() {
        // An empty mask: every fragment is outside it without reading it.
        return (0, 0, vec![0]);
    }
    let nu = ((l.cells_u as f64 * l.cell_mm) / AVOID_MASK_MM).ceil() as usize;
    let nv = ((l.cells_v as f64 * l.cell_mm) / AVOID_MASK_MM).ceil() as usize;
    let mut bits = vec![0u32; (nu * nv).div_ceil(32).max(1)];
    for j in 0..nv {
        let y = l.origin_mm.y + (j as f64 + 0.5) * AVOID_MASK_MM;
        let row = Vec2::new(0.0, y);
        let inside = region.outline.line_intervals(row, Vec2::new(1.0, 0.0));
        for a in &region.avoid {
            for (x0, x1) in a.line_intervals(row, Vec2::new(1.0, 0.0)) {
                let i0 = (((x0 - l.origin_mm.x) / AVOID_MASK_MM - 0.5).ceil().max(0.0) as usize).min(nu);
                let i1 = (((x1 - l.origin_mm.x) / AVOID_MASK_MM - 0.5).floor() + 1.0).clamp(0.0, nu as f64) as usize;
                for i in i0..i1 {
                    let x = l.origin_mm.x + (i as f64 + 0.5) * AVOID_MASK_MM;
                    if inside.iter().any(|&(a, b)| x >= a && x <= b) {
                        let k = j * nu + i;
                        bits[k / 32] |= 1 << (k % 32);
                    }
                }
            }
        }
    }
    (nu as u32, nv as u32, bits)
}

/// A texture to draw a frame into and read it back from.
pub fn frame_texture(gpu: &Gpu, width: u32, height: u32, format: wgpu::TextureFormat) -> wgpu::Texture {
    target_texture(gpu, "frame", (width, height), format, wgpu::TextureUsages::COPY_SRC | wgpu::TextureUsages::COPY_DST)
}

/// A depth texture of the given size.
pub fn depth_texture(gpu: &Gpu, width: u32, height: u32) -> wgpu::Texture {
    target_texture(gpu, "depth", (width, height), DEPTH_FORMAT, wgpu::TextureUsages::empty())
}

/// A 2D render target of `size` in `format`, with `usage` besides rendering.
fn target_texture(
    gpu: &Gpu,
    label: &str,
    (width, height): (u32, u32),
    format: wgpu::TextureFormat,
    usage: wgpu::TextureUsages,
) -> wgpu::Texture {
    gpu.device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | usage,
        view_formats: &[],
    })
}

/// Renders the run into RGBA8 pixels (`width * height * 4`, rows top to bottom).
pub fn render(gpu: &Gpu, o: &Outcome, cfg: &RenderConfig) -> Result<Vec<u8>, super::GpuError> {
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let mut renderer = Renderer::new(gpu, o, format, Layer::Density);
    renderer.set_range(gpu, cfg.range_per_cm2);
    renderer.set_context(gpu, cfg.context);
    renderer.set_time(gpu, o, cfg.at_time_s.unwrap_or(f64::INFINITY));
    renderer.set_layer(gpu, o, cfg.layer);
    // The paths and the cartridge only mid-treatment: at the end they would cover the map.
    renderer.set_overlay(cfg.at_time_s.is_some());
    let target = frame_texture(gpu, cfg.width, cfg.height, format);
    let depth = depth_texture(gpu, cfg.width, cfg.height);
    let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("render") });
    if let Some(t) = cfg.at_time_s {
        // Mid-treatment: show where the cartridge is and what it just did.
        renderer.set_markers(gpu, o, t, 2.0);
    }
    renderer.draw(
        gpu,
        &mut encoder,
        &target.create_view(&Default::default()),
        &depth.create_view(&Default::default()),
        Orbit::from_view(cfg.view),
        [0, 0, cfg.width, cfg.height],
        Background::Clear,
    );
    read_texture(gpu, encoder, &target, cfg.width, cfg.height)
}

/// Submits `encoder` with a copy of `texture` (RGBA8) and returns its pixels.
pub fn read_texture(
    gpu: &Gpu,
    mut encoder: wgpu::CommandEncoder,
    texture: &wgpu::Texture,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, super::GpuError> {
    // Rows padded to 256 bytes, as copies require.
    let row = width * 4;
    let padded_row = row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("frame read-back"),
        size: padded_row as u64 * height as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    encoder.copy_texture_to_buffer(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        wgpu::TexelCopyBufferInfo {
            buffer: &staging,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded_row),
                rows_per_image: Some(height),
            },
        },
        wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
    );
    gpu.queue.submit([encoder.finish()]);
    let bytes = gpu.read_buffer(&staging)?;
    Ok(bytes.chunks_exact(padded_row as usize).flat_map(|r| r[..row as usize].to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Barycentric weights of `p` in the chart triangle (a, b, c), if inside.
    fn inside(p: Vec2, [a, b, c]: [Vec2; 3]) -> Option<[f64; 3]> {
        let d = (b - a).perp(&(c - a));
        if d.abs() < 1e-12 {
            return None;
        }
        let (wb, wc) = ((p - a).perp(&(c - a)) / d, (b - a).perp(&(p - a)) / d);
        let w = [1.0 - wb - wc, wb, wc];
        // Within 1e-4 mm of each edge (charts are drawn in f32): a weight
        // times the triangle's height over that edge is the distance.
        let edges = [(c - b).norm(), (c - a).norm(), (b - a).norm()];
        (0..3).all(|k| w[k] * d.abs() / edges[k].max(1e-12) >= -1e-4).then_some(w)
    }

    #[test]
    fn a_drawn_mesh_has_fewer_triangles_and_keeps_surface_chart_and_outline() {
        let mut total = [0, 0];
        for name in crate::core::geometry::anatomy::names() {
            let fine = crate::core::geometry::anatomy::builtin(name, 2.0).unwrap().mesh;
            let (verts, idx) = drawn(&fine);
            let triangles: Vec<[Vertex; 3]> = idx
                .chunks_exact(3)
                .map(|t| [verts[t[0] as usize], verts[t[1] as usize], verts[t[2] as usize]])
                .collect();
            assert!(
                triangles.len() * 10 < fine.triangles.len() * 7,
                "{name}: {} of {} triangles",
                triangles.len(),
                fine.triangles.len()
            );
            (total[0], total[1]) = (total[0] + triangles.len(), total[1] + fine.triangles.len());
            // Every drawn vertex is a vertex of the mesh, chart and all.
            for v in &verts {
                let p = Vec3::new(v.position_mm[0] as f64, v.position_mm[1] as f64, v.position_mm[2] as f64);
                let k = fine.positions_mm.iter().position(|q| (q - p).norm() < 1e-4);
                let k = k.unwrap_or_else(|| panic!("{name}: a drawn vertex not in the mesh"));
                assert!((fine.chart_mm[k] - Vec2::new(v.chart_mm[0] as f64, v.chart_mm[1] as f64)).norm() < 1e-4);
            }
            // The outline is kept: every boundary vertex is drawn.
            for k in fine.boundary_loops().concat() {
                let p = fine.positions_mm[k as usize];
                let near = |v: &Vertex| {
                    (Vec3::new(v.position_mm[0] as f64, v.position_mm[1] as f64, v.position_mm[2] as f64) - p).norm()
                        < 1e-4
                };
                assert!(verts.iter().any(near), "{name}: boundary vertex {k} dropped");
            }
            // No drawn triangle folds the chart over, but slivers narrower
            // than the tolerance.
            let chart_of = |t: &[Vertex; 3]| t.map(|v| Vec2::new(v.chart_mm[0] as f64, v.chart_mm[1] as f64));
            let sign = triangles.iter().map(|t| chart_fold(chart_of(t), 1.0).0).sum::<f64>().signum();
            let widest = triangles.iter().map(|t| chart_fold(chart_of(t), sign).1).fold(0.0, f64::max);
            assert!(widest <= DRAW_TOLERANCE_MM as f64, "{name}: the chart folds {widest} mm wide");
            // Every mesh vertex, found through its chart point in the drawn
            // triangles, is where the drawn surface puts it (to the tolerance,
            // with room for the simplifier's quadric estimate of distance).
            let chart = |v: &Vertex| Vec2::new(v.chart_mm[0] as f64, v.chart_mm[1] as f64);
            let pos = |v: &Vertex| Vec3::new(v.position_mm[0] as f64, v.position_mm[1] as f64, v.position_mm[2] as f64);
            let mut worst = 0.0f64;
            for (p, c) in fine.positions_mm.iter().zip(&fine.chart_mm) {
                let (t, w) = triangles
                    .iter()
                    .find_map(|t| inside(*c, t.map(|v| chart(&v))).map(|w| (t, w)))
                    .unwrap_or_else(|| panic!("{name}: chart point {c:?} outside the drawn mesh"));
                let q = pos(&t[0]) * w[0] + pos(&t[1]) * w[1] + pos(&t[2]) * w[2];
                worst = worst.max((q - p).norm());
            }
            assert!(worst < 2.0 * DRAW_TOLERANCE_MM as f64, "{name}: drawn surface {worst:.3} mm off");
        }
        assert!(total[0] * 2 < total[1], "{} of {} triangles in all", total[0], total[1]);
    }
}
