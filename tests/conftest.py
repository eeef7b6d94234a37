"""Shared fixtures: small, fast runs of the built-in scenarios, computed once per session."""

from __future__ import annotations

import pytest

import ats_sim
from ats_sim.api import RunResult


@pytest.fixture(scope="session")
def morning_peak() -> RunResult:
    """The weekday scenario from the start of service to 09:30, 10 s telemetry."""
    return ats_sim.run("weekday", until="4h", seed=11, telemetry_interval_s=10)


@pytest.fixture(scope="session")
def disrupted_peak() -> RunResult:
    """The disruption scenario (a train held 8 minutes at Central at 08:10) up to 10:00."""
    return ats_sim.run("disruption", until="4h30m", seed=11, telemetry_interval_s=10)
