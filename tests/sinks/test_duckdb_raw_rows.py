"""One flush of every record type fills the raw table with one INSERT (``sinks.raw.sql_raw_rows``).

DuckDB builds the JSON of the largest record type from its columns; the other types' JSON comes
from :func:`ats_sim.records.json_lines_array`. Whichever builds it, ``RECORD_CONTENT`` must be
the canonical JSON byte for byte, and ``RECORD_METADATA`` what :func:`sinks.raw.metadata_json`
gives, offsets per topic.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from ats_sim.records import RECORD_TYPES, Batch, json_lines
from sinks import open_sink
from sinks.duckdb import reading
from sinks.raw import metadata_json, sql_raw_rows


def _per_type(batches: list[Batch]) -> list[Batch]:
    """One single-chunk batch per record type, as the sink hands them over."""
    out = []
    for name, rtype in RECORD_TYPES.items():
        data = [b.data for b in batches if b.type.name == name]
        if data:
            table = pa.Table.from_batches(data, schema=rtype.arrow_schema).combine_chunks()
            out.append(Batch(rtype, table.to_batches()[0]))
    return out


def _evaluate(parts: list[tuple[Batch, int]], sql_json: bool) -> tuple[list[str], list[str]]:
    """RECORD_METADATA and RECORD_CONTENT as DuckDB computes them from sql_raw_rows."""
    table, content = sql_raw_rows(parts, create_time_ms=1_700_000_000_000, sql_json=sql_json)
    assert all(column.num_chunks == 1 for column in table.columns), "one scan, one append"
    con = duckdb.connect()
    try:
        con.register("rows", table)
        rows = con.execute(f"SELECT __meta::VARCHAR, ({content})::VARCHAR FROM rows").fetchall()
    finally:
        con.close()
    return [r[0] for r in rows], [r[1] for r in rows]


def _expected(parts: list[tuple[Batch, int]]) -> tuple[list[str], list[str]]:
    meta = [
        m
        for b, first in parts
        for m in metadata_json(b, first_offset=first, create_time_ms=1_700_000_000_000).to_pylist()
    ]
    content = [line.decode() for b, _ in parts for line in json_lines(b)]
    return meta, content


@pytest.mark.parametrize("sql_json", [True, False])
def test_every_record_type_in_one_table_gives_the_canonical_json(
    run_batches: list[Batch], tricky_batches: list[Batch], sql_json: bool
) -> None:
    """Telemetry (built by DuckDB) with station events and awkward alerts (built in Python),
    and every row in Python when this DuckDB's JSON is not trusted."""
    typed = _per_type(run_batches + tricky_batches)
    assert len(typed) == 3
    parts = [(b, 10 * k) for k, b in enumerate(typed)]
    assert _evaluate(parts, sql_json) == _expected(parts)


def test_the_largest_type_may_need_python_for_some_rows(tricky_batches: list[Batch]) -> None:
    """Alerts with quotes, newlines and nulls as the largest part: DuckDB builds their plain
    rows, Python the others, still byte for byte."""
    alerts, events = _per_type(tricky_batches)[::-1]
    assert alerts.type.name == "alert" and alerts.num_rows > events.num_rows
    parts = [(alerts, 0), (events, 7)]
    _, content = sql_raw_rows(parts, create_time_ms=0)
    assert content.startswith("coalesce(__content, ")
    assert _evaluate(parts, True) == _expected(parts)


def test_plain_records_of_one_type_need_no_python_json(run_batches: list[Batch]) -> None:
    """The usual flush: DuckDB builds every row's JSON, no __content column is handed over."""
    telemetry = _per_type([b for b in run_batches if b.type.name == "telemetry"])
    parts = [(telemetry[0], 0)]
    table, content = sql_raw_rows(parts, create_time_ms=0)
    assert "__content" not in table.schema.names
    assert content.startswith("to_json(")
    assert _evaluate(parts, True) == _expected(parts)


def test_a_mixed_flush_stores_each_record_once_with_offsets_per_topic(
    tmp_path: Path, run_batches: list[Batch], tricky_batches: list[Batch]
) -> None:
    """Through the sink, two flushes of every type: raw rows are the canonical lines, the
    offsets of each topic run 0, 1, 2... across the flushes."""
    path = tmp_path / "ats.duckdb"
    half = len(run_batches) // 2
    with open_sink(f"duckdb://{path}", batch_records=10**9) as sink:
        for b in run_batches[:half] + tricky_batches:
            sink.write_batch(b)
        sink.flush()
        for b in run_batches[half:]:
            sink.write_batch(b)
    batches = run_batches + tricky_batches
    with reading(path) as con:
        stored = con.execute(
            "SELECT RECORD_METADATA->>'topic', (RECORD_METADATA->>'offset')::BIGINT, "
            "RECORD_CONTENT::VARCHAR FROM ATS_RAW_JSON ORDER BY 1, 2"
        ).fetchall()
    assert sorted(r[2].encode() for r in stored) == sorted(
        line for b in batches for line in json_lines(b)
    )
    for rtype in RECORD_TYPES.values():
        offsets = [r[1] for r in stored if r[0] == rtype.topic]
        assert offsets == list(range(sum(b.num_rows for b in batches if b.type == rtype)))
