//! Zone meshes from the formats scanners and phones export, each through a
//! well-kept crate: PLY (ascii and binary, `ply-rs-bw`), STL (ascii and
//! binary, `stl_io`; its unshared corners welded within a tolerance), glTF
//! 2.0 and GLB (`gltf`), besides OBJ ([`super::obj`]). Each gives a
//! [`RawMesh`] that [`super::obj::finish`] checks and charts the same way.
//! Reading files is the caller's job: bytes come in, and a glTF's external
//! buffers through `beside`.

use crate::core::geometry::mesh::Vec3;
use crate::core::geometry::obj::{self, ObjError, ObjMesh, RawMesh};
use crate::core::geometry::shape::Vec2;
use crate::core::timing::stage;
use std::collections::HashMap;

/// The mesh formats read, by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Wavefront OBJ.
    Obj,
    /// Stanford PLY, ascii or binary.
    Ply,
    /// STL, ascii or binary.
    Stl,
    /// glTF 2.0 (JSON, buffers embedded or beside it).
    Gltf,
    /// Binary glTF.
    Glb,
}

/// What the file extensions accept, for messages.
pub const ACCEPTED: &str = ".obj, .ply, .stl, .gltf or .glb";

impl Format {
    /// The format of a file name, by its extension (any case).
    pub fn of(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "obj" => Format::Obj,
            "ply" => Format::Ply,
            "stl" => Format::Stl,
            "gltf" => Format::Gltf,
            "glb" => Format::Glb,
            _ => return None,
        })
    }
}

/// A mesh file's bytes as a zone mesh (see [`obj::parse_obj`] for `group`
/// and `unit_mm`; in glTF a group names a mesh or a node). `beside(name)`
/// reads a file a glTF names, relative to it.
pub fn parse_mesh(
    format: Format,
    bytes: &[u8],
    group: Option<&str>,
    unit_mm: f64,
    beside: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<ObjMesh, ObjError> {
    let mut parsed = parse_any(format, bytes, group, unit_mm, beside)?;
    if let Some(w) = unit_warning(&parsed.mesh, unit_mm) {
        parsed.warnings.push(w);
    }
    Ok(parsed)
}

/// A mesh file of skin is usually this many mm across (a face is about 150,
/// a back 500): outside, its unit may not be the one given (a face 3 cm or
/// 3 m wide). Only a note: a small patch may be smaller.
pub const PLAUSIBLE_EXTENT_MM: [f64; 2] = [35.0, 1000.0];

/// A note when the mesh is implausibly small or large for skin, naming the
/// `mesh_unit_mm` that would make it a face's size (about 150 mm).
pub fn unit_warning(mesh: &crate::core::geometry::mesh::Mesh, unit_mm: f64) -> Option<String> {
    let (mut lo, mut hi) = (Vec3::repeat(f64::INFINITY), Vec3::repeat(f64::NEG_INFINITY));
    for p in &mesh.positions_mm {
        lo = lo.inf(p);
        hi = hi.sup(p);
    }
    let extent = (hi - lo).max();
    if (PLAUSIBLE_EXTENT_MM[0]..=PLAUSIBLE_EXTENT_MM[1]).contains(&extent) {
        return None;
    }
    // The common units, the one bringing the mesh nearest a face's 150 mm.
    let units = [(0.001, "µm"), (1.0, "mm"), (10.0, "cm"), (25.4, "inch"), (1000.0, "m")];
    let in_units = extent / unit_mm;
    let (best, name) = units
        .iter()
        .min_by(|a, b| ((in_units * a.0 / 150.0).ln().abs()).total_cmp(&(in_units * b.0 / 150.0).ln().abs()))
        .copied()?;
    Some(format!(
        "it is {extent:.3} mm across with mesh_unit_mm = {unit_mm}, unlike most skin meshes ({} to {} mm): if its unit is the {name}, give mesh_unit_mm = {best} ({:.0} mm across); a patch this size needs nothing",
        PLAUSIBLE_EXTENT_MM[0],
        PLAUSIBLE_EXTENT_MM[1],
        in_units * best
    ))
}

fn parse_any(
    format: Format,
    bytes: &[u8],
    group: Option<&str>,
    unit_mm: f64,
    beside: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<ObjMesh, ObjError> {
    let unreadable =
        |what: &str, e: String| ObjError::NotReadable(format!("not a readable {what} file ({})", one_line(&e)));
    let no_groups = |what: &str| -> Result<(), ObjError> {
        match group {
            Some(g) => Err(ObjError::NoGroup {
                group: g.to_string(),
                known: vec![format!("none: a {what} file has no groups")],
            }),
            None => Ok(()),
        }
    };
    let mb = bytes.len() as f64 / 1e6;
    let read = || -> Result<obj::RawMesh, ObjError> {
        Ok(match format {
            Format::Obj => {
                let text = crate::core::format::utf8_text(bytes).map_err(|e| ObjError::NotReadable(e.to_string()))?;
                obj::read_obj(text, group, unit_mm)?
            }
            Format::Ply => {
                no_groups("PLY")?;
                welded(read_ply(bytes, unit_mm).map_err(|e| unreadable("PLY", e))?)
            }
            Format::Stl => {
                no_groups("STL")?;
                welded(read_stl(bytes, unit_mm).map_err(|e| unreadable("STL", e))?)
            }
            Format::Gltf | Format::Glb => welded(read_gltf(bytes, group, unit_mm, beside)?),
        })
    };
    let raw = stage(|| format!("reading the mesh ({mb:.1} MB)"), read)?;
    obj::finish(raw, group)
}

/// A reader's message on one line (an error is one line).
fn one_line(e: &str) -> String {
    e.split_whitespace().collect::<Vec<_>>().join(" ").trim_end_matches('.').to_string()
}

/// The number a PLY property holds, if it is a number.
fn scalar(p: &ply_rs_bw::ply::Property) -> Option<f64> {
    use ply_rs_bw::ply::Property as P;
    Some(match *p {
        P::Char(v) => v as f64,
        P::UChar(v) => v as f64,
        P::Short(v) => v as f64,
        P::UShort(v) => v as f64,
        P::Int(v) => v as f64,
        P::UInt(v) => v as f64,
        P::Float(v) => v as f64,
        P::Double(v) => v,
        _ => return None,
    })
}

/// The indices a PLY list property holds (negative ones as out of range).
fn indices(p: &ply_rs_bw::ply::Property) -> Option<Vec<u32>> {
    use ply_rs_bw::ply::Property as P;
    let wide = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Some(match p {
        P::ListChar(v) => v.iter().map(|&i| wide(i as i64)).collect(),
        P::ListUChar(v) => v.iter().map(|&i| i as u32).collect(),
        P::ListShort(v) => v.iter().map(|&i| wide(i as i64)).collect(),
        P::ListUShort(v) => v.iter().map(|&i| i as u32).collect(),
        P::ListInt(v) => v.iter().map(|&i| wide(i as i64)).collect(),
        P::ListUInt(v) => v.clone(),
        _ => return None,
    })
}

/// Triangles of a polygon face by a fan from its first corner.
fn fan(face: &[u32], out: &mut Vec<[u32; 3]>) {
    for k in 1..face.len().saturating_sub(1) {
        out.push([face[0], face[k], face[k + 1]]);
    }
}

/// A PLY header's lines that are no keyword, as some exporters write them
/// (Blender 2.47: "Created by Blender3D ..."), read as comments.
const PLY_HEADER_WORDS: [&str; 7] = ["ply", "format", "comment", "obj_info", "element", "property", "end_header"];

fn lenient_ply_header(bytes: &[u8]) -> Option<Vec<u8>> {
    let end = bytes.windows(11).take(64 << 10).position(|w| w == b"end_header\n" || w == b"end_header\r")?;
    let header = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut fixed = false;
    let mut out = String::new();
    for line in header.split_inclusive('\n') {
        let word = line.split_whitespace().next().unwrap_or("");
        if !word.is_empty() && !PLY_HEADER_WORDS.contains(&word) {
            out.push_str("comment ");
            fixed = true;
        }
        out.push_str(line);
    }
    fixed.then(|| [out.as_bytes(), &bytes[end..]].concat())
}

fn read_ply(bytes: &[u8], unit_mm: f64) -> Result<RawMesh, String> {
    let parser = ply_rs_bw::parser::Parser::<ply_rs_bw::ply::DefaultElement>::new();
    let lenient = lenient_ply_header(bytes);
    let bytes = lenient.as_deref().unwrap_or(bytes);
    let ply = parser.read_ply(&mut std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let vertices = ply.payload.get("vertex").ok_or("it has no `vertex` element")?;
    let mut positions_mm = Vec::with_capacity(vertices.len());
    let mut uvs = Vec::with_capacity(vertices.len());
    let mut uv_usable = true;
    for (i, v) in vertices.iter().enumerate() {
        let c = |k: &str| v.get(k).and_then(scalar);
        let (Some(x), Some(y), Some(z)) = (c("x"), c("y"), c("z")) else {
            return Err(format!("vertex {i} lacks a numeric x, y or z"));
        };
        positions_mm.push(Vec3::new(x, y, z) * unit_mm);
        let uv = [("u", "v"), ("s", "t"), ("texture_u", "texture_v")]
            .iter()
            .find_map(|(a, b)| Some(Vec2::new(c(a)?, c(b)?)));
        uv_usable &= uv.is_some();
        uvs.push(uv);
    }
    let faces = ply.payload.get("face").ok_or("it has no `face` element")?;
    let mut triangles = Vec::with_capacity(faces.len());
    for (i, f) in faces.iter().enumerate() {
        let list = f
            .get("vertex_indices")
            .or_else(|| f.get("vertex_index"))
            .and_then(indices)
            .ok_or_else(|| format!("face {i} lacks a vertex_indices list"))?;
        fan(&list, &mut triangles);
    }
    Ok(RawMesh { positions_mm, triangles, uvs, uv_usable, names: Vec::new() })
}

/// The mesh with coincident vertices merged (exporters split vertices where
/// normals or UVs differ: PLY and glTF, and STL stores every corner apart).
/// Merged vertices with different UVs leave the UVs unusable as a chart.
fn welded(raw: RawMesh) -> RawMesh {
    let (positions_mm, index) = weld(&raw.positions_mm);
    if positions_mm.len() == raw.positions_mm.len() {
        return raw;
    }
    let mut uvs: Vec<Option<Vec2>> = vec![None; positions_mm.len()];
    let mut uv_usable = raw.uv_usable;
    for (old, &new) in index.iter().enumerate() {
        match (uvs[new as usize], raw.uvs.get(old).copied().flatten()) {
            (None, uv) => uvs[new as usize] = uv,
            (Some(a), Some(b)) if (a - b).norm() > 1e-9 => uv_usable = false,
            _ => {}
        }
    }
    let remap = |v: u32| index.get(v as usize).copied().unwrap_or(u32::MAX);
    let triangles = raw.triangles.iter().map(|t| t.map(remap)).collect();
    RawMesh { positions_mm, triangles, uvs, uv_usable, names: raw.names }
}

/// The welding tolerance of coincident vertices, as a share of its extent:
/// STL stores each triangle's corners apart, so shared corners must be found.
pub const STL_WELD_SHARE: f64 = 1e-6;

fn read_stl(bytes: &[u8], unit_mm: f64) -> Result<RawMesh, String> {
    // A binary file states its count: it must match its length (never trust
    // a count to size anything).
    // An ascii file may start with blanks, which the reader does not expect.
    let trimmed = bytes.trim_ascii_start();
    let ascii = trimmed.starts_with(b"solid") && trimmed.windows(5).take(4096).any(|w| w == b"facet");
    let bytes = if ascii { trimmed } else { bytes };
    if !ascii {
        let n = bytes
            .get(80..84)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
            .ok_or("shorter than a header")?;
        if bytes.len() != 84 + 50 * n {
            return Err(format!(
                "binary, its header says {n} triangles but it is {} bytes, not {}",
                bytes.len(),
                84 + 50 * n
            ));
        }
    }
    // The reader expects `solid NAME`: `solid<TAB>name` and a bare `solid`
    // (both common) are given it as `solid name`.
    let own: Vec<u8>;
    let mut bytes = bytes;
    if ascii && bytes.get(5) != Some(&b' ') {
        let rest = if bytes.get(5) == Some(&b'\t') { &bytes[6..] } else { &bytes[5..] };
        own = [
            b"solid ".as_slice(),
            if rest.starts_with(b"\n") || rest.starts_with(b"\r") { b"mesh" } else { b"" },
            rest,
        ]
        .concat();
        bytes = &own;
    }
    let mut cursor = std::io::Cursor::new(bytes);
    let reader = stl_io::create_stl_reader(&mut cursor).map_err(|e| e.to_string())?;
    let mut corners: Vec<Vec3> = Vec::new();
    for t in reader {
        let t = t.map_err(|e| e.to_string())?;
        for v in t.vertices {
            corners.push(Vec3::new(v[0] as f64, v[1] as f64, v[2] as f64) * unit_mm);
        }
    }
    // Every corner apart; `welded` finds the shared ones.
    let triangles = (0..corners.len() as u32 / 3).map(|t| [3 * t, 3 * t + 1, 3 * t + 2]).collect();
    let n = corners.len();
    Ok(RawMesh { positions_mm: corners, triangles, uvs: vec![None; n], uv_usable: false, names: Vec::new() })
}

/// Merges points within `STL_WELD_SHARE` of the extent of one another (a grid
/// of that side, each point checked against its cell and the 26 around it):
/// the distinct points, and each input point's index among them.
pub fn weld(points: &[Vec3]) -> (Vec<Vec3>, Vec<u32>) {
    let (mut lo, mut hi) = (Vec3::repeat(f64::INFINITY), Vec3::repeat(f64::NEG_INFINITY));
    let finite = |p: &Vec3| p.iter().all(|c| c.is_finite());
    for p in points.iter().filter(|p| finite(p)) {
        lo = lo.inf(p);
        hi = hi.sup(p);
    }
    let tol = ((hi - lo).norm() * STL_WELD_SHARE).max(1e-12);
    if !tol.is_finite() {
        // Coordinates too large to measure apart: nothing is welded (the
        // checks refuse such a mesh or its unit).
        return (points.to_vec(), (0..points.len() as u32).collect());
    }
    let key = |p: &Vec3| [0, 1, 2].map(|k| ((p[k] - lo[k]) / tol).floor() as i64);
    let mut grid: HashMap<[i64; 3], Vec<u32>> = HashMap::new();
    let mut out: Vec<Vec3> = Vec::new();
    let mut index = Vec::with_capacity(points.len());
    for p in points {
        if !finite(p) {
            // Kept apart, for the checks to name.
            out.push(*p);
            index.push((out.len() - 1) as u32);
            continue;
        }
        let k = key(p);
        let mut found = None;
        'search: for dx in -1..=1i64 {
            for dy in -1..=1i64 {
                for dz in -1..=1i64 {
                    let cell = [k[0].saturating_add(dx), k[1].saturating_add(dy), k[2].saturating_add(dz)];
                    if let Some(ids) = grid.get(&cell)
                        && let Some(&i) = ids.iter().find(|&&i| (out[i as usize] - p).norm() <= tol)
                    {
                        found = Some(i);
                        break 'search;
                    }
                }
            }
        }
        let i = found.unwrap_or_else(|| {
            out.push(*p);
            let i = (out.len() - 1) as u32;
            grid.entry(k).or_default().push(i);
            i
        });
        index.push(i);
    }
    (out, index)
}

/// A URI's %XX escapes decoded (Blender writes `face%20model.bin`).
fn percent_decoded(uri: &str) -> String {
    let b = uri.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex =
            b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The glTF's JSON (the GLB's first chunk, or the whole file).
fn gltf_json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let json = if bytes.starts_with(b"glTF") {
        let len =
            bytes.get(12..16).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize).ok_or("no JSON chunk")?;
        bytes.get(20..20usize.saturating_add(len)).ok_or("its JSON chunk runs past the file")?
    } else {
        bytes
    };
    serde_json::from_slice(json).map_err(|e| e.to_string())
}

/// Checks every index and range the glTF's JSON gives before the reader
/// sees it (the `gltf` crate indexes some without checking, and panics):
/// accessors, buffer views, buffers, meshes, nodes and scenes named exist,
/// and each view lies in its buffer and each accessor in its view.
fn check_gltf_references(bytes: &[u8]) -> Result<(), String> {
    let j = gltf_json(bytes)?;
    let len = |k: &str| j.get(k).and_then(|v| v.as_array()).map_or(0, Vec::len);
    let (accessors, views, buffers, meshes, nodes) =
        (len("accessors"), len("bufferViews"), len("buffers"), len("meshes"), len("nodes"));
    let index = |v: &serde_json::Value, below: usize, what: &str| -> Result<usize, String> {
        match v.as_u64() {
            Some(i) if (i as usize) < below => Ok(i as usize),
            _ => Err(format!("it names {what} {v}, of {below}")),
        }
    };
    let items = |k: &str| j.get(k).and_then(|v| v.as_array()).cloned().unwrap_or_default();
    let num = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0) as usize;
    let buffer_items = items("buffers");
    let view_items = items("bufferViews");
    for m in items("meshes") {
        for p in m.get("primitives").and_then(|v| v.as_array()).cloned().unwrap_or_default() {
            if let Some(attrs) = p.get("attributes").and_then(|v| v.as_object()) {
                for a in attrs.values() {
                    index(a, accessors, "accessor")?;
                }
            }
            if let Some(i) = p.get("indices") {
                index(i, accessors, "accessor")?;
            }
            for t in p.get("targets").and_then(|v| v.as_array()).cloned().unwrap_or_default() {
                for a in t.as_object().map(|o| o.values().cloned().collect::<Vec<_>>()).unwrap_or_default() {
                    index(&a, accessors, "accessor")?;
                }
            }
        }
    }
    for v in &view_items {
        let b = index(v.get("buffer").unwrap_or(&serde_json::Value::Null), buffers, "buffer")?;
        let end = num(v, "byteOffset").checked_add(num(v, "byteLength")).ok_or("a view's range overflows")?;
        if end > num(&buffer_items[b], "byteLength") {
            return Err(format!("a buffer view ends at byte {end}, past its buffer"));
        }
    }
    for a in items("accessors") {
        if a.get("sparse").is_some() || a.get("bufferView").is_none() {
            return Err("a sparse accessor or one without a buffer view (not read)".into());
        }
        if let Some(v) = a.get("bufferView") {
            let v = index(v, views, "buffer view")?;
            let size = match a.get("type").and_then(|t| t.as_str()) {
                Some("SCALAR") => 1,
                Some("VEC2") => 2,
                Some("VEC3") => 3,
                Some("VEC4" | "MAT2") => 4,
                Some("MAT3") => 9,
                Some("MAT4") => 16,
                _ => return Err("an accessor of no known type".into()),
            };
            let bytes_each = match num(&a, "componentType") {
                5120 | 5121 => 1,
                5122 | 5123 => 2,
                5125 | 5126 => 4,
                t => return Err(format!("an accessor of component type {t}")),
            } * size;
            let stated = num(&view_items[v], "byteStride");
            if stated != 0 && stated < bytes_each {
                return Err(format!("a byteStride of {stated}, under its element's {bytes_each} bytes"));
            }
            let stride = stated.max(bytes_each);
            let count = num(&a, "count");
            let need = (count.max(1) - 1)
                .checked_mul(stride)
                .and_then(|x| x.checked_add(bytes_each))
                .and_then(|x| x.checked_add(num(&a, "byteOffset")))
                .ok_or("an accessor's range overflows")?;
            if count > 0 && need > num(&view_items[v], "byteLength") {
                return Err(format!("an accessor needs {need} bytes, past its view"));
            }
        }
    }
    for n in items("nodes") {
        if let Some(m) = n.get("mesh") {
            index(m, meshes, "mesh")?;
        }
        for c in n.get("children").and_then(|v| v.as_array()).cloned().unwrap_or_default() {
            index(&c, nodes, "node")?;
        }
    }
    // The nodes must form trees: one parent at most, no cycle (a node that
    // is its own ancestor would be walked forever; shared children, times
    // without end).
    let mut parent = vec![usize::MAX; nodes];
    for (i, n) in items("nodes").iter().enumerate() {
        for c in n.get("children").and_then(|v| v.as_array()).cloned().unwrap_or_default() {
            let c = index(&c, nodes, "node")?;
            if parent[c] != usize::MAX || c == i {
                return Err(format!("node {c} has two parents or is its own child: nodes must form trees"));
            }
            parent[c] = i;
        }
    }
    for start in 0..nodes {
        let (mut at, mut steps) = (start, 0);
        while parent[at] != usize::MAX {
            at = parent[at];
            steps += 1;
            if steps > nodes {
                return Err(format!("node {start} is its own ancestor: nodes must form trees"));
            }
        }
    }
    let scenes = items("scenes");
    for sc in &scenes {
        for n in sc.get("nodes").and_then(|v| v.as_array()).cloned().unwrap_or_default() {
            index(&n, nodes, "node")?;
        }
    }
    if let Some(s) = j.get("scene") {
        index(s, scenes.len(), "scene")?;
    }
    Ok(())
}

fn read_gltf(
    bytes: &[u8],
    group: Option<&str>,
    unit_mm: f64,
    beside: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<RawMesh, ObjError> {
    let bad = |e: String| ObjError::NotReadable(format!("not a readable glTF file ({})", one_line(&e)));
    // The reader subtracts the header's size from the length it states
    // without a check: a GLB stating under 12 bytes is refused here.
    if bytes.starts_with(b"glTF") {
        let stated = bytes.get(8..12).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize);
        if !stated.is_some_and(|n| (12..=bytes.len()).contains(&n)) {
            return Err(bad(format!("its header states {stated:?} bytes; the file is {}", bytes.len())));
        }
    }
    check_gltf_references(bytes).map_err(bad)?;
    let doc = gltf::Gltf::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    // Every buffer's bytes: the GLB's own chunk, a data URI, or a file beside.
    let mut buffers: Vec<Vec<u8>> = Vec::new();
    for b in doc.buffers() {
        let data = match b.source() {
            gltf::buffer::Source::Bin => doc.blob.clone().ok_or_else(|| bad("no binary chunk".into()))?,
            gltf::buffer::Source::Uri(uri) => {
                if let Some(rest) = uri.strip_prefix("data:") {
                    let (_, b64) =
                        rest.split_once(";base64,").ok_or_else(|| bad("a data URI that is not base64".into()))?;
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| bad(format!("buffer: {e}")))?
                } else {
                    let name = percent_decoded(uri);
                    let outside = |n: &str| {
                        n.contains(':') || n.starts_with(['/', '\\']) || n.split(['/', '\\']).any(|part| part == "..")
                    };
                    if outside(uri) || outside(&name) {
                        return Err(bad(format!("buffer `{uri}` is not a file beside it")));
                    }
                    beside(&name).map_err(bad)?
                }
            }
        };
        if data.len() < b.length() {
            return Err(bad(format!("buffer {} is {} bytes, not {}", b.index(), data.len(), b.length())));
        }
        buffers.push(data);
    }
    let names: Vec<String> = doc
        .meshes()
        .map(|m| m.name().map_or(format!("mesh{}", m.index()), str::to_string))
        .chain(doc.nodes().filter_map(|n| n.name().map(str::to_string)))
        .collect();
    // Meshes as the scene places them (node transforms applied); a group
    // names a mesh or a node (and so what lies under it).
    let mut placed: Vec<(gltf::Mesh, nalgebra::Matrix4<f64>)> = Vec::new();
    fn walk<'a>(
        node: gltf::Node<'a>,
        parent: nalgebra::Matrix4<f64>,
        chosen: bool,
        group: Option<&str>,
        out: &mut Vec<(gltf::Mesh<'a>, nalgebra::Matrix4<f64>)>,
    ) {
        let m = node.transform().matrix();
        let local = nalgebra::Matrix4::from_fn(|r, c| m[c][r] as f64);
        let world = parent * local;
        let chosen = chosen || group.is_some_and(|g| node.name() == Some(g));
        if let Some(mesh) = node.mesh() {
            let named = |g: &str| mesh.name() == Some(g) || format!("mesh{}", mesh.index()) == g;
            if group.is_none() || chosen || group.is_some_and(named) {
                out.push((mesh, world));
            }
        }
        for child in node.children() {
            walk(child, world, chosen, group, out);
        }
    }
    let scene = doc.default_scene().or_else(|| doc.scenes().next());
    match scene {
        Some(s) => s.nodes().for_each(|n| walk(n, nalgebra::Matrix4::identity(), false, group, &mut placed)),
        None => placed.extend(doc.meshes().map(|m| (m, nalgebra::Matrix4::identity()))),
    }
    if let Some(g) = group
        && placed.is_empty()
    {
        return Err(ObjError::NoGroup { group: g.to_string(), known: names });
    }
    let (mut positions_mm, mut triangles, mut uvs) = (Vec::new(), Vec::new(), Vec::new());
    let mut uv_usable = true;
    for (mesh, world) in &placed {
        for prim in mesh.primitives() {
            if prim.mode() != gltf::mesh::Mode::Triangles {
                continue;
            }
            let reader = prim.reader(|b| buffers.get(b.index()).map(Vec::as_slice));
            let base = positions_mm.len() as u32;
            let points = reader.read_positions().ok_or_else(|| bad("a primitive without positions".into()))?;
            for p in points {
                let q = world * nalgebra::Vector4::new(p[0] as f64, p[1] as f64, p[2] as f64, 1.0);
                positions_mm.push(Vec3::new(q.x, q.y, q.z) * unit_mm);
            }
            let count = positions_mm.len() as u32 - base;
            match reader.read_tex_coords(0) {
                Some(tc) => uvs.extend(tc.into_f32().map(|t| Some(Vec2::new(t[0] as f64, 1.0 - t[1] as f64)))),
                None => {
                    uv_usable = false;
                    uvs.extend((0..count).map(|_| None));
                }
            }
            uvs.resize(positions_mm.len(), None);
            let corners: Vec<u32> = match reader.read_indices() {
                Some(ix) => ix.into_u32().collect(),
                None => (0..count).collect(),
            };
            for c in corners.chunks_exact(3) {
                let out_of_range = |i: u32| if i < count { base + i } else { u32::MAX };
                triangles.push([out_of_range(c[0]), out_of_range(c[1]), out_of_range(c[2])]);
            }
        }
    }
    Ok(RawMesh { positions_mm, triangles, uvs, uv_usable, names })
}
