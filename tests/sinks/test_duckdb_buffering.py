"""The DuckDB sink writes whole row groups of the raw table while a run streams, the rest later.

DuckDB writes the full row groups of an INSERT straight to the file, so a flush triggered by
``batch_records`` takes the oldest records up to a row-group boundary of the raw table
(``sinks.duckdb_rowgroups``) and keeps the rest buffered; ``flush()``, ``close()`` and a flush
due by age take everything. Nothing may be lost or written twice on the way, also when a write
fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from writer_process import telemetry_batch

from ats_sim.records import Batch
from sinks import TransientSinkError, open_sink
from sinks.duckdb import ROW_GROUP_ROWS, reading
from sinks.duckdb_rowgroups import aligned_count, split_batches

ROWS = 50_000


@pytest.fixture(scope="module")
def batches() -> list[Batch]:
    """Six batches of 50,000 telemetry records (300,000: two row groups and a bit)."""
    return [telemetry_batch(k, ROWS) for k in range(6)]


def _count(path: Path) -> tuple[int, int, int]:
    """Typed rows, distinct record ids among them, raw rows."""
    with reading(path) as con:
        typed = con.execute("SELECT count(*), count(DISTINCT RECORD_ID) FROM ATS_TRANSFORMED")
        n, distinct = typed.fetchone() or (0, 0)
        raw = con.execute("SELECT count(*) FROM ATS_RAW_JSON").fetchone() or (0,)
    return n, distinct, raw[0]


def test_aligned_count_reaches_the_next_row_group_boundaries() -> None:
    """As many records as end the table on a boundary: whole groups from an empty table, the
    rest of a partly filled last group first, nothing when even that is out of reach."""
    rg = ROW_GROUP_ROWS
    assert aligned_count(250_000, 0) == 2 * rg
    assert aligned_count(rg, 0) == rg
    assert aligned_count(rg - 1, 0) == 0
    assert aligned_count(250_000, 1_000) == (rg - 1_000) + rg
    assert aligned_count(10, 5 * rg - 10) == 10
    assert aligned_count(9, 5 * rg - 10) == 0


def test_split_batches_cuts_in_order_and_keeps_tags() -> None:
    """The head holds the first records in order; a batch cut in two keeps its tag twice."""
    parts = [telemetry_batch(k, 10) for k in range(3)]
    head, tail = split_batches(parts, ["a", "b", "c"], 15)
    assert [(b.num_rows, t) for b, t in head] == [(10, "a"), (5, "b")]
    assert [(b.num_rows, t) for b, t in tail] == [(5, "b"), (10, "c")]
    ids = [i for b, _ in head + tail for i in b.data.column("record_id").to_pylist()]
    assert ids == [i for b in parts for i in b.data.column("record_id").to_pylist()]


def test_streaming_writes_whole_row_groups_and_close_writes_the_rest(
    tmp_path: Path, batches: list[Batch]
) -> None:
    """With batch_records of a row group, every write before close() is whole row groups; the
    remainder waits in the buffer and close() stores it; each record ends up stored once."""
    path = tmp_path / "ats.duckdb"
    sink = open_sink(f"duckdb://{path}", batch_records=ROW_GROUP_ROWS, batch_seconds=3600)
    for b in batches:
        sink.write_batch(b)
        assert sink.stats.records % ROW_GROUP_ROWS == 0
    assert sink.stats.records == 2 * ROW_GROUP_ROWS
    assert _count(path) == (2 * ROW_GROUP_ROWS,) * 3
    sink.close()
    assert _count(path) == (len(batches) * ROWS,) * 3


def test_a_file_with_a_partly_filled_row_group_is_topped_up_first(
    tmp_path: Path, batches: list[Batch]
) -> None:
    """A second sink on a file that ends mid row group: its first write cannot know (it assumes
    a new file), every later one fills the last row group and then whole ones."""
    path = tmp_path / "ats.duckdb"
    with open_sink(f"duckdb://{path}") as first:
        first.write_batch(telemetry_batch(100, 1_000))
    sink = open_sink(f"duckdb://{path}", batch_records=ROW_GROUP_ROWS, batch_seconds=3600)
    for b in batches[:3]:  # 150,000 buffered: writes one row group
        sink.write_batch(b)
    assert _count(path)[2] == 1_000 + ROW_GROUP_ROWS
    for b in batches[3:5]:  # 127,120 buffered: writes 121,880, up to the next boundary
        sink.write_batch(b)
    assert _count(path)[2] == 2 * ROW_GROUP_ROWS
    sink.close()
    assert _count(path) == (1_000 + 5 * ROWS,) * 3


def test_an_explicit_flush_writes_everything(tmp_path: Path, batches: list[Batch]) -> None:
    """flush() is the durability point: whatever is buffered, whole row groups or not."""
    path = tmp_path / "ats.duckdb"
    sink = open_sink(f"duckdb://{path}", batch_records=ROW_GROUP_ROWS, batch_seconds=3600)
    for b in batches[:3]:
        sink.write_batch(b)
    sink.flush()
    assert sink.stats.records == 3 * ROWS
    assert _count(path) == (3 * ROWS,) * 3
    sink.close()


def test_records_due_by_age_are_written_whole(tmp_path: Path, batches: list[Batch]) -> None:
    """Once the oldest buffered record has waited batch_seconds, everything is written."""
    path = tmp_path / "ats.duckdb"
    sink = open_sink(f"duckdb://{path}", batch_records=ROW_GROUP_ROWS, batch_seconds=0)
    for k, b in enumerate(batches[:2]):
        sink.write_batch(b)
        assert sink.stats.records == (k + 1) * ROWS
    sink.close()


def test_a_small_batch_records_writes_everything_each_time(
    tmp_path: Path, batches: list[Batch]
) -> None:
    """Below a row group, batch_records is taken as it is: each write stores the whole buffer."""
    path = tmp_path / "ats.duckdb"
    with open_sink(f"duckdb://{path}", batch_records=ROWS, batch_seconds=3600) as sink:
        for k, b in enumerate(batches[:2]):
            sink.write_batch(b)
            assert sink.stats.records == (k + 1) * ROWS


def test_a_failed_partial_write_keeps_every_record(tmp_path: Path, batches: list[Batch]) -> None:
    """While another process holds the file the partial write fails as transient; the records
    stay buffered, in order, and later writes store each of them once, offsets contiguous."""
    path = tmp_path / "ats.duckdb"
    sink = open_sink(
        f"duckdb://{path}",
        batch_records=ROW_GROUP_ROWS,
        batch_seconds=3600,
        lock_timeout_s=0.2,
        max_retries=0,
    )
    sink.write_batch(batches[0])
    sink.write_batch(batches[1])
    code = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print('holding', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(TransientSinkError):
            sink.write_batch(batches[2])  # 150,000 buffered: tries to write one row group
        assert sink.stats.records == 0
    finally:
        holder.kill()
        holder.wait()
    for b in batches[3:]:
        sink.write_batch(b)
    sink.close()
    assert _count(path) == (len(batches) * ROWS,) * 3
    with reading(path) as con:
        offsets = [
            r[0]
            for r in con.execute(
                "SELECT (RECORD_METADATA->>'offset')::BIGINT FROM ATS_RAW_JSON ORDER BY 1"
            ).fetchall()
        ]
    assert offsets == list(range(len(batches) * ROWS))
