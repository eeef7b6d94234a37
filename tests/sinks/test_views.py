"""The DuckDB views give the answers worked out by hand on a small dataset (view_dataset.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from view_dataset import EXPECTED, batches

from sinks import open_sink
from sinks.duckdb import reading
from sinks.schema import VIEWS


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding the view dataset, written through the DuckDB sink."""
    path = tmp_path_factory.mktemp("views") / "ats.duckdb"
    with open_sink(f"duckdb://{path}") as sink:
        for b in batches():
            sink.write_batch(b)
    return path


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, bool):
        return got is want
    if isinstance(want, float):
        return got is not None and got == pytest.approx(want, abs=1e-9)
    return bool(got == want)  # aware datetimes compare as instants


def test_every_view_has_a_hand_worked_expectation() -> None:
    """The dataset covers all six shared views."""
    assert set(EXPECTED) == set(VIEWS)


@pytest.mark.parametrize("view", VIEWS)
def test_view_gives_the_hand_worked_answer(warehouse: Path, view: str) -> None:
    """Each expected row appears, in order, with the expected values (floats to 1e-9)."""
    order, rows = EXPECTED[view]
    with reading(warehouse) as con:
        cur = con.execute(f"SELECT * FROM {view} ORDER BY {order}")
        names = [d[0].upper() for d in cur.description]
        got = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert len(got) == len(rows), got
    for g, w in zip(got, rows, strict=True):
        for col, value in w.items():
            assert _same(g[col], value), f"{view}.{col}: got {g[col]!r}, want {value!r} (row {g})"


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_has_run_and_line(warehouse: Path, view: str) -> None:
    """The dashboard filters every view by RUN_ID and LINE_ID."""
    with reading(warehouse) as con:
        names = [d[0].upper() for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
    assert {"RUN_ID", "LINE_ID"} <= set(names)


def test_hours_are_utc_whatever_the_session_time_zone(warehouse: Path) -> None:
    """HOUR buckets are UTC hours even when the reader's session is at +05:30."""
    with reading(warehouse) as con:
        con.execute("SET TimeZone = 'Asia/Kolkata'")
        hours = [
            r[0]
            for r in con.execute(
                "SELECT HOUR FROM ATS_HOURLY_STATS WHERE RUN_ID = 'r1' ORDER BY HOUR"
            ).fetchall()
        ]
    assert [h.astimezone(dt.UTC) for h in hours] == [
        dt.datetime(2024, 6, 1, 7, tzinfo=dt.UTC),
        dt.datetime(2024, 6, 1, 8, tzinfo=dt.UTC),
    ]
