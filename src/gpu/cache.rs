//! A picture painted now and then and laid over every frame: the view's
//! panel is laid out five times a second, but egui draws its text as
//! thousands of small blended triangles, which cost a software rasteriser
//! almost as much as the 3D view. Painted into this texture once per layout, it
//! costs each frame one copy of its rectangle: a plain copy when the picture
//! is opaque there (the panel beside the 3D view, on white) and the target
//! takes copies; else drawn over the target with premultiplied alpha
//! (`shaders/blit.wgsl`).

use super::Gpu;

/// A window-sized texture holding a premultiplied-alpha picture (painted on
/// transparent, or on an opaque colour where it is `opaque`), and what lays
/// it over a target of the same size.
pub struct PaintCache {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    bind: wgpu::BindGroup,
    layout: wgpu::BindGroupLayout,
    pipeline: wgpu::RenderPipeline,
    format: wgpu::TextureFormat,
    /// The part of the texture the picture covers (x, y, width, height),
    /// pixels; nothing is laid over outside it.
    pub rect: [u32; 4],
    /// The picture is opaque over `rect` (copied, not blended).
    pub opaque: bool,
}

impl PaintCache {
    /// A cache for targets of `format` and `size` (pixels).
    pub fn new(gpu: &Gpu, format: wgpu::TextureFormat, size: (u32, u32)) -> PaintCache {
        let d = &gpu.device;
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("blit.wgsl"),
            source: wgpu::ShaderSource::Wgsl(super::shader("blit.wgsl").into()),
        });
        let layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("picture"),
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
        let pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("blit"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = d.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("blit"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_blit"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: Default::default(),
            depth_stencil: None,
            multisample: Default::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_blit"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let (texture, view, bind) = Self::texture(gpu, &layout, format, size);
        PaintCache { texture, view, bind, layout, pipeline, format, rect: [0; 4], opaque: false }
    }

    fn texture(
        gpu: &Gpu,
        layout: &wgpu::BindGroupLayout,
        format: wgpu::TextureFormat,
        (width, height): (u32, u32),
    ) -> (wgpu::Texture, wgpu::TextureView, wgpu::BindGroup) {
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("painted picture"),
            size: wgpu::Extent3d { width: width.max(1), height: height.max(1), depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        let bind = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("picture"),
            layout,
            entries: &[wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(&view) }],
        });
        (texture, view, bind)
    }

    /// Makes the texture `size` (pixels) if it is not; true when it was
    /// made again (and so holds nothing).
    pub fn fit(&mut self, gpu: &Gpu, size: (u32, u32)) -> bool {
        let size = (size.0.max(1), size.1.max(1));
        if (self.texture.width(), self.texture.height()) == size {
            return false;
        }
        (self.texture, self.view, self.bind) = Self::texture(gpu, &self.layout, self.format, size);
        self.rect = [0; 4];
        true
    }

    /// Where to paint the picture (clearing it first: to transparent, or to
    /// the colour under it when the picture is to be `opaque`).
    pub fn target(&self) -> &wgpu::TextureView {
        &self.view
    }

    /// Lays the picture's rectangle over `target` (the texture's size):
    /// copied when the picture is opaque and `copy_to` is `target`'s texture
    /// (made with `COPY_DST`), else drawn in a render pass of its own.
    pub fn draw(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        copy_to: Option<&wgpu::Texture>,
    ) {
        let [x, y, w, h] = self.rect;
        let (tw, th) = (self.texture.width(), self.texture.height());
        let (x, y) = (x.min(tw), y.min(th));
        let (w, h) = (w.min(tw - x), h.min(th - y));
        if w == 0 || h == 0 {
            return;
        }
        if let Some(dst) = copy_to.filter(|t| self.opaque && t.usage().contains(wgpu::TextureUsages::COPY_DST)) {
            let at = |texture| wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d { x, y, z: 0 },
                aspect: wgpu::TextureAspect::All,
            };
            encoder.copy_texture_to_texture(
                at(&self.texture),
                at(dst),
                wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
            );
            return;
        }
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("painted picture"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations { load: wgpu::LoadOp::Load, store: wgpu::StoreOp::Store },
            })],
            depth_stencil_attachment: None,
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_scissor_rect(x, y, w, h);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind, &[]);
        pass.draw(0..3, 0..1);
    }
}
