"""Arrow string columns the engine writes for every record, built from their bytes.

A window holds thousands of telemetry records whose string columns repeat a few values (the
run id, the record type) or follow one pattern (the record id
``<run_id>-T-<train_id>-<epoch ms>``). Building them with generic kernels costs more than the
simulation of the window; here they are laid out as byte matrices with NumPy and handed to
Arrow as buffers. Each function gives exactly the strings the generic way gives (the tests
hold them to it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["constant", "id_strings", "telemetry_id_matrix", "telemetry_ids"]


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
    matrix = np.empty((n, p + w + 1 + digits), np.uint8)
    matrix[:, :p] = prefix
    matrix[:, p : p + w] = np.take(
        np.frombuffer(b"".join(names), np.uint8).reshape(-1, w), train, 0
    )
    matrix[:, p + w] = ord("-")
    # The digits of each distinct timestamp, then one row per record.
    starts = np.flatnonzero(np.concatenate(([True], ts_ms[1:] != ts_ms[:-1])))
    value = ts_ms[starts].copy()
    table = np.empty((len(starts), digits), np.uint8)
    for i in range(digits - 1, -1, -1):
        table[:, i] = value % 10 + ord("0")
        value //= 10
    run = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))
    matrix[:, p + w + 1 :] = np.take(table, run, 0)  # take: rows several times faster than [run]
    return matrix
