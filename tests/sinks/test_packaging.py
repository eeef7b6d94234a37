"""The schema ships inside the wheel: ``sinks/sql`` is the top-level ``sql/`` folder (a
symbolic link) and the package data of ``sinks`` names every file in it, so an installed
``ats-sim`` (not only a source checkout) can apply its schema."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sinks_sql_is_the_top_level_sql_folder() -> None:
    link = ROOT / "sinks" / "sql"
    assert link.is_symlink() and link.resolve() == (ROOT / "sql").resolve()


def test_the_package_data_of_sinks_covers_every_schema_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["sinks"]
    shipped = {p for pattern in patterns for p in (ROOT / "sinks").glob(pattern)}
    wanted = {
        ROOT / "sinks" / "sql" / p.relative_to(ROOT / "sql")
        for p in (ROOT / "sql").rglob("*")
        if p.is_file()
    }
    assert wanted and wanted <= shipped
