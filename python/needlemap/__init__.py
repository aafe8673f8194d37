"""needlemap from Python: runs of microneedling treatment scenes, every
puncture as NumPy arrays, and strategy comparisons, on this machine or as
tasks on a Ray or Dask cluster.

    import needlemap
    r = needlemap.simulate("scenes/cheek.toml")
    r.report["zones"][0]["coverage_fraction"]      # report.json, as a dict
    r.punctures["u_mm"]                            # punctures.npz, as arrays
    c = needlemap.compare("scenes/cheek-strategies.toml", seeds=20)
    c.table[0]     # a row of compare.csv: strategy, zone, metric, unit, n, mean, sd, ci_low, ci_high

Every figure comes from the same engine and the same code as the
``needlemap`` command line: the same scene gives the same report.json, the
same seeds the same compare.csv, digit for digit. See docs/guide/python.md.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import operator
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import InputError, RunError, scene_toml

__version__: str = _native.__version__

__all__ = [
    "simulate",
    "compare",
    "Result",
    "Comparison",
    "InputError",
    "RunError",
    "scene_toml",
    "__version__",
]

#: A scene (or strategies file): a path, TOML text (a str holding a line
#: break or an "="), or a dict of the same keys.
SceneLike = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def _source(scene: SceneLike, label: str) -> Tuple[str, Optional[str]]:
    """(path, text): the path to read, or, for text and dicts, the label
    messages name it by and its TOML text."""
    if isinstance(scene, Mapping):
        if not isinstance(scene, dict):
            scene = dict(scene)
        return f"<{label} dict>", scene_toml(scene)
    if isinstance(scene, os.PathLike):
        return os.fspath(scene), None
    if isinstance(scene, str):
        # Text: a line break, or an "=" in what is not an existing file's path.
        if "\n" in scene or ("=" in scene and not os.path.isfile(scene)):
            return f"<{label} text>", scene
        return scene, None
    raise TypeError(f"{label}: give a path, TOML text or a dict, not {type(scene).__name__}")


def _whole(name: str, value: Any, lo: int, hi: int) -> Optional[int]:
    """`value` as a whole number from lo to hi (None stays None), else a
    ValueError naming the argument and what is accepted."""
    if value is None:
        return None
    try:
        n = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        n = None
    if n is None or not lo <= n <= hi:
        raise ValueError(f"{name}: {value!r} is not accepted: give a whole number from {lo} to {hi}, or None")
    return n


def _threads(threads: Any) -> Optional[int]:
    return _whole("threads", threads, 1, 1024)


_SEED_MAX = 2**64 - 1

@dataclass(frozen=True)
class Result:
    """One run of a scene (``needlemap simulate``)."""

    #: report.json as a dict (the same text, parsed).
    report: Dict[str, Any]
    #: Every puncture, as punctures.npz holds it: ``zone`` (int32, an index
    #: into ``zone_names``), ``zone_names``, ``pass`` (uint32, the pass of
    #: its zone), ``time_s``, ``u_mm``, ``v_mm`` (float32), ``x_mm``,
    #: ``y_mm``, ``z_mm`` (float32, only when a mesh zone has punctures;
    #: NaN on flat zones) and ``avoid`` (uint8, 1 inside an avoid region).
    punctures: Dict[str, np.ndarray]
    #: report.json's text, byte for byte as ``needlemap simulate`` writes it.
    report_json: str = field(repr=False)


def simulate(
    scene: SceneLike,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    *,
    max_memory_mb: Optional[int] = None,
) -> Result:
    """Runs a scene, as ``needlemap simulate`` does.

    ``scene``: a scene file's path, its TOML text or a dict of its keys
    (mesh and trajectory files named in text or a dict are read relative to
    the current folder). ``seed`` replaces the scene's (hand jitter, random
    stamping); ``threads``: worker threads (None: all cores);
    ``max_memory_mb``: scenes estimated to need more are refused (None: the
    command line's default).

    Raises InputError, with the command line's message (file:line:column:
    key: what is wrong and what is accepted), when the scene cannot be run.
    """
    path, text = _source(scene, "scene")
    seed = _whole("seed", seed, 0, _SEED_MAX)
    max_memory_mb = _whole("max_memory_mb", max_memory_mb, 1, 2**44)
    report_json, punctures = _native.simulate(path, text, seed, _threads(threads), max_memory_mb)
    return Result(report=json.loads(report_json), punctures=punctures, report_json=report_json)


@dataclass(frozen=True)
class Comparison:
    """Strategies compared on the same zones and seeds (``needlemap compare``)."""

    #: compare.csv's rows, in its order: dicts of strategy, zone, metric,
    #: unit, n (seeds), mean, sd, ci_low, ci_high (floats exactly as the CSV
    #: holds them; metrics with no figure, as under-target without a band,
    #: left out).
    table: List[Dict[str, Any]]
    #: The strategies' names, in the order given.
    strategies: List[str]
    #: The zones' names, then "all zones".
    zones: List[str]
    #: The seeds every strategy ran.
    seeds: List[int]
    #: The metrics' keys, in the order of ``runs``' last axis.
    metrics: List[str]
    #: The confidence of the intervals.
    confidence: float
    #: Every run's figures: ``runs[strategy][seed][zone][metric]`` (indexes
    #: into the lists above; NaN where a zone has no figure).
    runs: List[List[List[List[float]]]] = field(repr=False)

    def rows(self) -> List[Dict[str, Any]]:
        """Every run as rows (compare.json's ``runs``): strategy, seed, zone
        and each metric by its key (None where it has no figure)."""
        out = []
        for s, strategy in enumerate(self.strategies):
            for i, seed in enumerate(self.seeds):
                for z, zone in enumerate(self.zones):
                    row: Dict[str, Any] = {"strategy": strategy, "seed": seed, "zone": zone}
                    for k, key in enumerate(self.metrics):
                        v = self.runs[s][i][z][k]
                        row[key] = None if math.isnan(v) else v
                    out.append(row)
        return out


def _inputs(scene: Union[SceneLike, Sequence[SceneLike]]) -> Tuple[List[str], List[Optional[str]]]:
    many = isinstance(scene, (list, tuple))
    items: List[SceneLike] = list(scene) if isinstance(scene, (list, tuple)) else [scene]  # type: ignore[list-item]
    paths: List[str] = []
    texts: List[Optional[str]] = []
    for k, item in enumerate(items):
        path, text = _source(item, f"input {k + 1}" if many else "strategies")
        paths.append(path)
        texts.append(text)
    return paths, texts


def _run_task(study: Any, seeds: List[int], threads: Optional[int]) -> List[List[List[List[float]]]]:
    """One task of a sweep, on a worker: every strategy on `seeds`."""
    return study.run(seeds, threads)


def _seed_chunks(seeds: List[int], per_task: int) -> List[List[int]]:
    return [seeds[i : i + per_task] for i in range(0, len(seeds), per_task)]


def _on_cluster(
    cluster: Any, study: Any, chunks: List[List[int]], threads: Optional[int], done: Callable[[int], None]
) -> List[List[List[List[List[float]]]]]:
    """Each chunk of seeds as one task on `cluster`; the results in chunk
    order. `done(k)` is called as chunk k's task comes back."""
    if isinstance(cluster, str):
        if cluster == "dask":
            from distributed import Client

            # DASK_SCHEDULER_ADDRESS names a running scheduler; without it, a
            # local cluster on this machine for the length of the call.
            address = os.environ.get("DASK_SCHEDULER_ADDRESS")
            with (
                Client(address) if address else Client(processes=True, threads_per_worker=1, dashboard_address=None)
            ) as client:
                return _on_cluster(client, study, chunks, threads, done)
        if cluster == "ray":
            import ray

            # RAY_ADDRESS names a running cluster ("auto": the one this
            # machine belongs to); without it, ray.init starts one here.
            started = not ray.is_initialized()
            if started:
                ray.init(address=os.environ.get("RAY_ADDRESS"), log_to_driver=False)
            ref = ray.put(study)
            # A task's runs use `threads` cores (None: all the node's; then
            # give Ray's workers one task a node, or threads to match).
            task = ray.remote(num_cpus=threads or 1)(_run_task)
            refs = [task.remote(ref, chunk, threads) for chunk in chunks]
            index = {r: k for k, r in enumerate(refs)}
            waiting = list(refs)
            try:
                while waiting:
                    ready, waiting = ray.wait(waiting, num_returns=1)
                    done(index[ready[0]])
                return ray.get(refs)
            finally:
                if started:
                    ray.shutdown()
        raise ValueError(f'cluster: {cluster!r} is not accepted: give None, "ray", "dask", or a client')
    if hasattr(cluster, "scatter") and hasattr(cluster, "gather"):
        # A dask.distributed Client: the study goes to each worker once.
        from distributed import as_completed

        shared = cluster.scatter(study, broadcast=True)
        futures = [cluster.submit(_run_task, shared, chunk, threads, pure=False) for chunk in chunks]
        index = {f.key: k for k, f in enumerate(futures)}
        try:
            for f in as_completed(futures):
                done(index[f.key])
            return cluster.gather(futures)
        except BaseException:
            cluster.cancel(futures)
            raise
    if hasattr(cluster, "submit"):
        # Any executor with submit() -> future.result(): concurrent.futures'.
        context = getattr(cluster, "_mp_context", None)
        if context is not None and context.get_start_method() == "fork":
            raise ValueError(
                "cluster: a process pool that forks would hang (a forked child has none of this process's "
                'worker threads): give it mp_context=multiprocessing.get_context("spawn")'
            )
        futures = [cluster.submit(_run_task, study, chunk, threads) for chunk in chunks]
        position = {f: k for k, f in enumerate(futures)}
        try:
            for f in concurrent.futures.as_completed(futures):
                done(position[f])
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    raise ValueError(
        f'cluster: a {type(cluster).__name__} is not accepted: give None, "ray", "dask", '
        "a dask.distributed Client or an executor with submit()"
    )


def compare(
    scene: Union[SceneLike, Sequence[SceneLike]],
    seeds: Optional[int] = None,
    cluster: Any = None,
    *,
    first_seed: Optional[int] = None,
    zones: Optional[Sequence[str]] = None,
    confidence: float = 0.95,
    seeds_per_task: Optional[int] = None,
    threads: Optional[int] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Comparison:
    """Compares strategies on the same zones and seeds, as ``needlemap
    compare`` does; ``table`` holds compare.csv's rows.

    ``scene``: a strategies file (or a scene: one strategy) as a path, TOML
    text or a dict, or a list of them (mixed freely, as the command line
    takes several files). ``seeds``: Monte-Carlo seeds per strategy (None:
    the file's, else 20); ``first_seed`` (None: the file's, else the base
    scene's); ``zones``: compare on these zones only (``--zone``);
    ``confidence``: of the intervals (0.5 to 0.999).

    ``cluster``: None runs here, on ``threads`` workers; "dask" sends the runs
    to the Dask scheduler at DASK_SCHEDULER_ADDRESS (without it, a local
    cluster); "ray" to the Ray cluster at RAY_ADDRESS (without it, a local
    one); or give a ``dask.distributed.Client`` or an executor with
    ``submit`` (``concurrent.futures``). Each task runs every strategy on
    ``seeds_per_task`` seeds (None: up to 4, fewer when there are many
    strategies) with ``threads`` threads on its worker (None: all its
    cores); the workers need needlemap installed, not the scene's files
    (they go with the tasks). The figures are the same wherever the runs
    ran. ``progress(done, total)`` is called as each task finishes (seeds
    done, of all).
    """
    paths, texts = _inputs(scene)
    zones_list = None if zones is None else [str(z) for z in ([zones] if isinstance(zones, str) else zones)]
    if zones_list is not None and not zones_list:
        raise ValueError("zones: an empty list is not accepted: give zone names, or None for the files' zones")
    seeds = _whole("seeds", seeds, 1, 100_000)
    first_seed = _whole("first_seed", first_seed, 0, _SEED_MAX)
    try:
        level = float(confidence)
    except (TypeError, ValueError):
        level = math.nan
    if isinstance(confidence, bool) or not 0.5 <= level <= 0.999:
        raise ValueError(f"confidence: {confidence!r} is not accepted: give a number from 0.5 to 0.999")
    threads = _threads(threads)
    study = _native.Study(paths, texts, zones_list, seeds, first_seed)
    all_seeds = study.seeds
    n_strategies = len(study.strategies)
    per_task = _whole("seeds_per_task", seeds_per_task, 1, 100_000)
    if cluster is None:
        # Enough runs a call to keep every thread busy, as the command line batches them.
        workers = threads or os.cpu_count() or 1
        per_task = max(1, -(-8 * workers // n_strategies))
    elif per_task is None:
        per_task = max(1, min(4, -(-64 // n_strategies)))
    chunks = _seed_chunks(all_seeds, per_task)
    if cluster is None:
        # Chunk by chunk here: Ctrl-C (KeyboardInterrupt) stops between chunks.
        results = []
        n_done = 0
        for chunk in chunks:
            results.append(study.run(chunk, threads))
            n_done += len(chunk)
            if progress is not None:
                progress(n_done, len(all_seeds))
    else:
        finished = [0]

        def done(k: int) -> None:
            finished[0] += len(chunks[k])
            if progress is not None:
                progress(finished[0], len(all_seeds))

        results = _on_cluster(cluster, study, chunks, threads, done)
    runs: List[List[List[List[float]]]] = [[] for _ in range(n_strategies)]
    for chunk, result in zip(chunks, results):
        if len(result) != n_strategies or any(len(r) != len(chunk) for r in result):
            raise RunError("a task returned runs of another shape than it was given: a worker runs another needlemap?")
        for s in range(n_strategies):
            runs[s].extend(result[s])
    table = study.table(runs, level)
    return Comparison(
        table=table,
        strategies=study.strategies,
        zones=study.zones,
        seeds=all_seeds,
        metrics=study.metrics,
        confidence=level,
        runs=runs,
    )
