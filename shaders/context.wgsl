// The context drawn around built-in zones: the whole head, ears, neck and
// shoulders' start, never treated, in a neutral skin tone with the face's
// features (brows, eyes, lips, nostrils) from a colour map over the head's
// (theta, phi), lit as the zones are (`mesh.wgsl`). Each vertex carries its
// texel in the map; vertices off the face point outside it, and read the
// nearest edge texel: skin.

struct Camera {
    view_proj: mat4x4<f32>,
    eye: vec4<f32>,
}

@group(0) @binding(0) var<uniform> camera: Camera;
@group(1) @binding(0) var skin_map: texture_2d<f32>;

struct VertexIn {
    @location(0) position_mm: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) texel: vec2<f32>,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) texel: vec2<f32>,
}

@vertex
fn vs_context(v: VertexIn) -> VertexOut {
    var out: VertexOut;
    out.clip = camera.view_proj * vec4<f32>(v.position_mm, 1.0);
    out.world = v.position_mm;
    out.normal = v.normal;
    out.texel = v.texel;
    return out;
}

@fragment
fn fs_context(f: VertexOut) -> @location(0) vec4<f32> {
    let size = vec2<i32>(textureDimensions(skin_map));
    let at = clamp(vec2<i32>(floor(f.texel + 0.5)), vec2<i32>(0, 0), size - vec2<i32>(1, 1));
    let albedo = textureLoad(skin_map, at, 0).rgb;
    let n = normalize(f.normal);
    let to_eye = normalize(camera.eye.xyz - f.world);
    let diffuse = abs(dot(n, to_eye));
    return vec4<f32>(albedo * (0.35 + 0.65 * diffuse), 1.0);
}
