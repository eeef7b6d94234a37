"""A window's records as Arrow batches: one batch per record type for all the lines a process
simulates, built once per window.

While a line runs, :class:`LineNotes` (mixed into :class:`ats_sim.engine.LineSim`) only notes
what happened: telemetry :class:`~ats_sim.sampling.Span` s, station-event and alert rows.
:func:`window_batches` turns the notes of every line into record batches in one go, rows in
timestamp order with ties in line order (and, for telemetry, in train order), every float
rounded to its field's decimals so that JSON and columnar sinks hold the same values.

Building all lines together rather than line by line and then merging is what keeps the cost
per window low: every NumPy and Arrow call is made once per window, not once per line, and no
row is copied twice. The values are element for element the same either way: a record does
not depend on which other records share its batch (``tests/core/test_window_batches.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ats_sim.columns import constant, telemetry_ids
from ats_sim.records import (
    ALERT,
    SCHEMA_VERSION,
    STATION_EVENT,
    TELEMETRY,
    Batch,
    Field,
    RecordType,
)
from ats_sim.sampling import Span, draw

if TYPE_CHECKING:
    from ats_sim.engine import RunSpec, Train
    from ats_sim.network import Line
    from ats_sim.rolling_stock import RollingStock
    from ats_sim.scenario import AlertThresholds

__all__ = ["STATUS", "LineNotes", "window_batches"]

STATUS = ("running", "dwelling", "turnaround")


class LineNotes:
    """What one line noted for the records of the current window (mixed into
    :class:`ats_sim.engine.LineSim`)."""

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

    def _trip_array(self) -> pa.StringArray:
        """Every trip id so far as an Arrow column (extended, not rebuilt, as trips are added)."""
        done = len(self._trips)
        if done < len(self.trip_ids):
            new = pa.array(self.trip_ids[done:], pa.string())
            self._trips = pa.concat_arrays([self._trips, new]) if done else new
        return self._trips


def window_batches(lines: Sequence[LineNotes]) -> list[Batch]:
    """The records ``lines`` noted since the last call, one batch per record type that has
    rows; the notes are handed over (emptied)."""
    if not lines:
        return []
    out = []
    for rtype, build in (
        (TELEMETRY, _telemetry),
        (STATION_EVENT, _station_events),
        (ALERT, _alerts),
    ):
        b = build(lines)
        if b is not None and b.num_rows:
            out.append(Batch(rtype, b))
    return out


def _common(
    spec: RunSpec, rtype: RecordType, ts_ms: np.ndarray, ids: pa.Array, line_id: pa.Array
) -> dict[str, Any]:
    n = len(ts_ms)
    return {
        "record_id": ids,
        "record_type": constant(rtype.name, n),
        "schema_version": np.full(n, SCHEMA_VERSION, dtype=np.int64),
        "run_id": constant(spec.run_id, n),
        "timestamp": ts_ms,
        "line_id": line_id,
    }


def _line_ids(lines: Sequence[LineNotes], of: np.ndarray | None, n: int) -> pa.StringArray:
    """The line id column of ``n`` rows: ``of`` gives each row's position in ``lines``."""
    if len(lines) == 1 or of is None:
        return constant(lines[0].line.id, n)
    return pa.array([ln.line.id for ln in lines], pa.string()).take(_indices(of))


def _starts(sizes: list[int]) -> np.ndarray:
    """Where each of consecutive blocks of ``sizes`` starts."""
    return np.cumsum([0, *sizes[:-1]], dtype=np.int64)


def _telemetry(lines: Sequence[LineNotes]) -> pa.RecordBatch | None:
    first = lines[0]
    spec, dt, stock, thr = first.spec, first.dt, first.stock, first.thr
    per_line = []
    for ln in lines:
        per_line.append(ln._tel)
        ln._tel = []
    spans = [s for sp in per_line for s in sp]
    if not spans:
        return None
    sm = draw(spans, dt)
    n_lines = len(lines)
    if n_lines > 1:  # each sample's line, and codes made global across the lines
        counts = [sum(s.k1 - s.k0 for s in sp) for sp in per_line]
        line_of = np.repeat(np.arange(n_lines), counts)
        train = sm.train + _starts([len(ln.trains) for ln in lines])[line_of]
    else:
        line_of = None
        train = sm.train
    order = np.lexsort((train, sm.k))
    emit_from_k = math.ceil(spec.emit_from_s / dt - 1e-9)
    if emit_from_k > sm.k.min():
        order = order[sm.k[order] >= emit_from_k]
        if len(order) == 0:
            return None
    ks = sm.k[order]
    chain, speed, acc, power, energy, regen = (
        c[order]
        for c in (sm.chainage, sm.speed, sm.acceleration, sm.power_w, sm.energy_j, sm.regen_j)
    )
    train, trip, direction, status, prev, nxt, pax = (
        c[order] for c in (train, sm.trip, sm.direction, sm.status, sm.prev, sm.next, sm.passengers)
    )
    train_ids = [t.id for ln in lines for t in ln.trains]
    trips = [ln._trip_array() for ln in lines]
    stations = [sid for ln in lines for sid in ln.station_ids]
    if line_of is not None:
        line_of = line_of[order]
        trip = trip + _starts([len(t) for t in trips])[line_of]
        station_start = _starts([len(ln.station_ids) for ln in lines])[line_of]
        prev = prev + station_start
        nxt = nxt + station_start
        lat = np.empty(len(chain))
        lon = np.empty(len(chain))
        for i, ln in enumerate(lines):
            rows = line_of == i
            lat[rows], lon[rows] = ln.line.position(chain[rows])
    else:
        lat, lon = first.line.position(chain)
    ts_ms = spec.epoch_ms + np.round(ks * dt * 1000.0).astype(np.int64)
    station_col = pa.array(stations, pa.string())
    trip_col = trips[0] if len(trips) == 1 else pa.concat_arrays(trips)
    lf = pax / stock.capacity
    power_kw = power / 1000.0
    ids = telemetry_ids(spec.run_id, train_ids, train, ts_ms)
    cols = _common(spec, TELEMETRY, ts_ms, ids, _line_ids(lines, line_of, len(ts_ms)))
    cols.update(
        {
            "train_id": pa.array(train_ids, pa.string()).take(_indices(train)),
            "trip_id": trip_col.take(_indices(trip)),
            "direction": direction,
            "status": pa.array(STATUS, pa.string()).take(_indices(status)),
            "prev_station": station_col.take(_indices(prev)),
            "next_station": station_col.take(_indices(nxt)),
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
            "is_overcrowded": lf > thr.overcrowding_load_factor,
            "is_high_power_draw": power_kw > thr.high_power_fraction * stock.rated_power_kw,
        }
    )
    return _to_batch(TELEMETRY, cols)


def _rows_batch(
    lines: Sequence[LineNotes],
    rtype: RecordType,
    per_line: list[list[tuple[Any, ...]]],
    id_of: Any,
    names: tuple[str, ...],
) -> pa.RecordBatch | None:
    """Rows (time first) of every line: by timestamp (ms), ties in line order, then by exact
    time, then in the order they were noted."""
    spec = lines[0].spec
    keyed = [
        (round(r[0] * 1000.0), i, r[0], j, r)
        for i, rows in enumerate(per_line)
        for j, r in enumerate(rows)
        if r[0] >= spec.emit_from_s
    ]
    if not keyed:
        return None
    keyed.sort(key=lambda x: x[:4])
    rows = [x[4] for x in keyed]
    ts_ms = spec.epoch_ms + np.round(np.array([r[0] for r in rows], np.float64) * 1000.0).astype(
        np.int64
    )
    ids = pa.array([id_of(r, int(ms)) for r, ms in zip(rows, ts_ms, strict=True)], pa.string())
    of = np.fromiter((x[1] for x in keyed), np.int64, len(keyed))
    cols = _common(spec, rtype, ts_ms, ids, _line_ids(lines, of, len(ts_ms)))
    for i, name in enumerate(names, start=1):
        cols[name] = [r[i] for r in rows]
    return _to_batch(rtype, cols)


def _station_events(lines: Sequence[LineNotes]) -> pa.RecordBatch | None:
    per_line = []
    for ln in lines:
        ids, names = ln.station_ids, ln.station_names
        per_line.append(
            [
                (t, tr, trip, d, ids[s], names[s], kind, pax, al, bo, left, wait, dwell, hw, sched)
                for (t, tr, trip, d, s, kind, pax, al, bo, left, wait, dwell, hw, sched) in (
                    ln._events
                )
            ]
        )
        ln._events = []
    run_id = lines[0].spec.run_id
    return _rows_batch(
        lines,
        STATION_EVENT,
        per_line,
        lambda r, ms: f"{run_id}-E-{r[1]}-{r[4]}-{r[6][0]}-{ms}",
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


def _alerts(lines: Sequence[LineNotes]) -> pa.RecordBatch | None:
    per_line = []
    for ln in lines:
        per_line.append(ln._alerts)
        ln._alerts = []
    return _rows_batch(
        lines,
        ALERT,
        per_line,
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
