"""A tiny hand-made run whose every dashboard figure is known, and how to write it.

Two lines, five trains reporting every minute from 08:00 to 09:00 UTC (one leaves service at
08:30), three alerts (two still active) and a line of departures with one bunched. Written
through the real DuckDB sink by :func:`write_batches`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ats_sim.records import ALERT, STATION_EVENT, TELEMETRY, Batch
from sinks import open_sink

T0_MS = 1_773_129_600_000  # 2026-03-10 08:00:00 UTC
MIN_MS = 60_000


@dataclass(frozen=True)
class TinyTrain:
    """One train of the tiny run: constant load and power, energy counter rising steadily."""

    train_id: str
    line_id: str
    passengers: int
    power_kw: float
    kwh_per_min: float
    last_minute: int  # reports every minute from 08:00 up to 08:00 + last_minute


#: The tiny run: R-03 left service at 08:30; the run's clock ends at 09:00.
TINY_TRAINS = (
    TinyTrain("R-01", "R", 100, 1000.0, 1.0, 60),
    TinyTrain("R-02", "R", 200, -500.0, 0.5, 60),
    TinyTrain("R-03", "R", 50, 300.0, 2.0, 30),
    TinyTrain("B-01", "B", 300, 2000.0, 3.0, 60),
    TinyTrain("B-02", "B", 400, 0.0, 0.25, 60),
)
TINY_RUN = "tiny-run"
OLD_RUN = "old-run"


@dataclass(frozen=True)
class Expected:
    """The KPI row the page must show for a selection of the tiny run."""

    trains: int
    passengers: int
    active_alerts: int
    power_mw: float
    energy_mwh: float


def tiny_expected(lines: tuple[str, ...] = (), trains: tuple[str, ...] = ()) -> Expected:
    """The tiny run's KPIs at 09:00, computed from ``TINY_TRAINS`` and ``tiny_alerts``."""
    chosen = [
        t
        for t in TINY_TRAINS
        if (not lines or t.line_id in lines) and (not trains or t.train_id in trains)
    ]
    running = [t for t in chosen if t.last_minute == 60]
    active = [
        a
        for a in TINY_ALERTS
        if a["cleared_minute"] is None
        and (not lines or a["line_id"] in lines)
        and (not trains or a["train_id"] in trains)
    ]
    return Expected(
        trains=len(running),
        passengers=sum(t.passengers for t in running),
        active_alerts=len(active),
        power_mw=sum(t.power_kw for t in running) / 1000.0,
        energy_mwh=sum(t.kwh_per_min * t.last_minute for t in chosen) / 1000.0,
    )


#: Alerts of the tiny run: two still active at 09:00 (one on a train, one at a station).
TINY_ALERTS: tuple[dict[str, Any], ...] = (
    {
        "alert_id": "A1",
        "alert_type": "overcrowding",
        "severity": "warning",
        "line_id": "R",
        "train_id": "R-01",
        "station_id": None,
        "raised_minute": 10,
        "cleared_minute": None,
        "value": 1.05,
        "threshold": 1.0,
    },
    {
        "alert_id": "A2",
        "alert_type": "high_power_draw",
        "severity": "warning",
        "line_id": "B",
        "train_id": "B-01",
        "station_id": None,
        "raised_minute": 20,
        "cleared_minute": 25,
        "value": 4500.0,
        "threshold": 4183.364,
    },
    {
        "alert_id": "A3",
        "alert_type": "platform_crowding",
        "severity": "critical",
        "line_id": "B",
        "train_id": None,
        "station_id": "B02",
        "raised_minute": 50,
        "cleared_minute": None,
        "value": 520.0,
        "threshold": 500.0,
    },
)


def _telemetry(run_id: str, trains: tuple[TinyTrain, ...], scale: int = 1) -> Batch:
    cols: dict[str, list[Any]] = {f.name: [] for f in TELEMETRY.fields}
    for t in trains:
        line_lat = 51.99 if t.line_id == "R" else 52.05
        for m in range(t.last_minute + 1):
            dwelling = m % 3 == 0
            station = m % 4
            ts = T0_MS + m * MIN_MS
            values = {
                "record_id": f"{run_id}-T-{t.train_id}-{ts}",
                "record_type": "telemetry",
                "schema_version": 1,
                "run_id": run_id,
                "timestamp": ts,
                "line_id": t.line_id,
                "train_id": t.train_id,
                "trip_id": f"{t.train_id}-trip",
                "direction": 0,
                "status": "dwelling" if dwelling else "running",
                "prev_station": f"{t.line_id}0{station + 1}",
                "next_station": f"{t.line_id}0{station + 2}",
                "chainage_m": 1000.0 * station,
                "latitude": line_lat,
                "longitude": 0.40 + 0.01 * station,
                "speed_kmh": 0.0 if dwelling else 40.0 + m % 7,
                "acceleration_ms2": 0.0,
                "passenger_count": t.passengers * scale,
                "load_factor": round(t.passengers * scale / 735.0, 3),
                "total_weight_tons": 231.6,
                "power_draw_kw": t.power_kw,
                "energy_kwh": round(t.kwh_per_min * m, 3),
                "regen_energy_kwh": 0.0,
                "is_overcrowded": False,
                "is_high_power_draw": False,
            }
            for k, v in values.items():
                cols[k].append(v)
    return Batch.from_columns(
        TELEMETRY, {k: np.asarray(v) if k == "timestamp" else v for k, v in cols.items()}
    )


def _alerts(run_id: str) -> Batch:
    cols: dict[str, list[Any]] = {f.name: [] for f in ALERT.fields}
    for a in TINY_ALERTS:
        for state, minute in (("raised", a["raised_minute"]), ("cleared", a["cleared_minute"])):
            if minute is None:
                continue
            ts = T0_MS + minute * MIN_MS
            values = {
                "record_id": f"{run_id}-A-{a['alert_id']}-{state}",
                "record_type": "alert",
                "schema_version": 1,
                "run_id": run_id,
                "timestamp": ts,
                "line_id": a["line_id"],
                "alert_id": a["alert_id"],
                "alert_type": a["alert_type"],
                "state": state,
                "severity": a["severity"],
                "train_id": a["train_id"],
                "station_id": a["station_id"],
                "value": a["value"],
                "threshold": a["threshold"],
                "message": f"{a['alert_type']} {state}",
            }
            for k, v in values.items():
                cols[k].append(v)
    return Batch.from_columns(ALERT, cols)


def _departures(run_id: str) -> Batch:
    """Departures at R01 every 5 minutes; the one at 08:32 follows 08:30 closely (bunched)."""
    cols: dict[str, list[Any]] = {f.name: [] for f in STATION_EVENT.fields}
    minutes = [0, 5, 10, 15, 20, 25, 30, 32, 35, 40, 45, 50, 55, 60]
    prev = None
    for i, m in enumerate(minutes):
        ts = T0_MS + m * MIN_MS
        values = {
            "record_id": f"{run_id}-S-{i}",
            "record_type": "station_event",
            "schema_version": 1,
            "run_id": run_id,
            "timestamp": ts,
            "line_id": "R",
            "train_id": "R-01" if i % 2 else "R-02",
            "trip_id": "trip",
            "direction": 0,
            "station_id": "R01",
            "station_name": "Westgate",
            "event": "departure",
            "passengers_on_board": 100,
            "alighted": 0,
            "boarded": 10,
            "left_behind": 5 if m == 30 else 0,
            "waiting": 20 + i,
            "dwell_s": 30.0,
            "headway_s": None if prev is None else (m - prev) * 60.0,
            "scheduled_headway_s": 300.0,
        }
        prev = m
        for k, v in values.items():
            cols[k].append(v)
    return Batch.from_columns(STATION_EVENT, cols)


def write_batches(path: Path, batches: list[Batch]) -> None:
    """Write ``batches`` through the DuckDB sink, as a run would."""
    with open_sink(f"duckdb://{path}") as sink:
        for b in batches:
            sink.write_batch(b)


def tiny_batches(run_id: str = TINY_RUN) -> list[Batch]:
    """Every record of the tiny run."""
    return [_telemetry(run_id, TINY_TRAINS), _alerts(run_id), _departures(run_id)]


def old_batches() -> list[Batch]:
    """An older run over the same hour: R-01 and R-02 only, twice the passengers."""
    return [_telemetry(OLD_RUN, TINY_TRAINS[:2], scale=2)]
