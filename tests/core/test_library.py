"""The library entry point: a short path from import to DataFrame, and no drivers on import."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pyarrow as pa

import ats_sim
from ats_sim.records import TELEMETRY, Batch


def test_importing_ats_sim_or_sinks_imports_no_sink_driver() -> None:
    code = (
        "import sys, ats_sim, sinks, ats_sim.cli.main\n"
        "heavy = [m for m in ('duckdb', 'confluent_kafka', 'snowflake', 'streamlit', 'fakesnow') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_run_returns_dataframes_of_each_record_type() -> None:
    result = ats_sim.run("weekday", until="45m", seed=2)
    assert isinstance(result.telemetry, pd.DataFrame)
    assert list(result.telemetry.columns) == TELEMETRY.field_names
    assert str(result.telemetry["timestamp"].dt.tz) == "UTC"
    assert len(result.events) > 0
    assert isinstance(result.arrow("alert"), pa.Table)
    assert "weekday" in repr(result) and "<table>" in result._repr_html_()


def test_a_run_can_hand_batches_to_a_callable_instead_of_keeping_them() -> None:
    seen: list[Batch] = []
    result = ats_sim.run("weekday", until="30m", seed=2, emit=seen.append)
    assert sum(b.num_rows for b in seen) == sum(result.summary.records.values()) > 0
    assert result.batches() == []


def test_until_accepts_a_datetime_in_local_time() -> None:
    import datetime as dt

    result = ats_sim.run("weekday", until=dt.datetime(2026, 3, 10, 6, 0), telemetry_interval_s=60)
    last = result.telemetry["timestamp"].max()
    assert last < pd.Timestamp("2026-03-10T06:00:00Z")
    assert last >= pd.Timestamp("2026-03-10T05:58:00Z")
