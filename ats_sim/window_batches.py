"""A window's records as Arrow batches: one batch per record type for all of a run's lines.

While a line runs, :class:`LineNotes` (mixed into :class:`ats_sim.engine.LineSim`) only notes
what happened: telemetry :class:`~ats_sim.sampling.Span` s, station-event and alert rows. At a
window boundary the notes become records in two steps:

1. :func:`window_part`, in the process that simulates the lines: the telemetry spans are drawn
   into samples and every telemetry value is computed and rounded, as NumPy columns of the
   rows as drawn, with the (tick, line, train) order they are to take and the strings still
   as codes (a :class:`TelemetryPart`); the station events and alerts become record batches.
2. :func:`assemble`, once per window in the calling process: the parts of every process are
   merged in timestamp order with ties in line order (each column gathered once, which also
   puts each part's rows in order), the telemetry codes become strings, the record ids are
   made, and one Arrow batch per record type is made.

So with worker processes most of the work (simulating, drawing, computing values, building
event rows) is done where the lines are simulated; only the assembly is left to the caller.
Floats are rounded to each field's decimals so that JSON and columnar sinks hold the same
values; a record does not depend on which other records share its part or its batch
(``tests/core/test_window_batches.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ats_sim.columns import (
    Codebook,
    constant,
    take_strings,
    telemetry_ids,
)
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

__all__ = [
    "STATUS",
    "LineNotes",
    "LineStrings",
    "MirroredLine",
    "TelemetryPart",
    "WindowPart",
    "assemble",
    "telemetry_part",
    "window_batches",
    "window_part",
]

STATUS = ("running", "dwelling", "turnaround")
_STATUS_BOOK = Codebook(list(STATUS))

#: Telemetry fields a :class:`TelemetryPart` holds as final values (rounded where they have
#: decimals); the other fields are made from codes when the batch is assembled.
VALUE_FIELDS = tuple(
    f
    for f in TELEMETRY.fields
    if f.name
    not in {
        "record_id",
        "record_type",
        "schema_version",
        "run_id",
        "timestamp",
        "line_id",
        "train_id",
        "trip_id",
        "status",
        "prev_station",
        "next_station",
    }
)


class LineStrings(Protocol):
    """The strings a line's codes stand for (a simulated line, or a worker's line mirrored)."""

    @property
    def line_id(self) -> str: ...

    train_ids: list[str]
    trip_ids: list[str]
    station_ids: list[str]
    train_book: Codebook
    trip_book: Codebook
    station_book: Codebook


@dataclass(slots=True)
class TelemetryPart:
    """A window's telemetry of some lines, to be put in (tick, line, train) order.

    ``line`` is each row's line as its position in the network; ``train``, ``trip``,
    ``prev`` and ``next`` are codes within that line; ``values`` holds every field of
    :data:`VALUE_FIELDS`, final. The record ids are made when the parts are assembled: from
    the train codes and timestamps, that takes less than gathering them would.

    The arrays hold the rows as they were drawn: the part's rows are the arrays' rows
    ``order``, and the merge puts them in order in the same pass that merges the parts (every
    value is computed row by row, so in order or not, the same).
    """

    k: np.ndarray
    ts_ms: np.ndarray
    line: np.ndarray
    train: np.ndarray
    trip: np.ndarray
    status: np.ndarray
    prev: np.ndarray
    next: np.ndarray
    values: dict[str, np.ndarray]
    order: np.ndarray

    def __len__(self) -> int:
        return len(self.order)


@dataclass(slots=True)
class WindowPart:
    """A window's records of the lines one process simulates: telemetry as computed columns,
    station events and alerts as finished batches (rows in timestamp then line order), and
    the train and trip ids each line added (so that a caller can name a worker's codes).

    A ``borrowed`` part views memory that is reused once its window is assembled (a worker's
    shared slot): :func:`assemble` copies whatever of it would otherwise pass into a batch.
    """

    telemetry: TelemetryPart | None
    station_events: pa.RecordBatch | None
    alerts: pa.RecordBatch | None
    new_ids: list[tuple[list[str], list[str]]]
    borrowed: bool = False


class LineNotes:
    """What one line noted for the records of the current window (mixed into
    :class:`ats_sim.engine.LineSim`)."""

    spec: RunSpec
    line: Line
    stock: RollingStock
    thr: AlertThresholds
    dt: float
    trains: list[Train]
    train_ids: list[str]
    trip_ids: list[str]
    station_ids: list[str]
    station_names: list[str]
    train_book: Codebook
    trip_book: Codebook
    station_book: Codebook
    _tel: list[Span]
    _events: list[tuple[Any, ...]]
    _alerts: list[tuple[Any, ...]]
    _handed: tuple[int, int]

    @property
    def line_id(self) -> str:
        return self.line.id

    def _take_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The station-event and alert rows noted since the last call (station codes named)."""
        ids, names = self.station_ids, self.station_names
        events = [
            (t, tr, trip, d, ids[s], names[s], kind, pax, al, bo, left, wait, dwell, hw, sched)
            for (t, tr, trip, d, s, kind, pax, al, bo, left, wait, dwell, hw, sched) in (
                self._events
            )
        ]
        alerts = self._alerts
        self._events, self._alerts = [], []
        return events, alerts

    def _take_new_ids(self) -> tuple[list[str], list[str]]:
        """The train and trip ids added since the last call."""
        trains, trips = self._handed
        self._handed = (len(self.train_ids), len(self.trip_ids))
        return self.train_ids[trains:], self.trip_ids[trips:]


class MirroredLine:
    """A line simulated in a worker process, as the caller knows its strings."""

    def __init__(self, line: Line) -> None:
        self.line_id = line.id
        self.station_ids = [s.id for s in line.stations]
        self.train_ids: list[str] = []
        self.trip_ids: list[str] = []
        self.train_book = Codebook(self.train_ids)
        self.trip_book = Codebook(self.trip_ids)
        self.station_book = Codebook(self.station_ids)

    def update(self, new_ids: tuple[list[str], list[str]]) -> None:
        """Add the train and trip ids the worker's line added."""
        self.train_ids.extend(new_ids[0])
        self.trip_ids.extend(new_ids[1])


def window_batches(lines: Sequence[LineNotes]) -> list[Batch]:
    """The records ``lines`` (every line of a run, in network order) noted since the last
    call, one batch per record type that has rows; the notes are handed over."""
    if not lines:
        return []
    return assemble(lines[0].spec, lines, [window_part(lines, list(range(len(lines))))])


def window_part(lines: Sequence[LineNotes], positions: Sequence[int]) -> WindowPart:
    """Everything ``lines`` noted since the last call, computed (the notes are handed over);
    ``positions`` are the lines' places in the network, in increasing order."""
    rows = [ln._take_rows() for ln in lines]
    spec = lines[0].spec
    line_ids = [ln.line.id for ln in lines]
    return WindowPart(
        telemetry=telemetry_part(lines, positions),
        station_events=_rows_batch(
            spec,
            line_ids,
            STATION_EVENT,
            [ev for ev, _ in rows],
            lambda r, ms: f"{spec.run_id}-E-{r[1]}-{r[4]}-{r[6][0]}-{ms}",
        ),
        alerts=_rows_batch(
            spec,
            line_ids,
            ALERT,
            [al for _, al in rows],
            lambda r, ms: f"{r[1]}-{'R' if r[3] == 'raised' else 'C'}",
        ),
        new_ids=[ln._take_new_ids() for ln in lines],
    )


def _starts(sizes: Sequence[int]) -> np.ndarray:
    """Where each of consecutive blocks of ``sizes`` starts."""
    return np.cumsum([0, *sizes[:-1]], dtype=np.int64)


def telemetry_part(lines: Sequence[LineNotes], positions: Sequence[int]) -> TelemetryPart | None:
    """Draw the telemetry ``lines`` noted since the last call (their spans are handed over)
    and compute every value, rows as drawn (with their ``order``); ``positions`` are the
    lines' places in the network."""
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
    if n_lines > 1:  # each sample's line, and train codes made unique across the lines
        counts = [sum(s.k1 - s.k0 for s in sp) for sp in per_line]
        line_of = np.repeat(np.arange(n_lines, dtype=np.int16), counts)
        train = sm.train + _starts([len(ln.train_ids) for ln in lines])[line_of]
    else:
        line_of = np.zeros(len(sm.k), np.int16)
        train = sm.train
    order = np.lexsort((train, sm.k))
    emit_from_k = math.ceil(spec.emit_from_s / dt - 1e-9)
    if emit_from_k > sm.k.min():
        order = order[sm.k[order] >= emit_from_k]
        if len(order) == 0:
            return None
    # Every value is computed row by row, on the rows as drawn: the merge puts them in order.
    chain, pax, power = sm.chainage, sm.passengers, sm.power_w
    if n_lines > 1:
        lat = np.empty(len(chain))
        lon = np.empty(len(chain))
        for i, ln in enumerate(lines):
            rows = line_of == i
            lat[rows], lon[rows] = ln.line.position(chain[rows])
    else:
        lat, lon = first.line.position(chain)
    ts_ms = spec.epoch_ms + np.round(sm.k * dt * 1000.0).astype(np.int64)
    lf = pax / stock.capacity
    power_kw = power / 1000.0
    values = {
        "direction": sm.direction,
        "chainage_m": chain,
        "latitude": lat,
        "longitude": lon,
        "speed_kmh": sm.speed * 3.6,
        "acceleration_ms2": sm.acceleration,
        "passenger_count": pax,
        "load_factor": lf,
        "total_weight_tons": (stock.tare_mass_kg + pax * stock.passenger_mass_kg) / 1000.0,
        "power_draw_kw": power_kw,
        "energy_kwh": sm.energy_j / 3.6e6,
        "regen_energy_kwh": sm.regen_j / 3.6e6,
        "is_overcrowded": lf > thr.overcrowding_load_factor,
        "is_high_power_draw": power_kw > thr.high_power_fraction * stock.rated_power_kw,
    }
    return TelemetryPart(
        k=sm.k,
        ts_ms=ts_ms,
        line=np.asarray(positions, np.int16)[line_of],
        train=sm.train,
        trip=sm.trip,
        status=sm.status,
        prev=sm.prev,
        next=sm.next,
        values={f.name: _round(f, values[f.name]) for f in VALUE_FIELDS},
        order=order,
    )


def assemble(spec: RunSpec, lines: Sequence[LineStrings], parts: list[WindowPart]) -> list[Batch]:
    """One batch per record type with rows, from the parts of every process: rows in
    timestamp order, ties in line order. ``lines`` are every line of the run, in network
    order (their strings name the telemetry codes). The batches own their memory, whether or
    not a part is ``borrowed``."""
    out = []
    tel = _telemetry(spec, lines, [p.telemetry for p in parts if p.telemetry is not None])
    if tel is not None:  # gathered into arrays of its own (see _merged)
        out.append(Batch(TELEMETRY, tel))
    line_ids = pa.array([ln.line_id for ln in lines], pa.string())
    for rtype, got in (
        (STATION_EVENT, [(p.station_events, p.borrowed) for p in parts]),
        (ALERT, [(p.alerts, p.borrowed) for p in parts]),
    ):
        present = [(b, lent) for b, lent in got if b is not None and b.num_rows]
        batch = _merged_rows([b for b, _ in present], line_ids)
        if batch is not None and len(present) == 1 and present[0][1]:
            batch = _copied(batch)
        if batch is not None:
            out.append(Batch(rtype, batch))
    return out


def _copied(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch in memory of its own."""
    return batch.take(pa.array(np.arange(batch.num_rows), pa.int64()))


def _merged_rows(batches: list[pa.RecordBatch], line_ids: pa.Array) -> pa.RecordBatch | None:
    """Batches of rows in (timestamp, line) order, each holding whole lines, merged so."""
    if len(batches) <= 1:
        return batches[0] if batches else None
    data = pa.concat_batches(batches)
    ts = data.column("timestamp").cast(pa.int64()).to_numpy()
    line = pc.index_in(data.column("line_id"), value_set=line_ids).to_numpy()
    return data.take(pa.array(np.lexsort((line, ts)), pa.int64()))


def _merged(parts: list[TelemetryPart]) -> TelemetryPart:
    """The parts' rows in (tick, line) order; one line's rows are all in one part. Each
    column is gathered once, from the parts' arrays one after the other, into an array of
    its own (so that a batch never views a part's memory)."""
    if len(parts) == 1:
        order = parts[0].order
    else:
        k = np.concatenate([p.k[p.order] for p in parts])
        line = np.concatenate([p.line[p.order] for p in parts])
        starts = _starts([len(p.k) for p in parts])
        order = np.concatenate([p.order + at for p, at in zip(parts, starts, strict=True)])
        order = order[np.lexsort((line, k))]

    def cat(get: Any) -> np.ndarray:
        arrays = [get(p) for p in parts]
        return np.take(arrays[0] if len(arrays) == 1 else np.concatenate(arrays), order, 0)

    return TelemetryPart(
        k=cat(lambda p: p.k),
        ts_ms=cat(lambda p: p.ts_ms),
        line=cat(lambda p: p.line),
        train=cat(lambda p: p.train),
        trip=cat(lambda p: p.trip),
        status=cat(lambda p: p.status),
        prev=cat(lambda p: p.prev),
        next=cat(lambda p: p.next),
        values={f.name: cat(lambda p, n=f.name: p.values[n]) for f in VALUE_FIELDS},
        order=np.arange(len(order)),
    )


def _telemetry(
    spec: RunSpec, lines: Sequence[LineStrings], parts: list[TelemetryPart]
) -> pa.RecordBatch | None:
    parts = [p for p in parts if len(p)]
    if not parts:
        return None
    p = _merged(parts)
    n = len(p)
    train_start = _starts([len(ln.train_ids) for ln in lines])[p.line]
    train_ids = [t for ln in lines for t in ln.train_ids]
    train = p.train + train_start
    ids = telemetry_ids(spec.run_id, train_ids, train, p.ts_ms)
    trip_start = _starts([len(ln.trip_ids) for ln in lines])[p.line]
    station_start = _starts([len(ln.station_ids) for ln in lines])[p.line]
    stations = [ln.station_book for ln in lines]
    cols: dict[str, Any] = {
        **_common(
            spec, TELEMETRY, p.ts_ms, ids, _line_ids([ln.line_id for ln in lines], p.line, n)
        ),
        "train_id": take_strings([ln.train_book for ln in lines], train),
        "trip_id": take_strings([ln.trip_book for ln in lines], p.trip + trip_start),
        "status": take_strings([_STATUS_BOOK], p.status),
        "prev_station": take_strings(stations, p.prev + station_start),
        "next_station": take_strings(stations, p.next + station_start),
        **p.values,
    }
    return _to_batch(TELEMETRY, cols, rounded=True)


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


def _line_ids(ids: Sequence[str], line: np.ndarray, n: int) -> pa.StringArray:
    """The line id column of ``n`` rows: ``line`` is each row's position in ``ids``."""
    if len(ids) == 1:
        return constant(ids[0], n)
    return take_strings([Codebook(list(ids))], line)


def _rows_batch(
    spec: RunSpec,
    line_ids: Sequence[str],
    rtype: RecordType,
    per_line: list[list[tuple[Any, ...]]],
    id_of: Any,
) -> pa.RecordBatch | None:
    """Rows (time first, then one value per field after ``line_id``) of every line: by
    timestamp (ms), ties in line order, then by exact time, then in the order noted."""
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
    line = np.fromiter((x[1] for x in keyed), np.int64, len(keyed))
    cols = _common(spec, rtype, ts_ms, ids, _line_ids(line_ids, line, len(rows)))
    names = [f.name for f in rtype.fields[len(cols) :]]
    for i, name in enumerate(names, start=1):
        cols[name] = [r[i] for r in rows]
    return _to_batch(rtype, cols)


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


def _to_batch(rtype: RecordType, cols: dict[str, Any], rounded: bool = False) -> pa.RecordBatch:
    """Build the record batch, rounding floats to each field's decimals (JSON == columnar)
    unless they are ``rounded`` already."""
    arrays = []
    for f in rtype.fields:
        col = cols[f.name] if rounded else _round(f, cols[f.name])
        if f.kind == "timestamp":
            arrays.append(pa.array(np.asarray(col, dtype=np.int64), pa.int64()).cast(f.arrow_type))
        elif isinstance(col, pa.Array):
            arrays.append(col)
        else:
            arrays.append(pa.array(col, type=f.arrow_type))
    return pa.RecordBatch.from_arrays(arrays, schema=rtype.arrow_schema)
