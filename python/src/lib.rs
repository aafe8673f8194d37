//! `needlemap._native`: the engine for the Python package (`python/needlemap`).
//! Every figure comes from the same code as the command line's: scenes are
//! read by its loaders (the same checks and error messages), runs made by
//! `needlemap::core::run`, report.json written by `core::report::report_json`
//! and compare's table by `app::study::table_rows`. The Python side adds the
//! scene given as text or a dict, the result objects and the cluster sweeps.

use needlemap::app::input::Files;
use needlemap::app::study::{Prepared, prepare_compare, table_rows};
use needlemap::app::{Failure, load_scene_from};
use needlemap::core::study::compare::{Runs, Strategy, run_all};
use needlemap::core::study::metric::{Metric, MetricRow};
use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

pyo3::create_exception!(
    needlemap,
    InputError,
    PyValueError,
    "A scene, strategies or mesh file that cannot be run: the message is the command line's, naming the file, line and key and what is accepted."
);

pyo3::create_exception!(
    needlemap,
    RunError,
    pyo3::exceptions::PyRuntimeError,
    "A run that failed for a reason other than its input (the command line's exit code 1)."
);

/// The command line's failure as a Python exception: the same message as
/// its `error: ...` line (code 2, bad input: InputError; else RunError).
fn raise(f: Failure) -> PyErr {
    let message = format!("{:#}", f.error);
    if f.code == 2 { InputError::new_err(message) } else { RunError::new_err(message) }
}

/// Runs `work` without the GIL, on `threads` workers (None: rayon's global
/// pool, all cores).
fn on_threads<T: Send>(py: Python<'_>, threads: Option<usize>, work: impl FnOnce() -> T + Send) -> PyResult<T> {
    match threads {
        None => Ok(py.detach(work)),
        Some(0) => Err(PyValueError::new_err("threads: give a whole number >= 1, or None for all cores")),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| RunError::new_err(format!("cannot start the worker threads: {e}")))?;
            Ok(py.detach(|| pool.install(work)))
        }
    }
}

/// Where a scene comes from: the file `path`, or (`text` given) the TOML
/// text `text`, shown in messages as `path`, its mesh files relative to the
/// current folder.
fn files_for(path: &str, text: Option<String>, record: bool) -> Files {
    let files = if record { Files::recording() } else { Files::disk() };
    match text {
        Some(t) => files.with(Path::new(path), t.into_bytes()),
        None => files,
    }
}

/// simulate(path, text=None, seed=None, threads=None, max_memory_mb=...) ->
/// (report.json text, punctures columns as in punctures.npz)
#[pyfunction]
#[pyo3(signature = (path, text=None, seed=None, threads=None, max_memory_mb=None))]
fn simulate<'py>(
    py: Python<'py>,
    path: &str,
    text: Option<String>,
    seed: Option<u64>,
    threads: Option<usize>,
    max_memory_mb: Option<u64>,
) -> PyResult<(String, Bound<'py, PyDict>)> {
    let files = files_for(path, text, false);
    let max_memory_bytes =
        max_memory_mb.map_or(needlemap::core::engine::plan::DEFAULT_MAX_MEMORY_BYTES, |m| m.saturating_mul(1 << 20));
    let path = PathBuf::from(path);
    let (report, table) = on_threads(py, threads, move || -> Result<_, Failure> {
        let mut scene = load_scene_from(&files, &path)?;
        if let Some(seed) = seed {
            scene = scene.with_seed(seed);
        }
        let outcome = needlemap::core::run(&scene, &needlemap::RunOptions { max_memory_bytes })
            .map_err(|e| Failure { code: 2, error: e.into() })?;
        Ok((
            needlemap::core::report::report_json(&outcome),
            needlemap::core::engine::punctures::puncture_table(&outcome),
        ))
    })?
    .map_err(raise)?;
    Ok((report, columns(py, table)?))
}

/// The punctures as the arrays of punctures.npz (same names and types).
fn columns<'py>(py: Python<'py>, t: needlemap::core::engine::punctures::PunctureTable) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let xyz = t.has_3d().then(|| [0, 1, 2].map(|k| t.axis_or_nan(k)));
    d.set_item("zone", t.zone.iter().map(|&z| z as i32).collect::<Vec<_>>().into_pyarray(py))?;
    let names = py.import("numpy")?.getattr("array")?.call1((PyList::new(py, &t.zone_names)?,))?;
    // An empty list gives float64: the file's "<U1".
    let names = if t.zone_names.is_empty() { names.call_method1("astype", ("<U1",))? } else { names };
    d.set_item("zone_names", names)?;
    d.set_item("pass", t.pass.into_pyarray(py))?;
    d.set_item("time_s", t.time_s.into_pyarray(py))?;
    d.set_item("u_mm", t.u_mm.into_pyarray(py))?;
    d.set_item("v_mm", t.v_mm.into_pyarray(py))?;
    if let Some(xyz) = xyz {
        for (name, v) in ["x_mm", "y_mm", "z_mm"].into_iter().zip(xyz) {
            d.set_item(name, v.into_pyarray(py))?;
        }
    }
    let avoid: Vec<u8> = t.avoid.iter().map(|&a| a as u8).collect();
    d.set_item("avoid", PyArray1::from_vec(py, avoid))?;
    Ok(d)
}

/// What a study is loaded from: enough to load it again, anywhere.
#[derive(Clone, PartialEq, Eq)]
struct Source {
    /// The files given (strategies files or scenes), by path.
    inputs: Vec<String>,
    /// `--zone`: the zones compared (None: the files').
    zones: Option<Vec<String>>,
    /// `--seeds`.
    seeds: Option<u32>,
    /// `--first-seed`.
    first_seed: Option<u64>,
    /// Every file the load read, by the path it asked for.
    files: BTreeMap<String, Arc<Vec<u8>>>,
}

impl Source {
    fn load(&self, files: &Files) -> Result<Prepared, Failure> {
        let inputs: Vec<PathBuf> = self.inputs.iter().map(PathBuf::from).collect();
        prepare_compare(files, &inputs, self.zones.as_deref(), self.seeds, self.first_seed)
    }
}

/// Studies replayed in this process (a worker gets the same one task after
/// task), by their source: the last few.
static REPLAYED: Mutex<Vec<Study>> = Mutex::new(Vec::new());

/// A comparison loaded and checked: its strategies, zones and seeds, the
/// runs of any seeds, and their table. It pickles as the files it read, so a
/// cluster's workers can run it without seeing those files.
#[pyclass(module = "needlemap._native", frozen)]
#[derive(Clone)]
struct Study {
    source: Arc<Source>,
    strategies: Arc<Vec<Strategy>>,
    seeds: Arc<Vec<u64>>,
}

#[pymethods]
impl Study {
    /// Study(inputs, texts, zones=None, seeds=None, first_seed=None): loads
    /// `inputs` (paths; `texts[i]`, when not None, is the content of input i,
    /// its files then relative to the current folder).
    #[new]
    #[pyo3(signature = (inputs, texts, zones=None, seeds=None, first_seed=None))]
    fn new(
        py: Python<'_>,
        inputs: Vec<String>,
        texts: Vec<Option<String>>,
        zones: Option<Vec<String>>,
        seeds: Option<u32>,
        first_seed: Option<u64>,
    ) -> PyResult<Study> {
        if inputs.is_empty() || inputs.len() != texts.len() {
            return Err(PyValueError::new_err("give one or more inputs, each with its text or None"));
        }
        let mut files = Files::recording();
        for (path, text) in inputs.iter().zip(texts) {
            if let Some(t) = text {
                files = files.with(Path::new(path), t.into_bytes());
            }
        }
        let mut source = Source { inputs, zones, seeds, first_seed, files: BTreeMap::new() };
        let (prepared, source) = py
            .detach(move || {
                let prepared = source.load(&files)?;
                source.files = files.contents();
                Ok((prepared, source))
            })
            .map_err(raise)?;
        Ok(Study {
            source: Arc::new(source),
            strategies: Arc::new(prepared.strategies),
            seeds: Arc::new(prepared.seeds),
        })
    }

    /// The study again from what `__reduce__` gave: loaded from those files
    /// alone (no file system), once per process.
    #[staticmethod]
    #[pyo3(signature = (inputs, zones, seeds, first_seed, files))]
    fn _replay(
        py: Python<'_>,
        inputs: Vec<String>,
        zones: Option<Vec<String>>,
        seeds: Option<u32>,
        first_seed: Option<u64>,
        files: BTreeMap<String, Vec<u8>>,
    ) -> PyResult<Study> {
        let source = Source {
            inputs,
            zones,
            seeds,
            first_seed,
            files: files.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        };
        if let Some(study) = REPLAYED.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|s| *s.source == source) {
            return Ok(study.clone());
        }
        let only = Files::only(source.files.clone());
        let prepared = py.detach(|| source.load(&only)).map_err(raise)?;
        let study = Study {
            source: Arc::new(source),
            strategies: Arc::new(prepared.strategies),
            seeds: Arc::new(prepared.seeds),
        };
        let mut replayed = REPLAYED.lock().unwrap_or_else(|p| p.into_inner());
        if replayed.len() >= 4 {
            replayed.remove(0);
        }
        replayed.push(study.clone());
        Ok(study)
    }

    /// Pickles as (Study._replay, (inputs, zones, seeds, first_seed, files)).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let s = &slf.get().source;
        let files = PyDict::new(py);
        for (k, v) in &s.files {
            files.set_item(k, PyBytes::new(py, v))?;
        }
        let replay = py.get_type::<Study>().getattr("_replay")?;
        let args = (s.inputs.clone(), s.zones.clone(), s.seeds, s.first_seed, files).into_pyobject(py)?;
        Ok((replay, args.into_any()))
    }

    /// The strategies' names, in the order given (names met twice numbered).
    #[getter]
    fn strategies(&self) -> Vec<String> {
        self.strategies.iter().map(|s| s.name.clone()).collect()
    }

    /// The zones' names, then "all zones": the rows of each run.
    #[getter]
    fn zones(&self) -> Vec<String> {
        let mut z: Vec<String> = self.strategies[0].scene.zones.iter().map(|z| z.name.clone()).collect();
        z.push("all zones".into());
        z
    }

    /// The seeds of the comparison, in order.
    #[getter]
    fn seeds(&self) -> Vec<u64> {
        self.seeds.to_vec()
    }

    /// The metrics' keys, in the order of a run's rows.
    #[getter]
    fn metrics(&self) -> Vec<&'static str> {
        Metric::ALL.iter().map(|m| m.key()).collect()
    }

    /// The files the study read, by path (what pickling sends).
    #[getter]
    fn files(&self) -> Vec<String> {
        self.source.files.keys().cloned().collect()
    }

    /// Runs every strategy on each of `seeds`: `[strategy][seed][zone
    /// row][metric]` (NaN where a zone has no figure, e.g. no target band).
    #[pyo3(signature = (seeds, threads=None))]
    fn run(&self, py: Python<'_>, seeds: Vec<u64>, threads: Option<usize>) -> PyResult<Vec<Vec<Vec<Vec<f64>>>>> {
        let strategies = self.strategies.clone();
        let runs = on_threads(py, threads, move || run_all(&strategies, &seeds, &|| {}, &AtomicBool::new(false)))?
            .map_err(|e| raise(Failure { code: 2, error: e.into() }))?;
        Ok(runs
            .values
            .into_iter()
            .map(|per_seed| {
                per_seed
                    .into_iter()
                    .map(|rows| rows.expect("not stopped").into_iter().map(|r| r.0.to_vec()).collect())
                    .collect()
            })
            .collect())
    }

    /// compare.csv's rows from runs of this study's seeds (`values` as
    /// `run` gives them, seed by seed in the order of `seeds`) at
    /// confidence `confidence`: dicts of strategy, zone, metric, unit, n,
    /// mean, sd, ci_low, ci_high.
    fn table<'py>(
        &self,
        py: Python<'py>,
        values: Vec<Vec<Vec<Vec<f64>>>>,
        confidence: f64,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        if !(0.5..=0.999).contains(&confidence) {
            return Err(PyValueError::new_err(format!(
                "confidence: {confidence} is not accepted: give a number from 0.5 to 0.999"
            )));
        }
        let zones = self.zones();
        let shape_ok = values.len() == self.strategies.len()
            && values.iter().all(|v| {
                v.len() == self.seeds.len()
                    && v.iter()
                        .all(|rows| rows.len() == zones.len() && rows.iter().all(|r| r.len() == Metric::ALL.len()))
            });
        if !shape_ok {
            return Err(PyValueError::new_err(format!(
                "values: give [strategy][seed][zone][metric] for {} strategies, {} seeds, {} zone rows and {} metrics",
                self.strategies.len(),
                self.seeds.len(),
                zones.len(),
                Metric::ALL.len()
            )));
        }
        let values = values
            .into_iter()
            .map(|v| {
                v.into_iter()
                    .map(|rows| {
                        Some(rows.into_iter().map(|r| MetricRow(r.try_into().expect("length checked"))).collect())
                    })
                    .collect()
            })
            .collect();
        let runs = Runs { strategies: self.strategies(), zones, seeds: self.seeds.to_vec(), values };
        let est = runs.estimates(confidence);
        table_rows(&runs, &est)
            .into_iter()
            .map(|r| {
                let d = PyDict::new(py);
                d.set_item("strategy", r.strategy)?;
                d.set_item("zone", r.zone)?;
                d.set_item("metric", r.metric.key())?;
                d.set_item("unit", r.metric.unit().as_str())?;
                d.set_item("n", r.estimate.n)?;
                d.set_item("mean", r.estimate.mean)?;
                d.set_item("sd", r.estimate.sd)?;
                d.set_item("ci_low", r.estimate.lo())?;
                d.set_item("ci_high", r.estimate.hi())?;
                Ok(d)
            })
            .collect()
    }
}

/// scene_toml(d) -> str: a scene (or strategies file) given as a dict, as
/// TOML text: tables from dicts, arrays from lists and tuples, and strings,
/// booleans, integers and floats as they are. Messages about a dict scene
/// name the line of this text.
#[pyfunction]
fn scene_toml(d: &Bound<'_, PyDict>) -> PyResult<String> {
    match toml_value(d.as_any(), "")? {
        toml::Value::Table(t) => Ok(t.to_string()),
        _ => unreachable!("a dict gives a table"),
    }
}

fn toml_value(v: &Bound<'_, PyAny>, key: &str) -> PyResult<toml::Value> {
    use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyTuple};
    let at = |k: &str| if key.is_empty() { k.to_string() } else { format!("{key}.{k}") };
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, item) in d.iter() {
            let Ok(k) = k.cast::<PyString>() else {
                return Err(PyValueError::new_err(format!("{}: keys must be strings, not {}", at("?"), k.repr()?)));
            };
            let k = k.to_str()?.to_string();
            let value = toml_value(&item, &at(&k))?;
            t.insert(k, value);
        }
        Ok(toml::Value::Table(t))
    } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = v.try_iter()?.collect::<PyResult<_>>()?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| toml_value(item, &format!("{key}[{i}]")))
            .collect::<PyResult<_>>()
            .map(toml::Value::Array)
    } else if v.is_instance_of::<PyBool>() {
        Ok(toml::Value::Boolean(v.extract()?))
    } else if v.is_instance_of::<PyInt>() {
        let i: i64 = v.extract().map_err(|_| {
            PyValueError::new_err(format!(
                "{key}: {} is out of range for TOML (a 64-bit integer)",
                v.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?;
        Ok(toml::Value::Integer(i))
    } else if v.is_instance_of::<PyFloat>() {
        Ok(toml::Value::Float(v.extract()?))
    } else if let Ok(s) = v.cast::<PyString>() {
        Ok(toml::Value::String(s.to_str()?.to_string()))
    } else if let Ok(item) = v.call_method0("item") {
        // A NumPy scalar (numpy.float64(2.5), numpy.int32(3)): its Python value.
        toml_value(&item, key)
    } else {
        Err(PyValueError::new_err(format!(
            "{key}: {} is not accepted in a scene: give a dict, list, str, bool, int or float",
            v.get_type().name()?
        )))
    }
}

/// The native part of the `needlemap` Python package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(scene_toml, m)?)?;
    m.add_class::<Study>()?;
    m.add("InputError", m.py().get_type::<InputError>())?;
    m.add("RunError", m.py().get_type::<RunError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
