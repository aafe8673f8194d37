//! Punctures into density cells on the GPU (`shaders/accumulate.wgsl`): one
//! invocation per puncture, one atomic add into its analysis cell. Integer
//! counts, so the result does not depend on the order the GPU runs them in;
//! `cpu_twin` does the same f32 arithmetic and must match exactly.

use super::Gpu;
use crate::core::metrics::Layout;
use crate::core::simulate::Puncture;
use wgpu::util::DeviceExt;

const WORKGROUP: u32 = 256;
const MAX_GROUPS_X: u32 = 65_535;

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
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl Accumulator {
    pub fn new(gpu: &Gpu) -> Accumulator {
        let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("accumulate.wgsl"),
            source: wgpu::ShaderSource::Wgsl(super::shader("accumulate.wgsl").into()),
        });
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let layout = gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("accumulate"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(2, wgpu::BufferBindingType::Storage { read_only: false }),
            ],
        });
        let pipeline_layout = gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("accumulate"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("accumulate"),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("accumulate"),
            compilation_options: Default::default(),
            cache: None,
        });
        Accumulator { pipeline, layout }
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
        if punctures.is_empty() {
            return;
        }
        let points: Vec<[f32; 2]> = punctures.iter().map(|p| [p.u_mm, p.v_mm]).collect();
        let groups = (punctures.len() as u32).div_ceil(WORKGROUP).max(1);
        let (gx, gy) = (groups.min(MAX_GROUPS_X), groups.div_ceil(MAX_GROUPS_X));
        let params = params(layout, punctures.len() as u32, gx * WORKGROUP);
        let d = &gpu.device;
        let uniform = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("accumulate params"),
            contents: bytemuck::bytes_of(&params),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let points = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("punctures"),
            contents: bytemuck::cast_slice(&points),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let bind = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("accumulate"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: points.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: counts.as_entire_binding() },
            ],
        });
        {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("accumulate"), timestamp_writes: None });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
    }

    /// `run`, read back to the CPU.
    pub fn counts(&self, gpu: &Gpu, layout: &Layout, punctures: &[Puncture]) -> Result<Vec<u32>, String> {
        let counts = self.run(gpu, layout, punctures);
        let bytes = gpu.read_back(&counts)?;
        Ok(bytemuck::cast_slice::<u8, u32>(&bytes)[..layout.cells()].to_vec())
    }
}
