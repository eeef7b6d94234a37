"""Sink benchmarks: each sink against the raw library writing the same Arrow batches.

``python -m benchmarks.sinks_bench [--quick] [--only=json,parquet,duckdb]`` prints the table;
``benchmarks/run.py`` calls :func:`rows`. The data is synthetic telemetry built with NumPy in
batches of 10,000 rows, written in a fresh temporary directory: 500,000 rows (100,000 with
``--quick``) for JSON and Parquet, flushed every 100,000; 1,000,000 (250,000) for DuckDB, whose
sink flushes as it does by default and whose baselines commit the same transactions. Each sink
and its baselines run in turns in this process, best of 3 rounds (1 with ``--quick``; Parquet,
being quick, 2 more); the DuckDB rows also give the ratio of process CPU times, which a busy
machine disturbs less than wall times.
"""

from __future__ import annotations

import functools
import json
import os
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


def _race(
    fns: dict[str, Callable[[Path], object]], repeat: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall time and best process CPU time (all threads) of each function over ``repeat``
    rounds, taking turns so that a busy machine slows them alike; every run gets a fresh
    directory."""
    wall = dict.fromkeys(fns, float("inf"))
    cpu = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            tmp = Path(tempfile.mkdtemp(prefix="ats-bench-"))
            try:
                c = os.times()
                t = time.perf_counter()
                fn(tmp)
                wall[name] = min(wall[name], time.perf_counter() - t)
                c2 = os.times()
                cpu[name] = min(cpu[name], c2.user + c2.system - c.user - c.system)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return wall, cpu


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

    t, _ = _race(
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


def _duckdb_rows(n: int, repeat: int) -> list[Row]:
    """The DuckDB sink against raw DuckDB filling the same two tables from the same batches.

    The sink runs as configured by default (``batch_records``), on ``n`` records. Every raw
    DuckDB baseline holds one connection and commits the same records in the same transactions
    as the sink's flushes (recorded from its run): each transaction inserts the typed rows from
    Arrow, then the raw rows, whose JSON it builds (timed) in one of three plain ways; the
    fastest of the three is the baseline of the ratio. It gets the records as one Arrow chunk
    (built untimed) and neither deduplicates, nor checks values, nor lets go of the file between
    transactions as the sink does. For scale: the raw JSON prebuilt (its encoding not timed),
    the typed table alone, and transactions of exactly ``batch_records`` records.
    """
    import duckdb
    import numpy as np

    from ats_sim.records import json_lines_array
    from sinks.duckdb import DEFAULT_BATCH_RECORDS, DuckDBSink
    from sinks.raw import content_sql, json_typed, metadata_json
    from sinks.schema import statements

    batches = telemetry_batches(n)
    whole = pa.Table.from_batches([b.data for b in batches]).combine_chunks()
    ddl = statements("duckdb")
    flushes: list[int] = []  # records per transaction of the sink's last run

    class RecordingSink(DuckDBSink):
        def _write(self, batches: list[Batch]) -> int:
            written = super()._write(batches)
            flushes.append(sum(b.num_rows for b in batches))
            return written

    def sink(tmp: Path) -> None:
        flushes.clear()
        with RecordingSink(tmp / "ats.duckdb", batch_seconds=3600) as s:
            for b in batches:
                s.write_batch(b)

    def fixed(size: int) -> list[int]:
        return [min(size, n - k) for k in range(0, n, size)]

    def raw_json(g: pa.Table, offset: int) -> pa.Table:
        """The raw rows of ``g``: metadata in Arrow, canonical JSON lines by records.py."""
        batch = Batch(TELEMETRY, g.to_batches()[0])
        meta = metadata_json(batch, first_offset=offset, create_time_ms=0)
        content = json_lines_array(batch)
        return pa.table({"m": json_typed(meta), "c": json_typed(content)})

    def raw_duckdb(tmp: Path, how: str, sizes: list[int]) -> None:
        con = duckdb.connect(str(tmp / "raw.duckdb"))
        for stmt in ddl:
            con.execute(stmt)
        offset = 0
        for size in sizes:
            g = whole.slice(offset, size)
            con.execute("BEGIN TRANSACTION")
            con.register("g", g)
            con.execute("INSERT INTO ATS_TRANSFORMED SELECT * FROM g")
            if how == "sql":  # metadata in Arrow, the content by DuckDB (the sink's expression)
                meta = metadata_json(
                    Batch(TELEMETRY, g.to_batches()[0]), first_offset=offset, create_time_ms=0
                )
                con.register("r", g.append_column("__meta", json_typed(meta)))
                con.execute(
                    f"INSERT INTO ATS_RAW_JSON SELECT __meta, {content_sql(TELEMETRY)} FROM r"
                )
            elif how == "duckdb":  # DuckDB's own JSON of the row (not the canonical bytes)
                con.execute(
                    "INSERT INTO ATS_RAW_JSON SELECT json_object('topic', 'ats_telemetry', "
                    "'partition', 0, 'offset', ? + row_number() OVER () - 1, 'CreateTime', 0, "
                    "'key', train_id, 'headers', json_object('record_type', 'telemetry', "
                    "'schema_version', '1')), to_json(g) FROM g",
                    [offset],
                )
            elif how == "arrow":  # the canonical JSON by records.json_lines_array
                con.register("r", raw_json(g, offset))
                con.execute("INSERT INTO ATS_RAW_JSON SELECT m, c FROM r")
            elif how == "prebuilt":
                con.register("r", prebuilt[offset])
                con.execute("INSERT INTO ATS_RAW_JSON SELECT m, c FROM r")
            con.execute("COMMIT")
            offset += size
        con.close()

    learn = Path(tempfile.mkdtemp(prefix="ats-bench-"))
    try:  # an untimed run: the sink's transactions, which every baseline repeats
        sink(learn)
    finally:
        shutil.rmtree(learn, ignore_errors=True)
    same = list(flushes)
    starts = np.cumsum([0, *same[:-1]]).tolist()
    prebuilt = {k: raw_json(whole.slice(k, m), k) for k, m in zip(starts, same, strict=True)}
    ways = {
        "sql": "metadata in Arrow, content by DuckDB's to_json (as the sink)",
        "duckdb": "json_object + to_json(row) in DuckDB (not canonical)",
        "arrow": "canonical JSON from records.json_lines_array",
    }
    fns: dict[str, Callable[[Path], object]] = {"sink": sink}
    for how in [*ways, "prebuilt", "typed"]:
        fns[how] = functools.partial(raw_duckdb, how=how, sizes=same)
    fns["plain"] = functools.partial(raw_duckdb, how="sql", sizes=fixed(DEFAULT_BATCH_RECORDS))
    wall, cpu = _race(fns, repeat)
    fastest = min(ways, key=wall.__getitem__)
    ratio = wall[fastest] / wall["sink"]
    each = f"{len(same)} transactions, {max(same):,} records at most"
    rows: list[Row] = [
        (
            f"DuckDB sink, raw JSON + typed ({n:,} records, {each})",
            n / wall["sink"],
            "records/s",
            ratio,
            f">= 0.8x fastest raw DuckDB ({fastest})",
            ratio >= 0.8,
        ),
        (
            "  same, process CPU time instead of wall time",
            n / cpu["sink"],
            "records/s",
            cpu[fastest] / cpu["sink"],
            f"(vs {fastest})",
            None,
        ),
    ]
    for how, what in ways.items():
        rows.append(
            (
                f"  raw DuckDB, same tables + transactions: {what}",
                n / wall[how],
                "records/s",
                None,
                "",
                None,
            )
        )
    rows += [
        (
            "  raw DuckDB, same, raw JSON prebuilt (its encoding not timed)",
            n / wall["prebuilt"],
            "records/s",
            wall["prebuilt"] / wall["sink"],
            "(stricter baseline)",
            None,
        ),
        ("  raw DuckDB, typed table only", n / wall["typed"], "records/s", None, "", None),
        (
            f"  raw DuckDB (sql), {DEFAULT_BATCH_RECORDS:,} records per transaction "
            "(not whole row groups)",
            n / wall["plain"],
            "records/s",
            wall["plain"] / wall["sink"],
            "(sink vs it)",
            None,
        ),
    ]
    return rows


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


def rows(quick: bool = False, only: tuple[str, ...] = ("json", "parquet", "duckdb")) -> list[Row]:
    """Measure and return the benchmark rows (name, value, unit, ratio, target, met)."""
    n = 100_000 if quick else 500_000
    repeat = 1 if quick else 3
    batches = telemetry_batches(n)
    out: list[Row] = []
    if "json" in only:
        out += _json_rows(batches, n)
    if "parquet" in only:
        out += _parquet_rows(batches, n, repeat + 2)  # cheap runs: more rounds against the noise
    del batches
    if "duckdb" in only:
        try:
            out += _duckdb_rows(250_000 if quick else 1_000_000, repeat)
        except ModuleNotFoundError as exc:
            out.append((f"DuckDB sink: not run ({exc.name} missing)", 0.0, "", None, "", None))
    return out


def main() -> None:
    from benchmarks.run import print_rows

    only = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")]
    parts = tuple(only[0].split(",")) if only else ("json", "parquet", "duckdb")
    table: list[tuple[object, ...]] = list(rows(quick="--quick" in sys.argv, only=parts))
    print_rows(table, title="ats-sim sink benchmarks")


if __name__ == "__main__":
    main()
