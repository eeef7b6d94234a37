"""Dashboard benchmark: every dashboard query on 10 million telemetry rows in DuckDB (< 500 ms).

``python -m benchmarks.dashboard_bench [--quick] [--cache DIR] [--case NAME] [--cpu]`` prints
the table (see ``--help``); ``benchmarks/run.py`` calls :func:`rows`. Each database is made by
the DuckDB sink's schema code (:func:`sinks.duckdb.apply_schema`) and filled with synthetic
rows from DuckDB SQL (floats rounded to each field's decimals, as the simulator writes them),
run by run in time order as a sink writes them, on the reference
network's two lines: **many runs** (10,000,000 rows as 100 one-day runs of 38 trains reporting
every 30 s, the weekday's figures, with station events and alerts; the page shows the latest
run) and **one huge run** (10,000,000 rows, 116 trains reporting every second for a day: the
worst case, where every question about "the run" covers all the rows).

Each query is timed as the page runs it on a cache miss, on a fresh read-only connection
(:func:`sinks.duckdb.connect_readonly`), median of 3: the window queries for *every* window
the page offers (read from ``dashboard/app.py``, 15 minutes to the whole run) with the
timeline bucket the page picks, the run-level ones once, each shipped view whole for the run,
and a train selection over the whole run. Baselines, run in turn with their query: the view
definitions and timeline query shipped before the hour-key rewrite (``ratio`` = baseline / new).
``--cache DIR`` keeps the built databases (named by a hash of the build code and case) and
re-applies the schema, so the views are the current ones. ``--quick``: many runs, 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import inspect
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from ats_sim.records import TELEMETRY
from ats_sim.scenario import load_network
from dashboard import queries as q
from dashboard.filters import Filters, where
from sinks.duckdb import apply_schema, connect_readonly
from sinks.schema import VIEWS

__all__ = ["CASES", "Case", "build", "measure", "page_windows", "rows"]

Row = tuple[str, float, str, float | None, str, bool | None]

TARGET_MS = 500.0
START = "2026-03-10 00:00:00+00"
SEGMENT_S = 120  # 20 s dwell + 100 s running from station to station
DWELL_S = 20
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


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
    # Floats carry the decimals the simulator rounds each field to, as in a real run's rows.
    d = {f.name: f.decimals for f in TELEMETRY.fields}
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
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
            f"""
            INSERT INTO ATS_TRANSFORMED
            SELECT 'bench-T-' || i, 'telemetry', 1, run_id, ts, s.line_id, train_id,
                   train_id || '-' || CAST((t + k) // period AS VARCHAR), direction,
                   CASE WHEN frac = 0 THEN 'dwelling' ELSE 'running' END, a.st_id, b.st_id,
                   round(a.ch + frac * (b.ch - a.ch), {d["chainage_m"]}),
                   round(a.lat + frac * (b.lat - a.lat), {d["latitude"]}),
                   round(a.lon + frac * (b.lon - a.lon), {d["longitude"]}),
                   round(CASE WHEN frac = 0 THEN 0.0 ELSE 80.0 * sin(pi() * frac) END,
                         {d["speed_kmh"]}),
                   round(CASE WHEN frac = 0 THEN 0.0 ELSE 1.1 * cos(pi() * frac) END,
                         {d["acceleration_ms2"]}),
                   CAST(load AS BIGINT), round(load / 735.0, {d["load_factor"]}),
                   round(231.6 + load * 0.07, {d["total_weight_tons"]}),
                   round(CASE WHEN frac = 0 THEN 150.0 ELSE 4600.0 * cos(pi() * frac) END,
                         {d["power_draw_kw"]}),
                   round(t * 0.35, {d["energy_kwh"]}), round(t * 0.1, {d["regen_energy_kwh"]}),
                   load / 735.0 > 1.0, frac > 0 AND 4600.0 * cos(pi() * frac) > 4183.0
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
                   round(CASE WHEN ev = 'departure'
                         THEN period / {tpl} * (0.4 + (i % 13) / 10.0) END, 1),
                   round(period / {tpl} * 1.0, 1)
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


def page_windows() -> tuple[dict[str, timedelta | None], tuple[tuple[timedelta, int], ...]]:
    """The page's time windows and its timeline bucket rule, read from ``dashboard/app.py``.

    (The page module runs the page on import, so its two constants are evaluated from its
    source instead: the benchmark times exactly what the page offers.)
    """
    found: dict[str, Any] = {}
    for node in ast.parse(APP.read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("WINDOWS", "_BUCKETS"):
                code = compile(ast.Expression(node.value), str(APP), "eval")
                found[target.id] = eval(code, {"__builtins__": {}, "timedelta": timedelta})
    return found["WINDOWS"], found["_BUCKETS"]


def _bucket_s(span: timedelta, buckets: tuple[tuple[timedelta, int], ...]) -> int:
    """The timeline bucket the page picks for a window of ``span`` (as ``read_data`` does)."""
    return next((b for limit, b in buckets if span <= limit), 3600)


# --------------------------------------------------------------------------- baselines

#: ATS_HOURLY_STATS as shipped before the hour-key rewrite (DuckDB text).
OLD_HOURLY_STATS = """
SELECT RUN_ID, LINE_ID, time_bucket(INTERVAL '1 hour', "TIMESTAMP") AS HOUR,
    COUNT(*) AS RECORDS, COUNT(DISTINCT TRAIN_ID) AS TRAINS,
    AVG(CAST(PASSENGER_COUNT AS DOUBLE)) AS AVG_PASSENGERS, MAX(PASSENGER_COUNT) AS MAX_PASSENGERS,
    AVG(LOAD_FACTOR) AS AVG_LOAD_FACTOR, AVG(SPEED_KMH) AS AVG_SPEED_KMH,
    AVG(POWER_DRAW_KW) AS AVG_POWER_KW, MAX(POWER_DRAW_KW) AS MAX_POWER_KW,
    AVG(CASE WHEN IS_OVERCROWDED THEN 1.0 ELSE 0.0 END) AS OVERCROWDED_SHARE,
    AVG(CASE WHEN IS_HIGH_POWER_DRAW THEN 1.0 ELSE 0.0 END) AS HIGH_POWER_SHARE
FROM ATS_TRANSFORMED
GROUP BY RUN_ID, LINE_ID, time_bucket(INTERVAL '1 hour', "TIMESTAMP")
"""
#: ATS_LINE_ENERGY as shipped before the hour-key rewrite (DuckDB text).
OLD_LINE_ENERGY = """
WITH hourly AS (
    SELECT RUN_ID, LINE_ID, TRAIN_ID, time_bucket(INTERVAL '1 hour', "TIMESTAMP") AS HOUR,
        MAX_BY(ENERGY_KWH, "TIMESTAMP") AS LAST_ENERGY,
        MAX_BY(REGEN_ENERGY_KWH, "TIMESTAMP") AS LAST_REGEN
    FROM ATS_TRANSFORMED GROUP BY RUN_ID, LINE_ID, TRAIN_ID, HOUR
), steps AS (
    SELECT RUN_ID, LINE_ID, HOUR,
        LAST_ENERGY - COALESCE(LAG(LAST_ENERGY) OVER (
            PARTITION BY RUN_ID, TRAIN_ID ORDER BY HOUR), 0) AS D_ENERGY,
        LAST_REGEN - COALESCE(LAG(LAST_REGEN) OVER (
            PARTITION BY RUN_ID, TRAIN_ID ORDER BY HOUR), 0) AS D_REGEN
    FROM hourly
)
SELECT RUN_ID, LINE_ID, HOUR, SUM(D_ENERGY) AS ENERGY_KWH, SUM(D_REGEN) AS REGEN_KWH,
    SUM(D_ENERGY) + SUM(D_REGEN) AS TRACTION_KWH
FROM steps GROUP BY RUN_ID, LINE_ID, HOUR
"""


def _hourly_view(conn: Any, f: Filters, view: str, old: str) -> Any:
    """The dashboard's read of an hourly view (as ``q.hourly_stats``), with the old definition."""
    w = where(f, trains=False, time_column="HOUR", hourly=True)
    sql = f"WITH {view} AS ({old}) SELECT * FROM {view} {w.sql()} ORDER BY LINE_ID, HOUR"
    return q.run_query(conn, sql, w.params)


def _old_timeline(conn: Any, f: Filters, bucket_s: int) -> Any:
    """The timeline query shipped before: epoch milliseconds, grouped by line and series."""
    key = "TRAIN_ID" if f.trains else "LINE_ID"
    w = where(f)
    return q.run_query(
        conn,
        f"SELECT floor(epoch_ms(TIMESTAMP) / {bucket_s * 1000}) AS B, LINE_ID, {key} AS SERIES, "
        "count(*) AS RECORDS, avg(LOAD_FACTOR) AS AVG_LOAD_FACTOR, "
        "max(LOAD_FACTOR) AS MAX_LOAD_FACTOR, avg(POWER_DRAW_KW) AS AVG_POWER_KW, "
        "max(POWER_DRAW_KW) AS MAX_POWER_KW "
        f"FROM ATS_TRANSFORMED {w.sql()} GROUP BY 1, 2, 3 ORDER BY 3, 1",
        w.params,
    )


def _whole_view(conn: Any, view: str, run_id: str) -> Any:
    return q.run_query(conn, f"SELECT * FROM {view} WHERE RUN_ID = $run_id", {"run_id": run_id})


@dataclass(frozen=True)
class Timing:
    """One query's median wall and CPU milliseconds (CPU: every DuckDB thread of the process)."""

    name: str
    wall_ms: float
    cpu_ms: float
    baseline_ms: float | None = None


def _once(path: Path, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[float, float]:
    """Wall and CPU ms of ``fn(conn, *args)`` on a fresh read-only connection."""
    with connect_readonly(path) as con:
        c0, t0 = time.process_time(), time.perf_counter()
        fn(con, *args)
        return (time.perf_counter() - t0) * 1000.0, (time.process_time() - c0) * 1000.0


Plan = list[tuple[str, Callable[..., Any], tuple[Any, ...], Callable[..., Any] | None]]


def _plan(path: Path) -> Plan:
    """(name, query, arguments, baseline or None) for everything the page asks, as it asks it."""
    with connect_readonly(path) as con:
        runs = q.runs(con)
        run_id = str(runs["RUN_ID"].iloc[0])
        overview = q.run_overview(con, run_id)
    as_of: datetime = overview["TIMESTAMP"].max().to_pydatetime()
    first: datetime = runs["FIRST_AT"].iloc[0].to_pydatetime()
    line, train = str(overview["LINE_ID"].iloc[0]), str(overview["TRAIN_ID"].iloc[0])
    windows, buckets = page_windows()
    old_hourly = functools.partial(_hourly_view, view="ATS_HOURLY_STATS", old=OLD_HOURLY_STATS)
    old_energy = functools.partial(_hourly_view, view="ATS_LINE_ENERGY", old=OLD_LINE_ENERGY)
    plan: Plan = [
        ("missing_objects", q.missing_objects, (), None),
        ("data_version", q.data_version, (), None),
        ("runs", q.runs, (), None),
        ("run_overview", q.run_overview, (run_id,), None),
        ("network_stations", q.network_stations, (run_id, ()), None),
        ("alert_thresholds", q.alert_thresholds, (run_id,), None),
    ]
    for label, length in windows.items():
        f = Filters(run_id, start=None if length is None else as_of - length, end=as_of)
        bucket = _bucket_s(as_of - (f.start or first), buckets)
        w = label.lower()
        plan += [
            (f"kpis, {w}", q.kpis, (f, as_of), None),
            (f"latest_status, {w}", q.latest_status, (f, as_of), None),
            (f"timeline ({bucket} s), {w}", q.timeline, (f, bucket), _old_timeline),
            (f"histogram load, {w}", q.histogram, (f, "LOAD_FACTOR", 0.05), None),
            (f"histogram power, {w}", q.histogram, (f, "POWER_DRAW_KW", 250.0), None),
            (f"speed_boxes, {w}", q.speed_boxes, (f,), None),
            (f"station_crowding, {w}", q.station_crowding, (f,), None),
            (f"headway_summary, {w}", q.headway_summary, (f,), None),
            (f"headways, {w}", q.headways, (f,), None),
            (f"alerts, {w}", q.alerts, (f,), None),
            (f"alert_counts, {w}", q.alert_counts, (f,), None),
            (f"hourly_stats, {w}", q.hourly_stats, (f,), old_hourly),
            (f"line_energy, {w}", q.line_energy, (f,), old_energy),
            (f"raw_rows, {w}", q.raw_rows, ("ATS_TRANSFORMED", f, 200), None),
        ]
    one = Filters(run_id, (line,), (train,), None, as_of)
    whole_bucket = _bucket_s(as_of - first, buckets)
    plan += [
        ("kpis, one train, whole run", q.kpis, (one, as_of), None),
        ("timeline, one train, whole run", q.timeline, (one, whole_bucket), None),
        ("speed_boxes, one train, whole run", q.speed_boxes, (one,), None),
    ]
    for view in VIEWS:
        plan.append((f"view {view}, whole run", _whole_view, (view, run_id), None))
    return plan


def measure(path: Path, repeat: int = 3) -> list[Timing]:
    """One :class:`Timing` for every query the page runs, every window, baselines alongside."""
    t0 = time.perf_counter()
    for _ in range(repeat):
        connect_readonly(path).close()
    out = [Timing("open a read-only connection", (time.perf_counter() - t0) * 1000 / repeat, 0.0)]
    for name, fn, args, baseline in _plan(path):
        runs, base = [], []
        for _ in range(repeat):  # a baseline runs in turn with its query: the same load for both
            runs.append(_once(path, fn, args))
            if baseline:
                base.append(_once(path, baseline, args)[0])
        wall, cpu = (statistics.median(x) for x in zip(*runs, strict=True))
        out.append(Timing(name, wall, cpu, statistics.median(base) if base else None))
    return out


def _build_key(case: Case) -> str:
    code = inspect.getsource(build) + _stations_sql() + repr(case)
    return hashlib.sha256(code.encode()).hexdigest()[:12]


@contextmanager
def _database(
    case: Case, cache: Path | None
) -> Iterator[tuple[Path, float | None, dict[str, int]]]:
    """The case's database: built in a temporary directory, or reused from ``cache``.

    Yields the path, the build time in seconds (None when reused) and the typed tables' rows.
    """
    if cache is None:
        with tempfile.TemporaryDirectory(prefix="ats-dashboard-bench-") as tmp:
            path = Path(tmp) / "bench.duckdb"
            t0 = time.perf_counter()
            counts = build(path, case)
            yield path, time.perf_counter() - t0, counts
        return
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{case.name.replace(' ', '-').replace(',', '')}-{_build_key(case)}.duckdb"
    took = None
    if not path.exists():
        partial = path.with_suffix(".building")
        partial.unlink(missing_ok=True)
        t0 = time.perf_counter()
        build(partial, case)
        took = time.perf_counter() - t0
        partial.rename(path)
    apply_schema(path)  # the current views, whatever the cached file was built with
    with connect_readonly(path) as con:
        counts = {
            t: int(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in ("ATS_TRANSFORMED", "ATS_STATION_EVENTS", "ATS_ALERT_EVENTS")
        }
    yield path, took, counts


def rows(
    quick: bool = False,
    cache: Path | None = None,
    repeat: int | None = None,
    cases: tuple[str, ...] = (),
    cpu: bool = False,
) -> list[Row]:
    """Benchmark rows ``(name, value, unit, ratio, target, met)``: one per query and case.

    Per case also the slowest query of each window and overall; with ``cpu``, each query's CPU
    milliseconds (all DuckDB threads; on an idle two-core machine wall time is about half).
    """
    out: list[Row] = [("load average (1 min) at start", os.getloadavg()[0], "", None, "", None)]
    chosen = (QUICK,) if quick else tuple(c for c in CASES if not cases or c.name in cases)
    for case in chosen:
        with _database(case, cache) as (path, took, counts):
            label = f"dashboard ({case.name})"
            built = f"build {counts['ATS_TRANSFORMED']:,} telemetry rows"
            built += " (reused from cache)" if took is None else ""
            out.append((f"{label}: {built}", took or 0.0, "s", None, "", None))
            timings = measure(path, repeat=repeat or (1 if quick else 3))
        for t in timings:
            ratio = None if t.baseline_ms is None else t.baseline_ms / t.wall_ms
            met = t.wall_ms < TARGET_MS
            out.append((f"{label}: {t.name}", t.wall_ms, "ms", ratio, f"< {TARGET_MS:.0f} ms", met))
            if t.baseline_ms is not None:
                out.append((f"{label}: {t.name}, baseline", t.baseline_ms, "ms", None, "", None))
            if cpu and t.cpu_ms:
                out.append((f"{label}: {t.name}, CPU", t.cpu_ms, "ms CPU", None, "", None))
        out += _slowest(label, timings[1:])
    out.append(("load average (1 min) at end", os.getloadavg()[0], "", None, "", None))
    return out


def _slowest(label: str, timings: list[Timing]) -> list[Row]:
    """The slowest query per window (the suffix after the last comma) and overall."""
    groups: dict[str, list[Timing]] = {}
    for t in timings:
        window = t.name.rsplit(", ", 1)[1] if ", " in t.name else "run-level"
        groups.setdefault(window, []).append(t)
    groups["all"] = timings
    worst = {w: max(ts, key=lambda t: t.wall_ms) for w, ts in groups.items()}
    target = f"< {TARGET_MS:.0f} ms"
    return [
        (f"{label}: SLOWEST of {w}: {t.name}", t.wall_ms, "ms", None, target, t.wall_ms < TARGET_MS)
        for w, t in worst.items()
    ]


def main(argv: list[str] | None = None) -> None:
    """Print the rows as the harness does."""
    from benchmarks.run import print_rows

    p = argparse.ArgumentParser(
        prog="python -m benchmarks.dashboard_bench",
        description="Every dashboard query on 10 million telemetry rows in DuckDB (< 500 ms), "
        "for every time window the page offers, with the pre-rewrite baselines alongside.",
    )
    p.add_argument("--quick", action="store_true", help="1,000,000 rows, many runs only, 1 repeat")
    p.add_argument(
        "--cache", type=Path, help="keep and reuse the built databases in this directory"
    )
    p.add_argument("--repeat", type=int, help="median of this many runs per query (default 3)")
    p.add_argument(
        "--case",
        action="append",
        default=[],
        choices=[c.name for c in CASES],
        help="only this case (repeatable)",
    )
    p.add_argument("--cpu", action="store_true", help="also print each query's CPU time")
    a = p.parse_args(argv)
    got = rows(quick=a.quick, cache=a.cache, repeat=a.repeat, cases=tuple(a.case), cpu=a.cpu)
    print_rows(list(got), title="ats-sim dashboard benchmarks")


if __name__ == "__main__":
    main()
