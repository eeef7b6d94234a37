"""Rows of the raw table ``ATS_RAW_JSON`` in the Snowflake Kafka connector's layout.

Every warehouse sink (DuckDB here, Snowflake elsewhere) stores each record twice: typed, and
raw as the connector would have loaded it from Kafka, as two JSON documents:

* ``RECORD_CONTENT``: the record's canonical JSON, byte for byte :func:`ats_sim.records.json_lines`
  (the Kafka message value);
* ``RECORD_METADATA``: ``{"topic", "partition", "offset", "CreateTime", "key", "headers"}``. A
  direct (non-Kafka) sink fills ``topic`` with the record type's default topic, ``partition``
  with 0, ``offset`` from a per-topic counter of the sink (:class:`TopicOffsets`),
  ``CreateTime`` with the wall-clock write time in epoch ms, ``key`` with the train id (or the
  station id when there is no train; omitted when both are null) and ``headers`` with
  ``record_type`` and ``schema_version`` as strings, as Kafka headers carry them.

This module only builds Arrow arrays (vectorised: no Python loop per record); it imports no
database driver, so any sink can use it.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.records import SCHEMA_VERSION, Batch, json_lines

__all__ = [
    "RAW_SCHEMA",
    "TopicOffsets",
    "content_json",
    "metadata_json",
    "raw_table",
    "record_keys",
    "wall_clock_ms",
]

#: The Arrow schema of a raw-table chunk: two JSON documents as strings.
RAW_SCHEMA = pa.schema(
    [
        pa.field("RECORD_METADATA", pa.string(), nullable=False),
        pa.field("RECORD_CONTENT", pa.string(), nullable=False),
    ]
)


class TopicOffsets:
    """Per-topic offset counters of one sink, starting at 0.

    A sink reads :meth:`next` before a write and calls :meth:`advance` only once the write is
    durable, so a retried write reuses the same offsets.
    """

    def __init__(self) -> None:
        self._next: defaultdict[str, int] = defaultdict(int)

    def next(self, topic: str) -> int:
        """The offset the next record of ``topic`` gets."""
        return self._next[topic]

    def advance(self, topic: str, count: int) -> None:
        """Mark ``count`` more records of ``topic`` as written."""
        self._next[topic] += count


def wall_clock_ms() -> int:
    """The current wall-clock time in epoch milliseconds (the ``CreateTime`` of a direct write)."""
    return time.time_ns() // 1_000_000


def record_keys(batch: Batch) -> pa.Array:
    """The message key of each record: its train id, else its station id, else null."""
    names = batch.type.field_names
    key: pa.Array = pa.nulls(batch.num_rows, pa.string())
    for name in ("station_id", "train_id"):  # later wins: train id first
        if name in names:
            col = batch.data.column(names.index(name))
            key = pc.coalesce(col, key)
    return key


def content_json(batch: Batch) -> pa.Array:
    """``RECORD_CONTENT`` of each record: its canonical JSON line, as an Arrow string array."""
    return _string_array(json_lines(batch))


def _string_array(lines: list[bytes]) -> pa.Array:
    """Bytes known to be UTF-8 (orjson output) as an Arrow string array, without a copy per item."""
    lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
    if lengths.sum() >= 2**31:  # beyond 32-bit offsets: let Arrow chunk it
        return pa.array(lines, type=pa.binary()).cast(pa.string())
    offsets = np.zeros(len(lines) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(lines), pa.py_buffer(offsets), pa.py_buffer(b"".join(lines))
    )


def _json_strings(values: pa.Array) -> pa.Array:
    """JSON-encode a string array (null stays null), encoding each distinct value once."""
    encoded = values.dictionary_encode()
    assert isinstance(encoded, pa.DictionaryArray)
    dictionary = pa.array(
        [orjson.dumps(v).decode() for v in encoded.dictionary.to_pylist()], type=pa.string()
    )
    return dictionary.take(encoded.indices)


def metadata_json(
    batch: Batch,
    *,
    first_offset: int,
    create_time_ms: int,
    partition: int = 0,
    topic: str | None = None,
) -> pa.Array:
    """``RECORD_METADATA`` of each record; offsets run from ``first_offset`` in row order."""
    n = batch.num_rows
    topic = topic or batch.type.topic
    offsets = pa.array(range(first_offset, first_offset + n), type=pa.int64()).cast(pa.string())
    keys = _json_strings(record_keys(batch))
    key_part = pc.fill_null(pc.binary_join_element_wise(',"key":', keys, ""), "")
    headers = orjson.dumps(
        {"record_type": batch.type.name, "schema_version": str(SCHEMA_VERSION)}
    ).decode()
    head = '{"topic":' + orjson.dumps(topic).decode() + f',"partition":{int(partition)},"offset":'
    tail = f',"CreateTime":{int(create_time_ms)}'
    result: pa.Array = pc.binary_join_element_wise(
        head, offsets, tail, key_part, ',"headers":' + headers + "}", ""
    )
    return result


def raw_table(
    batch: Batch,
    *,
    first_offset: int,
    create_time_ms: int | None = None,
    partition: int = 0,
    topic: str | None = None,
) -> pa.Table:
    """The raw-table rows of ``batch``: ``RECORD_METADATA`` and ``RECORD_CONTENT`` as JSON strings.

    ``create_time_ms`` defaults to the wall clock now; ``topic`` to the record type's topic.
    """
    ct = wall_clock_ms() if create_time_ms is None else create_time_ms
    meta = metadata_json(
        batch, first_offset=first_offset, create_time_ms=ct, partition=partition, topic=topic
    )
    return pa.Table.from_arrays([meta, content_json(batch)], schema=RAW_SCHEMA)
