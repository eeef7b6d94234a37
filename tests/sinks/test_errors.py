"""Mistakes in sink URLs give one clear line (ConfigError or TerminalSinkError), and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ats_sim.cli.main import app
from ats_sim.errors import AtsSimError, ConfigError
from sinks import TerminalSinkError, open_sink


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A regular file, so that paths below it cannot be created, even by root."""
    path = tmp_path / "afile"
    path.write_text("not a directory, not a database")
    return path


BAD_URLS = [
    # (url, error class, words the message must contain)
    ("duckdb:/data/ats.duckdb", ConfigError, "no scheme"),
    ("ftp://host/data", ConfigError, "unknown scheme"),
    ("file://", ConfigError, "no path"),
    ("file://{tmp}/x?format=csv", ConfigError, "format='csv'"),
    ("file://{tmp}/x?compression=brotli", ConfigError, "compression='brotli'"),
    ("file://{tmp}/x?format=parquet&compression=rar", ConfigError, "compression='rar'"),
    ("file://{tmp}/x?rotate_mb=abc", ConfigError, "rotate_mb='abc'"),
    ("file://{tmp}/x?rotate_mb=0", ConfigError, "rotate_mb"),
    ("file://{tmp}/x?colour=red", ConfigError, "unknown option(s) colour"),
    ("file://{tmp}/x?format=jsonl&format=parquet", ConfigError, "given twice"),
    ("duckdb://{tmp}/x.duckdb?lock_timeout_s=soon", ConfigError, "lock_timeout_s='soon'"),
    ("duckdb://{tmp}/x.duckdb?batch_records=-1", ConfigError, "negative"),
    ("duckdb:///:memory:", ConfigError, "needs a file"),
    ("file://{file}/sub", TerminalSinkError, "cannot write to"),
    ("duckdb://{file}/sub/ats.duckdb", TerminalSinkError, "cannot create"),
    ("duckdb://{tmp}", TerminalSinkError, "is a directory"),
    ("duckdb://{file}", TerminalSinkError, "cannot open"),
]


@pytest.mark.parametrize(("url", "error", "words"), BAD_URLS, ids=[u for u, _, _ in BAD_URLS])
def test_a_bad_sink_url_is_one_clear_line(
    tmp_path: Path, a_file: Path, url: str, error: type, words: str
) -> None:
    """Opening the sink raises the expected error, whose text is a single line naming the problem."""
    with pytest.raises(error) as info:
        open_sink(url.format(tmp=tmp_path, file=a_file))
    text = str(info.value)
    assert isinstance(info.value, AtsSimError) and info.value.exit_code == 2
    assert "\n" not in text and words in text


@pytest.mark.parametrize(
    "url",
    [
        "duckdb:/nowhere",
        "kafka://localhost:9092/t",
        "file:///tmp/x",
        "duckdb://{file}/x.duckdb",
        "duckdb://{tmp}",
    ],
)
def test_schema_apply_with_a_bad_url_exits_2_with_one_line(
    tmp_path: Path, a_file: Path, url: str
) -> None:
    """`ats-sim schema apply` prints one `error:` line on stderr and exits with status 2."""
    result = CliRunner().invoke(app, ["schema", "apply", url.format(tmp=tmp_path, file=a_file)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_schema_apply_creates_a_duckdb_warehouse(tmp_path: Path) -> None:
    """`ats-sim schema apply duckdb://...` creates the tables and views, and can run again."""
    url = f"duckdb://{tmp_path}/w/ats.duckdb"
    for _ in range(2):
        result = CliRunner().invoke(app, ["schema", "apply", url])
        assert result.exit_code == 0, result.output
    assert "CREATE OR REPLACE VIEW ATS_HEADWAYS" in result.stdout
    assert (tmp_path / "w" / "ats.duckdb").is_file()


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_schema_show_prints_the_rendered_sql(dialect: str) -> None:
    """`ats-sim schema show --dialect D` prints every file, with placeholders filled in."""
    args = [
        "schema",
        "show",
        "--dialect",
        dialect,
        "--database",
        "SIM",
        "--target-lag",
        "5 minutes",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "{{" not in result.stdout and "CREATE OR REPLACE VIEW ATS_LINE_ENERGY" in result.stdout
    if dialect == "snowflake":
        assert "CREATE DATABASE IF NOT EXISTS SIM" in result.stdout
        assert "TARGET_LAG = '5 minutes'" in result.stdout
        assert (
            "GRANT SELECT ON ALL VIEWS IN SCHEMA SIM.PUBLIC TO ROLE ATS_DASHBOARD_READER"
            in result.stdout
        )
    else:
        assert '"TIMESTAMP" TIMESTAMPTZ NOT NULL' in result.stdout


def test_schema_show_refuses_an_unknown_dialect() -> None:
    """An unknown --dialect is a usage error (exit status 2)."""
    result = CliRunner().invoke(app, ["schema", "show", "--dialect", "oracle"])
    assert result.exit_code == 2


def test_secrets_in_a_url_are_refused_without_being_repeated() -> None:
    """A password in the query or the user info never reaches the error text."""
    from ats_sim.errors import ConfigError
    from sinks.url import parse_sink_url

    for url in (
        "kafka://127.0.0.1:9/t?sasl.password=HUNTER2&sasl.password=HUNTER2",
        "snowflake://me:HUNTER2@acct:99999/db",
        "snowflake://me@acct/db/sch?password=HUNTER2",
        "snowflake://me:HUNTER2@acct/db/sch",
    ):
        with pytest.raises(ConfigError) as err:
            parse_sink_url(url)
        assert "HUNTER2" not in str(err.value)
