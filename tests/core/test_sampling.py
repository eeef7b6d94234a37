"""Telemetry drawn a window at a time equals each sample worked out on its own.

The reference below is the per-sample arithmetic of a phase, with one ``np.interp`` per
sample: what the engine computed before samples were drawn in bulk. Bulk drawing must give the
same floats, bit for bit, for any mix of phases, including times exactly on a profile's knots,
before its start and after its end.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ats_sim.engine import Phase
from ats_sim.physics import run_profile
from ats_sim.rolling_stock import RollingStock
from ats_sim.sampling import Span, draw

STOCK = RollingStock()
PROFILES = [
    run_profile(d, v, g, STOCK.mass_kg(p), STOCK)
    for d, v, g, p in [
        (400, 50, 0, 0),
        (1200, 80, 10, 600),
        (2500, 90, -20, 1400),
        (800, 30, 35, 200),
    ]
]


def reference(spans: list[Span], dt: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        k: [] for k in ("chain", "speed", "acc", "power", "energy", "regen")
    }
    for s in spans:
        ph = s.phase
        for k in range(s.k0, s.k1):
            trel = k * dt - ph.t0
            p = ph.profile
            if p is None:
                vals = (ph.chainage, 0.0, 0.0, ph.aux_w, ph.energy_j + ph.aux_w * trel, ph.regen_j)
            else:
                tr = min(trel, p.duration_s)
                j = int(np.clip(np.searchsorted(p.t, tr, side="right") - 1, 0, len(p.t) - 1))
                rg = np.interp(tr, p.t, p.regen_j)
                vals = (
                    ph.chainage + ph.sign * np.interp(tr, p.t, p.x),
                    np.interp(tr, p.t, p.v),
                    p.a[j],
                    p.power_w[j] + ph.aux_w,
                    ph.energy_j + np.interp(tr, p.t, p.drawn_j) - rg + ph.aux_w * tr,
                    ph.regen_j + rg,
                )
            for key, v in zip(out, vals, strict=True):
                out[key].append(float(v))
    return out


@st.composite
def spans(draw_: st.DrawFn) -> tuple[list[Span], float]:
    dt = draw_(st.sampled_from([0.5, 1.0, 0.25, 3.0, 0.7]))
    out = []
    for i in range(draw_(st.integers(1, 12))):
        k0 = draw_(st.integers(0, 400))
        k1 = k0 + draw_(st.integers(1, 250))
        profile = draw_(st.sampled_from([None, *PROFILES]))
        # Starts on a tick, between ticks, or a hair after the first tick.
        t0 = k0 * dt - draw_(st.sampled_from([0.0, 0.3 * dt, -1e-12, 1e-9]))
        phase = Phase(
            0 if profile else 1,
            t0,
            draw_(st.floats(0, 20_000)),
            draw_(st.sampled_from([1, -1])),
            draw_(st.floats(20_000, 200_000)),
            draw_(st.floats(0, 1e9)),
            draw_(st.floats(0, 1e8)),
            0,
            1,
            profile,
        )
        out.append(Span(k0, k1, phase, i))
    return out, dt


@settings(max_examples=150, deadline=None)
@given(spans())
def test_bulk_drawn_samples_equal_samples_drawn_one_by_one(case: tuple[list[Span], float]) -> None:
    window, dt = case
    got = draw(window, dt)
    want = reference(window, dt)
    for name, attr in [
        ("chain", "chainage"),
        ("speed", "speed"),
        ("acc", "acceleration"),
        ("power", "power_w"),
        ("energy", "energy_j"),
        ("regen", "regen_j"),
    ]:
        assert getattr(got, attr).tolist() == want[name], name
