"""The canonical JSON line of each record: the message value of the file and Kafka sinks.

:func:`reference_json_lines` says what the bytes are (orjson over each record's values, ISO
timestamps with milliseconds and ``Z``); :func:`json_lines_array` writes the same bytes a column
at a time, several times faster, and is what the sinks use. Tests hold the two byte-equal.
Import these from :mod:`ats_sim.records`, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from ats_sim.records import Batch, Field, RecordType

__all__ = ["iter_json_lines", "json_lines", "json_lines_array", "reference_json_lines"]


def _iso_ms(ms: np.ndarray) -> list[str]:
    """Epoch milliseconds to ``YYYY-MM-DDTHH:MM:SS.mmmZ`` strings."""
    return [s + "Z" for s in np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").tolist()]


def _column_values(f: Field, arr: pa.Array) -> list[Any]:
    if f.kind == "timestamp":
        return _iso_ms(arr.cast(pa.int64()).to_numpy(zero_copy_only=False))
    return arr.to_pylist()


def reference_json_lines(batch: Batch) -> list[bytes]:
    """The canonical JSON lines, the obvious way (a dict per record, orjson).

    This defines the canonical form; :func:`json_lines` produces the same bytes many times
    faster and the tests hold the two to each other.
    """
    names = batch.type.field_names
    cols = [_column_values(f, batch.data.column(i)) for i, f in enumerate(batch.type.fields)]
    dumps = orjson.dumps
    return [dumps(dict(zip(names, row, strict=True))) for row in zip(*cols, strict=True)]


# ---- the fast encoder: the same bytes, a column at a time, joined once per batch ------------
# Each column becomes Arrow strings (or one text, when the whole batch holds one value), and one
# ``binary_join_element_wise`` interleaves them with the constant text ('{"record_id":"' ...):
#
# * numbers and booleans: one orjson call writes every such column from NumPy, with the very
#   writer it uses for one value (NaN and infinities are null, 1e16 is "1e16", -0.0 is "-0.0");
#   each value keeps the comma after it, the separator before the next field, and the columns
#   are slices of one Arrow array over orjson's bytes;
# * strings: the Arrow column itself, its quotes in the constant text, once one pass over its
#   bytes finds no quote, backslash or control character (otherwise orjson quotes each value);
# * timestamps: formatted once per run of equal values (a telemetry tick stamps every train
#   alike), by NumPy as the reference does, or by Arrow's zone-less cast for many values;
# * a column holding one value throughout the batch is folded into the constant text.
#
# Whatever falls outside these paths (null ints and booleans, years before 0 or after 9999) is
# written by the reference code itself, value by value; so are batches too small to repay the
# set-up of a few microseconds per column (the reference costs about four per record).

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_COMMA = ord(",")
#: Below this many records a batch is encoded by :func:`reference_json_lines` (it is faster).
_VECTOR_MIN_ROWS = 48
#: Epoch milliseconds of 0000-01-01 and 10000-01-01: Arrow and NumPy agree on the years between.
_TS_MIN_MS, _TS_MAX_MS = -62_167_219_200_000, 253_402_300_800_000
_TS_WIDTH = len("2026-03-10T05:30:00.000")
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
#: NumPy type of each number kind (None: Arrow packs booleans in bits, NumPy cannot view them).
_NUMBER_KINDS: dict[str, type | None] = {"int": np.int64, "float": np.float64, "bool": None}
#: Every byte that a JSON string may hold as it is (not a quote, backslash or control byte).
_PLAIN_BYTES = bytes(b for b in range(256) if b >= 0x20 and b not in (0x22, 0x5C))

#: What a column adds to the line: one text for every record, or Arrow arrays between texts.
_Column = str | list[str | pa.Array]
#: Arrow scalars of the constant texts seen so far (making one costs more than a join).
_SCALARS: dict[str, pa.Scalar] = {}
#: '"name":' of each field of each record type seen, by ``id`` (the type is kept alive with it).
_NAMES: dict[int, tuple[RecordType, list[str]]] = {}


def _scalar(text: str) -> pa.Scalar:
    scalar = _SCALARS.get(text)
    if scalar is None:
        if len(_SCALARS) >= 4096:
            _SCALARS.clear()
        scalar = _SCALARS[text] = pa.scalar(text, pa.string())
    return scalar


def _names_json(rtype: RecordType) -> list[str]:
    known = _NAMES.get(id(rtype))
    if known is None or known[0] is not rtype:
        names = [orjson.dumps(name).decode() + ":" for name in rtype.field_names]
        known = _NAMES[id(rtype)] = (rtype, names)
    return known[1]


def _reference_texts(f: Field, col: pa.Array) -> pa.Array:
    """The JSON of each value exactly as :func:`reference_json_lines` writes it (slow, rare)."""
    dumps = orjson.dumps
    return pa.array([dumps(v).decode() for v in _column_values(f, col)], pa.string())


def _strings_array(n: int, offsets: np.ndarray, data: np.ndarray | pa.Buffer) -> pa.Array:
    buffer = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), buffer)


# -- strings ----------------------------------------------------------------------------------
def _all_equal(first: np.ndarray, raw: np.ndarray, offsets: np.ndarray) -> bool:
    """Whether every string (``raw`` split at ``offsets``) is ``first``, its first one."""
    width = len(first)
    if len(raw) != width * (len(offsets) - 1):
        return False
    if first.tobytes() != raw[len(raw) - width :].tobytes() or (np.diff(offsets) != width).any():
        return False
    return width == 0 or bool((raw.reshape(-1, width) == first).all())


def _plain(raw: np.ndarray) -> bool:
    """Whether ``raw`` holds no byte that a JSON string must escape."""
    if len(raw) < 32768:  # one call, for small columns
        return not raw.tobytes().translate(None, _PLAIN_BYTES)
    return not ((raw < 0x20) | (raw == 0x22) | (raw == 0x5C)).any()


def _strings(col: pa.Array) -> _Column:
    n, nulls = len(col), col.null_count
    if nulls == n:
        return "null"
    _, offsets_buf, data_buf = col.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1, col.offset * 4)
    start = int(offsets[0])
    raw = np.frombuffer(data_buf, np.uint8)[start : offsets[-1]] if data_buf else np.zeros(0, "B")
    if not nulls:
        first = raw[: offsets[1] - start]
        if _all_equal(first, raw, offsets):
            return orjson.dumps(first.tobytes().decode()).decode()
    clean = _plain(raw)
    if clean and not nulls:
        return ['"', col, '"']
    out = pc.binary_join_element_wise('"', col, '"', "")
    if not clean:
        bad = pc.fill_null(pc.match_substring_regex(col, _NEEDS_ESCAPE), False)
        fixed = [orjson.dumps(v).decode() for v in col.filter(bad).to_pylist()]
        out = pc.replace_with_mask(out, bad, pa.array(fixed, pa.string()))
    return [pc.fill_null(out, "null") if nulls else out]


# -- timestamps -------------------------------------------------------------------------------
def _timestamp_matrix(ms: np.ndarray) -> np.ndarray | None:
    """``YYYY-MM-DDTHH:MM:SS.mmm`` of each epoch ms, one row of bytes each (None: not that width)."""
    if len(ms) <= 32:  # NumPy, as the reference: cheap to start, slow per value
        iso = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")
        return np.frombuffer(iso.astype(f"S{_TS_WIDTH}").tobytes(), np.uint8).reshape(-1, _TS_WIDTH)
    text = pa.array(ms, pa.int64()).cast(pa.timestamp("ms")).cast(pa.string())  # "... 05:30:..."
    _, offsets_buf, data_buf = text.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, len(ms) + 1)
    if offsets[-1] - offsets[0] != _TS_WIDTH * len(ms):
        return None
    data = np.frombuffer(data_buf, np.uint8)[offsets[0] : offsets[-1]]
    matrix = data.reshape(-1, _TS_WIDTH).copy()
    matrix[:, 10] = ord("T")
    return matrix


def _timestamps(f: Field, col: pa.Array) -> _Column:
    n = len(col)
    if col.null_count:
        return [_reference_texts(f, col)]
    ms = np.frombuffer(col.buffers()[1], np.int64, n, col.offset * 8)
    if ms.min() < _TS_MIN_MS or ms.max() >= _TS_MAX_MS:
        return [_reference_texts(f, col)]
    change = ms[1:] != ms[:-1]
    runs = int(np.count_nonzero(change)) + 1
    if runs == 1:
        return orjson.dumps(_iso_ms(ms[:1])[0]).decode()
    if runs * 2 <= n:  # format each run's value once, then repeat it
        matrix = _timestamp_matrix(ms[np.concatenate(([True], change)).nonzero()[0]])
        if matrix is not None:
            matrix = matrix[np.cumsum(np.concatenate(([0], change)))]
    else:
        matrix = _timestamp_matrix(ms)
    if matrix is None:
        return [_reference_texts(f, col)]
    offsets = np.arange(0, _TS_WIDTH * (n + 1), _TS_WIDTH, dtype=np.int32)
    return ['"', _strings_array(n, offsets, matrix.reshape(-1)), 'Z"']


# -- numbers and booleans ---------------------------------------------------------------------
def _with_commas(columns: list[np.ndarray]) -> list[pa.Array]:
    """orjson's text of each value of NumPy columns, each value followed by ','.

    One orjson call writes every column: ``[[a0,a1],[b0,b1]]``. With each column's ']' made a
    ',' every value ends at the comma after it; the two bytes ``,[`` between columns make one
    filler value, so that one Arrow array holds them all and each column is a slice of it.
    """
    k, n = len(columns), len(columns[0])
    data = np.frombuffer(orjson.dumps(columns, option=_NUMPY), np.uint8).copy()
    # the commas: n - 1 inside each column, then one after its ']' (the last: the final ']')
    commas = np.append((data == _COMMA).nonzero()[0], len(data) - 1).reshape(k, n)
    ends = commas + 1  # the value ends, the comma included
    ends[:, -1] -= 1  # each column's last value ends with its ']' ...
    data[ends[:, -1] - 1] = _COMMA  # ... now a comma
    offsets = np.empty((k, n + 1), np.int32)
    offsets[:, 1:] = ends
    offsets[0, 0] = 2  # after "[["
    offsets[1:, 0] = ends[:-1, -1] + 2  # after "]," and "[" (now ",,[")
    joined = _strings_array(k * (n + 1) - 1, offsets.reshape(-1), data)
    return [joined.slice(j * (n + 1), n) for j in range(k)]


def _without_commas(values: np.ndarray) -> pa.Array:
    """orjson's text of each value of one NumPy column, nothing after it."""
    raw = np.frombuffer(orjson.dumps(values, option=_NUMPY), np.uint8)[1:-1]
    commas = (raw == _COMMA).nonzero()[0]
    offsets = np.empty(len(values) + 1, np.int32)
    offsets[0] = 0
    offsets[1:-1] = commas - np.arange(len(commas))  # value ends once the commas are gone
    offsets[-1] = len(raw) - len(commas)
    return _strings_array(len(values), offsets, raw[raw != _COMMA])


def _numbers(fields: tuple[Field, ...], batch: pa.RecordBatch) -> dict[int, tuple[_Column, bool]]:
    """Every int, float and bool column by index: its text or arrays, and whether each value
    ends with the comma that separates it from the next field (never so for the last field)."""
    out: dict[int, tuple[_Column, bool]] = {}
    group: list[tuple[int, np.ndarray]] = []
    last = len(fields) - 1
    for i, f in enumerate(fields):
        if f.kind not in _NUMBER_KINDS:
            continue
        col = batch.column(i)
        n, nulls = len(col), col.null_count
        if nulls == n:
            out[i] = "null", False
            continue
        if nulls and f.kind != "float":  # a null float is NaN in NumPy, and both are "null"
            out[i] = [_reference_texts(f, col)], False
            continue
        if f.kind == "bool" or nulls:
            values = col.to_numpy(zero_copy_only=False)
        else:
            values = np.frombuffer(col.buffers()[1], _NUMBER_KINDS[f.kind], n, col.offset * 8)
        bits = values.view(np.int64) if f.kind == "float" else values  # -0.0 is not 0.0
        if not nulls and bits[0] == bits[-1] and (bits == bits[0]).all():
            out[i] = orjson.dumps(values[:1], option=_NUMPY)[1:-1].decode(), False
        elif i == last:
            out[i] = [_without_commas(values)], False
        else:
            group.append((i, values))
    if group:
        arrays = _with_commas([values for _, values in group])
        for (i, _), array in zip(group, arrays, strict=True):
            out[i] = [array], True
    return out


def json_lines_array(batch: Batch) -> pa.Array:
    """The canonical JSON value of each record, as an Arrow string array.

    Byte for byte :func:`reference_json_lines` (tested on real runs and arbitrary values),
    built without a Python loop per record.
    """
    n = batch.num_rows
    if n < _VECTOR_MIN_ROWS:
        return pa.array(reference_json_lines(batch), pa.binary()).cast(pa.string())
    fields, data = batch.type.fields, batch.data
    numbers = _numbers(fields, data)
    parts: list[pa.Array | pa.Scalar] = []
    text = "{"  # constant text before the next column's values
    for i, (f, name) in enumerate(zip(fields, _names_json(batch.type), strict=True)):
        text += name
        comma = False
        if f.kind == "string":
            column = _strings(data.column(i))
        elif f.kind == "timestamp":
            column = _timestamps(f, data.column(i))
        else:
            column, comma = numbers[i]
        if isinstance(column, str):
            text += column
        else:
            for part in column:
                if isinstance(part, str):
                    text += part
                else:
                    parts += [_scalar(text), part]
                    text = ""
        text += "" if comma else ","
    text = text[:-1] + "}"
    if not parts:  # every column holds one value
        return pa.array([text] * n, pa.string())
    joined: pa.Array = pc.binary_join_element_wise(*parts, _scalar(text), _scalar(""))
    return joined


def json_lines(batch: Batch) -> list[bytes]:
    """The canonical JSON value of each record (no trailing newline), fields in schema order.

    This is exactly what the file sink writes per line and the Kafka sink sends as the
    message value, so every sink sees byte-identical records.
    """
    if batch.num_rows < _VECTOR_MIN_ROWS:
        return reference_json_lines(batch)
    values: list[bytes] = json_lines_array(batch).cast(pa.binary()).to_pylist()
    return values


def iter_json_lines(batches: Sequence[Batch]) -> Iterator[bytes]:
    """Every record of ``batches`` as a canonical JSON line."""
    for b in batches:
        yield from json_lines(b)
