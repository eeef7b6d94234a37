"""A line's records as Arrow batches: the telemetry its train phases cover, its station events
and its alerts, built once per window.

:class:`LineRecords` is the part of :class:`ats_sim.engine.LineSim` that turns what the model
noted while it ran (telemetry :class:`~ats_sim.sampling.Span` s, event and alert rows) into
record batches, every float rounded to its field's decimals so that JSON and columnar sinks
hold the same values.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ats_sim.columns import constant, telemetry_ids
from ats_sim.records import ALERT, SCHEMA_VERSION, STATION_EVENT, TELEMETRY, Field, RecordType
from ats_sim.sampling import Span, draw

if TYPE_CHECKING:
    from ats_sim.engine import RunSpec, Train
    from ats_sim.network import Line
    from ats_sim.rolling_stock import RollingStock
    from ats_sim.scenario import AlertThresholds

__all__ = ["STATUS", "LineRecords"]

STATUS = ("running", "dwelling", "turnaround")


class LineRecords:
    """Record batches of one line (mixed into :class:`ats_sim.engine.LineSim`)."""

    spec: RunSpec
    line: Line
    stock: RollingStock
    thr: AlertThresholds
    dt: float
    trains: list[Train]
    trip_ids: list[str]
    station_ids: list[str]
    station_names: list[str]
    _tel: list[Span]
    _trips: pa.StringArray
    _events: list[tuple[Any, ...]]
    _alerts: list[tuple[Any, ...]]

    def _ms(self, t: np.ndarray) -> np.ndarray:
        return self.spec.epoch_ms + np.round(np.asarray(t, dtype=np.float64) * 1000.0).astype(
            np.int64
        )

    def _common(self, rtype: RecordType, ts_ms: np.ndarray, ids: pa.Array) -> dict[str, Any]:
        n = len(ts_ms)
        return {
            "record_id": ids,
            "record_type": constant(rtype.name, n),
            "schema_version": np.full(n, SCHEMA_VERSION, dtype=np.int64),
            "run_id": constant(self.spec.run_id, n),
            "timestamp": ts_ms,
            "line_id": constant(self.line.id, n),
        }

    def _telemetry_batch(self) -> pa.RecordBatch | None:
        spans, self._tel = self._tel, []
        if not spans:
            return None
        sm = draw(spans, self.dt)
        order = np.lexsort((sm.train, sm.k))
        emit_from_k = math.ceil(self.spec.emit_from_s / self.dt - 1e-9)
        order = order[sm.k[order] >= emit_from_k]
        if len(order) == 0:
            return None
        ks = sm.k[order]
        chain, speed, acc, power, energy, regen = (
            c[order]
            for c in (sm.chainage, sm.speed, sm.acceleration, sm.power_w, sm.energy_j, sm.regen_j)
        )
        train_idx, trip, direction, status, prev, nxt, pax = (
            c[order]
            for c in (sm.train, sm.trip, sm.direction, sm.status, sm.prev, sm.next, sm.passengers)
        )
        ts_ms = self.spec.epoch_ms + np.round(ks * self.dt * 1000.0).astype(np.int64)
        train_ids = pa.array([t.id for t in self.trains], pa.string()).take(_indices(train_idx))
        stations = pa.array(self.station_ids, pa.string())
        lat, lon = self.line.position(chain)
        stock = self.stock
        lf = pax / stock.capacity
        power_kw = power / 1000.0
        ids = telemetry_ids(self.spec.run_id, [t.id for t in self.trains], train_idx, ts_ms)
        cols_out = self._common(TELEMETRY, ts_ms, ids)
        cols_out.update(
            {
                "train_id": train_ids,
                "trip_id": self._trip_array().take(_indices(trip)),
                "direction": direction,
                "status": pa.array(STATUS, pa.string()).take(_indices(status)),
                "prev_station": stations.take(_indices(prev)),
                "next_station": stations.take(_indices(nxt)),
                "chainage_m": chain,
                "latitude": lat,
                "longitude": lon,
                "speed_kmh": speed * 3.6,
                "acceleration_ms2": acc,
                "passenger_count": pax,
                "load_factor": lf,
                "total_weight_tons": (stock.tare_mass_kg + pax * stock.passenger_mass_kg) / 1000.0,
                "power_draw_kw": power_kw,
                "energy_kwh": energy / 3.6e6,
                "regen_energy_kwh": regen / 3.6e6,
                "is_overcrowded": lf > self.thr.overcrowding_load_factor,
                "is_high_power_draw": power_kw
                > self.thr.high_power_fraction * stock.rated_power_kw,
            }
        )
        return _to_batch(TELEMETRY, cols_out)

    def _trip_array(self) -> pa.StringArray:
        """Every trip id so far as an Arrow column (extended, not rebuilt, as trips are added)."""
        done = len(self._trips)
        if done < len(self.trip_ids):
            new = pa.array(self.trip_ids[done:], pa.string())
            self._trips = pa.concat_arrays([self._trips, new]) if done else new
        return self._trips

    def _rows_batch(
        self, rtype: RecordType, rows: list[tuple[Any, ...]], id_of: Any, names: tuple[str, ...]
    ) -> pa.RecordBatch | None:
        rows = [r for r in rows if r[0] >= self.spec.emit_from_s]
        if not rows:
            return None
        rows.sort(key=lambda r: r[0])
        ts_ms = self._ms(np.array([r[0] for r in rows]))
        ids = pa.array([id_of(r, int(ms)) for r, ms in zip(rows, ts_ms, strict=True)], pa.string())
        cols = self._common(rtype, ts_ms, ids)
        for i, name in enumerate(names, start=1):
            cols[name] = [r[i] for r in rows]
        return _to_batch(rtype, cols)

    def _event_batch(self) -> pa.RecordBatch | None:
        rows, self._events = self._events, []
        rows = [
            (
                t,
                tr,
                trip,
                d,
                self.station_ids[s],
                self.station_names[s],
                kind,
                pax,
                al,
                bo,
                left,
                wait,
                dwell,
                hw,
                sched,
            )
            for (t, tr, trip, d, s, kind, pax, al, bo, left, wait, dwell, hw, sched) in rows
        ]
        return self._rows_batch(
            STATION_EVENT,
            rows,
            lambda r, ms: f"{self.spec.run_id}-E-{r[1]}-{r[4]}-{r[6][0]}-{ms}",
            (
                "train_id",
                "trip_id",
                "direction",
                "station_id",
                "station_name",
                "event",
                "passengers_on_board",
                "alighted",
                "boarded",
                "left_behind",
                "waiting",
                "dwell_s",
                "headway_s",
                "scheduled_headway_s",
            ),
        )

    def _alert_batch(self) -> pa.RecordBatch | None:
        rows, self._alerts = self._alerts, []
        return self._rows_batch(
            ALERT,
            rows,
            lambda r, ms: f"{r[1]}-{'R' if r[3] == 'raised' else 'C'}",
            (
                "alert_id",
                "alert_type",
                "state",
                "severity",
                "train_id",
                "station_id",
                "value",
                "threshold",
                "message",
            ),
        )


def _indices(a: np.ndarray) -> pa.Array:
    """Row positions for ``take`` (typed: an untyped ``pa.array`` of a NumPy array infers its
    type, which costs about 130 us per call here)."""
    return pa.array(a, pa.int64())


def _round(f: Field, col: Any) -> Any:
    if f.decimals is not None and isinstance(col, np.ndarray):
        out = np.round(col, f.decimals)
        if out.dtype.kind != "f":  # whole numbers in a field with decimals: as floats
            return out + 0.0
        out += 0.0  # turns -0.0 into 0.0
        return out
    if f.decimals is not None and isinstance(col, list):
        return [None if v is None else round(float(v), f.decimals) + 0.0 for v in col]
    return col


def _to_batch(rtype: RecordType, cols: dict[str, Any]) -> pa.RecordBatch:
    """Build the record batch, rounding floats to each field's decimals (JSON == columnar)."""
    arrays = []
    for f in rtype.fields:
        col = _round(f, cols[f.name])
        if f.kind == "timestamp":
            arrays.append(pa.array(np.asarray(col, dtype=np.int64), pa.int64()).cast(f.arrow_type))
        elif isinstance(col, pa.Array):
            arrays.append(col)
        else:
            arrays.append(pa.array(col, type=f.arrow_type))
    return pa.RecordBatch.from_arrays(arrays, schema=rtype.arrow_schema)
