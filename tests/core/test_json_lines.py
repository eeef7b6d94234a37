"""One canonical JSON per record: ``json_lines`` writes exactly what ``reference_json_lines`` writes.

``reference_json_lines`` is the definition (a dict per record, orjson). ``json_lines`` and
``json_lines_array`` build the same bytes a column at a time, by paths that differ with the
values (numbers through orjson's NumPy writer, strings as they are or escaped by orjson,
timestamps per run of equal values, one-value columns folded into the constant text, the
reference itself for batches below ``_VECTOR_MIN_ROWS``). These tests hold every path to the
definition: on real runs, on arbitrary values of every field kind (NaN, infinities, -0.0,
exponents, nulls, quotes, control characters, non-ASCII text, years 0 to 9999 and beyond), on
slices, and on batches of every size around the threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ats_sim
from ats_sim.json_lines import _VECTOR_MIN_ROWS
from ats_sim.records import (
    ALERT,
    RECORD_TYPES,
    STATION_EVENT,
    TELEMETRY,
    Batch,
    Field,
    RecordType,
    json_lines,
    json_lines_array,
    reference_json_lines,
)

#: Enough records that json_lines takes its vectorised path, not the reference one.
VECTOR_ROWS = st.integers(_VECTOR_MIN_ROWS, _VECTOR_MIN_ROWS + 40)


def assert_canonical(batch: Batch) -> None:
    """json_lines and json_lines_array give the reference bytes, record for record."""
    expected = reference_json_lines(batch)
    assert json_lines(batch) == expected
    array = json_lines_array(batch)
    assert array.type == pa.string() and len(array) == batch.num_rows
    assert array.cast(pa.binary()).to_pylist() == expected


@pytest.fixture(scope="module")
def disrupted_morning() -> list[Batch]:
    """All three record types, big telemetry batches and small alert batches."""
    return ats_sim.run("disruption", until="3h", seed=4, telemetry_interval_s=30).batches()


def test_every_record_of_a_real_run_is_canonical(disrupted_morning: list[Batch]) -> None:
    """Every batch of a run encodes to the reference bytes, whatever its size."""
    assert {b.type.name for b in disrupted_morning} == set(RECORD_TYPES)
    sizes = [b.num_rows for b in disrupted_morning]
    assert min(sizes) < _VECTOR_MIN_ROWS <= max(sizes), "both paths should be exercised"
    for b in disrupted_morning:
        assert_canonical(b)


def test_slices_of_a_batch_are_canonical(disrupted_morning: list[Batch]) -> None:
    """A slice (an Arrow offset into shared buffers) encodes only its own records."""
    big = max(disrupted_morning, key=lambda b: b.num_rows)
    assert big.num_rows > 3 * _VECTOR_MIN_ROWS
    for offset, length in [(0, _VECTOR_MIN_ROWS), (7, 100), (big.num_rows - 60, 60), (1, 1)]:
        assert_canonical(big.slice(offset, length))


def test_every_size_around_the_threshold_is_canonical(disrupted_morning: list[Batch]) -> None:
    """The reference path just below the threshold, the vectorised one from it."""
    big = max(disrupted_morning, key=lambda b: b.num_rows)
    for n in (0, 1, 2, _VECTOR_MIN_ROWS - 1, _VECTOR_MIN_ROWS, _VECTOR_MIN_ROWS + 1):
        assert_canonical(big.slice(3, n))
    assert json_lines(big.slice(0, 0)) == []


# -- arbitrary values ------------------------------------------------------------------------
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
_awkward_text = st.sampled_from(
    [
        "",
        'say "hi"',
        "back\\slash",
        "tab\there",
        "new\nline",
        "\x00\x1f\x7f",
        "Gare d'Été",
        "仅站台 😀",
    ]
)
_float = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(
    [0.0, -0.0, 3.0, -3.0, 1e-5, 9.999e-6, 1e-7, 5e-324, 1e10, 1e15, 1e16, 1e300, 0.1 + 0.2]
)
_int = st.integers(-(2**63), 2**63 - 1) | st.integers(-3, 3)
#: Epoch ms from before year 0 to after 9999, and the edges of the years 0-9999.
_ms = (
    st.integers(-80_000_000_000_000, 300_000_000_000_000)
    | st.integers(0, 4_000_000_000_000)
    | st.sampled_from(
        [-62_167_219_200_001, -62_167_219_200_000, 0, -1, 253_402_300_799_999, 253_402_300_800_000]
    )
)
_VALUES: dict[str, Any] = {
    "string": _text | _awkward_text,
    "int": _int,
    "float": _float,
    "bool": st.booleans(),
    "timestamp": _ms,
}


@st.composite
def columns(draw: st.DrawFn, rtype: RecordType, n: int) -> dict[str, list[Any]]:
    """Values of every field of ``rtype`` for ``n`` records, from a few drawn values per field.

    Each field draws 1 to 5 values (1: a constant column) and repeats them in a drawn order
    (sorted for a run-length pattern, or shuffled), so columns mix repeats, runs and changes.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    out: dict[str, list[Any]] = {}
    for f in rtype.fields:
        base = _VALUES[f.kind]
        values = draw(st.lists(st.none() | base if f.nullable else base, min_size=1, max_size=5))
        picks = rng.integers(0, len(values), n)
        if draw(st.booleans()):
            picks.sort()
        out[f.name] = [values[i] for i in picks]
    return out


@st.composite
def batches(draw: st.DrawFn, sizes: st.SearchStrategy[int] = VECTOR_ROWS) -> Batch:
    rtype = draw(st.sampled_from([TELEMETRY, STATION_EVENT, ALERT]))
    return Batch.from_columns(rtype, draw(columns(rtype, draw(sizes))))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_any_values_of_every_field_kind_are_canonical(batch: Batch) -> None:
    """Arbitrary values, repeated, sorted or shuffled, nulls where allowed: the reference bytes."""
    assert_canonical(batch)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(st.integers(1, _VECTOR_MIN_ROWS + 8)), st.data())
def test_slices_of_any_batch_are_canonical(batch: Batch, data: st.DataObject) -> None:
    """Any slice of any batch, whichever path its size takes."""
    offset = data.draw(st.integers(0, batch.num_rows - 1))
    length = data.draw(st.integers(0, batch.num_rows - offset))
    assert_canonical(batch.slice(offset, length))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_float, min_size=_VECTOR_MIN_ROWS, max_size=_VECTOR_MIN_ROWS + 30),
    st.lists(_int, min_size=1, max_size=4),
    st.lists(_text | _awkward_text, min_size=1, max_size=4),
)
def test_every_distinct_float_is_canonical(
    floats: list[float], ints: list[int], texts: list[str]
) -> None:
    """Station events whose float columns hold any values, none repeated on purpose."""
    n = len(floats)
    cols: dict[str, Any] = {
        f.name: [texts[i % len(texts)] for i in range(n)] for f in STATION_EVENT.fields
    }
    cols.update(
        {
            f.name: [ints[i % len(ints)] for i in range(n)]
            for f in STATION_EVENT.fields
            if f.kind == "int"
        }
    )
    cols["timestamp"] = np.arange(n, dtype=np.int64) * 1_234_567_891
    cols["dwell_s"] = floats
    cols["headway_s"] = [None if i % 3 == 0 else v for i, v in enumerate(reversed(floats))]
    cols["scheduled_headway_s"] = floats[::-1]  # the last field: its values carry no comma
    assert_canonical(Batch.from_columns(STATION_EVENT, cols))


def test_values_that_orjson_and_arrow_write_differently_are_spelled_out() -> None:
    """The values on which formatters disagree, each in a column that is not constant."""
    n = _VECTOR_MIN_ROWS
    odd_floats = [1e16, -0.0, math.nan, math.inf, -math.inf, 1e-7, 100.0, 1e10, 0.1 + 0.2, 5e-324]
    texts = ['T"1', None, "back\\slash", "tab\there", "é—仅", "\x00\x1f\x7f", "", "plain"]
    stamps = [0, -1, 86_399_999, 253_402_300_799_999, 253_402_300_800_000, -62_167_219_200_001]
    cols: dict[str, Any] = {f.name: [f"s{i}" for i in range(n)] for f in ALERT.fields}
    cols.update(
        {
            "schema_version": [1] * n,
            "timestamp": [stamps[i % len(stamps)] for i in range(n)],
            "train_id": [texts[i % len(texts)] for i in range(n)],
            "station_id": [texts[(i + 3) % len(texts)] for i in range(n)],
            "message": [texts[i % len(texts)] or "" for i in range(n)],
            "value": [odd_floats[i % len(odd_floats)] for i in range(n)],
            "threshold": [odd_floats[(i + 1) % len(odd_floats)] for i in range(n)],
        }
    )
    batch = Batch.from_columns(ALERT, cols)
    assert_canonical(batch)
    first = orjson.loads(json_lines(batch)[0])
    assert first["value"] == 1e16 and first["timestamp"] == "1970-01-01T00:00:00.000Z"


def test_columns_with_one_value_are_folded_but_not_confused() -> None:
    """Constant columns, columns equal but for one record, -0.0 next to 0.0, all-null columns."""
    n = _VECTOR_MIN_ROWS + 2
    cols: dict[str, Any] = {f.name: ["same"] * n for f in ALERT.fields}
    cols.update(
        {
            "schema_version": [1] * (n - 1) + [2],
            "timestamp": [1_700_000_000_000] * n,
            "train_id": [None] * n,
            "station_id": ["ab", "abab", "", "ab"] * (n // 4) + ["ab"] * (n % 4),
            "value": [0.0] * (n - 1) + [-0.0],
            "threshold": [math.nan] * n,
            "message": ["same"] * (n - 1) + ["samf"],
        }
    )
    assert_canonical(Batch.from_columns(ALERT, cols))


#: A record type of no simulation, with a nullable field of each kind the encoder treats apart.
NULLABLE = RecordType(
    "nullable",
    "Every kind of field, nullable.",
    (
        *(
            Field(f"{kind}_{i}", kind, f"a nullable {kind}", nullable=True)
            for i in range(2)
            for kind in ("string", "int", "float", "bool")
        ),
        Field("at", "timestamp", "never null"),
    ),
    topic="nullable",
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VECTOR_ROWS.flatmap(lambda n: columns(NULLABLE, n)))
def test_nulls_in_fields_of_every_kind_are_canonical(cols: dict[str, list[Any]]) -> None:
    """Nulls among ints, booleans, floats and strings (none, some or all of a column)."""
    assert_canonical(Batch.from_columns(NULLABLE, cols))


def test_every_record_type_is_covered() -> None:
    """The property tests draw from every record type there is (a new one must be added there)."""
    assert set(RECORD_TYPES) == {TELEMETRY.name, STATION_EVENT.name, ALERT.name}
