// Punctures as they happen: round dots on the skin, a few pixels across,
// for the newest stamp's needles (where the cartridge is) and the punctures
// made in the last moments of playback. One triangle around each dot (a
// list, not instances: a software rasteriser pays per instance), nudged 0.5 mm
// towards the eye so the depth test keeps them on the near surface.

struct Camera {
    view_proj: mat4x4<f32>,
    eye: vec4<f32>,
}

struct Viewport {
    size_px: vec2<f32>,
    _pad: vec2<f32>,
}

@group(0) @binding(0) var<uniform> camera: Camera;
@group(1) @binding(0) var<uniform> viewport: Viewport;

// One vertex of a dot's triangle: the dot's centre, colour and radius, and
// the corner, in units of the radius.
struct Corner {
    @location(0) position_mm: vec3<f32>,
    // rgb colour, and the dot's radius in pixels
    @location(1) colour_radius: vec4<f32>,
    @location(2) corner: vec2<f32>,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) colour: vec3<f32>,
    @location(1) local: vec2<f32>,
}

@vertex
fn vs_marker(v: Corner) -> VertexOut {
    let c = v.corner;
    let toward_eye = normalize(camera.eye.xyz - v.position_mm);
    let clip = camera.view_proj * vec4<f32>(v.position_mm + toward_eye * 0.5, 1.0);
    let offset = c * (2.0 * v.colour_radius.w / viewport.size_px) * clip.w;
    var out: VertexOut;
    out.clip = vec4<f32>(clip.xy + offset, clip.zw);
    out.colour = v.colour_radius.rgb;
    out.local = c;
    return out;
}

@fragment
fn fs_marker(f: VertexOut) -> @location(0) vec4<f32> {
    let r = length(f.local);
    if (r > 1.0) {
        discard;
    }
    // A light rim so dots read on any layer colour.
    let rim = smoothstep(0.7, 0.85, r);
    return vec4<f32>(mix(f.colour, vec3<f32>(1.0, 1.0, 1.0), rim), 1.0);
}
