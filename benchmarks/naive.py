"""The naive baseline: one SimPy timeout per train per tick, per-record Python arithmetic.

It makes the engine's telemetry records (every field of ``TELEMETRY``, one record per train
per tick) the way a first attempt would: every train is a SimPy process that wakes every
tick, integrates its motion with scalar Python arithmetic, computes each field in Python
(position interpolated along the line, load factor, weight, energy, flags, record id) and
appends a dict; every window of the engine's replays (``REPLAY_WINDOW_S``, 30 simulated
minutes) the dicts become an Arrow batch of the record schema, the form in which the engine
hands records on, and the batches are kept in memory, as the engine's into-memory replay keeps
its records.

Only its speed is of interest: its passenger model is a constant load and its dwell a
constant 30 s. ``lean=True`` is the older, leaner variant kept for comparison: fewer fields,
no conversion of the dicts into batches.
"""

from __future__ import annotations

import bisect
from typing import Any

import pyarrow as pa
import simpy

from ats_sim.clock import REPLAY_WINDOW_S
from ats_sim.records import TELEMETRY
from ats_sim.rolling_stock import RollingStock
from ats_sim.scenario import load_scenario

__all__ = ["naive_replay"]

WINDOW_S = REPLAY_WINDOW_S
EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z; the value does not matter


def naive_replay(hours: float, interval_s: float = 1.0, *, lean: bool = False) -> int:
    """Simulate ``hours`` of the reference network naively; returns the records made."""
    sc = load_scenario("weekday")
    stock = RollingStock()
    env = simpy.Environment()
    records: list[dict[str, Any]] = []
    kept: list[pa.RecordBatch] = []
    made = 0
    schema = TELEMETRY.arrow_schema
    run_id = "naive-s7"
    pax = 600
    capacity = stock.capacity
    rated_kw = stock.rated_power_kw
    thr = sc.alerts

    def train(line_idx: int, k: int, offset: float) -> Any:
        line = sc.network.lines[line_idx]
        ch = [s.chainage_m for s in line.stations]
        lats = [s.lat for s in line.stations]
        lons = [s.lon for s in line.stations]
        ids = [s.id for s in line.stations]
        train_id = f"{line.id}-{k:02d}"
        yield env.timeout(offset)
        x, v, seg, dwell, energy, regen = ch[0], 0.0, 0, 30.0, 0.0, 0.0
        m = stock.mass_kg(pax)
        while True:
            target = ch[seg + 1] if seg + 1 < len(ch) else ch[0]
            if dwell > 0:
                dwell -= interval_s
                a, p, status = 0.0, 150_000.0, "dwelling"
            else:
                status = "running"
                rem = target - x
                if rem <= v * v / (2 * stock.service_brake_ms2) + 0.1:
                    a = -stock.service_brake_ms2
                elif v < 80 / 3.6:
                    f = min(stock.max_tractive_effort_kn * 1000, stock.max_power_w / max(v, 0.1))
                    a = (f - (1800 + 77 * v + 6.5 * v * v)) / (m * 1.08)
                else:
                    a = 0.0
                v = max(0.0, v + a * interval_s)
                x = min(target, x + v * interval_s)
                p = max(a, 0) * m * v / 0.88 + 150_000.0
                if a < 0:
                    regen += -a * m * v * 0.6 * interval_s / 3.6e6
                if v == 0.0 or x >= target:
                    x, v, dwell = target, 0.0, 30.0
                    seg = seg + 1 if seg + 2 < len(ch) else 0
            energy += p * interval_s / 3.6e6
            ts = EPOCH_MS + round(env.now * 1000)
            if lean:
                records.append(
                    {
                        "record_id": f"naive-T-{line.id}-{k}-{int(env.now * 1000)}",
                        "timestamp": env.now,
                        "line_id": line.id,
                        "train_id": train_id,
                        "speed_kmh": round(v * 3.6, 2),
                        "acceleration_ms2": round(a, 3),
                        "chainage_m": round(x, 1),
                        "power_draw_kw": round(p / 1000, 1),
                        "energy_kwh": round(energy, 3),
                        "passenger_count": pax,
                        "total_weight_tons": round(m / 1000, 2),
                        "latitude": 0.0,
                        "longitude": 0.0,
                        "is_high_power_draw": p > 4e6,
                        "is_overcrowded": False,
                        "load_factor": round(pax / capacity, 3),
                        "status": "running",
                    }
                )
            else:
                i = min(max(bisect.bisect_right(ch, x) - 1, 0), len(ch) - 2)
                w = (x - ch[i]) / (ch[i + 1] - ch[i])
                lf = pax / capacity
                power_kw = p / 1000
                records.append(
                    {
                        "record_id": f"{run_id}-T-{train_id}-{ts}",
                        "record_type": "telemetry",
                        "schema_version": 1,
                        "run_id": run_id,
                        "timestamp": ts,
                        "line_id": line.id,
                        "train_id": train_id,
                        "trip_id": f"{line.id}-000-O{k:03d}",
                        "direction": 0,
                        "status": status,
                        "prev_station": ids[i],
                        "next_station": ids[i + 1],
                        "chainage_m": round(x, 1),
                        "latitude": round(lats[i] + w * (lats[i + 1] - lats[i]), 6),
                        "longitude": round(lons[i] + w * (lons[i + 1] - lons[i]), 6),
                        "speed_kmh": round(v * 3.6, 2),
                        "acceleration_ms2": round(a, 3),
                        "passenger_count": pax,
                        "load_factor": round(lf, 3),
                        "total_weight_tons": round(m / 1000, 2),
                        "power_draw_kw": round(power_kw, 1),
                        "energy_kwh": round(energy, 3),
                        "regen_energy_kwh": round(regen, 3),
                        "is_overcrowded": lf > thr.overcrowding_load_factor,
                        "is_high_power_draw": power_kw > thr.high_power_fraction * rated_kw,
                    }
                )
            yield env.timeout(interval_s)

    def windows() -> Any:
        nonlocal made
        while True:
            yield env.timeout(WINDOW_S)
            if not lean:
                batch = pa.RecordBatch.from_pylist(records, schema=schema)
                kept.append(batch)  # kept in memory, as the engine's row keeps its records
                made += batch.num_rows
            else:
                made += len(records)
            records.clear()

    trains_per_line = 18  # what the engine runs at the peak
    for li in range(len(sc.network.lines)):
        for k in range(trains_per_line):
            env.process(train(li, k, float(k)))
    env.process(windows())
    env.run(until=hours * 3600)
    if records and not lean:
        made += pa.RecordBatch.from_pylist(records, schema=schema).num_rows
    elif records:
        made += len(records)
    return made
