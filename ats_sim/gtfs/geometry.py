"""Distances on the ground: great circles, positions along a shape, units of a distance column.

Chainage (metres from a line's first station) comes from the best source a feed offers:
``shape_dist_traveled`` in whatever unit the agency used (found by comparing it with measured
distances), else each station projected onto the trip's ``shapes.txt`` polyline, else
great-circle distances between stations. Everything here is plain NumPy on city-sized
geometry, where a local flat projection is accurate to well under a metre per kilometre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["UNITS", "detect_unit", "great_circle_m", "path_length_m", "project_along"]

EARTH_RADIUS_M = 6_371_008.8

#: Metres per unit for the units ``shape_dist_traveled`` is found in.
UNITS: dict[str, float] = {"metres": 1.0, "kilometres": 1000.0, "feet": 0.3048, "miles": 1609.344}


def great_circle_m(
    lat1: np.ndarray | float,
    lon1: np.ndarray | float,
    lat2: np.ndarray | float,
    lon2: np.ndarray | float,
) -> np.ndarray:
    """Haversine distance, m."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def path_length_m(lat: Sequence[float], lon: Sequence[float]) -> np.ndarray:
    """Cumulative great-circle length along points, m (starts at 0)."""
    la, lo = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    steps = great_circle_m(la[:-1], lo[:-1], la[1:], lo[1:])
    return np.concatenate([[0.0], np.cumsum(steps)])


def _xy(lat: np.ndarray, lon: np.ndarray, lat0: float) -> np.ndarray:
    k = math.pi / 180 * EARTH_RADIUS_M
    return np.column_stack(
        [np.asarray(lon) * k * math.cos(math.radians(lat0)), np.asarray(lat) * k]
    )


def project_along(
    shape_lat: Sequence[float],
    shape_lon: Sequence[float],
    stop_lat: Sequence[float],
    stop_lon: Sequence[float],
    max_offset_m: float = 250.0,
    slack_m: float = 60.0,
) -> np.ndarray | None:
    """Distance along a polyline of each stop, in stop order, m; None if the stops do not fit.

    Stops are placed in order, each at or after the previous one, at the earliest point whose
    distance from the stop is within ``slack_m`` of the closest possible: on a loop the first
    station lands at the start of the shape and the closing one at its end (the earliest *local*
    minimum of the distance is taken, so a densely drawn shape does not pull a stop back onto
    the points before it). A stop further than
    ``max_offset_m`` from the remaining shape means the shape does not belong to the stops.
    """
    sl, so = np.asarray(shape_lat, dtype=float), np.asarray(shape_lon, dtype=float)
    if len(sl) < 2:
        return None
    lat0 = float(np.mean(sl))
    pts = _xy(sl, so, lat0)
    a, b = pts[:-1], pts[1:]
    d = b - a
    seg_len = np.hypot(d[:, 0], d[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    safe = np.where(seg_len > 0, seg_len, 1.0)
    out: list[float] = []
    pos = 0.0
    for p in _xy(np.asarray(stop_lat, dtype=float), np.asarray(stop_lon, dtype=float), lat0):
        t = np.clip(((p - a) * d).sum(axis=1) / safe**2, 0.0, 1.0)
        along = cum[:-1] + t * seg_len
        # Not behind the previous stop: clamp each candidate to at least `pos`.
        ahead = along >= pos - 1e-6
        along = np.where(ahead, along, pos)
        seg = np.clip(np.searchsorted(cum, along, side="right") - 1, 0, len(seg_len) - 1)
        tt = np.where(seg_len[seg] > 0, (along - cum[seg]) / safe[seg], 0.0)
        foot = pts[seg] + tt[:, None] * d[seg]
        off = np.hypot(*(foot - p).T)
        best = float(off.min())
        if best > max_offset_m:
            return None
        # Earliest local minimum of the offset that is nearly as close as the best one.
        prev = np.concatenate([[np.inf], off[:-1]])
        nxt = np.concatenate([off[1:], [np.inf]])
        local = (off <= prev) & (off <= nxt) & (off <= best + slack_m)
        i = int(np.argmax(local))
        pos = float(along[i])
        out.append(pos)
    return np.array(out)


def detect_unit(
    span_in_feed: float, measured_m: float, measured_is_track: bool
) -> tuple[str, float] | None:
    """The unit in which a ``shape_dist_traveled`` span matches a measured distance.

    ``measured_is_track`` says the measurement follows the track (a shape); otherwise it is a
    straight line between stations, which a track is usually 0-40% longer than. Returns
    ``(unit name, metres per unit)`` or None when no unit fits.
    """
    if span_in_feed <= 0 or measured_m <= 0:
        return None
    expected, lo, hi = (1.0, 0.85, 1.2) if measured_is_track else (1.15, 0.9, 1.9)
    best: tuple[float, str] | None = None
    for name, metres in UNITS.items():
        ratio = span_in_feed * metres / measured_m
        if lo <= ratio <= hi:
            score = abs(math.log(ratio / expected))
            if best is None or score < best[0]:
                best = (score, name)
    return None if best is None else (best[1], UNITS[best[1]])
