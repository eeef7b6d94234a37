"""Running one dashboard ``SELECT`` on any connection, with ``$name`` parameters bound by the driver.

``conn`` is any connection-like object: a DuckDB connection, a Snowflake connector connection,
Streamlit's ``st.connection("snowflake")`` or anything with a DB-API ``cursor()``. SQL is
written once for DuckDB and Snowflake: parameters are written ``$name`` and rewritten into the
driver's own style (:func:`bind`); timestamps are passed as ISO-8601 strings and cast in SQL.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["PARAM", "bind", "dialect", "run_query"]

#: A ``$name`` parameter in dashboard SQL.
PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def dialect(conn: Any) -> str:
    """``duckdb`` or ``snowflake`` (every non-DuckDB connection speaks Snowflake SQL here)."""
    if hasattr(conn, "raw_connection"):  # Streamlit's SnowflakeConnection
        return "snowflake"
    return "duckdb" if "duckdb" in type(conn).__module__ else "snowflake"


def _param_value(value: Any) -> Any:
    if isinstance(value, datetime):  # also pandas.Timestamp
        return value.isoformat()
    return value


def bind(sql: str, params: Mapping[str, Any], style: str) -> tuple[str, Any]:
    """Rewrite ``$name`` placeholders into the driver's ``style``; return SQL and parameters."""
    order: list[str] = []

    def positional(m: re.Match[str]) -> str:
        order.append(m.group(1))
        return "?" if style == "qmark" else f":{len(order)}"

    if style in ("pyformat", "format"):
        escaped = sql.replace("%", "%%")
        text = PARAM.sub(lambda m: f"%({m.group(1)})s", escaped)
        names = set(PARAM.findall(sql))
        return text, {n: _param_value(params[n]) for n in names}
    text = PARAM.sub(positional, sql)
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
    if dialect(conn) == "duckdb":
        text, values = bind(sql, params, "qmark")
        df = conn.execute(text, values).df()
    else:
        style = getattr(conn, "_paramstyle", None) or getattr(
            sys.modules.get(type(conn).__module__.split(".")[0]), "paramstyle", "qmark"
        )
        text, values = bind(sql, params, str(style))
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
