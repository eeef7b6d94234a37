"""Fixtures for the dashboard tests: warehouses written by the real DuckDB sink, and the page.

* ``tiny_db``: an older run, then the tiny run of ``dashboard_testdata`` (every figure known),
  so the page's default, the latest written run, is the tiny one.
* ``peak_db``: the weekday morning peak from the shared ``morning_peak`` simulation.
* ``app_test``: a Streamlit ``AppTest`` of ``dashboard/app.py`` reading a given URL.

This folder is put on ``sys.path`` so tests can import ``dashboard_testdata``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dashboard_testdata import old_batches, tiny_batches, write_batches

from ats_sim.api import RunResult

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture(scope="session")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding an older run (double passengers on line R only), then the tiny run."""
    path = tmp_path_factory.mktemp("tiny") / "ats.duckdb"
    write_batches(path, old_batches())
    write_batches(path, tiny_batches())
    return path


@pytest.fixture(scope="session")
def peak_db(tmp_path_factory: pytest.TempPathFactory, morning_peak: RunResult) -> Path:
    """The weekday morning peak (``morning_peak``) written to a DuckDB file."""
    path = tmp_path_factory.mktemp("peak") / "ats.duckdb"
    write_batches(path, morning_peak.batches())
    return path


@pytest.fixture
def app_test(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """``app_test(url)``: the page, run once against ``url``."""
    from streamlit.testing.v1 import AppTest

    def run(url: str) -> Any:
        monkeypatch.setenv("ATS_SIM_WAREHOUSE_URL", url)
        return AppTest.from_file(str(APP), default_timeout=60).run()

    return run
