"""Notebook-side benchmark: a 30-scenario sweep, one after another and in parallel processes.

Thirty variants of the weekday (six peak headways x five demand scales), each a whole service
day (``--quick``: the first four hours), run by :func:`ats_sim.sweep.sweep` first with one worker
(in this process, one after another) and then with one worker process per core. The ratio is
sequential time over parallel time. With N cores it can approach N but not reach it (process
start-up, the last variants finishing alone, other load on the machine): on 2 cores expect
about 1.7-1.9x at best. The target is 0.8 x the worker count. Both sweeps must give the same
figures, which is checked too.

On a machine shared with other work the load changes from minute to minute, so the 30 variants
run in three blocks of ten, each block once sequentially and once in parallel, alternating
which goes first; the totals are compared. (Each parallel block starts its worker processes
anew, so the parallel total pays process start-up three times: a slight handicap.) The mean
wall time of one variant in each mode shows how much the cores were shared: about equal on an
idle machine. A control row runs the same simulation alone and in N plain processes at once:
it says how much parallel work the machine could do at that moment, whatever the sweep does.

    python -m benchmarks.notebooks_bench [--quick]
"""

from __future__ import annotations

import itertools
import os
import sys
import time

Row = tuple[str, float, str, float | None, str, bool | None]

__all__ = ["GRID", "rows"]

#: 6 x 5 = 30 variants.
GRID = {"peak_headway_s": [150, 180, 210, 240, 270, 300], "demand.scale": [0.8, 0.9, 1.0, 1.1, 1.2]}


_CONTROL = """
import sys, time
from ats_sim import load_scenario
from ats_sim.sweep import figures
sc = load_scenario("weekday")
figures(sc, until="20m")
t = time.perf_counter()
figures(sc, until="3h", telemetry_interval_s=60)
print(time.perf_counter() - t)
"""


def _capacity(processes: int) -> float:
    """How many times the work of one plain process the machine does with ``processes`` at once.

    The same simulation runs alone, then in ``processes`` processes together: on an idle
    machine the answer is about ``processes`` (up to the core count); on a busy one, less.
    """
    import subprocess

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", _CONTROL], stdout=subprocess.PIPE, text=True)

    alone = float(start().communicate()[0])
    together = [start() for _ in range(processes)]
    slowest = max(float(p.communicate()[0]) for p in together)
    return processes * alone / slowest


def rows(quick: bool = False) -> list[Row]:
    """Run both sweeps and return the table rows."""
    import pandas as pd

    from ats_sim.sweep import sweep

    span = {"until": "4h"} if quick else {"days": 1}
    what = "first 4 h of a weekday" if quick else "one weekday"
    workers = max(1, min(os.cpu_count() or 1, 30))
    args = {**span, "telemetry_interval_s": 60}
    variants = [dict(zip(GRID, combo, strict=True)) for combo in itertools.product(*GRID.values())]
    blocks = [variants[i : i + 10] for i in range(0, len(variants), 10)]
    t_seq = t_par = 0.0
    seq_parts, par_parts = [], []
    for k, block in enumerate(blocks):
        for mode in ("seq", "par") if k % 2 == 0 else ("par", "seq"):
            started = time.perf_counter()
            table = sweep("weekday", block, workers=1 if mode == "seq" else workers, **args)
            elapsed = time.perf_counter() - started
            if mode == "seq":
                t_seq += elapsed
                seq_parts.append(table)
            else:
                t_par += elapsed
                par_parts.append(table)
    sequential = pd.concat(seq_parts, ignore_index=True)
    parallel = pd.concat(par_parts, ignore_index=True)

    figures = [c for c in sequential.columns if c != "seconds"]
    same = sequential[figures].equals(parallel[figures])
    ratio = t_seq / t_par
    n = len(sequential)
    load = os.getloadavg()[1]  # 5-minute load average: other work on the machine skews the ratio
    capacity = _capacity(workers)
    return [
        (f"sweep of {n} variants ({what} each), sequential", t_seq, "s", None, "", None),
        (
            f"  same sweep, {workers} worker processes",
            t_par,
            "s",
            ratio,
            f">= {0.8 * workers:.1f}x ({workers} cores: about {0.85 * workers:.1f}-{0.95 * workers:.1f}x at best)",
            ratio >= 0.8 * workers,
        ),
        ("  parallel figures identical to sequential", float(same), "bool", None, "1", same),
        (
            "  mean wall time of one variant, sequential",
            sequential["seconds"].mean(),
            "s",
            None,
            "",
            None,
        ),
        (
            "  mean wall time of one variant, in a worker process",
            parallel["seconds"].mean(),
            "s",
            parallel["seconds"].mean() / sequential["seconds"].mean(),
            "about 1.0x (higher: cores shared with other work)",
            None,
        ),
        (f"  machine load average (5 min), {os.cpu_count()} cores", load, "", None, "", None),
        (
            f"  control: {workers} plain processes at once vs one",
            capacity,
            "x the work",
            None,
            f"about {workers} when the machine is idle",
            None,
        ),
    ]


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.run import print_rows

    print_rows(rows(quick="--quick" in sys.argv), title="notebooks: parallel sweep")
