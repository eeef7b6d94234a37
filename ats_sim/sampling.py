"""Telemetry samples drawn from train phases, a whole window at a time.

While a line runs, the engine only notes *which* telemetry ticks each train phase covers: a
:class:`Span` (ticks ``k0 <= k < k1``, the phase, the train). When a window's records are
built, :func:`draw` turns every span into its samples with a handful of NumPy calls: phases
without a run profile (dwelling, turning round) all at once, and running phases grouped by
their (shared, cached) run profile, one interpolation per profile rather than one per span.

The arithmetic is the per-sample arithmetic of a phase (see :class:`ats_sim.engine.Phase`),
done elementwise in the same order, so the values do not depend on how spans are grouped: a
window of any size, and any number of worker processes, give the same samples.
"""

from __future__ import annotations

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

    # Running: one group per run profile.
    profiles: dict[int, Any] = {}
    code = np.fromiter(
        (
            -1 if p.profile is None else profiles.setdefault(id(p.profile), len(profiles))
            for p in phases
        ),
        np.int64,
        len(phases),
    )
    if profiles:
        by_code = list({id(p.profile): p for p in phases if p.profile is not None}.values())
        sample_code = code[of]
        order = np.argsort(sample_code, kind="stable")
        bounds = np.searchsorted(sample_code[order], np.arange(len(profiles) + 1))
        sign = _floats(phases, lambda p: p.sign)[of]
        for c, ph in enumerate(by_code):
            idx = order[bounds[c] : bounds[c + 1]]
            p = ph.profile
            tr = np.minimum(trel[idx], p.duration_s)
            chain[idx] = c0[idx] + sign[idx] * np.interp(tr, p.t, p.x)
            speed[idx] = np.interp(tr, p.t, p.v)
            j = np.clip(np.searchsorted(p.t, tr, side="right") - 1, 0, len(p.t) - 1)
            acc[idx] = p.a[j]
            power[idx] = p.power_w[j] + aux[idx]
            rg = np.interp(tr, p.t, p.regen_j)
            energy[idx] = e0[idx] + np.interp(tr, p.t, p.drawn_j) - rg + aux[idx] * tr
            regen[idx] = r0[idx] + rg

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
