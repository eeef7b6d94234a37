"""The DuckDB sink: the embedded warehouse, ``duckdb:///path/to/ats.duckdb``.

It keeps the shared schema (``sql/duckdb``): the raw table ``ATS_RAW_JSON`` in the Snowflake
Kafka connector's layout, the typed tables ``ATS_TRANSFORMED``, ``ATS_STATION_EVENTS`` and
``ATS_ALERT_EVENTS``, and the analytical views. Each flush appends to the raw table and the
typed tables in one transaction, inserting straight from Arrow.

Speed (``benchmarks/sinks_bench.py``): DuckDB writes each record's canonical JSON itself, inside
the ``INSERT`` (:func:`sinks.raw.content_sql`; Python encodes only the rare values DuckDB would
write in another notation, and :func:`sql_json_is_canonical` checks this DuckDB once per
process). Duplicates are looked for only where they can be (:func:`fresh_rows`), so a flush
costs the same on a week-old file as on a new one. Flushes default to 250,000 records or 5 s.

Concurrency: a DuckDB file can be open in one process at a time (even ``read_only`` holders
exclude everyone else). So the sink opens the file, writes one transaction and closes it on
every flush, retrying for ``lock_timeout_s`` while another process holds it; readers such as the
dashboard connect with :func:`connect_readonly` per poll, which retries the same way, and close
promptly. See ``docs/design.md``.

URL options: ``lock_timeout_s`` (default 10), plus ``batch_records`` (default 250,000),
``batch_seconds`` (default 5), ``max_retries`` and ``retry_backoff_s`` as for every sink. ``duckdb:///abs/path.duckdb`` is
absolute; ``duckdb://data/ats.duckdb`` is relative to the working directory.
"""

from __future__ import annotations

import contextlib
import functools
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
from ats_sim.records import RECORD_TYPES, Batch, RecordType, json_lines_array
from sinks.base import Sink, TerminalSinkError, TransientSinkError
from sinks.files import local_path, sink_options
from sinks.raw import (
    TopicOffsets,
    content_fallback,
    content_sql,
    json_typed,
    metadata_json,
    sql_exact_rows,
    wall_clock_ms,
)
from sinks.schema import RAW_TABLE, TYPED_TABLES, statements
from sinks.url import SinkURL

__all__ = [
    "DuckDBSink",
    "apply_schema",
    "connect_readonly",
    "fresh_rows",
    "read_table",
    "reading",
    "sql_json_is_canonical",
]

log = logging.getLogger(__name__)

_POLL_S = 0.02
#: Default flush size. Bigger flushes amortise the connect and let DuckDB write whole row groups
#: (122,880 rows) straight to the file rather than through the write-ahead log: a weekday at 1 s
#: telemetry replays in about 19 s with 250,000-record flushes, 30 s with 100,000; 500,000 and
#: more gain little and raise the peak memory (about 0.8 GB at 250,000, 1 GB at 500,000).
DEFAULT_BATCH_RECORDS = 250_000
#: Default flush age: what a live reader waits at most (the dashboard polls every 10 s).
DEFAULT_BATCH_SECONDS = 5.0


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


def _probe_batch(rtype: RecordType) -> Batch:
    """A few records of ``rtype`` with the values the simulation writes (and some it might)."""
    n = 6
    kinds: dict[str, Any] = {
        "timestamp": np.array([0, 1_717_200_000_123, -1, 253_402_300_799_999, 86_399_999, 5]),
        "string": ["R-01", "Gare d'Été", "a/b <c>", "仅站台 😀", "x y", "\u2028 \u00e9"],
        "int": np.array([0, -1, 2**62, 7, 1500, -(2**63)], dtype=np.int64),
        "float": np.array([0.0, -0.0, 3.0, 0.1 + 0.2, 123456.789, 1e-5]),
        "bool": np.array([True, False, True, False, True, False]),
    }
    cols = {f.name: kinds[f.kind] for f in rtype.fields}
    for f in rtype.fields:
        if f.nullable:
            cols[f.name] = [*pa.array(cols[f.name], f.arrow_type).to_pylist()[:-1], None]
    assert all(len(v) == n for v in cols.values())
    return Batch.from_columns(rtype, cols)


@functools.cache
def sql_json_is_canonical() -> bool:
    """Whether this DuckDB's ``to_json`` (:func:`sinks.raw.content_sql`) writes the canonical
    JSON of sample records of every type, byte for byte. Checked once per process; when it
    does not (another DuckDB version), the sink encodes every row with
    :func:`ats_sim.records.json_lines_array` instead."""
    con = duckdb.connect(":memory:")
    try:
        for rtype in RECORD_TYPES.values():
            batch = _probe_batch(rtype)
            con.register("ats_probe", pa.Table.from_batches([batch.data]))
            got = con.sql(f"SELECT {content_sql(rtype)}::VARCHAR FROM ats_probe").to_arrow_table()
            con.unregister("ats_probe")
            if got.column(0).to_pylist() != json_lines_array(batch).to_pylist():
                log.warning(
                    "DuckDB %s: to_json differs from the canonical JSON; "
                    "encoding RECORD_CONTENT in Python",
                    duckdb.__version__,
                )
                return False
    finally:
        con.close()
    return True


def fresh_rows(con: duckdb.DuckDBPyConnection, rtype: RecordType, table: pa.Table) -> pa.Table:
    """The rows of ``table`` whose record id is neither stored in ``rtype``'s typed table nor
    repeated earlier in ``table`` (the first occurrence is kept).

    Record ids begin with their run id, so only stored rows of the same ``RUN_ID`` within the
    table's time range can repeat one. A first query asks whether any such row exists (zone
    maps on ``TIMESTAMP`` skip every older row group, so this stays cheap however large the
    file grows); only then are the ids compared, against those rows alone. A run written in
    time order therefore never compares ids; a retried flush or a replay of the same run
    compares them within one flush's worth of rows.
    """
    ids = table.column("record_id")
    if pc.count_distinct(ids).as_py() < table.num_rows:
        _, first = np.unique(ids.to_numpy(zero_copy_only=False).astype(str), return_index=True)
        table = table.take(pa.array(np.sort(first)))
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

    def _raw_rows(
        self, rtype: RecordType, table: pa.Table, first_offset: int, created: int
    ) -> pa.Table:
        """``table`` with the raw table's ``__meta`` and ``__content`` columns (the latter null
        where DuckDB builds the canonical JSON itself)."""
        names = [*rtype.field_names, "__meta", "__content"]
        out = []
        for rb in table.to_batches():
            batch = Batch(rtype, rb)
            exact = sql_exact_rows(batch) if self._sql_json else np.zeros(rb.num_rows, bool)
            meta = metadata_json(batch, first_offset=first_offset, create_time_ms=created)
            content = content_fallback(batch, exact)
            out.append(
                pa.RecordBatch.from_arrays(
                    [*rb.columns, json_typed(meta), json_typed(content)], names=names
                )
            )
            first_offset += rb.num_rows
        return pa.Table.from_batches(out)

    def _inserts(self, rtype: RecordType) -> tuple[str, str]:
        """The two INSERT statements of a record type, from the relation ``ats_sink_rows``."""
        cols = ", ".join(f'"{n}"' for n in rtype.field_names)
        content = f"coalesce(__content, {content_sql(rtype)})" if self._sql_json else "__content"
        return (
            f"INSERT INTO {TYPED_TABLES[rtype.name]} SELECT {cols} FROM ats_sink_rows",
            f"INSERT INTO {RAW_TABLE} SELECT __meta, {content} FROM ats_sink_rows",
        )

    def _write(self, batches: list[Batch]) -> int:
        grouped: dict[str, list[pa.RecordBatch]] = {}
        for b in batches:
            grouped.setdefault(b.type.name, []).append(b.data)
        started = time.perf_counter()
        try:
            con = _connect(self.path, read_only=False, timeout_s=self.lock_timeout_s)
        except duckdb.Error as exc:
            raise self._classify(exc) from exc
        pending: dict[str, int] = {}
        written = 0
        committed = False
        created = wall_clock_ms()
        timings = dict.fromkeys(("connect", "dedupe", "encode", "insert", "commit"), 0.0)
        mark = time.perf_counter()
        timings["connect"] = mark - started

        def lap(step: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            timings[step] += now - mark
            mark = now

        try:
            con.execute("BEGIN TRANSACTION")
            for name, data in grouped.items():
                rtype = RECORD_TYPES[name]
                table = fresh_rows(
                    con, rtype, pa.Table.from_batches(data, schema=rtype.arrow_schema)
                )
                lap("dedupe")
                if table.num_rows == 0:
                    continue
                # one chunk: DuckDB scans one big Arrow batch faster than many small ones
                table = table.combine_chunks()
                start = self.offsets.next(rtype.topic) + pending.get(rtype.topic, 0)
                rows = self._raw_rows(rtype, table, start, created)
                lap("encode")
                con.register("ats_sink_rows", rows)
                for stmt in self._inserts(rtype):
                    con.execute(stmt)
                con.unregister("ats_sink_rows")
                lap("insert")
                pending[rtype.topic] = pending.get(rtype.topic, 0) + table.num_rows
                written += rows.nbytes
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
            lap("commit")
        for topic, n in pending.items():
            self.offsets.advance(topic, n)
        log.debug(
            "DuckDB sink: %d new of %d records in %.3fs (%s)",
            sum(pending.values()),
            sum(b.num_rows for b in batches),
            time.perf_counter() - started,
            ", ".join(f"{k} {v:.3f}s" for k, v in timings.items()),
        )
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
