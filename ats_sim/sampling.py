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


def _ints(spans: list[Span], get: Any) -> np.ndarray:
    return np.fromiter(map(get, spans), np.int64, len(spans))


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


def _interp(
    x: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray, t: np.ndarray, f: np.ndarray
) -> np.ndarray:
    """``np.interp(x, p.t, f_p)`` per sample, element for element the same arithmetic."""
    gi = np.clip(g, lo, np.maximum(hi - 1, lo))
    nxt = np.minimum(gi + 1, len(t) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (f[nxt] - f[gi]) / (t[nxt] - t[gi])
        out = slope * (x - t[gi]) + f[gi]
    exact = (g < lo) | (g >= hi) | (t[np.clip(g, 0, len(t) - 1)] == x)
    out[exact] = f[np.clip(g, lo, hi)][exact]
    return out


def draw(spans: list[Span], dt: float) -> Samples:
    """Every sample of ``spans`` (at ``k * dt`` seconds), in span order."""
    k0 = _ints(spans, lambda s: s.k0)
    counts = _ints(spans, lambda s: s.k1) - k0
    of = np.repeat(np.arange(len(spans)), counts)
    starts = np.cumsum(counts) - counts
    k = np.arange(int(counts.sum()), dtype=np.int64) - starts[of] + k0[of]

    phases = [s.phase for s in spans]
    t0 = _floats(phases, lambda p: p.t0)[of]
    aux = _floats(phases, lambda p: p.aux_w)[of]
    e0 = _floats(phases, lambda p: p.energy_j)[of]
    r0 = _floats(phases, lambda p: p.regen_j)[of]
    c0 = _floats(phases, lambda p: p.chainage)[of]
    trel = k * dt - t0

    # Standing still (no profile): the whole window in one go.
    chain = c0.copy()
    speed = np.zeros(len(k))
    acc = np.zeros(len(k))
    power = aux.copy()
    energy = e0 + aux * trel
    regen = r0.copy()

    # Running: every running sample at once, against the knots of the window's run profiles.
    running = np.flatnonzero(_ints(phases, lambda p: p.profile is not None)[of])
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
        train=_ints(spans, lambda s: s.train)[of],
        trip=_ints(phases, lambda p: p.trip_code)[of],
        direction=_ints(phases, lambda p: p.direction)[of],
        status=_ints(phases, lambda p: p.kind)[of],
        prev=_ints(phases, lambda p: p.prev_code)[of],
        next=_ints(phases, lambda p: p.next_code)[of],
        passengers=_ints(phases, lambda p: p.passengers)[of],
    )


def _draw_running(
    running: np.ndarray,
    phases: list[Any],
    of: np.ndarray,
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
    code = span_code[of][running]
    sign = _floats(phases, lambda p: p.sign)[of][running]
    first, last, t, x, v, a, pw, rg_j, dr_j = _knots(profiles)
    tr = np.minimum(trel[running], t[last][code])
    g = _knot_index(tr, code, first, last, t)
    lo, hi = first[code], last[code]
    chain[running] = c0[running] + sign * _interp(tr, g, lo, hi, t, x)
    speed[running] = _interp(tr, g, lo, hi, t, v)
    j = np.clip(g, lo, hi)
    acc[running] = a[j]
    power[running] = pw[j] + aux[running]
    rg = _interp(tr, g, lo, hi, t, rg_j)
    energy[running] = e0[running] + _interp(tr, g, lo, hi, t, dr_j) - rg + aux[running] * tr
    regen[running] = r0[running] + rg
