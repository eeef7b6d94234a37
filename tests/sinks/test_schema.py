"""The SQL in sql/ against the record definitions: same columns, valid Snowflake, no drift."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from ats_sim.errors import ConfigError
from ats_sim.records import RECORD_TYPES
from sinks.duckdb import apply_schema
from sinks.schema import RAW_TABLE, TYPED_TABLES, VIEWS, render, sql_files, statements

HOUR_SNOWFLAKE = "DATE_TRUNC('HOUR', \"TIMESTAMP\")"
HOUR_DUCKDB = "time_bucket(INTERVAL '1 hour', \"TIMESTAMP\")"


def _sf_type(text: str) -> str:
    return exp.DataType.build(text, dialect="snowflake").sql("snowflake")


@pytest.mark.parametrize("record_type", list(TYPED_TABLES))
def test_duckdb_typed_tables_have_the_records_columns(tmp_path: Path, record_type: str) -> None:
    """Each DuckDB typed table has exactly the record's fields, in order, with their SQL types."""
    path = tmp_path / "s.duckdb"
    apply_schema(path)
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [TYPED_TABLES[record_type]],
    ).fetchall()
    con.close()
    rtype = RECORD_TYPES[record_type]
    assert [(n, t) for n, t, _ in rows] == [
        (c, t.replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"))
        for c, t in rtype.sql_columns("duckdb")
    ]
    assert [nullable == "YES" for *_, nullable in rows] == [f.nullable for f in rtype.fields]


@pytest.mark.parametrize("record_type", list(TYPED_TABLES))
def test_snowflake_dynamic_tables_have_the_records_columns(record_type: str) -> None:
    """Each Snowflake dynamic table selects every field from RECORD_CONTENT, cast to its type."""
    table = TYPED_TABLES[record_type]
    stmt = next(s for s in statements("snowflake") if f"DYNAMIC TABLE {table}\n" in s)
    tree = sqlglot.parse_one(stmt, read="snowflake")
    assert isinstance(tree, exp.Create) and tree.this.name == table
    projections = tree.expression.expressions
    rtype = RECORD_TYPES[record_type]
    assert [p.alias for p in projections] == [c for c, _ in rtype.sql_columns("snowflake")]
    for p, f in zip(projections, rtype.fields, strict=True):
        assert isinstance(p.this, exp.Cast), p.sql("snowflake")
        assert p.this.to.sql("snowflake") == _sf_type(f.sql_type("snowflake")), f.name
        keys = [k.this for k in p.this.find_all(exp.JSONPathKey)]
        assert keys == [f.name], f"{f.name} is read from {keys}"


def test_snowflake_sql_parses_as_snowflake() -> None:
    """Every statement parses with sqlglot (read='snowflake'); only role grants fall back to a Command."""
    stmts = statements("snowflake")
    assert len(stmts) > 15
    for stmt in stmts:
        tree = sqlglot.parse_one(stmt, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
        code = "\n".join(line for line in stmt.splitlines() if not line.lstrip().startswith("--"))
        if isinstance(tree, exp.Command):
            assert re.match(r"\s*(CREATE ROLE|GRANT)\b", code), f"not really parsed: {code[:80]}"


def test_both_dialects_create_every_shared_object(tmp_path: Path) -> None:
    """The raw table, the typed tables and the six views exist in Snowflake's and DuckDB's SQL."""
    names = {RAW_TABLE, *TYPED_TABLES.values(), *VIEWS}
    created = set()
    for stmt in statements("snowflake"):
        tree = sqlglot.parse_one(stmt, read="snowflake")
        if isinstance(tree, exp.Create) and tree.kind in ("TABLE", "VIEW", "DYNAMIC TABLE"):
            created.add(tree.this.name if isinstance(tree.this, exp.Table) else tree.this.this.name)
    assert names <= created
    apply_schema(tmp_path / "s.duckdb")
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    in_duckdb = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    con.close()
    assert names <= in_duckdb


def test_duckdb_views_are_the_snowflake_views_but_for_the_hour() -> None:
    """The hand-written DuckDB views cannot drift: each equals its Snowflake source, once the
    hour expression (Snowflake DATE_TRUNC on TIMESTAMP_TZ; DuckDB time_bucket in UTC) is swapped."""
    snow = {p.name: p.read_text() for p in sql_files("snowflake") if p.name.startswith("3")}
    duck = {p.name: p.read_text() for p in sql_files("duckdb") if p.name.startswith("3")}
    assert snow.keys() == duck.keys() and len(snow) == len(VIEWS)
    for name, text in snow.items():
        assert duck[name] == text.replace(HOUR_SNOWFLAKE, HOUR_DUCKDB), name


def test_rendering_refuses_unknown_placeholders_and_unsafe_names() -> None:
    """Placeholders are checked: a typo or an injected name is a ConfigError, not bad SQL."""
    with pytest.raises(ConfigError, match="unknown placeholder"):
        render("SELECT {{databse}}", "snowflake")
    with pytest.raises(ConfigError, match="not a plain SQL identifier"):
        render("USE {{database}}", "snowflake", database="ATS; DROP TABLE X")
    with pytest.raises(ConfigError, match="target lag"):
        render("{{target_lag}}", "snowflake", target_lag="1 minute'; DROP")
    with pytest.raises(ConfigError, match="unknown schema parameter"):
        render("x", "snowflake", databse="ATS")


def test_target_lag_renders_as_snowflake_expects() -> None:
    """A duration is quoted; DOWNSTREAM is a keyword; the default is one minute."""
    assert render("{{target_lag}}", "snowflake") == "'1 minute'"
    assert render("{{target_lag}}", "snowflake", target_lag="5 minutes") == "'5 minutes'"
    assert render("{{target_lag}}", "snowflake", target_lag="downstream") == "DOWNSTREAM"
    sql = "\n".join(
        statements(
            "snowflake", database="SIM", schema="RAIL", warehouse="WH_X", target_lag="2 hours"
        )
    )
    assert "TARGET_LAG = '2 hours'" in sql and "WAREHOUSE = WH_X" in sql
    assert "CREATE SCHEMA IF NOT EXISTS SIM.RAIL" in sql and "{{" not in sql


def test_applying_the_duckdb_schema_twice_keeps_the_data(tmp_path: Path) -> None:
    """schema apply is safe to repeat: tables are created if missing, never dropped."""
    path = tmp_path / "s.duckdb"
    apply_schema(path)
    con = duckdb.connect(str(path))
    con.execute(f"INSERT INTO {RAW_TABLE} VALUES ('{{}}', '{{\"a\": 1}}')")
    con.close()
    apply_schema(path)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute(f"SELECT count(*) FROM {RAW_TABLE}").fetchone() == (1,)
    con.close()
