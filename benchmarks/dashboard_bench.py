"""Dashboard benchmark: every dashboard query on 10 million telemetry rows in DuckDB (< 500 ms).

``python -m benchmarks.dashboard_bench [--quick]`` prints the table; ``benchmarks/run.py``
calls :func:`rows`. Each database is made by the DuckDB sink's own schema code
(:func:`sinks.duckdb.apply_schema`) and filled with synthetic rows straight from DuckDB SQL,
inserted run by run in time order as a sink writes them, on the reference network's two lines:

* **many runs**: 10,000,000 telemetry rows as 100 one-day runs of 38 trains reporting every
  30 s (the built-in weekday's figures), with their station events and alerts; the page
  shows the latest run, as it does by default.
* **one huge run**: 10,000,000 rows in one run, 116 trains reporting every second for a day:
  the worst case, where every question about "the run" covers all the rows.

Each query is timed as the page runs it on a cache miss: on a fresh read-only connection
(:func:`sinks.duckdb.connect_readonly`; every poll opens one), with the page's default filters
(the last 3 hours) and the widest ones (the whole run), median of 3. ``--quick`` builds only
the many-runs database, with 1,000,000 rows.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from ats_sim.scenario import load_network
from dashboard import queries as q
from sinks.duckdb import apply_schema, connect_readonly

__all__ = ["CASES", "Case", "build", "measure", "rows"]

Row = tuple[str, float, str, float | None, str, bool | None]

TARGET_MS = 500.0
START = "2026-03-10 00:00:00+00"
SEGMENT_S = 120  # 20 s dwell + 100 s running from station to station
DWELL_S = 20


@dataclass(frozen=True)
class Case:
    """One synthetic warehouse: ``rows`` telemetry rows in ``runs`` runs."""

    name: str
    rows: int
    runs: int
    trains_per_line: int
    interval_s: int


CASES = (
    Case("many runs", 10_000_000, 100, 19, 30),
    Case("one huge run", 10_000_000, 1, 58, 1),
)
QUICK = Case("many runs, quick", 1_000_000, 10, 19, 30)


def _sql_str(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _stations_sql() -> str:
    """The reference network's stations as a VALUES list: line_ix, s (1-based), id, name, ..."""
    lines = load_network("reference").lines[:2]
    rows = [
        f"({i}, {j + 1}, {len(ln.stations)}, {_sql_str(ln.id)}, {_sql_str(st.id)}, "
        f"{_sql_str(st.name)}, {st.chainage_m!r}, {st.lat!r}, {st.lon!r})"
        for i, ln in enumerate(lines)
        for j, st in enumerate(ln.stations)
    ]
    return ", ".join(rows)


def build(path: Path, case: Case) -> dict[str, int]:
    """Create the schema in ``path`` and fill it as ``case`` says; return the tables' row counts."""
    apply_schema(path)
    trains = 2 * case.trains_per_line
    per_run = -(-case.rows // case.runs)
    tpl, iv = case.trains_per_line, case.interval_s
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            "CREATE TEMP TABLE st (line_ix INTEGER, s INTEGER, n_st INTEGER, line_id VARCHAR, "
            "st_id VARCHAR, st_name VARCHAR, ch DOUBLE, lat DOUBLE, lon DOUBLE)"
        )
        con.execute(f"INSERT INTO st VALUES {_stations_sql()}")
        # One row per (run, step, train): a shuttle from end to end with a dwell at each station.
        con.execute(
            f"""
            CREATE TEMP TABLE steps AS
            WITH base AS (
                SELECT i, i // {per_run} AS run_ix, ((i % {per_run}) // {trains}) * {iv} AS t,
                       ((i % {per_run}) % {trains}) // {tpl} AS line_ix,
                       ((i % {per_run}) % {trains}) % {tpl} AS k
                FROM range({case.rows}) AS r(i)
            ), lines AS (SELECT DISTINCT line_ix, n_st, line_id FROM st
            ), phase AS (
                SELECT base.*, lines.line_id, 2 * (n_st - 1) * {SEGMENT_S} AS period, n_st,
                       (t + k * (2 * (n_st - 1) * {SEGMENT_S}) // {tpl}) % (2 * (n_st - 1) * {SEGMENT_S}) AS ph
                FROM base JOIN lines USING (line_ix)
            ), pos AS (
                SELECT *, ph // ((n_st - 1) * {SEGMENT_S}) AS direction,
                       (ph % ((n_st - 1) * {SEGMENT_S})) // {SEGMENT_S} AS seg, ph % {SEGMENT_S} AS u
                FROM phase
            )
            SELECT i, run_ix, t, line_ix, k, line_id, period, direction, u,
                   'bench-run-' || lpad(CAST(run_ix AS VARCHAR), 3, '0') AS run_id,
                   line_id || '-' || lpad(CAST(k + 1 AS VARCHAR), 2, '0') AS train_id,
                   TIMESTAMPTZ '{START}' + to_days(CAST(run_ix AS INTEGER)) + to_seconds(t) AS ts,
                   CASE WHEN direction = 0 THEN seg + 1 ELSE n_st - seg END AS s_from,
                   CASE WHEN direction = 0 THEN seg + 2 ELSE n_st - seg - 1 END AS s_to,
                   CASE WHEN u < {DWELL_S} THEN 0.0 ELSE (u - {DWELL_S}) / {SEGMENT_S - DWELL_S}.0 END AS frac,
                   greatest(0, 500 + 450 * sin(2 * pi() * t / 86400.0 + k)) AS load
            FROM pos
            """
        )
        con.execute(
            """
            INSERT INTO ATS_TRANSFORMED
            SELECT 'bench-T-' || i, 'telemetry', 1, run_id, ts, s.line_id, train_id,
                   train_id || '-' || CAST((t + k) // period AS VARCHAR), direction,
                   CASE WHEN frac = 0 THEN 'dwelling' ELSE 'running' END, a.st_id, b.st_id,
                   a.ch + frac * (b.ch - a.ch), a.lat + frac * (b.lat - a.lat),
                   a.lon + frac * (b.lon - a.lon),
                   CASE WHEN frac = 0 THEN 0.0 ELSE 80.0 * sin(pi() * frac) END,
                   CASE WHEN frac = 0 THEN 0.0 ELSE 1.1 * cos(pi() * frac) END,
                   CAST(load AS BIGINT), load / 735.0, 231.6 + load * 0.07,
                   CASE WHEN frac = 0 THEN 150.0 ELSE 4600.0 * cos(pi() * frac) END,
                   t * 0.35, t * 0.1, load / 735.0 > 1.0,
                   frac > 0 AND 4600.0 * cos(pi() * frac) > 4183.0
            FROM steps AS s
            JOIN st AS a ON a.line_ix = s.line_ix AND a.s = s.s_from
            JOIN st AS b ON b.line_ix = s.line_ix AND b.s = s.s_to
            ORDER BY i
            """
        )
        # An arrival and a departure per train and station call (once per SEGMENT_S).
        con.execute(
            f"""
            INSERT INTO ATS_STATION_EVENTS
            SELECT 'bench-S-' || i || '-' || ev, 'station_event', 1, run_id,
                   ts + to_seconds(CASE WHEN ev = 'arrival' THEN 0 ELSE {DWELL_S} END),
                   s.line_id, train_id, 'trip', direction, a.st_id, a.st_name, ev, 400,
                   CASE WHEN ev = 'arrival' THEN 40 ELSE 0 END,
                   CASE WHEN ev = 'departure' THEN 45 ELSE 0 END,
                   CASE WHEN ev = 'departure' AND i % 97 = 0 THEN 12 ELSE 0 END,
                   CAST(20 + (i % 60) AS BIGINT),
                   CASE WHEN ev = 'departure' THEN {DWELL_S}.0 ELSE 0.0 END,
                   CASE WHEN ev = 'departure' THEN period / {tpl} * (0.4 + (i % 13) / 10.0) END,
                   period / {tpl} * 1.0
            FROM steps AS s JOIN st AS a ON a.line_ix = s.line_ix AND a.s = s.s_from,
                 (VALUES ('arrival'), ('departure')) AS e(ev)
            WHERE u < {iv}
            ORDER BY i, ev
            """
        )
        con.execute(
            f"""
            INSERT INTO ATS_ALERT_EVENTS
            SELECT 'bench-A-' || i || '-' || st, 'alert', 1, run_id,
                   ts + to_seconds(CASE WHEN st = 'cleared' THEN 40 ELSE 0 END), line_id,
                   'bench-alert-' || i, 'high_power_draw', st, 'warning', train_id, NULL,
                   4600.0, 4183.0, 'synthetic high power draw'
            FROM steps, (VALUES ('raised'), ('cleared')) AS e(st)
            WHERE i % {max(1, 5003 // iv)} = 0
            ORDER BY i, st
            """
        )
        counts = {
            t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in ("ATS_TRANSFORMED", "ATS_STATION_EVENTS", "ATS_ALERT_EVENTS")
        }
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return counts


def _timed(path: Path, fn: Callable[..., Any], *args: Any, repeat: int = 3) -> float:
    """Median milliseconds of ``fn(conn, *args)`` on a fresh read-only connection each time."""
    times = []
    for _ in range(repeat):
        con = connect_readonly(path)
        try:
            t0 = time.perf_counter()
            fn(con, *args)
            times.append((time.perf_counter() - t0) * 1000.0)
        finally:
            con.close()
    return statistics.median(times)


def measure(path: Path, repeat: int = 3) -> list[tuple[str, float]]:
    """``(query, median ms)`` for every query the page runs, default and widest filters."""
    with connect_readonly(path) as con:
        run_id = str(q.runs(con)["RUN_ID"].iloc[0])
        overview = q.run_overview(con, run_id)
    as_of = overview["TIMESTAMP"].max().to_pydatetime()
    line, train = str(overview["LINE_ID"].iloc[0]), str(overview["TRAIN_ID"].iloc[0])
    last3h = q.Filters(run_id, start=as_of - timedelta(hours=3), end=as_of)
    whole = q.Filters(run_id, end=as_of)
    one_train = q.Filters(run_id, (line,), (train,), as_of - timedelta(hours=3), as_of)
    cases: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
        ("missing_objects", q.missing_objects, ()),
        ("data_version", q.data_version, ()),
        ("runs", q.runs, ()),
        ("run_overview", q.run_overview, (run_id,)),
        ("kpis", q.kpis, (last3h, as_of)),
        ("kpis, one train", q.kpis, (one_train, as_of)),
        ("latest_status", q.latest_status, (last3h, as_of)),
        ("network_stations", q.network_stations, (run_id, ())),
        ("timeline, 3 h", q.timeline, (last3h, 60)),
        ("timeline, whole run", q.timeline, (whole, 300)),
        ("histogram, 3 h", q.histogram, (last3h, "LOAD_FACTOR", 0.05)),
        ("histogram, whole run", q.histogram, (whole, "POWER_DRAW_KW", 250.0)),
        ("speed_boxes, 3 h", q.speed_boxes, (last3h,)),
        ("speed_boxes, whole run", q.speed_boxes, (whole,)),
        ("station_crowding, 3 h", q.station_crowding, (last3h,)),
        ("headway_summary, 3 h", q.headway_summary, (last3h,)),
        ("headways, 3 h", q.headways, (last3h,)),
        ("alerts, 3 h", q.alerts, (last3h,)),
        ("alert_counts, 3 h", q.alert_counts, (last3h,)),
        ("alert_thresholds", q.alert_thresholds, (run_id,)),
        ("hourly_stats (view), 3 h", q.hourly_stats, (last3h,)),
        ("hourly_stats (view), whole run", q.hourly_stats, (whole,)),
        ("line_energy (view), 3 h", q.line_energy, (last3h,)),
        ("line_energy (view), whole run", q.line_energy, (whole,)),
        ("raw_rows, 3 h", q.raw_rows, ("ATS_TRANSFORMED", last3h, 200)),
    ]
    t0 = time.perf_counter()
    for _ in range(repeat):
        connect_readonly(path).close()
    out = [("open a read-only connection", (time.perf_counter() - t0) * 1000.0 / repeat)]
    for name, fn, args in cases:
        out.append((name, _timed(path, fn, *args, repeat=repeat)))
    return out


def rows(quick: bool = False) -> list[Row]:
    """Benchmark rows ``(name, value, unit, ratio, target, met)``: one per query and case."""
    out: list[Row] = []
    for case in (QUICK,) if quick else CASES:
        with tempfile.TemporaryDirectory(prefix="ats-dashboard-bench-") as tmp:
            path = Path(tmp) / "bench.duckdb"
            t0 = time.perf_counter()
            counts = build(path, case)
            out.append(
                (
                    f"dashboard ({case.name}): build {counts['ATS_TRANSFORMED']:,} telemetry rows",
                    time.perf_counter() - t0,
                    "s",
                    None,
                    "",
                    None,
                )
            )
            for name, ms in measure(path, repeat=1 if quick else 3):
                out.append(
                    (
                        f"dashboard ({case.name}): {name}",
                        ms,
                        "ms",
                        None,
                        f"< {TARGET_MS:.0f} ms",
                        ms < TARGET_MS,
                    )
                )
    return out


def main() -> None:
    """Print the rows as the harness does."""
    from benchmarks.run import print_rows

    print_rows(list(rows(quick="--quick" in sys.argv)), title="ats-sim dashboard benchmarks")


if __name__ == "__main__":
    main()
