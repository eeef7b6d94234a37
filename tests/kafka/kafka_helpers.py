"""Helpers for the Kafka tests: unique topics, reading whole topics back, the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from ats_sim.records import Batch
from sinks import open_sink
from sinks.kafka import topics_for

REPO = Path(__file__).resolve().parents[2]

__all__ = [
    "POISON",
    "REPO",
    "Received",
    "cli",
    "cli_env",
    "produce_run",
    "produce_with_poison",
    "read_topics",
    "unique_prefix",
]


def produce_run(
    bootstrap: str, prefix: str, batches: list[Batch], partitions: int = 3
) -> list[str]:
    """Write ``batches`` with the Kafka sink to ``<prefix>telemetry`` and its sibling topics;
    return those topics."""
    with open_sink(
        f"kafka://{bootstrap}/{prefix}telemetry?create_topics=true&partitions={partitions}"
    ) as sink:
        for b in batches:
            sink.write_batch(b)
    return sorted(set(topics_for(prefix + "telemetry").values()))


def unique_prefix() -> str:
    """A fresh topic prefix such as ``t3f9a1c2e_``: each test writes its own topics."""
    return f"t{uuid.uuid4().hex[:8]}_"


@dataclass(frozen=True)
class Received:
    """One consumed message, with what the tests look at."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_type: int
    timestamp_ms: int
    received_at: float  # time.time() when the consumer returned it


def read_topics(bootstrap: str, topics: Sequence[str], timeout: float = 60.0) -> list[Received]:
    """Every message of ``topics`` from offset 0 up to the end they had when called."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        meta = consumer.list_topics(timeout=30)
        ends: dict[tuple[str, int], int] = {}
        for t in topics:
            if t not in meta.topics or meta.topics[t].error is not None:
                continue
            for p in meta.topics[t].partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=30)
                if high > 0:
                    ends[(t, p)] = high
        consumer.assign([TopicPartition(t, p, 0) for (t, p) in ends])
        out: list[Received] = []
        done = {tp for tp, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read {len(out)} messages; partitions still short: {set(ends) - done}"
                )
            for m in consumer.consume(1000, 0.5):
                if m.error() is not None:
                    continue
                ts_type, ts = m.timestamp()
                out.append(
                    Received(
                        m.topic(),
                        m.partition(),
                        m.offset(),
                        m.key(),
                        m.value(),
                        tuple(m.headers() or ()),
                        ts_type,
                        ts,
                        time.time(),
                    )
                )
                if m.offset() + 1 >= ends[(m.topic(), m.partition())]:
                    done.add((m.topic(), m.partition()))
        return out
    finally:
        consumer.close()


def cli_env() -> dict[str, str]:
    """The environment for running ``python -m ats_sim.cli`` from this checkout."""
    path = os.pathsep.join(p for p in [str(REPO), os.environ.get("PYTHONPATH", "")] if p)
    return {**os.environ, "PYTHONPATH": path, "NO_COLOR": "1", "COLUMNS": "200"}


def cli(
    *args: str, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``ats-sim ARGS`` to completion and return the result (exit status, stdout, stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "ats_sim.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        cwd=cwd,
    )


#: Messages an ingester must send to the dead-letter table: (key, value, the error it names).
POISON: list[tuple[bytes | None, bytes | None, str]] = [
    (b"k1", b"this is not json {", "not valid JSON"),
    (b"k2", b"[1, 2, 3]", "not a JSON object"),
    (None, b'{"record_type": "weather", "schema_version": 1}', "unknown record_type"),
    (b"k4", b'{"record_type": "alert", "schema_version": 1, "alert_id": "A"}', "missing fields"),
    (b"k5", b"\xff\xfe not utf-8", "not valid JSON"),
    (b"k6", None, "tombstone"),
]


def produce_with_poison(
    bootstrap: str,
    topic: str,
    good: Sequence[bytes],
    poison: list[tuple[bytes | None, bytes | None, str]],
) -> list[tuple[bytes | None, bytes | None, str | None]]:
    """Produce ``good`` records (key ``good``) to ``topic`` with the ``poison`` messages scattered
    between them (header ``origin: test``); every message as sent, in offset order, with the
    error expected of it (``None`` for a good one). ``poison`` is used up."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    sent: list[tuple[bytes | None, bytes | None, str | None]] = []
    for i, line in enumerate(good):
        producer.produce(topic, line, b"good")
        sent.append((b"good", line, None))
        if i % 7 == 3 and poison:
            key, value, error = poison.pop()
            producer.produce(topic, value, key, headers=[("origin", b"test")])
            sent.append((key, value, error))
    assert not poison and producer.flush(30) == 0
    return sent
