// The cartridge and the pass paths, drawn over the skin with alpha blending.
// Every vertex carries three times: its own, and its pass's start and end.
// Against the playback time `now`: a pass already done is drawn faint grey; in
// the current pass the path behind the cartridge is drawn in its colour and
// the path ahead dimmed; passes to come are not drawn. The cartridge's own
// vertices have times (-1, -1, 1e30), so they always show in their colour.

struct Camera {
    view_proj: mat4x4<f32>,
    eye: vec4<f32>,
}

struct Playback {
    now_s: f32,
    _pad0: f32,
    _pad1: vec2<f32>,
}

@group(0) @binding(0) var<uniform> camera: Camera;
@group(1) @binding(0) var<uniform> playback: Playback;

struct VertexIn {
    @location(0) position_mm: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) colour: vec4<f32>,
    // (this vertex, its pass's start, its pass's end), s
    @location(3) times_s: vec3<f32>,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) colour: vec4<f32>,
    @location(3) times_s: vec3<f32>,
}

@vertex
fn vs_overlay(v: VertexIn) -> VertexOut {
    var out: VertexOut;
    out.clip = camera.view_proj * vec4<f32>(v.position_mm, 1.0);
    out.world = v.position_mm;
    out.normal = v.normal;
    out.colour = v.colour;
    out.times_s = v.times_s;
    return out;
}

@fragment
fn fs_overlay(f: VertexOut) -> @location(0) vec4<f32> {
    let now = playback.now_s;
    var colour = f.colour;
    if (f.times_s.y > now) {
        discard; // a pass to come
    } else if (f.times_s.z < now) {
        colour = vec4<f32>(0.35, 0.35, 0.4, 0.35); // a pass done
    } else if (f.times_s.x > now) {
        colour = vec4<f32>(colour.rgb, colour.a * 0.35); // ahead of the cartridge
    }
    // Lit when it has a normal (the cartridge); lines (no normal) are flat.
    if (dot(f.normal, f.normal) > 0.0) {
        let n = normalize(f.normal);
        let to_eye = normalize(camera.eye.xyz - f.world);
        colour = vec4<f32>(colour.rgb * (0.45 + 0.55 * abs(dot(n, to_eye))), colour.a);
    }
    return colour;
}
