//! The GPU side (feature `gpu`): a wgpu device, the accumulation of punctures
//! into density cells as a compute pass, and offscreen rendering of the zone
//! meshes with the density layer. Shaders live in `shaders/*.wgsl`.
//!
//! Reads core data; the core never imports this module.

pub mod accumulate;
pub mod hits;
pub mod overlay;
pub mod render;

/// Every shader of the project, by file name (validated by a test with naga).
pub const SHADERS: &[(&str, &str)] = &[
    ("accumulate.wgsl", include_str!("../../shaders/accumulate.wgsl")),
    ("hits.wgsl", include_str!("../../shaders/hits.wgsl")),
    ("markers.wgsl", include_str!("../../shaders/markers.wgsl")),
    ("mesh.wgsl", include_str!("../../shaders/mesh.wgsl")),
    ("overlay.wgsl", include_str!("../../shaders/overlay.wgsl")),
];

/// A shader's source by file name.
pub fn shader(name: &str) -> &'static str {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).expect("a shader listed in SHADERS")
}

/// What to install when no adapter is found.
pub const NO_ADAPTER_HELP: &str = "no usable GPU adapter: install a Vulkan driver (Debian: apt-get install \
     mesa-vulkan-drivers libvulkan1 for the software one); `simulate` and the other commands work without it";

/// A device and its queue.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// The adapter's name and backend, for reports.
    pub adapter: String,
}

impl Gpu {
    /// A device without a window (any backend the environment allows;
    /// `WGPU_BACKEND=vulkan|gl` picks one).
    pub fn headless() -> Result<Gpu, String> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .map_err(|e| format!("{NO_ADAPTER_HELP} ({e})"))?;
        Gpu::from_adapter(&adapter)
    }

    /// A device on `adapter`, with all the limits it offers.
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Gpu, String> {
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("needlemap"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| format!("the GPU adapter `{}` refused a device: {e}", info.name))?;
        Ok(Gpu { device, queue, adapter: format!("{} ({:?})", info.name, info.backend) })
    }

    /// Copies a GPU buffer (created with `COPY_SRC`) back to the CPU, blocking.
    pub fn read_back(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>, String> {
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
    pub fn read_buffer(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>, String> {
        let slice = buffer.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
            .map_err(|e| format!("waiting for the GPU: {e}"))?;
        let bytes = slice.get_mapped_range().map_err(|e| format!("reading a GPU buffer back: {e}"))?.to_vec();
        buffer.unmap();
        Ok(bytes)
    }
}
