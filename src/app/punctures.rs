//! `simulate --punctures FILE`: every puncture of the run, as Parquet, a
//! NumPy `.npz` archive or CSV, chosen by FILE's extension, written into
//! the output folder with the run's other files.

use crate::core::engine::punctures::PunctureTable;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::sync::Arc;

/// A file format for the punctures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.parquet`.
    Parquet,
    /// `.npz`.
    Npz,
    /// `.csv`.
    Csv,
}

/// Checks `--punctures`' value: a plain file name (it is written into the
/// output folder) ending in `.parquet`, `.npz` or `.csv`, not one of the
/// run's own files.
pub fn check_name(name: &str, taken: &[&str]) -> Result<Format> {
    // As every output's name: no folder, no leading dot, at most 255 bytes.
    let plain = crate::app::output::plain_name(name) && !name.contains('\\');
    if !plain {
        bail!(
            "--punctures {name:?}: expected a file name (it is written into the output folder, \
             chosen with --out), such as punctures.parquet"
        );
    }
    let format = match name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("parquet") => Format::Parquet,
        Some("npz") => Format::Npz,
        Some("csv") => Format::Csv,
        _ => bail!("--punctures {name:?}: the format follows from the extension: .parquet, .npz or .csv"),
    };
    let folded = |s: &str| (s.to_lowercase(), s.to_uppercase());
    if taken.iter().any(|t| {
        let (a, b) = (folded(t), folded(name));
        a.0 == b.0 || a.1 == b.1
    }) {
        bail!("--punctures {name:?}: that name is one of the run's own files ({})", taken.join(", "));
    }
    Ok(format)
}

/// The table in `format`.
pub fn encode(t: &PunctureTable, format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Parquet => parquet(t),
        Format::Npz => npz(t),
        Format::Csv => Ok(csv(t)),
    }
}

/// Column names, in order (the 3D ones only when some zone is a mesh).
fn columns(t: &PunctureTable) -> Vec<&'static str> {
    let mut c = vec!["zone", "pass", "time_s", "u_mm", "v_mm"];
    if t.has_3d() {
        c.extend(["x_mm", "y_mm", "z_mm"]);
    }
    c.push("avoid");
    c
}

/// CSV: a header, then a row per puncture; the zone by name; the 3D
/// columns empty on flat zones (and `NaN` where a point was not placed).
fn csv(t: &PunctureTable) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len() * 48 + 64);
    out.extend_from_slice(columns(t).join(",").as_bytes());
    out.push(b'\n');
    let names: Vec<String> = t.zone_names.iter().map(|n| csv_field(n)).collect();
    let has_3d = t.has_3d();
    for i in 0..t.len() {
        // Shortest round-trip forms: a reader gets each f32 back exactly.
        let _ = write!(out, "{},{},{},{},{}", names[t.zone[i] as usize], t.pass[i], t.time_s[i], t.u_mm[i], t.v_mm[i]);
        if has_3d {
            match t.xyz_mm[i] {
                Some([x, y, z]) => {
                    let _ = write!(out, ",{x},{y},{z}");
                }
                None => out.extend_from_slice(b",,,"),
            }
        }
        out.extend_from_slice(if t.avoid[i] { b",true\n" } else { b",false\n" });
    }
    out
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// `.npz` (as `numpy.savez` writes: a stored zip of `.npy` arrays): `zone`
/// (int32 index into `zone_names`), `zone_names`, `pass` (uint32),
/// `time_s`, `u_mm`, `v_mm` (float32), `x_mm`, `y_mm`, `z_mm` (float32,
/// NaN on flat zones; only when some zone is a mesh) and `avoid` (uint8, 1
/// in an avoid region).
fn npz(t: &PunctureTable) -> Result<Vec<u8>> {
    use npyz::WriterBuilder;
    fn array<T: npyz::AutoSerialize + Copy>(values: &[T]) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(std::mem::size_of_val(values) + 128);
        let mut w =
            npyz::WriteOptions::new().default_dtype().shape(&[values.len() as u64]).writer(&mut buf).begin_nd()?;
        w.extend(values.iter().copied())?;
        w.finish()?;
        Ok(buf)
    }
    let mut arrays: Vec<(&str, Vec<u8>)> = Vec::new();
    let zone: Vec<i32> = t.zone.iter().map(|&z| z as i32).collect();
    arrays.push(("zone", array(&zone)?));
    {
        // Fixed-width unicode, as numpy stores an array of str.
        let width = t.zone_names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max(1);
        let dtype = npyz::DType::Plain(format!("<U{width}").parse().context("zone_names dtype")?);
        let mut buf = Vec::new();
        let mut w = npyz::WriteOptions::<str>::new()
            .dtype(dtype)
            .shape(&[t.zone_names.len() as u64])
            .writer(&mut buf)
            .begin_nd()?;
        for n in &t.zone_names {
            w.push(n.as_str())?;
        }
        w.finish()?;
        arrays.push(("zone_names", buf));
    }
    arrays.push(("pass", array(&t.pass)?));
    arrays.push(("time_s", array(&t.time_s)?));
    arrays.push(("u_mm", array(&t.u_mm)?));
    arrays.push(("v_mm", array(&t.v_mm)?));
    if t.has_3d() {
        for (k, name) in ["x_mm", "y_mm", "z_mm"].into_iter().enumerate() {
            let v = t.axis_or_nan(k);
            arrays.push((name, array(&v)?));
        }
    }
    let avoid: Vec<u8> = t.avoid.iter().map(|&a| a as u8).collect();
    arrays.push(("avoid", array(&avoid)?));

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in arrays {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(bytes.len() as u64 >= u32::MAX as u64);
        zip.start_file(format!("{name}.npy"), options)?;
        zip.write_all(&bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Parquet: one row group; `zone` a string column (dictionary encoded),
/// `pass` uint32, `time_s`, `u_mm`, `v_mm` float, `x_mm`, `y_mm`, `z_mm`
/// optional float (null on flat zones; only when some zone is a mesh),
/// `avoid` boolean.
fn parquet(t: &PunctureTable) -> Result<Vec<u8>> {
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, FloatType, Int32Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let has_3d = t.has_3d();
    let mut schema = String::from(
        "message punctures { REQUIRED BYTE_ARRAY zone (STRING); REQUIRED INT32 pass (INTEGER(32, false)); \
         REQUIRED FLOAT time_s; REQUIRED FLOAT u_mm; REQUIRED FLOAT v_mm; ",
    );
    if has_3d {
        schema.push_str("OPTIONAL FLOAT x_mm; OPTIONAL FLOAT y_mm; OPTIONAL FLOAT z_mm; ");
    }
    schema.push_str("REQUIRED BOOLEAN avoid; }");
    let schema = Arc::new(parquet::schema::parser::parse_message_type(&schema)?);
    let props = Arc::new(WriterProperties::builder().set_created_by("needlemap".into()).build());
    let mut file = SerializedFileWriter::new(Vec::new(), schema, props)?;
    let mut group = file.next_row_group()?;
    let names: Vec<ByteArray> = t.zone_names.iter().map(|n| ByteArray::from(n.as_str())).collect();
    let defined: Vec<i16> = if has_3d { t.xyz_mm.iter().map(|q| q.is_some() as i16).collect() } else { Vec::new() };
    let names_in_order = columns(t);
    let mut k = 0;
    while let Some(mut col) = group.next_column()? {
        let name = names_in_order[k];
        match name {
            "zone" => {
                let v: Vec<ByteArray> = t.zone.iter().map(|&z| names[z as usize].clone()).collect();
                col.typed::<ByteArrayType>().write_batch(&v, None, None)?;
            }
            "pass" => {
                let v: Vec<i32> = t.pass.iter().map(|&p| p as i32).collect();
                col.typed::<Int32Type>().write_batch(&v, None, None)?;
            }
            "time_s" => _ = col.typed::<FloatType>().write_batch(&t.time_s, None, None)?,
            "u_mm" => _ = col.typed::<FloatType>().write_batch(&t.u_mm, None, None)?,
            "v_mm" => _ = col.typed::<FloatType>().write_batch(&t.v_mm, None, None)?,
            "x_mm" | "y_mm" | "z_mm" => {
                let axis = (name.as_bytes()[0] - b'x') as usize;
                let v: Vec<f32> = t.xyz_mm.iter().flatten().map(|q| q[axis]).collect();
                col.typed::<FloatType>().write_batch(&v, Some(&defined), None)?;
            }
            "avoid" => _ = col.typed::<BoolType>().write_batch(&t.avoid, None, None)?,
            other => bail!("internal: no writer for puncture column {other}"),
        }
        col.close()?;
        k += 1;
    }
    group.close()?;
    Ok(file.into_inner()?)
}
