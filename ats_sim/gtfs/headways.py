"""Headways by period from a day's departures.

The gap between consecutive departures is assigned to the half hour (on the clock) it starts
in; a half hour's headway is the median gap in it. Neighbouring half hours whose headways agree
within :data:`MERGE_TOLERANCE` form one period, whose headway is the median gap over the whole
period. Medians, not means, so that the odd short gap where a ``frequencies.txt`` window ends
before a whole headway has passed does not make a period of its own.
This is what a person reading the timetable would write down ("every 4 minutes in the peaks,
every 8 midday"), in the form ``[operations] periods`` takes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MERGE_TOLERANCE", "Timetable", "clock", "headway_periods"]

#: Length of the windows gaps are averaged over, s.
WINDOW_S = 1800.0
#: Windows whose headways differ by at most this share of the period's headway are merged.
MERGE_TOLERANCE = 0.15
#: The range ``[operations] periods`` accepts, s.
MIN_HEADWAY_S, MAX_HEADWAY_S = 60.0, 3600.0
#: Latest time of day a scenario accepts (30:00, i.e. 06:00 the next morning).
LATEST_S = 30 * 3600


@dataclass(frozen=True)
class Timetable:
    """Service hours and periods of one direction of one line on one day."""

    service_start_s: float
    service_end_s: float
    #: ``(start, headway)`` pairs in seconds, in order; the first starts at ``service_start_s``.
    periods: list[tuple[float, float]]
    departures: int
    median_gap_s: float


def clock(seconds: float) -> str:
    """Seconds after midnight as ``HH:MM`` (hours past 24 kept, as GTFS and scenarios do)."""
    minutes = round(seconds / 60.0)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _round_headway(h: float) -> float:
    return float(min(max(round(h / 5.0) * 5.0, MIN_HEADWAY_S), MAX_HEADWAY_S))


def headway_periods(departures: Sequence[float]) -> Timetable:
    """Periods from departure times (s after midnight, any order; at least one)."""
    deps = np.sort(np.asarray(departures, dtype=float))
    start = math.floor(deps[0] / 60.0) * 60.0
    end = min(math.ceil(deps[-1] / 60.0) * 60.0 + 60.0, LATEST_S)
    start = min(start, end - 60.0)
    if len(deps) < 2:
        return Timetable(start, end, [(start, MAX_HEADWAY_S)], len(deps), MAX_HEADWAY_S)
    gaps = np.diff(deps)
    gaps = np.minimum(gaps, MAX_HEADWAY_S)
    slots = np.floor(deps[:-1] / WINDOW_S).astype(int)
    periods: list[tuple[float, list[float]]] = []  # (start, gaps)
    for slot in range(int(slots.min()), int(slots.max()) + 1):
        g = gaps[(slots == slot) & (gaps > 0)].tolist()
        if not g:
            continue
        if periods:
            cur = float(np.median(periods[-1][1]))
            if abs(float(np.median(g)) - cur) <= MERGE_TOLERANCE * cur:
                periods[-1][1].extend(g)
                continue
        periods.append((max(start, slot * WINDOW_S), g))
    if not periods:  # every departure at the same second
        return Timetable(start, end, [(start, MIN_HEADWAY_S)], len(deps), 0.0)
    out = [(s, _round_headway(float(np.median(g)))) for s, g in periods]
    # Periods with equal rounded headways collapse; starts must stay before the end of service.
    merged: list[tuple[float, float]] = []
    for at, head in out:
        if at >= end:
            break
        if merged and merged[-1][1] == head:
            continue
        merged.append((at, head))
    merged[0] = (start, merged[0][1])
    return Timetable(start, end, merged, len(deps), float(np.median(gaps)))
