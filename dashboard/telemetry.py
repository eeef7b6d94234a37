"""Queries about telemetry over the selected window: timeline, distributions, raw rows.

Each reads the window's slice of ATS_TRANSFORMED (the time filter on the typed table's own
timestamp lets DuckDB skip the row groups outside it) and reduces it in SQL to what the page
draws, a few hundred points per series, whatever the number of records.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dashboard.execution import run_query
from dashboard.filters import Filters, epoch_bucket, where

__all__ = [
    "BUCKETS_S",
    "HISTOGRAM_COLUMNS",
    "RAW_TABLES",
    "histogram",
    "raw_rows",
    "speed_boxes",
    "timeline",
]

#: Widths of the timeline's time buckets the page may ask for, seconds.
BUCKETS_S = (60, 300, 900, 3600)
#: Columns :func:`histogram` may count.
HISTOGRAM_COLUMNS = ("LOAD_FACTOR", "POWER_DRAW_KW", "SPEED_KMH", "PASSENGER_COUNT")
#: Tables the raw data explorer may show.
RAW_TABLES = ("ATS_TRANSFORMED", "ATS_STATION_EVENTS", "ATS_ALERT_EVENTS")
_TIMESTAMP = '"TIMESTAMP"'


def _series_key(f: Filters) -> str:
    return "TRAIN_ID" if f.trains else "LINE_ID"


def timeline(conn: Any, f: Filters, bucket_s: int = 60) -> pd.DataFrame:
    """Load and power per time bucket, per line (or per selected train), from ATS_TRANSFORMED.

    T (bucket start, UTC), LINE_ID, SERIES, RECORDS, AVG_LOAD_FACTOR, MAX_LOAD_FACTOR,
    AVG_POWER_KW, MAX_POWER_KW. Every record of the window counts: a series has one point per
    ``bucket_s`` (the page picks the width so that a series has at most a few hundred points).
    """
    if bucket_s not in BUCKETS_S:
        raise ValueError(f"bucket_s must be one of {BUCKETS_S}, not {bucket_s!r}")
    groups = "LINE_ID, TRAIN_ID" if f.trains else "LINE_ID"
    w = where(f)
    df = run_query(
        conn,
        f"SELECT {epoch_bucket(_TIMESTAMP, bucket_s)} AS B, LINE_ID, {_series_key(f)} AS SERIES, "
        "count(*) AS RECORDS, avg(LOAD_FACTOR) AS AVG_LOAD_FACTOR, "
        "max(LOAD_FACTOR) AS MAX_LOAD_FACTOR, avg(POWER_DRAW_KW) AS AVG_POWER_KW, "
        "max(POWER_DRAW_KW) AS MAX_POWER_KW "
        f"FROM ATS_TRANSFORMED {w.sql()} GROUP BY B, {groups} ORDER BY SERIES, B",
        w.params,
    )
    seconds = df.pop("B").astype("int64") * bucket_s
    df.insert(0, "T", pd.to_datetime(seconds, unit="s", utc=True))
    return df


def histogram(conn: Any, f: Filters, column: str, width: float) -> pd.DataFrame:
    """Counts of ``column`` in bins of ``width`` per line (or train): LINE_ID, SERIES, BIN, N."""
    if column not in HISTOGRAM_COLUMNS:
        raise ValueError(f"column must be one of {HISTOGRAM_COLUMNS}, not {column!r}")
    key = _series_key(f)
    w = where(f)
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
    w = where(f)
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


def raw_rows(conn: Any, table: str, f: Filters, limit: int = 200) -> pd.DataFrame:
    """The newest ``limit`` rows of a typed table (one of :data:`RAW_TABLES`) in the window."""
    if table not in RAW_TABLES:
        raise ValueError(f"table must be one of {RAW_TABLES}, not {table!r}")
    w = where(f)
    return run_query(
        conn,
        f"SELECT * FROM {table} {w.sql()} ORDER BY TIMESTAMP DESC LIMIT $limit",
        {**w.params, "limit": int(limit)},
    )
