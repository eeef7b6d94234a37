"""Kafka -> DuckDB ingest against a real broker: metadata, dead letters, restarts, SIGKILL.

The ingester must store every message exactly once (raw table with the real Kafka metadata,
typed tables, or the dead-letter table), commit offsets only after the warehouse commit, and add
nothing when it re-reads messages it already stored.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from kafka_helpers import (
    POISON,
    REPO,
    cli_env,
    produce_run,
    produce_with_poison,
    read_topics,
    unique_prefix,
)

import ats_sim
from ats_sim.api import RunResult
from ats_sim.records import RECORD_TYPES, Batch, json_lines
from sinks.duckdb import read_table, reading
from sinks.ingest import Ingester
from sinks.ingest_duckdb import DuckDBWarehouse

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def run() -> RunResult:
    """Weekday 05:30-06:30, 10 s telemetry: about 5,400 records of all three types."""
    return ats_sim.run("weekday", until="60m", seed=8, telemetry_interval_s=10)


def ingest(bootstrap: str, topics: list[str], db: Path, group: str, **kw: object) -> Ingester:
    ingester = Ingester(
        bootstrap, topics, DuckDBWarehouse(db), group_id=group, idle_exit_s=1.0, **kw
    )
    ingester.run()
    return ingester


def query(db: Path, sql: str) -> list[tuple]:
    with reading(db) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def ingested(
    run: RunResult, kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The run produced to 3-partition topics and ingested once into a fresh DuckDB file."""
    bootstrap = kafka_broker.bootstrap_servers
    prefix = unique_prefix()
    topics = produce_run(bootstrap, prefix, run.batches())
    db = tmp_path_factory.mktemp("ingest") / "ats.duckdb"
    ingester = ingest(bootstrap, topics, db, group=prefix, batch_records=1_000)
    return {
        "bootstrap": bootstrap,
        "topics": topics,
        "db": db,
        "group": prefix,
        "stats": ingester.stats,
    }


def test_ingest_stores_every_message_with_its_real_kafka_metadata(ingested: dict[str, Any]) -> None:
    """ATS_RAW_JSON = one row per message: metadata from the message itself, content = its value."""
    messages = {
        (m.topic, m.partition, m.offset): m
        for m in read_topics(ingested["bootstrap"], ingested["topics"])
    }
    assert ingested["stats"].messages == len(messages)
    assert ingested["stats"].batches > 1
    rows = query(
        ingested["db"], "SELECT RECORD_METADATA::VARCHAR, RECORD_CONTENT::VARCHAR FROM ATS_RAW_JSON"
    )
    assert len(rows) == len(messages)
    seen = set()
    for meta_text, content in rows:
        meta = orjson.loads(meta_text)
        assert list(meta) == ["topic", "partition", "offset", "CreateTime", "key", "headers"]
        m = messages[(meta["topic"], meta["partition"], meta["offset"])]
        assert meta["CreateTime"] == m.timestamp_ms
        assert meta["key"] == m.key.decode()
        assert meta["headers"] == {k: v.decode() for k, v in m.headers}
        assert content.encode() == m.value
        seen.add((meta["topic"], meta["partition"], meta["offset"]))
    assert seen == set(messages)


def test_typed_tables_hold_the_records_and_the_views_answer(
    run: RunResult, ingested: dict[str, Any]
) -> None:
    """The typed tables read back as the very records the run produced; the dashboard's views work."""
    db = ingested["db"]
    for name in ("telemetry", "station_event", "alert"):
        want = Counter(line for b in run.batches() if b.type.name == name for line in json_lines(b))
        rtype = RECORD_TYPES[name]
        got = Counter(
            line
            for rb in read_table(db, name).to_batches()
            for line in json_lines(Batch(rtype, rb))
        )
        assert got == want, name
    assert query(db, "SELECT count(DISTINCT TRAIN_ID) FROM ATS_LATEST_STATUS")[0][0] > 10
    assert query(db, "SELECT count(*) FROM ATS_HEADWAYS")[0][0] > 0


def test_messages_read_again_after_a_lost_offset_commit_are_not_stored_twice(
    ingested: dict[str, Any],
) -> None:
    """A crash between the warehouse commit and the offset commit: the re-read messages are skipped."""
    bootstrap, topics, db, group = (
        ingested["bootstrap"],
        ingested["topics"],
        ingested["db"],
        ingested["group"],
    )
    total = ingested["stats"].messages
    counts = "SELECT (SELECT count(*) FROM ATS_RAW_JSON), (SELECT count(*) FROM ATS_TRANSFORMED)"
    before = query(db, counts)

    # What the crash leaves behind: the warehouse has everything, Kafka's committed offsets do not.
    rewind = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    meta = rewind.list_topics(timeout=10)
    rewind.commit(
        offsets=[TopicPartition(t, p, 0) for t in topics for p in meta.topics[t].partitions],
        asynchronous=False,
    )
    rewind.close()

    again = ingest(bootstrap, topics, db, group=group)
    assert again.stats.messages == total
    assert again.stats.duplicates == total
    assert query(db, counts) == before


def _with_big_int(record: dict) -> bytes:
    """JSON with an integer beyond 64 bits (orjson refuses to write one; the json module does not)."""
    import json

    return json.dumps(record, separators=(",", ":")).encode()


def test_poison_messages_go_to_the_dead_letter_table_and_ingest_goes_on(
    run: RunResult, bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    """Bad messages land in ATS_DEAD_LETTER with their error and raw bytes; good ones around them are stored."""
    batches = [b for b in run.batches() if b.type.name == "station_event"][:6]
    topic = prefix + "station_events"
    good = [line for b in batches for line in json_lines(b)]
    bad_record = orjson.loads(good[0])
    bad_record["timestamp"] = "2026-02-30T08:00:00.000Z"  # a date that does not exist
    wrong_type = orjson.loads(good[1])
    wrong_type["boarded"] = "twelve"
    huge = orjson.loads(good[2])
    huge["waiting"] = 2**70
    bool_for_int = orjson.loads(good[3])
    bool_for_int["alighted"] = True
    poison = [
        *POISON,
        (b"k7", orjson.dumps(bad_record), "not a valid date-time"),
        (b"k8", orjson.dumps(wrong_type), "not a valid int"),
        (b"k9", _with_big_int(huge), "not a valid int"),  # orjson reads it as a float
        (b"k10", orjson.dumps(bool_for_int), "not a valid int"),
    ]
    sent = produce_with_poison(bootstrap, topic, good, poison)

    db = tmp_path / "ats.duckdb"
    ingester = ingest(bootstrap, [topic], db, group=prefix, batch_records=50)

    assert ingester.stats.messages == len(sent)
    dead = query(
        db,
        "SELECT KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, KAFKA_KEY, KAFKA_HEADERS::VARCHAR, "
        "RAW_VALUE, ERROR, INGESTED_AT FROM ATS_DEAD_LETTER ORDER BY KAFKA_OFFSET",
    )
    expected_dead = [
        (offset, key, value, error) for offset, (key, value, error) in enumerate(sent) if error
    ]
    assert len(dead) == len(expected_dead) == len(POISON) + 4
    for row, (offset, key, value, error) in zip(dead, expected_dead, strict=True):
        assert row[:4] == (topic, 0, offset, None if key is None else key.decode())
        assert orjson.loads(row[4]) == {"origin": "test"}
        assert row[5] == value
        assert error in row[6]
        assert row[7] is not None
    assert query(db, "SELECT count(*) FROM ATS_RAW_JSON")[0][0] == len(good)
    assert query(db, "SELECT count(*) FROM ATS_STATION_EVENTS")[0][0] == len(good)


def test_the_same_run_sent_twice_is_two_messages_each_but_one_typed_row(
    run: RunResult, bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    """The raw table keeps every message (as the connector would); typed tables dedupe on RECORD_ID."""
    alerts_and_events = [b for b in run.batches() if b.type.name != "telemetry"]
    topics = produce_run(bootstrap, prefix, alerts_and_events)
    produce_run(bootstrap, prefix, alerts_and_events)
    n = sum(b.num_rows for b in alerts_and_events if b.type.name == "station_event")
    db = tmp_path / "ats.duckdb"
    ingester = ingest(bootstrap, topics, db, group=prefix)
    assert (
        query(
            db,
            "SELECT count(*) FROM ATS_RAW_JSON WHERE RECORD_CONTENT->>'record_type' = 'station_event'",
        )[0][0]
        == 2 * n
    )
    assert query(db, "SELECT count(*) FROM ATS_STATION_EVENTS")[0][0] == n
    assert ingester.stats.typed_duplicates >= n


def start_ingester(source: str, db: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ats_sim.cli",
            "ingest",
            source,
            "--to",
            f"duckdb:///{db}",
            "-q",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )


def raw_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return int(query(db, "SELECT count(*) FROM ATS_RAW_JSON")[0][0])
    except Exception:  # the schema is still being created
        return 0


@pytest.mark.slow
def test_ingester_killed_with_sigkill_mid_batch_and_restarted_stores_each_record_once(
    bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    """SIGKILL while batches are being written, restart: every message in the warehouse exactly once."""
    result = ats_sim.run("weekday", until="75m", seed=9, telemetry_interval_s=5)
    topics = produce_run(bootstrap, prefix, result.batches())
    total = sum(b.num_rows for b in result.batches())
    db = tmp_path / "ats.duckdb"
    # A static member (group.instance.id): the restarted ingester takes the killed one's place at
    # once instead of waiting for the group to time the dead member out.
    source = f"kafka://{bootstrap}/{','.join(topics)}?group.id={prefix}&group.instance.id=ingest-1"

    first = start_ingester(source, db, "--batch-records", "200", "--batch-seconds", "0.2")
    try:
        deadline = time.monotonic() + 60
        while raw_count(db) < 1_600 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, first.stderr.read() if first.stderr else ""
    at_kill = raw_count(db)
    assert 0 < at_kill < total, f"the kill should come mid-ingest, {at_kill} of {total} were stored"

    second = start_ingester(source, db, "--exit-when-idle", "1")
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "done: " in err and "0 dead letters" in err  # the closing line of `ats-sim ingest`

    rows = query(
        db,
        "SELECT RECORD_METADATA->>'topic', (RECORD_METADATA->>'partition')::INT, "
        "(RECORD_METADATA->>'offset')::BIGINT FROM ATS_RAW_JSON",
    )
    assert len(rows) == total, f"{len(rows)} rows for {total} messages"
    assert len(set(rows)) == total, "a message was stored twice"
    typed = query(
        db,
        "SELECT (SELECT count(*) FROM ATS_TRANSFORMED), (SELECT count(*) FROM ATS_STATION_EVENTS), "
        "(SELECT count(*) FROM ATS_ALERT_EVENTS), (SELECT count(*) FROM ATS_DEAD_LETTER)",
    )[0]
    per_type = Counter()
    for b in result.batches():
        per_type[b.type.name] += b.num_rows
    assert typed == (per_type["telemetry"], per_type["station_event"], per_type["alert"], 0)
    # the stored offset ranges never overlap: no batch was written twice
    ranges = query(
        db,
        "SELECT KAFKA_TOPIC, KAFKA_PARTITION, FIRST_OFFSET, LAST_OFFSET FROM ATS_KAFKA_OFFSETS "
        "ORDER BY 1, 2, 3",
    )
    for (t1, p1, _, hi), (t2, p2, lo, _) in itertools.pairwise(ranges):
        if (t1, p1) == (t2, p2):
            assert lo > hi
