//! Zone meshes from Wavefront OBJ text (parsed with tobj): the whole file or
//! one group/object, positions scaled to mm, with a chart from the file's UVs
//! when they are one seam-free island and nearly isometric, else a
//! least-squares conformal map. Reading the file is the caller's job.

use crate::core::geometry::mesh::{Mesh, MeshProblem, Vec3};
use crate::core::geometry::shape::Vec2;
use crate::core::timing::stage;

/// Mean area deviation of the UVs (after scaling to mm) under which they are
/// used as the chart: 10 % keeps density maps honest to about that.
pub const UV_MAX_MEAN_AREA_DEVIATION: f64 = 0.10;

/// How the chart of an imported mesh was made.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjMesh {
    /// The mesh in mm, with its chart (from the UVs or LSCM, see `chart_method`).
    pub mesh: Mesh,
    /// "uv" or "lscm".
    pub chart_method: &'static str,
    /// Things the user should know (e.g. why the UVs were not used).
    pub warnings: Vec<String>,
}

/// Why OBJ text gives no zone mesh.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ObjError {
    /// tobj could not read the text.
    #[error("not a readable OBJ file ({0})")]
    Unreadable(tobj::LoadError),
    /// A file of another format that its reader could not read (the text says why).
    #[error("{0}")]
    NotReadable(String),
    /// The named group or object is not in the file.
    #[error("has no group or object `{group}`; it has: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    NoGroup {
        /// The group asked for.
        group: String,
        /// The groups and objects the file has.
        known: Vec<String>,
    },
    /// No faces (in the group, when one was asked for).
    #[error("{}", match group { Some(g) => format!("group `{g}` has no faces"), None => "has no faces".to_string() })]
    NoFaces {
        /// The group asked for, if any.
        group: Option<String>,
    },
    /// The mesh is not a usable zone surface.
    #[error("{0}")]
    Mesh(MeshProblem),
    /// The whole file was taken and its objects are separate pieces.
    #[error("{problem}; this file has several groups or objects ({}): name one as FILE#NAME", known.join(", "))]
    SeparateObjects {
        /// What the mesh check found ([`MeshProblem::SeparatePieces`]).
        problem: MeshProblem,
        /// The groups and objects the file has.
        known: Vec<String>,
    },
    /// Its chart folds: the surface cannot be flattened in one piece.
    #[error("{0}: the surface cannot be flattened into one chart (cut it into smaller groups)")]
    CannotFlatten(MeshProblem),
}

/// Parses OBJ text into one zone mesh. `group`: the OBJ group or object to
/// use (all of the file when `None`); `unit_mm`: millimetres per OBJ unit.
pub fn parse_obj(text: &str, group: Option<&str>, unit_mm: f64) -> Result<ObjMesh, ObjError> {
    finish(read_obj(text, group, unit_mm)?, group)
}

/// Reads OBJ text (with `tobj`) into a mesh as the file gives it, before the
/// checks and the chart (see [`parse_obj`]).
pub fn read_obj(text: &str, group: Option<&str>, unit_mm: f64) -> Result<RawMesh, ObjError> {
    let opts = tobj::LoadOptions { triangulate: true, single_index: false, ignore_points: true, ignore_lines: true };
    let (models, _materials) =
        tobj::load_obj_buf(&mut text.as_bytes(), &opts, |_| Err(tobj::LoadError::OpenFileFailed))
            .map_err(ObjError::Unreadable)?;
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    let chosen: Vec<&tobj::Model> = match group {
        Some(g) => {
            let m = models.iter().find(|m| m.name == g).ok_or_else(|| ObjError::NoGroup {
                group: g.to_string(),
                known: names.iter().map(|n| n.to_string()).collect(),
            })?;
            vec![m]
        }
        None => models.iter().collect(),
    };
    let mut positions_mm = Vec::new();
    let mut triangles = Vec::new();
    let mut uvs: Vec<Option<Vec2>> = Vec::new();
    let mut uv_usable = true;
    for m in chosen {
        let base = positions_mm.len() as u32;
        let mesh = &m.mesh;
        for p in mesh.positions.chunks_exact(3) {
            positions_mm.push(Vec3::new(p[0] as f64, p[1] as f64, p[2] as f64) * unit_mm);
        }
        uvs.resize(positions_mm.len(), None);
        let has_uv = !mesh.texcoord_indices.is_empty() && mesh.texcoord_indices.len() == mesh.indices.len();
        uv_usable &= has_uv;
        for (k, t) in mesh.indices.chunks_exact(3).enumerate() {
            triangles.push([base + t[0], base + t[1], base + t[2]]);
            if has_uv {
                for (c, &tv) in t.iter().enumerate() {
                    let vi = (base + tv) as usize;
                    let ti = mesh.texcoord_indices[3 * k + c] as usize;
                    let uv = mesh.texcoords.get(2 * ti..2 * ti + 2).map(|w| Vec2::new(w[0] as f64, w[1] as f64));
                    match (uvs.get(vi).copied().flatten(), uv) {
                        (_, None) => uv_usable = false,
                        (None, Some(uv)) => uvs[vi] = Some(uv),
                        // A vertex with two UVs sits on a UV seam: the chart would be cut.
                        (Some(old), Some(uv)) if (old - uv).norm() > 1e-9 => uv_usable = false,
                        _ => {}
                    }
                }
            }
        }
    }
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    Ok(RawMesh { positions_mm, triangles, uvs, uv_usable, names })
}

/// A mesh as a file gives it, before the checks and the chart: positions
/// (mm), triangles, a UV per vertex where the file has one (`uv_usable`
/// false when some face has none or a vertex has two), and the file's
/// group, object or mesh names.
pub struct RawMesh {
    /// Vertex positions, mm.
    pub positions_mm: Vec<Vec3>,
    /// Triangles (vertex indices).
    pub triangles: Vec<[u32; 3]>,
    /// Each vertex's UV, if the file gives one.
    pub uvs: Vec<Option<Vec2>>,
    /// Whether the UVs may make a chart (every face has them, no vertex two).
    pub uv_usable: bool,
    /// The file's groups, objects or meshes, for messages.
    pub names: Vec<String>,
}

/// Checks a mesh read from any format and gives it its chart: unused
/// vertices dropped, the 3D checks, consistent winding, then the file's UVs
/// when usable, else LSCM, else a Tutte chart.
pub fn finish(raw: RawMesh, group: Option<&str>) -> Result<ObjMesh, ObjError> {
    let RawMesh { positions_mm, triangles, mut uvs, uv_usable, names } = raw;
    if triangles.is_empty() {
        return Err(ObjError::NoFaces { group: group.map(str::to_string) });
    }
    uvs.resize(positions_mm.len(), None);
    let mut mesh = Mesh { chart_mm: vec![Vec2::zeros(); positions_mm.len()], positions_mm, triangles };
    // Drop vertices no face uses (other groups' vertices share the index space).
    compact(&mut mesh, &mut uvs);
    let size = format!("{} triangles", mesh.triangles.len());
    let turned = stage(
        || format!("checking the mesh ({size})"),
        || -> Result<usize, ObjError> {
            mesh.validate_3d().map_err(|problem| match problem {
                MeshProblem::SeparatePieces { .. } if group.is_none() && names.len() > 1 => {
                    ObjError::SeparateObjects { problem, known: names.clone() }
                }
                other => ObjError::Mesh(other),
            })?;
            // Triangles wound against their neighbours (a silent half area before).
            mesh.orient_consistently().map_err(ObjError::Mesh)
        },
    )?;
    let mut warnings = Vec::new();
    if turned > 0 {
        warnings.push(format!("{turned} triangles were wound against their neighbours and were turned"));
    }
    // tobj gives faces without `vt` a dummy coordinate when the file has UVs
    // elsewhere: a layout with no area is no layout.
    let uv_area: f64 = mesh
        .triangles
        .iter()
        .map(|t| {
            let [a, b, c] = t.map(|v| uvs[v as usize].unwrap_or_default());
            ((b - a).perp(&(c - a)) / 2.0).abs()
        })
        .sum();
    let has_uvs = uvs.iter().any(|u| u.is_some()) && uv_area > 1e-12;
    if has_uvs && uv_usable && uvs.iter().all(|u| u.is_some()) {
        mesh.chart_mm = uvs.iter().map(|u| u.unwrap_or_default()).collect();
        let scale = (mesh.area_3d_mm2() / mesh.area_chart_mm2().max(1e-300)).sqrt();
        mesh.chart_mm.iter_mut().for_each(|c| *c *= scale);
        let folds = mesh.chart_outline().is_err();
        let deviation = mesh.distortion().area_stretch_mean_deviation;
        if !folds && deviation <= UV_MAX_MEAN_AREA_DEVIATION {
            mesh.normalise_chart();
            return Ok(ObjMesh { mesh, chart_method: "uv", warnings });
        }
        warnings.push(if folds {
            "its UVs overlap or fold; a conformal chart was computed instead".to_string()
        } else {
            format!(
                "its UVs stretch area by {:.0} % on average (more than {:.0} %); a conformal chart was computed instead",
                deviation * 100.0,
                UV_MAX_MEAN_AREA_DEVIATION * 100.0
            )
        });
    } else if has_uvs {
        warnings.push(
            "its UVs are cut by seams or missing on some faces; a conformal chart was computed instead".to_string(),
        );
    } else {
        warnings.push("it has no UVs; a conformal chart was computed".to_string());
    }
    stage(|| format!("charting the mesh ({size}, conformal)"), || mesh.compute_lscm_chart());
    let mut chart_method = "lscm";
    if mesh.chart_outline().is_err() || mesh.chart_holes().is_err() {
        // LSCM folds on some surfaces (under a scan's nostrils): the Tutte
        // embedding never does on a disk, and the local-global rounds after
        // it lower its stretch without folding it.
        let iterated =
            stage(|| format!("charting the mesh ({size}, Tutte + local-global)"), || mesh.compute_bijective_chart());
        chart_method = if iterated { "tutte+arap" } else { "tutte" };
        warnings.push(if iterated {
            "its conformal chart folds; a fold-free chart was computed instead (Tutte, then as-rigid-as-possible \
             rounds that never fold it), which stretches more"
                .into()
        } else {
            "its conformal chart folds; a fold-free (Tutte) chart was computed instead, which stretches more".into()
        });
    }
    mesh.chart_outline().and_then(|_| mesh.chart_holes()).map_err(|p| match p {
        MeshProblem::ChartFolds { .. } | MeshProblem::ChartOutline(_) => ObjError::CannotFlatten(p),
        other => ObjError::Mesh(other),
    })?;
    Ok(ObjMesh { mesh, chart_method, warnings })
}

fn compact(mesh: &mut Mesh, uvs: &mut Vec<Option<Vec2>>) {
    let mut map = vec![u32::MAX; mesh.positions_mm.len()];
    let mut positions = Vec::new();
    let mut new_uvs = Vec::new();
    for t in &mut mesh.triangles {
        for v in t.iter_mut() {
            let old = *v as usize;
            if old >= map.len() {
                continue; // left for validation to report
            }
            if map[old] == u32::MAX {
                map[old] = positions.len() as u32;
                positions.push(mesh.positions_mm[old]);
                new_uvs.push(uvs[old]);
            }
            *v = map[old];
        }
    }
    mesh.chart_mm = vec![Vec2::zeros(); positions.len()];
    mesh.positions_mm = positions;
    *uvs = new_uvs;
}
