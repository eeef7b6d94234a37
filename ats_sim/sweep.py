"""Parameter sweeps: many variants of a scenario, run in parallel processes, one row each.

>>> from ats_sim.sweep import sweep
>>> table = sweep("weekday", {"demand.scale": [1.0, 1.5]}, until="20m", workers=1)
>>> list(table["demand.scale"])
[1.0, 1.5]
>>> bool((table["energy_mwh"] > 0).all())
True

Each variant is a whole :func:`ats_sim.run` that keeps no records, only its key figures
(:data:`FIGURES`). With ``workers > 1`` the variants are spread over that many worker
processes, started as plain ``python -m ats_sim.sweep`` subprocesses that read jobs from stdin
(never through ``multiprocessing``, so a notebook or a script without a ``__main__`` guard is
not re-imported). Every variant runs with its own seed as given, so a sweep gives the same
figures with one worker or many.

Grid keys name what to change: a top-level scenario field (``seed``), a dotted path into one
(``demand.scale``, ``weather.max_temp_c``, ``operations.min_dwell_s``), or ``peak_headway_s``,
the headway of the timetable's peak periods (those with the shortest headway).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from ats_sim._frames import read_frame, write_frame
from ats_sim.errors import AtsSimError, ScenarioError
from ats_sim.records import Batch
from ats_sim.scenario import Scenario, load_scenario
from ats_sim.simulation import Simulation

if TYPE_CHECKING:  # pandas is imported only by sweep(), so worker processes start quickly
    import pandas as pd

__all__ = ["FIGURES", "PEAK_HEADWAY", "SweepError", "figures", "sweep", "vary"]

#: The key figures of each variant, in column order (``alerts_<type>`` columns follow ``alerts``).
FIGURES = (
    "energy_mwh",
    "regen_mwh",
    "peak_load_factor",
    "p95_load_factor",
    "mean_load_factor",
    "overcrowded_share",
    "peak_passengers",
    "boarded",
    "left_behind",
    "max_waiting",
    "alerts",
)
#: The grid key that sets the headway of the timetable's peak periods.
PEAK_HEADWAY = "peak_headway_s"

_LOAD_BINS = 1000  # load factor histogram: bins of 0.01 up to 10


class SweepError(AtsSimError):
    """A variant of a sweep failed; the message names it and says why."""


def vary(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """A validated copy of ``scenario`` with ``changes`` applied (keys as in a sweep grid).

    >>> base = load_scenario("weekday")
    >>> vary(base, {"peak_headway_s": 150}).operations.headway_at(8 * 3600, "R")
    150.0
    >>> vary(base, {"demand.scale": 2}).demand.scale
    2.0
    """
    data = scenario.model_dump(by_alias=True)
    for key, value in changes.items():
        if key == PEAK_HEADWAY:
            periods = data["operations"]["periods"]
            peak = min(p["headway_s"] for p in periods)
            for p in periods:
                if p["headway_s"] == peak:
                    p["headway_s"] = value
            continue
        *path, last = key.split(".")
        node = data
        for i, part in enumerate(path):
            if not isinstance(node.get(part), dict):
                raise ScenarioError(
                    f"sweep: {key!r}: scenario has no section {'.'.join(path[: i + 1])!r}"
                )
            node = node[part]
        if last not in node and not (path and path[-1] in _MAPPINGS):
            raise ScenarioError(f"sweep: {key!r}: no field {last!r} (check the spelling)")
        node[last] = value
    top = {
        k: data[k]
        for k in {c.split(".")[0] if c != PEAK_HEADWAY else "operations" for c in changes}
    }
    return scenario.with_changes(**top)


#: Sections whose keys are free (a line id), so a new key is not a typo.
_MAPPINGS = ("line_headway_factor", "od_matrix")


def _expand(
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    if grid is None:
        return [{}]
    if isinstance(grid, Mapping):
        keys = list(grid)
        for k in keys:
            if isinstance(grid[k], str) or not isinstance(grid[k], Sequence | np.ndarray):
                raise ScenarioError(f"sweep: grid values must be lists, got {k}={grid[k]!r}")
        return [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(list(grid[k]) for k in keys))
        ]
    return [dict(g) for g in grid]


class _Figures:
    """Streams a run's batches into the figures :class:`~ats_sim.summary.RunSummary` lacks."""

    def __init__(self) -> None:
        self.load_hist = np.zeros(_LOAD_BINS + 1, dtype=np.int64)
        self.load_sum = 0.0
        self.samples = 0
        self.overcrowded = 0
        self.max_waiting = 0

    def add(self, batch: Batch) -> None:
        data = batch.data
        if data.num_rows == 0:
            return
        if batch.type.name == "telemetry":
            lf = data.column("load_factor").to_numpy(zero_copy_only=False)
            self.load_hist += np.bincount(
                np.clip((lf * 100).astype(np.int64), 0, _LOAD_BINS), minlength=_LOAD_BINS + 1
            )
            self.load_sum += float(lf.sum())
            self.samples += len(lf)
            self.overcrowded += int(
                pc.sum(data.column("is_overcrowded").cast("int64")).as_py() or 0
            )
        elif batch.type.name == "station_event":
            self.max_waiting = max(
                self.max_waiting, int(pc.max(data.column("waiting")).as_py() or 0)
            )

    def p95(self) -> float:
        if self.samples == 0:
            return 0.0
        k = int(np.searchsorted(np.cumsum(self.load_hist), 0.95 * self.samples))
        return round(k / 100, 2)


def figures(scenario: Scenario, **run_args: Any) -> dict[str, Any]:
    """Run ``scenario`` keeping no records and return its key figures (:data:`FIGURES`)."""
    from ats_sim.api import run

    extra = _Figures()
    started = time.perf_counter()
    result = run(scenario, emit=extra.add, keep=False, **run_args)
    s = result.summary
    out: dict[str, Any] = {
        "energy_mwh": round(s.energy_kwh / 1000, 3),
        "regen_mwh": round(s.regen_kwh / 1000, 3),
        "peak_load_factor": round(s.peak_load_factor, 3),
        "p95_load_factor": extra.p95(),
        "mean_load_factor": round(extra.load_sum / extra.samples, 4) if extra.samples else 0.0,
        "overcrowded_share": round(extra.overcrowded / extra.samples, 4) if extra.samples else 0.0,
        "peak_passengers": s.peak_passengers,
        "boarded": s.passengers_boarded,
        "left_behind": s.left_behind,
        "max_waiting": extra.max_waiting,
        "alerts": sum(s.alerts_raised.values()),
    }
    out.update({f"alerts_{k}": v for k, v in sorted(s.alerts_raised.items())})
    out.update(
        trains=s.trains,
        records=sum(s.records.values()),
        run_id=result.run_id,
        seconds=round(time.perf_counter() - started, 2),
    )
    return out


# --------------------------------------------------------------------------- worker processes


def _serve() -> None:
    """The worker loop: a pickled ``(scenario, run_args)`` per frame in, its figures out."""
    src, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            job = read_frame(src)
        except EOFError:
            return
        try:
            scenario, run_args = pickle.loads(job)
            answer = b"+" + pickle.dumps(figures(scenario, **run_args))
        except Exception as exc:  # reported to the parent, which names the variant
            answer = b"!" + f"{type(exc).__name__}: {exc}".encode()
        write_frame(out, answer)


def _in_processes(
    jobs: list[tuple[Scenario, dict[str, Any]]], workers: int
) -> list[dict[str, Any] | str]:
    """Run the jobs on ``workers`` worker processes; a failed job's slot holds its error text.

    One thread per worker process hands it the next job and waits for its answer. If the
    caller is interrupted (Ctrl-C, a notebook's stop button), no further job is handed out and
    every worker process is killed.
    """
    results: list[dict[str, Any] | str | None] = [None] * len(jobs)
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(jobs)):
        todo.put(i)
    root = str(Path(__file__).resolve().parent.parent)  # import ats_sim from where we did
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    stop = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []
    deaths: list[str] = []

    def drive(proc: subprocess.Popen[bytes], err: IO[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        while not stop.is_set():
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                write_frame(proc.stdin, pickle.dumps(jobs[i], protocol=pickle.HIGHEST_PROTOCOL))
                data = read_frame(proc.stdout)
            except (EOFError, BrokenPipeError, ValueError):  # ValueError: pipe closed by a kill
                proc.wait(timeout=10)
                err.seek(0)
                tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
                death = f"its worker process died (exit {proc.returncode}): {' / '.join(tail)}"
                results[i] = death
                deaths.append(death)
                return
            results[i] = pickle.loads(data[1:]) if data.startswith(b"+") else data[1:].decode()

    with contextlib.ExitStack() as stack:
        threads = []
        for _ in range(workers):
            err = stack.enter_context(tempfile.TemporaryFile())
            proc = subprocess.Popen(
                [sys.executable, "-m", "ats_sim.sweep"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
            )
            procs.append(proc)
            threads.append(threading.Thread(target=drive, args=(proc, err), daemon=True))
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            stop.set()
            for proc in procs:
                if any(t.is_alive() for t in threads):
                    proc.kill()  # interrupted: do not wait for the running variants
                assert proc.stdin is not None and proc.stdout is not None
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # EOF: the worker's loop ends
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
    reason = deaths[0] if deaths else "not run"
    return [f"not run: {reason}" if r is None else r for r in results]


def sweep(
    scenario: str | Scenario | Sequence[str | Scenario],
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None = None,
    *,
    until: Any = None,
    days: float | None = None,
    seed: int | None = None,
    telemetry_interval_s: float | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Run every variant and return one row of key figures per variant.

    Args:
        scenario: a scenario (name, TOML path or :class:`Scenario`), or a list of them.
        grid: ``{key: [values]}`` for every combination (keys: see the module docstring), or a
            list of ``{key: value}`` changes; applied to each scenario. ``None``: run the
            scenarios as they are.
        until, days, seed, telemetry_interval_s: as for :func:`ats_sim.run`, for every variant.
        workers: worker processes (default: the CPU count, at most one per variant); ``1``
            runs the variants one after another in this process.

    Returns:
        A DataFrame with ``scenario``, one column per grid key, then :data:`FIGURES`,
        ``alerts_<type>`` (raised alerts of each type, 0 when none), ``trains``, ``records``,
        ``run_id`` and ``seconds`` (wall time of the variant's run).

    Raises:
        ScenarioError, ConfigError: a variant is not a valid scenario, or a run argument is
            out of range (checked before anything runs).
        SweepError: a variant failed while running.
    """
    import pandas as pd

    bases = [scenario] if isinstance(scenario, str | Scenario) else list(scenario)
    changes = _expand(grid)
    run_args = {
        "until": until,
        "days": days,
        "seed": seed,
        "telemetry_interval_s": telemetry_interval_s,
    }
    jobs: list[tuple[Scenario, dict[str, Any]]] = []
    labels: list[dict[str, Any]] = []
    for base in bases:
        sc = load_scenario(base)
        for ch in changes:
            variant = vary(sc, ch) if ch else sc
            Simulation(variant, **run_args)  # checks until/days/interval here, before anything runs
            jobs.append((variant, run_args))
            labels.append({"scenario": sc.name, **ch})
    n = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    results: list[dict[str, Any] | str]
    if n == 1:
        results = []
        for sc, args in jobs:
            try:
                results.append(figures(sc, **args))
            except Exception as exc:
                results.append(f"{type(exc).__name__}: {exc}")
    else:
        results = _in_processes(jobs, n)
    for label, res in zip(labels, results, strict=True):
        if isinstance(res, str):
            what = ", ".join(f"{k}={v}" for k, v in label.items())
            raise SweepError(f"sweep variant {what} failed: {res}")
    rows = [{**label, **res} for label, res in zip(labels, results, strict=True)]  # type: ignore[dict-item]
    table = pd.DataFrame(rows)
    alert_cols = sorted(c for c in table.columns if c.startswith("alerts_"))
    table[alert_cols] = table[alert_cols].fillna(0).astype("int64")
    keys = list(dict.fromkeys(k for label in labels for k in label))
    order = [*keys, *FIGURES, *alert_cols, "trains", "records", "run_id", "seconds"]
    return table[order]


if __name__ == "__main__":
    _serve()
