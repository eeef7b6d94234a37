"""Running totals of a simulation: records per type, alerts per type, energy, peak load.

Fed batch by batch (so it works for streamed runs that keep nothing in memory), and shown by the
command line's closing summary and by a notebook result's ``repr``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.records import Batch

__all__ = ["RunSummary"]


@dataclass
class RunSummary:
    """Key figures of a run so far."""

    records: Counter[str] = field(default_factory=Counter)
    alerts_raised: Counter[str] = field(default_factory=Counter)
    peak_passengers: int = 0
    peak_load_factor: float = 0.0
    peak_power_kw: float = 0.0
    passengers_boarded: int = 0
    left_behind: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    _energy: dict[str, float] = field(default_factory=dict)
    _regen: dict[str, float] = field(default_factory=dict)

    def add(self, batch: Batch) -> None:
        """Account for one batch."""
        data = batch.data
        self.records[batch.type.name] += data.num_rows
        if data.num_rows == 0:
            return
        ts = data.column("timestamp").cast(pa.int64())
        lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
        self.first_ms = lo if self.first_ms is None else min(self.first_ms, lo)
        self.last_ms = hi if self.last_ms is None else max(self.last_ms, hi)
        name = batch.type.name
        if name == "telemetry":
            self.peak_passengers = max(
                self.peak_passengers, pc.max(data.column("passenger_count")).as_py()
            )
            self.peak_load_factor = max(
                self.peak_load_factor, pc.max(data.column("load_factor")).as_py()
            )
            self.peak_power_kw = max(
                self.peak_power_kw, pc.max(data.column("power_draw_kw")).as_py()
            )
            # Energy counters are cumulative per train: keep each train's latest value.
            table = pa.table(
                {
                    "t": data.column("train_id"),
                    "e": data.column("energy_kwh"),
                    "r": data.column("regen_energy_kwh"),
                }
            )
            last = table.group_by("t", use_threads=False).aggregate([("e", "last"), ("r", "last")])
            for t, e, r in zip(
                last["t"].to_pylist(),
                last["e_last"].to_pylist(),
                last["r_last"].to_pylist(),
                strict=True,
            ):
                self._energy[t] = e
                self._regen[t] = r
        elif name == "station_event":
            self.passengers_boarded += pc.sum(data.column("boarded")).as_py() or 0
            self.left_behind += pc.sum(data.column("left_behind")).as_py() or 0
        elif name == "alert":
            raised = data.filter(pc.equal(data.column("state"), "raised"))
            for kind, n in Counter(raised.column("alert_type").to_pylist()).items():
                self.alerts_raised[kind] += n

    @property
    def energy_kwh(self) -> float:
        """Net energy drawn by all trains (traction and auxiliaries, less regeneration), kWh."""
        return sum(self._energy.values())

    @property
    def regen_kwh(self) -> float:
        """Energy returned by regenerative braking, kWh."""
        return sum(self._regen.values())

    @property
    def trains(self) -> int:
        """Trains seen in telemetry."""
        return len(self._energy)

    def as_dict(self) -> dict[str, object]:
        """The figures as plain values."""
        return {
            "records": dict(self.records),
            "alerts_raised": dict(self.alerts_raised),
            "trains": self.trains,
            "energy_mwh": round(self.energy_kwh / 1000, 3),
            "regen_mwh": round(self.regen_kwh / 1000, 3),
            "peak_passengers": self.peak_passengers,
            "peak_load_factor": round(self.peak_load_factor, 3),
            "peak_power_kw": round(self.peak_power_kw, 1),
            "passengers_boarded": self.passengers_boarded,
            "left_behind": self.left_behind,
        }
