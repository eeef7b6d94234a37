"""Replays straight into the embedded warehouse: end-to-end speed and peak memory.

``python -m benchmarks.replay_bench [--quick]`` prints the table; ``benchmarks/run.py`` calls
:func:`rows`. Each replay runs in a fresh subprocess (``ru_maxrss`` is per process) that
simulates the weekday scenario and writes every record through the DuckDB sink into a new file,
as ``ats-sim run weekday --sink duckdb:///...`` does:

* one service day at 1 s telemetry, end to end (records/s, including the sink's close);
* peak memory of a 7-day replay against a 1-day replay, both at 10 s telemetry (a 7-day run at
  1 s would write 17 million records, several GB, for the same answer: memory must not grow
  with the length of the run). ``--quick``: 2 days against 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["rows"]

Row = tuple[str, float, str, float | None, str, bool | None]

_CHILD = r"""
import json, resource, sys, time
from ats_sim.simulation import Simulation
from sinks import open_sink
days, interval, path = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
n = 0
with open_sink("duckdb:///" + path.lstrip("/")) as sink:
    for window in Simulation("weekday", days=days, telemetry_interval_s=interval).windows():
        for b in window:
            sink.write_batch(b)
            n += b.num_rows
el = time.perf_counter() - t
print(json.dumps({"records": n, "seconds": el,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _replay(days: float, interval_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ats-replay-bench-") as tmp:
        path = Path(tmp) / "ats.duckdb"
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(days), str(interval_s), str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def rows(quick: bool = False) -> list[Row]:
    """Measure and return the table rows."""
    out: list[Row] = []
    day = _replay(1, 1.0)
    rate = day["records"] / day["seconds"]
    out.append(
        ("replay weekday, 1 s telemetry, into DuckDB end to end", rate, "records/s", None, "", None)
    )
    out.append((f"  same, {day['records']:,} records in", day["seconds"], "s", None, "", None))
    out.append(("  same, peak memory", day["maxrss_mb"], "MB", None, "", None))
    long_days = 2 if quick else 7
    one = _replay(1, 10.0)
    many = _replay(long_days, 10.0)
    ratio = many["maxrss_mb"] / one["maxrss_mb"]
    out.append(
        (
            f"peak memory, {long_days}-day vs 1-day replay into DuckDB (10 s telemetry)",
            ratio,
            "ratio",
            ratio,
            "<= 1.2x",
            ratio <= 1.2,
        )
    )
    out.append(
        (
            f"  {one['maxrss_mb']:.0f} MB vs {many['maxrss_mb']:.0f} MB; {long_days}-day rate",
            many["records"] / many["seconds"],
            "records/s",
            None,
            "",
            None,
        )
    )
    return out


if __name__ == "__main__":
    from benchmarks.run import print_rows

    print_rows(rows(quick="--quick" in sys.argv), title="ats-sim replay benchmarks")
