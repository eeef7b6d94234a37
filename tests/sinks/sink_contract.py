"""The sink contract's registry: how to open each sink in a test, and how to read it back.

One :class:`SinkCase` per sink. ``url(tmp_path, request)`` returns the URL to open (a case that
needs a service gets it from ``request.getfixturevalue(...)``); ``read_back(url, sink)`` returns every
record the (closed) sink stored, per record type, as canonical JSON lines. The contract test runs every
case through write -> flush -> read back and compares with :func:`ats_sim.records.json_lines`.

To add a sink (Kafka, Snowflake): append a ``SinkCase`` to ``CASES`` with its read-back
function, imported lazily inside it; the contract test picks it up.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ats_sim.records import RECORD_TYPES, Batch, json_lines

__all__ = ["CASES", "SinkCase", "canonical", "make_batch"]

Lines = dict[str, list[bytes]]


@dataclass(frozen=True)
class SinkCase:
    """How the contract test opens one sink and reads back what it stored."""

    name: str
    url: Callable[[Path, Any], str]
    read_back: Callable[[str, Any], Lines]
    #: pytest marks for this case (e.g. ``pytest.mark.kafka``).
    marks: tuple[Any, ...] = field(default=())


def canonical(batches: list[Batch]) -> Lines:
    """The expected JSON lines per record type."""
    out: Lines = {name: [] for name in RECORD_TYPES}
    for b in batches:
        out[b.type.name].extend(json_lines(b))
    return out


def _lines_from_table(record_type: str, table: pa.Table) -> list[bytes]:
    rtype = RECORD_TYPES[record_type]
    table = table.cast(rtype.arrow_schema)
    return [line for rb in table.to_batches() for line in json_lines(Batch(rtype, rb))]


# -- read-back functions, one per sink ----------------------------------------------------------
def _memory_url(tmp_path: Path, request: Any) -> str:
    return "memory://"


def _read_memory(url: str, sink: Any) -> Lines:
    return {name: _lines_from_table(name, sink.table(name)) for name in RECORD_TYPES}


def _file_path(url: str) -> Path:
    from sinks import parse_sink_url
    from sinks.files import local_path

    return local_path(parse_sink_url(url))


def _read_jsonl(url: str, sink: Any) -> Lines:
    from sinks.files import list_files

    root = _file_path(url)
    out: Lines = {}
    for name in RECORD_TYPES:
        lines: list[bytes] = []
        for path in list_files(root, name):
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            assert data == b"" or data.endswith(b"\n"), f"{path} does not end with a newline"
            lines.extend(data.splitlines())
        out[name] = lines
    return out


def _read_parquet(url: str, sink: Any) -> Lines:
    from sinks.files import list_files

    root = _file_path(url)
    out: Lines = {}
    for name in RECORD_TYPES:
        files = list_files(root, name)
        for path in files:
            schema = pq.read_schema(path)
            assert schema.equals(RECORD_TYPES[name].arrow_schema, check_metadata=False), path
        tables = [pq.read_table(p) for p in files]
        out[name] = [line for t in tables for line in _lines_from_table(name, t)]
    return out


def _read_duckdb(url: str, sink: Any) -> Lines:
    """The raw table's RECORD_CONTENT bytes, checked against the typed tables' rows."""
    from sinks.duckdb import read_table, reading

    path = _file_path(url)
    with reading(path) as con:
        raw = con.execute(
            "SELECT RECORD_CONTENT->>'record_type', RECORD_CONTENT::VARCHAR FROM ATS_RAW_JSON"
        ).fetchall()
    out: Lines = {name: [] for name in RECORD_TYPES}
    for rtype, content in raw:
        out[rtype].append(content.encode())
    for name in RECORD_TYPES:
        typed = _lines_from_table(name, read_table(path, name))
        assert sorted(typed) == sorted(out[name]), (
            f"typed table of {name} differs from ATS_RAW_JSON"
        )
    return out


CASES: list[SinkCase] = [
    SinkCase("memory", _memory_url, _read_memory),
    SinkCase("file-jsonl", lambda tmp, _: f"file://{tmp}/jsonl?format=jsonl", _read_jsonl),
    SinkCase(
        "file-jsonl-gzip",
        lambda tmp, _: f"file://{tmp}/jsonlgz?format=jsonl&compression=gzip",
        _read_jsonl,
    ),
    SinkCase("file-parquet", lambda tmp, _: f"file://{tmp}/parquet?format=parquet", _read_parquet),
    SinkCase("duckdb", lambda tmp, _: f"duckdb://{tmp}/ats.duckdb", _read_duckdb),
]


# -- building batches by hand ---------------------------------------------------------------------
_DEFAULTS = {"string": "x", "int": 0, "float": 0.0, "bool": False}


def make_batch(record_type: str, rows: list[dict[str, Any]], **common: Any) -> Batch:
    """A batch from partial rows: missing fields take ``common`` values, then type defaults.

    ``timestamp`` may be epoch ms or an ISO string such as ``"2024-06-01T07:50:00Z"``.
    """
    import numpy as np

    rtype = RECORD_TYPES[record_type]
    cols: dict[str, list[Any]] = {f.name: [] for f in rtype.fields}
    for i, row in enumerate(rows):
        full = {**common, **row}
        for f in rtype.fields:
            if f.name in full:
                value = full[f.name]
            elif f.name == "record_id":
                value = f"{full.get('run_id', 'run')}:{record_type}:{i}"
            elif f.name == "record_type":
                value = record_type
            elif f.name == "schema_version":
                value = 1
            else:
                value = None if f.nullable else _DEFAULTS[f.kind]
            if f.kind == "timestamp" and isinstance(value, str):
                value = int(np.datetime64(value.rstrip("Z"), "ms").astype(np.int64))
            cols[f.name].append(value)
    return Batch.from_columns(rtype, cols)
