//! The GPU side (feature `gpu`): a wgpu device, the accumulation of punctures
//! into density cells as a compute pass, and offscreen rendering of the zone
//! meshes with the density layer. Shaders live in `shaders/*.wgsl`.
//!
//! Reads core data; the core never imports this module.

pub mod accumulate;
pub mod cache;
pub mod hits;
pub mod overlay;
pub mod pipeline;
pub mod raycast;
pub mod render;

/// Every shader of the project, by file name (validated by a test with naga).
pub const SHADERS: &[(&str, &str)] = &[
    ("accumulate.wgsl", include_str!("../../shaders/accumulate.wgsl")),
    ("blit.wgsl", include_str!("../../shaders/blit.wgsl")),
    ("context.wgsl", include_str!("../../shaders/context.wgsl")),
    ("hits.wgsl", include_str!("../../shaders/hits.wgsl")),
    ("markers.wgsl", include_str!("../../shaders/markers.wgsl")),
    ("mesh.wgsl", include_str!("../../shaders/mesh.wgsl")),
    ("overlay.wgsl", include_str!("../../shaders/overlay.wgsl")),
];

/// A shader's source by file name.
pub fn shader(name: &str) -> &'static str {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).expect("a shader listed in SHADERS")
}

/// Invocations per workgroup of the per-puncture kernels.
const WORKGROUP: u32 = 256;
/// Most workgroups along x in one dispatch (the rest go along y).
const MAX_GROUPS_X: u32 = 65_535;

/// How a kernel uses one of its storage buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// The kernel only reads it.
    Read,
    /// The kernel writes it (atomic adds).
    Write,
}

/// A compute shader run with one invocation per puncture: binding 0 is its
/// parameters (a uniform), binding 1 the punctures' chart points, and the
/// storage buffers after them are the kernel's own.
pub(crate) struct Kernel {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    label: &'static str,
}

impl Kernel {
    /// The kernel `entry` of shader `file`; `access`: how it uses each of its
    /// own storage buffers (bindings 2, 3, ...).
    pub(crate) fn new(gpu: &Gpu, file: &'static str, entry: &'static str, access: &[Access]) -> Kernel {
        let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(file),
            source: wgpu::ShaderSource::Wgsl(shader(file).into()),
        });
        let buffer_entry = |binding: u32, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let mut entries = vec![
            buffer_entry(0, wgpu::BufferBindingType::Uniform),
            buffer_entry(1, wgpu::BufferBindingType::Storage { read_only: true }),
        ];
        for (k, &a) in access.iter().enumerate() {
            let read_only = a == Access::Read;
            entries.push(buffer_entry(2 + k as u32, wgpu::BufferBindingType::Storage { read_only }));
        }
        let layout = gpu
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(entry), entries: &entries });
        let pipeline_layout = gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        Kernel { pipeline, layout, label: entry }
    }

    /// Records one invocation per puncture into `encoder`. `params` gets the
    /// invocations per dispatch row and returns the uniform's bytes.
    pub(crate) fn encode(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        punctures: &[crate::core::engine::simulate::Puncture],
        params: impl FnOnce(u32) -> Vec<u8>,
        own: &[&wgpu::Buffer],
    ) {
        use wgpu::util::DeviceExt;
        if punctures.is_empty() {
            return;
        }
        let points: Vec<[f32; 2]> = punctures.iter().map(|p| [p.u_mm, p.v_mm]).collect();
        let groups = (punctures.len() as u32).div_ceil(WORKGROUP).max(1);
        let (gx, gy) = (groups.min(MAX_GROUPS_X), groups.div_ceil(MAX_GROUPS_X));
        let d = &self.label;
        let uniform = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(d),
            contents: &params(gx * WORKGROUP),
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let points = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("punctures"),
            contents: bytemuck::cast_slice(&points),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let mut entries = vec![
            wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: points.as_entire_binding() },
        ];
        for (k, b) in own.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: 2 + k as u32, resource: b.as_entire_binding() });
        }
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(d),
            layout: &self.layout,
            entries: &entries,
        });
        let mut pass =
            encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(d), timestamp_writes: None });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }
}

/// What to install when no adapter is found.
pub const NO_ADAPTER_HELP: &str = "no usable GPU adapter: install a Vulkan driver (Debian: apt-get install \
     mesa-vulkan-drivers libvulkan1 for the software one); `simulate` and the other commands work without it";

/// What went wrong on the GPU side (each message holds its cause, so the
/// cause is not chained again: a message is printed once).
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter could be found (what to install is in the message).
    #[error("{NO_ADAPTER_HELP} ({0})")]
    NoAdapter(wgpu::RequestAdapterError),
    /// The adapter would not give a device.
    #[error("the GPU adapter `{adapter}` refused a device: {why}")]
    NoDevice {
        /// The adapter's name.
        adapter: String,
        /// Why it refused.
        why: wgpu::RequestDeviceError,
    },
    /// Waiting for the GPU to finish failed.
    #[error("waiting for the GPU: {0}")]
    Wait(wgpu::PollError),
    /// A buffer could not be mapped for reading back.
    #[error("reading a GPU buffer back: {0}")]
    ReadBack(wgpu::MapRangeError),
}

/// A device and its queue.
pub struct Gpu {
    /// The logical device that owns buffers, textures and pipelines.
    pub device: wgpu::Device,
    /// The device's command queue.
    pub queue: wgpu::Queue,
    /// The adapter's name and backend, for reports.
    pub adapter: String,
}

impl Gpu {
    /// A device without a window (any backend the environment allows;
    /// `WGPU_BACKEND=vulkan|gl` picks one).
    pub fn headless() -> Result<Gpu, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .map_err(GpuError::NoAdapter)?;
        Gpu::from_adapter(&adapter)
    }

    /// A device on `adapter`, with all the limits it offers.
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Gpu, GpuError> {
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("needlemap"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|why| GpuError::NoDevice { adapter: info.name.clone(), why })?;
        Ok(Gpu { device, queue, adapter: format!("{} ({:?})", info.name, info.backend) })
    }

    /// Copies a GPU buffer (created with `COPY_SRC`) back to the CPU, blocking.
    pub fn read_back(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size: buffer.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read-back") });
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
        self.queue.submit([encoder.finish()]);
        self.read_buffer(&staging)
    }

    /// Copies a buffer (created with `MAP_READ`) back to the CPU, blocking.
    pub fn read_buffer(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
        let slice = buffer.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None }).map_err(GpuError::Wait)?;
        let bytes = slice.get_mapped_range().map_err(GpuError::ReadBack)?.to_vec();
        buffer.unmap();
        Ok(bytes)
    }
}
