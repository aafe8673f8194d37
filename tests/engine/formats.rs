//! Mesh formats: MediaPipe's canonical face model (`../shared/data/meshes/`,
//! from outside the project), written here as PLY (ascii and binary), STL
//! (ascii and binary) and GLB by writers that share no code with the
//! readers, imports with one area: the independent sum of its triangles'.

use crate::repo_root;
use needlemap::core::input::scene::Scene;

/// The canonical face: positions (cm) and triangles, read here.
pub(crate) fn face() -> (Vec<[f32; 3]>, Vec<[u32; 3]>) {
    let path = repo_root().join("../shared/data/meshes/canonical_face_model.obj");
    let obj = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut v = Vec::new();
    let mut t = Vec::new();
    for l in obj.lines() {
        if let Some(r) = l.strip_prefix("v ") {
            let c: Vec<f32> = r.split_whitespace().map(|x| x.parse().unwrap()).collect();
            v.push([c[0], c[1], c[2]]);
        } else if let Some(r) = l.strip_prefix("f ") {
            let ix: Vec<u32> =
                r.split_whitespace().map(|c| c.split('/').next().unwrap().parse::<u32>().unwrap() - 1).collect();
            for k in 1..ix.len() - 1 {
                t.push([ix[0], ix[k], ix[k + 1]]);
            }
        }
    }
    (v, t)
}

/// The triangles' true area, in the points' unit squared (cm² for the face).
pub(crate) fn area_cm2(v: &[[f32; 3]], t: &[[u32; 3]]) -> f64 {
    t.iter()
        .map(|tri| {
            let [a, b, c] = tri.map(|i| v[i as usize].map(|x| x as f64));
            let (e1, e2) = ([b[0] - a[0], b[1] - a[1], b[2] - a[2]], [c[0] - a[0], c[1] - a[1], c[2] - a[2]]);
            let n = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]];
            (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() / 2.0
        })
        .sum()
}

pub(crate) fn ply(v: &[[f32; 3]], t: &[[u32; 3]], binary: bool) -> Vec<u8> {
    let format = if binary { "binary_little_endian" } else { "ascii" };
    let mut out = format!(
        "ply\nformat {format} 1.0\ncomment written by needlemap's tests\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\n\
         element face {}\nproperty list uchar int vertex_indices\nend_header\n",
        v.len(),
        t.len()
    )
    .into_bytes();
    for p in v {
        if binary {
            p.iter().for_each(|c| out.extend(c.to_le_bytes()));
        } else {
            out.extend(format!("{} {} {}\n", p[0], p[1], p[2]).into_bytes());
        }
    }
    for f in t {
        if binary {
            out.push(3);
            f.iter().for_each(|&i| out.extend((i as i32).to_le_bytes()));
        } else {
            out.extend(format!("3 {} {} {}\n", f[0], f[1], f[2]).into_bytes());
        }
    }
    out
}

pub(crate) fn stl(v: &[[f32; 3]], t: &[[u32; 3]], binary: bool) -> Vec<u8> {
    if binary {
        let mut out = vec![b' '; 80];
        out.extend((t.len() as u32).to_le_bytes());
        for f in t {
            out.extend([0u8; 12]); // normal: left for the reader to ignore
            for &i in f {
                v[i as usize].iter().for_each(|c| out.extend(c.to_le_bytes()));
            }
            out.extend([0u8; 2]);
        }
        out
    } else {
        let mut s = String::from("solid face\n");
        for f in t {
            s.push_str("facet normal 0 0 0\nouter loop\n");
            for &i in f {
                let p = v[i as usize];
                s.push_str(&format!("vertex {} {} {}\n", p[0], p[1], p[2]));
            }
            s.push_str("endloop\nendfacet\n");
        }
        s.push_str("endsolid face\n");
        s.into_bytes()
    }
}

pub(crate) fn glb(v: &[[f32; 3]], t: &[[u32; 3]]) -> Vec<u8> {
    let mut bin: Vec<u8> = v.iter().flat_map(|p| p.iter().flat_map(|c| c.to_le_bytes())).collect();
    let pos_len = bin.len();
    bin.extend(t.iter().flat_map(|f| f.iter().flat_map(|i| i.to_le_bytes())));
    let idx_len = bin.len() - pos_len;
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for p in v {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let json = serde_json::json!({
        "asset": {"version": "2.0"},
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": pos_len},
            {"buffer": 0, "byteOffset": pos_len, "byteLength": idx_len}
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": v.len(), "type": "VEC3", "min": lo, "max": hi},
            {"bufferView": 1, "componentType": 5125, "count": 3 * t.len(), "type": "SCALAR"}
        ],
        "meshes": [{"name": "face", "primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "nodes": [{"mesh": 0, "name": "head"}],
        "scenes": [{"nodes": [0]}],
        "scene": 0
    });
    let mut j = json.to_string().into_bytes();
    while !j.len().is_multiple_of(4) {
        j.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let mut out = Vec::new();
    out.extend(b"glTF");
    out.extend(2u32.to_le_bytes());
    out.extend(((12 + 8 + j.len() + 8 + bin.len()) as u32).to_le_bytes());
    out.extend((j.len() as u32).to_le_bytes());
    out.extend(0x4E4F_534Au32.to_le_bytes());
    out.extend(&j);
    out.extend((bin.len() as u32).to_le_bytes());
    out.extend(0x004E_4942u32.to_le_bytes());
    out.extend(&bin);
    out
}

/// Loads a one-zone scene whose mesh is `file` with `bytes`.
fn load(file: &str, bytes: Vec<u8>) -> Result<Scene, needlemap::core::error::SceneError> {
    let text = format!(
        "[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 40\n[[zones]]\nname = \"face\"\nmesh = \"{file}\"\nmesh_unit_mm = 10\n\
         [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n"
    );
    Scene::from_toml_str_with(&text, "t.toml", &|_| Ok(bytes.clone()))
}

#[test]
fn the_canonical_face_imports_from_obj_ply_stl_and_glb_with_one_area() {
    let (v, t) = face();
    let exact_cm2 = area_cm2(&v, &t);
    let obj = std::fs::read(repo_root().join("../shared/data/meshes/canonical_face_model.obj")).unwrap();
    let files = [
        ("face.obj", obj),
        ("face.ply", ply(&v, &t, false)),
        ("face.PLY", ply(&v, &t, true)),
        ("face.stl", stl(&v, &t, false)),
        ("face.stl", stl(&v, &t, true)),
        ("face.glb", glb(&v, &t)),
    ];
    for (name, bytes) in files {
        let s = load(name, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = &s.zones[0].surface.as_ref().unwrap().mesh;
        let got = m.area_3d_mm2() / 100.0;
        assert!((got / exact_cm2 - 1.0).abs() < 0.005, "{name}: {got} cm² against the triangles' {exact_cm2}");
        assert_eq!(m.triangles.len(), t.len(), "{name}: every triangle, STL's corners welded");
        assert_eq!(m.positions_mm.len(), v.len(), "{name}: every vertex once");
    }
    // A glTF group names a mesh or a node; another is refused with those it has.
    assert!(load("face.glb#head", glb(&v, &t)).is_ok());
    let err = load("face.glb#neck", glb(&v, &t)).unwrap_err();
    assert!(err.message.contains("no group or object `neck`") && err.message.contains("face"), "{err}");
}

/// The GLB's JSON chunk with its buffer given by `uri`, and its binary chunk.
pub(crate) fn gltf_parts(v: &[[f32; 3]], t: &[[u32; 3]], uri: &str) -> (Vec<u8>, Vec<u8>) {
    let g = glb(v, t);
    let jlen = u32::from_le_bytes(g[12..16].try_into().unwrap()) as usize;
    let mut json: serde_json::Value = serde_json::from_slice(&g[20..20 + jlen]).unwrap();
    json["buffers"][0]["uri"] = serde_json::Value::String(uri.to_string());
    (json.to_string().into_bytes(), g[20 + jlen + 8..].to_vec())
}

#[test]
fn a_gltf_reads_its_buffer_from_a_data_uri_or_a_file_beside_it_and_nowhere_else() {
    use base64::Engine as _;
    let (v, t) = face();
    let exact_cm2 = area_cm2(&v, &t);
    let (_, bin) = gltf_parts(&v, &t, "");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bin);
    let (embedded, _) = gltf_parts(&v, &t, &format!("data:application/octet-stream;base64,{b64}"));
    let s = load("face.gltf", embedded).unwrap_or_else(|e| panic!("{e}"));
    let got = s.zones[0].surface.as_ref().unwrap().mesh.area_3d_mm2() / 100.0;
    assert!((got / exact_cm2 - 1.0).abs() < 0.005, "{got} against {exact_cm2}");
    // A buffer beside it, looked up next to the glTF (here in meshes/).
    let (json, bin) = gltf_parts(&v, &t, "face.bin");
    let text = "[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 40\n[[zones]]\nname = \"face\"\nmesh = \"meshes/face.gltf\"\nmesh_unit_mm = 10\n\
                [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n";
    let asked = std::cell::RefCell::new(Vec::new());
    let resolve = |name: &str| {
        asked.borrow_mut().push(name.to_string());
        match name {
            "meshes/face.gltf" => Ok(json.clone()),
            "meshes/face.bin" => Ok(bin.clone()),
            n => Err(needlemap::core::error::ResolveError::NoFiles(n.to_string())),
        }
    };
    assert!(Scene::from_toml_str_with(text, "t.toml", &resolve).is_ok());
    assert_eq!(*asked.borrow(), ["meshes/face.gltf", "meshes/face.bin"]);
    // A buffer elsewhere (up the tree, absolute, or a URL) is refused unread.
    for uri in ["../face.bin", "/etc/face.bin", "https://example.com/face.bin"] {
        let (json, _) = gltf_parts(&v, &t, uri);
        let err = load("face.gltf", json).unwrap_err();
        assert!(err.message.contains("is not a file beside it"), "{uri}: {err}");
    }
}

/// A face read in the wrong unit gets a note naming the unit that fits.
#[test]
fn a_mesh_in_the_wrong_unit_gets_a_note_naming_the_one_that_fits() {
    let (v, t) = face();
    let with_unit = |unit: &str| {
        let text = format!(
            "[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 40\n[[zones]]\nname = \"face\"\nmesh = \"face.stl\"\n{unit}\n\
             [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n"
        );
        let bytes = stl(&v, &t, true);
        let s = Scene::from_toml_str_with(&text, "t.toml", &|_| Ok(bytes.clone())).unwrap();
        s.zones[0].surface.as_ref().unwrap().warnings.clone()
    };
    // Read as mm, the face (in cm) is 15 mm across; as m, 150 m.
    for unit in ["", "mesh_unit_mm = 1000"] {
        let w = with_unit(unit);
        assert!(w.iter().any(|w| w.contains("give mesh_unit_mm = 10 (")), "{unit}: {w:?}");
    }
    assert!(!with_unit("mesh_unit_mm = 10").iter().any(|w| w.contains("mesh_unit_mm =")));
}

#[test]
fn broken_or_lying_mesh_files_are_refused_in_one_line() {
    let (v, t) = face();
    // A binary STL whose header claims more triangles than it holds.
    let mut lying = stl(&v, &t, true);
    lying[80..84].copy_from_slice(&(u32::MAX).to_le_bytes());
    let err = load("face.stl", lying).unwrap_err();
    assert!(err.message.contains("header says 4294967295 triangles"), "{err}");
    let cut = ply(&v, &t, true)[..5000].to_vec();
    let err = load("face.ply", cut).unwrap_err();
    assert!(err.message.contains("not a readable PLY file") && !err.message.contains('\n'), "one line: {err}");
    let err = load("face.glb", b"glTF not really".to_vec()).unwrap_err();
    assert!(err.message.contains("not a readable glTF file"), "{err}");
    let err = load("face.fbx", Vec::new()).unwrap_err();
    assert!(err.message.contains(".obj, .ply, .stl, .gltf or .glb"), "{err}");
    // Past fuzzing failures, kept: a GLB stating fewer bytes than its own
    // header (the gltf crate subtracted without a check), a glTF naming an
    // accessor it lacks (its validation indexed without a check), an STL
    // corner at infinity (the weld's grid overflowed).
    let mut short = glb(&v, &t);
    short[8..12].copy_from_slice(&3u32.to_le_bytes());
    assert!(load("face.glb", short).unwrap_err().message.contains("header states"));
    let (json, _) = gltf_parts(&v, &t, "face.bin");
    let json = String::from_utf8(json).unwrap().replace("\"POSITION\":0", "\"POSITION\":7");
    let err = load("face.gltf", json.into_bytes()).unwrap_err();
    assert!(err.message.contains("it names accessor 7, of 2"), "{err}");
    let mut far = stl(&v, &t, true);
    far[96..100].copy_from_slice(&f32::INFINITY.to_le_bytes());
    assert!(load("face.stl", far).unwrap_err().message.contains("not a finite number"));
    // Found by review: a node its own child and a node shared by two
    // parents (walked forever or times without end), a stride shorter
    // than its element and a sparse accessor (the crate panicked or
    // allocated without bound).
    let (json, _) = gltf_parts(&v, &t, "face.bin");
    let base: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut j = base.clone();
        edit(&mut j);
        load("face.gltf", j.to_string().into_bytes()).unwrap_err().message
    };
    assert!(broken(&|j| j["nodes"][0]["children"] = serde_json::json!([0])).contains("nodes must form trees"));
    assert!(
        broken(&|j| {
            j["nodes"] = serde_json::json!([{"mesh": 0, "children": [1, 1]}, {"mesh": 0}]);
        })
        .contains("nodes must form trees")
    );
    assert!(broken(&|j| j["bufferViews"][0]["byteStride"] = serde_json::json!(8)).contains("byteStride of 8"));
    assert!(
        broken(&|j| {
            j["accessors"][0] = serde_json::json!({"componentType": 5126, "count": 300000000u64, "type": "VEC3",
                "min": [0, 0, 0], "max": [1, 1, 1], "sparse": {"count": 1, "indices": {"bufferView": 1, "componentType": 5125}, "values": {"bufferView": 0}}});
        })
        .contains("sparse accessor")
    );
    // A bowtie whose one fan is closed: a vertex's fan all round it, and a
    // second fan meeting it there only (the boundary count missed it).
    let mut bow = String::from("v 0 0 0\n");
    for k in 0..6 {
        let a = k as f64 * std::f64::consts::PI / 3.0;
        bow.push_str(&format!("v {} {} 0\n", 20.0 * a.cos(), 20.0 * a.sin()));
    }
    bow.push_str("v 6 4 20\nv -6 4 20\n");
    for k in 0..6 {
        bow.push_str(&format!("f 1 {} {}\n", k + 2, (k + 1) % 6 + 2));
    }
    bow.push_str("f 2 3 8\nf 8 3 9\nf 1 8 9\n");
    let err = load("bow.obj", bow.into_bytes()).unwrap_err();
    assert!(err.message.contains("bowtie at vertex 0"), "{err}");
    // Ascii STLs with a bare `solid` line or blanks before it read as ascii.
    let good = stl(&v, &t, false);
    let bare = [b"solid\n".as_slice(), &good[good.iter().position(|&b| b == b'\n').unwrap() + 1..]].concat();
    let lead = [b"  \n".as_slice(), &good].concat();
    for (what, bytes) in [("bare", bare), ("leading blanks", lead)] {
        let s = load("face.stl", bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(s.zones[0].surface.as_ref().unwrap().mesh.triangles.len(), t.len(), "{what}");
    }
    // A PLY face naming a vertex that is not there.
    let mut bad = t.clone();
    bad[3][1] = 99_999;
    let err = load("face.ply", ply(&v, &bad, false)).unwrap_err();
    assert!(err.message.contains("names a vertex that does not exist"), "{err}");
}

/// Debian's assimp-testmodels (installed by scripts/test): meshes other
/// exporters wrote. Each imports with its true area (summed here from the
/// ascii file) or is refused in one line naming why, the same for a
/// format's ascii and binary twins; what the refusals name is checked here
/// independently where it can be.
#[test]
fn assimp_test_models_import_with_their_area_or_are_refused_naming_why() {
    let root = std::path::Path::new("/usr/share/assimp/models");
    assert!(root.is_dir(), "{} is missing: scripts/test installs Debian's assimp-testmodels", root.display());
    let outcome = |file: &str| {
        let bytes = std::fs::read(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let name = file.rsplit('/').next().unwrap();
        let text = format!(
            "[cartridge]\npreset = \"pen-12\"\n[hand]\nspeed_mm_s = 40\n[[zones]]\nname = \"z\"\nmesh = \"{name}\"\n\
             [[zones.passes]]\npattern = \"horizontal\"\nlane_spacing_mm = 4\n"
        );
        Scene::from_toml_str_with(&text, "t.toml", &|_| Ok(bytes.clone()))
            .map(|s| s.zones[0].surface.as_ref().unwrap().mesh.area_3d_mm2())
            .map_err(|e| {
                assert!(!e.message.contains('\n'), "{file}: one line: {e}");
                e.message
            })
    };
    // An ascii STL's triangles, read here.
    let stl_triangles = |file: &str| -> Vec<[[f64; 3]; 3]> {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let v: Vec<[f64; 3]> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("vertex"))
            .map(|l| {
                let c: Vec<f64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
                [c[0], c[1], c[2]]
            })
            .collect();
        v.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
    };
    let area = |t: &[[f64; 3]; 3]| {
        let [a, b, c] = *t;
        let (e1, e2) = ([b[0] - a[0], b[1] - a[1], b[2] - a[2]], [c[0] - a[0], c[1] - a[1], c[2] - a[2]]);
        let n = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]];
        (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() / 2.0
    };
    // One triangle: its area.
    let exact: f64 = stl_triangles("STL/triangle.stl").iter().map(area).sum();
    let got = outcome("STL/triangle.stl").unwrap();
    assert!((got / exact - 1.0).abs() < 0.005, "triangle.stl: {got} against {exact}");
    // The spider, from OBJ and both STLs: triangle 924 has no area (its
    // corners, read here, are collinear or repeated).
    let spider = stl_triangles("STL/Spider_ascii.stl");
    let scale = spider.iter().flatten().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!(area(&spider[924]) <= 1e-12 * scale * scale, "test set-up: {:?}", spider[924]);
    for file in ["OBJ/spider.obj", "STL/Spider_ascii.stl", "STL/Spider_binary.stl"] {
        let err = outcome(file).unwrap_err();
        assert!(err.contains("triangle 924 is degenerate"), "{file}: {err}");
    }
    // The sphere with a hole: its hole's rim runs twice through two corners,
    // (1.5, 1.5, 0) among them: four boundary edges meet there (counted here).
    let sphere = stl_triangles("STL/sphereWithHole.stl");
    let key = |p: [f64; 3]| p.map(|c| (c * 1e4).round() as i64);
    let mut edges: std::collections::HashMap<([i64; 3], [i64; 3]), usize> = Default::default();
    for t in &sphere {
        for k in 0..3 {
            let (a, b) = (key(t[k]), key(t[(k + 1) % 3]));
            *edges.entry((a.min(b), a.max(b))).or_default() += 1;
        }
    }
    let corner = key([1.5, 1.5, 0.0]);
    let rims = edges.iter().filter(|(e, n)| **n == 1 && (e.0 == corner || e.1 == corner)).count();
    assert_eq!(rims, 4, "test set-up");
    assert!(outcome("STL/sphereWithHole.stl").unwrap_err().contains("bowtie"));
    // Closed cubes, ascii and binary PLY, and a closed OBJ box.
    for file in ["PLY/cube.ply", "PLY/cube_binary.ply", "OBJ/box.obj"] {
        assert!(outcome(file).unwrap_err().contains("is closed"), "{file}");
    }
    // Blender's Wuson (a header line that is no PLY keyword, read as a
    // comment) and 3ds Max's export: edges shared by three triangles.
    for file in ["PLY/Wuson.ply", "STL/Wuson.stl", "STL/3DSMaxExport.STL"] {
        assert!(outcome(file).unwrap_err().contains("non-manifold"), "{file}");
    }
}
