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

SQL is written once for DuckDB and Snowflake: parameters are written ``$name`` and bound in
the driver's own style by :func:`run_query`; timestamps are passed as ISO-8601 strings and cast
with ``CAST(... AS TIMESTAMP WITH TIME ZONE)``. Only identifiers and numbers from fixed
allow-lists (column and table names, a bucket width) are ever spliced into SQL text.

Time filters take a window ``[start, end]`` of *simulated* time; the page derives it from the
run's latest record (:func:`run_overview`).

Speed: the views are read where they answer fast; three kinds of question are asked of the
typed telemetry table instead, with the same meaning, because the views must scan a whole
run to answer them (see ``benchmarks/dashboard_bench.py``):

* the latest status of the trains in service is ATS_LATEST_STATUS restricted to rows at most
  :data:`IN_SERVICE_S` old, read from that recent slice of ATS_TRANSFORMED only;
* a run's trains and latest record times are a plain aggregate of ATS_TRANSFORMED;
* energy today is the trains' cumulative counters at the end minus before midnight, which is
  what ATS_LINE_ENERGY sums to over the day's hours.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

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
#: A train counts as in service while its latest record is at most this old (simulated s).
IN_SERVICE_S = 300
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
#: Tables the raw data explorer may show.
RAW_TABLES = ("ATS_TRANSFORMED", "ATS_STATION_EVENTS", "ATS_ALERT_EVENTS")
_HISTOGRAM_COLUMNS = ("LOAD_FACTOR", "POWER_DRAW_KW", "SPEED_KMH", "PASSENGER_COUNT")
#: Widths of the timeline's time buckets the page may ask for, seconds.
BUCKETS_S = (60, 300, 900, 3600)
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_TSTZ = "TIMESTAMP WITH TIME ZONE"


@dataclass(frozen=True)
class Filters:
    """What the sidebar selected: a run, lines and trains (empty = all), a time window."""

    run_id: str
    lines: tuple[str, ...] = ()
    trains: tuple[str, ...] = ()
    #: Start of the time window (inclusive), or None for the start of the run.
    start: datetime | None = None
    #: End of the time window (inclusive), or None for the latest record.
    end: datetime | None = None


# --------------------------------------------------------------------------- execution


def _dialect(conn: Any) -> str:
    """``duckdb`` or ``snowflake`` (every non-DuckDB connection speaks Snowflake SQL here)."""
    if hasattr(conn, "raw_connection"):  # Streamlit's SnowflakeConnection
        return "snowflake"
    return "duckdb" if "duckdb" in type(conn).__module__ else "snowflake"


def _param_value(value: Any) -> Any:
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.isoformat()
    return value


def _bind(sql: str, params: Mapping[str, Any], style: str) -> tuple[str, Any]:
    """Rewrite ``$name`` placeholders into the driver's ``style``; return SQL and parameters."""
    order: list[str] = []

    def positional(m: re.Match[str]) -> str:
        order.append(m.group(1))
        return "?" if style == "qmark" else f":{len(order)}"

    if style in ("pyformat", "format"):
        escaped = sql.replace("%", "%%")
        text = _PARAM.sub(lambda m: f"%({m.group(1)})s", escaped)
        names = set(_PARAM.findall(sql))
        return text, {n: _param_value(params[n]) for n in names}
    text = _PARAM.sub(positional, sql)
    return text, [_param_value(params[n]) for n in order]


def run_query(conn: Any, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run one ``SELECT`` with ``$name`` parameters on any supported connection.

    Column names come back upper case whatever the driver does. Anything but a ``SELECT`` (or
    ``WITH ... SELECT``) is refused: the dashboard only reads.
    """
    if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
        raise ValueError(f"the dashboard only reads; refusing: {sql[:40]!r}")
    params = params or {}
    if hasattr(conn, "raw_connection"):  # Streamlit's SnowflakeConnection
        conn = conn.raw_connection
    if _dialect(conn) == "duckdb":
        text, values = _bind(sql, params, "qmark")
        df = conn.execute(text, values).df()
    else:
        style = getattr(conn, "_paramstyle", None) or getattr(
            sys.modules.get(type(conn).__module__.split(".")[0]), "paramstyle", "qmark"
        )
        text, values = _bind(sql, params, str(style))
        cur = conn.cursor()
        try:
            cur.execute(text, values)
            if hasattr(cur, "fetch_pandas_all"):
                df = cur.fetch_pandas_all()
            else:
                cols = [d[0] for d in cur.description]
                df = pd.DataFrame.from_records(cur.fetchall(), columns=cols)
        finally:
            cur.close()
    df.columns = [str(c).upper() for c in df.columns]
    return df


@dataclass
class _Where:
    """Builds a ``WHERE`` clause and its parameters from filters."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def eq(self, column: str, name: str, value: Any) -> _Where:
        self.clauses.append(f"{column} = ${name}")
        self.params[name] = value
        return self

    def among(self, column: str, name: str, values: Sequence[Any]) -> _Where:
        if values:
            names = [f"{name}_{i}" for i in range(len(values))]
            self.clauses.append(f"{column} IN ({', '.join('$' + n for n in names)})")
            self.params.update(zip(names, values, strict=True))
        return self

    def time(
        self, column: str, start: datetime | None, end: datetime | None, *, before: bool = False
    ) -> _Where:
        """``start <= column <= end`` (``column < end`` with ``before``); None bounds are open."""
        if start is not None:
            name = f"t{len(self.params)}"
            self.clauses.append(f"{column} >= CAST(${name} AS {_TSTZ})")
            self.params[name] = start
        if end is not None:
            name = f"t{len(self.params)}"
            self.clauses.append(f"{column} {'<' if before else '<='} CAST(${name} AS {_TSTZ})")
            self.params[name] = end
        return self

    def sql(self) -> str:
        return "WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def _where(
    f: Filters, *, trains: bool = True, time_column: str | None = "TIMESTAMP", hourly: bool = False
) -> _Where:
    w = _Where().eq("RUN_ID", "run_id", f.run_id).among("LINE_ID", "line", f.lines)
    if trains:
        w.among("TRAIN_ID", "train", f.trains)
    if time_column is not None:
        start = _floor_hour(f.start) if hourly and f.start is not None else f.start
        w.time(time_column, start, f.end)
    return w


def _floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _epoch_ms(conn: Any, column: str) -> str:
    """SQL for the epoch milliseconds of a timestamp column, in the connection's dialect."""
    if _dialect(conn) == "duckdb":
        return f"epoch_ms({column})"
    return f"DATE_PART(EPOCH_MILLISECOND, {column})"


# --------------------------------------------------------------------------- state of the warehouse


def missing_objects(conn: Any) -> list[str]:
    """The :data:`REQUIRED_OBJECTS` the current schema lacks (all of them before a first run)."""
    w = _Where().among("upper(TABLE_NAME)", "name", REQUIRED_OBJECTS)
    where = f"{w.sql()} AND upper(TABLE_SCHEMA) = upper(CURRENT_SCHEMA())"
    sql = f"SELECT upper(TABLE_NAME) AS NAME FROM INFORMATION_SCHEMA.TABLES {where}"
    if _dialect(conn) == "snowflake":  # views are listed in TABLES too, but not by every emulator
        sql += f" UNION SELECT upper(TABLE_NAME) AS NAME FROM INFORMATION_SCHEMA.VIEWS {where}"
    present = set(run_query(conn, sql, w.params)["NAME"])
    return [o for o in REQUIRED_OBJECTS if o not in present]


def data_version(conn: Any) -> tuple[int, int, int]:
    """Row counts of the three typed tables: changes whenever a run writes anything."""
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
    if _dialect(conn) == "duckdb":
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


# --------------------------------------------------------------------------- now


def _in_service_sql(f: Filters, as_of: datetime) -> tuple[str, dict[str, Any]]:
    """ATS_LATEST_STATUS rows of the selected trains in service at ``as_of``, from the recent slice."""
    w = _where(f, time_column=None).time(
        "TIMESTAMP", as_of - timedelta(seconds=IN_SERVICE_S), as_of
    )
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
    wa = _where(f, time_column=None)
    active = run_query(
        conn,
        f"SELECT count(*) AS N FROM ATS_ALERTS {wa.sql()} AND IS_ACTIVE",
        wa.params,
    )
    out = pd.DataFrame(
        {
            "TRAINS_IN_SERVICE": [int(now["TRAINS_IN_SERVICE"].iloc[0])],
            "PASSENGERS": [int(now["PASSENGERS"].iloc[0])],
            "ACTIVE_ALERTS": [int(active["N"].iloc[0])],
            "POWER_MW": [float(now["POWER_MW"].iloc[0])],
            "ENERGY_TODAY_MWH": [energy_since_midnight(conn, f, as_of) / 1000.0],
            "AS_OF": [pd.Timestamp(as_of)],
        }
    )
    return out


def energy_since_midnight(conn: Any, f: Filters, as_of: datetime) -> float:
    """Net kWh of the selected trains from midnight UTC of ``as_of``'s day up to ``as_of``.

    Per train: its last ENERGY_KWH counter up to ``as_of`` minus its last one before midnight
    (0 if none). That is what ATS_LINE_ENERGY's per-record increases add up to over the day's
    hours, without the view's pass over the whole run.
    """
    midnight = as_of.replace(hour=0, minute=0, second=0, microsecond=0)
    today = _where(f, time_column=None).time("TIMESTAMP", midnight, as_of)
    before = _where(f, time_column=None).time("TIMESTAMP", None, midnight, before=True)
    df = run_query(
        conn,
        "WITH today AS (SELECT TRAIN_ID, max_by(ENERGY_KWH, TIMESTAMP) AS E "
        f"FROM ATS_TRANSFORMED {today.sql()} GROUP BY TRAIN_ID), "
        "before AS (SELECT TRAIN_ID, max_by(ENERGY_KWH, TIMESTAMP) AS E "
        f"FROM ATS_TRANSFORMED {_renamed(before, 'b').sql()} GROUP BY TRAIN_ID) "
        "SELECT coalesce(sum(today.E - coalesce(before.E, 0)), 0) AS KWH "
        "FROM today LEFT JOIN before ON before.TRAIN_ID = today.TRAIN_ID",
        {**today.params, **_renamed(before, "b").params},
    )
    return float(df["KWH"].iloc[0])


def _renamed(w: _Where, prefix: str) -> _Where:
    """``w`` with every parameter renamed ``prefix_name``, to combine two clauses in one query."""
    out = _Where()
    for clause in w.clauses:
        out.clauses.append(_PARAM.sub(lambda m: f"${prefix}_{m.group(1)}", clause))
    out.params = {f"{prefix}_{k}": v for k, v in w.params.items()}
    return out


def network_stations(conn: Any, run_id: str, lines: tuple[str, ...] = ()) -> pd.DataFrame:
    """Where each line's stations are, from the positions of trains dwelling at them.

    LINE_ID, STATION_ID, CHAINAGE_M, LATITUDE, LONGITUDE, in line order; joined in order
    they draw the track. (The views carry no station coordinates.)
    """
    w = _Where().eq("RUN_ID", "run_id", run_id).among("LINE_ID", "line", lines)
    return run_query(
        conn,
        "SELECT LINE_ID, PREV_STATION AS STATION_ID, min(CHAINAGE_M) AS CHAINAGE_M, "
        "avg(LATITUDE) AS LATITUDE, avg(LONGITUDE) AS LONGITUDE "
        f"FROM ATS_TRANSFORMED {w.sql()} AND STATUS = 'dwelling' "
        "GROUP BY LINE_ID, PREV_STATION ORDER BY LINE_ID, CHAINAGE_M",
        w.params,
    )


# --------------------------------------------------------------------------- over the window


def _series_key(f: Filters) -> str:
    return "TRAIN_ID" if f.trains else "LINE_ID"


def timeline(conn: Any, f: Filters, bucket_s: int = 60) -> pd.DataFrame:
    """Load and power per time bucket, per line (or per selected train), from ATS_TRANSFORMED.

    T (bucket start, UTC), LINE_ID, SERIES, RECORDS, AVG_LOAD_FACTOR, MAX_LOAD_FACTOR,
    AVG_POWER_KW, MAX_POWER_KW.
    """
    if bucket_s not in BUCKETS_S:
        raise ValueError(f"bucket_s must be one of {BUCKETS_S}, not {bucket_s!r}")
    key = _series_key(f)
    w = _where(f)
    ms = bucket_s * 1000
    df = run_query(
        conn,
        f"SELECT floor({_epoch_ms(conn, 'TIMESTAMP')} / {ms}) AS B, LINE_ID, {key} AS SERIES, "
        "count(*) AS RECORDS, avg(LOAD_FACTOR) AS AVG_LOAD_FACTOR, "
        "max(LOAD_FACTOR) AS MAX_LOAD_FACTOR, avg(POWER_DRAW_KW) AS AVG_POWER_KW, "
        "max(POWER_DRAW_KW) AS MAX_POWER_KW "
        f"FROM ATS_TRANSFORMED {w.sql()} GROUP BY 1, 2, 3 ORDER BY 3, 1",
        w.params,
    )
    df.insert(0, "T", pd.to_datetime(df.pop("B").astype("int64") * ms, unit="ms", utc=True))
    return df


def histogram(conn: Any, f: Filters, column: str, width: float) -> pd.DataFrame:
    """Counts of ``column`` in bins of ``width`` per line (or train): LINE_ID, SERIES, BIN, N."""
    if column not in _HISTOGRAM_COLUMNS:
        raise ValueError(f"column must be one of {_HISTOGRAM_COLUMNS}, not {column!r}")
    key = _series_key(f)
    w = _where(f)
    return run_query(
        conn,
        f"SELECT LINE_ID, {key} AS SERIES, floor({column} / $width) * $width AS BIN, "
        f"count(*) AS N FROM ATS_TRANSFORMED {w.sql()} GROUP BY 1, 2, 3 ORDER BY 2, 3",
        {**w.params, "width": float(width)},
    )


def speed_boxes(conn: Any, f: Filters) -> pd.DataFrame:
    """Speed quartiles of running trains, per train: LINE_ID, TRAIN_ID, N, MIN, Q1, MEDIAN, Q3, MAX.

    Quartiles are interpolated from a 1 km/h histogram per train (within 1 km/h of the exact
    value) so that a whole run is one aggregation pass, not a sort per train.
    """
    w = _where(f)
    bins = run_query(
        conn,
        "SELECT LINE_ID, TRAIN_ID, floor(SPEED_KMH) AS BIN, count(*) AS N, "
        "min(SPEED_KMH) AS LO, max(SPEED_KMH) AS HI, sum(SPEED_KMH) AS TOTAL "
        f"FROM ATS_TRANSFORMED {w.sql()} AND STATUS = 'running' "
        "GROUP BY LINE_ID, TRAIN_ID, floor(SPEED_KMH) ORDER BY LINE_ID, TRAIN_ID, BIN",
        w.params,
    )
    rows = []
    for (line, train), g in bins.groupby(["LINE_ID", "TRAIN_ID"], sort=True):
        lo, hi = float(g["LO"].min()), float(g["HI"].max())
        left, counts = g["BIN"].to_numpy(dtype=float), g["N"].to_numpy(dtype=np.int64)
        q1, median, q3 = (_binned_quantile(left, counts, q, lo, hi) for q in (0.25, 0.5, 0.75))
        n = int(counts.sum())
        rows.append(
            {
                "LINE_ID": line,
                "TRAIN_ID": train,
                "N": n,
                "MIN": lo,
                "Q1": q1,
                "MEDIAN": median,
                "Q3": q3,
                "MAX": hi,
                "MEAN": float(g["TOTAL"].sum()) / n,
            }
        )
    cols = ["LINE_ID", "TRAIN_ID", "N", "MIN", "Q1", "MEDIAN", "Q3", "MAX", "MEAN"]
    return pd.DataFrame(rows, columns=cols)


def _binned_quantile(left: np.ndarray, counts: np.ndarray, q: float, lo: float, hi: float) -> float:
    """Quantile ``q`` of values counted in 1-wide bins starting at ``left``, within [lo, hi]."""
    cum = np.cumsum(counts)
    target = q * cum[-1]
    i = int(np.searchsorted(cum, target))
    before = cum[i - 1] if i else 0
    value = left[i] + (target - before) / max(int(counts[i]), 1)
    return float(min(max(value, lo), hi))


def station_crowding(conn: Any, f: Filters) -> pd.DataFrame:
    """Per station over the window's hours (ATS_STATION_CROWDING; stations, so no train filter).

    LINE_ID, STATION_ID, STATION_NAME, DEPARTURES, BOARDED, LEFT_BEHIND, AVG_WAITING, MAX_WAITING.
    """
    w = _where(f, trains=False, time_column="HOUR", hourly=True)
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
    w = _where(f, time_column="DEPARTED_AT")
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
    w = _where(f, time_column="DEPARTED_AT")
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
    w = _where(f, time_column=None)
    tw = _renamed(_Where().time("RAISED_AT", f.start, f.end), "w")
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
    w = _where(f, time_column="RAISED_AT")
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


def hourly_stats(conn: Any, f: Filters) -> pd.DataFrame:
    """ATS_HOURLY_STATS rows of the window's hours, by line and hour (a line-level view)."""
    w = _where(f, trains=False, time_column="HOUR", hourly=True)
    return run_query(
        conn, f"SELECT * FROM ATS_HOURLY_STATS {w.sql()} ORDER BY LINE_ID, HOUR", w.params
    )


def line_energy(conn: Any, f: Filters) -> pd.DataFrame:
    """ATS_LINE_ENERGY rows of the window's hours: LINE_ID, HOUR, ENERGY_KWH, REGEN_KWH, TRACTION_KWH."""
    w = _where(f, trains=False, time_column="HOUR", hourly=True)
    return run_query(
        conn,
        "SELECT LINE_ID, HOUR, ENERGY_KWH, REGEN_KWH, TRACTION_KWH "
        f"FROM ATS_LINE_ENERGY {w.sql()} ORDER BY LINE_ID, HOUR",
        w.params,
    )


def raw_rows(conn: Any, table: str, f: Filters, limit: int = 200) -> pd.DataFrame:
    """The newest ``limit`` rows of a typed table (one of :data:`RAW_TABLES`) in the window."""
    if table not in RAW_TABLES:
        raise ValueError(f"table must be one of {RAW_TABLES}, not {table!r}")
    w = _where(f)
    return run_query(
        conn,
        f"SELECT * FROM {table} {w.sql()} ORDER BY TIMESTAMP DESC LIMIT $limit",
        {**w.params, "limit": int(limit)},
    )


# --------------------------------------------------------------------------- the cached layer


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
