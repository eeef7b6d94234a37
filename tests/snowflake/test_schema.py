"""``apply_schema`` and ``ats-sim schema apply`` for Snowflake, and the same answers as DuckDB.

fakesnow runs most of ``sql/snowflake`` as Snowflake would, with two gaps, each named in the
test that meets it: it has no roles or grants (the reader-role statements are checked as
Snowflake SQL with sqlglot instead), and its dynamic tables are filled once, when created, and
never refreshed (re-applying the schema, which re-creates them, stands in for a refresh).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

import ats_sim
from sinks import FanOut, TerminalSinkError, open_sink
from sinks.duckdb import reading
from sinks.ingest_messages import DEAD_LETTER_TABLE
from sinks.schema import RAW_TABLE, TYPED_TABLES, VIEWS
from sinks.snowflake import apply_schema, schema_statements
from sinks.snowflake_conn import resolve_target
from sinks.url import parse_sink_url

pytestmark = pytest.mark.snowflake


def test_every_statement_parses_as_snowflake_sql(password: str) -> None:
    """All of sql/snowflake, rendered, reader role included, is Snowflake SQL to sqlglot; the
    dynamic tables carry the requested TARGET_LAG and WAREHOUSE. sqlglot keeps CREATE ROLE and
    GRANT ... ON ALL|FUTURE as opaque commands: those are matched against Snowflake's grammar."""
    target, _ = resolve_target(parse_sink_url("snowflake://u@acct/ATS/RAW?warehouse=REFRESH_WH"))
    stmts = schema_statements(target, "5 minutes", reader_role="DASH_READER")
    grammar = re.compile(
        r"^(CREATE ROLE IF NOT EXISTS DASH_READER"
        r"|GRANT (USAGE|SELECT) ON (ALL|FUTURE) (VIEWS|DYNAMIC TABLES|TABLES) IN SCHEMA ATS\.RAW "
        r"TO ROLE DASH_READER)$"
    )
    dynamic = 0
    for stmt in stmts:
        tree = sqlglot.parse_one(stmt, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
        if isinstance(tree, exp.Command):
            code = " ".join(ln for ln in stmt.splitlines() if not ln.strip().startswith("--"))
            assert grammar.match(" ".join(code.split())), stmt
            continue
        props = tree.args.get("properties")
        if props is not None and any(isinstance(p, exp.DynamicProperty) for p in props.expressions):
            dynamic += 1
            values = {
                p.name.upper(): p.text("value")
                for p in props.expressions
                if type(p) is exp.Property
            }
            assert values == {"TARGET_LAG": "5 minutes", "WAREHOUSE": "REFRESH_WH"}
            assert isinstance(tree.expression, exp.Select)
    assert dynamic == len(TYPED_TABLES)
    assert (
        sum(
            s.lstrip().upper().startswith(("GRANT", "CREATE ROLE"))
            for s in (
                " ".join(ln for ln in x.splitlines() if not ln.startswith("--")) for x in stmts
            )
        )
        >= 2
    )


def test_schema_apply_is_safe_to_run_twice_and_keeps_the_raw_data(
    password: str, fakesnow_port: int, database: str, url_for: Any, sql: Any
) -> None:
    """Database, schema, raw table, typed tables and views exist; a second apply keeps the
    records already loaded."""
    url = url_for(fakesnow_port, database)
    done = apply_schema(url, target_lag="2 minutes", roles=False)
    assert done[:3] == [
        f"CREATE DATABASE IF NOT EXISTS {database}",
        f"CREATE SCHEMA IF NOT EXISTS {database}.PUBLIC",
        f"USE SCHEMA {database}.PUBLIC",
    ]
    assert not any(line.upper().startswith(("GRANT", "CREATE ROLE")) for line in done)
    with open_sink(url) as sink:
        for b in ats_sim.run("weekday", until="20m", seed=5, telemetry_interval_s=30).batches():
            sink.write_batch(b)
    assert apply_schema(url, target_lag="2 minutes", roles=False) == done
    assert sql(fakesnow_port, database, f"SELECT COUNT(*) FROM {RAW_TABLE}") == [
        (sink.stats.records,)
    ]
    for name in (*TYPED_TABLES.values(), *VIEWS):
        sql(fakesnow_port, database, f"SELECT * FROM {name} LIMIT 1")


def test_reader_role_fails_on_fakesnow_which_has_no_roles_and_the_error_names_the_statement(
    password: str, fakesnow_port: int, database: str, url_for: Any
) -> None:
    """fakesnow cannot parse CREATE ROLE or GRANT (real Snowflake runs them: see the sqlglot
    test); the failure is one line naming the statement. ``roles=False`` skips them."""
    with pytest.raises(TerminalSinkError) as err:
        apply_schema(url_for(fakesnow_port, database))
    assert "\n" not in str(err.value)
    assert "`CREATE ROLE IF NOT EXISTS ATS_DASHBOARD_READER`" in str(err.value)


def test_dynamic_tables_on_fakesnow_are_snapshots_so_reapplying_the_schema_stands_in_for_a_refresh(
    password: str, fakesnow_port: int, database: str, url_for: Any, sql: Any
) -> None:
    """In Snowflake ATS_TRANSFORMED refreshes within TARGET_LAG. fakesnow fills a dynamic table
    once, when it is created: records loaded later are not in it until the schema is applied
    again (CREATE OR REPLACE), the nearest equivalent of a refresh that fakesnow has."""
    url = url_for(fakesnow_port, database)
    apply_schema(url, roles=False)
    with open_sink(url) as sink:
        for b in ats_sim.run("weekday", until="20m", seed=5, telemetry_interval_s=30).batches():
            sink.write_batch(b)
    telemetry = sink.stats.by_type["telemetry"]
    assert telemetry > 0
    assert sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_TRANSFORMED") == [(0,)]
    apply_schema(url, roles=False)
    assert sql(fakesnow_port, database, "SELECT COUNT(*) FROM ATS_TRANSFORMED") == [(telemetry,)]


# -- the command ---------------------------------------------------------------------------------

#: What ``schema apply`` creates, as the rest of the project names it.
EVERY_TABLE_AND_VIEW = (RAW_TABLE, DEAD_LETTER_TABLE, *TYPED_TABLES.values(), *VIEWS)


def test_the_schema_apply_command_creates_everything_and_is_safe_to_run_twice(
    password: str, fakesnow_port: int, database: str, url_for: Any, sql: Any, cli: Any
) -> None:
    """``ats-sim schema apply URL --no-roles --target-lag "2 minutes"``, run as a user runs it,
    twice: exit 0 both times, the same statements listed, and every table and view exists."""
    url = url_for(fakesnow_port, database)
    args = ("schema", "apply", url, "--no-roles", "--target-lag", "2 minutes")
    first = cli.run(*args)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert lines[0].strip() == f"CREATE DATABASE IF NOT EXISTS {database}"
    assert lines[-1] == f"schema applied: {len(lines) - 1} statements"
    assert sum("DYNAMIC TABLE" in ln for ln in lines) == len(TYPED_TABLES)
    assert not any("ROLE" in ln for ln in lines)
    for name in EVERY_TABLE_AND_VIEW:
        assert sql(fakesnow_port, database, f"SELECT COUNT(*) FROM {name}") == [(0,)], name

    second = cli.run(*args)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    for name in EVERY_TABLE_AND_VIEW:
        assert sql(fakesnow_port, database, f"SELECT COUNT(*) FROM {name}") == [(0,)], name


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "snowflake://fakeaccount/ATS/PUBLIC?warehouse=TEST_WH",
            "error: a snowflake:// URL needs the user: snowflake://USER@ACCOUNT/DATABASE/SCHEMA",
        ),
        (
            "snowflake://ats_writer@fakeaccount/ATS/PUBLIC/EXTRA?warehouse=TEST_WH",
            "error: a snowflake:// URL path is /DATABASE or /DATABASE/SCHEMA, not '/ATS/PUBLIC/EXTRA'",
        ),
        (
            "snowflake://ats_writer@fakeaccount/ATS/PUBLIC",
            "error: schema apply snowflake:// needs a warehouse for the dynamic tables to refresh "
            "on: add ?warehouse=NAME",
        ),
    ],
    ids=["no-user", "path-too-long", "no-warehouse"],
)
def test_the_schema_apply_command_refuses_a_bad_url_in_one_line(
    password: str, cli: Any, url: str, expected: str
) -> None:
    """A URL that names no user, too deep a path, or no warehouse: exit 2, one line on stderr."""
    result = cli.run("schema", "apply", url, "--no-roles")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(expected), result.stderr


def test_the_schema_apply_command_says_a_refused_login_in_one_line_without_the_password(
    password: str, fakesnow_plus: Any, url_for: Any, cli: Any
) -> None:
    """Snowflake refuses the password (fakesnow accepts any, so the server answers as Snowflake
    does, code 390100): exit 2, one line naming the user and SNOWFLAKE_PASSWORD, no secret."""
    server = fakesnow_plus(
        [
            {
                "when": "login",
                "user": "ats_writer",
                "code": "390100",
                "message": "Incorrect username or password was specified.",
            }
        ]
    )
    result = cli.run("schema", "apply", url_for(server.port, "ATS"), "--no-roles")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "error: Snowflake refused the login of ats_writer: incorrect username or password; "
        "check the user and SNOWFLAKE_PASSWORD"
    ), line
    assert password not in result.stderr + result.stdout


def test_the_schema_apply_command_says_an_unreachable_server_in_one_line(
    password: str, url_for: Any, cli: Any
) -> None:
    """Nothing listens on the port: exit 2, one line saying Snowflake is unreachable, where."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    result = cli.run("schema", "apply", url_for(port, "ATS", login_timeout=2), "--no-roles")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: Snowflake unreachable while "), line
    assert f"127.0.0.1:{port}" in line


# -- the same answers as DuckDB --------------------------------------------------------------------


def _value(v: Any) -> Any:
    """A cell as a comparable Python value: UTC epoch ms for times, float/int for numbers."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        return ("ts", round(v.timestamp() * 1000))
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        (0, "") if c is None else (1, str(round(c, 6)) if isinstance(c, float) else str(c))
        for c in row
    )


def _rows(cursor_rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(_value(c) for c in r) for r in cursor_rows), key=_sort_key)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            a is not None
            and b is not None
            and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
        )
    return bool(a == b)


def test_every_shared_view_gives_the_same_answer_in_snowflake_and_duckdb(
    password: str, fakesnow_port: int, database: str, url_for: Any, sql: Any, tmp_path: Path
) -> None:
    """One run (the disruption scenario, three hours) fans out to a DuckDB file and Snowflake.
    Its first batches are then loaded a second time into both (a replay: DuckDB's sink skips
    them, Snowflake's raw table holds them twice and its dynamic tables deduplicate on
    RECORD_ID). Every typed table and view has the same columns and rows in both. fakesnow's
    dynamic tables never refresh, so the schema is re-applied after loading (see above)."""
    url = url_for(fakesnow_port, database)
    apply_schema(url, roles=False)
    duck = tmp_path / "ats.duckdb"
    both = FanOut([open_sink(f"duckdb://{duck}"), open_sink(url, batch_records=5_000)])
    with both:
        result = ats_sim.run(
            "disruption",
            until="3h",
            seed=11,
            telemetry_interval_s=10,
            emit=both.write_batch,
            keep=True,
        )
    replay = list(result.batches())[:6]
    with FanOut([open_sink(f"duckdb://{duck}"), open_sink(url)]) as again:
        for b in replay:
            again.write_batch(b)
    total = sum(result.summary.records.values())
    assert (
        total == sum(b.num_rows for b in result.batches()) and result.summary.records["alert"] > 0
    )
    assert sql(fakesnow_port, database, f"SELECT COUNT(*) FROM {RAW_TABLE}") == [
        (total + sum(b.num_rows for b in replay),)
    ]
    apply_schema(url, roles=False)  # the stand-in for the dynamic tables' refresh

    with reading(duck) as con:
        for name in (*TYPED_TABLES.values(), *VIEWS):
            cur = con.execute(f"SELECT * FROM {name}")
            duck_cols = [d[0].upper() for d in cur.description]
            duck_rows = _rows(cur.fetchall())
            sf_cols = [c.upper() for c in _columns(fakesnow_port, database, name)]
            sf_rows = _rows(sql(fakesnow_port, database, f"SELECT * FROM {name}"))
            assert sf_cols == duck_cols, name
            assert len(sf_rows) == len(duck_rows) > 0, name
            for s_row, d_row in zip(sf_rows, duck_rows, strict=True):
                assert all(_same(a, b) for a, b in zip(s_row, d_row, strict=True)), (
                    name,
                    s_row,
                    d_row,
                )


def _columns(port: int, database: str, name: str) -> list[str]:
    import snowflake.connector

    conn = snowflake.connector.connect(
        user="test_reader",
        password="unused",
        account="fakeaccount",
        host="127.0.0.1",
        port=port,
        protocol="http",
        database=database,
        schema="PUBLIC",
    )
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT * FROM {name} LIMIT 0")
        return [d[0] for d in cur.description]
    finally:
        conn.close()
