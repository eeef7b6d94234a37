"""The Kafka message value is the file sink's line, byte for byte, however it is computed.

The sink builds values column by column with Arrow (``sinks.kafka.encode_values``, tuned for
throughput); ``records.reference_json_lines`` builds them one dict at a time with orjson and is
the definition; ``records.json_lines`` is what the file sink writes. These tests hold the two together on
real runs and on values chosen to break formatting: floats with exponents, negative zero, NaN,
strings with quotes, control characters and non-ASCII text, nulls, timestamps around midnight
and before 1970.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ats_sim
from ats_sim.records import (
    ALERT,
    RECORD_TYPES,
    STATION_EVENT,
    TELEMETRY,
    Batch,
    json_lines,
    reference_json_lines,
)
from sinks.kafka import encode_values


def test_values_of_a_real_run_equal_json_lines() -> None:
    """Every record of the disrupted morning (all three record types) encodes to its json_lines bytes."""
    batches = ats_sim.run("disruption", until="3h", seed=4, telemetry_interval_s=30).batches()
    assert {b.type.name for b in batches} == {"telemetry", "station_event", "alert"}
    for b in batches:
        assert encode_values(b) == json_lines(b) == reference_json_lines(b)
    # also for slices (the sink encodes big batches in chunks)
    big = max(batches, key=lambda b: b.num_rows)
    assert encode_values(big.slice(7, 100)) == json_lines(big.slice(7, 100))


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_float = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from(
    [0.0, -0.0, 1e15, 1e16, 123456789012345.6, 1e-4, 1e-5, 9.999e-5, 1e-7, 100.0, 1e300, 5e-324]
)
_ms = st.integers(min_value=-2_000_000_000_000, max_value=4_000_000_000_000)


def _column(kind: str, nullable: bool, n: int, draw: st.DrawFn) -> list:
    base = {
        "string": _text,
        "int": st.integers(-(2**63), 2**63 - 1),
        "float": _float,
        "bool": st.booleans(),
        "timestamp": _ms,
    }[kind]
    values = draw(
        st.lists(
            st.none() | base if nullable and kind != "timestamp" else base, min_size=n, max_size=n
        )
    )
    return values


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    rtype = draw(st.sampled_from([TELEMETRY, STATION_EVENT, ALERT]))
    n = draw(st.integers(1, 8))
    cols = {f.name: _column(f.kind, f.nullable, n, draw) for f in rtype.fields}
    if draw(st.booleans()):  # the usual case: one run, one type, one version per batch
        cols["record_type"] = [rtype.name] * n
        cols["schema_version"] = [1] * n
    return Batch.from_columns(rtype, cols)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_values_of_any_batch_equal_json_lines(batch: Batch) -> None:
    """Arbitrary values of every field kind encode exactly as json_lines encodes them."""
    assert encode_values(batch) == json_lines(batch) == reference_json_lines(batch)


def test_awkward_values_encode_exactly() -> None:
    """The values that Arrow and orjson format differently are spelled out once."""
    rtype = ALERT
    n = 6
    cols = {f.name: ["x"] * n for f in rtype.fields if f.kind == "string"}
    cols.update(
        {
            "record_type": ["alert"] * n,
            "schema_version": [1] * n,
            "timestamp": [0, -1, 86_399_999, 1_700_000_000_000, 253_402_300_799_999, 1],
            "train_id": ['T"1', None, "back\\slash", "tab\there", "é—仅", "\x00\x1f\x7f"],
            "station_id": [None, None, "S", None, "S", "S"],
            "value": [1e16, -0.0, math.nan, math.inf, 1e-7, 100.0],
            "threshold": [1e15, 0.1 + 0.2, 1.5e300, -1e-320, 123456789.123, float(np.float32(0.1))],
        }
    )
    batch = Batch.from_columns(rtype, cols)
    assert encode_values(batch) == json_lines(batch) == reference_json_lines(batch)
    assert all(v.startswith(b'{"record_id":') for v in encode_values(batch))


def test_every_record_type_is_covered() -> None:
    """The property test draws from all record types there are (a new one must be added there)."""
    assert set(RECORD_TYPES) == {TELEMETRY.name, STATION_EVENT.name, ALERT.name}
