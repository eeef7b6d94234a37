"""Queries about station events and alerts over the selected window (the event views)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard.execution import run_query
from dashboard.filters import Filters, Where, where

__all__ = [
    "alert_counts",
    "alert_thresholds",
    "alerts",
    "headway_summary",
    "headways",
    "station_crowding",
]


def station_crowding(conn: Any, f: Filters) -> pd.DataFrame:
    """Per station over the window's hours (ATS_STATION_CROWDING; stations, so no train filter).

    LINE_ID, STATION_ID, STATION_NAME, DEPARTURES, BOARDED, LEFT_BEHIND, AVG_WAITING, MAX_WAITING.
    """
    w = where(f, trains=False, time_column="HOUR", hourly=True)
    return run_query(
        conn,
        "SELECT LINE_ID, STATION_ID, STATION_NAME, "
        "CAST(sum(DEPARTURES) AS BIGINT) AS DEPARTURES, CAST(sum(BOARDED) AS BIGINT) AS BOARDED, "
        "CAST(sum(LEFT_BEHIND) AS BIGINT) AS LEFT_BEHIND, "
        "sum(AVG_WAITING * DEPARTURES) / nullif(sum(DEPARTURES), 0) AS AVG_WAITING, "
        "max(MAX_WAITING) AS MAX_WAITING "
        f"FROM ATS_STATION_CROWDING {w.sql()} "
        "GROUP BY LINE_ID, STATION_ID, STATION_NAME ORDER BY LINE_ID, STATION_ID",
        w.params,
    )


def headway_summary(conn: Any, f: Filters) -> pd.DataFrame:
    """Per station and direction: DEPARTURES, BUNCHED, MEAN_HEADWAY_S, MEAN_RATIO (ATS_HEADWAYS)."""
    w = where(f, time_column="DEPARTED_AT")
    return run_query(
        conn,
        "SELECT LINE_ID, STATION_ID, STATION_NAME, DIRECTION, count(*) AS DEPARTURES, "
        "CAST(sum(CASE WHEN IS_BUNCHED THEN 1 ELSE 0 END) AS BIGINT) AS BUNCHED, "
        "avg(HEADWAY_S) AS MEAN_HEADWAY_S, avg(SCHEDULED_HEADWAY_S) AS MEAN_SCHEDULED_S, "
        "avg(HEADWAY_RATIO) AS MEAN_RATIO "
        f"FROM ATS_HEADWAYS {w.sql()} "
        "GROUP BY LINE_ID, STATION_ID, STATION_NAME, DIRECTION "
        "ORDER BY LINE_ID, STATION_ID, DIRECTION",
        w.params,
    )


def headways(conn: Any, f: Filters, limit: int = 5000) -> pd.DataFrame:
    """The latest ``limit`` departures with a headway, newest first (ATS_HEADWAYS)."""
    w = where(f, time_column="DEPARTED_AT")
    return run_query(
        conn,
        "SELECT LINE_ID, STATION_ID, STATION_NAME, DIRECTION, TRAIN_ID, DEPARTED_AT, HEADWAY_S, "
        "SCHEDULED_HEADWAY_S, HEADWAY_RATIO, IS_BUNCHED "
        f"FROM ATS_HEADWAYS {w.sql()} AND HEADWAY_S IS NOT NULL "
        "ORDER BY DEPARTED_AT DESC LIMIT $limit",
        {**w.params, "limit": int(limit)},
    )


def alerts(conn: Any, f: Filters, limit: int = 500) -> pd.DataFrame:
    """Alerts raised in the window or still active, newest first (ATS_ALERTS)."""
    w = where(f, time_column=None)
    tw = Where().time("RAISED_AT", f.start, f.end).renamed("w")
    window = " AND ".join(tw.clauses) or "TRUE"
    return run_query(
        conn,
        "SELECT RAISED_AT, CLEARED_AT, IS_ACTIVE, SEVERITY, ALERT_TYPE, LINE_ID, TRAIN_ID, "
        "STATION_ID, VALUE, THRESHOLD, MESSAGE, ALERT_ID "
        f"FROM ATS_ALERTS {w.sql()} AND (IS_ACTIVE OR ({window})) "
        "ORDER BY RAISED_AT DESC LIMIT $limit",
        {**w.params, **tw.params, "limit": int(limit)},
    )


def alert_counts(conn: Any, f: Filters) -> pd.DataFrame:
    """Alerts raised in the window by type and severity: ALERT_TYPE, SEVERITY, RAISED, ACTIVE."""
    w = where(f, time_column="RAISED_AT")
    return run_query(
        conn,
        "SELECT ALERT_TYPE, SEVERITY, count(*) AS RAISED, "
        "CAST(sum(CASE WHEN IS_ACTIVE THEN 1 ELSE 0 END) AS BIGINT) AS ACTIVE "
        f"FROM ATS_ALERTS {w.sql()} GROUP BY ALERT_TYPE, SEVERITY ORDER BY ALERT_TYPE, SEVERITY",
        w.params,
    )


def alert_thresholds(conn: Any, run_id: str) -> pd.DataFrame:
    """The threshold each alert type of a run was raised at: ALERT_TYPE, THRESHOLD."""
    return run_query(
        conn,
        "SELECT ALERT_TYPE, max(THRESHOLD) AS THRESHOLD FROM ATS_ALERTS WHERE RUN_ID = $run_id "
        "GROUP BY ALERT_TYPE ORDER BY ALERT_TYPE",
        {"run_id": run_id},
    )
