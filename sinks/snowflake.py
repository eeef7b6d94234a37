"""The Snowflake sink: records straight into ``ATS_RAW_JSON``, as the Kafka connector lays them out.

``snowflake://USER@ACCOUNT/DATABASE/SCHEMA?warehouse=WH`` or ``snowflake://?connection=NAME``
(see :mod:`sinks.snowflake_conn` for the URL and credentials, :mod:`sinks.snowflake_session`
for the errors). The schema comes from ``sql/snowflake`` through :func:`apply_schema` (``ats-sim
schema apply snowflake://...``): the raw table, the dynamic tables that type and deduplicate it,
the views and the reader role.

The bulk path, per flush: the buffered records become one Parquet file of two string columns
(``RECORD_METADATA`` and ``RECORD_CONTENT``, built by :mod:`sinks.raw`), ``PUT`` to a temporary
stage of the session, then ``COPY INTO ATS_RAW_JSON FROM (SELECT PARSE_JSON($1:...), ...)``, so
both columns are VARIANT objects, never JSON text. Against fakesnow the whole path (JSON,
Parquet, PUT, COPY) moves 57k-146k records/s (flushes of 1,000 to 100,000), 580 to 1,500 times
one ``INSERT`` per record on the same server (``benchmarks/snowflake_bench.py``; real Snowflake figures differ).

The session's role needs USAGE on the database, schema and warehouse, INSERT and SELECT on
``ATS_RAW_JSON``, CREATE STAGE on the schema (or a ``stage`` it may read and write) and, for
retried flushes, CREATE TABLE on the schema (a temporary table).

Exactly once, per record id: a flush whose earlier attempt failed (an unreachable server, a lost
response) may have been loaded already, in whole or in part. Such a flush is loaded through a
temporary table instead, and only the records whose ``record_id`` is not in ``ATS_RAW_JSON``
yet (among rows written since the failed attempt) are inserted, in one statement. A first attempt,
the common case, costs no such anti-join. The dynamic tables deduplicate on ``RECORD_ID`` as well,
so rows a Kafka connector loads twice do not count twice either.

Sink options in the URL query: ``stage`` (a named stage to use instead of a temporary one, e.g.
``~`` for the user stage), plus ``batch_records`` (default 100,000), ``batch_seconds`` (default
10) and ``max_retries``/``retry_backoff_s`` as for every sink.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pyarrow as pa
import pyarrow.parquet as pq

from ats_sim.errors import ConfigError
from ats_sim.records import Batch
from sinks.base import Sink, TerminalSinkError, TransientSinkError
from sinks.files import sink_options
from sinks.raw import TopicOffsets, raw_table, wall_clock_ms
from sinks.schema import DEFAULTS, RAW_TABLE, split_statements
from sinks.snowflake_conn import SnowflakeTarget, resolve_target
from sinks.snowflake_session import Session, close_quietly, connect, stage_name, translate_error
from sinks.url import SinkURL, parse_sink_url

__all__ = ["SINK_OPTIONS", "SnowflakeSink", "apply_schema", "schema_statements"]

log = logging.getLogger(__name__)

#: Query keys of a snowflake:// URL that configure the sink, not the connector.
SINK_OPTIONS: dict[str, type] = {
    "batch_records": int,
    "batch_seconds": float,
    "max_retries": int,
    "retry_backoff_s": float,
    "stage": str,
}
_COLUMNS = "RECORD_METADATA, RECORD_CONTENT"


def _copy_sql(table: str, stage_file: str, *, force: bool = False) -> str:
    return (
        f"COPY INTO {table} ({_COLUMNS}) FROM (SELECT PARSE_JSON($1:RECORD_METADATA::STRING), "
        f"PARSE_JSON($1:RECORD_CONTENT::STRING) FROM @{stage_file}) "
        f"FILE_FORMAT = (TYPE = PARQUET) PURGE = TRUE{' FORCE = TRUE' if force else ''}"
    )


@dataclass
class _PreparedLoad:
    """One flush's Parquet file, kept across its retries so every attempt sends the same rows."""

    key: tuple[int, ...]
    path: Path
    rows: int
    create_time_ms: int
    offsets: dict[str, int]


class SnowflakeSink(Sink):
    """Loads records into ``ATS_RAW_JSON`` with PUT + COPY, one Parquet file per flush.

    Delivery: exactly once per record id. ``flush()`` returns once the COPY (or, for a retried
    flush, the deduplicating INSERT) has committed in Snowflake.
    """

    scheme = "snowflake"
    delivery = "exactly once per record id: one PUT + COPY per flush, retried flushes deduplicated"

    def __init__(self, target: SnowflakeTarget, *, stage: str | None = None, **kw: Any) -> None:
        kw.setdefault("batch_records", 100_000)
        kw.setdefault("batch_seconds", 10.0)
        super().__init__(**kw)
        named_stage = stage_name(stage)
        self.target = target
        self.offsets = TopicOffsets()
        self._id = uuid.uuid4().hex[:12].upper()
        self._stage = named_stage or f"ATS_SIM_LOAD_{self._id}"
        self._retry_table = f"ATS_SIM_RETRY_{self._id}"
        self._tmpdir = Path(tempfile.mkdtemp(prefix="ats-sim-snowflake-"))
        self._seq = 0
        self._prepared: _PreparedLoad | None = None
        #: CreateTime of the earliest attempt that failed and may have loaded rows, if any.
        self._suspect_since: int | None = None
        self._session = Session(
            target,
            purpose="connecting",
            tables=[(RAW_TABLE, _COLUMNS)],
            temp_stage=None if named_stage else self._stage,
        )
        try:
            self._session.open()
        except BaseException:
            self._close()
            raise

    @classmethod
    def from_url(cls, url: SinkURL, **options: Any) -> Self:
        """``snowflake://USER@ACCOUNT/DB/SCHEMA?warehouse=WH`` or ``snowflake://?connection=NAME``."""
        target, own = resolve_target(url, sink_options=SINK_OPTIONS)
        opts = sink_options(
            SinkURL(raw=url.raw, scheme=url.scheme, query=own), options, {"stage": str}
        )
        return cls(target, **opts)

    def describe(self) -> str:
        return self.target.describe()

    # -- writing ------------------------------------------------------------------------------
    def _prepare(self, batches: list[Batch]) -> _PreparedLoad:
        """Write the raw rows of ``batches`` to a Parquet file, with offsets and one CreateTime."""
        created = wall_clock_ms()
        pending: defaultdict[str, int] = defaultdict(int)
        tables = []
        for b in batches:
            topic = b.type.topic
            tables.append(
                raw_table(
                    b,
                    first_offset=self.offsets.next(topic) + pending[topic],
                    create_time_ms=created,
                )
            )
            pending[topic] += b.num_rows
        self._seq += 1
        path = self._tmpdir / f"ats_{self._id}_{self._seq:06d}.parquet"
        table = pa.concat_tables(tables)
        pq.write_table(table, path, compression="snappy")
        return _PreparedLoad(tuple(map(id, batches)), path, table.num_rows, created, dict(pending))

    def _write(self, batches: list[Batch]) -> int:
        key = tuple(map(id, batches))
        if self._prepared is None or self._prepared.key != key:
            self._discard_prepared()
            self._prepared = self._prepare(batches)
        load = self._prepared
        doing = f"loading {load.rows} records"
        try:
            self._session.run(
                f"PUT 'file://{load.path.as_posix()}' @{self._stage}/{self._id} "
                "AUTO_COMPRESS = FALSE OVERWRITE = TRUE",
                doing=doing,
            )
            stage_file = f"{self._stage}/{self._id}/{load.path.name}"
            if self._suspect_since is None:
                self._copy(stage_file, load)
            else:
                self._dedupe_load(stage_file, load, self._suspect_since)
        except TransientSinkError:
            since = load.create_time_ms if self._suspect_since is None else self._suspect_since
            self._suspect_since = min(since, load.create_time_ms)
            raise
        self._suspect_since = None
        for topic, n in load.offsets.items():
            self.offsets.advance(topic, n)
        size = load.path.stat().st_size
        self._discard_prepared()
        return size

    def _copy(self, stage_file: str, load: _PreparedLoad) -> None:
        rows = self._session.run(
            _copy_sql(RAW_TABLE, stage_file),
            doing=f"loading {load.rows} records",
            if_missing=f"table {RAW_TABLE} or the stage {self._stage} does not exist any more",
        )
        loaded = sum(int(r[3] or 0) for r in rows if len(r) > 3 and r[1] == "LOADED")
        skipped = any(len(r) > 1 and r[1] == "LOAD_SKIPPED" for r in rows)
        if loaded != load.rows and not skipped:
            raise TerminalSinkError(
                f"Snowflake COPY INTO {RAW_TABLE} loaded {loaded} of {load.rows} records "
                f"({self.describe()}): {rows[:1]}"
            )

    def _dedupe_load(self, stage_file: str, load: _PreparedLoad, since_ms: int) -> None:
        """Load through a temporary table, inserting only records not loaded since ``since_ms``."""
        doing = f"reloading {load.rows} records after a failed attempt"
        self._session.run(
            f"CREATE OR REPLACE TEMPORARY TABLE {self._retry_table} "
            "(RECORD_METADATA VARIANT, RECORD_CONTENT VARIANT)",
            doing=doing,
        )
        self._session.run(_copy_sql(self._retry_table, stage_file, force=True), doing=doing)
        inserted = self._session.run(
            f"INSERT INTO {RAW_TABLE} ({_COLUMNS}) SELECT s.RECORD_METADATA, s.RECORD_CONTENT "
            f"FROM {self._retry_table} AS s WHERE NOT EXISTS (SELECT 1 FROM {RAW_TABLE} AS r "
            "WHERE r.RECORD_METADATA:CreateTime::NUMBER >= ? "
            "AND r.RECORD_CONTENT:record_id::STRING = s.RECORD_CONTENT:record_id::STRING)",
            [since_ms],
            doing=doing,
        )
        log.info(
            "snowflake sink: retried flush inserted %s of %d records (the rest were loaded "
            "by the failed attempt)",
            inserted[0][0] if inserted else "?",
            load.rows,
        )

    def _discard_prepared(self) -> None:
        if self._prepared is not None:
            self._prepared.path.unlink(missing_ok=True)
            self._prepared = None

    def _close(self) -> None:
        self._session.close()
        self._prepared = None
        shutil.rmtree(self._tmpdir, ignore_errors=True)


# -- the schema ------------------------------------------------------------------------------


def _first_code_line(stmt: str) -> str:
    return next(
        (ln.strip() for ln in stmt.splitlines() if ln.strip() and not ln.strip().startswith("--")),
        "",
    )


def _is_access_control(stmt: str) -> bool:
    head = _first_code_line(stmt).upper()
    return head.startswith(("CREATE ROLE", "GRANT ", "REVOKE "))


def schema_statements(
    target: SnowflakeTarget,
    target_lag: str | None = None,
    *,
    roles: bool = True,
    reader_role: str | None = None,
) -> list[str]:
    """The rendered ``sql/snowflake`` statements for ``target``'s database, schema and warehouse."""
    from sinks.schema import render, sql_files

    if not target.warehouse:
        raise ConfigError(
            "schema apply snowflake:// needs a warehouse for the dynamic tables to refresh on: "
            'add ?warehouse=NAME (or warehouse = "NAME" in the connection)'
        )
    params: dict[str, str] = {
        "database": target.database or DEFAULTS["database"],
        "schema": target.schema or DEFAULTS["schema"],
        "warehouse": target.warehouse,
        "target_lag": target_lag or DEFAULTS["target_lag"],
    }
    if reader_role:
        params["reader_role"] = reader_role
    out: list[str] = []
    for path in sql_files("snowflake"):
        for stmt in split_statements(
            render(path.read_text(encoding="utf-8"), "snowflake", **params)
        ):
            if roles or not _is_access_control(stmt):
                out.append(stmt)
    return out


def apply_schema(
    url: str,
    target_lag: str | None = "1 minute",
    *,
    roles: bool = True,
    reader_role: str | None = None,
) -> list[str]:
    """Create everything in ``sql/snowflake`` in the account ``url`` names; safe to run twice.

    Runs the statements in order in one session: database and schema, ``ATS_RAW_JSON`` (kept if
    it exists), the dynamic tables (``TARGET_LAG = target_lag``), the views and, unless
    ``roles=False`` (for a role that may not create roles or grant), the read-only reader role.
    Returns the first line of each statement run. Errors are one line, naming the statement.
    """
    parsed = parse_sink_url(url, known=["snowflake"])
    target, _ = resolve_target(parsed, sink_options=SINK_OPTIONS)
    stmts = schema_statements(target, target_lag, roles=roles, reader_role=reader_role)
    # A dynamic table's first refresh runs inside its CREATE: allow it an hour.
    conn = connect(target, doing="applying the schema", statement_timeout_s=3600)
    done: list[str] = []
    try:
        cur = conn.cursor()
        for stmt in stmts:
            first = _first_code_line(stmt)
            try:
                cur.execute(stmt)
            except Exception as exc:
                raise translate_error(exc, target, f"applying the schema at `{first}`") from None
            done.append(first)
    finally:
        close_quietly(conn)
    return done
