"""Benchmark: the Snowflake sink's bulk path against one INSERT per record, on one fakesnow server.

Both paths go through the real snowflake-connector-python over HTTP to a local ``fakesnow -s``
server process, into the same ``ATS_RAW_JSON`` table (VARIANT columns, ``PARSE_JSON`` on both
paths):

* bulk: the sink itself (:class:`sinks.snowflake.SnowflakeSink`), records of a simulated run
  buffered into flushes of ``batch_records``; each flush builds the raw JSON columns, writes one
  Parquet file, ``PUT``s it to a temporary stage and ``COPY``s it in. Timed from the first
  ``write_batch`` to ``close()``, at several batch sizes;
* one row per statement: ``INSERT INTO ATS_RAW_JSON SELECT PARSE_JSON(?), PARSE_JSON(?)`` with
  bound parameters, one round trip per record (what a naive sink does).

fakesnow is DuckDB behind an HTTP front: real Snowflake figures differ (a COPY costs a warehouse
round of seconds whatever its size, a PUT goes to cloud storage), but the ratio shows why a
flush is one file, and why the default flush is large (``batch_records`` 100,000, at most every
``batch_seconds`` 10 s).

Run standalone (from the repository root)::

    python -m benchmarks.snowflake_bench            # 100k records
    python -m benchmarks.snowflake_bench --quick    # 20k records

``rows()`` returns ``(name, value, unit, ratio, target, met)`` rows; the bulk rows' ratio is
their rate over the one-row INSERT rate, with a target of at least 50 times.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fakesnow  # noqa: F401 - the benchmark needs the server; the harness reports it missing
import orjson
import snowflake.connector

import ats_sim
from ats_sim.records import Batch
from sinks.raw import raw_table
from sinks.snowflake import SnowflakeSink, apply_schema

__all__ = ["TARGET_RATIO", "rows"]

#: The bulk path must be at least this many times faster than one INSERT per record.
TARGET_RATIO = 50.0
#: The sink's default flush size (records), the batch size this benchmark justifies.
CHOSEN_BATCH = 100_000


@contextmanager
def fakesnow_server() -> Iterator[int]:
    """``python -m fakesnow -s -p PORT`` on a free port, stopped on exit."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakesnow", "-s", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the fakesnow server did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _url(port: int, database: str) -> str:
    return (
        f"snowflake://bench@fakeaccount/{database}/PUBLIC?warehouse=BENCH_WH"
        f"&host=127.0.0.1&port={port}&protocol=http"
    )


def _records(n: int) -> list[Batch]:
    """About ``n`` records of the weekday scenario at 1 s telemetry, cut to exactly ``n``."""
    hours = max(0.25, n / 45_000)
    out: list[Batch] = []
    left = n
    for b in ats_sim.run(
        "weekday", until=f"{hours * 3600:.0f}s", seed=1, telemetry_interval_s=1
    ).batches():
        if left <= 0:
            break
        take = b if b.num_rows <= left else b.slice(0, left)
        out.append(take)
        left -= take.num_rows
    return out


def bulk_rate(port: int, batches: list[Batch], batch_records: int, database: str) -> float:
    """Records per second through the sink with flushes of ``batch_records``."""
    url = _url(port, database)
    apply_schema(url, roles=False)
    from sinks.url import parse_sink_url

    sink = SnowflakeSink.from_url(
        parse_sink_url(url), batch_records=batch_records, batch_seconds=3600.0
    )
    n = sum(b.num_rows for b in batches)
    t0 = time.perf_counter()
    for b in batches:
        sink.write_batch(b)
    sink.close()
    elapsed = time.perf_counter() - t0
    assert sink.stats.records == n
    return n / elapsed


def single_row_rate(port: int, batch: Batch, database: str) -> float:
    """Records per second with one bound ``INSERT ... SELECT PARSE_JSON(?), PARSE_JSON(?)`` each."""
    apply_schema(_url(port, database), roles=False)
    table = raw_table(batch, first_offset=0)
    pairs = list(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    conn = snowflake.connector.connect(
        user="bench",
        password="unused",
        account="fakeaccount",
        host="127.0.0.1",
        port=port,
        protocol="http",
        database=database,
        schema="PUBLIC",
        paramstyle="qmark",
    )
    try:
        cur = conn.cursor()
        t0 = time.perf_counter()
        for meta, content in pairs:
            cur.execute(
                "INSERT INTO ATS_RAW_JSON (RECORD_METADATA, RECORD_CONTENT) "
                "SELECT PARSE_JSON(?), PARSE_JSON(?)",
                [meta, content],
            )
        elapsed = time.perf_counter() - t0
        cur.execute("SELECT COUNT(*) FROM ATS_RAW_JSON")
        [(count,)] = cur.fetchall()
        assert count == len(pairs)
        return len(pairs) / elapsed
    finally:
        conn.close()


def raw_build_rate(batches: list[Batch]) -> float:
    """Records per second of building the two JSON columns alone (:func:`sinks.raw.raw_table`)."""
    n = sum(b.num_rows for b in batches)
    t0 = time.perf_counter()
    for b in batches:
        raw_table(b, first_offset=0)
    return n / (time.perf_counter() - t0)


def rows(quick: bool = False) -> list[tuple[str, float, str, float | None, Any, bool | None]]:
    """Benchmark rows: one-row INSERT rate, bulk rate per batch size, and the chosen batch size."""
    os.environ.setdefault("SNOWFLAKE_PASSWORD", "fakesnow-accepts-any-password")
    n = 20_000 if quick else 100_000
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    batches = _records(n)
    one_row = batches[0].slice(0, 200 if quick else 500)
    with fakesnow_server() as port:
        single = single_row_rate(port, one_row, "BENCH_SINGLE")
        out: list[tuple[str, float, str, float | None, Any, bool | None]] = [
            (
                f"snowflake: one INSERT per record ({one_row.num_rows} records)",
                single,
                "records/s",
                None,
                "",
                None,
            ),
        ]
        for size in sizes:
            rate = bulk_rate(port, batches, size, f"BENCH_BULK_{size}")
            ratio = rate / single
            out.append(
                (
                    f"snowflake: bulk PUT+COPY, {n:,} records in flushes of {size:,}",
                    rate,
                    "records/s",
                    ratio,
                    f">= {TARGET_RATIO:g}x one-row INSERT",
                    ratio >= TARGET_RATIO,
                )
            )
    out.append(
        (
            f"snowflake: of which building the JSON columns alone ({n:,} records)",
            raw_build_rate(batches),
            "records/s",
            None,
            "(the bulk path's ceiling)",
            None,
        )
    )
    out.append(
        (
            "snowflake: default flush (batch_records)",
            float(CHOSEN_BATCH),
            "records",
            None,
            "max batch_seconds 10",
            None,
        )
    )
    return out


def main() -> None:
    """Print the rows as a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20k records instead of 100k")
    args = ap.parse_args()
    result = rows(quick=args.quick)
    try:
        from benchmarks.run import print_rows

        print_rows([tuple(r) for r in result], title="Snowflake sink on fakesnow")
    except ImportError:
        for row in result:
            print(orjson.dumps([str(c) for c in row]).decode())


if __name__ == "__main__":
    main()
