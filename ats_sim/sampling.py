"""Telemetry samples drawn from train phases, a whole window at a time.

While a line runs, the engine only notes *which* telemetry ticks each train phase covers: a
:class:`Span` (ticks ``k0 <= k < k1``, the phase, the train). When a window's records are
built, :func:`draw` turns every span into its samples with a handful of NumPy calls: phases
without a run profile (dwelling, turning round) all at once, and every running sample at once
against the knots of the window's run profiles laid end to end (one search finds each
sample's knot, then ``np.interp``'s own formula is applied elementwise).

The arithmetic is the per-sample arithmetic of a phase (see :class:`ats_sim.engine.Phase`)
and of ``np.interp``, done elementwise in the same order, so the values do not depend on how
spans are grouped: a window of any size, and any number of worker processes, give the same
samples (``tests/core/test_sampling.py`` holds them to one ``np.interp`` per sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Samples", "Span", "draw"]


class Span(NamedTuple):
    """Ticks ``k0 .. k1 - 1`` of one train, all in ``phase``."""

    k0: int
    k1: int
    phase: Any  # ats_sim.engine.Phase (kept untyped to avoid an import cycle)
    train: int


@dataclass(slots=True)
class Samples:
    """Column arrays, one element per sample, in span order."""

    k: np.ndarray
    chainage: np.ndarray
    speed: np.ndarray
    acceleration: np.ndarray
    power_w: np.ndarray
    energy_j: np.ndarray
    regen_j: np.ndarray
    train: np.ndarray
    trip: np.ndarray
    direction: np.ndarray
    status: np.ndarray
    prev: np.ndarray
    next: np.ndarray
    passengers: np.ndarray


def _ints(spans: list[Span], get: Any, dtype: Any = np.int64) -> np.ndarray:
    return np.fromiter(map(get, spans), dtype, len(spans))


def _floats(spans: list[Span], get: Any) -> np.ndarray:
    return np.fromiter(map(get, spans), np.float64, len(spans))


def _knots(profiles: list[Any]) -> tuple[np.ndarray, ...]:
    """The profiles' knot arrays end to end, and where each profile starts and ends in them."""
    sizes = np.fromiter((len(p.t) for p in profiles), np.int64, len(profiles))
    first = np.cumsum(sizes) - sizes
    cat = [np.concatenate([getattr(p, name) for p in profiles]) for name in _KNOTS]
    return (first, first + sizes - 1, *cat)


#: The run-profile arrays a sample is drawn from (all on the profile's time axis ``t``).
_KNOTS = ("t", "x", "v", "a", "power_w", "regen_j", "drawn_j")


def _knot_index(
    x: np.ndarray, code: np.ndarray, first: np.ndarray, last: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """For each sample, the index of the last knot of its profile at or before ``x`` (as
    ``np.searchsorted(p.t, x, side="right") - 1`` would give within the profile), or
    ``first - 1`` when ``x`` lies before the profile's first knot.

    One search over all profiles: each profile's time axis is lifted by a multiple of a power
    of two larger than any run, which keeps the axes apart; lifting can round ``x`` onto a
    neighbouring knot, so the index is then checked against the exact times and moved.
    """
    lift = 2.0 ** math.ceil(math.log2(float(t.max()) + 2.0))
    owner = np.repeat(np.arange(len(first)), last - first + 1)
    g = np.searchsorted(owner * lift + t, code * lift + x, side="right") - 1
    lo = first[code]
    hi = last[code]
    g = np.clip(g, lo - 1, hi)
    while True:  # exact: step back over knots after x, forward over knots at or before it
        back = (g >= lo) & (t[np.maximum(g, 0)] > x)
        fwd = (g < hi) & (t[np.minimum(g + 1, len(t) - 1)] <= x)
        if not (back.any() or fwd.any()):
            return g
        g = g - back + fwd


class _Interp:
    """``np.interp(x, p.t, f_p)`` per sample for several ``f`` on the same knots, element for
    element the same arithmetic; what only depends on the knots is worked out once."""

    def __init__(
        self, x: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray, t: np.ndarray
    ) -> None:
        gi = np.clip(g, lo, np.maximum(hi - 1, lo))
        self.gi = gi
        self.nxt = np.minimum(gi + 1, len(t) - 1)
        t_gi = np.take(t, gi)
        self.span = np.take(t, self.nxt) - t_gi
        self.offset = x - t_gi
        self.exact = np.flatnonzero(
            (g < lo) | (g >= hi) | (np.take(t, np.clip(g, 0, len(t) - 1)) == x)
        )
        self.at = np.take(np.clip(g, lo, hi), self.exact)

    def __call__(self, f: np.ndarray) -> np.ndarray:
        f_gi = np.take(f, self.gi)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (np.take(f, self.nxt) - f_gi) / self.span
            out = slope * self.offset + f_gi
        out[self.exact] = np.take(f, self.at)
        return out


def draw(spans: list[Span], dt: float) -> Samples:
    """Every sample of ``spans`` (at ``k * dt`` seconds), in span order."""
    k0 = _ints(spans, lambda s: s.k0)
    counts = _ints(spans, lambda s: s.k1) - k0
    starts = np.cumsum(counts) - counts
    k = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts - k0, counts)

    def of(per_span: np.ndarray) -> np.ndarray:  # each span's value, once per sample
        return np.repeat(per_span, counts)

    phases = [s.phase for s in spans]
    t0 = of(_floats(phases, lambda p: p.t0))
    aux = of(_floats(phases, lambda p: p.aux_w))
    e0 = of(_floats(phases, lambda p: p.energy_j))
    r0 = of(_floats(phases, lambda p: p.regen_j))
    c0 = of(_floats(phases, lambda p: p.chainage))
    trel = k * dt - t0

    # Standing still (no profile): the whole window in one go.
    chain = c0.copy()
    speed = np.zeros(len(k))
    acc = np.zeros(len(k))
    power = aux.copy()
    energy = e0 + aux * trel
    regen = r0.copy()

    # Running: every running sample at once, against the knots of the window's run profiles.
    running = np.flatnonzero(of(_ints(phases, lambda p: p.profile is not None)))
    if len(running):
        _draw_running(
            running, phases, of, trel, c0, aux, e0, r0, chain, speed, acc, power, energy, regen
        )

    return Samples(
        k,
        chain,
        speed,
        acc,
        power,
        energy,
        regen,
        # Codes (of strings named when a window is assembled) are narrow: less to move.
        train=of(_ints(spans, lambda s: s.train, np.int32)),
        trip=of(_ints(phases, lambda p: p.trip_code, np.int32)),
        direction=of(_ints(phases, lambda p: p.direction)),
        status=of(_ints(phases, lambda p: p.kind, np.int8)),
        prev=of(_ints(phases, lambda p: p.prev_code, np.int32)),
        next=of(_ints(phases, lambda p: p.next_code, np.int32)),
        passengers=of(_ints(phases, lambda p: p.passengers)),
    )


def _draw_running(
    running: np.ndarray,
    phases: list[Any],
    of: Callable[[np.ndarray], np.ndarray],
    trel: np.ndarray,
    c0: np.ndarray,
    aux: np.ndarray,
    e0: np.ndarray,
    r0: np.ndarray,
    chain: np.ndarray,
    speed: np.ndarray,
    acc: np.ndarray,
    power: np.ndarray,
    energy: np.ndarray,
    regen: np.ndarray,
) -> None:
    """Fill the running samples' columns in place from their phases' run profiles."""
    codes: dict[int, int] = {}
    profiles: list[Any] = []
    for p in phases:
        if p.profile is not None and id(p.profile) not in codes:
            codes[id(p.profile)] = len(profiles)
            profiles.append(p.profile)
    span_code = np.fromiter(
        (-1 if p.profile is None else codes[id(p.profile)] for p in phases), np.int64, len(phases)
    )
    code = of(span_code)[running]
    sign = of(_floats(phases, lambda p: p.sign))[running]
    first, last, t, x, v, a, pw, rg_j, dr_j = _knots(profiles)
    tr = np.minimum(trel[running], t[last][code])
    g = _knot_index(tr, code, first, last, t)
    lo, hi = first[code], last[code]
    interp = _Interp(tr, g, lo, hi, t)
    chain[running] = c0[running] + sign * interp(x)
    speed[running] = interp(v)
    j = np.clip(g, lo, hi)
    acc[running] = a[j]
    power[running] = pw[j] + aux[running]
    rg = interp(rg_j)
    energy[running] = e0[running] + interp(dr_j) - rg + aux[running] * tr
    regen[running] = r0[running] + rg
