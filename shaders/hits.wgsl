// Needle disks into a hit raster: one invocation per puncture adds 1 to every
// raster cell whose centre lies within the needle disk (the definition of the
// hit shares in DESIGN.md). On a curved zone the disk's chart radius is the
// needle radius over the square root of the analysis cell's true/chart area
// ratio, given per analysis cell as a squared radius in 1/256 raster cells.
// Positions are turned into fixed point once, so the disk test is integer
// arithmetic and the CPU twin (`gpu::hits::cpu_twin`) matches exactly.

struct Params {
    origin_mm: vec2<f32>,
    inv_h_mm: f32,        // raster cells per mm
    inv_cell_mm: f32,     // analysis cells per mm
    raster_u: u32,
    raster_v: u32,
    cells_u: u32,
    cells_v: u32,
    count: u32,
    row_stride: u32,      // invocations per dispatch row (workgroups_x * 256)
    _pad: vec2<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> points_mm: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> r2_fixed: array<u32>;
@group(0) @binding(3) var<storage, read_write> hits: array<atomic<u32>>;

@compute @workgroup_size(256)
fn splat(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x + id.y * params.row_stride;
    if (i >= params.count) {
        return;
    }
    let rel = points_mm[i] - params.origin_mm;
    let cell = floor(rel * params.inv_cell_mm);
    if (cell.x < 0.0 || cell.y < 0.0 || cell.x >= f32(params.cells_u) || cell.y >= f32(params.cells_v)) {
        return;
    }
    let r2 = r2_fixed[u32(cell.y) * params.cells_u + u32(cell.x)];
    let q = vec2<i32>(floor(rel * params.inv_h_mm * 256.0));
    let reach = i32(sqrt(f32(r2)) / 256.0) + 2;
    let base = q >> vec2<u32>(8u, 8u);
    let lo = max(base - vec2<i32>(reach), vec2<i32>(0));
    let hi = min(base + vec2<i32>(reach), vec2<i32>(i32(params.raster_u) - 1, i32(params.raster_v) - 1));
    for (var y = lo.y; y <= hi.y; y++) {
        let dy = (2 * y + 1) * 128 - q.y;
        for (var x = lo.x; x <= hi.x; x++) {
            let dx = (2 * x + 1) * 128 - q.x;
            if (u32(dx * dx + dy * dy) <= r2) {
                atomicAdd(&hits[u32(y) * params.raster_u + u32(x)], 1u);
            }
        }
    }
}
