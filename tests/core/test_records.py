"""Records: one definition for Arrow, JSON Schema and SQL, and one canonical JSON per record."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
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


@pytest.fixture(scope="module")
def day_batches() -> list[Batch]:
    return ats_sim.run("disruption", until="5h", seed=5, telemetry_interval_s=20).batches()


def test_the_fast_encoder_writes_the_canonical_bytes_on_a_real_run(
    day_batches: list[Batch],
) -> None:
    assert {b.type.name for b in day_batches} == set(RECORD_TYPES)
    for b in day_batches:
        assert json_lines(b) == reference_json_lines(b)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=40),
    st.text(max_size=12),
)
def test_the_fast_encoder_matches_for_any_float_and_string(values: list[float], text: str) -> None:
    n = len(values)
    cols = {
        "record_id": [f"{text}-{i}" for i in range(n)],
        "record_type": ["alert"] * n,
        "schema_version": [1] * n,
        "run_id": [text] * n,
        "timestamp": np.arange(n, dtype=np.int64) * 1_234_567,
        "line_id": ["R"] * n,
        "alert_id": [text] * n,
        "alert_type": ["bunching"] * n,
        "state": ["raised"] * n,
        "severity": ["warning"] * n,
        "train_id": [None if i % 3 else text for i in range(n)],
        "station_id": [text if i % 2 else None for i in range(n)],
        "value": values,
        "threshold": [v / 3 if math.isfinite(v / 3) else 0.0 for v in values],
        "message": [text] * n,
    }
    batch = Batch.from_columns(ALERT, cols)
    assert json_lines(batch) == reference_json_lines(batch)


def test_json_lines_hold_every_field_in_schema_order(day_batches: list[Batch]) -> None:
    for b in day_batches:
        first = orjson.loads(json_lines(b)[0])
        assert list(first) == b.type.field_names
        assert first["timestamp"].endswith("Z") and len(first["timestamp"]) == 24


@pytest.mark.parametrize("rtype", [TELEMETRY, STATION_EVENT, ALERT])
def test_one_definition_gives_the_json_schema_and_the_sql_columns(
    rtype: ats_sim.records.RecordType,
) -> None:
    schema = rtype.json_schema()
    assert list(schema["properties"]) == rtype.field_names
    assert [c for c, _ in rtype.sql_columns("duckdb")] == [n.upper() for n in rtype.field_names]
    assert [c for c, _ in rtype.sql_columns("snowflake")] == [n.upper() for n in rtype.field_names]
    assert rtype.arrow_schema.names == rtype.field_names


def test_the_fields_existing_users_know_are_kept() -> None:
    legacy = {
        "timestamp",
        "train_id",
        "passenger_count",
        "total_weight_tons",
        "power_draw_kw",
        "speed_kmh",
        "latitude",
        "longitude",
        "is_overcrowded",
        "is_high_power_draw",
    }
    assert legacy <= set(TELEMETRY.field_names)
