//! GPU tests, on whatever adapter the machine has (in CI: the software
//! Vulkan adapter, lavapipe): every shader validates, the GPU accumulation
//! matches its CPU twin and the engine's counts exactly, and pictures show
//! what they should, pixel by pixel: each skin pixel of a 3D view is picked
//! on the renderer's own camera (`Renderer::pick`) and must show its cell's
//! colour, lit; the overlay mid-treatment lies along the punctures it stands
//! for; the legend is where and what the guide says.
//!
//! Golden images: `tests/golden/*.png`, compared on the skin with a
//! tolerance set on lavapipe ("llvmpipe (LLVM 15.0.6, 256 bits)"); refresh
//! with `NEEDLEMAP_BLESS=1 cargo test --test gpu`. Renders are also written
//! to `tests/out/` (ignored by git) for a look.

use needlemap::core::geometry::shape::Vec2;
use needlemap::core::input::scene::Scene;
use needlemap::core::{Outcome, RunOptions, run};
use needlemap::gpu::accumulate::{Accumulator, cpu_twin};
use needlemap::gpu::hits::{self, HitGrid, Splatter};
use needlemap::gpu::render::{Background, Layer, RenderConfig, View, render};
use needlemap::gpu::{Gpu, SHADERS};
use std::path::Path;

fn outcome(file: &str) -> Outcome {
    let path = format!("{}/scenes/{file}", env!("CARGO_MANIFEST_DIR"));
    let scene = Scene::from_toml_str(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    run(&scene, &RunOptions::default()).unwrap()
}

fn gpu() -> Gpu {
    Gpu::headless().unwrap_or_else(|e| panic!("these tests need a GPU adapter (lavapipe in CI): {e}"))
}

#[test]
fn every_shader_in_shaders_validates_and_is_built_in() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    files.sort();
    let mut built_in: Vec<String> = SHADERS.iter().map(|(n, _)| n.to_string()).collect();
    built_in.sort();
    assert_eq!(files, built_in, "every shader file is compiled into the program, and only those");
    for (name, source) in SHADERS {
        let module =
            naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

#[test]
fn gpu_accumulation_matches_the_cpu_twin_exactly() {
    // And the engine's own cell counts (those every figure and map uses),
    // not only the twin written for this test.
    let gpu = gpu();
    let acc = Accumulator::new(&gpu);
    for file in ["bench-100mm.toml", "full-face.toml", "random-stamping.toml"] {
        let o = outcome(file);
        for (z, run) in o.simulation.zones.iter().enumerate() {
            let layout = &o.fields[z].layout;
            let gpu_counts = acc.counts(&gpu, layout, &run.punctures).unwrap();
            let cpu_counts = cpu_twin(layout, &run.punctures);
            assert_eq!(gpu_counts, cpu_counts, "{file} zone {z}");
            let engine = &o.fields[z].cell_punctures;
            let differ = gpu_counts.iter().zip(engine).filter(|(a, b)| a != b).count();
            assert_eq!(gpu_counts.len(), engine.len(), "{file} zone {z}: cells");
            assert_eq!(differ, 0, "{file} zone {z}: {differ} cells counted otherwise than by the engine");
            let total: u64 = gpu_counts.iter().map(|&c| c as u64).sum();
            assert_eq!(total, run.punctures.len() as u64, "{file} zone {z}: every puncture counted once");
        }
    }
}

#[test]
fn gpu_hit_raster_matches_its_cpu_twin_and_the_measured_hit_shares() {
    let gpu = gpu();
    let splatter = Splatter::new(&gpu);
    for file in ["bench-100mm.toml", "random-stamping.toml", "cheek.toml"] {
        let o = outcome(file);
        for (z, run) in o.simulation.zones.iter().enumerate() {
            let zone = &o.scene.zones[z];
            let grid = HitGrid::new(&o.fields[z].layout, o.scene.cartridge.needle_radius_mm(), zone.surface.as_deref());
            let gpu_hits = splatter.hits(&gpu, &grid, &run.punctures).unwrap();
            let cpu_hits = hits::cpu_twin(&grid, &run.punctures);
            assert_eq!(gpu_hits.len(), cpu_hits.len());
            let differ = gpu_hits.iter().zip(&cpu_hits).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "{file} zone {z}: {differ} raster cells differ from the CPU twin");
            if zone.surface.is_some() {
                continue; // shares on a curved zone are weighted by true area: checked by the engine tests
            }
            // The hit classes of the in-zone raster cells give the zone's measured hit shares.
            assert_eq!(grid.h_mm, o.fields[z].layout.h_mm, "{file}: the coverage raster's cells");
            let mut classes = [0u64; 4];
            for (k, &n) in gpu_hits.iter().enumerate() {
                let centre = grid.layout.origin_mm
                    + Vec2::new((k % grid.raster_u) as f64 + 0.5, (k / grid.raster_u) as f64 + 0.5) * grid.h_mm;
                if zone.region.treatable(centre) {
                    classes[(n as usize).min(3)] += 1;
                }
            }
            let total = classes.iter().sum::<u64>() as f64;
            for (k, (&n, &measured)) in classes.iter().zip(&o.zones[z].hit_shares).enumerate() {
                let gpu_share = n as f64 / total;
                assert!(
                    (gpu_share - measured).abs() < 0.003,
                    "{file} zone {z}: share hit {k} times {gpu_share:.4} on the GPU, {measured:.4} measured"
                );
            }
        }
    }
}

fn rgba_render(o: &Outcome, cfg: &RenderConfig) -> image::RgbaImage {
    let gpu = gpu();
    let pixels = render(&gpu, o, cfg).unwrap();
    image::RgbaImage::from_raw(cfg.width, cfg.height, pixels).unwrap()
}

fn save(img: &image::RgbaImage, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/out");
    std::fs::create_dir_all(&dir).unwrap();
    img.save(dir.join(name)).unwrap();
}

#[test]
fn a_render_shows_the_skin_and_the_heatmap_on_a_white_background() {
    use needlemap::gpu::render::{Orbit, auto_range};
    let o = outcome("full-face.toml");
    let cfg = RenderConfig {
        layer: Layer::Density,
        view: View::Front,
        width: 320,
        height: 240,
        at_time_s: None,
        range_per_cm2: None,
        context: false,
    };
    let img = rgba_render(&o, &cfg);
    save(&img, "full-face-front.png");
    let img = image::DynamicImage::ImageRgba8(img).to_rgb8();
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255], "background");
    // Skin where the renderer's camera sees a zone, white elsewhere, and
    // each cell (away from its edges) in its density's colour, lit.
    let gpu = gpu();
    let orbit = Orbit::from_view(View::Front);
    let picker = renderer_at(&gpu, &o, Layer::Density, f64::INFINITY);
    let end = counts_at(&o, f64::INFINITY);
    let v = check_density_view(&img, &o, &picker, orbit, &end, auto_range(&o), 6, |_, _| false);
    // (The face fills about a fifth of the frame.)
    assert!(v.skin * 8 > v.sampled, "{} of {} pixels on skin", v.skin, v.sampled);
    assert_eq!((v.skin_white, v.background_painted), (0, 0), "skin left white, background painted");
    // At 320 x 240 a 2 mm cell is 2 or 3 pixels: few pixels are clear of
    // every edge, but every zone shows some.
    assert!(v.checked >= 40 && v.per_zone.iter().filter(|&&n| n > 0).count() >= 6, "{v:?}");
    assert!(v.wrong.is_empty(), "{} of {} pixels not their cell's colour: {:?}", v.wrong.len(), v.checked, v.wrong);
    // Halfway through the treatment the heatmap shows the punctures made by
    // then (the frame drawn without the overlay), not all of them.
    let half_s = o.zones.iter().map(|z| z.time_s).sum::<f64>() / 2.0;
    let mut r = picker;
    r.set_time(&gpu, &o, half_s);
    let half = frame(&gpu, &r, orbit, (320, 240));
    let v = check_density_view(&half, &o, &r, orbit, &counts_at(&o, half_s), auto_range(&o), 6, |_, _| false);
    assert!(v.checked >= 40 && v.wrong.is_empty(), "at {half_s:.0} s: {} of {} pixels wrong", v.wrong.len(), v.checked);
    let full = image::DynamicImage::ImageRgba8(rgba_render(&o, &cfg)).to_rgb8();
    let skin = full.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let differ = half.pixels().zip(full.pixels()).filter(|(a, b)| off(a.0, b.0.map(|v| v as f64)) > 10.0).count();
    assert!(differ * 4 > skin, "at {half_s:.0} s only {differ} of {skin} skin pixels differ from the end");
}

#[test]
fn the_whole_head_is_drawn_around_built_in_zones_and_under_their_avoid_regions() {
    use needlemap::core::geometry::anatomy::{Feature, SKIN_RGB};
    use needlemap::gpu::render::Orbit;
    // A partial scene: the left cheek alone, on the built-in head. Drawn
    // with the head and without it, from the front, three-quarter and the
    // left: the cheek's own pixels are the same in both (the head lies
    // under the zones and never covers them); around it the head is drawn,
    // skin-toned and lit, one and a half times the cheek's size and more; in the cheek's avoid
    // region the head's eye shows between thin stripes (no lilac); and from
    // the front the other eye (white, iris and pupil) and the lips show.
    let text = "name = \"left cheek\"\nseed = 3\n[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 40\n\
                [[zones]]\nmesh = \"builtin:cheek-left\"\n[[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 3\n";
    let o = run(&Scene::from_toml_str(text, "left-cheek.toml").unwrap(), &RunOptions::default()).unwrap();
    assert!(needlemap::gpu::render::has_context(&o));
    let gpu = gpu();
    let (w, h) = (256u32, 256u32);
    let skin = SKIN_RGB.map(|v| v * 255.0);
    let colour = |f: Feature| f.rgb().map(|v| v * 255.0);
    for view in [View::Front, View::ThreeQuarter, View::Left] {
        let cfg = |context| RenderConfig {
            layer: Layer::Density,
            view,
            width: w,
            height: h,
            at_time_s: None,
            range_per_cm2: None,
            context,
        };
        let with = image::DynamicImage::ImageRgba8(rgba_render(&o, &cfg(true))).to_rgb8();
        let without = image::DynamicImage::ImageRgba8(rgba_render(&o, &cfg(false))).to_rgb8();
        save(&image::DynamicImage::ImageRgb8(with.clone()).to_rgba8(), &format!("left-cheek-head-{view:?}.png"));
        let picker = renderer_at(&gpu, &o, Layer::Density, f64::INFINITY);
        let region = &o.scene.zones[0].region;
        let (mut zone, mut changed, mut head, mut head_skin, mut avoid, mut lilac, mut purple) = (0, 0, 0, 0, 0, 0, 0);
        let mut features = std::collections::HashMap::new();
        for y in 0..h {
            for x in 0..w {
                let (a, b) = (with.get_pixel(x, y).0, without.get_pixel(x, y).0);
                let picked = picker.pick(Orbit::from_view(view), [0, 0, w, h], (x as f64 + 0.5, y as f64 + 0.5));
                if let Some((_, p)) = picked {
                    if region.avoid.iter().any(|s| s.contains(p)) {
                        avoid += 1;
                        lilac += lit(a, [0.784 * 255.0, 0.784 * 255.0, 0.824 * 255.0], 2.0).is_ok() as usize;
                        purple += lit(a, [0.47 * 255.0, 0.0, 0.63 * 255.0], 2.0).is_ok() as usize;
                    } else if region.outline.contains(p) {
                        zone += 1;
                        changed += (off(a, b.map(|v| v as f64)) > 3.0) as usize;
                    }
                } else if b == [255; 3] && a != [255; 3] {
                    head += 1;
                    head_skin += lit(a, skin, 2.0).is_ok() as usize;
                    for f in [Feature::Sclera, Feature::Iris, Feature::Pupil, Feature::Lip] {
                        if lit(a, colour(f), 2.0).is_ok() && lit(a, skin, 2.0).is_err() {
                            *features.entry(format!("{f:?}")).or_insert(0usize) += 1;
                        }
                    }
                }
            }
        }
        eprintln!(
            "{view:?}: zone {zone} ({changed} changed), head {head} ({head_skin} skin), avoid {avoid} \
             ({purple} purple, {lilac} lilac), features {features:?}"
        );
        // The cheek's pixels: all but its silhouette's (antialiased against
        // the head instead of the white) the same.
        assert!(zone > 500, "{view:?}: {zone} cheek pixels");
        assert!(changed * 50 <= zone, "{view:?}: {changed} of {zone} cheek pixels changed by the head");
        assert!(2 * head > 3 * zone, "{view:?}: the head drawn on {head} pixels, the cheek on {zone}");
        assert!(head_skin * 10 >= head * 8, "{view:?}: {head_skin} of {head} head pixels skin, lit");
        if view != View::Left {
            // The eye under the cheek's avoid region: thin stripes, no lilac.
            assert!(avoid > 100 && lilac == 0, "{view:?}: {avoid} avoid pixels, {lilac} lilac");
            assert!(purple * 3 < avoid && purple * 12 > avoid, "{view:?}: {purple} of {avoid} avoid pixels striped");
        }
        if view == View::Front {
            for f in ["Sclera", "Iris", "Pupil", "Lip"] {
                assert!(
                    features.get(f).is_some_and(|&n| n >= 10),
                    "{view:?}: {f} drawn on {:?} pixels",
                    features.get(f)
                );
            }
        }
    }
}

/// What every mid-treatment frame's overlay must show (see `check_overlay`).
fn assert_overlay(c: &OverlayCheck, o: &Outcome) {
    let show: Vec<_> = c.stray.iter().take(8).collect();
    assert!(
        c.stray.is_empty(),
        "{} of {} overlay pixels away from what they stand for: {show:?}",
        c.stray.len(),
        c.sampled
    );
    // Each part is drawn: the current pass behind and ahead of the
    // cartridge, the passes done (a lane is hundreds of pixels).
    assert!(c.behind > 50 && c.ahead > 50 && c.done > 50, "{c:?}");
    // The cartridge covers at least its tip seen end-on: a disc of radius
    // reach + 1.5 mm (every other pixel sampled: a quarter of them).
    let tip_px = std::f64::consts::PI * ((o.scene.cartridge.reach_mm() + 1.5) / c.mm_per_px).powi(2) / 4.0;
    assert!(c.cartridge as f64 > tip_px, "{} cartridge pixels sampled, its tip alone covers {tip_px:.0}", c.cartridge);
    // It stands on the pose: the tip (radius reach + 1.5 mm, from 1 to 9 mm
    // off the skin) covers the skin within the footprint's reach of the
    // pose, seen from anywhere in front; a pass's line may cross it.
    let (total, covered) = c.around_pose;
    assert!(
        total > 10 && covered * 10 >= total * 9,
        "the cartridge covers {covered} of {total} pixels around the pose"
    );
    // The pose's skin point is under a sampled pixel (two pixels apart) to
    // within the mesh's vertex spacing (the pose's chart point is its nearest
    // vertex's: 2 mm meshes, within 1.2 mm).
    assert!(
        c.pose_miss_mm <= 2.0 * c.mm_per_px + 1.2,
        "the pose is {:.2} mm from every pixel's skin point",
        c.pose_miss_mm
    );
    assert!(c.pose_by_needles, "the pose is not where the last punctures went in");
}

#[test]
fn mid_treatment_the_cartridge_and_the_pass_paths_are_drawn_over_the_skin() {
    use needlemap::gpu::render::Orbit;
    // Halfway through the forehead (its second pass, the vertical, under
    // way): every line lies along the punctures of its pass, behind or ahead
    // of the cartridge as their time says, passes to come and other zones
    // show nothing, and the cartridge stands at the pose the renderer gives.
    // Close up on the forehead (at 0.35 mm a pixel the lanes, 4 mm apart,
    // are a dozen pixels apart).
    let gpu = gpu();
    let o = outcome("full-face.toml");
    let forehead = &o.simulation.zones[0];
    let t = forehead.punctures[forehead.punctures.len() / 2].t_s as f64;
    let (w, h) = (640, 360);
    let orbit = Orbit { zoom: 2.5, pan: [0.0, 0.45], ..Orbit::from_view(View::Front) };
    let mut r = renderer_at(&gpu, &o, Layer::Density, t);
    let without = frame(&gpu, &r, orbit, (w, h));
    r.set_overlay(true);
    let with = frame(&gpu, &r, orbit, (w, h));
    save(&image::DynamicImage::ImageRgb8(with.clone()).to_rgba8(), "full-face-mid-forehead.png");
    let pose = r.cartridge_pose().expect("the cartridge is on the forehead mid-pass");
    assert!(pose.normal.z > 0.5, "the forehead faces the front view: {:?}", pose.normal);
    let c = check_overlay(&with, &without, &o, &r, orbit, t, None);
    eprintln!("{c:?}");
    assert_overlay(&c, &o);
    assert_eq!(c.dots, 0);
}

#[test]
fn golden_images_match_within_the_stated_tolerance() {
    use needlemap::gpu::render::{Orbit, auto_range};
    // Each render, and each golden, shows what it should: skin where the
    // renderer's camera finds a zone, white around it, every pixel away from
    // an edge in its cell's colour (its raster cell's for hits), lit; the
    // avoid regions striped lilac and purple (so a golden blessed from a
    // broken render fails too). Then the render is compared with its golden
    // on the skin only, not on the white around it (three quarters of the
    // frame): every skin pixel of the golden must be matched within SAME
    // levels in every channel by the render, there or at one of its eight
    // neighbours (an edge, of a cell, a stripe or the silhouette, may move
    // by a fraction of a pixel between drivers and take a neighbour's
    // colour; elsewhere only rounding differs). The background stays white
    // but beside the silhouette.
    // SAME = 3 levels: the lighting and viridis are computed in f32 and
    // stored in 8 bits, so drivers may round a level or two apart. Set on
    // lavapipe, "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)" as the adapter
    // names itself. There the cheek's goldens match: every skin pixel is
    // within SAME of the golden there (all but 32 exactly) or, on the
    // outline (drawn as a fan since ea46da3), beside it; none may be off.
    // All four were blessed again on purpose with the unbiased raster and
    // the plans that keep out of avoid regions (issue 14), so the full
    // face's match as the cheek's do: none may be off (they had a 1.5 %
    // allowance while they predated the meshes' simplification for drawing).
    // The legend is not in these frames: the render
    // command's tests check it.
    const SAME: f64 = 3.0;
    let cases = [
        ("full-face.toml", View::Front, Layer::Density, "full-face-front-density.png", 5),
        ("full-face.toml", View::Left, Layer::Bands, "full-face-left-bands.png", 2),
        ("cheek.toml", View::Front, Layer::Density, "cheek-front-density.png", 5),
        ("cheek.toml", View::Front, Layer::Hits, "cheek-front-hits.png", 5),
    ];
    let gpu = gpu();
    let mut outcomes: Vec<(&str, Outcome)> = Vec::new();
    for (scene, view, layer, golden, min_avoid) in cases {
        if outcomes.last().is_none_or(|(s, _)| *s != scene) {
            outcomes.push((scene, outcome(scene)));
        }
        let o = &outcomes.last().unwrap().1;
        let (w, h) = (256, 192);
        let rgba = rgba_render(
            o,
            &RenderConfig { layer, view, width: w, height: h, at_time_s: None, range_per_cm2: None, context: false },
        );
        save(&rgba, golden);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(golden);
        if std::env::var_os("NEEDLEMAP_BLESS").is_some() {
            rgba.save(&path).unwrap();
        }
        let img = image::DynamicImage::ImageRgba8(rgba).to_rgb8();
        let want = image::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with NEEDLEMAP_BLESS=1)", path.display()))
            .to_rgb8();
        assert_eq!(want.dimensions(), img.dimensions(), "{golden}");
        // What each shows.
        let picker = renderer_at(&gpu, o, layer, f64::INFINITY);
        let shown = Shown::new(o, layer, f64::INFINITY, auto_range(o));
        let step = if o.scene.zones.iter().any(|z| z.surface.is_some()) { 4 } else { 2 };
        let checks = check_view(&[&img, &want], &shown, &picker, Orbit::from_view(view), step, |_, _| false);
        for (what, v) in ["render", "golden"].iter().zip(&checks) {
            assert!(v.skin * 10 > v.sampled, "{golden} ({what}): {} of {} pixels on skin", v.skin, v.sampled);
            assert_eq!(
                (v.skin_white, v.background_painted),
                (0, 0),
                "{golden} ({what}): skin left white, background painted"
            );
            assert!(v.checked * 10 > v.skin, "{golden} ({what}): only {} of {} skin pixels checked", v.checked, v.skin);
            // (Seen from the left only the lips' and the eye's edges: fewer.)
            assert!(v.avoid > min_avoid, "{golden} ({what}): {} avoid-region pixels checked", v.avoid);
            let wrong: Vec<_> = v.wrong.iter().take(6).collect();
            assert!(
                v.wrong.is_empty(),
                "{golden} ({what}): {} of {} pixels not as they should be: {wrong:?}",
                v.wrong.len(),
                v.checked
            );
        }
        // The render against the golden, on the skin.
        let px = |im: &image::RgbImage, x: i64, y: i64| {
            (x >= 0 && y >= 0 && x < w as i64 && y < h as i64).then(|| im.get_pixel(x as u32, y as u32).0)
        };
        let white = [255u8; 3];
        let (mut skin, mut exact, mut bad) = (0usize, 0usize, Vec::new());
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let (got, g) = (px(&img, x, y).unwrap(), px(&want, x, y).unwrap());
                let around: Vec<[u8; 3]> = (-1..=1)
                    .flat_map(|dy| (-1..=1).map(move |dx| (dx, dy)))
                    .filter_map(|(dx, dy)| px(&want, x + dx, y + dy))
                    .collect();
                if g == white {
                    if got != white && around.iter().all(|&n| n == white) {
                        bad.push(((x, y), "background painted", got, g));
                    }
                    continue;
                }
                skin += 1;
                exact += (got == g) as usize;
                if !around.iter().any(|&n| off(got, n.map(|v| v as f64)) <= SAME) {
                    bad.push(((x, y), "skin", got, g));
                }
            }
        }
        eprintln!(
            "{golden}: {skin} skin pixels, {exact} exact, {} off; checked {:?}",
            bad.len(),
            checks.iter().map(|v| (v.checked, v.avoid)).collect::<Vec<_>>()
        );
        assert!(skin * 10 > (w * h) as usize, "{golden}: {skin} skin pixels");
        let show: Vec<_> = bad.iter().take(8).collect();
        let painted = bad.iter().filter(|b| b.1 == "background painted").count();
        assert_eq!(painted, 0, "{golden}: background painted away from the silhouette: {show:?}");
        assert!(bad.is_empty(), "{golden}: {} of {skin} skin pixels off (render, golden): {show:?}", bad.len());
    }
}

/// Runs `needlemap view` under a virtual X server.
fn view_under_xvfb(args: &[&str]) -> std::process::Output {
    std::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24", env!("CARGO_BIN_EXE_needlemap"), "view"])
        .args(args)
        .env("NODEVICE_SELECT", "1")
        .output()
        .expect("xvfb-run (package xvfb) must be installed: scripts/test installs it")
}

#[test]
fn the_window_plays_the_treatment_under_xvfb_and_the_heatmap_grows() {
    // --step-s: 10 s of treatment a frame, whatever the machine's load.
    let dir = tempfile::tempdir().unwrap();
    let scene = format!("{}/scenes/full-face.toml", env!("CARGO_MANIFEST_DIR"));
    let shot = |frames: &str, name: &str| {
        let path = dir.path().join(name);
        let o = view_under_xvfb(&[
            &scene,
            "--frames",
            frames,
            "--size",
            "1000x560",
            "--step-s",
            "10",
            "--screenshot",
            path.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "view failed: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("ms a frame"), "{}", String::from_utf8_lossy(&o.stdout));
        let img = image::open(&path).unwrap().to_rgba8();
        save(&img, name);
        img
    };
    let early = shot("3", "view-early.png");
    let late = shot("90", "view-late.png");
    assert_eq!(late.dimensions(), (1000, 560));
    assert_eq!(late.get_pixel(2, 2).0[..3], [255, 255, 255], "background");
    let colours: std::collections::HashSet<[u8; 4]> = late.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 200, "only {} colours: not a heatmap on skin", colours.len());
    // The panel is drawn on the right (its last 400 px): light, with dark
    // text (its figures) and none of the heatmap's colours; the 3D view is
    // beside it, not under it.
    let panel = (610..1000).flat_map(|x| (0..560).map(move |y| (x, y)));
    let text = panel.clone().filter(|&(x, y)| late.get_pixel(x, y).0[..3].iter().all(|&c| c < 90)).count();
    assert!(text > 1200, "the panel is missing (only {text} dark text pixels)");
    // (Below the panel's colorbar.)
    let skin = panel
        .filter(|&(_, y)| y > 180)
        .filter(|&(x, y)| {
            let [r, g, ..] = late.get_pixel(x, y).0;
            g as i32 > r as i32 + 40
        })
        .count();
    assert!(skin < 2000, "{skin} heatmap-coloured pixels under the panel");
    // Viridis grows from dark violet towards green as punctures accumulate.
    let green =
        |img: &image::RgbaImage| img.pixels().filter(|p| p.0[1] > 90 && p.0[1] > p.0[0] && p.0[0] < 200).count();
    assert!(
        green(&late) > 2 * green(&early).max(100),
        "the heatmap must grow: {} -> {} green pixels",
        green(&early),
        green(&late)
    );
}

#[test]
fn the_window_shows_the_hit_layer_over_the_whole_width_without_the_panel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.png");
    let scene = format!("{}/scenes/cheek.toml", env!("CARGO_MANIFEST_DIR"));
    let args = ["--layer", "hits", "--no-panel", "--frames", "30", "--step-s", "10", "--size", "800x450"];
    let o = view_under_xvfb(&[&[scene.as_str()][..], &args, &["--screenshot", path.to_str().unwrap()]].concat());
    assert!(o.status.success(), "view failed: {}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&path).unwrap().to_rgba8();
    save(&img, "view-hits-no-panel.png");
    // The hit classes' oranges and dark red (1, 2, 3+ disks), centred in the window.
    let hit = |p: &image::Rgba<u8>| p.0[0] > 150 && p.0[0] as i32 > p.0[2] as i32 + 60;
    let (left, right) = img
        .enumerate_pixels()
        .filter(|(_, _, p)| hit(p))
        .fold((0, 0), |(l, r), (x, _, _)| if x < 400 { (l + 1, r) } else { (l, r + 1) });
    assert!(left > 5000 && right > 5000, "hit colours left {left}, right {right}: not centred across the window");
}

/// Runs `script` (bash, with $BIN set to the binary) under a virtual X server.
fn under_xvfb(script: &str) -> std::process::Output {
    std::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24", "bash", "-c", script])
        .env("BIN", env!("CARGO_BIN_EXE_needlemap"))
        .env("NODEVICE_SELECT", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("xvfb-run (package xvfb) must be installed: scripts/test installs it")
}

/// Bash functions for the window tests (xdotool under Xvfb), waiting for
/// what can be seen instead of sleeping: `first_frame` sets $wid once the
/// window of $pid has drawn a frame (its title gains "t = ", set on the
/// first frame), `frames N WHAT` waits until the title has changed N times
/// (frames drawn since: the title shows the treatment time, which moves at
/// --speed 1, a quarter-second apart), `ended WHAT` until $pid has exited.
/// Each waits up to 60 s, then says what it waited for and fails.
const WAITS: &str = r#"
    first_frame() {
        wid=$(timeout 60 xdotool search --sync --name 't = ' | head -1)
        [ -n "$wid" ] || { echo "no frame drawn in 60 s"; kill $pid; exit 1; }
    }
    frames() {
        local was now n=0
        was=$(xdotool getwindowname $wid)
        for i in $(seq 600); do
            now=$(xdotool getwindowname $wid 2>/dev/null)
            if [ "$now" != "$was" ]; then n=$((n + 1)); was=$now; [ $n -ge $1 ] && return 0; fi
            sleep 0.1
        done
        echo "no frame drawn after $2"; kill $pid; exit 1
    }
    ended() {
        for i in $(seq 600); do kill -0 $pid 2>/dev/null || return 0; sleep 0.1; done
        echo "still running after $1"; kill $pid; return 1
    }
"#;

#[test]
fn resizing_hiding_and_closing_the_window_never_crash() {
    // Resized small, to 1 x 1 and large, hidden and shown again (xdotool),
    // then quit with Q: exit 0, and frames drawn after every step (two
    // title changes: the first may come from a frame drawn before the step
    // was handled, the second comes after).
    let resize_then_quit = format!(
        r#"{WAITS}
        $BIN view scenes/cheek.toml --speed 1 --frames 100000 --size 640x360 & pid=$!
        first_frame
        xdotool windowsize $wid 300 200; frames 2 "resizing to 300 x 200"
        xdotool windowsize $wid 1 1; frames 2 "resizing to 1 x 1"
        # Hidden for half a second (what it lives through, not a wait), then shown.
        xdotool windowunmap $wid; sleep 0.5; xdotool windowmap $wid; frames 2 "hiding and showing the window"
        xdotool windowsize $wid 1100 620; frames 2 "resizing to 1100 x 620"
        xdotool mousemove 100 100; xdotool windowfocus $wid; xdotool key q
        ended Q
        wait $pid; echo "exit $?"
    "#
    );
    let o = under_xvfb(&resize_then_quit);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.trim_end().lines().last(), Some("exit 0"), "stdout: {out}\nstderr: {err}");
    // A window destroyed under it (not closed: the X window is gone): the
    // GPU reports its surface lost, and the program ends with exit 1 and one
    // line saying so, after the line it prints on opening; never a panic.
    let destroyed = format!(
        r#"{WAITS}
        $BIN view scenes/cheek.toml --speed 1 --frames 100000 --size 640x360 & pid=$!
        first_frame
        xdotool windowclose $wid
        ended "the window was destroyed"
        wait $pid; echo "exit $?"
    "#
    );
    let o = under_xvfb(&destroyed);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(out.trim_end().lines().last(), Some("exit 1"), "stdout: {out}\nstderr: {err}");
    let lines: Vec<&str> = err.trim_end().lines().collect();
    assert_eq!(lines.len(), 2, "the opening line and one message: {err}");
    assert!(lines[0].starts_with("needlemap view: cheek on "), "{err}");
    assert!(lines[1].starts_with("error: the GPU reported an error, so the window closed: "), "{err}");
}

#[test]
fn a_click_on_the_skin_prints_the_zone_and_its_chart_point() {
    // The flat cheek (a 70 x 55 mm ellipse, chart = position) seen from the
    // front fills the middle of the window: a click at its centre prints its
    // zone and a chart point by the ellipse's centre, (35, 27.5) mm; a drag
    // (orbiting) and a click off the skin print nothing.
    let script = format!(
        r#"{WAITS}
        $BIN view scenes/cheek.toml --no-panel --size 800x500 --frames 100000 --speed 0.001 & pid=$!
        first_frame
        xdotool windowfocus $wid
        xdotool mousemove --window $wid 5 5 click 1
        xdotool mousemove --window $wid 400 250 click 1
        xdotool mousemove --window $wid 300 250 mousedown 1 mousemove --window $wid 360 260 mouseup 1
        frames 2 "the clicks"
        xdotool key q
        ended Q
        wait $pid; echo "exit $?"
    "#
    );
    let o = under_xvfb(&script);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(out.trim_end().lines().last(), Some("exit 0"), "stdout: {out}\nstderr: {err}");
    let picked: Vec<&str> = out.lines().filter(|l| l.contains("chart point")).collect();
    assert_eq!(picked.len(), 1, "one click on the skin, one line: {out}");
    let (head, point) = picked[0].split_once("chart point [").unwrap();
    assert!(head.starts_with("cheek: zone `left cheek`"), "{}", picked[0]);
    let uv: Vec<f64> = point.trim_end_matches("] mm").split(", ").map(|x| x.parse().unwrap()).collect();
    assert!((uv[0] - 35.0).abs() < 2.0 && (uv[1] - 27.5).abs() < 2.0, "clicked the centre, got {uv:?}");
}

#[test]
fn without_a_display_the_window_says_so_in_one_line() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
        .args(["view", &format!("{}/scenes/cheek.toml", env!("CARGO_MANIFEST_DIR")), "--frames", "1"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("cannot open a window") && err.contains("xvfb-run"), "{err}");
}

#[test]
fn simulate_render_adds_the_3d_views_to_the_output_folder() {
    use needlemap::gpu::render::{Orbit, auto_range};
    // The full face (the cheek is flat: seen from the side it is a line).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = needlemap_in(
        dir.path(),
        &["simulate", &scene_file("full-face.toml"), "--render", "--out", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let gpu = gpu();
    let o = outcome("full-face.toml");
    let mut picker = renderer_at(&gpu, &o, Layer::Density, f64::INFINITY);
    // Picks with the head: a zone it hides (the far jawline seen under the
    // chin from the side) is not one the pixel shows.
    picker.set_context(&gpu, true);
    let counts = counts_at(&o, f64::INFINITY);
    let target = needlemap::gpu::render::shared_target(&o).expect("one band for every zone");
    for (name, view) in
        [("render-front.png", View::Front), ("render-left.png", View::Left), ("render-right.png", View::Right)]
    {
        let img = image::open(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}")).to_rgb8();
        assert_eq!(img.dimensions(), (1280, 720), "{name}");
        let (b, ..) = legend_box(img.dimensions(), Layer::Density, 0);
        // The built-in head is drawn around the full face's zones. (Every
        // 9th pixel: with a step of 8 each sample would fall on a stripe.)
        let shown = Shown {
            o: &o,
            layer: Layer::Density,
            counts: counts.clone(),
            hits: Vec::new(),
            range: auto_range(&o),
            context: true,
        };
        let v =
            check_view(&[&img], &shown, &picker, Orbit::from_view(view), 9, |x, y| in_legend(b, (x, y))).pop().unwrap();
        eprintln!(
            "{name}: {} skin, {} head, {} painted, {} checked, {} through avoid",
            v.skin, v.head, v.background_painted, v.checked, v.through
        );
        assert!(v.skin * 12 > v.sampled, "{name}: {} of {} pixels on skin", v.skin, v.sampled);
        assert_eq!(v.skin_white, 0, "{name}: skin left white");
        // Around the zones the head: its skin and features but on its
        // silhouette (blended with the white) and where features meet.
        assert!(v.head > v.skin / 4, "{name}: the head on {} pixels, the zones on {}", v.head, v.skin);
        assert!(
            v.background_painted * 20 <= v.head,
            "{name}: {} background pixels neither white nor the head's",
            v.background_painted
        );
        assert!(v.through > 0, "{name}: no avoid region shows the head");
        assert!(v.checked >= 40, "{name}: {v:?}");
        assert!(
            v.wrong.is_empty(),
            "{name}: {} of {} pixels not their cell's colour: {:?}",
            v.wrong.len(),
            v.checked,
            v.wrong
        );
        check_colorbar(&img, auto_range(&o), target);
    }
    assert!(image::open(out.join("density.png")).is_ok());
}

/// Pixels brighter in green than the density scale's dark (zero) end: skin
/// with punctures, stripes and markers (and the white background: keep
/// `rows` and `cols` on the skin), in the given rows and columns.
fn lit_pixels(img: &image::RgbaImage, rows: std::ops::Range<u32>, cols: std::ops::Range<u32>) -> usize {
    img.enumerate_pixels().filter(|(x, y, p)| rows.contains(y) && cols.contains(x) && p.0[1] > 90).count()
}

#[test]
fn trace_mode_draws_lanes_with_the_pointer_and_saves_the_trajectory() {
    // Synthetic pointer events (xdotool) under Xvfb: two strokes across the
    // cheek, the second slower; the trace is written after each stroke,
    // simulated and shown. The pauses between pointer moves set the
    // strokes' speeds (input, not waits): on a slower machine both are
    // slower, and what is asserted below holds at any speed but for the
    // slow one being slower. Everything else waits for what it needs: the
    // first frame, the trace file holding each stroke, the program's exit.
    let dir = tempfile::tempdir().unwrap();
    let (csv, shot) = (dir.path().join("t.csv"), dir.path().join("t.png"));
    let script = format!(
        r#"{WAITS}
        # Lifts (pressure 0) in the trace written so far.
        lifts() {{ grep -c ',0.000$' {csv} 2>/dev/null || true; }}
        stroke_saved() {{
            for i in $(seq 600); do [ "$(lifts)" -ge $1 ] && return 0; sleep 0.1; done
            echo "stroke $1 not written"; kill $pid; exit 1
        }}
        $BIN view scenes/cheek.toml --trace-out {csv} --size 800x500 --no-panel --frames 100000 --screenshot {shot} & pid=$!
        first_frame
        xdotool windowfocus $wid; xdotool mousemove --window $wid 250 200
        xdotool mousedown 1
        for x in $(seq 250 10 550); do xdotool mousemove --window $wid $x 200; sleep 0.03; done
        xdotool mouseup 1; stroke_saved 1
        xdotool mousemove --window $wid 550 300; xdotool mousedown 1
        for x in $(seq 550 -10 250); do xdotool mousemove --window $wid $x 300; sleep 0.08; done
        xdotool mouseup 1; stroke_saved 2
        xdotool key q
        ended Q
        wait $pid; echo "exit $?"
    "#,
        csv = csv.display(),
        shot = shot.display()
    );
    let o = under_xvfb(&script);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(out.trim_end().ends_with("exit 0") && !err.contains("panicked"), "{out}\n{err}");
    let trace = needlemap::core::input::trajectory::Trace::parse(
        &std::fs::read_to_string(&csv).expect("trace written"),
        "t.csv",
    )
    .expect("the written trace parses");
    let down: Vec<_> = trace.rows.iter().filter(|(_, p)| p.down()).map(|(z, p)| (z.clone(), *p)).collect();
    assert!(down.len() >= 30, "{} samples on the skin", down.len());
    assert!(down.iter().all(|(z, _)| z == "left cheek"));
    let (v0, v1) = (down.first().unwrap().1.v_mm, down.last().unwrap().1.v_mm);
    assert!(v0 > v1 + 5.0, "the upper stroke is higher on the chart: v {v0} then {v1}");
    let span = down.iter().map(|(_, p)| p.u_mm).fold(f64::NEG_INFINITY, f64::max)
        - down.iter().map(|(_, p)| p.u_mm).fold(f64::INFINITY, f64::min);
    assert!(span > 40.0, "strokes across the cheek: u spans {span} mm");
    assert!(trace.rows.iter().filter(|(_, p)| !p.down()).count() >= 2, "a lift after each stroke");
    // Each stroke's speed, from its samples: length over time on the skin.
    let strokes: Vec<Vec<_>> = trace
        .rows
        .split(|(_, p)| !p.down())
        .map(|s| s.iter().map(|(_, p)| *p).collect::<Vec<_>>())
        .filter(|s: &Vec<_>| s.len() >= 2)
        .collect();
    assert_eq!(strokes.len(), 2, "two strokes");
    let speed = |s: &[needlemap::core::input::trajectory::TracePoint]| {
        let len: f64 =
            s.windows(2).map(|w| ((w[1].u_mm - w[0].u_mm).powi(2) + (w[1].v_mm - w[0].v_mm).powi(2)).sqrt()).sum();
        len / (s.last().unwrap().t_s - s[0].t_s)
    };
    let (fast, slow) = (speed(&strokes[0]), speed(&strokes[1]));
    assert!(slow < fast, "the second stroke is the slower: {fast:.1} then {slow:.1} mm/s");
    let img = image::open(&shot).unwrap().to_rgba8();
    save(&img, "view-trace.png");
    // Punctures along both strokes (rows near y = 200 and 300), none far from
    // them: the heatmap above zero (viridis leaves dark purple) or the dots
    // (the newest punctures only: here the second stroke's), not the skin
    // of cells no needle reached nor the head drawn around the cheek.
    let treated = |rows: std::ops::Range<u32>, cols: std::ops::Range<u32>| {
        img.enumerate_pixels()
            .filter(|(x, y, p)| rows.contains(y) && cols.contains(x) && p.0[1] > 30)
            .filter(|(_, _, p)| !head_colour([p.0[0], p.0[1], p.0[2]]))
            .count()
    };
    let (a, b, none) = (treated(185..215, 260..540), treated(285..315, 260..540), treated(340..370, 340..460));
    assert!(a > 1500 && b > 1500 && none < 50, "lit pixels: first stroke {a}, second {b}, away from both {none}");
    // Replayed, the trace scores: the glide speed it reports is the trace's
    // (all its length over all its time on the skin, against the plan's 40
    // mm/s, within 2 %: samples are written to the millisecond and 0.001 mm),
    // and the slow stroke, under the plan's speed, is told to speed up.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
        .args(["score", csv.to_str().unwrap(), "--reference", "scenes/cheek.toml", "--out"])
        .arg(dir.path().join("s"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s/score.json")).unwrap()).unwrap();
    let total = card["score"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&total), "score {total}");
    let criteria = card["zones"][0]["criteria"].as_array().unwrap();
    let glide =
        criteria.iter().find(|c| c["key"] == "speed").expect("a glide speed criterion")["figure"].as_f64().unwrap();
    let (len, time): (f64, f64) = strokes.iter().fold((0.0, 0.0), |(l, t), s| {
        (l + speed(s) * (s.last().unwrap().t_s - s[0].t_s), t + (s.last().unwrap().t_s - s[0].t_s))
    });
    let traced = len / time / 40.0;
    assert!(
        (glide - traced).abs() < 0.02 * traced,
        "glide speed / plan's: {glide:.3} scored, {traced:.3} in the trace"
    );
    // The score's own rule: told to glide faster below 0.8 of the plan's
    // speed (away from the threshold by the 2 % above).
    let feedback = card["feedback"].to_string();
    if traced < 0.78 {
        assert!(feedback.contains("glide faster"), "{traced:.3} of the plan's speed: {feedback}");
    } else if traced > 0.82 {
        assert!(!feedback.contains("glide faster"), "{traced:.3} of the plan's speed: {feedback}");
    }
    // The slow stroke lays more than the plan asks there: per mm of lane,
    // a pen lays rate x needles / speed punctures, and the plan's lanes
    // glide at 40 mm/s. The trace simulated again (as `score` does) gives
    // each stroke's punctures (the strokes lie 19 mm apart on the chart,
    // the footprint 4 mm across): per mm, the slow stroke's exceed the
    // plan's, and the two strokes' ratio is their speeds' (within 15 %: the
    // rate's and the hand's jitter).
    let scene_text = std::fs::read_to_string(scene_file("cheek.toml")).unwrap();
    let reference = Scene::from_toml_str(&scene_text, "cheek.toml").unwrap();
    let trainee = needlemap::core::trainer::trainee_scene(&reference, &trace).unwrap();
    let replayed = run(&trainee, &RunOptions::default()).unwrap();
    let mid_v = (strokes[0][0].v_mm + strokes[1][0].v_mm) / 2.0;
    let punctures = &replayed.simulation.zones[0].punctures;
    let upper = punctures.iter().filter(|p| p.v_mm as f64 > mid_v).count() as f64;
    let lower = punctures.len() as f64 - upper;
    let length = |s: &[needlemap::core::input::trajectory::TracePoint]| speed(s) * (s.last().unwrap().t_s - s[0].t_s);
    let (per_mm_fast, per_mm_slow) = (upper / length(&strokes[0]), lower / length(&strokes[1]));
    let cart = &reference.cartridge;
    let plan_per_mm = cart.rate_hz().unwrap() * cart.needles_mm.len() as f64 / 40.0;
    eprintln!(
        "per mm: fast {per_mm_fast:.1}, slow {per_mm_slow:.1}, plan {plan_per_mm:.1}; speeds {fast:.1}, {slow:.1}"
    );
    assert!(
        per_mm_slow > plan_per_mm,
        "the slow stroke: {per_mm_slow:.1} punctures a mm, the plan's lanes {plan_per_mm:.1}"
    );
    let ratio = (per_mm_slow / per_mm_fast) / (fast / slow);
    assert!(
        (ratio - 1.0).abs() < 0.15,
        "punctures per mm {per_mm_slow:.1} / {per_mm_fast:.1} against speeds {fast:.1} / {slow:.1}"
    );
}

#[test]
fn view_replay_plays_the_trajectory_on_the_scene_zones() {
    use needlemap::gpu::render::{Orbit, auto_range};
    // The trainee's trace on the cheek (scenes/traces/cheek-trainee.csv: the
    // plan's path, half speed below v = 18 mm, a horizontal and a vertical
    // lane skipped), played to its end (3 frames of 1000 s).
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("r.png");
    let args = [
        "scenes/cheek.toml",
        "--replay",
        "scenes/traces/cheek-trainee.csv",
        "--no-panel",
        "--speed",
        "1",
        "--frames",
        "3",
        "--step-s",
        "1000",
        "--size",
        "800x500",
        "--screenshot",
        shot.to_str().unwrap(),
    ];
    let o = std::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24", env!("CARGO_BIN_EXE_needlemap"), "view"])
        .args(args)
        .env("NODEVICE_SELECT", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("xvfb-run (package xvfb) must be installed: scripts/test installs it");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&shot).unwrap().to_rgb8();
    save(&image::DynamicImage::ImageRgb8(img.clone()).to_rgba8(), "view-replay.png");
    // The trace's treatment, as `view --replay` runs it.
    let reference =
        Scene::from_toml_str(&std::fs::read_to_string(scene_file("cheek.toml")).unwrap(), "cheek.toml").unwrap();
    let text = std::fs::read_to_string(scene_file("traces/cheek-trainee.csv")).unwrap();
    let trace = needlemap::core::input::trajectory::Trace::parse(&text, "cheek-trainee.csv").unwrap();
    let replayed =
        run(&needlemap::core::trainer::trainee_scene(&reference, &trace).unwrap(), &RunOptions::default()).unwrap();
    let plan = outcome("cheek.toml");
    let gpu = gpu();
    let orbit = Orbit::from_view(View::Front);
    let end = f64::INFINITY;
    // The renderer's frame of that treatment at its end, as the window
    // draws it (the paths and the cartridge, the dots of the last 0.25 s at
    // speed 1): the screenshot is that frame (within 2 levels: the window
    // draws into its own surface format).
    let mut r = renderer_at(&gpu, &replayed, Layer::Density, end);
    let last = replayed.simulation.zones[0].punctures.last().unwrap().t_s as f64;
    r.set_time(&gpu, &replayed, last);
    r.set_markers(&gpu, &replayed, last, 0.25);
    r.set_overlay(true);
    let drawn = frame(&gpu, &r, orbit, (800, 500));
    let differ = img.pixels().zip(drawn.pixels()).filter(|(a, b)| off(a.0, b.0.map(|v| v as f64)) > 2.0).count();
    assert!(differ == 0, "{differ} pixels differ from the replayed treatment's frame");
    // That frame without the overlay shows the trace's densities, cell by
    // cell (and not the plan's: the trace skips lanes and slows down).
    r.set_overlay(false);
    r.set_markers(&gpu, &replayed, last, 0.0);
    let heat = frame(&gpu, &r, orbit, (800, 500));
    let v = check_density_view(
        &heat,
        &replayed,
        &r,
        orbit,
        &counts_at(&replayed, end),
        auto_range(&replayed),
        3,
        |_, _| false,
    );
    assert!(
        v.checked > 1000 && v.wrong.is_empty(),
        "{} of {} pixels not the trace's density",
        v.wrong.len(),
        v.checked
    );
    let mut p = renderer_at(&gpu, &plan, Layer::Density, end);
    p.set_range(&gpu, Some(auto_range(&replayed)));
    let planned = frame(&gpu, &p, orbit, (800, 500));
    let unlike = img.pixels().zip(planned.pixels()).filter(|(a, b)| off(a.0, b.0.map(|v| v as f64)) > 10.0).count();
    let skin = planned.pixels().filter(|q| q.0 != [255, 255, 255]).count();
    assert!(unlike * 2 > skin, "only {unlike} of {skin} skin pixels differ from the plan's treatment");
}

#[test]
fn compare_plays_two_treatments_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("c.png");
    let args = [
        "--compare",
        "scenes/cheek.toml",
        "scenes/traces/cheek-trainee.csv",
        "--no-panel",
        "--frames",
        "40",
        "--step-s",
        "3",
        "--size",
        "1000x400",
        "--screenshot",
        shot.to_str().unwrap(),
    ];
    let o = view_under_xvfb(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(&shot).unwrap().to_rgba8();
    save(&img, "view-compare.png");
    let (left, right) = (lit_pixels(&img, 0..400, 0..500), lit_pixels(&img, 0..400, 500..1000));
    assert!(left > 20_000 && right > 20_000, "skin with density in both panes: {left}, {right}");
    // The same camera on both: the panes line up, and differ where the treatments do.
    let differ = (0..400)
        .flat_map(|y| (0..500).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let (p, q) = (img.get_pixel(x, y).0, img.get_pixel(x + 500, y).0);
            (0..3).map(|c| (p[c] as i32 - q[c] as i32).abs()).sum::<i32>() > 60
        })
        .count();
    let white_left =
        img.enumerate_pixels().filter(|(x, _, p)| *x < 500 && p.0[0] > 250 && p.0[1] > 250 && p.0[2] > 250).count();
    assert!(differ > 3_000, "{differ} pixels differ between the panes");
    assert!(differ < 500 * 400 - white_left, "the panes show the same zone in the same place");
}

/// Clears `view` to `colour` in a render pass of its own.
fn clear(encoder: &mut wgpu::CommandEncoder, view: &wgpu::TextureView, colour: wgpu::Color) {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: None,
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations { load: wgpu::LoadOp::Clear(colour), store: wgpu::StoreOp::Store },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    });
}

#[test]
fn the_cached_panel_is_laid_over_its_rectangle_only_copied_or_blended() {
    use needlemap::gpu::cache::PaintCache;
    use needlemap::gpu::render::{frame_texture, read_texture};
    let gpu = gpu();
    let (w, h) = (64, 48);
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let mut cache = PaintCache::new(&gpu, format, (w, h));
    // Opaque blue-green, copied; and half-transparent red (premultiplied), blended.
    let cases = [
        (true, wgpu::Color { r: 0.0, g: 0.4, b: 1.0, a: 1.0 }, [0, 102, 255]),
        (false, wgpu::Color { r: 0.5, g: 0.0, b: 0.0, a: 0.5 }, [255, 128, 128]),
    ];
    for (opaque, colour, expected) in cases {
        let target = frame_texture(&gpu, w, h, format);
        let view = target.create_view(&Default::default());
        let mut e = gpu.device.create_command_encoder(&Default::default());
        clear(&mut e, cache.target(), colour);
        clear(&mut e, &view, wgpu::Color::WHITE);
        (cache.rect, cache.opaque) = ([10, 5, 20, 30], opaque);
        cache.draw(&mut e, &view, Some(&target));
        let pixels = read_texture(&gpu, e, &target, w, h).unwrap();
        for y in 0..h {
            for x in 0..w {
                let p = &pixels[((y * w + x) * 4) as usize..][..3];
                let inside = (10..30).contains(&x) && (5..35).contains(&y);
                let want = if inside { expected } else { [255, 255, 255] };
                assert!(
                    p.iter().zip(want).all(|(&a, b)| (a as i32 - b).abs() <= 1),
                    "opaque {opaque}: ({x}, {y}) is {p:?}, not {want:?}"
                );
            }
        }
    }
    // A window resized: the cache is made again, empty (nothing laid over).
    assert!(cache.fit(&gpu, (w + 1, h)));
    assert!(!cache.fit(&gpu, (w + 1, h)));
    assert_eq!(cache.rect, [0; 4]);
}

// ---- What a 3D view should show, pixel by pixel ----

/// viridis, the density layer's colour scale (the shader draws a fit of it).
fn viridis(t: f64) -> [f64; 3] {
    let c = colorous::VIRIDIS.eval_continuous(t.clamp(0.0, 1.0));
    [c.r as f64, c.g as f64, c.b as f64]
}

/// What a view of a run should show: the layer, each zone's cell counts
/// (of the punctures made by the time shown), its hit raster (hit layer:
/// the CPU twin of the GPU's, equal to it exactly, tested above) and the
/// density scale.
struct Shown<'a> {
    o: &'a Outcome,
    layer: Layer,
    counts: Vec<Vec<u32>>,
    hits: Vec<(HitGrid, Vec<u32>)>,
    range: [f64; 2],
    /// Whether the built-in head is drawn around the zones (`RenderConfig::context`):
    /// off the zones it shows lit skin or one of its features, and in an avoid
    /// region between the thin stripes.
    context: bool,
}

impl<'a> Shown<'a> {
    /// `layer` of `o` as it stood at `t_s` on the scale `range`.
    fn new(o: &'a Outcome, layer: Layer, t_s: f64, range: [f64; 2]) -> Shown<'a> {
        let hits = if layer == Layer::Hits {
            (0..o.zones.len())
                .map(|z| {
                    let zone = &o.scene.zones[z];
                    let grid = HitGrid::new(
                        &o.fields[z].layout,
                        o.scene.cartridge.needle_radius_mm(),
                        zone.surface.as_deref(),
                    );
                    let shown: Vec<_> =
                        o.simulation.zones[z].punctures.iter().filter(|p| p.t_s as f64 <= t_s).copied().collect();
                    let raster = hits::cpu_twin(&grid, &shown);
                    (grid, raster)
                })
                .collect()
        } else {
            Vec::new()
        };
        Shown { o, layer, counts: counts_at(o, t_s), hits, range, context: false }
    }

    /// The hit raster cell under chart point `p` of zone `z`, as the shader finds it.
    fn raster_cell(&self, z: usize, p: Vec2) -> usize {
        let g = &self.hits[z].0;
        let q = (p - g.layout.origin_mm) / g.h_mm;
        let (i, j) =
            ((q.x.floor().max(0.0) as usize).min(g.raster_u - 1), (q.y.floor().max(0.0) as usize).min(g.raster_v - 1));
        j * g.raster_u + i
    }

    /// What decides a point's colour: its cell (or raster cell), whether it
    /// is inside the outline and inside an avoid region. Points alike in all
    /// three are coloured alike (but for the screen's stripes).
    fn class(&self, z: usize, p: Vec2) -> (Option<usize>, bool, bool) {
        let region = &self.o.scene.zones[z].region;
        let cell = self.o.fields[z].layout.cell_of(p);
        let cell = if self.layer == Layer::Hits && cell.is_some() { Some(self.raster_cell(z, p)) } else { cell };
        (cell, region.outline.contains(p), region.avoid.iter().any(|a| a.contains(p)))
    }

    /// The albedo (0..255) the layer gives chart point `p` of zone `z` at
    /// pixel (x, y), as the guide describes it, and how uncertain it is
    /// (levels): density, viridis over the range of the cell's punctures
    /// over its true area, clamped and striped beyond it (white above, black
    /// below), the shader's viridis a fit within 0.02 of the table (5.1
    /// levels); bands, the band map's three colours; hits, the hit map's
    /// four; avoid regions pale lilac with purple stripes; cells without
    /// area grey. Stripes: diagonal, 8 px apart, on 40 % of them (at pixel
    /// centres, so exact).
    fn albedo(&self, z: usize, p: Vec2, (x, y): (u32, u32)) -> ([f64; 3], f64) {
        let exact = |c: [f64; 3]| (c.map(|v| v * 255.0), 0.5);
        let stripe = ((x + y + 1) % 8) < 4; // fract((x + 0.5 + y + 0.5) / 8) < 0.4
        let (o, field, zone) = (self.o, &self.o.fields[z], &self.o.scene.zones[z]);
        let grey = exact([0.78, 0.78, 0.80]);
        let Some(c) = field.layout.cell_of(p) else { return grey };
        if zone.region.outline.contains(p) && zone.region.avoid.iter().any(|a| a.contains(p)) {
            return exact(if stripe { [0.47, 0.0, 0.63] } else { [0.784, 0.784, 0.824] });
        }
        let area = field.cell_area_mm2[c];
        if area <= 0.0 {
            return grey;
        }
        if self.counts[z][c] == 0 && self.layer != Layer::Hits {
            // Skin no puncture has reached yet.
            return exact(needlemap::core::geometry::anatomy::SKIN_RGB);
        }
        let d = self.counts[z][c] as f64 / area * 100.0;
        match (self.layer, zone.target_per_cm2) {
            (Layer::Hits, _) => {
                let hit = [[0.941, 0.941, 0.941], [0.992, 0.831, 0.620], [0.988, 0.553, 0.349], [0.702, 0.0, 0.0]];
                exact(hit[(self.hits[z].1[self.raster_cell(z, p)] as usize).min(3)])
            }
            (Layer::Bands, Some([lo, hi])) => exact(match () {
                _ if d < lo => [0.271, 0.459, 0.706],
                _ if d > hi => [0.843, 0.188, 0.153],
                _ => [0.996, 0.878, 0.565],
            }),
            _ => {
                let [lo, hi] = self.range;
                let v = viridis((d - lo) / (hi - lo).max(1e-6));
                let mix = |to: f64| v.map(|a| a + (to - a) * 0.6);
                let v = match () {
                    _ if d > hi && stripe => mix(255.0),
                    _ if d < lo && stripe => mix(0.0),
                    _ => v,
                };
                let _ = o;
                (v, 0.02 * 255.0)
            }
        }
    }
}

/// Whether `colour` is `albedo` lit: the mesh shader multiplies the albedo
/// by 0.35 + 0.65 |n . to_eye|, one factor k in 0.35..1 for the three
/// channels. The light factor is fitted; what is left must be within
/// `spread` (levels of 255, times k: the albedo's own uncertainty) and 1.5
/// (8-bit rounding of the frame and of the table) in every channel.
fn lit(colour: [u8; 3], albedo: [f64; 3], spread: f64) -> Result<f64, f64> {
    let c = colour.map(|v| v as f64);
    let aa: f64 = albedo.iter().map(|a| a * a).sum();
    let k = if aa > 0.0 { ((0..3).map(|i| c[i] * albedo[i]).sum::<f64>() / aa).clamp(0.35, 1.0) } else { 1.0 };
    let off = (0..3).map(|i| (c[i] - k * albedo[i]).abs()).fold(0.0, f64::max);
    if off <= spread * k + 1.5 { Ok(k) } else { Err(off) }
}

/// Whether `colour` is the built-in head's: its skin or one of its features, lit.
fn head_colour(colour: [u8; 3]) -> bool {
    use needlemap::core::geometry::anatomy::Feature;
    [Feature::Skin, Feature::Brow, Feature::Sclera, Feature::Iris, Feature::Pupil, Feature::Lip, Feature::Nostril]
        .iter()
        .any(|f| lit(colour, f.rgb().map(|v| v * 255.0), 2.0).is_ok())
}

/// A pixel not as it should be: where, its colour, the albedo it should show lit, how far off.
type Wrong = ((u32, u32), [u8; 3], [f64; 3], f64);

/// A sampled overlay pixel: where, what it shows, the skin point under it.
type Looked = ((u32, u32), &'static str, Option<(usize, Vec2)>);

/// Punctures in 1 mm bins of a chart: (chart point, time, pass).
type Bins = std::collections::HashMap<(i64, i64), Vec<(Vec2, f64, usize)>>;

/// What a density view agrees with, on a grid of pixels.
#[derive(Debug, Default)]
struct ViewCheck {
    /// Grid pixels looked at (outside `skip`).
    sampled: usize,
    /// Of them, those on skin (the renderer's own pick finds a zone there).
    skin: usize,
    /// Skin pixels left white, and background pixels painted (both away
    /// from the silhouette: every neighbour alike).
    skin_white: usize,
    background_painted: usize,
    /// Background pixels (off every zone) showing the built-in head: lit
    /// skin or one of its features (`Shown::context` only; otherwise they
    /// count as painted).
    head: usize,
    /// Avoid-region pixels between the thin stripes, where the head shows
    /// through (`Shown::context` only): not checked.
    through: usize,
    /// Skin pixels away from every edge of a cell, a zone or an avoid
    /// region, checked against the layer.
    checked: usize,
    /// Of those, the ones whose colour is not their cell's, lit: (pixel, colour, albedo, how far off).
    wrong: Vec<Wrong>,
    /// Checked pixels per zone, and those in avoid regions.
    per_zone: Vec<usize>,
    avoid: usize,
}

/// Checks views of `shown` (`imgs`, each drawn with `orbit` over the whole
/// image): every `step`-th pixel in x and y, outside `skip` (the legend), is
/// on skin where the renderer's pick finds skin and white elsewhere, and a
/// skin pixel away from every edge shows its point's colour, lit.
fn check_view(
    imgs: &[&image::RgbImage],
    shown: &Shown,
    picker: &needlemap::gpu::render::Renderer,
    orbit: needlemap::gpu::render::Orbit,
    step: u32,
    skip: impl Fn(u32, u32) -> bool,
) -> Vec<ViewCheck> {
    let o = shown.o;
    let (w, h) = imgs[0].dimensions();
    let pick = |x: u32, y: u32| picker.pick(orbit, [0, 0, w, h], (x as f64 + 0.5, y as f64 + 0.5));
    let mut checks: Vec<ViewCheck> =
        imgs.iter().map(|_| ViewCheck { per_zone: vec![0; o.zones.len()], ..Default::default() }).collect();
    let white = |c: [u8; 3]| c.iter().all(|&k| k >= 250);
    for y in (step / 2..h - 1).step_by(step as usize) {
        for x in (step / 2..w - 1).step_by(step as usize) {
            if skip(x, y) {
                continue;
            }
            let here = pick(x, y);
            // Whether the pixels beside it are alike (skin or background): away from the silhouette.
            let inland = std::cell::OnceCell::new();
            let inland = || {
                *inland.get_or_init(|| {
                    [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                        .iter()
                        .all(|&(a, b)| pick(a, b).is_some() == here.is_some())
                })
            };
            // The pick and the shader both take the chart point at the
            // pixel's centre. A flat zone is drawn exactly (its outline's
            // fan); a curved one from its mesh simplified within
            // DRAW_TOLERANCE_MM in 3D and in the chart, and a surface moved by
            // d along its normal moves the point a ray meets by d tan(a), a
            // the angle between the ray and the normal: 1 / cos(a) is how much
            // longer a pixel's span on the skin is across the slope than
            // along it (the spans to the four pixels beside give both ends:
            // near the silhouette the skin's scale changes from one pixel to
            // the next, so all four). Avoid regions are drawn from a mask of 0.2 mm cells.
            // Farther than all that from an edge, the drawn point is coloured
            // as the picked one.
            let edge_at = |z: usize, p: Vec2| {
                let mesh = if o.scene.zones[z].surface.is_some() {
                    let spans: Vec<f64> = [pick(x + 1, y), pick(x, y + 1), pick(x - 1, y), pick(x, y - 1)]
                        .iter()
                        .filter_map(|n| n.filter(|n| n.0 == z).map(|n| (n.1 - p).norm()))
                        .collect();
                    if spans.len() < 4 {
                        return true; // at the silhouette or a zone's border
                    }
                    let (widest, narrowest) =
                        spans.iter().fold((0.0f64, f64::INFINITY), |(a, b), &s| (a.max(s), b.min(s)));
                    let slope = widest / narrowest.max(1e-9);
                    needlemap::gpu::render::DRAW_TOLERANCE_MM as f64 * (1.0 + slope)
                } else {
                    1e-3
                };
                let mid = shown.class(z, p);
                (0..8).any(|k| {
                    let a = Vec2::new(
                        (k as f64 * 0.25 * std::f64::consts::PI).cos(),
                        (k as f64 * 0.25 * std::f64::consts::PI).sin(),
                    );
                    let (cell, outline, avoid) = shown.class(z, p + a * mesh);
                    let (_, outline2, avoid2) = shown.class(z, p + a * (mesh + 0.2));
                    cell != mid.0 || (outline, avoid) != (mid.1, mid.2) || (outline2, avoid2) != (mid.1, mid.2)
                })
            };
            let edge = here.map(|(z, p)| edge_at(z, p));
            for (img, v) in imgs.iter().zip(checks.iter_mut()) {
                v.sampled += 1;
                let colour = img.get_pixel(x, y).0;
                let Some((z, p)) = here else {
                    if !white(colour) && inland() {
                        if shown.context && head_colour(colour) {
                            v.head += 1;
                        } else {
                            v.background_painted += 1;
                        }
                    }
                    continue;
                };
                v.skin += 1;
                // An avoid region shows the head, drawn 0.8 mm under the
                // skin (CONTEXT_INSET_MM): at the profile's silhouette (the
                // lips seen from the side) a few pixels inside the zone's.
                let (_, inside, avoided) = shown.class(z, p);
                let shows_head = shown.context && inside && avoided;
                let inland_by = |r: u32| {
                    [(x - r, y), (x + r, y), (x, y - r), (x, y + r)].iter().all(|&(a, b)| pick(a, b).is_some())
                };
                if white(colour) && inland() && (!shows_head || inland_by(4)) {
                    v.skin_white += 1;
                }
                if edge == Some(true) {
                    continue;
                }
                // With the head drawn, an avoid region shows it but on thin
                // stripes (fract((x + y) / 8) < 0.15 at pixel centres).
                let (_, inside, avoided) = shown.class(z, p);
                if shown.context && inside && avoided && (x + y + 1) % 8 >= 2 {
                    v.through += 1;
                    continue;
                }
                v.checked += 1;
                v.per_zone[z] += 1;
                if shown.class(z, p).2 && shown.class(z, p).1 {
                    v.avoid += 1;
                }
                let (albedo, spread) = shown.albedo(z, p, (x, y));
                if let Err(off) = lit(colour, albedo, spread) {
                    v.wrong.push(((x, y), colour, albedo, off));
                }
            }
        }
    }
    checks
}

/// `check_view` of one density view of the punctures counted in `counts`
/// on the scale `range`.
#[allow(clippy::too_many_arguments)]
fn check_density_view(
    img: &image::RgbImage,
    o: &Outcome,
    picker: &needlemap::gpu::render::Renderer,
    orbit: needlemap::gpu::render::Orbit,
    counts: &[Vec<u32>],
    range: [f64; 2],
    step: u32,
    skip: impl Fn(u32, u32) -> bool,
) -> ViewCheck {
    let shown = Shown { o, layer: Layer::Density, counts: counts.to_vec(), hits: Vec::new(), range, context: false };
    check_view(&[img], &shown, picker, orbit, step, skip).pop().unwrap()
}

/// Each zone's cell counts of the punctures made by `t_s` (all: `f64::INFINITY`).
fn counts_at(o: &Outcome, t_s: f64) -> Vec<Vec<u32>> {
    (0..o.zones.len())
        .map(|z| {
            let layout = &o.fields[z].layout;
            let mut n = vec![0u32; layout.cells()];
            for p in o.simulation.zones[z].punctures.iter().filter(|p| p.t_s as f64 <= t_s) {
                if let Some(c) = layout.cell_of(p.pos_mm()) {
                    n[c] += 1;
                }
            }
            n
        })
        .collect()
}

/// Punctures of a run by where they are: per zone, 1 mm bins of the chart
/// holding (time, pass) of each puncture.
struct PunctureIndex {
    zones: Vec<Bins>,
}

impl PunctureIndex {
    fn new(o: &Outcome) -> PunctureIndex {
        let zones = o
            .simulation
            .zones
            .iter()
            .map(|run| {
                let mut bins: Bins = Default::default();
                for (pass, range) in run.pass_ranges.iter().enumerate() {
                    for p in &run.punctures[range.clone()] {
                        let q = p.pos_mm();
                        bins.entry((q.x.floor() as i64, q.y.floor() as i64)).or_default().push((q, p.t_s as f64, pass));
                    }
                }
                bins
            })
            .collect();
        PunctureIndex { zones }
    }

    /// Whether a puncture of zone `z` within `d` mm of `p` satisfies `keep(time, pass)`.
    fn near(&self, z: usize, p: Vec2, d: f64, keep: impl Fn(f64, usize) -> bool) -> bool {
        let r = d.ceil() as i64;
        let (i, j) = (p.x.floor() as i64, p.y.floor() as i64);
        (i - r..=i + r).any(|a| {
            (j - r..=j + r).any(|b| {
                self.zones[z]
                    .get(&(a, b))
                    .is_some_and(|v| v.iter().any(|&(q, t, pass)| (q - p).norm() <= d && keep(t, pass)))
            })
        })
    }
}

/// The overlay's colours (src/gpu/overlay.rs and shaders/overlay.wgsl,
/// 0..1): a colour per pass, cycled; a pass's line is drawn in its colour
/// at alpha 0.9 behind the cartridge and at a third of that ahead of it;
/// passes done in grey at alpha 0.35. The dots of recent punctures
/// (src/gpu/render.rs) are opaque orange, the newest stamp's red, with a
/// light rim.
const PASS_COLOURS: [[f64; 3]; 4] = [[0.0, 0.25, 0.9], [0.9, 0.35, 0.0], [0.0, 0.6, 0.3], [0.6, 0.0, 0.7]];
const DONE_COLOUR: [f64; 3] = [0.35, 0.35, 0.4];
const DOT_COLOURS: [[f64; 3]; 2] = [[1.0, 0.55, 0.1], [0.85, 0.05, 0.2]];
/// The dots' radii, pixels: recent punctures, the newest stamp.
const DOT_RADII_PX: [f64; 2] = [1.8, 5.0];

/// `colour` (0..1) laid at `alpha` over `base` (0..255), as alpha blending does.
fn over(colour: [f64; 3], alpha: f64, base: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| colour[i] * 255.0 * alpha + base[i] * (1.0 - alpha))
}

/// The largest channel difference.
fn off(a: [u8; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|i| (a[i] as f64 - b[i]).abs()).fold(0.0, f64::max)
}

/// Whether `c` is a dot of `colour` (0..1), its rim mixed towards white.
fn dot(c: [u8; 3], colour: [f64; 3]) -> bool {
    (0..=20).any(|k| {
        let s = k as f64 / 20.0;
        off(c, colour.map(|v| (v + (1.0 - v) * s) * 255.0)) <= 6.0
    })
}

/// Where the overlay of a frame drawn mid-treatment lies.
#[derive(Debug, Default)]
struct OverlayCheck {
    /// Pixels the overlay changed, and those looked at (every other in x and y).
    changed: usize,
    sampled: usize,
    /// Sampled pixels by what they show: the current pass's line behind the
    /// cartridge and ahead of it, a pass done, a dot, the cartridge (the rest).
    behind: usize,
    ahead: usize,
    done: usize,
    dots: usize,
    cartridge: usize,
    /// Sampled pixels within the footprint's reach of the pose's pixel, and
    /// of them those the cartridge (or a dot) covers.
    around_pose: (usize, usize),
    /// Lines and dots away from the punctures they stand for, and cartridge
    /// pixels away from the pose: (pixel, what, skin point).
    stray: Vec<Looked>,
    /// The pixel over the pose's skin point, and how far from the pose its chart point is (mm).
    pose_px: (u32, u32),
    pose_miss_mm: f64,
    /// Skin per pixel at the pose, mm (the larger of across and up).
    mm_per_px: f64,
    /// The farthest cartridge pixel from the pose pixel, and the bound, px.
    cartridge_reach_px: (f64, f64),
    /// Whether the pose is where the needles went in last: within the
    /// footprint's reach (and the pose's 1.2 mm chart error on a mesh) of a
    /// puncture of the last 0.25 s.
    pose_by_needles: bool,
}

/// Checks where the overlay lies in `with` (a frame drawn at `t_s` with the
/// paths, the cartridge and, if `dots_s`, the dots of the last `dots_s`
/// seconds' punctures) against `without` (the same frame without them):
/// each line pixel lies near the punctures of the pass it stands for (the
/// current pass before `t_s` behind the cartridge, after it ahead, the passes
/// done), each dot near a puncture made in the last `dots_s`, and the rest
/// (the cartridge) around the pose the renderer reports.
fn check_overlay(
    with: &image::RgbImage,
    without: &image::RgbImage,
    o: &Outcome,
    picker: &needlemap::gpu::render::Renderer,
    orbit: needlemap::gpu::render::Orbit,
    t_s: f64,
    dots_s: Option<f64>,
) -> OverlayCheck {
    let (w, h) = with.dimensions();
    let pick = |x: u32, y: u32| picker.pick(orbit, [0, 0, w, h], (x as f64 + 0.5, y as f64 + 0.5));
    let pose = picker.cartridge_pose().expect("the cartridge is on the skin");
    // The zone and pass going on at t_s.
    let (zone, current) = o
        .simulation
        .zones
        .iter()
        .enumerate()
        .find_map(|(z, run)| {
            run.pass_ranges
                .iter()
                .position(|r| {
                    !r.is_empty()
                        && run.punctures[r.start].t_s as f64 <= t_s
                        && t_s <= run.punctures[r.end - 1].t_s as f64
                })
                .map(|p| (z, p))
        })
        .expect("a pass under way");
    // The pose's chart point: the pose itself on a flat zone, else the
    // chart point of the mesh vertex nearest to it.
    let pose_chart = match &o.scene.zones[zone].surface {
        None => Vec2::new(pose.pos.x, pose.pos.y),
        Some(s) => {
            let m = &s.mesh;
            let k = (0..m.positions_mm.len())
                .min_by(|&a, &b| {
                    (m.positions_mm[a] - pose.pos).norm().total_cmp(&(m.positions_mm[b] - pose.pos).norm())
                })
                .unwrap();
            m.chart_mm[k]
        }
    };
    let index = PunctureIndex::new(o);
    let reach = o.scene.cartridge.reach_mm();
    let colour = PASS_COLOURS[current % PASS_COLOURS.len()];
    let to_come = PASS_COLOURS[(current + 1) % PASS_COLOURS.len()];
    let layers = [("behind", colour, 0.9), ("ahead", colour, 0.9 * 0.35), ("done", DONE_COLOUR, 0.35)];
    let mut c = OverlayCheck::default();
    let mut looked: Vec<Looked> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (with.get_pixel(x, y).0, without.get_pixel(x, y).0);
            let base = b.map(|v| v as f64);
            if off(a, base) <= 2.0 {
                continue;
            }
            c.changed += 1;
            if x % 2 == 1 || y % 2 == 1 {
                continue; // picking is slow: every other pixel
            }
            c.sampled += 1;
            // A line over the skin, or over another line (crossings).
            let mut lines: Vec<(&'static str, [f64; 3])> = Vec::new();
            for (n, k, al) in layers {
                lines.push((n, over(k, al, base)));
                for (_, k2, al2) in layers {
                    lines.push((n, over(k, al, over(k2, al2, base))));
                }
            }
            let best = lines.iter().map(|(n, k)| (*n, off(a, *k))).min_by(|p, q| p.1.total_cmp(&q.1)).unwrap();
            let what = if best.1 <= 4.0 {
                best.0
            } else if dots_s.is_some() && DOT_COLOURS.iter().any(|&d| dot(a, d)) {
                "dot"
            } else if off(a, over(to_come, 0.9, base)) <= 4.0 || off(a, over(to_come, 0.315, base)) <= 4.0 {
                "a pass to come"
            } else {
                "cartridge"
            };
            looked.push(((x, y), what, pick(x, y)));
        }
    }
    // The pose's pixel, and the skin's scale there.
    let (pose_px, pose_miss) = looked
        .iter()
        .filter_map(|(px, _, here)| here.filter(|(z, _)| *z == zone).map(|(_, p)| (*px, (p - pose_chart).norm())))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("skin under the overlay");
    (c.pose_px, c.pose_miss_mm) = (pose_px, pose_miss);
    let span = |dx: i64, dy: i64| {
        let q = |s: i64| pick((pose_px.0 as i64 + s * dx) as u32, (pose_px.1 as i64 + s * dy) as u32);
        match (q(-4), q(4)) {
            (Some((za, a)), Some((zb, b))) if za == zone && zb == zone => (a - b).norm() / 8.0,
            _ => 0.0,
        }
    };
    let (across, up) = (span(1, 0), span(0, 1));
    c.mm_per_px = across.max(up);
    assert!(c.mm_per_px > 0.0, "no skin around the pose's pixel {pose_px:?}");
    // Lines: a path point is the centroid of one bin (30 ms) of a pen's
    // stamps, so within the footprint's reach of its punctures; the drawn
    // line strays from the path by its simplification tolerance (0.5 mm the
    // current pass, 1.5 mm passes done) and from a path point by half the
    // gap between points (a bin at up to 48 mm/s: 40 with 20 % speed
    // jitter, about 1.5 mm, so 1 mm); it floats 0.4 mm off the skin and is
    // a pixel wide.
    let line_mm = |tol: f64| reach + tol + 1.0 + 0.4 + c.mm_per_px;
    // Dots: within their radius (and a pixel) of their puncture.
    let dot_mm = (DOT_RADII_PX[1] + 1.0) * c.mm_per_px;
    // The cartridge: a pen's body is a cylinder of radius reach + 3 mm up to
    // 23 mm along the normal, so each of its points lies within
    // sqrt((reach + 3)^2 + 23^2) mm of the pose; seen across the pixel scale
    // at the pose (the larger of across and up, where the skin is seen
    // square on), and up to a third larger for the part nearer the camera.
    let cartridge_px = ((reach + 3.0).powi(2) + 23.0f64.powi(2)).sqrt() / across.min(up).max(1e-9) * 4.0 / 3.0;
    let recent = dots_s.unwrap_or(0.0);
    let from_pose = |x: u32, y: u32| (x as f64 - pose_px.0 as f64).hypot(y as f64 - pose_px.1 as f64);
    for &((x, y), what, here) in &looked {
        // `extra`: how much farther the skin point may be (a pixel beside).
        let near_by = |at: Option<(usize, Vec2)>, extra: f64| {
            at.is_some_and(|(z, p)| match what {
                "behind" => z == zone && index.near(z, p, line_mm(0.5) + extra, |t, pass| pass == current && t <= t_s),
                "ahead" => z == zone && index.near(z, p, line_mm(0.5) + extra, |t, pass| pass == current && t > t_s),
                "done" => z == zone && index.near(z, p, line_mm(1.5) + extra, |_, pass| pass < current),
                "dot" => index.near(z, p, dot_mm + extra, |t, _| t <= t_s && t > t_s - recent),
                _ => false,
            })
        };
        let near = |at| near_by(at, 0.0);
        let ok = match what {
            "cartridge" => {
                let d = from_pose(x, y);
                c.cartridge_reach_px.0 = c.cartridge_reach_px.0.max(d);
                d <= cartridge_px
            }
            "a pass to come" => false,
            // A line along a zone's border may pick the neighbour's mesh
            // (the meshes meet there), and one at the silhouette may float
            // past the skin: then a pixel beside it shows the zone, up to
            // the skin's span over those two pixels farther (measured there,
            // as the two pixels beyond it: at a grazing angle a pixel spans
            // far more skin than at the pose).
            _ => {
                let inside = |a: i64, b: i64| a >= 0 && b >= 0 && a < w as i64 && b < h as i64;
                near(here)
                    || [(-2, 0), (2, 0), (0, -2), (0, 2)].iter().any(|&(dx, dy)| {
                        let (a, b) = (x as i64 + dx, y as i64 + dy);
                        if !inside(a, b) {
                            return false;
                        }
                        let beside = pick(a as u32, b as u32);
                        let (c, d) = (a + dx, b + dy);
                        let span = match (beside, inside(c, d).then(|| pick(c as u32, d as u32)).flatten()) {
                            (Some((z1, p1)), Some((z2, p2))) if z1 == z2 => (p1 - p2).norm(),
                            _ => 0.0,
                        };
                        near_by(beside, span)
                    })
                    // Over the background, a shaded rim of the cartridge's
                    // grey can match a line's colour over white: within the
                    // cartridge's reach of the pose, it is the cartridge.
                    || (without.get_pixel(x, y).0.iter().all(|&k| k >= 250) && from_pose(x, y) <= cartridge_px)
            }
        };
        match what {
            "behind" => c.behind += 1,
            "ahead" => c.ahead += 1,
            "done" => c.done += 1,
            "dot" => c.dots += 1,
            _ => c.cartridge += 1,
        }
        if !ok {
            c.stray.push(((x, y), what, here));
        }
    }
    c.cartridge_reach_px.1 = cartridge_px;
    let on_it: std::collections::HashSet<(u32, u32)> =
        looked.iter().filter(|l| l.1 == "cartridge" || l.1 == "dot").map(|l| l.0).collect();
    let r_px = reach / c.mm_per_px;
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            if (x as f64 - pose_px.0 as f64).hypot(y as f64 - pose_px.1 as f64) <= r_px {
                c.around_pose.0 += 1;
                c.around_pose.1 += on_it.contains(&(x, y)) as usize;
            }
        }
    }
    c.pose_by_needles = index.near(zone, pose_chart, reach + 1.2, |t, _| t <= t_s && t > t_s - 0.25);
    c
}

/// One frame drawn by `r` as it stands (its time, layer, overlay), with
/// `orbit` over the whole `w` x `h` target: RGB.
fn frame(
    gpu: &Gpu,
    r: &needlemap::gpu::render::Renderer,
    orbit: needlemap::gpu::render::Orbit,
    (w, h): (u32, u32),
) -> image::RgbImage {
    use needlemap::gpu::render::{depth_texture, frame_texture, read_texture};
    let format = wgpu::TextureFormat::Rgba8Unorm;
    let target = frame_texture(gpu, w, h, format);
    let depth = depth_texture(gpu, w, h);
    let mut e = gpu.device.create_command_encoder(&Default::default());
    let view = target.create_view(&Default::default());
    r.draw(gpu, &mut e, &view, &depth.create_view(&Default::default()), orbit, [0, 0, w, h], Background::Clear);
    let rgba = image::RgbaImage::from_raw(w, h, read_texture(gpu, e, &target, w, h).unwrap()).unwrap();
    image::DynamicImage::ImageRgba8(rgba).to_rgb8()
}

/// A renderer of `o` at `t_s` with `layer`, the overlay off: the picker
/// of the tests (its `pick` is the renderer's own camera) and a frame
/// without paths, cartridge or dots.
fn renderer_at(gpu: &Gpu, o: &Outcome, layer: Layer, t_s: f64) -> needlemap::gpu::render::Renderer {
    let mut r = needlemap::gpu::render::Renderer::new(gpu, o, wgpu::TextureFormat::Rgba8Unorm, layer);
    // Without the head drawn around built-in zones: these checks read every
    // pixel off white as a zone's (the head has its own test,
    // the_whole_head_is_drawn_around_built_in_zones_and_under_their_avoid_regions).
    r.set_context(gpu, false);
    r.set_time(gpu, o, t_s);
    r.set_overlay(false);
    r
}

/// Runs the built `needlemap` with `args` in `dir`.
fn needlemap_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
        .args(args)
        .current_dir(dir)
        .env("NODEVICE_SELECT", "1")
        .output()
        .unwrap()
}

fn scene_file(name: &str) -> String {
    format!("{}/scenes/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The legend box of a `render` PNG (src/app/plot.rs, `overlay_legend`):
/// its left, top, right and bottom pixel, and for density the colorbar's
/// top row and height. The box is 190 px wide, 200 px from the right edge
/// and 12 px from the top; the bar starts 34 px lower, 12 px in, is 24 px
/// wide and 55 % of the image high (60 to 420 px).
fn legend_box((w, h): (u32, u32), layer: Layer, items: u32) -> ([u32; 4], u32, u32) {
    let (x0, y0) = (w - 200, 12);
    let bar_h = ((h as f64 * 0.55) as u32).clamp(60, 420);
    let by = y0 + 34;
    let bottom = match layer {
        Layer::Density => by + bar_h + 56,
        _ => y0 + 40 + 28 * items,
    };
    ([x0, y0, x0 + 190, bottom], by, bar_h)
}

/// Whether pixel (x, y) lies in the legend box (with a pixel to spare).
fn in_legend(b: [u32; 4], (x, y): (u32, u32)) -> bool {
    x + 1 >= b[0] && x <= b[2] + 1 && y + 1 >= b[1] && y <= b[3] + 1
}

/// Dark (text) pixels in a rectangle.
fn dark_pixels(img: &image::RgbImage, [x0, y0, x1, y1]: [u32; 4]) -> usize {
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 110))
        .count()
}

/// The density legend of a `render` PNG: the colorbar is viridis from the
/// bottom (the range's low end) to the top, row by row; the target band's
/// ends within the range are marked by black lines two rows high (the row
/// the scale puts the value on and the one above); the title, the tick labels and the note on stripes
/// are written (dark text pixels where each goes).
fn check_colorbar(img: &image::RgbImage, range: [f64; 2], target: [f64; 2]) {
    let (b, by, bar_h) = legend_box(img.dimensions(), Layer::Density, 0);
    let bx = b[0] + 12;
    let marks: Vec<u32> = target
        .iter()
        .filter(|v| (range[0]..=range[1]).contains(*v))
        .map(|v| by + bar_h - ((v - range[0]) / (range[1] - range[0]) * bar_h as f64).round() as u32)
        .collect();
    let mut black_rows = Vec::new();
    for i in 1..bar_h - 1 {
        let y = by + i;
        let c = img.get_pixel(bx + 12, y).0;
        if marks.iter().any(|&m| y + 1 == m || y == m) {
            assert_eq!(c, [0, 0, 0], "row {i} of the colorbar marks the target band");
            black_rows.push(y);
            continue;
        }
        let v = viridis((bar_h - i) as f64 / bar_h as f64);
        assert!(off(c, v) <= 1.0, "row {i} of the colorbar is {c:?}, not viridis {v:?}");
    }
    assert_eq!(black_rows.len(), 2 * marks.len(), "the target band's lines: {black_rows:?}");
    let title = dark_pixels(img, [b[0], b[1], b[2], by - 2]);
    let labels = dark_pixels(img, [bx + 32, by - 10, b[2], by + bar_h + 8]);
    let note = dark_pixels(img, [b[0], by + bar_h + 6, b[2], b[3]]);
    assert!(
        title > 60 && labels > 150 && note > 150,
        "legend text: title {title}, labels {labels}, note {note} dark pixels"
    );
}

/// Renders `scene` with the `render` command (`extra` flags) into a PNG
/// in `dir`: the command's one line and the picture.
fn render_command(dir: &Path, scene: &str, extra: &[&str]) -> (String, image::RgbImage) {
    let out = dir.join("r.png");
    let mut args = vec!["render", scene, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = needlemap_in(dir, &args);
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "render {extra:?}: {stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("rendered ") && stdout.trim_end().ends_with(out.to_str().unwrap()), "{stdout}");
    (stdout.into_owned(), image::open(&out).unwrap().to_rgb8())
}

#[test]
fn the_render_command_draws_the_skin_the_layer_and_its_legend() {
    use needlemap::gpu::render::{Orbit, auto_range};
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let o = outcome("cheek.toml");
    let picker = renderer_at(&gpu, &o, Layer::Density, f64::INFINITY);
    let (_, img) = render_command(dir.path(), &scene_file("cheek.toml"), &["--size", "640x400"]);
    save(&image::DynamicImage::ImageRgb8(img.clone()).to_rgba8(), "render-command-cheek.png");
    assert_eq!(img.dimensions(), (640, 400));
    // The skin where the renderer's camera sees it, white around it, each
    // cell in its colour on the automatic scale (0 to the densest cell,
    // rounded up), lit; the lesion striped.
    let (b, ..) = legend_box(img.dimensions(), Layer::Density, 0);
    let counts = counts_at(&o, f64::INFINITY);
    let v = check_density_view(&img, &o, &picker, Orbit::from_view(View::Front), &counts, auto_range(&o), 3, |x, y| {
        in_legend(b, (x, y))
    });
    // The cheek's 29 cm² seen square on fill about a fifth of the frame.
    assert!(v.skin * 8 > v.sampled, "{} of {} pixels on skin", v.skin, v.sampled);
    assert_eq!((v.skin_white, v.background_painted), (0, 0), "skin left white, background painted");
    assert!(v.checked * 4 > v.skin, "only {} of {} skin pixels away from every edge", v.checked, v.skin);
    assert!(
        v.wrong.is_empty(),
        "{} of {} pixels not their cell's colour: {:?}",
        v.wrong.len(),
        v.checked,
        &v.wrong[..v.wrong.len().min(5)]
    );
    check_colorbar(&img, auto_range(&o), o.scene.zones[0].target_per_cm2.unwrap());
    // The hit layer's legend: a swatch per class and the avoid regions'.
    let (_, hits) = render_command(dir.path(), &scene_file("cheek.toml"), &["--size", "640x400", "--layer", "hits"]);
    let swatches: Vec<[u8; 3]> = needlemap::app::plot::HITS
        .iter()
        .chain([&plotters::style::RGBColor(200, 200, 210)])
        .map(|c| [c.0, c.1, c.2])
        .collect();
    let (hb, ..) = legend_box(hits.dimensions(), Layer::Hits, swatches.len() as u32);
    for (i, want) in swatches.iter().enumerate() {
        let at = (hb[0] + 21, hb[1] + 45 + 28 * i as u32);
        assert_eq!(hits.get_pixel(at.0, at.1).0, *want, "swatch {i} of the hit legend at {at:?}");
    }
    let labels = dark_pixels(&hits, [hb[0] + 38, hb[1] + 34, hb[2], hb[3]]);
    assert!(labels > 150, "hit legend labels: {labels} dark pixels");
    // And the skin shows the hit classes (lit): every checked skin pixel
    // away from the lesion is one of the four.
    let classes: Vec<[f64; 3]> =
        needlemap::app::plot::HITS.iter().map(|c| [c.0 as f64, c.1 as f64, c.2 as f64]).collect();
    let mut on_skin = 0;
    let mut not_a_class = 0;
    for y in (0..hits.height()).step_by(3) {
        for x in (0..hits.width()).step_by(3) {
            if in_legend(hb, (x, y)) {
                continue;
            }
            let Some((z, p)) =
                picker.pick(Orbit::from_view(View::Front), [0, 0, 640, 400], (x as f64 + 0.5, y as f64 + 0.5))
            else {
                continue;
            };
            if !o.scene.zones[z].region.treatable(p) {
                continue;
            }
            on_skin += 1;
            // The hit colours are exact in the shader (to 3 decimals).
            if !classes.iter().any(|&a| lit(hits.get_pixel(x, y).0, a, 0.5).is_ok()) {
                not_a_class += 1;
            }
        }
    }
    // Pixels at the outline may be the background or grey: under a pixel's
    // width of the 210 mm perimeter, about 2 % of the cheek's pixels.
    assert!(on_skin > 1000 && not_a_class * 50 < on_skin, "{not_a_class} of {on_skin} skin pixels not a hit class");
}

#[test]
fn render_range_sets_the_colour_scale_and_stripes_what_lies_beyond_it() {
    use needlemap::gpu::render::{Orbit, auto_range};
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let o = outcome("cheek.toml");
    let picker = renderer_at(&gpu, &o, Layer::Density, f64::INFINITY);
    // Most of the cheek is denser than 2000 /cm²: clamped and striped.
    let range = [0.0, 2000.0];
    let (_, img) = render_command(dir.path(), &scene_file("cheek.toml"), &["--size", "640x400", "--range", "0..2000"]);
    save(&image::DynamicImage::ImageRgb8(img.clone()).to_rgba8(), "render-command-range.png");
    let (b, ..) = legend_box(img.dimensions(), Layer::Density, 0);
    let counts = counts_at(&o, f64::INFINITY);
    let orbit = Orbit::from_view(View::Front);
    let v = check_density_view(&img, &o, &picker, orbit, &counts, range, 3, |x, y| in_legend(b, (x, y)));
    assert!(v.checked > 500, "{} pixels checked", v.checked);
    assert!(
        v.wrong.is_empty(),
        "{} of {} pixels not on the 0..2000 scale: {:?}",
        v.wrong.len(),
        v.checked,
        &v.wrong[..v.wrong.len().min(5)]
    );
    // On the automatic scale most of them would be other colours: the
    // range changed the picture.
    let auto = check_density_view(&img, &o, &picker, orbit, &counts, auto_range(&o), 3, |x, y| in_legend(b, (x, y)));
    assert!(
        auto.wrong.len() * 2 > auto.checked,
        "only {} of {} pixels differ from the automatic scale",
        auto.wrong.len(),
        auto.checked
    );
    // The stripes: pixels of cells beyond the scale on a stripe are
    // whitened yellow, the others plain yellow (viridis' top).
    let beyond = |x: u32, y: u32| {
        picker.pick(orbit, [0, 0, 640, 400], (x as f64 + 0.5, y as f64 + 0.5)).is_some_and(|(z, p)| {
            let f = &o.fields[z];
            o.scene.zones[z].region.treatable(p)
                && f.layout.cell_of(p).and_then(|c| f.cell_density_per_cm2(c)).is_some_and(|d| d > range[1] * 1.02)
        })
    };
    let (mut whitened, mut plain) = (0, 0);
    for y in (100..300).step_by(2) {
        for x in (180..440).step_by(2) {
            if in_legend(b, (x, y)) || !beyond(x, y) {
                continue;
            }
            let c = img.get_pixel(x, y).0;
            let top = viridis(1.0);
            let on_stripe = (x + y + 1) % 8 < 4;
            let want = if on_stripe { top.map(|a| a + (255.0 - a) * 0.6) } else { top };
            if lit(c, want, 0.02 * 255.0).is_ok() {
                if on_stripe { whitened += 1 } else { plain += 1 }
            }
        }
    }
    assert!(whitened > 200 && plain > 300, "beyond the scale: {whitened} striped pixels, {plain} plain");
    // The legend is on the new scale: only the band's low end (1500) lies on it.
    check_colorbar(&img, range, o.scene.zones[0].target_per_cm2.unwrap());
}

#[test]
fn render_at_time_shows_the_treatment_as_it_stood_with_its_paths_cartridge_and_recent_punctures() {
    use needlemap::gpu::render::{Orbit, auto_range};
    // The guide's example: the cheek at 45 s, horizontal pass done,
    // vertical under way.
    let gpu = gpu();
    let dir = tempfile::tempdir().unwrap();
    let o = outcome("cheek.toml");
    let t = 45.0;
    let (w, h) = (1000, 640);
    let (_, mut img) =
        render_command(dir.path(), &scene_file("cheek.toml"), &["--at-time", "45", "--size", "1000x640"]);
    save(&image::DynamicImage::ImageRgb8(img.clone()).to_rgba8(), "render-command-45s.png");
    check_colorbar(&img, auto_range(&o), o.scene.zones[0].target_per_cm2.unwrap());
    // Under the overlay, the heatmap of the punctures made by 45 s: a frame
    // of the renderer at 45 s without the overlay shows exactly those, and
    // not the whole treatment's.
    let picker = renderer_at(&gpu, &o, Layer::Density, t);
    let orbit = Orbit::from_view(View::Front);
    let plain = frame(&gpu, &picker, orbit, (w, h));
    let v = check_density_view(&plain, &o, &picker, orbit, &counts_at(&o, t), auto_range(&o), 5, |_, _| false);
    assert!(v.checked > 500 && v.wrong.is_empty(), "{} of {} pixels not as at 45 s", v.wrong.len(), v.checked);
    let end =
        check_density_view(&plain, &o, &picker, orbit, &counts_at(&o, f64::INFINITY), auto_range(&o), 5, |_, _| false);
    assert!(end.wrong.len() * 2 > end.checked, "{} of {} pixels differ from the end", end.wrong.len(), end.checked);
    // The command's picture is that frame where no overlay is drawn (the
    // legend aside), and the overlay is where the treatment was at 45 s.
    let (b, ..) = legend_box((w, h), Layer::Density, 0);
    for y in b[1]..=b[3] {
        for x in b[0]..=b[2] {
            img.put_pixel(x, y, *plain.get_pixel(x, y));
        }
    }
    let c = check_overlay(&img, &plain, &o, &picker, orbit, t, Some(2.0));
    eprintln!("{c:?}");
    assert_overlay(&c, &o);
    assert!(c.dots > 100, "{} pixels of dots for the last 2 s of punctures", c.dots);
}

#[test]
fn render_without_an_adapter_says_so_in_one_line_and_exits_1() {
    // No Vulkan driver to load (and no other backend allowed).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.png");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_needlemap"))
        .args(["render", &scene_file("cheek.toml"), "--out", out.to_str().unwrap()])
        .env("VK_ICD_FILENAMES", "/nonexistent")
        .env("WGPU_BACKEND", "vulkan")
        .env("NODEVICE_SELECT", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: no usable GPU adapter: install a Vulkan driver"), "{err}");
    assert!(err.contains("apt-get install mesa-vulkan-drivers libvulkan1"), "what to install: {err}");
    assert!(o.stdout.is_empty(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(!out.exists(), "no picture written");
}
