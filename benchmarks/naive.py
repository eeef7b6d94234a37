"""The naive baseline: one SimPy timeout per train per tick, per-record Python arithmetic.

It makes telemetry records of the same shape as the engine's (the same fields, one per train
per tick, canonical values) the way a first attempt would: every train is a SimPy process that
wakes every second, integrates its motion with scalar Python arithmetic and builds a dict.
Only its speed is of interest; its passenger model is a constant load.
"""

from __future__ import annotations

from typing import Any

import simpy

from ats_sim.rolling_stock import RollingStock
from ats_sim.scenario import load_scenario

__all__ = ["naive_replay"]


def naive_replay(hours: float, interval_s: float = 1.0) -> int:
    """Simulate ``hours`` of the reference network naively; returns the records made."""
    sc = load_scenario("weekday")
    stock = RollingStock()
    env = simpy.Environment()
    records: list[dict[str, Any]] = []

    def train(line_idx: int, k: int, offset: float) -> Any:
        line = sc.network.lines[line_idx]
        ch = [s.chainage_m for s in line.stations]
        yield env.timeout(offset)
        x, v, seg, dwell, energy = ch[0], 0.0, 0, 30.0, 0.0
        m = stock.mass_kg(600)
        while True:
            target = ch[seg + 1] if seg + 1 < len(ch) else ch[0]
            if dwell > 0:
                dwell -= interval_s
                a, p = 0.0, 150_000.0
            else:
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
                if v == 0.0 or x >= target:
                    x, v, dwell = target, 0.0, 30.0
                    seg = seg + 1 if seg + 2 < len(ch) else 0
            energy += p * interval_s / 3.6e6
            records.append({
                "record_id": f"naive-T-{line.id}-{k}-{int(env.now * 1000)}",
                "timestamp": env.now, "line_id": line.id, "train_id": f"{line.id}-{k:02d}",
                "speed_kmh": round(v * 3.6, 2), "acceleration_ms2": round(a, 3),
                "chainage_m": round(x, 1), "power_draw_kw": round(p / 1000, 1),
                "energy_kwh": round(energy, 3), "passenger_count": 600,
                "total_weight_tons": round(m / 1000, 2),
                "latitude": 0.0, "longitude": 0.0,
                "is_high_power_draw": p > 4e6, "is_overcrowded": False,
                "load_factor": round(600 / stock.capacity, 3), "status": "running",
            })
            yield env.timeout(interval_s)

    trains_per_line = 18  # what the engine runs at the peak
    for li in range(len(sc.network.lines)):
        for k in range(trains_per_line):
            env.process(train(li, k, float(k)))
    env.run(until=hours * 3600)
    return len(records)
