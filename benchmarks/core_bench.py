"""Core benchmarks: replay speed against the naive baseline, memory of long runs, workers.

Each figure is measured in this run, side by side; peak memory is measured in fresh
subprocesses (``ru_maxrss``) so that one measurement cannot inflate the next. Timed replays run
five times (once with ``--quick``) and the median counts. Imports are not timed, for the
engine as for the baseline: each replay process imports ats_sim, pyarrow and pandas (which
pyarrow loads on first use) before its clock starts, as the baseline is timed in a process that
has them loaded.

Workers: the 1- and 2-worker replays alternate, run by run, so that a slow spell of this shared
machine hits both. The same rounds also run two 1-worker replays at once, side by side: two
independent processes cannot go faster than that, so ``2 x (1 replay alone) / (2 side by
side)`` is the most this machine gives two processes at that moment, the ceiling the 2-worker
figure is to be read against.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

Row = tuple[str, float, str, float | None, str, bool | None]

__all__ = ["rows"]

_CHILD = r"""
import json, resource, sys, time
import pandas, pyarrow
import ats_sim
from ats_sim.simulation import Simulation
pyarrow.array([1])  # pyarrow's first use loads pandas: not timed
days, workers, keep = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "keep"
t = time.perf_counter()
if keep:
    res = ats_sim.run("weekday", days=days, telemetry_interval_s=1, workers=workers)
    n = sum(res.summary.records.values())
else:
    n = 0
    sim = Simulation("weekday", days=days, telemetry_interval_s=1, workers=workers)
    for window in sim.windows():
        for b in window:
            n += b.num_rows
el = time.perf_counter() - t
print(json.dumps({"records": n, "seconds": el, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _args(days: float, workers: int, keep: bool) -> list[str]:
    return [sys.executable, "-c", _CHILD, str(days), str(workers), "keep" if keep else "stream"]


def _child(days: float, workers: int, keep: bool, repeat: int = 1) -> dict[str, Any]:
    """Run the replay in ``repeat`` fresh processes; the run with the median wall time."""
    runs = [_one(days, workers, keep) for _ in range(repeat)]
    return _median(runs)


def _one(days: float, workers: int, keep: bool) -> dict[str, Any]:
    out = subprocess.run(_args(days, workers, keep), capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def _side_by_side() -> float:
    """Two streamed 1-worker replays at once: the slower one's wall time."""
    procs = [
        subprocess.Popen(_args(1, 1, False), stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    times = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise RuntimeError("a side-by-side replay failed")
        times.append(json.loads(out.strip().splitlines()[-1])["seconds"])
    return max(times)


def _workers_rounds(repeat: int) -> tuple[dict[str, Any], dict[str, Any], list[float]]:
    """Alternating rounds of: one 1-worker replay, one 2-worker replay, two 1-worker replays
    side by side. Medians of the first two; each round's ceiling ``2 x alone / side by side``."""
    ones, twos, ceilings = [], [], []
    for _ in range(repeat):
        ones.append(_one(1, 1, keep=False))
        twos.append(_one(1, 2, keep=False))
        ceilings.append(2 * ones[-1]["seconds"] / _side_by_side())
    return _median(ones), _median(twos), ceilings


def _timed(fn: Any, repeat: int) -> tuple[int, float]:
    """``fn()``'s result and its median wall time over ``repeat`` calls."""
    times, n = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t)
    return n, statistics.median(times)


def rows(quick: bool = False) -> list[Row]:
    """Measure and return the table rows."""
    from benchmarks.naive import naive_replay

    out: list[Row] = []
    repeat = 1 if quick else 5
    day = _child(1, 1, keep=True, repeat=repeat)
    rate = day["records"] / day["seconds"]
    sim_rate = (19 * 3600) / day["seconds"]
    hours = 0.5 if quick else 1.0
    n_naive, t_naive = _timed(lambda: naive_replay(hours), repeat)
    naive_rate = n_naive / t_naive
    n_lean, t_lean = _timed(lambda: naive_replay(hours, lean=True), repeat)
    lean_rate = n_lean / t_lean
    out.append(
        (
            "replay weekday, 1 s telemetry, into memory",
            rate,
            "records/s",
            None,
            ">= 500,000",
            rate >= 500_000,
        )
    )
    out.append(
        ("  same, simulated seconds per wall second", sim_rate, "x real time", None, "", None)
    )
    out.append(("  same, peak memory (records kept)", day["maxrss_mb"], "MB", None, "", None))
    out.append(
        (
            "naive baseline: same records, SimPy timeout per train per tick",
            naive_rate,
            "records/s",
            None,
            "",
            None,
        )
    )
    out.append(
        (
            "engine vs naive baseline",
            rate / naive_rate,
            "ratio",
            rate / naive_rate,
            ">= 10x",
            rate / naive_rate >= 10,
        )
    )
    out.append(
        (
            "  lean variant (fewer fields, dicts never made into batches)",
            lean_rate,
            "records/s",
            None,
            "",
            None,
        )
    )
    out.append(("  engine vs lean variant", rate / lean_rate, "ratio", rate / lean_rate, "", None))
    one, two, ceilings = _workers_rounds(repeat)
    out.append(
        (
            "  same weekday streamed (records handed on, not kept)",
            one["records"] / one["seconds"],
            "records/s",
            None,
            "",
            None,
        )
    )
    if not quick:
        week = _child(7, 1, keep=False)
        ratio = week["maxrss_mb"] / one["maxrss_mb"]
        out.append(
            (
                "peak memory, streamed 7-day vs 1-day replay",
                ratio,
                "ratio",
                ratio,
                "<= 1.2x",
                ratio <= 1.2,
            )
        )
        out.append(
            (
                "  7-day streamed replay",
                week["records"] / week["seconds"],
                "records/s",
                None,
                "",
                None,
            )
        )
    speedup = one["seconds"] / two["seconds"]
    out.append(
        (
            "2 workers vs 1 worker, streamed weekday (medians of alternating runs)",
            speedup,
            "ratio",
            speedup,
            ">= 1.7x",
            speedup >= 1.7,
        )
    )
    ceiling = statistics.median(ceilings)
    out.append(
        (
            "  machine ceiling: 2 x (1 replay alone) / (2 replays side by side), median",
            ceiling,
            "ratio",
            ceiling,
            "",
            None,
        )
    )
    out.append(
        (
            f"  ceiling range over {len(ceilings)} rounds",
            min(ceilings),
            f"to {max(ceilings):.2f}",
            None,
            "",
            None,
        )
    )
    return out


if __name__ == "__main__":
    from benchmarks.run import print_rows

    print_rows(rows(quick="--quick" in sys.argv))
