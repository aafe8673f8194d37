// Counts punctures into the analysis cells of a zone: one invocation per
// puncture, one atomic add into its cell. The CPU twin is
// `gpu::accumulate::cpu_twin` (the same f32 arithmetic, so the counts match
// exactly).

struct Params {
    origin_mm: vec2<f32>,
    inv_cell_mm: f32,
    cells_u: u32,
    cells_v: u32,
    count: u32,
    row_stride: u32,   // invocations per dispatch row (workgroups_x * 256)
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> points_mm: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(256)
fn accumulate(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x + id.y * params.row_stride;
    if (i >= params.count) {
        return;
    }
    let q = (points_mm[i] - params.origin_mm) * params.inv_cell_mm;
    let c = floor(q);
    if (c.x < 0.0 || c.y < 0.0 || c.x >= f32(params.cells_u) || c.y >= f32(params.cells_v)) {
        return;
    }
    atomicAdd(&counts[u32(c.y) * params.cells_u + u32(c.x)], 1u);
}
