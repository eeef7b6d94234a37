"""Pacing: how simulated time maps onto the wall clock.

Replay runs as fast as possible (``speed=None``); scaled runs advance ``speed`` simulated
seconds per wall second (``speed=60``: an hour a minute); live runs are scaled runs with
``speed=1`` whose simulated clock was started at the wall clock's current time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["REPLAY_WINDOW_S", "Pacer", "parse_speed"]

#: Simulated seconds per window of a replay (as fast as possible). Each window's records are
#: built in one go, and every window costs a fixed amount besides its records, so a replay's
#: windows are long: 30 minutes is about 68,000 telemetry records at 1 s (38 trains) and about
#: 2,300 at 30 s. Paced and live runs use short windows instead (:meth:`Pacer.window_for`).
REPLAY_WINDOW_S = 1800.0


def parse_speed(text: str | float | None) -> float | None:
    """``"max"`` (or ``None``) for as fast as possible, else a positive factor."""
    from ats_sim.errors import ConfigError

    if text is None or (isinstance(text, str) and text.strip().lower() in ("max", "inf", "")):
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(
            f"--speed {text!r}: expected 'max' or a positive number such as 60"
        ) from None
    if not value > 0:
        raise ConfigError(f"--speed {text!r}: must be positive (or 'max')")
    return value


class Pacer:
    """Sleeps so that simulated time ``t`` is reached at ``origin_wall + (t - origin_sim) / speed``."""

    def __init__(
        self,
        speed: float | None,
        origin_sim_s: float,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.speed = speed
        self.origin_sim_s = origin_sim_s
        self._now = now
        self._sleep = sleep
        self.origin_wall = now()

    def reset(self, origin_sim_s: float) -> None:
        """Start pacing afresh: ``origin_sim_s`` is due now (after a warm-up, say)."""
        self.origin_sim_s = origin_sim_s
        self.origin_wall = self._now()

    def wait_until(self, sim_s: float) -> float:
        """Block until simulated time ``sim_s`` is due; returns how long it slept."""
        if self.speed is None:
            return 0.0
        due = self.origin_wall + (sim_s - self.origin_sim_s) / self.speed
        delay = due - self._now()
        if delay > 0:
            self._sleep(delay)
            return delay
        return 0.0

    def window_for(self, target_wall_s: float = 0.25) -> float:
        """A simulated window that takes about ``target_wall_s`` of wall time to play (a
        replay's windows are :data:`REPLAY_WINDOW_S`)."""
        return REPLAY_WINDOW_S if self.speed is None else max(0.05, self.speed * target_wall_s)
