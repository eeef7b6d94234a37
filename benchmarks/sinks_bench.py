"""Sink benchmarks: each sink against the raw library writing the same Arrow batches.

``python -m benchmarks.sinks_bench [--quick]`` prints the table; ``benchmarks/run.py`` calls
:func:`rows`. The data is synthetic telemetry built with NumPy (500,000 rows, 100,000 with
``--quick``) in batches of 10,000 rows, flushed every 100,000 rows, in a fresh temporary
directory. Each sink and its baseline run in turns in this process, best of 3 rounds (1 with
``--quick``; Parquet, being quick, 2 more).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ats_sim.records import TELEMETRY, Batch, json_lines

Row = tuple[str, float, str, float | None, str, bool | None]

__all__ = ["rows", "telemetry_batches"]

BATCH_ROWS = 10_000
FLUSH_ROWS = 100_000


def telemetry_batches(n: int, seed: int = 0) -> list[Batch]:
    """``n`` synthetic telemetry records (40 trains, 1 s apart) in batches of ``BATCH_ROWS``."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    train = i % 40
    ts = 1_717_200_000_000 + (i // 40) * 1000
    train_ids = np.array([f"R-{k:02d}" for k in range(40)], dtype=object)[train]
    record_ids = np.char.add(
        np.char.add("bench:tel:", train_ids.astype(str)), np.char.add(":", ts.astype(str))
    )
    cols = {
        "record_id": record_ids.astype(object),
        "record_type": np.full(n, "telemetry", dtype=object),
        "schema_version": np.ones(n, dtype=np.int64),
        "run_id": np.full(n, "bench", dtype=object),
        "timestamp": ts,
        "line_id": np.where(train < 20, "RED", "BLUE").astype(object),
        "train_id": train_ids,
        "trip_id": np.char.add(train_ids.astype(str), "-0001").astype(object),
        "direction": (train % 2).astype(np.int64),
        "status": np.array(["running", "dwelling", "turnaround"], dtype=object)[i % 3],
        "prev_station": np.full(n, "S01", dtype=object),
        "next_station": np.full(n, "S02", dtype=object),
        "chainage_m": np.round(rng.uniform(0, 20_000, n), 1),
        "latitude": np.round(rng.uniform(13.6, 13.9, n), 6),
        "longitude": np.round(rng.uniform(100.4, 100.7, n), 6),
        "speed_kmh": np.round(rng.uniform(0, 80, n), 2),
        "acceleration_ms2": np.round(rng.normal(0, 0.5, n), 3),
        "passenger_count": rng.integers(0, 1500, n),
        "load_factor": np.round(rng.uniform(0, 1.3, n), 3),
        "total_weight_tons": np.round(rng.uniform(230, 330, n), 2),
        "power_draw_kw": np.round(rng.normal(500, 800, n), 1),
        "energy_kwh": np.round(np.cumsum(rng.uniform(0, 0.3, n)), 3),
        "regen_energy_kwh": np.round(np.cumsum(rng.uniform(0, 0.1, n)), 3),
        "is_overcrowded": rng.random(n) < 0.1,
        "is_high_power_draw": rng.random(n) < 0.05,
    }
    whole = Batch.from_columns(TELEMETRY, cols)
    return [whole.slice(k, BATCH_ROWS) for k in range(0, n, BATCH_ROWS)]


def _flush_groups(batches: list[Batch]) -> list[pa.Table]:
    """The batches grouped as the sinks flush them: one table per ``FLUSH_ROWS`` records."""
    groups: list[pa.Table] = []
    per = FLUSH_ROWS // BATCH_ROWS
    for k in range(0, len(batches), per):
        groups.append(
            pa.Table.from_batches([b.data for b in batches[k : k + per]]).combine_chunks()
        )
    return groups


def _race(fns: dict[str, Callable[[Path], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each function over ``repeat`` rounds, taking turns so that a busy
    machine slows them alike; every run gets a fresh directory."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            tmp = Path(tempfile.mkdtemp(prefix="ats-bench-"))
            try:
                t = time.perf_counter()
                fn(tmp)
                best[name] = min(best[name], time.perf_counter() - t)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return best


def _sink(url: str, batches: list[Batch]) -> None:
    from sinks import open_sink

    with open_sink(url, batch_records=FLUSH_ROWS, batch_seconds=3600) as sink:
        for b in batches:
            sink.write_batch(b)


def _parquet_rows(batches: list[Batch], n: int, repeat: int) -> list[Row]:
    groups = _flush_groups(batches)

    def raw(tmp: Path) -> None:
        for k, table in enumerate(groups):
            pq.write_table(table, tmp / f"part-{k}.parquet", compression="zstd")

    t = _race(
        {"sink": lambda tmp: _sink(f"file://{tmp}?format=parquet", batches), "raw": raw}, repeat
    )
    t_sink, t_raw = t["sink"], t["raw"]
    ratio = t_raw / t_sink
    return [
        (
            "file sink, Parquet (zstd, fsync, rename)",
            n / t_sink,
            "records/s",
            ratio,
            ">= 0.8x raw pyarrow",
            ratio >= 0.8,
        ),
        ("  raw pyarrow.parquet.write_table, same batches", n / t_raw, "records/s", None, "", None),
    ]


def _duckdb_rows(batches: list[Batch], n: int, repeat: int) -> list[Row]:
    import duckdb

    from sinks.raw import raw_table
    from sinks.schema import statements

    groups = _flush_groups(batches)
    raw_groups = [
        raw_table(Batch(TELEMETRY, g.to_batches()[0]), first_offset=0, create_time_ms=0)
        for g in groups
    ]
    ddl = statements("duckdb")

    def raw_typed(tmp: Path) -> None:
        con = duckdb.connect(str(tmp / "raw.duckdb"))
        for stmt in ddl:
            con.execute(stmt)
        for g in groups:
            con.register("g", g)
            con.execute("INSERT INTO ATS_TRANSFORMED SELECT * FROM g")
            con.unregister("g")
        con.close()

    def raw_both(tmp: Path) -> None:
        con = duckdb.connect(str(tmp / "raw.duckdb"))
        for stmt in ddl:
            con.execute(stmt)
        for g, r in zip(groups, raw_groups, strict=True):
            con.register("g", g)
            con.register("r", r)
            con.execute("INSERT INTO ATS_TRANSFORMED SELECT * FROM g")
            con.execute("INSERT INTO ATS_RAW_JSON SELECT * FROM r")
            con.unregister("g")
            con.unregister("r")
        con.close()

    t = _race(
        {
            "sink": lambda tmp: _sink(f"duckdb://{tmp}/ats.duckdb", batches),
            "typed": raw_typed,
            "both": raw_both,
            "json": lambda tmp: [json_lines(b) for b in batches],
        },
        repeat,
    )
    t_sink, t_typed, t_both, t_json = t["sink"], t["typed"], t["both"], t["json"]
    r_typed, r_both = t_typed / t_sink, t_both / t_sink
    return [
        (
            "DuckDB sink (raw JSON + typed, one txn per flush)",
            n / t_sink,
            "records/s",
            r_typed,
            ">= 0.8x raw DuckDB",
            r_typed >= 0.8,
        ),
        (
            "  raw DuckDB INSERT from Arrow, typed table only",
            n / t_typed,
            "records/s",
            None,
            "",
            None,
        ),
        (
            "  raw DuckDB INSERT, typed + prebuilt raw JSON",
            n / t_both,
            "records/s",
            r_both,
            "(sink vs same tables)",
            None,
        ),
        (
            "  share of sink time spent in records.json_lines",
            t_json / t_sink,
            "fraction",
            None,
            "",
            None,
        ),
    ]


def _json_rows(batches: list[Batch], n: int) -> list[Row]:
    t = time.perf_counter()
    for b in batches:
        json_lines(b)
    t_lines = time.perf_counter() - t
    sample = batches[: max(1, len(batches) // 5)]  # json.dumps is slow: time a fifth, scale
    m = sum(b.num_rows for b in sample)
    t = time.perf_counter()
    for b in sample:
        for row in b.data.to_pylist():
            json.dumps(row, default=str)
    t_dumps = (time.perf_counter() - t) * n / m
    rate = n / t_lines
    return [
        (
            "JSON Lines encoding, records.json_lines",
            rate,
            "records/s",
            t_dumps / t_lines,
            "> 1,000,000 records/s",
            rate > 1_000_000,
        ),
        ("  json.dumps per row dict (baseline)", n / t_dumps, "records/s", None, "", None),
    ]


def rows(quick: bool = False) -> list[Row]:
    """Measure and return the benchmark rows (name, value, unit, ratio, target, met)."""
    n = 100_000 if quick else 500_000
    repeat = 1 if quick else 3
    batches = telemetry_batches(n)
    out: list[Row] = []
    out += _json_rows(batches, n)
    out += _parquet_rows(batches, n, repeat + 2)  # cheap runs: more rounds against the noise
    try:
        out += _duckdb_rows(batches, n, repeat)
    except ModuleNotFoundError as exc:
        out.append((f"DuckDB sink: not run ({exc.name} missing)", 0.0, "", None, "", None))
    return out


def main() -> None:
    from benchmarks.run import print_rows

    table: list[tuple[object, ...]] = list(rows(quick="--quick" in sys.argv))
    print_rows(table, title="ats-sim sink benchmarks")


if __name__ == "__main__":
    main()
