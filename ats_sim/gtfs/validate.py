"""Check a scenario's physics against the timetable of the feed it came from.

For every inter-station segment of every line, in both directions, the scheduled running time
is departure from A to arrival at B in ``stop_times.txt``, over every trip of the line's route
on every day of the feed; the dwell is left out wherever the feed gives separate arrival and
departure times. Across trips the median is taken; with times to the whole minute the mean,
which undoes the rounding where trips run at different seconds past the minute (where they all
round alike, each segment keeps up to a minute of rounding, and the report says so). Where the
feed gives no dwell (arrival equals departure everywhere, or at all but a few timing holds: see
:data:`~ats_sim.gtfs.trips.DWELL_SHARE`) each scheduled time contains one dwell, so the
scenario's ``min_dwell_s`` is added to the simulated time and the report says so.

The simulated time comes from :func:`ats_sim.gtfs.runtime.simulated_run_time_s`, i.e. the
project's own physics, for a train at AW1 load (every seat taken). Calibration fits one cruising
speed per line, never one per segment: a per-segment fit would only restate the timetable.
Pairs of stops the line cannot represent are listed as excluded, with the reason.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ats_sim.gtfs.feed import Feed, GtfsError
from ats_sim.gtfs.importer import station_stop
from ats_sim.gtfs.routes import CABLE_TYPES, ROUTE_TYPE_NAMES, route_line_ids
from ats_sim.gtfs.runtime import simulated_run_time_s
from ats_sim.gtfs.stations import Stations
from ats_sim.gtfs.trips import DWELL_SHARE, Trip, dwell_share, load_trips
from ats_sim.network import Line
from ats_sim.scenario import Scenario, load_scenario

__all__ = ["Calibration", "ExcludedSegment", "SegmentCheck", "ValidationReport", "validate"]

#: A segment counts as matching the timetable within this share of the scheduled time.
WITHIN = 0.15
#: Lowest cruising speed calibration tries, km/h.
MIN_CRUISE_KMH = 20.0


@dataclass(frozen=True)
class SegmentCheck:
    """One segment in one direction: the timetable against the model."""

    line: str
    direction: int
    from_station: str
    to_station: str
    from_name: str
    to_name: str
    distance_m: float
    speed_limit_kmh: float
    grade_permille: float
    scheduled_s: float
    simulated_s: float
    trips: int
    dwell_included: bool
    whole_minute: bool

    @property
    def error_pct(self) -> float:
        """(simulated - scheduled) / scheduled, percent."""
        return (self.simulated_s - self.scheduled_s) / self.scheduled_s * 100.0

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values."""
        return {**asdict(self), "error_pct": round(self.error_pct, 2)}


@dataclass(frozen=True)
class ExcludedSegment:
    """A pair of consecutive stops in the feed that the model does not represent, and why."""

    line: str
    from_stop: str
    to_stop: str
    from_name: str
    to_name: str
    reason: str
    trips: int


@dataclass(frozen=True)
class Calibration:
    """The cruising speed chosen for one line and what it did to the error."""

    line: str
    speed_kmh: float
    before_median_abs_error_pct: float
    after_median_abs_error_pct: float
    #: The fit ran into the edge of the range tried (20 km/h or the rolling stock's top speed).
    at_bound: bool


@dataclass(frozen=True)
class ValidationReport:
    """Segments compared, segments excluded, summary statistics and any calibration."""

    feed: str
    scenario: str
    segments: list[SegmentCheck]
    excluded: list[ExcludedSegment]
    calibration: list[Calibration] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def median_abs_error_pct(self) -> float | None:
        """Median of |error| over compared segments, percent (None without segments)."""
        return _median_abs([s.error_pct for s in self.segments])

    @property
    def share_within_15pct(self) -> float | None:
        """Share of compared segments whose |error| is at most 15%."""
        if not self.segments:
            return None
        return float(np.mean([abs(s.error_pct) <= WITHIN * 100 for s in self.segments]))

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready values."""
        med, share = self.median_abs_error_pct, self.share_within_15pct
        return {
            "feed": self.feed,
            "scenario": self.scenario,
            "median_abs_error_pct": None if med is None else round(med, 2),
            "share_within_15pct": None if share is None else round(share, 4),
            "segments": [s.to_dict() for s in self.segments],
            "excluded": [asdict(e) for e in self.excluded],
            "calibration": [asdict(c) for c in self.calibration],
            "notes": list(self.notes),
        }


def _median_abs(errors: Iterable[float]) -> float | None:
    values = [abs(e) for e in errors]
    return float(np.median(values)) if values else None


@dataclass
class _Sample:
    """Scheduled running times of one segment-direction, and how they were recorded."""

    times: list[float] = field(default_factory=list)
    untimed: int = 0


def validate(
    path: str | Path, scenario: str | Path | Scenario, *, calibrate: bool = False
) -> ValidationReport:
    """Compare ``scenario`` (imported from the feed at ``path``) with the feed's timetable."""
    sc = load_scenario(scenario)
    feed = Feed(path)
    stations = Stations(feed)
    by_line = {lid: rid for rid, lid in route_line_ids(feed).items()}
    types = dict(
        zip(
            feed.table("routes.txt")["route_id"],
            feed.numbers("routes.txt", "route_type"),
            strict=True,
        )
    )
    for ln in sc.network.lines:
        if ln.id not in by_line:
            raise GtfsError(
                f"{feed.where('routes.txt')}: no route for scenario line {ln.id!r} (line ids are route "
                "short names or ids); was the scenario imported from this feed?"
            )
    trips = load_trips(feed, stations, [by_line[ln.id] for ln in sc.network.lines])
    stock = sc.rolling_stock
    passengers = stock.seated_capacity
    notes = [
        f"simulated with ats_sim.physics.run_profile for {stock.cars} cars at AW1 load ({passengers} passengers)"
    ]
    segments: list[SegmentCheck] = []
    excluded: list[ExcludedSegment] = []
    calibration: list[Calibration] = []
    for ln in sc.network.lines:
        route_trips = [t for t in trips if t.route_id == by_line[ln.id]]
        segs, excl, line_notes = _check_line(
            feed, stations, ln, route_trips, int(types[by_line[ln.id]]), sc, passengers
        )
        excluded += excl
        notes += line_notes
        if calibrate and segs:
            speed, at_bound = _fit_speed(ln, segs, sc, passengers)
            before = _median_abs(s.error_pct for s in segs)
            segs = [
                _simulate(s, ln, idx, sc, passengers, speed)
                for s, idx in _segs_with_index(ln, segs)
            ]
            after = _median_abs(s.error_pct for s in segs)
            assert before is not None and after is not None
            calibration.append(
                Calibration(ln.id, speed, round(before, 2), round(after, 2), at_bound)
            )
        segments += segs
    return ValidationReport(feed.label, sc.name, segments, excluded, calibration, notes)


def _segs_with_index(ln: Line, segs: list[SegmentCheck]) -> list[tuple[SegmentCheck, int]]:
    """Each checked segment with its index on the line."""
    index = {s.id: i for i, s in enumerate(ln.stations)}
    return [(s, min(index[s.from_station], index[s.to_station])) for s in segs]


def _check_line(
    feed: Feed,
    stations: Stations,
    ln: Line,
    trips: list[Trip],
    route_type: int,
    sc: Scenario,
    passengers: int,
) -> tuple[list[SegmentCheck], list[ExcludedSegment], list[str]]:
    stops: list[str] = []
    for st in ln.stations:
        stop = station_stop(ln.id, st.id)
        if stop is None or stop not in stations:
            raise GtfsError(
                f"{feed.where('stops.txt')}: station {st.id!r} of line {ln.id} is not a stop of this feed "
                f"(imported station ids are '<line>-<stop_id>'); was the scenario imported from this feed?"
            )
        stops.append(stop)
    pairs: dict[tuple[str, str], tuple[int, int]] = {}
    for i in range(len(stops) - 1):
        pairs.setdefault((stops[i], stops[i + 1]), (i, 0))
        pairs.setdefault((stops[i + 1], stops[i]), (i, 1))
    on_line = set(stops)
    samples: dict[tuple[int, int], _Sample] = defaultdict(_Sample)
    other: dict[tuple[str, str, str], int] = defaultdict(int)
    for t in trips:
        run = t.arrival[1:] - t.departure[:-1]
        for k in range(len(t.stations) - 1):
            a, b = t.stations[k], t.stations[k + 1]
            if a == b:
                other[
                    (
                        a,
                        b,
                        "zero-length: consecutive stops at the same station (a reversal or platform change)",
                    )
                ] += 1
            elif (a, b) in pairs:
                smp = samples[pairs[(a, b)]]
                if math.isnan(run[k]):
                    smp.untimed += 1
                else:
                    smp.times.append(float(run[k]))
            elif a in on_line and b in on_line:
                other[
                    (a, b, "the stops are not adjacent on the line (an express or a short cut)")
                ] += 1
            else:
                other[(a, b, "off the imported line (a branch or another pattern)")] += 1
    every = (
        np.concatenate([np.concatenate([t.arrival, t.departure]) for t in trips])
        if trips
        else np.array([])
    )
    every = every[~np.isnan(every)]
    whole_minute = bool(len(every)) and bool(np.all(every % 60 == 0))
    share = dwell_share(trips)
    # With no stop inside any trip (a two-station shuttle), departure to arrival holds no dwell.
    dwell_info = share is None or share >= DWELL_SHARE
    notes = []
    if whole_minute:
        notes.append(
            f"line {ln.id}: times are to the whole minute, so a segment's scheduled time can be off "
            "by up to a minute where every trip rounds alike; the mean over trips is taken"
        )
    if not dwell_info:
        notes.append(
            f"line {ln.id}: the feed gives no dwell (arrival equals departure at "
            f"{1 - (share or 0.0):.0%} of stops), so scheduled times include one dwell and the "
            f"simulated ones add min_dwell_s = {sc.operations.min_dwell_s:g} s"
        )
    excl = [
        ExcludedSegment(ln.id, a, b, stations.name(a), stations.name(b), reason, n)
        for (a, b, reason), n in sorted(other.items())
    ]
    cable = route_type in CABLE_TYPES
    segs: list[SegmentCheck] = []
    # Direction 0 first, then direction 1, each in the order a train meets the segments.
    for (i, d), smp in sorted(
        samples.items(), key=lambda kv: (kv[0][1], kv[0][0] if kv[0][1] == 0 else -kv[0][0])
    ):
        a, b = (stops[i], stops[i + 1]) if d == 0 else (stops[i + 1], stops[i])

        def skip(reason: str, n: int, a: str = a, b: str = b) -> None:
            excl.append(ExcludedSegment(ln.id, a, b, stations.name(a), stations.name(b), reason, n))

        if cable:
            kind = ROUTE_TYPE_NAMES.get(route_type, f"route_type {route_type}")
            skip(f"cable-hauled ({kind}): not a self-propelled train", len(smp.times) + smp.untimed)
            continue
        if not smp.times:
            skip("no times at these stops (not timepoints)", smp.untimed)
            continue
        sched = float(np.mean(smp.times) if whole_minute else np.median(smp.times))
        if sched <= 0:
            skip("the scheduled running time is zero (times rounded to the minute)", len(smp.times))
            continue
        from_st, to_st = (
            (ln.stations[i], ln.stations[i + 1]) if d == 0 else (ln.stations[i + 1], ln.stations[i])
        )
        seg = SegmentCheck(
            line=ln.id,
            direction=d,
            from_station=from_st.id,
            to_station=to_st.id,
            from_name=from_st.name,
            to_name=to_st.name,
            distance_m=round(float(ln.chainages[i + 1] - ln.chainages[i]), 1),
            speed_limit_kmh=ln.segment_speed_limit_kmh(i),
            grade_permille=ln.segment_grade_permille(i, d),
            scheduled_s=round(sched, 1),
            simulated_s=math.nan,
            trips=len(smp.times),
            dwell_included=not dwell_info,
            whole_minute=whole_minute,
        )
        try:
            segs.append(_simulate(seg, ln, i, sc, passengers, None))
        except ValueError as exc:
            skip(f"the model cannot run it: {exc}", len(smp.times))
    return segs, excl, notes


def _limit(ln: Line, i: int, cruise_kmh: float | None) -> float:
    if cruise_kmh is None:
        return ln.segment_speed_limit_kmh(i)
    own = ln.segment(i).speed_limit_kmh
    return cruise_kmh if own is None else min(own, cruise_kmh)


def _simulate(
    seg: SegmentCheck, ln: Line, i: int, sc: Scenario, passengers: int, cruise_kmh: float | None
) -> SegmentCheck:
    limit = _limit(ln, i, cruise_kmh)
    t = simulated_run_time_s(
        seg.distance_m, limit, seg.grade_permille, sc.rolling_stock, passengers
    )
    if seg.dwell_included:
        t += sc.operations.min_dwell_s
    return SegmentCheck(**{**asdict(seg), "speed_limit_kmh": limit, "simulated_s": round(t, 1)})


def _fit_speed(
    ln: Line, segs: list[SegmentCheck], sc: Scenario, passengers: int
) -> tuple[float, bool]:
    """The cruising speed (whole km/h) minimising the line's median absolute error."""
    top = float(math.floor(sc.rolling_stock.top_speed_kmh))
    indexed = _segs_with_index(ln, segs)

    def score(v: float) -> tuple[float, float]:
        errs = [abs(_simulate(s, ln, i, sc, passengers, v).error_pct) for s, i in indexed]
        return float(np.median(errs)), float(np.mean(errs))

    coarse = sorted({*np.arange(MIN_CRUISE_KMH, top, 5.0).tolist(), top})
    best = min(coarse, key=score)
    fine = [
        v for v in np.arange(best - 5.0, best + 5.5, 1.0).tolist() if MIN_CRUISE_KMH <= v <= top
    ]
    best = min(fine, key=score)
    return float(best), best in (MIN_CRUISE_KMH, top)
