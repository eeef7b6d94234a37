"""Fixtures for the sink tests: records from a short real run, and hand-made tricky records.

This folder's helper modules (``sink_contract``, ``view_dataset``) are imported by name, so the
folder is put on ``sys.path`` here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sink_contract import make_batch

import ats_sim
from ats_sim.records import Batch


@pytest.fixture(scope="session")
def run_batches() -> list[Batch]:
    """Every batch of the weekday scenario's first 40 minutes (10 s telemetry)."""
    result = ats_sim.run("weekday", until="40m", seed=5, telemetry_interval_s=10)
    batches = result.batches()
    assert {b.type.name for b in batches} >= {"telemetry", "station_event"}
    return batches


@pytest.fixture(scope="session")
def tricky_batches() -> list[Batch]:
    """Records that JSON and partitioning get wrong first: nulls, quotes, non-ASCII, midnight."""
    alerts = make_batch(
        "alert",
        [
            {
                "timestamp": "2024-06-01T23:59:59.999Z",
                "train_id": 'T"1',
                "station_id": None,
                "message": 'Zug "T1" überfüllt — 120 %\n\\ok',
            },
            {
                "timestamp": "2024-06-02T00:00:00.000Z",
                "train_id": None,
                "station_id": "S-9",
                "message": "仅站台",
            },
            {
                "timestamp": "2024-06-02T00:00:00.001Z",
                "train_id": None,
                "station_id": None,
                "value": -0.125,
                "threshold": 1e-3,
            },
        ],
        run_id="tricky",
        line_id="L9",
        alert_id="A",
        alert_type="bunching",
        state="raised",
        severity="info",
    )
    events = make_batch(
        "station_event",
        [
            {"timestamp": "2024-06-01T23:59:30Z", "headway_s": None},
            {"timestamp": "2024-06-02T00:00:30Z", "headway_s": 123.4},
        ],
        run_id="tricky",
        line_id="L9",
        train_id="T1",
        station_id="S-9",
        station_name="Gare d'Été",
        event="departure",
        scheduled_headway_s=300.0,
    )
    return [alerts, events]
