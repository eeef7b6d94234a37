"""Queries about the run's present: trains in service, KPIs, energy today, where the stations are.

These read the typed table ATS_TRANSFORMED, not the views, because the views answer them only
by a pass over the whole run; each gives the views' answer (tested in
``tests/dashboard/test_queries.py``):

* the latest status of the trains in service is ATS_LATEST_STATUS restricted to rows at most
  :data:`IN_SERVICE_S` old, read from that recent slice of ATS_TRANSFORMED only;
* energy today is the trains' cumulative counters at the end minus before midnight, which is
  what ATS_LINE_ENERGY sums to over the day's hours (and it can be asked per train).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dashboard.execution import run_query
from dashboard.filters import Filters, Where, where

__all__ = ["IN_SERVICE_S", "energy_since_midnight", "kpis", "latest_status", "network_stations"]

#: A train counts as in service while its latest record is at most this old (simulated s).
IN_SERVICE_S = 300


def _in_service_sql(f: Filters, as_of: datetime) -> tuple[str, dict[str, Any]]:
    """ATS_LATEST_STATUS rows of the selected trains in service at ``as_of``, from the recent slice."""
    w = where(f, time_column=None).time("TIMESTAMP", as_of - timedelta(seconds=IN_SERVICE_S), as_of)
    sql = (
        f"SELECT * FROM ATS_TRANSFORMED {w.sql()} QUALIFY row_number() OVER ("
        "PARTITION BY RUN_ID, TRAIN_ID ORDER BY TIMESTAMP DESC, RECORD_ID DESC) = 1"
    )
    return sql, w.params


def latest_status(conn: Any, f: Filters, as_of: datetime) -> pd.DataFrame:
    """The latest record of each selected train in service at ``as_of``, by line and train.

    A train is in service while its latest record is at most :data:`IN_SERVICE_S` old; these
    are exactly the ATS_LATEST_STATUS rows of those trains.
    """
    sql, params = _in_service_sql(f, as_of)
    return run_query(conn, f"SELECT * FROM ({sql}) AS s ORDER BY LINE_ID, TRAIN_ID", params)


def kpis(conn: Any, f: Filters, as_of: datetime) -> pd.DataFrame:
    """One row: TRAINS_IN_SERVICE, PASSENGERS, ACTIVE_ALERTS, POWER_MW, ENERGY_TODAY_MWH, AS_OF.

    At ``as_of`` (the run's latest record): the trains in service (see :func:`latest_status`)
    with their passengers and power draw; the alerts not cleared (ATS_ALERTS); the net energy
    (drawn minus regenerated) of the selected lines' or trains' trains since midnight UTC.
    """
    sql, params = _in_service_sql(f, as_of)
    now = run_query(
        conn,
        "SELECT count(*) AS TRAINS_IN_SERVICE, "
        "CAST(coalesce(sum(PASSENGER_COUNT), 0) AS BIGINT) AS PASSENGERS, "
        f"coalesce(sum(POWER_DRAW_KW), 0) / 1000.0 AS POWER_MW FROM ({sql}) AS s",
        params,
    )
    wa = where(f, time_column=None)
    active = run_query(
        conn,
        f"SELECT count(*) AS N FROM ATS_ALERTS {wa.sql()} AND IS_ACTIVE",
        wa.params,
    )
    return pd.DataFrame(
        {
            "TRAINS_IN_SERVICE": [int(now["TRAINS_IN_SERVICE"].iloc[0])],
            "PASSENGERS": [int(now["PASSENGERS"].iloc[0])],
            "ACTIVE_ALERTS": [int(active["N"].iloc[0])],
            "POWER_MW": [float(now["POWER_MW"].iloc[0])],
            "ENERGY_TODAY_MWH": [energy_since_midnight(conn, f, as_of) / 1000.0],
            "AS_OF": [pd.Timestamp(as_of)],
        }
    )


def energy_since_midnight(conn: Any, f: Filters, as_of: datetime) -> float:
    """Net kWh of the selected trains from midnight UTC of ``as_of``'s day up to ``as_of``.

    Per train: its last ENERGY_KWH counter up to ``as_of`` minus its last one before midnight
    (0 if none). That is what ATS_LINE_ENERGY's per-hour increases add up to over the day's
    hours, without the view's pass over the whole run.
    """
    midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    today = where(f, time_column=None).time("TIMESTAMP", midnight, as_of)
    before = where(f, time_column=None).time("TIMESTAMP", None, midnight, before=True).renamed("b")
    df = run_query(
        conn,
        "WITH today AS (SELECT TRAIN_ID, max_by(ENERGY_KWH, TIMESTAMP) AS E "
        f"FROM ATS_TRANSFORMED {today.sql()} GROUP BY TRAIN_ID), "
        "before AS (SELECT TRAIN_ID, max_by(ENERGY_KWH, TIMESTAMP) AS E "
        f"FROM ATS_TRANSFORMED {before.sql()} GROUP BY TRAIN_ID) "
        "SELECT coalesce(sum(today.E - coalesce(before.E, 0)), 0) AS KWH "
        "FROM today LEFT JOIN before ON before.TRAIN_ID = today.TRAIN_ID",
        {**today.params, **before.params},
    )
    return float(df["KWH"].iloc[0])


def network_stations(conn: Any, run_id: str, lines: tuple[str, ...] = ()) -> pd.DataFrame:
    """Where each line's stations are, from the positions of trains dwelling at them.

    LINE_ID, STATION_ID, CHAINAGE_M, LATITUDE, LONGITUDE, in line order; joined in order
    they draw the track. (The views carry no station coordinates.)
    """
    w = Where().eq("RUN_ID", "run_id", run_id).among("LINE_ID", "line", lines)
    return run_query(
        conn,
        "SELECT LINE_ID, PREV_STATION AS STATION_ID, min(CHAINAGE_M) AS CHAINAGE_M, "
        "avg(LATITUDE) AS LATITUDE, avg(LONGITUDE) AS LONGITUDE "
        f"FROM ATS_TRANSFORMED {w.sql()} AND STATUS = 'dwelling' "
        "GROUP BY LINE_ID, PREV_STATION ORDER BY LINE_ID, CHAINAGE_M",
        w.params,
    )
