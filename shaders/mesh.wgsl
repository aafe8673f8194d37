// Zone meshes, lit, with the density or band layer mapped on the skin: each fragment
// looks up its analysis cell (from the chart coordinates) in the counts the
// GPU accumulated, divides by the cell's true area, and colours it with
// viridis over a settable range (values beyond it clamped and striped); or
// the target band, or the needle-disk hit count from the hit raster
// (`hits.wgsl`). Cells outside the zone (no area) are grey; avoid regions
// (a fine bit mask) are striped purple: pale lilac between the stripes, or,
// over the drawn head, the head itself (its eyes, lips, nostrils) through
// thin stripes. A cell no puncture has reached yet is skin (density and
// band layers).

struct Camera {
    view_proj: mat4x4<f32>,
    eye: vec4<f32>,
}

struct Layer {
    origin_mm: vec2<f32>,
    inv_cell_mm: f32,
    cells_u: u32,
    cells_v: u32,
    mode: u32,                 // 0: density (viridis); 1: target band; 2: needle-disk hits
    range_per_cm2: vec2<f32>,  // the density colour scale: low, high
    target_per_cm2: vec2<f32>,
    inv_h_mm: f32,             // hit raster cells per mm
    raster_u: u32,
    raster_v: u32,
    avoid_u: u32,              // the avoid mask: cells across, up, and per mm
    avoid_v: u32,
    avoid_inv_mm: f32,
    context: u32,              // 1: the whole head is drawn under the zones (`context.wgsl`)
    skin: vec4<f32>,           // the skin's colour: cells no puncture has reached yet
}

@group(0) @binding(0) var<uniform> camera: Camera;
@group(1) @binding(0) var<uniform> layer: Layer;
@group(1) @binding(1) var<storage, read> counts: array<u32>;
// True in-zone area of each analysis cell, mm2.
@group(1) @binding(2) var<storage, read> cell_area_mm2: array<f32>;
@group(1) @binding(3) var<storage, read> hits: array<u32>;
// One bit per avoid-mask cell: inside an avoid region.
@group(1) @binding(4) var<storage, read> avoid_bits: array<u32>;

fn in_avoid(chart_mm: vec2<f32>) -> bool {
    let m = floor((chart_mm - layer.origin_mm) * layer.avoid_inv_mm);
    if (m.x < 0.0 || m.y < 0.0 || m.x >= f32(layer.avoid_u) || m.y >= f32(layer.avoid_v)) {
        return false;
    }
    let k = u32(m.y) * layer.avoid_u + u32(m.x);
    return ((avoid_bits[k >> 5u] >> (k & 31u)) & 1u) == 1u;
}

struct VertexIn {
    @location(0) position_mm: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) chart_mm: vec2<f32>,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) chart_mm: vec2<f32>,
}

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    var out: VertexOut;
    out.clip = camera.view_proj * vec4<f32>(v.position_mm, 1.0);
    out.world = v.position_mm;
    out.normal = v.normal;
    out.chart_mm = v.chart_mm;
    return out;
}

// Viridis as a 6th-order polynomial fit (within 0.02 of the table in every channel).
fn viridis(t_in: f32) -> vec3<f32> {
    let t = clamp(t_in, 0.0, 1.0);
    let c0 = vec3<f32>(0.2777273272234177, 0.005407344544966578, 0.3340998053353061);
    let c1 = vec3<f32>(0.1050930431085774, 1.404613529898575, 1.384590162594685);
    let c2 = vec3<f32>(-0.3308618287255563, 0.214847559468213, 0.09509516302823659);
    let c3 = vec3<f32>(-4.634230498983486, -5.799100973351585, -19.33244095627987);
    let c4 = vec3<f32>(6.228269936347081, 14.17993336680509, 56.69055260068105);
    let c5 = vec3<f32>(4.776384997670288, -13.74514537774601, -65.35303263337234);
    let c6 = vec3<f32>(-5.435455855934631, 4.645852612178535, 26.3124352495832);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

// Diagonal stripes in screen space, 8 px apart: marks clamped values and avoid regions.
fn stripe(frag: vec4<f32>) -> bool {
    return fract((frag.x + frag.y) / 8.0) < 0.4;
}

// Hit classes 0, 1, 2, 3+ (as in the PNG maps: light to dark, so gaps read as holes).
fn hit_colour(n: u32) -> vec3<f32> {
    switch min(n, 3u) {
        case 0u: { return vec3<f32>(0.941, 0.941, 0.941); }
        case 1u: { return vec3<f32>(0.992, 0.831, 0.620); }
        case 2u: { return vec3<f32>(0.988, 0.553, 0.349); }
        default: { return vec3<f32>(0.702, 0.0, 0.0); }
    }
}

@fragment
fn fs_main(f: VertexOut) -> @location(0) vec4<f32> {
    let q = floor((f.chart_mm - layer.origin_mm) * layer.inv_cell_mm);
    var albedo = vec3<f32>(0.78, 0.78, 0.80);
    if (q.x >= 0.0 && q.y >= 0.0 && q.x < f32(layer.cells_u) && q.y < f32(layer.cells_v)) {
        let c = u32(q.y) * layer.cells_u + u32(q.x);
        let area = cell_area_mm2[c];
        if (in_avoid(f.chart_mm)) {
            if (layer.context == 1u) {
                // Over the drawn head: its features show between thin stripes.
                if (fract((f.clip.x + f.clip.y) / 8.0) >= 0.15) {
                    discard;
                }
                albedo = vec3<f32>(0.47, 0.0, 0.63);
            } else {
                // An avoid region: pale lilac with purple stripes.
                albedo = select(vec3<f32>(0.784, 0.784, 0.824), vec3<f32>(0.47, 0.0, 0.63), stripe(f.clip));
            }
        } else if (area > 0.0 && counts[c] == 0u && layer.mode != 2u) {
            // Skin no puncture has reached yet.
            albedo = layer.skin.rgb;
        } else if (area > 0.0) {
            let per_cm2 = f32(counts[c]) / area * 100.0;
            if (layer.mode == 2u) {
                let r = floor((f.chart_mm - layer.origin_mm) * layer.inv_h_mm);
                let k = min(u32(max(r.y, 0.0)), layer.raster_v - 1u) * layer.raster_u
                    + min(u32(max(r.x, 0.0)), layer.raster_u - 1u);
                albedo = hit_colour(hits[k]);
            } else if (layer.mode == 1u) {
                // The band map's colours: under blue, in band pale yellow, over red.
                if (per_cm2 < layer.target_per_cm2.x) {
                    albedo = vec3<f32>(0.271, 0.459, 0.706);
                } else if (per_cm2 > layer.target_per_cm2.y) {
                    albedo = vec3<f32>(0.843, 0.188, 0.153);
                } else {
                    albedo = vec3<f32>(0.996, 0.878, 0.565);
                }
            } else {
                let lo = layer.range_per_cm2.x;
                let hi = layer.range_per_cm2.y;
                albedo = viridis((per_cm2 - lo) / max(hi - lo, 1e-6));
                // Out of the colour scale: clamped, and striped (white above, black below).
                if (per_cm2 > hi && stripe(f.clip)) {
                    albedo = mix(albedo, vec3<f32>(1.0, 1.0, 1.0), 0.6);
                } else if (per_cm2 < lo && stripe(f.clip)) {
                    albedo = mix(albedo, vec3<f32>(0.0, 0.0, 0.0), 0.6);
                }
            }
        }
    }
    // A headlight and some ambient light; both faces lit.
    let n = normalize(f.normal);
    let to_eye = normalize(camera.eye.xyz - f.world);
    let diffuse = abs(dot(n, to_eye));
    return vec4<f32>(albedo * (0.35 + 0.65 * diffuse), 1.0);
}
