"""Kafka -> Snowflake for ``ats-sim ingest ... --to snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH``.

The URL is the Snowflake sink's (``snowflake://?connection=NAME`` too; credentials from the
environment or ``connections.toml``, see :mod:`sinks.snowflake_conn`). Per batch:

1. the messages, split by :func:`sinks.ingest_messages.sort_messages`, become one Parquet file of
   plain columns: topic, partition, offset and timestamp of every message; ``RECORD_METADATA``
   (from the real message) and ``RECORD_CONTENT`` (its value, as it arrived) of each valid
   record; key, headers, raw value (hex) and error of each dead letter;
2. ``PUT`` to the session's temporary stage, ``COPY`` into a temporary table;
3. in one transaction: delete from the temporary table every message whose (topic, partition,
   offset) ``ATS_RAW_JSON`` or ``ATS_DEAD_LETTER`` holds already, then ``INSERT`` the rest:
   records into ``ATS_RAW_JSON`` with ``PARSE_JSON`` (both columns VARIANT, as the Kafka
   connector writes them), dead letters into ``ATS_DEAD_LETTER``; ``COMMIT``.

:meth:`SnowflakeWarehouse.store` returns after the COMMIT, and only then does the ingester
commit the Kafka offsets. Any attempt may be repeated (a crash before the offset commit, an
answer lost with the connection): the repeat adds nothing, because every batch is checked
against what is stored. The check reads only the part of ``ATS_RAW_JSON`` whose ``CreateTime``
lies in the batch's range (a message stored before has the same timestamp), so it does not
grow with the table where Snowflake can prune on it.

The typed tables are dynamic tables over ``ATS_RAW_JSON`` (``sql/snowflake``); records that
would not cast to their typed row are dead letters here, so they never reach them.

The session's role needs USAGE on the database, schema and warehouse, SELECT and INSERT on
``ATS_RAW_JSON`` and ``ATS_DEAD_LETTER``, and CREATE STAGE (or a ``stage=NAME`` it may use) and
CREATE TABLE (a temporary table) on the schema. Both tables come from ``ats-sim schema apply``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ats_sim.errors import ConfigError
from sinks.base import TerminalSinkError
from sinks.ingest_messages import (
    DEAD_LETTER_TABLE,
    TIMESTAMP_KEYS,
    SortedMessages,
    StoredBatch,
    headers_json,
    key_text,
    metadata_json,
    sort_messages,
    timestamp_ms,
)
from sinks.schema import RAW_TABLE
from sinks.snowflake_conn import SnowflakeTarget, resolve_target
from sinks.snowflake_session import Session, stage_name
from sinks.url import parse_sink_url

__all__ = ["SnowflakeWarehouse"]

log = logging.getLogger(__name__)

#: Options of the Snowflake sink that mean nothing here, and what to use instead.
_SINK_ONLY = {
    "batch_records": "--batch-records",
    "batch_seconds": "--batch-seconds",
    "max_retries": "the ingester's own retries",
    "retry_backoff_s": "the ingester's own retries",
}
#: The staged Parquet file and the temporary table: (column, Arrow type, Snowflake type).
_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("KAFKA_TOPIC", pa.string(), "STRING"),
    ("KAFKA_PARTITION", pa.int32(), "NUMBER"),
    ("KAFKA_OFFSET", pa.int64(), "NUMBER"),
    ("KAFKA_TIMESTAMP", pa.int64(), "NUMBER"),
    ("RECORD_TYPE", pa.string(), "STRING"),  # NULL: a dead letter
    ("RECORD_METADATA", pa.string(), "STRING"),
    ("RECORD_CONTENT", pa.string(), "STRING"),
    ("KAFKA_KEY", pa.string(), "STRING"),
    ("KAFKA_HEADERS", pa.string(), "STRING"),
    ("RAW_VALUE_HEX", pa.string(), "STRING"),
    ("ERROR", pa.string(), "STRING"),
)
_SCHEMA = pa.schema([(name, t) for name, t, _ in _COLUMNS])
_DEAD_COLUMNS = (
    "KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, KAFKA_KEY, KAFKA_HEADERS, KAFKA_TIMESTAMP, "
    "RAW_VALUE, ERROR, INGESTED_AT"
)


def _parquet_table(batch: SortedMessages) -> pa.Table:
    """One row per message of ``batch``: records and dead letters, in the columns of ``_COLUMNS``."""
    good = [(name, m) for name, ms in batch.records.items() for m in ms]
    msgs = [m for _, m in good]
    n = len(good)
    records = pa.table(
        {
            "KAFKA_TOPIC": [m.topic() for m in msgs],
            "KAFKA_PARTITION": [m.partition() for m in msgs],
            "KAFKA_OFFSET": [m.offset() for m in msgs],
            "KAFKA_TIMESTAMP": [timestamp_ms(m) for m in msgs],
            "RECORD_TYPE": [name for name, _ in good],
            "RECORD_METADATA": pa.array(metadata_json(msgs), pa.binary()).cast(pa.string()),
            "RECORD_CONTENT": pa.array([m.value() for m in msgs], pa.binary()).cast(pa.string()),
            "KAFKA_KEY": pa.nulls(n, pa.string()),
            "KAFKA_HEADERS": pa.nulls(n, pa.string()),
            "RAW_VALUE_HEX": pa.nulls(n, pa.string()),
            "ERROR": pa.nulls(n, pa.string()),
        },
        schema=_SCHEMA,
    )
    d = len(batch.dead)
    dead = pa.table(
        {
            "KAFKA_TOPIC": [m.topic() for m, _ in batch.dead],
            "KAFKA_PARTITION": [m.partition() for m, _ in batch.dead],
            "KAFKA_OFFSET": [m.offset() for m, _ in batch.dead],
            "KAFKA_TIMESTAMP": [timestamp_ms(m) for m, _ in batch.dead],
            "RECORD_TYPE": pa.nulls(d, pa.string()),
            "RECORD_METADATA": pa.nulls(d, pa.string()),
            "RECORD_CONTENT": pa.nulls(d, pa.string()),
            "KAFKA_KEY": [key_text(m) for m, _ in batch.dead],
            "KAFKA_HEADERS": [headers_json(m) for m, _ in batch.dead],
            "RAW_VALUE_HEX": [
                None if m.value() is None else m.value().hex() for m, _ in batch.dead
            ],
            "ERROR": [error for _, error in batch.dead],
        },
        schema=_SCHEMA,
    )
    return pa.concat_tables([records, dead])


def _time_window(messages: list[Any]) -> tuple[str, int, int] | None:
    """(metadata key, first, last) of the messages' timestamps, when they all have one kind."""
    kinds = {m.timestamp()[0] for m in messages}
    if len(kinds) != 1 or next(iter(kinds)) not in TIMESTAMP_KEYS:
        return None
    stamps = [m.timestamp()[1] for m in messages]
    return TIMESTAMP_KEYS[next(iter(kinds))], min(stamps), max(stamps)


class SnowflakeWarehouse:
    """Stores batches of Kafka messages in ``ATS_RAW_JSON`` and ``ATS_DEAD_LETTER``, one commit each.

    Delivery: each message once per (topic, partition, offset), however often a batch is
    stored; the dynamic tables then keep one typed row per ``RECORD_ID``. The session is opened
    (and the tables checked) when the warehouse is made, so bad credentials or a missing table
    fail at once; a session lost later is opened again by the next :meth:`store`.
    """

    default_batch_records = 50_000
    default_batch_seconds = 10.0

    def __init__(self, target: SnowflakeTarget, *, stage: str | None = None) -> None:
        named_stage = stage_name(stage)
        self.target = target
        self._id = uuid.uuid4().hex[:12].upper()
        self._stage = named_stage or f"ATS_SIM_INGEST_{self._id}"
        self._table = f"ATS_SIM_INGEST_{self._id}"
        self._session = Session(
            target,
            purpose="connecting for ingest",
            tables=[
                (RAW_TABLE, "RECORD_METADATA, RECORD_CONTENT"),
                (DEAD_LETTER_TABLE, _DEAD_COLUMNS),
            ],
            temp_stage=None if named_stage else self._stage,
            apply_hint="create it with `ats-sim schema apply` and the same URL (safe to re-run)",
        )
        self._session.open()

    @classmethod
    def from_url(cls, url: str) -> SnowflakeWarehouse:
        """``snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH[&stage=NAME]`` or ``snowflake://?connection=NAME``."""
        parsed = parse_sink_url(url, known=["snowflake"])
        target, own = resolve_target(parsed, sink_options=["stage", *_SINK_ONLY])
        misplaced = sorted(set(own) & set(_SINK_ONLY))
        if misplaced:
            raise ConfigError(
                f"ingest --to snowflake://: {', '.join(misplaced)} is a sink option; for ingest use "
                + ", ".join(sorted({_SINK_ONLY[k] for k in misplaced}))
            )
        return cls(target, stage=own.get("stage"))

    def describe(self) -> str:
        """``snowflake://USER@ACCOUNT/DB/SCHEMA (warehouse WH, ...)``: no secret."""
        return self.target.describe()

    def close(self) -> None:
        """Close the session (its temporary stage and table go with it)."""
        self._session.close()

    # -- storing ------------------------------------------------------------------------------
    def store(self, messages: list[Any]) -> StoredBatch:
        """Store ``messages`` in one transaction, skipping those stored before; see the module."""
        result = StoredBatch()
        if not messages:
            return result
        batch = sort_messages(messages)
        result.duplicates = batch.repeated
        doing = f"storing {len(messages)} messages"
        with tempfile.TemporaryDirectory(prefix="ats-sim-ingest-") as tmp:
            path = Path(tmp) / f"batch_{self._id}.parquet"
            table = _parquet_table(batch)
            pq.write_table(table, path, compression="snappy")
            self._stage_batch(path, table.num_rows, doing)
        self._session.run("BEGIN", doing=doing)
        try:
            self._insert(batch, messages, result, doing)
            self._session.run("COMMIT", doing=f"committing {len(messages)} messages")
        except TerminalSinkError:
            if self._session.is_open:
                with contextlib.suppress(TerminalSinkError):
                    self._session.run("ROLLBACK", doing="rolling back")
            raise
        return result

    def _stage_batch(self, path: Path, rows: int, doing: str) -> None:
        """PUT the batch's file and COPY it into a fresh temporary table."""
        self._session.run(
            f"PUT 'file://{path.as_posix()}' @{self._stage}/{self._id} "
            "AUTO_COMPRESS = FALSE OVERWRITE = TRUE",
            doing=doing,
        )
        self._session.run(
            f"CREATE OR REPLACE TEMPORARY TABLE {self._table} ("
            + ", ".join(f"{name} {sql_type}" for name, _, sql_type in _COLUMNS)
            + ")",
            doing=doing,
        )
        select = ", ".join(f"$1:{name}::{sql_type}" for name, _, sql_type in _COLUMNS)
        answer = self._session.run(
            f"COPY INTO {self._table} FROM (SELECT {select} "
            f"FROM @{self._stage}/{self._id}/{path.name}) "
            "FILE_FORMAT = (TYPE = PARQUET) PURGE = TRUE FORCE = TRUE",
            doing=doing,
            if_missing=f"the stage {self._stage} does not exist any more",
        )
        loaded = sum(int(r[3] or 0) for r in answer if len(r) > 3 and r[1] == "LOADED")
        if loaded != rows:
            raise TerminalSinkError(
                f"Snowflake COPY loaded {loaded} of a batch's {rows} messages into a temporary "
                f"table ({self.describe()}): {answer[:1]}"
            )

    def _insert(
        self, batch: SortedMessages, messages: list[Any], result: StoredBatch, doing: str
    ) -> None:
        """Inside the transaction: drop what is stored already, insert the rest, count."""
        match = (
            'r.RECORD_METADATA:"topic"::STRING = s.KAFKA_TOPIC '
            'AND r.RECORD_METADATA:"partition"::NUMBER = s.KAFKA_PARTITION '
            'AND r.RECORD_METADATA:"offset"::NUMBER = s.KAFKA_OFFSET'
        )
        params: list[Any] = []
        window = _time_window(messages)
        if window is not None:
            key, first, last = window
            match += f' AND r.RECORD_METADATA:"{key}"::NUMBER BETWEEN ? AND ?'
            params = [first, last]
        stored = self._count(
            self._session.run(
                f"DELETE FROM {self._table} AS s USING {RAW_TABLE} AS r WHERE {match}",
                params,
                doing=doing,
            )
        )
        if batch.dead:
            stored += self._count(
                self._session.run(
                    f"DELETE FROM {self._table} AS s USING {DEAD_LETTER_TABLE} AS d "
                    "WHERE d.KAFKA_TOPIC = s.KAFKA_TOPIC AND d.KAFKA_PARTITION = s.KAFKA_PARTITION "
                    "AND d.KAFKA_OFFSET = s.KAFKA_OFFSET",
                    doing=doing,
                )
            )
        result.duplicates += stored
        if stored:
            log.info("ingest: %d messages of this batch were stored before; skipped", stored)
            for name, n in self._session.run(
                f"SELECT RECORD_TYPE, COUNT(*) FROM {self._table} GROUP BY RECORD_TYPE",
                doing=doing,
            ):
                if name is None:
                    result.dead_letters = int(n)
                else:
                    result.records[str(name)] = int(n)
        else:
            result.records.update({name: len(ms) for name, ms in batch.records.items()})
            result.dead_letters = len(batch.dead)
        if sum(result.records.values()):
            self._session.run(
                f"INSERT INTO {RAW_TABLE} (RECORD_METADATA, RECORD_CONTENT) "
                "SELECT PARSE_JSON(RECORD_METADATA), PARSE_JSON(RECORD_CONTENT, 'd') "
                f"FROM {self._table} WHERE RECORD_TYPE IS NOT NULL",
                doing=doing,
            )
        if result.dead_letters:
            self._session.run(
                f"INSERT INTO {DEAD_LETTER_TABLE} ({_DEAD_COLUMNS}) "
                "SELECT KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, KAFKA_KEY, "
                "PARSE_JSON(KAFKA_HEADERS), KAFKA_TIMESTAMP, TO_BINARY(RAW_VALUE_HEX, 'HEX'), "
                f"ERROR, CURRENT_TIMESTAMP() FROM {self._table} WHERE RECORD_TYPE IS NULL",
                doing=doing,
            )

    @staticmethod
    def _count(rows: list[tuple[Any, ...]]) -> int:
        """The row count a DELETE or INSERT answers with."""
        return int(rows[0][0] or 0) if rows and rows[0] else 0
