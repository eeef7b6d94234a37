"""The DuckDB sink holds its file for one transaction per flush (``sinks.duckdb_lock.FileHost``).

It attaches the file to a DuckDB instance kept in memory, writes and detaches it: between
flushes other processes can open the file, and a connection this process holds itself does not
stop the sink. Back-to-back writes leave a gap in which a polling reader gets in.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
from writer_process import telemetry_batch

from sinks import open_sink
from sinks.duckdb import apply_schema, reading
from sinks.duckdb_lock import READER_GAP_S, FileHost

ROWS = 1_000


def test_the_file_is_free_between_flushes(tmp_path: Path) -> None:
    """While the sink stays open, another process opens the file after each flush."""
    path = tmp_path / "ats.duckdb"
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print(c.execute('SELECT count(*) FROM ATS_RAW_JSON').fetchone()[0])"
    )
    with open_sink(f"duckdb://{path}", batch_records=ROWS, batch_seconds=3600) as sink:
        for k in range(2):
            sink.write_batch(telemetry_batch(k, ROWS))
            out = subprocess.run(
                [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
            )
            assert out.returncode == 0, out.stderr
            assert int(out.stdout) == (k + 1) * ROWS
        with reading(path) as con:  # and from this process too
            assert con.execute("SELECT count(*) FROM ATS_TRANSFORMED").fetchone() == (2 * ROWS,)


def test_a_connection_this_process_holds_is_shared(tmp_path: Path) -> None:
    """A read-write connection of this process stays open across flushes (a notebook's, say):
    the sink writes through that instance, and the connection sees every flush."""
    path = tmp_path / "ats.duckdb"
    with open_sink(f"duckdb://{path}", batch_records=ROWS, batch_seconds=3600) as sink:
        sink.write_batch(telemetry_batch(0, ROWS))
        mine = duckdb.connect(str(path))
        try:
            for k in (1, 2):
                sink.write_batch(telemetry_batch(k, ROWS))
                count = mine.execute("SELECT count(*) FROM ATS_RAW_JSON").fetchone()
                assert count == ((k + 1) * ROWS,)
        finally:
            mine.close()
        sink.write_batch(telemetry_batch(3, ROWS))  # and attaches again once it is closed
    with reading(path) as con:
        assert con.execute("SELECT count(DISTINCT RECORD_ID) FROM ATS_TRANSFORMED").fetchone() == (
            4 * ROWS,
        )


def test_back_to_back_writes_leave_the_file_free_for_a_moment(tmp_path: Path) -> None:
    """A write that follows the previous one at once waits READER_GAP_S before it attaches."""
    path = tmp_path / "ats.duckdb"
    apply_schema(path)
    host = FileHost(path, lock_timeout_s=1)
    try:
        with host.attached() as con:
            con.execute("SELECT count(*) FROM ATS_RAW_JSON").fetchall()
        released = time.monotonic()
        with host.attached() as con:
            attached = time.monotonic()
            assert con.execute("SELECT count(*) FROM ATS_RAW_JSON").fetchone() == (0,)
    finally:
        host.close()
    assert attached - released >= READER_GAP_S
