"""The Kafka sink against a real broker: the same bytes as the file sink, keys, headers, order."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME
from kafka_helpers import Received, read_topics

import ats_sim
from ats_sim.api import RunResult
from ats_sim.records import Batch, json_lines
from sinks import open_sink
from sinks.files import list_files
from sinks.kafka import topics_for

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def replay() -> RunResult:
    """The weekday morning from 05:30 to 07:00, 10 s telemetry: about 9,000 records."""
    return ats_sim.run("weekday", until="90m", seed=21, telemetry_interval_s=10)


def write(url: str, batches: list[Batch]) -> None:
    with open_sink(url) as sink:
        for b in batches:
            sink.write_batch(b)


def by_type(messages: list[Received], prefix: str) -> dict[str, list[Received]]:
    topic_type = {t: name for name, t in topics_for(prefix + "telemetry").items()}
    out: dict[str, list[Received]] = defaultdict(list)
    for m in messages:
        out[topic_type[m.topic]].append(m)
    return out


def test_replay_through_kafka_gives_exactly_the_file_sinks_records(
    replay: RunResult, bootstrap: str, prefix: str, tmp_path: Path
) -> None:
    """replay -> Kafka -> consume: per record type, the very bytes the file sink writes as lines."""
    batches = replay.batches()
    started_ms = time.time() * 1000
    write(f"kafka://{bootstrap}/{prefix}telemetry?create_topics=true&partitions=3", batches)
    write(f"file://{tmp_path}/files?format=jsonl", batches)
    finished_ms = time.time() * 1000

    got = by_type(read_topics(bootstrap, list(topics_for(prefix + "telemetry").values())), prefix)
    for name in ("telemetry", "station_event", "alert"):
        lines = [
            line
            for p in list_files(tmp_path / "files", name)
            for line in p.read_bytes().splitlines()
        ]
        values = [m.value for m in got.get(name, [])]
        assert len(values) == len(lines), name
        assert Counter(values) == Counter(lines), name
    assert len(got["telemetry"]) > 5_000 and got["station_event"]
    # wall-clock timestamps by default: the replay is not of today, the Kafka timestamps are
    for m in got["telemetry"]:
        assert m.timestamp_type == TIMESTAMP_CREATE_TIME
        assert started_ms - 1000 <= m.timestamp_ms <= finished_ms + 1000


def test_keys_and_headers_name_the_train_and_the_record_type(
    replay: RunResult, bootstrap: str, prefix: str
) -> None:
    """Key = train id (station id for a station alert); headers record_type and schema_version."""
    write(f"kafka://{bootstrap}/{prefix}telemetry", replay.batches())
    got = by_type(read_topics(bootstrap, list(topics_for(prefix + "telemetry").values())), prefix)
    for name, messages in got.items():
        for m in messages:
            record = orjson.loads(m.value)
            expected_key = record.get("train_id") or record.get("station_id")
            assert m.key == (expected_key.encode() if expected_key else None)
            assert dict(m.headers) == {"record_type": name.encode(), "schema_version": b"1"}


def test_each_trains_records_keep_their_order_across_three_partitions(
    replay: RunResult, bootstrap: str, prefix: str
) -> None:
    """With 3 partitions every train lives on one partition, in the order the simulation emitted."""
    batches = replay.batches()
    write(f"kafka://{bootstrap}/{prefix}telemetry?create_topics=true&partitions=3", batches)
    emitted: dict[str, list[bytes]] = defaultdict(list)
    for b in batches:
        if b.type.name == "telemetry":
            for rec, line in zip(b.to_pylist(), json_lines(b), strict=True):
                emitted[rec["train_id"]].append(line)

    got = read_topics(bootstrap, [prefix + "telemetry"])
    per_key: dict[bytes, list[Received]] = defaultdict(list)
    for m in sorted(got, key=lambda m: (m.partition, m.offset)):
        assert m.key is not None
        per_key[m.key].append(m)
    assert {m.partition for m in got} == {0, 1, 2}, "the trains should spread over every partition"
    assert len(per_key) == len(emitted) > 10
    for train, messages in per_key.items():
        assert len({m.partition for m in messages}) == 1, f"{train!r} is on several partitions"
        assert [m.value for m in messages] == emitted[train.decode()], f"{train!r} out of order"


def test_event_timestamps_on_request(replay: RunResult, bootstrap: str, prefix: str) -> None:
    """timestamp=event stamps each message with its record's simulated time."""
    alerts_and_events = [b for b in replay.batches() if b.type.name != "telemetry"]
    write(f"kafka://{bootstrap}/{prefix}telemetry?timestamp=event", alerts_and_events)
    got = read_topics(bootstrap, [prefix + "station_events"])
    assert got
    for m in got:
        ts = orjson.loads(m.value)["timestamp"]
        expected = int(np.datetime64(ts.rstrip("Z"), "ms").astype(np.int64))
        assert m.timestamp_type == TIMESTAMP_CREATE_TIME and m.timestamp_ms == expected


def test_stats_count_acknowledged_records(replay: RunResult, bootstrap: str, prefix: str) -> None:
    """After flush() the sink's counters equal what the broker holds, per record type."""
    batches = replay.batches()
    sink = open_sink(f"kafka://{bootstrap}/{prefix}telemetry")
    for b in batches:
        sink.write_batch(b)
    sink.flush()
    want = Counter()
    for b in batches:
        want[b.type.name] += b.num_rows
    assert sink.stats.records == sum(want.values())
    assert dict(sink.stats.by_type) == dict(want)
    assert sink.delivery_failures == 0
    sink.close()
    assert len(read_topics(bootstrap, list(topics_for(prefix + "telemetry").values()))) == sum(
        want.values()
    )
