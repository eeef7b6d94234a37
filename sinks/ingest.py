"""Kafka -> warehouse ingest: ``ats-sim ingest kafka://host:port/topic[,topic2] --to duckdb:///...``.

A consumer group reads the topics and writes batches (by count and by time) into the shared
schema, the way the Snowflake Kafka connector fills ``ATS_RAW_JSON``:

* ``ATS_RAW_JSON``: ``RECORD_METADATA`` from the real message (``topic``, ``partition``,
  ``offset``, ``CreateTime`` (or ``LogAppendTime``), ``key`` when not null, ``headers``) and
  ``RECORD_CONTENT`` = the message value as it arrived;
* the typed tables (``ATS_TRANSFORMED``, ``ATS_STATION_EVENTS``, ``ATS_ALERT_EVENTS``),
  deduplicated on ``RECORD_ID`` as the DuckDB sink does;
* ``ATS_DEAD_LETTER``: every message that is not valid JSON or not a known record, with its
  topic, partition, offset, key, headers, timestamp, raw value and the error. It is stored, the
  ingester goes on, nothing is dropped silently;
* ``ATS_KAFKA_OFFSETS``: the offset ranges each batch stored, per topic and partition.

One batch is one DuckDB transaction over all four. Offsets are committed to Kafka only after
that transaction committed, so a crash at any moment loses nothing: the restarted consumer
re-reads from the last committed offset, and messages whose (topic, partition, offset) falls in
a stored range are skipped, so nothing is stored twice either.

The DuckDB file is opened per batch, like the DuckDB sink does, so a dashboard can read it
between batches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.errors import ConfigError
from ats_sim.records import RECORD_TYPES, SCHEMA_VERSION, RecordType
from sinks.base import TerminalSinkError, TransientSinkError
from sinks.duckdb import _connect, _first_line, _is_lock_error, apply_schema, fresh_rows
from sinks.kafka import (
    DEFAULT_TOPICS,
    check_topic,
    client_config,
    librdkafka_logger,
    unreachable_error,
)
from sinks.raw import RAW_SCHEMA
from sinks.schema import RAW_TABLE, TYPED_TABLES
from sinks.url import SinkURL, parse_sink_url

__all__ = [
    "DEAD_LETTER_TABLE",
    "OFFSETS_TABLE",
    "DuckDBWarehouse",
    "IngestStats",
    "Ingester",
    "StoredBatch",
    "metadata_json",
    "open_ingester",
    "parse_record",
    "typed_rows",
]

log = logging.getLogger(__name__)

DEAD_LETTER_TABLE = "ATS_DEAD_LETTER"
OFFSETS_TABLE = "ATS_KAFKA_OFFSETS"

#: Tables only the ingester needs (kept here until sql/ holds them).
_INGEST_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {DEAD_LETTER_TABLE} (
    KAFKA_TOPIC VARCHAR NOT NULL,      -- topic the message came from
    KAFKA_PARTITION INTEGER NOT NULL,  -- its partition
    KAFKA_OFFSET BIGINT NOT NULL,      -- its offset
    KAFKA_KEY VARCHAR,                 -- its key (UTF-8, invalid bytes escaped), if any
    KAFKA_HEADERS JSON,                -- its headers as an object of strings
    KAFKA_TIMESTAMP BIGINT,            -- its Kafka timestamp, epoch ms
    RAW_VALUE BLOB,                    -- the message value exactly as it arrived (NULL: tombstone)
    ERROR VARCHAR NOT NULL,            -- why it is not a known record
    INGESTED_AT TIMESTAMPTZ NOT NULL   -- when the ingester stored it
)""",
    f"""CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (
    KAFKA_TOPIC VARCHAR NOT NULL,      -- topic
    KAFKA_PARTITION INTEGER NOT NULL,  -- partition
    FIRST_OFFSET BIGINT NOT NULL,      -- first offset stored by one batch (records and dead letters)
    LAST_OFFSET BIGINT NOT NULL,       -- last offset stored by that batch
    MESSAGES BIGINT NOT NULL,          -- messages stored in that range
    INGESTED_AT TIMESTAMPTZ NOT NULL
)""",
)

_ISO_MS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$"
_TS_KEYS = {1: "CreateTime", 2: "LogAppendTime"}  # confluent_kafka.TIMESTAMP_*
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
        time_part = b',"%s":%d' % (_TS_KEYS[ts_type].encode(), ts) if ts_type in _TS_KEYS else b""
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


# -- the warehouse --------------------------------------------------------------------------------
@dataclass
class StoredBatch:
    """What one :meth:`DuckDBWarehouse.store` call did."""

    records: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    #: Messages skipped because their (topic, partition, offset) was stored before.
    duplicates: int = 0
    #: Typed rows skipped because their RECORD_ID was stored before (e.g. a replay sent twice).
    typed_duplicates: int = 0


class DuckDBWarehouse:
    """Stores batches of Kafka messages in a DuckDB file with the shared schema, one transaction each."""

    def __init__(self, path: str | Path, *, lock_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        apply_schema(self.path, lock_timeout_s=lock_timeout_s)
        with self._connection() as con:
            for ddl in _INGEST_DDL:
                con.execute(ddl)

    @classmethod
    def from_url(cls, url: str) -> DuckDBWarehouse:
        """``duckdb:///path/to/ats.duckdb?lock_timeout_s=10``."""
        from sinks.files import local_path

        parsed = parse_sink_url(url)
        if parsed.scheme != "duckdb":
            raise ConfigError(
                f"ingest --to {url!r}: only duckdb:// warehouses are supported by `ats-sim ingest`; "
                "for Snowflake use the Kafka connector config in kafka_connect/"
            )
        unknown = set(parsed.query) - {"lock_timeout_s"}
        if unknown:
            raise ConfigError(
                f"ingest --to {url!r}: unknown option(s) {', '.join(sorted(unknown))}; known: lock_timeout_s"
            )
        return cls(local_path(parsed), lock_timeout_s=parsed.float_option("lock_timeout_s", 10.0))

    @contextlib.contextmanager
    def _connection(self) -> Any:
        try:
            con = _connect(self.path, read_only=False, timeout_s=self.lock_timeout_s)
        except duckdb.Error as exc:
            raise TerminalSinkError(
                f"ingest: cannot open {self.path}: {_first_line(exc)}"
            ) from None
        try:
            yield con
        finally:
            con.close()

    def store(self, messages: list[Any]) -> StoredBatch:
        """Store ``messages`` (confluent-kafka messages without error) in one transaction.

        Raises :class:`TransientSinkError` when the file stays locked (retry the same list) and
        :class:`TerminalSinkError` for anything else.
        """
        result = StoredBatch()
        if not messages:
            return result
        try:
            with self._connection() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    fresh = self._not_stored(con, messages)
                    result.duplicates = len(messages) - len(fresh)
                    if fresh:
                        self._insert(con, fresh, result)
                    con.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(duckdb.Error):
                        con.execute("ROLLBACK")
                    raise
        except duckdb.Error as exc:
            msg = f"ingest into {self.path}: {_first_line(exc)}"
            raise (
                TransientSinkError(msg) if _is_lock_error(exc) else TerminalSinkError(msg)
            ) from None
        return result

    def _not_stored(self, con: duckdb.DuckDBPyConnection, messages: list[Any]) -> list[Any]:
        """The messages whose (topic, partition, offset) is in no stored range."""
        bounds: dict[tuple[str, int], list[int]] = {}
        for m in messages:
            tp = (m.topic(), m.partition())
            lo_hi = bounds.setdefault(tp, [m.offset(), m.offset()])
            lo_hi[0] = min(lo_hi[0], m.offset())
            lo_hi[1] = max(lo_hi[1], m.offset())
        ranges: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for (topic, part), (lo, hi) in bounds.items():
            rows = con.execute(
                f"SELECT FIRST_OFFSET, LAST_OFFSET FROM {OFFSETS_TABLE} WHERE KAFKA_TOPIC = ? "
                "AND KAFKA_PARTITION = ? AND LAST_OFFSET >= ? AND FIRST_OFFSET <= ?",
                [topic, part, lo, hi],
            ).fetchall()
            if rows:
                ranges[(topic, part)] = rows
        if not ranges:
            return messages
        return [
            m
            for m in messages
            if not any(a <= m.offset() <= b for a, b in ranges.get((m.topic(), m.partition()), ()))
        ]

    def _insert(
        self, con: duckdb.DuckDBPyConnection, messages: list[Any], result: StoredBatch
    ) -> None:
        now = time.time()
        by_type: dict[str, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)
        dead: list[tuple[Any, str]] = []
        for m in messages:
            parsed = parse_record(m.value())
            if isinstance(parsed, str):
                dead.append((m, parsed))
            else:
                by_type[parsed[0].name].append((m, parsed[1]))
        good: list[Any] = []
        for name, pairs in by_type.items():
            rtype = RECORD_TYPES[name]
            table, pairs, bad = typed_rows(rtype, pairs)
            dead.extend(bad)
            good.extend(m for m, _ in pairs)
            result.records[name] += len(pairs)
            fresh = fresh_rows(con, rtype, table) if table.num_rows else table
            result.typed_duplicates += table.num_rows - fresh.num_rows
            if fresh.num_rows:
                con.register("ats_ingest_typed", fresh)
                con.execute(f"INSERT INTO {TYPED_TABLES[name]} SELECT * FROM ats_ingest_typed")
                con.unregister("ats_ingest_typed")
        if good:
            good.sort(key=lambda m: (m.topic(), m.partition(), m.offset()))
            raw = pa.Table.from_arrays(
                [
                    pa.array(metadata_json(good), pa.binary()).cast(pa.string()),
                    pa.array([m.value() for m in good], pa.binary()).cast(pa.string()),
                ],
                schema=RAW_SCHEMA,
            )
            con.register("ats_ingest_raw", raw)
            con.execute(
                f"INSERT INTO {RAW_TABLE} SELECT RECORD_METADATA, RECORD_CONTENT FROM ats_ingest_raw"
            )
            con.unregister("ats_ingest_raw")
        if dead:
            self._dead_letters(con, dead, now)
            result.dead_letters = len(dead)
        self._ranges(con, messages, now)

    def _dead_letters(
        self, con: duckdb.DuckDBPyConnection, dead: list[tuple[Any, str]], now: float
    ) -> None:
        for m, error in dead:
            log.warning("dead letter %s[%d]@%d: %s", m.topic(), m.partition(), m.offset(), error)
        key = [
            None if m.key() is None else m.key().decode("utf-8", "backslashreplace")
            for m, _ in dead
        ]
        headers = [
            orjson.dumps(
                {
                    k: None if v is None else v.decode("utf-8", "backslashreplace")
                    for k, v in (m.headers() or [])
                }
            ).decode()
            for m, _ in dead
        ]
        table = pa.table(
            {
                "KAFKA_TOPIC": pa.array([m.topic() for m, _ in dead], pa.string()),
                "KAFKA_PARTITION": pa.array([m.partition() for m, _ in dead], pa.int32()),
                "KAFKA_OFFSET": pa.array([m.offset() for m, _ in dead], pa.int64()),
                "KAFKA_KEY": pa.array(key, pa.string()),
                "KAFKA_HEADERS": pa.array(headers, pa.string()),
                "KAFKA_TIMESTAMP": pa.array(
                    [m.timestamp()[1] if m.timestamp()[0] else None for m, _ in dead], pa.int64()
                ),
                "RAW_VALUE": pa.array([m.value() for m, _ in dead], pa.binary()),
                "ERROR": pa.array([e for _, e in dead], pa.string()),
                "INGESTED_AT": pa.array([int(now * 1000)] * len(dead), pa.int64()).cast(
                    pa.timestamp("ms", tz="UTC")
                ),
            }
        )
        con.register("ats_ingest_dead", table)
        con.execute(f"INSERT INTO {DEAD_LETTER_TABLE} SELECT * FROM ats_ingest_dead")
        con.unregister("ats_ingest_dead")

    def _ranges(self, con: duckdb.DuckDBPyConnection, messages: list[Any], now: float) -> None:
        spans: dict[tuple[str, int], list[int]] = {}
        for m in messages:
            s = spans.setdefault((m.topic(), m.partition()), [m.offset(), m.offset(), 0])
            s[0] = min(s[0], m.offset())
            s[1] = max(s[1], m.offset())
            s[2] += 1
        stamp = dt.datetime.fromtimestamp(now, dt.UTC)
        con.executemany(
            f"INSERT INTO {OFFSETS_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            [[t, p, lo, hi, n, stamp] for (t, p), (lo, hi, n) in spans.items()],
        )


# -- the consumer ---------------------------------------------------------------------------------
@dataclass
class IngestStats:
    """What an ingester has done so far."""

    messages: int = 0
    records: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    duplicates: int = 0
    typed_duplicates: int = 0
    batches: int = 0
    commit_failures: int = 0
    #: ``time.perf_counter()`` when the first message arrived, and of the last warehouse commit.
    first_message_at: float | None = None
    last_commit_at: float | None = None


_CONSUMER_OPTIONS: dict[str, type] = {"config": str, "connect_timeout_s": float}
_CONSUMER_DEFAULTS: dict[str, Any] = {
    "group.id": "ats-sim-ingest",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "client.id": "ats-sim-ingest",
}


class Ingester:
    """A consumer-group member that stores what it reads in a warehouse, then commits offsets.

    Delivery: each message exactly once in the warehouse (at-least-once reads, deduplicated on
    topic, partition and offset). ``run()`` returns when ``stop()`` is called, or after
    ``idle_exit_s`` seconds without a new message.

    Args:
        config: librdkafka consumer properties (``bootstrap.servers`` at least), or a
            ``host:port`` string.
        topics: topics to subscribe to.
        warehouse: where batches go.
        group_id: consumer group (overrides ``group.id`` in ``config``).
        batch_records: store a batch once it holds this many messages...
        batch_seconds: ...or once its first message waited this long.
        idle_exit_s: return after this long without messages, counted from when the group
            assigned partitions to this member (None: run until stopped). A member restarted
            after a crash waits for the group to drop the dead one first (``session.timeout.ms``,
            45 s by default), unless ``group.instance.id`` makes it a static member.
        on_batch: called after each stored and committed batch with the stats so far.
    """

    def __init__(
        self,
        config: dict[str, Any] | str,
        topics: list[str],
        warehouse: DuckDBWarehouse,
        *,
        group_id: str | None = None,
        batch_records: int = 5_000,
        batch_seconds: float = 1.0,
        idle_exit_s: float | None = None,
        connect_timeout_s: float = 10.0,
        max_retries: int = 20,
        on_batch: Callable[[IngestStats], None] | None = None,
    ) -> None:
        conf = dict(_CONSUMER_DEFAULTS)
        conf.update({"bootstrap.servers": config} if isinstance(config, str) else config)
        if group_id:
            conf["group.id"] = group_id
        if batch_records < 1 or batch_seconds <= 0:
            raise ConfigError("ingest: batch_records must be at least 1 and batch_seconds positive")
        self.conf = conf
        self.topics = topics
        self.warehouse = warehouse
        self.batch_records = batch_records
        self.batch_seconds = batch_seconds
        self.idle_exit_s = idle_exit_s
        self.connect_timeout_s = connect_timeout_s
        self.max_retries = max_retries
        self.on_batch = on_batch
        self.stats = IngestStats()
        self._stop = False
        self._pending: list[Any] = []
        self._consumer: Any = None
        self._last_error: Any = None
        self._fatal: Any = None
        self._missing_warned: set[str] = set()
        self._assigned_at: float | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to store what it holds, commit and return (safe from a signal handler)."""
        self._stop = True

    def run(self) -> IngestStats:
        """Consume, store and commit until stopped or idle; returns the stats."""
        from confluent_kafka import Consumer, KafkaException

        conf = {**self.conf, "error_cb": self._on_error, "logger": librdkafka_logger()}
        try:
            consumer = Consumer(conf)
        except KafkaException as exc:
            raise ConfigError(
                f"ingest: invalid consumer configuration: {exc.args[0].str()}"
            ) from None
        self._consumer = consumer
        bootstrap = str(self.conf["bootstrap.servers"])
        try:
            try:
                consumer.list_topics(timeout=self.connect_timeout_s)
            except KafkaException as exc:
                consumer.poll(0)
                reason = (
                    self._last_error.str() if self._last_error is not None else exc.args[0].str()
                )
                raise unreachable_error(bootstrap, self.connect_timeout_s, reason) from None
            consumer.subscribe(
                self.topics,
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            self._loop(consumer)
            self._store_and_commit()
        finally:
            self._consumer = None
            with contextlib.suppress(Exception):
                consumer.close()
        return self.stats

    def _loop(self, consumer: Any) -> None:
        from confluent_kafka import KafkaError

        first_at: float | None = None
        last_message = time.monotonic()
        while not self._stop:
            if self._fatal is not None:
                raise TerminalSinkError(f"ingest: fatal Kafka consumer error: {self._fatal.str()}")
            room = self.batch_records - len(self._pending)
            wait = (
                0.2
                if first_at is None
                else max(0.0, min(0.2, first_at + self.batch_seconds - time.monotonic()))
            )
            for m in consumer.consume(num_messages=min(room, 1000), timeout=wait):
                err = m.error()
                if err is None:
                    self._pending.append(m)
                    if self.stats.first_message_at is None:
                        self.stats.first_message_at = time.perf_counter()
                    continue
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    if m.topic() not in self._missing_warned:
                        self._missing_warned.add(m.topic() or "?")
                        log.warning(
                            "ingest: topic %s does not exist (yet); waiting for it", m.topic()
                        )
                elif err.fatal():
                    raise TerminalSinkError(f"ingest: fatal Kafka consumer error: {err.str()}")
                elif err.code() != KafkaError._PARTITION_EOF:
                    log.warning("ingest: consumer error: %s", err.str())
            now = time.monotonic()
            if self._pending:
                last_message = now
                if first_at is None:
                    first_at = now
                if len(self._pending) >= self.batch_records or now - first_at >= self.batch_seconds:
                    self._store_and_commit()
                    first_at = None
            elif (
                self.idle_exit_s is not None
                and self._assigned_at is not None
                and now - max(last_message, self._assigned_at) >= self.idle_exit_s
            ):
                return  # idle only counts once the group gave this member its partitions

    def _store_and_commit(self) -> None:
        """Store the pending messages (retrying a locked file), then commit their offsets."""
        from confluent_kafka import KafkaException, TopicPartition

        messages, self._pending = self._pending, []
        if not messages:
            return
        attempt = 0
        while True:
            try:
                stored = self.warehouse.store(messages)
                break
            except TransientSinkError as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                log.warning("ingest: %s; retry %d of %d", exc, attempt, self.max_retries)
                time.sleep(min(5.0, 0.2 * 2 ** (attempt - 1)))
        s = self.stats
        s.messages += len(messages)
        s.records.update(stored.records)
        s.dead_letters += stored.dead_letters
        s.duplicates += stored.duplicates
        s.typed_duplicates += stored.typed_duplicates
        s.batches += 1
        s.last_commit_at = time.perf_counter()
        nexts: dict[tuple[str, int], int] = {}
        for m in messages:
            tp = (m.topic(), m.partition())
            nexts[tp] = max(nexts.get(tp, -1), m.offset() + 1)
        if self._consumer is not None:
            try:
                self._consumer.commit(
                    offsets=[TopicPartition(t, p, o) for (t, p), o in nexts.items()],
                    asynchronous=False,
                )
            except (
                KafkaException
            ) as exc:  # e.g. a rebalance took the partitions: they are re-read, then skipped
                s.commit_failures += 1
                log.warning(
                    "ingest: offset commit failed (%s); the next owner re-reads and skips them",
                    exc.args[0].str(),
                )
        if self.on_batch is not None:
            self.on_batch(s)

    # -- callbacks ------------------------------------------------------------------------------
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._assigned_at = time.monotonic()
        log.info(
            "ingest: assigned %s",
            ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing",
        )

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # Store and commit what was read from partitions about to go to another member.
        self._store_and_commit()

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # The partitions are gone already (session timeout): their offsets can no longer be
        # committed. Storing is still safe: the new owner re-reads and skips stored ranges.
        self._store_and_commit()

    def _on_error(self, err: Any) -> None:
        if err.fatal():
            self._fatal = err
        else:
            self._last_error = err
            log.debug("ingest: %s", err.str())


def open_ingester(source: str, to: str, **options: Any) -> Ingester:
    """An :class:`Ingester` for ``kafka://host:port/topic[,topic2]?...`` into the warehouse ``to``.

    No topic in the URL means the three default topics. ``group.id`` (default
    ``ats-sim-ingest``) and any librdkafka consumer property go in the query; ``config=``
    names a properties file; secrets as for the Kafka sink. ``options`` are :class:`Ingester`
    keyword arguments.
    """
    url: SinkURL = parse_sink_url(source, known=["kafka"])
    conf, own = client_config(url, {}, _CONSUMER_OPTIONS, _CONSUMER_DEFAULTS)
    names = [check_topic(t.strip()) for t in url.path.strip("/").split(",") if t.strip()]
    topics = names or list(DEFAULT_TOPICS)
    warehouse = DuckDBWarehouse.from_url(to)
    if "connect_timeout_s" in own:
        options.setdefault("connect_timeout_s", own["connect_timeout_s"])
    return Ingester(conf, topics, warehouse, **options)
