"""The Python package against the command line: the same scene gives the
same report.json and punctures, the same seeds the same compare.csv, here
and on a Ray or Dask cluster; errors carry the command line's message.

The command line is the binary scripts/test built (NEEDLEMAP_BIN, else
target/debug/needlemap); each test runs in its own temporary folder.
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import math
import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import needlemap

ROOT = Path(__file__).resolve().parents[2]
SCENES = ROOT / "scenes"
BIN = Path(os.environ.get("NEEDLEMAP_BIN", ROOT / "target" / "debug" / "needlemap"))


def cli(*args: str, cwd: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    if not BIN.exists():
        pytest.fail(f"{BIN} not found: build the command line first (cargo build), or set NEEDLEMAP_BIN")
    p = subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def need(module: str):
    """The module, or a skip; under scripts/test (NEEDLEMAP_TEST_ALL=1), a failure."""
    if os.environ.get("NEEDLEMAP_TEST_ALL") == "1":
        return __import__(module, fromlist=["_"])
    return pytest.importorskip(module)


def shipped_scenes() -> list[Path]:
    """Every scene shipped in scenes/ (strategies files are compared, not run)."""
    return [p for p in sorted(SCENES.glob("*.toml")) if not tomllib.loads(p.read_text()).get("strategy")]


def test_the_shipped_scenes_are_all_found():
    names = {p.name for p in shipped_scenes()}
    assert {"cheek.toml", "full-face.toml", "forehead.toml", "roller.toml"} <= names, names
    assert "cheek-strategies.toml" not in names


@pytest.mark.parametrize("scene", shipped_scenes(), ids=lambda p: p.stem)
def test_simulate_gives_the_command_lines_report_and_punctures(scene: Path, tmp_path: Path):
    cli("simulate", str(scene), "--out", str(tmp_path), "--punctures", "p.npz")
    r = needlemap.simulate(scene)
    # report.json byte for byte, and as a dict.
    text = (tmp_path / "report.json").read_text()
    assert r.report_json == text
    assert r.report == json.loads(text)
    # The punctures: punctures.npz's arrays, same names, types and values.
    with np.load(tmp_path / "p.npz") as z:
        assert sorted(z.files) == sorted(r.punctures)
        for k in z.files:
            got, want = r.punctures[k], z[k]
            assert got.dtype == want.dtype, k
            assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), k
    # One entry per puncture the report counts, zone by zone.
    n = len(r.punctures["zone"])
    assert n == r.report["punctures"] + r.report["avoid_violations"] > 0
    for k in r.punctures:
        if k != "zone_names":
            assert len(r.punctures[k]) == n, k
    counts = np.bincount(r.punctures["zone"], minlength=len(r.report["zones"]))
    for z, zone in enumerate(r.report["zones"]):
        assert list(r.punctures["zone_names"])[z] == zone["name"]
        assert counts[z] == zone["punctures"] + zone["avoid_violations"], zone["name"]


def test_seed_threads_text_and_dict_give_the_same_figures(tmp_path: Path):
    path = SCENES / "cheek.toml"
    cli("simulate", str(path), "--out", str(tmp_path), "--seed", "5")
    want = (tmp_path / "report.json").read_text()
    assert needlemap.simulate(path, seed=5).report_json == want
    assert needlemap.simulate(str(path), seed=5, threads=1).report_json == want
    # The scene as text and as a dict (the dict goes through its TOML form).
    assert needlemap.simulate(path.read_text(), seed=5).report_json == want
    d = tomllib.loads(path.read_text())
    assert needlemap.simulate(d, seed=5).report_json == want
    assert tomllib.loads(needlemap.scene_toml(d)) == d
    # Another seed, other figures (the seed is used).
    assert needlemap.simulate(path, seed=6).report_json != want


def test_a_text_scene_reads_its_files_from_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # cheek-traced.toml names its trajectory relative to scenes/: as text, from scenes/.
    scene = SCENES / "cheek-traced.toml"
    text = scene.read_text()
    assert 'trajectory = "traces/' in text
    want = needlemap.simulate(scene).report_json
    monkeypatch.chdir(SCENES)
    assert needlemap.simulate(text).report_json == want
    monkeypatch.chdir(tmp_path)
    with pytest.raises(needlemap.InputError, match=r"^<scene text>:\d+:\d+: .*traces/cheek-trainee.csv"):
        needlemap.simulate(text)


# Each case: one value of scenes/cheek.toml replaced.
BAD_SCENES = {
    "unknown preset": ('preset = "pen-12"', 'preset = "pen-13"'),
    "a wrong type": ("speed_mm_s = 40", 'speed_mm_s = "fast"'),
    "out of range": ("lane_spacing_mm = 4", "lane_spacing_mm = -4"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENES))
def test_errors_carry_the_command_lines_message(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    old, new = BAD_SCENES[case]
    text = (SCENES / "cheek.toml").read_text()
    assert old in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new, 1))
    p = cli("simulate", "bad.toml", "--out", "o", cwd=tmp_path, ok=False)
    assert p.returncode == 2
    line = p.stderr.strip().splitlines()[0]
    assert line.startswith("error: bad.toml:"), line
    monkeypatch.chdir(tmp_path)
    with pytest.raises(needlemap.InputError) as e:
        needlemap.simulate("bad.toml")
    assert "error: " + str(e.value) == line
    assert not (tmp_path / "o").exists()
    # As text, the same message under the text's label.
    with pytest.raises(needlemap.InputError) as e:
        needlemap.simulate(bad.read_text())
    assert str(e.value) == "<scene text>" + line.removeprefix("error: bad.toml")


def test_a_path_with_an_equals_sign_is_a_path(tmp_path: Path):
    folder = tmp_path / "seed=3"
    folder.mkdir()
    shutil.copy(SCENES / "cheek.toml", folder / "cheek.toml")
    assert needlemap.simulate(str(folder / "cheek.toml")).report_json == needlemap.simulate(SCENES / "cheek.toml").report_json


def test_bad_arguments_are_refused_before_any_run():
    cheek, strategies = SCENES / "cheek.toml", SCENES / "cheek-strategies.toml"
    for bad in [-1, 2**64, True, 2.0, "3"]:
        with pytest.raises(ValueError, match="seed: .* give a whole number from 0"):
            needlemap.simulate(cheek, seed=bad)
    assert needlemap.simulate(cheek, seed=np.int64(5)).report_json == needlemap.simulate(cheek, seed=5).report_json
    with pytest.raises(ValueError, match="max_memory_mb"):
        needlemap.simulate(cheek, max_memory_mb=-1)
    with pytest.raises(ValueError, match="zones: an empty list"):
        needlemap.compare(strategies, seeds=2, zones=[])
    with pytest.raises(ValueError, match="first_seed"):
        needlemap.compare(strategies, seeds=2, first_seed=2**64)
    c = needlemap.compare(strategies, seeds=np.int64(2), threads=np.int64(1), confidence=np.float32(0.9))
    assert len(c.seeds) == 2 and c.confidence == float(np.float32(0.9))

    with pytest.raises(needlemap.InputError, match="cannot read scene nowhere.toml"):
        needlemap.simulate("nowhere.toml")
    with pytest.raises(ValueError, match="threads"):
        needlemap.simulate(SCENES / "cheek.toml", threads=0)
    with pytest.raises(TypeError):
        needlemap.simulate(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"zones\[0\]\.name: .*NoneType"):
        needlemap.scene_toml({"zones": [{"name": None}]})
    with pytest.raises(ValueError, match="seeds"):
        needlemap.compare(SCENES / "cheek-strategies.toml", seeds=0)
    with pytest.raises(ValueError, match="confidence"):
        needlemap.compare(SCENES / "cheek-strategies.toml", confidence=1.5)
    with pytest.raises(ValueError, match="cluster"):
        needlemap.compare(SCENES / "cheek-strategies.toml", seeds=2, cluster="slurm")


def compare_csv(folder: Path) -> list[dict]:
    """compare.csv's rows, typed as Comparison.table holds them."""
    rows = []
    with open(folder / "compare.csv", newline="") as f:
        for r in csv.DictReader(f):
            r["n"] = int(r["n"])
            for k in ("mean", "sd", "ci_low", "ci_high"):
                r[k] = float(r[k])
            rows.append(r)
    return rows


def same_rows(got: list[dict], want: list[dict]) -> None:
    """Equal to the last digit (NaN equal to NaN)."""
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        assert g.keys() == w.keys()
        for k in w:
            if isinstance(w[k], float) and math.isnan(w[k]):
                assert math.isnan(g[k]), (k, g, w)
            else:
                assert g[k] == w[k], (k, g, w)


@pytest.fixture(scope="module")
def cli_compare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    cli("compare", str(SCENES / "cheek-strategies.toml"), "--seeds", "6", "--first-seed", "3", "--out", str(out))
    return out


def test_compare_here_gives_the_command_lines_table_and_runs(cli_compare: Path):
    seen = []
    c = needlemap.compare(
        SCENES / "cheek-strategies.toml", seeds=6, first_seed=3, progress=lambda d, n: seen.append((d, n))
    )
    same_rows(c.table, compare_csv(cli_compare))
    assert c.seeds == list(range(3, 9))
    assert seen[-1] == (6, 6) and len(seen) >= 2, seen
    j = json.loads((cli_compare / "compare.json").read_text())
    assert c.strategies == [s["name"] for s in j["strategies"]]
    same_rows(c.rows(), j["runs"])
    # Threads do not change a figure.
    same_rows(needlemap.compare(SCENES / "cheek-strategies.toml", seeds=6, first_seed=3, threads=1).table, c.table)


def test_a_study_pickles_as_its_files_and_runs_where_they_are_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The scenes copied to a folder, loaded by relative paths, the folder
    # then removed: a fresh interpreter can only run what the pickle holds.
    work = tmp_path / "work"
    shutil.copytree(SCENES, work)
    monkeypatch.chdir(work)
    inputs = ["cheek-traced.toml", "cheek.toml"]
    study = needlemap._native.Study(inputs, [None, None], None, 2, 11)
    assert sorted(study.files) == sorted(inputs + ["traces/cheek-trainee.csv"])
    want = study.run(study.seeds, 1)
    blob = pickle.dumps(study)
    # Another cheek under the same path: another study, whose replay the
    # first one's (cached by content, not by path) must not be mistaken for.
    (work / "cheek.toml").write_text((work / "cheek.toml").read_text().replace("lane_spacing_mm = 4", "lane_spacing_mm = 5"))
    other = needlemap._native.Study(inputs, [None, None], None, 2, 11)
    monkeypatch.chdir(tmp_path)
    shutil.rmtree(work)
    assert pickle.loads(blob).run(study.seeds, 1) == want
    assert pickle.loads(pickle.dumps(other)).run(study.seeds, 1) != want
    code = "import pickle, sys, json; s = pickle.load(sys.stdin.buffer); print(json.dumps(s.run(s.seeds, 1)))"
    p = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, cwd=tmp_path, check=True)
    assert json.loads(p.stdout) == json.loads(json.dumps(want))
    # A replay lacking a file fails, naming it.
    replay, (inputs, zones, seeds, first, files) = study.__reduce__()
    del files["traces/cheek-trainee.csv"]
    with pytest.raises(needlemap.InputError, match="cheek-trainee.csv.*not among the files sent with the runs"):
        replay(inputs, zones, seeds, first, files)


def test_compare_errors_carry_the_command_lines_message(tmp_path: Path):
    bad = tmp_path / "s.toml"
    shutil.copy(SCENES / "cheek.toml", tmp_path / "cheek.toml")
    bad.write_text('base = "cheek.toml"\n\n[[strategy]]\nname = "x"\nlane_spacing_mm = -1\n')
    p = cli("compare", str(bad), "--seeds", "2", "--out", str(tmp_path / "o"), ok=False)
    assert p.returncode == 2
    with pytest.raises(needlemap.InputError) as e:
        needlemap.compare(bad, seeds=2)
    assert "error: " + str(e.value) == p.stderr.strip().splitlines()[0]


def test_a_sweep_on_a_local_dask_cluster_equals_compare(cli_compare: Path):
    distributed = need("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            seen = []
            c = needlemap.compare(
                SCENES / "cheek-strategies.toml",
                seeds=6,
                first_seed=3,
                cluster=client,
                seeds_per_task=2,
                threads=1,
                progress=lambda d, n: seen.append((d, n)),
            )
    # Three tasks of two seeds, each reported as it came back.
    assert seen == [(2, 6), (4, 6), (6, 6)], seen
    same_rows(c.table, compare_csv(cli_compare))


def test_a_sweep_with_cluster_dask_starts_its_own_local_cluster(cli_compare: Path, monkeypatch: pytest.MonkeyPatch):
    need("distributed")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    c = needlemap.compare(SCENES / "cheek-strategies.toml", seeds=6, first_seed=3, cluster="dask", seeds_per_task=4)
    same_rows(c.table, compare_csv(cli_compare))


def test_a_sweep_on_a_local_ray_cluster_equals_compare(cli_compare: Path, monkeypatch: pytest.MonkeyPatch):
    ray = need("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray.is_initialized()
    c = needlemap.compare(SCENES / "cheek-strategies.toml", seeds=6, first_seed=3, cluster="ray", seeds_per_task=1)
    assert not ray.is_initialized(), "the Ray it started is shut down"
    same_rows(c.table, compare_csv(cli_compare))


def test_a_forking_process_pool_is_refused_not_hung():
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        with pytest.raises(ValueError, match="spawn"):
            needlemap.compare(SCENES / "cheek-strategies.toml", seeds=2, cluster=pool)


def test_a_sweep_on_a_process_pool_equals_compare(cli_compare: Path):
    # Spawned, not forked: a forked child of a process whose worker threads
    # have started (as rayon's have here) inherits none of them.
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        c = needlemap.compare(SCENES / "cheek-strategies.toml", seeds=6, first_seed=3, cluster=pool, seeds_per_task=3)
    same_rows(c.table, compare_csv(cli_compare))


def test_the_type_stubs_match_the_native_module():
    stubtest = need("mypy.stubtest")
    assert stubtest.test_stubs(stubtest.parse_options(["needlemap._native"])) == 0


def test_the_package_type_checks():
    api = need("mypy.api")
    out, err, code = api.run([str(ROOT / "python" / "needlemap"), "--no-incremental"])
    assert code == 0, out + err
