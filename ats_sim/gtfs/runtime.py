"""The simulated running time of one inter-station run: a thin adapter over the physics.

Validation compares a feed's timetable with the run time the simulator itself would produce,
so this calls :func:`ats_sim.physics.run_profile` (Davis resistance, tractive-effort curve,
acceleration cap, service braking to a stop at the platform) and nothing else: there is no
second, simpler model here that could drift from the one the simulation uses.
"""

from __future__ import annotations

from ats_sim.physics import run_profile
from ats_sim.rolling_stock import RollingStock

__all__ = ["simulated_run_time_s"]


def simulated_run_time_s(
    distance_m: float,
    speed_limit_kmh: float,
    grade_permille: float,
    rolling_stock: RollingStock,
    passengers: float,
) -> float:
    """Departure to arrival over ``distance_m``, s, for a train carrying ``passengers``.

    Raises ``ValueError`` when the run is impossible (zero distance, a grade the train cannot
    start on).
    """
    profile = run_profile(
        distance_m,
        speed_limit_kmh,
        grade_permille,
        rolling_stock.mass_kg(passengers),
        rolling_stock,
    )
    return profile.duration_s
