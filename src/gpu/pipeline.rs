//! Render pipelines: what differs between the renderer's pipelines, and one
//! function that builds them all (depth tested, no culling).

use super::Gpu;

/// What differs between the renderer's pipelines.
pub struct PipelineSpec<'a> {
    /// Name of the pipeline, for debugging tools and errors.
    pub label: &'static str,
    /// The pipeline's bind group layouts.
    pub layout: &'a wgpu::PipelineLayout,
    /// The shader module holding both entry points.
    pub module: &'a wgpu::ShaderModule,
    /// Vertex and fragment entry points.
    pub entry_points: (&'static str, &'static str),
    /// Layout of the one vertex buffer.
    pub buffer: wgpu::VertexBufferLayout<'a>,
    /// Depth test (e.g. `LessEqual`); the depth buffer is [`DEPTH_FORMAT`].
    pub depth_compare: wgpu::CompareFunction,
    /// Format of the colour target.
    pub format: wgpu::TextureFormat,
    /// Primitive topology (triangles, lines, ...).
    pub topology: wgpu::PrimitiveTopology,
    /// Alpha blending, and no depth writes (for translucent overlays).
    pub blend: bool,
}

/// A pipeline with depth testing, no culling; opaque ones write depth,
/// translucent ones blend and do not.
pub fn build_pipeline(gpu: &Gpu, spec: PipelineSpec) -> wgpu::RenderPipeline {
    gpu.device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(spec.label),
        layout: Some(spec.layout),
        vertex: wgpu::VertexState {
            module: spec.module,
            entry_point: Some(spec.entry_points.0),
            compilation_options: Default::default(),
            buffers: &[Some(spec.buffer)],
        },
        primitive: wgpu::PrimitiveState { topology: spec.topology, cull_mode: None, ..Default::default() },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(!spec.blend),
            depth_compare: Some(spec.depth_compare),
            stencil: Default::default(),
            bias: Default::default(),
        }),
        multisample: Default::default(),
        fragment: Some(wgpu::FragmentState {
            module: spec.module,
            entry_point: Some(spec.entry_points.1),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format: spec.format,
                blend: spec.blend.then_some(wgpu::BlendState::ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

/// The depth buffer's format.
pub const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
