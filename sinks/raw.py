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

This module only builds Arrow arrays (vectorised: no Python loop per record) and SQL text; it
imports no database driver, so any sink can use it.

``RECORD_CONTENT`` can also be built by DuckDB itself, inside the ``INSERT`` (parallel, and
without copying a JSON array into the database): :func:`content_sql` is that expression. It
gives the canonical bytes only for the rows :func:`sql_exact_rows` accepts (finite floats in
``[1e-5, 1e15)``, strings without quotes, backslashes or control characters, timestamps in
years 1000-9999): DuckDB writes other floats and escapes in other notations than orjson. For the
other rows :func:`content_fallback` gives the canonical JSON from :func:`json_lines_array`.
:func:`sql_raw_rows` puts a whole flush (every record type) in one Arrow table for one
``INSERT``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.records import SCHEMA_VERSION, Batch, RecordType, json_lines_array

__all__ = [
    "RAW_SCHEMA",
    "TopicOffsets",
    "content_fallback",
    "content_json",
    "content_sql",
    "json_typed",
    "metadata_json",
    "raw_table",
    "record_keys",
    "sql_exact_rows",
    "sql_raw_rows",
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
    return json_lines_array(batch)


# ---- RECORD_CONTENT built by DuckDB ---------------------------------------------------------
#: Strings DuckDB's ``to_json`` may escape differently from orjson (control characters: other
#: hex case), or that are simply not worth the risk (quotes, backslashes).
_SQL_UNSAFE_STRING = r'["\\\x00-\x1f]'
#: Epoch milliseconds of 1000-01-01 and 10000-01-01: ``%Y`` has four digits in between.
_SQL_MIN_MS, _SQL_MAX_MS = -30_610_224_000_000, 253_402_300_800_000


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def content_sql(rtype: RecordType) -> str:
    """A DuckDB expression over a relation with ``rtype``'s columns (Arrow names) that gives
    each row's canonical JSON as DuckDB ``JSON``, for the rows :func:`sql_exact_rows` accepts.

    Keys come from the record definition in order; timestamps are formatted from epoch
    microseconds, so the session time zone does not matter.
    """
    values = []
    for f in rtype.fields:
        col = _quote(f.name)
        if f.kind == "timestamp":
            col = f"strftime(make_timestamp(epoch_us({col})), '%Y-%m-%dT%H:%M:%S.%gZ')"
        values.append(f"{_quote(f.name)} := {col}")
    return "to_json(struct_pack(" + ", ".join(values) + "))"


def _plain_strings(values: pa.Array) -> np.ndarray | bool:
    """Which strings hold no quote, backslash or control character (``True``: all of them)."""
    if not pa.types.is_string(values.type):  # records use pa.string(); be safe otherwise
        bad = pc.fill_null(pc.match_substring_regex(values, _SQL_UNSAFE_STRING), False)
        return ~bad.to_numpy(zero_copy_only=False)
    _, offsets_buf, data = values.buffers()
    if data is None or len(values) == 0:
        return True
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[
        values.offset : values.offset + len(values) + 1
    ]
    raw = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]  # this slice's bytes
    if not ((raw < 0x20) | (raw == 0x22) | (raw == 0x5C)).any():  # the usual case: one pass
        return True
    bad = pc.fill_null(pc.match_substring_regex(values, _SQL_UNSAFE_STRING), False)
    return ~bad.to_numpy(zero_copy_only=False)


def sql_exact_rows(batch: Batch) -> np.ndarray:
    """Boolean mask of the rows whose :func:`content_sql` value is their canonical JSON."""
    ok = np.ones(batch.num_rows, dtype=bool)
    for i, f in enumerate(batch.type.fields):
        col = batch.data.column(i)
        if f.kind == "float":
            x = pc.fill_null(col, 1.0).to_numpy(zero_copy_only=False)
            ax = np.abs(x)
            with np.errstate(invalid="ignore"):
                ok &= ((ax >= 1e-5) | (x == 0)) & (ax < 1e15)  # also false for NaN and inf
        elif f.kind == "string":
            ok &= _plain_strings(col)
        elif f.kind == "timestamp":
            ms = pc.fill_null(col.cast(pa.int64()), _SQL_MIN_MS - 1).to_numpy(zero_copy_only=False)
            ok &= (ms >= _SQL_MIN_MS) & (ms < _SQL_MAX_MS)
    return ok


def content_fallback(batch: Batch, exact: np.ndarray | None = None) -> pa.Array:
    """The canonical JSON of the rows that :func:`content_sql` cannot encode, null elsewhere.

    ``exact`` is :func:`sql_exact_rows` of the batch (computed when not given); pass an
    all-false mask to get every row from :func:`json_lines_array`.
    """
    exact = sql_exact_rows(batch) if exact is None else exact
    if exact.all():
        return pa.nulls(batch.num_rows, pa.string())
    if not exact.any():
        return json_lines_array(batch)
    odd = pa.array(~exact, pa.bool_())
    encoded = json_lines_array(Batch(batch.type, batch.data.filter(odd)))
    return pc.replace_with_mask(pa.nulls(batch.num_rows, pa.string()), odd, encoded)


def sql_raw_rows(
    parts: Sequence[tuple[Batch, int]], *, create_time_ms: int, sql_json: bool = True
) -> tuple[pa.Table, str]:
    """The raw-table rows of one flush as one Arrow table, and the SQL expression (DuckDB) of
    ``RECORD_CONTENT`` over it; ``RECORD_METADATA`` is its column ``__meta``.

    ``parts`` are (batch, first offset) pairs, at most one per record type. With ``sql_json``,
    the largest part's record type gives the table its columns (null in the other parts' rows)
    and the expression builds that part's JSON from them (:func:`content_sql`); ``__content``
    holds the JSON of every other row (:func:`content_fallback` in that part, and
    :func:`json_lines_array` in the other parts, which are usually small). Without
    ``sql_json`` every row's JSON is in ``__content``.

    One table of one chunk, so that one ``INSERT`` fills the raw table with one scan: DuckDB
    writes the full row groups of an ``INSERT`` to the file as it goes, but when a transaction
    appends to a table in two statements, a ``UNION ALL`` or a scan of an Arrow table of two
    chunks, the commit compresses and writes every row again (measured on flushes of 245,760
    records: commits of 0.5-1.2 s instead of 0.03-0.1 s). Joining the chunks copies the
    largest part once, which costs far less.
    """
    major = max(range(len(parts)), key=lambda k: parts[k][0].num_rows) if sql_json else None
    mtype = parts[major][0].type if major is not None else None
    meta_type = json_typed(pa.array([], pa.string())).type
    fields = [pa.field(f.name, f.arrow_type) for f in mtype.fields] if mtype else []
    schema = pa.schema([*fields, pa.field("__meta", meta_type), pa.field("__content", meta_type)])
    pieces = []
    all_sql = True
    for k, (batch, first_offset) in enumerate(parts):
        meta = metadata_json(batch, first_offset=first_offset, create_time_ms=create_time_ms)
        if k == major:
            columns = batch.data.columns
            content = content_fallback(batch)
            all_sql = content.null_count == batch.num_rows
        else:
            columns = [pa.nulls(batch.num_rows, f.type) for f in fields]
            content = json_lines_array(batch)
            all_sql = False
        arrays = [*columns, json_typed(meta), json_typed(content)]
        pieces.append(pa.Table.from_arrays(arrays, schema=schema))
    table = pa.concat_tables(pieces)
    if len(pieces) > 1:  # one chunk too: DuckDB's scan of several is two appends (as above)
        table = table.combine_chunks()
    if mtype is None:
        return table, "__content"
    if all_sql:
        return table.drop_columns("__content"), content_sql(mtype)
    return table, f"coalesce(__content, {content_sql(mtype)})"


def json_typed(values: pa.Array) -> pa.Array:
    """Mark a string array of JSON documents as Arrow JSON (pyarrow >= 19; unchanged before).

    DuckDB takes such a column as ``JSON`` without the text-to-JSON cast, which parses every
    value. The bytes are unchanged.
    """
    json_type = getattr(pa, "json_", None)
    return values if json_type is None else pa.ExtensionArray.from_storage(json_type(), values)


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
    offsets = pa.array(np.arange(first_offset, first_offset + n, dtype=np.int64)).cast(pa.string())
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
