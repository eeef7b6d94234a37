"""The dashboard in a real headless Chromium, over a DuckDB file that a paced run is writing.

`ats-sim run --speed` writes the weekday morning into a DuckDB file while `ats-sim dashboard`
serves the page. The page must refresh itself with the new data without an error, and once the
run has finished its KPI row must equal what :mod:`dashboard.queries` computes on the file.
The screenshot is kept as ``docs/dashboard.png`` (the README shows it).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import queries as q
from sinks.duckdb import connect_readonly

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLI = [sys.executable, "-m", "ats_sim.cli"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def _need_browser() -> None:
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed"
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM}"
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the browser test may not be skipped)")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _version(db: Path) -> tuple[int, int, int]:
    try:
        with connect_readonly(db, timeout_s=2) as con:
            return q.data_version(con)
    except Exception:  # not created yet, or schema not applied yet
        return (0, 0, 0)


@pytest.fixture
def live_run() -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A paced replay (3 h of weekday morning in about 36 s) writing a DuckDB file.

    The file lives under a short temporary path: the page shows it in the screenshot.
    """
    tmp = tempfile.TemporaryDirectory(prefix="ats-")
    db = Path(tmp.name) / "ats.duckdb"
    writer = subprocess.Popen(
        [
            *CLI,
            "run",
            "weekday",
            "--until",
            "3h",
            "--speed",
            "300",
            "--seed",
            "5",
            "--quiet",
            "--sink",
            f"duckdb://{db}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while _version(db)[0] == 0:
            assert writer.poll() is None, "the run ended before writing anything"
            assert time.monotonic() < deadline, "the run wrote nothing within 30 s"
            time.sleep(0.3)
        yield db, writer
    finally:
        _stop(writer)
        tmp.cleanup()


@pytest.fixture
def dashboard_server(
    live_run: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> Iterator[str]:
    """`ats-sim dashboard` over the live file, on a free local port; yields its address."""
    _need_browser()
    db, _ = live_run
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    server = subprocess.Popen(
        [*CLI, "dashboard", f"duckdb://{db}", "--port", str(port), "--host", "127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, (tmp_path / "streamlit.log").read_text()
            assert time.monotonic() < deadline, "the dashboard did not listen within 30 s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(server)
        log.close()


def _kpis_on_page(page: object) -> dict[str, str]:
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()  # type: ignore[attr-defined]
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()  # type: ignore[attr-defined]
    return {k.strip(): v.strip() for k, v in zip(labels, values, strict=True)}


def _records_on_page(page: object) -> int | None:
    caption = page.locator('[data-testid="stCaptionContainer"]', has_text="telemetry records")  # type: ignore[attr-defined]
    if caption.count() == 0:
        return None
    m = re.search(r"([\d,]+) telemetry records", caption.first.inner_text())
    return int(m.group(1).replace(",", "")) if m else None


def _expected_kpis(db: Path) -> dict[str, str]:
    """The warehouse's own answer, formatted as the page formats it."""
    with connect_readonly(db) as con:
        run_id = str(q.runs(con)["RUN_ID"].iloc[0])
        as_of = q.run_overview(con, run_id)["TIMESTAMP"].max().to_pydatetime()
        k = q.kpis(con, q.Filters(run_id), as_of).iloc[0]
    return {
        "Trains in service": f"{int(k['TRAINS_IN_SERVICE']):,}",
        "Passengers on board": f"{int(k['PASSENGERS']):,}",
        "Active alerts": f"{int(k['ACTIVE_ALERTS']):,}",
        "Total power draw": f"{float(k['POWER_MW']):,.2f} MW",
        "Energy today (net of regen)": f"{float(k['ENERGY_TODAY_MWH']):,.2f} MWh",
    }


def test_the_live_page_refreshes_cleanly_and_shows_the_warehouses_numbers(
    live_run: tuple[Path, subprocess.Popen[bytes]], dashboard_server: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    db, writer = live_run
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1560})
            page.goto(dashboard_server, wait_until="domcontentloaded", timeout=30_000)
            page.wait_for_selector('[data-testid="stMetricValue"]', timeout=30_000)

            # Refresh every 5 s, chosen in the sidebar as a person would.
            page.locator('[data-testid="stSelectbox"]', has_text="Auto-refresh").click()
            page.get_by_role("option", name="5 s").click()

            # While the run writes: the page keeps refreshing itself, never showing an error.
            seen: set[int] = set()
            while writer.poll() is None:
                assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).first.inner_text()
                if (n := _records_on_page(page)) is not None:
                    seen.add(n)
                time.sleep(0.5)
            assert writer.returncode == 0
            assert len(seen) >= 2, (
                f"the page did not refresh with new data while the run wrote: {seen}"
            )

            # Once the run is done, the page catches up and equals the warehouse's own answer.
            final = _version(db)[0]
            deadline = time.monotonic() + 20
            while _records_on_page(page) != final:
                assert time.monotonic() < deadline, (
                    f"page stuck at {_records_on_page(page)} of {final} records"
                )
                time.sleep(0.5)
            assert _kpis_on_page(page) == _expected_kpis(db)
            assert page.locator(ERRORS).count() == 0

            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=15_000
            )
            page.mouse.click(700, 40)  # take the focus off the sidebar's select box
            page.wait_for_timeout(1500)  # let the plots finish drawing
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000  # a page, not a blank image
            DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
            DOCS_SCREENSHOT.write_bytes(shot.read_bytes())
        finally:
            browser.close()
