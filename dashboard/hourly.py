"""The hourly views (ATS_HOURLY_STATS, ATS_LINE_ENERGY) read for the selected window.

A filter on a view's HOUR cannot reach the table scan (the hour is computed from the rows), so
reading the view for the last 3 hours of a long run reduces the whole run first. For a window
that starts after the run's start, these queries therefore run the view's *own SQL*, as shipped
in ``sql/<dialect>/``, on the telemetry rows that the window's hours depend on, filtered on the
typed table's timestamp (DuckDB then skips the row groups of the rest of the run), and keep the
window's hours. The rows are the view's (tested against the view for several windows).
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dashboard.execution import dialect, run_query
from dashboard.filters import TSTZ, Filters, Where, floor_hour, where

__all__ = ["hourly_stats", "line_energy"]

_TS = '"TIMESTAMP"'
_SCAN = "FROM ATS_TRANSFORMED\n"
_HOUR = timedelta(hours=1)


def hourly_stats(conn: Any, f: Filters) -> pd.DataFrame:
    """ATS_HOURLY_STATS rows of the window's hours, by line and hour (a line-level view).

    An hour's figures depend on that hour's rows only: the view runs on the rows of the
    window's hours (and selected lines).
    """
    w = where(f, trains=False, time_column="HOUR", hourly=True)
    source, params = "ATS_HOURLY_STATS", dict(w.params)
    if f.start is not None:
        rows = _run_rows(f).among("LINE_ID", "line", f.lines)
        rows.time(_TS, floor_hour(f.start), _hour_after(f.end), before=True)
        rows = rows.renamed("r")
        source = _restricted("ATS_HOURLY_STATS", conn, f"ATS_TRANSFORMED {rows.sql()}")
        params.update(rows.params)
    return run_query(conn, f"SELECT * FROM {source} {w.sql()} ORDER BY LINE_ID, HOUR", params)


def line_energy(conn: Any, f: Filters) -> pd.DataFrame:
    """ATS_LINE_ENERGY rows of the window's hours: LINE_ID, HOUR, ENERGY_KWH, REGEN_KWH, TRACTION_KWH.

    An hour's increase also depends on each train's previous hour with records: the view runs
    on the rows from the hour before the window on, plus, for a train with rows in the window
    but none in that hour, its last row before (found for those trains only).
    """
    w = where(f, trains=False, time_column="HOUR", hourly=True)
    source, params = "ATS_LINE_ENERGY", dict(w.params)
    if f.start is not None:
        h0 = floor_hour(f.start)
        recent = _run_rows(f).time(_TS, h0 - _HOUR, _hour_after(f.end), before=True).renamed("r")
        older = _run_rows(f).time(_TS, None, h0 - _HOUR, before=True).renamed("o")
        rows = (
            f"(SELECT * FROM ATS_TRANSFORMED {recent.sql()} UNION ALL "
            f"SELECT * FROM (SELECT * FROM ATS_TRANSFORMED {older.sql()} AND TRAIN_ID IN ("
            f"SELECT TRAIN_ID FROM ATS_TRANSFORMED {recent.sql()} GROUP BY TRAIN_ID "
            f"HAVING MIN({_TS}) >= CAST($h0 AS {TSTZ})) "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY TRAIN_ID ORDER BY {_TS} DESC) = 1) AS o"
            ") AS t"
        )
        source = _restricted("ATS_LINE_ENERGY", conn, rows)
        params.update({**recent.params, **older.params, "h0": h0})
    return run_query(
        conn,
        "SELECT LINE_ID, HOUR, ENERGY_KWH, REGEN_KWH, TRACTION_KWH "
        f"FROM {source} {w.sql()} ORDER BY LINE_ID, HOUR",
        params,
    )


def _run_rows(f: Filters) -> Where:
    return Where().eq("RUN_ID", "run_id", f.run_id)


def _hour_after(end: datetime | None) -> datetime | None:
    """The end of ``end``'s hour: rows before it make the hours up to ``end``."""
    return None if end is None else floor_hour(end) + _HOUR


def _restricted(view: str, conn: Any, rows: str) -> str:
    """``(view's SQL reading rows instead of ATS_TRANSFORMED) AS v``, or the view if its text
    is not the expected one (one scan of ATS_TRANSFORMED)."""
    body = _view_select(view, dialect(conn))
    if body.count(_SCAN) != 1:
        return view
    restricted = body.replace(_SCAN, "FROM " + rows + "\n")
    return f"({restricted}) AS v"


@functools.cache
def _view_select(view: str, dialect_name: str) -> str:
    """The query of a shipped view (the text after ``CREATE OR REPLACE VIEW view AS``)."""
    from sinks.schema import split_statements, sql_files

    head = re.compile(rf"CREATE OR REPLACE VIEW {view} AS\s+")
    for path in sql_files("duckdb" if dialect_name == "duckdb" else "snowflake"):
        for statement in split_statements(path.read_text(encoding="utf-8")):
            m = head.search(statement)
            if m:
                return statement[m.end() :]
    raise LookupError(f"no view {view} in sql/")
