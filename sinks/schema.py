"""The warehouse schema: the SQL files under ``sql/``, rendered for one dialect.

``sql/snowflake/*.sql`` is the source of truth; ``sql/duckdb/*.sql`` is its hand-written DuckDB
equivalent. Files run in name order (``00_database.sql`` .. ``90_roles.sql``). They hold
``{{name}}`` placeholders, replaced here (no Jinja, and safe with ``str.format`` braces):

========================  ======================================================  =====================
placeholder               meaning                                                 default
========================  ======================================================  =====================
``database``              Snowflake database (identifier)                         ``ATS``
``schema``                Snowflake schema (identifier)                           ``PUBLIC``
``warehouse``             warehouse that refreshes the dynamic tables             ``COMPUTE_WH``
``target_lag``            dynamic tables' lag: ``'N minutes'`` or ``DOWNSTREAM``  ``'1 minute'``
``reader_role``           the dashboards' read-only role                          ``ATS_DASHBOARD_READER``
``<type>_columns``        typed table DDL columns (``"RECORD_ID" VARCHAR, ...``)  from records.py
``<type>_select``         Snowflake: typed columns extracted from RECORD_CONTENT  from records.py
``<type>_names``          the typed table's column names, for comments            from records.py
========================  ======================================================  =====================

``<type>`` is ``telemetry``, ``station_event`` or ``alert``. The generated placeholders come
from :mod:`ats_sim.records`, so the typed tables cannot drift from the record definitions.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from ats_sim.errors import ConfigError
from ats_sim.records import ALERT, RECORD_TYPES, STATION_EVENT, TELEMETRY, RecordType

__all__ = [
    "DEFAULTS",
    "RAW_TABLE",
    "TYPED_TABLES",
    "VIEWS",
    "Dialect",
    "render",
    "schema_script",
    "split_statements",
    "sql_dir",
    "sql_files",
    "statements",
    "typed_table",
]

Dialect = Literal["snowflake", "duckdb"]

#: The raw table in the Kafka connector's layout.
RAW_TABLE = "ATS_RAW_JSON"
#: Record type name -> its typed table.
TYPED_TABLES: dict[str, str] = {
    TELEMETRY.name: "ATS_TRANSFORMED",
    STATION_EVENT.name: "ATS_STATION_EVENTS",
    ALERT.name: "ATS_ALERT_EVENTS",
}
#: The shared analytical views (every one has RUN_ID and LINE_ID).
VIEWS = (
    "ATS_LATEST_STATUS",
    "ATS_ALERTS",
    "ATS_HOURLY_STATS",
    "ATS_STATION_CROWDING",
    "ATS_LINE_ENERGY",
    "ATS_HEADWAYS",
)

#: Placeholder defaults (Snowflake only; the DuckDB files use none of them).
DEFAULTS: dict[str, str] = {
    "database": "ATS",
    "schema": "PUBLIC",
    "warehouse": "COMPUTE_WH",
    "target_lag": "1 minute",
    "reader_role": "ATS_DASHBOARD_READER",
}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_LAG = re.compile(r"^\d+\s*(second|minute|hour|day)s?$", re.IGNORECASE)
_TOKEN = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")


def sql_dir() -> Path:
    """The SQL files: ``$ATS_SIM_SQL_DIR``, else ``sql/`` inside this package (an installed
    wheel), else the source tree's top-level ``sql/`` next to it."""
    env = os.environ.get("ATS_SIM_SQL_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    packaged = here / "sql"
    return packaged if packaged.is_dir() else here.parent / "sql"


def sql_files(dialect: Dialect) -> list[Path]:
    """The dialect's SQL files in the order they run."""
    if dialect not in ("snowflake", "duckdb"):
        raise ConfigError(f"unknown SQL dialect {dialect!r}; expected snowflake or duckdb")
    folder = sql_dir() / dialect
    files = sorted(folder.glob("*.sql"))
    if not files:
        raise ConfigError(f"no SQL files in {folder}; is the ats-sim source tree complete?")
    return files


def typed_table(rtype: RecordType | str) -> str:
    """The typed table that holds records of ``rtype``."""
    name = rtype if isinstance(rtype, str) else rtype.name
    return TYPED_TABLES[name]


def _columns_ddl(rtype: RecordType, dialect: Dialect) -> str:
    cols = []
    for f in rtype.fields:
        null = "" if f.nullable else " NOT NULL"
        cols.append(f'"{f.name.upper()}" {f.sql_type(dialect)}{null}')
    return ",\n    ".join(cols)


def _snowflake_select(rtype: RecordType) -> str:
    return ",\n    ".join(
        f'RECORD_CONTENT:"{f.name}"::{f.sql_type("snowflake")} AS "{f.name.upper()}"'
        for f in rtype.fields
    )


def _values(dialect: Dialect, params: dict[str, str]) -> dict[str, str]:
    values = dict(DEFAULTS)
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ConfigError(
            f"unknown schema parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(DEFAULTS)}"
        )
    values.update({k: v for k, v in params.items() if v is not None})
    for key in ("database", "schema", "warehouse", "reader_role"):
        if not _IDENT.match(values[key]):
            raise ConfigError(
                f"schema parameter {key}={values[key]!r} is not a plain SQL identifier "
                "(letters, digits, _ and $, not starting with a digit)"
            )
    lag = values["target_lag"].strip()
    if lag.upper() == "DOWNSTREAM":
        values["target_lag"] = "DOWNSTREAM"
    elif _LAG.match(lag):
        values["target_lag"] = f"'{lag}'"
    else:
        raise ConfigError(
            f"target lag {lag!r} is not valid; use e.g. '1 minute', '30 seconds', '2 hours' or DOWNSTREAM"
        )
    for rtype in RECORD_TYPES.values():
        values[f"{rtype.name}_columns"] = _columns_ddl(rtype, dialect)
        values[f"{rtype.name}_names"] = ", ".join(c for c, _ in rtype.sql_columns(dialect))
        values[f"{rtype.name}_select"] = _snowflake_select(rtype)
    return values


def render(text: str, dialect: Dialect, **params: str) -> str:
    """Replace every ``{{name}}`` in ``text``; an unknown placeholder is an error."""
    values = _values(dialect, params)

    def sub(m: re.Match[str]) -> str:
        try:
            return values[m.group(1)]
        except KeyError:
            raise ConfigError(
                f"unknown placeholder {{{{{m.group(1)}}}}} in the {dialect} SQL"
            ) from None

    return _TOKEN.sub(sub, text)


def split_statements(script: str) -> list[str]:
    """Split a SQL script on ``;`` outside quotes and comments; comments stay with their statement."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(script)
    quote: str | None = None
    while i < n:
        ch = script[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            buf.append(ch)
        elif script.startswith("--", i):
            end = script.find("\n", i)
            end = n if end < 0 else end
            buf.append(script[i:end])
            i = end
            continue
        elif ch == ";":
            out.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    tail = "".join(buf).strip()
    if tail:
        out.append(tail)

    def has_code(stmt: str) -> bool:
        return any(line.strip() and not line.strip().startswith("--") for line in stmt.splitlines())

    return [s for s in out if has_code(s)]


def statements(dialect: Dialect, **params: str) -> list[str]:
    """Every statement of the dialect's schema, rendered, in order."""
    result: list[str] = []
    for path in sql_files(dialect):
        result.extend(split_statements(render(path.read_text(encoding="utf-8"), dialect, **params)))
    return result


def schema_script(dialect: Dialect, **params: str) -> str:
    """The whole rendered schema as one script, each file introduced by its name."""
    parts = [
        f"-- ==== {path.name} ====\n{render(path.read_text(encoding='utf-8'), dialect, **params).strip()}\n"
        for path in sql_files(dialect)
    ]
    return "\n".join(parts)
