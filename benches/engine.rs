//! Benchmarks of every hot path of the engine on the reference job:
//! a 100 x 100 mm zone, pen-12 at 110 Hz, 10 mm/s, 3 mm lanes, one pass in
//! each of the four directions (about 1.7 million punctures).
//!
//! The `floor` is a bare loop doing the least work the job could: it
//! scatters the same number of points into a grid of the same cell count.
//! Results, with the machine they ran on: benches/RESULTS.md.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use needlemap::core::engine::{cells, overlap, plan as pattern, raster, simulate};
use needlemap::core::geometry::layout::{self, Layout};
use needlemap::core::input::scene::Scene;
use needlemap::core::{RunOptions, run};
use std::hint::black_box;
use std::time::Duration;

// The binary's allocator, so the figures are the command's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SCENE: &str = include_str!("../scenes/bench-100mm.toml");

fn scene() -> Scene {
    Scene::from_toml_str(SCENE, "scenes/bench-100mm.toml").expect("bench scene")
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool")
}

/// The floor: N points from a xorshift generator, each counted into its cell.
fn floor_scatter(n: usize, cells_u: usize, cells_v: usize) -> Vec<u32> {
    let mut counts = vec![0u32; cells_u * cells_v];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = ((x & 0xffff_ffff) as usize * cells_u) >> 32;
        let v = ((x >> 32) as usize * cells_v) >> 32;
        counts[v * cells_u + u] += 1;
    }
    counts
}

fn engine(c: &mut Criterion) {
    let s = scene();
    let plan = pattern::plan(&s);
    let zone = &s.zones[0];
    let layout = Layout::new(&zone.region, s.analysis.cell_mm, s.cartridge.needle_radius_mm());
    let sim = simulate::simulate(&s, &plan);
    let punctures = &sim.zones[0].punctures;
    let n = punctures.len();
    println!(
        "reference job: {n} punctures, {} analysis cells, raster {} x {}",
        layout.cells(),
        layout.raster_u(),
        layout.raster_v()
    );

    let mut g = c.benchmark_group("engine_100mm");
    g.sample_size(10).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(8));
    g.bench_function("floor: scatter N points into the cell grid", |b| {
        b.iter(|| black_box(floor_scatter(black_box(n), layout.cells_u, layout.cells_v)))
    });
    for threads in [1, 2] {
        let label = if threads == 1 { "1 thread" } else { "2 threads" };
        g.bench_function(format!("generate punctures + density cells, {label}"), |b| {
            let p = pool(threads);
            b.iter(|| {
                p.install(|| {
                    let sim = simulate::simulate(&s, &plan);
                    black_box(cells::cell_counts(&layout, &sim.zones[0].punctures))
                })
            })
        });
    }
    for threads in [1, 2] {
        g.bench_function(format!("whole simulate (every metric), {threads} thread(s)"), |b| {
            let p = pool(threads);
            b.iter(|| p.install(|| black_box(run(&s, &RunOptions::default()).expect("runs"))))
        });
    }
    g.finish();

    // The measuring stages on their own, at the default thread count.
    let mut g = c.benchmark_group("measure_100mm");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    let spans = layout::treatable_spans(&zone.region, &layout);
    let r = s.cartridge.needle_radius_mm();
    g.bench_function("splat needle disks into the hit raster", |b| {
        b.iter_batched_ref(
            || vec![0u8; layout.raster_cells() as usize],
            |raster| raster::splat(raster, &layout, punctures, r, None),
            BatchSize::LargeInput,
        )
    });
    let mut raster = vec![0u8; layout.raster_cells() as usize];
    raster::splat(&mut raster, &layout, punctures, r, None);
    g.bench_function("classify hit raster per analysis cell", |b| {
        b.iter(|| black_box(raster::classify(&raster, &layout, &spans)))
    });
    g.bench_function("splat + classify fused, band by band (no raster)", |b| {
        b.iter(|| black_box(raster::splat_classify(&layout, &spans, punctures, r, None)))
    });
    g.bench_function("overlap (earlier puncture within d), all workers: strips of bin columns", |b| {
        b.iter(|| black_box(overlap::overlap_count(punctures, s.cartridge.needle_diameter_mm)))
    });
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool");
    g.bench_function("overlap (earlier puncture within d), 1 worker: one pass", |b| {
        b.iter(|| one.install(|| black_box(overlap::overlap_count(punctures, s.cartridge.needle_diameter_mm))))
    });
    g.bench_function("parse and validate the scene", |b| b.iter(|| black_box(scene())));
    // Validation grows about linearly: a 100 000-point outline and 10 000
    // passes (issue 15 asked for under 1 s each).
    let head = "[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 20\n[[zones]]\nname = \"z\"\n";
    let n = 100_000;
    let points: Vec<String> = (0..n)
        .map(|k| {
            let a = std::f64::consts::TAU * k as f64 / n as f64;
            format!("[{:.4}, {:.4}]", 20.0 + 15.0 * a.cos(), 20.0 + 15.0 * a.sin())
        })
        .collect();
    let polygon = format!(
        "{head}shape = {{ polygon = {{ points_mm = [{}] }} }}\n[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n",
        points.join(", ")
    );
    let passes = format!(
        "{head}shape = {{ rect = {{ width_mm = 40, height_mm = 30 }} }}\n{}",
        "[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n".repeat(10_000)
    );
    g.bench_function("validate a 100 000-point polygon", |b| {
        b.iter(|| black_box(Scene::from_toml_str(&polygon, "p.toml").expect("valid")))
    });
    g.bench_function("validate 10 000 passes", |b| {
        b.iter(|| black_box(Scene::from_toml_str(&passes, "p.toml").expect("valid")))
    });
    g.finish();
}

/// Mapping punctures from a zone's chart to the skin in 3D: the full face's
/// forehead (86 cm2, 4 736 triangles at 2 mm) with its simulated punctures.
fn mapping(c: &mut Criterion) {
    let text = include_str!("../scenes/full-face.toml");
    let s = Scene::from_toml_str(text, "scenes/full-face.toml").expect("full-face scene");
    let plan = pattern::plan(&s);
    let sim = simulate::simulate(&s, &plan);
    let (zone, run) = (&s.zones[0], &sim.zones[0]);
    let surface = zone.surface.as_deref().expect("a mesh zone");
    println!(
        "mapping: {} punctures on {} ({} triangles)",
        run.punctures.len(),
        zone.name,
        surface.mesh.triangles.len()
    );
    let mut g = c.benchmark_group("mesh");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    g.throughput(criterion::Throughput::Elements(run.punctures.len() as u64));
    g.bench_function("map punctures to 3D (forehead)", |b| {
        b.iter(|| black_box(simulate::map_to_3d(surface, &run.punctures)))
    });
    g.bench_function("floor: one barycentric interpolation per puncture", |b| {
        // The least work a mapping does: interpolate a known triangle.
        let t = surface.mesh.triangles[0];
        let [a, bb, cc] = [0, 1, 2].map(|k| surface.mesh.positions_mm[t[k] as usize]);
        b.iter(|| {
            let mut acc = 0.0f32;
            for p in &run.punctures {
                let (w1, w2) = (p.u_mm.fract() as f64, p.v_mm.fract() as f64 * (1.0 - p.u_mm.fract() as f64));
                let q = a * (1.0 - w1 - w2) + bb * w1 + cc * w2;
                acc += q.x as f32;
            }
            black_box(acc)
        })
    });
    g.finish();
}

/// A bent 200 x 200 mm sheet of `cells` x `cells` squares (2 cells^2
/// triangles), as OBJ text with no UVs: a scan's shape, charted by LSCM.
fn scan_obj(cells: usize) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    let step = 200.0 / cells as f64;
    for j in 0..=cells {
        for i in 0..=cells {
            let (x, y) = (i as f64 * step, j as f64 * step);
            let z = 0.002 * (x - 100.0).powi(2) + 0.001 * (y - 100.0).powi(2);
            writeln!(text, "v {x:.4} {y:.4} {z:.4}").unwrap();
        }
    }
    let at = |i: usize, j: usize| j * (cells + 1) + i + 1;
    for j in 0..cells {
        for i in 0..cells {
            let (a, b, c, d) = (at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1));
            writeln!(text, "f {a} {b} {c}\nf {a} {c} {d}").unwrap();
        }
    }
    text
}

/// The stages of loading a scan (read, validate, chart, index, cell
/// areas), at 10 k, 100 k and 1 M triangles, beside a floor: one bare pass
/// over the triangles reading their corners. Each stage should grow about
/// linearly with the mesh.
fn scan(c: &mut Criterion) {
    use needlemap::core::geometry::mesh::{ChartIndex, Mesh, cell_areas};
    use needlemap::core::geometry::obj::read_obj;
    use needlemap::core::geometry::shape::Region;
    let mut g = c.benchmark_group("scan");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (label, cells) in [("10k", 71), ("100k", 224), ("1M", 707)] {
        let text = scan_obj(cells);
        let raw = read_obj(&text, None, 1.0).expect("the scan reads");
        let mut mesh = Mesh {
            chart_mm: vec![Default::default(); raw.positions_mm.len()],
            positions_mm: raw.positions_mm,
            triangles: raw.triangles,
        };
        g.throughput(criterion::Throughput::Elements(mesh.triangles.len() as u64));
        g.bench_function(format!("floor: one pass over the triangles' corners, {label}"), |b| {
            b.iter(|| {
                let mut acc = 0.0;
                for t in &mesh.triangles {
                    acc += mesh.positions_mm[t[0] as usize].x
                        + mesh.positions_mm[t[1] as usize].y
                        + mesh.positions_mm[t[2] as usize].z;
                }
                black_box(acc)
            })
        });
        g.bench_function(format!("read (OBJ text to triangles), {label}"), |b| {
            b.iter(|| black_box(read_obj(&text, None, 1.0).map(|r| r.triangles.len())))
        });
        g.bench_function(format!("validate and orient, {label}"), |b| {
            b.iter_batched(
                || mesh.clone(),
                |mut m| {
                    m.validate_3d().expect("valid");
                    black_box(m.orient_consistently().expect("orientable"))
                },
                BatchSize::LargeInput,
            )
        });
        g.bench_function(format!("chart (conformal), {label}"), |b| {
            b.iter_batched(
                || mesh.clone(),
                |mut m| {
                    m.compute_lscm_chart();
                    black_box(m.chart_mm.len())
                },
                BatchSize::LargeInput,
            )
        });
        mesh.compute_lscm_chart();
        g.bench_function(format!("chart index, {label}"), |b| b.iter(|| black_box(ChartIndex::new(&mesh))));
        let region = Region { outline: mesh.chart_outline().expect("fold-free"), avoid: Vec::new() };
        let layout = Layout::new(&region, 2.0, 0.125);
        g.bench_function(format!("cell areas (2 mm cells), {label}"), |b| {
            b.iter(|| black_box(cell_areas(&mesh, &layout).len()))
        });
    }
    g.finish();
}

/// `needlemap compare` on the cheek: 20 of the 100 benchmark strategies
/// (every fifth) x 5 seeds = 100 runs, on 1 and on 2 threads.
fn compare(c: &mut Criterion) {
    use needlemap::core::study::compare::{Strategy, run_all};
    use needlemap::core::study::strategy::StrategySet;
    let base = Scene::from_toml_str(include_str!("../scenes/cheek.toml"), "scenes/cheek.toml").expect("cheek");
    let set = StrategySet::from_toml_str(include_str!("cheek-100-strategies.toml"), "cheek-100-strategies.toml")
        .expect("strategies");
    let strategies: Vec<Strategy> = set
        .strategies
        .iter()
        .step_by(5)
        .map(|s| Strategy { name: s.name.clone(), scene: s.variation.apply(&base, None).expect("applies") })
        .collect();
    let seeds: Vec<u64> = (1..=5).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut g = c.benchmark_group("compare_cheek");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    g.throughput(criterion::Throughput::Elements((strategies.len() * seeds.len()) as u64));
    for threads in [1, 2] {
        g.bench_function(format!("20 strategies x 5 seeds, {threads} thread(s)"), |b| {
            let p = pool(threads);
            b.iter(|| p.install(|| black_box(run_all(&strategies, &seeds, &|| {}, &stop).expect("runs"))))
        });
    }
    g.finish();
}

/// One frame of the live view, offscreen: the full face at 1280 x 720
/// halfway through its treatment, with the dots of the last quarter-second
/// at 100x, the paths and the cartridge; against the floor of a frame that
/// only clears its colour and depth targets. Each waits for the GPU.
#[cfg(feature = "gpu")]
fn frame(c: &mut Criterion) {
    use needlemap::gpu::Gpu;
    use needlemap::gpu::render::{self, Background, Layer, Orbit, Renderer, View};
    let Ok(gpu) = Gpu::headless() else {
        println!("frame: no GPU adapter, skipped");
        return;
    };
    let scene = Scene::from_toml_str(include_str!("../scenes/full-face.toml"), "scenes/full-face.toml").expect("face");
    let o = run(&scene, &RunOptions::default()).expect("runs");
    let end = o.simulation.zones.iter().flat_map(|z| z.punctures.last()).map(|p| p.t_s as f64).fold(0.0, f64::max);
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let (w, h) = (1280, 720);
    let target = render::frame_texture(&gpu, w, h, format);
    let depth = render::depth_texture(&gpu, w, h);
    let (target, depth) = (target.create_view(&Default::default()), depth.create_view(&Default::default()));
    let mut r = Renderer::new(&gpu, &o, format, Layer::Density);
    r.set_time(&gpu, &o, end / 2.0);
    r.set_markers(&gpu, &o, end / 2.0, 25.0);
    let wait =
        |gpu: &Gpu| gpu.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None }).expect("GPU");
    let encoder = |gpu: &Gpu| gpu.device.create_command_encoder(&Default::default());
    let mut g = c.benchmark_group("frame_full_face_1280x720");
    g.sample_size(30).measurement_time(Duration::from_secs(6));
    g.bench_function("floor: clear only", |b| {
        b.iter(|| {
            let mut e = encoder(&gpu);
            e.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: None,
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &target,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::WHITE),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &depth,
                    depth_ops: Some(wgpu::Operations { load: wgpu::LoadOp::Clear(1.0), store: wgpu::StoreOp::Store }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            gpu.queue.submit([e.finish()]);
            wait(&gpu)
        })
    });
    g.bench_function("frame: zones, dots, paths, cartridge", |b| {
        b.iter(|| {
            let mut e = encoder(&gpu);
            r.draw(&gpu, &mut e, &target, &depth, Orbit::from_view(View::Front), [0, 0, w, h], Background::Clear);
            gpu.queue.submit([e.finish()]);
            wait(&gpu)
        })
    });
    g.finish();
}

#[cfg(not(feature = "gpu"))]
fn frame(_: &mut Criterion) {}

criterion_group!(benches, engine, mapping, scan, compare, frame);
criterion_main!(benches);
