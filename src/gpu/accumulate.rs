//! Punctures into density cells on the GPU (`shaders/accumulate.wgsl`): one
//! invocation per puncture, one atomic add into its analysis cell. Integer
//! counts, so the result does not depend on the order the GPU runs them in;
//! `cpu_twin` does the same f32 arithmetic and must match exactly.

use super::{Access, Gpu, Kernel};
use crate::core::engine::simulate::Puncture;
use crate::core::geometry::layout::Layout;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    origin_mm: [f32; 2],
    inv_cell_mm: f32,
    cells_u: u32,
    cells_v: u32,
    count: u32,
    row_stride: u32,
    _pad: u32,
}

fn params(layout: &Layout, count: u32, row_stride: u32) -> Params {
    Params {
        origin_mm: [layout.origin_mm.x as f32, layout.origin_mm.y as f32],
        inv_cell_mm: (1.0 / layout.cell_mm) as f32,
        cells_u: layout.cells_u as u32,
        cells_v: layout.cells_v as u32,
        count,
        row_stride,
        _pad: 0,
    }
}

/// The CPU twin of the compute pass: the same f32 operations per puncture.
pub fn cpu_twin(layout: &Layout, punctures: &[Puncture]) -> Vec<u32> {
    let p = params(layout, punctures.len() as u32, 0);
    let mut counts = vec![0u32; layout.cells()];
    for q in punctures {
        let (x, y) = ((q.u_mm - p.origin_mm[0]) * p.inv_cell_mm, (q.v_mm - p.origin_mm[1]) * p.inv_cell_mm);
        let (cx, cy) = (x.floor(), y.floor());
        if cx < 0.0 || cy < 0.0 || cx >= p.cells_u as f32 || cy >= p.cells_v as f32 {
            continue;
        }
        counts[cy as usize * p.cells_u as usize + cx as usize] += 1;
    }
    counts
}

/// The compute pipeline, built once per device.
pub struct Accumulator {
    kernel: Kernel,
}

impl Accumulator {
    /// Builds the accumulation pipeline (`shaders/accumulate.wgsl`) on `gpu`.
    pub fn new(gpu: &Gpu) -> Accumulator {
        Accumulator { kernel: Kernel::new(gpu, "accumulate.wgsl", "accumulate", &[Access::Write]) }
    }

    /// A zeroed GPU buffer of counts for the cells of `layout`.
    pub fn counts_buffer(gpu: &Gpu, layout: &Layout) -> wgpu::Buffer {
        gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("cell counts"),
            size: (layout.cells().max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Counts `punctures` into the cells of `layout`, returning the GPU buffer
    /// of counts (u32 per cell; usable as a read-only storage buffer).
    pub fn run(&self, gpu: &Gpu, layout: &Layout, punctures: &[Puncture]) -> wgpu::Buffer {
        let counts = Self::counts_buffer(gpu, layout);
        self.add(gpu, layout, punctures, &counts);
        counts
    }

    /// Adds `punctures` to the counts already in `counts`, submitted at once.
    pub fn add(&self, gpu: &Gpu, layout: &Layout, punctures: &[Puncture], counts: &wgpu::Buffer) {
        let mut encoder =
            gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("accumulate") });
        self.encode(gpu, &mut encoder, layout, punctures, counts);
        gpu.queue.submit([encoder.finish()]);
    }

    /// Records adding `punctures` to the counts already in `counts` into
    /// `encoder` (live playback records every zone's new punctures of a frame
    /// in one submission).
    pub fn encode(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        layout: &Layout,
        punctures: &[Puncture],
        counts: &wgpu::Buffer,
    ) {
        let params = |row_stride| bytemuck::bytes_of(&params(layout, punctures.len() as u32, row_stride)).to_vec();
        self.kernel.encode(gpu, encoder, punctures, params, &[counts]);
    }

    /// `run`, read back to the CPU.
    pub fn counts(&self, gpu: &Gpu, layout: &Layout, punctures: &[Puncture]) -> Result<Vec<u32>, super::GpuError> {
        let counts = self.run(gpu, layout, punctures);
        let bytes = gpu.read_back(&counts)?;
        Ok(bytemuck::cast_slice::<u8, u32>(&bytes)[..layout.cells()].to_vec())
    }
}
