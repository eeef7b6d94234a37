"""Arrow string columns the engine writes for every record, built from their bytes.

A window holds thousands of telemetry records whose string columns repeat a few values (the
run id, the record type) or follow one pattern (the record id
``<run_id>-T-<train_id>-<epoch ms>``). Building them with generic kernels costs more than the
simulation of the window; here they are laid out as byte matrices with NumPy and handed to
Arrow as buffers. Each function gives exactly the strings the generic way gives (the tests
hold them to it).

The same goes for the columns that name a line, train, trip, station or status by code: where
every string a column can hold has one width, its rows are gathered from the strings' bytes
(:class:`Codebook`, :func:`take_strings`), several times faster than Arrow's ``take``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "Codebook",
    "constant",
    "id_strings",
    "take_strings",
    "telemetry_id_matrix",
    "telemetry_ids",
]


def constant(value: str, n: int) -> pa.StringArray:
    """A string column holding ``value`` ``n`` times."""
    raw = value.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * len(raw)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(raw * n))


def id_strings(matrix: np.ndarray) -> pa.StringArray:
    """One string per row of a ``uint8`` matrix (every string as wide as the matrix)."""
    n, width = matrix.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix))
    )


class Codebook:
    """Strings that records name by their position in a list that only grows at its end (a
    line's train or trip ids, as a run adds them). The list is shared, not copied: its owner
    appends to it, and the book encodes what was added when it is next used."""

    __slots__ = ("_arrow", "_data", "_done", "_width", "strings")

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings
        self._done = 0
        self._width: int | None = None  # of every string's bytes; -1 when they differ
        self._data = b""
        self._arrow: pa.StringArray = pa.array([], pa.string())

    def _update(self) -> None:
        new = self.strings[self._done :]
        self._done = len(self.strings)
        if not new or self._width == -1:
            return
        raw = [s.encode() for s in new]
        width = len(raw[0]) if self._width is None else self._width
        if width > 0 and all(len(b) == width for b in raw):
            self._width = width
            self._data += b"".join(raw)
        else:
            self._width, self._data = -1, b""

    def _encoded(self) -> tuple[int, bytes] | None:
        """The width and bytes of every string, or ``None`` where they are not of one width."""
        self._update()
        if self._width is None or self._width < 0:
            return None
        return self._width, self._data

    def arrow(self) -> pa.StringArray:
        """Every string as an Arrow column (extended, not rebuilt, as strings are added)."""
        done = len(self._arrow)
        if done < len(self.strings):
            new = pa.array(self.strings[done:], pa.string())
            self._arrow = pa.concat_arrays([self._arrow, new]) if done else new
        return self._arrow


def take_strings(books: Sequence[Codebook], codes: np.ndarray) -> pa.StringArray:
    """``strings[codes[i]]`` for every i, where ``strings`` is the books' strings one after
    the other: rows of their bytes where all are of one width, else Arrow's ``take``."""
    encoded = [e for b in books if (e := b._encoded()) is not None]
    widths = {width for width, _ in encoded}
    if len(encoded) == len(books) and len(widths) == 1:
        matrix = np.frombuffer(b"".join(data for _, data in encoded), np.uint8)
        return id_strings(np.take(matrix.reshape(-1, widths.pop()), codes, 0))
    arrays = [b.arrow() for b in books]
    table = arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
    out: pa.StringArray = table.take(pa.array(codes, pa.int64()))
    return out


def _generic_ids(
    run_id: str, train_ids: Sequence[str], train: np.ndarray, ts_ms: np.ndarray
) -> pa.StringArray:
    names = pa.array(list(train_ids), pa.string()).take(pa.array(train, pa.int64()))
    stamps = pa.array(ts_ms, pa.int64()).cast(pa.string())
    out: pa.StringArray = pc.binary_join_element_wise(run_id, "T", names, stamps, "-")
    return out


def telemetry_ids(
    run_id: str, train_ids: Sequence[str], train: np.ndarray, ts_ms: np.ndarray
) -> pa.StringArray:
    """``f"{run_id}-T-{train_ids[train[i]]}-{ts_ms[i]}"`` for every i."""
    matrix = telemetry_id_matrix(run_id, train_ids, train, ts_ms)
    if matrix is None:
        return _generic_ids(run_id, train_ids, train, ts_ms)
    return id_strings(matrix)


def telemetry_id_matrix(
    run_id: str, train_ids: Sequence[str], train: np.ndarray, ts_ms: np.ndarray
) -> np.ndarray | None:
    """The ids of :func:`telemetry_ids` as a ``uint8`` matrix, one id per row, or ``None``
    where they are not all of one width (train ids of different widths, timestamps of
    different digit counts) or ``ts_ms`` is not in ascending order (as telemetry is, tick by
    tick: each distinct timestamp is written out once)."""
    n = len(ts_ms)
    names = [t.encode() for t in train_ids]
    width = len(names[0]) if names else 0
    if n == 0 or width == 0 or any(len(b) != width for b in names) or ts_ms[0] <= 0:
        return None
    digits = len(str(int(ts_ms[0])))
    if len(str(int(ts_ms[-1]))) != digits or np.any(ts_ms[1:] < ts_ms[:-1]):
        return None
    prefix = np.frombuffer(f"{run_id}-T-".encode(), np.uint8)
    p, w = len(prefix), width
    total = p + w + 1 + digits
    # One row per distinct timestamp, every byte but the train id's...
    starts = np.flatnonzero(np.concatenate(([True], ts_ms[1:] != ts_ms[:-1])))
    rows = np.empty((len(starts), total), np.uint8)
    rows[:, :p] = prefix
    rows[:, p + w] = ord("-")
    value = ts_ms[starts].copy()
    for i in range(total - 1, p + w, -1):
        rows[:, i] = value % 10 + ord("0")
        value //= 10
    # ... repeated for each of its records (rows as single items: one copy each), then the
    # train ids written in.
    run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
    matrix = np.take(rows.view(f"V{total}").ravel(), run).view(np.uint8).reshape(n, total)
    names_v = np.frombuffer(b"".join(names), f"V{w}")
    matrix[:, p : p + w] = np.take(names_v, train).view(np.uint8).reshape(n, w)
    return matrix
