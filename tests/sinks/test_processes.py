"""Two real processes on one DuckDB file, and a writer killed with SIGKILL.

The DuckDB sink opens, writes and closes the file on every flush; a reader in another process
connects read-only per poll with ``connect_readonly``, which retries while the writer holds the
lock. A writer killed at any moment leaves whole flushes only, and every finished file of the
file sink readable.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sinks.duckdb import connect_readonly, reading
from sinks.files import list_files

WRITER = Path(__file__).with_name("writer_process.py")
REPO = Path(__file__).resolve().parents[2]
ROWS = 2_000
FLUSHES = 12


def start_writer(
    root: Path, first: int, count: int = 0, sinks: str = "all"
) -> subprocess.Popen[str]:
    """Start ``writer_process.py``: ``count`` flushes of ``ROWS`` records (0: until killed)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    args = [sys.executable, str(WRITER), str(root), str(ROWS), str(first), str(count), sinks]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def wait_for_flushes(proc: subprocess.Popen[str], n: int) -> None:
    assert proc.stdout is not None
    for _ in range(n):
        line = proc.stdout.readline()
        assert line.startswith("flushed"), (
            f"writer said {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"
        )


def counts(path: Path) -> tuple[int, int]:
    with reading(path, timeout_s=20) as con:
        typed = con.execute("SELECT count(*) FROM ATS_TRANSFORMED").fetchone()
        raw = con.execute("SELECT count(*) FROM ATS_RAW_JSON").fetchone()
    assert typed is not None and raw is not None
    return typed[0], raw[0]


def test_a_reader_process_polls_while_a_writer_process_appends(tmp_path: Path) -> None:
    """Counts seen by the reader never decrease, are whole flushes, and raw equals typed."""
    db = tmp_path / "ats.duckdb"
    writer = start_writer(tmp_path, first=0, count=FLUSHES, sinks="duckdb")
    try:
        wait_for_flushes(writer, 1)
        seen: list[int] = []
        polls = 0
        while writer.poll() is None or polls < 3:
            con = connect_readonly(db, timeout_s=20)
            try:
                typed = con.execute("SELECT count(*) FROM ATS_TRANSFORMED").fetchone()[0]
                raw = con.execute("SELECT count(*) FROM ATS_RAW_JSON").fetchone()[0]
                con.execute("SELECT * FROM ATS_HOURLY_STATS").fetchall()
            finally:
                con.close()
            assert typed == raw, "the raw and typed tables are written in one transaction"
            assert typed % ROWS == 0, f"{typed} is not a whole number of flushes"
            assert not seen or typed >= seen[-1], f"count went down: {seen[-1]} -> {typed}"
            seen.append(typed)
            polls += 1
            time.sleep(0.05)  # a dashboard polls every few seconds; this is 20 times a second
        assert writer.wait(timeout=60) == 0, writer.stderr.read() if writer.stderr else ""
    finally:
        writer.kill()
        writer.wait()
    assert seen[-1] == FLUSHES * ROWS
    assert len(set(seen)) > 2, (
        f"the reader should have seen the table grow, saw {sorted(set(seen))}"
    )


def test_sigkill_leaves_whole_flushes_and_readable_files(tmp_path: Path) -> None:
    """Kill the writer mid-run twice; after each kill everything on disk is whole."""
    db = tmp_path / "ats.duckdb"
    rng = random.Random(7)
    for round_no in range(2):
        writer = start_writer(tmp_path, first=1000 * round_no)
        wait_for_flushes(writer, 2)
        time.sleep(rng.uniform(0.0, 0.4))
        writer.send_signal(signal.SIGKILL)
        writer.wait()

        typed, raw = counts(db)
        assert typed == raw
        assert typed % ROWS == 0 and typed >= 2 * (round_no + 1) * ROWS

        for fmt in ("parquet", "jsonl"):
            files = list_files(tmp_path / fmt, "telemetry")
            assert files and not any(p.name.startswith(".") for p in files)
            for path in files:
                if fmt == "parquet":
                    assert pq.read_metadata(path).num_rows == ROWS
                else:
                    lines = path.read_bytes().splitlines()
                    assert len(lines) == ROWS
                    json.loads(lines[-1])
            if fmt == "parquet":  # a dataset reader skips leftover hidden .tmp files
                assert ds.dataset(
                    tmp_path / fmt / "telemetry", format="parquet"
                ).count_rows() == ROWS * len(files)
