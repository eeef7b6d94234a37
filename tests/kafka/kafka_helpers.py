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

from confluent_kafka import Consumer, TopicPartition

REPO = Path(__file__).resolve().parents[2]

__all__ = ["REPO", "Received", "cli", "cli_env", "read_topics", "unique_prefix"]


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
