//! Needle-disk hits on the GPU (`shaders/hits.wgsl`): every puncture adds 1
//! to the raster cells its needle disk covers, so the hit-count layer (0 / 1 /
//! 2 / 3+) follows the punctures live. The raster has the cells of the
//! coverage metric (`Layout::h_mm`), or coarser for very large zones (see
//! [`HitGrid::new`]). `cpu_twin` does the same fixed-point arithmetic and
//! must match exactly.

use super::{Access, Gpu, Kernel};
use crate::core::engine::simulate::Puncture;
use crate::core::geometry::layout::Layout;
use crate::core::geometry::mesh::Surface;
use wgpu::util::DeviceExt;

/// Largest hit raster per zone, cells (64 MiB of counts).
pub const MAX_RASTER_CELLS: usize = 16 << 20;
/// Sub-units per raster cell of the fixed-point disk test.
const FIXED: f64 = 256.0;
/// Largest disk radius, raster cells (keeps the disk test within i32).
const MAX_RADIUS_CELLS: f64 = 40.0;

/// The hit raster of one zone: its cells and each analysis cell's disk size.
#[derive(Clone, Debug, PartialEq)]
pub struct HitGrid {
    /// The zone's analysis grid (as measured on the CPU).
    pub layout: Layout,
    /// Raster cell side, mm (the coverage raster's, or a multiple of it).
    pub h_mm: f64,
    /// Raster cells across.
    pub raster_u: usize,
    /// Raster cells up.
    pub raster_v: usize,
    /// Squared needle-disk radius in the chart per analysis cell, in
    /// (1/256 raster cell)^2.
    pub r2_fixed: Vec<u32>,
}

impl HitGrid {
    /// The grid for a zone measured on `layout` with needles of radius
    /// `r_mm`; on a curved zone the disks' chart size follows the surface's
    /// true/chart area ratio per analysis cell, as in the metrics. The
    /// raster is the coverage raster when it has at most `MAX_RASTER_CELLS`
    /// cells; otherwise each analysis cell is split into fewer raster cells.
    pub fn new(layout: &Layout, r_mm: f64, surface: Option<&Surface>) -> HitGrid {
        let mut sub = layout.sub.max(1);
        while sub > 1 && (layout.cells_u * sub).saturating_mul(layout.cells_v * sub) > MAX_RASTER_CELLS {
            sub -= 1;
        }
        let h_mm = layout.cell_mm / sub as f64;
        let stretch: Vec<f64> = match surface {
            None => vec![1.0; layout.cells()],
            Some(s) => crate::core::geometry::mesh::cell_areas(&s.mesh, layout)
                .into_iter()
                .map(|(chart, true_area)| if chart > 0.0 { true_area / chart } else { 1.0 })
                .collect(),
        };
        let r2_fixed = stretch
            .iter()
            .map(|&s| {
                let r_cells = (r_mm / s.max(1e-6).sqrt() / h_mm).min(MAX_RADIUS_CELLS);
                (r_cells * FIXED).powi(2).floor() as u32
            })
            .collect();
        HitGrid { layout: *layout, h_mm, raster_u: layout.cells_u * sub, raster_v: layout.cells_v * sub, r2_fixed }
    }

    /// Raster cells in all (`raster_u x raster_v`).
    pub fn cells(&self) -> usize {
        self.raster_u * self.raster_v
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    origin_mm: [f32; 2],
    inv_h_mm: f32,
    inv_cell_mm: f32,
    raster_u: u32,
    raster_v: u32,
    cells_u: u32,
    cells_v: u32,
    count: u32,
    row_stride: u32,
    _pad: [u32; 2],
}

fn params(grid: &HitGrid, count: u32, row_stride: u32) -> Params {
    Params {
        origin_mm: [grid.layout.origin_mm.x as f32, grid.layout.origin_mm.y as f32],
        inv_h_mm: (1.0 / grid.h_mm) as f32,
        inv_cell_mm: (1.0 / grid.layout.cell_mm) as f32,
        raster_u: grid.raster_u as u32,
        raster_v: grid.raster_v as u32,
        cells_u: grid.layout.cells_u as u32,
        cells_v: grid.layout.cells_v as u32,
        count,
        row_stride,
        _pad: [0; 2],
    }
}

/// The CPU twin of the compute pass: the same f32 and integer operations.
pub fn cpu_twin(grid: &HitGrid, punctures: &[Puncture]) -> Vec<u32> {
    let p = params(grid, punctures.len() as u32, 0);
    let mut hits = vec![0u32; grid.cells()];
    for q in punctures {
        let rel = [q.u_mm - p.origin_mm[0], q.v_mm - p.origin_mm[1]];
        let (cx, cy) = ((rel[0] * p.inv_cell_mm).floor(), (rel[1] * p.inv_cell_mm).floor());
        if cx < 0.0 || cy < 0.0 || cx >= p.cells_u as f32 || cy >= p.cells_v as f32 {
            continue;
        }
        let r2 = grid.r2_fixed[cy as usize * p.cells_u as usize + cx as usize];
        let fixed = |x: f32| (x * p.inv_h_mm * FIXED as f32).floor() as i32;
        let (qx, qy) = (fixed(rel[0]), fixed(rel[1]));
        let reach = ((r2 as f32).sqrt() / FIXED as f32) as i32 + 2;
        let (bx, by) = (qx >> 8, qy >> 8);
        for y in (by - reach).max(0)..=(by + reach).min(p.raster_v as i32 - 1) {
            let dy = (2 * y + 1) * 128 - qy;
            for x in (bx - reach).max(0)..=(bx + reach).min(p.raster_u as i32 - 1) {
                let dx = (2 * x + 1) * 128 - qx;
                if (dx * dx + dy * dy) as u32 <= r2 {
                    hits[y as usize * p.raster_u as usize + x as usize] += 1;
                }
            }
        }
    }
    hits
}

/// The compute pipeline, built once per device.
pub struct Splatter {
    kernel: Kernel,
}

/// A zone's hit raster on the GPU.
pub struct GpuHits {
    /// The raster's grid and disk sizes.
    pub grid: HitGrid,
    /// u32 per raster cell.
    pub hits: wgpu::Buffer,
    r2: wgpu::Buffer,
}

impl Splatter {
    /// Builds the splatting pipeline (`shaders/hits.wgsl`) on `gpu`.
    pub fn new(gpu: &Gpu) -> Splatter {
        Splatter { kernel: Kernel::new(gpu, "hits.wgsl", "splat", &[Access::Read, Access::Write]) }
    }

    /// A zeroed hit raster for `grid` on the GPU.
    pub fn raster(gpu: &Gpu, grid: HitGrid) -> GpuHits {
        let hits = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("hit raster"),
            size: (grid.cells().max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let r2 = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("disk radii"),
            contents: bytemuck::cast_slice(&grid.r2_fixed),
            usage: wgpu::BufferUsages::STORAGE,
        });
        GpuHits { grid, hits, r2 }
    }

    /// Adds the needle disks of `punctures` to `target`, submitted at once.
    pub fn add(&self, gpu: &Gpu, target: &GpuHits, punctures: &[Puncture]) {
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("hits") });
        self.encode(gpu, &mut encoder, target, punctures);
        gpu.queue.submit([encoder.finish()]);
    }

    /// Records adding the needle disks of `punctures` to `target` into `encoder`.
    pub fn encode(&self, gpu: &Gpu, encoder: &mut wgpu::CommandEncoder, target: &GpuHits, punctures: &[Puncture]) {
        let params =
            |row_stride| bytemuck::bytes_of(&params(&target.grid, punctures.len() as u32, row_stride)).to_vec();
        self.kernel.encode(gpu, encoder, punctures, params, &[&target.r2, &target.hits]);
    }

    /// The hit raster of `punctures` on `grid`, computed on the GPU and read back.
    pub fn hits(&self, gpu: &Gpu, grid: &HitGrid, punctures: &[Puncture]) -> Result<Vec<u32>, super::GpuError> {
        let target = Self::raster(gpu, grid.clone());
        self.add(gpu, &target, punctures);
        let bytes = gpu.read_back(&target.hits)?;
        Ok(bytemuck::cast_slice::<u8, u32>(&bytes)[..grid.cells()].to_vec())
    }
}
