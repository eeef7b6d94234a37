"""Every query the dashboard runs, against the shared schema, with bound parameters.

Two layers:

* **Plain functions** ``f(conn, ...) -> pandas.DataFrame``. ``conn`` is any connection-like
  object: a DuckDB connection, a Snowflake connector connection, Streamlit's
  ``st.connection("snowflake")`` or anything with a DB-API ``cursor()``. Notebooks call these
  directly; they need no Streamlit.
* **A cached layer**, :class:`CachedQueries`, that runs a plain function through
  ``st.cache_data`` (time to live :data:`CACHE_TTL_S`) keyed by the warehouse, the data version
  (:func:`data_version`, one cheap probe per refresh) and the arguments: a refresh re-reads
  nothing unless the warehouse has changed since the last one.

The functions live in modules named for what they ask about; this module gathers them:

* :mod:`dashboard.execution`: :func:`run_query` (SQL written once for DuckDB and Snowflake,
  ``$name`` parameters bound in the driver's style);
* :mod:`dashboard.filters`: :class:`Filters` (run, lines, trains, window of simulated time)
  and the ``WHERE`` clauses built from them;
* :mod:`dashboard.state`: the warehouse's objects, data version and runs;
* :mod:`dashboard.now`: trains in service, KPIs, energy today, station positions (from the
  typed table, with the views' answers; see there);
* :mod:`dashboard.telemetry`: timeline, histograms, speed boxes, raw rows;
* :mod:`dashboard.hourly`: the hourly views ATS_HOURLY_STATS and ATS_LINE_ENERGY for a window;
* :mod:`dashboard.events`: station crowding, headways, alerts.

Speed: ``python -m benchmarks.dashboard_bench`` times every query as the page runs it, for
every window the page offers, on 10 million telemetry rows in DuckDB (figures in BENCHMARKS.md).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

from dashboard.events import (
    alert_counts,
    alert_thresholds,
    alerts,
    headway_summary,
    headways,
    station_crowding,
)
from dashboard.execution import run_query
from dashboard.filters import Filters
from dashboard.hourly import hourly_stats, line_energy
from dashboard.now import (
    IN_SERVICE_S,
    energy_since_midnight,
    kpis,
    latest_status,
    network_stations,
)
from dashboard.state import REQUIRED_OBJECTS, data_version, missing_objects, run_overview, runs
from dashboard.telemetry import (
    BUCKETS_S,
    RAW_TABLES,
    histogram,
    raw_rows,
    speed_boxes,
    timeline,
)

__all__ = [
    "BUCKETS_S",
    "CACHE_TTL_S",
    "IN_SERVICE_S",
    "RAW_TABLES",
    "REQUIRED_OBJECTS",
    "CachedQueries",
    "Filters",
    "alert_counts",
    "alert_thresholds",
    "alerts",
    "data_version",
    "energy_since_midnight",
    "headway_summary",
    "headways",
    "histogram",
    "hourly_stats",
    "kpis",
    "latest_status",
    "line_energy",
    "missing_objects",
    "network_stations",
    "raw_rows",
    "run_overview",
    "run_query",
    "runs",
    "speed_boxes",
    "station_crowding",
    "timeline",
]

#: How long a cached answer may be served before it is asked again, seconds.
CACHE_TTL_S = 600


@functools.cache
def _cached_runner() -> Callable[..., Any]:
    import streamlit as st

    @st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=1000)
    def run(
        name: str, source_key: str, version: Hashable, args: tuple[Any, ...], _conn: Any
    ) -> Any:
        return _PLAIN[name](_conn(), *args)

    return run


class CachedQueries:
    """The plain query functions behind ``st.cache_data``, for one refresh of the page.

    ``conn`` is a zero-argument callable that opens (or returns) the refresh's connection; it
    is called only on a cache miss. ``version`` is :func:`data_version` at this refresh.
    """

    def __init__(self, source_key: str, version: Hashable, conn: Callable[[], Any]) -> None:
        self.source_key = source_key
        self.version = version
        self._conn = conn

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(conn, *args)``, from the cache when the data has not changed."""
        name = fn.__name__
        if _PLAIN.get(name) is not fn:
            raise ValueError(f"{name} is not a dashboard query")
        return _cached_runner()(name, self.source_key, self.version, args, self._conn)


_PLAIN: dict[str, Callable[..., Any]] = {
    fn.__name__: fn
    for fn in (
        runs,
        run_overview,
        latest_status,
        kpis,
        energy_since_midnight,
        network_stations,
        timeline,
        histogram,
        speed_boxes,
        station_crowding,
        headway_summary,
        headways,
        alerts,
        alert_counts,
        alert_thresholds,
        hourly_stats,
        line_energy,
        raw_rows,
    )
}
