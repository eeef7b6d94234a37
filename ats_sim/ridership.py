"""Passengers: demand by time of day, origin-destination choice, platform queues and dwell.

Demand follows REFERENCE.md: a line's daily entries scaled by day type (Saturday about 0.50,
Sunday/holiday about 0.43 of a weekday) and spread over the hours by a profile (CTA's by
default). Destinations come from a gravity model (station weights times a distance decay) or an
explicit matrix. Arrivals are a non-homogeneous Poisson process: per window, each origin draws
``N ~ Poisson(integral of its rate)`` passengers spread uniformly inside the window, each with a
destination drawn from the origin's row of the matrix (equivalent to independent Poisson
streams per origin-destination pair).

Boarding is FIFO and capacity-limited: ``space = limit - (on_board - alighting)``, the first
``min(waiting, space)`` passengers board, the rest stay with their original arrival times.
Dwell time uses the MBTA Red Line model (Puong, 2000).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from ats_sim.network import Line
from ats_sim.scenario import DemandSurge, Scenario, parse_clock

__all__ = ["LineDemand", "PlatformQueue", "day_factor", "dwell_time_s"]


def day_factor(scenario: Scenario, date: dt.date) -> float:
    """Demand multiplier of a service day: 1 on weekdays, the Saturday or Sunday factor."""
    kind: str = scenario.day_type
    if kind == "auto":
        kind = {5: "saturday", 6: "sunday"}.get(date.weekday(), "weekday")
    return {
        "weekday": 1.0,
        "saturday": scenario.demand.saturday_factor,
        "sunday": scenario.demand.sunday_factor,
    }[kind]


def dwell_time_s(alighting: int, boarding: int, standees: int, doors: int, minimum: float) -> float:
    """Dwell, s: ``12.22 + 2.27*A + min(1.82 + 6.4e-4*S^3, 3.5)*B`` per door (Puong 2000).

    ``A`` and ``B`` are alighting and boarding passengers per door, ``S`` through-standees per
    door; never below ``minimum``.
    """
    a = alighting / doors
    b = boarding / doors
    s = standees / doors
    return max(minimum, 12.22 + 2.27 * a + min(1.82 + 6.4e-4 * s**3, 3.5) * b)


class PlatformQueue:
    """Passengers waiting on one platform (a station, one direction), oldest first."""

    __slots__ = ("_dests", "_dropped", "_head", "_times")

    def __init__(self) -> None:
        self._times = np.empty(0, dtype=np.float64)
        self._dests = np.empty(0, dtype=np.int32)
        self._head = 0
        self._dropped = 0

    def add(self, times: np.ndarray, dests: np.ndarray) -> None:
        """Append arrivals (sorted, none earlier than those already queued)."""
        if len(times) == 0:
            return
        if self._head > 4096:
            self._times = self._times[self._head :]
            self._dests = self._dests[self._head :]
            self._dropped += self._head
            self._head = 0
        self._times = np.concatenate((self._times, times))
        self._dests = np.concatenate((self._dests, dests))

    def arrived_by(self, t: float) -> int:
        """Every passenger who has arrived on this platform up to time ``t``."""
        return self._dropped + int(np.searchsorted(self._times, t, side="right"))

    def waiting(self, t: float) -> int:
        """Passengers on the platform at time ``t``."""
        return int(np.searchsorted(self._times, t, side="right")) - self._head

    def board(self, present: int, space: int, n_stations: int) -> tuple[np.ndarray, int]:
        """Board up to ``space`` of the ``present`` passengers waiting (``waiting(t)`` at the
        time of boarding), FIFO.

        Returns boarded counts per destination station and how many were left behind.
        """
        k = max(0, min(present, space))
        dests = self._dests[self._head : self._head + k]
        self._head += k
        return np.bincount(dests, minlength=n_stations), present - k


class LineDemand:
    """Passenger arrivals for one line."""

    def __init__(self, scenario: Scenario, line: Line, rng: np.random.Generator) -> None:
        self.scenario = scenario
        self.line = line
        self.rng = rng
        n = line.n_stations
        weights = self._od_weights()
        daily = line.daily_entries * scenario.demand.scale
        row = weights.sum(axis=1)
        total = row.sum()
        #: Weekday entries per station.
        self.entries = daily * row / total if total > 0 else np.zeros(n)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.dest_p = np.where(row[:, None] > 0, weights / row[:, None], 0.0)
        profile = np.asarray(scenario.demand.hourly_profile, dtype=np.float64)
        self.hourly_share = profile / profile.sum()
        self.surges: list[tuple[int, float, float, float, int]] = []
        ids = [s.id for s in line.stations]
        for d in scenario.disruptions:
            if isinstance(d, DemandSurge) and d.station in ids:
                self.surges.append(
                    (
                        ids.index(d.station),
                        parse_clock(d.start),
                        parse_clock(d.end),
                        d.factor,
                        d.day,
                    )
                )

    def _od_weights(self) -> np.ndarray:
        ln = self.line
        explicit = self.scenario.demand.od_matrix.get(ln.id)
        if self.scenario.demand.od_model == "matrix" and explicit is not None:
            w = np.asarray(explicit, dtype=np.float64)
        else:
            wt = np.array([s.weight for s in ln.stations])
            d = np.abs(ln.chainages[:, None] - ln.chainages[None, :]) / 1000.0
            w = wt[:, None] * wt[None, :] * np.exp(-d / self.scenario.demand.gravity_length_km)
        w = w.copy()
        np.fill_diagonal(w, 0.0)
        return w

    def arrivals(
        self, t0: float, t1: float, day_start: float, factor: float, day_index: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrivals in ``[t0, t1)`` (simulation seconds): times, origins, destinations.

        ``day_start`` is the simulation time of the service day's local midnight and
        ``factor`` its day-type multiplier. The window must not cross an hour boundary.
        """
        hour = int(((t0 - day_start) // 3600) % 24)
        share = self.hourly_share[hour] * (t1 - t0) / 3600.0
        lam = self.entries * factor * share
        if self.surges:
            tod0, tod1 = t0 - day_start, t1 - day_start
            for idx, s0, s1, f, day in self.surges:
                if day == day_index:
                    overlap = max(0.0, min(tod1, s1) - max(tod0, s0))
                    if overlap > 0:
                        lam[idx] *= 1 + (f - 1) * overlap / (tod1 - tod0)
        counts = self.rng.poisson(lam)
        total = int(counts.sum())
        if total == 0:
            empty = np.empty(0)
            return empty, empty.astype(np.int32), empty.astype(np.int32)
        origins = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
        times = t0 + self.rng.random(total) * (t1 - t0)
        dests = np.empty(total, dtype=np.int32)
        start = 0
        for o, c in enumerate(counts):
            if c:
                dests[start : start + c] = self.rng.choice(len(counts), size=c, p=self.dest_p[o])
                start += c
        order = np.argsort(times, kind="stable")
        return times[order], origins[order], dests[order]


def hour_windows(t0: float, t1: float, step: float = 900.0) -> list[tuple[float, float]]:
    """Split ``[t0, t1)`` into windows of at most ``step`` seconds that never cross an hour."""
    out = []
    t = t0
    while t < t1:
        nxt = min(t1, (math.floor(t / step) + 1) * step)
        out.append((t, nxt))
        t = nxt
    return out
