"""The file sink: JSON Lines or Parquet files, one file set per record type.

``file:///data/ats?format=parquet`` writes::

    /data/ats/<record_type>/date=YYYY-MM-DD/part-000000.parquet

partitioned by each record's UTC date. Every flush writes new, complete files: each one is
written under a hidden temporary name (``.part-000000.parquet.tmp``), fsynced, then linked to
its final name, so a reader that lists ``part-*`` files never sees half a file (pyarrow and
DuckDB skip names starting with ``.`` anyway). File names carry a sequence number per partition
that continues after the files already there; they never depend on the wall clock.

URL options (or keyword options of :func:`sinks.open_sink`):

* ``format``: ``jsonl`` (default) or ``parquet``;
* ``compression``: Parquet ``zstd`` (default), ``snappy``, ``gzip``, ``brotli``, ``lz4``,
  ``none``; JSON Lines ``none`` (default), ``gzip`` (``.jsonl.gz``) or ``zstd`` (``.jsonl.zst``);
* ``rotate_mb``: split a flush into files of about this many megabytes (default 128; JSON
  Lines: measured before compression; Parquet: estimated from the previous file's bytes per row);
* ``rotate_s``: write the buffered records to new files at least this often, in seconds of
  wall-clock time (default 60; the sink's ``batch_seconds``);
* ``batch_records``, ``max_retries``, ``retry_backoff_s``: as for every sink.

A path with three slashes is absolute (``file:///data/ats``); ``file://data/ats`` and
``file://./data/ats`` are relative to the working directory.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ats_sim.errors import ConfigError
from ats_sim.records import RECORD_TYPES, Batch, RecordType, json_lines
from sinks.base import Sink, TerminalSinkError, TransientSinkError
from sinks.url import SinkURL

__all__ = ["FileSink", "list_files", "local_path", "sink_options"]

_MS_PER_DAY = 86_400_000
#: One file to write: (UTC day number, its records, its JSON Lines bytes or None for Parquet).
_File = tuple[int, Batch, bytes | None]
_PARQUET_CODECS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")
_JSONL_CODECS = {"none": "", "gzip": ".gz", "zstd": ".zst"}
_BASE_OPTIONS: dict[str, type] = {
    "batch_records": int,
    "batch_seconds": float,
    "max_retries": int,
    "retry_backoff_s": float,
}
#: errno values that retrying cannot fix.
_TERMINAL_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENOENT,
}


def local_path(url: SinkURL) -> Path:
    """The filesystem path a ``scheme://PATH`` URL names (three slashes: absolute)."""
    rest = url.raw.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
    if not rest:
        raise ConfigError(
            f"sink URL {url.redacted()!r} has no path; expected e.g. {url.scheme}:///data/ats"
            + (".duckdb" if url.scheme == "duckdb" else "")
        )
    return Path(os.path.expanduser(unquote(rest)))


def sink_options(url: SinkURL, options: dict[str, Any], known: dict[str, type]) -> dict[str, Any]:
    """Merge the URL's query options with keyword ``options`` (which win), typed and checked."""
    allowed = {**_BASE_OPTIONS, **known}
    merged: dict[str, Any] = dict(url.query)
    merged.update(options)
    unknown = sorted(set(merged) - set(allowed))
    if unknown:
        raise ConfigError(
            f"sink URL {url.redacted()!r}: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    out: dict[str, Any] = {}
    for name, value in merged.items():
        kind = allowed[name]
        try:
            out[name] = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"sink URL {url.redacted()!r}: {name}={value!r} is not a valid {kind.__name__}"
            ) from None
        if kind in (int, float) and out[name] < 0:
            raise ConfigError(f"sink URL {url.redacted()!r}: {name} must not be negative")
    return out


def list_files(root: str | os.PathLike[str], record_type: str) -> list[Path]:
    """The finished files of one record type under ``root``, in (date, sequence) order."""
    base = Path(root) / record_type
    return sorted(p for p in base.glob("date=*/part-*") if p.is_file())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, folder: Path, seq: int, ext: str) -> tuple[Path, int]:
    """Link ``tmp`` to the first free ``part-<seq>`` name (never overwriting), drop ``tmp``."""
    while True:
        final = folder / f"part-{seq:06d}{ext}"
        try:
            os.link(tmp, final)
            break
        except FileExistsError:
            seq += 1
    os.unlink(tmp)
    _fsync_dir(folder)
    return final, seq


class FileSink(Sink):
    """Writes JSON Lines (the exact Kafka message values) or typed, zstd-compressed Parquet.

    Delivery: exactly once per flush. ``flush()`` returns once every buffered record is in a
    complete, fsynced file under its final name; a flush retried after a failure skips the
    files it already finished. Records still buffered when the process dies are lost.
    """

    scheme = "file"
    delivery = "exactly once; each flush leaves complete, fsynced files"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        format: str = "jsonl",
        compression: str | None = None,
        rotate_mb: float = 128.0,
        rotate_s: float = 60.0,
        **kw: Any,
    ) -> None:
        kw.setdefault("batch_seconds", rotate_s)
        super().__init__(**kw)
        if format not in ("jsonl", "parquet"):
            raise ConfigError(
                f"file sink: format={format!r} is not supported; use jsonl or parquet"
            )
        codecs = _PARQUET_CODECS if format == "parquet" else tuple(_JSONL_CODECS)
        compression = compression or ("zstd" if format == "parquet" else "none")
        if compression not in codecs:
            raise ConfigError(
                f"file sink: compression={compression!r} is not supported for {format}; "
                f"use one of {', '.join(codecs)}"
            )
        if rotate_mb <= 0:
            raise ConfigError("file sink: rotate_mb must be greater than 0")
        self.root = Path(root)
        self.format = format
        self.compression = compression
        self.rotate_bytes = int(rotate_mb * 1_000_000)
        self.ext = ".parquet" if format == "parquet" else ".jsonl" + _JSONL_CODECS[compression]
        self._next_seq: dict[Path, int] = {}
        self._bytes_per_row: dict[str, float] = {}
        # (the batch list being written, its files, the indexes of those finished)
        self._progress: tuple[list[Batch] | None, list[_File], set[int]] = (None, [], set())
        self._check_writable()

    @classmethod
    def from_url(cls, url: SinkURL, **options: Any) -> Self:
        """``file:///dir?format=jsonl|parquet&compression=..&rotate_mb=..&rotate_s=..``."""
        opts = sink_options(
            url, options, {"format": str, "compression": str, "rotate_mb": float, "rotate_s": float}
        )
        return cls(local_path(url), **opts)

    def describe(self) -> str:
        return f"file:{self.root} ({self.format})"

    # -- writing ------------------------------------------------------------------------------
    def _check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}.tmp"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise TerminalSinkError(
                f"file sink: cannot write to {self.root}: {exc.strerror or exc}"
            ) from None

    def _write(self, batches: list[Batch]) -> int:
        # A retry gets the same list: reuse its plan and skip the files already finished.
        if self._progress[0] is not batches:
            self._progress = (batches, self._plan(batches), set())
        _, plan, done = self._progress
        written = 0
        try:
            for index, (day, chunk, payload) in enumerate(plan):
                if index in done:
                    continue
                written += self._write_file(chunk, day, payload)
                done.add(index)
        except OSError as exc:
            cls = TerminalSinkError if exc.errno in _TERMINAL_ERRNOS else TransientSinkError
            raise cls(f"file sink: writing under {self.root} failed: {exc}") from exc
        self._progress = (None, [], set())
        return written

    def _plan(self, batches: list[Batch]) -> list[_File]:
        """One flush's files: per record type and UTC date, split to stay near ``rotate_mb``."""
        grouped: dict[str, list[pa.RecordBatch]] = {}
        for b in batches:
            grouped.setdefault(b.type.name, []).append(b.data)
        plan: list[_File] = []
        for name, data in grouped.items():
            rtype = RECORD_TYPES[name]
            table = pa.Table.from_batches(data, schema=rtype.arrow_schema).combine_chunks()
            if table.num_rows == 0:
                continue
            for day, part in self._by_date(Batch(rtype, table.to_batches()[0])):
                plan.extend((day, chunk, payload) for chunk, payload in self._chunks(part))
        return plan

    @staticmethod
    def _by_date(batch: Batch) -> list[tuple[int, Batch]]:
        """Split a batch by the UTC date of its records (day number since the epoch)."""
        ts = batch.data.column(batch.type.field_names.index("timestamp"))
        days = ts.cast(pa.int64()).to_numpy(zero_copy_only=False) // _MS_PER_DAY
        first = int(days[0])
        if (days == first).all():
            return [(first, batch)]
        out = []
        for day in np.unique(days):
            idx = np.flatnonzero(days == day)
            out.append((int(day), Batch(batch.type, batch.data.take(pa.array(idx, pa.int64())))))
        return out

    def _folder(self, rtype: RecordType, day: int) -> tuple[Path, int]:
        date = np.datetime64(day, "D").astype(str)
        folder = self.root / rtype.name / f"date={date}"
        if folder not in self._next_seq:
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                _fsync_dir(folder.parent)
            taken = [
                int(m.group(1)) for p in folder.iterdir() if (m := re.match(r"part-(\d+)", p.name))
            ]
            self._next_seq[folder] = max(taken, default=-1) + 1
        return folder, self._next_seq[folder]

    def _chunks(self, batch: Batch) -> list[tuple[Batch, bytes | None]]:
        """Split ``batch`` into files of about ``rotate_mb``: exactly (uncompressed) for JSON
        Lines, whose bytes are made here; for Parquet, from the bytes per row of the last file."""
        if self.format == "jsonl":
            lines = json_lines(batch)
            sizes = np.fromiter((len(line) + 1 for line in lines), dtype=np.int64, count=len(lines))
            starts = np.cumsum(sizes) - sizes
            file_no = (
                starts // self.rotate_bytes
            )  # a file ends after the line that crosses the size
            bounds = [0, *(np.flatnonzero(np.diff(file_no)) + 1).tolist(), len(lines)]
            return [
                (batch.slice(a, b - a), b"\n".join(lines[a:b]) + b"\n")
                for a, b in itertools.pairwise(bounds)
            ]
        bpr = self._bytes_per_row.get(batch.type.name)
        if bpr is None:  # first guess: zstd Parquet is 7-9 times smaller than Arrow here
            bpr = batch.data.nbytes / max(batch.num_rows, 1) / 8
        rows = max(1, int(self.rotate_bytes / max(bpr, 1e-9)))
        return [(batch.slice(i, rows), None) for i in range(0, batch.num_rows, rows)]

    def _write_file(self, chunk: Batch, day: int, payload: bytes | None) -> int:
        folder, seq = self._folder(chunk.type, day)
        tmp = folder / f".part-{seq:06d}{self.ext}.{os.getpid()}.tmp"
        if payload is None:
            size = self._write_parquet(tmp, chunk)
        else:
            size = self._write_jsonl(tmp, payload)
        _, seq = _publish(tmp, folder, seq, self.ext)
        self._next_seq[folder] = seq + 1
        self._bytes_per_row[chunk.type.name] = size / max(chunk.num_rows, 1)
        return size

    def _write_jsonl(self, tmp: Path, payload: bytes) -> int:
        if self.compression == "none":
            with open(tmp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        else:
            with pa.CompressedOutputStream(str(tmp), self.compression) as out:
                out.write(payload)
            self._fsync(tmp)
        return tmp.stat().st_size

    def _write_parquet(self, tmp: Path, batch: Batch) -> int:
        codec = None if self.compression == "none" else self.compression
        table = pa.Table.from_batches([batch.data], schema=batch.type.arrow_schema)
        pq.write_table(table, tmp, compression=codec, row_group_size=131_072)
        self._fsync(tmp)
        return tmp.stat().st_size

    @staticmethod
    def _fsync(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
