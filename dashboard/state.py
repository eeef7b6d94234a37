"""The state of the warehouse: which objects exist, whether anything changed, which runs it holds."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard.execution import dialect, run_query
from dashboard.filters import Where

__all__ = ["REQUIRED_OBJECTS", "data_version", "missing_objects", "run_overview", "runs"]

#: The schema objects the dashboard reads.
REQUIRED_OBJECTS = (
    "ATS_TRANSFORMED",
    "ATS_STATION_EVENTS",
    "ATS_ALERT_EVENTS",
    "ATS_LATEST_STATUS",
    "ATS_ALERTS",
    "ATS_HOURLY_STATS",
    "ATS_STATION_CROWDING",
    "ATS_LINE_ENERGY",
    "ATS_HEADWAYS",
)


def missing_objects(conn: Any) -> list[str]:
    """The :data:`REQUIRED_OBJECTS` the current schema lacks (all of them before a first run)."""
    w = Where().among("upper(TABLE_NAME)", "name", REQUIRED_OBJECTS)
    where = f"{w.sql()} AND upper(TABLE_SCHEMA) = upper(CURRENT_SCHEMA())"
    sql = f"SELECT upper(TABLE_NAME) AS NAME FROM INFORMATION_SCHEMA.TABLES {where}"
    if dialect(conn) == "snowflake":  # views are listed in TABLES too, but not by every emulator
        sql += f" UNION SELECT upper(TABLE_NAME) AS NAME FROM INFORMATION_SCHEMA.VIEWS {where}"
    present = set(run_query(conn, sql, w.params)["NAME"])
    return [o for o in REQUIRED_OBJECTS if o not in present]


def data_version(conn: Any) -> tuple[int, int, int]:
    """Row counts of the three typed tables: changes whenever a run writes anything.

    Cheap (table metadata in DuckDB): the cached layer re-reads nothing while it is unchanged.
    """
    df = run_query(
        conn,
        "SELECT (SELECT count(*) FROM ATS_TRANSFORMED) AS T, "
        "(SELECT count(*) FROM ATS_STATION_EVENTS) AS S, "
        "(SELECT count(*) FROM ATS_ALERT_EVENTS) AS A",
    )
    row = df.iloc[0]
    return int(row["T"]), int(row["S"]), int(row["A"])


def runs(conn: Any) -> pd.DataFrame:
    """One row per run, most recently written first: RUN_ID, FIRST_AT, LAST_AT, WRITTEN.

    "Most recently written" is the DuckDB row order, or the Kafka-connector ``CreateTime`` of
    the raw records in Snowflake; simulated time cannot tell runs of the same day apart.
    """
    if dialect(conn) == "duckdb":
        sql = (
            "SELECT RUN_ID, min(TIMESTAMP) AS FIRST_AT, max(TIMESTAMP) AS LAST_AT, "
            "max(rowid) AS WRITTEN FROM ATS_TRANSFORMED GROUP BY RUN_ID"
        )
    else:
        sql = (
            'WITH w AS (SELECT RECORD_CONTENT:"run_id"::VARCHAR AS RUN_ID, '
            'max(RECORD_METADATA:"CreateTime"::NUMBER) AS WRITTEN FROM ATS_RAW_JSON GROUP BY 1) '
            "SELECT t.RUN_ID, min(t.TIMESTAMP) AS FIRST_AT, max(t.TIMESTAMP) AS LAST_AT, "
            "max(w.WRITTEN) AS WRITTEN FROM ATS_TRANSFORMED t LEFT JOIN w ON w.RUN_ID = t.RUN_ID "
            "GROUP BY t.RUN_ID"
        )
    df = run_query(conn, sql)
    df = df.sort_values(["WRITTEN", "LAST_AT"], ascending=False, na_position="last")
    return df.reset_index(drop=True)


def run_overview(conn: Any, run_id: str) -> pd.DataFrame:
    """Every train of a run with its line and latest record time: LINE_ID, TRAIN_ID, TIMESTAMP.

    The same rows as ATS_LATEST_STATUS's (LINE_ID, TRAIN_ID, TIMESTAMP), as an aggregate: the
    sidebar's line and train choices, and the run's latest time (the "now" of the page).
    """
    return run_query(
        conn,
        "SELECT LINE_ID, TRAIN_ID, max(TIMESTAMP) AS TIMESTAMP FROM ATS_TRANSFORMED "
        "WHERE RUN_ID = $run_id GROUP BY LINE_ID, TRAIN_ID ORDER BY LINE_ID, TRAIN_ID",
        {"run_id": run_id},
    )
