"""The DuckDB sink: the embedded warehouse, ``duckdb:///path/to/ats.duckdb``.

It keeps the shared schema (``sql/duckdb``): the raw table ``ATS_RAW_JSON`` in the Snowflake
Kafka connector's layout, the typed tables ``ATS_TRANSFORMED``, ``ATS_STATION_EVENTS`` and
``ATS_ALERT_EVENTS``, and the analytical views. Each flush appends to the raw table and the
typed tables in one transaction, inserting straight from Arrow.

Concurrency: a DuckDB file can be open in one process at a time (even ``read_only`` holders
exclude everyone else). So the sink opens the file, writes one transaction and closes it on
every flush, retrying for ``lock_timeout_s`` while another process holds it; readers such as the
dashboard connect with :func:`connect_readonly` per poll, which retries the same way, and close
promptly. See ``docs/design.md``.

URL options: ``lock_timeout_s`` (default 10), plus ``batch_records``, ``batch_seconds``,
``max_retries`` and ``retry_backoff_s`` as for every sink. ``duckdb:///abs/path.duckdb`` is
absolute; ``duckdb://data/ats.duckdb`` is relative to the working directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.errors import ConfigError
from ats_sim.records import RECORD_TYPES, Batch, RecordType
from sinks.base import Sink, TerminalSinkError, TransientSinkError
from sinks.files import local_path, sink_options
from sinks.raw import TopicOffsets, raw_table, wall_clock_ms
from sinks.schema import RAW_TABLE, TYPED_TABLES, statements
from sinks.url import SinkURL

__all__ = ["DuckDBSink", "apply_schema", "connect_readonly", "read_table", "reading"]

log = logging.getLogger(__name__)

_POLL_S = 0.02


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def _connect(path: Path, *, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    """Open ``path``, retrying while another process holds its lock."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise TransientSinkError(
                    f"DuckDB file {path} stayed locked by another process for {timeout_s:g}s"
                ) from None
            time.sleep(_POLL_S)


def connect_readonly(
    path: str | os.PathLike[str], timeout_s: float = 10.0
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a DuckDB file that a sink may be writing, in UTC.

    Retries for up to ``timeout_s`` while a writer holds the file (each flush holds it for a
    moment), then raises :class:`TransientSinkError`. A missing file is a :class:`ConfigError`.
    Close the connection as soon as the query is done: while it is open, the writer waits.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"no DuckDB database at {p}; fill it first, e.g. ats-sim run weekday --sink duckdb:///{p.resolve()}"
        )
    con = _connect(p, read_only=True, timeout_s=timeout_s)
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextlib.contextmanager
def reading(
    path: str | os.PathLike[str], timeout_s: float = 10.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``with reading(path) as con:`` a read-only connection, closed on exit."""
    con = connect_readonly(path, timeout_s)
    try:
        yield con
    finally:
        con.close()


def _typed_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0].upper() for r in rows]


def apply_schema(path: str | os.PathLike[str], *, lock_timeout_s: float = 10.0) -> list[str]:
    """Create (or update) the schema in a DuckDB file; return the statements' first lines.

    Tables are created if missing and never dropped; views are replaced. Safe to run twice.
    Raises :class:`TerminalSinkError` if the file's typed tables have other columns than this
    version's records (write to a new file, or migrate it).
    """
    p = Path(path)
    if p.is_dir():
        raise TerminalSinkError(
            f"DuckDB sink: {p} is a directory; give a file such as {p / 'ats.duckdb'}"
        )
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TerminalSinkError(
            f"DuckDB sink: cannot create {p.parent}: {exc.strerror or exc}"
        ) from None
    try:
        con = _connect(p, read_only=False, timeout_s=lock_timeout_s)
    except duckdb.Error as exc:
        raise TerminalSinkError(f"DuckDB sink: cannot open {p}: {_first_line(exc)}") from None
    done: list[str] = []
    try:
        for name, table in TYPED_TABLES.items():
            expected = [f.name.upper() for f in RECORD_TYPES[name].fields]
            found = _typed_columns(con, table)
            if found and found != expected:
                raise TerminalSinkError(
                    f"DuckDB file {p}: table {table} has other columns than this version's "
                    f"{name} records; write to a new file"
                )
        con.execute("BEGIN TRANSACTION")
        for stmt in statements("duckdb"):
            con.execute(stmt)
            done.append(next(line for line in stmt.splitlines() if not line.startswith("--")))
        con.execute("COMMIT")
    except duckdb.Error as exc:
        raise TerminalSinkError(
            f"DuckDB sink: applying the schema to {p} failed: {_first_line(exc)}"
        ) from None
    finally:
        con.close()
    return done


def read_table(path: str | os.PathLike[str], record_type: str, timeout_s: float = 10.0) -> pa.Table:
    """Every stored record of ``record_type`` from its typed table, in the record type's Arrow schema."""
    rtype = RECORD_TYPES[record_type]
    with reading(path, timeout_s) as con:
        table = con.sql(
            f'SELECT * FROM {TYPED_TABLES[record_type]} ORDER BY "TIMESTAMP", RECORD_ID'
        ).to_arrow_table()
    table = table.rename_columns(rtype.field_names)
    return table.cast(rtype.arrow_schema)


def _as_json(raw: pa.Table) -> pa.Table:
    """Mark the raw columns as Arrow JSON (pyarrow >= 19): DuckDB then takes them as JSON
    without the text-to-JSON cast, about a quarter faster. The bytes are unchanged."""
    json_type = getattr(pa, "json_", None)
    if json_type is None:
        return raw
    return pa.table(
        {
            name: pa.ExtensionArray.from_storage(json_type(), raw.column(name).combine_chunks())
            for name in raw.column_names
        }
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class DuckDBSink(Sink):
    """Appends to the raw and typed tables of a DuckDB file, one transaction per flush.

    Delivery: exactly once per record id. ``flush()`` returns once the transaction holding every
    buffered record has committed (DuckDB's write-ahead log makes it durable). Records whose
    ``record_id`` is already stored are skipped, so a retried flush, or a replay of the same run
    into the same file, adds nothing twice. A process killed mid-flush leaves whole flushes only.
    ``stats.bytes`` counts the Arrow bytes handed to DuckDB (typed and raw rows).
    """

    scheme = "duckdb"
    delivery = "exactly once per record id; each flush is one transaction"

    def __init__(
        self, path: str | os.PathLike[str], *, lock_timeout_s: float = 10.0, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.offsets = TopicOffsets()
        apply_schema(self.path, lock_timeout_s=lock_timeout_s)

    @classmethod
    def from_url(cls, url: SinkURL, **options: Any) -> Self:
        """``duckdb:///path/to/file.duckdb?lock_timeout_s=10``."""
        opts = sink_options(url, options, {"lock_timeout_s": float})
        path = local_path(url)
        if str(path) in (":memory:", "/:memory:"):
            raise ConfigError(
                "the duckdb:// sink needs a file (it reopens it on every flush), not :memory:; "
                "use memory:// for an in-process sink"
            )
        return cls(path, **opts)

    def describe(self) -> str:
        return f"duckdb:{self.path}"

    def _fresh(
        self, con: duckdb.DuckDBPyConnection, rtype: RecordType, table: pa.Table
    ) -> pa.Table:
        """The rows of ``table`` whose record id is neither stored already nor repeated earlier."""
        ids = table.column("record_id")
        if pc.count_distinct(ids).as_py() < table.num_rows:
            _, first = np.unique(ids.to_numpy(zero_copy_only=False).astype(str), return_index=True)
            table = table.take(pa.array(np.sort(first)))
            ids = table.column("record_id")
        lo_hi = pc.min_max(table.column("timestamp"))
        con.register("ats_sink_ids", pa.table({"record_id": ids}))
        try:
            stored = con.sql(
                f"SELECT b.record_id FROM ats_sink_ids AS b WHERE EXISTS ("
                f"SELECT 1 FROM {TYPED_TABLES[rtype.name]} AS t "
                f'WHERE t."TIMESTAMP" BETWEEN ? AND ? AND t.RECORD_ID = b.record_id)',
                params=[lo_hi["min"].as_py(), lo_hi["max"].as_py()],
            ).to_arrow_table()
        finally:
            con.unregister("ats_sink_ids")
        if stored.num_rows:
            keep = pc.invert(pc.is_in(ids, value_set=stored.column(0)))
            table = table.filter(keep)
        return table

    def _write(self, batches: list[Batch]) -> int:
        grouped: dict[str, list[pa.RecordBatch]] = {}
        for b in batches:
            grouped.setdefault(b.type.name, []).append(b.data)
        try:
            con = _connect(self.path, read_only=False, timeout_s=self.lock_timeout_s)
        except duckdb.Error as exc:
            raise self._classify(exc) from exc
        pending: dict[str, int] = {}
        written = 0
        committed = False
        created = wall_clock_ms()
        try:
            con.execute("BEGIN TRANSACTION")
            for name, data in grouped.items():
                rtype = RECORD_TYPES[name]
                table = self._fresh(
                    con, rtype, pa.Table.from_batches(data, schema=rtype.arrow_schema)
                )
                if table.num_rows == 0:
                    continue
                combined = table.combine_chunks().to_batches()[0]
                start = self.offsets.next(rtype.topic) + pending.get(rtype.topic, 0)
                raw = raw_table(Batch(rtype, combined), first_offset=start, create_time_ms=created)
                con.register("ats_sink_typed", table)
                con.execute(f"INSERT INTO {TYPED_TABLES[name]} SELECT * FROM ats_sink_typed")
                con.unregister("ats_sink_typed")
                con.register("ats_sink_raw", _as_json(raw))
                con.execute(
                    f"INSERT INTO {RAW_TABLE} SELECT RECORD_METADATA, RECORD_CONTENT FROM ats_sink_raw"
                )
                con.unregister("ats_sink_raw")
                pending[rtype.topic] = pending.get(rtype.topic, 0) + table.num_rows
                written += table.nbytes + raw.nbytes
            con.execute("COMMIT")
            committed = True
        except duckdb.Error as exc:
            raise self._classify(exc) from exc
        finally:  # always release the file (also on Ctrl-C): readers are waiting for it
            if not committed:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
            try:
                con.close()
            except duckdb.Error as exc:  # after a commit the WAL holds the data: do not retry
                log.warning("DuckDB sink: closing %s failed: %s", self.path, exc)
        for topic, n in pending.items():
            self.offsets.advance(topic, n)
        return written

    def _classify(self, exc: duckdb.Error) -> TerminalSinkError | TransientSinkError:
        msg = f"DuckDB sink ({self.path}): {_first_line(exc)}"
        if _is_lock_error(exc):
            return TransientSinkError(msg)
        if isinstance(exc, duckdb.IOException) and not any(
            s in str(exc) for s in ("Permission denied", "Read-only", "read-only")
        ):
            return TransientSinkError(msg)
        return TerminalSinkError(msg)
