"""Chainage: where each station of a line lies along the track, in metres from the first.

The best source a feed offers wins: ``shape_dist_traveled`` in ``stop_times.txt`` (its unit,
metres, kilometres, feet or miles, found by comparing the span with a measured distance), else
the stations projected onto the trip's ``shapes.txt`` polyline, else great circles between
stations. :func:`line_chainage` returns the chainages and a label saying which was used, and
notes why a better source was passed over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np

from ats_sim.gtfs.feed import Feed, GtfsError
from ats_sim.gtfs.geometry import detect_unit, path_length_m, project_along
from ats_sim.gtfs.stations import Stations
from ats_sim.gtfs.trips import Trip

__all__ = ["line_chainage"]


def _stop_indices(trip: Trip, n: int) -> list[int]:
    """For each station of the line (pattern order), its first row in the trip."""
    out, prev = [], None
    for i, s in enumerate(trip.stations):
        if s != prev:
            out.append(i)
        prev = s
    return out[:n]


def line_chainage(
    feed: Feed, stations: Stations, rep: list[Trip], n: int, notes: list[str]
) -> tuple[np.ndarray, str]:
    """Chainage of the line's stations, m, and where it came from."""
    rep = sorted(rep, key=lambda t: (not t.shape_id, np.isnan(t.dist).any()))
    trip = rep[0]
    idx = _stop_indices(trip, n)
    pts = [stations.stop_coords(trip.stops[i]) for i in idx]
    pts = [
        p if not (math.isnan(p[0]) or math.isnan(p[1])) else stations.coords(trip.stations[i])
        for p, i in zip(pts, idx, strict=True)
    ]
    lat, lon = [p[0] for p in pts], [p[1] for p in pts]
    along = _along_shape(feed, trip.shape_id, lat, lon)
    if along is not None and np.all(np.diff(along) >= 1.0):
        shape_chain: np.ndarray | None = along - along[0]
    else:
        shape_chain = None
        if trip.shape_id and feed.has("shapes.txt"):
            notes.append(f"shape {trip.shape_id!r} does not follow the stations in order; not used")
    for t in rep:
        d = t.dist[_stop_indices(t, n)]
        if len(d) == n and not np.isnan(d).any() and np.all(np.diff(d) > 0):
            span = float(d[-1] - d[0])
            measured = (
                float(shape_chain[-1])
                if shape_chain is not None
                else float(path_length_m(lat, lon)[-1])
            )
            unit = detect_unit(span, measured, shape_chain is not None)
            if unit is None:
                notes.append(
                    f"shape_dist_traveled spans {span:g} against {measured:.0f} m measured: no unit fits; not used"
                )
                break
            return (d - d[0]) * unit[1], f"shape_dist_traveled ({unit[0]})"
    else:
        if any(not np.isnan(t.dist).all() for t in rep):
            notes.append(
                "shape_dist_traveled is incomplete or not increasing along the line; not used"
            )
    if shape_chain is not None:
        return shape_chain, f"distance along shapes.txt (shape {trip.shape_id})"
    gc = path_length_m(lat, lon)
    if np.any(np.diff(gc) < 1.0):
        i = int(np.argmax(np.diff(gc) < 1.0))
        raise GtfsError(
            f"{feed.where('stops.txt')}: stations {trip.stations[idx[i]]!r} and {trip.stations[idx[i + 1]]!r} "
            "are at the same coordinates and the feed has no shape distances: the line needs them apart"
        )
    return gc, "great-circle between stations"


def _along_shape(
    feed: Feed, shape_id: str, lat: list[float], lon: list[float]
) -> np.ndarray | None:
    if not shape_id or not feed.has("shapes.txt"):
        return None
    sh = feed.table("shapes.txt")
    rows = sh.index[sh["shape_id"] == shape_id]
    if len(rows) < 2:
        return None
    seq = feed.numbers("shapes.txt", "shape_pt_sequence", rows)
    plat = feed.numbers("shapes.txt", "shape_pt_lat", rows)
    plon = feed.numbers("shapes.txt", "shape_pt_lon", rows)
    order = np.argsort(seq.to_numpy(), kind="stable")
    # project_along takes any 1-D float array (it calls np.asarray); its Sequence[float]
    # annotation does not admit ndarray, so the arrays are cast for the checker only.
    shape_lat = cast("Sequence[float]", plat.to_numpy()[order])
    shape_lon = cast("Sequence[float]", plon.to_numpy()[order])
    return project_along(shape_lat, shape_lon, lat, lon)
