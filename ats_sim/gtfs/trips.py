"""Trips of the chosen routes: stops in ``stop_sequence`` order, times, and runs.

:func:`load_trips` reads the trips of some routes with their stop times (sorted by
``stop_sequence``, whatever the order of the rows in the file), resolves each stop to its
station, expands ``frequencies.txt`` templates into the departures of their runs, and checks
what would make the result meaningless: unknown stops, a ``stop_sequence`` used twice in a
trip, times that run backwards along the sequence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from ats_sim.gtfs.feed import Feed, GtfsError
from ats_sim.gtfs.stations import Stations

__all__ = ["DWELL_SHARE", "Trip", "dwell_share", "gives_dwell", "load_trips"]

#: A feed gives dwell times when at least this share of the stops inside trips has a departure
#: after the arrival. Below it, the feed gives one time per stop and its few separate times are
#: timing holds (the New York subway's feed separates 2-19% of stops so, in steps of 30 s to
#: minutes), so its running times contain the dwell. Times rounded to the whole minute still
#: separate about dwell/60 of stops: a 15 s dwell or longer clears this share.
DWELL_SHARE = 0.25


@dataclass
class Trip:
    """One trip in ``stop_sequence`` order: stops, their stations and times (s after midnight)."""

    trip_id: str
    route_id: str
    direction: str
    service_id: str
    shape_id: str
    stops: tuple[str, ...]
    stations: tuple[str, ...]
    arrival: np.ndarray
    departure: np.ndarray
    dist: np.ndarray
    #: Departure from the first stop of each run (several for a frequencies.txt template).
    runs: list[float] = field(default_factory=list)

    @property
    def pattern(self) -> tuple[str, ...]:
        """Stations served, with a station repeated back to back (a platform change) kept once."""
        out = [self.stations[0]]
        for s in self.stations[1:]:
            if s != out[-1]:
                out.append(s)
        return tuple(out)


def dwell_share(trips: Iterable[Trip]) -> float | None:
    """Share of stops inside trips (not first, not last) whose departure is after the arrival.

    None when no trip has an intermediate stop with both times.
    """
    separate = total = 0
    for t in trips:
        a, d = t.arrival[1:-1], t.departure[1:-1]
        both = ~(np.isnan(a) | np.isnan(d))
        total += int(both.sum())
        separate += int((d[both] > a[both]).sum())
    return separate / total if total else None


def gives_dwell(trips: Iterable[Trip]) -> bool:
    """Whether ``trips`` give dwell times, i.e. running times from departure to arrival exclude them."""
    share = dwell_share(trips)
    return share is not None and share >= DWELL_SHARE


def load_trips(feed: Feed, stations: Stations, route_ids: Iterable[str]) -> list[Trip]:
    """Every trip of the given routes, checked: known stops, ordered sequences, times forward."""
    route_ids = set(route_ids)
    tdf = feed.table("trips.txt", optional=("direction_id", "service_id", "shape_id"))
    for col in ("direction_id", "service_id", "shape_id"):
        if col not in tdf.columns:
            tdf[col] = ""
    feed.require_unique("trips.txt", "trip_id")
    tdf = tdf[tdf["route_id"].isin(route_ids)]
    # Every column of a feed table is str (Feed.table reads with dtype=str, no NA values).
    meta: dict[str, Any] = {cast(str, r.trip_id): r for r in tdf.itertuples(index=False)}
    st = feed.table("stop_times.txt", optional=("shape_dist_traveled",))
    rows = st.index[st["trip_id"].isin(meta.keys())]
    if not len(rows):
        return []
    sub = st.loc[rows]
    seq = feed.numbers("stop_times.txt", "stop_sequence", rows)
    arr = feed.times("stop_times.txt", "arrival_time", rows)
    dep = feed.times("stop_times.txt", "departure_time", rows)
    arr, dep = arr.fillna(dep), dep.fillna(arr)
    if "shape_dist_traveled" in sub.columns:
        dist = feed.numbers("stop_times.txt", "shape_dist_traveled", rows, allow_empty=True)
    else:
        dist = pd.Series(np.nan, index=rows)
    unknown = ~sub["stop_id"].isin(stations.stop_ids)
    if unknown.any():
        i = unknown.idxmax()
        raise GtfsError(
            f"{feed.where('stop_times.txt', int(cast(int, i)) + 2, 'stop_id')}: {sub.at[i, 'stop_id']!r} is not a stop in stops.txt"
        )
    frame = pd.DataFrame(
        {
            "trip": sub["trip_id"],
            "seq": seq,
            "stop": sub["stop_id"],
            "arr": arr,
            "dep": dep,
            "dist": dist,
            "row": rows + 2,
        }
    )
    frame = frame.sort_values(["trip", "seq"], kind="stable")
    dup = frame.duplicated(["trip", "seq"], keep="first")
    if dup.any():
        r = frame[dup].iloc[0]
        raise GtfsError(
            f"{feed.where('stop_times.txt', int(r['row']), 'stop_sequence')}: trip {r['trip']!r} "
            f"has stop_sequence {r['seq']:g} twice"
        )
    runs = _frequency_runs(feed, set(meta))
    trips: list[Trip] = []
    col_trip = frame["trip"].to_numpy(dtype=object)
    col_stop = frame["stop"].to_numpy(dtype=object)
    col_arr, col_dep = frame["arr"].to_numpy(float), frame["dep"].to_numpy(float)
    col_dist, col_seq = frame["dist"].to_numpy(float), frame["seq"].to_numpy(float)
    col_row = frame["row"].to_numpy()
    bounds = np.flatnonzero(col_trip[1:] != col_trip[:-1]) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(frame)], strict=True):
        trip_id = str(col_trip[lo])
        a, d = col_arr[lo:hi], col_dep[lo:hi]
        times = np.column_stack([a, d]).ravel()
        timed = np.flatnonzero(~np.isnan(times))
        back = np.flatnonzero(np.diff(times[timed]) < 0)
        if len(back):
            k = lo + int(timed[back[0] + 1] // 2)
            raise GtfsError(
                f"{feed.where('stop_times.txt', int(col_row[k]), 'stop_sequence')}: trip {trip_id!r} "
                f"goes back in time at stop_sequence {col_seq[k]:g} (stop {col_stop[k]!r}): "
                "stop_sequence order does not match the times"
            )
        if hi - lo < 2 or np.isnan(d[0]) or np.isnan(a[-1]):
            continue
        m = meta[trip_id]
        stops = tuple(str(x) for x in col_stop[lo:hi])
        trips.append(
            Trip(
                trip_id=trip_id,
                route_id=m.route_id,
                direction=m.direction_id,
                service_id=m.service_id,
                shape_id=m.shape_id,
                stops=stops,
                stations=tuple(stations.station(x) for x in stops),
                arrival=a,
                departure=d,
                dist=col_dist[lo:hi],
                runs=runs.get(trip_id, [float(d[0])]),
            )
        )
    return trips


def _frequency_runs(feed: Feed, trip_ids: set[str]) -> dict[str, list[float]]:
    """First-stop departures of each run of a frequencies.txt template, by trip id."""
    if not feed.has("frequencies.txt"):
        return {}
    fq = feed.table("frequencies.txt")
    rows = fq.index[fq["trip_id"].isin(trip_ids)]
    if not len(rows):
        return {}
    start = feed.times("frequencies.txt", "start_time", rows)
    end = feed.times("frequencies.txt", "end_time", rows)
    head = feed.numbers("frequencies.txt", "headway_secs", rows)
    out: dict[str, list[float]] = {}
    for i in rows:
        if math.isnan(start[i]) or math.isnan(end[i]):
            raise GtfsError(
                f"{feed.where('frequencies.txt', int(i) + 2, 'start_time')}: start and end times are required"
            )
        if head[i] <= 0:
            raise GtfsError(
                f"{feed.where('frequencies.txt', int(i) + 2, 'headway_secs')}: must be positive, got {head[i]:g}"
            )
        out.setdefault(cast(str, fq.at[i, "trip_id"]), []).extend(
            np.arange(start[i], end[i], head[i]).tolist()
        )
    return {k: sorted(v) for k, v in out.items()}
