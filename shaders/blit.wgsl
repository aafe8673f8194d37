// A picture painted now and then into a texture (the view's panel), laid
// over every frame: one triangle covering the target, each pixel reading the
// texel under it (a scissor keeps the work to the picture's rectangle). The
// texture holds premultiplied colour, blended over what is there.

@group(0) @binding(0) var picture: texture_2d<f32>;

@vertex
fn vs_blit(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // (-1, -1), (3, -1), (-1, 3): the target and beyond.
    let corner = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(corner * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs_blit(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> {
    return textureLoad(picture, vec2<i32>(p.xy), 0);
}
