"""The DuckDB sink stores each record id once: retried flushes, replays and several runs per file.

Deduplication compares ids only with stored rows of the same run in the flush's time range
(``sinks.duckdb.fresh_rows``); these tests check every way a record can arrive twice, and
that records of another run at the same simulated times are never taken for duplicates.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ats_sim
from ats_sim.records import Batch, json_lines
from sinks import open_sink
from sinks.duckdb import reading


def _stored(path: Path) -> dict[str, list[str]]:
    """Record ids per table, raw rows read from RECORD_CONTENT."""
    with reading(path) as con:
        out = {
            t: [r[0] for r in con.execute(f"SELECT RECORD_ID FROM {t}").fetchall()]
            for t in ("ATS_TRANSFORMED", "ATS_STATION_EVENTS", "ATS_ALERT_EVENTS")
        }
        out["raw"] = [
            r[0]
            for r in con.execute("SELECT RECORD_CONTENT->>'record_id' FROM ATS_RAW_JSON").fetchall()
        ]
    return out


def _ids(batches: list[Batch]) -> list[str]:
    return [i for b in batches for i in b.data.column("record_id").to_pylist()]


def _assert_each_once(path: Path, batches: list[Batch]) -> None:
    stored = _stored(path)
    expected = sorted(_ids(batches))
    typed = sorted(i for t, ids in stored.items() if t != "raw" for i in ids)
    assert typed == expected
    assert sorted(stored["raw"]) == expected


@pytest.fixture(scope="module")
def other_run() -> list[Batch]:
    """The fixture run's first 40 minutes again with another seed: same times, other run id."""
    return ats_sim.run("weekday", until="40m", seed=6, telemetry_interval_s=10).batches()


def test_a_retried_write_after_its_commit_adds_nothing(
    tmp_path: Path, run_batches: list[Batch]
) -> None:
    """Sink._write may be called again with the same batches (a transient error reported after
    the commit): the second call finds every record stored and writes nothing."""
    path = tmp_path / "ats.duckdb"
    sink = open_sink(f"duckdb://{path}", batch_records=10**9)
    sink._write(run_batches)
    assert sink._write(run_batches) == 0
    sink.close()
    _assert_each_once(path, run_batches)


def test_a_replay_that_overlaps_adds_only_the_missing_records(
    tmp_path: Path, run_batches: list[Batch]
) -> None:
    """A run stopped half way, then replayed whole into the same file (flushes cut at other
    places), ends with every record once."""
    path = tmp_path / "ats.duckdb"
    half = len(run_batches) // 2
    with open_sink(f"duckdb://{path}", batch_records=2_000) as sink:
        for b in run_batches[:half]:
            sink.write_batch(b)
    _assert_each_once(path, run_batches[:half])
    with open_sink(f"duckdb://{path}", batch_records=3_000) as sink:
        for b in run_batches:
            sink.write_batch(b)
    assert sink.stats.flushes > 1
    _assert_each_once(path, run_batches)


def test_two_runs_at_the_same_times_are_both_kept(
    tmp_path: Path, run_batches: list[Batch], other_run: list[Batch]
) -> None:
    """Another run's records share timestamps but not ids: none is dropped as a duplicate,
    in separate sinks or mixed in one flush, and replaying both changes nothing."""
    assert {b.data.column("run_id")[0] for b in run_batches} != {
        b.data.column("run_id")[0] for b in other_run
    }
    path = tmp_path / "ats.duckdb"
    with open_sink(f"duckdb://{path}", batch_records=3_000) as sink:
        for b in run_batches:
            sink.write_batch(b)
    with open_sink(f"duckdb://{path}", batch_records=3_000) as sink:
        for b in other_run:
            sink.write_batch(b)
    _assert_each_once(path, run_batches + other_run)
    with open_sink(f"duckdb://{path}", batch_records=10**9) as sink:
        for b in other_run + run_batches:
            sink.write_batch(b)
    _assert_each_once(path, run_batches + other_run)
    mixed = tmp_path / "mixed.duckdb"
    with open_sink(f"duckdb://{mixed}", batch_records=10**9) as sink:
        for a, b in zip(run_batches, other_run, strict=False):
            sink.write_batch(a)
            sink.write_batch(b)
    pairs = min(len(run_batches), len(other_run))
    _assert_each_once(mixed, run_batches[:pairs] + other_run[:pairs])


def test_raw_offsets_stay_contiguous_when_duplicates_are_skipped(
    tmp_path: Path, run_batches: list[Batch]
) -> None:
    """Skipped duplicates take no offset: each topic's offsets of one sink run 0..n-1."""
    path = tmp_path / "ats.duckdb"
    with open_sink(f"duckdb://{path}", batch_records=10**9) as sink:
        for b in run_batches[:3] + run_batches:
            sink.write_batch(b)
    with reading(path) as con:
        rows = con.execute(
            "SELECT RECORD_METADATA::VARCHAR, RECORD_CONTENT::VARCHAR FROM ATS_RAW_JSON"
        ).fetchall()
    by_topic: dict[str, list[int]] = {}
    for meta, _ in rows:
        m = json.loads(meta)
        by_topic.setdefault(m["topic"], []).append(m["offset"])
    for offsets in by_topic.values():
        assert sorted(offsets) == list(range(len(offsets)))
    assert sorted(c.encode() for _, c in rows) == sorted(
        line for b in run_batches for line in json_lines(b)
    )
