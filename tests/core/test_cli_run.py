"""`ats-sim run`: sinks chosen by URL, a closing summary, and Ctrl-C that loses nothing."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds

CLI = [sys.executable, "-m", "ats_sim.cli"]


def test_a_replay_into_files_reports_what_it_wrote(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *CLI,
            "run",
            "weekday",
            "--until",
            "30m",
            "--seed",
            "3",
            "--quiet",
            "--sink",
            f"file://{tmp_path}?format=parquet",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    written = int(
        re.search(r"written to file:\S+ \(parquet\)\s+([\d,]+) records", proc.stderr)[1].replace(
            ",", ""
        )
    )
    on_disk = sum(
        ds.dataset(tmp_path / kind, format="parquet").count_rows()
        for kind in ("telemetry", "station_event", "alert")
        if (tmp_path / kind).exists()
    )
    assert written == on_disk > 0
    assert "run summary" in proc.stderr and "energy, net of regeneration" in proc.stderr


def test_ctrl_c_flushes_every_sink_reports_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            *CLI,
            "run",
            "weekday",
            "--speed",
            "1200",
            "--telemetry-interval",
            "5",
            "--quiet",
            "--sink",
            f"file://{tmp_path}?format=jsonl",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    written = int(
        re.search(r"written to file:\S+ \(jsonl\)\s+([\d,]+) records", err)[1].replace(",", "")
    )
    lines = sum(len(p.read_bytes().splitlines()) for p in tmp_path.rglob("*.jsonl"))
    assert written == lines > 0
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".jsonl")]


def test_bad_sink_urls_give_one_line_and_exit_status_2(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    for url, expected in [
        ("nosuch://x", "unknown scheme"),
        ("duckdb", "has no scheme"),
        (f"file://{tmp_path}?format=csv", "format"),
        (f"file://{blocked}/sub?format=jsonl", str(blocked)),
        ("snowflake://me:secret@acct/db/sch", "must not contain a password"),
    ]:
        proc = subprocess.run(
            [*CLI, "run", "weekday", "--until", "10m", "--quiet", "--sink", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, (url, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and expected in lines[0], (url, proc.stderr)
        assert "secret" not in proc.stderr


def test_a_failed_command_does_not_wait_for_threads_a_client_library_left_running() -> None:
    """The Snowflake connector leaves a non-daemon thread retrying a dead server for minutes;
    a command that failed ends at once with its one line and status (a sleeping thread stands
    in for the connector's, which a test cannot make linger on demand)."""
    code = (
        "import sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(120,)).start()\n"
        "sys.argv = ['ats-sim', 'run', 'no-such-scenario']\n"
        "from ats_sim.cli.main import main\n"
        "main()\n"
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert time.monotonic() - started < 30
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
