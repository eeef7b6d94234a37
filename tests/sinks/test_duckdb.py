"""The DuckDB sink: the connector's raw layout, one transaction per flush, no duplicates, locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from sink_contract import make_batch

from ats_sim.errors import ConfigError
from ats_sim.records import Batch, json_lines
from sinks import TerminalSinkError, TransientSinkError, open_sink
from sinks.duckdb import connect_readonly, read_table, reading


def _raw(path: Path) -> list[tuple[dict, str]]:
    with reading(path) as con:
        rows = con.execute(
            "SELECT RECORD_METADATA::VARCHAR, RECORD_CONTENT::VARCHAR FROM ATS_RAW_JSON"
        ).fetchall()
    return [(json.loads(m), c) for m, c in rows]


def test_raw_rows_follow_the_kafka_connector_layout(
    tmp_path: Path, run_batches: list[Batch]
) -> None:
    """RECORD_CONTENT is the canonical JSON byte for byte; RECORD_METADATA has the connector's keys,
    offsets counting up per topic from 0 across flushes, and the write time as CreateTime."""
    path = tmp_path / "ats.duckdb"
    before = time.time() * 1000
    with open_sink(f"duckdb://{path}", batch_records=500) as sink:
        for b in run_batches:
            sink.write_batch(b)
    after = time.time() * 1000
    assert sink.stats.flushes > 2
    rows = _raw(path)
    assert sorted(c.encode() for _, c in rows) == sorted(
        line for b in run_batches for line in json_lines(b)
    )
    by_topic: dict[str, list[int]] = {}
    for meta, content in rows:
        record = json.loads(content)
        assert set(meta) == {"topic", "partition", "offset", "CreateTime", "key", "headers"}
        assert (
            meta["topic"]
            == {
                "telemetry": "ats_telemetry",
                "station_event": "ats_station_events",
                "alert": "ats_alerts",
            }[record["record_type"]]
        )
        assert meta["partition"] == 0 and before <= meta["CreateTime"] <= after
        assert meta["key"] == record["train_id"]
        assert meta["headers"] == {"record_type": record["record_type"], "schema_version": "1"}
        by_topic.setdefault(meta["topic"], []).append(meta["offset"])
    for offsets in by_topic.values():
        assert sorted(offsets) == list(range(len(offsets)))


def test_a_replay_into_the_same_file_adds_nothing_twice(
    tmp_path: Path, run_batches: list[Batch]
) -> None:
    """Records are deduplicated on record_id: again in a new sink, and twice in one flush."""
    path = tmp_path / "ats.duckdb"
    with open_sink(f"duckdb://{path}") as sink:
        for b in run_batches:
            sink.write_batch(b)
    with open_sink(f"duckdb://{path}", batch_records=10**9) as sink:
        for b in run_batches + run_batches:
            sink.write_batch(b)
    n = sum(b.num_rows for b in run_batches)
    assert len(_raw(path)) == n
    total = sum(read_table(path, t).num_rows for t in ("telemetry", "station_event", "alert"))
    assert total == n


def test_typed_tables_read_back_in_the_record_schema(
    tmp_path: Path, tricky_batches: list[Batch]
) -> None:
    """Nulls, quotes and non-ASCII text survive the typed tables unchanged."""
    path = tmp_path / "ats.duckdb"
    with open_sink(f"duckdb://{path}") as sink:
        for b in tricky_batches:
            sink.write_batch(b)
    alerts = read_table(path, "alert")
    assert alerts.schema.equals(tricky_batches[0].type.arrow_schema, check_metadata=False)
    assert alerts.to_pylist() == tricky_batches[0].data.to_pylist()


def _hold_lock(path: Path, read_only: bool) -> subprocess.Popen[str]:
    """Another process that keeps ``path`` open until it is killed."""
    code = (
        f"import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only={read_only}); "
        "print('holding', flush=True); time.sleep(120)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_a_locked_file_is_a_transient_error_and_the_batch_is_kept(tmp_path: Path) -> None:
    """While another process holds the file, a flush retries, then fails as transient; the batch
    stays buffered and is written by the next flush once the file is free."""
    path = tmp_path / "ats.duckdb"
    batch = make_batch("alert", [{"timestamp": 0}, {"timestamp": 1}])
    sink = open_sink(
        f"duckdb://{path}",
        lock_timeout_s=0.2,
        max_retries=1,
        retry_backoff_s=0.05,
        batch_records=10,
    )
    sink.write_batch(batch)
    holder = _hold_lock(path, read_only=True)
    try:
        with pytest.raises(TransientSinkError, match="locked by another process"):
            sink.flush()
        assert sink.stats.retries == 1 and sink.stats.records == 0
        with reading(path) as con:  # readers share the file with each other
            assert con.execute("SELECT count(*) FROM ATS_ALERT_EVENTS").fetchone() == (0,)
    finally:
        holder.kill()
        holder.wait()
    sink.close()
    assert sink.stats.records == 2
    assert read_table(path, "alert").num_rows == 2


def test_closing_after_a_flush_gave_up_tries_once_more_without_retrying(tmp_path: Path) -> None:
    """The caller already has the give-up error: closing makes one more attempt, not a second
    round of retries and waits; if it fails too, the error says so and nothing is claimed."""
    path = tmp_path / "ats.duckdb"
    sink = open_sink(
        f"duckdb://{path}",
        lock_timeout_s=0.2,
        max_retries=2,
        retry_backoff_s=0.05,
        batch_records=10,
    )
    sink.write_batch(make_batch("alert", [{"timestamp": 0}]))
    holder = _hold_lock(path, read_only=True)
    try:
        with pytest.raises(TransientSinkError, match="gave up after 2 retries"):
            sink.flush()
        assert sink.stats.retries == 2
        with pytest.raises(TransientSinkError, match="gave up after 2 retries"):
            sink.close()
        assert sink.stats.retries == 2 and sink.stats.records == 0
    finally:
        holder.kill()
        holder.wait()


def test_a_reader_waits_for_a_writer_then_gives_up_as_transient(tmp_path: Path) -> None:
    """connect_readonly retries while a writer holds the file, up to its timeout."""
    path = tmp_path / "ats.duckdb"
    open_sink(f"duckdb://{path}").close()
    holder = _hold_lock(path, read_only=False)
    try:
        started = time.monotonic()
        with pytest.raises(TransientSinkError, match="locked"):
            connect_readonly(path, timeout_s=0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        holder.kill()
        holder.wait()
    connect_readonly(path, timeout_s=5).close()


def test_reading_a_missing_database_says_how_to_fill_it(tmp_path: Path) -> None:
    """connect_readonly on a path with no file is a ConfigError naming the fix."""
    with pytest.raises(ConfigError, match="ats-sim run"):
        connect_readonly(tmp_path / "nothing.duckdb")
    assert not (tmp_path / "nothing.duckdb").exists()


def test_a_file_from_another_schema_version_is_refused(tmp_path: Path) -> None:
    """A typed table with other columns is a terminal error, not a silent mis-insert."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute('CREATE TABLE ATS_TRANSFORMED (RECORD_ID VARCHAR, "TIMESTAMP" TIMESTAMPTZ)')
    con.close()
    with pytest.raises(TerminalSinkError, match="other columns"):
        open_sink(f"duckdb://{path}")


def test_relative_paths_are_relative_to_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    """duckdb://data/ats.duckdb is ./data/ats.duckdb; three slashes make a path absolute."""
    monkeypatch.chdir(tmp_path)
    open_sink("duckdb://data/ats.duckdb").close()
    assert (tmp_path / "data" / "ats.duckdb").is_file()
    open_sink(f"duckdb://{tmp_path}/abs.duckdb").close()
    assert os.path.isfile(tmp_path / "abs.duckdb")
