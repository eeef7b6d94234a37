"""RECORD_CONTENT built by DuckDB (``sinks.raw.content_sql``) is the canonical JSON, byte for byte.

The DuckDB sink lets DuckDB write each record's JSON inside the INSERT, and encodes in Python
only the rows DuckDB would write differently (exponent floats, NaN, control characters...).
These tests hold that split to :func:`ats_sim.records.json_lines`, the Kafka message value.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from sink_contract import make_batch

from ats_sim.records import Batch, json_lines
from sinks import open_sink
from sinks.duckdb import reading, sql_json_is_canonical
from sinks.raw import content_fallback, content_sql, sql_exact_rows


def _content(batch: Batch) -> list[bytes]:
    """RECORD_CONTENT as the sink builds it: fallback JSON where given, DuckDB's elsewhere."""
    fallback = content_fallback(batch)
    table = pa.Table.from_batches([batch.data]).append_column("__content", fallback)
    con = duckdb.connect()
    try:
        con.register("rows", table)
        rows = con.execute(
            f"SELECT coalesce(__content, {content_sql(batch.type)}::VARCHAR) FROM rows"
        ).fetchall()
    finally:
        con.close()
    return [r[0].encode() for r in rows]


_ODD_FLOATS = [1e-6, -9.99e-6, 1e15, 1e16, -1.2345678901234568e16, 1e22, 5e-324, math.nan, math.inf]
_PLAIN_FLOATS = [0.0, -0.0, 3.0, 0.30000000000000004, 123456.789, 1e-5, 999999999999999.9]


def _alerts(values: list[float], texts: list[str | None], timestamps: list[int]) -> Batch:
    n = len(values)
    return make_batch(
        "alert",
        [
            {
                "timestamp": timestamps[i % len(timestamps)],
                "value": values[i],
                "threshold": values[(i + 1) % n],
                "message": texts[i % len(texts)] or "",
                "train_id": texts[i % len(texts)],
                "station_id": texts[(i + 1) % len(texts)],
            }
            for i in range(n)
        ],
        run_id="json",
        line_id="L1",
        alert_id="A1",
        alert_type="bunching",
        state="raised",
        severity="info",
    )


def test_this_duckdb_writes_the_canonical_json_so_the_fast_path_is_used() -> None:
    """If a DuckDB upgrade changes to_json, the sink would silently slow down: fail here instead."""
    assert sql_json_is_canonical()


def test_rows_duckdb_would_write_differently_are_encoded_in_python() -> None:
    """Exponent floats, NaN/inf, control characters, quotes and timestamps outside years
    1000-9999 go to the fallback; plain values, non-ASCII text included, stay with DuckDB."""
    texts = [
        "R-01",
        "Gare d'Été",
        "仅站台 😀",
        "a\x1fb",
        'say "hi"',
        "back\\slash",
        "tab\there",
        None,
    ]
    stamps = [0, 1_717_200_000_123, -30_610_224_000_001, 253_402_300_799_999]
    batch = _alerts(_PLAIN_FLOATS + _ODD_FLOATS, texts, stamps)
    assert _content(batch) == json_lines(batch)
    exact = sql_exact_rows(batch)
    assert 0 < exact.sum() < batch.num_rows
    plain = _alerts(_PLAIN_FLOATS, ["R-01", "Gare d'Été", "仅站台 😀", None], stamps[:2])
    assert sql_exact_rows(plain).all()
    assert content_fallback(plain).null_count == plain.num_rows


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(width=64), min_size=1, max_size=30),
    st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=1, max_size=5),
    st.lists(st.integers(-2_208_988_800_000, 7_258_118_400_000), min_size=1, max_size=5),
)
def test_any_values_give_the_canonical_json(
    values: list[float], texts: list[str | None], stamps: list[int]
) -> None:
    """Any float, string (or null) and timestamp between 1900 and 2200."""
    batch = _alerts(values, texts, stamps)
    assert _content(batch) == json_lines(batch)


def test_the_sink_stores_the_canonical_json_of_awkward_records(tmp_path: Path) -> None:
    """Through the sink: raw rows hold json_lines byte for byte, typed rows the same values."""
    texts = ['Zug "T1" überfüllt\n', "\x00\x0b", "ok", None]
    finite = [v for v in _PLAIN_FLOATS + _ODD_FLOATS if not math.isnan(v)]  # NaN: a null here
    batch = _alerts(finite, texts, [1_717_200_000_000, 1_717_286_399_999])
    path = tmp_path / "ats.duckdb"
    with open_sink(f"duckdb://{path}") as sink:
        sink.write_batch(batch)
    with reading(path) as con:
        stored = [
            r[0].encode()
            for r in con.execute("SELECT RECORD_CONTENT::VARCHAR FROM ATS_RAW_JSON").fetchall()
        ]
        values = [
            r[0]
            for r in con.execute(
                'SELECT "VALUE" FROM ATS_ALERT_EVENTS ORDER BY RECORD_ID'
            ).fetchall()
        ]
    assert sorted(stored) == sorted(json_lines(batch))
    ordered = sorted(
        zip(
            batch.data.column("record_id").to_pylist(),
            batch.data.column("value").to_pylist(),
            strict=True,
        )
    )
    assert values == [v for _, v in ordered]
    assert all(isinstance(json.loads(s), dict) for s in stored)
