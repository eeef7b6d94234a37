"""Benchmark: every dashboard query on 10 million telemetry rows in DuckDB answers in under 500 ms.

The database is made with the DuckDB sink's own schema code (:func:`sinks.duckdb.apply_schema`)
and filled with synthetic rows straight from DuckDB SQL: one run of one service day at 1 s
telemetry, 116 trains on the reference network's two lines (10,022,400 telemetry rows), their
station events and some alerts. It is the worst case for the dashboard: every view scans the
whole run.

Each query is timed as the dashboard runs it on a cache miss, on a fresh read-only connection
(:func:`sinks.duckdb.connect_readonly`, as every poll opens one), median of three; opening
the connection is timed as its own row.

Run standalone::

    python benchmarks/dashboard_bench.py            # builds the database in a temporary folder
    python benchmarks/dashboard_bench.py --rows 1e6 --keep /tmp/bench.duckdb

``rows()`` returns ``(name, value, unit, ratio, target, met)`` rows; ``ratio`` is
value / target (below 1 meets the target).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from ats_sim.scenario import load_network
from dashboard import queries as q
from sinks.duckdb import apply_schema, connect_readonly

__all__ = ["TARGET_MS", "build", "measure", "rows"]

TARGET_MS = 500.0
ROWS = 10_000_000
RUN_ID = "bench-run"
TRAINS_PER_LINE = 58
SEGMENT_S = 120  # 20 s dwell + 100 s running between stations
DWELL_S = 20
START = "2026-03-10 00:00:00+00"


def _sql_str(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _line_sql(network: Any) -> tuple[str, str]:
    """SQL list literals per line: a CASE over the line index for chainages, lats, lons, ids."""
    lines = network.lines[:2]

    def lists(attr: str, fmt: Callable[[Any], str]) -> str:
        cases = " ".join(
            f"WHEN {i} THEN [{', '.join(fmt(getattr(s, attr)) for s in ln.stations)}]"
            for i, ln in enumerate(lines)
        )
        return f"CASE line_ix {cases} END"

    ids = "CASE line_ix " + " ".join(f"WHEN {i} THEN '{ln.id}'" for i, ln in enumerate(lines)) + " END"
    nst = "CASE line_ix " + " ".join(f"WHEN {i} THEN {ln.n_stations}" for i, ln in enumerate(lines)) + " END"
    cols = (
        f"{ids} AS line_id, {nst} AS n_st, "
        f"{lists('chainage_m', repr)} AS ch, {lists('lat', repr)} AS lat, {lists('lon', repr)} AS lon, "
        f"{lists('id', _sql_str)} AS st_id, {lists('name', _sql_str)} AS st_name"
    )
    return cols, f"{len(lines)}"


def build(path: Path, n_rows: int = ROWS) -> dict[str, int]:
    """Create the schema in ``path`` and fill it with about ``n_rows`` telemetry rows."""
    apply_schema(path)
    network = load_network("reference")
    cols, n_lines = _line_sql(network)
    trains = TRAINS_PER_LINE * int(n_lines)
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        # One row per (step, train); positions follow a shuttle along the line with dwells.
        con.execute(
            f"""
            CREATE TEMP TABLE steps AS
            WITH base AS (
                SELECT i, i % {trains} AS train_ix, i // {trains} AS step,
                       (i % {trains}) // {TRAINS_PER_LINE} AS line_ix,
                       (i % {trains}) % {TRAINS_PER_LINE} AS k
                FROM range({n_rows}) AS r(i)
            ), geo AS (
                SELECT *, {cols} FROM base
            ), phase AS (
                SELECT *, 2 * (n_st - 1) * {SEGMENT_S} AS period,
                       (step + k * (2 * (n_st - 1) * {SEGMENT_S}) // {TRAINS_PER_LINE})
                           % (2 * (n_st - 1) * {SEGMENT_S}) AS ph
                FROM geo
            ), pos AS (
                SELECT *, ph // ((n_st - 1) * {SEGMENT_S}) AS direction,
                       (ph % ((n_st - 1) * {SEGMENT_S})) // {SEGMENT_S} AS seg,
                       ph % {SEGMENT_S} AS u
                FROM phase
            )
            SELECT *,
                CASE WHEN direction = 0 THEN seg + 1 ELSE n_st - seg END AS s_from,
                CASE WHEN direction = 0 THEN seg + 2 ELSE n_st - seg - 1 END AS s_to,
                CASE WHEN u < {DWELL_S} THEN 0.0 ELSE (u - {DWELL_S}) / {SEGMENT_S - DWELL_S}.0 END AS frac
            FROM pos
            """
        )
        con.execute(
            f"""
            INSERT INTO ATS_TRANSFORMED
            SELECT
                'bench-T-' || i, 'telemetry', 1, '{RUN_ID}',
                TIMESTAMPTZ '{START}' + to_seconds(step),
                line_id, line_id || '-' || lpad(CAST(k + 1 AS VARCHAR), 2, '0'),
                line_id || '-' || lpad(CAST(k + 1 AS VARCHAR), 2, '0') || '-' || CAST((step + k) // period AS VARCHAR),
                direction, CASE WHEN frac = 0 THEN 'dwelling' ELSE 'running' END,
                st_id[s_from], st_id[s_to],
                ch[s_from] + frac * (ch[s_to] - ch[s_from]),
                lat[s_from] + frac * (lat[s_to] - lat[s_from]),
                lon[s_from] + frac * (lon[s_to] - lon[s_from]),
                CASE WHEN frac = 0 THEN 0.0 ELSE 80.0 * sin(pi() * frac) END,
                CASE WHEN frac = 0 THEN 0.0 ELSE 1.1 * cos(pi() * frac) END,
                CAST(greatest(0, 500 + 450 * sin(2 * pi() * step / 86400.0 + k)) AS BIGINT),
                greatest(0, 500 + 450 * sin(2 * pi() * step / 86400.0 + k)) / 735.0,
                231.6 + greatest(0, 500 + 450 * sin(2 * pi() * step / 86400.0 + k)) * 0.07,
                CASE WHEN frac = 0 THEN 150.0 ELSE 4600.0 * cos(pi() * frac) END,
                step * 0.35, step * 0.1,
                greatest(0, 500 + 450 * sin(2 * pi() * step / 86400.0 + k)) / 735.0 > 1.0,
                frac > 0 AND 4600.0 * cos(pi() * frac) > 4183.0
            FROM steps
            """
        )
        # One arrival and one departure per train and station call (every SEGMENT_S).
        con.execute(
            f"""
            INSERT INTO ATS_STATION_EVENTS
            SELECT
                'bench-S-' || i || '-' || ev, 'station_event', 1, '{RUN_ID}',
                TIMESTAMPTZ '{START}' + to_seconds(step + CASE WHEN ev = 'arrival' THEN 0 ELSE {DWELL_S} END),
                line_id, line_id || '-' || lpad(CAST(k + 1 AS VARCHAR), 2, '0'), 'trip', direction,
                st_id[s_from], st_name[s_from], ev, 400,
                CASE WHEN ev = 'arrival' THEN 40 ELSE 0 END,
                CASE WHEN ev = 'departure' THEN 45 ELSE 0 END,
                CASE WHEN ev = 'departure' AND i % 97 = 0 THEN 12 ELSE 0 END,
                CAST(20 + (i % 60) AS BIGINT),
                CASE WHEN ev = 'departure' THEN {DWELL_S}.0 ELSE 0.0 END,
                CASE WHEN ev = 'departure' THEN period / {TRAINS_PER_LINE} * (0.4 + (i % 13) / 10.0) END,
                period / {TRAINS_PER_LINE} * 1.0
            FROM steps, (VALUES ('arrival'), ('departure')) AS e(ev)
            WHERE u = 0
            """
        )
        con.execute(
            f"""
            INSERT INTO ATS_ALERT_EVENTS
            SELECT
                'bench-A-' || i || '-' || st, 'alert', 1, '{RUN_ID}',
                TIMESTAMPTZ '{START}' + to_seconds(step + CASE WHEN st = 'cleared' THEN 40 ELSE 0 END),
                line_id, 'bench-alert-' || i, 'high_power_draw', st, 'warning',
                line_id || '-' || lpad(CAST(k + 1 AS VARCHAR), 2, '0'), NULL, 4600.0, 4183.0,
                'synthetic high power draw'
            FROM steps, (VALUES ('raised'), ('cleared')) AS e(st)
            WHERE i % 5003 = 0
            """
        )
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
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


def measure(path: Path) -> list[tuple[str, float]]:
    """``(query, median ms)`` for every query the page runs, with its default and narrow filters."""
    with_con = connect_readonly(path)
    try:
        runs = q.runs(with_con)
        run_id = str(runs["RUN_ID"].iloc[0])
        overview = q.run_overview(with_con, run_id)
    finally:
        with_con.close()
    as_of = overview["TIMESTAMP"].max().to_pydatetime()
    line = str(overview["LINE_ID"].iloc[0])
    train = str(overview["TRAIN_ID"].iloc[0])
    window = q.Filters(run_id, start=as_of - timedelta(hours=3), end=as_of)
    whole = q.Filters(run_id, end=as_of)
    one_line = q.Filters(run_id, lines=(line,), start=as_of - timedelta(hours=3), end=as_of)
    one_train = q.Filters(run_id, lines=(line,), trains=(train,), start=as_of - timedelta(hours=3), end=as_of)

    t0 = time.perf_counter()
    for _ in range(3):
        connect_readonly(path).close()
    out = [("open a read-only connection", (time.perf_counter() - t0) * 1000.0 / 3)]
    cases: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
        ("missing_objects", q.missing_objects, ()),
        ("data_version", q.data_version, ()),
        ("runs", q.runs, ()),
        ("run_overview", q.run_overview, (run_id,)),
        ("kpis (all lines)", q.kpis, (whole, as_of)),
        ("kpis (one train)", q.kpis, (one_train, as_of)),
        ("latest_status", q.latest_status, (window,)),
        ("network_stations", q.network_stations, (run_id, ())),
        ("timeline (3 h, per minute)", q.timeline, (window, "minute")),
        ("timeline (whole run, per hour)", q.timeline, (whole, "hour")),
        ("timeline (one line, 3 h)", q.timeline, (one_line, "minute")),
        ("histogram load factor (3 h)", q.histogram, (window, "LOAD_FACTOR", 0.05)),
        ("histogram power (whole run)", q.histogram, (whole, "POWER_DRAW_KW", 250.0)),
        ("speed_boxes (3 h)", q.speed_boxes, (window,)),
        ("speed_boxes (whole run)", q.speed_boxes, (whole,)),
        ("station_crowding (3 h)", q.station_crowding, (window,)),
        ("headway_summary (3 h)", q.headway_summary, (window,)),
        ("headways (3 h)", q.headways, (window,)),
        ("alerts (3 h)", q.alerts, (window,)),
        ("alert_counts (3 h)", q.alert_counts, (window,)),
        ("alert_thresholds", q.alert_thresholds, (run_id,)),
        ("hourly_stats (3 h)", q.hourly_stats, (window,)),
        ("hourly_stats (whole run)", q.hourly_stats, (whole,)),
        ("line_energy (3 h)", q.line_energy, (window,)),
        ("line_energy (whole run)", q.line_energy, (whole,)),
        ("raw_rows telemetry (3 h)", q.raw_rows, ("ATS_TRANSFORMED", window, 200)),
    ]
    for name, fn, args in cases:
        out.append((name, _timed(path, fn, *args)))
    return out


def rows(n_rows: int = ROWS, keep: Path | None = None) -> list[tuple[str, float, str, float, float, bool]]:
    """Benchmark rows ``(name, value, unit, ratio, target, met)``: one per query, plus build facts."""
    with tempfile.TemporaryDirectory(prefix="ats-dash-bench-") as tmp:
        path = keep or Path(tmp) / "bench.duckdb"
        if keep is None or not keep.exists():
            t0 = time.perf_counter()
            counts = build(path, n_rows)
            build_s = time.perf_counter() - t0
        else:
            con = connect_readonly(path)
            counts = {"ATS_TRANSFORMED": con.execute("SELECT count(*) FROM ATS_TRANSFORMED").fetchone()[0]}  # type: ignore[index]
            con.close()
            build_s = float("nan")
        out: list[tuple[str, float, str, float, float, bool]] = [
            ("dashboard bench: telemetry rows", float(counts["ATS_TRANSFORMED"]), "rows", 1.0, float(n_rows), True),
            ("dashboard bench: build time", build_s, "s", float("nan"), float("nan"), True),
        ]
        for name, ms in measure(path):
            out.append((f"dashboard query: {name}", ms, "ms", ms / TARGET_MS, TARGET_MS, ms < TARGET_MS))
    return out


def main() -> None:
    """Print the rows as a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, default=ROWS, help="telemetry rows to generate")
    ap.add_argument("--keep", type=Path, default=None, help="build into (or reuse) this file")
    args = ap.parse_args()
    result = rows(int(args.rows), args.keep)
    width = max(len(r[0]) for r in result)
    for name, value, unit, ratio, target, met in result:
        print(f"{name:<{width}}  {value:>12,.1f} {unit:<4}  target {target:>10,.0f}  ratio {ratio:5.2f}  {'met' if met else 'MISSED'}")
    missed = [r[0] for r in result if not r[5]]
    print(f"\n{len(result) - len(missed)} of {len(result)} met" + (f"; missed: {', '.join(missed)}" if missed else ""))


if __name__ == "__main__":
    main()
