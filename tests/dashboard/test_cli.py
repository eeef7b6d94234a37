"""`ats-sim dashboard`: Streamlit started with an explicit address, headless, no usage statistics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ats_sim.cli.dashboard import DEFAULT_URL, streamlit_command, streamlit_env
from dashboard.connection import URL_ENV

CLI = [sys.executable, "-m", "ats_sim.cli"]
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def test_the_default_warehouse_is_where_ats_sim_run_writes() -> None:
    import ats_sim.cli.main  # noqa: F401 - the run module is importable only after the app
    from ats_sim.cli.run import DEFAULT_SINK
    from dashboard.connection import DEFAULT_URL as PAGE_DEFAULT

    assert DEFAULT_URL == PAGE_DEFAULT == DEFAULT_SINK == "duckdb://data/ats.duckdb"


def test_help_names_the_url_port_and_host() -> None:
    out = subprocess.run([*CLI, "dashboard", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert (
        "WAREHOUSE_URL" in out.stdout.upper() and "--port" in out.stdout and "--host" in out.stdout
    )
    assert DEFAULT_URL in out.stdout and "8501" in out.stdout


def test_streamlit_is_told_its_address_and_to_keep_quiet() -> None:
    cmd = streamlit_command(APP, host="127.0.0.1", port=8765)
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(APP)]
    flags = dict(zip(cmd[5::2], cmd[6::2], strict=True))
    assert flags == {
        "--server.address": "127.0.0.1",
        "--server.port": "8765",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
    }


def test_the_url_reaches_the_page_through_the_environment() -> None:
    env = streamlit_env("duckdb:///tmp/x.duckdb", APP)
    assert env[URL_ENV] == "duckdb:///tmp/x.duckdb"
    assert env["PYTHONPATH"].split(":")[0] == str(APP.parent.parent)


def test_a_bad_url_is_one_line_and_exit_status_2() -> None:
    out = subprocess.run(
        [*CLI, "dashboard", "mysql://db/ats"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "unknown scheme 'mysql://'" in out.stderr and "Traceback" not in out.stderr


def test_a_bad_port_is_refused() -> None:
    out = subprocess.run(
        [*CLI, "dashboard", "--port", "70000"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert "--port 70000" in out.stderr
