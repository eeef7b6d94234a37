"""The DuckDB sink: the embedded warehouse, ``duckdb:///path/to/ats.duckdb``.

It keeps the shared schema (``sql/duckdb``): the raw table ``ATS_RAW_JSON`` in the Snowflake
Kafka connector's layout, the typed tables ``ATS_TRANSFORMED``, ``ATS_STATION_EVENTS`` and
``ATS_ALERT_EVENTS``, and the analytical views. Each flush appends to the raw table and the
typed tables in one transaction, inserting straight from Arrow.

Speed (``benchmarks/sinks_bench.py``): DuckDB writes each record's canonical JSON itself, inside
the ``INSERT`` (:func:`sinks.raw.content_sql`; Python encodes only the rare values DuckDB would
write in another notation, and :func:`sql_json_is_canonical` checks this DuckDB once per
process). Each flush fills every table with one ``INSERT`` from one Arrow chunk
(:func:`sinks.raw.sql_raw_rows`), and a flush due to size ends the raw table on a whole row group
(:mod:`sinks.duckdb_rowgroups`): DuckDB then writes the rows to the file during the ``INSERT``
and the commit only links them in. Duplicates are looked for only where they can be
(:func:`fresh_rows`), so a flush costs the same on a week-old file as on a new one. Flushes
default to 250,000 records or 5 s.

Concurrency: a DuckDB file can be open in one process at a time (even ``read_only`` holders
exclude everyone else). So the sink holds the file for one transaction per flush only: it
attaches the file to a DuckDB instance in memory kept for the sink's lifetime, writes, and
detaches it (:class:`sinks.duckdb_lock.FileHost`), retrying for ``lock_timeout_s`` while another
process holds it; readers such as the dashboard connect with :func:`connect_readonly` per poll,
which retries the same way, and close promptly. See ``docs/design.md``.

URL options: ``lock_timeout_s`` (default 10), plus ``batch_records`` (default 250,000),
``batch_seconds`` (default 5), ``max_retries`` and ``retry_backoff_s`` as for every sink.
``duckdb:///abs/path.duckdb`` is absolute; ``duckdb://data/ats.duckdb`` is relative to the
working directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.errors import ConfigError
from ats_sim.records import RECORD_TYPES, Batch, RecordType
from sinks.base import Sink, TerminalSinkError, TransientSinkError
from sinks.duckdb_json import sql_json_is_canonical
from sinks.duckdb_lock import FileHost
from sinks.duckdb_lock import connect as _connect
from sinks.duckdb_lock import is_lock_error as _is_lock_error
from sinks.duckdb_rowgroups import ROW_GROUP_ROWS, aligned_count, split_batches
from sinks.files import local_path, sink_options
from sinks.raw import TopicOffsets, sql_raw_rows, wall_clock_ms
from sinks.schema import RAW_TABLE, TYPED_TABLES, statements
from sinks.url import SinkURL

__all__ = [
    "DEFAULT_BATCH_RECORDS",
    "ROW_GROUP_ROWS",
    "DuckDBSink",
    "apply_schema",
    "connect_readonly",
    "first_occurrences",
    "fresh_rows",
    "read_table",
    "reading",
    "sql_json_is_canonical",
    "unstored_rows",
]

log = logging.getLogger(__name__)

#: Default flush size. Bigger flushes amortise the per-flush work (attach, dedupe queries,
#: checkpoint) and let DuckDB write whole row groups (122,880 rows) straight to the file; a flush
#: due to size writes 245,760 records (two row groups) and keeps the rest for the next. 500,000
#: and more gain little and raise the peak memory (about 0.8 GB at 250,000, 1 GB at 500,000).
DEFAULT_BATCH_RECORDS = 250_000
#: Default flush age: what a live reader waits at most (the dashboard polls every 10 s).
DEFAULT_BATCH_SECONDS = 5.0


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


def fresh_rows(con: duckdb.DuckDBPyConnection, rtype: RecordType, table: pa.Table) -> pa.Table:
    """The rows of ``table`` whose record id is neither stored in ``rtype``'s typed table nor
    repeated earlier in ``table`` (the first occurrence is kept): :func:`unstored_rows` of
    :func:`first_occurrences`."""
    return unstored_rows(con, rtype, first_occurrences(table))


def first_occurrences(table: pa.Table) -> pa.Table:
    """``table`` without the rows whose record id an earlier row has."""
    ids = table.column("record_id")
    if len(pc.unique(ids)) == table.num_rows:  # unique() is about 4x faster than count_distinct
        return table
    _, first = np.unique(ids.to_numpy(zero_copy_only=False).astype(str), return_index=True)
    return table.take(pa.array(np.sort(first), pa.int64()))


def unstored_rows(con: duckdb.DuckDBPyConnection, rtype: RecordType, table: pa.Table) -> pa.Table:
    """The rows of ``table`` whose record id is not stored in ``rtype``'s typed table.

    Record ids begin with their run id, so only stored rows of the same ``RUN_ID`` within the
    table's time range can repeat one. A first query asks whether any such row exists (zone
    maps on ``TIMESTAMP`` skip every older row group, so this stays cheap however large the
    file grows); only then are the ids compared, against those rows alone. A run written in
    time order therefore never compares ids; a retried flush or a replay of the same run
    compares them within one flush's worth of rows.
    """
    ids = table.column("record_id")
    typed = TYPED_TABLES[rtype.name]
    runs = pc.unique(table.column("run_id")).to_pylist()
    where = "RUN_ID IN (" + ", ".join("?" * len(runs)) + ")"
    params: list[Any] = list(runs)
    ts = table.column("timestamp")
    if ts.null_count == 0:
        lo_hi = pc.min_max(ts)
        where += ' AND "TIMESTAMP" BETWEEN ? AND ?'
        params += [lo_hi["min"].as_py(), lo_hi["max"].as_py()]
    if not con.execute(f"SELECT 1 FROM {typed} WHERE {where} LIMIT 1", params).fetchall():
        return table
    con.register("ats_sink_ids", pa.table({"record_id": ids}))
    try:
        stored = con.sql(
            f"SELECT RECORD_ID FROM {typed} WHERE {where} "
            "AND RECORD_ID IN (SELECT record_id FROM ats_sink_ids)",
            params=params,
        ).to_arrow_table()
    finally:
        con.unregister("ats_sink_ids")
    if stored.num_rows:
        table = table.filter(pc.invert(pc.is_in(ids, value_set=stored.column(0))))
    return table


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class DuckDBSink(Sink):
    """Appends to the raw and typed tables of a DuckDB file, one transaction per flush.

    Delivery: exactly once per record id. ``flush()`` returns once the transaction holding every
    buffered record has committed (DuckDB's write-ahead log makes it durable). Records whose
    ``record_id`` is already stored are skipped, so a retried flush, or a replay of the same run
    into the same file, adds nothing twice (record ids are unique within a run: they begin with
    the run id). A process killed mid-flush leaves whole flushes only. ``stats.bytes`` counts
    the Arrow bytes handed to DuckDB: typed rows and ``RECORD_METADATA`` (``RECORD_CONTENT`` is
    built by DuckDB from the typed rows, except for the rare rows encoded in Python).

    Buffering: as every sink, it writes once ``batch_records`` are buffered or the oldest
    buffered record has waited ``batch_seconds``. A write due to size (with ``batch_records`` of
    at least a row group, :data:`ROW_GROUP_ROWS`) takes the oldest records up to where the raw
    table ends on a whole row group and keeps the rest (fewer than a row group) buffered for
    the next write (see :mod:`sinks.duckdb_rowgroups`); a write due to age, ``flush()`` and
    ``close()`` take everything.
    """

    scheme = "duckdb"
    delivery = "exactly once per record id; each flush is one transaction"

    def __init__(
        self, path: str | os.PathLike[str], *, lock_timeout_s: float = 10.0, **kw: Any
    ) -> None:
        kw.setdefault("batch_records", DEFAULT_BATCH_RECORDS)
        kw.setdefault("batch_seconds", DEFAULT_BATCH_SECONDS)
        super().__init__(**kw)
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.offsets = TopicOffsets()
        apply_schema(self.path, lock_timeout_s=lock_timeout_s)
        self._sql_json = sql_json_is_canonical()
        self._file = FileHost(self.path, lock_timeout_s=lock_timeout_s)
        #: ``time.monotonic()`` at which each buffered batch arrived (parallel to the buffer).
        self._arrivals: list[float] = []
        #: Rows in the raw table after this sink's last commit (None: not yet known).
        self._raw_stored: int | None = None

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

    # -- buffering ------------------------------------------------------------------------------
    def write_batch(self, batch: Batch) -> None:
        """Accept a batch; it is durable once :meth:`flush` (or :meth:`close`) returns.

        Writes as the class docstring says: whole row groups of the raw table when
        ``batch_records`` are buffered, everything once the oldest record is ``batch_seconds`` old.
        """
        if self._closed:
            raise TerminalSinkError(f"{self!r} is closed")
        if batch.num_rows == 0:
            return
        now = time.monotonic()
        self._buffer.append(batch)
        self._arrivals.append(now)
        self._buffered += batch.num_rows
        if self._oldest is None:
            self._oldest = now
        if now - self._oldest >= self.batch_seconds:
            self.flush()
        elif self._buffered >= self.batch_records:
            self._flush_whole_row_groups()

    def flush(self) -> None:
        """Write every buffered record and return once it is committed (see the class)."""
        super().flush()
        if not self._buffer:
            self._arrivals = []

    def _flush_whole_row_groups(self) -> None:
        """Write the oldest buffered records up to a row-group boundary of the raw table; keep
        the rest buffered (with their arrival times), also when the write fails."""
        count = self._buffered
        if self.batch_records >= ROW_GROUP_ROWS:
            count = aligned_count(self._buffered, self._raw_stored or 0) or count
        if count == self._buffered:
            self.flush()
            return
        head, tail = split_batches(self._buffer, self._arrivals, count)
        self._buffer = [b for b, _ in head]
        self._arrivals = [t for _, t in head]
        self._buffered = count
        try:
            self.flush()
        finally:  # written or not, nothing is lost: what flush() did not write stays buffered
            rest = [*zip(self._buffer, self._arrivals, strict=True), *tail]
            self._buffer = [b for b, _ in rest]
            self._arrivals = [t for _, t in rest]
            self._buffered = sum(b.num_rows for b in self._buffer)
            self._oldest = min(self._arrivals, default=None)

    # -- writing --------------------------------------------------------------------------------
    def _write(self, batches: list[Batch]) -> int:
        started = time.perf_counter()
        timings = dict.fromkeys(("prepare", "attach", "dedupe", "insert", "commit"), 0.0)
        mark = started

        def lap(step: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            timings[step] += now - mark
            mark = now

        # Everything that needs no database happens before the file is attached: while this
        # process holds it, readers wait.
        parts = self._with_offsets(
            [
                Batch(rtype, first_occurrences(table).combine_chunks().to_batches()[0])
                for rtype, table in self._tables(batches)
            ]
        )
        raw = sql_raw_rows(parts, create_time_ms=wall_clock_ms(), sql_json=self._sql_json)
        lap("prepare")
        try:
            with self._file.attached() as con:
                lap("attach")
                written, stored, parts = self._transaction(con, parts, raw, lap)
        except duckdb.Error as exc:
            raise self._classify(exc) from exc
        lap("commit")
        if stored is not None:
            self._raw_stored = stored
        for batch, _ in parts:
            self.offsets.advance(batch.type.topic, batch.num_rows)
        log.debug(
            "DuckDB sink: %d new of %d records in %.3fs (%s)",
            sum(b.num_rows for b, _ in parts),
            sum(b.num_rows for b in batches),
            time.perf_counter() - started,
            ", ".join(f"{k} {v:.3f}s" for k, v in timings.items()),
        )
        return written

    @staticmethod
    def _tables(batches: list[Batch]) -> list[tuple[RecordType, pa.Table]]:
        """The batches as one table per record type, in order of first appearance."""
        grouped: dict[str, list[pa.RecordBatch]] = {}
        for b in batches:
            grouped.setdefault(b.type.name, []).append(b.data)
        return [
            (
                RECORD_TYPES[name],
                pa.Table.from_batches(data, schema=RECORD_TYPES[name].arrow_schema),
            )
            for name, data in grouped.items()
        ]

    def _with_offsets(self, batches: list[Batch]) -> list[tuple[Batch, int]]:
        """Each batch with the topic offset of its first record (the topic's next offset, after
        the batches of the same topic before it)."""
        pending: dict[str, int] = {}
        parts = []
        for batch in batches:
            topic = batch.type.topic
            parts.append((batch, self.offsets.next(topic) + pending.get(topic, 0)))
            pending[topic] = pending.get(topic, 0) + batch.num_rows
        return parts

    def _transaction(
        self,
        con: duckdb.DuckDBPyConnection,
        parts: list[tuple[Batch, int]],
        raw: tuple[pa.Table, str],
        lap: Callable[[str], None],
    ) -> tuple[int, int | None, list[tuple[Batch, int]]]:
        """Append ``parts`` (one batch per record type, ids unique) and their raw rows in one
        transaction, leaving out records already stored; return the bytes handed to DuckDB,
        the raw table's row count after the commit (when needed) and the parts appended."""
        written = 0
        stored: int | None = None
        committed = False
        con.execute("BEGIN TRANSACTION")
        try:
            fresh = [unstored_rows(con, b.type, pa.Table.from_batches([b.data])) for b, _ in parts]
            if any(t.num_rows < b.num_rows for t, (b, _) in zip(fresh, parts, strict=True)):
                # a retried flush or a replay: offsets and raw rows for what is left
                parts = self._with_offsets(
                    [
                        Batch(b.type, t.combine_chunks().to_batches()[0])
                        for t, (b, _) in zip(fresh, parts, strict=True)
                        if t.num_rows
                    ]
                )
                if parts:
                    created = wall_clock_ms()
                    raw = sql_raw_rows(parts, create_time_ms=created, sql_json=self._sql_json)
            lap("dedupe")
            if parts:
                for batch, _ in parts:  # one INSERT per table: see sql_raw_rows
                    con.register("ats_sink_rows", batch.data)
                    cols = ", ".join(f'"{n}"' for n in batch.type.field_names)
                    typed = TYPED_TABLES[batch.type.name]
                    con.execute(f"INSERT INTO {typed} SELECT {cols} FROM ats_sink_rows")
                    con.unregister("ats_sink_rows")
                    written += batch.data.nbytes
                rows, content = raw
                con.register("ats_sink_raw", rows)
                con.execute(f"INSERT INTO {RAW_TABLE} SELECT __meta, {content} FROM ats_sink_raw")
                con.unregister("ats_sink_raw")
                written += sum(
                    rows.column(c).nbytes for c in ("__meta", "__content") if c in rows.schema.names
                )
                lap("insert")
            if self.batch_records >= ROW_GROUP_ROWS:  # where the next row group boundary is
                stored = int(con.execute(f"SELECT count(*) FROM {RAW_TABLE}").fetchall()[0][0])
            con.execute("COMMIT")
            committed = True
        finally:  # also on Ctrl-C: the file is detached next, readers are waiting for it
            if not committed:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
        return written, stored, parts

    def _close(self) -> None:
        self._file.close()

    def _classify(self, exc: duckdb.Error) -> TerminalSinkError | TransientSinkError:
        msg = f"DuckDB sink ({self.path}): {_first_line(exc)}"
        if _is_lock_error(exc):
            return TransientSinkError(msg)
        if isinstance(exc, duckdb.IOException) and not any(
            s in str(exc) for s in ("Permission denied", "Read-only", "read-only")
        ):
            return TransientSinkError(msg)
        return TerminalSinkError(msg)
