"""Kafka messages as warehouse rows, for ``ats-sim ingest``: validation, metadata, the writer contract.

What every warehouse writer of the ingester shares (:mod:`sinks.ingest_duckdb`,
:mod:`sinks.ingest_snowflake`):

* :func:`sort_messages` splits a batch of messages into valid records (their typed rows, per
  record type) and dead letters (the message and why it is not a known record);
* :func:`metadata_json` builds ``RECORD_METADATA`` from the real message, in the Snowflake Kafka
  connector's layout; :func:`key_text`, :func:`headers_json` and :func:`timestamp_ms` give a
  dead letter's columns;
* :class:`Warehouse` is the contract a writer implements; :class:`StoredBatch` is what one
  :meth:`Warehouse.store` call did.

Messages are confluent-kafka ``Message`` objects without error (anything with ``topic()``,
``partition()``, ``offset()``, ``timestamp()``, ``key()``, ``value()`` and ``headers()``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.records import RECORD_TYPES, SCHEMA_VERSION, RecordType

__all__ = [
    "DEAD_LETTER_TABLE",
    "SortedMessages",
    "StoredBatch",
    "Warehouse",
    "headers_json",
    "key_text",
    "metadata_json",
    "parse_record",
    "sort_messages",
    "timestamp_ms",
    "typed_rows",
]

log = logging.getLogger(__name__)

#: Messages that are not known records, with their error (``sql/*/15_dead_letter.sql``).
DEAD_LETTER_TABLE = "ATS_DEAD_LETTER"

_ISO_MS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$"
#: confluent_kafka.TIMESTAMP_CREATE_TIME / TIMESTAMP_LOG_APPEND_TIME -> the metadata key.
TIMESTAMP_KEYS = {1: "CreateTime", 2: "LogAppendTime"}
#: Python types a JSON value of each field kind may have (ints are valid floats; bools are not ints).
_ALLOWED: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "int": frozenset({int}),
    "float": frozenset({float, int}),
    "bool": frozenset({bool}),
    "timestamp": frozenset({str}),
}
_KEYS = {name: frozenset(rtype.field_names) for name, rtype in RECORD_TYPES.items()}


# -- validating messages --------------------------------------------------------------------------
def parse_record(value: bytes | None) -> tuple[RecordType, dict[str, Any]] | str:
    """The record type and fields of a message value, or why it is not a known record.

    This checks the shape (JSON object, known ``record_type``, this ``schema_version``, exactly
    the type's fields); :func:`typed_rows` checks the values, column by column.
    """
    if value is None:
        return "empty message value (tombstone)"
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON: {exc}"
    if type(obj) is not dict:
        return f"not a JSON object but {type(obj).__name__}"
    name = obj.get("record_type")
    rtype = RECORD_TYPES.get(name) if type(name) is str else None
    if rtype is None:
        return f"unknown record_type {name!r:.60}; known: {', '.join(RECORD_TYPES)}"
    if obj.keys() != _KEYS[rtype.name]:
        missing = sorted(_KEYS[rtype.name] - obj.keys())
        extra = sorted(obj.keys() - _KEYS[rtype.name])
        return f"{rtype.name} record with missing fields {missing} or unknown fields {extra}"
    version = obj["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        return f"schema_version {version!r:.20} is not {SCHEMA_VERSION}, the one this ats-sim reads"
    return rtype, obj


def _typed_table(rtype: RecordType, rows: list[dict[str, Any]]) -> pa.Table:
    arrays = []
    for f in rtype.fields:
        values = [r[f.name] for r in rows]
        if f.kind == "timestamp":
            arrays.append(pa.array(values, pa.string()).cast(f.arrow_type))
        else:
            arrays.append(pa.array(values, type=f.arrow_type))
    return pa.Table.from_arrays(arrays, schema=rtype.arrow_schema)


def typed_rows(
    rtype: RecordType, pairs: list[tuple[Any, dict[str, Any]]]
) -> tuple[pa.Table, list[tuple[Any, dict[str, Any]]], list[tuple[Any, str]]]:
    """The typed table of ``pairs`` (message, record), and the pairs whose values are not valid.

    Values are checked a column at a time (the Python types present, then the timestamps'
    form and dates with Arrow); only a column that fails is looked at value by value.
    """
    bad: dict[int, str] = {}
    names = tuple(rtype.field_names)
    columns: list[Sequence[Any]]
    if all(tuple(obj) == names for _, obj in pairs):  # canonical field order: transpose in C
        columns = list(zip(*(tuple(obj.values()) for _, obj in pairs), strict=True))
    else:
        columns = [[obj[n] for _, obj in pairs] for n in names]
    for f, values in zip(rtype.fields, columns, strict=True):
        allowed = _ALLOWED[f.kind] | ({type(None)} if f.nullable else set())
        if not set(map(type, values)) <= allowed:
            for i, v in enumerate(values):
                if type(v) not in allowed:
                    bad.setdefault(
                        i, f"{rtype.name} field {f.name!r} = {v!r:.60} is not a valid {f.kind}"
                    )
        if f.kind == "timestamp":
            stamps = pa.array([v if isinstance(v, str) else "" for v in values], pa.string())
            well_formed = pc.match_substring_regex(stamps, _ISO_MS).to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(~well_formed).tolist():
                bad.setdefault(
                    i,
                    f"{rtype.name} {f.name} {values[i]!r:.60} is not like 2026-03-10T08:00:00.000Z",
                )
            try:
                stamps.filter(pa.array(well_formed)).cast(f.arrow_type)
            except (pa.ArrowInvalid, ValueError):  # a date that does not exist: find it
                for i in np.flatnonzero(well_formed).tolist():
                    try:
                        pa.array([values[i]], pa.string()).cast(f.arrow_type)
                    except (pa.ArrowInvalid, ValueError):
                        bad.setdefault(
                            i, f"{rtype.name} {f.name} {values[i]!r:.60} is not a valid date-time"
                        )
    ok = [pair for i, pair in enumerate(pairs) if i not in bad]
    dead = [(pairs[i][0], error) for i, error in sorted(bad.items())]
    try:
        return _typed_table(rtype, [obj for _, obj in ok]), ok, dead
    except (pa.ArrowException, OverflowError, ValueError, TypeError):  # e.g. an int beyond 64 bits
        pass
    still_ok: list[tuple[Any, dict[str, Any]]] = []
    for m, obj in ok:
        try:
            _typed_table(rtype, [obj])
            still_ok.append((m, obj))
        except (pa.ArrowException, OverflowError, ValueError, TypeError) as exc:
            dead.append((m, f"{rtype.name} record does not convert to its typed row: {exc}"))
    return _typed_table(rtype, [obj for _, obj in still_ok]), still_ok, dead


@dataclass
class SortedMessages:
    """A batch of messages split into valid records and dead letters."""

    #: Record type name -> the typed rows of its valid records.
    typed: dict[str, pa.Table] = field(default_factory=dict)
    #: Record type name -> the messages of those rows, in the same order.
    records: dict[str, list[Any]] = field(default_factory=dict)
    #: (message, why it is not a known record), in batch order.
    dead: list[tuple[Any, str]] = field(default_factory=list)
    #: Messages dropped because the same (topic, partition, offset) came earlier in the batch.
    repeated: int = 0

    def good(self) -> list[Any]:
        """The valid records' messages, ordered by topic, partition and offset."""
        out = [m for ms in self.records.values() for m in ms]
        out.sort(key=lambda m: (m.topic(), m.partition(), m.offset()))
        return out


def sort_messages(messages: list[Any]) -> SortedMessages:
    """Split ``messages`` into typed rows per record type and dead letters (each logged once)."""
    result = SortedMessages()
    seen: set[tuple[str, int, int]] = set()
    by_type: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for m in messages:
        ident = (m.topic(), m.partition(), m.offset())
        if ident in seen:
            result.repeated += 1
            continue
        seen.add(ident)
        parsed = parse_record(m.value())
        if isinstance(parsed, str):
            result.dead.append((m, parsed))
        else:
            by_type.setdefault(parsed[0].name, []).append((m, parsed[1]))
    for name, pairs in by_type.items():
        table, ok, bad = typed_rows(RECORD_TYPES[name], pairs)
        result.dead.extend(bad)
        if ok:
            result.typed[name] = table
            result.records[name] = [m for m, _ in ok]
    for m, error in result.dead:
        log.warning("dead letter %s[%d]@%d: %s", m.topic(), m.partition(), m.offset(), error)
    return result


# -- message metadata -----------------------------------------------------------------------------
def metadata_json(messages: list[Any]) -> list[bytes]:
    """``RECORD_METADATA`` of each message, with the keys and order the Snowflake connector uses.

    ``{"topic", "partition", "offset", "CreateTime" (or "LogAppendTime"), "key" (when not
    null), "headers"}``; topic, key and header texts repeat, so each is encoded once.
    """
    dumps = orjson.dumps
    topics: dict[str, bytes] = {}
    keys: dict[bytes, bytes] = {}
    headers: dict[tuple[Any, ...], bytes] = {}
    out = []
    for m in messages:
        topic = m.topic()
        tj = topics.get(topic)
        if tj is None:
            tj = topics[topic] = dumps(topic)
        ts_type, ts = m.timestamp()
        time_part = (
            b',"%s":%d' % (TIMESTAMP_KEYS[ts_type].encode(), ts)
            if ts_type in TIMESTAMP_KEYS
            else b""
        )
        key = m.key()
        key_part: bytes | None
        if key is None:
            key_part = b""
        else:
            key_part = keys.get(key)
            if key_part is None:
                key_part = keys[key] = b',"key":' + dumps(key.decode("utf-8", "backslashreplace"))
        hs = tuple(m.headers() or ())
        hj = headers.get(hs)
        if hj is None:
            hj = headers[hs] = dumps(
                {k: None if v is None else v.decode("utf-8", "backslashreplace") for k, v in hs}
            )
        out.append(
            b'{"topic":%s,"partition":%d,"offset":%d%s%s,"headers":%s}'
            % (tj, m.partition(), m.offset(), time_part, key_part, hj)
        )
    return out


def key_text(message: Any) -> str | None:
    """The message key as text (invalid UTF-8 bytes escaped), or None."""
    key = message.key()
    return None if key is None else str(key.decode("utf-8", "backslashreplace"))


def headers_json(message: Any) -> str:
    """The message headers as a JSON object of strings (invalid UTF-8 bytes escaped)."""
    return orjson.dumps(
        {
            k: None if v is None else v.decode("utf-8", "backslashreplace")
            for k, v in (message.headers() or [])
        }
    ).decode()


def timestamp_ms(message: Any) -> int | None:
    """The message's Kafka timestamp in epoch milliseconds, or None when it has none."""
    ts_type, ts = message.timestamp()
    return int(ts) if ts_type in TIMESTAMP_KEYS else None


# -- the writer contract --------------------------------------------------------------------------
@dataclass
class StoredBatch:
    """What one :meth:`Warehouse.store` call did."""

    records: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    #: Messages skipped because their (topic, partition, offset) was stored before.
    duplicates: int = 0
    #: Typed rows skipped because their RECORD_ID was stored before (e.g. a replay sent twice).
    typed_duplicates: int = 0


class Warehouse(Protocol):
    """Where the ingester stores batches of Kafka messages.

    :meth:`store` writes one batch (valid records to the raw table, and the typed tables where
    the warehouse has no dynamic tables; the rest to ``ATS_DEAD_LETTER``) and returns only once
    that is committed. It skips every message whose (topic, partition, offset) is stored already,
    so storing the same messages again adds nothing. It raises
    :class:`~sinks.base.TransientSinkError` when retrying the same list may succeed and
    :class:`~sinks.base.TerminalSinkError` otherwise.
    """

    #: Batch size the ingester uses unless told otherwise: messages, and seconds of waiting.
    default_batch_records: int
    default_batch_seconds: float

    def store(self, messages: list[Any]) -> StoredBatch:
        """Store ``messages`` (without error) in one commit; skip those stored before."""
        ...

    def describe(self) -> str:
        """Where batches go, for progress lines (never a secret)."""
        ...

    def close(self) -> None:
        """Release connections; a later :meth:`store` opens them again."""
        ...
