"""Kafka -> DuckDB for ``ats-sim ingest ... --to duckdb:///path.duckdb``: one transaction per batch.

Each batch is one DuckDB transaction over four tables:

* ``ATS_RAW_JSON``: ``RECORD_METADATA`` from the real message
  (:func:`sinks.ingest_messages.metadata_json`) and ``RECORD_CONTENT`` = the message value as it
  arrived, byte for byte;
* the typed tables (``ATS_TRANSFORMED``, ``ATS_STATION_EVENTS``, ``ATS_ALERT_EVENTS``),
  deduplicated on ``RECORD_ID`` as the DuckDB sink does;
* ``ATS_DEAD_LETTER``: every message that is not a known record, with its error;
* ``ATS_KAFKA_OFFSETS``: the offset ranges each batch stored, per topic and partition. A message
  whose (topic, partition, offset) falls in a stored range is skipped, so a batch stored again
  (the ingester crashed before its offset commit) adds nothing.

The file is opened per batch, like the DuckDB sink does, so a dashboard can read it between
batches; a locked file is a :class:`TransientSinkError`, which the ingester retries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ats_sim.errors import ConfigError
from ats_sim.records import RECORD_TYPES
from sinks.base import TerminalSinkError, TransientSinkError
from sinks.duckdb import _connect, _first_line, _is_lock_error, apply_schema, fresh_rows
from sinks.ingest_messages import (
    DEAD_LETTER_TABLE,
    SortedMessages,
    StoredBatch,
    headers_json,
    key_text,
    metadata_json,
    sort_messages,
    timestamp_ms,
)
from sinks.raw import RAW_SCHEMA
from sinks.schema import RAW_TABLE, TYPED_TABLES
from sinks.url import parse_sink_url

__all__ = ["OFFSETS_TABLE", "DuckDBWarehouse"]

OFFSETS_TABLE = "ATS_KAFKA_OFFSETS"

#: The table only the DuckDB ingester needs (Snowflake deduplicates against the raw table).
_OFFSETS_DDL = f"""CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (
    KAFKA_TOPIC VARCHAR NOT NULL,      -- topic
    KAFKA_PARTITION INTEGER NOT NULL,  -- partition
    FIRST_OFFSET BIGINT NOT NULL,      -- first offset stored by one batch (records and dead letters)
    LAST_OFFSET BIGINT NOT NULL,       -- last offset stored by that batch
    MESSAGES BIGINT NOT NULL,          -- messages stored in that range
    INGESTED_AT TIMESTAMPTZ NOT NULL
)"""


class DuckDBWarehouse:
    """Stores batches of Kafka messages in a DuckDB file with the shared schema, one transaction each.

    Delivery: each message once (ranges of stored offsets are kept and checked); typed rows
    once per ``RECORD_ID``.
    """

    default_batch_records = 5_000
    default_batch_seconds = 1.0

    def __init__(self, path: str | Path, *, lock_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        apply_schema(self.path, lock_timeout_s=lock_timeout_s)
        with self._connection() as con:
            con.execute(_OFFSETS_DDL)

    @classmethod
    def from_url(cls, url: str) -> DuckDBWarehouse:
        """``duckdb:///path/to/ats.duckdb?lock_timeout_s=10``."""
        from sinks.files import local_path

        parsed = parse_sink_url(url, known=["duckdb"])
        unknown = set(parsed.query) - {"lock_timeout_s"}
        if unknown:
            raise ConfigError(
                f"ingest --to {url!r}: unknown option(s) {', '.join(sorted(unknown))}; known: lock_timeout_s"
            )
        return cls(local_path(parsed), lock_timeout_s=parsed.float_option("lock_timeout_s", 10.0))

    def describe(self) -> str:
        """The DuckDB file."""
        return str(self.path)

    def close(self) -> None:
        """Nothing to release: the file is opened per batch."""

    @contextlib.contextmanager
    def _connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
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
        batch: SortedMessages = sort_messages(messages)
        result.duplicates += batch.repeated
        for name, table in batch.typed.items():
            result.records[name] += table.num_rows
            fresh = fresh_rows(con, RECORD_TYPES[name], table)
            result.typed_duplicates += table.num_rows - fresh.num_rows
            if fresh.num_rows:
                con.register("ats_ingest_typed", fresh)
                con.execute(f"INSERT INTO {TYPED_TABLES[name]} SELECT * FROM ats_ingest_typed")
                con.unregister("ats_ingest_typed")
        good = batch.good()
        if good:
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
        if batch.dead:
            self._dead_letters(con, batch.dead, now)
            result.dead_letters = len(batch.dead)
        self._ranges(con, messages, now)

    def _dead_letters(
        self, con: duckdb.DuckDBPyConnection, dead: list[tuple[Any, str]], now: float
    ) -> None:
        table = pa.table(
            {
                "KAFKA_TOPIC": pa.array([m.topic() for m, _ in dead], pa.string()),
                "KAFKA_PARTITION": pa.array([m.partition() for m, _ in dead], pa.int32()),
                "KAFKA_OFFSET": pa.array([m.offset() for m, _ in dead], pa.int64()),
                "KAFKA_KEY": pa.array([key_text(m) for m, _ in dead], pa.string()),
                "KAFKA_HEADERS": pa.array([headers_json(m) for m, _ in dead], pa.string()),
                "KAFKA_TIMESTAMP": pa.array([timestamp_ms(m) for m, _ in dead], pa.int64()),
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
